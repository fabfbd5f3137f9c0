/*
 * proc_take.c — taking a copy of a process's socket with pidfd_getfd(),
 * pidfds kept between lookups and released after.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

/* ---- closing the copies ----------------------------------------------------- */

/*
 * A copy taken at a guessed fd may be any file, and closing a file may
 * wait for someone: FUSE sends its server a flush and waits for the answer,
 * and the server may belong to the very user whose connection is waiting.
 * So a copy that is not a socket is closed by a thread of its own, handed
 * over through a pipe; while that thread is behind by PROC_CLOSER_MAX, no
 * fd is taken, and such copies are kept open rather than closed here.
 */
struct ag__closer {
	int rfd, wfd;
	atomic_int inflight;	/* handed over, not closed yet */
	atomic_int refs;	/* the handle and the thread */
};

static void closer_put(struct ag__closer *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

static void *closer_main(void *arg)
{
	struct ag__closer *c = arg;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	int fds[PROC_TAKE_TRIES * 4];

	/* it closes fds and nothing else: no capability of the thread that
	 * started it (capabilities belong to each thread) */
	(void)syscall(SYS_capset, &h, none);
	for (;;) {
		ssize_t n = read(c->rfd, fds, sizeof(fds));

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* the handle is closed: nothing more comes */
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(int); i++) {
			close(fds[i]);
			atomic_fetch_sub(&c->inflight, 1);
		}
	}
	close(c->rfd);
	closer_put(c);
	return NULL;
}

struct ag__closer *ag__closer_start(void)
{
	struct ag__closer *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int fds[2];

	if (!c)
		return NULL;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		free(c);
		return NULL;
	}
	c->rfd = fds[0];
	c->wfd = fds[1];
	(void)fcntl(c->wfd, F_SETFL, O_NONBLOCK);
	atomic_init(&c->inflight, 0);
	atomic_init(&c->refs, 2);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, closer_main, c) != 0) {
		pthread_attr_destroy(&attr);
		close(fds[0]);
		close(fds[1]);
		free(c);
		return NULL;
	}
	pthread_attr_destroy(&attr);
	pthread_setname_np(t, "ag-fdclose");
	return c;
}

/* The thread ends once it has closed what it was given (never joined: it
 * may be waiting in a close). */
void ag__closer_stop(struct ag__closer *c)
{
	if (!c)
		return;
	close(c->wfd);
	closer_put(c);
}

bool ag__closer_behind(const struct ag__closer *c)
{
	return c && atomic_load(&((struct ag__closer *)c)->inflight) >= PROC_CLOSER_MAX;
}

/* Without touching the file behind @fd (a socket's own call: ENOTSOCK). */
static bool is_socket(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* A copy of a file other than a socket: to the closer, or kept while it
 * is behind (closed here only past PROC_HELD_MAX, as before it). */
static void hand_off(struct ag_proc *p, int fd)
{
	struct ag__closer *c = p->closer;

	if (c && !ag__closer_behind(c)) {
		atomic_fetch_add(&c->inflight, 1);
		if (write(c->wfd, &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
			return;
		atomic_fetch_sub(&c->inflight, 1);
	}
	if (!c || p->nheld == PROC_HELD_MAX) {
		close(fd);
		return;
	}
	p->held_fds[p->nheld++] = fd;
	p->st.take_held++;
}

/* Sockets are closed here, at once: no flush to wait for, and a socket
 * its process closed meanwhile is released without delay. */
void ag_proc_release_taken(struct ag_proc *p)
{
	while (p->ntaken)
		close(p->taken_fds[--p->ntaken]);
	/* files kept while the closer was behind go once it is back */
	while (p->nheld && p->closer && !ag__closer_behind(p->closer)) {
		int fd = p->held_fds[--p->nheld];

		hand_off(p, fd);
	}
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
	if (ag__closer_behind(p->closer)) {
		/* a close it waits in: no more copies until it is back */
		p->st.take_skipped++;
		return -ENOENT;
	}
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
			bool yes, sock;
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
			 * then the inode is not read either.  Else a socket's
			 * only: fstat() of a FUSE file asks its server. */
			sock = uid_hint != AG_UID_UNKNOWN || is_socket(fd);
			yes = sock && (uid_hint != AG_UID_UNKNOWN ||
				       (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))) &&
			      is_it(fd, arg);
			/* A socket is closed later: not a system call on the
			 * way to the verdict.  Holding a copy a moment longer
			 * delays nothing but the socket's release if its
			 * process closes it meanwhile.  Any other file goes
			 * to the closer thread now: its close may wait. */
			if (yes || (sock && uid_hint == AG_UID_UNKNOWN) || is_socket(fd))
				p->taken_fds[p->ntaken++] = fd;
			else
				hand_off(p, fd);
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
