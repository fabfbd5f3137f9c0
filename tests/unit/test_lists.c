/*
 * test_lists.c — host lists and address lists: the sets, the list file
 * formats and their bad lines, the rule keys, the engine's set condition
 * and the fast path's view of it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alegate/engine.h"
#include "base/nameset.h"
#include "linux/fastpath_engine.h"
#include "rule/list.h"
#include "rule/rule.h"

#include "check.h"
#include "engine_fixture.h"

/* Error lines a parser reported, '\n' after each. */
static char errs[8192];
static int nerrs;

static void collect(void *arg, const char *line)
{
	size_t n = strlen(errs);

	nerrs++;
	snprintf(errs + n, sizeof(errs) - n, "%s\n", line);
}

static void reset(void)
{
	errs[0] = 0;
	nerrs = 0;
}

static struct ag_nameset *hosts(const char *text, int *bad)
{
	struct ag_nameset *s = ag_nameset_new();

	reset();
	if (!s)
		abort();
	*bad = ag_list_parse_hosts("l.txt", text, strlen(text), s, collect, NULL);
	return s;
}

static struct ag_prefixset *addrs(const char *text, int *bad)
{
	struct ag_prefixset *s = ag_prefixset_new();

	reset();
	if (!s)
		abort();
	*bad = ag_list_parse_addrs("a.txt", text, strlen(text), s, collect, NULL);
	return s;
}

static int match_addr(const struct ag_prefixset *s, const char *a)
{
	uint8_t b[16] = { 0 };

	if (inet_pton(AF_INET, a, b) == 1)
		return ag_prefixset_match(s, 4, b);
	if (inet_pton(AF_INET6, a, b) == 1)
		return ag_prefixset_match(s, 6, b);
	abort();
}

/* ---- the name set ----------------------------------------------------------------- */

TEST(listed_name_matches_itself_and_its_subdomains_not_its_parent)
{
	int bad;
	struct ag_nameset *s = hosts("ads.example.com\n", &bad);

	CHECK_EQ(bad, 0);
	CHECK(ag_nameset_match(s, "ads.example.com"));
	CHECK(ag_nameset_match(s, "x.ads.example.com"));
	CHECK(ag_nameset_match(s, "a.b.ADS.Example.com."));
	CHECK(!ag_nameset_match(s, "example.com"));
	CHECK(!ag_nameset_match(s, "badads.example.com"));
	CHECK(!ag_nameset_match(s, "ads.example.com.evil"));
	CHECK(!ag_nameset_match(s, ""));
	CHECK(!ag_nameset_match(s, NULL));
	ag_nameset_free(s);
}

TEST(name_set_keeps_each_name_once_across_growth)
{
	struct ag_nameset *s = ag_nameset_new();
	char name[64];

	CHECK(s);
	for (int i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "host%d.example.net", i);
		CHECK_EQ(ag_nameset_add(s, name, strlen(name)), 1);
	}
	CHECK_EQ(ag_nameset_add(s, "HOST7.example.net.", 18), 0);
	CHECK_EQ(ag_nameset_count(s), 50000);
	for (int i = 0; i < 50000; i += 997) {
		snprintf(name, sizeof(name), "www.host%d.example.net", i);
		CHECK(ag_nameset_match(s, name));
	}
	CHECK(!ag_nameset_match(s, "host50000.example.net"));
	CHECK_EQ(ag_nameset_add(s, "", 0), -EINVAL);
	ag_nameset_free(s);
}

/* ---- host list formats ------------------------------------------------------------- */

