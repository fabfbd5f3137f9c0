/*
 * nfq_tcp — a TCP server and client for the NFQUEUE tests.
 *
 *   nfq_tcp listen ADDR PORT
 *       accept connections forever; read each to EOF, answer with the
 *       number of bytes read, close.  Prints "ready" once listening.
 *   nfq_tcp connect [-T TIMEOUT_MS] [-n BYTES] ADDR PORT
 *       connect (within TIMEOUT_MS, default 3000), send BYTES (default
 *       100000), read the answer; exit 0 when it matches, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct addrinfo *resolve(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	int err = getaddrinfo(host, port, &hints, &ai);

	if (err) {
		fprintf(stderr, "nfq_tcp: \"%s\" \"%s\": %s\n", host, port, gai_strerror(err));
		exit(2);
	}
	return ai;
}

static int serve(const char *host, const char *port)
{
	struct addrinfo *ai = resolve(host, port);
	int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 64) == -1) {
		perror("nfq_tcp: listen");
		return 1;
	}
	freeaddrinfo(ai);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		char buf[65536], reply[32];
		unsigned long total = 0;
		ssize_t n;
		int c = accept(fd, NULL, NULL);

		if (c == -1)
			continue;
		while ((n = read(c, buf, sizeof(buf))) > 0)
			total += (unsigned long)n;
		n = snprintf(reply, sizeof(reply), "%lu\n", total);
		if (write(c, reply, (size_t)n) != n)
			perror("nfq_tcp: write");
		close(c);
	}
}

static int client(int argc, char **argv)
{
	long timeout = 3000, bytes = 100000, sent = 0;
	struct addrinfo *ai;
	struct pollfd p;
	char buf[65536], reply[32] = "";
	int opt, fd, err = 0;
	socklen_t len = sizeof(err);
	ssize_t n;
	size_t got = 0;

	optind = 2;
	while ((opt = getopt(argc, argv, "T:n:")) != -1) {
		switch (opt) {
		case 'T': timeout = strtol(optarg, NULL, 0); break;
		case 'n': bytes = strtol(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (argc - optind != 2)
		return 2;
	ai = resolve(argv[optind], argv[optind + 1]);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return 1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno != EINPROGRESS) {
		perror("nfq_tcp: connect");
		return 1;
	}
	freeaddrinfo(ai);
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, (int)timeout) != 1) {
		fprintf(stderr, "nfq_tcp: connect to %s port %s: timed out after %ld ms\n",
			argv[optind], argv[optind + 1], timeout);
		return 1;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		fprintf(stderr, "nfq_tcp: connect: %s\n", strerror(err));
		return 1;
	}
	fcntl(fd, F_SETFL, 0);
	/* Blocking from here on, but never for ever. */
	{
		struct timeval tv = { .tv_sec = timeout / 1000, .tv_usec = timeout % 1000 * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	memset(buf, 'y', sizeof(buf));
	while (sent < bytes) {
		size_t chunk = (size_t)(bytes - sent) < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);

		n = write(fd, buf, chunk);
		if (n <= 0) {
			perror("nfq_tcp: write");
			return 1;
		}
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	if (strtol(reply, NULL, 10) != bytes) {
		fprintf(stderr, "nfq_tcp: server read \"%.*s\" bytes, sent %ld\n",
			(int)strcspn(reply, "\n"), reply, bytes);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "listen"))
		return serve(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "connect"))
		return client(argc, argv);
	fprintf(stderr, "usage: nfq_tcp listen ADDR PORT | connect [-T MS] [-n BYTES] ADDR PORT\n");
	return 2;
}
