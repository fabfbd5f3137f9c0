/*
 * test_fastpath.c — the fast path's compiler and reference interpreter
 * (lib/linux/fastpath_compile.c, lib/linux/bpf/fp_shared.h) against the
 * engine.
 *
 * The main test builds the engine the way the daemon does (agd_policy_init,
 * agd_rule_add: daemon/policy.c's weights and conditions), reads the
 * descriptors off it (ag_fp_rules_from_engine), compiles them, and for
 * thousands of random flows checks two things:
 *   - sound: when the compiled rules decide, the engine decides the same,
 *     by the same filter;
 *   - complete: when the first rule that could match (by an oracle written
 *     here, straight from the rules, not from the compiler) is one the
 *     kernel can evaluate and it allows or denies, the kernel decides.
 * The test world gives both sides the same knowledge: a process's path and
 * its inode agree unless the test replaces the binary on purpose, and the
 * DNS names the engine sees are the ones the host callback hands out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"

#include "alegate/callouts.h"
#include "alegate/engine.h"
#include "daemon/alegated.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "linux/attrib.h"
#include "linux/exeid.h"
#include "linux/bpf/fp_shared.h"
#include "linux/fastpath.h"
#include "linux/fastpath_engine.h"

/* ---- random numbers, reproducible ---------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static bool chance(unsigned percent)
{
	return pick(100) < percent;
}

/* ---- the world: programs, names, addresses --------------------------------------------- */

static const char *const paths[] = {
	"/usr/bin/curl", "/usr/bin/wget", "/usr/bin/ssh", "/usr/lib/firefox/firefox",
	"/opt/app1/bin/x", "/opt/app2/bin/x", "/opt/app3/bin/y", "/usr/local/bin/tool",
	"/usr/sbin/ntpd", "/usr/bin/python3.11",
	/* these two have no identity (ag_fp_exe_resolve would refuse them) */
	"/snap/bin/thing", "/home/u/bin/script",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))
#define NRESOLVABLE 10

static const char *const globs[] = {
	"/usr/bin/*", "/opt/app?/bin/x", "/opt/*", "/usr/*/firefox*", "*", "/usr/bin/[cw]*",
};