TEST(hosts_file_format_lists_every_name_after_the_address)
{
	int bad;
	struct ag_nameset *s = hosts("# StevenBlack style\n"
				     "127.0.0.1 localhost\n"
				     "127.0.0.1 localhost.localdomain\n"
				     "255.255.255.255 broadcasthost\n"
				     "::1 localhost ip6-localhost ip6-loopback\n"
				     "0.0.0.0 0.0.0.0\n"
				     "0.0.0.0 tracker.example.org # a comment\n"
				     "127.0.0.1\ta.example b.example\tc.example\n",
				     &bad);

	CHECK_EQ(bad, 0);
	CHECK_STR(errs, "");
	CHECK_EQ(ag_nameset_count(s), 4);
	CHECK(ag_nameset_match(s, "tracker.example.org"));
	CHECK(ag_nameset_match(s, "b.example"));
	CHECK(ag_nameset_match(s, "x.c.example"));
	CHECK(!ag_nameset_match(s, "localhost"));
	CHECK(!ag_nameset_match(s, "broadcasthost"));
	ag_nameset_free(s);
}

TEST(one_name_per_line_with_comments_blanks_crlf_and_bom)
{
	int bad;
	struct ag_nameset *s = hosts("\xef\xbb\xbf" "first.example\r\n"
				     "\r\n"
				     "   # indented comment\n"
				     "*.wild.example\n"
				     "trailing.dot.example.\n"
				     "last.example",
				     &bad);

	CHECK_EQ(bad, 0);
	CHECK_STR(errs, "");
	CHECK_EQ(ag_nameset_count(s), 4);
	CHECK(ag_nameset_match(s, "first.example"));
	CHECK(ag_nameset_match(s, "wild.example"));
	CHECK(ag_nameset_match(s, "a.trailing.dot.example"));
	CHECK(ag_nameset_match(s, "last.example"));
	ag_nameset_free(s);
}

TEST(bad_host_lines_are_reported_with_file_and_line_and_skipped)
{
	int bad;
	struct ag_nameset *s = hosts("good.example\n"
				     "||adblock.example^\n"
				     "two names.example\n"
				     "192.0.2.1\n"
				     "-dash.example\n"
				     "0.0.0.0 ok.example bad_label-.example\n"
				     "after.example\n",
				     &bad);

	CHECK_EQ(bad, 5);
	CHECK_STR(errs, "l.txt:2: \"||adblock.example^\" is not a host name\n"
			"l.txt:3: \"two\": one name per line, or an address and names\n"
			"l.txt:4: \"192.0.2.1\": an address with no name\n"
			"l.txt:5: \"-dash.example\" is not a host name\n"
			"l.txt:6: \"bad_label-.example\" is not a host name\n");
	CHECK(ag_nameset_match(s, "good.example"));
	CHECK(ag_nameset_match(s, "ok.example"));
	CHECK(ag_nameset_match(s, "after.example"));
	CHECK_EQ(ag_nameset_count(s), 3);
	ag_nameset_free(s);
}

TEST(a_file_of_garbage_reports_twenty_lines_then_a_count)
{
	char text[4000] = "";
	int bad;

	for (int i = 0; i < 100; i++)
		strcat(text, "no/slash\n");
	struct ag_nameset *s = hosts(text, &bad);

	CHECK_EQ(bad, 100);
	CHECK_EQ(nerrs, AG_LIST_ERR_LINES + 1);
	CHECK(strstr(errs, "l.txt: 80 more bad lines\n"));
	CHECK(strstr(errs, "\x01") == NULL);
	ag_nameset_free(s);
}

TEST(control_bytes_in_a_bad_line_are_escaped_in_the_report)
{
	int bad;
	struct ag_nameset *s = hosts("evil\x1b[31m.example\n", &bad);

	CHECK_EQ(bad, 1);
	CHECK(strchr(errs, '\x1b') == NULL);
	ag_nameset_free(s);
}

/* ---- address lists ------------------------------------------------------------------ */

