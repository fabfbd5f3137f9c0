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

static void check_msg(void *arg, const char *msg)
{
	(void)arg;
	if (strncmp(msg, "fuzz.conf:", 10) != 0)
		abort();
	for (const char *s = msg; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
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
	if (ag_config_parse_buffer("fuzz.conf", (const char *)data, size, a, check_msg, NULL) == 0) {
		ta = dump(a, &la);
		if (ag_config_parse_buffer("fuzz.conf", ta, la, b, check_msg, NULL) != 0)
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
