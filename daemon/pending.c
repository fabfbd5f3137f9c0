/*
 * daemon/pending.c — the flows `ask` pended, and what a person's answer to
 * one does: the verdict, and the rule an answer for longer than once makes.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "alegate/callouts.h"
#include "base/err.h"
#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/pending.h"
#include "daemon/policy.h"
#include "linux/exeid.h"
#include "net/packet.h"

struct agd_pending *agd_pending_find(struct agd *d, uint32_t id)
{
	for (uint32_t i = 0; i < d->policy.npending; i++)
		if (d->policy.pending[i].id == id)
			return &d->policy.pending[i];
	return NULL;
}

static struct agd_pending *pending_by_flow(struct agd *d, uint64_t flow)
{
	for (uint32_t i = 0; i < d->policy.npending; i++)
		if (d->policy.pending[i].flow == flow)
			return &d->policy.pending[i];
	return NULL;
}

void agd_pending_event(struct agd *d, const ag_event *ev)
{
	if (ev->type == AG_EVENT_PEND) {
		ag_flow_info info;

		if (ag_flow_get(d->engine, ev->flow, &info))
			return;
		if (d->policy.npending == d->policy.cappending) {
			uint32_t n = d->policy.cappending ? d->policy.cappending * 2 : 64;
			void *p = realloc(d->policy.pending, n * sizeof(*d->policy.pending));

			if (!p)
				return; /* still pended in the engine; times out as usual */
			d->policy.pending = p;
			d->policy.cappending = n;
		}
		struct agd_pending *p = &d->policy.pending[d->policy.npending++];

		/* 0 is "none" to clients (a falsy id in a script): skipped at
		 * the wrap, after 2^32 - 1 pended flows */
		if (!++d->policy.next_pending_id)
			++d->policy.next_pending_id;
		p->id = d->policy.next_pending_id;
		p->context = info.completion_context;
		p->flow = ev->flow;
		p->since_ns = info.created_ns;
		if (d->listeners.pending)
			d->listeners.pending(d, p);
		return;
	}
	/* A pended flow ends with a PERMIT or BLOCK carrying how it ended. */
	if ((ev->type != AG_EVENT_PERMIT && ev->type != AG_EVENT_BLOCK) || !d->policy.npending)
		return;
	if (ev->reason != AG_REASON_COMPLETED && ev->reason != AG_REASON_INJECTED &&
	    ev->reason != AG_REASON_TIMEOUT && ev->reason != AG_REASON_SHUTDOWN)
		return;
	struct agd_pending *p = pending_by_flow(d, ev->flow);

	if (!p)
		return;
	uint32_t id = p->id;

	*p = d->policy.pending[--d->policy.npending];
	if (!d->listeners.resolved)
		return;
	d->listeners.resolved(d, id, ev->reason == AG_REASON_SHUTDOWN ? "alegated is stopping" : NULL,
			       ev->reason == AG_REASON_TIMEOUT
				       ? (ev->type == AG_EVENT_PERMIT ? "allow (timeout)"
								      : "deny (timeout)")
				       : (ev->type == AG_EVENT_PERMIT ? "allow" : "deny"));
}

/* The rule that "allow ID --always --scope S" means. */
static int rule_from_flow(const ag_flow_info *f, ag_verdict v, const char *scope,
			  struct ag_rule *r, char *err, size_t errlen)
{
	bool app = false, host = false, remote = false, port = false;
	int bad = 0;

