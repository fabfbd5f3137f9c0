/*
 * ctl.h — the control protocol (docs/PROTOCOL.md) as both ends need it.
 *
 * Three parts, usable on their own:
 * - framing: a bounded line reader (struct ag_ctl_buf) that makes no
 *   assumption that one read() is one message, a writer that copes with
 *   short writes, and a bounded output queue for non-blocking servers;
 * - durations: "1h30m" <-> milliseconds, as alegatectl takes and prints them;
 * - the client: connect, check the hello, call with an id and wait for the
 *   matching reply while keeping pushed lines (subscriptions) for later.
 *
 * Nothing here keeps global state; a connection is used by one thread.
 */
#ifndef ALEGATE_CTL_CTL_H
#define ALEGATE_CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "base/text.h"

/* Bounds and defaults, named here and nowhere else. */
#define AG_CTL_PROTOCOL_VERSION	1
#define AG_CTL_DEFAULT_SOCKET	"/run/alegate/alegate.sock"
/* The server's max_message_size default: the longest request line. */
#define AG_CTL_REQUEST_MAX	65536
/*
 * The longest line a client accepts.  Far above the request limit: long
 * answers come in pages of a few hundred KiB, but other replies and pushes
 * (a pending flow with its command line) can be long too.
 */
#define AG_CTL_REPLY_MAX	(16u << 20)
/* How long a client waits for the hello or a reply by default. */
#define AG_CTL_TIMEOUT_MS	10000
/* Pushed messages kept while a call waits for its reply; more drop the oldest. */
#define AG_CTL_PUSH_QUEUE_MAX	4096
/* Longest excerpt of a bad line quoted in an error message. */
#define AG_CTL_QUOTE_MAX	60
/*
 * Bytes of the caller's buffer for the client's error messages (@err,
 * @errlen below).  It holds any message alegated sends (a few hundred
 * bytes) and any socket path quoted; a longer one is cut to fit.
 */
#define AG_CTL_ERR_MAX		8192

/* ---- framing ------------------------------------------------------------ */

/*
 * A line reader with a hard bound.  The memory it holds never exceeds
 * limit + 1 bytes (one maximal line and its '\n').  Fields are private.
 */
struct ag_ctl_buf {
	char *data;
	size_t start;		/* first byte not yet popped */
	size_t len;		/* end of the bytes held */
	size_t scan;		/* [start, scan) is known to hold no '\n' */
	size_t cap;		/* allocated; grows up to limit + 1 */
	size_t limit;		/* longest line accepted, without its '\n' */
	size_t overflow;	/* 0, or bytes seen of the line past the limit */
};

/*
 * ag_ctl_buf_init - an empty reader for lines of at most @limit bytes
 * (without the '\n'; 1..SIZE_MAX/2).  Allocates nothing yet.
 * Return: 0 or -EINVAL.
 */
int ag_ctl_buf_init(struct ag_ctl_buf *b, size_t limit);

/* ag_ctl_buf_fini - free what @b holds; @b may then be initialized again. */
void ag_ctl_buf_fini(struct ag_ctl_buf *b);

/*
 * ag_ctl_buf_read - one read(2) from @fd into @b (EINTR is retried).
 * Works on blocking and non-blocking descriptors.  Once a line went past
 * the limit, what is read is counted and thrown away.
 * Return: bytes read (> 0); 0 at end of file; -EAGAIN when a non-blocking
 * @fd has nothing; -ENOBUFS when @b is full of complete lines (pop them
 * first: popping every line before reading again never sees this);
 * -ENOMEM; or the -errno of read.
 */
ssize_t ag_ctl_buf_read(struct ag_ctl_buf *b, int fd);

/*
 * ag_ctl_buf_append - copy bytes received some other way into @b.
 * Return: how many of @len bytes were taken (fewer when @b is full of
 * complete lines: pop, then append the rest), or -ENOMEM.
 */
ssize_t ag_ctl_buf_append(struct ag_ctl_buf *b, const void *data, size_t len);

