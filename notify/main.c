/*
 * main.c — alegate-notify: one desktop notification per waiting flow.
 *
 *   alegate-notify [-s SOCKET] [-w URL] [-u low|normal|critical] [-v]
 *
 * A client of alegated's control socket (docs/PROTOCOL.md) that subscribes
 * to pending flows and shows each as a notification with the buttons
 * Allow, Allow always and Deny.  It never answers anything by itself: a
 * notification that is closed or expires leaves its flow to the daemon's
 * timeout, alegatectl prompt or alegate-web.  At most NT_SHOWN_MAX flows
 * have a notification of their own at once; the others wait behind one
 * summary notification and are shown, oldest first, as earlier ones go.
 *
 * One sd-event loop runs both sides.  When alegated goes away every
 * notification is closed (its buttons could answer nothing) and the
 * program connects again, every 2 s at most, until it is back.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "base/clock.h"
#include "ctl/ctl.h"
#include "notify/notify.h"

#define VERSION			"0.1.0"
#define SUMMARY_TAG		1	/* the "N more waiting" notification */
#define CALL_TIMEOUT_MS		5000	/* an allow or deny sent to alegated */
/* A connect to a UNIX socket that nobody serves costs next to nothing: try often. */
#define RECONNECT_MIN_USEC	(250 * 1000ULL)
#define RECONNECT_MAX_USEC	(2 * 1000000ULL)
#define REFUSED_USEC		(30 * 1000000ULL)	/* refused (not in control_group): ask less often */
#define RESHOW_USEC		(3 * 1000000ULL)	/* after a notification failed */

struct flow {
	char key[48];		/* the daemon's id, as text */
	json_t *obj;		/* the flow as alegated sent it */
	uint64_t tag;		/* its notification, for the bus */
	long long deadline;	/* CLOCK_MONOTONIC ms when alegated decides; 0 = none known */
	bool shown;		/* has a notification (or one on its way) */
	bool dismissed;		/* the person closed it, or it expired: not shown again */
};

struct app {
	const char *socket, *web;
	int urgency;
	bool verbose;
	sd_event *event;
	struct nt_bus *bus;
	struct ag_ctl_conn *c;
	sd_event_source *io, *post, *reconnect, *reshow;
	struct flow *f;		/* NT_FLOWS_MAX, oldest first */
	size_t n;
	bool lost;		/* flows were left out past the bound: list again */
	unsigned long dropped;	/* pushes the connection lost, as of the last list */
	uint64_t next_tag;
	unsigned more;		/* the count the summary shows, 0 when not shown */
	bool more_lost;		/* ...as a lower bound */
	bool more_muted;	/* the person closed the summary */
	uint64_t reconnect_usec;
	int last_err;		/* of the last failed connect, to say each cause once */
	char refusal[512];	/* why alegated refused us, to show once */
	bool refusal_group;	/* ...for want of a group: say which */
	bool told;		/* ...and it was shown */
};

void nt_say(const char *fmt, ...)
{
	va_list ap;

	fputs("alegate-notify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- waiting flows ---------------------------------------------------------------- */

static ssize_t find_key(const struct app *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->f[i].key, key))
			return (ssize_t)i;
	return -1;
}

static ssize_t find_tag(const struct app *a, uint64_t tag)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->f[i].tag == tag)
			return (ssize_t)i;
	return -1;
}

static void add(struct app *a, json_t *obj)
{
	const json_t *to = json_object_get(obj, "timeout_ms");
	struct flow *f;
	char key[48];

	ag_ctl_id_text(json_object_get(obj, "id"), key, sizeof(key));
	if (!*key || strlen(key) >= sizeof(key) - 1 || find_key(a, key) >= 0)
		return;
	if (a->n == NT_FLOWS_MAX) {
		a->lost = true;
		return;
	}
	f = &a->f[a->n++];
	*f = (struct flow){ .obj = json_incref(obj), .tag = a->next_tag++ };
	snprintf(f->key, sizeof(f->key), "%s", key);
	if (json_is_integer(to) && json_integer_value(to) > 0 &&
	    json_integer_value(to) < 100LL * 24 * 3600 * 1000)
		f->deadline = ag_mono_ms() + json_integer_value(to);
}

