/*
 * rules.c — rules list, add, del, enable, disable.
 *
 * alegatectl checks the syntax that decides a value's JSON type (a numeric
 * user is a uid, "N-M" is a port range) and the fixed word lists; whether
 * an address, a path or a host name makes sense is alegated's to say, in
 * one place, for rule files and the control socket alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* A decimal number without sign or blanks, at most @max; -1 when it is not. */
static long long number(const char *s, long long max)
{
	long long v = 0;

	if (!*s || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* ---- list ------------------------------------------------------------------------------ */

/* The conditions as "app=/usr/bin/curl host=example.org port=443". */
static char *conditions(const json_t *r)
{
	static const char *const keys[] = { "app", "user", "remote", "host", "port", "proto",
					    "direction", "weight" };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	bool any = false;

	if (!f)
		abort();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(r, keys[i]);
		char *t;

		if (!v || json_is_null(v))
			continue;
		if (!strcmp(keys[i], "weight") && json_is_integer(v) && json_integer_value(v) == 0)
			continue;
		t = out_text(v);
		fprintf(f, "%s%s=%s", any ? " " : "", keys[i], t);
		free(t);
		any = true;
	}
	if (!any)
		fputs("any flow", f);
	fclose(f);
	return out;
}

static char *lifetime(const json_t *r)
{
	const char *l = str(r, "lifetime");
	const json_t *left = json_object_get(r, "expires_in_ms");
	char d[AG_DURATION_TEXT_MAX], *s;

	if (!l)
		return strdup("-");
	if (!strcmp(l, "timed") && json_is_integer(left) && json_integer_value(left) >= 0) {
		ag_duration_format((uint64_t)json_integer_value(left), d, sizeof(d));
		if (asprintf(&s, "%s left", d) < 0)
			abort();
		return s;
	}
	if (!strncmp(l, "until-", 6))
		l += 6;
	return ag_ctl_sanitize(strdup(l));
}

int cmd_rules_list(struct cli *cli, struct cli_args *a)
{
	static const char *const head[] = { "ID", "ACTION", "ON", "LIFETIME", "MATCH", "NAME" };
	static const unsigned flags[] = { COL_SHRINK_LAST | COL_CUT_END, 0, 0, 0,
					  COL_SHRINK_LAST | COL_CUT_END, COL_SHRINK | COL_CUT_END };
	struct ag_ctl_conn *c = cli_connect(cli);
	struct table t;
	bool names = false;
	json_t *res, *r;
	size_t i;
	int ret;

	if (!c)
		return EXIT_FAILED;
	ret = cli_call(c, json_pack("{s:s}", "op", "rules.list"), &res);
	ag_ctl_close(c);
	if (ret)
		return ret;
	if (cli->json) {
		out_json(res);
		json_decref(res);
		return EXIT_DONE;
	}
	if (json_array_size(res) == 0) {
		printf("no rule\n");
		json_decref(res);
		return EXIT_DONE;
	}
	json_array_foreach(res, i, r)
		if (str(r, "name") && *str(r, "name"))
			names = true;
	/* Without any name, the NAME column would be a column of "-". */
	if (names) {
		table_init(&t, 6, head, flags);
	} else {
		static const char *const head5[] = { "ID", "ACTION", "ON", "LIFETIME", "MATCH" };
		static const unsigned flags5[] = { COL_SHRINK_LAST | COL_CUT_END, 0, 0, 0,
						   COL_SHRINK_LAST | COL_CUT_END };

		table_init(&t, 5, head5, flags5);
	}
	json_array_foreach(res, i, r) {
		char *id = out_text(json_object_get(r, "id")), *life = lifetime(r);
		char *match = conditions(r);
		const json_t *en = json_object_get(r, "enabled");
		const char *on = json_is_boolean(en) ? (json_is_true(en) ? "yes" : "no") : "-";
		const char *cells6[] = { id, str(r, "action"), on, life, match, str(r, "name") };
		const char *cells5[] = { id, str(r, "action"), on, life, match };

		table_add(&t, names ? cells6 : cells5);
		free(id);
		free(life);
		free(match);
	}
	table_fit(&t, out_width());
	table_print(&t);
	table_free(&t);
	json_decref(res);
	return EXIT_DONE;
}

/* Set a string field, refusing what JSON cannot carry (not UTF-8). */
static int set_str(struct cli *cli, json_t *rule, const char *key, const char *v)
{
	json_t *s = json_string(v);

	if (!s)
		return cli_usage_error(cli, "--%s is not valid UTF-8 text", key);
	json_object_set_new(rule, key, s);
	return 0;
}

/* ---- add --------------------------------------------------------------------------------- */

static int build_rule(struct cli *cli, struct cli_args *a, json_t *rule)
{
	static const char *const actions[] = { "allow", "deny", "reject", "ask", NULL };
	static const char *const protos[] = { "tcp", "udp", "icmp", "icmpv6", NULL };
	static const char *const dirs[] = { "out", "in", NULL };
	const char *v;
	long long n, m;

	v = a->val[OPT_ACTION];
	if (!v)
		return cli_usage_error(cli, "--action is required (allow, deny, reject or ask)");
	if (!in_list(v, actions))
		return cli_usage_error(cli, "unknown action \"%s\" (use allow, deny, reject or ask)", v);
	json_object_set_new(rule, "action", json_string(v));
	if (a->val[OPT_NAME] && set_str(cli, rule, "name", a->val[OPT_NAME]))
		return EXIT_USAGE;
	if (a->val[OPT_APP] && set_str(cli, rule, "app", a->val[OPT_APP]))
		return EXIT_USAGE;
	v = a->val[OPT_USER];
	if (v) {
		if (!*v)
			return cli_usage_error(cli, "--user is empty");
		n = number(v, 4294967294LL);
		if (n >= 0)
			json_object_set_new(rule, "user", json_integer(n));
		else if (set_str(cli, rule, "user", v))
			return EXIT_USAGE;
	}
	if (a->val[OPT_REMOTE] && set_str(cli, rule, "remote", a->val[OPT_REMOTE]))
		return EXIT_USAGE;
	if (a->val[OPT_HOST] && set_str(cli, rule, "host", a->val[OPT_HOST]))
		return EXIT_USAGE;
	v = a->val[OPT_PORT];
	if (v) {
		const char *dash = strchr(v, '-');

		if (!dash) {
			n = number(v, 65535);
			if (n < 1)
				return cli_usage_error(cli, "bad port \"%s\" (a port 1-65535 or a range N-M)", v);
			json_object_set_new(rule, "port", json_integer(n));
		} else {
			char lo[8];

			snprintf(lo, sizeof(lo), "%.*s", (int)(dash - v) < 7 ? (int)(dash - v) : 7, v);
			n = (dash - v) < 7 ? number(lo, 65535) : -1;
			m = number(dash + 1, 65535);
			if (n < 1 || m < 1)
				return cli_usage_error(cli, "bad port range \"%s\" (N-M, ports 1-65535)", v);
			if (n > m)
				return cli_usage_error(cli, "bad port range \"%s\": %lld is above %lld", v, n, m);
			json_object_set_new(rule, "port", json_string(v));
		}
	}
	v = a->val[OPT_PROTO];
	if (v) {
		n = number(v, 255);
		if (n >= 0)
			json_object_set_new(rule, "proto", json_integer(n));
		else if (in_list(v, protos))
			json_object_set_new(rule, "proto", json_string(v));
		else
			return cli_usage_error(cli, "unknown protocol \"%s\" (use tcp, udp, icmp, icmpv6 "
					       "or a number 0-255)", v);
	}
	v = a->val[OPT_DIRECTION];
	if (v) {
		if (!in_list(v, dirs))
			return cli_usage_error(cli, "unknown direction \"%s\" (use out or in)", v);
		json_object_set_new(rule, "direction", json_string(v));
	}
	v = a->val[OPT_WEIGHT];
	if (v) {
		char *end;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (!*v || *end || errno || n < -1000000 || n > 1000000)
			return cli_usage_error(cli, "bad weight \"%s\" (an integer)", v);
		json_object_set_new(rule, "weight", json_integer(n));
	}
	switch (a->duration) {
	case OPT_FOR:
		json_object_set_new(rule, "lifetime", json_string("timed"));
		json_object_set_new(rule, "expires_in_ms", json_integer((json_int_t)a->for_ms));
		break;
	case OPT_UNTIL_QUIT:
		json_object_set_new(rule, "lifetime", json_string("until-quit"));
		break;
	case OPT_UNTIL_RESTART:
		json_object_set_new(rule, "lifetime", json_string("until-restart"));
		break;
	default:
		json_object_set_new(rule, "lifetime", json_string("always"));
		break;
	}
	return 0;
}

int cmd_rules_add(struct cli *cli, struct cli_args *a)
{
	json_t *rule = json_object(), *res;
	struct ag_ctl_conn *c;
	char what[80];
	int r = build_rule(cli, a, rule);
	char *id;

	if (r) {
		json_decref(rule);
		return r;
	}
	c = cli_connect(cli);
	if (!c) {
		json_decref(rule);
		return EXIT_FAILED;
	}
	r = cli_call(c, json_pack("{s:s, s:o}", "op", "rules.add", "rule", rule), &res);
	if (r) {
		ag_ctl_close(c);
		return r;
	}
	id = out_text(json_object_get(res, "rule"));
	if (cli->json)
		out_json(res);
	else
		printf("added rule %s\n", id);
	if (a->duration == OPT_UNTIL_QUIT) {
		snprintf(what, sizeof(what), "rule %s", id);
		r = cli_hold(c, what);
	}
	free(id);
	json_decref(res);
	ag_ctl_close(c);
	return r;
}

/* ---- del, enable, disable --------------------------------------------------------------------- */

static int by_id(struct cli *cli, struct cli_args *a, const char *op, const char *done)
{
	struct ag_ctl_conn *c;
	json_t *res;
	char *id;
	int r;

	if (!*a->pos[0])
		return cli_usage_error(cli, "the rule ID is empty");
	c = cli_connect(cli);
	if (!c)
		return EXIT_FAILED;
	/* Rule ids are strings, even when they look like numbers. */
	r = cli_call(c, json_pack("{s:s, s:s}", "op", op, "rule", a->pos[0]), &res);
	ag_ctl_close(c);
	if (r)
		return r;
	if (cli->json) {
		out_json(res);
	} else {
		id = ag_ctl_sanitize(strdup(a->pos[0]));
		printf("%s rule %s\n", done, id);
		free(id);
	}
	json_decref(res);
	return EXIT_DONE;
}

int cmd_rules_del(struct cli *cli, struct cli_args *a)
{
	return by_id(cli, a, "rules.del", "deleted");
}

int cmd_rules_enable(struct cli *cli, struct cli_args *a)
{
	return by_id(cli, a, "rules.enable", "enabled");
}

int cmd_rules_disable(struct cli *cli, struct cli_args *a)
{
	return by_id(cli, a, "rules.disable", "disabled");
}
