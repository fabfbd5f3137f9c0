/*
 * test_resolvers.c — daemon/resolvers.c: which addresses of a resolv.conf
 * are the configured DNS resolvers.
 */
#include <string.h>

#include "check.h"
#include "daemon/alegated.h"
#include "daemon/resolvers.h"

static unsigned parse(const char *text, struct agd_resolver *out, unsigned max)
{
	unsigned n = 0;

	agd_resolvers_parse(text, strlen(text), out, &n, max);
	return n;
}

TEST(nameserver_lines_are_the_resolvers_and_nothing_else_is)
{
	struct agd_resolver r[AGD_MAX_RESOLVERS];
	static const uint8_t v4[4] = { 192, 0, 2, 53 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 };
	unsigned n = parse("# nameserver 10.0.0.1\n"
			   "; nameserver 10.0.0.2\n"
			   "search example.test\n"
			   "options edns0 trust-ad\n"
			   "nameserver 192.0.2.53\n"
			   "nameserver   2001:db8::53%eth0\n"
			   "nameserver not-an-address\n"
			   "nameserver\n"
			   "nameserver 192.0.2.53\n",	/* once is enough */
			   r, AGD_MAX_RESOLVERS);

	CHECK_EQ(n, 2);
	CHECK_EQ(r[0].ver, 4);
	CHECK(!memcmp(r[0].addr.b, v4, 4));
	CHECK_EQ(r[1].ver, 6);
	CHECK(!memcmp(r[1].addr.b, v6, 16));
}

TEST(more_resolvers_than_the_bound_are_ignored)
{
	struct agd_resolver r[2];

	CHECK_EQ(parse("nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n",
		       r, 2), 2);
	CHECK_EQ(r[1].addr.b[3], 2);
}

TEST(last_line_without_newline_counts)
{
	struct agd_resolver r[1];

	CHECK_EQ(parse("nameserver 127.0.0.53", r, 1), 1);
	CHECK_EQ(r[0].addr.b[0], 127);
}
