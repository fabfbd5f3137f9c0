/*
 * daemon/control.h — the control socket (docs/PROTOCOL.md), owned by
 * control.c as struct agd_control: its clients and their subscriptions, the
 * control group, pages of rules, flows and events, answers to pended flows,
 * and the pushes of events and pended flows.  control_requests.c handles the
 * rules, flows and events requests and control_json.c writes the protocol's
 * objects (control_internal.h between the three).
 */
#ifndef ALEGATE_DAEMON_CONTROL_H
#define ALEGATE_DAEMON_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "alegate/engine.h"

struct agd;
struct agd_client;
struct agd_pending;
struct agd_rule;

/* control.c: the control socket and its clients. */
struct agd_control {
	int listen_fd;
	struct agd_client *clients;
	uint32_t nclients;
	uint64_t next_session;
	gid_t gid;               /* control_group's, (gid_t)-1: none */
	/* inside push_all(): a client that falls behind is closed at its end */
	unsigned push_depth;
};

/* Make control's subscribers hear engine events and pended flows
 * (d->listeners); before the engine runs. */
void agd_control_attach(struct agd *d);
int agd_control_open(struct agd *d);
void agd_control_close(struct agd *d);
void agd_control_accept(struct agd *d);
void agd_control_client_ready(struct agd *d, struct agd_client *c, uint32_t events);
/* Push a line to every subscriber of that kind. */
void agd_control_push_event(struct agd *d, const ag_event *ev);
/* The same for an event already in JSON (the fast path's). */
void agd_control_push_json_event(struct agd *d, json_t *ev);
void agd_control_push_pending(struct agd *d, const struct agd_pending *p);
/* @reason: why, when not an answer or the timeout ("alegated is stopping"), or NULL. */
void agd_control_push_resolved(struct agd *d, uint32_t id, const char *reason,
			       const char *verdict);

/* For tests and fuzzing: a client on fd, a line handled as if read from it. */
struct agd_client *agd__control_client(struct agd *d, int fd, uid_t uid);
void agd__control_feed(struct agd *d, struct agd_client *c, const char *line, size_t len);
void agd__control_client_close(struct agd *d, struct agd_client *c);

/* JSON for the protocol's objects (control_json.c) */
json_t *agd_json_pending(struct agd *d, const struct agd_pending *p);
json_t *agd_json_flow(struct agd *d, const ag_flow_info *f);
json_t *agd_json_event(struct agd *d, const ag_event *ev);
json_t *agd_json_rule(const struct agd_rule *r);

#endif
