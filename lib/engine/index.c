/*
 * lib/engine/index.c — the per-layer filter index: which filters a classify
 * needs to look at (struct ag__index in internal.h says how it files them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* ---- keys ---------------------------------------------------------------------- */

/*
 * A key is one or two parts, each a kind byte, a length byte and the bytes:
 *   'A' application path, 'H' host, 'S' host suffix,
 *   'P' IP version, prefix length, masked address,
 *   'p' port, 'R' port / 64 (a range filed under each 64-port bucket it spans),
 *   'Q' port / 1024 (the same, coarser, for a range paired with another field:
 *   the other field narrows already, and a bucket per filter is memory).
 * A two-part key has its parts in field order (application, host, address,
 * port).  Its hash is made of its parts' hashes, so a classify hashes each
 * of the flow's values once and combines them for every key shape in use.
 */
struct kpart {
	uint8_t kind;
	uint8_t len;
	const uint8_t *p;
	uint64_t h;
	uint8_t buf[18]; /* the bytes of 'P', 'p', 'R', 'Q' parts */
};

/* Strings longer than this are filed by their first bytes (a superset the
 * condition check narrows). */
#define PART_STR_MAX 250

/*
 * A fast unkeyed hash for index keys.  Index keys come from filters, which
 * only the administrator writes, so an attacker can only probe, never fill
 * a chain: no need for the keyed hash here.
 */
