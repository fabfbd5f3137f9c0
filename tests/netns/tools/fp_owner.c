/*
 * fp_owner — attribution through the fast path's socket owners
 * (ag_fp_socket_owner, and lib/linux/attrib's owner hook) for
 * tests/netns/test_fastpath.sh.
 *
 *   fp_owner [-n NETNS] -c CGROUP [-A PORT] COMMAND ...
 *
 *   -n NETNS   enter this network namespace (a /run/netns/NAME file) after
 *              opening the process cache (the proc connector lives in the
 *              initial one); only the network namespace
 *   -c CGROUP  cgroup v2 directory: the fast path attaches there, and every
 *              child joins it
 *   -A PORT    the fast path allows TCP to PORT (one rule); without it
 *              there are no rules and every flow falls through
 *
 *   owner [-u] ADDR PORT
 *        a child (this program, exec'd) connects to ADDR PORT (TCP,
 *        non-blocking: a SYN the queue holds is fine) or with -u sends one
 *        UDP datagram there from an unconnected socket, and waits.  Its
 *        socket is found with sock_diag; ag_fp_socket_owner() on the cookie
 *        must name the child's pid, uid, start time and executable (this
 *        program's inode and device), and ag_attrib_lookup() with the hook
 *        must name the child through the hook.
 *        Prints "owner ok pid=P exe=INO:DEV start=TICKS verdict=V" (V: what
 *        the hooks decided for it, pass, allow or deny) or "owner error WHY".
 *   unknown
 *        ag_fp_socket_owner() on cookies the hooks never saw: a socket this
 *        process (outside the cgroup) connects over loopback, 0 and ~0.
 *        Prints "unknown ok" (every one -ENOENT) or "unknown error WHY".
 *   spawn N ADDR PORT
 *        N short-lived children one after the other, each connecting once
 *        and exiting once attributed.  Prints "spawn N hook H right R
 *        median_us M": H named through the hook, R named right (the child's
 *        pid and this program's path).
 *
 * Exit 0 when the line says ok (spawn: H == R == N), 1 otherwise, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linux/attrib.h"
#include "linux/fastpath.h"
#include "linux/proc.h"
#include "linux/sockdiag.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define MAX_SPAWN 10000

struct env {
	const char *cgroup;
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_fp *fp;
	struct ag_attrib *a;
	char self[PATH_MAX];	/* this program, resolved: what the engine sees */
	struct ag_fp_exe self_id;
};

/* What a child reports: its socket's local end. */
struct report {
	struct sockaddr_storage local;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- the child ------------------------------------------------------------------ */

static int child_main(const char *addr, const char *port, bool udp)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM };
	struct addrinfo *ai;
	struct report rep;
	socklen_t len = sizeof(rep.local);
	char c;
	int fd;

	if (getaddrinfo(addr, port, &hints, &ai))
		return 2;
	fd = socket(ai->ai_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (fd == -1 ||
	    (udp ? sendto(fd, "x", 1, 0, ai->ai_addr, ai->ai_addrlen) == -1
		 : connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS)) {
		freeaddrinfo(ai);
		return 1;
	}
	freeaddrinfo(ai);
	memset(&rep, 0, sizeof(rep));
	if (getsockname(fd, (struct sockaddr *)&rep.local, &len) == -1 ||
	    write(4, &rep, sizeof(rep)) != sizeof(rep))
		return 1;
	/* Held until the parent has attributed us, as connect() would be
	 * while the daemon holds the SYN. */
	(void)!read(3, &c, 1);
	close(fd);
	return 0;
}

/* ---- the parent ----------------------------------------------------------------- */

struct kid {
	pid_t pid;
	int to, from;
	struct report rep;
};

static int spawn(const struct env *env, const char *addr, const char *port, bool udp,
		 struct kid *k)
{
	int to_child[2], from_child[2];
	char self[] = "fp_owner", opt[] = "--child", mode[] = "tcp", umode[] = "udp";
	char a[INET6_ADDRSTRLEN], p[8];

