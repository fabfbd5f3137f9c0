/*
 * exec_bench — what an exec anywhere on the machine costs the daemon's
 * process cache: the proc connector (a message per fork, exec and exit and
 * a readlink and two stats of /proc/PID/exe per exec) against the exec
 * monitor (eBPF: the kernel writes each event with the executable's path
 * and identity to a ring the cache reads without a system call).
 *
 *   exec_bench [-n EXECS] [-r ROUNDS] [-p PROGRAM]
 *
 * Runs as root.  Per round and per mode, in the same invocation: open a
 * process cache in that mode, start a child (this program again, exec'd)
 * that runs PROGRAM (default /bin/true) EXECS times (default 3000) one
 * after another, and let this
 * process do what the daemon does (wait on ag_proc_fd() with epoll, then
 * ag_proc_receive()) until the child is done and every event is read.
 * Its own CPU time (user + system, CLOCK_PROCESS_CPUTIME_ID: the child is
 * another process) over that time, divided by EXECS, is the cost per exec.
 * Rounds alternate the modes so that both see the same machine.  Other
 * processes' execs during a round are counted too (they cost the same);
 * the events handled are printed beside.
 *
 * The kernel's own share (the eBPF programs run in the exec'ing process)
 * is shown as the child's time per exec, with each mode and with no cache
 * open at all.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/proc.h"

extern char **environ;

enum { M_NONE, M_CONNECTOR, M_BPF, NMODES };
static const char *const mode_name[NMODES] = { "no process cache", "proc connector",
					       "exec monitor (eBPF)" };

static double cpu_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double mono_us(void)
{
	return cpu_us(CLOCK_MONOTONIC);
}

/* The child: EXECS spawns of @prog, one after another. */
static void spawner(long n, const char *prog)
{
	char *argv[] = { (char *)prog, NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;

		if (posix_spawn(&pid, prog, NULL, NULL, argv, environ)) {
			perror("posix_spawn");
			_exit(1);
		}
		waitpid(pid, &st, 0);
	}
	_exit(0);
}

struct result {
	double cache_us;	/* this process's CPU */
	double recv_us;		/* of which in ag_proc_receive() */
	double child_us;	/* the spawner's CPU, its children included */
	double wall_us;
	uint64_t execs_seen;
	const char *mode_line;
};

static void receive(struct ag_proc *p, struct result *r)
{
	double t0 = cpu_us(CLOCK_PROCESS_CPUTIME_ID);

	(void)ag_proc_receive(p);
	r->recv_us += cpu_us(CLOCK_PROCESS_CPUTIME_ID) - t0;
}

