/*
 * lib/engine/event.c — net events (S16): a bounded ring, listed with
 * ag_event_dump() and followed live through ops.event.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static struct ag__str *str_of(const char *s)
{
	return s ? AG__CONTAINER_OF(s, struct ag__str, s) : NULL;
}

static void event_clear(ag_engine *e, ag_event *ev)
{
	ag__str_put(e, str_of(ev->app_path));
	ag__str_put(e, str_of(ev->remote_host));
	ev->app_path = ev->remote_host = NULL;
}

void ag__event(ag_engine *e, ag_event_type type, ag_reason reason, ag_layer layer,
	       ag_verdict verdict, const struct ag__flow *f, uint64_t filter_id, uint32_t count)
{
	if (!e->ring_size)
		return;
	uint64_t seq = ++e->event_seq;
	ag_event *ev = &e->ring[(seq - 1) % e->ring_size];

	if (ev->seq) {
		event_clear(e, ev);
		e->stats.events_overwritten++;
	}
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	ev->time_ns = ag__now(e);
	ev->type = type;
	ev->reason = reason;
	ev->layer = layer;
	ev->verdict = verdict;
	ev->filter = filter_id;
	ev->count = count;
	if (filter_id) {
		const ag_filter *flt = ag_filter_get(e, filter_id);

		if (flt)
			ev->filter_context = flt->context;
	}
	if (f) {
		ev->flow = ag__flow_handle(f);
		ev->pid = f->pid;
		ev->uid = f->uid;
		ev->ip_version = f->ip_version;
		ev->protocol = f->protocol;
		ev->direction = f->direction;
		ev->local_addr = f->local_addr;
		ev->remote_addr = f->remote_addr;
		ev->local_port = f->local_port;
		ev->remote_port = f->remote_port;
		ev->app_path = ag__str_c(ag__str_ref(f->app));
		ev->remote_host = ag__str_c(ag__str_ref(f->host));
	}
	e->stats.events++;
	if (e->ops.event)
		e->ops.event(e->ops.arg, ev);
}

int ag_event_dump(const ag_engine *e, uint64_t after_seq,
		  int (*cb)(const ag_event *ev, void *arg), void *arg)
{
	uint64_t first = after_seq + 1;

	if (!e->ring_size)
		return 0;
	if (e->event_seq >= e->ring_size && first < e->event_seq - e->ring_size + 1)
		first = e->event_seq - e->ring_size + 1;
	for (uint64_t s = first; s <= e->event_seq; s++) {
		int r = cb(&e->ring[(s - 1) % e->ring_size], arg);

		if (r)
			return r;
	}
	return 0;
}

void ag__events_fini(ag_engine *e)
{
	for (uint32_t i = 0; i < e->ring_size; i++)
		if (e->ring[i].seq)
			event_clear(e, &e->ring[i]);
	ag__free(e, e->ring, e->ring_size * sizeof(*e->ring));
	e->ring = NULL;
	e->ring_size = 0;
}
