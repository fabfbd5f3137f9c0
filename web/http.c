/*
 * http.c — alegate-web's HTTP side: who may ask, the JSON API, the event
 * stream, /metrics and the page built into the binary.
 *
 * Every request needs the token: "Authorization: Bearer TOKEN", or the
 * cookie the page gets by opening the printed URL (GET /?token=TOKEN
 * answers with the cookie and a redirect that drops the token from the
 * address bar).  Then two same-origin checks, both even with the token:
 * - the Host header must name this server by an address or "localhost",
 *   never another DNS name: a page whose name was rebound to 127.0.0.1
 *   is refused (DNS rebinding);
 * - a request that changes state (anything but GET and HEAD) whose Origin
 *   is not "http://" + that Host, or whose Sec-Fetch-Site says another
 *   site sent it, is refused (cross-site request forgery).
 *
 * libmicrohttpd runs a thread per connection: an event stream blocks in
 * its reader until the hub has a message, which costs a thread, not a
 * busy loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "ctl/ctl.h"
#include "web/web.h"

static const struct web_conf *conf;
static struct MHD_Daemon *mhd;

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* What a request collected across the calls libmicrohttpd makes for it. */
struct req {
	char *body;		/* grown as it arrives, at most WEB_BODY_MAX */
	size_t len;
	bool too_long;
};

/* ---- responses ------------------------------------------------------------------- */

static enum MHD_Result send_resp(struct MHD_Connection *conn, unsigned status,
				 struct MHD_Response *resp, const char *type)
{
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	if (!MHD_get_response_header(resp, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* send_json - @v (reference taken) as the body. */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);

	text[n] = '\0';
	return send_resp(conn, status,
			 MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE),
			 "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status,
				  const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status,
				  const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(conn, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
}

/* ---- who may ask ----------------------------------------------------------------- */

/* Comparison whose time does not depend on where the first difference is. */
static bool token_equal(const char *given)
{
	size_t n = strlen(given);
	unsigned char diff = n != WEB_TOKEN_HEX;

	for (size_t i = 0; i < WEB_TOKEN_HEX; i++)
		diff |= (unsigned char)(i < n ? given[i] : 0) ^ (unsigned char)conf->token[i];
	return diff == 0;
}

static bool has_token(struct MHD_Connection *conn)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, conf->cookie_name);

	if (auth && !strncasecmp(auth, "Bearer ", 7) && token_equal(auth + 7))
		return true;
	return cookie && token_equal(cookie);
}

/*
 * host_is_ours - the Host header names this server by an IP address or
 * "localhost" (any port: ssh -L may forward from another one).  A DNS name
 * that resolves here is how DNS rebinding reaches a local server.
 */
static bool host_is_ours(const char *host)
{
	char name[256];
	const char *end;
	unsigned char addr[16];

	if (!host || !*host)
		return false;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		host++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
	}
	if ((size_t)(end - host) >= sizeof(name))
		return false;
	memcpy(name, host, (size_t)(end - host));
	name[end - host] = '\0';
	if (!strcasecmp(name, "localhost"))
		return true;
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* same_origin - the request was sent by a page of this server (or not by a page). */
static bool same_origin(struct MHD_Connection *conn, const char *host)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");

	if (site && strcmp(site, "same-origin") && strcmp(site, "none"))
		return false;
	if (!origin)
		return true;	/* not a browser (curl, scripts): the Host check stands */
	return !strncasecmp(origin, "http://", 7) && !strcasecmp(origin + 7, host);
}

/* ---- the API --------------------------------------------------------------------- */

static unsigned status_of(const char *code)
{
	static const struct { const char *code; unsigned status; } map[] = {
		{ "bad_json", 400 }, { "bad_request", 400 }, { "unknown_op", 400 },
		{ "too_long", 413 }, { "not_found", 404 }, { "denied", 403 },
		{ "busy", 503 }, { "unavailable", 502 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(code, map[i].code))
			return map[i].status;
	return 500;
}

/* call - @req (reference taken) to alegated; its result, or its error, as the reply. */
static enum MHD_Result call(struct MHD_Connection *conn, json_t *req)
{
	json_t *res = NULL;
	const char *code;
	char error[AG_CTL_ERR_MAX] = "";
	enum MHD_Result r;

	if (!req)
		return send_error(conn, 500, "failed", "out of memory");
	if (hub_call(req, &res, &code, error, sizeof(error)) < 0) {
		r = send_error(conn, status_of(code), code, "%s", error[0] ? error : "failed");
	} else {
		r = send_json(conn, 200, res);
	}
	json_decref(req);
	return r;
}

static json_t *op(const char *name)
{
	return json_pack("{s:s}", "op", name);
}

/* id_value - a path segment as the protocol wants it: a number when it is one. */
static json_t *id_value(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s >= '0' && *s <= '9' && !*end && !errno)
		return json_integer(v);
	return json_string(s);
}

