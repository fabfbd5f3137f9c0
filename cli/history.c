/*
 * cli/history.c — `history` and `traffic`: the connections alegated kept
 * in its database, one per row, and the bytes each program moved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* --since DURATION into the request's "since_ms"; EXIT_USAGE when bad. */
static int put_since(struct cli *cli, struct cli_args *a, json_t *req)
{
	char err[160];
	uint64_t ms;

	if (!a->val[OPT_SINCE])
		return EXIT_DONE;
	if (ag_duration_parse(a->val[OPT_SINCE], &ms, err, sizeof(err)) || !ms)
		return cli_usage_error(cli, "--since: %s", ms ? err : "a duration above 0");
	json_object_set_new(req, "since_ms", json_integer((json_int_t)ms));
	return EXIT_DONE;
}


/* --since into @req (taken over), then the call and the answer (cli_ask_show). */
static int since_call_show(struct cli *cli, struct cli_args *a, json_t *req,
			   void (*human)(json_t *res))
{
	int r = put_since(cli, a, req);

	if (r) {
		json_decref(req);
		return r;
	}
	return cli_ask_show(cli, req, human);
}

/* 1234567 -> "1.2M": bytes for a person, base 1024 as the sizes a file manager shows */
static void human_bytes(const json_t *v, char *buf, size_t len)
{
	static const char units[] = "kMGTP";
	double b;
	int u = -1;

	if (!json_is_integer(v)) {
		snprintf(buf, len, "-");
		return;
	}
	b = (double)json_integer_value(v);
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%.0f", b);
	else
		snprintf(buf, len, b < 10 ? "%.1f%c" : "%.0f%c", b, units[u]);
}

static void history_human(json_t *res)
{
	static const char *const head[] = { "TIME", "ACTION", "BY", "PROTO", "DIR", "PROGRAM",
					    "PID", "PEER", "IN", "OUT", "RULE" };
	static const unsigned flags[] = { 0, 0, 0, 0, 0, COL_SHRINK, COL_RIGHT, COL_SHRINK_LAST,
					  COL_RIGHT, COL_RIGHT, 0 };
	struct table t;
	size_t i;
	json_t *r;

	if (!json_is_array(res) || json_array_size(res) == 0) {
		printf("no connection kept matches\n");
		return;
	}
	table_init(&t, 11, head, flags);
	json_array_foreach(res, i, r) {
		char when[32] = "-", in[16], out[16], *pid = out_text(json_object_get(r, "pid"));
		char *rule = out_text(json_object_get(r, "rule"));
		const json_t *ms = json_object_get(r, "time_ms");
		const char *host = str(r, "host");

		if (json_is_integer(ms)) {
			time_t s = (time_t)(json_integer_value(ms) / 1000);
			struct tm tm;

			if (localtime_r(&s, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		}
		human_bytes(json_object_get(r, "bytes_in"), in, sizeof(in));
		human_bytes(json_object_get(r, "bytes_out"), out, sizeof(out));
		const char *cells[] = { when, str(r, "action"), str(r, "decided"), str(r, "proto"),
					str(r, "direction"), out_base(str(r, "exe")), pid,
					host ? host : str(r, "remote"), in, out, rule };

		table_add(&t, cells);
		free(pid);
		free(rule);
	}
	table_show(&t);
}

int cmd_history(struct cli *cli, struct cli_args *a)
{
	json_t *req = json_pack("{s:s}", "op", "history");

	if (a->val[OPT_APP])
		json_object_set_new(req, "app", json_string(a->val[OPT_APP]));
	if (a->val[OPT_HOST])
		json_object_set_new(req, "host", json_string(a->val[OPT_HOST]));
	if (a->val[OPT_LIMIT]) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(a->val[OPT_LIMIT], &end, 10);
		if (*a->val[OPT_LIMIT] < '1' || *a->val[OPT_LIMIT] > '9' || *end || errno) {
			json_decref(req);
			return cli_usage_error(cli, "--limit: not a number above 0: \"%s\"",
					       a->val[OPT_LIMIT]);
		}
		json_object_set_new(req, "limit", json_integer((json_int_t)n));
	} else {
		json_object_set_new(req, "limit", json_integer(cli->json ? 0 : 100));
	}
	return since_call_show(cli, a, req, history_human);
}

static void traffic_human(json_t *res)
{
	static const char *const head[] = { "PROGRAM", "CONNECTIONS", "IN", "OUT" };
	static const unsigned flags[] = { COL_SHRINK, COL_RIGHT, COL_RIGHT, COL_RIGHT };
	struct table t;
	size_t i;
	json_t *r;

	if (!json_is_array(res) || json_array_size(res) == 0) {
		printf("no connection kept in that time\n");
		return;
	}
	table_init(&t, 4, head, flags);
	json_array_foreach(res, i, r) {
		char in[16], out[16], *n = out_text(json_object_get(r, "connections"));
		const char *exe = str(r, "exe");

		human_bytes(json_object_get(r, "bytes_in"), in, sizeof(in));
		human_bytes(json_object_get(r, "bytes_out"), out, sizeof(out));
		const char *cells[] = { exe ? exe : "(unknown)", n, in, out };

		table_add(&t, cells);
		free(n);
	}
	table_show(&t);
}

int cmd_traffic(struct cli *cli, struct cli_args *a)
{
	return since_call_show(cli, a, json_pack("{s:s}", "op", "traffic"), traffic_human);
}
