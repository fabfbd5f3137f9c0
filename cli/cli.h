/*
 * cli.h — alegatectl's pieces: the command table (main.c), output helpers
 * (output.c), the commands (commands.c, rules.c) and the interactive prompt
 * (prompt.c).  alegatectl is a thin client: it checks what it can check
 * without the daemon (option syntax), sends one request and prints the
 * answer; everything else is alegated's to decide.
 */
#ifndef ALEGATE_CLI_CLI_H
#define ALEGATE_CLI_CLI_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ctl/ctl.h"

#ifndef AG_VERSION
#define AG_VERSION "0.1.0"
#endif

/* Exit codes, as alegatectl(8) documents them. */
#define EXIT_DONE	0
#define EXIT_FAILED	1	/* refused or failed, message on stderr */
#define EXIT_USAGE	2

/* Every option of every command; a command's table lists the ones it takes. */
enum opt_id {
	OPT_NONE = 0,
	OPT_HELP, OPT_JSON, OPT_SOCKET, OPT_FULL, OPT_VERSION,
	OPT_ONCE, OPT_FOR, OPT_UNTIL_QUIT, OPT_UNTIL_RESTART, OPT_ALWAYS,
	OPT_SCOPE, OPT_REJECT,
	OPT_ACTION, OPT_APP, OPT_USER, OPT_REMOTE, OPT_HOST, OPT_PORT, OPT_PROTO,
	OPT_DIRECTION, OPT_WEIGHT, OPT_NAME, OPT_ANY, OPT_CALLOUT,
	OPT_FOLLOW, OPT_LIMIT, OPT_BELL, OPT_SINCE, OPT_OPENSNITCH, OPT_HOST_LIST, OPT_REMOTE_LIST,
	OPT_SHA256,
	OPT_COUNT
};

#define CLI_POS_MAX	4	/* positional arguments a command may take */

/* What the command line said, after checking it against the command. */
/* values of the options a rule may repeat: six conditions of 64 values */
#define CLI_REPEAT_MAX 384

struct cli_args {
	const char *val[OPT_COUNT];	/* the value, "" for a flag; NULL: absent */
	const char *pos[CLI_POS_MAX];
	int npos;
	enum opt_id duration;		/* the DURATION option given, or OPT_NONE */
	uint64_t for_ms;		/* with OPT_FOR */
	/*
	 * rules add: --app, --user, --remote, --host, --port and --proto may be
	 * given several times (OR); every value in order, val[] holds the first.
	 */
	const char *rep[CLI_REPEAT_MAX];
	enum opt_id rep_id[CLI_REPEAT_MAX];
	unsigned nrep;
};

struct cli;

struct cli_cmd {
	const char *group;	/* "rules", or NULL */
	const char *name;	/* "add" within its group, or the command */
	const char *args;	/* usage after the name: "ID [DURATION] [--scope S]" */
	const char *summary;	/* one line for the command list */
	const char *doc;	/* a paragraph for -h, or NULL */
	const enum opt_id *opts;	/* options it takes beyond the global ones */
	int min_pos, max_pos;
	int (*run)(struct cli *cli, struct cli_args *a);
};

struct cli {
	const char *socket;
	bool json;
	bool full;		/* --full: never cut a column */
	const struct cli_cmd *cmd;
	char cmdname[32];	/* "rules add", for messages */
};

