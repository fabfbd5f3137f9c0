/*
 * daemon/alegated.h — alegated's state and the interface of each of its
 * modules.  struct agd composes one struct per module that has state of its
 * own (struct agd_fastpath, agd_control, agd_privs, ...); a module reads
 * another's state only through the functions below.
 *
 *   main.c           options, start-up, the event loop, shutdown; wires the
 *                    modules together (agd_control_attach)
 *   loop.c           agd_init(), epoll registration, the deadline timer
 *   dataplane.c      NFQUEUE queues -> ag_classify(); engine callbacks ->
 *                    verdicts, conntrack deletions, socket destruction; DNS
 *                    snooping
 *   flowtuple.c      a flow as the kernel's 5-tuple and as the engine's
 *                    fixed values, one from the other
 *   policy.c         rules (lib/rule/rule.h) <-> engine filters; lifetimes;
 *                    reload
 *   pending.c        the flows `ask` pended, and the answers to them (the
 *                    verdict, the rule an answer makes)
 *   fastpath_sync.c  the eBPF fast path kept in step with the engine's rules;
 *                    host addresses for it; the notrack table
 *   resolvers.c      the configured DNS resolvers (resolv.conf)
 *   control.c        the control socket (docs/PROTOCOL.md): clients, pages,
 *                    pended flows and answers, pushes; control_requests.c the
 *                    rules, flows and events requests; control_json.c the
 *                    protocol's objects (control_internal.h between them)
 *   lifecycle.c      lock file, the guard of the firewall rules, timed rules
 *                    across a restart, systemd readiness and watchdog, what
 *                    happens to the rules at a stop
 *   privs.c          capabilities, no_new_privs, seccomp, the [fw] helper
 *   log.c            syslog or stderr
 *   history.c        every decided connection into SQLite (a writer thread), the
 *                    `history` and `traffic` queries, event_log records
 *   fpevents.c       the fast path's decisions read from its ring buffer: events,
 *                    history rows and the flows it allowed in the kernel
 *   modules.c        callout modules (callout_modules): dlopen, init, fini
 *
 * Who calls whom (no module calls one above it; what happens below the
 * control socket reaches it through struct agd_listeners):
 *   main          -> every module
 *   control       -> lifecycle, pending, policy, dataplane, fastpath_sync
 *   lifecycle     -> policy, resolvers, privs
 *   dataplane     -> pending, policy, resolvers, fastpath_sync, flowtuple, privs
 *   pending       -> policy
 *   resolvers     -> policy
 *   policy        -> fastpath_sync
 *   fastpath_sync -> flowtuple, privs
 *   loop, log, privs, flowtuple: called by the others, call none of them
 */
#ifndef ALEGATE_DAEMON_ALEGATED_H
#define ALEGATE_DAEMON_ALEGATED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "alegate/engine.h"
#include "base/clock.h"
#include "rule/config.h"
#include "daemon/log.h"
#include "rule/rule.h"
#include "linux/fw.h"
#include "net/dns.h"

#define AGD_VERSION "0.1.0"

/* DNS resolvers kept from the resolv.conf files; more are ignored (glibc
 * reads 3). */
#define AGD_MAX_RESOLVERS 16
/* How often the resolv.conf files are looked at for a change, at most. */
#define AGD_RESOLVERS_CHECK_NS 1000000000ull

struct agd_resolver {
	uint8_t ver;		/* 4 or 6 */
	uint8_t addr[16];	/* IPv4 in the first 4 bytes */
};

/* The sublayer every alegate rule lives in, above WFP's default. */
#define AGD_SUBLAYER_RULES 1u
#define AGD_SUBLAYER_RULES_WEIGHT 0x8000

struct ag_nfq;
struct ag_sockdiag;
struct ag_proc;
struct ag_attrib;
struct ag_ct;
struct ag_dnscache;
struct ag_dnsq;
struct ag_sockdiag_events;
struct ag_fp;
struct agd_client;
struct agd_history;
struct agd_module;

/* A rule the daemon knows, and the engine filters that enforce it. */
struct agd_rule {
	struct ag_rule rule;
	uint64_t handle;         /* the filters' context: names this rule in events */
	uint64_t filters[2];     /* engine filter ids, 0 = none */
	bool expired;            /* its timed filters expired; drop it at the next chance */
};

