/*
 * daemon/dataplane.c — between the kernel and the engine.
 *
 * A packet that reaches user space on the CONNECT or RECV_ACCEPT queue is
 * parsed, attributed to its process (for a new flow only), named with a host
 * from the DNS cache, and classified.  The verdict is given at once, or the
 * packet is held: its NFQUEUE id simply gets no verdict until the engine's
 * release() or drop() names it.  A packet is permitted with NF_REPEAT and the
 * AUTH mark: it goes through our chain again, the mark is saved to the
 * connmark, and no later packet of the flow reaches user space.
 *
 * A held packet's token carries what its verdict needs: the packet id and the
 * mark it had (a verdict sets the whole mark, so we give back the old bits).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <netinet/tcp.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/dataplane.h"
#include "daemon/fastpath_sync.h"
#include "daemon/flowtuple.h"
#include "daemon/history.h"
#include "daemon/log.h"
#include "daemon/pending.h"
#include "daemon/policy.h"
#include "daemon/privs.h"
#include "daemon/resolvers.h"
#include "linux/attrib.h"
#include "linux/conntrack.h"
#include "linux/exehash.h"
#include "linux/exeid.h"
#include "linux/fastpath.h"
#include "linux/nfq.h"
#include "linux/proc.h"
#include "linux/sockdiag.h"
#include "net/dns.h"
#include "net/dnscache.h"
#include "net/dnsquery.h"
#include "net/packet.h"

/*
 * Packets read from one queue per loop turn: bounds how long the control
 * socket waits behind a flood (a new flow costs tens of microseconds, most
 * of it attribution), and keeps the queues fair to each other.
 */
#define AGD_NFQ_BATCH 32


static uint64_t token_of(const struct ag_nfq_packet *p)
{
	return (uint64_t)p->mark << 32 | p->id;
}

static uint32_t token_id(uint64_t token)
{
	return (uint32_t)token;
}

static uint32_t token_mark(uint64_t token)
{
	return (uint32_t)(token >> 32);
}

static struct ag_nfq *queue_of(struct agd *d, ag_layer layer)
{
	return d->dp.q[layer == AG_LAYER_ALE_AUTH_RECV_ACCEPT ? AG_FW_Q_RECV_ACCEPT : AG_FW_Q_CONNECT];
}

/* The conntrack original direction: whoever sent the first packet is src. */
static void ct_tuple(const ag_flow_info *f, struct ag_tuple *t)
{
	agd_tuple_from_fixed(&f->fixed, t);
	if (f->fixed.direction == AG_DIR_IN)
		ag_tuple_reverse(t, t);
}

/* A UDP flow is authorized: its socket's end must end it (udp_closed). */
static void note_udp_auth(struct agd *d, const ag_fixed_values *in)
{
	if (in->protocol == AG_IPPROTO_UDP)
		d->dp.udp_auth_ports[in->local_port / 64] |= 1ull << (in->local_port % 64);
}

static void permit_packet(struct agd *d, ag_layer layer, uint64_t token, bool injected)
{
	uint32_t mark = token_mark(token) | AG_FW_MARK_AUTH;

	if (injected)
		mark |= AG_FW_MARK_INJECTED;
	ag_nfq_verdict(queue_of(d, layer), token_id(token), AG_NFQ_REPEAT, mark);
}

static void reject_socket(struct agd *d, const ag_fixed_values *in)
{
	struct ag_tuple t;
	int r;

	/* Only an outbound flow has a local socket waiting on it. */
	if (in->direction != AG_DIR_OUT ||
	    (in->protocol != AG_IPPROTO_TCP && in->protocol != AG_IPPROTO_UDP))
		return;
	agd_tuple_from_fixed(in, &t);
	r = ag_sockdiag_destroy(d->dp.sd, &t);
	if (r == 0)
		d->dp.ctr.rejects++;
	else if (r != -ENOENT && r != -EBUSY) /* EBUSY: a socket other flows share */
		log_debug("reject: destroying the socket failed: %s", strerror(-r));
}

/* ---- engine callbacks ---------------------------------------------------------- */

static void on_release(void *arg, const ag_flow_info *f, const ag_packet *pkts, size_t n)
{
	struct agd *d = arg;

	note_udp_auth(d, &f->fixed);
	for (size_t i = 0; i < n; i++)
		permit_packet(d, f->layer, pkts[i].token, pkts[i].flags & AG_PACKET_CLONE);
}

static void on_drop(void *arg, const ag_flow_info *f, const ag_packet *pkts, size_t n,
		    bool reject)
{
	struct agd *d = arg;

	for (size_t i = 0; i < n; i++)
		ag_nfq_verdict(queue_of(d, f->layer), token_id(pkts[i].token), AG_NFQ_DROP,
			       AG_NFQ_MARK_KEEP);
	if (reject)
		reject_socket(d, &f->fixed);
}

