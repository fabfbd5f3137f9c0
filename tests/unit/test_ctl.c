/*
 * test_ctl.c — lib/ctl: line framing, writing, durations, hello and reply
 * handling, and the client over a socketpair standing in for alegated.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/text.h"
#include "check.h"
#include "ctl/ctl.h"

/* ---- helpers ------------------------------------------------------------------ */

static int pop_str(struct ag_ctl_buf *b, char *out, size_t outlen)
{
	char *line;
	size_t len;
	int r = ag_ctl_buf_pop(b, &line, &len);

	if (r == 1)
		snprintf(out, outlen, "%.*s", (int)len, line);
	return r;
}

static void put(int fd, const char *s)
{
	size_t len = strlen(s);

	if (write(fd, s, len) != (ssize_t)len)
		abort();
}

/*
 * Feed @data into @b as a reader loop does (append what fits, pop every
 * line, repeat) and write what came out to @out: lines joined by '|',
 * "<E>" for -EMSGSIZE (after which feeding stops mattering).
 */
static void feed(struct ag_ctl_buf *b, const char *data, size_t len, char *out, size_t outlen)
{
	size_t done = 0, o = strlen(out);
	char *line;
	size_t l;
	ssize_t n;
	int r;

	while (done < len) {
		n = ag_ctl_buf_append(b, data + done, len - done);
		if (n < 0)
			abort();
		done += (size_t)n;
		while ((r = ag_ctl_buf_pop(b, &line, &l)) != 0) {
			if (r == 1)
				o += (size_t)snprintf(out + o, outlen - o, "%.*s|", (int)l, line);
			else
				o += (size_t)snprintf(out + o, outlen - o, "<E>|");
			if (r < 0)
				break;
		}
		/* After an over-long line everything is taken and thrown away. */
		if (r < 0 && done < len) {
			if (ag_ctl_buf_append(b, data + done, len - done) != (ssize_t)(len - done))
				abort();
			done = len;
		}
	}
}

/* A client end and a "server" end; HELLO is written to the client's inbox. */
#define HELLO "{\"hello\":\"alegate\",\"version\":1,\"server\":\"alegated 0.1.0\",\"uid\":0,\"session\":7}\n"

static struct ag_ctl_conn *pair_with(const char *first_lines, int *server)
{
	int sv[2];
	char err[AG_CTL_ERR_MAX] = "";
	struct ag_ctl_conn *c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return NULL;
	put(sv[1], first_lines);
	c = ag_ctl_open_fd(sv[0], err, sizeof(err));
	*server = sv[1];
	return c;
}

/* Read the client's next request line from the server end (blocking). */
static json_t *read_request(int fd)
{
	char line[4096];
	size_t n = 0;

	while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	return json_loadb(line, n, 0, NULL);
}

/* ---- framing -------------------------------------------------------------------- */

TEST(framing_line_split_across_many_reads_is_one_line)
{
	struct ag_ctl_buf b;
	const char *msg = "{\"op\":\"status\",\"id\":1}\n{\"op\":\"pending\"}\n";
	char out[128];
	int got = 0, r;

	CHECK_EQ(ag_ctl_buf_init(&b, 100), 0);
	for (size_t i = 0; msg[i]; i++) {
		CHECK_EQ(ag_ctl_buf_append(&b, msg + i, 1), 1);
		while ((r = pop_str(&b, out, sizeof(out))) == 1) {
			got++;
			CHECK_STR(out, got == 1 ? "{\"op\":\"status\",\"id\":1}" : "{\"op\":\"pending\"}");
			/* Not one byte early: the line is complete only at its '\n'. */
			CHECK_EQ(msg[i], '\n');
		}
		CHECK_EQ(r, 0);
	}
	CHECK_EQ(got, 2);
	ag_ctl_buf_fini(&b);
}

TEST(framing_several_lines_in_one_read_pop_in_order)
{
	struct ag_ctl_buf b;
	char out[64];
	int p[2];

	CHECK_EQ(pipe(p), 0);
	put(p[1], "one\ntwo\n\nthree\npart");
	CHECK_EQ(ag_ctl_buf_init(&b, 100), 0);
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), 19);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "one");
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "two");
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "");
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "three");
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 0);
	CHECK_EQ(ag_ctl_buf_pending(&b), 4);
	put(p[1], "ial\n");
	close(p[1]);
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), 4);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "partial");
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), 0);	/* end of file */
	close(p[0]);
	ag_ctl_buf_fini(&b);
}

