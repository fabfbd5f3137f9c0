/*
 * ag_fuse_stall — a FUSE file system of one file, /f, whose flush (sent
 * by the kernel at every close() of an fd of it, a copy's included) waits
 * STALL_S seconds before it answers: the file an ordinary user with FUSE
 * could put where a daemon copies fds from.
 *
 *   ag_fuse_stall MOUNTPOINT STALL_S
 *
 * Prints "ready" once mounted, then serves until killed (its flushes and
 * their waiters end with it).
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned stall_s;

static void *stall_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->attr_timeout = 3600;	/* a getattr never comes while a flush waits */
	cfg->entry_timeout = 3600;
	return NULL;
}

static int stall_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!strcmp(path, "/f")) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = 2;
		return 0;
	}
	return -ENOENT;
}

static int stall_open(const char *path, struct fuse_file_info *fi)
{
	return strcmp(path, "/f") ? -ENOENT : 0;
}

static int stall_read(const char *path, char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	static const char text[] = "x\n";

	if (off >= 2)
		return 0;
	if (size > (size_t)(2 - off))
		size = (size_t)(2 - off);
	memcpy(buf, text + off, size);
	return (int)size;
}

static int stall_flush(const char *path, struct fuse_file_info *fi)
{
	fprintf(stderr, "flush: waiting %u s\n", stall_s);
	sleep(stall_s);
	return 0;
}

static const struct fuse_operations ops = {
	.init = stall_init,
	.getattr = stall_getattr,
	.open = stall_open,
	.read = stall_read,
	.flush = stall_flush,
};

int main(int argc, char **argv)
{
	char *args[] = { argv[0], NULL };
	struct fuse_args fa = FUSE_ARGS_INIT(1, args);
	struct fuse *f;

	if (argc != 3) {
		fprintf(stderr, "usage: ag_fuse_stall MOUNTPOINT STALL_S\n");
		return 2;
	}
	stall_s = (unsigned)atoi(argv[2]);
	f = fuse_new(&fa, &ops, sizeof(ops), NULL);
	if (!f || fuse_mount(f, argv[1]) != 0) {
		fprintf(stderr, "ag_fuse_stall: cannot mount %s\n", argv[1]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	return fuse_loop(f) == 0 ? 0 : 1;
}
