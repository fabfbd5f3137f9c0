/*
 * test_opensnitch.c — OpenSnitch rule files into alegate rules: each
 * operator and operand converted exactly, or refused with its reason;
 * malformed files refused; the weights keep OpenSnitch's order.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cli/opensnitch.h"
#include "rule/rule.h"

/* A rule file around @op (an operator object) with @action and @extra keys. */
static char *file_of(const char *action, const char *op, const char *extra)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf),
		 "{\"created\":\"2026-01-02T03:04:05Z\",\"updated\":\"2026-01-02T03:04:05Z\","
		 "\"name\":\"000-test\",\"enabled\":true,\"precedence\":false,\"action\":\"%s\","
		 "\"duration\":\"always\"%s%s,\"operator\":%s}", action, extra ? "," : "",
		 extra ? extra : "", op);
	return buf;
}

static json_t *conv_ok(const char *text, bool *ends)
{
	char why[256] = "";
	json_t *r = NULL;
	struct ag_rule checked;
	bool e = false;

	if (os_rule_convert(text, strlen(text), &r, &e, why, sizeof(why)) != 0) {
		printf("#   refused: %s\n", why);
		return NULL;
	}
	/* What it makes must pass alegate's own rule checks. */
	if (ag_rule_from_json(r, AG_RULE_JSON_CONTROL, &checked, NULL, 0) != 0) {
		json_decref(r);
		return NULL;
	}
	ag_rule_free(&checked);
	if (ends)
		*ends = e;
	return r;
}

/* Refused, and the reason holds @want. */
static bool refused_with(const char *text, const char *want)
{
	char why[256] = "";
	json_t *r = NULL;
	bool e;

	if (os_rule_convert(text, strlen(text), &r, &e, why, sizeof(why)) == 0) {
		json_decref(r);
		return false;
	}
	if (!strstr(why, want)) {
		printf("#   reason \"%s\" lacks \"%s\"\n", why, want);
		return false;
	}
	return r == NULL;
}

static const char *s(const json_t *r, const char *key)
{
	return json_string_value(json_object_get(r, key));
}

#define SIMPLE(operand, data) \
	"{\"type\":\"simple\",\"operand\":\"" operand "\",\"sensitive\":false,\"data\":\"" data "\"}"

TEST(simple_dest_host_becomes_host)
{
	json_t *r = conv_ok(file_of("allow", SIMPLE("dest.host", "Example.ORG"), NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "action"), "allow");
	CHECK_STR(s(r, "host"), "Example.ORG");
	CHECK_STR(s(r, "name"), "000-test");
	CHECK(json_is_true(json_object_get(r, "enabled")));
	json_decref(r);
}

TEST(simple_process_path_case_insensitive_becomes_a_glob_of_both_cases)
{
	json_t *r = conv_ok(file_of("deny", SIMPLE("process.path", "/usr/bin/nc*"), NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "app"), "/[uU][sS][rR]/[bB][iI][nN]/[nN][cC][*]");
	json_decref(r);
}

TEST(simple_process_path_sensitive_stays_exact)
{
	json_t *r = conv_ok(file_of("allow",
		"{\"type\":\"simple\",\"operand\":\"process.path\",\"sensitive\":true,"
		"\"data\":\"/usr/bin/curl\"}", NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "app"), "/usr/bin/curl");
	json_decref(r);
}

TEST(simple_user_id_becomes_numeric_user)
{
	json_t *r = conv_ok(file_of("allow", SIMPLE("user.id", "1000"), NULL), NULL);

	CHECK(r);
	CHECK_EQ(json_integer_value(json_object_get(r, "user")), 1000);
	json_decref(r);
	CHECK(refused_with(file_of("allow", SIMPLE("user.id", "root"), NULL), "user.id \"root\""));
}

TEST(simple_dest_ip_becomes_remote)
{
	json_t *r = conv_ok(file_of("deny", SIMPLE("dest.ip", "192.0.2.7"), NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "remote"), "192.0.2.7");
	json_decref(r);
	CHECK(refused_with(file_of("deny", SIMPLE("dest.ip", "192.0.2.0/24"), NULL), "not one address"));
}

TEST(network_dest_network_becomes_remote_prefix)
{
	json_t *r = conv_ok(file_of("deny",
		"{\"type\":\"network\",\"operand\":\"dest.network\",\"data\":\"10.0.0.0/8\"}", NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "remote"), "10.0.0.0/8");
	json_decref(r);
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"network\",\"operand\":\"dest.host\",\"data\":\"x.org\"}", NULL),
		"only dest.network"));
}

