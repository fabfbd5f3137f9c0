/*
 * ag_rawctl — speak raw lines to a UNIX stream socket, for tests that send
 * what a well-behaved client never would.
 *
 *   ag_rawctl SOCKET < lines
 *
 * Prints the server's hello, then sends each input line as it is (a line
 * may be huge or not JSON at all) and prints every reply line it gets back
 * within 1 s of the last one.  "@big N" on a line sends N bytes of 'x' and a
 * newline instead.
 *
 *   ag_rawctl -n COUNT SOCKET
 *
 * Connects COUNT times, one after the other, each time reading the first
 * line (the hello or a refusal) and closing; prints how many connections
 * got a line.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void drain(int fd, int ms)
{
	char buf[65536];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, ms) > 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0) {
			printf("#closed\n");
			return;
		}
		fwrite(buf, 1, (size_t)n, stdout);
		ms = 200;
	}
}

/* COUNT connections that each read their first line and hang up. */
static int connect_many(struct sockaddr_un *sa, unsigned long count)
{
	unsigned long answered = 0;
	char buf[4096];

	for (unsigned long i = 0; i < count; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd == -1 || connect(fd, (struct sockaddr *)sa, sizeof(*sa)) == -1) {
			perror("ag_rawctl");
			return 1;
		}
		if (read(fd, buf, sizeof(buf)) > 0)
			answered++;
		close(fd);
	}
	printf("%lu\n", answered);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (argc == 4 && !strcmp(argv[1], "-n") && strlen(argv[3]) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, argv[3]);
		return connect_many(&sa, strtoul(argv[2], NULL, 10));
	}
	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: ag_rawctl SOCKET < lines | ag_rawctl -n COUNT SOCKET\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	strcpy(sa.sun_path, argv[1]);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("ag_rawctl");
		return 1;
	}
	drain(fd, 1000);
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (!strncmp(line, "@big ", 5)) {
			size_t n = strtoul(line + 5, NULL, 10);
			char *big = malloc(n + 1);

			memset(big, 'x', n);
			big[n] = '\n';
			for (size_t off = 0; off < n + 1;) {
				ssize_t w = send(fd, big + off, n + 1 - off, MSG_NOSIGNAL);

				if (w <= 0)
					break;
				off += (size_t)w;
			}
			free(big);
		} else if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
			printf("#send failed\n");
			break;
		}
		drain(fd, 1000);
	}
	free(line);
	return 0;
}
