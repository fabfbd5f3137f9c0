/*
 * rule_packed.c — a rule as one run of bytes (struct ag_rule_packed), and
 * views of it as a struct ag_rule.
 *
 * After the header and the id come, in this order and each only when the
 * rule has it:
 *   created, expires_ns, session	8 bytes each (unaligned: memcpy)
 *   sha256				32 bytes
 *   proto values			1 byte each
 *   port values			lo, hi: 4 bytes each
 *   remote values			family, plen, then 4 address bytes for
 *					AF_INET, 16 for any other family
 *   user values			flags (V_UID_KNOWN, V_STR), uid (4
 *					bytes), then the name and a NUL (V_STR)
 *   app, host values			flags (V_GLOB, V_STR), then the path or
 *					name and a NUL (V_STR)
 *   name, callout, source, host_list, remote_list: each and a NUL
 * One walk (put_rule()) both measures and writes, so the size and the
 * bytes cannot disagree.
 */
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "rule/internal.h"

/* struct ag_rule_packed.opt: the seldom-used parts that follow */
#define OPT_NAME	0x001
#define OPT_CALLOUT	0x002
#define OPT_SOURCE	0x004
#define OPT_HOST_LIST	0x008
#define OPT_REMOTE_LIST	0x010
#define OPT_CREATED	0x020
#define OPT_EXPIRES	0x040
#define OPT_SESSION	0x080
#define OPT_SHA256	0x100

/* a value's flags byte */
#define V_STR		0x1	/* a string follows (a NULL one is left out) */
#define V_GLOB		0x2	/* app: glob; host: wildcard */
#define V_UID_KNOWN	0x4	/* user: uid_known */

_Static_assert(offsetof(struct ag_rule_packed, id) == 21, "the header is 21 bytes");
/* A field added to struct ag_rule is lost in the daemon until it is packed
 * here and compared in tests/unit/test_rule_packed.c: then change 216. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct ag_rule) == 216,
	       "struct ag_rule changed: pack the new field");

/* Where put_rule() writes: @p NULL only counts. */
struct out {
	unsigned char *p;
	size_t n;
};

static void put(struct out *o, const void *src, size_t len)
{
	if (o->p)
		memcpy(o->p + o->n, src, len);
	o->n += len;
}

static void put_u8(struct out *o, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(o, &b, 1);
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s) + 1);
}

/* A value of app or host: its flags, then its string. */
static void put_value_str(struct out *o, const char *s, bool flag)
{
	put_u8(o, (s ? V_STR : 0) | (flag ? V_GLOB : 0));
	if (s)
		put_str(o, s);
}

static bool sha256_set(const struct ag_rule *r)
{
	for (size_t i = 0; i < sizeof(r->sha256); i++)
		if (r->sha256[i])
			return true;
	return false;
}

static unsigned opt_of(const struct ag_rule *r)
{
	return (r->name ? OPT_NAME : 0) | (r->callout ? OPT_CALLOUT : 0) |
	       (r->source ? OPT_SOURCE : 0) | (r->host_list ? OPT_HOST_LIST : 0) |
	       (r->remote_list ? OPT_REMOTE_LIST : 0) | (r->created ? OPT_CREATED : 0) |
	       (r->expires_ns ? OPT_EXPIRES : 0) | (r->session ? OPT_SESSION : 0) |
	       (sha256_set(r) ? OPT_SHA256 : 0);
}

static size_t put_rule(const struct ag_rule *r, void *buf)
{
	struct out o = { buf, 0 };
	struct ag_rule_packed h = {
		.weight = r->weight,
		.has = r->has,
		.opt = (uint16_t)opt_of(r),
		.action = (uint8_t)r->action,
		.direction = (uint8_t)r->direction,
		.lifetime = (uint8_t)r->lifetime,
		.enabled = r->enabled,
		.n_app = r->n_app, .n_user = r->n_user, .n_remote = r->n_remote,
		.n_host = r->n_host, .n_port = r->n_port, .n_proto = r->n_proto,
		.id_len = (uint8_t)strnlen(r->id, AG_RULE_ID_MAX),
	};

	put(&o, &h, offsetof(struct ag_rule_packed, id));
	put(&o, r->id, h.id_len);
	put_u8(&o, 0);
	if (h.opt & OPT_CREATED)
		put(&o, &r->created, sizeof(r->created));
	if (h.opt & OPT_EXPIRES)
		put(&o, &r->expires_ns, sizeof(r->expires_ns));
	if (h.opt & OPT_SESSION)
		put(&o, &r->session, sizeof(r->session));
	if (h.opt & OPT_SHA256)
		put(&o, r->sha256, sizeof(r->sha256));
	if (r->n_proto)
		put(&o, r->proto, r->n_proto);
	for (unsigned i = 0; i < r->n_port; i++) {
		put(&o, &r->port[i].lo, 2);
		put(&o, &r->port[i].hi, 2);
	}
	for (unsigned i = 0; i < r->n_remote; i++) {
		put_u8(&o, r->remote[i].family);
		put_u8(&o, r->remote[i].plen);
		put(&o, r->remote[i].addr, r->remote[i].family == AF_INET ? 4 : 16);
	}
	for (unsigned i = 0; i < r->n_user; i++) {
		put_u8(&o, (r->user[i].name ? V_STR : 0) | (r->user[i].uid_known ? V_UID_KNOWN : 0));
		put(&o, &r->user[i].uid, 4);
		if (r->user[i].name)
			put_str(&o, r->user[i].name);
	}
	for (unsigned i = 0; i < r->n_app; i++)
		put_value_str(&o, r->app[i].path, r->app[i].glob);
	for (unsigned i = 0; i < r->n_host; i++)
		put_value_str(&o, r->host[i].name, r->host[i].wildcard);
	const char *strs[] = { r->name, r->callout, r->source, r->host_list, r->remote_list };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strs[i])
			put_str(&o, strs[i]);
	return o.n;
}

