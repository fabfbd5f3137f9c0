/*
 * bench/engine_bench.c — what the engine costs, measured against itself.
 *
 *   engine_bench [--filters N] [--rounds R]
 *
 * 1. Classifying a new flow against 10 filters (the baseline) and against N
 *    (default 10,000) filters of the mix a real ruleset has: per-app rules
 *    with a host, a prefix or a port range, host-suffix rules, prefix rules.
 * 2. Pend + complete + reauthorization of one flow.
 * 3. Memory per tracked flow.
 *
 * Each figure is the median over R rounds of the mean of a batch, so one
 * descheduling does not move it.  The 10-filter baseline and the large
 * ruleset take turns batch by batch and their ratio is the median of the
 * per-pair ratios, so the machine's noise falls on both alike.  Flow setup
 * and teardown happen outside the timed region.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alegate/callouts.h"
#include "alegate/engine.h"

#define BATCH 1000

static uint64_t now_ns;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return now_ns;
}

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define NAPPS 2000
static char apps[NAPPS][48];
static char hosts[4000][40];

static void names_init(void)
{
	for (int i = 0; i < NAPPS; i++)
		snprintf(apps[i], sizeof(apps[i]), "/usr/lib/app%04d/bin/app%04d", i, i);
	for (int i = 0; i < 4000; i++)
		snprintf(hosts[i], sizeof(hosts[i]), "h%d.service%d.example", i, i % 300);
}

static void noop_release(void *a, const ag_flow_info *f, const ag_packet *p, size_t n)
{
	(void)a, (void)f, (void)p, (void)n;
}

static void noop_drop(void *a, const ag_flow_info *f, const ag_packet *p, size_t n, bool r)
{
	(void)a, (void)f, (void)p, (void)n, (void)r;
}

static ag_engine *engine(void)
{
	ag_engine_config cfg;
	ag_dataplane_ops ops = { .release = noop_release, .drop = noop_drop };

	ag_engine_config_default(&cfg);
	cfg.clock = fake_clock;
	cfg.max_flows = 1u << 20;
	cfg.event_ring_size = 4096;
	return ag_engine_new(&cfg, &ops);
}

/* A rule of the kind people write: mostly "this app to that place". */
static void add_rule(ag_engine *e, uint32_t i)
{
	ag_condition c[3];
	size_t n = 0;
	uint32_t kind = i % 10;

	memset(c, 0, sizeof(c));
	if (kind < 8) {
		c[n].field = AG_FIELD_APP_PATH;
		c[n].match = AG_MATCH_EQUAL;
		c[n++].v.str = apps[rnd(NAPPS)];
	}
	switch (kind) {
	case 0: case 1: case 2: case 3: /* app + host */
	case 8:                        /* host suffix alone */
		c[n].field = AG_FIELD_REMOTE_HOST;
		c[n].match = kind == 8 ? AG_MATCH_SUFFIX : AG_MATCH_EQUAL;
		c[n++].v.str = kind == 8 ? strchr(hosts[rnd(4000)], '.') + 1 : hosts[rnd(4000)];
		break;
	case 4: case 5: /* app + prefix */
	case 9:         /* prefix alone */
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_PREFIX;
		c[n].v.addr.ip_version = 4;
		c[n].v.addr.len = (uint8_t)(16 + rnd(17));
		c[n].v.addr.bytes.b[0] = (uint8_t)(1 + rnd(223));
		c[n].v.addr.bytes.b[1] = (uint8_t)rnd(256);
		c[n].v.addr.bytes.b[2] = (uint8_t)rnd(256);
		c[n++].v.addr.bytes.b[3] = (uint8_t)rnd(256);
		break;
	case 6: case 7: { /* app + port range */
		uint32_t lo = 1024 + rnd(60000);

		c[n].field = AG_FIELD_REMOTE_PORT;
		c[n].match = AG_MATCH_RANGE;
		c[n].v.range.lo = lo;
		c[n++].v.range.hi = lo + rnd(200);
		break;
	}
	}
	ag_filter_spec s = {
		.layer = AG_LAYER_ALE_AUTH_CONNECT,
		.weight = 10 + rnd(100),
		.action = rnd(4) ? AG_ACTION_PERMIT : AG_ACTION_BLOCK,
		.lifetime = AG_LIFETIME_PERSISTENT,
		.conditions = c,
		.n_conditions = n,
	};
	if (ag_filter_add(e, &s, NULL)) {
		fprintf(stderr, "engine_bench: filter %u refused\n", i);
		exit(1);
	}
}

