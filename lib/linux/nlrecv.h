/*
 * nlrecv.h — the receive loop alegate's netlink clients share (sock_diag,
 * ctnetlink, nftables): one datagram, from the kernel only.
 */
#ifndef ALEGATE_LINUX_NLRECV_H
#define ALEGATE_LINUX_NLRECV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * ag_nl_recv_kernel() - read one datagram sent by the kernel (port id 0).
 * @fd:      a netlink socket, with SO_RCVTIMEO set if the caller must not
 *           wait forever
 * @buf:     where it goes, @len bytes
 * @trunc:   set to whether the datagram was longer than @len (cut)
 * @dropped: counts datagrams from any other sender, which are skipped; may
 *           be NULL
 *
 * Interrupted reads are retried.
 * Return: the datagram's length; -ETIMEDOUT when the receive timeout
 * passed (or, on a nonblocking socket, nothing is queued); another -errno.
 */
ssize_t ag_nl_recv_kernel(int fd, void *buf, size_t len, bool *trunc, uint64_t *dropped);

#endif
