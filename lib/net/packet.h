/*
 * packet.h — parse the IP and transport headers of one packet, and format
 * or parse addresses.  Pure functions over caller-owned buffers: no I/O, no
 * allocation, no OS headers, safe on any input.
 *
 * The data plane usually hands over only the first 128-256 bytes of a
 * packet (NFQUEUE copy range), so a packet whose IP total length exceeds
 * what was captured is normal and only flagged (AG_PKT_TRUNCATED).  What is
 * refused is a packet whose headers cannot be read or contradict each other.
 *
 * Errors (negative errno, the same meaning in every function here):
 *   -EINVAL        a NULL argument, or (addresses) text that is not an address
 *   -EMSGSIZE      "truncated": a header the packet claims does not fit in the
 *                  captured bytes (caplen); a longer capture may parse
 *   -EBADMSG       "lying": the headers contradict themselves (IHL < 5, total
 *                  length shorter than the headers, TCP data offset < 5, UDP
 *                  length < 8 or longer than the IP payload, an IPv6
 *                  extension header past the payload length, a hop-by-hop
 *                  header not first, more than AG_PKT_MAX_EXTHDRS extension
 *                  headers); no capture length makes it parse
 *   -EAFNOSUPPORT  IP version neither 4 nor 6
 *   -ENOSPC        (ag_addr_format) the output buffer is too small
 */
#ifndef ALEGATE_NET_PACKET_H
#define ALEGATE_NET_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"

/* Bounds, named once. */
#define AG_ADDR_LEN 16		/* IPv4 uses the first 4 bytes, the rest zero */
#define AG_ADDR_STRLEN 46	/* longest text form plus NUL, as INET6_ADDRSTRLEN */
#define AG_PKT_MAX_EXTHDRS 8	/* IPv6 extension headers walked before giving up */

/* IP protocol numbers the parser knows (also the values of ag_pkt_info.protocol). */
enum {
	AG_IPPROTO_HOPOPTS = 0,
	AG_IPPROTO_ICMP = 1,
	AG_IPPROTO_TCP = 6,
	AG_IPPROTO_UDP = 17,
	AG_IPPROTO_ROUTING = 43,
	AG_IPPROTO_FRAGMENT = 44,
	AG_IPPROTO_ESP = 50,
	AG_IPPROTO_AH = 51,
	AG_IPPROTO_ICMPV6 = 58,
	AG_IPPROTO_NONE = 59,
	AG_IPPROTO_DSTOPTS = 60,
	AG_IPPROTO_SCTP = 132,
	AG_IPPROTO_UDPLITE = 136,
};

/* TCP flag bits as they sit in byte 13 of the TCP header. */
enum {
	AG_TCP_FIN = 0x01,
	AG_TCP_SYN = 0x02,
	AG_TCP_RST = 0x04,
	AG_TCP_PSH = 0x08,
	AG_TCP_ACK = 0x10,
	AG_TCP_URG = 0x20,
	AG_TCP_ECE = 0x40,
	AG_TCP_CWR = 0x80,
};

/* ag_pkt_info.flags */
enum {
	/* caplen < ip_total_len: only the start of the packet was captured. */
	AG_PKT_TRUNCATED = 1u << 0,
	/* A fragment (IPv4 MF or offset != 0; IPv6 fragment header). */
	AG_PKT_FRAGMENT = 1u << 1,
	/*
	 * No transport header was parsed: a non-first fragment, ESP, IPv6
	 * no-next-header, or a protocol without ports.  sport/dport are 0 and
	 * payload_offset == l4_offset.
	 */
	AG_PKT_NO_L4 = 1u << 2,
	/* ICMP/ICMPv6 echo request or reply: sport holds the identifier. */
	AG_PKT_ICMP_ECHO = 1u << 3,
};

