/*
 * fp_client — one outbound flow for the fast-path tests, and what the
 * application saw of it.
 *
 *   fp_client [-u | -U] [-n COUNT] [-t TIMEOUT_MS] [-k] [-M] [-R HOP] [-r HOP [-c]]
 *             [-w] [-H MS] [-a ADDR] ADDR PORT
 *
 *   (default)  TCP: connect() within TIMEOUT_MS (default 3000)
 *   -u         UDP, unconnected: COUNT sendto() calls (default 3)
 *   -U         UDP, connected: connect(), then COUNT send() calls
 *   -M         TCP over MPTCP (IPPROTO_MPTCP)
 *   -R HOP     TCP: before connect(), a source route through HOP: for an
 *              IPv6 peer a segment routing header (IPV6_RTHDR, type 4) with
 *              HOP as its one segment, for an IPv4 peer a loose source
 *              route (IP_OPTIONS, LSRR).  The SYN then leaves for HOP.
 *   -r HOP     TCP: the same on the connected socket, then one send()
 *   -c         set the -r route through the 32-bit system call (int 0x80,
 *              x86-64 only), which cgroup setsockopt programs do not see
 *   -w         TCP: print "waiting" once the socket exists (and -R is set)
 *              and wait for a line on stdin before connect()
 *   -H MS      TCP: keep the connection open MS ms before closing it
 *   -a ADDR    TCP: when the connect() failed, connect the same socket again
 *              to ADDR, same port; the line ends with "again=ok|ERRNAME
 *              mark=0xN", the socket's SO_MARK after that second connect()
 *
 * Prints one line: "ok US" or "error ERRNAME US", US being the time the
 * system calls took in microseconds (an EPERM from the fast path comes
 * at once; a dropped SYN would take the whole timeout).  Exit 0 for ok.
 * A refused -R gives "error ERRNAME US route".  With -r, the line ends
 * with "reroute=ok" or "reroute=ERRNAME" (setting the route), and
 * "sent=ok" or "sent=ERRNAME".  With -k (TCP), the line ends with
 * "cookie=N", the socket's cookie (SO_COOKIE), as sock_diag reports it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static unsigned long long cookie;
static const char *route_before, *route_after;
static bool wait_line;
static int hold_ms, proto;
static char reroute_res[64] = "", sent_res[64] = "";
static bool route_failed;
static const char *again_addr;
static char again_res[96] = "";

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

/* Is the peer an IPv4 address (also IPv4-mapped on an IPv6 socket)? */
static bool peer_is_v4(const struct addrinfo *ai)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ai->ai_addr;

	return ai->ai_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
}

static bool compat_call;

/* setsockopt(), through the 32-bit entry when -c asks for it. */
static int do_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
#if defined(__x86_64__)
	if (compat_call) {
		/* i386's setsockopt is system call 366; its pointers are 32-bit */
		void *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		long r;

		if (low == MAP_FAILED)
			return -1;
		memcpy(low, val, len);
		__asm__ __volatile__("int $0x80"
			     : "=a"(r)
			     : "a"(366L), "b"((long)fd), "c"((long)level), "d"((long)name),
			       "S"((long)(unsigned long)low), "D"((long)len)
			     : "memory", "r8", "r9", "r10", "r11");
		munmap(low, 4096);
		if (r < 0) {
			errno = (int)-r;
			return -1;
		}
		return 0;
	}
#endif
	return setsockopt(fd, level, name, val, len);
}

