/*
 * proc.c — the process cache behind attribution.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "base/clock.h"
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
 * Per process, the fd numbers its sockets were found at, newest last: a
 * program that keeps its last N connections reuses the fd freed N + 1
 * connections ago, so N < PROC_SOCK_FDS is guessed right.
 */
#define PROC_SOCK_FDS		32
/* Newest of those tried by a guess, besides the one that was right last. */
#define PROC_GUESS_RECENT	6
#define PROC_GUESSES		(PROC_GUESS_RECENT + 4)
/* Recent processes whose fds are guessed before any full fd scan. */
#define PROC_GUESS_PROCS	4
/* Taking fds (ag_proc_take_socket()): processes asked, fds taken in all,
 * and pidfds kept open between lookups. */
#define PROC_TAKE_PROCS		2
#define PROC_TAKE_TRIES		6
#define PROC_PIDFDS_MAX		64
/* fds tracked to find the lowest free one during a full scan. */
#define PROC_FD_TRACK		4096
/* The name of the child that checks the exec monitor's pids are ours. */
#define PROC_PROBE_COMM		"ag-pid-probe"
/* PF_KTHREAD in /proc/PID/stat's flags. */
#define PROC_PF_KTHREAD		0x00200000u

/*
 * The kernel's struct proc_input (6.6+, absent from older headers): a
 * LISTEN that says which events this socket wants.
 */
struct cn_proc_input {
	uint32_t mcast_op;
	uint32_t event_type;
};

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
	/* Where its next socket probably is (see guess_fds()). */
	int32_t sock_fd[PROC_SOCK_FDS];	/* ring of fds found, newest last */
	int32_t fd_free;	/* lowest free fd at the last full scan */
	int32_t fd_max;		/* highest fd at the last full scan */
	uint8_t sock_fd_next;	/* ring: next slot written */
	uint8_t sock_fd_n;	/* ring: entries in use */
	uint8_t hit_dist;	/* the last find was the fd found this many
				   finds before (0: none) */
	uint8_t list;
	int32_t pidfd1;		/* its pidfd + 1, kept for taking fds; 0: none */
};

struct plist {
	uint32_t head, tail, n;
};

struct islot {
	uint64_t inode;
	pid_t pid;
	int fd;
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
	int taken_fds[PROC_TAKE_TRIES];	/* copies ag_proc_release_taken() closes */
	unsigned ntaken;
	bool take_off;		/* fds cannot be taken here (see take_socket) */
	struct ag_execmon *em;	/* the exec monitor, or NULL */
	bool probing;		/* em_same_pids() is looking for its child */
	pid_t probe_pid;	/* the pid the exec monitor gave it */
	uint64_t em_lost;	/* its lost count when last looked at */
	uint64_t ns_per_tick;	/* start times: kernel ns → /proc clock ticks */
	struct ag_proc_stats st;
	char em_why[160];	/* why the exec monitor is not in use */
	char mode[384];
};

/* ---- small helpers ------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t v = 1;

	while (v < n && v < (1u << 30))
		v <<= 1;
	return v;
}

static struct pstr *pstr_new(const char *s, size_t len)
{
	struct pstr *ps = malloc(sizeof(*ps) + len + 1);

	if (!ps)
		return NULL;
	ps->ref = 1;
	ps->len = (uint32_t)len;
	memcpy(ps->s, s, len);
	ps->s[len] = '\0';
	return ps;
}

static struct pstr *pstr_get(struct pstr *ps)
{
	if (ps)
		ps->ref++;
	return ps;
}

static void pstr_put(struct pstr *ps)
{
	if (ps && --ps->ref == 0)
		free(ps);
}

/* Replace *@slot by a new string unless it already holds the same text. */
static void pstr_set(struct pstr **slot, const char *s, size_t len)
{
	struct pstr *ps;

	if (*slot && (*slot)->len == len && memcmp((*slot)->s, s, len) == 0)
		return;
	ps = pstr_new(s, len);
	/* Out of memory: the entry keeps no string and says NO_EXE later. */
	pstr_put(*slot);
	*slot = ps;
}

static ssize_t read_at(int dfd, const char *name, char *buf, size_t size)
{
	size_t got = 0;
	int fd, err;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

/* The kernel's dev_t, as i_sb->s_dev holds it and the exec monitor reports. */
static uint32_t kernel_dev(dev_t d)
{
	return (uint32_t)((major(d) << 20) | (minor(d) & 0xfffff));
}

/*
 * The executable's name and identity from the "exe" link @name under
 * @dfd: readlink gives the name, stat through the link the file.  The
 * identity is believed only if a stat before and one after the readlink
 * agree (an exec in between would pair one file's name with another's
 * identity).  Return: the name's length, or -errno; *@have_id says whether
 * *@dev and *@ino were set.
 */
static ssize_t read_exe(int dfd, const char *name, char *exe, size_t size,
			uint32_t *dev, uint64_t *ino, bool *have_id)
{
	/* DONT_SYNC: a file on FUSE answers from its cache; asking its
	 * server would let whoever runs it stall us. */
	const int flags = AT_STATX_DONT_SYNC;
	struct statx a, b;
	bool before = statx(dfd, name, flags, STATX_INO, &a) == 0;
	ssize_t n = readlinkat(dfd, name, exe, size - 1);

	*have_id = false;
	if (n == -1)
		return -errno;
	exe[n] = '\0';
	if (before && statx(dfd, name, flags, STATX_INO, &b) == 0 &&
	    a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor &&
	    a.stx_ino == b.stx_ino) {
		*dev = kernel_dev(makedev(a.stx_dev_major, a.stx_dev_minor));
		*ino = (uint64_t)a.stx_ino;
		*have_id = true;
	}
	return n;
}

static bool parse_u64(const char *s, const char *end, uint64_t *v,
		      const char **stop)
{
	uint64_t x = 0;
	const char *q = s;

	while (q < end && *q >= '0' && *q <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*q - '0');
		q++;
	}
	if (q == s)
		return false;
	*v = x;
	if (stop)
		*stop = q;
	return true;
}

/* ---- parsers (exposed for unit tests) ------------------------------------ */

int ag__proc_parse_stat(const char *buf, size_t len, char *comm,
			size_t commlen, pid_t *ppid, unsigned *kflags,
			uint64_t *start_time)
{
	const char *end = buf + len, *open, *s = NULL, *q;
	uint64_t v;
	int field = 3;

	/* comm is free text: it runs from the first '(' to the last ')'. */
	open = memchr(buf, '(', len);
	for (q = buf; q < end; q++)
		if (*q == ')')
			s = q;
	if (!open || !s || s < open || s + 2 >= end || s[1] != ' ')
		return -EBADMSG;
	if (commlen) {
		size_t n = (size_t)(s - open - 1);

		if (n >= commlen)
			n = commlen - 1;
		memcpy(comm, open + 1, n);
		comm[n] = '\0';
	}
	s += 2;
	while (s < end && field <= 22) {
		q = memchr(s, ' ', (size_t)(end - s));
		if (!q)
			q = end;
		if (field == 4 || field == 9 || field == 22) {
			const char *stop;

			if (!parse_u64(s, q, &v, &stop) || stop != q)
				return -EBADMSG;
			if (field == 4) {
				if (v > INT32_MAX)
					return -EBADMSG;
				*ppid = (pid_t)v;
			} else if (field == 9) {
				*kflags = (unsigned)v;
			} else {
				*start_time = v;
				return 0;
			}
		}
		s = q + 1;
		field++;
	}
	return -EBADMSG;
}

int ag__proc_parse_uids(const char *buf, size_t len, uint32_t *uid,
			uint32_t *euid)
{
	const char *end = buf + len, *s = buf;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl)
			nl = end;
		if (nl - s > 4 && memcmp(s, "Uid:", 4) == 0) {
			uint64_t r, e;
			const char *q = s + 4;

			while (q < nl && (*q == '\t' || *q == ' '))
				q++;
			if (!parse_u64(q, nl, &r, &q))
				return -EBADMSG;
			while (q < nl && (*q == '\t' || *q == ' '))
				q++;
			if (!parse_u64(q, nl, &e, NULL))
				return -EBADMSG;
			if (r > UINT32_MAX || e > UINT32_MAX)
				return -EBADMSG;
			*uid = (uint32_t)r;
			*euid = (uint32_t)e;
			return 0;
		}
		s = nl + 1;
	}
	return -EBADMSG;
}

