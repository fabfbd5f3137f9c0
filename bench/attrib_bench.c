/*
 * attrib_bench — how long ag_attrib_lookup() takes for a new connection,
 * with and without the eBPF fast path's owner hook.
 *
 *   attrib_bench [-n CONNECTIONS] [-f EXTRA_FDS] [-k KEEP] [-s] [-H [-c CGROUP]]
 *
 * Runs as root.  The process cache is opened first (the proc connector
 * lives in the initial network namespace); the bench then moves into a new
 * network namespace of its own and uses only its loopback.  A child process
 * (this program, exec'd) holds EXTRA_FDS open files, like an application,
 * and opens one new TCP connection per round, keeping its last KEEP ones
 * (default 1: each new one replaces the last); the parent attributes it.
 *
 *   -s  short-lived processes: every round is a new process (fork, exec)
 *       that makes one connection and exits once it has been attributed,
 *       as a program blocked in connect() while the daemon holds its SYN.
 *       The inode scan cannot guess where a new process's socket is.
 *   -H  the owner hook too: the fast path's programs are attached to a
 *       cgroup (CGROUP, or a new one under the cgroup v2 root, removed at
 *       the end) that the children join, and rounds alternate between an
 *       attribution handle with ag_attrib_set_owner_hook(ag_fp_attrib_owner)
 *       and one without (both without taking fds), in the same run:
 *       CONNECTIONS rounds each.
 * Without -H, rounds alternate between the daemon's attribution (which
 * takes the child's likely fd with pidfd_getfd first) and one with
 * ag_attrib_set_taking() off (sock_diag, then the inode scan).
 *
 * Printed: median, p90, p99 and max of
 *   sock_diag    the exact socket lookup alone,
 *   attrib       the whole attribution of the new connection, as the
 *                daemon makes it (without -H),
 *   attrib/scan  the same without taking fds: sock_diag, then the inode scan,
 *   attrib+hook  the same through the owner hook (-H),
 *   fp_owner     ag_fp_socket_owner() alone, the hook's map lookup (-H),
 *   repeat       the same flow again, sock_diag and the inode cache.
 * Every attribution must name the child, and with -H every hooked one must
 * have been named by the hook and every other one by the scan, or the bench
 * fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/attrib.h"
#include "linux/fastpath.h"

#define PORT 7777
#define WARMUP 20
#define CGROUP2_MAGIC 0x63677270

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What atexit() undoes: the long-lived child, and the cgroup we made. */
static pid_t cleanup_child = -1;
static char made_cgroup[256];

static void cleanup(void)
{
	if (cleanup_child > 0) {
		kill(cleanup_child, SIGKILL);
		waitpid(cleanup_child, NULL, 0);
		cleanup_child = -1;
	}
	/* An exited task leaves its cgroup a moment after it is reaped. */
	for (int i = 0; made_cgroup[0] && i < 100; i++) {
		if (rmdir(made_cgroup) == 0 || errno != EBUSY)
			break;
		usleep(10000);
	}
	made_cgroup[0] = 0;
}

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "attrib_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("attrib_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, unsigned n)
{
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%-12s median %7.1f us   p90 %7.1f us   p99 %7.1f us   "
	       "max %8.1f us\n", name, v[n / 2] / 1000.0,
	       v[n * 90 / 100] / 1000.0, v[n * 99 / 100] / 1000.0,
	       v[n - 1] / 1000.0);
}

static void open_extra(int extra_fds)
{
	for (int i = 0; i < extra_fds; i++)
		if (open("/dev/null", O_RDONLY) == -1)
			die("open /dev/null");
}

static int connect_loopback(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("child connect");
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);

	if (getsockname(fd, (struct sockaddr *)&me, &ml) == -1)
		die("getsockname");
	return ntohs(me.sin_port);
}

/*
 * The long-lived child: on each byte from fd 3, a new connection; its port
 * to fd 4.  It keeps the last @keep connections open and closes the oldest,
 * as a program with a connection pool does.
 */
static int child_main(int extra_fds, int keep)
{
	int open_fds[64], head = 0;
	char c;

	if (keep < 1 || keep > 64)
		keep = 1;
	for (int i = 0; i < keep; i++)
		open_fds[i] = -1;
	open_extra(extra_fds);
	while (read(3, &c, 1) == 1) {
		int fd = connect_loopback();
		uint16_t port;

		if (open_fds[head] != -1)
			close(open_fds[head]);
		open_fds[head] = fd;
		head = (head + 1) % keep;
		port = local_port(fd);
		if (write(4, &port, sizeof(port)) != sizeof(port))
			die("child write");
	}
	return 0;
}

