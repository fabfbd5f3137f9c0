/*
 * engine_fixture.h — what every engine test needs: a clock the test moves,
 * a data plane that records what the engine asks of it, a configurable test
 * callout, and builders for fixed values and filters.
 */
#ifndef ALEGATE_TEST_ENGINE_FIXTURE_H
#define ALEGATE_TEST_ENGINE_FIXTURE_H

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "alegate/callouts.h"
#include "alegate/engine.h"

#define NS 1000000000ULL

static uint64_t fx_now = 1000 * NS;

static inline uint64_t fx_clock(void *arg)
{
	(void)arg;
	return fx_now;
}

#define FX_MAX 64
struct fx_dp {
	ag_packet released[FX_MAX];
	size_t n_released, release_calls;
	ag_packet dropped[FX_MAX];
	size_t n_dropped, drop_calls;
	bool last_reject;
	uint64_t teardown[FX_MAX];
	size_t n_teardown;
	ag_event_type events[4096];
	ag_reason reasons[4096];
	size_t n_events;
	ag_flow_state state_at_release;
};
static struct fx_dp dp;

static inline void fx_release(void *arg, const ag_flow_info *f, const ag_packet *p, size_t n)
{
	(void)arg;
	dp.release_calls++;
	dp.state_at_release = f->state;
	for (size_t i = 0; i < n && dp.n_released < FX_MAX; i++)
		dp.released[dp.n_released++] = p[i];
}

static inline void fx_drop(void *arg, const ag_flow_info *f, const ag_packet *p, size_t n, bool reject)
{
	(void)arg;
	(void)f;
	dp.drop_calls++;
	dp.last_reject = reject;
	for (size_t i = 0; i < n && dp.n_dropped < FX_MAX; i++)
		dp.dropped[dp.n_dropped++] = p[i];
}

static inline void fx_teardown(void *arg, const ag_flow_info *f)
{
	(void)arg;
	if (dp.n_teardown < FX_MAX)
		dp.teardown[dp.n_teardown++] = f->handle;
}

static inline void fx_event(void *arg, const ag_event *ev)
{
	(void)arg;
	if (dp.n_events < 4096) {
		dp.reasons[dp.n_events] = ev->reason;
		dp.events[dp.n_events++] = ev->type;
	}
}

static inline size_t fx_count_events(ag_event_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < dp.n_events; i++)
		n += dp.events[i] == t;
	return n;
}

static inline ag_engine *fx_engine_cfg(ag_engine_config *cfg)
{
	ag_dataplane_ops ops = {
		.release = fx_release,
		.drop = fx_drop,
		.teardown = fx_teardown,
		.event = fx_event,
	};

	memset(&dp, 0, sizeof(dp));
	cfg->clock = fx_clock;
	return ag_engine_new(cfg, &ops);
}

static inline ag_engine *fx_engine(void)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	return fx_engine_cfg(&cfg);
}

/* TCP over IPv4 from 192.0.2.1:lport to 198.51.100.7:rport. */
static inline ag_fixed_values fx_tcp4(uint16_t lport, uint16_t rport, const char *app)
{
	ag_fixed_values in;

	memset(&in, 0, sizeof(in));
	in.ip_version = 4;
	in.protocol = 6;
	in.direction = AG_DIR_OUT;
	in.local_addr.b[0] = 192, in.local_addr.b[1] = 0, in.local_addr.b[2] = 2, in.local_addr.b[3] = 1;
	in.remote_addr.b[0] = 198, in.remote_addr.b[1] = 51, in.remote_addr.b[2] = 100,
	in.remote_addr.b[3] = 7;
	in.local_port = lport;
	in.remote_port = rport;
	in.uid = 1000;
	in.gid = 1000;
	in.app_path = app;
	return in;
}

static inline ag_fixed_values fx_udp6(uint16_t lport, uint16_t rport, const char *app)
{
	ag_fixed_values in;

	memset(&in, 0, sizeof(in));
	in.ip_version = 6;
	in.protocol = 17;
	in.direction = AG_DIR_OUT;
	in.local_addr.b[0] = 0x20, in.local_addr.b[1] = 0x01, in.local_addr.b[2] = 0x0d,
	in.local_addr.b[3] = 0xb8, in.local_addr.b[15] = 1;
	in.remote_addr.b[0] = 0x20, in.remote_addr.b[1] = 0x01, in.remote_addr.b[2] = 0x0d,
	in.remote_addr.b[3] = 0xb8, in.remote_addr.b[15] = 2;
	in.local_port = lport;
	in.remote_port = rport;
	in.uid = 1000;
	in.app_path = app;
	return in;
}

static inline ag_packet fx_pkt(uint64_t token)
{
	ag_packet p = { .token = token, .len = 60, .flags = 0 };
	return p;
}

/* Add a filter with up to four conditions; returns its id (0 on failure). */
static inline uint64_t fx_filter(ag_engine *e, ag_layer layer, uint32_t sublayer, uint32_t weight,
			  ag_action_type action, const char *callout, uint32_t flags,
			  const ag_condition *conds, size_t n)
{
	ag_filter_spec s;
	uint64_t id = 0;

	memset(&s, 0, sizeof(s));
	s.layer = layer;
	s.sublayer = sublayer;
	s.weight = weight;
	s.action = action;
	s.callout = callout;
	s.flags = flags;
	s.lifetime = AG_LIFETIME_UNTIL_RESTART;
	s.conditions = conds;
	s.n_conditions = n;
	if (ag_filter_add(e, &s, &id))
		return 0;
	return id;
}

