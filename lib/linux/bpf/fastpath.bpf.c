/*
 * lib/linux/bpf/fastpath.bpf.c — the in-kernel fast path: decide at
 * connect() and sendmsg() what alegate's rules already decide.
 *
 * Hooks (cgroup v2, attached by lib/linux/fastpath.c):
 *   cgroup/connect4, connect6   TCP and UDP connect()
 *   cgroup/sendmsg4, sendmsg6   sendto()/sendmsg() with an address on UDP
 *   cgroup/setsockopt           refuses source routes on TCP sockets
 *   cgroup_skb/egress           drops source-routed packets of allowed
 *                               connections (32-bit setsockopt skips the
 *                               hook above)
 *   socket (xt_bpf)             lets the firewall skip the queue for a UDP
 *                               datagram a hook allowed (see below)
 *
 * For a flow of this network namespace the hook identifies the program
 * (inode and device of current->mm->exe_file, the socket's uid) and the
 * destination, asks fp_decide() (fp_shared.h, the same code the unit tests
 * run against the engine), and:
 *   allow  TCP: SO_MARK |= AG_FW_MARK_AUTH | AG_FW_MARK_FAST before the SYN
 *          leaves: the firewall's rules save both to the connmark, nothing
 *          is queued.
 *          UDP: (socket cookie, destination) goes into fp_udp, which the
 *          xt_bpf match reads per datagram.  Why not SO_MARK for UDP: on
 *          this kernel (6.18) udp_sendmsg() copies sk_mark before the
 *          sendmsg hook runs, so a mark set there misses the datagram it is
 *          for and lands on the next one, whatever its destination; and a
 *          connected socket can still sendto() elsewhere.
 *   deny   return 0: connect()/sendmsg() fail with EPERM at once.
 *   pass   return 1, TCP unmarked, UDP record removed: NFQUEUE and the
 *          engine decide, as without us.
 *
 * Every connect() of a TCP socket of our namespace starts unmarked: AUTH
 * and FAST left by an earlier connect() of the same socket are cleared
 * whatever happens next (loopback, a kernel socket, any verdict but allow).
 *
 * Where the packets go: a socket with a source route (an IPv6 routing
 * header, an IPv4 LSRR/SSRR option) sends to the route's first hop, not to
 * the connect() address.  Such a socket is never allowed here (pass: the
 * queue sees the real destination in the packet), and the setsockopt hook
 * refuses to put a source route on a TCP socket at all (EPERM), since a
 * connection allowed earlier would otherwise carry its mark elsewhere; the
 * egress program drops what gets past it.
 *
 * Whatever the verdict, the socket's owner (process, its start time,
 * executable, uid) is remembered by socket cookie: in fp_socks beside the
 * permission when allowed (an array slot written in place: the allowed
 * path takes no lock and calls no map-update helper), in fp_owners
 * otherwise.  The daemon attributes a queued flow with it (sock_diag gives
 * the cookie) instead of scanning /proc for the socket's inode.  A socket
 * used again by the same process only refreshes seen_ns in place.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "linux/bpf/fp_shared.h"

#define SOL_SOCKET	1
#define SO_MARK		36
#define SOCK_STREAM_	1
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define SOL_IP_		0
#define IP_OPTIONS_	4
#define SOL_IPV6_	41
#define IPV6_2292PKTOPTIONS_ 6
#define IPV6_RTHDR_	57
#define IPOPT_END_	0
#define IPOPT_NOOP_	1
#define IPOPT_LSRR_	131
#define IPOPT_SSRR_	137
#define IP_OPTIONS_MAX	40

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* Set once before load: the network namespace whose flows are ours. */
const volatile __u64 fp_netns_cookie = 0;
/* Written by user space through the mmap'ed .bss: the current epoch (its
 * low bit picks the map generation) and FP_F_* flags. */
volatile __u32 fp_epoch = 0;
volatile __u32 fp_flags = 0;

/* ---- compiled rules, two generations, swapped by fp_epoch ---------------------- */

/* Both generations are made here, at load, so that user space needs no
 * privilege to fill them later: it clears the unused one, fills it, and
 * flips fp_epoch. */
