/*
 * bench_answer — what bench/compare asks of alegated over its control
 * socket (docs/PROTOCOL.md), without depending on alegatectl's output.
 *
 *   bench_answer -s SOCK wait SECONDS
 *	retry until the daemon answers a status call; exit 1 at the deadline.
 *   bench_answer -s SOCK call JSON
 *	send one request ({"op":…}); print its result as compact JSON.
 *   bench_answer -s SOCK get OP KEY[.KEY…]
 *	print one number or string of a result, e.g. get status
 *	counters.queued_packets.
 *   bench_answer -s SOCK mark
 *	print the newest event's seq (0 when there is none): a starting point.
 *   bench_answer -s SOCK count-exe AFTER REMOTE EXE
 *	of the flows to REMOTE ("ADDR:PORT") permitted at ALE_AUTH_CONNECT in
 *	the events after seq AFTER, how many name EXE: "attributed=A flows=F
 *	unknown=U" (U: flows with no executable at all).
 *   bench_answer -s SOCK answer LOG
 *	the prompt client of workload 4: subscribe to pended flows and allow
 *	each once as soon as it is announced.  Prints "ready" once subscribed;
 *	runs until SIGINT/SIGTERM.  LOG gets one line per answer:
 *	"LPORT RPORT T_PUSH T_ANSWER T_REPLY EXE" (CLOCK_MONOTONIC, ns), where
 *	T_PUSH is when the announcement was read, T_ANSWER just before the
 *	allow was sent and T_REPLY when the daemon confirmed it.
 *
 * Exit: 0 done, 1 failed (message on stderr), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/ctl.h"

/* How often the answer loop looks at the stop flag while nothing comes. */
#define ANSWER_POLL_MS		200

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: bench_answer -s SOCK wait SECONDS\n"
		"       bench_answer -s SOCK call JSON\n"
		"       bench_answer -s SOCK get OP KEY[.KEY...]\n"
		"       bench_answer -s SOCK mark\n"
		"       bench_answer -s SOCK count-exe AFTER REMOTE EXE\n"
		"       bench_answer -s SOCK answer LOG\n");
	return 2;
}

static struct ag_ctl_conn *open_conn(const char *sock)
{
	char err[AG_CTL_ERR_MAX] = "";
	struct ag_ctl_conn *c = ag_ctl_connect(sock, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "bench_answer: %s\n", err[0] ? err : strerror(errno));
	}
	return c;
}

/* One call; the result (a new reference) or NULL after printing why. */
static json_t *call(struct ag_ctl_conn *c, json_t *req)
{
	json_t *res = NULL;
	char err[AG_CTL_ERR_MAX] = "";
	int r = ag_ctl_call(c, req, &res, err, sizeof(err));

	if (r) {
		const char *op = json_string_value(json_object_get(req, "op"));

		fprintf(stderr, "bench_answer: %s: %s\n", op ? op : "request",
			err[0] ? err : strerror(-r));
		return NULL;
	}
	return res;
}

static json_t *call_op(struct ag_ctl_conn *c, const char *op)
{
	json_t *req = json_pack("{s:s}", "op", op), *res;

	if (!req)
		return NULL;
	res = call(c, req);
	json_decref(req);
	return res;
}

static int cmd_wait(const char *sock, const char *secs)
{
	char *end;
	double s = strtod(secs, &end);
	uint64_t deadline;

	if (end == secs || *end || !(s > 0 && s <= 600)) {
		fprintf(stderr, "bench_answer: bad time \"%s\" (seconds, up to 600)\n", secs);
		return 2;
	}
	deadline = now_ns() + (uint64_t)(s * 1e9);
	for (;;) {
		char err[AG_CTL_ERR_MAX] = "";
		struct ag_ctl_conn *c = ag_ctl_connect(sock, err, sizeof(err));

		if (c) {
			json_t *res = call_op(c, "status");

			ag_ctl_close(c);
			if (res) {
				json_decref(res);
				return 0;
			}
		}
		if (now_ns() >= deadline) {
			fprintf(stderr, "bench_answer: no daemon answered on \"%s\" in %s s: %s\n",
				sock, secs, err[0] ? err : "status failed");
			return 1;
		}
		usleep(20000);
	}
}