	ag_rule_init(r);
	r->action = v == AG_VERDICT_PERMIT ? AG_RULE_ALLOW
		    : v == AG_VERDICT_REJECT ? AG_RULE_REJECT
					     : AG_RULE_DENY;
	if (!scope || !scope[0])
		scope = f->fixed.remote_host ? "app+host" : "app+remote";
	if (!strcmp(scope, "app")) {
		app = true;
	} else if (!strcmp(scope, "app+host")) {
		app = true;
		host = f->fixed.remote_host != NULL;
		remote = !host;
	} else if (!strcmp(scope, "app+remote")) {
		app = remote = true;
	} else if (!strcmp(scope, "app+port")) {
		app = port = true;
	} else {
		ag_seterr(err, errlen, "%s", "scope must be app, app+host, app+remote or app+port");
		return -EINVAL;
	}
	/* Without its program, "app" alone would be a rule for every program
	 * of the user (or of everyone) to anywhere: not what was asked. */
	if (app && !host && !remote && !port && !f->fixed.app_path) {
		ag_seterr(err, errlen, "%s",
			"the program of this flow is unknown, so scope app would match every "
			"program to anywhere; answer once, or use app+host, app+remote or "
			"app+port");
		return -EINVAL;
	}
	if (app && f->fixed.app_path)
		bad |= ag_rule_add_app(r, f->fixed.app_path);
	else if (app && f->fixed.uid != AG_UID_UNKNOWN)
		/* the program is unknown: the next best is its user */
		bad |= ag_rule_add_uid(r, f->fixed.uid);
	if (host)
		bad |= ag_rule_add_host(r, f->fixed.remote_host);
	if (remote)
		bad |= ag_rule_add_remote(r, f->fixed.ip_version == 6 ? AF_INET6 : AF_INET,
					  f->fixed.remote_addr.b, f->fixed.ip_version == 6 ? 128 : 32);
	if (port) {
		uint16_t p = f->fixed.direction == AG_DIR_IN ? f->fixed.local_port
							     : f->fixed.remote_port;

		bad |= ag_rule_add_port(r, p, p);
		bad |= ag_rule_add_proto(r, f->fixed.protocol);
	}
	if (bad) {
		ag_rule_free(r);
		ag_seterr(err, errlen, "%s", "out of memory");
		return -ENOMEM;
	}
	r->direction = f->fixed.direction == AG_DIR_IN ? AG_RULE_IN : AG_RULE_OUT;
	r->has |= AG_RULE_HAS_DIRECTION;
	r->created = (int64_t)(ag_wall_ms() / 1000);
	r->has |= AG_RULE_HAS_CREATED;
	return 0;
}

static bool remote_matches(const struct ag_rule_remote *v, const ag_fixed_values *in)
{
	unsigned full = v->plen / 8, rest = v->plen % 8;

	return in->ip_version == (v->family == AF_INET6 ? 6 : 4) &&
	       memcmp(v->addr, in->remote_addr.b, full) == 0 &&
	       !(rest && ((v->addr[full] ^ in->remote_addr.b[full]) & (uint8_t)(0xff << (8 - rest))));
}

static bool host_matches(const struct ag_rule_host *v, const char *h)
{
	size_t hl = h ? strlen(h) : 0, sl = strlen(v->name) - 1;

	if (!h)
		return false;
	return v->wildcard ? hl > sl && strcasecmp(h + hl - sl, v->name + 1) == 0
			   : strcasecmp(h, v->name) == 0;
}

/*
 * Whether the enabled rule @r matches the flow @in, as its filters would:
 * each condition by one of its values.
 */
static bool rule_matches(const struct ag_rule *r, const ag_fixed_values *in)
{
	bool inbound = in->direction == AG_DIR_IN;
	uint16_t port = inbound ? in->local_port : in->remote_port;
	bool ok;

	if (!r->enabled)
		return false;
	if ((r->has & AG_RULE_HAS_DIRECTION) && (r->direction == AG_RULE_IN) != inbound)
		return false;
	ok = !r->n_app;
	for (unsigned i = 0; !ok && i < r->n_app && in->app_path; i++)
		ok = r->app[i].glob ? fnmatch(r->app[i].path, in->app_path, 0) == 0
				    : strcmp(r->app[i].path, in->app_path) == 0;
	if (!ok)
		return false;
	ok = !r->n_user;
	for (unsigned i = 0; !ok && i < r->n_user; i++)
		ok = r->user[i].uid_known && r->user[i].uid == in->uid;
	if (!ok)
		return false;
	ok = !r->n_remote;
	for (unsigned i = 0; !ok && i < r->n_remote; i++)
		ok = remote_matches(&r->remote[i], in);
	if (!ok)
		return false;
	ok = !r->n_host;
	for (unsigned i = 0; !ok && i < r->n_host; i++)
		ok = host_matches(&r->host[i], in->remote_host);
	if (!ok)
		return false;
	ok = !r->n_port;
	for (unsigned i = 0; !ok && i < r->n_port; i++)
		ok = port >= r->port[i].lo && port <= r->port[i].hi;
	if (!ok)
		return false;
	ok = !r->n_proto;
	for (unsigned i = 0; !ok && i < r->n_proto; i++)
		ok = r->proto[i] == in->protocol;
	return ok;
}