/* S12: a live flow is now blocked: its state goes, its socket goes. */
static void on_teardown(void *arg, const ag_flow_info *f)
{
	struct agd *d = arg;
	struct ag_tuple t;
	int r;

	d->dp.ctr.teardowns++;
	ct_tuple(f, &t);
	r = ag_ct_delete(d->dp.ct, &t);
	if (r && r != -ENOENT)
		log_debug("teardown: conntrack delete: %s", strerror(-r));
	if (f->fixed.protocol == AG_IPPROTO_TCP || f->fixed.protocol == AG_IPPROTO_UDP) {
		agd_tuple_from_fixed(&f->fixed, &t);
		r = ag_sockdiag_destroy(d->dp.sd, &t);
		if (r && r != -ENOENT && r != -EBUSY)
			log_debug("teardown: socket destroy: %s", strerror(-r));
	}
}

static void on_event(void *arg, const ag_event *ev)
{
	struct agd *d = arg;

	agd_pending_event(d, ev);
	agd_policy_event(d, ev);
	agd_history_event(d, ev);
	if (d->listeners.event)
		d->listeners.event(d, ev);
}

void agd_dataplane_ops(struct agd *d, ag_dataplane_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->release = on_release;
	ops->drop = on_drop;
	ops->teardown = on_teardown;
	ops->event = on_event;
	ops->arg = d;
}

/* ---- packets ----------------------------------------------------------------------- */

static bool is_loopback(const ag_fixed_values *in)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (in->interface == 1) /* "lo" is ifindex 1 in every namespace */
		return true;
	if (in->ip_version == 4)
		return in->remote_addr.b[0] == 127;
	return memcmp(in->remote_addr.b, v6lo, 16) == 0;
}

/* The query's flow as the reply will name it: the client is this host. */
static void dnsq_flow(const struct ag_pkt_info *pi, bool query, struct ag_dnsq_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->ver = pi->ip_version;
	f->client = query ? pi->src : pi->dst;
	f->server = query ? pi->dst : pi->src;
	f->cport = query ? pi->sport : pi->dport;
	f->sport = query ? pi->dport : pi->sport;
}

/* A query on its way out: remember it, let it go on down the chain. */
static void dns_query(struct agd *d, const struct ag_nfq_packet *p)
{
	struct ag_pkt_info pi;
	struct ag_dns_question q;
	struct ag_dnsq_flow f;

	/* a query to a resolver just configured is judged by the new rules */
	agd_resolvers_refresh(d, false);
	ag_nfq_verdict(d->dp.q[AG_FW_Q_DNS], p->id, AG_NFQ_REPEAT, p->mark | AG_FW_MARK_DNSQ);
	if (!p->payload || ag_pkt_parse(p->payload, p->caplen, &pi) ||
	    pi.protocol != AG_IPPROTO_UDP ||
	    ag_dns_parse_question(p->payload + pi.payload_offset, pi.payload_len, &q) || q.qr)
		return;
	dnsq_flow(&pi, true, &f);
	if (ag_dnsq_add(d->dp.dnsq, &f, &q, ag_boot_ns()) == 0)
		d->dp.ctr.dns_queries++;
}

static void dns_reply(struct agd *d, const struct ag_nfq_packet *p)
{
	struct ag_pkt_info pi;
	struct ag_dns_reply reply;
	struct ag_dns_question q;
	struct ag_dnsq_flow f;
	const uint8_t *msg;

	/* Always let through, parsed or not: DNS must keep working.  NF_REPEAT
	 * with INJECTED (not NF_ACCEPT, which would skip the rest of the
	 * table's rules) runs the hook again and our chain lets it pass. */
	ag_nfq_verdict(d->dp.q[AG_FW_Q_DNS], p->id, AG_NFQ_REPEAT, p->mark | AG_FW_MARK_INJECTED);
	d->dp.ctr.dns_replies++;
	if (!p->payload || ag_pkt_parse(p->payload, p->caplen, &pi) ||
	    pi.protocol != AG_IPPROTO_UDP) {
		d->dp.ctr.dns_unparsed++;
		return;
	}
	msg = p->payload + pi.payload_offset;
	if (ag_dns_parse_question(msg, pi.payload_len, &q) || !q.qr ||
	    ag_dns_parse(msg, pi.payload_len, &reply)) {
		d->dp.ctr.dns_unparsed++;
		return;
	}
	/* Only a reply to a query this host sent, on its flow, with its id and
	 * question, in its window, may name addresses; and only a configured
	 * resolver's: the names are every program's (resolvers.c). */
	dnsq_flow(&pi, false, &f);
	if (!agd_is_resolver(d, pi.ip_version, pi.src.b)) {
		d->dp.ctr.dns_not_resolver++;
		return;
	}
	if (ag_dnsq_answer(d->dp.dnsq, &f, &q, ag_boot_ns())) {
		d->dp.ctr.dns_unsolicited++;
		return;
	}
	ag_dnscache_add_reply(d->dp.dns, &reply, ag_boot_ns());
	/* the loop syncs the fast path before this reply's verdict goes out */
	agd_fastpath_dns(d, &reply);
}

