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

/* ---- error reporting with line numbers --------------------------------- */

/* JSON's whitespace (RFC 8259), nothing more. */
static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * Line of the top-level key @key in the JSON text, or 0.  jansson keeps no
 * positions, so this walks the (already valid) text: a string at object
 * depth 1 followed by ':' is a key.  Keys written with \u escapes are not
 * recognised; the caller falls back to the object's first line.
 */
static unsigned key_line(const char *t, size_t n, const char *key)
{
	size_t klen = key ? strlen(key) : 0;
	unsigned line = 1;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		size_t s, e, j;

		switch (t[i]) {
		case '\n':
			line++;
			break;
		case '{':
		case '[':
			if (!key && depth == 0)
				return line;
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		case '"':
			s = ++i;
			while (i < n && t[i] != '"')
				i += t[i] == '\\' ? 2 : 1;
			e = i < n ? i : n;
			i = e;
			if (!key || depth != 1 || e - s != klen || memcmp(t + s, key, klen) != 0)
				break;
			for (j = e + 1; j < n && is_ws(t[j]); j++)
				;
			if (j < n && t[j] == ':')
				return line;
			break;
		}
	}
	return 0;
}

void ag__rule_errv(struct pctx *c, const char *where, const char *fmt, va_list ap)
{
	char msg[MSG_MAX];
	size_t o = 0;

	c->nerr++;
	if (!c->errs || !c->errs->buf)
		return;
	if (where) {
		snprintf(msg, sizeof(msg), "%s: ", where);
		o = strlen(msg);
	}
	vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
	ag__sanitize(msg);
	ag__errlines_add(c->errs, msg);
}

/* Report an error about @key (NULL: about the whole rule). */
__attribute__((format(printf, 3, 4)))
static void perr(struct pctx *c, const char *key, const char *fmt, ...)
{
	char where[AG_RULE_SOURCE_MAX + 16];
	va_list ap;

	if (c->file && c->text) {
		unsigned line = key ? key_line(c->text, c->len, key) : 0;

		if (!line)
			line = key_line(c->text, c->len, NULL);
		snprintf(where, sizeof(where), "%s:%u", c->file, line ? line : 1);
	} else if (c->file) {
		snprintf(where, sizeof(where), "%s", c->file);
	}
	va_start(ap, fmt);
	ag__rule_errv(c, c->file ? where : NULL, fmt, ap);
	va_end(ap);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* The bad value as the person wrote it, quoted and cut for a message. */
static const char *show(char *buf, size_t size, const json_t *v)
{
	char *s;

	if (json_is_string(v))
		return ag_config_quote(buf, size, json_string_value(v), json_string_length(v));
	if (json_is_object(v) || json_is_array(v))
		return type_name(v);
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s)
		return "?";
	snprintf(buf, size, "%s", s);
	free(s);
	return buf;
}

static void wrong_type(struct pctx *c, const char *key, const char *want, const json_t *v)
{
	char q[QUOTE_BUF];

	if (json_is_object(v) || json_is_array(v) || json_is_null(v))
		perr(c, key, "%s: expected %s, got %s", key, want, type_name(v));
	else
		perr(c, key, "%s: expected %s, got %s %s", key, want, type_name(v),
		     show(q, sizeof(q), v));
}

/* Memory ran out while storing a value: the parse fails with -ENOMEM. */
static void nomem(struct pctx *c)
{
	if (!c->nomem)
		perr(c, NULL, "out of memory");
	c->nomem = true;
}

/* Store a checked value: ag_rule_add_*()'s result. */
static void added(struct pctx *c, const char *key, int ret)
{
	if (ret == -E2BIG)
		perr(c, key, "%s: more than %d values", key, AG_RULE_VALUES_MAX);
	else if (ret)
		nomem(c);
}

