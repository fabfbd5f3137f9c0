/*
 * daemon/fastpath_sync.c — the in-kernel fast path (lib/linux/fastpath*.c)
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
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/fastpath_sync.h"
#include "daemon/flowtuple.h"
#include "daemon/lists.h"
#include "daemon/log.h"
#include "daemon/rules.h"
#include "daemon/privs.h"
#include "linux/attrib.h"
#include "linux/conntrack.h"
#include "linux/fastpath.h"
#include "linux/fastpath_engine.h"
#include "linux/fwscan.h"
#include "linux/sockdiag.h"
#include "net/dns.h"
#include "net/dnscache.h"

/* How stale a host rule's addresses may get when nothing else changes. */
#define AGD_FP_RESYNC_NS (60ULL * 1000000000ULL)
/* How often the ruleset is looked at for the notrack table even without an
 * nftables event: legacy xtables tables send none. */
#define AGD_NOTRACK_RECHECK_NS (5ULL * 1000000000ULL)

/* BPF_FS_MAGIC: a bpf filesystem, where the UDP match can be pinned */
#define AGD_BPF_FS_MAGIC 0xcafe4a11
#define AGD_BPF_FS "/sys/fs/bpf"

static bool is_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == AGD_BPF_FS_MAGIC;
}

/*
 * The UDP match is pinned in a bpf filesystem; where none is mounted at
 * its usual place, mount one there, as bpftool and systemd do.  It stays
 * when alegated stops: other programs may have pinned objects in it since.
 */
/* Is a network namespace with inode @ino still there: a process in it, or
 * a name for it in /run/netns? */
static bool netns_alive(unsigned long ino)
{
	static const char *const dirs[] = { "/proc", "/run/netns" };
	char path[64];
	struct stat st;
	bool alive = false;

	for (size_t i = 0; i < 2 && !alive; i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *e;

		if (!dir)
			continue;
		while (!alive && (e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			if (i == 0) {
				if (e->d_name[0] < '1' || e->d_name[0] > '9')
					continue;
				snprintf(path, sizeof(path), "/proc/%.16s/ns/net", e->d_name);
			} else {
				snprintf(path, sizeof(path), "/run/netns/%.40s", e->d_name);
			}
			alive = stat(path, &st) == 0 && (unsigned long)st.st_ino == ino;
		}
		closedir(dir);
	}
	return alive;
}

/* The UDP match pinned for a namespace that is gone (its daemon was killed,
 * then the namespace deleted) holds its program and maps in the kernel for
 * good: take such pins away.  A pin of a namespace that lives is left to its
 * own daemon. */
static void sweep_stale_pins(void)
{
	DIR *dir = opendir(AGD_BPF_FS);
	struct dirent *e;
	unsigned long ino;
	unsigned q;
	char tail;
	int n = 0;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (sscanf(e->d_name, "alegate-udp-%lu-%u%c", &ino, &q, &tail) != 2)
			continue;
		if (netns_alive(ino) || unlinkat(dirfd(dir), e->d_name, 0) == -1)
			continue;
		n++;
	}
	closedir(dir);
	if (n)
		log_info("fast path: removed %d UDP match pin%s of namespaces that are gone",
			 n, n == 1 ? "" : "s");
}

