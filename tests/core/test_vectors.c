/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays every packet vector through the forwarding core (the reference run: the core's
 * parse, decide and rewrite with the vector's tables as linear lists) and checks the
 * outcome against the frames scapy built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hexdump.h"
#include "ref_fabric.h"

#define MIN_CASES 40

static const char *const expect_names[] = {
	[VEC_EXPECT_OUT] = "out",         [VEC_EXPECT_HOLD] = "hold",
	[VEC_EXPECT_ACTIVATE] = "activate", [VEC_EXPECT_DROP] = "drop",
	[VEC_EXPECT_TOHOST] = "tohost",
};

static void describe(const struct vec_case *c, enum vec_expect kind, uint16_t port, int drop,
		     char *buf, size_t len)
{
	if (kind == VEC_EXPECT_DROP)
		snprintf(buf, len, "drop %s", fab_drop_name((unsigned int)drop) ?: "(bad reason)");
	else if (kind == VEC_EXPECT_TOHOST)
		snprintf(buf, len, "tohost");
	else
		snprintf(buf, len, "%s %s", expect_names[kind], vec_port_name(c, port));
}

static void run_case(void **state)
{
	const char *path = *state;
	static struct vec_case c;
	static struct ref_result r;
	char err[512], want[96], got[96];

	if (vec_load(path, &c, err, sizeof(err)))
		fail_msg("%s", err);
	ref_process(&c, c.in, c.in_len, c.in_port, &r);
	describe(&c, c.expect, c.expect_port, c.expect_drop, want, sizeof(want));
	describe(&c, r.kind, r.port, r.drop, got, sizeof(got));
	if (strcmp(want, got) != 0)
		fail_msg("%s (%s): want %s, got %s", c.name, c.comment, want, got);
	if (c.expect == VEC_EXPECT_OUT || c.expect == VEC_EXPECT_HOLD) {
		if (r.len != c.out_len || memcmp(r.frame, c.out, c.out_len) != 0) {
			fprintf(stderr, "%s (%s): frame differs (left: scapy, right: core)\n", c.name,
				c.comment);
			hexdump_diff(stderr, c.out, c.out_len, r.frame, r.len);
			fail_msg("%s: output frame differs", c.name);
		}
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/vectors/cases";
	struct CMUnitTest *tests;
	char **paths;
	int n, ret;

	n = vec_list(dir, &paths);
	if (n < 0) {
		fprintf(stderr, "test_vectors: cannot list %s: %m\n", dir);
		return 1;
	}
	if (n < MIN_CASES) {
		fprintf(stderr, "test_vectors: %d cases in %s, the contract needs at least %d\n", n,
			dir, MIN_CASES);
		vec_list_free(paths, n);
		return 1;
	}
	tests = calloc((size_t)n, sizeof(*tests));
	if (!tests)
		return 1;
	for (int i = 0; i < n; i++) {
		tests[i].name = strrchr(paths[i], '/') + 1;
		tests[i].test_func = run_case;
		tests[i].initial_state = paths[i];
	}
	ret = _cmocka_run_group_tests("packet_vectors", tests, (size_t)n, NULL, NULL);
	free(tests);
	vec_list_free(paths, n);
	return ret;
}
