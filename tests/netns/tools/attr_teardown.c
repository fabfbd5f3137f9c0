/*
 * attr_teardown — checks of socket destruction (SOCK_DESTROY) and of
 * ctnetlink (delete, dump, DESTROY events) in the namespace it runs in.
 * Each command exits 0 when what it checks holds, else 1 with the reason
 * on stderr; details go to stdout.
 *
 *   destroy-synsent REMOTE PORT
 *       connect() blocked on a dropped SYN fails with ECONNABORTED at
 *       once when its socket is destroyed.
 *   destroy-established REMOTE PORT
 *       a reader of an established connection gets ECONNABORTED at once;
 *       the conntrack entry is deleted first (the peer's report, written
 *       by "attr_client serve-once", tells whether it saw a reset).
 *   destroy-udp REMOTE PORT
 *       the same for a connected UDP socket.
 *   destroy-spares-shared REMOTE PORT
 *       a TCP listener and an unconnected UDP socket serve more than one
 *       flow: destroy refuses them and they keep working.
 *   ct-delete REMOTE PORT
 *       an established flow's entry is listed by "conntrack -L" and by
 *       ag_ct_dump() (with its mark), ag_ct_delete() removes it, a second
 *       delete says ENOENT.
 *   ct-events REMOTE PORT MARK CLOSED_PORT
 *       a UDP flow (connmarked MARK by the test's rule) is deleted by
 *       "conntrack -D": its DESTROY event arrives with the orig tuple and
 *       MARK.  So does the event of a TCP connection refused by
 *       REMOTE:CLOSED_PORT, and of a UDP flow that timed out.
 *   ct-enobufs REMOTE PORT COUNT
 *       with a tiny event buffer, COUNT flows destroyed at once overrun it:
 *       ag_ct_receive() says ENOBUFS, and events and dumps work after it.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <netinet/tcp.h>

#include "attr_common.h"
#include "linux/conntrack.h"
#include "linux/sockdiag.h"

static struct ag_sockdiag *sd;
static struct ag_ct *ct;

/* ---- a thread blocked in one call, and when it returned ------------------ */

struct blocked {
	int fd;
	const struct sockaddr *sa;
	socklen_t len;
	enum { DO_CONNECT, DO_RECV } what;
	int ret, err;
	uint64_t done_ns;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	char buf[64];

	if (b->what == DO_CONNECT)
		b->ret = connect(b->fd, b->sa, b->len);
	else
		b->ret = (int)recv(b->fd, buf, sizeof(buf), 0);
	b->err = errno;
	b->done_ns = attr_now_ns();
	return NULL;
}

/* Destroy @t while the thread is blocked; the call must fail at once. */
static void destroy_and_expect(struct blocked *b, pthread_t th,
			       const struct ag_tuple *t)
{
	uint64_t t0;
	int r;

	usleep(100 * 1000);
	if (b->done_ns)
		attr_die("the blocked call returned early (%d, %s)", b->ret,
			 strerror(b->err));
	t0 = attr_now_ns();
	r = ag_sockdiag_destroy(sd, t);
	if (r < 0)
		attr_die("destroy %s: %s", attr_tuple_str(t), strerror(-r));
	pthread_join(th, NULL);
	printf("destroyed %s: call returned %d (%s) after %.2f ms\n",
	       attr_tuple_str(t), b->ret, strerror(b->err),
	       (b->done_ns - t0) / 1e6);
	if (b->ret != -1 || b->err != ECONNABORTED)
		attr_die("expected ECONNABORTED, got %d (%s)", b->ret,
			 strerror(b->err));
	if (b->done_ns - t0 > 200 * 1000000ull)
		attr_die("took %.1f ms: not at once", (b->done_ns - t0) / 1e6);
	r = ag_sockdiag_destroy(sd, t);
	if (r != -ENOENT)
		attr_die("second destroy: %d, expected -ENOENT", r);
}

static void outbound_tuple(int fd, int proto, const struct attr_addr *ra,
			   uint16_t port, struct ag_tuple *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int ipv;

	memset(t, 0, sizeof(*t));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		attr_die("getsockname: %s", strerror(errno));
	attr_sockaddr_flow(&ss, t->src.b, &t->sport, &ipv);
	memcpy(t->dst.b, ra->flow, 16);
	t->dport = port;
	t->ip_version = (uint8_t)ra->ip_version;
	t->protocol = (uint8_t)proto;
}

