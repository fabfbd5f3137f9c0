/*
 * fp_bench — what a rule-allowed connection costs through the in-kernel fast
 * path, against no firewall at all, in the same run.
 *
 *   fp_bench [-n CONNS] [-r ROUNDS] [-w WARMUP] [-Q] [-E]
 *
 * Builds, and removes at the end, three pairs of network namespaces joined
 * by veth (192.0.2.1 -> 192.0.2.2, documentation addresses, reachable only
 * inside each pair) and a cgroup v2 it moves itself into:
 *   none      no firewall in the client namespace
 *   fastpath  alegate's chains (lib/linux/fw, iptables) and the eBPF fast
 *             path (lib/linux/fastpath) with one rule allowing this program
 *             to the server: every connection is decided in the kernel
 *   nfqueue   alegate's chains and an NFQUEUE listener that allows every new
 *             flow at once (NF_REPEAT, mark | AUTH): today's path at its
 *             floor, for comparison (-Q leaves it out)
 * With -E the fastpath mode runs without alegate's chains: the eBPF
 * programs alone, to tell their cost from that of the chains and of the
 * connection tracking the chains turn on.
 * Each connection, sequential: socket, connect, send 32 bytes, read the
 * 32-byte reply, wait for the server's close, close (so TIME_WAIT stays on
 * the server's side).
 * ROUNDS rounds (default 40) of CONNS connections (default 500) per mode,
 * interleaved so that drift and other load hit every mode alike, after
 * WARMUP (default 500) unmeasured ones.  Prints a table, then one line of
 * KEY=VALUE words: fp_rate_overhead_pct and fp_median_overhead_pct (pooled
 * over all rounds; target: at most 15), and fp_paired_overhead_pct, the
 * median over rounds of each round's fast-path median against the
 * no-firewall median of the same round: the figure least moved by a busy
 * machine.
 * Needs root.  Exit: 0 done, 1 failed (why on stderr), 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "linux/fastpath.h"
#include "linux/fw.h"
#include "linux/nfq.h"

#define REQ_LEN		32
#define PORT		5555
#define CLIENT_ADDR	"192.0.2.1"
#define SERVER_ADDR	"192.0.2.2"
#define IO_TIMEOUT_MS	3000

enum { M_NONE, M_FASTPATH, M_NFQUEUE, NMODES };
static const char *const mode_name[NMODES] = { "none", "fastpath", "nfqueue" };

#define MAX_ROUNDS	1000

struct mode {
	char cns[32], sns[32];
	int cfd, sfd;		/* netns file descriptors */
	pthread_t server;
	double *lat_us;		/* every measured connection */
	size_t nlat;
	double round_median[MAX_ROUNDS];
	unsigned long failed;
	double seconds;		/* measured wall time */
};

static struct mode modes[NMODES];
static int nmodes = NMODES;
static atomic_bool stop;
static bool ebpf_only;
static char cgdir[PATH_MAX];
static struct ag_fp *fp;
static struct ag_nfq *nfq;
static pthread_t verdicter;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fprintf(stderr, "fp_bench: \"%s\" failed (%d)\n", cmd, r);
	return r;
}

static int enter(int nsfd)
{
	if (setns(nsfd, CLONE_NEWNET) == -1) {
		perror("fp_bench: setns");
		return -1;
	}
	return 0;
}

/* ---- the server side ------------------------------------------------------------------ */

static void *server(void *arg)
{
	struct mode *m = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int one = 1, lfd;

	if (enter(m->sfd))
		return NULL;
	inet_pton(AF_INET, SERVER_ADDR, &a.sin_addr);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(lfd, 4096) == -1) {
		perror("fp_bench: server");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		char buf[REQ_LEN];
		int c;

		if (poll(&p, 1, 200) != 1)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (recv(c, buf, sizeof(buf), MSG_WAITALL) == REQ_LEN)
			(void)!send(c, buf, sizeof(buf), MSG_NOSIGNAL);
		close(c);
	}
	close(lfd);
	return NULL;
}

/* ---- the client side ------------------------------------------------------------------ */

