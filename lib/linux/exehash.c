/*
 * exehash.c — SHA-256 of executables (nettle's), cached per file version.
 *
 * The cache is AG_EXEHASH_SLOTS entries in sets of four chosen by device
 * and inode; a full set gives up its least recently used entry.  A miss
 * costs one read of the file, so a bounded table that sometimes forgets is
 * enough: nothing here allocates after ag_exehash_new().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "linux/exehash.h"

#define WAYS		4
#define NSETS		(AG_EXEHASH_SLOTS / WAYS)
#define READ_CHUNK	(128u * 1024)

/* What tells one version of a file from another. */
struct key {
	uint64_t dev, ino;
	int64_t size;
	int64_t mtime_s, ctime_s;
	long mtime_ns, ctime_ns;
};

struct ent {
	struct key k;
	uint64_t used;			/* 0: slot free */
	bool too_large;			/* refused for its size */
	char hex[AG_EXEHASH_HEX_LEN + 1];
};

struct ag_exehash {
	uint64_t max_size;
	uint64_t clock;			/* use counter for LRU */
	unsigned char *buf;		/* READ_CHUNK bytes */
	struct ent ents[AG_EXEHASH_SLOTS];
	struct ag_exehash_stats st;
};

struct ag_exehash *ag_exehash_new(uint64_t max_size)
{
	struct ag_exehash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->buf = malloc(READ_CHUNK);
	if (!h->buf) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	h->max_size = max_size ? max_size : AG_EXEHASH_MAX_SIZE;
	return h;
}

void ag_exehash_free(struct ag_exehash *h)
{
	if (!h)
		return;
	free(h->buf);
	free(h);
}

void ag_exehash_get_stats(const struct ag_exehash *h, struct ag_exehash_stats *st)
{
	*st = h->st;
}

static void key_of(const struct stat *s, struct key *k)
{
	memset(k, 0, sizeof(*k));
	k->dev = (uint64_t)s->st_dev;
	k->ino = (uint64_t)s->st_ino;
	k->size = (int64_t)s->st_size;
	k->mtime_s = (int64_t)s->st_mtim.tv_sec;
	k->mtime_ns = s->st_mtim.tv_nsec;
	k->ctime_s = (int64_t)s->st_ctim.tv_sec;
	k->ctime_ns = s->st_ctim.tv_nsec;
}

static bool key_eq(const struct key *a, const struct key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
	       a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

static struct ent *set_of(struct ag_exehash *h, const struct key *k)
{
	uint64_t x = k->ino * 0x9e3779b97f4a7c15ull ^ k->dev * 0xc2b2ae3d27d4eb4full;

	return &h->ents[(x >> 32) % NSETS * WAYS];
}

static struct ent *find(struct ag_exehash *h, const struct key *k)
{
	struct ent *set = set_of(h, k);

	for (int i = 0; i < WAYS; i++)
		if (set[i].used && key_eq(&set[i].k, k))
			return &set[i];
	return NULL;
}

/* The slot a new entry takes: a free one, else the least recently used. */
static struct ent *victim(struct ag_exehash *h, const struct key *k)
{
	struct ent *set = set_of(h, k), *v = &set[0];

	for (int i = 0; i < WAYS; i++) {
		if (!set[i].used)
			return &set[i];
		if (set[i].used < v->used)
			v = &set[i];
	}
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void to_hex(const uint8_t *d, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 0xf];
	}
	hex[AG_EXEHASH_HEX_LEN] = '\0';
}

/* Read all of @fd from offset 0 into the digest.  Return: 0 or -errno. */
static int digest_fd(struct ag_exehash *h, int fd, uint8_t *out, uint64_t *nread)
{
	struct sha256_ctx ctx;
	off_t off = 0;

	sha256_init(&ctx);
	for (;;) {
		ssize_t n = pread(fd, h->buf, READ_CHUNK, off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, h->buf);
		off += n;
		/* grown past the bound while read: it is being written */
		if ((uint64_t)off > h->max_size)
			return -ESTALE;
	}
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
	*nread = (uint64_t)off;
	return 0;
}

int ag_exehash_fd(struct ag_exehash *h, int fd, char *hex)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	struct stat before, after;
	struct key k, k2;
	struct ent *e;
	uint64_t t0, n = 0;
	int r;

	h->st.lookups++;
	if (fstat(fd, &before) == -1) {
		h->st.failed++;
		return -errno;
	}
	if (!S_ISREG(before.st_mode))
		return -EINVAL;
	key_of(&before, &k);
	e = find(h, &k);
	if (e) {
		h->st.hits++;
		e->used = ++h->clock;
		if (e->too_large)
			return -EFBIG;
		memcpy(hex, e->hex, sizeof(e->hex));
		return 0;
	}
	if ((uint64_t)before.st_size > h->max_size) {
		h->st.too_large++;
		e = victim(h, &k);
		memset(e, 0, sizeof(*e));
		e->k = k;
		e->too_large = true;
		e->used = ++h->clock;
		return -EFBIG;
	}
	t0 = now_ns();
	r = digest_fd(h, fd, d, &n);
	h->st.compute_ns += now_ns() - t0;
	if (r == -ESTALE) {
		h->st.changed++;
		return r;
	}
	if (r) {
		h->st.failed++;
		return r;
	}
	h->st.computed++;
	h->st.bytes += n;
	/* Written while read: the digest is of no one version of the file. */
	if (fstat(fd, &after) == -1) {
		h->st.failed++;
		return -errno;
	}
	key_of(&after, &k2);
	if (!key_eq(&k, &k2) || n != (uint64_t)before.st_size) {
		h->st.changed++;
		return -ESTALE;
	}
	to_hex(d, hex);
	e = victim(h, &k);
	e->k = k;
	e->too_large = false;
	e->used = ++h->clock;
	memcpy(e->hex, hex, sizeof(e->hex));
	return 0;
}

int ag_exehash_pid(struct ag_exehash *h, pid_t pid, ag_exehash_check_fn *check, void *arg,
		   char *hex)
{
	char path[32];
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	/* O_NOCTTY | O_NONBLOCK: whatever the link names, opening it must
	 * neither take a terminal nor wait (it is the executable, a regular
	 * file, unless the process is gone and the pid another's). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		h->st.failed++;
		return -errno;
	}
	if (check && !check(arg, fd)) {
		h->st.changed++;
		r = -ESTALE;
	} else {
		r = ag_exehash_fd(h, fd, hex);
	}
	close(fd);
	return r;
}
