/*
 * lib/engine/internal.h — the engine's private structures.
 *
 * Everything here is C11 and libc; no OS header.  Names with the ag__ prefix
 * are shared between the engine's files and nowhere else.
 *
 * Ownership in one picture:
 *
 *   ag_engine ─┬─ flows: pool of struct ag__flow (handle = generation|slot),
 *              │          hash by 5-tuple, age list (oldest first)
 *              ├─ pends: pool of struct ag__pend (context = generation|slot)
 *              ├─ filters: id map, per-layer index (struct ag__index)
 *              ├─ sublayers, callouts (small arrays)
 *              ├─ deadlines: one binary heap of struct ag__timer (pend
 *              │            deadlines, timed filters, blocked-flow memory)
 *              ├─ strings: interned, reference counted (paths, hosts)
 *              └─ events: ring of struct ag_event
 */
#ifndef ALEGATE_ENGINE_INTERNAL_H
#define ALEGATE_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <threads.h>

#include "alegate/engine.h"
#include "base/hash.h"

#define AG__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define AG__CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- a map from uint64 to uint64 (open addressing) ---------------------- */

struct ag__u64map {
	uint64_t *keys;  /* 0 marks an empty slot: keys must be nonzero */
	uint64_t *vals;
	uint32_t cap;    /* power of two */
	uint32_t len;
};

int ag__u64map_put(struct ag__u64map *m, uint64_t key, uint64_t val);
bool ag__u64map_get(const struct ag__u64map *m, uint64_t key, uint64_t *val);
bool ag__u64map_del(struct ag__u64map *m, uint64_t key);
void ag__u64map_fini(struct ag__u64map *m);

/* ---- filters by id: a set of filter pointers, keyed by their own id ------- */

struct ag_filter;
struct ag__fmap {
	struct ag_filter **slots; /* NULL marks an empty slot; the key is slots[i]->id */
	uint32_t cap;             /* grows by half (util.c) */
	uint32_t len;
};

int ag__fmap_put(struct ag__fmap *m, struct ag_filter *f);  /* f->id not in m yet */
struct ag_filter *ag__fmap_get(const struct ag__fmap *m, uint64_t id);
bool ag__fmap_del(struct ag__fmap *m, uint64_t id);
void ag__fmap_fini(struct ag__fmap *m);

/* ---- interned strings --------------------------------------------------- */

struct ag__str {
	struct ag__str *next;  /* hash chain */
	uint64_t hash;
	uint32_t refs;
	uint32_t len;
	char s[];
};

struct ag__strtab {
	struct ag__str **buckets;
	uint32_t nbuckets;     /* power of two */
	uint32_t len;
	size_t bytes;
};

/* A reference to the interned copy of s (NULL for NULL); NULL + errno on ENOMEM. */
struct ag__str *ag__str_get(ag_engine *e, const char *s);
struct ag__str *ag__str_ref(struct ag__str *str);
void ag__str_put(ag_engine *e, struct ag__str *str);
static inline const char *ag__str_c(const struct ag__str *str)
{
	return str ? str->s : NULL;
}

/* ---- deadlines ------------------------------------------------------- */

enum ag__timer_kind {
	AG__TIMER_PEND = 1,     /* struct ag__pend.timer: S10 */
	AG__TIMER_FILTER,       /* struct ag_filter.timer: S15 timed filter */
	AG__TIMER_BLOCKED,      /* struct ag__flow.timer: forget a blocked flow */
};

struct ag__timer {
	uint64_t when;
	uint32_t heap_idx;      /* position + 1 in the heap; 0 = not armed */
	uint8_t kind;
};

int ag__timer_arm(ag_engine *e, struct ag__timer *t, uint64_t when);
void ag__timer_disarm(ag_engine *e, struct ag__timer *t);

/* ---- filters ----------------------------------------------------------- */

