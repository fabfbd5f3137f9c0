/*
 * lib/engine/util.c — the engine's small containers: a uint64 map, interned strings, the deadline heap and memory accounting.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* ---- memory accounting ------------------------------------------------------ */

void *ag__alloc(ag_engine *e, size_t n)
{
	void *p = malloc(n);

	if (p && e)
		e->mem += n;
	return p;
}

void *ag__calloc(ag_engine *e, size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p && e)
		e->mem += n * size;
	return p;
}

void *ag__realloc(ag_engine *e, void *p, size_t old, size_t n)
{
	void *q = realloc(p, n);

	if (q && e)
		e->mem = e->mem - old + n;
	return q;
}

void ag__free(ag_engine *e, void *p, size_t n)
{
	if (!p)
		return;
	if (e)
		e->mem -= n;
	free(p);
}

/* ---- uint64 -> uint64 map ------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int u64map_grow(struct ag__u64map *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 16;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint64_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		uint32_t j = (uint32_t)mix64(m->keys[i]) & (ncap - 1);

		while (nk[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = m->keys[i];
		nv[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = ncap;
	return 0;
}

int ag__u64map_put(struct ag__u64map *m, uint64_t key, uint64_t val)
{
	if ((m->len + 1) * 4 > m->cap * 3) {
		int r = u64map_grow(m);

		if (r)
			return r;
	}
	uint32_t j = (uint32_t)mix64(key) & (m->cap - 1);

	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->keys[j])
		m->len++;
	m->keys[j] = key;
	m->vals[j] = val;
	return 0;
}

bool ag__u64map_get(const struct ag__u64map *m, uint64_t key, uint64_t *val)
{
	if (!m->cap)
		return false;
	uint32_t j = (uint32_t)mix64(key) & (m->cap - 1);

	while (m->keys[j]) {
		if (m->keys[j] == key) {
			if (val)
				*val = m->vals[j];
			return true;
		}
		j = (j + 1) & (m->cap - 1);
	}
	return false;
}

/* Linear probing deletion by backward shift: no tombstones to clean up. */
bool ag__u64map_del(struct ag__u64map *m, uint64_t key)
{
	if (!m->cap)
		return false;
	uint32_t mask = m->cap - 1;
	uint32_t j = (uint32_t)mix64(key) & mask;

	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & mask;
	if (!m->keys[j])
		return false;
	m->len--;
	for (;;) {
		uint32_t k = j;

		m->keys[j] = 0;
		for (;;) {
			k = (k + 1) & mask;
			if (!m->keys[k])
				return true;
			uint32_t home = (uint32_t)mix64(m->keys[k]) & mask;
			/* move k back to j unless its home lies cyclically in (j, k] */
			if (j <= k ? (home <= j || home > k) : (home <= j && home > k))
				break;
		}
		m->keys[j] = m->keys[k];
		m->vals[j] = m->vals[k];
		j = k;
	}
}

void ag__u64map_fini(struct ag__u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- filters by id --------------------------------------------------------------- */

/* The filter's id is in the filter: a slot holds only its pointer, half
 * of what a key and a value would take at 100,000 filters. */
static uint64_t fmap_key(const struct ag_filter *f)
{
	return f->id;
}

/*
 * A slot's home: the hash scaled to the capacity, which grows by half, not
 * doubles: between 3/8 and 3/4 full a power of two left the map half
 * empty on average (21 bytes a filter at 200,000 filters).
 */
static uint32_t fmap_home(const struct ag__fmap *m, uint64_t id)
{
	return (uint32_t)(((mix64(id) >> 32) * m->cap) >> 32);
}

static uint32_t fmap_next(const struct ag__fmap *m, uint32_t j)
{
	return j + 1 == m->cap ? 0 : j + 1;
}

static int fmap_grow(struct ag__fmap *m)
{
	struct ag__fmap n = { .cap = m->cap ? m->cap + m->cap / 2 : 16, .len = m->len };

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++) {
		if (!m->slots[i])
			continue;
		uint32_t j = fmap_home(&n, fmap_key(m->slots[i]));

		while (n.slots[j])
			j = fmap_next(&n, j);
		n.slots[j] = m->slots[i];
	}
	free(m->slots);
	*m = n;
	return 0;
}

int ag__fmap_put(struct ag__fmap *m, struct ag_filter *f)
{
	if ((m->len + 1) * 4 > m->cap * 3) {
		int r = fmap_grow(m);

		if (r)
			return r;
	}
	uint32_t j = fmap_home(m, f->id);

	while (m->slots[j] && fmap_key(m->slots[j]) != f->id)
		j = fmap_next(m, j);
	if (!m->slots[j])
		m->len++;
	m->slots[j] = f;
	return 0;
}

struct ag_filter *ag__fmap_get(const struct ag__fmap *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (uint32_t j = fmap_home(m, id); m->slots[j]; j = fmap_next(m, j))
		if (fmap_key(m->slots[j]) == id)
			return m->slots[j];
	return NULL;
}

