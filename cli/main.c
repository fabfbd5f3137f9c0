/*
 * main.c — alegatectl: the command table, option parsing, usage and help,
 * and what every command shares (connect, call, hold an until-quit rule).
 *
 * One table drives dispatch, the usage text and -h.  Names are matched
 * exactly: "stat" is not "status", so a typo can never run something else.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const struct {
	enum opt_id id;
	const char *name;	/* long name, without "--" */
	char shortname;
	const char *arg;	/* metavariable, NULL for a flag */
	const char *help;
} options[] = {
	{ OPT_HELP, "help", 'h', NULL, "show this help and exit" },
	{ OPT_JSON, "json", 0, NULL, "print JSON for scripts instead of text" },
	{ OPT_FULL, "full", 0, NULL,
	  "never cut a column to the terminal's width (output that is not a terminal never is)" },
	{ OPT_VERSION, "version", 'V', NULL, "print alegatectl's version and exit" },
	{ OPT_SOCKET, "socket", 's', "SOCKET",
	  "control socket (default $ALEGATE_SOCKET, else " AG_CTL_DEFAULT_SOCKET ")" },
	{ OPT_ONCE, "once", 0, NULL, "decide this flow only, add no rule" },
	{ OPT_FOR, "for", 0, "TIME", "add a rule that lasts TIME: 30s, 5m, 1h30m, 2d..." },
	{ OPT_UNTIL_QUIT, "until-quit", 0, NULL,
	  "add a rule that lasts while this command runs (see below)" },
	{ OPT_UNTIL_RESTART, "until-restart", 0, NULL, "add a rule that lasts until alegated restarts" },
	{ OPT_ALWAYS, "always", 0, NULL, "add a rule saved to disk" },
	{ OPT_SCOPE, "scope", 0, "S",
	  "what the rule matches besides the program: host, remote, port or app (the program "
	  "alone); app+host... too.  Default: host when the host is known, else remote" },
	{ OPT_REJECT, "reject", 0, NULL, "make the application fail at once instead of timing out" },
	{ OPT_ACTION, "action", 0, "A", "allow, deny, reject, ask or callout (required)" },
	{ OPT_CALLOUT, "callout", 0, "NAME",
	  "with --action callout: the loaded callout that gets the flows (its name, or its "
	  "key as a lowercase GUID)" },
	{ OPT_APP, "app", 0, "PATH", "executable path, or a glob such as /usr/lib/*/firefox" },
	{ OPT_SHA256, "sha256", 0, "HEX",
	  "SHA-256 of the program's executable file, as sha256sum prints it" },
	{ OPT_USER, "user", 0, "UID|NAME", "user the process runs as" },
	{ OPT_REMOTE, "remote", 0, "ADDR[/LEN]", "remote address or prefix" },
	{ OPT_HOST, "host", 0, "NAME", "remote host name, or *.domain for its subdomains" },
	{ OPT_HOST_LIST, "host-list", 0, "FILE",
	  "a file of host names (or a hosts file): the host or a domain above it is listed" },
	{ OPT_REMOTE_LIST, "remote-list", 0, "FILE",
	  "a file of addresses and prefixes, one per line: the remote address is in one" },
	{ OPT_PORT, "port", 0, "N[-M]", "service port or range (remote port out, local port in)" },
	{ OPT_PROTO, "proto", 0, "P", "tcp, udp, icmp, icmpv6 or a protocol number" },
	{ OPT_DIRECTION, "direction", 0, "D", "out or in" },
	{ OPT_WEIGHT, "weight", 0, "W",
	  "priority among rules, -1000 to 1000, higher first (default 0)" },
	{ OPT_NAME, "name", 0, "TEXT", "a description for people (default: made from the conditions)" },
	{ OPT_ANY, "any", 0, NULL, "an allow rule without conditions is meant: it allows every flow" },
	{ OPT_FOLLOW, "follow", 'f', NULL, "keep printing new events until interrupted" },
	{ OPT_LIMIT, "limit", 'n', "N", "print at most the N latest events or connections" },
	{ OPT_SINCE, "since", 0, "TIME", "only what started in the last TIME: 30m, 1h, 7d..." },
	{ OPT_BELL, "bell", 0, NULL, "ring the terminal bell when a flow arrives" },
	{ OPT_OPENSNITCH, "opensnitch", 0, "DIR", "import OpenSnitch's rule files of DIR" },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

#define DURATION_OPTS OPT_ONCE, OPT_FOR, OPT_UNTIL_QUIT, OPT_UNTIL_RESTART, OPT_ALWAYS

static const enum opt_id no_opts[] = { OPT_NONE };
static const enum opt_id allow_opts[] = { DURATION_OPTS, OPT_SCOPE, OPT_NONE };
static const enum opt_id deny_opts[] = { DURATION_OPTS, OPT_SCOPE, OPT_REJECT, OPT_NONE };
static const enum opt_id add_opts[] = {
	OPT_ACTION, OPT_APP, OPT_USER, OPT_REMOTE, OPT_HOST, OPT_HOST_LIST, OPT_REMOTE_LIST,
	OPT_PORT, OPT_PROTO, OPT_DIRECTION, OPT_WEIGHT, OPT_NAME, OPT_ANY, OPT_CALLOUT,
	OPT_FOR, OPT_UNTIL_QUIT, OPT_UNTIL_RESTART, OPT_ALWAYS, OPT_SHA256, OPT_NONE
};
static const enum opt_id events_opts[] = { OPT_FOLLOW, OPT_LIMIT, OPT_NONE };
static const enum opt_id prompt_opts[] = { OPT_BELL, OPT_NONE };
static const enum opt_id history_opts[] = { OPT_APP, OPT_HOST, OPT_SINCE, OPT_LIMIT, OPT_NONE };
static const enum opt_id traffic_opts[] = { OPT_SINCE, OPT_NONE };
static const enum opt_id import_opts[] = { OPT_OPENSNITCH, OPT_NONE };

static const struct cli_cmd commands[] = {
	{ NULL, "status", "", "whether alegated runs; backend, counters", NULL,
	  no_opts, 0, 0, cmd_status },
	{ NULL, "pending", "", "flows waiting for a decision", NULL,
	  no_opts, 0, 0, cmd_pending },
	{ NULL, "allow", "ID [DURATION] [SCOPE]", "permit a pending flow",
	  "Complete the pending flow ID (see \"pending\") as permitted.  With a DURATION "
	  "other than once, also add a rule for flows like it, and say what it matches.  "
	  "The words of the prompt work here too: \"allow 12 5m host\" is "
	  "\"allow 12 --for 5m --scope host\".",
	  allow_opts, 1, 3, cmd_allow },
	{ NULL, "deny", "ID [DURATION] [SCOPE] [reject]", "block a pending flow",
	  "Complete the pending flow ID as blocked; with reject (or --reject) the program "
	  "fails at once instead of waiting for its timeout.  With a DURATION other than "
	  "once, also add a rule for flows like it.  \"deny 12 always port reject\" is "
	  "\"deny 12 --always --scope port --reject\".",
	  deny_opts, 1, 4, cmd_deny },
	{ "rules", "list", "", "list the rules", NULL, no_opts, 0, 0, cmd_rules_list },
	{ "rules", "show", "ID", "one rule, every field", NULL, no_opts, 1, 1, cmd_rules_show },
	{ "rules", "add", "--action A [COND...] [DURATION]", "add a rule",
	  "Add a rule.  The conditions (COND: --app, --sha256, --user, --remote, --host, --host-list, "
	  "--remote-list, --port, --proto, --direction) must all match.  An allow rule needs one, or --any to say that it "
	  "allows every flow.  DURATION defaults to --always.",
	  add_opts, 0, 0, cmd_rules_add },
	{ "rules", "del", "ID", "delete a rule", NULL, no_opts, 1, 1, cmd_rules_del },
	{ "rules", "enable", "ID", "enable a rule", NULL, no_opts, 1, 1, cmd_rules_enable },
	{ "rules", "disable", "ID", "disable a rule (it stays, unused)", NULL,
	  no_opts, 1, 1, cmd_rules_disable },
	{ "rules", "export", "[FILE]", "the rules saved to disk, as one JSON array",
	  "Write the rules alegated saves to disk as one JSON array of rule-file objects, "
	  "to FILE or to standard output when FILE is absent or -.",
	  no_opts, 0, 1, cmd_rules_export },
	{ "rules", "import", "FILE | --opensnitch DIR", "add the rules of an export or of OpenSnitch",
	  "Check every rule of FILE (as rules export writes it) and add them all, or none when "
	  "one is bad (FILE:INDEX: message, exit 2).  A rule identical to one alegated has is "
	  "skipped.  --opensnitch DIR converts OpenSnitch's rule files: a line per rule added, "
	  "FILE: reason on stderr for each that cannot be converted exactly (exit 1).",
	  import_opts, 0, 1, cmd_rules_import },
	{ NULL, "flows", "", "authorized live flows", NULL, no_opts, 0, 0, cmd_flows },
	{ NULL, "events", "[-f|--follow] [-n|--limit N]", "net events: permit, block, pend...",
	  NULL, events_opts, 0, 0, cmd_events },
	{ NULL, "history", "[FILTER...] [--limit N]",
	  "connections kept, newest first",
	  "Every connection alegated decided, newest first (100 unless --limit; up to "
	  "100000 with --json): when, what decided it, program, peer, and the bytes each "
	  "way once it ended.  FILTER: --app PATH (one executable), --host NAME (the name "
	  "and its subdomains), --since TIME (started in the last TIME: 30m, 1h, 7d).",
	  history_opts, 0, 0, cmd_history },
	{ NULL, "traffic", "[--since TIME]", "bytes per program, largest first",
	  "Connections and bytes received and sent per program, summed over the "
	  "connections kept (that started in the last TIME), largest first.",
	  traffic_opts, 0, 0, cmd_traffic },
	{ NULL, "prompt", "[--bell]", "answer pending flows interactively",
	  "Show each pending flow as it comes and read answers: "
	  "ID a|d|r [once|TIME|restart|quit|always] [app|host|remote|port] [reject].  "
	  "When alegated stops, wait for it and go on.  Type ? in the prompt for help.  "
	  "For people: scripts use pending, allow and deny, which take --json.",
	  prompt_opts, 0, 0, cmd_prompt },
	{ NULL, "reload", "", "re-read rules, reauthorize live flows", NULL,
	  no_opts, 0, 0, cmd_reload },
	{ NULL, "version", "", "versions of alegatectl and alegated", NULL,
	  no_opts, 0, 0, cmd_version },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const duration_text =
	"DURATION: --once (allow and deny only, their default), --for TIME,\n"
	"--until-quit, --until-restart or --always (the default of rules add);\n"
	"allow and deny take the words once, TIME (5m), quit, restart, always too.\n"
	"SCOPE (allow, deny): host, remote, port or app, as a word or --scope.\n"
	"An --until-quit rule lasts while alegatectl stays connected: it waits for\n"
	"Ctrl-C, SIGTERM or SIGHUP, or for the end of its input when that is a pipe\n"
	"or the terminal.\n";

static const char *prog = "alegatectl";

static int find_option(const char *name, char shortname)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (name ? strcmp(options[i].name, name) == 0 : options[i].shortname == shortname)
			return (int)i;
	return -1;
}

static const char *opt_name(enum opt_id id)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].id == id)
			return options[i].name;
	return "?";
}

