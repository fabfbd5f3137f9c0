/*
 * lib/engine/pend.c — pending and completing (S3–S10).
 *
 * A pended operation is a flow whose first packet the data plane holds
 * (AG_VERDICT_HOLD) while a callout, or a person through it, decides.  Its
 * completion context is a slot number plus a generation, so completing it
 * twice, or after its deadline, is recognised and touches nothing freed (S6).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

uint64_t ag__pend_context(const struct ag__pend *p)
{
	return ((uint64_t)p->gen << 32) | (p->slot + 1);
}

static struct ag__pend *pend_slot(const ag_engine *e, uint32_t slot)
{
	return &e->pend_chunks[slot / AG__POOL_CHUNK][slot % AG__POOL_CHUNK];
}

struct ag__pend *ag__pend_from_context(const ag_engine *e, uint64_t ctx)
{
	uint32_t slot = (uint32_t)ctx;
	uint32_t gen = (uint32_t)(ctx >> 32);

	if (!slot || slot > e->pend_slots)
		return NULL;
	struct ag__pend *p = pend_slot(e, slot - 1);

	/* odd generation = in use */
	if (!(p->gen & 1) || p->gen != gen)
		return NULL;
	return p;
}

static int pend_pool_grow(ag_engine *e)
{
	uint32_t c = e->pend_nchunks;
	void *chunks = ag__realloc(e, e->pend_chunks, c * sizeof(*e->pend_chunks),
				   (c + 1) * sizeof(*e->pend_chunks));
	if (!chunks)
		return -ENOMEM;
	e->pend_chunks = chunks;
	struct ag__pend *chunk = ag__calloc(e, AG__POOL_CHUNK, sizeof(*chunk));

	if (!chunk)
		return -ENOMEM;
	e->pend_chunks[c] = chunk;
	e->pend_nchunks++;
	for (uint32_t i = AG__POOL_CHUNK; i-- > 0;) {
		chunk[i].slot = e->pend_slots + i;
		chunk[i].timer.kind = AG__TIMER_PEND;
		chunk[i].next_free = e->pend_free;
		e->pend_free = &chunk[i];
	}
	e->pend_slots += AG__POOL_CHUNK;
	return 0;
}

static uint64_t owner_key(const struct ag__flow *f)
{
	/* Keys must be nonzero; pid and uid live in different ranges. */
	return f->pid ? (1ULL << 40) | f->pid : (2ULL << 40) | f->uid;
}

/* The per-user bound's key: flows of no known user share one. */
static uint64_t user_key(const struct ag__flow *f)
{
	return (3ULL << 40) | f->uid;
}

static void owner_add(ag_engine *e, uint64_t key, int delta)
{
	uint64_t n = 0;

	ag__u64map_get(&e->pend_owners, key, &n);
	n += (uint64_t)(int64_t)delta;
	if (n)
		ag__u64map_put(&e->pend_owners, key, n);
	else
		ag__u64map_del(&e->pend_owners, key);
}

