/*
 * cmds.c — status, pending, allow, deny, flows, events, reload, version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* One request without arguments; prints the reply as JSON or via @human. */
static int simple(struct cli *cli, const char *op, void (*human)(json_t *result))
{
	struct ag_ctl_conn *c = cli_connect(cli);
	json_t *res;
	int r;

	if (!c)
		return EXIT_FAILED;
	r = cli_call(c, json_pack("{s:s}", "op", op), &res);
	ag_ctl_close(c);
	if (r)
		return r;
	if (cli->json)
		out_json(res);
	else
		human(res);
	json_decref(res);
	return EXIT_DONE;
}

/* ---- status ------------------------------------------------------------------------- */

static const struct {
	const char *key, *label;
} status_keys[] = {
	{ "backend", "backend" },
	{ "fail_mode", "fail mode" },
	{ "intercept_loopback", "intercept loopback" },
	{ "fast_path", "fast path" },
	{ "fast_path_notrack", "fast path notrack" },
	{ "pending", "pending flows" },
	{ "flows", "live flows" },
	{ "rules", "rules" },
	{ "clients", "control clients" },
};
#define NSTATUS (sizeof(status_keys) / sizeof(status_keys[0]))

static void kv(const char *label, const json_t *v, int indent)
{
	char *t = out_text(v), name[64];

	/* Unknown keys print too, named as sent: "dns_replies" -> "dns replies". */
	snprintf(name, sizeof(name), "%s", label);
	for (char *p = name; *p; p++)
		if (*p == '_')
			*p = ' ';
	ag_ctl_sanitize(name);
	printf("%*s%-*s %s\n", indent, "", 20 - indent, name, t);
	free(t);
}

static bool known_status_key(const char *key)
{
	if (!strcmp(key, "version") || !strcmp(key, "uptime_s") || !strcmp(key, "counters"))
		return true;
	for (size_t i = 0; i < NSTATUS; i++)
		if (!strcmp(key, status_keys[i].key))
			return true;
	return false;
}

static const char *status_socket;

static void status_human(json_t *res)
{
	const json_t *up = json_object_get(res, "uptime_s"), *v;
	char *ver = out_text(json_object_get(res, "version")), dur[AG_DURATION_TEXT_MAX];
	const char *key;

	if (json_is_integer(up) && json_integer_value(up) == 0)
		snprintf(dur, sizeof(dur), "0s");	/* whole seconds: not "0ms" */
	else if (json_is_integer(up) && json_integer_value(up) > 0)
		ag_duration_format((uint64_t)json_integer_value(up) * 1000, dur, sizeof(dur));
	else
		snprintf(dur, sizeof(dur), "-");
	printf("alegated %s is %srunning%s (up %s) on %s\n", ver, c_green, c_reset, dur,
	       status_socket);
	free(ver);
	for (size_t i = 0; i < NSTATUS; i++)
		kv(status_keys[i].label, json_object_get(res, status_keys[i].key), 0);
	json_object_foreach(res, key, v)
		if (!known_status_key(key) && !json_is_object(v))
			kv(key, v, 0);
	v = json_object_get(res, "counters");
	if (json_is_object(v)) {
		const json_t *cv;

		printf("counters\n");
		json_object_foreach((json_t *)v, key, cv)
			kv(key, cv, 2);
	}
}

int cmd_status(struct cli *cli, struct cli_args *a)
{
	status_socket = cli->socket;
	return simple(cli, "status", status_human);
}

/* ---- pending ------------------------------------------------------------------------ */

static char *age_text(const json_t *ms, char *buf, size_t len)
{
	if (!json_is_integer(ms) || json_integer_value(ms) < 0)
		return strcpy(buf, "-");
	return ag_duration_format((uint64_t)json_integer_value(ms), buf, len);
}

