/*
 * attrib_bench — how long ag_attrib_lookup() takes for a new connection
 * whose process the cache already knows (the daemon's common case: a
 * running program opens one more connection).
 *
 *   attrib_bench [-n CONNECTIONS] [-f EXTRA_FDS] [-k KEEP]
 *
 * Runs as root.  The process cache is opened first (the proc connector
 * lives in the initial network namespace); the bench then moves into a new
 * network namespace of its own and uses only its loopback.  A child process
 * (this program, exec'd) holds EXTRA_FDS open files, like an application,
 * and opens one new TCP connection per round, keeping its last KEEP ones
 * (default 1: each new one replaces the last); the parent attributes it.
 * Printed: median, p90, p99 and max of
 *   sock_diag   the exact socket lookup alone,
 *   attrib      the whole attribution of the new connection,
 *   repeat      the same flow again (inode cache hit).
 * Every attribution must name the child, or the bench fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/attrib.h"

#define PORT 7777

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "attrib_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%-10s median %7.1f us   p90 %7.1f us   p99 %7.1f us   "
	       "max %8.1f us\n", name, v[n / 2] / 1000.0,
	       v[n * 90 / 100] / 1000.0, v[n * 99 / 100] / 1000.0,
	       v[n - 1] / 1000.0);
}

/*
 * The child: on each byte from fd 3, a new connection; its port to fd 4.
 * It keeps the last @keep connections open and closes the oldest, as a
 * program with a connection pool does.
 */
static int child_main(int extra_fds, int keep)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(PORT) };
	int open_fds[64], head = 0;
	char c;

	if (keep < 1 || keep > 64)
		keep = 1;
	for (int i = 0; i < keep; i++)
		open_fds[i] = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < extra_fds; i++)
		if (open("/dev/null", O_RDONLY) == -1)
			die("open /dev/null");
	while (read(3, &c, 1) == 1) {
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		uint16_t port;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
			die("child connect");
		if (open_fds[head] != -1)
			close(open_fds[head]);
		open_fds[head] = fd;
		head = (head + 1) % keep;
		getsockname(fd, (struct sockaddr *)&me, &ml);
		port = ntohs(me.sin_port);
		if (write(4, &port, sizeof(port)) != sizeof(port))
			die("child write");
	}
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

int main(int argc, char **argv)
{
	unsigned n = 2000, extra = 32, keep = 1;
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_attrib *a;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(PORT) };
	int lfd, one = 1, to_child[2], from_child[2], opt;
	uint64_t *t_sd, *t_at, *t_rep;
	struct ag_attrib_stats ast;
	struct ag_proc_stats pst;
	pid_t child;

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(atoi(argv[2]), atoi(argv[3]));
	while ((opt = getopt(argc, argv, "n:f:k:")) != -1) {
		if (opt == 'n')
			n = (unsigned)atoi(optarg);
		else if (opt == 'f')
			extra = (unsigned)atoi(optarg);
		else if (opt == 'k')
			keep = (unsigned)atoi(optarg);
		else
			return 2;
	}
	if (n < 10)
		n = 10;
	setvbuf(stdout, NULL, _IOLBF, 0);

	proc = ag_proc_open(NULL);
	if (!proc)
		die("ag_proc_open");
	printf("# %s\n", ag_proc_mode(proc));
	if (unshare(CLONE_NEWNET) == -1)
		die("unshare(CLONE_NEWNET) (run as root)");
	loopback_up();
	sd = ag_sockdiag_open();
	a = sd ? ag_attrib_new(sd, proc) : NULL;
	if (!a)
		die("sock_diag");

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 128) == -1)
		die("listen");

	if (pipe2(to_child, O_CLOEXEC) == -1 ||
	    pipe2(from_child, O_CLOEXEC) == -1)
		die("pipe");
	child = fork();
	if (child == -1)
		die("fork");
	if (child == 0) {
		char arg[16], karg[16];

		/* Only these two ends cross the exec, as fds 3 and 4. */
		if (to_child[0] == 4 || from_child[1] == 3)
			die("unexpected pipe fds");
		if (dup2(to_child[0], 3) == -1 || dup2(from_child[1], 4) == -1)
			die("dup2");
		fcntl(3, F_SETFD, 0);
		fcntl(4, F_SETFD, 0);
		snprintf(arg, sizeof(arg), "%u", extra);
		snprintf(karg, sizeof(karg), "%u", keep);
		execl("/proc/self/exe", "attrib_bench", "--child", arg, karg,
		      (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);

	t_sd = calloc(n, sizeof(*t_sd));
	t_at = calloc(n, sizeof(*t_at));
	t_rep = calloc(n, sizeof(*t_rep));
	if (!t_sd || !t_at || !t_rep)
		die("calloc");

	/* Warm-up rounds: the child's exec is read, its fds seen once. */
	for (unsigned i = 0; i < n + 20; i++) {
		struct ag_tuple t = { .ip_version = 4, .protocol = IPPROTO_TCP,
				      .dport = PORT };
		struct ag_sock_info si;
		struct ag_attrib_result res;
		uint16_t port;
		uint64_t t0, t1, t2, t3;
		int c;

		if (write(to_child[1], "c", 1) != 1 ||
		    read(from_child[0], &port, sizeof(port)) != sizeof(port))
			die("talking to the child");
		t.sport = port;
		memcpy(t.src, &sa.sin_addr, 4);
		memcpy(t.dst, &sa.sin_addr, 4);

		t0 = now_ns();
		if (ag_sockdiag_lookup(sd, &t, &si) < 0)
			die("ag_sockdiag_lookup");
		t1 = now_ns();
		if (ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN,
				     &res) < 0 || res.proc.pid != child) {
			fprintf(stderr, "attrib_bench: round %u: attributed to "
				"%d (%s), not to the child %d\n", i,
				(int)res.proc.pid,
				ag_attrib_why_str(res.why), (int)child);
			return 1;
		}
		t2 = now_ns();
		ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN,
				 &res);
		t3 = now_ns();
		while ((c = accept(lfd, NULL, NULL)) >= 0)
			close(c);
		if (i >= 20) {
			t_sd[i - 20] = t1 - t0;
			t_at[i - 20] = t2 - t1;
			t_rep[i - 20] = t3 - t2;
		}
	}
	close(to_child[1]);
	waitpid(child, NULL, 0);

	printf("# %u new connections from a cached process holding %u extra "
	       "fds and its last %u connections\n", n, extra, keep);
	report("sock_diag", t_sd, n);
	report("attrib", t_at, n);
	report("repeat", t_rep, n);
	ag_attrib_get_stats(a, &ast);
	ag_proc_get_stats(proc, &pst);
	printf("# attrib: %llu lookups, %llu named; proc: %llu inode cache "
	       "hits, %llu found among recent, %llu by walk, %llu fd links "
	       "read\n", (unsigned long long)ast.lookups,
	       (unsigned long long)ast.why[AG_ATTRIB_OK],
	       (unsigned long long)pst.inode_hits,
	       (unsigned long long)pst.scan_found_recent,
	       (unsigned long long)pst.scan_found_walk,
	       (unsigned long long)pst.fds_read);
	ag_attrib_free(a);
	ag_sockdiag_close(sd);
	ag_proc_close(proc);
	free(t_sd);
	free(t_at);
	free(t_rep);
	return 0;
}