/* An argument a shell reads back as it is, without quotes. */
static int arg_plain(const char *a, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr("_@%+=:,./-", c)) || c >= 0x80))
			return 0;
	}
	return 1;
}

/*
 * Join the NUL-separated arguments with spaces, each one that a shell
 * would split or expand in single quotes ('it'\''s'): "sh -c 'a b'" is
 * one argument after -c, not two.
 */
int ag__proc_join_cmdline(const char *buf, size_t len, char *out,
			  size_t outlen)
{
	size_t n = 0, i = 0;

	if (outlen == 0)
		return len > 0;
	/* Trailing NULs end the last argument; they are not separators. */
	while (len > 0 && buf[len - 1] == '\0')
		len--;
#define PUT(ch) do { if (n + 1 >= outlen) goto cut; out[n++] = (ch); } while (0)
	while (i < len) {
		const char *a = buf + i;
		const char *end = memchr(a, '\0', len - i);
		size_t alen = end ? (size_t)(end - a) : len - i;

		if (i)
			PUT(' ');
		if (arg_plain(a, alen)) {
			for (size_t k = 0; k < alen; k++)
				PUT(a[k]);
		} else {
			PUT('\'');
			for (size_t k = 0; k < alen; k++) {
				if (a[k] == '\'') {
					PUT('\'');
					PUT('\\');
					PUT('\'');
				}
				PUT(a[k]);
			}
			PUT('\'');
		}
		i += alen + 1;
	}
#undef PUT
	out[n] = '\0';
	return 0;
cut:
	out[n] = '\0';
	return 1;
}

int ag__proc_strip_deleted(char *path)
{
	static const char sfx[] = " (deleted)";
	size_t n = strlen(path), k = sizeof(sfx) - 1;

	if (n > k && memcmp(path + n - k, sfx, k) == 0) {
		path[n - k] = '\0';
		return 1;
	}
	return 0;
}

/* ---- lists and hash ------------------------------------------------------ */

