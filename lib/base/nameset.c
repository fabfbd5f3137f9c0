/*
 * nameset.c — the name set and the prefix set of nameset.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/nameset.h"

/* A fixed key: the names come from the administrator's list, and a lookup
 * of a name an attacker picks costs at most one probe run per label. */
static const uint64_t set_key[2] = { 0x6c69737473657431ull, 0x616c656761746521ull };

static uint64_t hash_bytes(const void *p, size_t n)
{
	return ag_siphash13(set_key, p, n);
}

/* ---- names ------------------------------------------------------------------------ */

struct ag_nameset {
	char *arena;		/* [len][bytes]... */
	size_t alen, acap;
	uint32_t *slot;		/* arena offset + 1; 0 = empty */
	size_t cap;		/* power of two, or 0 */
	size_t n;
};

struct ag_nameset *ag_nameset_new(void)
{
	return calloc(1, sizeof(struct ag_nameset));
}

void ag_nameset_free(struct ag_nameset *s)
{
	if (!s)
		return;
	free(s->arena);
	free(s->slot);
	free(s);
}

static size_t find_slot(const struct ag_nameset *s, const char *name, size_t len, uint64_t h,
			bool *found)
{
	size_t mask = s->cap - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t o = s->slot[i];

		if (!o) {
			*found = false;
			return i;
		}
		const unsigned char *e = (const unsigned char *)s->arena + o - 1;

		if (e[0] == len && memcmp(e + 1, name, len) == 0) {
			*found = true;
			return i;
		}
	}
}

static int table_resize(struct ag_nameset *s, size_t cap)
{
	uint32_t *old = s->slot;
	size_t oldcap = s->cap;
	uint32_t *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	s->slot = t;
	s->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		uint32_t o = old[i];
		bool found;

		if (!o)
			continue;
		const unsigned char *e = (const unsigned char *)s->arena + o - 1;

		t[find_slot(s, (const char *)e + 1, e[0], hash_bytes(e + 1, e[0]), &found)] = o;
	}
	free(old);
	return 0;
}

int ag_nameset_reserve(struct ag_nameset *s, size_t n)
{
	size_t want = s->n + n, cap = s->cap ? s->cap : 16;

	while (cap < 2 * want)
		cap *= 2;
	return cap == s->cap ? 0 : table_resize(s, cap);
}

int ag_nameset_add(struct ag_nameset *s, const char *name, size_t len)
{
	char low[AG_NAMESET_NAME_MAX + 1];
	uint64_t h;
	size_t i;
	bool found;

	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len > AG_NAMESET_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	if (2 * (s->n + 1) > s->cap && ag_nameset_reserve(s, s->n + 1 > 8 ? s->n : 8))
		return -ENOMEM;
	h = hash_bytes(low, len);
	i = find_slot(s, low, len, h, &found);
	if (found)
		return 0;
	if (s->alen + len + 1 > s->acap) {
		size_t cap = s->acap ? s->acap + s->acap / 2 : 4096;
		char *a;

		while (cap < s->alen + len + 1)
			cap *= 2;
		if (cap >= UINT32_MAX)
			return -ENOMEM;
		a = realloc(s->arena, cap);
		if (!a)
			return -ENOMEM;
		s->arena = a;
		s->acap = cap;
	}
	s->arena[s->alen] = (char)len;
	memcpy(s->arena + s->alen + 1, low, len);
	s->slot[i] = (uint32_t)s->alen + 1;
	s->alen += len + 1;
	s->n++;
	return 1;
}

static bool lookup(const struct ag_nameset *s, const char *name, size_t len)
{
	bool found;

	find_slot(s, name, len, hash_bytes(name, len), &found);
	return found;
}