/*
 * ag_ctl_buf_pop - take the next complete line.
 * @line: set to the line, '\n' replaced by a NUL; it may hold other NUL
 *	bytes, so use @len.  It lives in @b until the next read, append or
 *	fini.
 * Return: 1 with a line; 0 when no complete line is held yet; -EMSGSIZE
 * once every line before an over-long one was popped.  That error sticks:
 * a peer that sent an over-long line is not resynchronized with (the
 * protocol closes such a connection), and ag_ctl_buf_overflow() says how
 * much of that line was seen.
 */
int ag_ctl_buf_pop(struct ag_ctl_buf *b, char **line, size_t *len);

/* ag_ctl_buf_overflow - 0, or the bytes seen of the over-long line (> limit). */
size_t ag_ctl_buf_overflow(const struct ag_ctl_buf *b);

/* ag_ctl_buf_pending - bytes held that were not popped yet. */
size_t ag_ctl_buf_pending(const struct ag_ctl_buf *b);

/*
 * ag_ctl_buf_ready - true when ag_ctl_buf_pop() has something to return
 * now (a complete line, or the over-long line error), without reading.
 */
bool ag_ctl_buf_ready(const struct ag_ctl_buf *b);

/*
 * ag_ctl_encode - @msg as one protocol line: compact JSON and a '\n'.
 * @len: set to the length, '\n' included (the buffer is NUL-terminated too).
 * Return: a malloc'ed buffer the caller frees, or NULL with errno ENOMEM
 * (or EINVAL when @msg cannot be encoded).
 */
char *ag_ctl_encode(const json_t *msg, size_t *len);

/*
 * ag_ctl_write_all - write @len bytes to @fd, across short writes, EINTR
 * and, on a non-blocking @fd, EAGAIN (waits with poll).  Sockets are
 * written with MSG_NOSIGNAL, so a closed peer is -EPIPE, not SIGPIPE.
 * @timeout_ms: how long to wait in all for the peer to take the bytes;
 *	-1 waits forever.
 * Return: 0, -ETIMEDOUT (some bytes may have been written), or -errno.
 */
int ag_ctl_write_all(int fd, const void *data, size_t len, int timeout_ms);

/* ag_ctl_send - ag_ctl_encode() then ag_ctl_write_all(); same returns. */
int ag_ctl_send(int fd, const json_t *msg, int timeout_ms);

/*
 * A bounded queue of bytes to write to a non-blocking descriptor, for a
 * server that must not block on one slow client.  Fields are private.
 */
struct ag_ctl_outq {
	char *data;
	size_t start, len, cap;
	size_t limit;		/* most bytes ever held */
};

/* ag_ctl_outq_init - an empty queue of at most @limit (> 0) bytes. 0 or -EINVAL. */
int ag_ctl_outq_init(struct ag_ctl_outq *q, size_t limit);

/* ag_ctl_outq_fini - free the queue's memory (unsent bytes are lost). */
void ag_ctl_outq_fini(struct ag_ctl_outq *q);

/*
 * ag_ctl_outq_push - queue @msg as one line (ag_ctl_encode()).
 * All or nothing: a line that does not fit under the limit is not queued.
 * Return: 0, -ENOBUFS (the peer is too slow: most servers drop it), or
 * -ENOMEM / -EINVAL.
 */
int ag_ctl_outq_push(struct ag_ctl_outq *q, const json_t *msg);

/*
 * ag_ctl_outq_flush - write what the queue holds to @fd until it is empty
 * or @fd would block.
 * Return: 0 when empty; 1 when bytes remain (poll for POLLOUT); -errno
 * (-EPIPE when the peer closed).
 */
int ag_ctl_outq_flush(struct ag_ctl_outq *q, int fd);

/* ag_ctl_outq_len - bytes waiting to be written. */
size_t ag_ctl_outq_len(const struct ag_ctl_outq *q);

/* ---- durations ----------------------------------------------------------- */

/* Longest duration: what a JSON integer (int64) holds, in milliseconds. */
#define AG_DURATION_MAX_MS	((uint64_t)INT64_MAX)
/* Enough for any ag_duration_format() result, with the NUL. */
#define AG_DURATION_TEXT_MAX	32