TEST(simple_dest_port_and_protocol)
{
	json_t *r = conv_ok(file_of("allow",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.port", "443") ","
		SIMPLE("protocol", "TCP") "]}", NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "port"), "443");
	CHECK_STR(s(r, "proto"), "tcp");
	json_decref(r);
	CHECK(refused_with(file_of("allow", SIMPLE("dest.port", "80,443"), NULL), "not one port"));
	CHECK(refused_with(file_of("allow", SIMPLE("protocol", "tcp6"), NULL), "\"tcp6\""));
}

TEST(list_ands_its_operators)
{
	json_t *r = conv_ok(file_of("allow",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("process.path", "/opt/0")
		"," SIMPLE("dest.host", "example.org") "," SIMPLE("user.id", "0") "]}", NULL), NULL);

	CHECK(r);
	CHECK_STR(s(r, "app"), "/[oO][pP][tT]/0");
	CHECK_STR(s(r, "host"), "example.org");
	CHECK_EQ(json_integer_value(json_object_get(r, "user")), 0);
	json_decref(r);
}

/* A list ANDs: two different values of one field never both hold. */
TEST(list_with_two_different_values_for_one_field_is_refused_as_never_matching)
{
	json_t *r;

	CHECK(refused_with(file_of("deny",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.port", "80") ","
		SIMPLE("dest.port", "443") "]}", NULL),
		"two different conditions on dest.port in one list"));
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.ip", "192.0.2.1") ","
		"{\"type\":\"network\",\"operand\":\"dest.network\",\"data\":\"10.0.0.0/8\"}]}", NULL),
		"never match"));
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[]}", NULL), "without a \"list\""));
	/* the same condition twice is that condition */
	r = conv_ok(file_of("deny",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.port", "80") ","
		SIMPLE("dest.port", "80") "]}", NULL), NULL);
	CHECK(r);
	CHECK_STR(s(r, "port"), "80");
	json_decref(r);
}

static const char *elem(const json_t *r, const char *key, size_t i)
{
	return json_string_value(json_array_get(json_object_get(r, key), i));
}

/* "^(80|443|8080)$" is what OpenSnitch users write for several ports: the values, ORed. */
TEST(regexp_of_literal_alternatives_becomes_several_values)
{
	json_t *r = conv_ok(file_of("allow",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":["
		"{\"type\":\"regexp\",\"operand\":\"dest.port\",\"data\":\"^(80|443|8080)$\"},"
		"{\"type\":\"regexp\",\"operand\":\"process.path\",\"sensitive\":true,"
		"\"data\":\"^(/usr/bin/curl|/usr/bin/wget)$\"},"
		"{\"type\":\"regexp\",\"operand\":\"dest.ip\",\"data\":\"^(?:10\\\\.0\\\\.0\\\\.1|10\\\\.0\\\\.0\\\\.2)$\"},"
		"{\"type\":\"regexp\",\"operand\":\"dest.host\",\"data\":\"^(a\\\\.example\\\\.org|b\\\\.example\\\\.org)$\"}"
		"]}", NULL), NULL);

	CHECK(r);
	CHECK_EQ(json_array_size(json_object_get(r, "port")), 3);
	CHECK_STR(elem(r, "port", 0), "80");
	CHECK_STR(elem(r, "port", 2), "8080");
	CHECK_STR(elem(r, "app", 0), "/usr/bin/curl");
	CHECK_STR(elem(r, "app", 1), "/usr/bin/wget");
	CHECK_STR(elem(r, "remote", 1), "10.0.0.2");
	CHECK_STR(elem(r, "host", 0), "a.example.org");
	json_decref(r);
	/* one literal is one value, as the simple operator gives it */
	r = conv_ok(file_of("deny",
		"{\"type\":\"regexp\",\"operand\":\"dest.host\",\"data\":\"^ads\\\\.example\\\\.org$\"}",
		NULL), NULL);
	CHECK(r);
	CHECK_STR(s(r, "host"), "ads.example.org");
	json_decref(r);
}

TEST(regexp_patterns_are_refused)
{
	static const char *const pats[] = {
		".*\\\\.example\\\\.org", "^[0-9]+$", "^80|443$", "example", "^(80||443)$",
		"^(80|4.3)$", "^a*$",
	};

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		char op[256];

		snprintf(op, sizeof(op),
			 "{\"type\":\"regexp\",\"operand\":\"dest.host\",\"data\":\"%s\"}", pats[i]);
		CHECK_MSG(refused_with(file_of("deny", op, NULL), "operator regexp on dest.host"),
			  "converted: %s", pats[i]);
	}
	/* alternatives and another condition on the field in one list: refused */
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.port", "80") ","
		"{\"type\":\"regexp\",\"operand\":\"dest.port\",\"data\":\"^(80|443)$\"}]}", NULL),
		"cannot say both"));
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"regexp\",\"operand\":\"dest.port\",\"data\":\"^(80|http)$\"}", NULL),
		"dest.port \"http\""));
}