static void pending_human(json_t *res)
{
	static const char *const head[] = { "ID", "AGE", "PID", "USER", "PROGRAM", "PROTO",
					    "DIR", "REMOTE", "HOST" };
	static const unsigned flags[] = { COL_RIGHT, COL_RIGHT, COL_RIGHT, COL_SHRINK | COL_CUT_END,
					  COL_SHRINK, 0, 0, COL_SHRINK_LAST, COL_SHRINK };
	struct table t;
	size_t i;
	json_t *p;

	if (!json_is_array(res) || json_array_size(res) == 0) {
		printf("no flow is waiting for a decision\n");
		return;
	}
	table_init(&t, 9, head, flags);
	json_array_foreach(res, i, p) {
		char age[AG_DURATION_TEXT_MAX];
		char *id = out_text(json_object_get(p, "id")), *pid = out_text(json_object_get(p, "pid"));
		char *user = out_text(json_object_get(p, str(p, "user") ? "user" : "uid"));
		const char *cells[] = { id, age_text(json_object_get(p, "age_ms"), age, sizeof(age)),
					pid, user, out_base(str(p, "exe")), str(p, "proto"),
					str(p, "direction"), str(p, "remote"), str(p, "host") };

		table_add(&t, cells);
		free(id);
		free(pid);
		free(user);
	}
	table_fit(&t, out_width());
	table_print(&t);
	table_free(&t);
}

int cmd_pending(struct cli *cli, struct cli_args *a)
{
	return simple(cli, "pending", pending_human);
}

/* ---- allow / deny ------------------------------------------------------------------------ */

static const char *const scopes[] = { "app", "app+host", "app+remote", "app+port" };

static const char *duration_name(enum opt_id d)
{
	switch (d) {
	case OPT_FOR:
		return "for";
	case OPT_UNTIL_QUIT:
		return "until-quit";
	case OPT_UNTIL_RESTART:
		return "until-restart";
	case OPT_ALWAYS:
		return "always";
	default:
		return "once";
	}
}

static int decide(struct cli *cli, struct cli_args *a, bool allow)
{
	const char *scope = a->val[OPT_SCOPE], *verb = allow ? "allowed" : "denied";
	enum opt_id d = a->duration == OPT_NONE ? OPT_ONCE : a->duration;
	struct ag_ctl_conn *c;
	json_t *req, *res;
	const json_t *rule;
	char what[80], dur[AG_DURATION_TEXT_MAX] = "";
	size_t i;
	int r;

	if (!*a->pos[0])
		return cli_usage_error(cli, "the flow ID is empty");
	if (scope) {
		for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
			if (!strcmp(scope, scopes[i]))
				break;
		if (i == sizeof(scopes) / sizeof(scopes[0]))
			return cli_usage_error(cli, "unknown scope \"%s\" (use app, app+host, "
					       "app+remote or app+port)", scope);
		if (d == OPT_ONCE)
			return cli_usage_error(cli, "--scope says what a rule matches: give a "
					       "DURATION other than --once");
	}
	req = json_pack("{s:s, s:o, s:s}", "op", allow ? "allow" : "deny",
			"pending", cli_id(a->pos[0]), "duration", duration_name(d));
	if (d == OPT_FOR)
		json_object_set_new(req, "for_ms", json_integer((json_int_t)a->for_ms));
	if (scope)
		json_object_set_new(req, "scope", json_string(scope));
	if (a->val[OPT_REJECT])
		json_object_set_new(req, "reject", json_true());
	c = cli_connect(cli);
	if (!c) {
		json_decref(req);
		return EXIT_FAILED;
	}
	r = cli_call(c, req, &res);
	if (r) {
		ag_ctl_close(c);
		return r;
	}
	rule = json_object_get(res, "rule");
	if (cli->json) {
		out_json(res);
	} else {
		char *id = ag_ctl_sanitize(strdup(a->pos[0]));

		if (d == OPT_FOR)
			ag_duration_format(a->for_ms, dur, sizeof(dur));
		if (json_is_null(rule) || !rule) {
			printf("%s flow %s%s\n", verb, id, a->val[OPT_REJECT] ? " (rejected)" : "");
		} else {
			char *rid = out_text(rule);

			printf("%s flow %s%s; added rule %s (%s%s%s%s)\n", verb, id,
			       a->val[OPT_REJECT] ? " (rejected)" : "", rid,
			       d == OPT_FOR ? "for " : duration_name(d), dur,
			       scope ? ", " : "", scope ? scope : "");
			free(rid);
		}
		free(id);
	}
	r = EXIT_DONE;
	if (d == OPT_UNTIL_QUIT) {
		char *rid = out_text(rule);

		snprintf(what, sizeof(what), "rule %s", rid);
		free(rid);
		r = cli_hold(c, what);
	}
	json_decref(res);
	ag_ctl_close(c);
	return r;
}

