/*
 * dnscache.c — a fixed pool of entries, a chained hash table of 32-bit
 * indexes into it and an LRU list threaded through the same entries.
 * Everything is allocated in ag_dnscache_new; add and lookup only move
 * indexes around, so the DNS path never calls malloc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/dnscache.h"
#include "base/hash.h"

#define NIL UINT32_MAX
#define NSEC_PER_SEC 1000000000ULL

struct entry {
	uint64_t expires;	/* ns on the caller's clock; entry dead at >= */
	uint32_t hash;		/* low bits pick the bucket */
	uint32_t hnext;		/* next in the bucket, or NIL */
	uint32_t prev, next;	/* LRU neighbours (free list: next only) */
	uint8_t ver;
	uint8_t addr[AG_ADDR_LEN];
	char name[AG_DNS_NAME_MAX + 1];
};

struct ag_dnscache {
	struct entry *e;
	uint32_t *bucket;
	uint32_t mask;		/* buckets - 1, a power of two minus one */
	uint32_t head, tail;	/* most / least recently used */
	uint32_t free;		/* singly linked through next */
	uint32_t min_ttl, max_ttl;
	uint8_t key[AG_DNSCACHE_SEED_LEN];
	struct ag_dnscache_stats st;
};

/* The address as the table keys it: IPv4 zero-padded, whatever follows. */
static void make_key(uint8_t *k, int ver, const uint8_t *addr)
{
	memset(k, 0, 1 + AG_ADDR_LEN);
	k[0] = (uint8_t)ver;
	memcpy(k + 1, addr, ver == 4 ? 4 : AG_ADDR_LEN);
}

static void lru_unlink(struct ag_dnscache *c, uint32_t i)
{
	struct entry *e = &c->e[i];

	if (e->prev != NIL)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != NIL)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void lru_push_head(struct ag_dnscache *c, uint32_t i)
{
	struct entry *e = &c->e[i];

	e->prev = NIL;
	e->next = c->head;
	if (c->head != NIL)
		c->e[c->head].prev = i;
	else
		c->tail = i;
	c->head = i;
}

/* Take entry i out of its bucket and the LRU list, onto the free list. */
static void remove_entry(struct ag_dnscache *c, uint32_t i)
{
	uint32_t *link = &c->bucket[c->e[i].hash & c->mask];

	while (*link != i)
		link = &c->e[*link].hnext;
	*link = c->e[i].hnext;
	lru_unlink(c, i);
	c->e[i].ver = 0;
	c->e[i].next = c->free;
	c->free = i;
	c->st.entries--;
}

static uint32_t find(const struct ag_dnscache *c, const uint8_t *key,
		     uint32_t hash)
{
	for (uint32_t i = c->bucket[hash & c->mask]; i != NIL; i = c->e[i].hnext) {
		const struct entry *e = &c->e[i];

		if (e->hash == hash && e->ver == key[0] &&
		    memcmp(e->addr, key + 1, AG_ADDR_LEN) == 0)
			return i;
	}
	return NIL;
}

struct ag_dnscache *ag_dnscache_new(size_t max_entries, const uint8_t *seed)
{
	struct ag_dnscache *c;
	size_t nb = 1;

	if (!seed || max_entries == 0 || max_entries > AG_DNSCACHE_MAX_ENTRIES) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < max_entries)
		nb <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->e = calloc(max_entries, sizeof(*c->e));
	c->bucket = malloc(nb * sizeof(*c->bucket));
	if (!c->e || !c->bucket) {
		ag_dnscache_free(c);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < nb; i++)
		c->bucket[i] = NIL;
	for (size_t i = 0; i < max_entries; i++)
		c->e[i].next = i + 1 < max_entries ? (uint32_t)(i + 1) : NIL;
	c->free = 0;
	c->mask = (uint32_t)(nb - 1);
	c->head = c->tail = NIL;
	c->min_ttl = AG_DNSCACHE_DEFAULT_MIN_TTL;
	c->max_ttl = AG_DNSCACHE_DEFAULT_MAX_TTL;
	memcpy(c->key, seed, AG_DNSCACHE_SEED_LEN);
	c->st.capacity = max_entries;
	return c;
}

void ag_dnscache_free(struct ag_dnscache *c)
{
	if (!c)
		return;
	free(c->e);
	free(c->bucket);
	free(c);
}

int ag_dnscache_set_ttl_bounds(struct ag_dnscache *c, uint32_t min_s,
			       uint32_t max_s)
{
	if (!c || min_s > max_s)
		return -EINVAL;
	c->min_ttl = min_s;
	c->max_ttl = max_s;
	return 0;
}