static void fill_fixed(const struct ag_nfq_packet *p, const struct ag_pkt_info *pi, bool out,
		       ag_fixed_values *in)
{
	struct ag_tuple t;

	ag_tuple_make(&t, pi->ip_version, pi->protocol, pi->src, pi->sport, pi->dst, pi->dport);
	agd_fixed_from_tuple(&t, pi->icmp_type, out, in);
	in->direction = out ? AG_DIR_OUT : AG_DIR_IN;
	in->interface = out ? p->outdev : p->indev;
	in->uid = p->has_uid ? p->uid : AG_UID_UNKNOWN;
	in->gid = p->has_gid ? p->gid : AG_UID_UNKNOWN;
	if (is_loopback(in))
		in->flags |= AG_FLAG_IS_LOOPBACK;
}

/* Is the local end of this inbound TCP flow a socket in SYN_SENT? */
static bool syn_to_connecting_socket(struct agd *d, const ag_fixed_values *in)
{
	struct ag_sock_info si;
	struct ag_tuple t;

	agd_tuple_from_fixed(in, &t);
	return ag_sockdiag_lookup(d->dp.sd, &t, &si) == 0 && si.state == TCP_SYN_SENT;
}

struct exe_check {
	struct agd *d;
	const struct ag_proc_info *pi;
};

/* The file open is the one attribution named the process by. */
static bool exe_is_named(void *arg, int fd)
{
	struct exe_check *c = arg;

	return c->d->dp.exeid && ag_exeid_fd_is(c->d->dp.exeid, fd, c->pi->exe_dev, c->pi->exe_ino);
}

/*
 * The SHA-256 of the file process @pi runs, into @hex (65 bytes), when a
 * rule asks for one; else NULL, and no rule with a sha256 matches.  Only
 * a process known by its file's identity is hashed (through /proc/PID/exe,
 * checked to be that file), and never one on FUSE, whose reads would wait
 * on the file system's server.
 */
static const char *exe_sha256(struct agd *d, const struct ag_proc_info *pi, char *hex)
{
	struct ag_exehash_stats before, after;
	struct exe_check check = { d, pi };
	int r;

	if (!d->policy.sha256_rules || pi->pid <= 0 || !(pi->flags & AG_PROC_EXE_ID) ||
	    (pi->flags & AG_PROC_EXE_FUSE))
		return NULL;
	if (!d->dp.exehash && !(d->dp.exehash = ag_exehash_new(d->cfg.sha256_max_size))) {
		log_err("executable checksums: %s", strerror(errno));
		return NULL;
	}
	ag_exehash_get_stats(d->dp.exehash, &before);
	r = ag_exehash_pid(d->dp.exehash, pi->pid, exe_is_named, &check, hex);
	if (r == 0)
		return hex;
	ag_exehash_get_stats(d->dp.exehash, &after);
	if (r == -EFBIG && after.too_large != before.too_large)
		log_warn("pid %d runs %s, larger than sha256_max_size (%llu bytes): it is not "
			 "hashed, and no rule with a sha256 matches it", (int)pi->pid, pi->exe,
			 (unsigned long long)d->cfg.sha256_max_size);
	else if (r != -EFBIG)
		log_debug("pid %d: no checksum of %s: %s; no rule with a sha256 matches it",
			  (int)pi->pid, pi->exe, strerror(-r));
	return NULL;
}

