/*
 * err.h — the two shapes an error message takes on its way to a person:
 * written into a buffer the caller owns, or returned as a malloc'ed string.
 */
#ifndef ALEGATE_BASE_ERR_H
#define ALEGATE_BASE_ERR_H

#include <stddef.h>

/*
 * ag_seterr — format a message into err[0..len).  Does nothing when err is
 * NULL or len is 0, so a caller that does not want the message passes
 * (NULL, 0).  The message is cut, never overflowed.
 */
void ag_seterr(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * ag_msgf — a malloc'ed, formatted message; the caller frees it.  NULL
 * only when memory ran out.
 */
char *ag_msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
