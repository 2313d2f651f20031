/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The writer's side of the endpoint table (dpdk_ep_table.h): only the control thread
 * calls these. Deleted entries go through an RCU defer queue before they are reused.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "dpdk_ep_table.h"

/* Entries that may wait for a grace period at once; a full queue is reclaimed on the
 * spot (workers report a quiescent state on every loop), or waited for. */
#define DP_EP_DEFER 65536

/* The defer queue's callback: the entries' grace period is over. */
static void entries_free(void *p, void *e, unsigned int n)
{
	struct dp_ep_table *t = p;
	const uint32_t *ref = e;

	for (unsigned int i = 0; i < n; i++)
		t->buckets[ref[i] >> 2].busy &= (uint8_t)~(1u << (ref[i] & 3));
}

int dp_ep_table_init(struct dp_ep_table *t, uint32_t max_keys, struct rte_rcu_qsbr *qsbr,
		     int socket)
{
	char name[RTE_RCU_QSBR_DQ_NAMESIZE];
	uint64_t want;
	uint32_t buckets = 16, log2 = 4;

	memset(t, 0, sizeof(*t));
	if (max_keys == 0 || max_keys > (1u << 28))
		return -EINVAL;
	/* At least twice the entries the keys need: few buckets overflow. */
	want = ((uint64_t)max_keys * 2 + DP_EP_BUCKET_ENTRIES - 1) / DP_EP_BUCKET_ENTRIES;
	while (buckets < want) {
		buckets <<= 1;
		log2++;
	}
	snprintf(name, sizeof(name), "fab_ep_%p", (void *)t);
	t->buckets = rte_zmalloc_socket(name, (size_t)buckets * sizeof(*t->buckets),
					RTE_CACHE_LINE_SIZE, socket);
	if (!t->buckets)
		return -ENOMEM;
	t->mask = buckets - 1;
	t->shift = 64 - log2;
	t->qsbr = qsbr;

	struct rte_rcu_qsbr_dq_parameters dp = {
		.name = name,
		.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE,
		.size = DP_EP_DEFER,
		.esize = sizeof(uint32_t),
		.trigger_reclaim_limit = 1024,
		.max_reclaim_size = 4096,
		.free_fn = entries_free,
		.p = t,
		.v = qsbr,
	};

	snprintf(name, sizeof(name), "fab_epdq_%p", (void *)t);
	t->dq = rte_rcu_qsbr_dq_create(&dp);
	if (!t->dq) {
		rte_free(t->buckets);
		t->buckets = NULL;
		return -ENOMEM;
	}
	return 0;
}

void dp_ep_table_fini(struct dp_ep_table *t)
{
	if (t->dq && rte_rcu_qsbr_dq_delete(t->dq) == 0)
		t->dq = NULL;
	/* A queue that still holds entries (a worker that never went quiescent) stays: its
	 * entries point into the buckets, which go anyway. */
	rte_free(t->buckets);
	t->buckets = NULL;
}

/* The writer's lookup: bucket index and entry of the key, or -ENOENT. */
static int find(const struct dp_ep_table *t, const struct dp_ep_probe *p, uint32_t *bucket,
		unsigned int *entry)
{
	uint32_t i = p->bucket;

	for (uint32_t n = 0; n <= t->mask; n++) {
		const struct dp_ep_bucket *b = &t->buckets[i];

		for (unsigned int e = 0; e < DP_EP_BUCKET_ENTRIES; e++) {
			if (((b->live >> e) & 1) && b->key[e] == p->word && b->vni_hi[e] == p->vni_hi) {
				*bucket = i;
				*entry = e;
				return 0;
			}
		}
		if (b->passed == 0)
			return -ENOENT;
		i = (i + 1) & t->mask;
	}
	return -ENOENT;
}

/* Adds `delta` to `passed` of the buckets from the key's home up to (not including)
 * the bucket it is stored in. */
static void passed_add(struct dp_ep_table *t, uint32_t home, uint32_t stored, int delta)
{
	for (uint32_t i = home; i != stored; i = (i + 1) & t->mask)
		__atomic_store_n(&t->buckets[i].passed, t->buckets[i].passed + (uint32_t)delta,
				 __ATOMIC_RELAXED);
}

