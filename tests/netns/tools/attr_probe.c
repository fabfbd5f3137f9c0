/*
 * attr_probe — checks of socket lookup, attribution and the process cache
 * against the real kernel.  Each command exits 0 when what it checks holds,
 * else 1 with the reason on stderr; details go to stdout.
 *
 *   attr_probe [--netns NAME] COMMAND ...
 *
 * With --netns the process cache is opened first, in the namespace the
 * probe starts in (the proc connector exists only in the initial one), and
 * the probe then enters NAME for its sockets and sock_diag.
 *
 *   sock KIND REMOTE PORT [LOCAL]
 *       KIND: tcp, tcp-synsent, udp, udp-unconnected.  Makes a socket as
 *       uid 4242 (fsuid), looks its flow up: inode must be fstat()'s, uid
 *       4242; then attributes it: our pid and executable.  REMOTE may be
 *       ::ffff:a.b.c.d (IPv6 socket, IPv4 flow).  udp-unconnected needs
 *       LOCAL, the source address the route picks.
 *   listener tcp|udp BIND PORT LOCAL REMOTE [dualstack]
 *       binds BIND:PORT itself; an inbound flow REMOTE → LOCAL:PORT must
 *       find that socket and attribute it to us; another port must not.
 *   attrib-in tcp|udp LOCAL PORT REMOTE PID EXE
 *       an inbound flow to a listener of another process: PID and EXE.
 *   owner-gone REMOTE PORT
 *       a socket no process holds (its only reference is an fd in flight
 *       on a unix socket): the uid is known, the owner is not.
 *   no-socket REMOTE PORT
 *       a flow without socket: the uid hint is kept.
 *   proc-exec PATH       a child exec'ing PATH is named PATH
 *   proc-exited PATH     ... and still after it exited and was reaped
 *                        (the exec is read by the connector while it runs)
 *   proc-deleted PATH    ... with PATH deleted: " (deleted)" stripped
 *   proc-overrun PATH    a connector overrun (ENOBUFS) is reported and
 *                        survived: a child exec'ing PATH is named after it
 *   proc-mode            print ag_proc_mode()
 *   procfs-only REMOTE PORT
 *       attribution of a TCP flow with the connector disabled
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "attr_common.h"
#include "linux/attrib.h"
#include "linux/proc.h"
#include "linux/sockdiag.h"

#define TEST_UID 4242

static struct ag_proc *proc;
static struct ag_sockdiag *sd;
static struct ag_attrib *attrib;
static char self_exe[4096];

static void open_proc(int no_connector)
{
	struct ag_proc_config cfg = { .no_connector = no_connector };

	proc = ag_proc_open(&cfg);
	if (!proc)
		attr_die("ag_proc_open: %s", strerror(errno));
	printf("# %s\n", ag_proc_mode(proc));
}

static void open_net(void)
{
	sd = ag_sockdiag_open();
	if (!sd)
		attr_die("ag_sockdiag_open: %s", strerror(errno));
	attrib = ag_attrib_new(sd, proc);
	if (!attrib)
		attr_die("ag_attrib_new: %s", strerror(errno));
}

/* A socket created with fsuid TEST_UID, which sock_diag reports as its uid. */
static int socket_as_test_uid(int family, int type)
{
	int fd;

	setfsuid(TEST_UID);
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	setfsuid(0);
	if (fd == -1)
		attr_die("socket: %s", strerror(errno));
	return fd;
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		attr_die("fstat: %s", strerror(errno));
	return st.st_ino;
}

static void expect_attrib_self(const struct ag_tuple *t, int direction)
{
	struct ag_attrib_result res;
	int r = ag_attrib_lookup(attrib, t, direction, AG_UID_UNKNOWN, &res);

	printf("attrib: why=%s pid=%d exe=%s uid=%u flags=0x%x %.1f us\n",
	       ag_attrib_why_str(res.why), (int)res.proc.pid, res.proc.exe,
	       res.uid, res.flags, res.elapsed_ns / 1000.0);
	if (r != 0 || res.why != AG_ATTRIB_OK)
		attr_die("attribution of %s failed: %s (err %d)",
			 attr_tuple_str(t), ag_attrib_why_str(res.why), res.err);
	if (res.proc.pid != getpid())
		attr_die("attributed to pid %d, not to us (%d)",
			 (int)res.proc.pid, (int)getpid());
	if (strcmp(res.proc.exe, self_exe) != 0)
		attr_die("attributed to exe \"%s\", not \"%s\"", res.proc.exe,
			 self_exe);
}

