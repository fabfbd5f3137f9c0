/*
 * test_engine_threads.c — completion from any thread (S10).  Meant to run
 * under ThreadSanitizer too (make check-tsan): a worker completes while the
 * owner classifies, and nothing of the engine is shared without the lock.
 */
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "engine_fixture.h"

#define NFLOWS 200

struct worker {
	ag_engine *e;
	uint64_t ctx[NFLOWS];
	ag_packet clone[NFLOWS];
	uint64_t injector;
	int n;
	int rc_sum;
};

static int wake_pipe[2];

static void wake(void *arg)
{
	char b = 1;

	(void)arg;
	if (write(wake_pipe[1], &b, 1) < 0) {
		/* full pipe: the owner is already woken */
	}
}

static void *complete_all(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++)
		w->rc_sum += ag_complete_operation(w->e, w->ctx[i], NULL);
	/* once more: the owner finds it stale */
	w->rc_sum += ag_complete_operation(w->e, w->ctx[0], NULL);
	return NULL;
}

static void *inject_all(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++)
		w->rc_sum += ag_inject_receive_async(w->e, w->injector, w->ctx[i], &w->clone[i]);
	return NULL;
}

/* The owner's loop: classify other flows while waiting, apply on each wake. */
static void owner_loop(ag_engine *e, size_t want_released, uint16_t busy_port)
{
	ag_packet p = fx_pkt(9999);

	for (int turns = 0; dp.release_calls < want_released && turns < 5000; turns++) {
		struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
		ag_fixed_values busy = fx_tcp4((uint16_t)(busy_port + turns % 1000), 80, "/bin/busy");

		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &busy, NULL, &p, NULL);
		if (poll(&pfd, 1, 10) == 1) {
			char buf[64];

			if (read(wake_pipe[0], buf, sizeof(buf)) < 0)
				continue;
			ag_engine_run_completions(e);
		}
	}
}

TEST(completion_from_a_worker_thread_is_applied_by_the_owner_after_its_wake)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	static struct worker w;
	pthread_t t;
	ag_packet p = fx_pkt(1);
	ag_engine_stats st;

	CHECK_EQ(pipe(wake_pipe), 0);
	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			(ag_condition[]){ fx_app("/bin/a") }, 1));
	c.mode = FX_PEND;
	memset(&w, 0, sizeof(w));
	w.e = e;
	for (int i = 0; i < NFLOWS; i++) {
		ag_fixed_values in = fx_tcp4((uint16_t)(20000 + i), 443, "/bin/a");

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
		w.ctx[w.n++] = c.ctx;
	}
	c.mode = FX_PERMIT; /* what the reauthorization after completion answers */
	ag_engine_set_wake(e, wake, NULL);
	CHECK_EQ(pthread_create(&t, NULL, complete_all, &w), 0);
	owner_loop(e, NFLOWS, 30000);
	pthread_join(t, NULL);
	/* the stale one may have come after the last release */
	ag_engine_run_completions(e);
	CHECK_EQ(w.rc_sum, 0);
	CHECK_EQ(dp.release_calls, NFLOWS);
	ag_engine_get_stats(e, &st);
	CHECK_EQ(st.pended, 0);
	CHECK_EQ(st.queued_completions, NFLOWS + 1);
	CHECK_EQ(st.stale_completions, 1);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	ag_engine_free(e);
}

TEST(reinjection_from_a_worker_thread_releases_the_clone_on_the_owner)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	static struct worker w;
	pthread_t t;

	CHECK_EQ(pipe(wake_pipe), 0);
	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	memset(&w, 0, sizeof(w));
	w.e = e;
	CHECK_EQ(ag_injection_handle_create(e, &w.injector), 0);
	c.mode = FX_PEND_CLONE;
	for (int i = 0; i < 50; i++) {
		ag_fixed_values in = fx_tcp4(22, (uint16_t)(50000 + i), "/usr/sbin/sshd");
		ag_packet p = fx_pkt(100 + (uint64_t)i);

		in.direction = AG_DIR_IN;
		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
		w.ctx[w.n] = c.ctx;
		w.clone[w.n++] = c.clone;
	}
	c.mode = FX_CONTINUE;
	ag_engine_set_wake(e, wake, NULL);
	CHECK_EQ(pthread_create(&t, NULL, inject_all, &w), 0);
	owner_loop(e, 50, 31000);
	pthread_join(t, NULL);
	CHECK_EQ(w.rc_sum, 0);
	CHECK_EQ(dp.release_calls, 50);
	CHECK_EQ(dp.released[0].injector, (uint32_t)w.injector);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	ag_engine_free(e);
}

TEST(completion_on_the_owner_thread_is_applied_at_once_with_its_result)
{
	ag_engine *e = fx_engine();
	struct fx_callout c;
	ag_packet p = fx_pkt(2);
	ag_fixed_values in = fx_tcp4(40500, 443, "/bin/a");

	CHECK_EQ(fx_register(e, "fx", &c), 0);
	CHECK(fx_filter(e, AG_LAYER_ALE_AUTH_CONNECT, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, "fx", 0,
			NULL, 0));
	c.mode = FX_PEND;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	c.mode = FX_PERMIT;
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), 0);
	CHECK_EQ(dp.release_calls, 1);
	CHECK_EQ(ag_complete_operation(e, c.ctx, NULL), AG_E_NO_CONTEXT);
	CHECK_EQ(ag_engine_run_completions(e), 0);
	ag_engine_free(e);
}
