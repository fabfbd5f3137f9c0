/*
 * attrib.h — which process owns a flow: the composition the daemon calls
 * for the first packet of every new flow.
 *
 *   outbound: sock_diag exact lookup → socket inode → pid → exe, cmdline
 *   inbound:  the listening (TCP) or bound (UDP) socket → its owner
 *
 * An outbound TCP flow is first looked for without sock_diag: the fds where
 * the most recent processes' next socket probably is are taken with
 * pidfd_getfd(2) and the flow's socket is told by its addresses, state and
 * network namespace (ag_attrib_set_taking(); Linux 5.14).
 *
 * An optional owner hook (ag_attrib_set_owner_hook) maps the socket's
 * cookie to its process directly, skipping the inode → pid scan of /proc
 * when it knows (the eBPF fast path records one for every connect()).
 *
 * A flow whose process cannot be named still gets a uid (the socket's, or
 * the hint NFQUEUE gave) and a reason.  The handle borrows a sock_diag
 * handle and a process cache: the caller opens them, runs the process
 * cache's fd in its event loop, and closes them after ag_attrib_free().
 */
#ifndef ALEGATE_LINUX_ATTRIB_H
#define ALEGATE_LINUX_ATTRIB_H

#include <stdint.h>

#include "linux/proc.h"
#include "linux/sockdiag.h"
#include "base/tuple.h"

/* Direction of a flow, as the data plane saw its first packet. */
#define AG_ATTRIB_OUTBOUND	0	/* src is local (OUTPUT, CONNECT) */
#define AG_ATTRIB_INBOUND	1	/* dst is local (INPUT, RECV_ACCEPT) */
/* Or'ed into an outbound direction: the flow's packet is held in the queue
 * while it is named, so a UDP socket holding no datagram did not send it. */
#define AG_ATTRIB_HELD		0x100

/* Why a lookup did not name a process; AG_ATTRIB_OK when it did. */
enum ag_attrib_why {
	AG_ATTRIB_OK = 0,
	AG_ATTRIB_NO_SOCKET,	/* no local socket has this flow (closed) */
	AG_ATTRIB_NO_INODE,	/* the socket has no file (TIME_WAIT, orphan) */
	AG_ATTRIB_NO_OWNER,	/* no process holds the socket */
	AG_ATTRIB_SCAN_LIMIT,	/* gave up: scan budget spent */
	AG_ATTRIB_NO_PROCESS,	/* owner gone, and not in the cache */
	AG_ATTRIB_UNSUPPORTED,	/* protocol without sockets to look up */
	AG_ATTRIB_ERROR,	/* netlink or /proc failed: see err */
	AG_ATTRIB_WHY_MAX
};

/* ag_attrib_result.flags */
#define AG_ATTRIB_F_SOCKET	0x1	/* sock holds the socket found */
#define AG_ATTRIB_F_PROCESS	0x2	/* proc holds the owner */
#define AG_ATTRIB_F_UID_HINT	0x4	/* uid is the caller's hint */
#define AG_ATTRIB_F_LISTENER	0x8	/* inbound: the socket is a listener */
#define AG_ATTRIB_F_OWNER_HOOK	0x10	/* the owner hook named the process */
#define AG_ATTRIB_F_TAKEN	0x20	/* found by taking the process's fd:
					   sock has family, state, id, uid; its
					   inode only without a uid hint, no
					   cookie */

struct ag_attrib_result {
	enum ag_attrib_why why;
	int err;		/* -errno behind AG_ATTRIB_ERROR, else 0 */
	uint32_t flags;		/* AG_ATTRIB_F_* */
	uint32_t uid;		/* socket uid, else the hint, else unknown */
	uint64_t elapsed_ns;	/* time this lookup took */
	struct ag_sock_info sock;
	struct ag_proc_info proc; /* pid -1 and exe "" when unknown */
};

/* Log2 histogram of lookup times: bucket k counts [2^k, 2^(k+1)) µs. */
#define AG_ATTRIB_HIST 16

