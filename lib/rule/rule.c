/*
 * rule.c — a rule as a value: its initial state, the names of its enum
 * values, its protocols, and whether two rules are the same file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "rule/internal.h"

const char *const ag__rule_action_names[] = { "allow", "deny", "reject", "ask", "callout", NULL };
const char *const ag__rule_lifetime_names[] = { "always", "until-restart", "until-quit",
					       "timed", NULL };
const char *const ag__rule_direction_names[] = { "out", "in", NULL };

static const struct {
	const char *name;
	uint8_t num;
} protos[] = {
	{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 },
};

const char *ag_rule_action_name(enum ag_rule_action action)
{
	return (unsigned)action < 5 ? ag__rule_action_names[action] : "?";
}

const char *ag_rule_lifetime_name(enum ag_rule_lifetime lifetime)
{
	return (unsigned)lifetime < 4 ? ag__rule_lifetime_names[lifetime] : "?";
}

void ag_rule_init(struct ag_rule *rule)
{
	memset(rule, 0, sizeof(*rule));
	rule->action = AG_RULE_DENY;
	rule->enabled = true;
	rule->lifetime = AG_RULE_ALWAYS;
}

void ag_rule_free(struct ag_rule *rule)
{
	if (rule->view) {	/* a view owns nothing */
		ag_rule_init(rule);
		return;
	}
	for (unsigned i = 0; i < rule->n_app; i++)
		free(rule->app[i].path);
	for (unsigned i = 0; i < rule->n_user; i++)
		free(rule->user[i].name);
	for (unsigned i = 0; i < rule->n_host; i++)
		free(rule->host[i].name);
	free(rule->app);
	free(rule->user);
	free(rule->remote);
	free(rule->host);
	free(rule->port);
	free(rule->proto);
	free(rule->name);
	free(rule->callout);
	free(rule->source);
	free(rule->host_list);
	free(rule->remote_list);
	ag_rule_init(rule);
}

/* A copy of @s, or NULL for NULL; *fail set when memory ran out. */
static char *dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static void *dup_array(const void *src, size_t n, size_t size, bool *fail)
{
	void *d;

	if (!n)
		return NULL;
	d = malloc(n * size);
	if (!d) {
		*fail = true;
		return NULL;
	}
	memcpy(d, src, n * size);
	return d;
}

