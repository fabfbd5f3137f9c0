/*
 * bench_connect — the traffic of bench/compare, both ends, and what it reads
 * from /proc.  One program so that one rule ("app is bench_connect") covers
 * every client workload; the short-lived clients are a copy of it under
 * another name, so that a connection wrongly charged to their parent would
 * show.
 *
 *   bench_connect serve ADDR PORT NPORTS [THREADS]
 *	TCP servers on PORT .. PORT+NPORTS-1: read a REQ_LEN-byte request,
 *	write a REQ_LEN-byte reply, close.  The server closes first and the
 *	client waits for that, so TIME_WAIT sits on the server side only: the
 *	client never runs out of ports and its namespace does not fill up.
 *   bench_connect seq ADDR PORT NPORTS COUNT [-l FILE]
 *	COUNT sequential connections (connect, exchange, close), spread over
 *	the NPORTS ports.  -l writes "LPORT RPORT T_START_NS T_CONNECTED_NS" per
 *	connection (CLOCK_MONOTONIC), for joining with bench_answer's log.
 *   bench_connect par ADDR PORT NPORTS THREADS (-d SECONDS | -n COUNT)
 *	THREADS clients connecting in a loop, for a time or a total count.
 *   bench_connect udp ADDR PORT COUNT
 *	COUNT datagrams of REQ_LEN bytes on one connected socket, back to back.
 *   bench_connect udp-sink ADDR PORT COUNT IDLE_MS
 *	receive until COUNT datagrams came, or none came for IDLE_MS (ten
 *	times that before the first one: the sender may still be starting).
 *   bench_connect once ADDR PORT
 *	one connection; exit 0 when the exchange completed.
 *   bench_connect spawn EXE ADDR PORT COUNT PARALLEL
 *	run "EXE once ADDR PORT" COUNT times, PARALLEL at a time.
 *   bench_connect procstat PID
 *	CPU time, context switches and memory of a process (all its threads).
 *
 * Results are one line of KEY=VALUE words on stdout, for a script to read;
 * errors go to stderr quoting what was wrong.  Exit: 0, 1 failed, 2 usage.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bytes each way per TCP exchange, and the size of every datagram. */
#define REQ_LEN			32
/* A connection or a reply that takes longer than this is counted as failed. */
#define IO_TIMEOUT_MS		3000
#define MAX_PORTS		256
#define MAX_THREADS		256
#define MAX_SEQ			1000000
#define LISTEN_BACKLOG		4096
#define SERVER_EVENTS		256
/* A socket buffer large enough that the receiving end is not what drops. */
#define UDP_RCVBUF		(16 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: bench_connect serve ADDR PORT NPORTS [THREADS]\n"
		"       bench_connect seq ADDR PORT NPORTS COUNT [-l FILE]\n"
		"       bench_connect par ADDR PORT NPORTS THREADS (-d SECONDS | -n COUNT)\n"
		"       bench_connect udp ADDR PORT COUNT\n"
		"       bench_connect udp-sink ADDR PORT COUNT IDLE_MS\n"
		"       bench_connect once ADDR PORT\n"
		"       bench_connect spawn EXE ADDR PORT COUNT PARALLEL\n"
		"       bench_connect procstat PID\n");
	return 2;
}

/* A decimal number in [lo, hi], or exit with a message quoting @s. */
static unsigned long number(const char *what, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "bench_connect: bad %s \"%s\" (%lu..%lu)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static double seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0 && v < 3600)) {
		fprintf(stderr, "bench_connect: bad duration \"%s\" (seconds, 0..3600)\n", s);
		exit(2);
	}
	return v;
}

static struct sockaddr_storage target;
static socklen_t target_len;

/* ADDR (IPv4 or IPv6) and PORT into a socket address; exits on a bad one. */
static void set_addr(const char *addr, unsigned port, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		fprintf(stderr, "bench_connect: bad address \"%s\"\n", addr);
		exit(2);
	}
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static unsigned get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* ---- one TCP exchange -------------------------------------------------------- */

struct exchange {
	uint64_t start, connected, done;
	unsigned lport;
};

