/*
 * daemon/policy.c — rules and the engine's filters (pended flows and their
 * answers: pending.c).
 *
 * Every rule becomes one engine filter per direction it covers, in the
 * rules' sublayer.  Their weight puts the more specific rule first, and at
 * equal specificity a deny before an allow; a rule's own `weight` moves it
 * by whole classes.  Below them all sits the catch-all: the `ask` callout
 * for outbound flows, and for inbound whatever `inbound` says.
 */
#include <errno.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "alegate/callouts.h"
#include "daemon/alegated.h"
#include "linux/exeid.h"
#include "net/packet.h"

/* ---- rule table ----------------------------------------------------------------- */

/*
 * d->policy.rules keeps the order rules were added in (what `rules` lists); two
 * hash maps find a rule by id (every add, edit and delete) and by handle
 * (every event that names a rule) without walking the table, so that no
 * operation on one rule costs more with 100,000 others loaded.
 */
static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h;
}

static uint32_t handle_hash(uint64_t handle)
{
	return (uint32_t)((handle * 0x9e3779b97f4a7c15ull) >> 32);
}

static uint32_t slot_of(const struct agd *d, bool by_id, const struct agd_rule *r)
{
	return (by_id ? id_hash(r->rule.id) : handle_hash(r->handle)) & (d->policy.capmap - 1);
}

static void map_put(struct agd *d, struct agd_rule **map, bool by_id, struct agd_rule *r)
{
	uint32_t i = slot_of(d, by_id, r);

	while (map[i])
		i = (i + 1) & (d->policy.capmap - 1);
	map[i] = r;
}

