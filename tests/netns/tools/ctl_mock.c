/*
 * ctl_mock — a stand-in for alegated's control socket, to test clients.
 *
 *   ctl_mock -s SOCKET [-r REPLIES] [-l LOG] [-S SCRIPT] [-R REFUSAL [-c CODE]]
 *            [-V VERSION] [-H HELLO_LINE] [-n SERVER] [-t SECONDS]
 *
 * Listens on SOCKET (a stale file is replaced) and greets every client with
 * a hello: version 1 (-V another), server "alegated 0.1.0 (mock)" (-n),
 * session 1, 2...; or a refusal with -R TEXT and code -c (default
 * "denied"), after which it closes the connection; or the raw line -H.
 *
 * REPLIES is a JSON object: op -> {"result": VALUE} or {"error": TEXT,
 * "code": CODE}.  An op missing from it gets unknown_op, except subscribe
 * (result {}).  Every reply repeats the request's id.  After a successful
 * allow or deny, {"resolved":{"id":PENDING,"verdict":"allow"|"deny"}} is
 * pushed to every subscribed client, as alegated does.
 *
 * LOG gets one line per request: the request without its "id", keys
 * sorted, compact (so tests compare it with `jq -cS 'del(.id)'`), or
 * "BAD <line>" for a line that is not a JSON object; and "# open N" /
 * "# close N" when session N connects or goes.
 *
 * SCRIPT is run once from the start, a command per line:
 *   wait OP        until one more request with that op arrived
 *   sleep MS
 *   push JSON      send the line to every subscribed client
 *   pushall JSON   send the line to every client (as alegated's "bye")
 *   close          close every client connection
 *   exit           stop the mock (exit status 0)
 * The mock also exits after -t SECONDS (default 120), in case a test
 * forgets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/ctl.h"

#define MAX_CLIENTS	16
#define MAX_OPS		64
#define MAX_LINES	256

struct client {
	int fd;
	long long session;
	bool subscribed;
	struct ag_ctl_buf in;
};

static struct client clients[MAX_CLIENTS];
static int logfd = -1;
static json_t *replies;
static const char *sockpath;

static struct {
	char op[32];
	int seen, used;
} ops[MAX_OPS];

static char *script[MAX_LINES];
static int nscript, pc;
static long long sleep_until;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ctl_mock: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logline(const char *fmt, ...)
{
	va_list ap;

	if (logfd < 0)
		return;
	va_start(ap, fmt);
	vdprintf(logfd, fmt, ap);
	va_end(ap);
}

static void count_op(const char *op)
{
	int i;

	for (i = 0; i < MAX_OPS && ops[i].op[0]; i++)
		if (!strcmp(ops[i].op, op))
			break;
	if (i == MAX_OPS)
		return;
	snprintf(ops[i].op, sizeof(ops[i].op), "%s", op);
	ops[i].seen++;
}

/* One more request with @op than "wait" lines consumed so far? */
static bool take_op(const char *op)
{
	for (int i = 0; i < MAX_OPS && ops[i].op[0]; i++)
		if (!strcmp(ops[i].op, op) && ops[i].seen > ops[i].used) {
			ops[i].used++;
			return true;
		}
	return false;
}

static void drop(struct client *c)
{
	logline("# close %lld\n", c->session);
	close(c->fd);
	ag_ctl_buf_fini(&c->in);
	c->fd = -1;
}

static void send_to(struct client *c, json_t *msg)
{
	if (ag_ctl_send(c->fd, msg, 2000))
		drop(c);
}

static void push_to(const char *line, bool all)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && (all || clients[i].subscribed) &&
		    (ag_ctl_write_all(clients[i].fd, line, strlen(line), 2000) ||
		     ag_ctl_write_all(clients[i].fd, "\n", 1, 2000)))
			drop(&clients[i]);
}

static void push_all(const char *line)
{
	push_to(line, false);
}