TEST(lists_domains_and_unreadable_list_directories_are_refused)
{
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"lists\",\"operand\":\"lists.domains\",\"data\":\"/etc/lists/ads\"}", NULL),
		"subdomains"));
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"lists\",\"operand\":\"lists.ips\",\"data\":\"/nonexistent/ips\"}", NULL),
		"cannot read the directory /nonexistent/ips"));
	CHECK(refused_with(file_of("deny",
		"{\"type\":\"lists\",\"operand\":\"lists.nets\",\"data\":\"\"}", NULL), "empty data"));
	CHECK(refused_with(file_of("deny", SIMPLE("lists.domains", "/x"), NULL), "lists.domains"));
}

static char listdir[] = "/tmp/agoslistsXXXXXX";

/* Remove the directory @dir of files (no shell: a fork under the
 * sanitizers on a loaded machine is one more way to fail). */
static void rm_dir(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		abort();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			abort();
	}
	closedir(d);
	if (rmdir(dir) != 0)
		abort();
}

/* A fresh directory holding the files name=text, ... (NULL-ended). */
static const char *list_dir(const char *name, const char *text, ...)
{
	char path[256];
	va_list ap;

	if (listdir[sizeof(listdir) - 2] != 'X') {
		rm_dir(listdir);
		memcpy(listdir + sizeof(listdir) - 7, "XXXXXX", 6);
	}
	if (!mkdtemp(listdir))
		abort();
	chmod(listdir, 0755);
	va_start(ap, text);
	for (; name; name = va_arg(ap, const char *), text = name ? va_arg(ap, const char *) : NULL) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", listdir, name);
		f = fopen(path, "w");
		if (!f)
			abort();
		fputs(text, f);
		fclose(f);
		chmod(path, 0644);
	}
	va_end(ap);
	return listdir;
}

static const char *lists_op(const char *operand, const char *dir)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "{\"type\":\"lists\",\"operand\":\"%s\",\"data\":\"%s\"}",
		 operand, dir);
	return buf;
}

TEST(lists_nets_and_ips_of_one_file_become_remote_list)
{
	const char *dir = list_dir("nets.txt", "# networks\n10.0.0.0/8\n2001:db8::/32\n", NULL);
	char want[256];
	json_t *r = conv_ok(file_of("deny", lists_op("lists.nets", dir), NULL), NULL);

	snprintf(want, sizeof(want), "%s/nets.txt", dir);
	CHECK(r);
	CHECK_STR(json_string_value(json_object_get(r, "remote_list")), want);
	json_decref(r);
	dir = list_dir("ips.txt", "192.0.2.1\n198.51.100.7\n", NULL);
	r = conv_ok(file_of("deny", lists_op("lists.ips", dir), NULL), NULL);
	CHECK(r);
	CHECK(strstr(json_string_value(json_object_get(r, "remote_list")), "/ips.txt"));
	json_decref(r);
}

TEST(list_directory_alegate_cannot_read_as_opensnitch_does_is_refused)
{
	/* two files: one rule of alegate names one */
	const char *dir = list_dir("a.txt", "192.0.2.1\n", "b.txt", "192.0.2.2\n", NULL);

	CHECK(refused_with(file_of("deny", lists_op("lists.ips", dir), NULL), "holds 2 files"));
	/* a prefix in a list of addresses: OpenSnitch never matches that line */
	dir = list_dir("ips.txt", "192.0.2.1\n10.0.0.0/8\n", NULL);
	CHECK(refused_with(file_of("deny", lists_op("lists.ips", dir), NULL), "reads otherwise"));
	/* a line alegate skips */
	dir = list_dir("nets.txt", "10.0.0.0/8\nnot-a-net\n", NULL);
	CHECK(refused_with(file_of("deny", lists_op("lists.nets", dir), NULL), "reads otherwise"));
	rm_dir(listdir);
	memcpy(listdir + sizeof(listdir) - 7, "XXXXXX", 6);
}

TEST(process_command_and_process_id_are_refused)
{
	CHECK(refused_with(file_of("deny", SIMPLE("process.command", "curl x"), NULL), "command line"));
	CHECK(refused_with(file_of("deny", SIMPLE("process.id", "42"), NULL), "process id"));
}

TEST(operand_true_matches_everything)
{
	json_t *r = conv_ok(file_of("deny", SIMPLE("true", ""), NULL), NULL);

	CHECK(r);
	CHECK(!json_object_get(r, "app") && !json_object_get(r, "host") && !json_object_get(r, "remote"));
	json_decref(r);
}

