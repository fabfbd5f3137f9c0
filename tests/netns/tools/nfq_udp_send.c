/*
 * nfq_udp_send — send COUNT UDP datagrams to ADDR PORT from one socket (one
 * flow), paced at RATE per second, for the NFQUEUE tests.
 *
 *   nfq_udp_send [-c COUNT] [-r RATE] [-w MS] [-m MARK] [-s SIZE] ADDR PORT
 *
 *   -c COUNT  datagrams (default 1)        -r RATE  per second, 0 = no pacing
 *   -w MS     pause after the first datagram, so the flow's conntrack entry
 *             is confirmed before the rest go (see test_nfq.sh)
 *   -m MARK   SO_MARK on the socket        -s SIZE  payload bytes (default 64)
 *   -e        wait up to 1 s for each datagram to come back (nfq_udp_sink -e)
 *
 * Prints "sent N failed M" (and "replies R" with -e); exits 0 when every
 * send succeeded (and, with -e, every datagram came back).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	unsigned long count = 1, sent = 0, failed = 0, rate = 0, pause_ms = 0, mark = 0;
	unsigned long replies = 0;
	int echo = 0;
	size_t size = 64;
	char buf[65536];
	struct timespec next;
	int opt, fd, err;

	while ((opt = getopt(argc, argv, "c:r:w:m:s:e")) != -1) {
		switch (opt) {
		case 'e': echo = 1; break;
		case 'c': count = strtoul(optarg, NULL, 0); break;
		case 'r': rate = strtoul(optarg, NULL, 0); break;
		case 'w': pause_ms = strtoul(optarg, NULL, 0); break;
		case 'm': mark = strtoul(optarg, NULL, 0); break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || size < 8 || size > sizeof(buf))
		goto usage;
	err = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (err) {
		fprintf(stderr, "nfq_udp_send: \"%s\" \"%s\": %s\n", argv[optind],
			argv[optind + 1], gai_strerror(err));
		return 2;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		perror("nfq_udp_send: socket/connect");
		return 1;
	}
	freeaddrinfo(ai);
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &(unsigned){ (unsigned)mark },
			       sizeof(unsigned)) == -1) {
		perror("nfq_udp_send: SO_MARK");
		return 1;
	}
	memset(buf, 'x', size);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long i = 0; i < count; i++) {
		memcpy(buf, &i, sizeof(i));
		if (send(fd, buf, size, 0) == -1) {
			failed++;
		} else {
			sent++;
			if (echo) {
				struct pollfd p = { .fd = fd, .events = POLLIN };

				if (poll(&p, 1, 1000) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
					replies++;
			}
		}
		if (i == 0 && pause_ms) {
			usleep((useconds_t)pause_ms * 1000);
			clock_gettime(CLOCK_MONOTONIC, &next);
		}
		if (rate) {
			add_ns(&next, (long)(1000000000UL / rate));
			/* Sleep in steps of at least 1 ms: timer slack makes
			 * shorter sleeps cost more than the datagram. */
			if ((i & 63) == 63)
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
	}
	printf("sent %lu failed %lu\n", sent, failed);
	if (echo)
		printf("replies %lu\n", replies);
	return failed || (echo && replies != sent) ? 1 : 0;
usage:
	fprintf(stderr, "usage: nfq_udp_send [-c COUNT] [-r RATE] [-w MS] [-m MARK] [-s SIZE] [-e] ADDR PORT\n");
	return 2;
}
