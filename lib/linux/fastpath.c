/*
 * lib/linux/fastpath.c — load, attach, fill and read the fast path's eBPF
 * programs and maps (lib/linux/bpf/fastpath.bpf.c, through the libbpf
 * skeleton the Makefile generates).
 *
 * Every map is created at load, while the daemon still has CAP_BPF: an
 * update only writes through map file descriptors, which needs no
 * capability on this kernel (6.5 and later check privilege when a map or
 * program is created, not when a map is written).
 *
 * Atomic updates: the compiled rules exist in two generations (fp_apps_0/1,
 * fp_lpm_0/1, fp_entries_0/1).  An update clears the generation not in
 * use, fills it, and then stores epoch + 1 into the program's .bss, whose
 * low bit picks the generation: one 4-byte store, seen by the next hook
 * that runs.  A hook reads the epoch once, so it uses one generation from
 * start to end; only a hook that ran across two whole updates (each takes
 * milliseconds, a hook microseconds) could mix them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/err.h"
#include "linux/attrib.h"
#include "linux/bpf/fp_shared.h"
#include "linux/fastpath.h"
#include "linux/fw.h"

#ifndef AG_FP_NO_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fastpath.skel.h"
#include "linux/bpf_load.h"
#endif

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define FP_BTF_PATH "/sys/kernel/btf/vmlinux"

#ifdef AG_FP_NO_BPF

struct ag_fp {
	int unused;
};

struct ag_fp *ag_fp_open(const char *cgroup, char *err, size_t errlen)
{
	ag_seterr(err, errlen, "built without eBPF support (no kernel BTF, bpftool or clang "
			    "when it was compiled)");
	errno = EOPNOTSUPP;
	return NULL;
}

void ag_fp_close(struct ag_fp *fp)
{
}

int ag_fp_update(struct ag_fp *fp, const struct ag_fp_rule *rules, size_t n, char *err,
		 size_t errlen)
{
	return -EOPNOTSUPP;
}

int ag_fp_set_loopback(struct ag_fp *fp, bool intercept)
{
	return -EOPNOTSUPP;
}

int ag_fp_set_local(struct ag_fp *fp, const struct ag_fp_prefix *addrs, size_t n)
{
	return -EOPNOTSUPP;
}

int ag_fp_refresh_local(struct ag_fp *fp)
{
	return -EOPNOTSUPP;
}

int ag_fp_pin_udp_match(struct ag_fp *fp, const char *path)
{
	return -EOPNOTSUPP;
}

int ag_fp_stats(const struct ag_fp *fp, struct ag_fp_stats *out)
{
	memset(out, 0, sizeof(*out));
	return -EOPNOTSUPP;
}

int ag_fp_socket(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_flow *flow,
		 uint32_t *epoch)
{
	return -EOPNOTSUPP;
}

int ag_fp_events_open(struct ag_fp *fp, ag_fp_event_cb cb, void *arg)
{
	return -EOPNOTSUPP;
}

int ag_fp_events_read(struct ag_fp *fp)
{
	return -EOPNOTSUPP;
}

int ag_fp_socket_owner(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_owner *out)
{
	return -EOPNOTSUPP;
}

enum ag_fp_verdict ag_fp_eval(const struct ag_fp *fp, const struct ag_fp_flow *flow,
			      uint32_t *rule)
{
	if (rule)
		*rule = FP_RULE_NONE;
	return AG_FP_PASS;
}

void ag_fp_status(const struct ag_fp *fp, const char *open_err, char *buf, size_t len)
{
	ag_seterr(buf, len, "off: %s", open_err ? open_err : "disabled");
}

#else /* eBPF */

_Static_assert(FP_MARK_AUTH == AG_FW_MARK_AUTH, "fastpath.bpf.c and fw.h disagree on AUTH");
_Static_assert(FP_MARK_FAST == AG_FW_MARK_FAST, "fastpath.bpf.c and fw.h disagree on FAST");

