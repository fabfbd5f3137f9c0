/*
 * lib/engine/queue.c — completion from any thread (S10).
 *
 * In WFP a callout completes from its own worker, at any time.  The engine's
 * state belongs to one thread, its owner (the one that made it, or the one
 * that last called ag_engine_set_owner): a completion from any other thread
 * is copied into this queue and the owner is woken to apply it
 * with ag_engine_run_completions().  Nothing else of the engine is touched
 * by the other thread, so classify never races with it.
 *
 * The queue uses plain malloc, not the engine's accounted allocator: the
 * accounting belongs to the owner.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

int ag__cqueue_init(struct ag__cqueue *q)
{
	atomic_init(&q->head, NULL);
	atomic_init(&q->queued, 0);
	q->wake = NULL;
	q->wake_arg = NULL;
	return 0;
}

void ag__cqueue_fini(struct ag__cqueue *q)
{
	struct ag__qent *n = atomic_exchange(&q->head, NULL);

	while (n) {
		struct ag__qent *next = n->next;

		free(n);
		n = next;
	}
}

bool ag__on_owner(const ag_engine *e)
{
	return thrd_equal(thrd_current(), e->owner);
}

/*
 * A lock-free stack that many threads push on and the owner takes whole:
 * a completing thread never waits for the owner, and the owner never for
 * it.  The owner reverses what it takes, so completions apply in the order
 * they were made.
 */
int ag__cqueue_push(ag_engine *e, uint8_t kind, uint64_t ctx, uint32_t injector,
		    const ag_packet *clone)
{
	struct ag__cqueue *q = &e->cq;
	struct ag__qent *ent = calloc(1, sizeof(*ent));

	if (!ent)
		return -ENOMEM;
	ent->kind = kind;
	ent->ctx = ctx;
	ent->injector = injector;
	if (clone) {
		ent->clone = *clone;
		ent->has_clone = true;
	}
	struct ag__qent *old = atomic_load_explicit(&q->head, memory_order_relaxed);

	do
		ent->next = old;
	while (!atomic_compare_exchange_weak_explicit(&q->head, &old, ent, memory_order_release,
						      memory_order_relaxed));
	atomic_fetch_add_explicit(&q->queued, 1, memory_order_relaxed);
	/* One wake per batch: the owner takes everything that is there. */
	if (!old && q->wake)
		q->wake(q->wake_arg);
	return 0;
}

void ag_engine_set_wake(ag_engine *e, void (*wake)(void *arg), void *arg)
{
	e->cq.wake = wake;
	e->cq.wake_arg = arg;
}

void ag_engine_set_owner(ag_engine *e)
{
	e->owner = thrd_current();
}

int ag_engine_run_completions(ag_engine *e)
{
	struct ag__qent *n = atomic_exchange_explicit(&e->cq.head, NULL, memory_order_acquire);
	struct ag__qent *ordered = NULL;
	int count = 0;

	while (n) {
		struct ag__qent *next = n->next;

		n->next = ordered;
		ordered = n;
		n = next;
	}
	while (ordered) {
		struct ag__qent *next = ordered->next;
		const ag_packet *clone = ordered->has_clone ? &ordered->clone : NULL;
		int r;

		switch (ordered->kind) {
		case AG__Q_INJECT_CLONE:
			r = ag__inject_receive(e, ordered->injector, ordered->ctx, clone);
			break;
		case AG__Q_INJECT_REF:
			r = ag__inject_referenced(e, ordered->injector, ordered->ctx, clone);
			break;
		case AG__Q_DEREF:
			r = ag__packet_dereference(e, ordered->ctx, clone);
			break;
		default:
			r = ag__complete_operation(e, ordered->ctx, clone);
			break;
		}

		if (r)
			e->stats.stale_completions++;
		free(ordered);
		ordered = next;
		count++;
	}
	return count;
}