static int cmd_destroy_synsent(const char *remote, uint16_t port)
{
	static const uint8_t zero[16];
	struct attr_addr ra;
	struct blocked b = { .what = DO_CONNECT };
	struct ag_sock_info si;
	struct ag_tuple t;
	pthread_t th;
	int k;

	attr_parse_addr(remote, port, &ra);
	b.fd = socket(ra.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	b.sa = &ra.u.sa;
	b.len = ra.len;
	pthread_create(&th, NULL, blocked_main, &b);
	/* connect() picks the source address and port before its SYN. */
	for (k = 0; k < 100; k++) {
		outbound_tuple(b.fd, IPPROTO_TCP, &ra, port, &t);
		if (t.sport && memcmp(t.src.b, zero, 16) != 0)
			break;
		usleep(10 * 1000);
	}
	if (ag_sockdiag_lookup(sd, &t, &si) < 0 || si.state != TCP_SYN_SENT)
		attr_die("no SYN_SENT socket for %s", attr_tuple_str(&t));
	destroy_and_expect(&b, th, &t);
	return 0;
}

static void ct_list(const char *what, const struct ag_tuple *t, int want)
{
	char cmd[256], line[512];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
		 "conntrack -L -p %s --sport %u --dport %u 2>/dev/null",
		 t->protocol == IPPROTO_TCP ? "tcp" : "udp", t->sport, t->dport);
	f = popen(cmd, "r");
	if (!f)
		attr_die("popen: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		printf("  conntrack -L (%s): %s", what, line);
		n++;
	}
	pclose(f);
	if (n != want)
		attr_die("conntrack -L %s: %d entries for %s, expected %d",
			 what, n, attr_tuple_str(t), want);
}

struct find_ctx {
	struct ag_tuple want;
	int found;
	uint32_t mark;
};

static void find_cb(const struct ag_ct_entry *e, void *arg)
{
	struct find_ctx *c = arg;

	if (memcmp(&e->orig, &c->want, sizeof(c->want)) == 0) {
		c->found++;
		c->mark = e->mark;
	}
}

static int in_dump(const struct ag_tuple *t, uint32_t *mark)
{
	struct find_ctx c = { .want = *t };
	int r = ag_ct_dump(ct, find_cb, &c);

	if (r < 0)
		attr_die("ag_ct_dump: %s", strerror(-r));
	if (mark)
		*mark = c.mark;
	return c.found;
}

static int cmd_destroy_established(const char *remote, uint16_t port)
{
	struct attr_addr ra;
	struct blocked b = { .what = DO_RECV };
	struct ag_tuple t;
	pthread_t th;
	int r;

	attr_parse_addr(remote, port, &ra);
	b.fd = socket(ra.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(b.fd, &ra.u.sa, ra.len) == -1)
		attr_die("connect: %s", strerror(errno));
	attr_socket_tuple(b.fd, IPPROTO_TCP, &t);
	pthread_create(&th, NULL, blocked_main, &b);
	/* As the daemon tears down a flow: state first, then the socket. */
	ct_list("before", &t, 1);
	r = ag_ct_delete(ct, &t);
	if (r < 0)
		attr_die("ag_ct_delete %s: %s", attr_tuple_str(&t), strerror(-r));
	destroy_and_expect(&b, th, &t);
	return 0;
}

static int cmd_destroy_udp(const char *remote, uint16_t port)
{
	struct attr_addr ra;
	struct blocked b = { .what = DO_RECV };
	struct ag_tuple t;
	pthread_t th;

	attr_parse_addr(remote, port, &ra);
	b.fd = socket(ra.sock_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(b.fd, &ra.u.sa, ra.len) == -1)
		attr_die("connect: %s", strerror(errno));
	attr_socket_tuple(b.fd, IPPROTO_UDP, &t);
	pthread_create(&th, NULL, blocked_main, &b);
	destroy_and_expect(&b, th, &t);
	return 0;
}

