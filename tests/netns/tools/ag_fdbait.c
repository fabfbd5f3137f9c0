/*
 * ag_fdbait — teach a firewall where this process's sockets are, then put
 * a file there.
 *
 *   ag_fdbait [-n N] [-t TIMEOUT_MS] FILE ADDR PORT
 *
 * Connects N times (default 8) to ADDR PORT over TCP, one socket at a time
 * (each gets the same lowest free fd, which a daemon naming the process
 * learns), then opens FILE (it takes that fd) and connects once more (the
 * socket gets the next fd): a daemon that copies the fd it learnt now
 * copies FILE.  Prints "ok N" (connections made) or "error ..." and stays
 * until killed, FILE open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_once(const struct sockaddr_in *sa, int timeout_ms)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd = { .fd = s, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (s == -1)
		return -errno;
	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == -1 && errno != EINPROGRESS) {
		err = errno;
		close(s);
		return -err;
	}
	if (poll(&pfd, 1, timeout_ms) != 1) {
		close(s);
		return -ETIMEDOUT;
	}
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	close(s);
	return -err;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int n = 8, timeout = 3000, opt, made = 0, r, fd;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 't')
			timeout = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 3 || inet_pton(AF_INET, argv[optind + 1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: ag_fdbait [-n N] [-t TIMEOUT_MS] FILE ADDR PORT\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[optind + 2]));
	for (int i = 0; i < n; i++) {
		if ((r = connect_once(&sa, timeout)) < 0) {
			printf("error %s after %d\n", strerror(-r), made);
			return 1;
		}
		made++;
	}
	fd = open(argv[optind], O_RDONLY);
	if (fd == -1) {
		printf("error open %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	r = connect_once(&sa, timeout);
	made += r == 0;
	if (r == 0)
		printf("ok %d\n", made);
	else
		printf("error %s\n", strerror(-r));
	fflush(stdout);
	pause();
	return 0;
}
