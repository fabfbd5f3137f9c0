/*
 * lib/engine/flow.c — the flow table (S11): which flows were authorized,
 * which are pended, which were blocked; callouts' flow contexts.
 *
 * Flows live in a pool of fixed-size chunks, so a handle is a slot number
 * plus a generation: a stale handle is recognised, never dereferenced.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

uint64_t ag__flow_handle(const struct ag__flow *f)
{
	return f ? ((uint64_t)f->gen << 32) | (f->slot + 1) : 0;
}

static struct ag__flow *slot_ptr(const ag_engine *e, uint32_t slot)
{
	return &e->flow_chunks[slot / AG__POOL_CHUNK][slot % AG__POOL_CHUNK];
}

struct ag__flow *ag__flow_from_handle(const ag_engine *e, uint64_t handle)
{
	uint32_t slot = (uint32_t)handle;
	uint32_t gen = (uint32_t)(handle >> 32);

	if (!slot || slot > e->flow_slots)
		return NULL;
	struct ag__flow *f = slot_ptr(e, slot - 1);

	if (!f->in_use || f->gen != gen)
		return NULL;
	return f;
}

struct flow_key {
	uint8_t ip_version, protocol;
	uint16_t local_port, remote_port;
	ag_addr local_addr, remote_addr;
};

static void key_of(const ag_fixed_values *in, struct flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ip_version = in->ip_version;
	k->protocol = in->protocol;
	k->local_port = in->local_port;
	k->remote_port = in->remote_port;
	k->local_addr = ag_addr_make(in->ip_version, in->local_addr.b);
	k->remote_addr = ag_addr_make(in->ip_version, in->remote_addr.b);
}

uint64_t ag__flow_hash(const ag_engine *e, const ag_fixed_values *in)
{
	struct flow_key k;

	key_of(in, &k);
	return ag_siphash13(e->cfg.hash_seed, &k, sizeof(k));
}

static bool key_equal(const struct ag__flow *f, const ag_fixed_values *in)
{
	size_t n = in->ip_version == 4 ? 4 : 16;

	return f->ip_version == in->ip_version && f->protocol == in->protocol &&
	       f->local_port == in->local_port && f->remote_port == in->remote_port &&
	       memcmp(f->local_addr.b, in->local_addr.b, n) == 0 &&
	       memcmp(f->remote_addr.b, in->remote_addr.b, n) == 0;
}

struct ag__flow *ag__flow_find(const ag_engine *e, const ag_fixed_values *in, uint64_t hash)
{
	if (!e->fhash_cap)
		return NULL;
	for (struct ag__flow *f = e->fhash[hash & (e->fhash_cap - 1)]; f; f = f->hnext)
		if (f->hash == hash && key_equal(f, in))
			return f;
	return NULL;
}

static int fhash_grow(ag_engine *e)
{
	uint32_t n = e->fhash_cap ? e->fhash_cap * 2 : 1024;
	struct ag__flow **t = ag__calloc(e, n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->fhash_cap; i++) {
		struct ag__flow *f = e->fhash[i], *next;

		for (; f; f = next) {
			next = f->hnext;
			f->hnext = t[f->hash & (n - 1)];
			t[f->hash & (n - 1)] = f;
		}
	}
	ag__free(e, e->fhash, e->fhash_cap * sizeof(*t));
	e->fhash = t;
	e->fhash_cap = n;
	return 0;
}

static int pool_grow(ag_engine *e)
{
	uint32_t c = e->flow_nchunks;
	void *chunks = ag__realloc(e, e->flow_chunks, c * sizeof(*e->flow_chunks),
				   (c + 1) * sizeof(*e->flow_chunks));
	if (!chunks)
		return -ENOMEM;
	e->flow_chunks = chunks;
	void *frees = ag__realloc(e, e->flow_free, e->flow_slots * sizeof(*e->flow_free),
				  (e->flow_slots + AG__POOL_CHUNK) * sizeof(*e->flow_free));
	if (!frees)
		return -ENOMEM;
	e->flow_free = frees;
	e->flow_chunks[c] = ag__calloc(e, AG__POOL_CHUNK, sizeof(struct ag__flow));
	if (!e->flow_chunks[c])
		return -ENOMEM;
	e->flow_nchunks++;
	/* push in reverse so slots are handed out in increasing order */
	for (uint32_t i = AG__POOL_CHUNK; i-- > 0;)
		e->flow_free[e->flow_nfree++] = e->flow_slots + i;
	e->flow_slots += AG__POOL_CHUNK;
	return 0;
}

