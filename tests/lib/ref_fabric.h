/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reference run of the forwarding core: parse, look up in a vector's tables (linear
 * scans), decide and rewrite, the same sequence a backend follows, without a backend.
 * Used by the vector test and the fuzz harness.
 */
#ifndef VMF_TEST_REF_FABRIC_H
#define VMF_TEST_REF_FABRIC_H

#include "vector.h"

#define REF_HEADROOM 128

struct ref_result {
	enum vec_expect kind;
	uint16_t port; /* OUT, HOLD, ACTIVATE */
	int drop;      /* DROP */
	const uint8_t *frame; /* OUT, HOLD: points into buf */
	size_t len;
	uint8_t buf[REF_HEADROOM + VEC_MAX_FRAME + 128];
};

/* Runs frame `in` arriving on port `in_port` through the core against the tables of `c`. */
void ref_process(const struct vec_case *c, const uint8_t *in, size_t len, uint16_t in_port,
		 struct ref_result *r);

#endif
