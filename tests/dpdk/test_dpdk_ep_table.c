/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path's endpoint table (dpdk_ep_table.h): keys that differ in any bit of the
 * VNI or the MAC are told apart; a full table says so; a deleted entry is not reused
 * before every reader has passed a quiescent state (a writer short of entries waits for
 * it); keys displaced from their home
 * bucket stay found as others come and go; and a reader running beside the writer always
 * finds the keys that stay, with their own data.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "dpdk_backend.h"
#include "dpdk_ep_table.h"

static struct rte_rcu_qsbr *qsbr;

static void mac_of(uint32_t n, uint8_t *mac)
{
	uint8_t m[6] = {0x52, 0x54, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			(uint8_t)n};

	memcpy(mac, m, 6);
}

static bool get(const struct dp_ep_table *t, uint32_t vni, const uint8_t *mac, uint64_t *data)
{
	struct dp_ep_probe p;

	dp_ep_probe_init(t, &p, vni, mac);
	return dp_ep_lookup(t, &p, data);
}

static bool has(const struct dp_ep_table *t, uint32_t vni, uint32_t n, uint64_t want)
{
	uint8_t mac[6];
	uint64_t data = 0;

	mac_of(n, mac);
	return get(t, vni, mac, &data) && data == want;
}

static int set(struct dp_ep_table *t, uint32_t vni, uint32_t n, uint64_t data)
{
	uint8_t mac[6];

	mac_of(n, mac);
	return dp_ep_table_set(t, vni, mac, data);
}

static int del(struct dp_ep_table *t, uint32_t vni, uint32_t n)
{
	uint8_t mac[6];

	mac_of(n, mac);
	return dp_ep_table_del(t, vni, mac);
}

static void test_keys_differ_in_every_part(void **state)
{
	struct dp_ep_table t;
	uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 1}, other[6];
	uint64_t data;

	(void)state;
	assert_int_equal(dp_ep_table_init(&t, 64, qsbr, SOCKET_ID_ANY), 0);
	assert_int_equal(dp_ep_table_set(&t, 0x123456, mac, 1), 0);
	assert_true(get(&t, 0x123456, mac, &data));
	assert_int_equal(data, 1);
	/* The VNI's high byte lives apart from the key word; its low bits inside it. */
	assert_false(get(&t, 0x003456, mac, &data));
	assert_false(get(&t, 0x123457, mac, &data));
	for (int i = 0; i < 6; i++) {
		memcpy(other, mac, 6);
		other[i] ^= 0x80;
		assert_false(get(&t, 0x123456, other, &data));
		assert_int_equal(dp_ep_table_set(&t, 0x123456, other, 10 + (uint64_t)i), 0);
	}
	assert_int_equal(dp_ep_table_set(&t, 0x023456, mac, 2), 0);
	assert_true(get(&t, 0x023456, mac, &data));
	assert_int_equal(data, 2);
	/* Replacing the data word keeps one entry. */
	assert_int_equal(dp_ep_table_set(&t, 0x123456, mac, 3), 0);
	assert_true(get(&t, 0x123456, mac, &data));
	assert_int_equal(data, 3);
	assert_int_equal(t.keys, 8);
	assert_int_equal(dp_ep_table_del(&t, 0x123456, mac), 0);
	assert_false(get(&t, 0x123456, mac, &data));
	assert_int_equal(dp_ep_table_del(&t, 0x123456, mac), -ENOENT);
	assert_true(get(&t, 0x023456, mac, &data));
	assert_int_equal(t.keys, 7);
	dp_ep_table_fini(&t);
}

