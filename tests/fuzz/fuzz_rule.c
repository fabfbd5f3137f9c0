/*
 * fuzz_rule.c — libFuzzer harness for ag_rule_parse() and the JSON forms.
 *
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 * - error lines name the file and hold no control byte;
 * - a rule that parses is saved as text (ag_rule_to_json + 2-space dump)
 *   that parses back to an equal rule and to the same text;
 * - the control form (AG_RULE_JSON_CONTROL) round-trips to an equal rule;
 * - the packed form gives back an equal rule with the same text.
 * The file name has no ".json", so the id need not match it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule/config.h"
#include "rule/rule.h"

#include "errlines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ag_rule_parse(), its errors checked: none exactly when it succeeds. */
static int parse(const char *text, size_t len, struct ag_rule *r)
{
	int ret = ag_rule_parse("fuzz-rule", text, len, r, lines, sizeof(lines));

	check_lines(lines, "fuzz-rule:");
	if ((ret == 0) != (lines[0] == '\0'))
		abort();
	return ret;
}

static char *text_of(const struct ag_rule *r)
{
	json_t *o = ag_rule_to_json(r, 0);
	char *s;

	if (!o)
		abort();
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!s)
		abort();
	return s;
}

/* The packed form (what the daemon keeps), in exactly its size, gives
 * back the same rule: equal, the same text @ta, the same source. */
static void packed_same(const struct ag_rule *a, const char *ta)
{
	size_t n = ag_rule_packed_size(a);
	struct ag_rule_view *v = malloc(sizeof(*v));
	void *p = n ? malloc(n) : NULL;
	const struct ag_rule *u;
	char *tu;

	if (!p || !v)
		abort();
	u = ag_rule_unpack(ag_rule_pack(a, p), v);
	tu = text_of(u);
	if (!ag_rule_equal(a, u) || strcmp(ta, tu) != 0 ||
	    strcmp(ag_rule_str(a->source), ag_rule_str(u->source)) != 0)
		abort();
	free(tu);
	free(p);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_rule *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *ta, *tb;
	json_t *o;

	if (!a || !b)
		abort();
	if (parse((const char *)data, size, a) == 0) {
		ta = text_of(a);
		if (parse(ta, strlen(ta), b) != 0)
			abort();
		if (!ag_rule_equal(a, b))
			abort();
		tb = text_of(b);
		if (strcmp(ta, tb) != 0)
			abort();
		free(tb);
		packed_same(a, ta);
		free(ta);
		ag_rule_free(b);
		o = ag_rule_to_json(a, AG_RULE_JSON_CONTROL);
		if (!o || ag_rule_from_json(o, AG_RULE_JSON_CONTROL, b, NULL, 0) != 0)
			abort();
		if (!ag_rule_equal(a, b) || b->lifetime != AG_RULE_ALWAYS)
			abort();
		json_decref(o);
		/* a deep copy is the same rule, and lives on without its source */
		ag_rule_free(b);
		if (ag_rule_copy(b, a) != 0)
			abort();
		ag_rule_free(a);
		if (parse((const char *)data, size, a) != 0 || !ag_rule_equal(a, b))
			abort();
		ag_rule_free(a);
		ag_rule_free(b);
	}
	free(a);
	free(b);
	return 0;
}
