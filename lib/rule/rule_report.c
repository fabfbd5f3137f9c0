/*
 * rule_report.c — how the rule checks report what is wrong: the file and
 * line of the key, the bad value quoted and cut, one line per error, and
 * the small readers (a string, a type's name) every check shares.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule/internal.h"

#define QUOTE_BUF	300	/* see ag_config_quote(): 64 shown bytes, escaped */

/* ---- error reporting with line numbers --------------------------------- */

/* JSON's whitespace (RFC 8259), nothing more. */
bool ag__rule_is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * Line of the top-level key @key in the JSON text, or 0.  jansson keeps no
 * positions, so this walks the (already valid) text: a string at object
 * depth 1 followed by ':' is a key.  Keys written with \u escapes are not
 * recognised; the caller falls back to the object's first line.
 */
static unsigned key_line(const char *t, size_t n, const char *key)
{
	size_t klen = key ? strlen(key) : 0;
	unsigned line = 1;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		size_t s, e, j;

		switch (t[i]) {
		case '\n':
			line++;
			break;
		case '{':
		case '[':
			if (!key && depth == 0)
				return line;
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		case '"':
			s = ++i;
			while (i < n && t[i] != '"')
				i += t[i] == '\\' ? 2 : 1;
			e = i < n ? i : n;
			i = e;
			if (!key || depth != 1 || e - s != klen || memcmp(t + s, key, klen) != 0)
				break;
			for (j = e + 1; j < n && ag__rule_is_ws(t[j]); j++)
				;
			if (j < n && t[j] == ':')
				return line;
			break;
		}
	}
	return 0;
}

void ag__rule_errv(struct pctx *c, const char *where, const char *fmt, va_list ap)
{
	char msg[MSG_MAX];
	size_t o = 0;

	c->nerr++;
	if (!c->errs || !c->errs->buf)
		return;
	if (where) {
		snprintf(msg, sizeof(msg), "%s: ", where);
		o = strlen(msg);
	}
	vsnprintf(msg + o, sizeof(msg) - o, fmt, ap);
	ag__sanitize(msg);
	ag__errlines_add(c->errs, msg);
}

/* Report an error about @key (NULL: about the whole rule). */
__attribute__((format(printf, 3, 4)))
void ag__rule_perr(struct pctx *c, const char *key, const char *fmt, ...)
{
	char where[AG_RULE_SOURCE_MAX + 16];
	va_list ap;

	if (c->file && c->text) {
		unsigned line = key ? key_line(c->text, c->len, key) : 0;

		if (!line)
			line = key_line(c->text, c->len, NULL);
		snprintf(where, sizeof(where), "%s:%u", c->file, line ? line : 1);
	} else if (c->file) {
		snprintf(where, sizeof(where), "%s", c->file);
	}
	va_start(ap, fmt);
	ag__rule_errv(c, c->file ? where : NULL, fmt, ap);
	va_end(ap);
}

const char *ag__rule_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* The bad value as the person wrote it, quoted and cut for a message. */
static const char *show(char *buf, size_t size, const json_t *v)
{
	char *s;

	if (json_is_string(v))
		return ag_config_quote(buf, size, json_string_value(v), json_string_length(v));
	if (json_is_object(v) || json_is_array(v))
		return ag__rule_type_name(v);
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s)
		return "?";
	snprintf(buf, size, "%s", s);
	free(s);
	return buf;
}

void ag__rule_wrong_type(struct pctx *c, const char *key, const char *want, const json_t *v)
{
	char q[QUOTE_BUF];

	if (json_is_object(v) || json_is_array(v) || json_is_null(v))
		ag__rule_perr(c, key, "%s: expected %s, got %s", key, want, ag__rule_type_name(v));
	else
		ag__rule_perr(c, key, "%s: expected %s, got %s %s", key, want, ag__rule_type_name(v),
		     show(q, sizeof(q), v));
}

/* Memory ran out while storing a value: the parse fails with -ENOMEM. */
void ag__rule_nomem(struct pctx *c)
{
	if (!c->nomem)
		ag__rule_perr(c, NULL, "out of memory");
	c->nomem = true;
}

/* Store a checked value: ag_rule_add_*()'s result. */
void ag__rule_added(struct pctx *c, const char *key, int ret)
{
	if (ret == -E2BIG)
		ag__rule_perr(c, key, "%s: more than %d values", key, AG_RULE_VALUES_MAX);
	else if (ret)
		ag__rule_nomem(c);
}

/* A string value without NUL bytes, or NULL after reporting. */
const char *ag__rule_get_string(struct pctx *c, const char *key, const json_t *v, size_t *len)
{
	const char *s;

	if (!json_is_string(v)) {
		ag__rule_wrong_type(c, key, "a string", v);
		return NULL;
	}
	s = json_string_value(v);
	*len = json_string_length(v);
	if (strlen(s) != *len) {
		ag__rule_perr(c, key, "%s: the string contains a NUL byte", key);
		return NULL;
	}
	return s;
}
