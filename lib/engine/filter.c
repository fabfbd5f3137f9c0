/*
 * lib/engine/filter.c — sublayers, filters, conditions (S14), the per-layer
 * index, and filter lifetimes (S15).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"

#define AG__MAX_CONDITIONS 64
/* A port range wider than this many 64-port buckets goes to the wildcard list. */
#define AG__RANGE_MAX_BUCKETS 64

/* ---- sublayers ------------------------------------------------------------- */

static struct ag__sublayer *sublayer_find(ag_engine *e, uint32_t id)
{
	for (uint32_t i = 0; i < e->nsublayers; i++)
		if (e->sublayers[i].id == id)
			return &e->sublayers[i];
	return NULL;
}

int ag_sublayer_add(ag_engine *e, uint32_t id, uint16_t weight, const char *name)
{
	if (sublayer_find(e, id))
		return -EEXIST;
	struct ag__sublayer *n = ag__realloc(e, e->sublayers, e->nsublayers * sizeof(*n),
					     (e->nsublayers + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	e->sublayers = n;
	n = &e->sublayers[e->nsublayers];
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->weight = weight;
	n->name = ag__str_get(e, name ? name : "");
	if (!n->name)
		return -ENOMEM;
	e->nsublayers++;
	return 0;
}

int ag_sublayer_del(ag_engine *e, uint32_t id)
{
	struct ag__sublayer *s = sublayer_find(e, id);

	if (!s || id == AG_SUBLAYER_DEFAULT)
		return s ? -EBUSY : -ENOENT;
	if (s->nfilters)
		return -EBUSY;
	ag__str_put(e, s->name);
	*s = e->sublayers[--e->nsublayers];
	return 0;
}

/* ---- conditions -------------------------------------------------------------- */

static int host_normalize(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = 0;
	return 0;
}

static void addr_mask(uint8_t *bytes, unsigned plen, unsigned total_bytes)
{
	for (unsigned i = 0; i < total_bytes; i++) {
		unsigned bits = i * 8;

		if (bits >= plen)
			bytes[i] = 0;
		else if (plen - bits < 8)
			bytes[i] &= (uint8_t)(0xff << (8 - (plen - bits)));
	}
	for (unsigned i = total_bytes; i < 16; i++)
		bytes[i] = 0;
}

static int cond_compile(ag_engine *e, const ag_condition *c, struct ag__cond *out)
{
	char host[256];

	memset(out, 0, sizeof(*out));
	out->field = (uint8_t)c->field;
	out->match = (uint8_t)c->match;
	switch (c->field) {
	case AG_FIELD_IP_VERSION:
		if (c->match != AG_MATCH_EQUAL || (c->v.u32 != 4 && c->v.u32 != 6))
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	case AG_FIELD_PROTOCOL:
	case AG_FIELD_DIRECTION:
	case AG_FIELD_INTERFACE:
		if (c->match != AG_MATCH_EQUAL)
			return -EINVAL;
		if (c->field == AG_FIELD_PROTOCOL && c->v.u32 > 255)
			return -EINVAL;
		if (c->field == AG_FIELD_DIRECTION && c->v.u32 > AG_DIR_IN)
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	case AG_FIELD_LOCAL_PORT:
	case AG_FIELD_REMOTE_PORT:
	case AG_FIELD_UID:
	case AG_FIELD_GID: {
		uint32_t max = (c->field == AG_FIELD_LOCAL_PORT || c->field == AG_FIELD_REMOTE_PORT)
				       ? 65535 : 0xffffffffu;
		if (c->match == AG_MATCH_EQUAL) {
			if (c->v.u32 > max)
				return -EINVAL;
			out->lo = out->hi = c->v.u32;
			return 0;
		}
		if (c->match != AG_MATCH_RANGE || c->v.range.lo > c->v.range.hi ||
		    c->v.range.hi > max)
			return -EINVAL;
		out->lo = c->v.range.lo;
		out->hi = c->v.range.hi;
		return 0;
	}
	case AG_FIELD_LOCAL_ADDR:
	case AG_FIELD_REMOTE_ADDR: {
		unsigned full = c->v.addr.ip_version == 4 ? 32 : 128;

		if (c->v.addr.ip_version != 4 && c->v.addr.ip_version != 6)
			return -EINVAL;
		if (c->match == AG_MATCH_EQUAL)
			out->plen = (uint8_t)full;
		else if (c->match == AG_MATCH_PREFIX && c->v.addr.len <= full)
			out->plen = c->v.addr.len;
		else
			return -EINVAL;
		out->match = AG_MATCH_PREFIX;
		out->ip_version = c->v.addr.ip_version;
		memcpy(out->addr, c->v.addr.bytes, 16);
		addr_mask(out->addr, out->plen, full / 8);
		return 0;
	}
	case AG_FIELD_APP_PATH:
		if ((c->match != AG_MATCH_EQUAL && c->match != AG_MATCH_GLOB) || !c->v.str ||
		    !c->v.str[0])
			return -EINVAL;
		/* A glob without wildcard characters is an exact path: index it. */
		if (c->match == AG_MATCH_GLOB && !strpbrk(c->v.str, "*?["))
			out->match = AG_MATCH_EQUAL;
		out->str = ag__str_get(e, c->v.str);
		return out->str ? 0 : -ENOMEM;
	case AG_FIELD_REMOTE_HOST: {
		const char *h = c->v.str;

		if (!h)
			return -EINVAL;
		if (c->match == AG_MATCH_SUFFIX) {
			if (h[0] == '*' && h[1] == '.')
				h += 2;
		} else if (c->match != AG_MATCH_EQUAL) {
			return -EINVAL;
		}
		if (host_normalize(h, host, sizeof(host)))
			return -EINVAL;
		out->str = ag__str_get(e, host);
		return out->str ? 0 : -ENOMEM;
	}
	case AG_FIELD_FLAGS:
		if (c->match != AG_MATCH_FLAGS_ALL_SET && c->match != AG_MATCH_FLAGS_NONE_SET)
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool prefix_match(const uint8_t *addr, const uint8_t *pfx, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;

	if (memcmp(addr, pfx, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));

	return (addr[bytes] & mask) == pfx[bytes];
}

/* host ends with "." + suffix (case-insensitive); the suffix alone does not match. */
static bool host_suffix_match(const char *host, const struct ag__str *sfx)
{
	size_t hl = strlen(host);

	if (hl && host[hl - 1] == '.')
		hl--;
	if (hl <= sfx->len)
		return false;
	return host[hl - sfx->len - 1] == '.' &&
	       strncasecmp(host + hl - sfx->len, sfx->s, sfx->len) == 0;
}

static bool host_equal(const char *host, const struct ag__str *s)
{
	size_t hl = strlen(host);

	if (hl && host[hl - 1] == '.')
		hl--;
	return hl == s->len && strncasecmp(host, s->s, hl) == 0;
}

static bool cond_match(const struct ag__cond *c, const ag_fixed_values *in)
{
	uint32_t v;

	switch (c->field) {
	case AG_FIELD_IP_VERSION:
		return in->ip_version == c->lo;
	case AG_FIELD_PROTOCOL:
		return in->protocol == c->lo;
	case AG_FIELD_DIRECTION:
		return in->direction == c->lo;
	case AG_FIELD_INTERFACE:
		return in->interface == c->lo;
	case AG_FIELD_LOCAL_PORT:
		v = in->local_port;
		return v >= c->lo && v <= c->hi;
	case AG_FIELD_REMOTE_PORT:
		v = in->remote_port;
		return v >= c->lo && v <= c->hi;
	case AG_FIELD_UID:
		return in->uid >= c->lo && in->uid <= c->hi;
	case AG_FIELD_GID:
		return in->gid >= c->lo && in->gid <= c->hi;
	case AG_FIELD_LOCAL_ADDR:
		return in->ip_version == c->ip_version &&
		       prefix_match(in->local_addr, c->addr, c->plen);
	case AG_FIELD_REMOTE_ADDR:
		return in->ip_version == c->ip_version &&
		       prefix_match(in->remote_addr, c->addr, c->plen);
	case AG_FIELD_APP_PATH:
		if (!in->app_path)
			return false;
		if (c->match == AG_MATCH_EQUAL)
			return strcmp(in->app_path, c->str->s) == 0;
		return fnmatch(c->str->s, in->app_path, 0) == 0;
	case AG_FIELD_REMOTE_HOST:
		if (!in->remote_host)
			return false;
		if (c->match == AG_MATCH_EQUAL)
			return host_equal(in->remote_host, c->str);
		return host_suffix_match(in->remote_host, c->str);
	case AG_FIELD_FLAGS:
		if (c->match == AG_MATCH_FLAGS_ALL_SET)
			return (in->flags & c->lo) == c->lo;
		return (in->flags & c->lo) == 0;
	}
	return false;
}

/* S14: conditions on different fields are ANDed, on the same field ORed. */
bool ag__filter_matches(const struct ag_filter *f, const ag_fixed_values *in)
{
	uint16_t i = 0;

	while (i < f->nconds) {
		uint8_t field = f->conds[i].field;
		bool any = false;

		for (; i < f->nconds && f->conds[i].field == field; i++)
			if (!any && cond_match(&f->conds[i], in))
				any = true;
		if (!any)
			return false;
	}
	return true;
}

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

static size_t key_addr(uint8_t *k, uint8_t ver, uint8_t plen, const uint8_t *addr)
{
	unsigned nb = ver == 4 ? 4 : 16;
	uint8_t tmp[16];

	memcpy(tmp, addr, 16);
	addr_mask(tmp, plen, nb);
	k[0] = 'P';
	k[1] = ver;
	k[2] = plen;
	memcpy(k + 3, tmp, nb);
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

		if (host_normalize(in->remote_host, host, sizeof(host)) == 0) {
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

/* ---- filters ------------------------------------------------------------------- */

static int cond_field_cmp(const void *a, const void *b)
{
	const struct ag__cond *ca = a, *cb = b;

	return (int)ca->field - (int)cb->field;
}

static int public_conditions(ag_engine *e, struct ag_filter *f);

void ag__filter_free(ag_engine *e, struct ag_filter *f)
{
	for (uint16_t i = 0; i < f->nconds; i++)
		ag__str_put(e, f->conds[i].str);
	ag__free(e, f->conds, f->nconds * sizeof(*f->conds));
	ag__free(e, f->public_conds, f->nconds * sizeof(*f->public_conds));
	ag__str_put(e, f->callout);
	ag__str_put(e, f->name);
	ag__free(e, f, sizeof(*f));
}

static bool is_callout_action(ag_action_type a)
{
	return a == AG_ACTION_CALLOUT_TERMINATING || a == AG_ACTION_CALLOUT_INSPECTION ||
	       a == AG_ACTION_CALLOUT_UNKNOWN;
}

static void changed(ag_engine *e, uint8_t layer)
{
	if (e->in_txn)
		e->txn_layers |= 1u << layer;
	else
		ag__filters_changed(e, 1u << layer);
}

static void notify(ag_engine *e, ag_notify_type type, struct ag_filter *f)
{
	if (!f->callout)
		return;
	struct ag__callout *c = ag__callout_find(e, f->callout);

	if (c && c->c.notify)
		c->c.notify(e, type, f, c->c.arg);
}

int ag_filter_add(ag_engine *e, const ag_filter_spec *spec, uint64_t *id_out)
{
	struct ag_filter *f;
	struct ag__sublayer *sub;
	int r = -EINVAL;

	if (!spec || spec->layer >= AG_LAYER_COUNT)
		return -EINVAL;
	switch (spec->action) {
	case AG_ACTION_PERMIT:
	case AG_ACTION_BLOCK:
		break;
	case AG_ACTION_CALLOUT_TERMINATING:
	case AG_ACTION_CALLOUT_INSPECTION:
	case AG_ACTION_CALLOUT_UNKNOWN:
		if (!spec->callout || !spec->callout[0])
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (spec->lifetime > AG_LIFETIME_PERSISTENT ||
	    (spec->lifetime == AG_LIFETIME_SESSION && !spec->session) ||
	    (spec->lifetime == AG_LIFETIME_TIMED && !spec->expires_ns))
		return -EINVAL;
	if (spec->n_conditions > AG__MAX_CONDITIONS || (spec->n_conditions && !spec->conditions))
		return -EINVAL;
	if (!(sub = sublayer_find(e, spec->sublayer)))
		return AG_E_NOT_FOUND;
	if (e->nfilters >= e->cfg.max_filters)
		return AG_E_LIMIT;
	if (spec->id && ag__u64map_get(&e->filter_ids, spec->id, NULL))
		return -EEXIST;

	f = ag__calloc(e, 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->timer.kind = AG__TIMER_FILTER;
	f->layer = (uint8_t)spec->layer;
	f->action = (uint8_t)spec->action;
	f->lifetime = (uint8_t)spec->lifetime;
	f->flags = spec->flags;
	f->weight = spec->weight;
	f->sublayer = spec->sublayer;
	f->sublayer_weight = sub->weight;
	f->session = spec->session;
	f->expires_ns = spec->lifetime == AG_LIFETIME_TIMED ? spec->expires_ns : 0;
	f->context = spec->context;
	if (spec->n_conditions) {
		f->conds = ag__calloc(e, spec->n_conditions, sizeof(*f->conds));
		if (!f->conds)
			goto nomem;
	}
	for (size_t i = 0; i < spec->n_conditions; i++) {
		r = cond_compile(e, &spec->conditions[i], &f->conds[i]);
		f->nconds = (uint16_t)(i + 1);
		if (r)
			goto fail;
	}
	if (f->nconds > 1)
		qsort(f->conds, f->nconds, sizeof(*f->conds), cond_field_cmp);
	for (uint16_t i = 0; i < f->nconds; i++)
		f->field_mask |= 1u << f->conds[i].field;
	if (public_conditions(e, f))
		goto nomem;
	if (is_callout_action(spec->action) && !(f->callout = ag__str_get(e, spec->callout)))
		goto nomem;
	if (spec->name && !(f->name = ag__str_get(e, spec->name)))
		goto nomem;

	if (spec->id) {
		f->id = spec->id;
	} else {
		do
			f->id = ++e->next_filter_id;
		while (ag__u64map_get(&e->filter_ids, f->id, NULL));
	}
	if (f->id > e->next_filter_id)
		e->next_filter_id = f->id;
	if ((r = ag__index_add(e, &e->index[f->layer], f)))
		goto fail;
	if ((r = ag__u64map_put(&e->filter_ids, f->id, (uint64_t)(uintptr_t)f))) {
		ag__index_del(e, &e->index[f->layer], f);
		goto fail;
	}
	if (f->lifetime == AG_LIFETIME_TIMED && (r = ag__timer_arm(e, &f->timer, f->expires_ns))) {
		ag__u64map_del(&e->filter_ids, f->id);
		ag__index_del(e, &e->index[f->layer], f);
		goto fail;
	}
	sub->nfilters++;
	e->nfilters++;
	if (id_out)
		*id_out = f->id;
	notify(e, AG_NOTIFY_FILTER_ADD, f);
	changed(e, f->layer);
	return 0;
nomem:
	r = -ENOMEM;
fail:
	ag__filter_free(e, f);
	return r;
}

static void filter_remove(ag_engine *e, struct ag_filter *f)
{
	struct ag__sublayer *sub = sublayer_find(e, f->sublayer);
	uint8_t layer = f->layer;

	notify(e, AG_NOTIFY_FILTER_DELETE, f);
	ag__index_del(e, &e->index[layer], f);
	ag__u64map_del(&e->filter_ids, f->id);
	ag__timer_disarm(e, &f->timer);
	if (sub)
		sub->nfilters--;
	e->nfilters--;
	ag__filter_free(e, f);
	changed(e, layer);
}

int ag_filter_del(ag_engine *e, uint64_t id)
{
	uint64_t v;

	if (!ag__u64map_get(&e->filter_ids, id, &v))
		return -ENOENT;
	filter_remove(e, (struct ag_filter *)(uintptr_t)v);
	return 0;
}

/* S15: a timed filter reached its deadline. */
void ag__filter_expire(ag_engine *e, struct ag_filter *f)
{
	ag__event(e, AG_EVENT_FILTER_EXPIRED, AG_REASON_TIMEOUT, (ag_layer)f->layer,
		  f->action == AG_ACTION_BLOCK ? AG_VERDICT_BLOCK : AG_VERDICT_PERMIT, NULL, f->id,
		  0);
	filter_remove(e, f);
}

int ag_filter_set_enabled(ag_engine *e, uint64_t id, bool enabled)
{
	uint64_t v;

	if (!ag__u64map_get(&e->filter_ids, id, &v))
		return -ENOENT;
	struct ag_filter *f = (struct ag_filter *)(uintptr_t)v;
	uint32_t flags = enabled ? f->flags & ~AG_FILTER_FLAG_DISABLED
				 : f->flags | AG_FILTER_FLAG_DISABLED;

	if (flags != f->flags) {
		f->flags = flags;
		changed(e, f->layer);
	}
	return 0;
}

int ag_filter_del_session(ag_engine *e, uint64_t session)
{
	int n = 0;
	bool own_txn = !e->in_txn;

	if (!session)
		return 0;
	if (own_txn)
		ag_engine_begin(e);
	for (unsigned l = 0; l < AG_LAYER_COUNT; l++) {
		struct ag_filter *f = e->index[l].first, *next;

		for (; f; f = next) {
			next = f->lnext;
			if (f->lifetime == AG_LIFETIME_SESSION && f->session == session) {
				filter_remove(e, f);
				n++;
			}
		}
	}
	if (own_txn)
		ag_engine_commit(e);
	return n;
}

const ag_filter *ag_filter_get(const ag_engine *e, uint64_t id)
{
	uint64_t v;

	if (!ag__u64map_get(&e->filter_ids, id, &v))
		return NULL;
	return (const ag_filter *)(uintptr_t)v;
}

uint64_t ag_filter_id(const ag_filter *f)
{
	return f->id;
}

uint64_t ag_filter_context(const ag_filter *f)
{
	return f->context;
}

/* The public form of the compiled conditions, made when the filter is added
 * so that describing a filter can never fail half-way (a rule that looked
 * unconditional would be worse than no answer). */
static int public_conditions(ag_engine *e, struct ag_filter *f)
{
	if (!f->nconds)
		return 0;
	f->public_conds = ag__calloc(e, f->nconds, sizeof(*f->public_conds));
	if (!f->public_conds)
		return -ENOMEM;
	for (uint16_t i = 0; i < f->nconds; i++) {
		const struct ag__cond *c = &f->conds[i];
		ag_condition *p = &f->public_conds[i];

		p->field = (ag_field)c->field;
		p->match = (ag_match)c->match;
		switch (c->field) {
		case AG_FIELD_LOCAL_ADDR:
		case AG_FIELD_REMOTE_ADDR:
			p->v.addr.ip_version = c->ip_version;
			p->v.addr.len = c->plen;
			memcpy(p->v.addr.bytes, c->addr, 16);
			break;
		case AG_FIELD_APP_PATH:
		case AG_FIELD_REMOTE_HOST:
			p->v.str = c->str->s;
			break;
		default:
			if (c->match == AG_MATCH_RANGE) {
				p->v.range.lo = c->lo;
				p->v.range.hi = c->hi;
			} else {
				p->v.u32 = c->lo;
			}
		}
	}
	return 0;
}

void ag_filter_describe(const ag_filter *f, ag_filter_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->id = f->id;
	spec->layer = (ag_layer)f->layer;
	spec->sublayer = f->sublayer;
	spec->weight = f->weight;
	spec->action = (ag_action_type)f->action;
	spec->callout = ag__str_c(f->callout);
	spec->flags = f->flags;
	spec->lifetime = (ag_lifetime)f->lifetime;
	spec->expires_ns = f->expires_ns;
	spec->session = f->session;
	spec->conditions = f->public_conds;
	spec->n_conditions = f->nconds;
	spec->name = ag__str_c(f->name);
	spec->context = f->context;
}

static int dump_order(const void *a, const void *b)
{
	return cand_cmp(a, b);
}

int ag_filter_dump(const ag_engine *e, int (*cb)(const ag_filter *f, void *arg), void *arg)
{
	for (unsigned l = 0; l < AG_LAYER_COUNT; l++) {
		uint32_t n = e->index[l].nfilters, i = 0;
		struct ag_filter **v;
		int r = 0;

		if (!n)
			continue;
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (struct ag_filter *f = e->index[l].first; f && i < n; f = f->lnext)
			v[i++] = f;
		qsort(v, i, sizeof(*v), dump_order);
		for (uint32_t j = 0; j < i && !r; j++)
			r = cb(v[j], arg);
		free(v);
		if (r)
			return r;
	}
	return 0;
}

int ag_engine_begin(ag_engine *e)
{
	if (e->in_txn)
		return -EBUSY;
	e->in_txn = true;
	e->txn_layers = 0;
	return 0;
}

int ag_engine_commit(ag_engine *e)
{
	if (!e->in_txn)
		return -EINVAL;
	e->in_txn = false;
	if (e->txn_layers)
		ag__filters_changed(e, e->txn_layers);
	e->txn_layers = 0;
	return 0;
}