int ag_pend_operation(ag_engine *e, uint64_t completion_handle, uint64_t *completion_context)
{
	if (!e->cur.active)
		return AG_E_NO_HANDLE;
	/* S5: a reauthorization can never pend, nor can FLOW_ESTABLISHED. */
	if (!e->cur.initial || e->cur.layer == AG_LAYER_ALE_FLOW_ESTABLISHED)
		return AG_E_CANNOT_PEND;
	if (!completion_handle || completion_handle != e->cur.handle)
		return AG_E_NO_HANDLE;
	struct ag__flow *f = e->cur.flow;

	if (f->pend || e->cur.pended)
		return -EALREADY;
	if (e->npended >= e->cfg.max_pended) {
		e->stats.limit_hits++;
		ag__event(e, AG_EVENT_LIMIT, AG_REASON_MAX_PENDED, (ag_layer)f->layer,
			  e->cfg.timeout_verdict, f, 0, e->cfg.max_pended);
		return AG_E_LIMIT;
	}
	uint64_t owner = owner_key(f), user = user_key(f), count = 0;

	/* The user's bound before the process's: one user's many processes
	 * must not fill the table that every other user's flows wait in. */
	ag__u64map_get(&e->pend_owners, user, &count);
	if (count >= e->cfg.max_pended_per_user) {
		e->stats.limit_hits++;
		ag__event(e, AG_EVENT_LIMIT, AG_REASON_MAX_PENDED_USER, (ag_layer)f->layer,
			  e->cfg.timeout_verdict, f, 0, e->cfg.max_pended_per_user);
		return AG_E_LIMIT;
	}
	count = 0;
	ag__u64map_get(&e->pend_owners, owner, &count);
	if (count >= e->cfg.max_pended_per_process) {
		e->stats.limit_hits++;
		ag__event(e, AG_EVENT_LIMIT, AG_REASON_MAX_PENDED_PROCESS, (ag_layer)f->layer,
			  e->cfg.timeout_verdict, f, 0, e->cfg.max_pended_per_process);
		return AG_E_LIMIT;
	}
	if (!e->pend_free && pend_pool_grow(e))
		return -ENOMEM;
	struct ag__pend *p = e->pend_free;

	/* WFP puts no deadline on a pend; the engine's is optional (S10), and
	 * a callout may have its own. */
	const struct ag__callout *co = ag__callout_find(e, e->cur.callout);
	uint64_t timeout = co && co->has_timeout ? co->timeout_ns : e->cfg.pending_timeout_ns;

	if (timeout && ag__timer_arm(e, &p->timer, ag__now(e) + timeout))
		return -ENOMEM;
	e->pend_free = p->next_free;
	p->next_free = NULL;
	p->gen++; /* odd: in use */
	p->flow = f;
	p->callout = ag__str_ref(e->cur.callout);
	p->owner = owner;
	p->user = user;
	p->has_first = false;
	p->cloned = false;
	p->filter_id = 0;
	p->dropped = 0;
	owner_add(e, owner, +1);
	owner_add(e, user, +1);
	f->pend = p;
	e->cur.pended = p;
	e->npended++;
	*completion_context = ag__pend_context(p);
	return 0;
}

static void pend_release(ag_engine *e, struct ag__pend *p)
{
	ag__timer_disarm(e, &p->timer);
	owner_add(e, p->owner, -1);
	owner_add(e, p->user, -1);
	ag__str_put(e, p->callout);
	p->callout = NULL;
	p->flow->pend = NULL;
	p->flow = NULL;
	p->gen++; /* even: free; every context naming it is now stale */
	p->next_free = e->pend_free;
	e->pend_free = p;
	e->npended--;
}

void ag__pend_cancel(ag_engine *e, struct ag__pend *p)
{
	pend_release(e, p);
}

/*
 * S9: a later packet of a pended flow.  As WFP leaves pended data to the
 * callout, the callout that pended the flow is shown it (its classify, with
 * AG_FLAG_IS_PENDED_DATA): it keeps it with ag_packet_reference() and
 * injects it once the flow is permitted, or the packet is flushed and the
 * application retransmits.
 */