TEST(framing_ready_only_with_a_complete_line)
{
	struct ag_ctl_buf b;
	char out[16];

	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	CHECK(!ag_ctl_buf_ready(&b));
	CHECK_EQ(ag_ctl_buf_append(&b, "abc", 3), 3);
	CHECK(!ag_ctl_buf_ready(&b));	/* a partial line: poll, do not spin */
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 0);
	CHECK(!ag_ctl_buf_ready(&b));
	CHECK_EQ(ag_ctl_buf_append(&b, "\nde", 3), 3);
	CHECK(ag_ctl_buf_ready(&b));
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK(!ag_ctl_buf_ready(&b));
	CHECK_EQ(ag_ctl_buf_append(&b, "fghijkl", 7), 7);	/* "defghijkl": 9 > 8 */
	CHECK(ag_ctl_buf_ready(&b));
	CHECK_EQ(pop_str(&b, out, sizeof(out)), -EMSGSIZE);
	CHECK(ag_ctl_buf_ready(&b));
	ag_ctl_buf_fini(&b);
}

TEST(framing_nonblocking_read_without_data_is_eagain)
{
	struct ag_ctl_buf b;
	int p[2];

	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	CHECK_EQ(ag_ctl_buf_init(&b, 100), 0);
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), -EAGAIN);
	close(p[0]);
	close(p[1]);
	ag_ctl_buf_fini(&b);
}

TEST(framing_line_of_exactly_the_limit_is_accepted)
{
	struct ag_ctl_buf b;
	char out[32];

	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	CHECK_EQ(ag_ctl_buf_append(&b, "12345678\n", 9), 9);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "12345678");
	CHECK_EQ(ag_ctl_buf_overflow(&b), 0);
	ag_ctl_buf_fini(&b);
}

TEST(framing_line_over_the_limit_is_refused_after_the_lines_before_it)
{
	struct ag_ctl_buf b;
	char out[64] = "";

	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	feed(&b, "ok\n123456789\nnext\n", 18, out, sizeof(out));
	CHECK_STR(out, "ok|<E>|");
	CHECK_INT(ag_ctl_buf_overflow(&b), >, 8);
	/* Sticky: no resynchronization on what follows. */
	CHECK_EQ(ag_ctl_buf_append(&b, "more\n", 5), 5);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), -EMSGSIZE);
	CHECK_INT(b.cap, <=, 9);
	ag_ctl_buf_fini(&b);

	/* Detected without a newline ever coming, from the limit + 1st byte. */
	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	CHECK_EQ(ag_ctl_buf_append(&b, "12345678", 8), 8);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 0);
	CHECK_EQ(ag_ctl_buf_append(&b, "9", 1), 1);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), -EMSGSIZE);
	CHECK_EQ(ag_ctl_buf_overflow(&b), 9);
	ag_ctl_buf_fini(&b);
}

TEST(framing_endless_line_never_grows_the_buffer_past_the_limit)
{
	struct ag_ctl_buf b;
	char chunk[1000];
	int p[2];
	size_t total = 0;
	ssize_t n;

	memset(chunk, 'x', sizeof(chunk));
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(ag_ctl_buf_init(&b, 100), 0);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(write(p[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
		n = ag_ctl_buf_read(&b, p[0]);
		CHECK_INT(n, >, 0);
		total += (size_t)n;
		CHECK_INT(b.cap, <=, 101);
		if (total > 100)
			CHECK_EQ(pop_str(&b, chunk, 0), -EMSGSIZE);
		memset(chunk, 'x', sizeof(chunk));
	}
	/* Every byte was consumed and counted, none kept. */
	while (total < 50 * sizeof(chunk)) {
		n = ag_ctl_buf_read(&b, p[0]);
		CHECK_INT(n, >, 0);
		total += (size_t)n;
	}
	CHECK_EQ(ag_ctl_buf_overflow(&b), 50 * sizeof(chunk));
	CHECK_EQ(ag_ctl_buf_pending(&b), 0);
	close(p[0]);
	close(p[1]);
	ag_ctl_buf_fini(&b);
}

TEST(framing_full_of_complete_lines_takes_the_rest_after_a_pop)
{
	struct ag_ctl_buf b;
	const char *msg = "1234\nabcd\nwxyz\n";
	char out[32] = "";
	ssize_t n;
	int p[2];

	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	n = ag_ctl_buf_append(&b, msg, 15);
	CHECK_EQ(n, 9);	/* holds at most limit + 1 bytes */
	CHECK_EQ(ag_ctl_buf_append(&b, msg + n, 15 - (size_t)n), 0);
	feed(&b, msg + n, 15 - (size_t)n, out, sizeof(out));
	CHECK_STR(out, "1234|abcd|wxyz|");
	ag_ctl_buf_fini(&b);

	/* The same through read(): -ENOBUFS asks the caller to pop first. */
	CHECK_EQ(ag_ctl_buf_init(&b, 8), 0);
	CHECK_EQ(pipe(p), 0);
	put(p[1], msg);
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), 9);
	CHECK_EQ(ag_ctl_buf_read(&b, p[0]), -ENOBUFS);
	CHECK_EQ(pop_str(&b, out, sizeof(out)), 1);
	CHECK_STR(out, "1234");
	CHECK_INT(ag_ctl_buf_read(&b, p[0]), >, 0);
	close(p[0]);
	close(p[1]);
	ag_ctl_buf_fini(&b);
}

