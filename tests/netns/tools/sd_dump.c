/*
 * sd_dump — the TCP sockets of this network namespace that carry a mark, as
 * ag_sockdiag_dump_marked() reports them.
 *
 *   sd_dump [-c] MARK MASK
 *
 * Prints one line per socket, in the order the dump gives them:
 *   0xCOOKIE LOCAL_ADDR:PORT REMOTE_ADDR:PORT mark 0xHEX state N
 * ("mark none" when the kernel sent no mark), then "N sockets".  IPv6
 * addresses are not bracketed: the port follows the last colon.  The
 * handle's counters go to stderr: "# requests R stale S malformed M
 * timeouts T".
 *
 * -c checks every socket from inside the callback: a lookup on the dumping
 * handle must be refused with EDEADLK, and a lookup of the socket's id on a
 * second handle must find the same socket (cookie, inode, mark).  Prints
 * "# checked N refused R same S" on stderr.
 *
 * Exit status: 0; 1 when the dump fails (prints "error -ERRNO MESSAGE") or
 * a check does; 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux/sockdiag.h"

struct dump_ctx {
	struct ag_sockdiag *sd;		/* the dumping handle */
	struct ag_sockdiag *other;	/* for -c lookups */
	int checked, refused, same;
};

static void addr_str(const struct ag_sock_info *si, const uint8_t *a,
		     char *out, size_t len)
{
	if (!inet_ntop(si->family == AF_INET ? AF_INET : AF_INET6, a, out,
		       (socklen_t)len))
		snprintf(out, len, "?");
}

static void check_socket(struct dump_ctx *c, const struct ag_sock_info *si)
{
	struct ag_sock_info found;
	int r;

	c->checked++;
	r = ag_sockdiag_lookup(c->sd, &si->id, &found);
	if (r == -EDEADLK)
		c->refused++;
	else
		fprintf(stderr, "# 0x%" PRIx64 ": lookup on the dumping handle gave %d\n",
			si->cookie, r);
	r = ag_sockdiag_lookup(c->other, &si->id, &found);
	if (r == 0 && found.cookie == si->cookie && found.inode == si->inode &&
	    (found.flags & AG_SOCK_F_MARK) && found.mark == si->mark)
		c->same++;
	else
		fprintf(stderr, "# 0x%" PRIx64 ": lookup gave %d, cookie 0x%" PRIx64
			" inode %" PRIu64 " mark 0x%x\n", si->cookie, r,
			r == 0 ? found.cookie : 0, r == 0 ? found.inode : 0,
			r == 0 ? found.mark : 0);
}

static void on_socket(const struct ag_sock_info *si, void *arg)
{
	struct dump_ctx *c = arg;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], mark[16];

	addr_str(si, si->id.src.b, src, sizeof(src));
	addr_str(si, si->id.dst.b, dst, sizeof(dst));
	if (si->flags & AG_SOCK_F_MARK)
		snprintf(mark, sizeof(mark), "0x%x", si->mark);
	else
		snprintf(mark, sizeof(mark), "none");
	printf("0x%" PRIx64 " %s:%u %s:%u mark %s state %u\n", si->cookie,
	       src, si->id.sport, dst, si->id.dport, mark, si->state);
	if (c->other)
		check_socket(c, si);
}

int main(int argc, char **argv)
{
	struct dump_ctx c = { 0 };
	struct ag_sockdiag_stats st;
	bool check = false;
	uint32_t mark, mask;
	int opt, n, rc = 0;

	while ((opt = getopt(argc, argv, "c")) != -1) {
		if (opt != 'c') {
			fprintf(stderr, "usage: sd_dump [-c] MARK MASK\n");
			return 2;
		}
		check = true;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: sd_dump [-c] MARK MASK\n");
		return 2;
	}
	mark = (uint32_t)strtoul(argv[optind], NULL, 0);
	mask = (uint32_t)strtoul(argv[optind + 1], NULL, 0);

	c.sd = ag_sockdiag_open();
	if (!c.sd) {
		printf("error -%d %s\n", errno, strerror(errno));
		return 1;
	}
	if (check) {
		c.other = ag_sockdiag_open();
		if (!c.other) {
			printf("error -%d %s\n", errno, strerror(errno));
			return 1;
		}
	}
	n = ag_sockdiag_dump_marked(c.sd, mark, mask, on_socket, &c);
	if (n < 0) {
		printf("error %d %s\n", n, strerror(-n));
		rc = 1;
	} else {
		printf("%d sockets\n", n);
	}
	ag_sockdiag_get_stats(c.sd, &st);
	fprintf(stderr, "# requests %" PRIu64 " stale %" PRIu64 " malformed %"
		PRIu64 " timeouts %" PRIu64 "\n", st.requests, st.stale,
		st.malformed, st.timeouts);
	if (check) {
		fprintf(stderr, "# checked %d refused %d same %d\n", c.checked,
			c.refused, c.same);
		if (c.refused != c.checked || c.same != c.checked)
			rc = 1;
	}
	ag_sockdiag_close(c.other);
	ag_sockdiag_close(c.sd);
	return rc;
}
