/*
 * rules.c — rule files: parse and check with file:line errors, write
 * atomically, load a directory where one bad file costs one rule.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "rules.h"

#define QUOTE_BUF	300	/* see ag_config_quote(): 64 shown bytes, escaped */
#define MSG_MAX		(AG_RULE_SOURCE_MAX + 1024)

static const char *const action_names[] = { "allow", "deny", "reject", "ask", "callout", NULL };
static const char *const lifetime_names[] = { "always", "until-restart", "until-quit",
					      "timed", NULL };
static const char *const direction_names[] = { "out", "in", NULL };

static const struct {
	const char *name;
	uint8_t num;
} protos[] = {
	{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 },
};

const char *ag_rule_action_name(enum ag_rule_action action)
{
	return (unsigned)action < 5 ? action_names[action] : "?";
}

const char *ag_rule_lifetime_name(enum ag_rule_lifetime lifetime)
{
	return (unsigned)lifetime < 4 ? lifetime_names[lifetime] : "?";
}

void ag_rule_init(struct ag_rule *rule)
{
	memset(rule, 0, sizeof(*rule));
	rule->action = AG_RULE_DENY;
	rule->enabled = true;
	rule->lifetime = AG_RULE_ALWAYS;
}

bool ag_rule_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		char c = id[n];

		if (n >= AG_RULE_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* ---- error reporting with line numbers --------------------------------- */

/* JSON's whitespace (RFC 8259), nothing more. */
static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

struct pctx {
	const char *file;	/* NULL: bare messages (control protocol) */
	const char *text;	/* NULL: no line numbers */
	size_t len;
	ag_err_fn err;
	void *arg;
	unsigned nerr;
	/* ag_rules_load_dir(): the sorted file names of the directory, to tell
	 * a copied rule (duplicate id) from a plain misnamed one */
	char *const *siblings;
	size_t nsiblings;
};

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

/* Report an error about @key (NULL: about the whole rule). */
__attribute__((format(printf, 3, 4)))
static void perr(struct pctx *c, const char *key, const char *fmt, ...)
{
	char msg[MSG_MAX];
	size_t o = 0;
	va_list ap;

	c->nerr++;
	if (!c->err)
		return;
	if (c->file && c->text) {
		unsigned line = key ? key_line(c->text, c->len, key) : 0;

		if (!line)
			line = key_line(c->text, c->len, NULL);
		snprintf(msg, sizeof(msg), "%s:%u: ", c->file, line ? line : 1);
		o = strlen(msg);
	} else if (c->file) {
		snprintf(msg, sizeof(msg), "%s: ", c->file);
		o = strlen(msg);
	}
	va_start(ap, fmt);
	vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
	va_end(ap);
	ag__sanitize(msg);
	c->err(c->arg, msg);
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
	memcpy(r->name, s, n + 1);
}

static void set_action(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "action", v, action_names, "allow, deny, reject, ask or callout");

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
	memcpy(r->callout, s, n + 1);
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

static void set_app(struct pctx *c, const json_t *v, struct ag_rule *r)
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
	memcpy(r->app, s, n + 1);
	r->app_glob = glob;
	r->has |= AG_RULE_HAS_APP;
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

static void set_user(struct pctx *c, const json_t *v, struct ag_rule *r)
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
			memcpy(r->user, s, n + 1);
			r->has |= AG_RULE_HAS_USER;
			r->has &= ~AG_RULE_HAS_UID;
			return;
		}
	} else {
		wrong_type(c, "user", "a uid or a user name", v);
		return;
	}
	snprintf(r->user, sizeof(r->user), "%lld", uid);
	r->uid = (uint32_t)uid;
	r->has |= AG_RULE_HAS_USER | AG_RULE_HAS_UID;
}

/*
 * "ADDR" or "ADDR/LEN" into family, address, prefix length.  Returns NULL,
 * or a message about what is wrong; @net gets the masked network for a
 * "did you mean" when the only fault is host bits.
 */
