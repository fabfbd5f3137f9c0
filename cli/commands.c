/*
 * commands.c — status, pending, allow, deny, flows, events, reload, version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/text.h"
#include "cli.h"

/* One request without arguments; prints the reply as JSON or via @human. */
static int simple(struct cli *cli, const char *op, void (*human)(json_t *result))
{
	return cli_ask_show(cli, json_pack("{s:s}", "op", op), human);
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

/* Width of the label column: the longest label, so every value lines up. */
static int status_label_w;

/* A status key as a person reads it: "dns_replies" -> "dns replies". */
static void label_of(const char *key, char *name, size_t len)
{
	snprintf(name, len, "%s", key);
	for (char *p = name; *p; p++)
		if (*p == '_')
			*p = ' ';
	ag_sanitize(name);
}

/* A value with its unit, when its key says one: bytes, microseconds. */
static char *with_unit(const char *key, const json_t *v)
{
	size_t n = strlen(key);
	char *s = NULL;

	if (json_is_integer(v) && ((n > 7 && !strcmp(key + n - 7, "_memory")) ||
				   (n > 6 && !strcmp(key + n - 6, "_bytes")))) {
		double b = (double)json_integer_value(v);
		static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
		int u = 0;

		while (b >= 1024 && u < 4) {
			b /= 1024;
			u++;
		}
		if (u == 0 ? asprintf(&s, "%lld bytes", (long long)json_integer_value(v)) < 0 :
			     asprintf(&s, "%.1f %s", b, units[u]) < 0)
			abort();
		return s;
	}
	if (json_is_integer(v) && n > 3 && !strcmp(key + n - 3, "_us")) {
		if (asprintf(&s, "%lld us", (long long)json_integer_value(v)) < 0)
			abort();
		return s;
	}
	if (json_is_integer(v) && n > 3 && !strcmp(key + n - 3, "_ms")) {
		char d[AG_DURATION_TEXT_MAX];

		return strdup(ag_duration_format((uint64_t)json_integer_value(v), d, sizeof(d)));
	}
	return out_text(v);
}

static void print_status_field(const char *key, const char *label, const json_t *v, int indent)
{
	char *t = with_unit(key, v), name[64];

	label_of(label, name, sizeof(name));
	printf("%*s%-*s  %s\n", indent, "", status_label_w - indent, name, t);
	free(t);
}

static bool known_status_key(const char *key)
{
	if (!strcmp(key, "version") || !strcmp(key, "uptime_s") || !strcmp(key, "counters") ||
	    !strcmp(key, "lists"))
		return true;
	for (size_t i = 0; i < NSTATUS; i++)
		if (!strcmp(key, status_keys[i].key))
			return true;
	return false;
}

static const char *status_socket;

static void status_width(json_t *res)
{
	const json_t *v, *ctr = json_object_get(res, "counters");
	const char *key;
	int w = 0;

	for (size_t i = 0; i < NSTATUS; i++)
		if ((int)strlen(status_keys[i].label) > w)
			w = (int)strlen(status_keys[i].label);
	json_object_foreach(res, key, v)
		if (!known_status_key(key) && !json_is_object(v) && (int)strlen(key) > w)
			w = (int)strlen(key);
	if (json_is_object(ctr))
		json_object_foreach((json_t *)ctr, key, v)
			if ((int)strlen(key) + 2 > w)
				w = (int)strlen(key) + 2;
	status_label_w = w < 60 ? w : 60;
}

/* One line per list file: what is in force, since when, what went wrong. */
static void status_lists(const json_t *lists)
{
	const json_t *l;
	size_t i;

	if (!json_is_array(lists) || !json_array_size(lists))
		return;
	printf("lists\n");
	json_array_foreach(lists, i, l) {
		json_int_t read = json_integer_value(json_object_get(l, "read_ms"));
		const char *kind = json_string_value(json_object_get(l, "kind"));
		const char *err = json_string_value(json_object_get(l, "error"));
		char ago[AG_DURATION_TEXT_MAX] = "";
		uint64_t now = ag_wall_ms();

		if (read > 0)
			ag_duration_format(now > (uint64_t)read ? now - (uint64_t)read : 0, ago,
					   sizeof(ago));
		printf("  %s  %lld %s, %s%s%s%s%s%s\n", json_string_value(json_object_get(l, "path")),
		       (long long)json_integer_value(json_object_get(l, "entries")),
		       kind && !strcmp(kind, "hosts") ? "names" : "prefixes",
		       read > 0 ? "read " : "never read", ago, read > 0 ? " ago" : "",
		       json_is_true(json_object_get(l, "reading")) ? ", being read again" : "",
		       err ? "; the last read failed, the last good version stays: " : "",
		       err ? err : "");
	}
}

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
	status_width(res);
	for (size_t i = 0; i < NSTATUS; i++)
		print_status_field(status_keys[i].key, status_keys[i].label, json_object_get(res, status_keys[i].key), 0);
	json_object_foreach(res, key, v)
		if (!known_status_key(key) && !json_is_object(v))
			print_status_field(key, key, v, 0);
	status_lists(json_object_get(res, "lists"));
	v = json_object_get(res, "counters");
	if (json_is_object(v)) {
		const json_t *cv;

		printf("counters\n");
		json_object_foreach((json_t *)v, key, cv)
			print_status_field(key, key, cv, 2);
	}
}

