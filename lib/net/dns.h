/*
 * dns.h — parse a DNS reply (the payload of a UDP datagram from port 53)
 * into the question name and the addresses that belong to it.
 *
 * Only addresses that answer the question are kept: A/AAAA records owned by
 * the question name, or by a name the CNAME chain starting at the question
 * name leads to.  A record for any other owner is ignored, so a reply cannot
 * attach a name to arbitrary addresses (a server answering "a.example" could
 * otherwise add "b.example has 192.0.2.1" and have a rule for b.example
 * apply to that address).
 *
 * Errors (negative errno):
 *   -EINVAL    a NULL argument
 *   -EMSGSIZE  the message ends before something it announces: header,
 *              a name, a record, or the number of records a count claims
 *              (a count that lies and a capture cut short look the same here)
 *   -EBADMSG   malformed: a compression pointer that goes forward, to
 *              itself, into the header or past the end; a reserved label
 *              type; a label over 63 bytes; a name over 255 bytes; an A or
 *              AAAA record of the wrong size; a CNAME whose name does not
 *              end exactly at the end of its data
 *   -EPROTO    well formed but not something to learn from: a query (QR=0),
 *              an opcode other than QUERY, or a question count other than 1
 *   -EILSEQ    the question name holds a byte other than a letter, digit,
 *              '-' or '_' (it could not be shown or matched as a host name)
 */
#ifndef ALEGATE_NET_DNS_H
#define ALEGATE_NET_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "net/packet.h"

/* Bounds, named once. */
#define AG_DNS_MAX_ADDRS 32	/* addresses kept per reply; more are counted */
#define AG_DNS_NAME_MAX 253	/* text form, without the trailing dot */
#define AG_DNS_WIRE_NAME_MAX 255 /* RFC 1035 2.3.4, wire form */
#define AG_DNS_MAX_CHAIN 8	/* CNAME hops followed from the question */

#define AG_DNS_TYPE_A 1
#define AG_DNS_TYPE_CNAME 5
#define AG_DNS_TYPE_AAAA 28
#define AG_DNS_CLASS_IN 1

#define AG_DNS_RCODE_NOERROR 0
#define AG_DNS_RCODE_NXDOMAIN 3

struct ag_dns_addr {
	uint8_t ver;			/* 4 or 6 */
	ag_addr addr;			/* IPv4 in the first 4 bytes */
	uint32_t ttl;			/* seconds, as sent (>= 2^31 read as 0) */
};

struct ag_dns_reply {
	uint16_t id;
	uint8_t rcode;			/* low 4 bits of the header flags */
	uint8_t truncated;		/* TC bit: the server cut the reply */
	uint16_t qtype;
	uint16_t qclass;
	/* Lower case, no trailing dot; "" for the root. */
	char qname[AG_DNS_NAME_MAX + 1];
	unsigned n_chain;		/* CNAME hops followed (0 = none) */
	unsigned n_addrs;
	unsigned n_dropped;		/* matching addresses beyond the bound */
	struct ag_dns_addr addrs[AG_DNS_MAX_ADDRS];
};

/* The question of a message, query or reply: what ties a reply to the query
 * it answers. */
struct ag_dns_question {
	uint16_t id;
	uint8_t qr;			/* 1: a reply, 0: a query */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t name_len;		/* bytes in name, the zero label included */
	uint8_t name[AG_DNS_WIRE_NAME_MAX]; /* wire form, lower case, uncompressed */
};

/*
 * ag_dns_parse_question — read the header and the one question of a DNS
 * message (query or reply; the rest is not looked at).
 *   buf, len: the UDP payload.  out: filled on success.
 * The name is kept in wire form, lower-cased (resolvers that randomize the
 * case of their questions get it back as sent, in any case).
 * Returns 0, or -EINVAL, -EMSGSIZE, -EBADMSG, or -EPROTO for an opcode
 * other than QUERY or a question count other than 1.
 */
int ag_dns_parse_question(const uint8_t *buf, size_t len, struct ag_dns_question *out);

/*
 * ag_dns_parse — parse one DNS reply.
 *   buf, len: the UDP payload.
 *   out:      filled on success (addresses in answer order, duplicates
 *             removed); unspecified on error.
 * Every section is walked, so the counts in the header are checked against
 * the message; only the answer section is used.  Records of other classes
 * than IN and other types than A, AAAA, CNAME are skipped.  Bytes after the
 * last record are ignored.  A CNAME chain longer than AG_DNS_MAX_CHAIN, or
 * one that loops, is followed as far as it is sane; addresses beyond it are
 * ignored.  Stack use is a few kilobytes; nothing is allocated.
 * Returns 0, or -EINVAL, -EMSGSIZE, -EBADMSG, -EPROTO, -EILSEQ (see top).
 */
int ag_dns_parse(const uint8_t *buf, size_t len, struct ag_dns_reply *out);

#endif
