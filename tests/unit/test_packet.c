/*
 * test_packet.c — lib/net/packet: IP/transport header parsing and address
 * text.  Packets are hand-built byte arrays; each rejection test changes
 * one field of a packet that otherwise parses, so it fails for that field.
 * Address text is checked against glibc's inet_ntop/inet_pton as an oracle.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/packet.h"

/*
 * Parse from a heap copy of exactly n bytes, so that a read past caplen is
 * an ASan error in the sanitizer build instead of a silent stray read.
 */
static int parse(const uint8_t *b, size_t n, struct ag_pkt_info *pi)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	if (!copy)
		abort();
	memset(copy, 0, 1);
	memcpy(copy, b, n);
	r = ag_pkt_parse(copy, n, pi);
	free(copy);
	return r;
}

#define PARSE(arr, pi) parse((arr), sizeof(arr), (pi))

/* IPv4 192.0.2.1:40000 -> 192.0.2.2:80, TCP SYN with an MSS option. */
static const uint8_t v4_syn[] = {
	0x45, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
	192, 0, 2, 1, 192, 0, 2, 2,
	0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0,
	0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x04, 0x05, 0xb4,
};

/* IPv4 UDP 192.0.2.1:5353 -> 192.0.2.2:53 with 4 payload bytes. */
static const uint8_t v4_udp[] = {
	0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
	192, 0, 2, 1, 192, 0, 2, 2,
	0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00,
	'a', 'b', 'c', 'd',
};

/* IPv4 ICMP echo request, identifier 0x4242, sequence 7, 4 bytes data. */
static const uint8_t v4_ping[] = {
	0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
	192, 0, 2, 1, 192, 0, 2, 2,
	0x08, 0x00, 0x00, 0x00, 0x42, 0x42, 0x00, 0x07,
	1, 2, 3, 4,
};

static const uint8_t v6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e, 0, 0,
				    0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e, 0, 0,
				    0, 0, 0, 0, 0, 0, 0, 2 };

#define V6_HDR(plen, next)                                                     \
	0x60, 0x00, 0x00, 0x00, (plen) >> 8, (plen) & 0xff, (next), 64,        \
	0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,      \
	0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2

/* IPv6 TCP SYN [..1]:40000 -> [..2]:443, no options. */
static const uint8_t v6_syn[] = {
	V6_HDR(20, 6),
	0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0,
	0x50, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00,
};

/* IPv6, hop-by-hop (8) + destination options (16) + UDP 1000 -> 53, 2 bytes. */
static const uint8_t v6_two_ext_udp[] = {
	V6_HDR(34, 0),
	60, 0, 1, 4, 0, 0, 0, 0,				/* HBH: PadN */
	17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* DST: PadN */
	0x03, 0xe8, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00,
	'h', 'i',
};

/* IPv6, routing (8) + fragment (first, M=1) + UDP claiming 1200 bytes. */
static const uint8_t v6_first_frag_udp[] = {
	V6_HDR(28, 43),
	44, 0, 0, 0, 0, 0, 0, 0,			/* routing, 0 segments left */
	17, 0, 0x00, 0x01, 0xca, 0xfe, 0xba, 0xbe,	/* offset 0, M=1 */
	0x03, 0xe8, 0x00, 0x35, 0x04, 0xb0, 0x00, 0x00,
	'x', 'y', 'z', 'w',
};

/* IPv6 fragment at offset 1232 (M=0) of a UDP datagram: no UDP header. */
static const uint8_t v6_later_frag[] = {
	V6_HDR(12, 44),
	17, 0, 0x04, 0xd0, 0xca, 0xfe, 0xba, 0xbe,	/* 1232 = 154 * 8 */
	1, 2, 3, 4,
};

/* IPv6 AH (12 bytes: payload len 1) then TCP. */
static const uint8_t v6_ah_tcp[] = {
	V6_HDR(32, 51),
	6, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9,
	0x9c, 0x40, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0,
	0x50, 0x12, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00,
};

/* IPv6 ICMPv6 echo request, identifier 0xbeef. */
static const uint8_t v6_ping[] = {
	V6_HDR(8, 58),
	128, 0, 0x00, 0x00, 0xbe, 0xef, 0x00, 0x01,
};

