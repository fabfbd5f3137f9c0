/*
 * rules.c — rules list, add, del, enable, disable.
 *
 * alegatectl turns the options of `rules add` into the protocol's rule
 * object (a numeric user is a uid, "N-M" is a port range) and checks it
 * with the rule library's own checks, the ones alegated applies to rule
 * files and the control socket, so the two can never disagree about what
 * a valid rule is.  What only the daemon can know (whether a user name
 * exists) is still alegated's to say.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rule/rule.h"

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
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

/* ---- what a rule matches, in words ----------------------------------------------------- */

char *cli_rule_text(const json_t *r, const char *quit)
{
	const char *action = str(r, "action");
	/* several values are written "a,b" */
	char *app = json_object_get(r, "app") ? out_text(json_object_get(r, "app")) : NULL;
	char *host = json_object_get(r, "host") ? out_text(json_object_get(r, "host")) : NULL;
	const char *dir = str(r, "direction"), *life = str(r, "lifetime");
	const json_t *user = json_object_get(r, "user"), *remote = json_object_get(r, "remote");
	const json_t *port = json_object_get(r, "port"), *proto = json_object_get(r, "proto");
	const json_t *left = json_object_get(r, "expires_in_ms");
	char *out = NULL, *t;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		abort();
	if (action && !strcmp(action, "callout") && str(r, "callout"))
		fprintf(f, "callout %s: ", str(r, "callout"));
	else
		fprintf(f, "%s ", action ? action : "?");
	if (app && *app && strcmp(app, "-"))
		fputs(app, f);
	else
		fputs("any program", f);
	if (user && !json_is_null(user)) {
		t = out_text(user);
		fprintf(f, " of user %s", t);
		free(t);
	}
	fputs(dir && !strcmp(dir, "in") ? " from " : dir ? " to " : " to or from ", f);
	if (host && *host && strcmp(host, "-")) {
		fputs(host, f);
	} else if (str(r, "host_list") || str(r, "remote_list")) {
		if (str(r, "host_list"))
			fprintf(f, "the names of %s", str(r, "host_list"));
		if (str(r, "host_list") && str(r, "remote_list"))
			fputs(" and ", f);
		if (str(r, "remote_list"))
			fprintf(f, "the addresses of %s", str(r, "remote_list"));
	} else if (remote && !json_is_null(remote)) {
		t = out_text(remote);
		fputs(t, f);
		free(t);
	} else {
		fputs("anywhere", f);
	}
	if (port && !json_is_null(port)) {
		t = out_text(port);
		fprintf(f, " port %s", t);
		free(t);
	}
	if (proto && !json_is_null(proto)) {
		t = out_text(proto);
		fprintf(f, " (%s)", t);
		free(t);
	}
	if (!life || !strcmp(life, "always")) {
		fputs(", always", f);
	} else if (!strcmp(life, "until-restart")) {
		fputs(", until alegated restarts", f);
	} else if (!strcmp(life, "until-quit")) {
		fprintf(f, ", %s", quit);
	} else if (!strcmp(life, "timed") && json_is_integer(left) && json_integer_value(left) >= 0) {
		char d[AG_DURATION_TEXT_MAX];

		fprintf(f, ", for %s",
			ag_duration_format((uint64_t)json_integer_value(left), d, sizeof(d)));
	}
	fclose(f);
	free(app);
	free(host);
	return ag_ctl_sanitize(out);
}

void cli_rule_notes(const json_t *reply, const char *quit,
		    void (*say)(void *arg, const char *line), void *arg)
{
	const json_t *nr = json_object_get(reply, "new_rule");
	const char *over = str(reply, "shadowed_by"), *warn = str(reply, "warning");
	char *line, *t;

	if (json_is_object(nr)) {
		t = cli_rule_text(nr, quit);
		if (asprintf(&line, "rule %s: %s", str(nr, "id") ? str(nr, "id") : "?", t) < 0)
			abort();
		say(arg, ag_ctl_sanitize(line));
		free(line);
		free(t);
	}
	if (over && *over) {
		/* Rules are tried by weight, then the more specific, then deny first. */
		if (asprintf(&line, "note: rule %s comes first for such flows and decides "
			     "otherwise; this rule does not change them (rules show %s)",
			     over, over) < 0)
			abort();
		say(arg, ag_ctl_sanitize(line));
		free(line);
	}
	if (warn && *warn) {
		if (asprintf(&line, "warning: %s", warn) < 0)
			abort();
		say(arg, ag_ctl_sanitize(line));
		free(line);
	}
}

/* ---- list ------------------------------------------------------------------------------ */

