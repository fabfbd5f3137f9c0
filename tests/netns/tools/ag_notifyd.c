/*
 * ag_notifyd — a stand-in desktop notification server for the tests of
 * alegate-notify, on the session bus (run it under dbus-run-session).
 *
 *   ag_notifyd serve LOG [-c CAPS] [-o]
 *       Own org.freedesktop.Notifications and log every call to LOG, one
 *       JSON object a line: {"call":"Notify","id":…,"app_name":…,
 *       "replaces_id":…,"app_icon":…,"summary":…,"body":…,"actions":[…],
 *       "hints":{…},"expire_timeout":…}, {"call":"CloseNotification","id":…},
 *       {"call":"closed","id":…,"reason":…} for each NotificationClosed sent,
 *       {"call":"action","id":…,"key":…} for each ActionInvoked sent.
 *       CAPS: the capabilities, comma-separated (default
 *       "actions,body,body-markup"; "" for none).  -o answers every call
 *       with a string, logged as {"call":MEMBER,"odd":true}.  Prints
 *       "ready" once it holds the name.
 *   ag_notifyd invoke ID KEY
 *       Make the server press KEY on notification ID (ActionInvoked, then
 *       NotificationClosed reason 2 unless it is resident).
 *   ag_notifyd dismiss ID
 *       Make the server close ID as a person would (reason 2).
 *   ag_notifyd forge ID KEY
 *       Emit ActionInvoked(ID, KEY) from this process, which does not own
 *       the name: a client must not believe it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <systemd/sd-bus.h>

#define NAME	"org.freedesktop.Notifications"
#define PATH	"/org/freedesktop/Notifications"
#define IFACE	NAME
#define TEST	"org.alegate.FakeNotifications"
#define OPEN_MAX 4096

static FILE *logfp;
static char caps[1024] = "actions,body,body-markup";
static int odd;
static uint32_t next_id;
static struct { uint32_t id; int resident; } open_n[OPEN_MAX];
static size_t nopen;

static void log_obj(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s) {
		fprintf(logfp, "%s\n", s);
		fflush(logfp);
	}
	free(s);
	json_decref(o);
}

static ssize_t find_open(uint32_t id)
{
	for (size_t i = 0; i < nopen; i++)
		if (open_n[i].id == id)
			return (ssize_t)i;
	return -1;
}

static void close_n(sd_bus *bus, uint32_t id, uint32_t reason)
{
	ssize_t i = find_open(id);

	if (i < 0)
		return;
	open_n[i] = open_n[--nopen];
	sd_bus_emit_signal(bus, PATH, IFACE, "NotificationClosed", "uu", id, reason);
	log_obj(json_pack("{s:s, s:i, s:i}", "call", "closed", "id", (json_int_t)id, "reason",
			  (json_int_t)reason));
}

/* -o: every call on the path answered with a string, whatever it expects. */
static int m_odd(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	if (!sd_bus_message_is_method_call(m, IFACE, NULL))
		return 0;
	log_obj(json_pack("{s:s, s:b}", "call", sd_bus_message_get_member(m), "odd", 1));
	return sd_bus_reply_method_return(m, "s", "odd");
}

static int m_caps(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	sd_bus_message *reply = NULL;
	char buf[sizeof(caps)], *save = NULL, *t;
	int r;

	log_obj(json_pack("{s:s}", "call", "GetCapabilities"));
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "s");
	snprintf(buf, sizeof(buf), "%s", caps);
	for (t = strtok_r(buf, ",", &save); r >= 0 && t; t = strtok_r(NULL, ",", &save))
		r = sd_bus_message_append(reply, "s", t);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int read_hints(sd_bus_message *m, json_t *hints, int *resident)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");

	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *k, *contents, *s;
		char type;
		uint8_t y;
		int b;
		int32_t i;
		uint32_t u;

		r = sd_bus_message_read(m, "s", &k);
		if (r >= 0)
			r = sd_bus_message_peek_type(m, &type, &contents);
		if (r >= 0)
			r = sd_bus_message_enter_container(m, 'v', contents);
		if (r < 0)
			return r;
		switch (contents[0]) {
		case 'y':
			r = sd_bus_message_read(m, "y", &y);
			json_object_set_new(hints, k, json_integer(y));
			break;
		case 'b':
			r = sd_bus_message_read(m, "b", &b);
			json_object_set_new(hints, k, json_boolean(b));
			if (!strcmp(k, "resident"))
				*resident = b;
			break;
		case 's':
			r = sd_bus_message_read(m, "s", &s);
			json_object_set_new(hints, k, json_string(s));
			break;
		case 'i':
			r = sd_bus_message_read(m, "i", &i);
			json_object_set_new(hints, k, json_integer(i));
			break;
		case 'u':
			r = sd_bus_message_read(m, "u", &u);
			json_object_set_new(hints, k, json_integer(u));
			break;
		default:
			r = sd_bus_message_skip(m, contents);
			json_object_set_new(hints, k, json_string(contents));
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r;
}

