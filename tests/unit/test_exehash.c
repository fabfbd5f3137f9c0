/*
 * test_exehash.c — executables' SHA-256: the digest sha256sum prints,
 * computed once per version of a file, again for a new inode or a file
 * rewritten in place (even with its mtime set back), never for a file
 * over the bound, and only for the file the process runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "linux/exehash.h"
#include "linux/exeid.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_ABD "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9"

static char dir[] = "/tmp/ag-exehash-XXXXXX";
static char path[64];

static void cleanup(void)
{
	char p[80];

	unlink(path);
	snprintf(p, sizeof(p), "%s/new", dir);
	unlink(p);
	rmdir(dir);
}

/* A fresh file holding @text; returns its path. */
static const char *make_file(const char *text)
{
	static bool made;
	int fd;

	if (!made) {
		if (!mkdtemp(dir))
			return NULL;
		atexit(cleanup);
		snprintf(path, sizeof(path), "%s/prog", dir);
		made = true;
	}
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return NULL;
	close(fd);
	return path;
}

static int hash_path(struct ag_exehash *h, const char *p, char *hex)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC), r;

	if (fd == -1)
		return -errno;
	r = ag_exehash_fd(h, fd, hex);
	close(fd);
	return r;
}

static struct ag_exehash_stats stats(const struct ag_exehash *h)
{
	struct ag_exehash_stats st;

	ag_exehash_get_stats(h, &st);
	return st;
}

TEST(digest_is_the_one_sha256sum_prints)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	const char *p = make_file("abc");

	CHECK(h && p);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_STR(hex, SHA_ABC);
	ag_exehash_free(h);
}

TEST(same_version_of_a_file_is_hashed_once)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	const char *p = make_file("abc");

	CHECK(h && p);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(hash_path(h, p, hex), 0);
		CHECK_STR(hex, SHA_ABC);
	}
	CHECK_EQ(stats(h).computed, 1u);
	CHECK_EQ(stats(h).hits, 4u);
	CHECK_EQ(stats(h).bytes, 3u);
	ag_exehash_free(h);
}

TEST(file_rewritten_in_place_is_hashed_again_even_with_its_mtime_set_back)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	const char *p = make_file("abc");
	struct stat before, after;
	struct timespec times[2];
	int fd;

	CHECK(h && p);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_STR(hex, SHA_ABC);
	CHECK_EQ(stat(p, &before), 0);
	/* same inode, same size, other bytes, and the old mtime put back */
	fd = open(p, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "abd", 3, 0), 3);
	times[0] = before.st_atim;
	times[1] = before.st_mtim;
	CHECK_EQ(futimens(fd, times), 0);
	close(fd);
	CHECK_EQ(stat(p, &after), 0);
	CHECK_EQ((long long)after.st_ino, (long long)before.st_ino);
	CHECK_EQ((long long)after.st_size, (long long)before.st_size);
	CHECK_EQ((long long)after.st_mtim.tv_nsec, (long long)before.st_mtim.tv_nsec);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_STR(hex, SHA_ABD);
	CHECK_EQ(stats(h).computed, 2u);
	ag_exehash_free(h);
}

TEST(file_of_another_size_or_mtime_is_hashed_again)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	const char *p = make_file("abc");
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };
	int fd;

	CHECK(h && p);
	CHECK_EQ(hash_path(h, p, hex), 0);
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "d", 1), 1);		/* "abcd" */
	close(fd);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_STR(hex, "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
	CHECK_EQ(stats(h).computed, 2u);
	CHECK_EQ(utimensat(AT_FDCWD, p, times, 0), 0);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_EQ(stats(h).computed, 3u);
	ag_exehash_free(h);
}

