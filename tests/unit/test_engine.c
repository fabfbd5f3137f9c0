/*
 * test_engine.c — the ALE model, statement by statement (SPEC S1–S17), and
 * the contract corners around it.  Each test is named after what it proves.
 */
#include "check.h"
#include "engine_fixture.h"

/* ---- S1 layers --------------------------------------------------------------------- */

TEST(S1_connect_and_recv_accept_classify_new_flows_at_their_layer)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;
	uint64_t h;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx",
			0, NULL, 0));
	ag_fixed_values out = fx_tcp4(40000, 443, "/usr/bin/curl");
	ag_packet p = fx_pkt(1);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &out, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(c.last_layer, AG_LAYER_ALE_AUTH_CONNECT);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	CHECK_EQ(info.layer, AG_LAYER_ALE_AUTH_CONNECT);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);

	ag_fixed_values in = fx_udp6(53000, 5353, NULL);

	in.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(c.last_layer, AG_LAYER_ALE_AUTH_RECV_ACCEPT);
	CHECK_EQ(c.last_in.ip_version, 6);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	CHECK_EQ(info.layer, AG_LAYER_ALE_AUTH_RECV_ACCEPT);
	CHECK_EQ(info.fixed.ip_version, 6);
	ag_engine_free(e);
}

TEST(S1_flow_established_is_indicated_once_authorized_and_cannot_block)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_BLOCK_HARD; /* tries to block at FLOW_ESTABLISHED: must be ignored */
	CHECK(fx_filter(e, AG_LAYER_ALE_FLOW_ESTABLISHED, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_FLOW_ESTABLISHED, 0, 0, AG_ACTION_BLOCK, NULL, 0, NULL, 0));
	ag_fixed_values in = fx_tcp4(40001, 80, "/usr/bin/curl");
	ag_packet p = fx_pkt(2);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.last_layer, AG_LAYER_ALE_FLOW_ESTABLISHED);
	/* S3: no completion handle there */
	CHECK(!(c.last_present & AG_META_COMPLETION_HANDLE));
	ag_flow_info info;

	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);
	/* The data plane cannot classify at FLOW_ESTABLISHED itself. */
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_FLOW_ESTABLISHED, &in, NULL, &p, NULL),
		 AG_VERDICT_BLOCK);
	ag_engine_free(e);
}

/* ---- S2 classify input ------------------------------------------------------------ */

TEST(S2_callout_sees_fixed_values_and_metadata_with_presence_bitmap)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_INSPECTION, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40002, 443, "/usr/bin/firefox");

	in.remote_host = "example.org";
	in.interface = 7;
	in.flags = AG_FLAG_IS_LOOPBACK;
	ag_metadata m = { .present = AG_META_PID | AG_META_PROCESS_PATH, .pid = 4242,
			  .process_path = "/usr/bin/firefox" };
	ag_packet p = fx_pkt(3);

	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, &m, &p, NULL);
	CHECK_EQ(c.last_in.remote_port, 443);
	CHECK_EQ(c.last_in.local_port, 40002);
	CHECK_EQ(c.last_in.interface, 7);
	CHECK_EQ(c.last_in.uid, 1000);
	CHECK_STR(c.last_in.remote_host, "example.org");
	CHECK_STR(c.last_app, "/usr/bin/firefox");
	CHECK(c.last_in.flags & AG_FLAG_IS_LOOPBACK);
	CHECK(c.last_present & AG_META_PID);
	CHECK(c.last_present & AG_META_PROCESS_PATH);
	CHECK(!(c.last_present & AG_META_CMDLINE));
	CHECK(c.last_present & AG_META_FLOW_HANDLE);
	CHECK(c.last_present & AG_META_PACKET);
	ag_engine_free(e);
}

/* ---- S3 completion handle ------------------------------------------------------------ */

TEST(S3_completion_handle_present_on_initial_authorization_and_reauthorization)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40003, 443, "/bin/a");
	ag_packet p = fx_pkt(4);

	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	CHECK(c.last_present & AG_META_COMPLETION_HANDLE);
	CHECK(c.last_handle != 0);
	CHECK(!(c.last_flags & AG_FLAG_IS_REAUTHORIZE));
	/* the same flow again: a reauthorization, the handle still there (WFP) */
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK(c.last_present & AG_META_COMPLETION_HANDLE);
	ag_engine_free(e);
}

/* ---- S4 how to pend ------------------------------------------------------------------- */

TEST(S4_pend_block_absorb_holds_packet_logs_pend_and_no_block)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;
	uint64_t h;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40004, 443, "/bin/a");
	ag_packet p = fx_pkt(5);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &h), AG_VERDICT_HOLD);
	CHECK_EQ(c.pend_result, 0);
	CHECK_EQ(fx_count_events(AG_EVENT_PEND), 1);
	CHECK_EQ(fx_count_events(AG_EVENT_BLOCK), 0);
	CHECK_EQ(dp.n_dropped + dp.n_released, 0);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_PENDING);
	CHECK_EQ(info.completion_context, c.ctx);
	CHECK_EQ(ag_pend_lookup(e, c.ctx, &info), 0);
	CHECK_EQ(info.handle, h);
	ag_engine_free(e);
}

TEST(S4_pend_that_returns_permit_is_a_contract_violation_hard_block)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	/* a lower sublayer permit must not rescue it: the block is hard */
	CHECK_EQ(ag_sublayer_add(e, 5, 100, "high"), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, AG_SUBLAYER_DEFAULT, 0, AG_ACTION_PERMIT, NULL,
			0, NULL, 0));
	ag_fixed_values in = fx_tcp4(40005, 443, "/bin/a");
	ag_packet p = fx_pkt(6);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(c.pend_result, 0);
	CHECK_EQ(fx_count_events(AG_EVENT_CONTRACT), 1);
	CHECK_EQ(fx_count_events(AG_EVENT_PEND), 0);
	/* the pend was undone: its context is dead */
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), AG_E_NO_CONTEXT);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.contract_violations, 1);
	CHECK_EQ(st.pended, 0);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	ag_engine_free(e);
}

/* ---- S5 CANNOT_PEND ---------------------------------------------------------------------- */

TEST(S5_pend_on_reauthorization_fails_cannot_pend)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40006, 443, "/bin/a");
	ag_packet p = fx_pkt(7);

	c.mode = FX_PERMIT;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	c.mode = FX_PEND; /* now it wants to pend the reauthorization */
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK_EQ(c.pend_result, AG_E_CANNOT_PEND);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 0);
	ag_engine_free(e);
}

TEST(pend_from_flow_established_fails_cannot_pend)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_FLOW_ESTABLISHED, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40007, 443, "/bin/a");
	ag_packet p = fx_pkt(8);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(c.last_layer, AG_LAYER_ALE_FLOW_ESTABLISHED);
	CHECK_EQ(c.pend_result, AG_E_CANNOT_PEND);
	ag_engine_free(e);
}

TEST(pend_outside_a_classify_or_with_a_foreign_handle_fails)
{
	ag_engine *e = fx_engine();
	uint64_t ctx;

	CHECK_EQ(ag_pend_operation(e, 12345, &ctx), AG_E_NO_HANDLE);
	ag_engine_free(e);
}

/* ---- S6 one-shot context -------------------------------------------------------------------- */

TEST(S6_double_completion_returns_error_and_releases_once)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40008, 443, "/bin/a");
	ag_packet p = fx_pkt(9);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), AG_E_NO_CONTEXT);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(ag_complete_operation(e, 0, NULL), AG_E_NO_CONTEXT);
	CHECK_EQ(ag_complete_operation(e, 0xdeadbeef00000007ULL, NULL), AG_E_NO_CONTEXT);
	ag_engine_free(e);
}

TEST(S6_completing_after_the_deadline_returns_error)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40009, 443, "/bin/a");
	ag_packet p = fx_pkt(10);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	fx_now += 31 * NS;
	CHECK_EQ(ag_engine_advance(e), 1);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), AG_E_NO_CONTEXT);
	CHECK_EQ(dp.n_released, 0);
	ag_engine_free(e);
}