/* ---- IPv4 ----------------------------------------------------------- */

TEST(v4_tcp_syn_gives_addresses_ports_flags_offsets)
{
	struct ag_pkt_info pi;
	static const uint8_t a[4] = { 192, 0, 2, 1 }, b[4] = { 192, 0, 2, 2 };

	CHECK_EQ(PARSE(v4_syn, &pi), 0);
	CHECK_EQ(pi.ip_version, 4);
	CHECK_EQ(pi.protocol, AG_IPPROTO_TCP);
	CHECK(memcmp(pi.src.b, a, 4) == 0);
	CHECK(memcmp(pi.dst.b, b, 4) == 0);
	CHECK_EQ(pi.sport, 40000);
	CHECK_EQ(pi.dport, 80);
	CHECK_EQ(pi.tcp_flags, AG_TCP_SYN);
	CHECK_EQ(pi.l4_offset, 20);
	CHECK_EQ(pi.payload_offset, 44);	/* 24-byte TCP header */
	CHECK_EQ(pi.payload_len, 0);
	CHECK_EQ(pi.ip_total_len, 44);
	CHECK_EQ(pi.flags, 0);
}

TEST(v4_address_bytes_after_the_fourth_are_zero)
{
	struct ag_pkt_info pi;
	static const uint8_t zero[12];

	CHECK_EQ(PARSE(v4_syn, &pi), 0);
	CHECK(memcmp(pi.src.b + 4, zero, 12) == 0);
	CHECK(memcmp(pi.dst.b + 4, zero, 12) == 0);
}

TEST(v4_options_are_skipped_by_ihl)
{
	uint8_t p[48];
	struct ag_pkt_info pi;

	/* IHL 7: 8 bytes of options (NOPs and EOL) before the TCP header. */
	memcpy(p, v4_syn, 20);
	p[0] = 0x47;
	p[3] = 28 + 20;
	memset(p + 20, 1, 7);
	p[27] = 0;
	memcpy(p + 28, v4_syn + 20, 20);
	p[28 + 12] = 0x50;	/* data offset 5, no options */
	CHECK_EQ(parse(p, 48, &pi), 0);
	CHECK_EQ(pi.l4_offset, 28);
	CHECK_EQ(pi.sport, 40000);
	CHECK_EQ(pi.dport, 80);
	CHECK_EQ(pi.payload_offset, 48);
}

TEST(v4_udp_ports_and_payload)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v4_udp, &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_UDP);
	CHECK_EQ(pi.sport, 5353);
	CHECK_EQ(pi.dport, 53);
	CHECK_EQ(pi.payload_offset, 28);
	CHECK_EQ(pi.payload_len, 4);
	CHECK_EQ(pi.payload_total, 4);
	CHECK(memcmp(v4_udp + pi.payload_offset, "abcd", 4) == 0);
}

TEST(v4_total_length_beyond_capture_is_flagged_not_rejected)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	/* The packet is 1000 bytes long; the data plane copied 32. */
	memcpy(p, v4_udp, sizeof(p));
	p[2] = 0x03;
	p[3] = 0xe8;
	p[24] = (1000 - 20) >> 8;
	p[25] = (1000 - 20) & 0xff;
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK(pi.flags & AG_PKT_TRUNCATED);
	CHECK_EQ(pi.ip_total_len, 1000);
	CHECK_EQ(pi.payload_len, 4);
	CHECK_EQ(pi.payload_total, 1000 - 28);
}

TEST(v4_bytes_after_total_length_are_not_payload)
{
	uint8_t p[sizeof(v4_udp) + 6];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(v4_udp));
	memset(p + sizeof(v4_udp), 0xee, 6);
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.payload_len, 4);
	CHECK(!(pi.flags & AG_PKT_TRUNCATED));
}

TEST(v4_udp_length_shorter_than_ip_payload_bounds_the_payload)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[25] = 10;	/* UDP says 2 payload bytes, IP carries 4 */
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.payload_len, 2);
	CHECK_EQ(pi.payload_total, 2);
}

TEST(v4_icmp_echo_identifier_is_sport)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v4_ping, &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_ICMP);
	CHECK_EQ(pi.icmp_type, 8);
	CHECK_EQ(pi.icmp_code, 0);
	CHECK(pi.flags & AG_PKT_ICMP_ECHO);
	CHECK_EQ(pi.sport, 0x4242);
	CHECK_EQ(pi.dport, 0);
	CHECK_EQ(pi.payload_offset, 28);
	CHECK_EQ(pi.payload_len, 4);
}