/* A flow that `ask` pended, as prompt clients see it. */
struct agd_pending {
	uint32_t id;             /* what `alegatectl allow ID` takes */
	uint64_t context;        /* the engine's completion context */
	uint64_t flow;           /* the engine's flow handle */
	uint64_t since_ns;       /* CLOCK_BOOTTIME */
};

struct agd_counters {
	uint64_t queued_packets; /* CONNECT + RECV_ACCEPT packets that reached user space */
	uint64_t dns_replies;
	uint64_t dns_unparsed;
	uint64_t dns_queries;    /* queries read on their way out */
	uint64_t dns_unsolicited; /* parsed replies that answer no query sent: not learned */
	/* packets on one queue of a flow the engine has from the other
	 * direction (a peer's SYN crossing a held connect): dropped unless
	 * the flow is authorized */
	uint64_t crossed;
	uint64_t dns_not_resolver; /* replies from a server not configured: not learned */
	/* authorized UDP flows ended because their socket closed: a new
	 * socket on the same ports is a new flow */
	uint64_t udp_socket_ends;
	uint64_t malformed;      /* packets we could not parse (dropped) */
	uint64_t attributed, unattributed;
	uint64_t rejects;        /* sockets destroyed for reject */
	/* SYNs of a kept blocked flow from another process: a new connection
	 * on a reused port, classified as its own flow */
	uint64_t reused_ports;
	uint64_t teardowns;
	uint64_t ct_events;
	/* kernel-allowed flows decided again after a rule change (S12) whose
	 * hook record was overwritten, named through attribution instead */
	uint64_t fp_reauth_attributed;
	/* processes named by a path whose file is not the one they run (a
	 * bind mount in another mount namespace): no app rule applied */
	uint64_t exe_mismatch;
	uint64_t fp_events;      /* fast-path decisions read from its ring */
};

/* ---- each module's own state; struct agd composes them -------------------- */

/* dataplane.c: what the callback of queue `which` is handed. */
struct agd_queue_ctx {
	struct agd *d;
	int which;
};

/* fastpath_sync.c: addresses remembered for ruled host names (the index, not
 * the cache). */
#define AGD_HOST_INDEX_MAX 4096

struct agd_host_addr {
	char name[AG_DNS_NAME_MAX + 1];
	uint8_t ver;
	uint8_t addr[16];
	uint64_t seen_ns; /* for replacing the oldest when full */
};

/* fastpath_sync.c: the eBPF fast path, and the TCP flows it keeps outside
 * conntrack (FASTPATH.md 6d). */
struct agd_fastpath {
	struct ag_fp *fp;        /* NULL when off */
	char err[256];           /* why it is off */
	bool dirty;              /* the engine's filters changed since the last sync */
	uint64_t synced_ns;      /* CLOCK_BOOTTIME of the last recompile */
	int fwwatch_fd;          /* nftables ruleset changes; -1 when not watched */
	bool notrack_on;         /* the notrack table is loaded */
	bool notrack_recheck;    /* the ruleset or the configuration changed */
	bool notrack_failed;     /* loading it failed: not tried again until a reload */
	uint64_t notrack_checked_ns;
	char notrack_state[256]; /* "on (...)" or "off: why", for status */
	struct agd_host_addr host_index[AGD_HOST_INDEX_MAX];
	size_t host_index_len;
	struct agd_ruled_names *ruled; /* the names the compiled rules name (fastpath_sync.c) */
};

/* control.c: the control socket and its clients. */
struct agd_control {
	int listen_fd;
	struct agd_client *clients;
	uint32_t nclients;
	uint64_t next_session;
	gid_t gid;               /* control_group's, (gid_t)-1: none */
	/* inside push_all(): a client that falls behind is closed at its end */
	unsigned push_depth;
};

/*
 * Who hears what the engine and the pending flows do besides policy.c:
 * control.c's subscribers, registered by agd_control_attach().  NULL:
 * nobody.  The data plane and the policy call these rather than control.c,
 * so that no module below the control socket calls up into it.
 */
struct agd_listeners {
	void (*event)(struct agd *d, const ag_event *ev);
	void (*pending)(struct agd *d, const struct agd_pending *p);
	void (*resolved)(struct agd *d, uint32_t id, const char *reason, const char *verdict);
};

