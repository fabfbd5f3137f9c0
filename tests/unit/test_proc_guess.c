/*
 * test_proc_guess.c — where the process cache guesses a process's next
 * socket is, over a fake /proc (as test_proc.c): a pool of connections
 * reused in turn, larger than 32, is found at a guessed fd without its fd
 * table being read, also when its sockets are named by the inode cache
 * (read in passing by an earlier lookup).
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "linux/proc.h"

static char root[64];
static uint64_t fake_ns = 1000000000ull;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void put(int pid, const char *name, const char *data, bool link)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, name);
	unlink(path);
	if (link) {
		if (symlink(data, path) == -1)
			abort();
		return;
	}
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(data, f);
	fclose(f);
}

/* A fresh fake /proc with one process @pid running /bin/pool, uid 0. */
static struct ag_proc *fake_pool(int pid)
{
	struct ag_proc_config cfg = {
		.grace_ms = 10000, .scan_max_fds = 1000, .no_connector = 1,
	};
	char path[256], text[256];
	struct ag_proc *p;

	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(root, sizeof(root), "/tmp/ag-test-guess.XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(path, sizeof(path), "%s/%d", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/fd", root, pid);
	mkdir(path, 0755);
	put(pid, "exe", "/bin/pool", true);
	snprintf(text, sizeof(text), "%d (pool) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 "
		 "1 0 10 1000 10\n", pid, pid, pid);
	put(pid, "stat", text, false);
	put(pid, "status", "Name:\tpool\nUid:\t0\t0\t0\t0\n", false);
	put(pid, "cmdline", "/bin/pool", false);
	put(pid, "fd/0", "/dev/null", true);
	cfg.proc_root = root;
	p = ag_proc_open(&cfg);
	if (p)
		ag__proc_set_clock(p, fake_clock);
	return p;
}

static void set_socket(int pid, int fd, unsigned ino)
{
	char name[32], link[40];

	snprintf(name, sizeof(name), "fd/%d", fd);
	snprintf(link, sizeof(link), "socket:[%u]", ino);
	put(pid, name, link, true);
}

static int lookup(struct ag_proc *p, int pid, unsigned ino)
{
	pid_t got = 0;

	return ag_proc_find_inode(p, ino, 0, &got) == 0 && got == pid ? 0 : -1;
}

/* 40 threads, each with a connection: fds 3..42, reused in turn. */
#define POOL 40

TEST(proc_pool_of_40_reused_in_turn_guessed_without_reading_the_fd_table)
{
	struct ag_proc *p = fake_pool(900);
	struct ag_proc_stats st, st2;
	unsigned ino = 30000;

	CHECK(p != NULL);
	for (int round = 0; round < 2; round++)
		for (int fd = 3; fd < 3 + POOL; fd++) {
			set_socket(900, fd, ino);
			CHECK_EQ(lookup(p, 900, ino++), 0);
		}
	ag_proc_get_stats(p, &st);
	for (int round = 0; round < 2; round++)
		for (int fd = 3; fd < 3 + POOL; fd++) {
			set_socket(900, fd, ino);
			CHECK_EQ(lookup(p, 900, ino++), 0);
		}
	ag_proc_get_stats(p, &st2);
	/* The fd found POOL finds ago, first guess every time. */
	CHECK_EQ(st2.scans, st.scans);
	CHECK_EQ(st2.fds_read - st.fds_read, 2 * POOL);
	ag_proc_close(p);
}

TEST(proc_pool_sockets_named_by_the_inode_cache_count_for_the_guesses)
{
	struct ag_proc *p = fake_pool(901);
	struct ag_proc_stats st, st2;
	unsigned ino = 40000;

	CHECK(p != NULL);
	/* 30 connections (fds 3..32), two new ones at a time, looked up
	 * in the other order: the lookup of the second reads the first's
	 * fd in passing (an inode cache entry), the first is then named by
	 * the inode cache.  Both are finds of the pool. */
	for (int round = 0; round < 4; round++) {
		if (round == 2)
			ag_proc_get_stats(p, &st);
		for (int fd = 3; fd < 33; fd += 2) {
			set_socket(901, fd, ino);
			set_socket(901, fd + 1, ino + 1);
			CHECK_EQ(lookup(p, 901, ino + 1), 0);
			CHECK_EQ(lookup(p, 901, ino), 0);
			ino += 2;
		}
	}
	ag_proc_get_stats(p, &st2);
	CHECK_EQ(st2.scans, st.scans);
	/* At most two fds read per connection (two rounds of 30). */
	CHECK(st2.fds_read - st.fds_read <= 2 * 2 * 30);
	ag_proc_close(p);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