static const char *parse_remote(const char *s, size_t n, struct ag_rule *r,
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
	r->remote_family = family;
	memcpy(r->remote_addr, addr, family == AF_INET ? 4 : 16);
	r->remote_plen = (unsigned)plen;
	return NULL;
}

static void set_remote(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF], net[INET6_ADDRSTRLEN + 16] = "";
	const char *s, *why;
	size_t n;

	s = get_string(c, "remote", v, &n);
	if (!s)
		return;
	if (n == strlen(AG_RULE_REMOTE_RESOLVERS) && !memcmp(s, AG_RULE_REMOTE_RESOLVERS, n)) {
		r->has |= AG_RULE_HAS_RESOLVERS;
		return;
	}
	why = parse_remote(s, n, r, net, sizeof(net));
	if (why && net[0])
		perr(c, "remote", "remote: %s %s (the network is \"%s\")",
		     ag_config_quote(q, sizeof(q), s, n), why, net);
	else if (why)
		perr(c, "remote", "remote: %s %s", ag_config_quote(q, sizeof(q), s, n), why);
	else
		r->has |= AG_RULE_HAS_REMOTE;
}

/* Labels of letters, digits, '-' (not at an edge) and '_' (SRV, DKIM). */
static bool dns_name_valid(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > AG_RULE_HOST_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = i < n ? s[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      (ch == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}

static void set_host(struct pctx *c, const json_t *v, struct ag_rule *r)
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
	if (!dns_name_valid(buf + skip, m - skip) || (skip && m > AG_RULE_HOST_MAX)) {
		perr(c, "host", "host: %s is not a DNS name or *.suffix", q);
		return;
	}
	memcpy(r->host, buf, m + 1);
	r->host_wildcard = skip != 0;
	r->has |= AG_RULE_HAS_HOST;
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

static void set_port(struct pctx *c, const json_t *v, struct ag_rule *r)
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
	r->port_min = (uint16_t)lo;
	r->port_max = (uint16_t)hi;
	r->has |= AG_RULE_HAS_PORT;
}

static void set_proto(struct pctx *c, const json_t *v, struct ag_rule *r)
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
		for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
			if (strcasecmp(s, protos[i].name) == 0)
				p = protos[i].num;
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
	r->proto = (uint8_t)p;
	r->has |= AG_RULE_HAS_PROTO;
}

static void set_direction(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "direction", v, direction_names, "out or in");

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

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static bool digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00|-00:00), years
 * 1970..9999.  Fractions are dropped: the field is informative.
 */
static bool parse_rfc3339(const char *s, size_t n, int64_t *out)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec;
	size_t i = 19;

	if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (s[i] == '.') {
		size_t f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return false;
	}
	if (!((i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) ||
	      (i + 6 == n && (strncmp(s + i, "+00:00", 6) == 0 || strncmp(s + i, "-00:00", 6) == 0))))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return false;
	if (sec == 60)
		sec = 59;	/* a leap second: time_t cannot name it */
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return true;
}

