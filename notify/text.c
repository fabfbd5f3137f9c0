/*
 * text.c — what a notification says.
 *
 * Everything shown comes from other processes: a program can be called
 * "<b>firefox</b>", "curl\nAllowed by your administrator" or carry a
 * right-to-left override that shows its name backwards.  Notification
 * servers with the body-markup capability read the body as a subset of
 * HTML (GNOME, KDE, dunst, mako), so every field is cleaned, cut to a
 * bound, and escaped there.  Summaries are plain text by the
 * specification, yet some servers put them through the same markup
 * parser: there, '<', '>' and '&' are left out altogether.
 */
#include <stdio.h>
#include <string.h>

#include "notify/notify.h"

#define ELLIPSIS	"\xe2\x80\xa6"	/* U+2026 */

static size_t put(char *dst, size_t size, size_t at, const char *s, size_t n)
{
	if (at + 1 >= size)
		return at;
	if (n > size - 1 - at) {
		/* cut at a character boundary, never inside a UTF-8 sequence */
		n = size - 1 - at;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst + at, s, n);
	dst[at + n] = '\0';
	return at + n;
}

/*
 * Decode one UTF-8 character of @s (@n bytes left).  Return its length and
 * set *@cp, or 0 for a byte that starts no valid character (overlong forms,
 * surrogates and code points past U+10FFFF included).
 */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		len = 2, c &= 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		len = 3, c &= 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Characters that act on the text around them instead of being shown. */
static bool hidden(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	       cp == 0x061c ||			/* Arabic letter mark */
	       cp == 0x200b ||			/* zero width space */
	       cp == 0x200e || cp == 0x200f ||	/* LRM, RLM */
	       (cp >= 0x2028 && cp <= 0x202e) ||	/* line/paragraph separators, embeddings, overrides */
	       (cp >= 0x2060 && cp <= 0x2069) ||	/* word joiner, isolates */
	       cp == 0xfeff;
}

static size_t clean_range(char *dst, size_t size, size_t at, const char *src, size_t n,
			  unsigned flags)
{
	const unsigned char *s = (const unsigned char *)src;
	const char *esc;
	size_t i = 0, len;
	unsigned cp;

	while (i < n) {
		len = utf8_char(s + i, n - i, &cp);
		if (!len || hidden(cp)) {
			at = put(dst, size, at, "?", 1);
			i += len ? len : 1;
			continue;
		}
		esc = NULL;
		if ((flags & NT_PLAIN_ONLY) && (cp == '<' || cp == '>' || cp == '&'))
			esc = "?";
		else if (flags & NT_MARKUP)
			esc = cp == '<' ? "&lt;" : cp == '>' ? "&gt;" : cp == '&' ? "&amp;" :
			      cp == '"' ? "&quot;" : cp == '\'' ? "&apos;" : NULL;
		if (esc) {
			/* half an entity ("&am") is broken markup: all of it or stop */
			if (at + strlen(esc) >= size)
				return at;
			at = put(dst, size, at, esc, strlen(esc));
		} else {
			at = put(dst, size, at, src + i, len);
		}
		i += len;
	}
	return at;
}

char *nt_clean(char *dst, size_t size, const char *src, size_t max, unsigned flags)
{
	size_t n = strlen(src), at = strlen(dst), head, tail;

	if (n <= max || max < 8) {
		clean_range(dst, size, at, src, n > max ? max : n, flags);
		return dst;
	}
	/*
	 * Too long: keep both ends and cut the middle.  The end of a path is
	 * the program, the end of a host name its domain; keeping only the
	 * start would let "/usr/bin/firefox-aaaa…/evil" pass for firefox.
	 */
	head = max / 2 - 1;
	while (head && ((unsigned char)src[head] & 0xc0) == 0x80)
		head--;
	tail = n - (max - max / 2 - 1);
	while (tail < n && ((unsigned char)src[tail] & 0xc0) == 0x80)
		tail++;
	at = clean_range(dst, size, at, src, head, flags);
	at = put(dst, size, at, ELLIPSIS, strlen(ELLIPSIS));
	clean_range(dst, size, at, src + tail, n - tail, flags);
	return dst;
}

