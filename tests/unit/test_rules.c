/*
 * test_rules.c — rule files: every field, every error with its line, round
 * trips, a directory with broken files next to good ones (nothing lost,
 * nothing modified), atomic saves that fail cleanly, the shipped defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "errlines.h"
#include "rule/config.h"
#include "rule/rule.h"

/* ---- helpers -------------------------------------------------------------- */

/*
 * Every rule the helpers parse is kept here and freed at exit, so a test
 * may parse into the same variable again (and return early on a failed
 * CHECK) without leaking what the rule owns.
 */
static struct ag_rule *kept;
static size_t nkept;

static void free_kept(void)
{
	for (size_t i = 0; i < nkept; i++)
		ag_rule_free(&kept[i]);
	free(kept);
	kept = NULL;
	nkept = 0;
}

static void keep(const struct ag_rule *r)
{
	struct ag_rule *k = realloc(kept, (nkept + 1) * sizeof(*k));

	if (!k)
		abort();
	if (!nkept)
		atexit(free_kept);
	kept = k;
	kept[nkept++] = *r;	/* the owner now: the caller's r only reads */
}

static int from_json(const json_t *o, unsigned flags, struct ag_rule *r, struct errs *e)
{
	int ret = ag_rule_from_json(o, flags, r, lines, sizeof(lines));

	take(e, lines);
	if (ret == 0)
		keep(r);
	return ret;
}

/* Index of the first error containing @needle, or -1. */
static int find_err(const struct errs *e, const char *needle)
{
	for (unsigned i = 0; i < e->n && i < MAXERR; i++)
		if (strstr(e->msg[i], needle))
			return (int)i;
	return -1;
}

/* Temporary directories are removed at exit, even after a failed CHECK. */
static char *tmpdirs[32];
static unsigned ntmpdirs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tmpdirs(void)
{
	for (unsigned i = 0; i < ntmpdirs; i++) {
		/* Only ever what mkdtemp made under /tmp. */
		if (strncmp(tmpdirs[i], "/tmp/ag-rules-", 14) == 0)
			nftw(tmpdirs[i], rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(tmpdirs[i]);
	}
	ntmpdirs = 0;
}

static const char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/ag-rules-XXXXXX";

	if (ntmpdirs == 0)
		atexit(rm_tmpdirs);
	if (ntmpdirs >= sizeof(tmpdirs) / sizeof(tmpdirs[0]) || !mkdtemp(tmpl))
		return NULL;
	tmpdirs[ntmpdirs] = strdup(tmpl);
	return tmpdirs[ntmpdirs++];
}

static int write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[512];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1)
		return -1;
	ok = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
	char path[512], *buf = NULL;
	size_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd == -1)
		return NULL;
	if (ag__read_fd(fd, 64u << 20, &buf, &n) < 0)
		buf = NULL;
	close(fd);
	if (len)
		*len = n;
	return buf;
}

static bool exists(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int parse(const char *file, const char *text, struct ag_rule *r, struct errs *e)
{
	memset(e, 0, sizeof(*e));
	int ret;

	ret = ag_rule_parse(file, text, strlen(text), r, lines, sizeof(lines));
	take(e, lines);
	if (ret == 0)
		keep(r);
	return ret;
}

/* The exact text ag_rule_save() writes for @r. */
static char *file_text(const struct ag_rule *r)
{
	json_t *o = ag_rule_to_json(r, 0);
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return s;
}

static const char sample[] =
	"{\n"
	"  \"id\": \"3f9c2a71\",\n"
	"  \"name\": \"firefox to example.org\",\n"
	"  \"action\": \"allow\",\n"
	"  \"enabled\": true,\n"
	"  \"app\": \"/usr/lib/firefox-esr/firefox-esr\",\n"
	"  \"user\": 1000,\n"
	"  \"remote\": \"93.184.216.0/24\",\n"
	"  \"host\": \"*.example.org\",\n"
	"  \"port\": \"443\",\n"
	"  \"proto\": \"tcp\",\n"
	"  \"direction\": \"out\",\n"
	"  \"weight\": 0,\n"
	"  \"created\": \"2026-11-27T15:00:00Z\"\n"
	"}\n";

static const char *top(void)
{
	const char *t = getenv("AG_TOP");

	return t && *t ? t : ".";
}

/* ---- parsing ---------------------------------------------------------------- */

TEST(parse_sample_rule_sets_every_field)
{
	struct ag_rule r;
	struct errs e;
	unsigned char net[4];

	CHECK_EQ(parse("/etc/alegate/rules.d/3f9c2a71.json", sample, &r, &e), 0);
	CHECK_EQ(e.n, 0);
	CHECK_STR(r.id, "3f9c2a71");
	CHECK_STR(r.name, "firefox to example.org");
	CHECK_EQ(r.action, AG_RULE_ALLOW);
	CHECK_EQ(r.enabled, true);
	CHECK_EQ(r.n_app, 1);
	CHECK_STR(r.app[0].path, "/usr/lib/firefox-esr/firefox-esr");
	CHECK_EQ(r.app[0].glob, false);
	CHECK_EQ(r.n_user, 1);
	CHECK(r.user[0].name == NULL);
	CHECK_EQ(r.user[0].uid, 1000);
	CHECK_EQ(r.n_remote, 1);
	CHECK_EQ(r.remote[0].family, AF_INET);
	inet_pton(AF_INET, "93.184.216.0", net);
	CHECK(memcmp(r.remote[0].addr, net, 4) == 0);
	CHECK_EQ(r.remote[0].plen, 24);
	CHECK_EQ(r.n_host, 1);
	CHECK_STR(r.host[0].name, "*.example.org");
	CHECK_EQ(r.host[0].wildcard, true);
	CHECK_EQ(r.n_port, 1);
	CHECK_EQ(r.port[0].lo, 443);
	CHECK_EQ(r.port[0].hi, 443);
	CHECK_EQ(r.n_proto, 1);
	CHECK_EQ(r.proto[0], 6);
	CHECK_EQ(r.direction, AG_RULE_OUT);
	CHECK_EQ(r.weight, 0);
	CHECK_EQ(r.created, 1795791600);
	CHECK_EQ(r.has, AG_RULE_HAS_APP | AG_RULE_HAS_USER | AG_RULE_HAS_UID |
			AG_RULE_HAS_REMOTE | AG_RULE_HAS_HOST | AG_RULE_HAS_PORT |
			AG_RULE_HAS_PROTO | AG_RULE_HAS_DIRECTION | AG_RULE_HAS_CREATED);
	CHECK_EQ(r.lifetime, AG_RULE_ALWAYS);
	CHECK_STR(r.source, "/etc/alegate/rules.d/3f9c2a71.json");
}

TEST(minimal_rule_gets_the_defaults)
{
	struct ag_rule r;
	struct errs e;

	CHECK_EQ(parse("x.json", "{\"id\": \"x\", \"action\": \"deny\"}", &r, &e), 0);
	CHECK_STR(r.id, "x");
	CHECK(r.name == NULL);
	CHECK_EQ(r.action, AG_RULE_DENY);
	CHECK_EQ(r.enabled, true);
	CHECK_EQ(r.weight, 0);
	CHECK_EQ(r.has, 0);
	CHECK_EQ(r.lifetime, AG_RULE_ALWAYS);
}

TEST(accepted_forms_are_normalized)
{
	static const char text0[] =
		"{\"id\": \"n-1_X\", \"action\": \"reject\", \"enabled\": false,\n"
		" \"app\": \"/usr/lib/firefox*/firefox-[a-z]?\", \"user\": \"0042\",\n"
		" \"remote\": \"2001:DB8:a1e::/48\", \"host\": \"WWW.Example.ORG.\",\n"
		" \"port\": \"1000-2000\", \"proto\": 132, \"direction\": \"in\",\n"
		" \"weight\": -1000, \"created\": \"2000-02-29T23:59:59.123+00:00\"}";
	unsigned char net[16];
	struct ag_rule r;
	struct errs e;
	char *text;

	CHECK_EQ(parse("n-1_X.json", text0, &r, &e), 0);
	CHECK_EQ(r.action, AG_RULE_REJECT);
	CHECK_EQ(r.enabled, false);
	CHECK_EQ(r.app[0].glob, true);
	CHECK(r.user[0].name == NULL);
	CHECK_EQ(r.user[0].uid, 42);
	CHECK_EQ(r.remote[0].family, AF_INET6);
	inet_pton(AF_INET6, "2001:db8:a1e::", net);
	CHECK(memcmp(r.remote[0].addr, net, 16) == 0);
	CHECK_EQ(r.remote[0].plen, 48);
	CHECK_STR(r.host[0].name, "www.example.org");
	CHECK_EQ(r.host[0].wildcard, false);
	CHECK_EQ(r.port[0].lo, 1000);
	CHECK_EQ(r.port[0].hi, 2000);
	CHECK_EQ(r.proto[0], 132);
	CHECK_EQ(r.direction, AG_RULE_IN);
	CHECK_EQ(r.weight, -1000);
	CHECK_EQ(r.created, 951868799);

	/* A user name is kept as given, without a uid; names of protocols in
	 * any case; a port as a string of one number; null leaves a field out. */
	CHECK_EQ(parse("u.json", "{\"id\": \"u\", \"action\": \"ask\", \"user\": \"www-data\","
			" \"proto\": \"ICMPv6\", \"remote\": \"::1\", \"host\": null, \"port\": null,"
			" \"name\": null, \"created\": \"9999-12-31T23:59:59z\"}", &r, &e), 0);
	CHECK_EQ(r.action, AG_RULE_ASK);
	CHECK_STR(r.user[0].name, "www-data");
	CHECK_EQ(r.has & AG_RULE_HAS_UID, 0);
	CHECK_EQ(r.proto[0], 58);
	CHECK_EQ(r.remote[0].plen, 128);
	CHECK_EQ(r.has & (AG_RULE_HAS_HOST | AG_RULE_HAS_PORT), 0);
	CHECK_EQ(r.created, 253402300799ll);
	CHECK_EQ(parse("p.json", "{\"id\": \"p\", \"action\": \"allow\", \"port\": \"8080\","
			" \"proto\": \"17\", \"remote\": \"0.0.0.0/0\"}", &r, &e), 0);
	CHECK_EQ(r.port[0].lo, 8080);
	CHECK_EQ(r.port[0].hi, 8080);
	CHECK_EQ(r.proto[0], 17);
	CHECK_EQ(r.remote[0].plen, 0);
	/* A JSON number is accepted for a port, and saved as a string. */
	CHECK_EQ(parse("p.json", "{\"id\": \"p\", \"action\": \"allow\", \"port\": 443,"
			" \"proto\": 6}", &r, &e), 0);
	CHECK_EQ(r.port[0].lo, 443);
	CHECK_EQ(r.port[0].hi, 443);
	text = file_text(&r);
	CHECK(text);
	CHECK_MSG(strstr(text, "\n  \"port\": \"443\",\n  \"proto\": \"tcp\",\n"), "%s", text);
	free(text);
}

TEST(callout_action_needs_a_callout_name_and_only_it_takes_one)
{
	struct ag_rule r;
	struct errs e;

	CHECK(parse("x.json", "{\"id\": \"x\", \"action\": \"callout\"}", &r, &e) != 0);
	CHECK(strstr(e.msg[0], "needs \"callout\"") != NULL);
	CHECK(parse("x.json", "{\"id\": \"x\", \"action\": \"allow\", \"callout\": \"a\","
		    " \"port\": 1}", &r, &e) != 0);
	CHECK(strstr(e.msg[0], "only for") != NULL);
	CHECK(parse("x.json", "{\"id\": \"x\", \"action\": \"callout\", \"callout\": \"a b\"}",
		    &r, &e) != 0);
	CHECK(strstr(e.msg[0], "not a callout name") != NULL);
	CHECK_EQ(parse("x.json", "{\"id\": \"x\", \"action\": \"callout\", \"callout\": \"my.co\"}",
		       &r, &e), 0);
	CHECK_EQ(r.action, AG_RULE_CALLOUT);
	CHECK_STR(r.callout, "my.co");
}

TEST(round_trip_rule_json_rule)
{
	static const char *const texts[] = {
		sample,
		"{\"id\": \"b\", \"name\": \"d\\u00e9j\\u00e0 vu \\\"q\\\"\", \"action\": \"deny\","
		" \"enabled\": false, \"app\": \"/opt/*/bin/[!x]ool\", \"user\": \"alice\","
		" \"remote\": \"2001:db8::/32\", \"host\": \"exa_mple.org\", \"port\": \"1-65535\","
		" \"proto\": 136, \"direction\": \"in\", \"weight\": 1000}",
		"{\"id\": \"c\", \"action\": \"ask\"}",
		"{\"id\": \"d\", \"action\": \"callout\","
		" \"callout\": \"6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201\", \"port\": 443}",
	};
	static const char *const files[] = { "3f9c2a71.json", "b.json", "c.json", "d.json" };

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct ag_rule a, b;
		struct errs e;
		char *ta, *tb;

		CHECK_EQ(parse(files[i], texts[i], &a, &e), 0);
		ta = file_text(&a);
		CHECK(ta);
		CHECK_MSG(!strstr(ta, "lifetime") && !strstr(ta, "expires"), "%s", ta);
		CHECK_EQ(parse(files[i], ta, &b, &e), 0);
		CHECK(ag_rule_equal(&a, &b));
		tb = file_text(&b);
		CHECK(tb);
		CHECK_STR(ta, tb);
		free(ta);
		free(tb);
	}
}