/* Remove r, then shift later entries of its probe run back into the hole. */
static void map_del(struct agd *d, struct agd_rule **map, bool by_id, struct agd_rule *r)
{
	uint32_t mask = d->policy.capmap - 1, i = slot_of(d, by_id, r);

	while (map[i] && map[i] != r)
		i = (i + 1) & mask;
	if (!map[i])
		return;
	map[i] = NULL;
	for (uint32_t j = (i + 1) & mask; map[j]; j = (j + 1) & mask) {
		uint32_t home = slot_of(d, by_id, map[j]);

		/* map[j] may move to the hole i unless its home lies in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			map[i] = map[j];
			map[j] = NULL;
			i = j;
		}
	}
}

static int map_grow(struct agd *d)
{
	uint32_t cap = d->policy.capmap ? d->policy.capmap * 2 : 128;
	struct agd_rule **ids = calloc(cap, sizeof(*ids)), **handles = calloc(cap, sizeof(*handles));

	if (!ids || !handles) {
		free(ids);
		free(handles);
		return -ENOMEM;
	}
	free(d->policy.by_id);
	free(d->policy.by_handle);
	d->policy.by_id = ids;
	d->policy.by_handle = handles;
	d->policy.capmap = cap;
	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		map_put(d, d->policy.by_id, true, d->policy.rules[i]);
		map_put(d, d->policy.by_handle, false, d->policy.rules[i]);
	}
	return 0;
}

struct agd_rule *agd_rule_find(struct agd *d, const char *id)
{
	if (!d->policy.capmap)
		return NULL;
	for (uint32_t i = id_hash(id) & (d->policy.capmap - 1); d->policy.by_id[i];
	     i = (i + 1) & (d->policy.capmap - 1))
		if (strcmp(d->policy.by_id[i]->rule.id, id) == 0)
			return d->policy.by_id[i];
	return NULL;
}

struct agd_rule *agd_rule_by_handle(struct agd *d, uint64_t handle)
{
	if (!handle || !d->policy.capmap)
		return NULL;
	for (uint32_t i = handle_hash(handle) & (d->policy.capmap - 1); d->policy.by_handle[i];
	     i = (i + 1) & (d->policy.capmap - 1))
		if (d->policy.by_handle[i]->handle == handle)
			return d->policy.by_handle[i];
	return NULL;
}

static int table_add(struct agd *d, struct agd_rule *r)
{
	if (d->policy.nrules == d->policy.caprules) {
		uint32_t n = d->policy.caprules ? d->policy.caprules * 2 : 64;
		void *p = realloc(d->policy.rules, n * sizeof(*d->policy.rules));

		if (!p)
			return -ENOMEM;
		d->policy.rules = p;
		d->policy.caprules = n;
	}
	if ((d->policy.nrules + 1) * 2 > d->policy.capmap && map_grow(d))
		return -ENOMEM;
	d->policy.rules[d->policy.nrules++] = r;
	map_put(d, d->policy.by_id, true, r);
	map_put(d, d->policy.by_handle, false, r);
	return 0;
}

static void table_remove(struct agd *d, struct agd_rule *r)
{
	for (uint32_t i = 0; i < d->policy.nrules; i++)
		if (d->policy.rules[i] == r) {
			memmove(&d->policy.rules[i], &d->policy.rules[i + 1],
				(d->policy.nrules - i - 1) * sizeof(*d->policy.rules));
			d->policy.nrules--;
			map_del(d, d->policy.by_id, true, r);
			map_del(d, d->policy.by_handle, false, r);
			return;
		}
}

/* ---- rule -> filters ------------------------------------------------------------- */

static unsigned specificity(const struct ag_rule *r)
{
	static const unsigned conds[] = { AG_RULE_HAS_APP, AG_RULE_HAS_UID, AG_RULE_HAS_REMOTE,
					  AG_RULE_HAS_HOST, AG_RULE_HAS_PORT, AG_RULE_HAS_PROTO,
					  AG_RULE_HAS_RESOLVERS };
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		n += (r->has & conds[i]) != 0;
	return n;
}

/* Above 0 (the catch-all); rule weight first, then specificity, then deny. */
uint32_t agd_rule_filter_weight(const struct ag_rule *r)
{
	uint32_t w = (uint32_t)(r->weight - AG_RULE_WEIGHT_MIN) * 100;

	w += specificity(r) * 10;
	if (r->action == AG_RULE_DENY || r->action == AG_RULE_REJECT)
		w += 5;
	else if (r->action == AG_RULE_ALLOW)
		w += 2;
	return w + 1;
}

static int add_filter(struct agd *d, struct agd_rule *ar, ag_layer layer, uint64_t *id)
{
	const struct ag_rule *r = &ar->rule;
	ag_condition c[8 + AGD_MAX_RESOLVERS];
	size_t n = 0;
	bool in = layer == AG_LAYER_ALE_AUTH_RECV_ACCEPT;

	memset(c, 0, sizeof(c));
	/* No resolver configured: the rule matches nothing, so it has no filter
	 * (a filter without the condition would match every address). */
	if ((r->has & AG_RULE_HAS_RESOLVERS) && !d->resolvers.n) {
		*id = 0;
		return 0;
	}
	if (r->has & AG_RULE_HAS_APP) {
		c[n].field = AG_FIELD_APP_PATH;
		c[n].match = r->app_glob ? AG_MATCH_GLOB : AG_MATCH_EQUAL;
		c[n++].v.str = r->app;
		/* Learn the file at the rule's path now and watch its directory:
		 * a process matches the rule only if it runs that very file. */
		if (!r->app_glob) {
			uint32_t dev;
			uint64_t ino;

			if (!d->exeid)
				d->exeid = ag_exeid_new();
			if (d->exeid && ag_exeid_resolve(d->exeid, r->app, &dev, &ino) < 0)
				log_debug("rule %s: no program at %s yet; the rule applies once "
					  "there is", r->id, r->app);
		}
	}
	if (r->has & AG_RULE_HAS_UID) {
		c[n].field = AG_FIELD_UID;
		c[n].match = AG_MATCH_EQUAL;
		c[n++].v.u32 = r->uid;
	}
	if (r->has & AG_RULE_HAS_REMOTE) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_PREFIX;
		c[n].v.addr.ip_version = r->remote_family == AF_INET6 ? 6 : 4;
		c[n].v.addr.len = (uint8_t)r->remote_plen;
		memcpy(c[n++].v.addr.bytes, r->remote_addr, 16);
	}
	/* one condition per resolver: conditions on one field are ORed */
	for (unsigned i = 0; (r->has & AG_RULE_HAS_RESOLVERS) && i < d->resolvers.n; i++) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_PREFIX;
		c[n].v.addr.ip_version = d->resolvers.list[i].ver;
		c[n].v.addr.len = d->resolvers.list[i].ver == 6 ? 128 : 32;
		memcpy(c[n++].v.addr.bytes, d->resolvers.list[i].addr, 16);
	}
	if (r->has & AG_RULE_HAS_HOST) {
		c[n].field = AG_FIELD_REMOTE_HOST;
		c[n].match = r->host_wildcard ? AG_MATCH_SUFFIX : AG_MATCH_EQUAL;
		c[n++].v.str = r->host;
	}
	if (r->has & AG_RULE_HAS_PORT) {
		/* The port a person means: where an outbound flow goes, or the
		 * local service an inbound flow reaches. */
		c[n].field = in ? AG_FIELD_LOCAL_PORT : AG_FIELD_REMOTE_PORT;
		c[n].match = AG_MATCH_RANGE;
		c[n].v.range.lo = r->port_min;
		c[n++].v.range.hi = r->port_max;
	}
	if (r->has & AG_RULE_HAS_PROTO) {
		c[n].field = AG_FIELD_PROTOCOL;
		c[n].match = AG_MATCH_EQUAL;
		c[n++].v.u32 = r->proto;
	}

	ag_filter_spec s = {
		.layer = layer,
		.sublayer = AGD_SUBLAYER_RULES,
		.weight = agd_rule_filter_weight(r),
		.conditions = c,
		.n_conditions = n,
		.name = r->id,
		.context = ar->handle,
	};
	switch (r->action) {
	case AG_RULE_ALLOW:
		s.action = AG_ACTION_PERMIT;
		break;
	case AG_RULE_REJECT:
		s.flags |= AG_FILTER_FLAG_REJECT;
		/* fall through */
	case AG_RULE_DENY:
		s.action = AG_ACTION_BLOCK;
		break;
	case AG_RULE_ASK:
		s.action = AG_ACTION_CALLOUT_UNKNOWN;
		s.callout = AG_CALLOUT_ASK;
		break;
	case AG_RULE_CALLOUT:
		/* The callout may pend, decide or only look. */
		s.action = AG_ACTION_CALLOUT_UNKNOWN;
		s.callout = r->callout;
		break;
	}
	if (!r->enabled)
		s.flags |= AG_FILTER_FLAG_DISABLED;
	switch (r->lifetime) {
	case AG_RULE_ALWAYS:
		s.lifetime = AG_LIFETIME_PERSISTENT;
		s.flags |= AG_FILTER_FLAG_PERSISTENT;
		break;
	case AG_RULE_UNTIL_RESTART:
		s.lifetime = AG_LIFETIME_UNTIL_RESTART;
		break;
	case AG_RULE_UNTIL_QUIT:
		s.lifetime = AG_LIFETIME_SESSION;
		s.session = r->session;
		break;
	case AG_RULE_TIMED:
		s.lifetime = AG_LIFETIME_TIMED;
		s.expires_ns = r->expires_ns;
		break;
	}
	return ag_filter_add(d->engine, &s, id);
}

