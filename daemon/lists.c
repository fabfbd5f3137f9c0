/*
 * daemon/lists.c — list files shared by rules, read again when they change
 * (lists.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/capability.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/err.h"
#include "daemon/alegated.h"
#include "daemon/lists.h"
#include "daemon/log.h"
#include "daemon/privs.h"
#include "linux/fastpath.h"
#include "rule/list.h"

struct agd_list {
	char *path;		/* absolute, as the rule has it */
	const char *base;	/* its last component, inside path */
	enum ag_list_kind kind;
	unsigned refs;		/* rules, plus one while the reader has it, one while
				 * a reload holds it, one per rule waiting for it */
	void *set;		/* struct ag_nameset / ag_prefixset; never NULL */
	int wd;			/* inotify watch of its directory, -1 */
	bool reading;		/* queued for the reader or being read */
	bool again;		/* changed again meanwhile: read once more after */
	bool held;		/* a reload holds a reference */
	uint64_t read_ms;	/* wall clock of the last good read, 0 never */
	char *error;		/* why the last read failed, NULL when it did not */
};

/*
 * The reader: one thread reads list files, one at a time, so a big file
 * never holds up the loop.  Jobs go in through q, come back through done
 * and an eventfd; the loop swaps the new set in.
 */
struct list_job {
	struct list_job *next;
	struct agd_list *l;	/* the loop's; the reader only uses the copies */
	char *path;
	enum ag_list_kind kind;
	void *set;		/* the result, or NULL */
	size_t bad;
	int r;
	uint64_t ms;
	char *log;		/* the bad lines, '\n'-separated, logged by the loop */
	size_t loglen;
	char err[512];
};

struct agd_lists {
	struct agd_list **v;
	size_t n, cap;
	agd_list_read_fn read_again;	/* a list in force read anew: its rules refreshed */
	int ifd;		/* inotify, -1 without */
	int efd;		/* eventfd: the reader finished a job, -1 without */
	pthread_t thread;
	bool thread_on, stop, started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct list_job *q, **qtail;	/* to read, in order */
	struct list_job *done;		/* read, any order */
	struct list_waiter *waiters;	/* rules waiting for their lists */
};

