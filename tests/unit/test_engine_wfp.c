/*
 * test_engine_wfp.c — the engine does what Microsoft documents for the WFP
 * functions it stands for, where a callout written for Windows relies on it:
 * flow contexts, unregistering, injection state per handle, the completion
 * handle of a reauthorization, a pend with no deadline, the suspended packet
 * at CONNECT completion.
 */
#include "check.h"
#include "engine_fixture.h"

static ag_packet fx_inbound(ag_engine *e, struct fx_callout *c, uint16_t rport, uint64_t token)
{
	ag_fixed_values in = fx_tcp4(22, rport, "/usr/sbin/sshd");
	ag_packet p = fx_pkt(token);

	in.direction = AG_DIR_IN;
	c->mode = FX_PEND_CLONE;
	ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL);
	return p;
}

/* ---- FwpsFlowAssociateContext0 ------------------------------------------------------- */

TEST(flow_associate_context_twice_fails_object_name_exists_and_keeps_the_first)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_tcp4(41000, 443, "/bin/a");
	ag_packet p = fx_pkt(1);
	uint64_t h, got = 0;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", 5), 0);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", 6), -EEXIST);
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", &got), 0);
	CHECK_EQ(got, 5);
	ag_engine_free(e);
}

static void noop_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			  const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			  ag_classify_out *out, void *arg)
{
	out->action = AG_ACTION_PERMIT;
}

TEST(flow_associate_context_zero_or_without_flow_delete_fails_invalid_parameter)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_callout bare = { .name = "bare", .classify = noop_classify };
	ag_fixed_values in = fx_tcp4(41001, 443, "/bin/a");
	ag_packet p = fx_pkt(2);
	uint64_t h, got;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK_EQ(ag_callout_register(e, &bare), 0);
	c.mode = FX_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", 0), -EINVAL);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "bare", 7), -EINVAL);
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", &got), -ENOENT);
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "bare", &got), -ENOENT);
	ag_engine_free(e);
}

/* ---- FwpsFlowRemoveContext0 ---------------------------------------------------------- */

TEST(flow_remove_context_calls_flow_delete_before_it_returns)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_tcp4(41002, 443, "/bin/a");
	ag_packet p = fx_pkt(3);
	uint64_t h, got;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", 9), 0);
	CHECK_EQ(c.flow_deletes, 0);
	CHECK_EQ(ag_flow_remove_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx"), 0);
	CHECK_EQ(c.flow_deletes, 1);
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", &got), -ENOENT);
	/* the flow's end does not call it a second time */
	CHECK_EQ(ag_flow_end(e, &in), 0);
	CHECK_EQ(c.flow_deletes, 1);
	ag_engine_free(e);
}

/* ---- FwpsCalloutUnregisterById0 ------------------------------------------------------ */

TEST(callout_unregister_while_flows_hold_its_contexts_fails_device_busy)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_tcp4(41003, 443, "/bin/a");
	ag_packet p = fx_pkt(4);
	uint64_t h, got;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_associate_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", 9), 0);
	CHECK_EQ(ag_callout_unregister(e, "fx"), -EBUSY);
	/* still registered, the context still there */
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", &got), 0);
	CHECK_EQ(ag_flow_remove_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx"), 0);
	CHECK_EQ(ag_callout_unregister(e, "fx"), 0);
	ag_engine_free(e);
}

/* ---- FwpsQueryPacketInjectionState0 -------------------------------------------------- */

struct injq {
	uint64_t self, other;
	ag_injection_state as_self, as_other;
	int calls;
};

static void injq_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			  const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			  ag_classify_out *out, void *arg)
{
	struct injq *q = arg;

	q->calls++;
	q->as_self = ag_packet_injection_state(e, q->self, meta->packet);
	q->as_other = ag_packet_injection_state(e, q->other, meta->packet);
}

TEST(packet_injection_state_is_per_injection_handle)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	struct injq q = { 0 };
	ag_callout watch = { .name = "watch", .classify = injq_classify, .arg = &q };

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK_EQ(ag_callout_register(e, &watch), 0);
	CHECK_EQ(ag_injection_handle_create(e, &q.self), 0);
	CHECK_EQ(ag_injection_handle_create(e, &q.other), 0);
	CHECK(q.self && q.other && q.self != q.other);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 2, AG_ACTION_CALLOUT_INSPECTION,
			"watch", 0, NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	fx_inbound(e, &c, 51001, 10);
	CHECK_EQ(q.as_self, AG_PACKET_NOT_INJECTED);
	CHECK_EQ(q.as_other, AG_PACKET_NOT_INJECTED);
	/* reinjected with one handle: that handle's own, another's to the other */
	CHECK_EQ(ag_inject_receive_async(e, q.self, c.ctx, &c.clone), 0);
	CHECK_EQ(q.calls, 2);
	CHECK_EQ(q.as_self, AG_PACKET_INJECTED_BY_SELF);
	CHECK_EQ(q.as_other, AG_PACKET_INJECTED_BY_OTHER);
	CHECK_EQ(dp.n_released, 1);
	/* the engine's own reinjection is nobody's self */
	fx_inbound(e, &c, 51002, 11);
	CHECK_EQ(ag_complete_operation(e, c.ctx, &c.clone), 0);
	CHECK_EQ(q.as_self, AG_PACKET_INJECTED_BY_OTHER);
	CHECK_EQ(q.as_other, AG_PACKET_INJECTED_BY_OTHER);
	/* a destroyed handle injects nothing */
	CHECK_EQ(ag_injection_handle_destroy(e, q.other), 0);
	fx_inbound(e, &c, 51003, 12);
	CHECK_EQ(ag_inject_receive_async(e, q.other, c.ctx, &c.clone), -ENOENT);
	ag_engine_free(e);
}

