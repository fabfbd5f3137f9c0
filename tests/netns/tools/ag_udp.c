/*
 * ag_udp — numbered UDP datagrams from one socket (one flow).
 *
 *   ag_udp [-c COUNT] [-g GAP_MS] [-r RATE] [-w MS] [-p LOCAL_PORT] [-e] [-P PORT2] ADDR PORT
 *
 * Sends COUNT (default 1) datagrams whose first 4 bytes are their sequence
 * number, GAP_MS apart (default 0) or at RATE per second, from one
 * connected socket, then prints "sent N".  -w pauses MS after the first
 * datagram: what is sent before the flow's first datagram was decided is
 * pended data (S9), so a test of the decided flow waits for the decision.
 * -p binds the socket to LOCAL_PORT first (SO_REUSEADDR).  -e waits (up to
 * a second) for each datagram to come back (ag_serve udp -e) before the
 * next, and prints "sent N echoed M".  -P connects the same socket again,
 * to PORT2 of ADDR, once the COUNT datagrams are sent, and sends COUNT more
 * (one socket, two peers; N and M count both).
 */
#include <poll.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = 1, gap = 0, rate = 0, sent = 0, pause = 0, lport = 0, echo = -1, port2 = 0;
	int opt;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	while ((opt = getopt(argc, argv, "c:g:r:w:p:eP:")) != -1) {
		switch (opt) {
		case 'p': lport = atol(optarg); break;
		case 'e': echo = 0; break;
		case 'P': port2 = atol(optarg); break;
		case 'w': pause = atol(optarg); break;
		case 'c': count = atol(optarg); break;
		case 'g': gap = atol(optarg); break;
		case 'r': rate = atol(optarg); break;
		default:
			fprintf(stderr, "usage: ag_udp [-c COUNT] [-g GAP_MS] [-r RATE] ADDR PORT\n");
			return 2;
		}
	}
	if (argc - optind != 2 || getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "ag_udp: need a numeric ADDR and PORT\n");
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_DGRAM, 0), one = 1;

	if (fd != -1 && lport) {
		struct sockaddr_storage ss;
		socklen_t sl = ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);

		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)ai->ai_family;
		/* the port sits at the same offset in sockaddr_in and _in6 */
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)lport);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, sl) == -1) {
			perror("ag_udp: bind");
			return 1;
		}
	}
	if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		perror("ag_udp");
		return 1;
	}
	struct sockaddr_storage peer2;
	socklen_t peer2_len = ai->ai_addrlen;

	memcpy(&peer2, ai->ai_addr, ai->ai_addrlen);
	/* the port sits at the same offset in sockaddr_in and _in6 */
	((struct sockaddr_in *)&peer2)->sin_port = htons((uint16_t)port2);
	freeaddrinfo(ai);
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < (port2 ? 2 * count : count); i++) {
		if (port2 && i == count && connect(fd, (struct sockaddr *)&peer2, peer2_len) == -1) {
			perror("ag_udp: connect to PORT2");
			return 1;
		}
		unsigned char buf[64];

		memset(buf, 0, sizeof(buf));
		buf[0] = (unsigned char)(i >> 24);
		buf[1] = (unsigned char)(i >> 16);
		buf[2] = (unsigned char)(i >> 8);
		buf[3] = (unsigned char)i;
		if (send(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf))
			sent++;
		if (echo >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			unsigned char back[64];

			if (poll(&p, 1, 1000) == 1 && recv(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back))
				echo++;
		}
		if (i == 0 && pause) {
			usleep((useconds_t)pause * 1000);
			clock_gettime(CLOCK_MONOTONIC, &t0); /* pace the rest from here */
		}
		if (gap)
			usleep((useconds_t)gap * 1000);
		if (rate) {
			/* pace against the start, not the previous send */
			struct timespec now;
			double due = (double)(i + 1) / (double)rate;

			for (;;) {
				clock_gettime(CLOCK_MONOTONIC, &now);
				double el = (double)(now.tv_sec - t0.tv_sec) +
					    (double)(now.tv_nsec - t0.tv_nsec) / 1e9;

				if (el >= due)
					break;
				if (due - el > 0.0002)
					usleep(100);
			}
		}
	}
	if (echo >= 0)
		printf("sent %ld echoed %ld\n", sent, echo);
	else
		printf("sent %ld\n", sent);
	if (port2)
		count *= 2;
	return sent == count && (echo < 0 || echo == count) ? 0 : 1;
}