ag_verdict ag__pend_buffer(ag_engine *e, struct ag__pend *p, const ag_packet *pkt)
{
	struct ag__flow *f = p->flow;
	struct ag__callout *co = ag__callout_find(e, p->callout);
	const ag_filter *filter = ag_filter_get(e, p->filter_id);

	bool bound = false;

	if (!pkt)
		return AG_VERDICT_BLOCK;
	if (co && filter && (f->nrefs < f->caprefs || !ag__flow_refs_grow(e, f))) {
		ag_fixed_values in;
		ag_metadata meta;
		ag_classify_out out = { .action = AG_ACTION_CONTINUE, .rights = 0 };
		struct ag__cur saved = e->cur;
		uint64_t ctx = 0;

		ag__flow_fixed(f, &in);
		in.flags |= AG_FLAG_IS_PENDED_DATA;
		memset(&meta, 0, sizeof(meta));
		meta.present = AG_META_FLOW_HANDLE | AG_META_PACKET;
		meta.flow_handle = ag__flow_handle(f);
		meta.packet = pkt;
		if (f->pid) {
			meta.present |= AG_META_PID;
			meta.pid = f->pid;
		}
		ag_flow_get_context(e, meta.flow_handle, (ag_layer)f->layer, co->name->s, &ctx);
		memset(&e->cur, 0, sizeof(e->cur));
		e->cur.active = true;
		e->cur.layer = f->layer;
		e->cur.flow = f;
		e->cur.packet = pkt;
		e->cur.pended_data = true;
		e->cur.callout = co->name;
		co->c.classify(e, (ag_layer)f->layer, &in, &meta, filter, ctx, &out, co->c.arg);
		bool kept = e->cur.referenced;

		bound = e->cur.bound_drop;

		e->cur = saved;
		if (kept) {
			ag_packet *r = &f->refs[f->nrefs++];

			*r = *pkt;
			r->flags |= AG_PACKET_REFERENCE;
			e->stats.buffered++;
			return AG_VERDICT_HOLD;
		}
	}
	if (bound)
		e->stats.buffer_drops++;
	else
		e->stats.flushed++;
	/* One event for the first drop of a flow, then at powers of two: a
	 * flood of a pended flow must not flush the ring. */
	uint32_t dropped = ++p->dropped;

	if ((dropped & (dropped - 1)) == 0)
		ag__event(e, AG_EVENT_DROP,
			  bound ? AG_REASON_BUFFER_FULL : AG_REASON_FLUSH,
			  (ag_layer)f->layer, AG_VERDICT_BLOCK, f, 0, dropped);
	return AG_VERDICT_BLOCK;
}

void ag__pend_finish(ag_engine *e, struct ag__pend *p, ag_verdict v, uint64_t filter_id,
		     ag_reason reason)
{
	struct ag__flow *f = p->flow;
	ag_packet first = p->first;
	bool has_first = p->has_first;
	/* Pended data its callout referenced is the callout's to inject once
	 * it completed; when the engine ends the pend (deadline, shutdown, a
	 * filter, a person overriding a loaded callout) nobody else will. */
	bool engine_ends = reason != AG_REASON_COMPLETED && reason != AG_REASON_INJECTED;
	ag_flow_info info;

	pend_release(e, p);
	f->filter_id = filter_id;
	f->decided_ns = ag__now(e);
	f->reject = v == AG_VERDICT_REJECT;
	if (v == AG_VERDICT_PERMIT) {
		ag__flow_set_state(e, f, AG_FLOW_AUTHORIZED);
		e->stats.permits++;
		ag__event(e, AG_EVENT_PERMIT, reason, (ag_layer)f->layer, v, f, filter_id, 0);
		ag__flow_info(e, f, &info);
		if (has_first && e->ops.release)
			e->ops.release(e->ops.arg, &info, &first, 1);
		if (engine_ends)
			ag__flow_refs_flush(e, f, true);
		ag__indicate_established(e, f);
	} else {
		ag__flow_set_state(e, f, AG_FLOW_BLOCKED);
		e->stats.blocks++;
		ag__event(e, AG_EVENT_BLOCK, reason, (ag_layer)f->layer, v, f, filter_id, 0);
		ag__flow_info(e, f, &info);
		if (has_first && e->ops.drop)
			e->ops.drop(e->ops.arg, &info, &first, 1, v == AG_VERDICT_REJECT);
		ag__flow_refs_flush(e, f, false);
	}
}

