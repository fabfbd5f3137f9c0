/*
 * sockdiag.c — exact socket lookups and SOCK_DESTROY over NETLINK_SOCK_DIAG,
 * and one dump: the TCP sockets that carry a given SO_MARK.
 *
 * One request, one reply: SOCK_DIAG_BY_FAMILY without NLM_F_DUMP makes the
 * kernel run its own socket lookup on the id we send, which is far cheaper
 * than a dump of every socket.  The one dump (ag_sockdiag_dump_marked())
 * has the kernel filter by mark, so only the sockets asked for cross to
 * user space however many others the namespace holds.  Two kernel quirks
 * shape the lookups:
 *
 *  - TCP reads the id as src = local (the hash lookup of a socket).  UDP
 *    reads a lookup's id as its receive path does, src = the sender, but a
 *    destroy's id as TCP does (Linux 6.18; kernels have changed this).  So
 *    a UDP reply is believed only when the socket it names matches the
 *    flow, the other order is tried when it does not, and the order that
 *    worked is remembered; a destroy carries the socket's cookie, so trying
 *    the wrong order cannot hit another socket.
 *  - With no established socket, the TCP lookup falls through to a listener
 *    on the port.  A lookup for a flow must not name it (nor destroy it), so
 *    every reply is checked against the flow before it is believed.
 *
 * The socket is connected to the kernel (port id 0): no other process can
 * then send us a forged reply, and replies are also checked for sender,
 * sequence number and port id.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "linux/nlrecv.h"
#include "linux/sockdiag.h"

/* Replies are one inet_diag_msg and a few small attributes. */
#define SD_BUF_SIZE 8192
/*
 * A dump packs into each message as many sockets as the reader's largest
 * recv() buffer so far holds, up to 32 KiB (netlink_recvmsg() caps it
 * there); a smaller buffer would see batches cut short.
 */
#define SD_DUMP_BUF_SIZE 32768
/* Highest TCP state the kernel reports (TCP_NEW_SYN_RECV is 12; BPF adds). */
#define SD_MAX_STATE 15

enum udp_order {
	UDP_ORDER_UNKNOWN,
	UDP_ORDER_LOCAL_FIRST,	/* idiag_src = local, as for TCP */
	UDP_ORDER_PEER_FIRST,	/* idiag_src = the peer, as the receive path */
};

struct ag_sockdiag {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	enum udp_order udp_dump_order;
	enum udp_order udp_destroy_order;
	bool dumping;		/* inside ag_sockdiag_dump_marked() */
	struct ag_sockdiag_stats st;
};

static const uint8_t zero16[16];

struct ag_sockdiag *ag_sockdiag_open(void)
{
	struct ag_sockdiag *sd;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = {
		.tv_sec = AG_SOCKDIAG_TIMEOUT_MS / 1000,
		.tv_usec = (AG_SOCKDIAG_TIMEOUT_MS % 1000) * 1000,
	};
	int one = 1, fd, err;

	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return NULL;
	sd->nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!sd->nl)
		goto fail;
	if (mnl_socket_bind(sd->nl, 0, MNL_SOCKET_AUTOPID) == -1)
		goto fail;
	fd = mnl_socket_get_fd(sd->nl);
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		goto fail;
	/* Errors then carry only the header back, not our whole request. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	sd->portid = mnl_socket_get_portid(sd->nl);
	sd->seq = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)sd;
	return sd;
fail:
	err = errno;
	if (sd->nl)
		mnl_socket_close(sd->nl);
	free(sd);
	errno = err;
	return NULL;
}

void ag_sockdiag_close(struct ag_sockdiag *sd)
{
	if (!sd)
		return;
	mnl_socket_close(sd->nl);
	free(sd);
}

void ag_sockdiag_get_stats(const struct ag_sockdiag *sd,
			   struct ag_sockdiag_stats *st)
{
	*st = sd->st;
}

int ag_sockdiag_fd(const struct ag_sockdiag *sd)
{
	return mnl_socket_get_fd(sd->nl);
}

/* ---- addresses ----------------------------------------------------------- */

static bool is_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };

	return memcmp(a, prefix, 12) == 0;
}

