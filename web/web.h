/*
 * web.h — alegate-web: an unprivileged HTTP front end of the control
 * protocol (docs/WEB.md).  Three parts:
 * - hub.c: the two connections to alegated (one for requests, one
 *   subscribed to events and pending flows) and the ring of pushed
 *   messages that every Server-Sent Events stream reads;
 * - http.c: authentication, the same-origin checks, routing, the JSON API,
 *   /metrics and the embedded page;
 * - main.c: options, the token, start and stop.
 */
#ifndef ALEGATE_WEB_WEB_H
#define ALEGATE_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Bounds, named here and nowhere else. */
#define WEB_TOKEN_BYTES		16	/* 128 bits from getrandom */
#define WEB_TOKEN_HEX		(2 * WEB_TOKEN_BYTES)
#define WEB_BODY_MAX		65536	/* longest request body (the daemon's request limit) */
#define WEB_RING		8192	/* pushed messages kept for slow streams */
#define WEB_MAX_CONNECTIONS	64	/* HTTP connections at once, streams included */
#define WEB_MAX_STREAMS		16	/* event streams at once */
#define WEB_KEEPALIVE_MS	15000	/* a comment line on an idle stream */
#define WEB_EVENTS_LINGER_MS	50	/* events sent together, at most this late */
#define WEB_HUB_LINGER_MS	20	/* pushes read together while events are on */
#define WEB_CALL_TIMEOUT_MS	5000	/* a request to alegated */
#define WEB_RETRY_MS		1000	/* between attempts to reach alegated */

/* ---- hub.c ---------------------------------------------------------------------- */

/*
 * hub_start - remember @socket_path and start the thread that holds the
 * subscribed connection (it reconnects when alegated restarts).
 * Return: 0 or -errno.
 */
int hub_start(const char *socket_path);

/*
 * hub_stop - end the thread and wake every stream so it returns: call
 * before stopping the HTTP server.
 */
void hub_stop(void);

/* hub_free - close the request connection and free the ring: call last. */
void hub_free(void);

/*
 * hub_call - one request to alegated on the shared request connection
 * (serialized; reconnects when it broke).  @request is borrowed.
 * @result: on success a new reference the caller json_decref()s.
 * @code: on failure, the protocol's error code ("not_found", …) or
 *	"unavailable" when alegated could not be reached; static text.
 * @err, @errlen: on failure, a message (AG_CTL_ERR_MAX bytes hold any).
 * Return: 0 or -errno (-EREMOTEIO: the daemon said no).
 */
int hub_call(json_t *request, json_t **result, const char **code, char *err, size_t errlen);

/* Kinds of pushed messages, as a stream asks for them. */
#define HUB_PENDING	1u	/* "pending", "resolved" */
#define HUB_EVENTS	2u	/* "event" */
#define HUB_CONTROL	4u	/* "daemon", "resync": every stream gets them */

/* A reader of the ring: one per event stream. */
struct hub_reader {
	uint64_t next;		/* index of the next message to send */
	size_t off;		/* bytes of that message already sent */
	unsigned kinds;		/* HUB_* it wants */
};

/*
 * hub_reader_open - a reader of the messages of @kinds (HUB_PENDING,
 * HUB_EVENTS; HUB_CONTROL is always added) pushed from now on.
 */
void hub_reader_open(struct hub_reader *r, unsigned kinds);

/*
 * hub_read - copy pushed messages (SSE text) into @buf, waiting up to
 * @wait_ms for the first one, then up to @linger_ms more (0: none) for
 * others to send with it.  A reader that fell more than WEB_RING
 * messages behind gets an "event: resync" message and continues from now.
 * Return: bytes copied (0: nothing came, send a keepalive), or -1 once the
 * hub is stopping.
 */
long hub_read(struct hub_reader *r, char *buf, size_t len, int wait_ms, int linger_ms);

/* Counters for /metrics. */
struct hub_stats {
	bool daemon_up;
	uint64_t pushed;	/* messages put in the ring */
	uint64_t reconnects;
	unsigned streams;	/* open event streams */
};
void hub_get_stats(struct hub_stats *s);

/*
 * hub_stream_add - count in a stream of @kinds (false when WEB_MAX_STREAMS
 * are open).  alegated is asked for events only while a stream wants them.
 */
bool hub_stream_add(unsigned kinds);
void hub_stream_del(unsigned kinds);

/* ---- http.c ---------------------------------------------------------------------- */

struct web_conf {
	char token[WEB_TOKEN_HEX + 1];
	char cookie_name[32];	/* alegate_web_PORT: one per server on a host */
	unsigned port;
	const char *listen_host; /* as given, for the URL */
};

/*
 * http_start - serve on @fd (a bound, listening socket, now owned).
 * Return: 0 or -errno.
 */
int http_start(const struct web_conf *conf, int fd);
void http_stop(void);

/* ---- assets.c (generated from web/assets by web/embed.sh) ------------------------ */

struct web_asset {
	const char *path;	/* "/app.js" */
	const char *type;	/* its Content-Type */
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];	/* ends with a NULL path */

#endif
