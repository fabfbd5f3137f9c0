/*
 * config.c — parse alegate.conf: "key = value" lines, every error reported.
 *
 * One table (keys[]) drives parsing, range checks, writing and the list of
 * key names, so adding a key is one line plus its field and default.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathtrust.h"
#include "rule/internal.h"

enum kind {
	K_UINT,		/* decimal number */
	K_BYTES,	/* decimal number of bytes, optional k or M (binary) */
	K_SECONDS,	/* number of seconds, optional s, m or h */
	K_MODE,		/* octal permission bits */
	K_BOOL,
	K_ENUM,		/* one of words[], stored as its index */
	K_AUTOBOOL,	/* auto, or a boolean: stored as enum ag_cfg_bpf */
	K_PATH,		/* absolute path */
	K_GROUP,	/* group name, may be empty */
	K_PATHS,	/* absolute paths separated by blanks, each PATH or PATH:ARG */
};

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	size_t size;			/* of the field */
	unsigned long min, max;		/* numbers */
	const char *const *words;	/* K_ENUM */
};

static const char *const w_inbound[] = { "ask", "allow", "deny", NULL };
static const char *const w_timeout[] = { "deny", "allow", "reject", NULL };
static const char *const w_fail[] = { "closed", "open", NULL };
static const char *const w_backend[] = { "auto", "nftables", "iptables", NULL };
static const char *const w_log[] = { "error", "warning", "info", "debug", NULL };
static const char *const w_event_log[] = { "none", "journal", "syslog", NULL };

#define FIELD(f) offsetof(struct ag_config, f), sizeof(((struct ag_config *)0)->f)
#define NUM(name, kind, f, lo, hi) { name, kind, FIELD(f), lo, hi, NULL }
#define STR(name, kind, f) { name, kind, FIELD(f), 0, 0, NULL }
#define ENUM(name, f, w) { name, K_ENUM, FIELD(f), 0, 0, w }

/*
 * The ranges are the bounds the daemon can honour: queue_num leaves room
 * for the two queues after it; the table sizes stop where memory use
 * stops being reasonable for one host.
 */
