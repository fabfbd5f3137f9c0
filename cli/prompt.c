/*
 * prompt.c — `alegatectl prompt`: answer pending flows as they come.
 *
 * Line-based on purpose: it works over ssh, in a plain pty and in a pipe,
 * with nothing but ANSI "erase line" on a terminal.  On a terminal the
 * input is read a key at a time (echo off, signals kept) so that a flow
 * arriving while the person types can be printed above the prompt, which
 * is then drawn again with what was typed.  Without a terminal, answers
 * are read line by line and no prompt is drawn.
 *
 * The prompt never answers anything by itself: a flow nobody answers waits
 * for alegated's timeout.  "quit" rules belong to this connection's
 * session, so they end when the prompt does.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/text.h"
#include "cli.h"

#define PROMPT_LINE_MAX	256	/* one typed answer, bytes */
#define PROMPT_TOKENS	10

struct pflow {
	json_t *obj;		/* the pending flow as alegated sent it */
	char key[48];		/* its id as a person types it */
	long long seen;		/* CLOCK_MONOTONIC ms when it arrived */
	long long age0;		/* its age_ms then */
};

struct prompt {
	struct ag_ctl_conn *c;
	struct pflow *f;	/* oldest first */
	size_t n, cap;
	bool interactive;	/* stdin and stdout are a terminal */
	bool raw, shown, bell;
	struct termios saved;
	char line[PROMPT_LINE_MAX];
	size_t len;
	int esc;		/* inside an escape sequence: 1 after ESC, 2 in CSI */
	struct ag_ctl_buf in;	/* stdin lines when it is not a terminal */
	unsigned long dropped;
	int quit_rules;		/* until-quit rules this session made */
	int width;
	bool quit;
	bool lost;		/* the connection broke: wait for alegated, then go on */
	char gone[256];		/* why, as alegated or the connection said */
	const char *socket;
	int status;
};

static struct prompt *restore_on_exit;

/* ---- terminal ------------------------------------------------------------------------- */

static void raw_enter(struct prompt *p)
{
	struct termios t;

	if (!p->interactive || p->raw || tcgetattr(STDIN_FILENO, &p->saved) == -1)
		return;
	t = p->saved;
	/* Keys one at a time, no echo; ISIG stays so Ctrl-C and Ctrl-Z work. */
	t.c_lflag &= (tcflag_t)~(ICANON | ECHO | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
		p->raw = true;
}

static void raw_leave(struct prompt *p)
{
	if (p->raw) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &p->saved);
		p->raw = false;
	}
}

static void restore_terminal(void)
{
	if (restore_on_exit)
		raw_leave(restore_on_exit);
}

/* Take the prompt line off the screen before printing above it. */
static void screen_begin(struct prompt *p)
{
	if (p->shown) {
		fputs("\r\033[K", stdout);
		p->shown = false;
	}
}

/* Draw the prompt line again, with what was typed so far. */
static void screen_end(struct prompt *p)
{
	if (p->interactive) {
		if (p->n)
			printf("%salegate (%zu waiting)>%s %.*s", c_bold, p->n, c_reset,
			       (int)p->len, p->line);
		else
			printf("%salegate>%s %.*s", c_bold, c_reset, (int)p->len, p->line);
		p->shown = true;
	}
	fflush(stdout);
}

/* Print one line, cut to the terminal's width (a wrapped line breaks redraws). */
static void prompt_line(struct prompt *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void prompt_line(struct prompt *p, const char *fmt, ...)
{
	char buf[8192], cut[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (p->interactive) {
		/* A line that wraps would leave half of it behind on a redraw. */
		out_cut(cut, sizeof(cut), buf, p->width - 1);
		printf("%s%s\n", cut, c_reset);
	} else {
		puts(buf);
		fflush(stdout);	/* a pipe's reader waits for each line */
	}
}

/* ---- the list of waiting flows ----------------------------------------------------------- */

/* The flow's id as the key it is listed under, safe to print. */
static void key_of(const json_t *id, char *key, size_t len)
{
	ag_ctl_id_text(id, key, len);
	ag_sanitize(key);
}

static ssize_t find(const struct prompt *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->f[i].key, key))
			return (ssize_t)i;
	return -1;
}