int cmd_allow(struct cli *cli, struct cli_args *a)
{
	return decide(cli, a, true);
}

int cmd_deny(struct cli *cli, struct cli_args *a)
{
	return decide(cli, a, false);
}

/*
 * Who is at the other end, for a person: "example.org:443" when the name is
 * known, else the address "93.184.216.34:443".  Malloc'ed.
 */
static char *peer(const json_t *o)
{
	const char *host = str(o, "host"), *remote = str(o, "remote");
	char addr[128], port[16], *s;

	if (!host || !*host)
		return out_text(json_object_get(o, "remote"));
	out_split_addr(remote, addr, sizeof(addr), port, sizeof(port));
	if (asprintf(&s, "%s%s%s", host, *port ? ":" : "", port) < 0)
		abort();
	return ag_ctl_sanitize(s);
}

/* ---- flows ---------------------------------------------------------------------------- */

static void flows_human(json_t *res)
{
	static const char *const head[] = { "PROTO", "DIR", "PROGRAM", "PID", "LOCAL", "PEER",
					    "RULE" };
	static const unsigned flags[] = { 0, 0, COL_SHRINK, COL_RIGHT, COL_SHRINK_LAST,
					  COL_SHRINK_LAST, 0 };
	struct table t;
	size_t i;
	json_t *f;

	if (!json_is_array(res) || json_array_size(res) == 0) {
		printf("no authorized flow is live\n");
		return;
	}
	table_init(&t, 7, head, flags);
	json_array_foreach(res, i, f) {
		char *pid = out_text(json_object_get(f, "pid")), *rule = out_text(json_object_get(f, "rule"));
		char *p = peer(f);
		const char *cells[] = { str(f, "proto"), str(f, "direction"), out_base(str(f, "exe")),
					pid, str(f, "local"), p, rule };

		table_add(&t, cells);
		free(pid);
		free(rule);
		free(p);
	}
	table_fit(&t, out_width());
	table_print(&t);
	table_free(&t);
}

int cmd_flows(struct cli *cli, struct cli_args *a)
{
	return simple(cli, "flows", flows_human);
}

/* ---- events ------------------------------------------------------------------------------ */

static const char *const ev_head[] = { "TIME", "TYPE", "VERDICT", "PROTO", "DIR", "PROGRAM",
				       "PEER", "RULE" };
static const unsigned ev_flags[] = { 0, 0, COL_SHRINK | COL_CUT_END, 0, 0, COL_SHRINK,
				     COL_SHRINK_LAST, 0 };
#define EV_COLS 8

/* @cells gets EV_COLS malloc'ed strings; the caller frees them. */
static void events_row(const json_t *e, char **cells)
{
	const json_t *t = json_object_get(e, "time_ms");
	char buf[16] = "-";

	if (json_is_integer(t)) {
		time_t s = (time_t)(json_integer_value(t) / 1000);
		struct tm tm;

		if (localtime_r(&s, &tm))
			strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
	}
	cells[0] = strdup(buf);
	cells[1] = out_text(json_object_get(e, "type"));
	cells[2] = out_text(json_object_get(e, "verdict"));
	cells[3] = out_text(json_object_get(e, "proto"));
	cells[4] = out_text(json_object_get(e, "direction"));
	cells[5] = strdup(out_base(str(e, "exe")));
	cells[6] = peer(e);
	cells[7] = out_text(json_object_get(e, "rule"));
}

