/*
 * fp_ctl — drive the fast path (lib/linux/fastpath) for the netns tests.
 *
 *   fp_ctl [-n NETNS] [-c CGROUP] [-p PIN] [-l] COMMAND ...
 *
 *   -n NETNS   enter this network namespace (a /run/netns/NAME file) first;
 *              only the network namespace: the cgroup tree stays visible
 *   -c CGROUP  cgroup v2 directory to attach to (default: the system's)
 *   -p PIN     pin the UDP match program there (a bpf filesystem)
 *   -l         decide loopback flows too (else flows to 127/8, ::1 and this
 *              namespace's own addresses, read at start, are left alone)
 *
 *   serve RULES   load RULES, print "ready", then read commands on stdin:
 *                   load RULES   -> "loaded N us=T" or "error MESSAGE"
 *                   stats        -> "allowed N denied N passed N ignored N
 *                                    udp_matched N errors N epoch N"
 *                   status       -> ag_fp_status()'s line
 *                   reeval COOKIE ADDR PORT tcp|udp
 *                                -> "allow|deny|pass rule N epoch E": the
 *                                   socket the hooks allowed, decided again
 *                                   under the rules in use (S12), or "error"
 *                   quit         (also at end of input)
 *   flip RULES_A RULES_B ADDR PORT
 *                 load A, connect to ADDR:PORT (TCP), load B, connect again
 *                 at once; print "flip A_RESULT B_RESULT update_us=U total_us=T"
 *                 where a result is "ok" or an errno name and T runs from
 *                 the start of the update to the end of the second connect
 *   open          print "ok" or "error MESSAGE" (ag_fp_open's reason)
 *
 * A RULES file holds one rule per line, in the engine's order ('#' starts
 * a comment):
 *   allow|deny|ask|barrier [app=PATH | glob=PATTERN] [uid=N[-M]]
 *       [remote=ADDR[/LEN]] [port=N[-M]] [proto=tcp|udp] [family=4|6]
 * (family takes any digit, so that a test can make an update fail)
 * "barrier" is a rule the kernel cannot evaluate.  An app PATH is resolved
 * with ag_fp_exe_resolve(); one that does not resolve is reported on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "linux/fastpath.h"

#define MAX_RULES 4096
#define LINE_MAX_ 1024

struct rules {
	struct ag_fp_rule r[MAX_RULES];
	struct ag_fp_prefix remote[MAX_RULES];
	char *strs[MAX_RULES];
	size_t n;
};

static struct rules rs;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_range(const char *s, unsigned long max, uint32_t *lo, uint32_t *hi)
{
	char *end;
	unsigned long a = strtoul(s, &end, 10), b = a;

	if (end == s)
		return -1;
	if (*end == '-') {
		const char *t = end + 1;

		b = strtoul(t, &end, 10);
		if (end == t)
			return -1;
	}
	if (*end || a > b || b > max)
		return -1;
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 0;
}

static int parse_prefix(const char *s, struct ag_fp_prefix *p)
{
	char buf[128];
	char *slash;
	unsigned long len;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr.b) == 1)
		p->family = 4;
	else if (inet_pton(AF_INET6, buf, p->addr.b) == 1)
		p->family = 6;
	else
		return -1;
	len = p->family == 4 ? 32 : 128;
	if (slash) {
		char *end;
		unsigned long l = strtoul(slash, &end, 10);

		if (*end || l > len)
			return -1;
		len = l;
	}
	p->plen = (uint8_t)len;
	return 0;
}

static void rules_free(void)
{
	for (size_t i = 0; i < rs.n; i++)
		free(rs.strs[i]);
	memset(&rs, 0, sizeof(rs));
}

/* Returns 0, or -1 with a message on stderr quoting the bad word. */
static int rules_load(const char *file)
{
	char line[LINE_MAX_];
	FILE *f = fopen(file, "r");
	int lineno = 0;

	rules_free();
	if (!f) {
		fprintf(stderr, "fp_ctl: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *save, *w, *hash = strchr(line, '#');
		struct ag_fp_rule *r;

		lineno++;
		if (hash)
			*hash = 0;
		w = strtok_r(line, " \t\n", &save);
		if (!w)
			continue;
		if (rs.n == MAX_RULES) {
			fprintf(stderr, "fp_ctl: %s:%d: more than %d rules\n", file, lineno, MAX_RULES);
			goto bad;
		}
		r = &rs.r[rs.n];
		memset(r, 0, sizeof(*r));
		r->evaluable = true;
		r->id = (uint64_t)lineno;
		if (!strcmp(w, "allow"))
			r->verdict = AG_FP_ALLOW;
		else if (!strcmp(w, "deny"))
			r->verdict = AG_FP_DENY;
		else if (!strcmp(w, "ask"))
			r->verdict = AG_FP_PASS;
		else if (!strcmp(w, "barrier"))
			r->evaluable = false;
		else {
			fprintf(stderr, "fp_ctl: %s:%d: unknown verdict \"%s\"\n", file, lineno, w);
			goto bad;
		}
		while ((w = strtok_r(NULL, " \t\n", &save))) {
			char *v = strchr(w, '=');
			uint32_t lo, hi;

			if (!v) {
				fprintf(stderr, "fp_ctl: %s:%d: \"%s\" is not KEY=VALUE\n", file, lineno, w);
				goto bad;
			}
			*v++ = 0;
			if (!strcmp(w, "app") || !strcmp(w, "glob")) {
				rs.strs[rs.n] = strdup(v);
				r->app = rs.strs[rs.n];
				r->has |= AG_FP_HAS_APP;
				r->app_glob = w[0] == 'g';
				if (!r->app_glob) {
					int e = ag_fp_exe_resolve(v, &r->exe);

					if (e)
						fprintf(stderr, "fp_ctl: %s:%d: \"%s\" has no identity: %s\n",
							file, lineno, v, strerror(-e));
				}
			} else if (!strcmp(w, "uid") && !parse_range(v, UINT32_MAX, &lo, &hi)) {
				r->has |= AG_FP_HAS_UID;
				r->uid_lo = lo;
				r->uid_hi = hi;
			} else if (!strcmp(w, "port") && !parse_range(v, 65535, &lo, &hi)) {
				r->has |= AG_FP_HAS_PORT;
				r->port_lo = (uint16_t)lo;
				r->port_hi = (uint16_t)hi;
			} else if (!strcmp(w, "remote") && !parse_prefix(v, &rs.remote[rs.n])) {
				r->has |= AG_FP_HAS_REMOTE;
				r->remote = &rs.remote[rs.n];
				r->nremote = 1;
			} else if (!strcmp(w, "proto") && (!strcmp(v, "tcp") || !strcmp(v, "udp"))) {
				r->has |= AG_FP_HAS_PROTO;
				r->proto = v[0] == 't' ? 6 : 17;
			} else if (!strcmp(w, "family") && v[0] >= '0' && v[0] <= '9' && !v[1]) {
				/* 4 or 6; any other digit is passed on, for the
				 * compiler to refuse (a failing update) */
				r->has |= AG_FP_HAS_FAMILY;
				r->family = (uint8_t)(v[0] - '0');
			} else {
				fprintf(stderr, "fp_ctl: %s:%d: bad condition \"%s=%s\"\n", file, lineno, w, v);
				goto bad;
			}
		}
		rs.n++;
	}
	fclose(f);
	return 0;
bad:
	fclose(f);
	rules_free();
	return -1;
}

static int apply(struct ag_fp *fp, const char *file, long long *us)
{
	char err[AG_FP_ERR_MAX];
	long long t0;
	int r;

	if (rules_load(file))
		return -EINVAL;
	t0 = now_us();
	r = ag_fp_update(fp, rs.r, rs.n, err, sizeof(err));
	if (us)
		*us = now_us() - t0;
	if (r)
		printf("error %s\n", err[0] ? err : strerror(-r));
	return r;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	default: return strerror(e);
	}
}

