/*
 * frame.c — JSON lines on a stream: a bounded line reader, a writer that
 * survives short writes, and a bounded output queue.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "ctl/ctl.h"

/* First allocation of a reader: most lines are a few hundred bytes. */
#define BUF_INITIAL	4096

int ag_ctl_buf_init(struct ag_ctl_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	if (limit == 0 || limit > SIZE_MAX / 2)
		return -EINVAL;
	b->limit = limit;
	return 0;
}

void ag_ctl_buf_fini(struct ag_ctl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->len = b->scan = b->cap = 0;
	b->overflow = 0;
}

/* Make room at the end: drop popped bytes, then grow up to limit + 1. */
static int buf_make_room(struct ag_ctl_buf *b)
{
	size_t max = b->limit + 1, ncap;
	char *n;

	if (b->start == b->len) {
		b->start = b->len = b->scan = 0;
	} else if (b->start > 0 && (b->len == b->cap || b->start >= b->cap / 2)) {
		memmove(b->data, b->data + b->start, b->len - b->start);
		b->len -= b->start;
		b->scan -= b->start;
		b->start = 0;
	}
	if (b->len < b->cap || b->cap == max)
		return 0;
	ncap = b->cap ? b->cap * 2 : BUF_INITIAL;
	if (ncap > max || ncap < b->cap)
		ncap = max;
	n = realloc(b->data, ncap);
	if (!n)
		return -ENOMEM;
	b->data = n;
	b->cap = ncap;
	return 0;
}

/*
 * Look for the end of the line at start.  Sets b->overflow (and drops the
 * bytes) when that line is already longer than the limit.
 * Return: pointer to its '\n', or NULL.
 */
static char *buf_find_eol(struct ag_ctl_buf *b)
{
	char *nl;

	if (b->overflow)
		return NULL;
	nl = memchr(b->data + b->scan, '\n', b->len - b->scan);
	if (nl) {
		/* The line may be complete and still too long. */
		if ((size_t)(nl - (b->data + b->start)) <= b->limit)
			return nl;
		b->overflow = (size_t)(nl - (b->data + b->start)) + 1;
	} else {
		b->scan = b->len;
		if (b->len - b->start <= b->limit)
			return NULL;
		b->overflow = b->len - b->start;
	}
	b->start = b->len = b->scan = 0;
	return NULL;
}

/* Bytes the caller may place at data + len now, or a negative errno. */
static ssize_t buf_space(struct ag_ctl_buf *b)
{
	int ret;

	if (b->overflow) {
		/* Everything from now on is thrown away: reuse the memory. */
		b->start = b->len = b->scan = 0;
		if (!b->cap) {
			ret = buf_make_room(b);
			if (ret)
				return ret;
		}
		return (ssize_t)b->cap;
	}
	ret = buf_make_room(b);
	if (ret)
		return ret;
	if (b->len == b->cap) {
		/*
		 * Full.  Either complete lines wait to be popped, or the line
		 * being received is longer than the limit.
		 */
		if (buf_find_eol(b))
			return -ENOBUFS;
		return buf_space(b);
	}
	return (ssize_t)(b->cap - b->len);
}

static void buf_took(struct ag_ctl_buf *b, size_t n)
{
	if (b->overflow) {
		b->overflow += n;
		return;
	}
	b->len += n;
	/* Notice an over-long line now, not only when it is popped. */
	if (b->len - b->start > b->limit)
		buf_find_eol(b);
}

ssize_t ag_ctl_buf_read(struct ag_ctl_buf *b, int fd)
{
	ssize_t space = buf_space(b), n;

	if (space < 0)
		return space;
	do
		n = read(fd, b->data + b->len, (size_t)space);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	buf_took(b, (size_t)n);
	return n;
}

ssize_t ag_ctl_buf_append(struct ag_ctl_buf *b, const void *data, size_t len)
{
	const char *p = data;
	size_t done = 0, n;
	ssize_t space;

	while (done < len) {
		space = buf_space(b);
		if (space == -ENOBUFS)
			break;
		if (space < 0)
			return space;
		n = len - done < (size_t)space ? len - done : (size_t)space;
		if (!b->overflow)
			memcpy(b->data + b->len, p + done, n);
		buf_took(b, n);
		done += n;
	}
	return (ssize_t)done;
}