/* Add a pending flow; return its index, or -1 if it was known or has no id. */
static ssize_t add(struct prompt *p, json_t *obj)
{
	struct pflow *n;
	char key[48];
	const json_t *age = json_object_get(obj, "age_ms");

	key_of(json_object_get(obj, "id"), key, sizeof(key));
	if (!*key || find(p, key) >= 0)
		return -1;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		n = realloc(p->f, p->cap * sizeof(*n));
		if (!n)
			abort();
		p->f = n;
	}
	n = &p->f[p->n];
	n->obj = json_incref(obj);
	snprintf(n->key, sizeof(n->key), "%s", key);
	n->seen = ag_mono_ms();
	n->age0 = json_is_integer(age) && json_integer_value(age) > 0 ? json_integer_value(age) : 0;
	return (ssize_t)p->n++;
}

static void del(struct prompt *p, size_t i)
{
	json_decref(p->f[i].obj);
	memmove(&p->f[i], &p->f[i + 1], (p->n - i - 1) * sizeof(p->f[0]));
	p->n--;
}

static void clear(struct prompt *p)
{
	while (p->n)
		del(p, p->n - 1);
}

/*
 * Two lines per flow: what and where, then who.
 *   [12] out tcp  curl -> example.org (93.184.216.34) port 443, waiting 3s (timeout in 27s)
 *        /usr/bin/curl  pid 1234  user alice  "curl https://example.org"
 */
static void render(struct prompt *p, const struct pflow *pf, bool fresh)
{
	const json_t *o = pf->obj, *to = json_object_get(o, "timeout_ms");
	const json_t *uid = json_object_get(o, "uid");
	const char *dir = out_str(o, "direction"), *proto = out_str(o, "proto");
	long long waited = ag_mono_ms() - pf->seen;
	char raddr[64], rport[16], laddr[64], lport[16], age[AG_DURATION_TEXT_MAX + 16];
	char left[AG_DURATION_TEXT_MAX + 16] = "", tmp[AG_DURATION_TEXT_MAX];
	char where[320], who[64], cmdq[300] = "";
	char *exe, *user, *pid, *host, *cmd, *d, *pr;
	bool in = dir && !strcmp(dir, "in");
	bool ports = !proto || (strcmp(proto, "icmp") && strcmp(proto, "icmpv6"));

	out_split_addr(out_str(o, "remote"), raddr, sizeof(raddr), rport, sizeof(rport));
	out_split_addr(out_str(o, "local"), laddr, sizeof(laddr), lport, sizeof(lport));
	if (!*raddr)
		strcpy(raddr, "-");
	if (!ports)
		rport[0] = lport[0] = '\0';
	exe = out_text(json_object_get(o, "exe"));
	host = out_str(o, "host") ? out_text(json_object_get(o, "host")) : NULL;
	pid = out_text(json_object_get(o, "pid"));
	user = out_str(o, "user") ? out_text(json_object_get(o, "user")) : NULL;
	cmd = out_str(o, "cmdline") ? out_text(json_object_get(o, "cmdline")) : NULL;
	d = out_text(json_object_get(o, "direction"));
	pr = out_text(json_object_get(o, "proto"));

	if (pf->age0 + waited < 1000)
		snprintf(age, sizeof(age), "just now");
	else
		snprintf(age, sizeof(age), "waiting %s",
			 ag_duration_format((uint64_t)(pf->age0 + waited), tmp, sizeof(tmp)));
	if (json_is_integer(to)) {
		long long l = json_integer_value(to) - waited;
		char t[AG_DURATION_TEXT_MAX];

		/* A countdown rounds up: 29.9 s left is "30s", 0.2 s is "1s". */
		if (l > 0)
			l = (l + 999) / 1000 * 1000;

		snprintf(left, sizeof(left), " (timeout in %s)",
			 ag_duration_format(l > 0 ? (uint64_t)l : 0, t, sizeof(t)));
	}
	if (in)
		snprintf(where, sizeof(where), "<- %s%s%s%s%s%s%s%s", raddr,
			 host ? " (" : "", host ? host : "", host ? ")" : "",
			 *rport ? " port " : "", rport, *lport ? ", to port " : "", lport);
	else if (host)
		snprintf(where, sizeof(where), "-> %s (%s)%s%s", host, raddr,
			 *rport ? " port " : "", rport);
	else
		snprintf(where, sizeof(where), "-> %s%s%s", raddr, *rport ? " port " : "", rport);
	if (user)
		snprintf(who, sizeof(who), "user %s", user);
	else if (json_is_integer(uid))
		snprintf(who, sizeof(who), "uid %lld", (long long)json_integer_value(uid));
	else
		snprintf(who, sizeof(who), "user -");
	if (cmd)
		snprintf(cmdq, sizeof(cmdq), "  \"%s\"", cmd);
	ag_sanitize(where);

	prompt_line(p, "%s%s[%s]%s %s %s  %s%s%s %s, %s%s", fresh ? c_yellow : "", c_bold,
	    pf->key, c_reset, d, pr, c_bold, out_base(exe), c_reset, where, age, left);
	prompt_line(p, "     %s  pid %s  %s%s", exe, pid, who, cmdq);
	free(exe);
	free(host);
	free(pid);
	free(user);
	free(cmd);
	free(d);
	free(pr);
}

