/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fixed-capacity hash map from fixed-size keys to 32-bit values, for the control
 * thread's own indexes (endpoints by (VNI, MAC), addresses by (VNI, IP)). Open
 * addressing with linear probing and backward-shift deletion: no tombstones, so a
 * table that churns through millions of updates stays as fast as a fresh one.
 * Not thread-safe: the control thread alone uses it. The fast path has its own tables.
 */
#ifndef FAB_MAP_H
#define FAB_MAP_H

#include <stddef.h>
#include <stdint.h>

struct fab_map;

/*
 * Creates a map for up to `capacity` entries of `key_size`-byte keys (1..64).
 * Returns 0 and the map in `*out`, or -EINVAL (bad sizes) or -ENOMEM.
 */
int fab_map_create(struct fab_map **out, size_t key_size, uint32_t capacity);
void fab_map_destroy(struct fab_map *m);

/* Finds `key`. Returns 0 and the value in `*value`, or -ENOENT. */
int fab_map_get(const struct fab_map *m, const void *key, uint32_t *value);

/* Sets `key` to `value`, adding it if absent. Returns 0, or -ENOSPC when the map holds
 * `capacity` entries already and `key` is new. */
int fab_map_put(struct fab_map *m, const void *key, uint32_t value);

/* Adds `key` with `value` unless it is there already. Returns 0, -EEXIST (the map is
 * unchanged), or -ENOSPC as fab_map_put(). One probe where a get and a put take two. */
int fab_map_add(struct fab_map *m, const void *key, uint32_t value);

/* Removes `key`. Returns 0 or -ENOENT. */
int fab_map_del(struct fab_map *m, const void *key);

uint32_t fab_map_count(const struct fab_map *m);
uint32_t fab_map_capacity(const struct fab_map *m);
/* Bytes the map holds in memory. */
size_t fab_map_footprint(const struct fab_map *m);

#endif