static void remove_filters(struct agd *d, struct agd_rule *ar)
{
	d->fastpath.dirty = true;
	for (int i = 0; i < 2; i++) {
		if (ar->filters[i])
			ag_filter_del(d->engine, ar->filters[i]);
		ar->filters[i] = 0;
	}
}

static int install_filters(struct agd *d, struct agd_rule *ar)
{
	d->fastpath.dirty = true;
	const struct ag_rule *r = &ar->rule;
	bool out = !(r->has & AG_RULE_HAS_DIRECTION) || r->direction == AG_RULE_OUT;
	bool in = !(r->has & AG_RULE_HAS_DIRECTION) || r->direction == AG_RULE_IN;
	int ret = 0;

	if (out)
		ret = add_filter(d, ar, AG_LAYER_ALE_AUTH_CONNECT, &ar->filters[0]);
	if (!ret && in)
		ret = add_filter(d, ar, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &ar->filters[1]);
	if (ret)
		remove_filters(d, ar);
	return ret;
}

/* A message for a person in the caller's buffer. */
__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A user given by name is resolved once, when the rule is loaded. */
static int resolve_user(struct ag_rule *r, char *err, size_t errlen)
{
	if (!(r->has & AG_RULE_HAS_USER) || (r->has & AG_RULE_HAS_UID))
		return 0;
	struct passwd *pw = getpwnam(r->user);

	if (!pw) {
		set_err(err, errlen, "unknown user \"%s\"", r->user);
		return -ENOENT;
	}
	r->uid = pw->pw_uid;
	r->has |= AG_RULE_HAS_UID;
	return 0;
}