TEST(v4_icmp_other_type_has_no_identifier)
{
	uint8_t p[sizeof(v4_ping)];
	struct ag_pkt_info pi;

	memcpy(p, v4_ping, sizeof(p));
	p[20] = 3;	/* destination unreachable, port unreachable */
	p[21] = 3;
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.icmp_type, 3);
	CHECK_EQ(pi.icmp_code, 3);
	CHECK(!(pi.flags & AG_PKT_ICMP_ECHO));
	CHECK_EQ(pi.sport, 0);
}

TEST(v4_first_fragment_parses_udp_whose_length_exceeds_it)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[6] = 0x20;		/* MF, offset 0 */
	p[24] = 0x05;		/* UDP length 1400: the whole datagram */
	p[25] = 0x78;
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK(pi.flags & AG_PKT_FRAGMENT);
	CHECK(!(pi.flags & AG_PKT_NO_L4));
	CHECK_EQ(pi.frag_offset, 0);
	CHECK_EQ(pi.sport, 5353);
	CHECK_EQ(pi.dport, 53);
	CHECK_EQ(pi.payload_len, 4);
}

TEST(v4_later_fragment_has_no_transport_header)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[6] = 0x00;		/* last fragment at offset 185 * 8 = 1480 */
	p[7] = 185;
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK(pi.flags & AG_PKT_FRAGMENT);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK_EQ(pi.frag_offset, 1480);
	CHECK_EQ(pi.protocol, AG_IPPROTO_UDP);
	CHECK_EQ(pi.sport, 0);
	CHECK_EQ(pi.dport, 0);
	CHECK_EQ(pi.l4_offset, 20);
	CHECK_EQ(pi.payload_offset, 20);
	CHECK_EQ(pi.payload_len, 12);
}

TEST(v4_other_protocol_has_no_l4_but_parses)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[9] = 47;	/* GRE */
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.protocol, 47);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK_EQ(pi.payload_offset, 20);
	CHECK_EQ(pi.payload_len, 12);
}

TEST(v4_reject_ihl_below_5_as_lying)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v4_syn, sizeof(p));
	p[0] = 0x44;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v4_reject_ihl_below_5_even_when_the_rest_would_parse)
{
	uint8_t p[sizeof(v4_ping)];
	struct ag_pkt_info pi;

	/* ICMP has no field to contradict a 16-byte IP header: only the IHL
	 * check itself can refuse this. */
	memcpy(p, v4_ping, sizeof(p));
	p[0] = 0x44;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
	p[0] = 0x40;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v4_reject_ihl_beyond_capture_as_truncated)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	/* IHL 15 = 60 bytes, total 100: consistent, but only 44 captured. */
	memcpy(p, v4_syn, sizeof(p));
	p[0] = 0x4f;
	p[3] = 100;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EMSGSIZE);
}

TEST(v4_reject_total_length_below_header)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v4_syn, sizeof(p));
	p[3] = 19;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v4_reject_total_length_cutting_the_tcp_header)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	/* Claims 40 bytes, but the TCP header says it is 24 long. */
	memcpy(p, v4_syn, sizeof(p));
	p[3] = 40;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v4_reject_header_shorter_than_20_captured)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v4_syn, 19, &pi), -EMSGSIZE);
}

TEST(tcp_reject_data_offset_below_5)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v4_syn, sizeof(p));
	p[32] = 0x40;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(tcp_reject_truncated_header)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v4_syn, 20 + 19, &pi), -EMSGSIZE);
}

TEST(tcp_reject_data_offset_beyond_capture)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	/* 60-byte TCP header in an 80-byte packet of which 44 were copied. */
	memcpy(p, v4_syn, sizeof(p));
	p[3] = 80;
	p[32] = 0xf0 | (p[32] & 0x0f);
	CHECK_EQ(parse(p, sizeof(p), &pi), -EMSGSIZE);
}

