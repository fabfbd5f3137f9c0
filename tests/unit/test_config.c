/*
 * test_config.c — alegate.conf parsing: defaults, every key, every error
 * form with its exact line, all errors collected, files and round trips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "errlines.h"
#include "rule/config.h"

static int load(const char *path, struct ag_config *cfg, unsigned flags, struct errs *e)
{
	int ret = ag_config_load(path, cfg, flags, lines, sizeof(lines));

	take(e, lines);
	return ret;
}

static int parse(const char *text, struct ag_config *cfg, struct errs *e)
{
	int ret;

	memset(e, 0, sizeof(*e));
	ret = ag_config_parse_buffer("test.conf", text, strlen(text), cfg, lines, sizeof(lines));
	take(e, lines);
	return ret;
}

/* Text of a whole configuration, to compare two of them in one go. */
static char *dump(const struct ag_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (ag_config_write(cfg, f) < 0) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		return NULL;
	if (ag__read_fd(fd, 1 << 24, &buf, len) < 0)
		buf = NULL;
	close(fd);
	return buf;
}

static const char *top(void)
{
	const char *t = getenv("AG_TOP");

	return t && *t ? t : ".";
}

TEST(defaults_are_the_documented_values)
{
	struct ag_config c;

	memset(&c, 0xa5, sizeof(c));
	ag_config_defaults(&c);
	CHECK_EQ(c.queue_num, 100);
	CHECK_STR(c.control_socket, "/run/alegate/alegate.sock");
	CHECK_STR(c.control_group, "");
	CHECK_EQ(c.control_mode, 0660);
	CHECK_STR(c.rules_dir, "/etc/alegate/rules.d");
	CHECK_STR(c.state_dir, "/var/lib/alegate");
	CHECK_EQ(c.intercept_loopback, false);
	CHECK_EQ(c.inbound, AG_CFG_INBOUND_ASK);
	CHECK_EQ(c.pending_timeout_s, 30);
	CHECK_EQ(c.timeout_action, AG_CFG_TIMEOUT_DENY);
	CHECK_EQ(c.fail_mode, AG_CFG_FAIL_CLOSED);
	CHECK_EQ(c.firewall_backend, AG_CFG_BACKEND_AUTO);
	CHECK_EQ(c.pending_buffer, 16);
	CHECK_EQ(c.log_level, AG_CFG_LOG_INFO);
	CHECK_EQ(c.max_pending, 16384);
	CHECK_EQ(c.max_pending_per_process, 1024);
	CHECK_EQ(c.max_pending_per_user, 4096);
	CHECK_EQ(c.max_flows, 65536);
	CHECK_EQ(c.dns_cache_size, 8192);
	CHECK_EQ(c.event_ring_size, 4096);
	CHECK_EQ(c.max_clients, 32);
	CHECK_EQ(c.max_message_size, 65536);
	CHECK_EQ(c.bpf, AG_CFG_BPF_AUTO);
	CHECK_STR(c.bpf_cgroup, "/sys/fs/cgroup");
	CHECK_EQ(c.bpf_notrack, AG_CFG_BPF_AUTO);
}

TEST(empty_text_gives_the_defaults)
{
	struct ag_config c, d;
	struct errs e;
	char *a, *b;

	memset(&c, 0, sizeof(c));
	CHECK_EQ(parse("# nothing but a comment\n\n   \n", &c, &e), 0);
	CHECK_EQ(e.n, 0);
	ag_config_defaults(&d);
	a = dump(&c);
	b = dump(&d);
	CHECK(a && b);
	CHECK_STR(a, b);
	free(a);
	free(b);
}

