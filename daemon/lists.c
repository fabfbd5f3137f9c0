/*
 * daemon/lists.c — list files shared by rules, read again when they change
 * (lists.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/lists.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "daemon/fastpath_sync.h"
#include "linux/fastpath.h"
#include "rule/list.h"

struct agd_list {
	char *path;		/* absolute, as the rule has it */
	const char *base;	/* its last component, inside path */
	enum ag_list_kind kind;
	unsigned refs;
	void *set;		/* struct ag_nameset / ag_prefixset; never NULL */
	unsigned gen;		/* agd_lists.gen when last read */
	int wd;			/* inotify watch of its directory, -1 */
};

struct agd_lists {
	struct agd_list **v;
	size_t n, cap;
	int ifd;		/* inotify, -1 without */
	unsigned gen;		/* bumped by a reload */
};

/* ---- the engine's view: "the flow's value is in the list" ------------------------ */

static bool host_in(const void *set, const ag_fixed_values *in)
{
	const struct agd_list *l = set;

	return in->remote_host && ag_nameset_match(l->set, in->remote_host);
}

static bool addr_in(const void *set, const ag_fixed_values *in)
{
	const struct agd_list *l = set;

	return ag_prefixset_match(l->set, in->ip_version, in->remote_addr.b) >= 0;
}

size_t agd_rule_list_conditions(const struct agd_rule *ar, ag_condition *c)
{
	size_t n = 0;

	if (ar->lists[0]) {
		c[n].field = AG_FIELD_REMOTE_HOST;
		c[n].match = AG_MATCH_SET;
		c[n].v.set.set = ar->lists[0];
		c[n++].v.set.contains = host_in;
	}
	if (ar->lists[1]) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_SET;
		c[n].v.set.set = ar->lists[1];
		c[n++].v.set.contains = addr_in;
	}
	return n;
}

bool agd_rule_list_names(const struct agd_rule *ar, const char *name)
{
	return ar->lists[0] && ag_nameset_match(ar->lists[0]->set, name);
}

bool agd_list_cond_is_hosts(const ag_condition *cond)
{
	return cond->match == AG_MATCH_SET && cond->v.set.contains == host_in;
}

bool agd_list_cond_names(const ag_condition *cond, const char *name)
{
	const struct agd_list *l = cond->v.set.set;

	return agd_list_cond_is_hosts(cond) && ag_nameset_match(l->set, name);
}

/* ---- reading --------------------------------------------------------------------- */

static void log_bad_line(void *arg, const char *line)
{
	log_warn("%s", line);
}

/*
 * Read l's file into a new set and swap it in.  On failure the old set
 * stays (a list being replaced keeps working until its new version is
 * readable).  Return: 0 or -errno, with why in err.
 */
static int list_read(struct agd *d, struct agd_list *l, char *err, size_t errlen)
{
	uint64_t t0 = ag_boot_ns();
	void *set;
	size_t bad;
	int r;

	r = ag_list_load(l->path, l->kind, &set, &bad, log_bad_line, NULL, err, errlen);
	l->gen = d->lists->gen;
	if (r < 0) {
		log_err("list %s", err);
		return r;
	}
	ag_list_free(l->kind, l->set);
	l->set = set;
	log_info("list %s: %zu %s (%zu bad lines skipped), read in %llu ms", l->path,
		 l->kind == AG_LIST_HOSTS ? ag_nameset_count(set) : ag_prefixset_count(set),
		 l->kind == AG_LIST_HOSTS ? "names" : "prefixes", bad,
		 (unsigned long long)((ag_boot_ns() - t0) / 1000000));
	return 0;
}