static void format_rfc3339(int64_t t, char *buf, size_t size)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	unsigned m, d;
	int y;

	civil_from_days(days, &y, &m, &d);
	snprintf(buf, size, "%04d-%02u-%02uT%02u:%02u:%02uZ", y, m, d,
		 (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

static void set_created(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = get_string(c, "created", v, &n);
	if (!s)
		return;
	if (!parse_rfc3339(s, n, &r->created)) {
		perr(c, "created", "created: %s is not an RFC 3339 UTC time like \"2026-11-27T15:00:00Z\"",
		     ag_config_quote(q, sizeof(q), s, n));
		return;
	}
	r->has |= AG_RULE_HAS_CREATED;
}

static void set_lifetime(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	int i = get_word(c, "lifetime", v, lifetime_names, "always, until-restart, until-quit or timed");

	if (i < 0)
		return;
	r->lifetime = (enum ag_rule_lifetime)i;
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
	r->expires_ns = boottime_ns() + (uint64_t)ms * 1000000u;
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
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))
#define F_ID 0		/* indices of the required fields in fields[] */
#define F_ACTION 2

static bool has_ports(uint8_t proto)
{
	/* tcp, udp, dccp, sctp, udplite */
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static const char *proto_name(uint8_t proto, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	snprintf(buf, size, "%u", proto);
	return buf;
}

/* Conditions that can never match together are a mistake worth naming. */
static void check_combination(struct pctx *c, const struct ag_rule *r)
{
	char pn[8];

	if ((r->has & AG_RULE_HAS_PORT) && (r->has & AG_RULE_HAS_PROTO) && !has_ports(r->proto))
		perr(c, "port", "port: a rule for proto \"%s\" cannot have a port",
		     proto_name(r->proto, pn, sizeof(pn)));
	if ((r->has & AG_RULE_HAS_REMOTE) && (r->has & AG_RULE_HAS_PROTO) &&
	    ((r->proto == 1 && r->remote_family == AF_INET6) ||
	     (r->proto == 58 && r->remote_family == AF_INET)))
		perr(c, "proto", "proto: \"%s\" cannot reach an %s remote address",
		     proto_name(r->proto, pn, sizeof(pn)),
		     r->remote_family == AF_INET ? "IPv4" : "IPv6");
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
	struct ag_rule *r;
	const char *key;
	size_t klen;
	json_t *v;

	if (!json_is_object(obj)) {
		perr(c, NULL, "a rule must be a JSON object, not %s", type_name(obj));
		return -EINVAL;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		perr(c, NULL, "out of memory");
		return -ENOMEM;
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
	if (seen[F_ACTION] && r->action == AG_RULE_CALLOUT && !r->callout[0] && !c->nerr)
		perr(c, "callout", "\"action\": \"callout\" needs \"callout\": the callout's name");
	if (r->action != AG_RULE_CALLOUT && r->callout[0])
		perr(c, "callout", "\"callout\" is only for \"action\": \"callout\"");
	if (r->lifetime == AG_RULE_TIMED && !r->expires_ns && !c->nerr)
		perr(c, "lifetime", "a timed rule needs \"expires_in_ms\"");
	if (r->lifetime != AG_RULE_TIMED && r->expires_ns)
		perr(c, "expires_in_ms", "\"expires_in_ms\" is only for a timed rule");
	if (!c->nerr)
		check_combination(c, r);
	if (!c->nerr)
		check_file_name(c, r);
	if (c->nerr) {
		free(r);
		return -EINVAL;
	}
	*out = *r;
	free(r);
	return 0;
}

int ag_rule_from_json(const json_t *obj, unsigned flags, struct ag_rule *out,
		      ag_err_fn err, void *arg)
{
	struct pctx c = { .err = err, .arg = arg };

	return rule_from_obj(&c, obj, flags, out);
}

static int parse_text(struct pctx *c, const char *buf, size_t len, struct ag_rule *out)
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
		if (c->err) {
			snprintf(msg, sizeof(msg), "%s:%d: invalid JSON: %s",
				 c->file ? c->file : "rule", je.line > 0 ? je.line : 1, je.text);
			ag__sanitize(msg);
	c->err(c->arg, msg);
		}
		return json_error_code(&je) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	}
	ret = rule_from_obj(c, root, 0, out);
	json_decref(root);
	return ret;
}

int ag_rule_parse(const char *file, const char *buf, size_t len, struct ag_rule *out,
		  ag_err_fn err, void *arg)
{
	struct pctx c = { .file = file ? file : "rule", .err = err, .arg = arg };
	int ret;

	ret = parse_text(&c, buf, len, out);
	if (ret == 0 && file)
		snprintf(out->source, sizeof(out->source), "%s", file);
	return ret;
}

/* ---- writing ------------------------------------------------------------ */

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
	if (r->has & AG_RULE_HAS_PORT) {
		/* Always a string, so one port and a range look alike. */
		if (r->port_min == r->port_max)
			snprintf(buf, sizeof(buf), "%u", r->port_min);
		else
			snprintf(buf, sizeof(buf), "%u-%u", r->port_min, r->port_max);
		bad |= put(o, "port", json_string(buf));
	}
	if (r->has & AG_RULE_HAS_PROTO) {
		const char *p = proto_name(r->proto, pn, sizeof(pn));

		bad |= put(o, "proto", p == pn ? json_integer(r->proto) : json_string(p));
	}
	if (r->has & AG_RULE_HAS_DIRECTION)
		bad |= put(o, "direction", json_string(r->direction == AG_RULE_IN ? "in" : "out"));
	bad |= put(o, "weight", json_integer(r->weight));
	if (r->has & AG_RULE_HAS_CREATED) {
		format_rfc3339(r->created, buf, sizeof(buf));
		bad |= put(o, "created", json_string(buf));
	}
	if (flags & AG_RULE_JSON_CONTROL) {
		bad |= put(o, "lifetime", json_string(ag_rule_lifetime_name(r->lifetime)));
		if (r->lifetime == AG_RULE_TIMED) {
			uint64_t now = boottime_ns();
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

/* The user condition as a file holds it: the name given, or the uid. */
static const char *user_text(const struct ag_rule *r, char *buf, size_t size)
{
	if (r->has & AG_RULE_HAS_USER)
		return r->user;
	if (r->has & AG_RULE_HAS_UID) {
		snprintf(buf, size, "%u", r->uid);
		return buf;
	}
	return "";
}

bool ag_rule_equal(const struct ag_rule *a, const struct ag_rule *b)
{
	/* Both user bits fold into one condition: resolving a name to a uid,
	 * or setting only the uid, changes nothing in the file. */
	unsigned users = AG_RULE_HAS_USER | AG_RULE_HAS_UID;
	unsigned has = a->has & ~users;
	char bufa[16], bufb[16];

	if (strcmp(user_text(a, bufa, sizeof(bufa)), user_text(b, bufb, sizeof(bufb))))
		return false;

	if (strcmp(a->id, b->id) || strcmp(a->name, b->name) || a->action != b->action ||
	    strcmp(a->callout, b->callout) ||
	    a->enabled != b->enabled || a->weight != b->weight || has != (b->has & ~users))
		return false;
	if ((has & AG_RULE_HAS_APP) && strcmp(a->app, b->app))
		return false;
	if ((has & AG_RULE_HAS_REMOTE) &&
	    (a->remote_family != b->remote_family || a->remote_plen != b->remote_plen ||
	     memcmp(a->remote_addr, b->remote_addr, a->remote_family == AF_INET ? 4 : 16)))
		return false;
	if ((has & AG_RULE_HAS_HOST) && strcmp(a->host, b->host))
		return false;
	if ((has & AG_RULE_HAS_PORT) && (a->port_min != b->port_min || a->port_max != b->port_max))
		return false;
	if ((has & AG_RULE_HAS_PROTO) && a->proto != b->proto)
		return false;
	if ((has & AG_RULE_HAS_DIRECTION) && a->direction != b->direction)
		return false;
	if ((has & AG_RULE_HAS_CREATED) && a->created != b->created)
		return false;
	return true;
}

/* The exact bytes of a rule file: 2-space indent, fixed key order, "\n". */
static char *rule_text(const struct ag_rule *r, size_t *len)
{
	json_t *o = ag_rule_to_json(r, 0);
	char *s, *t;
	size_t n;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*len = n + 1;
	return t;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Some file systems cannot fsync a directory; that is no reason to fail. */
static int sync_dir(int dfd)
{
	if (fsync(dfd) == -1 && errno != EINVAL && errno != EROFS)
		return -errno;
	return 0;
}

int ag_rule_save(const char *dir, const struct ag_rule *rule, unsigned flags)
{
	char tmp[AG_RULE_ID_MAX + 16], final[AG_RULE_ID_MAX + 8];
	struct ag_rule *check = NULL;
	int dfd = -1, fd = -1, ret;
	char *text = NULL;
	size_t len = 0;
	bool made = false;

	if (!ag_rule_id_valid(rule->id) || rule->lifetime != AG_RULE_ALWAYS)
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), ".%s.json.tmp", rule->id);
	snprintf(final, sizeof(final), "%s.json", rule->id);
	text = rule_text(rule, &len);
	if (!text)
		return errno == EILSEQ ? -EINVAL : -ENOMEM;
	/* Never write a file that the next start would refuse. */
	check = malloc(sizeof(*check));
	if (!check) {
		ret = -ENOMEM;
		goto out;
	}
	ret = ag_rule_parse(final, text, len, check, NULL, NULL);
	if (ret < 0 || !ag_rule_equal(check, rule)) {
		ret = ret == -ENOMEM ? ret : -EINVAL;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		ret = -errno;
		goto out;
	}
	/* O_TRUNC, not O_EXCL: a temp file left by a crash must not block
	 * saving forever; O_NOFOLLOW: never write through a planted link. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		ret = -errno;
		goto out;
	}
	made = true;
	if (fchmod(fd, 0644) == -1) {	/* whatever the umask was */
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, text, len);
	if (ret < 0)
		goto out;
	if (fsync(fd) == -1) {
		ret = -errno;
		goto out;
	}
	ret = close(fd);
	fd = -1;
	if (ret == -1) {
		ret = -errno;
		goto out;
	}
	if (flags & AG_RULE_SAVE_NEW) {
		ret = renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE);
		if (ret == -1 && errno == EINVAL) {
			/* No RENAME_NOREPLACE here: link() refuses to replace too. */
			ret = linkat(dfd, tmp, dfd, final, 0);
			if (ret == 0)
				unlinkat(dfd, tmp, 0);
		}
	} else {
		ret = renameat(dfd, tmp, dfd, final);
	}
	if (ret == -1) {
		ret = -errno;
		goto out;
	}
	made = false;
	ret = sync_dir(dfd);
out:
	if (fd != -1)
		close(fd);
	if (made)
		unlinkat(dfd, tmp, 0);
	if (dfd != -1)
		close(dfd);
	free(check);
	free(text);
	return ret;
}