static void list_del(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];
	struct plist *l = &p->lists[e->list];

	if (e->prev != NIL)
		p->ents[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		p->ents[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	l->n--;
	e->prev = e->next = NIL;
}

static void list_push_front(struct ag_proc *p, uint8_t which, uint32_t i)
{
	struct pent *e = &p->ents[i];
	struct plist *l = &p->lists[which];

	e->list = which;
	e->prev = NIL;
	e->next = l->head;
	if (l->head != NIL)
		p->ents[l->head].prev = i;
	else
		l->tail = i;
	l->head = i;
	l->n++;
}

static void list_push_back(struct ag_proc *p, uint8_t which, uint32_t i)
{
	struct pent *e = &p->ents[i];
	struct plist *l = &p->lists[which];

	e->list = which;
	e->next = NIL;
	e->prev = l->tail;
	if (l->tail != NIL)
		p->ents[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->n++;
}

static uint32_t bucket_of(const struct ag_proc *p, pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) & p->bmask;
}

static uint32_t find(const struct ag_proc *p, pid_t pid)
{
	uint32_t i = p->buckets[bucket_of(p, pid)];

	while (i != NIL && p->ents[i].pid != pid)
		i = p->ents[i].hnext;
	return i;
}

static void hash_del(struct ag_proc *p, uint32_t i)
{
	uint32_t *link = &p->buckets[bucket_of(p, p->ents[i].pid)];

	while (*link != NIL && *link != i)
		link = &p->ents[*link].hnext;
	if (*link == i)
		*link = p->ents[i].hnext;
	p->ents[i].hnext = NIL;
}

static void drop_pidfd(struct ag_proc *p, struct pent *e)
{
	if (e->pidfd1) {
		close(e->pidfd1 - 1);
		e->pidfd1 = 0;
		p->npidfds--;
	}
}

static void ent_release(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	drop_pidfd(p, e);
	hash_del(p, i);
	list_del(p, i);
	pstr_put(e->exe);
	pstr_put(e->cmdline);
	memset(e, 0, sizeof(*e));
	e->hnext = e->prev = e->next = NIL;
	list_push_back(p, L_FREE, i);
}

/* Drop exited processes whose grace time is over. */
static void expire(struct ag_proc *p, uint64_t now)
{
	uint64_t grace = (uint64_t)p->cfg.grace_ms * 1000000u;

	while (p->lists[L_EXITED].head != NIL) {
		uint32_t i = p->lists[L_EXITED].head;

		if (now - p->ents[i].exited_ns < grace)
			break;
		ent_release(p, i);
	}
}

static void forget_fds(struct pent *e)
{
	e->fd_free = e->fd_max = -1;
	e->sock_fd_next = e->sock_fd_n = e->hit_dist = 0;
}

/* A slot for @pid, which must not be in the hash yet. */
static uint32_t ent_alloc(struct ag_proc *p, pid_t pid)
{
	uint32_t i, b;
	struct pent *e;

	if (p->lists[L_FREE].head == NIL) {
		i = p->lists[L_EXITED].head;
		if (i == NIL)
			i = p->lists[L_LIVE].tail;
		ent_release(p, i);
		p->st.evicted++;
	}
	i = p->lists[L_FREE].head;
	list_del(p, i);
	e = &p->ents[i];
	e->pid = pid;
	e->ppid = 0;
	e->uid = e->euid = AG_UID_UNKNOWN;
	forget_fds(e);
	b = bucket_of(p, pid);
	e->hnext = p->buckets[b];
	p->buckets[b] = i;
	list_push_front(p, L_LIVE, i);
	return i;
}

/* Forget what an entry knew: the pid now names another process. */
static void ent_reset(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	pstr_put(e->exe);
	pstr_put(e->cmdline);
	e->exe = e->cmdline = NULL;
	e->ppid = 0;
	e->uid = e->euid = AG_UID_UNKNOWN;
	e->flags = 0;
	e->start_time = 0;
	e->comm[0] = '\0';
	e->exited_ns = 0;
	forget_fds(e);
	list_del(p, i);
	list_push_front(p, L_LIVE, i);
}

/* A live process did something: it goes first in the search order. */
static void touch(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	if (e->list == L_LIVE && p->lists[L_LIVE].head != i) {
		list_del(p, i);
		list_push_front(p, L_LIVE, i);
	}
}

static void mark_exited(struct ag_proc *p, uint32_t i, uint64_t now)
{
	struct pent *e = &p->ents[i];

	if (e->list != L_LIVE)
		return;
	list_del(p, i);
	drop_pidfd(p, e);
	e->flags |= AG_PROC_EXITED;
	e->exited_ns = now;
	list_push_back(p, L_EXITED, i);
}

/* ---- reading /proc/PID --------------------------------------------------- */

/*
 * Read a process into entry @i.  @light: only check start time and exe,
 * and read the rest only if either changed.  Through one directory fd, so
 * every file read belongs to the same process even if the pid is reused
 * meanwhile (the reads then fail).
 * Return: 0, or -ENOENT when the process is gone.
 */
static int read_proc(struct ag_proc *p, uint32_t i, bool light)
{
	struct pent *e = &p->ents[i];
	char name[24], text[PROC_TEXT_MAX], exe[AG_PROC_EXE_MAX];
	char comm[AG_PROC_COMM_MAX];
	uint64_t start = 0, xino = 0;
	uint32_t xdev = 0;
	unsigned kflags = 0;
	pid_t ppid = 0;
	ssize_t n = -1;
	int dfd;
	bool same, xid = false;
	/* What the exec monitor said of this process's image stands: /proc
	 * gives only a name, which another mount namespace can fake. */
	bool keep = (e->flags & PF_KEXE) && e->epoch == p->epoch;

	snprintf(name, sizeof(name), "%d", (int)e->pid);
	dfd = openat(p->proc_dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	p->st.proc_reads++;

	/* The executable first: it is what a short-lived process loses first. */
	if (!keep)
		n = read_exe(dfd, "exe", exe, sizeof(exe), &xdev, &xino, &xid);
	if (n < 0)
		exe[0] = '\0';

	n = read_at(dfd, "stat", text, sizeof(text));
	if (n <= 0 || ag__proc_parse_stat(text, (size_t)n, comm, sizeof(comm),
					  &ppid, &kflags, &start) < 0) {
		close(dfd);
		return -ENOENT;
	}
	if (e->start_time && e->start_time != start) {
		p->st.pid_reused++;
		ent_reset(p, i);
		light = false;
		if (keep) {
			keep = false;
			n = read_exe(dfd, "exe", exe, sizeof(exe), &xdev, &xino, &xid);
			if (n < 0)
				exe[0] = '\0';
		}
	}
	same = (keep || (e->exe && strcmp(e->exe->s, exe) == 0 &&
			 (e->flags & AG_PROC_EXE_ID) && xid && e->exe_dev == xdev &&
			 e->exe_ino == xino)) &&
	       !(e->flags & (PF_NEED_READ | PF_NEED_DETAILS | AG_PROC_INHERITED));
	e->start_time = start;
	e->ppid = ppid;
	e->epoch = p->epoch;
	memcpy(e->comm, comm, sizeof(e->comm));
	if (light && same && e->start_time) {
		close(dfd);
		return 0;
	}

	e->flags &= ~(PF_NEED_READ | PF_NEED_DETAILS | AG_PROC_INHERITED |
		      AG_PROC_KTHREAD | AG_PROC_CMDLINE_CUT);
	if (kflags & PROC_PF_KTHREAD)
		e->flags |= AG_PROC_KTHREAD;
	if (!keep) {
		e->flags &= ~(AG_PROC_EXE_DELETED | AG_PROC_NO_EXE | AG_PROC_EXE_ID |
			      AG_PROC_EXE_FUSE | PF_KEXE);
		if (exe[0]) {
			if (ag__proc_strip_deleted(exe))
				e->flags |= AG_PROC_EXE_DELETED;
			pstr_set(&e->exe, exe, strlen(exe));
		} else {
			pstr_put(e->exe);
			e->exe = NULL;
		}
		if (!e->exe)
			e->flags |= AG_PROC_NO_EXE;
		if (e->exe && xid) {
			e->exe_dev = xdev;
			e->exe_ino = xino;
			e->flags |= AG_PROC_EXE_ID;
		}
	}

	n = read_at(dfd, "cmdline", text, sizeof(text));
	if (n > 0) {
		char line[AG_PROC_CMDLINE_MAX];

		if (ag__proc_join_cmdline(text, (size_t)n, line, sizeof(line)) ||
		    (size_t)n == sizeof(text))
			e->flags |= AG_PROC_CMDLINE_CUT;
		pstr_set(&e->cmdline, line, strlen(line));
	} else {
		pstr_put(e->cmdline);
		e->cmdline = NULL;
	}

	n = read_at(dfd, "status", text, sizeof(text));
	if (n > 0)
		(void)ag__proc_parse_uids(text, (size_t)n, &e->uid, &e->euid);
	close(dfd);
	return 0;
}

/* ---- events -------------------------------------------------------------- */

static void on_proc_fork(struct ag_proc *p, pid_t child, pid_t parent,
			 uint64_t now)
{
	uint32_t i = find(p, child), pi;
	struct pent *e, *pe;

	p->st.ev_fork++;
	if (i != NIL) {
		/* A fork names a new process: whatever had this pid is gone. */
		if (p->ents[i].list == L_LIVE)
			p->st.pid_reused++;
		ent_reset(p, i);
	} else {
		i = ent_alloc(p, child);
	}
	e = &p->ents[i];
	e->ppid = parent;
	e->epoch = p->epoch;
	pi = find(p, parent);
	if (pi == NIL || (p->ents[pi].flags & PF_NEED_READ)) {
		e->flags = PF_NEED_READ;
		return;
	}
	pe = &p->ents[pi];
	e->uid = pe->uid;
	e->euid = pe->euid;
	memcpy(e->comm, pe->comm, sizeof(e->comm));
	e->exe = pstr_get(pe->exe);
	e->cmdline = pstr_get(pe->cmdline);
	/* A fork runs its parent's image: the same file, the same identity. */
	e->exe_dev = pe->exe_dev;
	e->exe_ino = pe->exe_ino;
	e->flags = (pe->flags & (AG_PROC_EXE_DELETED | AG_PROC_NO_EXE | AG_PROC_EXE_ID |
				 AG_PROC_EXE_FUSE | PF_KEXE | PF_NEED_DETAILS |
				 AG_PROC_CMDLINE_CUT | AG_PROC_KTHREAD)) |
		   AG_PROC_INHERITED;
}

/*
 * At exec only the executable is read (one readlink): it is what a process
 * that exits at once loses first, and what rules match.  The rest (stat,
 * cmdline, uids) waits for a lookup that needs it: every exec on the
 * machine comes through here, and a full read costs several /proc files.
 */
static int read_exec_exe(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];
	char name[32], exe[AG_PROC_EXE_MAX];
	uint64_t ino = 0;
	uint32_t dev = 0;
	bool have_id;
	ssize_t n;

	snprintf(name, sizeof(name), "%d/exe", (int)e->pid);
	n = read_exe(p->proc_dfd, name, exe, sizeof(exe), &dev, &ino, &have_id);
	if (n < 0)
		return -ENOENT;
	p->st.proc_reads++;
	e->flags &= ~(PF_NEED_READ | AG_PROC_INHERITED | AG_PROC_EXE_DELETED | AG_PROC_NO_EXE |
		      AG_PROC_EXE_ID | AG_PROC_EXE_FUSE | PF_KEXE);
	if (ag__proc_strip_deleted(exe))
		e->flags |= AG_PROC_EXE_DELETED;
	if (have_id) {
		e->exe_dev = dev;
		e->exe_ino = ino;
		e->flags |= AG_PROC_EXE_ID;
	}
	pstr_set(&e->exe, exe, strlen(exe));
	pstr_put(e->cmdline);
	e->cmdline = NULL;
	e->start_time = 0;
	e->flags |= PF_NEED_DETAILS;
	e->epoch = p->epoch;
	return 0;
}

static void on_proc_exec(struct ag_proc *p, pid_t pid, uint64_t now)
{
	uint32_t i = find(p, pid);

	p->st.ev_exec++;
	if (i == NIL) {
		i = ent_alloc(p, pid);
	} else if (p->ents[i].list == L_EXITED) {
		ent_reset(p, i);
	}
	touch(p, i);
	/* The new image is all that matters now. */
	p->ents[i].flags |= PF_NEED_READ;
	if (read_exec_exe(p, i) < 0) {
		struct pent *e = &p->ents[i];

		/* Read too late: the exiting process had no image left. */
		p->st.exec_missed++;
		pstr_put(e->exe);
		pstr_put(e->cmdline);
		e->exe = e->cmdline = NULL;
		e->flags = (e->flags & ~(AG_PROC_INHERITED | PF_NEED_READ | AG_PROC_EXE_ID |
					 PF_KEXE)) |
			   AG_PROC_NO_EXE;
		e->epoch = p->epoch;
	}
}

static void on_proc_exit(struct ag_proc *p, pid_t pid, uint64_t now)
{
	uint32_t i = find(p, pid);

	p->st.ev_exit++;
	if (i != NIL)
		mark_exited(p, i, now);
}

static void on_proc_uid(struct ag_proc *p, pid_t pid, uint32_t ruid,
			uint32_t euid)
{
	uint32_t i = find(p, pid);

	p->st.ev_uid++;
	if (i != NIL && p->ents[i].list == L_LIVE) {
		p->ents[i].uid = ruid;
		p->ents[i].euid = euid;
	}
}

/*
 * An exec as the exec monitor saw it: the path and identity of what the
 * kernel ran, read at the exec itself, so even a process that has already
 * exited is named.  Only the command line is left for /proc.
 */
static void on_kernel_exec(struct ag_proc *p, const struct ag_exec_event *ev)
{
	uint32_t i = find(p, ev->pid);
	uint64_t start = ev->start_ns / p->ns_per_tick;
	struct pent *e;

	p->st.ev_exec++;
	p->st.ev_exec_kernel++;
	if (i == NIL)
		i = ent_alloc(p, ev->pid);
	else if (p->ents[i].list == L_EXITED ||
		 (p->ents[i].start_time && p->ents[i].start_time != start))
		ent_reset(p, i);
	touch(p, i);
	e = &p->ents[i];
	e->ppid = ev->ppid;
	e->uid = ev->uid;
	e->euid = ev->euid;
	e->start_time = start;
	e->epoch = p->epoch;
	memcpy(e->comm, ev->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = '\0';
	pstr_put(e->cmdline);
	e->cmdline = NULL;
	e->flags &= ~(PF_NEED_READ | AG_PROC_INHERITED | AG_PROC_EXE_DELETED | AG_PROC_NO_EXE |
		      AG_PROC_EXE_ID | AG_PROC_EXE_FUSE | PF_KEXE | AG_PROC_CMDLINE_CUT);
	e->flags |= PF_NEED_DETAILS;
	if (ev->flags & AG_EXEC_FUSE)
		e->flags |= AG_PROC_EXE_FUSE;
	if (!ev->ino) {
		pstr_put(e->exe);
		e->exe = NULL;
		e->flags |= AG_PROC_NO_EXE;
		return;
	}
	if (!ev->path[0]) {
		/* Deeper than the walk goes: the name from /proc, if still there. */
		if (read_exec_exe(p, i) < 0) {
			pstr_put(e->exe);
			e->exe = NULL;
			e->flags |= AG_PROC_NO_EXE;
			return;
		}
		e->start_time = start;
	} else {
		pstr_set(&e->exe, ev->path, strlen(ev->path));
		if (!e->exe) {
			e->flags |= AG_PROC_NO_EXE;
			return;
		}
		if (ev->flags & AG_EXEC_DELETED)
			e->flags |= AG_PROC_EXE_DELETED;
	}
	e->exe_dev = ev->dev;
	e->exe_ino = ev->ino;
	e->flags |= AG_PROC_EXE_ID | PF_KEXE;
}

static void on_kernel_event(const struct ag_exec_event *ev, void *arg)
{
	struct ag_proc *p = arg;
	uint64_t now = p->now();
	uint32_t i;

	if (p->probing && ev->type == AG_EXEC_EXIT && !strcmp(ev->comm, PROC_PROBE_COMM))
		p->probe_pid = ev->pid;

	switch (ev->type) {
	case AG_EXEC_FORK:
		on_proc_fork(p, ev->pid, ev->ppid, now);
		i = find(p, ev->pid);
		if (i != NIL)
			p->ents[i].start_time = ev->start_ns / p->ns_per_tick;
		break;
	case AG_EXEC_EXEC:
		on_kernel_exec(p, ev);
		break;
	case AG_EXEC_EXIT:
		on_proc_exit(p, ev->pid, now);
		break;
	}
}

/*
 * Read what the exec monitor has waiting (no system call).  If its ring
 * ran full, what is cached can no longer be believed unchecked.
 * Return: events read.
 */
static int em_drain(struct ag_proc *p)
{
	uint64_t lost = 0;
	int n = ag_execmon_read(p->em, &lost);

	if (lost != p->em_lost) {
		p->st.ev_kernel_lost += lost - p->em_lost;
		p->st.ev_lost++;
		p->em_lost = lost;
		p->epoch++;
		(void)ag_proc_rescan(p);
		return -ENOBUFS;
	}
	return n;
}

void ag__proc_kernel_event(struct ag_proc *p, const struct ag_exec_event *ev)
{
	expire(p, p->now());
	on_kernel_event(ev, p);
}

int ag__proc_event(struct ag_proc *p, uint32_t what, pid_t pid, pid_t ppid)
{
	uint64_t now = p->now();

	expire(p, now);
	switch (what) {
	case PROC_EVENT_FORK:
		on_proc_fork(p, pid, ppid, now);
		return 0;
	case PROC_EVENT_EXEC:
		on_proc_exec(p, pid, now);
		return 0;
	case PROC_EVENT_EXIT:
		on_proc_exit(p, pid, now);
		return 0;
	default:
		return -EINVAL;
	}
}

/* One connector message, already checked to come from the kernel. */
static int handle_cn(struct ag_proc *p, const struct nlmsghdr *nlh,
		     uint64_t now)
{
	struct cn_msg cn;
	struct proc_event ev;
	size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN, evlen;
	const char *payload = (const char *)NLMSG_DATA(nlh);

	if (plen < sizeof(cn))
		return -EBADMSG;
	memcpy(&cn, payload, sizeof(cn));
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return 0;
	if (cn.len > plen - sizeof(cn))
		return -EBADMSG;
	/* Copied out: the event sits 4 bytes off 8-byte alignment. */
	memset(&ev, 0, sizeof(ev));
	evlen = cn.len < sizeof(ev) ? cn.len : sizeof(ev);
	memcpy(&ev, payload + sizeof(cn), evlen);
	if (evlen < offsetof(struct proc_event, event_data))
		return -EBADMSG;
	evlen -= offsetof(struct proc_event, event_data);

	switch (ev.what) {
	case PROC_EVENT_FORK:
		if (evlen < sizeof(ev.event_data.fork))
			return -EBADMSG;
		/* A new thread is not a new process. */
		if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid)
			return 0;
		on_proc_fork(p, ev.event_data.fork.child_tgid,
			ev.event_data.fork.parent_tgid, now);
		return 1;
	case PROC_EVENT_EXEC:
		if (evlen < sizeof(ev.event_data.exec))
			return -EBADMSG;
		on_proc_exec(p, ev.event_data.exec.process_tgid, now);
		return 1;
	case PROC_EVENT_EXIT:
		if (evlen < sizeof(ev.event_data.exit))
			return -EBADMSG;
		/* Only the whole thread group's end matters. */
		if (ev.event_data.exit.process_pid !=
		    ev.event_data.exit.process_tgid)
			return 0;
		on_proc_exit(p, ev.event_data.exit.process_tgid, now);
		return 1;
	case PROC_EVENT_UID:
		if (evlen < sizeof(ev.event_data.id))
			return -EBADMSG;
		on_proc_uid(p, ev.event_data.id.process_tgid,
		       ev.event_data.id.r.ruid, ev.event_data.id.e.euid);
		return 1;
	default:
		return 0;
	}
}

/*
 * Receive one datagram.  Return: 1 handled, 0 nothing waiting, -errno.
 * @ack: when non-NULL, the acknowledgement (PROC_EVENT_NONE) of the request
 * sent with ack field *@ack (the kernel answers with *@ack + 1) stores its
 * error in *@ack_err and sets *@ack to 0.
 */
static int recv_one(struct ag_proc *p, uint32_t *ack, int *ack_err,
		    int *events)
{
	char buf[1024] __attribute__((aligned(8)));
	struct sockaddr_nl from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct nlmsghdr *nlh;
	ssize_t n;
	int len;
	uint64_t now;

	n = recvmsg(p->nlfd, &msg, MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return errno == EINTR ? 1 : -errno;
	}
	/* Only the kernel speaks for the connector. */
	if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC))
		return 1;
	now = p->now();
	len = (int)n;
	for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_NOOP ||
		    nlh->nlmsg_type == NLMSG_ERROR ||
		    nlh->nlmsg_type == NLMSG_OVERRUN)
			continue;
		if (ack && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct cn_msg) +
						offsetof(struct proc_event,
							 event_data) + 4)) {
			struct cn_msg cn;
			struct proc_event ev;

			memcpy(&cn, NLMSG_DATA(nlh), sizeof(cn));
			memset(&ev, 0, sizeof(ev));
			memcpy(&ev, (char *)NLMSG_DATA(nlh) + sizeof(cn),
			       offsetof(struct proc_event, event_data) + 4);
			if (ev.what == PROC_EVENT_NONE && cn.ack == *ack + 1) {
				*ack_err = (int)ev.event_data.ack.err;
				*ack = 0;
				continue;
			}
		}
		if (handle_cn(p, nlh, now) > 0)
			(*events)++;
	}
	return 1;
}