TEST(address_list_takes_addresses_and_prefixes_of_both_families)
{
	int bad;
	struct ag_prefixset *s = addrs("# firehol style\n"
				       "192.0.2.7\n"
				       "198.51.100.0/24\n"
				       "10.0.0.0/8\n"
				       "10.1.0.0/16\n"
				       "2001:db8::/32\n"
				       "2001:db8:1::5 # one address\n"
				       "\n",
				       &bad);

	CHECK_EQ(bad, 0);
	CHECK_STR(errs, "");
	CHECK_EQ(ag_prefixset_count(s), 6);
	CHECK_EQ(match_addr(s, "192.0.2.7"), 32);
	CHECK_EQ(match_addr(s, "192.0.2.8"), -1);
	CHECK_EQ(match_addr(s, "198.51.100.200"), 24);
	CHECK_EQ(match_addr(s, "10.1.2.3"), 16);	/* the longest */
	CHECK_EQ(match_addr(s, "10.2.2.3"), 8);
	CHECK_EQ(match_addr(s, "2001:db8:1::5"), 128);
	CHECK_EQ(match_addr(s, "2001:db8:ffff::1"), 32);
	CHECK_EQ(match_addr(s, "2001:db9::1"), -1);
	/* an IPv4 list says nothing of IPv6 and the other way round */
	CHECK_EQ(match_addr(s, "::ffff:192.0.2.7"), -1);
	ag_prefixset_free(s);
}

TEST(bad_address_lines_are_reported_and_skipped)
{
	int bad;
	struct ag_prefixset *s = addrs("192.0.2.1\n"
				       "192.0.2.0/33\n"
				       "192.0.2.1/24\n"
				       "example.com\n"
				       "192.0.2.0/\n"
				       "192.0.2.0/2a\n"
				       "1.2.3.4 5.6.7.8\n"
				       "2001:db8::1/129\n"
				       "203.0.113.9\n",
				       &bad);

	CHECK_EQ(bad, 7);
	CHECK_STR(errs, "a.txt:2: \"192.0.2.0/33\" has a prefix length past the address\n"
			"a.txt:3: \"192.0.2.1/24\" has host bits set\n"
			"a.txt:4: \"example.com\" is not an address or prefix\n"
			"a.txt:5: \"192.0.2.0/\" has a bad prefix length\n"
			"a.txt:6: \"192.0.2.0/2a\" has a bad prefix length\n"
			"a.txt:7: \"1.2.3.4\": one address or prefix per line\n"
			"a.txt:8: \"2001:db8::1/129\" has a prefix length past the address\n");
	CHECK_EQ(ag_prefixset_count(s), 2);
	CHECK_EQ(match_addr(s, "203.0.113.9"), 32);
	ag_prefixset_free(s);
}

TEST(zero_length_prefix_holds_every_address_of_its_family)
{
	int bad;
	struct ag_prefixset *s = addrs("0.0.0.0/0\n", &bad);

	CHECK_EQ(bad, 0);
	CHECK_EQ(match_addr(s, "203.0.113.9"), 0);
	CHECK_EQ(match_addr(s, "2001:db8::1"), -1);
	ag_prefixset_free(s);
}

/* ---- files ------------------------------------------------------------------------------ */

