/*
 * nfq.h — one NFQUEUE queue, spoken to through libmnl and the mnl-based
 * half of libnetfilter_queue.
 *
 * A queue delivers packets that a firewall rule sent to user space and takes
 * a verdict for each, later and in any order: a packet id without a verdict
 * is a pended packet, held by the kernel (up to queue_maxlen of them).
 * Verdicts are collected in a batch and sent by ag_nfq_flush() in one
 * sendmsg, so a burst of decisions costs one system call.
 *
 * Nothing here allocates per packet: one receive buffer and one verdict
 * batch are allocated by ag_nfq_open() and reused.  Not thread-safe: one
 * thread owns a queue.
 */
#ifndef ALEGATE_LINUX_NFQ_H
#define ALEGATE_LINUX_NFQ_H

#include <stdbool.h>
#include <stdint.h>

struct ag_nfq;

/* Copy the whole packet (the DNS queue needs the answer section). */
#define AG_NFQ_COPY_FULL	0xffffu
/* Enough for IPv6 with extension headers plus a TCP header with options. */
#define AG_NFQ_COPY_HEADERS	256u
/* Default queue length: sized for 10,000+ pended flows with room to spare. */
#define AG_NFQ_DEFAULT_MAXLEN	65536u
/* Default receive buffer: a burst of thousands of headers-only messages. */
#define AG_NFQ_DEFAULT_RCVBUF	(8 << 20)

enum ag_nfq_flags {
	/* Report uid/gid of the local socket (NFQA_CFG_F_UID_GID). */
	AG_NFQ_F_UID_GID = 1 << 0,
	/* Take GSO packets unsegmented (NFQA_CFG_F_GSO): cheaper, and the
	 * payload may then be bigger than the MTU with checksums not done. */
	AG_NFQ_F_GSO = 1 << 1,
	/* When the queue is full or the socket overflows, the kernel accepts
	 * the packet instead of dropping it (NFQA_CFG_F_FAIL_OPEN). */
	AG_NFQ_F_FAIL_OPEN = 1 << 2,
};

struct ag_nfq_config {
	uint16_t queue_num;
	/* Bytes of each packet copied to user space, 1..AG_NFQ_COPY_FULL;
	 * 0 means AG_NFQ_COPY_HEADERS. */
	uint32_t copy_range;
	/* Packets the kernel holds for us before it drops (or, with
	 * AG_NFQ_F_FAIL_OPEN, accepts) new ones; 0 means the default. */
	uint32_t queue_maxlen;
	/* Socket receive buffer in bytes (SO_RCVBUFFORCE, so it may exceed
	 * rmem_max); 0 means the default. */
	int rcvbuf;
	unsigned flags;	/* enum ag_nfq_flags */
};

/* Verdicts, with the kernel's NF_* values. */
enum ag_nfq_verdict {
	AG_NFQ_DROP = 0,
	AG_NFQ_ACCEPT = 1,
	/* Run the packet through the same hook again, from its first rule:
	 * with a mark bit set in the verdict, the rules can recognise it. */
	AG_NFQ_REPEAT = 4,
};

/* ag_nfq_verdict()'s mark argument: leave the packet mark as it is. */
#define AG_NFQ_MARK_KEEP	(-1LL)

/* One queued packet, as the kernel described it.  Valid only during the
 * callback: payload points into the queue's receive buffer. */
struct ag_nfq_packet {
	uint32_t id;		/* what ag_nfq_verdict() takes */
	uint16_t queue;
	uint16_t hw_protocol;	/* host order: ETH_P_IP, ETH_P_IPV6 */
	uint8_t hook;		/* NF_INET_LOCAL_OUT, ... */
	bool has_uid, has_gid;	/* only for packets of a local socket */
	uint32_t mark;
	uint32_t indev, outdev;	/* ifindex, 0 when absent */
	uint32_t uid, gid;
	uint32_t skbinfo;	/* NFQA_SKB_* bits (GSO, checksum not ready) */
	const uint8_t *payload;	/* the network header first; NULL if none */
	uint32_t caplen;	/* bytes at payload */
	uint32_t len;		/* original length; > caplen when truncated */
};

