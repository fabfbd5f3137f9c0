/*
 * lib/engine/filter.c — filters: adding, deleting, enabling, describing and
 * listing them, their lifetimes (S15), and transactions.  Their conditions
 * are in condition.c, the index that finds them in index.c, sublayers in
 * sublayer.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* ---- filters ------------------------------------------------------------------- */

static int cond_field_cmp(const void *a, const void *b)
{
	const struct ag__cond *ca = a, *cb = b;

	return (int)ca->field - (int)cb->field;
}

void ag__filter_free(ag_engine *e, struct ag_filter *f)
{
	for (uint16_t i = 0; i < f->nconds; i++)
		ag__str_put(e, ag__cond_str(&f->conds[i]));
	ag__str_put(e, ag__filter_callout(f));
	ag__str_put(e, f->name);
	ag__free(e, f, ag__filter_alloc_size(f));
}

static bool is_callout_action(ag_action_type a)
{
	return a == AG_ACTION_CALLOUT_TERMINATING || a == AG_ACTION_CALLOUT_INSPECTION ||
	       a == AG_ACTION_CALLOUT_UNKNOWN;
}

/* The filters of the layers in @layers changed: reauthorize (at commit in a
 * transaction). */
static void changed(ag_engine *e, uint32_t layers)
{
	if (e->in_txn)
		e->txn_layers |= layers;
	else
		ag__filters_changed(e, layers);
}

static void notify(ag_engine *e, ag_notify_type type, struct ag_filter *f)
{
	if (!ag__filter_callout(f))
		return;
	struct ag__callout *c = ag__callout_find(e, ag__filter_callout(f));

	if (c && c->c.notify)
		c->c.notify(e, type, f, c->c.arg);
}

/* A SESSION filter goes on its session's list, so that the end of a session
 * costs its own filters, not a walk of every filter. */
static int session_link(ag_engine *e, struct ag_filter *f)
{
	struct ag__fextra *l = ag__filter_extra(f);
	uint64_t v = 0;

	if (f->lifetime != AG_LIFETIME_SESSION)
		return 0;
	ag__u64map_get(&e->sessions, l->session, &v);
	int r = ag__u64map_put(&e->sessions, l->session, (uint64_t)(uintptr_t)f);

	if (r)
		return r;
	l->snext = (struct ag_filter *)(uintptr_t)v;
	l->sprev = NULL;
	if (l->snext)
		ag__filter_extra(l->snext)->sprev = f;
	return 0;
}

static void session_unlink(ag_engine *e, struct ag_filter *f)
{
	struct ag__fextra *l = ag__filter_extra(f);

	if (f->lifetime != AG_LIFETIME_SESSION)
		return;
	if (l->snext)
		ag__filter_extra(l->snext)->sprev = l->sprev;
	if (l->sprev)
		ag__filter_extra(l->sprev)->snext = l->snext;
	else if (!ag__u64map_del(&e->sessions, l->session) || !l->snext)
		;
	else /* the key was there: putting it back cannot need to grow the map */
		ag__u64map_put(&e->sessions, l->session, (uint64_t)(uintptr_t)l->snext);
	l->sprev = l->snext = NULL;
}

static void filter_disarm(ag_engine *e, struct ag_filter *f)
{
	struct ag__fextra *l = ag__filter_extra(f);

	if (l)
		ag__timer_disarm(e, &l->timer);
}