static const struct key keys[] = {
	NUM("queue_num", K_UINT, queue_num, 0, 65533),
	STR("control_socket", K_PATH, control_socket),
	STR("control_group", K_GROUP, control_group),
	NUM("control_mode", K_MODE, control_mode, 0, 0777),
	STR("rules_dir", K_PATH, rules_dir),
	STR("state_dir", K_PATH, state_dir),
	NUM("intercept_loopback", K_BOOL, intercept_loopback, 0, 1),
	ENUM("inbound", inbound, w_inbound),
	NUM("pending_timeout", K_SECONDS, pending_timeout_s, 1, 86400),
	ENUM("timeout_action", timeout_action, w_timeout),
	ENUM("fail_mode", fail_mode, w_fail),
	ENUM("firewall_backend", firewall_backend, w_backend),
	NUM("pending_buffer", K_UINT, pending_buffer, 0, 1024),
	ENUM("log_level", log_level, w_log),
	NUM("max_pending", K_UINT, max_pending, 1, 1u << 20),
	NUM("max_pending_per_process", K_UINT, max_pending_per_process, 1, 1u << 20),
	NUM("max_pending_per_user", K_UINT, max_pending_per_user, 1, 1u << 20),
	NUM("max_flows", K_UINT, max_flows, 16, 1u << 24),
	NUM("dns_cache_size", K_UINT, dns_cache_size, 16, 1u << 22),
	NUM("event_ring_size", K_UINT, event_ring_size, 16, 1u << 20),
	NUM("max_clients", K_UINT, max_clients, 1, 1024),
	NUM("max_message_size", K_BYTES, max_message_size, 4096, 16u << 20),
	NUM("bpf", K_AUTOBOOL, bpf, 0, 0),
	STR("bpf_cgroup", K_PATH, bpf_cgroup),
	NUM("bpf_notrack", K_AUTOBOOL, bpf_notrack, 0, 0),
	STR("resolv_conf", K_PATH, resolv_conf),
	STR("resolved_conf", K_PATH, resolved_conf),
	NUM("history_days", K_UINT, history_days, 0, 3650),
	NUM("history_max_mb", K_UINT, history_max_mb, 1, 1u << 20),
	ENUM("event_log", event_log, w_event_log),
	STR("callout_modules", K_PATHS, callout_modules),
	NUM("callout_timeout", K_SECONDS, callout_timeout_s, 0, 86400),
	NUM("sha256_max_size", K_BYTES, sha256_max_size, 1024 * 1024, 2047u << 20),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

_Static_assert(sizeof(enum ag_cfg_inbound) == sizeof(int), "enums are stored through int");
_Static_assert(sizeof(enum ag_cfg_bpf) == sizeof(int), "enums are stored through int");
_Static_assert(sizeof(enum ag_cfg_event_log) == sizeof(int), "enums are stored through int");

/* A quoted value in a message shows at most this many bytes of input. */
#define QUOTE_SHOW	64
#define QUOTE_BUF	(QUOTE_SHOW * 4 + 8)

void ag_config_defaults(struct ag_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_num = 100;
	strcpy(cfg->control_socket, "/run/alegate/alegate.sock");
	cfg->control_group[0] = '\0';
	cfg->control_mode = 0660;
	strcpy(cfg->rules_dir, "/etc/alegate/rules.d");
	strcpy(cfg->state_dir, "/var/lib/alegate");
	cfg->intercept_loopback = false;
	cfg->inbound = AG_CFG_INBOUND_ASK;
	cfg->pending_timeout_s = 30;
	cfg->timeout_action = AG_CFG_TIMEOUT_DENY;
	cfg->fail_mode = AG_CFG_FAIL_CLOSED;
	cfg->firewall_backend = AG_CFG_BACKEND_AUTO;
	cfg->pending_buffer = 16;
	cfg->log_level = AG_CFG_LOG_INFO;
	cfg->max_pending = 16384;
	cfg->max_pending_per_process = 1024;
	cfg->max_pending_per_user = 4096;
	cfg->max_flows = 65536;
	cfg->dns_cache_size = 8192;
	cfg->event_ring_size = 4096;
	cfg->max_clients = 32;
	cfg->max_message_size = 65536;
	cfg->bpf = AG_CFG_BPF_AUTO;
	strcpy(cfg->bpf_cgroup, "/sys/fs/cgroup");
	strcpy(cfg->resolv_conf, "/etc/resolv.conf");
	strcpy(cfg->resolved_conf, "/run/systemd/resolve/resolv.conf");
	cfg->bpf_notrack = AG_CFG_BPF_AUTO;
	cfg->history_days = 30;
	cfg->history_max_mb = 512;
	cfg->sha256_max_size = 64u << 20;
	cfg->event_log = AG_CFG_EVENT_LOG_NONE;
}

const char *ag_config_key(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

char *ag_config_quote(char *dst, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, show = len > QUOTE_SHOW ? QUOTE_SHOW : len;
	char tmp[QUOTE_BUF];

	tmp[o++] = '"';
	for (size_t i = 0; i < show; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			tmp[o++] = '\\';
			tmp[o++] = (char)c;
		} else if (c == '\n') {
			tmp[o++] = '\\';
			tmp[o++] = 'n';
		} else if (c == '\t') {
			tmp[o++] = '\\';
			tmp[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			tmp[o++] = '\\';
			tmp[o++] = 'x';
			tmp[o++] = hex[c >> 4];
			tmp[o++] = hex[c & 15];
		} else {
			tmp[o++] = (char)c;
		}
	}
	tmp[o++] = '"';
	if (show < len) {
		memcpy(tmp + o, "...", 3);
		o += 3;
	}
	tmp[o] = '\0';
	if (size) {
		size_t n = o < size - 1 ? o : size - 1;

		memcpy(dst, tmp, n);
		dst[n] = '\0';
	}
	return dst;
}

void ag__sanitize(char *msg)
{
	for (; *msg; msg++)
		if ((unsigned char)*msg < 0x20 || *msg == 0x7f)
			*msg = '?';
}

int ag__read_fd(int fd, size_t max, char **bufp, size_t *lenp)
{
	struct stat st;

	return ag__read_fd_stat(fd, fstat(fd, &st) == 0 ? &st : NULL, max, bufp, lenp);
}

int ag__read_fd_stat(int fd, const struct stat *st, size_t max, char **bufp, size_t *lenp)
{
	size_t cap = 4096, len = 0;
	char *buf = NULL;
	int ret = -ENOMEM;

	/* The size is only a hint (the file may change), but it lets a huge
	 * file be refused before a single byte of it is read. */
	if (st && S_ISREG(st->st_mode)) {
		if ((unsigned long long)st->st_size > max)
			return -EFBIG;
		cap = (size_t)st->st_size + 1;
	}
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap;
			char *nbuf;

			if (cap > max) {
				ret = -EFBIG;
				goto fail;
			}
			ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nbuf = realloc(buf, ncap + 1);
			if (!nbuf)
				goto fail;
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		ret = -EFBIG;
		goto fail;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	free(buf);
	return ret;
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
	const char *name;
	struct ag__errlines errs;
	unsigned nerr;
	unsigned seen[NKEYS];	/* line where each key was set, 0 = not set */
	bool bad[NKEYS];	/* its value had an error: no check of the whole uses it */
};

__attribute__((format(printf, 3, 4)))
static void report(struct parser *p, unsigned line, const char *fmt, ...)
{
	char msg[AG_CONFIG_STR_MAX + 1024];
	va_list ap;
	int n;

	p->nerr++;
	if (!p->errs.buf)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%u: ", p->name, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	ag__sanitize(msg);
	ag__errlines_add(&p->errs, msg);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Leading decimal digits of @v as a number; *end is set after them.
 * Saturates instead of wrapping, so "99999999999999999999" is out of range,
 * not a small number.  Returns false when @v does not start with a digit.
 */
static bool parse_digits(const char *v, unsigned long long *out, const char **end)
{
	unsigned long long n = 0;
	const char *s = v;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		n = n > 1000000000000ull ? n : n * 10 + (unsigned long long)(*s - '0');
	*out = n;
	*end = s;
	return true;
}

static bool match_word(const char *v, const char *const *words, unsigned *idx)
{
	for (unsigned i = 0; words[i]; i++) {
		if (strcasecmp(v, words[i]) == 0) {
			*idx = i;
			return true;
		}
	}
	return false;
}

static int parse_bool(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	unsigned i;

	if (match_word(v, yes, &i))
		return 1;
	if (match_word(v, no, &i))
		return 0;
	return -1;
}

static void word_list(char *dst, size_t size, const char *const *words)
{
	size_t o = 0;

	dst[0] = '\0';
	for (unsigned i = 0; words[i] && o < size; i++)
		o += (size_t)snprintf(dst + o, size - o, "%s%s", i ? ", " : "", words[i]);
}

/* Store one value; @v is NUL-terminated, @vlen bytes, quoted or not. */
static void set_value(struct parser *p, unsigned line, const struct key *k,
		      const char *v, size_t vlen, struct ag_config *cfg)
{
	char *field = (char *)cfg + k->off;
	char q[QUOTE_BUF], list[128];
	unsigned long long n;
	const char *end;
	unsigned idx;
	int b;

	ag_config_quote(q, sizeof(q), v, vlen);
	switch (k->kind) {
	case K_UINT:
		if (!parse_digits(v, &n, &end) || *end) {
			report(p, line, "%s: %s is not a number", k->name, q);
			return;
		}
		if (n < k->min || n > k->max) {
			report(p, line, "%s: %s is out of range %lu..%lu", k->name, q,
			       k->min, k->max);
			return;
		}
		*(unsigned *)field = (unsigned)n;
		return;
	case K_BYTES:
		if (!parse_digits(v, &n, &end)) {
			report(p, line, "%s: %s is not a size in bytes", k->name, q);
			return;
		}
		if (*end == 'k' || *end == 'K')
			n *= 1024, end++;
		else if (*end == 'M')
			n *= 1024 * 1024, end++;
		if (*end) {
			report(p, line, "%s: %s is not a size in bytes", k->name, q);
			return;
		}
		if (n < k->min || n > k->max) {
			report(p, line, "%s: %s is out of range %lu..%lu bytes", k->name, q,
			       k->min, k->max);
			return;
		}
		*(unsigned *)field = (unsigned)n;
		return;
	case K_SECONDS:
		if (!parse_digits(v, &n, &end)) {
			report(p, line, "%s: %s is not a number of seconds", k->name, q);
			return;
		}
		if (*end == 's')
			end++;
		else if (*end == 'm')
			n *= 60, end++;
		else if (*end == 'h')
			n *= 3600, end++;
		if (*end) {
			report(p, line, "%s: %s is not a number of seconds", k->name, q);
			return;
		}
		if (n < k->min || n > k->max) {
			report(p, line, "%s: %s is out of range %lu..%lu seconds", k->name, q,
			       k->min, k->max);
			return;
		}
		*(unsigned *)field = (unsigned)n;
		return;
	case K_MODE:
		n = 0;
		for (end = v; *end >= '0' && *end <= '7'; end++)
			n = n > 07777 ? n : n * 8 + (unsigned)(*end - '0');
		if (end == v || *end) {
			report(p, line, "%s: %s is not an octal file mode", k->name, q);
			return;
		}
		if (n > k->max) {
			report(p, line, "%s: %s is out of range 0000..0%lo", k->name, q, k->max);
			return;
		}
		*(unsigned *)field = (unsigned)n;
		return;
	case K_BOOL:
		b = parse_bool(v);
		if (b < 0) {
			report(p, line, "%s: %s is not a boolean (yes, no, true, false, on, off, 1, 0)",
			       k->name, q);
			return;
		}
		*(bool *)field = b;
		return;
	case K_ENUM:
		if (!match_word(v, k->words, &idx)) {
			word_list(list, sizeof(list), k->words);
			report(p, line, "%s: %s is not one of %s", k->name, q, list);
			return;
		}
		*(int *)field = (int)idx;
		return;
	case K_AUTOBOOL:
		if (strcasecmp(v, "auto") == 0) {
			*(int *)field = AG_CFG_BPF_AUTO;
			return;
		}
		b = parse_bool(v);
		if (b < 0) {
			report(p, line, "%s: %s is not one of auto, yes, no", k->name, q);
			return;
		}
		*(int *)field = b ? AG_CFG_BPF_YES : AG_CFG_BPF_NO;
		return;
	case K_PATH:
		if (v[0] != '/') {
			report(p, line, "%s: %s is not an absolute path", k->name, q);
			return;
		}
		if (vlen >= k->size) {
			report(p, line, "%s: %s is %zu bytes long, the limit is %zu",
			       k->name, q, vlen, k->size - 1);
			return;
		}
		memset(field, 0, k->size);
		memcpy(field, v, vlen);
		return;
	case K_PATHS:
		if (vlen >= k->size) {
			report(p, line, "%s: %s is %zu bytes long, the limit is %zu",
			       k->name, q, vlen, k->size - 1);
			return;
		}
		for (size_t i = 0; i < vlen; i++) {
			/* each word starts at the line's start or after a blank */
			if (v[i] != ' ' && v[i] != '\t' && (i == 0 || v[i - 1] == ' ' ||
							    v[i - 1] == '\t') && v[i] != '/') {
				report(p, line, "%s: %s: every module is an absolute path", k->name,
				       q);
				return;
			}
		}
		memset(field, 0, k->size);
		memcpy(field, v, vlen);
		return;
	case K_GROUP:
		if (vlen >= k->size) {
			report(p, line, "%s: %s is %zu bytes long, the limit is %zu",
			       k->name, q, vlen, k->size - 1);
			return;
		}
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)v[i];

			/* What /etc/group cannot hold: separators and blanks. */
			if (c <= ' ' || c == ':' || c == ',' || c == '/' || c == 0x7f) {
				report(p, line, "%s: %s is not a valid group name", k->name, q);
				return;
			}
		}
		memset(field, 0, k->size);
		memcpy(field, v, vlen);
		return;
	}
}

/*
 * Value of a "key = value" line from @s (after the '=') to @e.  Quoted
 * values are unescaped into @out; unquoted ones end at a '#' that follows
 * whitespace.  Returns the value length, or -1 after reporting an error.
 */
static long take_value(struct parser *p, unsigned line, const struct key *k,
		       const char *s, const char *e, char *out, size_t outsz)
{
	const char *key = k->name;
	size_t o = 0;
	char q[QUOTE_BUF];

	while (s < e && is_space(*s))
		s++;
	if (s < e && *s == '"') {
		for (s++;; s++) {
			if (s == e) {
				report(p, line, "%s: unterminated quoted value", key);
				return -1;
			}
			if (*s == '"')
				break;
			if (*s == '\\') {
				if (s + 1 == e || (s[1] != '"' && s[1] != '\\')) {
					report(p, line, "%s: unknown escape %s in quoted value (only \\\" and \\\\ are escapes)",
					       key, ag_config_quote(q, sizeof(q), s, s + 1 == e ? 1 : 2));
					return -1;
				}
				s++;
			}
			if (o + 1 < outsz)
				out[o] = *s;
			o++;
		}
		for (s++; s < e && is_space(*s); s++)
			;
		if (s < e && *s != '#') {
			report(p, line, "%s: unexpected text after the closing quote: %s",
			       key, ag_config_quote(q, sizeof(q), s, (size_t)(e - s)));
			return -1;
		}
	} else {
		const char *v = s, *ve = s;

		for (; s < e; s++) {
			/* A '#' after whitespace, or first, starts a comment;
			 * inside a word ("a#b") it is part of the value. */
			if (*s == '#' && (s == v || is_space(s[-1])))
				break;
			if (!is_space(*s))
				ve = s + 1;
		}
		/* An empty group or module list is a setting ("root only", "none"); elsewhere a slip. */
		if (ve == v && k->kind != K_GROUP && k->kind != K_PATHS) {
			report(p, line, "%s: missing value", key);
			return -1;
		}
		o = (size_t)(ve - v);
		memcpy(out, v, o < outsz ? o : outsz - 1);
	}
	if (o >= outsz) {
		report(p, line, "%s: value of %zu bytes is too long", key, o);
		return -1;
	}
	out[o] = '\0';
	return (long)o;
}

static void parse_line(struct parser *p, unsigned line, const char *s, const char *e,
		       struct ag_config *cfg, char *val, size_t valsz)
{
	const char *ks, *ke, *le = e;
	const struct key *k = NULL;
	char q[QUOTE_BUF];
	unsigned nerr;
	long vlen;
	size_t i;

	while (s < e && is_space(*s))
		s++;
	if (s == e || *s == '#')
		return;
	while (le > s && is_space(le[-1]))
		le--;
	if (strnlen(s, (size_t)(e - s)) != (size_t)(e - s)) {
		report(p, line, "line contains a NUL byte");
		return;
	}
	ks = s;
	while (s < e && !is_space(*s) && *s != '=')
		s++;
	ke = s;
	while (s < e && is_space(*s))
		s++;
	if (s == e || *s != '=') {
		report(p, line, "expected \"key = value\", got %s",
		       ag_config_quote(q, sizeof(q), ks, (size_t)(le - ks)));
		return;
	}
	s++;
	for (i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].name) == (size_t)(ke - ks) &&
		    memcmp(keys[i].name, ks, (size_t)(ke - ks)) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		report(p, line, "unknown key %s",
		       ag_config_quote(q, sizeof(q), ks, (size_t)(ke - ks)));
		return;
	}
	if (p->seen[i]) {
		report(p, line, "duplicate key \"%s\" (first set on line %u)", k->name, p->seen[i]);
		return;
	}
	p->seen[i] = line;
	nerr = p->nerr;
	vlen = take_value(p, line, k, s, e, val, valsz);
	if (vlen >= 0)
		set_value(p, line, k, val, (size_t)vlen, cfg);
	p->bad[i] = p->nerr != nerr;
}

