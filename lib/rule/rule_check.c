/*
 * rule_check.c — a rule from JSON: every field checked, every error
 * reported with the file and line of its key and the bad value quoted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rule/internal.h"
#include "rule/rfc3339.h"

#define QUOTE_BUF	300	/* see ag_config_quote(): 64 shown bytes, escaped */

/*
 * The index of v's string among words, or -1 after saying what was wrong:
 * "unknown KEY "VALUE" (expected EXPECTED)".
 */
static int get_word(struct pctx *c, const char *key, const json_t *v,
		    const char *const *words, const char *expected)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, key, v, &n);
	if (!s)
		return -1;
	for (int i = 0; words[i]; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	ag__rule_perr(c, key, "unknown %s %s (expected %s)", key, ag_config_quote(q, sizeof(q), s, n),
	     expected);
	return -1;
}

/* ---- field checks ------------------------------------------------------- */

static void set_id(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, "id", v, &n);
	if (!s)
		return;
	if (!ag_rule_id_valid(s)) {
		ag__rule_perr(c, "id", "id: %s is not a valid id (1 to %d characters of A-Z, a-z, 0-9, _ and -)",
		     ag_config_quote(q, sizeof(q), s, n), AG_RULE_ID_MAX);
		return;
	}
	memcpy(r->id, s, n + 1);
}

static void set_name(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, "name", v, &n);
	if (!s)
		return;
	if (n > AG_RULE_NAME_MAX) {
		ag__rule_perr(c, "name", "name: %zu bytes is longer than the limit of %d", n, AG_RULE_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* One line of text in listings and prompts. */
		if (ch < 0x20 || ch == 0x7f) {
			char q[QUOTE_BUF];

			ag__rule_perr(c, "name", "name: %s contains a control character",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		}
	}
	if (ag_rule_set_name(r, s))
		ag__rule_nomem(c);
}

static void set_action(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "action", v, ag__rule_action_names, "allow, deny, reject, ask or callout");

	if (i < 0)
		return;
	r->action = (enum ag_rule_action)i;
}

/* A loaded callout's name: what it registered (a lowercase GUID for a WFP
 * callout): letters, digits, '-', '_' and '.'. */
static void set_callout(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	const char *s;
	size_t n;
	char q[QUOTE_BUF];

	if (!json_is_string(v)) {
		ag__rule_wrong_type(c, "callout", "a string", v);
		return;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	ag_config_quote(q, sizeof(q), s, n);
	if (n == 0 || n > AG_RULE_CALLOUT_MAX) {
		ag__rule_perr(c, "callout", "callout: %s must be 1 to %d characters", q, AG_RULE_CALLOUT_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) {
			ag__rule_perr(c, "callout", "callout: %s is not a callout name (letters, digits, - _ .)",
			     q);
			return;
		}
	}
	if (ag_rule_set_callout(r, s))
		ag__rule_nomem(c);
}

static void set_enabled(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	if (!json_is_boolean(v)) {
		ag__rule_wrong_type(c, "enabled", "true or false", v);
		return;
	}
	r->enabled = json_is_true(v);
}

static void set_direction(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "direction", v, ag__rule_direction_names, "out or in");

	if (i < 0)
		return;
	r->direction = (enum ag_rule_direction)i;
	r->has |= AG_RULE_HAS_DIRECTION;
}

static void set_weight(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	json_int_t w;

	if (!json_is_integer(v)) {
		ag__rule_wrong_type(c, "weight", "an integer", v);
		return;
	}
	w = json_integer_value(v);
	if (w < AG_RULE_WEIGHT_MIN || w > AG_RULE_WEIGHT_MAX) {
		ag__rule_perr(c, "weight", "weight: %" JSON_INTEGER_FORMAT " is out of range %d..%d", w,
		     AG_RULE_WEIGHT_MIN, AG_RULE_WEIGHT_MAX);
		return;
	}
	r->weight = (int)w;
}


static void set_created(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, "created", v, &n);
	if (!s)
		return;
	if (!ag_rfc3339_parse(s, n, &r->created)) {
		ag__rule_perr(c, "created", "created: %s is not an RFC 3339 UTC time like \"2026-11-27T15:00:00Z\"",
		     ag_config_quote(q, sizeof(q), s, n));
		return;
	}
	r->has |= AG_RULE_HAS_CREATED;
}

static void set_lifetime(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "lifetime", v, ag__rule_lifetime_names, "always, until-restart, until-quit or timed");

	if (i < 0)
		return;
	r->lifetime = (enum ag_rule_lifetime)i;
}

