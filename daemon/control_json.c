/*
 * daemon/control_json.c — the protocol's objects as JSON: pended flows,
 * flows, events and rules as docs/PROTOCOL.md shows them.
 */
#include <pwd.h>
#include <string.h>

#include "base/proto.h"
#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/control_internal.h"
#include "daemon/pending.h"
#include "daemon/policy.h"

/* ---- JSON for the protocol's objects --------------------------------------------- */

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

json_t *agd__control_str_or_null(const char *s)
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

	return r ? json_string(agd_rule_id(r)) : json_null();
}

static void set_flow_common(json_t *o, const ag_fixed_values *in)
{
	char pb[8];

	json_object_set_new(o, "proto", json_string(ag_proto_name(in->protocol, pb, sizeof(pb))));
	json_object_set_new(o, "direction", json_string(in->direction == AG_DIR_IN ? "in" : "out"));
	json_object_set_new(o, "local", endpoint(in->ip_version, in->local_addr.b, in->local_port));
	json_object_set_new(o, "remote",
			    endpoint(in->ip_version, in->remote_addr.b, in->remote_port));
	json_object_set_new(o, "host", agd__control_str_or_null(in->remote_host));
}

json_t *agd_json_pending(struct agd *d, const struct agd_pending *p)
{
	ag_flow_info f;
	json_t *o;
	uint64_t now = ag_boot_ns();

	if (ag_pend_lookup(d->engine, p->context, &f))
		return NULL;
	o = json_object();
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "age_ms", json_integer((json_int_t)((now - p->since_ns) / 1000000)));
	json_object_set_new(o, "pid", f.pid ? json_integer(f.pid) : json_null());
	json_object_set_new(o, "exe", agd__control_str_or_null(f.fixed.app_path));
	json_object_set_new(o, "cmdline", agd__control_str_or_null(f.cmdline));
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
	json_object_set_new(o, "callout", agd__control_str_or_null(f.callout));
	return o;
}

json_t *agd_json_flow(struct agd *d, const ag_flow_info *f)
{
	json_t *o = json_object();

	set_flow_common(o, &f->fixed);
	json_object_set_new(o, "pid", f->pid ? json_integer(f->pid) : json_null());
	json_object_set_new(o, "exe", agd__control_str_or_null(f->fixed.app_path));
	json_object_set_new(o, "uid", f->fixed.uid == AG_UID_UNKNOWN ? json_null()
								     : json_integer(f->fixed.uid));
	json_object_set_new(o, "rule", rule_id_of(d, f->filter_id));
	json_object_set_new(o, "age_ms",
			    json_integer((json_int_t)((ag_boot_ns() - f->created_ns) / 1000000)));
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
	uint64_t age_ms = (ag_boot_ns() - ev->time_ns) / 1000000;

	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)(ag_wall_ms() - age_ms)));
	json_object_set_new(o, "type", json_string(ag_event_type_name(ev->type)));
	json_object_set_new(o, "reason", json_string(ag_reason_name(ev->reason)));
	json_object_set_new(o, "layer", json_string(layer_short(ev->layer)));
	json_object_set_new(o, "verdict", json_string(ag_verdict_name(ev->verdict)));
	struct agd_rule *r = agd_rule_by_handle(d, ev->filter_context);

	json_object_set_new(o, "rule", r ? json_string(agd_rule_id(r)) : json_null());
	if (ev->flow) {
		ag_fixed_values in = {
			.ip_version = ev->ip_version,
			.protocol = ev->protocol,
			.direction = ev->direction,
			.local_port = ev->local_port,
			.remote_port = ev->remote_port,
			.remote_host = ev->remote_host,
			.local_addr = ev->local_addr,
			.remote_addr = ev->remote_addr,
		};

		set_flow_common(o, &in);
		json_object_set_new(o, "pid", ev->pid ? json_integer(ev->pid) : json_null());
		json_object_set_new(o, "uid", ev->uid == AG_UID_UNKNOWN ? json_null()
									: json_integer(ev->uid));
		json_object_set_new(o, "exe", agd__control_str_or_null(ev->app_path));
	}
	json_object_set_new(o, "count", json_integer(ev->count));
	return o;
}

json_t *agd_json_rule(const struct agd_rule *r)
{
	struct ag_rule_view view;

	return ag_rule_to_json(agd_rule_view(r, &view), AG_RULE_JSON_CONTROL);
}
