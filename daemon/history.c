/*
 * daemon/history.c — every decided connection, kept in SQLite.
 *
 * The loop never touches the database file for a write: a decision or the
 * end of a flow becomes a record in a bounded queue, its text copied into
 * the queue's own buffer (no allocation once the queue has grown), and a
 * writer thread moves the queue into the database in one transaction at
 * least every AGD_HISTORY_COMMIT_MS, rows AGD_HISTORY_ROWS_PER_INSERT to a
 * statement.  WAL with synchronous = NORMAL: a commit is in the file when
 * the transaction ends, so a process killed with SIGKILL loses only what
 * was still queued; a power loss may lose the commits since the last
 * checkpoint, never the file's consistency.
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

/* No text: an offset into the queue's text. */
#define H_NOTEXT UINT32_MAX
/* Bytes of text (exe, host, rule) the queue holds at most. */
#define AGD_HISTORY_TEXT_MAX (64u << 20)
/* Rows one INSERT statement writes: the statement's fixed work (its
 * start, its cursors, its end) is shared by them. */
#define AGD_HISTORY_ROWS_PER_INSERT 32
/* Values of one row in the INSERT. */
#define H_COLS 16

/* What the loop queues: raw values, formatted by the writer (the loop's
 * share of a connection is a copy into the queue and its text, and a
 * lock; no allocation but the queue's own, which grows and is kept). */
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
	uint32_t exe, host, rule;	/* offsets in the queue's text, or H_NOTEXT */
};

/* The text of a record, as the database and the log keep it. */
struct htext {
	const char *proto, *direction;
	char pbuf[4];
	char local[AG_ADDR_STRLEN + 10], remote[AG_ADDR_STRLEN + 10];
};

static const char schema[] =
	/* a new file's pages: a quarter of the writes (each a system call,
	 * twice over with the checkpoint) for the same rows; a file made with
	 * smaller pages keeps them */
	"PRAGMA page_size=16384;"
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

/* Decimal digits of v at p; returns the end. */
static char *put_uint(char *p, unsigned v)
{
	char d[10];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = d[--n];
	return p;
}

/* "a.b.c.d:port" or "[v6]:port" into buf (AG_ADDR_STRLEN + 10 bytes):
 * written by hand, a row's two endpoints were a third of what the writer
 * spent outside SQLite through printf. */
static void endpoint(char *buf, int ver, const uint8_t *addr, uint16_t port)
{
	char *p = buf;

	if (ver == 4) {
		for (int i = 0; i < 4; i++) {
			p = put_uint(p, addr[i]);
			*p++ = i < 3 ? '.' : ':';
		}
	} else {
		*p++ = '[';
		if (ag_addr_format(ver, addr, p, AG_ADDR_STRLEN) < 0)
			strcpy(p, "?");
		p += strlen(p);
		*p++ = ']';
		*p++ = ':';
	}
	*put_uint(p, port) = 0;
}

static void rec_text(const struct hrec *r, struct htext *t)
{
	switch (r->protocol) {
	case AG_IPPROTO_TCP:
		t->proto = "tcp";
		break;
	case AG_IPPROTO_UDP:
		t->proto = "udp";
		break;
	case AG_IPPROTO_ICMP:
		t->proto = "icmp";
		break;
	case AG_IPPROTO_ICMPV6:
		t->proto = "icmpv6";
		break;
	default:
		*put_uint(t->pbuf, r->protocol) = 0;
		t->proto = t->pbuf;
	}
	t->direction = r->direction == AG_DIR_IN ? "in" : "out";
	t->local[0] = 0;
	if (!r->no_local)
		endpoint(t->local, r->ip_version, r->local_addr.b, r->local_port);
	endpoint(t->remote, r->ip_version, r->remote_addr.b, r->remote_port);
}