static int tcp_connect(const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int fd, e = 0;

	if (getaddrinfo(addr, port, &hints, &ai))
		return EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		e = errno;
	if (fd != -1)
		close(fd);
	freeaddrinfo(ai);
	return e;
}

static void print_stats(const struct ag_fp *fp)
{
	struct ag_fp_stats st;
	int r = ag_fp_stats(fp, &st);

	if (r) {
		printf("error %s\n", strerror(-r));
		return;
	}
	printf("allowed %llu denied %llu passed %llu ignored %llu udp_matched %llu errors %llu "
	       "epoch %u\n",
	       (unsigned long long)st.allowed, (unsigned long long)st.denied,
	       (unsigned long long)st.passed, (unsigned long long)st.ignored,
	       (unsigned long long)st.udp_matched, (unsigned long long)st.errors, st.epoch);
}

/* S12 for a fast-path flow: what the hook saw, decided under today's rules. */
static void reeval(const struct ag_fp *fp, char *args)
{
	char *save, *c = strtok_r(args, " \t\n", &save), *a = strtok_r(NULL, " \t\n", &save);
	char *p = strtok_r(NULL, " \t\n", &save), *pr = strtok_r(NULL, " \t\n", &save);
	struct ag_fp_prefix addr;
	struct ag_fp_flow f;
	uint32_t epoch, rule;
	int r;

	if (!c || !a || !p || !pr || parse_prefix(a, &addr)) {
		printf("error usage: reeval COOKIE ADDR PORT tcp|udp\n");
		return;
	}
	memset(&f, 0, sizeof(f));
	r = ag_fp_socket(fp, strtoull(c, NULL, 10), &f, &epoch);
	if (r) {
		printf("error socket %s: %s\n", c, strerror(-r));
		return;
	}
	f.family = addr.family;
	f.addr = addr.addr;
	f.port = (uint16_t)atoi(p);
	f.proto = !strcmp(pr, "udp") ? 17 : 6;
	enum ag_fp_verdict v = ag_fp_eval(fp, &f, &rule);

	printf("%s rule %d epoch %u\n", ag_fp_verdict_name(v), rule == UINT32_MAX ? -1 : (int)rule,
	       epoch);
}