static bool bpffs_ensure(void)
{
	if (is_bpffs(AGD_BPF_FS))
		return true;
	if (mount("bpf", AGD_BPF_FS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")) {
		log_info("fast path: no bpf filesystem at " AGD_BPF_FS " and mounting one "
			 "failed (%s); allowed UDP flows reach the queue once",
			 strerror(errno));
		return false;
	}
	if (!is_bpffs(AGD_BPF_FS)) /* mounted, yet not seen there: give up */
		return false;
	log_info("fast path: mounted a bpf filesystem at " AGD_BPF_FS);
	return true;
}

int agd_fastpath_open(struct agd *d)
{
	struct stat nst;
	int r;

	d->fastpath.err[0] = 0;
	if (d->cfg.bpf == AG_CFG_BPF_NO) {
		snprintf(d->fastpath.err, sizeof(d->fastpath.err), "disabled by the configuration (bpf = no)");
		return 0;
	}
	/* The default path lets the library find the cgroup v2 root itself:
	 * a hybrid system mounts it at /sys/fs/cgroup/unified. */
	const char *cg = d->cfg.bpf_cgroup;

	if (!cg[0] || !strcmp(cg, AG_FP_CGROUP_DEFAULT))
		cg = NULL;
	d->fastpath.fp = ag_fp_open(cg, d->fastpath.err, sizeof(d->fastpath.err));
	if (!d->fastpath.fp) {
		if (d->cfg.bpf == AG_CFG_BPF_YES) {
			log_err("fast path: %s (bpf = yes)", d->fastpath.err);
			return -errno;
		}
		log_warn("fast path off: %s; every new flow goes through NFQUEUE", d->fastpath.err);
		return 0;
	}
	ag_fp_set_loopback(d->fastpath.fp, d->cfg.intercept_loopback);
	if ((r = ag_fp_refresh_local(d->fastpath.fp)))
		log_warn("fast path: this namespace's addresses: %s", strerror(-r));
	/* One pin per guarded namespace and queue, so daemons side by side
	 * (tests, containers) do not collide. */
	if (bpffs_ensure() && stat("/proc/self/ns/net", &nst) == 0) {
		snprintf(d->dp.fwcfg.udp_bpf_pin, sizeof(d->dp.fwcfg.udp_bpf_pin),
			 AGD_BPF_FS "/alegate-udp-%lu-%u", (unsigned long)nst.st_ino,
			 d->cfg.queue_num);
		unlink(d->dp.fwcfg.udp_bpf_pin); /* a crash's leftover */
		sweep_stale_pins();
		if ((r = ag_fp_pin_udp_match(d->fastpath.fp, d->dp.fwcfg.udp_bpf_pin))) {
			log_warn("fast path: cannot pin the UDP match at %s: %s; allowed UDP "
				 "flows reach the queue once",
				 d->dp.fwcfg.udp_bpf_pin, strerror(-r));
			d->dp.fwcfg.udp_bpf_pin[0] = 0;
		}
	}
	d->fastpath.dirty = true;
	return 0;
}

void agd_fastpath_attach_attrib(struct agd *d)
{
	/* the hooks know which process each socket belongs to: attribution
	 * asks them first and scans /proc only when they do not know */
	if (d->fastpath.fp && d->dp.attrib)
		ag_attrib_set_owner_hook(d->dp.attrib, ag_fp_attrib_owner, d->fastpath.fp);
}

static bool notrack_auto(const struct agd *d);

int agd_fastpath_wake_ms(const struct agd *d)
{
	if (notrack_auto(d))
		return (int)(AGD_NOTRACK_RECHECK_NS / 1000000ULL);
	return d->fastpath.fp && d->fastpath.host_index_len ? (int)(AGD_FP_RESYNC_NS / 1000000ULL) : -1;
}

/*
 * The host names the last compile's rules name, exact or as a suffix, as
 * the compiler asked for their addresses: a DNS reply is looked up here
 * (a few probes, whatever the number of rules) to know whether its
 * addresses go in the index.  Open addressing, lower-case names.
 */
struct agd_ruled_names {
	char **v;                /* "=name" exact, ".name" suffix; NULL: free */
	size_t cap, len;         /* cap a power of two, len <= cap / 2 */
	bool oom;                /* a name could not be kept: every name counts */
	bool host_lists;         /* some compiled rule has a host list */
};

static uint64_t name_hash(char kind, const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint8_t)kind;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c)) * 0x100000001b3ULL;
	}
	return h ^ h >> 29;
}

static bool ruled_has(const struct agd_ruled_names *rn, char kind, const char *s, size_t n)
{
	if (!rn->cap)
		return false;
	for (size_t i = name_hash(kind, s, n) & (rn->cap - 1);; i = (i + 1) & (rn->cap - 1)) {
		const char *e = rn->v[i];

		if (!e)
			return false;
		if (e[0] == kind && strlen(e + 1) == n && strncasecmp(e + 1, s, n) == 0)
			return true;
	}
}