TEST(every_key_is_parsed)
{
	static const char text[] =
		"queue_num = 7\n"
		"control_socket = /run/x.sock\n"
		"control_group = alegate\n"
		"control_mode = 0600\n"
		"rules_dir = /srv/rules\n"
		"state_dir = /srv/state\n"
		"intercept_loopback = yes\n"
		"inbound = deny\n"
		"pending_timeout = 2m\n"
		"timeout_action = reject\n"
		"fail_mode = open\n"
		"firewall_backend = iptables\n"
		"pending_buffer = 0\n"
		"log_level = debug\n"
		"max_pending = 500\n"
		"max_pending_per_process = 50\n"
		"max_pending_per_user = 100\n"
		"max_flows = 1000\n"
		"dns_cache_size = 100\n"
		"event_ring_size = 64\n"
		"max_clients = 4\n"
		"max_message_size = 8192\n"
		"bpf = no\n"
		"bpf_cgroup = /sys/fs/cgroup/unified\n"
		"bpf_notrack = no\n"
		"resolv_conf = /srv/resolv.conf\n"
		"resolved_conf = /srv/upstream.conf\n"
		"history_days = 7\n"
		"history_max_mb = 64\n"
		"event_log = journal\n"
		"callout_modules = /srv/a.so:x=1 /srv/b.so\n"
		"callout_timeout = 90\n"
		"sha256_max_size = 300M\n";
	struct ag_config c;
	struct errs e;
	size_t nkeys = 0;

	CHECK_EQ(parse(text, &c, &e), 0);
	CHECK_EQ(e.n, 0);
	CHECK_EQ(c.queue_num, 7);
	CHECK_STR(c.control_socket, "/run/x.sock");
	CHECK_STR(c.control_group, "alegate");
	CHECK_EQ(c.control_mode, 0600);
	CHECK_STR(c.rules_dir, "/srv/rules");
	CHECK_STR(c.state_dir, "/srv/state");
	CHECK_EQ(c.intercept_loopback, true);
	CHECK_EQ(c.inbound, AG_CFG_INBOUND_DENY);
	CHECK_EQ(c.pending_timeout_s, 120);
	CHECK_EQ(c.timeout_action, AG_CFG_TIMEOUT_REJECT);
	CHECK_EQ(c.fail_mode, AG_CFG_FAIL_OPEN);
	CHECK_EQ(c.firewall_backend, AG_CFG_BACKEND_IPTABLES);
	CHECK_EQ(c.pending_buffer, 0);
	CHECK_EQ(c.log_level, AG_CFG_LOG_DEBUG);
	CHECK_EQ(c.max_pending, 500);
	CHECK_EQ(c.max_pending_per_process, 50);
	CHECK_EQ(c.max_pending_per_user, 100);
	CHECK_EQ(c.max_flows, 1000);
	CHECK_EQ(c.dns_cache_size, 100);
	CHECK_EQ(c.event_ring_size, 64);
	CHECK_EQ(c.max_clients, 4);
	CHECK_EQ(c.max_message_size, 8192);
	CHECK_EQ(c.bpf, AG_CFG_BPF_NO);
	CHECK_STR(c.bpf_cgroup, "/sys/fs/cgroup/unified");
	CHECK_EQ(c.bpf_notrack, AG_CFG_BPF_NO);
	CHECK_STR(c.resolv_conf, "/srv/resolv.conf");
	CHECK_STR(c.resolved_conf, "/srv/upstream.conf");
	CHECK_EQ(c.history_days, 7);
	CHECK_EQ(c.history_max_mb, 64);
	CHECK_EQ(c.event_log, AG_CFG_EVENT_LOG_JOURNAL);
	CHECK_STR(c.callout_modules, "/srv/a.so:x=1 /srv/b.so");
	CHECK_EQ(c.callout_timeout_s, 90);
	CHECK_EQ(c.sha256_max_size, 300u << 20);
	/* The text above sets every key the parser knows, once. */
	while (ag_config_key(nkeys))
		nkeys++;
	CHECK_EQ(nkeys, 33);
	for (size_t i = 0; i < nkeys; i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "%s = ", ag_config_key(i));
		CHECK_MSG(strstr(text, pat), "key %s missing from the test text", ag_config_key(i));
	}
}

