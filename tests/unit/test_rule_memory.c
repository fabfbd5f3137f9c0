/*
 * test_rule_memory.c — what a rule costs: the engine's filters stay small
 * (a rule without a direction is two of them, and a ruleset is 100,000
 * rules), and loading a directory of rules looks for each program once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "engine_fixture.h"
#include "engine/internal.h"
#include "linux/exeid.h"

/* The bytes of one filter and its conditions: every byte more is 200 kB a
 * 100,000-rule set (docs/BENCHMARKS.md, "Loading rules"). */
TEST(a_filter_is_56_bytes_a_condition_24_an_index_bucket_56)
{
	CHECK_EQ(sizeof(struct ag__cond), 24u);
	CHECK(sizeof(struct ag_filter) <= 56u);
	/* a filter of two conditions, no callout or lifetime: a malloc chunk of 112 */
	CHECK(ag__filter_size(2, false) <= 104u);
	/* an index bucket holding one filter: one malloc chunk of 64 */
	CHECK(sizeof(struct ag__ibucket) <= 56u);
}

/* What the engine holds for each filter of the gen_rules kind (a program
 * to a host, outbound and inbound), its index entries and id slot counted. */
TEST(engine_memory_per_filter_of_a_rule_stays_under_256_bytes)
{
	ag_engine *e = fx_engine();
	ag_engine_stats st0, st1;
	enum { N = 4000 };
	char app[64], host[64];

	CHECK(e != NULL);
	ag_engine_get_stats(e, &st0);
	for (int i = 0; i < N; i++) {
		snprintf(app, sizeof(app), "/opt/other/bin/app%d", i % 200);
		snprintf(host, sizeof(host), "h%d.service%d.example", i, i % 300);
		ag_condition c[2] = {
			{ .field = AG_FIELD_APP_PATH, .match = AG_MATCH_EQUAL, .v.str = app },
			{ .field = AG_FIELD_REMOTE_HOST, .match = AG_MATCH_EQUAL, .v.str = host },
		};
		for (int l = 0; l < 2; l++) {
			ag_filter_spec s = {
				.layer = l ? AG_LAYER_ALE_AUTH_RECV_ACCEPT : AG_LAYER_ALE_AUTH_CONNECT,
				.sublayer = 0, .weight = 100, .action = AG_ACTION_PERMIT,
				.conditions = c, .n_conditions = 2, .name = "other-000001",
				.lifetime = AG_LIFETIME_PERSISTENT, .context = (uint64_t)i + 1,
			};
			uint64_t id;

			CHECK_EQ(ag_filter_add(e, &s, &id), 0);
		}
	}
	ag_engine_get_stats(e, &st1);
	size_t per = (st1.memory - st0.memory) / (2 * N);

	printf("#   %zu bytes per filter\n", per);
	CHECK(per <= 256);
	ag_engine_free(e);
}

/* The lifetime fields live only with the filters that need them, and
 * still say what they said. */
TEST(session_and_timed_filters_keep_their_session_and_deadline)
{
	ag_engine *e = fx_engine();
	ag_condition c = { .field = AG_FIELD_REMOTE_PORT, .match = AG_MATCH_EQUAL, .v.u32 = 80 };
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .weight = 5,
			     .action = AG_ACTION_BLOCK, .conditions = &c, .n_conditions = 1 };
	ag_filter_spec out;
	uint64_t a, b, p;

	s.lifetime = AG_LIFETIME_SESSION;
	s.session = 77;
	CHECK_EQ(ag_filter_add(e, &s, &a), 0);
	s.lifetime = AG_LIFETIME_TIMED;
	s.session = 0;
	s.expires_ns = fx_now + 5 * NS;
	CHECK_EQ(ag_filter_add(e, &s, &b), 0);
	s.lifetime = AG_LIFETIME_PERSISTENT;
	s.expires_ns = 0;
	CHECK_EQ(ag_filter_add(e, &s, &p), 0);
	ag_filter_describe(ag_filter_get(e, a), &out);
	CHECK_EQ(out.session, 77u);
	CHECK_EQ(out.expires_ns, 0u);
	ag_filter_describe(ag_filter_get(e, b), &out);
	CHECK_EQ(out.session, 0u);
	CHECK_EQ(out.expires_ns, fx_now + 5 * NS);
	ag_filter_describe(ag_filter_get(e, p), &out);
	CHECK_EQ(out.session, 0u);
	CHECK_EQ(out.n_conditions, 1u);
	CHECK_EQ(out.conditions[0].v.u32, 80u);
	CHECK(ag_filter_has_session(e, 77));
	CHECK_EQ(ag_filter_del_session(e, 77), 1);
	CHECK(ag_filter_get(e, a) == NULL);
	fx_now += 6 * NS;
	ag_engine_advance(e);
	CHECK(ag_filter_get(e, b) == NULL);
	CHECK(ag_filter_get(e, p) != NULL);
	ag_engine_free(e);
}

