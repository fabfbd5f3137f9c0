/*
 * import.c — rules export, rules import: alegate's rules as one JSON array
 * of rule-file objects, and OpenSnitch's rule directories.
 *
 * An import checks every rule before it sends any, so a bad file changes
 * nothing; a rule identical to one alegated has (id, name and creation
 * time aside) is skipped, so importing twice adds nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opensnitch.h"
#include "rule/rule.h"

int cmd_rules_export(struct cli *cli, struct cli_args *a)
{
	const char *file = a->npos ? a->pos[0] : "-";
	json_t *res, *r, *out;
	size_t i, left = 0;
	int ret;

	ret = cli_ask(cli, json_pack("{s:s}", "op", "rules.list"), &res);
	if (ret)
		return ret;
	out = json_array();
	/* Only what a rule file holds: the others end with alegated or a timer. */
	json_array_foreach(res, i, r) {
		const char *life = out_str(r, "lifetime");

		if (life && strcmp(life, "always") != 0) {
			left++;
			continue;
		}
		json_object_del(r, "lifetime");
		json_object_del(r, "expires_in_ms");
		json_array_append(out, r);
	}
	FILE *f = strcmp(file, "-") == 0 ? stdout : fopen(file, "w");

	ret = !f || json_dumpf(out, f, JSON_INDENT(2)) || fputc('\n', f) == EOF || fflush(f) ? -1 : 0;
	if (f && f != stdout && fclose(f) && !ret)
		ret = -1;
	if (ret)
		ret = cli_fail("cannot write %s: %s", file, strerror(errno));
	else if (left)
		fprintf(stderr, "alegatectl: %zu rules that are not saved to disk (until-restart, "
			"until-quit, timed) left out\n", left);
	json_decref(out);
	json_decref(res);
	return ret;
}

/* Whether @r equals a rule of @have, id, name and creation time aside. */
static const char *identical(const json_t *have, const struct ag_rule *r)
{
	const json_t *o;
	size_t i;

	json_array_foreach(have, i, o) {
		/* x only reads r's values (nothing is freed through it) */
		struct ag_rule h, x = *r;
		bool same;

		if (ag_rule_from_json(o, AG_RULE_JSON_CONTROL, &h, NULL, 0))
			continue;
		memcpy(x.id, h.id, sizeof(x.id));
		x.name = h.name;
		x.created = h.created;
		x.has = (x.has & ~AG_RULE_HAS_CREATED) | (h.has & AG_RULE_HAS_CREATED);
		same = h.lifetime == x.lifetime && ag_rule_equal(&x, &h);
		ag_rule_free(&h);
		if (same)
			return out_str(o, "id");
	}
	return NULL;
}

/*
 * Add every rule of @rules (checked already), printing a line each with
 * @label(i).  Return EXIT_DONE, or EXIT_FAILED when alegated refused one.
 */
static int add_all(struct cli *cli, json_t *rules, const char *const *labels, unsigned flags)
{
	struct ag_ctl_conn *c = cli_connect(cli);
	json_t *have, *o;
	size_t i, added = 0, same = 0;
	int ret = EXIT_DONE;

	if (!c)
		return EXIT_FAILED;
	if (cli_call(c, json_pack("{s:s}", "op", "rules.list"), &have)) {
		ag_ctl_close(c);
		return EXIT_FAILED;
	}
	json_array_foreach(rules, i, o) {
		struct ag_rule r;
		const char *id;
		json_t *res;
		char *text;

		if (ag_rule_from_json(o, flags, &r, NULL, 0))
			continue;	/* checked before: cannot happen */
		id = identical(have, &r);
		ag_rule_free(&r);
		if (id) {
			printf("%s: skipped, identical to rule %s\n", labels[i], id);
			same++;
			continue;
		}
		if (cli_call(c, json_pack("{s:s, s:O}", "op", "rules.add", "rule", o), &res)) {
			fprintf(stderr, "alegatectl: %s: not added\n", labels[i]);
			ret = EXIT_FAILED;
			continue;
		}
		text = cli_rule_text(json_object_get(res, "new_rule"), NULL);
		printf("%s: rule %s: %s\n", labels[i], out_str(res, "rule"), text ? text : "");
		free(text);
		json_decref(res);
		added++;
	}
	printf("%zu added, %zu skipped as identical to a rule alegated has\n", added, same);
	json_decref(have);
	ag_ctl_close(c);
	return ret;
}