static size_t key_index(const char *name)
{
	size_t i = 0;

	while (i < NKEYS && strcmp(keys[i].name, name) != 0)
		i++;
	return i;
}

static unsigned seen_line(const struct parser *p, const char *name)
{
	size_t i = key_index(name);

	return i < NKEYS ? p->seen[i] : 0;
}

static bool is_bad(const struct parser *p, const char *name)
{
	size_t i = key_index(name);

	return i < NKEYS && p->bad[i];
}

/*
 * Rules that tie keys together, checked once every line is in, also when
 * other lines had errors (every error in one pass), but not on a key whose
 * own value was wrong: that error is already reported.
 */
static void check_whole(struct parser *p, struct ag_config *cfg)
{
	/* Unset, the per-user bound follows max_pending: a quarter of it, so
	 * one user's flood always leaves three quarters to the others. */
	if (!seen_line(p, "max_pending_per_user"))
		cfg->max_pending_per_user = cfg->max_pending / 4 ? cfg->max_pending / 4 : 1;
	if (!is_bad(p, "max_pending_per_user") && !is_bad(p, "max_pending") &&
	    cfg->max_pending_per_user > cfg->max_pending)
		report(p, seen_line(p, "max_pending_per_user"),
		       "max_pending_per_user: %u is larger than max_pending (%u)",
		       cfg->max_pending_per_user, cfg->max_pending);
	if (!is_bad(p, "max_pending_per_process") && !is_bad(p, "max_pending") &&
	    cfg->max_pending_per_process > cfg->max_pending) {
		unsigned line = seen_line(p, "max_pending_per_process");

		if (!line)
			line = seen_line(p, "max_pending");
		report(p, line, "max_pending_per_process: %u is larger than max_pending (%u)",
		       cfg->max_pending_per_process, cfg->max_pending);
	}
}