static void ruled_add(struct agd_ruled_names *rn, const char *host, bool suffix)
{
	char kind = suffix ? '.' : '=';
	size_t n = strlen(host);

	if (ruled_has(rn, kind, host, n))
		return;
	if ((rn->len + 1) * 2 > rn->cap) {
		size_t nc = rn->cap ? rn->cap * 2 : 64;
		char **nv = calloc(nc, sizeof(*nv));

		if (!nv) {
			rn->oom = true;
			return;
		}
		for (size_t i = 0; i < rn->cap; i++) {
			if (!rn->v[i])
				continue;
			size_t j = name_hash(rn->v[i][0], rn->v[i] + 1, strlen(rn->v[i] + 1)) & (nc - 1);

			while (nv[j])
				j = (j + 1) & (nc - 1);
			nv[j] = rn->v[i];
		}
		free(rn->v);
		rn->v = nv;
		rn->cap = nc;
	}
	char *e = malloc(n + 2);

	if (!e) {
		rn->oom = true;
		return;
	}
	e[0] = kind;
	memcpy(e + 1, host, n + 1);
	size_t j = name_hash(kind, host, n) & (rn->cap - 1);

	while (rn->v[j])
		j = (j + 1) & (rn->cap - 1);
	rn->v[j] = e;
	rn->len++;
}

static void ruled_free(struct agd_ruled_names *rn)
{
	if (!rn)
		return;
	for (size_t i = 0; i < rn->cap; i++)
		free(rn->v[i]);
	free(rn->v);
	free(rn);
}

void agd_fastpath_close(struct agd *d)
{
	if (d->dp.attrib)
		ag_attrib_set_owner_hook(d->dp.attrib, NULL, NULL);
	ag_fp_close(d->fastpath.fp);
	d->fastpath.fp = NULL;
	ruled_free(d->fastpath.ruled);
	d->fastpath.ruled = NULL;
}

/* Flows the kernel allowed under the old rules: decided again, torn down if denied. */
struct reauth_ctx {
	struct agd *d;
	int torn;
};

/* A kernel-allowed socket whose hook record is gone: its program and uid
 * from attribution.  False when the process cannot be named, or its
 * executable cannot be told by inode (then the flow is kept, as a PASS). */
static bool socket_by_attribution(struct agd *d, const struct ag_tuple *t,
				  struct ag_fp_flow *flow)
{
	struct ag_attrib_result res;

	if (!d->dp.attrib || ag_attrib_lookup(d->dp.attrib, t, AG_ATTRIB_OUTBOUND,
					   AG_UID_UNKNOWN, &res) || !res.proc.exe[0])
		return false;
	memset(flow, 0, sizeof(*flow));
	/* The file it runs, as the kernel ran it; its path only where the
	 * process cache could not learn that. */
	if (res.proc.flags & AG_PROC_EXE_ID) {
		flow->exe.dev = res.proc.exe_dev;
		flow->exe.ino = res.proc.exe_ino;
		flow->exe.known = true;
	} else if (ag_fp_exe_resolve(res.proc.exe, &flow->exe)) {
		return false;
	}
	flow->uid = res.uid;
	d->fastpath.reauth_attributed++;
	return true;
}

/* One kernel-allowed flow (t: src = local) of socket `cookie`, decided
 * again under the new rules with the very code the kernel runs. */
static void reauth_socket(struct reauth_ctx *x, const struct ag_tuple *t, uint64_t cookie)
{
	struct agd *d = x->d;
	struct ag_fp_flow flow;
	uint32_t epoch;

	/* The kernel's view of the socket: what the hook saw when it allowed it;
	 * if its record was overwritten since (FP_MAX_SOCKS allowed sockets
	 * later), the process that holds the socket now, as attribution names it. */
	if (ag_fp_socket(d->fastpath.fp, cookie, &flow, &epoch) && !socket_by_attribution(d, t, &flow))
		return;
	flow.family = t->ip_version;
	flow.proto = t->protocol;
	flow.port = t->dport;
	flow.addr = t->dst;
	flow.now_ns = ag_boot_ns();
	if (ag_fp_eval(d->fastpath.fp, &flow, NULL) != AG_FP_DENY)
		return;
	ag_ct_delete(d->dp.ct, t); /* none when untracked: harmless */
	if (ag_sockdiag_destroy(d->dp.sd, t) == 0)
		d->fastpath.teardowns++;
	x->torn++;
}

/* Tracked flows: authorized in the kernel (UDP, and TCP while the notrack
 * table is not loaded), or by a daemon that restarted. */