static const char *const names[] = {
	"a.example.org", "b.example.org", "deep.c.example.org", "example.org", "www.test.net",
	"api.test.net", "cdn.other.com",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* Host conditions the test's DNS cache "cannot" give addresses for: barriers. */
static bool host_unresolved(const char *host)
{
	return strstr(host, "test.net") != NULL;
}

struct addr {
	uint8_t family;
	uint8_t a[16];
	int name;	/* index in names, -1 for none */
};

#define NADDR 48
static struct addr pool[NADDR];

static void world_init(void)
{
	for (int i = 0; i < NADDR; i++) {
		struct addr *p = &pool[i];

		memset(p, 0, sizeof(*p));
		if (i < 32) {
			static const uint8_t nets[4][3] = {
				{ 192, 0, 2 }, { 198, 51, 100 }, { 203, 0, 113 }, { 10, 1, 2 }
			};
			p->family = 4;
			memcpy(p->a, nets[i % 4], 3);
			p->a[3] = (uint8_t)(1 + i * 7);
		} else {
			static const uint8_t net[6] = { 0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e };

			p->family = 6;
			memcpy(p->a, net, 6);
			p->a[6] = (uint8_t)(i % 3);
			p->a[15] = (uint8_t)i;
		}
		/* Most addresses have a name, one each (the DNS cache's rule). */
		p->name = i % 5 == 4 ? -1 : (int)(i % NNAMES);
	}
}

static struct ag_fp_exe identity(size_t path)
{
	struct ag_fp_exe e = { .ino = 1000 + path, .dev = (8u << 20) | 1, .known = true };

	return e;
}

static int env_exe(void *arg, const char *path, struct ag_fp_exe *out)
{
	for (size_t i = 0; i < NRESOLVABLE; i++)
		if (!strcmp(paths[i], path)) {
			*out = identity(i);
			return 0;
		}
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}

static bool host_matches(const char *name, const char *host, bool suffix)
{
	size_t n = strlen(name), h = strlen(host);

	if (!suffix)
		return !strcmp(name, host);
	return n > h && name[n - h - 1] == '.' && !strcmp(name + n - h, host);
}

static int env_host(void *arg, const char *host, bool suffix, struct ag_fp_prefix **out, size_t *n)
{
	struct ag_fp_prefix *v;
	size_t k = 0;

	if (host_unresolved(host))
		return -ENOENT;
	v = malloc(NADDR * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < NADDR; i++) {
		if (pool[i].name < 0 || !host_matches(names[pool[i].name], host, suffix))
			continue;
		v[k].family = pool[i].family;
		v[k].plen = pool[i].family == 4 ? 32 : 128;
		v[k].addr = ag_addr_make(pool[i].family, pool[i].a);
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

/* ---- an engine built by daemon/policy.c ------------------------------------------------ */

static uint64_t fake_now = 1000000000ull;

static uint64_t clock_fn(void *arg)
{
	return fake_now;
}

static void no_release(void *a, const ag_flow_info *f, const ag_packet *p, size_t n) {}
static void no_drop(void *a, const ag_flow_info *f, const ag_packet *p, size_t n, bool r) {}
static void no_teardown(void *a, const ag_flow_info *f) {}

static int daemon_new(struct agd *d)
{
	ag_engine_config cfg;
	ag_dataplane_ops ops = { .release = no_release, .drop = no_drop,
				 .teardown = no_teardown };

	agd_log_init(true, LOG_ERR);
	memset(d, 0, sizeof(*d));
	ag_engine_config_default(&cfg);
	cfg.clock = clock_fn;
	cfg.max_flows = 1u << 20;
	cfg.max_pended = 1u << 20;
	cfg.max_pended_per_process = 1u << 20;
	d->engine = ag_engine_new(&cfg, &ops);
	if (!d->engine)
		return -ENOMEM;
	d->cfg.inbound = AG_CFG_INBOUND_ASK;
	return agd_policy_init(d);
}

static void daemon_free(struct agd *d)
{
	ag_engine_free(d->engine);
	agd_policy_free(d);
	/* made by the policy when a rule names a program, as in the daemon */
	ag_exeid_free(d->dp.exeid);
}

/* Percent of conditions given several values (OR); 0 keeps the old worlds. */
static unsigned multi_pct;

/* How many values a condition gets: 1, or 2..4 for multi_pct of them. */
static unsigned nvalues(void)
{
	return multi_pct && chance(multi_pct) ? 2 + pick(3) : 1;
}

static void random_prefix(struct ag_rule *r)
{
	const struct addr *a = &pool[pick(NADDR)];
	static const unsigned v4len[] = { 0, 8, 16, 24, 24, 30, 32, 32 };
	static const unsigned v6len[] = { 0, 32, 48, 56, 64, 120, 128, 128 };
	unsigned plen = a->family == 4 ? v4len[pick(8)] : v6len[pick(8)];
	uint8_t addr[16];

	memcpy(addr, a->a, 16);
	/* host bits 0, as the rule parser leaves them */
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = i * 8;

		if (bits >= plen)
			addr[i] = 0;
		else if (plen - bits < 8)
			addr[i] &= (uint8_t)(0xff << (8 - (plen - bits)));
	}
	ag_rule_add_remote(r, a->family == 4 ? AF_INET : AF_INET6, addr, plen);
}

static void random_rule(struct ag_rule *r)
{
	static const uint16_t ports[][2] = { { 22, 22 }, { 53, 53 }, { 80, 80 }, { 443, 443 },
					     { 8080, 8080 }, { 1, 1023 }, { 1024, 65535 },
					     { 80, 443 } };
	unsigned a = pick(100), n;

	ag_rule_init(r);
	r->lifetime = AG_RULE_UNTIL_RESTART;
	r->action = a < 40 ? AG_RULE_ALLOW : a < 75 ? AG_RULE_DENY : a < 82 ? AG_RULE_REJECT
								     : AG_RULE_ASK;
	if (chance(30)) {
		r->has |= AG_RULE_HAS_DIRECTION;
		r->direction = chance(70) ? AG_RULE_OUT : AG_RULE_IN;
	}
	if (chance(50)) {
		n = nvalues();
		for (unsigned k = 0; k < n; k++)
			ag_rule_add_app(r, chance(75) ? paths[pick(NPATHS)]
					: globs[pick(sizeof(globs) / sizeof(globs[0]))]);
	}
	if (chance(15)) {
		static const uint32_t uids[] = { 0, 1000, 1001 };

		n = nvalues();
		for (unsigned k = 0; k < n; k++)
			ag_rule_add_uid(r, uids[pick(3)]);
	}
	bool host = chance(25);

	if (!host || chance(25))
		if (chance(40)) {
			n = nvalues();
			for (unsigned k = 0; k < n; k++)
				random_prefix(r);
		}
	if (host) {
		n = nvalues();
		for (unsigned k = 0; k < n; k++) {
			char h[64];

			if (chance(40)) {
				static const char *const sfx[] = { "example.org", "c.example.org",
								   "test.net" };

				snprintf(h, sizeof(h), "*.%s", sfx[pick(3)]);
			} else {
				snprintf(h, sizeof(h), "%s", names[pick(NNAMES)]);
			}
			ag_rule_add_host(r, h);
		}
	}
	if (chance(40)) {
		n = nvalues();
		for (unsigned k = 0; k < n; k++) {
			unsigned p = pick(8);

			ag_rule_add_port(r, ports[p][0], ports[p][1]);
		}
	}
	if (chance(40)) {
		n = nvalues();
		for (unsigned k = 0; k < n; k++)
			ag_rule_add_proto(r, chance(90) ? (chance(50) ? 6 : 17) : 1);
	}
	if (chance(35))
		r->weight = (int)pick(7) - 3;
	else if (chance(3) && (r->has & (AG_RULE_HAS_PORT | AG_RULE_HAS_REMOTE)))
		r->weight = chance(50) ? AG_RULE_WEIGHT_MAX : AG_RULE_WEIGHT_MIN;
	if (chance(10)) {
		r->lifetime = AG_RULE_TIMED;
		r->expires_ns = fake_now + (1 + pick(100)) * 1000000000ull;
	}
}

/* ---- the oracle: what must the kernel decide?  Straight from the rules ----------------- */

struct flow {
	int path;		/* index in paths, -1 unknown path, -2 no executable */
	struct ag_fp_exe exe;	/* what the kernel sees */
	uint32_t uid;
	uint8_t family, proto;
	uint16_t port, lport;
	uint8_t addr[16];
	int name;
};

enum { NO, MAYBE, YES };

struct oracle {
	struct agd *d;
	const struct flow *f;
	const char *path;
	bool kernel_knows_exe;	/* the exe's inode is one an exact rule names */
	int first;		/* status of the first rule that is not NO */
	const struct ag_rule *rule;	/* in view */
	struct ag_rule_view view;
	uint64_t filter;
};

static bool prefix_contains(const struct ag_rule_remote *v, const struct flow *f)
{
	unsigned bytes = v->plen / 8, bits = v->plen % 8;

	if ((v->family == AF_INET ? 4 : 6) != f->family)
		return false;
	if (memcmp(v->addr, f->addr, bytes))
		return false;
	return !bits || ((v->addr[bytes] ^ f->addr[bytes]) & (0xff << (8 - bits))) == 0;
}

/* YES, MAYBE or NO for one value; a condition is the best of its values. */
static int host_status(const struct ag_rule_host *h, const struct flow *f)
{
	if (host_unresolved(h->name))
		return MAYBE;
	if (f->name < 0)
		return NO;
	/* the "*." of a wildcard stays out, as the engine's condition has it */
	return host_matches(names[f->name], h->wildcard ? h->name + 2 : h->name, h->wildcard)
		       ? YES : NO;
}

/*
 * A condition on program, user, port or protocol with several values is
 * left to user space: the kernel ignores it and treats the rule as a
 * barrier.  For the oracle such a rule is MAYBE wherever the other
 * conditions hold; the kernel must then fall through, never decide.
 */
static bool barrier_field(unsigned nvals, bool ok, int *st)
{
	if (nvals > 1) {
		*st = MAYBE;
		return true;
	}
	return ok;
}

static int rule_status(const struct oracle *o, const struct ag_rule *r)
{
	const struct flow *f = o->f;
	int st = YES, best;
	bool ok;

	ok = !r->n_proto;
	for (unsigned i = 0; i < r->n_proto; i++)
		ok |= r->proto[i] == f->proto;
	if (!barrier_field(r->n_proto, ok, &st))
		return NO;
	ok = !r->n_port;
	for (unsigned i = 0; i < r->n_port; i++)
		ok |= f->port >= r->port[i].lo && f->port <= r->port[i].hi;
	if (!barrier_field(r->n_port, ok, &st))
		return NO;
	ok = !r->n_user;
	for (unsigned i = 0; i < r->n_user; i++)
		ok |= r->user[i].uid == f->uid;
	if (!barrier_field(r->n_user, ok, &st))
		return NO;
	ok = !r->n_remote;
	for (unsigned i = 0; i < r->n_remote; i++)
		ok |= prefix_contains(&r->remote[i], f);
	if (!ok)
		return NO;
	if (r->n_host) {
		/* one name the kernel has no addresses for: the whole rule is a barrier */
		best = NO;
		for (unsigned i = 0; i < r->n_host; i++) {
			int h = host_status(&r->host[i], f);

			best = h > best ? h : best;
		}
		for (unsigned i = 0; i < r->n_host; i++)
			if (host_status(&r->host[i], f) == MAYBE)
				best = MAYBE;
		if (best == NO)
			return NO;
		if (best == MAYBE)
			st = MAYBE;
	}
	if (r->n_app > 1) {
		st = MAYBE;
	} else if (r->n_app) {
		if (f->path == -2)
			return NO;	/* no executable: no app rule matches, both sides */
		if (!o->kernel_knows_exe) {
			st = MAYBE;
		} else {
			bool m = r->app[0].glob ? fnmatch(r->app[0].path, o->path, 0) == 0
						: !strcmp(r->app[0].path, o->path);
			if (!m)
				return NO;
		}
	}
	return st;
}

static int oracle_filter(const ag_filter *flt, void *arg)
{
	struct oracle *o = arg;
	ag_filter_spec s;
	const struct ag_rule *r;
	int st;

	ag_filter_describe(flt, &s);
	if (s.layer != AG_LAYER_ALE_AUTH_CONNECT || (s.flags & AG_FILTER_FLAG_DISABLED))
		return 0;
	if (!s.context) {	/* the catch-all: ask */
		o->first = YES;
		o->rule = NULL;
		o->filter = s.id;
		return 1;
	}
	r = agd_rule_view(agd_rule_by_handle(o->d, s.context), &o->view);
	st = rule_status(o, r);
	if (st == NO)
		return 0;
	o->first = st;
	o->rule = r;
	o->filter = s.id;
	return 1;
}

/* True when the kernel must decide this flow (and not fall through). */
static bool must_decide(struct oracle *o)
{
	o->first = NO;
	o->rule = NULL;
	ag_filter_dump(o->d->engine, oracle_filter, o);
	if (o->first != YES || !o->rule || o->rule->action == AG_RULE_ASK)
		return false;
	if (o->rule->lifetime == AG_RULE_TIMED && fake_now >= o->rule->expires_ns)
		return false;
	return true;
}

/* ---- one random world ------------------------------------------------------------------ */

static void random_flow(struct flow *f, uint16_t lport)
{
	unsigned k = pick(100);

	memset(f, 0, sizeof(*f));
	f->lport = lport;
	if (k < 80) {
		f->path = (int)pick(NPATHS);
		/* A resolvable path is known to the kernel by its inode, unless
		 * the binary was replaced since (a new inode at the same path). */
		if (f->path < NRESOLVABLE && chance(85))
			f->exe = identity((size_t)f->path);
		else
			f->exe = (struct ag_fp_exe){ .ino = 500000 + pick(1000), .dev = 9, .known = true };
	} else if (k < 90) {
		f->path = -1;
		f->exe = (struct ag_fp_exe){ .ino = 600000 + pick(1000), .dev = 9, .known = true };
	} else {
		f->path = -2;
	}
	static const uint32_t uids[] = { 0, 1000, 1001, 65534 };

	f->uid = uids[pick(4)];
	f->proto = chance(60) ? 6 : 17;
	if (chance(75)) {
		static const uint16_t ports[] = { 22, 53, 80, 443, 8080, 1023, 1024 };

		f->port = ports[pick(7)];
	} else {
		f->port = (uint16_t)(1 + pick(65535));
	}
	const struct addr *a = &pool[pick(NADDR)];

	f->family = a->family;
	memcpy(f->addr, a->a, 16);
	f->name = a->name;
	if (chance(15)) {
		/* Somewhere else in the same network: the name of that address,
		 * if the world has one (one name per address, both sides). */
		f->addr[f->family == 4 ? 3 : 15] ^= (uint8_t)(1 + pick(200));
		f->name = -1;
		for (int i = 0; i < NADDR; i++)
			if (pool[i].family == f->family && !memcmp(pool[i].a, f->addr, 16))
				f->name = pool[i].name;
	}
}

struct stats {
	unsigned flows, decided, allowed, denied, passed, must, engine_pended;
};

static const char *flow_path(const struct flow *f, char *buf, size_t len)
{
	if (f->path >= 0)
		return paths[f->path];
	if (f->path == -1) {
		snprintf(buf, len, "/usr/bin/unknown%llu", (unsigned long long)f->exe.ino);
		return buf;
	}
	return NULL;
}

/*
 * Build a daemon with nrules random rules, compile, and check nflows flows.
 * Returns nothing: CHECK failures end the calling test through ck_cur_failed.
 */
static void run_world(uint64_t seed, unsigned nrules, unsigned nflows, struct stats *st)
{
	struct agd d;
	struct ag_fp_env env = { .exe = env_exe, .host = env_host, .sublayer = AGD_SUBLAYER_RULES };
	struct ag_fp_ruleset rs;
	struct ag_fp_image *img = NULL;
	struct ag_fp_image_info info;
	char err[AG_FP_ERR_MAX];
	char e[AGD_ERR_MAX];
	int r;

	rng_state = seed;
	world_init();
	memset(st, 0, sizeof(*st));
	fake_now = 1000000000ull;
	CHECK_EQ(daemon_new(&d), 0);
	for (unsigned i = 0; i < nrules; i++) {
		struct ag_rule rule;

		random_rule(&rule);
		r = agd_rule_add(&d, &rule, e, sizeof(e));
		CHECK_MSG(r == 0, "rule %u refused: %s", i, e);
		if (chance(8))
			CHECK_EQ(agd_rule_set_enabled(&d, rule.id, false), 0);
		ag_rule_free(&rule);
	}
	CHECK_EQ(ag_fp_rules_from_engine(d.engine, &env, &rs), 0);
	r = ag_fp_compile(rs.rules, rs.n, &img, err, sizeof(err));
	CHECK_MSG(r == 0, "compile: %s", err);
	ag_fp_image_info(img, &info);
	printf("# seed %llu: %u rules -> %zu descriptors (%zu barriers), %zu apps, %zu nodes, "
	       "%zu entries, %zu truncated\n",
	       (unsigned long long)seed, nrules, rs.n, rs.barriers, info.apps, info.nodes,
	       info.entries, info.truncated);

	/* Half-way through, time passes: some timed rules are past their
	 * deadline for the kernel (the engine still holds them until
	 * ag_engine_advance, which is never called here). */
	for (unsigned i = 0; i < nflows; i++) {
		struct flow f;
		struct ag_fp_flow ff;
		ag_fixed_values in;
		ag_metadata meta = { 0 };
		ag_packet pkt = { .token = i + 1, .len = 60 };
		ag_flow_info fi;
		uint64_t handle = 0;
		uint32_t idx;
		char buf[64];
		struct oracle o = { .d = &d };

		if (i == nflows / 2)
			fake_now += 50 * 1000000000ull;
		random_flow(&f, (uint16_t)(1024 + i % 60000));

		memset(&ff, 0, sizeof(ff));
		ff.exe = f.exe;
		ff.uid = f.uid;
		ff.family = f.family;
		ff.proto = f.proto;
		ff.port = f.port;
		ff.addr = ag_addr_make(f.family, f.addr);
		ff.now_ns = fake_now;
		enum ag_fp_verdict kv = ag_fp_image_eval(img, &ff, &idx);

		memset(&in, 0, sizeof(in));
		in.ip_version = f.family;
		in.protocol = f.proto;
		in.direction = AG_DIR_OUT;
		memcpy(in.remote_addr.b, f.addr, 16);
		in.local_addr.b[0] = f.family == 4 ? 192 : 0x20;
		in.local_addr.b[1] = (uint8_t)(i >> 16);
		in.local_addr.b[2] = (uint8_t)(i >> 8);
		in.local_addr.b[3] = (uint8_t)i;
		in.local_port = f.lport;
		in.remote_port = f.port;
		in.uid = f.uid;
		in.gid = f.uid;
		in.app_path = flow_path(&f, buf, sizeof(buf));
		in.remote_host = f.name >= 0 ? names[f.name] : NULL;
		ag_verdict ev = ag_classify(d.engine, AG_LAYER_ALE_AUTH_CONNECT, &in, &meta, &pkt,
					    &handle);

		CHECK_EQ(ag_flow_get(d.engine, handle, &fi), 0);
		st->flows++;
		if (ev == AG_VERDICT_HOLD)
			st->engine_pended++;

		o.f = &f;
		o.path = in.app_path;
		o.kernel_knows_exe = false;
		if (f.path >= 0 && f.path < NRESOLVABLE && f.exe.ino == identity((size_t)f.path).ino)
			for (size_t k = 0; k < rs.n; k++)
				if ((rs.rules[k].has & AG_FP_HAS_APP) && !rs.rules[k].app_glob &&
				    !strcmp(rs.rules[k].app, paths[f.path]))
					o.kernel_knows_exe = true;
		bool must = must_decide(&o);

		if (must)
			st->must++;
		if (kv == AG_FP_PASS) {
			st->passed++;
			/* With several values per field, only safety is checked:
			 * the kernel leaves more to user space than the oracle
			 * models. */
			CHECK_MSG(!must || info.truncated || multi_pct,
				  "flow %u fell through, but filter %llu (%s) decides it and nothing "
				  "before it is a barrier (path %s port %u proto %u)",
				  i, (unsigned long long)o.filter, o.rule ? o.rule->id : "catch-all",
				  in.app_path ? in.app_path : "-", f.port, f.proto);
			continue;
		}
		st->decided++;
		if (kv == AG_FP_ALLOW)
			st->allowed++;
		else
			st->denied++;
		CHECK_MSG(idx < rs.n, "flow %u: decision without a rule index (%u)", i, idx);
		CHECK_MSG((kv == AG_FP_ALLOW && ev == AG_VERDICT_PERMIT) ||
				  (kv == AG_FP_DENY &&
				   (ev == AG_VERDICT_BLOCK || ev == AG_VERDICT_REJECT)),
			  "flow %u: kernel %s by descriptor %u (filter %llu), engine %s by filter "
			  "%llu (path %s uid %u port %u proto %u host %s)",
			  i, ag_fp_verdict_name(kv), idx, (unsigned long long)rs.rules[idx].id,
			  ag_verdict_name(ev), (unsigned long long)fi.filter_id,
			  in.app_path ? in.app_path : "-", f.uid, f.port, f.proto,
			  in.remote_host ? in.remote_host : "-");
		CHECK_MSG(rs.rules[idx].id == fi.filter_id,
			  "flow %u: kernel decided by filter %llu, engine by filter %llu", i,
			  (unsigned long long)rs.rules[idx].id, (unsigned long long)fi.filter_id);
	}
	printf("# seed %llu: %u flows: kernel decided %u (allow %u, deny %u), fell through %u; "
	       "oracle required %u; engine pended %u\n",
	       (unsigned long long)seed, st->flows, st->decided, st->allowed, st->denied,
	       st->passed, st->must, st->engine_pended);
	ag_fp_image_free(img);
	ag_fp_ruleset_free(&rs);
	daemon_free(&d);
}

/* Several worlds, each with hundreds of rules; AG_FP_SEED=N adds one. */
TEST(kernel_decisions_agree_with_the_engine_on_random_rulesets)
{
	static const uint64_t seeds[] = { 0x9e3779b97f4a7c15ull, 42, 7777, 0xdeadbeefcafeull,
					  31337, 0x5eed };
	struct stats st, sum = { 0 };
	const char *extra = getenv("AG_FP_SEED");
	size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);

	for (size_t s = 0; s <= nseeds; s++) {
		uint64_t seed = s < nseeds ? seeds[s] : (extra ? strtoull(extra, NULL, 0) : 0);

		if (!seed)
			continue;
		run_world(seed, 300, 20000, &st);
		if (ck_cur_failed)
			return;
		sum.flows += st.flows;
		sum.decided += st.decided;
		sum.must += st.must;
		sum.allowed += st.allowed;
		sum.denied += st.denied;
	}
	/* A test that decided nothing, or never had to, would prove nothing. */
	CHECK(sum.decided > sum.flows / 10);
	CHECK(sum.allowed > 100 && sum.denied > 100);
	CHECK(sum.must > 100);
	CHECK(sum.decided >= sum.must);
}

/*
 * Rules with several values on a field (OR within it, S14): the kernel
 * decides a flow only where the engine's first match says so, never for a
 * flow outside every value (a rule for ports 80 and 443 is no rule for
 * 8080, nor for 80-443).
 */
TEST(several_values_on_a_field_never_make_the_kernel_decide_more_than_the_engine)
{
	static const uint64_t seeds[] = { 0x6d756c7469ull, 99, 0xfeedull, 123456789 };
	struct stats st, sum = { 0 };

	multi_pct = 20;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		run_world(seeds[s], 300, 20000, &st);
		if (ck_cur_failed)
			break;
		sum.decided += st.decided;
		sum.allowed += st.allowed;
	}
	multi_pct = 0;
	/* a kernel that decided nothing would pass trivially */
	CHECK(sum.allowed > 100 && sum.decided > 1000);
}