int ag_config_parse_buffer(const char *name, const char *buf, size_t len,
			   struct ag_config *cfg, char *err, size_t errlen)
{
	struct parser p = { .name = name };
	const char *s = buf, *e = buf + len;
	struct ag_config *tmp;
	unsigned line = 0;
	char *val;
	int ret = -ENOMEM;

	ag__errlines_init(&p.errs, err, errlen);
	/* Heap, not stack: the struct holds several PATH_MAX buffers. */
	tmp = malloc(sizeof(*tmp));
	val = malloc(AG_CONFIG_STR_MAX);
	if (!tmp || !val) {
		report(&p, 0, "out of memory");
		goto out;
	}
	ag_config_defaults(tmp);
	/* A UTF-8 byte order mark some editors add is not part of a key. */
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		const char *le = nl ? nl : e;

		parse_line(&p, ++line, s, le, tmp, val, AG_CONFIG_STR_MAX);
		s = nl ? nl + 1 : e;
	}
	check_whole(&p, tmp);
	if (p.nerr) {
		ret = -EINVAL;
		goto out;
	}
	*cfg = *tmp;
	ret = 0;
out:
	free(val);
	free(tmp);
	return ret;
}

/* 0, or -EPERM with @err when someone but root may have written @path. */
static int trusted_file(const char *path, int fd, char *err, size_t errlen)
{
	char why[PATH_MAX + 64];
	struct stat st;

	if (fstat(fd, &st) == -1)
		return 0; /* reading it will say why */
	if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(why, sizeof(why), "owned by uid %u, not by root", (unsigned)st.st_uid);
	else if (S_ISREG(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)))
		snprintf(why, sizeof(why), "writable by %s (mode %04o)",
			 (st.st_mode & S_IWOTH) ? "others" : "its group",
			 (unsigned)(st.st_mode & 07777));
	else if (ag_path_trusted(path, why, sizeof(why)) != -EPERM)
		return 0;
	if (err && errlen) {
		snprintf(err, errlen, "%s: %s: not read", path, why);
		ag__sanitize(err);
	}
	return -EPERM;
}

