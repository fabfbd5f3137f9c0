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
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "daemon/agd.h"
#include "linux/sockdiag.h"
#include "linux/tuple.h"
#include "net/packet.h"

/* A subscriber may fall this far behind before it is closed. */
#define AGD_CLIENT_OUTQ_MAX (4u << 20)
/* A page of a long answer: at most this many items, of about this many
 * bytes (string lengths; escaping can make it up to 6 times more). */
#define AGD_PAGE_ITEMS 256
#define AGD_PAGE_BYTES (256u << 10)
/* The next page is made only once the client's queue is below this. */
#define AGD_PAGE_LOWAT (1u << 20)
/* Refused connections: one log line, then a count per this many seconds. */
#define AGD_REFUSED_LOG_S 10
/* Supplementary groups read for a peer. */
#define AGD_PEER_GROUPS_MAX 256

/* A long answer being sent in pages. */
enum stream_kind { STREAM_NONE, STREAM_PENDING, STREAM_EVENTS, STREAM_ARRAY };

struct stream {
	enum stream_kind kind;
	json_t *id;        /* the request's id, repeated on every page */
	uint64_t cursor;   /* EVENTS: last seq sent */
	uint64_t end;      /* EVENTS: the last seq that belongs to this answer */
	json_t *items;     /* ARRAY: the whole answer, built at once */
	struct agd_pending *snap; /* PENDING: the pended flows, by id */
	size_t nsnap;
	size_t next;       /* ARRAY, PENDING: next index to send */
};

struct agd_client {
	struct agd_client *next;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint64_t session;
	struct ag_ctl_buf in;
	struct ag_ctl_outq out;
	struct stream stream;
	bool sub_events, sub_pending;
	bool closing;      /* send what is queued, then close */
	bool busy;         /* inside one of its own requests: free it after */
	bool dead;         /* fell too far behind: close it, queue and all */
	uint32_t events;   /* what epoll waits for */
};

static gid_t control_gid = (gid_t)-1;
/* Inside push_all(): a client that falls behind is closed at its end. */
static unsigned push_depth;

/* ---- JSON for the protocol's objects --------------------------------------------- */

static const char *proto_name(uint8_t p, char *buf, size_t len)
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

static json_t *endpoint(uint8_t ver, const uint8_t *addr, uint16_t port)
{
	char a[AG_ADDR_STRLEN], s[AG_ADDR_STRLEN + 10];

	if (ag_addr_format(ver, addr, a, sizeof(a)) < 0)
		snprintf(a, sizeof(a), "?");
	if (ver == 6)
		snprintf(s, sizeof(s), "[%s]:%u", a, port);
	else
		snprintf(s, sizeof(s), "%s:%u", a, port);
	return json_string(s);
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *user_name(uint32_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (uid == AG_UID_UNKNOWN || getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res)
		return json_null();
	return json_string(res->pw_name);
}

static json_t *rule_id_of(struct agd *d, uint64_t filter_id)
{
	const ag_filter *f = filter_id ? ag_filter_get(d->engine, filter_id) : NULL;
	struct agd_rule *r = f ? agd_rule_by_handle(d, ag_filter_context(f)) : NULL;

	return r ? json_string(r->rule.id) : json_null();
}

static void set_flow_common(json_t *o, const ag_fixed_values *in)
{
	char pb[8];

	json_object_set_new(o, "proto", json_string(proto_name(in->protocol, pb, sizeof(pb))));
	json_object_set_new(o, "direction", json_string(in->direction == AG_DIR_IN ? "in" : "out"));
	json_object_set_new(o, "local", endpoint(in->ip_version, in->local_addr, in->local_port));
	json_object_set_new(o, "remote",
			    endpoint(in->ip_version, in->remote_addr, in->remote_port));
	json_object_set_new(o, "host", str_or_null(in->remote_host));
}

json_t *agd_json_pending(struct agd *d, const struct agd_pending *p)
{
	ag_flow_info f;
	json_t *o;
	uint64_t now = agd_boottime_ns();

	if (ag_pend_lookup(d->engine, p->context, &f))
		return NULL;
	o = json_object();
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "age_ms", json_integer((json_int_t)((now - p->since_ns) / 1000000)));
	json_object_set_new(o, "pid", f.pid ? json_integer(f.pid) : json_null());
	json_object_set_new(o, "exe", str_or_null(f.fixed.app_path));
	json_object_set_new(o, "cmdline", str_or_null(f.cmdline));
	json_object_set_new(o, "uid", f.fixed.uid == AG_UID_UNKNOWN ? json_null()
								    : json_integer(f.fixed.uid));
	json_object_set_new(o, "user", user_name(f.fixed.uid));
	set_flow_common(o, &f.fixed);
	/* no deadline (a loaded callout's pend without callout_timeout): null */
	json_object_set_new(o, "timeout_ms",
			    !f.deadline_ns ? json_null()
			    : json_integer(f.deadline_ns > now
						   ? (json_int_t)((f.deadline_ns - now) / 1000000)
						   : 0));
	json_object_set_new(o, "callout", str_or_null(f.callout));
	return o;
}