/* A string value without NUL bytes, or NULL after reporting. */
static const char *get_string(struct pctx *c, const char *key, const json_t *v, size_t *len)
{
	const char *s;

	if (!json_is_string(v)) {
		wrong_type(c, key, "a string", v);
		return NULL;
	}
	s = json_string_value(v);
	*len = json_string_length(v);
	if (strlen(s) != *len) {
		perr(c, key, "%s: the string contains a NUL byte", key);
		return NULL;
	}
	return s;
}

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

	s = get_string(c, key, v, &n);
	if (!s)
		return -1;
	for (int i = 0; words[i]; i++)
		if (strcmp(s, words[i]) == 0)
			return i;
	perr(c, key, "unknown %s %s (expected %s)", key, ag_config_quote(q, sizeof(q), s, n),
	     expected);
	return -1;
}

/* ---- field checks ------------------------------------------------------- */

static void set_id(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = get_string(c, "id", v, &n);
	if (!s)
		return;
	if (!ag_rule_id_valid(s)) {
		perr(c, "id", "id: %s is not a valid id (1 to %d characters of A-Z, a-z, 0-9, _ and -)",
		     ag_config_quote(q, sizeof(q), s, n), AG_RULE_ID_MAX);
		return;
	}
	memcpy(r->id, s, n + 1);
}

static void set_name(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	const char *s;
	size_t n;

	s = get_string(c, "name", v, &n);
	if (!s)
		return;
	if (n > AG_RULE_NAME_MAX) {
		perr(c, "name", "name: %zu bytes is longer than the limit of %d", n, AG_RULE_NAME_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		/* One line of text in listings and prompts. */
		if (ch < 0x20 || ch == 0x7f) {
			char q[QUOTE_BUF];

			perr(c, "name", "name: %s contains a control character",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		}
	}
	if (ag_rule_set_name(r, s))
		nomem(c);
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
		wrong_type(c, "callout", "a string", v);
		return;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	ag_config_quote(q, sizeof(q), s, n);
	if (n == 0 || n > AG_RULE_CALLOUT_MAX) {
		perr(c, "callout", "callout: %s must be 1 to %d characters", q, AG_RULE_CALLOUT_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) {
			perr(c, "callout", "callout: %s is not a callout name (letters, digits, - _ .)",
			     q);
			return;
		}
	}
	if (ag_rule_set_callout(r, s))
		nomem(c);
}

static void set_enabled(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	if (!json_is_boolean(v)) {
		wrong_type(c, "enabled", "true or false", v);
		return;
	}
	r->enabled = json_is_true(v);
}

/* fnmatch(3) would treat an unclosed '[' as a literal; say so instead. */
static bool brackets_closed(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
		} else if (*s == '[') {
			const char *e = s + 1;

			if (*e == '!' || *e == '^')
				e++;
			if (*e == ']')
				e++;
			e = strchr(e, ']');
			if (!e)
				return false;
			s = e;
		}
	}
	return true;
}

static void one_app(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	bool glob;
	size_t n;

	s = get_string(c, "app", v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	if (n > AG_RULE_APP_MAX) {
		perr(c, "app", "app: %s is %zu bytes long, the limit is %d", q, n, AG_RULE_APP_MAX);
		return;
	}
	glob = strpbrk(s, "*?[") != NULL;
	if (!glob && s[0] != '/') {
		perr(c, "app", "app: %s is not an absolute path or a glob", q);
		return;
	}
	if (glob && !brackets_closed(s)) {
		perr(c, "app", "app: %s has a [ without its ]", q);
		return;
	}
	added(c, "app", ag_rule_add_app(r, s));
}

static bool user_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > AG_RULE_USER_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')
			continue;
		if (ch == '$' && i == n - 1 && n > 1)	/* Samba machine accounts */
			continue;
		return false;
	}
	return true;
}

static void set_sha256(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = get_string(c, "sha256", v, &n);
	if (!s)
		return;
	if (ag_rule_sha256_parse(s, n, r->sha256)) {
		perr(c, "sha256", "sha256: %s is not 64 hex digits (a SHA-256 as sha256sum prints it)",
		     ag_config_quote(q, sizeof(q), s, n));
		return;
	}
	r->has |= AG_RULE_HAS_SHA256;
}

