/*
 * test_dnscache.c — lib/net/dnscache: IP -> name cache with TTL, LRU and a
 * keyed hash.  Time is whatever the test passes as `now`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "net/dnscache.h"
#include "base/hash.h"

#define SEC 1000000000ULL
#define T0 (1000 * SEC)	/* an arbitrary start, not 0 */

static const uint8_t seed[AG_DNSCACHE_SEED_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
};

static void v4(uint8_t *a, unsigned x, unsigned y, unsigned z, unsigned w)
{
	memset(a, 0, AG_ADDR_LEN);
	a[0] = (uint8_t)x;
	a[1] = (uint8_t)y;
	a[2] = (uint8_t)z;
	a[3] = (uint8_t)w;
}

/* 10.x.y.z for i: distinct addresses for bulk tests. */
static void nth(uint8_t *a, uint32_t i)
{
	v4(a, 10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

/* A cache without the TTL floor, so TTLs in tests mean what they say. */
static struct ag_dnscache *cache(size_t n)
{
	struct ag_dnscache *c = ag_dnscache_new(n, seed);

	if (c)
		ag_dnscache_set_ttl_bounds(c, 0, 86400);
	return c;
}

TEST(siphash24_matches_the_paper_vectors)
{
	uint8_t key[16], msg[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	/* Appendix A of the paper, and the first of its 64 test vectors. */
	CHECK(ag_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
	CHECK(ag_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

TEST(hash_depends_on_the_seed)
{
	uint8_t k2[16], a[17] = { 4, 192, 0, 2, 1 };

	memcpy(k2, seed, 16);
	k2[15] ^= 1;
	CHECK(ag_siphash24(seed, a, sizeof(a)) != ag_siphash24(k2, a, sizeof(a)));
}

TEST(added_name_is_found)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[AG_DNS_NAME_MAX + 1];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "www.example.com", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + SEC, name, sizeof(name)), 0);
	CHECK_STR(name, "www.example.com");
	ag_dnscache_free(c);
}

TEST(unknown_address_is_enoent)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[64];
	struct ag_dnscache_stats st;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "one.example", 60, T0), 0);
	v4(a, 192, 0, 2, 2);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), -ENOENT);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.misses, 1);
	CHECK_EQ(st.hits, 0);
	ag_dnscache_free(c);
}

TEST(v4_and_v6_with_the_same_leading_bytes_are_different_keys)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[64];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "four.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 6, a, T0, name, sizeof(name)), -ENOENT);
	CHECK_EQ(ag_dnscache_add(c, 6, a, "six.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), 0);
	CHECK_STR(name, "four.example");
	CHECK_EQ(ag_dnscache_lookup(c, 6, a, T0, name, sizeof(name)), 0);
	CHECK_STR(name, "six.example");
	ag_dnscache_free(c);
}

TEST(v4_key_ignores_bytes_after_the_fourth)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16], b[16];
	char name[64];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	memcpy(b, a, 16);
	memset(b + 4, 0xee, 12);	/* stale bytes a caller left behind */
	CHECK_EQ(ag_dnscache_add(c, 4, b, "www.example.com", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), 0);
	ag_dnscache_free(c);
}

TEST(entry_expires_when_now_reaches_the_ttl)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[64];
	struct ag_dnscache_stats st;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "short.example", 30, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 30 * SEC - 1, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 30 * SEC, name, sizeof(name)), -ENOENT);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.expirations, 1);
	CHECK_EQ(st.entries, 0);
	ag_dnscache_free(c);
}

TEST(ttl_below_the_floor_is_raised_to_it)
{
	struct ag_dnscache *c = ag_dnscache_new(16, seed);
	uint8_t a[16];
	char name[64];
	const uint64_t floor = AG_DNSCACHE_DEFAULT_MIN_TTL * SEC;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "cdn.example", 5, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + floor - 1, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + floor, name, sizeof(name)), -ENOENT);
	ag_dnscache_free(c);
}

