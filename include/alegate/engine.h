/*
 * alegate/engine.h — the Application Layer Enforcement model as a C library.
 *
 * This is the Windows Filtering Platform's ALE classify / pend / complete
 * model, statement by statement (SPEC S1–S17), with an ag_ prefix instead of
 * Fwps/Fwpm.  The engine is pure C11: it does no I/O, reads no clock of its
 * own and includes no OS header.  docs/MODEL.md maps every WFP name to the
 * names below.
 *
 * The boundary with the data plane
 * --------------------------------
 *
 *        data plane (NFQUEUE, conntrack, sockets)            engine
 *        ---------------------------------------            ------
 *   first packet of a flow  --- ag_classify() --------------->  layers, filters,
 *                           <-- PERMIT / BLOCK / REJECT / HOLD  arbitration,
 *                                                              callouts
 *   held packets, later     <-- ops.release(flow, pkts)  ----  (on completion,
 *                           <-- ops.drop(flow, pkts)     ----   timeout, shutdown)
 *   live flows               <-- ops.teardown(flow)      ----  (reauthorization)
 *   flow ended              --- ag_flow_end() ---------------> forget the flow
 *   time                    --- ag_engine_advance() ----------> deadlines (S10, S15)
 *   everything               <-- ops.event(ev)           ----  net events (S16)
 *
 * A packet handed to ag_classify() either gets its verdict in the return
 * value, or is held (AG_VERDICT_HOLD): then exactly one later ops.release() or
 * ops.drop() names it.  Callbacks run inside the engine call that caused them
 * and must not call back into the engine, except the read-only functions
 * marked "safe in callbacks".
 *
 * Threading: an engine belongs to one thread, its owner (the daemon's event
 * loop).  The exceptions are ag_complete_operation() and
 * ag_inject_receive_async(): as in WFP, a callout's own threads may call them
 * at any time; the owner applies them in ag_engine_run_completions(), woken
 * by the function given to ag_engine_set_wake().  Errors: functions return 0 or a negative errno, or one of the AG_E_*
 * codes below; functions that return a pointer return NULL and set errno.
 */
#ifndef ALEGATE_ENGINE_H
#define ALEGATE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alegate/addr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_engine ag_engine;
typedef struct ag_filter ag_filter;

/* ---------------------------------------------------------------------------
 * Errors beyond errno.
 */
enum {
	/* STATUS_FWP_CANNOT_PEND: a reauthorization (or FLOW_ESTABLISHED) can never pend (S5). */
	AG_E_CANNOT_PEND = -10001,
	/* The completion handle is absent or is not the classify in progress. */
	AG_E_NO_HANDLE = -10002,
	/* The completion context is unknown, already completed or expired (S6). */
	AG_E_NO_CONTEXT = -10003,
	/* A callout or sublayer named by a filter does not exist. */
	AG_E_NOT_FOUND = -10004,
	/* A bound was reached (pended operations, flows, filters). */
	AG_E_LIMIT = -10005,
};

/* Text for an engine error or a negative errno; never NULL. */
const char *ag_strerror(int err);

/* ---------------------------------------------------------------------------
 * Layers (S1).  WFP has a _V4 and a _V6 layer for each; alegate has one layer
 * per ALE stage and the IP version is a field (AG_FIELD_IP_VERSION), so that a
 * rule for one program is one filter.  See docs/MODEL.md.
 */
typedef enum ag_layer {
	AG_LAYER_ALE_AUTH_CONNECT = 0,     /* first outbound packet of a new flow */
	AG_LAYER_ALE_AUTH_RECV_ACCEPT = 1, /* first inbound packet of a new flow */
	AG_LAYER_ALE_FLOW_ESTABLISHED = 2, /* notification: flow authorized; cannot block or pend */
	AG_LAYER_COUNT
} ag_layer;

const char *ag_layer_name(ag_layer layer);

enum { AG_DIR_OUT = 0, AG_DIR_IN = 1 };

/* Flags in ag_fixed_values.flags (WFP: FWP_CONDITION_FLAG_*). */
enum {
	AG_FLAG_IS_REAUTHORIZE = 1u << 0, /* a later classify of a known flow (S11) */
	AG_FLAG_IS_LOOPBACK = 1u << 1,    /* both ends on this host */
	AG_FLAG_IS_INJECTED = 1u << 2,    /* packet reinjected by this engine (S8) */
	/* A later packet of a flow this callout pended (S9): classify is told
	 * so it may keep it with ag_packet_reference(); otherwise it is
	 * flushed.  Its answer is not used and it cannot pend. */
	AG_FLAG_IS_PENDED_DATA = 1u << 3,
};

/* ---------------------------------------------------------------------------
 * Classify input (S2).
 *
 * Fixed values: what the packet and its socket say.  Strings are borrowed for
 * the duration of the call; the engine copies what it keeps.  Ports are in
 * host byte order.  For ICMP, local_port is the echo identifier and
 * remote_port the ICMP type.  Addresses are ag_addr (alegate/addr.h): IPv4 in
 * the first 4 bytes.
 */
typedef struct ag_fixed_values {
	uint8_t ip_version;       /* 4 or 6 */
	uint8_t protocol;         /* IP protocol number: 6 tcp, 17 udp, 1 icmp, 58 icmpv6 */
	uint8_t direction;        /* AG_DIR_OUT or AG_DIR_IN */
	ag_addr local_addr;
	ag_addr remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
	uint32_t interface;       /* ifindex, 0 when unknown */
	uint32_t uid;             /* owner of the socket; AG_UID_UNKNOWN if none */
	uint32_t gid;
	const char *app_path;     /* executable, NULL when unknown */
	const char *remote_host;  /* host name from DNS, NULL when unknown */
	uint32_t flags;           /* AG_FLAG_* */
	/* SHA-256 of the executable file the process runs, 64 hex digits;
	 * NULL when unknown (the caller computes it only if a filter asks). */
	const char *app_sha256;
} ag_fixed_values;

