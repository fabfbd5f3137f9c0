/*
 * daemon/control_push.c — what the control socket pushes unasked: events,
 * pended flows and their resolutions, to the clients that subscribed to
 * them.  Nothing is made JSON for nobody, and a subscriber that falls too
 * far behind is closed once the list of clients is no longer walked.
 */
#include <stdbool.h>

#include "daemon/alegated.h"
#include "daemon/control.h"
#include "daemon/control_internal.h"
#include "daemon/pending.h"

/* ---- pushes -------------------------------------------------------------------------- */

/*
 * Closing a client can end its session's rules, whose events are pushed
 * in turn: so the clients that fell behind are closed once the list is no
 * longer walked, not in the middle of it.
 */
static void push_all(struct agd *d, bool events, json_t *msg)
{
	d->control.push_depth++;
	for (struct agd_client *c = d->control.clients; c; c = c->next)
		if (events ? c->sub_events : c->sub_pending)
			agd__control_client_send(d, c, msg);
	if (--d->control.push_depth)
		return;
	for (struct agd_client *c = d->control.clients; c;) {
		if (c->dead && !c->busy) {
			agd__control_client_free(d, c);
			c = d->control.clients; /* freeing may have changed the list */
		} else {
			c = c->next;
		}
	}
}

/* Whether a client subscribed to events: else an event is not even made JSON. */
static bool events_heard(const struct agd *d)
{
	for (const struct agd_client *c = d->control.clients; c; c = c->next)
		if (c->sub_events)
			return true;
	return false;
}

void agd_control_push_event(struct agd *d, const ag_event *ev)
{
	if (!events_heard(d))
		return;
	json_t *m = json_object();

	json_object_set_new(m, "event", agd_json_event(d, ev));
	push_all(d, true, m);
	json_decref(m);
}

void agd_control_push_json_event(struct agd *d, json_t *ev)
{
	if (!events_heard(d))
		return;
	json_t *m = json_object();

	json_object_set(m, "event", ev);
	push_all(d, true, m);
	json_decref(m);
}

void agd_control_push_pending(struct agd *d, const struct agd_pending *p)
{
	json_t *o = NULL;

	for (struct agd_client *c = d->control.clients; c; c = c->next) {
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