static uint64_t part_hash(uint8_t kind, const uint8_t *k, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((n << 8 | kind) * 0xff51afd7ed558ccdULL);

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

static uint64_t pair_hash(const struct kpart *a, const struct kpart *b)
{
	uint64_t h;

	if (!b)
		return a->h;
	h = a->h ^ (b->h * 0xff51afd7ed558ccdULL + 0x2545f4914f6cdd1dULL);
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return h;
}

static void part_set(struct kpart *k, uint8_t kind, const void *p, size_t n)
{
	if (n > PART_STR_MAX)
		n = PART_STR_MAX;
	k->kind = kind;
	k->len = (uint8_t)n;
	k->p = p;
	k->h = part_hash(kind, k->p, n);
}

static void part_str(struct kpart *k, uint8_t kind, const char *s)
{
	part_set(k, kind, s, strlen(s));
}

static void part_u16(struct kpart *k, uint8_t kind, uint16_t v)
{
	k->buf[0] = (uint8_t)(v >> 8);
	k->buf[1] = (uint8_t)v;
	part_set(k, kind, k->buf, 2);
}

static void part_addr(struct kpart *k, uint8_t ver, uint8_t plen, const uint8_t *addr)
{
	unsigned nb = ver == 4 ? 4 : 16;
	uint8_t tmp[16];

	memcpy(tmp, addr, sizeof(tmp));
	ag__addr_mask(tmp, plen, nb);
	k->buf[0] = ver;
	k->buf[1] = plen;
	memcpy(k->buf + 2, tmp, nb);
	part_set(k, 'P', k->buf, 2 + nb);
}

static unsigned kind_field(uint8_t kind)
{
	switch (kind) {
	case 'A':
		return AG__IX_APP;
	case 'H':
	case 'S':
		return AG__IX_HOST;
	case 'P':
		return AG__IX_ADDR;
	default:
		return AG__IX_PORT;
	}
}

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

/* ---- the table --------------------------------------------------------------------- */

static uint32_t bloom_bit(const struct ag__index *ix, uint64_t h)
{
	return (uint32_t)(h >> 32) & (ix->bloom_words * 64 - 1);
}

static void bloom_set(struct ag__index *ix, uint64_t h)
{
	uint32_t bit = bloom_bit(ix, h);

	ix->bloom[bit / 64] |= 1ULL << (bit % 64);
}

/*
 * A bucket is known by its key's hash, its shape and the prefix length
 * its address part was filed at, not by the key's bytes: two keys of one
 * hash share a bucket and each one's flows read the other's filters too,
 * which the condition check then passes over (a superset, never a miss).
 */
struct key_id {
	uint64_t hash;
	uint8_t fields, pver, pplen;
};

static struct key_id key_id_of(const struct kpart *a, const struct kpart *b)
{
	struct key_id id = { .hash = pair_hash(a, b) };

	for (const struct kpart *x = a; x; x = x == a ? b : NULL) {
		id.fields |= (uint8_t)kind_field(x->kind);
		if (x->kind == 'P') {
			id.pver = x->p[0];
			id.pplen = x->p[1];
		}
	}
	return id;
}

static struct ag__ibucket *bucket_find(const struct ag__index *ix, const struct key_id *id)
{
	uint32_t bit;

	if (!ix->ntab)
		return NULL;
	bit = bloom_bit(ix, id->hash);
	if (!(ix->bloom[bit / 64] & (1ULL << (bit % 64))))
		return NULL;
	for (struct ag__ibucket *bk = ix->tab[id->hash & (ix->ntab - 1)]; bk; bk = bk->next)
		if (bk->hash == id->hash && bk->fields == id->fields && bk->pver == id->pver &&
		    bk->pplen == id->pplen)
			return bk;
	return NULL;
}

static int index_grow(ag_engine *e, struct ag__index *ix)
{
	uint32_t n = ix->ntab ? ix->ntab * 2 : 256, words = n / 4;
	struct ag__ibucket **t = ag__calloc(e, n, sizeof(*t));
	uint64_t *bloom = ag__calloc(e, words, sizeof(*bloom));

	if (!t || !bloom) {
		ag__free(e, t, n * sizeof(*t));
		ag__free(e, bloom, words * sizeof(*bloom));
		return -ENOMEM;
	}
	ag__free(e, ix->bloom, ix->bloom_words * sizeof(*bloom));
	ix->bloom = bloom;
	ix->bloom_words = words;
	for (uint32_t i = 0; i < ix->ntab; i++) {
		struct ag__ibucket *b = ix->tab[i], *next;

		for (; b; b = next) {
			next = b->next;
			b->next = t[b->hash & (n - 1)];
			t[b->hash & (n - 1)] = b;
			bloom_set(ix, b->hash);
		}
	}
	ag__free(e, ix->tab, ix->ntab * sizeof(*t));
	ix->tab = t;
	ix->ntab = n;
	return 0;
}

static struct ag__ibucket *bucket_new(ag_engine *e, const struct key_id *id)
{
	struct ag__ibucket *b = ag__calloc(e, 1, sizeof(*b));

	if (!b)
		return NULL;
	if (id) {
		b->hash = id->hash;
		b->fields = id->fields;
		b->pver = id->pver;
		b->pplen = id->pplen;
	}
	return b;
}

static void bucket_free(ag_engine *e, struct ag__ibucket *b)
{
	if (b->cap_log2)
		ag__free(e, b->many, ((size_t)1 << b->cap_log2) * sizeof(*b->many));
	ag__free(e, b, sizeof(*b));
}

static bool ient_before(const struct ag__ient *a, const struct ag__ient *b)
{
	return a->ord != b->ord ? a->ord < b->ord : a->id < b->id;
}

/* Insert f in evaluation order (binary search: a wildcard bucket can hold thousands). */
static int bucket_insert(ag_engine *e, struct ag__ibucket *b, struct ag_filter *f)
{
	struct ag__ient x = { .ord = ag__filter_ord(f), .id = f->id, .f = f,
			      .sublayer = f->sublayer, .layers = (uint8_t)ag__filter_layers(f) };
	size_t cap = (size_t)1 << b->cap_log2;
	struct ag__ient *v;

	if (b->len == cap) {
		struct ag__ient *nv;

		if (b->cap_log2 >= 31)
			return -ENOMEM;
		if (!b->cap_log2) {
			nv = ag__alloc(e, 2 * sizeof(*nv));
			if (nv)
				nv[0] = b->one;
		} else {
			nv = ag__realloc(e, b->many, cap * sizeof(*nv), 2 * cap * sizeof(*nv));
		}
		if (!nv)
			return -ENOMEM;
		b->many = nv;
		b->cap_log2++;
	}
	v = ag__bucket_v(b);
	uint32_t lo = 0, hi = b->len;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ient_before(&x, &v[mid]))
			hi = mid;
		else
			lo = mid + 1;
	}
	memmove(&v[lo + 1], &v[lo], (b->len - lo) * sizeof(*v));
	v[lo] = x;
	b->len++;
	return 0;
}

