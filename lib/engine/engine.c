/*
 * lib/engine/engine.c — the engine's life: configuration, deadlines,
 * shutdown, statistics, and the names of things.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

#define NS_PER_S 1000000000ULL

void ag_engine_config_default(ag_engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hash_seed[0] = 0x616c656761746531ULL;
	cfg->hash_seed[1] = 0x706572696f642121ULL;
	cfg->max_flows = 65536;
	cfg->max_filters = 1000000;
	cfg->max_pended = 16384;
	cfg->max_pended_per_process = 1024;
	cfg->max_pended_per_user = 4096;
	cfg->pending_buffer = 16;
	cfg->pending_timeout_ns = 30 * NS_PER_S;
	cfg->timeout_verdict = AG_VERDICT_BLOCK;
	cfg->blocked_flow_ttl_ns = 120 * NS_PER_S;
	cfg->event_ring_size = 4096;
	cfg->complete_pended_on_change = true;
}

static int config_check(const ag_engine_config *cfg)
{
	if (!cfg->clock || !cfg->max_flows || !cfg->max_filters)
		return -EINVAL;
	if (cfg->timeout_verdict != AG_VERDICT_PERMIT && cfg->timeout_verdict != AG_VERDICT_BLOCK &&
	    cfg->timeout_verdict != AG_VERDICT_REJECT)
		return -EINVAL;
	if (cfg->event_ring_size > (1u << 24) || cfg->pending_buffer > (1u << 20))
		return -EINVAL;
	return 0;
}

ag_engine *ag_engine_new(const ag_engine_config *cfg, const ag_dataplane_ops *ops)
{
	ag_engine *e;

	if (!cfg || config_check(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->mem = sizeof(*e);
	e->cfg = *cfg;
	e->owner = thrd_current();
	if (ag__cqueue_init(&e->cq)) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	if (ops)
		e->ops = *ops;
	if (cfg->event_ring_size) {
		e->ring = ag__calloc(e, cfg->event_ring_size, sizeof(*e->ring));
		if (!e->ring)
			goto fail;
		e->ring_size = cfg->event_ring_size;
	}
	if (ag_sublayer_add(e, AG_SUBLAYER_DEFAULT, 0, "default"))
		goto fail;
	return e;
fail:
	ag_engine_free(e);
	errno = ENOMEM;
	return NULL;
}

void ag_engine_shutdown(ag_engine *e)
{
	if (e)
		ag__pend_shutdown(e);
}

void ag_engine_free(ag_engine *e)
{
	if (!e)
		return;
	/* No callback runs: contexts and pends are simply forgotten. */
	for (uint32_t c = 0; c < e->flow_nchunks; c++) {
		for (uint32_t i = 0; i < AG__POOL_CHUNK; i++) {
			struct ag__flow *f = &e->flow_chunks[c][i];

			if (f->in_use)
				free(f->refs);
			while (f->in_use && f->ctx) {
				struct ag__fctx *x = f->ctx;

				f->ctx = x->next;
				free(x);
			}
		}
		free(e->flow_chunks[c]);
	}
	for (uint32_t c = 0; c < e->pend_nchunks; c++)
		free(e->pend_chunks[c]);
	for (uint32_t i = 0; i < e->filter_ids.cap; i++) {
		struct ag_filter *f = e->filter_ids.slots[i];

		if (f) {
			if (f->nbuckets > 1)
				free(f->bucketv);
			free(f);
		}
	}
	for (unsigned l = 0; l < AG_LAYER_COUNT; l++)
		ag__index_fini(&e->index[l]);
	for (uint32_t i = 0; i < e->strings.nbuckets; i++) {
		struct ag__str *s = e->strings.buckets[i], *next;

		for (; s; s = next) {
			next = s->next;
			free(s);
		}
	}
	free(e->strings.buckets);
	free(e->flow_chunks);
	free(e->flow_free);
	free(e->fhash);
	free(e->pend_chunks);
	ag__u64map_fini(&e->pend_owners);
	ag__fmap_fini(&e->filter_ids);
	ag__u64map_fini(&e->sessions);
	ag__u64map_fini(&e->injectors);
	ag__cqueue_fini(&e->cq);
	free(e->sublayers);
	free(e->cand);
	free(e->callouts);
	free(e->heap);
	free(e->ring);
	free(e);
}

