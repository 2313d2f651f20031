/* SPDX-License-Identifier: Apache-2.0 */
/* The control thread's hash map, against a plain array as the model, through a long
 * random sequence of puts and deletes (backward-shift deletion is where such maps break). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fab_map.h"

#define KEYS 3000

static void test_matches_model_under_churn(void **state)
{
	static uint32_t model[KEYS];
	struct fab_map *m;
	uint32_t live = 0, seed = 12345;

	(void)state;
	assert_int_equal(fab_map_create(&m, sizeof(uint32_t), KEYS), 0);
	memset(model, 0xff, sizeof(model));
	for (int step = 0; step < 200000; step++) {
		uint32_t k, v;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % KEYS;
		if ((seed >> 4) & 1) {
			v = seed & 0xffff;
			assert_int_equal(fab_map_put(m, &k, v), 0);
			live += model[k] == UINT32_MAX;
			model[k] = v;
		} else {
			assert_int_equal(fab_map_del(m, &k), model[k] == UINT32_MAX ? -ENOENT : 0);
			live -= model[k] != UINT32_MAX;
			model[k] = UINT32_MAX;
		}
		if (step % 1000 == 0) {
			for (uint32_t i = 0; i < KEYS; i++) {
				if (model[i] == UINT32_MAX) {
					assert_int_equal(fab_map_get(m, &i, &v), -ENOENT);
				} else {
					assert_int_equal(fab_map_get(m, &i, &v), 0);
					assert_int_equal(v, model[i]);
				}
			}
			assert_int_equal(fab_map_count(m), live);
		}
	}
	fab_map_destroy(m);
}

static void test_full_map_refuses_new_keys(void **state)
{
	struct fab_map *m;
	uint32_t k;

	(void)state;
	assert_int_equal(fab_map_create(&m, sizeof(k), 3), 0);
	for (k = 0; k < 3; k++)
		assert_int_equal(fab_map_put(m, &k, k), 0);
	assert_int_equal(fab_map_put(m, &k, 1), -ENOSPC);
	k = 1;
	assert_int_equal(fab_map_put(m, &k, 7), 0); /* an existing key may change */
	assert_int_equal(fab_map_create(&m, 0, 3), -EINVAL);
	fab_map_destroy(m);
}

static void test_add_keeps_what_is_there(void **state)
{
	struct fab_map *m;
	uint32_t k = 7, v;

	(void)state;
	assert_int_equal(fab_map_create(&m, sizeof(k), 1), 0);
	assert_int_equal(fab_map_add(m, &k, 1), 0);
	assert_int_equal(fab_map_add(m, &k, 2), -EEXIST);
	assert_int_equal(fab_map_get(m, &k, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(fab_map_count(m), 1);
	k = 8;
	assert_int_equal(fab_map_add(m, &k, 3), -ENOSPC);
	assert_int_equal(fab_map_get(m, &k, &v), -ENOENT);
	fab_map_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_model_under_churn),
		cmocka_unit_test(test_full_map_refuses_new_keys),
		cmocka_unit_test(test_add_keeps_what_is_there),
	};

	return cmocka_run_group_tests_name("fab_map", tests, NULL, NULL);
}
