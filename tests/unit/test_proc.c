/*
 * test_proc.c — the process cache (lib/linux/proc.c) over a fake /proc.
 *
 * The cache reads /proc through config.proc_root, so these tests build a
 * small tree of their own (exe links, stat, status, cmdline, fd links) and
 * move the cache's clock by hand: no root, no real processes, exact answers.
 * The real connector and /proc are tested by tests/netns/test_attrib.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/cn_proc.h>

#include "check.h"
#include "linux/execmon.h"
#include "linux/proc.h"

/* ---- parsers ------------------------------------------------------------- */

TEST(proc_parse_stat_comm_with_spaces_and_parens)
{
	const char *s = "4242 (a) b) (c) S 17 4242 4242 0 -1 4194560 10 0 0 0 "
			"1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
	char comm[AG_PROC_COMM_MAX];
	pid_t ppid = 0;
	unsigned kflags = 0;
	uint64_t start = 0;

	CHECK_EQ(ag__proc_parse_stat(s, strlen(s), comm, sizeof(comm), &ppid,
				     &kflags, &start), 0);
	CHECK_STR(comm, "a) b) (c");
	CHECK_EQ(ppid, 17);
	CHECK_EQ(kflags, 4194560);
	CHECK_EQ(start, 987654);
}

TEST(proc_parse_stat_refuses_truncated_and_garbage)
{
	const char *cut = "1 (x) S 0 1 1 0 -1 4194560 10 0 0";
	const char *bad = "1 (x) S zero 1 1 0 -1 4194560 1 0 0 0 1 2 0 0 20 0 1 0 5";
	const char *noparen = "1 x S 0 1 1 0 -1 4194560 1 0 0 0 1 2 0 0 20 0 1 0 5";
	char comm[4];
	pid_t ppid;
	unsigned kflags;
	uint64_t start;

	CHECK_EQ(ag__proc_parse_stat(cut, strlen(cut), comm, sizeof(comm),
				     &ppid, &kflags, &start), -EBADMSG);
	CHECK_EQ(ag__proc_parse_stat(bad, strlen(bad), comm, sizeof(comm),
				     &ppid, &kflags, &start), -EBADMSG);
	CHECK_EQ(ag__proc_parse_stat(noparen, strlen(noparen), comm,
				     sizeof(comm), &ppid, &kflags, &start),
		 -EBADMSG);
}

TEST(proc_parse_stat_cuts_long_comm_to_buffer)
{
	const char *s = "9 (abcdefgh) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77";
	char comm[4];
	pid_t ppid;
	unsigned kflags;
	uint64_t start;

	CHECK_EQ(ag__proc_parse_stat(s, strlen(s), comm, sizeof(comm), &ppid,
				     &kflags, &start), 0);
	CHECK_STR(comm, "abc");
	CHECK_EQ(start, 77);
}

TEST(proc_parse_uids_reads_real_and_effective)
{
	const char *s = "Name:\tx\nPPid:\t1\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
	const char *none = "Name:\tx\nGid:\t5\t5\t5\t5\n";
	uint32_t uid = 1, euid = 1;

	CHECK_EQ(ag__proc_parse_uids(s, strlen(s), &uid, &euid), 0);
	CHECK_EQ(uid, 1000);
	CHECK_EQ(euid, 0);
	CHECK_EQ(ag__proc_parse_uids(none, strlen(none), &uid, &euid), -EBADMSG);
}

TEST(proc_join_cmdline_spaces_and_trailing_nuls)
{
	static const char args[] = "/bin/prog\0-x\0two words\0\0";
	char out[64];

	CHECK_EQ(ag__proc_join_cmdline(args, sizeof(args) - 1, out,
				       sizeof(out)), 0);
	CHECK_STR(out, "/bin/prog -x 'two words'");
}

TEST(proc_join_cmdline_quotes_what_a_shell_would_split)
{
	static const char args[] = "sh\0-c\0echo it's\0\0$HOME\0";
	char out[64];

	CHECK_EQ(ag__proc_join_cmdline(args, sizeof(args) - 1, out, sizeof(out)), 0);
	CHECK_STR(out, "sh -c 'echo it'\\''s' '' '$HOME'");
}