static void bucket_remove(struct ag__ibucket *b, struct ag_filter *f)
{
	struct ag__ient *v = ag__bucket_v(b);

	for (uint32_t i = 0; i < b->len; i++)
		if (v[i].f == f) {
			memmove(&v[i], &v[i + 1], (b->len - i - 1) * sizeof(*v));
			b->len--;
			return;
		}
}

/* Count a bucket's key shape and prefix length in (delta +1) or out (-1). */
static void key_use(struct ag__index *ix, struct ag__ibucket *b, int delta)
{
	ix->shape_refs[b->fields] += (uint32_t)delta;
	if (!b->pver)
		return;
	unsigned v = b->pver == 4 ? 0 : 1, plen = b->pplen;

	ix->plen_refs[v][plen] += (uint32_t)delta;
	if (ix->plen_refs[v][plen])
		ix->plen_mask[v][plen / 64] |= 1ULL << (plen % 64);
	else
		ix->plen_mask[v][plen / 64] &= ~(1ULL << (plen % 64));
}

/* The i-th bucket the index put f in. */
static struct ag__ibucket *filter_bucket(const struct ag_filter *f, uint16_t i)
{
	return f->nbuckets > 1 ? f->bucketv[i] : f->bucket1;
}

static int index_put(ag_engine *e, struct ag__index *ix, struct ag_filter *f,
		     const struct kpart *a, const struct kpart *b2)
{
	struct key_id id = key_id_of(a, b2);
	uint64_t h = id.hash;
	struct ag__ibucket *b = bucket_find(ix, &id);
	int r;

	/* An OR of two values can name the same bucket twice (e.g. suffixes). */
	for (uint16_t i = 0; b && i < f->nbuckets; i++)
		if (filter_bucket(f, i) == b)
			return 0;
	if (!b) {
		if (ix->nbuckets + 1 > ix->ntab && (r = index_grow(e, ix)))
			return r;
		b = bucket_new(e, &id);
		if (!b)
			return -ENOMEM;
		bloom_set(ix, h);
		b->next = ix->tab[h & (ix->ntab - 1)];
		ix->tab[h & (ix->ntab - 1)] = b;
		ix->nbuckets++;
		key_use(ix, b, +1);
	}
	if ((r = bucket_insert(e, b, f))) {
		if (!b->len)
			goto drop;
		return r;
	}
	if (!f->nbuckets) {
		f->bucket1 = b;
	} else {
		struct ag__ibucket **nb;

		if (f->nbuckets == 1) {
			nb = ag__alloc(e, 2 * sizeof(*nb));
			if (nb)
				nb[0] = f->bucket1;
		} else {
			nb = ag__realloc(e, f->bucketv, f->nbuckets * sizeof(*nb),
					 (f->nbuckets + 1u) * sizeof(*nb));
		}
		if (!nb) {
			bucket_remove(b, f);
			if (!b->len)
				goto drop;
			return -ENOMEM;
		}
		nb[f->nbuckets] = b;
		f->bucketv = nb;
	}
	f->nbuckets++;
	return 0;
drop:
	/* a bucket made for f alone and never used */
	{
		struct ag__ibucket **pp = &ix->tab[b->hash & (ix->ntab - 1)];

		while (*pp != b)
			pp = &(*pp)->next;
		*pp = b->next;
		ix->nbuckets--;
		key_use(ix, b, -1);
		bucket_free(e, b);
	}
	return -ENOMEM;
}