struct ag__cond {
	uint8_t field;   /* ag_field */
	uint8_t match;   /* ag_match */
	uint8_t ip_version, plen;
	/* one of these, by match and field (ag__cond_str() says when str): a
	 * condition is on one field, so its value is one of them (24 bytes a
	 * condition, not 32: a rule's every value is one) */
	union {
		struct {
			uint32_t lo, hi; /* EQUAL numbers (lo), RANGE, FLAGS (lo) */
		};
		ag_addr addr;           /* LOCAL_ADDR, REMOTE_ADDR */
		struct ag__str *str;    /* APP_PATH, REMOTE_HOST, APP_SHA256 */
		struct {                /* AG_MATCH_SET: the caller's set and its test */
			const void *set;
			bool (*contains)(const void *set, const ag_fixed_values *in);
		};
	};
};

/* The interned string a condition holds, or NULL when its value is not one. */
static inline struct ag__str *ag__cond_str(const struct ag__cond *c)
{
	if (c->match == AG_MATCH_SET)
		return NULL;
	switch (c->field) {
	case AG_FIELD_APP_PATH:
	case AG_FIELD_REMOTE_HOST:
	case AG_FIELD_APP_SHA256:
		return c->str;
	default:
		return NULL;
	}
}

struct ag__sublayer {
	uint32_t id;
	uint16_t weight;
	uint32_t nfilters;
	struct ag__str *name;
};

/*
 * A filter and its conditions are one allocation: at 100,000 rules of two
 * filters each, every 8 bytes here are 1.6 MB.  What only some filters
 * need (a callout's name, the lifetime fields of a SESSION or TIMED
 * filter) is in a struct ag__fextra after the conditions, in those
 * filters' allocations alone.  Every filter of a layer is found through
 * e->filter_ids (no list of its own).
 */
struct ag_filter {
	/* 64-bit fields first, then narrower ones: no padding between them */
	uint64_t id;
	uint64_t context;
	struct ag__str *name;
	/* where the index put it, to take it out: the bucket when it is in
	 * one (most are), else an array of its nbuckets buckets */
	union {
		struct ag__ibucket *bucket1;  /* nbuckets == 1 */
		struct ag__ibucket **bucketv; /* nbuckets > 1 */
	};
	uint32_t flags;
	uint32_t weight;
	uint32_t sublayer;
	uint16_t sublayer_weight; /* copied so ordering needs no lookup */
	uint16_t nconds;
	uint16_t nalloc;         /* conditions the allocation holds (ag__filter_size) */
	uint16_t nbuckets;
	uint8_t layer;
	uint8_t action;          /* ag_action_type */
	uint8_t lifetime;        /* ag_lifetime */
	bool in_wildcard : 1;
	bool has_extra : 1;      /* a struct ag__fextra follows the conditions */
	struct ag__cond conds[]; /* sorted by field */
};

/* The part of a callout filter, a SESSION or TIMED filter (or one given a
 * session) that others do without. */
struct ag__fextra {
	struct ag_filter *f;     /* whose (the timer finds its filter by this) */
	struct ag__str *callout; /* CALLOUT_* actions */
	uint64_t session;
	uint64_t expires_ns;
	/* the other filters of its session (SESSION lifetime), newest first */
	struct ag_filter *sprev, *snext;
	struct ag__timer timer;  /* TIMED */
};

/* One allocation holds a filter, its @n conditions and (@extra) its
 * struct ag__fextra. */
static inline size_t ag__filter_size(size_t n, bool extra)
{
	return sizeof(struct ag_filter) + n * sizeof(struct ag__cond) +
	       (extra ? sizeof(struct ag__fextra) : 0);
}

static inline size_t ag__filter_alloc_size(const struct ag_filter *f)
{
	return ag__filter_size(f->nalloc, f->has_extra);
}

/* f's struct ag__fextra, or NULL when it has none. */
static inline struct ag__fextra *ag__filter_extra(const struct ag_filter *f)
{
	if (!f->has_extra)
		return NULL;
	return (struct ag__fextra *)(void *)((char *)(uintptr_t)f + ag__filter_size(f->nalloc, false));
}

