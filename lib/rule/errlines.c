/*
 * errlines.c — every error of a parse, one per line, in the caller's buffer.
 */
#include <stdio.h>
#include <string.h>

#include "rule/internal.h"

/* Room kept for the last line, "(4294967295 more errors)". */
#define NOTE_MAX	32

void ag__errlines_init(struct ag__errlines *e, char *buf, size_t size)
{
	*e = (struct ag__errlines){ .buf = size ? buf : NULL, .size = buf ? size : 0 };
	if (e->buf)
		e->buf[0] = '\0';
}

void ag__errlines_add(struct ag__errlines *e, const char *msg)
{
	size_t len = strlen(msg), sep = e->used ? 1 : 0;

	e->count++;
	if (!e->buf)
		return;
	if (!e->dropped && e->used + sep + len + NOTE_MAX < e->size) {
		if (sep)
			e->buf[e->used++] = '\n';
		memcpy(e->buf + e->used, msg, len + 1);
		e->used += len;
		return;
	}
	if (!e->dropped && e->used == 0) {
		/* The first error alone is too long: cut it rather than show none. */
		snprintf(e->buf, e->size, "%s", msg);
		e->used = strlen(e->buf);
		return;
	}
	e->dropped++;
	if (e->used + NOTE_MAX < e->size)
		snprintf(e->buf + e->used, e->size - e->used, "%s(%u more error%s)",
			 e->used ? "\n" : "", e->dropped, e->dropped == 1 ? "" : "s");
}

char *ag_rule_err_join(char *dst, size_t size, const char *lines)
{
	size_t o = 0;

	if (!size)
		return dst;
	for (const char *s = lines; *s && o + 1 < size; s++) {
		if (*s == '\n') {
			if (o + 2 >= size)
				break;
			dst[o++] = ';';
			dst[o++] = ' ';
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
	return dst;
}
