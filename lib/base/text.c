/*
 * text.c — control characters out of text that reaches a terminal.
 */
#include <stddef.h>

#include "base/text.h"

char *ag_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	if (!s)
		return NULL;
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = p[1] = '?';
			p++;
		}
	}
	return s;
}
