/*
 * fp_client — one outbound flow for the fast-path tests, and what the
 * application saw of it.
 *
 *   fp_client [-u | -U] [-n COUNT] [-t TIMEOUT_MS] [-k] ADDR PORT
 *
 *   (default)  TCP: connect() within TIMEOUT_MS (default 3000)
 *   -u         UDP, unconnected: COUNT sendto() calls (default 3)
 *   -U         UDP, connected: connect(), then COUNT send() calls
 *
 * Prints one line: "ok US" or "error ERRNAME US", US being the time the
 * system calls took in microseconds (an EPERM from the fast path comes
 * at once; a dropped SYN would take the whole timeout).  Exit 0 for ok.
 * With -k (TCP), the line ends with "cookie=N", the socket's cookie
 * (SO_COOKIE), as sock_diag reports it.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static unsigned long long cookie;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case EINPROGRESS: return "EINPROGRESS";
	default: return strerror(e);
	}
}

/* A connect that gives up after timeout_ms instead of the kernel's minutes. */
static int tcp(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = 0;
	socklen_t len = sizeof(e);

	if (fd == -1)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		e = errno;
		goto out;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (poll(&p, 1, timeout_ms) != 1)
		e = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
out:
	len = sizeof(cookie);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == -1)
		cookie = 0;
	close(fd);
	return e;
}

static int udp(const struct addrinfo *ai, bool connected, int count)
{
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int e = 0;

	if (fd == -1)
		return errno;
	if (connected && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		e = errno;
		goto out;
	}
	for (int i = 0; i < count; i++) {
		char msg[16];
		ssize_t n;

		snprintf(msg, sizeof(msg), "%d", i);
		n = connected ? send(fd, msg, strlen(msg), 0)
			      : sendto(fd, msg, strlen(msg), 0, ai->ai_addr, ai->ai_addrlen);
		if (n == -1) {
			e = errno;
			break;
		}
	}
out:
	close(fd);
	return e;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int opt, mode = 0, count = 3, timeout = 3000, e;
	bool show_cookie = false;
	long long t0;

	while ((opt = getopt(argc, argv, "uUn:t:k")) != -1) {
		switch (opt) {
		case 'u': mode = 1; break;
		case 'U': mode = 2; break;
		case 'n': count = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		case 'k': show_cookie = true; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	hints.ai_socktype = mode ? SOCK_DGRAM : SOCK_STREAM;
	if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "fp_client: \"%s\" \"%s\" is not a numeric address and port\n",
			argv[optind], argv[optind + 1]);
		return 2;
	}
	t0 = now_us();
	e = mode ? udp(ai, mode == 2, count) : tcp(ai, timeout);
	t0 = now_us() - t0;
	freeaddrinfo(ai);
	if (e)
		printf("error %s %lld", errname(e), t0);
	else
		printf("ok %lld", t0);
	if (show_cookie)
		printf(" cookie=%llu", cookie);
	printf("\n");
	return e ? 1 : 0;
usage:
	fprintf(stderr, "usage: fp_client [-u | -U] [-n COUNT] [-t TIMEOUT_MS] [-k] ADDR PORT\n");
	return 2;
}
