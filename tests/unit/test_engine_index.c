/*
 * test_engine_index.c — the per-layer index must never change a decision.
 *
 * A reference arbiter here scans every filter the slow way (its own
 * condition matching, S13 for plain filters) and must agree with the engine
 * on the verdict and on the deciding filter, for thousands of random
 * filters and flows: one, two or three fields per filter, several values
 * of one field (OR), IPv4 and IPv6 prefixes of every length, port values
 * and ranges narrow and wide, disabled filters, three sublayers.  A second
 * test reads the index's candidate list itself and checks it against every
 * filter that matches: each one there, once, in evaluation order.
 */
#include <fnmatch.h>
#include <strings.h>

#include "check.h"
#include "engine/internal.h"
#include "engine_fixture.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *apps[] = { "/usr/bin/curl", "/usr/bin/wget", "/usr/lib/firefox/firefox",
			      "/opt/a/bin/x", "/opt/b/bin/x", "/usr/sbin/sshd", "/bin/ping" };
static const char *globs[] = { "/usr/bin/*", "/opt/*/bin/x", "/usr/lib/*", "*ss*" };
static const char *hosts[] = { "example.org", "www.example.org", "a.b.example.org",
			       "cdn.test", "api.cdn.test", "other.net", "WWW.Example.ORG.",
			       "Api.Cdn.Test." };
#define NHOSTS 8
static const char *suffixes[] = { "example.org", "b.example.org", "test", "cdn.test" };

#define NSUB 3
static const uint16_t sub_weight[NSUB] = { 0, 300, 100 }; /* ids 0 (default), 1, 2 */

struct rf {
	uint64_t id;
	uint32_t sub, weight;
	ag_action_type action;
	bool hard;
	bool disabled;
	unsigned layers;       /* 1 << the layers it applies at: CONNECT, RECV_ACCEPT or both */
	ag_condition c[6];
	size_t n;
};

static bool ref_cond(const ag_condition *c, const ag_fixed_values *in)
{
	switch (c->field) {
	case AG_FIELD_APP_PATH:
		if (!in->app_path)
			return false;
		return c->match == AG_MATCH_EQUAL ? strcmp(in->app_path, c->v.str) == 0
						  : fnmatch(c->v.str, in->app_path, 0) == 0;
	case AG_FIELD_REMOTE_HOST: {
		if (!in->remote_host)
			return false;
		char h[256];
		size_t hl = strlen(in->remote_host), sl = strlen(c->v.str);

		/* a name's trailing dot says nothing */
		memcpy(h, in->remote_host, hl + 1);
		if (hl && h[hl - 1] == '.')
			h[--hl] = 0;
		if (c->match == AG_MATCH_EQUAL)
			return strcasecmp(h, c->v.str) == 0;
		return hl > sl + 1 && h[hl - sl - 1] == '.' && strcasecmp(h + hl - sl, c->v.str) == 0;
	}
	case AG_FIELD_REMOTE_ADDR: {
		if (in->ip_version != c->v.addr.ip_version)
			return false;
		for (unsigned b = 0; b < c->v.addr.len; b++) {
			unsigned byte = b / 8, bit = 7 - b % 8;

			if (((in->remote_addr.b[byte] >> bit) & 1) != ((c->v.addr.bytes.b[byte] >> bit) & 1))
				return false;
		}
		return true;
	}
	case AG_FIELD_REMOTE_PORT:
	case AG_FIELD_SERVICE_PORT: {
		uint16_t p = c->field == AG_FIELD_SERVICE_PORT && in->direction == AG_DIR_IN
				     ? in->local_port : in->remote_port;

		if (c->match == AG_MATCH_EQUAL)
			return p == c->v.u32;
		return p >= c->v.range.lo && p <= c->v.range.hi;
	}
	case AG_FIELD_PROTOCOL:
		return in->protocol == c->v.u32;
	default:
		return false;
	}
}

static bool ref_match(const struct rf *f, const ag_fixed_values *in)
{
	for (size_t i = 0; i < f->n; i++) {
		bool any = false;

		/* OR over conditions of the same field, AND across fields */
		for (size_t j = 0; j < f->n; j++)
			if (f->c[j].field == f->c[i].field && ref_cond(&f->c[j], in))
				any = true;
		if (!any)
			return false;
	}
	return true;
}