static int cn_send_op(struct ag_proc *p, uint32_t op, uint32_t filter,
		      bool with_filter, uint32_t ack)
{
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) +
			     sizeof(struct cn_proc_input))]
		__attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct cn_msg cn;
	struct cn_proc_input in = { .mcast_op = op, .event_type = filter };
	size_t dlen = with_filter ? sizeof(in) : sizeof(uint32_t);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(buf, 0, sizeof(buf));
	nlh->nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(cn) + dlen);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_pid = p->portid;
	memset(&cn, 0, sizeof(cn));
	cn.id.idx = CN_IDX_PROC;
	cn.id.val = CN_VAL_PROC;
	cn.ack = ack;
	cn.len = (uint16_t)dlen;
	memcpy(NLMSG_DATA(nlh), &cn, sizeof(cn));
	memcpy((char *)NLMSG_DATA(nlh) + sizeof(cn), &in, dlen);
	if (sendto(p->nlfd, buf, nlh->nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		return -errno;
	return 0;
}

/*
 * Subscribe.  The first LISTEN (all events) is acknowledged to every
 * listener; a filtered LISTEN is not (the kernel filters the ack out too),
 * so the plain one proves the subscription and the filtered one follows.
 * An old kernel ignores the filtered form and sends everything: fine.
 */
static int cn_open(struct ag_proc *p)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = CN_IDX_PROC };
	socklen_t sl = sizeof(sa);
	int rcvbuf = (int)p->cfg.rcvbuf, events = 0, ack_err = -1, r;
	uint32_t ack = (uint32_t)ag_mono_ns() | 1;
	uint64_t deadline;

	p->nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 NETLINK_CONNECTOR);
	if (p->nlfd == -1)
		return -errno;
	if (setsockopt(p->nlfd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) == -1)
		(void)setsockopt(p->nlfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	if (bind(p->nlfd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -errno;
	if (getsockname(p->nlfd, (struct sockaddr *)&sa, &sl) == -1)
		return -errno;
	p->portid = sa.nl_pid;

	r = cn_send_op(p, PROC_CN_MCAST_LISTEN, 0, false, ack);
	if (r < 0)
		return r;
	deadline = ag_mono_ns() + (uint64_t)PROC_ACK_TIMEOUT_MS * 1000000u;
	while (ack != 0) {
		struct pollfd pfd = { .fd = p->nlfd, .events = POLLIN };
		uint64_t now = ag_mono_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) == -1 &&
		    errno != EINTR)
			return -errno;
		r = recv_one(p, &ack, &ack_err, &events);
		if (r < 0 && r != -ENOBUFS)
			return r;
	}
	if (ack_err != 0)
		return -ack_err;
	return cn_send_op(p, PROC_CN_MCAST_LISTEN,
			  PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT |
				  PROC_EVENT_UID,
			  true, 0);
}