static void del(struct app *a, size_t i)
{
	nt_bus_close_tag(a->bus, a->f[i].tag);
	json_decref(a->f[i].obj);
	memmove(&a->f[i], &a->f[i + 1], (a->n - i - 1) * sizeof(a->f[0]));
	a->n--;
}

static void clear(struct app *a)
{
	while (a->n)
		del(a, a->n - 1);
}

static int show(struct app *a, struct flow *f)
{
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];
	long long left = 0;
	bool actions = nt_bus_has_actions(a->bus);
	int r;

	if (f->deadline) {
		left = f->deadline - ag_mono_ms();
		if (left <= 0) {
			/* alegated decides it any moment: nothing left to ask */
			f->dismissed = true;
			return 0;
		}
	}
	nt_format(f->obj, nt_bus_flags(a->bus), actions, a->web, summary, body);
	/* The server removes it when alegated would decide anyway; 0 = never. */
	r = nt_bus_show(a->bus, f->tag, summary, body, actions, a->urgency,
			left > INT32_MAX ? INT32_MAX : (int)left);
	if (r == 0) {
		f->shown = true;
		if (a->verbose)
			nt_say("flow %s shown (%s)", f->key, actions ? "with buttons" : "plain notice");
	}
	return r;
}

/* Show what should be shown: the oldest waiting flows, then the summary of the rest. */
static void refresh(struct app *a)
{
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];
	unsigned shown = 0, queued = 0;

	if (!nt_bus_ready(a->bus))
		return;
	for (size_t i = 0; i < a->n; i++)
		shown += a->f[i].shown;
	for (size_t i = 0; i < a->n; i++) {
		struct flow *f = &a->f[i];

		if (f->shown || f->dismissed)
			continue;
		if (shown < NT_SHOWN_MAX && show(a, f) == 0) {
			shown += f->shown;
			continue;
		}
		queued += !f->dismissed;
	}
	if (!queued) {
		if (a->more)
			nt_bus_close_tag(a->bus, SUMMARY_TAG);
		a->more = 0;
		a->more_muted = false;
	} else if (!a->more_muted && (queued != a->more || a->lost != a->more_lost)) {
		nt_format_more(queued, a->lost, nt_bus_flags(a->bus), a->web, summary, body);
		if (nt_bus_show(a->bus, SUMMARY_TAG, summary, body, false, 1, 0) == 0) {
			a->more = queued;
			a->more_lost = a->lost;
		}
	}
}

static int on_reshow(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct app *a = userdata;

	a->reshow = sd_event_source_disable_unref(a->reshow);
	refresh(a);
	return 0;
}

/* ---- the control connection ----------------------------------------------------------- */

static int connect_daemon(struct app *a);

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct app *a = userdata;

	a->reconnect = sd_event_source_disable_unref(a->reconnect);
	connect_daemon(a);
	return 0;
}

static void reconnect_later(struct app *a, bool refused)
{
	if (a->reconnect)
		return;
	a->reconnect_usec = a->reconnect_usec ? a->reconnect_usec * 2 : RECONNECT_MIN_USEC;
	if (a->reconnect_usec > RECONNECT_MAX_USEC)
		a->reconnect_usec = RECONNECT_MAX_USEC;
	sd_event_add_time_relative(a->event, &a->reconnect, CLOCK_MONOTONIC,
				   refused ? REFUSED_USEC : a->reconnect_usec, 0, on_reconnect, a);
}

/* alegated is gone: no button can answer anything now. */
static void disconnect(struct app *a, const char *why)
{
	nt_say("lost alegated: %s; connecting again", why ? why : "connection closed");
	a->io = sd_event_source_disable_unref(a->io);
	ag_ctl_close(a->c);
	a->c = NULL;
	a->lost = false;
	a->dropped = 0;
	clear(a);
	refresh(a);
	a->reconnect_usec = 0;
	reconnect_later(a, false);
}

