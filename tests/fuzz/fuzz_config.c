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

#include "errlines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ag_config_parse_buffer(), its errors checked: none exactly when it succeeds. */
static int parse(const char *text, size_t len, struct ag_config *cfg)
{
	int ret = ag_config_parse_buffer("fuzz.conf", text, len, cfg, lines, sizeof(lines));

	check_lines(lines, "fuzz.conf:");
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
