/*
 * daemon/history.h — every decided connection into SQLite, owned by
 * history.c (struct agd_history, opaque): a writer thread fed through a
 * bounded queue, the `history` and `traffic` queries, and event_log
 * records.
 */
#ifndef ALEGATE_DAEMON_HISTORY_H
#define ALEGATE_DAEMON_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alegate/engine.h"
#include "base/addr.h"

struct agd;

/* A decided connection, as history and event_log keep it.  Strings are
 * copied. */
struct agd_conn {
	uint64_t flow;           /* the engine's handle or the fast path's id; 0: none */
	uint64_t time_ms;        /* wall clock */
	const char *exe, *host, *rule;
	const char *action;      /* allow, deny, reject */
	const char *decided;     /* fastpath, rule, person, timeout, callout, shutdown */
	uint32_t pid, uid;       /* 0 / AG_UID_UNKNOWN: unknown */
	uint8_t ip_version, protocol, direction;
	ag_addr local_addr, remote_addr;
	uint16_t local_port, remote_port;
	bool no_local;           /* the local address is not known */
};

struct agd_history_filter {
	bool traffic;            /* `traffic` (since_ms, bucket_ms), else `history` */
	uint64_t since_ms;       /* wall clock */
	const char *app, *host;  /* NULL: any */
	uint64_t limit;          /* 0: the most an answer holds */
	uint64_t bucket_ms;      /* traffic: 0, or a "series" per program in these steps */
};

/* The answer to agd_history_ask(): @result (taken) or NULL and @err. */
typedef void agd_history_answer_fn(struct agd *d, uint64_t token, json_t *result,
				   const char *err);

/* Open state_dir/history.db and start its writer thread (before privileges
 * are dropped).  Returns 0 or -errno (logged); the daemon runs without
 * history then. */
int agd_history_open(struct agd *d);
/* history_days, history_max_mb and event_log from d->cfg (a reload): the
 * writer takes them at its next batch.  state_dir keeps the start's. */
void agd_history_reconfigure(struct agd *d);
/* Write what is queued, stop the thread, close.  Accepts history off. */
void agd_history_close(struct agd *d);
/* Engine event hook: a first decision becomes a row (and an event_log record). */
void agd_history_event(struct agd *d, const ag_event *ev);
/* Queue a decided connection, or the end of one with its bytes.  Never
 * blocks on the database; past the queue's bound records are counted and
 * dropped. */
void agd_history_conn(struct agd *d, const struct agd_conn *c);
void agd_history_end(struct agd *d, uint64_t flow, uint64_t bytes_in, uint64_t bytes_out);
/*
 * Run a query on a query thread: `history` (rows newest first) or `traffic`
 * (per program, largest first; with bucket_ms, each row's "series" of
 * [start_ms, bytes_in, bytes_out, connections]).  @fn gets the answer in
 * the loop (agd_history_answers) with @token, never from inside this call.
 * Returns 0, or -ENOENT (history off), -EBUSY (too many queries under way),
 * -ENOMEM, with err[0..errlen) saying why.
 */
int agd_history_ask(struct agd *d, const struct agd_history_filter *f, agd_history_answer_fn *fn,
		    uint64_t token, char *err, size_t errlen);
/* AGD_TAG_HISTORY: hand the answers of the queries that ended to their fn. */
void agd_history_answers(struct agd *d);
json_t *agd_history_status_json(struct agd *d);

#endif