static int one_round(int mode, long n, const char *prog, struct result *r)
{
	struct ag_proc_config pc = { 0 };
	struct ag_proc *p = NULL;
	struct ag_proc_stats st0, st1;
	struct rusage ru;
	double c0, w0;
	pid_t child;
	int status, ep = -1, pidfd;
	struct epoll_event ev = { 0 };
	bool done = false;

	memset(r, 0, sizeof(*r));
	if (mode != M_NONE) {
		pc.exec_bpf = mode == M_BPF;
		p = ag_proc_open(&pc);
		if (!p) {
			fprintf(stderr, "exec_bench: ag_proc_open: %s\n", strerror(errno));
			return -1;
		}
		r->mode_line = ag_proc_mode(p);
		if (mode == M_BPF && !strstr(r->mode_line, "exec monitor (eBPF")) {
			fprintf(stderr, "exec_bench: %s\n", r->mode_line);
			ag_proc_close(p);
			return -1;
		}
		while (ag_proc_receive(p) > 0)
			;
		ag_proc_get_stats(p, &st0);
	}
	if (p) {
		ev.events = EPOLLIN | (ag_proc_fd_edge(p) ? EPOLLET : 0);
		ev.data.fd = ag_proc_fd(p);
		if (ag_proc_fd(p) < 0) {
			fprintf(stderr, "exec_bench: no events to wait for: %s\n", r->mode_line);
			ag_proc_close(p);
			return -1;
		}
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, ag_proc_fd(p), &ev) == -1) {
			perror("exec_bench: epoll");
			return -1;
		}
	}
	c0 = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
	w0 = mono_us();
	/* A program of its own, not a fork: a forked child would share this
	 * process's pages, and every page the cache writes would then be
	 * copied, on this process's account. */
	{
		char num[32], *argv[] = { (char *)"exec_bench", (char *)"--spawn", num,
					  (char *)prog, NULL };

		snprintf(num, sizeof(num), "%ld", n);
		if (posix_spawn(&child, "/proc/self/exe", NULL, NULL, argv, environ)) {
			perror("exec_bench: posix_spawn");
			return -1;
		}
	}
	/* As the daemon waits: one epoll, edge-triggered where the cache says,
	 * and here the child's pidfd beside it, so nothing wakes this process
	 * but the cache's fd and the child's end. */
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	if (pidfd == -1) {
		perror("exec_bench: pidfd_open");
		return -1;
	}
	if (!p) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep == -1)
			return -1;
	}
	ev.events = EPOLLIN;
	ev.data.fd = pidfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev) == -1)
		return -1;
	while (!done) {
		if (epoll_wait(ep, &ev, 1, -1) <= 0)
			continue;
		if (ev.data.fd == pidfd)
			done = wait4(child, &status, 0, &ru) == child;
		else
			receive(p, r);
	}
	close(pidfd);
	/* The last events may still be on their way (the connector's), or
	 * wait in the ring for a reader (the exec monitor wakes its reader
	 * only when the ring fills; the daemon reads it before each lookup). */
	if (p) {
		double until = mono_us() + 50000;

		while (mono_us() < until)
			if (epoll_wait(ep, &ev, 1, 10) > 0)
				receive(p, r);
		receive(p, r);
	}
	close(ep);
	r->cache_us = cpu_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r->wall_us = mono_us() - w0;
	r->child_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
		      ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
	if (p) {
		ag_proc_get_stats(p, &st1);
		r->execs_seen = st1.ev_exec - st0.ev_exec;
		ag_proc_close(p);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	long n = 3000, rounds = 3;
	const char *prog = "/bin/true";
	/* per mode and round: CPU per exec run, per exec handled, reading per
	 * exec handled, the spawner's time per exec, execs handled */
	double per_run[NMODES][16], per_seen[NMODES][16], recv_seen[NMODES][16];
	double child[NMODES][16], seen[NMODES][16];
	const char *line[NMODES] = { 0 };
	int opt;

	if (argc == 4 && !strcmp(argv[1], "--spawn"))
		spawner(atol(argv[2]), argv[3]);
	while ((opt = getopt(argc, argv, "n:r:p:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'r': rounds = atol(optarg); break;
		case 'p': prog = optarg; break;
		default:
			fprintf(stderr, "usage: exec_bench [-n EXECS] [-r ROUNDS] [-p PROGRAM]\n");
			return 2;
		}
	}
	if (n < 1 || rounds < 1 || rounds > 16) {
		fprintf(stderr, "exec_bench: EXECS >= 1, 1 <= ROUNDS <= 16\n");
		return 2;
	}
	for (long k = 0; k < rounds; k++) {
		for (int m = 0; m < NMODES; m++) {
			/* alternate the order so neither mode always goes first */
			int mode = k % 2 ? NMODES - 1 - m : m;
			struct result r;
			double handled;

			if (one_round(mode, n, prog, &r)) {
				fprintf(stderr, "exec_bench: round %ld, %s failed\n", k + 1,
					mode_name[mode]);
				return 1;
			}
			handled = r.execs_seen ? (double)r.execs_seen : (double)n;
			per_run[mode][k] = r.cache_us / (double)n;
			per_seen[mode][k] = r.cache_us / handled;
			recv_seen[mode][k] = r.recv_us / handled;
			child[mode][k] = r.child_us / (double)n;
			seen[mode][k] = (double)r.execs_seen;
			if (r.mode_line && !line[mode])
				line[mode] = strdup(r.mode_line);
		}
	}
	printf("exec_bench: %ld x %s, %ld rounds per mode, modes alternating\n", n, prog, rounds);
	for (int m = 1; m < NMODES; m++)
		printf("  %s: %s\n", mode_name[m], line[m] ? line[m] : "");
	printf("\nMedians over the rounds.  \"handled\": every exec the cache was told of, "
	       "this run's and the machine's.\n\n"
	       "| mode | cache CPU per exec handled | of which reading events | "
	       "cache CPU per exec run | execs handled | exec'ing side per exec |\n"
	       "| --- | --- | --- | --- | --- | --- |\n");
	double med[NMODES], cmed[NMODES];
	for (int m = 0; m < NMODES; m++) {
		cmed[m] = median(child[m], rounds);
		if (m == M_NONE) {
			printf("| %s | — | — | %.2f µs | — | %.1f µs |\n", mode_name[m],
			       median(per_run[m], rounds), cmed[m]);
			continue;
		}
		med[m] = median(per_seen[m], rounds);
		printf("| %s | %.2f µs | %.2f µs | %.2f µs | %.0f | %.1f µs |\n", mode_name[m],
		       med[m], median(recv_seen[m], rounds), median(per_run[m], rounds),
		       median(seen[m], rounds), cmed[m]);
	}
	printf("\nexec monitor / proc connector, cache CPU per exec handled: %.3f (%.1fx less)\n",
	       med[M_BPF] / med[M_CONNECTOR], med[M_CONNECTOR] / med[M_BPF]);
	printf("exec'ing side, exec monitor - no cache: %+.1f µs per exec; "
	       "proc connector - no cache: %+.1f µs\n",
	       cmed[M_BPF] - cmed[M_NONE], cmed[M_CONNECTOR] - cmed[M_NONE]);
	return 0;
}
