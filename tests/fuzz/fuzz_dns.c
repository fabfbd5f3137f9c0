/*
 * fuzz_dns.c — libFuzzer harness for lib/net/dns and lib/net/dnscache.
 *
 * Every reply that parses must keep the promises of dns.h (bounded output,
 * a clean host name) and, fed to a fresh cache, must make each of its
 * addresses resolve to its question name.  The question parser (what ties a
 * reply to its query) must agree with the reply parser on every message
 * both accept, and a query it reads must be answered by the same message
 * read as a reply, once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"
#include "net/dnscache.h"
#include "net/dnsquery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t seed[AG_DNSCACHE_SEED_LEN] = { 0x5e, 0xed };

static void check_name(const char *q)
{
	size_t n = strnlen(q, AG_DNS_NAME_MAX + 1);

	if (n > AG_DNS_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = q[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			abort();
		/* No empty label: no leading, trailing or double dot. */
		if (c == '.' && (i == 0 || i + 1 == n || q[i + 1] == '.'))
			abort();
	}
}

/* The question parser's promises; returns whether it accepted data. */
static int check_question(const uint8_t *data, size_t size, struct ag_dns_question *q)
{
	static const struct ag_dnsq_flow f = { .ver = 4, .cport = 40000, .sport = 53 };
	struct ag_dnsq *t;
	int ret = ag_dns_parse_question(data, size, q);

	if (ret != 0) {
		if (ret != -EMSGSIZE && ret != -EBADMSG && ret != -EPROTO)
			abort();
		return 0;
	}
	if (q->name_len < 1 || q->name_len > AG_DNS_WIRE_NAME_MAX || q->name[q->name_len - 1])
		abort();
	for (unsigned i = 0; i < q->name_len; i++)
		if (q->name[i] >= 'A' && q->name[i] <= 'Z')
			abort();
	/* the same question as a query and as a reply: answered once */
	t = ag_dnsq_new(4, seed);
	if (!t)
		abort();
	struct ag_dns_question as_query = *q, as_reply = *q;

	as_query.qr = 0;
	as_reply.qr = 1;
	if (ag_dnsq_add(t, &f, &as_query, 1) || ag_dnsq_answer(t, &f, &as_reply, 2) ||
	    ag_dnsq_answer(t, &f, &as_reply, 2) != -ENOENT)
		abort();
	ag_dnsq_free(t);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_dns_reply r;
	struct ag_dns_question q;
	struct ag_dnscache *c;
	char name[AG_DNS_NAME_MAX + 1];
	int has_q = check_question(data, size, &q);
	int ret = ag_dns_parse(data, size, &r);

	/* a reply that parses has a question that parses, the same one */
	if (ret == 0 && (!has_q || !q.qr || q.id != r.id || q.qtype != r.qtype ||
			 q.qclass != r.qclass))
		abort();

	if (ret != 0) {
		if (ret != -EMSGSIZE && ret != -EBADMSG && ret != -EPROTO &&
		    ret != -EILSEQ)
			abort();
		return 0;
	}
	check_name(r.qname);
	if (r.n_addrs > AG_DNS_MAX_ADDRS || r.n_chain > AG_DNS_MAX_CHAIN)
		abort();
	for (unsigned i = 0; i < r.n_addrs; i++)
		if (r.addrs[i].ver != 4 && r.addrs[i].ver != 6)
			abort();

	c = ag_dnscache_new(2 * AG_DNS_MAX_ADDRS, seed);
	if (!c)
		abort();
	ret = ag_dnscache_add_reply(c, &r, 1);
	if (r.rcode != AG_DNS_RCODE_NOERROR || !r.qname[0]) {
		if (ret != 0)
			abort();
	} else {
		if (ret != (int)r.n_addrs)
			abort();
		for (unsigned i = 0; i < r.n_addrs; i++) {
			if (ag_dnscache_lookup(c, r.addrs[i].ver, r.addrs[i].addr.b,
					       2, name, sizeof(name)) != 0 ||
			    strcmp(name, r.qname) != 0)
				abort();
		}
	}
	ag_dnscache_free(c);
	return 0;
}