/*
 * Connect to @dst, send REQ_LEN bytes, read REQ_LEN back and the server's
 * close, close.  A blocking
 * connect with SO_SNDTIMEO gives up after IO_TIMEOUT_MS: a flow the firewall
 * holds for good must cost a bounded time, not the whole benchmark.
 * Returns 0 or -errno.
 */
static int exchange(const struct sockaddr_storage *dst, socklen_t len, struct exchange *x)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000,
			      .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000 };
	char buf[REQ_LEN];
	struct sockaddr_storage me;
	socklen_t melen = sizeof(me);
	size_t got = 0;
	int fd, ret = 0;

	x->start = now_ns();
	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)dst, len) == -1) {
		ret = -errno;
		goto out;
	}
	x->connected = now_ns();
	x->lport = getsockname(fd, (struct sockaddr *)&me, &melen) == 0 ? get_port(&me) : 0;
	memset(buf, 'q', sizeof(buf));
	if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) != (ssize_t)sizeof(buf)) {
		ret = errno ? -errno : -EIO;
		goto out;
	}
	while (got < sizeof(buf)) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);

		if (n <= 0) {
			ret = n == 0 ? -ECONNRESET : -errno;
			goto out;
		}
		got += (size_t)n;
	}
	/* Close after the server did: TIME_WAIT stays on the server's side, so
	 * the client namespace, where the firewall under test looks up
	 * sockets, holds the same few sockets in every round. */
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			break;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
	}
out:
	close(fd);
	x->done = now_ns();
	return ret;
}

/* ---- serve -------------------------------------------------------------------- */

struct server {
	struct sockaddr_storage addr;
	socklen_t len;
	unsigned port, nports;
};

/* epoll data: a listener is tagged with bit 63; a connection carries how many
 * request bytes it has read in bits 32..62. */
#define TAG_LISTEN	(1ULL << 63)

static void *serve_thread(void *arg)
{
	const struct server *s = arg;
	struct epoll_event evs[SERVER_EVENTS];
	int ep = epoll_create1(EPOLL_CLOEXEC), one = 1;

	if (ep == -1) {
		perror("bench_connect: epoll_create1");
		exit(1);
	}
	for (unsigned i = 0; i < s->nports; i++) {
		struct sockaddr_storage a = s->addr;
		struct epoll_event ev = { .events = EPOLLIN };
		int fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		set_port(&a, s->port + i);
		/* Each thread its own listener: the kernel spreads connections. */
		if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    bind(fd, (struct sockaddr *)&a, s->len) == -1 ||
		    listen(fd, LISTEN_BACKLOG) == -1) {
			fprintf(stderr, "bench_connect: listen on port %u: %s\n", s->port + i,
				strerror(errno));
			exit(1);
		}
		ev.data.u64 = TAG_LISTEN | (uint64_t)fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, SERVER_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			int fd = (int)(uint32_t)tag;

			if (tag & TAG_LISTEN) {
				int c;

				while ((c = accept4(fd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.u64 = (uint64_t)c };

					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			char buf[REQ_LEN];
			uint64_t have = (tag >> 32) & 0x7fffffff;
			ssize_t r = recv(fd, buf, sizeof(buf) - have, 0);

			if (r > 0 && have + (uint64_t)r < REQ_LEN) {
				struct epoll_event ev = { .events = EPOLLIN,
					.data.u64 = ((have + (uint64_t)r) << 32) | (uint32_t)fd };

				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				continue;
			}
			if (r == -1 && errno == EAGAIN)
				continue;
			if (r > 0) {
				/* A fresh socket's buffer takes REQ_LEN bytes at once;
				 * a client that went away only costs it its reply. */
				memset(buf, 'r', sizeof(buf));
				send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
			}
			close(fd); /* also leaves the epoll set */
		}
	}
	return NULL;
}

static int cmd_serve(int argc, char **argv)
{
	static struct server s;
	pthread_t t[MAX_THREADS];
	unsigned threads;

	if (argc != 5 && argc != 6)
		return usage();
	s.port = (unsigned)number("port", argv[3], 1, 65535);
	s.nports = (unsigned)number("port count", argv[4], 1, MAX_PORTS);
	if (s.port + s.nports - 1 > 65535) {
		fprintf(stderr, "bench_connect: ports %u+%u pass 65535\n", s.port, s.nports);
		return 2;
	}
	threads = argc == 6 ? (unsigned)number("threads", argv[5], 1, MAX_THREADS) : 2;
	set_addr(argv[2], s.port, &s.addr, &s.len);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, serve_thread, &s);
	printf("ready\n");
	fflush(stdout);
	serve_thread(&s);
	return 0;
}

