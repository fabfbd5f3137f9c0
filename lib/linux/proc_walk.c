/*
 * proc_walk.c — walking /proc: the cache filled at open, and again when
 * events were lost or there are none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

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
int ag__proc_walk_pids(struct ag_proc *p)
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
			if (!ag__proc_parse_u64(d->d_name, d->d_name + strlen(d->d_name),
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
	int n = ag__proc_walk_pids(p);

	if (n < 0)
		return n;
	ag__proc_expire(p, now);
	for (int k = 0; k < n; k++) {
		pid_t pid = p->walk[k];

		i = ag__proc_slot_of(p, pid);
		if (i == NIL) {
			i = ag__proc_ent_alloc(p, pid);
			p->ents[i].flags = PF_NEED_READ;
		} else if (p->ents[i].list == L_EXITED) {
			ag__proc_ent_reset(p, i);
			p->ents[i].flags = PF_NEED_READ;
		}
		if (ag__proc_read(p, i, !(p->ents[i].flags & PF_NEED_READ)) < 0) {
			/* Gone since the directory was read. */
			if (p->ents[i].flags & PF_NEED_READ)
				ag__proc_ent_release(p, i);
			else
				ag__proc_mark_exited(p, i, now);
			continue;
		}
		p->ents[i].scan_id = id;
	}
	/* What is cached as live but was not in /proc exited unseen. */
	for (i = p->lists[L_LIVE].head; i != NIL; i = next) {
		next = p->ents[i].next;
		if (p->ents[i].scan_id != id)
			ag__proc_mark_exited(p, i, now);
	}
	return 0;
}
