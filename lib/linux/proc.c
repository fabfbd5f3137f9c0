/*
 * proc.c — the process cache behind attribution: open, close, the event
 * loop's entry (ag_proc_receive) and its counters.
 *
 * The cache is in eight more files, one idea each:
 *   proc_parse.c      reading and parsing /proc/PID text (stat, status, cmdline, exe);
 *   proc_cache.c      the entries: array, hash by pid, lists, reading one process,
 *                     fork, exec and exit applied whichever source told them;
 *   proc_lookup.c     a process by pid, or by the hooks' record of a flow;
 *   proc_connector.c  the proc connector (fork, exec, exit, uid events);
 *   proc_execmon.c    the exec monitor's events (execmon.h);
 *   proc_walk.c       walking /proc when events were lost or are absent;
 *   proc_sockets.c    finding the process that holds a socket inode;
 *   proc_take.c       taking a copy of a socket with pidfd_getfd();
 * their shared structures are in proc_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <linux/cn_proc.h>

#include "base/clock.h"
#include "linux/proc_internal.h"

/* ---- small helpers ------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t v = 1;

	while (v < n && v < (1u << 30))
		v <<= 1;
	return v;
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

	/* without its thread, copies are closed where they were taken */
	if (!p->take_off)
		p->closer = ag__closer_start();

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
		ag__proc_list_push_back(p, L_FREE, i);
	}

	if (p->cfg.exec_bpf && strcmp(p->cfg.proc_root, "/proc") != 0) {
		snprintf(p->em_why, sizeof(p->em_why), "%s is not the kernel's /proc",
			 p->cfg.proc_root);
	} else if (p->cfg.exec_bpf) {
		char why[160];

		/* Before /proc is read, so no process falls between the two. */
		p->em = ag_execmon_open(ag__proc_on_kernel_event, p,
					p->cfg.bpf_cgroup ? p->cfg.bpf_cgroup : "/sys/fs/cgroup",
					why, sizeof(why));
		if (!p->em) {
			snprintf(p->em_why, sizeof(p->em_why), "%s", why);
		} else if (!ag__proc_em_same_pids(p)) {
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
		int r = ag__proc_cn_open(p);

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
	ag__proc_em_mode(p);
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
		(void)ag__proc_cn_send_op(p, PROC_CN_MCAST_IGNORE, 0, false, 0);
		close(p->nlfd);
	}
	/* copies kept while the closer was stuck stay open: closing them
	 * here could wait as long as it does */
	ag_proc_release_taken(p);
	ag__closer_stop(p->closer);
	ag_execmon_close(p->em);
	if (p->ents)
		for (uint32_t i = 0; i < p->cfg.max_procs; i++) {
			ag__proc_drop_fds(p, &p->ents[i]);
			ag__proc_pstr_put(p->ents[i].exe);
			ag__proc_pstr_put(p->ents[i].cmdline);
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

	ag__proc_expire(p, p->now());
	if (p->em) {
		int n = ag__proc_em_drain(p);

		if (n < 0)
			return n;
		events += n;
	}
	if (p->nlfd == -1)
		return events;
	for (int k = 0; k < PROC_RECV_BATCH; k++) {
		r = ag__proc_recv_one(p, NULL, NULL, &events);
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