static void bucket_drop(ag_engine *e, struct ag__index *ix, struct ag__ibucket *b)
{
	struct ag__ibucket **pp = &ix->tab[b->hash & (ix->ntab - 1)];

	while (*pp != b)
		pp = &(*pp)->next;
	*pp = b->next;
	ix->nbuckets--;
	key_use(ix, b, -1);
	bucket_free(e, b);
}

/* ---- filing a filter ------------------------------------------------------------------- */

/* A port range wider than this many 64-port buckets is not looked up by port. */
#define AG__RANGE_MAX_BUCKETS 64
/* Filed under a pair of fields only while the pair makes at most this many keys. */
#define PAIR_MAX_KEYS 64

static const uint8_t ix_fields[4] = { AG_FIELD_APP_PATH, AG_FIELD_REMOTE_HOST,
				      AG_FIELD_REMOTE_ADDR, AG_FIELD_REMOTE_PORT };

static bool has_field(const struct ag_filter *f, uint8_t field)
{
	for (uint16_t i = 0; i < f->nconds; i++)
		if (f->conds[i].field == field)
			return true;
	return false;
}

/*
 * The parts a filter's conditions on one index field make (one per value;
 * a port range one per 64-port bucket, or per 1024-port one when `coarse`),
 * or -1 when some alternative of the field cannot be looked up exactly (a
 * glob, a wide range): then the field says nothing about which flows the
 * filter can match.  *out is allocated.
 */
static int field_parts(ag_engine *e, const struct ag_filter *f, unsigned fi, bool coarse,
		       struct kpart **out)
{
	uint8_t field = ix_fields[fi];
	bool port = field == AG_FIELD_REMOTE_PORT;
	unsigned shift = coarse ? 10 : 6;
	size_t n = 0;

	*out = NULL;
	/* the port of the service, when the filter names no remote port: a
	 * classify looks up the flow's service port too (ix->nservice) */
	if (port && !has_field(f, field))
		field = AG_FIELD_SERVICE_PORT;
	for (uint16_t i = 0; i < f->nconds; i++) {
		const struct ag__cond *c = &f->conds[i];

		if (c->field != field)
			continue;
		/* only the matches a key can name: any other (a glob, or a match
		 * added later) leaves the field out of the index */
		switch (field) {
		case AG_FIELD_APP_PATH:
			if (c->match != AG_MATCH_EQUAL)
				return -1;
			break;
		case AG_FIELD_REMOTE_HOST:
			if (c->match != AG_MATCH_EQUAL && c->match != AG_MATCH_SUFFIX)
				return -1;
			break;
		case AG_FIELD_REMOTE_ADDR:
			if (c->match != AG_MATCH_PREFIX)
				return -1;
			break;
		case AG_FIELD_REMOTE_PORT:
		case AG_FIELD_SERVICE_PORT:
			if (c->match != AG_MATCH_EQUAL && c->match != AG_MATCH_RANGE)
				return -1;
			break;
		}
		if (port && c->lo != c->hi) {
			if ((c->hi >> shift) - (c->lo >> shift) >= AG__RANGE_MAX_BUCKETS)
				return -1;
			n += (c->hi >> shift) - (c->lo >> shift) + 1;
		} else {
			n++;
		}
	}
	if (!n)
		return 0;
	struct kpart *v = ag__alloc(e, n * sizeof(*v));

