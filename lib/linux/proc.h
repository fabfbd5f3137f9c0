/*
 * proc.h — process cache: pid → executable, command line, uid, and socket
 * inode → pid.
 *
 * Fed by the proc connector (fork, exec, exit, uid change) and by /proc.
 * The executable and command line are read the moment an exec is reported,
 * so a process that connects and exits at once can still be named; exited
 * processes are kept for a grace time for lookups that come late.  Without
 * the connector (not root, or not in the initial pid and user namespaces)
 * the cache works from /proc alone and says so in ag_proc_mode().
 *
 * Every bound lives in struct ag_proc_config, with the defaults below.  A
 * handle is not thread-safe: the daemon's event loop owns it.
 */
#ifndef ALEGATE_LINUX_PROC_H
#define ALEGATE_LINUX_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define AG_PROC_EXE_MAX		4096	/* bytes of a path, with its NUL */
#define AG_PROC_CMDLINE_MAX	4096	/* bytes of a command line, with NUL */
#define AG_PROC_COMM_MAX	16	/* the kernel's TASK_COMM_LEN */

#define AG_PROC_DEFAULT_MAX_PROCS	8192
#define AG_PROC_DEFAULT_GRACE_MS	10000
#define AG_PROC_DEFAULT_SCAN_MAX_FDS	20000
#define AG_PROC_DEFAULT_SCAN_MAX_MS	50
#define AG_PROC_DEFAULT_RECENT		64
#define AG_PROC_DEFAULT_INODE_SLOTS	16384
#define AG_PROC_DEFAULT_RCVBUF		(4 << 20)

#define AG_UID_UNKNOWN ((uint32_t)-1)

struct ag_proc_config {
	unsigned max_procs;	/* processes cached, live and exited */
	unsigned grace_ms;	/* how long an exited process stays */
	unsigned scan_max_fds;	/* fd links read by one inode lookup */
	unsigned scan_max_ms;	/* time one inode lookup may take, roughly */
	unsigned recent;	/* most recent processes scanned before /proc */
	unsigned inode_slots;	/* inode → pid cache slots */
	unsigned rcvbuf;	/* connector socket buffer, bytes */
	int no_connector;	/* non-zero: /proc only */
	int exec_bpf;		/* non-zero: forks, execs and exits from the
				   exec monitor (execmon.h) where it loads */
	const char *bpf_cgroup;	/* cgroup v2 root for its socket-close hook
				   (ag_proc_sender()); NULL: /sys/fs/cgroup */
	const char *proc_root;	/* "/proc" unless a test says otherwise */
};

/* ag_proc_info.flags */
#define AG_PROC_EXITED		0x01	/* exited; kept for the grace time */
#define AG_PROC_EXE_DELETED	0x02	/* exe was " (deleted)": file replaced */
#define AG_PROC_NO_EXE		0x04	/* exe unknown: kernel thread, gone, denied */
#define AG_PROC_CMDLINE_CUT	0x08	/* cmdline truncated to the bound */
#define AG_PROC_KTHREAD		0x10	/* kernel thread */
#define AG_PROC_INHERITED	0x20	/* exe/cmdline copied from the parent at
					   fork; no exec of its own seen */
#define AG_PROC_EXE_ID		0x40	/* exe_dev/exe_ino: the file the kernel
					   ran (exe is only the name it had) */
#define AG_PROC_EXE_FUSE	0x80	/* the file is on FUSE (exec monitor
					   only): looking its path up would
					   wait on the file system's server */

struct ag_proc_info {
	pid_t pid;
	pid_t ppid;
	uint32_t uid;		/* real uid */
	uint32_t euid;		/* effective uid */
	uint64_t start_time;	/* clock ticks after boot (/proc/PID/stat 22) */
	uint32_t flags;		/* AG_PROC_* */
	uint32_t exe_dev;	/* with AG_PROC_EXE_ID: the executable's device */
	uint64_t exe_ino;	/* (kernel dev_t, major << 20 | minor) and inode */
	char comm[AG_PROC_COMM_MAX];	/* kernel's short name; often still
					   known when exe is not */
	char exe[AG_PROC_EXE_MAX];	/* "" when unknown */
	char cmdline[AG_PROC_CMDLINE_MAX]; /* arguments joined by spaces */
};

struct ag_proc_stats {
	uint64_t cached;	/* processes in the cache now */
	uint64_t exited;	/* of which exited, in their grace time */
	uint64_t ev_fork, ev_exec, ev_exit, ev_uid;
	uint64_t ev_lost;	/* connector overruns (ENOBUFS) */
	uint64_t exec_missed;	/* exec seen but the process was gone */
	uint64_t proc_reads;	/* processes read from /proc */
	uint64_t pid_reused;	/* cached entries replaced: new start time */
	uint64_t evicted;	/* entries dropped to stay under max_procs */
	uint64_t inode_hits, inode_misses;
	uint64_t scans;		/* fd directories listed by inode lookups */
	uint64_t fds_read;	/* fd links read by inode lookups */
	uint64_t scan_found_guess;	/* at an fd guessed from the past */
	uint64_t scan_found_recent, scan_found_walk, scan_not_found;
	uint64_t scan_budget;	/* scans that gave up at scan_max_fds */
	uint64_t take_tries;	/* fds taken by ag_proc_take_socket() */
	uint64_t take_found, take_missed;	/* its answers */
	uint64_t take_skipped;	/* lookups it skipped after many misses, or with the closer behind */
	uint64_t take_held;	/* copies of files kept open: the closer thread was behind */
	uint64_t ev_exec_kernel;	/* execs named by the exec monitor */
	uint64_t ev_kernel_lost;	/* events the exec monitor's ring lost */
};