json_t *agd_json_flow(struct agd *d, const ag_flow_info *f)
{
	json_t *o = json_object();

	set_flow_common(o, &f->fixed);
	json_object_set_new(o, "pid", f->pid ? json_integer(f->pid) : json_null());
	json_object_set_new(o, "exe", str_or_null(f->fixed.app_path));
	json_object_set_new(o, "uid", f->fixed.uid == AG_UID_UNKNOWN ? json_null()
								     : json_integer(f->fixed.uid));
	json_object_set_new(o, "rule", rule_id_of(d, f->filter_id));
	json_object_set_new(o, "age_ms",
			    json_integer((json_int_t)((agd_boottime_ns() - f->created_ns) / 1000000)));
	return o;
}

static const char *layer_short(ag_layer l)
{
	switch (l) {
	case AG_LAYER_ALE_AUTH_CONNECT:
		return "connect";
	case AG_LAYER_ALE_AUTH_RECV_ACCEPT:
		return "recv_accept";
	default:
		return "flow_established";
	}
}

json_t *agd_json_event(struct agd *d, const ag_event *ev)
{
	json_t *o = json_object();
	/* engine time is CLOCK_BOOTTIME; people want the wall clock */
	uint64_t age_ms = (agd_boottime_ns() - ev->time_ns) / 1000000;

	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)(agd_wall_ms() - age_ms)));
	json_object_set_new(o, "type", json_string(ag_event_type_name(ev->type)));
	json_object_set_new(o, "reason", json_string(ag_reason_name(ev->reason)));
	json_object_set_new(o, "layer", json_string(layer_short(ev->layer)));
	json_object_set_new(o, "verdict", json_string(ag_verdict_name(ev->verdict)));
	struct agd_rule *r = agd_rule_by_handle(d, ev->filter_context);

	json_object_set_new(o, "rule", r ? json_string(r->rule.id) : json_null());
	if (ev->flow) {
		ag_fixed_values in = {
			.ip_version = ev->ip_version,
			.protocol = ev->protocol,
			.direction = ev->direction,
			.local_port = ev->local_port,
			.remote_port = ev->remote_port,
			.remote_host = ev->remote_host,
		};

		memcpy(in.local_addr, ev->local_addr, 16);
		memcpy(in.remote_addr, ev->remote_addr, 16);
		set_flow_common(o, &in);
		json_object_set_new(o, "pid", ev->pid ? json_integer(ev->pid) : json_null());
		json_object_set_new(o, "uid", ev->uid == AG_UID_UNKNOWN ? json_null()
									: json_integer(ev->uid));
		json_object_set_new(o, "exe", str_or_null(ev->app_path));
	}
	json_object_set_new(o, "count", json_integer(ev->count));
	return o;
}

json_t *agd_json_rule(const struct agd_rule *r)
{
	return ag_rule_to_json(&r->rule, AG_RULE_JSON_CONTROL);
}

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
	 * alone brings the loop back for each page. */
	if (c->stream.kind)
		want = EPOLLOUT;
	if (c->closing)
		want = ag_ctl_outq_len(&c->out) ? EPOLLOUT : 0;
	if (want != c->events) {
		c->events = want;
		agd_loop_mod(d, c->fd, want, c);
	}
}

