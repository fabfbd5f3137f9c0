/*
 * lib/engine/classify.c — classification and arbitration (S1, S2, S11–S13),
 * callouts (S17) and reauthorization.
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

/* ---- callouts ------------------------------------------------------------------ */

struct ag__callout *ag__callout_find(ag_engine *e, const struct ag__str *name)
{
	for (uint32_t i = 0; i < e->ncallouts; i++)
		if (e->callouts[i].name == name)
			return &e->callouts[i];
	return NULL;
}

int ag_callout_register(ag_engine *e, const ag_callout *callout)
{
	if (!callout || !callout->name || !callout->name[0] || !callout->classify)
		return -EINVAL;
	for (uint32_t i = 0; i < e->ncallouts; i++)
		if (strcmp(e->callouts[i].name->s, callout->name) == 0)
			return -EEXIST;
	struct ag__callout *n = ag__realloc(e, e->callouts, e->ncallouts * sizeof(*n),
					    (e->ncallouts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	e->callouts = n;
	n = &e->callouts[e->ncallouts];
	n->c = *callout;
	n->name = ag__str_get(e, callout->name);
	if (!n->name)
		return -ENOMEM;
	n->c.name = n->name->s;
	n->has_timeout = false;
	n->timeout_ns = 0;
	e->ncallouts++;
	return 0;
}

int ag_callout_set_pend_timeout(ag_engine *e, const char *name, uint64_t timeout_ns)
{
	for (uint32_t i = 0; name && i < e->ncallouts; i++) {
		if (strcmp(e->callouts[i].name->s, name) != 0)
			continue;
		e->callouts[i].has_timeout = true;
		e->callouts[i].timeout_ns = timeout_ns;
		return 0;
	}
	return -ENOENT;
}

int ag_callout_unregister(ag_engine *e, const char *name)
{
	for (uint32_t i = 0; i < e->ncallouts; i++) {
		if (strcmp(e->callouts[i].name->s, name) != 0)
			continue;
		struct ag__str *s = e->callouts[i].name;

		/* As FwpsCalloutUnregisterById0: STATUS_DEVICE_BUSY while flows
		 * hold its contexts; the callout removes them and tries again. */
		if (ag__flow_contexts_of(e, s))
			return -EBUSY;
		e->callouts[i] = e->callouts[--e->ncallouts];
		ag__str_put(e, s);
		return 0;
	}
	return -ENOENT;
}

static uint64_t flow_context(const struct ag__flow *f, ag_layer layer, const struct ag__str *co)
{
	if (!f)
		return 0;
	for (const struct ag__fctx *c = f->ctx; c; c = c->next)
		if (c->layer == layer && c->callout == co)
			return c->value;
	return 0;
}

/* ---- arbitration (S13) ------------------------------------------------------------- */

struct result {
	ag_action_type action;
	bool hard, from_callout, reject, absorb, pended;
	ag_reason reason;
};

/* Ask one filter.  Returns false when it has no decision (CONTINUE). */
static bool evaluate(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
		     const ag_metadata *meta, struct ag__flow *flow, unsigned how,
		     const struct ag_filter *f, bool cur_hard, struct result *r)
{
	memset(r, 0, sizeof(*r));
	switch (f->action) {
	case AG_ACTION_PERMIT:
		r->action = AG_ACTION_PERMIT;
		r->hard = f->flags & AG_FILTER_FLAG_CLEAR_ACTION_RIGHT;
		r->reason = AG_REASON_FILTER;
		return layer != AG_LAYER_ALE_FLOW_ESTABLISHED;
	case AG_ACTION_BLOCK:
		/* S13 default: a filter's BLOCK is hard.  FLOW_ESTABLISHED cannot block. */
		r->action = AG_ACTION_BLOCK;
		r->hard = true;
		r->reject = f->flags & AG_FILTER_FLAG_REJECT;
		r->reason = AG_REASON_FILTER;
		return layer != AG_LAYER_ALE_FLOW_ESTABLISHED;
	default:
		break;
	}
	if (how & AG__CLASSIFY_PROBE)
		return false;
	struct ag__callout *co = ag__callout_find(e, ag__filter_callout(f));

	if (!co) {
		/* WFP: an unregistered terminating callout blocks; inspection is skipped. */
		if (f->action == AG_ACTION_CALLOUT_INSPECTION || layer == AG_LAYER_ALE_FLOW_ESTABLISHED)
			return false;
		r->action = AG_ACTION_BLOCK;
		r->hard = true;
		r->reason = AG_REASON_UNREGISTERED;
		return true;
	}

	ag_classify_out out = {
		.action = AG_ACTION_CONTINUE,
		.rights = cur_hard ? 0 : AG_RIGHT_ACTION_WRITE,
		.flags = 0,
	};
	struct ag__pend *before = e->cur.pended;
	struct ag__str *saved = e->cur.callout;

	e->cur.callout = co->name;
	co->c.classify(e, layer, in, meta, f, flow_context(flow, layer, co->name), &out,
		       co->c.arg);
	e->cur.callout = saved;

	if (e->cur.pended != before) {
		/* S4: pending means BLOCK + ABSORB.  Anything else breaks the contract:
		 * the pend is undone and the flow hard-blocked. */
		r->action = AG_ACTION_BLOCK;
		r->hard = true;
		r->from_callout = true;
		if (out.action == AG_ACTION_BLOCK && (out.flags & AG_CLASSIFY_OUT_FLAG_ABSORB)) {
			r->absorb = true;
			r->pended = true;
			r->reason = AG_REASON_CALLOUT;
		} else {
			struct ag__pend *p = e->cur.pended;

			e->cur.pended = before;
			ag__pend_cancel(e, p);
			r->reason = AG_REASON_NOT_ABSORB;
			e->stats.contract_violations++;
			ag__event(e, AG_EVENT_CONTRACT, AG_REASON_NOT_ABSORB, layer,
				  AG_VERDICT_BLOCK, flow, f->id, 0);
		}
		return true;
	}
	/* S17: inspection callouts never decide; FLOW_ESTABLISHED cannot block. */
	if (f->action == AG_ACTION_CALLOUT_INSPECTION || out.action == AG_ACTION_CONTINUE ||
	    layer == AG_LAYER_ALE_FLOW_ESTABLISHED)
		return false;
	if (out.action != AG_ACTION_PERMIT && out.action != AG_ACTION_BLOCK)
		return false;
	r->action = out.action;
	r->hard = !(out.rights & AG_RIGHT_ACTION_WRITE);
	r->from_callout = true;
	r->absorb = out.flags & AG_CLASSIFY_OUT_FLAG_ABSORB;
	r->reject = out.action == AG_ACTION_BLOCK && (out.flags & AG_CLASSIFY_OUT_FLAG_REJECT);
	r->reason = AG_REASON_CALLOUT;
	return true;
}

static void take(struct ag__decision *d, const struct result *r, const struct ag_filter *f)
{
	d->action = r->action;
	d->hard = r->hard;
	d->from_callout = r->from_callout;
	d->reject = r->reject;
	d->absorb = r->absorb;
	d->pended = r->pended;
	d->reason = r->reason;
	d->filter_id = f->id;
	d->filter_context = f->context;
}

/*
 * S13, as WFP's filter arbitration:
 *  - sublayers from the highest weight down; within one, matching filters
 *    from the highest weight down; the first PERMIT or BLOCK decides that
 *    sublayer (CONTINUE passes on);
 *  - every sublayer is evaluated; each sublayer's decision replaces the
 *    current one while the current one is soft (write right set): a soft
 *    PERMIT gives way to a lower BLOCK, a soft BLOCK to a lower PERMIT;
 *  - a hard BLOCK is final and stops the evaluation;
 *  - a hard PERMIT gives way only to a callout's BLOCK: a veto, logged.
 * No decision at all: the layer's default, PERMIT (as WFP), reason DEFAULT.
 */
void ag__arbitrate(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
		   const ag_metadata *meta, struct ag__flow *flow, unsigned how,
		   struct ag__decision *d)
{
	struct result r;
	bool have = false, sub_decided = false;
	uint32_t sub = 0;

	memset(d, 0, sizeof(*d));
	d->action = AG_ACTION_CONTINUE;
	d->reason = AG_REASON_DEFAULT;
	if (ag__index_candidates(e, &e->index[ag__index_of(layer)], in) < 0) {
		/* Out of memory while collecting: fail closed. */
		d->action = AG_ACTION_BLOCK;
		d->hard = true;
		return;
	}
	/* A callout may not classify, but copy the list anyway: cheap insurance
	 * against reentrancy overwriting e->cand under our feet. */
	uint32_t n = e->ncand;
	struct ag__ient local[64];
	struct ag__ient *cand = n <= 64 ? local : ag__alloc(e, n * sizeof(*cand));

	if (!cand) {
		d->action = AG_ACTION_BLOCK;
		d->hard = true;
		return;
	}
	if (n)
		memcpy(cand, e->cand, n * sizeof(*cand));

	for (uint32_t i = 0; i < n; i++) {
		/* the index of CONNECT is RECV_ACCEPT's too: a filter of the
		 * other layer is not there for this one (first: it decides no
		 * sublayer here) */
		if (!(cand[i].layers & (1u << layer)))
			continue;
		/* a decided sublayer's other filters are passed over from the
		 * candidate list alone, without reading them */
		if (i == 0 || cand[i].sublayer != sub) {
			sub = cand[i].sublayer;
			sub_decided = false;
		}
		if (sub_decided)
			continue;
		const struct ag_filter *f = cand[i].f;

		if (f->flags & AG_FILTER_FLAG_DISABLED)
			continue;
		if (!ag__filter_matches(f, in))
			continue;
		if (!evaluate(e, layer, in, meta, flow, how, f, have && d->hard, &r))
			continue;
		sub_decided = true;
		if (!have) {
			take(d, &r, f);
			have = true;
		} else if (d->action == AG_ACTION_PERMIT && d->hard) {
			if (r.action == AG_ACTION_BLOCK && r.from_callout) {
				take(d, &r, f);
				d->veto = true;
				e->stats.vetoes++;
				ag__event(e, AG_EVENT_VETO, AG_REASON_CALLOUT, layer,
					  AG_VERDICT_BLOCK, flow, f->id, 0);
			}
		} else if (r.action != d->action || (r.hard && !d->hard)) {
			take(d, &r, f);
		}
		if (d->action == AG_ACTION_BLOCK && d->hard)
			break;
	}
	if (cand != local)
		ag__free(e, cand, n * sizeof(*cand));
}

/* ---- classify ----------------------------------------------------------------------- */

static void meta_of(const struct ag__flow *f, ag_metadata *m)
{
	memset(m, 0, sizeof(*m));
	m->present = AG_META_FLOW_HANDLE;
	m->flow_handle = ag__flow_handle(f);
	if (f->pid) {
		m->present |= AG_META_PID;
		m->pid = f->pid;
	}
	if (f->process_path) {
		m->present |= AG_META_PROCESS_PATH;
		m->process_path = f->process_path->s;
	}
	if (f->cmdline) {
		m->present |= AG_META_CMDLINE;
		m->cmdline = f->cmdline->s;
	}
}

static void cur_begin(ag_engine *e, ag_layer layer, struct ag__flow *f, bool initial,
		      const ag_packet *pkt)
{
	e->cur.active = true;
	e->cur.initial = initial;
	e->cur.layer = (uint8_t)layer;
	e->cur.flow = f;
	e->cur.handle = initial ? ag__flow_handle(f) : 0;
	e->cur.packet = pkt;
	e->cur.pended = NULL;
	e->cur.cloned = false;
	e->cur.callout = NULL;
}

static void cur_end(ag_engine *e)
{
	e->cur.active = false;
	e->cur.initial = false;
	e->cur.flow = NULL;
	e->cur.packet = NULL;
}

void ag__indicate_established(ag_engine *e, struct ag__flow *f)
{
	struct ag__decision d;
	ag_fixed_values in;
	ag_metadata meta;

	if (!e->index[AG_LAYER_ALE_FLOW_ESTABLISHED].nfilters)
		return;
	ag__flow_fixed(f, &in);
	meta_of(f, &meta);
	/* A classify at FLOW_ESTABLISHED may be nested in another (a completion
	 * from a callout); keep the outer state. */
	struct ag__cur saved = e->cur;

	cur_begin(e, AG_LAYER_ALE_FLOW_ESTABLISHED, f, false, NULL);
	ag__arbitrate(e, AG_LAYER_ALE_FLOW_ESTABLISHED, &in, &meta, f, 0, &d);
	e->cur = saved;
	if (d.filter_id)
		ag__event(e, AG_EVENT_ESTABLISHED, d.reason, AG_LAYER_ALE_FLOW_ESTABLISHED,
			  AG_VERDICT_PERMIT, f, d.filter_id, 0);
}

/* Arbitrate a known flow again at its layer, as a reauthorization (no
 * completion handle); `how` may ask for a probe that skips callouts.  May be
 * nested in another classify: the outer state is kept. */
static void arbitrate_known(ag_engine *e, struct ag__flow *f, unsigned how,
			    struct ag__decision *d)
{
	ag_fixed_values in;
	ag_metadata meta;
	struct ag__cur saved = e->cur;

	ag__flow_fixed(f, &in);
	in.flags |= AG_FLAG_IS_REAUTHORIZE;
	meta_of(f, &meta);
	/* S3: the handle is there in a reauthorization too, as in WFP; it is
	 * the flag that makes a pend fail with CANNOT_PEND (S5). */
	meta.present |= AG_META_COMPLETION_HANDLE;
	meta.completion_handle = ag__flow_handle(f);
	cur_begin(e, (ag_layer)f->layer, f, false, NULL);
	e->cur.handle = meta.completion_handle;
	ag__arbitrate(e, (ag_layer)f->layer, &in, &meta, f, how, d);
	e->cur = saved;
}

ag_verdict ag__reauthorize_flow(ag_engine *e, struct ag__flow *f, ag_reason reason,
				struct ag__decision *d)
{
	arbitrate_known(e, f, 0, d);
	e->stats.reauthorizations++;

	ag_verdict v = ag__decision_verdict(d);

	f->filter_id = d->filter_id;
	f->reject = v == AG_VERDICT_REJECT;
	f->decided_ns = ag__now(e);
	ag__event(e, AG_EVENT_REAUTH, reason == AG_REASON_FILTER ? d->reason : reason,
		  (ag_layer)f->layer, v, f, d->filter_id, 0);
	return v;
}

/* Enforce a decision made on a flow's initial authorization (not pended). */
static ag_verdict decide(ag_engine *e, struct ag__flow *f, const struct ag__decision *d)
{
	ag_verdict v = ag__decision_verdict(d);

	f->filter_id = d->filter_id;
	f->decided_ns = ag__now(e);
	f->reject = v == AG_VERDICT_REJECT;
	if (v == AG_VERDICT_PERMIT) {
		ag__flow_set_state(e, f, AG_FLOW_AUTHORIZED);
		e->stats.permits++;
		ag__event(e, AG_EVENT_PERMIT, d->reason, (ag_layer)f->layer, v, f, d->filter_id, 0);
		ag__indicate_established(e, f);
	} else {
		ag__flow_set_state(e, f, AG_FLOW_BLOCKED);
		e->stats.blocks++;
		/* S4: ABSORB is silent. */
		if (!d->absorb)
			ag__event(e, AG_EVENT_BLOCK, d->reason, (ag_layer)f->layer, v, f,
				  d->filter_id, 0);
	}
	return v;
}

/* S11: a packet of a known, decided flow reached user space again. */
static ag_verdict reclassify(ag_engine *e, struct ag__flow *f)
{
	struct ag__decision d;
	ag_flow_state was = (ag_flow_state)f->state;
	ag_verdict v = ag__reauthorize_flow(e, f, AG_REASON_FILTER, &d);

	if (v == AG_VERDICT_PERMIT) {
		if (was != AG_FLOW_AUTHORIZED) {
			ag__flow_set_state(e, f, AG_FLOW_AUTHORIZED);
			e->stats.permits++;
			ag__indicate_established(e, f);
		}
		return v;
	}
	e->stats.blocks++;
	ag__flow_set_state(e, f, AG_FLOW_BLOCKED);
	if (was == AG_FLOW_AUTHORIZED && e->ops.teardown) {
		ag_flow_info info;

		ag__flow_info(e, f, &info);
		e->stats.teardowns++;
		ag__event(e, AG_EVENT_TEARDOWN, d.reason, (ag_layer)f->layer, v, f, d.filter_id, 0);
		e->ops.teardown(e->ops.arg, &info);
	}
	return v;
}

ag_verdict ag_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
		       const ag_metadata *meta, const ag_packet *pkt, uint64_t *flow_handle)
{
	struct ag__decision d;
	struct ag__flow *f;

	e->stats.classifies++;
	if (flow_handle)
		*flow_handle = 0;
	if ((layer != AG_LAYER_ALE_AUTH_CONNECT && layer != AG_LAYER_ALE_AUTH_RECV_ACCEPT) || !in ||
	    (in->ip_version != 4 && in->ip_version != 6) || e->cur.active) {
		errno = EINVAL;
		return AG_VERDICT_BLOCK;
	}
	uint64_t hash = ag__flow_hash(e, in);

	f = ag__flow_find(e, in, hash);
	if (f) {
		if (flow_handle)
			*flow_handle = ag__flow_handle(f);
		if (f->state == AG_FLOW_PENDING)
			return ag__pend_buffer(e, f->pend, pkt);
		return reclassify(e, f);
	}

	f = ag__flow_new(e, layer, in, meta, hash);
	if (!f) {
		e->stats.limit_hits++;
		ag__event(e, AG_EVENT_LIMIT, AG_REASON_MAX_FLOWS, layer, e->cfg.timeout_verdict,
			  NULL, 0, e->cfg.max_flows);
		return e->cfg.timeout_verdict;
	}
	uint64_t handle = ag__flow_handle(f);

	if (flow_handle)
		*flow_handle = handle;

	ag_fixed_values vin = *in;
	ag_metadata m;

	vin.flags &= ~(uint32_t)(AG_FLAG_IS_REAUTHORIZE | AG_FLAG_IS_INJECTED);
	if (meta)
		m = *meta;
	else
		memset(&m, 0, sizeof(m));
	/* S3: the completion handle exists on the initial authorization only. */
	m.present |= AG_META_COMPLETION_HANDLE | AG_META_FLOW_HANDLE;
	m.completion_handle = handle;
	m.flow_handle = handle;
	if (pkt) {
		m.present |= AG_META_PACKET;
		m.packet = pkt;
	}

	cur_begin(e, layer, f, true, pkt);
	ag__arbitrate(e, layer, &vin, &m, f, AG__CLASSIFY_INITIAL, &d);
	struct ag__pend *p = e->cur.pended;
	bool cloned = e->cur.cloned;

	cur_end(e);

	if (d.pended && p) {
		if (pkt) {
			p->first = *pkt;
			p->has_first = true;
			p->cloned = cloned;
		}
		p->filter_id = d.filter_id;
		e->stats.pends++;
		ag__event(e, AG_EVENT_PEND, AG_REASON_CALLOUT, layer, AG_VERDICT_HOLD, f,
			  d.filter_id, 0);
		return pkt ? AG_VERDICT_HOLD : AG_VERDICT_BLOCK;
	}
	return decide(e, f, &d);
}

/* ---- filter changes (S12b) and reloads (S12c) ------------------------------------ */

/* Classify every live authorized flow of the layers again; tear down the
 * ones now blocked.  Returns how many were torn down. */
static int reauthorize_live(ag_engine *e, uint32_t layer_mask, ag_reason reason)
{
	struct ag__decision d;
	int n = 0;

	for (struct ag__flow *f = e->age_first; f; f = f->anext) {
		if (f->state != AG_FLOW_AUTHORIZED || !(layer_mask & (1u << f->layer)))
			continue;
		ag_verdict v = ag__reauthorize_flow(e, f, reason, &d);

		if (v == AG_VERDICT_PERMIT)
			continue;
		ag__flow_set_state(e, f, AG_FLOW_BLOCKED);
		e->stats.teardowns++;
		n++;
		ag__event(e, AG_EVENT_TEARDOWN, reason, (ag_layer)f->layer, v, f, d.filter_id, 0);
		if (e->ops.teardown) {
			ag_flow_info info;

			ag__flow_info(e, f, &info);
			e->ops.teardown(e->ops.arg, &info);
		}
	}
	return n;
}

void ag__filters_changed(ag_engine *e, uint32_t layer_mask)
{
	struct ag__decision d;

	reauthorize_live(e, layer_mask, AG_REASON_FILTER_CHANGE);
	if (!e->cfg.complete_pended_on_change)
		return;
	/* Pended flows that a plain filter now decides are completed at once
	 * (completion changes states, never frees a flow, so the walk is safe). */
	for (struct ag__flow *f = e->age_first; f; f = f->anext) {
		if (f->state != AG_FLOW_PENDING || !f->pend || !(layer_mask & (1u << f->layer)))
			continue;
		arbitrate_known(e, f, AG__CLASSIFY_PROBE, &d);
		if (d.action == AG_ACTION_CONTINUE || d.reason != AG_REASON_FILTER)
			continue;
		ag__complete(e, f->pend, ag__decision_verdict(&d));
		/* a filter decided, not the callout: its pended data goes too */
		if (f->state == AG_FLOW_AUTHORIZED)
			ag__flow_refs_flush(e, f, true);
	}
}

int ag_reauthorize(ag_engine *e, uint32_t layer_mask)
{
	return reauthorize_live(e, layer_mask, AG_REASON_RELOAD);
}
