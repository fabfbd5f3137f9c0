/*
 * proc_parse.c — reading /proc/PID files and parsing their text (the
 * parsers are exposed to the unit tests through proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "linux/proc_internal.h"

ssize_t ag__proc_read_at(int dfd, const char *name, char *buf, size_t size)
{
	size_t got = 0;
	int fd, err;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return (ssize_t)got;
}

/* The kernel's dev_t, as i_sb->s_dev holds it and the exec monitor reports. */
static uint32_t kernel_dev(dev_t d)
{
	return (uint32_t)((major(d) << 20) | (minor(d) & 0xfffff));
}

/*
 * The executable's name and identity from the "exe" link @name under
 * @dfd: readlink gives the name, stat through the link the file.  The
 * identity is believed only if a stat before and one after the readlink
 * agree (an exec in between would pair one file's name with another's
 * identity).  Return: the name's length, or -errno; *@have_id says whether
 * *@dev and *@ino were set.
 */
ssize_t ag__proc_read_exe(int dfd, const char *name, char *exe, size_t size,
			uint32_t *dev, uint64_t *ino, bool *have_id)
{
	/* DONT_SYNC: a file on FUSE answers from its cache; asking its
	 * server would let whoever runs it stall us. */
	const int flags = AT_STATX_DONT_SYNC;
	struct statx a, b;
	bool before = statx(dfd, name, flags, STATX_INO, &a) == 0;
	ssize_t n = readlinkat(dfd, name, exe, size - 1);

	*have_id = false;
	if (n == -1)
		return -errno;
	exe[n] = '\0';
	if (before && statx(dfd, name, flags, STATX_INO, &b) == 0 &&
	    a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor &&
	    a.stx_ino == b.stx_ino) {
		*dev = kernel_dev(makedev(a.stx_dev_major, a.stx_dev_minor));
		*ino = (uint64_t)a.stx_ino;
		*have_id = true;
	}
	return n;
}

bool ag__proc_parse_u64(const char *s, const char *end, uint64_t *v,
		      const char **stop)
{
	uint64_t x = 0;
	const char *q = s;

	while (q < end && *q >= '0' && *q <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*q - '0');
		q++;
	}
	if (q == s)
		return false;
	*v = x;
	if (stop)
		*stop = q;
	return true;
}

/* ---- parsers (exposed for unit tests) ------------------------------------ */

int ag__proc_parse_stat(const char *buf, size_t len, char *comm,
			size_t commlen, pid_t *ppid, unsigned *kflags,
			uint64_t *start_time)
{
	const char *end = buf + len, *open, *s = NULL, *q;
	uint64_t v;
	int field = 3;

	/* comm is free text: it runs from the first '(' to the last ')'. */
	open = memchr(buf, '(', len);
	for (q = buf; q < end; q++)
		if (*q == ')')
			s = q;
	if (!open || !s || s < open || s + 2 >= end || s[1] != ' ')
		return -EBADMSG;
	if (commlen) {
		size_t n = (size_t)(s - open - 1);

		if (n >= commlen)
			n = commlen - 1;
		memcpy(comm, open + 1, n);
		comm[n] = '\0';
	}
	s += 2;
	while (s < end && field <= 22) {
		q = memchr(s, ' ', (size_t)(end - s));
		if (!q)
			q = end;
		if (field == 4 || field == 9 || field == 22) {
			const char *stop;

			if (!ag__proc_parse_u64(s, q, &v, &stop) || stop != q)
				return -EBADMSG;
			if (field == 4) {
				if (v > INT32_MAX)
					return -EBADMSG;
				*ppid = (pid_t)v;
			} else if (field == 9) {
				*kflags = (unsigned)v;
			} else {
				*start_time = v;
				return 0;
			}
		}
		s = q + 1;
		field++;
	}
	return -EBADMSG;
}

int ag__proc_parse_uids(const char *buf, size_t len, uint32_t *uid,
			uint32_t *euid)
{
	const char *end = buf + len, *s = buf;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl)
			nl = end;
		if (nl - s > 4 && memcmp(s, "Uid:", 4) == 0) {
			uint64_t r, e;
			const char *q = s + 4;

			while (q < nl && (*q == '\t' || *q == ' '))
				q++;
			if (!ag__proc_parse_u64(q, nl, &r, &q))
				return -EBADMSG;
			while (q < nl && (*q == '\t' || *q == ' '))
				q++;
			if (!ag__proc_parse_u64(q, nl, &e, NULL))
				return -EBADMSG;
			if (r > UINT32_MAX || e > UINT32_MAX)
				return -EBADMSG;
			*uid = (uint32_t)r;
			*euid = (uint32_t)e;
			return 0;
		}
		s = nl + 1;
	}
	return -EBADMSG;
}

/* An argument a shell reads back as it is, without quotes. */
static int arg_plain(const char *a, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr("_@%+=:,./-", c)) || c >= 0x80))
			return 0;
	}
	return 1;
}

/*
 * Join the NUL-separated arguments with spaces, each one that a shell
 * would split or expand in single quotes ('it'\''s'): "sh -c 'a b'" is
 * one argument after -c, not two.
 */
int ag__proc_join_cmdline(const char *buf, size_t len, char *out,
			  size_t outlen)
{
	size_t n = 0, i = 0;

	if (outlen == 0)
		return len > 0;
	/* Trailing NULs end the last argument; they are not separators. */
	while (len > 0 && buf[len - 1] == '\0')
		len--;
#define PUT(ch) do { if (n + 1 >= outlen) goto cut; out[n++] = (ch); } while (0)
	while (i < len) {
		const char *a = buf + i;
		const char *end = memchr(a, '\0', len - i);
		size_t alen = end ? (size_t)(end - a) : len - i;

		if (i)
			PUT(' ');
		if (arg_plain(a, alen)) {
			for (size_t k = 0; k < alen; k++)
				PUT(a[k]);
		} else {
			PUT('\'');
			for (size_t k = 0; k < alen; k++) {
				if (a[k] == '\'') {
					PUT('\'');
					PUT('\\');
					PUT('\'');
				}
				PUT(a[k]);
			}
			PUT('\'');
		}
		i += alen + 1;
	}
#undef PUT
	out[n] = '\0';
	return 0;
cut:
	out[n] = '\0';
	return 1;
}

int ag__proc_strip_deleted(char *path)
{
	static const char sfx[] = " (deleted)";
	size_t n = strlen(path), k = sizeof(sfx) - 1;

	if (n > k && memcmp(path + n - k, sfx, k) == 0) {
		path[n - k] = '\0';
		return 1;
	}
	return 0;
}
