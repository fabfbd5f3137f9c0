/*
 * list.c — reading host lists and address lists (list.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathtrust.h"
#include "rule/config.h"
#include "rule/internal.h"
#include "rule/list.h"

struct lctx {
	const char *file;
	ag_list_err_fn err;
	void *arg;
	size_t bad;
	size_t last;		/* the last bad line: one report per line */
};

__attribute__((format(printf, 3, 4)))
static void bad_line(struct lctx *c, size_t line, const char *fmt, ...)
{
	char msg[512];
	int n;
	va_list ap;

	if (line == c->last)
		return;	/* its first fault is reported; its good names still count */
	c->last = line;
	c->bad++;
	if (!c->err || c->bad > AG_LIST_ERR_LINES)
		return;
	n = snprintf(msg, sizeof(msg), "%s:%zu: ", c->file, line);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	c->err(c->arg, msg);
}

static void bad_summary(struct lctx *c)
{
	char msg[512];

	if (c->err && c->bad > AG_LIST_ERR_LINES) {
		snprintf(msg, sizeof(msg), "%s: %zu more bad lines", c->file,
			 c->bad - AG_LIST_ERR_LINES);
		c->err(c->arg, msg);
	}
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/*
 * Walk the lines of buf: for each, its number and its tokens (comments
 * and blanks removed), at most max_tok of them; *ntok says how many there
 * were, also past max_tok.
 */
struct tok {
	const char *s;
	size_t n;
};

static size_t next_line(const char *buf, size_t len, size_t at, struct tok *tok, size_t max_tok,
			size_t *ntok)
{
	size_t end = at;

	while (end < len && buf[end] != '\n')
		end++;
	*ntok = 0;
	for (size_t i = at; i < end;) {
		size_t j;

		if (is_blank(buf[i])) {
			i++;
			continue;
		}
		if (buf[i] == '#')
			break;
		for (j = i; j < end && !is_blank(buf[j]) && buf[j] != '#'; j++)
			;
		if (*ntok < max_tok)
			tok[*ntok] = (struct tok){ buf + i, j - i };
		(*ntok)++;
		i = j;
	}
	return end < len ? end + 1 : end;
}

/* A UTF-8 byte order mark at the start is not part of the first line. */
static size_t skip_bom(const char *buf, size_t len)
{
	return len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
}

static const char *quote(char *q, size_t size, const struct tok *t)
{
	return ag_config_quote(q, size, t->s, t->n);
}

/* Names hosts files give the machine itself, not blocked hosts. */
static bool local_name(const struct tok *t)
{
	static const char *const names[] = {
		"localhost", "localhost.localdomain", "local", "broadcasthost",
		"ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
		"ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == t->n && !strncasecmp(names[i], t->s, t->n))
			return true;
	return false;
}

static bool is_address(const struct tok *t)
{
	char a[INET6_ADDRSTRLEN + 1];
	unsigned char b[16];

	if (t->n >= sizeof(a))
		return false;
	memcpy(a, t->s, t->n);
	a[t->n] = 0;
	return inet_pton(AF_INET, a, b) == 1 || inet_pton(AF_INET6, a, b) == 1;
}

/* One name of a line; 0, 1 (bad, reported) or -ENOMEM. */
static int add_name(struct lctx *c, size_t line, struct ag_nameset *set, struct tok t)
{
	char q[96];
	int r;

	if (t.n > 2 && t.s[0] == '*' && t.s[1] == '.') {
		t.s += 2;	/* listed names match their subdomains anyway */
		t.n -= 2;
	}
	if (t.n > 1 && t.s[t.n - 1] == '.')
		t.n--;
	if (!ag__rule_dns_name(t.s, t.n, AG_NAMESET_NAME_MAX)) {
		bad_line(c, line, "%s is not a host name", quote(q, sizeof(q), &t));
		return 1;
	}
	r = ag_nameset_add(set, t.s, t.n);
	return r == -ENOMEM ? r : 0;
}

static size_t count_lines(const char *buf, size_t len)
{
	size_t n = 1;

	for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++)
		n++;
	return n;
}

int ag_list_parse_hosts(const char *file, const char *buf, size_t len, struct ag_nameset *set,
			ag_list_err_fn err, void *arg)
{
	struct lctx c = { .file = file, .err = err, .arg = arg };
	struct tok tok[16];
	size_t at = skip_bom(buf, len), line = 0, ntok;
	char q[96];

	if (len && ag_nameset_reserve(set, count_lines(buf, len)))
		return -ENOMEM;
	while (at < len) {
		at = next_line(buf, len, at, tok, 16, &ntok);
		line++;
		if (!ntok)
			continue;
		if (ntok == 1) {
			if (is_address(&tok[0])) {
				bad_line(&c, line, "%s: an address with no name",
					 quote(q, sizeof(q), &tok[0]));
				continue;
			}
			if (add_name(&c, line, set, tok[0]) < 0)
				return -ENOMEM;
			continue;
		}
		/* hosts-file form: an address, then names */
		if (!is_address(&tok[0])) {
			bad_line(&c, line, "%s: one name per line, or an address and names",
				 quote(q, sizeof(q), &tok[0]));
			continue;
		}
		if (ntok > 16) {
			bad_line(&c, line, "more than 15 names on one line");
			continue;
		}
		for (size_t i = 1; i < ntok; i++) {
			if (local_name(&tok[i]))
				continue;
			if (add_name(&c, line, set, tok[i]) < 0)
				return -ENOMEM;
		}
	}
	bad_summary(&c);
	ag_nameset_trim(set);
	return (int)(c.bad > (size_t)0x7fffffff ? 0x7fffffff : c.bad);
}

/* "ADDR" or "ADDR/LEN": 0 and the prefix, or the reason it is not one. */
static const char *parse_prefix(const struct tok *t, int *ver, unsigned char *addr, unsigned *plen)
{
	char a[INET6_ADDRSTRLEN + 8];
	char *slash;
	unsigned max;

	if (t->n >= sizeof(a))
		return "is not an address or prefix";
	memcpy(a, t->s, t->n);
	a[t->n] = 0;
	slash = strchr(a, '/');
	if (slash)
		*slash = 0;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, a, addr) == 1)
		*ver = 4;
	else if (inet_pton(AF_INET6, a, addr) == 1)
		*ver = 6;
	else
		return "is not an address or prefix";
	max = *ver == 4 ? 32 : 128;
	*plen = max;
	if (slash) {
		const char *p = slash + 1;
		unsigned v = 0;

		if (!*p || strlen(p) > 3)
			return "has a bad prefix length";
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return "has a bad prefix length";
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (v > max)
			return "has a prefix length past the address";
		*plen = v;
	}
	for (unsigned bit = *plen; bit < max; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return "has host bits set";
	return NULL;
}