static int cmd_destroy_spares_shared(const char *remote, uint16_t port)
{
	struct attr_addr ra, la;
	struct ag_tuple t;
	struct ag_sock_info si;
	int lfd, ufd, cfd, one = 1, r;
	struct sockaddr_in any = { .sin_family = AF_INET };

	attr_parse_addr(remote, port, &ra);
	/* A TCP listener on PORT, and a flow to it from REMOTE. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	any.sin_port = htons(port);
	if (bind(lfd, (struct sockaddr *)&any, sizeof(any)) == -1 ||
	    listen(lfd, 4) == -1)
		attr_die("listen on %u: %s", port, strerror(errno));
	attr_parse_addr("127.0.0.1", port, &la);
	memset(&t, 0, sizeof(t));
	t.ip_version = 4;
	t.protocol = IPPROTO_TCP;
	memcpy(t.src.b, la.flow, 4);
	t.sport = port;
	memcpy(t.dst.b, ra.flow, 4);
	t.dport = 40000;
	r = ag_sockdiag_destroy(sd, &t);
	if (r != -ENOENT && r != -EBUSY)
		attr_die("destroy of a flow to a listener: %d", r);
	if (ag_sockdiag_lookup_listener(sd, &t, &si) < 0)
		attr_die("the listener is gone");
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(cfd, &la.u.sa, la.len) == -1)
		attr_die("the listener no longer accepts: %s", strerror(errno));
	printf("listener spared (destroy said %s)\n", strerror(-r));

	/* An unconnected UDP socket that sent to REMOTE. */
	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	any.sin_port = 0;
	if (bind(ufd, (struct sockaddr *)&any, sizeof(any)) == -1)
		attr_die("bind: %s", strerror(errno));
	if (sendto(ufd, "x", 1, 0, &ra.u.sa, ra.len) != 1)
		attr_die("sendto: %s", strerror(errno));
	{
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);

		getsockname(ufd, (struct sockaddr *)&me, &ml);
		t.protocol = IPPROTO_UDP;
		t.sport = ntohs(me.sin_port);
		t.dport = port;
		/* 127.0.0.1 would not be the source for REMOTE: use the route's. */
		{
			int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			struct sockaddr_in src;
			socklen_t sl = sizeof(src);

			connect(probe, &ra.u.sa, ra.len);
			getsockname(probe, (struct sockaddr *)&src, &sl);
			memcpy(t.src.b, &src.sin_addr, 4);
			close(probe);
		}
	}
	r = ag_sockdiag_destroy(sd, &t);
	if (r != -EBUSY)
		attr_die("destroy of an unconnected UDP socket's flow: %d, "
			 "expected -EBUSY", r);
	if (sendto(ufd, "y", 1, 0, &ra.u.sa, ra.len) != 1)
		attr_die("the UDP socket no longer sends: %s", strerror(errno));
	printf("unconnected UDP socket spared (destroy said %s)\n",
	       strerror(-r));
	close(cfd);
	return 0;
}

static int cmd_ct_delete(const char *remote, uint16_t port)
{
	struct attr_addr ra;
	struct ag_tuple t;
	uint32_t mark = 0;
	int fd, r;

	attr_parse_addr(remote, port, &ra);
	fd = socket(ra.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, &ra.u.sa, ra.len) == -1)
		attr_die("connect: %s", strerror(errno));
	attr_socket_tuple(fd, IPPROTO_TCP, &t);
	ct_list("before", &t, 1);
	if (in_dump(&t, &mark) != 1)
		attr_die("ag_ct_dump does not list %s", attr_tuple_str(&t));
	printf("dump: %s mark 0x%x\n", attr_tuple_str(&t), mark);
	r = ag_ct_delete(ct, &t);
	if (r < 0)
		attr_die("ag_ct_delete: %s", strerror(-r));
	/* The connection lives on; its state is gone until the next packet. */
	ct_list("after", &t, 0);
	if (in_dump(&t, NULL) != 0)
		attr_die("ag_ct_dump still lists %s", attr_tuple_str(&t));
	r = ag_ct_delete(ct, &t);
	if (r != -ENOENT)
		attr_die("second delete: %d, expected -ENOENT", r);
	close(fd);
	return 0;
}

struct ev_ctx {
	struct ag_tuple want;
	int seen;
	uint32_t mark;
	uint8_t flags;
};