int ag_rule_delete(const char *dir, const char *id)
{
	char final[AG_RULE_ID_MAX + 8];
	int dfd, ret;

	if (!ag_rule_id_valid(id))
		return -EINVAL;
	snprintf(final, sizeof(final), "%s.json", id);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -errno;
	if (unlinkat(dfd, final, 0) == -1)
		ret = -errno;
	else
		ret = sync_dir(dfd);
	close(dfd);
	return ret;
}

int ag_rule_new_id(char *buf)
{
	unsigned char r[AG_RULE_NEW_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* ---- loading a directory ------------------------------------------------ */

static bool is_rule_name(const char *name)
{
	size_t n = strlen(name);

	/* Hidden names cover our own ".<id>.json.tmp" and vim's ".x.json.swp". */
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

__attribute__((format(printf, 3, 4)))
static void ferr(struct pctx *c, const char *path, const char *fmt, ...)
{
	char msg[MSG_MAX];
	size_t o;
	va_list ap;

	c->nerr++;
	if (!c->err)
		return;
	snprintf(msg, sizeof(msg), "%s: ", path);
	o = strlen(msg);
	va_start(ap, fmt);
	vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
	va_end(ap);
	ag__sanitize(msg);
	c->err(c->arg, msg);
}

/*
 * Who may have written a rule file or the directory: root, or the user the
 * daemon runs as (the same, but for tests and checks run by others).
 * Return: NULL when trusted, else why not (for "PATH: WHY: not read").
 */
static const char *untrusted(const struct stat *st, char *buf, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(buf, len, "owned by uid %u, not by root", (unsigned)st->st_uid);
		return buf;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(buf, len, "writable by %s (mode %04o)",
			 (st->st_mode & S_IWOTH) ? "others" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return buf;
	}
	return NULL;
}

/* One file: 0 and *rule filled, or -EINVAL (reported), or -ENOMEM. */
static int load_one(struct pctx *c, int dfd, const char *path, const char *name,
		    struct ag_rule *rule)
{
	struct stat st;
	char *buf = NULL, why[96];
	size_t len;
	int fd, ret;

	/* O_NONBLOCK: opening a FIFO someone named x.json must not hang us.
	 * O_NOFOLLOW: a link to another file (/etc/shadow) is never read. */
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ELOOP)
			ferr(c, path, "a symbolic link: not read (a rule file is a regular file)");
		else
			ferr(c, path, "cannot open: %s", strerror(errno));
		return -EINVAL;
	}
	if (fstat(fd, &st) == -1) {
		ferr(c, path, "cannot stat: %s", strerror(errno));
		close(fd);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		ferr(c, path, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	/* Anyone who can write a rule can allow anything. */
	if (untrusted(&st, why, sizeof(why))) {
		ferr(c, path, "%s: not read", why);
		close(fd);
		return -EINVAL;
	}
	ret = ag__read_fd(fd, AG_RULE_FILE_MAX, &buf, &len);
	close(fd);
	if (ret == -EFBIG) {
		ferr(c, path, "%lld bytes is more than the limit of %u bytes for a rule file; not read",
		     (long long)st.st_size, AG_RULE_FILE_MAX);
		return -EINVAL;
	}
	if (ret < 0) {
		ferr(c, path, "cannot read: %s", strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	c->file = path;
	ret = parse_text(c, buf, len, rule);
	free(buf);
	if (ret == 0)
		snprintf(rule->source, sizeof(rule->source), "%s", path);
	return ret;
}

int ag_rules_load_dir(const char *dir, ag_rule_fn rule_cb, ag_err_fn err, void *arg)
{
	struct pctx c = { .err = err, .arg = arg };
	char **names = NULL, *path = NULL;
	size_t n = 0, cap = 0, dlen = strlen(dir);
	struct ag_rule *rule = NULL;
	struct dirent *de;
	struct stat st;
	char why[96];
	bool bad = false;
	int ret = 0, dfd;
	DIR *d;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		ret = -errno;
		ferr(&c, dir, "cannot open the rules directory: %s", strerror(-ret));
		return ret;
	}
	/* Whoever may add or replace a file there may write rules. */
	if (fstat(dfd, &st) == -1) {
		ret = -errno;
		ferr(&c, dir, "cannot stat the rules directory: %s", strerror(-ret));
		close(dfd);
		return ret;
	}
	if (untrusted(&st, why, sizeof(why))) {
		ferr(&c, dir, "the rules directory is %s: no rule read from it", why);
		close(dfd);
		return -EPERM;
	}
	d = fdopendir(dfd);
	if (!d) {
		ret = -errno;
		ferr(&c, dir, "cannot open the rules directory: %s", strerror(-ret));
		close(dfd);
		return ret;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				ret = -errno;
				ferr(&c, dir, "cannot read the rules directory: %s", strerror(-ret));
				goto out;
			}
			break;
		}
		if (!is_rule_name(de->d_name))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));

			if (!nn)
				goto nomem;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto nomem;
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	c.siblings = names;
	c.nsiblings = n;
	rule = malloc(sizeof(*rule));
	path = malloc(dlen + 256 + 2);
	if (!rule || !path)
		goto nomem;
	while (dlen > 0 && dir[dlen - 1] == '/')
		dlen--;	/* "/etc/rules.d/" and "/" make clean paths too */
	for (size_t i = 0; i < n; i++) {
		int r;

		snprintf(path, dlen + 256 + 2, "%.*s/%s", (int)dlen, dir, names[i]);
		c.nerr = 0;
		r = load_one(&c, dirfd(d), path, names[i], rule);
		if (r == -ENOMEM)
			goto nomem;
		if (r < 0) {
			bad = true;
			continue;
		}
		r = rule_cb ? rule_cb(arg, rule) : 0;
		if (r < 0) {
			ret = r;
			goto out;
		}
	}
	ret = bad ? -EINVAL : 0;
	goto out;
nomem:
	ferr(&c, dir, "out of memory while loading rules");
	ret = -ENOMEM;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rule);
	free(path);
	closedir(d);
	return ret;
}
