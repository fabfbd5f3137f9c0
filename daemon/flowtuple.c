/*
 * daemon/flowtuple.c — one flow in its two shapes: the kernel's 5-tuple
 * (struct ag_tuple: src and dst, the packet's or the socket's way round) and
 * the engine's fixed values (local and remote).  The data plane, the fast
 * path and the control socket turn one into the other only here.
 */
#include <string.h>

#include "base/tuple.h"
#include "daemon/alegated.h"
#include "daemon/flowtuple.h"

void agd_fixed_from_tuple(const struct ag_tuple *orig, uint8_t icmp_type, bool outbound,
		       ag_fixed_values *in)
{
	memset(in, 0, sizeof(*in));
	in->ip_version = orig->ip_version;
	in->protocol = orig->protocol;
	in->local_addr = outbound ? orig->src : orig->dst;
	in->remote_addr = outbound ? orig->dst : orig->src;
	in->local_port = outbound ? orig->sport : orig->dport;
	in->remote_port = outbound ? orig->dport : orig->sport;
	if (in->protocol == AG_IPPROTO_ICMP || in->protocol == AG_IPPROTO_ICMPV6) {
		in->local_port = orig->sport;
		in->remote_port = icmp_type;
	}
}

void agd_tuple_from_fixed(const ag_fixed_values *in, struct ag_tuple *t)
{
	ag_tuple_make(t, in->ip_version, in->protocol, in->local_addr, in->local_port,
		      in->remote_addr, in->remote_port);
}
