/*
 * notify.h — alegate-notify: waiting flows as desktop notifications.
 *
 * Three parts:
 * - text.c: what a notification says, built from a pending flow as
 *   alegated sent it.  Pure functions: every byte that came from the
 *   daemon (program paths, host names, command lines, user names) is
 *   cleaned and, for a server that reads markup, escaped;
 * - bus.c: the client of org.freedesktop.Notifications (sd-bus): one
 *   notification per flow, the signals that answer or close them, the
 *   server's capabilities, a server that comes and goes;
 * - main.c: the control socket, the list of waiting flows, the loop.
 */
#ifndef ALEGATE_NOTIFY_NOTIFY_H
#define ALEGATE_NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Bounds, named here and nowhere else. */
#define NT_SHOWN_MAX		4	/* flows with a notification of their own */
#define NT_FLOWS_MAX		1024	/* waiting flows kept in memory */
#define NT_SUMMARY_MAX		160	/* bytes of a notification's summary */
#define NT_BODY_MAX		1024	/* bytes of a notification's body */
#define NT_FIELD_MAX		120	/* bytes shown of one path, host, command line */
#define NT_APP_NAME		"alegate"
#define NT_DESKTOP_ENTRY	"alegate-notify"
#define NT_ICON			"dialog-question"
#define NT_BUS_NAME		"org.alegate.Notify"	/* held while running */

/* ---- text.c ----------------------------------------------------------------------- */

enum {
	NT_MARKUP = 1,		/* the server reads the body as markup: escape it */
	NT_PLAIN_ONLY = 2,	/* no '<', '>', '&' at all (summaries) */
};

/*
 * nt_clean - append @src to @dst (a NUL-terminated string in @size
 * bytes) as text a person can trust: invalid UTF-8, control characters
 * (newlines included), DEL, C1 controls and the bidirectional overrides
 * that reorder what is shown become '?'; at most @max bytes of @src are
 * kept, whole characters only, and a cut is marked with U+2026.
 * @flags: NT_MARKUP escapes & < > " ' as entities; NT_PLAIN_ONLY
 *	replaces & < > with '?', for text some servers read as markup and
 *	others show as is.
 * What does not fit in @dst is cut at a character boundary.
 * Return: @dst.
 */
char *nt_clean(char *dst, size_t size, const char *src, size_t max, unsigned flags);

/*
 * nt_format - the summary and body of the notification for @flow (one
 * object of the `pending` reply or push, docs/PROTOCOL.md).  Missing or
 * odd fields are shown as unknown, never trusted.
 * @flags: NT_MARKUP when the server has the body-markup capability.
 * @actions: false when the server cannot show buttons: the body then ends
 *	by saying where to answer (@web, a URL of alegate-web, or its page
 *	in general when NULL, and alegatectl prompt).
 * @summary: NT_SUMMARY_MAX bytes; @body: NT_BODY_MAX bytes.
 */
void nt_format(const json_t *flow, unsigned flags, bool actions, const char *web,
	       char *summary, char *body);

/*
 * nt_format_more - the summary notification for @n flows waiting without
 * a notification of their own (when more than NT_SHOWN_MAX wait).
 * @at_least: more than NT_FLOWS_MAX wait, so @n is a lower bound.
 */
void nt_format_more(unsigned n, bool at_least, unsigned flags, const char *web, char *summary,
		    char *body);

/* ---- bus.c ---------------------------------------------------------------------------- */

struct nt_bus;

/* What the bus tells the rest of the program. */
struct nt_bus_ops {
	/* @key ("allow", "allow-always", "deny") was pressed on notification @tag. */
	void (*action)(void *arg, uint64_t tag, const char *key);
	/* Notification @tag is gone: the person closed it or it expired. */
	void (*closed)(void *arg, uint64_t tag);
	/*
	 * Show every notification again: the server changed (its notifications
	 * went with the old one) or its capabilities just became known.
	 * Showing a tag that is still shown replaces it, so this is safe to
	 * call at any time.
	 */
	void (*reset)(void *arg);
	/* A notification could not be shown; try again later. */
	void (*failed)(void *arg, uint64_t tag);
};

/*
 * A shown notification is known by a tag the caller chooses (never 0,
 * never reused), not by the server's id: a reply can arrive after the
 * flow was decided, and the server's ids restart with the server.
 */

/*
 * nt_bus_open - connect to the session bus and follow the notification
 * server.  @event: the sd_event loop to attach to (an sd_event *).
 * Return: 0 with *@out set, or -errno: -EEXIST when another alegate-notify
 * holds NT_BUS_NAME on this bus; others when there is no session bus.
 */
int nt_bus_open(struct nt_bus **out, void *event, const struct nt_bus_ops *ops, void *arg);

/*
 * nt_bus_close_all - close every notification shown and send the calls now.
 * Call it before the sd_event loop exits: sd-bus closes the connection
 * when its loop does.
 */
void nt_bus_close_all(struct nt_bus *b);

/* nt_bus_close - nt_bus_close_all(), then free.  NULL is accepted. */
void nt_bus_close(struct nt_bus *b);

/*
 * nt_bus_ready - true once the server's capabilities are known; until
 * then nothing can be shown (the query is on its way: ops->reset is
 * called when it comes back).
 */
bool nt_bus_ready(struct nt_bus *b);

/* nt_bus_flags - NT_MARKUP when the server reads markup in bodies. */
unsigned nt_bus_flags(const struct nt_bus *b);

/* nt_bus_has_actions - whether the server shows action buttons. */
bool nt_bus_has_actions(const struct nt_bus *b);

/*
 * nt_bus_show - show (or, for a @tag already shown, replace) a notification.
 * @actions: the flow's buttons, or none.
 * @urgency: 0 low, 1 normal, 2 critical.
 * @expire_ms: -1 the server's default, 0 never, else milliseconds.
 * Return: 0 (the reply comes later: ops->failed if it fails), or -errno.
 */
int nt_bus_show(struct nt_bus *b, uint64_t tag, const char *summary, const char *body,
		bool actions, int urgency, int expire_ms);

/* nt_bus_close_tag - close notification @tag, shown or on its way. */
void nt_bus_close_tag(struct nt_bus *b, uint64_t tag);

/*
 * nt_bus_notice - a notification with nothing to answer (errors, hints).
 * Shown once, never closed by the program.
 */
void nt_bus_notice(struct nt_bus *b, const char *summary, const char *body);

/* ---- main.c ----------------------------------------------------------------------- */

/* nt_say - one line on stderr: "alegate-notify: " and the message. */
void nt_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