TEST(control_form_carries_lifetime_and_expiry)
{
	struct ag_rule r;
	struct errs e = { 0 };
	struct timespec ts;
	uint64_t now;
	json_error_t je;
	json_t *in, *out;
	char *s;

	in = json_loads("{\"action\": \"allow\", \"app\": \"/bin/true\", \"lifetime\": \"timed\","
			" \"expires_in_ms\": 5000}", 0, &je);
	CHECK(in);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	CHECK_EQ(from_json(in, AG_RULE_JSON_CONTROL, &r, &e), 0);
	CHECK_EQ(r.lifetime, AG_RULE_TIMED);
	CHECK_STR(r.id, "");
	CHECK(r.expires_ns >= now + 5000000000ull);
	CHECK(r.expires_ns < now + 6000000000ull);
	out = ag_rule_to_json(&r, AG_RULE_JSON_CONTROL);
	CHECK(out);
	CHECK_STR(json_string_value(json_object_get(out, "lifetime")), "timed");
	CHECK(json_integer_value(json_object_get(out, "expires_in_ms")) > 4000);
	CHECK(json_integer_value(json_object_get(out, "expires_in_ms")) <= 5000);
	CHECK(!json_object_get(out, "id"));
	json_decref(out);
	/* The file form never carries them. */
	strcpy(r.id, "t");
	out = ag_rule_to_json(&r, 0);
	CHECK(out);
	s = json_dumps(out, 0);
	CHECK(s && !strstr(s, "lifetime") && !strstr(s, "expires_in_ms"));
	free(s);
	json_decref(out);
	/* A rule file or a non-control object may not set them. */
	CHECK_EQ(from_json(in, 0, &r, &e), -EINVAL);
	CHECK(find_err(&e, "missing \"id\"") >= 0);
	CHECK(find_err(&e, "unknown key \"lifetime\"") >= 0);
	CHECK(find_err(&e, "unknown key \"expires_in_ms\"") >= 0);
	json_decref(in);

	in = json_loads("{\"action\": \"deny\", \"lifetime\": \"until-quit\"}", 0, &je);
	CHECK(in);
	CHECK_EQ(from_json(in, AG_RULE_JSON_CONTROL, &r, &e), 0);
	CHECK_EQ(r.lifetime, AG_RULE_UNTIL_QUIT);
	CHECK_EQ(r.session, 0);
	json_decref(in);

	memset(&e, 0, sizeof(e));
	in = json_loads("{\"action\": \"deny\", \"lifetime\": \"timed\"}", 0, &je);
	CHECK(in);
	CHECK_EQ(from_json(in, AG_RULE_JSON_CONTROL, &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "a timed rule needs \"expires_in_ms\"");
	json_decref(in);

	memset(&e, 0, sizeof(e));
	in = json_loads("{\"action\": \"deny\", \"lifetime\": \"forever\", \"expires_in_ms\": 0}",
			0, &je);
	CHECK(in);
	CHECK_EQ(from_json(in, AG_RULE_JSON_CONTROL, &r, &e), -EINVAL);
	CHECK_EQ(e.n, 2);
	/* Control messages carry no file name or line. */
	CHECK_STR(e.msg[0], "unknown lifetime \"forever\" (expected always, until-restart, until-quit or timed)");
	CHECK_STR(e.msg[1], "expires_in_ms: 0 is out of range 1..315360000000");
	json_decref(in);
}

/* ---- errors ------------------------------------------------------------------ */

TEST(errors_carry_the_line_of_their_key_all_reported)
{
	static const char text[] =
		"{\n"				/* 1 */
		"  \"id\": \"web\",\n"		/* 2 */
		"  \"name\": \"web\",\n"	/* 3 */
		"  \"action\": \"alow\",\n"	/* 4 */
		"  \"weight\": \"high\",\n"	/* 5 */
		"  \"colour\": \"red\",\n"	/* 6 */
		"  \"port\": 0\n"		/* 7 */
		"}\n";
	struct ag_rule r;
	struct errs e;

	memset(&r, 0x3c, sizeof(r));
	CHECK_EQ(parse("rules.d/web.json", text, &r, &e), -EINVAL);
	CHECK_EQ(e.n, 4);
	CHECK_STR(e.msg[0], "rules.d/web.json:4: unknown action \"alow\" (expected allow, deny, reject, ask or callout)");
	CHECK_STR(e.msg[1], "rules.d/web.json:5: weight: expected an integer, got a string \"high\"");
	CHECK_STR(e.msg[2], "rules.d/web.json:6: unknown key \"colour\"");
	CHECK_STR(e.msg[3], "rules.d/web.json:7: port: 0 is not a port (1-65535)");
	/* A refused rule leaves the output alone. */
	CHECK_EQ(((unsigned char *)&r)[0], 0x3c);
}

TEST(syntax_error_has_jansson_line)
{
	static const char text[] =
		"{\n"
		"  \"id\": \"web\",\n"
		"  \"action\": \"allow\"\n"
		"  \"enabled\": true\n"
		"}\n";
	struct ag_rule r;
	struct errs e;

	CHECK_EQ(parse("d/web.json", text, &r, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_MSG(strncmp(e.msg[0], "d/web.json:4: invalid JSON: ", 28) == 0, "%s", e.msg[0]);
}

/* Each fragment sits on line 4 of an otherwise good rule "t". */
TEST(field_errors_quote_the_value_at_its_line)
{
	static const struct {
		const char *frag;
		const char *msg;
	} cases[] = {
		{ "\"app\": \"firefox\"", "app: \"firefox\" is not an absolute path or a glob" },
		{ "\"app\": \"/usr/bin/[ab\"", "app: \"/usr/bin/[ab\" has a [ without its ]" },
		{ "\"app\": 5", "app: expected a string, got an integer 5" },
		{ "\"app\": \"\"", "app: \"\" is not an absolute path or a glob" },
		{ "\"user\": \"al ice\"", "user: \"al ice\" is not a user name or uid" },
		{ "\"user\": -1", "user: -1 is not a valid uid" },
		{ "\"user\": \"4294967295\"", "user: \"4294967295\" is not a valid uid" },
		{ "\"user\": true", "user: expected a uid or a user name, got a boolean true" },
		{ "\"remote\": \"1.2.3\"", "remote: \"1.2.3\" is not an IPv4 or IPv6 address" },
		{ "\"remote\": \"10.1.2.3/8\"", "remote: \"10.1.2.3/8\" has host bits set (the network is \"10.0.0.0/8\")" },
		{ "\"remote\": \"2001:db8::1/64\"", "has host bits set (the network is \"2001:db8::/64\")" },
		{ "\"remote\": \"10.0.0.0/33\"", "remote: \"10.0.0.0/33\" has a prefix length over 32" },
		{ "\"remote\": \"2001:db8::/129\"", "has a prefix length over 128" },
		{ "\"remote\": \"10.0.0.0/\"", "has no prefix length after the /" },
		{ "\"remote\": \"10.0.0.0/+8\"", "has no prefix length after the /" },
		{ "\"remote\": \"fe80::1%eth0\"", "is not an IPv4 or IPv6 address" },
		{ "\"remote\": [[\"10.0.0.1\"]]", "remote: expected a string, got an array" },
		{ "\"host\": \"exa mple.org\"", "host: \"exa mple.org\" is not a DNS name or *.suffix" },
		{ "\"host\": \"-a.org\"", "is not a DNS name" },
		{ "\"host\": \"a-.org\"", "is not a DNS name" },
		{ "\"host\": \"a..org\"", "is not a DNS name" },
		{ "\"host\": \"*.*.org\"", "is not a DNS name" },
		{ "\"host\": \"*\"", "is not a DNS name" },
		{ "\"host\": \"\"", "is not a DNS name" },
		{ "\"host\": \"caf\\u00e9.org\"", "is not a DNS name" },
		{ "\"host\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org\"",
		  "is not a DNS name" },
		{ "\"port\": 0", "port: 0 is not a port (1-65535)" },
		{ "\"port\": 65536", "port: 65536 is not a port (1-65535)" },
		{ "\"port\": \"90-80\"", "port: \"90-80\" is a range whose start is above its end" },
		{ "\"port\": \"http\"", "port: \"http\" is not a port (1-65535) or a range N-M" },
		{ "\"port\": \"80-\"", "is not a port (1-65535) or a range N-M" },
		{ "\"port\": \" 80\"", "is not a port (1-65535) or a range N-M" },
		{ "\"port\": [[80]]", "port: expected a port number or a string \"N-M\", got an array" },
		{ "\"port\": 80.5", "port: expected a port number or a string \"N-M\", got a real number 80.5" },
		{ "\"proto\": \"tpc\"", "unknown proto \"tpc\" (expected tcp, udp, icmp, icmpv6 or a number 0-255)" },
		{ "\"proto\": 256", "proto: 256 is not a protocol number (0-255)" },
		{ "\"proto\": \"256\"", "unknown proto \"256\"" },
		{ "\"direction\": \"up\"", "unknown direction \"up\" (expected out or in)" },
		{ "\"weight\": 5000", "weight: 5000 is out of range -1000..1000" },
		{ "\"weight\": 1.5", "weight: expected an integer, got a real number 1.5" },
		{ "\"enabled\": \"yes\"", "enabled: expected true or false, got a string \"yes\"" },
		{ "\"enabled\": 1", "enabled: expected true or false, got an integer 1" },
		{ "\"created\": \"yesterday\"", "created: \"yesterday\" is not an RFC 3339 UTC time" },
		{ "\"created\": \"2026-02-29T00:00:00Z\"", "is not an RFC 3339 UTC time" },
		{ "\"created\": \"2026-11-27T15:00:00+01:00\"", "is not an RFC 3339 UTC time" },
		{ "\"created\": \"2026-11-27T24:00:00Z\"", "is not an RFC 3339 UTC time" },
		{ "\"created\": \"1969-12-31T23:59:59Z\"", "is not an RFC 3339 UTC time" },
		{ "\"name\": \"a\\nb\"", "name: \"a\\nb\" contains a control character" },
		{ "\"name\": 7", "name: expected a string, got an integer 7" },
		{ "\"lifetime\": \"timed\"", "unknown key \"lifetime\" (lifetime and expires_in_ms exist only in the control protocol" },
		{ "\"colour\": 1", "unknown key \"colour\"" },
		{ "\"port\": 80, \"proto\": \"icmp\"", "port: a rule for proto \"icmp\" cannot have a port" },
		{ "\"remote\": \"2001:db8::1\", \"proto\": \"icmp\"", "proto: \"icmp\" cannot reach an IPv6 remote address" },
		{ "\"remote\": \"192.0.2.1\", \"proto\": 58", "proto: \"icmpv6\" cannot reach an IPv4 remote address" },
		{ "\"id\": \"t\"", "invalid JSON: duplicate object key" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct ag_rule r;
		struct errs e;

		snprintf(text, sizeof(text), "{\n  \"id\": \"t\",\n  \"action\": \"allow\",\n  %s\n}\n",
			 cases[i].frag);
		CHECK_MSG(parse("d/t.json", text, &r, &e) == -EINVAL, "accepted: %s", cases[i].frag);
		CHECK_MSG(e.n == 1, "%u errors for %s: %s", e.n, cases[i].frag, e.msg[0]);
		CHECK_MSG(strncmp(e.msg[0], "d/t.json:4: ", 12) == 0, "wrong place: %s", e.msg[0]);
		CHECK_MSG(strstr(e.msg[0], cases[i].msg), "message \"%s\" lacks \"%s\"",
			  e.msg[0], cases[i].msg);
	}
}

TEST(whole_rule_errors)
{
	struct ag_rule r;
	struct errs e;

	CHECK_EQ(parse("d/t.json", "\n\n{\n  \"action\": \"deny\"\n}\n", &r, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "d/t.json:3: missing \"id\"");
	CHECK_EQ(parse("d/t.json", "{\"id\": \"t\"}", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/t.json:1: missing \"action\"");
	CHECK_EQ(parse("d/other.json", "{\n  \"id\": \"t\",\n  \"action\": \"deny\"\n}", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/other.json:2: id \"t\" does not match the file name (it must be t.json)");
	CHECK_EQ(parse("d/x.json", "{\"id\": \"../x\", \"action\": \"deny\"}", &r, &e), -EINVAL);
	CHECK(strstr(e.msg[0], "id: \"../x\" is not a valid id"));
	CHECK_EQ(parse("d/x.json", "{\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"action\": \"deny\"}",
		       &r, &e), -EINVAL);
	CHECK(strstr(e.msg[0], "is not a valid id"));
	CHECK_EQ(parse("d/x.json", "[1, 2]", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/x.json:1: a rule must be a JSON object, not an array");
	CHECK_EQ(parse("d/x.json", "", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/x.json:1: empty file: no rule");
	CHECK_EQ(parse("d/x.json", " \n\t\n", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/x.json:1: empty file: no rule");
	CHECK_EQ(parse("d/x.json", "{\"id\": \"x\", \"action\": \"deny\"} {}", &r, &e), -EINVAL);
	CHECK(strstr(e.msg[0], "d/x.json:1: invalid JSON: "));
	/* A NUL in the text, a NUL in a key, and no error callback at all. */
	memset(&e, 0, sizeof(e));
	CHECK_EQ(ag_rule_parse("d/x.json", "{\"id\"\0", 6, &r, lines, sizeof(lines)), -EINVAL);
	take(&e, lines);
	CHECK_EQ(e.n, 1);
	CHECK_EQ(parse("d/x.json", "{\"id\": \"x\", \"action\": \"deny\", \"id\\u0000x\": 1}", &r, &e),
		 -EINVAL);
	CHECK(strstr(e.msg[0], "d/x.json:1: invalid JSON: "));
	CHECK_EQ(parse("d/x.json", "{\"id\": \"x\", \"action\": null}", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "d/x.json:1: action: expected a string, got null");
	CHECK_EQ(ag_rule_parse("d/x.json", "{", 1, &r, NULL, 0), -EINVAL);
}

TEST(from_json_refuses_keys_and_strings_with_nul)
{
	json_t *o = json_object();
	struct ag_rule r;
	struct errs e = { 0 };

	CHECK(o);
	json_object_set_new(o, "action", json_string("deny"));
	/* Objects made in code can hold what JSON text cannot. */
	json_object_setn_new(o, "app\0x", 5, json_string("/bin/sh"));
	json_object_set_new(o, "host", json_stringn("a\0b", 3));
	CHECK_EQ(from_json(o, AG_RULE_JSON_CONTROL, &r, &e), -EINVAL);
	json_decref(o);
	CHECK_EQ(e.n, 2);
	CHECK_STR(e.msg[0], "unknown key \"app\\x00x\"");
	CHECK_STR(e.msg[1], "host: the string contains a NUL byte");
}

static bool printable(const char *msg)
{
	for (; *msg; msg++)
		if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
			return false;
	return true;
}

TEST(parse_without_file_name)
{
	struct ag_rule r;
	struct errs e;

	CHECK_EQ(parse(NULL, "{\"id\": \"x\", \"action\": \"deny\"}", &r, &e), 0);
	CHECK(r.source == NULL);
	CHECK_EQ(parse(NULL, "{\n\"id\": \"x\",\n\"action\": \"no\"}", &r, &e), -EINVAL);
	CHECK_STR(e.msg[0], "rule:3: unknown action \"no\" (expected allow, deny, reject, ask or callout)");
}

TEST(truncated_file_reports_the_line_where_it_ends)
{
	struct ag_rule r;
	struct errs e;
	char cut[256];

	/* A crash mid-write of some older tool: the sample cut after
	 * '  "host": ' on line 9. */
	snprintf(cut, sizeof(cut), "%.*s", 200, sample);
	CHECK_EQ(parse("d/3f9c2a71.json", cut, &r, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_MSG(strstr(e.msg[0], "d/3f9c2a71.json:9: invalid JSON: "), "%s", e.msg[0]);
}

/* ---- the directory ---------------------------------------------------------- */

struct loaded {
	unsigned n;
	char ids[16][AG_RULE_ID_MAX + 1];
	enum ag_rule_action actions[16];
	char sources[16][AG_RULE_SOURCE_MAX];
	int stop_at;	/* return -ECANCELED at this rule (1-based), 0: never */
};

static int on_rule(void *arg, const struct ag_rule *r)
{
	struct loaded *l = arg;

	if (l->n < 16) {
		snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", r->id);
		l->actions[l->n] = r->action;
		snprintf(l->sources[l->n], sizeof(l->sources[0]), "%s", r->source);
	}
	l->n++;
	return (int)l->n == l->stop_at ? -ECANCELED : 0;
}

/* Both callbacks share one argument in ag_rules_load_dir(). */
struct both {
	struct loaded l;
	struct errs e;
};

static int both_rule(void *arg, const struct ag_rule *r, const char *err)
{
	struct both *b = arg;

	if (!r) {
		take(&b->e, err);
		return 0;
	}
	return on_rule(&b->l, r);
}

/* ag_rules_load_dir() with both, and the directory's own errors in b->e. */
static int load_dir(const char *dir, ag_rule_fn cb, struct both *b)
{
	int ret = ag_rules_load_dir(dir, cb, b, lines, sizeof(lines));

	take(&b->e, lines);
	return ret;
}

struct snap {
	const char *name;
	char *content;
	size_t len;
	struct timespec mtime;
};

static bool snap_take(const char *dir, struct snap *s)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	if (stat(path, &st) == -1)
		return false;
	s->mtime = st.st_mtim;
	s->content = S_ISREG(st.st_mode) ? read_file(dir, s->name, &s->len) : strdup("");
	if (!S_ISREG(st.st_mode))
		s->len = 0;
	return s->content != NULL;
}

static bool snap_same(const char *dir, const struct snap *s)
{
	struct snap now = { .name = s->name };
	bool same;

	if (!snap_take(dir, &now))
		return false;
	same = now.len == s->len && memcmp(now.content, s->content, s->len) == 0 &&
	       now.mtime.tv_sec == s->mtime.tv_sec && now.mtime.tv_nsec == s->mtime.tv_nsec;
	free(now.content);
	return same;
}

TEST(bad_files_are_reported_good_rules_still_load_nothing_modified)
{
	static const char good_a[] = "{\n  \"id\": \"a\",\n  \"action\": \"allow\"\n}\n";
	static const char good_b[] = "{\"id\": \"b\", \"action\": \"deny\", \"app\": \"/bin/sh\"}";
	static const char wrong_type[] = "{\n  \"id\": \"d\",\n  \"action\": \"allow\",\n  \"enabled\": \"yes\"\n}\n";
	static const char bad_action[] = "{\n  \"id\": \"e\",\n  \"action\": \"alow\"\n}\n";
	static const char dup_id[] = "{\n  \"id\": \"a\",\n  \"action\": \"deny\"\n}\n";
	struct snap snaps[] = {
		{ .name = "a.json" }, { .name = "b.json" }, { .name = "c.json" },
		{ .name = "d.json" }, { .name = "e.json" }, { .name = "f.json" },
		{ .name = "g.json" }, { .name = "h.json" }, { .name = "a.json~" },
		{ .name = ".a.json.swp" }, { .name = ".z.json.tmp" }, { .name = "README" },
		{ .name = "x.json.bak" }, { .name = ".hidden.json" },
	};
	const size_t nsnaps = sizeof(snaps) / sizeof(snaps[0]);
	const char *dir = make_tmpdir();
	char path[512], *big;
	struct both *b;
	size_t bigsz = 10u << 20;
	int ret;

	CHECK(dir);
	CHECK_EQ(write_file(dir, "a.json", good_a, strlen(good_a)), 0);
	CHECK_EQ(write_file(dir, "b.json", good_b, strlen(good_b)), 0);
	CHECK_EQ(write_file(dir, "c.json", sample, 120), 0);	/* truncated */
	CHECK_EQ(write_file(dir, "d.json", wrong_type, strlen(wrong_type)), 0);
	CHECK_EQ(write_file(dir, "e.json", bad_action, strlen(bad_action)), 0);
	/* 10 MB of otherwise valid JSON. */
	big = malloc(bigsz);
	CHECK(big);
	memset(big, 'x', bigsz);
	memcpy(big, "{\"id\": \"f\", \"action\": \"deny\", \"name\": \"", 39);
	memcpy(big + bigsz - 3, "\"}\n", 3);
	ret = write_file(dir, "f.json", big, bigsz);
	free(big);
	CHECK_EQ(ret, 0);
	CHECK_EQ(write_file(dir, "g.json", dup_id, strlen(dup_id)), 0);
	CHECK_EQ(write_file(dir, "h.json", "", 0), 0);		/* crash after creat() */
	snprintf(path, sizeof(path), "%s/i.json", dir);
	CHECK_EQ(mkdir(path, 0755), 0);				/* not a file at all */
	/* Names that are not rules: none of them may be read, or complain. */
	CHECK_EQ(write_file(dir, "a.json~", "garbage", 7), 0);
	CHECK_EQ(write_file(dir, ".a.json.swp", "garbage", 7), 0);
	CHECK_EQ(write_file(dir, ".z.json.tmp", "{\"id\":", 6), 0);
	CHECK_EQ(write_file(dir, "README", "not a rule", 10), 0);
	CHECK_EQ(write_file(dir, "x.json.bak", "garbage", 7), 0);
	CHECK_EQ(write_file(dir, ".hidden.json", "garbage", 7), 0);
	for (size_t i = 0; i < nsnaps; i++)
		CHECK_MSG(snap_take(dir, &snaps[i]), "snapshot %s", snaps[i].name);

	b = calloc(1, sizeof(*b));
	CHECK(b);
	ret = load_dir(dir, both_rule, b);
	CHECK_EQ(ret, -EINVAL);
	CHECK_EQ(b->l.n, 2);
	CHECK_STR(b->l.ids[0], "a");
	CHECK_STR(b->l.ids[1], "b");
	CHECK_EQ(b->l.actions[0], AG_RULE_ALLOW);
	CHECK_EQ(b->l.actions[1], AG_RULE_DENY);
	snprintf(path, sizeof(path), "%s/a.json", dir);
	CHECK_STR(b->l.sources[0], path);
	CHECK_MSG(b->e.n == 7, "%u errors, first: %s", b->e.n, b->e.msg[0]);
	/* One error per bad file, in name order, each naming it. */
	snprintf(path, sizeof(path), "%s/c.json:", dir);
	CHECK(strstr(b->e.msg[0], path) && strstr(b->e.msg[0], "invalid JSON"));
	snprintf(path, sizeof(path), "%s/d.json:4: enabled: expected true or false", dir);
	CHECK_MSG(strstr(b->e.msg[1], path), "%s", b->e.msg[1]);
	snprintf(path, sizeof(path), "%s/e.json:3: unknown action \"alow\"", dir);
	CHECK_MSG(strstr(b->e.msg[2], path), "%s", b->e.msg[2]);
	snprintf(path, sizeof(path), "%s/f.json: 10485760 bytes is more than the limit of 1048576 bytes", dir);
	CHECK_MSG(strstr(b->e.msg[3], path), "%s", b->e.msg[3]);
	snprintf(path, sizeof(path), "%s/g.json:2: duplicate id \"a\": a.json already has it", dir);
	CHECK_MSG(strstr(b->e.msg[4], path), "%s", b->e.msg[4]);
	snprintf(path, sizeof(path), "%s/h.json:1: empty file: no rule", dir);
	CHECK_MSG(strstr(b->e.msg[5], path), "%s", b->e.msg[5]);
	snprintf(path, sizeof(path), "%s/i.json: not a regular file", dir);
	CHECK_MSG(strstr(b->e.msg[6], path), "%s", b->e.msg[6]);
	free(b);
	for (size_t i = 0; i < nsnaps; i++) {
		CHECK_MSG(snap_same(dir, &snaps[i]), "%s was modified", snaps[i].name);
		free(snaps[i].content);
	}
}

TEST(load_dir_missing_directory_check_only_and_callback_stop)
{
	const char *dir = make_tmpdir();
	struct both *b = calloc(1, sizeof(*b));
	char path[512];

	CHECK(b && dir);
	CHECK_EQ(load_dir("/nonexistent/rules.d", both_rule, b), -ENOENT);
	CHECK_EQ(b->e.n, 1);
	CHECK_STR(b->e.msg[0], "/nonexistent/rules.d: cannot open the rules directory: No such file or directory");
	/* An empty directory is fine. */
	memset(b, 0, sizeof(*b));
	CHECK_EQ(load_dir(dir, both_rule, b), 0);
	CHECK_EQ(b->l.n, 0);
	CHECK_EQ(b->e.n, 0);
	/* No rule callback: only check, as `alegated -n` does. */
	CHECK_EQ(write_file(dir, "x.json", "{\"id\": \"y\", \"action\": \"deny\"}", 29), 0);
	memset(b, 0, sizeof(*b));
	CHECK_EQ(load_dir(dir, NULL, b), -EINVAL);
	CHECK_EQ(b->e.n, 1);
	CHECK(strstr(b->e.msg[0], "/x.json:1: id \"y\" does not match the file name (it must be y.json)"));
	snprintf(path, sizeof(path), "%s/x.json", dir);
	CHECK_EQ(unlink(path), 0);
	/* A failing callback stops the load and its error comes back. */
	CHECK_EQ(write_file(dir, "a.json", "{\"id\": \"a\", \"action\": \"deny\"}", 29), 0);
	CHECK_EQ(write_file(dir, "b.json", "{\"id\": \"b\", \"action\": \"deny\"}", 29), 0);
	memset(b, 0, sizeof(*b));
	b->l.stop_at = 1;
	CHECK_EQ(load_dir(dir, both_rule, b), -ECANCELED);
	CHECK_EQ(b->l.n, 1);
	free(b);
}

/*
 * Whoever can write a rule can allow anything: a rule file is read only if
 * it is a regular file (a symbolic link is never followed, so a link to
 * /etc/shadow is not read as root), owned by root and writable by nobody
 * else, in a directory that is the same.  Nothing of a file that is not a
 * rule is repeated in a message.  Needs root (a file of another owner).
 */
TEST(rule_files_through_symlinks_of_other_owners_or_writable_by_others_are_not_read)
{
	static const char allow_all[] = "{\"id\": \"%s\", \"action\": \"allow\"}";
	const char *dir = make_tmpdir(), *outside = make_tmpdir();
	struct both *b = calloc(1, sizeof(*b));
	char text[128], path[512], target[512];
	static const char *const names[] = { "good", "others", "group", "foreign" };

	CHECK_MSG(geteuid() == 0, "this test makes a file of another owner: run it as root");
	CHECK(b && dir && outside);
	for (size_t i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s.json", names[i]);
		snprintf(text, sizeof(text), allow_all, names[i]);
		CHECK_EQ(write_file(dir, name, text, strlen(text)), 0);
	}
	snprintf(path, sizeof(path), "%s/others.json", dir);
	CHECK_EQ(chmod(path, 0666), 0);
	snprintf(path, sizeof(path), "%s/group.json", dir);
	CHECK_EQ(chmod(path, 0664), 0);
	snprintf(path, sizeof(path), "%s/foreign.json", dir);
	CHECK_EQ(chown(path, 65534, 65534), 0);
	/* a secret elsewhere, and a link to it */
	CHECK_EQ(write_file(outside, "shadow", "root:$6$SECRETWORD:19000::::::\n", 30), 0);
	snprintf(target, sizeof(target), "%s/shadow", outside);
	snprintf(path, sizeof(path), "%s/link.json", dir);
	CHECK_EQ(symlink(target, path), 0);
	/* and the same secret as a file of the directory itself */
	CHECK_EQ(write_file(dir, "text.json", "root:$6$SECRETWORD:19000::::::\n", 30), 0);

	CHECK_EQ(load_dir(dir, both_rule, b), -EINVAL);
	CHECK_EQ(b->l.n, 1);
	CHECK_STR(b->l.ids[0], "good");
	CHECK_MSG(b->e.n == 5, "%u errors, first: %s", b->e.n, b->e.msg[0]);
	for (unsigned i = 0; i < b->e.n; i++)
		CHECK_MSG(!strstr(b->e.msg[i], "SECRETWORD") && !strstr(b->e.msg[i], "$6$"),
			  "a message repeats a file's content: %s", b->e.msg[i]);
	/* in name order: foreign, group, link, others, text */
	CHECK_MSG(strstr(b->e.msg[0], "/foreign.json: owned by uid 65534, not by root: not read"),
		  "%s", b->e.msg[0]);
	CHECK_MSG(strstr(b->e.msg[1], "/group.json: writable by its group (mode 0664): not read"),
		  "%s", b->e.msg[1]);
	CHECK_MSG(strstr(b->e.msg[2], "/link.json: a symbolic link: not read"), "%s", b->e.msg[2]);
	CHECK_MSG(strstr(b->e.msg[3], "/others.json: writable by others (mode 0666): not read"),
		  "%s", b->e.msg[3]);
	CHECK_MSG(strstr(b->e.msg[4], "/text.json:1: not a rule file"), "%s", b->e.msg[4]);

	/* a directory others may write to is not read at all */
	CHECK_EQ(chmod(dir, 0777), 0);
	memset(b, 0, sizeof(*b));
	CHECK_EQ(load_dir(dir, both_rule, b), -EPERM);
	CHECK_EQ(b->l.n, 0);
	CHECK_EQ(b->e.n, 1);
	CHECK_MSG(strstr(b->e.msg[0], "the rules directory is writable by others (mode 0777): "
				      "no rule read from it"), "%s", b->e.msg[0]);
	CHECK_EQ(chmod(dir, 0755), 0);
	CHECK_EQ(chown(dir, 65534, 65534), 0);
	memset(b, 0, sizeof(*b));
	CHECK_EQ(load_dir(dir, both_rule, b), -EPERM);
	CHECK_EQ(b->l.n, 0);
	CHECK_MSG(strstr(b->e.msg[0], "the rules directory is owned by uid 65534, not by root"),
		  "%s", b->e.msg[0]);
	CHECK_EQ(chown(dir, 0, 0), 0);
	free(b);
}

TEST(messages_never_carry_control_bytes)
{
	const char *dir = make_tmpdir();
	struct both *b = calloc(1, sizeof(*b));
	struct ag_rule r;
	struct errs e;

	CHECK(b && dir);
	/* jansson quotes the offending token raw in its own text. */
	CHECK_EQ(parse("d/x.json", "{\"id\": \x1b[2J}", &r, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_MSG(printable(e.msg[0]), "%s", e.msg[0]);
	CHECK(strstr(e.msg[0], "d/x.json:1: invalid JSON: "));
	/* A file name is printed as it is, but for its control bytes. */
	CHECK_EQ(write_file(dir, "e\x1b[2J.json", "{", 1), 0);
	CHECK_EQ(load_dir(dir, both_rule, b), -EINVAL);
	CHECK_EQ(b->e.n, 1);
	CHECK_MSG(printable(b->e.msg[0]), "%s", b->e.msg[0]);
	CHECK(strstr(b->e.msg[0], "/e?[2J.json:1: invalid JSON: "));
	free(b);
}

/* ---- saving ------------------------------------------------------------------ */

TEST(save_writes_fixed_format_mode_0644_and_no_temp_file)
{
	const char *dir = make_tmpdir();
	struct ag_rule r;
	struct errs e;
	struct stat st;
	char path[512], *text;
	mode_t old;
	int ret;

	CHECK(dir);
	CHECK_EQ(parse("3f9c2a71.json", sample, &r, &e), 0);
	old = umask(077);	/* the file must still be readable by all */
	ret = ag_rule_save(dir, &r, 0);
	umask(old);
	CHECK_EQ(ret, 0);
	text = read_file(dir, "3f9c2a71.json", NULL);
	CHECK(text);
	CHECK_STR(text, sample);
	free(text);
	snprintf(path, sizeof(path), "%s/3f9c2a71.json", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0644);
	CHECK(!exists(dir, ".3f9c2a71.json.tmp"));
}

TEST(save_replaces_or_refuses_with_save_new)
{
	const char *dir = make_tmpdir();
	struct ag_rule r, back;
	struct errs e;
	char *text;

	CHECK(dir);
	CHECK_EQ(parse("3f9c2a71.json", sample, &r, &e), 0);
	CHECK_EQ(ag_rule_save(dir, &r, AG_RULE_SAVE_NEW), 0);
	r.action = AG_RULE_DENY;
	strcpy(r.name, "changed");
	CHECK_EQ(ag_rule_save(dir, &r, AG_RULE_SAVE_NEW), -EEXIST);
	text = read_file(dir, "3f9c2a71.json", NULL);
	CHECK(text);
	CHECK_STR(text, sample);
	free(text);
	CHECK(!exists(dir, ".3f9c2a71.json.tmp"));
	/* A temp file left by a crash does not block the next save. */
	CHECK_EQ(write_file(dir, ".3f9c2a71.json.tmp", "{\"half", 6), 0);
	CHECK_EQ(ag_rule_save(dir, &r, 0), 0);
	CHECK(!exists(dir, ".3f9c2a71.json.tmp"));
	text = read_file(dir, "3f9c2a71.json", NULL);
	CHECK(text);
	CHECK_EQ(parse("3f9c2a71.json", text, &back, &e), 0);
	free(text);
	CHECK(ag_rule_equal(&r, &back));
	CHECK_EQ(back.action, AG_RULE_DENY);
}

TEST(save_failure_keeps_previous_content_and_leaves_no_temp_file)
{
	const char *dir = make_tmpdir();
	static struct ag_rule longer;	/* freed at exit */
	struct ag_rule r;
	struct rlimit old, lim;
	struct errs e;
	char path[512], *text;
	void (*oldsig)(int);
	int ret;

	CHECK(dir);
	CHECK_EQ(parse("3f9c2a71.json", sample, &r, &e), 0);
	CHECK_EQ(ag_rule_save(dir, &r, 0), 0);

	/* The "directory" is a file: nothing can be written under it. */
	snprintf(path, sizeof(path), "%s/3f9c2a71.json", dir);
	CHECK_EQ(ag_rule_save(path, &r, 0), -ENOTDIR);
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_EQ(ag_rule_save(path, &r, 0), -ENOENT);

	/* A full disk, as root can meet it too: a file size limit makes the
	 * write of the temp file fail half way. */
	CHECK_EQ(ag_rule_copy(&longer, &r), 0);
	CHECK_EQ(ag_rule_set_name(&longer, "a new name that makes the file longer than before"), 0);
	keep(&longer);
	r = longer;
	r.action = AG_RULE_DENY;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ret = ag_rule_save(dir, &r, 0);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, oldsig);
	CHECK_EQ(ret, -EFBIG);
	CHECK(!exists(dir, ".3f9c2a71.json.tmp"));
	text = read_file(dir, "3f9c2a71.json", NULL);
	CHECK(text);
	CHECK_STR(text, sample);
	free(text);
}

TEST(save_refuses_rules_that_would_not_load)
{
	const char *dir = make_tmpdir();
	/* static: a failed CHECK returns early, and the copies are freed at exit */
	static struct ag_rule bad[6];
	struct ag_rule r;
	struct errs e;

	CHECK(dir);
	CHECK_EQ(parse("3f9c2a71.json", sample, &r, &e), 0);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(ag_rule_copy(&bad[i], &r), 0);
		keep(&bad[i]);
	}
	strcpy(bad[0].id, "../evil");
	CHECK_EQ(ag_rule_save(dir, &bad[0], 0), -EINVAL);
	bad[1].id[0] = '\0';
	CHECK_EQ(ag_rule_save(dir, &bad[1], 0), -EINVAL);
	bad[2].lifetime = AG_RULE_TIMED;
	CHECK_EQ(ag_rule_save(dir, &bad[2], 0), -EINVAL);
	strcpy(bad[3].host[0].name, "Not A Name");	/* set in C, never checked */
	CHECK_EQ(ag_rule_save(dir, &bad[3], 0), -EINVAL);
	bad[4].remote[0].addr[3] = 1;		/* host bits under a /24 */
	CHECK_EQ(ag_rule_save(dir, &bad[4], 0), -EINVAL);
	free(bad[5].app[0].path);
	bad[5].app[0].path = strdup("/usr/bin/\xff\xfe");	/* no JSON for it */
	CHECK(bad[5].app[0].path);
	CHECK_EQ(ag_rule_save(dir, &bad[5], 0), -EINVAL);
	errno = 0;
	CHECK(!ag_rule_to_json(&bad[5], 0));
	CHECK_EQ(errno, EILSEQ);
	CHECK(!exists(dir, "3f9c2a71.json"));
	CHECK(!exists(dir, ".3f9c2a71.json.tmp"));
}

TEST(delete_removes_only_valid_ids)
{
	const char *dir = make_tmpdir();
	struct ag_rule r;
	struct errs e;

	CHECK(dir);
	CHECK_EQ(parse("3f9c2a71.json", sample, &r, &e), 0);
	CHECK_EQ(ag_rule_save(dir, &r, 0), 0);
	CHECK_EQ(ag_rule_delete(dir, "3f9c2a71"), 0);
	CHECK(!exists(dir, "3f9c2a71.json"));
	CHECK_EQ(ag_rule_delete(dir, "3f9c2a71"), -ENOENT);
	CHECK_EQ(ag_rule_delete(dir, "../3f9c2a71"), -EINVAL);
	CHECK_EQ(ag_rule_delete(dir, ""), -EINVAL);
}

TEST(new_id_is_8_hex_digits_and_fresh)
{
	char a[AG_RULE_NEW_ID_LEN + 1], b[AG_RULE_NEW_ID_LEN + 1];

	CHECK_EQ(ag_rule_new_id(a), 0);
	CHECK_EQ(ag_rule_new_id(b), 0);
	CHECK_EQ(strlen(a), 8);
	CHECK_EQ(strspn(a, "0123456789abcdef"), 8);
	CHECK(ag_rule_id_valid(a));
	CHECK(strcmp(a, b) != 0);	/* 1 in 2^32 to fail by chance */
}

/* ---- several values per condition (S14) ----------------------------------- */

/* OR within a field: an array, or a comma list where no value holds a comma. */
TEST(several_values_per_field_from_arrays_and_comma_lists)
{
	static const char text[] =
		"{\"id\": \"m\", \"action\": \"allow\",\n"
		" \"app\": [\"/usr/bin/curl\", \"/usr/lib/firefox*/firefox\"],\n"
		" \"user\": \"alice,1000\",\n"
		" \"remote\": [\"10.0.0.0/8\", \"fd00::/8\"],\n"
		" \"host\": \"example.org,*.example.net\",\n"
		" \"port\": \"80,443,8000-8100\",\n"
		" \"proto\": [\"tcp\", 17]}";
	struct ag_rule r;
	struct errs e;

	CHECK_EQ(parse("m.json", text, &r, &e), 0);
	CHECK_EQ(r.n_app, 2);
	CHECK_STR(r.app[0].path, "/usr/bin/curl");
	CHECK(!r.app[0].glob);
	CHECK(r.app[1].glob);
	CHECK_EQ(r.n_user, 2);
	CHECK_STR(r.user[0].name, "alice");
	CHECK(r.user[1].name == NULL && r.user[1].uid == 1000 && r.user[1].uid_known);
	CHECK_EQ(r.has & AG_RULE_HAS_UID, 0);	/* alice is not resolved yet */
	CHECK_EQ(r.n_remote, 2);
	CHECK_EQ(r.remote[0].family, AF_INET);
	CHECK_EQ(r.remote[0].plen, 8);
	CHECK_EQ(r.remote[1].family, AF_INET6);
	CHECK_EQ(r.n_host, 2);
	CHECK(!r.host[0].wildcard && r.host[1].wildcard);
	CHECK_EQ(r.n_port, 3);
	CHECK(r.port[0].lo == 80 && r.port[0].hi == 80);
	CHECK(r.port[1].lo == 443 && r.port[1].hi == 443);
	CHECK(r.port[2].lo == 8000 && r.port[2].hi == 8100);
	CHECK_EQ(r.n_proto, 2);
	CHECK(r.proto[0] == 6 && r.proto[1] == 17);
}

/* Written back as arrays, and read again to the same rule; one value stays a scalar. */
TEST(several_values_are_saved_as_arrays_and_load_back_equal)
{
	static const char text[] =
		"{\"id\": \"m\", \"action\": \"deny\", \"port\": \"80,443\", \"user\": [0, \"bob\"],"
		" \"host\": \"a.example.org\"}";
	struct ag_rule r, back;
	struct errs e;
	char *s;

	CHECK_EQ(parse("m.json", text, &r, &e), 0);
	s = file_text(&r);
	CHECK(s);
	CHECK_MSG(strstr(s, "\"port\": [\n    \"80\",\n    \"443\"\n  ]"), "%s", s);
	CHECK_MSG(strstr(s, "\"user\": [\n    0,\n    \"bob\"\n  ]"), "%s", s);
	CHECK_MSG(strstr(s, "\"host\": \"a.example.org\""), "%s", s);
	CHECK_EQ(parse("m.json", s, &back, &e), 0);
	free(s);
	CHECK(ag_rule_equal(&r, &back));
	/* the order of the values is kept: another order is another file */
	CHECK_EQ(parse("m.json", "{\"id\": \"m\", \"action\": \"deny\", \"port\": \"443,80\","
			" \"user\": [0, \"bob\"], \"host\": \"a.example.org\"}", &back, &e), 0);
	CHECK(!ag_rule_equal(&r, &back));
}

TEST(more_than_64_values_on_a_field_is_an_error_naming_the_limit)
{
	char text[2048], list[1024] = "";
	struct ag_rule r;
	struct errs e;
	size_t o = 0;

	for (int i = 1; i <= AG_RULE_VALUES_MAX; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%d", i > 1 ? "," : "", i);
	snprintf(text, sizeof(text), "{\"id\": \"b\", \"action\": \"allow\", \"port\": \"%s\"}", list);
	CHECK_EQ(parse("b.json", text, &r, &e), 0);
	CHECK_EQ(r.n_port, AG_RULE_VALUES_MAX);
	/* 65 in a comma list, 65 in an array */
	snprintf(text, sizeof(text), "{\"id\": \"b\", \"action\": \"allow\", \"port\": \"%s,65\"}", list);
	CHECK_EQ(parse("b.json", text, &r, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_MSG(strstr(e.msg[0], "has 65 values, the limit is 64"), "%s", e.msg[0]);
	snprintf(text, sizeof(text), "{\"id\": \"b\", \"action\": \"allow\", \"proto\": [%s,65]}", list);
	CHECK_EQ(parse("b.json", text, &r, &e), -EINVAL);
	CHECK_MSG(strstr(e.msg[0], "b.json:1: proto: 65 values, the limit is 64"), "%s", e.msg[0]);
}

TEST(malformed_value_lists_are_refused_with_the_bad_value_quoted)
{
	static const struct {
		const char *frag, *msg;
	} cases[] = {
		{ "\"port\": []", "port: an empty list (leave port out to match any)" },
		{ "\"port\": \"80,,443\"", "port: \"80,,443\" has an empty value between commas" },
		{ "\"port\": \"80,\"", "port: \"80,\" has an empty value between commas" },
		{ "\"host\": \",example.org\"", "has an empty value between commas" },
		{ "\"port\": [\"80\", \"http\"]", "port: \"http\" is not a port" },
		{ "\"port\": [\"80,443\"]", "port: \"80,443\" is not a port" },
		{ "\"remote\": \"10.0.0.0/8,10.1.0.1/8\"", "remote: \"10.1.0.1/8\" has host bits set" },
		{ "\"remote\": [\"resolvers\", \"10.0.0.1\"]", "remote: \"resolvers\" cannot be listed with addresses" },
		{ "\"user\": [\"root\", -1]", "user: -1 is not a valid uid" },
		{ "\"app\": [\"/bin/a\", \"b\"]", "app: \"b\" is not an absolute path or a glob" },
		{ "\"app\": [\"/bin/a\", null]", "app: expected a string, got null" },
		{ "\"proto\": [\"tcp\", \"icmp\"], \"port\": 80", "port: a rule for proto \"icmp\" cannot have a port" },
		{ "\"proto\": \"icmp,tcp\", \"remote\": [\"fd00::1\"]", "proto: \"icmp\" cannot reach an IPv6 remote address" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct ag_rule r;
		struct errs e;

		snprintf(text, sizeof(text), "{\"id\": \"t\", \"action\": \"allow\", %s}", cases[i].frag);
		CHECK_MSG(parse("t.json", text, &r, &e) == -EINVAL, "accepted: %s", cases[i].frag);
		CHECK_MSG(e.n == 1, "%u errors for %s: %s", e.n, cases[i].frag, e.msg[0]);
		CHECK_MSG(strstr(e.msg[0], cases[i].msg), "message \"%s\" lacks \"%s\"", e.msg[0],
			  cases[i].msg);
	}
	/* a comma is part of a path: one app, not two */
	{
		struct ag_rule r;
		struct errs e;

		CHECK_EQ(parse("t.json", "{\"id\": \"t\", \"action\": \"deny\", \"app\": \"/opt/a,b\"}",
			       &r, &e), 0);
		CHECK_EQ(r.n_app, 1);
		CHECK_STR(r.app[0].path, "/opt/a,b");
	}
}

/* A copy owns its own values: freeing the original leaves it whole. */
TEST(copy_is_deep_and_free_leaves_an_empty_rule)
{
	static const char text[] =
		"{\"id\": \"c\", \"name\": \"n\", \"action\": \"callout\", \"callout\": \"x.y\","
		" \"app\": [\"/bin/a\", \"/bin/b\"], \"user\": [\"root\", 7], \"host\": \"*.a.org\","
		" \"remote\": \"::1\", \"port\": \"1-2,3\", \"proto\": \"tcp\"}";
	struct ag_rule a, b, empty;
	char *ta, *tb;

	ag_rule_init(&empty);
	ag_rule_free(&empty);		/* safe on an init'ed rule */
	ag_rule_free(&empty);		/* and twice */
	CHECK_EQ(ag_rule_parse("c.json", text, strlen(text), &a, NULL, 0), 0);
	CHECK_EQ(ag_rule_copy(&b, &a), 0);
	CHECK(b.app != a.app && b.app[0].path != a.app[0].path && b.name != a.name &&
	      b.source != a.source && b.user[0].name != a.user[0].name &&
	      b.host[0].name != a.host[0].name && b.port != a.port && b.proto != a.proto);
	CHECK(ag_rule_equal(&a, &b));
	ta = file_text(&a);
	ag_rule_free(&a);
	CHECK(a.name == NULL && a.app == NULL && a.n_app == 0 && a.has == 0 && !a.id[0]);
	CHECK(a.action == AG_RULE_DENY && a.enabled && a.lifetime == AG_RULE_ALWAYS);
	tb = file_text(&b);
	CHECK(ta && tb);
	CHECK_STR(ta, tb);
	free(ta);
	free(tb);
	ag_rule_free(&b);
	/* the setters keep the AG_RULE_HAS_* bits and the bound */
	ag_rule_init(&a);
	for (int i = 0; i < AG_RULE_VALUES_MAX; i++)
		CHECK_EQ(ag_rule_add_port(&a, (uint16_t)(i + 1), (uint16_t)(i + 1)), 0);
	CHECK_EQ(ag_rule_add_port(&a, 100, 100), -E2BIG);
	CHECK_EQ(a.n_port, AG_RULE_VALUES_MAX);
	CHECK_EQ(a.has, AG_RULE_HAS_PORT);
	CHECK_EQ(ag_rule_add_uid(&a, 5), 0);
	CHECK_EQ(a.has & AG_RULE_HAS_UID, AG_RULE_HAS_UID);
	CHECK_EQ(ag_rule_add_user_name(&a, "bob"), 0);
	CHECK_EQ(a.has & AG_RULE_HAS_UID, 0);
	ag_rule_free(&a);
}

TEST(equal_ignores_memory_only_fields)
{
	static struct ag_rule b;	/* freed at exit, after a failed CHECK too */
	struct ag_rule a;
	struct errs e;

	CHECK_EQ(parse("3f9c2a71.json", sample, &a, &e), 0);
	CHECK_EQ(ag_rule_copy(&b, &a), 0);
	CHECK_EQ(ag_rule_set_source(&b, "elsewhere"), 0);
	keep(&b);
	b.lifetime = AG_RULE_UNTIL_QUIT;
	b.session = 7;
	b.expires_ns = 99;
	CHECK(ag_rule_equal(&a, &b));
	b.port[0].hi = 444;
	CHECK(!ag_rule_equal(&a, &b));
	b.port[0].hi = 443;
	b.enabled = false;
	CHECK(!ag_rule_equal(&a, &b));
	b.enabled = true;
	/* A uid resolved from a name is not in the file: equal either way. */
	b.has &= ~(unsigned)AG_RULE_HAS_UID;
	CHECK(ag_rule_equal(&a, &b));
	b.user[0].uid = 1001;
	CHECK(!ag_rule_equal(&a, &b));
}

TEST(shipped_default_rules_load_and_are_in_saved_form)
{
	static const struct {
		const char *id;
		uint8_t proto;
		uint16_t port;
		enum ag_rule_direction dir;
		unsigned more;	/* conditions beyond port, proto, direction */
	} want[] = {
		{ "dhcp-client-in", 17, 68, AG_RULE_IN, 0 },
		{ "dhcp-client-out", 17, 67, AG_RULE_OUT, 0 },
		{ "dhcpv6-client-in", 17, 546, AG_RULE_IN, 0 },
		{ "dhcpv6-client-out", 17, 547, AG_RULE_OUT, 0 },
		/* DNS only to the configured resolvers */
		{ "dns-tcp", 6, 53, AG_RULE_OUT, AG_RULE_HAS_RESOLVERS },
		{ "dns-udp", 17, 53, AG_RULE_OUT, AG_RULE_HAS_RESOLVERS },
	};
	const size_t n = sizeof(want) / sizeof(want[0]);
	const char *tmp = make_tmpdir();
	char dir[4096];
	/* static: a failed CHECK returns early, and must not also leak */
	static struct both both;
	struct both *b = &both;

	CHECK(tmp);
	snprintf(dir, sizeof(dir), "%s/etc/rules.d", top());
	CHECK_EQ(load_dir(dir, both_rule, b), 0);
	CHECK_MSG(b->e.n == 0, "%s", b->e.msg[0]);
	CHECK_EQ(b->l.n, n);
	for (size_t i = 0; i < n; i++) {
		char name[64], *shipped, *saved;
		struct ag_rule r;
		struct errs e;

		CHECK_STR(b->l.ids[i], want[i].id);
		snprintf(name, sizeof(name), "%s.json", want[i].id);
		shipped = read_file(dir, name, NULL);
		CHECK(shipped);
		CHECK_EQ(parse(name, shipped, &r, &e), 0);
		CHECK_EQ(r.action, AG_RULE_ALLOW);
		CHECK(r.enabled);
		CHECK_EQ(r.has, AG_RULE_HAS_PORT | AG_RULE_HAS_PROTO | AG_RULE_HAS_DIRECTION |
				       want[i].more);
		CHECK_EQ(r.proto[0], want[i].proto);
		CHECK_EQ(r.port[0].lo, want[i].port);
		CHECK_EQ(r.port[0].hi, want[i].port);
		CHECK_EQ(r.direction, want[i].dir);
		CHECK(strlen(r.name) > 10);
		/* Shipped in exactly the form the daemon writes: no diff on save. */
		CHECK_EQ(ag_rule_save(tmp, &r, 0), 0);
		saved = read_file(tmp, name, NULL);
		CHECK(saved);
		CHECK_STR(saved, shipped);
		free(saved);
		free(shipped);
	}
}

/* ---- the executable checksum condition ---------------------------------------- */

/* sha256 of the empty input, in both cases */
#define SHA_EMPTY_LOWER "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_EMPTY_UPPER "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"

TEST(sha256_condition_parses_either_case_and_is_saved_in_lower_case)
{
	static const char text[] =
		"{\n"
		"  \"id\": \"s1\",\n"
		"  \"action\": \"allow\",\n"
		"  \"app\": \"/usr/bin/curl\",\n"
		"  \"sha256\": \"" SHA_EMPTY_UPPER "\"\n"
		"}\n";
	static const unsigned char want[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	struct ag_rule r, back;
	struct errs e;
	char *t;

	CHECK_EQ(parse("s1.json", text, &r, &e), 0);
	CHECK(r.has & AG_RULE_HAS_SHA256);
	CHECK(!memcmp(r.sha256, want, 32));
	t = file_text(&r);
	CHECK(t);
	CHECK_MSG(strstr(t, "\"sha256\": \"" SHA_EMPTY_LOWER "\""), "%s", t);
	CHECK_MSG(!strstr(t, SHA_EMPTY_UPPER), "%s", t);
	/* right after the program it belongs to */
	CHECK_MSG(strstr(t, "\"app\": \"/usr/bin/curl\",\n  \"sha256\""), "%s", t);
	CHECK_EQ(parse("s1.json", t, &back, &e), 0);
	CHECK(ag_rule_equal(&r, &back));
	free(t);
}

TEST(sha256_of_wrong_length_or_not_hex_is_refused_quoting_it_at_its_line)
{
	static const char *const bad[] = {
		"\"" SHA_EMPTY_LOWER "0\"",			/* 65 digits */
		"\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\"", /* 63 */
		"\"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"", /* not hex */
		"\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 \"",
		"\"\"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		struct ag_rule r;
		struct errs e;

		snprintf(text, sizeof(text),
			 "{\n  \"id\": \"s2\",\n  \"action\": \"deny\",\n  \"sha256\": %s\n}\n", bad[i]);
		CHECK_EQ(parse("s2.json", text, &r, &e), -EINVAL);
		CHECK_EQ(e.n, 1u);
		CHECK_MSG(strstr(e.msg[0], "s2.json:4: sha256: ") &&
			  strstr(e.msg[0], "is not 64 hex digits"), "%s", e.msg[0]);
	}
	{
		struct ag_rule r;
		struct errs e;

		CHECK_EQ(parse("s3.json", "{\"id\": \"s3\", \"action\": \"deny\", \"sha256\": 12}",
			       &r, &e), -EINVAL);
		CHECK_MSG(find_err(&e, "sha256") >= 0, "%s", e.msg[0]);
	}
}

TEST(rules_that_differ_only_in_sha256_are_not_equal)
{
	struct ag_rule a, b;
	struct errs e;

	CHECK_EQ(parse("s4.json", "{\"id\": \"s4\", \"action\": \"allow\", \"sha256\": \""
		       SHA_EMPTY_LOWER "\"}", &a, &e), 0);
	b = a;
	CHECK(ag_rule_equal(&a, &b));
	b.sha256[31] ^= 1;
	CHECK(!ag_rule_equal(&a, &b));
	b = a;
	b.has &= ~(unsigned)AG_RULE_HAS_SHA256;
	CHECK(!ag_rule_equal(&a, &b));
}

TEST(sha256_hex_is_lower_case_and_parse_round_trips)
{
	unsigned char d[32], back[32];
	char hex[65];

	for (int i = 0; i < 32; i++)
		d[i] = (unsigned char)(i * 37 + 11);
	ag_rule_sha256_hex(d, hex);
	CHECK_EQ(strlen(hex), 64u);
	for (int i = 0; i < 64; i++)
		CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
	CHECK_EQ(ag_rule_sha256_parse(hex, 64, back), 0);
	CHECK(!memcmp(d, back, 32));
	memset(back, 0x55, 32);
	CHECK_EQ(ag_rule_sha256_parse(hex, 63, back), -EINVAL);
	CHECK_EQ(back[0], 0x55);	/* untouched on failure */
}
