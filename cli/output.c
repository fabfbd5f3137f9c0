/*
 * output.c — printing for people and for scripts.
 *
 * Everything that came from the daemon is sanitized before it reaches a
 * terminal: a process can name itself "\e[2J..." and the person reading a
 * firewall prompt must not be fooled by it.
 */
#include <langinfo.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/text.h"
#include "cli.h"

bool out_color;
const char *c_bold = "", *c_dim = "", *c_red = "", *c_green = "", *c_yellow = "", *c_reset = "";
static const char *ellipsis = "...";
static int ellipsis_cols = 3;

void out_init(void)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	/* https://no-color.org: set and not empty means no colour. */
	out_color = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
	if (out_color) {
		c_bold = "\033[1m";
		c_dim = "\033[2m";
		c_red = "\033[31m";
		c_green = "\033[32m";
		c_yellow = "\033[33m";
		c_reset = "\033[0m";
	}
	if (strcmp(nl_langinfo(CODESET), "UTF-8") == 0) {
		ellipsis = "\xe2\x80\xa6";	/* U+2026 */
		ellipsis_cols = 1;
	}
}

bool out_full;

/*
 * Only a terminal is cut to fit: a pipe or a file gets every character,
 * since a cut id or path there is text a script cannot use.  On a terminal
 * the width is the terminal's; COLUMNS stands in when it cannot be read.
 */
int out_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");
	long n;

	if (out_full || !isatty(STDOUT_FILENO))
		return INT_MAX;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	if (cols && (n = strtol(cols, NULL, 10)) >= 20 && n <= 10000)
		return (int)n;
	return 80;
}

void out_json(const json_t *v)
{
	size_t flags = JSON_ENCODE_ANY | (isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT);

	json_dumpf(v, stdout, flags);
	putchar('\n');
}

void out_json_line(const json_t *v)
{
	json_dumpf(v, stdout, JSON_ENCODE_ANY | JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
}

/* An array of strings and numbers as "a,b,c" (a rule's several values). */
static char *joined(const json_t *v)
{
	char *out = NULL, *t;
	size_t len = 0, i;
	const json_t *e;
	FILE *f;

	json_array_foreach(v, i, e)
		if (!json_is_string(e) && !json_is_integer(e))
			return NULL;
	if (!(f = open_memstream(&out, &len)))
		abort();
	json_array_foreach(v, i, e) {
		t = out_text(e);
		fprintf(f, "%s%s", i ? "," : "", t);
		free(t);
	}
	fclose(f);
	return out;
}

char *out_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_array(v) && json_array_size(v) > 0 && (s = joined(v)))
		return ag_sanitize(s);
	if (json_is_string(v) && json_string_length(v) > 0)
		s = strdup(json_string_value(v));
	else if (json_is_integer(v) && asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0)
		s = NULL;
	else if (json_is_real(v) && asprintf(&s, "%g", json_real_value(v)) < 0)
		s = NULL;
	else if (json_is_boolean(v))
		s = strdup(json_is_true(v) ? "yes" : "no");
	else if (json_is_object(v) || json_is_array(v))
		s = json_dumps(v, JSON_COMPACT);
	if (!s)
		s = strdup("-");
	if (!s)
		abort();
	return ag_sanitize(s);
}