void ag__complete(ag_engine *e, struct ag__pend *p, ag_verdict recv)
{
	struct ag__flow *f = p->flow;
	struct ag__decision d;

	ag__timer_disarm(e, &p->timer);
	e->stats.completions++;
	if (f->layer == AG_LAYER_ALE_AUTH_CONNECT) {
		/* S7: completion triggers a reauthorization; its verdict decides. */
		ag__event(e, AG_EVENT_COMPLETE, AG_REASON_COMPLETED, (ag_layer)f->layer,
			  AG_VERDICT_HOLD, f, 0, 0);
		ag_verdict v = ag__reauthorize_flow(e, f, AG_REASON_COMPLETED, &d);

		ag__pend_finish(e, p, v, d.filter_id, AG_REASON_COMPLETED);
		return;
	}
	/* S8: RECV_ACCEPT is not reauthorized.  Deny: drop what is held. */
	ag__event(e, AG_EVENT_COMPLETE, AG_REASON_COMPLETED, (ag_layer)f->layer, recv, f, 0, 0);
	if (recv != AG_VERDICT_PERMIT || !p->has_first) {
		ag__pend_finish(e, p, recv == AG_VERDICT_PERMIT ? AG_VERDICT_BLOCK : recv, 0,
				AG_REASON_COMPLETED);
		return;
	}
	/* Allow: the clone is reinjected and classified again at RECV_ACCEPT,
	 * marked as injected by this engine so no callout pends it again. */
	ag_fixed_values in;
	ag_metadata meta;

	/* what the data plane releases is the clone, and says so */
	p->first.flags |= AG_PACKET_CLONE;
	ag_packet clone = p->first;

	ag__flow_fixed(f, &in);
	in.flags |= AG_FLAG_IS_INJECTED;
	memset(&meta, 0, sizeof(meta));
	meta.present = AG_META_FLOW_HANDLE | AG_META_PACKET;
	meta.flow_handle = ag__flow_handle(f);
	meta.packet = &clone;
	if (f->pid) {
		meta.present |= AG_META_PID;
		meta.pid = f->pid;
	}
	struct ag__cur saved = e->cur;

	e->cur.active = true;
	e->cur.initial = false;
	e->cur.layer = AG_LAYER_ALE_AUTH_RECV_ACCEPT;
	e->cur.flow = f;
	e->cur.handle = 0;
	e->cur.packet = &clone;
	e->cur.pended = NULL;
	ag__arbitrate(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, &meta, f, 0, &d);
	e->cur = saved;

	ag_verdict v = ag__decision_verdict(&d);

	ag__pend_finish(e, p, v, d.filter_id, AG_REASON_INJECTED);
}

/* The clone goes back in with `injector`; whoever injected it before is
 * remembered, for PREVIOUSLY_INJECTED_BY_SELF. */
static void mark_injected(struct ag__pend *p, const ag_packet *clone, uint32_t injector)
{
	p->first.prev_injector = clone->injector;
	p->first.injector = injector;
}

int ag__complete_operation(ag_engine *e, uint64_t completion_context, const ag_packet *clone)
{
	struct ag__pend *p = ag__pend_from_context(e, completion_context);

	if (!p)
		return AG_E_NO_CONTEXT;
	/* Completing from inside the classify that pends is not allowed: the
	 * packet has not been handed over yet. */
	if (e->cur.active && e->cur.pended == p)
		return -EBUSY;
	if (p->flow->layer == AG_LAYER_ALE_AUTH_CONNECT) {
		/* FwpsCompleteOperation0 takes the suspended packet here too; the
		 * reauthorization decides either way.  Anything but this flow's
		 * own packet is refused. */
		if (clone && (!(clone->flags & AG_PACKET_CLONE) || !p->has_first ||
			      clone->token != p->first.token))
			return -EINVAL;
		ag__complete(e, p, AG_VERDICT_BLOCK);
		return 0;
	}
	if (clone && (!p->cloned || !(clone->flags & AG_PACKET_CLONE) ||
		      clone->token != p->first.token))
		return -EINVAL;
	if (clone)
		mark_injected(p, clone, AG__INJECTOR_ENGINE);
	ag__complete(e, p, clone ? AG_VERDICT_PERMIT : AG_VERDICT_BLOCK);
	return 0;
}

int ag__inject_receive(ag_engine *e, uint64_t injection_handle, uint64_t completion_context,
		       const ag_packet *clone)
{
	struct ag__pend *p = ag__pend_from_context(e, completion_context);

	if (!injection_handle || !ag__u64map_get(&e->injectors, injection_handle, NULL))
		return -ENOENT;
	if (!p)
		return AG_E_NO_CONTEXT;
	if (e->cur.active && e->cur.pended == p)
		return -EBUSY;
	if (!clone || p->flow->layer != AG_LAYER_ALE_AUTH_RECV_ACCEPT || !p->cloned ||
	    !(clone->flags & AG_PACKET_CLONE) || clone->token != p->first.token)
		return -EINVAL;
	mark_injected(p, clone, (uint32_t)injection_handle);
	ag__complete(e, p, AG_VERDICT_PERMIT);
	return 0;
}