/* body_object - the request body as a JSON object ({} when empty). */
static json_t *body_object(struct MHD_Connection *conn, struct req *rq, enum MHD_Result *r)
{
	json_error_t jerr;
	json_t *v;

	if (rq->len == 0)
		return json_object();
	v = json_loadb(rq->body, rq->len, 0, &jerr);
	if (!v || !json_is_object(v)) {
		json_decref(v);
		*r = send_error(conn, 400, "bad_json", "the body must be a JSON object%s%s",
				v ? "" : ": ", v ? "" : jerr.text);
		return NULL;
	}
	return v;
}

/*
 * take_for - a "for" field in the CLI's words ("5m", "1h30m") as
 * milliseconds into @req under @key; removes it from @body.
 * Return: false after replying 400.
 */
static bool take_for(struct MHD_Connection *conn, json_t *body, json_t *req, const char *key,
		     enum MHD_Result *r)
{
	json_t *f = json_object_get(body, "for");
	char err[256];
	uint64_t ms;

	if (!f)
		return true;
	if (!json_is_string(f) ||
	    ag_duration_parse(json_string_value(f), &ms, err, sizeof(err)) < 0) {
		*r = send_error(conn, 400, "bad_request", "%s",
				json_is_string(f) ? err : "\"for\" must be a string such as \"5m\"");
		return false;
	}
	json_object_set_new(req, key, json_integer((json_int_t)ms));
	json_object_del(body, "for");
	return true;
}

/* POST /api/pending/ID/allow|deny {"duration":…, "for":"5m", "scope":…, "reject":…} */
static enum MHD_Result decide(struct MHD_Connection *conn, struct req *rq, const char *id,
			      const char *verdict)
{
	static const char *const allowed[] = { "duration", "for", "for_ms", "scope", "reject" };
	enum MHD_Result r = MHD_NO;
	json_t *body = body_object(conn, rq, &r), *req;
	const char *key;
	json_t *v;

	if (!body)
		return r;
	req = op(verdict);
	json_object_set_new(req, "pending", id_value(id));
	json_object_foreach(body, key, v) {
		size_t i;

		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (!strcmp(key, allowed[i]))
				break;
		if (i == sizeof(allowed) / sizeof(allowed[0]) ||
		    (!strcmp(key, "reject") && strcmp(verdict, "deny"))) {
			r = send_error(conn, 400, "bad_request", "unknown field \"%.60s\" (use duration, "
				       "for, scope%s)", key, strcmp(verdict, "deny") ? "" : ", reject");
			goto out;
		}
	}
	if (!take_for(conn, body, req, "for_ms", &r))
		goto out;
	if (json_object_get(req, "for_ms") && !json_object_get(body, "duration"))
		json_object_set_new(req, "duration", json_string("for"));
	if (!json_object_get(body, "duration") && !json_object_get(req, "duration"))
		json_object_set_new(req, "duration", json_string("once"));
	json_object_update(req, body);
	json_decref(body);
	return call(conn, req);
out:
	json_decref(body);
	json_decref(req);
	return r;
}

/* POST /api/rules {rule fields…, "for":"1h"} */
static enum MHD_Result rule_add(struct MHD_Connection *conn, struct req *rq)
{
	enum MHD_Result r = MHD_NO;
	json_t *body = body_object(conn, rq, &r), *req;

	if (!body)
		return r;
	req = op("rules.add");
	if (!take_for(conn, body, body, "expires_in_ms", &r)) {
		json_decref(req);
		json_decref(body);
		return r;
	}
	if (json_object_get(body, "expires_in_ms") && !json_object_get(body, "lifetime"))
		json_object_set_new(body, "lifetime", json_string("timed"));
	if (!json_object_get(body, "lifetime"))
		json_object_set_new(body, "lifetime", json_string("always"));
	/* what rules.list adds that a new rule cannot carry */
	json_object_del(body, "id");
	json_object_del(body, "created");
	json_object_set_new(req, "rule", body);
	return call(conn, req);
}