TEST(action_precedence_and_enabled)
{
	bool ends = true;
	json_t *r = conv_ok(file_of("allow", SIMPLE("dest.host", "a.org"), NULL), &ends);

	CHECK(r && !ends);
	json_decref(r);
	r = conv_ok(file_of("reject", SIMPLE("dest.host", "a.org"), NULL), &ends);
	CHECK(r && ends);
	CHECK_STR(s(r, "action"), "reject");
	json_decref(r);
	/* the later "precedence" and "enabled" keys of the text win in jansson: use a fresh file */
	const char *t = "{\"name\":\"p\",\"enabled\":false,\"precedence\":true,\"action\":\"allow\","
			"\"duration\":\"always\",\"operator\":" SIMPLE("dest.host", "a.org") "}";
	r = conv_ok(t, &ends);
	CHECK(r && ends);
	CHECK(json_is_false(json_object_get(r, "enabled")));
	json_decref(r);
	CHECK(refused_with(file_of("alow", SIMPLE("dest.host", "a.org"), NULL), "unknown action \"alow\""));
}

TEST(duration_maps_to_lifetime)
{
	const char *t = "{\"name\":\"d\",\"action\":\"allow\",\"duration\":\"until restart\","
			"\"operator\":" SIMPLE("dest.host", "a.org") "}";
	json_t *r = conv_ok(t, NULL);

	CHECK(r);
	CHECK_STR(s(r, "lifetime"), "until-restart");
	json_decref(r);
	t = "{\"name\":\"d\",\"action\":\"allow\",\"duration\":\"15m\","
	    "\"operator\":" SIMPLE("dest.host", "a.org") "}";
	r = conv_ok(t, NULL);
	CHECK(r);
	CHECK_STR(s(r, "lifetime"), "timed");
	CHECK_EQ(json_integer_value(json_object_get(r, "expires_in_ms")), 900000);
	json_decref(r);
	CHECK(refused_with("{\"action\":\"allow\",\"duration\":\"once\",\"operator\":"
			   SIMPLE("dest.host", "a.org") "}", "once"));
	CHECK(refused_with("{\"action\":\"allow\",\"duration\":\"7w\",\"operator\":"
			   SIMPLE("dest.host", "a.org") "}", "unknown duration \"7w\""));
}

TEST(malformed_files_are_refused)
{
	CHECK(refused_with("{\"action\":", "line 1"));
	CHECK(refused_with("[1,2]", "not a JSON object"));
	CHECK(refused_with("{\"operator\":" SIMPLE("dest.host", "a.org") "}", "no \"action\""));
	CHECK(refused_with("{\"action\":\"deny\"}", "\"operator\" is not an object"));
	CHECK(refused_with("{\"action\":\"deny\",\"operator\":{\"operand\":\"dest.host\",\"data\":\"a\"}}",
			   "without a \"type\""));
	CHECK(refused_with("{\"action\":\"deny\",\"operator\":{\"type\":\"simple\",\"operand\":\"dest.host\"}}",
			   "without string \"data\""));
	CHECK(refused_with("{\"action\":\"deny\",\"operator\":{\"type\":\"fuzzy\",\"operand\":\"dest.host\","
			   "\"data\":\"a\"}}", "unknown operator type \"fuzzy\""));
	CHECK(refused_with(file_of("deny", SIMPLE("dest.color", "red"), NULL), "unknown operand \"dest.color\""));
	CHECK(refused_with("{\"action\":\"deny\",\"enabled\":\"yes\",\"operator\":"
			   SIMPLE("dest.host", "a.org") "}", "\"enabled\""));
	CHECK(refused_with("{\"action\":\"deny\",\"action\":\"allow\",\"operator\":"
			   SIMPLE("dest.host", "a.org") "}", "duplicate"));
	CHECK(refused_with(file_of("deny", "{\"type\":\"list\",\"operand\":\"list\",\"list\":["
			   "{\"type\":\"list\",\"operand\":\"list\",\"list\":[" SIMPLE("dest.port", "1") "]}]}",
			   NULL), "a list inside a list"));
}

TEST(weights_keep_opensnitch_order_first_ending_rule_highest)
{
	json_t *rules = json_pack("[{},{},{},{}]");
	bool ends[] = { false, true, false, true };

	os_weigh(rules, ends);
	CHECK_EQ(json_integer_value(json_object_get(json_array_get(rules, 0), "weight")), 0);
	CHECK_EQ(json_integer_value(json_object_get(json_array_get(rules, 1), "weight")), OS_WEIGHT_TOP);
	CHECK_EQ(json_integer_value(json_object_get(json_array_get(rules, 2), "weight")), 0);
	CHECK_EQ(json_integer_value(json_object_get(json_array_get(rules, 3), "weight")), OS_WEIGHT_TOP - 1);
	json_decref(rules);
}
