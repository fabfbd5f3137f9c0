/*
 * bus.c — the client side of org.freedesktop.Notifications (the Desktop
 * Notifications Specification 1.2) over sd-bus.
 *
 * Every call is asynchronous: a notification server that hangs costs a
 * notification, never the loop that follows alegated.  Replies and
 * signals are read defensively: a reply of the wrong type is a failure,
 * not a crash, and signals count only when they come from the name's
 * current owner (any client of the session bus can emit a signal named
 * ActionInvoked).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "notify/notify.h"

#define NAME		"org.freedesktop.Notifications"
#define PATH		"/org/freedesktop/Notifications"
#define IFACE		NAME
#define CALL_USEC	(25 * 1000000ULL)	/* D-Bus's own default: a late reply would leave an orphan */
#define CAPS_RETRY_MIN	(1 * 1000000ULL)	/* no server: ask again after... */
#define CAPS_RETRY_MAX	(60 * 1000000ULL)	/* ...doubling up to this */
#define NOTES_MAX	64	/* notifications followed at once */

struct note {
	uint64_t tag;
	uint32_t id;		/* the server's, 0 while the Notify call is out */
	bool sending;
	bool closing;		/* closed while sending: close when the id comes */
	bool again;		/* replaced while sending: send the newer text then */
	char *summary, *body;	/* the newer text */
	bool actions;
	int urgency, expire_ms;
};

struct nt_bus {
	sd_bus *bus;
	sd_event *event;
	const struct nt_bus_ops *ops;
	void *arg;
	char owner[256];	/* the server's unique name, "" when none */
	unsigned gen;		/* bumped when the server goes: older replies are void */
	bool ready, asking, markup, actions;
	uint64_t retry_usec;
	sd_event_source *retry;
	struct note notes[NOTES_MAX];
	size_t n;
};

struct call {
	struct nt_bus *b;
	uint64_t tag;
	unsigned gen;
};

static struct note *by_tag(struct nt_bus *b, uint64_t tag)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->notes[i].tag == tag)
			return &b->notes[i];
	return NULL;
}

static struct note *by_id(struct nt_bus *b, uint32_t id)
{
	for (size_t i = 0; i < b->n; i++)
		if (id && b->notes[i].id == id)
			return &b->notes[i];
	return NULL;
}

static void drop(struct nt_bus *b, struct note *n)
{
	free(n->summary);
	free(n->body);
	*n = b->notes[--b->n];
	memset(&b->notes[b->n], 0, sizeof(b->notes[0]));
}

static void close_id(struct nt_bus *b, uint32_t id)
{
	/* No reply wanted: an id the server forgot is no error worth a word. */
	sd_bus_call_method_async(b->bus, NULL, NAME, PATH, IFACE, "CloseNotification",
				 NULL, NULL, "u", id);
}