#ifndef AG_UID_UNKNOWN
#define AG_UID_UNKNOWN ((uint32_t)-1)
#endif

/* Metadata (S2): values that may or may not be present; `present` says which. */
enum {
	AG_META_PID = 1u << 0,
	AG_META_PROCESS_PATH = 1u << 1,
	AG_META_CMDLINE = 1u << 2,
	AG_META_COMPLETION_HANDLE = 1u << 3, /* CONNECT / RECV_ACCEPT, reauthorizations too (S3) */
	AG_META_FLOW_HANDLE = 1u << 4,
	AG_META_PACKET = 1u << 5,
};

/*
 * A packet the data plane holds, named by a token the engine never
 * interprets (for NFQUEUE: queue number and packet id).  `len` is for
 * accounting only.
 */
typedef struct ag_packet {
	uint64_t token;
	uint32_t len;
	uint32_t flags; /* AG_PACKET_* */
	/* The injection handle that last injected it (0: not injected) and the
	 * one before (ag_packet_injection_state); the data plane leaves them 0. */
	uint32_t injector, prev_injector;
} ag_packet;

enum {
	AG_PACKET_CLONE = 1u << 0,     /* a clone made by ag_packet_clone() (S8) */
	AG_PACKET_REFERENCE = 1u << 1, /* kept by ag_packet_reference() (S9) */
};

typedef struct ag_metadata {
	uint32_t present;          /* AG_META_* */
	uint32_t pid;
	const char *process_path;
	const char *cmdline;
	uint64_t completion_handle; /* what ag_pend_operation() takes */
	uint64_t flow_handle;
	const ag_packet *packet;    /* the packet being classified */
} ag_metadata;

/* ---------------------------------------------------------------------------
 * Actions, rights, classify output.
 */
typedef enum ag_action_type {
	AG_ACTION_CONTINUE = 0,          /* no decision; the next filter is asked */
	AG_ACTION_PERMIT,
	AG_ACTION_BLOCK,
	AG_ACTION_CALLOUT_TERMINATING,   /* filter action: the callout returns PERMIT or BLOCK */
	AG_ACTION_CALLOUT_INSPECTION,    /* filter action: the callout only looks (CONTINUE) */
	AG_ACTION_CALLOUT_UNKNOWN,       /* filter action: the callout may do either */
} ag_action_type;

const char *ag_action_name(ag_action_type action);

enum {
	/* FWPS_RIGHT_ACTION_WRITE: set = the decision may be overridden ("soft"). */
	AG_RIGHT_ACTION_WRITE = 1u << 0,
};

enum {
	/* FWPS_CLASSIFY_OUT_FLAG_ABSORB: block silently; with a pend, "held". */
	AG_CLASSIFY_OUT_FLAG_ABSORB = 1u << 0,
	/* Linux addition: block and make the application fail at once. */
	AG_CLASSIFY_OUT_FLAG_REJECT = 1u << 1,
};

typedef struct ag_classify_out {
	ag_action_type action; /* CONTINUE, PERMIT or BLOCK */
	uint32_t rights;       /* AG_RIGHT_*; on entry: the rights still available */
	uint32_t flags;        /* AG_CLASSIFY_OUT_FLAG_* */
} ag_classify_out;

/* ---------------------------------------------------------------------------
 * Conditions (S14): on different fields ANDed, on the same field ORed.
 */
typedef enum ag_field {
	AG_FIELD_IP_VERSION = 0, /* EQUAL: 4 or 6 */
	AG_FIELD_PROTOCOL,       /* EQUAL */
	AG_FIELD_LOCAL_ADDR,     /* EQUAL, PREFIX */
	AG_FIELD_REMOTE_ADDR,    /* EQUAL, PREFIX, SET */
	AG_FIELD_LOCAL_PORT,     /* EQUAL, RANGE */
	AG_FIELD_REMOTE_PORT,    /* EQUAL, RANGE */
	AG_FIELD_DIRECTION,      /* EQUAL */
	AG_FIELD_INTERFACE,      /* EQUAL */
	AG_FIELD_APP_PATH,       /* EQUAL, GLOB */
	AG_FIELD_UID,            /* EQUAL, RANGE */
	AG_FIELD_GID,            /* EQUAL, RANGE */
	AG_FIELD_REMOTE_HOST,    /* EQUAL, SUFFIX, SET */
	AG_FIELD_FLAGS,          /* FLAGS_ALL_SET, FLAGS_NONE_SET */
	AG_FIELD_APP_SHA256,     /* EQUAL: 64 hex digits, either case; unknown never matches */
	/* EQUAL, RANGE.  An alegate extension: the port of the service, whichever
	 * end it is — the remote port of an outbound flow, the local port of an
	 * inbound one (AG_FIELD_DIRECTION).  What lets a rule with a port be
	 * one filter of both layers (AG_FILTER_FLAG_ALSO_RECV_ACCEPT). */
	AG_FIELD_SERVICE_PORT,
	AG_FIELD_COUNT
} ag_field;