static void flow_values(ag_fixed_values *in, uint32_t k)
{
	memset(in, 0, sizeof(*in));
	in->ip_version = 4;
	in->protocol = 6;
	in->local_addr.b[0] = 192, in->local_addr.b[2] = 2, in->local_addr.b[3] = 1;
	in->local_port = (uint16_t)(1024 + k % 60000);
	in->local_addr.b[1] = (uint8_t)(k / 60000);
	in->remote_addr.b[0] = (uint8_t)(1 + rnd(223));
	in->remote_addr.b[1] = (uint8_t)rnd(256);
	in->remote_addr.b[2] = (uint8_t)rnd(256);
	in->remote_addr.b[3] = (uint8_t)rnd(256);
	in->remote_port = rnd(2) ? 443 : (uint16_t)(1024 + rnd(60000));
	in->uid = 1000;
	in->app_path = apps[rnd(NAPPS)];
	in->remote_host = rnd(4) ? hosts[rnd(4000)] : NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Mean ns per classify of a new flow over one batch (setup and teardown untimed). */
static double classify_batch(ag_engine *e, uint32_t *k)
{
	static ag_fixed_values in[BATCH];
	ag_packet p = { .token = 1, .len = 60 };

	for (int i = 0; i < BATCH; i++)
		flow_values(&in[i], (*k)++);
	uint64_t t0 = mono();

	for (int i = 0; i < BATCH; i++)
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in[i], NULL, &p, NULL);
	uint64_t t1 = mono();

	for (int i = 0; i < BATCH; i++)
		ag_flow_end(e, &in[i]);
	return (double)(t1 - t0) / BATCH;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The two rulesets take turns, batch by batch, so that whatever else the
 * machine does falls on both alike; the ratio is the median of the ratios
 * of each pair of batches, the times the medians of each side.
 */
static void bench_classify_pair(ag_engine *small, ag_engine *big, int rounds, double *t_small,
				double *t_big, double *ratio)
{
	double *a = calloc((size_t)rounds, sizeof(*a)), *b = calloc((size_t)rounds, sizeof(*b));
	double *q = calloc((size_t)rounds, sizeof(*q));
	uint32_t ks = 0, kb = 0;

	for (int r = 0; r < rounds; r++) {
		if (r & 1) {
			b[r] = classify_batch(big, &kb);
			a[r] = classify_batch(small, &ks);
		} else {
			a[r] = classify_batch(small, &ks);
			b[r] = classify_batch(big, &kb);
		}
		q[r] = b[r] / a[r];
	}
	qsort(a, (size_t)rounds, sizeof(*a), cmp_double);
	qsort(b, (size_t)rounds, sizeof(*b), cmp_double);
	qsort(q, (size_t)rounds, sizeof(*q), cmp_double);
	*t_small = a[rounds / 2];
	*t_big = b[rounds / 2];
	*ratio = q[rounds / 2];
	free(a);
	free(b);
	free(q);
}

/* Pend + complete (reauthorization) of one flow, through the built-in ask. */
static double bench_pend_complete(int rounds)
{
	ag_engine *e = engine();
	uint64_t *per = calloc((size_t)rounds, sizeof(*per));
	static ag_fixed_values in[BATCH];
	static uint64_t ctx[BATCH];
	uint32_t k = 0;

	ag_ask_register(e);
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_CALLOUT_UNKNOWN,
			     .callout = AG_CALLOUT_ASK, .lifetime = AG_LIFETIME_PERSISTENT };
	ag_filter_add(e, &s, NULL);
	for (int r = 0; r < rounds; r++) {
		ag_packet p = { .token = 1, .len = 60 };
		ag_flow_info info;

		for (int i = 0; i < BATCH; i++)
			flow_values(&in[i], k++);
		uint64_t t0 = mono();

		for (int i = 0; i < BATCH; i++) {
			uint64_t h;

			ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in[i], NULL, &p, &h);
			ag_flow_get(e, h, &info);
			ctx[i] = info.completion_context;
			ag_ask_decide(e, ctx[i], AG_VERDICT_PERMIT);
		}
		uint64_t t1 = mono();

		per[r] = (t1 - t0) * 1000 / BATCH;
		for (int i = 0; i < BATCH; i++)
			ag_flow_end(e, &in[i]);
	}
	qsort(per, (size_t)rounds, sizeof(*per), cmp_u64);
	double median = per[rounds / 2] / 1000.0;

	free(per);
	ag_engine_free(e);
	return median;
}

