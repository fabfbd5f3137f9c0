/*
 * lib/engine/index.c — the per-layer filter index: which filters a classify
 * needs to look at (struct ag__index in internal.h says how it files them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* A port range wider than this many 64-port buckets goes to the wildcard list. */
#define AG__RANGE_MAX_BUCKETS 64

/* ---- the index ----------------------------------------------------------------- */

/*
 * A fast unkeyed hash for index keys.  Index keys come from filters, which
 * only the administrator writes, so an attacker can only probe, never fill
 * a chain: no need for the keyed hash here.
 */
static uint64_t key_hash(const uint8_t *k, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, k, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		k += 8;
		n -= 8;
	}
	uint64_t w = 0;

	memcpy(&w, k, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 32;
	return h;
}

#define KEY_MAX (2 + 256)

/*
 * Prefixes are filed at a coarse length, not their own: a /27 goes under its
 * /16.  A classify then makes at most three lookups per IP version instead
 * of one per prefix length in use (17 for a ruleset of /16../32), and the
 * bucket is a superset that the full condition check narrows.
 */
static uint8_t index_plen(uint8_t ver, uint8_t plen)
{
	uint8_t hi = ver == 4 ? 16 : 32, lo = ver == 4 ? 8 : 16;

	return plen >= hi ? hi : plen >= lo ? lo : 0;
}

static size_t key_addr(uint8_t *k, uint8_t ver, uint8_t plen, ag_addr addr)
{
	unsigned nb = ver == 4 ? 4 : 16;

	ag__addr_mask(addr.b, plen, nb);
	k[0] = 'P';
	k[1] = ver;
	k[2] = plen;
	memcpy(k + 3, addr.b, nb);
	return 3 + nb;
}

static size_t key_str(uint8_t *k, char kind, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	k[0] = (uint8_t)kind;
	memcpy(k + 1, s, n);
	return n + 1;
}

static size_t key_u16(uint8_t *k, char kind, uint16_t v)
{
	k[0] = (uint8_t)kind;
	k[1] = (uint8_t)(v >> 8);
	k[2] = (uint8_t)v;
	return 3;
}

#define BLOOM_BIT(h) ((uint32_t)((h) >> 40) & (1024 * 64 - 1))

static struct ag__ibucket *bucket_find(const struct ag__index *ix, const uint8_t *k, size_t n,
				       uint64_t h)
{
	uint32_t bit = BLOOM_BIT(h);

	if (!ix->ntab || !(ix->bloom[bit / 64] & (1ULL << (bit % 64))))
		return NULL;
	for (struct ag__ibucket *b = ix->tab[h & (ix->ntab - 1)]; b; b = b->next)
		if (b->hash == h && b->keylen == n && memcmp(b->key, k, n) == 0)
			return b;
	return NULL;
}

static int index_grow(ag_engine *e, struct ag__index *ix)
{
	uint32_t n = ix->ntab ? ix->ntab * 2 : 256;
	struct ag__ibucket **t = ag__calloc(e, n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < ix->ntab; i++) {
		struct ag__ibucket *b = ix->tab[i], *next;

		for (; b; b = next) {
			next = b->next;
			b->next = t[b->hash & (n - 1)];
			t[b->hash & (n - 1)] = b;
		}
	}
	ag__free(e, ix->tab, ix->ntab * sizeof(*t));
	ix->tab = t;
	ix->ntab = n;
	return 0;
}

static struct ag__ibucket *bucket_new(ag_engine *e, const uint8_t *k, size_t n, uint64_t h)
{
	struct ag__ibucket *b = ag__calloc(e, 1, sizeof(*b) + n);

	if (!b)
		return NULL;
	b->hash = h;
	b->keylen = (uint16_t)n;
	memcpy(b->key, k, n);
	return b;
}

