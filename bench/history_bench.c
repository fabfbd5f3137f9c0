/*
 * history_bench — what keeping every connection in SQLite costs.
 *
 *   history_bench [-r RATE] [-s SECONDS] [-n ROUNDS] [-q ROWS] [DIR]
 *
 * 1. The data plane with and without the history writer, in one run:
 *    rounds alternate off / on; each round classifies RATE new flows a
 *    second (default 20,000) for SECONDS (default 2) through the engine,
 *    with a permit filter, and ends them; "on" also hands each decision to
 *    agd_history_event() while the writer thread commits them.  The figure
 *    is the loop thread's CPU time per connection (CLOCK_THREAD_CPUTIME_ID),
 *    on / off, median of ROUNDS (default 5) pairs; the time the loop spends
 *    in the history's own calls per connection; the writer thread's CPU
 *    per row.
 * 2. Bytes of database per connection, once the rounds' rows are written.
 * 3. `history --since 1h` and `traffic --since 1h` over ROWS rows (default
 *    1,000,000) spread over 30 days, through the daemon's own queries: on
 *    a query thread, the answer handed back through the loop's eventfd.
 * DIR (default a new directory under /tmp) holds history.db; removed at
 * the end unless given.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/history.h"
#include "daemon/log.h"
#include "net/packet.h"

static struct agd D;
static bool history_on;
static uint64_t fake_ns = 1;
static uint64_t last_flow;	/* the engine's handle of the flow just decided */
static uint64_t hist_ns;	/* wall time in the history's calls, "on" rounds */

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_ns;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_event(void *arg, const ag_event *ev)
{
	(void)arg;
	last_flow = ev->flow;
	if (history_on) {
		uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

		agd_history_event(&D, ev);
		hist_ns += clock_ns(CLOCK_MONOTONIC) - t0;
	}
}

static void noop_release(void *a, const ag_flow_info *f, const ag_packet *p, size_t n)
{
	(void)a, (void)f, (void)p, (void)n;
}

static void noop_drop(void *a, const ag_flow_info *f, const ag_packet *p, size_t n, bool r)
{
	(void)a, (void)f, (void)p, (void)n, (void)r;
}

static const char *const apps[] = { "/usr/bin/curl", "/usr/lib/firefox-esr/firefox-esr",
				     "/usr/bin/apt", "/usr/sbin/chronyd", "/usr/bin/ssh" };
static const char *const hosts[] = { "deb.debian.org", "www.example.org", NULL,
				     "security.debian.org", "ntp.example.net" };

static uint32_t flow_no;

static void flow(ag_fixed_values *in)
{
	uint32_t k = flow_no++;

	memset(in, 0, sizeof(*in));
	in->ip_version = 4;
	in->protocol = AG_IPPROTO_TCP;
	in->direction = AG_DIR_OUT;
	in->local_addr.b[0] = 192, in->local_addr.b[1] = 0, in->local_addr.b[2] = 2, in->local_addr.b[3] = 1;
	in->remote_addr.b[0] = 198, in->remote_addr.b[1] = 51;
	in->remote_addr.b[2] = (uint8_t)(k >> 8), in->remote_addr.b[3] = (uint8_t)k;
	in->local_port = (uint16_t)(1024 + k % 60000);
	in->remote_port = 443;
	in->app_path = apps[k % 5];
	in->remote_host = hosts[k % 5];
	in->uid = 1000;
}

/* One round: rate flows a second for secs; returns the loop's CPU ns per flow. */
static double round_run(ag_engine *e, unsigned rate, double secs)
{
	uint64_t n = (uint64_t)(rate * secs), t0 = clock_ns(CLOCK_MONOTONIC);
	uint64_t cpu = 0;
	ag_packet p = { .token = 1, .len = 60 };

	for (uint64_t i = 0; i < n; i++) {
		uint64_t due = t0 + i * 1000000000ull / rate, now = clock_ns(CLOCK_MONOTONIC);
		ag_fixed_values in;

		if (due > now + 50000) {
			struct timespec ts = { 0, (long)(due - now) };

			nanosleep(&ts, NULL);
		}
		uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);

		flow(&in);
		fake_ns += 1000;
		ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
		ag_flow_end(e, &in);
		if (history_on) {
			uint64_t t1 = clock_ns(CLOCK_MONOTONIC);

			agd_history_end(&D, last_flow, 4096, 512);
			hist_ns += clock_ns(CLOCK_MONOTONIC) - t1;
		}
		cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	}
	return (double)cpu / (double)n;
}