/* The interned name of f's callout, NULL for other actions. */
static inline struct ag__str *ag__filter_callout(const struct ag_filter *f)
{
	const struct ag__fextra *x = ag__filter_extra(f);

	return x ? x->callout : NULL;
}

static inline uint64_t ag__filter_session(const struct ag_filter *f)
{
	const struct ag__fextra *l = ag__filter_extra(f);

	return l ? l->session : 0;
}

static inline uint64_t ag__filter_expires(const struct ag_filter *f)
{
	const struct ag__fextra *l = ag__filter_extra(f);

	return l ? l->expires_ns : 0;
}

/* The layers f applies at, as a mask of 1 << ag_layer: its own, and
 * RECV_ACCEPT too for a CONNECT filter with AG_FILTER_FLAG_ALSO_RECV_ACCEPT. */
static inline uint32_t ag__filter_layers(const struct ag_filter *f)
{
	uint32_t m = 1u << f->layer;

	if (f->flags & AG_FILTER_FLAG_ALSO_RECV_ACCEPT)
		m |= 1u << AG_LAYER_ALE_AUTH_RECV_ACCEPT;
	return m;
}

/* Evaluation order: sublayer weight desc, filter weight desc, id asc. */
static inline bool ag__filter_before(const struct ag_filter *a, const struct ag_filter *b)
{
	if (a->sublayer_weight != b->sublayer_weight)
		return a->sublayer_weight > b->sublayer_weight;
	if (a->weight != b->weight)
		return a->weight > b->weight;
	return a->id < b->id;
}

/*
 * One filter in a bucket of the index, with what ordering and arbitration
 * need copied in, so that merging buckets and skipping a decided sublayer
 * read no filter.  Evaluation order is (ord, id) ascending.
 */
struct ag__ient {
	uint64_t ord;      /* (0xffff - sublayer weight) << 32 | (0xffffffff - weight) */
	uint64_t id;
	struct ag_filter *f;
	uint32_t sublayer;
	uint8_t layers;    /* ag__filter_layers(f): the two ALE auth layers share an index */
};

static inline uint64_t ag__filter_ord(const struct ag_filter *f)
{
	return (uint64_t)(0xffffu - f->sublayer_weight) << 32 | (uint32_t)~f->weight;
}

/*
 * A bucket of the index: filters sharing one key, in evaluation order.
 * Most buckets of a large ruleset hold one filter: it is in the bucket
 * (56 bytes, one malloc chunk of 64); more go to an array (ag__bucket_v()).
 */
struct ag__ibucket {
	struct ag__ibucket *next; /* hash chain */
	uint64_t hash;
	uint32_t len;
	uint8_t cap_log2;         /* room for 1 << cap_log2; 0: the one in-line */
	uint8_t fields;           /* AG__IX_* bits of the key's parts */
	uint8_t pver, pplen;      /* its address part's IP version and length; 0: none */
	union {
		struct ag__ient one;   /* cap_log2 == 0 */
		struct ag__ient *many; /* cap_log2 > 0 */
	};
};

/* The entries of bucket @b, len of them. */
static inline struct ag__ient *ag__bucket_v(const struct ag__ibucket *b)
{
	return b->cap_log2 ? b->many : (struct ag__ient *)(uintptr_t)&b->one;
}

/* The fields the index looks up exactly, as bits of a key's field set. */
enum { AG__IX_APP = 1, AG__IX_HOST = 2, AG__IX_ADDR = 4, AG__IX_PORT = 8 };

