/*
 * rfc3339.h — RFC 3339 times in UTC, as a rule's "created" field holds them.
 */
#ifndef ALEGATE_RULE_RFC3339_H
#define ALEGATE_RULE_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * ag_rfc3339_parse - YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00|-00:00), years
 * 1970..9999, from @s (@n bytes, need not be NUL-terminated).  Fractions
 * are dropped (the field is informative); a leap second counts as :59.
 * Return: true with *@out in Unix seconds, or false (*@out untouched).
 */
bool ag_rfc3339_parse(const char *s, size_t n, int64_t *out);

/*
 * ag_rfc3339_format - @t (Unix seconds) as "YYYY-MM-DDTHH:MM:SSZ" into
 * @buf (21 bytes hold it), cut to @size like snprintf.
 */
void ag_rfc3339_format(int64_t t, char *buf, size_t size);

#endif
