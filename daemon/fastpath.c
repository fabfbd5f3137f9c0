/*
 * daemon/fastpath.c — the in-kernel fast path (lib/linux/fastpath, issue 7)
 * wired into the daemon.
 *
 * The engine stays the single source of truth: after every change of the
 * rules the daemon recompiles the engine's CONNECT filters into the kernel's
 * maps (a cache of what they already decide) and then looks for live flows
 * that the kernel allowed and the new rules deny, to tear them down (S12):
 * those flows never entered the engine's flow table.
 *
 * Host-name rules are compiled as address rules with the addresses the DNS
 * cache currently gives that name (docs/FASTPATH.md section 4).  The cache
 * maps address -> name only, so the daemon keeps a small index of the
 * addresses that snooped replies gave to names a host rule matches; when a
 * reply adds one, the kernel is updated before the reply is let through
 * (the loop syncs before it flushes verdicts), so an application cannot
 * connect to an address the kernel does not know yet.  An address is handed
 * out only while the cache still names it so.  When the index is full, or a
 * name's addresses overflow, the host rule is a barrier: NFQUEUE decides.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "daemon/agd.h"
#include "linux/attrib.h"
#include "linux/conntrack.h"
#include "linux/fastpath.h"
#include "linux/sockdiag.h"
#include "net/dns.h"
#include "net/dnscache.h"

/* How stale a host rule's addresses may get when nothing else changes. */
#define AGD_FP_RESYNC_NS (60ULL * 1000000000ULL)

/* Addresses remembered for ruled host names (the index, not the cache). */
#define AGD_HOST_INDEX_MAX 4096

struct agd_host_addr {
	char name[AG_DNS_NAME_MAX + 1];
	uint8_t ver;
	uint8_t addr[16];
	uint64_t seen_ns; /* for replacing the oldest when full */
};

static struct agd_host_addr host_index[AGD_HOST_INDEX_MAX];
static size_t host_index_len;

/* BPF_FS_MAGIC: a bpf filesystem, where the UDP match can be pinned */
#define AGD_BPF_FS_MAGIC 0xcafe4a11
#define AGD_BPF_FS "/sys/fs/bpf"

int agd_fastpath_open(struct agd *d)
{
	struct statfs sfs;
	struct stat nst;
	int r;

	d->fp_err[0] = 0;
	if (d->cfg.bpf == AG_CFG_BPF_NO) {
		snprintf(d->fp_err, sizeof(d->fp_err), "disabled by the configuration (bpf = no)");
		return 0;
	}
	/* The default path lets the library find the cgroup v2 root itself:
	 * a hybrid system mounts it at /sys/fs/cgroup/unified. */
	const char *cg = d->cfg.bpf_cgroup;

	if (!cg[0] || !strcmp(cg, AG_FP_CGROUP_DEFAULT))
		cg = NULL;
	d->fp = ag_fp_open(cg, d->fp_err, sizeof(d->fp_err));
	if (!d->fp) {
		if (d->cfg.bpf == AG_CFG_BPF_YES) {
			log_err("fast path: %s (bpf = yes)", d->fp_err);
			return -errno;
		}
		log_warn("fast path off: %s; every new flow goes through NFQUEUE", d->fp_err);
		return 0;
	}
	ag_fp_set_loopback(d->fp, d->cfg.intercept_loopback);
	if ((r = ag_fp_refresh_local(d->fp)))
		log_warn("fast path: this namespace's addresses: %s", strerror(-r));
	/* One pin per guarded namespace and queue, so daemons side by side
	 * (tests, containers) do not collide. */
	if (statfs(AGD_BPF_FS, &sfs) == 0 && (unsigned long)sfs.f_type == AGD_BPF_FS_MAGIC &&
	    stat("/proc/self/ns/net", &nst) == 0) {
		snprintf(d->fwcfg.udp_bpf_pin, sizeof(d->fwcfg.udp_bpf_pin),
			 AGD_BPF_FS "/alegate-udp-%lu-%u", (unsigned long)nst.st_ino,
			 d->cfg.queue_num);
		unlink(d->fwcfg.udp_bpf_pin); /* a crash's leftover */
		if ((r = ag_fp_pin_udp_match(d->fp, d->fwcfg.udp_bpf_pin))) {
			log_warn("fast path: cannot pin the UDP match at %s: %s; allowed UDP "
				 "flows reach the queue once",
				 d->fwcfg.udp_bpf_pin, strerror(-r));
			d->fwcfg.udp_bpf_pin[0] = 0;
		}
	} else {
		log_info("fast path: no bpf filesystem at " AGD_BPF_FS "; allowed UDP flows "
			 "reach the queue once");
	}
	d->fp_dirty = true;
	return 0;
}

