/*
 * daemon/fastpath_sync.h — the eBPF fast path kept in step with the engine's
 * rules, owned by fastpath_sync.c as struct agd_fastpath: loading it
 * (lib/linux/fastpath.c), recompiling the rules the kernel can decide when
 * the filters change, the addresses of ruled host names it matches, and the
 * notrack table for the TCP flows it keeps outside conntrack.
 */
#ifndef ALEGATE_DAEMON_FASTPATH_SYNC_H
#define ALEGATE_DAEMON_FASTPATH_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "net/dns.h"

struct agd;
struct agd_rule;
struct ag_fp;
struct ag_dns_reply;

/* fastpath_sync.c: addresses remembered for ruled host names (the index, not
 * the cache). */
#define AGD_HOST_INDEX_MAX 4096

struct agd_host_addr {
	char name[AG_DNS_NAME_MAX + 1];
	uint8_t ver;
	ag_addr addr;
	uint64_t seen_ns; /* for replacing the oldest when full */
};

/* fastpath_sync.c: the eBPF fast path, and the TCP flows it keeps outside
 * conntrack (FASTPATH.md 6d). */
struct agd_fastpath {
	struct ag_fp *fp;        /* NULL when off */
	char err[256];           /* why it is off */
	bool dirty;              /* the engine's filters changed since the last sync */
	uint64_t synced_ns;      /* CLOCK_BOOTTIME of the last recompile */
	int fwwatch_fd;          /* nftables ruleset changes; -1 when not watched */
	bool notrack_on;         /* the notrack table is loaded */
	bool notrack_recheck;    /* the ruleset or the configuration changed */
	bool notrack_failed;     /* loading it failed: not tried again until a reload */
	uint64_t notrack_checked_ns;
	char notrack_state[256]; /* "on (...)" or "off: why", for status */
	struct agd_host_addr host_index[AGD_HOST_INDEX_MAX];
	size_t host_index_len;
	struct agd_ruled_names *ruled; /* the names the compiled rules name (fastpath_sync.c) */
	/* counters, status shows them beside the data plane's: */
	/* sockets of kernel-allowed flows destroyed because the rules now deny
	 * them (S12); `teardowns` is these and the data plane's together */
	uint64_t teardowns;
	/* such flows whose hook record was overwritten, named through
	 * attribution instead (fp_reauth_attributed) */
	uint64_t reauth_attributed;
};

/* Load and attach the eBPF fast path as the configuration says (bpf =
 * auto|yes|no); pins the UDP match into d->fwcfg.  Before the firewall is
 * installed and privileges dropped.  Returns 0 (off is not an error unless
 * bpf = yes) or -errno. */
int agd_fastpath_open(struct agd *d);
void agd_fastpath_close(struct agd *d);
/* Let attribution ask the fast path's hooks for socket owners (once both exist). */
void agd_fastpath_attach_attrib(struct agd *d);
/* How long the loop may sleep (ms) before a resync is due; -1: forever. */
int agd_fastpath_wake_ms(const struct agd *d);
/* Recompile the engine's rules into the kernel if they changed, then tear
 * down the kernel-allowed flows the new rules deny (S12). */
void agd_fastpath_sync(struct agd *d);
/* The addresses the DNS cache already names by a name of @ar's host
 * condition or host list join the fast path's host index, so the kernel
 * knows them before a new reply (a rule added, a list read again). */
void agd_fastpath_seed_rule(struct agd *d, const struct agd_rule *ar);
void agd_fastpath_status(struct agd *d, char *buf, size_t len);
/* The same for scripts: {"state":"on"|"off", "reason" when off, the counts when on}. */
json_t *agd_fastpath_status_json(struct agd *d);
/* Load or remove the notrack table as bpf_notrack and the ruleset say:
 * at start (after the firewall is installed) and whenever notrack_recheck
 * is set or the last check is AGD_NOTRACK_RECHECK_NS old. */
void agd_notrack_check(struct agd *d);
/* The nftables watch is readable. */
void agd_notrack_watch_ready(struct agd *d);
/* A snooped DNS reply: remember addresses of names a host rule matches. */
void agd_fastpath_dns(struct agd *d, const struct ag_dns_reply *reply);

#endif