TEST(value_forms_booleans_durations_sizes_modes_quotes)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True" };
	static const char *const no[] = { "no", "false", "off", "0", "Off" };
	static const struct {
		const char *v;
		unsigned s;
	} dur[] = { { "30", 30 }, { "30s", 30 }, { "2m", 120 }, { "1h", 3600 }, { "86400", 86400 } };
	struct ag_config c;
	struct errs e;
	char text[256];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "intercept_loopback = %s\nbpf = %s\n", yes[i], yes[i]);
		CHECK_EQ(parse(text, &c, &e), 0);
		CHECK_EQ(c.intercept_loopback, true);
		CHECK_EQ(c.bpf, AG_CFG_BPF_YES);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "intercept_loopback = %s\nbpf = %s\n", no[i], no[i]);
		CHECK_EQ(parse("intercept_loopback = yes\n", &c, &e), 0);
		CHECK_EQ(parse(text, &c, &e), 0);
		CHECK_EQ(c.intercept_loopback, false);
		CHECK_EQ(c.bpf, AG_CFG_BPF_NO);
	}
	for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
		snprintf(text, sizeof(text), "pending_timeout = %s\n", dur[i].v);
		CHECK_EQ(parse(text, &c, &e), 0);
		CHECK_EQ(c.pending_timeout_s, dur[i].s);
	}
	CHECK_EQ(parse("control_mode = 640\nmax_message_size = 64k\n", &c, &e), 0);
	CHECK_EQ(c.control_mode, 0640);
	CHECK_EQ(c.max_message_size, 65536);
	CHECK_EQ(parse("max_message_size = 2M\n", &c, &e), 0);
	CHECK_EQ(c.max_message_size, 2u << 20);
	/* Quotes keep spaces, '#' and escaped quotes; comments follow them. */
	CHECK_EQ(parse("rules_dir = \"/etc/my rules #1/\\\"x\\\\\"  # comment\n", &c, &e), 0);
	CHECK_STR(c.rules_dir, "/etc/my rules #1/\"x\\");
	/* Unquoted: a '#' inside a word is kept, one after a blank is a comment. */
	CHECK_EQ(parse("state_dir = /var/a#b   # the comment\n", &c, &e), 0);
	CHECK_STR(c.state_dir, "/var/a#b");
	/* CRLF line ends, tabs, no blanks around '=', words in any case. */
	CHECK_EQ(parse("\tinbound=ALLOW\r\nlog_level =\tWarning \r\n", &c, &e), 0);
	CHECK_EQ(c.inbound, AG_CFG_INBOUND_ALLOW);
	CHECK_EQ(c.log_level, AG_CFG_LOG_WARNING);
	/* An empty group means root only, quoted or not. */
	CHECK_EQ(parse("control_group =\n", &c, &e), 0);
	CHECK_STR(c.control_group, "");
	CHECK_EQ(parse("control_group = \"\"\n", &c, &e), 0);
	CHECK_STR(c.control_group, "");
	/* A byte order mark from an editor is not part of the first key. */
	CHECK_EQ(parse("\xef\xbb\xbfqueue_num = 5\n", &c, &e), 0);
	CHECK_EQ(c.queue_num, 5);
	/* The last line needs no newline. */
	CHECK_EQ(parse("queue_num = 9", &c, &e), 0);
	CHECK_EQ(c.queue_num, 9);
}

TEST(error_unknown_key_quotes_it_with_its_line)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("# settings\nqueue_num = 1\npendng_timeout = 30\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "test.conf:3: unknown key \"pendng_timeout\"");
}

TEST(error_pending_timeout_not_seconds_exact_message)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("\npending_timeout = abc\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "test.conf:2: pending_timeout: \"abc\" is not a number of seconds");
}