static void free_cells(char **cells, int n)
{
	for (int i = 0; i < n; i++)
		free(cells[i]);
}

/* The last @limit elements of @arr (all when 0), as a new reference. */
static json_t *tail(json_t *arr, unsigned long long limit)
{
	size_t n = json_array_size(arr);
	json_t *out;

	if (!json_is_array(arr) || limit == 0 || n <= limit)
		return json_incref(arr);
	out = json_array();
	for (size_t i = n - (size_t)limit; i < n; i++)
		json_array_append(out, json_array_get(arr, i));
	return out;
}

static long long seq_of(const json_t *e)
{
	const json_t *s = json_object_get(e, "seq");

	return json_is_integer(s) ? json_integer_value(s) : -1;
}

static void print_event(struct cli *cli, const struct table *t, const json_t *e)
{
	char *cells[EV_COLS];

	if (cli->json) {
		out_json_line(e);
		return;
	}
	events_row(e, cells);
	table_print_row(t, (const char *const *)cells);
	free_cells(cells, EV_COLS);
	fflush(stdout);
}

static int follow(struct cli *cli, struct ag_ctl_conn *c, json_t *backlog)
{
	/* Widths for rows not seen yet: typical sizes, then fitted. */
	static const char *const sample[] = { "00:00:00", "complete", "permit", "icmp", "out",
					      "program", "www.example.org:443", "3f9c2a71" };
	struct pollfd pfd = { .fd = ag_ctl_fd(c), .events = POLLIN };
	long long last = -1;
	struct table t;
	char *err = NULL;
	size_t i;
	json_t *e, *m;
	int r;

	table_init(&t, EV_COLS, ev_head, ev_flags);
	table_add(&t, sample);
	table_fit(&t, out_width());
	if (!cli->json)
		table_print_head(&t);
	json_array_foreach(backlog, i, e) {
		print_event(cli, &t, e);
		if (seq_of(e) > last)
			last = seq_of(e);
	}
	fflush(stdout);
	cli_signals_catch(false);
	for (;;) {
		if (!ag_ctl_push_ready(c)) {
			if (cli_signal)
				break;
			if (cli_ppoll(&pfd, 1, -1) == -1)
				continue;	/* EINTR: look at the flag */
		}
		r = ag_ctl_next_push(c, 0, &m, &err);
		if (r < 0) {
			table_free(&t);
			r = cli_fail("%s", err ? err : strerror(-r));
			free(err);
			return r;
		}
		if (r == 0)
			continue;
		e = json_object_get(m, "event");
		/* Events of the backlog come again when they raced the subscription. */
		if (json_is_object(e) && (seq_of(e) < 0 || seq_of(e) > last)) {
			print_event(cli, &t, e);
			if (seq_of(e) > last)
				last = seq_of(e);
		}
		json_decref(m);
	}
	table_free(&t);
	return EXIT_DONE;
}

