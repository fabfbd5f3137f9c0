/*
 * conntrack.h — the conntrack table over ctnetlink: delete one flow's entry,
 * dump every entry, and follow DESTROY events.
 *
 * The daemon deletes the entry of an authorized flow that a new rule blocks
 * (with its conntrack mark gone, the flow's next packets are classified
 * again), forgets flows whose entry was destroyed, and dumps the table to
 * resynchronize when events were lost.
 *
 * Tuples are the flow's original direction: the first packet's src and dst.
 * TCP, UDP, UDP-Lite, SCTP, DCCP (ports) and ICMP/ICMPv6 echo (sport is the
 * identifier, see tuple.h) are supported.  A handle works in the network
 * namespace it was opened in and is not thread-safe.
 */
#ifndef ALEGATE_LINUX_CONNTRACK_H
#define ALEGATE_LINUX_CONNTRACK_H

#include <stdint.h>

#include "base/tuple.h"

/* Longest wait for the kernel's answer to a request. */
#define AG_CT_TIMEOUT_MS	1000
/* Event socket buffer unless ag_ct_open_events() is given one. */
#define AG_CT_DEFAULT_RCVBUF	(8 << 20)
/* Datagrams read per ag_ct_receive() call, to keep the event loop fair. */
#define AG_CT_RECV_BATCH	256

/* ag_ct_entry.flags: which optional fields the kernel sent */
#define AG_CT_F_MARK	0x1
#define AG_CT_F_ID	0x2
#define AG_CT_F_STATUS	0x4
#define AG_CT_F_ZONE	0x8
#define AG_CT_F_BYTES	0x10	/* accounting was on: bytes[] are set */

struct ag_ct_entry {
	struct ag_tuple orig;	/* original direction */
	uint32_t mark;		/* connmark */
	uint32_t id;		/* the kernel's id of the entry */
	uint32_t status;	/* IPS_* bits */
	uint64_t bytes[2];	/* original and reply direction (nf_conntrack_acct) */
	uint16_t zone;
	uint8_t icmp_type;	/* ICMP/ICMPv6 only */
	uint8_t icmp_code;
	uint8_t flags;		/* AG_CT_F_* */
};

/*
 * Called once per entry (dump) or per destroyed entry (events).  @e is valid
 * only during the call.
 */
typedef void (*ag_ct_cb)(const struct ag_ct_entry *e, void *arg);

struct ag_ct_stats {
	uint64_t deleted;	/* entries deleted by ag_ct_delete() */
	uint64_t events;	/* DESTROY events delivered */
	uint64_t lost;		/* event overruns (ENOBUFS) */
	uint64_t dumped;	/* entries delivered by dumps */
	uint64_t malformed;	/* messages dropped by validation */
	uint64_t stale;		/* replies with a wrong sequence or port id */
};

struct ag_ct;

/*
 * ag_ct_open() - open a ctnetlink request socket in the current network
 * namespace.  Needs CAP_NET_ADMIN.
 * Return: a handle for ag_ct_close(), or NULL with errno set.
 */
struct ag_ct *ag_ct_open(void);

/*
 * ag_ct_close() - close every socket of the handle and free it.  Accepts NULL.
 */
void ag_ct_close(struct ag_ct *ct);

/*
 * ag_ct_delete() - delete the entry of one flow.
 * @ct: handle
 * @t:  the flow's original direction tuple
 * Return: 0; -ENOENT when there is no such entry; -EPROTONOSUPPORT;
 * -EINVAL; -ETIMEDOUT or another -errno when netlink fails.
 */
int ag_ct_delete(struct ag_ct *ct, const struct ag_tuple *t);

/*
 * ag_ct_get() - the entry of one flow, as it is now (its bytes so far).
 * @t:  the flow's original direction tuple
 * @cb: called once with the entry (counted in ag_ct_stats.dumped)
 * Return: as ag_ct_delete().
 */
int ag_ct_get(struct ag_ct *ct, const struct ag_tuple *t, ag_ct_cb cb, void *arg);

/*
 * ag_ct_dump() - every entry of the table (IPv4 and IPv6), one call of @cb
 * per entry.  Entries of protocols outside struct ag_tuple's reach are
 * delivered with ports 0.
 * Return: 0; -EAGAIN when the kernel flagged the dump as inconsistent (the
 * table changed under it: entries may be missing or repeated; dump again);
 * other -errno.
 */
int ag_ct_dump(struct ag_ct *ct, ag_ct_cb cb, void *arg);

/*
 * ag_ct_open_events() - subscribe to DESTROY events.
 * @ct:     handle
 * @rcvbuf: socket buffer in bytes, 0 for AG_CT_DEFAULT_RCVBUF
 * @cb:     called by ag_ct_receive() for each destroyed entry
 * @arg:    passed to @cb
 * Return: 0, -EALREADY if already subscribed, or -errno.
 */
int ag_ct_open_events(struct ag_ct *ct, unsigned rcvbuf, ag_ct_cb cb,
		      void *arg);

/*
 * ag_ct_events_skip_mark() - drop, in the kernel, the events of entries
 * whose connmark has any of @bits: they never wake the reader.  A socket
 * filter on the event socket (SO_ATTACH_FILTER); an entry without a mark
 * attribute passes.  @bits 0 removes the filter.
 * Return: 0, -ENOTCONN before ag_ct_open_events(), or -errno.
 */
int ag_ct_events_skip_mark(struct ag_ct *ct, uint32_t bits);

/*
 * ag_ct_event_fd() - the event socket for poll/epoll, or -1 without one.
 */
int ag_ct_event_fd(const struct ag_ct *ct);

/*
 * ag_ct_receive() - deliver the events waiting, without blocking.
 * Return: the number of events delivered; -ENOBUFS when the kernel dropped
 * events (the events read before are delivered, the socket keeps working:
 * resynchronize with ag_ct_dump()); other -errno.
 */
int ag_ct_receive(struct ag_ct *ct);

/*
 * ag_ct_get_stats() - copy the counters into @st.
 */
void ag_ct_get_stats(const struct ag_ct *ct, struct ag_ct_stats *st);

#endif