/* ---- /proc walks --------------------------------------------------------- */

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

static void reverse_pids(pid_t *a, uint32_t lo, uint32_t hi)
{
	while (lo + 1 < hi) {
		pid_t t = a[lo];

		a[lo++] = a[--hi];
		a[hi] = t;
	}
}

/*
 * Collect the pids in /proc into p->walk, keeping the last PROC_WALK_MAX
 * listed (the highest pids: /proc lists in ascending order).
 * Return: the number kept, sorted ascending, or -errno.
 */
static int walk_pids(struct ag_proc *p)
{
	char buf[8192] __attribute__((aligned(8)));
	uint32_t n = 0, first = 0;
	bool wrapped = false;
	int dfd;

	dfd = openat(p->proc_dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -errno;
	for (;;) {
		ssize_t got = getdents64(dfd, buf, sizeof(buf));
		ssize_t off = 0;

		if (got == -1) {
			int err = -errno;

			close(dfd);
			return err;
		}
		if (got == 0)
			break;
		while (off < got) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			uint64_t v;
			const char *stop;

			off += d->d_reclen;
			if (!parse_u64(d->d_name, d->d_name + strlen(d->d_name),
				       &v, &stop) || *stop || v == 0 ||
			    v > INT32_MAX)
				continue;
			/* A ring: past the bound, the oldest pids give way. */
			p->walk[(first + n) % PROC_WALK_MAX] = (pid_t)v;
			if (n < PROC_WALK_MAX) {
				n++;
			} else {
				first = (first + 1) % PROC_WALK_MAX;
				wrapped = true;
			}
		}
	}
	close(dfd);
	if (wrapped) {
		/* Rotate so p->walk[0..n) is in order again: three reversals. */
		reverse_pids(p->walk, 0, first);
		reverse_pids(p->walk, first, PROC_WALK_MAX);
		reverse_pids(p->walk, 0, PROC_WALK_MAX);
	}
	/* /proc lists pids in ascending order; another root may not. */
	qsort(p->walk, n, sizeof(*p->walk), cmp_pid);
	return (int)n;
}

int ag_proc_rescan(struct ag_proc *p)
{
	uint64_t now = p->now();
	uint32_t id = ++p->scan_id, i, next;
	int n = walk_pids(p);

	if (n < 0)
		return n;
	expire(p, now);
	for (int k = 0; k < n; k++) {
		pid_t pid = p->walk[k];

		i = find(p, pid);
		if (i == NIL) {
			i = ent_alloc(p, pid);
			p->ents[i].flags = PF_NEED_READ;
		} else if (p->ents[i].list == L_EXITED) {
			ent_reset(p, i);
			p->ents[i].flags = PF_NEED_READ;
		}
		if (read_proc(p, i, !(p->ents[i].flags & PF_NEED_READ)) < 0) {
			/* Gone since the directory was read. */
			if (p->ents[i].flags & PF_NEED_READ)
				ent_release(p, i);
			else
				mark_exited(p, i, now);
			continue;
		}
		p->ents[i].scan_id = id;
	}
	/* What is cached as live but was not in /proc exited unseen. */
	for (i = p->lists[L_LIVE].head; i != NIL; i = next) {
		next = p->ents[i].next;
		if (p->ents[i].scan_id != id)
			mark_exited(p, i, now);
	}
	return 0;
}

/* ---- open/close ---------------------------------------------------------- */

/*
 * The exec monitor reports the kernel's pids, which are ours only in the
 * initial pid namespace (a /proc mounted inside another one would agree
 * with us, not with the kernel).  Ask it: a child that names itself and
 * exits must be reported under the pid fork() gave us.
 */
static bool em_same_pids(struct ag_proc *p)
{
	pid_t c = fork();

	if (c == 0) {
		prctl(PR_SET_NAME, PROC_PROBE_COMM);
		_exit(0);
	}
	if (c == -1 || waitpid(c, NULL, 0) != c)
		return false;
	p->probe_pid = 0;
	p->probing = true;
	(void)em_drain(p);
	p->probing = false;
	return p->probe_pid == c;
}

/* Say in the mode sentence where execs come from. */
static void em_mode(struct ag_proc *p)
{
	static const char pfx[] = "process cache: ";
	char conn[sizeof(p->mode)];

	if (p->em) {
		snprintf(p->mode, sizeof(p->mode),
			 "process cache: forks, execs and exits from the exec monitor (eBPF; "
			 "executables named by the kernel at exec)");
		return;
	}
	if (!p->cfg.exec_bpf)
		return;
	snprintf(conn, sizeof(conn), "%s",
		 strncmp(p->mode, pfx, sizeof(pfx) - 1) ? p->mode : p->mode + sizeof(pfx) - 1);
	snprintf(p->mode, sizeof(p->mode), "process cache: exec monitor off: %.150s; %.180s",
		 p->em_why, conn);
}

struct ag_proc *ag_proc_open(const struct ag_proc_config *cfg)
{
	struct ag_proc *p;
	uint32_t nb, i;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (cfg)
		p->cfg = *cfg;
	if (!p->cfg.max_procs)
		p->cfg.max_procs = AG_PROC_DEFAULT_MAX_PROCS;
	if (!p->cfg.grace_ms)
		p->cfg.grace_ms = AG_PROC_DEFAULT_GRACE_MS;
	if (!p->cfg.scan_max_fds)
		p->cfg.scan_max_fds = AG_PROC_DEFAULT_SCAN_MAX_FDS;
	if (!p->cfg.scan_max_ms)
		p->cfg.scan_max_ms = AG_PROC_DEFAULT_SCAN_MAX_MS;
	if (!p->cfg.recent)
		p->cfg.recent = AG_PROC_DEFAULT_RECENT;
	if (!p->cfg.inode_slots)
		p->cfg.inode_slots = AG_PROC_DEFAULT_INODE_SLOTS;
	if (!p->cfg.rcvbuf)
		p->cfg.rcvbuf = AG_PROC_DEFAULT_RCVBUF;
	if (!p->cfg.proc_root)
		p->cfg.proc_root = "/proc";
	/* Another root's pids are not the kernel's: never take their fds. */
	p->take_off = strcmp(p->cfg.proc_root, "/proc") != 0;
	if (p->cfg.max_procs > (1u << 24) || p->cfg.inode_slots > (1u << 24) ||
	    p->cfg.rcvbuf > INT32_MAX) {
		free(p);
		errno = EINVAL;
		return NULL;
	}
	p->now = ag_mono_ns;
	p->epoch = 1;
	{
		long tck = sysconf(_SC_CLK_TCK);

		p->ns_per_tick = tck > 0 ? 1000000000u / (uint64_t)tck : 10000000u;
	}