TEST(ttl_above_the_ceiling_is_lowered_to_it)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[64];

	CHECK(c);
	CHECK_EQ(ag_dnscache_set_ttl_bounds(c, 10, 100), 0);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "long.example", 0x7fffffff, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 100 * SEC - 1, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 100 * SEC, name, sizeof(name)), -ENOENT);
	CHECK_EQ(ag_dnscache_set_ttl_bounds(c, 101, 100), -EINVAL);
	ag_dnscache_free(c);
}

TEST(expiry_saturates_instead_of_wrapping)
{
	struct ag_dnscache *c = cache(4);
	uint8_t a[16];
	char name[64];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "late.example", 3600, UINT64_MAX - SEC), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, UINT64_MAX - 1, name, sizeof(name)), 0);
	ag_dnscache_free(c);
}

TEST(re_adding_an_address_replaces_name_and_expiry)
{
	struct ag_dnscache *c = cache(16);
	uint8_t a[16];
	char name[64];
	struct ag_dnscache_stats st;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "old.example", 10, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "new.example", 10, T0 + 8 * SEC), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 15 * SEC, name, sizeof(name)), 0);
	CHECK_STR(name, "new.example");
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.entries, 1);
	CHECK_EQ(st.inserts, 1);
	CHECK_EQ(st.updates, 1);
	ag_dnscache_free(c);
}

TEST(lru_eviction_removes_the_least_recently_used)
{
	struct ag_dnscache *c = cache(3);
	uint8_t a[16], b[16], x[16], d[16];
	char name[64];
	struct ag_dnscache_stats st;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	v4(b, 192, 0, 2, 2);
	v4(x, 192, 0, 2, 3);
	v4(d, 192, 0, 2, 4);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "a.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, b, "b.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, x, "c.example", 60, T0), 0);
	/* Using a makes b the oldest. */
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, d, "d.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, b, T0, name, sizeof(name)), -ENOENT);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, x, T0, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, d, T0, name, sizeof(name)), 0);
	/* Now a is the oldest again (then c, then d): adding b evicts a. */
	CHECK_EQ(ag_dnscache_add(c, 4, b, "b.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), -ENOENT);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.evictions, 2);
	CHECK_EQ(st.entries, 3);
	ag_dnscache_free(c);
}

TEST(re_adding_counts_as_use_for_lru)
{
	struct ag_dnscache *c = cache(2);
	uint8_t a[16], b[16], x[16];
	char name[64];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	v4(b, 192, 0, 2, 2);
	v4(x, 192, 0, 2, 3);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "a.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, b, "b.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "a.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, x, "c.example", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name)), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, b, T0, name, sizeof(name)), -ENOENT);
	ag_dnscache_free(c);
}

TEST(entry_bound_is_respected_and_the_newest_survive)
{
	const uint32_t cap = 100, n = 1000;
	struct ag_dnscache *c = cache(cap);
	struct ag_dnscache_stats st;
	uint8_t a[16];
	char name[64], want[64];

	CHECK(c);
	for (uint32_t i = 0; i < n; i++) {
		nth(a, i);
		snprintf(want, sizeof(want), "h%u.example", i);
		CHECK_EQ(ag_dnscache_add(c, 4, a, want, 60, T0), 0);
	}
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.entries, cap);
	CHECK_EQ(st.capacity, cap);
	CHECK_EQ(st.evictions, n - cap);
	for (uint32_t i = 0; i < n; i++) {
		int r;

		nth(a, i);
		r = ag_dnscache_lookup(c, 4, a, T0, name, sizeof(name));
		if (i < n - cap) {
			CHECK_MSG(r == -ENOENT, "old entry %u still there", i);
		} else {
			snprintf(want, sizeof(want), "h%u.example", i);
			CHECK_MSG(r == 0, "entry %u lost", i);
			CHECK_STR(name, want);
		}
	}
	ag_dnscache_free(c);
}

