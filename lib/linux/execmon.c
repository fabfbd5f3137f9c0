/*
 * execmon.c — load the exec monitor (lib/linux/bpf/exec.bpf.c, embedded as
 * a libbpf skeleton by the Makefile) and read its ring buffer.
 *
 * The ring is shared memory: reading it costs no system call, and the
 * kernel wakes a poller only when it finds the reader caught up, so a
 * burst of execs is read in one pass of the event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/err.h"
#include "linux/bpf/exec_shared.h"
#include "linux/execmon.h"

#ifndef AG_EM_NO_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "exec.skel.h"
#include "linux/bpf_load.h"
#endif

#define EM_BTF_PATH "/sys/kernel/btf/vmlinux"

int ag__execmon_path(const char *in, size_t len, char *out, size_t outlen)
{
	size_t starts[EM_DEPTH], n = 0, pos = 0, o = 0;

	if (!outlen)
		return -1;
	out[0] = '\0';
	if (len == 0 || in[len - 1] != '\0')
		return -1;
	while (pos < len) {
		size_t l = strlen(in + pos);

		if (l == 0 || n == EM_DEPTH || memchr(in + pos, '/', l))
			return -1;
		starts[n++] = pos;
		pos += l + 1;
	}
	while (n--) {
		size_t l = strlen(in + starts[n]);

		if (o + 1 + l + 1 > outlen) {
			out[0] = '\0';
			return -1;
		}
		out[o++] = '/';
		memcpy(out + o, in + starts[n], l);
		o += l;
	}
	out[o] = '\0';
	return (int)o;
}

#ifdef AG_EM_NO_BPF

struct ag_execmon {
	int unused;
};

struct ag_execmon *ag_execmon_open(ag_execmon_fn *fn, void *arg, const char *cgroup, char *err,
				   size_t errlen)
{
	ag_seterr(err, errlen, "built without eBPF support (no kernel BTF, bpftool or clang "
			    "when it was compiled)");
	errno = EOPNOTSUPP;
	return NULL;
}

void ag_execmon_close(struct ag_execmon *m)
{
	free(m);
}

int ag_execmon_fd(const struct ag_execmon *m)
{
	return -1;
}

int ag_execmon_read(struct ag_execmon *m, uint64_t *lost)
{
	*lost = 0;
	return 0;
}

int ag_execmon_sender(struct ag_execmon *m, uint64_t netns_cookie, const struct ag_tuple *t,
		      struct ag_exec_sender *out)
{
	return -ENOSYS;
}

#else

struct ag_execmon {
	struct exec_bpf *skel;
	struct ring_buffer *rb;
	int cgfd;		/* the cgroup em_release is attached to, or -1 */
	ag_execmon_fn *fn;
	void *arg;
	char path[EM_PATH_BUF + EM_NAME_MAX + 2];
};

static char em_libbpf_msg[160];

static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	ag_bpf_msg_keep(em_libbpf_msg, sizeof(em_libbpf_msg), AG_BPF_KEEP_PROG, level, fmt, ap);
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct ag_execmon *m = ctx;
	struct em_event ev;
	struct ag_exec_event out;

	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	memset(&out, 0, sizeof(out));
	out.type = (enum ag_exec_type)ev.type;
	out.pid = (pid_t)ev.pid;
	out.ppid = (pid_t)ev.ppid;
	out.uid = ev.uid;
	out.euid = ev.euid;
	out.start_ns = ev.start_ns;
	memcpy(out.comm, ev.comm, sizeof(out.comm));
	out.comm[sizeof(out.comm) - 1] = '\0';
	out.path = "";
	if (ev.type == EM_EV_EXEC) {
		out.dev = ev.dev;
		out.ino = ev.flags & EM_F_NO_FILE ? 0 : ev.ino;
		if (ev.flags & EM_F_DELETED)
			out.flags |= AG_EXEC_DELETED;
		if (ev.flags & EM_F_FUSE)
			out.flags |= AG_EXEC_FUSE;
		if ((ev.flags & EM_F_PATH_CUT) || ev.path_len > size - sizeof(ev) ||
		    ag__execmon_path((const char *)data + sizeof(ev), ev.path_len, m->path,
				     sizeof(m->path)) < 0)
			out.flags |= AG_EXEC_PATH_CUT;
		else
			out.path = m->path;
	} else if (ev.type != EM_EV_FORK && ev.type != EM_EV_EXIT) {
		return 0;
	}
	m->fn(&out, m->arg);
	return 0;
}

#define EM_CGROUP_DEFAULT	"/sys/fs/cgroup"
#define EM_CGROUP_HYBRID	"/sys/fs/cgroup/unified"
static void load_error(char *err, size_t errlen, int e)
{
	if (e == EPERM)
		ag_seterr(err, errlen, "no permission to load eBPF tracing programs (needs "
				    "root, or CAP_BPF and CAP_PERFMON)");
	else
		ag_seterr(err, errlen, "the kernel refused the eBPF programs (%s)%s%s",
		       strerror(e), em_libbpf_msg[0] ? ": " : "", em_libbpf_msg);
}

