/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading packet vectors (tests/vectors/README.md describes the format). Shared by every
 * test that replays them: the forwarding core's reference run now, the DPDK and XDP
 * backends later.
 */
#ifndef VMF_TEST_VECTOR_H
#define VMF_TEST_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "fab_decide.h"

#define VEC_MAX_FRAME 4096
#define VEC_MAX_PORTS 8
#define VEC_MAX_PEERS 8
#define VEC_MAX_ENDPOINTS 16
#define VEC_MAX_IPS 4
#define VEC_UPLINK_INDEX 0

enum vec_expect {
	VEC_EXPECT_OUT,
	VEC_EXPECT_HOLD,
	VEC_EXPECT_ACTIVATE,
	VEC_EXPECT_DROP,
	VEC_EXPECT_TOHOST,
};

struct vec_port {
	char name[16];
	uint16_t index;
	uint32_t vni;
};

struct vec_peer {
	uint32_t vtep;
	uint8_t mac[6];
};

struct vec_endpoint {
	uint32_t vni;
	uint8_t mac[6];
	struct fab_endpoint loc;
	unsigned int n_ip4, n_ip6;
	uint32_t ip4[VEC_MAX_IPS];
	uint8_t ip6[VEC_MAX_IPS][16];
};

struct vec_case {
	char name[128];
	char comment[256];
	struct fab_host_ctx host;
	struct vec_peer peers[VEC_MAX_PEERS];
	unsigned int n_peers;
	struct vec_port ports[VEC_MAX_PORTS];
	unsigned int n_ports;
	struct vec_endpoint endpoints[VEC_MAX_ENDPOINTS];
	unsigned int n_endpoints;
	uint16_t in_port; /* VEC_UPLINK_INDEX or a VM port's index */
	uint8_t in[VEC_MAX_FRAME];
	size_t in_len;
	enum vec_expect expect;
	uint16_t expect_port;
	int expect_drop; /* enum fab_drop_reason */
	uint8_t out[VEC_MAX_FRAME];
	size_t out_len;
};

/*
 * Loads the case at `path` into `c`. Returns 0, or -1 with a message naming the file,
 * the line and what is wrong in `err`.
 */
int vec_load(const char *path, struct vec_case *c, char *err, size_t err_len);

/*
 * Lists the `.vec` files of `dir`, sorted, as malloc'd full paths in `*paths`.
 * Returns their number, or -1 with errno set.
 */
int vec_list(const char *dir, char ***paths);
void vec_list_free(char **paths, int n);

/* The name of port `index` in case `c` ("uplink" for the uplink), or "?". */
const char *vec_port_name(const struct vec_case *c, uint16_t index);

#endif