static int ref_order(const void *a, const void *b)
{
	const struct rf *x = a, *y = b;

	if (sub_weight[x->sub] != sub_weight[y->sub])
		return sub_weight[x->sub] > sub_weight[y->sub] ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->id < y->id ? -1 : 1;
}

/* S13 for plain filters: per sublayer the first match; soft gives way; hard BLOCK stops;
 * a hard PERMIT is kept (there is no callout to veto it). */
static uint64_t ref_decide(const struct rf *sorted, size_t n, ag_layer layer,
			   const ag_fixed_values *in, ag_verdict *v)
{
	bool have = false, hard = false, decided = false;
	ag_action_type act = AG_ACTION_CONTINUE;
	uint64_t id = 0;
	uint32_t sub = UINT32_MAX;

	for (size_t i = 0; i < n; i++) {
		const struct rf *f = &sorted[i];

		if (f->sub != sub) {
			sub = f->sub;
			decided = false;
		}
		if (!(f->layers & (1u << layer)))
			continue;
		if (decided || f->disabled || !ref_match(f, in))
			continue;
		decided = true;
		if (!have || (!hard && (f->action != act || f->hard))) {
			act = f->action;
			hard = f->hard;
			id = f->id;
			have = true;
		}
		if (act == AG_ACTION_BLOCK && hard)
			break;
	}
	*v = act == AG_ACTION_BLOCK ? AG_VERDICT_BLOCK : AG_VERDICT_PERMIT;
	return id;
}

static void random_prefix(ag_condition *c)
{
	c->field = AG_FIELD_REMOTE_ADDR;
	c->match = AG_MATCH_PREFIX;
	if (rnd(4)) {
		c->v.addr.ip_version = 4;
		/* every coarse length the index files under: /0../7, /8../15, /16../32 */
		c->v.addr.len = (uint8_t)(rnd(5) ? 16 + rnd(17) : rnd(16));
		c->v.addr.bytes.b[0] = 198;
		c->v.addr.bytes.b[1] = (uint8_t)(rnd(8) ? 51 : 18);
		c->v.addr.bytes.b[2] = (uint8_t)rnd(4);
		c->v.addr.bytes.b[3] = (uint8_t)rnd(8);
	} else {
		c->v.addr.ip_version = 6;
		c->v.addr.len = (uint8_t)(rnd(4) ? 32 + rnd(97) : rnd(32));
		c->v.addr.bytes.b[0] = 0x20, c->v.addr.bytes.b[1] = 0x01;
		c->v.addr.bytes.b[2] = 0x0d, c->v.addr.bytes.b[3] = (uint8_t)(rnd(8) ? 0xb8 : 0xb9);
		c->v.addr.bytes.b[15] = (uint8_t)rnd(8);
	}
}

static void random_cond(ag_condition *c, unsigned kind)
{
	switch (kind) {
	case 0:
		c->field = AG_FIELD_APP_PATH;
		c->match = AG_MATCH_EQUAL;
		c->v.str = apps[rnd(7)];
		break;
	case 1:
		c->field = AG_FIELD_APP_PATH;
		c->match = AG_MATCH_GLOB;
		c->v.str = globs[rnd(4)];
		break;
	case 2:
		c->field = AG_FIELD_REMOTE_HOST;
		/* static strings: the structs are moved around below */
		if (rnd(2)) {
			c->match = AG_MATCH_EQUAL;
			c->v.str = hosts[rnd(6)];
		} else {
			c->match = AG_MATCH_SUFFIX;
			c->v.str = suffixes[rnd(4)];
		}
		break;
	case 3:
		random_prefix(c);
		break;
	case 4:
		c->field = rnd(3) ? AG_FIELD_REMOTE_PORT : AG_FIELD_SERVICE_PORT;
		if (rnd(2)) {
			c->match = AG_MATCH_EQUAL;
			c->v.u32 = 80 + rnd(8);
		} else {
			c->match = AG_MATCH_RANGE;
			c->v.range.lo = rnd(300);
			c->v.range.hi = c->v.range.lo + rnd(rnd(2) ? 100 : 20000);
			if (c->v.range.hi > 65535)
				c->v.range.hi = 65535;
		}
		break;
	case 5:
		c->field = AG_FIELD_PROTOCOL;
		c->match = AG_MATCH_EQUAL;
		c->v.u32 = rnd(2) ? 6 : 17;
		break;
	}
}