/*
 * The per-layer index; CONNECT and RECV_ACCEPT share one (ag__index_of()),
 * so that a filter of both layers is filed once, and each entry says which
 * of them its filter applies at.  A filter is filed under the conditions
 * whose every alternative can be looked up exactly: application path, host
 * name (exact or suffix), remote prefix, remote port or port range (or,
 * without those, service port or range: an inbound flow's local port is
 * looked up too while the index holds some).  It goes under a
 * pair of them when it has two (the application and the place, usually),
 * so that "this program to that host" is found by the program and the host
 * together, not among every rule of the program; under one when it has one;
 * a filter with none goes to the wildcard list, which every classify reads.
 * A classify looks up each key shape in use (field pair or single field)
 * with the flow's values, and merges the few buckets it finds, each already
 * in evaluation order.
 */
struct ag__index {
	struct ag__ibucket **tab;
	uint32_t ntab;     /* power of two */
	uint32_t nbuckets;
	struct ag__ibucket *wildcard; /* not in tab */
	/* prefix lengths in use per IP version, with how many buckets use each */
	uint32_t plen_refs[2][129];
	uint64_t plen_mask[2][3];     /* bit set = some bucket uses that length */
	uint32_t shape_refs[16];      /* buckets per key shape (set of AG__IX_* fields) */
	uint32_t nfilters;
	uint32_t nservice;            /* filters with an AG_FIELD_SERVICE_PORT condition */
	/*
	 * One bit per hash value (mod its size, 16 bits per table slot) of every
	 * key filed: most lookups of a classify find nothing, and this answers
	 * "nothing" from a small array instead of a cache miss into the table.
	 * Rebuilt when the table grows; bits of dropped buckets stay set until
	 * then (a false "maybe", checked in the table).
	 */
	uint64_t *bloom;
	uint32_t bloom_words; /* power of two */
};

int ag__index_add(ag_engine *e, struct ag__index *ix, struct ag_filter *f);
void ag__index_del(ag_engine *e, struct ag__index *ix, struct ag_filter *f);
void ag__index_fini(struct ag__index *ix);

/* Collect the candidate filters for `in` into e->cand (evaluation order, each once).
 * In the shared index, these are of both ALE auth layers: the caller passes
 * over the entries whose `layers` lack the one it classifies at. */
int ag__index_candidates(ag_engine *e, const struct ag__index *ix, const ag_fixed_values *in);

bool ag__filter_matches(const struct ag_filter *f, const ag_fixed_values *in);
/* condition.c */
/* a rule of six fields with 64 values each, and its resolvers, fits */
#define AG__MAX_CONDITIONS 512
int ag__cond_compile(ag_engine *e, const ag_condition *c, struct ag__cond *out);
/* Lower-case a host name without its trailing dot; -EINVAL if it is not one. */
int ag__host_normalize(const char *in, char *out, size_t len);
/* Clear the bits of an address past plen. */
void ag__addr_mask(uint8_t *bytes, unsigned plen, unsigned total_bytes);
/* sublayer.c */
struct ag__sublayer *ag__sublayer_find(ag_engine *e, uint32_t id);
void ag__filter_free(ag_engine *e, struct ag_filter *f);
void ag__filter_expire(ag_engine *e, struct ag_filter *f);

/* ---- callouts ---------------------------------------------------------- */

struct ag__callout {
	ag_callout c;
	struct ag__str *name;
	bool has_timeout;        /* pend deadline of its own, else the engine's */
	uint64_t timeout_ns;     /* 0: none */
};

/* The registered callout with this interned name, or NULL. */
struct ag__callout *ag__callout_find(ag_engine *e, const struct ag__str *name);

/* ---- flows -------------------------------------------------------------- */

struct ag__fctx {
	struct ag__fctx *next;
	struct ag__str *callout;
	uint8_t layer;
	uint64_t value;
};

