/*
 * proc_internal.h — the process cache's own structures, shared by
 * lib/linux/proc*.c and nothing else.  The cache:
 *
 * Entries live in one array allocated at open (config.max_procs), found by
 * pid through a chained hash, and sit on one of three lists:
 *   free    slots not in use;
 *   live    processes, most recently forked/exec'd/matched first — the
 *           order in which socket owners are searched;
 *   exited  processes that exited, oldest first, dropped after grace_ms.
 * When no slot is free the oldest exited entry goes, else the live entry
 * used least recently.
 *
 * Executable and command line strings are immutable and reference counted:
 * a fork shares its parent's until the child execs.  Nothing is allocated
 * per lookup; a string is allocated per exec (or per process read).
 *
 * Trust: with the connector or the exec monitor, an entry read or updated
 * by events is believed without touching /proc.  The exec monitor
 * (execmon.h) brings each exec's executable, path and identity, as the
 * kernel ran it: /proc is read only for the command line and never
 * overrides that executable.  Without events, or after events were lost
 * (ENOBUFS, or the monitor's ring ran full: the epoch is bumped), an entry
 * is re-validated on use: its start time (pid reuse) and executable (exec)
 * are read again.
 */
#ifndef ALEGATE_LINUX_PROC_INTERNAL_H
#define ALEGATE_LINUX_PROC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux/execmon.h"
#include "linux/proc.h"

/* Pids kept by one walk of /proc: the newest ones if there are more. */
#define PROC_WALK_MAX		32768
/* Events handled per ag_proc_receive() call, to keep the loop fair. */
#define PROC_RECV_BATCH		512
/* How long open waits for the connector to confirm the subscription. */
#define PROC_ACK_TIMEOUT_MS	250
/* Bytes of /proc/PID/status and /proc/PID/stat read. */
#define PROC_TEXT_MAX		4096
/*
 * Per process, the fd numbers its sockets were found at, each once, the most
 * recently found first: a program that keeps its last N connections (or N
 * threads with one each) reuses the fd found about N connections ago, so
 * N < PROC_SOCK_FDS is guessed right.
 */
#define PROC_SOCK_FDS		64
/* Newest of those tried by a guess, besides the one that was right last. */
#define PROC_GUESS_RECENT	6
/* A guess tries the whole list instead, for this many finds after one
 * ranked further back than PROC_GUESS_RECENT: a program with many
 * connections open at once (many threads, a pool) reuses fds from all
 * over it. */
#define PROC_FAR_FINDS		16
#define PROC_GUESSES		(PROC_SOCK_FDS + 4)
/* Recent processes whose fds are guessed before any full fd scan. */
#define PROC_GUESS_PROCS	4
/* Taking fds (ag_proc_take_socket()): processes asked, fds taken in all,
 * and pidfds kept open between lookups. */
#define PROC_TAKE_PROCS		2
#define PROC_TAKE_TRIES		6
/* Copies the closer thread may be behind by before fds are taken no more
 * (a close it waits in: FUSE's flush waits for its server), and copies of
 * files kept open meanwhile. */
#define PROC_CLOSER_MAX		128
#define PROC_HELD_MAX		64

struct ag__closer;
struct ag__closer *ag__closer_start(void);	/* NULL: no thread (closed inline) */
void ag__closer_stop(struct ag__closer *c);
bool ag__closer_behind(const struct ag__closer *c);
/* After this many takes in a row found nothing, one lookup in this many
 * takes fds (the others go straight to sock_diag), until one finds. */
#define PROC_TAKE_PROBE		8
#define PROC_PIDFDS_MAX		64
/* fd directories kept open (struct pent.fddir1), at most. */
#define PROC_FDDIRS_MAX		64
/* fds tracked to find the lowest free one during a full scan. */
#define PROC_FD_TRACK		4096
/* The name of the child that checks the exec monitor's pids are ours. */
#define PROC_PROBE_COMM		"ag-pid-probe"
/* PF_KTHREAD in /proc/PID/stat's flags. */
#define PROC_PF_KTHREAD		0x00200000u

#define NIL UINT32_MAX

/* Internal flag bits, never copied out. */
#define PF_NEED_READ	0x10000u	/* never read from /proc */
#define PF_NEED_DETAILS	0x20000u	/* exe read at exec; stat, cmdline, uids not yet */
#define PF_KEXE		0x40000u	/* exe and identity from the exec monitor */
#define PF_PUBLIC	0x0ffffu

enum { L_FREE, L_LIVE, L_EXITED };

struct pstr {
	uint32_t ref;
	uint32_t len;
	char s[];
};

struct pent {
	pid_t pid;
	pid_t ppid;
	uint32_t uid, euid;
	uint32_t flags;
	uint32_t epoch;		/* == p->epoch: trusted */
	uint32_t scan_id;	/* fds read by the current inode scan */
	uint64_t start_time;	/* 0: not read */
	uint64_t exe_ino;	/* with AG_PROC_EXE_ID */
	uint32_t exe_dev;
	char comm[AG_PROC_COMM_MAX];
	uint64_t exited_ns;
	struct pstr *exe, *cmdline;
	uint32_t hnext;
	uint32_t prev, next;
	/* Where its next socket probably is (see ag__proc_guess_list()). */
	int16_t sock_fd[PROC_SOCK_FDS];	/* fds found, each once, the most
					   recent first (above INT16_MAX:
					   not kept) */
	int32_t fd_free;	/* lowest free fd at the last full scan */
	int32_t fd_max;		/* highest fd at the last full scan */
	uint8_t sock_fd_n;	/* entries of sock_fd in use */
	uint8_t hit_rank;	/* the last find was the fd of this rank in
				   sock_fd, 1 the most recent (0: none) */
	uint8_t far_finds;	/* finds left that guess the whole list */
	uint8_t list;
	int32_t pidfd1;		/* its pidfd + 1, kept for taking fds; 0: none */
	int32_t fddir1;		/* its open /proc/PID/fd + 1, kept for reading
				   fd links (one name to look up, not three);
				   0: none */
};

