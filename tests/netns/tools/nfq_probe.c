/*
 * nfq_probe — bind alegate's three queues (lib/linux/nfq) and let every
 * packet go the way the daemon will: connect and recv_accept packets with
 * NF_REPEAT and mark | AUTH (the flow is authorized, never queued again),
 * dns packets with NF_REPEAT and mark | INJECTED.  Counts what reached user
 * space and prints it on SIGTERM/SIGINT or after -t seconds:
 *
 *   connect N / recv_accept N / dns N / total N / enobufs N / verdict_errors N /
 *   kernel_dropped N (the kernel's count for our queues: full queue or socket)
 *
 * It prints "ready" once the queues are bound.
 *
 *   -q BASE   queue base (default 0)      -t SEC  stop after SEC seconds
 *   -A        NF_ACCEPT with mark | AUTH instead of NF_REPEAT (needs a save
 *             rule in a later hook: the "accept, save later" variant)
 *   -C        NF_REPEAT with mark = AUTH, clobbering the other bits (to show
 *             that the mark test can fail)
 *   -i        install the rules first (lib/linux/fw) and remove them at exit;
 *             with -o fail open, -l intercept loopback, -N no inbound
 *   -v        one line per packet on stderr (queue, mark, owner, length,
 *             destination address, protocol)
 *   -b BYTES  socket receive buffer      -P MS  sleep MS before reading
 *             (together: overflow the socket, to see ENOBUFS counted)
 *   -E        send one verdict for a packet id that does not exist, to see
 *             the kernel's refusal counted as a verdict error
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <linux/netfilter.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "linux/fw.h"
#include "linux/nfq.h"

static volatile sig_atomic_t stop;

struct probe {
	enum { MODE_REPEAT, MODE_ACCEPT, MODE_CLOBBER } mode;
	bool verbose;
	struct ag_nfq *q[AG_FW_NQUEUES];
	unsigned long count[AG_FW_NQUEUES];
	unsigned cur;	/* the queue being read */
};

static const char *const qnames[AG_FW_NQUEUES] = { "connect", "recv_accept", "dns" };

static void on_signal(int sig)
{
	stop = 1;
}

/* The packet's destination address, for -v. */
static void destination(const struct ag_nfq_packet *p, char *buf, size_t len)
{
	const uint8_t *d = p->payload;

	snprintf(buf, len, "?");
	if (d && p->caplen >= 20 && (d[0] >> 4) == 4)
		inet_ntop(AF_INET, d + 16, buf, (socklen_t)len);
	else if (d && p->caplen >= 40 && (d[0] >> 4) == 6)
		inet_ntop(AF_INET6, d + 24, buf, (socklen_t)len);
}

/* Protocol and TCP flags of the packet, for -v. */
static void describe(const struct ag_nfq_packet *p, char *buf, size_t len)
{
	const uint8_t *d = p->payload;
	unsigned proto = 0, l4 = 0;

	snprintf(buf, len, "?");
	if (!d || p->caplen < 1)
		return;
	if ((d[0] >> 4) == 4 && p->caplen >= 20) {
		proto = d[9];
		l4 = (d[0] & 0xfu) * 4u;
	} else if ((d[0] >> 4) == 6 && p->caplen >= 40) {
		proto = d[6];
		l4 = 40;
	}
	if (proto == IPPROTO_TCP && p->caplen >= l4 + 14) {
		uint8_t f = d[l4 + 13];

		snprintf(buf, len, "tcp flags=%s%s%s%s", f & 0x02 ? "S" : "",
			 f & 0x10 ? "A" : "", f & 0x01 ? "F" : "", f & 0x04 ? "R" : "");
	} else {
		snprintf(buf, len, "proto=%u", proto);
	}
}

static void on_packet(const struct ag_nfq_packet *p, void *arg)
{
	struct probe *pr = arg;
	unsigned which = pr->cur;
	uint32_t mark;
	int verdict = AG_NFQ_REPEAT, ret;

	pr->count[which]++;
	if (which == AG_FW_Q_DNS) {
		/* a query goes on down the chain; a reply is let through */
		mark = p->mark | (p->hook == NF_INET_LOCAL_OUT ? AG_FW_MARK_DNSQ
							       : AG_FW_MARK_INJECTED);
	} else if (pr->mode == MODE_CLOBBER) {
		mark = AG_FW_MARK_AUTH;
	} else {
		mark = p->mark | AG_FW_MARK_AUTH;
		if (pr->mode == MODE_ACCEPT)
			verdict = AG_NFQ_ACCEPT;
	}
	if (pr->verbose) {
		char what[64], dst[INET6_ADDRSTRLEN];

		describe(p, what, sizeof(what));
		destination(p, dst, sizeof(dst));
		fprintf(stderr, "nfq_probe: %s id=%u mark=0x%x uid=%s%u len=%u dst=%s %s\n",
			qnames[which], p->id, p->mark, p->has_uid ? "" : "none/",
			p->uid, p->len, dst, what);
	}
	ret = ag_nfq_verdict(pr->q[which], p->id, verdict, mark);
	if (ret)
		fprintf(stderr, "nfq_probe: verdict for packet %u: %s\n", p->id,
			strerror(-ret));
}

