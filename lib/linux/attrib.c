/*
 * attrib.c — flow → socket → process.
 *
 * The order of the steps is the order of their cost.  An outbound TCP flow
 * is first looked for among the fds where a recent process's next socket
 * probably is, taken with pidfd_getfd() and compared by address; then one
 * netlink round trip, then the owner hook (a map lookup by socket cookie),
 * then the inode cache or a bounded fd scan, then the process cache (read
 * from /proc only when it has nothing trustworthy).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "linux/attrib.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71	/* Linux 5.14 */
#endif

struct ag_attrib {
	struct ag_sockdiag *sd;
	struct ag_proc *proc;
	ag_attrib_owner_fn *owner_fn;
	void *owner_arg;
	uint64_t ns_per_tick;	/* /proc's start times are in clock ticks */
	uint64_t netns_cookie;	/* of the sockets sock_diag sees; 0: no taking */
	bool taking;
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
	long hz = sysconf(_SC_CLK_TCK);
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
	/* The kernel divides by NSEC_PER_SEC / USER_HZ where that is exact
	 * (USER_HZ is 100 nearly everywhere); elsewhere start times are not
	 * compared (ns_per_tick 0). */
	if (hz > 0 && 1000000000L % hz == 0)
		a->ns_per_tick = (uint64_t)(1000000000L / hz);
	/* A taken socket must be of the namespace we guard: without the
	 * cookie to tell (before 5.14), sockets are never taken. */
	{
		socklen_t len = sizeof(a->netns_cookie);

		if (getsockopt(ag_sockdiag_fd(sd), SOL_SOCKET, SO_NETNS_COOKIE,
			       &a->netns_cookie, &len) || len != sizeof(a->netns_cookie))
			a->netns_cookie = 0;
	}
	a->taking = true;
	return a;
}

void ag_attrib_set_owner_hook(struct ag_attrib *a, ag_attrib_owner_fn *fn, void *arg)
{
	a->owner_fn = fn;
	a->owner_arg = fn ? arg : NULL;
}

void ag_attrib_set_taking(struct ag_attrib *a, bool on)
{
	a->taking = on;
}

void ag_attrib_free(struct ag_attrib *a)
{
	free(a);
}

void ag_attrib_get_stats(const struct ag_attrib *a, struct ag_attrib_stats *st)
{
	*st = a->st;
}

static void account(struct ag_attrib *a, struct ag_attrib_result *out,
		    uint64_t t0)
{
	uint64_t ns = ag_mono_ns() - t0, us;
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

static void proc_unknown(struct ag_proc_info *p)
{
	p->pid = -1;
	p->ppid = 0;
	p->uid = p->euid = AG_UID_UNKNOWN;
	p->start_time = 0;
	p->flags = 0;
	p->exe[0] = p->cmdline[0] = p->comm[0] = '\0';
}

/*
 * Ask the owner hook for the socket in out->sock.  Returns 0 with out->proc
 * filled when its process is believable; else out->proc is left unknown and
 * the caller goes on with the scan.
 */
static int by_owner_hook(struct ag_attrib *a, struct ag_attrib_result *out)
{
	struct ag_attrib_owner o = { .pid = -1, .uid = AG_UID_UNKNOWN };
	int r = a->owner_fn(a->owner_arg, out->sock.cookie, &o);

	if (r || o.pid <= 0) {
		a->st.hook_unknown++;
		return r ? r : -ENOENT;
	}
	/* Alive, or exited within the grace time: the cache answers both. */
	if (ag_proc_get(a->proc, o.pid, &out->proc) < 0) {
		proc_unknown(&out->proc);
		a->st.hook_rejected++;
		return -ESRCH;
	}
	/* The pid was reused after the connect(): another process now.  An
	 * exited entry whose start was never read (0) is the last process the
	 * cache saw with this pid, which a fork of a new one would replace. */
	if (o.start_ns && out->proc.start_time && a->ns_per_tick &&
	    o.start_ns / a->ns_per_tick != out->proc.start_time) {
		proc_unknown(&out->proc);
		a->st.hook_rejected++;
		return -ESTALE;
	}
	a->st.hook_hits++;
	out->flags |= AG_ATTRIB_F_PROCESS | AG_ATTRIB_F_OWNER_HOOK;
	/* A closed socket (TIME_WAIT) reports no uid of its own. */
	if (out->sock.inode == 0 && o.uid != AG_UID_UNKNOWN)
		out->uid = o.uid;
	return 0;
}

/* ---- taking the socket ---------------------------------------------------- */

struct take_ctx {
	const struct ag_tuple *t;	/* packet orientation: src is local */
	uint64_t netns;
	uint8_t family, state;		/* the socket's, once it is the one */
};

/* Is @ss (@len bytes) @addr port @port of an IPv@ipv flow? */
static bool sockaddr_is(const struct sockaddr_storage *ss, socklen_t len, int ipv,
			const uint8_t *addr, uint16_t port)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return len >= sizeof(*in) && ipv == 4 && ntohs(in->sin_port) == port &&
		       memcmp(&in->sin_addr, addr, 4) == 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		const uint8_t *a6 = in6->sin6_addr.s6_addr;

		if (len < sizeof(*in6) || ntohs(in6->sin6_port) != port)
			return false;
		if (ipv == 6)
			return memcmp(a6, addr, 16) == 0;
		/* A dual-stack socket's IPv4 flow */
		return memcmp(a6, v4mapped, 12) == 0 && memcmp(a6 + 12, addr, 4) == 0;
	}
	return false;
}

