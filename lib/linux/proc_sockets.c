/*
 * proc_sockets.c — which process holds a socket inode: guessing from the fds
 * its sockets were found at before, then a budgeted scan of fds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

static uint32_t islot_of(const struct ag_proc *p, uint64_t inode)
{
	return (uint32_t)((inode * 0x9e3779b97f4a7c15ull) >> 40) & p->imask;
}

/*
 * @e's /proc/PID/fd, kept open while it makes sockets: reading a link
 * through it looks up one name, not three (the pid, "fd", the number),
 * which is most of what a readlink of /proc costs.  The directory stays
 * the process's own: once it exits, reads through it fail (ENOENT), and
 * the caller goes through /proc as before.  -1: none kept.
 */
static int fddir_of(struct ag_proc *p, struct pent *e)
{
	char name[24];
	int fd;

	if (!e)
		return -1;
	if (e->fddir1)
		return e->fddir1 - 1;
	/* only for a process that made a socket before: others are read
	 * once, and opening costs as much as a read */
	if (p->nfddirs >= PROC_FDDIRS_MAX || !e->sock_fd_n)
		return -1;
	snprintf(name, sizeof(name), "%d/fd", (int)e->pid);
	fd = openat(p->proc_dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	e->fddir1 = fd + 1;
	p->nfddirs++;
	return fd;
}

/*
 * readlink() of fd @fd of @pid: through @dfd (its fd directory) when
 * given, else through /proc.  A directory of @e that no longer answers
 * (the process is gone) is closed, and /proc read instead.
 */
static ssize_t fd_link(struct ag_proc *p, struct pent *e, pid_t pid, int dfd, int fd,
		       char *link, size_t size)
{
	char name[40];
	ssize_t n;

	snprintf(name, sizeof(name), "%d", fd);
	if (dfd >= 0) {
		n = readlinkat(dfd, name, link, size);
		if (n >= 0 || errno != ENOENT || !e || dfd != e->fddir1 - 1)
			return n;
		close(dfd);
		e->fddir1 = 0;
		p->nfddirs--;
	}
	snprintf(name, sizeof(name), "%d/fd/%d", (int)pid, fd);
	return readlinkat(p->proc_dfd, name, link, size);
}

/* Does fd @fd of @pid (@e: its entry, or NULL) still hold socket @inode? */
static bool fd_holds(struct ag_proc *p, struct pent *e, pid_t pid, int fd, uint64_t inode)
{
	char link[64], want[40];
	ssize_t n;

	n = fd_link(p, e, pid, fddir_of(p, e), fd, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	return strcmp(link, want) == 0;
}

/*
 * Read one fd link of @pid (@e: its entry or NULL; @dfd: its fd directory,
 * or -1 to go through /proc), remember it in the inode cache if it is a
 * socket.
 * Return: the socket inode, or 0.
 */
static uint64_t read_fd(struct ag_proc *p, struct pent *e, pid_t pid, int dfd, int fd)
{
	char link[64];
	const char *stop;
	uint64_t ino;
	ssize_t n;

	p->st.fds_read++;
	n = fd_link(p, e, pid, dfd, fd, link, sizeof(link) - 1);
	if (n < 10 || memcmp(link, "socket:[", 8) != 0)
		return 0;
	link[n] = '\0';
	if (!ag__proc_parse_u64(link + 8, link + n, &ino, &stop) || *stop != ']')
		return 0;
	{
		struct islot *sl = &p->islots[islot_of(p, ino)];

		if (sl->inode != ino || sl->pid != pid || sl->fd != fd)
			sl->known = false;
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
static bool budget_spend(struct ag_proc *p, struct budget *b)
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

/*
 * A socket was found at @fd: learn its rank, then move it to the front.
 * The list keeps each fd once, the most recently found first, so a pool
 * of sockets reused in turn keeps its ranks, where distances back in a
 * history of finds would move with every fd found twice in a row of others.
 */
static void remember_sock_fd(struct pent *e, int fd)
{
	int r = 0, n = e->sock_fd_n;

	while (r < n && e->sock_fd[r] != fd)
		r++;
	e->hit_rank = r < n ? (uint8_t)(r + 1) : 0;
	if (e->hit_rank > PROC_GUESS_RECENT)
		e->far_finds = PROC_FAR_FINDS;
	else if (e->far_finds)
		e->far_finds--;
	if (fd > INT16_MAX)
		return;	/* guessed only by a full scan */
	if (r == n && n < PROC_SOCK_FDS)
		e->sock_fd_n++;
	if (r == PROC_SOCK_FDS)
		r--;	/* the least recent gives way */
	memmove(&e->sock_fd[1], &e->sock_fd[0], (size_t)r * sizeof(e->sock_fd[0]));
	e->sock_fd[0] = (int16_t)fd;
}

/*
 * Try the few fds where a new socket of this process most likely is,
 * before reading its whole fd table: each fd is a readlink() of a few
 * microseconds, and a program with a hundred files would cost a hundred.
 * The kernel gives a new file the lowest free number, so: the numbers its
 * sockets had before (freed sockets make the holes new ones fill; the one
 * of the same rank as last time first), the lowest free number and the
 * ones past the highest at the last full scan.  A process with many
 * sockets open at once (threads, a pool) frees them about in the order it
 * opened them: while its finds come from far down the ranks, every fd of
 * the list is tried (@ring), the nearest to the last find's rank first,
 * before its fd table is read.
 * Return: how many fds are in @cand, in the order to try, none twice.
 */
int ag__proc_guess_list(const struct pent *e, bool ring, int cand[PROC_GUESSES])
{
	const int16_t *ranked = e->sock_fd;
	int m = e->sock_fd_n, nc = 0, more[3 + PROC_GUESS_RECENT], n = 0;
	bool far = e->far_finds;

	/* The same rank as last time: a steady pool's period. */
	if (e->hit_rank && e->hit_rank <= m)
		cand[nc++] = ranked[e->hit_rank - 1];
	if (far && ring) {
		/* Around the last find's rank h: h + 1, h - 1, h + 2, ...
		 * (the list holds each fd once: none twice here). */
		int h = e->hit_rank ? e->hit_rank : PROC_GUESS_RECENT + 1;

		for (int step = 1; step < 2 * PROC_SOCK_FDS; step++) {
			int r = step & 1 ? h + (step + 1) / 2 : h - step / 2;

			if (r >= 1 && r <= m && r != e->hit_rank)
				cand[nc++] = ranked[r - 1];
		}
	}
	/* Then the holes, and the most recent (not for a pool's guesses:
	 * its next socket is never where its last ones are). */
	if (e->fd_free >= 0)
		more[n++] = e->fd_free;
	for (int r = 1; !far && r <= PROC_GUESS_RECENT && r <= m; r++)
		more[n++] = ranked[r - 1];
	if (e->fd_max >= 0) {
		more[n++] = e->fd_max + 1;
		more[n++] = e->fd_max + 2;
	}
	for (int k = 0; k < n && nc < PROC_GUESSES; k++) {
		bool dup = false;

		for (int j = 0; j < nc && !dup; j++)
			dup = cand[j] == more[k];
		if (!dup)
			cand[nc++] = more[k];
	}
	return nc;
}

/* A new socket of @e was found at @fd: learn where the next one may be. */
void ag__proc_found_at(struct pent *e, int fd)
{
	remember_sock_fd(e, fd);
	/* The hole is filled; where the next one is, no one knows. */
	if (fd == e->fd_free)
		e->fd_free = -1;
	if (fd > e->fd_max)
		e->fd_max = fd;
}

/* Is @e worth a guess at a socket of @uid_hint's (AG_UID_UNKNOWN: anyone's)? */
bool ag__proc_may_hold(const struct pent *e, uint32_t uid_hint)
{
	return !(e->flags & AG_PROC_KTHREAD) &&
	       (uid_hint == AG_UID_UNKNOWN || e->euid == uid_hint || e->uid == uid_hint);
}

unsigned long dbg_hist[17];
/* Read the guessed fds.  Return: 1 found, 0 not, -EAGAIN budget spent. */
static int guess_fds(struct ag_proc *p, struct pent *e, uint64_t inode,
		     struct budget *budget)
{
	int cand[PROC_GUESSES], nc = ag__proc_guess_list(e, true, cand);

	for (int k = 0; k < nc; k++) {
		if (budget_spend(p, budget))
			return -EAGAIN;
		/* asked each time: a read may have closed it (the process is gone) */
		if (read_fd(p, e, e->pid, fddir_of(p, e), cand[k]) == inode) {
			dbg_hist[k < 15 ? k : 15]++;
			{ static FILE *df; static int nlog; if (!df) df = fopen("/tmp/dbg_guess.txt", "w");
			  if (df && nlog++ < 400) { fprintf(df, "found fd %d at k=%d hit_rank=%d far=%d fd_free=%d fd_max=%d n=%d ranked:", cand[k], k, e->hit_rank, e->far_finds, e->fd_free, e->fd_max, e->sock_fd_n);
			    for (int j = 0; j < e->sock_fd_n; j++) { fprintf(df, " %d", e->sock_fd[j]); } fprintf(df, " | cand:"); for (int j = 0; j < nc; j++) { fprintf(df, " %d", cand[j]); } fprintf(df, "\n"); fflush(df); } }
			ag__proc_found_at(e, cand[k]);
			p->islots[islot_of(p, inode)].known = true;
			return 1;
		}
	}
	dbg_hist[16]++;
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
			if (!ag__proc_parse_u64(d->d_name, d->d_name + strlen(d->d_name),
				       &fdn, &stop) || *stop || fdn > INT32_MAX)
				continue;
			if ((int)fdn > max)
				max = (int)fdn;
			if (fdn < PROC_FD_TRACK)
				used[fdn / 64] |= 1ull << (fdn % 64);
			/* Found: the rest is listed only for fd_free/fd_max. */
			if (found)
				continue;
			if (budget_spend(p, budget)) {
				close(dfd);
				return -EAGAIN;
			}
			if (read_fd(p, NULL, pid, dfd, (int)fdn) == inode) {
				if (e) {
					remember_sock_fd(e, (int)fdn);
					p->islots[islot_of(p, inode)].known = true;
				}
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
	uint32_t i = ag__proc_slot_of(p, pid);

	if (i != NIL)
		ag__proc_move_first(p, i);
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
	ag__proc_expire(p, now);
	s = &p->islots[islot_of(p, inode)];
	if (s->inode == inode &&
	    (i = ag__proc_slot_of(p, s->pid),
	     fd_holds(p, i != NIL ? &p->ents[i] : NULL, s->pid, s->fd, inode))) {
		p->st.inode_hits++;
		/* A new socket read in passing by an earlier lookup: where
		 * it is counts for the next guesses as much as any. */
		if (i != NIL && !s->known)
			ag__proc_found_at(&p->ents[i], s->fd);
		s->known = true;
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

		if (!ag__proc_may_hold(e, uid_hint))
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
	n = ag__proc_walk_pids(p);
	if (n < 0)
		return n;
	for (int k = n - 1; k >= 0; k--) {
		pid_t cand = p->walk[k];

		i = ag__proc_slot_of(p, cand);
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