/* main.c */
/* "alegatectl: CMD: message" on stderr, the usage line, return EXIT_USAGE. */
int cli_usage_error(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "alegatectl: message" on stderr; return EXIT_FAILED. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connect or say why, with how to get the rights when refused; NULL on failure. */
struct ag_ctl_conn *cli_connect(struct cli *cli);
/*
 * Send @req (a reference is taken over) and wait for the answer.
 * Return: EXIT_DONE with *@result (caller decrefs), or EXIT_FAILED after
 * printing the daemon's message.
 */
int cli_call(struct ag_ctl_conn *c, json_t *req, json_t **result);
/* Connect, cli_call() and close: one request, one answer. */
int cli_ask(struct cli *cli, json_t *req, json_t **result);
/*
 * Connect, send @req (a reference is taken over) and print the answer: as
 * JSON with --json, else by @human.  Return: EXIT_DONE, or EXIT_FAILED
 * after saying why.
 */
int cli_ask_show(struct cli *cli, json_t *req, void (*human)(json_t *result));
/*
 * Keep @c open after an until-quit rule was made: until SIGINT, SIGTERM or
 * SIGHUP, or end of standard input when that is a pipe, socket or the
 * terminal (in the foreground).  @what names the rule for the message.
 * Return: EXIT_DONE, or EXIT_FAILED when alegated closed the connection.
 */
int cli_hold(struct ag_ctl_conn *c, const char *what);
/* An ID argument as the protocol wants it: a number if all digits, else a string. */
json_t *cli_id(const char *text);

/*
 * Signals for the long-running commands (hold, events --follow, prompt):
 * cli_signals_catch() blocks them and installs flag-setting handlers;
 * cli_ppoll() waits with them unblocked.  cli_signal is the last one seen.
 */
extern volatile int cli_signal;
void cli_signals_catch(bool prompt);
int cli_ppoll(struct pollfd *fds, int n, int timeout_ms);

/* words.c: the words of an answer, shared by allow/deny and the prompt */
struct cli_answer {
	const char *duration;	/* protocol name (once, for, until-quit, ...), NULL: not said */
	uint64_t for_ms;	/* with "for" */
	const char *scope;	/* protocol name (app, app+host, ...), NULL: not said */
	bool reject;
	char duration_word[AG_CTL_QUOTE_MAX + 1], scope_word[AG_CTL_QUOTE_MAX + 1];
};
/*
 * Take one word ("5m", "always", "host", "reject"...) into @ans.
 * Return: 0, or -1 with a message quoting the word in @err.
 */
int cli_answer_word(struct cli_answer *ans, const char *word, char *err, size_t errlen);
/* Whether @ans makes sense for allow (@allow) or deny; -1 with @err when not. */
int cli_answer_check(const struct cli_answer *ans, bool allow, char *err, size_t errlen);
/*
 * The allow or deny request for pended flow @id (taken: the request owns
 * it) as @ans says; "once" when it says no duration.  NULL when memory ran
 * out.
 */
json_t *cli_answer_request(struct cli_answer *ans, bool allow, json_t *id);
/* A SCOPE word ("host", "app+host") as the protocol names it, or NULL. */
const char *cli_scope_value(const char *word);
/* "once", "for 5m", "until alegated restarts"... for a person; @buf for "for". */
const char *cli_duration_text(const char *duration, uint64_t for_ms, char *buf, size_t len);

/* rules.c */
/*
 * What a rule (a protocol rule object) matches, for a person: "allow
 * /usr/bin/curl to example.org port 443, always".  @quit says how an
 * until-quit rule ends ("until this prompt quits").  Malloc'ed, sanitized.
 */
char *cli_rule_text(const json_t *rule, const char *quit);
/*
 * Print what an answer or a rules add reply says beyond the rule id: the
 * rule's description, an older rule that outranks it, a warning.  @say
 * prints one line (the prompt's, or printf's).
 */
void cli_rule_notes(const json_t *reply, const char *quit,
		    void (*say)(void *arg, const char *line), void *arg);

/* output.c */
extern bool out_full;			/* --full: tables are never cut */
extern bool out_color;			/* stdout is a terminal, NO_COLOR unset */
extern const char *c_bold, *c_dim, *c_red, *c_green, *c_yellow, *c_reset;
void out_init(void);
/* Columns to fit tables in: the terminal's; no limit (INT_MAX) when stdout is not a terminal or with --full. */
int out_width(void);
/* The string member @key of @o; NULL when absent or not a string. */
const char *out_str(const json_t *o, const char *key);
void out_json(const json_t *v);		/* one JSON value and '\n' on stdout */
void out_json_line(const json_t *v);	/* compact, one line, flushed */
/* A value as text for a person: sanitized, "-" for null/absent; malloc'ed. */
char *out_text(const json_t *v);
/* The last path component, or "-". Returns a pointer into @path or "-". */
const char *out_base(const char *path);
/* Display columns of UTF-8 text (one per code point). */
int out_cols(const char *s);
/* Copy @s cut to @cols columns into @buf (@len bytes), ellipsis at the end. */
void out_cut(char *buf, size_t len, const char *s, int cols);
/* Split "ADDR:PORT" / "[ADDR]:PORT" into @addr and @port ("" when absent). */
void out_split_addr(const char *s, char *addr, size_t alen, char *port, size_t plen);

#define TABLE_COLS_MAX	12
#define COL_RIGHT	0x1	/* right-aligned (numbers) */
#define COL_SHRINK	0x2	/* may be cut to fit the width */
#define COL_CUT_END	0x4	/* when cut, keep the start (default: the end) */
#define COL_SHRINK_LAST	0x8	/* may be cut, but only after every COL_SHRINK one */

struct table {
	int ncols;
	const char *head[TABLE_COLS_MAX];
	unsigned flags[TABLE_COLS_MAX];
	int width[TABLE_COLS_MAX];
	bool nocut;		/* fitted to no limit: cells wider than the column stay whole */
	char **cells;
	size_t nrows, cap;
};

/*
 * A table printed in aligned columns: init with @ncols (<= TABLE_COLS_MAX)
 * headers and COL_* flags (borrowed, must outlive @t; @flags may be NULL),
 * add rows, fit, print, free.  Memory problems abort: it is a CLI.
 */
void table_init(struct table *t, int ncols, const char *const *head, const unsigned *flags);
/* Add a row of ncols strings (copied, sanitized; NULL or "" shows "-"). */
void table_add(struct table *t, const char *const *cells);
/*
 * Widths from the contents and headers, then columns cut until the table
 * fits @maxw: COL_SHRINK ones first, COL_SHRINK_LAST ones after, none below
 * 6 columns or its header.  A table of columns that may not shrink can
 * stay wider.
 */
void table_fit(struct table *t, int maxw);
/* Fit to the terminal's width (or not, when piped), print, free. */
void table_show(struct table *t);
/* Print the headers / one row of ncols cells (cut to the fitted widths). */
void table_print_head(const struct table *t);
void table_print_row(const struct table *t, const char *const *cells);
/* Headers, then every row added. */
void table_print(const struct table *t);
/* Free the rows; @t may be initialized again. */
void table_free(struct table *t);

/*
 * The commands, as the table in main.c runs them: @a holds what the
 * command line said, already checked for arity and option syntax.
 * Return: the exit status (EXIT_DONE, EXIT_FAILED, EXIT_USAGE).
 */
int cmd_status(struct cli *cli, struct cli_args *a);
int cmd_pending(struct cli *cli, struct cli_args *a);
int cmd_allow(struct cli *cli, struct cli_args *a);
int cmd_deny(struct cli *cli, struct cli_args *a);
int cmd_flows(struct cli *cli, struct cli_args *a);
int cmd_events(struct cli *cli, struct cli_args *a);
/* history.c */
int cmd_history(struct cli *cli, struct cli_args *a);
int cmd_traffic(struct cli *cli, struct cli_args *a);
int cmd_reload(struct cli *cli, struct cli_args *a);
int cmd_version(struct cli *cli, struct cli_args *a);
int cmd_rules_list(struct cli *cli, struct cli_args *a);
int cmd_rules_show(struct cli *cli, struct cli_args *a);
int cmd_rules_add(struct cli *cli, struct cli_args *a);
int cmd_rules_del(struct cli *cli, struct cli_args *a);
int cmd_rules_enable(struct cli *cli, struct cli_args *a);
int cmd_rules_disable(struct cli *cli, struct cli_args *a);
/* import.c */
int cmd_rules_export(struct cli *cli, struct cli_args *a);
int cmd_rules_import(struct cli *cli, struct cli_args *a);
int cmd_prompt(struct cli *cli, struct cli_args *a);

#endif
