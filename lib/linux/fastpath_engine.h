/*
 * fastpath_engine.h — the fast path's edge with the engine: the enabled
 * CONNECT filters of one sublayer, read off the engine as the descriptors
 * ag_fp_compile() takes (fastpath.h).  Kept apart so that the rest of
 * lib/linux does not see the engine; the daemon's fast path module
 * (daemon/fastpath_sync.c) is its one user besides the tests.
 */
#ifndef ALEGATE_LINUX_FASTPATH_ENGINE_H
#define ALEGATE_LINUX_FASTPATH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alegate/engine.h"
#include "linux/fastpath.h"

/* ---- descriptors from the engine ----------------------------------------------- */

/*
 * What ag_fp_rules_from_engine needs from the daemon.  Both callbacks may
 * be NULL.
 *  exe:  identity of an exact application path (NULL: ag_fp_exe_resolve).
 *  host: the addresses the DNS cache currently maps to a name that this
 *        condition matches (suffix: `host` is the part after "*.").  Fill
 *        *addrs with malloc'ed memory (the ruleset frees it) and *n; return
 *        0, or a negative errno to make the rule a barrier.  NULL: every
 *        host rule is a barrier.
 *  set:  for an AG_MATCH_SET condition (the condition as given to the
 *        engine): on the remote address, the set's prefixes; on the host
 *        name, the addresses the DNS cache currently gives a name of the
 *        set (as `host`).  Filled like `host`; return a negative errno to
 *        make the rule a barrier (a set it does not know, or one too large
 *        for the kernel's maps).  NULL: such rules are barriers.
 */
struct ag_fp_env {
	int (*exe)(void *arg, const char *path, struct ag_fp_exe *out);
	int (*host)(void *arg, const char *host, bool suffix, struct ag_fp_prefix **addrs,
		    size_t *n);
	int (*set)(void *arg, const ag_condition *cond, struct ag_fp_prefix **addrs, size_t *n);
	void *arg;
	uint32_t sublayer;	/* the sublayer rules live in (the daemon's AGD_SUBLAYER_RULES) */
};

struct ag_fp_ruleset {
	struct ag_fp_rule *rules;
	size_t n;
	size_t barriers;	/* how many are barriers */
	void *mem;		/* what the descriptors point into */
};

/*
 * ag_fp_rules_from_engine — descriptors for the enabled CONNECT filters of
 * env->sublayer, in evaluation order.  PERMIT -> ALLOW, BLOCK -> DENY,
 * terminating callouts (`ask`) -> PASS; inspection callouts never decide
 * and are left out.  Conditions the hooks cannot see make the rule a
 * barrier.  The compiled model is one sublayer, first match wins: if
 * another sublayer has CONNECT filters, returns -EOPNOTSUPP (compile
 * nothing then: everything falls through).
 * Returns 0 with *out filled (ag_fp_ruleset_free), -EOPNOTSUPP, -ENOMEM.
 */
int ag_fp_rules_from_engine(const ag_engine *e, const struct ag_fp_env *env,
			    struct ag_fp_ruleset *out);

/* ag_fp_ruleset_free — accepts a zeroed or freed ruleset. */
void ag_fp_ruleset_free(struct ag_fp_ruleset *rs);

#endif
