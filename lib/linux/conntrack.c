/*
 * conntrack.c — ctnetlink with libmnl: delete, dump, DESTROY events.
 *
 * Requests go on one socket connected to the kernel; events come on a
 * second one, so a burst of events never gets between a request and its
 * answer.  Every attribute is validated before use; replies must come from
 * the kernel and carry our sequence number and port id.
 */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "linux/conntrack.h"
#include "linux/nlrecv.h"

/* A dump datagram holds many entries; the kernel fills what it is given. */
#define CT_BUF_SIZE	(64 * 1024)

struct ag_ct {
	struct mnl_socket *req;
	uint32_t req_portid;
	uint32_t seq;
	struct mnl_socket *ev;
	ag_ct_cb ev_cb;
	void *ev_arg;
	char *buf;
	struct ag_ct_stats st;
};

static int set_timeout(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

struct ag_ct *ag_ct_open(void)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct ag_ct *ct;
	int one = 1, err, fd;

	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return NULL;
	ct->buf = malloc(CT_BUF_SIZE);
	if (!ct->buf)
		goto fail;
	ct->req = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!ct->req)
		goto fail;
	if (mnl_socket_bind(ct->req, 0, MNL_SOCKET_AUTOPID) == -1)
		goto fail;
	fd = mnl_socket_get_fd(ct->req);
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		goto fail;
	if (set_timeout(fd, AG_CT_TIMEOUT_MS) == -1)
		goto fail;
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	ct->req_portid = mnl_socket_get_portid(ct->req);
	ct->seq = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	return ct;
fail:
	err = errno;
	ag_ct_close(ct);
	errno = err;
	return NULL;
}

void ag_ct_close(struct ag_ct *ct)
{
	if (!ct)
		return;
	if (ct->req)
		mnl_socket_close(ct->req);
	if (ct->ev)
		mnl_socket_close(ct->ev);
	free(ct->buf);
	free(ct);
}

void ag_ct_get_stats(const struct ag_ct *ct, struct ag_ct_stats *st)
{
	*st = ct->st;
}

int ag_ct_event_fd(const struct ag_ct *ct)
{
	return ct->ev ? mnl_socket_get_fd(ct->ev) : -1;
}

/* ---- parsing ------------------------------------------------------------- */

/* Attribute tables: the expected type of each attribute we read. */
struct ct_tb {
	const struct nlattr **tb;
	const enum mnl_attr_data_type *types;	/* MNL_TYPE_UNSPEC: ignore */
	const uint16_t *lens;			/* binary lengths, or NULL */
	int max;
	bool bad;
};

static int ct_attr_cb(const struct nlattr *attr, void *data)
{
	struct ct_tb *t = data;
	int type = mnl_attr_get_type(attr);
	enum mnl_attr_data_type want;

	if (type > t->max || t->types[type] == MNL_TYPE_UNSPEC)
		return MNL_CB_OK;
	want = t->types[type];
	if (want == MNL_TYPE_BINARY) {
		if (mnl_attr_validate2(attr, want, t->lens[type]) < 0)
			goto bad;
	} else if (mnl_attr_validate(attr, want) < 0) {
		goto bad;
	}
	t->tb[type] = attr;
	return MNL_CB_OK;
bad:
	t->bad = true;
	return MNL_CB_ERROR;
}

static const enum mnl_attr_data_type top_types[CTA_MAX + 1] = {
	[CTA_TUPLE_ORIG] = MNL_TYPE_NESTED,
	[CTA_STATUS] = MNL_TYPE_U32,
	[CTA_MARK] = MNL_TYPE_U32,
	[CTA_ID] = MNL_TYPE_U32,
	[CTA_ZONE] = MNL_TYPE_U16,
	[CTA_COUNTERS_ORIG] = MNL_TYPE_NESTED,
	[CTA_COUNTERS_REPLY] = MNL_TYPE_NESTED,
};

static const enum mnl_attr_data_type counter_types[CTA_COUNTERS_MAX + 1] = {
	[CTA_COUNTERS_PACKETS] = MNL_TYPE_U64,
	[CTA_COUNTERS_BYTES] = MNL_TYPE_U64,
};

