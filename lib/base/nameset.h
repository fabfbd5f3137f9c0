/*
 * nameset.h — a set of DNS names for block lists of a million names, and a
 * set of address prefixes for lists of addresses and networks.
 *
 * A name set answers "is this name, or a domain above it, in the set?":
 * with "ads.example.com" in the set, "ads.example.com" and
 * "x.ads.example.com" are in it, "example.com" is not.  It keeps every name
 * once, as a length byte and the name's bytes in one arena, and an
 * open-addressing table of 32-bit offsets into that arena (at most half
 * full): about the name's length + 9 bytes per name, no allocation per
 * name.  A lookup hashes each suffix of the name that starts at a label.
 *
 * A prefix set answers "does a stored prefix hold this address?" and
 * which is the longest: one open-addressing table keyed by (version,
 * length, masked address), and per version a bit per prefix length in
 * use, so a lookup costs one probe per length in use.
 *
 * Pure data structures: no I/O, no OS call.  Not thread-safe: one writer,
 * or readers only.
 */
#ifndef ALEGATE_BASE_NAMESET_H
#define ALEGATE_BASE_NAMESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest DNS name in text form, without the trailing dot. */
#define AG_NAMESET_NAME_MAX 253

struct ag_nameset;
struct ag_prefixset;

/* ag_nameset_new - an empty set.  Return: the set, or NULL (ENOMEM). */
struct ag_nameset *ag_nameset_new(void);

/* ag_nameset_free - free @s and its names; NULL is fine. */
void ag_nameset_free(struct ag_nameset *s);

/*
 * ag_nameset_reserve - make room for @n more names without growing the
 * table again (a loader that counted its lines first).
 * Return: 0 or -ENOMEM.
 */
int ag_nameset_reserve(struct ag_nameset *s, size_t n);

/*
 * ag_nameset_add - add the name @name (@len bytes), stored lower case and
 * without a trailing dot.  The caller checks it is a DNS name; here only
 * that it is 1..AG_NAMESET_NAME_MAX bytes.
 * Return: 1 added, 0 already there, -EINVAL (empty or too long), -ENOMEM.
 */
int ag_nameset_add(struct ag_nameset *s, const char *name, size_t len);

/*
 * ag_nameset_match - true when @host (any case, a trailing dot allowed)
 * or one of the domains above it ("b.c" and "c" for "a.b.c") is in @s.
 * NULL or empty @host: false.
 */
bool ag_nameset_match(const struct ag_nameset *s, const char *host);

/* ag_nameset_count - how many names @s holds. */
size_t ag_nameset_count(const struct ag_nameset *s);

/* ag_nameset_bytes - heap bytes @s holds (table and arena, capacity included). */
size_t ag_nameset_bytes(const struct ag_nameset *s);

/* ag_nameset_trim - give back the arena's unused capacity (after loading). */
void ag_nameset_trim(struct ag_nameset *s);

/* ag_prefixset_new - an empty set.  Return: the set, or NULL (ENOMEM). */
struct ag_prefixset *ag_prefixset_new(void);

/* ag_prefixset_free - free @s; NULL is fine. */
void ag_prefixset_free(struct ag_prefixset *s);

/*
 * ag_prefixset_add - add @addr/@plen of IP version @ver (4: the first four
 * bytes of @addr count).  Bits past @plen are cleared.
 * Return: 1 added, 0 already there, -EINVAL (@ver or @plen), -ENOMEM.
 */
int ag_prefixset_add(struct ag_prefixset *s, int ver, const uint8_t addr[16], unsigned plen);

/*
 * ag_prefixset_match - the length of the longest prefix of @s that holds
 * @addr (IP version @ver), or -1 when none does.
 */
int ag_prefixset_match(const struct ag_prefixset *s, int ver, const uint8_t addr[16]);

/* ag_prefixset_count - how many prefixes @s holds. */
size_t ag_prefixset_count(const struct ag_prefixset *s);

/* ag_prefixset_bytes - heap bytes @s holds. */
size_t ag_prefixset_bytes(const struct ag_prefixset *s);

/*
 * ag_prefixset_foreach - call @fn for every prefix (in no particular
 * order) until it returns nonzero, which is then returned; else 0.
 */
int ag_prefixset_foreach(const struct ag_prefixset *s,
			 int (*fn)(void *arg, int ver, const uint8_t addr[16], unsigned plen),
			 void *arg);

#endif
