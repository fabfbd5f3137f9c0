/*
 * opensnitch.h — OpenSnitch rule files as alegate rules (docs/OPENSNITCH.md).
 *
 * A rule is converted only when alegate can decide exactly the connections
 * OpenSnitch would: one it cannot express (a regular expression, a list,
 * a command line, two values for one field) is refused with the reason,
 * never converted loosely.
 */
#ifndef ALEGATE_CLI_OPENSNITCH_H
#define ALEGATE_CLI_OPENSNITCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Weight of the rules that end OpenSnitch's search (deny, reject,
 * precedence): the first in name order gets the most. */
#define OS_WEIGHT_TOP	1000
#define OS_ENDING_MAX	1000	/* such rules one import can order */

/*
 * os_rule_convert - one OpenSnitch rule file's text as an alegate rule
 * object of the control protocol (no id, weight 0).
 * @buf, @len: the file's text.
 * @out: set to a new reference on success (caller decrefs), else NULL.
 * @ends: set to whether a match of this rule ends OpenSnitch's search
 *	(deny, reject, or precedence), which decides its weight.
 * @why, @whylen: on failure, the reason for a person, quoting the value.
 * Return: 0, or -1 (not converted; @why says why).
 */
int os_rule_convert(const char *buf, size_t len, json_t **out, bool *ends,
		    char *why, size_t whylen);

/*
 * os_weigh - give the rules of @rules (an array of objects as
 * os_rule_convert() made them, in OpenSnitch's name order) their weights:
 * the @ends[i] rules OS_WEIGHT_TOP, OS_WEIGHT_TOP - 1, ... in order, the
 * others 0.  OpenSnitch's first matching deny, reject or precedence rule
 * decides, else a matching allow: alegate's higher weight first does the
 * same.  At most OS_ENDING_MAX @ends rules.
 */
void os_weigh(json_t *rules, const bool *ends);

#endif