struct ag_proc;

/*
 * ag_proc_open() - create a cache, subscribe to the proc connector and
 * read every process in /proc.
 * @cfg: bounds and options; NULL or zero fields take the defaults.
 *
 * Failing to use the connector is not an error: the cache then works from
 * /proc alone and ag_proc_mode() says why.  With cfg->exec_bpf, forks,
 * execs and exits come from the exec monitor instead (the connector then
 * only reports uid changes); where it cannot load, from the connector.  The connector socket stays in
 * the network namespace it was opened in (the connector only exists in the
 * initial one), so open the cache before entering another namespace.
 *
 * Return: a handle for ag_proc_close(), or NULL with errno set.
 */
struct ag_proc *ag_proc_open(const struct ag_proc_config *cfg);

/*
 * ag_proc_close() - unsubscribe and free everything.  Accepts NULL.
 */
void ag_proc_close(struct ag_proc *p);

/*
 * ag_proc_fd() - the fd for the caller's poll/epoll loop (readable: call
 * ag_proc_receive()): the connector socket, or with the exec monitor an
 * epoll fd over both.  Return: the fd, or -1 without one.
 */
int ag_proc_fd(const struct ag_proc *p);

/*
 * ag_proc_fd_edge() - whether ag_proc_fd() must be watched edge-triggered
 * (EPOLLET): true with the exec monitor, whose ring is read in full at
 * each ag_proc_receive() and signals only when it fills up.
 */
bool ag_proc_fd_edge(const struct ag_proc *p);

/*
 * ag_proc_exec_monitor() - whether forks, execs and exits come from the
 * exec monitor (cfg->exec_bpf and it could be loaded); ag_proc_mode() says
 * why not.
 */
bool ag_proc_exec_monitor(const struct ag_proc *p);

/*
 * ag_proc_mode() - one sentence for the log: whether the connector is in
 * use, and why not.  The string lives as long as the handle.
 */
const char *ag_proc_mode(const struct ag_proc *p);

/*
 * ag_proc_receive() - handle the events waiting, without blocking.  An
 * exec the exec monitor reports carries its executable; one the connector
 * reports is handled by reading /proc/PID/exe at once.
 *
 * Return: the number of events handled (0 if none); -ENOBUFS when the
 * kernel dropped events (the cache has been marked for re-validation and
 * /proc re-read; the socket keeps working); other -errno on failure.
 */
int ag_proc_receive(struct ag_proc *p);

/*
 * ag_proc_get() - what is known about a process.
 * @p:   handle
 * @pid: process (thread group) id
 * @out: filled on success; strings are copied, the caller owns @out
 *
 * A process not cached, or whose cached data may be stale, is read from
 * /proc now.  An exited process is answered for the grace time.
 * Return: 0, or -ENOENT when the process is neither alive nor cached.
 */
int ag_proc_get(struct ag_proc *p, pid_t pid, struct ag_proc_info *out);

/*
 * ag_proc_find_inode() - the process that holds a socket.
 * @p:        handle
 * @inode:    socket inode (sock_diag)
 * @uid_hint: the socket's uid, to scan that user's processes first, or
 *            AG_UID_UNKNOWN
 * @pid:      receives the process id
 *
 * Tries the inode cache, then the fds where the most recent processes'
 * next socket probably is, then every fd of the most recent processes,
 * then the rest of /proc from the newest pid down, reading at most
 * scan_max_fds fd links in all and stopping after about scan_max_ms (a
 * single /proc read of a process the scheduler starves can take longer).
 * Threads share their leader's fd table, so only leaders are read.
 *
 * Return: 0; -ENOENT when no process holds it; -EAGAIN when the scan
 * budget (fds or time) ran out first: asking again later may succeed.
 */
int ag_proc_find_inode(struct ag_proc *p, uint64_t inode, uint32_t uid_hint,
		       pid_t *pid);

/* ag_proc_take_socket()'s question: is the socket @fd the one wanted? */
typedef bool ag_proc_socket_fn(int fd, void *arg);

struct ag_proc_taken {
	pid_t pid;		/* the process that holds it */
	uint64_t inode;		/* the socket's inode; 0: not read (uid_hint given) */
	uint32_t uid;		/* its owner (the creator's fsuid), or uid_hint */
};

