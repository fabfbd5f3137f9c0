/*
 * exeid.c — path → file identity, cached and kept fresh with inotify.
 *
 * One open-addressed table of AG_EXEID_MAX_PATHS entries (twice as many
 * slots); entries are never removed one by one, only marked stale, and the
 * whole table is emptied when it is full.  A stale or unwatched entry is
 * resolved again when asked about.  Watches are never removed: inotify
 * numbers them upwards, so a number above the highest seen is a new
 * directory, and AG_EXEID_MAX_WATCHES bounds how many are taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/exeid.h"

#define EXEID_SLOTS	(2 * AG_EXEID_MAX_PATHS)
/* Mounts remembered from /proc/self/mountinfo (see mount_of()). */
#define EXEID_MOUNTS	256
/* What can make a directory entry name another file. */
#define EXEID_WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
			  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct xent {
	char *path;		/* NULL: slot free */
	uint64_t ino;
	uint32_t dev;		/* stat(2)'s device, in the kernel's encoding */
	uint32_t sbdev;		/* its super block's (see mount_of()), or dev */
	uint32_t hash;
	int wd;			/* its directory's watch, -1: none */
	int err;		/* 0, or the -errno of the last resolution */
	uint32_t batch;		/* the batch it was last resolved in, 0: none */
	bool fresh;		/* resolved, and no change reported since */
};

struct ag_exeid {
	int ifd;		/* inotify, -1 without */
	int max_wd;		/* highest watch number seen */
	unsigned nwatches, npaths;
	bool changed;		/* a fresh entry went stale since asked */
	bool in_batch;		/* ag_exeid_batch(): answers of this batch stand */
	uint32_t batch;		/* the current (or last) batch's number */
	struct xent *slots;
	struct {
		uint64_t id;
		uint32_t dev;
		bool fuse;
	} mounts[EXEID_MOUNTS];
	unsigned nmounts;
	struct ag_exeid_stats st;
};

static uint32_t kdev(unsigned maj, unsigned min)
{
	return (uint32_t)((maj << 20) | (min & 0xfffff));
}

/* Read /proc/self/mountinfo into the mount table. */
static void read_mounts(struct ag_exeid *x)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	x->nmounts = 0;
	if (!f)
		return;
	while (x->nmounts < EXEID_MOUNTS && fgets(line, sizeof(line), f)) {
		const char *type = strstr(line, " - ");
		uint64_t mid;
		unsigned maj, min;

		if (sscanf(line, "%" SCNu64 " %*u %u:%u", &mid, &maj, &min) != 3)
			continue;
		x->mounts[x->nmounts].id = mid;
		x->mounts[x->nmounts].dev = kdev(maj, min);
		/* fuse, fuseblk, fuse.sshfs, ... */
		x->mounts[x->nmounts++].fuse = type && strncmp(type + 3, "fuse", 4) == 0;
	}
	fclose(f);
}

/*
 * Mount @id, from the table, read again when it is not there.  Its super
 * block's device is what the kernel calls a file's device (i_sb->s_dev);
 * stat(2) may say another (btrfs reports each subvolume's own).
 * Return: its index, or -1.
 */
static int mount_of(struct ag_exeid *x, uint64_t id)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < x->nmounts; i++)
			if (x->mounts[i].id == id)
				return (int)i;
		if (!pass)
			read_mounts(x);
	}
	return -1;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct ag_exeid *ag_exeid_new(void)
{
	struct ag_exeid *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->slots = calloc(EXEID_SLOTS, sizeof(*x->slots));
	if (!x->slots) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	x->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return x;
}

static void flush(struct ag_exeid *x)
{
	for (unsigned i = 0; i < EXEID_SLOTS; i++) {
		free(x->slots[i].path);
		x->slots[i].path = NULL;
	}
	x->npaths = 0;
}

void ag_exeid_free(struct ag_exeid *x)
{
	if (!x)
		return;
	flush(x);
	free(x->slots);
	if (x->ifd != -1)
		close(x->ifd);
	free(x);
}

