/*
 * daemon/control.c — the control socket (docs/PROTOCOL.md).
 *
 * Every peer is untrusted: its credentials are checked when it connects
 * (root, or a member of control_group, else a refusal and goodbye), every
 * line is bounded (max_message_size), every field is type-checked, and a
 * client that does not read its replies is closed rather than allowed to
 * make the daemon buffer without end.
 *
 * Long answers (pending, events, flows, rules.list) go out in pages, one
 * page per loop turn and only while the client keeps up, so neither one
 * big answer nor a slow reader holds up the loop or anyone else's reply.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/control_internal.h"
#include "daemon/dataplane.h"
#include "daemon/fastpath_sync.h"
#include "daemon/fpevents.h"
#include "daemon/history.h"
#include "daemon/lists.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "daemon/pending.h"
#include "daemon/policy.h"

/* ---- clients ---------------------------------------------------------------------- */

static void stream_end(struct stream *st)
{
	json_decref(st->id);
	json_decref(st->items);
	free(st->snap);
	memset(st, 0, sizeof(*st));
}

static void client_watch(struct agd *d, struct agd_client *c)
{
	uint32_t want = EPOLLIN | (ag_ctl_outq_len(&c->out) ? EPOLLOUT : 0);

	/* While a long answer is sent, the next request waits: EPOLLOUT
	 * alone brings the loop back for each page.  While a query thread
	 * makes it, only a hang-up (always reported) or the answer does. */
	if (c->stream.kind)
		want = c->stream.kind != STREAM_WAIT || ag_ctl_outq_len(&c->out) ? EPOLLOUT : 0;
	if (c->closing)
		want = ag_ctl_outq_len(&c->out) ? EPOLLOUT : 0;
	if (want != c->events) {
		c->events = want;
		agd_loop_mod(d, c->fd, want, c);
	}
}

void agd__control_client_free(struct agd *d, struct agd_client *c)
{
	struct agd_client **pp = &d->control.clients;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	agd_loop_del(d, c->fd);
	close(c->fd);
	ag_ctl_buf_fini(&c->in);
	ag_ctl_outq_fini(&c->out);
	stream_end(&c->stream);
	d->control.nclients--;
	/* S15: "until quit" rules end with their control connection. */
	agd_policy_session_end(d, c->session);
	free(c);
}

/*
 * Queue a message.  A client that cannot keep up is closed: its socket,
 * its max_clients slot and its queue are given back at once, or, when
 * this is one of its own requests, as soon as that request returns.
 */
void agd__control_client_send(struct agd *d, struct agd_client *c, json_t *msg)
{
	if (c->closing || c->dead)
		return;
	int r = ag_ctl_outq_push(&c->out, msg);

	if (r == -ENOBUFS) {
		log_warn("control: client pid %d is not reading (%zu bytes unread); closing it",
			 (int)c->pid, ag_ctl_outq_len(&c->out));
		c->dead = true;
		c->sub_events = c->sub_pending = false;
		if (!c->busy && !d->control.push_depth)
			agd__control_client_free(d, c);
		return;
	}
	r = ag_ctl_outq_flush(&c->out, c->fd);
	if (r < 0 && r != -EAGAIN)
		c->closing = true;
	client_watch(d, c);
}

void agd__control_reply_ok(struct agd *d, struct agd_client *c, json_t *id, json_t *result)
{
	json_t *m = json_object();

	if (id)
		json_object_set(m, "id", id);
	json_object_set_new(m, "ok", json_true());
	json_object_set_new(m, "result", result ? result : json_object());
	agd__control_client_send(d, c, m);
	json_decref(m);
}

void agd__control_reply_err(struct agd *d, struct agd_client *c, json_t *id,
			    const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *m = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (id)
		json_object_set(m, "id", id);
	json_object_set_new(m, "ok", json_false());
	json_object_set_new(m, "error", json_string(msg));
	json_object_set_new(m, "code", json_string(code));
	agd__control_client_send(d, c, m);
	json_decref(m);
}

