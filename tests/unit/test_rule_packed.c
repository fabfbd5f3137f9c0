/*
 * test_rule_packed.c — the packed form of a rule (what the daemon keeps of
 * each): every field comes back from a view as it went in, for the empty
 * rule, a rule with every field, the largest rule; a view owns nothing;
 * and a rule of the common kind stays small.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "daemon/policy.h"
#include "rule/rule.h"

/* ---- helpers ------------------------------------------------------------- */

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Every field of @a and @b the same, in memory-only fields too; says which
 * differs.  What it compares is what a dropped field would show. */
static bool same_every_field(const struct ag_rule *a, const struct ag_rule *b)
{
#define SAME(cond, ...)                                                  \
	do {                                                             \
		if (!(cond)) {                                           \
			ck_fail(__FILE__, __LINE__, __VA_ARGS__);        \
			return false;                                    \
		}                                                        \
	} while (0)
	SAME(!strcmp(a->id, b->id), "id \"%s\" \"%s\"", a->id, b->id);
	SAME(a->enabled == b->enabled, "enabled");
	SAME(a->action == b->action, "action %d %d", a->action, b->action);
	SAME(a->weight == b->weight, "weight %d %d", a->weight, b->weight);
	SAME(a->has == b->has, "has %#x %#x", a->has, b->has);
	SAME(a->direction == b->direction, "direction");
	SAME(a->lifetime == b->lifetime, "lifetime");
	SAME(a->created == b->created, "created");
	SAME(a->expires_ns == b->expires_ns, "expires_ns");
	SAME(a->session == b->session, "session");
	SAME(!memcmp(a->sha256, b->sha256, sizeof(a->sha256)), "sha256");
	SAME(str_same(a->name, b->name), "name");
	SAME(str_same(a->callout, b->callout), "callout");
	SAME(str_same(a->source, b->source), "source");
	SAME(str_same(a->host_list, b->host_list), "host_list");
	SAME(str_same(a->remote_list, b->remote_list), "remote_list");
	SAME(a->n_app == b->n_app && a->n_user == b->n_user && a->n_remote == b->n_remote &&
	     a->n_host == b->n_host && a->n_port == b->n_port && a->n_proto == b->n_proto,
	     "value counts");
	for (unsigned i = 0; i < a->n_app; i++)
		SAME(str_same(a->app[i].path, b->app[i].path) && a->app[i].glob == b->app[i].glob,
		     "app %u", i);
	for (unsigned i = 0; i < a->n_user; i++)
		SAME(str_same(a->user[i].name, b->user[i].name) && a->user[i].uid == b->user[i].uid &&
		     a->user[i].uid_known == b->user[i].uid_known, "user %u", i);
	for (unsigned i = 0; i < a->n_remote; i++)
		SAME(a->remote[i].family == b->remote[i].family &&
		     a->remote[i].plen == b->remote[i].plen &&
		     !memcmp(a->remote[i].addr, b->remote[i].addr, 16), "remote %u", i);
	for (unsigned i = 0; i < a->n_host; i++)
		SAME(str_same(a->host[i].name, b->host[i].name) &&
		     a->host[i].wildcard == b->host[i].wildcard, "host %u", i);
	for (unsigned i = 0; i < a->n_port; i++)
		SAME(a->port[i].lo == b->port[i].lo && a->port[i].hi == b->port[i].hi, "port %u", i);
	SAME(!a->n_proto || !memcmp(a->proto, b->proto, a->n_proto), "proto");
	/* an empty condition has no array, in a view as anywhere */
	SAME(!b->n_app == !b->app && !b->n_user == !b->user && !b->n_remote == !b->remote &&
	     !b->n_host == !b->host && !b->n_port == !b->port && !b->n_proto == !b->proto,
	     "arrays of empty conditions");
	return true;
#undef SAME
}

/* The file form's and the control form's text of @r ("" when it has
 * none), the time left of a timed rule left out (it runs while we look). */
static char *json_text(const struct ag_rule *r)
{
	json_t *o = ag_rule_to_json(r, AG_RULE_JSON_CONTROL), *f = ag_rule_to_json(r, 0);
	json_t *both = json_pack("[OO]", o ? o : json_null(), f ? f : json_null());
	char *s;

	if (o)
		json_object_del(o, "expires_in_ms");
	s = both ? json_dumps(both, JSON_SORT_KEYS) : NULL;
	json_decref(o);
	json_decref(f);
	json_decref(both);
	return s;
}

/*
 * @r packed (in memory of exactly its size, to catch a write past it under
 * the sanitizers), and its view checked against @r.  Returns the packed
 * rule (free() it), or NULL when something differed.
 */
