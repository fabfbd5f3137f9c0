/*
 * attr_client — the process attribution tests name.  Tests copy it under
 * unique paths, so "which executable owns this flow" has one right answer.
 *
 *   attr_client connect ADDR PORT [hold]
 *       TCP connect; then print "SPORT PID EXE" in one write and exit (or,
 *       with hold, wait until the peer closes or stdin ends).
 *   attr_client listen tcp|udp ADDR PORT [dualstack|keep]
 *       bind (TCP: listen and accept/close forever); print "ready".  With
 *       keep, TCP connections are left open (until ATTR_KEEP_MAX, then the
 *       oldest is closed): the client then closes first and its port stays
 *       taken (FIN_WAIT2, TIME_WAIT), so no later client gets the same one.
 *   attr_client serve-once ADDR PORT REPORT
 *       accept one TCP connection, read until it ends and write how it
 *       ended to REPORT: "eof", "reset" (ECONNRESET) or "error ERRNO".
 *   attr_client sleep        wait until killed
 *   attr_client exit         exit at once
 *   attr_client linger MS    exit after MS milliseconds
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr_common.h"

static void report_self(int fd)
{
	struct sockaddr_storage l;
	socklen_t ll = sizeof(l);
	uint8_t flow[16];
	uint16_t port;
	int ipv;
	char exe[4096], line[4200];
	ssize_t n;

	if (getsockname(fd, (struct sockaddr *)&l, &ll) == -1)
		attr_die("getsockname: %s", strerror(errno));
	attr_sockaddr_flow(&l, flow, &port, &ipv);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		attr_die("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	n = snprintf(line, sizeof(line), "%u %d %s\n", port, (int)getpid(), exe);
	/* One write: lines of concurrent clients never interleave. */
	if (write(1, line, (size_t)n) != n)
		attr_die("write: %s", strerror(errno));
}

static int do_connect(const char *addr, uint16_t port, int hold)
{
	struct attr_addr a;
	int fd;

	attr_parse_addr(addr, port, &a);
	fd = socket(a.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		attr_die("socket: %s", strerror(errno));
	if (connect(fd, &a.u.sa, a.len) == -1)
		attr_die("connect %s:%u: %s", addr, port, strerror(errno));
	report_self(fd);
	if (hold) {
		struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };

		poll(pfd, 2, -1);
	}
	close(fd);
	return 0;
}

static int bound_socket(const char *proto, const char *addr, uint16_t port,
			int dualstack)
{
	struct attr_addr a;
	int one = 1, zero = 0, tcp = strcmp(proto, "tcp") == 0, fd;

	attr_parse_addr(addr, port, &a);
	fd = socket(a.sock_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC,
		    0);
	if (fd == -1)
		attr_die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a.sock_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			   dualstack ? &zero : &one, sizeof(int));
	if (bind(fd, &a.u.sa, a.len) == -1)
		attr_die("bind %s:%u: %s", addr, port, strerror(errno));
	if (tcp && listen(fd, 1024) == -1)
		attr_die("listen: %s", strerror(errno));
	return fd;
}

/* Connections a keeping listener holds open at most. */
#define ATTR_KEEP_MAX 512

static int do_listen(const char *proto, const char *addr, uint16_t port,
		     int dualstack, int keep)
{
	int fd = bound_socket(proto, addr, port, dualstack), c;
	int kept[ATTR_KEEP_MAX];
	unsigned nkept = 0;
	char buf[512];

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (strcmp(proto, "tcp") == 0) {
			c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (!keep) {
				close(c);
				continue;
			}
			if (nkept >= ATTR_KEEP_MAX)
				close(kept[nkept % ATTR_KEEP_MAX]);
			kept[nkept++ % ATTR_KEEP_MAX] = c;
		} else if (recv(fd, buf, sizeof(buf), 0) == -1 && errno != EINTR) {
			attr_die("recv: %s", strerror(errno));
		}
	}
}

static int do_serve_once(const char *addr, uint16_t port, const char *report)
{
	int fd = bound_socket("tcp", addr, port, 0), c;
	char buf[512];
	const char *how;
	char tmp[64];
	FILE *f;
	ssize_t n;

	printf("ready\n");
	fflush(stdout);
	c = accept(fd, NULL, NULL);
	if (c == -1)
		attr_die("accept: %s", strerror(errno));
	do
		n = read(c, buf, sizeof(buf));
	while (n > 0 || (n == -1 && errno == EINTR));
	if (n == 0) {
		how = "eof";
	} else if (errno == ECONNRESET) {
		how = "reset";
	} else {
		snprintf(tmp, sizeof(tmp), "error %d", errno);
		how = tmp;
	}
	f = fopen(report, "w");
	if (!f)
		attr_die("fopen %s: %s", report, strerror(errno));
	fprintf(f, "%s\n", how);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "connect") == 0)
		return do_connect(argv[2], (uint16_t)atoi(argv[3]),
				  argc > 4 && strcmp(argv[4], "hold") == 0);
	if (argc >= 5 && strcmp(argv[1], "listen") == 0)
		return do_listen(argv[2], argv[3], (uint16_t)atoi(argv[4]),
				 argc > 5 && strcmp(argv[5], "dualstack") == 0,
				 argc > 5 && strcmp(argv[5], "keep") == 0);
	if (argc == 5 && strcmp(argv[1], "serve-once") == 0)
		return do_serve_once(argv[2], (uint16_t)atoi(argv[3]), argv[4]);
	if (argc == 2 && strcmp(argv[1], "sleep") == 0) {
		for (;;)
			pause();
	}
	if (argc == 2 && strcmp(argv[1], "exit") == 0)
		return 0;
	if (argc == 3 && strcmp(argv[1], "linger") == 0) {
		usleep((useconds_t)atoi(argv[2]) * 1000u);
		return 0;
	}
	fprintf(stderr, "usage: attr_client connect|listen|serve-once|sleep|"
		"exit|linger ...\n");
	return 2;
}