/* A string field; NULL when absent; *bad when present with another type. */
const char *agd__control_field_str(struct req *q, const char *key, bool *bad)
{
	json_t *v = json_object_get(q->msg, key);

	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"%s\" must be a string", key);
		return NULL;
	}
	return json_string_value(v);
}

static int op_status(struct req *q)
{
	struct agd *d = q->d;
	ag_engine_stats st;
	json_t *o = json_object(), *ctr = json_object();

	ag_engine_get_stats(d->engine, &st);
	json_object_set_new(o, "version", json_string(AGD_VERSION));
	json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t)((ag_boot_ns() - d->started_ns) /
						      1000000000ULL)));
	json_object_set_new(o, "backend", json_string(ag_fw_backend_name(d->dp.fw_backend)));
	json_object_set_new(o, "fail_mode",
			    json_string(d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? "open" : "closed"));
	json_object_set_new(o, "intercept_loopback", json_boolean(d->cfg.intercept_loopback));
	char fp[512];

	agd_fastpath_status(d, fp, sizeof(fp));
	json_object_set_new(o, "fast_path", json_string(fp));
	json_object_set_new(o, "fast_path_info", agd_fastpath_status_json(d));
	json_object_set_new(o, "fast_path_notrack",
			    json_string(d->fastpath.notrack_state[0] ? d->fastpath.notrack_state : "off: no fast path"));
	json_object_set_new(o, "pending", json_integer(d->policy.npending));
	json_object_set_new(o, "flows", json_integer(st.flows));
	json_object_set_new(o, "fast_path_flows", json_integer(agd_fpevents_nflows(d)));
	json_object_set_new(o, "rules", json_integer(d->policy.nrules));
	json_object_set_new(o, "clients", json_integer(d->control.nclients));
	json_object_set_new(o, "engine_memory", json_integer((json_int_t)st.memory));
	agd_dataplane_status(d, ctr);
	json_object_set_new(ctr, "classifies", json_integer((json_int_t)st.classifies));
	json_object_set_new(ctr, "new_flows", json_integer((json_int_t)st.new_flows));
	json_object_set_new(ctr, "completions", json_integer((json_int_t)st.completions));
	json_object_set_new(ctr, "queued_completions",
			    json_integer((json_int_t)st.queued_completions));
	json_object_set_new(ctr, "stale_completions",
			    json_integer((json_int_t)st.stale_completions));
	json_object_set_new(ctr, "permits", json_integer((json_int_t)st.permits));
	json_object_set_new(ctr, "blocks", json_integer((json_int_t)st.blocks));
	json_object_set_new(ctr, "pends", json_integer((json_int_t)st.pends));
	json_object_set_new(ctr, "timeouts", json_integer((json_int_t)st.timeouts));
	json_object_set_new(ctr, "reauthorizations", json_integer((json_int_t)st.reauthorizations));
	json_object_set_new(ctr, "buffered", json_integer((json_int_t)st.buffered));
	json_object_set_new(ctr, "buffer_drops", json_integer((json_int_t)st.buffer_drops));
	json_object_set_new(ctr, "limit_hits", json_integer((json_int_t)st.limit_hits));
	json_object_set_new(ctr, "events", json_integer((json_int_t)st.events));
	json_object_set_new(ctr, "fast_path_events", json_integer((json_int_t)agd_fpevents_decided(d)));
	json_object_set_new(o, "counters", ctr);
	json_object_set_new(o, "history", agd_history_status_json(d));
	json_object_set_new(o, "lists", agd_lists_status_json(d));
	agd__control_reply_ok(d, q->c, q->id, o);
	return 0;
}

/* ---- long answers, in pages ------------------------------------------------------------ */