static void watch(struct agd *d, struct agd_list *l)
{
	char dir[PATH_MAX];
	size_t n = (size_t)(l->base - l->path);

	if (d->lists->ifd < 0 || n >= sizeof(dir))
		return;
	memcpy(dir, l->path, n);
	dir[n > 1 ? n - 1 : n] = 0;	/* "/a/b/" -> "/a/b", "/" stays */
	l->wd = inotify_add_watch(d->lists->ifd, dir,
				  IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
	if (l->wd == -1)
		log_warn("list %s: cannot watch %s (%s): changes apply at reload", l->path, dir,
			 strerror(errno));
}

static struct agd_list *find(struct agd *d, const char *path, enum ag_list_kind kind)
{
	for (size_t i = 0; i < d->lists->n; i++)
		if (d->lists->v[i]->kind == kind && !strcmp(d->lists->v[i]->path, path))
			return d->lists->v[i];
	return NULL;
}

static struct agd_list *list_new(struct agd *d, const char *path, enum ag_list_kind kind)
{
	struct agd_lists *ls = d->lists;
	struct agd_list *l;

	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		void *v = realloc(ls->v, cap * sizeof(*ls->v));

		if (!v)
			return NULL;
		ls->v = v;
		ls->cap = cap;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(path)))
		goto fail;
	l->base = strrchr(l->path, '/') + 1;
	l->kind = kind;
	l->wd = -1;
	l->set = kind == AG_LIST_HOSTS ? (void *)ag_nameset_new() : (void *)ag_prefixset_new();
	if (!l->set)
		goto fail;
	ls->v[ls->n++] = l;
	return l;
fail:
	if (l)
		free(l->path);
	free(l);
	return NULL;
}

static void list_free(struct agd_list *l)
{
	ag_list_free(l->kind, l->set);
	free(l->path);
	free(l);
}

static void list_put(struct agd *d, struct agd_list *l)
{
	struct agd_lists *ls = d->lists;

	if (!l || --l->refs)
		return;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i] == l) {
			ls->v[i] = ls->v[--ls->n];
			break;
		}
	/* the watch stays: other lists may share the directory, and inotify
	 * gives one watch per directory */
	list_free(l);
}

static int list_get(struct agd *d, const char *path, enum ag_list_kind kind, bool strict,
		    struct agd_list **out, char *err, size_t errlen)
{
	struct agd_list *l = find(d, path, kind);
	bool fresh = !l;
	int r;

	if (!l && !(l = list_new(d, path, kind))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (fresh || l->gen != d->lists->gen) {
		r = list_read(d, l, err, errlen);
		if (r < 0 && strict) {
			if (fresh) {
				l->refs = 1;
				list_put(d, l);
			}
			return r;
		}
	}
	if (fresh)
		watch(d, l);
	l->refs++;
	*out = l;
	return 0;
}

int agd_rule_lists_get(struct agd *d, struct agd_rule *ar, bool strict, char *err, size_t errlen)
{
	const struct ag_rule *r = &ar->rule;
	int ret;

	if ((r->has & AG_RULE_HAS_HOST_LIST) &&
	    (ret = list_get(d, r->host_list, AG_LIST_HOSTS, strict, &ar->lists[0], err, errlen)))
		return ret;
	if ((r->has & AG_RULE_HAS_REMOTE_LIST) &&
	    (ret = list_get(d, r->remote_list, AG_LIST_ADDRS, strict, &ar->lists[1], err,
			    errlen))) {
		list_put(d, ar->lists[0]);
		ar->lists[0] = NULL;
		return ret;
	}
	return 0;
}

void agd_rule_lists_put(struct agd *d, struct agd_rule *ar)
{
	for (int i = 0; i < 2; i++) {
		list_put(d, ar->lists[i]);
		ar->lists[i] = NULL;
	}
}

/* ---- changes ----------------------------------------------------------------------- */

/* Read l again; on success every rule naming it gets new filters. */
static void list_changed(struct agd *d, struct agd_list *l)
{
	char err[512];

	if (list_read(d, l, err, sizeof(err)) == 0)
		agd_rules_refresh_list(d, l);
}

void agd_lists_ready(struct agd *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(d->lists->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			/* every list of that name in that directory (a host
			 * list and an address list may share a file) */
			for (size_t i = 0; i < d->lists->n; i++) {
				struct agd_list *l = d->lists->v[i];

				if (l->wd == ev->wd && !strcmp(l->base, ev->name))
					list_changed(d, l);
			}
		}
	}
}

