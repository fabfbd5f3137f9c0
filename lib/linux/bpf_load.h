/*
 * lib/linux/bpf_load.h — what the two eBPF loaders (fastpath.c, execmon.c)
 * share: libbpf's messages, kept for the error a person reads instead of
 * printed, and the cgroup v2 check.
 *
 * Header-only, for a build with eBPF (after <bpf/libbpf.h>): libbpf's print
 * callback takes no argument, so each loader keeps its own message buffer
 * and passes it here from a callback of its own.
 */
#ifndef ALEGATE_LINUX_BPF_LOAD_H
#define ALEGATE_LINUX_BPF_LOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>

#define AG_BPF_MSG_MAX		256	/* the most ag_bpf_msg_keep() keeps */
#define AG_CGROUP2_MAGIC	0x63677270

/* Which of libbpf's lines says the most about a failed load. */
enum ag_bpf_keep {
	AG_BPF_KEEP_LAST,	/* the last one */
	AG_BPF_KEEP_PROG,	/* the first that names a program ("prog '…'"),
				 * else the first: the last ("failed to load
				 * skeleton") says the least */
};

/*
 * ag_bpf_msg_keep - keep one line libbpf printed (without its trailing
 * newline and blanks) in @msg (@size bytes, AG_BPF_MSG_MAX at most) when
 * @keep says so.  Debug lines are dropped.
 */
__attribute__((format(printf, 5, 0)))
static inline void ag_bpf_msg_keep(char *msg, size_t size, enum ag_bpf_keep keep,
				   enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[AG_BPF_MSG_MAX];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return;
	vsnprintf(line, size < sizeof(line) ? size : sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	if (!n)
		return;
	if (keep == AG_BPF_KEEP_LAST || !msg[0] ||
	    (strstr(line, "prog '") && !strstr(msg, "prog '")))
		snprintf(msg, size, "%s", line);
}

/* ag_is_cgroup2 - whether @path is (the root of) a cgroup v2 hierarchy. */
static inline bool ag_is_cgroup2(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && (unsigned long)s.f_type == AG_CGROUP2_MAGIC;
}

#endif