static struct ag_rule_packed *round_trip(const struct ag_rule *r)
{
#define EXPECT(cond)                                                     \
	do {                                                             \
		if (!(cond)) {                                           \
			ck_fail(__FILE__, __LINE__, "EXPECT(%s)", #cond); \
			ok = false;                                      \
		}                                                        \
	} while (0)
	size_t size = ag_rule_packed_size(r);
	struct ag_rule_view *view = malloc(sizeof(*view));
	struct ag_rule_packed *p = size ? malloc(size) : NULL;
	const struct ag_rule *v;
	char *ja, *jb;
	bool ok = true;

	EXPECT(size > 0 && p && view);
	if (!ok) {
		free(p);
		free(view);
		return NULL;
	}
	EXPECT(ag_rule_pack(r, p) == p);
	v = ag_rule_unpack(p, view);
	EXPECT(v == &view->rule && v->view);
	EXPECT(same_every_field(r, v));
	EXPECT(ag_rule_equal(r, v));
	/* (a view that lost a field may not even be written: only then) */
	ja = ok ? json_text(r) : NULL;
	jb = ok ? json_text(v) : NULL;
	EXPECT(!ok || (ja && jb && ja[0]));
	if (ja && jb && strcmp(ja, jb)) {
		ck_fail(__FILE__, __LINE__, "JSON \"%s\" vs \"%s\"", ja, jb);
		ok = false;
	}
	/* the header says what the view says */
	EXPECT(!strcmp(p->id, r->id) && p->action == r->action && p->enabled == r->enabled &&
	       p->lifetime == r->lifetime && p->has == r->has && p->weight == r->weight);
	EXPECT(ag_rule_packed_expires_ns(p) == r->expires_ns);
	EXPECT(ag_rule_packed_session(p) == r->session);
	free(ja);
	free(jb);
	free(view);
	if (!ok) {
		free(p);
		return NULL;
	}
	return p;
#undef EXPECT
}

/* A rule with every field set, several values of each condition. */
static void every_field(struct ag_rule *r)
{
	static const unsigned char a4[4] = { 10, 1, 0, 0 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	ag_rule_init(r);
	strcpy(r->id, "every-field_0123456789abcdefABCD");	/* 32 characters */
	r->enabled = false;
	r->action = AG_RULE_CALLOUT;
	r->weight = AG_RULE_WEIGHT_MIN;
	CHECK_EQ(ag_rule_set_name(r, "a name with spaces"), 0);
	CHECK_EQ(ag_rule_set_callout(r, "inspect.tls"), 0);
	CHECK_EQ(ag_rule_set_source(r, "/etc/alegate/rules.d/every-field.json"), 0);
	CHECK_EQ(ag_rule_set_host_list(r, "/etc/alegate/lists/hosts"), 0);
	CHECK_EQ(ag_rule_set_remote_list(r, "/etc/alegate/lists/addrs"), 0);
	CHECK_EQ(ag_rule_add_app(r, "/usr/bin/curl"), 0);
	CHECK_EQ(ag_rule_add_app(r, "/opt/*/bin/app[0-9]"), 0);	/* a glob */
	CHECK_EQ(ag_rule_add_app(r, "/usr/lib/firefox/firefox"), 0);
	CHECK_EQ(ag_rule_add_user_name(r, "daemon"), 0);
	CHECK_EQ(ag_rule_add_uid(r, 4242), 0);
	CHECK_EQ(ag_rule_add_user_name(r, "nobody"), 0);
	r->user[2].uid = 65534;	/* a name resolved */
	r->user[2].uid_known = true;
	CHECK_EQ(ag_rule_add_remote(r, AF_INET, a4, 16), 0);
	CHECK_EQ(ag_rule_add_remote(r, AF_INET6, a6, 32), 0);
	CHECK_EQ(ag_rule_add_host(r, "*.example.org"), 0);	/* a wildcard */
	CHECK_EQ(ag_rule_add_host(r, "example.net"), 0);
	CHECK_EQ(ag_rule_add_port(r, 443, 443), 0);
	CHECK_EQ(ag_rule_add_port(r, 20000, 20200), 0);
	CHECK_EQ(ag_rule_add_proto(r, 6), 0);
	CHECK_EQ(ag_rule_add_proto(r, 17), 0);
	r->has |= AG_RULE_HAS_DIRECTION | AG_RULE_HAS_CREATED | AG_RULE_HAS_SHA256;
	r->direction = AG_RULE_IN;
	r->created = 1765000000;
	for (unsigned i = 0; i < AG_RULE_SHA256_LEN; i++)
		r->sha256[i] = (unsigned char)(0xa0 + i);
	r->lifetime = AG_RULE_TIMED;
	r->expires_ns = 0x0123456789abcdefull;
	r->session = 77;
}

/* ---- round trips ----------------------------------------------------------- */

TEST(packed_rule_with_every_field_unpacks_to_the_same_rule)
{
	struct ag_rule r;

	every_field(&r);
	free(round_trip(&r));
	/* each lifetime, and the in-memory fields one at a time */
	for (int lt = AG_RULE_ALWAYS; lt <= AG_RULE_TIMED; lt++) {
		r.lifetime = (enum ag_rule_lifetime)lt;
		r.expires_ns = lt == AG_RULE_TIMED ? 123456789 : 0;
		r.session = lt == AG_RULE_UNTIL_QUIT ? 0xfedcba9876543210ull : 0;
		r.created = lt == AG_RULE_ALWAYS ? 0 : -5;
		r.enabled = lt % 2;
		r.action = (enum ag_rule_action)(lt + 1);
		r.weight = lt * 333;
		free(round_trip(&r));
	}
	ag_rule_free(&r);
}

TEST(empty_rule_packs_into_its_header_and_id)
{
	struct ag_rule r;
	struct ag_rule_packed *p;

	ag_rule_init(&r);
	/* no id at all (a control rule the daemon has not named yet) */
	p = round_trip(&r);
	CHECK(p && !p->id[0]);
	free(p);
	strcpy(r.id, "x");
	CHECK_EQ(ag_rule_packed_size(&r), offsetof(struct ag_rule_packed, id) + 2);
	p = round_trip(&r);
	CHECK(p && p->enabled && p->action == AG_RULE_DENY && !p->has);
	free(p);
}

TEST(largest_rule_round_trips_64_values_of_every_condition)
{
	struct ag_rule r;
	char s[AG_RULE_APP_MAX + 1];

	ag_rule_init(&r);
	memset(r.id, 'z', AG_RULE_ID_MAX);
	memset(s, 'n', AG_RULE_NAME_MAX);
	s[AG_RULE_NAME_MAX] = 0;
	CHECK_EQ(ag_rule_set_name(&r, s), 0);
	for (unsigned i = 0; i < AG_RULE_VALUES_MAX; i++) {
		unsigned char a[16] = { 0xfe, 0x80, (unsigned char)i };

		memset(s, 'a', AG_RULE_APP_MAX);
		s[0] = '/';
		snprintf(s + AG_RULE_APP_MAX - 8, 9, "%s%04u", i % 2 ? "*" : "/", i);
		CHECK_EQ(ag_rule_add_app(&r, s), 0);
		CHECK_EQ(i % 3 ? ag_rule_add_uid(&r, i) : ag_rule_add_user_name(&r, "root"), 0);
		CHECK_EQ(ag_rule_add_remote(&r, i % 2 ? AF_INET : AF_INET6, a, i % 2 ? 32 : 64), 0);
		snprintf(s, sizeof(s), "%sh%u.example.org", i % 2 ? "*." : "", i);
		CHECK_EQ(ag_rule_add_host(&r, s), 0);
		CHECK_EQ(ag_rule_add_port(&r, (uint16_t)i, (uint16_t)(i + 1000)), 0);
		CHECK_EQ(ag_rule_add_proto(&r, (uint8_t)i), 0);
	}
	CHECK_EQ(ag_rule_add_proto(&r, 1), -E2BIG);
	free(round_trip(&r));
	ag_rule_free(&r);
}

TEST(rules_parsed_from_files_round_trip)
{
	static const char *const texts[] = {
		"{\"id\": \"other-000001\", \"action\": \"allow\", \"app\": \"/opt/other/bin/app7\","
		" \"host\": \"h1.service1.example\"}",
		"{\"id\": \"p\", \"action\": \"deny\", \"port\": \"20000-20100\"}",
		"{\"id\": \"q\", \"action\": \"ask\", \"remote\": \"resolvers\", \"proto\": \"udp\","
		" \"direction\": \"out\", \"weight\": 7, \"created\": \"2026-12-07T10:00:00Z\"}",
		"{\"id\": \"s\", \"action\": \"reject\", \"enabled\": false, \"sha256\":"
		" \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
		" \"user\": [\"root\", 1000], \"remote\": [\"192.0.2.0/24\", \"2001:db8::/32\"]}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct ag_rule r;
		char file[32], err[AG_RULE_ERR_MAX];

		snprintf(file, sizeof(file), "/r/%s.json", i == 0 ? "other-000001" : i == 1 ? "p"
								: i == 2 ? "q" : "s");
		CHECK_MSG(ag_rule_parse(file, texts[i], strlen(texts[i]), &r, err, sizeof(err)) == 0,
			  "%s", err);
		free(round_trip(&r));
		ag_rule_free(&r);
	}
}

/* ---- what a packed rule and a view are -------------------------------------- */

TEST(packed_rule_holds_no_pointer_and_may_be_moved)
{
	struct ag_rule r;
	struct ag_rule_view *view = malloc(sizeof(*view));
	struct ag_rule_packed *p, *q;
	size_t size;

	CHECK(view != NULL);
	every_field(&r);
	p = round_trip(&r);
	CHECK(p != NULL);
	size = ag_rule_packed_size(&r);
	q = malloc(size);
	CHECK(q != NULL);
	memcpy(q, p, size);
	memset(p, 0xee, size);
	free(p);
	CHECK(same_every_field(&r, ag_rule_unpack(q, view)));
	/* every string of the view is inside the packed bytes */
	CHECK((char *)view->rule.name > (char *)q && view->rule.name < (char *)q + size);
	CHECK((char *)view->rule.host[1].name > (char *)q &&
	      view->rule.host[1].name < (char *)q + size);
	free(q);
	free(view);
	ag_rule_free(&r);
}

TEST(view_owns_nothing_free_clears_it_and_setters_copy_it_first)
{
	struct ag_rule r, copy;
	struct ag_rule_view *view = malloc(sizeof(*view));
	struct ag_rule_packed *p;
	unsigned char *before;
	size_t size;

	CHECK(view != NULL);
	every_field(&r);
	size = ag_rule_packed_size(&r);
	p = round_trip(&r);
	before = malloc(size);
	CHECK(p && before);
	memcpy(before, p, size);
	/* a copy is an ordinary rule */
	CHECK_EQ(ag_rule_copy(&copy, ag_rule_unpack(p, view)), 0);
	CHECK(!copy.view && same_every_field(&r, &copy));
	ag_rule_free(&copy);
	/* a setter on a (writable copy of a) view: allocations of its own */
	struct ag_rule w = *ag_rule_unpack(p, view);

	CHECK_EQ(ag_rule_set_name(&w, "renamed"), 0);
	CHECK(!w.view && !strcmp(w.name, "renamed") && !strcmp(w.host[0].name, "*.example.org"));
	CHECK((char *)w.app[0].path < (char *)p || (char *)w.app[0].path >= (char *)p + size);
	ag_rule_free(&w);
	/* freeing a view frees nothing of the packed rule */
	w = *ag_rule_unpack(p, view);
	ag_rule_free(&w);
	CHECK(!w.view && w.n_app == 0);
	CHECK(!memcmp(before, p, size));
	/* enabled written in place is what the next view says */
	p->enabled = true;
	CHECK(ag_rule_unpack(p, view)->enabled && !r.enabled);
	free(before);
	free(p);
	free(view);
	ag_rule_free(&r);
}

TEST(rule_with_more_values_than_a_view_holds_is_not_packed)
{
	struct ag_rule r;
	uint8_t protos[AG_RULE_VALUES_MAX + 1] = { 0 };

	ag_rule_init(&r);
	strcpy(r.id, "big");
	r.proto = protos;	/* made by hand: no setter makes 65 */
	r.n_proto = AG_RULE_VALUES_MAX + 1;
	CHECK_EQ(ag_rule_packed_size(&r), 0u);
	r.n_proto = AG_RULE_VALUES_MAX;
	CHECK(ag_rule_packed_size(&r) > 0);
}

/* What the daemon holds of each rule of the gen_rules kind (a program to a
 * host): docs/BENCHMARKS.md's "What a rule costs". */
TEST(daemon_rule_of_the_common_kind_is_one_allocation_of_128_bytes_at_most)
{
	static const char text[] = "{\"id\": \"other-012345\", \"action\": \"allow\","
				   " \"app\": \"/opt/other/bin/app1234\","
				   " \"host\": \"h12345.service45.example\"}";
	struct ag_rule r;

	CHECK_EQ(sizeof(struct agd_rule), 32u);
	CHECK_EQ(ag_rule_parse("/r/other-012345.json", text, strlen(text), &r, NULL, 0), 0);
	CHECK_EQ(ag_rule_set_source(&r, NULL), 0);	/* the daemon keeps none */
	size_t size = ag_rule_packed_size(&r);

	printf("#   %zu bytes packed, %zu with the daemon's own\n", size,
	       sizeof(struct agd_rule) + size);
	/* a malloc chunk of 128 at most */
	CHECK(sizeof(struct agd_rule) + size <= 120);
	ag_rule_free(&r);
}