struct ag_nfq_stats {
	uint64_t packets;	/* packets delivered to the callback */
	uint64_t accepted, dropped, repeated;	/* verdicts sent */
	/* The socket overflowed: the kernel dropped packets (or accepted
	 * them with AG_NFQ_F_FAIL_OPEN) that never reached us. */
	uint64_t enobufs;
	/* Messages we could not use: truncated, malformed, or without id. */
	uint64_t parse_errors;
	/* Verdicts the kernel refused (unknown id: already decided, or the
	 * queue was rebound); last_verdict_error is the last one's -errno. */
	uint64_t verdict_errors;
	int last_verdict_error;
	/* The kernel's own counters from /proc/net/netfilter/nfnetlink_queue
	 * (valid when kernel_valid): packets waiting for a verdict now,
	 * dropped because the queue was full, dropped because the socket
	 * was full. */
	bool kernel_valid;
	uint32_t kernel_waiting, kernel_queue_dropped, kernel_user_dropped;
};

/*
 * ag_nfq_open — bind queue cfg->queue_num and configure it in one netlink
 * message (bind, copy mode, queue length, flags): a queue bound without a
 * copy mode drops packets, and in one message that state lasts only while
 * the kernel handles it, not for a round trip.
 * Returns the queue, or NULL with errno set: EINVAL for a bad config, EPERM
 * when not allowed (no CAP_NET_ADMIN, or the queue is bound by another
 * process), ETIMEDOUT when the kernel never acknowledged the bind, others
 * from socket(2)/netlink.  Free with ag_nfq_close().
 */
struct ag_nfq *ag_nfq_open(const struct ag_nfq_config *cfg);

/* ag_nfq_close — unbind and free; held packets are then dropped by the
 * kernel (or accepted, for rules with bypass).  Accepts NULL. */
void ag_nfq_close(struct ag_nfq *q);

/* ag_nfq_fd — the non-blocking netlink socket, to poll for POLLIN. */
int ag_nfq_fd(const struct ag_nfq *q);

typedef void (*ag_nfq_cb)(const struct ag_nfq_packet *pkt, void *arg);

/*
 * ag_nfq_receive — read what is readable now, up to max_batch packets
 * (0 means no limit), calling cb (not NULL) for each.  cb may call
 * ag_nfq_verdict() and ag_nfq_flush(); it must not call ag_nfq_receive()
 * or ag_nfq_close().
 * ENOBUFS (the kernel dropped packets) is counted and survived.
 * Returns the number of packets delivered, or -errno on a socket error
 * (-EINVAL for a NULL cb).
 */
int ag_nfq_receive(struct ag_nfq *q, ag_nfq_cb cb, void *arg, unsigned max_batch);

/*
 * ag_nfq_verdict — append a verdict for packet id to the batch; mark is the
 * packet's new mark (the whole 32 bits: pass old_mark | bit to keep the
 * other bits), or AG_NFQ_MARK_KEEP.  Sends the batch first when it is full.
 * Returns 0, -EINVAL for a bad verdict or mark, or the -errno of that send
 * (the verdict was then not recorded: try again).
 */
int ag_nfq_verdict(struct ag_nfq *q, uint32_t id, enum ag_nfq_verdict verdict,
		   long long mark);

/*
 * ag_nfq_flush — send the batched verdicts in one sendmsg.  Returns 0 (also
 * when there was nothing to send), or -errno; on error the batch is kept
 * and the next flush tries again.  The kernel reports a refused verdict
 * later, as an error message that ag_nfq_receive() counts.
 */
int ag_nfq_flush(struct ag_nfq *q);

/* ag_nfq_pending_verdicts — verdicts batched and not yet sent. */
unsigned ag_nfq_pending_verdicts(const struct ag_nfq *q);

/* ag_nfq_stats — copy the counters into *st, reading the kernel's counters
 * for this queue from /proc (not for the packet path). */
void ag_nfq_stats(const struct ag_nfq *q, struct ag_nfq_stats *st);

#endif