/* The map of filters by id, whose capacity grows by half: every filter
 * found, none deleted found, through growth and deletions. */
TEST(filters_by_id_are_found_after_growth_and_deletions)
{
	ag_engine *e = fx_engine();
	enum { N = 30000 };
	static uint64_t ids[N];
	uint64_t x = 88172645463325252ull;

	CHECK(e != NULL);
	for (int i = 0; i < N; i++) {
		ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .weight = (uint32_t)i,
				     .action = AG_ACTION_PERMIT,
				     .lifetime = AG_LIFETIME_UNTIL_RESTART };

		if (i % 2) {
			/* given ids, spread over the whole range */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			s.id = x | 1;
		}
		CHECK_EQ(ag_filter_add(e, &s, &ids[i]), 0);
	}
	for (int i = 0; i < N; i += 3)
		CHECK_EQ(ag_filter_del(e, ids[i]), 0);
	for (int i = 0; i < N; i++) {
		const ag_filter *f = ag_filter_get(e, ids[i]);

		if (i % 3 == 0)
			CHECK_MSG(f == NULL, "deleted filter %d found", i);
		else
			CHECK_MSG(f && ag_filter_id(f) == ids[i], "filter %d not found", i);
	}
	ag_engine_free(e);
}

/* An id the engine gives is never one in use, nor 0, even once the count
 * of ids went past the largest (it looks in the map only from then on). */
TEST(filter_ids_given_after_the_largest_id_wrap_to_free_ones)
{
	ag_engine *e = fx_engine();
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_PERMIT,
			     .lifetime = AG_LIFETIME_UNTIL_RESTART };
	uint64_t a, b, top, c, d;

	CHECK(e != NULL);
	CHECK_EQ(ag_filter_add(e, &s, &a), 0);
	CHECK_EQ(ag_filter_add(e, &s, &b), 0);
	s.id = UINT64_MAX;
	CHECK_EQ(ag_filter_add(e, &s, &top), 0);
	s.id = 0;
	CHECK_EQ(ag_filter_add(e, &s, &c), 0);
	CHECK_EQ(ag_filter_add(e, &s, &d), 0);
	CHECK(c != 0 && c != a && c != b && c != top);
	CHECK(d != 0 && d != a && d != b && d != top && d != c);
	CHECK_EQ(ag_filter_id(ag_filter_get(e, c)), c);
	ag_engine_free(e);
}

static char dir[] = "/tmp/test_rule_memory.XXXXXX";

/* Loading rules asks about each program once, even one not there (whose
 * directory cannot be watched); once the load is over, a program that
 * appeared is found. */
TEST(exeid_batch_looks_for_a_missing_program_once_and_finds_it_later)
{
	struct ag_exeid *x = ag_exeid_new();
	struct ag_exeid_stats st;
	char sub[sizeof(dir) + 16], path[sizeof(dir) + 32];
	uint32_t dev;
	uint64_t ino;
	int fd;

	CHECK(x != NULL);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/bin", dir);
	snprintf(path, sizeof(path), "%s/bin/prog", dir);
	ag_exeid_batch(x, true);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ag_exeid_resolve(x, path, &dev, &ino), -ENOENT);
	ag_exeid_get_stats(x, &st);
	CHECK_EQ(st.resolved, 1u);
	ag_exeid_batch(x, false);
	CHECK_EQ(mkdir(sub, 0755), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(ag_exeid_resolve(x, path, &dev, &ino), 0);
	ag_exeid_get_stats(x, &st);
	CHECK_EQ(st.resolved, 2u);
	/* outside a batch, a missing program is looked for every time */
	snprintf(path, sizeof(path), "%s/none/prog", dir);
	CHECK_EQ(ag_exeid_resolve(x, path, &dev, &ino), -ENOENT);
	CHECK_EQ(ag_exeid_resolve(x, path, &dev, &ino), -ENOENT);
	ag_exeid_get_stats(x, &st);
	CHECK_EQ(st.resolved, 4u);
	snprintf(path, sizeof(path), "%s/bin/prog", dir);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	ag_exeid_free(x);
}