int ag_rule_copy(struct ag_rule *dst, const struct ag_rule *src)
{
	bool fail = false;

	*dst = *src;
	dst->view = false;
	/* Nothing of src is shared: every pointer is replaced (or NULL) before
	 * dst can be freed. */
	dst->name = dup_or_null(src->name, &fail);
	dst->callout = dup_or_null(src->callout, &fail);
	dst->source = dup_or_null(src->source, &fail);
	dst->host_list = dup_or_null(src->host_list, &fail);
	dst->remote_list = dup_or_null(src->remote_list, &fail);
	dst->app = dup_array(src->app, src->n_app, sizeof(*src->app), &fail);
	dst->user = dup_array(src->user, src->n_user, sizeof(*src->user), &fail);
	dst->remote = dup_array(src->remote, src->n_remote, sizeof(*src->remote), &fail);
	dst->host = dup_array(src->host, src->n_host, sizeof(*src->host), &fail);
	dst->port = dup_array(src->port, src->n_port, sizeof(*src->port), &fail);
	dst->proto = dup_array(src->proto, src->n_proto, sizeof(*src->proto), &fail);
	if (!dst->app)
		dst->n_app = 0;
	if (!dst->user)
		dst->n_user = 0;
	if (!dst->host)
		dst->n_host = 0;
	for (unsigned i = 0; i < dst->n_app; i++)
		dst->app[i].path = dup_or_null(src->app[i].path, &fail);
	for (unsigned i = 0; i < dst->n_user; i++)
		dst->user[i].name = dup_or_null(src->user[i].name, &fail);
	for (unsigned i = 0; i < dst->n_host; i++)
		dst->host[i].name = dup_or_null(src->host[i].name, &fail);
	if (fail) {
		ag_rule_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* Before a setter changes a view (of a packed rule, which it must not
 * change): allocations of its own. */
static int unpack(struct ag_rule *rule)
{
	struct ag_rule loose;

	if (!rule->view)
		return 0;
	if (ag_rule_copy(&loose, rule))
		return -ENOMEM;
	*rule = loose;
	return 0;
}

static int set_str(struct ag_rule *rule, char **field, const char *s)
{
	char *d = NULL;

	if (unpack(rule))
		return -ENOMEM;
	if (s && s[0] && !(d = strdup(s)))
		return -ENOMEM;
	free(*field);
	*field = d;
	return 0;
}

int ag_rule_set_name(struct ag_rule *rule, const char *name)
{
	return set_str(rule, &rule->name, name);
}

int ag_rule_set_callout(struct ag_rule *rule, const char *callout)
{
	return set_str(rule, &rule->callout, callout);
}

int ag_rule_set_source(struct ag_rule *rule, const char *source)
{
	return set_str(rule, &rule->source, source);
}

int ag_rule_set_host_list(struct ag_rule *rule, const char *path)
{
	int r = set_str(rule, &rule->host_list, path);

	if (!r && rule->host_list)
		rule->has |= AG_RULE_HAS_HOST_LIST;
	else if (!r)
		rule->has &= ~AG_RULE_HAS_HOST_LIST;
	return r;
}

int ag_rule_set_remote_list(struct ag_rule *rule, const char *path)
{
	int r = set_str(rule, &rule->remote_list, path);

	if (!r && rule->remote_list)
		rule->has |= AG_RULE_HAS_REMOTE_LIST;
	else if (!r)
		rule->has &= ~AG_RULE_HAS_REMOTE_LIST;
	return r;
}

/*
 * Room for one more value in *@arr (@n values of @size bytes): the array
 * grows one value at a time, so a rule holds no slack.
 */
static int grow(struct ag_rule *rule, void *arr, uint8_t n, size_t size)
{
	void *p;

	if (unpack(rule))
		return -ENOMEM;
	if (n >= AG_RULE_VALUES_MAX)
		return -E2BIG;
	p = realloc(*(void **)arr, ((size_t)n + 1) * size);
	if (!p)
		return -ENOMEM;
	*(void **)arr = p;
	return 0;
}

int ag_rule_add_app(struct ag_rule *rule, const char *path)
{
	char *d;
	int r = grow(rule, &rule->app, rule->n_app, sizeof(*rule->app));

	if (r)
		return r;
	if (!(d = strdup(path)))
		return -ENOMEM;
	rule->app[rule->n_app].path = d;
	rule->app[rule->n_app++].glob = strpbrk(d, "*?[") != NULL;
	rule->has |= AG_RULE_HAS_APP;
	return 0;
}

static int add_user(struct ag_rule *rule, const char *name, uint32_t uid, bool known)
{
	char *d = NULL;
	int r = grow(rule, &rule->user, rule->n_user, sizeof(*rule->user));

	if (r)
		return r;
	if (name && !(d = strdup(name)))
		return -ENOMEM;
	rule->user[rule->n_user].name = d;
	rule->user[rule->n_user].uid = uid;
	rule->user[rule->n_user].uid_known = known;
	if (known && (rule->n_user == 0 || (rule->has & AG_RULE_HAS_UID)))
		rule->has |= AG_RULE_HAS_UID;
	else
		rule->has &= ~AG_RULE_HAS_UID;
	rule->n_user++;
	rule->has |= AG_RULE_HAS_USER;
	return 0;
}

int ag_rule_add_user_name(struct ag_rule *rule, const char *name)
{
	return add_user(rule, name, 0, false);
}

int ag_rule_add_uid(struct ag_rule *rule, uint32_t uid)
{
	return add_user(rule, NULL, uid, true);
}

int ag_rule_add_remote(struct ag_rule *rule, int family, const void *addr, unsigned plen)
{
	struct ag_rule_remote *v;
	int r = grow(rule, &rule->remote, rule->n_remote, sizeof(*rule->remote));

	if (r)
		return r;
	v = &rule->remote[rule->n_remote++];
	memset(v, 0, sizeof(*v));
	v->family = (uint8_t)family;
	v->plen = (uint8_t)plen;
	memcpy(v->addr, addr, family == AF_INET ? 4 : 16);
	rule->has |= AG_RULE_HAS_REMOTE;
	return 0;
}

int ag_rule_add_host(struct ag_rule *rule, const char *name)
{
	char *d;
	int r = grow(rule, &rule->host, rule->n_host, sizeof(*rule->host));

	if (r)
		return r;
	if (!(d = strdup(name)))
		return -ENOMEM;
	rule->host[rule->n_host].name = d;
	rule->host[rule->n_host++].wildcard = d[0] == '*' && d[1] == '.';
	rule->has |= AG_RULE_HAS_HOST;
	return 0;
}

int ag_rule_add_port(struct ag_rule *rule, uint16_t lo, uint16_t hi)
{
	int r = grow(rule, &rule->port, rule->n_port, sizeof(*rule->port));

	if (r)
		return r;
	rule->port[rule->n_port].lo = lo;
	rule->port[rule->n_port++].hi = hi;
	rule->has |= AG_RULE_HAS_PORT;
	return 0;
}

int ag_rule_add_proto(struct ag_rule *rule, uint8_t proto)
{
	int r = grow(rule, &rule->proto, rule->n_proto, sizeof(*rule->proto));

	if (r)
		return r;
	rule->proto[rule->n_proto++] = proto;
	rule->has |= AG_RULE_HAS_PROTO;
	return 0;
}

bool ag_rule_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		char c = id[n];

		if (n >= AG_RULE_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

int ag__rule_proto_number(const char *name)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcasecmp(name, protos[i].name) == 0)
			return protos[i].num;
	return -1;
}

const char *ag__rule_proto_name(uint8_t proto, char *buf, size_t size)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	snprintf(buf, size, "%u", proto);
	return buf;
}

