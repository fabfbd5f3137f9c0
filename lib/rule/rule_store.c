/*
 * rule_store.c — the rules directory: one file per persistent rule, saved
 * atomically, loaded so that one bad file costs one rule.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathtrust.h"
#include "rule/internal.h"

/* The exact bytes of a rule file: 2-space indent, fixed key order, "\n". */
static char *rule_text(const struct ag_rule *r, size_t *len)
{
	json_t *o = ag_rule_to_json(r, 0);
	char *s, *t;
	size_t n;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*len = n + 1;
	return t;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Some file systems cannot fsync a directory; that is no reason to fail. */
static int sync_dir(int dfd)
{
	if (fsync(dfd) == -1 && errno != EINVAL && errno != EROFS)
		return -errno;
	return 0;
}

int ag_rule_save(const char *dir, const struct ag_rule *rule, unsigned flags)
{
	char tmp[AG_RULE_ID_MAX + 16], final[AG_RULE_ID_MAX + 8];
	struct ag_rule *check = NULL;
	int dfd = -1, fd = -1, ret;
	char *text = NULL;
	size_t len = 0;
	bool made = false;

	if (!ag_rule_id_valid(rule->id) || rule->lifetime != AG_RULE_ALWAYS)
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), ".%s.json.tmp", rule->id);
	snprintf(final, sizeof(final), "%s.json", rule->id);
	text = rule_text(rule, &len);
	if (!text)
		return errno == EILSEQ ? -EINVAL : -ENOMEM;
	/* Never write a file that the next start would refuse. */
	check = malloc(sizeof(*check));
	if (!check) {
		ret = -ENOMEM;
		goto out;
	}
	ag_rule_init(check);
	ret = ag_rule_parse(final, text, len, check, NULL, 0);
	if (ret < 0 || !ag_rule_equal(check, rule)) {
		ret = ret == -ENOMEM ? ret : -EINVAL;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		ret = -errno;
		goto out;
	}
	/* O_TRUNC, not O_EXCL: a temp file left by a crash must not block
	 * saving forever; O_NOFOLLOW: never write through a planted link. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		ret = -errno;
		goto out;
	}
	made = true;
	if (fchmod(fd, 0644) == -1) {	/* whatever the umask was */
		ret = -errno;
		goto out;
	}
	ret = write_all(fd, text, len);
	if (ret < 0)
		goto out;
	if (fsync(fd) == -1) {
		ret = -errno;
		goto out;
	}
	ret = close(fd);
	fd = -1;
	if (ret == -1) {
		ret = -errno;
		goto out;
	}
	if (flags & AG_RULE_SAVE_NEW) {
		ret = renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE);
		if (ret == -1 && errno == EINVAL) {
			/* No RENAME_NOREPLACE here: link() refuses to replace too. */
			ret = linkat(dfd, tmp, dfd, final, 0);
			if (ret == 0)
				unlinkat(dfd, tmp, 0);
		}
	} else {
		ret = renameat(dfd, tmp, dfd, final);
	}
	if (ret == -1) {
		ret = -errno;
		goto out;
	}
	made = false;
	ret = sync_dir(dfd);
out:
	if (fd != -1)
		close(fd);
	if (made)
		unlinkat(dfd, tmp, 0);
	if (dfd != -1)
		close(dfd);
	if (check)
		ag_rule_free(check);
	free(check);
	free(text);
	return ret;
}

int ag_rule_delete(const char *dir, const char *id)
{
	char final[AG_RULE_ID_MAX + 8];
	int dfd, ret;

	if (!ag_rule_id_valid(id))
		return -EINVAL;
	snprintf(final, sizeof(final), "%s.json", id);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -errno;
	if (unlinkat(dfd, final, 0) == -1)
		ret = -errno;
	else
		ret = sync_dir(dfd);
	close(dfd);
	return ret;
}