static bool one_connection(const struct sockaddr_in *a)
{
	char buf[REQ_LEN] = { 0 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	bool ok;

	if (fd == -1)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Then wait for the server's FIN: a client that closed first would
	 * keep the TIME_WAIT, and after some 30,000 of them every connect()
	 * spends its time looking for a free port (__inet_hash_connect). */
	ok = connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0 &&
	     send(fd, buf, sizeof(buf), MSG_NOSIGNAL) == REQ_LEN &&
	     recv(fd, buf, sizeof(buf), MSG_WAITALL) == REQ_LEN &&
	     recv(fd, buf, 1, 0) == 0;
	close(fd);
	return ok;
}

struct batch {
	struct mode *m;
	unsigned n;
	bool measure;
};

static void *client(void *arg)
{
	struct batch *b = arg;
	struct mode *m = b->m;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	double t0;

	if (enter(m->cfd))
		return NULL;
	inet_pton(AF_INET, SERVER_ADDR, &a.sin_addr);
	t0 = now_us();
	for (unsigned i = 0; i < b->n; i++) {
		double s = now_us();
		bool ok = one_connection(&a);

		if (!b->measure)
			continue;
		if (!ok)
			m->failed++;
		else
			m->lat_us[m->nlat++] = now_us() - s;
	}
	if (b->measure)
		m->seconds += (now_us() - t0) / 1e6;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_of(const double *v, size_t n)
{
	double *c = malloc((n ? n : 1) * sizeof(*c));
	double r;

	if (!c || !n) {
		free(c);
		return 0;
	}
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	r = c[n / 2];
	free(c);
	return r;
}

/* One batch; returns the median latency of what it measured. */
static double batch(struct mode *m, unsigned n, bool measure)
{
	struct batch b = { m, n, measure };
	size_t before = m->nlat;
	pthread_t t;

	/* A fresh thread each time: setns() is per thread. */
	pthread_create(&t, NULL, client, &b);
	pthread_join(t, NULL);
	return median_of(m->lat_us + before, m->nlat - before);
}

/* ---- NFQUEUE: allow everything at once ------------------------------------------------- */

static void on_packet(const struct ag_nfq_packet *p, void *arg)
{
	ag_nfq_verdict(nfq, p->id, AG_NFQ_REPEAT, (long long)(p->mark | AG_FW_MARK_AUTH));
}

static void *verdicts(void *arg)
{
	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = ag_nfq_fd(nfq), .events = POLLIN };

		if (poll(&p, 1, 200) != 1)
			continue;
		ag_nfq_receive(nfq, on_packet, NULL, 0);
		ag_nfq_flush(nfq);
	}
	return NULL;
}

/* ---- set-up, in threads that enter the client namespaces -------------------------------- */

struct setup {
	struct mode *m;
	int which;
	int ret;
};

static void *setup_client(void *arg)
{
	struct setup *s = arg;
	struct ag_fw_config fw = { .queue_base = 0, .fail_mode = AG_FW_FAIL_CLOSED,
				   .intercept_inbound = true, .backend = AG_FW_BACKEND_IPTABLES };
	char err[AG_FW_ERR_MAX];

	s->ret = -1;
	if (enter(s->m->cfd))
		return NULL;
	if (!(ebpf_only && s->which == M_FASTPATH) && ag_fw_install(&fw, NULL, err, sizeof(err))) {
		fprintf(stderr, "fp_bench: firewall: %s\n", err);
		return NULL;
	}
	if (s->which == M_FASTPATH) {
		char exe[PATH_MAX], ferr[AG_FP_ERR_MAX];
		struct ag_fp_prefix srv = { .family = 4, .plen = 32 };
		struct ag_fp_rule r = { .has = AG_FP_HAS_APP | AG_FP_HAS_REMOTE | AG_FP_HAS_PORT |
					       AG_FP_HAS_PROTO,
					.evaluable = true, .verdict = AG_FP_ALLOW, .app = exe,
					.remote = &srv, .nremote = 1, .port_lo = PORT,
					.port_hi = PORT, .proto = IPPROTO_TCP };
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n <= 0)
			return NULL;
		exe[n] = 0;
		inet_pton(AF_INET, SERVER_ADDR, srv.addr.b);
		if (ag_fp_exe_resolve(exe, &r.exe))
			fprintf(stderr, "fp_bench: %s has no identity: its flows will fall through\n",
				exe);
		fp = ag_fp_open(cgdir, ferr, sizeof(ferr));
		if (!fp || ag_fp_update(fp, &r, 1, ferr, sizeof(ferr))) {
			fprintf(stderr, "fp_bench: fast path: %s\n", ferr);
			return NULL;
		}
	} else {
		struct ag_nfq_config qc = { .queue_num = AG_FW_Q_CONNECT };

		nfq = ag_nfq_open(&qc);
		if (!nfq) {
			perror("fp_bench: nfqueue");
			return NULL;
		}
		pthread_create(&verdicter, NULL, verdicts, NULL);
	}
	s->ret = 0;
	return NULL;
}

