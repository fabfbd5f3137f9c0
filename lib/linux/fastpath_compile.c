/*
 * lib/linux/fastpath_compile.c — rules to map contents (an image).  No I/O.
 * The reference interpreter over an image is fastpath_eval.c, the
 * descriptors read off the engine fastpath_engine.c, executables' identities
 * fastpath_exe.c.
 *
 * How an image answers (fp_shared.h has the kernel's side):
 *
 *   rules, in engine order        buckets                     per bucket
 *   ----------------------        -------                     ----------
 *   0 allow app=A :443      -->   A:       0 allow            LPM node -> the
 *   1 deny  10.0.0.0/8      -->   ANY:     1 deny, 2 pass     entries whose
 *   2 ask   (catch-all)           UNKNOWN: 0 pass             prefix holds it
 *
 * A flow of program A to 10.1.2.3:443 finds rule 0 in bucket A and rule 1
 * in ANY: 0 comes first, allow.  A program no rule names uses UNKNOWN,
 * where rule 0 is a barrier: a replaced binary at A's path is still A to
 * the engine, so the kernel must not decide past rule 0 for it.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>

#include "base/err.h"
#include "linux/bpf/fp_shared.h"
#include "linux/fastpath_internal.h"

/* The BPF object sees the same structs; they must have no hidden padding
 * (keys are hashed and lists compared byte for byte). */
_Static_assert(sizeof(struct fp_entry) == 32, "struct fp_entry has padding");
_Static_assert(sizeof(struct fp_app_key) == 16, "struct fp_app_key has padding");
_Static_assert(sizeof(struct fp_list) == 8, "struct fp_list has padding");

/* ---- prefixes --------------------------------------------------------------------- */

static unsigned family_bits(uint8_t family)
{
	return family == 4 ? 32 : 128;
}

static void prefix_mask(struct ag_fp_prefix *p)
{
	unsigned total = family_bits(p->family) / 8;

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = i * 8;

		if (i >= total || bits >= p->plen)
			p->addr.b[i] = 0;
		else if (p->plen - bits < 8)
			p->addr.b[i] &= (uint8_t)(0xff << (8 - (p->plen - bits)));
	}
}

/* Does q hold every address of n?  (same family, shorter or equal, same bits) */
bool ag__fp_prefix_holds(const struct ag_fp_prefix *q, const struct ag_fp_prefix *n)
{
	unsigned bytes, bits;

	if (q->family != n->family || q->plen > n->plen)
		return false;
	bytes = q->plen / 8;
	bits = q->plen % 8;
	if (memcmp(q->addr.b, n->addr.b, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - bits));

	return (q->addr.b[bytes] & m) == (n->addr.b[bytes] & m);
}

static bool prefix_valid(const struct ag_fp_prefix *p)
{
	return (p->family == 4 || p->family == 6) && p->plen <= family_bits(p->family);
}

static int prefix_cmp(const struct ag_fp_prefix *a, const struct ag_fp_prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen > b->plen ? -1 : 1; /* longer first */
	return memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b));
}

/* ---- compile state --------------------------------------------------------------- */

/* One rule placed in one bucket. */
struct item {
	uint32_t bucket;
	uint32_t rule;
	struct fp_entry e;
	uint32_t pfx, npfx;	/* into cc.pfx */
};

struct app {
	struct ag_fp_exe exe;
	const char *path;
	bool ambiguous;		/* one identity, two paths: the kernel cannot tell */
	uint32_t bucket;
};

struct cc {
	struct app *apps;
	size_t napps, capapps;
	struct item *items;
	size_t nitems, capitems;
	struct ag_fp_prefix *pfx;
	size_t npfx, cappfx;
	/* output */
	struct ag_fp_image *img;
	size_t capnodes, capentries;
	/* list dedup: open addressing on (hash, start, len) */
	uint64_t *dhash;
	uint32_t *dstart, *dlen;
	size_t dcap;
	char *err;
	size_t errlen;
};

