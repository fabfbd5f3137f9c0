/*
 * errlines.h — the error buffer of the rule library (a line per error), as
 * a list the tests can index: struct errs, and take() to fill it.
 */
#ifndef ALEGATE_TESTS_ERRLINES_H
#define ALEGATE_TESTS_ERRLINES_H

#include <stdio.h>
#include <string.h>

#define MAXERR 64

struct errs {
	unsigned n;			/* every error, kept or not */
	char msg[MAXERR][1024];
};

/* Room for every error any test makes. */
static char lines[1 << 16];

/* Add the lines of the caller's buffer @buf to @e, one error each. */
static void take(struct errs *e, const char *buf)
{
	for (const char *s = buf; *s;) {
		size_t n = strcspn(s, "\n");

		if (e->n < MAXERR)
			snprintf(e->msg[e->n], sizeof(e->msg[0]), "%.*s", (int)n, s);
		e->n++;
		s += n;
		if (*s)
			s++;
	}
}

#endif
