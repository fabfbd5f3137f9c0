/*
 * test_fastpath_layers.c — the fast path's view of filters of both ALE auth
 * layers: it compiles the CONNECT filters, those of both layers among them
 * (their service port is the remote port of the outbound flows it sees),
 * and never a RECV_ACCEPT filter, though the two layers share an index.
 */
#include <errno.h>
#include <string.h>

#include "alegate/engine.h"
#include "linux/fastpath_engine.h"

#include "check.h"
#include "engine_fixture.h"

static ag_condition port_cond(ag_field field, uint32_t lo, uint32_t hi)
{
	ag_condition c = { .field = field, .match = AG_MATCH_RANGE };

	c.v.range.lo = lo;
	c.v.range.hi = hi;
	return c;
}

TEST(fast_path_compiles_a_filter_of_both_layers_with_its_service_port_as_the_remote_port)
{
	ag_engine *e = fx_engine();
	struct ag_fp_env env = { .sublayer = AG_SUBLAYER_DEFAULT };
	struct ag_fp_ruleset rs;
	ag_condition svc = port_cond(AG_FIELD_SERVICE_PORT, 443, 444);
	ag_condition local = port_cond(AG_FIELD_LOCAL_PORT, 22, 22);
	ag_condition both[2] = { port_cond(AG_FIELD_REMOTE_PORT, 80, 80),
				 port_cond(AG_FIELD_SERVICE_PORT, 443, 443) };

	CHECK(e);
	uint64_t a = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 30, AG_ACTION_PERMIT, NULL,
			       AG_FILTER_FLAG_ALSO_RECV_ACCEPT, &svc, 1);
	/* inbound only: not the fast path's */
	uint64_t b = fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 20, AG_ACTION_BLOCK, NULL, 0,
			       &local, 1);
	/* a remote port and a service port, ANDed: left to the engine */
	uint64_t c = fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 10, AG_ACTION_BLOCK, NULL,
			       AG_FILTER_FLAG_ALSO_RECV_ACCEPT, both, 2);

	CHECK(a && b && c);
	CHECK_EQ(ag_fp_rules_from_engine(e, &env, &rs), 0);
	CHECK_EQ(rs.n, 2);
	CHECK_EQ(rs.rules[0].id, a);
	CHECK(rs.rules[0].evaluable);
	CHECK_EQ(rs.rules[0].verdict, AG_FP_ALLOW);
	CHECK(rs.rules[0].has & AG_FP_HAS_PORT);
	CHECK_EQ(rs.rules[0].port_lo, 443);
	CHECK_EQ(rs.rules[0].port_hi, 444);
	CHECK_EQ(rs.rules[1].id, c);
	CHECK(!rs.rules[1].evaluable);
	CHECK(!(rs.rules[1].has & AG_FP_HAS_PORT));
	CHECK_EQ(rs.barriers, 1);
	ag_fp_ruleset_free(&rs);
	ag_engine_free(e);
}