/*
 * From the owner thread a completion is applied at once and its result
 * returned; from any other thread it is queued for the owner (the checks
 * then happen there, and a stale one is counted in stats.stale_completions).
 */
int ag_complete_operation(ag_engine *e, uint64_t completion_context, const ag_packet *clone)
{
	if (ag__on_owner(e))
		return ag__complete_operation(e, completion_context, clone);
	if (!completion_context)
		return AG_E_NO_CONTEXT;
	return ag__cqueue_push(e, AG__Q_COMPLETE, completion_context, 0, clone);
}

int ag_inject_receive_async(ag_engine *e, uint64_t injection_handle,
			    uint64_t completion_context, const ag_packet *clone)
{
	if (ag__on_owner(e))
		return ag__inject_receive(e, injection_handle, completion_context, clone);
	if (!injection_handle || injection_handle >= AG__INJECTOR_ENGINE)
		return -ENOENT;
	if (!clone)
		return -EINVAL;
	return ag__cqueue_push(e, AG__Q_INJECT_CLONE, completion_context, (uint32_t)injection_handle,
			       clone);
}

int ag_injection_handle_create(ag_engine *e, uint64_t *handle)
{
	if (e->next_injector >= AG__INJECTOR_ENGINE - 1)
		return -ENOSPC;
	uint64_t h = ++e->next_injector;

	if (ag__u64map_put(&e->injectors, h, 1))
		return -ENOMEM;
	*handle = h;
	return 0;
}

int ag_injection_handle_destroy(ag_engine *e, uint64_t handle)
{
	return handle && ag__u64map_del(&e->injectors, handle) ? 0 : -ENOENT;
}

ag_injection_state ag_packet_injection_state(const ag_engine *e, uint64_t handle,
					     const ag_packet *pkt)
{
	(void)e;
	if (!pkt || !pkt->injector)
		return AG_PACKET_NOT_INJECTED;
	if (handle && pkt->injector == handle)
		return AG_PACKET_INJECTED_BY_SELF;
	if (handle && pkt->prev_injector == handle)
		return AG_PACKET_PREVIOUSLY_INJECTED_BY_SELF;
	return AG_PACKET_INJECTED_BY_OTHER;
}

int ag_packet_clone(ag_engine *e, const ag_metadata *meta, ag_packet *clone)
{
	if (!e->cur.active || !e->cur.packet || !meta || !(meta->present & AG_META_PACKET))
		return AG_E_NO_HANDLE;
	if (e->cur.cloned)
		return -EALREADY;
	*clone = *e->cur.packet;
	clone->flags |= AG_PACKET_CLONE;
	e->cur.cloned = true;
	return 0;
}

int ag_pend_set_deadline(ag_engine *e, uint64_t completion_context, uint64_t deadline_ns)
{
	struct ag__pend *p = ag__pend_from_context(e, completion_context);

	if (!p)
		return AG_E_NO_CONTEXT;
	if (!deadline_ns) {
		ag__timer_disarm(e, &p->timer);
		return 0;
	}
	return ag__timer_arm(e, &p->timer, deadline_ns);
}

int ag_packet_reference(ag_engine *e, const ag_metadata *meta, ag_packet *ref)
{
	if (!e->cur.active || !e->cur.packet || !meta || !(meta->present & AG_META_PACKET))
		return AG_E_NO_HANDLE;
	if (e->cur.pended_data) {
		if (e->cur.referenced)
			return -EALREADY;
		e->cur.referenced = true;
		*ref = *e->cur.packet;
		ref->flags |= AG_PACKET_REFERENCE;
		return 0;
	}
	/* the first packet: the pend holds it, as for a clone */
	int r = ag_packet_clone(e, meta, ref);

	if (r == 0)
		ref->flags = (ref->flags & ~(uint32_t)AG_PACKET_CLONE) | AG_PACKET_REFERENCE;
	return r;
}

void ag_packet_clone_reference(const ag_packet *ref, ag_packet *clone)
{
	*clone = *ref;
	clone->flags = (clone->flags & ~(uint32_t)AG_PACKET_REFERENCE) | AG_PACKET_CLONE;
}

