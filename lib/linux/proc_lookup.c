/*
 * proc_lookup.c — what the cache answers: the process a pid names (read
 * again when it can no longer be believed unchecked), and the process the
 * fast path's hooks saw send a flow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

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
		(void)ag__proc_em_drain(p);
	ag__proc_expire(p, now);
	i = ag__proc_slot_of(p, pid);
	if (i == NIL) {
		i = ag__proc_ent_alloc(p, pid);
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
		if (ag__proc_read(p, i, !(e->flags & (PF_NEED_READ | PF_NEED_DETAILS))) < 0) {
			if (e->flags & PF_NEED_READ) {
				ag__proc_ent_release(p, i);
				return -ENOENT;
			}
			/* Gone without an exit event: answer as exited. */
			ag__proc_mark_exited(p, i, now);
		}
	}
	copy_out(e, out);
	return 0;
}
