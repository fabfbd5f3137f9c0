/*
 * hub.c — alegate-web's side of the control protocol.
 *
 * Three connections to alegated: requests from HTTP handlers share one
 * (under a mutex: a connection is used by one thread at a time), except
 * `history` and `traffic`, which may take a second or more over a month of
 * rows and so have one of their own (a page asking for a month's traffic
 * does not hold the status, the pending flows and the answers behind it);
 * and a thread of its own holds a third subscribed to events and pending
 * flows.  That thread turns each pushed line into one Server-Sent Events
 * message and appends it to a ring; every open stream reads the ring at
 * its own pace, so one slow browser never holds the others or the daemon
 * back (it skips ahead with a "resync" message instead).
 *
 * Rules added "until-quit" through the request connection last as long as
 * alegate-web keeps it: until alegate-web quits (or alegated restarts).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "web/web.h"

static char *sock_path;

/* ---- requests ------------------------------------------------------------------- */

struct lane {
	pthread_mutex_t lock;
	struct ag_ctl_conn *conn;
};

/* [0] everything else, [1] the queries of the history database */
static struct lane lanes[2] = {
	{ .lock = PTHREAD_MUTEX_INITIALIZER },
	{ .lock = PTHREAD_MUTEX_INITIALIZER },
};

static struct lane *lane_of(json_t *request)
{
	const char *op = json_string_value(json_object_get(request, "op"));

	return op && (!strcmp(op, "history") || !strcmp(op, "traffic")) ? &lanes[1] : &lanes[0];
}