struct fp_apps_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FP_MAX_APPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fp_app_key);
	__type(value, struct fp_app_val);
} fp_apps_0 SEC(".maps"), fp_apps_1 SEC(".maps");

struct fp_lpm_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FP_MAX_NODES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fp_lpm_key);
	__type(value, struct fp_list);
} fp_lpm_0 SEC(".maps"), fp_lpm_1 SEC(".maps");

struct fp_entries_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FP_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct fp_entry);
} fp_entries_0 SEC(".maps"), fp_entries_1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fp_apps_inner);
} fp_apps SEC(".maps") = { .values = { &fp_apps_0, &fp_apps_1 } };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fp_lpm_inner);
} fp_lpm SEC(".maps") = { .values = { &fp_lpm_0, &fp_lpm_1 } };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fp_entries_inner);
} fp_entries SEC(".maps") = { .values = { &fp_entries_0, &fp_entries_1 } };

/* ---- state the hooks keep ---------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FP_MAX_UDP);
	__type(key, struct fp_udp_key);
	__type(value, __u32);
} fp_udp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FP_MAX_SOCKS);
	__type(key, __u32);
	__type(value, struct fp_sock);
} fp_socks SEC(".maps");

/* Owners of the sockets a hook let fall through or denied (an allowed
 * socket's owner is in fp_socks).  A map of its own, so that every
 * connect() in the cgroup does not overwrite the S12 records of allowed
 * flows; of a socket in both, user space takes the later record. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FP_MAX_OWNERS);
	__type(key, __u64);
	__type(value, struct fp_owner);
} fp_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FP_MAX_LOCAL);
	__type(key, struct fp_addr_key);
	__type(value, __u8);
} fp_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_stats);
} fp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FP_EVENTS_BYTES);
} fp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fp_sk);
} fp_sk SEC(".maps");

static __always_inline void count(int what)
{
	__u32 zero = 0;
	struct fp_stats *s = bpf_map_lookup_elem(&fp_stats, &zero);

	if (s && what >= 0 && what < FP_STAT_COUNT)
		s->c[what]++;
}

/* ---- events --------------------------------------------------------------------------- */

/* A decision for user space; never waits: no room, and it is counted. */
static __always_inline void report(__u8 type, __u64 cookie, const struct fp_flow *f,
				   const struct fp_owner *who, __u32 rule)
{
	struct fp_event *ev = bpf_ringbuf_reserve(&fp_events, sizeof(*ev), 0);

	if (!ev) {
		count(FP_STAT_FOLDED);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->cookie = cookie;
	ev->time_ns = f->now_ns;
	ev->owner = *who;
	ev->rule = rule;
	ev->family = f->family;
	ev->proto = f->proto;
	ev->port = f->port;
	__builtin_memcpy(ev->addr, f->addr, 16);
	bpf_ringbuf_submit(ev, 0);
}

/* ---- the hooks ---------------------------------------------------------------------- */

/* 127/8, 0.0.0.0, ::1, ::: packets to these never leave through an interface. */
static __always_inline int is_loopback(const struct fp_flow *f)
{
	if (f->family == 4)
		return f->addr[0] == 127 ||
		       !(f->addr[0] | f->addr[1] | f->addr[2] | f->addr[3]);
	__u8 acc = 0;

	for (int i = 0; i < 15; i++)
		acc |= f->addr[i];
	return !acc && (f->addr[15] == 1 || f->addr[15] == 0);
}

static __always_inline int is_local(const struct fp_flow *f)
{
	struct fp_addr_key k;

	if (is_loopback(f))
		return 1;
	__builtin_memset(&k, 0, sizeof(k));
	k.family = f->family;
	__builtin_memcpy(k.addr, f->addr, 16);
	return bpf_map_lookup_elem(&fp_local, &k) != NULL;
}

/* The destination of ctx into f; an IPv4-mapped IPv6 address is IPv4, as
 * the packet will be. */
static __always_inline void dest(struct bpf_sock_addr *ctx, int v6, struct fp_flow *f)
{
	__u16 port = (__u16)ctx->user_port;

	f->port = bpf_ntohs(port);
	if (!v6) {
		__u32 a = ctx->user_ip4;

		f->family = 4;
		__builtin_memcpy(f->addr, &a, 4);
		return;
	}
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1];
	__u32 w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];

	if (!w0 && !w1 && w2 == bpf_htonl(0x0000ffff)) {
		f->family = 4;
		__builtin_memcpy(f->addr, &w3, 4);
		return;
	}
	f->family = 6;
	__builtin_memcpy(f->addr, &w0, 4);
	__builtin_memcpy(f->addr + 4, &w1, 4);
	__builtin_memcpy(f->addr + 8, &w2, 4);
	__builtin_memcpy(f->addr + 12, &w3, 4);
}