static int cgroup_make(void)
{
	const char *roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char procs[PATH_MAX + 16];
	struct statfs sf;
	FILE *f;

	for (int i = 0; i < 2; i++) {
		if (statfs(roots[i], &sf) || (unsigned long)sf.f_type != 0x63677270)
			continue;
		snprintf(cgdir, sizeof(cgdir), "%s/fpbench%d", roots[i], (int)getpid());
		if (mkdir(cgdir, 0755) == -1) {
			perror("fp_bench: cgroup");
			return -1;
		}
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgdir);
		f = fopen(procs, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			perror("fp_bench: joining the cgroup");
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "fp_bench: no cgroup v2 hierarchy\n");
	return -1;
}

static void cgroup_remove(void)
{
	char procs[PATH_MAX + 16];
	FILE *f;

	if (!cgdir[0])
		return;
	/* Back to the parent, then the directory can go. */
	snprintf(procs, sizeof(procs), "%s/../cgroup.procs", cgdir);
	f = fopen(procs, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	rmdir(cgdir);
}

static int ns_make(struct mode *m, int i)
{
	char path[PATH_MAX];
	int pid = (int)getpid();

	snprintf(m->cns, sizeof(m->cns), "fpb%dc%d", pid, i);
	snprintf(m->sns, sizeof(m->sns), "fpb%ds%d", pid, i);
	if (run("ip netns add %s && ip netns add %s", m->cns, m->sns) ||
	    run("ip -n %s link set lo up && ip -n %s link set lo up", m->cns, m->sns) ||
	    run("ip link add fpb%dv%d netns %s type veth peer name fpb%dw%d netns %s", pid, i,
		m->cns, pid, i, m->sns) ||
	    run("ip -n %s addr add %s/24 dev fpb%dv%d && ip -n %s link set fpb%dv%d up", m->cns,
		CLIENT_ADDR, pid, i, m->cns, pid, i) ||
	    run("ip -n %s addr add %s/24 dev fpb%dw%d && ip -n %s link set fpb%dw%d up", m->sns,
		SERVER_ADDR, pid, i, m->sns, pid, i))
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%.*s", (int)sizeof(m->cns), m->cns);
	m->cfd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%.*s", (int)sizeof(m->sns), m->sns);
	m->sfd = open(path, O_RDONLY | O_CLOEXEC);
	return m->cfd < 0 || m->sfd < 0 ? -1 : 0;
}

static void ns_remove(struct mode *m)
{
	if (m->cns[0])
		run("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null; true", m->cns, m->sns);
}

static double pct(const double *v, size_t n, double p)
{
	return n ? v[(size_t)(p * (double)(n - 1))] : 0;
}

int main(int argc, char **argv)
{
	unsigned conns = 500, rounds = 40, warmup = 500;
	struct ag_fp_stats fst;
	int opt, ret = 1;

	while ((opt = getopt(argc, argv, "n:r:w:QE")) != -1) {
		switch (opt) {
		case 'n': conns = (unsigned)atoi(optarg); break;
		case 'r': rounds = (unsigned)atoi(optarg); break;
		case 'w': warmup = (unsigned)atoi(optarg); break;
		case 'Q': nmodes = M_NFQUEUE; break;
		case 'E': ebpf_only = true; break;
		default:
			fprintf(stderr, "usage: fp_bench [-n CONNS] [-r ROUNDS] [-w WARMUP] [-Q] [-E]\n");
			return 2;
		}
	}
	if (!conns || !rounds || rounds > MAX_ROUNDS) {
		fprintf(stderr, "fp_bench: -n must be at least 1, -r 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	if (cgroup_make())
		goto out;
	for (int i = 0; i < nmodes; i++) {
		modes[i].cfd = modes[i].sfd = -1;
		if (ns_make(&modes[i], i))
			goto out;
		modes[i].lat_us = calloc((size_t)conns * rounds, sizeof(double));
		if (!modes[i].lat_us)
			goto out;
		pthread_create(&modes[i].server, NULL, server, &modes[i]);
	}
	for (int i = M_FASTPATH; i < nmodes; i++) {
		struct setup s = { &modes[i], i, -1 };
		pthread_t t;

		pthread_create(&t, NULL, setup_client, &s);
		pthread_join(t, NULL);
		if (s.ret)
			goto out;
	}
	usleep(100000);
	for (int i = 0; i < nmodes; i++)
		batch(&modes[i], warmup, false);
	for (unsigned r = 0; r < rounds; r++)
		for (int i = 0; i < nmodes; i++)
			modes[i].round_median[r] = batch(&modes[i], conns, true);

	printf("fp_bench: %u rounds x %u sequential TCP connections per mode over veth "
	       "(connect, %d bytes each way, close)\n", rounds, conns, REQ_LEN);
	printf("%-10s %10s %12s %10s %10s %8s\n", "mode", "conn/s", "median_us", "p90_us",
	       "p99_us", "failed");
	double rate[NMODES], med[NMODES];

	for (int i = 0; i < nmodes; i++) {
		struct mode *m = &modes[i];

		qsort(m->lat_us, m->nlat, sizeof(double), cmp_double);
		rate[i] = m->seconds > 0 ? (double)m->nlat / m->seconds : 0;
		med[i] = pct(m->lat_us, m->nlat, 0.5);
		printf("%-10s %10.0f %12.1f %10.1f %10.1f %8lu\n",
		       i == M_FASTPATH && ebpf_only ? "ebpf-only" : mode_name[i], rate[i], med[i],
		       pct(m->lat_us, m->nlat, 0.9), pct(m->lat_us, m->nlat, 0.99), m->failed);
	}
	if (fp && !ag_fp_stats(fp, &fst))
		printf("fast path: allowed %llu, denied %llu, fell through %llu\n",
		       (unsigned long long)fst.allowed, (unsigned long long)fst.denied,
		       (unsigned long long)fst.passed);
	if (nfq) {
		struct ag_nfq_stats qs;

		ag_nfq_stats(nfq, &qs);
		printf("nfqueue: %llu packets reached user space\n", (unsigned long long)qs.packets);
	}
	double paired[MAX_ROUNDS];

	for (unsigned r = 0; r < rounds; r++)
		paired[r] = modes[M_NONE].round_median[r] > 0
				    ? modes[M_FASTPATH].round_median[r] / modes[M_NONE].round_median[r]
				    : 0;
	printf("fp_rate_overhead_pct=%.1f fp_median_overhead_pct=%.1f fp_paired_overhead_pct=%.1f "
	       "target_pct=15",
	       rate[M_FASTPATH] > 0 ? (rate[M_NONE] / rate[M_FASTPATH] - 1) * 100 : -1,
	       med[M_NONE] > 0 ? (med[M_FASTPATH] / med[M_NONE] - 1) * 100 : -1,
	       (median_of(paired, rounds) - 1) * 100);
	if (nmodes > M_NFQUEUE)
		printf(" nfq_rate_overhead_pct=%.1f nfq_median_overhead_pct=%.1f",
		       rate[M_NFQUEUE] > 0 ? (rate[M_NONE] / rate[M_NFQUEUE] - 1) * 100 : -1,
		       med[M_NONE] > 0 ? (med[M_NFQUEUE] / med[M_NONE] - 1) * 100 : -1);
	printf("\n");
	ret = 0;
	for (int i = 0; i < nmodes; i++)
		if (modes[i].failed)
			ret = 1;
out:
	atomic_store(&stop, true);
	for (int i = 0; i < nmodes; i++)
		if (modes[i].server)
			pthread_join(modes[i].server, NULL);
	if (nfq) {
		pthread_join(verdicter, NULL);
		ag_nfq_close(nfq);
	}
	ag_fp_close(fp);
	for (int i = 0; i < nmodes; i++) {
		ns_remove(&modes[i]);
		if (modes[i].cfd >= 0)
			close(modes[i].cfd);
		if (modes[i].sfd >= 0)
			close(modes[i].sfd);
		free(modes[i].lat_us);
	}
	cgroup_remove();
	return ret;
}