void agd_lists_reload_begin(struct agd *d)
{
	d->lists->gen++;
}

void agd_lists_reload_end(struct agd *d)
{
	for (size_t i = 0; i < d->lists->n; i++)
		if (d->lists->v[i]->gen != d->lists->gen)
			list_changed(d, d->lists->v[i]);
}

/* ---- the fast path ------------------------------------------------------------------ */

struct fp_fill {
	struct ag_fp_prefix *v;
	size_t n;
};

static int fp_one(void *arg, int ver, const uint8_t addr[16], unsigned plen)
{
	struct fp_fill *f = arg;
	struct ag_fp_prefix *p = &f->v[f->n++];

	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)ver;
	p->plen = (uint8_t)plen;
	p->addr = ag_addr_make(ver, addr);
	return 0;
}

int agd_list_fp_prefixes(void *arg, const ag_condition *cond, struct ag_fp_prefix **out, size_t *n)
{
	const struct agd_list *l = cond->v.set.set;
	struct fp_fill f = { 0 };
	size_t count;

	*out = NULL;
	*n = 0;
	if (cond->match != AG_MATCH_SET || cond->v.set.contains != addr_in)
		return -ENOENT;
	count = ag_prefixset_count(l->set);
	if (count > AGD_LIST_FP_MAX)
		return -E2BIG;
	if (!count)
		return 0;
	f.v = malloc(count * sizeof(*f.v));
	if (!f.v)
		return -ENOMEM;
	ag_prefixset_foreach(l->set, fp_one, &f);
	*out = f.v;
	*n = f.n;
	return 0;
}

/* ---- set-up -------------------------------------------------------------------------- */

int agd_lists_open(struct agd *d)
{
	d->lists = calloc(1, sizeof(*d->lists));
	if (!d->lists)
		return -ENOMEM;
	d->lists->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->lists->ifd == -1) {
		log_warn("inotify for list files: %s; lists are read again only at reload",
			 strerror(errno));
		return 0;
	}
	if (agd_loop_add(d, d->lists->ifd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_LISTS)) {
		close(d->lists->ifd);
		d->lists->ifd = -1;
	}
	return 0;
}

void agd_lists_close(struct agd *d)
{
	if (!d->lists)
		return;
	for (size_t i = 0; i < d->lists->n; i++)
		list_free(d->lists->v[i]);
	free(d->lists->v);
	if (d->lists->ifd >= 0)
		close(d->lists->ifd);
	free(d->lists);
	d->lists = NULL;
}

/* ---- alegated -n --------------------------------------------------------------------- */

struct check_ctx {
	int files;
};

static void print_line(void *arg, const char *line)
{
	bool *bad = arg;

	*bad = true;
	fprintf(stderr, "%s\n", line);
}

static void check_one(struct check_ctx *c, const char *path, enum ag_list_kind kind)
{
	char why[512];
	void *set;
	size_t nbad;
	bool bad = false;

	if (ag_list_load(path, kind, &set, &nbad, print_line, &bad, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s\n", why);
		c->files++;
		return;
	}
	ag_list_free(kind, set);
	c->files += bad;
}

static int check_rule(void *arg, const struct ag_rule *rule, const char *err)
{
	struct check_ctx *c = arg;

	if (!rule)
		return 0;	/* the rules' own check reports it */
	if (rule->has & AG_RULE_HAS_HOST_LIST)
		check_one(c, rule->host_list, AG_LIST_HOSTS);
	if (rule->has & AG_RULE_HAS_REMOTE_LIST)
		check_one(c, rule->remote_list, AG_LIST_ADDRS);
	return 0;
}

int agd_lists_check(const char *rules_dir)
{
	struct check_ctx c = { 0 };
	char err[256];

	ag_rules_load_dir(rules_dir, check_rule, &c, err, sizeof(err));
	return c.files;
}
