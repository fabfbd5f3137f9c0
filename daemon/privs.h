/*
 * daemon/privs.h — the daemon's privileges, owned by privs.c as struct
 * agd_privs: capabilities, no_new_privs and seccomp once start-up is done,
 * and the [fw] helper process that keeps the right to change the firewall
 * rules for the daemon after it gave that right up.
 */
#ifndef ALEGATE_DAEMON_PRIVS_H
#define ALEGATE_DAEMON_PRIVS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

struct agd;

/* privs.c: the [fw] helper that keeps the rights to change the firewall. */
struct agd_privs {
	int fw_sock;             /* -1: no helper (not started, or gone) */
	pid_t fw_pid;
};

/* Drop what the running daemon does not need; see docs/SECURITY.md. */
int agd_privs_drop(struct agd *d);
/*
 * agd_privs_thread_limit - keep only the capabilities in @keep (CAP_* bits,
 * all below 32) in the calling thread's effective and permitted sets.
 * Capabilities belong to each thread: a thread started before
 * agd_privs_drop() keeps the whole set unless it calls this first.
 * @who names the thread in the log line of a failure.
 */
void agd_privs_thread_limit(uint32_t keep, const char *who);
/* Remove the firewall rules, through the [fw] helper once privileges are dropped. */
int agd_privs_fw_remove(struct agd *d, char *err, size_t errlen);
/* Install the queue rules again (same config and backend as at start), through
 * the [fw] helper once privileges are dropped. */
int agd_privs_fw_install(struct agd *d, char *err, size_t errlen);
/* Let the [fw] helper go without removing the rules (a stop with fail_mode
 * closed: the next daemon takes over). */
void agd_privs_fw_leave(struct agd *d);
/* ag_fw_notrack(), through the [fw] helper once privileges are dropped. */
int agd_privs_fw_notrack(struct agd *d, bool on, char *err, size_t errlen);

#endif