/* A source route through hop on fd: 0 or an errno. */
static int set_route(int fd, const struct addrinfo *ai, const char *hop)
{
	if (peer_is_v4(ai)) {
		/* NOP, then LSRR: type, length 7, pointer 4, the first hop; the
		 * kernel puts the destination behind it when it sends. */
		unsigned char opt[8] = { IPOPT_NOP, IPOPT_LSRR, 7, 4 };

		if (inet_pton(AF_INET, hop, opt + 4) != 1)
			return EINVAL;
		return do_setsockopt(fd, IPPROTO_IP, IP_OPTIONS, opt, sizeof(opt)) ? errno : 0;
	}
	/* RFC 8754: 8 bytes of header, then the segments, the last one
	 * (segments[0]) being the destination, which the kernel fills in. */
	struct {
		uint8_t nexthdr, hdrlen, type, segments_left;
		uint8_t last_entry, flags;
		uint16_t tag;
		struct in6_addr seg[2];
	} srh = { .hdrlen = 4, .type = 4, .segments_left = 1, .last_entry = 1 };

	if (inet_pton(AF_INET6, hop, &srh.seg[1]) != 1)
		return EINVAL;
	return do_setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, &srh, sizeof(srh)) ? errno : 0;
}

/* The -a connect: again on fd, to again_addr; its result and SO_MARK. */
static void connect_again(int fd, const struct addrinfo *ai)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int mark = -1, e = 0, ok;

	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET)
		ok = inet_pton(AF_INET, again_addr, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		ok = inet_pton(AF_INET6, again_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	/* The first connect() after a failed one only reports the failure
	 * (ECONNABORTED) and makes the socket unconnected again. */
	if (ok == 1 && connect(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == -1 &&
	    errno != ECONNABORTED && errno != EINPROGRESS)
		ok = -errno;
	if (ok != 1) {
		e = ok < 0 ? -ok : EINVAL;
	} else if (connect(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == -1 &&
		   errno != EINPROGRESS) {
		e = errno;
	} else {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		socklen_t elen = sizeof(e);

		if (poll(&p, 1, 1000) != 1)
			e = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
			e = errno;
	}
	getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len);
	snprintf(again_res, sizeof(again_res), " again=%s mark=0x%x", e ? errname(e) : "ok",
		 (unsigned)mark);
}

/* A connect that gives up after timeout_ms instead of the kernel's minutes. */
static int tcp(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	int e = 0;
	socklen_t len = sizeof(e);

	if (fd == -1)
		return errno;
	if (route_before && (e = set_route(fd, ai, route_before))) {
		route_failed = true;
		goto out;
	}
	if (wait_line) {
		char line[16];

		printf("waiting\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			e = EINTR;
			goto out;
		}
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto connected;
	if (errno != EINPROGRESS) {
		e = errno;
		goto out;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (poll(&p, 1, timeout_ms) != 1)
		e = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e)
		goto out;
connected:
	if (route_after) {
		int r = set_route(fd, ai, route_after);

		snprintf(reroute_res, sizeof(reroute_res), " reroute=%s", r ? errname(r) : "ok");
		r = send(fd, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : errno;
		snprintf(sent_res, sizeof(sent_res), " sent=%s", r ? errname(r) : "ok");
	}
	if (hold_ms > 0)
		poll(NULL, 0, hold_ms);
out:
	if (again_addr && e && !route_failed)
		connect_again(fd, ai);
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

	while ((opt = getopt(argc, argv, "uUn:t:kMR:r:wH:a:c")) != -1) {
		switch (opt) {
		case 'c': compat_call = true; break;
		case 'a': again_addr = optarg; break;
		case 'M': proto = IPPROTO_MPTCP; break;
		case 'R': route_before = optarg; break;
		case 'r': route_after = optarg; break;
		case 'w': wait_line = true; break;
		case 'H': hold_ms = atoi(optarg); break;
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
		printf("error %s %lld%s%s", errname(e), t0, route_failed ? " route" : "", again_res);
	else
		printf("ok %lld%s%s", t0, reroute_res, sent_res);
	if (show_cookie)
		printf(" cookie=%llu", cookie);
	printf("\n");
	return e ? 1 : 0;
usage:
	fprintf(stderr, "usage: fp_client [-u | -U] [-n COUNT] [-t TIMEOUT_MS] [-k] [-M] [-R HOP] "
			"[-r HOP [-c]] [-w] [-H MS] [-a ADDR] ADDR PORT\n");
	return 2;
}