/* About how many bytes @v takes as JSON, escaping aside: enough to size pages. */
static size_t json_size_guess(const json_t *v)
{
	size_t n = 2;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		json_object_foreach((json_t *)v, key, val)
			n += strlen(key) + 4 + json_size_guess(val);
		return n;
	}
	case JSON_ARRAY:
		for (size_t i = 0; i < json_array_size(v); i++)
			n += 1 + json_size_guess(json_array_get(v, i));
		return n;
	case JSON_STRING:
		return json_string_length(v) + 2;
	default:
		return 24;
	}
}

static bool page_add(struct page *pg, json_t *item)
{
	if (!item)
		return true;
	pg->bytes += json_size_guess(item);
	json_array_append_new(pg->a, item);
	return json_array_size(pg->a) < AGD_PAGE_ITEMS && pg->bytes < AGD_PAGE_BYTES;
}

/* The flows pended when `pending` came; those answered since are skipped
 * (their completion context is stale). */
static void page_pending(struct page *pg, struct stream *st)
{
	while (st->next < st->nsnap)
		if (!page_add(pg, agd_json_pending(pg->d, &st->snap[st->next++])))
			return;
}

static int page_event_cb(const ag_event *ev, void *arg)
{
	struct page *pg = arg;

	if (ev->seq > pg->end) {
		/* what is left of this answer was overwritten meanwhile */
		pg->cursor = pg->end;
		return 1;
	}
	pg->cursor = ev->seq;
	return page_add(pg, agd_json_event(pg->d, ev)) ? 0 : 1;
}

static void page_events(struct page *pg)
{
	if (ag_event_dump(pg->d->engine, pg->cursor, page_event_cb, pg) == 0)
		pg->cursor = pg->end; /* the ring holds nothing more of this answer */
}

/*
 * Send the next page of c's long answer.  Every page but the last says
 * "more": true; a client reads pages with the request's id until one
 * does not.  Returns whether a page was sent.
 */
static bool stream_pump(struct agd *d, struct agd_client *c)
{
	struct stream *st = &c->stream;
	struct page pg = { .d = d, .a = json_array(), .cursor = st->cursor, .end = st->end };
	bool more;

	if (!st->kind || st->kind == STREAM_WAIT || c->dead || c->closing ||
	    ag_ctl_outq_len(&c->out) >= AGD_PAGE_LOWAT) {
		json_decref(pg.a);
		return false;
	}
	switch (st->kind) {
	case STREAM_PENDING:
		page_pending(&pg, st);
		more = st->next < st->nsnap;
		break;
	case STREAM_EVENTS:
		page_events(&pg);
		more = pg.cursor < pg.end;
		break;
	default:
		while (st->next < json_array_size(st->items) &&
		       page_add(&pg, json_incref(json_array_get(st->items, st->next++))))
			;
		more = st->next < json_array_size(st->items);
		break;
	}
	st->cursor = pg.cursor;

	json_t *m = json_object();

	if (st->id)
		json_object_set(m, "id", st->id);
	json_object_set_new(m, "ok", json_true());
	json_object_set_new(m, "result", pg.a);
	if (more)
		json_object_set_new(m, "more", json_true());
	else
		stream_end(st);
	/* the client may be closed here: st is not used after the send */
	agd__control_client_send(d, c, m);
	json_decref(m);
	return true;
}

void agd__control_stream_start(struct req *q, enum stream_kind kind, uint64_t cursor,
			       uint64_t end, json_t *items)
{
	struct stream *st = &q->c->stream;

	st->kind = kind;
	st->id = q->id ? json_incref(q->id) : NULL;
	st->cursor = cursor;
	st->end = end;
	st->items = items;
	stream_pump(q->d, q->c);
}

static int cmp_pending_id(const void *a, const void *b)
{
	uint32_t x = ((const struct agd_pending *)a)->id, y = ((const struct agd_pending *)b)->id;

	return x < y ? -1 : x > y;
}