TEST(tcp_reject_data_offset_beyond_ip_length)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v4_syn, sizeof(p));
	p[32] = 0x70;	/* 28 bytes, the packet has 24 after IP */
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(udp_reject_length_below_8)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[25] = 7;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(udp_reject_length_beyond_ip_payload)
{
	uint8_t p[sizeof(v4_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v4_udp, sizeof(p));
	p[25] = 13;	/* IP payload is 12 */
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(udp_reject_truncated_header)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v4_udp, 27, &pi), -EMSGSIZE);
}

TEST(icmp_reject_truncated_header)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v4_ping, 27, &pi), -EMSGSIZE);
}

TEST(reject_ip_version_other_than_4_and_6)
{
	uint8_t p[sizeof(v4_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v4_syn, sizeof(p));
	p[0] = 0x55;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EAFNOSUPPORT);
}

TEST(reject_empty_capture_and_null)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v4_syn, 0, &pi), -EMSGSIZE);
	CHECK_EQ(ag_pkt_parse(NULL, 10, &pi), -EINVAL);
	CHECK_EQ(ag_pkt_parse(v4_syn, sizeof(v4_syn), NULL), -EINVAL);
}

/* ---- IPv6 ----------------------------------------------------------- */

TEST(v6_tcp_syn)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_syn, &pi), 0);
	CHECK_EQ(pi.ip_version, 6);
	CHECK_EQ(pi.protocol, AG_IPPROTO_TCP);
	CHECK(memcmp(pi.src.b, v6_src, 16) == 0);
	CHECK(memcmp(pi.dst.b, v6_dst, 16) == 0);
	CHECK_EQ(pi.sport, 40000);
	CHECK_EQ(pi.dport, 443);
	CHECK_EQ(pi.tcp_flags, AG_TCP_SYN);
	CHECK_EQ(pi.l4_offset, 40);
	CHECK_EQ(pi.payload_offset, 60);
	CHECK_EQ(pi.ip_total_len, 60);
	CHECK_EQ(pi.n_exthdrs, 0);
}

TEST(v6_two_extension_headers_then_udp)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_two_ext_udp, &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_UDP);
	CHECK_EQ(pi.n_exthdrs, 2);
	CHECK_EQ(pi.l4_offset, 40 + 8 + 16);
	CHECK_EQ(pi.sport, 1000);
	CHECK_EQ(pi.dport, 53);
	CHECK_EQ(pi.payload_len, 2);
	CHECK(memcmp(v6_two_ext_udp + pi.payload_offset, "hi", 2) == 0);
	CHECK_EQ(pi.flags, 0);
}

TEST(v6_first_fragment_after_routing_parses_udp)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_first_frag_udp, &pi), 0);
	CHECK_EQ(pi.n_exthdrs, 2);
	CHECK(pi.flags & AG_PKT_FRAGMENT);
	CHECK(!(pi.flags & AG_PKT_NO_L4));
	CHECK_EQ(pi.protocol, AG_IPPROTO_UDP);
	CHECK_EQ(pi.l4_offset, 56);
	CHECK_EQ(pi.sport, 1000);
	CHECK_EQ(pi.dport, 53);
	CHECK_EQ(pi.payload_len, 4);
}

TEST(v6_unfragmented_udp_longer_than_packet_is_lying)
{
	uint8_t p[sizeof(v6_first_frag_udp)];
	struct ag_pkt_info pi;

	/* The same packet with M=0 is a whole datagram: 1200 is a lie. */
	memcpy(p, v6_first_frag_udp, sizeof(p));
	p[51] = 0x00;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v6_later_fragment_has_no_transport_header)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_later_frag, &pi), 0);
	CHECK(pi.flags & AG_PKT_FRAGMENT);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK_EQ(pi.frag_offset, 1232);
	CHECK_EQ(pi.protocol, AG_IPPROTO_UDP);
	CHECK_EQ(pi.sport, 0);
	CHECK_EQ(pi.payload_offset, 48);
	CHECK_EQ(pi.payload_len, 4);
}

TEST(v6_ah_is_walked_to_tcp)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_ah_tcp, &pi), 0);
	CHECK_EQ(pi.n_exthdrs, 1);
	CHECK_EQ(pi.protocol, AG_IPPROTO_TCP);
	CHECK_EQ(pi.l4_offset, 52);
	CHECK_EQ(pi.dport, 22);
	CHECK_EQ(pi.tcp_flags, AG_TCP_SYN | AG_TCP_ACK);
}