typedef enum ag_match {
	AG_MATCH_EQUAL = 0,
	AG_MATCH_RANGE,          /* lo <= value <= hi */
	AG_MATCH_PREFIX,         /* address within prefix/len */
	AG_MATCH_GLOB,           /* application path: * ? [..]; '*' also crosses '/' */
	AG_MATCH_SUFFIX,         /* host name: "*.example.org" matches a.example.org and
	                            a.b.example.org, not example.org; case-insensitive */
	AG_MATCH_FLAGS_ALL_SET,
	AG_MATCH_FLAGS_NONE_SET,
	/* The caller's set decides: v.set.contains(v.set.set, in) is true when
	 * the flow's value of the field is in it (a host list, an address
	 * list).  The engine copies the two pointers, never the set: the
	 * caller keeps the set alive while a filter names it, and may change
	 * what it holds (then it deletes and adds the filters that name it,
	 * or otherwise has live flows reauthorized).  Such a condition is
	 * not indexed: the filter is read on every classify of its layer. */
	AG_MATCH_SET,
} ag_match;

const char *ag_field_name(ag_field field);

typedef struct ag_condition {
	ag_field field;
	ag_match match;
	union {
		uint32_t u32;                        /* EQUAL on numbers, FLAGS_* */
		struct { uint32_t lo, hi; } range;   /* RANGE */
		struct {
			uint8_t ip_version;          /* 4 or 6 */
			uint8_t len;                 /* prefix length; EQUAL uses the full length */
			ag_addr bytes;
		} addr;                              /* EQUAL, PREFIX on addresses */
		const char *str;                     /* EQUAL/GLOB paths, EQUAL/SUFFIX hosts,
		                                        EQUAL SHA-256 in hex */
		struct {
			const void *set;
			bool (*contains)(const void *set, const struct ag_fixed_values *in);
		} set;                               /* SET */
	} v;
} ag_condition;

/* ---------------------------------------------------------------------------
 * Sublayers and filters (S13, S15).
 *
 * Arbitration — what ag_classify() does with the filters of a layer, as
 * WFP's filter arbitration:
 *  - Sublayers are evaluated from the highest weight down; within one, the
 *    matching filters from the highest weight down (equal weights: the
 *    filter added first).  The first PERMIT or BLOCK decides that sublayer;
 *    CONTINUE (inspection callouts, callouts with no opinion) passes on.
 *  - Every sublayer is evaluated.  A later sublayer's decision replaces the
 *    current one while the current one is soft (AG_RIGHT_ACTION_WRITE still
 *    set): a soft PERMIT gives way to a BLOCK, a soft BLOCK to a PERMIT.
 *  - A hard BLOCK is final and stops the evaluation.
 *  - A hard PERMIT gives way only to a callout's BLOCK: a veto, logged as
 *    AG_EVENT_VETO.  A plain filter's BLOCK does not override it.
 *  - Defaults: a PERMIT filter is soft unless AG_FILTER_FLAG_CLEAR_ACTION_
 *    RIGHT; a BLOCK filter is hard; a callout's decision is soft unless it
 *    clears AG_RIGHT_ACTION_WRITE; a callout is told the right is gone when
 *    the decision so far is hard.
 *  - Nothing decides: PERMIT, reason AG_REASON_DEFAULT, as a WFP layer with
 *    no blocking filter.  Put a catch-all filter at weight 0 to change that.
 */

/* The sublayer every engine has from the start (WFP: FWPM_SUBLAYER_UNIVERSAL). */
#define AG_SUBLAYER_DEFAULT 0u

/*
 * Add a sublayer.  Sublayers are evaluated from the highest weight down;
 * `id` is the caller's choice (not AG_SUBLAYER_DEFAULT); `name` is copied.
 * Returns 0, -EEXIST, -ENOMEM.
 */
int ag_sublayer_add(ag_engine *e, uint32_t id, uint16_t weight, const char *name);

/* Delete a sublayer that no filter uses.  Returns 0, -ENOENT, -EBUSY. */
int ag_sublayer_del(ag_engine *e, uint32_t id);

typedef enum ag_lifetime {
	AG_LIFETIME_SESSION = 0,   /* removed when its session ends (ag_filter_del_session) */
	AG_LIFETIME_TIMED,         /* expires at expires_ns on CLOCK_BOOTTIME */
	AG_LIFETIME_UNTIL_RESTART, /* lives as long as the engine */
	AG_LIFETIME_PERSISTENT,    /* the caller saves it to disk and adds it again at start */
} ag_lifetime;

const char *ag_lifetime_name(ag_lifetime lifetime);

enum {
	/* FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT: the decision is hard.  A BLOCK
	 * filter is always hard; a PERMIT filter is hard only with this flag. */
	AG_FILTER_FLAG_CLEAR_ACTION_RIGHT = 1u << 0,
	/* FWPM_FILTER_FLAG_PERSISTENT: informative; set with AG_LIFETIME_PERSISTENT. */
	AG_FILTER_FLAG_PERSISTENT = 1u << 1,
	/* BLOCK that also makes the application fail at once (socket destroyed). */
	AG_FILTER_FLAG_REJECT = 1u << 2,
	/* Present but not matched (alegatectl rules disable). */
	AG_FILTER_FLAG_DISABLED = 1u << 3,
	/*
	 * An alegate extension to WFP's model, for a CONNECT filter only
	 * (-EINVAL at another layer): the filter applies at
	 * AG_LAYER_ALE_AUTH_RECV_ACCEPT too, exactly as a second filter with
	 * the same conditions, weight, action, sublayer, context and lifetime
	 * would, but as one filter: one id, one allocation, one place in the
	 * index.  Its callout is told the layer being classified; deleting,
	 * disabling or expiring it reauthorizes the flows of both layers.  It
	 * is listed once, under CONNECT, with this flag.  It costs about half
	 * the memory of two filters.  A port condition that means the remote
	 * port outbound and the local one inbound is AG_FIELD_SERVICE_PORT.
	 */
	AG_FILTER_FLAG_ALSO_RECV_ACCEPT = 1u << 4,
};