enum {
	HOOK_CONNECT4, HOOK_CONNECT6, HOOK_SENDMSG4, HOOK_SENDMSG6, HOOK_SETSOCKOPT, HOOK_EGRESS,
	HOOK_INGRESS, HOOK_RELEASE,
	NHOOKS
};

struct ag_fp {
	struct fastpath_bpf *skel;
	struct bpf_link *links[NHOOKS];
	int cgfd;
	char cgroup[PATH_MAX];
	char pin[PATH_MAX];
	uint32_t epoch;
	struct ag_fp_image *img;	/* the rules in use, for ag_fp_eval */
	/* the descriptors' ids of the rules in use: the hooks report an index */
	uint64_t *ids;
	size_t nids;
	struct ring_buffer *rb;
	ag_fp_event_cb ev_cb;
	void *ev_arg;
};

/* ---- libbpf's messages: kept for the error a person reads, not printed --------- */

static char fp_libbpf_msg[AG_FP_ERR_MAX];

static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	ag_bpf_msg_keep(fp_libbpf_msg, sizeof(fp_libbpf_msg), AG_BPF_KEEP_LAST, level, fmt, ap);
	return 0;
}

static int netns_cookie(uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (fd == -1)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) == -1)
		r = -errno;
	close(fd);
	return r;
}

struct ag_fp *ag_fp_open(const char *cgroup, char *err, size_t errlen)
{
	libbpf_print_fn_t old = libbpf_set_print(capture);
	struct bpf_program *progs[NHOOKS];
	struct ag_fp *fp = NULL;
	uint64_t cookie = 0;
	int e = 0;

	fp_libbpf_msg[0] = 0;
	if (!cgroup) {
		cgroup = ag_is_cgroup2(AG_FP_CGROUP_DEFAULT) ? AG_FP_CGROUP_DEFAULT
			 : ag_is_cgroup2(AG_FP_CGROUP_HYBRID) ? AG_FP_CGROUP_HYBRID : NULL;
		if (!cgroup) {
			ag_seterr(err, errlen, "no cgroup v2 hierarchy at %s or %s",
			       AG_FP_CGROUP_DEFAULT, AG_FP_CGROUP_HYBRID);
			e = ENOENT;
			goto fail;
		}
	} else if (!ag_is_cgroup2(cgroup)) {
		e = errno == ENOENT ? ENOENT : ENOTDIR;
		ag_seterr(err, errlen, "\"%s\" is not a cgroup v2 directory", cgroup);
		goto fail;
	}
	if (access(FP_BTF_PATH, R_OK) == -1) {
		e = errno;
		ag_seterr(err, errlen, "the kernel has no BTF (%s: %s), which CO-RE programs need",
		       FP_BTF_PATH, strerror(e));
		goto fail;
	}
	if ((e = -netns_cookie(&cookie))) {
		ag_seterr(err, errlen, "cannot read the network namespace cookie (%s; Linux 5.14 "
				    "or later has it)", strerror(e));
		goto fail;
	}
	fp = calloc(1, sizeof(*fp));
	if (!fp) {
		e = ENOMEM;
		ag_seterr(err, errlen, "out of memory");
		goto fail;
	}
	fp->cgfd = -1;
	snprintf(fp->cgroup, sizeof(fp->cgroup), "%s", cgroup);
	fp->cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fp->cgfd == -1) {
		e = errno;
		ag_seterr(err, errlen, "cannot open cgroup \"%s\": %s", cgroup, strerror(e));
		goto fail;
	}
	fp->skel = fastpath_bpf__open();
	if (!fp->skel) {
		e = errno;
		ag_seterr(err, errlen, "cannot open the eBPF object: %s", strerror(e));
		goto fail;
	}
	fp->skel->rodata->fp_netns_cookie = cookie;
	if (fastpath_bpf__load(fp->skel)) {
		e = errno ? errno : EINVAL;
		if (e == EPERM || e == EACCES)
			ag_seterr(err, errlen, "no permission to load eBPF programs (needs root, or "
					    "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)");
		else
			ag_seterr(err, errlen, "the kernel refused the eBPF programs (%s; they need "
					    "Linux 6.2 or later)%s%s",
			       strerror(e), fp_libbpf_msg[0] ? ": " : "", fp_libbpf_msg);
		goto fail;
	}
	progs[HOOK_CONNECT4] = fp->skel->progs.fp_connect4;
	progs[HOOK_CONNECT6] = fp->skel->progs.fp_connect6;
	progs[HOOK_SENDMSG4] = fp->skel->progs.fp_sendmsg4;
	progs[HOOK_SENDMSG6] = fp->skel->progs.fp_sendmsg6;
	progs[HOOK_SETSOCKOPT] = fp->skel->progs.fp_setsockopt;
	progs[HOOK_EGRESS] = fp->skel->progs.fp_egress;
	progs[HOOK_INGRESS] = fp->skel->progs.fp_ingress;
	progs[HOOK_RELEASE] = fp->skel->progs.fp_release;
	for (int i = 0; i < NHOOKS; i++) {
		fp->links[i] = bpf_program__attach_cgroup(progs[i], fp->cgfd);
		if (!fp->links[i]) {
			e = errno ? errno : EINVAL;
			fp->links[i] = NULL;
			ag_seterr(err, errlen, "cannot attach %s to cgroup \"%s\": %s",
			       bpf_program__name(progs[i]), cgroup, strerror(e));
			goto fail;
		}
	}
	libbpf_set_print(old);
	return fp;