/*
 * The program and the owner, into f and o.  Returns 0 when this is no
 * process's socket (a kernel socket: the firewall does not queue those
 * either) or the task has no executable (a kernel thread): then we do not
 * decide.
 */
static __always_inline int identify(struct bpf_sock_addr *ctx, struct fp_flow *f,
				    struct fp_owner *o)
{
	struct bpf_sock *bs = ctx->sk;
	struct task_struct *task;
	struct mm_struct *mm;
	struct file *exe;
	struct inode *ino;
	struct socket *so;
	struct sock *sk;

	if (!bs)
		return 0;
	sk = bpf_rdonly_cast(bs, bpf_core_type_id_kernel(struct sock));
	so = sk->sk_socket;
	if (!so || !so->file)
		return 0;
	f->uid = sk->sk_uid.val;
	task = bpf_get_current_task_btf();
	mm = task->mm;
	if (!mm)
		return 0;
	exe = mm->exe_file;
	if (!exe)
		return 0;
	ino = exe->f_inode;
	if (!ino)
		return 0;
	f->ino = ino->i_ino;
	f->dev = ino->i_sb->s_dev;
	f->exe_known = 1;
	o->ino = f->ino;
	o->dev = f->dev;
	o->uid = f->uid;
	o->exe_known = 1;
	o->tgid = task->tgid;
	/* The leader's: /proc/PID/stat reports the leader's start, whichever
	 * thread connects (exec from a thread copies it over too). */
	o->start_ns = task->group_leader->start_boottime;
	return 1;
}

static __always_inline int same_owner(const struct fp_owner *a, const struct fp_owner *b)
{
	return a->tgid == b->tgid && a->start_ns == b->start_ns && a->ino == b->ino &&
	       a->dev == b->dev && a->uid == b->uid;
}

/* The owner of a socket the hook did not allow, in fp_owners. */
static __always_inline int remember_owner(__u64 cookie, const struct fp_owner *o)
{
	struct fp_owner *have = bpf_map_lookup_elem(&fp_owners, &cookie);

	/* Another datagram of the same sender: no map write. */
	if (have && same_owner(have, o)) {
		have->seen_ns = o->seen_ns;
		return 0;
	}
	bpf_map_update_elem(&fp_owners, &cookie, o, BPF_ANY);
	return 1;
}

/*
 * A socket allowed: its owner and the permission, for S12, in its fp_socks
 * slot, written in place.  The cookie goes in last, so that a slot naming
 * this socket holds this socket's record once the hook is done; user
 * space reads a slot twice and believes it only when both copies agree.
 */
static __always_inline void remember_allowed(__u64 cookie, const struct fp_owner *o,
					     __u32 epoch, __u32 rule)
{
	__u32 slot = (__u32)cookie & (FP_MAX_SOCKS - 1);
	struct fp_sock *s = bpf_map_lookup_elem(&fp_socks, &slot);

	if (!s)
		return;
	if (s->cookie == cookie && s->epoch == epoch && s->rule == rule &&
	    same_owner(&s->owner, o)) {
		/* Another datagram of the same sender. */
		s->owner.seen_ns = o->seen_ns;
		return;
	}
	*(volatile __u64 *)&s->cookie = 0;
	asm volatile("" ::: "memory");
	s->owner = *o;
	s->epoch = epoch;
	s->rule = rule;
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&s->cookie = cookie;
}

static __always_inline int lookup_maps(__u32 gen, struct fp_maps *m)
{
	m->apps = bpf_map_lookup_elem(&fp_apps, &gen);
	m->lpm = bpf_map_lookup_elem(&fp_lpm, &gen);
	m->entries = bpf_map_lookup_elem(&fp_entries, &gen);
	return m->apps && m->lpm && m->entries;
}

