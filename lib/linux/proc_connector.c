/*
 * proc_connector.c — the kernel's proc connector: subscribing, and receiving
 * its fork, exec, exit and uid events.
 */
#include <errno.h>
#include <poll.h>
#include <libmnl/libmnl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>

#include "base/clock.h"
#include "linux/proc_internal.h"

/*
 * The kernel's struct proc_input (6.6+, absent from older headers): a
 * LISTEN that says which events this socket wants.
 */
struct cn_proc_input {
	uint32_t mcast_op;
	uint32_t event_type;
};

static void on_proc_exec(struct ag_proc *p, pid_t pid, uint64_t now)
{
	uint32_t i = ag__proc_slot_of(p, pid);

	p->st.ev_exec++;
	if (i == NIL) {
		i = ag__proc_ent_alloc(p, pid);
	} else if (p->ents[i].list == L_EXITED) {
		ag__proc_ent_reset(p, i);
	}
	ag__proc_move_first(p, i);
	/* The new image is all that matters now. */
	p->ents[i].flags |= PF_NEED_READ;
	if (ag__proc_read_exec_exe(p, i) < 0) {
		struct pent *e = &p->ents[i];

		/* Read too late: the exiting process had no image left. */
		p->st.exec_missed++;
		ag__proc_pstr_put(e->exe);
		ag__proc_pstr_put(e->cmdline);
		e->exe = e->cmdline = NULL;
		e->flags = (e->flags & ~(AG_PROC_INHERITED | PF_NEED_READ | AG_PROC_EXE_ID |
					 PF_KEXE)) |
			   AG_PROC_NO_EXE;
		e->epoch = p->epoch;
	}
}

static void on_proc_uid(struct ag_proc *p, pid_t pid, uint32_t ruid,
			uint32_t euid)
{
	uint32_t i = ag__proc_slot_of(p, pid);

	p->st.ev_uid++;
	if (i != NIL && p->ents[i].list == L_LIVE) {
		p->ents[i].uid = ruid;
		p->ents[i].euid = euid;
	}
}

int ag__proc_event(struct ag_proc *p, uint32_t what, pid_t pid, pid_t ppid)
{
	uint64_t now = p->now();

	ag__proc_expire(p, now);
	switch (what) {
	case PROC_EVENT_FORK:
		ag__proc_on_fork(p, pid, ppid, now);
		return 0;
	case PROC_EVENT_EXEC:
		on_proc_exec(p, pid, now);
		return 0;
	case PROC_EVENT_EXIT:
		ag__proc_on_exit(p, pid, now);
		return 0;
	default:
		return -EINVAL;
	}
}

/* One connector message, already checked to come from the kernel. */
static int handle_cn(struct ag_proc *p, const struct nlmsghdr *nlh,
		     uint64_t now)
{
	struct cn_msg cn;
	struct proc_event ev;
	size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN, evlen;
	const char *payload = (const char *)NLMSG_DATA(nlh);

	if (plen < sizeof(cn))
		return -EBADMSG;
	memcpy(&cn, payload, sizeof(cn));
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return 0;
	if (cn.len > plen - sizeof(cn))
		return -EBADMSG;
	/* Copied out: the event sits 4 bytes off 8-byte alignment. */
	memset(&ev, 0, sizeof(ev));
	evlen = cn.len < sizeof(ev) ? cn.len : sizeof(ev);
	memcpy(&ev, payload + sizeof(cn), evlen);
	if (evlen < offsetof(struct proc_event, event_data))
		return -EBADMSG;
	evlen -= offsetof(struct proc_event, event_data);

	switch (ev.what) {
	case PROC_EVENT_FORK:
		if (evlen < sizeof(ev.event_data.fork))
			return -EBADMSG;
		/* A new thread is not a new process. */
		if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid)
			return 0;
		ag__proc_on_fork(p, ev.event_data.fork.child_tgid,
			ev.event_data.fork.parent_tgid, now);
		return 1;
	case PROC_EVENT_EXEC:
		if (evlen < sizeof(ev.event_data.exec))
			return -EBADMSG;
		on_proc_exec(p, ev.event_data.exec.process_tgid, now);
		return 1;
	case PROC_EVENT_EXIT:
		if (evlen < sizeof(ev.event_data.exit))
			return -EBADMSG;
		/* Only the whole thread group's end matters. */
		if (ev.event_data.exit.process_pid !=
		    ev.event_data.exit.process_tgid)
			return 0;
		ag__proc_on_exit(p, ev.event_data.exit.process_tgid, now);
		return 1;
	case PROC_EVENT_UID:
		if (evlen < sizeof(ev.event_data.id))
			return -EBADMSG;
		on_proc_uid(p, ev.event_data.id.process_tgid,
		       ev.event_data.id.r.ruid, ev.event_data.id.e.euid);
		return 1;
	default:
		return 0;
	}
}