fail:
	ag_fp_close(fp);
	libbpf_set_print(old);
	errno = e ? e : EINVAL;
	return NULL;
}

void ag_fp_close(struct ag_fp *fp)
{
	if (!fp)
		return;
	if (fp->skel && fp->skel->bss) {
		/* A firewall rule may keep the UDP match alive after us: no
		 * entry it holds may match any more. */
		__atomic_store_n(&fp->skel->bss->fp_epoch, fp->epoch + 2, __ATOMIC_SEQ_CST);
	}
	for (int i = 0; i < NHOOKS; i++)
		bpf_link__destroy(fp->links[i]);
	ring_buffer__free(fp->rb);
	free(fp->ids);
	if (fp->pin[0])
		unlink(fp->pin);
	fastpath_bpf__destroy(fp->skel);
	if (fp->cgfd >= 0)
		close(fp->cgfd);
	ag_fp_image_free(fp->img);
	free(fp);
}

/* Delete every key of a map (hash or LPM trie); key: room for one key. */
static int map_clear(int fd, void *key)
{
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key) && errno != ENOENT)
			return -errno;
	return errno == ENOENT ? 0 : -errno;
}

/* Write an image into generation `gen`, which no hook is using. */
static int load_generation(struct ag_fp *fp, unsigned gen, const struct ag_fp_image *img,
			   char *err, size_t errlen)
{
	struct fastpath_bpf *s = fp->skel;
	int afd = bpf_map__fd(gen ? s->maps.fp_apps_1 : s->maps.fp_apps_0);
	int lfd = bpf_map__fd(gen ? s->maps.fp_lpm_1 : s->maps.fp_lpm_0);
	int efd = bpf_map__fd(gen ? s->maps.fp_entries_1 : s->maps.fp_entries_0);
	struct fp_app_key ak;
	struct fp_lpm_key lk;
	int r;

	if ((r = map_clear(afd, &ak)) || (r = map_clear(lfd, &lk))) {
		ag_seterr(err, errlen, "clearing generation %u: %s", gen, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < img->napps; i++)
		if (bpf_map_update_elem(afd, &img->app_keys[i], &img->app_vals[i], BPF_NOEXIST)) {
			r = -errno;
			ag_seterr(err, errlen, "executable map, entry %zu: %s", i, strerror(-r));
			return r;
		}
	for (size_t i = 0; i < img->nnodes; i++)
		if (bpf_map_update_elem(lfd, &img->node_keys[i], &img->node_vals[i], BPF_NOEXIST)) {
			r = -errno;
			ag_seterr(err, errlen, "prefix trie, node %zu: %s", i, strerror(-r));
			return r;
		}
	/* The array needs no clearing: no list reaches past nentries. */
	for (size_t i = 0; i < img->nentries; i++) {
		__u32 k = (__u32)i;

		if (bpf_map_update_elem(efd, &k, &img->entries[i], BPF_ANY)) {
			r = -errno;
			ag_seterr(err, errlen, "entry array, entry %zu: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

/*
 * After a failed update the rules in the kernel are the previous ones, and
 * they may allow what the new ones deny: switch to an empty generation, so
 * that every flow falls through to NFQUEUE; if even that fails, detach.
 */
static void fall_through_all(struct ag_fp *fp)
{
	struct fastpath_bpf *s = fp->skel;
	unsigned gen = (fp->epoch + 1) & 1;
	struct fp_app_key ak;
	struct fp_lpm_key lk;

	if (map_clear(bpf_map__fd(gen ? s->maps.fp_apps_1 : s->maps.fp_apps_0), &ak) == 0 &&
	    map_clear(bpf_map__fd(gen ? s->maps.fp_lpm_1 : s->maps.fp_lpm_0), &lk) == 0) {
		fp->epoch++;
		__atomic_store_n(&s->bss->fp_epoch, fp->epoch, __ATOMIC_SEQ_CST);
	} else {
		for (int i = 0; i < NHOOKS; i++) {
			bpf_link__destroy(fp->links[i]);
			fp->links[i] = NULL;
		}
	}
	ag_fp_image_free(fp->img);
	fp->img = NULL;
}

int ag_fp_update(struct ag_fp *fp, const struct ag_fp_rule *rules, size_t n, char *err,
		 size_t errlen)
{
	struct ag_fp_image *img;
	unsigned gen = (fp->epoch + 1) & 1;
	int r;

	if (err && errlen)
		err[0] = 0;
	if ((r = ag_fp_compile(rules, n, &img, err, errlen))) {
		fall_through_all(fp);
		return r;
	}
	if ((r = load_generation(fp, gen, img, err, errlen))) {
		ag_fp_image_free(img);
		fall_through_all(fp);
		return r;
	}
	uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));

	for (size_t i = 0; ids && i < n; i++)
		ids[i] = rules[i].id;
	fp->epoch++;
	__atomic_store_n(&fp->skel->bss->fp_epoch, fp->epoch, __ATOMIC_SEQ_CST);
	ag_fp_image_free(fp->img);
	fp->img = img;
	free(fp->ids);
	fp->ids = ids;
	fp->nids = ids ? n : 0;
	return 0;
}

static int on_ring(void *ctx, void *data, size_t size)
{
	struct ag_fp *fp = ctx;
	const struct fp_event *e = data;
	struct ag_fp_event ev;

	if (size < sizeof(*e) || !fp->ev_cb)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.type = (enum ag_fp_event_type)e->type;
	ev.cookie = e->cookie;
	ev.time_ns = e->time_ns;
	ev.tgid = e->owner.tgid;
	ev.uid = e->owner.uid;
	ev.exe.known = e->owner.exe_known;
	ev.exe.ino = e->owner.ino;
	ev.exe.dev = e->owner.dev;
	if (e->type != FP_EV_END && e->rule < fp->nids)
		ev.rule_id = fp->ids[e->rule];
	ev.family = e->family;
	ev.proto = e->proto;
	ev.port = e->port;
	ev.addr = ag_addr_make(e->family, e->addr);
	ev.bytes_in = e->bytes_in;
	ev.bytes_out = e->bytes_out;
	fp->ev_cb(&ev, fp->ev_arg);
	return 0;
}

int ag_fp_events_open(struct ag_fp *fp, ag_fp_event_cb cb, void *arg)
{
	if (fp->rb)
		return -EALREADY;
	fp->ev_cb = cb;
	fp->ev_arg = arg;
	fp->rb = ring_buffer__new(bpf_map__fd(fp->skel->maps.fp_events), on_ring, fp, NULL);
	if (!fp->rb)
		return -errno;
	return ring_buffer__epoll_fd(fp->rb);
}

int ag_fp_events_read(struct ag_fp *fp)
{
	return fp->rb ? ring_buffer__consume(fp->rb) : -ENOTCONN;
}

int ag_fp_set_loopback(struct ag_fp *fp, bool intercept)
{
	uint32_t f = __atomic_load_n(&fp->skel->bss->fp_flags, __ATOMIC_RELAXED);

	f = intercept ? f | FP_F_INTERCEPT_LOOPBACK : f & ~(uint32_t)FP_F_INTERCEPT_LOOPBACK;
	__atomic_store_n(&fp->skel->bss->fp_flags, f, __ATOMIC_SEQ_CST);
	return 0;
}

int ag_fp_set_local(struct ag_fp *fp, const struct ag_fp_prefix *addrs, size_t n)
{
	int fd = bpf_map__fd(fp->skel->maps.fp_local);
	struct fp_addr_key k, next;
	int r;

	if (n > FP_MAX_LOCAL)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family != 4 && addrs[i].family != 6)
			return -EINVAL;
	/* Add the new set before removing what left, so an address in both
	 * is never missing. */
	for (size_t i = 0; i < n; i++) {
		__u8 one = 1;

		memset(&k, 0, sizeof(k));
		k.family = addrs[i].family;
		memcpy(k.addr, addrs[i].addr.b, addrs[i].family == 4 ? 4 : 16);
		if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
			return -errno;
	}
	memset(&k, 0, sizeof(k));
	r = bpf_map_get_next_key(fd, NULL, &next);
	while (r == 0) {
		bool keep = false;

		k = next;
		r = bpf_map_get_next_key(fd, &k, &next);
		for (size_t i = 0; i < n && !keep; i++)
			keep = addrs[i].family == k.family &&
			       memcmp(addrs[i].addr.b, k.addr, k.family == 4 ? 4 : 16) == 0;
		if (!keep)
			bpf_map_delete_elem(fd, &k);
	}
	return 0;
}

int ag_fp_refresh_local(struct ag_fp *fp)
{
	struct ag_fp_prefix set[FP_MAX_LOCAL];
	struct ifaddrs *ifa, *i;
	size_t n = 0;
	int r, ver;

	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i && n < FP_MAX_LOCAL; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		memset(&set[n], 0, sizeof(set[n]));
		ver = ag_addr_from_sockaddr(i->ifa_addr, &set[n].addr, NULL);
		if (ver) {
			set[n].family = (uint8_t)ver;
			set[n].plen = ver == 4 ? 32 : 128;
			n++;
		}
	}
	freeifaddrs(ifa);
	r = ag_fp_set_local(fp, set, n);
	return r;
}

int ag_fp_pin_udp_match(struct ag_fp *fp, const char *path)
{
	int r;

	if (strlen(path) >= sizeof(fp->pin))
		return -ENAMETOOLONG;
	if (fp->pin[0])
		return -EALREADY;
	r = bpf_obj_pin(bpf_program__fd(fp->skel->progs.fp_udp_match), path);
	if (r)
		return r < 0 ? r : -EIO;
	snprintf(fp->pin, sizeof(fp->pin), "%s", path);
	return 0;
}

int ag_fp_stats(const struct ag_fp *fp, struct ag_fp_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct fp_stats *per;
	__u32 zero = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	out->epoch = fp->epoch;
	ag_fp_image_info(fp->img, &out->image);
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(fp->skel->maps.fp_stats), &zero, per)) {
		r = -errno;
	} else {
		for (int c = 0; c < ncpu; c++) {
			out->allowed += per[c].c[FP_STAT_ALLOWED];
			out->denied += per[c].c[FP_STAT_DENIED];
			out->passed += per[c].c[FP_STAT_PASSED];
			out->ignored += per[c].c[FP_STAT_IGNORED];
			out->udp_matched += per[c].c[FP_STAT_UDP_MATCHED];
			out->errors += per[c].c[FP_STAT_ERRORS];
			out->folded += per[c].c[FP_STAT_FOLDED];
		}
	}
	free(per);
	return r;
}