	if (!v)
		return -ENOMEM;
	n = 0;
	for (uint16_t i = 0; i < f->nconds; i++) {
		const struct ag__cond *c = &f->conds[i];

		if (c->field != field)
			continue;
		switch (field) {
		case AG_FIELD_APP_PATH:
			part_str(&v[n++], 'A', c->str->s);
			break;
		case AG_FIELD_REMOTE_HOST:
			part_str(&v[n++], c->match == AG_MATCH_SUFFIX ? 'S' : 'H', c->str->s);
			break;
		case AG_FIELD_REMOTE_ADDR:
			part_addr(&v[n++], c->ip_version, index_plen(c->ip_version, c->plen),
				  c->addr.b);
			break;
		case AG_FIELD_REMOTE_PORT:
		case AG_FIELD_SERVICE_PORT:
			if (c->lo == c->hi) {
				part_u16(&v[n++], 'p', (uint16_t)c->lo);
				break;
			}
			for (uint32_t b = c->lo >> shift; b <= c->hi >> shift; b++)
				part_u16(&v[n++], coarse ? 'Q' : 'R', (uint16_t)b);
			break;
		}
	}
	*out = v;
	return (int)n;
}

static void parts_free(ag_engine *e, struct kpart **v, const int *n)
{
	for (unsigned i = 0; i < 5; i++)
		if (v[i])
			ag__free(e, v[i], (size_t)n[i] * sizeof(*v[i]));
}

/* Take f out of every bucket it is in (all of them, or the ones a failed
 * ag__index_add() got to). */
static void index_unfile(ag_engine *e, struct ag__index *ix, struct ag_filter *f)
{
	for (uint16_t i = 0; i < f->nbuckets; i++) {
		struct ag__ibucket *b = filter_bucket(f, i);

		bucket_remove(b, f);
		if (!b->len)
			bucket_drop(e, ix, b);
	}
	if (f->nbuckets > 1)
		ag__free(e, f->bucketv, f->nbuckets * sizeof(*f->bucketv));
	f->bucket1 = NULL;
	f->nbuckets = 0;
	if (f->in_wildcard) {
		bucket_remove(ix->wildcard, f);
		f->in_wildcard = false;
	}
}

int ag__index_add(ag_engine *e, struct ag__index *ix, struct ag_filter *f)
{
	/* [4]: the port's parts in a pair (coarse ranges) */
	struct kpart *parts[5] = { NULL };
	int np[5] = { 0 }, r = 0;
	int first = -1, second = -1;

	for (unsigned fi = 0; fi < 5; fi++) {
		np[fi] = field_parts(e, f, fi < 4 ? fi : 3, fi == 4, &parts[fi]);
		if (np[fi] == -ENOMEM) {
			np[fi] = 0;
			r = -ENOMEM;
			goto out;
		}
		if (np[fi] < 0)
			np[fi] = 0;
	}
	/* the first two fields in index order, paired while the pair makes few
	 * keys; the port comes last, so in a pair it is always the second */
	for (int fi = 0; fi < 4; fi++) {
		int pf = fi == 3 ? 4 : fi;

		if (first >= 0 && second < 0 && np[pf] && np[first] * np[pf] <= PAIR_MAX_KEYS)
			second = pf;
		if (first < 0 && np[fi])
			first = fi;
	}
	if (first < 0) {
		if (!ix->wildcard && !(ix->wildcard = bucket_new(e, NULL))) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = bucket_insert(e, ix->wildcard, f)))
			goto out;
		f->in_wildcard = true;
	}
	for (int i = 0; first >= 0 && i < np[first] && !r; i++) {
		if (second < 0)
			r = index_put(e, ix, f, &parts[first][i], NULL);
		for (int j = 0; second >= 0 && j < np[second] && !r; j++)
			r = index_put(e, ix, f, &parts[first][i], &parts[second][j]);
	}
out:
	parts_free(e, parts, np);
	if (r) {
		index_unfile(e, ix, f);
		return r;
	}
	ix->nfilters++;
	ix->nservice += has_field(f, AG_FIELD_SERVICE_PORT);
	return 0;
}

void ag__index_del(ag_engine *e, struct ag__index *ix, struct ag_filter *f)
{
	index_unfile(e, ix, f);
	ix->nfilters--;
	ix->nservice -= has_field(f, AG_FIELD_SERVICE_PORT);
}