TEST(proc_join_cmdline_cuts_at_bound_and_says_so)
{
	static const char args[] = "abcdef\0ghij\0";
	char out[8];

	CHECK_EQ(ag__proc_join_cmdline(args, sizeof(args) - 1, out,
				       sizeof(out)), 1);
	CHECK_STR(out, "abcdef ");
	CHECK_EQ(ag__proc_join_cmdline("", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "");
}

TEST(proc_strip_deleted_suffix_only_at_end)
{
	char a[] = "/usr/bin/x (deleted)";
	char b[] = "/usr/bin/x (deleted) y";
	char c[] = " (deleted)";

	CHECK_EQ(ag__proc_strip_deleted(a), 1);
	CHECK_STR(a, "/usr/bin/x");
	CHECK_EQ(ag__proc_strip_deleted(b), 0);
	CHECK_STR(b, "/usr/bin/x (deleted) y");
	/* A path is never empty: " (deleted)" alone is a name. */
	CHECK_EQ(ag__proc_strip_deleted(c), 0);
}

/* ---- a fake /proc -------------------------------------------------------- */

static char root[64];
static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The last test's tree goes when the program ends. */
static void fake_remove(void)
{
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
}

static void fake_reset(void)
{
	static bool registered;

	if (!registered)
		registered = atexit(fake_remove) == 0;
	fake_remove();
	snprintf(root, sizeof(root), "/tmp/ag-test-proc.XXXXXX");
	if (!mkdtemp(root))
		abort();
	fake_ns = 1000000000ull;
}

static void put_file(int pid, const char *name, const char *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, len, f);
	fclose(f);
}

static void put_link(int pid, const char *name, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, name);
	unlink(path);
	if (symlink(target, path) == -1)
		abort();
}

/* A process: exe link (NULL: none, like a kernel thread), start time, uid. */
static void fake_proc(int pid, int ppid, const char *exe, uint64_t start,
		      unsigned uid, unsigned kflags)
{
	char path[256], text[512];
	int n;

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/fd", root, pid);
	mkdir(path, 0755);
	if (exe)
		put_link(pid, "exe", exe);
	n = snprintf(text, sizeof(text),
		     "%d (fake %d) S %d %d %d 0 -1 %u 0 0 0 0 0 0 0 0 20 0 1 0 "
		     "%llu 1000 10\n", pid, pid, ppid, pid, pid, kflags,
		     (unsigned long long)start);
	put_file(pid, "stat", text, (size_t)n);
	n = snprintf(text, sizeof(text), "Name:\tfake\nUid:\t%u\t%u\t%u\t%u\n",
		     uid, uid, uid, uid);
	put_file(pid, "status", text, (size_t)n);
	if (exe) {
		n = snprintf(text, sizeof(text), "%s%c--flag%c", exe, 0, 0);
		put_file(pid, "cmdline", text, (size_t)n);
	} else {
		put_file(pid, "cmdline", "", 0);
	}
}

static void fake_fd(int pid, int fd, const char *target)
{
	char name[32];

	snprintf(name, sizeof(name), "fd/%d", fd);
	put_link(pid, name, target);
}

static void fake_gone(int pid)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct ag_proc *fake_open(unsigned max_procs, unsigned scan_max_fds)
{
	struct ag_proc_config cfg = {
		.max_procs = max_procs, .grace_ms = 10000,
		.scan_max_fds = scan_max_fds, .no_connector = 1,
		.proc_root = root,
	};
	struct ag_proc *p = ag_proc_open(&cfg);

	if (p)
		ag__proc_set_clock(p, fake_clock);
	return p;
}