	p->nlfd = -1;
	p->proc_dfd = open(p->cfg.proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->proc_dfd == -1)
		goto fail_free;

	nb = pow2_at_least(p->cfg.max_procs * 2);
	p->bmask = nb - 1;
	p->imask = pow2_at_least(p->cfg.inode_slots) - 1;
	p->ents = calloc(p->cfg.max_procs, sizeof(*p->ents));
	p->buckets = malloc(nb * sizeof(*p->buckets));
	p->islots = calloc((size_t)p->imask + 1, sizeof(*p->islots));
	p->walk = malloc(PROC_WALK_MAX * sizeof(*p->walk));
	if (!p->ents || !p->buckets || !p->islots || !p->walk)
		goto fail;
	memset(p->buckets, 0xff, nb * sizeof(*p->buckets));
	for (i = 0; i < 3; i++)
		p->lists[i].head = p->lists[i].tail = NIL;
	for (i = 0; i < p->cfg.max_procs; i++) {
		p->ents[i].hnext = p->ents[i].prev = p->ents[i].next = NIL;
		list_push_back(p, L_FREE, i);
	}

	if (p->cfg.exec_bpf && strcmp(p->cfg.proc_root, "/proc") != 0) {
		snprintf(p->em_why, sizeof(p->em_why), "%s is not the kernel's /proc",
			 p->cfg.proc_root);
	} else if (p->cfg.exec_bpf) {
		char why[160];

		/* Before /proc is read, so no process falls between the two. */
		p->em = ag_execmon_open(on_kernel_event, p,
					p->cfg.bpf_cgroup ? p->cfg.bpf_cgroup : "/sys/fs/cgroup",
					why, sizeof(why));
		if (!p->em) {
			snprintf(p->em_why, sizeof(p->em_why), "%s", why);
		} else if (!em_same_pids(p)) {
			snprintf(p->em_why, sizeof(p->em_why),
				 "not in the initial pid namespace (the kernel's pids are "
				 "not ours)");
			ag_execmon_close(p->em);
			p->em = NULL;
		}
	}
	if (p->em) {
		/* Everything comes from the exec monitor; the connector would
		 * only cost every exec a message nobody reads. */
	} else if (p->cfg.no_connector) {
		snprintf(p->mode, sizeof(p->mode),
			 "process cache: proc connector disabled by "
			 "configuration, using %s scans only",
			 p->cfg.proc_root);
	} else {
		int r = cn_open(p);

		if (r == 0) {
			snprintf(p->mode, sizeof(p->mode),
				 "process cache: proc connector active");
		} else {
			const char *hint = "";

			if (r == -ECONNREFUSED)
				hint = " (not in the initial network namespace)";
			else if (r == -ETIMEDOUT)
				hint = " (no answer: not in the initial pid and "
				       "user namespaces?)";
			else if (r == -EPERM || r == -EACCES)
				hint = " (needs root)";
			snprintf(p->mode, sizeof(p->mode),
				 "process cache: proc connector unavailable: "
				 "%s%s; using %s scans only",
				 strerror(-r), hint, p->cfg.proc_root);
			if (p->nlfd != -1)
				close(p->nlfd);
			p->nlfd = -1;
		}
	}
	em_mode(p);
	if (ag_proc_rescan(p) < 0)
		goto fail;
	return p;
fail:
	err = errno;
	ag_proc_close(p);
	errno = err ? err : ENOMEM;
	return NULL;
fail_free:
	err = errno;
	free(p);
	errno = err;
	return NULL;
}

void ag_proc_close(struct ag_proc *p)
{
	if (!p)
		return;
	if (p->nlfd != -1) {
		/* Let the kernel stop counting us as a listener. */
		(void)cn_send_op(p, PROC_CN_MCAST_IGNORE, 0, false, 0);
		close(p->nlfd);
	}
	ag_proc_release_taken(p);
	ag_execmon_close(p->em);
	if (p->ents)
		for (uint32_t i = 0; i < p->cfg.max_procs; i++) {
			drop_pidfd(p, &p->ents[i]);
			pstr_put(p->ents[i].exe);
			pstr_put(p->ents[i].cmdline);
		}
	if (p->proc_dfd >= 0)
		close(p->proc_dfd);
	free(p->ents);
	free(p->buckets);
	free(p->islots);
	free(p->walk);
	free(p);
}

int ag_proc_fd(const struct ag_proc *p)
{
	return p->em ? ag_execmon_fd(p->em) : p->nlfd;
}

bool ag_proc_fd_edge(const struct ag_proc *p)
{
	return p->em != NULL;
}

bool ag_proc_exec_monitor(const struct ag_proc *p)
{
	return p->em != NULL;
}

const char *ag_proc_mode(const struct ag_proc *p)
{
	return p->mode;
}

void ag__proc_set_clock(struct ag_proc *p, uint64_t (*now_ns)(void))
{
	p->now = now_ns ? now_ns : ag_mono_ns;
}

void ag_proc_get_stats(const struct ag_proc *p, struct ag_proc_stats *st)
{
	*st = p->st;
	st->cached = p->lists[L_LIVE].n + p->lists[L_EXITED].n;
	st->exited = p->lists[L_EXITED].n;
}

int ag_proc_receive(struct ag_proc *p)
{
	int events = 0, r = 0;

	expire(p, p->now());
	if (p->em) {
		int n = em_drain(p);

		if (n < 0)
			return n;
		events += n;
	}
	if (p->nlfd == -1)
		return events;
	for (int k = 0; k < PROC_RECV_BATCH; k++) {
		r = recv_one(p, NULL, NULL, &events);
		if (r <= 0)
			break;
	}
	if (r == -ENOBUFS) {
		/* Events were lost: nothing cached can be believed unchecked. */
		p->st.ev_lost++;
		p->epoch++;
		(void)ag_proc_rescan(p);
		return -ENOBUFS;
	}
	return r < 0 ? r : events;
}

/* ---- lookups ------------------------------------------------------------- */

static void copy_out(const struct pent *e, struct ag_proc_info *out)
{
	out->pid = e->pid;
	out->ppid = e->ppid;
	out->uid = e->uid;
	out->euid = e->euid;
	out->start_time = e->start_time;
	memcpy(out->comm, e->comm, sizeof(out->comm));
	out->flags = e->flags & PF_PUBLIC;
	out->exe_dev = e->exe_dev;
	out->exe_ino = e->exe_ino;
	if (e->exe)
		memcpy(out->exe, e->exe->s, e->exe->len + 1);
	else
		out->exe[0] = '\0';
	if (e->cmdline)
		memcpy(out->cmdline, e->cmdline->s, e->cmdline->len + 1);
	else
		out->cmdline[0] = '\0';
	if (!e->exe)
		out->flags |= AG_PROC_NO_EXE;
}

int ag_proc_sender(struct ag_proc *p, uint64_t netns_cookie, const struct ag_tuple *t,
		   struct ag_proc_info *out)
{
	struct ag_exec_sender s;
	int r;

	if (!p->em)
		return -ENOSYS;
	r = ag_execmon_sender(p->em, netns_cookie, t, &s);
	if (r < 0)
		return r;
	r = ag_proc_get(p, s.pid, out);
	if (r < 0)
		return r;
	if (out->start_time && out->start_time != s.start_ns / p->ns_per_tick)
		return -ESTALE;
	/* Its file when it closed the socket, if it still had one (not at
	 * exit): else what the exec monitor recorded at its exec stands. */
	if (s.ino) {
		out->exe_dev = s.dev;
		out->exe_ino = s.ino;
		out->flags |= AG_PROC_EXE_ID;
	}
	return 0;
}