int ag_rule_new_id(char *buf)
{
	unsigned char r[AG_RULE_NEW_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* ---- loading a directory ------------------------------------------------ */

static bool is_rule_name(const char *name)
{
	size_t n = strlen(name);

	/* Hidden names cover our own ".<id>.json.tmp" and vim's ".x.json.swp". */
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

__attribute__((format(printf, 3, 4)))
static void ferr(struct pctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ag__rule_errv(c, path, fmt, ap);
	va_end(ap);
}

/*
 * Who may have written a rule file or the directory: root, or the user the
 * daemon runs as (the same, but for tests and checks run by others).
 * Return: NULL when trusted, else why not (for "PATH: WHY: not read").
 */
static const char *untrusted(const struct stat *st, char *buf, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(buf, len, "owned by uid %u, not by root", (unsigned)st->st_uid);
		return buf;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(buf, len, "writable by %s (mode %04o)",
			 (st->st_mode & S_IWOTH) ? "others" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return buf;
	}
	return NULL;
}

/* One file: 0 and *rule filled, or -EINVAL (reported), or -ENOMEM. */
static int load_one(struct pctx *c, int dfd, const char *path, const char *name,
		    struct ag_rule *rule)
{
	struct stat st;
	char *buf = NULL, why[96];
	size_t len;
	int fd, ret;

	/* O_NONBLOCK: opening a FIFO someone named x.json must not hang us.
	 * O_NOFOLLOW: a link to another file (/etc/shadow) is never read. */
	fd = openat(dfd, name,
		    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_NOATIME);
	/* O_NOATIME: reading 100,000 rules at start is not 100,000 inode
	 * writes; only the owner (or CAP_FOWNER) may ask for it */
	if (fd == -1 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ELOOP)
			ferr(c, path, "a symbolic link: not read (a rule file is a regular file)");
		else
			ferr(c, path, "cannot open: %s", strerror(errno));
		return -EINVAL;
	}
	if (fstat(fd, &st) == -1) {
		ferr(c, path, "cannot stat: %s", strerror(errno));
		close(fd);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		ferr(c, path, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	/* Anyone who can write a rule can allow anything. */
	if (untrusted(&st, why, sizeof(why))) {
		ferr(c, path, "%s: not read", why);
		close(fd);
		return -EINVAL;
	}
	ret = ag__read_fd_stat(fd, &st, AG_RULE_FILE_MAX, &buf, &len);
	close(fd);
	if (ret == -EFBIG) {
		ferr(c, path, "%lld bytes is more than the limit of %u bytes for a rule file; not read",
		     (long long)st.st_size, AG_RULE_FILE_MAX);
		return -EINVAL;
	}
	if (ret < 0) {
		ferr(c, path, "cannot read: %s", strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	c->file = path;
	ret = ag__rule_parse_text(c, buf, len, rule);
	free(buf);
	if (ret == 0 && ag_rule_set_source(rule, path)) {
		ag_rule_free(rule);
		ret = -ENOMEM;
	}
	return ret;
}

int ag_rules_load_dir(const char *dir, ag_rule_fn rule_cb, void *arg, char *err, size_t errlen)
{
	struct ag__errlines errs, file_errs;
	struct pctx c = { .errs = &errs };
	char **names = NULL, *path = NULL, *lines = NULL;
	size_t n = 0, cap = 0, dlen = strlen(dir);
	struct ag_rule *rule = NULL;
	struct dirent *de;
	struct stat st;
	char why[96], trust[PATH_MAX + 64];
	bool bad = false;
	int ret = 0, dfd;
	DIR *d;

	ag__errlines_init(&errs, err, errlen);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		ret = -errno;
		ferr(&c, dir, "cannot open the rules directory: %s", strerror(-ret));
		return ret;
	}
	/* Whoever may add or replace a file there may write rules. */
	if (fstat(dfd, &st) == -1) {
		ret = -errno;
		ferr(&c, dir, "cannot stat the rules directory: %s", strerror(-ret));
		close(dfd);
		return ret;
	}
	if (untrusted(&st, why, sizeof(why))) {
		ferr(&c, dir, "the rules directory is %s: no rule read from it", why);
		close(dfd);
		return -EPERM;
	}
	/* ... and so may whoever may rename the directory or one above it */
	if (ag_path_trusted(dir, trust, sizeof(trust)) == -EPERM) {
		ferr(&c, dir, "%s: no rule read from it", trust);
		close(dfd);
		return -EPERM;
	}
	d = fdopendir(dfd);
	if (!d) {
		ret = -errno;
		ferr(&c, dir, "cannot open the rules directory: %s", strerror(-ret));
		close(dfd);
		return ret;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				ret = -errno;
				ferr(&c, dir, "cannot read the rules directory: %s", strerror(-ret));
				goto out;
			}
			break;
		}
		if (!is_rule_name(de->d_name))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));

			if (!nn)
				goto nomem;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto nomem;
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	c.siblings = names;
	c.nsiblings = n;
	rule = malloc(sizeof(*rule));
	if (rule)
		ag_rule_init(rule);
	path = malloc(dlen + 256 + 2);
	lines = malloc(AG_RULE_ERR_MAX);
	if (!rule || !path || !lines)
		goto nomem;
	while (dlen > 0 && dir[dlen - 1] == '/')
		dlen--;	/* "/etc/rules.d/" and "/" make clean paths too */
	for (size_t i = 0; i < n; i++) {
		int r, r2;

		snprintf(path, dlen + 256 + 2, "%.*s/%s", (int)dlen, dir, names[i]);
		c.nerr = 0;
		c.nomem = false;
		/* Without a callback, the caller's buffer gets every error. */
		if (rule_cb) {
			c.errs = &file_errs;
			ag__errlines_init(&file_errs, lines, AG_RULE_ERR_MAX);
		}
		r = load_one(&c, dirfd(d), path, names[i], rule);
		c.errs = &errs;
		if (r == -ENOMEM)
			goto nomem;
		if (r < 0)
			bad = true;
		r2 = rule_cb ? rule_cb(arg, r < 0 ? NULL : rule, r < 0 ? lines : NULL) : 0;
		if (r == 0)
			ag_rule_free(rule);
		r = r2;
		if (r < 0) {
			ret = r;
			goto out;
		}
	}
	ret = bad ? -EINVAL : 0;
	goto out;
nomem:
	ferr(&c, dir, "out of memory while loading rules");
	ret = -ENOMEM;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rule);
	free(path);
	free(lines);
	closedir(d);
	return ret;
}