/* An address in the request's family: IPv4 as is, or IPv4-mapped. */
static void put_addr(uint32_t *dst, int family, bool mapped,
		     const uint8_t *a)
{
	uint8_t *d = (uint8_t *)dst;

	memset(dst, 0, 16);
	if (family == AF_INET) {
		memcpy(d, a, 4);
	} else if (mapped) {
		d[10] = d[11] = 0xff;
		memcpy(d + 12, a, 4);
	} else {
		memcpy(d, a, 16);
	}
}

/*
 * Does a socket's address @sa (as the kernel reports it, @sfamily) stand for
 * the flow's address @fa?  A wildcard stands for any address.
 */
static bool addr_covers(int sfamily, const uint8_t *sa, int ip_version,
			const uint8_t *fa)
{
	if (sfamily == AF_INET)
		return ip_version == 4 &&
		       (memcmp(sa, zero16, 4) == 0 || memcmp(sa, fa, 4) == 0);
	if (memcmp(sa, zero16, 16) == 0)
		return true;
	if (ip_version == 4)
		return is_mapped(sa) &&
		       (memcmp(sa + 12, zero16, 4) == 0 ||
			memcmp(sa + 12, fa, 4) == 0);
	return memcmp(sa, fa, 16) == 0;
}

/* ---- request and reply --------------------------------------------------- */

struct sd_query {
	int family;		/* AF_INET, or AF_INET6 (native or mapped) */
	bool mapped;
	int protocol;
	const uint8_t *first;	/* goes to idiag_src */
	uint16_t first_port;
	const uint8_t *second;	/* goes to idiag_dst */
	uint16_t second_port;
	uint64_t cookie;	/* or INET_DIAG_NOCOOKIE in both halves */
	bool has_cookie;
};

static void build_req(struct inet_diag_req_v2 *req, const struct sd_query *q)
{
	memset(req, 0, sizeof(*req));
	req->sdiag_family = (uint8_t)q->family;
	req->sdiag_protocol = (uint8_t)q->protocol;
	req->idiag_states = ~0u;
	req->id.idiag_sport = htons(q->first_port);
	req->id.idiag_dport = htons(q->second_port);
	put_addr(req->id.idiag_src, q->family, q->mapped, q->first);
	put_addr(req->id.idiag_dst, q->family, q->mapped, q->second);
	/* A UDP socket's memory tells whether a datagram of it is still
	 * held (see AG_SOCK_F_WMEM). */
	if (q->protocol == IPPROTO_UDP)
		req->idiag_ext |= 1u << (INET_DIAG_SKMEMINFO - 1);
	if (q->has_cookie) {
		req->id.idiag_cookie[0] = (uint32_t)q->cookie;
		req->id.idiag_cookie[1] = (uint32_t)(q->cookie >> 32);
	} else {
		req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
		req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	}
}

struct attr_ctx {
	const struct nlattr *tb[INET_DIAG_MAX + 1];
	bool bad;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attr_ctx *ctx = data;
	int type = mnl_attr_get_type(attr);
	enum mnl_attr_data_type want;

	switch (type) {
	case INET_DIAG_SHUTDOWN:
		want = MNL_TYPE_U8;
		break;
	case INET_DIAG_MARK:
		want = MNL_TYPE_U32;
		break;
	case INET_DIAG_CGROUP_ID:
		want = MNL_TYPE_U64;
		break;
	case INET_DIAG_SKMEMINFO:
		if (mnl_attr_get_payload_len(attr) < (SK_MEMINFO_WMEM_ALLOC + 1) * sizeof(uint32_t)) {
			ctx->bad = true;
			return MNL_CB_ERROR;
		}
		ctx->tb[type] = attr;
		return MNL_CB_OK;
	default:
		/* Unused attributes: their framing was checked by the walk. */
		return MNL_CB_OK;
	}
	if (mnl_attr_validate(attr, want) < 0) {
		ctx->bad = true;
		return MNL_CB_ERROR;
	}
	ctx->tb[type] = attr;
	return MNL_CB_OK;
}

