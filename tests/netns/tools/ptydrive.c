/*
 * ptydrive — run a command in a pseudo-terminal and drive it from a script,
 * the way a person at a terminal would (a small expect).
 *
 *   ptydrive [-t MS] [-w COLS] [-v] SCRIPT -- COMMAND [ARG...]
 *
 * SCRIPT ("-" for stdin) has one command per line; blank lines and lines
 * starting with "#" are skipped:
 *   expect TEXT     wait until TEXT shows up in the output after the last match
 *   send TEXT       type TEXT
 *   sleep MS
 *   timeout MS      the limit for the expects and eof that follow (default -t,
 *                   5000 ms)
 *   signal NAME     send SIGNAME (INT, TERM, HUP, WINCH, ...) or a number
 *   eof             wait until the command exits and its output ends
 *   status N        the command's exit status was N (128+SIG if killed)
 * TEXT may hold \n \r \t \e \\ and \xHH.  Matching ignores ANSI escape
 * sequences (colours, erase line) and carriage returns, so a test does not
 * depend on them; the transcript keeps everything.
 *
 * The window is COLS (default 80) by 24.  When the script ends the command
 * is terminated if it still runs.  Exit status: 0 when every line held;
 * 1 otherwise, after printing the failed line and the transcript (control
 * bytes escaped) on stderr — always printed with -v; 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct buf {
	char *data;
	size_t len, cap;
};

static struct buf raw, clean;	/* what the command printed; the same for matching */
static size_t matched;		/* clean.data[0..matched) is behind the last match */
static int master = -1, esc_state, status = -1;
static pid_t child = -1;
static bool out_ended;
static int verbose;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(struct buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/* Keep @c for matching unless it belongs to an escape sequence or is a CR. */
static void clean_put(unsigned char c)
{
	switch (esc_state) {
	case 0:
		if (c == 0x1b)
			esc_state = 1;
		else if (c != '\r' && c != '\0')
			put(&clean, (char)c);
		return;
	case 1:
		esc_state = c == '[' ? 2 : c == ']' ? 3 : 0;
		return;
	case 2:		/* CSI: parameters, then a final byte */
		if (c >= 0x40 && c <= 0x7e)
			esc_state = 0;
		return;
	default:	/* OSC: until BEL (or ESC, which starts the ST) */
		if (c == 0x07)
			esc_state = 0;
		else if (c == 0x1b)
			esc_state = 1;
		return;
	}
}

static void transcript(void)
{
	fprintf(stderr, "---- transcript (%zu bytes) ----\n", raw.len);
	for (size_t i = 0; i < raw.len; i++) {
		unsigned char c = (unsigned char)raw.data[i];

		if (c == '\n')
			fputc('\n', stderr);
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c == 0x1b)
			fputs("\\e", stderr);
		else if (c < 0x20 || c == 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fprintf(stderr, "\n---- end of transcript ----\n");
}

static void reap(bool block)
{
	int st;

	if (child < 0)
		return;
	if (waitpid(child, &st, block ? 0 : WNOHANG) == child) {
		status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		child = -1;
	}
}

static void stop_child(void)
{
	if (child < 0)
		return;
	kill(child, SIGTERM);
	for (int i = 0; i < 100 && child >= 0; i++) {
		usleep(10000);
		reap(false);
	}
	if (child >= 0) {
		kill(child, SIGKILL);
		reap(true);
	}
}

static void fail(int lineno, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void fail(int lineno, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ptydrive: script line %d: ", lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	transcript();
	stop_child();
	exit(1);
}

/* Read what the command printed, waiting at most @wait_ms. */
static void pump(int wait_ms)
{
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	char b[4096];
	ssize_t n;

	if (out_ended) {
		if (wait_ms > 0)
			usleep((useconds_t)(wait_ms > 20 ? 20 : wait_ms) * 1000);
		return;
	}
	if (poll(&pfd, 1, wait_ms) <= 0)
		return;
	n = read(master, b, sizeof(b));
	if (n <= 0) {
		/* EIO: every slave side is closed; the command is gone. */
		if (n == 0 || errno != EINTR)
			out_ended = true;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		put(&raw, b[i]);
		clean_put((unsigned char)b[i]);
	}
}

/* Decode the escapes of a TEXT argument in place; return its length. */
static size_t unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p != '\\' || !p[1]) {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'e': *o++ = 0x1b; break;
		case 'x':
			if (p[1] && p[2]) {
				char hex[3] = { p[1], p[2], 0 };

				*o++ = (char)strtol(hex, NULL, 16);
				p += 2;
			}
			break;
		default: *o++ = *p; break;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}

static int signum(const char *name)
{
	static const struct {
		const char *n;
		int s;
	} sigs[] = {
		{ "INT", SIGINT }, { "TERM", SIGTERM }, { "HUP", SIGHUP }, { "WINCH", SIGWINCH },
		{ "TSTP", SIGTSTP }, { "CONT", SIGCONT }, { "KILL", SIGKILL }, { "QUIT", SIGQUIT },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};

	if (!strncmp(name, "SIG", 3))
		name += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(name, sigs[i].n))
			return sigs[i].s;
	return atoi(name);
}

int main(int argc, char **argv)
{
	int timeout = 5000, cols = 80, opt, lineno = 0;
	FILE *script;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((opt = getopt(argc, argv, "+t:w:v")) != -1) {
		switch (opt) {
		case 't': timeout = atoi(optarg); break;
		case 'w': cols = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--") != 0)
		goto usage;
	script = strcmp(argv[optind], "-") ? fopen(argv[optind], "r") : stdin;
	if (!script) {
		fprintf(stderr, "ptydrive: cannot open \"%s\": %s\n", argv[optind], strerror(errno));
		return 2;
	}

	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };

	signal(SIGPIPE, SIG_IGN);
	child = forkpty(&master, NULL, NULL, &ws);
	if (child == -1) {
		fprintf(stderr, "ptydrive: forkpty: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		execvp(argv[optind + 2], argv + optind + 2);
		fprintf(stderr, "ptydrive: cannot run \"%s\": %s\n", argv[optind + 2], strerror(errno));
		_exit(127);
	}

	while ((n = getline(&line, &cap, script)) != -1) {
		char *arg;
		long long deadline;

		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n || line[0] == '#')
			continue;
		arg = strchr(line, ' ');
		arg = arg ? arg + 1 : line + n;
		if (!strncmp(line, "expect ", 7)) {
			char *hit;

			unescape(arg);
			deadline = now_ms() + timeout;
			while (!(hit = strstr(clean.data ? clean.data + matched : "", arg))) {
				long long left = deadline - now_ms();

				if (left <= 0)
					fail(lineno, "no \"%s\" within %d ms", arg, timeout);
				if (out_ended)
					fail(lineno, "the command ended without printing \"%s\"", arg);
				pump((int)left);
			}
			matched = (size_t)(hit - clean.data) + strlen(arg);
		} else if (!strncmp(line, "send ", 5)) {
			size_t len = unescape(arg);

			if (write(master, arg, len) != (ssize_t)len)
				fail(lineno, "cannot type: %s", strerror(errno));
		} else if (!strncmp(line, "sleep ", 6)) {
			deadline = now_ms() + atoi(arg);
			while (now_ms() < deadline)
				pump((int)(deadline - now_ms()));
		} else if (!strncmp(line, "timeout ", 8)) {
			timeout = atoi(arg);
		} else if (!strncmp(line, "signal ", 7)) {
			if (child < 0 || kill(child, signum(arg)) == -1)
				fail(lineno, "cannot signal the command");
		} else if (!strcmp(line, "eof")) {
			deadline = now_ms() + timeout;
			while (!out_ended || child >= 0) {
				long long left = deadline - now_ms();

				if (left <= 0)
					fail(lineno, "the command did not end within %d ms", timeout);
				pump((int)(left > 50 ? 50 : left));
				reap(false);
			}
		} else if (!strncmp(line, "status ", 7)) {
			if (child >= 0)
				fail(lineno, "status before eof");
			if (status != atoi(arg))
				fail(lineno, "exit status %d, expected %s", status, arg);
		} else {
			fail(lineno, "unknown command \"%s\"", line);
		}
	}
	free(line);
	if (verbose)
		transcript();
	stop_child();
	return 0;
usage:
	fprintf(stderr, "usage: ptydrive [-t MS] [-w COLS] [-v] SCRIPT -- COMMAND [ARG...]\n");
	return 2;
}
