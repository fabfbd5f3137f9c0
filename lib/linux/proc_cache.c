/*
 * proc_cache.c — the cache's entries: reference-counted strings, the lists
 * and the hash by pid, allocating and dropping entries, reading one process
 * from /proc, and looking one up.
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

void ag__proc_drop_pidfd(struct ag_proc *p, struct pent *e)
{
	if (e->pidfd1) {
		close(e->pidfd1 - 1);
		e->pidfd1 = 0;
		p->npidfds--;
	}
}

void ag__proc_ent_release(struct ag_proc *p, uint32_t i)
{
	struct pent *e = &p->ents[i];

	ag__proc_drop_pidfd(p, e);
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
	e->sock_fd_next = e->sock_fd_n = e->hit_dist = 0;
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
	ag__proc_drop_pidfd(p, e);
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
