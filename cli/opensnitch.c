/*
 * opensnitch.c — convert OpenSnitch rule files (one JSON object each) into
 * alegate rule objects, exactly or not at all.
 *
 * An OpenSnitch rule holds one operator: "simple" (operand == data),
 * "network" (dest.network in a CIDR), "regexp", "lists" (a directory of
 * list files: one file of addresses or networks becomes remote_list), or
 * "list" (every operator of its "list" array must match).  An alegate rule
 * holds up to 64 values per field (ORed), ANDed across fields: a regexp
 * that only lists literal alternatives, "^(80|443)$", becomes the values it
 * lists; two different operators on one field in a "list" can never both
 * hold, so such a rule is refused.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opensnitch.h"
#include "rule/list.h"
#include "rule/rule.h"

struct conv {
	json_t *rule;
	char *why;
	size_t whylen;
	/* converting the alternatives of one regexp: the first sets the
	 * field, the others add values to it (OR) */
	bool alt;
	unsigned nalt;
};

static int refuse(struct conv *cv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct conv *cv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cv->why, cv->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Set @key: once per operator (a second operator on one field in a list is
 * an AND, which only the same value can satisfy), or, for the alternatives
 * of one regexp, one more value of the field (an OR).
 */
static int set(struct conv *cv, const char *key, json_t *v, const char *operand)
{
	json_t *have = json_object_get(cv->rule, key), *arr;

	if (!v)
		return refuse(cv, "out of memory");
	if (cv->alt && cv->nalt++ > 0) {
		if (json_is_array(have)) {
			json_array_append_new(have, v);
			return 0;
		}
		arr = json_array();
		json_array_append(arr, have);
		json_array_append_new(arr, v);
		json_object_set_new(cv->rule, key, arr);
		return 0;
	}
	if (have) {
		bool same = json_equal(have, v) && !cv->alt;

		json_decref(v);
		if (cv->alt)
			return refuse(cv, "a regexp on %s and another condition on it in one list: "
				      "alegate cannot say both", operand);
		if (same)
			return 0;	/* the same condition twice */
		return refuse(cv, "two different conditions on %s in one list: every operator of "
			      "a list must match, so the rule would never match", operand);
	}
	json_object_set_new(cv->rule, key, v);
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* OpenSnitch's protocol names; tcp6 and udp6 mean "over IPv6", which a rule
 * of alegate cannot say without an address. */
static const char *proto_name(const char *p)
{
	static const char *const ok[] = { "tcp", "udp", "udplite", "icmp", "icmpv6", "sctp" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcasecmp(p, ok[i]) == 0)
			return ok[i];
	return NULL;
}

/*
 * OpenSnitch compares paths without regard to case unless "sensitive"; a
 * glob that takes both cases of each letter matches the same paths, where
 * the path alone would narrow a deny.  Glob characters of the path are
 * quoted in brackets, so that they match themselves (with @sensitive, the
 * path is only quoted).  NULL when it would not fit a rule.
 */
static json_t *path_glob(const char *p, bool sensitive)
{
	char buf[4096];
	size_t n = 0;

	for (; *p; p++) {
		char c = *p, lo = (char)tolower((unsigned char)c), up = (char)toupper((unsigned char)c);

		if (n + 4 >= sizeof(buf))
			return NULL;
		if (lo != up && !sensitive) {
			buf[n++] = '[';
			buf[n++] = lo;
			buf[n++] = up;
			buf[n++] = ']';
		} else if (c == '*' || c == '?' || c == '[') {
			buf[n++] = '[';
			buf[n++] = c;
			buf[n++] = ']';
		} else {
			buf[n++] = c;
		}
	}
	buf[n] = 0;
	return json_string(buf);
}

/* The one list file of @dir (hidden names aside), in @path; 0 or refused. */
static int one_file(struct conv *cv, const char *op, const char *dir, char *path, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return refuse(cv, "operator lists on %s: cannot read the directory %s", op, dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!n)
			snprintf(path, size, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
				 de->d_name);
		n++;
	}
	closedir(d);
	if (n != 1)
		return refuse(cv, "operator lists on %s: %s holds %zu files; an alegate rule names "
			      "one list file", op, dir, n);
	return 0;
}

static int full_length(void *arg, int ver, const uint8_t addr[16], unsigned plen)
{
	return plen != (ver == 4 ? 32u : 128u);
}

/*
 * lists.ips and lists.nets: a directory of one file, every line of which
 * alegate reads as OpenSnitch does, becomes remote_list.  lists.domains is
 * not: OpenSnitch matches the listed names alone, alegate's host lists
 * their subdomains too.
 */
static int lists_operand(struct conv *cv, const char *op, const char *dir)
{
	char path[4096], why[512];
	void *list;
	size_t bad;
	bool ips = strcmp(op, "lists.ips") == 0;
	int r;

	if (strncmp(op, "lists.domains", 13) == 0)
		return refuse(cv, "operator lists on %s: OpenSnitch matches the listed names alone, "
			      "alegate's host lists match their subdomains too", op);
	if (!ips && strcmp(op, "lists.nets") != 0)
		return refuse(cv, "operator lists on unknown operand \"%s\"", op);
	if (!*dir || one_file(cv, op, dir, path, sizeof(path)))
		return *dir ? -1 : refuse(cv, "empty data for %s", op);
	r = ag_list_load(path, AG_LIST_ADDRS, &list, &bad, NULL, NULL, why, sizeof(why));
	if (r)
		return refuse(cv, "operator lists on %s: %s", op, why);
	/* a prefix in an address list is a text OpenSnitch never matches */
	if (!bad && ips && ag_prefixset_foreach(list, full_length, NULL))
		bad = 1;
	ag_list_free(AG_LIST_ADDRS, list);
	if (bad)
		return refuse(cv, "operator lists on %s: %s has lines alegate reads otherwise "
			      "(check it with alegated -n)", op, path);
	return set(cv, "remote_list", json_string(path), op);
}

static int operand(struct conv *cv, const char *type, const char *op, const char *data,
		   bool sensitive);

/*
 * A regexp that is only a list of literal values, "^(80|443|8000)$" or
 * "^/usr/bin/curl$" (dots and other punctuation escaped), as the values it
 * matches: one condition with each of them.  Anything else (an unanchored
 * pattern, a class, a repetition) is refused: alegate has no regexps.
 */
static int regexp_values(struct conv *cv, const char *op, const char *re, bool sensitive)
{
	const char *orig = re;
	char lit[4096];
	size_t n = strlen(re), i, o = 0;
	bool group = false;
	int r;

	if (n < 2 || re[0] != '^' || re[n - 1] != '$' || (n >= 3 && re[n - 2] == '\\'))
		return refuse(cv, "operator regexp on %s: only \"^value$\" or \"^(a|b|c)$\" of "
			      "literal values can be converted (alegate has no regular expressions)", op);
	re++;
	n -= 2;
	if (n >= 2 && re[0] == '(' && re[n - 1] == ')') {
		group = true;
		re++;
		n -= 2;
		if (n >= 2 && re[0] == '?' && re[1] == ':') {
			re += 2;
			n -= 2;
		}
	}
	cv->alt = true;
	cv->nalt = 0;
	for (i = 0; i <= n; i++) {
		char c = i < n ? re[i] : '|';

		if (c == '|' && (group || i == n)) {
			if (!o) {
				cv->alt = false;
				return refuse(cv, "operator regexp on %s: an empty alternative", op);
			}
			if (cv->nalt >= AG_RULE_VALUES_MAX) {
				cv->alt = false;
				return refuse(cv, "operator regexp on %s: more than %d alternatives", op,
					      AG_RULE_VALUES_MAX);
			}
			lit[o] = 0;
			r = operand(cv, "simple", op, lit, sensitive);
			if (r) {
				cv->alt = false;
				return r;
			}
			o = 0;
			continue;
		}
		if (c == '\\' && i + 1 < n && strchr(".-/+*?()[]{}|^$\\ _:@", re[i + 1]))
			c = re[++i];	/* an escaped character is itself */
		else if (strchr(".+*?()[]{}|^$\\", c)) {
			cv->alt = false;
			return refuse(cv, "operator regexp on %s: \"%s\" is a pattern, not a list of "
				      "values (alegate has no regular expressions)", op, orig);
		}
		if (o + 1 >= sizeof(lit)) {
			cv->alt = false;
			return refuse(cv, "operator regexp on %s: a value is too long", op);
		}
		lit[o++] = c;
	}
	cv->alt = false;
	return 0;
}

static int operand(struct conv *cv, const char *type, const char *op, const char *data, bool sensitive)
{
	if (strcmp(type, "regexp") == 0)
		return regexp_values(cv, op, data, sensitive);
	if (strcmp(type, "lists") == 0)
		return lists_operand(cv, op, data);
	if (strcmp(type, "simple") != 0 && strcmp(type, "network") != 0)
		return refuse(cv, "unknown operator type \"%s\"", type);
	if (strcmp(type, "network") == 0 && strcmp(op, "dest.network") != 0)
		return refuse(cv, "operator network on \"%s\": only dest.network takes it", op);
	if (strcmp(op, "true") == 0)
		return 0;	/* matches every connection: no condition */
	if (!*data)
		return refuse(cv, "empty data for %s", op);
	if (strcmp(op, "process.path") == 0) {
		json_t *app = strchr(data, '\\') ? NULL : path_glob(data, sensitive);

		if (!app)
			return refuse(cv, "process.path \"%s\" is too long or holds a backslash", data);
		return set(cv, "app", app, op);
	}
	if (strcmp(op, "user.id") == 0) {
		if (!all_digits(data) || strlen(data) > 10)
			return refuse(cv, "user.id \"%s\" is not a number", data);
		return set(cv, "user", json_integer(strtoll(data, NULL, 10)), op);
	}
	if (strcmp(op, "dest.host") == 0)
		return set(cv, "host", json_string(data), op);
	if (strcmp(op, "dest.ip") == 0) {
		if (strchr(data, '/'))
			return refuse(cv, "dest.ip \"%s\" is not one address", data);
		return set(cv, "remote", json_string(data), op);
	}
	if (strcmp(op, "dest.network") == 0) {
		if (!strchr(data, '/'))
			return refuse(cv, "dest.network \"%s\" has no prefix length", data);
		return set(cv, "remote", json_string(data), op);
	}
	if (strcmp(op, "dest.port") == 0) {
		if (!all_digits(data))
			return refuse(cv, "dest.port \"%s\" is not one port", data);
		return set(cv, "port", json_string(data), op);
	}
	if (strcmp(op, "protocol") == 0) {
		const char *p = proto_name(data);

		if (!p)
			return refuse(cv, "protocol \"%s\" has no alegate equivalent", data);
		return set(cv, "proto", json_string(p), op);
	}
	if (strcmp(op, "process.command") == 0)
		return refuse(cv, "operand process.command: alegate matches the executable, not its "
			      "command line");
	if (strcmp(op, "process.id") == 0)
		return refuse(cv, "operand process.id: alegate has no condition on a process id "
			      "(ids are reused)");
	if (strncmp(op, "lists.", 6) == 0)
		return refuse(cv, "operand %s: lists take the operator type lists", op);
	return refuse(cv, "unknown operand \"%s\"", op);
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int operator(struct conv *cv, const json_t *o, bool nested)
{
	const char *type, *op, *data;

	if (!json_is_object(o))
		return refuse(cv, "\"operator\" is not an object");
	type = jstr(o, "type");
	op = jstr(o, "operand");
	if (!type || !op)
		return refuse(cv, "operator without a %s", !type ? "\"type\"" : "\"operand\"");
	if (strcmp(type, "list") == 0) {
		const json_t *list = json_object_get(o, "list"), *sub;
		size_t i;

		if (nested)
			return refuse(cv, "a list inside a list");
		if (!json_is_array(list) || json_array_size(list) == 0)
			return refuse(cv, "operator list without a \"list\" of operators");
		json_array_foreach(list, i, sub)
			if (operator(cv, sub, true))
				return -1;
		return 0;
	}
	data = jstr(o, "data");
	if (!data)
		return refuse(cv, "operator on %s without string \"data\"", op);
	return operand(cv, type, op, data, json_is_true(json_object_get(o, "sensitive")));
}

/* OpenSnitch durations: once, always, until restart, and 30s..12h. */
static int duration(struct conv *cv, const char *d)
{
	static const struct { const char *name; long long ms; } timed[] = {
		{ "30s", 30000 }, { "5m", 300000 }, { "15m", 900000 }, { "30m", 1800000 },
		{ "1h", 3600000 }, { "12h", 43200000 },
	};

	if (!d || strcmp(d, "always") == 0)
		return 0;
	if (strcmp(d, "until restart") == 0) {
		json_object_set_new(cv->rule, "lifetime", json_string("until-restart"));
		return 0;
	}
	for (size_t i = 0; i < sizeof(timed) / sizeof(timed[0]); i++)
		if (strcmp(d, timed[i].name) == 0) {
			json_object_set_new(cv->rule, "lifetime", json_string("timed"));
			json_object_set_new(cv->rule, "expires_in_ms", json_integer(timed[i].ms));
			return 0;
		}
	if (strcmp(d, "once") == 0)
		return refuse(cv, "duration once: it decided one connection and is no rule");
	return refuse(cv, "unknown duration \"%s\"", d);
}

int os_rule_convert(const char *buf, size_t len, json_t **out, bool *ends,
		    char *why, size_t whylen)
{
	struct conv cv = { .why = why, .whylen = whylen };
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	const json_t *en, *prec;
	const char *action, *name;
	int ret = -1;

	*out = NULL;
	if (!root) {
		snprintf(why, whylen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	cv.rule = json_object();
	if (!json_is_object(root)) {
		refuse(&cv, "not a JSON object");
		goto cleanup;
	}
	action = jstr(root, "action");
	if (!action || (strcmp(action, "allow") && strcmp(action, "deny") && strcmp(action, "reject"))) {
		if (action)
			refuse(&cv, "unknown action \"%s\"", action);
		else
			refuse(&cv, "no \"action\"");
		goto cleanup;
	}
	json_object_set_new(cv.rule, "action", json_string(action));
	en = json_object_get(root, "enabled");
	if (en && !json_is_boolean(en)) {
		refuse(&cv, "\"enabled\" is not true or false");
		goto cleanup;
	}
	json_object_set_new(cv.rule, "enabled", json_boolean(!en || json_is_true(en)));
	prec = json_object_get(root, "precedence");
	if (prec && !json_is_boolean(prec)) {
		refuse(&cv, "\"precedence\" is not true or false");
		goto cleanup;
	}
	name = jstr(root, "name");
	if (name && *name)
		json_object_set_new(cv.rule, "name", json_string(name));
	if (duration(&cv, jstr(root, "duration")))
		goto cleanup;
	if (operator(&cv, json_object_get(root, "operator"), false))
		goto cleanup;
	*ends = strcmp(action, "allow") != 0 || json_is_true(prec);
	*out = cv.rule;
	cv.rule = NULL;
	ret = 0;
cleanup:
	json_decref(cv.rule);
	json_decref(root);
	return ret;
}

void os_weigh(json_t *rules, const bool *ends)
{
	json_t *r;
	size_t i;
	int w = OS_WEIGHT_TOP;

	json_array_foreach(rules, i, r)
		json_object_set_new(r, "weight", json_integer(ends[i] ? w-- : 0));
}