static void on_packet(const struct ag_nfq_packet *p, void *arg)
{
	struct agd_queue_ctx *qc = arg;
	struct agd *d = qc->d;
	struct ag_pkt_info pi;
	ag_fixed_values in;
	ag_metadata meta = { 0 };
	struct ag_attrib_result ar;
	char host[AG_DNS_NAME_MAX + 1], sha[AG_EXEHASH_HEX_LEN + 1];
	bool out = qc->which == AG_FW_Q_CONNECT;
	ag_layer layer = out ? AG_LAYER_ALE_AUTH_CONNECT : AG_LAYER_ALE_AUTH_RECV_ACCEPT;

	if (qc->which == AG_FW_Q_DNS) {
		if (p->hook == NF_INET_LOCAL_OUT)
			dns_query(d, p);
		else
			dns_reply(d, p);
		return;
	}
	d->dp.ctr.queued_packets++;
	if (!p->payload || ag_pkt_parse(p->payload, p->caplen, &pi)) {
		/* What we cannot read we cannot judge: fail closed. */
		d->dp.ctr.malformed++;
		ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
		return;
	}
	fill_fixed(p, &pi, out, &in);

	/* Attribution and names only for a new flow: a pended flow's retransmit
	 * or a known flow's packet is found by its 5-tuple.  Except the SYN of
	 * an outbound flow the engine keeps blocked (120 s, so that retransmits
	 * are not asked about again): its socket may be long gone and this a
	 * new connection that got the same port.  Attribution tells; another
	 * process's SYN ends the old flow and starts its own. */
	ag_flow_info known;
	bool is_known = ag_flow_lookup(d->engine, &in, &known) == 0;

	/* A packet of a flow the engine has from the other direction: a peer's
	 * SYN from the very port a held or blocked connect goes to (a
	 * simultaneous open would complete that connect), or a datagram into
	 * a held UDP flow.  It belongs to that flow: it passes only if the
	 * flow is authorized, and is never asked about as a flow of its own. */
	if (is_known && known.fixed.direction != in.direction) {
		d->dp.ctr.crossed++;
		if (known.state == AG_FLOW_AUTHORIZED)
			ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_REPEAT,
				       p->mark | AG_FW_MARK_INJECTED);
		else
			ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
		return;
	}
	/* A peer's SYN to a socket that is connecting, of a flow the engine
	 * does not have (it forgot a blocked flow after blocked_flow_ttl while
	 * the socket still retries, or the daemon restarted): its own SYN was
	 * never let out, or this SYN would be the reply direction of its
	 * conntrack entry and not come here.  Same as above. */
	if (!is_known && !out && pi.protocol == AG_IPPROTO_TCP &&
	    (pi.tcp_flags & (AG_TCP_SYN | AG_TCP_ACK)) == AG_TCP_SYN &&
	    syn_to_connecting_socket(d, &in)) {
		d->dp.ctr.crossed++;
		ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
		return;
	}
	/* Inbound flows are not intercepted: only a SYN to a connecting
	 * socket comes here (the rule says why), and it was not one of ours. */
	if (!out && !d->dp.fwcfg.intercept_inbound) {
		ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_REPEAT,
			       p->mark | AG_FW_MARK_INJECTED);
		return;
	}
	bool recheck = is_known && out && known.state == AG_FLOW_BLOCKED && known.pid &&
		       pi.protocol == AG_IPPROTO_TCP &&
		       (pi.tcp_flags & (AG_TCP_SYN | AG_TCP_ACK)) == AG_TCP_SYN;

	if (!is_known || recheck) {
		struct ag_tuple t;

		ag_tuple_make(&t, pi.ip_version, pi.protocol, pi.src, pi.sport, pi.dst, pi.dport);
		/* Its packet is held (p) until the verdict below. */
		if (ag_attrib_lookup(d->dp.attrib, &t,
				     out ? AG_ATTRIB_OUTBOUND | AG_ATTRIB_HELD : AG_ATTRIB_INBOUND,
				     in.uid, &ar) == 0) {
			d->dp.ctr.attributed++;
			if (agd_exe_is_path(d, &ar.proc)) {
				in.app_path = ar.proc.exe;
				meta.present |= AG_META_PROCESS_PATH;
				meta.process_path = ar.proc.exe;
			}
			in.app_sha256 = exe_sha256(d, &ar.proc, sha);
			if (ar.proc.pid > 0) {
				meta.present |= AG_META_PID;
				meta.pid = (uint32_t)ar.proc.pid;
			}
			if (ar.proc.cmdline[0]) {
				meta.present |= AG_META_CMDLINE;
				meta.cmdline = ar.proc.cmdline;
			}
		} else {
			d->dp.ctr.unattributed++;
		}
		/* The copy of the socket attribution took goes now, while its
		 * process still holds the socket: after the verdict, the
		 * connection can be over by the time it is closed, and the
		 * daemon's close would be the one that tears the socket down. */
		if (d->dp.proc)
			ag_proc_release_taken(d->dp.proc);
		if (ar.uid != AG_UID_UNKNOWN)
			in.uid = ar.uid;
		if (ag_dnscache_lookup(d->dp.dns, in.ip_version, in.remote_addr.b, ag_boot_ns(),
				       host, sizeof(host)) == 0)
			in.remote_host = host;
		if (recheck && ar.proc.pid > 0 && (uint32_t)ar.proc.pid != known.pid) {
			ag_flow_end(d->engine, &in);
			d->dp.ctr.reused_ports++;
		} else if (recheck) {
			/* its retransmit: the flow decides as it did */
			fill_fixed(p, &pi, out, &in);
			memset(&meta, 0, sizeof(meta));
		}
	}

	ag_packet pkt = { .token = token_of(p), .len = p->len };
	ag_verdict v = ag_classify(d->engine, layer, &in, &meta, &pkt, NULL);

	switch (v) {
	case AG_VERDICT_PERMIT:
		note_udp_auth(d, &in);
		permit_packet(d, layer, pkt.token, false);
		break;
	case AG_VERDICT_BLOCK:
		ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
		break;
	case AG_VERDICT_REJECT:
		ag_nfq_verdict(d->dp.q[qc->which], p->id, AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
		reject_socket(d, &in);
		break;
	case AG_VERDICT_HOLD:
		break; /* the engine owns it now */
	}
}

void agd_dataplane_queue_ready(struct agd *d, int which)
{
	if (which < 0 || which >= AG_FW_NQUEUES || !d->dp.q[which])
		return;
	int r = ag_nfq_receive(d->dp.q[which], on_packet, &d->dp.queue_ctx[which], AGD_NFQ_BATCH);

	if (r < 0 && r != -EAGAIN && r != -ENOBUFS)
		log_warn("queue %u: %s", d->cfg.queue_num + which, strerror(-r));
	if (r == -ENOBUFS)
		log_warn("queue %u: the kernel dropped packets (socket buffer full)",
			 d->cfg.queue_num + which);
	/* The next loop turn reads more if the batch was full (level-triggered). */
}

void agd_dataplane_flush(struct agd *d)
{
	for (int i = 0; i < AG_FW_NQUEUES; i++)
		if (d->dp.q[i])
			ag_nfq_flush(d->dp.q[i]);
}