bool ag_nameset_match(const struct ag_nameset *s, const char *host)
{
	char low[AG_NAMESET_NAME_MAX + 1];
	size_t len;

	if (!s || !s->n || !host)
		return false;
	len = strlen(host);
	if (len && host[len - 1] == '.')
		len--;
	if (len == 0 || len > AG_NAMESET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
	/* the name, then each domain above it: "a.b.c", "b.c", "c" */
	for (size_t at = 0; at < len;) {
		const char *dot;

		if (lookup(s, low + at, len - at))
			return true;
		dot = memchr(low + at, '.', len - at);
		if (!dot)
			break;
		at = (size_t)(dot - low) + 1;
	}
	return false;
}

size_t ag_nameset_count(const struct ag_nameset *s)
{
	return s ? s->n : 0;
}

size_t ag_nameset_bytes(const struct ag_nameset *s)
{
	return s ? sizeof(*s) + s->acap + s->cap * sizeof(*s->slot) : 0;
}

void ag_nameset_trim(struct ag_nameset *s)
{
	char *a;

	if (!s->alen || s->alen == s->acap)
		return;
	a = realloc(s->arena, s->alen);
	if (a) {
		s->arena = a;
		s->acap = s->alen;
	}
}

/* ---- prefixes --------------------------------------------------------------------- */

struct pfx {
	uint8_t ver;		/* 0 = empty slot */
	uint8_t plen;
	uint8_t addr[16];
};

struct ag_prefixset {
	struct pfx *slot;
	size_t cap, n;
	uint64_t lens[2][3];	/* [v4, v6]: bit plen set = some prefix has it */
};

struct ag_prefixset *ag_prefixset_new(void)
{
	return calloc(1, sizeof(struct ag_prefixset));
}

void ag_prefixset_free(struct ag_prefixset *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s);
}

static void mask_addr(uint8_t *a, unsigned plen)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = i * 8;

		if (bits >= plen)
			a[i] = 0;
		else if (plen - bits < 8)
			a[i] &= (uint8_t)(0xff << (8 - (plen - bits)));
	}
}

static size_t pfx_find(const struct ag_prefixset *s, const struct pfx *k, bool *found)
{
	size_t mask = s->cap - 1, i = (size_t)hash_bytes(k, sizeof(*k)) & mask;

	for (;; i = (i + 1) & mask) {
		if (!s->slot[i].ver) {
			*found = false;
			return i;
		}
		if (memcmp(&s->slot[i], k, sizeof(*k)) == 0) {
			*found = true;
			return i;
		}
	}
}

static int pfx_resize(struct ag_prefixset *s, size_t cap)
{
	struct pfx *old = s->slot;
	size_t oldcap = s->cap;
	struct pfx *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	s->slot = t;
	s->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		bool found;

		if (old[i].ver)
			t[pfx_find(s, &old[i], &found)] = old[i];
	}
	free(old);
	return 0;
}

int ag_prefixset_add(struct ag_prefixset *s, int ver, const uint8_t addr[16], unsigned plen)
{
	struct pfx k;
	size_t i;
	bool found;

	if ((ver != 4 && ver != 6) || plen > (ver == 4 ? 32u : 128u))
		return -EINVAL;
	if (2 * (s->n + 1) > s->cap && pfx_resize(s, s->cap ? s->cap * 2 : 16))
		return -ENOMEM;
	memset(&k, 0, sizeof(k));
	k.ver = (uint8_t)ver;
	k.plen = (uint8_t)plen;
	memcpy(k.addr, addr, ver == 4 ? 4 : 16);
	mask_addr(k.addr, plen);
	i = pfx_find(s, &k, &found);
	if (found)
		return 0;
	s->slot[i] = k;
	s->n++;
	s->lens[ver == 6][plen / 64] |= 1ull << (plen % 64);
	return 1;
}

int ag_prefixset_match(const struct ag_prefixset *s, int ver, const uint8_t addr[16])
{
	const uint64_t *lens;
	struct pfx k;

	if (!s || !s->n || (ver != 4 && ver != 6))
		return -1;
	lens = s->lens[ver == 6];
	for (int plen = ver == 4 ? 32 : 128; plen >= 0; plen--) {
		bool found;

		if (!(lens[plen / 64] & (1ull << (plen % 64))))
			continue;
		memset(&k, 0, sizeof(k));
		k.ver = (uint8_t)ver;
		k.plen = (uint8_t)plen;
		memcpy(k.addr, addr, ver == 4 ? 4 : 16);
		mask_addr(k.addr, (unsigned)plen);
		pfx_find(s, &k, &found);
		if (found)
			return plen;
	}
	return -1;
}

size_t ag_prefixset_count(const struct ag_prefixset *s)
{
	return s ? s->n : 0;
}

size_t ag_prefixset_bytes(const struct ag_prefixset *s)
{
	return s ? sizeof(*s) + s->cap * sizeof(*s->slot) : 0;
}

int ag_prefixset_foreach(const struct ag_prefixset *s,
			 int (*fn)(void *arg, int ver, const uint8_t addr[16], unsigned plen),
			 void *arg)
{
	for (size_t i = 0; s && i < s->cap; i++) {
		int r;

		if (s->slot[i].ver && (r = fn(arg, s->slot[i].ver, s->slot[i].addr, s->slot[i].plen)))
			return r;
	}
	return 0;
}
