/*
 * chain_bench — what a firewall ruleset costs a TCP connection, for several
 * rulesets side by side in one run.
 *
 *   chain_bench [-n CONNS] [-r ROUNDS] [-m MARK] NAME=COMMAND ...
 *
 * Every NAME=COMMAND gets a pair of network namespaces joined by veth
 * (client 192.0.2.1, server 192.0.2.2: documentation addresses, reachable
 * only inside the pair), made and removed by this program; COMMAND is run
 * by sh inside the client namespace to install the rules under test (an
 * empty COMMAND installs none).  The first configuration is the reference.
 *
 * ROUNDS rounds (default 30) visit every configuration in turn, starting
 * one further each round, and make CONNS (default 500) sequential
 * connections in each: connect, 32 bytes each way, wait for the server to
 * close (so that no TIME_WAIT stays on the client side), close.  Every
 * client socket gets SO_MARK MARK first (default 0xc00000, AUTH | FAST:
 * the mark the eBPF fast path puts on a socket it allows, so that alegate's
 * chains see the flow as the fast path's without the eBPF programs; -m 0
 * for none).
 *
 * Per configuration, the medians over rounds of: CPU time per connection
 * (this process's user + system time, which holds the softirq work done
 * in its threads' context: both ends of the veth are here), wall time per
 * connection, and the median connect() latency; each also against the
 * reference.  CPU time is the steadiest of the three on a shared machine.
 *
 * Needs root.  Exit: 0 done, 1 failed (why on stderr), 2 usage.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQ_LEN		32
#define PORT		5555
#define CLIENT_ADDR	"192.0.2.1"
#define SERVER_ADDR	"192.0.2.2"
#define MAX_CFGS	8
#define MAX_ROUNDS	1000
#define MAX_CONNS	100000

struct cfg {
	char name[32];
	const char *command;
	char cns[32], sns[32];	/* namespace names */
	int cfd;		/* client namespace */
	int lfd;		/* listening socket, in the server namespace */
	pthread_t server;
	bool made, serving;
	double cpu_us[MAX_ROUNDS], wall_us[MAX_ROUNDS], p50_us[MAX_ROUNDS];
};

static struct cfg cfgs[MAX_CFGS];
static int ncfgs;
static int sock_mark = 0xc00000;
static double lat_us[MAX_CONNS];

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n), n at most MAX_CONNS; v is left as it was. */
static double median(const double *v, int n)
{
	static double t[MAX_CONNS];

	memcpy(t, v, (size_t)n * sizeof(double));
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	return n ? t[n / 2] : 0;
}

/* Run a shell command; 0 when it exited 0. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(cmd))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

static void cleanup(void)
{
	for (int i = 0; i < ncfgs; i++) {
		if (!cfgs[i].made)
			continue;
		sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", cfgs[i].cns,
		   cfgs[i].sns);
		cfgs[i].made = false;
	}
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

/* The server: read the request, answer, close first. */
static void *serve(void *arg)
{
	struct cfg *c = arg;
	char buf[REQ_LEN];

	for (;;) {
		int fd = accept(c->lfd, NULL, NULL);
		size_t got = 0;
		ssize_t n;

		if (fd == -1)
			continue;
		while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)n;
		if (got == sizeof(buf))
			(void)!write(fd, buf, sizeof(buf));
		close(fd);
	}
	return NULL;
}

static int enter(const char *ns)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = setns(fd, CLONE_NEWNET);
	close(fd);
	return r;
}

static int setup(struct cfg *c, int i, int home)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	char path[64];
	int one = 1;

	snprintf(c->cns, sizeof(c->cns), "agcb%dc%d", (int)getpid(), i);
	snprintf(c->sns, sizeof(c->sns), "agcb%ds%d", (int)getpid(), i);
	c->made = true;
	if (sh("ip netns add %s && ip netns add %s && "
	       "ip link add cb%dc%d netns %s type veth peer name cb%ds%d netns %s && "
	       "ip -n %s addr add " CLIENT_ADDR "/24 dev cb%dc%d && "
	       "ip -n %s addr add " SERVER_ADDR "/24 dev cb%ds%d && "
	       "ip -n %s link set cb%dc%d up && ip -n %s link set cb%ds%d up && "
	       "ip -n %s link set lo up && ip -n %s link set lo up && "
	       "ip netns exec %s sysctl -qw net.ipv4.tcp_max_tw_buckets=0",
	       c->cns, c->sns, (int)getpid(), i, c->cns, (int)getpid(), i, c->sns,
	       c->cns, (int)getpid(), i, c->sns, (int)getpid(), i,
	       c->cns, (int)getpid(), i, c->sns, (int)getpid(), i,
	       c->cns, c->sns, c->sns)) {
		fprintf(stderr, "chain_bench: %s: cannot make its namespaces\n", c->name);
		return -1;
	}
	if (c->command[0] && sh("ip netns exec %s sh -c '%s'", c->cns, c->command)) {
		fprintf(stderr, "chain_bench: %s: \"%s\" failed\n", c->name, c->command);
		return -1;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", c->cns);
	c->cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->cfd == -1 || enter(c->sns)) {
		perror("chain_bench: namespace");
		return -1;
	}
	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, SERVER_ADDR, &a.sin_addr);
	if (c->lfd == -1 || bind(c->lfd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(c->lfd, 1024) == -1) {
		perror("chain_bench: server");
		return -1;
	}
	if (setns(home, CLONE_NEWNET)) {
		perror("chain_bench: setns");
		return -1;
	}
	if (pthread_create(&c->server, NULL, serve, c)) {
		fprintf(stderr, "chain_bench: cannot start a server thread\n");
		return -1;
	}
	pthread_detach(c->server);
	c->serving = true;
	return 0;
}