struct ag_attrib_stats {
	uint64_t lookups;
	uint64_t why[AG_ATTRIB_WHY_MAX];	/* lookups by outcome */
	uint64_t total_ns, max_ns;
	uint64_t hist_us[AG_ATTRIB_HIST];
	/* The owner hook, when set: named the process / did not know the
	 * socket / named a process that is gone or whose pid was reused
	 * (then the scan ran). */
	uint64_t hook_hits, hook_unknown, hook_rejected;
	/* Outbound TCP: named by taking a guessed fd of a recent process
	 * (ag_proc_take_socket()), before any sock_diag request. */
	uint64_t taken;
	/* Outbound UDP, packet held: the unconnected socket on its port held
	 * no datagram, so another took the port after the sender closed. */
	uint64_t udp_not_sender;
};

/*
 * What an owner hook knows about a socket: the process that used it.
 * start_ns is when that process started, in CLOCK_BOOTTIME nanoseconds
 * (0: unknown); it tells a reused pid apart from the process that
 * connected.
 */
struct ag_attrib_owner {
	pid_t pid;
	uint32_t uid;		/* the socket's uid, or AG_UID_UNKNOWN */
	uint64_t start_ns;
};

/*
 * An owner hook: fill *out for the socket with this cookie and return 0,
 * or return a negative errno (-ENOENT: unknown socket).  Called on the
 * lookup path, so it must be cheap and must not block.
 */
typedef int ag_attrib_owner_fn(void *arg, uint64_t cookie, struct ag_attrib_owner *out);

struct ag_attrib;

/*
 * ag_attrib_new() - a lookup handle over borrowed parts.
 * @sd:   sock_diag handle, opened in the namespace of the flows
 * @proc: process cache
 * Return: a handle for ag_attrib_free(), or NULL with errno set.
 */
struct ag_attrib *ag_attrib_new(struct ag_sockdiag *sd, struct ag_proc *proc);

/*
 * ag_attrib_free() - free the handle, not the parts it borrows.  Accepts NULL.
 */
void ag_attrib_free(struct ag_attrib *a);

/*
 * ag_attrib_set_owner_hook() - ask @fn (with @arg) for a socket's process
 * as soon as sock_diag has found the socket, before any /proc scan.
 * @fn:  the hook, or NULL to remove it; @arg is borrowed and must outlive it
 *
 * The hook's answer is believed only when the process cache knows the pid
 * (alive, or exited within the grace time) and, where both are known, its
 * start time is the hook's: a pid reused since the connect() is not the
 * connecting process.  Otherwise the lookup goes on as without a hook.
 * The hook is asked even for a socket no file holds any more (closed,
 * TIME_WAIT), which the inode scan cannot name; never for a TCP listener.
 */
void ag_attrib_set_owner_hook(struct ag_attrib *a, ag_attrib_owner_fn *fn, void *arg);

/*
 * ag_attrib_set_taking() - whether an outbound TCP flow is first looked for
 * by taking the likely fds of recent processes (ag_proc_take_socket()):
 * on by default where the kernel allows it.  Off, every lookup starts with
 * sock_diag, as on kernels before 5.14; for tests and benchmarks.
 */
void ag_attrib_set_taking(struct ag_attrib *a, bool on);

/*
 * ag_attrib_lookup() - name the process of a new flow.
 * @a:         handle
 * @t:         the flow as its first packet showed it (packet orientation)
 * @direction: AG_ATTRIB_OUTBOUND (| AG_ATTRIB_HELD) or AG_ATTRIB_INBOUND
 * @uid_hint:  the uid NFQUEUE gave for a local packet, or AG_UID_UNKNOWN
 * @out:       filled in every case (see why)
 *
 * A named process may still have an empty exe (a kernel thread, or a
 * process gone before its exec could be read): proc.flags has
 * AG_PROC_NO_EXE then.
 *
 * Pending process events are read first so that an exec which has just
 * happened is known.  The work is bounded (sock_diag timeout, scan budget).
 * Return: 0 when a process was named (why AG_ATTRIB_OK); -ENOENT when not
 * (why says which step failed; uid may still be known); -EINVAL for a bad
 * tuple or direction.  @out is filled in every case.
 */
int ag_attrib_lookup(struct ag_attrib *a, const struct ag_tuple *t,
		     int direction, uint32_t uid_hint,
		     struct ag_attrib_result *out);

/*
 * ag_attrib_why_str() - a short English name for a why (for logs).
 */
const char *ag_attrib_why_str(enum ag_attrib_why why);

/*
 * ag_attrib_get_stats() - copy the counters into @st.
 */
void ag_attrib_get_stats(const struct ag_attrib *a, struct ag_attrib_stats *st);

#endif
