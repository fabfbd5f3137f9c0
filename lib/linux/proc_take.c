/*
 * proc_take.c — taking a copy of a process's socket with pidfd_getfd(),
 * pidfds kept between lookups and released after.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

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
	/* Missing again and again (many sockets opened at once, in no order
	 * a guess follows): each try is three system calls for nothing, so
	 * only one lookup in PROC_TAKE_PROBE tries, until one finds again. */
	if (p->take_misses >= PROC_TAKE_PROBE &&
	    ++p->take_skipped % PROC_TAKE_PROBE != 0) {
		p->st.take_skipped++;
		return -ENOENT;
	}
	ag__proc_expire(p, p->now());
	for (uint32_t i = p->lists[L_LIVE].head;
	     i != NIL && procs < PROC_TAKE_PROCS && tries < PROC_TAKE_TRIES;
	     i = p->ents[i].next) {
		struct pent *e = &p->ents[i];
		int cand[PROC_GUESSES], nc, pfd;
		bool temp;

		if (!ag__proc_may_hold(e, uid_hint))
			continue;
		procs++;
		nc = ag__proc_guess_list(e, false, cand);
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
			ag__proc_found_at(e, cand[k]);
			out->pid = e->pid;
			out->inode = uid_hint == AG_UID_UNKNOWN ? st.st_ino : 0;
			out->uid = st.st_uid;
			p->st.take_found++;
			p->take_misses = 0;
			ag__proc_move_first(p, i);
			return 0;
		}
		if (temp)
			close(pfd);
	}
	p->st.take_missed++;
	/* Nothing to guess (new processes) cost nothing: not a miss. */
	if (p->take_misses < PROC_TAKE_PROBE && tries)
		p->take_misses++;
	return -ENOENT;
}
