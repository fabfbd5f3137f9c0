/*
 * dnscache.h — IP address → host name, learned from DNS replies.
 *
 * Bounded in entries (all memory is taken at creation, nothing is allocated
 * afterwards), TTL-aware with the caller's clock (every call takes `now` in
 * nanoseconds, e.g. CLOCK_BOOTTIME, so tests control time), least recently
 * used entry evicted when full.  One name per address: the latest reply
 * wins, since the connection about to be made most likely follows the most
 * recent lookup.  Buckets are chosen by SipHash-2-4 keyed with a
 * caller-given seed, so a DNS server cannot pick addresses that pile into
 * one bucket.
 *
 * Not thread-safe: lookups reorder the LRU list; the caller serializes.
 */
#ifndef ALEGATE_NET_DNSCACHE_H
#define ALEGATE_NET_DNSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "net/dns.h"

#define AG_DNSCACHE_SEED_LEN 16		/* SipHash key bytes */
#define AG_DNSCACHE_MAX_ENTRIES (1u << 24) /* keeps indexes in 32 bits */
/* TTL clamp defaults (seconds).  The floor keeps a name for connections an
 * application makes a little after a short TTL ran out (it caches
 * addresses itself); the ceiling stops one reply pinning a name for days. */
#define AG_DNSCACHE_DEFAULT_MIN_TTL 300
#define AG_DNSCACHE_DEFAULT_MAX_TTL 86400

struct ag_dnscache;

struct ag_dnscache_stats {
	size_t capacity;	/* max_entries given at creation */
	size_t entries;		/* in the cache now (expired ones not yet seen count) */
	uint64_t inserts;	/* new entries */
	uint64_t updates;	/* an address seen again (name and TTL replaced) */
	uint64_t hits;
	uint64_t misses;	/* not found, or found expired */
	uint64_t evictions;	/* live entries pushed out to make room */
	uint64_t expirations;	/* entries removed because their TTL ran out */
};

/*
 * ag_dnscache_new — a cache of at most max_entries addresses.
 *   max_entries: 1..AG_DNSCACHE_MAX_ENTRIES; about 300 bytes each are
 *                allocated now.
 *   seed:        AG_DNSCACHE_SEED_LEN secret random bytes (getrandom).
 * TTLs are clamped to [AG_DNSCACHE_DEFAULT_MIN_TTL, _MAX_TTL] until
 * ag_dnscache_set_ttl_bounds says otherwise.
 * Returns the cache (free with ag_dnscache_free), or NULL with errno
 * EINVAL (bad max_entries or NULL seed) or ENOMEM.
 */
struct ag_dnscache *ag_dnscache_new(size_t max_entries, const uint8_t *seed);

/* ag_dnscache_free — release the cache; NULL is accepted. */
void ag_dnscache_free(struct ag_dnscache *c);

/*
 * ag_dnscache_set_ttl_bounds — clamp every later TTL to [min_s, max_s]
 * seconds.  Entries already in the cache keep their expiry.
 * Returns 0, or -EINVAL if min_s > max_s.
 */
int ag_dnscache_set_ttl_bounds(struct ag_dnscache *c, uint32_t min_s,
			       uint32_t max_s);

/*
 * ag_dnscache_add — remember that addr (version ver, AG_ADDR_LEN bytes,
 * IPv4 in the first 4) is called name until now + clamp(ttl_s) seconds.
 *   name: a host name of 1..AG_DNS_NAME_MAX bytes, copied.
 * An address already present takes the new name and expiry and becomes the
 * most recently used; a new one evicts the least recently used entry when
 * the cache is full.
 * Returns 0, or -EINVAL (NULL pointer, ver not 4/6, empty or long name).
 */
int ag_dnscache_add(struct ag_dnscache *c, int ver, const uint8_t *addr,
		    const char *name, uint32_t ttl_s, uint64_t now);

/*
 * ag_dnscache_add_reply — add every address of a parsed reply under its
 * question name, each with its own TTL.  A reply whose rcode is not
 * NOERROR, or whose question name is empty, adds nothing.
 * Returns the number of addresses added (>= 0), or -EINVAL.
 */
int ag_dnscache_add_reply(struct ag_dnscache *c, const struct ag_dns_reply *r,
			  uint64_t now);

/*
 * ag_dnscache_lookup — the name of addr, if known and not expired at now.
 *   buf, len: receives the name, NUL-terminated; AG_DNS_NAME_MAX + 1 bytes
 *             always suffice.
 * A hit makes the entry the most recently used; an expired entry found on
 * the way is removed (and counted as an expiration).
 * Returns 0; -ENOENT if unknown or expired; -ENOSPC if the name does not
 * fit in len (buf is then ""); -EINVAL for a NULL pointer or bad ver.
 */
int ag_dnscache_lookup(struct ag_dnscache *c, int ver, const uint8_t *addr,
		       uint64_t now, char *buf, size_t len);

/*
 * ag_dnscache_expire — remove every entry expired at now.  Lookups already
 * drop what they meet; call this now and then (say once a minute) to give
 * the room back sooner.  Walks the whole cache.
 * Returns the number of entries removed.
 */
size_t ag_dnscache_expire(struct ag_dnscache *c, uint64_t now);

/*
 * ag_dnscache_foreach — call fn for every entry not expired at now (most
 * recently used first; the order of use is not changed), until fn returns
 * nonzero, which is then returned; else 0.  fn must not change the cache.
 */
int ag_dnscache_foreach(const struct ag_dnscache *c, uint64_t now,
			int (*fn)(void *arg, int ver, const uint8_t *addr, const char *name),
			void *arg);

/* ag_dnscache_stats — copy the counters into *st. */
void ag_dnscache_stats(const struct ag_dnscache *c, struct ag_dnscache_stats *st);

#endif