/* ---- S7 CONNECT completion ------------------------------------------------------------------- */

TEST(S7_connect_completion_reauthorizes_and_permit_releases_held_packet)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40010, 443, "/bin/a");
	ag_packet p = fx_pkt(11);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(c.calls, 1);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	/* the completion made the engine classify again with IS_REAUTHORIZE */
	CHECK_EQ(c.calls, 2);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK(c.last_present & AG_META_COMPLETION_HANDLE);
	CHECK_EQ(fx_count_events(AG_EVENT_COMPLETE), 1);
	CHECK_EQ(fx_count_events(AG_EVENT_REAUTH), 1);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(dp.released[0].token, 11);
	CHECK_EQ(dp.state_at_release, AG_FLOW_AUTHORIZED);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);
	ag_engine_free(e);
}

TEST(S7_connect_completion_whose_reauthorization_blocks_drops)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40011, 443, "/bin/a");
	ag_packet p = fx_pkt(12);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	c.mode = FX_BLOCK;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.n_released, 0);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(dp.dropped[0].token, 12);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	/* a clone makes no sense at CONNECT */
	ag_engine_free(e);
}

TEST(S7_connect_completion_takes_the_suspended_packet_and_refuses_a_stranger)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND_CLONE;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40012, 443, "/bin/a");
	ag_packet p = fx_pkt(13), other = fx_pkt(99);

	other.flags |= AG_PACKET_CLONE;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_complete_operation(e, c.ctx, &other), -EINVAL);
	/* still pended; FwpsCompleteOperation0 with the suspended packet is accepted */
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, &c.clone), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(dp.released[0].token, 13);
	ag_engine_free(e);
}

/* ---- S8 RECV_ACCEPT completion --------------------------------------------------------------- */

TEST(S8_recv_accept_completion_reinjects_clone_recognized_as_injected)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND_CLONE;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(22, 51000, "/usr/sbin/sshd");
	ag_packet p = fx_pkt(14);

	in.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK(c.clone.flags & AG_PACKET_CLONE);
	CHECK_EQ(c.clone.token, 14);
	/* the clone comes back through classify: a callout that pends again would loop */
	c.mode = FX_PEND;
	CHECK_EQ(ag_complete_operation(e, c.ctx, &c.clone), 0);
	CHECK_EQ(c.calls, 2);
	CHECK(c.last_flags & AG_FLAG_IS_INJECTED);
	CHECK(!(c.last_flags & AG_FLAG_IS_REAUTHORIZE));
	CHECK(!(c.last_present & AG_META_COMPLETION_HANDLE));
	CHECK_EQ(c.pend_result, AG_E_CANNOT_PEND);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(dp.released[0].token, 14);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);
	/* S8: no automatic reauthorization at RECV_ACCEPT */
	CHECK_EQ(fx_count_events(AG_EVENT_REAUTH), 0);
	ag_engine_free(e);
}

TEST(S8_recv_accept_completion_with_null_drops)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND_CLONE;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(22, 51001, "/usr/sbin/sshd");
	ag_packet p = fx_pkt(15);

	in.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(c.calls, 1); /* not classified again */
	CHECK_EQ(dp.n_released, 0);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(dp.dropped[0].token, 15);
	ag_engine_free(e);
}

TEST(S8_a_packet_that_is_not_the_clone_is_refused)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND_CLONE;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(22, 51002, "/usr/sbin/sshd");
	ag_packet p = fx_pkt(16), other = fx_pkt(99);

	in.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	other.flags = AG_PACKET_CLONE;
	CHECK_EQ(ag_complete_operation(e, c.ctx, &other), -EINVAL);
	CHECK_EQ(ag_complete_operation(e, c.ctx, &c.clone), 0);
	CHECK_EQ(dp.n_released, 1);
	ag_engine_free(e);
}

/* ---- S9 pended data ---------------------------------------------------------------------------- */

/* The `ask` callout's flow pended by a classify of `in`; its completion context. */
static uint64_t ask_pend(ag_engine *e, const ag_fixed_values *in, uint64_t token)
{
	ag_packet p = fx_pkt(token);
	ag_flow_info info;

	if (ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, in, NULL, &p, NULL) != AG_VERDICT_HOLD ||
	    ag_flow_lookup(e, in, &info))
		return 0;
	return info.completion_context;
}

static ag_engine *ask_engine(uint32_t pending_buffer)
{
	ag_engine_config cfg;
	ag_engine *e;

	ag_engine_config_default(&cfg);
	cfg.pending_buffer = pending_buffer;
	e = fx_engine_cfg(&cfg);
	if (e && (ag_ask_register(e) ||
		  !fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN,
			     AG_CALLOUT_ASK, 0, NULL, 0))) {
		ag_engine_free(e);
		return NULL;
	}
	return e;
}

TEST(S9_packets_arriving_while_ask_pends_are_kept_by_it_and_released_in_order)
{
	ag_engine *e = ask_engine(16);
	ag_fixed_values in = fx_udp6(50000, 53, "/bin/dig");
	ag_flow_info info;
	uint64_t ctx = ask_pend(e, &in, 100);

	CHECK(ctx);
	for (uint64_t t = 101; t < 106; t++) {
		ag_packet p = fx_pkt(t);

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
	}
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.buffered, 5);
	CHECK_EQ(ag_ask_decide(e, ctx, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 6);
	for (size_t i = 0; i < 6; i++)
		CHECK_EQ(dp.released[i].token, 100 + i);
	CHECK_EQ(dp.n_dropped, 0);
	ag_engine_free(e);
}

TEST(S9_ask_keeps_up_to_pending_buffer_and_drops_and_counts_the_excess)
{
	ag_engine *e = ask_engine(3);
	ag_fixed_values in = fx_udp6(50001, 53, "/bin/dig");
	uint64_t ctx = ask_pend(e, &in, 200);
	ag_verdict v[7];
	ag_engine_stats st;

	CHECK(ctx);
	for (uint64_t t = 0; t < 7; t++) {
		ag_packet p = fx_pkt(201 + t);

		v[t] = ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(v[i], AG_VERDICT_HOLD);
	for (int i = 3; i < 7; i++)
		CHECK_EQ(v[i], AG_VERDICT_BLOCK);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.buffered, 3);
	CHECK_EQ(st.buffer_drops, 4);
	CHECK_EQ(st.flushed, 0);
	CHECK(fx_count_events(AG_EVENT_DROP) >= 1);
	CHECK_EQ(ag_ask_decide(e, ctx, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 4);
	CHECK_EQ(dp.released[3].token, 203);
	ag_engine_free(e);
}

TEST(S9_ask_with_pending_buffer_0_flushes_pended_data_application_retransmits)
{
	ag_engine *e = ask_engine(0);
	ag_fixed_values in = fx_udp6(50002, 53, "/bin/dig");
	uint64_t ctx = ask_pend(e, &in, 300);
	ag_packet p2 = fx_pkt(301);
	ag_engine_stats st;

	CHECK(ctx);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p2, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(ag_ask_decide(e, ctx, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(dp.released[0].token, 300);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.flushed, 1);
	ag_engine_free(e);
}

TEST(S9_pended_data_a_callout_does_not_reference_is_flushed_by_the_engine)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_udp6(50003, 53, "/bin/dig");
	ag_packet p1 = fx_pkt(400), p2 = fx_pkt(401);
	ag_engine_stats st;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p1, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p2, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(c.data_calls, 1); /* shown to the callout that pended */
	CHECK(c.last_flags & AG_FLAG_IS_PENDED_DATA);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.flushed, 1);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.n_released, 1);
	ag_engine_free(e);
}