/* Mark stale every entry under watch @wd (-1: every entry). */
static void invalidate(struct ag_exeid *x, int wd, bool gone)
{
	for (unsigned i = 0; i < EXEID_SLOTS; i++) {
		struct xent *e = &x->slots[i];

		if (!e->path || (wd != -1 && e->wd != wd))
			continue;
		/* Every report counts, not only the first: a replacement is a
		 * create and a rename, and only the last shows the new file. */
		x->changed = true;
		if (e->fresh)
			x->st.invalidated++;
		e->fresh = false;
		e->batch = 0;
		if (gone)
			e->wd = -1;
	}
}

void ag_exeid_receive(struct ag_exeid *x)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (x->ifd == -1)
		return;
	while ((n = read(x->ifd, buf, sizeof(buf))) > 0) {
		for (char *q = buf; q < buf + n;) {
			const struct inotify_event *ev = (const void *)q;

			if (ev->mask & IN_Q_OVERFLOW)
				invalidate(x, -1, false);
			else
				invalidate(x, ev->wd, (ev->mask & IN_IGNORED) != 0);
			q += sizeof(*ev) + ev->len;
		}
	}
}

/* The slot of @path: its entry, or the free slot where it goes. */
static struct xent *slot_of(struct ag_exeid *x, const char *path, uint32_t h)
{
	for (uint32_t i = h % EXEID_SLOTS;; i = (i + 1) % EXEID_SLOTS) {
		struct xent *e = &x->slots[i];

		if (!e->path || (e->hash == h && strcmp(e->path, path) == 0))
			return e;
	}
}

/* Watch the directory open at @dfd (O_PATH); return the watch or -1. */
static int watch_dir(struct ag_exeid *x, int dfd)
{
	char link[64];
	int wd;

	if (x->ifd == -1)
		return -1;
	/* Through the fd: no second lookup of the directory's path. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dfd);
	if (x->nwatches >= AG_EXEID_MAX_WATCHES) {
		/* Only a directory already watched: IN_MASK_ADD changes nothing. */
		wd = inotify_add_watch(x->ifd, link, EXEID_WATCH_MASK | IN_MASK_ADD);
		return wd > x->max_wd ? (inotify_rm_watch(x->ifd, wd), -1) : wd;
	}
	wd = inotify_add_watch(x->ifd, link, EXEID_WATCH_MASK);
	if (wd > x->max_wd) {
		x->max_wd = wd;
		x->nwatches++;
	}
	return wd;
}

/* Is what @fd (with @name, or itself when @name is "") is on a FUSE mount? */
static int on_fuse(struct ag_exeid *x, int fd, const char *name, struct statx *st)
{
	int m;

	/* DONT_SYNC: FUSE answers from its cache, never asks its server. */
	if (statx(fd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC | (name[0] ? 0 : AT_EMPTY_PATH),
		  STATX_TYPE | STATX_INO | STATX_MNT_ID, st) == -1)
		return -errno;
	if (!(st->stx_mask & STATX_MNT_ID))
		return 0;
	m = mount_of(x, st->stx_mnt_id);
	return m >= 0 && x->mounts[m].fuse;
}

/*
 * Resolve @e's path now, one component at a time, following no symbolic
 * link (the kernel names files by their real path) and entering no FUSE
 * file system: a lookup there waits for its server, which any user with
 * user_allow_other may run, and would stall the data plane.  The
 * directory is watched before its entry is looked at, so no change falls
 * between.
 */
