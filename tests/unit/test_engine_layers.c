/*
 * test_engine_layers.c — one filter for both ALE auth layers
 * (AG_FILTER_FLAG_ALSO_RECV_ACCEPT), and the index CONNECT and RECV_ACCEPT
 * share: a filter decides the flows of its layers, and of no other.
 */
#include "check.h"
#include "engine_fixture.h"

#define BOTH AG_FILTER_FLAG_ALSO_RECV_ACCEPT
#define CONNECT AG_LAYER_ALE_AUTH_CONNECT
#define RECV AG_LAYER_ALE_AUTH_RECV_ACCEPT

/* An inbound flow to local port lport from rport, of app. */
static ag_fixed_values in_tcp4(uint16_t lport, uint16_t rport, const char *app)
{
	ag_fixed_values in = fx_tcp4(lport, rport, app);

	in.direction = AG_DIR_IN;
	return in;
}

static ag_verdict classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			   uint64_t token, uint64_t *h)
{
	ag_packet p = fx_pkt(token);

	return ag_classify(e, layer, in, NULL, &p, h);
}

/* The filter that decided the flow of handle h. */
static uint64_t decided_by(ag_engine *e, uint64_t h)
{
	ag_flow_info info;

	return ag_flow_get(e, h, &info) ? 0 : info.filter_id;
}

static ag_flow_state state_of(ag_engine *e, uint64_t h)
{
	ag_flow_info info;

	return ag_flow_get(e, h, &info) ? (ag_flow_state)-1 : info.state;
}