void ag__index_fini(struct ag__index *ix)
{
	for (uint32_t i = 0; i < ix->ntab; i++) {
		struct ag__ibucket *b = ix->tab[i], *next;

		for (; b; b = next) {
			next = b->next;
			bucket_free(NULL, b);
		}
	}
	free(ix->tab);
	free(ix->bloom);
	if (ix->wildcard)
		bucket_free(NULL, ix->wildcard);
	memset(ix, 0, sizeof(*ix));
}

/* ---- candidates ------------------------------------------------------------------------ */

/* Buckets merged in place; past this many, they are concatenated and sorted. */
#define MERGE_MAX 16

struct found {
	const struct ag__ibucket *b[MERGE_MAX];
	unsigned n;
	uint32_t total;
	bool many;              /* more than MERGE_MAX: appended to e->cand already */
};

static int cand_reserve(ag_engine *e, uint32_t n)
{
	if (n <= e->capcand)
		return 0;
	uint32_t nc = e->capcand ? e->capcand : 64;

	while (nc < n)
		nc *= 2;
	void *v = ag__realloc(e, e->cand, e->capcand * sizeof(*e->cand), nc * sizeof(*e->cand));

	if (!v)
		return -ENOMEM;
	e->cand = v;
	e->capcand = nc;
	return 0;
}

static int found_add(ag_engine *e, struct found *fd, const struct ag__ibucket *b)
{
	if (!b || !b->len)
		return 0;
	if (!fd->many && fd->n < MERGE_MAX) {
		fd->b[fd->n++] = b;
		fd->total += b->len;
		return 0;
	}
	if (!fd->many) {
		/* switch to concatenation: what was found so far first */
		if (cand_reserve(e, fd->total))
			return -ENOMEM;
		e->ncand = 0;
		for (unsigned i = 0; i < fd->n; i++) {
			memcpy(&e->cand[e->ncand], ag__bucket_v(fd->b[i]),
			       fd->b[i]->len * sizeof(*e->cand));
			e->ncand += fd->b[i]->len;
		}
		fd->many = true;
	}
	if (cand_reserve(e, e->ncand + b->len))
		return -ENOMEM;
	memcpy(&e->cand[e->ncand], ag__bucket_v(b), b->len * sizeof(*e->cand));
	e->ncand += b->len;
	return 0;
}

static int ient_cmp(const void *a, const void *b)
{
	const struct ag__ient *x = a, *y = b;

	return ient_before(x, y) ? -1 : ient_before(y, x) ? 1 : 0;
}

/* The found buckets, each in evaluation order, merged into e->cand; a filter
 * filed under two of them (two alternatives of one field) comes out once. */
static int merge(ag_engine *e, struct found *fd)
{
	uint32_t n = 0;

	if (fd->many) {
		qsort(e->cand, e->ncand, sizeof(*e->cand), ient_cmp);
		for (uint32_t i = 0; i < e->ncand; i++)
			if (!n || e->cand[n - 1].f != e->cand[i].f)
				e->cand[n++] = e->cand[i];
		e->ncand = n;
		return 0;
	}
	e->ncand = 0;
	if (cand_reserve(e, fd->total))
		return -ENOMEM;
	if (fd->n == 1) {
		memcpy(e->cand, ag__bucket_v(fd->b[0]), fd->total * sizeof(*e->cand));
		e->ncand = fd->total;
		return 0;
	}
	uint32_t pos[MERGE_MAX] = { 0 };
	const struct ag__ient *v[MERGE_MAX];

	for (unsigned i = 0; i < fd->n; i++)
		v[i] = ag__bucket_v(fd->b[i]);
	for (;;) {
		int best = -1;

		for (unsigned i = 0; i < fd->n; i++)
			if (pos[i] < fd->b[i]->len &&
			    (best < 0 || ient_before(&v[i][pos[i]], &v[best][pos[best]])))
				best = (int)i;
		if (best < 0)
			break;
		const struct ag__ient *x = &v[best][pos[best]++];

		if (!n || e->cand[n - 1].f != x->f)
			e->cand[n++] = *x;
	}
	e->ncand = n;
	return 0;
}