static void list(struct prompt *p)
{
	if (!p->n) {
		prompt_line(p, "No flow is waiting; new ones show up here.");
		return;
	}
	prompt_line(p, "%zu flow%s waiting, oldest first:", p->n, p->n == 1 ? "" : "s");
	for (size_t i = 0; i < p->n; i++)
		render(p, &p->f[i], false);
}

static int by_age(const void *a, const void *b)
{
	const struct pflow *x = a, *y = b;

	return (x->age0 < y->age0) - (x->age0 > y->age0);
}

/* Ask for the whole list again: at start, and after pushes were lost. */
static int resync(struct prompt *p)
{
	json_t *res, *o;
	size_t i;
	int r = cli_call(p->c, json_pack("{s:s}", "op", "pending"), &res);

	if (r)
		return r;
	clear(p);
	json_array_foreach(res, i, o)
		add(p, o);
	json_decref(res);
	if (p->n > 1)
		qsort(p->f, p->n, sizeof(p->f[0]), by_age);
	p->dropped = ag_ctl_pushes_dropped(p->c);
	return EXIT_DONE;
}

/* ---- answers ------------------------------------------------------------------------------- */

static void help(struct prompt *p)
{
	prompt_line(p, "Answer a flow:  ID a|d|r [DURATION] [SCOPE]   e.g.  12 a   12 d always   12 a 1h host");
	prompt_line(p, "  a = allow, d = deny, r = reject (deny, and the program fails at once;");
	prompt_line(p, "  \"12 d reject\" too); a, d or r alone answers the oldest flow, once.");
	prompt_line(p, "  DURATION  once (default)  5m, 1h30m... (a rule for that long)");
	prompt_line(p, "            restart (until alegated restarts)  quit (until this prompt quits)");
	prompt_line(p, "            always (a rule saved to disk)");
	prompt_line(p, "  SCOPE     what the rule matches besides the program: host (default when the");
	prompt_line(p, "            host is known, else remote), remote (the address), port, app (any)");
	prompt_line(p, "A more specific rule, or a deny over an allow, is tried first: the answer says");
	prompt_line(p, "when an older rule still decides such flows.");
	prompt_line(p, "l  list the waiting flows    ?  this help    q  quit (Ctrl-D too)");
	prompt_line(p, "Flows nobody answers wait for alegated's timeout; nothing is answered for you.");
}

/* a, d, r (reject: a deny the program learns at once) and their long forms. */
static bool is_verb(const char *t, bool *allow, bool *reject)
{
	*reject = false;
	if (!strcmp(t, "a") || !strcmp(t, "allow")) {
		*allow = true;
		return true;
	}
	if (!strcmp(t, "d") || !strcmp(t, "deny")) {
		*allow = false;
		return true;
	}
	if (!strcmp(t, "r") || !strcmp(t, "reject")) {
		*allow = false;
		*reject = true;
		return true;
	}
	return false;
}