/*
 * Receive one datagram.  Return: 1 handled, 0 nothing waiting, -errno.
 * @ack: when non-NULL, the acknowledgement (PROC_EVENT_NONE) of the request
 * sent with ack field *@ack (the kernel answers with *@ack + 1) stores its
 * error in *@ack_err and sets *@ack to 0.
 */
int ag__proc_recv_one(struct ag_proc *p, uint32_t *ack, int *ack_err,
		    int *events)
{
	char buf[1024] __attribute__((aligned(8)));
	struct sockaddr_nl from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	struct nlmsghdr *nlh;
	ssize_t n;
	int len;
	uint64_t now;

	n = recvmsg(p->nlfd, &msg, MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return errno == EINTR ? 1 : -errno;
	}
	/* Only the kernel speaks for the connector. */
	if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC))
		return 1;
	now = p->now();
	len = (int)n;
	for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_NOOP ||
		    nlh->nlmsg_type == NLMSG_ERROR ||
		    nlh->nlmsg_type == NLMSG_OVERRUN)
			continue;
		if (ack && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct cn_msg) +
						offsetof(struct proc_event,
							 event_data) + 4)) {
			struct cn_msg cn;
			struct proc_event ev;

			memcpy(&cn, NLMSG_DATA(nlh), sizeof(cn));
			memset(&ev, 0, sizeof(ev));
			memcpy(&ev, (char *)NLMSG_DATA(nlh) + sizeof(cn),
			       offsetof(struct proc_event, event_data) + 4);
			if (ev.what == PROC_EVENT_NONE && cn.ack == *ack + 1) {
				*ack_err = (int)ev.event_data.ack.err;
				*ack = 0;
				continue;
			}
		}
		if (handle_cn(p, nlh, now) > 0)
			(*events)++;
	}
	return 1;
}

int ag__proc_cn_send_op(struct ag_proc *p, uint32_t op, uint32_t filter,
		      bool with_filter, uint32_t ack)
{
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) +
			     sizeof(struct cn_proc_input))]
		__attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct cn_msg cn;
	struct cn_proc_input in = { .mcast_op = op, .event_type = filter };
	size_t dlen = with_filter ? sizeof(in) : sizeof(uint32_t);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(buf, 0, sizeof(buf));
	nlh->nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(cn) + dlen);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_pid = p->portid;
	memset(&cn, 0, sizeof(cn));
	cn.id.idx = CN_IDX_PROC;
	cn.id.val = CN_VAL_PROC;
	cn.ack = ack;
	cn.len = (uint16_t)dlen;
	memcpy(NLMSG_DATA(nlh), &cn, sizeof(cn));
	memcpy((char *)NLMSG_DATA(nlh) + sizeof(cn), &in, dlen);
	if (sendto(p->nlfd, buf, nlh->nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) == -1)
		return -errno;
	return 0;
}

/*
 * Subscribe.  The first LISTEN (all events) is acknowledged to every
 * listener; a filtered LISTEN is not (the kernel filters the ack out too),
 * so the plain one proves the subscription and the filtered one follows.
 * An old kernel ignores the filtered form and sends everything: fine.
 */
int ag__proc_cn_open(struct ag_proc *p)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = CN_IDX_PROC };
	socklen_t sl = sizeof(sa);
	int rcvbuf = (int)p->cfg.rcvbuf, events = 0, ack_err = -1, r;
	uint32_t ack = (uint32_t)ag_mono_ns() | 1;
	uint64_t deadline;

	p->nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 NETLINK_CONNECTOR);
	if (p->nlfd == -1)
		return -errno;
	if (setsockopt(p->nlfd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) == -1)
		(void)setsockopt(p->nlfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf));
	if (bind(p->nlfd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -errno;
	if (getsockname(p->nlfd, (struct sockaddr *)&sa, &sl) == -1)
		return -errno;
	p->portid = sa.nl_pid;

	r = ag__proc_cn_send_op(p, PROC_CN_MCAST_LISTEN, 0, false, ack);
	if (r < 0)
		return r;
	deadline = ag_mono_ns() + (uint64_t)PROC_ACK_TIMEOUT_MS * 1000000u;
	while (ack != 0) {
		struct pollfd pfd = { .fd = p->nlfd, .events = POLLIN };
		uint64_t now = ag_mono_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) == -1 &&
		    errno != EINTR)
			return -errno;
		r = ag__proc_recv_one(p, &ack, &ack_err, &events);
		if (r < 0 && r != -ENOBUFS)
			return r;
	}
	if (ack_err != 0)
		return -ack_err;
	return ag__proc_cn_send_op(p, PROC_CN_MCAST_LISTEN,
			  PROC_EVENT_FORK | PROC_EVENT_EXEC | PROC_EVENT_EXIT |
				  PROC_EVENT_UID,
			  true, 0);
}