/* Take the daemon's list as the truth: drop what it no longer has, add what is new. */
static int resync(struct app *a)
{
	json_t *req = json_pack("{s:s}", "op", "pending"), *res = NULL, *o;
	char err[AG_CTL_ERR_MAX] = "", key[48];
	size_t i, j;
	int r;

	r = req ? ag_ctl_call(a->c, req, &res, err, sizeof(err)) : -ENOMEM;
	json_decref(req);
	if (r || !json_is_array(res)) {
		disconnect(a, err[0] ? err : "the pending list is not a list");
		json_decref(res);
		return -EPROTO;
	}
	a->lost = false;
	a->dropped = ag_ctl_pushes_dropped(a->c);
	for (i = a->n; i-- > 0;) {
		bool keep = false;

		json_array_foreach(res, j, o) {
			ag_ctl_id_text(json_object_get(o, "id"), key, sizeof(key));
			if (!strcmp(key, a->f[i].key)) {
				keep = true;
				break;
			}
		}
		if (!keep)
			del(a, i);
	}
	json_array_foreach(res, j, o)
		if (json_is_object(o))
			add(a, o);
	json_decref(res);
	refresh(a);
	return 0;
}

static void on_push(struct app *a, json_t *m)
{
	json_t *pend = json_object_get(m, "pending"), *res = json_object_get(m, "resolved");
	char key[48];
	ssize_t i;

	if (json_is_object(pend)) {
		add(a, pend);
	} else if (json_is_object(res)) {
		ag_ctl_id_text(json_object_get(res, "id"), key, sizeof(key));
		i = find_key(a, key);
		if (i < 0)
			return;
		if (a->verbose)
			nt_say("flow %s decided elsewhere", key);
		del(a, (size_t)i);
	} else {
		return;
	}
	refresh(a);
}

/* Handle every pushed line already here; false when the connection broke. */
static bool drain(struct app *a)
{
	char err[AG_CTL_ERR_MAX] = "";
	json_t *m;
	int r;

	while (a->c && (r = ag_ctl_next_push(a->c, 0, &m, err, sizeof(err))) != 0) {
		if (r < 0) {
			disconnect(a, err[0] ? err : NULL);
			return false;
		}
		on_push(a, m);
		json_decref(m);
	}
	if (!a->c)
		return false;
	/* Pushes were lost, or flows left out past the bound: ask for the whole list. */
	if (ag_ctl_pushes_dropped(a->c) != a->dropped || (a->lost && a->n < NT_FLOWS_MAX / 2))
		return resync(a) == 0;
	return true;
}

static int on_ctl(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	drain(userdata);
	return 0;
}

/* After anything ran: lines an ag_ctl_call() read along with its reply wait in memory. */
static int on_post(sd_event_source *s, void *userdata)
{
	struct app *a = userdata;

	if (a->c && ag_ctl_push_ready(a->c))
		drain(a);
	return 0;
}

/* Show the refusal kept in a->refusal once the server can show anything. */
static void tell_refusal(struct app *a)
{
	char body[NT_BODY_MAX] = "";

	if (a->told || !a->refusal[0] || !nt_bus_ready(a->bus))
		return;
	nt_clean(body, sizeof(body), a->refusal, 300, nt_bus_flags(a->bus));
	if (a->refusal_group)
		snprintf(body + strlen(body), sizeof(body) - strlen(body), "\n%s",
			 "Only root and the members of the control_group of alegated may answer: "
			 "see alegate-notify(1).");
	nt_bus_notice(a->bus, "alegate-notify cannot answer connections", body);
	a->told = true;
}