/*
 * ag_duration_parse - "30s", "5m", "1h", "2d", "1h30m", "250ms" -> ms.
 * One or more NUMBER UNIT groups, units ms s m h d, each unit at most once
 * and in that order from largest to smallest ("30m1h" is refused: a typo is
 * likelier than intent).  No sign, no blank, no fraction, no bare number
 * (is "30" seconds or minutes?), not zero, at most AG_DURATION_MAX_MS.
 * @err, @errlen: on failure, a message quoting @text ("bad duration
 *	\"5x\": unknown unit \"x\" (use ms, s, m, h or d)"); may be NULL/0.
 * Return: 0 with *@ms set, or -EINVAL (-ERANGE past the maximum).
 */
int ag_duration_parse(const char *text, uint64_t *ms, char *err, size_t errlen);

/*
 * ag_duration_format - @ms for a person: its two largest units, truncated:
 * "250ms", "5s", "2m 5s", "1h", "1h 30m", "3d 4h".  Below a second it says
 * ms; from a second on it never does.
 * @buf: AG_DURATION_TEXT_MAX bytes are always enough; shorter is truncated.
 * Return: @buf.
 */
char *ag_duration_format(uint64_t ms, char *buf, size_t len);

/* ---- messages -------------------------------------------------------------- */

enum ag_ctl_msg_kind {
	AG_CTL_MSG_HELLO,	/* has "hello" */
	AG_CTL_MSG_REPLY,	/* has "ok" */
	AG_CTL_MSG_PUSH,	/* anything else: {"event":…}, {"pending":…}, … */
};

/*
 * ag_ctl_parse_line - decode one line received from the server.
 * @obj: set to a new reference the caller json_decref()s.
 * @err, @errlen: on failure, a message quoting the start of the line (cut
 *	to fit @errlen; @err may be NULL with @errlen 0).
 * Return: an enum ag_ctl_msg_kind, -EPROTO (not a JSON object) or -ENOMEM.
 */
int ag_ctl_parse_line(const char *line, size_t len, json_t **obj, char *err, size_t errlen);

/* What the server said about itself in its hello. */
struct ag_ctl_hello {
	int version;		/* protocol version */
	char server[128];	/* "alegated 0.1.0", or "" */
	long long uid;		/* the uid the server saw, or -1 */
	long long session;	/* this connection's session, or -1 */
};

/*
 * ag_ctl_check_hello - check the first line a server sent.
 * @err, @errlen: on failure, a message; for a refusal it is the server's
 *	own text (control characters made '?'), so it can be shown as is.
 *	"" when memory ran out.
 * Return: 0 with *@out filled; a refusal: -EACCES (code "denied"), -EBUSY
 * ("busy"), -ECONNREFUSED (any other); -EPROTONOSUPPORT (another protocol
 * version); -EPROTO (not a hello); -ENOMEM.
 */
int ag_ctl_check_hello(const json_t *msg, struct ag_ctl_hello *out, char *err,
		       size_t errlen);

/*
 * ag_ctl_id_text - a pending flow's "id" as text, the key a client keeps
 * it under: the number, or the string another server sent as is (not
 * sanitized); "" for anything else.  Cut to fit @len.
 */
void ag_ctl_id_text(const json_t *id, char *buf, size_t len);

/*
 * ag_ctl_sanitize - the same as ag_sanitize() (base/text.h), kept under its
 * old name for the callers that still use it.
 */
static inline char *ag_ctl_sanitize(char *s)
{
	return ag_sanitize(s);
}

/* ---- client ------------------------------------------------------------------ */

struct ag_ctl_conn;

/*
 * ag_ctl_connect - connect to the server at @path and check its hello.
 * @err, @errlen: on failure, a message (AG_CTL_ERR_MAX bytes hold any): a
 *	refusal is the server's text; "cannot connect to \"PATH\": …" adds "(is
 *	alegated running?)" when nothing listens there.
 * Return: the connection (ag_ctl_close() it), or NULL with errno set as
 * ag_ctl_check_hello() returns, or ENOENT/ECONNREFUSED/… from connect(2),
 * ENAMETOOLONG, ETIMEDOUT (no hello in AG_CTL_TIMEOUT_MS), ECONNRESET.
 */
struct ag_ctl_conn *ag_ctl_connect(const char *path, char *err, size_t errlen);