TEST(framing_nul_inside_a_line_is_kept_with_its_length)
{
	struct ag_ctl_buf b;
	char *line;
	size_t len;

	CHECK_EQ(ag_ctl_buf_init(&b, 16), 0);
	CHECK_EQ(ag_ctl_buf_append(&b, "a\0b\n", 4), 4);
	CHECK_EQ(ag_ctl_buf_pop(&b, &line, &len), 1);
	CHECK_EQ(len, 3);
	CHECK(memcmp(line, "a\0b", 3) == 0);
	ag_ctl_buf_fini(&b);
}

TEST(framing_bad_limits_are_refused)
{
	struct ag_ctl_buf b;

	CHECK_EQ(ag_ctl_buf_init(&b, 0), -EINVAL);
	CHECK_EQ(ag_ctl_buf_init(&b, SIZE_MAX), -EINVAL);
}

TEST(encode_is_one_compact_line_even_with_newlines_in_strings)
{
	json_t *o = json_pack("{s:s, s:i}", "op", "a\nb", "id", 3);
	size_t len;
	char *s = ag_ctl_encode(o, &len);

	CHECK(s != NULL);
	CHECK_STR(s, "{\"op\":\"a\\nb\",\"id\":3}\n");
	CHECK_EQ(len, strlen(s));
	free(s);
	json_decref(o);
}

/* Reads everything from fd until EOF; returns the byte count. */
static void *drain(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];
	ssize_t n;
	size_t *total = malloc(sizeof(*total));

	*total = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*total += (size_t)n;
		usleep(100);	/* a slow reader makes the writer wait */
	}
	return total;
}

TEST(write_all_survives_short_writes_on_a_nonblocking_socket)
{
	size_t len = 4u << 20, *total;
	char *data = malloc(len);
	pthread_t th;
	void *ret;
	int sv[2], small = 4096;

	CHECK(data != NULL);
	memset(data, 'q', len);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	CHECK_EQ(fcntl(sv[1], F_SETFL, 0), 0);	/* the reader blocks */
	CHECK_EQ(pthread_create(&th, NULL, drain, &sv[1]), 0);
	CHECK_EQ(ag_ctl_write_all(sv[0], data, len, 20000), 0);
	close(sv[0]);
	pthread_join(th, &ret);
	total = ret;
	CHECK_EQ(*total, len);
	free(total);
	close(sv[1]);
	free(data);
}

