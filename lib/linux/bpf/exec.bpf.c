/*
 * exec.bpf.c — the exec monitor: every fork, exec and exit of a process on
 * the machine, told to the process cache (lib/linux/proc.c through
 * lib/linux/execmon.c) through one ring buffer, in the order they happened.
 *
 * An exec carries what the kernel itself ran: the inode and device of the
 * file (bprm->file, what /proc/PID/exe will point to) and the path the
 * kernel reached it by, walked up the dentries and mounts of the process's
 * own mount tree.  Read here, at the tracepoint, they are known even for a
 * process that exits a microsecond later, and they cost the daemon no
 * /proc read.  The path is only a name: a bind mount in another mount
 * namespace can give any file any path, so user space decides by the
 * identity, never by the path alone.
 *
 * Nothing here blocks or allocates beyond a ring buffer record; a record
 * that finds the ring full is counted in em_lost and user space re-reads
 * /proc.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "linux/bpf/exec_shared.h"

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define FUSE_SUPER_MAGIC_	0x65735546

/* Records that found the ring full: user space compares it after each read. */
volatile __u64 em_lost = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EM_RING_BYTES);
} em_events SEC(".maps");

static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&em_events, BPF_RB_AVAIL_DATA) >= EM_WAKE_BYTES
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

/* One exec record is built here (too big for the 512-byte stack). */
struct em_scratch {
	struct em_event ev;
	char path[EM_PATH_BUF + EM_NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct em_scratch);
} em_scratch_map SEC(".maps");

static __always_inline void fill_task(struct em_event *ev, struct task_struct *t)
{
	ev->pid = BPF_CORE_READ(t, tgid);
	ev->ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->uid = BPF_CORE_READ(t, cred, uid.val);
	ev->euid = BPF_CORE_READ(t, cred, euid.val);
	/* The leader's, as /proc/PID/stat reports it (an exec from a thread
	 * takes the leader's over). */
	ev->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), t->comm);
}