static int cmd_sock(const char *kind, const char *remote, uint16_t port,
		    const char *local)
{
	struct attr_addr ra, la;
	struct ag_tuple t;
	struct ag_sock_info si;
	bool tcp = strncmp(kind, "tcp", 3) == 0;
	int fd, r;

	attr_parse_addr(remote, port, &ra);
	fd = socket_as_test_uid(ra.sock_family, tcp ? SOCK_STREAM : SOCK_DGRAM);
	if (ra.sock_family == AF_INET6) {
		int zero = 0;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (strcmp(kind, "tcp") == 0 || strcmp(kind, "udp") == 0) {
		if (connect(fd, &ra.u.sa, ra.len) == -1)
			attr_die("connect %s:%u: %s", remote, port,
				 strerror(errno));
		attr_socket_tuple(fd, tcp ? IPPROTO_TCP : IPPROTO_UDP, &t);
	} else if (strcmp(kind, "tcp-synsent") == 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int ipv;

		fcntl(fd, F_SETFL, O_NONBLOCK);
		if (connect(fd, &ra.u.sa, ra.len) == 0 || errno != EINPROGRESS)
			attr_die("connect %s:%u did not stay pending: %s",
				 remote, port, strerror(errno));
		/* No peer name before the handshake: the remote is known. */
		memset(&t, 0, sizeof(t));
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		attr_sockaddr_flow(&ss, t.src.b, &t.sport, &ipv);
		memcpy(t.dst.b, ra.flow, 16);
		t.dport = port;
		t.ip_version = (uint8_t)ra.ip_version;
		t.protocol = IPPROTO_TCP;
	} else if (strcmp(kind, "udp-unconnected") == 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int ipv;

		if (!local)
			attr_die("udp-unconnected needs LOCAL");
		if (sendto(fd, "x", 1, 0, &ra.u.sa, ra.len) != 1)
			attr_die("sendto: %s", strerror(errno));
		attr_parse_addr(local, 0, &la);
		memset(&t, 0, sizeof(t));
		getsockname(fd, (struct sockaddr *)&ss, &sl);
		attr_sockaddr_flow(&ss, t.src.b, &t.sport, &ipv);
		/* The socket is bound to the wildcard; the packet is not. */
		memcpy(t.src.b, la.flow, 16);
		memcpy(t.dst.b, ra.flow, 16);
		t.dport = port;
		t.ip_version = (uint8_t)ra.ip_version;
		t.protocol = IPPROTO_UDP;
	} else {
		attr_die("unknown kind \"%s\"", kind);
	}

	r = ag_sockdiag_lookup(sd, &t, &si);
	if (r < 0)
		attr_die("lookup of %s: %s", attr_tuple_str(&t), strerror(-r));
	printf("sock: %s inode=%llu uid=%u state=%u family=%u mapped=%d "
	       "cookie=%llx\n", attr_tuple_str(&t),
	       (unsigned long long)si.inode, si.uid, si.state, si.family,
	       !!(si.flags & AG_SOCK_F_MAPPED), (unsigned long long)si.cookie);
	if (si.inode != inode_of(fd))
		attr_die("inode %llu, fstat says %llu",
			 (unsigned long long)si.inode,
			 (unsigned long long)inode_of(fd));
	if (si.uid != TEST_UID)
		attr_die("uid %u, socket made as %u", si.uid, TEST_UID);
	if (strcmp(kind, "tcp-synsent") == 0 && si.state != TCP_SYN_SENT)
		attr_die("state %u, expected SYN_SENT", si.state);
	if (strcmp(kind, "udp-unconnected") == 0 && si.id.dport != 0)
		attr_die("found a connected socket");
	if (ra.sock_family == AF_INET6 && ra.ip_version == 4 &&
	    si.family != AF_INET6)
		attr_die("IPv4-mapped flow found a socket of family %u",
			 si.family);

	expect_attrib_self(&t, AG_ATTRIB_OUTBOUND);

	/* Twice: the second answer comes from the inode cache or, for TCP,
	 * from taking the fd the first one found; no fd is read either way. */
	{
		struct ag_proc_stats a, b;

		ag_proc_get_stats(proc, &a);
		expect_attrib_self(&t, AG_ATTRIB_OUTBOUND);
		ag_proc_get_stats(proc, &b);
		if (b.inode_hits != a.inode_hits + 1 && b.take_found != a.take_found + 1)
			attr_die("second lookup missed the inode cache and did not take the fd");
		if (b.fds_read != a.fds_read || b.scans != a.scans)
			attr_die("second lookup read %llu fd links",
				 (unsigned long long)(b.fds_read - a.fds_read));
		if (tcp && b.take_found != a.take_found + 1)
			attr_die("second lookup of a TCP socket did not take its fd");
	}
	return 0;
}

static void inbound_tuple(int proto, const char *local, uint16_t port,
			  const char *remote, uint16_t rport,
			  struct ag_tuple *pkt)
{
	struct attr_addr la, ra;

	attr_parse_addr(local, port, &la);
	attr_parse_addr(remote, rport, &ra);
	memset(pkt, 0, sizeof(*pkt));
	pkt->ip_version = (uint8_t)la.ip_version;
	pkt->protocol = (uint8_t)proto;
	memcpy(pkt->src.b, ra.flow, 16);
	memcpy(pkt->dst.b, la.flow, 16);
	pkt->sport = rport;
	pkt->dport = port;
}

static int cmd_listener(const char *proto, const char *bind_addr,
			uint16_t port, const char *local, const char *remote,
			int dualstack)
{
	struct attr_addr ba;
	struct ag_tuple pkt, loc;
	struct ag_sock_info si;
	bool tcp = strcmp(proto, "tcp") == 0;
	int fd, one = 1, r;

	attr_parse_addr(bind_addr, port, &ba);
	fd = socket_as_test_uid(ba.sock_family, tcp ? SOCK_STREAM : SOCK_DGRAM);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ba.sock_family == AF_INET6) {
		int v6only = !dualstack;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
			   sizeof(v6only));
	}
	if (bind(fd, &ba.u.sa, ba.len) == -1)
		attr_die("bind %s:%u: %s", bind_addr, port, strerror(errno));
	if (tcp && listen(fd, 16) == -1)
		attr_die("listen: %s", strerror(errno));

	inbound_tuple(tcp ? IPPROTO_TCP : IPPROTO_UDP, local, port, remote,
		      40000, &pkt);
	ag_tuple_reverse(&pkt, &loc);
	r = ag_sockdiag_lookup_listener(sd, &loc, &si);
	if (r < 0)
		attr_die("listener lookup of %s: %s", attr_tuple_str(&loc),
			 strerror(-r));
	printf("listener: %s inode=%llu uid=%u state=%u family=%u\n",
	       attr_tuple_str(&loc), (unsigned long long)si.inode, si.uid,
	       si.state, si.family);
	if (si.inode != inode_of(fd))
		attr_die("inode %llu, fstat says %llu",
			 (unsigned long long)si.inode,
			 (unsigned long long)inode_of(fd));
	if (si.uid != TEST_UID)
		attr_die("uid %u, socket made as %u", si.uid, TEST_UID);
	if (tcp && si.state != TCP_LISTEN)
		attr_die("state %u, not LISTEN", si.state);
	expect_attrib_self(&pkt, AG_ATTRIB_INBOUND);

	/* A flow to a port nobody listens on finds nothing. */
	loc.sport = (uint16_t)(port + 1);
	r = ag_sockdiag_lookup_listener(sd, &loc, &si);
	if (r != -ENOENT)
		attr_die("port %u without listener: got %d, not -ENOENT",
			 loc.sport, r);
	/* Nor does an outbound lookup return the listener for a flow. */
	r = ag_sockdiag_lookup(sd, &(struct ag_tuple){ 0 }, &si);
	if (r != -EINVAL)
		attr_die("an empty tuple was not refused: %d", r);
	if (tcp) {
		loc.sport = port;
		r = ag_sockdiag_lookup(sd, &loc, &si);
		if (r != -ENOENT)
			attr_die("a flow lookup returned the listener (%d)", r);
	}
	return 0;
}