static void say_line(void *arg, const char *line)
{
	prompt_line(arg, "     %s", line);
}

static void answer(struct prompt *p, char **tok, int ntok)
{
	struct cli_answer ans = { 0 };
	char err[256], dur[AG_DURATION_TEXT_MAX + 16], msg[AG_CTL_ERR_MAX] = "", key[48];
	json_t *req, *res;
	ssize_t idx;
	bool allow, reject;
	int i, r;

	if (is_verb(tok[0], &allow, &reject)) {
		if (!p->n) {
			prompt_line(p, "? no flow is waiting");
			return;
		}
		idx = 0;
		i = 1;
	} else {
		idx = find(p, tok[0]);
		if (idx < 0) {
			char *t = ag_sanitize(strdup(tok[0]));

			prompt_line(p, "? no waiting flow \"%s\" (l lists them, ? helps)", t);
			free(t);
			return;
		}
		if (ntok < 2 || !is_verb(tok[1], &allow, &reject)) {
			prompt_line(p, "? a (allow), d (deny) or r (reject) after the flow id: \"%s a\"",
			    p->f[idx].key);
			return;
		}
		i = 2;
	}
	ans.reject = reject;
	for (; i < ntok; i++) {
		const char *w = tok[i];

		/* The command line's options say the same: "--for 5m", "--scope host". */
		if ((!strcmp(w, "--for") || !strcmp(w, "--scope")) && i + 1 < ntok)
			w = tok[++i];
		else if (!strncmp(w, "--", 2))
			w += 2;
		if (cli_answer_word(&ans, w, err, sizeof(err))) {
			prompt_line(p, "? %s (? helps)", err);
			return;
		}
	}
	if (cli_answer_check(&ans, allow, err, sizeof(err))) {
		prompt_line(p, "? %s", err);
		return;
	}
	req = cli_answer_request(&ans, allow, json_incref(json_object_get(p->f[idx].obj, "id")));
	snprintf(key, sizeof(key), "%s", p->f[idx].key);
	r = ag_ctl_call(p->c, req, &res, msg, sizeof(msg));
	json_decref(req);
	if (r == -EREMOTEIO) {
		prompt_line(p, "%s[%s] not answered:%s %s", c_red, key, c_reset, msg);
		/* Gone meanwhile (timeout, another client): the resolved notice may not come. */
		if (!strcmp(ag_ctl_error_code(p->c), "not_found") && (idx = find(p, key)) >= 0)
			del(p, (size_t)idx);
		return;
	}
	if (r) {
		prompt_line(p, "alegatectl: %s", msg[0] ? msg : strerror(-r));
		p->lost = true;
		return;
	}
	idx = find(p, key);
	if (idx >= 0)
		del(p, (size_t)idx);
	{
		const json_t *rule = json_object_get(res, "rule");
		char *rid = json_is_null(rule) || !rule ? NULL : out_text(rule);

		const char *how = !strcmp(ans.duration, "until-quit") ? "until this prompt quits" :
				  cli_duration_text(ans.duration, ans.for_ms, dur, sizeof(dur));

		if (rid && !strcmp(ans.duration, "until-quit"))
			p->quit_rules++;
		prompt_line(p, "%s[%s] %s%s %s%s%s", allow ? c_green : c_red, key,
		    allow ? "allowed" : ans.reject ? "rejected" : "denied", c_reset, how,
		    rid ? ": rule " : "", rid ? rid : "");
		free(rid);
		cli_rule_notes(res, "until this prompt quits", say_line, p);
	}
	json_decref(res);
}