/* resolvers.c: the DNS resolvers kept from the resolv.conf files. */
struct agd_resolvers {
	struct agd_resolver list[AGD_MAX_RESOLVERS];
	unsigned n;
	char sig[2][96];         /* each file's identity and mtime as last read */
	uint64_t checked_ns;
};

/* policy.c: the rules the daemon knows and the flows `ask` pended. */
struct agd_policy {
	struct agd_rule **rules;
	uint32_t nrules, caprules;
	/* the same rules found by id and by handle in O(1): open addressing,
	 * linear probing, capacity a power of two at least twice nrules */
	struct agd_rule **by_id, **by_handle;
	uint32_t capmap;
	bool rules_expired;      /* some rule's timed filters expired: collect them */
	uint64_t next_rule_handle;
	uint64_t ask_filters[2]; /* the catch-all filters: CONNECT, RECV_ACCEPT */
	bool bulk;               /* loading many rules: sync the fast path once, after */
	struct agd_pending *pending;
	uint32_t npending, cappending;
	uint32_t next_pending_id;
};

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

/* privs.c: the [fw] helper that keeps the rights to change the firewall. */
struct agd_privs {
	int fw_sock;             /* -1: no helper (not started, or gone) */
	pid_t fw_pid;
};

struct agd {
	struct ag_config cfg;
	char config_path[4096];
	bool foreground;
	bool stop;
	bool reload_requested;

	ag_engine *engine;

	/* data plane */
	struct ag_nfq *q[AG_FW_NQUEUES];
	struct ag_sockdiag *sd;
	struct ag_proc *proc;
	struct ag_exeid *exeid;  /* path → file identity, for app rules */
	struct ag_attrib *attrib;
	struct ag_ct *ct;        /* deletions */
	struct ag_ct *ct_events; /* DESTROY events */
	struct ag_dnscache *dns;
	struct ag_dnsq *dnsq;    /* queries waiting for their reply */
	struct ag_sockdiag_events *udp_closed; /* UDP sockets the kernel destroys */
	struct agd_resolvers resolvers;
	/* local ports of UDP flows the engine authorized (a superset: a bit
	 * is cleared when a closed socket's port has none left) */
	uint64_t udp_auth_ports[65536 / 64];
	struct ag_fw_config fwcfg;
	enum ag_fw_backend fw_backend;
	bool fw_installed;
	struct agd_queue_ctx queue_ctx[AG_FW_NQUEUES];
	struct agd_fastpath fastpath;
	bool running;            /* start-up finished: the loop ran */
	struct agd_guard guard;
	struct agd_life life;
	struct agd_policy policy;

	struct agd_control control;
	struct agd_listeners listeners;
	struct agd_privs privs;

	/* callout modules (modules.c) */
	struct agd_module *modules;
	unsigned nmodules;

	/* loop */
	int epfd, timerfd, sigfd;
	int complete_fd;         /* eventfd the engine's wake writes; -1 none */
	uint64_t timer_at;       /* what the timerfd is armed for; UINT64_MAX: nothing */
	uint64_t started_ns;     /* CLOCK_BOOTTIME */
	struct agd_counters ctr;
	struct agd_history *history; /* NULL: off */
};

/* Give the rules on "remote": "resolvers" their filters again (the set
 * changed).  In policy.c. */
void agd_policy_resolvers_changed(struct agd *d);

/* ---- dataplane.c ------------------------------------------------------------- */

/* The process cache (and its proc connector); before entering a netns. */
int agd_dataplane_open_proc(struct agd *d);
/* Open the queues, conntrack, attribution, DNS cache.  Returns 0 or -errno (logged). */
int agd_dataplane_open(struct agd *d);
/* Install the firewall rules (after the queues are bound).  Returns 0 or -errno. */
int agd_dataplane_install(struct agd *d);
/* Remove the firewall rules, close everything.  Safe on a half-open state. */
void agd_dataplane_close(struct agd *d);
/* The engine's data plane callbacks. */
void agd_dataplane_ops(struct agd *d, ag_dataplane_ops *ops);
/* Event loop hooks: a queue, conntrack or the proc connector is readable. */
void agd_dataplane_queue_ready(struct agd *d, int which);
void agd_dataplane_ct_ready(struct agd *d);
void agd_dataplane_udp_closed_ready(struct agd *d);
void agd_dataplane_proc_ready(struct agd *d);
/* Whether @pi's exe names the file it runs (its device and inode, taken
 * at exec, are the file's at that path now): only then may rules on that
 * path apply to it.  Counts and logs (debug) each refusal. */
