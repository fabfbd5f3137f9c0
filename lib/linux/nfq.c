/*
 * nfq.c — NFQUEUE through libmnl and libnetfilter_queue's mnl helpers.
 *
 * See nfq.h for the contract.  The pitfalls this file is organised around:
 *  - A queue is bound with copy mode "none" until its parameters arrive,
 *    and the kernel drops (not bypasses) packets queued in that state, so
 *    bind, parameters, length and flags travel in one message.
 *  - Packets can arrive before the bind's ack; they are put back (see
 *    nfq_packet_cb) rather than lost.
 *  - A packet message whose id we lose is held by the kernel until the
 *    queue closes, so the receive buffer is sized from the copy range and
 *    every message with an id gets to the callback or is dropped by us.
 *  - ENOBUFS on a netlink socket means the kernel dropped messages for us:
 *    it is counted (NETLINK_NO_ENOBUFS would hide it) and reading goes on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "linux/nfq.h"

/* Room for the attributes the kernel puts around the payload (packet
 * header, mark, timestamp, interfaces, hardware address, uid/gid, lengths,
 * VLAN): well under 1 KiB today, with a margin for attributes to come. */
#define NFQ_RX_OVERHEAD		4096u
/* One recvmmsg() reads up to this many packets, in buffers of at most this
 * many bytes in all: a burst costs one system call, and a lone packet too
 * (no second call to learn that nothing else is waiting). */
#define NFQ_RX_SLOTS		16u
#define NFQ_RX_BYTES		(128u << 10)
/* The largest copy range the kernel honours (NFQNL_MAX_COPY_RANGE). */
#define NFQ_MAX_COPY_RANGE	(0xffffu - NLA_HDRLEN)
/* Verdicts are batched in this many bytes (about 400 verdicts); libmnl's
 * batch needs a buffer of twice its limit. */
#define NFQ_BATCH_LIMIT		16384u
/* The largest verdict message: header, nfgenmsg, verdict, mark. */
#define NFQ_VERDICT_MSG_MAX                                                  \
	(MNL_ALIGN(sizeof(struct nlmsghdr)) +                                \
	 MNL_ALIGN(sizeof(struct nfgenmsg)) +                                \
	 MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(struct nfqnl_msg_verdict_hdr)) + \
	 MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(uint32_t)))
#define NFQ_PROC_PATH		"/proc/net/netfilter/nfnetlink_queue"
/* How long ag_nfq_open() waits for the kernel to acknowledge the bind. */
#define NFQ_OPEN_TIMEOUT_MS	5000

struct ag_nfq {
	struct mnl_socket *nl;
	uint32_t portid;
	uint16_t queue_num;
	char *rx;		/* rx_n buffers of rx_size bytes */
	size_t rx_size;
	unsigned rx_n;
	struct mnl_nlmsg_batch *batch;
	char *batch_buf;
	unsigned batched;
	struct ag_nfq_stats st;
	/* Set for the duration of ag_nfq_receive(). */
	ag_nfq_cb cb;
	void *cb_arg;
	unsigned delivered;
	/* During ag_nfq_open(): waiting for the ack of open_seq. */
	bool opening, open_acked;
	uint32_t open_seq;
	int open_error;
};

int ag_nfq_fd(const struct ag_nfq *q)
{
	return mnl_socket_get_fd(q->nl);
}

unsigned ag_nfq_pending_verdicts(const struct ag_nfq *q)
{
	return q->batched;
}

int ag_nfq_flush(struct ag_nfq *q)
{
	if (mnl_nlmsg_batch_is_empty(q->batch))
		return 0;
	for (;;) {
		if (mnl_socket_sendto(q->nl, mnl_nlmsg_batch_head(q->batch),
				      mnl_nlmsg_batch_size(q->batch)) != -1)
			break;
		if (errno != EINTR)
			return -errno;
	}
	mnl_nlmsg_batch_reset(q->batch);
	q->batched = 0;
	return 0;
}