static const enum mnl_attr_data_type tuple_types[CTA_TUPLE_MAX + 1] = {
	[CTA_TUPLE_IP] = MNL_TYPE_NESTED,
	[CTA_TUPLE_PROTO] = MNL_TYPE_NESTED,
	[CTA_TUPLE_ZONE] = MNL_TYPE_U16,
};

static const enum mnl_attr_data_type ip_types[CTA_IP_MAX + 1] = {
	[CTA_IP_V4_SRC] = MNL_TYPE_U32,
	[CTA_IP_V4_DST] = MNL_TYPE_U32,
	[CTA_IP_V6_SRC] = MNL_TYPE_BINARY,
	[CTA_IP_V6_DST] = MNL_TYPE_BINARY,
};

static const uint16_t ip_lens[CTA_IP_MAX + 1] = {
	[CTA_IP_V6_SRC] = 16,
	[CTA_IP_V6_DST] = 16,
};

static const enum mnl_attr_data_type proto_types[CTA_PROTO_MAX + 1] = {
	[CTA_PROTO_NUM] = MNL_TYPE_U8,
	[CTA_PROTO_SRC_PORT] = MNL_TYPE_U16,
	[CTA_PROTO_DST_PORT] = MNL_TYPE_U16,
	[CTA_PROTO_ICMP_ID] = MNL_TYPE_U16,
	[CTA_PROTO_ICMP_TYPE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMP_CODE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMPV6_ID] = MNL_TYPE_U16,
	[CTA_PROTO_ICMPV6_TYPE] = MNL_TYPE_U8,
	[CTA_PROTO_ICMPV6_CODE] = MNL_TYPE_U8,
};

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb,
			const enum mnl_attr_data_type *types,
			const uint16_t *lens, int max)
{
	struct ct_tb t = { tb, types, lens, max, false };

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	if (mnl_attr_parse_nested(nest, ct_attr_cb, &t) < 0 || t.bad)
		return -EBADMSG;
	return 0;
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_UDPLITE || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_DCCP;
}

static int parse_tuple(const struct nlattr *nest, int family,
		       struct ag_ct_entry *e)
{
	const struct nlattr *tt[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1];
	const struct nlattr *pr[CTA_PROTO_MAX + 1];
	struct ag_tuple *t = &e->orig;

	if (parse_nested(nest, tt, tuple_types, NULL, CTA_TUPLE_MAX) < 0 ||
	    !tt[CTA_TUPLE_IP] || !tt[CTA_TUPLE_PROTO])
		return -EBADMSG;
	if (parse_nested(tt[CTA_TUPLE_IP], ip, ip_types, ip_lens,
			 CTA_IP_MAX) < 0 ||
	    parse_nested(tt[CTA_TUPLE_PROTO], pr, proto_types, NULL,
			 CTA_PROTO_MAX) < 0)
		return -EBADMSG;

	memset(t, 0, sizeof(*t));
	if (family == AF_INET) {
		if (!ip[CTA_IP_V4_SRC] || !ip[CTA_IP_V4_DST])
			return -EBADMSG;
		t->ip_version = 4;
		t->src = ag_addr_make(4, mnl_attr_get_payload(ip[CTA_IP_V4_SRC]));
		t->dst = ag_addr_make(4, mnl_attr_get_payload(ip[CTA_IP_V4_DST]));
	} else {
		if (!ip[CTA_IP_V6_SRC] || !ip[CTA_IP_V6_DST])
			return -EBADMSG;
		t->ip_version = 6;
		t->src = ag_addr_make(6, mnl_attr_get_payload(ip[CTA_IP_V6_SRC]));
		t->dst = ag_addr_make(6, mnl_attr_get_payload(ip[CTA_IP_V6_DST]));
	}
	if (!pr[CTA_PROTO_NUM])
		return -EBADMSG;
	t->protocol = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	if (has_ports(t->protocol)) {
		if (pr[CTA_PROTO_SRC_PORT])
			t->sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
		if (pr[CTA_PROTO_DST_PORT])
			t->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
	} else if (t->protocol == IPPROTO_ICMP || t->protocol == IPPROTO_ICMPV6) {
		bool v6 = t->protocol == IPPROTO_ICMPV6;
		const struct nlattr *id, *ty, *co;

		id = pr[v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID];
		ty = pr[v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE];
		co = pr[v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE];

		if (id)
			t->sport = ntohs(mnl_attr_get_u16(id));
		if (ty)
			e->icmp_type = mnl_attr_get_u8(ty);
		if (co)
			e->icmp_code = mnl_attr_get_u8(co);
	}
	if (tt[CTA_TUPLE_ZONE]) {
		e->zone = ntohs(mnl_attr_get_u16(tt[CTA_TUPLE_ZONE]));
		e->flags |= AG_CT_F_ZONE;
	}
	return 0;
}