/* 16 keys make the smallest table: 16 buckets of 3 entries. */
static void test_full_table_and_displaced_keys(void **state)
{
	struct dp_ep_table t;
	const uint32_t cap = 16 * DP_EP_BUCKET_ENTRIES;

	(void)state;
	assert_int_equal(dp_ep_table_init(&t, 16, qsbr, SOCKET_ID_ANY), 0);
	assert_int_equal(t.mask, 15);
	for (uint32_t n = 0; n < cap; n++)
		assert_int_equal(set(&t, 7, n, n + 100), 0);
	assert_int_equal(set(&t, 7, cap, 1), -ENOSPC);
	for (uint32_t n = 0; n < cap; n++)
		assert_true(has(&t, 7, n, n + 100));
	/* Every other key goes; the rest, many of them far from home, stay found. */
	for (uint32_t n = 0; n < cap; n += 2)
		assert_int_equal(del(&t, 7, n), 0);
	for (uint32_t n = 0; n < cap; n++) {
		uint64_t data;
		uint8_t mac[6];

		mac_of(n, mac);
		assert_int_equal(get(&t, 7, mac, &data), n % 2 == 1);
	}
	/* No reader is registered: the deleted entries are free again at once. */
	for (uint32_t n = cap; n < cap + cap / 2; n++)
		assert_int_equal(set(&t, 7, n, n + 100), 0);
	for (uint32_t n = 1; n < cap + cap / 2; n++)
		if (n >= cap || n % 2 == 1)
			assert_true(has(&t, 7, n, n + 100));
	for (uint32_t n = 1; n < cap + cap / 2; n++)
		if (n >= cap || n % 2 == 1)
			assert_int_equal(del(&t, 7, n), 0);
	assert_int_equal(t.keys, 0);
	for (uint32_t i = 0; i <= t.mask; i++) {
		assert_int_equal(t.buckets[i].live, 0);
		assert_int_equal(t.buckets[i].passed, 0);
	}
	dp_ep_table_fini(&t);
}

static unsigned int busy_entries(const struct dp_ep_table *t)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i <= t->mask; i++)
		n += (unsigned int)__builtin_popcount(t->buckets[i].busy);
	return n;
}

static void test_deleted_entry_waits_for_readers(void **state)
{
	struct dp_ep_table t;
	const uint32_t cap = 16 * DP_EP_BUCKET_ENTRIES;

	(void)state;
	assert_int_equal(dp_ep_table_init(&t, 16, qsbr, SOCKET_ID_ANY), 0);
	for (uint32_t n = 0; n < cap; n++)
		assert_int_equal(set(&t, 7, n, n), 0);
	/* A reader (thread 0) is inside a read-side section: what it may hold stays. */
	assert_int_equal(rte_rcu_qsbr_thread_register(qsbr, 0), 0);
	rte_rcu_qsbr_thread_online(qsbr, 0);
	assert_int_equal(del(&t, 7, 5), 0);
	assert_false(has(&t, 7, 5, 5));
	rte_rcu_qsbr_dq_reclaim(t.dq, 100, NULL, NULL, NULL);
	assert_int_equal(busy_entries(&t), cap);
	rte_rcu_qsbr_quiescent(qsbr, 0);
	rte_rcu_qsbr_dq_reclaim(t.dq, 100, NULL, NULL, NULL);
	assert_int_equal(busy_entries(&t), cap - 1);
	assert_int_equal(set(&t, 7, cap, 1), 0);
	assert_true(has(&t, 7, cap, 1));
	rte_rcu_qsbr_thread_offline(qsbr, 0);
	assert_int_equal(rte_rcu_qsbr_thread_unregister(qsbr, 0), 0);
	dp_ep_table_fini(&t);
}

/* Sequential MACs (as a hypervisor hands them out) spread over the buckets: nearly every
 * key is found in its home bucket, one cache line. */
static void test_most_keys_sit_in_their_home_bucket(void **state)
{
	struct dp_ep_table t;
	const uint32_t keys = 100000;
	uint32_t home = 0;

	(void)state;
	assert_int_equal(dp_ep_table_init(&t, keys, qsbr, SOCKET_ID_ANY), 0);
	for (uint32_t n = 0; n < keys; n++)
		assert_int_equal(set(&t, 42 + n % 2, n, n), 0);
	for (uint32_t n = 0; n < keys; n++) {
		const struct dp_ep_bucket *b;
		struct dp_ep_probe p;
		uint8_t mac[6];

		mac_of(n, mac);
		dp_ep_probe_init(&t, &p, 42 + n % 2, mac);
		b = &t.buckets[p.bucket];
		for (unsigned int e = 0; e < DP_EP_BUCKET_ENTRIES; e++)
			home += ((b->live >> e) & 1) && b->key[e] == p.word;
	}
	assert_true(home > keys / 100 * 97);
	dp_ep_table_fini(&t);
}