static char tmpdir[] = "/tmp/aglistsXXXXXX";

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	if (tmpdir[sizeof(tmpdir) - 2] == 'X') {
		if (!mkdtemp(tmpdir))
			abort();
	} else if (mkdir(tmpdir, 0700) == -1 && errno != EEXIST) {
		abort();	/* a test before removed it */
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

TEST(list_file_writable_by_others_is_refused_unread)
{
	const char *p = write_file("open.txt", "a.example\n", 0666);
	char why[256];
	void *set;
	size_t bad;

	reset();
	CHECK_EQ(ag_list_load(p, AG_LIST_HOSTS, &set, &bad, collect, NULL, why, sizeof(why)),
		 -EPERM);
	CHECK(set == NULL);
	CHECK(strstr(why, "not writable by group or others"));
	unlink(p);
}

TEST(list_file_loads_and_counts_its_bad_lines)
{
	const char *p = write_file("ok.txt", "a.example\nbad line here\nb.example\n", 0644);
	char why[256];
	void *set;
	size_t bad;

	reset();
	CHECK_EQ(ag_list_load(p, AG_LIST_HOSTS, &set, &bad, collect, NULL, why, sizeof(why)), 0);
	CHECK_EQ(bad, 1);
	CHECK(strstr(errs, "ok.txt:2: "));
	CHECK_EQ(ag_nameset_count(set), 2);
	ag_list_free(AG_LIST_HOSTS, set);
	unlink(p);
	CHECK_EQ(ag_list_load(p, AG_LIST_HOSTS, &set, &bad, collect, NULL, why, sizeof(why)),
		 -ENOENT);
	rmdir(tmpdir);
}

/* ---- rules -------------------------------------------------------------------------------- */

TEST(rule_keys_host_list_and_remote_list_round_trip)
{
	const char *text = "{\"id\": \"bl\", \"action\": \"deny\", "
			   "\"host_list\": \"/etc/alegate/lists/ads.txt\", "
			   "\"remote_list\": \"/etc/alegate/lists/bad-ips.txt\"}";
	struct ag_rule *r = malloc(sizeof(*r)), *back = malloc(sizeof(*back));
	char err[1024];
	json_t *o;

	CHECK(r && back);
	CHECK_EQ(ag_rule_parse("bl.json", text, strlen(text), r, err, sizeof(err)), 0);
	CHECK(r->has & AG_RULE_HAS_HOST_LIST);
	CHECK(r->has & AG_RULE_HAS_REMOTE_LIST);
	CHECK_STR(r->host_list, "/etc/alegate/lists/ads.txt");
	CHECK_EQ(AG_RULE_HAS_HOST_LIST, 0x400);
	CHECK_EQ(AG_RULE_HAS_REMOTE_LIST, 0x800);
	o = ag_rule_to_json(r, 0);
	CHECK(o);
	CHECK_STR(json_string_value(json_object_get(o, "remote_list")),
		  "/etc/alegate/lists/bad-ips.txt");
	CHECK_EQ(ag_rule_from_json(o, 0, back, err, sizeof(err)), 0);
	CHECK(ag_rule_equal(r, back));
	CHECK_EQ(ag_rule_set_host_list(back, "/other"), 0);
	CHECK(!ag_rule_equal(r, back));
	json_decref(o);
	ag_rule_free(r);
	ag_rule_free(back);
	free(r);
	free(back);
}

TEST(rule_list_paths_must_be_absolute_and_not_mixed_with_a_single_value)
{
	static const struct {
		const char *json, *err;
	} cases[] = {
		{ "{\"action\": \"deny\", \"host_list\": \"ads.txt\"}",
		  "host_list: \"ads.txt\" is not an absolute path" },
		{ "{\"action\": \"deny\", \"remote_list\": 7}", "remote_list" },
		{ "{\"action\": \"deny\", \"host_list\": \"/a\\nb\"}", "control character" },
		{ "{\"action\": \"deny\", \"host_list\": \"/l\", \"host\": \"a.example\"}",
		  "host_list: a rule has host or host_list, not both" },
		{ "{\"action\": \"deny\", \"remote_list\": \"/l\", \"remote\": \"10.0.0.0/8\"}",
		  "remote_list: a rule has remote or remote_list, not both" },
	};
	struct ag_rule *r = malloc(sizeof(*r));

	CHECK(r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = json_loads(cases[i].json, 0, NULL);
		char err[1024] = "";

		CHECK(o);
		CHECK_EQ(ag_rule_from_json(o, AG_RULE_JSON_CONTROL, r, err, sizeof(err)), -EINVAL);
		CHECK_MSG(strstr(err, cases[i].err), "case %zu: %s", i, err);
		json_decref(o);
	}
	free(r);
}

/* ---- the engine's set condition ----------------------------------------------------- */

static bool in_names(const void *set, const ag_fixed_values *in)
{
	return in->remote_host && ag_nameset_match(set, in->remote_host);
}

static bool in_prefixes(const void *set, const ag_fixed_values *in)
{
	return ag_prefixset_match(set, in->ip_version, in->remote_addr.b) >= 0;
}

static ag_condition set_cond(ag_field field, const void *set,
			     bool (*fn)(const void *, const ag_fixed_values *))
{
	ag_condition c = { .field = field, .match = AG_MATCH_SET };

	c.v.set.set = set;
	c.v.set.contains = fn;
	return c;
}

TEST(engine_set_condition_blocks_listed_names_and_what_the_set_holds_now)
{
	ag_engine *e = fx_engine();
	int bad;
	struct ag_nameset *s = hosts("ads.example\n", &bad);
	ag_condition c[2] = { set_cond(AG_FIELD_REMOTE_HOST, s, in_names), fx_rport(443) };
	ag_fixed_values in = fx_tcp4(40000, 443, "/usr/bin/curl");
	ag_packet p = fx_pkt(1);

	CHECK(e);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 10, AG_ACTION_BLOCK,
			NULL, 0, c, 2));
	in.remote_host = "x.ads.example";
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_BLOCK);
	/* conditions on other fields still AND (S14) */
	in = fx_tcp4(40001, 80, "/usr/bin/curl");
	in.remote_host = "x.ads.example";
	p = fx_pkt(2);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	in = fx_tcp4(40002, 443, "/usr/bin/curl");
	in.remote_host = "example";
	p = fx_pkt(3);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	/* the engine reads the caller's set: a name added now counts */
	CHECK_EQ(ag_nameset_add(s, "example", 7), 1);
	in = fx_tcp4(40003, 443, "/usr/bin/curl");
	in.remote_host = "example";
	p = fx_pkt(4);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_BLOCK);
	ag_engine_free(e);
	ag_nameset_free(s);
}