TEST(write_all_gives_up_at_its_timeout_when_nobody_reads)
{
	size_t len = 8u << 20;
	char *data = calloc(1, len);
	int sv[2];

	CHECK(data != NULL);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CHECK_EQ(ag_ctl_write_all(sv[0], data, len, 100), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	free(data);
}

TEST(write_all_to_a_closed_peer_is_epipe_not_sigpipe)
{
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	/* Without MSG_NOSIGNAL the default SIGPIPE would end this binary. */
	CHECK_EQ(ag_ctl_write_all(sv[0], "x\n", 2, 1000), -EPIPE);
	close(sv[0]);
}

TEST(outq_is_bounded_and_flushes_across_would_block)
{
	struct ag_ctl_outq q;
	json_t *m = json_pack("{s:s}", "event", "0123456789012345678901234567890123456789");
	size_t line, pushed = 0;
	char buf[8192];
	int sv[2], r, small = 4096;
	ssize_t n;

	CHECK_EQ(ag_ctl_outq_init(&q, 100000), 0);
	while ((r = ag_ctl_outq_push(&q, m)) == 0)
		pushed++;
	CHECK_EQ(r, -ENOBUFS);
	line = ag_ctl_outq_len(&q) / pushed;
	CHECK_INT(ag_ctl_outq_len(&q), <=, 100000);
	CHECK_INT(ag_ctl_outq_len(&q) + line, >, 100000);	/* the next one would not fit */

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	CHECK_EQ(ag_ctl_outq_flush(&q, sv[0]), 1);	/* the peer is full */
	CHECK_INT(ag_ctl_outq_len(&q), <, pushed * line);
	/* Room again after the peer reads: the queue takes a line again. */
	CHECK_EQ(ag_ctl_outq_push(&q, m), 0);
	for (int i = 0; i < 10000 && (r = ag_ctl_outq_flush(&q, sv[0])) == 1; i++)
		while ((n = read(sv[1], buf, sizeof(buf))) > 0)
			;
	CHECK_EQ(r, 0);
	CHECK_EQ(ag_ctl_outq_len(&q), 0);
	close(sv[1]);
	CHECK_EQ(ag_ctl_outq_push(&q, m), 0);
	CHECK_EQ(ag_ctl_outq_flush(&q, sv[0]), -EPIPE);
	close(sv[0]);
	ag_ctl_outq_fini(&q);
	json_decref(m);
}

/* ---- durations --------------------------------------------------------------------- */

TEST(duration_parses_every_documented_form)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} ok[] = {
		{ "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
		{ "2d", 172800000 }, { "1h30m", 5400000 }, { "250ms", 250 },
		{ "1d2h3m4s5ms", 93784005 }, { "90m", 5400000 }, { "007s", 7000 },
		{ "9223372036854775807ms", 9223372036854775807ull },
	};
	char err[128];
	uint64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 1;
		CHECK_MSG(ag_duration_parse(ok[i].text, &ms, err, sizeof(err)) == 0,
			  "\"%s\" refused: %s", ok[i].text, err);
		CHECK_MSG(ms == ok[i].ms, "\"%s\" gave %llu", ok[i].text, (unsigned long long)ms);
	}
}

TEST(duration_refuses_each_bad_form_quoting_it)
{
	static const struct {
		const char *text, *why;
		int ret;
	} bad[] = {
		{ "", "empty", -EINVAL },
		{ "-5m", "negative", -EINVAL },
		{ "30", "needs a unit", -EINVAL },
		{ "5x", "unknown unit \"x\"", -EINVAL },
		{ "5 m", "unexpected \" m\"", -EINVAL },
		{ "1.5h", "unexpected \".5h\"", -EINVAL },
		{ "m", "expected a number", -EINVAL },
		{ "5M", "unknown unit \"M\"", -EINVAL },
		{ "5min", "unknown unit \"min\"", -EINVAL },
		{ "30m1h", "after a smaller one", -EINVAL },
		{ "5m5m", "repeated", -EINVAL },
		{ "0s", "zero", -EINVAL },
		{ "0h0m", "zero", -EINVAL },
		{ "+5m", "expected a number", -EINVAL },
		{ "99999999999999999999s", "too long", -ERANGE },
		{ "9223372036854776s", "too long", -ERANGE },
		{ "106751991167d8h", "too long", -ERANGE },
		{ "9223372036854775808ms", "too long", -ERANGE },
	};
	char err[160], quoted[64];
	uint64_t ms;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 42;
		err[0] = '\0';
		CHECK_MSG(ag_duration_parse(bad[i].text, &ms, err, sizeof(err)) == bad[i].ret,
			  "\"%s\" not refused as expected", bad[i].text);
		CHECK_MSG(ms == 42, "\"%s\" wrote the output", bad[i].text);
		snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i].text);
		CHECK_MSG(strstr(err, quoted) && strstr(err, bad[i].why),
			  "\"%s\": message \"%s\" lacks %s or \"%s\"", bad[i].text, err, quoted,
			  bad[i].why);
	}
	CHECK_EQ(ag_duration_parse(NULL, &ms, NULL, 0), -EINVAL);
}