void agd_fastpath_attach_attrib(struct agd *d)
{
	/* the hooks know which process each socket belongs to: attribution
	 * asks them first and scans /proc only when they do not know */
	if (d->fp && d->attrib)
		ag_attrib_set_owner_hook(d->attrib, ag_fp_attrib_owner, d->fp);
}

int agd_fastpath_wake_ms(const struct agd *d)
{
	return d->fp && host_index_len ? (int)(AGD_FP_RESYNC_NS / 1000000ULL) : -1;
}

void agd_fastpath_close(struct agd *d)
{
	if (d->attrib)
		ag_attrib_set_owner_hook(d->attrib, NULL, NULL);
	ag_fp_close(d->fp);
	d->fp = NULL;
}

/* Flows the kernel allowed under the old rules: decided again, torn down if denied. */
struct reauth_ctx {
	struct agd *d;
	int torn;
};

/* A kernel-allowed socket whose hook record is gone: its program and uid
 * from attribution.  False when the process cannot be named, or its
 * executable cannot be told by inode (then the flow is kept, as a PASS). */
static bool socket_by_attribution(struct agd *d, const struct ag_ct_entry *e,
				  struct ag_fp_flow *flow)
{
	struct ag_attrib_result res;

	if (!d->attrib || ag_attrib_lookup(d->attrib, &e->orig, AG_ATTRIB_OUTBOUND,
					   AG_UID_UNKNOWN, &res) || !res.proc.exe[0])
		return false;
	memset(flow, 0, sizeof(*flow));
	if (ag_fp_exe_resolve(res.proc.exe, &flow->exe))
		return false;
	flow->uid = res.uid;
	d->ctr.fp_reauth_attributed++;
	return true;
}

static void reauth_entry(const struct ag_ct_entry *e, void *arg)
{
	struct reauth_ctx *x = arg;
	struct agd *d = x->d;
	ag_fixed_values in;
	struct ag_sock_info si;
	struct ag_fp_flow flow;
	uint32_t epoch;

	if (!(e->flags & AG_CT_F_MARK) || !(e->mark & AG_FW_MARK_AUTH) ||
	    (e->orig.protocol != 6 && e->orig.protocol != 17))
		return;
	/* Authorized by the engine: its own reauthorization covers it. */
	agd_fixed_from_ct(&e->orig, e->icmp_type, true, &in);
	if (ag_flow_lookup(d->engine, &in, NULL) == 0)
		return;
	/* The kernel's view of the socket: what the hook saw when it allowed it;
	 * if its record was overwritten since (FP_MAX_SOCKS allowed sockets
	 * later), the process that holds the socket now, as attribution names it. */
	if (ag_sockdiag_lookup(d->sd, &e->orig, &si))
		return;
	if (ag_fp_socket(d->fp, si.cookie, &flow, &epoch) && !socket_by_attribution(d, e, &flow))
		return;
	flow.family = e->orig.ip_version;
	flow.proto = e->orig.protocol;
	flow.port = e->orig.dport;
	memcpy(flow.addr, e->orig.dst, 16);
	flow.now_ns = agd_boottime_ns();
	if (ag_fp_eval(d->fp, &flow, NULL) != AG_FP_DENY)
		return;
	ag_ct_delete(d->ct, &e->orig);
	if (ag_sockdiag_destroy(d->sd, &e->orig) == 0)
		d->ctr.teardowns++;
	x->torn++;
}

static bool host_matches(const char *name, const char *host, bool suffix)
{
	size_t n = strlen(name), h = strlen(host);

	if (!suffix)
		return strcasecmp(name, host) == 0;
	return n > h + 1 && name[n - h - 1] == '.' && strcasecmp(name + n - h, host) == 0;
}

/* Does a rule's host condition (enabled or not: cheap) name this? */
static bool name_is_ruled(struct agd *d, const char *name)
{
	for (uint32_t i = 0; i < d->nrules; i++) {
		const struct ag_rule *r = &d->rules[i]->rule;
		/* a wildcard rule keeps its "*." (the engine's condition does not) */
		const char *host = r->host_wildcard && !strncmp(r->host, "*.", 2) ? r->host + 2
										   : r->host;

		if ((r->has & AG_RULE_HAS_HOST) && host_matches(name, host, r->host_wildcard))
			return true;
	}
	return false;
}