static void client_free(struct agd *d, struct agd_client *c)
{
	struct agd_client **pp = &d->clients;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	agd_loop_del(d, c->fd);
	close(c->fd);
	ag_ctl_buf_fini(&c->in);
	ag_ctl_outq_fini(&c->out);
	stream_end(&c->stream);
	d->nclients--;
	/* S15: "until quit" rules end with their control connection. */
	agd_policy_session_end(d, c->session);
	free(c);
}

/*
 * Queue a message.  A client that cannot keep up is closed: its socket,
 * its max_clients slot and its queue are given back at once, or, when
 * this is one of its own requests, as soon as that request returns.
 */
static void client_send(struct agd *d, struct agd_client *c, json_t *msg)
{
	if (c->closing || c->dead)
		return;
	int r = ag_ctl_outq_push(&c->out, msg);

	if (r == -ENOBUFS) {
		log_warn("control: client pid %d is not reading (%zu bytes unread); closing it",
			 (int)c->pid, ag_ctl_outq_len(&c->out));
		c->dead = true;
		c->sub_events = c->sub_pending = false;
		if (!c->busy && !push_depth)
			client_free(d, c);
		return;
	}
	r = ag_ctl_outq_flush(&c->out, c->fd);
	if (r < 0 && r != -EAGAIN)
		c->closing = true;
	client_watch(d, c);
}

static void reply_ok(struct agd *d, struct agd_client *c, json_t *id, json_t *result)
{
	json_t *m = json_object();

	if (id)
		json_object_set(m, "id", id);
	json_object_set_new(m, "ok", json_true());
	json_object_set_new(m, "result", result ? result : json_object());
	client_send(d, c, m);
	json_decref(m);
}

static void reply_err(struct agd *d, struct agd_client *c, json_t *id, const char *code,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reply_err(struct agd *d, struct agd_client *c, json_t *id, const char *code,
		      const char *fmt, ...)
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
	client_send(d, c, m);
	json_decref(m);
}

/* ---- requests ----------------------------------------------------------------------- */

struct req {
	struct agd *d;
	struct agd_client *c;
	json_t *msg;
	json_t *id;
};

/* A string field; NULL when absent; *bad when present with another type. */
static const char *field_str(struct req *q, const char *key, bool *bad)
{
	json_t *v = json_object_get(q->msg, key);

	if (!v)
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		reply_err(q->d, q->c, q->id, "bad_request", "\"%s\" must be a string", key);
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
			    json_integer((json_int_t)((agd_boottime_ns() - d->started_ns) /
						      1000000000ULL)));
	json_object_set_new(o, "backend", json_string(ag_fw_backend_name(d->fw_backend)));
	json_object_set_new(o, "fail_mode",
			    json_string(d->cfg.fail_mode == AG_CFG_FAIL_OPEN ? "open" : "closed"));
	json_object_set_new(o, "intercept_loopback", json_boolean(d->cfg.intercept_loopback));
	char fp[512];

	agd_fastpath_status(d, fp, sizeof(fp));
	json_object_set_new(o, "fast_path", json_string(fp));
	json_object_set_new(o, "fast_path_info", agd_fastpath_status_json(d));
	json_object_set_new(o, "fast_path_notrack",
			    json_string(d->notrack_state[0] ? d->notrack_state : "off: no fast path"));
	json_object_set_new(o, "pending", json_integer(d->npending));
	json_object_set_new(o, "flows", json_integer(st.flows));
	json_object_set_new(o, "rules", json_integer(d->nrules));
	json_object_set_new(o, "clients", json_integer(d->nclients));
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
	json_object_set_new(o, "counters", ctr);
	reply_ok(d, q->c, q->id, o);
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

struct page {
	struct agd *d;
	json_t *a;
	size_t bytes;
	uint64_t cursor, end;
};

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

	if (!st->kind || c->dead || c->closing || ag_ctl_outq_len(&c->out) >= AGD_PAGE_LOWAT) {
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
	client_send(d, c, m);
	json_decref(m);
	return true;
}

static void stream_start(struct req *q, enum stream_kind kind, uint64_t cursor, uint64_t end,
			 json_t *items)
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
	if (d->npending) {
		st->snap = malloc(d->npending * sizeof(*st->snap));
		if (!st->snap) {
			reply_err(d, q->c, q->id, "failed", "out of memory");
			return 0;
		}
		memcpy(st->snap, d->pending, d->npending * sizeof(*st->snap));
		st->nsnap = d->npending;
		qsort(st->snap, st->nsnap, sizeof(*st->snap), cmp_pending_id);
	}
	stream_start(q, STREAM_PENDING, 0, 0, NULL);
	return 0;
}