static int op_pending(struct req *q)
{
	struct agd *d = q->d;
	struct stream *st = &q->c->stream;

	/* The flows pended now, oldest first: those pended meanwhile come as
	 * pushes.  A copy, so the table is free to change between pages. */
	stream_end(st);
	if (d->policy.npending) {
		st->snap = malloc(d->policy.npending * sizeof(*st->snap));
		if (!st->snap) {
			agd__control_reply_err(d, q->c, q->id, "failed", "out of memory");
			return 0;
		}
		memcpy(st->snap, d->policy.pending, d->policy.npending * sizeof(*st->snap));
		st->nsnap = d->policy.npending;
		qsort(st->snap, st->nsnap, sizeof(*st->snap), cmp_pending_id);
	}
	agd__control_stream_start(q, STREAM_PENDING, 0, 0, NULL);
	return 0;
}

static int answer(struct req *q, ag_verdict v)
{
	json_t *pid = json_object_get(q->msg, "pending");
	bool bad = false;
	const char *duration = agd__control_field_str(q, "duration", &bad);
	const char *scope = bad ? NULL : agd__control_field_str(q, "scope", &bad);
	json_t *for_ms = json_object_get(q->msg, "for_ms");
	json_t *reject = json_object_get(q->msg, "reject");
	struct agd_answer res;
	char err[AGD_ERR_MAX];
	uint32_t id;

	if (bad)
		return 0;
	if (json_is_string(pid)) {
		char *end;
		unsigned long n = strtoul(json_string_value(pid), &end, 10);

		if (!*json_string_value(pid) || *end || n > UINT32_MAX) {
			char quoted[AG_CTL_QUOTE_MAX + 1];

			snprintf(quoted, sizeof(quoted), "%s", json_string_value(pid));
			ag_sanitize(quoted);
			return agd__control_reply_err(q->d, q->c, q->id, "bad_request",
					 "\"pending\" must be a pending flow id (a number), not \"%s\"",
					 quoted), 0;
		}
		id = (uint32_t)n;
	} else if (json_is_integer(pid) && json_integer_value(pid) >= 0 &&
		   json_integer_value(pid) <= UINT32_MAX) {
		id = (uint32_t)json_integer_value(pid);
	} else {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"pending\" must be a pending flow id");
		return 0;
	}
	if ((for_ms && !json_is_integer(for_ms)) || (reject && !json_is_boolean(reject))) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request",
			  "\"for_ms\" must be an integer and \"reject\" a boolean");
		return 0;
	}
	if (v == AG_VERDICT_BLOCK && json_is_true(reject))
		v = AG_VERDICT_REJECT;
	if (duration && !strcmp(duration, "for") &&
	    (!for_ms || json_integer_value(for_ms) <= 0)) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "duration \"for\" needs for_ms > 0");
		return 0;
	}
	int r = agd_pending_answer(q->d, id, v, duration ? duration : "once",
				   for_ms ? (uint64_t)json_integer_value(for_ms) : 0, scope,
				   q->c->session, &res, err, sizeof(err));
	if (r) {
		agd__control_reply_err(q->d, q->c, q->id,
			  r == -ENOENT ? "not_found" : r == -EINVAL ? "bad_request" : "failed",
			  "pending flow %u: %s", id, err[0] ? err : strerror(-r));
		return 0;
	}
	json_t *o = json_object();

	struct agd_rule *ar = res.rule_id[0] ? agd_rule_find(q->d, res.rule_id) : NULL;

	json_object_set_new(o, "rule", res.rule_id[0] ? json_string(res.rule_id) : json_null());
	/* What the new rule matches, so the answer can say it. */
	json_object_set_new(o, "new_rule", ar ? agd_json_rule(ar) : json_null());
	json_object_set_new(o, "shadowed_by", agd__control_str_or_null(res.shadowed_by));
	json_object_set_new(o, "warning", agd__control_str_or_null(res.warning));
	agd__control_reply_ok(q->d, q->c, q->id, o);
	return 0;
}

static int op_allow(struct req *q)
{
	return answer(q, AG_VERDICT_PERMIT);
}

