/*
 * daemon/history.c — every decided connection, kept in SQLite.
 *
 * The loop never touches the database file for a write: a decision or the
 * end of a flow becomes a record in a bounded queue (one allocation per new
 * flow, none per packet), and a writer thread moves the queue into the
 * database in one transaction at least every AGD_HISTORY_COMMIT_MS.  WAL
 * with synchronous = NORMAL: a commit is in the file when the transaction
 * ends, so a process killed with SIGKILL loses only what was still queued.
 * The same thread writes the structured log records (event_log), so a slow
 * journald never stalls the data plane either.
 *
 * Queries (`history`, `traffic`) run on query threads, each with its own
 * read-only connection (WAL lets them read while the writer writes): a
 * month of rows takes a second or two to sum, and the loop decides
 * connections meanwhile.  The answer comes back through an eventfd the
 * loop waits on.  Queries waiting or running are bounded; past the bound
 * a request is refused at once rather than queued without end.
 *
 * One row per connection; its flow handle is kept only while it is open, so
 * the row of a flow that ends is found through a partial index that holds
 * open rows only.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <sqlite3.h>
#include <systemd/sd-journal.h>

#include "base/err.h"
#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/privs.h"
#include "daemon/history.h"
#include "daemon/history_internal.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "net/packet.h"

#define AGD_HISTORY_FILE "history.db"
/* Longest a queued record waits for its transaction. */
#define AGD_HISTORY_COMMIT_MS 250
/* Records waiting at most; more are dropped and counted, never waited for. */
#define AGD_HISTORY_QUEUE_MAX 131072
/* How often retention runs, in commits. */
#define AGD_HISTORY_TRIM_EVERY 240

enum hkind { H_NEW, H_END };

/* What the loop queues: raw values, formatted by the writer (the loop's
 * share of a connection is a copy, one allocation and a lock). */
struct hrec {
	enum hkind kind;
	uint64_t flow;
	int64_t time_ms;
	uint64_t bytes_in, bytes_out;	/* H_END, or H_NEW once ended */
	int64_t end_ms;		/* H_NEW: > 0 once ended (fold_ends) */
	bool folded;		/* H_END: written with its H_NEW */
	int64_t pid, uid;	/* -1: unknown */
	const char *action, *decided;	/* static strings */
	uint8_t ip_version, protocol, direction;
	bool no_local;
	ag_addr local_addr, remote_addr;
	uint16_t local_port, remote_port;
	char rule[AG_RULE_ID_MAX + 1];
	char *exe, *host;	/* in mem, may be NULL */
	void *mem;		/* owned */
};

/* The text of a record, as the database and the log keep it. */
struct htext {
	char proto[8], direction[4];
	char local[AG_ADDR_STRLEN + 10], remote[AG_ADDR_STRLEN + 10];
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS conn("
	" id INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL, exe TEXT, pid INTEGER, uid INTEGER,"
	" proto TEXT, direction TEXT, local TEXT, remote TEXT, host TEXT,"
	" action TEXT, rule TEXT, decided TEXT,"
	" end_ms INTEGER, bytes_in INTEGER, bytes_out INTEGER, flow INTEGER);"
	/* covers traffic (no row is read) and serves history by time */
	"CREATE INDEX IF NOT EXISTS conn_time_exe ON conn(time_ms, exe, bytes_in, bytes_out);"
	"CREATE INDEX IF NOT EXISTS conn_open ON conn(flow) WHERE flow IS NOT NULL;"
	/* flows of an earlier run: this daemon will never see them end */
	"UPDATE conn SET flow = NULL WHERE flow IS NOT NULL;";

static void rec_free(struct hrec *r)
{
	free(r->mem);
}

static void endpoint(char *buf, size_t len, int ver, const uint8_t *addr, uint16_t port)
{
	char a[AG_ADDR_STRLEN];

	if (ag_addr_format(ver, addr, a, sizeof(a)) < 0)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, ver == 6 ? "[%s]:%u" : "%s:%u", a, port);
}

static const char *proto_word(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case AG_IPPROTO_TCP:
		return "tcp";
	case AG_IPPROTO_UDP:
		return "udp";
	case AG_IPPROTO_ICMP:
		return "icmp";
	case AG_IPPROTO_ICMPV6:
		return "icmpv6";
	}
	snprintf(buf, len, "%u", p);
	return buf;
}