int ag__fp_grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;

	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);

	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int app_add(struct cc *c, const struct ag_fp_exe *exe, const char *path)
{
	for (size_t i = 0; i < c->napps; i++) {
		struct app *a = &c->apps[i];

		if (a->exe.dev == exe->dev && a->exe.ino == exe->ino) {
			if (strcmp(a->path, path) != 0)
				a->ambiguous = true;
			return 0;
		}
	}
	if (ag__fp_grow((void **)&c->apps, &c->capapps, c->napps + 1, sizeof(*c->apps)))
		return -ENOMEM;
	c->apps[c->napps++] = (struct app){ .exe = *exe, .path = path };
	return 0;
}

static int app_cmp(const void *a, const void *b)
{
	const struct app *x = a, *y = b;

	if (x->exe.dev != y->exe.dev)
		return x->exe.dev < y->exe.dev ? -1 : 1;
	if (x->exe.ino != y->exe.ino)
		return x->exe.ino < y->exe.ino ? -1 : 1;
	return 0;
}

static int pfx_push(struct cc *c, const struct ag_fp_prefix *p)
{
	if (ag__fp_grow((void **)&c->pfx, &c->cappfx, c->npfx + 1, sizeof(*c->pfx)))
		return -ENOMEM;
	c->pfx[c->npfx] = *p;
	prefix_mask(&c->pfx[c->npfx]);
	c->npfx++;
	return 0;
}

/*
 * The rule's address set, appended to c->pfx.  Returns how many (0: the
 * rule matches no address at all) or -ENOMEM.
 */
static int rule_prefixes(struct cc *c, const struct ag_fp_rule *r)
{
	size_t before = c->npfx;
	bool v4 = !(r->has & AG_FP_HAS_FAMILY) || r->family == 4;
	bool v6 = !(r->has & AG_FP_HAS_FAMILY) || r->family == 6;
	/* A barrier's host condition is unknown: any address may match. */
	bool host = (r->has & AG_FP_HAS_HOST) && r->evaluable;

	if (host) {
		for (size_t i = 0; i < r->nhost_addrs; i++) {
			struct ag_fp_prefix h = r->host_addrs[i];

			if ((h.family == 4 && !v4) || (h.family == 6 && !v6))
				continue;
			prefix_mask(&h);
			if (!(r->has & AG_FP_HAS_REMOTE)) {
				if (pfx_push(c, &h))
					return -ENOMEM;
				continue;
			}
			/* Both: the intersection, prefix by prefix. */
			for (size_t j = 0; j < r->nremote; j++) {
				struct ag_fp_prefix q = r->remote[j];

				prefix_mask(&q);
				if (ag__fp_prefix_holds(&q, &h)) {
					if (pfx_push(c, &h))
						return -ENOMEM;
				} else if (ag__fp_prefix_holds(&h, &q)) {
					if (pfx_push(c, &q))
						return -ENOMEM;
				}
			}
		}
	} else if (r->has & AG_FP_HAS_REMOTE) {
		for (size_t j = 0; j < r->nremote; j++) {
			if ((r->remote[j].family == 4 && !v4) || (r->remote[j].family == 6 && !v6))
				continue;
			if (pfx_push(c, &r->remote[j]))
				return -ENOMEM;
		}
	} else {
		struct ag_fp_prefix any = { .family = 4 };

		if (v4 && pfx_push(c, &any))
			return -ENOMEM;
		any.family = 6;
		if (v6 && pfx_push(c, &any))
			return -ENOMEM;
	}
	return (int)(c->npfx - before);
}