TEST(v6_esp_stops_the_walk)
{
	uint8_t p[sizeof(v6_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v6_syn, sizeof(p));
	p[6] = AG_IPPROTO_ESP;
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_ESP);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK_EQ(pi.sport, 0);
	CHECK_EQ(pi.payload_offset, 40);
	CHECK_EQ(pi.payload_len, 20);
}

TEST(v6_no_next_header_stops_the_walk)
{
	uint8_t p[sizeof(v6_two_ext_udp)];
	struct ag_pkt_info pi;

	memcpy(p, v6_two_ext_udp, sizeof(p));
	p[48] = AG_IPPROTO_NONE;	/* destination options says: nothing */
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_NONE);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK_EQ(pi.n_exthdrs, 2);
	CHECK_EQ(pi.payload_offset, 64);
}

TEST(v6_icmpv6_echo_identifier_is_sport)
{
	struct ag_pkt_info pi;

	CHECK_EQ(PARSE(v6_ping, &pi), 0);
	CHECK_EQ(pi.protocol, AG_IPPROTO_ICMPV6);
	CHECK_EQ(pi.icmp_type, 128);
	CHECK(pi.flags & AG_PKT_ICMP_ECHO);
	CHECK_EQ(pi.sport, 0xbeef);
	CHECK_EQ(pi.dport, 0);
}

TEST(v6_icmpv4_protocol_inside_ipv6_is_not_parsed_as_icmp)
{
	uint8_t p[sizeof(v6_ping)];
	struct ag_pkt_info pi;

	memcpy(p, v6_ping, sizeof(p));
	p[6] = AG_IPPROTO_ICMP;
	p[40] = 8;	/* would be an IPv4 echo request */
	CHECK_EQ(parse(p, sizeof(p), &pi), 0);
	CHECK(pi.flags & AG_PKT_NO_L4);
	CHECK(!(pi.flags & AG_PKT_ICMP_ECHO));
	CHECK_EQ(pi.sport, 0);
}