static int answer(struct req *q, ag_verdict v)
{
	json_t *pid = json_object_get(q->msg, "pending");
	bool bad = false;
	const char *duration = field_str(q, "duration", &bad);
	const char *scope = bad ? NULL : field_str(q, "scope", &bad);
	json_t *for_ms = json_object_get(q->msg, "for_ms");
	json_t *reject = json_object_get(q->msg, "reject");
	struct agd_answer res;
	const char *err;
	uint32_t id;

	if (bad)
		return 0;
	if (json_is_string(pid)) {
		char *end;
		unsigned long n = strtoul(json_string_value(pid), &end, 10);

		if (!*json_string_value(pid) || *end || n > UINT32_MAX) {
			char quoted[AG_CTL_QUOTE_MAX + 1];

			snprintf(quoted, sizeof(quoted), "%s", json_string_value(pid));
			ag_ctl_sanitize(quoted);
			return reply_err(q->d, q->c, q->id, "bad_request",
					 "\"pending\" must be a pending flow id (a number), not \"%s\"",
					 quoted), 0;
		}
		id = (uint32_t)n;
	} else if (json_is_integer(pid) && json_integer_value(pid) >= 0 &&
		   json_integer_value(pid) <= UINT32_MAX) {
		id = (uint32_t)json_integer_value(pid);
	} else {
		reply_err(q->d, q->c, q->id, "bad_request", "\"pending\" must be a pending flow id");
		return 0;
	}
	if ((for_ms && !json_is_integer(for_ms)) || (reject && !json_is_boolean(reject))) {
		reply_err(q->d, q->c, q->id, "bad_request",
			  "\"for_ms\" must be an integer and \"reject\" a boolean");
		return 0;
	}
	if (v == AG_VERDICT_BLOCK && json_is_true(reject))
		v = AG_VERDICT_REJECT;
	if (duration && !strcmp(duration, "for") &&
	    (!for_ms || json_integer_value(for_ms) <= 0)) {
		reply_err(q->d, q->c, q->id, "bad_request", "duration \"for\" needs for_ms > 0");
		return 0;
	}
	int r = agd_pending_answer(q->d, id, v, duration ? duration : "once",
				   for_ms ? (uint64_t)json_integer_value(for_ms) : 0, scope,
				   q->c->session, &res, &err);
	if (r) {
		reply_err(q->d, q->c, q->id,
			  r == -ENOENT ? "not_found" : r == -EINVAL ? "bad_request" : "failed",
			  "pending flow %u: %s", id, err ? err : strerror(-r));
		return 0;
	}
	json_t *o = json_object();

	struct agd_rule *ar = res.rule_id[0] ? agd_rule_find(q->d, res.rule_id) : NULL;

	json_object_set_new(o, "rule", res.rule_id[0] ? json_string(res.rule_id) : json_null());
	/* What the new rule matches, so the answer can say it. */
	json_object_set_new(o, "new_rule", ar ? agd_json_rule(ar) : json_null());
	json_object_set_new(o, "shadowed_by", str_or_null(res.shadowed_by));
	json_object_set_new(o, "warning", str_or_null(res.warning));
	reply_ok(q->d, q->c, q->id, o);
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

static int op_rules_list(struct req *q)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < q->d->nrules; i++) {
		json_t *r = agd_json_rule(q->d->rules[i]);

		if (r)
			json_array_append_new(a, r);
	}
	stream_start(q, STREAM_ARRAY, 0, 0, a);
	return 0;
}

struct errbuf {
	char msg[512];
	size_t len;
};

static void collect_err(void *arg, const char *msg)
{
	struct errbuf *e = arg;
	int n = snprintf(e->msg + e->len, sizeof(e->msg) - e->len, "%s%s", e->len ? "; " : "", msg);

	if (n > 0 && e->len + (size_t)n < sizeof(e->msg))
		e->len += (size_t)n;
}