void agd_fastpath_dns(struct agd *d, const struct ag_dns_reply *reply)
{
	uint64_t now = agd_boottime_ns();

	if (!d->fp || !reply->n_addrs || !name_is_ruled(d, reply->qname))
		return;
	for (unsigned a = 0; a < reply->n_addrs; a++) {
		const struct ag_dns_addr *ad = &reply->addrs[a];
		size_t i, oldest = 0;

		for (i = 0; i < host_index_len; i++) {
			struct agd_host_addr *h = &host_index[i];

			if (h->ver == ad->ver && !memcmp(h->addr, ad->addr, 16) &&
			    !strcmp(h->name, reply->qname))
				break;
			if (h->seen_ns < host_index[oldest].seen_ns)
				oldest = i;
		}
		if (i < host_index_len) {
			host_index[i].seen_ns = now;
			continue;
		}
		i = host_index_len < AGD_HOST_INDEX_MAX ? host_index_len++ : oldest;
		snprintf(host_index[i].name, sizeof(host_index[i].name), "%s", reply->qname);
		host_index[i].ver = ad->ver;
		memcpy(host_index[i].addr, ad->addr, 16);
		host_index[i].seen_ns = now;
		d->fp_dirty = true; /* a new address for a ruled name: before the reply goes */
	}
}

/* ag_fp_env.host: the addresses the cache names `host` (or *.host) by now. */
static int host_addrs(void *arg, const char *host, bool suffix, struct ag_fp_prefix **addrs,
		      size_t *n)
{
	struct agd *d = arg;
	char name[AG_DNS_NAME_MAX + 1];
	uint64_t now = agd_boottime_ns();
	size_t cap = 0;

	*addrs = NULL;
	*n = 0;
	for (size_t i = 0; i < host_index_len; i++) {
		const struct agd_host_addr *h = &host_index[i];

		if (!host_matches(h->name, host, suffix))
			continue;
		/* only while the cache still gives this address this name */
		if (ag_dnscache_lookup(d->dns, h->ver, h->addr, now, name, sizeof(name)) ||
		    strcasecmp(name, h->name) != 0)
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			void *p = realloc(*addrs, nc * sizeof(**addrs));

			if (!p) {
				free(*addrs);
				*addrs = NULL;
				*n = 0;
				return -ENOMEM; /* a barrier: NFQUEUE decides */
			}
			*addrs = p;
			cap = nc;
		}
		struct ag_fp_prefix *pf = &(*addrs)[(*n)++];

		memset(pf, 0, sizeof(*pf));
		pf->family = h->ver;
		pf->plen = h->ver == 4 ? 32 : 128;
		memcpy(pf->addr, h->addr, 16);
	}
	/* No address known is a rule that matches nothing in the kernel: a
	 * connection to an address the cache has not named this way is not
	 * this rule's, for the engine either. */
	return 0;
}

void agd_fastpath_sync(struct agd *d)
{
	struct ag_fp_env env = { .sublayer = AGD_SUBLAYER_RULES, .arg = d, .host = host_addrs };
	struct ag_fp_ruleset rs = { 0 };
	char err[AG_FP_ERR_MAX];
	int r;

	uint64_t now = agd_boottime_ns();

	if (!d->fp)
		return;
	/* Cache entries expire without telling anyone: recompile now and then
	 * so that host rules stop naming addresses the cache forgot. */
	if (host_index_len && now - d->fp_synced_ns > AGD_FP_RESYNC_NS)
		d->fp_dirty = true;
	if (!d->fp_dirty)
		return;
	d->fp_dirty = false;
	d->fp_synced_ns = now;
	r = ag_fp_rules_from_engine(d->engine, &env, &rs);
	if (r == -EOPNOTSUPP)
		r = ag_fp_update(d->fp, NULL, 0, err, sizeof(err));
	else if (r == 0)
		r = ag_fp_update(d->fp, rs.rules, rs.n, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", strerror(-r));
	ag_fp_ruleset_free(&rs);
	if (r) {
		log_err("fast path: %s; flows fall through to NFQUEUE", err);
		return;
	}
	struct reauth_ctx x = { .d = d };

	if (d->ct && d->sd) {
		ag_ct_dump(d->ct, reauth_entry, &x);
		if (x.torn)
			log_info("fast path: %d connection(s) the new rules deny were torn down",
				 x.torn);
	}
}

void agd_fastpath_status(struct agd *d, char *buf, size_t len)
{
	ag_fp_status(d->fp, d->fp_err[0] ? d->fp_err : NULL, buf, len);
}
