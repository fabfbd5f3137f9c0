/*
 * rule.c — a rule as a value: its initial state, the names of its enum
 * values, its protocols, and whether two rules are the same file.
 */
#include <stdio.h>
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

/* The user condition as a file holds it: the name given, or the uid. */
static const char *user_text(const struct ag_rule *r, char *buf, size_t size)
{
	if (r->has & AG_RULE_HAS_USER)
		return r->user;
	if (r->has & AG_RULE_HAS_UID) {
		snprintf(buf, size, "%u", r->uid);
		return buf;
	}
	return "";
}

static bool lists_equal(const struct ag_rule *a, const struct ag_rule *b, unsigned has)
{
	if ((has & AG_RULE_HAS_HOST_LIST) && strcmp(a->host_list, b->host_list))
		return false;
	return !(has & AG_RULE_HAS_REMOTE_LIST) || !strcmp(a->remote_list, b->remote_list);
}

bool ag_rule_equal(const struct ag_rule *a, const struct ag_rule *b)
{
	/* Both user bits fold into one condition: resolving a name to a uid,
	 * or setting only the uid, changes nothing in the file. */
	unsigned users = AG_RULE_HAS_USER | AG_RULE_HAS_UID;
	unsigned has = a->has & ~users;
	char bufa[16], bufb[16];

	if (strcmp(user_text(a, bufa, sizeof(bufa)), user_text(b, bufb, sizeof(bufb))))
		return false;

	if (strcmp(a->id, b->id) || strcmp(a->name, b->name) || a->action != b->action ||
	    strcmp(a->callout, b->callout) ||
	    a->enabled != b->enabled || a->weight != b->weight || has != (b->has & ~users))
		return false;
	if ((has & AG_RULE_HAS_APP) && strcmp(a->app, b->app))
		return false;
	if ((has & AG_RULE_HAS_REMOTE) &&
	    (a->remote_family != b->remote_family || a->remote_plen != b->remote_plen ||
	     memcmp(a->remote_addr, b->remote_addr, a->remote_family == AF_INET ? 4 : 16)))
		return false;
	if ((has & AG_RULE_HAS_HOST) && strcmp(a->host, b->host))
		return false;
	if (!lists_equal(a, b, has))
		return false;
	if ((has & AG_RULE_HAS_PORT) && (a->port_min != b->port_min || a->port_max != b->port_max))
		return false;
	if ((has & AG_RULE_HAS_PROTO) && a->proto != b->proto)
		return false;
	if ((has & AG_RULE_HAS_DIRECTION) && a->direction != b->direction)
		return false;
	if ((has & AG_RULE_HAS_CREATED) && a->created != b->created)
		return false;
	if ((has & AG_RULE_HAS_SHA256) && memcmp(a->sha256, b->sha256, sizeof(a->sha256)))
		return false;
	return true;
}