static double bench_memory(void)
{
	ag_engine *e = engine();
	ag_engine_stats a, b;
	ag_packet p = { .token = 1, .len = 60 };
	ag_fixed_values in;

	for (uint32_t i = 0; i < 2000; i++) {
		flow_values(&in, i);
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	}
	ag_engine_get_stats(e, &a);
	for (uint32_t i = 2000; i < 102000; i++) {
		flow_values(&in, i);
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	}
	ag_engine_get_stats(e, &b);
	double per = (double)(b.memory - a.memory) / (double)(b.flows - a.flows);

	ag_engine_free(e);
	return per;
}

int main(int argc, char **argv)
{
	int nfilters = 10000, rounds = 101;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--filters") && i + 1 < argc)
			nfilters = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: engine_bench [--filters N] [--rounds R]\n");
			return 2;
		}
	}
	if (nfilters < 10 || rounds < 1) {
		fprintf(stderr, "engine_bench: need --filters >= 10 and --rounds >= 1\n");
		return 2;
	}
	names_init();
	now_ns = 1000000000ULL;

	ag_engine *small = engine(), *big = engine();

	for (int i = 0; i < 10; i++)
		add_rule(small, (uint32_t)i);
	for (int i = 0; i < nfilters; i++)
		add_rule(big, (uint32_t)i);
	/* warm both (page faults, pools) before measuring */
	double t10, tbig, ratio;

	bench_classify_pair(small, big, 5, &t10, &tbig, &ratio); /* warm-up */
	bench_classify_pair(small, big, rounds, &t10, &tbig, &ratio);
	double pend = bench_pend_complete(rounds);
	double mem = bench_memory();

	printf("engine_bench: %d rounds of %d, median of per-round means\n", rounds, BATCH);
	printf("%-46s %10s %8s\n", "measure", "value", "ratio");
	printf("%-46s %8.0f ns %8s\n", "classify new flow, 10 filters (baseline)", t10, "1.00");
	printf("%-46s %8.0f ns %8.2f\n", "classify new flow, many filters", tbig, ratio);
	printf("%-46s %8d\n", "  filters in the large ruleset", nfilters);
	printf("%-46s %8.0f ns %8.2f\n", "pend + complete + reauthorization, one flow", pend,
	       pend / t10);
	printf("%-46s %8.0f B\n", "memory per tracked flow", mem);
	/* what the engine counts (requested sizes: malloc's own overhead and
	 * rounding not included) */
	ag_engine_stats ss, sb;

	ag_engine_get_stats(small, &ss);
	ag_engine_get_stats(big, &sb);
	printf("%-46s %8.0f B\n", "engine memory per filter (large ruleset)",
	       (double)(sb.memory - ss.memory) / (double)(nfilters - 10));
	ag_engine_free(small);
	ag_engine_free(big);
	return 0;
}
