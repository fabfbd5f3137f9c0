/*
 * daemon/resolvers.c — the DNS resolvers this host is configured to use.
 *
 * They decide two things: where the shipped DNS rules let any program send
 * queries ("remote": "resolvers"), and whose replies may name addresses
 * for every program's rules.  A program allowed to query a server of its
 * own choosing gets its answers, but they name nothing: that server does
 * not vouch for other programs' connections.
 *
 * The list is the "nameserver" lines of two files: the resolv.conf
 * programs read (with systemd-resolved, its stub 127.0.0.53) and the one
 * systemd-resolved keeps of its upstream servers.  They are read at start
 * and on reload, and again when a file's identity or modification time
 * changes, looked at no more than once a second when a DNS query passes
 * (the first query to a new resolver is read before it is judged).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "daemon/resolvers.h"

/* resolv.conf is a few lines; a longer file is read this far. */
#define RESOLV_MAX 65536

static void add(struct agd_resolver *out, unsigned *n, unsigned max, int ver, const void *a)
{
	struct agd_resolver r = { .ver = (uint8_t)ver };

	r.addr = ag_addr_make(ver, a);
	for (unsigned i = 0; i < *n; i++)
		if (!memcmp(&out[i], &r, sizeof(r)))
			return;
	if (*n < max)
		out[(*n)++] = r;
}

unsigned agd_resolvers_parse(const char *text, size_t len, struct agd_resolver *out,
			     unsigned *n, unsigned max)
{
	unsigned before = *n;
	size_t off = 0;

	while (off < len) {
		const char *line = text + off;
		size_t l = 0;
		char word[16], addr[96], *pct;	/* %79s below fits */
		uint8_t a[16];

		while (off + l < len && text[off + l] != '\n')
			l++;
		off += l + 1;
		if (l >= 256)
			continue;
		char buf[256];

		memcpy(buf, line, l);
		buf[l] = '\0';
		if (sscanf(buf, "%15s %79s", word, addr) != 2 || strcmp(word, "nameserver"))
			continue;
		if ((pct = strchr(addr, '%')))
			*pct = '\0';
		if (inet_pton(AF_INET, addr, a) == 1)
			add(out, n, max, 4, a);
		else if (inet_pton(AF_INET6, addr, a) == 1)
			add(out, n, max, 6, a);
	}
	return *n - before;
}

/* Read one file into the list; its identity goes to sig ("" if absent). */
static void read_one(const char *path, struct agd_resolver *out, unsigned *n, char *sig,
		     size_t siglen)
{
	static char buf[RESOLV_MAX];
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	sig[0] = '\0';
	if (fd == -1)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		snprintf(sig, siglen, "%llu:%llu:%lld.%09ld:%lld", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, (long long)st.st_size);
		got = read(fd, buf, sizeof(buf));
		if (got > 0)
			agd_resolvers_parse(buf, (size_t)got, out, n, AGD_MAX_RESOLVERS);
	}
	close(fd);
}

/* The identity and modification time of path, as read_one() writes it. */
static void sig_of(const char *path, char *sig, size_t siglen)
{
	struct stat st;

	sig[0] = '\0';
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		snprintf(sig, siglen, "%llu:%llu:%lld.%09ld:%lld", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, (long long)st.st_size);
}

bool agd_resolvers_refresh(struct agd *d, bool force)
{
	const char *paths[2] = { d->cfg.resolv_conf, d->cfg.resolved_conf };
	struct agd_resolver list[AGD_MAX_RESOLVERS];
	char sig[2][sizeof(d->resolvers.sig[0])];
	uint64_t now = ag_boot_ns();
	unsigned n = 0;

	if (!force) {
		bool same = true;

		if (now - d->resolvers.checked_ns < AGD_RESOLVERS_CHECK_NS)
			return false;
		d->resolvers.checked_ns = now;
		for (int i = 0; i < 2; i++) {
			sig_of(paths[i], sig[i], sizeof(sig[i]));
			same = same && !strcmp(sig[i], d->resolvers.sig[i]);
		}
		if (same)
			return false;
	}
	d->resolvers.checked_ns = now;
	memset(list, 0, sizeof(list));
	for (int i = 0; i < 2; i++)
		read_one(paths[i], list, &n, d->resolvers.sig[i], sizeof(d->resolvers.sig[i]));
	if (n == d->resolvers.n && !memcmp(list, d->resolvers.list, n * sizeof(list[0])))
		return false;
	memcpy(d->resolvers.list, list, sizeof(list));
	d->resolvers.n = n;
	{
		char text[AGD_MAX_RESOLVERS * (INET6_ADDRSTRLEN + 1)] = "";
		size_t o = 0;

		for (unsigned i = 0; i < n && o < sizeof(text); i++) {
			char a[INET6_ADDRSTRLEN];

			inet_ntop(list[i].ver == 4 ? AF_INET : AF_INET6, list[i].addr.b, a, sizeof(a));
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", i ? " " : "", a);
		}
		log_info("DNS resolvers (%s, %s): %s", paths[0], paths[1], n ? text : "none");
	}
	agd_policy_resolvers_changed(d);
	return true;
}

bool agd_is_resolver(const struct agd *d, int ver, const uint8_t *addr)
{
	for (unsigned i = 0; i < d->resolvers.n; i++)
		if (d->resolvers.list[i].ver == ver &&
		    !memcmp(d->resolvers.list[i].addr.b, addr, ver == 4 ? 4 : 16))
			return true;
	return false;
}