/*
 * ag_ctl_open_fd - the same over a connected stream @fd (a socketpair in
 * tests, an inherited descriptor).  @fd is owned from now on, closed on
 * failure too; it is made non-blocking and close-on-exec.
 */
struct ag_ctl_conn *ag_ctl_open_fd(int fd, char *err, size_t errlen);

/* ag_ctl_close - close and free; NULL is accepted.  Queued pushes are lost. */
void ag_ctl_close(struct ag_ctl_conn *c);

/* ag_ctl_hello - the server's hello, valid as long as @c. */
const struct ag_ctl_hello *ag_ctl_hello(const struct ag_ctl_conn *c);

/* ag_ctl_set_timeout - how long ag_ctl_call() waits for a reply; -1 = forever. */
void ag_ctl_set_timeout(struct ag_ctl_conn *c, int timeout_ms);

/*
 * ag_ctl_call - send @request, wait for the reply that carries its id.
 * @request: an object with "op"; borrowed, but its "id" is set (replaced)
 *	to the next id of this connection.
 * @result: on success, a new reference to the reply's "result" (JSON null
 *	when the reply has none); the caller json_decref()s it.
 * @err, @errlen: on failure, a message (AG_CTL_ERR_MAX bytes hold any):
 *	the server's "error" text as sent (control characters made '?'), or
 *	what went wrong locally; "" when memory ran out.  @err may be NULL
 *	with @errlen 0.
 * A long answer the server sends in pages (replies with "more": true,
 * then one without) is returned as one array of every page's items.
 * Pushed lines that arrive meanwhile are queued for ag_ctl_next_push();
 * replies to other ids (an earlier call that timed out) are dropped.  A
 * reply without id that reports an error (the server could not read the
 * request: bad_json, too_long) is this call's answer.
 * Return: 0; -EREMOTEIO when the server answered ok:false (its code is
 * then ag_ctl_error_code()); -ETIMEDOUT; -ECONNRESET (the server closed
 * the connection); -EPROTO (it sent something that is not the protocol);
 * -EMSGSIZE (a line over AG_CTL_REPLY_MAX); -EINVAL; -ENOMEM; -errno.
 * After any error but -EREMOTEIO and -ETIMEDOUT the connection is broken:
 * every later call fails at once the same way.
 */
int ag_ctl_call(struct ag_ctl_conn *c, json_t *request, json_t **result, char *err,
		size_t errlen);

/*
 * ag_ctl_error_code - the "code" of the last ok:false reply ("not_found",
 * "denied", …), or "" if the last call did not get one.  Valid until the
 * next call on @c.
 */
const char *ag_ctl_error_code(const struct ag_ctl_conn *c);

/*
 * ag_ctl_next_push - the next pushed message ({"pending":…}, {"event":…},
 * {"resolved":…}), queued ones first.
 * @timeout_ms: 0 to only take what is already here, -1 to wait forever.
 * @msg: set to a new reference the caller json_decref()s.
 * @err, @errlen: as for ag_ctl_call().
 * Return: 1 with *@msg; 0 when none came in time; the negative errors of
 * ag_ctl_call() (-ECONNRESET when the server closed the connection).
 *
 * From a poll loop: poll ag_ctl_fd() for POLLIN, but first call this with
 * timeout 0 while ag_ctl_push_ready() is true — after an ag_ctl_call(),
 * pushes may already sit in memory and poll would not wake for them.
 */
int ag_ctl_next_push(struct ag_ctl_conn *c, int timeout_ms, json_t **msg, char *err,
		     size_t errlen);

/*
 * ag_ctl_push_ready - true when a complete message is held in memory (a
 * queued push, or a line not parsed yet), so ag_ctl_next_push() with
 * timeout 0 has something to look at.  A partial line does not count: for
 * that, poll the socket.
 */
bool ag_ctl_push_ready(const struct ag_ctl_conn *c);

/* ag_ctl_pushes_dropped - pushes lost because the queue was full, so far. */
unsigned long ag_ctl_pushes_dropped(const struct ag_ctl_conn *c);

/* ag_ctl_fd - the socket, for poll(2) only: never read it yourself. */
int ag_ctl_fd(const struct ag_ctl_conn *c);

#endif
