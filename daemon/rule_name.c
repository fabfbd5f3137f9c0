/*
 * daemon/rule_name.c — the name a rule made without one is given
 * (policy.c, agd_rule_add()): what it lets through, as a person says it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/policy.h"
#include "net/packet.h"

/* A name a person can read, for a rule made without one: "curl to example.org". */
int agd_rule_default_name(struct ag_rule *r)
{
	const char *app = r->n_app ? r->app[0].path : NULL;
	const char *slash = app ? strrchr(app, '/') : NULL;
	const char *who = app ? (slash && slash[1] ? slash + 1 : app) : "any program";
	const char *dir = (r->has & AG_RULE_HAS_DIRECTION) && r->direction == AG_RULE_IN ? "from"
											     : "to";
	/* several values: the first, and "..." for the others */
	const char *more_app = r->n_app > 1 ? ",..." : "";
	char where[AG_RULE_HOST_MAX + 64] = "anywhere", port[32] = "", user[48] = "";
	char name[AG_RULE_NAME_MAX + 1];
	char sha[2 * AG_RULE_SHA256_LEN + 1], prog[40];

	/* a program named by its checksum alone: not "any program" */
	if ((r->has & AG_RULE_HAS_SHA256) && !r->n_app) {
		snprintf(prog, sizeof(prog), "sha256 %.12s...", ag_rule_sha256_hex(r->sha256, sha));
		who = prog;
	}
	if (r->n_host) {
		snprintf(where, sizeof(where), "%s%s", r->host[0].name, r->n_host > 1 ? ",..." : "");
	} else if (r->has & (AG_RULE_HAS_HOST_LIST | AG_RULE_HAS_REMOTE_LIST)) {
		const char *l = ag_rule_str((r->has & AG_RULE_HAS_HOST_LIST) ? r->host_list
									   : r->remote_list);
		const char *base = strrchr(l, '/');

		snprintf(where, sizeof(where), "list %.200s", base ? base + 1 : l);
	} else if (r->n_remote) {
		const struct ag_rule_remote *v = &r->remote[0];
		char a[AG_ADDR_STRLEN];

		if (ag_addr_format(v->family == AF_INET6 ? 6 : 4, v->addr, a, sizeof(a)) < 0)
			snprintf(a, sizeof(a), "?");
		if (v->plen == (v->family == AF_INET6 ? 128u : 32u))
			snprintf(where, sizeof(where), "%s%s", a, r->n_remote > 1 ? ",..." : "");
		else
			snprintf(where, sizeof(where), "%s/%u%s", a, v->plen,
				 r->n_remote > 1 ? ",..." : "");
	}
	if (r->n_port && r->port[0].lo == r->port[0].hi)
		snprintf(port, sizeof(port), " port%s %u%s", r->n_port > 1 ? "s" : "",
			 r->port[0].lo, r->n_port > 1 ? ",..." : "");
	else if (r->n_port)
		snprintf(port, sizeof(port), " ports %u-%u%s", r->port[0].lo, r->port[0].hi,
			 r->n_port > 1 ? ",..." : "");
	if (r->n_user && r->user[0].name)
		snprintf(user, sizeof(user), "%.32s%s", r->user[0].name, r->n_user > 1 ? ",..." : "");
	else if (r->n_user)
		snprintf(user, sizeof(user), "%u%s", r->user[0].uid, r->n_user > 1 ? ",..." : "");
	if (r->n_user && !r->n_app)
		snprintf(name, sizeof(name), "user %s %s %.180s%s", user, dir, where, port);
	else
		snprintf(name, sizeof(name), "%.40s%s %s %.180s%s", who, more_app, dir, where, port);
	return ag_rule_set_name(r, name);
}