/* ---- conntrack and processes ------------------------------------------------------- */

static void on_ct_destroy(const struct ag_ct_entry *e, void *arg)
{
	struct agd *d = arg;
	ag_fixed_values in;

	ag_flow_info f;

	d->dp.ctr.ct_events++;
	/* as an outbound flow (we sent the first packet), else inbound; the
	 * original direction's bytes are the outbound flow's bytes_out */
	for (int out = 1; out >= 0; out--) {
		agd_fixed_from_tuple(&e->orig, e->icmp_type, out, &in);
		if (ag_flow_lookup(d->engine, &in, &f))
			continue;
		if (f.state == AG_FLOW_AUTHORIZED)
			agd_history_end(d, f.handle, e->bytes[out ? 1 : 0], e->bytes[out ? 0 : 1]);
		if (ag_flow_end(d->engine, &in) == 0)
			return;
	}
}

void agd_dataplane_ct_ready(struct agd *d)
{
	int r = ag_ct_receive(d->dp.ct_events);

	if (r == -ENOBUFS)
		log_debug("conntrack events overran; ended flows will age out instead");
}

bool agd_exe_is_path(struct agd *d, const struct ag_proc_info *pi)
{
	if (!pi->exe[0])
		return false;
	/* No identity (the process was gone before its file could be looked
	 * at): its path alone proves nothing. */
	if (!(pi->flags & AG_PROC_EXE_ID))
		goto mismatch;
	/* A lookup on FUSE waits for its server, which may be the very user
	 * whose flow this is: never stall the data plane on it. */
	if (pi->flags & AG_PROC_EXE_FUSE)
		goto mismatch;
	if (d->dp.exeid && ag_exeid_is(d->dp.exeid, pi->exe, pi->exe_dev, pi->exe_ino))
		return true;
mismatch:
	d->dp.ctr.exe_mismatch++;
	log_debug("pid %d runs %s%u:%u inode %llu, not the file at %s: no rule on that path "
		  "applies to it", (int)pi->pid, pi->flags & AG_PROC_EXE_ID ? "device " : "an unknown file, ",
		  pi->exe_dev >> 20, pi->exe_dev & 0xfffff, (unsigned long long)pi->exe_ino, pi->exe);
	return false;
}

/*
 * A UDP socket is gone.  The conntrack entries of the flows it was
 * authorized for keep AUTH for as long as the kernel keeps them (30 s to
 * minutes), and their later packets never reach user space: another
 * program, or another user, that binds the same port and sends to the same
 * peer would ride them.  A permission belongs to a socket's program and
 * user, so those flows end here: their entries go, and the next datagram
 * on those ports is a new flow, attributed and decided anew.
 */
struct udp_end {
	struct agd *d;
	const struct ag_sock_info *si;
	ag_addr local, remote;
	int ver;
	bool engine;		/* the port has flows the engine authorized */
	ag_fixed_values found[32];
	uint64_t handle[32];	/* the found flows' engine handles, for their history rows */
	unsigned n;
};

static bool addr_any(const ag_addr *a, int ver)
{
	static const uint8_t zero[16];

	return !memcmp(a->b, zero, ver == 4 ? 4 : 16);
}

static int udp_end_match(const ag_flow_info *f, void *arg)
{
	struct udp_end *u = arg;
	const ag_fixed_values *x = &f->fixed;
	size_t alen = u->ver == 4 ? 4 : 16;

	if (x->protocol != AG_IPPROTO_UDP || x->local_port != u->si->id.sport ||
	    x->ip_version != u->ver)
		return 0;
	if (!addr_any(&u->local, u->ver) && memcmp(x->local_addr.b, u->local.b, alen))
		return 0;
	/* a connected socket had one peer; an unconnected one, any */
	if (u->si->id.dport && (x->remote_port != u->si->id.dport ||
				memcmp(x->remote_addr.b, u->remote.b, alen)))
		return 0;
	u->handle[u->n] = f->handle;
	u->found[u->n++] = *x;
	return u->n == sizeof(u->found) / sizeof(u->found[0]) ? 1 : 0;
}

/* A flow ended here, not by conntrack: its row's end and bytes from the
 * entry about to go (the destroy event finds the flow gone). */
struct udp_end_bytes {
	struct agd *d;
	uint64_t handle;
	bool out;
};

static void udp_end_bytes(const struct ag_ct_entry *e, void *arg)
{
	struct udp_end_bytes *b = arg;

	agd_history_end(b->d, b->handle, e->bytes[b->out ? 1 : 0], e->bytes[b->out ? 0 : 1]);
	b->handle = 0;
}