TEST(proc_reads_exe_cmdline_uid_and_strips_deleted)
{
	struct ag_proc *p;
	struct ag_proc_info info;

	fake_reset();
	fake_proc(100, 1, "/opt/app/bin (deleted)", 5000, 1000, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_get(p, 100, &info), 0);
	CHECK_STR(info.exe, "/opt/app/bin");
	CHECK(info.flags & AG_PROC_EXE_DELETED);
	CHECK_STR(info.cmdline, "'/opt/app/bin (deleted)' --flag");
	CHECK_STR(info.comm, "fake 100");
	CHECK_EQ(info.uid, 1000);
	CHECK_EQ(info.ppid, 1);
	CHECK_EQ(info.start_time, 5000);
	CHECK_EQ(ag_proc_get(p, 999, &info), -ENOENT);
	ag_proc_close(p);
}

TEST(proc_kernel_thread_has_no_exe_and_is_flagged)
{
	struct ag_proc *p;
	struct ag_proc_info info;

	fake_reset();
	fake_proc(2, 0, NULL, 1, 0, 0x00200000);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_get(p, 2, &info), 0);
	CHECK_STR(info.exe, "");
	CHECK(info.flags & AG_PROC_KTHREAD);
	CHECK(info.flags & AG_PROC_NO_EXE);
	ag_proc_close(p);
}

TEST(proc_pid_reuse_detected_by_start_time)
{
	struct ag_proc *p;
	struct ag_proc_info info;
	struct ag_proc_stats st;

	fake_reset();
	fake_proc(300, 1, "/bin/old", 100, 0, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_get(p, 300, &info), 0);
	CHECK_STR(info.exe, "/bin/old");
	/* The old process died unseen and a new one got its pid. */
	fake_proc(300, 1, "/bin/new", 200, 0, 0);
	CHECK_EQ(ag_proc_get(p, 300, &info), 0);
	CHECK_STR(info.exe, "/bin/new");
	CHECK_STR(info.cmdline, "/bin/new --flag");
	CHECK_EQ(info.start_time, 200);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.pid_reused, 1);
	ag_proc_close(p);
}

TEST(proc_exec_without_pid_change_seen_in_procfs_mode)
{
	struct ag_proc *p;
	struct ag_proc_info info;

	fake_reset();
	fake_proc(310, 1, "/bin/sh", 100, 0, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_get(p, 310, &info), 0);
	CHECK_STR(info.exe, "/bin/sh");
	/* Same pid, same start time, a new image: exec. */
	put_link(310, "exe", "/usr/bin/curl");
	put_file(310, "cmdline", "curl\0x\0", 7);
	CHECK_EQ(ag_proc_get(p, 310, &info), 0);
	CHECK_STR(info.exe, "/usr/bin/curl");
	CHECK_STR(info.cmdline, "curl x");
	ag_proc_close(p);
}

TEST(proc_find_inode_scans_fds_and_caches_the_answer)
{
	struct ag_proc *p;
	struct ag_proc_stats st;
	pid_t pid = 0;

	fake_reset();
	fake_proc(400, 1, "/bin/a", 10, 1000, 0);
	fake_proc(401, 1, "/bin/b", 11, 1001, 0);
	fake_fd(400, 0, "/dev/null");
	fake_fd(400, 3, "socket:[5550]");
	fake_fd(401, 0, "pipe:[77]");
	fake_fd(401, 7, "socket:[5551]");
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_find_inode(p, 5551, 1001, &pid), 0);
	CHECK_EQ(pid, 401);
	CHECK_EQ(ag_proc_find_inode(p, 5550, AG_UID_UNKNOWN, &pid), 0);
	CHECK_EQ(pid, 400);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.inode_hits, 0);
	CHECK_EQ(ag_proc_find_inode(p, 5551, 1001, &pid), 0);
	CHECK_EQ(pid, 401);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.inode_hits, 1);
	CHECK_EQ(ag_proc_find_inode(p, 9999, AG_UID_UNKNOWN, &pid), -ENOENT);
	CHECK_EQ(ag_proc_find_inode(p, 0, AG_UID_UNKNOWN, &pid), -EINVAL);
	ag_proc_close(p);
}