/*
 * Is @fd the flow's socket?  The kernel keeps one TCP socket per address
 * quadruple in a namespace, as long as it is connecting or connected, so:
 * the same local and remote address and port, a TCP state other than
 * CLOSE (a reset socket keeps its addresses while its process holds it,
 * and a new connection may reuse them) and the namespace we guard.
 */
static bool socket_is_flow(int fd, void *arg)
{
	struct take_ctx *c = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint64_t netns = 0;
	uint8_t state = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    !sockaddr_is(&ss, len, c->t->ip_version, c->t->src.b, c->t->sport))
		return false;
	c->family = (uint8_t)ss.ss_family;
	/* SO_PEERNAME answers in SYN_SENT, where getpeername() does not; it
	 * wants the exact size of the family's address. */
	len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &ss, &len) ||
	    !sockaddr_is(&ss, len, c->t->ip_version, c->t->dst.b, c->t->dport))
		return false;
	/* tcp_info's first byte is the state; not TCP: ENOPROTOOPT */
	len = sizeof(state);
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &state, &len) || len != sizeof(state) ||
	    state == TCP_CLOSE || state == TCP_LISTEN)
		return false;
	c->state = state;
	len = sizeof(netns);
	return getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &netns, &len) == 0 &&
	       netns == c->netns;
}

/*
 * An outbound TCP flow's socket among the likely fds of recent processes.
 * Returns 0 with out->sock and out->proc filled, -ENOENT with nothing
 * changed, or 1 when the process was found and is gone (NO_PROCESS).
 */
static int by_taking(struct ag_attrib *a, const struct ag_tuple *t,
		     uint32_t uid_hint, struct ag_attrib_result *out)
{
	struct take_ctx c = { .t = t, .netns = a->netns_cookie };
	struct ag_proc_taken tk;

	if (ag_proc_take_socket(a->proc, uid_hint, socket_is_flow, &c, &tk))
		return -ENOENT;
	a->st.taken++;
	out->sock.inode = tk.inode;
	out->sock.uid = tk.uid;
	out->sock.family = c.family;
	out->sock.state = c.state;
	out->sock.id = *t;
	if (c.family == AF_INET6 && t->ip_version == 4)
		out->sock.flags |= AG_SOCK_F_MAPPED;
	out->flags = (out->flags & ~AG_ATTRIB_F_UID_HINT) | AG_ATTRIB_F_SOCKET | AG_ATTRIB_F_TAKEN;
	out->uid = tk.uid;
	if (ag_proc_get(a->proc, tk.pid, &out->proc) < 0) {
		proc_unknown(&out->proc);
		return 1;
	}
	out->flags |= AG_ATTRIB_F_PROCESS;
	return 0;
}

