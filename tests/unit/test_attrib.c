/*
 * test_attrib.c — attribution by taking a process's socket fd
 * (ag_proc_take_socket() through ag_attrib_lookup()), on real sockets of
 * this process over loopback.
 *
 * The process cache is opened without the connector, so the tests need no
 * privilege: sock_diag finds a process's own sockets and pidfd_getfd(2)
 * may take a process's own fds.  Every lookup is of an outbound TCP flow,
 * in packet orientation (src = local).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "linux/attrib.h"
#include "linux/proc.h"
#include "linux/sockdiag.h"

struct world {
	struct ag_proc *proc;
	struct ag_sockdiag *sd;
	struct ag_attrib *a;
	int lfd;
	struct sockaddr_in server;
};

static void world_close(struct world *w)
{
	if (w->lfd >= 0)
		close(w->lfd);
	ag_attrib_free(w->a);
	ag_sockdiag_close(w->sd);
	ag_proc_close(w->proc);
}

/* A listener on loopback; @backlog 0 holds one connection and drops the
 * SYNs after it, which leaves their sockets in SYN_SENT. */
static int world_open(struct world *w, int backlog)
{
	struct ag_proc_config pc = { .no_connector = 1 };
	socklen_t len = sizeof(w->server);

	memset(w, 0, sizeof(*w));
	w->lfd = -1;
	w->proc = ag_proc_open(&pc);
	w->sd = ag_sockdiag_open();
	w->a = w->proc && w->sd ? ag_attrib_new(w->sd, w->proc) : NULL;
	if (!w->a)
		return -1;
	w->server.sin_family = AF_INET;
	w->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w->lfd == -1 || bind(w->lfd, (struct sockaddr *)&w->server, sizeof(w->server)) ||
	    listen(w->lfd, backlog) ||
	    getsockname(w->lfd, (struct sockaddr *)&w->server, &len))
		return -1;
	return 0;
}

/* Connect a new socket (non-blocking: it may stay in SYN_SENT); its flow
 * goes to @t.  Return: the fd, or -1. */
static int dial(struct world *w, struct ag_tuple *t)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&w->server, sizeof(w->server)) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&me, &len)) {
		close(fd);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->ip_version = 4;
	t->protocol = IPPROTO_TCP;
	ag_addr_from_sockaddr((const struct sockaddr *)&me, &t->src, &t->sport);
	ag_addr_from_sockaddr((const struct sockaddr *)&w->server, &t->dst, &t->dport);
	return fd;
}

static uint8_t tcp_state(int fd)
{
	uint8_t st = 0;
	socklen_t len = sizeof(st);

	getsockopt(fd, SOL_TCP, TCP_INFO, &st, &len);
	return st;
}

static uint64_t sd_requests(const struct world *w)
{
	struct ag_sockdiag_stats st;

	ag_sockdiag_get_stats(w->sd, &st);
	return st.requests;
}

/* The first lookup of a process goes the long way and learns where its
 * sockets are; a new socket where the last one was is then taken. */
static int teach(struct world *w, struct ag_attrib_result *res)
{
	struct ag_tuple t;
	int fd = dial(w, &t), r;

	if (fd == -1)
		return -1;
	r = ag_attrib_lookup(w->a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, res);
	close(fd);
	return r;
}

TEST(attrib_takes_a_connecting_socket_without_asking_sock_diag)
{
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct ag_tuple t;
	struct world w;
	uint64_t before;
	int fd = -1, keep = -1;

	CHECK_EQ(world_open(&w, 0), 0);
	/* The one connection the listener holds; every later SYN is dropped. */
	keep = dial(&w, &t);
	CHECK(keep >= 0);
	usleep(20000);
	CHECK_EQ(tcp_state(keep), TCP_ESTABLISHED);
	CHECK_EQ(teach(&w, &res), 0);
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));

	fd = dial(&w, &t);
	CHECK(fd >= 0);
	CHECK_EQ(tcp_state(fd), TCP_SYN_SENT);
	before = sd_requests(&w);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_attrib_get_stats(w.a, &st);
	CHECK_EQ(sd_requests(&w), before);
	CHECK(res.flags & AG_ATTRIB_F_TAKEN);
	CHECK(res.flags & AG_ATTRIB_F_PROCESS);
	CHECK_EQ(res.why, AG_ATTRIB_OK);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK_EQ(res.uid, geteuid());
	CHECK_EQ(res.sock.state, TCP_SYN_SENT);
	CHECK_EQ(res.sock.family, AF_INET);
	CHECK(res.sock.inode != 0);
	CHECK_EQ(st.taken, 1);
	close(fd);
	close(keep);
	world_close(&w);
}

TEST(attrib_taken_socket_must_match_the_remote_end_too)
{
	struct ag_attrib_result res;
	struct ag_tuple t;
	struct world w;
	int fd;

	CHECK_EQ(world_open(&w, 8), 0);
	CHECK_EQ(teach(&w, &res), 0);
	fd = dial(&w, &t);
	CHECK(fd >= 0);
	/* Our socket's local end, another peer port: no socket has it. */
	t.dport ^= 1;
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), -ENOENT);
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
	CHECK_EQ(res.why, AG_ATTRIB_NO_SOCKET);
	/* And its own flow is taken. */
	t.dport ^= 1;
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK(res.flags & AG_ATTRIB_F_TAKEN);
	close(fd);
	world_close(&w);
}

