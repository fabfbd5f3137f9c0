/*
 * daemon/ctflow.c — a conntrack entry as the engine names a flow: what the
 * data plane (conntrack events) and the fast path (flows to tear down) both
 * hand to the engine.
 */
#include <string.h>

#include "base/tuple.h"
#include "daemon/alegated.h"

void agd_fixed_from_ct(const struct ag_tuple *orig, uint8_t icmp_type, bool outbound,
		       ag_fixed_values *in)
{
	memset(in, 0, sizeof(*in));
	in->ip_version = orig->ip_version;
	in->protocol = orig->protocol;
	memcpy(in->local_addr, outbound ? orig->src : orig->dst, 16);
	memcpy(in->remote_addr, outbound ? orig->dst : orig->src, 16);
	in->local_port = outbound ? orig->sport : orig->dport;
	in->remote_port = outbound ? orig->dport : orig->sport;
	if (in->protocol == AG_IPPROTO_ICMP || in->protocol == AG_IPPROTO_ICMPV6) {
		in->local_port = orig->sport;
		in->remote_port = icmp_type;
	}
}