static int item_add(struct cc *c, uint32_t bucket, uint32_t rule, const struct fp_entry *e,
		    uint32_t pfx, uint32_t npfx)
{
	if (ag__fp_grow((void **)&c->items, &c->capitems, c->nitems + 1, sizeof(*c->items)))
		return -ENOMEM;
	c->items[c->nitems++] = (struct item){ bucket, rule, *e, pfx, npfx };
	return 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int check_rule(const struct ag_fp_rule *r, size_t i, char *err, size_t len)
{
	if (r->verdict != AG_FP_PASS && r->verdict != AG_FP_ALLOW && r->verdict != AG_FP_DENY) {
		ag_seterr(err, len, "rule %zu (id %llu): verdict %d is none of pass, allow, deny", i,
		       (unsigned long long)r->id, (int)r->verdict);
		return -EINVAL;
	}
	/* A path that is not absolute is no error: no process has it, so the
	 * rule matches no program the kernel knows (and is a barrier for the
	 * unknown ones, like any application rule). */
	if ((r->has & AG_FP_HAS_APP) && !r->app) {
		ag_seterr(err, len, "rule %zu (id %llu): application condition without a path", i,
		       (unsigned long long)r->id);
		return -EINVAL;
	}
	if ((r->has & AG_FP_HAS_UID) && r->uid_lo > r->uid_hi) {
		ag_seterr(err, len, "rule %zu (id %llu): uid range %u-%u is reversed", i,
		       (unsigned long long)r->id, r->uid_lo, r->uid_hi);
		return -EINVAL;
	}
	if ((r->has & AG_FP_HAS_PORT) && r->port_lo > r->port_hi) {
		ag_seterr(err, len, "rule %zu (id %llu): port range %u-%u is reversed", i,
		       (unsigned long long)r->id, r->port_lo, r->port_hi);
		return -EINVAL;
	}
	if ((r->has & AG_FP_HAS_FAMILY) && r->family != 4 && r->family != 6) {
		ag_seterr(err, len, "rule %zu (id %llu): IP version %u is neither 4 nor 6", i,
		       (unsigned long long)r->id, r->family);
		return -EINVAL;
	}
	for (size_t j = 0; (r->has & AG_FP_HAS_REMOTE) && j < r->nremote; j++)
		if (!r->remote || !prefix_valid(&r->remote[j])) {
			ag_seterr(err, len, "rule %zu (id %llu): remote prefix %zu has family %u, length %u",
			       i, (unsigned long long)r->id, j, r->remote ? r->remote[j].family : 0,
			       r->remote ? r->remote[j].plen : 0);
			return -EINVAL;
		}
	for (size_t j = 0; (r->has & AG_FP_HAS_HOST) && j < r->nhost_addrs; j++)
		if (!r->host_addrs || !prefix_valid(&r->host_addrs[j])) {
			ag_seterr(err, len, "rule %zu (id %llu): host address %zu has family %u, length %u",
			       i, (unsigned long long)r->id, j,
			       r->host_addrs ? r->host_addrs[j].family : 0,
			       r->host_addrs ? r->host_addrs[j].plen : 0);
			return -EINVAL;
		}
	return 0;
}

/* Put rule i in its buckets. */
static int place_rule(struct cc *c, const struct ag_fp_rule *r, uint32_t i)
{
	struct fp_entry e;
	uint32_t pfx = (uint32_t)c->npfx;
	int n;

	/* Only TCP and UDP reach the hooks: a rule on another protocol never
	 * matches there, and drops out. */
	if ((r->has & AG_FP_HAS_PROTO) && r->proto != 6 && r->proto != 17)
		return 0;
	n = rule_prefixes(c, r);
	if (n < 0)
		return n;
	if (n == 0)
		return 0;	/* e.g. a host with no known address: matches nothing */

	memset(&e, 0, sizeof(e));
	e.rule = i;
	e.uid_lo = (r->has & AG_FP_HAS_UID) ? r->uid_lo : 0;
	e.uid_hi = (r->has & AG_FP_HAS_UID) ? r->uid_hi : UINT32_MAX;
	e.port_lo = (r->has & AG_FP_HAS_PORT) ? r->port_lo : 0;
	e.port_hi = (r->has & AG_FP_HAS_PORT) ? r->port_hi : 65535;
	e.proto = (r->has & AG_FP_HAS_PROTO) ? r->proto : 0;
	e.verdict = r->evaluable ? (uint8_t)r->verdict : FP_PASS;
	e.expires_ns = r->expires_ns;

	if (!(r->has & AG_FP_HAS_APP))
		return item_add(c, FP_BUCKET_ANY, i, &e, pfx, (uint32_t)n);

	/* Executables the rules name: the rule is exact there. */
	for (size_t k = 0; k < c->napps; k++) {
		const struct app *a = &c->apps[k];
		bool match = r->app_glob ? fnmatch(r->app, a->path, 0) == 0
					 : strcmp(r->app, a->path) == 0;

		if (!a->ambiguous && match && item_add(c, a->bucket, i, &e, pfx, (uint32_t)n))
			return -ENOMEM;
	}
	/* Any other executable could be this one under a new inode. */
	e.verdict = FP_PASS;
	return item_add(c, FP_BUCKET_UNKNOWN, i, &e, pfx, (uint32_t)n);
}

static bool unconditional(const struct fp_entry *e)
{
	return !e->proto && !e->port_lo && e->port_hi == 65535 && !e->uid_lo &&
	       e->uid_hi == UINT32_MAX && !e->expires_ns;
}

static uint64_t list_hash(const struct fp_entry *v, size_t n)
{
	const unsigned char *p = (const unsigned char *)v;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n * sizeof(*v); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h | 1; /* 0 marks a free slot */
}

/* Append a list of entries (deduplicated), returning where it lives. */
static int list_emit(struct cc *c, const struct fp_entry *v, uint32_t n, struct fp_list *out)
{
	struct ag_fp_image *img = c->img;
	uint64_t h = list_hash(v, n);
	size_t s = h & (c->dcap - 1);

	for (; c->dhash[s]; s = (s + 1) & (c->dcap - 1))
		if (c->dhash[s] == h && c->dlen[s] == n &&
		    memcmp(&img->entries[c->dstart[s]], v, n * sizeof(*v)) == 0) {
			out->start = c->dstart[s];
			out->len = n;
			return 0;
		}
	if (img->nentries + n > FP_MAX_ENTRIES) {
		ag_seterr(c->err, c->errlen, "more than %u compiled entries", FP_MAX_ENTRIES);
		return -E2BIG;
	}
	if (ag__fp_grow((void **)&img->entries, &c->capentries, img->nentries + n, sizeof(*v)))
		return -ENOMEM;
	memcpy(&img->entries[img->nentries], v, n * sizeof(*v));
	out->start = (uint32_t)img->nentries;
	out->len = n;
	img->nentries += n;
	c->dhash[s] = h;
	c->dstart[s] = out->start;
	c->dlen[s] = n;
	return 0;
}

static int node_add(struct cc *c, uint32_t bucket, const struct ag_fp_prefix *p,
		    const struct fp_list *l)
{
	struct ag_fp_image *img = c->img;

	if (img->nnodes >= FP_MAX_NODES) {
		ag_seterr(c->err, c->errlen, "more than %u address prefixes", FP_MAX_NODES);
		return -E2BIG;
	}
	if (img->nnodes == c->capnodes) {
		size_t cap = c->capnodes;

		if (ag__fp_grow((void **)&img->node_keys, &cap, img->nnodes + 1, sizeof(*img->node_keys)))
			return -ENOMEM;
		cap = c->capnodes;
		if (ag__fp_grow((void **)&img->node_vals, &cap, img->nnodes + 1, sizeof(*img->node_vals)))
			return -ENOMEM;
		c->capnodes = cap;
	}
	struct fp_lpm_key *k = &img->node_keys[img->nnodes];

	memset(k, 0, sizeof(*k));
	k->prefixlen = FP_LPM_FIXED_BITS + p->plen;
	k->bucket = bucket;
	k->family = p->family;
	memcpy(k->addr, p->addr.b, sizeof(k->addr));
	img->node_vals[img->nnodes++] = *l;
	return 0;
}

static int pfx_sort_cmp(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

/* Past this many prefixes in a bucket, items are looked up by length. */
#define ITEM_INDEX_MIN	256

/* The prefix lengths an item holds, per family (bit = length). */
struct item_lens {
	uint64_t bits[2][3];
};

/* Sort the item's prefixes (its own range of c->pfx; their order does not
 * matter, they are ORed) and note their lengths. */
static void item_index(struct cc *c, const struct item *it, struct item_lens *l)
{
	qsort(&c->pfx[it->pfx], it->npfx, sizeof(c->pfx[0]), pfx_sort_cmp);
	for (uint32_t j = 0; j < it->npfx; j++) {
		const struct ag_fp_prefix *p = &c->pfx[it->pfx + j];

		l->bits[p->family == 6][p->plen / 64] |= 1ull << (p->plen % 64);
	}
}

/* Does one of the item's prefixes hold np?  Each length the item has, up
 * to np's, is one binary search for np cut to that length. */
static bool item_holds(const struct cc *c, const struct item *it, const struct item_lens *l,
		       const struct ag_fp_prefix *np)
{
	const uint64_t *bits = l->bits[np->family == 6];

	for (unsigned len = 0; len <= np->plen; len++) {
		struct ag_fp_prefix q;

		if (!(bits[len / 64] & (1ull << (len % 64))))
			continue;
		q = *np;
		q.plen = (uint8_t)len;
		prefix_mask(&q);
		if (bsearch(&q, &c->pfx[it->pfx], it->npfx, sizeof(q), pfx_sort_cmp))
			return true;
	}
	return false;
}

/*
 * One bucket: items[lo, hi) in rule order.  A node for every distinct
 * prefix; its list is every item with a prefix holding it.
 */
static int compile_bucket(struct cc *c, size_t lo, size_t hi, struct fp_entry *scratch)
{
	uint32_t bucket = c->items[lo].bucket;
	size_t nodes = 0;
	struct ag_fp_prefix *uniq;
	struct item_lens *lens = NULL;
	int r = 0;

	for (size_t i = lo; i < hi; i++)
		nodes += c->items[i].npfx;
	uniq = malloc(nodes * sizeof(*uniq));
	if (!uniq)
		return -ENOMEM;
	nodes = 0;
	for (size_t i = lo; i < hi; i++)
		for (uint32_t j = 0; j < c->items[i].npfx; j++)
			uniq[nodes++] = c->pfx[c->items[i].pfx + j];
	qsort(uniq, nodes, sizeof(*uniq), pfx_sort_cmp);
	/* Rules with many prefixes (address lists): look each node up by
	 * length instead of reading every prefix, or a list of 100,000
	 * addresses would cost 10^10 comparisons. */
	if (nodes > ITEM_INDEX_MIN) {
		lens = calloc(hi - lo, sizeof(*lens));
		if (!lens) {
			free(uniq);
			return -ENOMEM;
		}
		for (size_t i = lo; i < hi; i++)
			item_index(c, &c->items[i], &lens[i - lo]);
	}

	for (size_t u = 0; u < nodes && !r; u++) {
		const struct ag_fp_prefix *np = &uniq[u];
		uint32_t n = 0;
		struct fp_list l;

		if (u && prefix_cmp(np, &uniq[u - 1]) == 0)
			continue;
		for (size_t i = lo; i < hi; i++) {
			const struct item *it = &c->items[i];
			bool holds = false;

			if (lens)
				holds = item_holds(c, it, &lens[i - lo], np);
			else
				for (uint32_t j = 0; j < it->npfx && !holds; j++)
					holds = ag__fp_prefix_holds(&c->pfx[it->pfx + j], np);
			if (!holds)
				continue;
			if (n == FP_SCAN_MAX - 1) {
				/* The kernel reads at most FP_SCAN_MAX: whatever
				 * comes later is unknown to it, so it falls through. */
				memset(&scratch[n], 0, sizeof(scratch[n]));
				scratch[n].rule = it->rule;
				scratch[n].uid_hi = UINT32_MAX;
				scratch[n].port_hi = 65535;
				scratch[n].verdict = FP_PASS;
				n++;
				c->img->truncated++;
				break;
			}
			scratch[n++] = it->e;
			/* Nothing after an entry that always matches is ever read. */
			if (unconditional(&it->e))
				break;
		}
		r = list_emit(c, scratch, n, &l);
		if (!r)
			r = node_add(c, bucket, np, &l);
	}
	free(lens);
	free(uniq);
	return r;
}

static int node_cmp(const void *a, const void *b)
{
	const struct fp_lpm_key *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->prefixlen != y->prefixlen)
		return x->prefixlen > y->prefixlen ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Sort nodes (keys and values together) for the user-space lookup. */
static int sort_nodes(struct ag_fp_image *img)
{
	struct pair {
		struct fp_lpm_key k;
		struct fp_list v;
	} *p = malloc((img->nnodes ? img->nnodes : 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < img->nnodes; i++)
		p[i] = (struct pair){ img->node_keys[i], img->node_vals[i] };
	qsort(p, img->nnodes, sizeof(*p), node_cmp);
	for (size_t i = 0; i < img->nnodes; i++) {
		img->node_keys[i] = p[i].k;
		img->node_vals[i] = p[i].v;
	}
	free(p);
	return 0;
}

void ag_fp_image_free(struct ag_fp_image *img)
{
	if (!img)
		return;
	free(img->app_keys);
	free(img->app_vals);
	free(img->node_keys);
	free(img->node_vals);
	free(img->entries);
	free(img);
}

int ag_fp_compile(const struct ag_fp_rule *rules, size_t n, struct ag_fp_image **out,
		  char *err, size_t errlen)
{
	struct cc c = { .err = err, .errlen = errlen };
	struct fp_entry *scratch = NULL;
	int r = -ENOMEM;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (n > AG_FP_MAX_RULES) {
		ag_seterr(err, errlen, "%zu rules, more than %u", n, AG_FP_MAX_RULES);
		return -E2BIG;
	}
	for (size_t i = 0; i < n; i++)
		if ((r = check_rule(&rules[i], i, err, errlen)))
			return r;
	r = -ENOMEM;
	c.img = calloc(1, sizeof(*c.img));
	scratch = malloc(FP_SCAN_MAX * sizeof(*scratch));
	if (!c.img || !scratch)
		goto out;
	c.img->nrules = n;

	/* Executables the exact rules name, each with its own bucket. */
	for (size_t i = 0; i < n; i++) {
		const struct ag_fp_rule *ru = &rules[i];

		if ((ru->has & AG_FP_HAS_APP) && !ru->app_glob && ru->exe.known &&
		    app_add(&c, &ru->exe, ru->app))
			goto out;
	}
	if (c.napps > FP_MAX_APPS) {
		ag_seterr(err, errlen, "%zu executables named, more than %u", c.napps, FP_MAX_APPS);
		r = -E2BIG;
		goto out;
	}
	if (c.napps)
		qsort(c.apps, c.napps, sizeof(*c.apps), app_cmp);
	c.img->app_keys = calloc(c.napps ? c.napps : 1, sizeof(*c.img->app_keys));
	c.img->app_vals = calloc(c.napps ? c.napps : 1, sizeof(*c.img->app_vals));
	if (!c.img->app_keys || !c.img->app_vals)
		goto out;
	for (size_t i = 0; i < c.napps; i++) {
		struct app *a = &c.apps[i];

		if (a->ambiguous)
			continue;
		a->bucket = FP_BUCKET_FIRST_APP + (uint32_t)c.img->napps;
		c.img->app_keys[c.img->napps] = (struct fp_app_key){ .ino = a->exe.ino,
								       .dev = a->exe.dev };
		c.img->app_vals[c.img->napps].bucket = a->bucket;
		c.img->napps++;
	}

	for (size_t i = 0; i < n; i++)
		if ((r = place_rule(&c, &rules[i], (uint32_t)i)))
			goto out;
	if (c.nitems)
		qsort(c.items, c.nitems, sizeof(*c.items), item_cmp);

	size_t total = 0;

	for (size_t i = 0; i < c.nitems; i++)
		total += c.items[i].npfx;
	for (c.dcap = 64; c.dcap < 2 * total; c.dcap *= 2)
		;
	c.dhash = calloc(c.dcap, sizeof(*c.dhash));
	c.dstart = calloc(c.dcap, sizeof(*c.dstart));
	c.dlen = calloc(c.dcap, sizeof(*c.dlen));
	r = -ENOMEM;
	if (!c.dhash || !c.dstart || !c.dlen)
		goto out;
	r = 0;
	for (size_t lo = 0; lo < c.nitems && !r;) {
		size_t hi = lo + 1;

		while (hi < c.nitems && c.items[hi].bucket == c.items[lo].bucket)
			hi++;
		r = compile_bucket(&c, lo, hi, scratch);
		lo = hi;
	}
	if (!r)
		r = sort_nodes(c.img);
out:
	if (r == -ENOMEM)
		ag_seterr(err, errlen, "out of memory");
	if (r) {
		ag_fp_image_free(c.img);
		c.img = NULL;
	}
	*out = c.img;
	free(scratch);
	free(c.apps);
	free(c.items);
	free(c.pfx);
	free(c.dhash);
	free(c.dstart);
	free(c.dlen);
	return r;
}

void ag_fp_image_info(const struct ag_fp_image *img, struct ag_fp_image_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!img)
		return;
	out->rules = img->nrules;
	out->apps = img->napps;
	out->nodes = img->nnodes;
	out->entries = img->nentries;
	out->truncated = img->truncated;
}