TEST(proc_inode_cache_checks_the_fd_still_holds_the_socket)
{
	struct ag_proc *p;
	pid_t pid = 0;

	fake_reset();
	fake_proc(500, 1, "/bin/a", 10, 0, 0);
	fake_proc(501, 1, "/bin/b", 11, 0, 0);
	fake_fd(500, 3, "socket:[6000]");
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_find_inode(p, 6000, AG_UID_UNKNOWN, &pid), 0);
	CHECK_EQ(pid, 500);
	/* The socket moved to another process (passed, then closed here). */
	fake_fd(500, 3, "/dev/null");
	fake_fd(501, 9, "socket:[6000]");
	CHECK_EQ(ag_proc_find_inode(p, 6000, AG_UID_UNKNOWN, &pid), 0);
	CHECK_EQ(pid, 501);
	ag_proc_close(p);
}

TEST(proc_find_inode_gives_up_at_scan_budget)
{
	struct ag_proc *p;
	struct ag_proc_stats st;
	pid_t pid;

	fake_reset();
	fake_proc(600, 1, "/bin/many", 10, 0, 0);
	for (int fd = 0; fd < 10; fd++)
		fake_fd(600, fd, "/dev/null");
	p = fake_open(0, 3);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_find_inode(p, 7000, AG_UID_UNKNOWN, &pid), -EAGAIN);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.scan_budget, 1);
	CHECK_EQ(st.fds_read, 3);
	ag_proc_close(p);

	p = fake_open(0, 100);
	CHECK(p != NULL);
	CHECK_EQ(ag_proc_find_inode(p, 7000, AG_UID_UNKNOWN, &pid), -ENOENT);
	ag_proc_close(p);
}

/* Replace the socket at @fd of @pid by socket @ino and look it up. */
static int new_socket_at(struct ag_proc *p, int pid, int fd, unsigned ino)
{
	char link[40];
	pid_t got = 0;

	snprintf(link, sizeof(link), "socket:[%u]", ino);
	fake_fd(pid, fd, link);
	if (ag_proc_find_inode(p, ino, 0, &got) != 0 || got != pid)
		return -1;
	return 0;
}

TEST(proc_many_open_sockets_found_in_the_ring_without_reading_the_fd_table)
{
	struct ag_proc *p;
	struct ag_proc_stats st, st2;
	unsigned ino = 20000;

	fake_reset();
	/* 32 threads of one process, each with a connection open: fds 3..34. */
	fake_proc(650, 1, "/bin/pool", 10, 0, 0);
	fake_fd(650, 0, "/dev/null");
	p = fake_open(0, 1000);
	CHECK(p != NULL);
	for (int fd = 3; fd < 35; fd++)
		CHECK_EQ(new_socket_at(p, 650, fd, ino++), 0);
	/* Connections end in no fixed order: the first reuse comes from far
	 * back in the ring, and the lookup learns that. */
	CHECK_EQ(new_socket_at(p, 650, 3, ino++), 0);
	ag_proc_get_stats(p, &st);
	/* Further reuses, none at the distance of the one before nor among
	 * the newest: found among the fds of the ring, no fd table read. */
	CHECK_EQ(new_socket_at(p, 650, 12, ino++), 0);
	CHECK_EQ(new_socket_at(p, 650, 25, ino++), 0);
	CHECK_EQ(new_socket_at(p, 650, 7, ino++), 0);
	ag_proc_get_stats(p, &st2);
	CHECK_EQ(st2.scans, st.scans);
	CHECK_EQ(st2.scan_found_guess, st.scan_found_guess + 3);
	ag_proc_close(p);
}