static void rec_text(const struct hrec *r, struct htext *t)
{
	char pb[8];

	snprintf(t->proto, sizeof(t->proto), "%s", proto_word(r->protocol, pb, sizeof(pb)));
	snprintf(t->direction, sizeof(t->direction), "%s", r->direction == AG_DIR_IN ? "in" : "out");
	t->local[0] = 0;
	if (!r->no_local)
		endpoint(t->local, sizeof(t->local), r->ip_version, r->local_addr.b, r->local_port);
	endpoint(t->remote, sizeof(t->remote), r->ip_version, r->remote_addr.b, r->remote_port);
}

/* ---- the writer thread ----------------------------------------------------- */

/* A file name or host name for a log line: a control byte could start a
 * forged line in a syslog file, so each becomes '?'. */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	if (!s)
		return NULL;
	for (; s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

static void log_record(struct agd_history *h, const struct hrec *r, const struct htext *t)
{
	char pid[24] = "", uid[24] = "", eb[4096], hb[256];
	struct hrec c = *r;

	/* in the journal entry and the syslog line alike */
	c.exe = (char *)clean(r->exe, eb, sizeof(eb));
	c.host = (char *)clean(r->host, hb, sizeof(hb));
	r = &c;

	if (r->pid >= 0)
		snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
	if (r->uid >= 0)
		snprintf(uid, sizeof(uid), "%lld", (long long)r->uid);
	if (h->event_log == AG_CFG_EVENT_LOG_JOURNAL) {
		sd_journal_send("MESSAGE=%s %s %s %s -> %s%s%s (%s%s%s)", r->action, t->direction,
				t->proto, r->exe ? r->exe : "?", t->remote,
				r->host ? " " : "", r->host ? r->host : "", r->decided,
				r->rule[0] ? " " : "", r->rule,
				"PRIORITY=%d", LOG_INFO,
				"SYSLOG_IDENTIFIER=alegated",
				"ALEGATE_ACTION=%s", r->action,
				"ALEGATE_DECIDED=%s", r->decided,
				"ALEGATE_RULE=%s", r->rule,
				"ALEGATE_EXE=%s", r->exe ? r->exe : "",
				"ALEGATE_PID=%s", pid,
				"ALEGATE_UID=%s", uid,
				"ALEGATE_PROTO=%s", t->proto,
				"ALEGATE_DIRECTION=%s", t->direction,
				"ALEGATE_LOCAL=%s", t->local,
				"ALEGATE_REMOTE=%s", t->remote,
				"ALEGATE_HOST=%s", r->host ? r->host : "",
				NULL);
	} else if (h->event_log == AG_CFG_EVENT_LOG_SYSLOG) {
		syslog(LOG_INFO,
		       "connection action=%s decided=%s rule=%s exe=%s pid=%s uid=%s proto=%s "
		       "direction=%s local=%s remote=%s host=%s",
		       r->action, r->decided, r->rule[0] ? r->rule : "-", r->exe ? r->exe : "-",
		       pid[0] ? pid : "-", uid[0] ? uid : "-", t->proto, t->direction, t->local,
		       t->remote, r->host ? r->host : "-");
	}
}

void agd__history_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s && s[0])
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/*
 * A TCP connection that ended within the batch that holds its start (most
 * short ones) is written once, whole: one insert instead of an insert and
 * an update of the row and its index.  Not UDP: a fast-path UDP socket may
 * have rows in earlier batches, and its bytes go to the first of them.
 * @slots: a table of at least 2 * n entries, scratch.
 */
static void fold_ends(struct hrec *recs, size_t n, uint32_t *slots, size_t nslots)
{
	memset(slots, 0xff, nslots * sizeof(*slots));
	for (size_t i = 0; i < n; i++) {
		struct hrec *r = &recs[i];
		size_t k = (size_t)((r->flow * 0x9e3779b97f4a7c15ull) >> 32) % nslots;

		if (!r->flow || (r->kind == H_NEW && r->protocol != AG_IPPROTO_TCP))
			continue;
		while (slots[k] != UINT32_MAX && recs[slots[k]].flow != r->flow)
			k = (k + 1) % nslots;
		if (r->kind == H_NEW) {
			slots[k] = (uint32_t)i;	/* a handle used again: the newer row */
		} else if (slots[k] != UINT32_MAX && !recs[slots[k]].end_ms) {
			struct hrec *c = &recs[slots[k]];

			c->end_ms = r->time_ms > 0 ? r->time_ms : 1;
			c->bytes_in = r->bytes_in;
			c->bytes_out = r->bytes_out;
			r->folded = true;
		}
	}
}