static bool cmd_takes(const struct cli_cmd *cmd, enum opt_id id)
{
	if (id == OPT_HELP || id == OPT_JSON || id == OPT_SOCKET || id == OPT_FULL)
		return true;
	if (id == OPT_VERSION)
		return !cmd;	/* alegatectl --version; the version command asks alegated too */
	for (const enum opt_id *o = cmd ? cmd->opts : no_opts; *o != OPT_NONE; o++)
		if (*o == id)
			return true;
	return false;
}

static bool cmd_has_duration(const struct cli_cmd *cmd)
{
	return cmd_takes(cmd, OPT_ALWAYS);
}

static void print_usage_line(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "usage: %s [-s SOCKET] [--json] %s%s%s%s%s\n", prog,
		cmd->group ? cmd->group : "", cmd->group ? " " : "", cmd->name,
		*cmd->args ? " " : "", cmd->args);
}

/* Print @text wrapped at 78 columns, each line indented by @indent. */
static void wrap(FILE *f, const char *text, int indent, int first_used)
{
	int col = first_used;
	const char *p = text;

	while (*p) {
		size_t w = strcspn(p, " ");

		if (col > indent && col + 1 + (int)w > 78) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		} else if (col < indent) {
			fprintf(f, "%*s", indent - col, "");
			col = indent;
		}
		fwrite(p, 1, w, f);
		col += (int)w;
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

static void print_option(FILE *f, int i)
{
	char left[48];
	int n;

	if (options[i].shortname)
		n = snprintf(left, sizeof(left), "  -%c, --%s", options[i].shortname, options[i].name);
	else
		n = snprintf(left, sizeof(left), "      --%s", options[i].name);
	if (options[i].arg)
		n += snprintf(left + n, sizeof(left) - (size_t)n, " %s", options[i].arg);
	fputs(left, f);
	if (n > 24) {
		fputc('\n', f);
		n = 0;
	}
	wrap(f, options[i].help, 26, n);
}

static void command_help(const struct cli_cmd *cmd)
{
	print_usage_line(stdout, cmd);
	putchar('\n');
	wrap(stdout, cmd->doc ? cmd->doc : cmd->summary, 0, 0);
	printf("\nOptions:\n");
	for (const enum opt_id *o = cmd->opts; *o != OPT_NONE; o++)
		for (size_t i = 0; i < NOPTIONS; i++)
			if (options[i].id == *o)
				print_option(stdout, (int)i);
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].id == OPT_JSON || options[i].id == OPT_SOCKET ||
		    options[i].id == OPT_HELP || options[i].id == OPT_FULL)
			print_option(stdout, (int)i);
	if (cmd_has_duration(cmd)) {
		putchar('\n');
		fputs(duration_text, stdout);
	}
}

