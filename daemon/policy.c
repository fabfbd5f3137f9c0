/*
 * daemon/policy.c — rules and the engine's filters (pended flows and their
 * answers: pending.c).
 *
 * Every rule is one engine filter (both layers if no direction) in the
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
#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/fastpath_sync.h"
#include "daemon/lists.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "daemon/resolvers.h"
#include "linux/exeid.h"
#include "net/packet.h"

/* ---- rule table ----------------------------------------------------------------- */

/*
 * d->policy.rules keeps the order rules were added in (what `rules` lists).
 * Every rule also has a slot in d->policy.slots, named by its handle
 * (seq << 32 | slot + 1: the slot finds it, the sequence number tells it
 * from an earlier rule of the slot), so every event that names a rule
 * finds it with one read; and one hash map of slot numbers finds a rule by
 * id (every add, edit and delete).  No operation on one rule costs more
 * with 100,000 others loaded, and the two cost 21 bytes a rule there.
 */
static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h;
}

/* A free slot holds the next free one, tagged: (next + 1) << 1 | 1. */
static bool slot_free(const struct agd_rule *p)
{
	return ((uintptr_t)p & 1) != 0;
}

static uint32_t handle_slot(uint64_t handle)
{
	return (uint32_t)handle - 1;
}

/* The slot the next rule added gets (table_add() takes it). */
static uint32_t next_slot(const struct agd *d)
{
	return d->policy.free_slot ? d->policy.free_slot - 1 : d->policy.nslots;
}

static struct agd_rule *by_slot(const struct agd *d, uint32_t slot)
{
	struct agd_rule *p = slot < d->policy.nslots ? d->policy.slots[slot] : NULL;

	return p && !slot_free(p) ? p : NULL;
}

static void map_put(struct agd *d, struct agd_rule *r)
{
	uint32_t mask = d->policy.capmap - 1, i = id_hash(agd_rule_id(r)) & mask;

	while (d->policy.by_id[i])
		i = (i + 1) & mask;
	d->policy.by_id[i] = handle_slot(r->handle) + 1;
}