static int write_batch(struct agd_history *h, sqlite3_stmt *ins, sqlite3_stmt *end,
		       struct hrec *recs, size_t n, uint32_t *slots, size_t nslots)
{
	struct htext t;

	uint64_t rows = 0, ends = 0;
	int rc = sqlite3_exec(h->wdb, "BEGIN", NULL, NULL, NULL);

	if (slots)
		fold_ends(recs, n, slots, nslots);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		struct hrec *r = &recs[i];
		sqlite3_stmt *st = r->kind == H_NEW ? ins : end;

		if (r->folded) {
			ends++;
			continue;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (r->kind == H_NEW) {
			rec_text(r, &t);
			sqlite3_bind_int64(st, 1, r->time_ms);
			agd__history_bind_text(st, 2, r->exe);
			bind_opt(st, 3, r->pid);
			bind_opt(st, 4, r->uid);
			sqlite3_bind_text(st, 5, t.proto, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 6, t.direction, -1, SQLITE_TRANSIENT);
			if (t.local[0])
				sqlite3_bind_text(st, 7, t.local, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 8, t.remote, -1, SQLITE_TRANSIENT);
			agd__history_bind_text(st, 9, r->host);
			agd__history_bind_text(st, 10, r->action);
			agd__history_bind_text(st, 11, r->rule);
			agd__history_bind_text(st, 12, r->decided);
			if (r->end_ms) {
				sqlite3_bind_int64(st, 14, r->end_ms);
				sqlite3_bind_int64(st, 15, (sqlite3_int64)r->bytes_in);
				sqlite3_bind_int64(st, 16, (sqlite3_int64)r->bytes_out);
			} else if (r->flow) {
				sqlite3_bind_int64(st, 13, (sqlite3_int64)r->flow);
			}
			rows++;
		} else {
			sqlite3_bind_int64(st, 1, r->time_ms);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)r->bytes_in);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)r->bytes_out);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)r->flow);
			ends++;
		}
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h->wdb, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_warn("history: %s", sqlite3_errmsg(h->wdb));
		sqlite3_exec(h->wdb, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_lock(&h->mu);
	if (rc == SQLITE_OK) {
		h->rows += rows;
		h->ends += ends;
	} else {
		h->write_errors++;
	}
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; h->event_log != AG_CFG_EVENT_LOG_NONE && i < n; i++) {
		if (recs[i].kind == H_NEW) {
			rec_text(&recs[i], &t);
			log_record(h, &recs[i], &t);
		}
	}
	return rc;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* history_days, then history_max_mb: the oldest rows go.  Deleted pages
 * are reused by later rows, so the file stops growing at the bound. */
static void trim(struct agd_history *h)
{
	char sql[160];
	int64_t n0 = sqlite3_total_changes64(h->wdb);

	if (h->days) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t cut = (int64_t)ts.tv_sec * 1000 - (int64_t)h->days * 86400000;

		snprintf(sql, sizeof(sql), "DELETE FROM conn WHERE time_ms < %lld", (long long)cut);
		sqlite3_exec(h->wdb, sql, NULL, NULL, NULL);
	}
	for (int i = 0; i < 20; i++) {
		int64_t pages = one_int(h->wdb, "PRAGMA page_count");
		int64_t free_pages = one_int(h->wdb, "PRAGMA freelist_count");
		int64_t psize = one_int(h->wdb, "PRAGMA page_size");

		if (pages < 0 || psize <= 0 || (pages - free_pages) * psize <= (int64_t)h->max_mb << 20)
			break;
		/* a tenth of the rows at a time, oldest first */
		sqlite3_exec(h->wdb,
			     "DELETE FROM conn WHERE id < (SELECT min(id) + (max(id) - min(id)) / 10 + 1"
			     " FROM conn)",
			     NULL, NULL, NULL);
	}
	int64_t gone = sqlite3_total_changes64(h->wdb) - n0;

	if (gone > 0) {
		pthread_mutex_lock(&h->mu);
		h->trimmed += (uint64_t)gone;
		pthread_mutex_unlock(&h->mu);
	}
}

