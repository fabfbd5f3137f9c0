/*
 * words.c — the words of an answer, one table for `allow`/`deny` and the
 * prompt alike: "12 a 5m host" in the prompt is "allow 12 5m host" on the
 * command line, and "--for 5m --scope host" means the same.
 */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "cli.h"

enum word_kind { W_DURATION, W_SCOPE, W_REJECT };

/* alegatectl(8) lists the same words in its ANSWER WORDS section. */
static const struct {
	const char *word;
	enum word_kind kind;
	const char *value;	/* the protocol's name for it */
} words[] = {
	{ "once", W_DURATION, "once" },
	{ "restart", W_DURATION, "until-restart" },
	{ "until-restart", W_DURATION, "until-restart" },
	{ "quit", W_DURATION, "until-quit" },
	{ "until-quit", W_DURATION, "until-quit" },
	{ "always", W_DURATION, "always" },
	{ "app", W_SCOPE, "app" },
	{ "host", W_SCOPE, "app+host" },
	{ "app+host", W_SCOPE, "app+host" },
	{ "remote", W_SCOPE, "app+remote" },
	{ "app+remote", W_SCOPE, "app+remote" },
	{ "port", W_SCOPE, "app+port" },
	{ "app+port", W_SCOPE, "app+port" },
	{ "reject", W_REJECT, NULL },
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

const char *cli_scope_value(const char *word)
{
	for (size_t i = 0; i < NWORDS; i++)
		if (words[i].kind == W_SCOPE && !strcmp(words[i].word, word))
			return words[i].value;
	return NULL;
}

int cli_answer_word(struct cli_answer *ans, const char *word, char *err, size_t errlen)
{
	char q[AG_CTL_QUOTE_MAX + 1];
	size_t i;

	snprintf(q, sizeof(q), "%s", word);
	ag_sanitize(q);
	for (i = 0; i < NWORDS; i++)
		if (!strcmp(words[i].word, word))
			break;
	if (i == NWORDS && word[0] >= '0' && word[0] <= '9') {
		uint64_t ms;

		if (ag_duration_parse(word, &ms, err, errlen))
			return -1;
		if (ans->duration) {
			snprintf(err, errlen, "give one DURATION, not \"%s\" and \"%s\"",
				 ans->duration_word, q);
			return -1;
		}
		ans->duration = "for";
		ans->for_ms = ms;
		snprintf(ans->duration_word, sizeof(ans->duration_word), "%s", q);
		return 0;
	}
	if (i == NWORDS) {
		snprintf(err, errlen, "unknown word \"%s\" (a DURATION: once, 5m, restart, quit, "
			 "always; a SCOPE: app, host, remote, port; or reject)", q);
		return -1;
	}
	switch (words[i].kind) {
	case W_DURATION:
		if (ans->duration) {
			snprintf(err, errlen, "give one DURATION, not \"%s\" and \"%s\"",
				 ans->duration_word, q);
			return -1;
		}
		ans->duration = words[i].value;
		snprintf(ans->duration_word, sizeof(ans->duration_word), "%s", q);
		return 0;
	case W_SCOPE:
		if (ans->scope) {
			snprintf(err, errlen, "give one SCOPE, not \"%s\" and \"%s\"",
				 ans->scope_word, q);
			return -1;
		}
		ans->scope = words[i].value;
		snprintf(ans->scope_word, sizeof(ans->scope_word), "%s", q);
		return 0;
	case W_REJECT:
		ans->reject = true;
		return 0;
	}
	return -1;
}

int cli_answer_check(const struct cli_answer *ans, bool allow, char *err, size_t errlen)
{
	if (ans->reject && allow) {
		snprintf(err, errlen, "reject is a way to deny: \"deny ID reject\"");
		return -1;
	}
	if (ans->scope && (!ans->duration || !strcmp(ans->duration, "once"))) {
		snprintf(err, errlen, "a SCOPE (\"%s\") says what a rule matches: give a DURATION "
			 "other than once (5m, restart, quit, always)", ans->scope_word);
		return -1;
	}
	return 0;
}

json_t *cli_answer_request(struct cli_answer *ans, bool allow, json_t *id)
{
	json_t *req;

	if (!ans->duration)
		ans->duration = "once";
	req = json_pack("{s:s, s:o, s:s}", "op", allow ? "allow" : "deny", "pending", id,
			"duration", ans->duration);
	if (!req)
		return NULL;
	if (!strcmp(ans->duration, "for"))
		json_object_set_new(req, "for_ms", json_integer((json_int_t)ans->for_ms));
	if (ans->scope)
		json_object_set_new(req, "scope", json_string(ans->scope));
	if (ans->reject)
		json_object_set_new(req, "reject", json_true());
	return req;
}

const char *cli_duration_text(const char *duration, uint64_t for_ms, char *buf, size_t len)
{
	char d[AG_DURATION_TEXT_MAX];

	if (!duration || !strcmp(duration, "once"))
		return "once";
	if (!strcmp(duration, "for")) {
		snprintf(buf, len, "for %s", ag_duration_format(for_ms, d, sizeof(d)));
		return buf;
	}
	if (!strcmp(duration, "until-restart"))
		return "until alegated restarts";
	if (!strcmp(duration, "until-quit"))
		return "until this command ends";
	return duration;
}