static int connect_daemon(struct app *a)
{
	json_t *req, *res = NULL;
	char err[AG_CTL_ERR_MAX] = "";
	int r;

	a->c = ag_ctl_connect(a->socket, err, sizeof(err));
	if (!a->c) {
		r = errno;
		if (r != a->last_err)
			nt_say("%s", err[0] ? err : strerror(r));
		if ((r == EACCES || r == EPROTONOSUPPORT) && !a->told) {
			/* Not a passing state: say it where the person looks, once. */
			snprintf(a->refusal, sizeof(a->refusal), "%s", err[0] ? err : strerror(r));
			a->refusal_group = r == EACCES;
			tell_refusal(a);
		}
		a->last_err = r;
		/* a refusal lasts until the group or alegated changes: no need to knock often */
		reconnect_later(a, r == EACCES || r == EPROTONOSUPPORT);
		return -r;
	}
	ag_ctl_set_timeout(a->c, CALL_TIMEOUT_MS);
	/* Subscribe first, then list: a flow pended in between is in one or both. */
	req = json_pack("{s:s, s:b, s:b}", "op", "subscribe", "pending", 1, "events", 0);
	r = req ? ag_ctl_call(a->c, req, &res, err, sizeof(err)) : -ENOMEM;
	json_decref(req);
	json_decref(res);
	if (r) {
		disconnect(a, err[0] ? err : NULL);
		return r;
	}
	r = sd_event_add_io(a->event, &a->io, ag_ctl_fd(a->c), EPOLLIN, on_ctl, a);
	if (r < 0) {
		disconnect(a, strerror(-r));
		return r;
	}
	nt_say("connected to %s on %s", *ag_ctl_hello(a->c)->server ? ag_ctl_hello(a->c)->server
								     : "alegated", a->socket);
	a->last_err = 0;
	a->reconnect_usec = 0;
	return resync(a);
}

/* ---- answers ---------------------------------------------------------------------------- */

static void answer(struct app *a, size_t i, const char *verb, const char *duration)
{
	char key[48], err[AG_CTL_ERR_MAX] = "";
	json_t *req, *res = NULL;
	ssize_t j;
	int r;

	if (!a->c)
		return;
	snprintf(key, sizeof(key), "%s", a->f[i].key);
	req = json_pack("{s:s, s:O, s:s}", "op", verb, "pending",
			json_object_get(a->f[i].obj, "id"), "duration", duration);
	r = req ? ag_ctl_call(a->c, req, &res, err, sizeof(err)) : -ENOMEM;
	json_decref(req);
	json_decref(res);
	if (r == -EREMOTEIO || r == -ETIMEDOUT || r == -ENOMEM) {
		char body[NT_BODY_MAX] = "";

		nt_clean(body, sizeof(body), err[0] ? err : strerror(-r), 300, nt_bus_flags(a->bus));
		nt_bus_notice(a->bus, "alegate could not take the answer", body);
		nt_say("%s %s: %s", verb, key, err[0] ? err : strerror(-r));
		/* Gone meanwhile: the resolved notice may never come. */
		if (r == -EREMOTEIO && !strcmp(ag_ctl_error_code(a->c), "not_found") &&
		    (j = find_key(a, key)) >= 0)
			del(a, (size_t)j);
		refresh(a);
		return;
	}
	if (r) {
		disconnect(a, err[0] ? err : NULL);
		return;
	}
	if (a->verbose)
		nt_say("flow %s: %s %s", key, verb, duration);
	j = find_key(a, key);
	if (j >= 0)
		del(a, (size_t)j);
	refresh(a);
}

static void on_action(void *arg, uint64_t tag, const char *key)
{
	struct app *a = arg;
	ssize_t i = find_tag(a, tag);

	if (i < 0)
		return;
	if (!strcmp(key, "allow"))
		answer(a, (size_t)i, "allow", "once");
	else if (!strcmp(key, "allow-always"))
		answer(a, (size_t)i, "allow", "always");
	else if (!strcmp(key, "deny"))
		answer(a, (size_t)i, "deny", "once");
	/* anything else ("default": a click on the text) answers nothing */
}

static void on_closed(void *arg, uint64_t tag)
{
	struct app *a = arg;
	ssize_t i = find_tag(a, tag);

	if (tag == SUMMARY_TAG) {
		a->more = 0;
		a->more_muted = true;
		return;
	}
	if (i < 0)
		return;
	/* Closed by the person or expired: the flow waits on, without us. */
	a->f[i].shown = false;
	a->f[i].dismissed = true;
	if (a->verbose)
		nt_say("flow %s: notification closed", a->f[i].key);
	refresh(a);
}

static void on_reset(void *arg)
{
	struct app *a = arg;

	for (size_t i = 0; i < a->n; i++)
		a->f[i].shown = false;
	a->more = 0;
	a->more_muted = false;
	refresh(a);
	tell_refusal(a);
}