size_t ag_rule_packed_size(const struct ag_rule *rule)
{
	/* a view holds AG_RULE_VALUES_MAX values of a condition, no more */
	if (rule->n_app > AG_RULE_VALUES_MAX || rule->n_user > AG_RULE_VALUES_MAX ||
	    rule->n_remote > AG_RULE_VALUES_MAX || rule->n_host > AG_RULE_VALUES_MAX ||
	    rule->n_port > AG_RULE_VALUES_MAX || rule->n_proto > AG_RULE_VALUES_MAX)
		return 0;
	return put_rule(rule, NULL);
}

struct ag_rule_packed *ag_rule_pack(const struct ag_rule *rule, void *buf)
{
	put_rule(rule, buf);
	return buf;
}

/* The first byte after the id. */
static const unsigned char *after_id(const struct ag_rule_packed *p)
{
	return (const unsigned char *)p->id + p->id_len + 1;
}

/* A string of the packed rule (its NUL included); *at moves past it. */
static char *take_str(const unsigned char **at)
{
	char *s = (char *)*at;

	*at += strlen(s) + 1;
	return s;
}

/* The string of an app or host value, and its V_GLOB. */
static char *take_value_str(const unsigned char **at, bool *flag)
{
	unsigned f = *(*at)++;

	*flag = (f & V_GLOB) != 0;
	return (f & V_STR) ? take_str(at) : NULL;
}

const struct ag_rule *ag_rule_unpack(const struct ag_rule_packed *p, struct ag_rule_view *view)
{
	struct ag_rule *r = &view->rule;
	const unsigned char *at = after_id(p);

	memset(r, 0, sizeof(*r));
	memcpy(r->id, p->id, p->id_len);
	r->enabled = p->enabled;
	r->n_app = p->n_app;
	r->n_user = p->n_user;
	r->n_remote = p->n_remote;
	r->n_host = p->n_host;
	r->n_port = p->n_port;
	r->n_proto = p->n_proto;
	r->action = (enum ag_rule_action)p->action;
	r->weight = p->weight;
	r->has = p->has;
	r->direction = (enum ag_rule_direction)p->direction;
	r->lifetime = (enum ag_rule_lifetime)p->lifetime;
	r->view = true;
	if (p->opt & OPT_CREATED) {
		memcpy(&r->created, at, sizeof(r->created));
		at += sizeof(r->created);
	}
	if (p->opt & OPT_EXPIRES) {
		memcpy(&r->expires_ns, at, sizeof(r->expires_ns));
		at += sizeof(r->expires_ns);
	}
	if (p->opt & OPT_SESSION) {
		memcpy(&r->session, at, sizeof(r->session));
		at += sizeof(r->session);
	}
	if (p->opt & OPT_SHA256) {
		memcpy(r->sha256, at, sizeof(r->sha256));
		at += sizeof(r->sha256);
	}
	/* the view's arrays are NULL when empty, as in any rule */
	if (r->n_proto)
		r->proto = (uint8_t *)at;
	at += r->n_proto;
	if (r->n_port)
		r->port = view->port;
	for (unsigned i = 0; i < r->n_port; i++, at += 4) {
		memcpy(&view->port[i].lo, at, 2);
		memcpy(&view->port[i].hi, at + 2, 2);
	}
	if (r->n_remote)
		r->remote = view->remote;
	for (unsigned i = 0; i < r->n_remote; i++) {
		struct ag_rule_remote *v = &view->remote[i];
		size_t len = at[0] == AF_INET ? 4 : 16;

		v->family = at[0];
		v->plen = at[1];
		memcpy(v->addr, at + 2, len);
		memset(v->addr + len, 0, sizeof(v->addr) - len);
		at += 2 + len;
	}
	if (r->n_user)
		r->user = view->user;
	for (unsigned i = 0; i < r->n_user; i++) {
		struct ag_rule_user *u = &view->user[i];
		unsigned f = *at++;

		u->uid_known = (f & V_UID_KNOWN) != 0;
		memcpy(&u->uid, at, 4);
		at += 4;
		u->name = (f & V_STR) ? take_str(&at) : NULL;
	}
	if (r->n_app)
		r->app = view->app;
	for (unsigned i = 0; i < r->n_app; i++)
		view->app[i].path = take_value_str(&at, &view->app[i].glob);
	if (r->n_host)
		r->host = view->host;
	for (unsigned i = 0; i < r->n_host; i++)
		view->host[i].name = take_value_str(&at, &view->host[i].wildcard);
	char **strs[] = { &r->name, &r->callout, &r->source, &r->host_list, &r->remote_list };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (p->opt & (OPT_NAME << i))
			*strs[i] = take_str(&at);
	return r;
}

/* The 8 bytes of @opt_bit (OPT_CREATED, _EXPIRES or _SESSION), or 0. */
static uint64_t scalar(const struct ag_rule_packed *p, unsigned opt_bit)
{
	const unsigned char *at = after_id(p);
	uint64_t v = 0;

	if (!(p->opt & opt_bit))
		return 0;
	/* the ones before it */
	at += 8 * (size_t)__builtin_popcount(p->opt & (opt_bit - 1) &
					      (OPT_CREATED | OPT_EXPIRES | OPT_SESSION));
	memcpy(&v, at, sizeof(v));
	return v;
}

uint64_t ag_rule_packed_expires_ns(const struct ag_rule_packed *p)
{
	return scalar(p, OPT_EXPIRES);
}

uint64_t ag_rule_packed_session(const struct ag_rule_packed *p)
{
	return scalar(p, OPT_SESSION);
}
