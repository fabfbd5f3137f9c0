/*
 * fastpath_engine.c — the edge between the engine and the fast path: the
 * engine's CONNECT filters read off as rule descriptors the compiler takes.
 * The only file of lib/linux that includes the engine's header
 * (fastpath_engine.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linux/fastpath_internal.h"
#include "linux/fastpath_engine.h"

/* ---- descriptors from the engine --------------------------------------------------- */

/* Memory a ruleset owns: one block per allocation, chained. */
struct blk {
	struct blk *next;
	max_align_t data[];
};

static void *rs_alloc(struct ag_fp_ruleset *rs, size_t size)
{
	struct blk *b = calloc(1, sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = rs->mem;
	rs->mem = b;
	return b->data;
}

void ag_fp_ruleset_free(struct ag_fp_ruleset *rs)
{
	struct blk *b = rs->mem;

	while (b) {
		struct blk *n = b->next;

		free(b);
		b = n;
	}
	free(rs->rules);
	memset(rs, 0, sizeof(*rs));
}

struct from_engine {
	const struct ag_fp_env *env;
	struct ag_fp_ruleset *rs;
	size_t cap;
	int err;
};

static bool has_wildcard(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/*
 * An address list: its prefixes join the rule's remote prefixes (ORed, as
 * the engine has the field's conditions), so the kernel's LPM trie holds
 * them; a list the daemon cannot hand out makes the rule a barrier.
 */
static int remote_set(struct from_engine *fe, const ag_condition *cd, struct ag_fp_rule *r,
		      size_t nplain, bool *unknown)
{
	struct ag_fp_prefix *a = NULL, *keep;
	size_t na = 0;

	if (!fe->env->set || fe->env->set(fe->env->arg, cd, &a, &na) < 0) {
		*unknown = true;
		return 0;
	}
	/* room for the plain prefixes still to come (conditions of one field
	 * come in the order given) */
	keep = rs_alloc(fe->rs, (r->nremote + na + nplain) * sizeof(*keep) + 1);
	if (!keep) {
		free(a);
		return -ENOMEM;
	}
	if (r->nremote)
		memcpy(keep, r->remote, r->nremote * sizeof(*keep));
	if (na)
		memcpy(keep + r->nremote, a, na * sizeof(*keep));
	free(a);
	r->remote = keep;
	r->nremote += na;
	r->has |= AG_FP_HAS_REMOTE;
	return 0;
}

/* Fill r from one filter's conditions.  Returns 1 to keep it, 0 to leave
 * it out (it can never match at CONNECT), or -ENOMEM. */
static int from_conditions(struct from_engine *fe, const ag_filter_spec *s, struct ag_fp_rule *r)
{
	const struct ag_fp_env *env = fe->env;
	unsigned seen = 0;	/* fields already met, 1u << ag_field */
	const unsigned ports = 1u << AG_FIELD_REMOTE_PORT | 1u << AG_FIELD_SERVICE_PORT;
	size_t nremote = 0, nhost = 0;
	bool dir_out = false, remote_unknown = false;

	for (size_t i = 0; i < s->n_conditions; i++) {
		const ag_condition *cd = &s->conditions[i];

		if (cd->field == AG_FIELD_REMOTE_ADDR && cd->match != AG_MATCH_SET)
			nremote++;
	}
	if (nremote) {
		struct ag_fp_prefix *p = rs_alloc(fe->rs, nremote * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->remote = p;
	}

	for (size_t i = 0; i < s->n_conditions; i++) {
		const ag_condition *cd = &s->conditions[i];
		unsigned bit = 1u << cd->field;
		bool again = seen & bit;

		seen |= bit;
		switch (cd->field) {
		case AG_FIELD_DIRECTION:
			/* At CONNECT the direction is always out (conditions on
			 * one field are ORed: one "out" is enough). */
			dir_out |= cd->v.u32 == AG_DIR_OUT;
			break;
		case AG_FIELD_IP_VERSION:
			if (again && r->family != cd->v.u32)
				r->has &= ~(unsigned)AG_FP_HAS_FAMILY; /* 4 or 6: any */
			else if (!again) {
				r->has |= AG_FP_HAS_FAMILY;
				r->family = (uint8_t)cd->v.u32;
			}
			break;
		case AG_FIELD_REMOTE_ADDR: {
			if (cd->match == AG_MATCH_SET) {
				int k = remote_set(fe, cd, r, nremote, &remote_unknown);

				if (k < 0)
					return k;
				break;
			}
			struct ag_fp_prefix *p = (struct ag_fp_prefix *)r->remote + r->nremote++;

			p->family = cd->v.addr.ip_version;
			p->plen = cd->v.addr.len;
			p->addr = cd->v.addr.bytes;
			r->has |= AG_FP_HAS_REMOTE;
			break;
		}
		case AG_FIELD_REMOTE_HOST: {
			struct ag_fp_prefix *a = NULL;
			size_t na = 0;

			r->has |= AG_FP_HAS_HOST;
			if (cd->match == AG_MATCH_SET) {
				/* a host list: the addresses the daemon vouches
				 * its names have now, as for a host condition */
				if (!env || !env->set || env->set(env->arg, cd, &a, &na) < 0) {
					r->evaluable = false;
					break;
				}
			} else if (!env || !env->host || !cd->v.str ||
				   env->host(env->arg, cd->v.str, cd->match == AG_MATCH_SUFFIX, &a,
					     &na) < 0) {
				r->evaluable = false;
				break;
			}
			/* Ours now, whatever happens next. */
			struct ag_fp_prefix *keep = NULL;
			size_t total = nhost + na;

			if (total) {
				keep = rs_alloc(fe->rs, total * sizeof(*keep));
				if (!keep) {
					free(a);
					return -ENOMEM;
				}
				if (nhost)
					memcpy(keep, r->host_addrs, nhost * sizeof(*keep));
				if (na)
					memcpy(keep + nhost, a, na * sizeof(*keep));
			}
			free(a);
			r->host_addrs = keep;
			nhost = total;
			r->nhost_addrs = nhost;
			break;
		}
		case AG_FIELD_SERVICE_PORT: /* of an outbound flow: the remote port */
		case AG_FIELD_REMOTE_PORT:
			/* ports ORed, or both fields (ANDed): left to the engine */
			if (again || (seen & ports) != bit) {
				r->evaluable = false;
				r->has &= ~(unsigned)AG_FP_HAS_PORT;
				break;
			}
			r->has |= AG_FP_HAS_PORT;
			if (cd->match == AG_MATCH_RANGE) {
				r->port_lo = (uint16_t)cd->v.range.lo;
				r->port_hi = (uint16_t)cd->v.range.hi;
			} else {
				r->port_lo = r->port_hi = (uint16_t)cd->v.u32;
			}
			break;
		case AG_FIELD_PROTOCOL:
			if (again) {
				r->evaluable = false;
				r->has &= ~(unsigned)AG_FP_HAS_PROTO;
				break;
			}
			r->has |= AG_FP_HAS_PROTO;
			r->proto = (uint8_t)cd->v.u32;
			break;
		case AG_FIELD_UID:
			if (again) {
				r->evaluable = false;
				r->has &= ~(unsigned)AG_FP_HAS_UID;
				break;
			}
			r->has |= AG_FP_HAS_UID;
			if (cd->match == AG_MATCH_RANGE) {
				r->uid_lo = cd->v.range.lo;
				r->uid_hi = cd->v.range.hi;
			} else {
				r->uid_lo = r->uid_hi = cd->v.u32;
			}
			break;
		case AG_FIELD_APP_PATH: {
			if (again || !cd->v.str) {
				r->evaluable = false;
				r->has &= ~(unsigned)AG_FP_HAS_APP;
				break;
			}
			size_t len = strlen(cd->v.str) + 1;
			char *app = rs_alloc(fe->rs, len);

			if (!app)
				return -ENOMEM;
			memcpy(app, cd->v.str, len);
			r->app = app;
			r->has |= AG_FP_HAS_APP;
			r->app_glob = cd->match == AG_MATCH_GLOB && has_wildcard(app);
			if (!r->app_glob) {
				int e = env && env->exe ? env->exe(env->arg, app, &r->exe)
							: ag_fp_exe_resolve(app, &r->exe);
				if (e < 0)
					r->exe.known = false;
			}
			break;
		}
		default:
			/* Local address or port, interface, gid, flags: the hook
			 * cannot see them (or not as the engine will). */
			r->evaluable = false;
			break;
		}
	}
	if ((seen & (1u << AG_FIELD_DIRECTION)) && !dir_out)
		return 0;
	if (remote_unknown) {
		/* a barrier that may match any address */
		r->evaluable = false;
		r->has &= ~(unsigned)AG_FP_HAS_REMOTE;
	}
	/* A condition repeated on an app, uid, port or protocol makes the
	 * rule a barrier above; remote prefixes and host addresses are
	 * sets, ORed, as the engine has them. */
	return 1;
}

static int from_filter(const ag_filter *f, void *arg)
{
	struct from_engine *fe = arg;
	ag_filter_spec s;
	struct ag_fp_rule r;
	int k;

	ag_filter_describe(f, &s);
	if (s.layer != AG_LAYER_ALE_AUTH_CONNECT || (s.flags & AG_FILTER_FLAG_DISABLED))
		return 0;
	if (s.action == AG_ACTION_CONTINUE || s.action == AG_ACTION_CALLOUT_INSPECTION)
		return 0; /* never decides: the next filter does */
	if (s.sublayer != fe->env->sublayer) {
		fe->err = -EOPNOTSUPP;
		return 1;
	}
	memset(&r, 0, sizeof(r));
	r.evaluable = true;
	r.id = s.id;
	r.expires_ns = s.lifetime == AG_LIFETIME_TIMED ? s.expires_ns : 0;
	switch (s.action) {
	case AG_ACTION_PERMIT:
		r.verdict = AG_FP_ALLOW;
		break;
	case AG_ACTION_BLOCK:
		r.verdict = AG_FP_DENY;
		break;
	default:
		r.verdict = AG_FP_PASS; /* a callout (ask) decides in user space */
		break;
	}
	k = from_conditions(fe, &s, &r);
	if (k < 0) {
		fe->err = k;
		return 1;
	}
	if (k == 0)
		return 0;
	if (ag__fp_grow((void **)&fe->rs->rules, &fe->cap, fe->rs->n + 1, sizeof(r))) {
		fe->err = -ENOMEM;
		return 1;
	}
	if (!r.evaluable)
		fe->rs->barriers++;
	fe->rs->rules[fe->rs->n++] = r;
	return 0;
}

int ag_fp_rules_from_engine(const ag_engine *e, const struct ag_fp_env *env,
			    struct ag_fp_ruleset *out)
{
	struct ag_fp_env none = { 0 };
	struct from_engine fe = { .env = env ? env : &none, .rs = out };

	memset(out, 0, sizeof(*out));
	ag_filter_dump(e, from_filter, &fe);
	if (fe.err) {
		ag_fp_ruleset_free(out);
		return fe.err;
	}
	return 0;
}