TEST(S9_a_callout_references_pended_data_and_injects_it_after_completion_in_its_order)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_udp6(50004, 53, "/bin/dig");
	ag_flow_info info;
	uint64_t h, flow;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK_EQ(ag_injection_handle_create(e, &h), 0);
	c.mode = FX_PEND;
	c.ref_data = true;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint64_t t = 500; t < 504; t++) {
		ag_packet p = fx_pkt(t);

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, &flow),
			 AG_VERDICT_HOLD);
	}
	CHECK_EQ(c.nrefs, 3);
	CHECK(c.refs[0].flags & AG_PACKET_REFERENCE);
	/* before the flow is permitted, an injection is refused and drops it */
	CHECK_EQ(ag_inject_referenced(e, h, flow, &c.refs[2]), -EPERM);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(dp.dropped[0].token, 503);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	/* completion released the first packet only: the rest is the callout's */
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(ag_flow_get(e, flow, &info), 0);
	CHECK_EQ(info.buffered, 2);
	CHECK_EQ(ag_inject_referenced(e, h, flow, &c.refs[1]), 0);
	CHECK_EQ(ag_packet_dereference(e, flow, &c.refs[0]), 0);
	CHECK_EQ(ag_inject_referenced(e, h, flow, &c.refs[0]), -ENOENT);
	CHECK_EQ(dp.n_released, 2);
	CHECK_EQ(dp.released[1].token, 502);
	CHECK_EQ(dp.released[1].injector, (uint32_t)h);
	CHECK_EQ(dp.n_dropped, 2);
	CHECK_EQ(dp.dropped[1].token, 501);
	ag_engine_free(e);
}

TEST(S9_referenced_pended_data_of_a_blocked_flow_is_dropped_with_it)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_fixed_values in = fx_udp6(50005, 53, "/bin/dig");

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	c.ref_data = true;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint64_t t = 600; t < 603; t++) {
		ag_packet p = fx_pkt(t);

		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	}
	c.mode = FX_BLOCK;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.n_released, 0);
	CHECK_EQ(dp.n_dropped, 3);
	ag_engine_free(e);
}

/* ---- S10 deadlines ---------------------------------------------------------------------------- */

TEST(S10_deadline_completes_with_the_timeout_verdict_block_by_default)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_flow_info info;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40013, 443, "/bin/a");
	ag_packet p = fx_pkt(17);
	uint64_t start = fx_now;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_engine_next_deadline(e), start + 30 * NS);
	fx_now = start + 29 * NS;
	CHECK_EQ(ag_engine_advance(e), 0);
	CHECK_EQ(dp.n_dropped, 0);
	fx_now = start + 30 * NS;
	CHECK_EQ(ag_engine_advance(e), 1);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(fx_count_events(AG_EVENT_TIMEOUT), 1);
	CHECK_EQ(ag_flow_lookup(e, &in, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	ag_engine_free(e);
}

TEST(S10_timeout_verdict_permit_releases)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.timeout_verdict = AG_VERDICT_PERMIT;
	cfg.pending_timeout_ns = 2 * NS;
	ag_engine *e = fx_engine_cfg(&cfg);
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40014, 443, "/bin/a");
	ag_packet p = fx_pkt(18);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	fx_now += 2 * NS;
	CHECK_EQ(ag_engine_advance(e), 1);
	CHECK_EQ(dp.n_released, 1);
	ag_engine_free(e);
}

TEST(S10_bounded_advance_fires_deadlines_a_batch_at_a_time)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint16_t i = 0; i < 10; i++) {
		ag_fixed_values in = fx_tcp4(48000 + i, 443, "/bin/a");
		ag_packet p = fx_pkt(600 + i);

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
	}
	fx_now += 31 * NS;
	CHECK_EQ(ag_engine_advance_some(e, 4), 4);
	CHECK_EQ(dp.n_dropped, 4);
	CHECK(ag_engine_next_deadline(e) <= fx_now); /* the rest is due now */
	CHECK_EQ(ag_engine_advance_some(e, 4), 4);
	CHECK_EQ(ag_engine_advance_some(e, 4), 2);
	CHECK_EQ(ag_engine_advance_some(e, 4), 0);
	CHECK_EQ(dp.n_dropped, 10);
	ag_engine_free(e);
}

TEST(S10_clean_shutdown_completes_every_pended_operation_as_blocked)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint16_t i = 0; i < 5; i++) {
		ag_fixed_values in = fx_tcp4(41000 + i, 443, "/bin/a");
		ag_packet p = fx_pkt(500 + i);

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
	}
	ag_engine_shutdown(e);
	CHECK_EQ(dp.n_dropped, 5);
	CHECK_EQ(dp.n_released, 0);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 0);
	ag_engine_free(e);
}

/* ---- S11 only the first authorization pends --------------------------------------------------- */

TEST(S11_a_later_classify_of_a_known_flow_is_a_reauthorization)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40015, 443, "/bin/a");
	ag_packet p = fx_pkt(19);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	c.mode = FX_PEND;
	int calls = c.calls;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(c.calls, calls + 1);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK_EQ(c.pend_result, AG_E_CANNOT_PEND);
	ag_engine_free(e);
}

/* ---- S12 reauthorization triggers ------------------------------------------------------------ */

TEST(S12a_completion_of_a_pended_connect_triggers_a_reauthorization)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(60);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values in = fx_tcp4(40060, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.reauthorizations, 0);
	c.mode = FX_BLOCK; /* the reauthorization, not the pend, decides */
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.reauthorizations, 1);
	CHECK(c.last_flags & AG_FLAG_IS_REAUTHORIZE);
	CHECK_EQ(dp.n_dropped, 1);
	ag_engine_free(e);
}

TEST(S12b_filter_added_reauthorizes_live_flows_and_tears_down_blocked_ones)
{
	ag_engine *e = fx_engine();
	ag_flow_info info;
	uint64_t h1, h2;
	ag_fixed_values a = fx_tcp4(40016, 443, "/bin/a"), b = fx_tcp4(40017, 443, "/bin/b");
	ag_packet p = fx_pkt(20);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, &h1), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, &h2), AG_VERDICT_PERMIT);
	ag_condition cond = fx_app("/bin/b");

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, 0, &cond, 1));
	CHECK_EQ(dp.n_teardown, 1);
	CHECK_EQ(dp.teardown[0], h2);
	CHECK_EQ(ag_flow_get(e, h1, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);
	CHECK_EQ(ag_flow_get(e, h2, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_BLOCKED);
	CHECK_EQ(fx_count_events(AG_EVENT_TEARDOWN), 1);
	ag_engine_free(e);
}

TEST(S12b_filter_deleted_reauthorizes)
{
	ag_engine *e = fx_engine();
	ag_condition cond = fx_app("/bin/a");
	uint64_t allow = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_PERMIT, NULL, 0,
				   &cond, 1);
	ag_condition any = fx_rport(443);

	CHECK(allow);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 5, AG_ACTION_BLOCK, NULL, 0, &any, 1));
	ag_fixed_values a = fx_tcp4(40018, 443, "/bin/a");
	ag_packet p = fx_pkt(21);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(dp.n_teardown, 0);
	CHECK_EQ(ag_filter_del(e, allow), 0);
	CHECK_EQ(dp.n_teardown, 1);
	CHECK_EQ(ag_filter_del(e, allow), -ENOENT);
	ag_engine_free(e);
}

TEST(S12b_timed_filter_expiring_reauthorizes_flows)
{
	ag_engine *e = fx_engine();
	ag_condition cond = fx_app("/bin/a");
	ag_filter_spec s = {
		.layer = AG_LAYER_ALE_AUTH_CONNECT,
		.weight = 10,
		.action = AG_ACTION_PERMIT,
		.lifetime = AG_LIFETIME_TIMED,
		.expires_ns = fx_now + 5 * NS,
		.conditions = &cond,
		.n_conditions = 1,
	};
	uint64_t id;
	ag_condition any = fx_rport(443);

	CHECK_EQ(ag_filter_add(e, &s, &id), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 5, AG_ACTION_BLOCK, NULL, 0, &any, 1));
	ag_fixed_values a = fx_tcp4(40019, 443, "/bin/a");
	ag_packet p = fx_pkt(22);

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_engine_next_deadline(e), fx_now + 5 * NS);
	fx_now += 4 * NS;
	ag_engine_advance(e);
	CHECK(ag_filter_get(e, id) != NULL);
	CHECK_EQ(dp.n_teardown, 0);
	fx_now += 1 * NS;
	ag_engine_advance(e);
	CHECK(ag_filter_get(e, id) == NULL);
	CHECK_EQ(fx_count_events(AG_EVENT_FILTER_EXPIRED), 1);
	CHECK_EQ(dp.n_teardown, 1);
	ag_engine_free(e);
}