/* Evict the oldest flow that is not pended (it is only memory: an authorized
 * flow's packets never reach user space again). */
static bool evict_one(ag_engine *e)
{
	for (struct ag__flow *f = e->age_first; f; f = f->anext) {
		if (f->state != AG_FLOW_PENDING) {
			ag__flow_free(e, f);
			return true;
		}
	}
	return false;
}

struct ag__flow *ag__flow_new(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			      const ag_metadata *meta, uint64_t hash)
{
	struct ag__flow *f;

	if (e->nflows >= e->cfg.max_flows && !evict_one(e)) {
		errno = ENOSPC;
		return NULL;
	}
	if (!e->flow_nfree && pool_grow(e)) {
		errno = ENOMEM;
		return NULL;
	}
	if (e->nflows + 1 > e->fhash_cap && fhash_grow(e)) {
		errno = ENOMEM;
		return NULL;
	}
	uint32_t slot = e->flow_free[--e->flow_nfree];

	f = slot_ptr(e, slot);
	uint32_t gen = f->gen + 1;

	memset(f, 0, sizeof(*f));
	f->gen = gen;
	f->slot = slot;
	f->in_use = true;
	f->timer.kind = AG__TIMER_BLOCKED;
	f->layer = (uint8_t)layer;
	f->state = AG_FLOW_PENDING;
	f->ip_version = in->ip_version;
	f->protocol = in->protocol;
	f->direction = in->direction;
	f->local_port = in->local_port;
	f->remote_port = in->remote_port;
	f->local_addr = in->local_addr;
	f->remote_addr = in->remote_addr;
	f->interface = in->interface;
	f->uid = in->uid;
	f->gid = in->gid;
	f->flags = in->flags & ~(uint32_t)(AG_FLAG_IS_REAUTHORIZE | AG_FLAG_IS_INJECTED);
	f->app = ag__str_get(e, in->app_path);
	f->host = ag__str_get(e, in->remote_host);
	f->sha256 = ag__str_get(e, in->app_sha256);
	if (meta) {
		if (meta->present & AG_META_PID)
			f->pid = meta->pid;
		if (meta->present & AG_META_PROCESS_PATH)
			f->process_path = ag__str_get(e, meta->process_path);
		if (meta->present & AG_META_CMDLINE)
			f->cmdline = ag__str_get(e, meta->cmdline);
	}
	f->hash = hash;
	f->created_ns = ag__now(e);
	f->hnext = e->fhash[hash & (e->fhash_cap - 1)];
	e->fhash[hash & (e->fhash_cap - 1)] = f;
	f->aprev = e->age_last;
	if (e->age_last)
		e->age_last->anext = f;
	else
		e->age_first = f;
	e->age_last = f;
	e->nflows++;
	e->stats.new_flows++;
	return f;
}

void ag__flow_free(ag_engine *e, struct ag__flow *f)
{
	uint64_t handle = ag__flow_handle(f);

	/* callouts' flowDeleteFn, then forget the contexts */
	while (f->ctx) {
		struct ag__fctx *c = f->ctx;
		struct ag__callout *co = ag__callout_find(e, c->callout);

		f->ctx = c->next;
		if (co && co->c.flow_delete)
			co->c.flow_delete(e, (ag_layer)c->layer, handle, c->value, co->c.arg);
		ag__str_put(e, c->callout);
		ag__free(e, c, sizeof(*c));
	}
	/* pended data its callout never injected: the kernel holds it still */
	ag__flow_refs_flush(e, f, false);
	ag__free(e, f->refs, f->caprefs * sizeof(*f->refs));
	f->refs = NULL;
	f->nrefs = f->caprefs = 0;
	ag__timer_disarm(e, &f->timer);
	struct ag__flow **pp = &e->fhash[f->hash & (e->fhash_cap - 1)];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	if (f->aprev)
		f->aprev->anext = f->anext;
	else
		e->age_first = f->anext;
	if (f->anext)
		f->anext->aprev = f->aprev;
	else
		e->age_last = f->aprev;
	ag__str_put(e, f->app);
	ag__str_put(e, f->host);
	ag__str_put(e, f->process_path);
	ag__str_put(e, f->cmdline);
	ag__str_put(e, f->sha256);
	f->in_use = false;
	f->gen++;
	e->flow_free[e->flow_nfree++] = f->slot;
	e->nflows--;
}

