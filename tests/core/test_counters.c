/* SPDX-License-Identifier: Apache-2.0 */
/* Drop reasons and counters are an API: every number named, every name unique and
 * findable, a few numbers pinned so that a renumbering fails here first. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fab_counters.h"

static void test_every_reason_named_once(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < FAB_DROP__COUNT; i++) {
		const char *name = fab_drop_name(i);

		assert_non_null(name);
		assert_non_null(fab_drop_help(i));
		assert_int_equal(fab_drop_from_name(name), (int)i);
		for (unsigned int j = i + 1; j < FAB_DROP__COUNT; j++)
			assert_string_not_equal(name, fab_drop_name(j));
	}
	assert_null(fab_drop_name(FAB_DROP__COUNT));
	assert_int_equal(fab_drop_from_name("no_such_reason"), -ENOENT);
	for (unsigned int i = 0; i < FAB_CTR__COUNT; i++)
		assert_non_null(fab_counter_name(i));
}

static void test_numbers_are_stable(void **state)
{
	(void)state;
	assert_int_equal(FAB_DROP_ETH_TRUNCATED, 1);
	assert_int_equal(FAB_DROP_UNKNOWN_VTEP, 24);
	assert_int_equal(FAB_DROP_UNKNOWN_DESTINATION, 26);
	assert_int_equal(FAB_DROP_MARKED_NOT_REFORWARDED, 27);
	assert_int_equal(FAB_DROP_HOLD_OVERFLOW, 36);
	assert_string_equal(fab_drop_name(FAB_DROP_UNKNOWN_VNI), "unknown_vni");
	assert_int_equal(FAB_CTR_FORWARDED, 3);
	assert_string_equal(fab_counter_name(FAB_CTR_HELD), "held");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_reason_named_once),
		cmocka_unit_test(test_numbers_are_stable),
	};

	return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
