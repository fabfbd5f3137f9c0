/*
 * client.c — one connection to alegated: hello, calls, pushed lines.
 *
 * The socket is non-blocking and every wait is a poll with a deadline, so
 * a stuck daemon costs a timeout, never a hung alegatectl.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/text.h"
#include "ctl/ctl.h"

struct ag_ctl_conn {
	int fd;
	struct ag_ctl_buf in;
	struct ag_ctl_hello hello;
	int timeout_ms;
	long long next_id;
	/* Pushed messages, a ring of AG_CTL_PUSH_QUEUE_MAX at most. */
	json_t **q;
	size_t qhead, qlen, qcap;
	unsigned long dropped;
	char code[32];		/* of the last ok:false reply */
	int broken;		/* 0, or the -errno every later call returns */
	char *broken_msg;
};

/* Copy @msg (malloc'ed; NULL when memory ran out: "") into the caller's
 * buffer, cut to fit, and free it. */
static void set_error(char *err, size_t errlen, char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg ? msg : "");
	free(msg);
}

/* Remember why the connection cannot be used any more, and say it. */
static int broke(struct ag_ctl_conn *c, int why, char *err, size_t errlen, char *msg)
{
	if (!c->broken) {
		c->broken = why;
		c->broken_msg = msg ? strdup(msg) : NULL;
	}
	set_error(err, errlen, msg);
	return why;
}

static int still_broken(struct ag_ctl_conn *c, char *err, size_t errlen)
{
	set_error(err, errlen, c->broken_msg ? strdup(c->broken_msg) :
		  ag_msgf("the connection to alegated is closed"));
	return c->broken;
}

static char *describe(int err)
{
	switch (err) {
	case -ECONNRESET:
		return ag_msgf("alegated closed the connection");
	case -ETIMEDOUT:
		return ag_msgf("alegated did not answer in time");
	case -EMSGSIZE:
		return ag_msgf("alegated sent a line longer than %u bytes", AG_CTL_REPLY_MAX);
	default:
		return ag_msgf("reading from alegated: %s", strerror(-err));
	}
}

/*
 * Wait until a complete line is held, until @deadline (-1: forever).
 * Return: 1 with a line; 0 at the deadline; negative errno.
 */
static int next_line(struct ag_ctl_conn *c, long long deadline, char **line, size_t *len)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int r, wait;

	for (;;) {
		r = ag_ctl_buf_pop(&c->in, line, len);
		if (r)
			return r;
		n = ag_ctl_buf_read(&c->in, c->fd);
		if (n > 0)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n != -EAGAIN)
			return (int)n;
		wait = ag_poll_wait_ms(deadline);
		if (wait == 0)
			return 0;
		r = poll(&pfd, 1, wait);
		if (r == -1 && errno != EINTR)
			return -errno;
	}
}

static long long deadline_in(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : ag_mono_ms() + timeout_ms;
}

struct ag_ctl_conn *ag_ctl_open_fd(int fd, char *err, size_t errlen)
{
	struct ag_ctl_conn *c;
	json_t *msg = NULL;
	char *line, *m = NULL;
	size_t len;
	int r, fl;

	c = calloc(1, sizeof(*c));
	if (!c || ag_ctl_buf_init(&c->in, AG_CTL_REPLY_MAX)) {
		free(c);
		close(fd);
		set_error(err, errlen, ag_msgf("out of memory"));
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->timeout_ms = AG_CTL_TIMEOUT_MS;
	c->next_id = 1;
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		r = -errno;
		m = ag_msgf("control socket: %s", strerror(-r));
		goto fail;
	}
	r = next_line(c, deadline_in(AG_CTL_TIMEOUT_MS), &line, &len);
	if (r == 0)
		r = -ETIMEDOUT;
	if (r < 0) {
		if (r == -ECONNRESET)
			m = ag_msgf("alegated closed the connection before saying hello");
		else if (r == -ETIMEDOUT)
			m = ag_msgf("alegated did not say hello within %d ms", AG_CTL_TIMEOUT_MS);
		else
			m = describe(r);
		goto fail;
	}
	r = ag_ctl_parse_line(line, len, &msg, err, errlen);
	if (r >= 0)
		r = ag_ctl_check_hello(msg, &c->hello, err, errlen);
	json_decref(msg);
	if (r < 0)
		goto close;
	return c;
fail:
	set_error(err, errlen, m);
close:
	ag_ctl_close(c);
	errno = -r;
	return NULL;
}