/* Files this test process has open. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

TEST(proc_fd_directory_kept_open_follows_its_process_not_its_pid)
{
	struct ag_proc *p;
	struct ag_proc_stats st, st2;
	int fds0, fds1;

	fake_reset();
	fake_proc(700, 1, "/bin/conn", 10, 0, 0);
	fake_fd(700, 0, "/dev/null");
	fds0 = open_fds();
	p = fake_open(0, 1000);
	CHECK(p != NULL);
	fds1 = open_fds();
	/* The first socket is found by a scan; the next by a guess, read
	 * through the process's fd directory, which it keeps open. */
	CHECK_EQ(new_socket_at(p, 700, 3, 8000), 0);
	CHECK_EQ(new_socket_at(p, 700, 4, 8001), 0);
	CHECK_EQ(open_fds(), fds1 + 1);
	/* The process is gone and another has its pid: the directory kept
	 * answers nothing, and the guess reads the new one through /proc. */
	fake_gone(700);
	fake_proc(700, 1, "/bin/other", 20, 0, 0);
	fake_fd(700, 0, "/dev/null");
	ag_proc_get_stats(p, &st);
	CHECK_EQ(new_socket_at(p, 700, 3, 8002), 0);
	ag_proc_get_stats(p, &st2);
	CHECK_EQ(st2.scans, st.scans);
	CHECK_EQ(st2.scan_found_guess, st.scan_found_guess + 1);
	CHECK(open_fds() <= fds1 + 1);
	ag_proc_close(p);
	CHECK_EQ(open_fds(), fds0);
}

TEST(proc_exited_kept_for_grace_time_then_dropped)
{
	struct ag_proc *p;
	struct ag_proc_info info;

	fake_reset();
	fake_proc(700, 1, "/bin/short", 10, 0, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK_EQ(ag__proc_event(p, PROC_EVENT_EXEC, 700, 0), 0);
	CHECK_EQ(ag__proc_event(p, PROC_EVENT_EXIT, 700, 0), 0);
	fake_gone(700);
	fake_ns += 9ull * 1000000000u;
	CHECK_EQ(ag_proc_get(p, 700, &info), 0);
	CHECK_STR(info.exe, "/bin/short");
	CHECK(info.flags & AG_PROC_EXITED);
	fake_ns += 2ull * 1000000000u;
	CHECK_EQ(ag_proc_get(p, 700, &info), -ENOENT);
	ag_proc_close(p);
}

TEST(proc_fork_inherits_parent_until_read)
{
	struct ag_proc *p;
	struct ag_proc_info info;

	fake_reset();
	fake_proc(800, 1, "/usr/sbin/server", 10, 33, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	/* A worker forked and exited before anyone read it. */
	CHECK_EQ(ag__proc_event(p, PROC_EVENT_FORK, 801, 800), 0);
	CHECK_EQ(ag__proc_event(p, PROC_EVENT_EXIT, 801, 0), 0);
	CHECK_EQ(ag_proc_get(p, 801, &info), 0);
	CHECK_STR(info.exe, "/usr/sbin/server");
	CHECK_EQ(info.uid, 33);
	CHECK_EQ(info.ppid, 800);
	CHECK(info.flags & AG_PROC_INHERITED);
	CHECK(info.flags & AG_PROC_EXITED);
	/* Thread events do not make processes. */
	CHECK_EQ(ag__proc_event(p, 0x4242, 801, 0), -EINVAL);
	ag_proc_close(p);
}

TEST(proc_bounded_cache_evicts_exited_before_live)
{
	struct ag_proc *p;
	struct ag_proc_info info;
	struct ag_proc_stats st;

	fake_reset();
	for (int pid = 900; pid < 906; pid++)
		fake_proc(pid, 1, "/bin/x", 10 + pid, 0, 0);
	p = fake_open(4, 0);
	CHECK(p != NULL);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.cached, 4);
	CHECK(st.evicted >= 2);
	/* The newest pids were read last and stayed. */
	CHECK_EQ(ag__proc_event(p, PROC_EVENT_EXIT, 905, 0), 0);
	fake_gone(905);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.exited, 1);
	/* A new process takes the exited one's slot, not a live one's. */
	fake_proc(910, 1, "/bin/y", 50, 0, 0);
	CHECK_EQ(ag_proc_get(p, 910, &info), 0);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.cached, 4);
	CHECK_EQ(st.exited, 0);
	CHECK_EQ(ag_proc_get(p, 905, &info), -ENOENT);
	ag_proc_close(p);
}