static void reauth_entry(const struct ag_ct_entry *e, void *arg)
{
	struct reauth_ctx *x = arg;
	struct agd *d = x->d;
	ag_fixed_values in;
	struct ag_sock_info si;

	if (!(e->flags & AG_CT_F_MARK) || !(e->mark & AG_FW_MARK_AUTH) ||
	    (e->orig.protocol != 6 && e->orig.protocol != 17))
		return;
	/* A TCP flow of the fast path: its socket is marked, and the dump of
	 * marked sockets below decides it, tracked or not. */
	if (e->orig.protocol == 6 && (e->mark & AG_FW_MARK_FAST))
		return;
	/* Authorized by the engine: its own reauthorization covers it. */
	agd_fixed_from_tuple(&e->orig, e->icmp_type, true, &in);
	if (ag_flow_lookup(d->engine, &in, NULL) == 0)
		return;
	if (ag_sockdiag_lookup(d->dp.sd, &e->orig, &si))
		return;
	reauth_socket(x, &e->orig, si.cookie);
}

/* TCP sockets the fast path allowed (SO_MARK AUTH | FAST): found by their
 * mark, so that flows outside conntrack are decided again as well.  The
 * dump is collected first: deciding one needs the handle the dump holds. */
struct marked_socks {
	struct ag_tuple *t;
	uint64_t *cookie;
	size_t n, cap;
	bool oom;
};

static void collect_marked(const struct ag_sock_info *si, void *arg)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct marked_socks *m = arg;
	struct ag_tuple t = si->id;

	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 64;
		struct ag_tuple *nt = realloc(m->t, nc * sizeof(*nt));
		uint64_t *ncook = nt ? realloc(m->cookie, nc * sizeof(*ncook)) : NULL;

		if (nt)
			m->t = nt;
		if (!nt || !ncook) {
			m->oom = true;
			return;
		}
		m->cookie = ncook;
		m->cap = nc;
	}
	t.protocol = 6;
	/* a dual-stack socket's IPv4 connection: as the IPv4 flow it is */
	if (t.ip_version == 6 && !memcmp(t.src.b, mapped, 12) && !memcmp(t.dst.b, mapped, 12)) {
		t.ip_version = 4;
		t.src = ag_addr_make(4, t.src.b + 12);
		t.dst = ag_addr_make(4, t.dst.b + 12);
	}
	m->t[m->n] = t;
	m->cookie[m->n++] = si->cookie;
}

static void reauth_marked(struct reauth_ctx *x)
{
	struct marked_socks m = { 0 };
	int r = ag_sockdiag_dump_marked(x->d->dp.sd, AG_FW_MARK_AUTH | AG_FW_MARK_FAST,
					AG_FW_MARK_AUTH | AG_FW_MARK_FAST, collect_marked, &m);

	if (r < 0 || m.oom)
		log_warn("fast path: the sockets it allowed cannot all be listed (%s); "
			 "the new rules apply to their next connect()",
			 r < 0 ? strerror(-r) : strerror(ENOMEM));
	for (size_t i = 0; i < m.n; i++)
		reauth_socket(x, &m.t[i], m.cookie[i]);
	free(m.t);
	free(m.cookie);
}

static bool host_matches(const char *name, const char *host, bool suffix)
{
	size_t n = strlen(name), h = strlen(host);

	if (!suffix)
		return strcasecmp(name, host) == 0;
	return n > h + 1 && name[n - h - 1] == '.' && strcasecmp(name + n - h, host) == 0;
}

/* Does a host condition of the compiled rules name this, exactly or as a
 * suffix?  (Before the first compile, or after it ran out of memory for
 * the names: every name is indexed, as if ruled.) */
static bool name_is_ruled(struct agd *d, const char *name)
{
	const struct agd_ruled_names *rn = d->fastpath.ruled;
	size_t n = strlen(name);

	if (!rn || rn->oom)
		return true;
	if (n && name[n - 1] == '.')
		n--;
	if (ruled_has(rn, '=', name, n))
		return true;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '.' && i + 1 < n && ruled_has(rn, '.', name + i + 1, n - i - 1))
	/* host lists are too big for the set: asked of each rule, and only
	 * when the compiled rules have one */
	if (!rn->host_lists)
		return false;
	for (uint32_t i = 0; i < d->policy.nrules; i++)
		if (agd_list_names(agd_rule_lists(d->policy.rules[i])[0], name))
			return true;
	return false;
}