static void one_user(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	long long uid = -1;
	const char *s;
	size_t n;

	if (json_is_integer(v)) {
		uid = json_integer_value(v);
		/* (uid_t)-1 means "no uid" to the kernel. */
		if (uid < 0 || uid >= 4294967295ll) {
			perr(c, "user", "user: %lld is not a valid uid", uid);
			return;
		}
	} else if (json_is_string(v)) {
		s = get_string(c, "user", v, &n);
		if (!s)
			return;
		if (n > 0 && n <= 10 && strspn(s, "0123456789") == n) {
			uid = strtoll(s, NULL, 10);
			if (uid >= 4294967295ll) {
				perr(c, "user", "user: %s is not a valid uid",
				     ag_config_quote(q, sizeof(q), s, n));
				return;
			}
		} else if (!user_name_valid(s, n)) {
			perr(c, "user", "user: %s is not a user name or uid",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		} else {
			added(c, "user", ag_rule_add_user_name(r, s));
			return;
		}
	} else {
		wrong_type(c, "user", "a uid or a user name", v);
		return;
	}
	added(c, "user", ag_rule_add_uid(r, (uint32_t)uid));
}

/*
 * "ADDR" or "ADDR/LEN" into family, address, prefix length.  Returns NULL,
 * or a message about what is wrong; @net gets the masked network for a
 * "did you mean" when the only fault is host bits.
 */
static const char *parse_remote(const char *s, size_t n, struct ag_rule_remote *r,
				char *net, size_t netsz)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned char addr[16];
	unsigned long plen;
	unsigned max;
	int family;

	if (n >= sizeof(buf))
		return "is not an IPv4 or IPv6 address";
	memcpy(buf, s, n + 1);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		family = AF_INET6;
		max = 128;
	} else {
		return "is not an IPv4 or IPv6 address";
	}
	plen = max;
	if (slash) {
		char *end;

		if (slash[0] < '0' || slash[0] > '9' || strlen(slash) > 3)
			return "has no prefix length after the /";
		plen = strtoul(slash, &end, 10);
		if (*end)
			return "has no prefix length after the /";
		if (plen > max)
			return family == AF_INET ? "has a prefix length over 32"
						 : "has a prefix length over 128";
	}
	for (unsigned bit = (unsigned)plen; bit < max; bit++) {
		if (addr[bit / 8] & (0x80 >> (bit % 8))) {
			for (bit = (unsigned)plen; bit < max; bit++)
				addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
			inet_ntop(family, addr, buf, sizeof(buf));
			snprintf(net, netsz, "%s/%lu", buf, plen);
			return "has host bits set";
		}
	}
	r->family = (uint8_t)family;
	memcpy(r->addr, addr, sizeof(r->addr));
	r->plen = (uint8_t)plen;
	return NULL;
}

static void one_remote(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF], net[INET6_ADDRSTRLEN + 16] = "";
	struct ag_rule_remote val;
	const char *s, *why;
	size_t n;

	s = get_string(c, "remote", v, &n);
	if (!s)
		return;
	if (n == strlen(AG_RULE_REMOTE_RESOLVERS) && !memcmp(s, AG_RULE_REMOTE_RESOLVERS, n)) {
		r->has |= AG_RULE_HAS_RESOLVERS;
		return;
	}
	why = parse_remote(s, n, &val, net, sizeof(net));
	if (why && net[0])
		perr(c, "remote", "remote: %s %s (the network is \"%s\")",
		     ag_config_quote(q, sizeof(q), s, n), why, net);
	else if (why)
		perr(c, "remote", "remote: %s %s", ag_config_quote(q, sizeof(q), s, n), why);
	else
		added(c, "remote", ag_rule_add_remote(r, val.family, val.addr, val.plen));
}