TEST(S12c_explicit_reauthorization_tears_down_what_is_now_blocked)
{
	ag_engine *e = fx_engine();
	ag_fixed_values a = fx_tcp4(40020, 443, "/bin/a");
	ag_packet p = fx_pkt(23);
	ag_condition cond = fx_app("/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	/* a transaction defers the reauthorization to commit: nothing yet */
	CHECK_EQ(ag_engine_begin(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, 0, &cond, 1));
	CHECK_EQ(dp.n_teardown, 0);
	CHECK_EQ(ag_engine_commit(e), 0);
	CHECK_EQ(dp.n_teardown, 1);
	/* an explicit reload finds nothing more to tear down */
	CHECK_EQ(ag_reauthorize(e, 1u << AG_LAYER_ALE_AUTH_CONNECT), 0);
	ag_engine_free(e);
}

TEST(S12c_reload_reauthorizes_every_live_flow)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(24);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint16_t i = 0; i < 3; i++) {
		ag_fixed_values a = fx_tcp4(42000 + i, 443, "/bin/a");

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL),
			 AG_VERDICT_PERMIT);
	}
	c.mode = FX_BLOCK;
	CHECK_EQ(ag_reauthorize(e, 1u << AG_LAYER_ALE_AUTH_CONNECT), 3);
	CHECK_EQ(dp.n_teardown, 3);
	ag_engine_free(e);
}

/* ---- S13 arbitration ----------------------------------------------------------------------------- */

TEST(S13_within_a_sublayer_the_highest_weight_match_decides)
{
	ag_engine *e = fx_engine();
	ag_condition cond = fx_app("/bin/a");
	uint64_t lo = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0);
	uint64_t hi = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 9, AG_ACTION_PERMIT, NULL, 0, &cond,
				1);
	ag_fixed_values a = fx_tcp4(40021, 443, "/bin/a"), b = fx_tcp4(40022, 443, "/bin/b");
	ag_packet p = fx_pkt(25);
	ag_flow_info info;

	CHECK(lo && hi);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.filter_id, hi);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(ag_flow_lookup(e, &b, &info), 0);
	CHECK_EQ(info.filter_id, lo);
	ag_engine_free(e);
}

TEST(S13_soft_permit_is_overridden_by_a_lower_sublayer_block)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(26);

	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK_EQ(ag_sublayer_add(e, 2, 100, "low"), 0);
	/* filter permit is soft by default */
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_PERMIT, NULL, 0, NULL, 0));
	uint64_t blk = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 2, 1, AG_ACTION_BLOCK, NULL, 0, NULL,
				 0);
	ag_fixed_values a = fx_tcp4(40023, 443, "/bin/a");
	ag_flow_info info;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.filter_id, blk);
	ag_engine_free(e);
}

TEST(S13_hard_permit_survives_a_lower_filter_block)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(27);

	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK_EQ(ag_sublayer_add(e, 2, 100, "low"), 0);
	uint64_t hp = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_PERMIT, NULL,
				AG_FILTER_FLAG_CLEAR_ACTION_RIGHT, NULL, 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 2, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0));
	ag_fixed_values a = fx_tcp4(40024, 443, "/bin/a");
	ag_flow_info info;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.filter_id, hp);
	CHECK_EQ(fx_count_events(AG_EVENT_VETO), 0);
	ag_engine_free(e);
}

TEST(S13_hard_permit_is_vetoed_by_a_callout_block_and_logged)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(28);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_BLOCK;
	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK_EQ(ag_sublayer_add(e, 2, 100, "low"), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_PERMIT, NULL,
			AG_FILTER_FLAG_CLEAR_ACTION_RIGHT, NULL, 0));
	uint64_t veto = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 2, 1, AG_ACTION_CALLOUT_TERMINATING,
				  "fx", 0, NULL, 0);
	ag_fixed_values a = fx_tcp4(40025, 443, "/bin/a");
	ag_flow_info info;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_BLOCK);
	/* the callout was told it has no write right: the decision above was hard */
	CHECK_EQ(c.last_rights & AG_RIGHT_ACTION_WRITE, 0);
	CHECK_EQ(fx_count_events(AG_EVENT_VETO), 1);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.filter_id, veto);
	ag_engine_free(e);
}

TEST(S13_soft_block_is_overridden_by_a_lower_sublayer_permit)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(29);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_BLOCK; /* a callout block is soft */
	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK_EQ(ag_sublayer_add(e, 2, 100, "low"), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 2, 1, AG_ACTION_PERMIT, NULL, 0, NULL, 0));
	ag_fixed_values a = fx_tcp4(40026, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S13_hard_block_is_final_and_stops_evaluation)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(30);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT_HARD;
	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK_EQ(ag_sublayer_add(e, 2, 100, "low"), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 2, 1, AG_ACTION_CALLOUT_TERMINATING, "fx", 0,
			NULL, 0));
	ag_fixed_values a = fx_tcp4(40027, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(c.calls, 0);
	ag_engine_free(e);
}

TEST(S13_every_sublayer_is_evaluated_after_a_soft_decision)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(31);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_CONTINUE;
	CHECK_EQ(ag_sublayer_add(e, 1, 200, "high"), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 1, 1, AG_ACTION_PERMIT, NULL, 0, NULL, 0));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_INSPECTION, "fx", 0,
			NULL, 0));
	ag_fixed_values a = fx_tcp4(40028, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(c.calls, 1);
	CHECK(c.last_rights & AG_RIGHT_ACTION_WRITE);
	ag_engine_free(e);
}

TEST(S13_no_matching_filter_means_the_layer_default_permit)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(32);
	ag_condition cond = fx_app("/bin/other");

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &cond, 1));
	ag_fixed_values a = fx_tcp4(40029, 443, "/bin/a");
	ag_flow_info info;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_lookup(e, &a, &info), 0);
	CHECK_EQ(info.filter_id, 0);
	CHECK_EQ(dp.reasons[0], AG_REASON_DEFAULT);
	ag_engine_free(e);
}

TEST(S13_disabled_filter_is_not_matched)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(33);
	uint64_t id = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0);
	ag_fixed_values a = fx_tcp4(40030, 443, "/bin/a"), b = fx_tcp4(40031, 443, "/bin/a");

	CHECK_EQ(ag_filter_set_enabled(e, id, false), 0);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_filter_set_enabled(e, id, true), 0);
	/* enabling it reauthorized and tore down the first flow */
	CHECK_EQ(dp.n_teardown, 1);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, NULL), AG_VERDICT_BLOCK);
	ag_engine_free(e);
}

TEST(S13_reject_flag_makes_a_block_a_reject)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(34);

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL,
			AG_FILTER_FLAG_REJECT, NULL, 0));
	ag_fixed_values a = fx_tcp4(40032, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_REJECT);
	ag_engine_free(e);
}

/* ---- S14 conditions ------------------------------------------------------------------------- */

static ag_verdict classify_once(ag_engine *e, ag_fixed_values *in)
{
	ag_packet p = fx_pkt(1);
	ag_verdict v = ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, in, NULL, &p, NULL);

	ag_flow_end(e, in);
	return v;
}