static int m_notify(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	const char *app, *icon, *summary, *body;
	uint32_t replaces, id;
	char **actions = NULL;
	json_t *hints = json_object(), *ja = json_array();
	int32_t expire;
	int resident = 0, r;

	r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body);
	if (r >= 0)
		r = sd_bus_message_read_strv(m, &actions);
	if (r >= 0)
		r = read_hints(m, hints, &resident);
	if (r >= 0)
		r = sd_bus_message_read(m, "i", &expire);
	if (r < 0) {
		json_decref(hints);
		json_decref(ja);
		return r;
	}
	for (char **a = actions; a && *a; a++)
		json_array_append_new(ja, json_string(*a));
	if (replaces && find_open(replaces) >= 0) {
		id = replaces;
		open_n[find_open(id)].resident = resident;
	} else {
		id = ++next_id;
		if (nopen < OPEN_MAX)
			open_n[nopen].id = id, open_n[nopen++].resident = resident;
	}
	log_obj(json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:i}", "call", "Notify",
			  "id", (json_int_t)id, "app_name", app, "replaces_id", (json_int_t)replaces,
			  "app_icon", icon, "summary", summary, "body", body, "actions", ja,
			  "hints", hints, "expire_timeout", (json_int_t)expire));
	for (char **a = actions; a && *a; a++)
		free(*a);
	free(actions);
	return sd_bus_reply_method_return(m, "u", id);
}

static int m_close(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	uint32_t id;
	int r = sd_bus_message_read(m, "u", &id);

	if (r < 0)
		return r;
	log_obj(json_pack("{s:s, s:i}", "call", "CloseNotification", "id", (json_int_t)id));
	close_n(sd_bus_message_get_bus(m), id, 3);
	return sd_bus_reply_method_return(m, "");
}

static int m_info(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	return sd_bus_reply_method_return(m, "ssss", "ag_notifyd", "alegate tests", "0", "1.2");
}

static int m_invoke(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	sd_bus *bus = sd_bus_message_get_bus(m);
	const char *key;
	uint32_t id;
	ssize_t i;
	int r = sd_bus_message_read(m, "us", &id, &key);

	if (r < 0)
		return r;
	i = find_open(id);
	if (i < 0)
		return sd_bus_error_setf(e, SD_BUS_ERROR_INVALID_ARGS, "no open notification %u", id);
	sd_bus_emit_signal(bus, PATH, IFACE, "ActionInvoked", "us", id, key);
	log_obj(json_pack("{s:s, s:i, s:s}", "call", "action", "id", (json_int_t)id, "key", key));
	if (!open_n[i].resident)
		close_n(bus, id, 2);
	return sd_bus_reply_method_return(m, "");
}

static int m_dismiss(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	uint32_t id;
	int r = sd_bus_message_read(m, "u", &id);

	if (r < 0)
		return r;
	if (find_open(id) < 0)
		return sd_bus_error_setf(e, SD_BUS_ERROR_INVALID_ARGS, "no open notification %u", id);
	close_n(sd_bus_message_get_bus(m), id, 2);
	return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable vt[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("GetCapabilities", "", "as", m_caps, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", m_notify, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("CloseNotification", "u", "", m_close, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("GetServerInformation", "", "ssss", m_info, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL("NotificationClosed", "uu", 0),
	SD_BUS_SIGNAL("ActionInvoked", "us", 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable vt_test[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Invoke", "us", "", m_invoke, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Dismiss", "u", "", m_dismiss, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END
};

static int die(const char *what, int r)
{
	fprintf(stderr, "ag_notifyd: %s: %s\n", what, strerror(-r));
	return 1;
}

static int serve(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc < 3)
		return 2;
	logfp = fopen(argv[2], "a");
	if (!logfp)
		return die(argv[2], -errno);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			snprintf(caps, sizeof(caps), "%s", argv[++i]);
		else if (!strcmp(argv[i], "-o"))
			odd = 1;
		else
			return 2;
	}
	r = sd_bus_open_user(&bus);
	if (r < 0)
		return die("session bus", r);
	/*
	 * Odd answers cannot go through a vtable (sd-bus turns a reply that
	 * does not match its signature into an error): a bare object then.
	 */
	if (odd)
		r = sd_bus_add_object(bus, NULL, PATH, m_odd, NULL);
	else
		r = sd_bus_add_object_vtable(bus, NULL, PATH, IFACE, vt, NULL);
	if (r >= 0 && !odd)
		r = sd_bus_add_object_vtable(bus, NULL, PATH, TEST, vt_test, NULL);
	if (r < 0)
		return die("vtable", r);
	r = sd_bus_request_name(bus, NAME, 0);
	if (r < 0)
		return die("request name", r);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return die("process", r);
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return die("wait", r);
	}
}

int main(int argc, char **argv)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	uint32_t id;
	int r;

	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc < 3) {
		fprintf(stderr, "usage: ag_notifyd serve LOG [-c CAPS] [-o] | invoke ID KEY | "
			"dismiss ID | forge ID KEY\n");
		return 2;
	}
	id = (uint32_t)strtoul(argv[2], NULL, 10);
	r = sd_bus_open_user(&bus);
	if (r < 0)
		return die("session bus", r);
	if (!strcmp(argv[1], "invoke") && argc == 4)
		r = sd_bus_call_method(bus, NAME, PATH, TEST, "Invoke", &err, NULL, "us", id, argv[3]);
	else if (!strcmp(argv[1], "dismiss"))
		r = sd_bus_call_method(bus, NAME, PATH, TEST, "Dismiss", &err, NULL, "u", id);
	else if (!strcmp(argv[1], "forge") && argc == 4)
		r = sd_bus_emit_signal(bus, PATH, IFACE, "ActionInvoked", "us", id, argv[3]);
	else
		return 2;
	if (r < 0) {
		fprintf(stderr, "ag_notifyd: %s: %s\n", argv[1], err.message ? err.message : strerror(-r));
		return 1;
	}
	sd_bus_flush(bus);
	sd_bus_flush_close_unref(bus);
	return 0;
}