static int append_hints(sd_bus_message *m, int urgency)
{
	int r = sd_bus_message_open_container(m, 'a', "{sv}");

	if (r >= 0)
		r = sd_bus_message_append(m, "{sv}", "urgency", "y", (uint8_t)urgency);
	if (r >= 0)
		r = sd_bus_message_append(m, "{sv}", "desktop-entry", "s", NT_DESKTOP_ENTRY);
	if (r >= 0)
		r = sd_bus_message_append(m, "{sv}", "category", "s", "network");
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

static sd_bus_message *notify_message(struct nt_bus *b, uint32_t replaces, const char *summary,
				      const char *body, bool actions, int urgency, int expire_ms)
{
	sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(b->bus, &m, NAME, PATH, IFACE, "Notify");
	if (r >= 0)
		r = sd_bus_message_append(m, "susss", NT_APP_NAME, replaces, NT_ICON, summary, body);
	if (r >= 0 && actions)
		r = sd_bus_message_append(m, "as", 6, "allow", "Allow", "allow-always",
					  "Allow always", "deny", "Deny");
	else if (r >= 0)
		r = sd_bus_message_append(m, "as", 0);
	if (r >= 0)
		r = append_hints(m, urgency);
	if (r >= 0)
		r = sd_bus_message_append(m, "i", (int32_t)expire_ms);
	if (r < 0) {
		sd_bus_message_unref(m);
		errno = -r;
		return NULL;
	}
	return m;
}

static int send_note(struct nt_bus *b, struct note *n, const char *summary, const char *body);

static int on_notify_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct call *c = userdata;
	struct nt_bus *b = c->b;
	struct note *n;
	uint32_t id = 0;
	int r;

	if (c->gen != b->gen)
		return 0;	/* a server that went away: its ids mean nothing now */
	n = by_tag(b, c->tag);
	if (!n || !n->sending)
		return 0;
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(m);

		nt_say("the notification server refused a notification: %s",
		       e && e->message ? e->message : "no reason given");
		r = -EIO;
	} else {
		r = sd_bus_message_read(m, "u", &id);
		if (r >= 0 && id == 0)
			r = -EBADMSG;
		if (r < 0)
			nt_say("the notification server answered Notify with no id");
	}
	if (r < 0) {
		uint64_t tag = n->tag;
		bool closing = n->closing;

		if (n->id)	/* a replacement failed: the first text is still shown */
			close_id(b, n->id);
		drop(b, n);
		if (!closing)
			b->ops->failed(b->arg, tag);
		return 0;
	}
	n->id = id;
	n->sending = false;
	if (n->closing) {
		close_id(b, id);
		drop(b, n);
	} else if (n->again) {
		n->again = false;
		char *s = n->summary, *t = n->body;

		n->summary = n->body = NULL;
		if (send_note(b, n, s, t) < 0) {
			uint64_t tag = n->tag;

			close_id(b, id);
			drop(b, n);
			b->ops->failed(b->arg, tag);
		}
		free(s);
		free(t);
	}
	return 0;
}

static int send_note(struct nt_bus *b, struct note *n, const char *summary, const char *body)
{
	sd_bus_message *m = notify_message(b, n->id, summary, body, n->actions, n->urgency,
					   n->expire_ms);
	sd_bus_slot *slot = NULL;
	struct call *c;
	int r;

	if (!m)
		return -errno;
	c = malloc(sizeof(*c));
	if (!c) {
		sd_bus_message_unref(m);
		return -ENOMEM;
	}
	*c = (struct call){ .b = b, .tag = n->tag, .gen = b->gen };
	r = sd_bus_call_async(b->bus, &slot, m, on_notify_reply, c, CALL_USEC);
	sd_bus_message_unref(m);
	if (r < 0) {
		free(c);
		return r;
	}
	/* The bus keeps the slot until the reply (or its timeout) and frees c with it. */
	sd_bus_slot_set_destroy_callback(slot, free);
	sd_bus_slot_set_floating(slot, 1);
	sd_bus_slot_unref(slot);
	n->sending = true;
	return 0;
}

int nt_bus_show(struct nt_bus *b, uint64_t tag, const char *summary, const char *body,
		bool actions, int urgency, int expire_ms)
{
	struct note *n = by_tag(b, tag);
	int r;

	if (!b->ready)
		return -EAGAIN;
	if (n && n->closing)
		n->closing = false;	/* still on its way: show the new text instead */
	if (!n) {
		if (b->n == NOTES_MAX)
			return -ENOBUFS;
		n = &b->notes[b->n++];
		*n = (struct note){ .tag = tag };
	}
	n->actions = actions && b->actions;
	n->urgency = urgency;
	n->expire_ms = expire_ms;
	if (n->sending) {
		/* The server has not said which id it is yet: replace it once it has. */
		free(n->summary);
		free(n->body);
		n->summary = strdup(summary);
		n->body = strdup(body);
		n->again = n->summary && n->body;
		return 0;
	}
	r = send_note(b, n, summary, body);
	if (r < 0 && !n->id)
		drop(b, n);
	return r;
}