/* End every authorized flow of the socket in one IP version. */
static void udp_end_one_ver(struct udp_end *u)
{
	struct agd *d = u->d;
	bool more;

	/* The engine's flows first: each row's bytes are read before its
	 * entry goes (the destroy event comes after the flow is ended). */
	do {
		if (!u->engine)
			break;
		u->n = 0;
		more = ag_flow_dump(d->engine, 1u << AG_FLOW_AUTHORIZED, udp_end_match, u) > 0 &&
		       u->n == sizeof(u->found) / sizeof(u->found[0]);
		for (unsigned i = 0; i < u->n; i++) {
			struct ag_tuple t;
			int r;
			bool out = u->found[i].direction != AG_DIR_IN;
			struct udp_end_bytes b = { d, u->handle[i], out };

			agd_tuple_from_fixed(&u->found[i], &t);
			if (!out)
				ag_tuple_reverse(&t, &t);
			if (d->history)
				ag_ct_get(d->dp.ct, &t, udp_end_bytes, &b);
			if (b.handle && d->history)
				agd_history_end(d, b.handle, 0, 0); /* no entry: its end at least */
			r = ag_ct_delete(d->dp.ct, &t);
			if (r && r != -ENOENT)
				log_debug("udp socket end: conntrack delete: %s", strerror(-r));
			else if (r == 0)
				d->dp.ctr.udp_socket_ends++;
			ag_flow_end(d->engine, &u->found[i]);
		}
	} while (more);
	/* A connected socket's one flow, whoever authorized it: the fast path
	 * allows in the kernel, so the engine may not know it. */
	if (u->si->id.dport && !addr_any(&u->remote, u->ver) && !addr_any(&u->local, u->ver)) {
		struct ag_tuple t;

		ag_tuple_make(&t, (uint8_t)u->ver, AG_IPPROTO_UDP, u->local, u->si->id.sport,
			      u->remote, u->si->id.dport);
		if (ag_ct_delete(d->dp.ct, &t) == 0)
			d->dp.ctr.udp_socket_ends++;
	}
}

static void udp_end_one(struct udp_end *u)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	const struct ag_sock_info *si = u->si;

	u->ver = si->id.ip_version;
	u->local = si->id.src;
	u->remote = si->id.dst;
	/* a dual-stack socket's IPv4 flows: unmap (both ends agree, or the
	 * unbound end is all zeros) */
	if (u->ver == 6 && (!memcmp(u->local.b, mapped, 12) || addr_any(&u->local, 6)) &&
	    (!memcmp(u->remote.b, mapped, 12) || addr_any(&u->remote, 6)) &&
	    !(addr_any(&u->local, 6) && addr_any(&u->remote, 6))) {
		u->ver = 4;
		u->local = ag_addr_make(4, u->local.b + 12);
		u->remote = ag_addr_make(4, u->remote.b + 12);
		udp_end_one_ver(u);
		return;
	}
	udp_end_one_ver(u);
	if (u->ver == 6 && addr_any(&u->local, 6) && addr_any(&u->remote, 6)) {
		/* an unbound dual-stack socket may have sent IPv4 too */
		u->ver = 4;
		udp_end_one_ver(u);
	}
}

/* A connected socket whose one flow the engine holds or blocked: the kernel
 * never allowed it either (its first datagram came to the queue). */
static bool engine_has_unauthorized(struct agd *d, const struct ag_sock_info *si)
{
	ag_fixed_values in;
	ag_flow_info f;

	if (!si->id.dport)
		return false;
	memset(&in, 0, sizeof(in));
	in.ip_version = si->id.ip_version;
	in.protocol = AG_IPPROTO_UDP;
	in.direction = AG_DIR_OUT;
	in.local_addr = ag_addr_make(in.ip_version, si->id.src.b);
	in.remote_addr = ag_addr_make(in.ip_version, si->id.dst.b);
	in.local_port = si->id.sport;
	in.remote_port = si->id.dport;
	return ag_flow_lookup(d->engine, &in, &f) == 0 && f.state != AG_FLOW_AUTHORIZED;
}

static bool fast_path_allowed(struct agd *d, uint64_t cookie)
{
	struct ag_fp_flow fl;
	uint32_t epoch;
	int r;

	if (!d->fastpath.fp || !cookie)
		return false;
	memset(&fl, 0, sizeof(fl));
	r = ag_fp_socket(d->fastpath.fp, cookie, &fl, &epoch);
	return r == 0 || r == -EAGAIN;
}

static int udp_port_in_use(const ag_flow_info *f, void *arg)
{
	const uint16_t *port = arg;

	return f->fixed.protocol == AG_IPPROTO_UDP && f->fixed.local_port == *port;
}

static void on_udp_closed(const struct ag_sock_info *si, void *arg)
{
	struct agd *d = arg;
	struct udp_end u = { .d = d, .si = si };
	uint16_t port = si->id.sport;

	u.engine = d->dp.udp_auth_ports[port / 64] & (1ull << (port % 64));
	/* Most sockets that end were never allowed anything (a flood of new
	 * flows, denied ones): nothing to end, and no netlink round trip.
	 * Besides the engine's, the fast path's: it allowed the socket in the
	 * kernel if its hooks kept a record of the cookie. */
	if (!u.engine && (engine_has_unauthorized(d, si) || !fast_path_allowed(d, si->cookie)))
		return;
	udp_end_one(&u);
	if (!u.engine)
		return;
	/* keep the bit only while the port has authorized flows, so that the
	 * walk above is paid only by the ends of sockets that had one */
	if (ag_flow_dump(d->engine, 1u << AG_FLOW_AUTHORIZED, udp_port_in_use, &port) == 0)
		d->dp.udp_auth_ports[port / 64] &= ~(1ull << (port % 64));
}