	snprintf(a, sizeof(a), "%s", addr);
	snprintf(p, sizeof(p), "%s", port);
	if (pipe2(to_child, O_CLOEXEC) == -1 || pipe2(from_child, O_CLOEXEC) == -1)
		return -errno;
	k->pid = fork();
	if (k->pid == -1)
		return -errno;
	if (k->pid == 0) {
		char procs[PATH_MAX], me[16];
		char *argv[] = { self, opt, udp ? umode : mode, a, p, NULL };
		int fd;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", env->cgroup);
		snprintf(me, sizeof(me), "%d", (int)getpid());
		fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd == -1 || write(fd, me, strlen(me)) == -1)
			_exit(126);
		if (to_child[0] == 4 || from_child[1] == 3)
			_exit(125);
		if (dup2(to_child[0], 3) == -1 || dup2(from_child[1], 4) == -1)
			_exit(124);
		fcntl(3, F_SETFD, 0);
		fcntl(4, F_SETFD, 0);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	k->to = to_child[1];
	k->from = from_child[0];
	if (read(k->from, &k->rep, sizeof(k->rep)) != sizeof(k->rep))
		return -EPIPE;
	return 0;
}

static void release(struct kid *k)
{
	close(k->to);
	close(k->from);
	waitpid(k->pid, NULL, 0);
}

/* The child's flow, in socket orientation. */
static int tuple_of(const struct kid *k, const char *addr, const char *port, bool udp,
		    struct ag_tuple *t)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	memset(t, 0, sizeof(*t));
	if (getaddrinfo(addr, port, &hints, &ai))
		return -EINVAL;
	t->protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *r = (const struct sockaddr_in *)ai->ai_addr;
		const struct sockaddr_in *l = (const struct sockaddr_in *)&k->rep.local;

		t->ip_version = 4;
		memcpy(t->dst.b, &r->sin_addr, 4);
		memcpy(t->src.b, &l->sin_addr, 4);
		t->dport = ntohs(r->sin_port);
		t->sport = ntohs(l->sin_port);
	} else {
		const struct sockaddr_in6 *r = (const struct sockaddr_in6 *)ai->ai_addr;
		const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)&k->rep.local;

		t->ip_version = 6;
		memcpy(t->dst.b, &r->sin6_addr, 16);
		memcpy(t->src.b, &l->sin6_addr, 16);
		t->dport = ntohs(r->sin6_port);
		t->sport = ntohs(l->sin6_port);
	}
	freeaddrinfo(ai);
	return 0;
}

/* /proc/PID/stat's start time (field 22), in clock ticks. */
static uint64_t start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After the command name, which may hold anything: field 3 on. */
	char *p = strrchr(buf, ')');

	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