uint64_t ag__rule_boottime_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Two user values are the same in a file: the name given, or the uid. */
static bool user_same(const struct ag_rule_user *a, const struct ag_rule_user *b)
{
	if (a->name || b->name)
		return a->name && b->name && strcmp(a->name, b->name) == 0;
	return a->uid == b->uid;
}

static bool remote_same(const struct ag_rule_remote *a, const struct ag_rule_remote *b)
{
	return a->family == b->family && a->plen == b->plen &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static bool lists_equal(const struct ag_rule *a, const struct ag_rule *b, unsigned has)
{
	if ((has & AG_RULE_HAS_HOST_LIST) &&
	    strcmp(ag_rule_str(a->host_list), ag_rule_str(b->host_list)))
		return false;
	return !(has & AG_RULE_HAS_REMOTE_LIST) ||
	       !strcmp(ag_rule_str(a->remote_list), ag_rule_str(b->remote_list));
}

bool ag_rule_equal(const struct ag_rule *a, const struct ag_rule *b)
{
	/* A user name resolved to its uid changes nothing in the file. */
	unsigned has = a->has & ~AG_RULE_HAS_UID;

	if (strcmp(a->id, b->id) || strcmp(ag_rule_str(a->name), ag_rule_str(b->name)) ||
	    a->action != b->action ||
	    strcmp(ag_rule_str(a->callout), ag_rule_str(b->callout)) ||
	    a->enabled != b->enabled || a->weight != b->weight || has != (b->has & ~AG_RULE_HAS_UID))
		return false;
	if (a->n_app != b->n_app || a->n_user != b->n_user || a->n_remote != b->n_remote ||
	    a->n_host != b->n_host || a->n_port != b->n_port || a->n_proto != b->n_proto)
		return false;
	for (unsigned i = 0; i < a->n_app; i++)
		if (strcmp(a->app[i].path, b->app[i].path))
			return false;
	for (unsigned i = 0; i < a->n_user; i++)
		if (!user_same(&a->user[i], &b->user[i]))
			return false;
	for (unsigned i = 0; i < a->n_remote; i++)
		if (!remote_same(&a->remote[i], &b->remote[i]))
			return false;
	for (unsigned i = 0; i < a->n_host; i++)
		if (strcmp(a->host[i].name, b->host[i].name))
			return false;
	for (unsigned i = 0; i < a->n_port; i++)
		if (a->port[i].lo != b->port[i].lo || a->port[i].hi != b->port[i].hi)
			return false;
	if (!lists_equal(a, b, has))
		return false;
	if (a->n_proto && memcmp(a->proto, b->proto, a->n_proto))
		return false;
	if ((has & AG_RULE_HAS_DIRECTION) && a->direction != b->direction)
		return false;
	if ((has & AG_RULE_HAS_CREATED) && a->created != b->created)
		return false;
	if ((has & AG_RULE_HAS_SHA256) && memcmp(a->sha256, b->sha256, sizeof(a->sha256)))
		return false;
	return true;
}

bool ag__rule_dns_name(const char *s, size_t n, size_t max)
{
	size_t label = 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = i < n ? s[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || (ch == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}