/* The flow's longest host has 127 dots: its name and 127 suffixes. */
#define HOST_PARTS 129

int ag__index_candidates(ag_engine *e, const struct ag__index *ix, const ag_fixed_values *in)
{
	struct kpart kp[HOST_PARTS + 10];
	struct kpart *field[4];
	unsigned nf[4] = { 0 };
	struct found fd = { .n = 0 };
	char host[256];
	int r = 0;

	e->ncand = 0;
	r |= found_add(e, &fd, ix->wildcard);
	if (!ix->nbuckets)
		goto out;

	/* the flow's values, one part each, hashed once */
	unsigned k = 0;

	field[0] = &kp[k];
	if (in->app_path) {
		part_str(&kp[k++], 'A', in->app_path);
		nf[0] = 1;
	}
	field[1] = &kp[k];
	if (in->remote_host && in->remote_host[0] &&
	    ag__host_normalize(in->remote_host, host, sizeof(host)) == 0) {
		part_str(&kp[k++], 'H', host);
		for (const char *dot = strchr(host, '.'); dot && k < HOST_PARTS; dot = strchr(dot + 1, '.'))
			part_str(&kp[k++], 'S', dot + 1);
		nf[1] = (unsigned)(&kp[k] - field[1]);
	}
	field[2] = &kp[k];
	if (in->ip_version == 4 || in->ip_version == 6) {
		unsigned v = in->ip_version == 4 ? 0 : 1;

		for (unsigned w = 0; w < 3; w++) {
			uint64_t bits = ix->plen_mask[v][w];

			while (bits) {
				unsigned plen = w * 64 + (unsigned)__builtin_ctzll(bits);

				bits &= bits - 1;
				part_addr(&kp[k++], in->ip_version, (uint8_t)plen, in->remote_addr.b);
			}
		}
		nf[2] = (unsigned)(&kp[k] - field[2]);
	}
	field[3] = &kp[k];
	part_u16(&kp[k++], 'p', in->remote_port);
	part_u16(&kp[k++], 'R', (uint16_t)(in->remote_port >> 6));
	part_u16(&kp[k++], 'Q', (uint16_t)(in->remote_port >> 10));
	/* filters filed by the service port: an inbound flow's is its local one */
	if (ix->nservice && in->direction == AG_DIR_IN) {
		uint16_t lp = in->local_port, rp = in->remote_port;

		if (lp != rp)
			part_u16(&kp[k++], 'p', lp);
		if (lp >> 6 != rp >> 6)
			part_u16(&kp[k++], 'R', (uint16_t)(lp >> 6));
		if (lp >> 10 != rp >> 10)
			part_u16(&kp[k++], 'Q', (uint16_t)(lp >> 10));
	}
	nf[3] = (unsigned)(&kp[k] - field[3]);

	/* every key shape in use: a single field, or a pair of them */
	for (unsigned shape = 1; shape < 16; shape++) {
		if (!ix->shape_refs[shape])
			continue;
		unsigned a = (unsigned)__builtin_ctz(shape), rest = shape & (shape - 1);

		if (!rest) {
			for (unsigned i = 0; i < nf[a]; i++) {
				struct key_id id = key_id_of(&field[a][i], NULL);

				r |= found_add(e, &fd, bucket_find(ix, &id));
			}
			continue;
		}
		unsigned b = (unsigned)__builtin_ctz(rest);

		for (unsigned i = 0; i < nf[a]; i++)
			for (unsigned j = 0; j < nf[b]; j++) {
				struct key_id id = key_id_of(&field[a][i], &field[b][j]);

				r |= found_add(e, &fd, bucket_find(ix, &id));
			}
	}
out:
	if (!r)
		r = merge(e, &fd);
	return r ? -ENOMEM : 0;
}
