/*
 * fastpath.h — the in-kernel fast path: flows the rules already decide are
 * decided at connect()/sendmsg() by eBPF, and never wait for user space.
 *
 * Three parts, usable separately (docs/FASTPATH.md tells the whole story):
 *
 *  1. Rule descriptors (struct ag_fp_rule), in the engine's evaluation
 *     order.  ag_fp_rules_from_engine() reads them off the engine's CONNECT
 *     filters, so the kernel's copy can only ever be a cache of the engine.
 *  2. The compiler (ag_fp_compile): pure, no I/O.  It turns the descriptors
 *     into map contents, an image; ag_fp_image_eval() decides a flow from an
 *     image with the same code (lib/linux/bpf/fp_shared.h) the kernel runs.
 *  3. The kernel side (ag_fp_open/update/close): loads the eBPF programs,
 *     attaches them to a cgroup v2, and swaps compiled images in atomically.
 *
 * A decision is AG_FP_ALLOW (TCP: the socket is marked, so the firewall lets
 * the flow pass unqueued; UDP: the destination is recorded for the
 * firewall's UDP match, see ag_fp_pin_udp_match), AG_FP_DENY (connect() or
 * sendmsg() fail with EPERM at once) or AG_FP_PASS: fall through to NFQUEUE,
 * where the engine pends or decides as it does without the fast path.  The compiler falls through wherever a rule
 * it cannot evaluate (a barrier) could match before the deciding rule.
 *
 * Outbound only: inbound flows are queued at INPUT before any socket hook
 * could run, so there is nothing cheap to decide them with.
 */
#ifndef ALEGATE_LINUX_FASTPATH_H
#define ALEGATE_LINUX_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alegate/addr.h"

/* Bounds.  The map sizes are the kernel ABI's, in lib/linux/bpf/fp_shared.h
 * (FP_MAX_*): compiled entries, trie nodes, executables, own addresses. */
#define AG_FP_MAX_RULES		100000		/* descriptors one compile takes */
#define AG_FP_ERR_MAX		256		/* room for any error message here */
#define AG_FP_STATUS_MAX	512		/* room for ag_fp_status() */
/* Where ag_fp_open(NULL) attaches: the unified hierarchy's root, wherever
 * the system mounts it (a hybrid system keeps it under unified/). */
#define AG_FP_CGROUP_DEFAULT	"/sys/fs/cgroup"
#define AG_FP_CGROUP_HYBRID	"/sys/fs/cgroup/unified"

enum ag_fp_verdict {
	AG_FP_PASS = 0,		/* fall through to NFQUEUE (also: `ask`) */
	AG_FP_ALLOW = 1,
	AG_FP_DENY = 2,
};

const char *ag_fp_verdict_name(enum ag_fp_verdict v);

/* An executable as the kernel knows it: inode and the kernel's dev_t
 * (MAJOR << 20 | MINOR, not the stat(2) encoding). */
struct ag_fp_exe {
	uint64_t ino;
	uint32_t dev;
	bool known;		/* false: no identity (see ag_fp_exe_resolve) */
};

/* An address prefix; family 4 or 6, IPv4 in the first 4 bytes. */
struct ag_fp_prefix {
	uint8_t family;
	uint8_t plen;
	ag_addr addr;
};

/* struct ag_fp_rule.has */
#define AG_FP_HAS_APP		0x01
#define AG_FP_HAS_UID		0x02
#define AG_FP_HAS_REMOTE	0x04
#define AG_FP_HAS_HOST		0x08
#define AG_FP_HAS_PORT		0x10
#define AG_FP_HAS_PROTO		0x20
#define AG_FP_HAS_FAMILY	0x40

/*
 * One rule, as the fast path sees it: the conditions the hooks can check,
 * ANDed, and what to do.  Give only enabled rules of the CONNECT layer.
 *
 * evaluable = false makes the rule a BARRIER: it has a condition the
 * kernel cannot check (a host name with no address set, a field the hook
 * does not see...).  Leave that condition out and keep the others: the
 * compiler treats the rule as matching wherever its remaining conditions
 * match, and falls through there.  An exact application path whose
 * executable has no identity (exe.known false) is checked as a barrier for
 * executables no rule names, and as "no match" for those a rule names.
 */