/* ---- small, hand-made cases: each one a property, each able to fail ---------------------- */

static struct ag_fp_rule rule_any(enum ag_fp_verdict v)
{
	struct ag_fp_rule r;

	memset(&r, 0, sizeof(r));
	r.evaluable = true;
	r.verdict = v;
	return r;
}

static struct ag_fp_prefix pfx4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	struct ag_fp_prefix p = { .family = 4, .plen = len, .addr.b = { a, b, c, d } };

	return p;
}

static struct ag_fp_flow flow4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct ag_fp_flow f;

	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = 6;
	f.port = port;
	f.addr.b[0] = a;
	f.addr.b[1] = b;
	f.addr.b[2] = c;
	f.addr.b[3] = d;
	f.uid = 1000;
	return f;
}

static enum ag_fp_verdict eval(const struct ag_fp_rule *rules, size_t n, const struct ag_fp_flow *f,
			       uint32_t *idx)
{
	struct ag_fp_image *img;
	char err[AG_FP_ERR_MAX];
	enum ag_fp_verdict v;

	if (ag_fp_compile(rules, n, &img, err, sizeof(err))) {
		printf("#   compile: %s\n", err);
		return (enum ag_fp_verdict)-1;
	}
	v = ag_fp_image_eval(img, f, idx);
	ag_fp_image_free(img);
	return v;
}