static void handle(struct client *c, const char *line, size_t len)
{
	json_t *req = json_loadb(line, len, 0, NULL), *id, *rep, *canned, *logged;
	const char *op;
	char *s;

	if (!json_is_object(req)) {
		logline("BAD %.*s\n", (int)len, line);
		rep = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", "not a JSON object",
				"code", "bad_json");
		send_to(c, rep);
		json_decref(rep);
		json_decref(req);
		return;
	}
	logged = json_deep_copy(req);
	json_object_del(logged, "id");
	s = json_dumps(logged, JSON_COMPACT | JSON_SORT_KEYS);
	logline("%s\n", s);
	free(s);
	json_decref(logged);

	id = json_object_get(req, "id");
	op = json_string_value(json_object_get(req, "op"));
	if (!op)
		op = "";
	canned = json_object_get(replies, op);
	rep = json_object();
	if (id)
		json_object_set(rep, "id", id);
	if (json_object_get(canned, "error")) {
		json_object_set_new(rep, "ok", json_false());
		json_object_set(rep, "error", json_object_get(canned, "error"));
		json_object_set_new(rep, "code", json_object_get(canned, "code") ?
				    json_incref(json_object_get(canned, "code")) :
				    json_string("failed"));
	} else if (canned || !strcmp(op, "subscribe")) {
		json_object_set_new(rep, "ok", json_true());
		json_object_set_new(rep, "result", json_object_get(canned, "result") ?
				    json_incref(json_object_get(canned, "result")) :
				    json_object());
	} else {
		json_object_set_new(rep, "ok", json_false());
		json_object_set_new(rep, "error", json_sprintf("unknown op \"%s\"", op));
		json_object_set_new(rep, "code", json_string("unknown_op"));
	}
	if (!strcmp(op, "subscribe"))
		c->subscribed = json_is_true(json_object_get(req, "pending")) ||
				json_is_true(json_object_get(req, "events"));
	send_to(c, rep);
	if ((!strcmp(op, "allow") || !strcmp(op, "deny")) && json_is_true(json_object_get(rep, "ok"))) {
		json_t *r = json_pack("{s:{s:O?, s:s}}", "resolved", "id",
				      json_object_get(req, "pending"), "verdict", op);
		char *l = json_dumps(r, JSON_COMPACT);

		push_all(l);
		free(l);
		json_decref(r);
	}
	count_op(op);
	json_decref(rep);
	json_decref(req);
}

/* Run the script as far as it can go now. */
static void step(void)
{
	while (pc < nscript) {
		char *l = script[pc];

		if (sleep_until) {
			if (now_ms() < sleep_until)
				return;
			sleep_until = 0;
			pc++;
			continue;
		}
		if (!strncmp(l, "sleep ", 6)) {
			sleep_until = now_ms() + atoll(l + 6);
			continue;
		}
		if (!strncmp(l, "wait ", 5)) {
			if (!take_op(l + 5))
				return;
		} else if (!strncmp(l, "push ", 5)) {
			push_all(l + 5);
		} else if (!strncmp(l, "pushall ", 8)) {
			push_to(l + 8, true);
		} else if (!strcmp(l, "close")) {
			for (int i = 0; i < MAX_CLIENTS; i++)
				if (clients[i].fd >= 0)
					drop(&clients[i]);
		} else if (!strcmp(l, "exit")) {
			unlink(sockpath);
			exit(0);
		} else {
			die("script line %d: unknown command \"%s\"", pc + 1, l);
		}
		pc++;
	}
}

static void load_script(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		die("cannot open script \"%s\": %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) != -1) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n || line[0] == '#')
			continue;
		if (nscript == MAX_LINES)
			die("script \"%s\": more than %d lines", path, MAX_LINES);
		script[nscript++] = strdup(line);
	}
	free(line);
	fclose(f);
}