TEST(S14_different_fields_are_anded_same_field_ored)
{
	ag_engine *e = fx_engine();
	ag_condition conds[3] = { fx_app("/bin/a"), fx_rport(80), fx_rport(443) };

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, conds, 3));
	ag_fixed_values x = fx_tcp4(1, 80, "/bin/a");

	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x = fx_tcp4(1, 443, "/bin/a");
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x = fx_tcp4(1, 22, "/bin/a"); /* port fails */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x = fx_tcp4(1, 80, "/bin/b"); /* app fails */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x = fx_tcp4(1, 80, NULL); /* unknown app never matches an app condition */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_match_type_range_on_ports_and_uid)
{
	ag_engine *e = fx_engine();
	ag_condition conds[2] = {
		{ .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_RANGE, .v.range = { 1000, 2000 } },
		{ .field = AG_FIELD_UID, .match = AG_MATCH_RANGE, .v.range = { 1000, 1999 } },
	};

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, conds, 2));
	ag_fixed_values x = fx_tcp4(1, 1000, "/bin/a");

	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_port = 2000;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_port = 2001;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.remote_port = 999;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.remote_port = 1500;
	x.uid = 0;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_match_type_prefix_on_ipv4_and_ipv6)
{
	ag_engine *e = fx_engine();
	ag_condition c4 = { .field = AG_FIELD_REMOTE_ADDR, .match = AG_MATCH_PREFIX,
			    .v.addr = { .ip_version = 4, .len = 24, .bytes.b = { 198, 51, 100, 99 } } };
	ag_condition c6 = { .field = AG_FIELD_REMOTE_ADDR, .match = AG_MATCH_PREFIX,
			    .v.addr = { .ip_version = 6, .len = 32,
					.bytes.b = { 0x20, 0x01, 0x0d, 0xb8 } } };

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &c4, 1));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &c6, 1));
	ag_fixed_values x = fx_tcp4(1, 80, "/bin/a"); /* 198.51.100.7 */

	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_addr.b[2] = 101;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_fixed_values y = fx_udp6(1, 53, "/bin/a"); /* 2001:db8::2 */

	CHECK_EQ(classify_once(e, &y), AG_VERDICT_BLOCK);
	y.remote_addr.b[3] = 0xb9;
	CHECK_EQ(classify_once(e, &y), AG_VERDICT_PERMIT);
	/* an IPv4 prefix never matches IPv6 bytes that happen to agree */
	ag_fixed_values z = fx_udp6(1, 53, "/bin/a");

	memcpy(z.remote_addr.b, (uint8_t[]){ 198, 51, 100, 7 }, 4);
	CHECK_EQ(classify_once(e, &z), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_match_type_glob_on_application_path)
{
	ag_engine *e = fx_engine();
	ag_condition c = { .field = AG_FIELD_APP_PATH, .match = AG_MATCH_GLOB,
			   .v.str = "/opt/*/bin/?ool" };

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &c, 1));
	ag_fixed_values x = fx_tcp4(1, 80, "/opt/vendor/x/bin/tool");

	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.app_path = "/opt/vendor/bin/pool";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.app_path = "/opt/vendor/bin/tools";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.app_path = "/usr/bin/tool";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_match_type_wildcard_suffix_and_equal_on_host)
{
	ag_engine *e = fx_engine();
	ag_condition s = { .field = AG_FIELD_REMOTE_HOST, .match = AG_MATCH_SUFFIX,
			   .v.str = "*.Example.ORG" };
	ag_condition q = { .field = AG_FIELD_REMOTE_HOST, .match = AG_MATCH_EQUAL,
			   .v.str = "exact.test." };

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &s, 1));
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &q, 1));
	ag_fixed_values x = fx_tcp4(1, 80, "/bin/a");

	x.remote_host = "www.example.org";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_host = "a.b.EXAMPLE.org.";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_host = "example.org"; /* the suffix alone is not a subdomain */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.remote_host = "badexample.org";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.remote_host = "Exact.Test";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.remote_host = "sub.exact.test";
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.remote_host = NULL;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_flags_and_equal_matches_on_protocol_direction_version)
{
	ag_engine *e = fx_engine();
	ag_condition conds[4] = {
		{ .field = AG_FIELD_FLAGS, .match = AG_MATCH_FLAGS_NONE_SET,
		  .v.u32 = AG_FLAG_IS_LOOPBACK },
		{ .field = AG_FIELD_PROTOCOL, .match = AG_MATCH_EQUAL, .v.u32 = 17 },
		{ .field = AG_FIELD_DIRECTION, .match = AG_MATCH_EQUAL, .v.u32 = AG_DIR_OUT },
		{ .field = AG_FIELD_IP_VERSION, .match = AG_MATCH_EQUAL, .v.u32 = 6 },
	};

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, conds, 4));
	ag_fixed_values y = fx_udp6(1, 53, "/bin/a");

	CHECK_EQ(classify_once(e, &y), AG_VERDICT_BLOCK);
	y.flags = AG_FLAG_IS_LOOPBACK;
	CHECK_EQ(classify_once(e, &y), AG_VERDICT_PERMIT);
	ag_fixed_values x = fx_tcp4(1, 53, "/bin/a");

	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(S14_invalid_conditions_are_refused)
{
	ag_engine *e = fx_engine();
	ag_condition bad[] = {
		{ .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_RANGE, .v.range = { 10, 5 } },
		{ .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_EQUAL, .v.u32 = 70000 },
		{ .field = AG_FIELD_REMOTE_ADDR, .match = AG_MATCH_PREFIX,
		  .v.addr = { .ip_version = 4, .len = 33 } },
		{ .field = AG_FIELD_APP_PATH, .match = AG_MATCH_PREFIX, .v.str = "/x" },
		{ .field = AG_FIELD_REMOTE_HOST, .match = AG_MATCH_GLOB, .v.str = "x" },
		{ .field = AG_FIELD_IP_VERSION, .match = AG_MATCH_EQUAL, .v.u32 = 5 },
		{ .field = AG_FIELD_COUNT, .match = AG_MATCH_EQUAL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_BLOCK,
				     .lifetime = AG_LIFETIME_UNTIL_RESTART,
				     .conditions = &bad[i], .n_conditions = 1 };

		CHECK_MSG(ag_filter_add(e, &s, NULL) == -EINVAL, "condition %zu accepted", i);
	}
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.filters, 0);
	ag_engine_free(e);
}

/* ---- S15 lifetimes ----------------------------------------------------------------------- */

TEST(S15_session_filters_vanish_with_their_session)
{
	ag_engine *e = fx_engine();
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_BLOCK,
			     .lifetime = AG_LIFETIME_SESSION, .session = 7 };
	uint64_t a, b, c;

	CHECK_EQ(ag_filter_add(e, &s, &a), 0);
	CHECK_EQ(ag_filter_add(e, &s, &b), 0);
	s.session = 8;
	CHECK_EQ(ag_filter_add(e, &s, &c), 0);
	s.session = 0;
	CHECK_EQ(ag_filter_add(e, &s, NULL), -EINVAL); /* a session filter needs a session */
	CHECK_EQ(ag_filter_del_session(e, 7), 2);
	CHECK(ag_filter_get(e, a) == NULL);
	CHECK(ag_filter_get(e, b) == NULL);
	CHECK(ag_filter_get(e, c) != NULL);
	ag_engine_free(e);
}

/* Sessions end in any order, filters of a session go one by one in between,
 * persistent filters are never touched; what is left is exactly the rest. */