/*
 * One ctnetlink conntrack message into @e.
 * Return: 0; 1 for a message to skip (another family); -EBADMSG.
 */
static int parse_entry(const struct nlmsghdr *nlh, struct ag_ct_entry *e)
{
	const struct nlattr *tb[CTA_MAX + 1];
	const struct nfgenmsg *nfg;
	struct ct_tb t = { tb, top_types, NULL, CTA_MAX, false };

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)))
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return 1;
	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(*nfg), ct_attr_cb, &t) < 0 || t.bad)
		return -EBADMSG;
	if (!tb[CTA_TUPLE_ORIG])
		return -EBADMSG;
	memset(e, 0, sizeof(*e));
	if (parse_tuple(tb[CTA_TUPLE_ORIG], nfg->nfgen_family, e) < 0)
		return -EBADMSG;
	if (tb[CTA_MARK]) {
		e->mark = ntohl(mnl_attr_get_u32(tb[CTA_MARK]));
		e->flags |= AG_CT_F_MARK;
	}
	if (tb[CTA_ID]) {
		e->id = ntohl(mnl_attr_get_u32(tb[CTA_ID]));
		e->flags |= AG_CT_F_ID;
	}
	if (tb[CTA_STATUS]) {
		e->status = ntohl(mnl_attr_get_u32(tb[CTA_STATUS]));
		e->flags |= AG_CT_F_STATUS;
	}
	/* with nf_conntrack_acct on: each direction's bytes */
	for (int dir = 0; dir < 2; dir++) {
		const struct nlattr *c = tb[dir ? CTA_COUNTERS_REPLY : CTA_COUNTERS_ORIG];
		const struct nlattr *ct[CTA_COUNTERS_MAX + 1];

		if (!c)
			continue;
		if (parse_nested(c, ct, counter_types, NULL, CTA_COUNTERS_MAX) < 0)
			return -EBADMSG;
		if (ct[CTA_COUNTERS_BYTES]) {
			e->bytes[dir] = be64toh(mnl_attr_get_u64(ct[CTA_COUNTERS_BYTES]));
			e->flags |= AG_CT_F_BYTES;
		}
	}
	if (tb[CTA_ZONE] && !(e->flags & AG_CT_F_ZONE)) {
		e->zone = ntohs(mnl_attr_get_u16(tb[CTA_ZONE]));
		e->flags |= AG_CT_F_ZONE;
	}
	return 0;
}

static bool is_ct_msg(const struct nlmsghdr *nlh, uint8_t msg)
{
	return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_CTNETLINK &&
	       NFNL_MSG_TYPE(nlh->nlmsg_type) == msg;
}

/* ---- requests ------------------------------------------------------------ */

