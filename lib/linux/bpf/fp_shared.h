/*
 * lib/linux/bpf/fp_shared.h — what the fast path's eBPF programs and user
 * space share: the layout of the maps, and the one function that decides.
 *
 * This header is compiled twice: into the BPF object (clang -target bpf,
 * where __bpf__ is defined and lookups are bpf_map_lookup_elem()) and into
 * user space (lib/linux/fastpath_compile.c), where the same fp_decide()
 * reads a compiled image in memory.  The unit tests run the user-space
 * build against the engine, so what they prove holds for the kernel's
 * decisions too: change the matching here, never in one copy only.
 *
 * The model (docs/FASTPATH.md has the reasoning):
 *  - Rules, in the engine's evaluation order, become entries; an entry's
 *    `rule` is its position, and the lowest position that matches decides
 *    (the engine's first match within the rules' sublayer).
 *  - Entries live in buckets: FP_BUCKET_ANY for rules with no application
 *    condition, one bucket per executable the rules name (found by the
 *    inode and device of the running program), and FP_BUCKET_UNKNOWN for
 *    executables no rule names, where every application rule is a barrier.
 *  - In a bucket, an LPM trie keyed by (bucket, family, address) finds the
 *    longest stored prefix that holds the remote address; its value is the
 *    list of every entry of the bucket whose prefix holds that prefix, in
 *    rule order.  The first entry whose port, protocol and uid match is the
 *    bucket's answer; the two buckets' lower position wins.
 *  - FP_PASS means "not here": the flow falls through to NFQUEUE.  Barriers,
 *    `ask` rules, expired timed rules and truncated lists answer FP_PASS.
 */
#ifndef ALEGATE_FP_SHARED_H
#define ALEGATE_FP_SHARED_H

#ifndef __bpf__
#include <linux/types.h>
#include <string.h>
#endif

/* Entries one bucket lookup may read; a longer list ends in a PASS sentinel. */
#define FP_SCAN_MAX		64
/* Map sizes, per generation (the maps are created once, at load: updates
 * then need no privilege beyond the map file descriptors). */
#define FP_MAX_APPS		4096	/* executables the rules name */
#define FP_MAX_NODES		262144	/* LPM trie nodes (not preallocated: used ones cost) */
#define FP_MAX_ENTRIES		65536	/* compiled entries, 32 bytes each */
#define FP_MAX_UDP		65536	/* (socket, destination) pairs remembered */
#define FP_MAX_SOCKS		65536	/* slots for sockets a hook allowed, for S12:
					   a power of two (cookie & (FP_MAX_SOCKS - 1)) */
#define FP_MAX_OWNERS		65536	/* owners of the sockets that fell through */
#define FP_MAX_LOCAL		1024	/* own addresses */
/* Bits of the LPM key before the address: bucket (32) and family (8). */
#define FP_LPM_FIXED_BITS	40
#define FP_RULE_NONE		0xffffffffu

/* Verdicts of an entry, and of fp_decide(). */
enum { FP_PASS = 0, FP_ALLOW = 1, FP_DENY = 2 };

enum {
	FP_BUCKET_ANY = 0,	/* rules with no application condition */
	FP_BUCKET_UNKNOWN = 1,	/* an executable no rule names */
	FP_BUCKET_FIRST_APP = 2,
};

/* Executable identity: inode and the kernel's dev_t (MAJOR << 20 | MINOR). */
struct fp_app_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

struct fp_app_val {
	__u32 bucket;
};

/* LPM trie key; prefixlen = FP_LPM_FIXED_BITS + address prefix length. */
struct fp_lpm_key {
	__u32 prefixlen;
	__u32 bucket;
	__u8 family;		/* 4 or 6 */
	__u8 addr[16];		/* network order; IPv4 in the first 4 bytes */
};

/* Value of a trie node: a run of entries. */
struct fp_list {
	__u32 start;
	__u32 len;
};

struct fp_entry {
	__u32 rule;		/* position in the engine's order */
	__u32 uid_lo, uid_hi;
	__u16 port_lo, port_hi;	/* remote port, host order */
	__u8 proto;		/* 0: any */
	__u8 verdict;		/* FP_ALLOW, FP_DENY, FP_PASS */
	__u16 pad;
	__u32 pad2;		/* no hidden padding: lists are compared with memcmp */
	__u64 expires_ns;	/* CLOCK_BOOTTIME; 0: never.  Past it: FP_PASS */
};

/* One flow as a hook sees it. */
struct fp_flow {
	__u64 ino;		/* executable, when exe_known */
	__u32 dev;
	__u32 uid;		/* the socket's owner */
	__u8 exe_known;
	__u8 family;		/* 4 or 6: an IPv4-mapped IPv6 address is 4 */
	__u8 proto;		/* 6 or 17 */
	__u8 pad;
	__u16 port;		/* remote port, host order */
	__u8 addr[16];
	__u64 now_ns;		/* CLOCK_BOOTTIME */
};