void agd_dataplane_udp_closed_ready(struct agd *d)
{
	int r = ag_sockdiag_events_receive(d->dp.udp_closed);

	if (r == -ENOBUFS)
		log_warn("UDP socket ends overran: some authorized flows outlive their socket "
			 "until conntrack forgets them");
}

void agd_dataplane_proc_ready(struct agd *d)
{
	ag_proc_receive(d->dp.proc);
}

/* ---- open / install / close ----------------------------------------------------------- */

int agd_dataplane_open_proc(struct agd *d)
{
	struct ag_proc_config pc = { 0 };

	/* bpf = no keeps the exec monitor off too: /proc and the connector. */
	pc.exec_bpf = d->cfg.bpf != AG_CFG_BPF_NO;
	pc.bpf_cgroup = d->cfg.bpf_cgroup[0] ? d->cfg.bpf_cgroup : NULL;
	d->dp.proc = ag_proc_open(&pc);
	if (!d->dp.proc) {
		log_err("process cache: %s", strerror(errno));
		return -errno;
	}
	if (!d->dp.exeid && !(d->dp.exeid = ag_exeid_new())) {
		log_err("executable identities: %s", strerror(errno));
		return -errno;
	}
	if (ag_exeid_fd(d->dp.exeid) >= 0)
		agd_loop_add(d, ag_exeid_fd(d->dp.exeid), EPOLLIN, (void *)(uintptr_t)AGD_TAG_EXEID);
	log_info("%s", ag_proc_mode(d->dp.proc));
	if (d->cfg.bpf == AG_CFG_BPF_YES && !ag_proc_exec_monitor(d->dp.proc)) {
		log_err("the exec monitor is required (bpf = yes) and not in use");
		return -EOPNOTSUPP;
	}
	if (ag_proc_fd(d->dp.proc) >= 0)
		agd_loop_add(d, ag_proc_fd(d->dp.proc),
			     EPOLLIN | (ag_proc_fd_edge(d->dp.proc) ? EPOLLET : 0),
			     (void *)(uintptr_t)AGD_TAG_PROC);
	return 0;
}

int agd_dataplane_open(struct agd *d)
{
	uint8_t seed[AG_DNSCACHE_SEED_LEN];
	int r;

	d->dp.fwcfg.queue_base = (uint16_t)d->cfg.queue_num;
	d->dp.fwcfg.fail_mode = d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? AG_FW_FAIL_OPEN
								  : AG_FW_FAIL_CLOSED;
	d->dp.fwcfg.intercept_loopback = d->cfg.intercept_loopback;
	d->dp.fwcfg.intercept_inbound = d->cfg.inbound != AG_CFG_INBOUND_ALLOW;
	d->dp.fwcfg.backend = d->cfg.firewall_backend == AG_CFG_BACKEND_NFTABLES ? AG_FW_BACKEND_NFTABLES
			   : d->cfg.firewall_backend == AG_CFG_BACKEND_IPTABLES
				   ? AG_FW_BACKEND_IPTABLES
				   : AG_FW_BACKEND_AUTO;

	for (int i = 0; i < AG_FW_NQUEUES; i++) {
		struct ag_nfq_config qc = { 0 };

		qc.queue_num = (uint16_t)(d->cfg.queue_num + (unsigned)i);
		qc.copy_range = i == AG_FW_Q_DNS ? AG_NFQ_COPY_FULL : AG_NFQ_COPY_HEADERS;
		qc.queue_maxlen = AG_NFQ_DEFAULT_MAXLEN;
		if (qc.queue_maxlen < 2 * d->cfg.max_pending)
			qc.queue_maxlen = 2 * d->cfg.max_pending;
		qc.flags = AG_NFQ_F_UID_GID | AG_NFQ_F_GSO;
		/* DNS replies are only copied: never hold them up. */
		if (i == AG_FW_Q_DNS || d->dp.fwcfg.fail_mode == AG_FW_FAIL_OPEN)
			qc.flags |= AG_NFQ_F_FAIL_OPEN;
		d->dp.q[i] = ag_nfq_open(&qc);
		if (!d->dp.q[i]) {
			log_err("cannot bind NFQUEUE %u: %s (is another alegated running?)",
				qc.queue_num, strerror(errno));
			return -errno;
		}
		d->dp.queue_ctx[i].d = d;
		d->dp.queue_ctx[i].which = i;
		if ((r = agd_loop_add(d, ag_nfq_fd(d->dp.q[i]), EPOLLIN,
				      (void *)(uintptr_t)(AGD_TAG_QUEUE0 + i))))
			return r;
	}

	d->dp.sd = ag_sockdiag_open();
	if (!d->dp.sd) {
		log_err("sock_diag: %s", strerror(errno));
		return -errno;
	}
	if (!d->dp.proc && (r = agd_dataplane_open_proc(d)))
		return r;
	d->dp.attrib = ag_attrib_new(d->dp.sd, d->dp.proc);
	if (!d->dp.attrib)
		return -errno;
	agd_fastpath_attach_attrib(d);

	d->dp.ct = ag_ct_open();
	d->dp.ct_events = ag_ct_open();
	if (!d->dp.ct || !d->dp.ct_events) {
		log_err("conntrack: %s", strerror(errno));
		return -errno;
	}
	if ((r = ag_ct_open_events(d->dp.ct_events, 0, on_ct_destroy, d))) {
		log_warn("conntrack events: %s; ended flows will age out instead", strerror(-r));
	} else {
		/* Flows the fast path allowed were never ours: their ends stay
		 * in the kernel (the rules keep FAST in their connmark). */
		if ((r = ag_ct_events_skip_mark(d->dp.ct_events, AG_FW_MARK_FAST)))
			log_debug("conntrack events: no filter (%s): every flow's end is read",
				  strerror(-r));
		agd_loop_add(d, ag_ct_event_fd(d->dp.ct_events), EPOLLIN,
			     (void *)(uintptr_t)AGD_TAG_CT);
	}

	d->dp.udp_closed = ag_sockdiag_events_open(on_udp_closed, d);
	if (!d->dp.udp_closed)
		log_warn("UDP socket ends: %s; an authorized UDP flow outlives its socket "
			 "until conntrack forgets it", strerror(errno));
	else
		agd_loop_add(d, ag_sockdiag_events_fd(d->dp.udp_closed), EPOLLIN,
			     (void *)(uintptr_t)AGD_TAG_UDPCLOSE);

	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		memset(seed, 0x5a, sizeof(seed));
	d->dp.dns = ag_dnscache_new(d->cfg.dns_cache_size, seed);
	if (!d->dp.dns)
		return -errno;
	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		memset(seed, 0xa5, sizeof(seed));
	_Static_assert(AG_DNSQ_SEED_LEN == AG_DNSCACHE_SEED_LEN, "one seed buffer for both");
	d->dp.dnsq = ag_dnsq_new(AG_DNSQ_DEFAULT_MAX, seed);
	if (!d->dp.dnsq)
		return -errno;
	return 0;
}