typedef struct ag_filter_spec {
	uint64_t id;               /* 0: the engine picks one; else this id (must be free) */
	ag_layer layer;
	uint32_t sublayer;         /* AG_SUBLAYER_DEFAULT or an ag_sublayer_add() id */
	uint32_t weight;           /* within the sublayer, higher first; ties: lower id first */
	ag_action_type action;     /* PERMIT, BLOCK or CALLOUT_* */
	const char *callout;       /* CALLOUT_* actions: the callout's registered name */
	uint32_t flags;            /* AG_FILTER_FLAG_* */
	ag_lifetime lifetime;
	uint64_t expires_ns;       /* TIMED: deadline on the engine's clock (CLOCK_BOOTTIME) */
	uint64_t session;          /* SESSION: the owner's session id (nonzero) */
	const ag_condition *conditions;
	size_t n_conditions;
	const char *name;          /* free text for events and listings; may be NULL */
	uint64_t context;          /* opaque to the engine (the daemon keeps its rule id) */
} ag_filter_spec;

/*
 * Add a filter.  Everything in `spec` is copied.  Live flows authorized at
 * the filter's layer (layers, with AG_FILTER_FLAG_ALSO_RECV_ACCEPT) are
 * reauthorized (S12b) — at once, or at ag_engine_commit() inside a
 * transaction.  `id_out` may be NULL.
 * Returns 0, -EINVAL (a condition or field/match pair is invalid, or
 * AG_FILTER_FLAG_ALSO_RECV_ACCEPT at a layer other than CONNECT),
 * -EEXIST (id taken), AG_E_NOT_FOUND (sublayer or callout), -ENOMEM.
 */
int ag_filter_add(ag_engine *e, const ag_filter_spec *spec, uint64_t *id_out);

/* Delete a filter; reauthorizes like ag_filter_add.  Returns 0 or -ENOENT. */
int ag_filter_del(ag_engine *e, uint64_t id);

/* Set or clear AG_FILTER_FLAG_DISABLED; reauthorizes.  Returns 0 or -ENOENT. */
int ag_filter_set_enabled(ag_engine *e, uint64_t id, bool enabled);

/* Delete every SESSION filter of `session` (S15 "until quit").  Returns how many. */
int ag_filter_del_session(ag_engine *e, uint64_t session);
/* Has `session` any SESSION filter?  O(1), whatever the number of filters. */
bool ag_filter_has_session(const ag_engine *e, uint64_t session);

/* The filter with this id, or NULL.  Valid until the filter is deleted. Safe in callbacks. */
const ag_filter *ag_filter_get(const ag_engine *e, uint64_t id);

/*
 * Describe a filter: fills `spec` with pointers into the filter (valid while
 * it lives), except spec->conditions, which is written into a buffer of
 * the calling thread: valid until that thread describes another filter.
 * Safe in callbacks.
 */
void ag_filter_describe(const ag_filter *f, ag_filter_spec *spec);
uint64_t ag_filter_id(const ag_filter *f);
uint64_t ag_filter_context(const ag_filter *f);

/* Call cb for every filter, by layer then evaluation order; a nonzero return
 * stops.  A filter with AG_FILTER_FLAG_ALSO_RECV_ACCEPT comes once, under CONNECT. */
int ag_filter_dump(const ag_engine *e, int (*cb)(const ag_filter *f, void *arg), void *arg);

/*
 * Transactions (WFP: FwpmTransactionBegin0 / Commit0): filter changes made
 * between begin and commit reauthorize live flows once, at commit.  They do
 * not nest.  Returns 0 or -EBUSY / -EINVAL.
 */
int ag_engine_begin(ag_engine *e);
int ag_engine_commit(ag_engine *e);

/* ---------------------------------------------------------------------------
 * Callouts (S17).
 */
typedef enum ag_notify_type {
	AG_NOTIFY_FILTER_ADD = 0,
	AG_NOTIFY_FILTER_DELETE,
} ag_notify_type;

typedef struct ag_callout {
	const char *name;
	/*
	 * classifyFn.  `out` arrives with action CONTINUE and the rights the
	 * callout may use.  To pend (S4): call ag_pend_operation() with
	 * meta->completion_handle, then set out->action = AG_ACTION_BLOCK,
	 * out->flags |= AG_CLASSIFY_OUT_FLAG_ABSORB and clear
	 * AG_RIGHT_ACTION_WRITE.  `flow_context` is what this callout associated
	 * with the flow at this layer (0 if nothing).
	 */
	void (*classify)(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			 const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			 ag_classify_out *out, void *arg);
	/* notifyFn: a filter that names this callout was added or deleted.  May be NULL. */
	int (*notify)(ag_engine *e, ag_notify_type type, const ag_filter *filter, void *arg);
	/* flowDeleteFn: a flow this callout associated a context with is gone.  May be NULL. */
	void (*flow_delete)(ag_engine *e, ag_layer layer, uint64_t flow_handle,
			    uint64_t flow_context, void *arg);
	void *arg;
} ag_callout;

/*
 * Register a callout (the struct and name are copied).  Filters can name a
 * callout before it is registered: until then a TERMINATING or UNKNOWN
 * filter blocks and an INSPECTION filter is skipped, as in WFP.
 * Returns 0, -EEXIST, -EINVAL, -ENOMEM.
 */
int ag_callout_register(ag_engine *e, const ag_callout *callout);