struct ag__flow {
	struct ag__flow *hnext;        /* hash chain */
	struct ag__flow *aprev, *anext; /* age list, oldest first */
	uint32_t gen;                  /* handle generation */
	uint32_t slot;                 /* pool slot: handle = gen << 32 | slot + 1 */
	uint8_t state;                 /* ag_flow_state */
	uint8_t layer;                 /* CONNECT or RECV_ACCEPT */
	bool reject;
	bool in_use;
	/* fixed values as first classified */
	uint8_t ip_version, protocol, direction;
	uint16_t local_port, remote_port;
	ag_addr local_addr, remote_addr;
	uint32_t interface, uid, gid, flags;
	uint32_t pid;
	struct ag__str *app, *host, *process_path, *cmdline;
	struct ag__str *sha256;	/* app_sha256, kept for reauthorization */
	uint64_t hash;
	uint64_t created_ns, decided_ns;
	uint64_t filter_id;
	struct ag__pend *pend;
	struct ag__fctx *ctx;
	ag_packet *refs;               /* S9: pended data its callout references, in order */
	uint32_t nrefs, caprefs;
	struct ag__timer timer;        /* BLOCKED: when to forget */
};

uint64_t ag__flow_handle(const struct ag__flow *f);
struct ag__flow *ag__flow_from_handle(const ag_engine *e, uint64_t handle);
struct ag__flow *ag__flow_find(const ag_engine *e, const ag_fixed_values *in, uint64_t hash);
uint64_t ag__flow_hash(const ag_engine *e, const ag_fixed_values *in);
struct ag__flow *ag__flow_new(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			      const ag_metadata *meta, uint64_t hash);
/* Forget a flow: callouts' flow_delete, strings, timers.  Not for pended flows. */
void ag__flow_free(ag_engine *e, struct ag__flow *f);
void ag__flow_fixed(const struct ag__flow *f, ag_fixed_values *out);
void ag__flow_info(const ag_engine *e, const struct ag__flow *f, ag_flow_info *out);
void ag__flow_set_state(ag_engine *e, struct ag__flow *f, ag_flow_state state);
bool ag__flow_contexts_of(const ag_engine *e, const struct ag__str *co);
/* Let every referenced packet of a permitted flow go (permit) or drop them. */
void ag__flow_refs_flush(ag_engine *e, struct ag__flow *f, bool permit);
int ag__flow_refs_grow(ag_engine *e, struct ag__flow *f);

/* ---- pended operations ------------------------------------------------------ */

struct ag__pend {
	uint32_t gen;            /* context generation; odd = in use */
	uint32_t slot;
	struct ag__flow *flow;
	struct ag__str *callout; /* who pended */
	uint64_t owner;          /* per-process bound key */
	uint64_t user;           /* per-user bound key */
	struct ag__timer timer;  /* S10 deadline */
	ag_packet first;         /* the held packet that started it */
	bool has_first;
	bool cloned;             /* first is owned by a clone (S8) */
	uint64_t filter_id;      /* the filter whose callout pended */
	uint32_t dropped;        /* packets flushed while pended */
	struct ag__pend *next_free;
};

uint64_t ag__pend_context(const struct ag__pend *p);
struct ag__pend *ag__pend_from_context(const ag_engine *e, uint64_t ctx);
/* End a pended operation with a verdict: release or drop its packets. */
void ag__pend_finish(ag_engine *e, struct ag__pend *p, ag_verdict v, uint64_t filter_id,
		     ag_reason reason);
void ag__pend_fire(ag_engine *e, struct ag__pend *p);
void ag__pend_shutdown(ag_engine *e);
/* Undo a pend made during a classify that then broke the contract (S4). */
void ag__pend_cancel(ag_engine *e, struct ag__pend *p);
/* S9: a packet of a pended flow arrived: its callout references it (HOLD)
 * or it is flushed (BLOCK). */
ag_verdict ag__pend_buffer(ag_engine *e, struct ag__pend *p, const ag_packet *pkt);
/*
 * Complete p (S7, S8).  CONNECT: the reauthorization decides and `recv` is
 * not used.  RECV_ACCEPT: `recv` PERMIT reinjects the held packet as the
 * clone; BLOCK or REJECT drops what is held.
 */