/* CONNS connections from the client namespace; with round >= 0, record. */
static int run(struct cfg *c, int conns, int round, int home)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct timeval tv = { .tv_sec = 3 };
	char buf[REQ_LEN] = { 0 };
	double cpu0, wall0;
	int ret = 0;

	inet_pton(AF_INET, SERVER_ADDR, &a.sin_addr);
	if (setns(c->cfd, CLONE_NEWNET))
		return -1;
	cpu0 = cpu_s();
	wall0 = now_s();
	for (int i = 0; i < conns && !ret; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		size_t got = 0;
		ssize_t n;
		double t;

		if (fd == -1)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (sock_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &sock_mark, sizeof(sock_mark)))
			ret = -1;
		t = now_s();
		if (!ret && connect(fd, (struct sockaddr *)&a, sizeof(a)))
			ret = -1;
		lat_us[i] = (now_s() - t) * 1e6;
		if (!ret && write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			ret = -1;
		while (!ret && got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)n;
		if (!ret && (got != sizeof(buf) || read(fd, buf, 1) != 0))
			ret = -1;
		close(fd);
	}
	if (ret)
		fprintf(stderr, "chain_bench: %s: a connection failed\n", c->name);
	else if (round >= 0) {
		c->cpu_us[round] = (cpu_s() - cpu0) / conns * 1e6;
		c->wall_us[round] = (now_s() - wall0) / conns * 1e6;
		c->p50_us[round] = median(lat_us, conns);
	}
	if (setns(home, CLONE_NEWNET))
		return -1;
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: chain_bench [-n CONNS] [-r ROUNDS] [-m MARK] NAME=COMMAND ...\n");
	return 2;
}

int main(int argc, char **argv)
{
	int conns = 500, rounds = 30, opt, home;

	while ((opt = getopt(argc, argv, "n:r:m:")) != -1) {
		switch (opt) {
		case 'n': conns = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'm': sock_mark = (int)strtoul(optarg, NULL, 0); break;
		default: return usage();
		}
	}
	if (conns < 1 || conns > MAX_CONNS || rounds < 1 || rounds > MAX_ROUNDS ||
	    optind == argc || argc - optind > MAX_CFGS)
		return usage();
	for (int i = optind; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		struct cfg *c = &cfgs[ncfgs++];

		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(c->name) ||
		    strchr(eq + 1, '\'')) {
			fprintf(stderr, "chain_bench: \"%s\": want NAME=COMMAND, no single quotes\n",
				argv[i]);
			return 2;
		}
		snprintf(c->name, sizeof(c->name), "%.*s", (int)(eq - argv[i]), argv[i]);
		c->command = eq + 1;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home == -1) {
		perror("chain_bench: /proc/self/ns/net");
		return 1;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = 0; i < ncfgs; i++)
		if (setup(&cfgs[i], i, home))
			return 1;
	for (int i = 0; i < ncfgs; i++)	/* warm-up, not recorded */
		if (run(&cfgs[i], conns, -1, home))
			return 1;
	for (int r = 0; r < rounds; r++)
		for (int j = 0; j < ncfgs; j++)
			if (run(&cfgs[(j + r) % ncfgs], conns, r, home))
				return 1;

	printf("chain_bench: %d rounds x %d sequential TCP connections per configuration, "
	       "socket mark 0x%x; medians over rounds, against %s\n",
	       rounds, conns, (unsigned)sock_mark, cfgs[0].name);
	printf("%-16s %10s %8s %10s %8s %10s %8s\n", "configuration", "cpu_us", "", "wall_us",
	       "", "p50_us", "");
	double c0 = median(cfgs[0].cpu_us, rounds), w0 = median(cfgs[0].wall_us, rounds),
	       l0 = median(cfgs[0].p50_us, rounds);

	for (int i = 0; i < ncfgs; i++) {
		double c = median(cfgs[i].cpu_us, rounds), w = median(cfgs[i].wall_us, rounds),
		       l = median(cfgs[i].p50_us, rounds);

		printf("%-16s %10.2f %+7.1f%% %10.2f %+7.1f%% %10.1f %+7.1f%%\n", cfgs[i].name, c,
		       (c / c0 - 1) * 100, w, (w / w0 - 1) * 100, l, (l / l0 - 1) * 100);
	}
	return 0;
}