void ag__flow_fixed(const struct ag__flow *f, ag_fixed_values *out)
{
	memset(out, 0, sizeof(*out));
	out->ip_version = f->ip_version;
	out->protocol = f->protocol;
	out->direction = f->direction;
	out->local_addr = f->local_addr;
	out->remote_addr = f->remote_addr;
	out->local_port = f->local_port;
	out->remote_port = f->remote_port;
	out->interface = f->interface;
	out->uid = f->uid;
	out->gid = f->gid;
	out->app_path = ag__str_c(f->app);
	out->remote_host = ag__str_c(f->host);
	out->flags = f->flags;
	out->app_sha256 = ag__str_c(f->sha256);
}

void ag__flow_info(const ag_engine *e, const struct ag__flow *f, ag_flow_info *out)
{
	memset(out, 0, sizeof(*out));
	out->handle = ag__flow_handle(f);
	out->layer = (ag_layer)f->layer;
	out->state = (ag_flow_state)f->state;
	ag__flow_fixed(f, &out->fixed);
	out->pid = f->pid;
	out->process_path = ag__str_c(f->process_path);
	out->cmdline = ag__str_c(f->cmdline);
	out->created_ns = f->created_ns;
	out->decided_ns = f->decided_ns;
	out->filter_id = f->filter_id;
	out->reject = f->reject;
	out->buffered = f->nrefs;
	if (f->pend) {
		out->completion_context = ag__pend_context(f->pend);
		out->deadline_ns = f->pend->timer.heap_idx ? f->pend->timer.when : 0;
		out->callout = ag__str_c(f->pend->callout);
	}
}

void ag__flow_set_state(ag_engine *e, struct ag__flow *f, ag_flow_state state)
{
	f->state = (uint8_t)state;
	if (state == AG_FLOW_BLOCKED)
		ag__timer_arm(e, &f->timer, ag__now(e) + e->cfg.blocked_flow_ttl_ns);
	else
		ag__timer_disarm(e, &f->timer);
}

/* ---- public flow API -------------------------------------------------------- */

int ag_flow_get(const ag_engine *e, uint64_t flow_handle, ag_flow_info *out)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow_handle);

	if (!f)
		return -ENOENT;
	ag__flow_info(e, f, out);
	return 0;
}

int ag_flow_lookup(const ag_engine *e, const ag_fixed_values *in, ag_flow_info *out)
{
	struct ag__flow *f = ag__flow_find(e, in, ag__flow_hash(e, in));

	if (!f)
		return -ENOENT;
	if (out)
		ag__flow_info(e, f, out);
	return 0;
}

int ag_flow_dump(const ag_engine *e, uint32_t states,
		 int (*cb)(const ag_flow_info *flow, void *arg), void *arg)
{
	ag_flow_info info;

	for (struct ag__flow *f = e->age_first; f; f = f->anext) {
		if (!(states & (1u << f->state)))
			continue;
		ag__flow_info(e, f, &info);
		int r = cb(&info, arg);

		if (r)
			return r;
	}
	return 0;
}

int ag_flow_delete(ag_engine *e, uint64_t flow_handle)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow_handle);

	if (!f || f->state == AG_FLOW_PENDING)
		return -ENOENT;
	ag__flow_free(e, f);
	return 0;
}

int ag_flow_end(ag_engine *e, const ag_fixed_values *in)
{
	struct ag__flow *f = ag__flow_find(e, in, ag__flow_hash(e, in));

	if (!f || f->state == AG_FLOW_PENDING)
		return -ENOENT;
	ag__flow_free(e, f);
	return 0;
}

static struct ag__fctx **fctx_find(struct ag__flow *f, ag_layer layer, const struct ag__str *co)
{
	struct ag__fctx **pp = &f->ctx;

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->layer == layer && (*pp)->callout == co)
			return pp;
	return NULL;
}

