/*
 * execmon.h — the exec monitor: forks, execs and exits of every process on
 * the machine, from eBPF programs on the scheduler's tracepoints
 * (lib/linux/bpf/exec.bpf.c), read from a ring buffer.
 *
 * An exec names the file the kernel ran by its identity (device and inode,
 * as the kernel holds them) and by the path it was reached by in the
 * process's own mount tree, both taken at the exec itself: nothing has to
 * be read from /proc, and a process that exits at once is still named.
 *
 * Needs kernel BTF and the right to load tracing programs (root, or
 * CAP_BPF + CAP_PERFMON) at open; reading needs no privilege afterwards
 * (the ring is mapped into memory).  A handle is not thread-safe.
 */
#ifndef ALEGATE_LINUX_EXECMON_H
#define ALEGATE_LINUX_EXECMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/tuple.h"

enum ag_exec_type { AG_EXEC_FORK = 1, AG_EXEC_EXEC, AG_EXEC_EXIT };

/* ag_exec_event.flags */
#define AG_EXEC_PATH_CUT	0x1	/* path too deep or long: not given */
#define AG_EXEC_DELETED		0x2	/* the file had no name when it ran */
#define AG_EXEC_FUSE		0x4	/* the file is on a FUSE file system */

struct ag_exec_event {
	enum ag_exec_type type;
	pid_t pid;		/* thread group id */
	pid_t ppid;		/* the parent's */
	uint32_t uid, euid;
	uint64_t start_ns;	/* the process's start, CLOCK_BOOTTIME ns */
	/* exec only: */
	uint32_t dev;		/* kernel dev_t: major << 20 | minor */
	uint64_t ino;		/* 0: no file */
	uint32_t flags;		/* AG_EXEC_* */
	char comm[16];
	const char *path;	/* absolute; "" when not known; valid during
				   the callback only */
};

/* Called for each event, in the order the kernel made them. */
typedef void ag_execmon_fn(const struct ag_exec_event *ev, void *arg);

struct ag_execmon;

/*
 * ag_execmon_open() - load and attach the programs.
 * @fn, @arg: the callback ag_execmon_read() calls
 * @cgroup:   a cgroup v2 directory whose sockets' closes are watched for
 *            ag_execmon_sender() (the root: every socket); NULL or one that
 *            cannot be used: ag_execmon_sender() says -ENOSYS
 * @err:      receives one sentence on failure (may be NULL)
 *
 * Events start at once; the caller should read /proc after this to learn
 * the processes that were there before.
 * Return: a handle, or NULL with errno set and @err filled.
 */
struct ag_execmon *ag_execmon_open(ag_execmon_fn *fn, void *arg, const char *cgroup, char *err,
				   size_t errlen);

/* ag_execmon_close() - detach and free.  Accepts NULL. */
void ag_execmon_close(struct ag_execmon *m);

/*
 * ag_execmon_fd() - the ring's fd, for epoll with EPOLLET: the kernel
 * signals it only when a good part of the ring is in use (EM_WAKE_BYTES),
 * not at every event, so call ag_execmon_read() before each use of what
 * the events tell.  (Polled level-triggered it is readable whenever any
 * event waits, which would wake the caller for each one.)
 */
int ag_execmon_fd(const struct ag_execmon *m);

/*
 * ag_execmon_read() - call the callback for every event waiting, without
 * blocking and without a system call.
 * @lost: receives how many events the kernel could not record since open
 *        (the ring was full); when it grows, the caller must re-read /proc.
 * Return: events handled, or -errno.
 */
int ag_execmon_read(struct ag_execmon *m, uint64_t *lost);

/* Who sent a datagram NFQUEUE holds (ag_execmon_sender()). */
struct ag_exec_sender {
	pid_t pid;		/* thread group id */
	uint32_t uid;		/* the socket's owner */
	uint32_t dev;		/* its executable when it sent: kernel dev_t */
	uint64_t ino;		/* and inode; 0: none */
	uint64_t start_ns;	/* the process's start, CLOCK_BOOTTIME ns */
};

/*
 * ag_execmon_sender() - the process that last closed a UDP socket bound to
 * @t's source port (src is local) in the network namespace @netns_cookie:
 * who sent a datagram whose socket is gone.  Ask only when sock_diag no
 * longer finds the socket.
 * Return: 0; -ENOENT when none was recorded; -ENOSYS when the close hook
 * is not attached (see ag_execmon_open()).
 */
int ag_execmon_sender(struct ag_execmon *m, uint64_t netns_cookie, const struct ag_tuple *t,
		      struct ag_exec_sender *out);

/*
 * ag__execmon_path() - turn the walk's components, leaf first and each
 * NUL-terminated (@len bytes), into an absolute path in @out (@outlen
 * bytes).  Exposed for tests/unit.  Return: its length, or -1 if @in is
 * malformed or @out too small (then @out is "").
 */
int ag__execmon_path(const char *in, size_t len, char *out, size_t outlen);

#endif