TEST(nested_prefixes_the_first_rule_in_order_wins_not_the_longest_prefix)
{
	struct ag_fp_prefix p8 = pfx4(10, 0, 0, 0, 8), p16 = pfx4(10, 1, 0, 0, 16),
			    p24 = pfx4(10, 1, 2, 0, 24);
	struct ag_fp_rule r[3] = { rule_any(AG_FP_ALLOW), rule_any(AG_FP_DENY),
				   rule_any(AG_FP_ALLOW) };
	struct ag_fp_flow f;
	uint32_t idx;

	r[0].has = AG_FP_HAS_REMOTE | AG_FP_HAS_PORT;
	r[0].remote = &p8;
	r[0].nremote = 1;
	r[0].port_lo = r[0].port_hi = 80;
	r[1].has = AG_FP_HAS_REMOTE;
	r[1].remote = &p16;
	r[1].nremote = 1;
	r[2].has = AG_FP_HAS_REMOTE;
	r[2].remote = &p24;
	r[2].nremote = 1;

	f = flow4(10, 1, 2, 3, 80);
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_ALLOW);
	CHECK_EQ(idx, 0);
	f = flow4(10, 1, 2, 3, 22);	/* /16 deny comes before /24 allow */
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_DENY);
	CHECK_EQ(idx, 1);
	f = flow4(10, 2, 0, 1, 22);
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_PASS);
	CHECK_EQ(idx, FP_RULE_NONE);
	f = flow4(11, 1, 2, 3, 80);
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_PASS);
}