static int serve(struct ag_fp *fp, const char *file)
{
	char line[LINE_MAX_], status[AG_FP_STATUS_MAX];
	long long us;

	if (apply(fp, file, NULL))
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char *rest = NULL, *cmd = strtok_r(line, " \t\n", &rest);
		char *arg;

		if (!cmd)
			continue;
		if (!strcmp(cmd, "reeval")) {
			reeval(fp, rest);
			fflush(stdout);
			continue;
		}
		arg = strtok_r(NULL, " \t\n", &rest);
		if (!strcmp(cmd, "quit"))
			break;
		if (!strcmp(cmd, "load") && arg) {
			if (!apply(fp, arg, &us))
				printf("loaded %zu us=%lld\n", rs.n, us);
		} else if (!strcmp(cmd, "stats")) {
			print_stats(fp);
		} else if (!strcmp(cmd, "status")) {
			ag_fp_status(fp, NULL, status, sizeof(status));
			printf("%s\n", status);
		} else {
			printf("error unknown command \"%s\"\n", cmd);
		}
		fflush(stdout);
	}
	return 0;
}

static int flip(struct ag_fp *fp, char **argv)
{
	long long t0, us, total;
	int a, b;

	if (apply(fp, argv[0], NULL))
		return 1;
	a = tcp_connect(argv[2], argv[3]);
	t0 = now_us();
	if (apply(fp, argv[1], &us))
		return 1;
	b = tcp_connect(argv[2], argv[3]);
	total = now_us() - t0;
	printf("flip %s %s update_us=%lld total_us=%lld\n", errname(a), errname(b), us, total);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: fp_ctl [-n NETNS] [-c CGROUP] [-p PIN] [-l] serve RULES | "
			"flip RULES_A RULES_B ADDR PORT | open\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *netns = NULL, *cgroup = NULL, *pin = NULL;
	char err[AG_FP_ERR_MAX];
	bool loopback = false;
	struct ag_fp *fp;
	int opt, ret = 1;

	while ((opt = getopt(argc, argv, "n:c:p:l")) != -1) {
		switch (opt) {
		case 'n': netns = optarg; break;
		case 'c': cgroup = optarg; break;
		case 'p': pin = optarg; break;
		case 'l': loopback = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (netns) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);

		if (fd == -1 || setns(fd, CLONE_NEWNET) == -1) {
			fprintf(stderr, "fp_ctl: network namespace \"%s\": %s\n", netns, strerror(errno));
			return 1;
		}
		close(fd);
	}
	fp = ag_fp_open(cgroup, err, sizeof(err));
	if (!strcmp(argv[0], "open")) {
		printf(fp ? "ok\n" : "error %s\n", err);
		ag_fp_close(fp);
		return fp ? 0 : 1;
	}
	if (!fp) {
		fprintf(stderr, "fp_ctl: %s\n", err);
		return 1;
	}
	ag_fp_set_loopback(fp, loopback);
	if (ag_fp_refresh_local(fp))
		fprintf(stderr, "fp_ctl: cannot read this namespace's addresses\n");
	if (pin) {
		int r = ag_fp_pin_udp_match(fp, pin);

		if (r) {
			fprintf(stderr, "fp_ctl: pin at \"%s\": %s\n", pin, strerror(-r));
			goto out;
		}
	}
	if (!strcmp(argv[0], "serve") && argc == 2)
		ret = serve(fp, argv[1]);
	else if (!strcmp(argv[0], "flip") && argc == 5)
		ret = flip(fp, argv + 1);
	else
		usage();
out:
	ag_fp_close(fp);
	rules_free();
	return ret;
}
