/*
 * daemon/log.h — alegated's log: syslog, or stderr in the foreground (-d).
 */
#ifndef ALEGATE_DAEMON_LOG_H
#define ALEGATE_DAEMON_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Start logging; `level` is a syslog priority (LOG_ERR .. LOG_DEBUG). */
void agd_log_init(bool to_stderr, int level);
void agd_log_set_level(int level);
/* While starting in the background: warnings and errors also go to stderr,
 * so whoever started alegated reads why it did not start. */
void agd_log_tee(bool on);
void agd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct json_t;
/*
 * agd_log_lines - log every line of @lines, an error buffer filled by a
 * parser (lines separated by '\n'), at @prio, each after "@prefix: " when
 * @prefix is not NULL; append each line to the JSON array @errors too
 * when it is not NULL (a reload's reply).
 */
void agd_log_lines(int prio, const char *prefix, const char *lines, struct json_t *errors);

#define log_err(...) agd_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) agd_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) agd_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) agd_log(LOG_DEBUG, __VA_ARGS__)

#endif