static void random_filter(struct rf *f)
{
	memset(f, 0, sizeof(*f));
	f->sub = rnd(NSUB);
	f->weight = rnd(8);
	f->action = rnd(3) ? AG_ACTION_PERMIT : AG_ACTION_BLOCK;
	f->hard = f->action == AG_ACTION_BLOCK || rnd(4) == 0;
	f->disabled = rnd(10) == 0;
	/* one index holds the filters of CONNECT, RECV_ACCEPT and both */
	f->layers = 1 + rnd(3);
	size_t n = 1 + rnd(3);

	for (size_t i = 0; i < n; i++) {
		unsigned kind = rnd(6);

		random_cond(&f->c[f->n++], kind);
		/* now and then a second value of the same field (OR) */
		if (kind != 5 && rnd(4) == 0)
			random_cond(&f->c[f->n++], kind == 1 ? 0 : kind);
	}
}

static void random_flow(ag_fixed_values *in, uint16_t lport)
{
	*in = fx_tcp4(lport, (uint16_t)(78 + rnd(12)), rnd(8) ? apps[rnd(7)] : NULL);
	if (rnd(5) == 0)
		in->remote_port = (uint16_t)rnd(400);
	if (rnd(3) == 0) {
		/* inbound: the service is the local port */
		in->direction = AG_DIR_IN;
		in->local_port = (uint16_t)(rnd(2) ? 78 + rnd(12) : rnd(400));
	}
	in->protocol = rnd(2) ? 6 : 17;
	in->remote_host = rnd(4) ? hosts[rnd(NHOSTS)] : NULL;
	if (rnd(4) == 0) {
		in->ip_version = 6;
		memset(&in->remote_addr, 0, sizeof(in->remote_addr));
		in->remote_addr.b[0] = 0x20, in->remote_addr.b[1] = 0x01;
		in->remote_addr.b[2] = 0x0d, in->remote_addr.b[3] = (uint8_t)(rnd(8) ? 0xb8 : 0xb9);
		in->remote_addr.b[15] = (uint8_t)rnd(8);
		return;
	}
	in->remote_addr.b[1] = (uint8_t)(rnd(8) ? 51 : 18);
	in->remote_addr.b[2] = (uint8_t)rnd(4);
	in->remote_addr.b[3] = (uint8_t)rnd(8);
}

static int run_round(size_t nfilters, size_t nflows)
{
	ag_engine *e = fx_engine();
	struct rf *fs = calloc(nfilters, sizeof(*fs));
	int mismatches = 0;

	if (!e || !fs)
		return -1;
	ag_sublayer_add(e, 1, sub_weight[1], "one");
	ag_sublayer_add(e, 2, sub_weight[2], "two");
	for (size_t i = 0; i < nfilters; i++) {
		random_filter(&fs[i]);
		uint32_t flags = fs[i].action == AG_ACTION_PERMIT && fs[i].hard
					 ? AG_FILTER_FLAG_CLEAR_ACTION_RIGHT : 0;

		if (fs[i].layers == 3)
			flags |= AG_FILTER_FLAG_ALSO_RECV_ACCEPT;
		fs[i].id = fx_filter(e, fs[i].layers == 2 ? AG_LAYER_ALE_AUTH_RECV_ACCEPT
							  : AG_LAYER_ALE_AUTH_CONNECT,
				     fs[i].sub, fs[i].weight, fs[i].action, NULL, flags, fs[i].c,
				     fs[i].n);
		if (!fs[i].id) {
			mismatches = -1;
			goto out;
		}
		if (fs[i].disabled)
			ag_filter_set_enabled(e, fs[i].id, false);
	}
	/* delete a few, so the index's removal path is exercised too */
	for (size_t i = 0; i < nfilters; i += 7) {
		ag_filter_del(e, fs[i].id);
		fs[i] = fs[--nfilters];
	}
	qsort(fs, nfilters, sizeof(*fs), ref_order);
	for (size_t k = 0; k < nflows; k++) {
		ag_fixed_values in;
		ag_flow_info info;
		ag_packet p = fx_pkt(k);
		ag_verdict want;

		random_flow(&in, (uint16_t)(1024 + k));
		ag_layer layer = rnd(2) ? AG_LAYER_ALE_AUTH_CONNECT : AG_LAYER_ALE_AUTH_RECV_ACCEPT;
		uint64_t want_id = ref_decide(fs, nfilters, layer, &in, &want);
		ag_verdict got = ag_classify(e, layer, &in, NULL, &p, NULL);

		ag_flow_lookup(e, &in, &info);
		if (got != want || info.filter_id != want_id) {
			if (mismatches < 5)
				printf("#   flow %zu: engine %s by %llu, reference %s by %llu\n", k,
				       ag_verdict_name(got), (unsigned long long)info.filter_id,
				       ag_verdict_name(want), (unsigned long long)want_id);
			mismatches++;
		}
		ag_flow_end(e, &in);
	}
out:
	free(fs);
	ag_engine_free(e);
	return mismatches;
}