TEST(v6_reject_extension_header_past_payload_length)
{
	uint8_t p[sizeof(v6_two_ext_udp)];
	struct ag_pkt_info pi;

	/* Destination options claims 24 bytes; 26 remain, the UDP header
	 * then starts 2 bytes before the end. */
	memcpy(p, v6_two_ext_udp, sizeof(p));
	p[49] = 2;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
	/* And 32 bytes runs past the payload length itself. */
	p[49] = 3;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

TEST(v6_reject_extension_header_past_capture)
{
	uint8_t p[sizeof(v6_two_ext_udp) + 200];
	struct ag_pkt_info pi;

	/* Payload length 234 and a 40-byte destination options header:
	 * consistent, but the copy stops in the middle of it. */
	memset(p, 0, sizeof(p));
	memcpy(p, v6_two_ext_udp, sizeof(v6_two_ext_udp));
	p[5] = 234;
	p[49] = 4;
	CHECK_EQ(parse(p, 60, &pi), -EMSGSIZE);
	/* The whole packet parses. */
	p[48 + 40] = 0x03;	/* UDP header at 88 */
	p[48 + 40 + 5] = 234 - 48;
	CHECK_EQ(parse(p, 40 + 234, &pi), 0);
	CHECK_EQ(pi.l4_offset, 88);
}

TEST(v6_reject_hop_by_hop_not_first)
{
	uint8_t p[sizeof(v6_two_ext_udp)];
	struct ag_pkt_info pi;

	/* Swap the roles: destination options first, hop-by-hop second.
	 * Every length still adds up; only the order is wrong. */
	memcpy(p, v6_two_ext_udp, sizeof(p));
	p[6] = AG_IPPROTO_DSTOPTS;
	p[40] = AG_IPPROTO_HOPOPTS;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

/* IPv6 with n destination-options headers of 8 bytes, then no next header. */
static size_t build_dst_chain(uint8_t *p, unsigned n)
{
	const uint8_t hdr[] = { V6_HDR(0, 60) };
	size_t len = sizeof(hdr);

	memcpy(p, hdr, len);
	for (unsigned i = 0; i < n; i++) {
		uint8_t ext[8] = { i + 1 < n ? 60 : 59, 0, 1, 4, 0, 0, 0, 0 };

		memcpy(p + len, ext, 8);
		len += 8;
	}
	p[4] = (uint8_t)((len - 40) >> 8);
	p[5] = (uint8_t)(len - 40);
	return len;
}

TEST(v6_extension_header_chain_at_the_bound_parses)
{
	uint8_t p[40 + 8 * (AG_PKT_MAX_EXTHDRS + 1)];
	struct ag_pkt_info pi;
	size_t len = build_dst_chain(p, AG_PKT_MAX_EXTHDRS);

	CHECK_EQ(parse(p, len, &pi), 0);
	CHECK_EQ(pi.n_exthdrs, AG_PKT_MAX_EXTHDRS);
	CHECK_EQ(pi.protocol, AG_IPPROTO_NONE);
}

TEST(v6_reject_extension_header_chain_over_the_bound)
{
	uint8_t p[40 + 8 * (AG_PKT_MAX_EXTHDRS + 1)];
	struct ag_pkt_info pi;
	size_t len = build_dst_chain(p, AG_PKT_MAX_EXTHDRS + 1);

	CHECK_EQ(parse(p, len, &pi), -EBADMSG);
}

TEST(v6_reject_fixed_header_not_captured)
{
	struct ag_pkt_info pi;

	CHECK_EQ(parse(v6_syn, 39, &pi), -EMSGSIZE);
}

TEST(v6_reject_jumbogram_payload_length_zero)
{
	uint8_t p[sizeof(v6_syn)];
	struct ag_pkt_info pi;

	memcpy(p, v6_syn, sizeof(p));
	p[5] = 0;
	CHECK_EQ(parse(p, sizeof(p), &pi), -EBADMSG);
}

/*
 * Cutting a well-formed packet anywhere must give "truncated" or a parse
 * whose offsets stay within the capture — never "lying", never a read out
 * of bounds (the copy in parse() is exact, ASan watches).
 */
TEST(every_prefix_of_a_good_packet_is_truncated_or_parses_within_caplen)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} pk[] = {
		{ v4_syn, sizeof(v4_syn) }, { v4_udp, sizeof(v4_udp) },
		{ v4_ping, sizeof(v4_ping) }, { v6_syn, sizeof(v6_syn) },
		{ v6_two_ext_udp, sizeof(v6_two_ext_udp) },
		{ v6_first_frag_udp, sizeof(v6_first_frag_udp) },
		{ v6_later_frag, sizeof(v6_later_frag) },
		{ v6_ah_tcp, sizeof(v6_ah_tcp) }, { v6_ping, sizeof(v6_ping) },
	};
	struct ag_pkt_info pi;

	for (size_t k = 0; k < sizeof(pk) / sizeof(pk[0]); k++) {
		CHECK_MSG(parse(pk[k].p, pk[k].n, &pi) == 0, "packet %zu", k);
		for (size_t cut = 0; cut < pk[k].n; cut++) {
			int r = parse(pk[k].p, cut, &pi);

			CHECK_MSG(r == 0 || r == -EMSGSIZE,
				  "packet %zu cut at %zu: %d", k, cut, r);
			if (r == 0) {
				CHECK(pi.flags & AG_PKT_TRUNCATED);
				CHECK(pi.payload_offset <= cut);
				CHECK(pi.payload_offset + pi.payload_len <= cut);
			}
		}
	}
}

/* ---- addresses -------------------------------------------------------- */

static int fmt6(const uint8_t *b, char *out)
{
	return ag_addr_format(6, b, out, AG_ADDR_STRLEN);
}

TEST(addr_format_v4)
{
	static const uint8_t a[16] = { 192, 0, 2, 255 };
	char s[AG_ADDR_STRLEN];

	CHECK_EQ(ag_addr_format(4, a, s, sizeof(s)), 0);
	CHECK_STR(s, "192.0.2.255");
}