int ag_list_parse_addrs(const char *file, const char *buf, size_t len, struct ag_prefixset *set,
			ag_list_err_fn err, void *arg)
{
	struct lctx c = { .file = file, .err = err, .arg = arg };
	struct tok tok[2];
	size_t at = skip_bom(buf, len), line = 0, ntok;
	char q[96];

	while (at < len) {
		unsigned char addr[16];
		unsigned plen;
		const char *why;
		int ver;

		at = next_line(buf, len, at, tok, 2, &ntok);
		line++;
		if (!ntok)
			continue;
		if (ntok > 1) {
			bad_line(&c, line, "%s: one address or prefix per line",
				 quote(q, sizeof(q), &tok[0]));
			continue;
		}
		why = parse_prefix(&tok[0], &ver, addr, &plen);
		if (why) {
			bad_line(&c, line, "%s %s", quote(q, sizeof(q), &tok[0]), why);
			continue;
		}
		if (ag_prefixset_add(set, ver, addr, plen) == -ENOMEM)
			return -ENOMEM;
	}
	bad_summary(&c);
	return (int)(c.bad > (size_t)0x7fffffff ? 0x7fffffff : c.bad);
}

void ag_list_free(enum ag_list_kind kind, void *set)
{
	if (kind == AG_LIST_HOSTS)
		ag_nameset_free(set);
	else
		ag_prefixset_free(set);
}

__attribute__((format(printf, 3, 4)))
static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

int ag_list_load(const char *path, enum ag_list_kind kind, void **out, size_t *bad,
		 ag_list_err_fn err, void *arg, char *why, size_t whylen)
{
	struct stat st;
	char *buf = NULL, trust[PATH_MAX + 64];
	size_t got = 0;
	void *set = NULL;
	int fd, r;

	*out = NULL;
	*bad = 0;
	/* a root-owned list in a directory others may write to is a list
	 * anyone may swap for another file */
	r = ag_path_trusted(path, trust, sizeof(trust));
	if (r == -EPERM) {
		set_why(why, whylen, "%s: %s", path, trust);
		return r;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		r = -errno;
		set_why(why, whylen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) == -1) {
		r = -errno;
		set_why(why, whylen, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		set_why(why, whylen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		r = -EPERM;
		set_why(why, whylen, "%s: must be owned by root and not writable by group or others",
			path);
		goto out;
	}
	if (!(st.st_mode & S_IROTH)) {
		/* a list is no secret; a file that is one (a key, a password
		 * file) must not be read into the log as "bad lines" by
		 * whoever may add rules */
		r = -EPERM;
		set_why(why, whylen, "%s: not readable by others: a list file is public", path);
		goto out;
	}
	if ((unsigned long long)st.st_size > AG_LIST_FILE_MAX) {
		r = -EFBIG;
		set_why(why, whylen, "%s: larger than %u MiB", path, AG_LIST_FILE_MAX >> 20);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		set_why(why, whylen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = -errno;
			set_why(why, whylen, "%s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;	/* shrunk while read: what is there */
		got += (size_t)n;
	}
	set = kind == AG_LIST_HOSTS ? (void *)ag_nameset_new() : (void *)ag_prefixset_new();
	if (!set) {
		r = -ENOMEM;
		set_why(why, whylen, "%s: out of memory", path);
		goto out;
	}
	r = kind == AG_LIST_HOSTS ? ag_list_parse_hosts(path, buf, got, set, err, arg)
				  : ag_list_parse_addrs(path, buf, got, set, err, arg);
	if (r < 0) {
		set_why(why, whylen, "%s: out of memory", path);
		goto out;
	}
	*bad = (size_t)r;
	*out = set;
	set = NULL;
	r = 0;
out:
	ag_list_free(kind, set);
	free(buf);
	close(fd);
	return r;
}