/* The first bucket from the key's home with an entry that is neither live nor waiting,
 * or -ENOSPC. */
static int free_entry(struct dp_ep_table *t, const struct dp_ep_probe *p, uint32_t *bucket,
		      unsigned int *entry)
{
	const unsigned int all = (1u << DP_EP_BUCKET_ENTRIES) - 1;
	uint32_t i = p->bucket;

	for (uint32_t n = 0; n <= t->mask; n++) {
		unsigned int busy = t->buckets[i].busy;

		if (busy != all) {
			*bucket = i;
			*entry = (unsigned int)__builtin_ctz(~busy & all);
			return 0;
		}
		i = (i + 1) & t->mask;
	}
	return -ENOSPC;
}

int dp_ep_table_set(struct dp_ep_table *t, uint32_t vni, const uint8_t *mac, uint64_t data)
{
	struct dp_ep_probe p;
	struct dp_ep_bucket *b;
	uint32_t i;
	unsigned int e;

	dp_ep_probe_init(t, &p, vni, mac);
	if (find(t, &p, &i, &e) == 0) {
		__atomic_store_n(&t->buckets[i].data[e], data, __ATOMIC_RELEASE);
		return 0;
	}
	if (free_entry(t, &p, &i, &e)) {
		unsigned int pending = 0;

		/* Entries still in their grace period may be all that is missing: take those
		 * whose grace period is over, or else wait for the workers (the control
		 * thread waits, forwarding does not). */
		rte_rcu_qsbr_dq_reclaim(t->dq, DP_EP_DEFER, NULL, &pending, NULL);
		if (free_entry(t, &p, &i, &e) && pending) {
			rte_rcu_qsbr_synchronize(t->qsbr, RTE_QSBR_THRID_INVALID);
			rte_rcu_qsbr_dq_reclaim(t->dq, DP_EP_DEFER, NULL, NULL, NULL);
		}
		if (free_entry(t, &p, &i, &e))
			return -ENOSPC;
	}
	/* No reader looks at the entry: it is not live, and every reader that saw it live
	 * has passed a quiescent state since. */
	b = &t->buckets[i];
	b->key[e] = p.word;
	b->vni_hi[e] = p.vni_hi;
	__atomic_store_n(&b->data[e], data, __ATOMIC_RELAXED);
	b->busy |= (uint8_t)(1u << e);
	passed_add(t, p.bucket, i, 1);
	__atomic_store_n(&b->live, (uint8_t)(b->live | 1u << e), __ATOMIC_RELEASE);
	t->keys++;
	return 0;
}

int dp_ep_table_del(struct dp_ep_table *t, uint32_t vni, const uint8_t *mac)
{
	struct dp_ep_probe p;
	struct dp_ep_bucket *b;
	uint32_t i, ref;
	unsigned int e;

	dp_ep_probe_init(t, &p, vni, mac);
	if (find(t, &p, &i, &e))
		return -ENOENT;
	b = &t->buckets[i];
	__atomic_store_n(&b->live, (uint8_t)(b->live & ~(1u << e)), __ATOMIC_RELEASE);
	passed_add(t, p.bucket, i, -1);
	t->keys--;
	ref = i << 2 | e;
	if (rte_rcu_qsbr_dq_enqueue(t->dq, &ref) == 0)
		return 0;
	/* The queue is full even after reclaiming what it could: wait for the workers (the
	 * control thread waits, forwarding does not), then reclaim. */
	rte_rcu_qsbr_synchronize(t->qsbr, RTE_QSBR_THRID_INVALID);
	rte_rcu_qsbr_dq_reclaim(t->dq, DP_EP_DEFER, NULL, NULL, NULL);
	if (rte_rcu_qsbr_dq_enqueue(t->dq, &ref) == 0)
		return 0;
	/* Cannot happen after a full reclaim; if it did, after the wait above no reader can
	 * still see the entry, so it is free now. */
	b->busy &= (uint8_t)~(1u << e);
	return 0;
}