static void command_list(FILE *f, const char *group)
{
	char left[64];

	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cli_cmd *c = &commands[i];

		if (group && (!c->group || strcmp(c->group, group) != 0))
			continue;
		snprintf(left, sizeof(left), "  %s%s%s%s%s", c->group ? c->group : "",
			 c->group ? " " : "", c->name, *c->args ? " " : "", c->args);
		if (strlen(left) > 34)
			fprintf(f, "%s\n%36s%s\n", left, "", c->summary);
		else
			fprintf(f, "%-36s%s\n", left, c->summary);
	}
}

static void main_usage(FILE *f)
{
	fprintf(f, "usage: %s [-s SOCKET] [--json] [--full] COMMAND [ARGS...]\n", prog);
	fprintf(f, "       %s --version\n\n", prog);
	fprintf(f, "Control alegated, the interactive application firewall.\n\nCommands:\n");
	command_list(f, NULL);
	fprintf(f, "\n%s", duration_text);
	fprintf(f, "\nOptions, before or after the command:\n");
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].id == OPT_JSON || options[i].id == OPT_SOCKET ||
		    options[i].id == OPT_HELP || options[i].id == OPT_FULL ||
		    options[i].id == OPT_VERSION)
			print_option(f, (int)i);
	fprintf(f, "\n\"%s COMMAND -h\" describes a command; alegatectl(8) has the details.\n", prog);
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	if (cli && cli->cmd)
		fprintf(stderr, "%s: ", cli->cmdname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cli && cli->cmd) {
		print_usage_line(stderr, cli->cmd);
		fprintf(stderr, "Try \"%s %s -h\" for more.\n", prog, cli->cmdname);
	} else {
		fprintf(stderr, "Try \"%s -h\" for the commands.\n", prog);
	}
	return EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILED;
}

