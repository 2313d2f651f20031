/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every prefix of every vector's input frame, in a buffer of exactly that size (so that
 * AddressSanitizer catches a read past the end), through the parsers and the whole
 * reference run: each either parses or is refused with a named drop reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref_fabric.h"

static const char *dir = "tests/vectors/cases";

static void assert_named(int ret, const char *name, size_t len)
{
	if (ret != 0 && !fab_drop_name((unsigned int)ret))
		fail_msg("%s truncated to %zu bytes: unnamed result %d", name, len, ret);
}

static void sweep(const struct vec_case *c)
{
	static struct ref_result r;

	for (size_t len = 0; len <= c->in_len; len++) {
		uint8_t *buf = malloc(len ? len : 1);
		struct fab_frame f;
		struct fab_vxlan vx;
		int ret;

		assert_non_null(buf);
		memcpy(buf, c->in, len);
		ret = fab_parse_frame(buf, buf + len, &f);
		assert_named(ret, c->name, len);
		if (ret == 0 && fab_frame_is_vxlan_to(&f, c->host.vtep)) {
			ret = fab_parse_vxlan_outer(buf, buf + len, &f, &vx);
			assert_named(ret, c->name, len);
			if (ret == 0)
				assert_named(fab_parse_inner(buf, &vx, &f), c->name, len);
		}
		free(buf);
		ref_process(c, c->in, len, c->in_port, &r);
		if (r.kind == VEC_EXPECT_DROP)
			assert_named(r.drop, c->name, len);
		if (len < FAB_ETH_HLEN) {
			assert_int_equal(r.kind, VEC_EXPECT_DROP);
			assert_int_equal(r.drop, FAB_DROP_ETH_TRUNCATED);
		}
	}
}

static void test_every_prefix_of_every_vector(void **state)
{
	static struct vec_case c;
	char err[512];
	char **paths;
	int n = vec_list(dir, &paths);

	(void)state;
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		if (vec_load(paths[i], &c, err, sizeof(err)))
			fail_msg("%s", err);
		sweep(&c);
	}
	vec_list_free(paths, n);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_prefix_of_every_vector),
	};

	if (argc > 1)
		dir = argv[1];
	return cmocka_run_group_tests_name("truncation", tests, NULL, NULL);
}