int cmd_status(struct cli *cli, struct cli_args *a)
{
	struct ag_ctl_conn *c;
	json_t *res, *o;
	char err[AG_CTL_ERR_MAX] = "";
	int r;

	status_socket = cli->socket;
	if (!cli->json)
		return simple(cli, "status", status_human);
	/* A script asks "is it running?" too: the answer is JSON either way. */
	c = ag_ctl_connect(cli->socket, err, sizeof(err));
	if (!c) {
		o = json_pack("{s:b, s:s, s:s}", "running", 0, "socket", cli->socket, "error",
			      err[0] ? err : strerror(errno));
		out_json(o);
		json_decref(o);
		fflush(stdout);
		cli_fail("%s", err[0] ? err : "cannot connect");
		return EXIT_FAILED;
	}
	r = cli_call(c, json_pack("{s:s}", "op", "status"), &res);
	ag_ctl_close(c);
	if (r)
		return r;
	if (json_is_object(res))
		json_object_set_new(res, "running", json_true());
	out_json(res);
	json_decref(res);
	return EXIT_DONE;
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
					    "DIR", "REMOTE", "HOST", "CALLOUT" };
	static const unsigned flags[] = { COL_RIGHT, COL_RIGHT, COL_RIGHT, COL_SHRINK | COL_CUT_END,
					  COL_SHRINK, 0, 0, COL_SHRINK_LAST, COL_SHRINK, COL_SHRINK };
	struct table t;
	size_t i;
	json_t *p;

	if (!json_is_array(res) || json_array_size(res) == 0) {
		printf("no flow is waiting for a decision\n");
		return;
	}
	/* A column for the callout that holds a flow, when a loaded one holds any. */
	int ncol = 9;

	json_array_foreach(res, i, p)
		if (out_str(p, "callout") && strcmp(out_str(p, "callout"), "ask") != 0)
			ncol = 10;
	table_init(&t, ncol, head, flags);
	json_array_foreach(res, i, p) {
		char age[AG_DURATION_TEXT_MAX];
		char *id = out_text(json_object_get(p, "id")), *pid = out_text(json_object_get(p, "pid"));
		char *user = out_text(json_object_get(p, out_str(p, "user") ? "user" : "uid"));
		const char *cells[] = { id, age_text(json_object_get(p, "age_ms"), age, sizeof(age)),
					pid, user, out_base(out_str(p, "exe")), out_str(p, "proto"),
					out_str(p, "direction"), out_str(p, "remote"), out_str(p, "host"),
					out_str(p, "callout") };

		table_add(&t, cells);
		free(id);
		free(pid);
		free(user);
	}
	table_show(&t);
}

int cmd_pending(struct cli *cli, struct cli_args *a)
{
	return simple(cli, "pending", pending_human);
}

/* ---- allow / deny ------------------------------------------------------------------------ */

static const char *option_duration(enum opt_id d)
{
	switch (d) {
	case OPT_ONCE:
		return "once";
	case OPT_FOR:
		return "for";
	case OPT_UNTIL_QUIT:
		return "until-quit";
	case OPT_UNTIL_RESTART:
		return "until-restart";
	case OPT_ALWAYS:
		return "always";
	default:
		return NULL;
	}
}

static void say_stdout(void *arg, const char *line)
{
	printf("%s\n", line);
}