static void *writer(void *arg)
{
	struct agd_history *h = arg;
	sqlite3_stmt *ins = NULL, *end = NULL;
	struct hrec *batch = NULL;
	size_t cap = 0, nslots = 0;
	uint32_t *slots = NULL;	/* fold_ends' table */
	unsigned commits = 0;
	bool stop = false;

	/* it writes a file of the daemon's own (uid 0, mode 0700 directory):
	 * no capability needed, and none kept past the daemon's drop */
	agd_privs_thread_limit(0, "history writer");
	if (sqlite3_prepare_v3(h->wdb,
			       "INSERT INTO conn(time_ms, exe, pid, uid, proto, direction, local, remote,"
			       " host, action, rule, decided, flow, end_ms, bytes_in, bytes_out)"
			       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(h->wdb,
			       /* a socket's several rows (UDP to several peers): its
				* bytes on the first, counted once */
			       "UPDATE conn SET end_ms = ?1, flow = NULL,"
			       " bytes_in = iif(id = (SELECT min(id) FROM conn WHERE flow = ?4), ?2, 0),"
			       " bytes_out = iif(id = (SELECT min(id) FROM conn WHERE flow = ?4), ?3, 0)"
			       " WHERE flow = ?4",
			       -1, SQLITE_PREPARE_PERSISTENT, &end, NULL) != SQLITE_OK) {
		log_err("history: %s", sqlite3_errmsg(h->wdb));
		goto out;
	}
	trim(h);
	while (!stop) {
		struct timespec dl;
		size_t n;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += AGD_HISTORY_COMMIT_MS / 1000;
		dl.tv_nsec += AGD_HISTORY_COMMIT_MS % 1000 * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&h->mu);
		while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &dl) == 0)
			;
		stop = h->stop;
		h->event_log = h->new_event_log;
		h->days = h->new_days;
		h->max_mb = h->new_max_mb;
		/* swap: the loop fills the other array while this one is written */
		struct hrec *t = h->q;
		size_t tcap = h->cap;

		n = h->n;
		h->q = batch;
		h->cap = cap;
		h->n = 0;
		batch = t;
		cap = tcap;
		pthread_mutex_unlock(&h->mu);
		if (n > nslots / 2) {
			free(slots);
			nslots = 2 * cap;
			if (!(slots = malloc(nslots * sizeof(*slots))))
				nslots = 0;
		}
		if (n)
			write_batch(h, ins, end, batch, n, slots, nslots);
		for (size_t i = 0; i < n; i++)
			rec_free(&batch[i]);
		if (++commits % AGD_HISTORY_TRIM_EVERY == 0)
			trim(h);
	}
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(end);
	free(batch);
	free(slots);
	return NULL;
}

/* ---- the loop's side ---------------------------------------------------------- */

int agd_history_open(struct agd *d)
{
	struct agd_history *h;
	char path[sizeof(d->cfg.state_dir) + 32];
	char *err = NULL;
	int r = -ENOMEM;

	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->event_log = h->new_event_log = d->cfg.event_log;
	h->days = h->new_days = d->cfg.history_days;
	h->max_mb = h->new_max_mb = d->cfg.history_max_mb;
	h->todo_tail = &h->todo;
	h->qfd = -1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	pthread_mutex_init(&h->qmu, NULL);
	pthread_cond_init(&h->qcv, NULL);
	if (mkdir(d->cfg.state_dir, 0700) == -1 && errno != EEXIST) {
		r = -errno;
		log_err("history: %s: %s", d->cfg.state_dir, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, AGD_HISTORY_FILE);
	if (sqlite3_open_v2(path, &h->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(h->wdb, schema, NULL, NULL, &err) != SQLITE_OK) {
		log_err("history: %s: %s", path, err ? err : sqlite3_errmsg(h->wdb));
		r = -EIO;
		goto fail;
	}
	/* a query waits a little for a checkpoint rather than failing */
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++) {
		sqlite3 **db = &h->qt[i].db;

		h->qt[i].h = h;
		if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				    NULL) != SQLITE_OK ||
		    sqlite3_busy_timeout(*db, 100) != SQLITE_OK ||
		    sqlite3_exec(*db, "SELECT count(*) FROM conn WHERE id = 0", NULL, NULL, &err) !=
			    SQLITE_OK) {
			log_err("history: %s: %s", path, err ? err : sqlite3_errmsg(*db));
			r = -EIO;
			goto fail;
		}
	}
	sqlite3_busy_timeout(h->wdb, 1000);
	h->qfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->qfd == -1 || (r = agd_loop_add(d, h->qfd, EPOLLIN,
					     (void *)(uintptr_t)AGD_TAG_HISTORY))) {
		r = h->qfd == -1 ? -errno : r;
		log_err("history: query eventfd: %s", strerror(-r));
		goto fail;
	}
	/* threads started last: every way to fail above has none to stop */
	if ((r = -pthread_create(&h->thread, NULL, writer, h))) {
		log_err("history: thread: %s", strerror(-r));
		goto fail;
	}
	h->thread_on = true;
	/* named for top -H and /proc/PID/task/TID/comm */
	pthread_setname_np(h->thread, "agd-history");
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++) {
		if ((r = -pthread_create(&h->qt[i].thread, NULL, agd__history_querier, &h->qt[i]))) {
			log_err("history: query thread: %s", strerror(-r));
			break;
		}
		h->qt[i].on = true;
		pthread_setname_np(h->qt[i].thread, "agd-query");
	}
	/* each has set its priority before the seccomp filter could refuse it */
	pthread_mutex_lock(&h->qmu);
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++)
		while (h->qt[i].on && h->qready <= (unsigned)i)
			pthread_cond_wait(&h->qcv, &h->qmu);
	pthread_mutex_unlock(&h->qmu);
	d->history = h;
	if (r) {
		agd_history_close(d);
		return r;
	}
	return 0;