TEST(S15_session_end_removes_exactly_its_filters_after_single_deletes)
{
	ag_engine *e = fx_engine();
	enum { NSESS = 6, NPER = 9 };
	uint64_t id[NSESS][NPER], keep[NPER];
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_PERMIT,
			     .lifetime = AG_LIFETIME_SESSION };
	ag_filter_spec p = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_BLOCK,
			     .lifetime = AG_LIFETIME_PERSISTENT };

	/* interleaved: each session's filters spread among the others' */
	for (int k = 0; k < NPER; k++) {
		CHECK_EQ(ag_filter_add(e, &p, &keep[k]), 0);
		for (int n = 0; n < NSESS; n++) {
			s.session = 100 + (uint64_t)n;
			CHECK_EQ(ag_filter_add(e, &s, &id[n][k]), 0);
		}
	}
	/* single deletes: a session's newest, oldest and a middle one */
	for (int n = 0; n < NSESS; n++) {
		CHECK_EQ(ag_filter_del(e, id[n][NPER - 1]), 0);
		CHECK_EQ(ag_filter_del(e, id[n][0]), 0);
		CHECK_EQ(ag_filter_del(e, id[n][NPER / 2]), 0);
	}
	const int order[NSESS] = { 3, 0, 5, 1, 4, 2 };

	for (int i = 0; i < NSESS; i++) {
		CHECK(ag_filter_has_session(e, 100 + (uint64_t)order[i]));
		CHECK_EQ(ag_filter_del_session(e, 100 + (uint64_t)order[i]), NPER - 3);
		CHECK(!ag_filter_has_session(e, 100 + (uint64_t)order[i]));
		CHECK_EQ(ag_filter_del_session(e, 100 + (uint64_t)order[i]), 0);
		for (int j = 0; j < NSESS; j++) {
			bool gone = false;

			for (int m = 0; m <= i; m++)
				gone |= order[m] == j;
			for (int k = 1; k < NPER - 1; k++)
				if (k != NPER / 2)
					CHECK_EQ(ag_filter_get(e, id[j][k]) == NULL, gone);
		}
	}
	for (int k = 0; k < NPER; k++)
		CHECK(ag_filter_get(e, keep[k]) != NULL);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.filters, NPER);
	ag_engine_free(e);
}

TEST(S15_timed_filter_expires_on_the_engine_clock)
{
	ag_engine *e = fx_engine();
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_BLOCK,
			     .lifetime = AG_LIFETIME_TIMED, .expires_ns = fx_now + 60 * NS };
	uint64_t id;

	CHECK_EQ(ag_filter_add(e, &s, &id), 0);
	fx_now += 59 * NS;
	ag_engine_advance(e);
	CHECK(ag_filter_get(e, id) != NULL);
	fx_now += 1 * NS;
	ag_engine_advance(e);
	CHECK(ag_filter_get(e, id) == NULL);
	s.expires_ns = 0;
	CHECK_EQ(ag_filter_add(e, &s, NULL), -EINVAL);
	ag_engine_free(e);
}

TEST(S15_persistent_and_until_restart_filters_keep_their_lifetime_and_id)
{
	ag_engine *e = fx_engine();
	ag_filter_spec s = { .id = 4242, .layer = AG_LAYER_ALE_AUTH_CONNECT,
			     .action = AG_ACTION_PERMIT, .lifetime = AG_LIFETIME_PERSISTENT,
			     .flags = AG_FILTER_FLAG_PERSISTENT, .name = "keep me", .context = 99 };
	ag_filter_spec out;
	uint64_t id;

	CHECK_EQ(ag_filter_add(e, &s, &id), 0);
	CHECK_EQ(id, 4242);
	CHECK_EQ(ag_filter_add(e, &s, &id), -EEXIST);
	const ag_filter *f = ag_filter_get(e, 4242);

	CHECK(f);
	ag_filter_describe(f, &out);
	CHECK_EQ(out.lifetime, AG_LIFETIME_PERSISTENT);
	CHECK_STR(out.name, "keep me");
	CHECK_EQ(ag_filter_context(f), 99);
	s.id = 0;
	s.lifetime = AG_LIFETIME_UNTIL_RESTART;
	CHECK_EQ(ag_filter_add(e, &s, &id), 0);
	CHECK(id > 4242); /* ids are never reused below what was given */
	ag_engine_free(e);
}

/* ---- S16 net events ----------------------------------------------------------------------- */

static int count_cb(const ag_event *ev, void *arg)
{
	uint64_t *n = arg;

	(void)ev;
	(*n)++;
	return 0;
}

struct last_event {
	uint64_t n, flow, filter;
	ag_event_type type;
	ag_layer layer;
	ag_reason reason;
	char app[32];
	uint16_t rport;
};

static int last_cb(const ag_event *ev, void *arg)
{
	struct last_event *l = arg;

	l->n++;
	l->flow = ev->flow;
	l->filter = ev->filter;
	l->type = ev->type;
	l->layer = ev->layer;
	l->reason = ev->reason;
	l->rport = ev->remote_port;
	snprintf(l->app, sizeof(l->app), "%s", ev->app_path ? ev->app_path : "");
	return 0;
}

TEST(S16_every_decision_produces_an_event_with_flow_layer_filter_reason)
{
	ag_engine *e = fx_engine();
	ag_condition cond = fx_app("/bin/b");
	uint64_t blk = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &cond,
				 1);
	ag_fixed_values a = fx_tcp4(40033, 443, "/bin/a"), b = fx_tcp4(40034, 8443, "/bin/b");
	ag_packet p = fx_pkt(35);
	uint64_t hb;
	struct last_event l = { 0 };

	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, &hb);
	CHECK_EQ(fx_count_events(AG_EVENT_PERMIT), 1);
	CHECK_EQ(fx_count_events(AG_EVENT_BLOCK), 1);
	CHECK_EQ(ag_event_dump(e, 0, last_cb, &l), 0);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.type, AG_EVENT_BLOCK);
	CHECK_EQ(l.flow, hb);
	CHECK_EQ(l.filter, blk);
	CHECK_EQ(l.layer, AG_LAYER_ALE_AUTH_CONNECT);
	CHECK_EQ(l.reason, AG_REASON_FILTER);
	CHECK_EQ(l.rport, 8443);
	CHECK_STR(l.app, "/bin/b");
	/* the event keeps the path even after the flow is gone */
	CHECK_EQ(ag_flow_end(e, &b), 0);
	memset(&l, 0, sizeof(l));
	CHECK_EQ(ag_event_dump(e, 1, last_cb, &l), 0);
	CHECK_STR(l.app, "/bin/b");
	ag_engine_free(e);
}

TEST(S16_the_ring_is_bounded_and_shows_overwritten_events_as_gaps)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.event_ring_size = 8;
	ag_engine *e = fx_engine_cfg(&cfg);
	ag_packet p = fx_pkt(36);

	for (uint16_t i = 0; i < 20; i++) {
		ag_fixed_values a = fx_tcp4(43000 + i, 443, "/bin/a");

		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	}
	uint64_t n = 0;

	CHECK_EQ(ag_event_dump(e, 0, count_cb, &n), 0);
	CHECK_EQ(n, 8);
	n = 0;
	CHECK_EQ(ag_event_dump(e, 18, count_cb, &n), 0);
	CHECK_EQ(n, 2);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.events, 20);
	CHECK_EQ(st.events_overwritten, 12);
	ag_engine_free(e);
}

/* ---- S17 callouts --------------------------------------------------------------------------- */

TEST(S17_callout_notify_and_flow_delete_are_called)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(37);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PERMIT;
	c.flow_context = 77;
	uint64_t id = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING,
				"fx", 0, NULL, 0);
	CHECK(id);
	CHECK_EQ(c.notify_add, 1);
	ag_fixed_values a = fx_tcp4(40035, 443, "/bin/a");
	uint64_t h, got;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_get_context(e, h, AG_LAYER_ALE_AUTH_CONNECT, "fx", &got), 0);
	CHECK_EQ(got, 77);
	/* the context comes back on the next classify of the flow */
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	CHECK_EQ(c.seen_context, 77);
	CHECK_EQ(ag_flow_end(e, &a), 0);
	CHECK_EQ(c.flow_deletes, 1);
	CHECK_EQ(ag_filter_del(e, id), 0);
	CHECK_EQ(c.notify_del, 1);
	ag_engine_free(e);
}

TEST(S17_unregistered_terminating_callout_blocks_inspection_is_skipped)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(38);

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 2, AG_ACTION_CALLOUT_INSPECTION, "nobody",
			0, NULL, 0));
	ag_fixed_values a = fx_tcp4(40036, 443, "/bin/a");

	CHECK_EQ(classify_once(e, &a), AG_VERDICT_PERMIT);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_TERMINATING, "nobody",
			0, NULL, 0));
	CHECK_EQ(classify_once(e, &a), AG_VERDICT_BLOCK);
	(void)p;
	ag_engine_free(e);
}

