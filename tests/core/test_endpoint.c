/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoint model: generations only grow, and each migration step starts from the
 * state DESIGN.md gives it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "fab_endpoint.h"

static struct fab_endpoint ep(uint8_t state, uint16_t port, uint32_t vtep, uint64_t gen)
{
	struct fab_endpoint e = {.state = state, .port = port, .vtep = vtep, .generation = gen};
	return e;
}

static void test_set_needs_newer_generation(void **state)
{
	struct fab_endpoint cur = {0};
	struct fab_endpoint remote5 = ep(FAB_EP_REMOTE, 0, 0xc0000202, 5);
	struct fab_endpoint remote4 = ep(FAB_EP_REMOTE, 0, 0xc0000203, 4);
	struct fab_endpoint local5 = ep(FAB_EP_LOCAL, 1, 0, 5);
	struct fab_endpoint local6 = ep(FAB_EP_LOCAL, 1, 0, 6);

	(void)state;
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &remote5), 0);
	assert_int_equal(cur.state, FAB_EP_REMOTE);
	/* A late update (older) and a replay (equal) never move the endpoint back. */
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &remote4), -ESTALE);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &local5), -ESTALE);
	assert_int_equal(cur.vtep, 0xc0000202);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &local6), 0);
	assert_int_equal(cur.state, FAB_EP_LOCAL);
	assert_int_equal(cur.port, 1);
	assert_int_equal(cur.vtep, 0);
}

static void test_set_rejects_invalid_locations(void **state)
{
	struct fab_endpoint cur = {0};
	struct fab_endpoint no_gen = ep(FAB_EP_LOCAL, 1, 0, 0);
	struct fab_endpoint no_vtep = ep(FAB_EP_REMOTE, 0, 0, 3);
	struct fab_endpoint bad_state = ep(9, 1, 0, 3);
	struct fab_endpoint absent = ep(FAB_EP_ABSENT, 0, 0, 3);

	(void)state;
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &no_gen), -EINVAL);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &no_vtep), -EINVAL);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &bad_state), -EINVAL);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &absent), -EINVAL);
	assert_int_equal(fab_endpoint_step(&cur, 77, &absent), -EINVAL);
	assert_int_equal(cur.state, FAB_EP_ABSENT);
}

/* The whole migration as the source A and the target B see the VM. */
static void test_migration_sequence(void **state)
{
	struct fab_endpoint a = ep(FAB_EP_LOCAL, 3, 0, 7);
	struct fab_endpoint b = ep(FAB_EP_REMOTE, 0, 0xc0000201, 7);
	struct fab_endpoint prepare = ep(0, 5, 0, 8);
	struct fab_endpoint begin = ep(0, 0, 0xc0000202, 8);
	struct fab_endpoint gen8 = ep(0, 0, 0, 8);

	(void)state;
	assert_int_equal(fab_endpoint_step(&b, FAB_STEP_PREPARE_INCOMING, &prepare), 0);
	assert_int_equal(b.state, FAB_EP_INCOMING);
	assert_int_equal(b.port, 5);
	assert_int_equal(b.generation, 8);
	assert_int_equal(fab_endpoint_step(&a, FAB_STEP_BEGIN_FORWARDING, &begin), 0);
	assert_int_equal(a.state, FAB_EP_FORWARDING);
	assert_int_equal(a.vtep, 0xc0000202);
	assert_int_equal(fab_endpoint_step(&b, FAB_STEP_ACTIVATE, &gen8), 0);
	assert_int_equal(b.state, FAB_EP_LOCAL);
	assert_int_equal(b.port, 5);
	/* The fast path and the control plane may both activate: the second is a no-op. */
	assert_int_equal(fab_endpoint_step(&b, FAB_STEP_ACTIVATE, &gen8), 0);
	assert_int_equal(fab_endpoint_step(&a, FAB_STEP_END_FORWARDING, &gen8), 0);
	assert_int_equal(a.state, FAB_EP_REMOTE);
	assert_int_equal(a.vtep, 0xc0000202);
	assert_int_equal(a.generation, 8);
	assert_int_equal(fab_endpoint_step(&a, FAB_STEP_END_FORWARDING, &gen8), 0);
}

