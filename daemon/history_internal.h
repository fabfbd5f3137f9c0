/*
 * daemon/history_internal.h — what the history's files (history*.c) share
 * and nothing else uses: the history's state, a query on its way to a query
 * thread and back, and the helpers both the writer and the queries call.
 */
#ifndef ALEGATE_DAEMON_HISTORY_INTERNAL_H
#define ALEGATE_DAEMON_HISTORY_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "daemon/alegated.h"
#include "daemon/history.h"

/* Rows a `history` answer holds at most. */
#define AGD_HISTORY_LIMIT_MAX 100000
/* Queries that run at once: one thread and read-only connection each. */
#define AGD_HISTORY_QUERY_THREADS 2
/* Queries waiting, running or answered but not yet sent, at most. */
#define AGD_HISTORY_QUERIES_MAX 16
/* The query threads' nice value: on a busy machine the loop that decides
 * connections gets the CPU before a month of rows is summed. */
#define AGD_HISTORY_QUERY_NICE 10

struct hrec;

/* Decided connections on their way to the writer: the loop fills one,
 * the writer swaps it for the one it wrote.  Strings in text, by offset. */
struct hqueue {
	struct hrec *r;
	size_t n, cap;
	char *text;
	size_t tlen, tcap;
};

/* A query on its way to a query thread and back. */
struct hquery {
	struct hquery *next;
	struct agd_history_filter f;	/* app, host in mem */
	char *mem;
	agd_history_answer_fn *fn;
	uint64_t token;
	json_t *result;			/* NULL: err says why */
	char err[AGD_ERR_MAX];
};

struct hquerier {
	struct agd_history *h;
	sqlite3 *db;
	pthread_t thread;
	bool on;
};

struct agd_history {
	sqlite3 *wdb;
	pthread_t thread;
	bool thread_on;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hqueue q;
	bool stop;
	enum ag_cfg_event_log event_log;	/* the writer's copies */
	unsigned days, max_mb;
	/* set by the loop (a reload), taken by the writer at its next batch */
	enum ag_cfg_event_log new_event_log;
	unsigned new_days, new_max_mb;
	/* counters: the loop reads them under mu */
	uint64_t rows, ends, dropped, write_errors, trimmed;

	/* queries: todo and done under qmu; nqueries is the loop's own */
	struct hquerier qt[AGD_HISTORY_QUERY_THREADS];
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct hquery *todo, **todo_tail, *done;
	bool qstop;
	unsigned qready;		/* query threads that set their priority */
	unsigned nqueries;
	int qfd;			/* eventfd: answers are ready */
};

/* Binds s, or NULL when s is NULL or empty. */
void agd__history_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Frees a list of queries, their answers with them. */
void agd__history_query_list_free(struct hquery *q);
/* A query thread (pthread_create()'s start routine). */
void *agd__history_querier(void *arg);

#endif