/* Put (addr, name) in the host index; a new one makes the rules dirty. */
static void index_put(struct agd_fastpath *f, int ver, ag_addr addr, const char *name,
		      uint64_t now)
{
	size_t i, oldest = 0;

	for (i = 0; i < f->host_index_len; i++) {
		struct agd_host_addr *h = &f->host_index[i];

		if (h->ver == ver && ag_addr_equal(&h->addr, &addr) && !strcmp(h->name, name))
			break;
		if (h->seen_ns < f->host_index[oldest].seen_ns)
			oldest = i;
	}
	if (i < f->host_index_len) {
		f->host_index[i].seen_ns = now;
		return;
	}
	i = f->host_index_len < AGD_HOST_INDEX_MAX ? f->host_index_len++ : oldest;
	snprintf(f->host_index[i].name, sizeof(f->host_index[i].name), "%s", name);
	f->host_index[i].ver = (uint8_t)ver;
	f->host_index[i].addr = addr;
	f->host_index[i].seen_ns = now;
	f->dirty = true; /* a new address for a ruled name: before the reply goes */
}

void agd_fastpath_dns(struct agd *d, const struct ag_dns_reply *reply)
{
	struct agd_fastpath *f = &d->fastpath;
	uint64_t now = ag_boot_ns();

	if (!f->fp || !reply->n_addrs || !name_is_ruled(d, reply->qname))
		return;
	for (unsigned a = 0; a < reply->n_addrs; a++)
		index_put(f, reply->addrs[a].ver, reply->addrs[a].addr, reply->qname, now);
}

/* What a compile's host callback needs: the daemon, and the names it is
 * asked about, kept for name_is_ruled() once the compile is through. */
struct compile_ctx {
	struct agd *d;
	struct agd_ruled_names *names;
};

struct seed_ctx {
	struct agd *d;
	const struct agd_rule *ar;
	const struct ag_rule *r;	/* ar's, unpacked */
	uint64_t now;
};

static int seed_one(void *arg, int ver, const uint8_t *addr, const char *name)
{
	struct seed_ctx *s = arg;
	const struct ag_rule *r = s->r;
	bool hit = agd_list_names(agd_rule_lists(s->ar)[0], name);

	for (unsigned j = 0; !hit && j < r->n_host; j++) {
		const struct ag_rule_host *h = &r->host[j];
		/* a wildcard rule keeps its "*." (the engine's condition does not) */
		const char *host = h->wildcard && !strncmp(h->name, "*.", 2) ? h->name + 2 : h->name;

		hit = host_matches(name, host, h->wildcard);
	}
	if (hit)
		index_put(&s->d->fastpath, ver, ag_addr_make(ver, addr), name, s->now);
	return 0;
}

void agd_fastpath_seed_rule(struct agd *d, const struct agd_rule *ar)
{
	struct ag_rule_view view;
	struct seed_ctx s = { .d = d, .ar = ar, .now = ag_boot_ns() };

	if (!d->fastpath.fp || !d->dp.dns ||
	    !(agd_rule_packed(ar)->has & (AG_RULE_HAS_HOST | AG_RULE_HAS_HOST_LIST)))
		return;
	s.r = agd_rule_view(ar, &view);
	ag_dnscache_foreach(d->dp.dns, s.now, seed_one, &s);
}

/* Which names of the host index a condition takes. */
struct name_test {
	const char *host;	/* a host condition */
	bool suffix;
	const ag_condition *list;	/* or a host list's */
};

static bool name_test(const struct name_test *t, const char *name)
{
	if (t->list)
		return agd_list_cond_names(t->list, name);
	return host_matches(name, t->host, t->suffix);
}

/* The addresses of the host index whose names pass t, while the cache
 * still names them so. */