struct ag_ctl_conn *ag_ctl_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long long deadline;
	int fd, e, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		set_error(err, errlen, ag_msgf("socket path too long (%zu bytes, limit %zu): \"%s\"",
				      strlen(path), sizeof(sa.sun_path) - 1, path));
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		e = errno;
		set_error(err, errlen, ag_msgf("socket: %s", strerror(e)));
		errno = e;
		return NULL;
	}
	/*
	 * Non-blocking: a blocking connect to a UNIX socket whose backlog is
	 * full waits forever for a daemon that stopped accepting.  Here that
	 * is EAGAIN, retried until the usual timeout.
	 */
	deadline = ag_mono_ms() + AG_CTL_TIMEOUT_MS;
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) == -1 &&
	       (errno == EAGAIN || errno == EINTR) && ag_mono_ms() < deadline)
		usleep(10000);
	if (r == -1 && errno == EAGAIN) {
		close(fd);
		set_error(err, errlen, ag_msgf("alegated does not accept connections on \"%s\" "
				      "(its backlog is full)", path));
		errno = ETIMEDOUT;
		return NULL;
	}
	if (r == -1) {
		e = errno;
		close(fd);
		set_error(err, errlen, ag_msgf("cannot connect to \"%s\": %s%s", path, strerror(e),
				      e == ENOENT || e == ECONNREFUSED ?
				      " (is alegated running?)" : ""));
		errno = e;
		return NULL;
	}
	return ag_ctl_open_fd(fd, err, errlen);
}

