/*
 * daemon/dataplane.h — the data plane, owned by dataplane.c: the NFQUEUE
 * queues and what they carry to ag_classify() (parsing, attribution, DNS
 * snooping), and the engine's callbacks turned into verdicts, conntrack
 * deletions and socket destruction.  Its counters (struct agd_counters,
 * d->dp.ctr) are what `status` shows of it; only dataplane.c writes them.
 */
#ifndef ALEGATE_DAEMON_DATAPLANE_H
#define ALEGATE_DAEMON_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "alegate/engine.h"
#include "linux/fw.h"

struct agd;
struct ag_proc_info;
struct ag_nfq;
struct ag_sockdiag;
struct ag_proc;
struct ag_exeid;
struct ag_exehash;
struct ag_attrib;
struct ag_ct;
struct ag_dnscache;
struct ag_dnsq;
struct ag_sockdiag_events;

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
	/* processes named by a path whose file is not the one they run (a
	 * bind mount in another mount namespace): no app rule applied */
	uint64_t exe_mismatch;
};

/* dataplane.c: what the callback of queue `which` is handed. */
struct agd_queue_ctx {
	struct agd *d;
	int which;
};

/*
 * The data plane's handles: the queues, the kernel's tables it reads and
 * changes, the caches that name a packet's process and host, and the
 * firewall rules that feed the queues.  dataplane.c opens and closes them;
 * the other modules reach them as d->dp.… (the fast path and the [fw]
 * helper read the firewall configuration, the control socket the process
 * cache).  The executables' identities are the policy's as much as the
 * data plane's: a rule that names a program makes the table (policy.c,
 * before the queues open) and learns its file there; the data plane asks
 * it whether a process runs that file.
 */
struct agd_dataplane {
	struct ag_nfq *q[AG_FW_NQUEUES];
	struct ag_sockdiag *sd;
	struct ag_proc *proc;
	struct ag_exeid *exeid;  /* path → file identity, for app rules */
	struct ag_exehash *exehash; /* executables' SHA-256, for sha256 rules */
	struct ag_attrib *attrib;
	struct ag_ct *ct;        /* deletions */
	struct ag_ct *ct_events; /* DESTROY events */
	struct ag_dnscache *dns;
	struct ag_dnsq *dnsq;    /* queries waiting for their reply */
	struct ag_sockdiag_events *udp_closed; /* UDP sockets the kernel destroys */
	/* local ports of UDP flows the engine authorized (a superset: a bit
	 * is cleared when a closed socket's port has none left) */
	uint64_t udp_auth_ports[65536 / 64];
	struct ag_fw_config fwcfg;
	enum ag_fw_backend fw_backend;
	bool fw_installed;
	struct agd_queue_ctx queue_ctx[AG_FW_NQUEUES];
	struct agd_counters ctr;
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