TEST(engine_refuses_a_set_condition_without_a_test_or_on_another_field)
{
	ag_engine *e = fx_engine();
	ag_condition c = set_cond(AG_FIELD_REMOTE_ADDR, NULL, NULL);

	CHECK(e);
	CHECK_EQ(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 1, AG_ACTION_BLOCK,
			   NULL, 0, &c, 1), 0);
	c = set_cond(AG_FIELD_APP_PATH, "x", in_names);
	CHECK_EQ(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 1, AG_ACTION_BLOCK,
			   NULL, 0, &c, 1), 0);
	ag_engine_free(e);
}

/* ---- the fast path's descriptors -------------------------------------------------------- */

static int env_set(void *arg, const ag_condition *cond, struct ag_fp_prefix **out, size_t *n)
{
	const struct ag_prefixset *s = cond->v.set.set;
	uint8_t a[16] = { 203, 0, 113, 0 };

	if (arg)
		return -E2BIG;
	if (cond->field == AG_FIELD_REMOTE_HOST) {
		/* the address the daemon's cache gives a listed name */
		*out = calloc(1, sizeof(**out));
		(*out)->family = 4;
		(*out)->plen = 32;
		(*out)->addr.b[0] = 192, (*out)->addr.b[2] = 2, (*out)->addr.b[3] = 9;
		*n = 1;
		return 0;
	}
	if (ag_prefixset_count(s) != 1 || ag_prefixset_match(s, 4, a) != 24)
		return -ENOENT;
	*out = calloc(1, sizeof(**out));
	(*out)->family = 4;
	(*out)->plen = 24;
	memcpy((*out)->addr.b, a, 4);
	*n = 1;
	return 0;
}

