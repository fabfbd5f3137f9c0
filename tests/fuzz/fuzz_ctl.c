/*
 * fuzz_ctl.c — libFuzzer harness for what lib/ctl reads from a server.
 *
 * The input is what a server sends.  It goes through:
 * 1. the line reader, in chunks whose sizes come from the input, with a
 *    small limit: every popped line is within the limit and holds no '\n',
 *    the reader never holds more than limit + 1 bytes, and popped bytes
 *    never exceed what went in;
 * 2. ag_ctl_parse_line() and ag_ctl_check_hello() on every line: only the
 *    documented return values, and every error message free of control
 *    characters (it is printed on a terminal);
 * 3. a real client on a socketpair: the input is the server's side of the
 *    conversation (hello, then replies and pushes); ag_ctl_open_fd(),
 *    ag_ctl_call() and ag_ctl_next_push() must return documented values,
 *    never hang (the server's end is shut down), and produce printable
 *    errors;
 * 4. ag_duration_parse() on the input as text: a parsed value formats and
 *    parses back to at most itself.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_LIMIT 200
/* Put in err[0] before a call: still there afterwards, no message was written. */
#define UNWRITTEN '\x01'

static void printable(const char *s)
{
	if (!s)
		return;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

static void check_line(const char *line, size_t len)
{
	struct ag_ctl_hello h;
	json_t *o = NULL;
	char err[AG_CTL_ERR_MAX] = "";
	int k = ag_ctl_parse_line(line, len, &o, err, sizeof(err)), r;

	if (k < 0) {
		if (k != -EPROTO && k != -ENOMEM)
			abort();
		printable(err);
		return;
	}
	if (k != AG_CTL_MSG_HELLO && k != AG_CTL_MSG_REPLY && k != AG_CTL_MSG_PUSH)
		abort();
	err[0] = UNWRITTEN;
	r = ag_ctl_check_hello(o, &h, err, sizeof(err));
	switch (r) {
	case 0:
		if (h.version != AG_CTL_PROTOCOL_VERSION || err[0] != UNWRITTEN)
			abort();
		printable(h.server);
		break;
	case -EACCES: case -EBUSY: case -ECONNREFUSED: case -EPROTONOSUPPORT: case -EPROTO:
		if (err[0] == UNWRITTEN)
			abort();
		printable(err);
		break;
	case -ENOMEM:
		break;
	default:
		abort();
	}
	json_decref(o);
}

static void framing(const uint8_t *data, size_t size)
{
	struct ag_ctl_buf b;
	size_t off = 0, out = 0, step = size ? (size_t)data[0] % 17 + 1 : 1;
	char *line;
	size_t len;
	ssize_t n;
	int r = 0, stalled = 0;

	if (ag_ctl_buf_init(&b, FUZZ_LIMIT))
		abort();
	while (off < size && r >= 0) {
		size_t chunk = size - off < step ? size - off : step;

		n = ag_ctl_buf_append(&b, data + off, chunk);
		if (n < 0)
			abort();
		off += (size_t)n;
		if (b.cap > FUZZ_LIMIT + 1)
			abort();
		while ((r = ag_ctl_buf_pop(&b, &line, &len)) == 1) {
			if (len > FUZZ_LIMIT || memchr(line, '\n', len))
				abort();
			out += len + 1;
			check_line(line, len);
		}
		if (r == -EMSGSIZE && ag_ctl_buf_overflow(&b) <= FUZZ_LIMIT)
			abort();
		if (r != 0 && r != -EMSGSIZE)
			abort();
		/* Every line was popped, so the next append takes something. */
		if (n == 0 && stalled++)
			abort();
		if (n > 0)
			stalled = 0;
	}
	if (out > size)
		abort();
	ag_ctl_buf_fini(&b);
}

static void client(const uint8_t *data, size_t size)
{
	struct ag_ctl_conn *c;
	json_t *req, *res, *m;
	char err[AG_CTL_ERR_MAX] = "";
	int sv[2], r;

	/* More than a socket buffer would block the write below. */
	if (size > 65536)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	/* The whole input fits the socket buffer (libFuzzer's -max_len). */
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);
	err[0] = UNWRITTEN;
	c = ag_ctl_open_fd(sv[0], err, sizeof(err));
	if (!c) {
		if (err[0] == UNWRITTEN)
			abort();
		printable(err);
		close(sv[1]);
		return;
	}
	req = json_pack("{s:s}", "op", "status");
	for (int i = 0; i < 2; i++) {
		err[0] = UNWRITTEN;
		res = NULL;
		r = ag_ctl_call(c, req, &res, err, sizeof(err));
		if (r == 0) {
			if (!res || err[0] != UNWRITTEN)
				abort();
			json_decref(res);
		} else if (r == -EREMOTEIO || r == -ECONNRESET || r == -EPROTO || r == -EMSGSIZE ||
			   r == -ENOMEM || r == -ETIMEDOUT) {
			if (err[0] == UNWRITTEN || res)
				abort();
			printable(err);
		} else {
			abort();
		}
	}
	json_decref(req);
	for (;;) {
		err[0] = UNWRITTEN;
		r = ag_ctl_next_push(c, 0, &m, err, sizeof(err));
		if (r == 1) {
			if (!json_is_object(m))
				abort();
			json_decref(m);
			continue;
		}
		if (r < 0) {
			printable(err);
		}
		break;
	}
	ag_ctl_close(c);
	close(sv[1]);
}

static void duration(const uint8_t *data, size_t size)
{
	char text[64], err[160], fmt[AG_DURATION_TEXT_MAX], joined[AG_DURATION_TEXT_MAX];
	uint64_t ms, back;
	size_t j = 0;

	if (size >= sizeof(text) || memchr(data, 0, size))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ag_duration_parse(text, &ms, err, sizeof(err))) {
		if (!strstr(err, "bad duration \""))
			abort();
		return;
	}
	if (ms == 0 || ms > AG_DURATION_MAX_MS)
		abort();
	ag_duration_format(ms, fmt, sizeof(fmt));
	for (const char *p = fmt; *p; p++)
		if (*p != ' ')
			joined[j++] = *p;
	joined[j] = '\0';
	if (ag_duration_parse(joined, &back, NULL, 0) || back > ms)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	framing(data, size);
	client(data, size);
	duration(data, size);
	return 0;
}