/* CPU ns the writer thread (agd-history) has spent, from its schedstat. */
static uint64_t writer_cpu_ns(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	uint64_t ns = 0;

	while (dir && (de = readdir(dir))) {
		char path[300], comm[32] = "";
		unsigned long long v;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strcmp(comm, "agd-history\n"))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", de->d_name);
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%llu", &v) == 1)
				ns += v;
			fclose(f);
		}
	}
	if (dir)
		closedir(dir);
	return ns;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double ms_since(uint64_t t0)
{
	return (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
}

static json_t *answer;
static bool answered;

static void on_answer(struct agd *d, uint64_t token, json_t *result, const char *err)
{
	(void)d, (void)token;
	if (!result)
		fprintf(stderr, "history_bench: %s\n", err);
	answer = result;
	answered = true;
}

/* A query as the daemon runs it: on a query thread, the answer back
 * through the loop's eventfd. */
static json_t *ask(const struct agd_history_filter *f)
{
	char err[AGD_ERR_MAX];
	struct epoll_event ev;

	answered = false;
	answer = NULL;
	if (agd_history_ask(&D, f, on_answer, 0, err, sizeof(err))) {
		fprintf(stderr, "history_bench: %s\n", err);
		return NULL;
	}
	while (!answered)
		if (epoll_wait(D.epfd, &ev, 1, -1) == 1)
			agd_history_answers(&D);
	return answer;
}

int main(int argc, char **argv)
{
	unsigned rate = 20000, rounds = 5;
	double secs = 2;
	long rows = 1000000;
	char dir[256] = "", path[300];
	bool keep = false;
	int opt;

	while ((opt = getopt(argc, argv, "r:s:n:q:")) != -1) {
		if (opt == 'r')
			rate = (unsigned)atoi(optarg);
		else if (opt == 's')
			secs = atof(optarg);
		else if (opt == 'n')
			rounds = (unsigned)atoi(optarg);
		else if (opt == 'q')
			rows = atol(optarg);
		else
			return 2;
	}
	if (optind < argc) {
		snprintf(dir, sizeof(dir), "%s", argv[optind]);
		keep = true;
	} else {
		snprintf(dir, sizeof(dir), "/tmp/history_bench.XXXXXX");
		if (!mkdtemp(dir))
			return perror("mkdtemp"), 1;
	}
	agd_log_init(true, LOG_WARNING);
	agd_init(&D);
	D.epfd = epoll_create1(EPOLL_CLOEXEC);
	ag_config_defaults(&D.cfg);
	snprintf(D.cfg.state_dir, sizeof(D.cfg.state_dir), "%s", dir);
	D.cfg.history_days = 0;
	D.cfg.history_max_mb = 1u << 20;
	if (agd_history_open(&D))
		return fprintf(stderr, "history_bench: cannot open the history in %s\n", dir), 1;

	ag_engine_config ec;
	ag_dataplane_ops ops = { .release = noop_release, .drop = noop_drop, .event = on_event };

	ag_engine_config_default(&ec);
	ec.clock = fake_clock;
	ec.max_flows = 1u << 20;
	ag_engine *e = ag_engine_new(&ec, &ops);
	ag_filter_spec s = { .layer = AG_LAYER_ALE_AUTH_CONNECT, .weight = 10,
			     .action = AG_ACTION_PERMIT, .lifetime = AG_LIFETIME_PERSISTENT };

	if (!e || ag_filter_add(e, &s, NULL))
		return fprintf(stderr, "history_bench: engine\n"), 1;

	/* 1. same-run ratio */
	double off[64], on[64], ratio[64];
	uint64_t w0 = writer_cpu_ns();

	if (rounds > 64)
		rounds = 64;
	round_run(e, rate, 0.5); /* warm-up */
	for (unsigned r = 0; r < rounds; r++) {
		history_on = false;
		off[r] = round_run(e, rate, secs);
		history_on = true;
		on[r] = round_run(e, rate, secs);
		usleep(400000); /* the writer's last commit of the round */
		ratio[r] = on[r] / off[r];
		printf("round %u: loop CPU per connection %.0f ns off, %.0f ns on (%.3f)\n", r + 1,
		       off[r], on[r], ratio[r]);
	}
	uint64_t wcpu = writer_cpu_ns() - w0;
	double hist_per = (double)hist_ns / ((double)rate * secs * rounds);
	qsort(ratio, rounds, sizeof(double), cmp_d);
	qsort(off, rounds, sizeof(double), cmp_d);
	qsort(on, rounds, sizeof(double), cmp_d);

	json_t *st = agd_history_status_json(&D);
	long long written = json_integer_value(json_object_get(st, "rows_written"));
	long long dropped = json_integer_value(json_object_get(st, "dropped"));

	json_decref(st);
	printf("\n%u connections/s, %u rounds of %.1f s: loop CPU per connection median %.0f ns "
	       "off, %.0f ns on; on/off median %.3f (min %.3f, max %.3f)\n",
	       rate, rounds, secs, off[rounds / 2], on[rounds / 2], ratio[rounds / 2], ratio[0],
	       ratio[rounds - 1]);
	printf("the loop's history calls (agd_history_event, agd_history_end): %.0f ns per "
	       "connection\n", hist_per);
	printf("rows written %lld, dropped %lld; writer thread %.2f us of CPU per row "
	       "(%.1f%% of one core at %u rows/s)\n", written, dropped,
	       written ? (double)wcpu / 1e3 / (double)written : 0.0,
	       written ? (double)wcpu / (double)written * rate / 1e7 : 0.0, rate);

	/* 2. bytes per connection */
	agd_history_close(&D);
	struct stat sb;

	snprintf(path, sizeof(path), "%s/history.db", dir);
	{
		sqlite3 *db;

		sqlite3_open(path, &db);
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	if (stat(path, &sb) == 0 && written > 0)
		printf("database: %lld bytes for %lld connections: %.0f bytes per connection\n",
		       (long long)sb.st_size, written, (double)sb.st_size / (double)written);

	/* 3. queries over ROWS rows spread over 30 days, the newest now */
	{
		sqlite3 *db;
		sqlite3_stmt *ins;
		uint64_t now = ag_wall_ms(), t0 = clock_ns(CLOCK_MONOTONIC);

		sqlite3_open(path, &db);
		sqlite3_exec(db, "DELETE FROM conn; BEGIN", NULL, NULL, NULL);
		sqlite3_prepare_v2(db,
				   "INSERT INTO conn(time_ms, exe, pid, uid, proto, direction, local, remote,"
				   " host, action, rule, decided, end_ms, bytes_in, bytes_out)"
				   " VALUES(?,?,?,1000,'tcp','out','192.0.2.1:40000',?,?,'allow','6fa9e23e',"
				   "'rule',?,?,?)", -1, &ins, NULL);
		for (long i = 0; i < rows; i++) {
			int64_t t = (int64_t)now - (int64_t)((rows - 1 - i) * (30ll * 86400000 / rows));
			char remote[32];

			snprintf(remote, sizeof(remote), "198.51.%ld.%ld:443", (i >> 8) & 255, i & 255);
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, t);
			sqlite3_bind_text(ins, 2, apps[i % 5], -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 3, 1000 + i % 30000);
			sqlite3_bind_text(ins, 4, remote, -1, SQLITE_TRANSIENT);
			if (hosts[i % 5])
				sqlite3_bind_text(ins, 5, hosts[i % 5], -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 5);
			sqlite3_bind_int64(ins, 6, t + 1500);
			sqlite3_bind_int64(ins, 7, 4096 + i % 100000);
			sqlite3_bind_int64(ins, 8, 512 + i % 2000);
			sqlite3_step(ins);
		}
		sqlite3_finalize(ins);
		sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_close(db);
		stat(path, &sb);
		printf("\n%ld rows over 30 days written in %.0f ms: %lld bytes, %.0f per row\n", rows,
		       ms_since(t0), (long long)sb.st_size, (double)sb.st_size / (double)rows);
	}
	if (agd_history_open(&D))
		return 1;
	struct {
		const char *what;
		uint64_t since;
		const char *app;
		uint64_t limit;
	} q[] = {
		{ "history --since 1h --json (every row of the hour)", 3600000, NULL, 0 },
		{ "history --since 1h (100 rows, the default)", 3600000, NULL, 100 },
		{ "history --since 1h --app /usr/bin/curl --json", 3600000, "/usr/bin/curl", 0 },
		{ "history --limit 100 (no --since)", 0, NULL, 100 },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		struct agd_history_filter f = { .app = q[i].app, .limit = q[i].limit };
		double best = 1e9;
		size_t n = 0;

		f.since_ms = q[i].since ? ag_wall_ms() - q[i].since : 0;
		for (int k = 0; k < 5; k++) {
			uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
			json_t *a = ask(&f);
			char *text = json_dumps(a, JSON_COMPACT);
			double ms = ms_since(t0);

			n = json_array_size(a);
			best = ms < best ? ms : best;
			free(text);
			json_decref(a);
		}
		printf("%-52s %6zu rows  %7.1f ms (best of 5, JSON text included)\n", q[i].what, n, best);
	}
	uint64_t spans[] = { 3600000, 86400000, 30ull * 86400000 };
	const char *names[] = { "traffic --since 1h", "traffic --since 1d", "traffic --since 30d" };

	for (int i = 0; i < 3; i++) {
		struct agd_history_filter f = { .traffic = true, .since_ms = ag_wall_ms() - spans[i] };
		double best = 1e9;

		for (int k = 0; k < 3; k++) {
			uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
			json_t *a = ask(&f);
			double ms = ms_since(t0);

			best = ms < best ? ms : best;
			json_decref(a);
		}
		printf("%-52s %7.1f ms (best of 3)\n", names[i], best);
	}
	agd_history_close(&D);
	ag_engine_free(e);
	if (!keep) {
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "history_bench: could not remove %s\n", dir);
	}
	return 0;
}