/* ---- seq -------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, unsigned p)
{
	size_t i;

	if (!n)
		return 0;
	i = (n * p + 99) / 100;
	return (double)v[i ? i - 1 : 0] / 1000.0;
}

static int cmd_seq(int argc, char **argv)
{
	const char *logpath = NULL;
	unsigned port, nports, count, errors = 0, ok = 0;
	uint64_t *lat, t0, t1;
	FILE *log = NULL;
	int first_err = 0;

	if (argc != 6 && !(argc == 8 && !strcmp(argv[6], "-l")))
		return usage();
	port = (unsigned)number("port", argv[3], 1, 65535);
	nports = (unsigned)number("port count", argv[4], 1, MAX_PORTS);
	count = (unsigned)number("count", argv[5], 1, MAX_SEQ);
	if (argc == 8)
		logpath = argv[7];
	set_addr(argv[2], port, &target, &target_len);
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		return 1;
	if (logpath && !(log = fopen(logpath, "w"))) {
		fprintf(stderr, "bench_connect: cannot write \"%s\": %s\n", logpath, strerror(errno));
		return 1;
	}
	t0 = now_ns();
	for (unsigned i = 0; i < count; i++) {
		struct exchange x;
		int r;

		set_port(&target, port + i % nports);
		r = exchange(&target, target_len, &x);
		if (r) {
			if (!first_err)
				first_err = r;
			errors++;
			continue;
		}
		lat[ok++] = x.connected - x.start;
		if (log)
			fprintf(log, "%u %u %" PRIu64 " %" PRIu64 "\n", x.lport, port + i % nports,
				x.start, x.connected);
	}
	t1 = now_ns();
	if (log && fclose(log)) {
		fprintf(stderr, "bench_connect: writing \"%s\": %s\n", logpath, strerror(errno));
		return 1;
	}
	qsort(lat, ok, sizeof(*lat), cmp_u64);
	printf("ok=%u errors=%u rate=%.0f p50_us=%.1f p99_us=%.1f\n", ok, errors,
	       ok / ((double)(t1 - t0) / 1e9), pct_us(lat, ok, 50), pct_us(lat, ok, 99));
	if (errors)
		fprintf(stderr, "bench_connect: %u of %u connections failed, first: %s\n", errors,
			count, strerror(-first_err));
	free(lat);
	return ok ? 0 : 1;
}

/* ---- par -------------------------------------------------------------------------- */

struct par {
	unsigned port, nports, id;
	uint64_t deadline;	/* 0: use the shared budget */
	atomic_long *budget;	/* connections still to make */
	unsigned long ok, errors;
};

static void *par_thread(void *arg)
{
	struct par *p = arg;
	struct sockaddr_storage dst = target;

	for (unsigned i = p->id;; i++) {
		struct exchange x;

		if (p->deadline ? now_ns() >= p->deadline : atomic_fetch_sub(p->budget, 1) <= 0)
			break;
		set_port(&dst, p->port + i % p->nports);
		if (exchange(&dst, target_len, &x))
			p->errors++;
		else
			p->ok++;
	}
	return NULL;
}