TEST(duration_formats_two_largest_units_for_people)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} f[] = {
		{ 0, "0ms" }, { 250, "250ms" }, { 999, "999ms" }, { 1000, "1s" },
		{ 1500, "1s" }, { 59999, "59s" }, { 125000, "2m 5s" }, { 3600000, "1h" },
		{ 3660000, "1h 1m" }, { 5400000, "1h 30m" }, { 3601000, "1h" },
		{ 86400000, "1d" }, { 277200000, "3d 5h" },
	};
	char buf[AG_DURATION_TEXT_MAX];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		CHECK_STR(ag_duration_format(f[i].ms, buf, sizeof(buf)), f[i].text);
	/* The longest value fits the documented size. */
	ag_duration_format(UINT64_MAX, buf, sizeof(buf));
	CHECK_STR(buf, "213503982334d 14h");
}

TEST(duration_format_parses_back_to_its_truncated_value)
{
	char buf[AG_DURATION_TEXT_MAX], joined[AG_DURATION_TEXT_MAX];
	uint64_t ms, back, x = 1;

	for (int i = 0; i < 2000; i++) {
		/* A spread of magnitudes from 1 ms to years. */
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		ms = (x >> 20) % ((uint64_t)1 << (1 + i % 40)) + 1;
		ag_duration_format(ms, buf, sizeof(buf));
		size_t j = 0;
		for (const char *p = buf; *p; p++)
			if (*p != ' ')
				joined[j++] = *p;
		joined[j] = '\0';
		CHECK_MSG(ag_duration_parse(joined, &back, NULL, 0) == 0, "\"%s\" does not parse", joined);
		CHECK_MSG(back <= ms, "%s > %llu", joined, (unsigned long long)ms);
		/* Truncation loses less than one unit of the second place. */
		CHECK_MSG(ms - back < (ms >= 86400000 ? 3600000ull : ms >= 3600000 ? 60000ull : 1000ull),
			  "%llu shown as \"%s\"", (unsigned long long)ms, buf);
	}
}

/* ---- messages ------------------------------------------------------------------------- */

TEST(parse_line_sorts_hello_reply_and_push)
{
	json_t *o;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK_EQ(ag_ctl_parse_line(HELLO, strlen(HELLO) - 1, &o, NULL, 0), AG_CTL_MSG_HELLO);
	json_decref(o);
	CHECK_EQ(ag_ctl_parse_line("{\"id\":1,\"ok\":true}", 18, &o, NULL, 0), AG_CTL_MSG_REPLY);
	json_decref(o);
	CHECK_EQ(ag_ctl_parse_line("{\"pending\":{\"id\":3}}", 20, &o, NULL, 0), AG_CTL_MSG_PUSH);
	json_decref(o);
	CHECK_EQ(ag_ctl_parse_line("[1,2]", 5, &o, err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "\"[1,2]\"") != NULL);
	CHECK_EQ(ag_ctl_parse_line("{\"ok\":true,\"ok\":false}", 22, &o, err, sizeof(err)), -EPROTO);
	CHECK_EQ(ag_ctl_parse_line("{\"ok\":tru", 9, &o, err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "not a JSON object: \"{\"ok\":tru\"") != NULL);
}

TEST(hello_gives_server_uid_and_session)
{
	struct ag_ctl_hello h;
	json_t *m = json_loads(HELLO, 0, NULL);
	char err[AG_CTL_ERR_MAX] = "";

	CHECK_EQ(ag_ctl_check_hello(m, &h, err, sizeof(err)), 0);
	CHECK_EQ(h.version, 1);
	CHECK_STR(h.server, "alegated 0.1.0");
	CHECK_EQ(h.uid, 0);
	CHECK_EQ(h.session, 7);
	CHECK_STR(err, "");
	json_decref(m);
}

