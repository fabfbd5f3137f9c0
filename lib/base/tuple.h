/*
 * tuple.h — the 5-tuple of a flow, as the data plane parsed it from a packet.
 *
 * The data plane fills one from the first packet of a flow and hands it to
 * attribution (attrib.h), socket lookup and destruction (sockdiag.h) and
 * conntrack (conntrack.h).  Plain data, no invariant beyond the comments.
 *
 * Addresses are ag_addr (addr.h), in network byte order: an IPv4 address
 * sits in the first 4 bytes and the other 12 are zero, so two tuples
 * compare equal with memcmp() once they are zeroed before filling.
 * Ports are in host byte order.  For ICMP and ICMPv6 echo flows, sport holds
 * the echo identifier and dport is 0: that is the part of the key conntrack
 * keeps besides type and code.
 *
 * Orientation: src/dst are the packet's.  The flow's original direction is
 * the direction of its first packet, so an outbound flow has src = local and
 * an inbound flow has src = remote.  sockdiag.h works on "socket
 * orientation" (src = the local end): use ag_tuple_reverse() for an inbound
 * tuple.
 */
#ifndef ALEGATE_BASE_TUPLE_H
#define ALEGATE_BASE_TUPLE_H

#include <stdint.h>
#include <string.h>

#include "base/addr.h"

struct ag_tuple {
	uint8_t ip_version;	/* 4 or 6 */
	uint8_t protocol;	/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ... */
	uint16_t sport;		/* host order */
	uint16_t dport;		/* host order */
	ag_addr src;
	ag_addr dst;
};

/*
 * ag_tuple_make() - fill @t from its parts.
 */
static inline void ag_tuple_make(struct ag_tuple *t, uint8_t ip_version, uint8_t protocol,
				 ag_addr src, uint16_t sport, ag_addr dst, uint16_t dport)
{
	memset(t, 0, sizeof(*t));
	t->ip_version = ip_version;
	t->protocol = protocol;
	t->src = src;
	t->dst = dst;
	t->sport = sport;
	t->dport = dport;
}

/*
 * ag_tuple_reverse() - the same flow seen from its other end.
 * @in:  tuple to reverse
 * @out: receives @in with src/dst and sport/dport swapped; may equal @in.
 */
static inline void ag_tuple_reverse(const struct ag_tuple *in,
				    struct ag_tuple *out)
{
	struct ag_tuple r = *in;

	r.src = in->dst;
	r.dst = in->src;
	r.sport = in->dport;
	r.dport = in->sport;
	*out = r;
}

#endif