static int cmd_par(int argc, char **argv)
{
	static struct par p[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	atomic_long budget = 0;
	unsigned port, nports, threads;
	unsigned long ok = 0, errors = 0;
	uint64_t t0, t1, deadline = 0;

	if (argc != 8)
		return usage();
	port = (unsigned)number("port", argv[3], 1, 65535);
	nports = (unsigned)number("port count", argv[4], 1, MAX_PORTS);
	threads = (unsigned)number("threads", argv[5], 1, MAX_THREADS);
	set_addr(argv[2], port, &target, &target_len);
	t0 = now_ns();
	if (!strcmp(argv[6], "-d"))
		deadline = t0 + (uint64_t)(seconds(argv[7]) * 1e9);
	else if (!strcmp(argv[6], "-n"))
		budget = (long)number("count", argv[7], 1, 100000000);
	else
		return usage();
	for (unsigned i = 0; i < threads; i++) {
		p[i] = (struct par){ .port = port, .nports = nports, .id = i,
				     .deadline = deadline, .budget = &budget };
		if (pthread_create(&t[i], NULL, par_thread, &p[i])) {
			fprintf(stderr, "bench_connect: cannot start thread %u\n", i);
			return 1;
		}
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		ok += p[i].ok;
		errors += p[i].errors;
	}
	t1 = now_ns();
	printf("ok=%lu errors=%lu rate=%.0f\n", ok, errors, ok / ((double)(t1 - t0) / 1e9));
	return ok ? 0 : 1;
}

/* ---- udp --------------------------------------------------------------------------- */

static int cmd_udp(int argc, char **argv)
{
	char buf[REQ_LEN] = { 0 };
	unsigned long count, sent = 0, errors = 0;
	uint64_t t0, t1;
	int fd, first_err = 0;

	if (argc != 5)
		return usage();
	set_addr(argv[2], (unsigned)number("port", argv[3], 1, 65535), &target, &target_len);
	count = number("count", argv[4], 1, 100000000);
	fd = socket(target.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&target, target_len) == -1) {
		perror("bench_connect: udp socket");
		return 1;
	}
	t0 = now_ns();
	for (unsigned long i = 0; i < count; i++) {
		memcpy(buf, &i, sizeof(i));
		if (send(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf)) {
			sent++;
		} else {
			/* EPERM: a hook dropped it (a full queue); ECONNREFUSED: an
			 * ICMP error from an earlier one.  Either way: go on. */
			if (!first_err)
				first_err = errno;
			errors++;
		}
	}
	t1 = now_ns();
	close(fd);
	printf("sent=%lu errors=%lu send_rate=%.0f\n", sent, errors,
	       sent / ((double)(t1 - t0) / 1e9));
	if (errors)
		fprintf(stderr, "bench_connect: %lu sends failed, first: %s\n", errors,
			strerror(first_err));
	return 0;
}

static int cmd_udp_sink(int argc, char **argv)
{
	char buf[2048];
	unsigned long count, got = 0;
	unsigned idle_ms;
	uint64_t first = 0, last = 0;
	int fd, size = UDP_RCVBUF;
	struct sockaddr_storage me;
	socklen_t len;

	if (argc != 6)
		return usage();
	set_addr(argv[2], (unsigned)number("port", argv[3], 1, 65535), &me, &len);
	count = number("count", argv[4], 1, 100000000);
	idle_ms = (unsigned)number("idle", argv[5], 1, 600000);
	fd = socket(me.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return perror("bench_connect: socket"), 1;
	/* FORCE: past rmem_max, as root; plain SO_RCVBUF as a fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&me, len) == -1) {
		fprintf(stderr, "bench_connect: bind %s port %s: %s\n", argv[2], argv[3],
			strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (got < count) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		/* Before the first datagram the sender may still be starting. */
		int r = poll(&pfd, 1, got ? (int)idle_ms : (int)idle_ms * 10);

		if (r <= 0)
			break;
		while (got < count && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
			last = now_ns();
			if (!got++)
				first = last;
		}
	}
	printf("received=%lu recv_rate=%.0f\n", got,
	       got > 1 && last > first ? (got - 1) / ((double)(last - first) / 1e9) : 0.0);
	return 0;
}

/* ---- once / spawn -------------------------------------------------------------------- */

static int cmd_once(int argc, char **argv)
{
	struct exchange x;
	int r;

	if (argc != 4)
		return usage();
	set_addr(argv[2], (unsigned)number("port", argv[3], 1, 65535), &target, &target_len);
	r = exchange(&target, target_len, &x);
	if (r)
		fprintf(stderr, "bench_connect once: %s port %s: %s\n", argv[2], argv[3],
			strerror(-r));
	return r ? 1 : 0;
}

