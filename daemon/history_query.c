/*
 * daemon/history_query.c — the `history` and `traffic` queries, answered
 * off the loop.  Each query thread has its own read-only connection (WAL
 * lets it read while the writer writes) and runs at a lower priority; the
 * loop hands a query over with agd_history_ask() and takes the answers
 * back in agd_history_answers() when the eventfd says they are ready.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/err.h"
#include "daemon/alegated.h"
#include "daemon/privs.h"
#include "daemon/history.h"
#include "daemon/history_internal.h"
#include "daemon/log.h"

/* ---- queries ------------------------------------------------------------------- */

static json_t *col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer((json_int_t)sqlite3_column_int64(st, i));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(st, i));
	default:
		return json_null();
	}
}

static void iso_time(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* A read statement on a query thread's connection, or NULL with err set. */
static sqlite3_stmt *read_stmt(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		ag_seterr(err, errlen, "%s", sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

static json_t *query_history(sqlite3 *db, const struct agd_history_filter *f, char *err,
			     size_t errlen)
{
	static const char *const cols[] = { "time_ms", "exe", "pid", "uid", "proto", "direction",
					    "local", "remote", "host", "action", "rule", "decided",
					    "end_ms", "bytes_in", "bytes_out" };
	sqlite3_stmt *st;
	json_t *a;
	int i = 1, rc;

	/* newest first, through the time index; the filters narrow what it reads.
	 * host: the name or any name under it, its % and _ taken as themselves */
	st = read_stmt(db, "SELECT time_ms, exe, pid, uid, proto, direction, local, remote, host,"
			  " action, rule, decided, end_ms, bytes_in, bytes_out FROM conn"
			  " WHERE time_ms >= ?1 AND (?2 IS NULL OR exe = ?2)"
			  " AND (?3 IS NULL OR host = ?3 OR host LIKE '%.' || replace(replace(replace(?3,"
			  " '\\', '\\\\'), '%', '\\%'), '_', '\\_') ESCAPE '\\')"
			  " ORDER BY time_ms DESC, id DESC LIMIT ?4", err, errlen);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, i++, (sqlite3_int64)f->since_ms);
	agd__history_bind_text(st, i++, f->app);
	agd__history_bind_text(st, i++, f->host);
	sqlite3_bind_int64(st, i++, f->limit && f->limit < AGD_HISTORY_LIMIT_MAX
					    ? (sqlite3_int64)f->limit : AGD_HISTORY_LIMIT_MAX);
	a = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		char t[40];

		iso_time(t, sizeof(t), sqlite3_column_int64(st, 0));
		json_object_set_new(o, "time", json_string(t));
		for (int c = 0; c < (int)(sizeof(cols) / sizeof(cols[0])); c++)
			json_object_set_new(o, cols[c], col_json(st, c));
		if (sqlite3_column_type(st, 12) == SQLITE_INTEGER) {
			iso_time(t, sizeof(t), sqlite3_column_int64(st, 12));
			json_object_set_new(o, "end", json_string(t));
		} else {
			json_object_set_new(o, "end", json_null());
		}
		json_array_append_new(a, o);
	}
	if (rc != SQLITE_DONE) {
		ag_seterr(err, errlen, "%s", sqlite3_errmsg(db));
		json_decref(a);
		a = NULL;
	}
	sqlite3_finalize(st);
	return a;
}

static json_t *query_traffic(sqlite3 *db, uint64_t since_ms, uint64_t bucket_ms,
			     char *err, size_t errlen)
{
	sqlite3_stmt *st;
	json_t *a, *byexe;
	int rc;

	st = read_stmt(db, "SELECT exe, count(*), total(bytes_in), total(bytes_out) FROM conn"
			  " WHERE time_ms >= ?1 GROUP BY exe"
			  " ORDER BY total(bytes_in) + total(bytes_out) DESC, count(*) DESC",
			  err, errlen);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ms);
	a = json_array();
	byexe = json_object();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_object();
		const char *exe = (const char *)sqlite3_column_text(st, 0);

		json_object_set_new(o, "exe", exe ? json_string(exe) : json_null());
		json_object_set_new(o, "connections", json_integer(sqlite3_column_int64(st, 1)));
		json_object_set_new(o, "bytes_in", json_integer((json_int_t)sqlite3_column_double(st, 2)));
		json_object_set_new(o, "bytes_out", json_integer((json_int_t)sqlite3_column_double(st, 3)));
		if (bucket_ms)
			json_object_set_new(o, "series", json_array());
		json_object_set(byexe, exe ? exe : "", o);
		json_array_append_new(a, o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ag_seterr(err, errlen, "%s", sqlite3_errmsg(db));
		goto fail;
	}
	/* per program over time: [bucket start ms, bytes_in, bytes_out, connections],
	 * the bytes counted in the bucket where the connection started */
	if (bucket_ms) {
		st = read_stmt(db, "SELECT coalesce(exe, ''), time_ms / ?2 * ?2 AS b, total(bytes_in),"
				  " total(bytes_out), count(*) FROM conn WHERE time_ms >= ?1"
				  " GROUP BY 1, 2 ORDER BY 1, 2", err, errlen);
		if (!st)
			goto fail;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ms);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)bucket_ms);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			json_t *o = json_object_get(byexe, (const char *)sqlite3_column_text(st, 0));

			if (!o)
				continue;
			json_array_append_new(json_object_get(o, "series"),
					      json_pack("[IIII]", (json_int_t)sqlite3_column_int64(st, 1),
							(json_int_t)sqlite3_column_double(st, 2),
							(json_int_t)sqlite3_column_double(st, 3),
							(json_int_t)sqlite3_column_int64(st, 4)));
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			ag_seterr(err, errlen, "%s", sqlite3_errmsg(db));
			goto fail;
		}
	}
	json_decref(byexe);
	return a;