TEST(a_barrier_in_front_makes_the_kernel_fall_through_only_where_it_could_match)
{
	struct ag_fp_rule r[2] = { rule_any(AG_FP_DENY), rule_any(AG_FP_ALLOW) };
	struct ag_fp_flow f;
	uint32_t idx;

	r[0].evaluable = false;	/* e.g. a host rule the DNS cache cannot resolve */
	r[0].has = AG_FP_HAS_PORT | AG_FP_HAS_HOST;
	r[0].port_lo = r[0].port_hi = 443;
	f = flow4(192, 0, 2, 1, 443);
	CHECK_EQ(eval(r, 2, &f, &idx), AG_FP_PASS);
	CHECK_EQ(idx, 0);
	f = flow4(192, 0, 2, 1, 80);
	CHECK_EQ(eval(r, 2, &f, &idx), AG_FP_ALLOW);
	CHECK_EQ(idx, 1);
	/* An `ask` rule is evaluable and falls through all the same. */
	r[0].has = AG_FP_HAS_PORT;
	r[0].evaluable = true;
	r[0].verdict = AG_FP_PASS;
	f = flow4(192, 0, 2, 1, 443);
	CHECK_EQ(eval(r, 2, &f, &idx), AG_FP_PASS);
}

TEST(an_executable_no_rule_names_treats_application_rules_as_barriers)
{
	struct ag_fp_exe a = { .ino = 77, .dev = 5, .known = true };
	struct ag_fp_rule r[3] = { rule_any(AG_FP_ALLOW), rule_any(AG_FP_ALLOW),
				   rule_any(AG_FP_DENY) };
	struct ag_fp_flow f = flow4(192, 0, 2, 1, 443);
	uint32_t idx;

	r[0].has = AG_FP_HAS_APP | AG_FP_HAS_PORT;
	r[0].app = "/usr/bin/a";
	r[0].exe = a;
	r[0].port_lo = r[0].port_hi = 443;
	r[1].has = AG_FP_HAS_APP;
	r[1].app = "/usr/bin/*";
	r[1].app_glob = true;
	/* r[2]: deny everything */

	f.exe = a;
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_ALLOW);
	CHECK_EQ(idx, 0);
	f.port = 80;		/* the glob names /usr/bin/a too */
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_ALLOW);
	CHECK_EQ(idx, 1);
	f.exe.ino = 78;		/* /usr/bin/a replaced, or any other program */
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_PASS);
	f.exe.known = false;	/* no executable: no application rule matches */
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_DENY);
	CHECK_EQ(idx, 2);
	/* A path without identity still matches nothing the kernel knows. */
	r[0].exe.known = false;
	f.exe = a;
	f.port = 443;
	CHECK_EQ(eval(r, 3, &f, &idx), AG_FP_PASS);
}

TEST(host_rules_match_the_addresses_given_and_nothing_else)
{
	struct ag_fp_prefix known[2] = { pfx4(198, 51, 100, 7, 32), pfx4(198, 51, 100, 9, 32) };
	struct ag_fp_prefix net = pfx4(198, 51, 100, 8, 29);
	struct ag_fp_rule r[2] = { rule_any(AG_FP_DENY), rule_any(AG_FP_ALLOW) };
	struct ag_fp_flow f;

	r[0].has = AG_FP_HAS_HOST;
	r[0].host_addrs = known;
	r[0].nhost_addrs = 2;
	f = flow4(198, 51, 100, 7, 443);
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_DENY);
	f = flow4(198, 51, 100, 8, 443);
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_ALLOW);
	/* Host and remote: the intersection. */
	r[0].has |= AG_FP_HAS_REMOTE;
	r[0].remote = &net;
	r[0].nremote = 1;
	f = flow4(198, 51, 100, 7, 443);
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_ALLOW);
	f = flow4(198, 51, 100, 9, 443);
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_DENY);
	/* A host with no known address matches nothing. */
	r[0].nhost_addrs = 0;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_ALLOW);
}

TEST(a_timed_rule_past_its_deadline_falls_through)
{
	struct ag_fp_rule r[2] = { rule_any(AG_FP_ALLOW), rule_any(AG_FP_DENY) };
	struct ag_fp_flow f = flow4(192, 0, 2, 1, 443);

	r[0].expires_ns = 5000;
	f.now_ns = 4999;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_ALLOW);
	f.now_ns = 5000;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_PASS);
}

TEST(ipv6_uid_and_protocol_conditions)
{
	struct ag_fp_prefix p6 = { .family = 6, .plen = 48,
				   .addr.b = { 0x20, 0x01, 0x0d, 0xb8, 0x0a, 0x1e } };
	struct ag_fp_rule r[2] = { rule_any(AG_FP_ALLOW), rule_any(AG_FP_DENY) };
	struct ag_fp_flow f;

	memset(&f, 0, sizeof(f));
	f.family = 6;
	f.proto = 17;
	f.port = 53;
	f.uid = 1001;
	memcpy(f.addr.b, p6.addr.b, 6);
	f.addr.b[15] = 2;
	r[0].has = AG_FP_HAS_REMOTE | AG_FP_HAS_UID | AG_FP_HAS_PROTO;
	r[0].remote = &p6;
	r[0].nremote = 1;
	r[0].uid_lo = r[0].uid_hi = 1001;
	r[0].proto = 17;
	r[1].has = AG_FP_HAS_FAMILY;
	r[1].family = 6;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_ALLOW);
	f.uid = 1000;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_DENY);
	f.uid = 1001;
	f.proto = 6;
	CHECK_EQ(eval(r, 2, &f, NULL), AG_FP_DENY);
	/* The IPv6 rule says nothing about IPv4. */
	struct ag_fp_flow g = flow4(32, 1, 13, 184, 53);

	CHECK_EQ(eval(r, 2, &g, NULL), AG_FP_PASS);
}

TEST(a_list_longer_than_the_kernel_reads_falls_through_past_its_end)
{
	enum { N = FP_SCAN_MAX * 2 };
	struct ag_fp_rule r[N + 1];
	struct ag_fp_image *img;
	struct ag_fp_image_info info;
	char err[AG_FP_ERR_MAX];
	uint32_t idx;

	/* N rules on distinct ports, all in the same list, then deny-all. */
	for (int i = 0; i < N; i++) {
		r[i] = rule_any(AG_FP_ALLOW);
		r[i].has = AG_FP_HAS_PORT;
		r[i].port_lo = r[i].port_hi = (uint16_t)(1000 + i);
	}
	r[N] = rule_any(AG_FP_DENY);
	CHECK_EQ(ag_fp_compile(r, N + 1, &img, err, sizeof(err)), 0);
	ag_fp_image_info(img, &info);
	CHECK(info.truncated > 0);
	struct ag_fp_flow f = flow4(192, 0, 2, 1, 1000 + 3);

	CHECK_EQ(ag_fp_image_eval(img, &f, &idx), AG_FP_ALLOW);
	CHECK_EQ(idx, 3);
	f.port = 1000 + N - 1;		/* beyond what the kernel reads */
	CHECK_EQ(ag_fp_image_eval(img, &f, &idx), AG_FP_PASS);
	f.port = 7;			/* would be deny-all: also beyond */
	CHECK_EQ(ag_fp_image_eval(img, &f, &idx), AG_FP_PASS);
	ag_fp_image_free(img);
}