/* The reference of this token among a flow's, or -1. */
static int ref_index(const struct ag__flow *f, const ag_packet *ref)
{
	for (uint32_t i = 0; i < f->nrefs; i++)
		if (f->refs[i].token == ref->token)
			return (int)i;
	return -1;
}

static void ref_remove(struct ag__flow *f, int i)
{
	memmove(&f->refs[i], &f->refs[i + 1], (f->nrefs - (uint32_t)i - 1) * sizeof(*f->refs));
	f->nrefs--;
}

int ag__inject_referenced(ag_engine *e, uint64_t injector, uint64_t flow, const ag_packet *ref)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow);
	ag_flow_info info;
	int i;

	if (!f || !ref || (i = ref_index(f, ref)) < 0)
		return -ENOENT;
	if (injector && !ag__u64map_get(&e->injectors, injector, NULL))
		return -ENOENT;
	ag_packet pkt = f->refs[i];

	ref_remove(f, i);
	ag__flow_info(e, f, &info);
	if (f->state != AG_FLOW_AUTHORIZED) {
		if (e->ops.drop)
			e->ops.drop(e->ops.arg, &info, &pkt, 1, false);
		return -EPERM;
	}
	pkt.prev_injector = pkt.injector;
	pkt.injector = injector ? (uint32_t)injector : AG__INJECTOR_ENGINE;
	if (e->ops.release)
		e->ops.release(e->ops.arg, &info, &pkt, 1);
	return 0;
}

int ag__packet_dereference(ag_engine *e, uint64_t flow, const ag_packet *ref)
{
	struct ag__flow *f = ag__flow_from_handle(e, flow);
	ag_flow_info info;
	int i;

	if (!f || !ref || (i = ref_index(f, ref)) < 0)
		return -ENOENT;
	ag_packet pkt = f->refs[i];

	ref_remove(f, i);
	ag__flow_info(e, f, &info);
	if (e->ops.drop)
		e->ops.drop(e->ops.arg, &info, &pkt, 1, false);
	return 0;
}

int ag_inject_referenced(ag_engine *e, uint64_t injection_handle, uint64_t flow_handle,
			 const ag_packet *ref)
{
	if (ag__on_owner(e))
		return ag__inject_referenced(e, injection_handle, flow_handle, ref);
	if (!ref || injection_handle >= AG__INJECTOR_ENGINE)
		return -ENOENT;
	return ag__cqueue_push(e, AG__Q_INJECT_REF, flow_handle, (uint32_t)injection_handle, ref);
}

int ag_packet_dereference(ag_engine *e, uint64_t flow_handle, const ag_packet *ref)
{
	if (ag__on_owner(e))
		return ag__packet_dereference(e, flow_handle, ref);
	if (!ref)
		return -ENOENT;
	return ag__cqueue_push(e, AG__Q_DEREF, flow_handle, 0, ref);
}

/* S10: a pended operation reached its deadline. */
void ag__pend_fire(ag_engine *e, struct ag__pend *p)
{
	ag_verdict v = e->cfg.timeout_verdict;

	e->stats.timeouts++;
	ag__event(e, AG_EVENT_TIMEOUT, AG_REASON_TIMEOUT, (ag_layer)p->flow->layer, v, p->flow, 0,
		  0);
	ag__pend_finish(e, p, v, 0, AG_REASON_TIMEOUT);
}

int ag_pend_lookup(const ag_engine *e, uint64_t completion_context, struct ag_flow_info *out)
{
	struct ag__pend *p = ag__pend_from_context(e, completion_context);

	if (!p)
		return AG_E_NO_CONTEXT;
	if (out)
		ag__flow_info(e, p->flow, out);
	return 0;
}

/* S10: on a clean shutdown every pended operation is completed as blocked. */
void ag__pend_shutdown(ag_engine *e)
{
	for (struct ag__flow *f = e->age_first; f; f = f->anext)
		if (f->state == AG_FLOW_PENDING && f->pend)
			ag__pend_finish(e, f->pend, AG_VERDICT_BLOCK, 0, AG_REASON_SHUTDOWN);
}
