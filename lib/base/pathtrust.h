/*
 * pathtrust.h — may anyone but root have chosen what a path names?
 *
 * A list or rules file owned by root says nothing if an ordinary user can
 * rename another file into its place, or replace a directory or symbolic
 * link on the way to it.  ag_path_trusted() walks the path as the kernel
 * would, one component at a time, following symbolic links, and asks of
 * every directory it passes through and every link it follows that only
 * root (or the daemon's own user) could have changed them.
 */
#ifndef ALEGATE_BASE_PATHTRUST_H
#define ALEGATE_BASE_PATHTRUST_H

#include <stddef.h>

/*
 * ag_path_trusted — 0 when every directory on the way to @path (the last
 * component itself excepted: the caller checks the file it opens) is owned
 * by root or the effective user and is writable by no one else, or is
 * sticky (/tmp) with the entry taken from it owned by root or the
 * effective user; and every symbolic link followed is owned by root or the
 * effective user.  Relative paths start at the working directory.
 * Returns -EPERM with @why ("the directory D is writable by others ...")
 * when not, or -errno (-ENOENT, -ELOOP, ...) when the walk fails.
 */
int ag_path_trusted(const char *path, char *why, size_t whylen);

#endif