static int cmd_attrib_in(const char *proto, const char *local, uint16_t port,
			 const char *remote, pid_t pid, const char *exe)
{
	struct ag_tuple pkt;
	struct ag_attrib_result res;
	int r;

	inbound_tuple(strcmp(proto, "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP,
		      local, port, remote, 40001, &pkt);
	r = ag_attrib_lookup(attrib, &pkt, AG_ATTRIB_INBOUND, AG_UID_UNKNOWN,
			     &res);
	printf("attrib-in: why=%s pid=%d exe=%s cmdline=\"%s\" flags=0x%x "
	       "%.1f us\n", ag_attrib_why_str(res.why), (int)res.proc.pid,
	       res.proc.exe, res.proc.cmdline, res.flags,
	       res.elapsed_ns / 1000.0);
	if (r != 0)
		attr_die("inbound %s not attributed: %s", attr_tuple_str(&pkt),
			 ag_attrib_why_str(res.why));
	if (res.proc.pid != pid || strcmp(res.proc.exe, exe) != 0)
		attr_die("attributed to %d %s, expected %d %s",
			 (int)res.proc.pid, res.proc.exe, (int)pid, exe);
	return 0;
}

static int cmd_owner_gone(const char *remote, uint16_t port)
{
	struct attr_addr ra;
	struct ag_tuple t;
	struct ag_attrib_result res;
	int fd, sv[2], r;
	char c = 'x';
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;

	attr_parse_addr(remote, port, &ra);
	fd = socket_as_test_uid(ra.sock_family, SOCK_STREAM);
	if (connect(fd, &ra.u.sa, ra.len) == -1)
		attr_die("connect: %s", strerror(errno));
	attr_socket_tuple(fd, IPPROTO_TCP, &t);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == -1)
		attr_die("socketpair: %s", strerror(errno));
	memset(u.buf, 0, sizeof(u.buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sv[0], &msg, 0) != 1)
		attr_die("sendmsg: %s", strerror(errno));
	/* Now only the message in flight holds the socket. */
	close(fd);

	r = ag_attrib_lookup(attrib, &t, AG_ATTRIB_OUTBOUND, AG_UID_UNKNOWN,
			     &res);
	printf("owner-gone: why=%s uid=%u flags=0x%x pid=%d %.1f us\n",
	       ag_attrib_why_str(res.why), res.uid, res.flags,
	       (int)res.proc.pid, res.elapsed_ns / 1000.0);
	if (r != -ENOENT || res.why != AG_ATTRIB_NO_OWNER)
		attr_die("expected \"no process holds the socket\", got %s",
			 ag_attrib_why_str(res.why));
	if (res.uid != TEST_UID || !(res.flags & AG_ATTRIB_F_SOCKET) ||
	    res.proc.pid != -1 || res.proc.exe[0])
		attr_die("uid %u pid %d exe \"%s\": expected uid %u and no "
			 "process", res.uid, (int)res.proc.pid, res.proc.exe,
			 TEST_UID);
	return 0;
}