static void on_term(int sig)
{
	(void)sig;
	if (sockpath)
		unlink(sockpath);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *refusal = NULL, *code = "denied", *raw_hello = NULL;
	const char *server = "alegated 0.1.0 (mock)";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long long version = 1, session = 0, end;
	struct pollfd pfd[MAX_CLIENTS + 1];
	int opt, lfd, lifetime = 120;
	json_error_t jerr;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while ((opt = getopt(argc, argv, "s:r:l:S:R:c:V:H:n:t:")) != -1) {
		switch (opt) {
		case 's': sockpath = optarg; break;
		case 'r':
			replies = json_load_file(optarg, 0, &jerr);
			if (!json_is_object(replies))
				die("%s:%d: %s", optarg, jerr.line, jerr.text);
			break;
		case 'l':
			logfd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (logfd < 0)
				die("cannot open log \"%s\": %s", optarg, strerror(errno));
			break;
		case 'S': load_script(optarg); break;
		case 'R': refusal = optarg; break;
		case 'c': code = optarg; break;
		case 'V': version = atoll(optarg); break;
		case 'H': raw_hello = optarg; break;
		case 'n': server = optarg; break;
		case 't': lifetime = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: ctl_mock -s SOCKET [-r REPLIES] [-l LOG] [-S SCRIPT] "
				"[-R REFUSAL [-c CODE]] [-V VERSION] [-H LINE] [-n SERVER] [-t SECONDS]\n");
			return 2;
		}
	}
	if (!sockpath || strlen(sockpath) >= sizeof(sa.sun_path))
		die("-s SOCKET is required (and short enough)");
	if (!replies)
		replies = json_object();
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	/* Bound under a temporary name and renamed once listening: a test
	 * that waits for the socket file must not connect before listen(). */
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.tmp", sockpath) >=
	    (int)sizeof(sa.sun_path))
		die("-s SOCKET is too long");
	unlink(sa.sun_path);
	unlink(sockpath);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 16) ||
	    rename(sa.sun_path, sockpath))
		die("cannot listen on \"%s\": %s", sockpath, strerror(errno));
	end = now_ms() + lifetime * 1000LL;

	for (;;) {
		int n = 0, timeout;

		step();
		timeout = (int)(end - now_ms());
		if (timeout <= 0)
			break;
		if (sleep_until && sleep_until - now_ms() < timeout)
			timeout = (int)(sleep_until - now_ms()) + 1;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, timeout < 0 ? 0 : timeout) == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), slot;
			json_t *hello;

			for (slot = 0; slot < MAX_CLIENTS && clients[slot].fd >= 0; slot++)
				;
			if (fd >= 0 && slot == MAX_CLIENTS) {
				close(fd);
			} else if (fd >= 0) {
				struct client *c = &clients[slot];

				c->fd = fd;
				c->session = ++session;
				c->subscribed = false;
				ag_ctl_buf_init(&c->in, AG_CTL_REQUEST_MAX);
				logline("# open %lld\n", c->session);
				if (raw_hello) {
					if (ag_ctl_write_all(fd, raw_hello, strlen(raw_hello), 1000) ||
					    ag_ctl_write_all(fd, "\n", 1, 1000))
						drop(c);
				} else if (refusal) {
					hello = json_pack("{s:s, s:I, s:s, s:s}", "hello", "alegate",
							  "version", (json_int_t)version, "error", refusal,
							  "code", code);
					send_to(c, hello);
					json_decref(hello);
					if (c->fd >= 0)
						drop(c);
				} else {
					hello = json_pack("{s:s, s:I, s:s, s:i, s:I}", "hello", "alegate",
							  "version", (json_int_t)version, "server", server,
							  "uid", (int)getuid(), "session", (json_int_t)c->session);
					send_to(c, hello);
					json_decref(hello);
				}
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			char *line;
			size_t len;
			ssize_t r;
			int p = 0;

			if (c->fd < 0 || !pfd[i + 1].revents || pfd[i + 1].fd != c->fd)
				continue;
			r = ag_ctl_buf_read(&c->in, c->fd);
			if (r == 0 || (r < 0 && r != -EAGAIN)) {
				drop(c);
				continue;
			}
			while (c->fd >= 0 && (p = ag_ctl_buf_pop(&c->in, &line, &len)) == 1)
				handle(c, line, len);
			if (c->fd >= 0 && p == -EMSGSIZE) {
				json_t *e = json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
						      "message too long", "code", "too_long");

				send_to(c, e);
				json_decref(e);
				if (c->fd >= 0)
					drop(c);
			}
		}
	}
	unlink(sockpath);
	return 0;
}
