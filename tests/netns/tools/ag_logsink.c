/*
 * ag_logsink — a datagram socket that stands in for journald's or syslog's.
 *
 *   ag_logsink PATH
 *
 * Binds an AF_UNIX datagram socket at PATH, prints "ready", then each
 * datagram as it comes, followed by a line "--".  Runs until killed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[65536];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: ag_logsink PATH\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("ag_logsink");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			continue;
		fwrite(buf, 1, (size_t)n, stdout);
		printf("\n--\n");
		fflush(stdout);
	}
}