TEST(index_agrees_with_a_full_scan_on_small_rulesets)
{
	for (int round = 0; round < 50; round++)
		CHECK_EQ(run_round(1 + rnd(30), 200), 0);
}

TEST(index_agrees_with_a_full_scan_on_large_rulesets)
{
	CHECK_EQ(run_round(3000, 3000), 0);
}

/* Every filter that matches a flow is among the index's candidates, once,
 * and the candidates come in evaluation order: what arbitration relies on. */
static int check_candidates(size_t nfilters, size_t nflows)
{
	ag_engine *e = fx_engine();
	struct rf f;
	int bad = 0;

	if (!e)
		return -1;
	ag_sublayer_add(e, 1, sub_weight[1], "one");
	ag_sublayer_add(e, 2, sub_weight[2], "two");
	for (size_t i = 0; i < nfilters; i++) {
		random_filter(&f);
		/* CONNECT, RECV_ACCEPT or both: the two share the index */
		unsigned k = rnd(3);
		uint64_t id = fx_filter(e, k == 1 ? AG_LAYER_ALE_AUTH_RECV_ACCEPT
						  : AG_LAYER_ALE_AUTH_CONNECT, f.sub, f.weight,
					f.action, NULL, k == 2 ? AG_FILTER_FLAG_ALSO_RECV_ACCEPT : 0,
					f.c, f.n);

		if (!id)
			return -1;
		if (i % 5 == 0)
			ag_filter_del(e, id);
	}
	const struct ag__index *ix = &e->index[AG_LAYER_ALE_AUTH_CONNECT];

	for (size_t k = 0; k < nflows && bad < 5; k++) {
		ag_fixed_values in;

		random_flow(&in, (uint16_t)(1024 + k));
		if (ag__index_candidates(e, ix, &in) < 0)
			return -1;
		for (uint32_t i = 1; i < e->ncand; i++) {
			const struct ag__ient *a = &e->cand[i - 1], *b = &e->cand[i];

			if (!ag__filter_before(a->f, b->f) || a->ord != ag__filter_ord(a->f) ||
			    a->id != a->f->id || a->sublayer != a->f->sublayer ||
			    a->layers != ag__filter_layers(a->f)) {
				printf("#   flow %zu: candidates %u and %u out of order or twice\n", k,
				       i - 1, i);
				bad++;
			}
		}
		for (uint32_t s = 0; s < e->filter_ids.cap; s++) {
			const struct ag_filter *x = e->filter_ids.slots[s];

			if (!x || &e->index[ag__index_of(x->layer)] != ix ||
			    !ag__filter_matches(x, &in))
				continue;
			uint32_t i = 0;

			while (i < e->ncand && e->cand[i].f != x)
				i++;
			if (i == e->ncand) {
				printf("#   flow %zu: filter %llu matches but is not a candidate\n", k,
				       (unsigned long long)x->id);
				bad++;
			}
		}
	}
	ag_engine_free(e);
	return bad;
}

TEST(index_candidates_hold_every_matching_filter_once_in_order)
{
	for (int round = 0; round < 20; round++)
		CHECK_EQ(check_candidates(1 + rnd(60), 300), 0);
	CHECK_EQ(check_candidates(5000, 2000), 0);
}