/* Remove r, then shift later entries of its probe run back into the hole. */
static void map_del(struct agd *d, struct agd_rule *r)
{
	uint32_t mask = d->policy.capmap - 1, i = id_hash(agd_rule_id(r)) & mask;
	uint32_t *map = d->policy.by_id, want = handle_slot(r->handle) + 1;

	while (map[i] && map[i] != want)
		i = (i + 1) & mask;
	if (!map[i])
		return;
	map[i] = 0;
	for (uint32_t j = (i + 1) & mask; map[j]; j = (j + 1) & mask) {
		uint32_t home = id_hash(agd_rule_id(d->policy.slots[map[j] - 1])) & mask;

		/* map[j] may move to the hole i unless its home lies in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			map[i] = map[j];
			map[j] = 0;
			i = j;
		}
	}
}

static int map_grow(struct agd *d)
{
	uint32_t cap = d->policy.capmap ? d->policy.capmap * 2 : 128;
	uint32_t *ids = calloc(cap, sizeof(*ids));

	if (!ids)
		return -ENOMEM;
	free(d->policy.by_id);
	d->policy.by_id = ids;
	d->policy.capmap = cap;
	for (uint32_t i = 0; i < d->policy.nrules; i++)
		map_put(d, d->policy.rules[i]);
	return 0;
}

struct agd_rule *agd_rule_find(struct agd *d, const char *id)
{
	uint32_t mask = d->policy.capmap - 1;

	if (!d->policy.capmap)
		return NULL;
	for (uint32_t i = id_hash(id) & mask; d->policy.by_id[i]; i = (i + 1) & mask) {
		struct agd_rule *r = d->policy.slots[d->policy.by_id[i] - 1];

		if (strcmp(agd_rule_id(r), id) == 0)
			return r;
	}
	return NULL;
}

struct agd_rule *agd_rule_by_handle(struct agd *d, uint64_t handle)
{
	struct agd_rule *r = handle ? by_slot(d, handle_slot(handle)) : NULL;

	return r && r->handle == handle ? r : NULL;
}

/* A handle for a rule about to be added: the slot table_add() gives it. */
static uint64_t new_handle(struct agd *d)
{
	uint32_t seq = (uint32_t)++d->policy.next_rule_handle;

	if (!seq) /* a handle is never 0, whatever the slot */
		seq = (uint32_t)++d->policy.next_rule_handle;
	return (uint64_t)seq << 32 | ((uint64_t)next_slot(d) + 1);
}

static void slot_release(struct agd *d, uint32_t slot)
{
	d->policy.slots[slot] = (struct agd_rule *)(uintptr_t)((uintptr_t)d->policy.free_slot << 1 | 1);
	d->policy.free_slot = slot + 1;
}

/* The array @v of *@cap elements of @size bytes, doubled (64 at first);
 * NULL without memory (@v and *@cap as they were). */
static void *grow(void *v, uint32_t *cap, size_t size)
{
	uint32_t n = *cap ? *cap * 2 : 64;
	void *p = realloc(v, n * size);

	if (p)
		*cap = n;
	return p;
}

static int table_add(struct agd *d, struct agd_rule *r)
{
	uint32_t slot = handle_slot(r->handle);

	/* nothing added or removed a rule since new_handle(): the slot is free */
	if (slot != next_slot(d))
		return -EAGAIN;
	if (d->policy.nrules == d->policy.caprules) {
		void *p = grow(d->policy.rules, &d->policy.caprules, sizeof(*d->policy.rules));

		if (!p)
			return -ENOMEM;
		d->policy.rules = p;
	}
	if (slot == d->policy.nslots && slot == d->policy.capslots) {
		void *p = grow(d->policy.slots, &d->policy.capslots, sizeof(*d->policy.slots));

		if (!p)
			return -ENOMEM;
		d->policy.slots = p;
	}
	if ((d->policy.nrules + 1) * 2 > d->policy.capmap && map_grow(d))
		return -ENOMEM;
	/* the slot new_handle() named: the free list's first, or a new one */
	if (slot == d->policy.nslots)
		d->policy.nslots++;
	else
		d->policy.free_slot = (uint32_t)((uintptr_t)d->policy.slots[slot] >> 1);
	d->policy.slots[slot] = r;
	d->policy.rules[d->policy.nrules++] = r;
	map_put(d, r);
	return 0;
}

/* Take r out of the slots and the map (not out of d->policy.rules). */
static void table_forget(struct agd *d, struct agd_rule *r)
{
	map_del(d, r);
	slot_release(d, handle_slot(r->handle));
}

static void table_remove(struct agd *d, struct agd_rule *r)
{
	for (uint32_t i = 0; i < d->policy.nrules; i++)
		if (d->policy.rules[i] == r) {
			memmove(&d->policy.rules[i], &d->policy.rules[i + 1],
				(d->policy.nrules - i - 1) * sizeof(*d->policy.rules));
			d->policy.nrules--;
			table_forget(d, r);
			return;
		}
}

/* ---- rule -> filters ------------------------------------------------------------- */

static unsigned specificity(unsigned has)
{
	static const unsigned conds[] = { AG_RULE_HAS_APP, AG_RULE_HAS_UID, AG_RULE_HAS_REMOTE,
					  AG_RULE_HAS_HOST, AG_RULE_HAS_PORT, AG_RULE_HAS_PROTO,
					  AG_RULE_HAS_RESOLVERS, AG_RULE_HAS_SHA256, AG_RULE_HAS_HOST_LIST,
					  AG_RULE_HAS_REMOTE_LIST };
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		n += (has & conds[i]) != 0;
	return n;
}

/* Above 0 (the catch-all); rule weight first, then specificity, then deny. */
uint32_t agd_filter_weight(unsigned has, int weight, enum ag_rule_action action)
{
	uint32_t w = (uint32_t)(weight - AG_RULE_WEIGHT_MIN) * 100;

	w += specificity(has) * 10;
	if (action == AG_RULE_DENY || action == AG_RULE_REJECT)
		w += 5;
	else if (action == AG_RULE_ALLOW)
		w += 2;
	return w + 1;
}

uint32_t agd_rule_filter_weight(const struct ag_rule *r)
{
	return agd_filter_weight(r->has, r->weight, r->action);
}

/* The sha256 condition: the digest as the engine takes it, in @hex. */
static size_t sha256_condition(const struct ag_rule *r, ag_condition *c, char *hex)
{
	if (!(r->has & AG_RULE_HAS_SHA256))
		return 0;
	c->field = AG_FIELD_APP_SHA256;
	c->match = AG_MATCH_EQUAL;
	c->v.str = ag_rule_sha256_hex(r->sha256, hex);
	return 1;
}

/* One condition per value: the engine ORs conditions on one field. */
static size_t conditions_needed(const struct agd *d, const struct ag_rule *r)
{
	/* the sha256 and the two lists: one condition each */
	size_t n = 3 + (size_t)r->n_app + r->n_user + r->n_remote + r->n_host + r->n_port + r->n_proto;

	return (r->has & AG_RULE_HAS_RESOLVERS) ? n + d->resolvers.n : n;
}

/* One filter of rule @ar (@r: its view) at @layer. */
static int add_filter(struct agd *d, struct agd_rule *ar, const struct ag_rule *r, ag_layer layer,
		      uint32_t flags, uint64_t *id)
{
	ag_condition stack_c[8], *c = stack_c;
	size_t n = 0, need = conditions_needed(d, r);
	char sha_hex[2 * AG_RULE_SHA256_LEN + 1];
	bool in = layer == AG_LAYER_ALE_AUTH_RECV_ACCEPT;
	int ret;

	/* No resolver configured: the rule matches nothing, so it has no filter
	 * (a filter without the condition would match every address). */
	if ((r->has & AG_RULE_HAS_RESOLVERS) && !d->resolvers.n) {
		*id = 0;
		return 0;
	}
	if (need > sizeof(stack_c) / sizeof(stack_c[0]))
		c = calloc(need, sizeof(*c));
	else
		memset(stack_c, 0, sizeof(stack_c));
	if (!c)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n_app; i++) {
		const struct ag_rule_app *a = &r->app[i];

		c[n].field = AG_FIELD_APP_PATH;
		c[n].match = a->glob ? AG_MATCH_GLOB : AG_MATCH_EQUAL;
		c[n++].v.str = a->path;
	}
	n += sha256_condition(r, &c[n], sha_hex);
	for (unsigned i = 0; i < r->n_user; i++) {
		c[n].field = AG_FIELD_UID;
		c[n].match = AG_MATCH_EQUAL;
		c[n++].v.u32 = r->user[i].uid;
	}
	for (unsigned i = 0; i < r->n_remote; i++) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_PREFIX;
		c[n].v.addr.ip_version = r->remote[i].family == AF_INET6 ? 6 : 4;
		c[n].v.addr.len = r->remote[i].plen;
		c[n].v.addr.bytes = ag_addr_make(c[n].v.addr.ip_version, r->remote[i].addr);
		n++;
	}
	/* one condition per resolver: conditions on one field are ORed */
	for (unsigned i = 0; (r->has & AG_RULE_HAS_RESOLVERS) && i < d->resolvers.n; i++) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_PREFIX;
		c[n].v.addr.ip_version = d->resolvers.list[i].ver;
		c[n].v.addr.len = d->resolvers.list[i].ver == 6 ? 128 : 32;
		c[n++].v.addr.bytes = d->resolvers.list[i].addr;
	}
	for (unsigned i = 0; i < r->n_host; i++) {
		c[n].field = AG_FIELD_REMOTE_HOST;
		c[n].match = r->host[i].wildcard ? AG_MATCH_SUFFIX : AG_MATCH_EQUAL;
		c[n++].v.str = r->host[i].name;
	}
	n += agd_list_conditions(agd_rule_lists(ar), c + n);
	for (unsigned i = 0; i < r->n_port; i++) {
		/* The port a person means: the remote one out, the local one in. */
		c[n].field = flags & AG_FILTER_FLAG_ALSO_RECV_ACCEPT ? AG_FIELD_SERVICE_PORT
			     : in ? AG_FIELD_LOCAL_PORT : AG_FIELD_REMOTE_PORT;
		c[n].match = AG_MATCH_RANGE;
		c[n].v.range.lo = r->port[i].lo;
		c[n++].v.range.hi = r->port[i].hi;
	}
	for (unsigned i = 0; i < r->n_proto; i++) {
		c[n].field = AG_FIELD_PROTOCOL;
		c[n].match = AG_MATCH_EQUAL;
		c[n++].v.u32 = r->proto[i];
	}

	ag_filter_spec s = {
		.layer = layer,
		.sublayer = AGD_SUBLAYER_RULES,
		.weight = agd_rule_filter_weight(r),
		.flags = flags,
		.conditions = c,
		.n_conditions = n,
		/* no name: the context finds the rule, and its id (a name
		 * interned per rule was 48 bytes of each, read by nothing) */
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
	ret = ag_filter_add(d->engine, &s, id);
	if (c != stack_c)
		free(c);
	return ret;
}

