/*
 * attrib.c — flow → socket → process.
 *
 * The order of the steps is the order of their cost: one netlink round trip,
 * then the inode cache or a bounded fd scan, then the process cache (read
 * from /proc only when it has nothing trustworthy).
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linux/attrib.h"

struct ag_attrib {
	struct ag_sockdiag *sd;
	struct ag_proc *proc;
	struct ag_attrib_stats st;
};

static const char *const why_names[AG_ATTRIB_WHY_MAX] = {
	[AG_ATTRIB_OK] = "found",
	[AG_ATTRIB_NO_SOCKET] = "no socket",
	[AG_ATTRIB_NO_INODE] = "socket without file",
	[AG_ATTRIB_NO_OWNER] = "no process holds the socket",
	[AG_ATTRIB_SCAN_LIMIT] = "scan limit reached",
	[AG_ATTRIB_NO_PROCESS] = "process gone",
	[AG_ATTRIB_UNSUPPORTED] = "protocol without sockets",
	[AG_ATTRIB_ERROR] = "error",
};

const char *ag_attrib_why_str(enum ag_attrib_why why)
{
	if ((unsigned)why >= AG_ATTRIB_WHY_MAX)
		return "?";
	return why_names[why];
}

struct ag_attrib *ag_attrib_new(struct ag_sockdiag *sd, struct ag_proc *proc)
{
	struct ag_attrib *a;

	if (!sd || !proc) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->sd = sd;
	a->proc = proc;
	return a;
}

void ag_attrib_free(struct ag_attrib *a)
{
	free(a);
}

void ag_attrib_get_stats(const struct ag_attrib *a, struct ag_attrib_stats *st)
{
	*st = a->st;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void account(struct ag_attrib *a, struct ag_attrib_result *out,
		    uint64_t t0)
{
	uint64_t ns = now_ns() - t0, us;
	int k = 0;

	out->elapsed_ns = ns;
	a->st.lookups++;
	a->st.why[out->why]++;
	a->st.total_ns += ns;
	if (ns > a->st.max_ns)
		a->st.max_ns = ns;
	for (us = ns / 1000; us > 1 && k < AG_ATTRIB_HIST - 1; us >>= 1)
		k++;
	a->st.hist_us[k]++;
}

static int finish(struct ag_attrib *a, struct ag_attrib_result *out,
		  uint64_t t0, enum ag_attrib_why why, int err)
{
	out->why = why;
	out->err = err;
	account(a, out, t0);
	return why == AG_ATTRIB_OK ? 0 : -ENOENT;
}

int ag_attrib_lookup(struct ag_attrib *a, const struct ag_tuple *t,
		     int direction, uint32_t uid_hint,
		     struct ag_attrib_result *out)
{
	uint64_t t0 = now_ns();
	struct ag_tuple local;
	pid_t pid;
	int r;

	out->why = AG_ATTRIB_ERROR;
	out->err = 0;
	out->flags = 0;
	out->uid = uid_hint;
	out->elapsed_ns = 0;
	memset(&out->sock, 0, sizeof(out->sock));
	out->proc.pid = -1;
	out->proc.ppid = 0;
	out->proc.uid = out->proc.euid = AG_UID_UNKNOWN;
	out->proc.start_time = 0;
	out->proc.flags = 0;
	out->proc.exe[0] = out->proc.cmdline[0] = out->proc.comm[0] = '\0';
	if (uid_hint != AG_UID_UNKNOWN)
		out->flags |= AG_ATTRIB_F_UID_HINT;
	if (!t || (direction != AG_ATTRIB_OUTBOUND &&
		   direction != AG_ATTRIB_INBOUND))
		return -EINVAL;

	/* An exec that happened a moment ago may still wait in the socket. */
	(void)ag_proc_receive(a->proc);

	if (direction == AG_ATTRIB_INBOUND) {
		ag_tuple_reverse(t, &local);
		/* The socket the kernel will deliver it to: a TCP listener,
		 * or the bound (or connected) UDP socket. */
		r = ag_sockdiag_lookup_listener(a->sd, &local, &out->sock);
		if (r == 0 && out->sock.state == TCP_LISTEN)
			out->flags |= AG_ATTRIB_F_LISTENER;
	} else {
		r = ag_sockdiag_lookup(a->sd, t, &out->sock);
	}
	if (r == -EPROTONOSUPPORT)
		return finish(a, out, t0, AG_ATTRIB_UNSUPPORTED, 0);
	if (r == -EINVAL) {
		finish(a, out, t0, AG_ATTRIB_ERROR, r);
		return -EINVAL;
	}
	if (r == -ENOENT)
		return finish(a, out, t0, AG_ATTRIB_NO_SOCKET, 0);
	if (r < 0)
		return finish(a, out, t0, AG_ATTRIB_ERROR, r);

	out->flags = (out->flags & ~AG_ATTRIB_F_UID_HINT) | AG_ATTRIB_F_SOCKET;
	out->uid = out->sock.uid;
	if (out->sock.inode == 0)
		return finish(a, out, t0, AG_ATTRIB_NO_INODE, 0);

	r = ag_proc_find_inode(a->proc, out->sock.inode, out->sock.uid, &pid);
	if (r == -ENOENT)
		return finish(a, out, t0, AG_ATTRIB_NO_OWNER, 0);
	if (r == -EAGAIN)
		return finish(a, out, t0, AG_ATTRIB_SCAN_LIMIT, 0);
	if (r < 0)
		return finish(a, out, t0, AG_ATTRIB_ERROR, r);

	r = ag_proc_get(a->proc, pid, &out->proc);
	if (r < 0) {
		out->proc.pid = -1;
		return finish(a, out, t0, AG_ATTRIB_NO_PROCESS, 0);
	}
	out->flags |= AG_ATTRIB_F_PROCESS;
	return finish(a, out, t0, AG_ATTRIB_OK, 0);
}