TEST(identical_lists_are_stored_once)
{
	struct ag_fp_prefix many[100];
	struct ag_fp_rule r = rule_any(AG_FP_DENY);
	struct ag_fp_image *img;
	struct ag_fp_image_info info;
	char err[AG_FP_ERR_MAX];

	for (int i = 0; i < 100; i++)
		many[i] = pfx4(203, 0, 113, (uint8_t)i, 32);
	r.has = AG_FP_HAS_HOST;
	r.host_addrs = many;
	r.nhost_addrs = 100;
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), 0);
	ag_fp_image_info(img, &info);
	CHECK_EQ(info.nodes, 100);
	CHECK_EQ(info.entries, 1);
	ag_fp_image_free(img);
}

TEST(bad_descriptors_are_refused_with_the_bad_value_quoted)
{
	struct ag_fp_rule r = rule_any(AG_FP_ALLOW);
	struct ag_fp_image *img = (struct ag_fp_image *)&r;
	char err[AG_FP_ERR_MAX];

	r.has = AG_FP_HAS_PORT;
	r.port_lo = 80;
	r.port_hi = 20;
	r.id = 17;
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), -EINVAL);
	CHECK(img == NULL);
	CHECK(strstr(err, "80-20") && strstr(err, "17"));
	r = rule_any((enum ag_fp_verdict)9);
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "9"));
	r = rule_any(AG_FP_ALLOW);
	r.has = AG_FP_HAS_FAMILY;
	r.family = 5;
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "IP version 5"));
	r = rule_any(AG_FP_ALLOW);
	r.has = AG_FP_HAS_APP;
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), -EINVAL);
	/* A relative path is no error: it names no process. */
	r.app = "firefox";
	CHECK_EQ(ag_fp_compile(&r, 1, &img, err, sizeof(err)), 0);
	struct ag_fp_flow f = flow4(192, 0, 2, 1, 80);

	f.exe = (struct ag_fp_exe){ .ino = 1, .dev = 1, .known = true };
	CHECK_EQ(ag_fp_image_eval(img, &f, NULL), AG_FP_PASS);
	ag_fp_image_free(img);
}

TEST(exe_resolve_knows_only_paths_the_engine_can_report)
{
	char dir[] = "/tmp/fp-exe-XXXXXX", file[64], link_[64], hard[64];
	struct ag_fp_exe e;
	struct stat st;
	int fd;

	CHECK(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/prog", dir);
	snprintf(link_, sizeof(link_), "%s/link", dir);
	snprintf(hard, sizeof(hard), "%s/hard", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0755);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(stat(file, &st), 0);
	int r1 = ag_fp_exe_resolve(file, &e);
	struct ag_fp_exe got = e;

	CHECK_EQ(symlink(file, link_), 0);
	int r2 = ag_fp_exe_resolve(link_, &e);
	bool known2 = e.known;
	int r3 = ag_fp_exe_resolve(dir, &e);

	CHECK_EQ(link(file, hard), 0);
	int r4 = ag_fp_exe_resolve(file, &e);
	int r5 = ag_fp_exe_resolve("/nonexistent/x", &e);

	unlink(hard);
	unlink(link_);
	unlink(file);
	rmdir(dir);
	/* /tmp may be overlayfs in a container: then no identity at all. */
	if (r1 == -EXDEV) {
		printf("# %s is on overlayfs: identity refused, as it should be\n", dir);
	} else {
		CHECK_EQ(r1, 0);
		CHECK(got.known);
		CHECK_EQ(got.ino, st.st_ino);
		CHECK_EQ(got.dev, (major(st.st_dev) << 20) | minor(st.st_dev));
		CHECK_EQ(r4, -EMLINK);
	}
	CHECK_EQ(r2, -ELOOP);
	CHECK(!known2);
	CHECK_EQ(r3, -EINVAL);
	CHECK_EQ(r5, -ENOENT);
}

/* ---- descriptors from the engine ------------------------------------------------------- */

static int add(ag_engine *e, uint32_t sublayer, uint32_t weight, ag_action_type action,
	       const ag_condition *c, size_t n, uint32_t flags, uint64_t *id)
{
	ag_filter_spec s = {
		.layer = AG_LAYER_ALE_AUTH_CONNECT, .sublayer = sublayer, .weight = weight,
		.action = action, .conditions = c, .n_conditions = n, .flags = flags,
		.lifetime = AG_LIFETIME_UNTIL_RESTART,
		.callout = action >= AG_ACTION_CALLOUT_TERMINATING ? AG_CALLOUT_ASK : NULL,
	};

	return ag_filter_add(e, &s, id);
}

TEST(descriptors_follow_the_engine_order_and_mark_what_the_kernel_cannot_see)
{
	ag_engine_config cfg;
	ag_dataplane_ops ops = { .release = no_release, .drop = no_drop,
				 .teardown = no_teardown };
	ag_engine *e;
	struct ag_fp_env env = { .sublayer = 1 };
	struct ag_fp_ruleset rs;
	uint64_t lo, hi, lp, dis, ins, both_id;
	ag_condition port = { .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_EQUAL, .v.u32 = 443 };
	ag_condition lport = { .field = AG_FIELD_LOCAL_PORT, .match = AG_MATCH_EQUAL, .v.u32 = 99 };
	ag_condition in = { .field = AG_FIELD_DIRECTION, .match = AG_MATCH_EQUAL, .v.u32 = AG_DIR_IN };

	ag_engine_config_default(&cfg);
	cfg.clock = clock_fn;
	e = ag_engine_new(&cfg, &ops);
	CHECK(e);
	CHECK_EQ(ag_sublayer_add(e, 1, 100, "rules"), 0);
	CHECK_EQ(ag_ask_register(e), 0);
	CHECK_EQ(add(e, 1, 10, AG_ACTION_PERMIT, &port, 1, 0, &lo), 0);
	CHECK_EQ(add(e, 1, 20, AG_ACTION_BLOCK, &lport, 1, 0, &lp), 0);
	CHECK_EQ(add(e, 1, 30, AG_ACTION_BLOCK, NULL, 0, AG_FILTER_FLAG_DISABLED, &dis), 0);
	CHECK_EQ(add(e, 1, 40, AG_ACTION_CALLOUT_INSPECTION, NULL, 0, 0, &ins), 0);
	CHECK_EQ(add(e, 1, 50, AG_ACTION_BLOCK, &in, 1, 0, &hi), 0);
	/* in OR out: at CONNECT, that is out, and it stays */
	ag_condition both[2] = { in, in };

	both[1].v.u32 = AG_DIR_OUT;
	CHECK_EQ(add(e, 1, 5, AG_ACTION_BLOCK, both, 2, 0, &both_id), 0);
	CHECK_EQ(add(e, 1, 0, AG_ACTION_CALLOUT_UNKNOWN, NULL, 0, 0, &hi), 0);

	CHECK_EQ(ag_fp_rules_from_engine(e, &env, &rs), 0);
	/* The disabled, the inspection and the inbound-only filters are left out. */
	CHECK_EQ(rs.n, 4);
	CHECK_EQ(rs.rules[0].id, lp);	/* weight 20 first */
	CHECK(!rs.rules[0].evaluable);	/* local port: a barrier */
	CHECK_EQ(rs.rules[0].verdict, AG_FP_DENY);
	CHECK_EQ(rs.rules[1].id, lo);
	CHECK(rs.rules[1].evaluable);
	CHECK(rs.rules[1].has == AG_FP_HAS_PORT && rs.rules[1].port_lo == 443);
	CHECK_EQ(rs.rules[1].verdict, AG_FP_ALLOW);
	CHECK_EQ(rs.rules[2].id, both_id);
	CHECK(rs.rules[2].evaluable && rs.rules[2].has == 0);
	CHECK_EQ(rs.rules[3].verdict, AG_FP_PASS);	/* ask */
	CHECK_EQ(rs.barriers, 1);
	ag_fp_ruleset_free(&rs);

	/* A filter in another sublayer: the one-sublayer model does not hold. */
	CHECK_EQ(add(e, AG_SUBLAYER_DEFAULT, 1, AG_ACTION_BLOCK, NULL, 0, 0, &hi), 0);
	CHECK_EQ(ag_fp_rules_from_engine(e, &env, &rs), -EOPNOTSUPP);
	CHECK(rs.rules == NULL && rs.n == 0);
	ag_engine_free(e);
}

TEST(status_says_why_the_fast_path_is_off)
{
	char buf[AG_FP_STATUS_MAX];

	ag_fp_status(NULL, "the kernel has no BTF", buf, sizeof(buf));
	CHECK_STR(buf, "off: the kernel has no BTF");
	ag_fp_status(NULL, NULL, buf, sizeof(buf));
	CHECK_STR(buf, "off: disabled");
}

TEST(open_refuses_a_directory_that_is_not_cgroup_v2)
{
	char err[AG_FP_ERR_MAX] = "";
	struct ag_fp *fp = ag_fp_open("/tmp", err, sizeof(err));

	CHECK(fp == NULL);
	CHECK(strstr(err, "\"/tmp\"") != NULL || strstr(err, "eBPF") != NULL);
}

/* ---- the owner hook (lib/linux/attrib): what it believes, and what not -------------------- */

/*
 * A real loopback connection of this process, attributed with a fake
 * owner hook standing in for ag_fp_attrib_owner: what matters here is what
 * attribution does with the answer, which needs no eBPF.
 */
struct fake_owner {
	int ret;			/* what the hook returns */
	struct ag_attrib_owner says;	/* and what it fills */
	uint64_t cookie;		/* the cookie it was asked about */
	int calls;
};

static int fake_owner_fn(void *arg, uint64_t cookie, struct ag_attrib_owner *out)
{
	struct fake_owner *f = arg;

	f->calls++;
	f->cookie = cookie;
	if (!f->ret)
		*out = f->says;
	return f->ret;
}

struct conn {
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_attrib *a;
	int lfd, cfd, sfd;
	uint64_t cookie;	/* the client socket's SO_COOKIE */
	struct ag_tuple t;	/* its flow, socket orientation */
};

static void conn_close(struct conn *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->sfd >= 0)
		close(c->sfd);
	if (c->lfd >= 0)
		close(c->lfd);
	ag_attrib_free(c->a);
	ag_sockdiag_close(c->sd);
	ag_proc_close(c->proc);
}