/*
 * The deadline of this callout's pends, `timeout_ns` after the pend (0:
 * none), instead of the engine's pending_timeout_ns.  Kept across
 * ag_engine_reconfigure().  Returns 0 or -ENOENT.
 */
int ag_callout_set_pend_timeout(ag_engine *e, const char *name, uint64_t timeout_ns);

/*
 * Unregister (FwpsCalloutUnregisterById0).  Refused with -EBUSY
 * (STATUS_DEVICE_BUSY) while any flow holds a context of the callout: remove
 * them with ag_flow_remove_context() first.  Returns 0, -ENOENT, -EBUSY.
 */
int ag_callout_unregister(ag_engine *e, const char *name);

/*
 * FwpsFlowAssociateContext0: attach a 64-bit context to a flow for a callout
 * at a layer; it is handed to that callout's classify and flow_delete.
 * Returns 0; -EEXIST (STATUS_OBJECT_NAME_EXISTS) when the callout already has
 * a context on the flow at that layer (remove it first); -EINVAL
 * (STATUS_INVALID_PARAMETER) for a zero context or a callout registered
 * without flow_delete; -ENOENT (flow or callout); -ENOMEM.
 */
int ag_flow_associate_context(ag_engine *e, uint64_t flow_handle, ag_layer layer,
			      const char *callout, uint64_t context);

/* FwpsFlowRemoveContext0: the callout's flow_delete is called with the
 * context before this returns.  Returns 0 or -ENOENT. */
int ag_flow_remove_context(ag_engine *e, uint64_t flow_handle, ag_layer layer,
			   const char *callout);

/* The context a callout associated with a flow at a layer.  Returns 0 or
 * -ENOENT.  Safe in callbacks. */
int ag_flow_get_context(const ag_engine *e, uint64_t flow_handle, ag_layer layer,
			const char *callout, uint64_t *context);

/* ---------------------------------------------------------------------------
 * Pend and complete (S3–S8).
 */

/*
 * FwpsPendOperation0.  Called from a callout's classify with
 * meta->completion_handle.  On success *completion_context names the pended
 * operation until it is completed (once) or expires.
 * Returns 0; AG_E_CANNOT_PEND on a reauthorization or at FLOW_ESTABLISHED (S5);
 * AG_E_NO_HANDLE if the handle is not the initial classify in progress;
 * -EALREADY if this flow is already pended; AG_E_LIMIT past max_pended,
 * max_pended_per_user or max_pended_per_process.
 */
int ag_pend_operation(ag_engine *e, uint64_t completion_handle, uint64_t *completion_context);

/*
 * FwpsCompleteOperation0.
 *  CONNECT (S7): the flow is classified again at
 *    CONNECT with AG_FLAG_IS_REAUTHORIZE; that verdict decides: PERMIT
 *    releases the held first packet and the buffered ones in order (S9), BLOCK
 *    drops them.
 *  RECV_ACCEPT (S8): no reauthorization.  To allow, pass the clone made with
 *    ag_packet_clone(): it is reinjected, classified again at RECV_ACCEPT with
 *    AG_FLAG_IS_INJECTED (callouts must not pend it again) and released if
 *    permitted.  NULL denies: the held packets are dropped.
 *  CONNECT: the suspended packet (its clone) may be passed, as WFP allows;
 *    it changes nothing, the reauthorization decides.
 * Returns 0; AG_E_NO_CONTEXT for an unknown, completed or expired context
 * (S6; no freed memory is touched); -EINVAL for a packet that is not this
 * flow's clone.
 */
int ag_complete_operation(ag_engine *e, uint64_t completion_context, const ag_packet *clone);

/*
 * FwpsAllocateCloneNetBufferList0: during a RECV_ACCEPT classify, take a
 * clone of the packet being classified.  On Linux the clone is the very
 * packet the kernel holds; cloning means "do not drop it when the pend
 * absorbs it".  The clone belongs to the callout until it passes it to
 * ag_complete_operation(); completing with NULL drops it.
 * Returns 0, AG_E_NO_HANDLE (no packet in this classify), -EALREADY.
 */
int ag_packet_clone(ag_engine *e, const ag_metadata *meta, ag_packet *clone);

/*
 * Give a pended operation its own deadline on the engine's clock, or none
 * (0).  The engine's configured pending_timeout_ns (0: none) is what a pend
 * gets by default; WFP itself puts no deadline on a pend (S10).
 * Returns 0, AG_E_NO_CONTEXT, -ENOMEM.
 */
int ag_pend_set_deadline(ag_engine *e, uint64_t completion_context, uint64_t deadline_ns);

/* ---------------------------------------------------------------------------
 * Injection handles (FwpsInjectionHandleCreate0 and friends).  Packets that a
 * callout reinjects carry its handle, so that each callout can tell its own
 * reinjected packets from others' when they are classified again.
 */
typedef enum ag_injection_state {
	AG_PACKET_NOT_INJECTED = 0,            /* came from the stack */
	AG_PACKET_INJECTED_BY_SELF,            /* injected with this handle */
	AG_PACKET_INJECTED_BY_OTHER,           /* injected with another handle */
	AG_PACKET_PREVIOUSLY_INJECTED_BY_SELF, /* injected with this handle, then
	                                          cloned and injected again */
} ag_injection_state;

/* A new injection handle (nonzero) in *handle.  Returns 0 or -ENOMEM. */
int ag_injection_handle_create(ag_engine *e, uint64_t *handle);

/* Returns 0 or -ENOENT. */
int ag_injection_handle_destroy(ag_engine *e, uint64_t handle);

/* FwpsQueryPacketInjectionState0: what `pkt` is to the holder of `handle`.
 * Safe in callbacks. */