TEST(new_file_renamed_over_the_path_is_hashed_again)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1], np[80];
	const char *p = make_file("abc");
	struct stat a, b;
	int fd;

	CHECK(h && p);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_EQ(stat(p, &a), 0);
	snprintf(np, sizeof(np), "%s/new", dir);
	fd = open(np, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "abd", 3), 3);
	close(fd);
	CHECK_EQ(rename(np, p), 0);
	CHECK_EQ(stat(p, &b), 0);
	CHECK(a.st_ino != b.st_ino);
	CHECK_EQ(hash_path(h, p, hex), 0);
	CHECK_STR(hex, SHA_ABD);
	CHECK_EQ(stats(h).computed, 2u);
	ag_exehash_free(h);
}

TEST(file_larger_than_the_bound_is_never_read_and_counted_once)
{
	struct ag_exehash *h = ag_exehash_new(2);
	char hex[AG_EXEHASH_HEX_LEN + 1] = "";
	const char *p = make_file("abc");

	CHECK(h && p);
	CHECK_EQ(hash_path(h, p, hex), -EFBIG);
	CHECK_EQ(hash_path(h, p, hex), -EFBIG);
	CHECK_STR(hex, "");
	CHECK_EQ(stats(h).too_large, 1u);
	CHECK_EQ(stats(h).computed, 0u);
	CHECK_EQ(stats(h).bytes, 0u);
	ag_exehash_free(h);
}

TEST(not_a_regular_file_is_refused)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];

	CHECK(h);
	CHECK_EQ(hash_path(h, "/tmp", hex), -EINVAL);
	CHECK_EQ(hash_path(h, "/dev/null", hex), -EINVAL);
	ag_exehash_free(h);
}

struct ident {
	uint32_t dev;
	uint64_t ino;
	struct ag_exeid *x;
};

static bool is_ident(void *arg, int fd)
{
	struct ident *id = arg;

	return ag_exeid_fd_is(id->x, fd, id->dev, id->ino);
}

TEST(process_is_hashed_by_the_file_it_runs_and_refused_when_that_is_another)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1], want[AG_EXEHASH_HEX_LEN + 1];
	struct ident id = { .x = ag_exeid_new() };
	struct stat st;

	CHECK(h && id.x);
	CHECK_EQ(stat("/proc/self/exe", &st), 0);
	id.dev = (uint32_t)((major(st.st_dev) << 20) | (minor(st.st_dev) & 0xfffff));
	id.ino = (uint64_t)st.st_ino;
	CHECK_EQ(hash_path(h, "/proc/self/exe", want), 0);
	CHECK_EQ(ag_exehash_pid(h, getpid(), is_ident, &id, hex), 0);
	CHECK_STR(hex, want);
	CHECK_EQ(stats(h).computed, 1u);	/* the same file: from the cache */
	/* known by another identity: an exec since, or another process */
	id.ino++;
	CHECK_EQ(ag_exehash_pid(h, getpid(), is_ident, &id, hex), -ESTALE);
	id.ino--;
	id.dev ^= 1u << 20;
	CHECK_EQ(ag_exehash_pid(h, getpid(), is_ident, &id, hex), -ESTALE);
	CHECK_EQ(ag_exehash_pid(h, getpid(), NULL, NULL, hex), 0);
	CHECK_STR(hex, want);
	CHECK_EQ(ag_exehash_pid(h, 999999999, NULL, NULL, hex), -ENOENT);
	ag_exehash_free(h);
	ag_exeid_free(id.x);
}

TEST(cache_stays_bounded_and_forgets_the_least_recently_used)
{
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	const char *p = make_file("abc");
	int fd;

	CHECK(h && p);
	fd = open(p, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	/* one inode, many versions: every one lands in the same set of four */
	for (int i = 0; i < 3 * AG_EXEHASH_SLOTS; i++) {
		struct timespec t[2] = { { 0, UTIME_OMIT }, { 1000 + i, 0 } };

		CHECK_EQ(futimens(fd, t), 0);
		CHECK_EQ(ag_exehash_fd(h, fd, hex), 0);
	}
	CHECK_EQ(stats(h).computed, 3u * AG_EXEHASH_SLOTS);
	/* the latest version is still known */
	CHECK_EQ(ag_exehash_fd(h, fd, hex), 0);
	CHECK_EQ(stats(h).hits, 1u);
	close(fd);
	ag_exehash_free(h);
}