static int conn_open(struct conn *c)
{
	struct ag_proc_config pc = { .no_connector = 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	memset(c, 0, sizeof(*c));
	c->lfd = c->cfd = c->sfd = -1;
	c->proc = ag_proc_open(&pc);
	c->sd = ag_sockdiag_open();
	c->a = c->proc && c->sd ? ag_attrib_new(c->sd, c->proc) : NULL;
	if (!c->a)
		return -1;
	/* These tests are about sock_diag's answer and the owner hook, which
	 * a socket taken from its fd would skip (test_attrib.c tests that). */
	ag_attrib_set_taking(c->a, false);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd == -1 || c->cfd == -1 || bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(c->lfd, 1) || getsockname(c->lfd, (struct sockaddr *)&sa, &len) ||
	    connect(c->cfd, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	c->sfd = accept(c->lfd, NULL, NULL);
	c->t.ip_version = 4;
	c->t.protocol = IPPROTO_TCP;
	ag_addr_from_sockaddr((const struct sockaddr *)&sa, &c->t.dst, &c->t.dport);
	len = sizeof(sa);
	if (c->sfd == -1 || getsockname(c->cfd, (struct sockaddr *)&sa, &len))
		return -1;
	ag_addr_from_sockaddr((const struct sockaddr *)&sa, &c->t.src, &c->t.sport);
	len = sizeof(c->cookie);
	return getsockopt(c->cfd, SOL_SOCKET, 57 /* SO_COOKIE */, &c->cookie, &len);
}

/* This process's start, as an owner hook gives it: CLOCK_BOOTTIME ns. */
static uint64_t self_start_ns(void)
{
	char buf[1024], *p;
	unsigned long long ticks = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd != -1)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	return ticks * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* A pid no process has now. */
static pid_t free_pid(void)
{
	for (pid_t p = 4194000; p > 1000; p -= 7)
		if (kill(p, 0) == -1 && errno == ESRCH)
			return p;
	return -1;
}

TEST(owner_hook_names_the_process_without_reading_a_single_fd)
{
	struct fake_owner f = { 0 };
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct ag_proc_stats before, after;
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	f.says = (struct ag_attrib_owner){ .pid = getpid(), .uid = geteuid(),
					    .start_ns = self_start_ns() };
	CHECK(f.says.start_ns != 0);
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	ag_proc_get_stats(c.proc, &before);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_proc_get_stats(c.proc, &after);
	ag_attrib_get_stats(c.a, &st);
	conn_close(&c);
	CHECK_EQ(f.calls, 1);
	CHECK_EQ(f.cookie, c.cookie);		/* sock_diag's cookie is SO_COOKIE */
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(res.flags & AG_ATTRIB_F_OWNER_HOOK);
	CHECK(res.flags & AG_ATTRIB_F_PROCESS);
	CHECK_EQ(res.why, AG_ATTRIB_OK);
	CHECK_EQ(after.fds_read, before.fds_read);
	CHECK_EQ(after.scans, before.scans);
	CHECK_EQ(after.inode_hits + after.inode_misses, before.inode_hits + before.inode_misses);
	CHECK_EQ(st.hook_hits, 1);
}

TEST(owner_hook_naming_a_reused_pid_is_not_believed_and_the_scan_runs)
{
	struct fake_owner f = { 0 };
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct ag_proc_stats before, after;
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	/* Our pid, but a process that started a second later: not us. */
	f.says = (struct ag_attrib_owner){ .pid = getpid(), .uid = geteuid(),
					    .start_ns = self_start_ns() + 1000000000ull };
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	ag_proc_get_stats(c.proc, &before);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_proc_get_stats(c.proc, &after);
	ag_attrib_get_stats(c.a, &st);
	conn_close(&c);
	CHECK_EQ(f.calls, 1);
	CHECK_EQ(res.proc.pid, getpid());	/* found by the scan instead */
	CHECK(!(res.flags & AG_ATTRIB_F_OWNER_HOOK));
	CHECK(after.fds_read > before.fds_read);
	CHECK_EQ(st.hook_rejected, 1);
	CHECK_EQ(st.hook_hits, 0);
}

TEST(owner_hook_naming_a_process_that_does_not_exist_is_not_believed)
{
	struct fake_owner f = { 0 };
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	f.says = (struct ag_attrib_owner){ .pid = free_pid(), .uid = geteuid() };
	CHECK(f.says.pid > 0);
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_attrib_get_stats(c.a, &st);
	conn_close(&c);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(!(res.flags & AG_ATTRIB_F_OWNER_HOOK));
	CHECK_EQ(st.hook_rejected, 1);
}

TEST(owner_hook_that_does_not_know_the_socket_leaves_the_lookup_as_it_was)
{
	struct fake_owner f = { .ret = -ENOENT };
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(!(res.flags & AG_ATTRIB_F_OWNER_HOOK));
	/* An error is no answer either. */
	f.ret = -EIO;
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(!(res.flags & AG_ATTRIB_F_OWNER_HOOK));
	/* Removed: never asked again. */
	ag_attrib_set_owner_hook(c.a, NULL, NULL);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_attrib_get_stats(c.a, &st);
	conn_close(&c);
	CHECK_EQ(f.calls, 2);
	CHECK_EQ(st.hook_unknown, 2);
	CHECK_EQ(st.hook_hits + st.hook_rejected, 0);
}

TEST(owner_hook_names_the_process_of_a_socket_no_file_holds_any_more)
{
	struct fake_owner f = { 0 };
	struct ag_attrib_result res;
	struct conn c;
	int cfd;

	CHECK_EQ(conn_open(&c), 0);
	/* Closed first on our side: FIN_WAIT2, an orphan without inode. */
	cfd = c.cfd;
	c.cfd = -1;
	close(cfd);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), -ENOENT);
	CHECK_EQ(res.why, AG_ATTRIB_NO_INODE);
	f.says = (struct ag_attrib_owner){ .pid = getpid(), .uid = geteuid(),
					    .start_ns = self_start_ns() };
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK_EQ(f.cookie, c.cookie);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(res.flags & AG_ATTRIB_F_OWNER_HOOK);
	CHECK_EQ(res.uid, geteuid());
	/* The peer closes too: TIME_WAIT keeps the cookie. */
	close(c.sfd);
	c.sfd = -1;
	usleep(20000);
	f.cookie = 0;
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	conn_close(&c);
	CHECK_EQ(f.cookie, c.cookie);
	CHECK_EQ(res.sock.state, 6 /* TCP_TIME_WAIT */);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(res.flags & AG_ATTRIB_F_OWNER_HOOK);
}

