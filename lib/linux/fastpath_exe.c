/*
 * fastpath_exe.c — an executable's identity (device and inode) as the eBPF
 * programs see it, from its path.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "linux/fastpath_internal.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* ---- executables ---------------------------------------------------------------- */

int ag_fp_exe_resolve(const char *path, struct ag_fp_exe *out)
{
	char real[PATH_MAX];
	struct statfs sfs;
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (!path || path[0] != '/')
		return -EINVAL;
	if (!realpath(path, real))
		return -errno;
	/* The engine names a process by its resolved executable path: a rule
	 * on any other spelling never matches there, so it must not here. */
	if (strcmp(real, path) != 0)
		return -ELOOP;
	if (stat(path, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_nlink != 1)
		return -EMLINK;
	if (statfs(path, &sfs) == -1)
		return -errno;
	if ((unsigned long)sfs.f_type == OVERLAYFS_SUPER_MAGIC)
		return -EXDEV;
	out->ino = (uint64_t)st.st_ino;
	/* The kernel's internal dev_t, which is what i_sb->s_dev holds. */
	out->dev = (uint32_t)((major(st.st_dev) << 20) | (minor(st.st_dev) & 0xfffff));
	out->known = true;
	return 0;
}
