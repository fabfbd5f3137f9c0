/*
 * attr_common.h — helpers shared by the attr_* test tools (attribution,
 * teardown, conntrack).  Header-only: each tool is one program.
 */
#ifndef ALEGATE_ATTR_COMMON_H
#define ALEGATE_ATTR_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/tuple.h"

static inline void attr_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static inline void attr_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline uint64_t attr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * An address as the test writes it.  "::ffff:a.b.c.d" is an IPv6 socket
 * address whose flow is IPv4 (what the packet shows).
 */
struct attr_addr {
	int sock_family;	/* AF_INET or AF_INET6 */
	int ip_version;		/* of the flow: 4 or 6 */
	uint8_t flow[16];	/* tuple form (IPv4 in bytes 0..3) */
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
		struct sockaddr sa;
	} u;
	socklen_t len;
};

static inline void attr_parse_addr(const char *s, uint16_t port,
				   struct attr_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->u.v4.sin_addr) == 1) {
		a->sock_family = AF_INET;
		a->ip_version = 4;
		a->u.v4.sin_family = AF_INET;
		a->u.v4.sin_port = htons(port);
		a->len = sizeof(a->u.v4);
		memcpy(a->flow, &a->u.v4.sin_addr, 4);
		return;
	}
	if (inet_pton(AF_INET6, s, &a->u.v6.sin6_addr) == 1) {
		const uint8_t *b = a->u.v6.sin6_addr.s6_addr;

		a->sock_family = AF_INET6;
		a->u.v6.sin6_family = AF_INET6;
		a->u.v6.sin6_port = htons(port);
		a->len = sizeof(a->u.v6);
		if (IN6_IS_ADDR_V4MAPPED(&a->u.v6.sin6_addr)) {
			a->ip_version = 4;
			memcpy(a->flow, b + 12, 4);
		} else {
			a->ip_version = 6;
			memcpy(a->flow, b, 16);
		}
		return;
	}
	attr_die("bad address \"%s\"", s);
}

/* The flow address and port of a socket address (v4-mapped → IPv4). */
static inline void attr_sockaddr_flow(const struct sockaddr_storage *ss,
				      uint8_t *flow, uint16_t *port, int *ipv)
{
	memset(flow, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *)ss;

		memcpy(flow, &v4->sin_addr, 4);
		*port = ntohs(v4->sin_port);
		*ipv = 4;
	} else {
		const struct sockaddr_in6 *v6 = (const void *)ss;

		*port = ntohs(v6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			memcpy(flow, v6->sin6_addr.s6_addr + 12, 4);
			*ipv = 4;
		} else {
			memcpy(flow, v6->sin6_addr.s6_addr, 16);
			*ipv = 6;
		}
	}
}

/* The outbound tuple (src = local) of a socket, from getsockname/peername. */
static inline void attr_socket_tuple(int fd, int proto, struct ag_tuple *t)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	int ipv;

	memset(t, 0, sizeof(*t));
	if (getsockname(fd, (struct sockaddr *)&l, &ll) == -1)
		attr_die("getsockname: %s", strerror(errno));
	if (getpeername(fd, (struct sockaddr *)&r, &rl) == -1)
		attr_die("getpeername: %s", strerror(errno));
	attr_sockaddr_flow(&l, t->src.b, &t->sport, &ipv);
	attr_sockaddr_flow(&r, t->dst.b, &t->dport, &ipv);
	t->ip_version = (uint8_t)ipv;
	t->protocol = (uint8_t)proto;
}

static inline const char *attr_tuple_str(const struct ag_tuple *t)
{
	static char buf[160];
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = t->ip_version == 4 ? AF_INET : AF_INET6;

	inet_ntop(af, t->src.b, s, sizeof(s));
	inet_ntop(af, t->dst.b, d, sizeof(d));
	snprintf(buf, sizeof(buf), "proto %u %s:%u -> %s:%u", t->protocol, s,
		 t->sport, d, t->dport);
	return buf;
}

/* Enter a network namespace made with "ip netns add NAME". */
static inline void attr_enter_netns(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		attr_die("open %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET) == -1)
		attr_die("setns %s: %s", path, strerror(errno));
	close(fd);
}

/* Our own network namespace, to come back to. */
static inline int attr_netns_self(void)
{
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		attr_die("open /proc/self/ns/net: %s", strerror(errno));
	return fd;
}

static inline void attr_netns_back(int fd)
{
	if (setns(fd, CLONE_NEWNET) == -1)
		attr_die("setns back: %s", strerror(errno));
}

#endif
