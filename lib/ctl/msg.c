/*
 * msg.c — what a client makes of the lines a server sends: the hello, and
 * which lines are replies and which are pushes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"
#include "ctl/ctl.h"

/* A malloc'ed, sanitized message; NULL only when memory ran out. */
#define msgf(...) ag_sanitize(ag_msgf(__VA_ARGS__))

/* Copy @msg (malloc'ed; NULL when memory ran out: "") into the caller's
 * buffer, cut to fit, and free it. */
static void set_error(char *err, size_t errlen, char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg ? msg : "");
	free(msg);
}

int ag_ctl_parse_line(const char *line, size_t len, json_t **obj, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	int n = len > AG_CTL_QUOTE_MAX ? AG_CTL_QUOTE_MAX : (int)len;

	/* JSON_REJECT_DUPLICATES: {"ok":true,"ok":false} has no meaning. */
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		/* msgf() stops at a NUL: the quote is the text before it. */
		set_error(err, errlen, msgf("alegated sent a line that is not a JSON object: \"%.*s%s\"",
				      n, line, (size_t)n < len ? "..." : ""));
		return -EPROTO;
	}
	*obj = o;
	if (json_object_get(o, "hello"))
		return AG_CTL_MSG_HELLO;
	if (json_object_get(o, "ok"))
		return AG_CTL_MSG_REPLY;
	return AG_CTL_MSG_PUSH;
}

/* The line as text, shortened, for an error message. */
static char *excerpt(const json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s && strlen(s) > AG_CTL_QUOTE_MAX)
		strcpy(s + AG_CTL_QUOTE_MAX - 3, "...");
	return s;
}

int ag_ctl_check_hello(const json_t *msg, struct ag_ctl_hello *out, char *err,
		       size_t errlen)
{
	const json_t *hello = json_object_get(msg, "hello");
	const json_t *e = json_object_get(msg, "error");
	const json_t *v = json_object_get(msg, "version");
	const char *code = json_string_value(json_object_get(msg, "code"));
	const json_t *x;
	char *s, *m;

	memset(out, 0, sizeof(*out));
	out->uid = out->session = -1;
	if (!json_is_string(hello) || strcmp(json_string_value(hello), "alegate") != 0) {
		s = excerpt(msg);
		m = msgf("this is not an alegated control socket: it said \"%s\"", s ? s : "?");
		free(s);
		set_error(err, errlen, m);
		return m ? -EPROTO : -ENOMEM;
	}
	/* A refusal is shown whatever the version: it says why, in words. */
	if (e) {
		if (json_is_string(e) && json_string_length(e) > 0)
			m = msgf("%s", json_string_value(e));
		else
			m = msgf("alegated refused the connection (no reason given)");
		set_error(err, errlen, m);
		if (!m)
			return -ENOMEM;
		if (code && strcmp(code, "denied") == 0)
			return -EACCES;
		if (code && strcmp(code, "busy") == 0)
			return -EBUSY;
		return -ECONNREFUSED;
	}
	if (!json_is_integer(v)) {
		m = msgf("alegated sent a hello without a protocol version");
		set_error(err, errlen, m);
		return m ? -EPROTO : -ENOMEM;
	}
	if (json_integer_value(v) != AG_CTL_PROTOCOL_VERSION) {
		m = msgf("alegated speaks control protocol version %lld; this alegatectl speaks version %d",
			 (long long)json_integer_value(v), AG_CTL_PROTOCOL_VERSION);
		set_error(err, errlen, m);
		return m ? -EPROTONOSUPPORT : -ENOMEM;
	}
	out->version = AG_CTL_PROTOCOL_VERSION;
	x = json_object_get(msg, "server");
	if (json_is_string(x)) {
		snprintf(out->server, sizeof(out->server), "%s", json_string_value(x));
		ag_sanitize(out->server);
	}
	x = json_object_get(msg, "uid");
	if (json_is_integer(x))
		out->uid = json_integer_value(x);
	x = json_object_get(msg, "session");
	if (json_is_integer(x))
		out->session = json_integer_value(x);
	return 0;
}

void ag_ctl_id_text(const json_t *id, char *buf, size_t len)
{
	if (json_is_integer(id))
		snprintf(buf, len, "%lld", (long long)json_integer_value(id));
	else if (json_is_string(id))
		snprintf(buf, len, "%s", json_string_value(id));
	else
		buf[0] = '\0';
}
