/*
 * daemon/policy.h — the rules the daemon knows and the engine filters
 * that enforce them, owned by policy.c as struct agd_policy: rules from
 * lib/rule/ become filters in alegate's sublayer, with their lifetimes
 * (until-quit, timed, always), reload and the catch-all `ask` filters.  The
 * pended flows are kept in the same struct (pending.h works on them).
 */
#ifndef ALEGATE_DAEMON_POLICY_H
#define ALEGATE_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alegate/engine.h"
#include "daemon/rules.h"
#include "rule/rule.h"

struct agd;
struct agd_pending;

/* policy.c: the rules the daemon knows and the flows `ask` pended. */
struct agd_policy {
	struct agd_rule **rules;
	uint32_t nrules, caprules;
	/* the same rules by handle: slots[handle's low 32 bits - 1] (policy.c);
	 * a free slot is tagged, its value the next free one */
	struct agd_rule **slots;
	uint32_t nslots, capslots, free_slot; /* free_slot: first free + 1, 0 none */
	/* and by id in O(1): slot + 1 (0: empty), open addressing, linear
	 * probing, capacity a power of two at least twice nrules */
	uint32_t *by_id;
	uint32_t capmap;
	bool rules_expired;      /* some rule's timed filters expired: collect them */
	uint64_t next_rule_handle;
	uint64_t ask_filters[2]; /* the catch-all filters: CONNECT, RECV_ACCEPT */
	bool bulk;               /* loading many rules: sync the fast path once, after */
	uint32_t sha256_rules;   /* rules with a sha256 condition and filters: only
				    then are executables hashed */
	struct agd_pending *pending;
	uint32_t npending, cappending;
	uint32_t next_pending_id;
};

/* Sublayer, built-in callouts, catch-all filters.  Returns 0 or a negative error. */
int agd_policy_init(struct agd *d);
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
/* Name @r for a person ("curl to example.org"): for a rule made without a
 * name.  Returns 0 or -ENOMEM.  In rule_name.c. */
int agd_rule_default_name(struct ag_rule *r);
/* The engine weight of a rule's filters: rule weight, then specificity,
 * then deny before allow; above the catch-all's 0. */
uint32_t agd_rule_filter_weight(const struct ag_rule *r);
/* The same from the fields it depends on (a packed rule's header). */
uint32_t agd_filter_weight(unsigned has, int weight, enum ag_rule_action action);
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

/* Give the rules on "remote": "resolvers" their filters again (the set
 * changed).  In policy.c. */
void agd_policy_resolvers_changed(struct agd *d);

/*
 * agd_rules_refresh_list - new filters for every rule that names @l, in
 * one transaction, and the fast path compiled again: what a new version of
 * the list needs (agd_lists_open()'s read_again).
 */
struct agd_list;
void agd_rules_refresh_list(struct agd *d, const struct agd_list *l);

#endif