fail:
	sqlite3_free(err);
	if (h->qfd != -1) {
		agd_loop_del(d, h->qfd);
		close(h->qfd);
	}
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++)
		sqlite3_close(h->qt[i].db);
	sqlite3_close(h->wdb);
	free(h);
	return r;
}

void agd_history_reconfigure(struct agd *d)
{
	struct agd_history *h = d->history;

	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->new_event_log = d->cfg.event_log;
	h->new_days = d->cfg.history_days;
	h->new_max_mb = d->cfg.history_max_mb;
	pthread_mutex_unlock(&h->mu);
}

void agd__history_query_list_free(struct hquery *q)
{
	while (q) {
		struct hquery *next = q->next;

		json_decref(q->result);
		free(q->mem);
		free(q);
		q = next;
	}
}

void agd_history_close(struct agd *d)
{
	struct agd_history *h = d->history;

	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	/* a query under way stops at its next step; its answer is dropped */
	pthread_mutex_lock(&h->qmu);
	h->qstop = true;
	pthread_cond_broadcast(&h->qcv);
	pthread_mutex_unlock(&h->qmu);
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++) {
		if (!h->qt[i].on)
			continue;
		sqlite3_interrupt(h->qt[i].db);
		pthread_join(h->qt[i].thread, NULL);
	}
	agd__history_query_list_free(h->todo);
	agd__history_query_list_free(h->done);
	if (h->thread_on)
		pthread_join(h->thread, NULL);
	for (size_t i = 0; i < h->n; i++)
		rec_free(&h->q[i]);
	free(h->q);
	for (int i = 0; i < AGD_HISTORY_QUERY_THREADS; i++)
		sqlite3_close(h->qt[i].db);
	sqlite3_close(h->wdb);
	if (h->qfd != -1) {
		agd_loop_del(d, h->qfd);
		close(h->qfd);
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->qmu);
	pthread_cond_destroy(&h->qcv);
	free(h);
	d->history = NULL;
}

static void enqueue(struct agd_history *h, struct hrec *r)
{
	pthread_mutex_lock(&h->mu);
	if (h->n == h->cap && h->cap < AGD_HISTORY_QUEUE_MAX) {
		size_t ncap = h->cap ? h->cap * 2 : 1024;
		void *p = realloc(h->q, ncap * sizeof(*h->q));

		if (p) {
			h->q = p;
			h->cap = ncap;
		}
	}
	if (h->n < h->cap) {
		h->q[h->n++] = *r;
		r = NULL;
	} else {
		h->dropped++;
	}
	pthread_mutex_unlock(&h->mu);
	if (r)
		rec_free(r);
}