int ag_ctl_buf_pop(struct ag_ctl_buf *b, char **line, size_t *len)
{
	char *nl;

	if (b->overflow)
		return -EMSGSIZE;
	if (b->start == b->len)
		return 0;
	nl = buf_find_eol(b);
	if (!nl)
		return b->overflow ? -EMSGSIZE : 0;
	*nl = '\0';
	*line = b->data + b->start;
	*len = (size_t)(nl - *line);
	b->start = b->scan = (size_t)(nl - b->data) + 1;
	return 1;
}

size_t ag_ctl_buf_overflow(const struct ag_ctl_buf *b)
{
	return b->overflow;
}

size_t ag_ctl_buf_pending(const struct ag_ctl_buf *b)
{
	return b->overflow ? 0 : b->len - b->start;
}

bool ag_ctl_buf_ready(const struct ag_ctl_buf *b)
{
	if (b->overflow)
		return true;
	/* Past the limit without a newline is ready too: pop reports it. */
	return b->len > b->scan &&
	       (memchr(b->data + b->scan, '\n', b->len - b->scan) || b->len - b->start > b->limit);
}

/* ---- writing -------------------------------------------------------------- */

char *ag_ctl_encode(const json_t *msg, size_t *len)
{
	char *s, *n;
	size_t l;

	/* Compact output never holds a raw newline: strings escape it. */
	s = json_dumps(msg, JSON_COMPACT);
	if (!s) {
		errno = msg && (json_is_object(msg) || json_is_array(msg)) ? ENOMEM : EINVAL;
		return NULL;
	}
	l = strlen(s);
	n = realloc(s, l + 2);
	if (!n) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	n[l] = '\n';
	n[l + 1] = '\0';
	*len = l + 1;
	return n;
}

/* One write; sockets get MSG_NOSIGNAL.  Return bytes or -errno. */
static ssize_t write_some(int fd, const void *p, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == ENOTSOCK)
			n = write(fd, p, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

int ag_ctl_write_all(int fd, const void *data, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : ag_mono_ms() + timeout_ms;
	const char *p = data;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;
	int wait, r;

	while (len > 0) {
		n = write_some(fd, p, len);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n != -EAGAIN)
			return (int)n;
		wait = ag_poll_wait_ms(deadline);
		if (wait == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, wait);
		if (r == -1 && errno != EINTR)
			return -errno;
	}
	return 0;
}

int ag_ctl_send(int fd, const json_t *msg, int timeout_ms)
{
	size_t len;
	char *line = ag_ctl_encode(msg, &len);
	int ret;

	if (!line)
		return -errno;
	ret = ag_ctl_write_all(fd, line, len, timeout_ms);
	free(line);
	return ret;
}

/* ---- output queue ----------------------------------------------------------- */

int ag_ctl_outq_init(struct ag_ctl_outq *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	if (limit == 0)
		return -EINVAL;
	q->limit = limit;
	return 0;
}

void ag_ctl_outq_fini(struct ag_ctl_outq *q)
{
	free(q->data);
	q->data = NULL;
	q->start = q->len = q->cap = 0;
}

int ag_ctl_outq_push(struct ag_ctl_outq *q, const json_t *msg)
{
	size_t len, held = q->len - q->start, ncap;
	char *line = ag_ctl_encode(msg, &len), *n;

	if (!line)
		return -errno;
	if (len > q->limit - held) {
		free(line);
		return -ENOBUFS;
	}
	if (q->start > 0) {
		memmove(q->data, q->data + q->start, held);
		q->start = 0;
		q->len = held;
	}
	if (q->cap - q->len < len) {
		ncap = q->cap ? q->cap : BUF_INITIAL;
		while (ncap - q->len < len)
			ncap *= 2;
		if (ncap > q->limit)
			ncap = q->limit;
		n = realloc(q->data, ncap);
		if (!n) {
			free(line);
			return -ENOMEM;
		}
		q->data = n;
		q->cap = ncap;
	}
	memcpy(q->data + q->len, line, len);
	q->len += len;
	free(line);
	return 0;
}

int ag_ctl_outq_flush(struct ag_ctl_outq *q, int fd)
{
	ssize_t n;

	while (q->start < q->len) {
		n = write_some(fd, q->data + q->start, q->len - q->start);
		if (n == -EAGAIN)
			return 1;
		if (n < 0)
			return (int)n;
		q->start += (size_t)n;
	}
	q->start = q->len = 0;
	return 0;
}

size_t ag_ctl_outq_len(const struct ag_ctl_outq *q)
{
	return q->len - q->start;
}
