/*
 * daemon/privs.c — what runs with which privilege, in one table.
 *
 *   process        capabilities kept                 may exec  seccomp
 *   -------------  --------------------------------  --------  ------------
 *   alegated       NET_ADMIN (SOCK_DESTROY, ctnetlink  no       allow-list
 *                  and NFQUEUE verdicts), SYS_PTRACE
 *                  (read other users' /proc/PID/exe
 *                  and fd links), DAC_READ_SEARCH
 *                  (the same through restrictive
 *                  directory modes)
 *   alegated [fw]  NET_ADMIN, NET_RAW (iptables-       yes      none: it only
 *                  restore, nft)                                runs ag_fw_remove
 *                                                               and ag_fw_notrack
 *
 * Everything that needs more — binding the queues, installing the firewall,
 * the proc connector, creating the control socket, loading eBPF — happens
 * before agd_privs_drop().  The [fw] helper exists so that the daemon
 * itself never needs execve: it installs the rules again when someone else
 * removed or changed them, and at a stop it removes them (fail_mode open)
 * or is told to go and leave them (fail_mode closed: the next daemon takes
 * over); if the daemon dies instead, the helper sees the end of its socket
 * and leaves the rules in place.
 *
 * With sanitizers (ASan/LSan need clone and ptrace at exit) the seccomp
 * filter is not installed; docs/SECURITY.md says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "daemon/alegated.h"
#include "daemon/log.h"
#include "daemon/privs.h"

#if defined(__SANITIZE_ADDRESS__)
#define AGD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AGD_SANITIZED 1
#endif
#endif
#ifndef AGD_SANITIZED
#define AGD_SANITIZED 0
#endif


/* ---- the [fw] helper ----------------------------------------------------------- */

static void fw_helper(int sock, enum ag_fw_backend backend, const struct ag_fw_config *cfg)
{
	char cmd, err[AG_FW_ERR_MAX];

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, "alegated [fw]", 0, 0, 0);
	/* Only the socket: the queues, the control socket and the rest are
	 * the daemon's. */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != sock)
			close(fd);
	/* nor the terminal or pipe alegated was started from: it prints
	 * nothing, and whoever waits for the end of that pipe must see it
	 * when the daemon lets go of it */
	int null = open("/dev/null", O_RDWR);

	if (null != -1) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
		      CAP_NET_ADMIN, CAP_NET_RAW, -1);
	capng_apply(CAPNG_SELECT_BOTH);
	for (;;) {
		ssize_t n = read(sock, &cmd, 1);

		if (n == 1 && (cmd == 'R' || cmd == 'I' || cmd == 'N' || cmd == 'n')) {
			/* R: everything, at stop; I: the queue rules again, as
			 * installed at start; N / n: the notrack table */
			int r = cmd == 'R'   ? ag_fw_remove(backend, err, sizeof(err))
				: cmd == 'I' ? ag_fw_install(cfg, NULL, err, sizeof(err))
					     : ag_fw_notrack(cmd == 'N', err, sizeof(err));

			if (r == 0)
				snprintf(err, sizeof(err), "ok");
			if (write(sock, err, strlen(err) + 1) < 0)
				_exit(1);
			if (cmd == 'R')
				_exit(r ? 1 : 0);
			continue;
		}
		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(0); /* the daemon died: the rules stay (fail_mode) */
	}
}

static int fw_helper_start(struct agd *d)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -errno;
	d->privs.fw_pid = fork();
	if (d->privs.fw_pid == -1) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (d->privs.fw_pid == 0) {
		close(sv[0]);
		struct ag_fw_config cfg = d->dp.fwcfg;

		/* the backend chosen at start, not a new probe */
		cfg.backend = d->dp.fw_backend;
		fw_helper(sv[1], d->dp.fw_backend, &cfg);
	}
	close(sv[1]);
	d->privs.fw_sock = sv[0];
	return 0;
}

/* One command to the helper and its answer: 0 for "ok", else -EIO with
 * the helper's message in err. */
static int fw_helper_ask(struct agd *d, char cmd, char *err, size_t errlen)
{
	char reply[AG_FW_ERR_MAX];
	int sock = d->privs.fw_sock;
	ssize_t n;

	if (write(sock, &cmd, 1) != 1 || (n = read(sock, reply, sizeof(reply) - 1)) <= 0) {
		snprintf(err, errlen, "the firewall helper did not answer");
		return -EIO;
	}
	reply[n] = 0;
	if (strcmp(reply, "ok") == 0)
		return 0;
	snprintf(err, errlen, "%s", reply);
	return -EIO;
}

int agd_privs_fw_remove(struct agd *d, char *err, size_t errlen)
{
	int r;

	if (d->privs.fw_sock == -1)
		return ag_fw_remove(d->dp.fw_backend, err, errlen);
	r = fw_helper_ask(d, 'R', err, errlen);
	close(d->privs.fw_sock);
	d->privs.fw_sock = -1;
	waitpid(d->privs.fw_pid, NULL, 0);
	d->privs.fw_pid = -1;
	return r;
}

