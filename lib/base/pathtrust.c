/*
 * pathtrust.c — walk a path as the kernel would and ask, of each directory
 * and link on the way, whether someone other than root could have changed
 * where it leads.  See pathtrust.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/pathtrust.h"

#define MAX_LINKS 40 /* what the kernel follows before ELOOP */

static bool trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * May the entry @es of directory @dir (stat @ds) have been put there by
 * someone else?  A sticky directory (/tmp) lets others add entries but not
 * rename or remove one they do not own, so an entry owned by root is as
 * safe there as anywhere.  Group write is allowed to group root only.
 */
static int dir_ok(const char *dir, const struct stat *ds,
		  const struct stat *es, char *why, size_t len)
{
	bool group_w = (ds->st_mode & S_IWGRP) && ds->st_gid != 0;
	bool other_w = ds->st_mode & S_IWOTH;

	if (!trusted_uid(ds->st_uid)) {
		ag_seterr(why, len, "the directory %s is owned by uid %u, not by root", dir,
		    (unsigned)ds->st_uid);
		return -EPERM;
	}
	if (!group_w && !other_w)
		return 0;
	if ((ds->st_mode & S_ISVTX) && trusted_uid(es->st_uid))
		return 0;
	ag_seterr(why, len, "the directory %s is writable by %s (mode %04o)", dir,
	    other_w ? "others" : "its group", (unsigned)(ds->st_mode & 07777));
	return -EPERM;
}

/* Drop the last component of the absolute path @cur ("/a/b" -> "/a"). */
static void up(char *cur)
{
	char *s = strrchr(cur, '/');

	if (s == cur)
		cur[1] = '\0';
	else if (s)
		*s = '\0';
}

int ag_path_trusted(const char *path, char *why, size_t whylen)
{
	char cur[PATH_MAX], rest[PATH_MAX], next[PATH_MAX], target[PATH_MAX];
	int links = 0;

	if (!path || !*path) {
		ag_seterr(why, whylen, "empty path");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(rest))
		return -ENAMETOOLONG;
	if (path[0] == '/') {
		strcpy(cur, "/");
	} else if (!getcwd(cur, sizeof(cur))) {
		return -errno;
	}
	strcpy(rest, path);

	for (;;) {
		struct stat ds, es;
		char *name = rest, *slash;
		size_t clen;
		bool last;
		int r;

		while (*name == '/')
			name++;
		if (!*name)
			return 0; /* "dir/": the caller opens the directory itself */
		slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		last = !slash || !slash[1 + strspn(slash + 1, "/")];
		if (!strcmp(name, ".")) {
			goto advance;
		}
		if (!strcmp(name, "..")) {
			up(cur);
			goto advance;
		}
		clen = strlen(cur);
		if (clen + 1 + strlen(name) >= sizeof(next))
			return -ENAMETOOLONG;
		memcpy(next, cur, clen);
		if (clen > 1)
			next[clen++] = '/';
		strcpy(next + clen, name);
		if (lstat(cur, &ds) == -1 || lstat(next, &es) == -1)
			return -errno;
		r = dir_ok(cur, &ds, &es, why, whylen);
		if (r < 0)
			return r;
		if (S_ISLNK(es.st_mode)) {
			ssize_t n;
			size_t tail = slash ? strlen(slash + 1) : 0;

			if (++links > MAX_LINKS)
				return -ELOOP;
			if (!trusted_uid(es.st_uid)) {
				ag_seterr(why, whylen, "the link %s is owned by uid %u, not by root", next,
				    (unsigned)es.st_uid);
				return -EPERM;
			}
			n = readlink(next, target, sizeof(target) - 1);
			if (n == -1)
				return -errno;
			if ((size_t)n + 1 + tail >= sizeof(rest))
				return -ENAMETOOLONG;
			target[n] = '\0';
			/* the link's text, then what was left after it */
			if (tail)
				memmove(rest + n + 1, slash + 1, tail + 1);
			else
				rest[n + 1] = '\0';
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			if (target[0] == '/')
				strcpy(cur, "/");
			continue;
		}
		if (last)
			return 0;
		if (!S_ISDIR(es.st_mode))
			return -ENOTDIR;
		strcpy(cur, next);
advance:
		if (!slash)
			return 0;
		memmove(rest, slash + 1, strlen(slash + 1) + 1);
	}
}