/* A short-lived child: one connection, its port to fd 4, exit when fd 3
 * says so (or closes). */
static int once_main(int extra_fds)
{
	uint16_t port;
	int fd;
	char c;

	open_extra(extra_fds);
	fd = connect_loopback();
	port = local_port(fd);
	if (write(4, &port, sizeof(port)) != sizeof(port))
		die("child write");
	(void)!read(3, &c, 1);
	close(fd);
	return 0;
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (fd == -1 || ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
		die("SIOCSIFFLAGS lo");
	close(fd);
}

static bool is_cgroup2(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && (unsigned long)s.f_type == CGROUP2_MAGIC;
}

/* A cgroup of our own under the v2 root, for the children only. */
static void make_cgroup(char *path, size_t len)
{
	const char *root = is_cgroup2(AG_FP_CGROUP_DEFAULT) ? AG_FP_CGROUP_DEFAULT
			   : is_cgroup2(AG_FP_CGROUP_HYBRID) ? AG_FP_CGROUP_HYBRID : NULL;

	if (!root)
		fail("no cgroup v2 hierarchy at %s or %s", AG_FP_CGROUP_DEFAULT,
		     AG_FP_CGROUP_HYBRID);
	snprintf(path, len, "%s/attrib_bench.%d", root, (int)getpid());
	if (mkdir(path, 0755) == -1)
		die(path);
	snprintf(made_cgroup, sizeof(made_cgroup), "%s", path);
}

/*
 * Start this program again as a child with fds 3 (to read) and 4 (to
 * write), in @cgroup when given.  *to and *from get the parent's ends.
 */
static pid_t spawn(const char *cgroup, char *const argv[], int *to, int *from)
{
	int to_child[2], from_child[2];
	pid_t pid;

	if (pipe2(to_child, O_CLOEXEC) == -1 || pipe2(from_child, O_CLOEXEC) == -1)
		die("pipe");
	pid = fork();
	if (pid == -1)
		die("fork");
	if (pid == 0) {
		if (cgroup) {
			char procs[300], me[16];
			int fd;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
			snprintf(me, sizeof(me), "%d", (int)getpid());
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd == -1 || write(fd, me, strlen(me)) == -1)
				die(procs);
			close(fd);
		}
		/* Only these two ends cross the exec, as fds 3 and 4. */
		if (to_child[0] == 4 || from_child[1] == 3)
			fail("unexpected pipe fds");
		if (dup2(to_child[0], 3) == -1 || dup2(from_child[1], 4) == -1)
			die("dup2");
		fcntl(3, F_SETFD, 0);
		fcntl(4, F_SETFD, 0);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	*to = to_child[1];
	*from = from_child[0];
	return pid;
}

struct samples {
	uint64_t *v;
	unsigned n;
};

static void add(struct samples *s, uint64_t ns)
{
	s->v[s->n++] = ns;
}

int main(int argc, char **argv)
{
	unsigned n = 2000, extra = 32, keep = 1;
	bool hook = false, shortlived = false;
	const char *cgroup = NULL;
	char cgbuf[256], err[AG_FP_ERR_MAX], arg_extra[16], arg_keep[16];
	char name[] = "attrib_bench", opt_child[] = "--child", opt_once[] = "--once";
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_attrib *a_scan, *a_hook = NULL, *a_take = NULL;
	struct ag_fp *fp = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct samples s_sd = { 0 }, s_scan = { 0 }, s_hook = { 0 }, s_owner = { 0 },
		       s_rep = { 0 }, s_take = { 0 };
	struct ag_attrib_stats ast, hst;
	struct ag_proc_stats pst;
	int lfd, one = 1, opt, to = -1, from = -1;
	unsigned rounds;
	pid_t child = -1;

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "--once") == 0)
		return once_main(atoi(argv[2]));
	while ((opt = getopt(argc, argv, "n:f:k:sHc:")) != -1) {
		if (opt == 'n')
			n = (unsigned)atoi(optarg);
		else if (opt == 'f')
			extra = (unsigned)atoi(optarg);
		else if (opt == 'k')
			keep = (unsigned)atoi(optarg);
		else if (opt == 's')
			shortlived = true;
		else if (opt == 'H')
			hook = true;
		else if (opt == 'c')
			cgroup = optarg;
		else
			return 2;
	}
	if (n < 10)
		n = 10;
	rounds = 2 * n;
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(cleanup);

	proc = ag_proc_open(NULL);
	if (!proc)
		die("ag_proc_open");
	printf("# %s\n", ag_proc_mode(proc));
	if (unshare(CLONE_NEWNET) == -1)
		die("unshare(CLONE_NEWNET) (run as root)");
	loopback_up();
	sd = ag_sockdiag_open();
	a_scan = sd ? ag_attrib_new(sd, proc) : NULL;
	if (!a_scan)
		die("sock_diag");
	ag_attrib_set_taking(a_scan, false);
	if (hook) {
		if (!cgroup) {
			make_cgroup(cgbuf, sizeof(cgbuf));
			cgroup = cgbuf;
		}
		/* In the new namespace: its flows are the ones the hooks see. */
		fp = ag_fp_open(cgroup, err, sizeof(err));
		if (!fp)
			fail("fast path: %s", err);
		/* Loopback is all this namespace has.  No rules: every flow
		 * falls through, as one that reaches the daemon does. */
		ag_fp_set_loopback(fp, true);
		if (ag_fp_update(fp, NULL, 0, err, sizeof(err)))
			fail("fast path: %s", err);
		a_hook = ag_attrib_new(sd, proc);
		if (!a_hook)
			die("ag_attrib_new");
		ag_attrib_set_owner_hook(a_hook, ag_fp_attrib_owner, fp);
		ag_attrib_set_taking(a_hook, false);
	} else {
		a_take = ag_attrib_new(sd, proc);
		if (!a_take)
			die("ag_attrib_new");
	}

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(lfd, 128) == -1)
		die("listen");

	snprintf(arg_extra, sizeof(arg_extra), "%u", extra);
	snprintf(arg_keep, sizeof(arg_keep), "%u", keep);
	if (!shortlived) {
		char *args[] = { name, opt_child, arg_extra, arg_keep, NULL };

		child = spawn(cgroup, args, &to, &from);
		cleanup_child = child;
	}

	s_sd.v = calloc(rounds, sizeof(uint64_t));
	s_scan.v = calloc(rounds, sizeof(uint64_t));
	s_hook.v = calloc(rounds, sizeof(uint64_t));
	s_owner.v = calloc(rounds, sizeof(uint64_t));
	s_rep.v = calloc(rounds, sizeof(uint64_t));
	s_take.v = calloc(rounds, sizeof(uint64_t));
	if (!s_sd.v || !s_scan.v || !s_hook.v || !s_owner.v || !s_rep.v || !s_take.v)
		die("calloc");

	/* Warm-up rounds: the child's exec is read, its fds seen once.  Even
	 * rounds go through the hook (-H) or take the fd, odd ones do
	 * neither, so that load from elsewhere falls on both alike. */
	for (unsigned i = 0; i < rounds + WARMUP; i++) {
		struct ag_tuple t = { .ip_version = 4, .protocol = IPPROTO_TCP, .dport = PORT };
		bool hooked = hook && i % 2 == 0, taking = !hook && i % 2 == 0;
		bool timed = i >= WARMUP;
		struct ag_attrib *a = hooked ? a_hook : taking ? a_take : a_scan;
		struct ag_attrib_result res;
		struct ag_sock_info si;
		uint16_t port;
		uint64_t t0, t1, t2, t3;
		int c;

		if (shortlived) {
			char *args[] = { name, opt_once, arg_extra, NULL };

			child = spawn(cgroup, args, &to, &from);
			cleanup_child = child;
		} else if (write(to, "c", 1) != 1) {
			die("talking to the child");
		}
		if (read(from, &port, sizeof(port)) != sizeof(port))
			die("reading the child's port");
		t.sport = port;
		memcpy(t.src.b, &sa.sin_addr, 4);
		memcpy(t.dst.b, &sa.sin_addr, 4);

		t0 = now_ns();
		if (ag_sockdiag_lookup(sd, &t, &si) < 0)
			die("ag_sockdiag_lookup");
		t1 = now_ns();
		if (ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res) < 0 ||
		    res.proc.pid != child)
			fail("round %u%s: attributed to %d (%s), not to the child %d", i,
			     hooked ? " (hook)" : "", (int)res.proc.pid,
			     ag_attrib_why_str(res.why), (int)child);
		t2 = now_ns();
		/* The daemon closes the fds it took after its verdicts, off the
		 * clock; so does this, before the child closes its socket. */
		ag_proc_release_taken(proc);
		if (!!(res.flags & AG_ATTRIB_F_OWNER_HOOK) != hooked)
			fail("round %u: named %s the owner hook", i,
			     hooked ? "without" : "through");
		/* A short-lived child's fds were never seen: no guess to take. */
		if (!shortlived && timed && !!(res.flags & AG_ATTRIB_F_TAKEN) != taking)
			fail("round %u: named %s taking its fd", i,
			     taking ? "without" : "by");
		if (timed)
			add(&s_sd, t1 - t0);
		if (hooked) {
			struct ag_fp_owner o;

			if (timed)
				add(&s_hook, t2 - t1);
			t0 = now_ns();
			if (ag_fp_socket_owner(fp, si.cookie, &o) || o.tgid != (uint32_t)child)
				fail("round %u: ag_fp_socket_owner does not name the child %d",
				     i, (int)child);
			t1 = now_ns();
			if (timed)
				add(&s_owner, t1 - t0);
		} else if (taking) {
			if (timed)
				add(&s_take, t2 - t1);
		} else {
			if (timed)
				add(&s_scan, t2 - t1);
			t2 = now_ns();
			ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res);
			t3 = now_ns();
			if (timed)
				add(&s_rep, t3 - t2);
		}
		while ((c = accept(lfd, NULL, NULL)) >= 0)
			close(c);
		if (shortlived) {
			close(to);
			close(from);
			waitpid(child, NULL, 0);
			cleanup_child = -1;
		}
	}
	if (!shortlived) {
		close(to);
		close(from);
		waitpid(child, NULL, 0);
		cleanup_child = -1;
	}

	if (shortlived)
		printf("# %u short-lived processes (one connection each, %u extra fds)%s\n",
		       rounds, extra, hook ? ", every other one attributed through the owner hook" : "");
	else
		printf("# %u new connections from a cached process holding %u extra fds and its "
		       "last %u connections%s\n", rounds, extra, keep,
		       hook ? ", every other one attributed through the owner hook" : "");
	report("sock_diag", s_sd.v, s_sd.n);
	if (!hook)
		report("attrib", s_take.v, s_take.n);
	report("attrib/scan", s_scan.v, s_scan.n);
	report("attrib+hook", s_hook.v, s_hook.n);
	report("fp_owner", s_owner.v, s_owner.n);
	report("repeat", s_rep.v, s_rep.n);
	ag_attrib_get_stats(a_scan, &ast);
	ag_proc_get_stats(proc, &pst);
	printf("# attrib/scan: %llu lookups, %llu named; proc: %llu inode cache "
	       "hits, %llu found among recent, %llu by walk, %llu fd links "
	       "read\n", (unsigned long long)ast.lookups,
	       (unsigned long long)ast.why[AG_ATTRIB_OK],
	       (unsigned long long)pst.inode_hits,
	       (unsigned long long)pst.scan_found_recent,
	       (unsigned long long)pst.scan_found_walk,
	       (unsigned long long)pst.fds_read);
	if (a_take) {
		ag_attrib_get_stats(a_take, &ast);
		printf("# attrib: %llu lookups, %llu named, %llu by taking the fd (%llu fds "
		       "taken, %llu guesses missed)\n", (unsigned long long)ast.lookups,
		       (unsigned long long)ast.why[AG_ATTRIB_OK], (unsigned long long)ast.taken,
		       (unsigned long long)pst.take_tries, (unsigned long long)pst.take_missed);
		/* report() sorted them */
		if (s_take.n && s_scan.n)
			printf("# attrib against attrib/scan, medians: %.2fx\n",
			       (double)s_take.v[s_take.n / 2] / (double)s_scan.v[s_scan.n / 2]);
	}
	if (a_hook) {
		ag_attrib_get_stats(a_hook, &hst);
		printf("# attrib+hook: %llu lookups, %llu named by the hook, %llu unknown to it, "
		       "%llu rejected\n", (unsigned long long)hst.lookups,
		       (unsigned long long)hst.hook_hits, (unsigned long long)hst.hook_unknown,
		       (unsigned long long)hst.hook_rejected);
	}
	ag_attrib_free(a_hook);
	ag_attrib_free(a_take);
	ag_attrib_free(a_scan);
	ag_fp_close(fp);
	ag_sockdiag_close(sd);
	ag_proc_close(proc);
	free(s_sd.v);
	free(s_scan.v);
	free(s_hook.v);
	free(s_owner.v);
	free(s_rep.v);
	free(s_take.v);
	return 0;
}
