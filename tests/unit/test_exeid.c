/*
 * test_exeid.c — the pieces of "which program is it" that need no kernel
 * programs: the exec monitor's path walk turned into a path
 * (ag__execmon_path) and the path → file identity cache (exeid.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "linux/execmon.h"
#include "linux/exeid.h"

TEST(execmon_path_components_leaf_first_become_an_absolute_path)
{
	static const char walk[] = "python3.11\0bin\0usr";	/* + the final NUL */
	char out[64];

	CHECK_EQ(ag__execmon_path(walk, sizeof(walk), out, sizeof(out)), 19);
	CHECK_STR(out, "/usr/bin/python3.11");
	CHECK_EQ(ag__execmon_path("init\0", 5, out, sizeof(out)), 5);
	CHECK_STR(out, "/init");
}

TEST(execmon_path_refuses_malformed_walks_and_short_buffers)
{
	char out[8];

	CHECK_EQ(ag__execmon_path("", 0, out, sizeof(out)), -1);
	CHECK_EQ(ag__execmon_path("abc", 3, out, sizeof(out)), -1);	/* no final NUL */
	CHECK_EQ(ag__execmon_path("a\0\0b", 4, out, sizeof(out)), -1);	/* empty name */
	CHECK_EQ(ag__execmon_path("a/b\0", 4, out, sizeof(out)), -1);	/* a slash in a name */
	CHECK_EQ(ag__execmon_path("abcdefgh\0", 9, out, sizeof(out)), -1);
	CHECK_STR(out, "");
}

static char dir[] = "/tmp/test_exeid.XXXXXX";

static void write_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	close(fd);
}

static void identity(const char *path, uint32_t *dev, uint64_t *ino)
{
	struct stat st;

	CHECK_EQ(lstat(path, &st), 0);
	*dev = (uint32_t)((major(st.st_dev) << 20) | minor(st.st_dev));
	*ino = st.st_ino;
}

TEST(exeid_file_replaced_at_its_path_is_resolved_again_old_file_is_not_it)
{
	char path[64], tmp[64], keep[64];
	uint32_t dev0, dev1, d;
	uint64_t ino0, ino1, i;
	struct ag_exeid *x;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/prog", dir);
	snprintf(tmp, sizeof(tmp), "%s/prog.new", dir);
	snprintf(keep, sizeof(keep), "%s/old", dir);
	write_file(path);
	CHECK_EQ(link(path, keep), 0);	/* the old file lives on */
	identity(path, &dev0, &ino0);
	x = ag_exeid_new();
	CHECK(x != NULL);
	CHECK(ag_exeid_fd(x) >= 0);
	CHECK_EQ(ag_exeid_resolve(x, path, &d, &i), 0);
	CHECK(i == ino0);
	CHECK(ag_exeid_is(x, path, dev0, ino0));
	(void)ag_exeid_changed(x);

	write_file(tmp);
	CHECK_EQ(rename(tmp, path), 0);
	identity(path, &dev1, &ino1);
	CHECK(ino1 != ino0);
	ag_exeid_receive(x);
	CHECK(ag_exeid_changed(x));		/* inotify saw it */
	CHECK(ag_exeid_is(x, path, dev1, ino1));
	CHECK(!ag_exeid_is(x, path, dev0, ino0));
	CHECK_EQ(ag_exeid_resolve(x, path, &d, &i), 0);
	CHECK(i == ino1);
	ag_exeid_free(x);
	unlink(path);
	unlink(keep);
	rmdir(dir);
}

TEST(exeid_symlink_and_missing_paths_are_no_program)
{
	char d2[] = "/tmp/test_exeid.XXXXXX", path[64], link_[64];
	uint32_t dev, d;
	uint64_t ino, i;
	struct ag_exeid *x = ag_exeid_new();

	CHECK(x != NULL);
	CHECK(mkdtemp(d2) != NULL);
	snprintf(path, sizeof(path), "%s/prog", d2);
	snprintf(link_, sizeof(link_), "%s/alias", d2);
	write_file(path);
	CHECK_EQ(symlink(path, link_), 0);
	identity(path, &dev, &ino);
	CHECK(ag_exeid_is(x, path, dev, ino));
	CHECK(!ag_exeid_is(x, link_, dev, ino));	/* the kernel never names a link */
	CHECK_EQ(ag_exeid_resolve(x, link_, &d, &i), -EINVAL);
	CHECK(!ag_exeid_is(x, "relative/prog", dev, ino));
	unlink(path);
	CHECK(!ag_exeid_is(x, path, dev, ino));
	CHECK_EQ(ag_exeid_resolve(x, path, &d, &i), -ENOENT);
	ag_exeid_free(x);
	ag_exeid_free(NULL);
	unlink(link_);
	rmdir(d2);
}