static void ev_cb(const struct ag_ct_entry *e, void *arg)
{
	struct ev_ctx *c = arg;

	if (memcmp(&e->orig, &c->want, sizeof(c->want)) == 0) {
		c->seen++;
		c->mark = e->mark;
		c->flags = e->flags;
	}
}

/* Receive events until @c has seen its flow or @ms pass. */
static int wait_event(struct ev_ctx *c, int ms)
{
	uint64_t end = attr_now_ns() + (uint64_t)ms * 1000000u;

	while (!c->seen && attr_now_ns() < end) {
		struct pollfd pfd = { ag_ct_event_fd(ct), POLLIN, 0 };
		int r;

		poll(&pfd, 1, 50);
		r = ag_ct_receive(ct);
		if (r < 0)
			attr_die("ag_ct_receive: %s", strerror(-r));
	}
	return c->seen;
}

static int udp_flow(const struct attr_addr *ra, uint16_t port,
		    struct ag_tuple *t)
{
	int fd = socket(ra->sock_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (connect(fd, &ra->u.sa, ra->len) == -1 || send(fd, "x", 1, 0) != 1)
		attr_die("udp to port %u: %s", port, strerror(errno));
	attr_socket_tuple(fd, IPPROTO_UDP, t);
	return fd;
}

static int cmd_ct_events(const char *remote, uint16_t port, uint32_t mark,
			 uint16_t closed_port)
{
	struct attr_addr ra;
	struct ev_ctx c = { .seen = 0 };
	char cmd[256];
	uint64_t t0;
	int fd, r;

	attr_parse_addr(remote, port, &ra);
	r = ag_ct_open_events(ct, 0, ev_cb, &c);
	if (r < 0)
		attr_die("ag_ct_open_events: %s", strerror(-r));

	fd = udp_flow(&ra, port, &c.want);
	snprintf(cmd, sizeof(cmd),
		 "conntrack -D -p udp --sport %u --dport %u >/dev/null 2>&1",
		 c.want.sport, port);
	if (system(cmd) != 0)
		attr_die("%s failed", cmd);
	if (!wait_event(&c, 2000))
		attr_die("no DESTROY event for %s", attr_tuple_str(&c.want));
	printf("event: %s mark 0x%x (flags 0x%x)\n", attr_tuple_str(&c.want),
	       c.mark, c.flags);
	if (!(c.flags & AG_CT_F_MARK) || c.mark != mark)
		attr_die("event mark 0x%x, expected 0x%x", c.mark, mark);
	close(fd);

	/*
	 * A connection refused by the peer: conntrack drops an entry whose
	 * only answer was a RST at once, so its event comes at once.
	 */
	memset(&c, 0, sizeof(c));
	{
		struct attr_addr ca;

		struct sockaddr_storage src;
		socklen_t sl = sizeof(src);
		int probe;

		attr_parse_addr(remote, closed_port, &ca);
		/* Bound first: a refused socket forgets a chosen address. */
		probe = socket(ca.sock_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (connect(probe, &ca.u.sa, ca.len) == -1 ||
		    getsockname(probe, (struct sockaddr *)&src, &sl) == -1)
			attr_die("route to %s: %s", remote, strerror(errno));
		close(probe);
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		fd = socket(ca.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bind(fd, (struct sockaddr *)&src, sl) == -1)
			attr_die("bind: %s", strerror(errno));
		outbound_tuple(fd, IPPROTO_TCP, &ca, closed_port, &c.want);
		if (connect(fd, &ca.u.sa, ca.len) == 0 || errno != ECONNREFUSED)
			attr_die("connect to closed port %u: %s", closed_port,
				 strerror(errno));
	}
	if (!wait_event(&c, 2000))
		attr_die("no DESTROY event for refused %s",
			 attr_tuple_str(&c.want));
	printf("refused flow: event at once\n");
	close(fd);

	/*
	 * A flow that times out (the test set a 1 s UDP timeout).  The kernel
	 * removes expired entries lazily, when its garbage collector passes
	 * (up to a minute) or when a dump walks over them; the event comes
	 * then.  Wait a little for the collector, then dump.
	 */
	memset(&c, 0, sizeof(c));
	fd = udp_flow(&ra, port, &c.want);
	close(fd);
	t0 = attr_now_ns();
	if (wait_event(&c, 3000)) {
		printf("expired flow: event from the collector after %.1f s\n",
		       (attr_now_ns() - t0) / 1e9);
	} else {
		struct find_ctx f = { .want = c.want };

		if (ag_ct_dump(ct, find_cb, &f) < 0)
			attr_die("ag_ct_dump failed");
		if (f.found)
			attr_die("expired flow %s still listed",
				 attr_tuple_str(&c.want));
		if (!wait_event(&c, 2000))
			attr_die("no DESTROY event for expired %s",
				 attr_tuple_str(&c.want));
		printf("expired flow: event after a dump reaped it\n");
	}
	return 0;
}

static int count_cb_n;
static void count_cb(const struct ag_ct_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	count_cb_n++;
}

static int cmd_ct_enobufs(const char *remote, uint16_t port, int count)
{
	struct attr_addr ra;
	struct ev_ctx c = { .seen = 0 };
	struct ag_ct_stats st;
	int r, fd, lost = 0, got = 0;

	attr_parse_addr(remote, port, &ra);
	/* The smallest buffer the kernel allows holds a handful of events. */
	r = ag_ct_open_events(ct, 1, count_cb, NULL);
	if (r < 0)
		attr_die("ag_ct_open_events: %s", strerror(-r));
	for (int i = 0; i < count; i++) {
		struct ag_tuple t;

		close(udp_flow(&ra, port, &t));
	}
	if (system("conntrack -F >/dev/null 2>&1") != 0)
		attr_die("conntrack -F failed");
	for (int k = 0; k < 100; k++) {
		r = ag_ct_receive(ct);
		if (r == -ENOBUFS)
			lost++;
		else if (r < 0)
			attr_die("ag_ct_receive: %s", strerror(-r));
		else if (r == 0 && lost)
			break;
		else
			got += r;
	}
	ag_ct_get_stats(ct, &st);
	printf("%d flows flushed: %d events read, ENOBUFS %d times (stats: "
	       "%llu lost)\n", count, count_cb_n, lost,
	       (unsigned long long)st.lost);
	if (!lost)
		attr_die("no overrun with %d events", count);

	/* Survived: a later event still arrives, and a dump resyncs. */
	ag_ct_close(ct);
	ct = ag_ct_open();
	if (!ct || ag_ct_open_events(ct, 1, ev_cb, &c) < 0)
		attr_die("reopen: %s", strerror(errno));
	(void)got;
	fd = udp_flow(&ra, port, &c.want);
	{
		struct find_ctx f = { .want = c.want };

		if (ag_ct_dump(ct, find_cb, &f) < 0 || f.found != 1)
			attr_die("dump after overrun does not list the flow");
	}
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd),
			 "conntrack -D -p udp --sport %u >/dev/null 2>&1",
			 c.want.sport);
		if (system(cmd) != 0)
			attr_die("%s failed", cmd);
	}
	if (!wait_event(&c, 2000))
		attr_die("no event after the overrun");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		attr_die("usage: attr_teardown COMMAND REMOTE PORT ...");
	sd = ag_sockdiag_open();
	ct = ag_ct_open();
	if (!sd || !ct)
		attr_die("open netlink: %s", strerror(errno));

	if (strcmp(argv[1], "destroy-synsent") == 0)
		return cmd_destroy_synsent(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "destroy-established") == 0)
		return cmd_destroy_established(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "destroy-udp") == 0)
		return cmd_destroy_udp(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "destroy-spares-shared") == 0)
		return cmd_destroy_spares_shared(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "ct-delete") == 0)
		return cmd_ct_delete(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(argv[1], "ct-events") == 0 && argc == 6)
		return cmd_ct_events(argv[2], (uint16_t)atoi(argv[3]),
				     (uint32_t)strtoul(argv[4], NULL, 0),
				     (uint16_t)atoi(argv[5]));
	if (strcmp(argv[1], "ct-enobufs") == 0 && argc == 5)
		return cmd_ct_enobufs(argv[2], (uint16_t)atoi(argv[3]),
				      atoi(argv[4]));
	attr_die("unknown command \"%s\"", argv[1]);
}