TEST(hello_refusal_is_surfaced_verbatim_with_its_kind)
{
	static const struct {
		const char *line, *msg;
		int ret;
	} cases[] = {
		{ "{\"hello\":\"alegate\",\"version\":1,\"error\":\"permission denied: uid 65534 is neither root nor in group \\\"alegate\\\"\",\"code\":\"denied\"}",
		  "permission denied: uid 65534 is neither root nor in group \"alegate\"", -EACCES },
		{ "{\"hello\":\"alegate\",\"version\":1,\"error\":\"too many clients (32)\",\"code\":\"busy\"}",
		  "too many clients (32)", -EBUSY },
		/* A refusal is shown even from a server of another version. */
		{ "{\"hello\":\"alegate\",\"version\":9,\"error\":\"go away\"}", "go away", -ECONNREFUSED },
		/* A hostile text cannot drive the terminal. */
		{ "{\"hello\":\"alegate\",\"version\":1,\"error\":\"\\u001b[2Jx\\u009by\",\"code\":\"denied\"}",
		  "?[2Jx??y", -EACCES },
	};
	struct ag_ctl_hello h;
	char err[AG_CTL_ERR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *m = json_loads(cases[i].line, 0, NULL);

		CHECK(m != NULL);
		err[0] = '\0';
		CHECK_EQ(ag_ctl_check_hello(m, &h, err, sizeof(err)), cases[i].ret);
		CHECK_STR(err, cases[i].msg);
		json_decref(m);
	}
}

TEST(hello_of_another_version_or_not_a_hello_is_refused)
{
	struct ag_ctl_hello h;
	json_t *m;
	char err[AG_CTL_ERR_MAX] = "";

	m = json_loads("{\"hello\":\"alegate\",\"version\":2}", 0, NULL);
	CHECK_EQ(ag_ctl_check_hello(m, &h, err, sizeof(err)), -EPROTONOSUPPORT);
	CHECK(strstr(err, "version 2") && strstr(err, "version 1"));
	json_decref(m);
	m = json_loads("{\"hello\":\"alegate\"}", 0, NULL);
	CHECK_EQ(ag_ctl_check_hello(m, &h, NULL, 0), -EPROTO);
	json_decref(m);
	m = json_loads("{\"hello\":\"ssh\",\"version\":1}", 0, NULL);
	CHECK_EQ(ag_ctl_check_hello(m, &h, err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "not an alegated control socket") != NULL);
	json_decref(m);
}

TEST(sanitize_removes_terminal_controls_and_keeps_utf8)
{
	char s[] = "a\x1b[31m\x07\x7f\xc2\x9b" "b\xc3\xa9\tc";

	CHECK_STR(ag_sanitize(s), "a?[31m????b\xc3\xa9?c");
}

/* ---- client ---------------------------------------------------------------------------- */

TEST(client_call_sends_an_id_and_returns_its_result)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO, &srv);
	json_t *req = json_pack("{s:s}", "op", "status"), *res, *sent;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	CHECK_EQ(ag_ctl_hello(c)->session, 7);
	put(srv, "{\"id\":1,\"ok\":true,\"result\":{\"backend\":\"iptables\"}}\n");
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), 0);
	CHECK_STR(json_string_value(json_object_get(res, "backend")), "iptables");
	json_decref(res);
	sent = read_request(srv);
	CHECK_STR(json_string_value(json_object_get(sent, "op")), "status");
	CHECK_EQ(json_integer_value(json_object_get(sent, "id")), 1);
	json_decref(sent);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

/* A long answer comes in pages with the call's id; a push may sit between them. */
TEST(client_call_joins_a_paged_answer_into_one_array)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO, &srv);
	json_t *req = json_pack("{s:s}", "op", "pending"), *res = NULL, *push = NULL;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	put(srv, "{\"id\":1,\"ok\":true,\"result\":[{\"id\":1},{\"id\":2}],\"more\":true}\n"
		 "{\"resolved\":{\"id\":9,\"verdict\":\"deny\"}}\n"
		 "{\"id\":1,\"ok\":true,\"result\":[{\"id\":3}],\"more\":true}\n"
		 "{\"id\":1,\"ok\":true,\"result\":[{\"id\":4}]}\n"
		 "{\"id\":2,\"ok\":true,\"result\":{}}\n");
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), 0);
	CHECK(json_is_array(res));
	CHECK_EQ(json_array_size(res), 4);
	for (size_t i = 0; i < 4; i++)
		CHECK_EQ(json_integer_value(json_object_get(json_array_get(res, i), "id")), i + 1);
	json_decref(res);
	CHECK_EQ(ag_ctl_next_push(c, 0, &push, err, sizeof(err)), 1);
	CHECK(json_object_get(push, "resolved") != NULL);
	json_decref(push);
	/* the connection is in step: the next call gets its own reply */
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), 0);
	CHECK(json_is_object(res));
	json_decref(res);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