/* The registered callout with this name, or NULL. */
static struct ag__callout *callout_named(ag_engine *e, const char *name)
{
	for (uint32_t i = 0; i < e->ncallouts; i++)
		if (strcmp(e->callouts[i].name->s, name) == 0)
			return &e->callouts[i];
	return NULL;
}

/* The interned name of a registered callout (pointer-comparable), or NULL. */
static struct ag__str *callout_name(ag_engine *e, const char *name)
{
	struct ag__callout *co = callout_named(e, name);

	return co ? co->name : NULL;
}

/*
 * As FwpsFlowAssociateContext0: a flow holds at most one context per callout
 * and layer (a second is refused, not swapped, so the first is never lost
 * without its flowDeleteFn), a context is never zero (zero means "none" to
 * classify), and a callout without flow_delete could never learn that its
 * context is gone, so it may not associate one.
 */
int ag_flow_associate_context(ag_engine *e, uint64_t flow_handle, ag_layer layer,
			      const char *callout, uint64_t context)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow_handle);
	struct ag__callout *co = callout ? callout_named(e, callout) : NULL;

	if (!f || !co || layer >= AG_LAYER_COUNT)
		return -ENOENT;
	if (!context || !co->c.flow_delete)
		return -EINVAL;
	if (fctx_find(f, layer, co->name))
		return -EEXIST;
	struct ag__fctx *c = ag__calloc(e, 1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->callout = ag__str_ref(co->name);
	c->layer = (uint8_t)layer;
	c->value = context;
	c->next = f->ctx;
	f->ctx = c;
	return 0;
}

/* As FwpsFlowRemoveContext0: the callout's flow_delete runs before this returns. */
int ag_flow_remove_context(ag_engine *e, uint64_t flow_handle, ag_layer layer,
			   const char *callout)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow_handle);
	struct ag__callout *co = callout ? callout_named(e, callout) : NULL;
	struct ag__fctx **pp;

	if (!f || !co || !(pp = fctx_find(f, layer, co->name)))
		return -ENOENT;
	struct ag__fctx *c = *pp;
	uint64_t value = c->value;

	*pp = c->next;
	ag__str_put(e, c->callout);
	ag__free(e, c, sizeof(*c));
	if (co->c.flow_delete)
		co->c.flow_delete(e, layer, flow_handle, value, co->c.arg);
	return 0;
}

int ag_flow_get_context(const ag_engine *e, uint64_t flow_handle, ag_layer layer,
			const char *callout, uint64_t *context)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow_handle);
	struct ag__str *co = callout ? callout_name((ag_engine *)e, callout) : NULL;
	struct ag__fctx **pp;

	if (!f || !co || !(pp = fctx_find(f, layer, co)))
		return -ENOENT;
	*context = (*pp)->value;
	return 0;
}

/* Whether any flow holds a context of this callout (unregister is then refused). */
bool ag__flow_contexts_of(const ag_engine *e, const struct ag__str *co)
{
	for (const struct ag__flow *f = e->age_first; f; f = f->anext)
		for (const struct ag__fctx *c = f->ctx; c; c = c->next)
			if (c->callout == co)
				return true;
	return false;
}

/* Room for one more referenced packet; the bound is the callout's (ask:
 * pending_buffer), the engine's only the memory. */
int ag__flow_refs_grow(ag_engine *e, struct ag__flow *f)
{
	uint32_t nc = f->caprefs ? f->caprefs * 2 : 4;
	void *n = ag__realloc(e, f->refs, f->caprefs * sizeof(*f->refs), nc * sizeof(*f->refs));

	if (!n)
		return -ENOMEM;
	f->refs = n;
	f->caprefs = nc;
	return 0;
}

void ag__flow_refs_flush(ag_engine *e, struct ag__flow *f, bool permit)
{
	ag_flow_info info;
	uint32_t n = f->nrefs;

	if (!n)
		return;
	/* the callbacks get the packets; the array is free again before */
	f->nrefs = 0;
	ag__flow_info(e, f, &info);
	if (permit && e->ops.release)
		e->ops.release(e->ops.arg, &info, f->refs, n);
	else if (!permit && e->ops.drop)
		e->ops.drop(e->ops.arg, &info, f->refs, n, false);
}