/* Linear probing deletion by backward shift, as ag__u64map_del(). */
bool ag__fmap_del(struct ag__fmap *m, uint64_t id)
{
	if (!m->cap)
		return false;
	uint32_t j = fmap_home(m, id);

	while (m->slots[j] && fmap_key(m->slots[j]) != id)
		j = fmap_next(m, j);
	if (!m->slots[j])
		return false;
	m->len--;
	for (;;) {
		uint32_t k = j;

		m->slots[j] = NULL;
		for (;;) {
			k = fmap_next(m, k);
			if (!m->slots[k])
				return true;
			uint32_t home = fmap_home(m, fmap_key(m->slots[k]));
			/* move k back to j unless its home lies cyclically in (j, k] */
			if (j <= k ? (home <= j || home > k) : (home <= j && home > k))
				break;
		}
		m->slots[j] = m->slots[k];
		j = k;
	}
}

void ag__fmap_fini(struct ag__fmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* ---- interned strings ----------------------------------------------------------- */

static int strtab_grow(ag_engine *e)
{
	struct ag__strtab *t = &e->strings;
	uint32_t n = t->nbuckets ? t->nbuckets * 2 : 64;
	struct ag__str **nb = ag__calloc(e, n, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct ag__str *s = t->buckets[i], *next;

		for (; s; s = next) {
			next = s->next;
			s->next = nb[s->hash & (n - 1)];
			nb[s->hash & (n - 1)] = s;
		}
	}
	ag__free(e, t->buckets, t->nbuckets * sizeof(*nb));
	t->buckets = nb;
	t->nbuckets = n;
	return 0;
}

struct ag__str *ag__str_get(ag_engine *e, const char *s)
{
	struct ag__strtab *t = &e->strings;

	if (!s)
		return NULL;
	size_t len = strlen(s);
	uint64_t h = ag_siphash13(e->cfg.hash_seed, s, len);

	if (t->nbuckets) {
		for (struct ag__str *p = t->buckets[h & (t->nbuckets - 1)]; p; p = p->next)
			if (p->hash == h && p->len == len && memcmp(p->s, s, len) == 0) {
				p->refs++;
				return p;
			}
	}
	/* two strings a bucket on average: a chain compares hashes before
	 * bytes, and at 100,000 rules a bucket per string was 2 MB */
	if (t->len + 1 > 2 * t->nbuckets && strtab_grow(e)) {
		errno = ENOMEM;
		return NULL;
	}
	struct ag__str *n = ag__alloc(e, sizeof(*n) + len + 1);

	if (!n) {
		errno = ENOMEM;
		return NULL;
	}
	n->hash = h;
	n->refs = 1;
	n->len = (uint32_t)len;
	memcpy(n->s, s, len + 1);
	n->next = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = n;
	t->len++;
	t->bytes += len + 1;
	return n;
}

struct ag__str *ag__str_ref(struct ag__str *str)
{
	if (str)
		str->refs++;
	return str;
}

void ag__str_put(ag_engine *e, struct ag__str *str)
{
	struct ag__strtab *t = &e->strings;

	if (!str || --str->refs)
		return;
	struct ag__str **pp = &t->buckets[str->hash & (t->nbuckets - 1)];

	while (*pp != str)
		pp = &(*pp)->next;
	*pp = str->next;
	t->len--;
	t->bytes -= str->len + 1;
	ag__free(e, str, sizeof(*str) + str->len + 1);
}

/* ---- deadline heap ----------------------------------------------------------------- */

static void heap_set(ag_engine *e, uint32_t i, struct ag__timer *t)
{
	e->heap[i] = t;
	t->heap_idx = i + 1;
}

static void heap_up(ag_engine *e, uint32_t i)
{
	struct ag__timer *t = e->heap[i];

	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (e->heap[parent]->when <= t->when)
			break;
		heap_set(e, i, e->heap[parent]);
		i = parent;
	}
	heap_set(e, i, t);
}

static void heap_down(ag_engine *e, uint32_t i)
{
	struct ag__timer *t = e->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= e->heap_len)
			break;
		if (c + 1 < e->heap_len && e->heap[c + 1]->when < e->heap[c]->when)
			c++;
		if (t->when <= e->heap[c]->when)
			break;
		heap_set(e, i, e->heap[c]);
		i = c;
	}
	heap_set(e, i, t);
}

int ag__timer_arm(ag_engine *e, struct ag__timer *t, uint64_t when)
{
	if (t->heap_idx) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(e, t->heap_idx - 1);
		else
			heap_down(e, t->heap_idx - 1);
		return 0;
	}
	if (e->heap_len == e->heap_cap) {
		uint32_t ncap = e->heap_cap ? e->heap_cap * 2 : 64;
		void *n = ag__realloc(e, e->heap, e->heap_cap * sizeof(*e->heap),
				      ncap * sizeof(*e->heap));

		if (!n)
			return -ENOMEM;
		e->heap = n;
		e->heap_cap = ncap;
	}
	t->when = when;
	e->heap[e->heap_len] = t;
	t->heap_idx = ++e->heap_len;
	heap_up(e, e->heap_len - 1);
	return 0;
}

void ag__timer_disarm(ag_engine *e, struct ag__timer *t)
{
	if (!t->heap_idx)
		return;
	uint32_t i = t->heap_idx - 1;

	t->heap_idx = 0;
	e->heap_len--;
	if (i == e->heap_len)
		return;
	e->heap[i] = e->heap[e->heap_len];
	e->heap[i]->heap_idx = i + 1;
	if (i && e->heap[(i - 1) / 2]->when > e->heap[i]->when)
		heap_up(e, i);
	else
		heap_down(e, i);
}