static void one_host(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF], buf[AG_RULE_HOST_MAX + 3];
	const char *s;
	size_t n, m, skip = 0;

	s = get_string(c, "host", v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	m = n;
	if (m > 0 && s[m - 1] == '.')
		m--;	/* "example.org." is the same name */
	if (m >= sizeof(buf)) {
		perr(c, "host", "host: %s is longer than %d characters", q, AG_RULE_HOST_MAX);
		return;
	}
	for (size_t i = 0; i < m; i++)
		buf[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
	buf[m] = '\0';
	if (m >= 2 && buf[0] == '*' && buf[1] == '.')
		skip = 2;
	if (!ag__rule_dns_name(buf + skip, m - skip, AG_RULE_HOST_MAX) || (skip && m > AG_RULE_HOST_MAX)) {
		perr(c, "host", "host: %s is not a DNS name or *.suffix", q);
		return;
	}
	added(c, "host", ag_rule_add_host(r, buf));
}

/* host_list, remote_list: an absolute path of printable characters. */
static void set_list(struct pctx *c, const char *key, const json_t *v, struct ag_rule *r,
		     int (*set)(struct ag_rule *, const char *))
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = get_string(c, key, v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	if (n >= AG_RULE_SOURCE_MAX) {
		perr(c, key, "%s: %s is longer than %d characters", key, q, AG_RULE_SOURCE_MAX - 1);
		return;
	}
	if (s[0] != '/') {
		perr(c, key, "%s: %s is not an absolute path", key, q);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			perr(c, key, "%s: %s holds a control character", key, q);
			return;
		}
	added(c, key, set(r, s));
}

static void set_host_list(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_list(c, "host_list", v, r, ag_rule_set_host_list);
}

static void set_remote_list(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_list(c, "remote_list", v, r, ag_rule_set_remote_list);
}

/* A list and a single value of one field: the engine would OR them. */
static void check_lists(struct pctx *c, const struct ag_rule *r)
{
	if ((r->has & AG_RULE_HAS_HOST_LIST) && (r->has & AG_RULE_HAS_HOST))
		perr(c, "host_list", "host_list: a rule has host or host_list, not both");
	if ((r->has & AG_RULE_HAS_REMOTE_LIST) &&
	    (r->has & (AG_RULE_HAS_REMOTE | AG_RULE_HAS_RESOLVERS)))
		perr(c, "remote_list", "remote_list: a rule has remote or remote_list, not both");
}

/* 1..65535 from decimal digits only (no sign, no blanks), or 0. */
static unsigned long port_number(const char *s, size_t n)
{
	unsigned long p = 0;

	if (n == 0 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		p = p * 10 + (unsigned long)(s[i] - '0');
	}
	return p <= 65535 ? p : 0;
}

static void one_port(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	unsigned long lo, hi;
	char q[QUOTE_BUF];
	const char *s, *dash;
	size_t n;

	if (json_is_integer(v)) {
		json_int_t p = json_integer_value(v);

		if (p < 1 || p > 65535) {
			perr(c, "port", "port: %" JSON_INTEGER_FORMAT " is not a port (1-65535)", p);
			return;
		}
		lo = hi = (unsigned long)p;
	} else if (json_is_string(v)) {
		s = get_string(c, "port", v, &n);
		if (!s)
			return;
		ag_config_quote(q, sizeof(q), s, n);
		dash = memchr(s, '-', n);
		lo = port_number(s, dash ? (size_t)(dash - s) : n);
		hi = dash ? port_number(dash + 1, n - (size_t)(dash - s) - 1) : lo;
		if (!lo || !hi) {
			perr(c, "port", "port: %s is not a port (1-65535) or a range N-M", q);
			return;
		}
		if (lo > hi) {
			perr(c, "port", "port: %s is a range whose start is above its end", q);
			return;
		}
	} else {
		wrong_type(c, "port", "a port number or a string \"N-M\"", v);
		return;
	}
	added(c, "port", ag_rule_add_port(r, (uint16_t)lo, (uint16_t)hi));
}

static void one_proto(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	long long p = -1;
	const char *s;
	size_t n;

	if (json_is_integer(v)) {
		p = json_integer_value(v);
		if (p < 0 || p > 255) {
			perr(c, "proto", "proto: %lld is not a protocol number (0-255)", p);
			return;
		}
	} else if (json_is_string(v)) {
		s = get_string(c, "proto", v, &n);
		if (!s)
			return;
		p = ag__rule_proto_number(s);
		if (p < 0 && n > 0 && n <= 3 && strspn(s, "0123456789") == n)
			p = strtol(s, NULL, 10);
		if (p < 0 || p > 255) {
			perr(c, "proto", "unknown proto %s (expected tcp, udp, icmp, icmpv6 or a number 0-255)",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		}
	} else {
		wrong_type(c, "proto", "a protocol name or number", v);
		return;
	}
	added(c, "proto", ag_rule_add_proto(r, (uint8_t)p));
}

/*
 * The values of one condition: one value, a JSON array of them, or (with
 * @commas, for fields whose values never hold a comma) one string of them
 * separated by commas, "80,443".  Each value is checked as a lone one is.
 */
static void set_values(struct pctx *c, const char *key, const json_t *v, struct ag_rule *r,
		       void (*one)(struct pctx *, const json_t *, struct ag_rule *), bool commas)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), count = 1;
	char q[QUOTE_BUF];

	if (json_is_array(v)) {
		count = json_array_size(v);
		if (count == 0) {
			perr(c, key, "%s: an empty list (leave %s out to match any)", key, key);
			return;
		}
		if (count > AG_RULE_VALUES_MAX) {
			perr(c, key, "%s: %zu values, the limit is %d", key, count, AG_RULE_VALUES_MAX);
			return;
		}
		for (size_t i = 0; i < count; i++)
			one(c, json_array_get(v, i), r);
		return;
	}
	if (!commas || !s || !memchr(s, ',', n)) {
		one(c, v, r);
		return;
	}
	for (size_t i = 0; i < n; i++)
		count += s[i] == ',';
	ag_config_quote(q, sizeof(q), s, n);
	if (count > AG_RULE_VALUES_MAX) {
		perr(c, key, "%s: %s has %zu values, the limit is %d", key, q, count,
		     AG_RULE_VALUES_MAX);
		return;
	}
	for (size_t at = 0; at <= n;) {
		const char *comma = memchr(s + at, ',', n - at);
		size_t len = comma ? (size_t)(comma - (s + at)) : n - at;
		json_t *e;

		if (len == 0) {
			perr(c, key, "%s: %s has an empty value between commas", key, q);
			return;
		}
		e = json_stringn(s + at, len);
		if (!e) {
			nomem(c);
			return;
		}
		one(c, e, r);
		json_decref(e);
		at += len + 1;
	}
}