static int op_deny(struct req *q)
{
	return answer(q, AG_VERDICT_BLOCK);
}

static int op_subscribe(struct req *q)
{
	json_t *ev = json_object_get(q->msg, "events"), *pe = json_object_get(q->msg, "pending");

	if ((ev && !json_is_boolean(ev)) || (pe && !json_is_boolean(pe))) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"events\" and \"pending\" are booleans");
		return 0;
	}
	q->c->sub_events = json_is_true(ev);
	q->c->sub_pending = json_is_true(pe);
	agd__control_reply_ok(q->d, q->c, q->id, NULL);
	return 0;
}

static int op_reload(struct req *q)
{
	json_t *errors = json_array(), *na = json_array(), *o = json_object();
	int n = agd_reload(q->d, errors, na);

	json_object_set_new(o, "rules", json_integer(n));
	json_object_set_new(o, "errors", errors);
	json_object_set_new(o, "not_applied", na);
	agd__control_reply_ok(q->d, q->c, q->id, o);
	return 0;
}

/* A non-negative integer field; *bad when present with another type. */
static uint64_t field_uint(struct req *q, const char *key, uint64_t def, bool *bad)
{
	json_t *v = json_object_get(q->msg, key);

	if (!v)
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*bad = true;
		return def;
	}
	return (uint64_t)json_integer_value(v);
}

/* "since_ms": how far back, a duration; the answer starts there. */
static uint64_t since_wall(uint64_t since_ms)
{
	uint64_t now = ag_wall_ms();

	return since_ms && since_ms < now ? now - since_ms : 0;
}

/* A history query thread's answer: the client waiting for it (if still
 * there) gets it in pages, then its next request is read. */
static void query_answered(struct agd *d, uint64_t session, json_t *result, const char *err)
{
	struct agd_client *c = d->control.clients;

	while (c && (c->session != session || c->stream.kind != STREAM_WAIT))
		c = c->next;
	if (!c) {
		json_decref(result);
		return;
	}
	if (result) {
		c->stream.kind = STREAM_ARRAY;
		c->stream.items = result;
		c->stream.next = 0;
	} else {
		json_t *id = json_incref(c->stream.id);

		stream_end(&c->stream);
		agd__control_reply_err(d, c, id, "failed", "%s", err);
		json_decref(id);
	}
	/* as if the socket were ready: a page, then what the client sent meanwhile */
	agd_control_client_ready(d, c, 0);
}

void agd__control_wait(struct req *q)
{
	q->c->stream.kind = STREAM_WAIT;
	q->c->stream.id = q->id ? json_incref(q->id) : NULL;
}

struct agd_client *agd__control_waiting(struct agd *d, uint64_t session, json_t **id)
{
	struct agd_client *c = d->control.clients;

	while (c && (c->session != session || c->stream.kind != STREAM_WAIT))
		c = c->next;
	if (!c)
		return NULL;
	*id = json_incref(c->stream.id);
	stream_end(&c->stream);
	return c;
}

/* Hand @f to a query thread; the client waits for the answer, the loop does not. */
static void ask_history(struct req *q, const struct agd_history_filter *f)
{
	char err[AGD_ERR_MAX] = "";
	int r = agd_history_ask(q->d, f, query_answered, q->c->session, err, sizeof(err));

	if (r) {
		agd__control_reply_err(q->d, q->c, q->id, r == -EBUSY ? "busy" : "failed", "%s: %s",
				       f->traffic ? "traffic" : "history", err);
		return;
	}
	q->c->stream.kind = STREAM_WAIT;
	q->c->stream.id = q->id ? json_incref(q->id) : NULL;
}

static int op_history(struct req *q)
{
	struct agd_history_filter f = { 0 };
	bool bad = false;

	f.app = agd__control_field_str(q, "app", &bad);
	f.host = agd__control_field_str(q, "host", &bad);
	f.since_ms = since_wall(field_uint(q, "since_ms", 0, &bad));
	f.limit = field_uint(q, "limit", 0, &bad);
	if (bad) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request",
			  "\"app\", \"host\" are strings; \"since_ms\", \"limit\" non-negative integers");
		return 0;
	}
	ask_history(q, &f);
	return 0;
}