int main(int argc, char **argv)
{
	struct ag_fw_config fw = { .intercept_inbound = true };
	struct probe pr = { .mode = MODE_REPEAT };
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec start, now;
	char err[AG_FW_ERR_MAX];
	enum ag_fw_backend used = AG_FW_BACKEND_AUTO;
	bool install = false, bogus = false;
	int rcvbuf = 0, pause_ms = 0;
	double limit = 0;
	int opt, ret = 1;
	long base = 0;

	while ((opt = getopt(argc, argv, "q:t:ACiolNvb:P:E")) != -1) {
		switch (opt) {
		case 'b':
			rcvbuf = atoi(optarg);
			break;
		case 'P':
			pause_ms = atoi(optarg);
			break;
		case 'E':
			bogus = true;
			break;
		case 'q':
			base = strtol(optarg, NULL, 10);
			break;
		case 't':
			limit = strtod(optarg, NULL);
			break;
		case 'A':
			pr.mode = MODE_ACCEPT;
			break;
		case 'C':
			pr.mode = MODE_CLOBBER;
			break;
		case 'i':
			install = true;
			break;
		case 'o':
			fw.fail_mode = AG_FW_FAIL_OPEN;
			break;
		case 'l':
			fw.intercept_loopback = true;
			break;
		case 'N':
			fw.intercept_inbound = false;
			break;
		case 'v':
			pr.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: nfq_probe [-q BASE] [-t SEC] [-A|-C] "
				"[-i [-o] [-l] [-N]] [-v] [-b BYTES] [-P MS] [-E]\n");
			return 2;
		}
	}
	if (base < 0 || base > 65533) {
		fprintf(stderr, "nfq_probe: bad queue base %ld\n", base);
		return 2;
	}
	fw.queue_base = (uint16_t)base;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	for (unsigned i = 0; i < AG_FW_NQUEUES; i++) {
		struct ag_nfq_config c = {
			.queue_num = (uint16_t)(base + i),
			.copy_range = i == AG_FW_Q_DNS ? AG_NFQ_COPY_FULL : AG_NFQ_COPY_HEADERS,
			.flags = AG_NFQ_F_UID_GID | AG_NFQ_F_GSO,
			.rcvbuf = rcvbuf,
		};

		pr.q[i] = ag_nfq_open(&c);
		if (!pr.q[i]) {
			fprintf(stderr, "nfq_probe: queue %ld: %s\n", base + i,
				strerror(errno));
			goto out;
		}
	}
	if (install && ag_fw_install(&fw, &used, err, sizeof(err))) {
		fprintf(stderr, "nfq_probe: %s\n", err);
		install = false;
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	if (bogus && (ag_nfq_verdict(pr.q[AG_FW_Q_CONNECT], 0x7ffffff0u, AG_NFQ_ACCEPT,
				     AG_NFQ_MARK_KEEP) || ag_nfq_flush(pr.q[AG_FW_Q_CONNECT]))) {
		perror("nfq_probe: bogus verdict");
		goto out;
	}
	if (pause_ms)
		usleep((useconds_t)pause_ms * 1000);

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!stop) {
		struct pollfd p[AG_FW_NQUEUES];

		if (limit > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((double)(now.tv_sec - start.tv_sec) +
			    (double)(now.tv_nsec - start.tv_nsec) / 1e9 >= limit)
				break;
		}
		for (unsigned i = 0; i < AG_FW_NQUEUES; i++)
			p[i] = (struct pollfd){ .fd = ag_nfq_fd(pr.q[i]), .events = POLLIN };
		if (poll(p, AG_FW_NQUEUES, 100) == -1 && errno != EINTR) {
			perror("nfq_probe: poll");
			goto out;
		}
		for (unsigned i = 0; i < AG_FW_NQUEUES; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			pr.cur = i;
			if (ag_nfq_receive(pr.q[i], on_packet, &pr, 64) < 0 ||
			    ag_nfq_flush(pr.q[i])) {
				perror("nfq_probe: receive");
				goto out;
			}
		}
	}
	ret = 0;
out:
	if (install && ag_fw_remove(used, err, sizeof(err)))
		fprintf(stderr, "nfq_probe: %s\n", err);
	{
		unsigned long total = 0, enobufs = 0, verr = 0, kdrop = 0;

		for (unsigned i = 0; i < AG_FW_NQUEUES; i++) {
			struct ag_nfq_stats st;

			printf("%s %lu\n", qnames[i], pr.count[i]);
			total += pr.count[i];
			if (!pr.q[i])
				continue;
			ag_nfq_stats(pr.q[i], &st);
			enobufs += st.enobufs;
			verr += st.verdict_errors;
			if (st.kernel_valid)
				kdrop += st.kernel_user_dropped + st.kernel_queue_dropped;
		}
		printf("total %lu\nenobufs %lu\nverdict_errors %lu\nkernel_dropped %lu\n",
		       total, enobufs, verr, kdrop);
	}
	for (unsigned i = 0; i < AG_FW_NQUEUES; i++)
		ag_nfq_close(pr.q[i]);
	return ret;
}
