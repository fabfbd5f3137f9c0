/*
 * test_base.c — lib/base: the hash, error messages, protocol names, the
 * sanitizer and the address every layer shares.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/proto.h"
#include "base/text.h"
#include "check.h"

/* The engine's flow and filter tables hashed with its own SipHash-1-3
 * before lib/base had one: the same values, so nothing moved. */
TEST(siphash13_gives_the_values_the_engine_always_had)
{
	const uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t m[16];

	for (int i = 0; i < 16; i++)
		m[i] = (uint8_t)i;
	CHECK(ag_siphash13(key, m, 0) == 0xabac0158050fc4dcULL);
	CHECK(ag_siphash13(key, m, 7) == 0xd3927d989bb11140ULL);
	CHECK(ag_siphash13(key, m, 15) == 0xd320d86d2a519956ULL);
}

/* The paper's test vector for SipHash-2-4 (key 00..0f, message 00..0e). */
TEST(siphash24_gives_the_papers_test_vector)
{
	uint8_t key[16], m[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		m[i] = (uint8_t)i;
	CHECK(ag_siphash24(key, m, 15) == 0xa129ca6149be45e5ULL);
}

TEST(sanitize_replaces_c0_del_and_both_bytes_of_c1)
{
	char s[] = "a\x1b[31mb\x7f" "c\xc2\x9b" "d\xc3\xa9";
	char *r = ag_sanitize(s);

	CHECK(r == s);
	/* ESC, DEL and U+009B (CSI) go; é (c3 a9) stays. */
	CHECK_STR(s, "a?[31mb?c??d\xc3\xa9");
	CHECK(ag_sanitize(NULL) == NULL);
}

TEST(proto_name_names_four_and_numbers_the_rest)
{
	char buf[8];

	CHECK_STR(ag_proto_name(6, buf, sizeof(buf)), "tcp");
	CHECK_STR(ag_proto_name(17, buf, sizeof(buf)), "udp");
	CHECK_STR(ag_proto_name(1, buf, sizeof(buf)), "icmp");
	CHECK_STR(ag_proto_name(58, buf, sizeof(buf)), "icmpv6");
	CHECK_STR(ag_proto_name(132, buf, sizeof(buf)), "132");
	CHECK_EQ(ag_proto_number("icmpv6"), 58);
	CHECK_EQ(ag_proto_number("sctp"), -1);
}

TEST(seterr_cuts_and_accepts_no_buffer)
{
	char small[6];

	ag_seterr(small, sizeof(small), "rule %d is bad", 7);
	CHECK_STR(small, "rule ");
	ag_seterr(NULL, 0, "nobody reads %s", "this");
}

TEST(msgf_returns_a_malloced_message)
{
	char *m = ag_msgf("%s:%d", "web.json", 7);

	CHECK(m != NULL);
	CHECK_STR(m, "web.json:7");
	free(m);
}

TEST(monotonic_clocks_agree_and_do_not_go_back)
{
	uint64_t a = ag_mono_ns();
	long long ms = ag_mono_ms();
	uint64_t b = ag_mono_ns();

	CHECK(b >= a);
	CHECK((uint64_t)ms * 1000000u <= b);
	CHECK((uint64_t)ms * 1000000u + 1000000u > a);
}

TEST(addr_make_keeps_four_bytes_of_ipv4_and_zeroes_the_rest)
{
	const uint8_t v4[16] = { 192, 0, 2, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9 };
	const uint8_t want[16] = { 192, 0, 2, 1 };
	ag_addr a = ag_addr_make(4, v4), b = ag_addr_make(6, v4), c;

	CHECK(memcmp(a.b, want, 16) == 0);
	CHECK(memcmp(b.b, v4, 16) == 0);
	c = a;	/* copied by assignment */
	CHECK(ag_addr_equal(&c, &a));
	CHECK(!ag_addr_equal(&a, &b));
}

TEST(addr_goes_to_sockaddr_and_back_with_its_port)
{
	struct sockaddr_storage ss;
	ag_addr a = ag_addr_make(4, (const uint8_t[]){ 198, 51, 100, 7 }), back;
	uint16_t port = 0;

	CHECK_EQ(ag_addr_to_sockaddr(4, &a, 8080, &ss), sizeof(struct sockaddr_in));
	CHECK_EQ(((struct sockaddr_in *)&ss)->sin_family, AF_INET);
	CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	CHECK_EQ(ag_addr_from_sockaddr((struct sockaddr *)&ss, &back, &port), 4);
	CHECK(ag_addr_equal(&a, &back));
	CHECK_EQ(port, 8080);

	CHECK(inet_pton(AF_INET6, "2001:db8::2", a.b) == 1);
	CHECK_EQ(ag_addr_to_sockaddr(6, &a, 53, &ss), sizeof(struct sockaddr_in6));
	CHECK_EQ(ag_addr_from_sockaddr((struct sockaddr *)&ss, &back, NULL), 6);
	CHECK(ag_addr_equal(&a, &back));

	ss.ss_family = AF_UNIX;
	CHECK_EQ(ag_addr_from_sockaddr((struct sockaddr *)&ss, &back, &port), 0);
}