struct ag_proc_info;
bool agd_exe_is_path(struct agd *d, const struct ag_proc_info *pi);
/* Send the verdicts batched during this loop iteration. */
void agd_dataplane_flush(struct agd *d);
/* status: fill counters of the data plane into obj. */
void agd_dataplane_status(struct agd *d, json_t *obj);

/* ---- flowtuple.c --------------------------------------------------------------- */

/* The engine's fixed values for a tuple in its original direction (a
 * conntrack entry's, a packet's), as an outbound flow (we sent the first
 * packet) or an inbound one.  ICMP: local_port is the echo identifier
 * (sport), remote_port the type. */
struct ag_tuple;
void agd_fixed_from_tuple(const struct ag_tuple *orig, uint8_t icmp_type, bool outbound,
			  ag_fixed_values *in);
/* The flow as its local socket sees it: src = local. */
void agd_tuple_from_fixed(const ag_fixed_values *in, struct ag_tuple *t);

/* ---- resolvers.c ----------------------------------------------------------------- */

/*
 * agd_resolvers_parse - the "nameserver" addresses of resolv.conf text
 * (a "%scope" suffix is dropped; other lines and bad addresses are
 * skipped), appended to out[*n..max).  Returns how many were added.
 */
unsigned agd_resolvers_parse(const char *text, size_t len, struct agd_resolver *out,
			     unsigned *n, unsigned max);
/* Read the configured files again if one changed since the last look
 * (always when force), at most every AGD_RESOLVERS_CHECK_NS unless force.
 * A changed set is logged and the rules on "resolvers" get new filters.
 * Returns true if the set changed. */
bool agd_resolvers_refresh(struct agd *d, bool force);
/* Is ver/addr one of the configured resolvers? */
bool agd_is_resolver(const struct agd *d, int ver, const uint8_t *addr);

/* ---- fastpath_sync.c ------------------------------------------------------------- */

/* Load and attach the eBPF fast path as the configuration says (bpf =
 * auto|yes|no); pins the UDP match into d->fwcfg.  Before the firewall is
 * installed and privileges dropped.  Returns 0 (off is not an error unless
 * bpf = yes) or -errno. */
int agd_fastpath_open(struct agd *d);
void agd_fastpath_close(struct agd *d);
/* Let attribution ask the fast path's hooks for socket owners (once both exist). */
void agd_fastpath_attach_attrib(struct agd *d);
/* How long the loop may sleep (ms) before a resync is due; -1: forever. */
int agd_fastpath_wake_ms(const struct agd *d);
/* Recompile the engine's rules into the kernel if they changed, then tear
 * down the kernel-allowed flows the new rules deny (S12). */
void agd_fastpath_sync(struct agd *d);
void agd_fastpath_status(struct agd *d, char *buf, size_t len);
/* The same for scripts: {"state":"on"|"off", "reason" when off, the counts when on}. */
json_t *agd_fastpath_status_json(struct agd *d);
/* Load or remove the notrack table as bpf_notrack and the ruleset say:
 * at start (after the firewall is installed) and whenever notrack_recheck
 * is set or the last check is AGD_NOTRACK_RECHECK_NS old. */
void agd_notrack_check(struct agd *d);
/* The nftables watch is readable. */
void agd_notrack_watch_ready(struct agd *d);
/* A snooped DNS reply: remember addresses of names a host rule matches. */
struct ag_dns_reply;
void agd_fastpath_dns(struct agd *d, const struct ag_dns_reply *reply);

/* ---- policy.c ------------------------------------------------------------------ */

/* Sublayer, built-in callouts, catch-all filters.  Returns 0 or a negative error. */
int agd_policy_init(struct agd *d);
/* ---- modules.c ------------------------------------------------------------------ */

/* -n: try to load every module (not initialised); returns how many failed,
 * each reported on stderr as "CONFIG: callout_modules: cannot load PATH: why". */