static void set_expires(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	json_int_t ms;

	if (!json_is_integer(v)) {
		ag__rule_wrong_type(c, "expires_in_ms", "an integer", v);
		return;
	}
	ms = json_integer_value(v);
	if (ms < 1 || (unsigned long long)ms > AG_RULE_EXPIRES_MS_MAX) {
		ag__rule_perr(c, "expires_in_ms", "expires_in_ms: %" JSON_INTEGER_FORMAT " is out of range 1..%llu",
		     ms, AG_RULE_EXPIRES_MS_MAX);
		return;
	}
	r->expires_ns = ag__rule_boottime_ns() + (uint64_t)ms * 1000000u;
}

static const struct field {
	const char *key;
	void (*set)(struct pctx *c, const json_t *v, struct ag_rule *r);
	bool control_only;
	bool nullable;		/* null means "not set" */
} fields[] = {
	{ "id", set_id, false, false },
	{ "name", set_name, false, true },
	{ "action", set_action, false, false },
	{ "callout", set_callout, false, true },
	{ "enabled", set_enabled, false, true },
	{ "app", ag__rule_set_app, false, true },
	{ "sha256", ag__rule_set_sha256, false, true },
	{ "user", ag__rule_set_user, false, true },
	{ "remote", ag__rule_set_remote, false, true },
	{ "host", ag__rule_set_host, false, true },
	{ "port", ag__rule_set_port, false, true },
	{ "proto", ag__rule_set_proto, false, true },
	{ "direction", set_direction, false, true },
	{ "weight", set_weight, false, true },
	{ "created", set_created, false, true },
	{ "lifetime", set_lifetime, true, true },
	{ "expires_in_ms", set_expires, true, true },
	{ "host_list", ag__rule_set_host_list, false, true },
	{ "remote_list", ag__rule_set_remote_list, false, true },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))
#define F_ID 0		/* indices of the required fields in fields[] */
#define F_ACTION 2