/* Whether rule @ar has filters that ask for the executable's SHA-256. */
static void count_sha256(struct agd *d, struct agd_rule *ar)
{
	bool on = (agd_rule_packed(ar)->has & AG_RULE_HAS_SHA256) && (ar->filters[0] || ar->filters[1]);

	if (on == ar->sha256_counted)
		return;
	ar->sha256_counted = on;
	d->policy.sha256_rules += on ? 1u : (uint32_t)-1;
}

static void remove_filters(struct agd *d, struct agd_rule *ar)
{
	d->fastpath.dirty = true;
	for (int i = 0; i < 2; i++) {
		if (ar->filters[i])
			ag_filter_del(d->engine, ar->filters[i]);
		ar->filters[i] = 0;
	}
	count_sha256(d, ar);
}

/* The filters of rule @ar, @r its view (agd_rule_view()). */
static int install_filters(struct agd *d, struct agd_rule *ar, const struct ag_rule *r)
{
	d->fastpath.dirty = true;
	bool out = !(r->has & AG_RULE_HAS_DIRECTION) || r->direction == AG_RULE_OUT;
	bool in = !(r->has & AG_RULE_HAS_DIRECTION) || r->direction == AG_RULE_IN;
	/* both ways: one filter of both layers, half the engine's memory of two */
	uint32_t both = out && in ? AG_FILTER_FLAG_ALSO_RECV_ACCEPT : 0;
	int ret = 0;

	/* Learn the file at each of the rule's paths now and watch its
	 * directory: a process matches the rule only if it runs that very
	 * file.  Once per rule, not per filter; a program not there yet is
	 * looked for again by the next rule naming it, except while a
	 * directory of rules loads (once per load then). */
	for (unsigned i = 0; i < r->n_app; i++) {
		uint32_t dev;
		uint64_t ino;

		if (r->app[i].glob)
			continue;
		if (!d->dp.exeid)
			d->dp.exeid = ag_exeid_new();
		if (d->dp.exeid && ag_exeid_resolve(d->dp.exeid, r->app[i].path, &dev, &ino) < 0)
			log_debug("rule %s: no program at %s yet; the rule applies once there is",
				  r->id, r->app[i].path);
	}
	if (out)
		ret = add_filter(d, ar, r, AG_LAYER_ALE_AUTH_CONNECT, both, &ar->filters[0]);
	if (!ret && in && !both)
		ret = add_filter(d, ar, r, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, &ar->filters[1]);
	if (ret)
		remove_filters(d, ar);
	count_sha256(d, ar);
	return ret;
}