static void set_app(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	/* a path may hold a comma: only arrays */
	set_values(c, "app", v, r, one_app, false);
}

static void set_user(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "user", v, r, one_user, true);
}

static void set_remote(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "remote", v, r, one_remote, true);
}

static void set_host(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "host", v, r, one_host, true);
}

static void set_port(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "port", v, r, one_port, true);
}

static void set_proto(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "proto", v, r, one_proto, true);
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
		wrong_type(c, "weight", "an integer", v);
		return;
	}
	w = json_integer_value(v);
	if (w < AG_RULE_WEIGHT_MIN || w > AG_RULE_WEIGHT_MAX) {
		perr(c, "weight", "weight: %" JSON_INTEGER_FORMAT " is out of range %d..%d", w,
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

	s = get_string(c, "created", v, &n);
	if (!s)
		return;
	if (!ag_rfc3339_parse(s, n, &r->created)) {
		perr(c, "created", "created: %s is not an RFC 3339 UTC time like \"2026-11-27T15:00:00Z\"",
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
		wrong_type(c, "expires_in_ms", "an integer", v);
		return;
	}
	ms = json_integer_value(v);
	if (ms < 1 || (unsigned long long)ms > AG_RULE_EXPIRES_MS_MAX) {
		perr(c, "expires_in_ms", "expires_in_ms: %" JSON_INTEGER_FORMAT " is out of range 1..%llu",
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
	{ "app", set_app, false, true },
	{ "sha256", set_sha256, false, true },
	{ "user", set_user, false, true },
	{ "remote", set_remote, false, true },
	{ "host", set_host, false, true },
	{ "port", set_port, false, true },
	{ "proto", set_proto, false, true },
	{ "direction", set_direction, false, true },
	{ "weight", set_weight, false, true },
	{ "created", set_created, false, true },
	{ "lifetime", set_lifetime, true, true },
	{ "expires_in_ms", set_expires, true, true },
	{ "host_list", set_host_list, false, true },
	{ "remote_list", set_remote_list, false, true },
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
		perr(c, "remote", "remote: \"%s\" cannot be listed with addresses",
		     AG_RULE_REMOTE_RESOLVERS);
	for (unsigned i = 0; i < r->n_proto; i++) {
		uint8_t p = r->proto[i];
		bool v4 = false, v6 = false;

		if (r->n_port && !has_ports(p))
			perr(c, "port", "port: a rule for proto \"%s\" cannot have a port",
			     ag__rule_proto_name(p, pn, sizeof(pn)));
		for (unsigned j = 0; j < r->n_remote; j++) {
			v4 |= r->remote[j].family == AF_INET;
			v6 |= r->remote[j].family == AF_INET6;
		}
		if (r->n_remote && ((p == 1 && !v4) || (p == 58 && !v6)))
			perr(c, "proto", "proto: \"%s\" cannot reach an %s remote address",
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
		perr(c, "id", "duplicate id \"%s\": %s already has it (a copied rule needs a new id, and its file that name)",
		     r->id, want);
	else
		perr(c, "id", "id \"%s\" does not match the file name (it must be %s)", r->id, want);
}

static int rule_from_obj(struct pctx *c, const json_t *obj, unsigned flags, struct ag_rule *out)
{
	bool seen[NFIELDS] = { false };
	struct ag_rule rule, *r = &rule;
	const char *key;
	size_t klen;
	json_t *v;

	if (!json_is_object(obj)) {
		perr(c, NULL, "a rule must be a JSON object, not %s", type_name(obj));
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
			perr(c, strlen(key) == klen ? key : NULL, "unknown key %s", q);
			continue;
		}
		if (f->control_only && !(flags & AG_RULE_JSON_CONTROL)) {
			perr(c, f->key, "unknown key %s (lifetime and expires_in_ms exist only in the control protocol: a rule file is always persistent)",
			     q);
			continue;
		}
		seen[i] = true;
		if (json_is_null(v) && f->nullable)
			continue;
		f->set(c, v, r);
	}
	if (!seen[F_ID] && !(flags & AG_RULE_JSON_CONTROL))
		perr(c, NULL, "missing \"id\"");
	if (!seen[F_ACTION])
		perr(c, NULL, "missing \"action\"");
	if (seen[F_ACTION] && r->action == AG_RULE_CALLOUT && !r->callout && !c->nerr)
		perr(c, "callout", "\"action\": \"callout\" needs \"callout\": the callout's name");
	if (r->action != AG_RULE_CALLOUT && r->callout)
		perr(c, "callout", "\"callout\" is only for \"action\": \"callout\"");
	if (r->lifetime == AG_RULE_TIMED && !r->expires_ns && !c->nerr)
		perr(c, "lifetime", "a timed rule needs \"expires_in_ms\"");
	if (r->lifetime != AG_RULE_TIMED && r->expires_ns)
		perr(c, "expires_in_ms", "\"expires_in_ms\" is only for a timed rule");
	if (!c->nerr)
		check_combination(c, r);
	if (!c->nerr)
		check_lists(c, r);
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
	for (i = 0; i < len && is_ws(buf[i]); i++)
		;
	if (i == len) {
		/* What a crash between creat() and write() leaves. */
		perr(c, NULL, "empty file: no rule");
		return -EINVAL;
	}
	if (buf[i] != '{' && buf[i] != '[') {
		/* Not JSON at all: whatever the file is, its words are not
		 * repeated into a log or to a client. */
		perr(c, NULL, "not a rule file (a rule is a JSON object); its content is not shown");
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