/* A record's text at offset @o of @text, NULL for none. */
static const char *rec_str(const char *text, uint32_t o)
{
	return o == H_NOTEXT ? NULL : text + o;
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

static void log_record(struct agd_history *h, const struct hrec *r, const char *text,
		       const struct htext *t)
{
	char pid[24] = "", uid[24] = "", eb[4096], hb[256];
	const char *rule = rec_str(text, r->rule);
	/* in the journal entry and the syslog line alike */
	const char *exe = clean(rec_str(text, r->exe), eb, sizeof(eb));
	const char *host = clean(rec_str(text, r->host), hb, sizeof(hb));

	rule = rule ? rule : "";
	if (r->pid >= 0)
		snprintf(pid, sizeof(pid), "%lld", (long long)r->pid);
	if (r->uid >= 0)
		snprintf(uid, sizeof(uid), "%lld", (long long)r->uid);
	if (h->event_log == AG_CFG_EVENT_LOG_JOURNAL) {
		sd_journal_send("MESSAGE=%s %s %s %s -> %s%s%s (%s%s%s)", r->action, t->direction,
				t->proto, exe ? exe : "?", t->remote,
				host ? " " : "", host ? host : "", r->decided,
				rule[0] ? " " : "", rule,
				"PRIORITY=%d", LOG_INFO,
				"SYSLOG_IDENTIFIER=alegated",
				"ALEGATE_ACTION=%s", r->action,
				"ALEGATE_DECIDED=%s", r->decided,
				"ALEGATE_RULE=%s", rule,
				"ALEGATE_EXE=%s", exe ? exe : "",
				"ALEGATE_PID=%s", pid,
				"ALEGATE_UID=%s", uid,
				"ALEGATE_PROTO=%s", t->proto,
				"ALEGATE_DIRECTION=%s", t->direction,
				"ALEGATE_LOCAL=%s", t->local,
				"ALEGATE_REMOTE=%s", t->remote,
				"ALEGATE_HOST=%s", host ? host : "",
				NULL);
	} else if (h->event_log == AG_CFG_EVENT_LOG_SYSLOG) {
		syslog(LOG_INFO,
		       "connection action=%s decided=%s rule=%s exe=%s pid=%s uid=%s proto=%s "
		       "direction=%s local=%s remote=%s host=%s",
		       r->action, r->decided, rule[0] ? rule : "-", exe ? exe : "-",
		       pid[0] ? pid : "-", uid[0] ? uid : "-", t->proto, t->direction, t->local,
		       t->remote, host ? host : "-");
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

/* The writer's statements and scratch. */
struct hwriter {
	/* ins[k]: an INSERT of 1 << k rows */
	sqlite3_stmt *ins[6], *end;
	struct htext t[AGD_HISTORY_ROWS_PER_INSERT];
	const struct hrec *pend[AGD_HISTORY_ROWS_PER_INSERT];
	unsigned npend;
	uint32_t *slots;	/* fold_ends' table */
	size_t nslots;
	const char *text;	/* the batch's text */
};

/* Row @r's values at parameters base + 1 .. base + H_COLS of @st, with
 * its text in @t (kept until the statement has run). */
static void bind_row(sqlite3_stmt *st, int base, const struct hrec *r, const char *text,
		     struct htext *t)
{
	rec_text(r, t);
	sqlite3_bind_int64(st, base + 1, r->time_ms);
	agd__history_bind_text(st, base + 2, rec_str(text, r->exe));
	bind_opt(st, base + 3, r->pid);
	bind_opt(st, base + 4, r->uid);
	sqlite3_bind_text(st, base + 5, t->proto, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, base + 6, t->direction, -1, SQLITE_STATIC);
	agd__history_bind_text(st, base + 7, t->local);
	sqlite3_bind_text(st, base + 8, t->remote, -1, SQLITE_STATIC);
	agd__history_bind_text(st, base + 9, rec_str(text, r->host));
	agd__history_bind_text(st, base + 10, r->action);
	agd__history_bind_text(st, base + 11, rec_str(text, r->rule));
	agd__history_bind_text(st, base + 12, r->decided);
	if (r->end_ms) {
		sqlite3_bind_null(st, base + 13);
		sqlite3_bind_int64(st, base + 14, r->end_ms);
		sqlite3_bind_int64(st, base + 15, (sqlite3_int64)r->bytes_in);
		sqlite3_bind_int64(st, base + 16, (sqlite3_int64)r->bytes_out);
	} else {
		if (r->flow)
			sqlite3_bind_int64(st, base + 13, (sqlite3_int64)r->flow);
		else
			sqlite3_bind_null(st, base + 13);
		for (int c = 14; c <= H_COLS; c++)
			sqlite3_bind_null(st, base + c);
	}
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Insert the rows waiting in w->pend: as few statements as the sizes
 * prepared allow (32, 16, ... 1 rows each). */
static int flush_rows(struct hwriter *w)
{
	unsigned i = 0;
	int rc = SQLITE_OK;

	for (int k = 5; k >= 0 && rc == SQLITE_OK; k--) {
		unsigned m = 1u << k;

		while (w->npend - i >= m && rc == SQLITE_OK) {
			for (unsigned j = 0; j < m; j++)
				bind_row(w->ins[k], (int)j * H_COLS, w->pend[i + j], w->text, &w->t[j]);
			rc = step_done(w->ins[k]);
			i += m;
		}
	}
	w->npend = 0;
	return rc;
}

static int write_batch(struct agd_history *h, struct hwriter *w, struct hqueue *q)
{
	struct hrec *recs = q->r;
	size_t n = q->n;
	uint64_t rows = 0, ends = 0;
	int rc = sqlite3_exec(h->wdb, "BEGIN", NULL, NULL, NULL);

	w->text = q->text;
	w->npend = 0;
	/*
	 * With the ends folded, an end left is of a row an earlier batch
	 * wrote (or a UDP row before it in this one): the ends go after all
	 * the rows, which then fill whole INSERTs instead of being cut
	 * before each end.  A flow handle names one flow (its generation
	 * changes), so no end is of a row queued after it.  Without the
	 * table (no memory), each end waits for the rows before it.
	 */
	bool ends_last = w->slots != NULL;

	if (ends_last)	/* 2n slots: fold_ends' probes stay short */
		fold_ends(recs, n, w->slots, 2 * n);
	for (int pass = 0; pass < (ends_last ? 2 : 1) && rc == SQLITE_OK; pass++) {
		for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
			struct hrec *r = &recs[i];

			if (r->kind == H_NEW) {
				if (pass == 1)
					continue;
				w->pend[w->npend++] = r;
				rows++;
				if (w->npend == AGD_HISTORY_ROWS_PER_INSERT)
					rc = flush_rows(w);
				continue;
			}
			if (ends_last && pass == 0)
				continue;
			if (r->folded) {
				ends++;
				continue;
			}
			/* the rows before it first: it may end one of them */
			rc = flush_rows(w);
			if (rc != SQLITE_OK)
				break;
			sqlite3_bind_int64(w->end, 1, r->time_ms);
			sqlite3_bind_int64(w->end, 2, (sqlite3_int64)r->bytes_in);
			sqlite3_bind_int64(w->end, 3, (sqlite3_int64)r->bytes_out);
			sqlite3_bind_int64(w->end, 4, (sqlite3_int64)r->flow);
			rc = step_done(w->end);
			ends++;
		}
	}
	if (rc == SQLITE_OK)
		rc = flush_rows(w);
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
			rec_text(&recs[i], &w->t[0]);
			log_record(h, &recs[i], q->text, &w->t[0]);
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
	struct hwriter w = { 0 };
	struct hqueue batch = { 0 };
	unsigned commits = 0;
	bool stop = false;
	char sql[AGD_HISTORY_ROWS_PER_INSERT * 36 + 200];

	/* it writes a file of the daemon's own (uid 0, mode 0700 directory):
	 * no capability needed, and none kept past the daemon's drop */
	agd_privs_thread_limit(0, "history writer");
	for (int k = 0; k < 6; k++) {
		size_t len = (size_t)snprintf(sql, sizeof(sql), "%s",
					      "INSERT INTO conn(time_ms, exe, pid, uid, proto, direction,"
					      " local, remote, host, action, rule, decided, flow, end_ms,"
					      " bytes_in, bytes_out) VALUES");

		for (int j = 0; j < 1 << k; j++)
			len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
						j ? "," : "");
		if (sqlite3_prepare_v3(h->wdb, sql, -1, SQLITE_PREPARE_PERSISTENT, &w.ins[k],
				       NULL) != SQLITE_OK)
			goto fail;
	}
	if (sqlite3_prepare_v3(h->wdb,
			       /* a socket's several rows (UDP to several peers): its
				* bytes on the first, counted once */
			       "UPDATE conn SET end_ms = ?1, flow = NULL,"
			       " bytes_in = iif(id = (SELECT min(id) FROM conn WHERE flow = ?4), ?2, 0),"
			       " bytes_out = iif(id = (SELECT min(id) FROM conn WHERE flow = ?4), ?3, 0)"
			       " WHERE flow = ?4",
			       -1, SQLITE_PREPARE_PERSISTENT, &w.end, NULL) != SQLITE_OK)
		goto fail;
	trim(h);
	while (!stop) {
		struct timespec dl;

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
		/* swap: the loop fills the other queue while this one is written */
		struct hqueue t = h->q;

		h->q = batch;
		h->q.n = h->q.tlen = 0;
		batch = t;
		pthread_mutex_unlock(&h->mu);
		if (batch.n > w.nslots / 2) {
			free(w.slots);
			w.nslots = 2 * batch.cap;
			if (!(w.slots = malloc(w.nslots * sizeof(*w.slots))))
				w.nslots = 0;
		}
		if (batch.n)
			write_batch(h, &w, &batch);
		if (++commits % AGD_HISTORY_TRIM_EVERY == 0)
			trim(h);
	}
	goto out;
fail:
	log_err("history: %s", sqlite3_errmsg(h->wdb));
out:
	for (int k = 0; k < 6; k++)
		sqlite3_finalize(w.ins[k]);
	sqlite3_finalize(w.end);
	free(batch.r);
	free(batch.text);
	free(w.slots);
	return NULL;
}

/* ---- the loop's side ---------------------------------------------------------- */

/* Before SQLite's first use in the process: no memory statistics, which
 * every allocation took a process-wide lock to count. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int agd_history_open(struct agd *d)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	struct agd_history *h;
	char path[sizeof(d->cfg.state_dir) + 32];
	char *err = NULL;
	int r = -ENOMEM;

	pthread_once(&once, sqlite_setup);
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
	free(h->q.r);
	free(h->q.text);
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

/* Room for one more record and @text bytes of its text in the loop's
 * queue, under mu: false past the bounds (or out of memory). */
static bool room(struct hqueue *q, size_t text)
{
	if (q->n == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 1024;
		void *p = ncap <= AGD_HISTORY_QUEUE_MAX ? realloc(q->r, ncap * sizeof(*q->r)) : NULL;

		if (!p)
			return false;
		q->r = p;
		q->cap = ncap;
	}
	if (text > q->tcap - q->tlen) {
		size_t ncap = q->tcap ? q->tcap : 65536;
		void *p;

		while (ncap - q->tlen < text && ncap <= AGD_HISTORY_TEXT_MAX)
			ncap *= 2;
		if (ncap - q->tlen < text || ncap > AGD_HISTORY_TEXT_MAX ||
		    !(p = realloc(q->text, ncap)))
			return false;
		q->text = p;
		q->tcap = ncap;
	}
	return true;
}

/* @s (@len bytes) and a NUL into the queue's text (room() made room):
 * its offset, or H_NOTEXT for none. */
static uint32_t put_text(struct hqueue *q, const char *s, size_t len)
{
	uint32_t o = (uint32_t)q->tlen;

	if (!len)
		return H_NOTEXT;
	memcpy(q->text + q->tlen, s, len);
	q->text[q->tlen + len] = 0;
	q->tlen += len + 1;
	return o;
}

/* @r into the queue with its text (exe, host, rule: lengths in le, lh,
 * lr), or counted as dropped. */
static void enqueue(struct agd_history *h, struct hrec *r, const struct agd_conn *c,
		    size_t le, size_t lh, size_t lr)
{
	struct hqueue *q = &h->q;

	pthread_mutex_lock(&h->mu);
	if (room(q, le + lh + lr + 3)) {
		if (c) {
			r->exe = put_text(q, c->exe, le);
			r->host = put_text(q, c->host, lh);
			r->rule = put_text(q, c->rule, lr);
		}
		q->r[q->n++] = *r;
	} else {
		h->dropped++;
	}
	pthread_mutex_unlock(&h->mu);
}

void agd_history_conn(struct agd *d, const struct agd_conn *c)
{
	struct agd_history *h = d->history;
	size_t le = c->exe ? strlen(c->exe) : 0, lh = c->host ? strlen(c->host) : 0;
	size_t lr = c->rule ? strnlen(c->rule, AG_RULE_ID_MAX) : 0;
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
	enqueue(h, &r, c, le, lh, lr);
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
	r.exe = r.host = r.rule = H_NOTEXT;
	enqueue(h, &r, NULL, 0, 0, 0);
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
	c.rule = rule ? agd_rule_id(rule) : NULL;
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
	json_object_set_new(o, "queued", json_integer((json_int_t)h->q.n));
	pthread_mutex_unlock(&h->mu);
	return o;
}
