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

json_t *ag_rule_to_json(const struct ag_rule *r, unsigned flags)
{
	char buf[INET6_ADDRSTRLEN + 8], pn[8];
	json_t *o = json_object();
	int bad = 0, why = 0;

	if (!o) {
		errno = ENOMEM;
		return NULL;
	}
	if (r->id[0] || !(flags & AG_RULE_JSON_CONTROL))
		bad |= put(o, "id", jstr(r->id, &why));
	if (r->name[0])
		bad |= put(o, "name", jstr(r->name, &why));
	bad |= put(o, "action", json_string(ag_rule_action_name(r->action)));
	if (r->action == AG_RULE_CALLOUT)
		bad |= put(o, "callout", jstr(r->callout, &why));
	bad |= put(o, "enabled", json_boolean(r->enabled));
	if (r->has & AG_RULE_HAS_APP)
		bad |= put(o, "app", jstr(r->app, &why));
	if (r->has & AG_RULE_HAS_SHA256) {
		char hex[2 * AG_RULE_SHA256_LEN + 1];

		bad |= put(o, "sha256", json_string(ag_rule_sha256_hex(r->sha256, hex)));
	}
	if (r->has & AG_RULE_HAS_USER) {
		/* A number stays a number; a name stays what was given. */
		char num[16];

		snprintf(num, sizeof(num), "%u", r->uid);
		if ((r->has & AG_RULE_HAS_UID) && strcmp(num, r->user) == 0)
			bad |= put(o, "user", json_integer(r->uid));
		else
			bad |= put(o, "user", jstr(r->user, &why));
	} else if (r->has & AG_RULE_HAS_UID) {
		bad |= put(o, "user", json_integer(r->uid));
	}
	if (r->has & AG_RULE_HAS_RESOLVERS)
		bad |= put(o, "remote", json_string(AG_RULE_REMOTE_RESOLVERS));
	if (r->has & AG_RULE_HAS_REMOTE) {
		unsigned max = r->remote_family == AF_INET ? 32 : 128;

		if (!inet_ntop(r->remote_family, r->remote_addr, buf, INET6_ADDRSTRLEN)) {
			why = EINVAL;	/* not an address family: no text for it */
			bad = -1;
		} else {
			if (r->remote_plen < max)
				snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u",
					 r->remote_plen);
			bad |= put(o, "remote", json_string(buf));
		}
	}
	if (r->has & AG_RULE_HAS_HOST)
		bad |= put(o, "host", jstr(r->host, &why));
	bad |= put_lists(o, r, &why);
	if (r->has & AG_RULE_HAS_PORT) {
		/* Always a string, so one port and a range look alike. */
		if (r->port_min == r->port_max)
			snprintf(buf, sizeof(buf), "%u", r->port_min);
		else
			snprintf(buf, sizeof(buf), "%u-%u", r->port_min, r->port_max);
		bad |= put(o, "port", json_string(buf));
	}
	if (r->has & AG_RULE_HAS_PROTO) {
		const char *p = ag__rule_proto_name(r->proto, pn, sizeof(pn));

		bad |= put(o, "proto", p == pn ? json_integer(r->proto) : json_string(p));
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
