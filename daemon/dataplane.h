/*
 * daemon/dataplane.h — the data plane, owned by dataplane.c: the NFQUEUE
 * queues and what they carry to ag_classify() (parsing, attribution, DNS
 * snooping), and the engine's callbacks turned into verdicts, conntrack
 * deletions and socket destruction.  Its counters (struct agd_counters) are
 * what `status` shows of it.
 */
#ifndef ALEGATE_DAEMON_DATAPLANE_H
#define ALEGATE_DAEMON_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "alegate/engine.h"

struct agd;
struct ag_proc_info;

struct agd_counters {
	uint64_t queued_packets; /* CONNECT + RECV_ACCEPT packets that reached user space */
	uint64_t dns_replies;
	uint64_t dns_unparsed;
	uint64_t dns_queries;    /* queries read on their way out */
	uint64_t dns_unsolicited; /* parsed replies that answer no query sent: not learned */
	/* packets on one queue of a flow the engine has from the other
	 * direction (a peer's SYN crossing a held connect): dropped unless
	 * the flow is authorized */
	uint64_t crossed;
	uint64_t dns_not_resolver; /* replies from a server not configured: not learned */
	/* authorized UDP flows ended because their socket closed: a new
	 * socket on the same ports is a new flow */
	uint64_t udp_socket_ends;
	uint64_t malformed;      /* packets we could not parse (dropped) */
	uint64_t attributed, unattributed;
	uint64_t rejects;        /* sockets destroyed for reject */
	/* SYNs of a kept blocked flow from another process: a new connection
	 * on a reused port, classified as its own flow */
	uint64_t reused_ports;
	uint64_t teardowns;
	uint64_t ct_events;
	/* kernel-allowed flows decided again after a rule change (S12) whose
	 * hook record was overwritten, named through attribution instead */
	uint64_t fp_reauth_attributed;
	/* processes named by a path whose file is not the one they run (a
	 * bind mount in another mount namespace): no app rule applied */
	uint64_t exe_mismatch;
	uint64_t fp_events;      /* fast-path decisions read from its ring */
};

/* ---- each module's own state; struct agd composes them -------------------- */

/* dataplane.c: what the callback of queue `which` is handed. */
struct agd_queue_ctx {
	struct agd *d;
	int which;
};

/* The process cache (and its proc connector); before entering a netns. */
int agd_dataplane_open_proc(struct agd *d);
/* Open the queues, conntrack, attribution, DNS cache.  Returns 0 or -errno (logged). */
int agd_dataplane_open(struct agd *d);
/* Install the firewall rules (after the queues are bound).  Returns 0 or -errno. */
int agd_dataplane_install(struct agd *d);
/* Remove the firewall rules, close everything.  Safe on a half-open state. */
void agd_dataplane_close(struct agd *d);
/* The engine's data plane callbacks. */
void agd_dataplane_ops(struct agd *d, ag_dataplane_ops *ops);
/* Event loop hooks: a queue, conntrack or the proc connector is readable. */
void agd_dataplane_queue_ready(struct agd *d, int which);
void agd_dataplane_ct_ready(struct agd *d);
void agd_dataplane_udp_closed_ready(struct agd *d);
void agd_dataplane_proc_ready(struct agd *d);
/* Whether @pi's exe names the file it runs (its device and inode, taken
 * at exec, are the file's at that path now): only then may rules on that
 * path apply to it.  Counts and logs (debug) each refusal. */
struct ag_proc_info;
bool agd_exe_is_path(struct agd *d, const struct ag_proc_info *pi);
/* Send the verdicts batched during this loop iteration. */
void agd_dataplane_flush(struct agd *d);
/* status: fill counters of the data plane into obj. */
void agd_dataplane_status(struct agd *d, json_t *obj);

#endif
