/*
 * ag_serve — the server side of the daemon tests.
 *
 *   ag_serve tcp ADDR PORT
 *       Accept connections; answer each with the number of bytes it sent
 *       once it shuts down its side; keep idle connections open.  Prints
 *       "ready", then one line per connection end: "closed N" or "reset N"
 *       (N = connections ended so far).
 *   ag_serve mptcp ADDR PORT
 *       The same over MPTCP (IPPROTO_MPTCP): what subflows join is up to
 *       the namespace's `ip mptcp` settings.
 *   ag_serve udp [-i IDLE_MS] [-e] ADDR PORT
 *       Receive numbered datagrams (ag_udp send); prints "ready", and after
 *       IDLE_MS without data (default 2000) or on SIGTERM:
 *       "received N in_order YES|NO first F last L".  -e sends each
 *       datagram back to its sender.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 1024

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static volatile sig_atomic_t stop;

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static int bind_to(const char *addr, const char *port, int type, int proto)
{
	struct addrinfo hints = { .ai_socktype = type,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	int one = 1;

	if (getaddrinfo(addr, port, &hints, &ai)) {
		fprintf(stderr, "ag_serve: bad address %s %s\n", addr, port);
		exit(2);
	}
	int fd = socket(ai->ai_family, type, proto);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		perror("ag_serve: bind");
		exit(1);
	}
	freeaddrinfo(ai);
	return fd;
}

static int serve_tcp(const char *addr, const char *port, int proto)
{
	int lfd = bind_to(addr, port, SOCK_STREAM, proto), ended = 0;
	struct pollfd p[MAXC + 1];
	long bytes[MAXC + 1];
	int n = 1;

	listen(lfd, 256);
	printf("ready\n");
	p[0].fd = lfd;
	p[0].events = POLLIN;
	while (!stop) {
		if (poll(p, (nfds_t)n, 500) <= 0)
			continue;
		if ((p[0].revents & POLLIN) && n <= MAXC) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0) {
				p[n].fd = c;
				p[n].events = POLLIN;
				p[n].revents = 0;
				bytes[n++] = 0;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!p[i].revents)
				continue;
			char buf[8192];
			ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);

			if (r > 0) {
				bytes[i] += r;
				continue;
			}
			if (r == 0) {
				char out[32];
				int len = snprintf(out, sizeof(out), "%ld\n", bytes[i]);

				send(p[i].fd, out, (size_t)len, MSG_NOSIGNAL);
				printf("closed %d\n", ++ended);
			} else if (errno == ECONNRESET) {
				printf("reset %d\n", ++ended);
			} else {
				printf("error %d %s\n", ++ended, strerror(errno));
			}
			close(p[i].fd);
			p[i--] = p[--n];
			bytes[i + 1] = bytes[n];
		}
	}
	return 0;
}

static int serve_udp(const char *addr, const char *port, int idle, int echo)
{
	int fd = bind_to(addr, port, SOCK_DGRAM, 0);
	long received = 0;
	uint32_t first = 0, last = 0;
	int in_order = 1, rcv = 8 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	printf("ready\n");
	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, received ? idle : 60000) <= 0)
			break;
		unsigned char buf[2048];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (r < 4)
			continue;
		if (echo && sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl) != r)
			perror("ag_serve: echo");
		uint32_t seq = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			       (uint32_t)buf[2] << 8 | buf[3];

		if (received == 0)
			first = seq;
		else if (seq != last + 1)
			in_order = 0;
		last = seq;
		received++;
	}
	printf("received %ld in_order %s first %u last %u\n", received, in_order ? "YES" : "NO",
	       first, last);
	return 0;
}

int main(int argc, char **argv)
{
	int idle = 2000, i = 2, echo = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (argc >= 2 && !strcmp(argv[1], "udp") && argc - i > 2) {
		if (!strcmp(argv[i], "-i") && argc - i > 3) {
			idle = atoi(argv[i + 1]);
			i += 2;
		} else if (!strcmp(argv[i], "-e")) {
			echo = 1;
			i++;
		} else {
			break;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: ag_serve tcp|mptcp ADDR PORT | ag_serve udp [-i MS] [-e] ADDR PORT\n");
		return 2;
	}
	if (!strcmp(argv[1], "tcp"))
		return serve_tcp(argv[i], argv[i + 1], 0);
	if (!strcmp(argv[1], "mptcp"))
		return serve_tcp(argv[i], argv[i + 1], IPPROTO_MPTCP);
	return serve_udp(argv[i], argv[i + 1], idle, echo);
}
