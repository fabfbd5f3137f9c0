/*
 * sockdiag.h — find and destroy local sockets with netlink sock_diag.
 *
 * From a flow's 5-tuple to the socket that owns it (inode, uid, cookie,
 * state), the listening socket an inbound flow will reach, and SOCK_DESTROY
 * so that an application blocked in connect() or reading an established
 * connection gets an error at once.
 *
 * Every function here takes its tuple in socket orientation: src is the
 * local end, dst the remote end (ag_tuple_reverse() turns an inbound packet's
 * tuple around).  A handle queries the network namespace it was opened in.
 * A handle is not thread-safe; lookups are synchronous request/reply pairs
 * that wait at most AG_SOCKDIAG_TIMEOUT_MS.  One dump, of the TCP sockets
 * that carry a given SO_MARK, reads the kernel's replies as they come.
 */
#ifndef ALEGATE_LINUX_SOCKDIAG_H
#define ALEGATE_LINUX_SOCKDIAG_H

#include <stdint.h>

#include "base/tuple.h"

/* Longest wait for one reply; the kernel answers in microseconds. */
#define AG_SOCKDIAG_TIMEOUT_MS 100

struct ag_sockdiag;

/* ag_sock_info.flags */
#define AG_SOCK_F_MARK		0x1	/* mark is valid */
#define AG_SOCK_F_CGROUP	0x2	/* cgroup_id is valid */
#define AG_SOCK_F_MAPPED	0x4	/* found as IPv4-mapped on an IPv6 socket */
#define AG_SOCK_F_WMEM		0x8	/* wmem_alloc is valid (UDP lookups) */

struct ag_sock_info {
	uint64_t inode;		/* 0 when no file holds it (TIME_WAIT, orphan) */
	uint64_t cookie;	/* the kernel's socket cookie */
	uint64_t cgroup_id;	/* cgroup v2 id of the creator, see flags */
	uint32_t uid;		/* fsuid of the creator of the socket */
	uint32_t mark;		/* SO_MARK, see flags */
	uint32_t wmem_alloc;	/* bytes of its datagrams not yet freed (in
				   flight, queued), see flags */
	uint8_t state;		/* TCP_* state (netinet/tcp.h); UDP: 1 connected, 7 not */
	uint8_t family;		/* the socket's own family: AF_INET or AF_INET6 */
	uint8_t flags;		/* AG_SOCK_F_* */
	struct ag_tuple id;	/* the socket's own id (src = local; zeros = wildcard) */
};

struct ag_sockdiag_stats {
	uint64_t requests;	/* netlink requests sent */
	uint64_t found;		/* lookups that found a socket */
	uint64_t not_found;	/* lookups that found none */
	uint64_t destroyed;	/* sockets destroyed */
	uint64_t timeouts;	/* replies that did not come in time */
	uint64_t stale;		/* replies dropped: wrong sequence or port id */
	uint64_t malformed;	/* replies dropped: failed validation */
};

/*
 * ag_sockdiag_open() - open a NETLINK_SOCK_DIAG socket in the current
 * network namespace.
 * Return: a handle for ag_sockdiag_close(), or NULL with errno set.
 */
struct ag_sockdiag *ag_sockdiag_open(void);

/*
 * ag_sockdiag_close() - close and free a handle.  Accepts NULL.
 */
void ag_sockdiag_close(struct ag_sockdiag *sd);

/*
 * ag_sockdiag_lookup() - the socket that owns a flow.
 * @sd:  handle
 * @t:   flow in socket orientation (src = local); TCP or UDP, IPv4 or IPv6
 * @out: filled on success
 *
 * An exact lookup (no dump).  UDP falls back to an unconnected socket
 * (remote zero) and a wildcard local address.  A dual-stack IPv6 socket
 * carrying an IPv4 flow is found by the IPv4 lookup on current kernels;
 * the IPv4-mapped form is tried after it all the same.  A TCP flow never
 * returns a listener here (see ag_sockdiag_lookup_listener()).
 *
 * Return: 0; -ENOENT when no socket matches; -EPROTONOSUPPORT for another
 * protocol; -EINVAL for a bad tuple; -ETIMEDOUT, -EBADMSG or another -errno
 * when netlink fails.
 */
int ag_sockdiag_lookup(struct ag_sockdiag *sd, const struct ag_tuple *t,
		       struct ag_sock_info *out);

/*
 * ag_sockdiag_lookup_listener() - the socket that will receive an inbound
 * flow: the TCP LISTEN socket, or the bound UDP socket, on the local address
 * or on the wildcard address.
 * @sd:  handle
 * @t:   flow in socket orientation (src = local address and port the peer
 *       connects to, dst = the peer)
 * @out: filled on success
 *
 * Return: as ag_sockdiag_lookup().
 */
int ag_sockdiag_lookup_listener(struct ag_sockdiag *sd,
				const struct ag_tuple *t,
				struct ag_sock_info *out);

