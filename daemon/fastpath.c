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
 * Host-name rules are handed to the compiler without addresses, which makes
 * them barriers: a flow they could match falls through to NFQUEUE, where the
 * engine decides with the DNS cache.  Correct, if slower for those flows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "daemon/agd.h"
#include "linux/conntrack.h"
#include "linux/fastpath.h"
#include "linux/sockdiag.h"

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

void agd_fastpath_close(struct agd *d)
{
	ag_fp_close(d->fp);
	d->fp = NULL;
}

/* Flows the kernel allowed under the old rules: decided again, torn down if denied. */
struct reauth_ctx {
	struct agd *d;
	int torn;
};

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
	/* The kernel's view of the socket: what the hook saw when it allowed it. */
	if (ag_sockdiag_lookup(d->sd, &e->orig, &si) || ag_fp_socket(d->fp, si.cookie, &flow, &epoch))
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

void agd_fastpath_sync(struct agd *d)
{
	struct ag_fp_env env = { .sublayer = AGD_SUBLAYER_RULES, .arg = d };
	struct ag_fp_ruleset rs = { 0 };
	char err[AG_FP_ERR_MAX];
	int r;

	if (!d->fp || !d->fp_dirty)
		return;
	d->fp_dirty = false;
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