int ag_engine_reconfigure(ag_engine *e, const ag_engine_config *cfg)
{
	if (config_check(cfg))
		return -EINVAL;
	if (cfg->event_ring_size != e->ring_size) {
		ag_event *ring = cfg->event_ring_size ? calloc(cfg->event_ring_size, sizeof(*ring))
						      : NULL;

		if (cfg->event_ring_size && !ring)
			return -ENOMEM;
		/* keep the newest events that fit; sequence numbers stay */
		uint64_t last = e->event_seq, keep = cfg->event_ring_size;
		uint64_t first = last > keep ? last - keep + 1 : 1;

		for (uint64_t s = first; s <= last && e->ring_size; s++) {
			ag_event *old = &e->ring[(s - 1) % e->ring_size];

			if (old->seq != s)
				continue;
			ring[(s - 1) % keep] = *old;
			old->seq = 0; /* moved: its string references go with it */
		}
		ag__events_fini(e);
		e->ring = ring;
		e->ring_size = cfg->event_ring_size;
		e->mem += e->ring_size * sizeof(*ring);
	}
	ag_engine_config keep = *cfg;

	keep.hash_seed[0] = e->cfg.hash_seed[0]; /* the flow table is hashed with it */
	keep.hash_seed[1] = e->cfg.hash_seed[1];
	e->cfg = keep;
	return 0;
}

int ag_engine_advance(ag_engine *e)
{
	return ag_engine_advance_some(e, 0);
}

int ag_engine_advance_some(ag_engine *e, unsigned max)
{
	uint64_t now = ag__now(e);
	bool own_txn = !e->in_txn;
	int n = 0;

	/* Filters expiring together reauthorize once. */
	if (own_txn)
		ag_engine_begin(e);
	while (e->heap_len && e->heap[0]->when <= now && (!max || (unsigned)n < max)) {
		struct ag__timer *t = e->heap[0];

		ag__timer_disarm(e, t);
		n++;
		switch (t->kind) {
		case AG__TIMER_PEND:
			ag__pend_fire(e, AG__CONTAINER_OF(t, struct ag__pend, timer));
			break;
		case AG__TIMER_FILTER:
			ag__filter_expire(e, AG__CONTAINER_OF(t, struct ag__fextra, timer)->f);
			break;
		case AG__TIMER_BLOCKED: {
			struct ag__flow *f = AG__CONTAINER_OF(t, struct ag__flow, timer);

			if (f->state == AG_FLOW_BLOCKED)
				ag__flow_free(e, f);
			break;
		}
		}
	}
	if (own_txn)
		ag_engine_commit(e);
	return n;
}

uint64_t ag_engine_next_deadline(const ag_engine *e)
{
	return e->heap_len ? e->heap[0]->when : UINT64_MAX;
}

void ag_engine_get_stats(const ag_engine *e, ag_engine_stats *out)
{
	*out = e->stats;
	out->flows = e->nflows;
	out->pended = e->npended;
	out->filters = e->nfilters;
	out->callouts = e->ncallouts;
	out->memory = e->mem;
	out->queued_completions = atomic_load(&((ag_engine *)e)->cq.queued);
}

/* ---- names ---------------------------------------------------------------------- */

#define NAME(table, i) ((size_t)(i) < AG__ARRAY_SIZE(table) && table[i] ? table[i] : "?")

const char *ag_layer_name(ag_layer layer)
{
	static const char *const n[] = {
		[AG_LAYER_ALE_AUTH_CONNECT] = "ALE_AUTH_CONNECT",
		[AG_LAYER_ALE_AUTH_RECV_ACCEPT] = "ALE_AUTH_RECV_ACCEPT",
		[AG_LAYER_ALE_FLOW_ESTABLISHED] = "ALE_FLOW_ESTABLISHED",
	};
	return NAME(n, layer);
}

const char *ag_action_name(ag_action_type action)
{
	static const char *const n[] = {
		[AG_ACTION_CONTINUE] = "continue",
		[AG_ACTION_PERMIT] = "permit",
		[AG_ACTION_BLOCK] = "block",
		[AG_ACTION_CALLOUT_TERMINATING] = "callout_terminating",
		[AG_ACTION_CALLOUT_INSPECTION] = "callout_inspection",
		[AG_ACTION_CALLOUT_UNKNOWN] = "callout_unknown",
	};
	return NAME(n, action);
}

