/*
 * nfq_udp_sink — count the UDP datagrams that arrive at ADDR PORT.
 *
 *   nfq_udp_sink [-e] [-i IDLE_MS] [-T SECONDS] ADDR PORT
 *
 * Prints "ready" once bound; stops IDLE_MS (default 1000) after the last
 * datagram, after SECONDS (default 60) in all, or on SIGTERM, and prints
 * "received N".  With -e it sends every datagram back (a stand-in for a
 * DNS server when PORT is 53).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct sigaction sa = { .sa_handler = on_signal };
	struct addrinfo *ai;
	long idle = 1000, total = 60, start, last = 0;
	unsigned long received = 0;
	int opt, fd, err, rcvbuf = 32 << 20, echo = 0;
	char buf[65536];

	while ((opt = getopt(argc, argv, "ei:T:")) != -1) {
		switch (opt) {
		case 'e': echo = 1; break;
		case 'i': idle = strtol(optarg, NULL, 0); break;
		case 'T': total = strtol(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	err = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (err) {
		fprintf(stderr, "nfq_udp_sink: \"%s\" \"%s\": %s\n", argv[optind],
			argv[optind + 1], gai_strerror(err));
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		perror("nfq_udp_sink: socket/bind");
		return 1;
	}
	freeaddrinfo(ai);
	/* A deep buffer: the test counts what the network delivered, not
	 * what a slow reader lost. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	printf("ready\n");
	fflush(stdout);
	start = now_ms();
	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long t = now_ms();

		if (t - start >= total * 1000 || (received && t - last >= idle))
			break;
		if (poll(&p, 1, 50) <= 0)
			continue;
		for (;;) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &flen);

			if (n < 0)
				break;
			received++;
			if (echo && sendto(fd, buf, (size_t)n, 0,
					   (struct sockaddr *)&from, flen) == -1)
				perror("nfq_udp_sink: echo");
		}
		last = now_ms();
	}
	printf("received %lu\n", received);
	return 0;
usage:
	fprintf(stderr, "usage: nfq_udp_sink [-e] [-i IDLE_MS] [-T SECONDS] ADDR PORT\n");
	return 2;
}