static int cmd_call(struct ag_ctl_conn *c, const char *text)
{
	json_error_t jerr;
	json_t *req = json_loads(text, 0, &jerr), *res;
	char *out;

	if (!json_is_object(req) || !json_is_string(json_object_get(req, "op"))) {
		fprintf(stderr, "bench_answer: not a request object with an \"op\": \"%.60s\"\n",
			text);
		json_decref(req);
		return 2;
	}
	res = call(c, req);
	json_decref(req);
	if (!res)
		return 1;
	out = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
	printf("%s\n", out ? out : "null");
	free(out);
	json_decref(res);
	return 0;
}

static int cmd_get(struct ag_ctl_conn *c, const char *op, const char *path)
{
	json_t *res = call_op(c, op), *v;
	char key[256], *save = NULL;
	int ret = 1;

	if (!res)
		return 1;
	snprintf(key, sizeof(key), "%s", path);
	v = res;
	for (char *k = strtok_r(key, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	if (json_is_integer(v)) {
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
		ret = 0;
	} else if (json_is_real(v)) {
		printf("%g\n", json_real_value(v));
		ret = 0;
	} else if (json_is_string(v)) {
		printf("%s\n", json_string_value(v));
		ret = 0;
	} else {
		fprintf(stderr, "bench_answer: %s has no number or string at \"%s\"\n", op, path);
	}
	json_decref(res);
	return ret;
}

static json_t *events_after(struct ag_ctl_conn *c, json_int_t after, json_int_t limit)
{
	json_t *req = json_pack("{s:s,s:I,s:I}", "op", "events", "after", after, "limit", limit);
	json_t *res;

	if (!req)
		return NULL;
	res = call(c, req);
	json_decref(req);
	if (res && !json_is_array(res)) {
		fprintf(stderr, "bench_answer: events: the result is not an array\n");
		json_decref(res);
		return NULL;
	}
	return res;
}

static int cmd_mark(struct ag_ctl_conn *c)
{
	json_t *res = events_after(c, 0, 1);
	json_int_t seq = 0;

	if (!res)
		return 1;
	if (json_array_size(res))
		seq = json_integer_value(json_object_get(json_array_get(res, 0), "seq"));
	printf("%" JSON_INTEGER_FORMAT "\n", seq);
	json_decref(res);
	return 0;
}

/*
 * One permit event at ALE_AUTH_CONNECT per new flow: each is counted, even
 * when a later flow has the same local port (a port is free again as soon
 * as its connection closed; the daemon rightly sees a new flow then).
 */
static int cmd_count_exe(struct ag_ctl_conn *c, const char *after_s, const char *remote,
			 const char *exe)
{
	size_t flows = 0, named = 0, unknown = 0, i;
	json_t *res, *ev;
	char *end;
	long long after = strtoll(after_s, &end, 10);

	if (end == after_s || *end || after < 0) {
		fprintf(stderr, "bench_answer: bad event seq \"%s\"\n", after_s);
		return 2;
	}
	/* limit -1: every event after AFTER that the ring still holds. */
	res = events_after(c, after, -1);
	if (!res)
		return 1;
	json_array_foreach(res, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		const char *layer = json_string_value(json_object_get(ev, "layer"));
		const char *rem = json_string_value(json_object_get(ev, "remote"));
		const char *e = json_string_value(json_object_get(ev, "exe"));

		if (!type || strcmp(type, "permit") || !layer || strcmp(layer, "connect") ||
		    !rem || strcmp(rem, remote))
			continue;
		flows++;
		if (!e)
			unknown++;
		else if (!strcmp(e, exe))
			named++;
	}
	printf("attributed=%zu flows=%zu unknown=%zu\n", named, flows, unknown);
	json_decref(res);
	return 0;
}

/* "ADDR:PORT" or "[ADDR]:PORT" -> PORT, or 0. */
static unsigned port_of(const char *ep)
{
	const char *colon = ep ? strrchr(ep, ':') : NULL;

	return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

static int cmd_answer(struct ag_ctl_conn *c, const char *logpath)
{
	struct sigaction sa = { .sa_handler = on_signal };
	json_t *req, *res;
	FILE *log = fopen(logpath, "w");
	unsigned long answered = 0, failed = 0;
	int ret = 0;

	if (!log) {
		fprintf(stderr, "bench_answer: cannot write \"%s\": %s\n", logpath, strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	req = json_pack("{s:s,s:b,s:b}", "op", "subscribe", "events", 0, "pending", 1);
	res = req ? call(c, req) : NULL;
	json_decref(req);
	if (!res) {
		fclose(log);
		return 1;
	}
	json_decref(res);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		json_t *msg = NULL, *p;
		char err[AG_CTL_ERR_MAX] = "";
		int r = ag_ctl_next_push(c, ANSWER_POLL_MS, &msg, err, sizeof(err));
		uint64_t t_push, t_answer, t_reply;

		if (r < 0) {
			if (!stop) {
				fprintf(stderr, "bench_answer: %s\n", err[0] ? err : strerror(-r));
				ret = 1;
			}
			break;
		}
		if (r == 0)
			continue;
		t_push = now_ns();
		p = json_object_get(msg, "pending");
		if (!json_is_object(p)) {
			json_decref(msg); /* a "resolved" line: nothing to do */
			continue;
		}
		req = json_pack("{s:s,s:O,s:s}", "op", "allow", "pending", json_object_get(p, "id"),
				"duration", "once");
		t_answer = now_ns();
		res = req ? call(c, req) : NULL;
		t_reply = now_ns();
		json_decref(req);
		if (res) {
			const char *exe = json_string_value(json_object_get(p, "exe"));

			answered++;
			fprintf(log, "%u %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n",
				port_of(json_string_value(json_object_get(p, "local"))),
				port_of(json_string_value(json_object_get(p, "remote"))), t_push,
				t_answer, t_reply, exe ? exe : "-");
		} else {
			failed++;
		}
		json_decref(res);
		json_decref(msg);
	}
	if (fclose(log)) {
		fprintf(stderr, "bench_answer: writing \"%s\": %s\n", logpath, strerror(errno));
		ret = 1;
	}
	fprintf(stderr, "bench_answer: answered %lu, failed %lu, pushes dropped %lu\n", answered,
		failed, ag_ctl_pushes_dropped(c));
	return ret;
}

int main(int argc, char **argv)
{
	const char *sock = AG_CTL_DEFAULT_SOCKET, *cmd;
	struct ag_ctl_conn *c;
	int opt, ret;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		if (opt != 's')
			return usage();
		sock = optarg;
	}
	if (optind >= argc)
		return usage();
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "wait"))
		return argc == 2 ? cmd_wait(sock, argv[1]) : usage();

	if (!((!strcmp(cmd, "call") && argc == 2) || (!strcmp(cmd, "get") && argc == 3) ||
	      (!strcmp(cmd, "mark") && argc == 1) || (!strcmp(cmd, "count-exe") && argc == 4) ||
	      (!strcmp(cmd, "answer") && argc == 2)))
		return usage();
	c = open_conn(sock);
	if (!c)
		return 1;
	if (!strcmp(cmd, "call"))
		ret = cmd_call(c, argv[1]);
	else if (!strcmp(cmd, "get"))
		ret = cmd_get(c, argv[1], argv[2]);
	else if (!strcmp(cmd, "mark"))
		ret = cmd_mark(c);
	else if (!strcmp(cmd, "count-exe"))
		ret = cmd_count_exe(c, argv[1], argv[2], argv[3]);
	else
		ret = cmd_answer(c, argv[1]);
	ag_ctl_close(c);
	return ret;
}