/* Turn a validated SOCK_DIAG_BY_FAMILY reply into an ag_sock_info. */
static int parse_diag_msg(const struct nlmsghdr *nlh, int protocol,
			  struct ag_sock_info *out)
{
	const struct inet_diag_msg *m;
	struct attr_ctx ctx = { .bad = false };

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EBADMSG;
	if (m->idiag_state == 0 || m->idiag_state > SD_MAX_STATE)
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(*m), attr_cb, &ctx) < 0 || ctx.bad)
		return -EBADMSG;

	memset(out, 0, sizeof(*out));
	out->inode = m->idiag_inode;
	out->uid = m->idiag_uid;
	out->cookie = (uint64_t)m->id.idiag_cookie[0] |
		      (uint64_t)m->id.idiag_cookie[1] << 32;
	out->state = m->idiag_state;
	out->family = m->idiag_family;
	out->id.ip_version = m->idiag_family == AF_INET ? 4 : 6;
	out->id.protocol = (uint8_t)protocol;
	out->id.sport = ntohs(m->id.idiag_sport);
	out->id.dport = ntohs(m->id.idiag_dport);
	out->id.src = ag_addr_make(out->id.ip_version, m->id.idiag_src);
	out->id.dst = ag_addr_make(out->id.ip_version, m->id.idiag_dst);
	if (ctx.tb[INET_DIAG_MARK]) {
		out->mark = mnl_attr_get_u32(ctx.tb[INET_DIAG_MARK]);
		out->flags |= AG_SOCK_F_MARK;
	}
	if (ctx.tb[INET_DIAG_CGROUP_ID]) {
		out->cgroup_id = mnl_attr_get_u64(ctx.tb[INET_DIAG_CGROUP_ID]);
		out->flags |= AG_SOCK_F_CGROUP;
	}
	if (ctx.tb[INET_DIAG_SKMEMINFO]) {
		const uint32_t *mem = mnl_attr_get_payload(ctx.tb[INET_DIAG_SKMEMINFO]);

		memcpy(&out->wmem_alloc, &mem[SK_MEMINFO_WMEM_ALLOC], sizeof(out->wmem_alloc));
		out->flags |= AG_SOCK_F_WMEM;
	}
	return 0;
}

/* One datagram from the kernel into buf, with this handle's counters. */
static ssize_t sd_recv(struct ag_sockdiag *sd, char *buf, size_t len, bool *cut)
{
	ssize_t n = ag_nl_recv_kernel(mnl_socket_get_fd(sd->nl), buf, len, cut,
				      &sd->st.malformed);

	if (n == -ETIMEDOUT)
		sd->st.timeouts++;
	return n;
}

/*
 * Send one request and wait for its answer.  @out receives the socket of a
 * lookup; a destroy (@out NULL) expects the ack.  Replies to older requests
 * that timed out are skipped, never taken for this one.
 */
static int sd_transact(struct ag_sockdiag *sd, uint16_t type,
		       const struct sd_query *q, struct ag_sock_info *out)
{
	char buf[SD_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *req;
	uint32_t seq;
	int fd = mnl_socket_get_fd(sd->nl);

	/*
	 * From a dump's callback: the rest of the dump is queued on this
	 * socket, and we would read it as stale replies and drop it.
	 */
	if (sd->dumping)
		return -EDEADLK;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | (out ? 0 : NLM_F_ACK);
	nlh->nlmsg_seq = seq = ++sd->seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	build_req(req, q);

	sd->st.requests++;
	if (send(fd, nlh, nlh->nlmsg_len, 0) == -1)
		return -errno;

	for (;;) {
		bool cut;
		ssize_t n = sd_recv(sd, buf, sizeof(buf), &cut);
		int len;

		if (n < 0)
			return (int)n;
		if (cut) {
			sd->st.malformed++;
			continue;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (!mnl_nlmsg_seq_ok(nlh, seq) ||
			    !mnl_nlmsg_portid_ok(nlh, sd->portid)) {
				sd->st.stale++;
				continue;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e;

				if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
					sd->st.malformed++;
					return -EBADMSG;
				}
				e = mnl_nlmsg_get_payload(nlh);
				if (e->error > 0) {
					sd->st.malformed++;
					return -EBADMSG;
				}
				/* A lookup is answered by data, never by an ack. */
				if (e->error == 0 && out) {
					sd->st.malformed++;
					return -EBADMSG;
				}
				return e->error;
			}
			if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY && out) {
				int r = parse_diag_msg(nlh, q->protocol, out);

				if (r < 0)
					sd->st.malformed++;
				return r;
			}
			sd->st.malformed++;
			return -EBADMSG;
		}
	}
}