const char *out_base(const char *path)
{
	const char *slash;

	if (!path || !*path)
		return "-";
	slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* Length of the ANSI CSI sequence at @s ("\033[...m"), 0 if none: no columns. */
static size_t csi_len(const char *s)
{
	size_t i = 2;

	if (s[0] != '\033' || s[1] != '[')
		return 0;
	while (s[i] && !(s[i] >= 0x40 && s[i] <= 0x7e))
		i++;
	return s[i] ? i + 1 : i;
}

int out_cols(const char *s)
{
	int n = 0;

	while (*s) {
		size_t k = csi_len(s);

		if (k) {
			s += k;
			continue;
		}
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
		s++;
	}
	return n;
}

/* Byte offset where column @col starts (@col <= out_cols(s)). */
static size_t col_offset(const char *s, int col)
{
	size_t i = 0, k;

	while (s[i]) {
		k = csi_len(s + i);
		if (k) {
			i += k;
			continue;
		}
		if (((unsigned char)s[i] & 0xc0) != 0x80 && col-- == 0)
			break;
		i++;
	}
	return i;
}

static void cut(char *buf, size_t len, const char *s, int cols, bool keep_end)
{
	int have = out_cols(s), keep;
	size_t off;

	if (have <= cols) {
		snprintf(buf, len, "%s", s);
		return;
	}
	if (cols <= ellipsis_cols) {
		snprintf(buf, len, "%.*s", (int)col_offset(s, cols), s);
		return;
	}
	keep = cols - ellipsis_cols;
	if (keep_end) {
		off = col_offset(s, have - keep);
		snprintf(buf, len, "%s%s", ellipsis, s + off);
	} else {
		snprintf(buf, len, "%.*s%s", (int)col_offset(s, keep), s, ellipsis);
	}
}

void out_cut(char *buf, size_t len, const char *s, int cols)
{
	cut(buf, len, s, cols, false);
}

void out_split_addr(const char *s, char *addr, size_t alen, char *port, size_t plen)
{
	const char *colon, *close;

	*addr = *port = '\0';
	if (!s)
		return;
	if (s[0] == '[' && (close = strchr(s, ']'))) {
		snprintf(addr, alen, "%.*s", (int)(close - s - 1), s + 1);
		if (close[1] == ':')
			snprintf(port, plen, "%s", close + 2);
		return;
	}
	colon = strrchr(s, ':');
	/* One colon: IPv4 and its port.  More: an IPv6 address without one. */
	if (colon && colon == strchr(s, ':')) {
		snprintf(addr, alen, "%.*s", (int)(colon - s), s);
		snprintf(port, plen, "%s", colon + 1);
	} else {
		snprintf(addr, alen, "%s", s);	/* no port, or a bare IPv6 address */
	}
}

/* ---- tables --------------------------------------------------------------------- */

void table_init(struct table *t, int ncols, const char *const *head, const unsigned *flags)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (int i = 0; i < ncols; i++) {
		t->head[i] = head[i];
		t->flags[i] = flags ? flags[i] : 0;
		t->width[i] = out_cols(head[i]);
	}
}

void table_add(struct table *t, const char *const *cells)
{
	char **n;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		n = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(*n));
		if (!n)
			abort();
		t->cells = n;
	}
	for (int i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] && *cells[i] ? cells[i] : "-");

		if (!s)
			abort();
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = ag_sanitize(s);
	}
	t->nrows++;
}

void table_fit(struct table *t, int maxw)
{
	unsigned pass = COL_SHRINK;
	int total = 0, i, best;

	t->nocut = maxw == INT_MAX;

	for (size_t r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			int w = out_cols(t->cells[r * (size_t)t->ncols + (size_t)i]);

			if (w > t->width[i])
				t->width[i] = w;
		}
	for (i = 0; i < t->ncols; i++)
		total += t->width[i] + (i ? 2 : 0);
	/*
	 * Take one column at a time from the widest column that may shrink,
	 * down to 6 or its header; the last-resort columns only after that.
	 */
	while (total > maxw) {
		best = -1;
		for (i = 0; i < t->ncols; i++)
			if ((t->flags[i] & pass) && t->width[i] > out_cols(t->head[i]) &&
			    t->width[i] > 6 && (best < 0 || t->width[i] > t->width[best]))
				best = i;
		if (best < 0) {
			if (pass == COL_SHRINK_LAST)
				break;
			pass = COL_SHRINK_LAST;
			continue;
		}
		t->width[best]--;
		total--;
	}
}

void table_print_row(const struct table *t, const char *const *cells)
{
	char buf[8192];

	for (int i = 0; i < t->ncols; i++) {
		const char *s = cells[i] && *cells[i] ? cells[i] : "-";
		int pad;

		if (t->nocut)
			snprintf(buf, sizeof(buf), "%s", s);
		else
			cut(buf, sizeof(buf), s, t->width[i], !(t->flags[i] & COL_CUT_END));
		pad = t->width[i] - out_cols(buf);
		if (pad < 0)
			pad = 0;
		if (i)
			fputs("  ", stdout);
		if (t->flags[i] & COL_RIGHT)
			printf("%*s%s", pad, "", buf);
		else if (i == t->ncols - 1)
			fputs(buf, stdout);
		else
			printf("%s%*s", buf, pad, "");
	}
	putchar('\n');
}

void table_print_head(const struct table *t)
{
	table_print_row(t, t->head);
}

void table_print(const struct table *t)
{
	table_print_head(t);
	for (size_t r = 0; r < t->nrows; r++)
		table_print_row(t, (const char *const *)&t->cells[r * (size_t)t->ncols]);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

const char *out_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

void table_show(struct table *t)
{
	table_fit(t, out_width());
	table_print(t);
	table_free(t);
}
