/*
 * nfq_floor — the floor of the NFQUEUE mechanism, for bench/compare: bind
 * queue QUEUE and let every packet go at once, with NF_REPEAT and
 * mark | AUTH, so that under alegate's rules each flow is queued once.
 * One verdict per packet, no batching, no parsing beyond the packet id:
 * whatever alegated costs above this is alegated's own.
 *
 *   nfq_floor QUEUE        (stops on SIGINT/SIGTERM and prints "packets N")
 *
 * It talks to libmnl and libnetfilter_queue directly, not through
 * lib/linux/nfq, so the baseline does not move when that module does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "linux/fw.h"

static struct mnl_socket *nl;
static unsigned queue;
static unsigned long packets;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int on_packet(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	const struct nfqnl_msg_packet_hdr *ph;
	struct nlmsghdr *v;
	uint32_t mark = 0;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (attr[NFQA_MARK])
		mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	v = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);
	nfq_nlmsg_verdict_put(v, (int)ntohl(ph->packet_id), NF_REPEAT);
	nfq_nlmsg_verdict_put_mark(v, mark | AG_FW_MARK_AUTH);
	if (mnl_socket_sendto(nl, v, v->nlmsg_len) == -1)
		perror("nfq_floor: verdict");
	packets++;
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	size_t size = 0xffff + (MNL_SOCKET_BUFFER_SIZE / 2);
	char *buf = malloc(size), *end;
	struct nlmsghdr *nlh;
	unsigned long q;

	if (argc != 2 || (q = strtoul(argv[1], &end, 10), *end) || q > 65535) {
		fprintf(stderr, "usage: nfq_floor QUEUE\n");
		return 2;
	}
	queue = (unsigned)q;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!buf || !nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		perror("nfq_floor: netlink");
		return 1;
	}
	/* Bind and copy mode in one message: no packet is dropped between. */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 128);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, 65536);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) == -1) {
		perror("nfq_floor: bind");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, size);

		if (n == -1) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("nfq_floor: receive");
			return 1;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, mnl_socket_get_portid(nl), on_packet, NULL) < 0 &&
		    errno != EINTR) {
			fprintf(stderr, "nfq_floor: queue %u: %s\n", queue, strerror(errno));
			return 1;
		}
	}
	printf("packets %lu\n", packets);
	mnl_socket_close(nl);
	free(buf);
	return 0;
}