static bool has_ports(uint8_t proto)
{
	/* tcp, udp, dccp, sctp, udplite */
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

/* Conditions that can never match together are a mistake worth naming:
 * every value must be able to match with some value of each other field. */
static void check_combination(struct pctx *c, const struct ag_rule *r)
{
	char pn[8];

	if ((r->has & AG_RULE_HAS_RESOLVERS) && r->n_remote)
		ag__rule_perr(c, "remote", "remote: \"%s\" cannot be listed with addresses",
		     AG_RULE_REMOTE_RESOLVERS);
	for (unsigned i = 0; i < r->n_proto; i++) {
		uint8_t p = r->proto[i];
		bool v4 = false, v6 = false;

		if (r->n_port && !has_ports(p))
			ag__rule_perr(c, "port", "port: a rule for proto \"%s\" cannot have a port",
			     ag__rule_proto_name(p, pn, sizeof(pn)));
		for (unsigned j = 0; j < r->n_remote; j++) {
			v4 |= r->remote[j].family == AF_INET;
			v6 |= r->remote[j].family == AF_INET6;
		}
		if (r->n_remote && ((p == 1 && !v4) || (p == 58 && !v6)))
			ag__rule_perr(c, "proto", "proto: \"%s\" cannot reach an %s remote address",
			     ag__rule_proto_name(p, pn, sizeof(pn)), p == 1 ? "IPv6" : "IPv4");
	}
}

static bool sibling(const struct pctx *c, const char *name)
{
	for (size_t i = 0; i < c->nsiblings; i++)
		if (strcmp(c->siblings[i], name) == 0)
			return true;
	return false;
}

/* The id must name the file: one file per rule, found by its id. */
static void check_file_name(struct pctx *c, const struct ag_rule *r)
{
	const char *base;
	char want[AG_RULE_ID_MAX + 8];
	size_t n;

	if (!c->file || !r->id[0])
		return;
	base = strrchr(c->file, '/');
	base = base ? base + 1 : c->file;
	n = strlen(base);
	if (n < 5 || strcmp(base + n - 5, ".json") != 0)
		return;
	snprintf(want, sizeof(want), "%s.json", r->id);
	if (strcmp(base, want) == 0)
		return;
	if (sibling(c, want))
		ag__rule_perr(c, "id", "duplicate id \"%s\": %s already has it (a copied rule needs a new id, and its file that name)",
		     r->id, want);
	else
		ag__rule_perr(c, "id", "id \"%s\" does not match the file name (it must be %s)", r->id, want);
}

static int rule_from_obj(struct pctx *c, const json_t *obj, unsigned flags, struct ag_rule *out)
{
	bool seen[NFIELDS] = { false };
	struct ag_rule rule, *r = &rule;
	const char *key;
	size_t klen;
	json_t *v;

	if (!json_is_object(obj)) {
		ag__rule_perr(c, NULL, "a rule must be a JSON object, not %s", ag__rule_type_name(obj));
		return -EINVAL;
	}
	ag_rule_init(r);
	json_object_keylen_foreach((json_t *)obj, key, klen, v) {
		const struct field *f = NULL;
		char q[QUOTE_BUF];
		size_t i;

		for (i = 0; i < NFIELDS; i++) {
			if (strlen(fields[i].key) == klen && strcmp(fields[i].key, key) == 0) {
				f = &fields[i];
				break;
			}
		}
		ag_config_quote(q, sizeof(q), key, klen);
		if (!f) {
			ag__rule_perr(c, strlen(key) == klen ? key : NULL, "unknown key %s", q);
			continue;
		}
		if (f->control_only && !(flags & AG_RULE_JSON_CONTROL)) {
			ag__rule_perr(c, f->key, "unknown key %s (lifetime and expires_in_ms exist only in the control protocol: a rule file is always persistent)",
			     q);
			continue;
		}
		seen[i] = true;
		if (json_is_null(v) && f->nullable)
			continue;
		f->set(c, v, r);
	}
	if (!seen[F_ID] && !(flags & AG_RULE_JSON_CONTROL))
		ag__rule_perr(c, NULL, "missing \"id\"");
	if (!seen[F_ACTION])
		ag__rule_perr(c, NULL, "missing \"action\"");
	if (seen[F_ACTION] && r->action == AG_RULE_CALLOUT && !r->callout && !c->nerr)
		ag__rule_perr(c, "callout", "\"action\": \"callout\" needs \"callout\": the callout's name");
	if (r->action != AG_RULE_CALLOUT && r->callout)
		ag__rule_perr(c, "callout", "\"callout\" is only for \"action\": \"callout\"");
	if (r->lifetime == AG_RULE_TIMED && !r->expires_ns && !c->nerr)
		ag__rule_perr(c, "lifetime", "a timed rule needs \"expires_in_ms\"");
	if (r->lifetime != AG_RULE_TIMED && r->expires_ns)
		ag__rule_perr(c, "expires_in_ms", "\"expires_in_ms\" is only for a timed rule");
	if (!c->nerr)
		check_combination(c, r);
	if (!c->nerr)
		ag__rule_check_lists(c, r);
	if (!c->nerr)
		check_file_name(c, r);
	if (c->nerr) {
		ag_rule_free(r);
		return c->nomem ? -ENOMEM : -EINVAL;
	}
	*out = rule;	/* the values move to the caller */
	return 0;
}

int ag_rule_from_json(const json_t *obj, unsigned flags, struct ag_rule *out,
		      char *err, size_t errlen)
{
	struct ag__errlines errs;
	struct pctx c = { .errs = &errs };

	ag__errlines_init(&errs, err, errlen);
	return rule_from_obj(&c, obj, flags, out);
}

int ag__rule_parse_text(struct pctx *c, const char *buf, size_t len, struct ag_rule *out)
{
	json_error_t je;
	json_t *root;
	size_t i;
	int ret;

	c->text = buf;
	c->len = len;
	for (i = 0; i < len && ag__rule_is_ws(buf[i]); i++)
		;
	if (i == len) {
		/* What a crash between creat() and write() leaves. */
		ag__rule_perr(c, NULL, "empty file: no rule");
		return -EINVAL;
	}
	if (buf[i] != '{' && buf[i] != '[') {
		/* Not JSON at all: whatever the file is, its words are not
		 * repeated into a log or to a client. */
		ag__rule_perr(c, NULL, "not a rule file (a rule is a JSON object); its content is not shown");
		return -EINVAL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		char msg[MSG_MAX];

		c->nerr++;
		if (c->errs && c->errs->buf) {
			snprintf(msg, sizeof(msg), "%s:%d: invalid JSON: %s",
				 c->file ? c->file : "rule", je.line > 0 ? je.line : 1, je.text);
			ag__sanitize(msg);
			ag__errlines_add(c->errs, msg);
		}
		return json_error_code(&je) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	}
	ret = rule_from_obj(c, root, 0, out);
	json_decref(root);
	return ret;
}

int ag_rule_parse(const char *file, const char *buf, size_t len, struct ag_rule *out,
		  char *err, size_t errlen)
{
	struct ag__errlines errs;
	struct pctx c = { .file = file ? file : "rule", .errs = &errs };
	int ret;

	ag__errlines_init(&errs, err, errlen);
	ret = ag__rule_parse_text(&c, buf, len, out);
	if (ret == 0 && file && ag_rule_set_source(out, file)) {
		ag_rule_free(out);
		return -ENOMEM;
	}
	return ret;
}
