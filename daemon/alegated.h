/*
 * daemon/alegated.h — alegated's state as a whole (struct agd) and its
 * event loop.  struct agd composes one struct per daemon module that has
 * state of its own; each module declares that struct and its functions in
 * a header of its own, and reads another module's state only through that
 * module's functions:
 *
 *   main.c           options, start-up, the event loop, shutdown, reload;
 *                    wires the modules together (agd_control_attach)
 *   loop.c           agd_init(), epoll registration, the deadline timer
 *   dataplane.h      NFQUEUE queues -> ag_classify(); engine callbacks ->
 *                    verdicts, conntrack deletions, socket destruction; DNS
 *                    snooping; dataplane_status.c its counters for `status`
 *   flowtuple.h      a flow as the kernel's 5-tuple and as the engine's
 *                    fixed values, one from the other
 *   policy.h         rules (lib/rule/rule.h, each kept packed) <-> engine
 *                    filters; lifetimes; reload; rule_name.c the name a
 *                    rule made without one is given; rules.h a rule as
 *                    the daemon keeps it, for the modules that only read it
 *   pending.h        the flows `ask` pended, and the answers to them (the
 *                    verdict, the rule an answer makes)
 *   fastpath_sync.h  the eBPF fast path kept in step with the engine's rules;
 *                    host addresses for it; the notrack table
 *   resolvers.h      the configured DNS resolvers (resolv.conf)
 *   control.h        the control socket (docs/PROTOCOL.md): clients, pages,
 *                    pended flows and answers; control_push.c the pushes to
 *                    subscribers; control_requests.c the rules, flows and
 *                    events requests; control_json.c the protocol's objects
 *                    (control_internal.h between them)
 *   lifecycle.h      lock file, the guard of the firewall rules, timed rules
 *                    across a restart, systemd readiness and watchdog, what
 *                    happens to the rules at a stop
 *   privs.h          capabilities, no_new_privs, seccomp, the [fw] helper
 *   log.h            syslog or stderr
 *   history.h        every decided connection into SQLite (a writer thread), the
 *                    `history` and `traffic` queries (history_query.c, on query
 *                    threads; history_internal.h between them), event_log records
 *   fpevents.h       the fast path's decisions read from its ring buffer: events,
 *                    history rows and the flows it allowed in the kernel
 *   modules.h        callout modules (callout_modules): dlopen, init, fini
 *
 * Who calls whom (no module calls one above it; what happens below the
 * control socket reaches it through struct agd_listeners; the data plane's
 * handles, struct agd_dataplane, are read by others as d->dp.…):
 *   main          -> every module
 *   control       -> lifecycle, pending, policy, dataplane, fastpath_sync, fpevents
 *   lifecycle     -> policy, resolvers, privs
 *   dataplane     -> pending, policy, resolvers, fastpath_sync, flowtuple, privs
 *   pending       -> policy
 *   resolvers     -> policy
 *   policy        -> fastpath_sync, lists
 *   fastpath_sync -> flowtuple, privs, lists
 *   lists         -> privs (a list read anew reaches policy through the
 *                    read_again function main gives agd_lists_open())
 *   fpevents      -> policy, history
 *   loop, log, privs, flowtuple: called by the others, call none of them
 */
#ifndef ALEGATE_DAEMON_ALEGATED_H
#define ALEGATE_DAEMON_ALEGATED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "alegate/engine.h"
#include "rule/config.h"
#include "linux/fw.h"

#include "daemon/control.h"
#include "daemon/dataplane.h"
#include "daemon/fastpath_sync.h"
#include "daemon/fpevents.h"
#include "daemon/lifecycle.h"
#include "daemon/modules.h"
#include "daemon/policy.h"
#include "daemon/privs.h"
#include "daemon/resolvers.h"

#define AGD_VERSION "0.1.0"

struct agd_history;
struct agd_pending;

/*
 * Who hears what the engine and the pending flows do besides policy.c:
 * control.c's subscribers, registered by agd_control_attach().  NULL:
 * nobody.  The data plane, the pending flows and the fast path's events
 * (fpevents.c) call these rather than control.c, so that no module below
 * the control socket calls up into it.
 */
struct agd_listeners {
	void (*event)(struct agd *d, const ag_event *ev);
	/* an event already in JSON: the fast path's decisions (fpevents.c) */
	void (*json_event)(struct agd *d, json_t *ev);
	void (*pending)(struct agd *d, const struct agd_pending *p);
	void (*resolved)(struct agd *d, uint32_t id, const char *reason, const char *verdict);
};

struct agd {
	struct ag_config cfg;
	char config_path[4096];
	bool foreground;
	bool stop;
	bool reload_requested;

	ag_engine *engine;
	struct agd_lists *lists; /* daemon/lists.h */

	/* data plane */
	struct agd_dataplane dp;  /* dataplane.c */
	struct agd_resolvers resolvers;
	struct agd_fastpath fastpath;
	struct agd_fpevents fpevents;
	bool running;            /* start-up finished: the loop ran */
	struct agd_guard guard;
	struct agd_life life;
	struct agd_policy policy;

	struct agd_control control;
	struct agd_listeners listeners;
	struct agd_privs privs;

	struct agd_modules modules;

	/* loop */
	int epfd, timerfd, sigfd;
	int complete_fd;         /* eventfd the engine's wake writes; -1 none */
	uint64_t timer_at;       /* what the timerfd is armed for; UINT64_MAX: nothing */
	uint64_t started_ns;     /* CLOCK_BOOTTIME */
	struct agd_history *history; /* NULL: off */
};

/* SIGHUP and `reload`: alegate.conf (refused as a whole when it has errors;
 * keys read only at start keep their running value and are named in
 * not_applied), then the rules directory.  errors: every message.
 * Returns the number of rules loaded. */
int agd_reload(struct agd *d, json_t *errors, json_t *not_applied);

/* epoll tags for the loop's own fds; clients are tagged with their pointer. */
enum {
	AGD_TAG_QUEUE0 = 1, /* + AG_FW_Q_* */
	AGD_TAG_CT = 8,
	AGD_TAG_PROC,
	AGD_TAG_LISTEN,
	AGD_TAG_TIMER,
	AGD_TAG_SIGNAL,
	AGD_TAG_FWWATCH,
	AGD_TAG_EXEID,      /* inotify on the directories of rules' programs */
	AGD_TAG_UDPCLOSE,
	AGD_TAG_FPEVENTS,   /* the fast path's ring of decisions */
	AGD_TAG_COMPLETE,   /* eventfd: a callout completed from its own thread */
	AGD_TAG_LISTS,      /* inotify on the directories of list files */
	AGD_TAG_HISTORY,    /* eventfd: history queries answered by their threads */
	AGD_TAG_LISTREAD,   /* eventfd: the list reader thread read a file */
	AGD_TAG_LAST = 64,
};

/* Register an fd with the loop; `tag` identifies it in agd_loop dispatch. */
int agd_loop_add(struct agd *d, int fd, uint32_t events, void *tag);
int agd_loop_mod(struct agd *d, int fd, uint32_t events, void *tag);
void agd_loop_del(struct agd *d, int fd);
/* Every fd -1 and every "none" value set, before anything opens. */
void agd_init(struct agd *d);
/* Re-arm the deadline timer from the engine's next deadline. */
void agd_timer_update(struct agd *d);

#endif
