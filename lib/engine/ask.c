/*
 * lib/engine/ask.c — the built-in callouts (S17): `ask` pends what no rule
 * decides until someone answers; `log` watches.  See alegate/callouts.h.
 *
 * `ask` keeps its answer for a flow as the flow context it associates with
 * it (value 1 + verdict), so a reauthorization — on completion (S7), on a
 * filter change (S12) or on a retransmitted packet (S11) — answers the same
 * without asking again.
 */
#include <errno.h>
#include <string.h>

#include "alegate/callouts.h"
#include "engine/internal.h"

static void set_verdict(ag_classify_out *out, ag_verdict v)
{
	out->action = v == AG_VERDICT_PERMIT ? AG_ACTION_PERMIT : AG_ACTION_BLOCK;
	if (v == AG_VERDICT_REJECT)
		out->flags |= AG_CLASSIFY_OUT_FLAG_REJECT;
}

static void ask_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			 const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			 ag_classify_out *out, void *arg)
{
	ag_flow_info info;
	uint64_t ctx;

	(void)filter;
	(void)arg;
	if (layer == AG_LAYER_ALE_FLOW_ESTABLISHED)
		return;
	if (flow_context) {
		/* Decided before: answer the same, whatever kind of classify this is. */
		set_verdict(out, (ag_verdict)(flow_context - 1));
		return;
	}
	if (in->flags & AG_FLAG_IS_INJECTED)
		return; /* our own clone, never pended again (S8) */
	if (in->flags & AG_FLAG_IS_PENDED_DATA) {
		/* S9: keep what arrives while a person decides, up to
		 * pending_buffer, to let it go in order with the answer. */
		ag_packet ref;

		if (!(meta->present & AG_META_FLOW_HANDLE) ||
		    ag_flow_get(e, meta->flow_handle, &info))
			return;
		if (info.buffered < e->cfg.pending_buffer)
			ag_packet_reference(e, meta, &ref);
		else if (e->cfg.pending_buffer)
			e->cur.bound_drop = true; /* counted as a buffer drop, not a flush */
		return;
	}
	if (in->flags & AG_FLAG_IS_REAUTHORIZE) {
		/* S5: cannot pend.  No answer was given: keep the flow as it is. */
		if (!(meta->present & AG_META_FLOW_HANDLE) ||
		    ag_flow_get(e, meta->flow_handle, &info))
			return;
		if (info.state == AG_FLOW_BLOCKED)
			set_verdict(out, info.reject ? AG_VERDICT_REJECT : AG_VERDICT_BLOCK);
		else if (info.state == AG_FLOW_AUTHORIZED)
			set_verdict(out, AG_VERDICT_PERMIT);
		return;
	}
	if (!(meta->present & AG_META_COMPLETION_HANDLE))
		return;
	if (layer == AG_LAYER_ALE_AUTH_RECV_ACCEPT) {
		ag_packet clone;

		/* S8: keep the packet, to reinject it if the answer is allow. */
		ag_packet_clone(e, meta, &clone);
	}
	int r = ag_pend_operation(e, meta->completion_handle, &ctx);

	if (r == 0) {
		/* S4: BLOCK + ABSORB, write right cleared. */
		out->action = AG_ACTION_BLOCK;
		out->flags |= AG_CLASSIFY_OUT_FLAG_ABSORB;
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
		return;
	}
	if (r == AG_E_LIMIT) {
		/* A bound was reached: the flow gets the timeout verdict at once
		 * (the engine counted it and logged why). */
		set_verdict(out, e->cfg.timeout_verdict);
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
	}
}

/* The answer is a number, not memory: nothing to free when the flow goes. */
static void ask_flow_delete(ag_engine *e, ag_layer layer, uint64_t flow_handle,
			    uint64_t flow_context, void *arg)
{
	(void)e;
	(void)layer;
	(void)flow_handle;
	(void)flow_context;
	(void)arg;
}

int ag_ask_register(ag_engine *e)
{
	ag_callout c = {
		.name = AG_CALLOUT_ASK,
		.classify = ask_classify,
		.flow_delete = ask_flow_delete,
	};
	int r = ag_callout_register(e, &c);

	if (r == 0 && !e->ask_injector)
		ag_injection_handle_create(e, &e->ask_injector);
	return r;
}

int ag_ask_decide(ag_engine *e, uint64_t completion_context, ag_verdict verdict)
{
	struct ag__pend *p = ag__pend_from_context(e, completion_context);

	if (!p)
		return AG_E_NO_CONTEXT;
	if (verdict != AG_VERDICT_PERMIT && verdict != AG_VERDICT_BLOCK &&
	    verdict != AG_VERDICT_REJECT)
		return -EINVAL;
	if (e->cur.active && e->cur.pended == p)
		return -EBUSY;
	if (!p->callout || strcmp(p->callout->s, AG_CALLOUT_ASK) != 0) {
		/* Another callout's pend: the person's answer overrides it and
		 * ends the operation as answered; that callout's own completion
		 * then finds it gone (S6). */
		e->stats.completions++;
		ag__event(e, AG_EVENT_COMPLETE, AG_REASON_COMPLETED, (ag_layer)p->flow->layer,
			  verdict, p->flow, 0, 0);
		struct ag__flow *f = p->flow;

		ag__pend_finish(e, p, verdict, 0, AG_REASON_COMPLETED);
		if (f->state == AG_FLOW_AUTHORIZED)
			ag__flow_refs_flush(e, f, true);
		return 0;
	}
	struct ag__flow *f = p->flow;
	uint64_t flow = ag__flow_handle(f);
	int r = ag_flow_associate_context(e, flow, (ag_layer)f->layer, AG_CALLOUT_ASK,
					  1 + (uint64_t)verdict);
	if (r)
		return r;
	ag__complete(e, p, verdict);
	/* S9: what was kept while the person decided, in order, on the
	 * application's behalf (dropped by the engine if the flow is blocked). */
	for (uint32_t n = f->nrefs; n-- > 0 && f->in_use && ag__flow_handle(f) == flow && f->nrefs;) {
		ag_packet ref = f->refs[0];

		if (ag_inject_referenced(e, e->ask_injector, flow, &ref) == -ENOENT)
			ag_packet_dereference(e, flow, &ref);
	}
	return 0;
}

static void log_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			 const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			 ag_classify_out *out, void *arg)
{
	(void)filter;
	(void)flow_context;
	(void)arg;
	if (e->log_fn)
		e->log_fn(e->log_arg, layer, in, meta);
	out->action = AG_ACTION_CONTINUE;
}

int ag_log_register(ag_engine *e, ag_log_fn fn, void *arg)
{
	ag_callout c = {
		.name = AG_CALLOUT_LOG,
		.classify = log_classify,
	};
	int r = ag_callout_register(e, &c);

	if (r == 0) {
		e->log_fn = fn;
		e->log_arg = arg;
	}
	return r;
}