int ag_dnscache_add(struct ag_dnscache *c, int ver, const uint8_t *addr,
		    const char *name, uint32_t ttl_s, uint64_t now)
{
	uint8_t key[1 + AG_ADDR_LEN];
	uint64_t ttl_ns;
	uint32_t hash, i;
	size_t nlen;
	struct entry *e;

	if (!c || !addr || !name || (ver != 4 && ver != 6))
		return -EINVAL;
	nlen = strnlen(name, AG_DNS_NAME_MAX + 1);
	if (nlen == 0 || nlen > AG_DNS_NAME_MAX)
		return -EINVAL;
	if (ttl_s < c->min_ttl)
		ttl_s = c->min_ttl;
	if (ttl_s > c->max_ttl)
		ttl_s = c->max_ttl;
	ttl_ns = (uint64_t)ttl_s * NSEC_PER_SEC;

	make_key(key, ver, addr);
	hash = (uint32_t)ag_siphash24(c->key, key, sizeof(key));
	i = find(c, key, hash);
	if (i != NIL) {
		lru_unlink(c, i);
		c->st.updates++;
	} else {
		if (c->free == NIL) {
			/* Full: the least recently used entry makes room. */
			if (c->e[c->tail].expires <= now)
				c->st.expirations++;
			else
				c->st.evictions++;
			remove_entry(c, c->tail);
		}
		i = c->free;
		c->free = c->e[i].next;
		e = &c->e[i];
		e->hash = hash;
		e->ver = key[0];
		memcpy(e->addr, key + 1, AG_ADDR_LEN);
		e->hnext = c->bucket[hash & c->mask];
		c->bucket[hash & c->mask] = i;
		c->st.entries++;
		c->st.inserts++;
	}
	e = &c->e[i];
	memcpy(e->name, name, nlen);
	e->name[nlen] = '\0';
	/* Saturate rather than wrap into the past. */
	e->expires = now > UINT64_MAX - ttl_ns ? UINT64_MAX : now + ttl_ns;
	lru_push_head(c, i);
	return 0;
}

int ag_dnscache_add_reply(struct ag_dnscache *c, const struct ag_dns_reply *r,
			  uint64_t now)
{
	int added = 0;

	if (!c || !r)
		return -EINVAL;
	if (r->rcode != AG_DNS_RCODE_NOERROR || r->qname[0] == '\0')
		return 0;
	for (unsigned i = 0; i < r->n_addrs && i < AG_DNS_MAX_ADDRS; i++) {
		const struct ag_dns_addr *a = &r->addrs[i];

		if (ag_dnscache_add(c, a->ver, a->addr.b, r->qname, a->ttl, now) == 0)
			added++;
	}
	return added;
}

int ag_dnscache_lookup(struct ag_dnscache *c, int ver, const uint8_t *addr,
		       uint64_t now, char *buf, size_t len)
{
	uint8_t key[1 + AG_ADDR_LEN];
	uint32_t hash, i;
	size_t nlen;

	if (!c || !addr || !buf || (ver != 4 && ver != 6))
		return -EINVAL;
	make_key(key, ver, addr);
	hash = (uint32_t)ag_siphash24(c->key, key, sizeof(key));
	i = find(c, key, hash);
	if (i == NIL) {
		c->st.misses++;
		return -ENOENT;
	}
	if (c->e[i].expires <= now) {
		remove_entry(c, i);
		c->st.expirations++;
		c->st.misses++;
		return -ENOENT;
	}
	nlen = strlen(c->e[i].name);
	if (nlen >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, c->e[i].name, nlen + 1);
	lru_unlink(c, i);
	lru_push_head(c, i);
	c->st.hits++;
	return 0;
}

size_t ag_dnscache_expire(struct ag_dnscache *c, uint64_t now)
{
	size_t n = 0;
	uint32_t i, next;

	if (!c)
		return 0;
	for (i = c->head; i != NIL; i = next) {
		next = c->e[i].next;
		if (c->e[i].expires <= now) {
			remove_entry(c, i);
			n++;
		}
	}
	c->st.expirations += n;
	return n;
}

int ag_dnscache_foreach(const struct ag_dnscache *c, uint64_t now,
			int (*fn)(void *arg, int ver, const uint8_t *addr, const char *name),
			void *arg)
{
	int r;

	if (!c)
		return 0;
	for (uint32_t i = c->head; i != NIL; i = c->e[i].next)
		if (c->e[i].expires > now && (r = fn(arg, c->e[i].ver, c->e[i].addr, c->e[i].name)))
			return r;
	return 0;
}

void ag_dnscache_stats(const struct ag_dnscache *c, struct ag_dnscache_stats *st)
{
	if (c && st)
		*st = c->st;
}