int ag_nfq_verdict(struct ag_nfq *q, uint32_t id, enum ag_nfq_verdict verdict,
		   long long mark)
{
	struct nlmsghdr *nlh;
	int ret;

	if (verdict != AG_NFQ_DROP && verdict != AG_NFQ_ACCEPT &&
	    verdict != AG_NFQ_REPEAT)
		return -EINVAL;
	if (mark != AG_NFQ_MARK_KEEP && (mark < 0 || mark > UINT32_MAX))
		return -EINVAL;
	/* Make room first, so a message never straddles the limit: libmnl
	 * would carry an overflowing message over a failed send badly. */
	if (mnl_nlmsg_batch_size(q->batch) + NFQ_VERDICT_MSG_MAX > NFQ_BATCH_LIMIT) {
		ret = ag_nfq_flush(q);
		if (ret)
			return ret;
	}
	nlh = nfq_nlmsg_put(mnl_nlmsg_batch_current(q->batch),
			    NFQNL_MSG_VERDICT, q->queue_num);
	/* The sequence number names the packet in the kernel's error reply. */
	nlh->nlmsg_seq = id;
	nfq_nlmsg_verdict_put(nlh, (int)id, (int)verdict);
	if (mark != AG_NFQ_MARK_KEEP)
		nfq_nlmsg_verdict_put_mark(nlh, (uint32_t)mark);
	mnl_nlmsg_batch_next(q->batch);
	q->batched++;
	switch (verdict) {
	case AG_NFQ_DROP:
		q->st.dropped++;
		break;
	case AG_NFQ_ACCEPT:
		q->st.accepted++;
		break;
	case AG_NFQ_REPEAT:
		q->st.repeated++;
		break;
	}
	return 0;
}

/* A message with an id we cannot deliver (attributes that fail validation)
 * still names a held packet: drop it rather than hold it forever. */
static void nfq_drop_unparsable(struct ag_nfq *q, const struct nlmsghdr *nlh)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		const struct nfqnl_msg_packet_hdr *ph;

		if (mnl_attr_get_type(attr) != NFQA_PACKET_HDR)
			continue;
		if (mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(*ph)) < 0)
			return;
		ph = mnl_attr_get_payload(attr);
		ag_nfq_verdict(q, ntohl(ph->packet_id), AG_NFQ_DROP,
			       AG_NFQ_MARK_KEEP);
		return;
	}
}

/* The same for a message cut short by a too small buffer: the kernel puts
 * the packet header first, so the id is usually still in what we got. */
static void nfq_drop_truncated(struct ag_nfq *q, const char *buf)
{
	const size_t off = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	const struct nfqnl_msg_packet_hdr *ph;
	const struct nlattr *attr;

	if (q->rx_size < off + MNL_ATTR_HDRLEN + sizeof(*ph) ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return;
	attr = (const struct nlattr *)(buf + off);
	if (mnl_attr_get_type(attr) != NFQA_PACKET_HDR ||
	    attr->nla_len < MNL_ATTR_HDRLEN + sizeof(*ph))
		return;
	ph = mnl_attr_get_payload(attr);
	ag_nfq_verdict(q, ntohl(ph->packet_id), AG_NFQ_DROP, AG_NFQ_MARK_KEEP);
}

static int nfq_packet_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ag_nfq *q = data;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	const struct nfqnl_msg_packet_hdr *ph;
	const struct nfgenmsg *nfg;
	struct ag_nfq_packet pkt = { 0 };

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg)) {
		q->st.parse_errors++;
		return MNL_CB_OK;
	}
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR]) {
		q->st.parse_errors++;
		nfq_drop_unparsable(q, nlh);
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	nfg = mnl_nlmsg_get_payload(nlh);
	pkt.id = ntohl(ph->packet_id);
	pkt.hw_protocol = ntohs(ph->hw_protocol);
	pkt.hook = ph->hook;
	pkt.queue = ntohs(nfg->res_id);

	if (q->opening) {
		/* No callback yet: send it through its hook again, where the
		 * same rule queues it anew, behind the bind's ack. */
		ag_nfq_verdict(q, pkt.id, AG_NFQ_REPEAT, AG_NFQ_MARK_KEEP);
		return MNL_CB_OK;
	}

	if (attr[NFQA_MARK])
		pkt.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_IFINDEX_INDEV])
		pkt.indev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_IFINDEX_OUTDEV])
		pkt.outdev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
	if (attr[NFQA_UID]) {
		pkt.has_uid = true;
		pkt.uid = ntohl(mnl_attr_get_u32(attr[NFQA_UID]));
	}
	if (attr[NFQA_GID]) {
		pkt.has_gid = true;
		pkt.gid = ntohl(mnl_attr_get_u32(attr[NFQA_GID]));
	}
	if (attr[NFQA_SKB_INFO])
		pkt.skbinfo = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
	if (attr[NFQA_PAYLOAD]) {
		pkt.payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		pkt.caplen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	pkt.len = pkt.caplen;
	/* The kernel sends the original length only when it truncated. */
	if (attr[NFQA_CAP_LEN])
		pkt.len = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));

	q->st.packets++;
	q->delivered++;
	q->cb(&pkt, q->cb_arg);
	return MNL_CB_OK;
}