int hub_call(json_t *request, json_t **result, const char **code, char *err, size_t errlen)
{
	struct lane *l = lane_of(request);
	int ret;

	*code = "failed";
	pthread_mutex_lock(&l->lock);
	if (!l->conn) {
		l->conn = ag_ctl_connect(sock_path, err, errlen);
		if (!l->conn) {
			ret = errno ? -errno : -EIO;
			*code = ret == -EACCES ? "denied" : "unavailable";
			goto out;
		}
		ag_ctl_set_timeout(l->conn, WEB_CALL_TIMEOUT_MS);
	}
	ret = ag_ctl_call(l->conn, request, result, err, errlen);
	if (ret == -EREMOTEIO) {
		/* the code lives in the connection: copy the known ones out */
		static const char *const codes[] = { "bad_json", "bad_request", "unknown_op",
						     "not_found", "denied", "too_long", "busy",
						     "failed" };
		const char *c = ag_ctl_error_code(l->conn);

		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (!strcmp(c, codes[i]))
				*code = codes[i];
	} else if (ret < 0) {
		*code = "unavailable";
		if (ret != -ETIMEDOUT) {	/* broken: the next call reconnects */
			ag_ctl_close(l->conn);
			l->conn = NULL;
		}
	}
out:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/* ---- the ring of pushed messages ----------------------------------------------------- */

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static struct {
	char *text;
	size_t len;
	unsigned kind;		/* HUB_PENDING, HUB_EVENTS or HUB_CONTROL */
} ring[WEB_RING];
static uint64_t ring_head;	/* index of the next message to be pushed */
static bool stopping, daemon_up;
static uint64_t n_reconnects;
static unsigned n_streams, n_event_streams;
static pthread_t hub_thread;
static bool hub_running;

/*
 * push_kind - append "event: TYPE\ndata: JSON\n\n" for the readers of
 * @kind (0: as TYPE says); takes @data's reference.
 */
static void push_kind(const char *type, json_t *data, unsigned kind)
{
	char *js = json_dumps(data, JSON_COMPACT), *text = NULL;
	int n;

	json_decref(data);
	if (!js)
		return;
	n = asprintf(&text, "event: %s\ndata: %s\n\n", type, js);
	free(js);
	if (n < 0)
		return;
	pthread_mutex_lock(&ring_lock);
	free(ring[ring_head % WEB_RING].text);
	ring[ring_head % WEB_RING].text = text;
	ring[ring_head % WEB_RING].len = (size_t)n;
	ring[ring_head % WEB_RING].kind = kind ? kind : !strcmp(type, "event") ? HUB_EVENTS :
					  !strcmp(type, "pending") || !strcmp(type, "resolved") ?
					  HUB_PENDING : HUB_CONTROL;
	ring_head++;
	pthread_cond_broadcast(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
}

static void push(const char *type, json_t *data)
{
	push_kind(type, data, 0);
}

static void set_up(bool up, const char *why)
{
	pthread_mutex_lock(&ring_lock);
	bool changed = daemon_up != up;

	daemon_up = up;
	pthread_mutex_unlock(&ring_lock);
	if (changed || !up)
		push("daemon", json_pack("{s:b, s:s?}", "up", up, "error", why));
}

void hub_reader_open(struct hub_reader *r, unsigned kinds)
{
	pthread_mutex_lock(&ring_lock);
	r->next = ring_head;
	r->off = 0;
	r->kinds = kinds | HUB_CONTROL;
	pthread_mutex_unlock(&ring_lock);
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

long hub_read(struct hub_reader *r, char *buf, size_t len, int wait_ms, int linger_ms)
{
	static const char resync[] = "event: resync\ndata: {}\n\n";
	struct timespec until;
	size_t done = 0;

	deadline_after(&until, wait_ms);
	pthread_mutex_lock(&ring_lock);
	for (;;) {
		/* skip what this reader did not ask for (never a half-sent message) */
		while (r->off == 0 && r->next != ring_head && ring_head - r->next <= WEB_RING &&
		       !(ring[r->next % WEB_RING].kind & r->kinds))
			r->next++;
		if (stopping || r->next != ring_head)
			break;
		if (pthread_cond_timedwait(&ring_cond, &ring_lock, &until) == ETIMEDOUT)
			break;
	}
	if (linger_ms > 0 && !stopping && r->next != ring_head) {
		/* gather what comes meanwhile: one write and one wake-up for many */
		deadline_after(&until, linger_ms);
		while (!stopping && ring_head - r->next < 64)
			if (pthread_cond_timedwait(&ring_cond, &ring_lock, &until) == ETIMEDOUT)
				break;
	}
	if (stopping) {
		pthread_mutex_unlock(&ring_lock);
		return -1;
	}
	if (ring_head - r->next > WEB_RING) {
		r->next = ring_head;
		r->off = 0;
		if (len >= sizeof(resync) - 1) {
			memcpy(buf, resync, sizeof(resync) - 1);
			done = sizeof(resync) - 1;
		}
	}
	while (r->next != ring_head && done < len) {
		if (r->off == 0 && !(ring[r->next % WEB_RING].kind & r->kinds)) {
			r->next++;
			continue;
		}
		const char *t = ring[r->next % WEB_RING].text;
		size_t tl = ring[r->next % WEB_RING].len, n = tl - r->off;

		if (n > len - done)
			n = len - done;
		memcpy(buf + done, t + r->off, n);
		done += n;
		r->off += n;
		if (r->off == tl) {
			r->next++;
			r->off = 0;
		}
	}
	pthread_mutex_unlock(&ring_lock);
	return (long)done;
}

void hub_get_stats(struct hub_stats *s)
{
	pthread_mutex_lock(&ring_lock);
	s->daemon_up = daemon_up;
	s->pushed = ring_head;
	s->reconnects = n_reconnects;
	s->streams = n_streams;
	pthread_mutex_unlock(&ring_lock);
}

bool hub_stream_add(unsigned kinds)
{
	bool ok;

	pthread_mutex_lock(&ring_lock);
	ok = n_streams < WEB_MAX_STREAMS;
	if (ok) {
		n_streams++;
		n_event_streams += !!(kinds & HUB_EVENTS);
	}
	pthread_mutex_unlock(&ring_lock);
	return ok;
}

void hub_stream_del(unsigned kinds)
{
	pthread_mutex_lock(&ring_lock);
	n_streams--;
	n_event_streams -= !!(kinds & HUB_EVENTS);
	pthread_mutex_unlock(&ring_lock);
}

/* want_events - whether a stream reads events (else the hub does not ask for them). */
static bool want_events(void)
{
	pthread_mutex_lock(&ring_lock);
	bool w = n_event_streams > 0;

	pthread_mutex_unlock(&ring_lock);
	return w;
}

/*
 * subscribe - ask for pending flows, and for events while a stream reads
 * them: at a thousand events a second, decoding and encoding them for
 * nobody is most of what alegate-web would cost.
 */
static int subscribe(struct ag_ctl_conn *c, bool events, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s, s:b, s:b}", "op", "subscribe", "events", events,
				"pending", 1), *res = NULL;
	int r = ag_ctl_call(c, req, &res, err, errlen);

	json_decref(req);
	json_decref(res);
	return r;
}

static bool is_stopping(void)
{
	pthread_mutex_lock(&ring_lock);
	bool s = stopping;

	pthread_mutex_unlock(&ring_lock);
	return s;
}

/* ---- the subscribed connection ------------------------------------------------------ */

/* relay - one pushed message into the ring, named by its kind. */
static void relay(json_t *msg)
{
	static const char *const kinds[] = { "event", "pending", "resolved" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		json_t *v = json_object_get(msg, kinds[i]);

		if (v) {
			push(kinds[i], json_incref(v));
			return;
		}
	}
}

static void *hub_main(void *arg)
{
	unsigned long dropped = 0;
	bool first = true, events;

	while (!is_stopping()) {
		char error[AG_CTL_ERR_MAX] = "";
		struct ag_ctl_conn *c = ag_ctl_connect(sock_path, error, sizeof(error));

		if (!first) {
			pthread_mutex_lock(&ring_lock);
			n_reconnects++;
			pthread_mutex_unlock(&ring_lock);
		}
		first = false;
		if (!c) {
			set_up(false, error[0] ? error : "cannot connect");
			poll(NULL, 0, WEB_RETRY_MS);
			continue;
		}
		events = want_events();
		if (subscribe(c, events, error, sizeof(error)) < 0) {
			set_up(false, error[0] ? error : "subscribe failed");
			ag_ctl_close(c);
			poll(NULL, 0, WEB_RETRY_MS);
			continue;
		}
		set_up(true, NULL);
		while (!is_stopping()) {
			json_t *msg = NULL;
			int r;

			if (want_events() != events) {
				events = !events;
				if (subscribe(c, events, error, sizeof(error)) < 0) {
					set_up(false, error[0] ? error : "subscribe failed");
					error[0] = '\0';
					break;
				}
				/* events before now were not relayed: readers fetch them */
				if (events)
					push_kind("resync", json_object(), HUB_EVENTS);
			}
			r = ag_ctl_next_push(c, 200, &msg, error, sizeof(error));

			if (r < 0) {
				set_up(false, error[0] ? error : "alegated closed the connection");
				error[0] = '\0';
				break;
			}
			if (r == 0)
				continue;
			relay(msg);
			json_decref(msg);
			/*
			 * With events on, let the next ones pile up in the socket
			 * a moment: one read and one wake-up for many lines
			 * instead of one each.
			 */
			if (events && !ag_ctl_push_ready(c)) {
				struct pollfd p = { .fd = ag_ctl_fd(c), .events = POLLIN };

				if (poll(&p, 1, 0) == 0)	/* drained: nothing waits */
					poll(NULL, 0, WEB_HUB_LINGER_MS);
			}
			if (ag_ctl_pushes_dropped(c) != dropped) {
				/* the client library lost some: let pages fetch again */
				dropped = ag_ctl_pushes_dropped(c);
				push("resync", json_object());
			}
		}
		ag_ctl_close(c);
		dropped = 0;
	}
	return NULL;
}

int hub_start(const char *socket_path)
{
	int r;

	sock_path = strdup(socket_path);
	if (!sock_path)
		return -ENOMEM;
	r = pthread_create(&hub_thread, NULL, hub_main, NULL);
	if (r)
		return -r;
	hub_running = true;
	return 0;
}

void hub_stop(void)
{
	pthread_mutex_lock(&ring_lock);
	stopping = true;
	pthread_cond_broadcast(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
	if (hub_running)
		pthread_join(hub_thread, NULL);
	hub_running = false;
}

void hub_free(void)
{
	for (size_t i = 0; i < sizeof(lanes) / sizeof(lanes[0]); i++) {
		pthread_mutex_lock(&lanes[i].lock);
		ag_ctl_close(lanes[i].conn);
		lanes[i].conn = NULL;
		pthread_mutex_unlock(&lanes[i].lock);
	}
	for (size_t i = 0; i < WEB_RING; i++) {
		free(ring[i].text);
		ring[i].text = NULL;
	}
	free(sock_path);
	sock_path = NULL;
}
