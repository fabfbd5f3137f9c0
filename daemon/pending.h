/*
 * daemon/pending.h — the flows the `ask` callout pended, and the answers
 * to them, owned by pending.c (the list lives in struct agd_policy): a flow
 * announced to prompt clients through struct agd_listeners, decided by a
 * person's answer or the timeout, and the rule an answer makes.
 */
#ifndef ALEGATE_DAEMON_PENDING_H
#define ALEGATE_DAEMON_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "alegate/engine.h"
#include "rule/rule.h"

struct agd;

/* A flow that `ask` pended, as prompt clients see it. */
struct agd_pending {
	uint32_t id;             /* what `alegatectl allow ID` takes */
	uint64_t context;        /* the engine's completion context */
	uint64_t flow;           /* the engine's flow handle */
	uint64_t since_ns;       /* CLOCK_BOOTTIME */
};

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

#endif