static struct nlmsghdr *put_request(struct ag_ct *ct, char *buf, uint8_t msg,
				    uint16_t flags, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++ct->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

/*
 * Send @req and read answers until the ack (or NLMSG_DONE for a dump).
 * Each data message is parsed and handed to @cb when one is given.
 * Return: 0, the kernel's -errno, -EAGAIN for an interrupted dump, or a
 * local -errno.
 */
static int transact(struct ag_ct *ct, struct nlmsghdr *req, ag_ct_cb cb,
		    void *arg)
{
	int fd = mnl_socket_get_fd(ct->req);
	uint32_t seq = req->nlmsg_seq;
	bool intr = false;

	if (send(fd, req, req->nlmsg_len, 0) == -1)
		return -errno;
	for (;;) {
		struct nlmsghdr *nlh;
		bool cut;
		ssize_t n = ag_nl_recv_kernel(fd, ct->buf, CT_BUF_SIZE, &cut, &ct->st.malformed);
		int len;

		if (n < 0)
			return (int)n;
		if (cut) {
			ct->st.malformed++;
			continue;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)ct->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct ag_ct_entry e;

			if (!mnl_nlmsg_seq_ok(nlh, seq) ||
			    !mnl_nlmsg_portid_ok(nlh, ct->req_portid)) {
				ct->st.stale++;
				continue;
			}
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return intr ? -EAGAIN : 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err;

				if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*err))) {
					ct->st.malformed++;
					return -EBADMSG;
				}
				err = mnl_nlmsg_get_payload(nlh);
				if (err->error > 0) {
					ct->st.malformed++;
					return -EBADMSG;
				}
				return err->error;
			}
			if (!cb || !is_ct_msg(nlh, IPCTNL_MSG_CT_NEW))
				continue;
			switch (parse_entry(nlh, &e)) {
			case 0:
				ct->st.dumped++;
				cb(&e, arg);
				break;
			case 1:
				break;
			default:
				ct->st.malformed++;
				break;
			}
		}
	}
}

static int put_tuple(struct nlmsghdr *nlh, const struct ag_tuple *t)
{
	struct nlattr *tuple, *ip, *proto;
	bool v4 = t->ip_version == 4;

	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, v4 ? 4 : 16,
		     t->src.b);
	mnl_attr_put(nlh, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, v4 ? 4 : 16,
		     t->dst.b);
	mnl_attr_nest_end(nlh, ip);
	proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->protocol);
	if (has_ports(t->protocol)) {
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	} else if (t->protocol == IPPROTO_ICMP) {
		/* An echo flow is keyed by its request. */
		mnl_attr_put_u16(nlh, CTA_PROTO_ICMP_ID, htons(t->sport));
		mnl_attr_put_u8(nlh, CTA_PROTO_ICMP_TYPE, 8);
		mnl_attr_put_u8(nlh, CTA_PROTO_ICMP_CODE, 0);
	} else if (t->protocol == IPPROTO_ICMPV6) {
		mnl_attr_put_u16(nlh, CTA_PROTO_ICMPV6_ID, htons(t->sport));
		mnl_attr_put_u8(nlh, CTA_PROTO_ICMPV6_TYPE, 128);
		mnl_attr_put_u8(nlh, CTA_PROTO_ICMPV6_CODE, 0);
	} else {
		return -EPROTONOSUPPORT;
	}
	mnl_attr_nest_end(nlh, proto);
	mnl_attr_nest_end(nlh, tuple);
	return 0;
}

/* One request about the entry of @t: IPCTNL_MSG_CT_DELETE or _GET. */
static int one_entry(struct ag_ct *ct, const struct ag_tuple *t, uint8_t type, ag_ct_cb cb,
		     void *arg)
{
	char buf[512] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh;
	int r;

	if (!t || (t->ip_version != 4 && t->ip_version != 6))
		return -EINVAL;
	if (t->protocol == IPPROTO_ICMP && t->ip_version != 4)
		return -EINVAL;
	if (t->protocol == IPPROTO_ICMPV6 && t->ip_version != 6)
		return -EINVAL;
	nlh = put_request(ct, buf, type, NLM_F_ACK, t->ip_version == 4 ? AF_INET : AF_INET6);
	r = put_tuple(nlh, t);
	if (r < 0)
		return r;
	return transact(ct, nlh, cb, arg);
}