/* A flow id as "pending" lists it: a number.  Quoted back when it is not. */
static bool flow_id_ok(const char *s)
{
	if (!*s || strlen(s) > 10)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int decide(struct cli *cli, struct cli_args *a, bool allow)
{
	const char *verb = allow ? "allowed" : "denied";
	struct cli_answer ans = { 0 };
	struct ag_ctl_conn *c;
	json_t *req, *res;
	const json_t *rule;
	char what[80], err[256], dur[AG_DURATION_TEXT_MAX + 8];
	int r;

	if (!flow_id_ok(a->pos[0])) {
		char *q = ag_sanitize(strdup(a->pos[0]));

		r = cli_usage_error(cli, "bad flow ID \"%s\" (a number, as \"pending\" lists)", q);
		free(q);
		return r;
	}
	/* The options and the words say the same things; each at most once. */
	if (option_duration(a->duration)) {
		ans.duration = option_duration(a->duration);
		ans.for_ms = a->for_ms;
		snprintf(ans.duration_word, sizeof(ans.duration_word), "--%s",
			 a->duration == OPT_UNTIL_QUIT ? "until-quit" :
			 a->duration == OPT_UNTIL_RESTART ? "until-restart" : ans.duration);
	}
	if (a->val[OPT_SCOPE]) {
		ans.scope = cli_scope_value(a->val[OPT_SCOPE]);
		if (!ans.scope) {
			char *q = ag_sanitize(strdup(a->val[OPT_SCOPE]));

			r = cli_usage_error(cli, "unknown scope \"%s\" (use host, remote, port or app)", q);
			free(q);
			return r;
		}
		snprintf(ans.scope_word, sizeof(ans.scope_word), "--scope %s", a->val[OPT_SCOPE]);
	}
	ans.reject = a->val[OPT_REJECT] != NULL;
	for (int i = 1; i < a->npos; i++)
		if (cli_answer_word(&ans, a->pos[i], err, sizeof(err)))
			return cli_usage_error(cli, "%s", err);
	if (cli_answer_check(&ans, allow, err, sizeof(err)))
		return cli_usage_error(cli, "%s", err);
	req = cli_answer_request(&ans, allow, cli_id(a->pos[0]));
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
		if (json_is_null(rule) || !rule) {
			printf("%s flow %s%s\n", verb, a->pos[0], ans.reject ? " (rejected)" : "");
		} else {
			char *rid = out_text(rule);

			printf("%s flow %s%s; added rule %s (%s%s%s)\n", verb, a->pos[0],
			       ans.reject ? " (rejected)" : "", rid,
			       cli_duration_text(ans.duration, ans.for_ms, dur, sizeof(dur)),
			       ans.scope ? ", " : "", ans.scope ? ans.scope : "");
			free(rid);
		}
		cli_rule_notes(res, "until this command ends", say_stdout, NULL);
	}
	r = EXIT_DONE;
	if (!strcmp(ans.duration, "until-quit")) {
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
	const char *host = out_str(o, "host"), *remote = out_str(o, "remote");
	char addr[128], port[16], *s;

	if (!host || !*host)
		return out_text(json_object_get(o, "remote"));
	out_split_addr(remote, addr, sizeof(addr), port, sizeof(port));
	if (asprintf(&s, "%s%s%s", host, *port ? ":" : "", port) < 0)
		abort();
	return ag_sanitize(s);
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
		const char *cells[] = { out_str(f, "proto"), out_str(f, "direction"), out_base(out_str(f, "exe")),
					pid, out_str(f, "local"), p, rule };

		table_add(&t, cells);
		free(pid);
		free(rule);
		free(p);
	}
	table_show(&t);
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
	cells[5] = strdup(out_base(out_str(e, "exe")));
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

/*
 * Events folded for people (--json keeps every one):
 * - "complete ... hold" and the reauthorization a completion triggers say
 *   that an answer came; the permit or block right after says what it made;
 * - a rule change decides every live flow again: a run of flows still
 *   allowed is one line, a flow it now blocks stays a line of its own.
 */
struct ev_fold {
	unsigned long n;	/* reauth permits in the run */
	json_t *first;
	void (*row)(void *arg, char **cells);
	void *arg;
};

static bool ev_is(const json_t *e, const char *key, const char *val)
{
	const char *v = out_str(e, key);

	return v && !strcmp(v, val);
}

static void fold_flush(struct ev_fold *f)
{
	char *cells[EV_COLS];

	if (f->n == 1) {
		events_row(f->first, cells);
	} else if (f->n > 1) {
		events_row(f->first, cells);
		free(cells[3]);
		free(cells[4]);
		free(cells[5]);
		free(cells[6]);
		free(cells[7]);
		cells[3] = strdup("-");
		cells[4] = strdup("-");
		if (asprintf(&cells[5], "%lu live flows", f->n) < 0)
			abort();
		cells[6] = strdup("decided again: still allowed");
		cells[7] = strdup("-");
	}
	if (f->n) {
		f->row(f->arg, cells);
		free_cells(cells, EV_COLS);
	}
	json_decref(f->first);
	f->first = NULL;
	f->n = 0;
}

static void fold_event(struct ev_fold *f, const json_t *e)
{
	char *cells[EV_COLS];

	if ((ev_is(e, "type", "complete") && ev_is(e, "verdict", "hold")) ||
	    (ev_is(e, "type", "reauth") && ev_is(e, "reason", "completed")))
		return;
	if (ev_is(e, "type", "reauth") && ev_is(e, "verdict", "permit")) {
		if (!f->n++)
			f->first = json_incref((json_t *)e);
		return;
	}
	fold_flush(f);
	events_row(e, cells);
	f->row(f->arg, cells);
	free_cells(cells, EV_COLS);
}

static void row_print(void *arg, char **cells)
{
	table_print_row(arg, (const char *const *)cells);
	fflush(stdout);
}

static void row_add(void *arg, char **cells)
{
	table_add(arg, (const char *const *)cells);
}

static int follow(struct cli *cli, struct ag_ctl_conn *c, json_t *backlog)
{
	/* Widths for rows not seen yet: typical sizes, then fitted. */
	static const char *const sample[] = { "00:00:00", "complete", "permit", "icmp", "out",
					      "program", "www.example.org:443", "3f9c2a71" };
	struct pollfd pfd = { .fd = ag_ctl_fd(c), .events = POLLIN };
	long long last = -1;
	struct table t;
	char err[AG_CTL_ERR_MAX] = "";
	size_t i;
	json_t *e, *m;
	struct ev_fold fold = { .row = row_print, .arg = &t };
	int r;

	table_init(&t, EV_COLS, ev_head, ev_flags);
	table_add(&t, sample);
	table_fit(&t, out_width());
	if (!cli->json)
		table_print_head(&t);
	json_array_foreach(backlog, i, e) {
		if (cli->json)
			out_json_line(e);
		else
			fold_event(&fold, e);
		if (seq_of(e) > last)
			last = seq_of(e);
	}
	fflush(stdout);
	cli_signals_catch(false);
	for (;;) {
		if (!ag_ctl_push_ready(c)) {
			/* The run so far, before waiting: a person sees it now. */
			fold_flush(&fold);
			if (cli_signal)
				break;
			if (cli_ppoll(&pfd, 1, -1) == -1)
				continue;	/* EINTR: look at the flag */
		}
		r = ag_ctl_next_push(c, 0, &m, err, sizeof(err));
		if (r < 0) {
			fold_flush(&fold);
			table_free(&t);
			r = cli_fail("%s", err[0] ? err : strerror(-r));
			return r;
		}
		if (r == 0)
			continue;
		e = json_object_get(m, "event");
		/* Events of the backlog come again when they raced the subscription. */
		if (json_is_object(e) && (seq_of(e) < 0 || seq_of(e) > last)) {
			if (cli->json)
				out_json_line(e);
			else
				fold_event(&fold, e);
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
		struct ev_fold fold = { .row = row_add, .arg = &t };
		size_t i;
		json_t *e;

		table_init(&t, EV_COLS, ev_head, ev_flags);
		json_array_foreach(shown, i, e)
			fold_event(&fold, e);
		fold_flush(&fold);
		table_show(&t);
	}
	json_decref(shown);
	ag_ctl_close(c);
	return r;
}

/* ---- reload, version ----------------------------------------------------------------------- */

int cmd_reload(struct cli *cli, struct cli_args *a)
{
	json_t *res, *errs, *e;
	size_t i, nerr;
	char *n;
	int r;

	r = cli_ask(cli, json_pack("{s:s}", "op", "reload"), &res);
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