struct ag_ctl_conn *cli_connect(struct cli *cli)
{
	char err[AG_CTL_ERR_MAX] = "";
	struct ag_ctl_conn *c = ag_ctl_connect(cli->socket, err, sizeof(err));

	if (!c) {
		int e = errno;

		cli_fail("%s", err[0] ? err : strerror(e));
		/* Refused by the daemon, or the socket's mode: say how to get in. */
		if ((e == EACCES || e == EPERM) && geteuid() != 0)
			fprintf(stderr, "%s: hint: run it as root (sudo %s ...), or ask for membership "
				"of the group that control_group names in alegate.conf(5)\n", prog, prog);
	}
	return c;
}

int cli_call(struct ag_ctl_conn *c, json_t *req, json_t **result)
{
	char err[AG_CTL_ERR_MAX] = "";
	int r = ag_ctl_call(c, req, result, err, sizeof(err));

	json_decref(req);
	if (r == 0)
		return EXIT_DONE;
	cli_fail("%s", err[0] ? err : strerror(-r));
	return EXIT_FAILED;
}

int cli_ask(struct cli *cli, json_t *req, json_t **result)
{
	struct ag_ctl_conn *c = cli_connect(cli);
	int r;

	if (!c) {
		json_decref(req);
		return EXIT_FAILED;
	}
	r = cli_call(c, req, result);
	ag_ctl_close(c);
	return r;
}