static int cmd_spawn(int argc, char **argv)
{
	unsigned count, parallel, running = 0, started = 0, ok = 0, failed = 0;
	uint64_t t0;

	if (argc != 7)
		return usage();
	count = (unsigned)number("count", argv[5], 1, 100000);
	parallel = (unsigned)number("parallel", argv[6], 1, 1024);
	t0 = now_ns();
	while (started < count || running) {
		int status;

		if (started < count && running < parallel) {
			pid_t pid = fork();

			if (pid == -1) {
				perror("bench_connect: fork");
				return 1;
			}
			if (pid == 0) {
				execl(argv[2], argv[2], "once", argv[3], argv[4], (char *)NULL);
				fprintf(stderr, "bench_connect: cannot run \"%s\": %s\n", argv[2],
					strerror(errno));
				_exit(127);
			}
			started++;
			running++;
			continue;
		}
		if (wait(&status) == -1)
			break;
		running--;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			failed++;
	}
	printf("ok=%u failed=%u elapsed_ms=%.0f\n", ok, failed, (now_ns() - t0) / 1e6);
	return 0;
}

/* ---- procstat ------------------------------------------------------------------------- */

/* "Key:   123 kB" -> 123 from /proc/PID/status-like text; -1 if absent. */
static long status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return 0;
}

/*
 * CPU time from the process's CPU clock: every thread, dead ones too, in
 * nanoseconds (the ticks of /proc/PID/stat are 10 ms here: too coarse for an
 * idle daemon).  Context switches are per thread in the kernel, so they are
 * summed over /proc/PID/task; a thread that exited takes its count with it.
 */
static int cmd_procstat(int argc, char **argv)
{
	char path[64], text[4096], *p;
	unsigned long pid;
	clockid_t clk;
	struct timespec ts;
	long vcsw = 0, ivcsw = 0, threads = 0;
	unsigned long long cutime = 0, cstime = 0;
	DIR *dir;
	struct dirent *de;

	if (argc != 3)
		return usage();
	pid = number("pid", argv[2], 1, INT_MAX);
	if (clock_getcpuclockid((pid_t)pid, &clk) || clock_gettime(clk, &ts)) {
		fprintf(stderr, "bench_connect: no CPU clock for pid %lu\n", pid);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%lu/task", pid);
	dir = opendir(path);
	if (!dir) {
		fprintf(stderr, "bench_connect: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((de = readdir(dir))) {
		char tpath[300];

		if (de->d_name[0] == '.')
			continue;
		snprintf(tpath, sizeof(tpath), "/proc/%lu/task/%s/status", pid, de->d_name);
		if (read_text(tpath, text, sizeof(text)))
			continue;
		threads++;
		vcsw += status_field(text, "\nvoluntary_ctxt_switches:");
		ivcsw += status_field(text, "\nnonvoluntary_ctxt_switches:");
	}
	closedir(dir);
	/* Children reaped so far (OpenSnitch runs iptables): fields 16, 17. */
	snprintf(path, sizeof(path), "/proc/%lu/stat", pid);
	if (read_text(path, text, sizeof(text)) == 0 && (p = strrchr(text, ')'))) {
		/* after ") S": fields 3.. ; cutime is field 16 */
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %llu %llu",
			   &cutime, &cstime) != 2)
			cutime = cstime = 0;
	}
	snprintf(path, sizeof(path), "/proc/%lu/status", pid);
	if (read_text(path, text, sizeof(text))) {
		fprintf(stderr, "bench_connect: %s: unreadable\n", path);
		return 1;
	}
	printf("cpu_ns=%" PRIu64 " child_cpu_ms=%llu vcsw=%ld ivcsw=%ld threads=%ld "
	       "hwm_kb=%ld rss_kb=%ld\n",
	       (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec,
	       (cutime + cstime) * 1000ULL / (unsigned long long)sysconf(_SC_CLK_TCK), vcsw,
	       ivcsw, threads, status_field(text, "\nVmHWM:"), status_field(text, "\nVmRSS:"));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", cmd_serve },	  { "seq", cmd_seq },	{ "par", cmd_par },
		{ "udp", cmd_udp },	  { "udp-sink", cmd_udp_sink },
		{ "once", cmd_once },	  { "spawn", cmd_spawn },
		{ "procstat", cmd_procstat },
	};

	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc, argv);
	fprintf(stderr, "bench_connect: unknown command \"%s\"\n", argv[1]);
	return usage();
}