static __always_inline void set_auth(struct bpf_sock_addr *ctx, int on)
{
	struct bpf_sock *bs = ctx->sk;
	int mark;

	if (!bs)
		return;
	mark = (int)bs->mark;
	if (!!(mark & FP_MARK_AUTH) == on && !!(mark & FP_MARK_FAST) == on)
		return;
	mark = on ? (int)(mark | FP_MARK_AUTH | FP_MARK_FAST)
		  : (int)(mark & ~(FP_MARK_AUTH | FP_MARK_FAST));
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		count(FP_STAT_ERRORS);
}

/*
 * Does the socket carry a source route: an IPv6 routing header
 * (IPV6_RTHDR, or IPV6_2292PKTOPTIONS with one) or an IPv4 loose or strict
 * source route (IP_OPTIONS, also on an IPv6 socket for its IPv4-mapped
 * peers)?  Its packets then leave for the route's first hop, whatever
 * address connect() was given.
 */
static __always_inline int source_routed(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *bs = ctx->sk;
	struct ip_options_rcu *o4;
	struct ipv6_txoptions *o6;
	struct inet_sock *inet;
	struct ipv6_pinfo *np;

	if (!bs)
		return 0;
	inet = bpf_rdonly_cast(bs, bpf_core_type_id_kernel(struct inet_sock));
	o4 = inet->inet_opt;
	if (o4 && o4->opt.srr)
		return 1;
	np = inet->pinet6;
	if (!np)
		return 0;
	o6 = np->opt;
	return o6 && o6->srcrt;
}