static int op_rules_add(struct req *q)
{
	json_t *obj = json_object_get(q->msg, "rule");
	struct ag_rule rule;
	struct errbuf eb = { .len = 0 };
	const char *err;

	if (!json_is_object(obj)) {
		reply_err(q->d, q->c, q->id, "bad_request", "\"rule\" must be an object");
		return 0;
	}
	if (ag_rule_from_json(obj, AG_RULE_JSON_CONTROL, &rule, collect_err, &eb)) {
		reply_err(q->d, q->c, q->id, "bad_request", "%s", eb.len ? eb.msg : "invalid rule");
		return 0;
	}
	if (rule.lifetime == AG_RULE_UNTIL_QUIT)
		rule.session = q->c->session;
	rule.source[0] = 0;
	int r = agd_rule_add(q->d, &rule, &err);

	if (r) {
		reply_err(q->d, q->c, q->id, r == -EEXIST ? "failed" : "failed", "%s",
			  err ? err : strerror(-r));
		return 0;
	}
	json_t *o = json_object();

	struct agd_rule *ar = agd_rule_find(q->d, rule.id);

	json_object_set_new(o, "rule", json_string(rule.id));
	json_object_set_new(o, "new_rule", ar ? agd_json_rule(ar) : json_null());
	reply_ok(q->d, q->c, q->id, o);
	return 0;
}

static int rule_op(struct req *q, int what)
{
	bool bad = false;
	const char *id = field_str(q, "rule", &bad);
	int r;

	if (bad)
		return 0;
	if (!id) {
		reply_err(q->d, q->c, q->id, "bad_request", "\"rule\" (a rule id) is missing");
		return 0;
	}
	r = what == 0 ? agd_rule_del(q->d, id) : agd_rule_set_enabled(q->d, id, what == 1);
	if (r == -ENOENT)
		reply_err(q->d, q->c, q->id, "not_found", "no rule \"%s\"", id);
	else if (r)
		reply_err(q->d, q->c, q->id, "failed", "rule \"%s\": %s", id, strerror(-r));
	else
		reply_ok(q->d, q->c, q->id, NULL);
	return 0;
}

static int op_rules_del(struct req *q)
{
	return rule_op(q, 0);
}

static int op_rules_enable(struct req *q)
{
	return rule_op(q, 1);
}

static int op_rules_disable(struct req *q)
{
	return rule_op(q, 2);
}

struct dump_ctx {
	struct agd *d;
	json_t *a;
	json_int_t limit;
};

/*
 * A TCP flow whose program closed it: its socket is gone, or in TIME_WAIT,
 * which conntrack keeps for two minutes after the close.  Not live, so
 * `flows` leaves it out; the conntrack DESTROY ends it in the engine later.
 */
static bool tcp_flow_closed(struct agd *d, const ag_flow_info *f)
{
	struct ag_tuple t = {
		.ip_version = f->fixed.ip_version,
		.protocol = f->fixed.protocol,
		.sport = f->fixed.local_port,
		.dport = f->fixed.remote_port,
	};
	struct ag_sock_info si;
	int r;

	if (!d->sd || f->fixed.protocol != AG_IPPROTO_TCP)
		return false;
	memcpy(t.src, f->fixed.local_addr, 16);
	memcpy(t.dst, f->fixed.remote_addr, 16);
	r = ag_sockdiag_lookup(d->sd, &t, &si);
	if (r == -ENOENT)
		return true;
	return r == 0 && (si.state == TCP_TIME_WAIT || si.state == TCP_CLOSE ||
			  si.state == TCP_LAST_ACK);
}

static int flow_cb(const ag_flow_info *f, void *arg)
{
	struct dump_ctx *x = arg;

	if (tcp_flow_closed(x->d, f))
		return 0;
	json_array_append_new(x->a, agd_json_flow(x->d, f));
	return 0;
}

static int op_flows(struct req *q)
{
	struct dump_ctx x = { .d = q->d, .a = json_array() };

	ag_flow_dump(q->d->engine, 1u << AG_FLOW_AUTHORIZED, flow_cb, &x);
	stream_start(q, STREAM_ARRAY, 0, 0, x.a);
	return 0;
}

struct event_span {
	uint64_t first, n;
};

