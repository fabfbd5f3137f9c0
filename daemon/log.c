/*
 * daemon/log.c — one function for every message alegated writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/log.h"

static bool log_stderr;
static bool log_tee;
static int log_level = LOG_INFO;

void agd_log_init(bool to_stderr, int level)
{
	log_stderr = to_stderr;
	log_level = level;
	if (!to_stderr)
		openlog("alegated", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void agd_log_tee(bool on)
{
	log_tee = on;
}

void agd_log_set_level(int level)
{
	log_level = level;
}

void agd_log(int prio, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warning", "notice", "info", "debug" };
	va_list ap;

	if (prio > log_level)
		return;
	if (!log_stderr && log_tee && prio <= LOG_WARNING) {
		va_start(ap, fmt);
		fputs("alegated: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	va_start(ap, fmt);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld alegated %s: ", when, ts.tv_nsec / 1000000,
			names[prio & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

void agd_log_lines(int prio, const char *prefix, const char *lines, json_t *errors)
{
	const char *s = lines;

	while (s && *s) {
		size_t n = strcspn(s, "\n");

		if (prefix)
			agd_log(prio, "%s: %.*s", prefix, (int)n, s);
		else
			agd_log(prio, "%.*s", (int)n, s);
		if (errors)
			json_array_append_new(errors, json_stringn(s, n));
		s += n;
		if (*s)
			s++;
	}
}