static __always_inline int fp_hook(struct bpf_sock_addr *ctx, int v6)
{
	struct fp_owner who;
	struct fp_flow f;
	struct fp_maps m;
	__u32 epoch, rule;
	__u64 cookie;
	int verdict;

	__builtin_memset(&f, 0, sizeof(f));
	__builtin_memset(&who, 0, sizeof(who));
	f.proto = (__u8)ctx->protocol;
	if ((f.proto != IPPROTO_TCP_ && f.proto != IPPROTO_UDP_) ||
	    bpf_get_netns_cookie(ctx) != fp_netns_cookie) {
		count(FP_STAT_IGNORED);
		return 1;
	}
	/* Whatever comes next, this connect() starts without a permission:
	 * only an allow below marks the socket again.  sendmsg() on a TCP
	 * socket does not come here (MSG_FASTOPEN goes through connect's
	 * hook). */
	if (f.proto == IPPROTO_TCP_)
		set_auth(ctx, 0);
	dest(ctx, v6, &f);
	if (!(fp_flags & FP_F_INTERCEPT_LOOPBACK) && is_local(&f)) {
		/* The firewall lets loopback pass unasked: so do we. */
		count(FP_STAT_IGNORED);
		return 1;
	}
	if (!identify(ctx, &f, &who)) {
		count(FP_STAT_IGNORED);
		return 1;
	}
	f.now_ns = bpf_ktime_get_boot_ns();
	who.seen_ns = f.now_ns;
	cookie = bpf_get_socket_cookie(ctx);
	epoch = fp_epoch;
	if (!lookup_maps(epoch & 1, &m)) {
		verdict = FP_PASS;
		rule = FP_RULE_NONE;
	} else {
		verdict = fp_decide(&m, &f, &rule);
	}
	/* The rules judged the connect() address; the packets go elsewhere
	 * first.  A deny still holds (nothing leaves); anything else is for
	 * the queue, which sees the packet's real destination. */
	if (verdict == FP_ALLOW && source_routed(ctx)) {
		verdict = FP_PASS;
		rule = FP_RULE_NONE;
	}

	struct fp_udp_key uk;

	if (f.proto == IPPROTO_UDP_) {
		__builtin_memset(&uk, 0, sizeof(uk));
		uk.cookie = cookie;
		uk.family = f.family;
		uk.port = f.port;
		__builtin_memcpy(uk.addr, f.addr, 16);
	}

	if (verdict == FP_DENY) {
		if (f.proto == IPPROTO_UDP_)
			bpf_map_delete_elem(&fp_udp, &uk);
		/* a sender's datagrams refused one after another: one event */
		if (remember_owner(cookie, &who) || f.proto == IPPROTO_TCP_)
			report(FP_EV_DENY, cookie, &f, &who, rule);
		count(FP_STAT_DENIED);
		return 0;
	}
	if (verdict != FP_ALLOW) {
		if (f.proto == IPPROTO_UDP_)
			bpf_map_delete_elem(&fp_udp, &uk);
		remember_owner(cookie, &who);
		count(FP_STAT_PASSED);
		return 1;
	}

	if (f.proto == IPPROTO_UDP_) {
		__u32 *have = bpf_map_lookup_elem(&fp_udp, &uk);

		/* the first datagram to this destination is the flow's event;
		 * the socket's bytes are counted from the first to its release */
		if (!have || *have != epoch) {
			bpf_map_update_elem(&fp_udp, &uk, &epoch, BPF_ANY);
			if (ctx->sk)
				bpf_sk_storage_get(&fp_sk, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			report(FP_EV_ALLOW, cookie, &f, &who, rule);
		}
	} else {
		set_auth(ctx, 1);
		/* its bytes are counted from here to its release */
		if (ctx->sk)
			bpf_sk_storage_get(&fp_sk, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		report(FP_EV_ALLOW, cookie, &f, &who, rule);
	}

	remember_allowed(cookie, &who, epoch, rule);
	count(FP_STAT_ALLOWED);
	return 1;
}

SEC("cgroup/connect4")
int fp_connect4(struct bpf_sock_addr *ctx)
{
	return fp_hook(ctx, 0);
}

SEC("cgroup/connect6")
int fp_connect6(struct bpf_sock_addr *ctx)
{
	return fp_hook(ctx, 1);
}

SEC("cgroup/sendmsg4")
int fp_sendmsg4(struct bpf_sock_addr *ctx)
{
	return fp_hook(ctx, 0);
}

SEC("cgroup/sendmsg6")
int fp_sendmsg6(struct bpf_sock_addr *ctx)
{
	return fp_hook(ctx, 1);
}

/* Is there an LSRR or SSRR option in these IPv4 options (64 bytes, zeros
 * past their end)? */
static __always_inline int options_route(const __u8 *opt)
{
	__u32 i = 0;

	for (int n = 0; n < IP_OPTIONS_MAX; n++) {
		__u32 at = i, next = i + 1;

		if (i >= IP_OPTIONS_MAX)
			return 0;
		/* masked where the compiler cannot drop it: the verifier
		 * needs the bound on the stack offset */
		asm volatile("%0 &= 63" : "+r"(at));
		asm volatile("%0 &= 63" : "+r"(next));
		__u8 type = opt[at];

		if (type == IPOPT_END_)
			return 0;
		if (type == IPOPT_LSRR_ || type == IPOPT_SSRR_)
			return 1;
		if (type == IPOPT_NOOP_) {
			i++;
			continue;
		}
		__u8 len = opt[next];

		/* the kernel refuses a malformed option itself */
		if (len < 2)
			return 0;
		i += len;
	}
	return 0;
}

/* Is there an LSRR or SSRR option in an IP_OPTIONS value? */
static __always_inline int ip_options_route(struct bpf_sockopt *ctx)
{
	__u8 *p = ctx->optval, *end = ctx->optval_end;
	__u8 opt[64];

	/* Copied at fixed offsets (what the verifier follows), read at
	 * variable ones on the stack. */
	__builtin_memset(opt, 0, sizeof(opt));
	for (int j = 0; j < IP_OPTIONS_MAX; j++) {
		if (p + j + 1 > end)
			break;
		opt[j] = p[j];
	}
	return options_route(opt);
}

/*
 * setsockopt() on a socket of the cgroup: refuse (EPERM) to give a TCP
 * socket of our namespace a source route, an IPv6 routing header or an
 * IPv4 LSRR/SSRR option.  A connection allowed by its address (here or by
 * the daemon) would otherwise carry its permission to the route's first
 * hop.  Removing one (an empty value) is let through, and so is every
 * other option.  UDP keeps them: its datagrams are judged by the
 * addresses in their own headers.
 */
SEC("cgroup/setsockopt")
int fp_setsockopt(struct bpf_sockopt *ctx)
{
	/* Each context field read once, as itself: the verifier refuses a
	 * read through a computed context pointer. */
	int level = *(volatile __s32 *)&ctx->level;
	int name = *(volatile __s32 *)&ctx->optname;
	int len = *(volatile __s32 *)&ctx->optlen;
	struct bpf_sock *sk;
	int route;

	if (level == SOL_IPV6_)
		route = (name == IPV6_RTHDR_ || name == IPV6_2292PKTOPTIONS_) && len > 0;
	else if (level == SOL_IP_)
		route = name == IP_OPTIONS_ && len > 0;
	else
		return 1;
	if (!route)
		return 1;
	sk = ctx->sk;
	if (!sk || sk->type != SOCK_STREAM_ || bpf_get_netns_cookie(ctx) != fp_netns_cookie)
		return 1;
	if (level == SOL_IP_ && !ip_options_route(ctx))
		return 1;
	count(FP_STAT_DENIED);
	return 0;
}

/*
 * Every packet a socket of the cgroup sends (after the firewall's OUTPUT
 * rules): a packet of a connection the hooks allowed (mark AUTH | FAST,
 * which the firewall lets go whatever its destination) that carries a
 * source route is dropped.  The setsockopt hook refuses such routes, but
 * the 32-bit system calls (IA-32 emulation, also int 0x80 from a 64-bit
 * process) do not run it; this is where a route set that way is caught.
 * Any other packet costs the mark test.
 */
#define ETH_P_IP_	0x0800
#define ETH_P_IPV6_	0x86DD
#define NEXTHDR_HOP_	0
#define NEXTHDR_ROUTING_ 43
#define NEXTHDR_DEST_	60

static __always_inline int v4_source_routed(struct __sk_buff *skb)
{
	__u8 opt[64];
	__u32 ihl;

	if (bpf_skb_load_bytes(skb, 0, opt, 1))
		return 0;
	/* 6 to 15 words of header: 4 to 40 bytes of options */
	ihl = opt[0] & 0xfu;
	if (ihl <= 5)
		return 0;
	__u32 len = (ihl - 5) * 4;

	__builtin_memset(opt, 0, sizeof(opt));
	if (bpf_skb_load_bytes(skb, 20, opt, len))
		return 0;
	return options_route(opt);
}

static __always_inline int v6_source_routed(struct __sk_buff *skb)
{
	__u8 b[2];
	__u32 off = 40;

	if (bpf_skb_load_bytes(skb, 6, b, 1))
		return 0;
	/* A routing header comes after hop-by-hop and destination options,
	 * when there are any (RFC 8200, 4.1). */
	for (int n = 0; n < 4; n++) {
		if (b[0] == NEXTHDR_ROUTING_)
			return 1;
		if (b[0] != NEXTHDR_HOP_ && b[0] != NEXTHDR_DEST_)
			return 0;
		if (bpf_skb_load_bytes(skb, off, b, 2))
			return 0;
		off += ((__u32)b[1] + 1) * 8;
	}
	return 0;
}

/*
 * The peer of a UDP datagram in fp_udp's key: its destination going out
 * (@in 0), its source coming in, with the socket's cookie.  Offset 0 is
 * the IP header for every program here.  Return: 0, or -1 when it is not
 * UDP or carries no ports (a later fragment).
 */
static __always_inline int udp_peer(struct __sk_buff *skb, int in, struct fp_udp_key *k)
{
	__u8 h[40];
	__u16 port;
	__u32 off;

	__builtin_memset(k, 0, sizeof(*k));
	if (bpf_skb_load_bytes(skb, 0, h, 20))
		return -1;
	if ((h[0] >> 4) == 4) {
		/* Only the first fragment carries the ports. */
		if (h[9] != IPPROTO_UDP_ || ((h[6] & 0x1f) | h[7]))
			return -1;
		off = (h[0] & 0xfu) * 4;
		k->family = 4;
		if (in)
			__builtin_memcpy(k->addr, h + 12, 4);
		else
			__builtin_memcpy(k->addr, h + 16, 4);
	} else if ((h[0] >> 4) == 6) {
		if (bpf_skb_load_bytes(skb, 0, h, 40) || h[6] != IPPROTO_UDP_)
			return -1;
		off = 40;
		k->family = 6;
		if (in)
			__builtin_memcpy(k->addr, h + 8, 16);
		else
			__builtin_memcpy(k->addr, h + 24, 16);
	} else {
		return -1;
	}
	if (off < 20 || off > 60 || bpf_skb_load_bytes(skb, off + (in ? 0 : 2), &port, 2))
		return -1;
	k->port = bpf_ntohs(port);
	k->cookie = bpf_get_socket_cookie(skb);
	return k->cookie ? 0 : -1;
}

/* The bytes of a socket a hook allowed (one with fp_sk storage); with
 * udp_only, of a UDP socket only.  A UDP socket may also send to and hear
 * from peers the daemon decided (not connected, or connected again):
 * conntrack counts those, so only the datagrams of a peer the kernel
 * allowed under the current rules are counted here. */
static __always_inline void count_bytes(struct __sk_buff *skb, int in, int udp_only)
{
	struct bpf_sock *sk = skb->sk;
	struct fp_udp_key k;
	struct fp_sk *st;
	__u32 *epoch;

	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!sk || (udp_only && sk->protocol != IPPROTO_UDP_))
		return;
	st = bpf_sk_storage_get(&fp_sk, sk, 0, 0);
	if (!st)
		return;
	if (sk->protocol == IPPROTO_UDP_) {
		if (udp_peer(skb, in, &k))
			return;
		epoch = bpf_map_lookup_elem(&fp_udp, &k);
		if (!epoch || *epoch != fp_epoch)
			return;
	}
	if (in)
		__sync_fetch_and_add(&st->bytes_in, skb->len);
	else
		__sync_fetch_and_add(&st->bytes_out, skb->len);
}

/* Every packet a socket of the cgroup receives: counted for an allowed
 * socket, one storage lookup for any other. */
SEC("cgroup_skb/ingress")
int fp_ingress(struct __sk_buff *skb)
{
	count_bytes(skb, 1, 0);
	return 1;
}

/* A socket goes: an allowed socket's end and bytes for user space. */
SEC("cgroup/sock_release")
int fp_release(struct bpf_sock *sk)
{
	struct fp_event *ev;
	struct fp_sk *st;

	st = bpf_sk_storage_get(&fp_sk, sk, 0, 0);
	if (!st)
		return 1;
	ev = bpf_ringbuf_reserve(&fp_events, sizeof(*ev), 0);
	if (!ev) {
		count(FP_STAT_FOLDED);
		return 1;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = FP_EV_END;
	ev->cookie = bpf_get_socket_cookie(sk);
	ev->time_ns = bpf_ktime_get_boot_ns();
	ev->bytes_in = st->bytes_in;
	ev->bytes_out = st->bytes_out;
	bpf_ringbuf_submit(ev, 0);
	return 1;
}

SEC("cgroup_skb/egress")
int fp_egress(struct __sk_buff *skb)
{
	int routed;

	/* an allowed UDP socket's datagrams carry no mark (see the top) */
	if ((skb->mark & (FP_MARK_AUTH | FP_MARK_FAST)) != (FP_MARK_AUTH | FP_MARK_FAST)) {
		count_bytes(skb, 0, 1);
		return 1;
	}
	count_bytes(skb, 0, 0);
	if (skb->protocol == bpf_htons(ETH_P_IP_))
		routed = v4_source_routed(skb);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6_))
		routed = v6_source_routed(skb);
	else
		return 1;
	if (!routed)
		return 1;
	count(FP_STAT_DENIED);
	return 0;
}

/*
 * The firewall's match for UDP (iptables -m bpf --object-pinned): true when
 * a hook allowed this datagram's socket to send to this destination under
 * the current rules.  Runs on the first datagrams of a flow only (the rule
 * sits after the connmark test), reads from the IP header.
 */
SEC("socket")
int fp_udp_match(struct __sk_buff *skb)
{
	struct fp_udp_key k;

	if (udp_peer(skb, 0, &k))
		return 0;
	__u32 *epoch = bpf_map_lookup_elem(&fp_udp, &k);

	if (!epoch || *epoch != fp_epoch)
		return 0;
	count(FP_STAT_UDP_MATCHED);
	return 1;
}

/* GPL-compatible, as bpf_get_current_task_btf() requires. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