int ag_proc_get(struct ag_proc *p, pid_t pid, struct ag_proc_info *out)
{
	uint64_t now = p->now();
	uint32_t i;
	struct pent *e;
	bool trusted;

	if (pid <= 0)
		return -EINVAL;
	/* An exec the ring holds may be this process's: read it first. */
	if (p->em)
		(void)em_drain(p);
	expire(p, now);
	i = find(p, pid);
	if (i == NIL) {
		i = ent_alloc(p, pid);
		p->ents[i].flags = PF_NEED_READ;
	}
	e = &p->ents[i];
	if (e->list == L_EXITED) {
		copy_out(e, out);
		return 0;
	}
	/*
	 * A forked entry is believed only once read: its exec event may still
	 * be waiting in the socket, and the parent's name would then be wrong.
	 */
	trusted = (p->nlfd != -1 || p->em) && e->epoch == p->epoch &&
		  !(e->flags & (PF_NEED_READ | (p->em ? 0 : AG_PROC_INHERITED)));
	if (!trusted || !e->start_time || (e->flags & PF_NEED_DETAILS)) {
		if (read_proc(p, i, !(e->flags & (PF_NEED_READ | PF_NEED_DETAILS))) < 0) {
			if (e->flags & PF_NEED_READ) {
				ent_release(p, i);
				return -ENOENT;
			}
			/* Gone without an exit event: answer as exited. */
			mark_exited(p, i, now);
		}
	}
	copy_out(e, out);
	return 0;
}

static uint32_t islot_of(const struct ag_proc *p, uint64_t inode)
{
	return (uint32_t)((inode * 0x9e3779b97f4a7c15ull) >> 40) & p->imask;
}