TEST(packet_injected_by_self_then_reinjected_by_another_is_previously_injected_by_self)
{
	ag_engine *e = fx_engine();
	uint64_t a, b;

	CHECK_EQ(ag_injection_handle_create(e, &a), 0);
	CHECK_EQ(ag_injection_handle_create(e, &b), 0);
	ag_packet p = fx_pkt(1);

	p.injector = (uint32_t)b;
	p.prev_injector = (uint32_t)a;
	CHECK_EQ(ag_packet_injection_state(e, a, &p), AG_PACKET_PREVIOUSLY_INJECTED_BY_SELF);
	CHECK_EQ(ag_packet_injection_state(e, b, &p), AG_PACKET_INJECTED_BY_SELF);
	ag_engine_free(e);
}

/* ---- S3/S5: the reauthorization's pend fails with CANNOT_PEND, not "no handle" ------- */

TEST(S5_reauthorization_has_the_completion_handle_and_pend_fails_cannot_pend)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_tcp4(41004, 443, "/bin/a");
	ag_packet p = fx_pkt(5);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	/* completion reauthorizes; the callout tries to pend again with the handle it got */
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK(c.last_present & AG_META_COMPLETION_HANDLE);
	CHECK(c.last_handle != 0);
	CHECK_EQ(c.pend_result, AG_E_CANNOT_PEND);
	CHECK_EQ(dp.n_released, 1);
	ag_engine_free(e);
}

/* ---- S10: WFP puts no deadline on a pend ---------------------------------------------- */

TEST(S10_an_engine_without_pending_timeout_keeps_a_pend_until_it_is_completed)
{
	ag_engine_config cfg;
	struct fx_callout c;
	ag_flow_info info;

	ag_engine_config_default(&cfg);
	cfg.pending_timeout_ns = 0;
	ag_engine *e = fx_engine_cfg(&cfg);

	CHECK(e != NULL);
	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(41005, 443, "/bin/a");
	ag_packet p = fx_pkt(6);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_engine_next_deadline(e), UINT64_MAX);
	fx_now += 24 * 3600 * NS;
	CHECK_EQ(ag_engine_advance(e), 0);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_PENDING);
	CHECK_EQ(info.deadline_ns, 0);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.n_released, 1);
	ag_engine_free(e);
}

TEST(S10_a_pend_gets_its_own_deadline_or_none)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values a = fx_tcp4(41006, 443, "/bin/a"), b = fx_tcp4(41007, 443, "/bin/a");
	ag_packet p = fx_pkt(7), q = fx_pkt(8);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_pend_set_deadline(e, c.ctx, 0), 0);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &q, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_pend_set_deadline(e, c.ctx, fx_now + 2 * NS), 0);
	fx_now += 3 * NS;
	CHECK_EQ(ag_engine_advance(e), 1);
	CHECK_EQ(ag_flow_lookup(e, &b, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	fx_now += 3600 * NS;
	ag_engine_advance(e);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_PENDING);
	ag_engine_free(e);
}

/* ---- a person decides what a loaded callout pended -------------------------------------- */

TEST(a_person_decides_a_flow_another_callout_pended_and_its_late_completion_is_stale)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;
	ag_fixed_values in = fx_tcp4(41010, 443, "/bin/a");
	ag_packet p = fx_pkt(20);

	CHECK_EQ(fx_register(e, "module", &c), 0);
	CHECK_EQ(ag_ask_register(e), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "module", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_pend_lookup(e, c.ctx, &info), 0);
	CHECK(info.callout && strcmp(info.callout, "module") == 0);
	CHECK_EQ(ag_ask_decide(e, c.ctx, AG_VERDICT_BLOCK), 0);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), AG_E_NO_CONTEXT);
	ag_engine_free(e);
}

TEST(S10_a_callout_has_its_own_pend_timeout_or_none)
{
	ag_engine *e = fx_engine();
	struct fx_callout c, q;
	ag_flow_info info;
	ag_fixed_values a = fx_tcp4(41011, 443, "/bin/a"), b = fx_tcp4(41012, 80, "/bin/b");
	ag_packet p = fx_pkt(21), r = fx_pkt(22);

	CHECK_EQ(fx_register(e, "slow", &c), 0);
	CHECK_EQ(fx_register(e, "quick", &q), 0);
	c.mode = q.mode = FX_PEND;
	CHECK_EQ(ag_callout_set_pend_timeout(e, "slow", 0), 0);
	CHECK_EQ(ag_callout_set_pend_timeout(e, "quick", 2 * NS), 0);
	CHECK_EQ(ag_callout_set_pend_timeout(e, "nobody", 1), -ENOENT);
	ag_condition ca = fx_rport(443), cb = fx_rport(80);

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "slow", 0,
			&ca, 1));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "quick", 0,
			&cb, 1));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &r, NULL), AG_VERDICT_HOLD);
	fx_now += 3600 * NS; /* beyond the engine's default of 30 s too */
	ag_engine_advance(e);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_PENDING);
	CHECK_EQ(ag_flow_lookup(e, &b, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	ag_engine_free(e);
}