int agd_modules_check(const char *config, const struct ag_config *cfg);
/* Load each module and call its ag_module_init.  Returns 0 or -errno (logged). */
int agd_modules_load(struct agd *d);
/* Each module's ag_module_fini, before the engine shuts down. */
void agd_modules_fini(struct agd *d);
/* Unload them, after the engine is freed. */
void agd_modules_close(struct agd *d);

/* Give `ask` its pending_timeout (at start and after a reload). */
void agd_policy_ask_timeout(struct agd *d);
/* Load rules_dir at start; bad files are logged and skipped.  Returns rules loaded. */
int agd_policy_load(struct agd *d);
/* Re-read rules_dir and reauthorize (SIGHUP, `reload`).  errors: array of messages. */
int agd_policy_reload(struct agd *d, json_t *errors);
/* Bytes of a message agd_rule_add() or agd_pending_answer() writes. */
#define AGD_ERR_MAX	(AG_RULE_SOURCE_MAX + 128)
/*
 * Add a rule (copied): engine filters, and the rule file for `always`.
 * Fills rule->id when empty.  Returns 0 or -errno with a message to show
 * in @err (@errlen bytes, AGD_ERR_MAX hold any).
 */
int agd_rule_add(struct agd *d, struct ag_rule *rule, char *err, size_t errlen);
/* agd_rule_add(), and *save_failed when the rule was refused because its
 * file could not be written (pending.c then keeps it until restart). */
int agd_rule_add_saving(struct agd *d, struct ag_rule *rule, char *err, size_t errlen,
			bool *save_failed);
/* The engine weight of a rule's filters: rule weight, then specificity,
 * then deny before allow; above the catch-all's 0. */
uint32_t agd_rule_filter_weight(const struct ag_rule *r);
int agd_rule_del(struct agd *d, const char *id);
int agd_rule_set_enabled(struct agd *d, const char *id, bool enabled);
struct agd_rule *agd_rule_find(struct agd *d, const char *id);
struct agd_rule *agd_rule_by_handle(struct agd *d, uint64_t handle);
/* Forget the until-quit rules of a session that ended. */
void agd_policy_session_end(struct agd *d, uint64_t session);
/* Drop rules whose timed filters expired (called from the loop, not a callback). */
void agd_policy_collect(struct agd *d);
/* Engine event hook: notes expired rules. */
void agd_policy_event(struct agd *d, const ag_event *ev);
void agd_policy_free(struct agd *d);

/* ---- pending.c ---------------------------------------------------------------- */

struct agd_pending *agd_pending_find(struct agd *d, uint32_t id);
/* What answering a pended flow did beyond deciding it. */
struct agd_answer {
	char rule_id[AG_RULE_ID_MAX + 1];	/* the new rule, "" for none */
	/* an older rule that decides such flows first, with another verdict */
	char shadowed_by[AG_RULE_ID_MAX + 1];
	char warning[AG_RULE_SOURCE_MAX + 128];	/* "" or what went half-wrong */
};

/*
 * Answer a pended flow: verdict, and a rule when duration is not once.
 * An `always` rule whose file cannot be written is kept until restart,
 * with res->warning saying so.
 * Returns 0 or a negative error with a message in @err; *res says what
 * was done.
 */
int agd_pending_answer(struct agd *d, uint32_t id, ag_verdict verdict, const char *duration,
		       uint64_t for_ms, const char *scope, uint64_t session,
		       struct agd_answer *res, char *err, size_t errlen);
/* Engine event hook: tracks pended flows, announces new and resolved ones. */
void agd_pending_event(struct agd *d, const ag_event *ev);

/* ---- control.c ------------------------------------------------------------------ */

/* Make control's subscribers hear engine events and pended flows
 * (d->listeners); before the engine runs. */
void agd_control_attach(struct agd *d);
int agd_control_open(struct agd *d);
void agd_control_close(struct agd *d);
void agd_control_accept(struct agd *d);
void agd_control_client_ready(struct agd *d, struct agd_client *c, uint32_t events);
/* Push a line to every subscriber of that kind. */
void agd_control_push_event(struct agd *d, const ag_event *ev);
/* The same for an event already in JSON (the fast path's). */
void agd_control_push_json_event(struct agd *d, json_t *ev);
void agd_control_push_pending(struct agd *d, const struct agd_pending *p);
/* @reason: why, when not an answer or the timeout ("alegated is stopping"), or NULL. */
void agd_control_push_resolved(struct agd *d, uint32_t id, const char *reason,
			       const char *verdict);