TEST(client_keeps_pushes_that_arrive_before_the_reply_in_order)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO
		"{\"pending\":{\"id\":5}}\n"
		"{\"id\":99,\"ok\":true,\"result\":\"stray\"}\n"
		"{\"resolved\":{\"id\":5,\"verdict\":\"deny\"}}\n"
		"{\"id\":1,\"ok\":true}\n"
		"{\"event\":{\"seq\":1}}\n", &srv);
	json_t *req = json_pack("{s:s}", "op", "subscribe"), *res, *m;

	CHECK(c != NULL);
	CHECK_EQ(ag_ctl_call(c, req, &res, NULL, 0), 0);
	CHECK(json_is_null(res));	/* a reply without result */
	json_decref(res);
	CHECK(ag_ctl_push_ready(c));
	CHECK_EQ(ag_ctl_next_push(c, 0, &m, NULL, 0), 1);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(m, "pending"), "id")), 5);
	json_decref(m);
	CHECK_EQ(ag_ctl_next_push(c, 0, &m, NULL, 0), 1);
	CHECK(json_object_get(m, "resolved") != NULL);
	json_decref(m);
	CHECK_EQ(ag_ctl_next_push(c, 0, &m, NULL, 0), 1);
	CHECK(json_object_get(m, "event") != NULL);
	json_decref(m);
	CHECK(!ag_ctl_push_ready(c));
	CHECK_EQ(ag_ctl_next_push(c, 0, &m, NULL, 0), 0);
	CHECK_EQ(ag_ctl_next_push(c, 50, &m, NULL, 0), 0);
	/* Half a line is not ready: a poll loop would spin on it. */
	put(srv, "{\"event\":");
	CHECK_EQ(ag_ctl_next_push(c, 50, &m, NULL, 0), 0);
	CHECK(!ag_ctl_push_ready(c));
	put(srv, "{\"seq\":2}}\n");
	CHECK_EQ(ag_ctl_next_push(c, 1000, &m, NULL, 0), 1);
	json_decref(m);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

TEST(client_error_reply_gives_the_daemon_text_and_code)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO
		"{\"id\":1,\"ok\":false,\"error\":\"no rule \\\"nope\\\"\",\"code\":\"not_found\"}\n"
		"{\"ok\":false,\"error\":\"not JSON: x\",\"code\":\"bad_json\"}\n", &srv);
	json_t *req = json_pack("{s:s,s:s}", "op", "rules.del", "rule", "nope"), *res;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -EREMOTEIO);
	CHECK(res == NULL);
	CHECK_STR(err, "no rule \"nope\"");
	CHECK_STR(ag_ctl_error_code(c), "not_found");
	/* An error without id (the server could not read us) answers the call. */
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -EREMOTEIO);
	CHECK_STR(err, "not JSON: x");
	CHECK_STR(ag_ctl_error_code(c), "bad_json");
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

/* Found by fuzz_ctl: a refusal with no "error" but a control byte in its
 * "code" reached the message, and so the terminal, raw. */
TEST(bug_refusal_code_with_a_control_byte_is_sanitized)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO
		"{\"id\":1,\"ok\":false,\"code\":\"not\\u007f\\u001b[2Jfound\"}\n", &srv);
	json_t *req = json_pack("{s:s}", "op", "status"), *res;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -EREMOTEIO);
	CHECK(err[0] != '\0');
	for (const char *p = err; *p; p++)
		CHECK_MSG((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in \"%s\"", err);
	for (const char *p = ag_ctl_error_code(c); *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

TEST(client_server_closing_breaks_every_later_call)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO, &srv);
	json_t *req = json_pack("{s:s}", "op", "status"), *res, *m;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	close(srv);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -ECONNRESET);
	CHECK(strstr(err, "closed the connection") != NULL);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -ECONNRESET);
	CHECK_EQ(ag_ctl_next_push(c, -1, &m, NULL, 0), -ECONNRESET);
	json_decref(req);
	ag_ctl_close(c);
}

TEST(client_timed_out_call_leaves_the_connection_usable)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO, &srv);
	json_t *req = json_pack("{s:s}", "op", "status"), *res;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	ag_ctl_set_timeout(c, 50);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -ETIMEDOUT);
	/* The late reply to id 1 comes first and must not answer id 2. */
	put(srv, "{\"id\":1,\"ok\":true,\"result\":1}\n{\"id\":2,\"ok\":true,\"result\":2}\n");
	CHECK_EQ(ag_ctl_call(c, req, &res, NULL, 0), 0);
	CHECK_EQ(json_integer_value(res), 2);
	json_decref(res);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