/* GET /api/events as JSON: the newest events (?after=SEQ&limit=N). */
static enum MHD_Result events_list(struct MHD_Connection *conn)
{
	const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
	const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	json_t *req = op("events");
	const char *bad = NULL;
	char *end;

	if (after) {
		long long v = strtoll(after, &end, 10);

		if (*end || !*after || v < 0)
			bad = "after";
		json_object_set_new(req, "after", json_integer(v));
	}
	if (limit) {
		long long v = strtoll(limit, &end, 10);

		if (*end || !*limit || v < 0 || v > 100000)
			bad = "limit";
		json_object_set_new(req, "limit", json_integer(v));
	} else {
		json_object_set_new(req, "limit", json_integer(200));
	}
	if (bad) {
		json_decref(req);
		return send_error(conn, 400, "bad_request", "\"%s\" must be a number", bad);
	}
	return call(conn, req);
}

/* A query argument in seconds, as milliseconds into req[key]; false when bad. */
static bool secs_arg(struct MHD_Connection *conn, const char *arg, json_t *req, const char *key)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, arg);
	char *end;
	long long n;

	if (!v)
		return true;
	n = strtoll(v, &end, 10);
	if (*end || !*v || n < 0 || n > 100LL * 366 * 86400)
		return false;
	json_object_set_new(req, key, json_integer(n * 1000));
	return true;
}

/* GET /api/traffic?since=SECONDS&bucket=SECONDS: bytes per program, and
 * with bucket, each program's series over time. */
static enum MHD_Result traffic(struct MHD_Connection *conn)
{
	json_t *req = op("traffic");

	if (!secs_arg(conn, "since", req, "since_ms") || !secs_arg(conn, "bucket", req, "bucket_ms")) {
		json_decref(req);
		return send_error(conn, 400, "bad_request", "\"since\" and \"bucket\" are seconds");
	}
	return call(conn, req);
}

/* GET /api/history?since=SECONDS&app=PATH&host=NAME&limit=N */
static enum MHD_Result history(struct MHD_Connection *conn)
{
	const char *app = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "app");
	const char *host = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "host");
	const char *limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	json_t *req = op("history");
	long long n = 500;
	char *end;

	if (limit) {
		n = strtoll(limit, &end, 10);
		if (*end || !*limit || n < 1 || n > 100000) {
			json_decref(req);
			return send_error(conn, 400, "bad_request", "\"limit\" must be 1 to 100000");
		}
	}
	json_object_set_new(req, "limit", json_integer(n));
	if (app)
		json_object_set_new(req, "app", json_string(app));
	if (host)
		json_object_set_new(req, "host", json_string(host));
	if (!secs_arg(conn, "since", req, "since_ms")) {
		json_decref(req);
		return send_error(conn, 400, "bad_request", "\"since\" is seconds");
	}
	return call(conn, req);
}

/* ---- the event stream --------------------------------------------------------------- */

struct stream {
	struct hub_reader reader;
	unsigned kinds;
	bool greeted;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char hello[] = "retry: 1000\nevent: hello\ndata: {}\n\n";
	static const char keepalive[] = ": keepalive\n\n";
	struct stream *s = cls;
	long n;

	if (!s->greeted && max >= sizeof(hello)) {
		s->greeted = true;
		memcpy(buf, hello, sizeof(hello) - 1);
		return sizeof(hello) - 1;
	}
	/* waiting flows at once; events, many a second, in batches */
	n = hub_read(&s->reader, buf, max, WEB_KEEPALIVE_MS,
		     s->kinds & HUB_EVENTS ? WEB_EVENTS_LINGER_MS : 0);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == 0 && max >= sizeof(keepalive)) {
		memcpy(buf, keepalive, sizeof(keepalive) - 1);
		n = sizeof(keepalive) - 1;
	}
	return n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	hub_stream_del(s->kinds);
	free(s);
}