struct plist {
	uint32_t head, tail, n;
};

struct islot {
	uint64_t inode;
	pid_t pid;
	int fd;
	bool known;	/* a lookup found it (it is in its process's list) */
};

struct ag_proc {
	struct ag_proc_config cfg;
	int proc_dfd;
	int nlfd;
	uint32_t portid;
	uint32_t epoch;
	uint32_t scan_id;
	uint64_t (*now)(void);
	struct pent *ents;
	uint32_t *buckets;
	uint32_t bmask;
	struct plist lists[3];
	struct islot *islots;
	uint32_t imask;
	pid_t *walk;
	unsigned npidfds;	/* pidfds kept in entries */
	unsigned nfddirs;	/* fd directories kept in entries */
	int taken_fds[PROC_TAKE_TRIES];	/* copies ag_proc_release_taken() closes */
	struct ag__closer *closer;	/* the thread that closes them; NULL: closed here */
	int held_fds[PROC_HELD_MAX];	/* copies of files kept open: the closer is stuck */
	unsigned nheld;
	unsigned ntaken;
	unsigned take_misses;	/* takes in a row that found nothing */
	unsigned take_skipped;	/* lookups that took no fd, to probe every Nth */
	bool take_off;		/* fds cannot be taken here (see take_socket) */
	struct ag_execmon *em;	/* the exec monitor, or NULL */
	bool probing;		/* ag__proc_em_same_pids() is looking for its child */
	pid_t probe_pid;	/* the pid the exec monitor gave it */
	uint64_t em_lost;	/* its lost count when last looked at */
	uint64_t ns_per_tick;	/* start times: kernel ns → /proc clock ticks */
	struct ag_proc_stats st;
	char em_why[160];	/* why the exec monitor is not in use */
	char mode[384];
};

/* ---- functions shared between the files ---------------------------------- */

/* proc_parse.c */
ssize_t ag__proc_read_at(int dfd, const char *name, char *buf, size_t size);
ssize_t ag__proc_read_exe(int dfd, const char *name, char *exe, size_t size,
			uint32_t *dev, uint64_t *ino, bool *have_id);
bool ag__proc_parse_u64(const char *s, const char *end, uint64_t *v,
		      const char **stop);

/* proc_cache.c */
struct pstr *ag__proc_pstr_get(struct pstr *ps);
void ag__proc_pstr_put(struct pstr *ps);
void ag__proc_pstr_set(struct pstr **slot, const char *s, size_t len);
void ag__proc_list_push_back(struct ag_proc *p, uint8_t which, uint32_t i);
uint32_t ag__proc_slot_of(const struct ag_proc *p, pid_t pid);
/* Close the pidfd and fd directory @e keeps. */
void ag__proc_drop_fds(struct ag_proc *p, struct pent *e);
void ag__proc_ent_release(struct ag_proc *p, uint32_t i);
void ag__proc_expire(struct ag_proc *p, uint64_t now);
uint32_t ag__proc_ent_alloc(struct ag_proc *p, pid_t pid);
void ag__proc_ent_reset(struct ag_proc *p, uint32_t i);
void ag__proc_move_first(struct ag_proc *p, uint32_t i);
void ag__proc_mark_exited(struct ag_proc *p, uint32_t i, uint64_t now);
int ag__proc_read(struct ag_proc *p, uint32_t i, bool light);
/* events from either source */
void ag__proc_on_fork(struct ag_proc *p, pid_t child, pid_t parent,
			 uint64_t now);
int ag__proc_read_exec_exe(struct ag_proc *p, uint32_t i);
void ag__proc_on_exit(struct ag_proc *p, pid_t pid, uint64_t now);

/* proc_connector.c */
int ag__proc_recv_one(struct ag_proc *p, uint32_t *ack, int *ack_err,
		    int *events);
int ag__proc_cn_send_op(struct ag_proc *p, uint32_t op, uint32_t filter,
		      bool with_filter, uint32_t ack);
int ag__proc_cn_open(struct ag_proc *p);

/* proc_execmon.c */
void ag__proc_on_kernel_event(const struct ag_exec_event *ev, void *arg);
int ag__proc_em_drain(struct ag_proc *p);
bool ag__proc_em_same_pids(struct ag_proc *p);
void ag__proc_em_mode(struct ag_proc *p);

/* proc_walk.c */
int ag__proc_walk_pids(struct ag_proc *p);

/* proc_sockets.c */
int ag__proc_guess_list(const struct pent *e, bool ring, int cand[PROC_GUESSES]);
void ag__proc_found_at(struct pent *e, int fd);
bool ag__proc_may_hold(const struct pent *e, uint32_t uid_hint);

#endif