void ag_fp_status(const struct ag_fp *fp, const char *open_err, char *buf, size_t len)
{
	struct ag_fp_stats st;

	if (!fp) {
		ag_seterr(buf, len, "off: %s", open_err && open_err[0] ? open_err : "disabled");
		return;
	}
	if (ag_fp_stats(fp, &st)) {
		ag_seterr(buf, len, "on (cgroup %s; counters unreadable)", fp->cgroup);
		return;
	}
	ag_seterr(buf, len,
	       "on (cgroup %s; %zu rules, %zu entries, %zu programs named, update %u; "
	       "allowed %llu, denied %llu, fell through %llu)",
	       fp->cgroup, st.image.rules, st.image.entries, st.image.apps, st.epoch,
	       (unsigned long long)st.allowed, (unsigned long long)st.denied,
	       (unsigned long long)st.passed);
}

/*
 * The fp_socks record of the socket with this cookie.  A hook may be
 * rewriting the slot for another socket while the kernel copies it out, so
 * the slot is read until two copies in a row agree (a few tries); a slot
 * that holds another socket, or none, is -ENOENT.
 */
static int sock_record(const struct ag_fp *fp, uint64_t cookie, struct fp_sock *out)
{
	int fd = bpf_map__fd(fp->skel->maps.fp_socks);
	uint32_t slot = (uint32_t)cookie & (FP_MAX_SOCKS - 1);
	struct fp_sock a, b;

	if (!cookie)
		return -ENOENT;
	if (bpf_map_lookup_elem(fd, &slot, &a))
		return -errno;
	for (int tries = 0; tries < 8; tries++) {
		if (bpf_map_lookup_elem(fd, &slot, &b))
			return -errno;
		if (!memcmp(&a, &b, sizeof(a))) {
			if (a.cookie != cookie)
				return -ENOENT;
			*out = a;
			return 0;
		}
		a = b;
	}
	return -EAGAIN;
}

