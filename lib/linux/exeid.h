/*
 * exeid.h — is the file at a path the file a process runs?
 *
 * Rules name programs by path, but a path is only a name: in a mount
 * namespace of its own any user can bind-mount one file over another's
 * path, and the process then shows that path in /proc/PID/exe (and to the
 * exec monitor).  What the process really runs is its executable's
 * identity — device and inode, as the kernel holds them (proc.h:
 * AG_PROC_EXE_ID).  ag_exeid_is() says whether the file at a path, as the
 * daemon's own mount namespace sees it, has that identity; only then may
 * rules about the path apply to the process.
 *
 * Paths are resolved one component at a time, following no symbolic link
 * and entering no FUSE file system (a lookup there waits on its server),
 * and cached; the directory of each cached
 * path is watched with inotify (up to AG_EXEID_MAX_WATCHES directories), so
 * a file a package manager replaces (a new inode renamed over the old) is
 * resolved again.  Beyond the bound, or where a directory cannot be
 * watched, the path is resolved on every question.  An answer of "no" is
 * always checked against the file as it is now, so a stale entry never
 * refuses a process; a stale "yes" could only come from a change no watch
 * reports (a mount in the daemon's namespace), see docs/SECURITY.md.
 *
 * Not thread-safe: the daemon's event loop owns it.
 */
#ifndef ALEGATE_LINUX_EXEID_H
#define ALEGATE_LINUX_EXEID_H

#include <stdbool.h>
#include <stdint.h>

#define AG_EXEID_MAX_PATHS	4096	/* paths cached */
#define AG_EXEID_MAX_WATCHES	512	/* directories watched */

struct ag_exeid_stats {
	uint64_t checks;	/* ag_exeid_is() questions */
	uint64_t resolved;	/* paths resolved */
	uint64_t mismatches;	/* answers "no": the path names another file */
	uint64_t invalidated;	/* cached paths dropped on a change reported */
};

struct ag_exeid;

/*
 * ag_exeid_new() - an empty cache and its inotify instance.
 * Return: a handle for ag_exeid_free(), or NULL with errno set.  Without
 * inotify (ENOSYS, EMFILE) it still works, resolving on every question.
 */
struct ag_exeid *ag_exeid_new(void);

/* ag_exeid_free() - free everything.  Accepts NULL. */
void ag_exeid_free(struct ag_exeid *x);

/*
 * ag_exeid_resolve() - the identity of the regular file at @path (not
 * following a symbolic link in its last component), from the cache or
 * resolved now and cached, its directory watched.
 * @dev: receives the kernel's dev_t (major << 20 | minor)
 * Return: 0; -ENOENT, -EINVAL (not an absolute path or not a regular
 * file, or a symbolic link on the way), -EREMOTE (on FUSE), other -errno.
 */
int ag_exeid_resolve(struct ag_exeid *x, const char *path, uint32_t *dev, uint64_t *ino);

/*
 * ag_exeid_batch() - start (@on) or end a batch of ag_exeid_resolve()
 * calls, such as loading every rule: within it, a path resolved once is
 * answered from that resolution, even when it found no file or its
 * directory is not watched, unless a change under it is reported.  Ending
 * the batch ends that: a program that appears later is found by the next
 * question, as outside a batch.  ag_exeid_is() is not affected.
 */
void ag_exeid_batch(struct ag_exeid *x, bool on);

/*
 * ag_exeid_is() - whether the file at @path is (@dev, @ino) now.  A cached
 * answer that says no is checked again against the file itself.
 */
bool ag_exeid_is(struct ag_exeid *x, const char *path, uint32_t dev, uint64_t ino);

/*
 * ag_exeid_fd_is() - whether the file open as @fd is (@dev, @ino), by
 * either name of its device: stat(2)'s, or its super block's as the exec
 * monitor reports it (they differ on btrfs subvolumes and overlayfs).
 */
bool ag_exeid_fd_is(struct ag_exeid *x, int fd, uint32_t dev, uint64_t ino);

/*
 * ag_exeid_receive() - read the changes inotify reports and drop the
 * paths they touch.  ag_exeid_is() and ag_exeid_resolve() call it first,
 * so a caller needs it only to keep the queue short.
 */
void ag_exeid_receive(struct ag_exeid *x);

/*
 * ag_exeid_fd() - the inotify fd, for the caller's loop (readable: call
 * ag_exeid_receive()), or -1 without inotify.
 */
int ag_exeid_fd(const struct ag_exeid *x);

/*
 * ag_exeid_changed() - whether a file at a cached path changed since the
 * last call (whatever read the report): what was compiled from these
 * paths, such as the fast path's identities, must be compiled again.
 */
bool ag_exeid_changed(struct ag_exeid *x);

/* ag_exeid_get_stats() - copy the counters into @st. */
void ag_exeid_get_stats(const struct ag_exeid *x, struct ag_exeid_stats *st);

#endif
