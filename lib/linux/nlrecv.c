/*
 * nlrecv.c — one datagram from the kernel on a netlink socket.  Callers
 * connect their sockets to the kernel, so another sender should never get
 * through; checking the sender anyway costs nothing and keeps a forged
 * reply out if one ever does.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include "linux/nlrecv.h"

ssize_t ag_nl_recv_kernel(int fd, void *buf, size_t len, bool *trunc, uint64_t *dropped)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { buf, len };
		struct msghdr msg = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t n = recvmsg(fd, &msg, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		if (from.nl_pid != 0) {
			if (dropped)
				(*dropped)++;
			continue;
		}
		*trunc = msg.msg_flags & MSG_TRUNC;
		return n;
	}
}