TEST(owner_hook_is_not_asked_about_a_listener)
{
	struct fake_owner f = { 0 };
	struct ag_attrib_result res;
	struct conn c;

	CHECK_EQ(conn_open(&c), 0);
	f.says = (struct ag_attrib_owner){ .pid = getpid(), .uid = geteuid(),
					    .start_ns = self_start_ns() };
	ag_attrib_set_owner_hook(c.a, fake_owner_fn, &f);
	/* The client's first packet, seen arriving at our listener. */
	CHECK_EQ(ag_attrib_lookup(c.a, &c.t, AG_ATTRIB_INBOUND, AG_UID_UNKNOWN, &res), 0);
	conn_close(&c);
	CHECK(res.flags & AG_ATTRIB_F_LISTENER);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK_EQ(f.calls, 0);
}

TEST(socket_owner_refuses_a_missing_handle)
{
	struct ag_fp_owner o;
	struct ag_attrib_owner ao;

	CHECK(ag_fp_socket_owner(NULL, 1, &o) == -EINVAL || ag_fp_socket_owner(NULL, 1, &o) == -EOPNOTSUPP);
	CHECK(ag_fp_attrib_owner(NULL, 1, &ao) < 0);
}

/* ---- the executable checksum: never in the kernel ----------------------------------- */

/* The kernel cannot hash a program: a rule with a sha256 must leave the
 * decision to user space, never allow as if it had no such condition. */
TEST(a_sha256_rule_is_never_compiled_into_the_kernel_as_an_allow)
{
	struct agd d;
	struct ag_fp_env env = { .exe = env_exe, .host = env_host, .sublayer = AGD_SUBLAYER_RULES };
	struct ag_fp_ruleset rs;
	struct ag_fp_image *img = NULL;
	char err[AG_FP_ERR_MAX], e[AGD_ERR_MAX];
	struct ag_rule with_app, alone;
	struct ag_fp_flow f = flow4(192, 0, 2, 1, 443);
	uint32_t idx;

	CHECK_EQ(daemon_new(&d), 0);
	ag_rule_init(&with_app);
	snprintf(with_app.id, sizeof(with_app.id), "shaapp");
	with_app.action = AG_RULE_ALLOW;
	CHECK_EQ(ag_rule_add_app(&with_app, paths[0]), 0);
	CHECK_EQ(ag_rule_add_port(&with_app, 443, 443), 0);
	with_app.has |= AG_RULE_HAS_SHA256;
	memset(with_app.sha256, 0xab, sizeof(with_app.sha256));
	with_app.lifetime = AG_RULE_UNTIL_RESTART;
	ag_rule_init(&alone);
	snprintf(alone.id, sizeof(alone.id), "shaonly");
	alone.action = AG_RULE_ALLOW;
	alone.has = AG_RULE_HAS_SHA256;
	memset(alone.sha256, 0xab, sizeof(alone.sha256));
	alone.lifetime = AG_RULE_UNTIL_RESTART;
	alone.weight = -5;
	CHECK_MSG(agd_rule_add(&d, &with_app, e, sizeof(e)) == 0, "%s", e);
	CHECK_MSG(agd_rule_add(&d, &alone, e, sizeof(e)) == 0, "%s", e);
	CHECK_EQ(d.policy.sha256_rules, 2u);

	CHECK_EQ(ag_fp_rules_from_engine(d.engine, &env, &rs), 0);
	CHECK_EQ(rs.barriers, 2u);
	for (size_t i = 0; i < rs.n; i++)
		CHECK_MSG(rs.rules[i].verdict != AG_FP_ALLOW || !rs.rules[i].evaluable,
			  "descriptor %zu allows in the kernel", i);
	CHECK_EQ(ag_fp_compile(rs.rules, rs.n, &img, err, sizeof(err)), 0);
	/* the very program and port the first rule names: user space decides */
	f.exe = identity(0);
	CHECK_EQ(ag_fp_image_eval(img, &f, &idx), AG_FP_PASS);
	/* any other program: the rule of the checksum alone may still match */
	f.exe = identity(1);
	f.port = 80;
	CHECK_EQ(ag_fp_image_eval(img, &f, &idx), AG_FP_PASS);
	ag_fp_image_free(img);
	ag_fp_ruleset_free(&rs);

	/* gone with its rules: executables are no longer hashed */
	CHECK_EQ(agd_rule_del(&d, "shaapp"), 0);
	CHECK_EQ(d.policy.sha256_rules, 1u);
	CHECK_EQ(agd_rule_del(&d, "shaonly"), 0);
	CHECK_EQ(d.policy.sha256_rules, 0u);
	ag_rule_free(&with_app);
	ag_rule_free(&alone);
	daemon_free(&d);
}