static int index_addrs(struct agd *d, const struct name_test *t, struct ag_fp_prefix **addrs,
		       size_t *n)
{
	char name[AG_DNS_NAME_MAX + 1];
	uint64_t now = ag_boot_ns();
	size_t cap = 0;

	*addrs = NULL;
	*n = 0;
	for (size_t i = 0; i < d->fastpath.host_index_len; i++) {
		const struct agd_host_addr *h = &d->fastpath.host_index[i];

		if (!name_test(t, h->name))
			continue;
		/* only while the cache still gives this address this name */
		if (ag_dnscache_lookup(d->dp.dns, h->ver, h->addr.b, now, name, sizeof(name)) ||
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
		pf->addr = h->addr;
	}
	/* No address known is a rule that matches nothing in the kernel: a
	 * connection to an address the cache has not named this way is not
	 * this rule's, for the engine either. */
	return 0;
}

/* ag_fp_env.host: the addresses the cache names `host` (or *.host) by now. */
static int host_addrs(void *arg, const char *host, bool suffix, struct ag_fp_prefix **addrs,
		      size_t *n)
{
	struct compile_ctx *cx = arg;
	struct name_test t = { .host = host, .suffix = suffix };

	if (cx->names)
		ruled_add(cx->names, host, suffix);
	return index_addrs(cx->d, &t, addrs, n);
}

/* ag_fp_env.set: an address list's prefixes; for a host list, the
 * addresses the cache gives its names by now, as for a host condition. */
static int set_addrs(void *arg, const ag_condition *cond, struct ag_fp_prefix **addrs, size_t *n)
{
	struct compile_ctx *cx = arg;
	struct name_test t = { .list = cond };

	if (cond->field != AG_FIELD_REMOTE_HOST)
		return agd_list_fp_prefixes(cx->d, cond, addrs, n);
	*addrs = NULL;
	*n = 0;
	if (!agd_list_cond_is_hosts(cond))
		return -ENOENT;
	if (cx->names)
		cx->names->host_lists = true;
	return index_addrs(cx->d, &t, addrs, n);
}

void agd_fastpath_sync(struct agd *d)
{
	struct compile_ctx cx = { .d = d };
	struct ag_fp_env env = { .sublayer = AGD_SUBLAYER_RULES, .arg = &cx, .host = host_addrs,
				.set = set_addrs };
	struct ag_fp_ruleset rs = { 0 };
	char err[AG_FP_ERR_MAX];
	int r;

	uint64_t now = ag_boot_ns();

	if (d->fastpath.notrack_recheck ||
	    (notrack_auto(d) && now - d->fastpath.notrack_checked_ns >= AGD_NOTRACK_RECHECK_NS))
		agd_notrack_check(d);
	if (!d->fastpath.fp)
		return;
	/* Cache entries expire without telling anyone: recompile now and then
	 * so that host rules stop naming addresses the cache forgot. */
	if (d->fastpath.host_index_len && now - d->fastpath.synced_ns > AGD_FP_RESYNC_NS)
		d->fastpath.dirty = true;
	if (!d->fastpath.dirty)
		return;
	d->fastpath.dirty = false;
	d->fastpath.synced_ns = now;
	cx.names = calloc(1, sizeof(*cx.names));
	if (!cx.names)
		log_warn("fast path: out of memory for the ruled names; every name is indexed");
	r = ag_fp_rules_from_engine(d->engine, &env, &rs);
	/* the names of a complete compile replace the last ones */
	if (r == 0 || r == -EOPNOTSUPP || !d->fastpath.ruled) {
		ruled_free(d->fastpath.ruled);
		d->fastpath.ruled = cx.names;
	} else {
		ruled_free(cx.names);
	}
	if (r == -EOPNOTSUPP)
		r = ag_fp_update(d->fastpath.fp, NULL, 0, err, sizeof(err));
	else if (r == 0)
		r = ag_fp_update(d->fastpath.fp, rs.rules, rs.n, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", strerror(-r));
	ag_fp_ruleset_free(&rs);
	if (r) {
		log_err("fast path: %s; flows fall through to NFQUEUE", err);
		return;
	}
	struct reauth_ctx x = { .d = d };

	if (d->dp.ct && d->dp.sd) {
		ag_ct_dump(d->dp.ct, reauth_entry, &x);
		reauth_marked(&x);
		if (x.torn)
			log_info("fast path: %d connection(s) the new rules deny were torn down",
				 x.torn);
	}
}

/* ---- the fast path's TCP flows outside conntrack (docs/FASTPATH.md, 6d) ---------- */

static void notrack_set(struct agd *d, bool on, const char *why)
{
	char err[AG_FW_ERR_MAX];

	if (on != d->fastpath.notrack_on) {
		if (agd_privs_fw_notrack(d, on, err, sizeof(err))) {
			if (on) {
				/* not tried again until a reload: no log line every 5 s */
				d->fastpath.notrack_failed = true;
				log_warn("fast path: cannot load the notrack table (%s); allowed "
					 "TCP flows stay tracked", err);
				snprintf(d->fastpath.notrack_state, sizeof(d->fastpath.notrack_state),
					 "off: loading it failed: %.200s", err);
			} else {
				log_err("fast path: cannot remove the notrack table: %s", err);
				snprintf(d->fastpath.notrack_state, sizeof(d->fastpath.notrack_state),
					 "on (removing it failed: %.200s)", err);
			}
			return;
		}
		d->fastpath.notrack_on = on;
		if (on)
			log_info("fast path: allowed TCP flows leave conntrack (%s)", why);
		else
			log_info("fast path: allowed TCP flows are tracked again: %s", why);
	}
	snprintf(d->fastpath.notrack_state, sizeof(d->fastpath.notrack_state),
		 on ? "on (%.240s)" : "off: %.240s", why);
}

/* What the configuration and the ruleset say; *why says why. */
static bool notrack_wanted(struct agd *d, char *why, size_t len)
{
	char what[200];
	int r;

	if (!d->fastpath.fp) {
		snprintf(why, len, "no fast path");
		return false;
	}
	if (!d->dp.fw_installed) {
		snprintf(why, len, "no firewall rules installed");
		return false;
	}
	if (d->cfg.bpf_notrack == AG_CFG_BPF_NO) {
		snprintf(why, len, "disabled by the configuration (bpf_notrack = no)");
		return false;
	}
	if (d->cfg.bpf_notrack == AG_CFG_BPF_YES) {
		snprintf(why, len, "bpf_notrack = yes");
		return true;
	}
	r = ag_fw_foreign(d->dp.fw_backend, what, sizeof(what));
	if (r < 0) {
		snprintf(why, len, "cannot read this namespace's ruleset: %s", strerror(-r));
		return false;
	}
	if (r > 0) {
		snprintf(why, len, "another firewall's rules are here (%s)", what);
		return false;
	}
	snprintf(why, len, "no other firewall rule in this namespace");
	return true;
}

void agd_notrack_check(struct agd *d)
{
	char why[256];
	bool on;

	d->fastpath.notrack_recheck = false;
	d->fastpath.notrack_checked_ns = ag_boot_ns();
	on = notrack_wanted(d, why, sizeof(why));
	/* after a failed load, only a reload tries again */
	if (on && d->fastpath.notrack_failed && !d->fastpath.notrack_on)
		return;
	notrack_set(d, on, why);
}

void agd_notrack_watch_ready(struct agd *d)
{
	int r = ag_fw_watch_drain(d->fastpath.fwwatch_fd);

	/* any change may be someone else's to our own rules (lifecycle.c) */
	if (r > 0)
		d->guard.recheck = true;

	/* bpf_notrack = yes or no: nothing to decide, no dump */
	if (r > 0 && notrack_auto(d))
		d->fastpath.notrack_recheck = true;
	else if (r < 0)
		log_debug("nftables watch: %s", strerror(-r));
}

/* Watched only when auto has something to decide. */
static bool notrack_auto(const struct agd *d)
{
	return d->fastpath.fp && d->dp.fw_installed && d->cfg.bpf_notrack == AG_CFG_BPF_AUTO &&
	       !(d->fastpath.notrack_failed && !d->fastpath.notrack_on);
}

void agd_fastpath_status(struct agd *d, char *buf, size_t len)
{
	ag_fp_status(d->fastpath.fp, d->fastpath.err[0] ? d->fastpath.err : NULL, buf, len);
}

json_t *agd_fastpath_status_json(struct agd *d)
{
	struct ag_fp_stats st;
	json_t *o = json_object();

	if (!d->fastpath.fp) {
		json_object_set_new(o, "state", json_string("off"));
		json_object_set_new(o, "reason", json_string(d->fastpath.err[0] ? d->fastpath.err : "disabled"));
		return o;
	}
	json_object_set_new(o, "state", json_string("on"));
	if (ag_fp_stats(d->fastpath.fp, &st)) {
		json_object_set_new(o, "reason", json_string("counters unreadable"));
		return o;
	}
	json_object_set_new(o, "rules", json_integer((json_int_t)st.image.rules));
	json_object_set_new(o, "entries", json_integer((json_int_t)st.image.entries));
	json_object_set_new(o, "programs", json_integer((json_int_t)st.image.apps));
	json_object_set_new(o, "updates", json_integer((json_int_t)st.epoch));
	json_object_set_new(o, "allowed", json_integer((json_int_t)st.allowed));
	json_object_set_new(o, "denied", json_integer((json_int_t)st.denied));
	json_object_set_new(o, "fell_through", json_integer((json_int_t)st.passed));
	json_object_set_new(o, "errors", json_integer((json_int_t)st.errors));
	json_object_set_new(o, "folded", json_integer((json_int_t)st.folded));
	return o;
}