/* The conditions as "app=/usr/bin/curl host=example.org port=443". */
static char *conditions(const json_t *r)
{
	static const char *const keys[] = { "app", "sha256", "user", "remote", "host", "host_list",
					    "remote_list", "port", "proto", "direction", "weight" };
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
	struct table t;
	bool names = false;
	json_t *res, *r;
	size_t i;
	int ret;

	ret = cli_ask(cli, json_pack("{s:s}", "op", "rules.list"), &res);
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
	table_show(&t);
	json_decref(res);
	return EXIT_DONE;
}

/* Every field of one rule, a line each, and what it matches in words. */
int cmd_rules_show(struct cli *cli, struct cli_args *a)
{
	json_t *res, *r, *found = NULL, *v;
	const char *key;
	size_t i;
	int ret, w = 0;

	ret = cli_ask(cli, json_pack("{s:s}", "op", "rules.list"), &res);
	if (ret)
		return ret;
	json_array_foreach(res, i, r)
		if (str(r, "id") && !strcmp(str(r, "id"), a->pos[0]))
			found = r;
	if (!found) {
		char *q = ag_ctl_sanitize(strdup(a->pos[0]));

		cli_fail("no rule \"%s\" (rules list shows the ids)", q);
		free(q);
		json_decref(res);
		return EXIT_FAILED;
	}
	if (cli->json) {
		out_json(found);
	} else {
		char *t = cli_rule_text(found, "until the command that made it ends");

		printf("%s\n", t);
		free(t);
		json_object_foreach(found, key, v)
			if ((int)strlen(key) > w)
				w = (int)strlen(key);
		json_object_foreach(found, key, v) {
			char *k = ag_ctl_sanitize(strdup(key)), *val = out_text(v);

			printf("  %-*s  %s\n", w, k, val);
			free(k);
			free(val);
		}
	}
	json_decref(res);
	return EXIT_DONE;
}

/*
 * An --app that names no file, or not by its real path (a symbolic link,
 * or a linked directory such as /bin -> usr/bin), can never match: flows
 * carry the executable's real path.  A warning, not an error: the program
 * may be installed later.
 */
static void warn_app(const char *app)
{
	char *real, *q;

	if (strpbrk(app, "*?[") || app[0] != '/')
		return;
	q = ag_ctl_sanitize(strdup(app));
	real = realpath(app, NULL);
	if (!real) {
		fprintf(stderr, "alegatectl: warning: --app \"%s\" does not exist: the rule matches "
			"nothing until it does\n", q);
	} else if (strcmp(real, app) != 0) {
		ag_ctl_sanitize(real);
		fprintf(stderr, "alegatectl: warning: --app \"%s\" is not the program's real path "
			"(%s): flows carry the real path, so the rule never matches; use --app %s\n",
			q, real, real);
	}
	free(real);
	free(q);
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

static void say_stdout(void *arg, const char *line)
{
	printf("%s\n", line);
}

/* An option's value as a JSON integer when it is one, else as a string. */
static json_t *integer_or_string(const char *v)
{
	long long n = number(v, 999999999999LL);

	return n >= 0 ? json_integer(n) : json_string(v);
}

/*
 * --host-list and --remote-list: the daemon reads the file, so a relative
 * path is made absolute here (the file need not exist yet: the daemon
 * says so).
 */
static int set_lists(struct cli *cli, struct cli_args *a, json_t *rule)
{
	static const struct {
		enum opt_id opt;
		const char *key;
	} lists[] = { { OPT_HOST_LIST, "host_list" }, { OPT_REMOTE_LIST, "remote_list" } };

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const char *v = a->val[lists[i].opt];
		char *abs = NULL, cwd[4096];
		int r;

		if (!v)
			continue;
		if (v[0] != '/') {
			if (!getcwd(cwd, sizeof(cwd)))
				return cli_usage_error(cli, "--%s: cannot tell the current directory",
						       lists[i].key);
			if (asprintf(&abs, "%s/%s", cwd, v) < 0)
				return cli_usage_error(cli, "out of memory");
		}
		r = set_str(cli, rule, lists[i].key, abs ? abs : v);
		free(abs);
		if (r)
			return EXIT_USAGE;
	}
	return 0;
}

/*
 * The values of an option given more than once, as a JSON array (NULL when
 * given once).  Besides the app, whose path may hold a comma, each value
 * may itself be a comma list: "--port 80,443 --port 8080" is three ports.
 * Numbers stay numbers, as for one value.
 */
