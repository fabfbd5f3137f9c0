/*
 * siphash.h — SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed hash
 * for hash tables whose keys an attacker chooses.  Internal to lib/net.
 */
#ifndef ALEGATE_NET_SIPHASH_H
#define ALEGATE_NET_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * ag__siphash24 — the 64-bit SipHash-2-4 of data[0..len) under the 16-byte
 * key (read little-endian as k0 = key[0..8), k1 = key[8..16), as in the
 * paper, so its test vectors apply).  No state, no allocation.
 */
uint64_t ag__siphash24(const uint8_t *key, const void *data, size_t len);

#endif
