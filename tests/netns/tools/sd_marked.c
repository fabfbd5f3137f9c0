/*
 * sd_marked — TCP sockets with an SO_MARK, for the sock_diag dump tests.
 *
 *   sd_marked connect MARK ADDR PORT [COUNT]
 *       COUNT (default 1) connections, each with its own socket; prints the
 *       local port of each, one a line, then "ready", and holds them open
 *       until killed.
 *   sd_marked syn MARK ADDR PORT
 *       a connect() that does not wait for the handshake (the test drops
 *       the SYN: the socket stays in SYN_SENT); prints the local port, then
 *       "ready", and holds it.
 *   sd_marked listen MARK ADDR PORT
 *       a listener that never accepts; prints "ready" and holds it.
 *   sd_marked close MARK ADDR PORT
 *       connects, closes first (shutdown, then reads to the end), so that
 *       this end is left in TIME_WAIT; prints the local port and exits.
 *
 * MARK (any base strtoul() reads) goes to SO_MARK before bind/connect; 0
 * leaves it unset.  ADDR is numeric; "::ffff:a.b.c.d" makes a dual-stack
 * IPv6 socket carry an IPv4 flow.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "sd_marked: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct addrinfo *resolve(const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;

	if (getaddrinfo(addr, port, &hints, &ai)) {
		fprintf(stderr, "sd_marked: need a numeric ADDR and PORT\n");
		exit(2);
	}
	return ai;
}

static int marked_socket(const struct addrinfo *ai, uint32_t mark, int flags)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);

	if (fd == -1)
		die("socket");
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == -1)
		die("SO_MARK");
	return fd;
}

static unsigned local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		die("getsockname");
	return ntohs(ss.ss_family == AF_INET6
			     ? ((struct sockaddr_in6 *)&ss)->sin6_port
			     : ((struct sockaddr_in *)&ss)->sin_port);
}

static void hold(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct addrinfo *ai;
	uint32_t mark;
	const char *mode;
	int fd, count = 1;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: sd_marked connect|syn|listen|close MARK ADDR PORT [COUNT]\n");
		return 2;
	}
	mode = argv[1];
	mark = (uint32_t)strtoul(argv[2], NULL, 0);
	ai = resolve(argv[3], argv[4]);
	if (argc == 6)
		count = atoi(argv[5]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(mode, "connect") == 0) {
		for (int i = 0; i < count; i++) {
			fd = marked_socket(ai, mark, 0);
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
				die("connect");
			printf("%u\n", local_port(fd));
		}
		hold();
	}
	if (strcmp(mode, "syn") == 0) {
		fd = marked_socket(ai, mark, SOCK_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS)
			die("connect");
		printf("%u\n", local_port(fd));
		hold();
	}
	if (strcmp(mode, "listen") == 0) {
		int one = 1;

		fd = marked_socket(ai, mark, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			die("bind");
		if (listen(fd, 16) == -1)
			die("listen");
		hold();
	}
	if (strcmp(mode, "close") == 0) {
		char buf[512];
		ssize_t n;

		fd = marked_socket(ai, mark, 0);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			die("connect");
		printf("%u\n", local_port(fd));
		/* Our FIN goes first: this end, not the peer, keeps TIME_WAIT. */
		shutdown(fd, SHUT_WR);
		do
			n = read(fd, buf, sizeof(buf));
		while (n > 0 || (n == -1 && errno == EINTR));
		close(fd);
		freeaddrinfo(ai);
		return 0;
	}
	fprintf(stderr, "sd_marked: unknown mode %s\n", mode);
	freeaddrinfo(ai);
	return 2;
}