/* Insert f in evaluation order (scanning from the end: new filters usually go last). */
static int bucket_insert(ag_engine *e, struct ag__ibucket *b, struct ag_filter *f)
{
	if (b->len == b->cap) {
		uint32_t nc = b->cap ? b->cap * 2 : 4;
		void *nv = ag__realloc(e, b->v, b->cap * sizeof(*b->v), nc * sizeof(*b->v));

		if (!nv)
			return -ENOMEM;
		b->v = nv;
		b->cap = nc;
	}
	/* binary search: a wildcard bucket can hold thousands */
	uint32_t lo = 0, hi = b->len;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ag__filter_before(f, b->v[mid]))
			hi = mid;
		else
			lo = mid + 1;
	}
	memmove(&b->v[lo + 1], &b->v[lo], (b->len - lo) * sizeof(*b->v));
	b->v[lo] = f;
	b->len++;
	return 0;
}

static void bucket_remove(struct ag__ibucket *b, struct ag_filter *f)
{
	for (uint32_t i = 0; i < b->len; i++)
		if (b->v[i] == f) {
			memmove(&b->v[i], &b->v[i + 1], (b->len - i - 1) * sizeof(*b->v));
			b->len--;
			return;
		}
}

static void plen_use(struct ag__index *ix, const uint8_t *key, int delta)
{
	unsigned v = key[1] == 4 ? 0 : 1, plen = key[2];

	ix->plen_refs[v][plen] += (uint32_t)delta;
	if (ix->plen_refs[v][plen])
		ix->plen_mask[v][plen / 64] |= 1ULL << (plen % 64);
	else
		ix->plen_mask[v][plen / 64] &= ~(1ULL << (plen % 64));
}

static int index_put(ag_engine *e, struct ag__index *ix, struct ag_filter *f, const uint8_t *k,
		     size_t n)
{
	uint64_t h = key_hash(k, n);
	struct ag__ibucket *b = bucket_find(ix, k, n, h);
	int r;

	/* An OR of two values can name the same bucket twice (e.g. suffixes). */
	for (uint16_t i = 0; b && i < f->nbuckets; i++)
		if (f->buckets[i] == b)
			return 0;
	if (!b) {
		if (ix->nbuckets + 1 > ix->ntab && (r = index_grow(e, ix)))
			return r;
		b = bucket_new(e, k, n, h);
		if (!b)
			return -ENOMEM;
		ix->bloom[BLOOM_BIT(h) / 64] |= 1ULL << (BLOOM_BIT(h) % 64);
		b->next = ix->tab[h & (ix->ntab - 1)];
		ix->tab[h & (ix->ntab - 1)] = b;
		ix->nbuckets++;
		if (k[0] == 'P')
			plen_use(ix, k, +1);
	}
	void *nb = ag__realloc(e, f->buckets, f->nbuckets * sizeof(*f->buckets),
			       (f->nbuckets + 1) * sizeof(*f->buckets));
	if (!nb)
		return -ENOMEM;
	f->buckets = nb;
	if ((r = bucket_insert(e, b, f)))
		return r;
	f->buckets[f->nbuckets++] = b;
	return 0;
}

static void bucket_drop(ag_engine *e, struct ag__index *ix, struct ag__ibucket *b)
{
	struct ag__ibucket **pp = &ix->tab[b->hash & (ix->ntab - 1)];

	while (*pp != b)
		pp = &(*pp)->next;
	*pp = b->next;
	ix->nbuckets--;
	if (b->key[0] == 'P')
		plen_use(ix, b->key, -1);
	ag__free(e, b->v, b->cap * sizeof(*b->v));
	ag__free(e, b, sizeof(*b) + b->keylen);
}

