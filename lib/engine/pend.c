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
	p->nbuf = 0;
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
	ag__free(e, p->buf, p->capbuf * sizeof(*p->buf));
	p->buf = NULL;
	p->nbuf = p->capbuf = 0;
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
 * The buffer keeps slot 0 free for the first packet, so that at the end the
 * whole held sequence — first, then buffered, in arrival order (S9) — is one
 * array for one callback.
 */
ag_verdict ag__pend_buffer(ag_engine *e, struct ag__pend *p, const ag_packet *pkt)
{
	const struct ag__flow *f = p->flow;

	if (!pkt)
		return AG_VERDICT_BLOCK;
	if (!e->cfg.pending_buffer || p->nbuf >= e->cfg.pending_buffer) {
		uint64_t *ctr = e->cfg.pending_buffer ? &e->stats.buffer_drops : &e->stats.flushed;

		(*ctr)++;
		/* One event for the first drop of a flow, then at powers of two:
		 * a flood of a pended flow must not flush the ring. */
		uint32_t dropped = ++p->dropped;

		if ((dropped & (dropped - 1)) == 0)
			ag__event(e, AG_EVENT_DROP,
				  e->cfg.pending_buffer ? AG_REASON_BUFFER_FULL : AG_REASON_FLUSH,
				  (ag_layer)f->layer, AG_VERDICT_BLOCK, f, 0, dropped);
		return AG_VERDICT_BLOCK;
	}
	if (p->nbuf + 1 >= p->capbuf) {
		uint32_t nc = p->capbuf ? p->capbuf * 2 : 4;

		if (nc > e->cfg.pending_buffer + 1)
			nc = e->cfg.pending_buffer + 1;
		void *n = ag__realloc(e, p->buf, p->capbuf * sizeof(*p->buf), nc * sizeof(*p->buf));

		if (!n) {
			e->stats.buffer_drops++;
			return AG_VERDICT_BLOCK;
		}
		p->buf = n;
		p->capbuf = nc;
	}
	p->buf[1 + p->nbuf++] = *pkt;
	e->stats.buffered++;
	return AG_VERDICT_HOLD;
}

void ag__pend_finish(ag_engine *e, struct ag__pend *p, ag_verdict v, uint64_t filter_id,
		     ag_reason reason)
{
	struct ag__flow *f = p->flow;
	ag_packet first = p->first, *buf = p->buf, *pkts = NULL;
	uint32_t nbuf = p->nbuf, capbuf = p->capbuf;
	size_t n = 0;
	ag_flow_info info;

	if (nbuf) {
		buf[0] = first;
		pkts = p->has_first ? buf : buf + 1;
		n = nbuf + (p->has_first ? 1 : 0);
	} else if (p->has_first) {
		pkts = &first;
		n = 1;
	}
	p->buf = NULL; /* ours now: freed after the callbacks */
	pend_release(e, p);
	f->filter_id = filter_id;
	f->decided_ns = ag__now(e);
	f->reject = v == AG_VERDICT_REJECT;
	if (v == AG_VERDICT_PERMIT) {
		ag__flow_set_state(e, f, AG_FLOW_AUTHORIZED);
		e->stats.permits++;
		ag__event(e, AG_EVENT_PERMIT, reason, (ag_layer)f->layer, v, f, filter_id, 0);
		ag__flow_info(e, f, &info);
		if (n && e->ops.release)
			e->ops.release(e->ops.arg, &info, pkts, n);
		ag__indicate_established(e, f);
	} else {
		ag__flow_set_state(e, f, AG_FLOW_BLOCKED);
		e->stats.blocks++;
		ag__event(e, AG_EVENT_BLOCK, reason, (ag_layer)f->layer, v, f, filter_id, 0);
		ag__flow_info(e, f, &info);
		if (n && e->ops.drop)
			e->ops.drop(e->ops.arg, &info, pkts, n, v == AG_VERDICT_REJECT);
	}
	ag__free(e, buf, capbuf * sizeof(*buf));
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
	return ag__cqueue_push(e, completion_context, 0, clone);
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
	return ag__cqueue_push(e, completion_context, (uint32_t)injection_handle, clone);
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
