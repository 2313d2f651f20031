/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few definitions the forwarding core needs from its environment, written so that
 * the same headers compile with gcc for the DPDK backend and the unit tests, and with
 * `clang -target bpf` for the XDP program. Nothing here may pull in libc.
 */
#ifndef FAB_COMPAT_H
#define FAB_COMPAT_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
typedef __s32 int32_t;
typedef _Bool bool;
#define true 1
#define false 0
#ifndef NULL
#define NULL ((void *)0)
#endif
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

/* Every core function is inlined: the BPF verifier sees one program, and the DPDK hot
 * loop pays no call. */
#define FAB_INLINE static inline __attribute__((always_inline))

/* Loops in the core have small constant bounds; unrolling them keeps the BPF verifier's
 * work and the DPDK path's branches down. */
#ifdef __clang__
#define FAB_UNROLL _Pragma("unroll")
#else
#define FAB_UNROLL _Pragma("GCC unroll 16")
#endif

#define fab_likely(x) __builtin_expect(!!(x), 1)
#define fab_unlikely(x) __builtin_expect(!!(x), 0)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define fab_be16(x) ((uint16_t)__builtin_bswap16((uint16_t)(x)))
#define fab_be32(x) ((uint32_t)__builtin_bswap32((uint32_t)(x)))
#else
#define fab_be16(x) ((uint16_t)(x))
#define fab_be32(x) ((uint32_t)(x))
#endif

/* Big-endian loads and stores from byte pointers: alignment-free and the same on every
 * host, so the flow hash and the tests agree across architectures. */
FAB_INLINE uint16_t fab_load_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

FAB_INLINE uint32_t fab_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

FAB_INLINE void fab_store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

FAB_INLINE void fab_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

FAB_INLINE void fab_copy6(uint8_t *dst, const uint8_t *src)
{
	__builtin_memcpy(dst, src, 6);
}

FAB_INLINE void fab_copy16(uint8_t *dst, const uint8_t *src)
{
	__builtin_memcpy(dst, src, 16);
}

FAB_INLINE bool fab_mac_equal(const uint8_t *a, const uint8_t *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

FAB_INLINE bool fab_mac_is_multicast(const uint8_t *mac)
{
	return (mac[0] & 1) != 0;
}

#endif
