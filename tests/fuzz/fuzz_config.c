/*
 * fuzz_config.c — libFuzzer harness for ag_config_parse_buffer().
 *
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 * - every error line starts with the file name and holds no control byte
 *   (a hostile file cannot garble the terminal of `alegated -n`);
 * - an input that parses is written back by ag_config_write() into text
 *   that parses to the same configuration (write/parse is a fixpoint).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The error buffer: lines that each name the input or count the errors left
 * out, no empty line, no control character, nothing after the last line.
 */
static void check_lines(const char *buf)
{
	static const char more[] = " more error";
	const char *s = buf;

	while (*s) {
		size_t n = strcspn(s, "\n");

		if (n == 0 || (strncmp(s, "fuzz.conf:", 10) != 0 &&
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

/* Every error of the input, a line each. */
static char lines[1 << 16];

/* ag_config_parse_buffer(), its errors checked: none exactly when it succeeds. */
static int parse(const char *text, size_t len, struct ag_config *cfg)
{
	int ret = ag_config_parse_buffer("fuzz.conf", text, len, cfg, lines, sizeof(lines));

	check_lines(lines);
	if ((ret == 0) != (lines[0] == '\0'))
		abort();
	return ret;
}

static char *dump(const struct ag_config *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	if (ag_config_write(cfg, f) < 0)
		abort();
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_config *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *ta, *tb;
	size_t la, lb;

	if (!a || !b)
		abort();
	if (parse((const char *)data, size, a) == 0) {
		ta = dump(a, &la);
		if (parse(ta, la, b) != 0)
			abort();
		tb = dump(b, &lb);
		if (la != lb || memcmp(ta, tb, la) != 0)
			abort();
		free(ta);
		free(tb);
	}
	free(a);
	free(b);
	return 0;
}