int ag_config_load(const char *path, struct ag_config *cfg, unsigned flags,
		   char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int fd, ret;

	if (err && errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		ret = -errno;
		if (ret == -ENOENT && (flags & AG_CONFIG_MISSING_OK)) {
			ag_config_defaults(cfg);
			return 0;
		}
		goto fail;
	}
	/* the configuration names the rules, the lists and the socket's
	 * group: whoever may change it may let anything through */
	ret = trusted_file(path, fd, err, errlen);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	ret = ag__read_fd(fd, AG_CONFIG_FILE_MAX, &buf, &len);
	close(fd);
	if (ret < 0)
		goto fail;
	ret = ag_config_parse_buffer(path, buf, len, cfg, err, errlen);
	free(buf);
	return ret;
fail:
	if (err && errlen) {
		if (ret == -EFBIG)
			snprintf(err, errlen, "%s: larger than the limit of %u bytes",
				 path, AG_CONFIG_FILE_MAX);
		else
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
		ag__sanitize(err);
	}
	return ret;
}

/* ---- writing ------------------------------------------------------------ */

static void write_string(FILE *f, const char *s)
{
	size_t n = strlen(s);
	bool quote = n == 0 || is_space(s[0]) || is_space(s[n - 1]) ||
		     strpbrk(s, "#\"\\") != NULL;

	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int ag_config_write(const struct ag_config *cfg, FILE *f)
{
	static const char *const w_bpf[] = { "auto", "yes", "no", NULL };

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *field = (const char *)cfg + k->off;
		unsigned u = 0;
		int e = 0;

		if (k->kind == K_ENUM || k->kind == K_AUTOBOOL) {
			const char *const *w = k->kind == K_ENUM ? k->words : w_bpf;
			int nw = 0;

			while (w[nw])
				nw++;
			e = *(const int *)field;
			if (e < 0 || e >= nw)
				e = 0;	/* not a value the parser makes */
		} else if (k->kind != K_BOOL && k->kind != K_PATH && k->kind != K_PATHS &&
			   k->kind != K_GROUP) {
			u = *(const unsigned *)field;
		}
		fprintf(f, "%s = ", k->name);
		switch (k->kind) {
		case K_UINT:
		case K_BYTES:
		case K_SECONDS:
			fprintf(f, "%u", u);
			break;
		case K_MODE:
			fprintf(f, "0%03o", u);
			break;
		case K_BOOL:
			fputs(*(const bool *)field ? "yes" : "no", f);
			break;
		case K_ENUM:
			fputs(k->words[e], f);
			break;
		case K_AUTOBOOL:
			fputs(w_bpf[e], f);
			break;
		case K_PATH:
		case K_PATHS:
		case K_GROUP:
			write_string(f, field);
			break;
		}
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}