/* A name a person can read, for a rule made without one: "curl to example.org". */
static void default_name(struct ag_rule *r)
{
	const char *slash = strrchr(r->app, '/');
	const char *who = (r->has & AG_RULE_HAS_APP) ? (slash && slash[1] ? slash + 1 : r->app)
						     : "any program";
	const char *dir = (r->has & AG_RULE_HAS_DIRECTION) && r->direction == AG_RULE_IN ? "from"
											     : "to";
	char where[AG_RULE_HOST_MAX + 64] = "anywhere", port[24] = "";

	if (r->has & AG_RULE_HAS_HOST) {
		snprintf(where, sizeof(where), "%s", r->host);
	} else if (r->has & AG_RULE_HAS_REMOTE) {
		char a[AG_ADDR_STRLEN];

		if (ag_addr_format(r->remote_family == AF_INET6 ? 6 : 4, r->remote_addr, a,
				   sizeof(a)) < 0)
			snprintf(a, sizeof(a), "?");
		if (r->remote_plen == (r->remote_family == AF_INET6 ? 128u : 32u))
			snprintf(where, sizeof(where), "%s", a);
		else
			snprintf(where, sizeof(where), "%s/%u", a, r->remote_plen);
	}
	if ((r->has & AG_RULE_HAS_PORT) && r->port_min == r->port_max)
		snprintf(port, sizeof(port), " port %u", r->port_min);
	else if (r->has & AG_RULE_HAS_PORT)
		snprintf(port, sizeof(port), " ports %u-%u", r->port_min, r->port_max);
	if ((r->has & AG_RULE_HAS_USER) && !(r->has & AG_RULE_HAS_APP))
		snprintf(r->name, sizeof(r->name), "user %.32s %s %.180s%s", r->user, dir, where,
			 port);
	else
		snprintf(r->name, sizeof(r->name), "%.40s %s %.180s%s", who, dir, where, port);
}

/*
 * agd_rule_add(), and *save_failed when the rule was refused because its
 * file could not be written (the disk is full, the directory is gone).
 */