/* ---- lookups ------------------------------------------------------------- */

static int flow_family(const struct ag_tuple *t, bool mapped)
{
	return t->ip_version == 4 && !mapped ? AF_INET : AF_INET6;
}

/* Is @si the socket of flow @t (src = local), not a listener or a socket
 * of another port?  @any_peer accepts an unconnected (UDP) socket. */
static bool reply_is_flow(const struct ag_sock_info *si,
			  const struct ag_tuple *t, bool any_peer)
{
	if (si->id.sport != t->sport)
		return false;
	if (!addr_covers(si->family, si->id.src.b, t->ip_version, t->src.b))
		return false;
	if (si->id.dport == 0 && si->state != TCP_ESTABLISHED)
		return any_peer && si->state == TCP_CLOSE &&
		       t->protocol != IPPROTO_TCP;
	return si->id.dport == t->dport &&
	       addr_covers(si->family, si->id.dst.b, t->ip_version, t->dst.b);
}

static int tcp_query(struct ag_sockdiag *sd, const struct ag_tuple *t,
		     bool mapped, const uint8_t *local, const uint8_t *peer,
		     uint16_t peer_port, struct ag_sock_info *out)
{
	struct sd_query q = {
		.family = flow_family(t, mapped), .mapped = mapped,
		.protocol = IPPROTO_TCP,
		.first = local, .first_port = t->sport,
		.second = peer, .second_port = peer_port,
	};

	return sd_transact(sd, SOCK_DIAG_BY_FAMILY, &q, out);
}

/*
 * One UDP lookup in whichever order this kernel reads the id.  The socket
 * found must be the flow's (@listener: any socket bound to the local port
 * and address, as the receive path would pick).
 */
static int udp_query(struct ag_sockdiag *sd, const struct ag_tuple *t,
		     bool mapped, const uint8_t *local, const uint8_t *peer,
		     uint16_t peer_port, bool listener,
		     struct ag_sock_info *out)
{
	enum udp_order order[2];
	int r = -ENOENT;

	if (sd->udp_dump_order == UDP_ORDER_LOCAL_FIRST) {
		order[0] = UDP_ORDER_LOCAL_FIRST;
		order[1] = UDP_ORDER_PEER_FIRST;
	} else {
		order[0] = UDP_ORDER_PEER_FIRST;
		order[1] = UDP_ORDER_LOCAL_FIRST;
	}
	for (int i = 0; i < 2; i++) {
		bool lf = order[i] == UDP_ORDER_LOCAL_FIRST;
		struct sd_query q = {
			.family = flow_family(t, mapped), .mapped = mapped,
			.protocol = IPPROTO_UDP,
			.first = lf ? local : peer,
			.first_port = lf ? t->sport : peer_port,
			.second = lf ? peer : local,
			.second_port = lf ? peer_port : t->sport,
		};
		int qr = sd_transact(sd, SOCK_DIAG_BY_FAMILY, &q, out);

		if (qr == -ENOENT)
			continue;
		if (qr < 0)
			return qr;
		if (listener ? out->id.sport == t->sport &&
				       addr_covers(out->family, out->id.src.b,
						   t->ip_version, t->src.b)
			     : reply_is_flow(out, t, true)) {
			/* Only a specific local port tells the orders apart. */
			if (!listener)
				sd->udp_dump_order = order[i];
			return 0;
		}
		r = -ENOENT;
	}
	return r;
}