/* Each line holds one fault; the message must carry that line and text. */
TEST(error_forms_each_with_exact_line)
{
	static const struct {
		const char *line;
		const char *msg;
	} cases[] = {
		{ "queue_num = 65534", "queue_num: \"65534\" is out of range 0..65533" },
		{ "queue_num = -1", "queue_num: \"-1\" is not a number" },
		{ "queue_num = 99999999999999999999999", "is out of range 0..65533" },
		{ "queue_num = 1 2", "queue_num: \"1 2\" is not a number" },
		{ "queue_num 5", "expected \"key = value\", got \"queue_num 5\"" },
		{ "queue_num =", "queue_num: missing value" },
		{ "queue_num = # nothing", "queue_num: missing value" },
		{ "rules_dir = \"/etc/x", "rules_dir: unterminated quoted value" },
		{ "rules_dir = \"/etc/x\" y", "rules_dir: unexpected text after the closing quote: \"y\"" },
		{ "rules_dir = \"/etc/\\x\"", "rules_dir: unknown escape \"\\\\x\"" },
		{ "rules_dir = etc/rules", "rules_dir: \"etc/rules\" is not an absolute path" },
		{ "control_socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
		  "is 119 bytes long, the limit is 107" },
		{ "control_group = wheel users", "control_group: \"wheel users\" is not a valid group name" },
		{ "control_mode = 0999", "control_mode: \"0999\" is not an octal file mode" },
		{ "control_mode = 01777", "control_mode: \"01777\" is out of range 0000..0777" },
		{ "intercept_loopback = maybe", "intercept_loopback: \"maybe\" is not a boolean" },
		{ "inbound = prompt", "inbound: \"prompt\" is not one of ask, allow, deny" },
		{ "timeout_action = drop", "timeout_action: \"drop\" is not one of deny, allow, reject" },
		{ "fail_mode = half", "fail_mode: \"half\" is not one of closed, open" },
		{ "firewall_backend = ebtables", "firewall_backend: \"ebtables\" is not one of auto, nftables, iptables" },
		{ "log_level = trace", "log_level: \"trace\" is not one of error, warning, info, debug" },
		{ "bpf = sometimes", "bpf: \"sometimes\" is not one of auto, yes, no" },
		{ "pending_timeout = 0", "pending_timeout: \"0\" is out of range 1..86400 seconds" },
		{ "pending_timeout = 2d", "pending_timeout: \"2d\" is not a number of seconds" },
		{ "pending_timeout = 25h", "pending_timeout: \"25h\" is out of range 1..86400 seconds" },
		{ "pending_buffer = 1025", "pending_buffer: \"1025\" is out of range 0..1024" },
		{ "max_pending = 0", "max_pending: \"0\" is out of range 1..1048576" },
		{ "max_flows = 15", "max_flows: \"15\" is out of range 16..16777216" },
		{ "dns_cache_size = 1", "dns_cache_size: \"1\" is out of range 16..4194304" },
		{ "event_ring_size = 2000000", "event_ring_size: \"2000000\" is out of range 16..1048576" },
		{ "max_clients = 0", "max_clients: \"0\" is out of range 1..1024" },
		{ "max_message_size = 1k", "max_message_size: \"1k\" is out of range 4096..16777216 bytes" },
		{ "max_message_size = 1G", "max_message_size: \"1G\" is not a size in bytes" },
		{ "bpf_cgroup = cgroup", "bpf_cgroup: \"cgroup\" is not an absolute path" },
		{ "QUEUE_NUM = 1", "unknown key \"QUEUE_NUM\"" },
		{ "queue_num\x01 = 1", "unknown key \"queue_num\\x01\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct ag_config c;
		struct errs e;

		/* Put the fault on line 3, after a comment and a good line. */
		snprintf(text, sizeof(text), "# comment\nstate_dir = /var/lib/x\n%s\n\n", cases[i].line);
		CHECK_MSG(parse(text, &c, &e) == -EINVAL, "accepted: %s", cases[i].line);
		CHECK_MSG(e.n == 1, "%u errors for: %s", e.n, cases[i].line);
		CHECK_MSG(strncmp(e.msg[0], "test.conf:3: ", 13) == 0, "wrong place: %s", e.msg[0]);
		CHECK_MSG(strstr(e.msg[0], cases[i].msg), "message \"%s\" lacks \"%s\"",
			  e.msg[0], cases[i].msg);
	}
}

TEST(error_duplicate_key_names_the_first_line)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("inbound = ask\n\n\ninbound = deny\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "test.conf:4: duplicate key \"inbound\" (first set on line 1)");
}

