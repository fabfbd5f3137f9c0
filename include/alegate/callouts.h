/*
 * alegate/callouts.h — the built-in callouts (S17): `ask` and `log`.
 *
 * `ask` is what makes alegate interactive.  A filter with action
 * AG_ACTION_CALLOUT_UNKNOWN and callout "ask" (normally the catch-all at the
 * bottom of the rules' sublayer) pends every flow it sees on its initial
 * authorization and leaves the decision to whoever calls ag_ask_decide() —
 * the prompt broker of the daemon.  On a reauthorization it cannot pend (S5)
 * and answers from what it knows:
 *   - the flow was decided through ag_ask_decide(): that decision;
 *   - otherwise the flow's current state: BLOCKED stays blocked, AUTHORIZED
 *     stays permitted, and a flow still pended gets CONTINUE (the other
 *     filters decide);
 *   - a packet this engine reinjected (AG_FLAG_IS_INJECTED): its decision,
 *     else CONTINUE — never pended again, so no loop (S8).
 * At RECV_ACCEPT it clones the held packet when it pends, and completes
 * with the clone to allow or with NULL to deny, as S8 asks.
 *
 * `log` is an inspection callout: it hands every classify it sees to a
 * function and always returns CONTINUE.
 */
#ifndef ALEGATE_CALLOUTS_H
#define ALEGATE_CALLOUTS_H

#include "alegate/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AG_CALLOUT_ASK "ask"
#define AG_CALLOUT_LOG "log"

/* Register the `ask` callout.  Returns 0, -EEXIST, -ENOMEM. */
int ag_ask_register(ag_engine *e);

/*
 * Decide a flow that `ask` pended: PERMIT, BLOCK or REJECT.  Completes the
 * operation (CONNECT: reauthorization that `ask` answers with this verdict;
 * RECV_ACCEPT: reinjection of the clone, or a drop).
 * A flow another callout pended is decided too: the answer ends the pend
 * with that verdict (no reauthorization asks that callout again), and the
 * callout's own completion later returns AG_E_NO_CONTEXT.
 * Returns 0, AG_E_NO_CONTEXT (not pended, or already completed / expired),
 * -EINVAL (bad verdict).
 */
int ag_ask_decide(ag_engine *e, uint64_t completion_context, ag_verdict verdict);

/* What `log` hands over: layer, values, metadata of one classify. */
typedef void (*ag_log_fn)(void *arg, ag_layer layer, const ag_fixed_values *in,
			  const ag_metadata *meta);

/* Register the `log` callout with its sink.  Returns 0, -EEXIST, -ENOMEM. */
int ag_log_register(ag_engine *e, ag_log_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