void ag__complete(ag_engine *e, struct ag__pend *p, ag_verdict recv);

/* ---- classify ------------------------------------------------------------- */

/* The result of arbitration over one layer. */
struct ag__decision {
	ag_action_type action;   /* PERMIT, BLOCK or CONTINUE (no decision: default) */
	bool hard;
	bool from_callout;
	bool reject;
	bool absorb;
	bool pended;             /* a callout pended the operation */
	bool veto;
	uint64_t filter_id;
	uint64_t filter_context;
	ag_reason reason;
};

enum {
	AG__CLASSIFY_INITIAL = 1u << 0, /* completion handle present (S3) */
	AG__CLASSIFY_PROBE = 1u << 1,   /* callouts skipped: "would a plain filter decide?" */
};

void ag__arbitrate(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
		   const ag_metadata *meta, struct ag__flow *flow, unsigned how,
		   struct ag__decision *d);

/* Classify a known flow again (S7, S11, S12); returns the verdict. */
ag_verdict ag__reauthorize_flow(ag_engine *e, struct ag__flow *f, ag_reason reason,
				struct ag__decision *d);
void ag__indicate_established(ag_engine *e, struct ag__flow *f);
/* S12b: reauthorize the live flows of the layers in mask, re-examine pended ones. */
void ag__filters_changed(ag_engine *e, uint32_t layer_mask);

static inline ag_verdict ag__decision_verdict(const struct ag__decision *d)
{
	if (d->action == AG_ACTION_BLOCK)
		return d->reject ? AG_VERDICT_REJECT : AG_VERDICT_BLOCK;
	return AG_VERDICT_PERMIT;
}

/* ---- events -------------------------------------------------------------- */

void ag__event(ag_engine *e, ag_event_type type, ag_reason reason, ag_layer layer,
	       ag_verdict verdict, const struct ag__flow *f, uint64_t filter_id,
	       uint32_t count);
void ag__events_fini(ag_engine *e);

/* ---- completion from other threads (queue.c) ---------------------------------- */

struct ag__qent {
	struct ag__qent *next;
	uint64_t ctx;
	uint8_t kind;            /* AG__Q_* */
	uint32_t injector;
	bool has_clone;
	ag_packet clone;
};

enum {
	AG__Q_COMPLETE = 0,  /* ag_complete_operation (ctx, clone) */
	AG__Q_INJECT_CLONE,  /* ag_inject_receive_async (ctx, clone, injector) */
	AG__Q_INJECT_REF,    /* ag_inject_referenced (ctx = flow, clone = ref, injector) */
	AG__Q_DEREF,         /* ag_packet_dereference (ctx = flow, clone = ref) */
};

struct ag__cqueue {
	_Atomic(struct ag__qent *) head; /* newest first */
	atomic_uint_fast64_t queued;
	/* set by the owner before other threads complete */
	void (*wake)(void *arg);
	void *wake_arg;
};

int ag__cqueue_init(struct ag__cqueue *q);
void ag__cqueue_fini(struct ag__cqueue *q);
bool ag__on_owner(const ag_engine *e);
int ag__cqueue_push(ag_engine *e, uint8_t kind, uint64_t ctx, uint32_t injector,
		    const ag_packet *clone);
/* The owner's side of ag_complete_operation / ag_inject_receive_async. */
int ag__complete_operation(ag_engine *e, uint64_t ctx, const ag_packet *clone);
int ag__inject_receive(ag_engine *e, uint64_t injector, uint64_t ctx, const ag_packet *clone);
int ag__inject_referenced(ag_engine *e, uint64_t injector, uint64_t flow, const ag_packet *ref);
int ag__packet_dereference(ag_engine *e, uint64_t flow, const ag_packet *ref);

/* ---- the engine ------------------------------------------------------------ */

#define AG__POOL_CHUNK 1024u