/* Let go of @ar's lists (agd_rule_lists()). */
static void lists_put(struct agd *d, struct agd_rule *ar)
{
	if (ar->lists_at)
		agd_lists_put(d, (struct agd_list **)(void *)((char *)ar->packed + ar->lists_at));
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
	for (unsigned i = 0; i < r->n_user; i++) {
		struct ag_rule_user *u = &r->user[i];
		struct passwd *pw;

		if (u->uid_known || !u->name)
			continue;
		pw = getpwnam(u->name);
		if (!pw) {
			set_err(err, errlen, "unknown user \"%s\"", u->name);
			return -ENOENT;
		}
		u->uid = pw->pw_uid;
		u->uid_known = true;
	}
	r->has |= AG_RULE_HAS_UID;
	return 0;
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
	if (!rule->source && !rule->name && agd_rule_default_name(rule)) {
		set_err(err, errlen, "%s", "out of memory");
		return -ENOMEM;
	}
	if (!rule->source && !(rule->has & AG_RULE_HAS_CREATED)) {
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
	/* the file of a saved rule is <rules_dir>/<id>.json: nothing to keep */
	struct ag_rule kept = *rule;
	struct ag_rule_view view;
	struct agd_list *lists[2];

	kept.source = NULL;
	/* the packed rule, then the lists of a rule that has one */
	size_t size = ag_rule_packed_size(&kept), at = (size + 7) & ~(size_t)7;
	bool listed = kept.has & (AG_RULE_HAS_HOST_LIST | AG_RULE_HAS_REMOTE_LIST);

	if (!size || !(ar = calloc(1, sizeof(*ar) + at + (listed ? sizeof(lists) : 0)))) {
		set_err(err, errlen, "%s", size ? "out of memory" : "too many values");
		return size ? -ENOMEM : -EINVAL;
	}
	/* what is saved and given to lists is what is kept: the packed rule */
	const struct ag_rule *stored = ag_rule_unpack(ag_rule_pack(&kept, ar->packed), &view);

	ar->handle = new_handle(d);
	/* a list file given now must be readable; one of a rule file at
	 * start may come later */
	if ((r = agd_lists_get(d, stored, lists, !rule->source, err, errlen))) {
		free(ar);
		return r;
	}
	if (listed) {
		ar->lists_at = (uint32_t)at;
		memcpy((char *)ar->packed + at, lists, sizeof(lists));
	}
	r = install_filters(d, ar, stored);
	if (r) {
		set_err(err, errlen, "%s",
			r == AG_E_LIMIT ? "too many filters"
			: r == -ENOMEM ? "out of memory" : "the engine refused the rule");
		lists_put(d, ar);
		free(ar);
		return r == AG_E_LIMIT ? -ENOSPC : r == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	/* An `always` rule is saved before it is announced: if the disk says
	 * no, the rule is not kept, so nothing looks saved that is not. */
	if (rule->lifetime == AG_RULE_ALWAYS && !rule->source) {
		r = ag_rule_save(d->cfg.rules_dir, stored, AG_RULE_SAVE_NEW);
		if (r) {
			remove_filters(d, ar);
			lists_put(d, ar);
			free(ar);
			set_err(err, errlen, "cannot save the rule in %s: %s", d->cfg.rules_dir,
				strerror(-r));
			*save_failed = true;
			log_err("saving rule %s in %s: %s", rule->id, d->cfg.rules_dir,
				strerror(-r));
			return r;
		}
	}
	if (table_add(d, ar)) {
		remove_filters(d, ar);
		lists_put(d, ar);
		free(ar);
		set_err(err, errlen, "%s", "out of memory");
		return -ENOMEM;
	}
	/* a directory of 100,000 rules is one line (agd_policy_load), not 100,000 */
	if (d->policy.bulk)
		log_debug("rule %s added (%s, %s)", stored->id, ag_rule_action_name(stored->action),
			  ag_rule_lifetime_name(stored->lifetime));
	else
		log_info("rule %s added (%s, %s)", stored->id, ag_rule_action_name(stored->action),
			 ag_rule_lifetime_name(stored->lifetime));
	if (stored->lifetime == AG_RULE_TIMED)
		d->life.timed_dirty = true; /* lifecycle.c keeps them across a restart */
	/* names the cache already holds: the kernel must not miss them */
	agd_fastpath_seed_rule(d, ar);
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
	if (agd_rule_packed(ar)->lifetime == AG_RULE_TIMED)
		d->life.timed_dirty = true;
	remove_filters(d, ar);
	table_remove(d, ar);
	lists_put(d, ar);
	free(ar);
}

void agd_rules_refresh_list(struct agd *d, const struct agd_list *l)
{
	ag_engine_begin(d->engine);
	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		struct agd_rule *ar = d->policy.rules[i];

		if (agd_rule_lists(ar)[0] != l && agd_rule_lists(ar)[1] != l)
			continue;
		struct ag_rule_view view;

		remove_filters(d, ar);
		if (install_filters(d, ar, agd_rule_view(ar, &view)))
			log_warn("rule %s: no filters for the new list", agd_rule_id(ar));
		agd_fastpath_seed_rule(d, ar);
	}
	ag_engine_commit(d->engine);
	agd_fastpath_sync(d);
}

int agd_rule_del(struct agd *d, const char *id)
{
	struct agd_rule *ar = agd_rule_find(d, id);
	int r;

	if (!ar)
		return -ENOENT;
	if (agd_rule_packed(ar)->lifetime == AG_RULE_ALWAYS) {
		r = ag_rule_delete(d->cfg.rules_dir, id);
		if (r && r != -ENOENT) {
			log_err("deleting rule file %s: %s", id, strerror(-r));
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
	struct ag_rule_packed *p = ar ? (struct ag_rule_packed *)(void *)ar->packed : NULL;
	struct ag_rule_view view;
	int r;

	if (!ar)
		return -ENOENT;
	if (p->enabled == enabled)
		return 0;
	p->enabled = enabled;	/* the one field changed in place */
	if (p->lifetime == AG_RULE_ALWAYS &&
	    (r = ag_rule_save(d->cfg.rules_dir, ag_rule_unpack(p, &view), 0))) {
		p->enabled = !enabled;	/* the file still says so */
		return r;
	}
	if (p->lifetime == AG_RULE_TIMED)
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

		const struct ag_rule_packed *p = agd_rule_packed(ar);

		if (p->lifetime == AG_RULE_UNTIL_QUIT && ag_rule_packed_session(p) == session) {
			log_info("rule %s ends with its session", p->id);
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
	count_sha256(d, ar);
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
			log_info("rule %s expired", agd_rule_id(ar));
			rule_free(d, ar);
		}
	}
}

void agd_policy_resolvers_changed(struct agd *d)
{
	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		struct agd_rule *ar = d->policy.rules[i];

		if (!(agd_rule_packed(ar)->has & AG_RULE_HAS_RESOLVERS) || ar->expired)
			continue;
		struct ag_rule_view view;

		remove_filters(d, ar);
		if (install_filters(d, ar, agd_rule_view(ar, &view)))
			log_warn("rule %s: no filters for the new resolvers", agd_rule_id(ar));
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
	char err[AGD_ERR_MAX];
	struct ag_rule copy;

	if (!rule) {
		/* a bad file: its errors, and the other rules still load */
		agd_log_lines(LOG_ERR, NULL, lines, lc->errors);
		return 0;
	}
	/* a shallow copy, only read: agd_rule_add() makes its own */
	copy = *rule;
	copy.lifetime = AG_RULE_ALWAYS;
	if (agd_rule_add(lc->d, &copy, err, sizeof(err))) {
		char msg[AG_RULE_SOURCE_MAX + 128];

		if (snprintf(msg, sizeof(msg), "%s: %s", rule->source ? rule->source : rule->id,
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
	/* and one look for each program, there or not, not one per rule
	 * naming it (install_filters()); a program that comes later is
	 * found by the first question about it, as ever */
	if (!d->dp.exeid)
		d->dp.exeid = ag_exeid_new();
	if (d->dp.exeid)
		ag_exeid_batch(d->dp.exeid, true);
	if (ag_rules_load_dir(d->cfg.rules_dir, load_one, &lc, err, sizeof(err)) < 0 && err[0])
		agd_log_lines(LOG_ERR, NULL, err, errors);
	d->policy.bulk = was;
	if (d->dp.exeid)
		ag_exeid_batch(d->dp.exeid, false);
	return lc.loaded;
}

int agd_policy_load(struct agd *d)
{
	ag_engine_begin(d->engine);
	int n = load_dir(d, NULL);

	ag_engine_commit(d->engine);
	log_info("%d rules loaded from %s", n, d->cfg.rules_dir);
	return n;
}

/*
 * Forget every persistent rule at once: one pass over the table, where
 * deleting them one by one would move the rest of the table each time.
 */
static void free_persistent(struct agd *d)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		struct agd_rule *ar = d->policy.rules[i];

		if (agd_rule_packed(ar)->lifetime != AG_RULE_ALWAYS) {
			d->policy.rules[kept++] = ar;
			continue;
		}
		remove_filters(d, ar);
		table_forget(d, ar);
		lists_put(d, ar);
		free(ar);
	}
	d->policy.nrules = kept;
}

int agd_policy_reload(struct agd *d, json_t *errors)
{
	/* Persistent rules are what the directory says now; the others stay.
	 * One transaction: live flows are reauthorized once (S12c). */
	ag_engine_begin(d->engine);
	agd_lists_reload_begin(d);	/* every list is read again */
	free_persistent(d);
	int n = load_dir(d, errors);

	ag_engine_commit(d->engine);
	agd_lists_reload_end(d);
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
	free(d->policy.slots);
	d->policy.rules = NULL;
	d->policy.by_id = NULL;
	d->policy.slots = NULL;
	d->policy.nrules = d->policy.caprules = d->policy.capmap = 0;
	d->policy.nslots = d->policy.capslots = d->policy.free_slot = 0;
	free(d->policy.pending);
	d->policy.pending = NULL;
	d->policy.npending = d->policy.cappending = 0;
}