TEST(proc_rescan_adds_new_and_marks_vanished_as_exited)
{
	struct ag_proc *p;
	struct ag_proc_info info;
	struct ag_proc_stats st;

	fake_reset();
	fake_proc(1000, 1, "/bin/stay", 10, 0, 0);
	fake_proc(1001, 1, "/bin/go", 11, 0, 0);
	p = fake_open(0, 0);
	CHECK(p != NULL);
	fake_gone(1001);
	fake_proc(1002, 1, "/bin/new", 12, 0, 0);
	CHECK_EQ(ag_proc_rescan(p), 0);
	ag_proc_get_stats(p, &st);
	CHECK_EQ(st.cached, 3);
	CHECK_EQ(st.exited, 1);
	CHECK_EQ(ag_proc_get(p, 1001, &info), 0);
	CHECK(info.flags & AG_PROC_EXITED);
	CHECK_STR(info.exe, "/bin/go");
	ag_proc_close(p);
	fake_reset();
}

TEST(proc_open_refuses_missing_root_and_says_mode)
{
	struct ag_proc_config cfg = { .no_connector = 1,
				      .proc_root = "/nonexistent/proc" };
	struct ag_proc *p;

	CHECK(ag_proc_open(&cfg) == NULL);
	CHECK_EQ(errno, ENOENT);
	fake_reset();
	p = fake_open(0, 0);
	CHECK(p != NULL);
	CHECK(strstr(ag_proc_mode(p), "scans only") != NULL);
	CHECK_EQ(ag_proc_fd(p), -1);
	CHECK_EQ(ag_proc_receive(p), 0);
	ag_proc_close(p);
	ag_proc_close(NULL);
}

/* Our own start time, in the kernel's nanoseconds (stat's ticks × ns). */
static uint64_t self_start_ns(void)
{
	char buf[1024], comm[16];
	uint64_t start = 0;
	unsigned kflags;
	pid_t ppid;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

	if (f)
		fclose(f);
	if (ag__proc_parse_stat(buf, n, comm, sizeof(comm), &ppid, &kflags, &start))
		return 0;
	return start * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

TEST(proc_kernel_exec_names_the_file_and_proc_does_not_override_it)
{
	struct ag_proc_config cfg = { .no_connector = 1 };
	struct ag_proc *p = ag_proc_open(&cfg);
	struct ag_exec_event ev = {
		.type = AG_EXEC_EXEC, .pid = getpid(), .ppid = getppid(),
		.start_ns = self_start_ns(), .dev = 0x123, .ino = 42,
		.comm = "prog", .path = "/opt/borrowed/name",
	};
	struct ag_proc_info info;

	CHECK(p != NULL);
	CHECK(ev.start_ns != 0);
	ag__proc_kernel_event(p, &ev);
	/* /proc/self/exe names the test binary; the kernel's record stands. */
	CHECK_EQ(ag_proc_get(p, getpid(), &info), 0);
	CHECK_STR(info.exe, "/opt/borrowed/name");
	CHECK(info.flags & AG_PROC_EXE_ID);
	CHECK_EQ(info.exe_dev, 0x123u);
	CHECK(info.exe_ino == 42);
	CHECK(info.cmdline[0] != '\0');		/* the rest read from /proc */

	/* A fork runs its parent's file: the child inherits the identity. */
	ev.type = AG_EXEC_FORK;
	ev.pid = 0x3ffffff0;			/* no such process */
	ev.ppid = getpid();
	ag__proc_kernel_event(p, &ev);
	CHECK_EQ(ag_proc_get(p, ev.pid, &info), 0);
	CHECK_STR(info.exe, "/opt/borrowed/name");
	CHECK(info.flags & AG_PROC_EXE_ID);
	CHECK(info.exe_ino == 42);

	/* An exec whose path the walk could not give: the identity stands,
	 * the name comes from /proc. */
	ev.type = AG_EXEC_EXEC;
	ev.pid = getpid();
	ev.ppid = getppid();
	ev.path = "";
	ev.flags = AG_EXEC_PATH_CUT;
	ev.ino = 43;
	ag__proc_kernel_event(p, &ev);
	CHECK_EQ(ag_proc_get(p, getpid(), &info), 0);
	CHECK(info.exe[0] == '/' && strcmp(info.exe, "/opt/borrowed/name") != 0);
	CHECK(info.exe_ino == 43);
	ag_proc_close(p);
}