ag_injection_state ag_packet_injection_state(const ag_engine *e, uint64_t handle,
					     const ag_packet *pkt);

/*
 * FwpsCompleteOperation0 and FwpsInjectTransportReceiveAsync0 of a pended
 * RECV_ACCEPT, in one call: the clone is reinjected with `injection_handle`
 * (the packet's injection state then says BY_SELF to that handle), classified
 * again at RECV_ACCEPT and released if permitted.  On Linux the clone is the
 * packet the kernel holds, so completion and injection cannot be separated.
 * ag_complete_operation() with a clone does the same with the engine's own
 * handle.  Returns as ag_complete_operation(), and -ENOENT for an unknown
 * injection handle.
 */
int ag_inject_receive_async(ag_engine *e, uint64_t injection_handle,
			    uint64_t completion_context, const ag_packet *clone);

/*
 * FwpsReferenceNetBufferList0: during a classify, keep the packet being
 * classified beyond it.  For a flow's first packet this is what
 * ag_packet_clone() does (the pend then holds it).  For a packet of a flow
 * the callout pended (AG_FLAG_IS_PENDED_DATA) the packet becomes the
 * callout's: it goes into the network only when the callout injects it with
 * ag_inject_referenced() once the flow is permitted, in the order it
 * chooses, and is dropped by ag_packet_dereference(), when the flow is
 * blocked, or when it ends.  Returns 0, AG_E_NO_HANDLE (no packet in this
 * classify), -EALREADY.
 */
int ag_packet_reference(ag_engine *e, const ag_metadata *meta, ag_packet *ref);

/* FwpsAllocateCloneNetBufferList0 of a referenced packet, after classify and
 * from any thread: a copy of `ref` marked as a clone (no engine state). */
void ag_packet_clone_reference(const ag_packet *ref, ag_packet *clone);

/*
 * FwpsInjectTransportSendAsync0 (outbound) / ReceiveAsync0 (inbound) of a
 * referenced packet of pended data: released into the network, marked as
 * injected with `injection_handle` (0: the engine's own).  The flow must be
 * permitted by then (inject after completing).  From any thread: queued for
 * the owner.  Returns 0; -ENOENT (no such flow or reference); -EPERM (the
 * flow is not permitted: the packet is dropped).
 */
int ag_inject_referenced(ag_engine *e, uint64_t injection_handle, uint64_t flow_handle,
			 const ag_packet *ref);

/* FwpsDereferenceNetBufferList0 of pended data never injected: dropped.
 * From any thread.  Returns 0 or -ENOENT. */
int ag_packet_dereference(ag_engine *e, uint64_t flow_handle, const ag_packet *ref);

/* The flow a pended operation belongs to.  Returns 0 or AG_E_NO_CONTEXT.
 * Safe in callbacks. */
struct ag_flow_info;
int ag_pend_lookup(const ag_engine *e, uint64_t completion_context, struct ag_flow_info *out);

/* ---------------------------------------------------------------------------
 * The data plane's side.
 */
typedef enum ag_flow_state {
	AG_FLOW_PENDING = 0, /* first authorization pended */
	AG_FLOW_AUTHORIZED,  /* permitted; later packets never reach user space */
	AG_FLOW_BLOCKED,     /* blocked; kept for blocked_flow_ttl so retransmits are not re-asked */
} ag_flow_state;

const char *ag_flow_state_name(ag_flow_state state);

/* What the engine says about a flow; strings are valid while the flow lives. */
typedef struct ag_flow_info {
	uint64_t handle;
	ag_layer layer;               /* CONNECT or RECV_ACCEPT */
	ag_flow_state state;
	ag_fixed_values fixed;        /* as first classified (flags without IS_REAUTHORIZE) */
	uint32_t pid;                 /* 0 when unknown */
	const char *process_path;     /* NULL when unknown */
	const char *cmdline;          /* NULL when unknown */
	uint64_t created_ns;
	uint64_t decided_ns;          /* 0 while pending */
	uint64_t filter_id;           /* the deciding filter, 0 for the layer default */
	uint64_t completion_context;  /* while pending */
	uint64_t deadline_ns;         /* while pending */
	uint32_t buffered;            /* packets of pended data its callout references */
	const char *callout;          /* while pending: the callout that pended */
	bool reject;                  /* a BLOCK that makes the application fail at once */
} ag_flow_info;

typedef enum ag_verdict {
	AG_VERDICT_PERMIT = 0, /* let the packet go; mark the flow authorized */
	AG_VERDICT_BLOCK,      /* drop it */
	AG_VERDICT_REJECT,     /* drop it and make the application fail at once */
	AG_VERDICT_HOLD,       /* keep it; a later release() or drop() names it */
} ag_verdict;

const char *ag_verdict_name(ag_verdict verdict);

typedef struct ag_event ag_event;

/*
 * The data plane's callbacks.  Each runs inside the engine call that caused
 * it and must not call back into the engine (except functions marked safe).
 */
typedef struct ag_dataplane_ops {
	/* Let these held packets go, in this order; the flow is authorized.
	 * `flow` is the flow they belong to. */
	void (*release)(void *arg, const ag_flow_info *flow, const ag_packet *pkts, size_t n);
	/* Drop these held packets; `reject`: also make the application fail now. */
	void (*drop)(void *arg, const ag_flow_info *flow, const ag_packet *pkts, size_t n,
		     bool reject);
	/* A live authorized flow is now blocked (S12): delete its conntrack
	 * entry and destroy its local socket.  The engine forgets the flow's
	 * authorization (it stays as BLOCKED). */
	void (*teardown)(void *arg, const ag_flow_info *flow);
	/* A net event (S16), after it entered the ring.  May be NULL. */
	void (*event)(void *arg, const ag_event *ev);
	void *arg;
} ag_dataplane_ops;