int cmd_events(struct cli *cli, struct cli_args *a)
{
	unsigned long long limit = 0;
	struct ag_ctl_conn *c;
	json_t *req, *res, *shown;
	char *end;
	int r;

	if (a->val[OPT_LIMIT]) {
		errno = 0;
		limit = strtoull(a->val[OPT_LIMIT], &end, 10);
		if (*a->val[OPT_LIMIT] < '1' || *a->val[OPT_LIMIT] > '9' || *end || errno ||
		    limit > 1000000)
			return cli_usage_error(cli, "bad --limit \"%s\" (a number from 1 to 1000000)",
					       a->val[OPT_LIMIT]);
	}
	c = cli_connect(cli);
	if (!c)
		return EXIT_FAILED;
	/* Subscribe before listing, so nothing falls between the two. */
	if (a->val[OPT_FOLLOW]) {
		r = cli_call(c, json_pack("{s:s, s:b, s:b}", "op", "subscribe", "events", 1,
					  "pending", 0), &res);
		if (r) {
			ag_ctl_close(c);
			return r;
		}
		json_decref(res);
	}
	req = json_pack("{s:s}", "op", "events");
	if (limit)
		json_object_set_new(req, "limit", json_integer((json_int_t)limit));
	r = cli_call(c, req, &res);
	if (r) {
		ag_ctl_close(c);
		return r;
	}
	shown = tail(res, limit);
	json_decref(res);
	if (a->val[OPT_FOLLOW]) {
		r = follow(cli, c, shown);
	} else if (cli->json) {
		out_json(shown);
	} else if (json_array_size(shown) == 0) {
		printf("no event\n");
	} else {
		struct table t;
		char *cells[EV_COLS];
		size_t i;
		json_t *e;

		table_init(&t, EV_COLS, ev_head, ev_flags);
		json_array_foreach(shown, i, e) {
			events_row(e, cells);
			table_add(&t, (const char *const *)cells);
			free_cells(cells, EV_COLS);
		}
		table_fit(&t, out_width());
		table_print(&t);
		table_free(&t);
	}
	json_decref(shown);
	ag_ctl_close(c);
	return r;
}

/* ---- reload, version ----------------------------------------------------------------------- */

int cmd_reload(struct cli *cli, struct cli_args *a)
{
	struct ag_ctl_conn *c = cli_connect(cli);
	json_t *res, *errs, *e;
	size_t i, nerr;
	char *n;
	int r;

	if (!c)
		return EXIT_FAILED;
	r = cli_call(c, json_pack("{s:s}", "op", "reload"), &res);
	ag_ctl_close(c);
	if (r)
		return r;
	errs = json_object_get(res, "errors");
	nerr = json_array_size(errs);
	if (cli->json) {
		out_json(res);
	} else {
		n = out_text(json_object_get(res, "rules"));
		printf("reloaded: %s rule%s\n", n, strcmp(n, "1") ? "s" : "");
		free(n);
		json_array_foreach(json_object_get(res, "not_applied"), i, e) {
			n = out_text(e);
			printf("changed, applied at the next start: %s\n", n);
			free(n);
		}
	}
	fflush(stdout);
	if (!nerr) {
		json_decref(res);
		return EXIT_DONE;
	}
	/* Rule files with errors were skipped: a script should notice. */
	if (!cli->json) {
		json_array_foreach(errs, i, e) {
			n = out_text(e);
			cli_fail("%s", n);
			free(n);
		}
	}
	cli_fail("%zu rule file%s skipped", nerr, nerr == 1 ? " was" : "s were");
	json_decref(res);
	return EXIT_FAILED;
}

int cmd_version(struct cli *cli, struct cli_args *a)
{
	struct ag_ctl_conn *c;
	json_t *o;

	if (!cli->json) {
		printf("alegatectl %s (control protocol %d)\n", AG_VERSION, AG_CTL_PROTOCOL_VERSION);
		fflush(stdout);
	}
	c = cli_connect(cli);
	if (cli->json) {
		o = json_pack("{s:s, s:i, s:s, s:o}", "alegatectl", AG_VERSION, "protocol",
			      AG_CTL_PROTOCOL_VERSION, "socket", cli->socket, "alegated",
			      c && *ag_ctl_hello(c)->server ? json_string(ag_ctl_hello(c)->server) :
			      json_null());
		out_json(o);
		json_decref(o);
	} else if (c) {
		printf("%s (control protocol %d) on %s\n",
		       *ag_ctl_hello(c)->server ? ag_ctl_hello(c)->server : "alegated",
		       ag_ctl_hello(c)->version, cli->socket);
	}
	ag_ctl_close(c);
	return c ? EXIT_DONE : EXIT_FAILED;
}