/* Error replies.  We never ask for acks on verdicts, so only refused
 * verdicts come back; during open, the ack of the bind message comes here
 * too and ends the wait. */
static int nfq_error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ag_nfq *q = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		q->st.parse_errors++;
		return MNL_CB_OK;
	}
	if (q->opening && nlh->nlmsg_seq == q->open_seq) {
		q->open_acked = true;
		q->open_error = e->error;
		return MNL_CB_STOP;
	}
	if (e->error) {
		q->st.verdict_errors++;
		q->st.last_verdict_error = e->error;
	}
	return MNL_CB_OK;
}

static int nfq_run(struct ag_nfq *q, const char *buf, size_t len)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = nfq_error_cb };

	/* Sequence 0: kernel messages carry none, error replies carry the
	 * packet id; both are accepted.  The port id is still checked. */
	if (mnl_cb_run2(buf, len, 0, q->portid, nfq_packet_cb, q, ctl,
			NLMSG_MIN_TYPE) == -1)
		return -errno;
	return 0;
}

int ag_nfq_receive(struct ag_nfq *q, ag_nfq_cb cb, void *arg, unsigned max_batch)
{
	int fd = mnl_socket_get_fd(q->nl);

	if (!cb)
		return -EINVAL;
	q->cb = cb;
	q->cb_arg = arg;
	q->delivered = 0;
	while (!max_batch || q->delivered < max_batch) {
		struct mmsghdr mm[NFQ_RX_SLOTS];
		struct iovec iov[NFQ_RX_SLOTS];
		unsigned want = q->rx_n;
		int got;

		if (max_batch && max_batch - q->delivered < want)
			want = max_batch - q->delivered;
		memset(mm, 0, want * sizeof(mm[0]));
		for (unsigned k = 0; k < want; k++) {
			iov[k].iov_base = q->rx + k * q->rx_size;
			iov[k].iov_len = q->rx_size;
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		got = recvmmsg(fd, mm, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				q->st.enobufs++;
				continue;
			}
			q->cb = NULL;
			return -errno;
		}
		for (int k = 0; k < got; k++) {
			const char *buf = iov[k].iov_base;

			if (mm[k].msg_len > q->rx_size) {
				/* Cannot happen with the buffer sized from the
				 * copy range; if it does, do not hold the packet
				 * for ever. */
				q->st.parse_errors++;
				nfq_drop_truncated(q, buf);
				continue;
			}
			if (nfq_run(q, buf, mm[k].msg_len))
				q->st.parse_errors++;
		}
		/* Fewer than asked: the socket ran dry (or an error waits,
		 * which the next call reports). */
		if ((unsigned)got < want)
			break;
	}
	q->cb = NULL;
	return (int)q->delivered;
}

static int nfq_set_rcvbuf(int fd, int bytes)
{
	/* SO_RCVBUFFORCE goes past rmem_max, which is what a burst of
	 * pended flows needs; without CAP_NET_ADMIN fall back to what the
	 * system allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) == -1)
		return -errno;
	return 0;
}

/* Send bind + parameters + length + flags, wait for the ack. */
static int nfq_configure(struct ag_nfq *q, const struct ag_nfq_config *cfg,
			 uint32_t range, uint32_t maxlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct timespec ts;
	uint32_t flags = 0;
	/* Every flag we manage is in the mask, so a queue reopened with
	 * fewer flags does not keep the old ones. */
	const uint32_t mask = NFQA_CFG_F_UID_GID | NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;

	if (cfg->flags & AG_NFQ_F_UID_GID)
		flags |= NFQA_CFG_F_UID_GID;
	if (cfg->flags & AG_NFQ_F_GSO)
		flags |= NFQA_CFG_F_GSO;
	if (cfg->flags & AG_NFQ_F_FAIL_OPEN)
		flags |= NFQA_CFG_F_FAIL_OPEN;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	q->open_seq = (uint32_t)ts.tv_nsec | 1;
	q->open_acked = false;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, cfg->queue_num);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = q->open_seq;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) == -1)
		return -errno;

	/* The kernel handles the message inside sendto, so the ack is
	 * already queued: whatever comes before it is a packet queued
	 * during the bind (see nfq_packet_cb).  A socket buffer too small
	 * for that burst can lose the ack itself, hence the deadline. */
	q->opening = true;
	while (!q->open_acked) {
		struct pollfd p = { .fd = mnl_socket_get_fd(q->nl), .events = POLLIN };
		struct timespec now;
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = NFQ_OPEN_TIMEOUT_MS - ((now.tv_sec - ts.tv_sec) * 1000 +
					      (now.tv_nsec - ts.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			q->opening = false;
			return -ETIMEDOUT;
		}
		n = recv(p.fd, q->rx, q->rx_size, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ENOBUFS) {
				q->st.enobufs++;
				continue;
			}
			q->opening = false;
			return -errno;
		}
		nfq_run(q, q->rx, (size_t)n);
	}
	q->opening = false;
	if (q->open_error)
		return q->open_error;
	/* Packets put back during the bind. */
	return ag_nfq_flush(q);
}