static int check_tuple(const struct ag_tuple *t)
{
	if (!t || (t->ip_version != 4 && t->ip_version != 6) || t->sport == 0)
		return -EINVAL;
	if (t->protocol != IPPROTO_TCP && t->protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	return 0;
}

static int lookup_one(struct ag_sockdiag *sd, const struct ag_tuple *t,
		      bool mapped, struct ag_sock_info *out)
{
	int r;

	if (t->protocol == IPPROTO_TCP) {
		r = tcp_query(sd, t, mapped, t->src.b, t->dst.b, t->dport, out);
		if (r == 0 && !reply_is_flow(out, t, false))
			r = -ENOENT;
		return r;
	}
	r = udp_query(sd, t, mapped, t->src.b, t->dst.b, t->dport, false, out);
	if (r != -ENOENT)
		return r;
	/* The flow's packet left an unconnected socket ... */
	r = udp_query(sd, t, mapped, t->src.b, zero16, 0, false, out);
	if (r != -ENOENT)
		return r;
	/* ... bound to the wildcard address. */
	return udp_query(sd, t, mapped, zero16, zero16, 0, false, out);
}

typedef int lookup_fn(struct ag_sockdiag *sd, const struct ag_tuple *t, bool mapped,
		      struct ag_sock_info *out);

/* one(), then for IPv4 one() again among IPv6 sockets (v4-mapped); counted. */
static int lookup_counted(struct ag_sockdiag *sd, const struct ag_tuple *t,
			  struct ag_sock_info *out, lookup_fn *one)
{
	int r = check_tuple(t);

	if (r < 0)
		return r;
	r = one(sd, t, false, out);
	if (r == -ENOENT && t->ip_version == 4) {
		r = one(sd, t, true, out);
		if (r == 0)
			out->flags |= AG_SOCK_F_MAPPED;
	}
	if (r == 0)
		sd->st.found++;
	else if (r == -ENOENT)
		sd->st.not_found++;
	return r;
}

int ag_sockdiag_lookup(struct ag_sockdiag *sd, const struct ag_tuple *t,
		       struct ag_sock_info *out)
{
	return lookup_counted(sd, t, out, lookup_one);
}

static int listener_one(struct ag_sockdiag *sd, const struct ag_tuple *t,
			bool mapped, struct ag_sock_info *out)
{
	int r;

	if (t->protocol == IPPROTO_UDP)
		return udp_query(sd, t, mapped, t->src.b, t->dst.b, t->dport, true,
				 out);
	/*
	 * With the real peer the kernel picks the listener a SYN from it would
	 * reach (SO_REUSEPORT groups included).  If a connection with that
	 * very tuple still exists, ask again with no peer at all.
	 */
	r = tcp_query(sd, t, mapped, t->src.b, t->dst.b, t->dport, out);
	if (r == 0 && out->state != TCP_LISTEN)
		r = tcp_query(sd, t, mapped, t->src.b, zero16, 0, out);
	if (r == 0 && (out->state != TCP_LISTEN || out->id.sport != t->sport))
		r = -ENOENT;
	return r;
}

int ag_sockdiag_lookup_listener(struct ag_sockdiag *sd,
				const struct ag_tuple *t,
				struct ag_sock_info *out)
{
	return lookup_counted(sd, t, out, listener_one);
}

/* ---- destroy ------------------------------------------------------------- */

/*
 * Destroy by the socket's own id and cookie.  The id is what the socket
 * reports, so it also works for a wildcard-bound or IPv4-mapped socket.
 */
static int destroy_by_id(struct ag_sockdiag *sd, const struct ag_sock_info *si)
{
	const struct ag_tuple *id = &si->id;
	struct sd_query q = {
		.family = si->family, .mapped = false,
		.protocol = id->protocol,
		.first = id->src.b, .first_port = id->sport,
		.second = id->dst.b, .second_port = id->dport,
		.cookie = si->cookie, .has_cookie = true,
	};
	int r;

	if (id->protocol == IPPROTO_TCP)
		return sd_transact(sd, SOCK_DESTROY, &q, NULL);

	if (sd->udp_destroy_order != UDP_ORDER_PEER_FIRST) {
		r = sd_transact(sd, SOCK_DESTROY, &q, NULL);
		if (r != -ENOENT) {
			if (r == 0)
				sd->udp_destroy_order = UDP_ORDER_LOCAL_FIRST;
			return r;
		}
	}
	/* The cookie keeps the other order from hitting another socket. */
	q.first = id->dst.b;
	q.first_port = id->dport;
	q.second = id->src.b;
	q.second_port = id->sport;
	r = sd_transact(sd, SOCK_DESTROY, &q, NULL);
	if (r == 0)
		sd->udp_destroy_order = UDP_ORDER_PEER_FIRST;
	else if (r == -ENOENT && sd->udp_destroy_order == UDP_ORDER_PEER_FIRST) {
		q.first = id->src.b;
		q.first_port = id->sport;
		q.second = id->dst.b;
		q.second_port = id->dport;
		r = sd_transact(sd, SOCK_DESTROY, &q, NULL);
	}
	return r;
}

int ag_sockdiag_destroy(struct ag_sockdiag *sd, const struct ag_tuple *t)
{
	struct ag_sock_info si;
	int r;

	r = ag_sockdiag_lookup(sd, t, &si);
	if (r < 0)
		return r;
	if (si.state == TCP_LISTEN || si.id.dport == 0)
		return -EBUSY;
	r = destroy_by_id(sd, &si);
	if (r == 0)
		sd->st.destroyed++;
	return r;
}

/* ---- dump ---------------------------------------------------------------- */

/*
 * The states of a connect()'s socket while it carries a flow.  Not LISTEN
 * (no peer), TIME_WAIT or NEW_SYN_RECV (mini sockets no process holds), nor
 * CLOSE (never connected, or already torn down).
 */
#define SD_DUMP_STATES							\
	((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) |		\
	 (1u << TCP_SYN_RECV) | (1u << TCP_FIN_WAIT1) |		\
	 (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) |		\
	 (1u << TCP_LAST_ACK) | (1u << TCP_CLOSING))

/*
 * Ask for one family's TCP sockets whose (mark & mask) == mark.  The filter
 * is inet_diag bytecode of one MARK_COND op: "yes" jumps to the end of the
 * program, which accepts (the kernel wants exactly 0 bytes left); "no" jumps
 * 4 bytes past it, which rejects, and is the one jump past the end the
 * kernel's audit of the program allows.
 */
static int dump_request(struct ag_sockdiag *sd, char *buf, int family,
			uint32_t mark, uint32_t mask, uint32_t *seq)
{
	struct inet_diag_markcond cond = { .mark = mark, .mask = mask };
	struct inet_diag_bc_op op = {
		.code = INET_DIAG_BC_MARK_COND,
		.yes = sizeof(op) + sizeof(cond),
		.no = sizeof(op) + sizeof(cond) + 4,
	};
	uint8_t bc[sizeof(op) + sizeof(cond)];
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = *seq = ++sd->seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = SD_DUMP_STATES;
	/* Copied, not cast: the op and the condition are packed back to back. */
	memcpy(bc, &op, sizeof(op));
	memcpy(bc + sizeof(op), &cond, sizeof(cond));
	mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, sizeof(bc), bc);

	sd->st.requests++;
	if (send(mnl_socket_get_fd(sd->nl), nlh, nlh->nlmsg_len, 0) == -1)
		return -errno;
	return 0;
}