void nt_bus_close_tag(struct nt_bus *b, uint64_t tag)
{
	struct note *n = by_tag(b, tag);

	if (!n)
		return;
	if (n->sending) {
		n->closing = true;
		return;
	}
	close_id(b, n->id);
	drop(b, n);
}

void nt_bus_notice(struct nt_bus *b, const char *summary, const char *body)
{
	sd_bus_message *m = notify_message(b, 0, summary, body, false, 1, -1);

	if (!m)
		return;
	/* No callback: sent with NO_REPLY_EXPECTED; a notice is not followed. */
	sd_bus_call_async(b->bus, NULL, m, NULL, NULL, CALL_USEC);
	sd_bus_message_unref(m);
}

/* ---- capabilities ------------------------------------------------------------ */

static void ask_caps(struct nt_bus *b);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct nt_bus *b = userdata;

	b->retry = sd_event_source_unref(b->retry);
	ask_caps(b);
	return 0;
}

static void retry_later(struct nt_bus *b)
{
	if (b->retry)
		return;
	b->retry_usec = b->retry_usec ? b->retry_usec * 2 : CAPS_RETRY_MIN;
	if (b->retry_usec > CAPS_RETRY_MAX)
		b->retry_usec = CAPS_RETRY_MAX;
	sd_event_add_time_relative(b->event, &b->retry, CLOCK_MONOTONIC, b->retry_usec, 0,
				   on_retry, b);
}

static int on_caps(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct call *c = userdata;
	struct nt_bus *b = c->b;
	bool markup = false, actions = false;
	const char *cap;
	int r, count = 0;

	if (c->gen != b->gen)
		return 0;
	b->asking = false;
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(m);

		if (b->retry_usec == 0)
			nt_say("no notification server answers yet (%s); asking again later",
			       e && e->message ? e->message : "no reason given");
		retry_later(b);
		return 0;
	}
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && count++ < 256 && (r = sd_bus_message_read(m, "s", &cap)) > 0) {
		if (!strcmp(cap, "actions"))
			actions = true;
		else if (!strcmp(cap, "body-markup"))
			markup = true;
	}
	if (r < 0) {
		nt_say("the notification server's capabilities are not a list of strings: "
		       "showing plain text without buttons");
		markup = actions = false;
	}
	b->markup = markup;
	b->actions = actions;
	b->ready = true;
	b->retry_usec = 0;
	b->ops->reset(b->arg);
	return 0;
}

static void ask_caps(struct nt_bus *b)
{
	sd_bus_slot *slot = NULL;
	struct call *c;
	int r;

	if (b->asking || b->ready)
		return;
	c = malloc(sizeof(*c));
	if (!c) {
		retry_later(b);
		return;
	}
	*c = (struct call){ .b = b, .gen = b->gen };
	r = sd_bus_call_method_async(b->bus, &slot, NAME, PATH, IFACE, "GetCapabilities",
				     on_caps, c, NULL);
	if (r < 0) {
		free(c);
		retry_later(b);
		return;
	}
	sd_bus_slot_set_destroy_callback(slot, free);
	sd_bus_slot_set_floating(slot, 1);
	sd_bus_slot_unref(slot);
	b->asking = true;
}

/* ---- signals ---------------------------------------------------------------------- */

static bool from_server(struct nt_bus *b, sd_bus_message *m)
{
	const char *sender = sd_bus_message_get_sender(m);

	return sender && *b->owner && !strcmp(sender, b->owner);
}

static int on_action(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct nt_bus *b = userdata;
	const char *key;
	struct note *n;
	uint32_t id;

	if (!from_server(b, m) || sd_bus_message_read(m, "us", &id, &key) < 0)
		return 0;
	n = by_id(b, id);
	if (n && !n->closing)
		b->ops->action(b->arg, n->tag, key);
	return 0;
}