int agd_rule_add_saving(struct agd *d, struct ag_rule *rule, char *err, size_t errlen,
			bool *save_failed)
{
	struct agd_rule *ar;
	int r;

	set_err(err, errlen, "%s", "");
	*save_failed = false;
	/* Rules made here, not read from a file, say what they are and since when. */
	if (!rule->source[0] && !rule->name[0])
		default_name(rule);
	if (!rule->source[0] && !(rule->has & AG_RULE_HAS_CREATED)) {
		rule->created = (int64_t)(ag_wall_ms() / 1000);
		rule->has |= AG_RULE_HAS_CREATED;
	}
	if (!rule->id[0] && ag_rule_new_id(rule->id)) {
		set_err(err, errlen, "%s", "cannot make a rule id");
		return -EIO;
	}
	if (agd_rule_find(d, rule->id)) {
		set_err(err, errlen, "%s", "a rule with this id exists");
		return -EEXIST;
	}
	if ((r = resolve_user(rule, err, errlen)))
		return r;
	ar = calloc(1, sizeof(*ar));
	if (!ar) {
		set_err(err, errlen, "%s", "out of memory");
		return -ENOMEM;
	}
	ar->rule = *rule;
	ar->handle = ++d->policy.next_rule_handle;
	r = install_filters(d, ar);
	if (r) {
		set_err(err, errlen, "%s",
			r == AG_E_LIMIT ? "too many filters" : "the engine refused the rule");
		free(ar);
		return r == AG_E_LIMIT ? -ENOSPC : -EINVAL;
	}
	/* An `always` rule is saved before it is announced: if the disk says
	 * no, the rule is not kept, so nothing looks saved that is not. */
	if (rule->lifetime == AG_RULE_ALWAYS && !rule->source[0]) {
		r = ag_rule_save(d->cfg.rules_dir, &ar->rule, AG_RULE_SAVE_NEW);
		if (r) {
			remove_filters(d, ar);
			free(ar);
			set_err(err, errlen, "cannot save the rule in %s: %s", d->cfg.rules_dir,
				strerror(-r));
			*save_failed = true;
			log_err("saving rule %s in %s: %s", rule->id, d->cfg.rules_dir,
				strerror(-r));
			return r;
		}
		int n = snprintf(ar->rule.source, sizeof(ar->rule.source), "%s/%s.json",
				 d->cfg.rules_dir, rule->id);

		if (n < 0 || (size_t)n >= sizeof(ar->rule.source))
			ar->rule.source[0] = 0; /* only informative */
	}
	if (table_add(d, ar)) {
		remove_filters(d, ar);
		free(ar);
		set_err(err, errlen, "%s", "out of memory");
		return -ENOMEM;
	}
	log_info("rule %s added (%s, %s)", ar->rule.id, ag_rule_action_name(ar->rule.action),
		 ag_rule_lifetime_name(ar->rule.lifetime));
	if (ar->rule.lifetime == AG_RULE_TIMED)
		d->life.timed_dirty = true; /* lifecycle.c keeps them across a restart */
	/* in the kernel before the control reply goes out */
	if (!d->policy.bulk)
		agd_fastpath_sync(d);
	return 0;
}

int agd_rule_add(struct agd *d, struct ag_rule *rule, char *err, size_t errlen)
{
	bool save_failed;

	return agd_rule_add_saving(d, rule, err, errlen, &save_failed);
}

static void rule_free(struct agd *d, struct agd_rule *ar)
{
	if (ar->rule.lifetime == AG_RULE_TIMED)
		d->life.timed_dirty = true;
	remove_filters(d, ar);
	table_remove(d, ar);
	free(ar);
}

int agd_rule_del(struct agd *d, const char *id)
{
	struct agd_rule *ar = agd_rule_find(d, id);
	int r;

	if (!ar)
		return -ENOENT;
	if (ar->rule.lifetime == AG_RULE_ALWAYS) {
		r = ag_rule_delete(d->cfg.rules_dir, ar->rule.id);
		if (r && r != -ENOENT) {
			log_err("deleting rule file %s: %s", ar->rule.id, strerror(-r));
			return r;
		}
	}
	rule_free(d, ar);
	log_info("rule %s deleted", id);
	agd_fastpath_sync(d);
	return 0;
}

int agd_rule_set_enabled(struct agd *d, const char *id, bool enabled)
{
	struct agd_rule *ar = agd_rule_find(d, id);
	int r;

	if (!ar)
		return -ENOENT;
	if (ar->rule.enabled == enabled)
		return 0;
	if (ar->rule.lifetime == AG_RULE_ALWAYS) {
		struct ag_rule copy = ar->rule;

		copy.enabled = enabled;
		if ((r = ag_rule_save(d->cfg.rules_dir, &copy, 0)))
			return r;
	}
	ar->rule.enabled = enabled;
	if (ar->rule.lifetime == AG_RULE_TIMED)
		d->life.timed_dirty = true;
	d->fastpath.dirty = true;
	ag_engine_begin(d->engine);
	for (int i = 0; i < 2; i++)
		if (ar->filters[i])
			ag_filter_set_enabled(d->engine, ar->filters[i], enabled);
	ag_engine_commit(d->engine);
	agd_fastpath_sync(d);
	return 0;
}