static void submit(struct prompt *p, char *text)
{
	char *tok[PROMPT_TOKENS + 1], *save = NULL, *t;
	int n = 0;

	for (t = strtok_r(text, " \t\r\n", &save); t && n <= PROMPT_TOKENS;
	     t = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = t;
	if (n == 0)
		return;
	if (n > PROMPT_TOKENS) {
		prompt_line(p, "? too many words (? helps)");
		return;
	}
	if (n == 1 && (!strcmp(tok[0], "?") || !strcmp(tok[0], "h") || !strcmp(tok[0], "help")))
		help(p);
	else if (n == 1 && (!strcmp(tok[0], "l") || !strcmp(tok[0], "list") || !strcmp(tok[0], "ls")))
		list(p);
	else if (n == 1 && (!strcmp(tok[0], "q") || !strcmp(tok[0], "quit") || !strcmp(tok[0], "exit")))
		p->quit = true;
	else
		answer(p, tok, n);
}

/* ---- input ------------------------------------------------------------------------------------ */

static void redraw(struct prompt *p)
{
	screen_begin(p);
	screen_end(p);
}

static void key(struct prompt *p, unsigned char ch)
{
	if (p->esc == 1) {
		p->esc = (ch == '[' || ch == 'O') ? 2 : 0;
		return;
	}
	if (p->esc == 2) {
		if (ch >= 0x40 && ch <= 0x7e)
			p->esc = 0;	/* the final byte of an arrow or function key */
		return;
	}
	switch (ch) {
	case 0x1b:
		p->esc = 1;
		return;
	case '\r':
	case '\n':
		p->line[p->len] = '\0';
		fputs("\n", stdout);
		p->shown = false;
		{
			char text[PROMPT_LINE_MAX];

			memcpy(text, p->line, p->len + 1);
			p->len = 0;
			submit(p, text);
		}
		if (!p->quit)
			screen_end(p);
		return;
	case 0x7f:
	case 0x08:	/* erase one character, all bytes of it */
		while (p->len && ((unsigned char)p->line[--p->len] & 0xc0) == 0x80)
			;
		redraw(p);
		return;
	case 0x15:	/* Ctrl-U */
		p->len = 0;
		redraw(p);
		return;
	case 0x17:	/* Ctrl-W: the last word */
		while (p->len && p->line[p->len - 1] == ' ')
			p->len--;
		while (p->len && p->line[p->len - 1] != ' ')
			p->len--;
		redraw(p);
		return;
	case 0x0c:	/* Ctrl-L */
		screen_begin(p);
		fputs("\033[H\033[2J", stdout);
		list(p);
		screen_end(p);
		return;
	case 0x04:	/* Ctrl-D */
		if (!p->len)
			p->quit = true;
		return;
	default:
		if (ch < 0x20 || p->len + 1 >= sizeof(p->line))
			return;
		p->line[p->len++] = (char)ch;
		fputc(ch, stdout);
		fflush(stdout);
	}
}

/* Read what stdin has; false at its end. */
static bool read_input(struct prompt *p)
{
	unsigned char buf[256];
	char *line;
	size_t len;
	ssize_t n;
	int r = 0;

	if (p->interactive) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
			return false;
		for (ssize_t i = 0; i < n && !p->quit; i++)
			key(p, buf[i]);
		return true;
	}
	n = ag_ctl_buf_read(&p->in, STDIN_FILENO);
	if (n == -EAGAIN || n == -EINTR)
		return true;
	while (!p->quit && (r = ag_ctl_buf_pop(&p->in, &line, &len)) == 1)
		submit(p, line);
	if (r == -EMSGSIZE) {
		prompt_line(p, "? an answer line longer than %d bytes: stopping", PROMPT_LINE_MAX);
		p->status = EXIT_FAILED;
		return false;
	}
	return n > 0;
}

/* ---- pushed messages ---------------------------------------------------------------------------- */

static void on_push(struct prompt *p, json_t *m)
{
	json_t *pend = json_object_get(m, "pending"), *res = json_object_get(m, "resolved");
	json_t *bye = json_object_get(m, "bye");
	char key[48];
	ssize_t i;

	if (json_is_object(bye)) {
		/* The daemon says why it goes; the connection ends next. */
		const char *why = out_str(bye, "reason");

		snprintf(p->gone, sizeof(p->gone), "%s", why && *why ? why : "alegated closed the connection");
		ag_sanitize(p->gone);
		p->lost = true;
		return;
	}
	if (json_is_object(pend)) {
		i = add(p, pend);
		if (i < 0)
			return;
		screen_begin(p);
		if (p->bell && p->interactive)
			fputc('\a', stdout);
		render(p, &p->f[i], true);
		screen_end(p);
	} else if (json_is_object(res)) {
		char *v;

		key_of(json_object_get(res, "id"), key, sizeof(key));
		i = find(p, key);
		if (i < 0)
			return;	/* ours: already said, or never shown */
		v = out_text(json_object_get(res, "verdict"));
		screen_begin(p);
		if (out_str(res, "reason")) {
			char *why = out_text(json_object_get(res, "reason"));

			prompt_line(p, "%s[%s] %s: %s%s", c_dim, key, why, v, c_reset);
			free(why);
		} else {
			prompt_line(p, "%s[%s] decided elsewhere: %s%s (another client or the timeout)", c_dim,
			    key, v, c_reset);
		}
		free(v);
		del(p, (size_t)i);
		screen_end(p);
	}
}