/* ---- maps written by the hooks, read by user space --------------------------- */

/* fp_udp: (socket, destination) pairs a hook allowed, for the firewall's
 * xt_bpf match; valid while the value equals the current epoch. */
struct fp_udp_key {
	__u64 cookie;
	__u8 family;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

/*
 * Who used a socket last, as the hook saw it: the value of fp_owners (for
 * sockets the hooks let fall through or denied) and the head of fp_socks
 * (for sockets they allowed).  Attribution reads it by socket cookie
 * instead of scanning /proc for the socket's inode.
 */
struct fp_owner {
	__u64 ino;		/* executable, when exe_known */
	__u32 dev;
	__u32 uid;		/* the socket's owner (sk_uid) */
	__u32 tgid;		/* the process, in the initial pid namespace */
	__u8 exe_known;
	__u8 pad[3];
	__u64 start_ns;		/* its start (the leader's start_boottime): tells a
				   reused pid apart, as /proc/PID/stat's field 22 */
	__u64 seen_ns;		/* CLOCK_BOOTTIME of that connect()/sendmsg(): of a
				   socket in both maps, the later record is right */
};

/*
 * fp_socks: what the hook saw for a socket it allowed (S12 re-evaluation,
 * and its owner).  An array of FP_MAX_SOCKS slots indexed by the low bits
 * of the socket cookie, not a hash: a slot is written in place with no
 * lock and no allocation (an LRU hash update cost the allowing hook more
 * than everything else it does together; docs/FASTPATH.md).  A slot holds
 * the last allowed socket whose cookie falls there, so a record lives
 * until FP_MAX_SOCKS more cookies have been handed out; `cookie` tells
 * whose record it is (0: none), and user space reads a slot until two
 * copies agree, since a hook may be rewriting it meanwhile.
 */
struct fp_sock {
	__u64 cookie;		/* the socket this record is for; 0: empty */
	struct fp_owner owner;
	__u32 epoch;		/* the epoch whose rules allowed it */
	__u32 rule;
};

/*
 * fp_events, a ring buffer: each connect() or first sendmsg() to a
 * destination the hooks allowed or denied, and the end of each TCP socket
 * they allowed with its bytes.  The hooks never wait for room: an event
 * that does not fit is counted (FP_STAT_FOLDED) and dropped.
 */
#define FP_EVENTS_BYTES		(512 * 1024)
enum {
	FP_EV_ALLOW = 1,
	FP_EV_DENY,
	FP_EV_END,		/* an allowed socket was released */
};

struct fp_event {
	__u64 cookie;
	__u64 time_ns;		/* CLOCK_BOOTTIME */
	struct fp_owner owner;	/* ALLOW, DENY */
	__u64 bytes_in, bytes_out;	/* END: IP packet bytes each way */
	__u32 rule;		/* ALLOW, DENY */
	__u8 type;		/* FP_EV_* */
	__u8 family;		/* 4 or 6 */
	__u8 proto;
	__u8 pad;
	__u16 port;		/* remote, host order */
	__u16 pad2;
	__u8 addr[16];		/* remote (ALLOW, DENY) */
};

/* fp_sk (socket storage) of a socket the hooks allowed: its bytes. */
struct fp_sk {
	__u64 bytes_in, bytes_out;
};

/* fp_local: this network namespace's own addresses (see fp_flags). */
struct fp_addr_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* Per-CPU counters (index into struct fp_stats.c). */
enum {
	FP_STAT_ALLOWED = 0,	/* decided: allow */
	FP_STAT_DENIED,		/* decided: EPERM; also a source route refused or dropped */
	FP_STAT_PASSED,		/* fell through to NFQUEUE */
	FP_STAT_IGNORED,	/* not ours: other netns, loopback, no process, not TCP/UDP */
	FP_STAT_UDP_MATCHED,	/* datagrams the xt_bpf match let skip the queue */
	FP_STAT_ERRORS,		/* a helper failed: fell through */
	FP_STAT_FOLDED,		/* events not reported: the ring was full */
	FP_STAT_COUNT
};

struct fp_stats {
	__u64 c[FP_STAT_COUNT];
};

/* lib/linux/fw.h AG_FW_MARK_AUTH (fastpath.c checks they agree): the
 * firewall lets a packet with it pass unqueued and saves it to the connmark. */
#define FP_MARK_AUTH		0x00800000u
/* AG_FW_MARK_FAST, set with AUTH: "allowed here, not by the daemon". */
#define FP_MARK_FAST		0x00400000u

/* fp_flags bits (a global of the BPF object). */
#define FP_F_INTERCEPT_LOOPBACK	0x1	/* decide loopback flows too */

/* ---- the decision ------------------------------------------------------------ */

#ifdef __bpf__
struct fp_maps {
	void *apps;	/* fp_app_key -> fp_app_val */
	void *lpm;	/* fp_lpm_key -> fp_list */
	void *entries;	/* __u32 -> fp_entry */
};
#define FP_APP_LOOKUP(m, k)	((const struct fp_app_val *)bpf_map_lookup_elem((m)->apps, (k)))
#define FP_LPM_LOOKUP(m, k)	((const struct fp_list *)bpf_map_lookup_elem((m)->lpm, (k)))
#define FP_ENTRY(m, i)		((const struct fp_entry *)bpf_map_lookup_elem((m)->entries, (i)))
#define FP_INLINE		static __always_inline
#define FP_MEMCPY		__builtin_memcpy
#else
/* A compiled image: the contents of one generation of the maps. */
struct ag_fp_image {
	struct fp_app_key *app_keys;	/* sorted by (dev, ino) */
	struct fp_app_val *app_vals;
	size_t napps;
	struct fp_lpm_key *node_keys;	/* sorted by (bucket, family, prefix length desc) */
	struct fp_list *node_vals;
	size_t nnodes;
	struct fp_entry *entries;
	size_t nentries;
	size_t nrules;
	size_t truncated;		/* lists cut at FP_SCAN_MAX */
};
struct fp_maps {
	const struct ag_fp_image *img;
};
/* Lookups over a compiled image, with the kernel maps' semantics
 * (lib/linux/fastpath_compile.c). */
const struct fp_app_val *ag__fp_img_app(const struct ag_fp_image *img, const struct fp_app_key *k);
const struct fp_list *ag__fp_img_lpm(const struct ag_fp_image *img, const struct fp_lpm_key *k);
const struct fp_entry *ag__fp_img_entry(const struct ag_fp_image *img, const __u32 *i);
#define FP_APP_LOOKUP(m, k)	ag__fp_img_app((m)->img, (k))
#define FP_LPM_LOOKUP(m, k)	ag__fp_img_lpm((m)->img, (k))
#define FP_ENTRY(m, i)		ag__fp_img_entry((m)->img, (i))
#define FP_INLINE		static inline
#define FP_MEMCPY		memcpy
#endif

struct fp_result {
	__u32 rule;
	__u32 verdict;
};

FP_INLINE int fp_entry_matches(const struct fp_entry *e, const struct fp_flow *f)
{
	return (!e->proto || e->proto == f->proto) && f->port >= e->port_lo &&
	       f->port <= e->port_hi && f->uid >= e->uid_lo && f->uid <= e->uid_hi;
}

/* The first matching entry of one bucket, if it comes before `best`. */
FP_INLINE void fp_scan(const struct fp_maps *m, const struct fp_flow *f, __u32 bucket,
		       struct fp_result *best)
{
	struct fp_lpm_key k;
	const struct fp_list *l;
	__u32 i;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = FP_LPM_FIXED_BITS + (f->family == 4 ? 32 : 128);
	k.bucket = bucket;
	k.family = f->family;
	FP_MEMCPY(k.addr, f->addr, 16);
	l = FP_LPM_LOOKUP(m, &k);
	if (!l)
		return;
	for (i = 0; i < FP_SCAN_MAX; i++) {
		const struct fp_entry *e;
		__u32 idx;

		if (i >= l->len)
			break;
		idx = l->start + i;
		e = FP_ENTRY(m, &idx);
		/* Lists are in rule order: past `best`, nothing here can win. */
		if (!e || e->rule >= best->rule)
			break;
		if (!fp_entry_matches(e, f))
			continue;
		best->rule = e->rule;
		best->verdict = (e->expires_ns && f->now_ns >= e->expires_ns) ? FP_PASS : e->verdict;
		break;
	}
}

/*
 * What the compiled rules say about a flow: FP_ALLOW, FP_DENY or FP_PASS
 * (fall through).  *rule gets the deciding position, FP_RULE_NONE if no
 * entry matched (the catch-all: fall through).  Without a known
 * executable (exe_known 0) no application rule can match, as in the engine
 * with no app_path.
 */
FP_INLINE int fp_decide(const struct fp_maps *m, const struct fp_flow *f, __u32 *rule)
{
	struct fp_result best = { FP_RULE_NONE, FP_PASS };

	if (f->exe_known) {
		struct fp_app_key ak;
		const struct fp_app_val *v;
		__u32 bucket = FP_BUCKET_UNKNOWN;

		__builtin_memset(&ak, 0, sizeof(ak));
		ak.ino = f->ino;
		ak.dev = f->dev;
		v = FP_APP_LOOKUP(m, &ak);
		if (v)
			bucket = v->bucket;
		fp_scan(m, f, bucket, &best);
	}
	fp_scan(m, f, FP_BUCKET_ANY, &best);
	*rule = best.rule;
	return (int)best.verdict;
}

#endif