int cli_ask_show(struct cli *cli, json_t *req, void (*human)(json_t *result))
{
	json_t *res;
	int r = cli_ask(cli, req, &res);

	if (r)
		return r;
	if (cli->json)
		out_json(res);
	else
		human(res);
	json_decref(res);
	return EXIT_DONE;
}

json_t *cli_id(const char *text)
{
	char *end;
	unsigned long long v;

	if (*text >= '0' && *text <= '9' && strlen(text) < 19) {
		errno = 0;
		v = strtoull(text, &end, 10);
		if (!*end && !errno)
			return json_integer((json_int_t)v);
	}
	return json_string(text);
}

/* ---- signals and waiting ------------------------------------------------------ */

volatile int cli_signal;
static sigset_t unblocked;

static void on_signal(int sig)
{
	cli_signal = sig;
}

void cli_signals_catch(bool prompt)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;
	size_t n = prompt ? 5 : 3;

	sigemptyset(&block);
	for (size_t i = 0; i < n; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	for (size_t i = 0; i < n; i++)
		sigdelset(&unblocked, sigs[i]);
}

int cli_ppoll(struct pollfd *fds, int n, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000 };

	return ppoll(fds, (nfds_t)n, timeout_ms < 0 ? NULL : &ts, &unblocked);
}

/*
 * Whether the end of stdin should end an until-quit rule.  A pipe or a
 * socket: yes, its writer going away is the natural "quit".  The terminal:
 * yes (Ctrl-D) while we are in its foreground; a background job must not
 * touch it.  /dev/null or a file: no, or "cmd </dev/null &" in a script
 * would drop the rule at once.
 */
static bool stdin_ends_hold(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) == -1)
		return false;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return true;
	if (isatty(STDIN_FILENO))
		return tcgetpgrp(STDIN_FILENO) == getpgrp();
	return false;
}