static int import_file(struct cli *cli, const char *file)
{
	json_error_t jerr;
	json_t *rules = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr), *o;
	char **labels = NULL;
	size_t i, bad = 0;
	int ret = EXIT_USAGE;

	if (!rules) {
		fprintf(stderr, "alegatectl: %s:%d: %s\n", file, jerr.line, jerr.text);
		return EXIT_USAGE;
	}
	if (!json_is_array(rules)) {
		fprintf(stderr, "alegatectl: %s: not a JSON array of rules\n", file);
		goto cleanup;
	}
	labels = calloc(json_array_size(rules) + 1, sizeof(*labels));
	json_array_foreach(rules, i, o) {
		char err[AG_RULE_ERR_MAX];
		struct ag_rule r;

		if (asprintf(&labels[i], "%s:%zu", file, i) < 0)
			abort();
		if (!json_is_object(o)) {
			fprintf(stderr, "alegatectl: %s: not a rule object\n", labels[i]);
			bad++;
			continue;
		}
		if (ag_rule_from_json(o, 0, &r, err, sizeof(err)) == 0) {
			ag_rule_free(&r);
			continue;
		}
		for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
			fprintf(stderr, "alegatectl: %s: %s\n", labels[i], line);
		bad++;
	}
	if (bad) {
		fprintf(stderr, "alegatectl: %s: %zu bad rules, none imported\n", file, bad);
		goto cleanup;
	}
	ret = add_all(cli, rules, (const char *const *)labels, 0);
cleanup:
	for (i = 0; labels && labels[i]; i++)
		free(labels[i]);
	free(labels);
	json_decref(rules);
	return ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int import_opensnitch(struct cli *cli, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, **labels = NULL;
	size_t n = 0, cap = 0, i, skipped = 0, nr = 0, nends = 0;
	json_t *rules = json_array();
	bool *ends = NULL;
	int ret;

	if (!d) {
		fprintf(stderr, "alegatectl: %s: %s\n", dir, strerror(errno));
		json_decref(rules);
		return EXIT_USAGE;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		if (n == cap && !(names = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names))))
			abort();
		if (!(names[n++] = strdup(de->d_name)))
			abort();
	}
	closedir(d);
	/* OpenSnitch orders its rules by name; so do the weights below.  The
	 * files are named after their rules. */
	qsort(names, n, sizeof(*names), by_name);
	labels = calloc(n + 1, sizeof(*labels));
	ends = calloc(n + 1, sizeof(*ends));
	for (i = 0; i < n; i++) {
		char path[4096], why[512], err[AG_RULE_ERR_MAX], *buf = NULL;
		size_t len = 0;
		json_t *r = NULL;
		struct ag_rule checked;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "r");
		if (f) {
			buf = malloc(1u << 20);
			len = buf ? fread(buf, 1, 1u << 20, f) : 0;
			fclose(f);
		}
		if (!buf) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			skipped++;
			continue;
		}
		if (os_rule_convert(buf, len, &r, &ends[nr], why, sizeof(why)) == 0) {
			if (ag_rule_from_json(r, AG_RULE_JSON_CONTROL, &checked, err,
					      sizeof(err)) != 0) {
				ag_rule_err_join(why, sizeof(why), err);
				json_decref(r);
				r = NULL;
			} else {
				ag_rule_free(&checked);
			}
		}
		free(buf);
		if (!r) {
			fprintf(stderr, "%s: %s\n", path, why);
			skipped++;
			continue;
		}
		nends += ends[nr];
		labels[nr++] = strdup(path);
		json_array_append_new(rules, r);
	}
	if (nends > OS_ENDING_MAX) {
		fprintf(stderr, "alegatectl: %s: %zu deny, reject or precedence rules; at most %d "
			"can keep their order\n", dir, nends, OS_ENDING_MAX);
		ret = EXIT_FAILED;
	} else {
		os_weigh(rules, ends);
		ret = add_all(cli, rules, (const char *const *)labels, AG_RULE_JSON_CONTROL);
	}
	if (ret == EXIT_DONE && skipped)
		ret = EXIT_FAILED;
	for (i = 0; i < n; i++)
		free(names[i]);
	for (i = 0; i < nr; i++)
		free(labels[i]);
	free(names);
	free(labels);
	free(ends);
	json_decref(rules);
	return ret;
}

int cmd_rules_import(struct cli *cli, struct cli_args *a)
{
	const char *os = a->val[OPT_OPENSNITCH];

	if (os && a->npos)
		return cli_usage_error(cli, "give either FILE or --opensnitch DIR");
	if (os)
		return import_opensnitch(cli, os);
	if (!a->npos)
		return cli_usage_error(cli, "FILE or --opensnitch DIR is required");
	return import_file(cli, a->pos[0]);
}