/*
 * Can the UDP socket sock_diag found for outbound flow @t have sent its
 * datagram, the one held in the queue?  After the sender closed its socket
 * (or exited), a socket another program bound to the same port since
 * matches the flow too: an unconnected one any peer's, a connected one its
 * own.  A datagram is charged to its socket's memory until it is freed,
 * and the one held is not yet: a socket holding no datagram memory did not
 * send it.
 */
static bool udp_may_have_sent(const struct ag_sock_info *si, const struct ag_tuple *t)
{
	return t->protocol != IPPROTO_UDP || !(si->flags & AG_SOCK_F_WMEM) ||
	       si->wmem_alloc != 0;
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
	uint64_t t0 = ag_mono_ns();
	bool held = direction == (AG_ATTRIB_OUTBOUND | AG_ATTRIB_HELD);
	struct ag_tuple local;
	pid_t pid;
	int r;

	if (held)
		direction = AG_ATTRIB_OUTBOUND;

	out->why = AG_ATTRIB_ERROR;
	out->err = 0;
	out->flags = 0;
	out->uid = uid_hint;
	out->elapsed_ns = 0;
	memset(&out->sock, 0, sizeof(out->sock));
	proc_unknown(&out->proc);
	if (uid_hint != AG_UID_UNKNOWN)
		out->flags |= AG_ATTRIB_F_UID_HINT;
	if (!t || (direction != AG_ATTRIB_OUTBOUND &&
		   direction != AG_ATTRIB_INBOUND))
		return -EINVAL;

	/* An exec that happened a moment ago may still wait in the socket. */
	(void)ag_proc_receive(a->proc);

	if (direction == AG_ATTRIB_OUTBOUND && t->protocol == IPPROTO_TCP &&
	    a->taking && a->netns_cookie) {
		r = by_taking(a, t, uid_hint, out);
		if (r == 0)
			return finish(a, out, t0, AG_ATTRIB_OK, 0);
		if (r == 1)
			return finish(a, out, t0, AG_ATTRIB_NO_PROCESS, 0);
	}

	if (direction == AG_ATTRIB_INBOUND) {
		ag_tuple_reverse(t, &local);
		/* The socket the kernel will deliver it to: a TCP listener,
		 * or the bound (or connected) UDP socket. */
		r = ag_sockdiag_lookup_listener(a->sd, &local, &out->sock);
		if (r == 0 && out->sock.state == TCP_LISTEN)
			out->flags |= AG_ATTRIB_F_LISTENER;
	} else {
		r = ag_sockdiag_lookup(a->sd, t, &out->sock);
		if (r == 0 && held && !udp_may_have_sent(&out->sock, t)) {
			a->st.udp_not_sender++;
			memset(&out->sock, 0, sizeof(out->sock));
			r = -ENOENT;
		}
	}
	if (r == -EPROTONOSUPPORT)
		return finish(a, out, t0, AG_ATTRIB_UNSUPPORTED, 0);
	if (r == -EINVAL) {
		finish(a, out, t0, AG_ATTRIB_ERROR, r);
		return -EINVAL;
	}
	if (r == -ENOENT) {
		/* A datagram whose sender closed its socket (or exited) before
		 * we looked: the exec monitor saw who queued it. */
		if (direction == AG_ATTRIB_OUTBOUND && t->protocol == IPPROTO_UDP &&
		    a->netns_cookie && ag_proc_sender(a->proc, a->netns_cookie, t, &out->proc) == 0) {
			out->flags |= AG_ATTRIB_F_PROCESS;
			return finish(a, out, t0, AG_ATTRIB_OK, 0);
		}
		proc_unknown(&out->proc);
		return finish(a, out, t0, AG_ATTRIB_NO_SOCKET, 0);
	}
	if (r < 0)
		return finish(a, out, t0, AG_ATTRIB_ERROR, r);

	out->flags = (out->flags & ~AG_ATTRIB_F_UID_HINT) | AG_ATTRIB_F_SOCKET;
	out->uid = out->sock.uid;
	/* A listener never connect()s: the hook cannot know it. */
	if (a->owner_fn && out->sock.cookie && !(out->flags & AG_ATTRIB_F_LISTENER) &&
	    by_owner_hook(a, out) == 0)
		return finish(a, out, t0, AG_ATTRIB_OK, 0);
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