TEST(error_nul_byte_in_a_line)
{
	static const char text[] = "queue_num = 1\nrules_dir = /a\0b\n";
	struct ag_config c;
	struct errs e = { 0 };

	CHECK_EQ(ag_config_parse_buffer("n.conf", text, sizeof(text) - 1, &c, lines, sizeof(lines)), -EINVAL);
	take(&e, lines);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "n.conf:2: line contains a NUL byte");
}

TEST(error_per_process_bound_above_global_bound)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("max_pending = 100\nmax_pending_per_process = 200\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "test.conf:2: max_pending_per_process: 200 is larger than max_pending (100)");
	/* Only the global bound set, below the per-process default. */
	CHECK_EQ(parse("\nmax_pending = 100\n", &c, &e), -EINVAL);
	CHECK_STR(e.msg[0], "test.conf:2: max_pending_per_process: 1024 is larger than max_pending (100)");
}

TEST(per_user_bound_follows_max_pending_unless_set_and_never_exceeds_it)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("max_pending = 400\nmax_pending_per_process = 10\n", &c, &e), 0);
	CHECK_EQ(c.max_pending_per_user, 100);
	CHECK_EQ(parse("max_pending = 2\nmax_pending_per_process = 1\n", &c, &e), 0);
	CHECK_EQ(c.max_pending_per_user, 1);
	CHECK_EQ(parse("max_pending = 400\nmax_pending_per_process = 10\n"
		       "max_pending_per_user = 401\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "test.conf:3: max_pending_per_user: 401 is larger than max_pending (400)");
}

/* alegate.conf(5) promises every error at once: a check that ties keys
 * together runs also when another line is wrong, but never on a key whose
 * own value was refused. */
TEST(config_errors_of_lines_and_of_key_pairs_come_in_one_pass)
{
	struct ag_config c;
	struct errs e;

	CHECK_EQ(parse("queue_num = x\nmax_pending = 100\nmax_pending_per_process = 200\n",
		       &c, &e), -EINVAL);
	CHECK_EQ(e.n, 2);
	CHECK_STR(e.msg[0], "test.conf:1: queue_num: \"x\" is not a number");
	CHECK_STR(e.msg[1], "test.conf:3: max_pending_per_process: 200 is larger than max_pending (100)");
	/* max_pending itself refused: one error, not a second one about the
	 * default it fell back to */
	CHECK_EQ(parse("max_pending = 0\nmax_pending_per_process = 200\n", &c, &e), -EINVAL);
	CHECK_EQ(e.n, 1);
}

TEST(all_errors_collected_in_line_order_and_config_untouched)
{
	static const char text[] =
		"queue_num = x\n"		/* 1 */
		"inbound = ask\n"		/* 2: good */
		"colour = blue\n"		/* 3 */
		"# comment\n"			/* 4 */
		"log_level = loud\n"		/* 5 */
		"inbound = deny\n"		/* 6: duplicate */
		"max_clients = 0\n"		/* 7 */
		"nonsense\n"			/* 8 */
		"rules_dir = relative\n";	/* 9 */
	static const char *const where[] = {
		"test.conf:1: ", "test.conf:3: ", "test.conf:5: ", "test.conf:6: ",
		"test.conf:7: ", "test.conf:8: ", "test.conf:9: ",
	};
	struct ag_config c;
	struct errs e;

	memset(&c, 0x5a, sizeof(c));
	CHECK_EQ(parse(text, &c, &e), -EINVAL);
	CHECK_EQ(e.n, 7);
	for (unsigned i = 0; i < 7; i++)
		CHECK_MSG(strncmp(e.msg[i], where[i], strlen(where[i])) == 0,
			  "error %u is \"%s\", expected at %s", i, e.msg[i], where[i]);
	/* A configuration with errors is never half applied. */
	for (size_t i = 0; i < sizeof(c); i++)
		CHECK_EQ(((unsigned char *)&c)[i], 0x5a);
}

TEST(errors_past_the_buffer_are_whole_lines_then_a_count)
{
	char text[64 * 12 + 1] = "", buf[200];
	struct ag_config c;
	const char *last;
	unsigned shown = 0;

	for (int i = 0; i < 64; i++)
		strcat(text, "bogus = 1\n");	/* 64 errors, ~40 bytes each */
	CHECK_EQ(ag_config_parse_buffer("t.conf", text, strlen(text), &c, buf, sizeof(buf)), -EINVAL);
	/* Every line shown is a whole error; the last one counts the rest. */
	for (const char *s = buf; (s = strstr(s, "t.conf:")); s++) {
		CHECK(strncmp(strchr(s, ':'), ":", 1) == 0 && strstr(s, "unknown key \"bogus\""));
		shown++;
	}
	last = strrchr(buf, '\n');
	CHECK(last);
	CHECK_MSG(shown > 0 && shown < 64, "%u shown", shown);
	{
		char want[40];

		snprintf(want, sizeof(want), "\n(%u more errors)", 64 - shown);
		CHECK_STR(last, want);
	}
	/* A buffer too small for the first error gets it cut, not nothing. */
	CHECK_EQ(ag_config_parse_buffer("t.conf", text, strlen(text), &c, buf, 12), -EINVAL);
	CHECK_STR(buf, "t.conf:1: u");
}

TEST(null_error_buffer_still_counts_errors)
{
	struct ag_config c;

	CHECK_EQ(ag_config_parse_buffer("x", "bad\n", 4, &c, NULL, 0), -EINVAL);
}

TEST(load_missing_file_is_an_error_unless_asked)
{
	struct ag_config c;
	struct errs e = { 0 };

	CHECK_EQ(load("/nonexistent/alegate.conf", &c, 0, &e), -ENOENT);
	CHECK_EQ(e.n, 1);
	CHECK_STR(e.msg[0], "/nonexistent/alegate.conf: cannot read: No such file or directory");
	memset(&e, 0, sizeof(e));
	memset(&c, 0, sizeof(c));
	CHECK_EQ(load("/nonexistent/alegate.conf", &c, AG_CONFIG_MISSING_OK, &e), 0);
	CHECK_EQ(e.n, 0);
	CHECK_EQ(c.queue_num, 100);
	CHECK_STR(c.rules_dir, "/etc/alegate/rules.d");
}

TEST(load_file_errors_carry_the_path)
{
	char dir[] = "/tmp/ag-config-XXXXXX", path[64], big[64];
	struct ag_config c;
	struct errs e = { 0 };
	FILE *f;
	int r1, r2, r3;
	char line0[1024] = "", line1[1024] = "";

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.conf", dir);
	snprintf(big, sizeof(big), "%s/big.conf", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("queue_num = 200\nbogus = 1\n", f);
		fclose(f);
	}
	f = fopen(big, "w");
	if (f) {
		/* Valid comments, but more than the bound allows. */
		for (int i = 0; i < 40000; i++)
			fputs("# padding padding padding padding\n", f);
		fclose(f);
	}
	r1 = load(path, &c, 0, &e);
	if (e.n > 0)
		snprintf(line0, sizeof(line0), "%s", e.msg[0]);
	r2 = load(big, &c, 0, &e);
	if (e.n > 1)
		snprintf(line1, sizeof(line1), "%s", e.msg[1]);
	r3 = load(dir, &c, AG_CONFIG_MISSING_OK, &e);
	unlink(path);
	unlink(big);
	rmdir(dir);
	CHECK_EQ(r1, -EINVAL);
	CHECK(strstr(line0, "/a.conf:2: unknown key \"bogus\""));
	CHECK_EQ(r2, -EFBIG);
	CHECK(strstr(line1, "/big.conf: larger than the limit of 1048576 bytes"));
	CHECK_EQ(r3, -EISDIR);
	CHECK_EQ(e.n, 3);
	CHECK(strstr(e.msg[2], ": cannot read: Is a directory"));
}

TEST(write_then_parse_round_trips)
{
	static const char text[] =
		"queue_num = 3\ncontrol_socket = \"/run/with space.sock\"\ncontrol_group = adm\n"
		"control_mode = 0600\nrules_dir = \"/x/a#b\"\nstate_dir = \"/y/\\\"q\\\\\"\n"
		"intercept_loopback = on\ninbound = allow\npending_timeout = 1h\n"
		"timeout_action = allow\nfail_mode = open\nfirewall_backend = nftables\n"
		"pending_buffer = 3\nlog_level = error\nmax_pending = 10\n"
		"max_pending_per_process = 10\nmax_flows = 99\ndns_cache_size = 17\n"
		"event_ring_size = 18\nmax_clients = 2\nmax_message_size = 5000\nbpf = yes\n"
		"bpf_cgroup = /cg\nbpf_notrack = yes\n";
	struct ag_config a, b;
	struct errs e;
	char *ta, *tb;

	CHECK_EQ(parse(text, &a, &e), 0);
	ta = dump(&a);
	CHECK(ta);
	CHECK_EQ(parse(ta, &b, &e), 0);
	tb = dump(&b);
	CHECK(tb);
	CHECK_STR(ta, tb);
	CHECK_STR(b.rules_dir, "/x/a#b");
	CHECK_STR(b.state_dir, "/y/\"q\\");
	CHECK_STR(b.control_socket, "/run/with space.sock");
	CHECK_EQ(b.pending_timeout_s, 3600);
	free(ta);
	free(tb);
}

TEST(callout_modules_are_absolute_paths_each_with_an_optional_argument)
{
	struct ag_config c;
	struct errs e;

	CHECK(parse("callout_modules = /a.so lib/b.so\n", &c, &e) != 0);
	CHECK_EQ(e.n, 1);
	CHECK(strstr(e.msg[0], "every module is an absolute path") != NULL);
	CHECK_EQ(parse("callout_modules =\n", &c, &e), 0);
	CHECK_STR(c.callout_modules, "");
	CHECK_EQ(c.callout_timeout_s, 0);
}

TEST(shipped_config_sets_every_key_to_its_default)
{
	char path[4096], *text, *got, *want, pat[64];
	struct ag_config c, d;
	struct errs e = { 0 };
	size_t len;

	snprintf(path, sizeof(path), "%s/etc/alegate.conf", top());
	CHECK_EQ(load(path, &c, 0, &e), 0);
	CHECK_EQ(e.n, 0);
	ag_config_defaults(&d);
	got = dump(&c);
	want = dump(&d);
	CHECK(got && want);
	CHECK_STR(got, want);
	free(got);
	free(want);
	text = slurp(path, &len);
	CHECK(text);
	for (size_t i = 0; ag_config_key(i); i++) {
		snprintf(pat, sizeof(pat), "\n%s = ", ag_config_key(i));
		/* "control_group =" is set to nothing, so no blank follows. */
		if (!strstr(text, pat))
			snprintf(pat, sizeof(pat), "\n%s =\n", ag_config_key(i));
		CHECK_MSG(strstr(text, pat), "etc/alegate.conf does not set %s", ag_config_key(i));
	}
	free(text);
}

TEST(man_page_documents_every_key)
{
	char path[4096], *text, pat[64];
	size_t len;

	snprintf(path, sizeof(path), "%s/man/alegate.conf.5", top());
	text = slurp(path, &len);
	CHECK_MSG(text, "cannot read %s", path);
	for (size_t i = 0; ag_config_key(i); i++) {
		/* Every key has its own tagged paragraph: ".TP" then ".B key". */
		snprintf(pat, sizeof(pat), ".TP\n.B %s\n", ag_config_key(i));
		CHECK_MSG(strstr(text, pat), "man/alegate.conf.5 has no entry for %s",
			  ag_config_key(i));
	}
	free(text);
}

TEST(quote_escapes_control_bytes_and_cuts_long_values)
{
	char q[400], big[200];

	CHECK_STR(ag_config_quote(q, sizeof(q), "a\"b\\c\n\t\x1b", 8), "\"a\\\"b\\\\c\\n\\t\\x1b\"");
	memset(big, 'x', sizeof(big));
	ag_config_quote(q, sizeof(q), big, sizeof(big));
	CHECK_EQ(strlen(q), 64 + 2 + 3);
	CHECK(strcmp(q + strlen(q) - 4, "\"...") == 0);
	/* A small destination still gets a terminated string. */
	CHECK_STR(ag_config_quote(q, 4, "abcdef", 6), "\"ab");
}