static void suspend(struct prompt *p)
{
	sigset_t s;

	screen_begin(p);
	fflush(stdout);
	raw_leave(p);
	signal(SIGTSTP, SIG_DFL);
	sigemptyset(&s);
	sigaddset(&s, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(SIGTSTP);
	/* Continued. */
	sigprocmask(SIG_BLOCK, &s, NULL);
	cli_signals_catch(true);
	raw_enter(p);
	screen_end(p);
}

/*
 * Connect, subscribe, then list: a flow pended in between is in one or both.
 * @quiet: say nothing when alegated is not there (while waiting for it).
 * Return: EXIT_DONE, or EXIT_FAILED (said unless @quiet and it is absent).
 */
static int session_open(struct prompt *p, bool quiet)
{
	char err[AG_CTL_ERR_MAX] = "";
	json_t *res;
	int r;

	p->c = ag_ctl_connect(p->socket, err, sizeof(err));
	if (!p->c) {
		int e = errno;

		/* Not there (yet): a refusal or another protocol is final. */
		if (!quiet || !(e == ENOENT || e == ECONNREFUSED || e == ECONNRESET ||
				e == ETIMEDOUT || e == EPROTO))
			cli_fail("%s", err[0] ? err : strerror(e));
		return quiet && (e == ENOENT || e == ECONNREFUSED || e == ECONNRESET ||
				 e == ETIMEDOUT || e == EPROTO) ? -EAGAIN : EXIT_FAILED;
	}
	ag_ctl_set_timeout(p->c, AG_CTL_TIMEOUT_MS);
	r = cli_call(p->c, json_pack("{s:s, s:b, s:b}", "op", "subscribe", "pending", 1,
				     "events", 0), &res);
	if (!r) {
		json_decref(res);
		r = resync(p);
	}
	if (r) {
		ag_ctl_close(p->c);
		p->c = NULL;
	}
	return r;
}

/*
 * alegated went away (it stopped, or the connection broke): say so, then
 * try again every half second until it is back or the person quits.
 * Return: true when connected again.
 */
static bool wait_for_daemon(struct prompt *p)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int r;

	ag_ctl_close(p->c);
	p->c = NULL;
	p->lost = false;
	screen_begin(p);
	prompt_line(p, "%s%s.%s", c_yellow, p->gone[0] ? p->gone : "alegated closed the connection",
	    c_reset);
	if (p->n)
		prompt_line(p, "%zu flow%s waiting went with it: alegated blocks what it held when it "
		    "stops.", p->n, p->n == 1 ? "" : "s");
	clear(p);
	if (p->quit_rules)
		prompt_line(p, "%d until-quit rule%s ended with the connection.", p->quit_rules,
		    p->quit_rules == 1 ? "" : "s");
	p->quit_rules = 0;
	prompt_line(p, "Waiting for alegated on %s (q or Ctrl-C quits)...", p->socket);
	screen_end(p);
	p->gone[0] = '\0';
	while (!p->quit) {
		r = session_open(p, true);
		if (r == EXIT_DONE) {
			screen_begin(p);
			prompt_line(p, "%salegated is back%s: %s on %s", c_bold, c_reset,
			    *ag_ctl_hello(p->c)->server ? ag_ctl_hello(p->c)->server : "alegated",
			    p->socket);
			list(p);
			screen_end(p);
			return true;
		}
		if (r != -EAGAIN) {
			p->status = EXIT_FAILED;
			return false;
		}
		if (cli_signal) {
			int sig = cli_signal;

			cli_signal = 0;
			if (sig == SIGWINCH)
				p->width = out_width();
			else if (sig == SIGTSTP)
				suspend(p);
			else
				return false;
			continue;
		}
		if (cli_ppoll(&pfd, 1, 500) > 0 && !read_input(p))
			return false;
	}
	return false;
}