void ag_ctl_close(struct ag_ctl_conn *c)
{
	if (!c)
		return;
	while (c->qlen) {
		json_decref(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
	}
	free(c->q);
	ag_ctl_buf_fini(&c->in);
	if (c->fd >= 0)
		close(c->fd);
	free(c->broken_msg);
	free(c);
}

const struct ag_ctl_hello *ag_ctl_hello(const struct ag_ctl_conn *c)
{
	return &c->hello;
}

void ag_ctl_set_timeout(struct ag_ctl_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

int ag_ctl_fd(const struct ag_ctl_conn *c)
{
	return c->fd;
}

const char *ag_ctl_error_code(const struct ag_ctl_conn *c)
{
	return c->code;
}

unsigned long ag_ctl_pushes_dropped(const struct ag_ctl_conn *c)
{
	return c->dropped;
}

bool ag_ctl_push_ready(const struct ag_ctl_conn *c)
{
	return c->qlen > 0 || ag_ctl_buf_ready(&c->in);
}

/* Keep a pushed message for later; the oldest goes when the queue is full. */
static int enqueue(struct ag_ctl_conn *c, json_t *msg)
{
	json_t **n;
	size_t ncap, i;

	if (c->qlen == AG_CTL_PUSH_QUEUE_MAX) {
		json_decref(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
		c->dropped++;
	}
	if (c->qlen == c->qcap) {
		ncap = c->qcap ? c->qcap * 2 : 16;
		if (ncap > AG_CTL_PUSH_QUEUE_MAX)
			ncap = AG_CTL_PUSH_QUEUE_MAX;
		n = malloc(ncap * sizeof(*n));
		if (!n) {
			json_decref(msg);
			return -ENOMEM;
		}
		for (i = 0; i < c->qlen; i++)
			n[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = n;
		c->qcap = ncap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = msg;
	c->qlen++;
	return 0;
}

/* The reply's id equals the call's (an integer we chose). */
static bool id_matches(const json_t *reply, long long id)
{
	const json_t *v = json_object_get(reply, "id");

	return json_is_integer(v) && json_integer_value(v) == id;
}

/* Take the answer out of a reply: 0 (ok) or -EREMOTEIO with its message. */
static int take_reply(struct ag_ctl_conn *c, json_t *reply, json_t **result, char *err,
		      size_t errlen)
{
	json_t *ok = json_object_get(reply, "ok"), *res, *e;
	const char *code;

	if (json_is_true(ok)) {
		res = json_object_get(reply, "result");
		*result = res ? json_incref(res) : json_null();
		return 0;
	}
	if (!json_is_false(ok))
		return broke(c, -EPROTO, err, errlen,
			     ag_msgf("alegated sent a reply whose \"ok\" is not true or false"));
	code = json_string_value(json_object_get(reply, "code"));
	snprintf(c->code, sizeof(c->code), "%s", code ? code : "");
	/* the code is the daemon's text too: nothing of it reaches a terminal raw */
	ag_sanitize(c->code);
	e = json_object_get(reply, "error");
	if (json_is_string(e) && json_string_length(e) > 0)
		set_error(err, errlen, ag_sanitize(ag_msgf("%s", json_string_value(e))));
	else
		set_error(err, errlen, ag_sanitize(ag_msgf("alegated refused the request%s%s%s",
						      code ? " (" : "", code ? c->code : "",
						      code ? ")" : "")));
	return -EREMOTEIO;
}

/*
 * One page of a long answer ("more": true): append its items to *acc.
 * Return: 0, or a broken connection's error.
 */
static int take_page(struct ag_ctl_conn *c, json_t *reply, json_t **acc, char *err,
		     size_t errlen)
{
	json_t *res = json_object_get(reply, "result");

	if (!json_is_array(res))
		return broke(c, -EPROTO, err, errlen,
			     ag_msgf("alegated sent a page of an answer that is not an array"));
	if (!*acc && !(*acc = json_array()))
		return broke(c, -ENOMEM, err, errlen, ag_msgf("out of memory"));
	if (json_array_extend(*acc, res))
		return broke(c, -ENOMEM, err, errlen, ag_msgf("out of memory"));
	return 0;
}

int ag_ctl_call(struct ag_ctl_conn *c, json_t *request, json_t **result, char *err,
		size_t errlen)
{
	long long id, deadline;
	json_t *msg, *acc = NULL;
	char *line, bad[AG_CTL_ERR_MAX];
	size_t len;
	int r, kind;

	*result = NULL;
	c->code[0] = '\0';
	if (c->broken)
		return still_broken(c, err, errlen);
	if (!json_is_object(request) || !json_is_string(json_object_get(request, "op"))) {
		set_error(err, errlen, ag_msgf("a request must be an object with an \"op\""));
		return -EINVAL;
	}
	id = c->next_id++;
	if (json_object_set_new(request, "id", json_integer(id))) {
		set_error(err, errlen, ag_msgf("out of memory"));
		return -ENOMEM;
	}
	deadline = deadline_in(c->timeout_ms);
	r = ag_ctl_send(c->fd, request, c->timeout_ms);
	if (r == -ETIMEDOUT)
		return broke(c, r, err, errlen, ag_msgf("alegated does not read its socket"));
	if (r == -ENOMEM || r == -EINVAL) {
		set_error(err, errlen, ag_msgf("cannot encode the request: %s", strerror(-r)));
		return r;
	}
	if (r == -EPIPE || r == -ECONNRESET)
		return broke(c, -ECONNRESET, err, errlen, describe(-ECONNRESET));
	if (r)
		return broke(c, r, err, errlen, ag_msgf("writing to alegated: %s", strerror(-r)));
	for (;;) {
		r = next_line(c, deadline, &line, &len);
		if (r == 0) {
			json_decref(acc);
			/* the rest of a paged answer would come later, unasked */
			if (acc)
				return broke(c, -ETIMEDOUT, err, errlen, describe(-ETIMEDOUT));
			set_error(err, errlen, describe(-ETIMEDOUT));
			return -ETIMEDOUT;
		}
		if (r < 0) {
			json_decref(acc);
			return broke(c, r, err, errlen, describe(r));
		}
		kind = ag_ctl_parse_line(line, len, &msg, bad, sizeof(bad));
		if (kind < 0) {
			json_decref(acc);
			return broke(c, kind, err, errlen, bad[0] ? strdup(bad) : NULL);
		}
		if (kind == AG_CTL_MSG_PUSH) {
			r = enqueue(c, msg);
			if (r) {
				json_decref(acc);
				return broke(c, r, err, errlen, ag_msgf("out of memory"));
			}
			continue;
		}
		if (kind == AG_CTL_MSG_REPLY && id_matches(msg, id) &&
		    json_is_true(json_object_get(msg, "ok")) &&
		    json_is_true(json_object_get(msg, "more"))) {
			/* a long answer comes in pages; each one resets the wait */
			r = take_page(c, msg, &acc, err, errlen);
			json_decref(msg);
			if (r) {
				json_decref(acc);
				return r;
			}
			deadline = deadline_in(c->timeout_ms);
			continue;
		}
		if (kind == AG_CTL_MSG_REPLY &&
		    (id_matches(msg, id) ||
		     (!json_object_get(msg, "id") && !json_is_true(json_object_get(msg, "ok"))))) {
			r = take_reply(c, msg, result, err, errlen);
			json_decref(msg);
			if (acc && r == 0) {
				if (!json_is_array(*result)) {
					json_decref(*result);
					*result = NULL;
					json_decref(acc);
					return broke(c, -EPROTO, err, errlen,
						     ag_msgf("alegated ended a paged answer with "
							  "something that is not an array"));
				}
				json_array_extend(acc, *result);
				json_decref(*result);
				*result = acc;
			} else {
				json_decref(acc);
			}
			return r;
		}
		/* A late reply to a call that gave up, or a second hello. */
		json_decref(msg);
	}
}

int ag_ctl_next_push(struct ag_ctl_conn *c, int timeout_ms, json_t **msg, char *err,
		     size_t errlen)
{
	long long deadline = deadline_in(timeout_ms);
	json_t *o;
	char *line, bad[AG_CTL_ERR_MAX];
	size_t len;
	int r, kind;

	*msg = NULL;
	for (;;) {
		if (c->qlen) {
			*msg = c->q[c->qhead];
			c->qhead = (c->qhead + 1) % c->qcap;
			c->qlen--;
			return 1;
		}
		if (c->broken)
			return still_broken(c, err, errlen);
		r = next_line(c, deadline, &line, &len);
		if (r == 0)
			return 0;
		if (r < 0)
			return broke(c, r, err, errlen, describe(r));
		kind = ag_ctl_parse_line(line, len, &o, bad, sizeof(bad));
		if (kind < 0)
			return broke(c, kind, err, errlen, bad[0] ? strdup(bad) : NULL);
		if (kind == AG_CTL_MSG_PUSH) {
			*msg = o;
			return 1;
		}
		/* No call is waiting: a reply here is late, drop it. */
		json_decref(o);
	}
}
