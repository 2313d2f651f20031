/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fab_map.h"

#define MAP_EMPTY UINT32_MAX

struct fab_map {
	size_t key_size;
	uint32_t capacity; /* entries allowed */
	uint32_t mask;     /* slots - 1 */
	uint32_t count;
	uint32_t *values;  /* MAP_EMPTY marks a free slot; values must not be UINT32_MAX */
	uint8_t *keys;
};

/* FNV-1a over the key, then a final avalanche: keys are short and this is not the fast
 * path. */
static uint32_t map_hash(const struct fab_map *m, const void *key)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < m->key_size; i++)
		h = (h ^ p[i]) * 16777619u;
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
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
	m->capacity = capacity;
	m->mask = (uint32_t)(slots - 1);
	m->values = malloc(slots * sizeof(*m->values));
	m->keys = malloc(slots * key_size);
	if (!m->values || !m->keys) {
		fab_map_destroy(m);
		return -ENOMEM;
	}
	memset(m->values, 0xff, slots * sizeof(*m->values));
	*out = m;
	return 0;
}

void fab_map_destroy(struct fab_map *m)
{
	if (!m)
		return;
	free(m->values);
	free(m->keys);
	free(m);
}

static uint8_t *slot_key(const struct fab_map *m, uint32_t i)
{
	return m->keys + (size_t)i * m->key_size;
}

/* The slot holding `key`, or the empty slot where it would go. */
static uint32_t map_find(const struct fab_map *m, const void *key)
{
	uint32_t i = map_hash(m, key) & m->mask;

	while (m->values[i] != MAP_EMPTY && memcmp(slot_key(m, i), key, m->key_size) != 0)
		i = (i + 1) & m->mask;
	return i;
}

int fab_map_get(const struct fab_map *m, const void *key, uint32_t *value)
{
	uint32_t i = map_find(m, key);

	if (m->values[i] == MAP_EMPTY)
		return -ENOENT;
	*value = m->values[i];
	return 0;
}

int fab_map_put(struct fab_map *m, const void *key, uint32_t value)
{
	uint32_t i = map_find(m, key);

	if (value == MAP_EMPTY)
		return -EINVAL;
	if (m->values[i] == MAP_EMPTY) {
		if (m->count == m->capacity)
			return -ENOSPC;
		memcpy(slot_key(m, i), key, m->key_size);
		m->count++;
	}
	m->values[i] = value;
	return 0;
}

int fab_map_del(struct fab_map *m, const void *key)
{
	uint32_t i = map_find(m, key);
	uint32_t j = i;

	if (m->values[i] == MAP_EMPTY)
		return -ENOENT;
	/* Backward shift: pull later entries of the probe run into the hole when their home
	 * slot does not lie cyclically in (hole, their slot]. */
	for (;;) {
		uint32_t home;

		j = (j + 1) & m->mask;
		if (m->values[j] == MAP_EMPTY)
			break;
		home = map_hash(m, slot_key(m, j)) & m->mask;
		if (((j - home) & m->mask) < ((j - i) & m->mask))
			continue;
		memcpy(slot_key(m, i), slot_key(m, j), m->key_size);
		m->values[i] = m->values[j];
		i = j;
	}
	m->values[i] = MAP_EMPTY;
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
	return sizeof(*m) + ((size_t)m->mask + 1) * (sizeof(uint32_t) + m->key_size);
}
