/*
 * exehash.h — the SHA-256 of the file a process runs, computed once per
 * version of the file.
 *
 * A rule may pin a program to one build of it (a sha256 condition).  The
 * file hashed is the one the process executes, opened through
 * /proc/PID/exe, never the file that a path names now: a path may have
 * been given to another file since the exec.  Results are cached by what
 * fstat(2) says of that file: device, inode, size, mtime and ctime.  A
 * new file at the path is a new inode; a file rewritten in place has a
 * new mtime and ctime (ctime cannot be set back by anyone but the clock),
 * so either is hashed again.
 *
 * Hashing reads the whole file on the caller's thread (about 1 ms per MB,
 * docs/BENCHMARKS.md): files larger than the bound given to
 * ag_exehash_new() are not hashed at all, and a rule about their checksum
 * then never matches.
 *
 * Not thread-safe: the daemon's event loop owns it.
 */
#ifndef ALEGATE_LINUX_EXEHASH_H
#define ALEGATE_LINUX_EXEHASH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define AG_EXEHASH_SLOTS	1024		/* files remembered (4-way sets) */
#define AG_EXEHASH_MAX_SIZE	(256ull << 20)	/* default bound, bytes */
#define AG_EXEHASH_HEX_LEN	64		/* hex digits, without the NUL */

struct ag_exehash_stats {
	uint64_t lookups;	/* questions asked */
	uint64_t hits;		/* answered from the cache */
	uint64_t computed;	/* files hashed */
	uint64_t bytes;		/* bytes read to hash them */
	uint64_t compute_ns;	/* time spent hashing them */
	uint64_t too_large;	/* files refused for their size (once per version) */
	uint64_t changed;	/* the process or the file changed while asked */
	uint64_t failed;	/* open, stat or read errors */
};

struct ag_exehash;

/*
 * ag_exehash_new() - an empty cache.
 * @max_size: files larger than this many bytes are never hashed (0: the
 *	default AG_EXEHASH_MAX_SIZE).
 * Return: a handle for ag_exehash_free(), or NULL with errno ENOMEM.
 */
struct ag_exehash *ag_exehash_new(uint64_t max_size);

/* ag_exehash_free() - free everything.  Accepts NULL. */
void ag_exehash_free(struct ag_exehash *h);

/*
 * ag_exehash_fd() - the SHA-256 of the regular file open as @fd, from the
 * cache or read now (from offset 0, whatever @fd's offset).
 * @hex: receives AG_EXEHASH_HEX_LEN lower-case hex digits and a NUL.
 * Return: 0; -EFBIG when the file is larger than the bound (not read);
 * -EINVAL when it is not a regular file; -ESTALE when it changed while it
 * was read (nothing cached); another -errno of fstat or read.
 */
int ag_exehash_fd(struct ag_exehash *h, int fd, char *hex);

/*
 * Whether the file open as @fd is the one the caller knows the process by
 * (for the daemon: exeid.h ag_exeid_fd_is() with proc.h AG_PROC_EXE_ID).
 */
typedef bool ag_exehash_check_fn(void *arg, int fd);

/*
 * ag_exehash_pid() - the SHA-256 of the file process @pid executes,
 * opened through /proc/@pid/exe.
 * @check: called with the file open; when it says no (the process
 *	exec'd another file since it was named, or the pid is another
 *	process's now), -ESTALE.  NULL: no check.
 * Return: as ag_exehash_fd(), or -ENOENT / -EACCES when the link cannot
 * be opened (the process is gone).
 */
int ag_exehash_pid(struct ag_exehash *h, pid_t pid, ag_exehash_check_fn *check, void *arg,
		   char *hex);

/* ag_exehash_get_stats() - copy the counters into @st. */
void ag_exehash_get_stats(const struct ag_exehash *h, struct ag_exehash_stats *st);

#endif