struct ag_nfq *ag_nfq_open(const struct ag_nfq_config *cfg)
{
	struct ag_nfq *q = NULL;
	uint32_t range, maxlen;
	int fd, ret = -ENOMEM;

	if (!cfg || cfg->copy_range > AG_NFQ_COPY_FULL || cfg->rcvbuf < 0 ||
	    (cfg->flags & ~(unsigned)(AG_NFQ_F_UID_GID | AG_NFQ_F_GSO |
				      AG_NFQ_F_FAIL_OPEN))) {
		errno = EINVAL;
		return NULL;
	}
	range = cfg->copy_range ? cfg->copy_range : AG_NFQ_COPY_HEADERS;
	if (range > NFQ_MAX_COPY_RANGE)
		range = NFQ_MAX_COPY_RANGE;
	maxlen = cfg->queue_maxlen ? cfg->queue_maxlen : AG_NFQ_DEFAULT_MAXLEN;

	q = calloc(1, sizeof(*q));
	if (!q)
		goto fail;
	q->queue_num = cfg->queue_num;
	q->rx_size = MNL_ALIGN(range + NFQ_RX_OVERHEAD);
	q->rx_n = NFQ_RX_BYTES / q->rx_size;
	if (q->rx_n < 1)
		q->rx_n = 1;
	if (q->rx_n > NFQ_RX_SLOTS)
		q->rx_n = NFQ_RX_SLOTS;
	q->rx = malloc(q->rx_n * q->rx_size);
	q->batch_buf = malloc(2 * NFQ_BATCH_LIMIT);
	if (!q->rx || !q->batch_buf)
		goto fail;
	q->batch = mnl_nlmsg_batch_start(q->batch_buf, NFQ_BATCH_LIMIT);
	if (!q->batch)
		goto fail;

	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q->nl) {
		ret = -errno;
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		ret = -errno;
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	fd = mnl_socket_get_fd(q->nl);
	ret = nfq_set_rcvbuf(fd, cfg->rcvbuf ? cfg->rcvbuf : AG_NFQ_DEFAULT_RCVBUF);
	if (ret)
		goto fail;
	ret = nfq_configure(q, cfg, range, maxlen);
	if (ret)
		goto fail;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		ret = -errno;
		goto fail;
	}
	return q;
fail:
	ag_nfq_close(q);
	errno = -ret;
	return NULL;
}

void ag_nfq_close(struct ag_nfq *q)
{
	if (!q)
		return;
	/* Closing the socket unbinds the queue: no unbind message needed. */
	if (q->nl)
		mnl_socket_close(q->nl);
	if (q->batch)
		mnl_nlmsg_batch_stop(q->batch);
	free(q->batch_buf);
	free(q->rx);
	free(q);
}

/* Our line of /proc/net/netfilter/nfnetlink_queue: queue number, port id,
 * waiting, copy mode, copy range, queue dropped, user dropped, last id. */
static void nfq_read_kernel_stats(const struct ag_nfq *q, struct ag_nfq_stats *st)
{
	unsigned num, portid, waiting, mode, range, qdrop, udrop, idseq;
	char line[256];
	FILE *f = fopen(NFQ_PROC_PATH, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %u %u %u %u %u %u %u", &num, &portid, &waiting,
			   &mode, &range, &qdrop, &udrop, &idseq) != 8)
			continue;
		if (num != q->queue_num || portid != q->portid)
			continue;
		st->kernel_valid = true;
		st->kernel_waiting = waiting;
		st->kernel_queue_dropped = qdrop;
		st->kernel_user_dropped = udrop;
		break;
	}
	fclose(f);
}

void ag_nfq_stats(const struct ag_nfq *q, struct ag_nfq_stats *st)
{
	*st = q->st;
	st->kernel_valid = false;
	nfq_read_kernel_stats(q, st);
}