/* A rule given over the control socket, waiting for a list no rule had. */
struct list_waiter {
	struct list_waiter *next;
	struct agd_list *l[2];		/* held */
	agd_lists_done_fn done;
	void (*drop)(void *arg);
	void *arg;
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

size_t agd_list_conditions(struct agd_list *const l[2], ag_condition *c)
{
	size_t n = 0;

	if (l[0]) {
		c[n].field = AG_FIELD_REMOTE_HOST;
		c[n].match = AG_MATCH_SET;
		c[n].v.set.set = l[0];
		c[n++].v.set.contains = host_in;
	}
	if (l[1]) {
		c[n].field = AG_FIELD_REMOTE_ADDR;
		c[n].match = AG_MATCH_SET;
		c[n].v.set.set = l[1];
		c[n++].v.set.contains = addr_in;
	}
	return n;
}

bool agd_list_names(const struct agd_list *hosts, const char *name)
{
	return hosts && ag_nameset_match(hosts->set, name);
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

static size_t list_count(const struct agd_list *l)
{
	return l->kind == AG_LIST_HOSTS ? ag_nameset_count(l->set) : ag_prefixset_count(l->set);
}

/*
 * The outcome of a read of l: a new set swaps in; on failure the old set
 * stays (the last good version keeps working while the file is missing,
 * unreadable or being replaced) and the error is kept for `status`.
 */
static void list_result(struct agd_list *l, int r, void *set, size_t bad, const char *err,
			uint64_t ms)
{
	if (r < 0) {
		if (l->read_ms)
			log_err("list %s; the last good version (%zu %s) stays in force", err,
				list_count(l), l->kind == AG_LIST_HOSTS ? "names" : "prefixes");
		else
			log_err("list %s", err);
		free(l->error);
		l->error = strdup(err);
		return;
	}
	ag_list_free(l->kind, l->set);
	l->set = set;
	l->read_ms = ag_wall_ms();
	free(l->error);
	l->error = NULL;
	log_info("list %s: %zu %s (%zu bad lines skipped), read in %llu ms", l->path,
		 list_count(l), l->kind == AG_LIST_HOSTS ? "names" : "prefixes", bad,
		 (unsigned long long)ms);
}

/* Read l's file on the loop (a list no rule had yet).  Return: 0 or -errno. */
static int list_read(struct agd_list *l, char *err, size_t errlen)
{
	uint64_t t0 = ag_boot_ns();
	void *set = NULL;
	size_t bad = 0;
	int r;

	r = ag_list_load(l->path, l->kind, &set, &bad, log_bad_line, NULL, err, errlen);
	list_result(l, r, set, bad, err, (ag_boot_ns() - t0) / 1000000);
	return r;
}

/* ---- the reader thread ---------------------------------------------------------- */

static void job_line(void *arg, const char *line)
{
	struct list_job *j = arg;
	size_t n = strlen(line);
	char *p = realloc(j->log, j->loglen + n + 2);

	if (!p)
		return;
	j->log = p;
	memcpy(p + j->loglen, line, n);
	j->loglen += n;
	p[j->loglen++] = '\n';
	p[j->loglen] = 0;
}

static void *reader(void *arg)
{
	struct agd_lists *ls = arg;
	/* This thread only reads files: it keeps DAC_READ_SEARCH (lists the
	 * loop could read before) and gives up every other capability now,
	 * before the loop drops its own (capabilities are per thread). */
	agd_privs_thread_limit(1u << CAP_DAC_READ_SEARCH, "list reader");
	prctl(PR_SET_NAME, "alegated-lists", 0, 0, 0);

	pthread_mutex_lock(&ls->mu);
	ls->started = true;
	pthread_cond_broadcast(&ls->cv);
	while (!ls->stop) {
		struct list_job *j = ls->q;

		if (!j) {
			pthread_cond_wait(&ls->cv, &ls->mu);
			continue;
		}
		ls->q = j->next;
		if (!ls->q)
			ls->qtail = &ls->q;
		pthread_mutex_unlock(&ls->mu);

		uint64_t t0 = ag_boot_ns();

		j->r = ag_list_load(j->path, j->kind, &j->set, &j->bad, job_line, j, j->err,
				    sizeof(j->err));
		j->ms = (ag_boot_ns() - t0) / 1000000;

		uint64_t one = 1;

		pthread_mutex_lock(&ls->mu);
		j->next = ls->done;
		ls->done = j;
		/* a full counter means the loop has yet to read it: nothing lost */
		if (write(ls->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&ls->mu);
	return NULL;
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
	free(l->error);
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
	struct agd_list *l;
	int r;

	if (!d->lists) {
		/* agd_lists_open() failed or was never called: no rule may
		 * name a list it cannot have */
		ag_seterr(err, errlen, "%s", "lists are not available in this daemon (see the log)");
		return -ENOTSUP;
	}
	l = find(d, path, kind);
	if (!l) {
		/* a file no rule named yet: read here, so the rule never
		 * works on an empty list it should not have */
		if (!(l = list_new(d, path, kind))) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		r = list_read(l, err, errlen);
		if (r < 0 && strict) {
			l->refs = 1;
			list_put(d, l);
			return r;
		}
		watch(d, l);
	} else if (strict && !l->read_ms && !l->reading) {
		/* read ahead for this rule (agd_lists_prefetch), and unreadable */
		snprintf(err, errlen, "%s", l->error ? l->error : "the list was not read");
		return -EIO;
	}
	l->refs++;
	*out = l;
	return 0;
}

/* Hold the list of @path, made and watched but not read when new; NULL without memory. */
static struct agd_list *prefetch_one(struct agd *d, const char *path, enum ag_list_kind kind,
				     bool *fresh)
{
	struct agd_list *l = find(d, path, kind);

	if (!l) {
		if (!(l = list_new(d, path, kind)))
			return NULL;
		watch(d, l);
		*fresh = true;
	}
	l->refs++;
	return l;
}

static void list_changed(struct agd *d, struct agd_list *l);

int agd_lists_prefetch(struct agd *d, const struct ag_rule *rule, agd_lists_done_fn done,
		       void (*drop)(void *arg), void *arg)
{
	struct agd_lists *ls = d->lists;
	struct list_waiter *w;
	bool fresh = false;

	if (!ls || !ls->thread_on ||
	    !(rule->has & (AG_RULE_HAS_HOST_LIST | AG_RULE_HAS_REMOTE_LIST)))
		return 0;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	if (rule->has & AG_RULE_HAS_HOST_LIST)
		w->l[0] = prefetch_one(d, rule->host_list, AG_LIST_HOSTS, &fresh);
	if (rule->has & AG_RULE_HAS_REMOTE_LIST)
		w->l[1] = prefetch_one(d, rule->remote_list, AG_LIST_ADDRS, &fresh);
	for (int i = 0; i < 2; i++)
		if (w->l[i] && !w->l[i]->read_ms && !w->l[i]->reading)
			list_changed(d, w->l[i]);
	if (!fresh && !(w->l[0] && w->l[0]->reading) && !(w->l[1] && w->l[1]->reading)) {
		for (int i = 0; i < 2; i++)
			list_put(d, w->l[i]);
		free(w);
		return 0;	/* nothing new to read: add at once */
	}
	w->done = done;
	w->drop = drop;
	w->arg = arg;
	w->next = ls->waiters;
	ls->waiters = w;
	return 1;
}

int agd_lists_get(struct agd *d, const struct ag_rule *r, struct agd_list *out[2], bool strict,
		  char *err, size_t errlen)
{
	int ret;

	out[0] = out[1] = NULL;
	if ((r->has & AG_RULE_HAS_HOST_LIST) &&
	    (ret = list_get(d, r->host_list, AG_LIST_HOSTS, strict, &out[0], err, errlen)))
		return ret;
	if ((r->has & AG_RULE_HAS_REMOTE_LIST) &&
	    (ret = list_get(d, r->remote_list, AG_LIST_ADDRS, strict, &out[1], err, errlen))) {
		list_put(d, out[0]);
		out[0] = NULL;
		return ret;
	}
	return 0;
}

void agd_lists_put(struct agd *d, struct agd_list *l[2])
{
	for (int i = 0; i < 2; i++) {
		list_put(d, l[i]);
		l[i] = NULL;
	}
}

/* ---- changes ----------------------------------------------------------------------- */

/*
 * Read l again, on the reader thread: the loop goes on with the set it
 * has.  A change while l is queued or being read is one more read after
 * (a list updater writing a file five times costs two reads, not five).
 */
static void list_changed(struct agd *d, struct agd_list *l)
{
	struct agd_lists *ls = d->lists;
	char err[512];

	if (l->reading) {
		l->again = true;
		return;
	}
	if (!ls->thread_on) {
		if (list_read(l, err, sizeof(err)) == 0)
			ls->read_again(d, l);
		return;
	}
	struct list_job *j = calloc(1, sizeof(*j));

	if (!j || !(j->path = strdup(l->path))) {
		free(j);
		log_err("list %s: out of memory; not read again", l->path);
		return;
	}
	j->l = l;
	j->kind = l->kind;
	l->reading = true;
	l->refs++;		/* l stays until the job is back */
	pthread_mutex_lock(&ls->mu);
	*ls->qtail = j;
	ls->qtail = &j->next;
	pthread_cond_signal(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
}

/* The reader's eventfd is readable: swap in what it read. */
void agd_lists_read_done(struct agd *d)
{
	struct agd_lists *ls = d->lists;
	struct list_job *j;
	uint64_t n;

	if (read(ls->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("list reader eventfd: %s", strerror(errno));
	pthread_mutex_lock(&ls->mu);
	j = ls->done;
	ls->done = NULL;
	pthread_mutex_unlock(&ls->mu);
	while (j) {
		struct list_job *next = j->next;
		struct agd_list *l = j->l;

		for (char *line = j->log, *nl; line && *line; line = nl + 1) {
			nl = strchr(line, '\n');
			*nl = 0;
			log_warn("%s", line);
		}
		l->reading = false;
		list_result(l, j->r, j->set, j->bad, j->err, j->ms);
		/* a list only the reader still held is gone now: no rule to refresh */
		if (l->refs > 1) {
			if (j->r == 0)
				ls->read_again(d, l);
			if (l->again) {
				l->again = false;
				list_changed(d, l);
			}
		}
		list_put(d, l);
		free(j->log);
		free(j->path);
		free(j);
		j = next;
	}
	/* rules whose lists are read now: on with adding them */
	for (struct list_waiter **pw = &ls->waiters, *w; (w = *pw);) {
		if ((w->l[0] && w->l[0]->reading) || (w->l[1] && w->l[1]->reading)) {
			pw = &w->next;
			continue;
		}
		*pw = w->next;
		w->done(d, w->arg);
		for (int i = 0; i < 2; i++)
			list_put(d, w->l[i]);
		free(w);
		pw = &ls->waiters;	/* done() may have added or removed waiters */
	}
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

/*
 * A reload frees the rules and reads their files again: each list is held
 * across it, so rules that still name it find it with its set (no empty
 * list meanwhile, and the last good version stays if the file is gone).
 */
void agd_lists_reload_begin(struct agd *d)
{
	if (!d->lists)
		return;
	for (size_t i = 0; i < d->lists->n; i++) {
		d->lists->v[i]->refs++;
		d->lists->v[i]->held = true;
	}
}

void agd_lists_reload_end(struct agd *d)
{
	struct agd_lists *ls = d->lists;

	if (!ls)
		return;
	for (size_t i = 0; i < ls->n;) {
		struct agd_list *l = ls->v[i];

		if (!l->held) {
			i++;
			continue;
		}
		l->held = false;
		if (l->refs > 1) {
			list_changed(d, l);
			list_put(d, l);
			i++;
		} else {
			list_put(d, l);	/* no rule names it now; v[i] is another one */
		}
	}
}

json_t *agd_lists_status_json(struct agd *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && d->lists && i < d->lists->n; i++) {
		const struct agd_list *l = d->lists->v[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:b, s:s?}", "path", l->path,
						   "kind", l->kind == AG_LIST_HOSTS ? "hosts" : "addresses",
						   "entries", (json_int_t)list_count(l),
						   "read_ms", (json_int_t)l->read_ms,
						   "reading", l->reading, "error", l->error));
	}
	return a;
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

int agd_lists_open(struct agd *d, agd_list_read_fn read_again)
{
	struct agd_lists *ls = calloc(1, sizeof(*ls));
	int r = 0;

	if (!ls)
		return -ENOMEM;
	d->lists = ls;
	ls->read_again = read_again;
	ls->qtail = &ls->q;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	/* without the reader, lists are read on the loop, as they always can be */
	ls->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ls->efd == -1 ||
	    agd_loop_add(d, ls->efd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_LISTREAD) ||
	    (r = pthread_create(&ls->thread, NULL, reader, ls))) {
		log_warn("list reader thread: %s; lists are read on the main loop",
			 strerror(ls->efd == -1 || !r ? errno : r));
		if (ls->efd >= 0)
			close(ls->efd);
		ls->efd = -1;
	} else {
		ls->thread_on = true;
		pthread_mutex_lock(&ls->mu);
		while (!ls->started)	/* its capabilities are down before we go on */
			pthread_cond_wait(&ls->cv, &ls->mu);
		pthread_mutex_unlock(&ls->mu);
	}
	ls->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ls->ifd == -1) {
		log_warn("inotify for list files: %s; lists are read again only at reload",
			 strerror(errno));
		return 0;
	}
	if (agd_loop_add(d, ls->ifd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_LISTS)) {
		close(ls->ifd);
		ls->ifd = -1;
	}
	return 0;
}

void agd_lists_close(struct agd *d)
{
	struct agd_lists *ls = d->lists;

	if (!ls)
		return;
	if (ls->thread_on) {
		pthread_mutex_lock(&ls->mu);
		ls->stop = true;
		pthread_cond_signal(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		pthread_join(ls->thread, NULL);	/* at most one file's read */
	}
	for (struct list_job *j = ls->q, *next; j; j = next) {
		next = j->next;
		free(j->path);
		free(j);
	}
	for (struct list_job *j = ls->done, *next; j; j = next) {
		next = j->next;
		if (j->r == 0)
			ag_list_free(j->kind, j->set);
		free(j->log);
		free(j->path);
		free(j);
	}
	for (struct list_waiter *w = ls->waiters, *next; w; w = next) {
		next = w->next;
		w->drop(w->arg);
		free(w);
	}
	for (size_t i = 0; i < ls->n; i++)
		list_free(ls->v[i]);
	free(ls->v);
	if (ls->ifd >= 0)
		close(ls->ifd);
	if (ls->efd >= 0)
		close(ls->efd);
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cv);
	free(ls);
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
