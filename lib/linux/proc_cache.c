/*
 * proc_cache.c — the cache's entries: reference-counted strings, the lists
 * and the hash by pid, allocating and dropping entries, reading one process
 * from /proc, and forks, execs and exits applied to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

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

struct pstr *ag__proc_pstr_get(struct pstr *ps)
{
	if (ps)
		ps->ref++;
	return ps;
}

void ag__proc_pstr_put(struct pstr *ps)
{
	if (ps && --ps->ref == 0)
		free(ps);
}

/* Replace *@slot by a new string unless it already holds the same text. */
void ag__proc_pstr_set(struct pstr **slot, const char *s, size_t len)
{
	struct pstr *ps;

	if (*slot && (*slot)->len == len && memcmp((*slot)->s, s, len) == 0)
		return;
	ps = pstr_new(s, len);
	/* Out of memory: the entry keeps no string and says NO_EXE later. */
	ag__proc_pstr_put(*slot);
	*slot = ps;
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

void ag__proc_list_push_back(struct ag_proc *p, uint8_t which, uint32_t i)
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

uint32_t ag__proc_slot_of(const struct ag_proc *p, pid_t pid)
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

void ag__proc_drop_fds(struct ag_proc *p, struct pent *e)
{
	if (e->pidfd1) {
		close(e->pidfd1 - 1);
		e->pidfd1 = 0;
		p->npidfds--;
	}
	if (e->fddir1) {
		close(e->fddir1 - 1);
		e->fddir1 = 0;
		p->nfddirs--;
	}
}

void ag__proc_ent_release(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	ag__proc_drop_fds(p, e);
	hash_del(p, i);
	list_del(p, i);
	ag__proc_pstr_put(e->exe);
	ag__proc_pstr_put(e->cmdline);
	memset(e, 0, sizeof(*e));
	e->hnext = e->prev = e->next = NIL;
	ag__proc_list_push_back(p, L_FREE, i);
}

/* Drop exited processes whose grace time is over. */
void ag__proc_expire(struct ag_proc *p, uint64_t now)
{
	uint64_t grace = (uint64_t)p->cfg.grace_ms * 1000000u;

	while (p->lists[L_EXITED].head != NIL) {
		uint32_t i = p->lists[L_EXITED].head;

		if (now - p->ents[i].exited_ns < grace)
			break;
		ag__proc_ent_release(p, i);
	}
}

static void forget_fds(struct pent *e)
{
	e->fd_free = e->fd_max = -1;
	e->sock_fd_n = e->hit_rank = e->far_finds = 0;
}

/* A slot for @pid, which must not be in the hash yet. */
uint32_t ag__proc_ent_alloc(struct ag_proc *p, pid_t pid)
{
	uint32_t i, b;
	struct pent *e;

	if (p->lists[L_FREE].head == NIL) {
		i = p->lists[L_EXITED].head;
		if (i == NIL)
			i = p->lists[L_LIVE].tail;
		ag__proc_ent_release(p, i);
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
void ag__proc_ent_reset(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	ag__proc_pstr_put(e->exe);
	ag__proc_pstr_put(e->cmdline);
	e->exe = e->cmdline = NULL;
	e->ppid = 0;
	e->uid = e->euid = AG_UID_UNKNOWN;
	e->flags = 0;
	e->start_time = 0;
	e->comm[0] = '\0';
	e->exited_ns = 0;
	ag__proc_drop_fds(p, e);
	forget_fds(e);
	list_del(p, i);
	list_push_front(p, L_LIVE, i);
}

/* A live process did something: it goes first in the search order. */
void ag__proc_move_first(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	if (e->list == L_LIVE && p->lists[L_LIVE].head != i) {
		list_del(p, i);
		list_push_front(p, L_LIVE, i);
	}
}

void ag__proc_mark_exited(struct ag_proc *p, uint32_t i, uint64_t now)
{
	struct pent *e = &p->ents[i];

	if (e->list != L_LIVE)
		return;
	list_del(p, i);
	ag__proc_drop_fds(p, e);
	e->flags |= AG_PROC_EXITED;
	e->exited_ns = now;
	ag__proc_list_push_back(p, L_EXITED, i);
}

/* ---- reading /proc/PID --------------------------------------------------- */

/*
 * Read a process into entry @i.  @light: only check start time and exe,
 * and read the rest only if either changed.  Through one directory fd, so
 * every file read belongs to the same process even if the pid is reused
 * meanwhile (the reads then fail).
 * Return: 0, or -ENOENT when the process is gone.
 */
int ag__proc_read(struct ag_proc *p, uint32_t i, bool light)
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
		n = ag__proc_read_exe(dfd, "exe", exe, sizeof(exe), &xdev, &xino, &xid);
	if (n < 0)
		exe[0] = '\0';

	n = ag__proc_read_at(dfd, "stat", text, sizeof(text));
	if (n <= 0 || ag__proc_parse_stat(text, (size_t)n, comm, sizeof(comm),
					  &ppid, &kflags, &start) < 0) {
		close(dfd);
		return -ENOENT;
	}
	if (e->start_time && e->start_time != start) {
		p->st.pid_reused++;
		ag__proc_ent_reset(p, i);
		light = false;
		if (keep) {
			keep = false;
			n = ag__proc_read_exe(dfd, "exe", exe, sizeof(exe), &xdev, &xino, &xid);
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
			ag__proc_pstr_set(&e->exe, exe, strlen(exe));
		} else {
			ag__proc_pstr_put(e->exe);
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

	n = ag__proc_read_at(dfd, "cmdline", text, sizeof(text));
	if (n > 0) {
		char line[AG_PROC_CMDLINE_MAX];

		if (ag__proc_join_cmdline(text, (size_t)n, line, sizeof(line)) ||
		    (size_t)n == sizeof(text))
			e->flags |= AG_PROC_CMDLINE_CUT;
		ag__proc_pstr_set(&e->cmdline, line, strlen(line));
	} else {
		ag__proc_pstr_put(e->cmdline);
		e->cmdline = NULL;
	}

	n = ag__proc_read_at(dfd, "status", text, sizeof(text));
	if (n > 0)
		(void)ag__proc_parse_uids(text, (size_t)n, &e->uid, &e->euid);
	close(dfd);
	return 0;
}

/* ---- events, from either source (connector or exec monitor) ------------- */

void ag__proc_on_fork(struct ag_proc *p, pid_t child, pid_t parent,
			 uint64_t now)
{
	uint32_t i = ag__proc_slot_of(p, child), pi;
	struct pent *e, *pe;

	p->st.ev_fork++;
	if (i != NIL) {
		/* A fork names a new process: whatever had this pid is gone. */
		if (p->ents[i].list == L_LIVE)
			p->st.pid_reused++;
		ag__proc_ent_reset(p, i);
	} else {
		i = ag__proc_ent_alloc(p, child);
	}
	e = &p->ents[i];
	e->ppid = parent;
	e->epoch = p->epoch;
	pi = ag__proc_slot_of(p, parent);
	if (pi == NIL || (p->ents[pi].flags & PF_NEED_READ)) {
		e->flags = PF_NEED_READ;
		return;
	}
	pe = &p->ents[pi];
	e->uid = pe->uid;
	e->euid = pe->euid;
	memcpy(e->comm, pe->comm, sizeof(e->comm));
	e->exe = ag__proc_pstr_get(pe->exe);
	e->cmdline = ag__proc_pstr_get(pe->cmdline);
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
int ag__proc_read_exec_exe(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];
	char name[32], exe[AG_PROC_EXE_MAX];
	uint64_t ino = 0;
	uint32_t dev = 0;
	bool have_id;
	ssize_t n;

	snprintf(name, sizeof(name), "%d/exe", (int)e->pid);
	n = ag__proc_read_exe(p->proc_dfd, name, exe, sizeof(exe), &dev, &ino, &have_id);
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
	ag__proc_pstr_set(&e->exe, exe, strlen(exe));
	ag__proc_pstr_put(e->cmdline);
	e->cmdline = NULL;
	e->start_time = 0;
	e->flags |= PF_NEED_DETAILS;
	e->epoch = p->epoch;
	return 0;
}

void ag__proc_on_exit(struct ag_proc *p, pid_t pid, uint64_t now)
{
	uint32_t i = ag__proc_slot_of(p, pid);

	p->st.ev_exit++;
	if (i != NIL)
		ag__proc_mark_exited(p, i, now);
}