static json_t *repeated(const struct cli_args *a, enum opt_id opt)
{
	json_t *arr;
	unsigned n = 0;

	for (unsigned i = 0; i < a->nrep; i++)
		n += a->rep_id[i] == opt;
	if (n < 2 || !(arr = json_array()))
		return NULL;
	for (unsigned i = 0; i < a->nrep; i++) {
		const char *v = a->rep[i];

		if (a->rep_id[i] != opt)
			continue;
		if (opt == OPT_APP) {
			json_array_append_new(arr, json_string(v));
			continue;
		}
		for (;;) {
			size_t len = strcspn(v, ",");
			char *piece = strndup(v, len);

			if (!piece) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, opt == OPT_REMOTE || opt == OPT_HOST
							   ? json_string(piece)
							   : integer_or_string(piece));
			free(piece);
			if (!v[len])
				break;
			v += len + 1;
		}
	}
	return arr;
}

static int build_rule(struct cli *cli, struct cli_args *a, json_t *rule)
{
	static const struct {
		enum opt_id opt;
		const char *key;
	} text[] = {
		{ OPT_NAME, "name" }, { OPT_CALLOUT, "callout" }, { OPT_APP, "app" }, { OPT_REMOTE, "remote" },
		{ OPT_HOST, "host" }, { OPT_DIRECTION, "direction" }, { OPT_SHA256, "sha256" },
	}, lists[] = {
		{ OPT_APP, "app" }, { OPT_USER, "user" }, { OPT_REMOTE, "remote" },
		{ OPT_HOST, "host" }, { OPT_PORT, "port" }, { OPT_PROTO, "proto" },
	};
	char err[AG_RULE_ERR_MAX], line[AG_RULE_ERR_MAX];
	struct ag_rule checked;
	const char *v;

	v = a->val[OPT_ACTION];
	if (!v)
		return cli_usage_error(cli,
				       "--action is required (allow, deny, reject, ask or callout)");
	/* the rule library checks the name; here only that the two go together */
	if (!strcmp(v, "callout") != !!a->val[OPT_CALLOUT])
		return cli_usage_error(cli, "--action callout and --callout NAME go together");
	if (set_str(cli, rule, "action", v))
		return EXIT_USAGE;
	if (!strcmp(v, "allow") && !a->val[OPT_ANY] && !a->val[OPT_APP] && !a->val[OPT_USER] &&
	    !a->val[OPT_REMOTE] && !a->val[OPT_HOST] && !a->val[OPT_PORT] && !a->val[OPT_PROTO] &&
	    !a->val[OPT_DIRECTION] && !a->val[OPT_SHA256] && !a->val[OPT_HOST_LIST] &&
	    !a->val[OPT_REMOTE_LIST])
		return cli_usage_error(cli, "an allow rule without a condition allows every flow: "
				       "give a condition, or --any if that is meant");
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (a->val[text[i].opt] && set_str(cli, rule, text[i].key, a->val[text[i].opt]))
			return EXIT_USAGE;
	if (set_lists(cli, a, rule))
		return EXIT_USAGE;
	/* A uid, a single port and a protocol number are numbers in JSON. */
	if ((v = a->val[OPT_USER]) && number(v, 4294967294LL) >= 0)
		json_object_set_new(rule, "user", json_integer(number(v, 4294967294LL)));
	else if (v && set_str(cli, rule, "user", v))
		return EXIT_USAGE;
	if ((v = a->val[OPT_PORT]) && !strchr(v, '-'))
		json_object_set_new(rule, "port", integer_or_string(v));
	else if (v && set_str(cli, rule, "port", v))
		return EXIT_USAGE;
	if ((v = a->val[OPT_PROTO]))
		json_object_set_new(rule, "proto", integer_or_string(v));
	/* An option given several times: a JSON array of every value. */
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		json_t *arr = repeated(a, lists[i].opt);

		if (arr)
			json_object_set_new(rule, lists[i].key, arr);
	}
	if ((v = a->val[OPT_WEIGHT])) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		json_object_set_new(rule, "weight", *v && !*end && !errno ? json_integer(n)
									 : json_string(v));
		if (!json_object_get(rule, "weight"))
			return cli_usage_error(cli, "--weight is not valid UTF-8 text");
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
	/* The daemon's checks, with its words: nothing is sent that it refuses. */
	if (ag_rule_from_json(rule, AG_RULE_JSON_CONTROL, &checked, err, sizeof(err)))
		return cli_usage_error(cli, "%s",
				       ag_rule_err_join(line, sizeof(line), err[0] ? err : "invalid rule"));
	ag_rule_free(&checked);
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
	if (a->val[OPT_APP])
		warn_app(a->val[OPT_APP]);
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
	if (cli->json) {
		out_json(res);
	} else {
		printf("added rule %s\n", id);
		cli_rule_notes(res, "until this command ends", say_stdout, NULL);
	}
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
	json_t *res;
	char *id;
	int r;

	if (!*a->pos[0])
		return cli_usage_error(cli, "the rule ID is empty");
	/* Rule ids are strings, even when they look like numbers. */
	r = cli_ask(cli, json_pack("{s:s, s:s}", "op", op, "rule", a->pos[0]), &res);
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
