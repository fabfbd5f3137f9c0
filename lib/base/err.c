/*
 * err.c — error messages into a caller's buffer or a malloc'ed string.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"

void ag_seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

char *ag_msgf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