/* Reader and writer side by side: keys 0..STAY-1 stay (their data changes: key number
 * in the low 32 bits, a version above), the others come and go. */
#define STAY 1000
#define CHURN 3000

struct race {
	struct dp_ep_table *t;
	volatile bool stop;
	uint64_t lookups;
	uint64_t wrong;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	uint8_t mac[6];
	uint64_t data;

	rte_rcu_qsbr_thread_register(qsbr, 1);
	rte_rcu_qsbr_thread_online(qsbr, 1);
	while (!r->stop) {
		for (uint32_t n = 0; n < STAY; n++) {
			mac_of(n, mac);
			if (!get(r->t, 9, mac, &data) || (uint32_t)data != n)
				r->wrong++;
			mac_of(STAY + (n * 7) % CHURN, mac);
			if (get(r->t, 9, mac, &data) && (uint32_t)data != STAY + (n * 7) % CHURN)
				r->wrong++;
			r->lookups += 2;
		}
		rte_rcu_qsbr_quiescent(qsbr, 1);
	}
	rte_rcu_qsbr_thread_offline(qsbr, 1);
	rte_rcu_qsbr_thread_unregister(qsbr, 1);
	return NULL;
}

static void test_reader_beside_the_writer(void **state)
{
	struct dp_ep_table t;
	struct race r = {.t = &t};
	pthread_t th;
	uint64_t version = 0;

	(void)state;
	/* Sized for the keys present at once, fewer than come and go: deleted entries are
	 * reused, and the writer sometimes has to wait for the reader. */
	assert_int_equal(dp_ep_table_init(&t, STAY + CHURN / 2, qsbr, SOCKET_ID_ANY), 0);
	for (uint32_t n = 0; n < STAY; n++)
		assert_int_equal(set(&t, 9, n, n), 0);
	assert_int_equal(pthread_create(&th, NULL, reader, &r), 0);
	for (int round = 0; round < 200; round++) {
		version++;
		for (uint32_t n = STAY; n < STAY + CHURN; n++) {
			if ((n + (uint32_t)round) % 2)
				assert_int_equal(set(&t, 9, n, version << 32 | n), 0);
			else
				del(&t, 9, n);
		}
		for (uint32_t n = 0; n < STAY; n += 3)
			assert_int_equal(set(&t, 9, n, version << 32 | n), 0);
	}
	r.stop = true;
	pthread_join(th, NULL);
	assert_true(r.lookups > 0);
	assert_int_equal(r.wrong, 0);
	dp_ep_table_fini(&t);
}

int main(void)
{
	char prefix[256];
	char *eal[] = {"test_dpdk_ep_table", "--no-huge", "--no-pci", "-m", "128", "-l", "0",
		       "--file-prefix", prefix, "--no-shconf", "--no-telemetry", "--log-level",
		       "*:warning", NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_differ_in_every_part),
		cmocka_unit_test(test_full_table_and_displaced_keys),
		cmocka_unit_test(test_deleted_entry_waits_for_readers),
		cmocka_unit_test(test_most_keys_sit_in_their_home_bucket),
		cmocka_unit_test(test_reader_beside_the_writer),
	};
	int ret;

	snprintf(prefix, sizeof(prefix), "vmf_eptable_%d", getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "test_dpdk_ep_table: EAL init failed\n");
		return 1;
	}
	qsbr = rte_zmalloc(NULL, rte_rcu_qsbr_get_memsize(2), RTE_CACHE_LINE_SIZE);
	if (!qsbr || rte_rcu_qsbr_init(qsbr, 2))
		return 1;
	ret = cmocka_run_group_tests_name("dpdk_ep_table", tests, NULL, NULL);
	rte_free(qsbr);
	snprintf(prefix, sizeof(prefix), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dpdk_remove_runtime_dir(prefix);
	return ret;
}
