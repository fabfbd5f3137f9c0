/*
 * daemon/rules.h — a rule the daemon knows: its own few fields and the rule
 * itself, packed in the same allocation (lib/rule/rule.h), read through the
 * accessors below.  policy.c makes and owns them (struct agd_policy); the
 * fast path's sync, the control answers and the history read them.
 */
#ifndef ALEGATE_DAEMON_RULES_H
#define ALEGATE_DAEMON_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "rule/rule.h"

/* The sublayer every alegate rule lives in, above WFP's default. */
#define AGD_SUBLAYER_RULES 1u
#define AGD_SUBLAYER_RULES_WEIGHT 0x8000

/* A rule the daemon knows, and the engine filters that enforce it. */
struct agd_list;

struct agd_rule {
	uint64_t handle;         /* the filters' context: names this rule in events */
	uint64_t filters[2];     /* engine filter ids, 0 = none */
	/* a rule that names a list: its two (host_list, remote_list:
	 * daemon/lists.h, or NULL) lie this many bytes after packed, after
	 * the packed rule (agd_rule_lists()); 0 for the others */
	uint32_t lists_at;
	bool expired;            /* its timed filters expired; drop it at the next chance */
	bool sha256_counted;     /* counted in policy.sha256_rules */
	/* the rule, packed in the same allocation (lib/rule/rule.h): read it
	 * through agd_rule_packed() and agd_rule_view() */
	uint64_t packed[];
};

static inline const struct ag_rule_packed *agd_rule_packed(const struct agd_rule *ar)
{
	return (const struct ag_rule_packed *)(const void *)ar->packed;
}

/* @ar's host list and address list (either may be NULL). */
static inline struct agd_list *const *agd_rule_lists(const struct agd_rule *ar)
{
	static struct agd_list *const none[2];

	if (!ar->lists_at)
		return none;
	return (struct agd_list *const *)(const void *)((const char *)ar->packed + ar->lists_at);
}

static inline const char *agd_rule_id(const struct agd_rule *ar)
{
	return agd_rule_packed(ar)->id;
}

/* @ar's rule as a struct ag_rule, in @view: valid while @ar is, read only. */
static inline const struct ag_rule *agd_rule_view(const struct agd_rule *ar,
						  struct ag_rule_view *view)
{
	return ag_rule_unpack(agd_rule_packed(ar), view);
}

#endif
