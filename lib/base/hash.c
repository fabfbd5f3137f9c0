/*
 * hash.c — SipHash, written from the description in the paper
 * "SipHash: a fast short-input PRF": c compression rounds per 8-byte word,
 * d finalization rounds (SipHash-c-d).
 */
#include "base/hash.h"

static uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

/* Little-endian load of n (<= 8) bytes, whatever the host order. */
static uint64_t load_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define SIPROUND(v0, v1, v2, v3)                                               \
	do {                                                                   \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);     \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);     \
	} while (0)

static inline uint64_t siphash(uint64_t k0, uint64_t k1, const void *data, size_t len,
			       int c, int d)
{
	const uint8_t *p = data;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t left = len;

	for (; left >= 8; left -= 8, p += 8) {
		m = load_le(p, 8);
		v3 ^= m;
		for (int i = 0; i < c; i++)
			SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	/* Last block: the remaining bytes, the length in the top byte. */
	m = load_le(p, left) | (uint64_t)(len & 0xff) << 56;
	v3 ^= m;
	for (int i = 0; i < c; i++)
		SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t ag_siphash24(const uint8_t key[16], const void *data, size_t len)
{
	return siphash(load_le(key, 8), load_le(key + 8, 8), data, len, 2, 4);
}

uint64_t ag_siphash13(const uint64_t key[2], const void *data, size_t len)
{
	return siphash(key[0], key[1], data, len, 1, 3);
}
