/*
 * bench/complete_bench.c — how long a completion made on a callout's own
 * thread takes to be applied by the engine's owner thread.
 *
 *   complete_bench [--count N]
 *
 * The owner waits in epoll on an eventfd, as alegated's loop does; the
 * engine's wake writes it.  A worker pends nothing itself: the owner pends
 * N flows at CONNECT, then the worker completes them one at a time, each
 * after the previous one was released, and the time from its
 * ag_complete_operation() call to the engine's release callback on the
 * owner is recorded.  Printed: median, 99th percentile and maximum, in
 * microseconds.  The daemon's promise is under 1 ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "alegate/engine.h"

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t boot_clock(void *arg)
{
	(void)arg;
	return mono();
}

static int efd;
static _Atomic uint64_t called_at; /* when the worker called complete */
static _Atomic uint64_t released;  /* how many the owner released */
static uint64_t *lat;
static uint64_t *ctxs;
static int count = 10000;

static void wake(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	if (write(efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		perror("eventfd");
}

static void on_release(void *arg, const ag_flow_info *f, const ag_packet *p, size_t n)
{
	uint64_t i = atomic_load(&released);

	(void)arg;
	(void)f;
	(void)p;
	(void)n;
	lat[i] = mono() - atomic_load(&called_at);
	atomic_store(&released, i + 1);
}

static void pend_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			  const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			  ag_classify_out *out, void *arg)
{
	uint64_t *slot = arg;

	(void)layer;
	(void)filter;
	(void)flow_context;
	if (in->flags & AG_FLAG_IS_REAUTHORIZE) {
		out->action = AG_ACTION_PERMIT;
		return;
	}
	if (ag_pend_operation(e, meta->completion_handle, slot) == 0) {
		out->action = AG_ACTION_BLOCK;
		out->flags |= AG_CLASSIFY_OUT_FLAG_ABSORB;
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
	}
}

static void *worker(void *arg)
{
	ag_engine *e = arg;

	for (int i = 0; i < count; i++) {
		/* wait for the previous release: one completion in flight at a time */
		while (atomic_load(&released) < (uint64_t)i) {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
		}
		atomic_store(&called_at, mono());
		ag_complete_operation(e, ctxs[i], NULL);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = atoi(argv[++i]);
	if (count < 1) {
		fprintf(stderr, "usage: complete_bench [--count N]\n");
		return 2;
	}
	lat = calloc((size_t)count, sizeof(*lat));
	ctxs = calloc((size_t)count, sizeof(*ctxs));

	ag_engine_config cfg;
	ag_dataplane_ops ops = { .release = on_release };
	uint64_t slot = 0;

	ag_engine_config_default(&cfg);
	cfg.clock = boot_clock;
	cfg.pending_timeout_ns = 0;
	cfg.max_pended = cfg.max_pended_per_process = cfg.max_pended_per_user = (uint32_t)count;
	cfg.max_flows = (uint32_t)count * 2;

	ag_engine *e = ag_engine_new(&cfg, &ops);
	ag_callout co = { .name = "bench", .classify = pend_classify, .arg = &slot };
	ag_filter_spec fs = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .action = AG_ACTION_CALLOUT_UNKNOWN,
			      .callout = "bench", .lifetime = AG_LIFETIME_UNTIL_RESTART };

	if (!e || ag_callout_register(e, &co) || ag_filter_add(e, &fs, NULL) || !lat || !ctxs) {
		fprintf(stderr, "complete_bench: setup failed\n");
		return 1;
	}
	for (int i = 0; i < count; i++) {
		ag_fixed_values in = { .ip_version = 4, .protocol = 6, .uid = 1000 };
		ag_packet p = { .token = (uint64_t)i + 1, .len = 60 };

		in.local_port = (uint16_t)(1024 + i % 60000);
		in.remote_port = (uint16_t)(443 + i / 60000);
		in.local_addr.b[0] = 10, in.remote_addr.b[0] = 10, in.remote_addr.b[3] = 1;
		if (ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL) != AG_VERDICT_HOLD) {
			fprintf(stderr, "complete_bench: flow %d not pended\n", i);
			return 1;
		}
		ctxs[i] = slot;
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ep == -1 || efd == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == -1) {
		perror("complete_bench");
		return 1;
	}
	ag_engine_set_wake(e, wake, NULL);

	pthread_t t;

	pthread_create(&t, NULL, worker, e);
	while (atomic_load(&released) < (uint64_t)count) {
		uint64_t n;

		if (epoll_wait(ep, &ev, 1, 1000) == 1 && read(efd, &n, sizeof(n)) == sizeof(n))
			ag_engine_run_completions(e);
	}
	pthread_join(t, NULL);
	qsort(lat, (size_t)count, sizeof(*lat), cmp);
	int rc = lat[(size_t)count * 99 / 100] < 1000000 ? 0 : 1;

	printf("completion from another thread, applied by the owner (%d completions):\n", count);
	printf("  median %.1f us, p99 %.1f us, max %.1f us\n", lat[count / 2] / 1e3,
	       lat[(size_t)count * 99 / 100] / 1e3, lat[count - 1] / 1e3);
	ag_engine_free(e);
	close(efd);
	close(ep);
	free(lat);
	free(ctxs);
	return rc;
}