static int cmd_owner(struct env *env, const char *addr, const char *port, bool udp)
{
	struct ag_attrib_result res;
	struct ag_fp_stats before, after;
	struct ag_sock_info si;
	struct ag_fp_owner o;
	struct ag_tuple t;
	struct kid k;
	uint64_t ticks, ns_per_tick = 1000000000u / (uint64_t)sysconf(_SC_CLK_TCK);
	const char *verdict;
	int r;

	if ((r = ag_fp_stats(env->fp, &before)) || (r = spawn(env, addr, port, udp, &k)) ||
	    (r = ag_fp_stats(env->fp, &after))) {
		printf("owner error child: %s\n", strerror(-r));
		return 1;
	}
	verdict = after.passed > before.passed ? "pass" : after.allowed > before.allowed ? "allow"
		  : after.denied > before.denied ? "deny" : "none";
	r = tuple_of(&k, addr, port, udp, &t);
	if (!r)
		r = ag_sockdiag_lookup(env->sd, &t, &si);
	if (r) {
		printf("owner error sock_diag: %s\n", strerror(-r));
		goto out;
	}
	if ((r = ag_fp_socket_owner(env->fp, si.cookie, &o))) {
		printf("owner error ag_fp_socket_owner(%llu): %s\n", (unsigned long long)si.cookie,
		       strerror(-r));
		goto out;
	}
	ticks = start_ticks(k.pid);
	r = 1;
	if (o.tgid != (uint32_t)k.pid)
		printf("owner error tgid %u, the child is %d\n", o.tgid, (int)k.pid);
	else if (o.uid != geteuid())
		printf("owner error uid %u, want %u\n", o.uid, (unsigned)geteuid());
	else if (!o.exe.known || o.exe.ino != env->self_id.ino || o.exe.dev != env->self_id.dev)
		printf("owner error exe %llu:%u (known %d), want %s = %llu:%u\n",
		       (unsigned long long)o.exe.ino, o.exe.dev, o.exe.known, env->self,
		       (unsigned long long)env->self_id.ino, env->self_id.dev);
	else if (!ticks || o.start_ns / ns_per_tick != ticks)
		printf("owner error start %llu ns = %llu ticks, /proc says %llu\n",
		       (unsigned long long)o.start_ns,
		       (unsigned long long)(o.start_ns / ns_per_tick), (unsigned long long)ticks);
	else if (ag_attrib_lookup(env->a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res) ||
		 res.proc.pid != k.pid || !(res.flags & AG_ATTRIB_F_OWNER_HOOK) ||
		 strcmp(res.proc.exe, env->self))
		printf("owner error attributed to %d \"%s\" (%s, %s the hook)\n", (int)res.proc.pid,
		       res.proc.exe, ag_attrib_why_str(res.why),
		       res.flags & AG_ATTRIB_F_OWNER_HOOK ? "through" : "not through");
	else
		r = 0;
	if (!r)
		printf("owner ok pid=%d exe=%llu:%u start=%llu verdict=%s\n", (int)k.pid,
		       (unsigned long long)o.exe.ino, o.exe.dev, (unsigned long long)ticks, verdict);
out:
	release(&k);
	return r ? 1 : 0;
}