static __always_inline void small_event(__u32 type, struct task_struct *t, __u32 ppid)
{
	struct em_event *ev = bpf_ringbuf_reserve(&em_events, sizeof(*ev), 0);

	if (!ev) {
		__sync_fetch_and_add(&em_lost, 1);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = type;
	fill_task(ev, t);
	if (ppid)
		ev->ppid = ppid;
	bpf_ringbuf_submit(ev, wake_flags());
}

/* The walk's state between bpf_loop() steps. */
struct walk {
	struct dentry *d;
	struct mount *m;
	__u32 off;
	__u32 done;
};

/*
 * One step up the path: at the root of a mount, go on from the dentry it
 * is mounted on in the parent mount (a file bind-mounted over another is
 * named by the place it is mounted on, as /proc/PID/exe names it); else
 * write one component.  Return: 1 to stop.  Through bpf_loop(): a loop
 * the verifier would walk state by state is too big for it.
 */
static long walk_step(__u32 i, void *arg)
{
	struct walk *w = arg;
	__u32 zero = 0;
	struct em_scratch *s = bpf_map_lookup_elem(&em_scratch_map, &zero);
	struct dentry *d = w->d, *root, *parent;
	struct mount *m = w->m;
	long n;

	if (!s)
		return 1;
	root = BPF_CORE_READ(m, mnt.mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == root) {
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		if (mp == m) {
			w->done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = mp;
		return 0;
	}
	if (d == parent) {	/* the root of a tree mounted nowhere */
		w->done = 1;
		return 1;
	}
	if (w->off >= EM_PATH_BUF)
		return 1;
	n = bpf_probe_read_kernel_str(s->path + (w->off & (EM_PATH_BUF - 1)), EM_NAME_MAX,
				      BPF_CORE_READ(d, d_name.name));
	if (n <= 0)
		return 1;
	w->off += (__u32)n;
	w->d = parent;
	return 0;
}

/*
 * The path of @f, component by component up to the root of the mount
 * tree it belongs to, into the scratch's path.  Return: bytes written.
 */
static __always_inline __u32 walk_path(struct file *f, __u32 *flags)
{
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct walk w = {
		.d = d,
		.m = (void *)((char *)vm - bpf_core_field_offset(struct mount, mnt)),
	};

	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
		*flags |= EM_F_DELETED;
	bpf_loop(EM_DEPTH, walk_step, &w, 0);
	if (!w.done)
		*flags |= EM_F_PATH_CUT;
	return w.off;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(em_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, len;
	__u64 size;
	struct em_scratch *s = bpf_map_lookup_elem(&em_scratch_map, &zero);
	struct file *f;
	struct inode *ino;

	if (!s)
		return 0;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.type = EM_EV_EXEC;
	fill_task(&s->ev, p);
	f = BPF_CORE_READ(bprm, file);
	ino = f ? BPF_CORE_READ(f, f_inode) : NULL;
	if (!ino) {
		s->ev.flags = EM_F_NO_FILE;
		len = 0;
	} else {
		s->ev.ino = BPF_CORE_READ(ino, i_ino);
		s->ev.dev = BPF_CORE_READ(ino, i_sb, s_dev);
		if (BPF_CORE_READ(ino, i_sb, s_magic) == FUSE_SUPER_MAGIC_)
			s->ev.flags |= EM_F_FUSE;
		len = walk_path(f, &s->ev.flags);
	}
	s->ev.path_len = len;
	size = sizeof(s->ev) + (__u64)len;
	/* Never true (the walk stops in time); the verifier wants the bound. */
	if (size > sizeof(*s))
		size = sizeof(s->ev);
	if (bpf_ringbuf_output(&em_events, s, size, wake_flags()))
		__sync_fetch_and_add(&em_lost, 1);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(em_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread is not a new process. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	small_event(EM_EV_FORK, child, BPF_CORE_READ(parent, tgid));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(em_exit, struct task_struct *p)
{
	/* Only the end of the whole thread group: its live count has just
	 * dropped to 0 when the last thread gets here. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	small_event(EM_EV_EXIT, p, 0);
	return 0;
}

/* ---- who sent a queued datagram ---------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EM_MAX_SENDERS);
	__type(key, struct em_flow_key);
	__type(value, struct em_sender);
} em_senders SEC(".maps");

#define AF_INET_		2
#define AF_INET6_	10
#define IPPROTO_UDP_	17

/*
 * A UDP socket closed: remember who held it, by its local port (and its
 * peer, when connected: see struct em_flow_key).  The
 * hook runs in the closing process (its last close, or its exit), before
 * the socket leaves the tables sock_diag searches: when sock_diag no
 * longer finds a queued datagram's socket, this says who sent it.
 * (Attached to the root cgroup: every socket passes.)
 */
SEC("cgroup/sock_release")
int em_release(struct bpf_sock *ctx)
{
	struct em_flow_key k = {};
	struct em_sender v = {};
	struct task_struct *t;
	struct sock *sk;
	__u16 family, dport;

	/* The release hook may read few fields of its context: the socket
	 * itself has them all. */
	sk = bpf_rdonly_cast(ctx, bpf_core_type_id_kernel(struct sock));
	if (sk->sk_protocol != IPPROTO_UDP_ || !sk->__sk_common.skc_num)
		return 1;
	family = sk->__sk_common.skc_family;
	if (family == AF_INET_)
		k.family = 4;
	else if (family == AF_INET6_)
		k.family = 6;
	else
		return 1;
	k.proto = IPPROTO_UDP_;
	k.sport = sk->__sk_common.skc_num;
	k.netns_cookie = bpf_get_netns_cookie(ctx);
	/* Connected: its peer too (network order to host order by hand). */
	dport = sk->__sk_common.skc_dport;
	if (dport) {
		k.dport = (__u16)(dport >> 8 | dport << 8);
		if (family == AF_INET_)
			__builtin_memcpy(k.daddr, &sk->__sk_common.skc_daddr, 4);
		else
			__builtin_memcpy(k.daddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
	t = bpf_get_current_task_btf();
	v.pid = t->tgid;
	v.uid = (__u32)bpf_get_current_uid_gid();
	v.start_ns = t->group_leader->start_boottime;
	/* At exit the memory map is gone already: then the exec monitor's
	 * record of the process names the file. */
	if (t->mm && t->mm->exe_file) {
		struct inode *ino = t->mm->exe_file->f_inode;

		v.ino = ino->i_ino;
		v.dev = ino->i_sb->s_dev;
	}
	bpf_map_update_elem(&em_senders, &k, &v, BPF_ANY);
	return 1;
}

/* GPL-compatible: tp_btf programs and bpf_probe_read_kernel_str need it. */
char LICENSE[] SEC("license") = "GPL";