TEST(addr_format_v6_compresses_longest_zero_run_like_rfc5952)
{
	static const struct {
		uint8_t b[16];
		const char *want;
	} t[] = {
		{ { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, "2001:db8::1" },
		{ { 0 }, "::" },
		{ { [15] = 1 }, "::1" },
		/* One zero group is not compressed. */
		{ { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 },
		  "2001:db8:0:1:1:1:1:1" },
		/* The first of two equal runs. */
		{ { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1 },
		  "2001:db8::1:0:0:1" },
		/* The longer run wins even when it comes second. */
		{ { 0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 },
		  "2001:0:0:1::1" },
		{ { [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2,
		    [15] = 1 }, "::ffff:192.0.2.1" },
		{ { 0xfe, 0x80, [15] = 0 }, "fe80::" },
	};
	char s[AG_ADDR_STRLEN];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_EQ(fmt6(t[i].b, s), 0);
		CHECK_STR(s, t[i].want);
	}
}

/* A small deterministic generator: zero-heavy groups find the edge cases. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

TEST(addr_format_v6_agrees_with_inet_ntop)
{
	uint32_t seed = 1;
	char mine[AG_ADDR_STRLEN], ref[INET6_ADDRSTRLEN];
	uint8_t b[16];

	for (int n = 0; n < 20000; n++) {
		for (int g = 0; g < 8; g++) {
			uint32_t r = lcg(&seed);
			/* Zero, 0xffff, small or random groups. */
			unsigned v = r % 4 == 0 ? 0 : r % 4 == 1 ? 0xffff :
				     r % 4 == 2 ? (r >> 4) % 16 : (r >> 4) & 0xffff;

			if ((r >> 20) % 3 == 0)
				v = 0;
			b[2 * g] = (uint8_t)(v >> 8);
			b[2 * g + 1] = (uint8_t)v;
		}
		CHECK_EQ(fmt6(b, mine), 0);
		CHECK(inet_ntop(AF_INET6, b, ref, sizeof(ref)));
		CHECK_STR(mine, ref);
	}
}

TEST(addr_format_reports_small_buffer)
{
	static const uint8_t a[16] = { 192, 0, 2, 100 };
	char s[12];

	CHECK_EQ(ag_addr_format(4, a, s, 11), -ENOSPC);	/* needs 12 */
	CHECK_STR(s, "");
	CHECK_EQ(ag_addr_format(4, a, s, 12), 0);
	CHECK_STR(s, "192.0.2.100");
	CHECK_EQ(ag_addr_format(4, a, s, 0), -ENOSPC);
	CHECK_EQ(ag_addr_format(5, a, s, sizeof(s)), -EINVAL);
}

TEST(addr_parse_agrees_with_inet_pton)
{
	static const char *const in[] = {
		/* good */
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "::", "::1", "1::",
		"2001:db8::1", "2001:DB8:0:0:1:0:0:1", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "::ffff:192.0.2.1",
		"1:2:3:4:5:6:192.0.2.1", "::192.0.2.1", "1::2:192.0.2.1",
		"fe80::0001", "0:0:0:0:0:0:0:0",
		/* bad */
		"", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04",
		"01.2.3.4", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4",
		"0x1.2.3.4", ":", ":::", "1:::2", "1::2::3", ":1::2", "1::2:",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::1",
		"1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::256.0.0.1",
		"1::2:3:4:5:6:7:8", "fe80::1%eth0", "[::1]", "::1/64",
		"1.2.3.4/24", "::ffff:01.2.3.4", "1:2:3:4:5:6:7:8::",
	};
	uint8_t mine[16], ref[16];
	int ver;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		int want = 0, got;

		memset(ref, 0, sizeof(ref));
		if (inet_pton(AF_INET, in[i], ref) == 1)
			want = 4;
		else if (inet_pton(AF_INET6, in[i], ref) == 1)
			want = 6;
		got = ag_addr_parse(in[i], &ver, mine);
		CHECK_MSG(want ? got == 0 && ver == want : got == -EINVAL,
			  "\"%s\": want %d, got %d ver %d", in[i], want, got,
			  got == 0 ? ver : 0);
		if (want)
			CHECK_MSG(memcmp(mine, ref, 16) == 0, "\"%s\" bytes", in[i]);
	}
}

TEST(addr_parse_then_format_round_trips)
{
	uint32_t seed = 7;
	char s[AG_ADDR_STRLEN];
	uint8_t b[16], back[16];
	int ver;

	for (int n = 0; n < 5000; n++) {
		for (int i = 0; i < 16; i++)
			b[i] = lcg(&seed) % 3 ? 0 : (uint8_t)lcg(&seed);
		CHECK_EQ(fmt6(b, s), 0);
		CHECK_EQ(ag_addr_parse(s, &ver, back), 0);
		CHECK_EQ(ver, 6);
		CHECK(memcmp(b, back, 16) == 0);
	}
}