static void resolve_now(struct ag_exeid *x, struct xent *e)
{
	char comp[NAME_MAX + 1];
	const char *s = e->path + 1, *slash;
	struct statx st;
	int dfd, r;

	x->st.resolved++;
	e->fresh = false;
	e->err = -ENOENT;
	dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		e->err = -errno;
		return;
	}
	while ((slash = strchr(s, '/'))) {
		size_t len = (size_t)(slash - s);
		int nfd;

		if (len == 0 || len > NAME_MAX)
			goto out;
		memcpy(comp, s, len);
		comp[len] = '\0';
		nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd == -1) {
			e->err = errno == ELOOP || errno == ENOTDIR ? -EINVAL : -errno;
			goto out;
		}
		close(dfd);
		dfd = nfd;
		r = on_fuse(x, dfd, "", &st);
		if (r) {
			e->err = r < 0 ? r : -EREMOTE;
			goto out;
		}
		s = slash + 1;
	}
	if (!*s || strlen(s) > NAME_MAX)
		goto out;
	if (e->wd == -1)
		e->wd = watch_dir(x, dfd);
	e->fresh = e->wd != -1;
	r = on_fuse(x, dfd, s, &st);
	if (r < 0) {
		e->err = r;
		goto out;
	}
	if (!S_ISREG(st.stx_mode)) {
		e->err = -EINVAL;
		goto out;
	}
	e->err = 0;
	e->ino = (uint64_t)st.stx_ino;
	e->dev = kdev(st.stx_dev_major, st.stx_dev_minor);
	r = (st.stx_mask & STATX_MNT_ID) ? mount_of(x, st.stx_mnt_id) : -1;
	e->sbdev = r >= 0 ? x->mounts[r].dev : e->dev;
out:
	close(dfd);
}

bool ag_exeid_fd_is(struct ag_exeid *x, int fd, uint32_t dev, uint64_t ino)
{
	struct statx st;
	int m;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_MNT_ID, &st) == -1 ||
	    (uint64_t)st.stx_ino != ino)
		return false;
	if (kdev(st.stx_dev_major, st.stx_dev_minor) == dev)
		return true;
	m = (st.stx_mask & STATX_MNT_ID) ? mount_of(x, st.stx_mnt_id) : -1;
	return m >= 0 && x->mounts[m].dev == dev;
}

/* The file at @e's path is (@dev, @ino), by either name of its device. */
static bool same_file(const struct xent *e, uint32_t dev, uint64_t ino)
{
	return !e->err && e->ino == ino && (e->dev == dev || e->sbdev == dev);
}

static struct xent *lookup(struct ag_exeid *x, const char *path)
{
	uint32_t h = hash_str(path);
	struct xent *e;

	ag_exeid_receive(x);
	e = slot_of(x, path, h);
	if (e->path)
		return e;
	if (x->npaths >= AG_EXEID_MAX_PATHS) {
		flush(x);
		e = slot_of(x, path, h);
	}
	e->path = strdup(path);
	if (!e->path)
		return NULL;
	e->hash = h;
	e->wd = -1;
	e->fresh = false;
	e->batch = 0;
	x->npaths++;
	return e;
}

int ag_exeid_resolve(struct ag_exeid *x, const char *path, uint32_t *dev, uint64_t *ino)
{
	struct xent *e;

	if (!path || path[0] != '/')
		return -EINVAL;
	e = lookup(x, path);
	if (!e)
		return -ENOMEM;
	/* in a batch, a path already resolved in it (a program not there, an
	 * unwatched directory) is not walked again for every rule naming it */
	if (!e->fresh && !(x->in_batch && e->batch == x->batch)) {
		resolve_now(x, e);
		if (x->in_batch)
			e->batch = x->batch;
	}
	if (e->err)
		return e->err;
	*dev = e->dev;
	*ino = e->ino;
	return 0;
}

bool ag_exeid_is(struct ag_exeid *x, const char *path, uint32_t dev, uint64_t ino)
{
	struct xent *e;

	x->st.checks++;
	if (!path || path[0] != '/')
		return false;
	e = lookup(x, path);
	if (!e)
		return false;
	if (e->fresh && same_file(e, dev, ino))
		return true;
	/* Stale, unwatched, or it says no: ask the file itself. */
	resolve_now(x, e);
	if (same_file(e, dev, ino))
		return true;
	x->st.mismatches++;
	return false;
}

void ag_exeid_batch(struct ag_exeid *x, bool on)
{
	if (on && !x->in_batch && ++x->batch == 0)
		x->batch = 1; /* 0 marks an entry of no batch */
	x->in_batch = on;
}

int ag_exeid_fd(const struct ag_exeid *x)
{
	return x->ifd;
}

bool ag_exeid_changed(struct ag_exeid *x)
{
	bool c = x->changed;

	x->changed = false;
	return c;
}

void ag_exeid_get_stats(const struct ag_exeid *x, struct ag_exeid_stats *st)
{
	*st = x->st;
}