const char *ag_field_name(ag_field field)
{
	static const char *const n[] = {
		[AG_FIELD_IP_VERSION] = "ip_version", [AG_FIELD_PROTOCOL] = "protocol",
		[AG_FIELD_LOCAL_ADDR] = "local_addr", [AG_FIELD_REMOTE_ADDR] = "remote_addr",
		[AG_FIELD_LOCAL_PORT] = "local_port", [AG_FIELD_REMOTE_PORT] = "remote_port",
		[AG_FIELD_DIRECTION] = "direction",   [AG_FIELD_INTERFACE] = "interface",
		[AG_FIELD_APP_PATH] = "app_path",     [AG_FIELD_UID] = "uid",
		[AG_FIELD_GID] = "gid",               [AG_FIELD_REMOTE_HOST] = "remote_host",
		[AG_FIELD_FLAGS] = "flags",           [AG_FIELD_APP_SHA256] = "app_sha256",
		[AG_FIELD_SERVICE_PORT] = "service_port",
	};
	return NAME(n, field);
}

const char *ag_lifetime_name(ag_lifetime lifetime)
{
	static const char *const n[] = {
		[AG_LIFETIME_SESSION] = "session",
		[AG_LIFETIME_TIMED] = "timed",
		[AG_LIFETIME_UNTIL_RESTART] = "until-restart",
		[AG_LIFETIME_PERSISTENT] = "persistent",
	};
	return NAME(n, lifetime);
}

const char *ag_flow_state_name(ag_flow_state state)
{
	static const char *const n[] = {
		[AG_FLOW_PENDING] = "pending",
		[AG_FLOW_AUTHORIZED] = "authorized",
		[AG_FLOW_BLOCKED] = "blocked",
	};
	return NAME(n, state);
}

const char *ag_verdict_name(ag_verdict verdict)
{
	static const char *const n[] = {
		[AG_VERDICT_PERMIT] = "permit",
		[AG_VERDICT_BLOCK] = "block",
		[AG_VERDICT_REJECT] = "reject",
		[AG_VERDICT_HOLD] = "hold",
	};
	return NAME(n, verdict);
}

const char *ag_event_type_name(ag_event_type type)
{
	static const char *const n[] = {
		[AG_EVENT_PERMIT] = "permit",
		[AG_EVENT_BLOCK] = "block",
		[AG_EVENT_PEND] = "pend",
		[AG_EVENT_COMPLETE] = "complete",
		[AG_EVENT_TIMEOUT] = "timeout",
		[AG_EVENT_REAUTH] = "reauth",
		[AG_EVENT_VETO] = "veto",
		[AG_EVENT_TEARDOWN] = "teardown",
		[AG_EVENT_CONTRACT] = "contract",
		[AG_EVENT_DROP] = "drop",
		[AG_EVENT_LIMIT] = "limit",
		[AG_EVENT_FILTER_EXPIRED] = "filter_expired",
		[AG_EVENT_ESTABLISHED] = "established",
	};
	return NAME(n, type);
}

const char *ag_reason_name(ag_reason reason)
{
	static const char *const n[] = {
		[AG_REASON_FILTER] = "filter",
		[AG_REASON_DEFAULT] = "default",
		[AG_REASON_CALLOUT] = "callout",
		[AG_REASON_UNREGISTERED] = "callout_unregistered",
		[AG_REASON_TIMEOUT] = "timeout",
		[AG_REASON_SHUTDOWN] = "shutdown",
		[AG_REASON_INJECTED] = "injected",
		[AG_REASON_NOT_ABSORB] = "pend_without_absorb",
		[AG_REASON_BUFFER_FULL] = "buffer_full",
		[AG_REASON_FLUSH] = "flush",
		[AG_REASON_MAX_PENDED] = "max_pending",
		[AG_REASON_MAX_PENDED_PROCESS] = "max_pending_per_process",
		[AG_REASON_MAX_PENDED_USER] = "max_pending_per_user",
		[AG_REASON_MAX_FLOWS] = "max_flows",
		[AG_REASON_COMPLETED] = "completed",
		[AG_REASON_FILTER_CHANGE] = "filter_change",
		[AG_REASON_RELOAD] = "reload",
	};
	return NAME(n, reason);
}

const char *ag_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case AG_E_CANNOT_PEND:
		return "a reauthorization cannot be pended";
	case AG_E_NO_HANDLE:
		return "no completion handle for this classify";
	case AG_E_NO_CONTEXT:
		return "no such pended operation (unknown, completed or expired)";
	case AG_E_NOT_FOUND:
		return "no such sublayer or callout";
	case AG_E_LIMIT:
		return "a configured bound was reached";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