static int op_traffic(struct req *q)
{
	struct agd_history_filter f = { .traffic = true };
	bool bad = false;

	f.since_ms = since_wall(field_uint(q, "since_ms", 0, &bad));
	f.bucket_ms = field_uint(q, "bucket_ms", 0, &bad);
	if (bad || (f.bucket_ms && f.bucket_ms < 1000)) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request",
			  "\"since_ms\" is a non-negative integer, \"bucket_ms\" at least 1000");
		return 0;
	}
	ask_history(q, &f);
	return 0;
}

static int op_hello(struct req *q)
{
	agd__control_reply_ok(q->d, q->c, q->id, NULL);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct req *q);
} ops[] = {
	{ "status", op_status },
	{ "pending", op_pending },
	{ "allow", op_allow },
	{ "deny", op_deny },
	{ "rules.list", agd__control_op_rules_list },
	{ "rules.add", agd__control_op_rules_add },
	{ "rules.del", agd__control_op_rules_del },
	{ "rules.enable", agd__control_op_rules_enable },
	{ "rules.disable", agd__control_op_rules_disable },
	{ "flows", agd__control_op_flows },
	{ "events", agd__control_op_events },
	{ "subscribe", op_subscribe },
	{ "reload", op_reload },
	{ "hello", op_hello },
	{ "history", op_history },
	{ "traffic", op_traffic },
};

static void handle_line(struct agd *d, struct agd_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	struct req q = { .d = d, .c = c, .msg = msg };

	if (!json_is_object(msg)) {
		agd__control_reply_err(d, c, NULL, "bad_json", "not a JSON object: %s",
			  msg ? "another JSON value" : jerr.text);
		json_decref(msg);
		return;
	}
	q.id = json_object_get(msg, "id");
	json_t *op = json_object_get(msg, "op");

	if (!json_is_string(op)) {
		agd__control_reply_err(d, c, q.id, "bad_request", "\"op\" (a string) is missing");
		json_decref(msg);
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(ops[i].name, json_string_value(op)) == 0) {
			ops[i].fn(&q);
			json_decref(msg);
			return;
		}
	}
	char quoted[64];

	snprintf(quoted, sizeof(quoted), "%s", json_string_value(op));
	ag_sanitize(quoted);
	agd__control_reply_err(d, c, q.id, "unknown_op", "unknown op \"%s\"", quoted);
	json_decref(msg);
}

/* Handle the complete lines held, until one starts a long answer. */
static void client_serve(struct agd *d, struct agd_client *c)
{
	char *line;
	size_t len;
	int r = 0;

	while (!c->closing && !c->dead && !c->stream.kind &&
	       (r = ag_ctl_buf_pop(&c->in, &line, &len)) == 1)
		handle_line(d, c, line, len);
	if (!c->closing && !c->dead && r == -EMSGSIZE) {
		agd__control_reply_err(d, c, NULL, "too_long", "message too long (more than %u bytes, limit %u)",
			  d->cfg.max_message_size, d->cfg.max_message_size);
		c->closing = true;
	}
}