/* Append literal text of our own (no cleaning: it holds no markup). */
static void lit(char *dst, size_t size, const char *s)
{
	put(dst, size, strlen(dst), s, strlen(s));
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

/* "ADDR:PORT" or "[ADDR]:PORT" -> ADDR and PORT; anything else is all ADDR. */
static void split_addr(const char *s, char *addr, size_t alen, char *port, size_t plen)
{
	const char *colon;

	addr[0] = port[0] = '\0';
	if (!s)
		return;
	if (s[0] == '[' && (colon = strstr(s, "]:"))) {
		snprintf(addr, alen, "%.*s", (int)(colon - s - 1), s + 1);
		snprintf(port, plen, "%s", colon + 2);
	} else if ((colon = strrchr(s, ':')) && !strchr(s, '[') && colon == strchr(s, ':')) {
		snprintf(addr, alen, "%.*s", (int)(colon - s), s);
		snprintf(port, plen, "%s", colon + 1);
	} else {
		snprintf(addr, alen, "%s", s);
	}
}

/* The program as a person names it: the executable's file name, else its pid. */
static void program_name(const json_t *flow, char *buf, size_t size, unsigned flags)
{
	const char *exe = str(flow, "exe"), *base;
	const json_t *pid = json_object_get(flow, "pid");

	buf[0] = '\0';
	if (exe) {
		base = strrchr(exe, '/');
		base = base && base[1] ? base + 1 : exe;
		nt_clean(buf, size, base, 40, flags);
	} else if (json_is_integer(pid)) {
		snprintf(buf, size, "Process %lld", (long long)json_integer_value(pid));
	} else {
		snprintf(buf, size, "A program");
	}
}

void nt_format(const json_t *flow, unsigned flags, bool actions, const char *web,
	       char *summary, char *body)
{
	const char *dir = str(flow, "direction"), *proto = str(flow, "proto");
	const char *host = str(flow, "host"), *user = str(flow, "user"), *cmd = str(flow, "cmdline");
	const char *exe = str(flow, "exe");
	const json_t *pid = json_object_get(flow, "pid"), *uid = json_object_get(flow, "uid");
	char raddr[128], rport[16], laddr[128], lport[16], name[NT_SUMMARY_MAX], num[64];
	bool in = dir && !strcmp(dir, "in");
	bool ports = !proto || (strcmp(proto, "icmp") && strcmp(proto, "icmpv6"));
	size_t n = NT_BODY_MAX;

	split_addr(str(flow, "remote"), raddr, sizeof(raddr), rport, sizeof(rport));
	split_addr(str(flow, "local"), laddr, sizeof(laddr), lport, sizeof(lport));

	/* Summary: one line, plain text, short. */
	program_name(flow, name, sizeof(name), NT_PLAIN_ONLY);
	summary[0] = '\0';
	put(summary, NT_SUMMARY_MAX, 0, name, strlen(name));
	lit(summary, NT_SUMMARY_MAX, in ? ": incoming connection from " : " wants to connect to ");
	nt_clean(summary, NT_SUMMARY_MAX, host && !in ? host : *raddr ? raddr : "an unknown address",
		 48, NT_PLAIN_ONLY);

	/* Body: where first, so no long path can push it out of sight. */
	body[0] = '\0';
	lit(body, n, in ? "from " : "to ");
	if (host) {
		nt_clean(body, n, host, NT_FIELD_MAX, flags);
		lit(body, n, " (");
	}
	nt_clean(body, n, *raddr ? raddr : "unknown address", NT_FIELD_MAX, flags);
	if (host)
		lit(body, n, ")");
	if (ports && *rport) {
		lit(body, n, " port ");
		nt_clean(body, n, rport, 8, flags);
	}
	if (in && ports && *lport) {
		lit(body, n, ", to port ");
		nt_clean(body, n, lport, 8, flags);
	}
	if (proto) {
		lit(body, n, ", ");
		nt_clean(body, n, proto, 12, flags);
	}
	lit(body, n, "\n");
	nt_clean(body, n, exe ? exe : "unknown program", NT_FIELD_MAX, flags);
	if (json_is_integer(pid)) {
		snprintf(num, sizeof(num), ", pid %lld", (long long)json_integer_value(pid));
		lit(body, n, num);
	}
	if (user) {
		lit(body, n, ", user ");
		nt_clean(body, n, user, 40, flags);
	} else if (json_is_integer(uid)) {
		snprintf(num, sizeof(num), ", uid %lld", (long long)json_integer_value(uid));
		lit(body, n, num);
	}
	if (cmd) {
		lit(body, n, "\n");
		nt_clean(body, n, cmd, NT_FIELD_MAX, flags);
	}
	if (!actions) {
		lit(body, n, "\nAnswer on the alegate-web page");
		if (web) {
			lit(body, n, " (");
			nt_clean(body, n, web, 200, flags);
			lit(body, n, ")");
		}
		lit(body, n, " or with alegatectl prompt.");
	}
}

void nt_format_more(unsigned count, bool at_least, unsigned flags, const char *web,
		    char *summary, char *body)
{
	size_t n = NT_BODY_MAX;

	snprintf(summary, NT_SUMMARY_MAX, "%s%u more connection%s waiting",
		 at_least ? "At least " : "", count, count == 1 && !at_least ? "" : "s");
	body[0] = '\0';
	lit(body, n, count == 1 ? "It is shown when" : "They are shown as");
	lit(body, n, " an earlier one is answered; or answer on the alegate-web page");
	if (web) {
		lit(body, n, " (");
		nt_clean(body, n, web, 200, flags);
		lit(body, n, ")");
	}
	lit(body, n, " or with alegatectl prompt.");
}
