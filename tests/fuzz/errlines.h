/*
 * errlines.h — what every error buffer of the rule library must look like,
 * whatever the input: lines that each name the input (@prefix) or count the
 * errors left out, no empty line, no control character, nothing after the
 * last line.  abort() otherwise.
 */
#ifndef ALEGATE_FUZZ_ERRLINES_H
#define ALEGATE_FUZZ_ERRLINES_H

#include <stdlib.h>
#include <string.h>

/* Every error of the input, a line each. */
static char lines[1 << 16];

static void check_lines(const char *buf, const char *prefix)
{
	static const char more[] = " more error";
	size_t plen = strlen(prefix);
	const char *s = buf;

	while (*s) {
		size_t n = strcspn(s, "\n");

		if (n == 0 || (strncmp(s, prefix, plen) != 0 &&
			       !(s[0] == '(' && s[n - 1] == ')' && memmem(s, n, more, sizeof(more) - 1))))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				abort();
		s += n;
		if (*s && !*++s)
			abort();
	}
}

#endif
