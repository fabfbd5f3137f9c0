/*
 * test_pathtrust.c — a list, the rules directory or the configuration
 * behind a directory or link someone else may change is refused, as the
 * file itself would be if it were theirs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pathtrust.h"
#include "rule/config.h"
#include "rule/list.h"
#include "rule/rule.h"
#include "check.h"

#define NOBODY 65534

static char top[64];

/* A fresh 0700 directory of ours under /tmp (sticky, others may write). */
static const char *fresh(void)
{
	char cmd[PATH_MAX + 16];

	if (top[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			abort();
	}
	strcpy(top, "/tmp/agtrustXXXXXX");
	if (!mkdtemp(top))
		abort();
	return top;
}

static const char *at(const char *rel)
{
	static char p[4][PATH_MAX];
	static int n;
	char *s = p[n++ & 3];

	snprintf(s, PATH_MAX, "%s/%s", top, rel);
	return s;
}

static void dir(const char *rel, mode_t mode)
{
	if (mkdir(at(rel), 0700) == -1 || chmod(at(rel), mode) == -1)
		abort();
}

static void file(const char *rel, const char *text, mode_t mode)
{
	FILE *f = fopen(at(rel), "w");

	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	if (chmod(at(rel), mode) == -1)
		abort();
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		abort();
	top[0] = '\0';
}

TEST(path_of_own_directories_under_sticky_tmp_is_trusted)
{
	char why[256] = "";

	fresh();
	dir("a", 0755);
	dir("a/b", 0755);
	file("a/b/list.txt", "ads.example\n", 0644);
	CHECK_EQ(ag_path_trusted(at("a/b/list.txt"), why, sizeof(why)), 0);
	CHECK_EQ(ag_path_trusted(at("a/./b/../b/list.txt"), why, sizeof(why)), 0);
	CHECK_EQ(ag_path_trusted("/etc/hostname", why, sizeof(why)), 0);
	CHECK_EQ(ag_path_trusted(at("a/none/list.txt"), why, sizeof(why)), -ENOENT);
	cleanup();
}

TEST(list_in_a_directory_others_may_write_is_refused_before_it_is_read)
{
	char why[PATH_MAX + 128] = "";
	void *set = NULL;
	size_t bad = 0;

	fresh();
	dir("open", 0777);
	file("open/list.txt", "ads.example\n", 0644);
	CHECK_EQ(ag_list_load(at("open/list.txt"), AG_LIST_HOSTS, &set, &bad, NULL, NULL, why,
			      sizeof(why)), -EPERM);
	CHECK(set == NULL);
	CHECK_MSG(strstr(why, "is writable by others (mode 0777)"), "%s", why);
	/* group write is as bad, unless the group is root's */
	CHECK_EQ(chmod(at("open"), 0775), 0);
	CHECK_EQ(chown(at("open"), (uid_t)-1, 100), 0);
	CHECK_EQ(ag_list_load(at("open/list.txt"), AG_LIST_HOSTS, &set, &bad, NULL, NULL, why,
			      sizeof(why)), -EPERM);
	CHECK_MSG(strstr(why, "writable by its group"), "%s", why);
	CHECK_EQ(chown(at("open"), (uid_t)-1, 0), 0);
	CHECK_EQ(ag_list_load(at("open/list.txt"), AG_LIST_HOSTS, &set, &bad, NULL, NULL, why,
			      sizeof(why)), 0);
	ag_list_free(AG_LIST_HOSTS, set);
	cleanup();
}

TEST(link_that_leads_through_a_directory_others_may_write_is_refused)
{
	char why[PATH_MAX + 128] = "";

	CHECK_MSG(geteuid() == 0, "this test makes files of another owner: run it as root");
	fresh();
	dir("safe", 0755);
	dir("open", 0777);
	dir("open/real", 0755);
	file("open/real/list.txt", "ads.example\n", 0644);
	/* the link itself sits somewhere safe; what it leads through is not */
	CHECK_EQ(symlink(at("open/real/list.txt"), at("safe/list.txt")), 0);
	CHECK_EQ(ag_path_trusted(at("safe/list.txt"), why, sizeof(why)), -EPERM);
	CHECK_MSG(strstr(why, "/open is writable by others"), "%s", why);
	/* a relative link is followed from its own directory */
	CHECK_EQ(symlink("../open/real", at("safe/rel")), 0);
	CHECK_EQ(ag_path_trusted(at("safe/rel/list.txt"), why, sizeof(why)), -EPERM);
	/* a link of another user's in sticky /tmp is theirs to point elsewhere */
	unlink(at("../agtrust-nobody-link")); /* a run stopped half way */
	CHECK_EQ(symlink(at("safe"), at("../agtrust-nobody-link")), 0);
	CHECK_EQ(lchown(at("../agtrust-nobody-link"), NOBODY, NOBODY), 0);
	CHECK_EQ(ag_path_trusted(at("../agtrust-nobody-link/x"), why, sizeof(why)), -EPERM);
	CHECK_MSG(strstr(why, "the directory /tmp is writable by others (mode 1777)"), "%s", why);
	unlink(at("../agtrust-nobody-link"));
	/* and anywhere else: whoever owns a link may replace it */
	CHECK_EQ(symlink(at("safe"), at("safe/theirs")), 0);
	CHECK_EQ(lchown(at("safe/theirs"), NOBODY, NOBODY), 0);
	CHECK_EQ(ag_path_trusted(at("safe/theirs/x"), why, sizeof(why)), -EPERM);
	CHECK_MSG(strstr(why, "/safe/theirs is owned by uid 65534"), "%s", why);
	/* a directory of another user's: they may rename its entries */
	CHECK_EQ(chown(at("safe"), NOBODY, NOBODY), 0);
	file("safe/own.txt", "x.example\n", 0644);
	CHECK_EQ(ag_path_trusted(at("safe/own.txt"), why, sizeof(why)), -EPERM);
	CHECK_MSG(strstr(why, "owned by uid 65534, not by root"), "%s", why);
	cleanup();
}

TEST(link_loop_is_an_error_not_a_hang)
{
	char why[256] = "";

	fresh();
	CHECK_EQ(symlink("b", at("a")), 0);
	CHECK_EQ(symlink("a", at("b")), 0);
	CHECK_EQ(ag_path_trusted(at("a/x"), why, sizeof(why)), -ELOOP);
	cleanup();
}

static int count_rule(void *arg, const struct ag_rule *r, const char *err)
{
	if (r)
		(*(int *)arg)++;
	return 0;
}

TEST(rules_directory_inside_a_directory_others_may_write_is_not_read)
{
	char err[1024] = "";
	int n = 0;

	fresh();
	dir("open", 0777);
	dir("open/rules.d", 0755);
	file("open/rules.d/a.json",
	     "{\"id\": \"a\", \"action\": \"deny\"}\n", 0644);
	CHECK_EQ(ag_rules_load_dir(at("open/rules.d"), count_rule, &n, err, sizeof(err)), -EPERM);
	CHECK_EQ(n, 0);
	CHECK_MSG(strstr(err, "is writable by others"), "%s", err);
	CHECK_EQ(chmod(at("open"), 0755), 0);
	err[0] = '\0';
	CHECK_EQ(ag_rules_load_dir(at("open/rules.d"), count_rule, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 1);
	cleanup();
}

TEST(configuration_others_may_write_or_swap_is_not_read)
{
	struct ag_config cfg;
	char err[1024] = "";

	fresh();
	dir("etc", 0755);
	file("etc/alegated.conf", "log_level = info\n", 0644);
	CHECK_EQ(ag_config_load(at("etc/alegated.conf"), &cfg, 0, err, sizeof(err)), 0);
	CHECK_EQ(chmod(at("etc/alegated.conf"), 0666), 0);
	CHECK_EQ(ag_config_load(at("etc/alegated.conf"), &cfg, 0, err, sizeof(err)), -EPERM);
	CHECK_MSG(strstr(err, "writable by others (mode 0666): not read"), "%s", err);
	CHECK_EQ(chmod(at("etc/alegated.conf"), 0644), 0);
	CHECK_EQ(chmod(at("etc"), 0777), 0);
	CHECK_EQ(ag_config_load(at("etc/alegated.conf"), &cfg, 0, err, sizeof(err)), -EPERM);
	CHECK_MSG(strstr(err, "/etc is writable by others"), "%s", err);
	cleanup();
}
