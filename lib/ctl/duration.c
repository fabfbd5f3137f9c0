/*
 * duration.c — durations as people type them ("1h30m") and read them ("2m 5s").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

/* Largest first: both the parser's required order and the formatter's. */
static const struct {
	const char *name;
	uint64_t ms;
} units[] = {
	{ "d", 86400000 },
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

static int fail(char *err, size_t errlen, int ret, const char *text, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, int ret, const char *text, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return ret;
	n = snprintf(err, errlen, "bad duration \"%s\": ", text);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int ag_duration_parse(const char *text, uint64_t *ms, char *err, size_t errlen)
{
	const char *p = text;
	uint64_t total = 0, v;
	size_t last = 0, u, ulen;	/* units[last - 1] was the previous unit */
	char bad[8];

	if (!text || !*text)
		return fail(err, errlen, -EINVAL, text ? text : "", "it is empty");
	if (*p == '-')
		return fail(err, errlen, -EINVAL, text, "it is negative");
	while (*p) {
		if (*p < '0' || *p > '9')
			return fail(err, errlen, -EINVAL, text,
				    "expected a number at \"%s\" (e.g. 30s, 5m, 1h30m)", p);
		v = 0;
		while (*p >= '0' && *p <= '9') {
			unsigned d = (unsigned)(*p++ - '0');

			if (v > (AG_DURATION_MAX_MS - d) / 10)
				return fail(err, errlen, -ERANGE, text, "it is too long");
			v = v * 10 + d;
		}
		ulen = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
		if (ulen == 0 && !*p)
			return fail(err, errlen, -EINVAL, text,
				    "the number needs a unit (ms, s, m, h or d)");
		if (ulen == 0)
			return fail(err, errlen, -EINVAL, text,
				    "unexpected \"%s\" (use a unit: ms, s, m, h or d)", p);
		for (u = 0; u < NUNITS; u++)
			if (strlen(units[u].name) == ulen && strncmp(p, units[u].name, ulen) == 0)
				break;
		if (u == NUNITS) {
			snprintf(bad, sizeof(bad), "%.*s%s", ulen > 4 ? 4 : (int)ulen, p,
				 ulen > 4 ? "..." : "");
			return fail(err, errlen, -EINVAL, text,
				    "unknown unit \"%s\" (use ms, s, m, h or d)", bad);
		}
		if (u + 1 <= last)
			return fail(err, errlen, -EINVAL, text,
				    "unit \"%s\" %s (write units from largest to smallest, once each)",
				    units[u].name, u + 1 == last ? "repeated" : "after a smaller one");
		last = u + 1;
		p += ulen;
		if (v > (AG_DURATION_MAX_MS - total) / units[u].ms)
			return fail(err, errlen, -ERANGE, text, "it is too long");
		total += v * units[u].ms;
	}
	if (total == 0)
		return fail(err, errlen, -EINVAL, text, "it is zero");
	*ms = total;
	return 0;
}

char *ag_duration_format(uint64_t ms, char *buf, size_t len)
{
	size_t u;
	uint64_t big, small;

	if (!len)
		return buf;
	if (ms < 1000) {
		snprintf(buf, len, "%" PRIu64 "ms", ms);
		return buf;
	}
	/* Seconds and up: the largest unit that is not zero, then the next. */
	for (u = 0; u < NUNITS - 2 && ms < units[u].ms; u++)
		;
	big = ms / units[u].ms;
	small = (ms % units[u].ms) / units[u + 1].ms;
	if (small && u + 1 < NUNITS - 1)
		snprintf(buf, len, "%" PRIu64 "%s %" PRIu64 "%s", big, units[u].name,
			 small, units[u + 1].name);
	else
		snprintf(buf, len, "%" PRIu64 "%s", big, units[u].name);
	return buf;
}