static inline ag_condition fx_app(const char *path)
{
	ag_condition c = { .field = AG_FIELD_APP_PATH, .match = AG_MATCH_EQUAL };

	c.v.str = path;
	return c;
}

static inline ag_condition fx_rport(uint32_t port)
{
	ag_condition c = { .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_EQUAL };

	c.v.u32 = port;
	return c;
}

/* ---- a test callout whose behaviour each test sets --------------------------------- */

enum fx_mode {
	FX_CONTINUE = 0,
	FX_PEND,          /* pend, BLOCK + ABSORB (S4) */
	FX_PEND_PERMIT,   /* pend, then return PERMIT: contract violation */
	FX_PEND_CLONE,    /* clone the packet, then pend (RECV_ACCEPT, S8) */
	FX_PERMIT,
	FX_PERMIT_HARD,
	FX_BLOCK,         /* soft block (S13 default for callouts) */
	FX_BLOCK_HARD,
};

struct fx_callout {
	enum fx_mode mode;
	int calls;
	int pend_result;          /* what ag_pend_operation returned last */
	uint64_t ctx;             /* the completion context of the last pend */
	ag_packet clone;
	uint32_t last_flags;      /* in->flags of the last classify */
	uint32_t last_present;    /* meta->present of the last classify */
	uint64_t last_handle;
	uint32_t last_rights;
	ag_layer last_layer;
	ag_fixed_values last_in;
	char last_app[256];
	int notify_add, notify_del, flow_deletes;
	uint64_t flow_context;    /* associated on every classify if nonzero */
	uint64_t seen_context;
	/* S9: pended data shown to the callout, and what it referenced */
	int data_calls;
	bool ref_data;
	ag_packet refs[8];
	size_t nrefs;
};

static inline void fx_callout_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
				const ag_metadata *meta, const ag_filter *filter,
				uint64_t flow_context, ag_classify_out *out, void *arg)
{
	struct fx_callout *c = arg;

	(void)filter;
	c->calls++;
	c->last_layer = layer;
	c->last_flags = in->flags;
	c->last_present = meta->present;
	c->last_handle = meta->completion_handle;
	c->last_rights = out->rights;
	c->last_in = *in;
	c->seen_context = flow_context;
	snprintf(c->last_app, sizeof(c->last_app), "%s", in->app_path ? in->app_path : "");
	if (in->flags & AG_FLAG_IS_PENDED_DATA) {
		c->data_calls++;
		if (c->ref_data && c->nrefs < 8 && ag_packet_reference(e, meta, &c->refs[c->nrefs]) == 0)
			c->nrefs++;
		return;
	}
	if (c->flow_context && (meta->present & AG_META_FLOW_HANDLE))
		ag_flow_associate_context(e, meta->flow_handle, layer, "fx", c->flow_context);
	switch (c->mode) {
	case FX_CONTINUE:
		return;
	case FX_PEND_CLONE:
		ag_packet_clone(e, meta, &c->clone);
		/* fall through */
	case FX_PEND:
	case FX_PEND_PERMIT:
		c->pend_result = ag_pend_operation(e, meta->completion_handle, &c->ctx);
		if (c->mode == FX_PEND_PERMIT) {
			out->action = AG_ACTION_PERMIT;
			return;
		}
		if (c->pend_result == 0) {
			out->action = AG_ACTION_BLOCK;
			out->flags |= AG_CLASSIFY_OUT_FLAG_ABSORB;
			out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
		} else {
			/* S5: must decide at once: permit. */
			out->action = AG_ACTION_PERMIT;
		}
		return;
	case FX_PERMIT:
		out->action = AG_ACTION_PERMIT;
		return;
	case FX_PERMIT_HARD:
		out->action = AG_ACTION_PERMIT;
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
		return;
	case FX_BLOCK:
		out->action = AG_ACTION_BLOCK;
		return;
	case FX_BLOCK_HARD:
		out->action = AG_ACTION_BLOCK;
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
		return;
	}
}

static inline int fx_callout_notify(ag_engine *e, ag_notify_type t, const ag_filter *f, void *arg)
{
	struct fx_callout *c = arg;

	(void)e;
	(void)f;
	if (t == AG_NOTIFY_FILTER_ADD)
		c->notify_add++;
	else
		c->notify_del++;
	return 0;
}

static inline void fx_callout_flow_delete(ag_engine *e, ag_layer layer, uint64_t flow, uint64_t ctx,
				   void *arg)
{
	struct fx_callout *c = arg;

	(void)e;
	(void)layer;
	(void)flow;
	(void)ctx;
	c->flow_deletes++;
}

static inline int fx_register(ag_engine *e, const char *name, struct fx_callout *c)
{
	ag_callout co = {
		.name = name,
		.classify = fx_callout_classify,
		.notify = fx_callout_notify,
		.flow_delete = fx_callout_flow_delete,
		.arg = c,
	};
	memset(c, 0, sizeof(*c));
	return ag_callout_register(e, &co);
}

#endif