TEST(a_filter_of_both_layers_decides_flows_at_connect_and_at_recv_accept)
{
	ag_engine *e = fx_engine();
	ag_condition a = fx_app("/bin/a");
	uint64_t id = fx_filter(e, CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, BOTH, &a, 1);
	uint64_t h;

	CHECK(id);
	ag_fixed_values out = fx_tcp4(40000, 443, "/bin/a"), in = in_tcp4(22, 50000, "/bin/a");
	ag_fixed_values other = in_tcp4(22, 50001, "/bin/b");

	CHECK_EQ(classify(e, CONNECT, &out, 1, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	CHECK_EQ(classify(e, RECV, &in, 2, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	CHECK_EQ(classify(e, RECV, &other, 3, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(decided_by(e, h), 0);
	/* a filter with no condition (the wildcard list) too */
	ag_engine_free(e);
	e = fx_engine();
	id = fx_filter(e, CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, BOTH, NULL, 0);
	CHECK(id);
	CHECK_EQ(classify(e, RECV, &in, 4, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	CHECK_EQ(classify(e, CONNECT, &out, 5, &h), AG_VERDICT_BLOCK);
	ag_engine_free(e);
}

/* The index is shared: what keeps a one-layer filter to its layer is the
 * layer mask of its entry.  Filed under the same key (the application) and
 * in the wildcard list, in one sublayer, ahead of the other layer's filter. */
TEST(connect_only_and_recv_accept_only_filters_decide_only_their_own_layer)
{
	ag_engine *e = fx_engine();
	ag_condition a = fx_app("/bin/a");
	uint64_t h;

	CHECK_EQ(ag_sublayer_add(e, 7, 100, "top"), 0);
	/* /bin/a: blocked inbound, allowed outbound; the inbound filter weighs more */
	uint64_t in_block = fx_filter(e, RECV, 0, 20, AG_ACTION_BLOCK, NULL, 0, &a, 1);
	uint64_t out_permit = fx_filter(e, CONNECT, 0, 10, AG_ACTION_PERMIT, NULL, 0, &a, 1);
	/* everything else: blocked outbound only, from the top sublayer */
	uint64_t out_block = fx_filter(e, CONNECT, 7, 1, AG_ACTION_BLOCK, NULL, 0, NULL, 0);

	CHECK(in_block && out_permit && out_block);
	ag_fixed_values out_a = fx_tcp4(40000, 443, "/bin/a"), in_a = in_tcp4(22, 50000, "/bin/a");
	ag_fixed_values out_b = fx_tcp4(40001, 443, "/bin/b"), in_b = in_tcp4(22, 50001, "/bin/b");

	CHECK_EQ(classify(e, RECV, &in_a, 1, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), in_block);
	CHECK_EQ(classify(e, RECV, &in_b, 2, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(decided_by(e, h), 0);
	CHECK_EQ(classify(e, CONNECT, &out_b, 3, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), out_block);
	/* the top sublayer's hard block wins outbound, for /bin/a too */
	CHECK_EQ(classify(e, CONNECT, &out_a, 4, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), out_block);
	CHECK_EQ(ag_filter_del(e, out_block), 0);
	ag_fixed_values out_a2 = fx_tcp4(40002, 443, "/bin/a");

	CHECK_EQ(classify(e, CONNECT, &out_a2, 5, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(decided_by(e, h), out_permit);
	ag_engine_free(e);
}

/* A rule's port is where an outbound flow goes and the local service an
 * inbound one reaches: one filter says both with the service port. */
TEST(service_port_is_the_remote_port_outbound_and_the_local_port_inbound)
{
	ag_engine *e = fx_engine();
	ag_condition c[2] = { fx_app("/bin/a"),
			      { .field = AG_FIELD_SERVICE_PORT, .match = AG_MATCH_RANGE,
				.v.range = { 2200, 2299 } } };
	uint64_t h, id = fx_filter(e, CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, BOTH, c, 2);

	CHECK(id);
	CHECK_STR(ag_field_name(AG_FIELD_SERVICE_PORT), "service_port");
	/* outbound to 2222, inbound to 2222: blocked */
	ag_fixed_values out = fx_tcp4(40000, 2222, "/bin/a"), in = in_tcp4(2222, 50000, "/bin/a");

	CHECK_EQ(classify(e, CONNECT, &out, 1, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	CHECK_EQ(classify(e, RECV, &in, 2, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	/* outbound from 2222, inbound from 2222: another service */
	ag_fixed_values out2 = fx_tcp4(2222, 40001, "/bin/a"), in2 = in_tcp4(50001, 2222, "/bin/a");

	CHECK_EQ(classify(e, CONNECT, &out2, 3, &h), AG_VERDICT_PERMIT);
	CHECK_EQ(classify(e, RECV, &in2, 4, &h), AG_VERDICT_PERMIT);
	/* filed by port alone (no application), and by an exact port */
	ag_condition p = { .field = AG_FIELD_SERVICE_PORT, .match = AG_MATCH_EQUAL, .v.u32 = 8080 };

	id = fx_filter(e, CONNECT, 0, 10, AG_ACTION_BLOCK, NULL, BOTH, &p, 1);
	CHECK(id);
	ag_fixed_values in3 = in_tcp4(8080, 50002, NULL), in4 = in_tcp4(50003, 8080, NULL);

	CHECK_EQ(classify(e, RECV, &in3, 5, &h), AG_VERDICT_BLOCK);
	CHECK_EQ(decided_by(e, h), id);
	CHECK_EQ(classify(e, RECV, &in4, 6, &h), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

TEST(the_flag_at_a_layer_other_than_connect_is_invalid)
{
	ag_engine *e = fx_engine();
	ag_filter_spec s = { .layer = RECV, .action = AG_ACTION_BLOCK, .flags = BOTH,
			     .lifetime = AG_LIFETIME_UNTIL_RESTART };
	uint64_t id = 0;

	CHECK_EQ(ag_filter_add(e, &s, &id), -EINVAL);
	s.layer = AG_LAYER_ALE_FLOW_ESTABLISHED;
	s.action = AG_ACTION_PERMIT;
	CHECK_EQ(ag_filter_add(e, &s, &id), -EINVAL);
	CHECK_EQ(id, 0);
	ag_engine_stats st;

	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.filters, 0);
	s.layer = CONNECT;
	CHECK_EQ(ag_filter_add(e, &s, &id), 0);
	ag_engine_free(e);
}

/* Two live flows, one a layer, authorized by a PERMIT of both layers over a
 * BLOCK of both: whatever takes the PERMIT away must tear down both. */
struct two_flows {
	ag_engine *e;
	uint64_t out, in;
};

static int two_flows(struct two_flows *t, const ag_filter_spec *permit, uint64_t *id)
{
	t->e = fx_engine();
	if (!t->e || ag_filter_add(t->e, permit, id) ||
	    !fx_filter(t->e, CONNECT, 0, 1, AG_ACTION_BLOCK, NULL, BOTH, NULL, 0))
		return -1;
	ag_fixed_values out = fx_tcp4(40000, 443, "/bin/a"), in = in_tcp4(22, 50000, "/bin/a");

	if (classify(t->e, CONNECT, &out, 1, &t->out) != AG_VERDICT_PERMIT ||
	    classify(t->e, RECV, &in, 2, &t->in) != AG_VERDICT_PERMIT)
		return -1;
	return 0;
}

static bool both_torn_down(const struct two_flows *t)
{
	return dp.n_teardown == 2 && state_of(t->e, t->out) == AG_FLOW_BLOCKED &&
	       state_of(t->e, t->in) == AG_FLOW_BLOCKED;
}

TEST(deleting_disabling_expiring_or_ending_the_session_of_it_reauthorizes_both_layers)
{
	ag_condition a = fx_app("/bin/a");
	ag_filter_spec s = { .layer = CONNECT, .weight = 10, .action = AG_ACTION_PERMIT,
			     .flags = BOTH, .lifetime = AG_LIFETIME_UNTIL_RESTART,
			     .conditions = &a, .n_conditions = 1 };
	struct two_flows t;
	uint64_t id;

	/* deleted */
	CHECK_EQ(two_flows(&t, &s, &id), 0);
	CHECK_EQ(dp.n_teardown, 0);
	CHECK_EQ(ag_filter_del(t.e, id), 0);
	CHECK(both_torn_down(&t));
	ag_engine_free(t.e);

	/* disabled */
	CHECK_EQ(two_flows(&t, &s, &id), 0);
	CHECK_EQ(ag_filter_set_enabled(t.e, id, false), 0);
	CHECK(both_torn_down(&t));
	ag_engine_free(t.e);

	/* expired */
	s.lifetime = AG_LIFETIME_TIMED;
	s.expires_ns = fx_now + 5 * NS;
	CHECK_EQ(two_flows(&t, &s, &id), 0);
	fx_now += 5 * NS;
	ag_engine_advance(t.e);
	CHECK(ag_filter_get(t.e, id) == NULL);
	CHECK_EQ(fx_count_events(AG_EVENT_FILTER_EXPIRED), 1);
	CHECK(both_torn_down(&t));
	ag_engine_free(t.e);

	/* its session ended */
	s.lifetime = AG_LIFETIME_SESSION;
	s.expires_ns = 0;
	s.session = 42;
	CHECK_EQ(two_flows(&t, &s, &id), 0);
	CHECK_EQ(ag_filter_del_session(t.e, 42), 1);
	CHECK(both_torn_down(&t));
	ag_engine_free(t.e);
}

TEST(adding_or_enabling_it_reauthorizes_both_layers)
{
	ag_engine *e = fx_engine();
	ag_condition a = fx_app("/bin/a");
	ag_fixed_values out = fx_tcp4(40000, 443, "/bin/a"), in = in_tcp4(22, 50000, "/bin/a");
	uint64_t ho, hi;

	CHECK_EQ(classify(e, CONNECT, &out, 1, &ho), AG_VERDICT_PERMIT);
	CHECK_EQ(classify(e, RECV, &in, 2, &hi), AG_VERDICT_PERMIT);
	uint64_t id = fx_filter(e, CONNECT, 0, 10, AG_ACTION_BLOCK, NULL,
				BOTH | AG_FILTER_FLAG_DISABLED, &a, 1);

	CHECK(id);
	CHECK_EQ(dp.n_teardown, 0);
	CHECK_EQ(ag_filter_set_enabled(e, id, true), 0);
	CHECK_EQ(dp.n_teardown, 2);
	CHECK_EQ(state_of(e, ho), AG_FLOW_BLOCKED);
	CHECK_EQ(state_of(e, hi), AG_FLOW_BLOCKED);
	ag_engine_free(e);
}

/* `ask` at RECV_ACCEPT through a filter of both layers: the answer is kept
 * at the flow's layer, and the clone goes in. */
TEST(ask_through_a_filter_of_both_layers_answers_an_inbound_flow)
{
	ag_engine *e = fx_engine();
	ag_fixed_values in = in_tcp4(22, 50000, "/usr/sbin/sshd");
	ag_flow_info info;
	uint64_t h, ctx;

	CHECK_EQ(ag_ask_register(e), 0);
	CHECK(fx_filter(e, CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, AG_CALLOUT_ASK, BOTH, NULL,
			0));
	CHECK_EQ(classify(e, RECV, &in, 7, &h), AG_VERDICT_HOLD);
	CHECK_EQ(ag_flow_get(e, h, &info), 0);
	ctx = info.completion_context;
	CHECK(ctx);
	CHECK_EQ(ag_ask_decide(e, ctx, AG_VERDICT_PERMIT), 0);
	CHECK_EQ(dp.n_released, 1);
	CHECK_EQ(dp.released[0].token, 7);
	CHECK_EQ(state_of(e, h), AG_FLOW_AUTHORIZED);
	CHECK_EQ(ag_flow_get_context(e, h, RECV, AG_CALLOUT_ASK, &ctx), 0);
	CHECK_EQ(ctx, 1 + (uint64_t)AG_VERDICT_PERMIT);
	/* a later packet is a reauthorization that keeps the answer */
	CHECK_EQ(classify(e, RECV, &in, 8, NULL), AG_VERDICT_PERMIT);
	ag_engine_free(e);
}

struct seen {
	uint64_t id[8];
	ag_layer layer[8];
	uint32_t flags[8];
	int n;
};

static int record(const ag_filter *f, void *arg)
{
	struct seen *s = arg;
	ag_filter_spec spec;

	ag_filter_describe(f, &spec);
	if (s->n < 8) {
		s->id[s->n] = spec.id;
		s->layer[s->n] = spec.layer;
		s->flags[s->n] = spec.flags;
	}
	s->n++;
	return 0;
}

TEST(dump_lists_it_once_under_connect_with_its_flag)
{
	ag_engine *e = fx_engine();
	uint64_t both = fx_filter(e, CONNECT, 0, 30, AG_ACTION_PERMIT, NULL, BOTH, NULL, 0);
	uint64_t out = fx_filter(e, CONNECT, 0, 20, AG_ACTION_PERMIT, NULL, 0, NULL, 0);
	uint64_t in = fx_filter(e, RECV, 0, 10, AG_ACTION_PERMIT, NULL, 0, NULL, 0);
	struct seen s = { .n = 0 };

	CHECK(both && out && in);
	CHECK_EQ(ag_filter_dump(e, record, &s), 0);
	CHECK_EQ(s.n, 3);
	CHECK_EQ(s.id[0], both);
	CHECK_EQ(s.layer[0], CONNECT);
	CHECK(s.flags[0] & BOTH);
	CHECK_EQ(s.id[1], out);
	CHECK_EQ(s.layer[1], CONNECT);
	CHECK(!(s.flags[1] & BOTH));
	CHECK_EQ(s.id[2], in);
	CHECK_EQ(s.layer[2], RECV);
	ag_engine_free(e);
}

/* The point of the flag: a rule for both directions costs the engine one
 * filter, not two (docs/BENCHMARKS.md, "Loading rules"). */
static size_t memory_of(int layers, uint32_t flags)
{
	ag_engine *e = fx_engine();
	ag_engine_stats st0, st1;
	char app[64], host[64];
	int bad = 0;

	ag_engine_get_stats(e, &st0);
	for (int i = 0; i < 2000; i++) {
		snprintf(app, sizeof(app), "/opt/other/bin/app%d", i % 200);
		snprintf(host, sizeof(host), "h%d.service%d.example", i, i % 300);
		ag_condition c[2] = {
			{ .field = AG_FIELD_APP_PATH, .match = AG_MATCH_EQUAL, .v.str = app },
			{ .field = AG_FIELD_REMOTE_HOST, .match = AG_MATCH_EQUAL, .v.str = host },
		};
		for (int l = 0; l < layers; l++)
			bad += !fx_filter(e, l ? RECV : CONNECT, 0, 100, AG_ACTION_PERMIT, NULL,
					  flags, c, 2);
	}
	ag_engine_get_stats(e, &st1);
	ag_engine_free(e);
	return bad ? 0 : st1.memory - st0.memory;
}

TEST(a_filter_of_both_layers_costs_what_a_filter_of_one_costs)
{
	size_t one = memory_of(1, 0), both = memory_of(1, BOTH), two = memory_of(2, 0);

	printf("#   2000 rules: one filter a rule %zu bytes, two %zu\n", both, two);
	CHECK(one && both && two);
	CHECK_EQ(both, one);
	CHECK(both * 10 < two * 6);
}
