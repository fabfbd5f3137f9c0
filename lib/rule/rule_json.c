/*
 * rule_json.c — a rule as JSON: the object the control protocol sends and
 * a rule file holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "rule/internal.h"
#include "rule/rfc3339.h"


/*
 * The UTF-8 that jansson accepts: no overlong forms, no surrogates, nothing
 * past U+10FFFF.  Checked here so a failure can be told from ENOMEM.
 */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned need;
		uint32_t cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			need = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			need = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			need = 3;
			cp = *p & 0x07;
		} else {
			return false;
		}
		/* A NUL fails the continuation test before anything past it is read. */
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += need + 1;
	}
	return true;
}

static json_t *jstr(const char *s, int *why)
{
	if (!utf8_valid(s)) {
		*why = EILSEQ;
		return NULL;
	}
	return json_string(s);
}

static int put(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -1;
	return json_object_set_new(obj, key, v);
}

/* host_list and remote_list, where the rule has them; 0 or -1. */
static int put_lists(json_t *o, const struct ag_rule *r, int *why)
{
	int bad = 0;

	if (r->has & AG_RULE_HAS_HOST_LIST)
		bad |= put(o, "host_list", jstr(r->host_list, why));
	if (r->has & AG_RULE_HAS_REMOTE_LIST)
		bad |= put(o, "remote_list", jstr(r->remote_list, why));
	return bad;
}

/*
 * The values of one condition: one value as itself (as rule files always
 * had it), several as an array.  Takes the references in @vals.
 */
static json_t *values(json_t **vals, unsigned n)
{
	json_t *a = NULL;
	bool bad = false;

	for (unsigned i = 0; i < n; i++)
		bad |= !vals[i];
	if (!bad && n == 1)
		return vals[0];
	if (!bad)
		a = json_array();
	for (unsigned i = 0; i < n; i++) {
		if (!a)
			json_decref(vals[i]);
		else if (json_array_append_new(a, vals[i]))	/* takes it, even then */
			bad = true;
	}
	if (bad || !a) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *remote_json(const struct ag_rule_remote *v, int *why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned max = v->family == AF_INET ? 32 : 128;

	if (!inet_ntop(v->family, v->addr, buf, INET6_ADDRSTRLEN)) {
		*why = EINVAL;	/* not an address family: no text for it */
		return NULL;
	}
	if (v->plen < max)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u", v->plen);
	return json_string(buf);
}

json_t *ag_rule_to_json(const struct ag_rule *r, unsigned flags)
{
	char buf[INET6_ADDRSTRLEN + 8], pn[8];
	json_t *o = json_object(), *vals[AG_RULE_VALUES_MAX];
	int bad = 0, why = 0;

	if (r->n_app > AG_RULE_VALUES_MAX || r->n_user > AG_RULE_VALUES_MAX ||
	    r->n_remote > AG_RULE_VALUES_MAX || r->n_host > AG_RULE_VALUES_MAX ||
	    r->n_port > AG_RULE_VALUES_MAX || r->n_proto > AG_RULE_VALUES_MAX) {
		json_decref(o);
		errno = EINVAL;	/* set in C past the bound: no rule file has it */
		return NULL;
	}
	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	if (r->id[0] || !(flags & AG_RULE_JSON_CONTROL))
		bad |= put(o, "id", jstr(r->id, &why));
	if (r->name)
		bad |= put(o, "name", jstr(r->name, &why));
	bad |= put(o, "action", json_string(ag_rule_action_name(r->action)));
	if (r->action == AG_RULE_CALLOUT)
		bad |= put(o, "callout", jstr(ag_rule_str(r->callout), &why));
	bad |= put(o, "enabled", json_boolean(r->enabled));
	if (r->n_app) {
		for (unsigned i = 0; i < r->n_app; i++)
			vals[i] = jstr(r->app[i].path, &why);
		bad |= put(o, "app", values(vals, r->n_app));
	}
	if (r->has & AG_RULE_HAS_SHA256) {
		char hex[2 * AG_RULE_SHA256_LEN + 1];

		bad |= put(o, "sha256", json_string(ag_rule_sha256_hex(r->sha256, hex)));
	}
	if (r->n_user) {
		/* A number stays a number; a name stays what was given. */
		for (unsigned i = 0; i < r->n_user; i++)
			vals[i] = r->user[i].name ? jstr(r->user[i].name, &why)
						  : json_integer(r->user[i].uid);
		bad |= put(o, "user", values(vals, r->n_user));
	}
	if (r->has & AG_RULE_HAS_RESOLVERS)
		bad |= put(o, "remote", json_string(AG_RULE_REMOTE_RESOLVERS));
	if (r->n_remote) {
		for (unsigned i = 0; i < r->n_remote; i++)
			vals[i] = remote_json(&r->remote[i], &why);
		bad |= put(o, "remote", values(vals, r->n_remote));
	}
	if (r->n_host) {
		for (unsigned i = 0; i < r->n_host; i++)
			vals[i] = jstr(r->host[i].name, &why);
		bad |= put(o, "host", values(vals, r->n_host));
	}
	bad |= put_lists(o, r, &why);
	if (r->n_port) {
		/* Always a string, so one port and a range look alike. */
		for (unsigned i = 0; i < r->n_port; i++) {
			if (r->port[i].lo == r->port[i].hi)
				snprintf(buf, sizeof(buf), "%u", r->port[i].lo);
			else
				snprintf(buf, sizeof(buf), "%u-%u", r->port[i].lo, r->port[i].hi);
			vals[i] = json_string(buf);
		}
		bad |= put(o, "port", values(vals, r->n_port));
	}
	if (r->n_proto) {
		for (unsigned i = 0; i < r->n_proto; i++) {
			const char *p = ag__rule_proto_name(r->proto[i], pn, sizeof(pn));

			vals[i] = p == pn ? json_integer(r->proto[i]) : json_string(p);
		}
		bad |= put(o, "proto", values(vals, r->n_proto));
	}
	if (r->has & AG_RULE_HAS_DIRECTION)
		bad |= put(o, "direction", json_string(r->direction == AG_RULE_IN ? "in" : "out"));
	bad |= put(o, "weight", json_integer(r->weight));
	if (r->has & AG_RULE_HAS_CREATED) {
		ag_rfc3339_format(r->created, buf, sizeof(buf));
		bad |= put(o, "created", json_string(buf));
	}
	if (flags & AG_RULE_JSON_CONTROL) {
		bad |= put(o, "lifetime", json_string(ag_rule_lifetime_name(r->lifetime)));
		if (r->lifetime == AG_RULE_TIMED) {
			uint64_t now = ag__rule_boottime_ns();
			uint64_t left = r->expires_ns > now ? (r->expires_ns - now) / 1000000u : 0;

			bad |= put(o, "expires_in_ms", json_integer((json_int_t)left));
		}
	}
	if (bad) {
		json_decref(o);
		errno = why ? why : ENOMEM;
		return NULL;
	}
	return o;
}