int ag_filter_add(ag_engine *e, const ag_filter_spec *spec, uint64_t *id_out)
{
	struct ag_filter *f;
	struct ag__sublayer *sub;
	int r = -EINVAL;

	if (!spec || spec->layer >= AG_LAYER_COUNT)
		return -EINVAL;
	if ((spec->flags & AG_FILTER_FLAG_ALSO_RECV_ACCEPT) &&
	    spec->layer != AG_LAYER_ALE_AUTH_CONNECT)
		return -EINVAL;
	switch (spec->action) {
	case AG_ACTION_PERMIT:
	case AG_ACTION_BLOCK:
		break;
	case AG_ACTION_CALLOUT_TERMINATING:
	case AG_ACTION_CALLOUT_INSPECTION:
	case AG_ACTION_CALLOUT_UNKNOWN:
		if (!spec->callout || !spec->callout[0])
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (spec->lifetime > AG_LIFETIME_PERSISTENT ||
	    (spec->lifetime == AG_LIFETIME_SESSION && !spec->session) ||
	    (spec->lifetime == AG_LIFETIME_TIMED && !spec->expires_ns))
		return -EINVAL;
	if (spec->n_conditions > AG__MAX_CONDITIONS || (spec->n_conditions && !spec->conditions))
		return -EINVAL;
	if (!(sub = ag__sublayer_find(e, spec->sublayer)))
		return AG_E_NOT_FOUND;
	if (e->nfilters >= e->cfg.max_filters)
		return AG_E_LIMIT;
	if (spec->id && ag__fmap_get(&e->filter_ids, spec->id))
		return -EEXIST;

	/* the filter and its conditions in one allocation: at 100,000 rules
	 * two allocations fewer per filter are megabytes */
	bool extra = spec->lifetime == AG_LIFETIME_SESSION || spec->lifetime == AG_LIFETIME_TIMED ||
		     spec->session || is_callout_action(spec->action);
	struct ag__fextra *l;

	f = ag__calloc(e, 1, ag__filter_size(spec->n_conditions, extra));
	if (!f)
		return -ENOMEM;
	f->nalloc = (uint16_t)spec->n_conditions;
	f->has_extra = extra;
	f->lifetime = (uint8_t)spec->lifetime;
	if ((l = ag__filter_extra(f))) {
		l->f = f;
		l->timer.kind = AG__TIMER_FILTER;
		l->session = spec->session;
		l->expires_ns = spec->lifetime == AG_LIFETIME_TIMED ? spec->expires_ns : 0;
	}
	f->layer = (uint8_t)spec->layer;
	f->action = (uint8_t)spec->action;
	f->flags = spec->flags;
	f->weight = spec->weight;
	f->sublayer = spec->sublayer;
	f->sublayer_weight = sub->weight;
	f->context = spec->context;
	for (size_t i = 0; i < spec->n_conditions; i++) {
		r = ag__cond_compile(e, &spec->conditions[i], &f->conds[i]);
		f->nconds = (uint16_t)(i + 1);
		if (r)
			goto fail;
	}
	if (f->nconds > 1)
		qsort(f->conds, f->nconds, sizeof(*f->conds), cond_field_cmp);
	if (is_callout_action(spec->action) && !(l->callout = ag__str_get(e, spec->callout)))
		goto nomem;
	if (spec->name && !(f->name = ag__str_get(e, spec->name)))
		goto nomem;

	if (spec->id) {
		f->id = spec->id;
	} else {
		/* next_filter_id is never below an id in use (a larger given id
		 * moves it up), so the next one is free without a look in the
		 * map (a cache miss a filter), until the count wraps */
		for (;;) {
			f->id = ++e->next_filter_id;
			if (!f->id) {
				e->filter_ids_wrapped = true;
				continue;
			}
			if (!e->filter_ids_wrapped || !ag__fmap_get(&e->filter_ids, f->id))
				break;
		}
	}
	if (f->id > e->next_filter_id)
		e->next_filter_id = f->id;
	struct ag__index *ix = &e->index[ag__index_of(f->layer)];

	if ((r = ag__index_add(e, ix, f)))
		goto fail;
	if ((r = ag__fmap_put(&e->filter_ids, f))) {
		ag__index_del(e, ix, f);
		goto fail;
	}
	if ((f->lifetime == AG_LIFETIME_TIMED && (r = ag__timer_arm(e, &l->timer, l->expires_ns))) ||
	    (r = session_link(e, f))) {
		filter_disarm(e, f);
		ag__fmap_del(&e->filter_ids, f->id);
		ag__index_del(e, ix, f);
		goto fail;
	}
	sub->nfilters++;
	e->nfilters++;
	if (id_out)
		*id_out = f->id;
	notify(e, AG_NOTIFY_FILTER_ADD, f);
	changed(e, ag__filter_layers(f));
	return 0;
nomem:
	r = -ENOMEM;
fail:
	ag__filter_free(e, f);
	return r;
}

static void filter_remove(ag_engine *e, struct ag_filter *f)
{
	struct ag__sublayer *sub = ag__sublayer_find(e, f->sublayer);
	uint32_t layers = ag__filter_layers(f);

	notify(e, AG_NOTIFY_FILTER_DELETE, f);
	ag__index_del(e, &e->index[ag__index_of(f->layer)], f);
	ag__fmap_del(&e->filter_ids, f->id);
	session_unlink(e, f);
	filter_disarm(e, f);
	if (sub)
		sub->nfilters--;
	e->nfilters--;
	ag__filter_free(e, f);
	changed(e, layers);
}

int ag_filter_del(ag_engine *e, uint64_t id)
{
	struct ag_filter *f = ag__fmap_get(&e->filter_ids, id);

	if (!f)
		return -ENOENT;
	filter_remove(e, f);
	return 0;
}

/* S15: a timed filter reached its deadline. */
void ag__filter_expire(ag_engine *e, struct ag_filter *f)
{
	ag__event(e, AG_EVENT_FILTER_EXPIRED, AG_REASON_TIMEOUT, (ag_layer)f->layer,
		  f->action == AG_ACTION_BLOCK ? AG_VERDICT_BLOCK : AG_VERDICT_PERMIT, NULL, f->id,
		  0);
	filter_remove(e, f);
}

int ag_filter_set_enabled(ag_engine *e, uint64_t id, bool enabled)
{
	struct ag_filter *f = ag__fmap_get(&e->filter_ids, id);

	if (!f)
		return -ENOENT;
	uint32_t flags = enabled ? f->flags & ~AG_FILTER_FLAG_DISABLED
				 : f->flags | AG_FILTER_FLAG_DISABLED;

	if (flags != f->flags) {
		f->flags = flags;
		changed(e, ag__filter_layers(f));
	}
	return 0;
}

int ag_filter_del_session(ag_engine *e, uint64_t session)
{
	int n = 0;
	bool own_txn = !e->in_txn;

	if (!session)
		return 0;
	if (own_txn)
		ag_engine_begin(e);
	for (uint64_t v; ag__u64map_get(&e->sessions, session, &v); n++)
		filter_remove(e, (struct ag_filter *)(uintptr_t)v);
	if (own_txn)
		ag_engine_commit(e);
	return n;
}

bool ag_filter_has_session(const ag_engine *e, uint64_t session)
{
	return session && ag__u64map_get(&e->sessions, session, NULL);
}

const ag_filter *ag_filter_get(const ag_engine *e, uint64_t id)
{
	return ag__fmap_get(&e->filter_ids, id);
}

uint64_t ag_filter_id(const ag_filter *f)
{
	return f->id;
}

uint64_t ag_filter_context(const ag_filter *f)
{
	return f->context;
}

/*
 * The public form of the compiled conditions, written when a filter is
 * described into a buffer of the calling thread: storing it with every
 * filter cost 32 bytes per condition of every rule.  Writing it cannot
 * fail, so describing never fails half-way (a rule that looked
 * unconditional would be worse than no answer).
 */
static void public_conditions(const struct ag_filter *f, ag_condition *out)
{
	for (uint16_t i = 0; i < f->nconds; i++) {
		const struct ag__cond *c = &f->conds[i];
		ag_condition *p = &out[i];

		memset(p, 0, sizeof(*p));
		p->field = (ag_field)c->field;
		p->match = (ag_match)c->match;
		if (c->match == AG_MATCH_SET) {
			p->v.set.set = c->set;
			p->v.set.contains = c->contains;
			continue;
		}
		switch (c->field) {
		case AG_FIELD_LOCAL_ADDR:
		case AG_FIELD_REMOTE_ADDR:
			p->v.addr.ip_version = c->ip_version;
			p->v.addr.len = c->plen;
			p->v.addr.bytes = c->addr;
			break;
		case AG_FIELD_APP_PATH:
		case AG_FIELD_REMOTE_HOST:
		case AG_FIELD_APP_SHA256:
			p->v.str = c->str->s;
			break;
		default:
			if (c->match == AG_MATCH_RANGE) {
				p->v.range.lo = c->lo;
				p->v.range.hi = c->hi;
			} else {
				p->v.u32 = c->lo;
			}
		}
	}
}

void ag_filter_describe(const ag_filter *f, ag_filter_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->id = f->id;
	spec->layer = (ag_layer)f->layer;
	spec->sublayer = f->sublayer;
	spec->weight = f->weight;
	spec->action = (ag_action_type)f->action;
	spec->callout = ag__str_c(ag__filter_callout(f));
	spec->flags = f->flags;
	spec->lifetime = (ag_lifetime)f->lifetime;
	spec->expires_ns = ag__filter_expires(f);
	spec->session = ag__filter_session(f);
	static thread_local ag_condition conds[AG__MAX_CONDITIONS];

	public_conditions(f, conds);
	spec->conditions = f->nconds ? conds : NULL;
	spec->n_conditions = f->nconds;
	spec->name = ag__str_c(f->name);
	spec->context = f->context;
}

/* Evaluation order, for qsort over struct ag_filter pointers. */
static int dump_order(const void *a, const void *b)
{
	const struct ag_filter *fa = *(struct ag_filter *const *)a;
	const struct ag_filter *fb = *(struct ag_filter *const *)b;

	return ag__filter_before(fa, fb) ? -1 : ag__filter_before(fb, fa) ? 1 : 0;
}

int ag_filter_dump(const ag_engine *e, int (*cb)(const ag_filter *f, void *arg), void *arg)
{
	for (unsigned l = 0; l < AG_LAYER_COUNT; l++) {
		/* of the index the layer shares: at most this many are the layer's */
		uint32_t n = e->index[ag__index_of(l)].nfilters, i = 0;
		struct ag_filter **v;
		int r = 0;

		if (!n)
			continue;
		v = malloc(n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		/* the layer's own filters, from the map of every filter (sorted
		 * next): a filter of two layers comes once, under its own */
		for (uint32_t j = 0; j < e->filter_ids.cap && i < n; j++)
			if (e->filter_ids.slots[j] && e->filter_ids.slots[j]->layer == l)
				v[i++] = e->filter_ids.slots[j];
		qsort(v, i, sizeof(*v), dump_order);
		for (uint32_t j = 0; j < i && !r; j++)
			r = cb(v[j], arg);
		free(v);
		if (r)
			return r;
	}
	return 0;
}

int ag_engine_begin(ag_engine *e)
{
	if (e->in_txn)
		return -EBUSY;
	e->in_txn = true;
	e->txn_layers = 0;
	return 0;
}

int ag_engine_commit(ag_engine *e)
{
	if (!e->in_txn)
		return -EINVAL;
	e->in_txn = false;
	if (e->txn_layers)
		ag__filters_changed(e, e->txn_layers);
	e->txn_layers = 0;
	return 0;
}