struct ag_fp_rule {
	unsigned has;			/* AG_FP_HAS_* */
	bool evaluable;
	enum ag_fp_verdict verdict;	/* ALLOW, DENY, or PASS for an `ask` rule */
	const char *app;		/* HAS_APP: exact path, or glob (app_glob) */
	bool app_glob;			/* fnmatch(3) with no flags, as the engine */
	struct ag_fp_exe exe;		/* HAS_APP, exact: its identity */
	uint32_t uid_lo, uid_hi;	/* HAS_UID */
	const struct ag_fp_prefix *remote;	/* HAS_REMOTE: prefixes, ORed */
	size_t nremote;
	const struct ag_fp_prefix *host_addrs;	/* HAS_HOST: the addresses the DNS */
	size_t nhost_addrs;			/* cache holds for the name, ORed */
	uint16_t port_lo, port_hi;	/* HAS_PORT: remote port range */
	uint8_t proto;			/* HAS_PROTO: IP protocol */
	uint8_t family;			/* HAS_FAMILY: 4 or 6 */
	uint64_t expires_ns;		/* CLOCK_BOOTTIME deadline, 0 = none */
	uint64_t id;			/* the caller's (engine filter id); not interpreted */
};

/*
 * ag_fp_exe_resolve — the identity the kernel will see for a program
 * started from `path`, for an exact application rule.  out->known is set
 * only when the engine's path for such a process can be nothing but `path`:
 * Returns 0 (known); -ENOENT (no such file); -ELOOP (`path` is not
 * canonical: a symlink on the way, so the engine, which sees resolved
 * paths, never reports it); -EMLINK (hard links: one inode, several
 * paths); -EXDEV (overlayfs: stat(2) reports another inode than the
 * kernel's); -EINVAL (not a regular file); other -errno.  Never follows
 * what it does not need to; does I/O (stat), unlike the compiler.
 */
int ag_fp_exe_resolve(const char *path, struct ag_fp_exe *out);

/* ---- the compiler ------------------------------------------------------------ */

struct ag_fp_image;

struct ag_fp_image_info {
	size_t rules;		/* descriptors compiled */
	size_t apps;		/* executables the kernel can name */
	size_t nodes;		/* LPM trie entries */
	size_t entries;		/* compiled entries */
	size_t truncated;	/* lists cut at FP_SCAN_MAX (they fall through there) */
};

/*
 * ag_fp_compile — compile `n` descriptors, in the engine's evaluation order
 * (rules[0] first), into an image.  Pure: no I/O, no clock.
 * Returns 0 with *out set (free with ag_fp_image_free); -EINVAL for a bad
 * descriptor (message in err, naming its index and id); -E2BIG past
 * AG_FP_MAX_RULES or the map sizes (FP_MAX_ENTRIES, _NODES, _APPS); -ENOMEM.  err may be NULL.
 */
int ag_fp_compile(const struct ag_fp_rule *rules, size_t n, struct ag_fp_image **out,
		  char *err, size_t errlen);

/* ag_fp_image_free — accepts NULL. */
void ag_fp_image_free(struct ag_fp_image *img);

void ag_fp_image_info(const struct ag_fp_image *img, struct ag_fp_image_info *out);

/* A flow to decide in user space, as a hook would see it. */
struct ag_fp_flow {
	struct ag_fp_exe exe;	/* known = false: no executable */
	uint32_t uid;
	uint8_t family;		/* 4 or 6 */
	uint8_t proto;		/* only 6 and 17 reach the hooks */
	uint16_t port;		/* remote port */
	ag_addr addr;		/* remote address */
	uint64_t now_ns;	/* CLOCK_BOOTTIME, for timed rules */
};

/*
 * ag_fp_image_eval — the kernel's decision for `flow` under `img`, computed
 * by the same code (fp_decide).  *rule (may be NULL) gets the index of the
 * deciding descriptor, or UINT32_MAX when none matched.
 */
enum ag_fp_verdict ag_fp_image_eval(const struct ag_fp_image *img, const struct ag_fp_flow *flow,
				    uint32_t *rule);

/* ---- the kernel side ------------------------------------------------------------- */

struct ag_fp;

/*
 * ag_fp_open — load the eBPF programs and attach them to the cgroup v2
 * directory `cgroup` (NULL: AG_FP_CGROUP_DEFAULT, or AG_FP_CGROUP_HYBRID
 * where the former is not cgroup v2).  The programs decide only for
 * sockets of the calling thread's network namespace.  Until the first
 * ag_fp_update every flow falls through.  The attachment is a bpf_link
 * owned by this process: if it dies, the kernel detaches the programs and
 * every flow goes to NFQUEUE again (fail safe, not fail open).
 * Returns the handle, or NULL with errno and a sentence in err (may be
 * NULL) saying why: no BTF, no permission, kernel too old, not a cgroup v2
 * directory, built without eBPF.  The daemon then runs on NFQUEUE alone.
 */