/* An NLMSG_ERROR answers a dump that did not start: its error, never 0. */
static int dump_error(struct ag_sockdiag *sd, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
		sd->st.malformed++;
		return -EBADMSG;
	}
	e = mnl_nlmsg_get_payload(nlh);
	if (e->error >= 0) {
		sd->st.malformed++;
		return -EBADMSG;
	}
	return e->error;
}

/*
 * Read one family's dump up to its NLMSG_DONE and report each socket.
 * Return: the number reported, or -errno.
 */
static int dump_replies(struct ag_sockdiag *sd, char *buf, int family,
			uint32_t seq, ag_sockdiag_dump_cb cb, void *arg)
{
	int count = 0;
	bool cut = false;

	for (;;) {
		const struct nlmsghdr *nlh;
		bool batch_cut;
		ssize_t n = sd_recv(sd, buf, SD_DUMP_BUF_SIZE, &batch_cut);
		int len;

		if (n < 0)
			return (int)n;
		/*
		 * Sockets were lost with the cut-off end of the batch.  Read
		 * on to NLMSG_DONE all the same, so that no rest of this dump
		 * is left queued for the next request, then fail.
		 */
		if (batch_cut) {
			sd->st.malformed++;
			cut = true;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct ag_sock_info si;

			if (!mnl_nlmsg_seq_ok(nlh, seq) ||
			    !mnl_nlmsg_portid_ok(nlh, sd->portid)) {
				sd->st.stale++;
				continue;
			}
			switch (nlh->nlmsg_type) {
			case NLMSG_DONE:
				/* Carries the dump's own error, if it had one. */
				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
					int e;

					memcpy(&e, mnl_nlmsg_get_payload(nlh),
					       sizeof(e));
					if (e < 0)
						return e;
				}
				return cut ? -EBADMSG : count;
			case NLMSG_ERROR:
				return dump_error(sd, nlh);
			case SOCK_DIAG_BY_FAMILY:
				if (parse_diag_msg(nlh, IPPROTO_TCP, &si) < 0 ||
				    si.family != family) {
					sd->st.malformed++;
					continue;
				}
				cb(&si, arg);
				count++;
				continue;
			default:
				sd->st.malformed++;
				continue;
			}
		}
	}
}