int ag_fp_socket(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_flow *flow,
		 uint32_t *epoch)
{
	struct fp_sock s;
	int r;

	if (!fp || !flow)
		return -EINVAL;
	if ((r = sock_record(fp, cookie, &s)))
		return r;
	flow->exe.known = s.owner.exe_known;
	flow->exe.ino = s.owner.ino;
	flow->exe.dev = s.owner.dev;
	flow->uid = s.owner.uid;
	if (epoch)
		*epoch = s.epoch;
	return 0;
}

enum ag_fp_verdict ag_fp_eval(const struct ag_fp *fp, const struct ag_fp_flow *flow,
			      uint32_t *rule)
{
	return ag_fp_image_eval(fp->img, flow, rule);
}

int ag_fp_socket_owner(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_owner *out)
{
	struct fp_owner best;
	struct fp_sock s;
	bool owned;
	int r;

	if (!fp || !out)
		return -EINVAL;
	/* A socket the hooks let through and one they allowed are recorded in
	 * different maps; one that was both (a UDP socket whose destinations
	 * differ) is named by the later record. */
	owned = bpf_map_lookup_elem(bpf_map__fd(fp->skel->maps.fp_owners), &cookie, &best) == 0;
	if (!owned && errno != ENOENT)
		return -errno;
	r = sock_record(fp, cookie, &s);
	if (r && r != -ENOENT)
		return r;
	if (!r && (!owned || s.owner.seen_ns > best.seen_ns))
		best = s.owner;
	else if (!owned)
		return -ENOENT;
	out->tgid = best.tgid;
	out->uid = best.uid;
	out->start_ns = best.start_ns;
	out->seen_ns = best.seen_ns;
	out->exe.known = best.exe_known;
	out->exe.ino = best.ino;
	out->exe.dev = best.dev;
	return 0;
}

#endif /* eBPF */

int ag_fp_attrib_owner(void *fp, uint64_t cookie, struct ag_attrib_owner *out)
{
	struct ag_fp_owner o;
	int r = ag_fp_socket_owner(fp, cookie, &o);

	if (r)
		return r;
	if (o.tgid == 0 || o.tgid > INT_MAX)
		return -ENOENT;
	out->pid = (pid_t)o.tgid;
	out->uid = o.uid;
	out->start_ns = o.start_ns;
	return 0;
}