int cmd_prompt(struct cli *cli, struct cli_args *a)
{
	struct prompt p = { .bell = a->val[OPT_BELL] != NULL, .socket = cli->socket };
	struct pollfd pfd[2];
	char err[AG_CTL_ERR_MAX] = "";
	json_t *m;
	int r = 0;

	if (cli->json)
		return cli_usage_error(cli, "the prompt is for people: --json does not apply "
				       "(scripts use pending, allow and deny)");
	p.interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	p.width = out_width();
	if (ag_ctl_buf_init(&p.in, PROMPT_LINE_MAX))
		return EXIT_FAILED;
	r = session_open(&p, false);
	if (r)
		return r;
	prompt_line(&p, "%salegate prompt%s: %s on %s", c_bold, c_reset,
	    *ag_ctl_hello(p.c)->server ? ag_ctl_hello(p.c)->server : "alegated", cli->socket);
	prompt_line(&p, "Type ? for help, q to quit.");
	list(&p);
	cli_signals_catch(true);
	restore_on_exit = &p;
	atexit(restore_terminal);
	raw_enter(&p);
	screen_end(&p);

	while (!p.quit) {
		if (p.lost && !wait_for_daemon(&p))
			break;
		r = 0;
		while (!p.quit && !p.lost && ag_ctl_push_ready(p.c)) {
			r = ag_ctl_next_push(p.c, 0, &m, err, sizeof(err));
			if (r <= 0)
				break;
			on_push(&p, m);
			json_decref(m);
		}
		if (r < 0 || p.lost) {
			if (r < 0 && !p.gone[0])
				snprintf(p.gone, sizeof(p.gone), "%s", err[0] ? err : strerror(-r));
			err[0] = '\0';
			p.lost = true;
			continue;
		}
		if (ag_ctl_pushes_dropped(p.c) != p.dropped) {
			screen_begin(&p);
			prompt_line(&p, "(some notices were lost: listing again)");
			if (resync(&p)) {
				p.lost = true;
				continue;
			}
			list(&p);
			screen_end(&p);
		}
		if (cli_signal) {
			int sig = cli_signal;

			cli_signal = 0;
			if (sig == SIGWINCH) {
				p.width = out_width();
				continue;
			}
			if (sig == SIGTSTP) {
				suspend(&p);
				continue;
			}
			break;
		}
		pfd[0] = (struct pollfd){ .fd = ag_ctl_fd(p.c), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		if (cli_ppoll(pfd, 2, -1) == -1)
			continue;
		if (pfd[1].revents && !read_input(&p))
			break;
		if (!p.quit && !p.lost && pfd[0].revents) {
			r = ag_ctl_next_push(p.c, 0, &m, err, sizeof(err));
			if (r < 0) {
				if (!p.gone[0])
					snprintf(p.gone, sizeof(p.gone), "%s", err[0] ? err : strerror(-r));
				err[0] = '\0';
				p.lost = true;
			} else if (r == 1) {
				on_push(&p, m);
				json_decref(m);
			}
		}
	}
	screen_begin(&p);
	if (p.shown || p.interactive)
		fflush(stdout);
	raw_leave(&p);
	if (p.n)
		prompt_line(&p, "%zu flow%s still waiting: alegated decides %s at its timeout.", p.n,
		    p.n == 1 ? "" : "s", p.n == 1 ? "it" : "them");
	if (p.quit_rules)
		prompt_line(&p, "%d until-quit rule%s end%s now.", p.quit_rules,
		    p.quit_rules == 1 ? "" : "s", p.quit_rules == 1 ? "s" : "");
	fflush(stdout);
	clear(&p);
	free(p.f);
	ag_ctl_buf_fini(&p.in);
	ag_ctl_close(p.c);
	restore_on_exit = NULL;
	return p.status;
}