/* Which field group indexes this filter (all its alternatives exact-lookup-able)? */
static int index_field(const struct ag_filter *f)
{
	static const uint8_t order[] = { AG_FIELD_APP_PATH, AG_FIELD_REMOTE_HOST,
					 AG_FIELD_REMOTE_ADDR, AG_FIELD_REMOTE_PORT };

	for (size_t o = 0; o < AG__ARRAY_SIZE(order); o++) {
		bool found = false, ok = true;

		for (uint16_t i = 0; i < f->nconds; i++) {
			const struct ag__cond *c = &f->conds[i];

			if (c->field != order[o])
				continue;
			found = true;
			if (c->field == AG_FIELD_APP_PATH && c->match != AG_MATCH_EQUAL)
				ok = false;
			if (c->match == AG_MATCH_SET)
				ok = false;	/* the caller's set: no key to file */
			if (c->field == AG_FIELD_REMOTE_PORT &&
			    (c->hi >> 6) - (c->lo >> 6) >= AG__RANGE_MAX_BUCKETS)
				ok = false;
		}
		if (found && ok)
			return order[o];
	}
	return -1;
}

int ag__index_add(ag_engine *e, struct ag__index *ix, struct ag_filter *f)
{
	int field = index_field(f);
	uint8_t k[KEY_MAX];
	int r = 0;

	if (field < 0) {
		if (!ix->wildcard && !(ix->wildcard = bucket_new(e, (const uint8_t *)"*", 1, 0)))
			return -ENOMEM;
		r = bucket_insert(e, ix->wildcard, f);
		if (r)
			return r;
		f->in_wildcard = true;
	}
	for (uint16_t i = 0; field >= 0 && i < f->nconds && !r; i++) {
		const struct ag__cond *c = &f->conds[i];

		if (c->field != field)
			continue;
		switch (field) {
		case AG_FIELD_APP_PATH:
			r = index_put(e, ix, f, k, key_str(k, 'A', c->str->s));
			break;
		case AG_FIELD_REMOTE_HOST:
			r = index_put(e, ix, f, k,
				      key_str(k, c->match == AG_MATCH_SUFFIX ? 'S' : 'H', c->str->s));
			break;
		case AG_FIELD_REMOTE_ADDR:
			r = index_put(e, ix, f, k,
				      key_addr(k, c->ip_version, index_plen(c->ip_version, c->plen),
					       c->addr));
			break;
		case AG_FIELD_REMOTE_PORT:
			if (c->lo == c->hi) {
				r = index_put(e, ix, f, k, key_u16(k, 'p', (uint16_t)c->lo));
				break;
			}
			for (uint32_t b = c->lo >> 6; b <= c->hi >> 6 && !r; b++)
				r = index_put(e, ix, f, k, key_u16(k, 'R', (uint16_t)b));
			break;
		}
	}
	if (r) {
		ag__index_del(e, ix, f);
		return r;
	}
	/* the layer's list of filters, in the order they were added (a dump
	 * sorts; keeping it sorted cost O(n) per add, O(n^2) for a ruleset) */
	f->lprev = ix->last;
	f->lnext = NULL;
	if (ix->last)
		ix->last->lnext = f;
	else
		ix->first = f;
	ix->last = f;
	ix->nfilters++;
	return 0;
}

void ag__index_del(ag_engine *e, struct ag__index *ix, struct ag_filter *f)
{
	for (uint16_t i = 0; i < f->nbuckets; i++) {
		bucket_remove(f->buckets[i], f);
		if (!f->buckets[i]->len)
			bucket_drop(e, ix, f->buckets[i]);
	}
	ag__free(e, f->buckets, f->nbuckets * sizeof(*f->buckets));
	f->buckets = NULL;
	f->nbuckets = 0;
	if (f->in_wildcard) {
		bucket_remove(ix->wildcard, f);
		f->in_wildcard = false;
	}
	if (f->lprev || f->lnext || ix->first == f) {
		if (f->lprev)
			f->lprev->lnext = f->lnext;
		else
			ix->first = f->lnext;
		if (f->lnext)
			f->lnext->lprev = f->lprev;
		else
			ix->last = f->lprev;
		f->lprev = f->lnext = NULL;
		ix->nfilters--;
	}
}

