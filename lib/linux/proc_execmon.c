/*
 * proc_execmon.c — the exec monitor (execmon.h) as the cache's source of
 * forks, execs and exits: its events applied, the check that its pids are
 * ours, and the sentence that says where execs come from.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

/*
 * An exec as the exec monitor saw it: the path and identity of what the
 * kernel ran, read at the exec itself, so even a process that has already
 * exited is named.  Only the command line is left for /proc.
 */
static void on_kernel_exec(struct ag_proc *p, const struct ag_exec_event *ev)
{
	uint32_t i = ag__proc_slot_of(p, ev->pid);
	uint64_t start = ev->start_ns / p->ns_per_tick;
	struct pent *e;

	p->st.ev_exec++;
	p->st.ev_exec_kernel++;
	if (i == NIL)
		i = ag__proc_ent_alloc(p, ev->pid);
	else if (p->ents[i].list == L_EXITED ||
		 (p->ents[i].start_time && p->ents[i].start_time != start))
		ag__proc_ent_reset(p, i);
	ag__proc_move_first(p, i);
	e = &p->ents[i];
	e->ppid = ev->ppid;
	e->uid = ev->uid;
	e->euid = ev->euid;
	e->start_time = start;
	e->epoch = p->epoch;
	memcpy(e->comm, ev->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = '\0';
	ag__proc_pstr_put(e->cmdline);
	e->cmdline = NULL;
	e->flags &= ~(PF_NEED_READ | AG_PROC_INHERITED | AG_PROC_EXE_DELETED | AG_PROC_NO_EXE |
		      AG_PROC_EXE_ID | AG_PROC_EXE_FUSE | PF_KEXE | AG_PROC_CMDLINE_CUT);
	e->flags |= PF_NEED_DETAILS;
	if (ev->flags & AG_EXEC_FUSE)
		e->flags |= AG_PROC_EXE_FUSE;
	if (!ev->ino) {
		ag__proc_pstr_put(e->exe);
		e->exe = NULL;
		e->flags |= AG_PROC_NO_EXE;
		return;
	}
	if (!ev->path[0]) {
		/* Deeper than the walk goes: the name from /proc, if still there. */
		if (ag__proc_read_exec_exe(p, i) < 0) {
			ag__proc_pstr_put(e->exe);
			e->exe = NULL;
			e->flags |= AG_PROC_NO_EXE;
			return;
		}
		e->start_time = start;
	} else {
		ag__proc_pstr_set(&e->exe, ev->path, strlen(ev->path));
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

void ag__proc_on_kernel_event(const struct ag_exec_event *ev, void *arg)
{
	struct ag_proc *p = arg;
	uint64_t now = p->now();
	uint32_t i;

	if (p->probing && ev->type == AG_EXEC_EXIT && !strcmp(ev->comm, PROC_PROBE_COMM))
		p->probe_pid = ev->pid;

	switch (ev->type) {
	case AG_EXEC_FORK:
		ag__proc_on_fork(p, ev->pid, ev->ppid, now);
		i = ag__proc_slot_of(p, ev->pid);
		if (i != NIL)
			p->ents[i].start_time = ev->start_ns / p->ns_per_tick;
		break;
	case AG_EXEC_EXEC:
		on_kernel_exec(p, ev);
		break;
	case AG_EXEC_EXIT:
		ag__proc_on_exit(p, ev->pid, now);
		break;
	}
}

/*
 * Read what the exec monitor has waiting (no system call).  If its ring
 * ran full, what is cached can no longer be believed unchecked.
 * Return: events read.
 */
int ag__proc_em_drain(struct ag_proc *p)
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
	ag__proc_expire(p, p->now());
	ag__proc_on_kernel_event(ev, p);
}

/* ---- open/close ---------------------------------------------------------- */

/*
 * The exec monitor reports the kernel's pids, which are ours only in the
 * initial pid namespace (a /proc mounted inside another one would agree
 * with us, not with the kernel).  Ask it: a child that names itself and
 * exits must be reported under the pid fork() gave us.
 */
bool ag__proc_em_same_pids(struct ag_proc *p)
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
	(void)ag__proc_em_drain(p);
	p->probing = false;
	return p->probe_pid == c;
}

/* Say in the mode sentence where execs come from. */
void ag__proc_em_mode(struct ag_proc *p)
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