static enum MHD_Result events_stream(struct MHD_Connection *conn)
{
	const char *only = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "only");
	unsigned kinds = HUB_PENDING | HUB_EVENTS;
	struct stream *s;
	struct MHD_Response *resp;

	if (only && !strcmp(only, "pending"))
		kinds = HUB_PENDING;
	else if (only && !strcmp(only, "events"))
		kinds = HUB_EVENTS;
	else if (only)
		return send_error(conn, 400, "bad_request", "\"only\" is pending or events, "
				  "not \"%.40s\"", only);
	if (!hub_stream_add(kinds))
		return send_error(conn, 503, "busy", "too many event streams (%d)", WEB_MAX_STREAMS);
	s = calloc(1, sizeof(*s));
	if (!s) {
		hub_stream_del(kinds);
		return MHD_NO;
	}
	s->kinds = kinds;
	hub_reader_open(&s->reader, kinds);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
						 stream_free);
	if (!resp) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return send_resp(conn, 200, resp, "text/event-stream");
}

/* ---- /metrics ------------------------------------------------------------------------- */

struct text {
	char *p;
	size_t len;
	FILE *f;
};

/* metric_name - a counter key as a Prometheus name part: [a-z0-9_]. */
static void put_name(FILE *f, const char *key)
{
	for (const char *k = key; *k; k++)
		fputc((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ? *k :
		      (*k >= 'A' && *k <= 'Z') ? *k - 'A' + 'a' : '_', f);
}

static void put_label(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
	fprintf(f, "# HELP alegate_%s %s\n# TYPE alegate_%s gauge\nalegate_%s %.17g\n",
		name, help, name, name, v);
}

static enum MHD_Result metrics(struct MHD_Connection *conn)
{
	json_t *req = op("status"), *st = NULL, *ctr, *v;
	const char *code, *key;
	char error[AG_CTL_ERR_MAX] = "", *text = NULL;
	size_t len = 0;
	struct hub_stats hs;
	FILE *f = open_memstream(&text, &len);
	bool up;

	if (!f) {
		json_decref(req);
		return MHD_NO;
	}
	up = hub_call(req, &st, &code, error, sizeof(error)) == 0;
	json_decref(req);
	hub_get_stats(&hs);
	gauge(f, "up", "1 when alegate-web reaches alegated", up);
	if (up) {
		fprintf(f, "# HELP alegate_info alegated's version, backend and fail mode\n"
			   "# TYPE alegate_info gauge\nalegate_info{version=\"");
		put_label(f, json_string_value(json_object_get(st, "version")));
		fputs("\",backend=\"", f);
		put_label(f, json_string_value(json_object_get(st, "backend")));
		fputs("\",fail_mode=\"", f);
		put_label(f, json_string_value(json_object_get(st, "fail_mode")));
		fputs("\"} 1\n", f);
		gauge(f, "uptime_seconds", "seconds since alegated started",
		      (double)json_integer_value(json_object_get(st, "uptime_s")));
		gauge(f, "pending_flows", "flows waiting for a decision",
		      (double)json_integer_value(json_object_get(st, "pending")));
		gauge(f, "flows", "authorized live flows",
		      (double)json_integer_value(json_object_get(st, "flows")));
		gauge(f, "rules", "rules loaded",
		      (double)json_integer_value(json_object_get(st, "rules")));
		gauge(f, "control_clients", "connections to the control socket",
		      (double)json_integer_value(json_object_get(st, "clients")));
		ctr = json_object_get(st, "counters");
		json_object_foreach(ctr, key, v) {
			size_t kl = strlen(key);
			bool is_gauge = (kl > 3 && (!strcmp(key + kl - 3, "_us") ||
						   !strcmp(key + kl - 3, "_ms"))) ||
					strstr(key, "mean");

			if (!json_is_number(v))
				continue;
			fputs("# TYPE alegate_", f);
			put_name(f, key);
			fprintf(f, "%s %s\nalegate_", is_gauge ? "" : "_total",
				is_gauge ? "gauge" : "counter");
			put_name(f, key);
			fprintf(f, "%s %.17g\n", is_gauge ? "" : "_total", json_number_value(v));
		}
	}
	if (up) {
		json_t *h = json_object_get(st, "history");
		static const struct {
			const char *key, *name, *help;
		} hk[] = {
			{ "rows_written", "history_rows", "connections written to the history" },
			{ "ends_written", "history_ends", "connection ends (with bytes) written" },
			{ "dropped", "history_dropped", "connections not kept: the writer's queue was full" },
			{ "write_errors", "history_write_errors", "history transactions that failed" },
			{ "trimmed", "history_trimmed", "rows removed by history_days and history_max_mb" },
		};

		for (size_t i = 0; h && i < sizeof(hk) / sizeof(hk[0]); i++) {
			json_t *x = json_object_get(h, hk[i].key);

			if (json_is_integer(x))
				fprintf(f, "# HELP alegate_%s_total %s\n# TYPE alegate_%s_total counter\n"
					   "alegate_%s_total %lld\n", hk[i].name, hk[i].help, hk[i].name,
					hk[i].name, (long long)json_integer_value(x));
		}
		v = json_object_get(json_object_get(st, "fast_path_info"), "folded");
		if (json_is_integer(v))
			fprintf(f, "# HELP alegate_fast_path_folded_total fast-path events not reported "
				   "(the ring was full)\n# TYPE alegate_fast_path_folded_total counter\n"
				   "alegate_fast_path_folded_total %lld\n", (long long)json_integer_value(v));
	}
	gauge(f, "web_event_streams", "open event streams of alegate-web", hs.streams);
	fprintf(f, "# HELP alegate_web_pushed_total messages alegated pushed to alegate-web\n"
		   "# TYPE alegate_web_pushed_total counter\nalegate_web_pushed_total %llu\n",
		(unsigned long long)hs.pushed);
	fprintf(f, "# HELP alegate_web_reconnects_total attempts to reach alegated after the first\n"
		   "# TYPE alegate_web_reconnects_total counter\nalegate_web_reconnects_total %llu\n",
		(unsigned long long)hs.reconnects);
	json_decref(st);
	fclose(f);
	return send_resp(conn, up ? 200 : 503,
			 MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE),
			 "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- routing ---------------------------------------------------------------------- */

static enum MHD_Result send_asset(struct MHD_Connection *conn, const char *url)
{
	if (!strcmp(url, "/"))
		url = "/index.html";
	for (const struct web_asset *a = web_assets; a->path; a++) {
		if (strcmp(a->path, url))
			continue;
		return send_resp(conn, 200,
				 MHD_create_response_from_buffer(a->len, (void *)a->data,
								 MHD_RESPMEM_PERSISTENT),
				 a->type);
	}
	return send_error(conn, 404, "not_found", "no page \"%.100s\"", url);
}

/* login - GET /?token=TOKEN: the cookie, and a redirect that drops the token. */
static enum MHD_Result login(struct MHD_Connection *conn)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
								    MHD_RESPMEM_PERSISTENT);
	char cookie[128];

	if (!resp)
		return MHD_NO;
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict",
		 conf->cookie_name, conf->token);
	MHD_add_response_header(resp, "Set-Cookie", cookie);
	MHD_add_response_header(resp, "Location", "/");
	return send_resp(conn, 303, resp, NULL);
}