void agd_control_client_ready(struct agd *d, struct agd_client *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		int r = ag_ctl_outq_flush(&c->out, c->fd);

		if (r < 0 && r != -EAGAIN) {
			agd__control_client_free(d, c);
			return;
		}
	}
	if (c->closing) {
		if (!ag_ctl_outq_len(&c->out) || (events & (EPOLLHUP | EPOLLERR)))
			agd__control_client_free(d, c);
		else
			client_watch(d, c);
		return;
	}
	/* gone while a query thread makes its answer: the answer is dropped */
	if (c->stream.kind == STREAM_WAIT && (events & (EPOLLHUP | EPOLLERR))) {
		agd__control_client_free(d, c);
		return;
	}
	c->busy = true;
	/* one page per loop turn: the other clients are served in between */
	if (c->stream.kind)
		stream_pump(d, c);
	if (!c->stream.kind && !c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		ssize_t n = ag_ctl_buf_read(&c->in, c->fd);

		if (n == 0 || (n < 0 && n != -EAGAIN && n != -ENOBUFS)) {
			c->busy = false;
			agd__control_client_free(d, c);
			return;
		}
	}
	if (!c->stream.kind && !c->dead)
		client_serve(d, c);
	c->busy = false;
	if (c->dead || (c->closing && !ag_ctl_outq_len(&c->out))) {
		agd__control_client_free(d, c);
		return;
	}
	client_watch(d, c);
}

