/*
 * dnsquery.h — the DNS queries this host sent that no reply has answered
 * yet, so that names are learned only from a reply to one of them.
 *
 * A query is its flow (client address and port, server address and port),
 * its id and its question (name, type, class).  A reply answers it when all
 * of these are the same and it comes within AG_DNSQ_WINDOW_NS of the query;
 * each query is answered once.  So a datagram nobody asked for, a reply to
 * another port or from another server, or a second reply to one query, is
 * not learned from.
 *
 * Bounded: all memory is taken at creation; when full, the oldest query is
 * forgotten (its reply, if it still comes, is not learned from).  Entries
 * are 64-bit SipHash-2-4 digests of the whole key under a secret seed, so a
 * sender that does not know the seed cannot make two keys collide.
 * The caller's clock, in nanoseconds (CLOCK_BOOTTIME), is passed in.
 * Not thread-safe.
 */
#ifndef ALEGATE_NET_DNSQUERY_H
#define ALEGATE_NET_DNSQUERY_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "net/dns.h"

/* How long a query waits for its reply: longer than a stub resolver's
 * whole retry cycle (glibc: 5 s, twice). */
#define AG_DNSQ_WINDOW_NS (15ull * 1000000000ull)
/* Queries outstanding at once. */
#define AG_DNSQ_DEFAULT_MAX 4096
#define AG_DNSQ_MAX_ENTRIES (1u << 20)
#define AG_DNSQ_SEED_LEN 16

struct ag_dnsq;

/* The flow of a query, from the client's side: the server sent the reply
 * from (server, sport) to (client, cport).  IPv4 in the first 4 bytes. */
struct ag_dnsq_flow {
	uint8_t ver;			/* 4 or 6 */
	ag_addr client, server;
	uint16_t cport, sport;
};

struct ag_dnsq_stats {
	uint64_t queries;	/* added */
	uint64_t answered;	/* replies that matched a query */
	uint64_t unsolicited;	/* replies that matched none */
	uint64_t forgotten;	/* queries pushed out unanswered while in their window */
};

/*
 * ag_dnsq_new — a table of at most max outstanding queries
 * (1..AG_DNSQ_MAX_ENTRIES; 24 bytes each and as many bucket heads).
 *   seed: AG_DNSQ_SEED_LEN secret random bytes.
 * Returns the table (free with ag_dnsq_free), or NULL with errno EINVAL or
 * ENOMEM.
 */
struct ag_dnsq *ag_dnsq_new(size_t max, const uint8_t *seed);

/* ag_dnsq_free — release the table; NULL is accepted. */
void ag_dnsq_free(struct ag_dnsq *t);

/*
 * ag_dnsq_add — remember a query q (qr == 0) sent on flow f at now.
 * Returns 0, or -EINVAL (NULL pointer, a reply, bad ver).
 */
int ag_dnsq_add(struct ag_dnsq *t, const struct ag_dnsq_flow *f,
		const struct ag_dns_question *q, uint64_t now);

/*
 * ag_dnsq_answer — does reply r (qr == 1), received on flow f at now,
 * answer a query still waiting?  If so, that query is answered and
 * forgotten.
 * Returns 0 (it does), -ENOENT (it does not), or -EINVAL.
 */
int ag_dnsq_answer(struct ag_dnsq *t, const struct ag_dnsq_flow *f,
		   const struct ag_dns_question *r, uint64_t now);

/* ag_dnsq_stats — copy the counters into *st. */
void ag_dnsq_stats(const struct ag_dnsq *t, struct ag_dnsq_stats *st);

#endif