TEST(full_cache_evicting_an_expired_entry_counts_an_expiration)
{
	struct ag_dnscache *c = cache(1);
	uint8_t a[16], b[16];
	struct ag_dnscache_stats st;

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	v4(b, 192, 0, 2, 2);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "a.example", 1, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, b, "b.example", 1, T0 + 5 * SEC), 0);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.evictions, 0);
	CHECK_EQ(st.expirations, 1);
	ag_dnscache_free(c);
}

TEST(expire_sweeps_only_dead_entries)
{
	struct ag_dnscache *c = cache(64);
	uint8_t a[16];
	char name[64];
	struct ag_dnscache_stats st;

	CHECK(c);
	/* Even entries live 10 s, odd ones 100 s. */
	for (uint32_t i = 0; i < 64; i++) {
		nth(a, i);
		CHECK_EQ(ag_dnscache_add(c, 4, a, "x.example", i % 2 ? 100 : 10, T0), 0);
	}
	CHECK_EQ(ag_dnscache_expire(c, T0 + 50 * SEC), 32);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.entries, 32);
	CHECK_EQ(st.expirations, 32);
	for (uint32_t i = 0; i < 64; i++) {
		nth(a, i);
		CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 50 * SEC, name, sizeof(name)),
			 i % 2 ? 0 : -ENOENT);
	}
	/* The freed room is used again without evicting anything. */
	for (uint32_t i = 100; i < 132; i++) {
		nth(a, i);
		CHECK_EQ(ag_dnscache_add(c, 4, a, "y.example", 100, T0 + 50 * SEC), 0);
	}
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.entries, 64);
	CHECK_EQ(st.evictions, 0);
	ag_dnscache_free(c);
}

TEST(add_reply_stores_each_address_under_the_question_name)
{
	struct ag_dnscache *c = cache(16);
	struct ag_dns_reply r;
	uint8_t a[16];
	char name[64];

	CHECK(c);
	memset(&r, 0, sizeof(r));
	strcpy(r.qname, "www.example.com");
	r.n_addrs = 2;
	r.addrs[0].ver = 4;
	v4(r.addrs[0].addr.b, 192, 0, 2, 1);
	r.addrs[0].ttl = 20;
	r.addrs[1].ver = 6;
	r.addrs[1].addr.b[0] = 0x20;
	r.addrs[1].addr.b[15] = 1;
	r.addrs[1].ttl = 40;
	CHECK_EQ(ag_dnscache_add_reply(c, &r, T0), 2);
	CHECK_EQ(ag_dnscache_lookup(c, 6, r.addrs[1].addr.b, T0 + 39 * SEC, name,
				    sizeof(name)), 0);
	CHECK_STR(name, "www.example.com");
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0 + 20 * SEC, name, sizeof(name)), -ENOENT);
	ag_dnscache_free(c);
}

TEST(add_reply_ignores_error_replies_and_the_root_name)
{
	struct ag_dnscache *c = cache(16);
	struct ag_dns_reply r;
	struct ag_dnscache_stats st;

	CHECK(c);
	memset(&r, 0, sizeof(r));
	strcpy(r.qname, "gone.example");
	r.rcode = AG_DNS_RCODE_NXDOMAIN;
	r.n_addrs = 1;
	r.addrs[0].ver = 4;
	v4(r.addrs[0].addr.b, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add_reply(c, &r, T0), 0);
	r.rcode = 0;
	r.qname[0] = '\0';
	CHECK_EQ(ag_dnscache_add_reply(c, &r, T0), 0);
	ag_dnscache_stats(c, &st);
	CHECK_EQ(st.entries, 0);
	ag_dnscache_free(c);
}

TEST(lookup_into_a_small_buffer_is_enospc)
{
	struct ag_dnscache *c = cache(4);
	uint8_t a[16];
	char name[8];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "abcdefgh", 60, T0), 0);
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, 8), -ENOSPC);
	CHECK_STR(name, "");
	CHECK_EQ(ag_dnscache_lookup(c, 4, a, T0, name, 0), -ENOSPC);
	ag_dnscache_free(c);
}

