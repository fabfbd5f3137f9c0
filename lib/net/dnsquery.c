/*
 * dnsquery.c — outstanding DNS queries: a ring of digests in arrival order
 * (the oldest is overwritten first) with a chained hash index over it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net/dnsquery.h"
#include "base/hash.h"

#define NIL UINT32_MAX

struct dnsq_entry {
	uint64_t digest;
	uint64_t sent;		/* now at ag_dnsq_add */
	uint32_t next;		/* next in the bucket, or NIL */
	bool live;
};

struct ag_dnsq {
	uint8_t seed[AG_DNSQ_SEED_LEN];
	struct dnsq_entry *e;
	uint32_t *bucket;
	size_t max, nbuckets, head;
	struct ag_dnsq_stats st;
};

/* Everything a reply must repeat, packed with no padding left undefined. */
struct dnsq_key {
	uint8_t ver;
	ag_addr client, server;
	uint8_t cport[2], sport[2], id[2], qtype[2], qclass[2];
	uint8_t name_len;
	uint8_t name[AG_DNS_WIRE_NAME_MAX];
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint64_t digest_of(const struct ag_dnsq *t, const struct ag_dnsq_flow *f,
			  const struct ag_dns_question *q)
{
	struct dnsq_key k;

	memset(&k, 0, sizeof(k));
	k.ver = f->ver;
	k.client = ag_addr_make(f->ver, f->client.b);
	k.server = ag_addr_make(f->ver, f->server.b);
	put16(k.cport, f->cport);
	put16(k.sport, f->sport);
	put16(k.id, q->id);
	put16(k.qtype, q->qtype);
	put16(k.qclass, q->qclass);
	k.name_len = q->name_len;
	memcpy(k.name, q->name, q->name_len); /* at most AG_DNS_WIRE_NAME_MAX */
	return ag_siphash24(t->seed, &k, sizeof(k));
}

struct ag_dnsq *ag_dnsq_new(size_t max, const uint8_t *seed)
{
	struct ag_dnsq *t;

	if (!seed || max == 0 || max > AG_DNSQ_MAX_ENTRIES) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max;
	for (t->nbuckets = 1; t->nbuckets < max; t->nbuckets <<= 1)
		;
	t->e = calloc(max, sizeof(*t->e));
	t->bucket = malloc(t->nbuckets * sizeof(*t->bucket));
	if (!t->e || !t->bucket) {
		ag_dnsq_free(t);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < t->nbuckets; i++)
		t->bucket[i] = NIL;
	memcpy(t->seed, seed, AG_DNSQ_SEED_LEN);
	return t;
}

void ag_dnsq_free(struct ag_dnsq *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->bucket);
	free(t);
}

static void unlink_entry(struct ag_dnsq *t, uint32_t i)
{
	uint32_t *p = &t->bucket[t->e[i].digest & (t->nbuckets - 1)];

	while (*p != NIL && *p != i)
		p = &t->e[*p].next;
	if (*p == i)
		*p = t->e[i].next;
	t->e[i].live = false;
}

static bool valid(const struct ag_dnsq_flow *f, const struct ag_dns_question *q)
{
	return f && q && (f->ver == 4 || f->ver == 6);
}

int ag_dnsq_add(struct ag_dnsq *t, const struct ag_dnsq_flow *f,
		const struct ag_dns_question *q, uint64_t now)
{
	uint32_t i;
	uint64_t d;

	if (!t || !valid(f, q) || q->qr)
		return -EINVAL;
	d = digest_of(t, f, q);
	i = (uint32_t)t->head;
	t->head = (t->head + 1) % t->max;
	if (t->e[i].live) {
		if (now - t->e[i].sent <= AG_DNSQ_WINDOW_NS)
			t->st.forgotten++;
		unlink_entry(t, i);
	}
	t->e[i].digest = d;
	t->e[i].sent = now;
	t->e[i].live = true;
	t->e[i].next = t->bucket[d & (t->nbuckets - 1)];
	t->bucket[d & (t->nbuckets - 1)] = i;
	t->st.queries++;
	return 0;
}

int ag_dnsq_answer(struct ag_dnsq *t, const struct ag_dnsq_flow *f,
		   const struct ag_dns_question *r, uint64_t now)
{
	uint64_t d;

	if (!t || !valid(f, r) || !r->qr)
		return -EINVAL;
	d = digest_of(t, f, r);
	for (uint32_t i = t->bucket[d & (t->nbuckets - 1)]; i != NIL; i = t->e[i].next) {
		/* A query from the future is a clock gone back: not an answer. */
		if (t->e[i].digest != d || now < t->e[i].sent ||
		    now - t->e[i].sent > AG_DNSQ_WINDOW_NS)
			continue;
		unlink_entry(t, i);
		t->st.answered++;
		return 0;
	}
	t->st.unsolicited++;
	return -ENOENT;
}

void ag_dnsq_stats(const struct ag_dnsq *t, struct ag_dnsq_stats *st)
{
	*st = t->st;
}