struct ag_fp *ag_fp_open(const char *cgroup, char *err, size_t errlen);

/* ag_fp_close — detach, unload, free.  Accepts NULL. */
void ag_fp_close(struct ag_fp *fp);

/*
 * ag_fp_update — compile `rules` (as ag_fp_compile) and make the kernel use
 * them: the new maps are built beside the ones in use, then one store
 * switches every hook to them (the next connect() sees them).  On any
 * error the previous rules are NOT kept (they may allow what the new ones
 * deny): every flow falls through to NFQUEUE until an update succeeds
 * (and if even that cannot be arranged, the programs are detached).
 * n = 0 is the way to make everything fall through on purpose.
 * Returns 0, the compiler's errors, or -errno from the kernel (message in
 * err, may be NULL).
 */
int ag_fp_update(struct ag_fp *fp, const struct ag_fp_rule *rules, size_t n, char *err,
		 size_t errlen);

/*
 * ag_fp_set_loopback — whether the fast path decides flows to this host's
 * own addresses (the firewall's intercept_loopback).  Off (the default),
 * they pass unasked, as the firewall lets them.  Returns 0.
 */
int ag_fp_set_loopback(struct ag_fp *fp, bool intercept);

/*
 * ag_fp_set_local — this network namespace's own addresses (treated like
 * loopback), replacing the previous set; at most FP_MAX_LOCAL (1024).
 * ag_fp_refresh_local reads them with getifaddrs(3).  Call again when
 * addresses change.  Returns 0, -E2BIG, -EINVAL (a family neither 4 nor 6),
 * -errno.
 */
int ag_fp_set_local(struct ag_fp *fp, const struct ag_fp_prefix *addrs, size_t n);
int ag_fp_refresh_local(struct ag_fp *fp);

/*
 * ag_fp_pin_udp_match — pin the UDP match program at `path` (on a bpf
 * filesystem) for the firewall rule
 *   -p udp -m bpf --object-pinned PATH -j MARK --or-mark AG_FW_MARK_AUTH
 * placed just before the rules that save AUTH.  Without it, a UDP flow
 * that the rules allow still reaches NFQUEUE for its first datagram (the
 * engine then allows it at once).  The pin is removed by ag_fp_close.
 * Returns 0 or -errno.
 */
int ag_fp_pin_udp_match(struct ag_fp *fp, const char *path);

struct ag_fp_stats {
	uint64_t allowed;	/* hooks that decided allow */
	uint64_t denied;	/* ... deny (EPERM) */
	uint64_t passed;	/* ... fell through to NFQUEUE */
	uint64_t ignored;	/* not ours: other netns, loopback, kernel socket, not TCP/UDP */
	uint64_t udp_matched;	/* UDP datagrams the xt_bpf match let pass */
	uint64_t errors;	/* a helper failed (the flow fell through) */
	uint64_t folded;	/* events not reported: the ring was full */
	uint32_t epoch;		/* updates applied */
	struct ag_fp_image_info image;	/* the rules in use */
};

/* ag_fp_stats — counters summed over CPUs.  Returns 0 or -errno. */
int ag_fp_stats(const struct ag_fp *fp, struct ag_fp_stats *out);

/*
 * ag_fp_status — one line for `alegatectl status`: "on (cgroup …, N rules,
 * …)" for a handle, or "off: REASON" when fp is NULL (REASON is what
 * ag_fp_open put in err; NULL: "disabled").  Always NUL-terminated.
 */
void ag_fp_status(const struct ag_fp *fp, const char *open_err, char *buf, size_t len);

/*
 * ag_fp_socket — what the hook saw when it allowed the socket with this
 * cookie (sock_diag reports cookies): executable, uid, and in *epoch the
 * update it was allowed under.  For S12: after a rule change, re-decide
 * such a flow with ag_fp_eval() and tear it down on AG_FP_DENY
 * (docs/FASTPATH.md).  flow->family/proto/port/addr are left as given.
 * Returns 0; -ENOENT (never allowed, or forgotten: its slot of
 * FP_MAX_SOCKS now holds a socket allowed since, so a record outlives at
 * least the next FP_MAX_SOCKS - 1 cookies); -EAGAIN (the slot kept
 * changing while read: try again); -EINVAL; other -errno.
 */
