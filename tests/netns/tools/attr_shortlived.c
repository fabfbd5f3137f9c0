/*
 * attr_shortlived — attribute the first SYN of many short-lived clients
 * while it is held, the way the daemon will with NFQUEUE.
 *
 *   attr_shortlived CLIENT_NS SERVER_NS PORT COUNT TIMEOUT_S
 *
 * Without NFQUEUE (integration adds it), the hold is made of two parts the
 * test sets up: the server namespace drops the FIRST SYN of every
 * connection (so the client sits in connect(), SYN_SENT, until its
 * retransmission a second later, which gets through), and this probe sees
 * that first SYN on the server's interface (packet sockets see a packet
 * before netfilter drops it).  It then does what the daemon does with a
 * queued packet: ag_attrib_lookup() on the tuple parsed from it, with the
 * process cache fed by the connector, and prints "SPORT PID EXE WHY US" per
 * connection.  The client's own line (attr_client) says who it really is.
 *
 * Order of opening matters: the process cache in the namespace we start in
 * (the connector lives only in the initial one), sock_diag in the client's
 * namespace, the packet socket in the server's.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>

#include "attr_common.h"
#include "linux/attrib.h"

#define MAX_CONN 4096

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A first SYN (no ACK) to @port, as a tuple; 0 if it is one. */
static int parse_syn(const uint8_t *p, size_t n, uint16_t port,
		     struct ag_tuple *t)
{
	const struct iphdr *ip = (const void *)p;
	const struct tcphdr *th;
	size_t ihl;

	if (n < sizeof(*ip) || ip->version != 4 || ip->protocol != IPPROTO_TCP)
		return -1;
	ihl = (size_t)ip->ihl * 4;
	if (ihl < sizeof(*ip) || n < ihl + sizeof(*th))
		return -1;
	th = (const void *)(p + ihl);
	if (!th->syn || th->ack || ntohs(th->dest) != port)
		return -1;
	memset(t, 0, sizeof(*t));
	t->ip_version = 4;
	t->protocol = IPPROTO_TCP;
	memcpy(t->src.b, &ip->saddr, 4);
	memcpy(t->dst.b, &ip->daddr, 4);
	t->sport = ntohs(th->source);
	t->dport = port;
	return 0;
}

int main(int argc, char **argv)
{
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_attrib *a;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	static uint8_t seen[65536];
	static uint64_t times[MAX_CONN];
	uint64_t deadline;
	unsigned count, done = 0, named = 0;
	uint16_t port;
	int pfd;

	if (argc != 6)
		attr_die("usage: attr_shortlived CLIENT_NS SERVER_NS PORT COUNT "
			 "TIMEOUT_S");
	port = (uint16_t)atoi(argv[3]);
	count = (unsigned)atoi(argv[4]);
	if (count == 0 || count > MAX_CONN)
		attr_die("bad count \"%s\"", argv[4]);
	deadline = attr_now_ns() + (uint64_t)atoi(argv[5]) * 1000000000u;
	setvbuf(stdout, NULL, _IOLBF, 0);

	proc = ag_proc_open(NULL);
	if (!proc)
		attr_die("ag_proc_open: %s", strerror(errno));
	printf("# %s\n", ag_proc_mode(proc));
	attr_enter_netns(argv[1]);
	sd = ag_sockdiag_open();
	a = sd ? ag_attrib_new(sd, proc) : NULL;
	if (!a)
		attr_die("sock_diag: %s", strerror(errno));
	attr_enter_netns(argv[2]);
	pfd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		     htons(ETH_P_IP));
	if (pfd == -1)
		attr_die("packet socket: %s", strerror(errno));
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex("eth0");
	if (sll.sll_ifindex == 0 ||
	    bind(pfd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		attr_die("bind to eth0: %s", strerror(errno));
	printf("ready\n");

	while (done < count) {
		struct pollfd fds[2] = { { pfd, POLLIN, 0 },
					 { ag_proc_fd(proc), POLLIN, 0 } };
		uint8_t pkt[2048];
		ssize_t n;

		if (attr_now_ns() > deadline) {
			fprintf(stderr, "timeout: %u of %u connections seen\n",
				done, count);
			return 1;
		}
		poll(fds, fds[1].fd >= 0 ? 2 : 1, 100);
		/* Process events first: the daemon's loop does the same. */
		ag_proc_receive(proc);
		while ((n = recv(pfd, pkt, sizeof(pkt), 0)) > 0) {
			struct ag_tuple t;
			struct ag_attrib_result res;

			if (parse_syn(pkt, (size_t)n, port, &t) < 0 ||
			    seen[t.sport])
				continue;
			seen[t.sport] = 1;
			ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND,
					 AG_UID_UNKNOWN, &res);
			times[done++] = res.elapsed_ns;
			if (res.why == AG_ATTRIB_OK)
				named++;
			printf("%u %d %s %s %.1f\n", t.sport, (int)res.proc.pid,
			       res.proc.exe[0] ? res.proc.exe : "-",
			       ag_attrib_why_str(res.why),
			       res.elapsed_ns / 1000.0);
			if (done == count)
				break;
		}
	}
	qsort(times, done, sizeof(times[0]), cmp_u64);
	printf("# %u connections, %u named; lookup median %.1f us, p99 %.1f "
	       "us, max %.1f us\n", done, named, times[done / 2] / 1000.0,
	       times[done * 99 / 100] / 1000.0, times[done - 1] / 1000.0);
	{
		struct ag_proc_stats ps;

		ag_proc_get_stats(proc, &ps);
		printf("# owners found: %llu by inode cache, %llu at a guessed fd, "
		       "%llu among recent "
		       "processes, %llu by /proc walk; %llu fd links read; "
		       "%llu execs, %llu read too late\n",
		       (unsigned long long)ps.inode_hits,
		       (unsigned long long)ps.scan_found_guess,
		       (unsigned long long)ps.scan_found_recent,
		       (unsigned long long)ps.scan_found_walk,
		       (unsigned long long)ps.fds_read,
		       (unsigned long long)ps.ev_exec,
		       (unsigned long long)ps.exec_missed);
	}
	ag_attrib_free(a);
	ag_sockdiag_close(sd);
	ag_proc_close(proc);
	return 0;
}
