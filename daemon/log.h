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

#define log_err(...) agd_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) agd_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) agd_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) agd_log(LOG_DEBUG, __VA_ARGS__)

#endif