/* Bytes per connection: conntrack counts them only with accounting on,
 * per network namespace, for entries made after it was switched on.  The
 * counters cost the kernel a few bytes per entry and an add per packet. */
static void ct_acct_on(void)
{
	static const char path[] = "/proc/sys/net/netfilter/nf_conntrack_acct";
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd == -1 || write(fd, "1", 1) != 1)
		log_warn("%s: %s; connections are kept without their bytes", path,
			 strerror(errno));
	if (fd != -1)
		close(fd);
}

int agd_dataplane_install(struct agd *d)
{
	char err[AG_FW_ERR_MAX];
	int r = ag_fw_install(&d->dp.fwcfg, &d->dp.fw_backend, err, sizeof(err));

	if (r) {
		log_err("firewall rules: %s", err);
		return r;
	}
	d->dp.fw_installed = true;
	ct_acct_on();
	return 0;
}

void agd_dataplane_close(struct agd *d)
{
	char err[AG_FW_ERR_MAX];

	/* fail_mode closed: the rules stay, so that new flows wait (dropped:
	 * no one reads the queues, no bypass) until the next daemon takes
	 * over, or `alegated --cleanup` removes them.  A daemon that never
	 * ran removes what it installed, unless it found rules there. */
	bool keep = d->cfg.fail_mode == AG_CFG_FAIL_CLOSED && (d->running || d->life.fw_found);

	if (d->dp.fw_installed && keep) {
		if (d->fastpath.notrack_on && agd_privs_fw_notrack(d, false, err, sizeof(err)))
			log_warn("removing the notrack table: %s", err);
		d->fastpath.notrack_on = false;
		agd_privs_fw_leave(d);
		log_info("firewall rules kept (fail_mode closed): new connections wait until "
			 "alegated runs again; alegated --cleanup removes them");
	} else if (d->dp.fw_installed && agd_privs_fw_remove(d, err, sizeof(err))) {
		log_err("removing firewall rules: %s (alegated --cleanup removes them)", err);
	}
	d->dp.fw_installed = false;
	for (int i = 0; i < AG_FW_NQUEUES; i++) {
		ag_nfq_close(d->dp.q[i]);
		d->dp.q[i] = NULL;
	}
	ag_attrib_free(d->dp.attrib);
	ag_sockdiag_close(d->dp.sd);
	ag_proc_close(d->dp.proc);
	ag_exeid_free(d->dp.exeid);
	d->dp.exeid = NULL;
	ag_exehash_free(d->dp.exehash);
	d->dp.exehash = NULL;
	ag_ct_close(d->dp.ct);
	ag_ct_close(d->dp.ct_events);
	ag_dnscache_free(d->dp.dns);
	ag_dnsq_free(d->dp.dnsq);
	d->dp.dnsq = NULL;
	ag_sockdiag_events_close(d->dp.udp_closed);
	d->dp.udp_closed = NULL;
	d->dp.attrib = NULL;
	d->dp.sd = NULL;
	d->dp.proc = NULL;
	d->dp.ct = d->dp.ct_events = NULL;
	d->dp.dns = NULL;
}