TEST(addr_parse_v4_zeroes_the_rest)
{
	uint8_t b[16];
	static const uint8_t want[16] = { 192, 0, 2, 9 };
	int ver;

	memset(b, 0xaa, sizeof(b));
	CHECK_EQ(ag_addr_parse("192.0.2.9", &ver, b), 0);
	CHECK_EQ(ver, 4);
	CHECK(memcmp(b, want, 16) == 0);
}

TEST(prefix_parse_clears_host_bits)
{
	static const uint8_t net4[16] = { 192, 0, 2, 0 };
	static const uint8_t net6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x00 };
	uint8_t b[16];
	unsigned plen;
	int ver;

	CHECK_EQ(ag_prefix_parse("192.0.2.77/24", &ver, b, &plen), 0);
	CHECK_EQ(ver, 4);
	CHECK_EQ(plen, 24);
	CHECK(memcmp(b, net4, 16) == 0);
	CHECK_EQ(ag_prefix_parse("2001:db8:a1e::1/40", &ver, b, &plen), 0);
	CHECK_EQ(ver, 6);
	CHECK_EQ(plen, 40);
	CHECK(memcmp(b, net6, 16) == 0);
}

TEST(prefix_parse_bare_address_is_a_host_prefix)
{
	uint8_t b[16];
	unsigned plen;
	int ver;

	CHECK_EQ(ag_prefix_parse("192.0.2.1", &ver, b, &plen), 0);
	CHECK_EQ(plen, 32);
	CHECK_EQ(b[3], 1);
	CHECK_EQ(ag_prefix_parse("::1", &ver, b, &plen), 0);
	CHECK_EQ(plen, 128);
	CHECK_EQ(ag_prefix_parse("0.0.0.0/0", &ver, b, &plen), 0);
	CHECK_EQ(plen, 0);
}

TEST(prefix_parse_rejects_bad_lengths)
{
	static const char *const bad[] = {
		"192.0.2.0/33", "::/129", "192.0.2.0/", "192.0.2.0/024",
		"192.0.2.0/-1", "192.0.2.0/+8", "/24", "192.0.2.0/24/1",
		"192.0.2.0/2 4", "192.0.2.0/99999999999", "1.2.3/8", "::/1a",
	};
	uint8_t b[16];
	unsigned plen = 99;
	int ver = 99;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(ag_prefix_parse(bad[i], &ver, b, &plen) == -EINVAL,
			  "\"%s\" accepted", bad[i]);
	CHECK_EQ(plen, 99);	/* outputs untouched */
	CHECK_EQ(ver, 99);
}

TEST(addr_in_prefix)
{
	uint8_t pfx[16], a[16];
	unsigned plen;
	int pv, av;

	CHECK_EQ(ag_prefix_parse("192.0.2.0/25", &pv, pfx, &plen), 0);
	CHECK_EQ(ag_addr_parse("192.0.2.127", &av, a), 0);
	CHECK(ag_addr_in_prefix(av, a, pv, pfx, plen));
	CHECK_EQ(ag_addr_parse("192.0.2.128", &av, a), 0);
	CHECK(!ag_addr_in_prefix(av, a, pv, pfx, plen));
	CHECK(ag_addr_in_prefix(av, a, pv, pfx, 0));
	CHECK_EQ(ag_addr_parse("::c000:27f", &av, a), 0);
	CHECK(!ag_addr_in_prefix(av, a, pv, pfx, plen));	/* other family */
	CHECK_EQ(ag_prefix_parse("2001:db8:a1e::/64", &pv, pfx, &plen), 0);
	CHECK_EQ(ag_addr_parse("2001:db8:a1e::2", &av, a), 0);
	CHECK(ag_addr_in_prefix(av, a, pv, pfx, plen));
	CHECK_EQ(ag_addr_parse("2001:db8:a1f::2", &av, a), 0);
	CHECK(!ag_addr_in_prefix(av, a, pv, pfx, plen));
}
