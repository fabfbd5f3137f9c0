/*
 * daemon/control_requests.c — the control socket's requests about rules
 * (list, add, delete, enable, disable), flows and events.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>

#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/control_internal.h"
#include "daemon/flowtuple.h"
#include "daemon/fpevents.h"
#include "daemon/lists.h"
#include "daemon/policy.h"
#include "linux/sockdiag.h"

int agd__control_op_rules_list(struct req *q)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < q->d->policy.nrules; i++) {
		json_t *r = agd_json_rule(q->d->policy.rules[i]);

		if (r)
			json_array_append_new(a, r);
	}
	agd__control_stream_start(q, STREAM_ARRAY, 0, 0, a);
	return 0;
}

/* Add @rule (which it takes) and answer @c's request @id. */
static void add_reply(struct agd *d, struct agd_client *c, json_t *id, struct ag_rule *rule)
{
	char err[AGD_ERR_MAX];
	int r = agd_rule_add(d, rule, err, sizeof(err));

	if (r) {
		agd__control_reply_err(d, c, id, "failed", "%s", err[0] ? err : strerror(-r));
		ag_rule_free(rule);
		return;
	}
	json_t *o = json_object();

	struct agd_rule *ar = agd_rule_find(d, rule->id);

	json_object_set_new(o, "rule", json_string(rule->id));
	json_object_set_new(o, "new_rule", ar ? agd_json_rule(ar) : json_null());
	agd__control_reply_ok(d, c, id, o);
	ag_rule_free(rule);
}

/* A rule whose list files are being read before it is added. */
struct add_wait {
	uint64_t session;
	struct ag_rule rule;
};

static void drop_add(void *arg)
{
	struct add_wait *w = arg;

	ag_rule_free(&w->rule);
	free(w);
}

/* Its lists are read: add it, if its client still waits. */
static void add_listed(struct agd *d, void *arg)
{
	struct add_wait *w = arg;
	json_t *id = NULL;
	struct agd_client *c = agd__control_waiting(d, w->session, &id);

	if (!c) {
		drop_add(w);	/* the client left: nobody asked any more */
		return;
	}
	add_reply(d, c, id, &w->rule);
	json_decref(id);
	free(w);
	agd_control_client_ready(d, c, 0);
}

int agd__control_op_rules_add(struct req *q)
{
	json_t *obj = json_object_get(q->msg, "rule");
	struct ag_rule rule;
	char lines[AG_RULE_ERR_MAX], msg[512];

	if (!json_is_object(obj)) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"rule\" must be an object");
		return 0;
	}
	if (ag_rule_from_json(obj, AG_RULE_JSON_CONTROL, &rule, lines, sizeof(lines))) {
		ag_rule_err_join(msg, sizeof(msg), lines);
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "%s", msg[0] ? msg : "invalid rule");
		return 0;
	}
	if (rule.lifetime == AG_RULE_UNTIL_QUIT)
		rule.session = q->c->session;

	/* A list file no rule named yet is read on the reader thread first:
	 * the answer waits for it, the loop does not, and the rule is in
	 * force with its list when the client hears it was added. */
	struct add_wait *w = malloc(sizeof(*w));

	if (w) {
		w->session = q->c->session;
		w->rule = rule;
		int r = agd_lists_prefetch(q->d, &w->rule, add_listed, drop_add, w);

		if (r == 1) {
			agd__control_wait(q);
			return 0;
		}
		free(w);
	}
	add_reply(q->d, q->c, q->id, &rule);
	return 0;
}

static int rule_op(struct req *q, int what)
{
	bool bad = false;
	const char *id = agd__control_field_str(q, "rule", &bad);
	int r;

	if (bad)
		return 0;
	if (!id) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"rule\" (a rule id) is missing");
		return 0;
	}
	r = what == 0 ? agd_rule_del(q->d, id) : agd_rule_set_enabled(q->d, id, what == 1);
	if (r == -ENOENT)
		agd__control_reply_err(q->d, q->c, q->id, "not_found", "no rule \"%s\"", id);
	else if (r)
		agd__control_reply_err(q->d, q->c, q->id, "failed", "rule \"%s\": %s", id, strerror(-r));
	else
		agd__control_reply_ok(q->d, q->c, q->id, NULL);
	return 0;
}

int agd__control_op_rules_del(struct req *q)
{
	return rule_op(q, 0);
}

int agd__control_op_rules_enable(struct req *q)
{
	return rule_op(q, 1);
}

int agd__control_op_rules_disable(struct req *q)
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
	struct ag_tuple t;
	struct ag_sock_info si;
	int r;

	if (!d->dp.sd || f->fixed.protocol != AG_IPPROTO_TCP)
		return false;
	agd_tuple_from_fixed(&f->fixed, &t);
	r = ag_sockdiag_lookup(d->dp.sd, &t, &si);
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

int agd__control_op_flows(struct req *q)
{
	struct dump_ctx x = { .d = q->d, .a = json_array() };

	ag_flow_dump(q->d->engine, 1u << AG_FLOW_AUTHORIZED, flow_cb, &x);
	agd_fpevents_flows(q->d, x.a);
	agd__control_stream_start(q, STREAM_ARRAY, 0, 0, x.a);
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

int agd__control_op_events(struct req *q)
{
	json_t *after = json_object_get(q->msg, "after"), *limit = json_object_get(q->msg, "limit");
	struct event_span sp = { 0, 0 };
	json_int_t lim = 1000;

	if ((after && !json_is_integer(after)) || (limit && !json_is_integer(limit))) {
		agd__control_reply_err(q->d, q->c, q->id, "bad_request", "\"after\" and \"limit\" are integers");
		return 0;
	}
	if (limit)
		lim = json_integer_value(limit);
	/* Count first (no JSON), then send only the newest `limit`: the
	 * ring's seqs are consecutive, so that is a range. */
	ag_event_dump(q->d->engine, after ? (uint64_t)json_integer_value(after) : 0,
		      event_count_cb, &sp);
	if (!sp.n || lim == 0) {
		agd__control_reply_ok(q->d, q->c, q->id, json_array());
		return 0;
	}
	uint64_t skip = lim > 0 && (uint64_t)lim < sp.n ? sp.n - (uint64_t)lim : 0;

	agd__control_stream_start(q, STREAM_EVENTS, sp.first + skip - 1, sp.first + sp.n - 1, NULL);
	return 0;
}