/*
 * ag_sockdiag_destroy() - destroy the socket of one flow (SOCK_DESTROY).
 * @sd: handle
 * @t:  flow in socket orientation
 *
 * The socket is found as by ag_sockdiag_lookup() and destroyed by its cookie,
 * so a socket that replaced it meanwhile is left alone.  TCP: a blocked
 * connect() fails with ECONNABORTED, the reader of an established connection
 * gets ECONNABORTED and the peer gets a RST.  A socket that serves more than
 * this flow (a TCP listener, an unconnected UDP socket) is never destroyed.
 * Needs CAP_NET_ADMIN.
 *
 * Return: 0; -ENOENT when no socket owns the flow; -EBUSY when the only
 * socket is shared with other flows; -EPERM; other -errno.
 */
int ag_sockdiag_destroy(struct ag_sockdiag *sd, const struct ag_tuple *t);

/* Called once per socket a dump reports. */
typedef void (*ag_sockdiag_dump_cb)(const struct ag_sock_info *si, void *arg);

/*
 * ag_sockdiag_dump_marked() - every TCP socket of the handle's network
 * namespace, IPv4 and IPv6, whose SO_MARK has (SO_MARK & @mask) == @mark.
 * @sd:   handle
 * @mark: the bits wanted, under @mask
 * @mask: the bits of SO_MARK compared (0, with @mark 0: every socket)
 * @cb:   called once per socket; @si is valid only during the call
 * @arg:  passed to @cb
 *
 * Filtered in the kernel (INET_DIAG_REQ_BYTECODE with one
 * INET_DIAG_BC_MARK_COND), so only the sockets asked for are read; needs
 * CAP_NET_ADMIN.  States: every state but LISTEN, TIME_WAIT, NEW_SYN_RECV
 * and CLOSE (those carry no flow of a connect()).  Each recv() waits at
 * most AG_SOCKDIAG_TIMEOUT_MS; a reply that fails validation is skipped
 * (stats: malformed).
 *
 * @si is filled as ag_sockdiag_lookup() fills it: id.src is the local end,
 * id.dst the remote one, protocol TCP, mark with AG_SOCK_F_MARK.  An IPv6
 * socket reports its IPv6 addresses as they are: a dual-stack socket's IPv4
 * flow comes as IPv4-mapped addresses, with ip_version 6 and without
 * AG_SOCK_F_MAPPED; callers that want the IPv4 flow unmap them.  Each
 * socket is reported once, by its own family.
 *
 * @cb must not use @sd (the rest of the dump is still queued on it): a
 * lookup, destroy or dump on @sd from @cb fails with -EDEADLK; use another
 * handle.  On an error, @cb may already have seen some of the sockets.
 *
 * Return: the number of sockets reported to @cb; -EPERM without
 * CAP_NET_ADMIN; -ETIMEDOUT; -EBADMSG when a batch of replies came cut
 * short or an error reply was malformed; -ENOMEM or another -errno.
 */
int ag_sockdiag_dump_marked(struct ag_sockdiag *sd, uint32_t mark,
			    uint32_t mask, ag_sockdiag_dump_cb cb, void *arg);

/*
 * ag_sockdiag_events_open() - a subscription to the UDP sockets the kernel
 * destroys in the calling thread's network namespace, IPv4 and IPv6
 * (SKNLGRP_INET_UDP_DESTROY and SKNLGRP_INET6_UDP_DESTROY).
 * @cb:  called by ag_sockdiag_events_receive() once per destroyed socket:
 *       @si as a lookup fills it (id.src = the local end, id.dst the remote
 *       one, zeros where unbound or unconnected; IPv4-mapped addresses as
 *       they are, with ip_version 6)
 * @arg: passed to @cb
 *
 * The kernel sends these only while someone listens, from a work queue
 * shortly after the socket is freed (its port is free a little earlier).
 * Needs CAP_NET_ADMIN.  The socket is nonblocking: poll its fd.
 * Return: the handle (free with ag_sockdiag_events_close()), or NULL with
 * errno (EPERM without the capability).
 */
struct ag_sockdiag_events;
struct ag_sockdiag_events *ag_sockdiag_events_open(ag_sockdiag_dump_cb cb, void *arg);

/* ag_sockdiag_events_fd() - the subscription's socket, to poll for input. */
int ag_sockdiag_events_fd(const struct ag_sockdiag_events *ev);

/*
 * ag_sockdiag_events_receive() - read what is queued, up to
 * AG_SOCKDIAG_EVENTS_BATCH datagrams, calling the callback for each socket.
 * Return: the number of sockets reported; -ENOBUFS when the kernel dropped
 * some (the socket buffer overran; those are lost); another -errno.
 */
#define AG_SOCKDIAG_EVENTS_BATCH 64
int ag_sockdiag_events_receive(struct ag_sockdiag_events *ev);

/* ag_sockdiag_events_close() - end the subscription; NULL is accepted. */
void ag_sockdiag_events_close(struct ag_sockdiag_events *ev);

/*
 * ag_sockdiag_get_stats() - copy the handle's counters into @st.
 */
void ag_sockdiag_get_stats(const struct ag_sockdiag *sd,
			   struct ag_sockdiag_stats *st);

/*
 * ag_sockdiag_fd() - the handle's netlink socket, which lives in the network
 * namespace whose sockets it finds.  Not for reading or writing.
 */
int ag_sockdiag_fd(const struct ag_sockdiag *sd);

#endif