fail:
	json_decref(byexe);
	json_decref(a);
	return NULL;
}

/* A query thread: takes the oldest query, runs it on its own connection,
 * puts the answer where the loop finds it and wakes the loop. */
void *agd__history_querier(void *arg)
{
	struct hquerier *qt = arg;
	struct agd_history *h = qt->h;
	const uint64_t one = 1;

	agd_privs_thread_limit(0, "history query");
	/* PRIO_PROCESS 0 is this thread, not the process, on Linux */
	if (setpriority(PRIO_PROCESS, 0, AGD_HISTORY_QUERY_NICE) == -1)
		log_warn("history: query thread priority: %s", strerror(errno));
	pthread_mutex_lock(&h->qmu);
	h->qready++;
	pthread_cond_broadcast(&h->qcv);
	pthread_mutex_unlock(&h->qmu);
	for (;;) {
		struct hquery *q;

		pthread_mutex_lock(&h->qmu);
		while (!h->qstop && !h->todo)
			pthread_cond_wait(&h->qcv, &h->qmu);
		if (h->qstop) {
			pthread_mutex_unlock(&h->qmu);
			return NULL;
		}
		q = h->todo;
		h->todo = q->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		pthread_mutex_unlock(&h->qmu);

		if (q->f.traffic)
			q->result = query_traffic(qt->db, q->f.since_ms, q->f.bucket_ms, q->err,
						  sizeof(q->err));
		else
			q->result = query_history(qt->db, &q->f, q->err, sizeof(q->err));

		pthread_mutex_lock(&h->qmu);
		q->next = h->done;
		h->done = q;
		pthread_mutex_unlock(&h->qmu);
		if (write(h->qfd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_warn("history: query eventfd: %s", strerror(errno));
	}
}

int agd_history_ask(struct agd *d, const struct agd_history_filter *f, agd_history_answer_fn *fn,
		    uint64_t token, char *err, size_t errlen)
{
	struct agd_history *h = d->history;
	size_t la = f->app ? strlen(f->app) + 1 : 0, lh = f->host ? strlen(f->host) + 1 : 0;
	struct hquery *q;

	if (!h) {
		ag_seterr(err, errlen, "%s", "history is off (state_dir could not be opened; see the log)");
		return -ENOENT;
	}
	if (h->nqueries >= AGD_HISTORY_QUERIES_MAX) {
		ag_seterr(err, errlen, "%u queries are under way; ask again when one is answered",
			  h->nqueries);
		return -EBUSY;
	}
	if (!(q = calloc(1, sizeof(*q))) || ((la || lh) && !(q->mem = malloc(la + lh)))) {
		free(q);
		ag_seterr(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	q->f = *f;
	q->f.app = q->f.host = NULL;
	if (la)
		q->f.app = memcpy(q->mem, f->app, la);
	if (lh)
		q->f.host = memcpy(q->mem + la, f->host, lh);
	q->fn = fn;
	q->token = token;
	h->nqueries++;
	pthread_mutex_lock(&h->qmu);
	*h->todo_tail = q;
	h->todo_tail = &q->next;
	pthread_cond_signal(&h->qcv);
	pthread_mutex_unlock(&h->qmu);
	return 0;
}

void agd_history_answers(struct agd *d)
{
	struct agd_history *h = d->history;
	struct hquery *q, *fifo = NULL;
	uint64_t n;

	if (!h)
		return;
	if (read(h->qfd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_debug("history: query eventfd: %s", strerror(errno));
	pthread_mutex_lock(&h->qmu);
	q = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->qmu);
	/* done is newest first: answer in the order the queries ended */
	while (q) {
		struct hquery *next = q->next;

		q->next = fifo;
		fifo = q;
		q = next;
	}
	while ((q = fifo)) {
		fifo = q->next;
		h->nqueries--;
		q->fn(d, q->token, q->result, q->result ? NULL : q->err);
		q->result = NULL;
		q->next = NULL;
		agd__history_query_list_free(q);
	}
}