int ag_ct_delete(struct ag_ct *ct, const struct ag_tuple *t)
{
	int r = one_entry(ct, t, IPCTNL_MSG_CT_DELETE, NULL, NULL);

	if (r == 0)
		ct->st.deleted++;
	return r;
}

int ag_ct_get(struct ag_ct *ct, const struct ag_tuple *t, ag_ct_cb cb, void *arg)
{
	return one_entry(ct, t, IPCTNL_MSG_CT_GET, cb, arg);
}

int ag_ct_dump(struct ag_ct *ct, ag_ct_cb cb, void *arg)
{
	char buf[64] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh;

	if (!cb)
		return -EINVAL;
	nlh = put_request(ct, buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC);
	return transact(ct, nlh, cb, arg);
}

/* ---- events -------------------------------------------------------------- */

int ag_ct_open_events(struct ag_ct *ct, unsigned rcvbuf, ag_ct_cb cb,
		      void *arg)
{
	int group = NFNLGRP_CONNTRACK_DESTROY, size, fd, err;

	if (ct->ev)
		return -EALREADY;
	if (!cb)
		return -EINVAL;
	if (rcvbuf == 0)
		rcvbuf = AG_CT_DEFAULT_RCVBUF;
	if (rcvbuf > INT32_MAX)
		return -EINVAL;
	size = (int)rcvbuf;
	ct->ev = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!ct->ev)
		return -errno;
	fd = mnl_socket_get_fd(ct->ev);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1)
		goto fail;
	if (mnl_socket_bind(ct->ev, 0, MNL_SOCKET_AUTOPID) == -1)
		goto fail;
	if (mnl_socket_setsockopt(ct->ev, NETLINK_ADD_MEMBERSHIP, &group,
				  sizeof(group)) == -1)
		goto fail;
	ct->ev_cb = cb;
	ct->ev_arg = arg;
	return 0;
fail:
	err = -errno;
	mnl_socket_close(ct->ev);
	ct->ev = NULL;
	return err;
}

int ag_ct_events_skip_mark(struct ag_ct *ct, uint32_t bits)
{
	/*
	 * An event is one message: nlmsghdr, nfgenmsg, then attributes.  The
	 * kernel's "find attribute" extension (SKF_AD_NLATTR: from offset A,
	 * the attribute of type X; 0 when none) finds CTA_MARK, whose value
	 * is big-endian, as a word load reads it.
	 */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_IMM, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg))),
		BPF_STMT(BPF_LDX | BPF_IMM, CTA_MARK),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_NLATTR)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0),	/* no mark: keep */
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_W | BPF_IND, NLA_HDRLEN),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),		/* keep */
		BPF_STMT(BPF_RET | BPF_K, 0),			/* drop */
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int fd, dummy = 0;

	if (!ct->ev)
		return -ENOTCONN;
	fd = mnl_socket_get_fd(ct->ev);
	if (bits == 0)
		return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) == -1 &&
			       errno != ENOENT
			       ? -errno
			       : 0;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == -1 ? -errno
										       : 0;
}

int ag_ct_receive(struct ag_ct *ct)
{
	int fd, events = 0;

	if (!ct->ev)
		return -ENOTCONN;
	fd = mnl_socket_get_fd(ct->ev);
	for (int k = 0; k < AG_CT_RECV_BATCH; k++) {
		struct sockaddr_nl from;
		struct iovec iov = { ct->buf, CT_BUF_SIZE };
		struct msghdr msg = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		struct nlmsghdr *nlh;
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
		int len;

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				ct->st.lost++;
				return -ENOBUFS;
			}
			return -errno;
		}
		if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC)) {
			ct->st.malformed++;
			continue;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)ct->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct ag_ct_entry e;

			if (!is_ct_msg(nlh, IPCTNL_MSG_CT_DELETE))
				continue;
			switch (parse_entry(nlh, &e)) {
			case 0:
				ct->st.events++;
				events++;
				ct->ev_cb(&e, ct->ev_arg);
				break;
			case 1:
				break;
			default:
				ct->st.malformed++;
				break;
			}
		}
	}
	return events;
}
