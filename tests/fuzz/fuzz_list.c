/*
 * fuzz_list.c — libFuzzer harness for the list file parsers (rule/list.h).
 *
 * The same bytes are read as a host list and as an address list.
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 * - every error line names the file and holds no control byte, and at most
 *   AG_LIST_ERR_LINES lines plus one count line come out;
 * - the return value counts the bad lines: at least the lines reported,
 *   never more than the input has lines;
 * - reading the same bytes again gives the same set (count and answers);
 * - every prefix an address list holds is found again by a lookup of its
 *   own address, at that length or a longer one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/nameset.h"
#include "rule/list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int nreported;

static void on_err(void *arg, const char *line)
{
	const char *file = arg;
	size_t n = strlen(file);

	if (strncmp(line, file, n) != 0 || (line[n] != ':'))
		abort();
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	nreported++;
}

static size_t lines_of(const uint8_t *data, size_t size)
{
	size_t n = 1;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

static void check_reported(int bad, size_t nlines)
{
	if (bad < 0)
		abort();	/* only -ENOMEM, not under the fuzzer's limits */
	if ((size_t)bad > nlines)
		abort();
	if (nreported > AG_LIST_ERR_LINES + 1)
		abort();
	if (bad <= AG_LIST_ERR_LINES ? nreported != bad : nreported != AG_LIST_ERR_LINES + 1)
		abort();
}

static int found_again(void *arg, int ver, const uint8_t addr[16], unsigned plen)
{
	if (ag_prefixset_match(arg, ver, addr) < (int)plen)
		abort();
	return 0;
}

/* A few names built from the input's first line, asked of both sets. */
static void same_answers(const struct ag_nameset *a, const struct ag_nameset *b,
			 const uint8_t *data, size_t size)
{
	char name[300];
	size_t n = 0;

	for (size_t i = 0; i < size && n < sizeof(name) - 1; i++) {
		if (data[i] == '\n')
			break;
		name[n++] = data[i] ? (char)data[i] : '.';
	}
	name[n] = 0;
	for (char *p = name; p; p = strpbrk(p, ". \t")) {
		if (*p == '.' || *p == ' ' || *p == '\t')
			p++;
		if (ag_nameset_match(a, p) != ag_nameset_match(b, p))
			abort();
		if (!*p)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t nlines = lines_of(data, size);
	struct ag_nameset *h1 = ag_nameset_new(), *h2 = ag_nameset_new();
	struct ag_prefixset *a1 = ag_prefixset_new(), *a2 = ag_prefixset_new();
	int bad;

	if (!h1 || !h2 || !a1 || !a2)
		abort();
	nreported = 0;
	bad = ag_list_parse_hosts("h.txt", text, size, h1, on_err, (void *)"h.txt");
	check_reported(bad, nlines);
	nreported = 0;
	if (ag_list_parse_hosts("h.txt", text, size, h2, NULL, NULL) != bad)
		abort();
	if (ag_nameset_count(h1) != ag_nameset_count(h2))
		abort();
	same_answers(h1, h2, data, size);

	nreported = 0;
	bad = ag_list_parse_addrs("a.txt", text, size, a1, on_err, (void *)"a.txt");
	check_reported(bad, nlines);
	if (ag_list_parse_addrs("a.txt", text, size, a2, NULL, NULL) != bad ||
	    ag_prefixset_count(a1) != ag_prefixset_count(a2))
		abort();
	ag_prefixset_foreach(a1, found_again, a1);

	ag_nameset_free(h1);
	ag_nameset_free(h2);
	ag_prefixset_free(a1);
	ag_prefixset_free(a2);
	return 0;
}