void agd_history_conn(struct agd *d, const struct agd_conn *c)
{
	struct agd_history *h = d->history;
	size_t le = c->exe ? strlen(c->exe) : 0, lh = c->host ? strlen(c->host) : 0;
	struct hrec r;

	if (!h)
		return;
	r.kind = H_NEW;
	r.flow = c->flow;
	r.time_ms = (int64_t)c->time_ms;
	r.bytes_in = r.bytes_out = 0;
	r.end_ms = 0;
	r.folded = false;
	r.pid = c->pid ? (int64_t)c->pid : -1;
	r.uid = c->uid == AG_UID_UNKNOWN ? -1 : (int64_t)c->uid;
	r.action = c->action;
	r.decided = c->decided;
	r.ip_version = c->ip_version;
	r.protocol = c->protocol;
	r.direction = c->direction;
	r.no_local = c->no_local;
	r.local_addr = c->local_addr;
	r.remote_addr = c->remote_addr;
	r.local_port = c->local_port;
	r.remote_port = c->remote_port;
	if (c->rule)
		snprintf(r.rule, sizeof(r.rule), "%s", c->rule);
	else
		r.rule[0] = 0;
	/* exe and host in one allocation: exe first, host after its NUL */
	r.exe = r.host = NULL;
	r.mem = NULL;
	if (le || lh) {
		char *m = malloc(le + lh + 2);

		if (!m) {
			pthread_mutex_lock(&h->mu);
			h->dropped++;
			pthread_mutex_unlock(&h->mu);
			return;
		}
		memcpy(m, c->exe ? c->exe : "", le + 1);
		memcpy(m + le + 1, c->host ? c->host : "", lh + 1);
		r.mem = m;
		r.exe = le ? m : NULL;
		r.host = lh ? m + le + 1 : NULL;
	}
	enqueue(h, &r);
}

void agd_history_end(struct agd *d, uint64_t flow, uint64_t bytes_in, uint64_t bytes_out)
{
	struct agd_history *h = d->history;
	struct hrec r;

	if (!h || !flow)
		return;
	memset(&r, 0, sizeof(r));
	r.kind = H_END;
	r.flow = flow;
	r.time_ms = (int64_t)ag_wall_ms();
	r.bytes_in = bytes_in;
	r.bytes_out = bytes_out;
	enqueue(h, &r);
}

/* What a decision event says about how the flow was decided; NULL: not a
 * connection's first decision. */
static const char *decided_by(const ag_event *ev)
{
	if (ev->type != AG_EVENT_PERMIT && ev->type != AG_EVENT_BLOCK)
		return NULL;
	switch (ev->reason) {
	case AG_REASON_FILTER:
	case AG_REASON_DEFAULT:
		return "rule";
	case AG_REASON_CALLOUT:
	case AG_REASON_UNREGISTERED:
		return "callout";
	case AG_REASON_COMPLETED:
	case AG_REASON_INJECTED:
		return "person";
	case AG_REASON_TIMEOUT:
		return "timeout";
	case AG_REASON_SHUTDOWN:
		return "shutdown";
	default:
		return NULL;
	}
}

void agd_history_event(struct agd *d, const ag_event *ev)
{
	const char *how = decided_by(ev);
	struct agd_rule *rule;
	struct agd_conn c;

	if (!how || !ev->flow || (!d->history && d->cfg.event_log == AG_CFG_EVENT_LOG_NONE))
		return;
	rule = agd_rule_by_handle(d, ev->filter_context);
	memset(&c, 0, sizeof(c));
	c.flow = ev->flow;
	c.time_ms = ag_wall_ms() - (ag_boot_ns() - ev->time_ns) / 1000000;
	c.exe = ev->app_path;
	c.host = ev->remote_host;
	c.pid = ev->pid;
	c.uid = ev->uid;
	c.ip_version = ev->ip_version;
	c.protocol = ev->protocol;
	c.direction = ev->direction;
	c.local_addr = ev->local_addr;
	c.remote_addr = ev->remote_addr;
	c.local_port = ev->local_port;
	c.remote_port = ev->remote_port;
	c.action = ev->verdict == AG_VERDICT_PERMIT ? "allow"
		   : ev->verdict == AG_VERDICT_REJECT ? "reject"
						      : "deny";
	c.rule = rule ? rule->rule.id : NULL;
	c.decided = how;
	agd_history_conn(d, &c);
}

json_t *agd_history_status_json(struct agd *d)
{
	struct agd_history *h = d->history;
	json_t *o = json_object();

	json_object_set_new(o, "state", json_string(h ? "on" : "off"));
	if (!h)
		return o;
	pthread_mutex_lock(&h->mu);
	json_object_set_new(o, "rows_written", json_integer((json_int_t)h->rows));
	json_object_set_new(o, "ends_written", json_integer((json_int_t)h->ends));
	json_object_set_new(o, "dropped", json_integer((json_int_t)h->dropped));
	json_object_set_new(o, "write_errors", json_integer((json_int_t)h->write_errors));
	json_object_set_new(o, "trimmed", json_integer((json_int_t)h->trimmed));
	json_object_set_new(o, "queued", json_integer((json_int_t)h->n));
	pthread_mutex_unlock(&h->mu);
	return o;
}