/* For tests and fuzzing: a client on fd, a line handled as if read from it. */
struct agd_client *agd__control_client(struct agd *d, int fd, uid_t uid);
void agd__control_feed(struct agd *d, struct agd_client *c, const char *line, size_t len);
void agd__control_client_close(struct agd *d, struct agd_client *c);

/* JSON for the protocol's objects (control_json.c) */
json_t *agd_json_pending(struct agd *d, const struct agd_pending *p);
json_t *agd_json_flow(struct agd *d, const ag_flow_info *f);
json_t *agd_json_event(struct agd *d, const ag_event *ev);
json_t *agd_json_rule(const struct agd_rule *r);

/* ---- main.c ------------------------------------------------------------------ */

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

/* ---- lifecycle.c ------------------------------------------------------------- */

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

/* ---- history.c ------------------------------------------------------------- */

/* A decided connection, as history and event_log keep it.  Strings are
 * copied. */
struct agd_conn {
	uint64_t flow;           /* the engine's handle or the fast path's id; 0: none */
	uint64_t time_ms;        /* wall clock */
	const char *exe, *host, *rule;
	const char *action;      /* allow, deny, reject */
	const char *decided;     /* fastpath, rule, person, timeout, callout, shutdown */
	uint32_t pid, uid;       /* 0 / AG_UID_UNKNOWN: unknown */
	uint8_t ip_version, protocol, direction;
	uint8_t local_addr[16], remote_addr[16];
	uint16_t local_port, remote_port;
	bool no_local;           /* the local address is not known */
};

struct agd_history_filter {
	uint64_t since_ms;       /* wall clock */
	const char *app, *host;  /* NULL: any */
	uint64_t limit;          /* 0: the most an answer holds */
};

/* Open state_dir/history.db and start its writer thread (before privileges
 * are dropped).  Returns 0 or -errno (logged); the daemon runs without
 * history then. */
int agd_history_open(struct agd *d);
/* history_days, history_max_mb and event_log from d->cfg (a reload): the
 * writer takes them at its next batch.  state_dir keeps the start's. */
void agd_history_reconfigure(struct agd *d);
/* Write what is queued, stop the thread, close.  Accepts history off. */
void agd_history_close(struct agd *d);
/* Engine event hook: a first decision becomes a row (and an event_log record). */
void agd_history_event(struct agd *d, const ag_event *ev);
/* Queue a decided connection, or the end of one with its bytes.  Never
 * blocks on the database; past the queue's bound records are counted and
 * dropped. */
void agd_history_conn(struct agd *d, const struct agd_conn *c);
void agd_history_end(struct agd *d, uint64_t flow, uint64_t bytes_in, uint64_t bytes_out);
/* `history`: rows newest first.  NULL with err[0..errlen) set on failure. */
json_t *agd_history_query(struct agd *d, const struct agd_history_filter *f, char *err,
			  size_t errlen);
/* `traffic`: per program, largest first; with bucket_ms, each row's
 * "series" of [start_ms, bytes_in, bytes_out, connections]. */
json_t *agd_history_traffic(struct agd *d, uint64_t since_ms, uint64_t bucket_ms,
			    char *err, size_t errlen);
json_t *agd_history_status_json(struct agd *d);

/* ---- fpevents.c ------------------------------------------------------------ */

/* Read the fast path's decisions (after agd_fastpath_open and the loop). */
int agd_fpevents_open(struct agd *d);
void agd_fpevents_ready(struct agd *d);
void agd_fpevents_close(struct agd *d);
/* `flows`: append the live TCP flows the fast path allowed. */
void agd_fpevents_flows(struct agd *d, json_t *arr);
uint32_t agd_fpevents_nflows(void);

/* ---- privs.c ------------------------------------------------------------------ */

/* Drop what the running daemon does not need; see docs/SECURITY.md. */
int agd_privs_drop(struct agd *d);
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