int cli_hold(struct ag_ctl_conn *c, const char *what)
{
	struct pollfd pfd[2] = {
		{ .fd = ag_ctl_fd(c), .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	bool use_stdin = stdin_ends_hold();
	char buf[512], err[AG_CTL_ERR_MAX] = "";
	json_t *m;
	int r;

	fflush(stdout);
	fprintf(stderr, "%s: %s lasts until this command ends (Ctrl-C, SIGTERM%s)\n", prog, what,
		use_stdin ? (isatty(STDIN_FILENO) ? " or Ctrl-D" : " or the end of its input") : "");
	cli_signals_catch(false);
	for (;;) {
		if (!ag_ctl_push_ready(c)) {
			if (cli_signal)
				return EXIT_DONE;
			if (cli_ppoll(pfd, use_stdin ? 2 : 1, -1) == -1)
				continue;	/* EINTR: look at the flag */
			if (use_stdin && pfd[1].revents) {
				ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

				if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
					return EXIT_DONE;
			}
			if (!pfd[0].revents)
				continue;
		}
		r = ag_ctl_next_push(c, 0, &m, err, sizeof(err));
		if (r < 0) {
			cli_fail("%s; %s is gone", err[0] ? err : strerror(-r), what);
			return EXIT_FAILED;
		}
		if (r == 1 && json_is_object(json_object_get(m, "bye"))) {
			/* The daemon says why it goes: say it, not just "closed". */
			char *why = out_text(json_object_get(json_object_get(m, "bye"), "reason"));

			json_decref(m);
			cli_fail("%s; %s is gone", why, what);
			free(why);
			return EXIT_FAILED;
		}
		if (r == 1)
			json_decref(m);	/* nothing subscribed: nothing to show */
	}
}

/* ---- parsing ---------------------------------------------------------------------- */

static const struct cli_cmd *find_command(const char *group, const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct cli_cmd *c = &commands[i];

		if (group ? c->group && strcmp(c->group, group) == 0 && strcmp(c->name, name) == 0 :
			    !c->group && strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

static bool is_group(const char *word)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].group && strcmp(commands[i].group, word) == 0)
			return true;
	return false;
}

static int set_option(struct cli *cli, struct cli_args *a, int oi, const char *val, const char *as)
{
	enum opt_id id = options[oi].id;

	bool repeats = cli->cmd && cli->cmd->opts == add_opts &&
		       (id == OPT_APP || id == OPT_USER || id == OPT_REMOTE || id == OPT_HOST ||
			id == OPT_PORT || id == OPT_PROTO);

	if (repeats) {
		/* several values of one condition: any of them matches */
		if (a->nrep == CLI_REPEAT_MAX)
			return cli_usage_error(cli, "too many condition values");
		a->rep[a->nrep] = val;
		a->rep_id[a->nrep++] = id;
		if (a->val[id])
			return 0;
	} else if (a->val[id] && id != OPT_JSON && id != OPT_HELP) {
		return cli_usage_error(cli, "option %s given twice", as);
	}
	if (id >= OPT_ONCE && id <= OPT_ALWAYS) {
		if (a->duration != OPT_NONE && a->duration != id)
			return cli_usage_error(cli, "give one DURATION, not --%s and --%s",
					       opt_name(a->duration), options[oi].name);
		a->duration = id;
	}
	a->val[id] = val ? val : "";
	if (id == OPT_JSON)
		cli->json = true;
	if (id == OPT_FULL)
		cli->full = out_full = true;
	if (id == OPT_SOCKET)
		cli->socket = val;
	return 0;
}

/*
 * Parse argv[i..] as options of cli->cmd (NULL: before the command, only the
 * global ones) and positional arguments.  Stops at the first positional
 * argument when @stop_at_word.  Return: 0, or an exit code; *@next is the
 * index after what was parsed.
 */
static int parse_args(struct cli *cli, struct cli_args *a, int argc, char **argv, int i,
		      bool stop_at_word, int *next)
{
	bool only_pos = false;
	char as[64];
	int r;

	for (; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		int oi;

		if (only_pos || arg[0] != '-' || arg[1] == '\0') {
			if (stop_at_word)
				break;
			if (a->npos == CLI_POS_MAX || a->npos >= cli->cmd->max_pos)
				return cli_usage_error(cli, "unexpected argument \"%s\"", arg);
			a->pos[a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (arg[1] == '-') {
			char name[32];

			eq = strchr(arg, '=');
			snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg - 2) : 31, arg + 2);
			oi = eq && eq - arg - 2 > 31 ? -1 : find_option(name, 0);
			if (eq)
				val = eq + 1;
			snprintf(as, sizeof(as), "--%s", name);
		} else {
			oi = arg[2] ? -1 : find_option(NULL, arg[1]);
			snprintf(as, sizeof(as), "-%c", arg[1]);
		}
		if (oi < 0 || !cmd_takes(cli->cmd, options[oi].id)) {
			if (oi >= 0 && !cli->cmd)
				return cli_usage_error(cli, "option \"%s\" goes after the command", arg);
			if (oi >= 0)
				return cli_usage_error(cli, "option %s does not apply to %s", as,
						       cli->cmdname);
			return cli_usage_error(cli, "unknown option \"%s\"", arg);
		}
		if (options[oi].arg && !val) {
			if (i + 1 >= argc)
				return cli_usage_error(cli, "option %s needs a value (%s)", as,
						       options[oi].arg);
			val = argv[++i];
		} else if (!options[oi].arg && val) {
			return cli_usage_error(cli, "option %s takes no value", as);
		}
		r = set_option(cli, a, oi, val, as);
		if (r)
			return r;
	}
	*next = i;
	return 0;
}

static bool utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	struct cli_args a = { 0 };
	const char *env = getenv("ALEGATE_SOCKET");
	const char *word;
	int i, r;

	setlocale(LC_CTYPE, "");
	out_init();
	cli.socket = env && *env ? env : AG_CTL_DEFAULT_SOCKET;

	r = parse_args(&cli, &a, argc, argv, 1, true, &i);
	if (r)
		return r;
	if (a.val[OPT_VERSION]) {
		printf("alegatectl %s\n", AG_VERSION);
		return EXIT_DONE;
	}
	if (i >= argc) {
		if (a.val[OPT_HELP]) {
			main_usage(stdout);
			return EXIT_DONE;
		}
		fprintf(stderr, "%s: no command given\n", prog);
		main_usage(stderr);
		return EXIT_USAGE;
	}
	word = argv[i++];
	if (is_group(word)) {
		if (i >= argc || argv[i][0] == '-') {
			if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
				printf("usage: %s [-s SOCKET] [--json] %s COMMAND ...\n\n", prog, word);
				command_list(stdout, word);
				printf("\n\"%s %s COMMAND -h\" describes a command.\n", prog, word);
				return EXIT_DONE;
			}
			fprintf(stderr, "%s: \"%s\" needs a command:\n", prog, word);
			command_list(stderr, word);
			return EXIT_USAGE;
		}
		cli.cmd = find_command(word, argv[i]);
		if (!cli.cmd) {
			fprintf(stderr, "%s: unknown command \"%s %s\"\n", prog, word, argv[i]);
			command_list(stderr, word);
			return EXIT_USAGE;
		}
		i++;
	} else {
		cli.cmd = find_command(NULL, word);
		if (!cli.cmd) {
			fprintf(stderr, "%s: unknown command \"%s\"\n", prog, word);
			fprintf(stderr, "Try \"%s -h\" for the commands.\n", prog);
			return EXIT_USAGE;
		}
	}
	snprintf(cli.cmdname, sizeof(cli.cmdname), "%s%s%s", cli.cmd->group ? cli.cmd->group : "",
		 cli.cmd->group ? " " : "", cli.cmd->name);

	r = parse_args(&cli, &a, argc, argv, i, false, &i);
	if (r)
		return r;
	if (a.val[OPT_HELP]) {
		command_help(cli.cmd);
		return EXIT_DONE;
	}
	if (a.npos < cli.cmd->min_pos)
		return cli_usage_error(&cli, "missing %.*s", (int)strcspn(cli.cmd->args, " "),
				       cli.cmd->args);
	/* Every argument may end up in a JSON string, which must be UTF-8. */
	for (int k = 0; k < a.npos; k++)
		if (!utf8_ok(a.pos[k]))
			return cli_usage_error(&cli, "argument %d is not valid UTF-8 text", k + 1);
	for (int k = 0; k < OPT_COUNT; k++)
		if (a.val[k] && k != OPT_SOCKET && !utf8_ok(a.val[k]))
			return cli_usage_error(&cli, "the value of --%s is not valid UTF-8 text",
					       opt_name((enum opt_id)k));
	for (unsigned k = 0; k < a.nrep; k++)
		if (!utf8_ok(a.rep[k]))
			return cli_usage_error(&cli, "the value of --%s is not valid UTF-8 text",
					       opt_name(a.rep_id[k]));
	if (a.duration == OPT_FOR) {
		char err[160];

		if (ag_duration_parse(a.val[OPT_FOR], &a.for_ms, err, sizeof(err)))
			return cli_usage_error(&cli, "%s", err);
	}
	if (!*cli.socket)
		return cli_usage_error(&cli, "the socket path is empty");
	r = cli.cmd->run(&cli, &a);
	if (fflush(stdout) == EOF && r == EXIT_DONE)
		return cli_fail("writing the output: %s", strerror(errno));
	return r;
}