TEST(attrib_does_not_take_a_reset_socket_that_keeps_the_flows_addresses)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct ag_attrib_result res;
	struct ag_tuple t;
	struct world w;
	int fd, sfd;

	CHECK_EQ(world_open(&w, 8), 0);
	CHECK_EQ(teach(&w, &res), 0);
	fd = dial(&w, &t);
	CHECK(fd >= 0);
	/* The server end of this connection (teach()'s waits first). */
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);

		sfd = accept(w.lfd, (struct sockaddr *)&peer, &len);
		CHECK(sfd >= 0);
		if (ntohs(peer.sin_port) == t.sport)
			break;
		close(sfd);
	}
	/* The server resets: our socket is CLOSE, still held, and still
	 * answers SO_PEERNAME with the peer it had. */
	CHECK_EQ(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(sfd);
	usleep(20000);
	CHECK_EQ(tcp_state(fd), TCP_CLOSE);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), -ENOENT);
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
	close(fd);
	world_close(&w);
}

TEST(attrib_with_taking_off_asks_sock_diag_every_time)
{
	struct ag_attrib_result res;
	struct ag_attrib_stats st;
	struct ag_tuple t;
	struct world w;
	uint64_t before;
	int fd;

	CHECK_EQ(world_open(&w, 8), 0);
	CHECK_EQ(teach(&w, &res), 0);
	ag_attrib_set_taking(w.a, false);
	fd = dial(&w, &t);
	CHECK(fd >= 0);
	before = sd_requests(&w);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	ag_attrib_get_stats(w.a, &st);
	CHECK(sd_requests(&w) > before);
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
	CHECK_EQ(res.proc.pid, getpid());
	CHECK_EQ(st.taken, 0);
	close(fd);
	world_close(&w);
}

/* Connect a new socket that sits at fd @at or above, where no guess looks. */
static int dial_at(struct world *w, struct ag_tuple *t, int at)
{
	int fd = dial(w, t), high;

	if (fd == -1)
		return -1;
	high = fcntl(fd, F_DUPFD_CLOEXEC, at);
	close(fd);
	return high;
}

static struct ag_proc_stats proc_stats(const struct world *w)
{
	struct ag_proc_stats st;

	ag_proc_get_stats(w->proc, &st);
	return st;
}

TEST(attrib_take_backs_off_after_eight_misses_and_resumes_when_a_probe_finds)
{
	struct ag_attrib_result res;
	struct ag_proc_stats p0, p1;
	struct ag_tuple t;
	struct world w;
	int fd, n = 0;

	CHECK_EQ(world_open(&w, 64), 0);
	CHECK_EQ(teach(&w, &res), 0);
	/* Eight sockets where no guess is: each take misses, each is still
	 * named the long way. */
	for (int k = 0; k < 8; k++) {
		fd = dial_at(&w, &t, 500 + 8 * k);
		CHECK(fd >= 0);
		CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
		CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
		CHECK_EQ(res.proc.pid, getpid());
		close(fd);
	}
	/* Then lookups take no fd, and still name the process. */
	p0 = proc_stats(&w);
	fd = dial_at(&w, &t, 700);
	CHECK(fd >= 0);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	close(fd);
	p1 = proc_stats(&w);
	CHECK_EQ(p1.take_tries, p0.take_tries);
	CHECK_EQ(p1.take_skipped, p0.take_skipped + 1);
	CHECK_EQ(res.proc.pid, getpid());
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
	/* Sockets where the guesses are again: one lookup in eight takes,
	 * finds it, and taking goes on from there. */
	do {
		fd = dial(&w, &t);
		CHECK(fd >= 0);
		CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
		CHECK_EQ(res.proc.pid, getpid());
		close(fd);
	} while (!(res.flags & AG_ATTRIB_F_TAKEN) && ++n < 8);
	CHECK_EQ(n, 6);
	fd = dial(&w, &t);
	CHECK(fd >= 0);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK(res.flags & AG_ATTRIB_F_TAKEN);
	close(fd);
	world_close(&w);
}

/* Needs root: the handle's sock_diag socket is opened in a new network
 * namespace, while the flow's socket stays in ours. */
TEST(attrib_does_not_take_a_socket_of_another_network_namespace)
{
	struct ag_attrib_result res;
	struct ag_sockdiag *other;
	struct ag_attrib *a;
	struct ag_tuple t;
	struct world w;
	int fd, home;

	CHECK_MSG(geteuid() == 0, "this test makes a network namespace: run it as root");
	CHECK_EQ(world_open(&w, 8), 0);
	CHECK_EQ(teach(&w, &res), 0);
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(home >= 0);
	CHECK_EQ(unshare(CLONE_NEWNET), 0);
	other = ag_sockdiag_open();
	CHECK_EQ(setns(home, CLONE_NEWNET), 0);
	close(home);
	CHECK(other != NULL);
	a = ag_attrib_new(other, w.proc);
	CHECK(a != NULL);

	/* Our handle takes it (the fd is where teach() left it) ... */
	fd = dial(&w, &t);
	CHECK(fd >= 0);
	CHECK_EQ(ag_attrib_lookup(w.a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), 0);
	CHECK(res.flags & AG_ATTRIB_F_TAKEN);
	/* ... the other namespace's handle must not, and finds no socket. */
	CHECK_EQ(ag_attrib_lookup(a, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN, &res), -ENOENT);
	CHECK(!(res.flags & AG_ATTRIB_F_TAKEN));
	CHECK_EQ(res.why, AG_ATTRIB_NO_SOCKET);
	close(fd);
	ag_attrib_free(a);
	ag_sockdiag_close(other);
	world_close(&w);
}

TEST(proc_take_socket_refuses_a_proc_root_that_is_not_the_kernels)
{
	struct ag_proc_config pc = { .no_connector = 1, .proc_root = "/proc/self/.." };
	struct ag_proc *p = ag_proc_open(&pc);
	struct ag_proc_taken tk;

	CHECK(p != NULL);
	CHECK_EQ(ag_proc_take_socket(p, AG_UID_UNKNOWN, NULL, NULL, &tk), -ENOSYS);
	ag_proc_close(p);
}