static void on_failed(void *arg, uint64_t tag)
{
	struct app *a = arg;
	ssize_t i = find_tag(a, tag);

	if (tag == SUMMARY_TAG)
		a->more = 0;
	else if (i >= 0)
		a->f[i].shown = false;
	if (!a->reshow)
		sd_event_add_time_relative(a->event, &a->reshow, CLOCK_MONOTONIC, RESHOW_USEC, 0,
					   on_reshow, a);
}

static const struct nt_bus_ops bus_ops = {
	.action = on_action,
	.closed = on_closed,
	.reset = on_reset,
	.failed = on_failed,
};

/* ---- main ------------------------------------------------------------------------------- */

/* Leave no button behind that nobody listens to any more. */
static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct app *a = userdata;

	clear(a);
	refresh(a);
	nt_bus_close_all(a->bus);
	return sd_event_exit(a->event, 0);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: alegate-notify [-s SOCKET] [-w URL] [-u low|normal|critical] [-v]\n"
		"Show each connection waiting for alegated as a desktop notification\n"
		"with the buttons Allow, Allow always and Deny.\n"
		"  -s, --socket SOCKET   control socket (default $ALEGATE_SOCKET, else %s)\n"
		"  -w, --web URL         alegate-web's page, named where buttons cannot be shown\n"
		"  -u, --urgency LEVEL   urgency of the notifications (default normal)\n"
		"  -v, --verbose         say what is shown and answered on stderr\n"
		"  -h, --help            this text\n"
		"      --version         the version\n", AG_CTL_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "web", required_argument, NULL, 'w' },
		{ "urgency", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct app a = { .urgency = 1, .next_tag = SUMMARY_TAG + 1 };
	const char *env = getenv("ALEGATE_SOCKET");
	sigset_t sigs;
	int o, r, ret = 1;

	a.socket = env && *env ? env : AG_CTL_DEFAULT_SOCKET;
	while ((o = getopt_long(argc, argv, "s:w:u:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			a.socket = optarg;
			break;
		case 'w':
			a.web = optarg;
			break;
		case 'u':
			if (!strcmp(optarg, "low"))
				a.urgency = 0;
			else if (!strcmp(optarg, "normal"))
				a.urgency = 1;
			else if (!strcmp(optarg, "critical"))
				a.urgency = 2;
			else {
				fprintf(stderr, "alegate-notify: unknown urgency \"%s\" "
					"(use low, normal or critical)\n", optarg);
				return 2;
			}
			break;
		case 'v':
			a.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("alegate-notify %s\n", VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "alegate-notify: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!*a.socket) {
		fprintf(stderr, "alegate-notify: the socket path is empty\n");
		return 2;
	}
	a.f = calloc(NT_FLOWS_MAX, sizeof(*a.f));
	if (!a.f || sd_event_default(&a.event) < 0) {
		nt_say("out of memory");
		goto cleanup;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sd_event_add_signal(a.event, NULL, SIGTERM, on_signal, &a);
	sd_event_add_signal(a.event, NULL, SIGINT, on_signal, &a);
	r = nt_bus_open(&a.bus, a.event, &bus_ops, &a);
	if (r == -EEXIST) {
		nt_say("already running in this session");
		ret = 0;
		goto cleanup;
	}
	if (r < 0) {
		nt_say("cannot reach the session bus: %s (is this a desktop session?)", strerror(-r));
		goto cleanup;
	}
	r = sd_event_add_post(a.event, &a.post, on_post, &a);
	if (r >= 0)
		r = sd_event_source_set_enabled(a.post, SD_EVENT_ON);
	if (r < 0) {
		nt_say("event loop: %s", strerror(-r));
		goto cleanup;
	}
	connect_daemon(&a);
	r = sd_event_loop(a.event);
	/* 0 after SIGTERM or SIGINT; not 0 when the session bus went away */
	ret = r ? 1 : 0;
cleanup:
	if (a.f)
		clear(&a);
	sd_event_source_disable_unref(a.io);
	sd_event_source_disable_unref(a.post);
	sd_event_source_disable_unref(a.reconnect);
	sd_event_source_disable_unref(a.reshow);
	nt_bus_close(a.bus);
	ag_ctl_close(a.c);
	sd_event_unref(a.event);
	free(a.f);
	return ret;
}