void agd_policy_session_end(struct agd *d, uint64_t session)
{
	/* An "until quit" rule's filters carry its session: a connection that
	 * made none (a status query, most of them) ends without a walk of the
	 * rules, whatever their number. */
	if (!ag_filter_has_session(d->engine, session))
		return;
	ag_engine_begin(d->engine);
	for (uint32_t i = d->policy.nrules; i-- > 0;) {
		struct agd_rule *ar = d->policy.rules[i];

		if (ar->rule.lifetime == AG_RULE_UNTIL_QUIT && ar->rule.session == session) {
			log_info("rule %s ends with its session", ar->rule.id);
			rule_free(d, ar);
		}
	}
	ag_filter_del_session(d->engine, session);
	ag_engine_commit(d->engine);
	agd_fastpath_sync(d);
}

void agd_policy_event(struct agd *d, const ag_event *ev)
{
	if (ev->type != AG_EVENT_FILTER_EXPIRED)
		return;
	struct agd_rule *ar = agd_rule_by_handle(d, ev->filter_context);

	if (!ar)
		return;
	/* The engine already removed the filter; the rest waits for the loop. */
	for (int i = 0; i < 2; i++)
		if (ar->filters[i] == ev->filter)
			ar->filters[i] = 0;
	ar->expired = true;
	d->policy.rules_expired = true;
	d->fastpath.dirty = true;
}

void agd_policy_collect(struct agd *d)
{
	/* every loop turn: walk the rules only when one has expired */
	if (!d->policy.rules_expired)
		return;
	d->policy.rules_expired = false;
	for (uint32_t i = d->policy.nrules; i-- > 0;) {
		struct agd_rule *ar = d->policy.rules[i];

		if (ar->expired) {
			log_info("rule %s expired", ar->rule.id);
			rule_free(d, ar);
		}
	}
}

void agd_policy_resolvers_changed(struct agd *d)
{
	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		struct agd_rule *ar = d->policy.rules[i];

		if (!(ar->rule.has & AG_RULE_HAS_RESOLVERS) || ar->expired)
			continue;
		remove_filters(d, ar);
		if (install_filters(d, ar))
			log_warn("rule %s: no filters for the new resolvers", ar->rule.id);
	}
}

/* ---- start-up and reload --------------------------------------------------------- */

static int catch_all(struct agd *d, ag_layer layer, ag_action_type action, uint64_t *id)
{
	ag_filter_spec s = {
		.layer = layer,
		.sublayer = AGD_SUBLAYER_RULES,
		.weight = 0,
		.action = action,
		.callout = action == AG_ACTION_CALLOUT_UNKNOWN ? AG_CALLOUT_ASK : NULL,
		.lifetime = AG_LIFETIME_UNTIL_RESTART,
		.name = "catch-all",
	};
	return ag_filter_add(d->engine, &s, id);
}

/* People get pending_timeout to answer; loaded callouts the engine's
 * default (callout_timeout, none unless set). */
void agd_policy_ask_timeout(struct agd *d)
{
	ag_callout_set_pend_timeout(d->engine, AG_CALLOUT_ASK,
				    (uint64_t)d->cfg.pending_timeout_s * 1000000000ULL);
}

int agd_policy_init(struct agd *d)
{
	ag_action_type inbound;
	int r;

	if ((r = ag_sublayer_add(d->engine, AGD_SUBLAYER_RULES, AGD_SUBLAYER_RULES_WEIGHT,
				 "alegate rules")) ||
	    (r = ag_ask_register(d->engine))) {
		log_err("engine set-up: %s", ag_strerror(r));
		return r;
	}
	agd_policy_ask_timeout(d);
	switch (d->cfg.inbound) {
	case AG_CFG_INBOUND_ALLOW:
		inbound = AG_ACTION_PERMIT;
		break;
	case AG_CFG_INBOUND_DENY:
		inbound = AG_ACTION_BLOCK;
		break;
	default:
		inbound = AG_ACTION_CALLOUT_UNKNOWN;
	}
	if ((r = catch_all(d, AG_LAYER_ALE_AUTH_CONNECT, AG_ACTION_CALLOUT_UNKNOWN,
			   &d->policy.ask_filters[0])) ||
	    (r = catch_all(d, AG_LAYER_ALE_AUTH_RECV_ACCEPT, inbound, &d->policy.ask_filters[1]))) {
		log_err("engine set-up: %s", ag_strerror(r));
		return r;
	}
	return 0;
}