static bool peer_in_group(int fd, gid_t gid, gid_t primary)
{
	gid_t groups[AGD_PEER_GROUPS_MAX];
	socklen_t len = sizeof(groups);

	if (gid == (gid_t)-1)
		return false;
	if (primary == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * Log a refused peer: the first of each AGD_REFUSED_LOG_S seconds in full,
 * the rest as one count, so a local user looping on connect() cannot
 * flood the log.
 */
static void log_refused(const struct ucred *cred)
{
	static uint64_t window_ns;
	static unsigned long quiet;
	uint64_t now = ag_boot_ns();

	if (window_ns && now - window_ns < AGD_REFUSED_LOG_S * 1000000000ULL) {
		quiet++;
		return;
	}
	if (quiet)
		log_info("control: refused uid %u (pid %d); %lu more refused in the last %llus",
			 (unsigned)cred->uid, (int)cred->pid, quiet,
			 (unsigned long long)((now - window_ns) / 1000000000ULL));
	else
		log_info("control: refused uid %u (pid %d)", (unsigned)cred->uid, (int)cred->pid);
	window_ns = now;
	quiet = 0;
}

void agd_control_accept(struct agd *d)
{
	for (;;) {
		int fd = accept4(d->control.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		json_t *hello;

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		hello = json_pack("{s:s, s:i, s:s}", "hello", "alegate", "version",
				  AG_CTL_PROTOCOL_VERSION, "server", "alegated " AGD_VERSION);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
			close(fd);
			json_decref(hello);
			continue;
		}
		if (d->control.nclients >= d->cfg.max_clients) {
			char msg[64];

			snprintf(msg, sizeof(msg), "too many clients (%u)", d->cfg.max_clients);
			json_object_set_new(hello, "error", json_string(msg));
			json_object_set_new(hello, "code", json_string("busy"));
			ag_ctl_send(fd, hello, 100);
			json_decref(hello);
			close(fd);
			continue;
		}
		if (cred.uid != 0 && !peer_in_group(fd, d->control.gid, cred.gid)) {
			char msg[AG_CONFIG_GROUP_MAX + 128];

			if (d->cfg.control_group[0])
				snprintf(msg, sizeof(msg),
					 "permission denied: uid %u is neither root nor in group "
					 "\"%s\"",
					 (unsigned)cred.uid, d->cfg.control_group);
			else
				snprintf(msg, sizeof(msg),
					 "permission denied: uid %u is not root (no control_group "
					 "is configured)",
					 (unsigned)cred.uid);
			json_object_set_new(hello, "error", json_string(msg));
			json_object_set_new(hello, "code", json_string("denied"));
			ag_ctl_send(fd, hello, 100);
			json_decref(hello);
			close(fd);
			log_refused(&cred);
			continue;
		}
		struct agd_client *c = calloc(1, sizeof(*c));

		if (!c || ag_ctl_buf_init(&c->in, d->cfg.max_message_size) ||
		    ag_ctl_outq_init(&c->out, AGD_CLIENT_OUTQ_MAX)) {
			free(c);
			close(fd);
			json_decref(hello);
			continue;
		}
		c->fd = fd;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		c->session = ++d->control.next_session;
		c->next = d->control.clients;
		d->control.clients = c;
		d->control.nclients++;
		c->events = EPOLLIN;
		agd_loop_add(d, fd, EPOLLIN, c);
		json_object_set_new(hello, "uid", json_integer(cred.uid));
		json_object_set_new(hello, "session", json_integer((json_int_t)c->session));
		agd__control_client_send(d, c, hello);
		json_decref(hello);
	}
}

/* ---- for tests and fuzzing ------------------------------------------------------------ */

struct agd_client *agd__control_client(struct agd *d, int fd, uid_t uid)
{
	struct agd_client *c = calloc(1, sizeof(*c));

	if (!c || ag_ctl_buf_init(&c->in, d->cfg.max_message_size) ||
	    ag_ctl_outq_init(&c->out, AGD_CLIENT_OUTQ_MAX)) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->uid = uid;
	c->session = ++d->control.next_session;
	c->next = d->control.clients;
	d->control.clients = c;
	d->control.nclients++;
	return c;
}

void agd__control_feed(struct agd *d, struct agd_client *c, const char *line, size_t len)
{
	c->busy = true;
	/* a long answer the socket did not take in full is abandoned here;
	 * the loop never reads a request before the last page is out */
	stream_end(&c->stream);
	handle_line(d, c, line, len);
	/* the pages of a long answer, as far as the peer's socket takes them */
	while (c->stream.kind && stream_pump(d, c) && !c->dead && !c->closing &&
	       ag_ctl_outq_flush(&c->out, c->fd) == 0)
		;
	c->busy = false;
}

void agd__control_client_close(struct agd *d, struct agd_client *c)
{
	agd__control_client_free(d, c);
}

/* ---- the socket ------------------------------------------------------------------------ */

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

void agd_control_attach(struct agd *d)
{
	d->listeners.event = agd_control_push_event;
	d->listeners.json_event = agd_control_push_json_event;
	d->listeners.pending = agd_control_push_pending;
	d->listeners.resolved = agd_control_push_resolved;
}

int agd_control_open(struct agd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.control_socket;
	int fd;

	if (d->cfg.control_group[0]) {
		struct group *g = getgrnam(d->cfg.control_group);

		if (!g) {
			log_err("control_group \"%s\": no such group", d->cfg.control_group);
			return -ENOENT;
		}
		d->control.gid = g->gr_gid;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("control_socket \"%s\" is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	mkdir_parent(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* A socket file left by a crash is replaced; a live daemon's is not. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_err("%s: another alegated is answering there", path);
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path);
	mode_t old = umask(0177);

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int e = errno;

		umask(old);
		log_err("control socket %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	umask(old);
	if (chmod(path, d->cfg.control_mode) == -1 ||
	    (d->control.gid != (gid_t)-1 && chown(path, 0, d->control.gid) == -1))
		log_warn("control socket %s: mode/group: %s", path, strerror(errno));
	if (listen(fd, 64) == -1) {
		int e = errno;

		close(fd);
		return -e;
	}
	d->control.listen_fd = fd;
	return agd_loop_add(d, fd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_LISTEN);
}

void agd_control_close(struct agd *d)
{
	json_t *bye = json_pack("{s:{s:s}}", "bye", "reason", "alegated is stopping");

	/* Every client learns why the connection ends, not only subscribers. */
	for (struct agd_client *c = d->control.clients; c; c = c->next)
		agd__control_client_send(d, c, bye);
	json_decref(bye);
	while (d->control.clients) {
		struct agd_client *c = d->control.clients;

		/* best effort: what is queued goes out, then the client goes */
		ag_ctl_outq_flush(&c->out, c->fd);
		agd__control_client_free(d, c);
	}
	if (d->control.listen_fd != -1) {
		close(d->control.listen_fd);
		unlink(d->cfg.control_socket);
		d->control.listen_fd = -1;
	}
}