/* Does fd @fd of @pid still hold socket @inode? */
static bool fd_holds(struct ag_proc *p, pid_t pid, int fd, uint64_t inode)
{
	char path[48], link[64], want[40];
	ssize_t n;

	snprintf(path, sizeof(path), "%d/fd/%d", (int)pid, fd);
	n = readlinkat(p->proc_dfd, path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	return strcmp(link, want) == 0;
}

/*
 * Read one fd link of @pid (@dfd: its fd directory, or -1 to go through
 * /proc), remember it in the inode cache if it is a socket.
 * Return: the socket inode, or 0.
 */
static uint64_t read_fd(struct ag_proc *p, pid_t pid, int dfd, int fd)
{
	char name[40], link[64];
	const char *stop;
	uint64_t ino;
	ssize_t n;

	p->st.fds_read++;
	if (dfd >= 0) {
		snprintf(name, sizeof(name), "%d", fd);
		n = readlinkat(dfd, name, link, sizeof(link) - 1);
	} else {
		snprintf(name, sizeof(name), "%d/fd/%d", (int)pid, fd);
		n = readlinkat(p->proc_dfd, name, link, sizeof(link) - 1);
	}
	if (n < 10 || memcmp(link, "socket:[", 8) != 0)
		return 0;
	link[n] = '\0';
	if (!parse_u64(link + 8, link + n, &ino, &stop) || *stop != ']')
		return 0;
	{
		struct islot *sl = &p->islots[islot_of(p, ino)];

		sl->inode = ino;
		sl->pid = pid;
		sl->fd = fd;
	}
	return ino;
}

/* What one inode lookup may still spend: fd links, and time. */
struct budget {
	unsigned fds;
	uint64_t deadline_ns;
};

/* Take one fd reading from @b.  Return: true when the budget is spent. */
static bool spend(struct ag_proc *p, struct budget *b)
{
	if (b->fds == 0)
		return true;
	/* The clock costs little next to a reading, but need not run each. */
	if ((b->fds & 15) == 0 && p->now() > b->deadline_ns) {
		b->fds = 0;
		return true;
	}
	b->fds--;
	return false;
}

/* The fd found @d finds ago (1: the last one), or -1. */
static int hist_fd(const struct pent *e, int d)
{
	if (d < 1 || d > e->sock_fd_n)
		return -1;
	return e->sock_fd[(e->sock_fd_next + PROC_SOCK_FDS - d) % PROC_SOCK_FDS];
}

/* A socket was found at @fd: learn the period, then remember it. */
static void remember_sock_fd(struct pent *e, int fd)
{
	e->hit_dist = 0;
	for (int d = 1; d <= e->sock_fd_n; d++)
		if (hist_fd(e, d) == fd) {
			e->hit_dist = (uint8_t)d;
			break;
		}
	e->sock_fd[e->sock_fd_next] = fd;
	e->sock_fd_next = (uint8_t)((e->sock_fd_next + 1) % PROC_SOCK_FDS);
	if (e->sock_fd_n < PROC_SOCK_FDS)
		e->sock_fd_n++;
}

/*
 * Try the few fds where a new socket of this process most likely is,
 * before reading its whole fd table: each fd is a readlink() of a few
 * microseconds, and a program with a hundred files would cost a hundred.
 * The kernel gives a new file the lowest free number, so: the numbers its
 * sockets had before (freed sockets make the holes new ones fill; the one
 * as many finds back as last time first), the lowest free number and the
 * ones past the highest at the last full scan.
 * Return: how many fds are in @cand, in the order to try, none twice.
 */
static int guess_list(const struct pent *e, int cand[PROC_GUESSES])
{
	int nc = 0, all[PROC_GUESSES], n = 0;

	/* The same distance back as last time: a steady pool's period. */
	if (e->hit_dist && hist_fd(e, e->hit_dist) >= 0)
		all[n++] = hist_fd(e, e->hit_dist);
	if (e->fd_free >= 0)
		all[n++] = e->fd_free;
	for (int d = 1; d <= PROC_GUESS_RECENT && d <= e->sock_fd_n; d++)
		all[n++] = hist_fd(e, d);
	if (e->fd_max >= 0) {
		all[n++] = e->fd_max + 1;
		all[n++] = e->fd_max + 2;
	}
	for (int k = 0; k < n; k++) {
		bool dup = false;

		for (int j = 0; j < nc; j++)
			dup |= cand[j] == all[k];
		if (!dup)
			cand[nc++] = all[k];
	}
	return nc;
}

/* A new socket of @e was found at @fd: learn where the next one may be. */
static void found_at(struct pent *e, int fd)
{
	remember_sock_fd(e, fd);
	/* The hole is filled; where the next one is, no one knows. */
	if (fd == e->fd_free)
		e->fd_free = -1;
	if (fd > e->fd_max)
		e->fd_max = fd;
}

/* Is @e worth a guess at a socket of @uid_hint's (AG_UID_UNKNOWN: anyone's)? */
static bool may_hold(const struct pent *e, uint32_t uid_hint)
{
	return !(e->flags & AG_PROC_KTHREAD) &&
	       (uid_hint == AG_UID_UNKNOWN || e->euid == uid_hint || e->uid == uid_hint);
}

/* Read the guessed fds.  Return: 1 found, 0 not, -EAGAIN budget spent. */
static int guess_fds(struct ag_proc *p, struct pent *e, uint64_t inode,
		     struct budget *budget)
{
	int cand[PROC_GUESSES], nc = guess_list(e, cand);

	for (int k = 0; k < nc; k++) {
		if (spend(p, budget))
			return -EAGAIN;
		if (read_fd(p, e->pid, -1, cand[k]) == inode) {
			found_at(e, cand[k]);
			return 1;
		}
	}
	return 0;
}

/*
 * Read all fd links of @pid (@e: its cache entry, or NULL), remembering
 * every socket seen, and where the fd table has room for the next one.
 * Return: 1 found, 0 not there, -EAGAIN budget spent.
 */
static int scan_fds(struct ag_proc *p, pid_t pid, struct pent *e,
		    uint64_t inode, struct budget *budget)
{
	char buf[4096] __attribute__((aligned(8)));
	uint64_t used[PROC_FD_TRACK / 64];
	char name[24];
	int dfd, found = 0, max = -1;

	snprintf(name, sizeof(name), "%d/fd", (int)pid);
	dfd = openat(p->proc_dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return 0;
	p->st.scans++;
	memset(used, 0, sizeof(used));
	for (;;) {
		ssize_t got = getdents64(dfd, buf, sizeof(buf)), off = 0;

		if (got <= 0)
			break;
		while (off < got) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			uint64_t fdn;
			const char *stop;

			off += d->d_reclen;
			if (!parse_u64(d->d_name, d->d_name + strlen(d->d_name),
				       &fdn, &stop) || *stop || fdn > INT32_MAX)
				continue;
			if ((int)fdn > max)
				max = (int)fdn;
			if (fdn < PROC_FD_TRACK)
				used[fdn / 64] |= 1ull << (fdn % 64);
			/* Found: the rest is listed only for fd_free/fd_max. */
			if (found)
				continue;
			if (spend(p, budget)) {
				close(dfd);
				return -EAGAIN;
			}
			if (read_fd(p, pid, dfd, (int)fdn) == inode) {
				if (e)
					remember_sock_fd(e, (int)fdn);
				found = 1;
			}
		}
	}
	if (e) {
		int k = 0;

		while (k < PROC_FD_TRACK && (used[k / 64] >> (k % 64)) & 1)
			k++;
		e->fd_free = k;
		e->fd_max = max;
	}
	close(dfd);
	return found;
}

static int found_pid(struct ag_proc *p, pid_t pid, pid_t *out)
{
	uint32_t i = find(p, pid);

	if (i != NIL)
		touch(p, i);
	*out = pid;
	return 0;
}

int ag_proc_find_inode(struct ag_proc *p, uint64_t inode, uint32_t uid_hint,
		       pid_t *pid)
{
	uint64_t now = p->now();
	struct islot *s;
	struct budget budget = {
		.fds = p->cfg.scan_max_fds,
		.deadline_ns = now + (uint64_t)p->cfg.scan_max_ms * 1000000u,
	};
	uint32_t id, i, seen;
	int n, r;

	if (inode == 0)
		return -EINVAL;
	expire(p, now);
	s = &p->islots[islot_of(p, inode)];
	if (s->inode == inode && fd_holds(p, s->pid, s->fd, inode)) {
		p->st.inode_hits++;
		return found_pid(p, s->pid, pid);
	}
	p->st.inode_misses++;
	id = ++p->scan_id;

	/*
	 * The most recent processes, the socket owner's uid first: a cheap
	 * guess at where the socket is for the first few, then every fd.
	 */
	seen = 0;
	for (i = p->lists[L_LIVE].head; i != NIL && seen < PROC_GUESS_PROCS;
	     i = p->ents[i].next) {
		struct pent *e = &p->ents[i];

		if (!may_hold(e, uid_hint))
			continue;
		seen++;
		r = guess_fds(p, e, inode, &budget);
		if (r == -EAGAIN)
			goto budget;
		if (r == 1) {
			p->st.scan_found_guess++;
			return found_pid(p, e->pid, pid);
		}
	}
	for (int pass = uid_hint == AG_UID_UNKNOWN ? 1 : 0; pass < 2; pass++) {
		seen = 0;
		for (i = p->lists[L_LIVE].head;
		     i != NIL && seen < p->cfg.recent;
		     i = p->ents[i].next, seen++) {
			struct pent *e = &p->ents[i];
			bool uid_match = e->euid == uid_hint || e->uid == uid_hint;

			if (e->scan_id == id || (e->flags & AG_PROC_KTHREAD))
				continue;
			if (pass == 0 && !uid_match)
				continue;
			e->scan_id = id;
			r = scan_fds(p, e->pid, e, inode, &budget);
			if (r == -EAGAIN)
				goto budget;
			if (r == 1) {
				p->st.scan_found_recent++;
				return found_pid(p, e->pid, pid);
			}
		}
	}

	/* Everything else, newest pid first. */
	n = walk_pids(p);
	if (n < 0)
		return n;
	for (int k = n - 1; k >= 0; k--) {
		pid_t cand = p->walk[k];

		i = find(p, cand);
		if (i != NIL && (p->ents[i].scan_id == id ||
				 (p->ents[i].flags & AG_PROC_KTHREAD)))
			continue;
		/* Processes without fds never spend: look at the clock here. */
		if ((k & 15) == 0 && p->now() > budget.deadline_ns)
			goto budget;
		r = scan_fds(p, cand, i != NIL ? &p->ents[i] : NULL, inode,
			     &budget);
		if (r == -EAGAIN)
			goto budget;
		if (r == 1) {
			p->st.scan_found_walk++;
			return found_pid(p, cand, pid);
		}
	}
	p->st.scan_not_found++;
	return -ENOENT;
budget:
	p->st.scan_budget++;
	return -EAGAIN;
}

/* ---- taking fds ------------------------------------------------------------ */

void ag_proc_release_taken(struct ag_proc *p)
{
	while (p->ntaken)
		close(p->taken_fds[--p->ntaken]);
}

/*
 * @e's pidfd: the one it keeps, or a new one (*temp: the caller closes
 * it) once PROC_PIDFDS_MAX are kept.  Return: the fd, or -errno.
 */
static int pidfd_of(struct ag_proc *p, struct pent *e, bool *temp)
{
	int fd;

	*temp = false;
	if (e->pidfd1)
		return e->pidfd1 - 1;
	fd = (int)syscall(SYS_pidfd_open, e->pid, 0);
	if (fd == -1)
		return -errno;
	if (p->npidfds < PROC_PIDFDS_MAX) {
		e->pidfd1 = fd + 1;
		p->npidfds++;
	} else {
		*temp = true;
	}
	return fd;
}


int ag_proc_take_socket(struct ag_proc *p, uint32_t uid_hint,
			ag_proc_socket_fn *is_it, void *arg,
			struct ag_proc_taken *out)
{
	int tries = 0, procs = 0;

	if (p->take_off)
		return -ENOSYS;
	ag_proc_release_taken(p);
	expire(p, p->now());
	for (uint32_t i = p->lists[L_LIVE].head;
	     i != NIL && procs < PROC_TAKE_PROCS && tries < PROC_TAKE_TRIES;
	     i = p->ents[i].next) {
		struct pent *e = &p->ents[i];
		int cand[PROC_GUESSES], nc, pfd;
		bool temp;

		if (!may_hold(e, uid_hint))
			continue;
		procs++;
		nc = guess_list(e, cand);
		if (nc == 0)
			continue;
		pfd = pidfd_of(p, e, &temp);
		/* ENOSYS: before Linux 5.3; EPERM: a seccomp filter or an LSM,
		 * as pidfd_open() itself needs no right over the process. */
		if (pfd == -ENOSYS || pfd == -EPERM) {
			p->take_off = true;
			return -ENOSYS;
		}
		if (pfd < 0)
			continue; /* gone (ESRCH): its exit is on its way */
		for (int k = 0; k < nc && tries < PROC_TAKE_TRIES; k++) {
			struct stat st = { .st_uid = uid_hint };
			bool yes;
			int fd;

			tries++;
			p->st.take_tries++;
			fd = (int)syscall(SYS_pidfd_getfd, pfd, cand[k], 0);
			if (fd == -1) {
				if (errno == ENOSYS) {	/* before Linux 5.6 */
					p->take_off = true;
					if (temp)
						close(pfd);
					return -ENOSYS;
				}
				if (errno == EBADF)
					continue;	/* no such fd: the next guess */
				break;	/* gone, or not ours to take (EPERM) */
			}
			/* A system call less when the caller knows the uid:
			 * then the inode is not read either. */
			yes = (uid_hint != AG_UID_UNKNOWN ||
			       (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))) &&
			      is_it(fd, arg);
			/* Closed later: not a system call on the way to the
			 * verdict.  Holding a copy a moment longer delays
			 * nothing but the socket's release if its process
			 * closes it meanwhile. */
			p->taken_fds[p->ntaken++] = fd;
			if (!yes)
				continue;
			if (temp)
				close(pfd);
			found_at(e, cand[k]);
			out->pid = e->pid;
			out->inode = uid_hint == AG_UID_UNKNOWN ? st.st_ino : 0;
			out->uid = st.st_uid;
			p->st.take_found++;
			touch(p, i);
			return 0;
		}
		if (temp)
			close(pfd);
	}
	p->st.take_missed++;
	return -ENOENT;
}