static void test_steps_from_wrong_state(void **state)
{
	struct fab_endpoint absent = {0};
	struct fab_endpoint remote = ep(FAB_EP_REMOTE, 0, 0xc0000201, 7);
	struct fab_endpoint local = ep(FAB_EP_LOCAL, 1, 0, 7);
	struct fab_endpoint begin8 = ep(0, 0, 0xc0000202, 8);
	struct fab_endpoint begin7 = ep(0, 0, 0xc0000202, 7);
	struct fab_endpoint gen7 = ep(0, 0, 0, 7);
	struct fab_endpoint gen6 = ep(0, 0, 0, 6);
	struct fab_endpoint begin_no_target = ep(0, 0, 0, 8);

	(void)state;
	assert_int_equal(fab_endpoint_step(&absent, FAB_STEP_BEGIN_FORWARDING, &begin8), -ENOENT);
	assert_int_equal(fab_endpoint_step(&absent, FAB_STEP_ACTIVATE, &gen7), -ENOENT);
	assert_int_equal(fab_endpoint_step(&absent, FAB_STEP_END_FORWARDING, &gen7), -ENOENT);
	assert_int_equal(fab_endpoint_step(&absent, FAB_STEP_DELETE, &gen7), -ENOENT);
	assert_int_equal(fab_endpoint_step(&remote, FAB_STEP_BEGIN_FORWARDING, &begin8), -EPERM);
	assert_int_equal(fab_endpoint_step(&local, FAB_STEP_BEGIN_FORWARDING, &begin7), -ESTALE);
	assert_int_equal(fab_endpoint_step(&local, FAB_STEP_BEGIN_FORWARDING, &begin_no_target),
			 -EINVAL);
	assert_int_equal(fab_endpoint_step(&remote, FAB_STEP_ACTIVATE, &gen7), -EPERM);
	assert_int_equal(fab_endpoint_step(&remote, FAB_STEP_END_FORWARDING, &gen6), -ESTALE);
	assert_int_equal(fab_endpoint_step(&local, FAB_STEP_END_FORWARDING, &gen7), -EPERM);
	assert_int_equal(local.state, FAB_EP_LOCAL);
	assert_int_equal(remote.state, FAB_EP_REMOTE);
}

static void test_prepare_needs_newer_generation(void **state)
{
	struct fab_endpoint b = ep(FAB_EP_REMOTE, 0, 0xc0000201, 7);
	struct fab_endpoint same = ep(0, 5, 0, 7);
	struct fab_endpoint zero = ep(0, 5, 0, 0);

	(void)state;
	assert_int_equal(fab_endpoint_step(&b, FAB_STEP_PREPARE_INCOMING, &same), -ESTALE);
	assert_int_equal(fab_endpoint_step(&b, FAB_STEP_PREPARE_INCOMING, &zero), -EINVAL);
	assert_int_equal(b.state, FAB_EP_REMOTE);
}

static void test_delete_leaves_tombstone(void **state)
{
	struct fab_endpoint cur = ep(FAB_EP_REMOTE, 0, 0xc0000201, 7);
	struct fab_endpoint del6 = ep(0, 0, 0, 6);
	struct fab_endpoint del9 = ep(0, 0, 0, 9);
	struct fab_endpoint late8 = ep(FAB_EP_REMOTE, 0, 0xc0000203, 8);
	struct fab_endpoint new10 = ep(FAB_EP_LOCAL, 2, 0, 10);

	(void)state;
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_DELETE, &del6), -ESTALE);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_DELETE, &del9), 0);
	assert_int_equal(cur.state, FAB_EP_ABSENT);
	assert_int_equal(cur.generation, 9);
	/* An update that was older than the deletion cannot bring the endpoint back. */
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &late8), -ESTALE);
	assert_int_equal(fab_endpoint_step(&cur, FAB_STEP_SET, &new10), 0);
	assert_int_equal(cur.state, FAB_EP_LOCAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_needs_newer_generation),
		cmocka_unit_test(test_set_rejects_invalid_locations),
		cmocka_unit_test(test_migration_sequence),
		cmocka_unit_test(test_steps_from_wrong_state),
		cmocka_unit_test(test_prepare_needs_newer_generation),
		cmocka_unit_test(test_delete_leaves_tombstone),
	};

	return cmocka_run_group_tests_name("endpoint_model", tests, NULL, NULL);
}