/*
 * Classify a packet that reached user space at a layer (CONNECT or
 * RECV_ACCEPT).  The engine finds the flow by its 5-tuple:
 *  - a new flow: initial authorization; callouts get a completion handle and
 *    may pend (S3, S4), then the packet is held;
 *  - a pended flow: the callout that pended it is told (S9,
 *    AG_FLAG_IS_PENDED_DATA) and may reference it (HOLD), else it is
 *    flushed (BLOCK, the application retransmits);
 *  - a known flow: reauthorization with AG_FLAG_IS_REAUTHORIZE (S11).
 * `meta` may be NULL; `pkt` is required when the verdict may be HOLD.
 * `flow_handle` (may be NULL) receives the flow's handle.
 * The return value is the packet's verdict; HOLD means the engine took it.
 */
ag_verdict ag_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
		       const ag_metadata *meta, const ag_packet *pkt, uint64_t *flow_handle);

/*
 * The data plane saw the end of a flow (conntrack DESTROY).  `in` needs only
 * ip_version, protocol, addresses and ports.  Callouts' flow_delete run.
 * A pended flow is not ended this way (its first packet is still held).
 * Returns 0 or -ENOENT.
 */
int ag_flow_end(ag_engine *e, const ag_fixed_values *in);

/* The same, by handle. Returns 0 or -ENOENT. */
int ag_flow_delete(ag_engine *e, uint64_t flow_handle);

/* Information on a flow.  Safe in callbacks.  Returns 0 or -ENOENT. */
int ag_flow_get(const ag_engine *e, uint64_t flow_handle, ag_flow_info *out);

/* Find a flow by 5-tuple (as ag_flow_end).  Returns 0 or -ENOENT.  Safe in callbacks. */
int ag_flow_lookup(const ag_engine *e, const ag_fixed_values *in, ag_flow_info *out);

/*
 * Call cb for each flow whose state bit (1u << AG_FLOW_*) is in `states`,
 * oldest first; a nonzero return stops and is returned.  Safe in callbacks.
 */
int ag_flow_dump(const ag_engine *e, uint32_t states,
		 int (*cb)(const ag_flow_info *flow, void *arg), void *arg);

/*
 * Reauthorize every live authorized flow at the layers in `layer_mask`
 * (1u << AG_LAYER_*), as on an explicit reload (S12c).  Flows now blocked are
 * torn down.  Returns how many were torn down.
 */
int ag_reauthorize(ag_engine *e, uint32_t layer_mask);

/* ---------------------------------------------------------------------------
 * Net events (S16): a bounded ring.
 */
typedef enum ag_event_type {
	AG_EVENT_PERMIT = 0,   /* a classify permitted a flow */
	AG_EVENT_BLOCK,        /* a classify blocked a flow (not logged for ABSORB) */
	AG_EVENT_PEND,         /* a callout pended the flow's authorization */
	AG_EVENT_COMPLETE,     /* a pended operation was completed */
	AG_EVENT_TIMEOUT,      /* a pended operation reached its deadline */
	AG_EVENT_REAUTH,       /* a known flow was classified again; verdict inside */
	AG_EVENT_VETO,         /* a callout's BLOCK overrode a hard PERMIT */
	AG_EVENT_TEARDOWN,     /* a live flow was torn down by a reauthorization */
	AG_EVENT_CONTRACT,     /* a callout broke the pend contract (S4) */
	AG_EVENT_DROP,         /* packets of a pended flow dropped (buffer bound, flush) */
	AG_EVENT_LIMIT,        /* a bound was reached; `reason` says which */
	AG_EVENT_FILTER_EXPIRED, /* a timed filter reached its deadline */
	AG_EVENT_ESTABLISHED,  /* FLOW_ESTABLISHED was indicated */
	AG_EVENT_TYPE_COUNT
} ag_event_type;

typedef enum ag_reason {
	AG_REASON_FILTER = 0,   /* a filter decided */
	AG_REASON_DEFAULT,      /* no filter matched: the layer default (permit) */
	AG_REASON_CALLOUT,      /* a callout decided */
	AG_REASON_UNREGISTERED, /* the filter's callout is not registered */
	AG_REASON_TIMEOUT,      /* deadline */
	AG_REASON_SHUTDOWN,     /* engine shut down with the operation pended */
	AG_REASON_INJECTED,     /* our own reinjected clone */
	AG_REASON_NOT_ABSORB,   /* pended but returned something other than BLOCK+ABSORB */
	AG_REASON_BUFFER_FULL,  /* per-flow pending buffer full */
	AG_REASON_FLUSH,        /* pending_buffer is 0: pended data flushed */
	AG_REASON_MAX_PENDED,   /* max_pended reached */
	AG_REASON_MAX_PENDED_PROCESS, /* max_pended_per_process reached */
	AG_REASON_MAX_FLOWS,    /* max_flows reached */
	AG_REASON_COMPLETED,    /* completed by its callout */
	AG_REASON_FILTER_CHANGE, /* filters changed (S12b) */
	AG_REASON_RELOAD,       /* explicit reauthorization (S12c) */
	AG_REASON_MAX_PENDED_USER, /* max_pended_per_user reached */
	AG_REASON_COUNT
} ag_reason;