static int cmd_unknown(struct env *env)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	uint64_t cookies[3] = { 0, 0, UINT64_MAX };
	struct ag_fp_owner o;
	int lfd, fd, r;

	/* A socket with a real cookie that no hook saw: this process is not
	 * in the cgroup. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd == -1 || fd == -1 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 1) == -1 || getsockname(lfd, (struct sockaddr *)&sa, &len) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		printf("unknown error loopback socket: %s\n", strerror(errno));
		return 1;
	}
	len = sizeof(cookies[0]);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookies[0], &len) == -1 || !cookies[0]) {
		printf("unknown error SO_COOKIE: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		r = ag_fp_socket_owner(env->fp, cookies[i], &o);
		if (r != -ENOENT) {
			printf("unknown error cookie %llu: %s, tgid %u\n",
			       (unsigned long long)cookies[i], r ? strerror(-r) : "found",
			       r ? 0 : o.tgid);
			return 1;
		}
	}
	close(fd);
	close(lfd);
	printf("unknown ok\n");
	return 0;
}

static int cmd_spawn(struct env *env, unsigned n, const char *addr, const char *port)
{
	struct ag_attrib_stats st;
	unsigned hook = 0, right = 0, timed = 0;
	uint64_t *us = calloc(n, sizeof(*us));

	if (!us)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		struct ag_attrib_result res;
		struct ag_tuple t;
		struct kid k;
		uint64_t t0;
		int r;

		if ((r = spawn(env, addr, port, false, &k))) {
			printf("# child %u: %s\n", i, strerror(-r));
			continue;
		}
		if (tuple_of(&k, addr, port, false, &t) == 0) {
			t0 = now_ns();
			r = ag_attrib_lookup(env->a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res);
			us[timed++] = (now_ns() - t0) / 1000;
			if (r == 0 && (res.flags & AG_ATTRIB_F_OWNER_HOOK))
				hook++;
			if (r == 0 && res.proc.pid == k.pid && !strcmp(res.proc.exe, env->self))
				right++;
			else
				printf("# child %u (%d): attributed to %d \"%s\" (%s)\n", i,
				       (int)k.pid, (int)res.proc.pid, res.proc.exe,
				       ag_attrib_why_str(res.why));
		}
		release(&k);
	}
	qsort(us, timed, sizeof(*us), cmp_u64);
	ag_attrib_get_stats(env->a, &st);
	printf("spawn %u hook %u right %u median_us %llu\n", n, hook, right,
	       timed ? (unsigned long long)us[timed / 2] : 0ull);
	printf("# hook: %llu named, %llu unknown, %llu rejected\n",
	       (unsigned long long)st.hook_hits, (unsigned long long)st.hook_unknown,
	       (unsigned long long)st.hook_rejected);
	free(us);
	return hook == n && right == n ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: fp_owner [-n NETNS] -c CGROUP [-A PORT] "
			"owner [-u] ADDR PORT | unknown | spawn N ADDR PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct env env = { 0 };
	const char *netns = NULL;
	char err[AG_FP_ERR_MAX];
	struct stat st;
	long allow = -1;
	int opt, r;

	if (argc == 5 && !strcmp(argv[1], "--child"))
		return child_main(argv[3], argv[4], !strcmp(argv[2], "udp"));
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+n:c:A:")) != -1) {
		switch (opt) {
		case 'n': netns = optarg; break;
		case 'c': env.cgroup = optarg; break;
		case 'A': allow = atol(optarg); break;
		default: return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (!env.cgroup || argc < 1 || allow > 65535)
		return usage();

	if (!realpath("/proc/self/exe", env.self) || stat(env.self, &st) == -1) {
		fprintf(stderr, "fp_owner: /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	env.self_id.ino = st.st_ino;
	env.self_id.dev = major(st.st_dev) << 20 | minor(st.st_dev);
	env.self_id.known = true;

	env.proc = ag_proc_open(NULL);
	if (!env.proc) {
		fprintf(stderr, "fp_owner: process cache: %s\n", strerror(errno));
		return 1;
	}
	if (netns) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);

		if (fd == -1 || setns(fd, CLONE_NEWNET) == -1) {
			fprintf(stderr, "fp_owner: \"%s\": %s\n", netns, strerror(errno));
			return 1;
		}
		close(fd);
	}
	env.sd = ag_sockdiag_open();
	env.fp = ag_fp_open(env.cgroup, err, sizeof(err));
	if (!env.sd || !env.fp) {
		fprintf(stderr, "fp_owner: %s\n", env.fp ? strerror(errno) : err);
		return 1;
	}
	struct ag_fp_rule rule = { .has = AG_FP_HAS_PORT | AG_FP_HAS_PROTO, .evaluable = true,
				   .verdict = AG_FP_ALLOW, .proto = IPPROTO_TCP,
				   .port_lo = (uint16_t)allow, .port_hi = (uint16_t)allow };

	if ((r = ag_fp_update(env.fp, &rule, allow >= 0 ? 1 : 0, err, sizeof(err)))) {
		fprintf(stderr, "fp_owner: update: %s\n", err);
		return 1;
	}
	env.a = ag_attrib_new(env.sd, env.proc);
	if (!env.a)
		return 1;
	ag_attrib_set_owner_hook(env.a, ag_fp_attrib_owner, env.fp);

	if (!strcmp(argv[0], "owner") && argc == 4 && !strcmp(argv[1], "-u"))
		r = cmd_owner(&env, argv[2], argv[3], true);
	else if (!strcmp(argv[0], "owner") && argc == 3)
		r = cmd_owner(&env, argv[1], argv[2], false);
	else if (!strcmp(argv[0], "unknown") && argc == 1)
		r = cmd_unknown(&env);
	else if (!strcmp(argv[0], "spawn") && argc == 4 && atoi(argv[1]) > 0 &&
		 atoi(argv[1]) <= MAX_SPAWN)
		r = cmd_spawn(&env, (unsigned)atoi(argv[1]), argv[2], argv[3]);
	else
		r = usage();
	ag_attrib_free(env.a);
	ag_fp_close(env.fp);
	ag_sockdiag_close(env.sd);
	ag_proc_close(env.proc);
	return r;
}