int ag_sockdiag_dump_marked(struct ag_sockdiag *sd, uint32_t mark,
			    uint32_t mask, ag_sockdiag_dump_cb cb, void *arg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	char *buf;
	int total = 0, r = 0;

	if (sd->dumping)
		return -EDEADLK;
	/* One batch of a dump is too big for the stack of a deep caller. */
	buf = malloc(SD_DUMP_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	sd->dumping = true;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		uint32_t seq;

		r = dump_request(sd, buf, families[i], mark, mask, &seq);
		if (r == 0)
			r = dump_replies(sd, buf, families[i], seq, cb, arg);
		if (r < 0)
			break;
		total += r;
	}
	sd->dumping = false;
	free(buf);
	return r < 0 ? r : total;
}

/* ---- destroyed sockets ------------------------------------------------------- */

struct ag_sockdiag_events {
	int fd;
	ag_sockdiag_dump_cb cb;
	void *arg;
	uint64_t malformed;
};

struct ag_sockdiag_events *ag_sockdiag_events_open(ag_sockdiag_dump_cb cb, void *arg)
{
	static const int groups[] = { SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_UDP_DESTROY };
	struct sockaddr_nl me = { .nl_family = AF_NETLINK };
	struct ag_sockdiag_events *ev;
	int err, rcvbuf = 1 << 20;

	if (!cb) {
		errno = EINVAL;
		return NULL;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->cb = cb;
	ev->arg = arg;
	ev->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	if (ev->fd == -1 || bind(ev->fd, (struct sockaddr *)&me, sizeof(me)) == -1)
		goto fail;
	(void)setsockopt(ev->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (setsockopt(ev->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])) == -1)
			goto fail;
	return ev;
fail:
	err = errno;
	if (ev->fd >= 0)
		close(ev->fd);
	free(ev);
	errno = err;
	return NULL;
}

int ag_sockdiag_events_fd(const struct ag_sockdiag_events *ev)
{
	return ev->fd;
}

int ag_sockdiag_events_receive(struct ag_sockdiag_events *ev)
{
	char buf[SD_BUF_SIZE];
	int reported = 0;

	for (int i = 0; i < AG_SOCKDIAG_EVENTS_BATCH; i++) {
		bool cut;
		ssize_t n = ag_nl_recv_kernel(ev->fd, buf, sizeof(buf), &cut, &ev->malformed);

		if (n == -ETIMEDOUT || n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (cut) {
			ev->malformed++;
			continue;
		}
		int len = (int)n;

		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		     mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			struct ag_sock_info si;

			if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    parse_diag_msg(nlh, IPPROTO_UDP, &si)) {
				ev->malformed++;
				continue;
			}
			ev->cb(&si, ev->arg);
			reported++;
		}
	}
	return reported;
}

void ag_sockdiag_events_close(struct ag_sockdiag_events *ev)
{
	if (!ev)
		return;
	close(ev->fd);
	free(ev);
}
