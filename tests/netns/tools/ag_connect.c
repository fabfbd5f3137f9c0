/*
 * ag_connect — a TCP client that says what happened and how long it took.
 *
 *   ag_connect [-t TIMEOUT_MS] [-s BYTES] [-w] [-l] [-p LOCAL_PORT] ADDR PORT
 *
 * Connects (IPv4 or IPv6, numeric; from LOCAL_PORT with -p), optionally sends BYTES and waits for the
 * peer's answer, and prints one line:
 *   ok MS [PORT]              connected (and exchanged) after MS milliseconds;
 *                             with -l, also the local port it connected from
 *   error ERRNAME MS          connect or exchange failed with errno ERRNAME
 *   timeout MS                nothing within TIMEOUT_MS (default 10000)
 * With -w, after connecting it waits for the connection to end and prints
 *   closed MS | reset MS | error ERRNAME MS
 * (for teardown tests: the peer sees a reset, the local side an error).
 * Exit status: 0 for ok/closed, 1 otherwise.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *errname(int e)
{
	switch (e) {
	case ECONNABORTED: return "ECONNABORTED";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case EPIPE: return "EPIPE";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	int timeout = 10000, opt, bytes = 0, wait_end = 0, show_port = 0, lport = 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	while ((opt = getopt(argc, argv, "t:s:wlp:")) != -1) {
		switch (opt) {
		case 'p': lport = atoi(optarg); break;
		case 'l': show_port = 1; break;
		case 't': timeout = atoi(optarg); break;
		case 's': bytes = atoi(optarg); break;
		case 'w': wait_end = 1; break;
		default:
			fprintf(stderr, "usage: ag_connect [-t MS] [-s BYTES] [-w] [-l] [-p LPORT] ADDR PORT\n");
			return 2;
		}
	}
	if (argc - optind != 2 || getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "ag_connect: need a numeric ADDR and PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	long long start = now_ms();

	if (fd == -1) {
		printf("error %s 0\n", errname(errno));
		return 1;
	}
	if (lport > 0) {
		struct sockaddr_storage la;

		memset(&la, 0, sizeof(la));
		la.ss_family = (sa_family_t)ai->ai_family;
		/* sin_port and sin6_port sit at the same offset */
		((struct sockaddr_in *)&la)->sin_port = htons((uint16_t)lport);
		if (bind(fd, (struct sockaddr *)&la, ai->ai_family == AF_INET6 ?
			 sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) == -1) {
			printf("error %s 0\n", errname(errno));
			return 1;
		}
	}
	int cr = connect(fd, ai->ai_addr, ai->ai_addrlen), ce = errno;

	freeaddrinfo(ai);
	if (cr == -1 && ce != EINPROGRESS) {
		printf("error %s %lld\n", errname(ce), now_ms() - start);
		return 1;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r = poll(&p, 1, timeout);

	if (r == 0) {
		printf("timeout %lld\n", now_ms() - start);
		return 1;
	}
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		printf("error %s %lld\n", errname(err), now_ms() - start);
		return 1;
	}
	if (bytes > 0) {
		char buf[4096];
		int left = bytes;

		memset(buf, 'x', sizeof(buf));
		while (left > 0) {
			ssize_t n = send(fd, buf, left < (int)sizeof(buf) ? (size_t)left : sizeof(buf),
					 MSG_NOSIGNAL);

			if (n < 0 && errno == EAGAIN) {
				struct pollfd w = { .fd = fd, .events = POLLOUT };

				if (poll(&w, 1, timeout) <= 0)
					break;
				continue;
			}
			if (n < 0) {
				printf("error %s %lld\n", errname(errno), now_ms() - start);
				return 1;
			}
			left -= (int)n;
		}
		shutdown(fd, SHUT_WR);
		struct pollfd rd = { .fd = fd, .events = POLLIN };

		if (poll(&rd, 1, timeout) <= 0) {
			printf("timeout %lld\n", now_ms() - start);
			return 1;
		}
		if (recv(fd, buf, sizeof(buf), 0) < 0) {
			printf("error %s %lld\n", errname(errno), now_ms() - start);
			return 1;
		}
	}
	if (!wait_end) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned port = 0;

		if (show_port && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			port = ntohs(ss.ss_family == AF_INET6
					     ? ((struct sockaddr_in6 *)&ss)->sin6_port
					     : ((struct sockaddr_in *)&ss)->sin_port);
		if (show_port)
			printf("ok %lld %u\n", now_ms() - start, port);
		else
			printf("ok %lld\n", now_ms() - start);
		return 0;
	}
	printf("connected %lld\n", now_ms() - start);
	start = now_ms();
	for (;;) {
		char buf[512];
		struct pollfd rd = { .fd = fd, .events = POLLIN };

		if (poll(&rd, 1, timeout) <= 0) {
			printf("timeout %lld\n", now_ms() - start);
			return 1;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0) {
			printf("closed %lld\n", now_ms() - start);
			return 0;
		}
		if (n < 0 && errno != EAGAIN) {
			printf("%s %lld\n", errno == ECONNRESET ? "reset" : "error", now_ms() - start);
			if (errno != ECONNRESET)
				printf("errno %s\n", errname(errno));
			return 1;
		}
	}
}