TEST(bad_arguments_are_rejected)
{
	struct ag_dnscache *c = cache(4);
	uint8_t a[16] = { 192, 0, 2, 1 };
	char name[AG_DNS_NAME_MAX + 2], out[8];

	CHECK(c);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';	/* 254 characters: one too many */
	CHECK_EQ(ag_dnscache_add(c, 4, a, name, 60, T0), -EINVAL);
	name[AG_DNS_NAME_MAX] = '\0';
	CHECK_EQ(ag_dnscache_add(c, 4, a, name, 60, T0), 0);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "", 60, T0), -EINVAL);
	CHECK_EQ(ag_dnscache_add(c, 5, a, "x", 60, T0), -EINVAL);
	CHECK_EQ(ag_dnscache_lookup(c, 0, a, T0, out, sizeof(out)), -EINVAL);
	ag_dnscache_free(c);

	errno = 0;
	CHECK(ag_dnscache_new(0, seed) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(ag_dnscache_new(4, NULL) == NULL);
	CHECK(ag_dnscache_new((size_t)AG_DNSCACHE_MAX_ENTRIES + 1, seed) == NULL);
	ag_dnscache_free(NULL);
}

/*
 * Entries share buckets (up to one entry per bucket on average), so expiry
 * and eviction unlink from the middle of chains; after much churn every
 * live entry must still be found, under the name of its latest add.
 */
TEST(churn_keeps_every_live_entry_findable)
{
	const uint32_t cap = 256;
	struct ag_dnscache *c = cache(cap);
	uint8_t a[16];
	char name[64], want[64];
	uint64_t now = T0;

	CHECK(c);
	for (uint32_t round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < cap; i++) {
			uint32_t k = (i * 7919u + round * 31u) % (2 * cap);

			nth(a, k);
			snprintf(want, sizeof(want), "r%u-%u.example", round, k);
			CHECK_EQ(ag_dnscache_add(c, 4, a, want, 1 + (k % 3), now), 0);
		}
		now += 2 * SEC;	/* kills the TTL-1 entries of this round */
		ag_dnscache_expire(c, now);
	}
	/* Whatever is still there must be consistent: each live entry found,
	 * with the name of the latest add. */
	{
		struct ag_dnscache_stats st;
		size_t found = 0;

		ag_dnscache_stats(c, &st);
		for (uint32_t k = 0; k < 2 * cap; k++) {
			nth(a, k);
			if (ag_dnscache_lookup(c, 4, a, now, name, sizeof(name)) == 0) {
				found++;
				CHECK(strncmp(name, "r19-", 4) == 0);
			}
		}
		CHECK_EQ(found, st.entries);
		CHECK(found > 0);
	}
	ag_dnscache_free(c);
}

struct seen {
	int n;
	char names[4][64];
};

static int collect_entry(void *arg, int ver, const uint8_t *addr, const char *name)
{
	struct seen *s = arg;

	if (s->n < 4)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%d %u %s", ver, addr[3], name);
	s->n++;
	return 0;
}

TEST(foreach_gives_every_live_entry_and_skips_the_expired)
{
	struct ag_dnscache *c = cache(16);
	struct seen s = { 0 };
	uint8_t a[16];

	CHECK(c);
	v4(a, 192, 0, 2, 1);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "short.example", 10, T0), 0);
	v4(a, 192, 0, 2, 2);
	CHECK_EQ(ag_dnscache_add(c, 4, a, "long.example", 600, T0), 0);
	CHECK_EQ(ag_dnscache_foreach(c, T0 + 20 * SEC, collect_entry, &s), 0);
	CHECK_EQ(s.n, 1);
	CHECK_STR(s.names[0], "4 2 long.example");
	ag_dnscache_free(c);
}