int agd_privs_fw_install(struct agd *d, char *err, size_t errlen)
{
	if (d->privs.fw_sock == -1) {
		struct ag_fw_config cfg = d->dp.fwcfg;

		cfg.backend = d->dp.fw_backend;
		return ag_fw_install(&cfg, NULL, err, errlen);
	}
	return fw_helper_ask(d, 'I', err, errlen);
}

void agd_privs_fw_leave(struct agd *d)
{
	if (d->privs.fw_sock == -1)
		return;
	/* the end of its socket: the helper goes, the rules stay */
	close(d->privs.fw_sock);
	d->privs.fw_sock = -1;
	waitpid(d->privs.fw_pid, NULL, 0);
	d->privs.fw_pid = -1;
}

int agd_privs_fw_notrack(struct agd *d, bool on, char *err, size_t errlen)
{
	if (d->privs.fw_sock == -1)
		return ag_fw_notrack(on, err, errlen);
	return fw_helper_ask(d, on ? 'N' : 'n', err, errlen);
}

/* ---- seccomp ------------------------------------------------------------------- */

/*
 * What the running daemon calls: its loop, netlink, the control socket,
 * /proc reads, rule files, logging, memory.  Anything else fails with
 * EPERM rather than killing the daemon: with fail_mode closed a dead
 * firewall means no new connection on the machine.
 */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(close), SCMP_SYS(openat), SCMP_SYS(newfstatat), SCMP_SYS(fstat),
	SCMP_SYS(statx), SCMP_SYS(statfs), SCMP_SYS(fstatfs), SCMP_SYS(lstat), SCMP_SYS(stat),
	SCMP_SYS(lseek), SCMP_SYS(getdents64), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
	SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlink),
	SCMP_SYS(unlinkat), SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(fchmod),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2),
	SCMP_SYS(epoll_ctl), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday),
	SCMP_SYS(recvmsg), SCMP_SYS(recvfrom), SCMP_SYS(recvmmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(sendto), SCMP_SYS(sendmmsg), SCMP_SYS(accept4), SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(shutdown),
	/* NSS (user names) and syslog may open and connect AF_UNIX sockets;
	 * sock_diag and ctnetlink requests reuse their open sockets */
	SCMP_SYS(socket), SCMP_SYS(connect),
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(mprotect), SCMP_SYS(futex), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigaction), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getrandom),
	SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(wait4), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(bpf), /* fast-path map updates on maps opened at start */
	/* attribution takes a copy of a socket fd to read its addresses */
	SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_getfd),
	SCMP_SYS(inotify_add_watch), SCMP_SYS(inotify_rm_watch), /* rule paths' directories */
	SCMP_SYS(restart_syscall), SCMP_SYS(sched_yield), SCMP_SYS(getrusage),
	SCMP_SYS(prlimit64), SCMP_SYS(getcwd),
	/* the history database (SQLite in WAL mode) and journald's socket */
	SCMP_SYS(pwrite64), SCMP_SYS(ftruncate), SCMP_SYS(fallocate), SCMP_SYS(memfd_create),
	SCMP_SYS(fchown),
};

/* Callout modules start threads of their own (pthread_create). */
static const int allowed_threads[] = {
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_getaffinity),
};

static int seccomp_install(bool threads)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r = -ENOMEM;

	if (!ctx)
		return r;
	/* every thread, the history's writer too, not only the one loading it */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)))
		goto out;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (allowed[i] < 0)
			continue; /* not a syscall on this architecture */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0)))
			goto out;
	}
	for (size_t i = 0; threads && i < sizeof(allowed_threads) / sizeof(allowed_threads[0]); i++) {
		if (allowed_threads[i] < 0)
			continue;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_threads[i], 0)))
			goto out;
	}
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return r;
}

/* ---- dropping ------------------------------------------------------------------- */

void agd_privs_thread_limit(uint32_t keep, const char *who)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2] = { { 0 } };

	/* capset(2) on the calling thread only: libcap-ng's capng_apply()
	 * would also touch the bounding set, which needs CAP_SETPCAP */
	caps[0].effective = caps[0].permitted = keep;
	if (syscall(SYS_capset, &hdr, caps) == -1 && errno != EPERM)
		log_warn("%s: dropping capabilities: %s", who, strerror(errno));
}

int agd_privs_drop(struct agd *d)
{
	int r;

	if (d->dp.fw_installed && (r = fw_helper_start(d))) {
		log_err("firewall helper: %s", strerror(-r));
		return r;
	}
	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
		      CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, -1);
	if ((r = capng_apply(CAPNG_SELECT_BOTH))) {
		log_err("dropping capabilities failed (%d)", r);
		return -EPERM;
	}
	/* No exec of ours may gain privileges (setuid, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_err("no_new_privs: %s", strerror(errno));
		return -errno;
	}
	if (AGD_SANITIZED) {
		log_warn("sanitizer build: the seccomp allow-list is not installed");
		return 0;
	}
	if ((r = seccomp_install(d->cfg.callout_modules[0] != '\0'))) {
		log_err("seccomp: %s", strerror(-r));
		return r;
	}
	log_debug("privileges dropped: NET_ADMIN, SYS_PTRACE, DAC_READ_SEARCH; seccomp on");
	return 0;
}
