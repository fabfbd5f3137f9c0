/*
 * internal.h — what the files of lib/rule share and nothing else may use.
 */
#ifndef ALEGATE_RULE_INTERNAL_H
#define ALEGATE_RULE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule/config.h"
#include "rule/rule.h"

/* One error line: a rule file's path, its line and the message. */
#define MSG_MAX		(AG_RULE_SOURCE_MAX + 1024)

/* The JSON words of the enums, NULL-terminated, in enum order. */
extern const char *const ag__rule_action_names[];
extern const char *const ag__rule_lifetime_names[];
extern const char *const ag__rule_direction_names[];

/* The IP protocol a rule may name ("tcp", any case), or -1. */
int ag__rule_proto_number(const char *name);
/* The name of @proto ("tcp"), or its number written into @buf. */
const char *ag__rule_proto_name(uint8_t proto, char *buf, size_t size);
/* Now on CLOCK_BOOTTIME, the clock of timed rules' deadlines; 0 on failure. */
uint64_t ag__rule_boottime_ns(void);
/* A DNS name of at most @max characters: labels of 1..63 letters, digits,
 * '-' (not at a label's ends) and '_' (SRV, DKIM), no empty label. */
bool ag__rule_dns_name(const char *s, size_t n, size_t max);

/*
 * The caller's error buffer, filled a line per error: lines are kept whole
 * while they fit; then the last line counts the ones left out ("(3 more
 * errors)").  A first error longer than the buffer is cut.
 */
struct ag__errlines {
	char *buf;		/* NULL: count only */
	size_t size, used;
	unsigned count;		/* every error added, shown or not */
	unsigned dropped;
};

/* Start with @buf (@size bytes, may be NULL with 0) holding "". */
void ag__errlines_init(struct ag__errlines *e, char *buf, size_t size);
/* Add one message (no newline in it: messages are sanitized). */
void ag__errlines_add(struct ag__errlines *e, const char *msg);

/* The state of one parse: where messages go and what they say where. */
struct pctx {
	const char *file;	/* NULL: bare messages (control protocol) */
	const char *text;	/* NULL: no line numbers */
	size_t len;
	struct ag__errlines *errs;
	unsigned nerr;
	bool nomem;		/* memory ran out storing a value */
	/* ag_rules_load_dir(): the sorted file names of the directory, to tell
	 * a copied rule (duplicate id) from a plain misnamed one */
	char *const *siblings;
	size_t nsiblings;
};

/*
 * ag__rule_errv - one error of @c: "@where: message" (just the message when
 * @where is NULL), sanitized, into @c's error lines; counted either way.
 */
void ag__rule_errv(struct pctx *c, const char *where, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* rule_check.c: reporting a bad value (see there). */
void ag__rule_perr(struct pctx *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ag__rule_wrong_type(struct pctx *c, const char *key, const char *want, const json_t *v);
void ag__rule_nomem(struct pctx *c);
/* JSON's whitespace (RFC 8259); a JSON value's type as a message names it */
bool ag__rule_is_ws(char ch);
const char *ag__rule_type_name(const json_t *v);
void ag__rule_added(struct pctx *c, const char *key, int ret);
const char *ag__rule_get_string(struct pctx *c, const char *key, const json_t *v, size_t *len);

/* rule_values.c: the setters of the condition fields, and the check that a
 * rule has a list and a single value of one field not both. */
void ag__rule_set_app(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_sha256(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_user(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_remote(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_host(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_port(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_proto(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_host_list(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_set_remote_list(struct pctx *c, const json_t *v, struct ag_rule *r);
void ag__rule_check_lists(struct pctx *c, const struct ag_rule *r);

/*
 * ag__rule_parse_text - the text of one rule file (@c->file names it) into
 * @out, every error reported through @c.  Return: 0, -EINVAL or -ENOMEM.
 */
int ag__rule_parse_text(struct pctx *c, const char *buf, size_t len, struct ag_rule *out);

#endif