static int on_closed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct nt_bus *b = userdata;
	struct note *n;
	uint32_t id, reason;
	uint64_t tag;

	if (!from_server(b, m) || sd_bus_message_read(m, "uu", &id, &reason) < 0)
		return 0;
	n = by_id(b, id);
	if (!n)
		return 0;
	tag = n->tag;
	if (n->sending)
		n->closing = true;	/* a replacement is on its way: close what it shows */
	else
		drop(b, n);
	b->ops->closed(b->arg, tag);
	return 0;
}

/*
 * The server went away, was replaced, or started.  Its notifications went
 * with it: forget their ids (a new server reuses them) and ask the new one
 * what it can do before showing anything again.
 */
static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct nt_bus *b = userdata;
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, NAME))
		return 0;
	snprintf(b->owner, sizeof(b->owner), "%s", new);
	b->ready = false;
	if (*old) {
		b->gen++;
		b->asking = false;
		while (b->n)
			drop(b, &b->notes[b->n - 1]);
	}
	/* A new server: ask now, not at the end of a back-off meant for none. */
	b->retry = sd_event_source_disable_unref(b->retry);
	b->retry_usec = 0;
	b->ops->reset(b->arg);
	ask_caps(b);
	return 0;
}

/* ---- open / close -------------------------------------------------------------------- */

int nt_bus_open(struct nt_bus **out, void *event, const struct nt_bus_ops *ops, void *arg)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	struct nt_bus *b;
	const char *owner;
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = ops;
	b->arg = arg;
	b->event = sd_event_ref(event);
	r = sd_bus_open_user(&b->bus);
	if (r < 0)
		goto fail;
	/* One per session: the autostart file and the user unit may both start one. */
	r = sd_bus_request_name(b->bus, NT_BUS_NAME, 0);
	if (r >= 0)
		r = sd_bus_attach_event(b->bus, b->event, SD_EVENT_PRIORITY_NORMAL);
	/* The session ended: so does the program (the loop returns EXIT_FAILURE). */
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(b->bus, 1);
	if (r >= 0)
		r = sd_bus_match_signal(b->bus, NULL, NULL, PATH, IFACE, "ActionInvoked",
					on_action, b);
	if (r >= 0)
		r = sd_bus_match_signal(b->bus, NULL, NULL, PATH, IFACE, "NotificationClosed",
					on_closed, b);
	if (r >= 0)
		r = sd_bus_add_match(b->bus, NULL,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
				     "member='NameOwnerChanged',arg0='" NAME "'", on_owner, b);
	if (r < 0)
		goto fail;
	/* Who serves the name now (no one yet is fine: it may be started on demand). */
	if (sd_bus_call_method(b->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "GetNameOwner", &err, &reply, "s",
			       NAME) >= 0 &&
	    sd_bus_message_read(reply, "s", &owner) >= 0)
		snprintf(b->owner, sizeof(b->owner), "%s", owner);
	sd_bus_error_free(&err);
	sd_bus_message_unref(reply);
	ask_caps(b);
	*out = b;
	return 0;
fail:
	nt_bus_close(b);
	return r;
}

void nt_bus_close_all(struct nt_bus *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->notes[i].id)
			close_id(b, b->notes[i].id);
	sd_bus_flush(b->bus);
	while (b->n)
		drop(b, &b->notes[b->n - 1]);
}

void nt_bus_close(struct nt_bus *b)
{
	if (!b)
		return;
	if (b->bus)
		nt_bus_close_all(b);
	sd_event_source_disable_unref(b->retry);
	sd_bus_flush_close_unref(b->bus);
	sd_event_unref(b->event);
	free(b);
}

bool nt_bus_ready(struct nt_bus *b)
{
	return b->ready;
}

unsigned nt_bus_flags(const struct nt_bus *b)
{
	return b->markup ? NT_MARKUP : 0;
}

bool nt_bus_has_actions(const struct nt_bus *b)
{
	return b->actions;
}
