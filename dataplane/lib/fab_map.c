/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fab_map.h"

#define MAP_EMPTY UINT32_MAX

/* One slot: the value, then the key, side by side so a probe touches one cache line. */
struct fab_map {
	size_t key_size;
	size_t stride;     /* bytes per slot: value + key, rounded up to 8 */
	uint32_t capacity; /* entries allowed */
	uint32_t mask;     /* slots - 1 */
	uint32_t count;
	uint8_t *slots;    /* a value of MAP_EMPTY marks a free slot */
};

/* A word-at-a-time multiply-xorshift hash: keys are short and fixed-size. */
static uint32_t map_hash(const struct fab_map *m, const void *key)
{
	const uint8_t *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ m->key_size;
	size_t i = 0;

	for (; i + 8 <= m->key_size; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i < m->key_size) {
		uint64_t w = 0;

		memcpy(&w, p + i, m->key_size - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	}
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint32_t *slot_value(const struct fab_map *m, uint32_t i)
{
	return (uint32_t *)(m->slots + (size_t)i * m->stride);
}

static uint8_t *slot_key(const struct fab_map *m, uint32_t i)
{
	return m->slots + (size_t)i * m->stride + sizeof(uint32_t);
}

int fab_map_create(struct fab_map **out, size_t key_size, uint32_t capacity)
{
	struct fab_map *m;
	uint64_t slots = 16;

	if (key_size == 0 || key_size > 64 || capacity == 0 || capacity > (1u << 30))
		return -EINVAL;
	/* At most 70% full, so probes stay short. */
	while (slots * 7 < (uint64_t)capacity * 10)
		slots <<= 1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->key_size = key_size;
	m->stride = (sizeof(uint32_t) + key_size + 7) & ~(size_t)7;
	m->capacity = capacity;
	m->mask = (uint32_t)(slots - 1);
	m->slots = malloc(slots * m->stride);
	if (!m->slots) {
		fab_map_destroy(m);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < slots; i++)
		*slot_value(m, (uint32_t)i) = MAP_EMPTY;
	*out = m;
	return 0;
}

void fab_map_destroy(struct fab_map *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

/* The slot holding `key`, or the empty slot where it would go. */
static uint32_t map_find(const struct fab_map *m, const void *key)
{
	uint32_t i = map_hash(m, key) & m->mask;

	while (*slot_value(m, i) != MAP_EMPTY && memcmp(slot_key(m, i), key, m->key_size) != 0)
		i = (i + 1) & m->mask;
	return i;
}

int fab_map_get(const struct fab_map *m, const void *key, uint32_t *value)
{
	uint32_t i = map_find(m, key);

	if (*slot_value(m, i) == MAP_EMPTY)
		return -ENOENT;
	*value = *slot_value(m, i);
	return 0;
}

int fab_map_put(struct fab_map *m, const void *key, uint32_t value)
{
	uint32_t i = map_find(m, key);

	if (value == MAP_EMPTY)
		return -EINVAL;
	if (*slot_value(m, i) == MAP_EMPTY) {
		if (m->count == m->capacity)
			return -ENOSPC;
		memcpy(slot_key(m, i), key, m->key_size);
		m->count++;
	}
	*slot_value(m, i) = value;
	return 0;
}

int fab_map_add(struct fab_map *m, const void *key, uint32_t value)
{
	uint32_t i = map_find(m, key);

	if (value == MAP_EMPTY)
		return -EINVAL;
	if (*slot_value(m, i) != MAP_EMPTY)
		return -EEXIST;
	if (m->count == m->capacity)
		return -ENOSPC;
	memcpy(slot_key(m, i), key, m->key_size);
	*slot_value(m, i) = value;
	m->count++;
	return 0;
}

int fab_map_del(struct fab_map *m, const void *key)
{
	uint32_t i = map_find(m, key);
	uint32_t j = i;

	if (*slot_value(m, i) == MAP_EMPTY)
		return -ENOENT;
	/* Backward shift: pull later entries of the probe run into the hole when their home
	 * slot does not lie cyclically in (hole, their slot]. */
	for (;;) {
		uint32_t home;

		j = (j + 1) & m->mask;
		if (*slot_value(m, j) == MAP_EMPTY)
			break;
		home = map_hash(m, slot_key(m, j)) & m->mask;
		if (((j - home) & m->mask) < ((j - i) & m->mask))
			continue;
		memcpy(m->slots + (size_t)i * m->stride, m->slots + (size_t)j * m->stride, m->stride);
		i = j;
	}
	*slot_value(m, i) = MAP_EMPTY;
	m->count--;
	return 0;
}

uint32_t fab_map_count(const struct fab_map *m)
{
	return m->count;
}

uint32_t fab_map_capacity(const struct fab_map *m)
{
	return m->capacity;
}

size_t fab_map_footprint(const struct fab_map *m)
{
	return sizeof(*m) + ((size_t)m->mask + 1) * m->stride;
}