TEST(fast_path_gets_lists_as_addresses_or_a_barrier_never_an_exact_rule_it_cannot_check)
{
	ag_engine *e = fx_engine();
	int bad;
	struct ag_prefixset *s = addrs("203.0.113.0/24\n", &bad);
	struct ag_nameset *h = hosts("ads.example\n", &bad);
	ag_condition c = set_cond(AG_FIELD_REMOTE_ADDR, s, in_prefixes);
	ag_condition hc = set_cond(AG_FIELD_REMOTE_HOST, h, in_names);
	struct ag_fp_env env = { .set = env_set, .sublayer = AG_SUBLAYER_DEFAULT };
	struct ag_fp_ruleset rs;

	CHECK(e);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 10, AG_ACTION_BLOCK,
			NULL, 0, &c, 1));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 5, AG_ACTION_BLOCK,
			NULL, 0, &hc, 1));
	CHECK_EQ(ag_fp_rules_from_engine(e, &env, &rs), 0);
	CHECK_EQ(rs.n, 2);
	CHECK(rs.rules[0].evaluable);
	CHECK(rs.rules[0].has & AG_FP_HAS_REMOTE);
	CHECK_EQ(rs.rules[0].nremote, 1);
	CHECK_EQ(rs.rules[0].remote[0].plen, 24);
	CHECK_EQ(rs.rules[0].remote[0].addr.b[0], 203);
	/* a host list: the addresses the cache gives its names, as a host rule */
	CHECK(rs.rules[1].evaluable);
	CHECK(rs.rules[1].has & AG_FP_HAS_HOST);
	CHECK_EQ(rs.rules[1].nhost_addrs, 1);
	CHECK_EQ(rs.rules[1].host_addrs[0].addr.b[3], 9);
	ag_fp_ruleset_free(&rs);
	/* lists the daemon does not hand out: barriers on any address */
	env.arg = (void *)1;
	CHECK_EQ(ag_fp_rules_from_engine(e, &env, &rs), 0);
	CHECK(!rs.rules[0].evaluable);
	CHECK(!(rs.rules[0].has & AG_FP_HAS_REMOTE));
	CHECK(!rs.rules[1].evaluable);
	ag_fp_ruleset_free(&rs);
	ag_engine_free(e);
	ag_prefixset_free(s);
	ag_nameset_free(h);
}

/* ---- compiling big address lists ----------------------------------------------------------- */

static uint64_t xs = 88172645463325252ull;

static uint32_t rnd32(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint32_t)(xs >> 11);
}

/* n random prefixes inside 10.0.0.0/8 of lengths 16, 24 or 32 */
static struct ag_fp_prefix *random_prefixes(size_t n)
{
	struct ag_fp_prefix *p = calloc(n, sizeof(*p));
	static const uint8_t lens[] = { 16, 24, 32, 32 };

	for (size_t i = 0; i < n && p; i++) {
		uint32_t v = rnd32();

		p[i].family = 4;
		p[i].plen = lens[rnd32() % 4];
		p[i].addr.b[0] = 10;
		p[i].addr.b[1] = (uint8_t)(v % 4);	/* few /16s: overlaps are common */
		p[i].addr.b[2] = p[i].plen > 16 ? (uint8_t)((v >> 8) % 8) : 0;
		p[i].addr.b[3] = p[i].plen > 24 ? (uint8_t)(v >> 16) : 0;
	}
	return p;
}

static bool holds(const struct ag_fp_prefix *p, const uint8_t *a)
{
	uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	uint32_t y = (uint32_t)p->addr.b[0] << 24 | (uint32_t)p->addr.b[1] << 16 |
		     (uint32_t)p->addr.b[2] << 8 | p->addr.b[3];
	uint32_t m = p->plen ? ~0u << (32 - p->plen) : 0;

	return (x & m) == (y & m);
}