TEST(S17_inspection_callout_never_decides)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_BLOCK_HARD;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_INSPECTION, "fx", 0,
			NULL, 0));
	ag_fixed_values a = fx_tcp4(40037, 443, "/bin/a");

	CHECK_EQ(classify_once(e, &a), AG_VERDICT_PERMIT);
	CHECK_EQ(c.calls, 1);
	CHECK_EQ(fx_register(e, "fx", &c), -EEXIST);
	ag_engine_free(e);
}

TEST(S17_builtin_ask_pends_and_decides_once_for_every_reauthorization)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(39);
	uint64_t h;
	ag_flow_info info;

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	ag_fixed_values a = fx_tcp4(40038, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, &h), AG_VERDICT_HOLD);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	CHECK_EQ(ag_ask_decide(e, info.completion_context, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(ag_ask_decide(e, info.completion_context, AG_VERDICT_PERMIT), AG_E_NO_CONTEXT);
	/* a reload asks `ask` again: it answers what was decided, without pending */
	CHECK_EQ(ag_reauthorize(e, 1u << AG_LAYER_ALE_AUTH_CONNECT), 0);
	/* a denied flow stays denied on its retransmits */
	ag_fixed_values b = fx_tcp4(40039, 443, "/bin/a");
	uint64_t hb;

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, &hb), AG_VERDICT_HOLD);
	CHECK_EQ(ag_flow_get(e, hb, &info), 0);
	CHECK_EQ(ag_ask_decide(e, info.completion_context, AG_VERDICT_REJECT), 0);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK(dp.last_reject);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, NULL), AG_VERDICT_REJECT);
	ag_engine_free(e);
}

TEST(S17_builtin_ask_at_recv_accept_clones_and_reinjects)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(40);
	uint64_t h;
	ag_flow_info info;

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	ag_fixed_values a = fx_tcp4(22, 50500, "/usr/sbin/sshd");

	a.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &a, NULL, &p, &h), AG_VERDICT_HOLD);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	CHECK_EQ(ag_ask_decide(e, info.completion_context, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK(dp.released[0].flags & AG_PACKET_CLONE);
	CHECK_EQ(dp.released[0].token, 40);
	ag_engine_free(e);
}

static int log_calls;
static void log_sink(void *arg, ag_layer layer, const ag_fixed_values *in,
		     const ag_metadata *meta)
{
	(void)arg;
	(void)layer;
	(void)in;
	(void)meta;
	log_calls++;
}

TEST(S17_builtin_log_sees_every_classify_and_decides_nothing)
{
	ag_engine *e = fx_engine();

	log_calls = 0;
	CHECK_EQ(ag_log_register(e, log_sink, NULL), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 5, AG_ACTION_CALLOUT_INSPECTION,
			AG_CALLOUT_LOG, 0, NULL, 0));
	ag_condition cond = fx_app("/bin/b");

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &cond, 1));
	ag_fixed_values a = fx_tcp4(40040, 443, "/bin/a"), b = fx_tcp4(40041, 443, "/bin/b");

	CHECK_EQ(classify_once(e, &a), AG_VERDICT_PERMIT);
	CHECK_EQ(classify_once(e, &b), AG_VERDICT_BLOCK);
	CHECK_EQ(log_calls, 2);
	ag_engine_free(e);
}

/* ---- beyond the statements --------------------------------------------------------------- */

TEST(filter_change_completes_pended_flows_that_a_plain_filter_now_decides)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(41);

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	for (uint16_t i = 0; i < 3; i++) {
		ag_fixed_values a = fx_tcp4(44000 + i, 443, i < 2 ? "/bin/a" : "/bin/other");

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
	}
	ag_condition cond = fx_app("/bin/a");

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_PERMIT, NULL, 0, &cond, 1));
	CHECK_EQ(dp.n_released, 2);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 1);
	ag_engine_free(e);
}

TEST(max_pended_gives_new_flows_the_timeout_verdict_at_once_with_an_event)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.max_pended = 2;
	ag_engine *e = fx_engine_cfg(&cfg);
	ag_packet p = fx_pkt(42);

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	ag_verdict v[3];

	for (uint16_t i = 0; i < 3; i++) {
		ag_fixed_values a = fx_tcp4(45000 + i, 443, "/bin/a");

		v[i] = ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	}
	CHECK_EQ(v[0], AG_VERDICT_HOLD);
	CHECK_EQ(v[1], AG_VERDICT_HOLD);
	CHECK_EQ(v[2], AG_VERDICT_BLOCK);
	CHECK_EQ(fx_count_events(AG_EVENT_LIMIT), 1);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.limit_hits, 1);
	ag_engine_free(e);
}

TEST(max_pended_per_process_is_counted_by_pid)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.max_pended_per_process = 1;
	ag_engine *e = fx_engine_cfg(&cfg);
	ag_packet p = fx_pkt(43);

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	ag_metadata m1 = { .present = AG_META_PID, .pid = 100 };
	ag_metadata m2 = { .present = AG_META_PID, .pid = 200 };
	ag_fixed_values a = fx_tcp4(46000, 443, "/bin/a"), b = fx_tcp4(46001, 443, "/bin/a"),
			c = fx_tcp4(46002, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, &m1, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, &m1, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &c, &m2, &p, NULL), AG_VERDICT_HOLD);
	ag_engine_free(e);
}

/*
 * One user with many processes, each under its own bound, fills what that
 * user may hold; a flow of another user is still pended and asked, not
 * given the timeout verdict.
 */
TEST(one_user_filling_the_pending_table_leaves_another_users_connection_asked)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.max_pended = 40;
	cfg.max_pended_per_process = 10;
	cfg.max_pended_per_user = 30;
	ag_engine *e = fx_engine_cfg(&cfg);
	ag_packet p = fx_pkt(45);
	unsigned held = 0;

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 0, AG_ACTION_CALLOUT_UNKNOWN,
			AG_CALLOUT_ASK, 0, NULL, 0));
	/* uid 1000: 17 processes, 10 connects each */
	for (uint32_t proc = 0; proc < 17; proc++) {
		ag_metadata m = { .present = AG_META_PID, .pid = 2000 + proc };

		for (uint16_t i = 0; i < 10; i++) {
			ag_fixed_values a = fx_tcp4((uint16_t)(20000 + proc * 10 + i), 443, "/bin/a");

			held += ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, &m, &p, NULL) ==
				AG_VERDICT_HOLD;
		}
	}
	CHECK_EQ(held, 30);
	CHECK(fx_count_events(AG_EVENT_LIMIT) >= 1);
	/* root's own connection */
	ag_metadata mr = { .present = AG_META_PID, .pid = 1 };
	ag_fixed_values r = fx_tcp4(30000, 443, "/usr/bin/apt");

	r.uid = 0;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &r, &mr, &p, NULL), AG_VERDICT_HOLD);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 31);
	ag_engine_free(e);
}

TEST(max_flows_evicts_the_oldest_decided_flow_never_a_pended_one)
{
	ag_engine_config cfg;

	ag_engine_config_default(&cfg);
	cfg.max_flows = 3;
	ag_engine *e = fx_engine_cfg(&cfg);
	struct fx_callout c;
	ag_packet p = fx_pkt(44);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	c.mode = FX_PEND;
	ag_fixed_values f0 = fx_tcp4(47000, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &f0, NULL, &p, NULL), AG_VERDICT_HOLD);
	c.mode = FX_PERMIT;
	ag_fixed_values f1 = fx_tcp4(47001, 443, "/bin/a"), f2 = fx_tcp4(47002, 443, "/bin/a"),
			f3 = fx_tcp4(47003, 443, "/bin/a");

	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &f1, NULL, &p, NULL);
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &f2, NULL, &p, NULL);
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &f3, NULL, &p, NULL);
	CHECK_EQ(ag_flow_lookup(e, &f0, NULL), 0);  /* pended: kept */
	CHECK_EQ(ag_flow_lookup(e, &f1, NULL), -ENOENT); /* oldest decided: evicted */
	CHECK_EQ(ag_flow_lookup(e, &f3, NULL), 0);
	ag_engine_free(e);
}