static int cmd_no_socket(const char *remote, uint16_t port)
{
	struct ag_tuple t;
	struct ag_attrib_result res;
	struct attr_addr ra;
	int r;

	attr_parse_addr(remote, port, &ra);
	memset(&t, 0, sizeof(t));
	t.ip_version = (uint8_t)ra.ip_version;
	t.protocol = IPPROTO_UDP;
	memcpy(t.dst.b, ra.flow, 16);
	t.sport = 1;	/* no socket uses port 1 here */
	t.dport = port;
	r = ag_attrib_lookup(attrib, &t, AG_ATTRIB_OUTBOUND, 777, &res);
	printf("no-socket: why=%s uid=%u flags=0x%x\n",
	       ag_attrib_why_str(res.why), res.uid, res.flags);
	if (r != -ENOENT || res.why != AG_ATTRIB_NO_SOCKET || res.uid != 777 ||
	    !(res.flags & AG_ATTRIB_F_UID_HINT))
		attr_die("expected no socket with uid 777 from the hint");
	return 0;
}

/* ---- process cache ------------------------------------------------------- */

static pid_t spawn2(const char *path, const char *arg, const char *arg2)
{
	pid_t pid = fork();

	if (pid == -1)
		attr_die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		execl(path, path, arg, arg2, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static pid_t spawn(const char *path, const char *arg)
{
	return spawn2(path, arg, NULL);
}

/*
 * Handle connector events for @ms milliseconds, or, when @child > 0, until
 * @child has exited and been reaped (at most @ms).  Return: 0 when done
 * as asked, -1 on timeout.
 */
static int pump(int ms, pid_t child, int *status)
{
	uint64_t end = attr_now_ns() + (uint64_t)ms * 1000000u;

	while (attr_now_ns() < end) {
		struct pollfd pfd = { ag_proc_fd(proc), POLLIN, 0 };

		poll(&pfd, pfd.fd >= 0 ? 1 : 0, 10);
		ag_proc_receive(proc);
		if (child > 0 && waitpid(child, status, WNOHANG) == child)
			return 0;
	}
	return child > 0 ? -1 : 0;
}

static void expect_named(pid_t pid, const char *path, bool exited)
{
	struct ag_proc_info info;
	int r = ag_proc_get(proc, pid, &info);

	if (r < 0)
		attr_die("pid %d not in the cache: %s", (int)pid, strerror(-r));
	printf("proc: pid=%d exe=%s cmdline=\"%s\" flags=0x%x uid=%u "
	       "start=%llu\n", (int)info.pid, info.exe, info.cmdline,
	       info.flags, info.uid, (unsigned long long)info.start_time);
	if (strcmp(info.exe, path) != 0)
		attr_die("pid %d named \"%s\", not \"%s\"", (int)pid, info.exe,
			 path);
	if (exited != !!(info.flags & AG_PROC_EXITED))
		attr_die("exited flag is %d, expected %d",
			 !!(info.flags & AG_PROC_EXITED), exited);
}

static int cmd_proc_exec(const char *path)
{
	pid_t pid = spawn(path, "sleep");
	char want[4200];
	struct ag_proc_info info;

	pump(200, 0, NULL);
	expect_named(pid, path, false);
	ag_proc_get(proc, pid, &info);
	snprintf(want, sizeof(want), "%s sleep", path);
	if (strcmp(info.cmdline, want) != 0)
		attr_die("cmdline \"%s\", expected \"%s\"", info.cmdline, want);
	if (info.ppid != getpid())
		attr_die("ppid %d, expected %d", (int)info.ppid, (int)getpid());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

static int cmd_proc_exited(const char *path)
{
	struct ag_proc_stats st;
	char dir[64];
	int status = 0;
	pid_t pid;

	if (ag_proc_fd(proc) < 0)
		attr_die("needs the proc connector: %s", ag_proc_mode(proc));
	/*
	 * It lives 100 ms after its exec: the exec is read while it runs even
	 * when this probe waits for a CPU (a process that exits within a few
	 * hundred microseconds of its exec can be missed; then comm remains).
	 */
	pid = spawn2(path, "linger", "100");
	/* Until it is reaped, then a little longer for its exit event. */
	if (pump(5000, pid, &status) < 0)
		attr_die("child %d did not exit", (int)pid);
	pump(100, 0, NULL);
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (access(dir, F_OK) == 0)
		attr_die("%s still exists", dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		attr_die("child did not exit cleanly (status 0x%x)", status);
	expect_named(pid, path, true);
	ag_proc_get_stats(proc, &st);
	printf("stats: exec=%llu exit=%llu exec_missed=%llu\n",
	       (unsigned long long)st.ev_exec, (unsigned long long)st.ev_exit,
	       (unsigned long long)st.exec_missed);
	return 0;
}

static int cmd_proc_deleted(const char *path)
{
	pid_t pid = spawn(path, "sleep");
	struct ag_proc_info info;
	struct ag_proc *p2;
	struct ag_proc_config cfg = { .no_connector = 1 };

	pump(200, 0, NULL);
	if (unlink(path) == -1)
		attr_die("unlink %s: %s", path, strerror(errno));
	/* A cache that reads the process now sees "PATH (deleted)". */
	p2 = ag_proc_open(&cfg);
	if (!p2)
		attr_die("ag_proc_open: %s", strerror(errno));
	if (ag_proc_get(p2, pid, &info) < 0)
		attr_die("pid %d not found", (int)pid);
	printf("proc: pid=%d exe=%s flags=0x%x\n", (int)pid, info.exe,
	       info.flags);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (strcmp(info.exe, path) != 0)
		attr_die("exe \"%s\", expected \"%s\"", info.exe, path);
	if (!(info.flags & AG_PROC_EXE_DELETED))
		attr_die("deleted flag not set");
	ag_proc_close(p2);
	return 0;
}

static int cmd_proc_overrun(const char *path)
{
	struct ag_proc_config cfg = { .rcvbuf = 1 };
	struct ag_proc_stats st;
	pid_t pid;
	int r, lost = 0;

	/* The smallest buffer the kernel allows: a few events fit. */
	ag_proc_close(proc);
	proc = ag_proc_open(&cfg);
	if (!proc || ag_proc_fd(proc) < 0)
		attr_die("no connector: %s", proc ? ag_proc_mode(proc) : "");
	for (int i = 0; i < 64; i++) {
		pid = spawn(path, "exit");
		waitpid(pid, NULL, 0);
	}
	for (int k = 0; k < 100 && !lost; k++) {
		r = ag_proc_receive(proc);
		if (r == -ENOBUFS)
			lost = 1;
		else if (r < 0)
			attr_die("ag_proc_receive: %s", strerror(-r));
		else if (r == 0)
			break;
	}
	ag_proc_get_stats(proc, &st);
	printf("overrun: lost %llu times, %llu execs seen\n",
	       (unsigned long long)st.ev_lost, (unsigned long long)st.ev_exec);
	if (!lost || st.ev_lost != 1)
		attr_die("64 processes did not overrun the connector socket");
	/* Survived: the next process is still named. */
	pid = spawn(path, "sleep");
	pump(200, 0, NULL);
	expect_named(pid, path, false);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

static int cmd_procfs_only(const char *remote, uint16_t port)
{
	struct attr_addr ra;
	struct ag_tuple t;
	int fd;

	if (ag_proc_fd(proc) >= 0)
		attr_die("the connector is in use: %s", ag_proc_mode(proc));
	attr_parse_addr(remote, port, &ra);
	fd = socket(ra.sock_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, &ra.u.sa, ra.len) == -1)
		attr_die("connect %s:%u: %s", remote, port, strerror(errno));
	attr_socket_tuple(fd, IPPROTO_TCP, &t);
	expect_attrib_self(&t, AG_ATTRIB_OUTBOUND);
	return 0;
}

int main(int argc, char **argv)
{
	const char *netns = NULL, *cmd;
	int no_connector = 0;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (argc > 2 && argv[1][0] == '-') {
		if (strcmp(argv[1], "--netns") == 0 && argc > 3) {
			netns = argv[2];
			argv += 2;
			argc -= 2;
		} else if (strcmp(argv[1], "--no-connector") == 0) {
			no_connector = 1;
			argv++;
			argc--;
		} else {
			attr_die("unknown option \"%s\"", argv[1]);
		}
	}
	if (argc < 2)
		attr_die("usage: attr_probe [--netns NAME] COMMAND ...");
	cmd = argv[1];
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n < 0)
		attr_die("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = '\0';

	open_proc(no_connector);
	if (netns)
		attr_enter_netns(netns);
	open_net();

	if (strcmp(cmd, "sock") == 0 && argc >= 5)
		return cmd_sock(argv[2], argv[3], (uint16_t)atoi(argv[4]),
				argc > 5 ? argv[5] : NULL);
	if (strcmp(cmd, "listener") == 0 && argc >= 7)
		return cmd_listener(argv[2], argv[3], (uint16_t)atoi(argv[4]),
				    argv[5], argv[6],
				    argc > 7 && strcmp(argv[7], "dualstack") == 0);
	if (strcmp(cmd, "attrib-in") == 0 && argc == 8)
		return cmd_attrib_in(argv[2], argv[3], (uint16_t)atoi(argv[4]),
				     argv[5], (pid_t)atoi(argv[6]), argv[7]);
	if (strcmp(cmd, "owner-gone") == 0 && argc == 4)
		return cmd_owner_gone(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(cmd, "no-socket") == 0 && argc == 4)
		return cmd_no_socket(argv[2], (uint16_t)atoi(argv[3]));
	if (strcmp(cmd, "proc-exec") == 0 && argc == 3)
		return cmd_proc_exec(argv[2]);
	if (strcmp(cmd, "proc-exited") == 0 && argc == 3)
		return cmd_proc_exited(argv[2]);
	if (strcmp(cmd, "proc-deleted") == 0 && argc == 3)
		return cmd_proc_deleted(argv[2]);
	if (strcmp(cmd, "proc-overrun") == 0 && argc == 3)
		return cmd_proc_overrun(argv[2]);
	if (strcmp(cmd, "proc-mode") == 0)
		return 0;
	if (strcmp(cmd, "procfs-only") == 0 && argc == 4)
		return cmd_procfs_only(argv[2], (uint16_t)atoi(argv[3]));
	attr_die("unknown command or arguments: %s", cmd);
}
