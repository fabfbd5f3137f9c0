/*
 * daemon/resolvers.h — the DNS resolvers this host is configured to ask
 * (nameserver lines of the resolv.conf files), owned by resolvers.c as
 * struct agd_resolvers.  The data plane learns names only from their replies
 * and rules on "remote": "resolvers" match them; a changed set gives those
 * rules new filters (policy.c).
 */
#ifndef ALEGATE_DAEMON_RESOLVERS_H
#define ALEGATE_DAEMON_RESOLVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"

struct agd;

/* DNS resolvers kept from the resolv.conf files; more are ignored (glibc
 * reads 3). */
#define AGD_MAX_RESOLVERS 16
/* How often the resolv.conf files are looked at for a change, at most. */
#define AGD_RESOLVERS_CHECK_NS 1000000000ull

struct agd_resolver {
	uint8_t ver;		/* 4 or 6 */
	ag_addr addr;
};

/* resolvers.c: the DNS resolvers kept from the resolv.conf files. */
struct agd_resolvers {
	struct agd_resolver list[AGD_MAX_RESOLVERS];
	unsigned n;
	char sig[2][96];         /* each file's identity and mtime as last read */
	uint64_t checked_ns;
};

/*
 * agd_resolvers_parse - the "nameserver" addresses of resolv.conf text
 * (a "%scope" suffix is dropped; other lines and bad addresses are
 * skipped), appended to out[*n..max).  Returns how many were added.
 */
unsigned agd_resolvers_parse(const char *text, size_t len, struct agd_resolver *out,
			     unsigned *n, unsigned max);
/* Read the configured files again if one changed since the last look
 * (always when force), at most every AGD_RESOLVERS_CHECK_NS unless force.
 * A changed set is logged and the rules on "resolvers" get new filters.
 * Returns true if the set changed. */
bool agd_resolvers_refresh(struct agd *d, bool force);
/* Is ver/addr one of the configured resolvers? */
bool agd_is_resolver(const struct agd *d, int ver, const uint8_t *addr);

#endif