struct ag_pkt_info {
	uint8_t ip_version;	/* 4 or 6 */
	uint8_t protocol;	/* final (transport) protocol number */
	uint8_t tcp_flags;	/* AG_TCP_*, TCP only */
	uint8_t icmp_type;	/* ICMP / ICMPv6 only */
	uint8_t icmp_code;
	uint8_t n_exthdrs;	/* IPv6 extension headers walked */
	uint16_t flags;		/* AG_PKT_* */
	ag_addr src;		/* IPv4 in the first 4 bytes, the rest zero */
	ag_addr dst;
	uint16_t sport;		/* host order; ICMP echo: identifier */
	uint16_t dport;		/* host order; ICMP echo: 0 */
	uint32_t frag_offset;	/* bytes, when AG_PKT_FRAGMENT */
	uint32_t l4_offset;	/* transport header, from the start of buf */
	uint32_t payload_offset; /* transport payload, from the start of buf */
	/* Payload bytes present in buf (within the IP, or UDP, length). */
	uint32_t payload_len;
	/* Payload bytes the headers claim (>= payload_len when truncated). */
	uint32_t payload_total;
	/* IP total length as claimed (IPv6: 40 + payload length). */
	uint32_t ip_total_len;
};

/*
 * ag_pkt_parse — parse the IPv4 or IPv6 packet starting at buf.
 *   buf, caplen: the captured bytes (caplen may be less than the packet);
 *                trailing bytes past the IP total length are ignored.
 *   out:         filled on success; unspecified on error.
 * Returns 0, or -EINVAL, -EMSGSIZE, -EBADMSG, -EAFNOSUPPORT (see top).
 * Never reads outside buf[0..caplen).  Nothing to free.
 *
 * IPv4 options are skipped, not checked.  IPv6 extension headers walked:
 * hop-by-hop (first only), routing, destination options, fragment, AH; the
 * walk stops at ESP and no-next-header.  Ports are read for TCP, UDP,
 * UDP-Lite and SCTP.  A first fragment is parsed like a whole packet except
 * that its UDP length may exceed the fragment.  An IPv6 jumbogram (payload
 * length 0) is -EBADMSG.
 */
int ag_pkt_parse(const uint8_t *buf, size_t caplen, struct ag_pkt_info *out);

/*
 * ag_addr_format — write an address as text into buf[0..len).
 *   ver:   4 or 6.  bytes: AG_ADDR_LEN bytes (IPv4: the first 4 are used).
 *   IPv6 is written in the form inet_ntop gives: lower case, the longest
 *   run of two or more zero groups (the first on a tie) as "::", and
 *   ::ffff:a.b.c.d / ::a.b.c.d for IPv4-mapped and -compatible addresses.
 * Returns 0; -EINVAL for a NULL pointer or another version; -ENOSPC when
 * len is too small (AG_ADDR_STRLEN always suffices; buf is then "" if len > 0).
 */
int ag_addr_format(int ver, const uint8_t *bytes, char *buf, size_t len);

/*
 * ag_addr_parse — parse an IPv4 dotted quad ("192.0.2.1", four decimal
 * parts 0-255 without leading zeros) or an IPv6 address (hex groups, one
 * optional "::", optionally ending in a dotted quad).  No brackets, zone
 * ids, ports or whitespace.
 *   ver:   set to 4 or 6.  bytes: AG_ADDR_LEN bytes, IPv4 in the first 4,
 *          the rest zeroed.
 * Returns 0, or -EINVAL (outputs untouched).
 */
int ag_addr_parse(const char *str, int *ver, uint8_t *bytes);

/*
 * ag_prefix_parse — parse "ADDR/LEN" or a bare ADDR (meaning /32 or /128).
 * LEN is decimal, 0..32 for IPv4 and 0..128 for IPv6, without sign or
 * leading zeros.  Host bits set beyond LEN are cleared ("192.0.2.7/24"
 * yields 192.0.2.0/24), as iptables does, so a rule means what it reads.
 * Returns 0, or -EINVAL (outputs untouched).
 */
int ag_prefix_parse(const char *str, int *ver, uint8_t *bytes, unsigned *plen);

/*
 * ag_addr_in_prefix — 1 if addr (version ver) lies in pfx/plen of the same
 * version, else 0.  plen beyond the address width counts as the full width.
 */
int ag_addr_in_prefix(int ver, const uint8_t *addr, int pfx_ver,
		      const uint8_t *pfx, unsigned plen);

#endif