TEST(blocked_flows_are_forgotten_after_their_ttl)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(45);

	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0));
	ag_fixed_values a = fx_tcp4(40042, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_BLOCK);
	CHECK_EQ(ag_flow_lookup(e, &a, NULL), 0);
	fx_now += 121 * NS;
	ag_engine_advance(e);
	CHECK_EQ(ag_flow_lookup(e, &a, NULL), -ENOENT);
	ag_engine_free(e);
}

TEST(ten_thousand_flows_pended_at_once_and_all_completed)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	static uint64_t ctx[10000];

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	for (uint32_t i = 0; i < 10000; i++) {
		ag_fixed_values a = fx_tcp4((uint16_t)(10000 + i), 443, "/bin/a");
		ag_packet p = fx_pkt(100000 + i);
		/* 50 processes with 200 pended flows each, of 5 users: under the
		 * per-process and per-user bounds */
		ag_metadata m = { .present = AG_META_PID, .pid = 1000 + i % 50 };

		a.uid = 1000 + i % 5;

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, &m, &p, NULL),
			 AG_VERDICT_HOLD);
		ctx[i] = c.ctx;
	}
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 10000);
	CHECK_EQ(st.flows, 10000);
	c.mode = FX_PERMIT;
	/* completed in an order unlike the pend order */
	size_t released = 0;

	for (uint32_t i = 0; i < 10000; i++) {
		uint32_t j = (i * 7919u) % 10000u;

		CHECK_EQ(ag_complete_operation(e, ctx[j], NULL), 0);
		released += dp.n_released;
		dp.n_released = 0;
	}
	CHECK_EQ(released, 10000);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 0);
	CHECK_EQ(st.permits, 10000);
	ag_engine_free(e);
}

TEST(memory_per_tracked_flow_is_under_512_bytes)
{
	ag_engine *e = fx_engine();
	ag_engine_stats before, after;
	ag_packet p = fx_pkt(46);

	/* warm the pools and tables, then measure what 20,000 more flows add */
	for (uint32_t i = 0; i < 1000; i++) {
		ag_fixed_values a = fx_tcp4((uint16_t)i, 443, "/usr/bin/firefox");

		a.remote_addr.b[3] = 200;
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	}
	ag_engine_get_stats(e, &before);
	for (uint32_t i = 0; i < 20000; i++) {
		ag_fixed_values a = fx_tcp4((uint16_t)i, 443, "/usr/bin/firefox");

		a.local_addr.b[3] = (uint8_t)(2 + i / 65536);
		a.remote_port = (uint16_t)(1000 + i % 50);
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL);
	}
	ag_engine_get_stats(e, &after);
	CHECK_EQ(after.flows - before.flows, 20000);
	size_t per_flow = (after.memory - before.memory) / 20000;

	printf("#   %zu bytes per flow\n", per_flow);
	CHECK_INT(per_flow, <, 512);
	ag_engine_free(e);
}

TEST(stale_flow_handles_are_refused_after_the_slot_is_reused)
{
	ag_engine *e = fx_engine();
	ag_packet p = fx_pkt(47);
	ag_fixed_values a = fx_tcp4(40043, 443, "/bin/a"), b = fx_tcp4(40044, 443, "/bin/b");
	uint64_t ha, hb;
	ag_flow_info info;

	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, &ha);
	CHECK_EQ(ag_flow_delete(e, ha), 0);
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, &hb);
	CHECK(ha != hb);
	CHECK_EQ(ag_flow_get(e, ha, &info), -ENOENT);
	CHECK_EQ(ag_flow_get(e, hb, &info), 0);
	CHECK_STR(info.fixed.app_path, "/bin/b");
	ag_engine_free(e);
}

TEST(pended_flow_cannot_be_ended_by_the_data_plane)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(48);

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	c.mode = FX_PEND;
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	ag_fixed_values a = fx_tcp4(40045, 443, "/bin/a");

	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(ag_flow_end(e, &a), -ENOENT);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	ag_engine_free(e);
}

/* ---- the executable's SHA-256 as a condition ------------------------------------ */

#define SHA_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_A_UPPER "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define SHA_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

static ag_condition fx_sha(const char *hex)
{
	ag_condition c = { .field = AG_FIELD_APP_SHA256, .match = AG_MATCH_EQUAL };

	c.v.str = hex;
	return c;
}

TEST(S14_app_sha256_matches_its_digest_in_either_case_and_unknown_never)
{
	ag_engine *e = fx_engine();
	ag_condition allow[2] = { fx_app("/bin/a"), fx_sha(SHA_A_UPPER) };
	ag_fixed_values x = fx_tcp4(1, 80, "/bin/a");
	ag_filter_spec spec;
	uint64_t id;

	/* everything blocked but /bin/a with that very file */
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0));
	id = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_PERMIT, NULL, 0, allow, 2);
	CHECK(id);
	x.app_sha256 = SHA_A;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.app_sha256 = SHA_A_UPPER;
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_PERMIT);
	x.app_sha256 = SHA_B;	/* another file at the same path */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.app_sha256 = NULL;	/* not computed: never taken as a match */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	x.app_sha256 = SHA_A;
	x.app_path = "/bin/b";	/* the same file elsewhere: the path still counts */
	CHECK_EQ(classify_once(e, &x), AG_VERDICT_BLOCK);
	/* described back as one lower-case digest */
	CHECK(ag_filter_get(e, id));
	ag_filter_describe(ag_filter_get(e, id), &spec);
	CHECK_EQ(spec.n_conditions, 2u);
	CHECK_EQ(spec.conditions[1].field, AG_FIELD_APP_SHA256);
	CHECK_STR(spec.conditions[1].v.str, SHA_A);
	CHECK_STR(ag_field_name(AG_FIELD_APP_SHA256), "app_sha256");
	ag_engine_free(e);
}

TEST(S14_app_sha256_condition_refuses_what_is_not_one_digest)
{
	ag_engine *e = fx_engine();
	static const char *const bad[] = {
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",	/* 63 */
		SHA_A "0",
		"zf86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ag_condition c = fx_sha(bad[i]);

		CHECK_MSG(!fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &c, 1),
			  "%s", bad[i]);
	}
	ag_condition g = fx_sha(SHA_A);

	g.match = AG_MATCH_GLOB;
	CHECK(!fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &g, 1));
	g.match = AG_MATCH_EQUAL;
	g.v.str = NULL;
	CHECK(!fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, 0, &g, 1));
	ag_engine_free(e);
}

TEST(S12b_flows_keep_their_sha256_for_reauthorization)
{
	ag_engine *e = fx_engine();
	ag_flow_info info;
	uint64_t h1, h2;
	ag_fixed_values a = fx_tcp4(40116, 443, "/bin/a"), b = fx_tcp4(40117, 443, "/bin/a");
	ag_packet p = fx_pkt(21);

	a.app_sha256 = SHA_A;
	b.app_sha256 = SHA_B;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &a, NULL, &p, &h1), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &b, NULL, &p, &h2), AG_VERDICT_PERMIT);
	CHECK_EQ(ag_flow_get(e, h1, &info), 0);
	CHECK(info.fixed.app_sha256 && !strcmp(info.fixed.app_sha256, SHA_A));
	ag_condition cond = fx_sha(SHA_B);

	/* a rule against one file ends that file's live flow, not the other's */
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, 0, &cond, 1));
	CHECK_EQ(dp.n_teardown, 1);
	CHECK_EQ(dp.teardown[0], h2);
	CHECK_EQ(ag_flow_get(e, h1, &info), 0);
	CHECK_EQ(info.state, AG_FLOW_AUTHORIZED);
	ag_engine_free(e);
}