struct load_ctx {
	struct agd *d;
	int loaded;
	json_t *errors;
};

static int load_one(void *arg, const struct ag_rule *rule, const char *lines)
{
	struct load_ctx *lc = arg;
	struct ag_rule copy;
	char err[AGD_ERR_MAX];

	if (!rule) {
		/* a bad file: its errors, and the other rules still load */
		agd_log_lines(LOG_ERR, NULL, lines, lc->errors);
		return 0;
	}
	copy = *rule;
	copy.lifetime = AG_RULE_ALWAYS;
	if (agd_rule_add(lc->d, &copy, err, sizeof(err))) {
		char msg[AG_RULE_SOURCE_MAX + 128];

		if (snprintf(msg, sizeof(msg), "%s: %s", rule->source[0] ? rule->source : rule->id,
			     err) < 0)
			msg[0] = 0;
		log_err("%s", msg);
		if (lc->errors)
			json_array_append_new(lc->errors, json_string(msg));
		return 0; /* the other rules still load */
	}
	lc->loaded++;
	return 0;
}

static int load_dir(struct agd *d, json_t *errors)
{
	struct load_ctx lc = { .d = d, .errors = errors };
	char err[AG_RULE_ERR_MAX];
	struct stat st;
	bool was = d->policy.bulk;

	if (stat(d->cfg.rules_dir, &st) == -1 && errno == ENOENT) {
		/* A first start: make the directory rules will be saved in. */
		if (mkdir(d->cfg.rules_dir, 0755) == -1 && errno != EEXIST)
			log_err("cannot create %s: %s", d->cfg.rules_dir, strerror(errno));
		else
			log_info("created %s", d->cfg.rules_dir);
		return 0;
	}
	/* one fast-path compile for the whole directory, not one per rule */
	d->policy.bulk = true;
	if (ag_rules_load_dir(d->cfg.rules_dir, load_one, &lc, err, sizeof(err)) < 0 && err[0])
		agd_log_lines(LOG_ERR, NULL, err, errors);
	d->policy.bulk = was;
	return lc.loaded;
}

int agd_policy_load(struct agd *d)
{
	ag_engine_begin(d->engine);
	int n = load_dir(d, NULL);

	ag_engine_commit(d->engine);
	return n;
}

int agd_policy_reload(struct agd *d, json_t *errors)
{
	/* Persistent rules are what the directory says now; the others stay.
	 * One transaction: live flows are reauthorized once (S12c). */
	ag_engine_begin(d->engine);
	for (uint32_t i = d->policy.nrules; i-- > 0;)
		if (d->policy.rules[i]->rule.lifetime == AG_RULE_ALWAYS)
			rule_free(d, d->policy.rules[i]);
	int n = load_dir(d, errors);

	ag_engine_commit(d->engine);
	ag_reauthorize(d->engine, (1u << AG_LAYER_ALE_AUTH_CONNECT) |
					  (1u << AG_LAYER_ALE_AUTH_RECV_ACCEPT));
	agd_fastpath_sync(d);
	log_info("reloaded: %d rules from %s", n, d->cfg.rules_dir);
	return n;
}

void agd_policy_free(struct agd *d)
{
	for (uint32_t i = 0; i < d->policy.nrules; i++)
		free(d->policy.rules[i]);
	free(d->policy.rules);
	free(d->policy.by_id);
	free(d->policy.by_handle);
	d->policy.rules = NULL;
	d->policy.by_id = d->policy.by_handle = NULL;
	d->policy.nrules = d->policy.caprules = d->policy.capmap = 0;
	free(d->policy.pending);
	d->policy.pending = NULL;
	d->policy.npending = d->policy.cappending = 0;
}