static bool same_verdict(enum ag_rule_action a, enum ag_rule_action b)
{
	bool block_a = a == AG_RULE_DENY || a == AG_RULE_REJECT;
	bool block_b = b == AG_RULE_DENY || b == AG_RULE_REJECT;

	return a == b || (block_a && block_b);
}

/*
 * The rule that decides flows like @in before @mine does, with another
 * verdict: the one of highest weight among the enabled rules that match
 * and outrank it (rule weight, then specificity, then deny: agd_rule_filter_weight).
 */
static const struct agd_rule *shadowing_rule(struct agd *d, const struct ag_rule *mine,
					     const ag_fixed_values *in)
{
	const struct agd_rule *best = NULL;
	uint32_t w = agd_rule_filter_weight(mine), bw = 0;
	struct ag_rule_view view;	/* each rule's in turn */

	for (uint32_t i = 0; i < d->policy.nrules; i++) {
		const struct agd_rule *ar = d->policy.rules[i];
		const struct ag_rule_packed *p = agd_rule_packed(ar);
		uint32_t aw = agd_filter_weight(p->has, p->weight, (enum ag_rule_action)p->action);

		/* from the header first: only a rule that outranks is unpacked */
		if (!p->enabled || aw <= w || aw <= bw || !strcmp(p->id, mine->id) ||
		    !rule_matches(agd_rule_view(ar, &view), in))
			continue;
		best = ar;
		bw = aw;
	}
	return best && !same_verdict(agd_rule_packed(best)->action, mine->action) ? best : NULL;
}

int agd_pending_answer(struct agd *d, uint32_t id, ag_verdict verdict, const char *duration,
		       uint64_t for_ms, const char *scope, uint64_t session, struct agd_answer *res,
		       char *err, size_t errlen)
{
	struct agd_pending *p = agd_pending_find(d, id);
	ag_flow_info info;
	struct ag_rule rule;
	bool make_rule = duration && strcmp(duration, "once") != 0;
	int r;

	ag_rule_init(&rule);
	ag_seterr(err, errlen, "%s", "");
	memset(res, 0, sizeof(*res));
	if (!p || ag_pend_lookup(d->engine, p->context, &info)) {
		ag_seterr(err, errlen, "%s", "no such pending flow (answered, timed out, or never pended)");
		return -ENOENT;
	}
	if (make_rule) {
		if ((r = rule_from_flow(&info, verdict, scope, &rule, err, errlen)))
			return r;
		if (!strcmp(duration, "always")) {
			rule.lifetime = AG_RULE_ALWAYS;
		} else if (!strcmp(duration, "until-restart")) {
			rule.lifetime = AG_RULE_UNTIL_RESTART;
		} else if (!strcmp(duration, "until-quit")) {
			rule.lifetime = AG_RULE_UNTIL_QUIT;
			rule.session = session;
		} else if (!strcmp(duration, "for") && for_ms) {
			rule.lifetime = AG_RULE_TIMED;
			rule.expires_ns = ag_boot_ns() + for_ms * 1000000ULL;
		} else {
			ag_seterr(err, errlen, "%s", "duration must be once, for (with for_ms), until-quit, "
			       "until-restart or always");
			r = -EINVAL;
			goto out;
		}
	}
	/* The flow first: the answer is for it, whatever the rule does next. */
	r = ag_ask_decide(d->engine, p->context, verdict);
	if (r && r != AG_E_NO_CONTEXT) {
		ag_seterr(err, errlen, "%s", ag_strerror(r));
		r = -EINVAL;
		goto out;
	}
	if (make_rule) {
		bool save_failed;
		const struct agd_rule *over;

		r = agd_rule_add_saving(d, &rule, err, errlen, &save_failed);
		if (r && save_failed) {
			/* The flow is decided; the rule still holds until restart
			 * rather than not at all, and the answer says so. */
			snprintf(res->warning, sizeof(res->warning),
				 "%s; the rule is kept until alegated restarts", err);
			rule.lifetime = AG_RULE_UNTIL_RESTART;
			r = agd_rule_add_saving(d, &rule, err, errlen, &save_failed);
		}
		if (r)
			goto out;
		snprintf(res->rule_id, sizeof(res->rule_id), "%s", rule.id);
		over = shadowing_rule(d, &rule, &info.fixed);
		if (over)
			snprintf(res->shadowed_by, sizeof(res->shadowed_by), "%s", agd_rule_id(over));
	}
	r = 0;
out:
	ag_rule_free(&rule);
	return r;
}
