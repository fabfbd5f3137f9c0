/*
 * daemon/lifecycle.h — the daemon's life around its rules, owned by
 * lifecycle.c as struct agd_life and struct agd_guard: the lock file, the
 * guard that puts the queue rules back when someone removes them, timed
 * rules across a restart, systemd's readiness and watchdog, and what happens
 * to the firewall rules at a stop.
 */
#ifndef ALEGATE_DAEMON_LIFECYCLE_H
#define ALEGATE_DAEMON_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alegate/engine.h"
#include "rule/config.h"

struct agd;

/* lifecycle.c: the guard of the queue rules. */
struct agd_guard {
	bool on;                 /* the rules are visible and compared */
	bool recheck;            /* the nftables ruleset changed */
	uint64_t sum;            /* ag_fw_fingerprint() after our install */
	unsigned nrules;
	uint64_t checked_ns;
	uint64_t restores;       /* times the rules were put back */
};

/* lifecycle.c: the lock file, timed rules, systemd's watchdog. */
struct agd_life {
	int pid_fd;              /* the lock file, held while we run; -1 none */
	char pid_path[4104];
	bool fw_found;           /* our rules were there before we installed them */
	bool timed_dirty;        /* a timed rule came, went or changed: save them */
	uint64_t watchdog_ns;    /* half of systemd's WatchdogSec, 0: off */
	uint64_t watchdog_at;
};

/* The engine's settings from alegate.conf; its log level as a syslog priority. */
void agd_engine_config(const struct ag_config *c, ag_engine_config *ec);
int agd_syslog_level(enum ag_cfg_log_level l);
/* The lock file of the instance whose control socket cfg names: "X.pid"
 * for "X.sock" (or the socket path + ".pid"). */
void agd_pidfile_path(const struct ag_config *cfg, char *buf, size_t len);
/* Create and lock it, write our pid.  -EBUSY (logged, with the other pid)
 * when another daemon holds it. */
int agd_pidfile_lock(struct agd *d);
void agd_pidfile_release(struct agd *d);
/* Is a daemon alive for cfg in this network namespace: its lock held, its
 * control socket answering, or its queues bound?  1 with the reason in why. */
int agd_alive(const struct ag_config *cfg, char *why, size_t len);
/* After the install: remember the rules as the kernel has them. */
void agd_guard_start(struct agd *d);
/* From the loop: when the ruleset changed (guard_recheck) or every 5 s,
 * compare, and install the rules again if someone removed or changed them. */
void agd_guard_check(struct agd *d);
int agd_guard_wake_ms(const struct agd *d);
/*
 * Timed rules ("for 5m") outlive a restart of the daemon, not a reboot:
 * kept in state_dir/timed-rules.json with the boot's id.  load adds those
 * of this boot that have time left (at start, after the rule files); save
 * writes them all when timed_dirty (from the loop) and at a stop.
 */
void agd_timed_load(struct agd *d);
void agd_timed_save(struct agd *d);
/* systemd: READY=1 (and the watchdog interval), STOPPING=1, WATCHDOG=1. */
void agd_notify_ready(struct agd *d);
void agd_notify_stopping(struct agd *d);
void agd_watchdog_ping(struct agd *d);
int agd_watchdog_wake_ms(const struct agd *d);
/*
 * The unit's ExecStopPost: should the rules go?  *remove is true with
 * fail_mode open, or after a deliberate stop ($SERVICE_RESULT success)
 * that is not the first half of a restart of unit (asked of systemctl);
 * false after a crash.  why says which.  -EINVAL without $SERVICE_RESULT.
 */
int agd_after_stop(const struct ag_config *cfg, const char *unit, bool *remove, char *why,
		   size_t len);

#endif