/* The classify in progress: what ag_pend_operation() and ag_packet_clone() check. */
struct ag__cur {
	bool active;
	bool initial;            /* the completion handle is valid (S3) */
	uint8_t layer;
	uint64_t handle;
	struct ag__flow *flow;
	const ag_packet *packet;
	struct ag__pend *pended; /* set by ag_pend_operation */
	bool cloned;
	bool pended_data;        /* classify of a pended flow's later packet (S9) */
	bool referenced;         /* ... which the callout referenced */
	bool bound_drop;         /* ... which `ask` dropped at its bound */
	struct ag__str *callout; /* the callout being called */
};

struct ag_engine {
	ag_engine_config cfg;
	ag_dataplane_ops ops;

	/* flows */
	struct ag__flow **flow_chunks;  /* chunks of AG__POOL_CHUNK */
	uint32_t flow_nchunks;
	uint32_t flow_slots;            /* slots allocated */
	uint32_t *flow_free;            /* free slot stack */
	uint32_t flow_nfree;
	struct ag__flow **fhash;
	uint32_t fhash_cap;             /* power of two */
	uint32_t nflows;
	struct ag__flow *age_first, *age_last;

	/* pended operations */
	struct ag__pend **pend_chunks;
	uint32_t pend_nchunks;
	uint32_t pend_slots;
	struct ag__pend *pend_free;
	uint32_t npended;
	struct ag__u64map pend_owners;  /* owner key -> pended count */

	/* filters */
	struct ag__fmap filter_ids;     /* id -> struct ag_filter * (8 bytes a slot) */
	struct ag__u64map sessions;     /* session -> its newest struct ag_filter * */
	struct ag__index index[AG_LAYER_COUNT];
	uint32_t nfilters;
	uint64_t next_filter_id;
	bool filter_ids_wrapped;        /* next_filter_id went past 2^64 - 1 */
	struct ag__sublayer *sublayers;
	uint32_t nsublayers;
	struct ag__ient *cand;          /* classify scratch: candidates */
	uint32_t ncand, capcand;

	/* callouts */
	struct ag__callout *callouts;
	uint32_t ncallouts;

	/* deadlines */
	struct ag__timer **heap;
	uint32_t heap_len, heap_cap;

	/* strings */
	struct ag__strtab strings;

	/* events */
	ag_event *ring;
	uint32_t ring_size;
	uint64_t event_seq;

	/* transaction */
	bool in_txn;
	uint32_t txn_layers;

	/* the classify in progress (for ag_pend_operation and ag_packet_clone) */
	struct ag__cur cur;

	/* the built-in `log` callout's sink */
	void (*log_fn)(void *arg, ag_layer layer, const ag_fixed_values *in,
		       const ag_metadata *meta);
	void *log_arg;

	/* injection handles (value 1 = live); packets the engine itself
	 * reinjects carry AG__INJECTOR_ENGINE */
	struct ag__u64map injectors;
	uint32_t next_injector;
	uint64_t ask_injector;          /* the `ask` callout's injection handle */

	/* the thread the engine belongs to, and completions from the others */
	thrd_t owner;
	struct ag__cqueue cq;

	ag_engine_stats stats;
	size_t mem;
};

#define AG__INJECTOR_ENGINE 0xffffffffu

/* Which e->index[] holds the filters of @layer: CONNECT's for RECV_ACCEPT too. */
static inline unsigned ag__index_of(unsigned layer)
{
	return layer == AG_LAYER_ALE_AUTH_RECV_ACCEPT ? AG_LAYER_ALE_AUTH_CONNECT : layer;
}

void *ag__alloc(ag_engine *e, size_t n);
void *ag__calloc(ag_engine *e, size_t n, size_t size);
void *ag__realloc(ag_engine *e, void *p, size_t old, size_t n);
void ag__free(ag_engine *e, void *p, size_t n);

static inline uint64_t ag__now(const ag_engine *e)
{
	return e->cfg.clock(e->cfg.clock_arg);
}

#endif