static enum MHD_Result not_allowed(struct MHD_Connection *conn, const char *allow)
{
	return send_error(conn, 405, "bad_request", "method not allowed here (use %s)", allow);
}

/* split - "/a/b/c" into up to 4 segments (in @buf); their count, or -1 when longer. */
static int split(const char *url, char *buf, size_t len, char *seg[4])
{
	int n = 0;

	if (strlen(url) >= len)
		return -1;
	strcpy(buf, url);
	char *save = NULL;

	for (char *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == 4)
			return -1;
		seg[n++] = p;
	}
	return n;
}

static enum MHD_Result route(struct MHD_Connection *conn, const char *url, const char *method,
			     struct req *rq)
{
	bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	bool post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
	char buf[512], *s[4];
	int n;

	if (!strcmp(url, "/metrics"))
		return get ? metrics(conn) : not_allowed(conn, "GET");
	if (strncmp(url, "/api/", 5))
		return get ? send_asset(conn, url) : not_allowed(conn, "GET");
	n = split(url + 5, buf, sizeof(buf), s);
	if (n == 1 && !strcmp(s[0], "status"))
		return get ? call(conn, op("status")) : not_allowed(conn, "GET");
	if (n == 1 && !strcmp(s[0], "flows"))
		return get ? call(conn, op("flows")) : not_allowed(conn, "GET");
	if (n == 1 && !strcmp(s[0], "pending"))
		return get ? call(conn, op("pending")) : not_allowed(conn, "GET");
	if (n == 1 && !strcmp(s[0], "traffic"))
		return get ? traffic(conn) : not_allowed(conn, "GET");
	if (n == 1 && !strcmp(s[0], "history"))
		return get ? history(conn) : not_allowed(conn, "GET");
	if (n == 3 && !strcmp(s[0], "pending") && (!strcmp(s[2], "allow") || !strcmp(s[2], "deny")))
		return post ? decide(conn, rq, s[1], s[2]) : not_allowed(conn, "POST");
	if (n == 1 && !strcmp(s[0], "events")) {
		const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");

		if (!get)
			return not_allowed(conn, "GET");
		return accept && strstr(accept, "text/event-stream") ? events_stream(conn)
								     : events_list(conn);
	}
	if (n == 1 && !strcmp(s[0], "rules")) {
		if (get)
			return call(conn, op("rules.list"));
		return post ? rule_add(conn, rq) : not_allowed(conn, "GET, POST");
	}
	if (n == 2 && !strcmp(s[0], "rules")) {
		json_t *req;

		if (!del)
			return not_allowed(conn, "DELETE");
		req = op("rules.del");
		json_object_set_new(req, "rule", json_string(s[1]));
		return call(conn, req);
	}
	if (n == 3 && !strcmp(s[0], "rules") && (!strcmp(s[2], "enable") || !strcmp(s[2], "disable"))) {
		json_t *req;

		if (!post)
			return not_allowed(conn, "POST");
		req = op(!strcmp(s[2], "enable") ? "rules.enable" : "rules.disable");
		json_object_set_new(req, "rule", json_string(s[1]));
		return call(conn, req);
	}
	return send_error(conn, 404, "not_found", "no API \"%.100s\"", url);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **ctx)
{
	struct req *rq = *ctx;
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	bool safe = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	const char *given;

	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*ctx = rq;
		return MHD_YES;
	}
	if (*upload_len) {
		char *nb;

		if (rq->too_long || rq->len + *upload_len > WEB_BODY_MAX) {
			rq->too_long = true;
		} else if ((nb = realloc(rq->body, rq->len + *upload_len))) {
			rq->body = nb;
			memcpy(rq->body + rq->len, upload, *upload_len);
			rq->len += *upload_len;
		} else {
			return MHD_NO;
		}
		*upload_len = 0;
		return MHD_YES;
	}
	given = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	if (safe && given && !strcmp(url, "/") && token_equal(given)) {
		if (!host_is_ours(host))
			goto bad_host;
		return login(conn);
	}
	if (has_token(conn)) {
		if (!host_is_ours(host))
			goto bad_host;
		if (!safe && !same_origin(conn, host))
			return send_error(conn, 403, "forbidden",
					  "cross-origin request refused (Origin \"%.100s\")",
					  MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
								      "Origin") ?: "");
		if (rq->too_long)
			return send_error(conn, 413, "too_long", "the body is over %d bytes",
					  WEB_BODY_MAX);
		return route(conn, url, method, rq);
	}
	{
		struct MHD_Response *resp;
		static const char msg[] =
			"{\"error\":\"a token is needed: open the URL alegate-web printed, or send "
			"Authorization: Bearer TOKEN\",\"code\":\"unauthorized\"}";

		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		if (resp)
			MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"alegate-web\"");
		return send_resp(conn, 401, resp, "application/json");
	}
bad_host:
	return send_error(conn, 403, "forbidden", "Host \"%.100s\" is not this server's address "
			  "(open it by address or as localhost)", host ? host : "");
}

static void completed(void *cls, struct MHD_Connection *conn, void **ctx,
		      enum MHD_RequestTerminationCode why)
{
	struct req *rq = *ctx;

	if (rq)
		free(rq->body);
	free(rq);
	*ctx = NULL;
}

int http_start(const struct web_conf *c, int fd)
{
	conf = c;
	mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			       MHD_USE_ERROR_LOG,
			       0, NULL, NULL, handle, NULL,
			       MHD_OPTION_LISTEN_SOCKET, fd,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS,
			       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
			       MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
			       MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			       MHD_OPTION_END);
	return mhd ? 0 : -EIO;
}

void http_stop(void)
{
	if (mhd)
		MHD_stop_daemon(mhd);
	mhd = NULL;
}