struct ag_event {
	uint64_t seq;           /* 1, 2, 3 …: gaps show events the ring overwrote */
	uint64_t time_ns;
	ag_event_type type;
	ag_reason reason;
	ag_layer layer;
	ag_verdict verdict;     /* PERMIT/BLOCK/REJECT, or HOLD for PEND */
	uint64_t flow;          /* flow handle, 0 if none */
	uint64_t filter;        /* deciding filter, 0 if none */
	uint64_t filter_context;
	uint32_t count;         /* DROP: packets; LIMIT: the bound */
	uint32_t pid;
	uint32_t uid;
	uint8_t ip_version, protocol, direction;
	ag_addr local_addr, remote_addr;
	uint16_t local_port, remote_port;
	const char *app_path;   /* valid while the event is in the ring, may be NULL */
	const char *remote_host;
};

const char *ag_event_type_name(ag_event_type type);
const char *ag_reason_name(ag_reason reason);

/*
 * Call cb for each event in the ring with seq > after_seq, oldest first; a
 * nonzero return stops and is returned.  Safe in callbacks.
 */
int ag_event_dump(const ag_engine *e, uint64_t after_seq,
		  int (*cb)(const ag_event *ev, void *arg), void *arg);

/* ---------------------------------------------------------------------------
 * The engine.
 */
typedef struct ag_engine_config {
	/* The clock, in nanoseconds on CLOCK_BOOTTIME (time suspended counts).
	 * Tests pass a fake one.  Required. */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	uint64_t hash_seed[2];       /* keyed flow hashing; give random bytes */
	uint32_t max_flows;          /* default 65536 */
	uint32_t max_filters;        /* default 1000000 (alegated: one a rule) */
	uint32_t max_pended;         /* default 16384 */
	uint32_t max_pended_per_process; /* default 1024; by pid, uid when pid unknown */
	/* default 4096; by uid, every flow of no known user counted as one user.
	 * Below max_pended, so one user's flood leaves room for the others. */
	uint32_t max_pended_per_user;
	uint32_t pending_buffer;     /* S9: packets `ask` keeps per pended flow; 0 = flush. default 16 */
	uint64_t pending_timeout_ns; /* S10: default 30 s */
	ag_verdict timeout_verdict;  /* S10: PERMIT, BLOCK or REJECT; default BLOCK */
	uint64_t blocked_flow_ttl_ns; /* how long a blocked flow is remembered; default 120 s */
	uint32_t event_ring_size;    /* S16: default 4096 */
	/* Linux addition to the model: when filters change, a pended operation
	 * that a plain (non-callout) filter would now decide is completed at
	 * once, so "always allow" releases every waiting flow of that program.
	 * WFP leaves pended operations alone; set false for that.  Default true. */
	bool complete_pended_on_change;
} ag_engine_config;

/* Fill `cfg` with the defaults above (clock excepted). */
void ag_engine_config_default(ag_engine_config *cfg);

/* A new engine, or NULL with errno (EINVAL, ENOMEM).  `ops` is copied. */
ag_engine *ag_engine_new(const ag_engine_config *cfg, const ag_dataplane_ops *ops);

/*
 * S10: complete every pended operation as blocked (reason SHUTDOWN) and drop
 * every held packet through ops.drop.  Call before ag_engine_free on a
 * clean shutdown.
 */
void ag_engine_shutdown(ag_engine *e);

/* Free everything; no callback runs.  Accepts NULL. */
void ag_engine_free(ag_engine *e);

/* Change the bounds and timeouts of a running engine (reload). Returns 0 or -EINVAL. */
int ag_engine_reconfigure(ag_engine *e, const ag_engine_config *cfg);

/*
 * Process every deadline that is due on the engine's clock: pended
 * operations (S10), timed filters (S15, then S12b), blocked-flow memory.
 * Returns how many deadlines fired.
 */
int ag_engine_advance(ag_engine *e);

/*
 * The same, but at most `max` deadlines (0: no limit), so that an event loop
 * stays responsive when thousands of pended operations time out together;
 * call again (the next deadline is then already due).
 */
int ag_engine_advance_some(ag_engine *e, unsigned max);

/* The next deadline on the engine's clock, or UINT64_MAX.  Safe in callbacks. */
uint64_t ag_engine_next_deadline(const ag_engine *e);

/*
 * Completion from any thread (S10).  The engine belongs to the thread that
 * made it; ag_engine_set_owner() hands it to the calling thread (before any
 * other use there).  ag_complete_operation() and ag_inject_receive_async()
 * called from another thread copy their arguments into a queue, return 0
 * (or -ENOMEM) and call `wake` when the queue was empty: the owner then calls
 * ag_engine_run_completions(), which applies every queued completion in
 * order and returns how many it took.  `wake` runs on the completing thread
 * and must only signal (write an eventfd); it may be NULL; set it before
 * other threads complete.  A queued completion costs one small allocation.
 */
void ag_engine_set_wake(ag_engine *e, void (*wake)(void *arg), void *arg);
void ag_engine_set_owner(ag_engine *e);
int ag_engine_run_completions(ag_engine *e);

typedef struct ag_engine_stats {
	uint64_t classifies;      /* ag_classify calls */
	uint64_t new_flows;
	uint64_t reauthorizations;
	uint64_t permits, blocks, pends, completions, timeouts;
	uint64_t vetoes, teardowns, contract_violations;
	uint64_t buffered, buffer_drops, flushed;
	uint64_t limit_hits;
	uint64_t events, events_overwritten;
	/* completions queued by other threads; those that named an operation
	 * no longer pended (completed twice, expired) when applied */
	uint64_t queued_completions, stale_completions;
	uint32_t flows, pended, filters, callouts;
	size_t memory;            /* bytes the engine holds (approximate) */
} ag_engine_stats;

void ag_engine_get_stats(const ag_engine *e, ag_engine_stats *out);

#ifdef __cplusplus
}
#endif

#endif