/*
 * ag_proc_take_socket() - the process that holds a socket, found without
 * knowing its inode.
 * @p:        handle
 * @uid_hint: the socket's uid, or AG_UID_UNKNOWN (then each fd is
 *            fstat()ed: its inode and uid are read, and a file that is no
 *            socket is not shown to @is_it)
 * @is_it:    asked about each fd tried, with a copy of it
 * @arg:      for @is_it
 * @out:      filled on success
 *
 * The fds where ag_proc_find_inode() would guess first, of the two most
 * recent processes of that uid, are taken with pidfd_getfd(2) (at most six
 * in all) and every socket among them is shown to @is_it, which tells the
 * flow's socket by its addresses.  It saves a sock_diag request and a
 * readlink() of /proc when the guess is right; when it is not, the caller
 * goes on the usual way.  After eight calls in a row found nothing, only
 * every eighth call takes fds (the others return -ENOENT at once) until
 * one finds again.  Needs Linux 5.6 and the right to ptrace the process
 * (CAP_SYS_PTRACE for other users' processes).  Always -ENOSYS
 * with a proc_root other than "/proc": the pids would not be the kernel's.
 *
 * The copies stay open until ag_proc_release_taken(), the next call or
 * ag_proc_close(), so that closing them is not in the way of a verdict.
 *
 * Return: 0; -ENOENT when none of the guesses was it; -ENOSYS when fds
 * cannot be taken here (then never again for this handle).
 */
int ag_proc_take_socket(struct ag_proc *p, uint32_t uid_hint,
			ag_proc_socket_fn *is_it, void *arg,
			struct ag_proc_taken *out);

/*
 * ag_proc_sender() - the process that sent UDP datagram @t (src is local;
 * held by NFQUEUE) in the network namespace @netns_cookie, as the exec
 * monitor recorded it when the datagram was queued: named even when the
 * process exited and closed its socket before anyone looked.  @out's
 * identity (AG_PROC_EXE_ID) is that of the executable that sent it.
 * Return: 0; -ENOENT not recorded; -ESTALE the pid names another process
 * now; -ENOSYS without the exec monitor's queue hook.
 */
struct ag_tuple;
int ag_proc_sender(struct ag_proc *p, uint64_t netns_cookie, const struct ag_tuple *t,
		   struct ag_proc_info *out);

/*
 * ag_proc_release_taken() - close the fd copies the last
 * ag_proc_take_socket() left open (at most six).
 */
void ag_proc_release_taken(struct ag_proc *p);

/*
 * ag_proc_rescan() - read /proc again: new processes are added, cached
 * ones re-validated.  The cache does this itself after lost events.
 * Return: 0 or -errno.
 */
int ag_proc_rescan(struct ag_proc *p);

/*
 * ag_proc_get_stats() - copy the counters into @st.
 */
void ag_proc_get_stats(const struct ag_proc *p, struct ag_proc_stats *st);

/* ---- internal, exposed for tests/unit/test_proc.c ----------------------- */

/*
 * ag__proc_parse_stat() - comm, ppid, flags and start time from
 * /proc/PID/stat text of @len bytes (comm may hold spaces and parentheses).
 * @comm gets at most @commlen - 1 bytes and a NUL (@commlen 0: not wanted).
 * Return: 0 or -EBADMSG.
 */
int ag__proc_parse_stat(const char *buf, size_t len, char *comm,
			size_t commlen, pid_t *ppid, unsigned *kflags,
			uint64_t *start_time);

/*
 * ag__proc_parse_uids() - real and effective uid from /proc/PID/status.
 * Return: 0 or -EBADMSG.
 */
int ag__proc_parse_uids(const char *buf, size_t len, uint32_t *uid,
			uint32_t *euid);

/*
 * ag__proc_join_cmdline() - NUL-separated arguments (@len bytes) joined by
 * single spaces into @out (@outlen bytes, always NUL-terminated).
 * Return: 1 if it had to cut, else 0.
 */
int ag__proc_join_cmdline(const char *buf, size_t len, char *out,
			  size_t outlen);

/*
 * ag__proc_strip_deleted() - remove a trailing " (deleted)" from @path
 * (NUL-terminated, changed in place).  Return: 1 if removed, else 0.
 */
int ag__proc_strip_deleted(char *path);

/*
 * ag__proc_set_clock() - replace the monotonic clock (nanoseconds) the
 * grace time is measured with, so tests can move time.  NULL restores it.
 */
void ag__proc_set_clock(struct ag_proc *p, uint64_t (*now_ns)(void));

/*
 * ag__proc_event() - feed one event as if the connector sent it.
 * @what: PROC_EVENT_FORK (pid = child, ppid = parent), _EXEC or _EXIT
 * Return: 0 or -errno.
 */
int ag__proc_event(struct ag_proc *p, uint32_t what, pid_t pid, pid_t ppid);

/*
 * ag__proc_kernel_event() - feed one event as if the exec monitor sent it
 * (execmon.h's struct ag_exec_event).
 */
struct ag_exec_event;
void ag__proc_kernel_event(struct ag_proc *p, const struct ag_exec_event *ev);

#endif
