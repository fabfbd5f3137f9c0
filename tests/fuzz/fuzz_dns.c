/*
 * fuzz_dns.c — libFuzzer harness for lib/net/dns and lib/net/dnscache.
 *
 * Every reply that parses must keep the promises of dns.h (bounded output,
 * a clean host name) and, fed to a fresh cache, must make each of its
 * addresses resolve to its question name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"
#include "net/dnscache.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_dns_reply r;
	struct ag_dnscache *c;
	char name[AG_DNS_NAME_MAX + 1];
	int ret = ag_dns_parse(data, size, &r);

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
			if (ag_dnscache_lookup(c, r.addrs[i].ver, r.addrs[i].addr,
					       2, name, sizeof(name)) != 0 ||
			    strcmp(name, r.qname) != 0)
				abort();
		}
	}
	ag_dnscache_free(c);
	return 0;
}