static int event_count_cb(const ag_event *ev, void *arg)
{
	struct event_span *sp = arg;

	if (!sp->n++)
		sp->first = ev->seq;
	return 0;
}

static int op_events(struct req *q)
{
	json_t *after = json_object_get(q->msg, "after"), *limit = json_object_get(q->msg, "limit");
	struct event_span sp = { 0, 0 };
	json_int_t lim = 1000;

	if ((after && !json_is_integer(after)) || (limit && !json_is_integer(limit))) {
		reply_err(q->d, q->c, q->id, "bad_request", "\"after\" and \"limit\" are integers");
		return 0;
	}
	if (limit)
		lim = json_integer_value(limit);
	/* Count first (no JSON), then send only the newest `limit`: the
	 * ring's seqs are consecutive, so that is a range. */
	ag_event_dump(q->d->engine, after ? (uint64_t)json_integer_value(after) : 0,
		      event_count_cb, &sp);
	if (!sp.n || lim == 0) {
		reply_ok(q->d, q->c, q->id, json_array());
		return 0;
	}
	uint64_t skip = lim > 0 && (uint64_t)lim < sp.n ? sp.n - (uint64_t)lim : 0;

	stream_start(q, STREAM_EVENTS, sp.first + skip - 1, sp.first + sp.n - 1, NULL);
	return 0;
}

static int op_subscribe(struct req *q)
{
	json_t *ev = json_object_get(q->msg, "events"), *pe = json_object_get(q->msg, "pending");

	if ((ev && !json_is_boolean(ev)) || (pe && !json_is_boolean(pe))) {
		reply_err(q->d, q->c, q->id, "bad_request", "\"events\" and \"pending\" are booleans");
		return 0;
	}
	q->c->sub_events = json_is_true(ev);
	q->c->sub_pending = json_is_true(pe);
	reply_ok(q->d, q->c, q->id, NULL);
	return 0;
}

static int op_reload(struct req *q)
{
	json_t *errors = json_array(), *na = json_array(), *o = json_object();
	int n = agd_reload(q->d, errors, na);

	json_object_set_new(o, "rules", json_integer(n));
	json_object_set_new(o, "errors", errors);
	json_object_set_new(o, "not_applied", na);
	reply_ok(q->d, q->c, q->id, o);
	return 0;
}

static int op_hello(struct req *q)
{
	reply_ok(q->d, q->c, q->id, NULL);
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
	{ "rules.list", op_rules_list },
	{ "rules.add", op_rules_add },
	{ "rules.del", op_rules_del },
	{ "rules.enable", op_rules_enable },
	{ "rules.disable", op_rules_disable },
	{ "flows", op_flows },
	{ "events", op_events },
	{ "subscribe", op_subscribe },
	{ "reload", op_reload },
	{ "hello", op_hello },
};

static void handle_line(struct agd *d, struct agd_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	struct req q = { .d = d, .c = c, .msg = msg };

	if (!json_is_object(msg)) {
		reply_err(d, c, NULL, "bad_json", "not a JSON object: %s",
			  msg ? "another JSON value" : jerr.text);
		json_decref(msg);
		return;
	}
	q.id = json_object_get(msg, "id");
	json_t *op = json_object_get(msg, "op");

	if (!json_is_string(op)) {
		reply_err(d, c, q.id, "bad_request", "\"op\" (a string) is missing");
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
	ag_ctl_sanitize(quoted);
	reply_err(d, c, q.id, "unknown_op", "unknown op \"%s\"", quoted);
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
		reply_err(d, c, NULL, "too_long", "message too long (more than %u bytes, limit %u)",
			  d->cfg.max_message_size, d->cfg.max_message_size);
		c->closing = true;
	}
}

