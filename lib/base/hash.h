/*
 * hash.h — SipHash (Aumasson and Bernstein, 2012), a keyed hash for hash
 * tables whose keys an attacker chooses.  Two variants of one function:
 *
 *   SipHash-2-4, the paper's default, for tables fed from the network
 *   (the DNS cache, pending queries);
 *   SipHash-1-3, half the rounds, for the engine's flow and filter tables,
 *   where the hash sits on the per-packet path.
 *
 * Pure functions: no state, no allocation, no OS call.
 */
#ifndef ALEGATE_BASE_HASH_H
#define ALEGATE_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * ag_siphash24 — the 64-bit SipHash-2-4 of data[0..len) under the 16-byte
 * key (read little-endian as k0 = key[0..8), k1 = key[8..16), as in the
 * paper, so its test vectors apply).
 */
uint64_t ag_siphash24(const uint8_t key[16], const void *data, size_t len);

/*
 * ag_siphash13 — the 64-bit SipHash-1-3 of data[0..len) under the key
 * k0 = key[0], k1 = key[1].
 */
uint64_t ag_siphash13(const uint64_t key[2], const void *data, size_t len);

#endif