struct ag_execmon *ag_execmon_open(ag_execmon_fn *fn, void *arg, const char *cgroup, char *err,
				   size_t errlen)
{
	libbpf_print_fn_t old = libbpf_set_print(capture);
	struct bpf_program *need[3];
	struct bpf_link **links[3];
	struct ag_execmon *m;
	int e = 0;

	em_libbpf_msg[0] = 0;
	if (access(EM_BTF_PATH, R_OK) == -1) {
		e = errno;
		ag_seterr(err, errlen, "the kernel has no BTF (%s: %s)", EM_BTF_PATH, strerror(e));
		libbpf_set_print(old);
		errno = e;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		e = ENOMEM;
		ag_seterr(err, errlen, "out of memory");
		goto fail;
	}
	m->fn = fn;
	m->arg = arg;
	m->cgfd = -1;
	m->skel = exec_bpf__open();
	if (!m->skel) {
		e = errno;
		ag_seterr(err, errlen, "cannot open the eBPF object: %s", strerror(e));
		goto fail;
	}
	if (exec_bpf__load(m->skel)) {
		e = errno ? errno : EINVAL;
		load_error(err, errlen, e);
		goto fail;
	}
	need[0] = m->skel->progs.em_exec, links[0] = &m->skel->links.em_exec;
	need[1] = m->skel->progs.em_fork, links[1] = &m->skel->links.em_fork;
	need[2] = m->skel->progs.em_exit, links[2] = &m->skel->links.em_exit;
	for (int i = 0; i < 3; i++) {
		*links[i] = bpf_program__attach(need[i]);
		if (!*links[i]) {
			e = errno ? errno : EINVAL;
			ag_seterr(err, errlen, "cannot attach %s to its tracepoint: %s",
			       bpf_program__name(need[i]), strerror(e));
			goto fail;
		}
	}
	/* Without a cgroup v2 hierarchy only closed UDP sockets go unnamed.
	 * A hybrid system mounts it below the default place. */
	if (cgroup && !ag_is_cgroup2(cgroup) && !strcmp(cgroup, EM_CGROUP_DEFAULT))
		cgroup = EM_CGROUP_HYBRID;
	if (cgroup && ag_is_cgroup2(cgroup) &&
	    (m->cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		m->skel->links.em_release =
			bpf_program__attach_cgroup(m->skel->progs.em_release, m->cgfd);
	m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.em_events), on_record, m, NULL);
	if (!m->rb) {
		e = errno ? errno : ENOMEM;
		ag_seterr(err, errlen, "cannot map the ring buffer: %s", strerror(e));
		goto fail;
	}
	libbpf_set_print(old);
	return m;
fail:
	ag_execmon_close(m);
	libbpf_set_print(old);
	errno = e ? e : EINVAL;
	return NULL;
}

void ag_execmon_close(struct ag_execmon *m)
{
	if (!m)
		return;
	ring_buffer__free(m->rb);
	exec_bpf__destroy(m->skel);
	if (m->cgfd != -1)
		close(m->cgfd);
	free(m);
}

int ag_execmon_fd(const struct ag_execmon *m)
{
	return bpf_map__fd(m->skel->maps.em_events);
}

int ag_execmon_read(struct ag_execmon *m, uint64_t *lost)
{
	int n = ring_buffer__consume(m->rb);

	*lost = __atomic_load_n(&m->skel->bss->em_lost, __ATOMIC_RELAXED);
	return n;
}

int ag_execmon_sender(struct ag_execmon *m, uint64_t netns_cookie, const struct ag_tuple *t,
		      struct ag_exec_sender *out)
{
	struct em_flow_key k;
	struct em_sender v;

	if (!m->skel->links.em_release)
		return -ENOSYS;
	if (t->protocol != 17 || (t->ip_version != 4 && t->ip_version != 6))
		return -ENOENT;
	memset(&k, 0, sizeof(k));
	k.netns_cookie = netns_cookie;
	k.family = t->ip_version;
	k.proto = t->protocol;
	k.sport = t->sport;
	/* A connected sender's record is the flow's own; else an unconnected
	 * one's, by its port alone. */
	k.dport = t->dport;
	memcpy(k.daddr, t->dst.b, t->ip_version == 4 ? 4 : 16);
	if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.em_senders), &k, &v)) {
		k.dport = 0;
		memset(k.daddr, 0, sizeof(k.daddr));
		if (bpf_map_lookup_elem(bpf_map__fd(m->skel->maps.em_senders), &k, &v))
			return -ENOENT;
	}
	out->pid = (pid_t)v.pid;
	out->uid = v.uid;
	out->dev = v.dev;
	out->ino = v.ino;
	out->start_ns = v.start_ns;
	return 0;
}

#endif
