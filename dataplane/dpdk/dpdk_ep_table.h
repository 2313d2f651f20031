/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast path's endpoint table: (VNI, MAC) -> the endpoint's 64-bit data word
 * (dp_ep_pack), for one writer (the control thread) and lock-free readers (the workers).
 *
 * Layout: open addressing over 64-byte buckets of three entries, each entry an inline
 * 8-byte key word (the MAC and the VNI's low 16 bits), the VNI's high byte and the data
 * word. A key's home bucket comes from a multiplicative hash of the two; when the home
 * is full the key goes to the next bucket with room. The table has at least two entries
 * per key, so nearly every key sits in its home bucket and a lookup reads one cache
 * line, which the worker prefetches as soon as it has parsed the frame. This replaced an
 * rte_hash whose lookup read a bucket of signatures and then a separate key array (two
 * dependent cache misses per lookup, and a `memcmp` of 12 bytes).
 *
 * Readers, between two quiescent states of the backend's QSBR variable, see either the
 * old or the new state of every entry:
 *   - an entry's key is written before its bit in `live` is set (a release store, read
 *     with acquire), and does not change while the bit is set;
 *   - a data word is replaced by one atomic store;
 *   - a deleted entry's bit is cleared at once, but the entry is reused for another key
 *     only after a grace period (an RCU defer queue), so a reader that matched the old
 *     key never reads a new key's data;
 *   - entries never move. A bucket's `passed` counts the keys stored beyond it whose home
 *     is that bucket or an earlier one of the run: a reader looks no further than the
 *     first bucket without any. A key being inserted or deleted may be missed or found,
 *     as with any concurrent update.
 */
#ifndef FAB_DPDK_EP_TABLE_H
#define FAB_DPDK_EP_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#define DP_EP_BUCKET_ENTRIES 3

struct dp_ep_bucket {
	uint64_t key[DP_EP_BUCKET_ENTRIES];  /* dp_ep_key_word() */
	uint64_t data[DP_EP_BUCKET_ENTRIES]; /* replaced by one atomic store */
	uint8_t vni_hi[DP_EP_BUCKET_ENTRIES];
	uint8_t live; /* bit e: entry e holds a key that readers may match */
	uint32_t passed;
	/* The writer's alone: bit e: entry e is live or waits for its grace period. */
	uint8_t busy;
	uint8_t pad[7];
} __rte_cache_aligned;

struct dp_ep_table {
	/* Read by the workers on every frame, written once. */
	struct dp_ep_bucket *buckets;
	uint32_t mask;  /* buckets - 1 */
	uint32_t shift; /* 64 - log2(buckets): the hash's top bits pick the bucket */
	struct rte_rcu_qsbr_dq *dq; /* entries deleted, waiting for a grace period */
	struct rte_rcu_qsbr *qsbr;
	/* The writer's, on a line of its own so that its stores do not evict the above from
	 * the workers' caches. */
	uint32_t keys __rte_cache_aligned; /* live keys */
};

/* A key ready for the table: its word, its VNI's high byte and its home bucket. */
struct dp_ep_probe {
	uint64_t word;
	uint32_t bucket;
	uint8_t vni_hi;
};

/* The MAC in the low 48 bits (in memory order), the VNI's low 16 bits above it. */
static inline uint64_t dp_ep_key_word(uint32_t vni, const uint8_t *mac)
{
	uint32_t lo;
	uint16_t hi;

	memcpy(&lo, mac, 4);
	memcpy(&hi, mac + 4, 2);
	return (uint64_t)(vni & 0xffff) << 48 | (uint64_t)hi << 32 | lo;
}

static inline void dp_ep_probe_init(const struct dp_ep_table *t, struct dp_ep_probe *p,
				    uint32_t vni, const uint8_t *mac)
{
	uint64_t word = dp_ep_key_word(vni, mac);
	uint8_t vni_hi = (uint8_t)(vni >> 16);
	/* Fibonacci hashing: the product's top bits depend on every bit of the key. */
	uint64_t h = word * 0x9e3779b97f4a7c15ull ^ (uint64_t)vni_hi * 0xc2b2ae3d27d4eb4full;

	p->word = word;
	p->vni_hi = vni_hi;
	p->bucket = (uint32_t)(h >> t->shift);
}

static inline void dp_ep_prefetch(const struct dp_ep_table *t, const struct dp_ep_probe *p)
{
	rte_prefetch0(&t->buckets[p->bucket]);
}

/* Finds a key: true and its data word, or false. */
static inline bool dp_ep_lookup(const struct dp_ep_table *t, const struct dp_ep_probe *p,
				uint64_t *data)
{
	uint32_t i = p->bucket;

	for (uint32_t n = 0; n <= t->mask; n++) {
		const struct dp_ep_bucket *b = &t->buckets[i];
		unsigned int live = __atomic_load_n(&b->live, __ATOMIC_ACQUIRE);

		for (unsigned int e = 0; e < DP_EP_BUCKET_ENTRIES; e++) {
			if (((live >> e) & 1) && b->key[e] == p->word && b->vni_hi[e] == p->vni_hi) {
				*data = __atomic_load_n(&b->data[e], __ATOMIC_RELAXED);
				return true;
			}
		}
		if (likely(__atomic_load_n(&b->passed, __ATOMIC_RELAXED) == 0))
			return false;
		i = (i + 1) & t->mask;
	}
	return false;
}

/*
 * Creates an empty table for up to `max_keys` keys at once, in the memory of `socket`,
 * its deleted entries reused after grace periods of `qsbr`.
 * Returns 0, -EINVAL (max_keys 0 or above 2^28), or -ENOMEM.
 */
int dp_ep_table_init(struct dp_ep_table *t, uint32_t max_keys, struct rte_rcu_qsbr *qsbr,
		     int socket);

/* Frees the table. Workers must have stopped reading it. */
void dp_ep_table_fini(struct dp_ep_table *t);

/*
 * Adds key (vni, mac) with data word `data`, or replaces the data word of the key. When
 * only entries in their grace period are free, waits for the readers' quiescent states.
 * Returns 0, or -ENOSPC when every entry holds a key.
 */
int dp_ep_table_set(struct dp_ep_table *t, uint32_t vni, const uint8_t *mac, uint64_t data);

/*
 * Deletes key (vni, mac); its entry is reused after a grace period.
 * Returns 0, or -ENOENT if the key is not there.
 */
int dp_ep_table_del(struct dp_ep_table *t, uint32_t vni, const uint8_t *mac);

#endif