TEST(address_list_rules_compile_to_the_decision_a_prefix_scan_gives)
{
	struct ag_fp_prefix *a = random_prefixes(600), *b = random_prefixes(600);
	struct ag_fp_rule rules[3];
	struct ag_fp_image *img = NULL;
	char err[256];

	CHECK(a && b);
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct ag_fp_rule){ .has = AG_FP_HAS_REMOTE, .evaluable = true,
					.verdict = AG_FP_DENY, .remote = a, .nremote = 600 };
	rules[1] = (struct ag_fp_rule){ .has = AG_FP_HAS_REMOTE | AG_FP_HAS_PORT, .evaluable = true,
					.verdict = AG_FP_ALLOW, .remote = b, .nremote = 600,
					.port_lo = 443, .port_hi = 443 };
	rules[2] = (struct ag_fp_rule){ .evaluable = true, .verdict = AG_FP_PASS };
	CHECK_EQ(ag_fp_compile(rules, 3, &img, err, sizeof(err)), 0);
	for (int i = 0; i < 20000; i++) {
		struct ag_fp_flow f = { .family = 4, .proto = 6, .uid = 1000 };
		uint32_t v = rnd32(), got_rule, want_rule = 2;
		enum ag_fp_verdict want = AG_FP_PASS, got;

		f.port = i % 2 ? 443 : 80;
		f.addr.b[0] = 10;
		f.addr.b[1] = (uint8_t)(v % 5);
		f.addr.b[2] = (uint8_t)((v >> 8) % 9);
		f.addr.b[3] = (uint8_t)(v >> 16);
		for (int r = 0; r < 2 && want_rule == 2; r++)
			for (size_t j = 0; j < 600; j++)
				if (holds(&rules[r].remote[j], f.addr.b) &&
				    (r == 0 || f.port == 443)) {
					want_rule = (uint32_t)r;
					want = rules[r].verdict;
					break;
				}
		got = ag_fp_image_eval(img, &f, &got_rule);
		CHECK_MSG(got == want && got_rule == want_rule,
			  "10.%u.%u.%u port %u: kernel %d by %u, scan %d by %u", f.addr.b[1],
			  f.addr.b[2], f.addr.b[3], f.port, got, got_rule, want, want_rule);
	}
	ag_fp_image_free(img);
	free(a);
	free(b);
}

TEST(hundred_thousand_address_list_compiles_in_under_two_seconds)
{
	size_t n = 100000;
	struct ag_fp_prefix *a = calloc(n, sizeof(*a));
	struct ag_fp_rule rule = { .has = AG_FP_HAS_REMOTE, .evaluable = true,
				   .verdict = AG_FP_DENY };
	struct ag_fp_image *img = NULL;
	struct ag_fp_image_info info;
	char err[256];
	struct timespec t0, t1;

	CHECK(a);
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)i * 2654435761u;

		a[i].family = 4;
		a[i].plen = 32;
		memcpy(a[i].addr.b, &v, 4);
	}
	rule.remote = a;
	rule.nremote = n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(ag_fp_compile(&rule, 1, &img, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ag_fp_image_info(img, &info);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("#   compiled %zu prefixes in %.3f s\n", n, s);
	CHECK_MSG(s < 2.0, "%.3f s", s);
	ag_fp_image_free(img);
	free(a);
}

TEST(line_with_two_bad_names_is_one_bad_line_and_keeps_its_good_name)
{
	int bad;
	struct ag_nameset *s = hosts("0.0.0.0 -a.example good.example b_.example-\n", &bad);

	CHECK_EQ(bad, 1);
	CHECK_EQ(nerrs, 1);
	CHECK_STR(errs, "l.txt:1: \"-a.example\" is not a host name\n");
	CHECK(ag_nameset_match(s, "good.example"));
	ag_nameset_free(s);
}

TEST(list_file_not_readable_by_others_is_refused_so_no_secret_reaches_the_log)
{
	const char *p = write_file("secret.txt", "root:$6$salt$hash:19000:0:99999:7:::\n", 0640);
	char why[256];
	void *set;
	size_t bad;

	reset();
	CHECK_EQ(ag_list_load(p, AG_LIST_HOSTS, &set, &bad, collect, NULL, why, sizeof(why)),
		 -EPERM);
	CHECK_STR(errs, "");
	CHECK(strstr(why, "not readable by others"));
	unlink(p);
	rmdir(tmpdir);
}
