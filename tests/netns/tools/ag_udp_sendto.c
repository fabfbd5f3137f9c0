/*
 * ag_udp_sendto — one datagram from an unconnected UDP socket.
 *
 *   ag_udp_sendto [-p LOCAL_PORT] [-h HOLD_MS] ADDR PORT
 *
 * Makes a UDP socket, binds it to LOCAL_PORT (default: any), sends one
 * datagram to ADDR PORT with sendto() (the socket stays unconnected: it
 * matches a datagram from any peer), prints "sent", then keeps the socket
 * open HOLD_MS (default 0) before it exits.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	struct sockaddr_storage ss;
	long port = 0, hold = 0;
	int opt, fd, one = 1;

	while ((opt = getopt(argc, argv, "p:h:")) != -1) {
		if (opt == 'p')
			port = strtol(optarg, NULL, 10);
		else if (opt == 'h')
			hold = strtol(optarg, NULL, 10);
		else
			goto usage;
	}
	if (argc - optind != 2 || port < 0 || port > 65535 || hold < 0 ||
	    getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai))
		goto usage;
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd == -1) {
		perror("ag_udp_sendto: socket");
		return 1;
	}
	if (port) {
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)ai->ai_family;
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == -1) {
			perror("ag_udp_sendto: bind");
			return 1;
		}
	}
	if (sendto(fd, "ag", 2, 0, ai->ai_addr, ai->ai_addrlen) != 2) {
		perror("ag_udp_sendto: sendto");
		return 1;
	}
	printf("sent\n");
	fflush(stdout);
	if (hold) {
		struct timespec ts = { .tv_sec = hold / 1000, .tv_nsec = hold % 1000 * 1000000L };

		nanosleep(&ts, NULL);
	}
	close(fd);
	freeaddrinfo(ai);
	return 0;
usage:
	fprintf(stderr, "usage: ag_udp_sendto [-p LOCAL_PORT] [-h HOLD_MS] ADDR PORT\n");
	return 2;
}
