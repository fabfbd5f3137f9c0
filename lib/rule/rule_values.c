/*
 * rule_values.c — the values of a rule's conditions, each checked on its
 * own: programs, users, remote addresses, host names, lists, ports and
 * protocols, one value, an array of them or a string of them separated by
 * commas.  A bad value is reported with the line of its key, quoted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rule/internal.h"

#define QUOTE_BUF	300	/* see ag_config_quote(): 64 shown bytes, escaped */

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

	s = ag__rule_get_string(c, "app", v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	if (n > AG_RULE_APP_MAX) {
		ag__rule_perr(c, "app", "app: %s is %zu bytes long, the limit is %d", q, n, AG_RULE_APP_MAX);
		return;
	}
	glob = strpbrk(s, "*?[") != NULL;
	if (!glob && s[0] != '/') {
		ag__rule_perr(c, "app", "app: %s is not an absolute path or a glob", q);
		return;
	}
	if (glob && !brackets_closed(s)) {
		ag__rule_perr(c, "app", "app: %s has a [ without its ]", q);
		return;
	}
	ag__rule_added(c, "app", ag_rule_add_app(r, s));
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

void ag__rule_set_sha256(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, "sha256", v, &n);
	if (!s)
		return;
	if (ag_rule_sha256_parse(s, n, r->sha256)) {
		ag__rule_perr(c, "sha256", "sha256: %s is not 64 hex digits (a SHA-256 as sha256sum prints it)",
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
			ag__rule_perr(c, "user", "user: %lld is not a valid uid", uid);
			return;
		}
	} else if (json_is_string(v)) {
		s = ag__rule_get_string(c, "user", v, &n);
		if (!s)
			return;
		if (n > 0 && n <= 10 && strspn(s, "0123456789") == n) {
			uid = strtoll(s, NULL, 10);
			if (uid >= 4294967295ll) {
				ag__rule_perr(c, "user", "user: %s is not a valid uid",
				     ag_config_quote(q, sizeof(q), s, n));
				return;
			}
		} else if (!user_name_valid(s, n)) {
			ag__rule_perr(c, "user", "user: %s is not a user name or uid",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		} else {
			ag__rule_added(c, "user", ag_rule_add_user_name(r, s));
			return;
		}
	} else {
		ag__rule_wrong_type(c, "user", "a uid or a user name", v);
		return;
	}
	ag__rule_added(c, "user", ag_rule_add_uid(r, (uint32_t)uid));
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

	s = ag__rule_get_string(c, "remote", v, &n);
	if (!s)
		return;
	if (n == strlen(AG_RULE_REMOTE_RESOLVERS) && !memcmp(s, AG_RULE_REMOTE_RESOLVERS, n)) {
		r->has |= AG_RULE_HAS_RESOLVERS;
		return;
	}
	why = parse_remote(s, n, &val, net, sizeof(net));
	if (why && net[0])
		ag__rule_perr(c, "remote", "remote: %s %s (the network is \"%s\")",
		     ag_config_quote(q, sizeof(q), s, n), why, net);
	else if (why)
		ag__rule_perr(c, "remote", "remote: %s %s", ag_config_quote(q, sizeof(q), s, n), why);
	else
		ag__rule_added(c, "remote", ag_rule_add_remote(r, val.family, val.addr, val.plen));
}

static void one_host(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	char q[QUOTE_BUF], buf[AG_RULE_HOST_MAX + 3];
	const char *s;
	size_t n, m, skip = 0;

	s = ag__rule_get_string(c, "host", v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	m = n;
	if (m > 0 && s[m - 1] == '.')
		m--;	/* "example.org." is the same name */
	if (m >= sizeof(buf)) {
		ag__rule_perr(c, "host", "host: %s is longer than %d characters", q, AG_RULE_HOST_MAX);
		return;
	}
	for (size_t i = 0; i < m; i++)
		buf[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
	buf[m] = '\0';
	if (m >= 2 && buf[0] == '*' && buf[1] == '.')
		skip = 2;
	if (!ag__rule_dns_name(buf + skip, m - skip, AG_RULE_HOST_MAX) || (skip && m > AG_RULE_HOST_MAX)) {
		ag__rule_perr(c, "host", "host: %s is not a DNS name or *.suffix", q);
		return;
	}
	ag__rule_added(c, "host", ag_rule_add_host(r, buf));
}

/* host_list, remote_list: an absolute path of printable characters. */
static void set_list(struct pctx *c, const char *key, const json_t *v, struct ag_rule *r,
		     int (*set)(struct ag_rule *, const char *))
{
	char q[QUOTE_BUF];
	const char *s;
	size_t n;

	s = ag__rule_get_string(c, key, v, &n);
	if (!s)
		return;
	ag_config_quote(q, sizeof(q), s, n);
	if (n >= AG_RULE_SOURCE_MAX) {
		ag__rule_perr(c, key, "%s: %s is longer than %d characters", key, q, AG_RULE_SOURCE_MAX - 1);
		return;
	}
	if (s[0] != '/') {
		ag__rule_perr(c, key, "%s: %s is not an absolute path", key, q);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			ag__rule_perr(c, key, "%s: %s holds a control character", key, q);
			return;
		}
	ag__rule_added(c, key, set(r, s));
}

void ag__rule_set_host_list(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_list(c, "host_list", v, r, ag_rule_set_host_list);
}

void ag__rule_set_remote_list(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_list(c, "remote_list", v, r, ag_rule_set_remote_list);
}

/* A list and a single value of one field: the engine would OR them. */
void ag__rule_check_lists(struct pctx *c, const struct ag_rule *r)
{
	if ((r->has & AG_RULE_HAS_HOST_LIST) && (r->has & AG_RULE_HAS_HOST))
		ag__rule_perr(c, "host_list", "host_list: a rule has host or host_list, not both");
	if ((r->has & AG_RULE_HAS_REMOTE_LIST) &&
	    (r->has & (AG_RULE_HAS_REMOTE | AG_RULE_HAS_RESOLVERS)))
		ag__rule_perr(c, "remote_list", "remote_list: a rule has remote or remote_list, not both");
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
			ag__rule_perr(c, "port", "port: %" JSON_INTEGER_FORMAT " is not a port (1-65535)", p);
			return;
		}
		lo = hi = (unsigned long)p;
	} else if (json_is_string(v)) {
		s = ag__rule_get_string(c, "port", v, &n);
		if (!s)
			return;
		ag_config_quote(q, sizeof(q), s, n);
		dash = memchr(s, '-', n);
		lo = port_number(s, dash ? (size_t)(dash - s) : n);
		hi = dash ? port_number(dash + 1, n - (size_t)(dash - s) - 1) : lo;
		if (!lo || !hi) {
			ag__rule_perr(c, "port", "port: %s is not a port (1-65535) or a range N-M", q);
			return;
		}
		if (lo > hi) {
			ag__rule_perr(c, "port", "port: %s is a range whose start is above its end", q);
			return;
		}
	} else {
		ag__rule_wrong_type(c, "port", "a port number or a string \"N-M\"", v);
		return;
	}
	ag__rule_added(c, "port", ag_rule_add_port(r, (uint16_t)lo, (uint16_t)hi));
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
			ag__rule_perr(c, "proto", "proto: %lld is not a protocol number (0-255)", p);
			return;
		}
	} else if (json_is_string(v)) {
		s = ag__rule_get_string(c, "proto", v, &n);
		if (!s)
			return;
		p = ag__rule_proto_number(s);
		if (p < 0 && n > 0 && n <= 3 && strspn(s, "0123456789") == n)
			p = strtol(s, NULL, 10);
		if (p < 0 || p > 255) {
			ag__rule_perr(c, "proto", "unknown proto %s (expected tcp, udp, icmp, icmpv6 or a number 0-255)",
			     ag_config_quote(q, sizeof(q), s, n));
			return;
		}
	} else {
		ag__rule_wrong_type(c, "proto", "a protocol name or number", v);
		return;
	}
	ag__rule_added(c, "proto", ag_rule_add_proto(r, (uint8_t)p));
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
			ag__rule_perr(c, key, "%s: an empty list (leave %s out to match any)", key, key);
			return;
		}
		if (count > AG_RULE_VALUES_MAX) {
			ag__rule_perr(c, key, "%s: %zu values, the limit is %d", key, count, AG_RULE_VALUES_MAX);
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
		ag__rule_perr(c, key, "%s: %s has %zu values, the limit is %d", key, q, count,
		     AG_RULE_VALUES_MAX);
		return;
	}
	for (size_t at = 0; at <= n;) {
		const char *comma = memchr(s + at, ',', n - at);
		size_t len = comma ? (size_t)(comma - (s + at)) : n - at;
		json_t *e;

		if (len == 0) {
			ag__rule_perr(c, key, "%s: %s has an empty value between commas", key, q);
			return;
		}
		e = json_stringn(s + at, len);
		if (!e) {
			ag__rule_nomem(c);
			return;
		}
		one(c, e, r);
		json_decref(e);
		at += len + 1;
	}
}

void ag__rule_set_app(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	/* a path may hold a comma: only arrays */
	set_values(c, "app", v, r, one_app, false);
}

void ag__rule_set_user(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "user", v, r, one_user, true);
}

void ag__rule_set_remote(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "remote", v, r, one_remote, true);
}

void ag__rule_set_host(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "host", v, r, one_host, true);
}

void ag__rule_set_port(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "port", v, r, one_port, true);
}

void ag__rule_set_proto(struct pctx *c, const json_t *v, struct ag_rule *r)
{
	set_values(c, "proto", v, r, one_proto, true);
}