void agd_control_client_ready(struct agd *d, struct agd_client *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		int r = ag_ctl_outq_flush(&c->out, c->fd);

		if (r < 0 && r != -EAGAIN) {
			client_free(d, c);
			return;
		}
	}
	if (c->closing) {
		if (!ag_ctl_outq_len(&c->out) || (events & (EPOLLHUP | EPOLLERR)))
			client_free(d, c);
		else
			client_watch(d, c);
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
			client_free(d, c);
			return;
		}
	}
	if (!c->stream.kind && !c->dead)
		client_serve(d, c);
	c->busy = false;
	if (c->dead || (c->closing && !ag_ctl_outq_len(&c->out))) {
		client_free(d, c);
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
	uint64_t now = agd_boottime_ns();

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
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		if (d->nclients >= d->cfg.max_clients) {
			char msg[64];

			snprintf(msg, sizeof(msg), "too many clients (%u)", d->cfg.max_clients);
			json_object_set_new(hello, "error", json_string(msg));
			json_object_set_new(hello, "code", json_string("busy"));
			ag_ctl_send(fd, hello, 100);
			json_decref(hello);
			close(fd);
			continue;
		}
		if (cred.uid != 0 && !peer_in_group(fd, control_gid, cred.gid)) {
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
		c->session = ++d->next_session;
		c->next = d->clients;
		d->clients = c;
		d->nclients++;
		c->events = EPOLLIN;
		agd_loop_add(d, fd, EPOLLIN, c);
		json_object_set_new(hello, "uid", json_integer(cred.uid));
		json_object_set_new(hello, "session", json_integer((json_int_t)c->session));
		client_send(d, c, hello);
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
	c->session = ++d->next_session;
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
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
	client_free(d, c);
}

/* ---- pushes -------------------------------------------------------------------------- */

/*
 * Closing a client can end its session's rules, whose events are pushed
 * in turn: so the clients that fell behind are closed once the list is no
 * longer walked, not in the middle of it.
 */
static void push_all(struct agd *d, bool events, json_t *msg)
{
	push_depth++;
	for (struct agd_client *c = d->clients; c; c = c->next)
		if (events ? c->sub_events : c->sub_pending)
			client_send(d, c, msg);
	if (--push_depth)
		return;
	for (struct agd_client *c = d->clients; c;) {
		if (c->dead && !c->busy) {
			client_free(d, c);
			c = d->clients; /* freeing may have changed the list */
		} else {
			c = c->next;
		}
	}
}

void agd_control_push_event(struct agd *d, const ag_event *ev)
{
	bool any = false;

	for (struct agd_client *c = d->clients; c && !any; c = c->next)
		any = c->sub_events;
	if (!any)
		return;
	json_t *m = json_object();

	json_object_set_new(m, "event", agd_json_event(d, ev));
	push_all(d, true, m);
	json_decref(m);
}

void agd_control_push_pending(struct agd *d, const struct agd_pending *p)
{
	json_t *o = NULL;

	for (struct agd_client *c = d->clients; c; c = c->next) {
		if (!c->sub_pending)
			continue;
		if (!o && !(o = agd_json_pending(d, p)))
			return;
	}
	if (!o)
		return;
	json_t *m = json_object();

	json_object_set_new(m, "pending", o);
	push_all(d, false, m);
	json_decref(m);
}

void agd_control_push_resolved(struct agd *d, uint32_t id, const char *reason,
			       const char *verdict)
{
	json_t *m = json_pack("{s:{s:i, s:s}}", "resolved", "id", (json_int_t)id, "verdict",
			      verdict);

	if (reason)
		json_object_set_new(json_object_get(m, "resolved"), "reason", json_string(reason));

	push_all(d, false, m);
	json_decref(m);
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
		control_gid = g->gr_gid;
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
	    (control_gid != (gid_t)-1 && chown(path, 0, control_gid) == -1))
		log_warn("control socket %s: mode/group: %s", path, strerror(errno));
	if (listen(fd, 64) == -1) {
		int e = errno;

		close(fd);
		return -e;
	}
	d->listen_fd = fd;
	return agd_loop_add(d, fd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_LISTEN);
}

void agd_control_close(struct agd *d)
{
	json_t *bye = json_pack("{s:{s:s}}", "bye", "reason", "alegated is stopping");

	/* Every client learns why the connection ends, not only subscribers. */
	for (struct agd_client *c = d->clients; c; c = c->next)
		client_send(d, c, bye);
	json_decref(bye);
	while (d->clients) {
		struct agd_client *c = d->clients;

		/* best effort: what is queued goes out, then the client goes */
		ag_ctl_outq_flush(&c->out, c->fd);
		client_free(d, c);
	}
	if (d->listen_fd != -1) {
		close(d->listen_fd);
		unlink(d->cfg.control_socket);
		d->listen_fd = -1;
	}
}
