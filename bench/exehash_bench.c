/*
 * exehash_bench.c — what a sha256 rule costs the data plane: hashing an
 * executable the first time (µs per MB, file in the page cache and not),
 * and the cached answer for a process (open /proc/PID/exe, fstat, lookup).
 *
 *   build/bench/exehash_bench [MB...]     default: 1 16 64 256
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "linux/exehash.h"
#include "linux/exeid.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int make_file(const char *path, unsigned mb)
{
	static char block[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

	if (fd == -1)
		return -1;
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (char)(i * 131 + 7);
	for (unsigned i = 0; i < mb; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			return -1;
	fsync(fd);
	close(fd);
	return 0;
}

/* One cold hash of @path (a fresh cache); @drop: out of the page cache first. */
static double hash_once_us(const char *path, int drop)
{
	struct ag_exehash *h = ag_exehash_new(4ull << 30);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t t0;
	int r;

	if (drop)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t0 = now_ns();
	r = ag_exehash_fd(h, fd, hex);
	t0 = now_ns() - t0;
	close(fd);
	ag_exehash_free(h);
	return r ? -1 : t0 / 1e3;
}

struct ident {
	uint32_t dev;
	uint64_t ino;
	struct ag_exeid *x;
};

/* as the daemon checks the file is the one attribution named */
static bool is_ident(void *arg, int fd)
{
	struct ident *id = arg;

	return ag_exeid_fd_is(id->x, fd, id->dev, id->ino);
}

int main(int argc, char **argv)
{
	static const unsigned def[] = { 1, 16, 64, 256 };
	char path[] = "/tmp/ag-exehash-bench-XXXXXX";
	int n = argc > 1 ? argc - 1 : 4;
	int tmp = mkstemp(path);

	if (tmp == -1)
		return 1;
	close(tmp);
	printf("%8s %14s %14s %14s\n", "MB", "warm µs/MB", "cold µs/MB", "warm total ms");
	for (int i = 0; i < n; i++) {
		unsigned mb = argc > 1 ? (unsigned)atoi(argv[i + 1]) : def[i];
		double warm = 1e18, cold = 1e18;

		if (!mb || make_file(path, mb))
			return 1;
		for (int k = 0; k < 3; k++) {
			double w = hash_once_us(path, 0), c = hash_once_us(path, 1);

			warm = w < warm ? w : warm;
			cold = c < cold ? c : cold;
		}
		printf("%8u %14.0f %14.0f %14.1f\n", mb, warm / mb, cold / mb, warm / 1e3);
	}
	unlink(path);

	/* the cached answer, as the daemon asks it for every new flow */
	struct ag_exehash *h = ag_exehash_new(0);
	char hex[AG_EXEHASH_HEX_LEN + 1];
	struct stat st;
	uint32_t dev;
	const int rounds = 200000;
	uint64_t t0;

	if (!h || stat("/proc/self/exe", &st))
		return 1;
	dev = (uint32_t)((major(st.st_dev) << 20) | (minor(st.st_dev) & 0xfffff));
	struct ident id = { dev, st.st_ino, ag_exeid_new() };

	if (!id.x || ag_exehash_pid(h, getpid(), is_ident, &id, hex))
		return 1;
	t0 = now_ns();
	for (int i = 0; i < rounds; i++)
		if (ag_exehash_pid(h, getpid(), is_ident, &id, hex))
			return 1;
	printf("cached lookup (open /proc/PID/exe, identity, fstat, table): %.2f µs\n",
	       (now_ns() - t0) / 1e3 / rounds);
	ag_exehash_free(h);
	return 0;
}