void ag__index_fini(struct ag__index *ix)
{
	for (uint32_t i = 0; i < ix->ntab; i++) {
		struct ag__ibucket *b = ix->tab[i], *next;

		for (; b; b = next) {
			next = b->next;
			free(b->v);
			free(b);
		}
	}
	free(ix->tab);
	if (ix->wildcard) {
		free(ix->wildcard->v);
		free(ix->wildcard);
	}
	memset(ix, 0, sizeof(*ix));
}

static int cand_push_bucket(ag_engine *e, const struct ag__ibucket *b)
{
	if (!b)
		return 0;
	if (e->ncand + b->len > e->capcand) {
		uint32_t nc = e->capcand ? e->capcand : 64;

		while (nc < e->ncand + b->len)
			nc *= 2;
		void *n = ag__realloc(e, e->cand, e->capcand * sizeof(*e->cand),
				      nc * sizeof(*e->cand));
		if (!n)
			return -ENOMEM;
		e->cand = n;
		e->capcand = nc;
	}
	for (uint32_t i = 0; i < b->len; i++) {
		struct ag_filter *f = b->v[i];

		if (f->seen == e->classify_gen)
			continue;
		f->seen = e->classify_gen;
		e->cand[e->ncand++] = f;
	}
	return 0;
}

static int lookup_push(ag_engine *e, const struct ag__index *ix, const uint8_t *k, size_t n)
{
	return cand_push_bucket(e, bucket_find(ix, k, n, key_hash(k, n)));
}

static int cand_cmp(const void *a, const void *b)
{
	const struct ag_filter *fa = *(struct ag_filter *const *)a;
	const struct ag_filter *fb = *(struct ag_filter *const *)b;

	return ag__filter_before(fa, fb) ? -1 : ag__filter_before(fb, fa) ? 1 : 0;
}

int ag__index_candidates(ag_engine *e, const struct ag__index *ix, const ag_fixed_values *in)
{
	uint8_t k[KEY_MAX];
	int r = 0;

	e->ncand = 0;
	e->classify_gen++;
	r |= cand_push_bucket(e, ix->wildcard);
	if (!ix->nbuckets)
		goto sort;
	if (in->app_path)
		r |= lookup_push(e, ix, k, key_str(k, 'A', in->app_path));
	if (in->remote_host && in->remote_host[0]) {
		char host[256];

		if (ag__host_normalize(in->remote_host, host, sizeof(host)) == 0) {
			r |= lookup_push(e, ix, k, key_str(k, 'H', host));
			for (const char *dot = strchr(host, '.'); dot; dot = strchr(dot + 1, '.'))
				r |= lookup_push(e, ix, k, key_str(k, 'S', dot + 1));
		}
	}
	if (in->ip_version == 4 || in->ip_version == 6) {
		unsigned v = in->ip_version == 4 ? 0 : 1;

		for (unsigned w = 0; w < 3; w++) {
			uint64_t bits = ix->plen_mask[v][w];

			while (bits) {
				unsigned plen = w * 64 + (unsigned)__builtin_ctzll(bits);

				bits &= bits - 1;
				r |= lookup_push(e, ix, k,
						 key_addr(k, in->ip_version, (uint8_t)plen,
							  in->remote_addr));
			}
		}
	}
	r |= lookup_push(e, ix, k, key_u16(k, 'p', in->remote_port));
	r |= lookup_push(e, ix, k, key_u16(k, 'R', (uint16_t)(in->remote_port >> 6)));
sort:
	/* Each bucket is sorted; the union is small.  Insertion sort for the
	 * usual handful, qsort past that. */
	if (e->ncand > 24) {
		qsort(e->cand, e->ncand, sizeof(*e->cand), cand_cmp);
	} else {
		for (uint32_t i = 1; i < e->ncand; i++) {
			struct ag_filter *f = e->cand[i];
			uint32_t j = i;

			while (j > 0 && ag__filter_before(f, e->cand[j - 1])) {
				e->cand[j] = e->cand[j - 1];
				j--;
			}
			e->cand[j] = f;
		}
	}
	return r ? -ENOMEM : 0;
}