TEST(client_garbage_from_the_server_is_a_protocol_error)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO "HTTP/1.1 400 Bad Request\n", &srv);
	json_t *req = json_pack("{s:s}", "op", "status"), *res;
	char err[AG_CTL_ERR_MAX] = "";

	CHECK(c != NULL);
	CHECK_EQ(ag_ctl_call(c, req, &res, err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "HTTP/1.1 400") != NULL);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}

TEST(client_refused_hello_fails_open_with_the_text)
{
	int sv[2];
	char err[AG_CTL_ERR_MAX] = "";

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	put(sv[1], "{\"hello\":\"alegate\",\"version\":1,\"error\":\"permission denied: uid 5\",\"code\":\"denied\"}\n");
	errno = 0;
	CHECK(ag_ctl_open_fd(sv[0], err, sizeof(err)) == NULL);
	CHECK_EQ(errno, EACCES);
	CHECK_STR(err, "permission denied: uid 5");
	/* The server closing before any hello is not a hang. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 0), 0);
	close(sv[1]);
	CHECK(ag_ctl_open_fd(sv[0], err, sizeof(err)) == NULL);
	CHECK_EQ(errno, ECONNRESET);
	CHECK(strstr(err, "before saying hello") != NULL);
}

TEST(client_connect_to_a_missing_socket_names_the_path)
{
	char err[AG_CTL_ERR_MAX] = "";

	errno = 0;
	CHECK(ag_ctl_connect("/nonexistent/alegate-test.sock", err, sizeof(err)) == NULL);
	CHECK_EQ(errno, ENOENT);
	CHECK(strstr(err, "\"/nonexistent/alegate-test.sock\"") != NULL);
	CHECK(strstr(err, "is alegated running?") != NULL);
}

static void *accept_and_hello(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);

	if (fd >= 0) {
		put(fd, HELLO);
		/* Wait for the client to close, then report. */
		char b;
		while (read(fd, &b, 1) > 0)
			;
		close(fd);
	}
	return NULL;
}

TEST(client_connect_over_a_real_socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ag_ctl_conn *c;
	pthread_t th;
	char err[AG_CTL_ERR_MAX] = "";
	int lfd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/agctl-test-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(lfd >= 0);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(lfd, 1), 0);
	CHECK_EQ(pthread_create(&th, NULL, accept_and_hello, &lfd), 0);
	c = ag_ctl_connect(sa.sun_path, err, sizeof(err));
	CHECK_MSG(c != NULL, "connect: %s", err);
	CHECK_STR(ag_ctl_hello(c)->server, "alegated 0.1.0");
	ag_ctl_close(c);
	pthread_join(th, NULL);
	close(lfd);
	unlink(sa.sun_path);
}

struct flood {
	int fd, n;
};

static void *flood_pushes(void *arg)
{
	struct flood *f = arg;
	char line[64];

	for (int i = 0; i < f->n; i++) {
		snprintf(line, sizeof(line), "{\"event\":{\"seq\":%d}}\n", i);
		put(f->fd, line);
	}
	put(f->fd, "{\"id\":1,\"ok\":true}\n");
	return NULL;
}

TEST(client_push_queue_is_bounded_and_counts_what_it_dropped)
{
	int srv;
	struct ag_ctl_conn *c = pair_with(HELLO, &srv);
	struct flood f = { srv, AG_CTL_PUSH_QUEUE_MAX + 10 };
	json_t *req = json_pack("{s:s}", "op", "status"), *res, *m;
	pthread_t th;
	int n = 0;

	CHECK(c != NULL);
	CHECK_EQ(pthread_create(&th, NULL, flood_pushes, &f), 0);
	CHECK_EQ(ag_ctl_call(c, req, &res, NULL, 0), 0);
	pthread_join(th, NULL);
	json_decref(res);
	CHECK_EQ(ag_ctl_pushes_dropped(c), 10);
	/* The oldest were dropped: the first kept is seq 10. */
	CHECK_EQ(ag_ctl_next_push(c, 0, &m, NULL, 0), 1);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(m, "event"), "seq")), 10);
	json_decref(m);
	n = 1;
	while (ag_ctl_next_push(c, 0, &m, NULL, 0) == 1) {
		json_decref(m);
		n++;
	}
	CHECK_EQ(n, AG_CTL_PUSH_QUEUE_MAX);
	json_decref(req);
	ag_ctl_close(c);
	close(srv);
}