int ag_fp_socket(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_flow *flow,
		 uint32_t *epoch);

/* ag_fp_eval — ag_fp_image_eval() with the rules in use. */
enum ag_fp_verdict ag_fp_eval(const struct ag_fp *fp, const struct ag_fp_flow *flow,
			      uint32_t *rule);

/* ---- what the hooks decided, for user space ------------------------------------------ */

enum ag_fp_event_type {
	AG_FP_EV_ALLOW = 1,	/* connect(), or a first datagram to a destination, allowed */
	AG_FP_EV_DENY,		/* refused with EPERM (a sender's run of refused datagrams: once) */
	AG_FP_EV_END,		/* an allowed socket was released, with its bytes */
};

struct ag_fp_event {
	enum ag_fp_event_type type;
	uint64_t cookie;	/* the socket */
	uint64_t time_ns;	/* CLOCK_BOOTTIME */
	uint32_t tgid, uid;	/* ALLOW, DENY: who */
	struct ag_fp_exe exe;	/* ALLOW, DENY */
	uint64_t rule_id;	/* ALLOW, DENY: the deciding descriptor's id, 0: none */
	uint8_t family, proto;
	uint16_t port;		/* remote (ALLOW, DENY) */
	ag_addr addr;		/* remote (ALLOW, DENY) */
	uint64_t bytes_in, bytes_out;	/* END: IP bytes each way */
};

typedef void (*ag_fp_event_cb)(const struct ag_fp_event *ev, void *arg);

/*
 * ag_fp_events_open — read the hooks' events: returns an fd to poll for
 * input (then call ag_fp_events_read), or -errno.  The hooks never wait
 * for the reader: what does not fit the ring (FP_EVENTS_BYTES) is counted
 * in ag_fp_stats().folded and lost.
 */
int ag_fp_events_open(struct ag_fp *fp, ag_fp_event_cb cb, void *arg);
/* Deliver the events waiting, without blocking.  Returns how many, or -errno. */
int ag_fp_events_read(struct ag_fp *fp);

/* ---- socket owners, for attribution ------------------------------------------------ */

/* Who used a socket last: the task that ran connect() or sendmsg() on it. */
struct ag_fp_owner {
	uint32_t tgid;		/* its process id, in the initial pid namespace */
	uint32_t uid;		/* the socket's uid */
	uint64_t start_ns;	/* when the process started, CLOCK_BOOTTIME ns: its
				   /proc/PID/stat start time is start_ns / (1e9 / CLK_TCK) */
	uint64_t seen_ns;	/* when, CLOCK_BOOTTIME ns */
	struct ag_fp_exe exe;	/* its executable then */
};

/*
 * ag_fp_socket_owner — the process that connected, or sent with an
 * address, on the socket with this cookie (sock_diag's cookie), as the
 * hooks recorded it for every socket of the guarded namespace whatever
 * they decided.  Not recorded: sockets that never connect()ed nor sent
 * with an address (listeners, accepted sockets), kernel sockets, loopback
 * and own addresses unless ag_fp_set_loopback(true) (the firewall lets
 * those pass unqueued, so nobody asks).  A socket shared by processes
 * names the last one that used it; after fork() without a connect() of
 * its own, the child is not seen.  The tgid may have exited since, and
 * been reused: compare start_ns with the process's.
 * Returns 0; -ENOENT (not recorded, or forgotten: FP_MAX_SOCKS slots for
 * allowed sockets, an LRU of FP_MAX_OWNERS for the others); -EINVAL;
 * -EOPNOTSUPP built without eBPF; other -errno.
 */
int ag_fp_socket_owner(const struct ag_fp *fp, uint64_t cookie, struct ag_fp_owner *out);

struct ag_attrib_owner;

/*
 * ag_fp_attrib_owner — ag_fp_socket_owner() in the shape of lib/linux/
 * attrib's owner hook: ag_attrib_set_owner_hook(a, ag_fp_attrib_owner, fp).
 * `fp` is a struct ag_fp *, and must outlive the hook.  Returns as
 * ag_fp_socket_owner().
 */
int ag_fp_attrib_owner(void *fp, uint64_t cookie, struct ag_attrib_owner *out);

#endif
