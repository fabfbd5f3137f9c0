/*
 * test_notify_text.c — what alegate-notify shows (notify/text.c): every
 * byte from another process is cleaned, bounded and, for servers that
 * read markup, escaped; the destination comes first.
 */
#include <jansson.h>

#include "check.h"
#include "notify/notify.h"

static const char *clean(const char *src, size_t max, unsigned flags)
{
	static char buf[512];

	buf[0] = '\0';
	return nt_clean(buf, sizeof(buf), src, max, flags);
}

/* True when @s is valid UTF-8 (what D-Bus demands of every string). */
static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
			(*p & 0xf8) == 0xf0 ? 4 : 0;

		if (!n)
			return 0;
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

TEST(markup_characters_are_escaped_for_a_server_that_reads_markup)
{
	CHECK_STR(clean("<b>x</b> & 'y' \"z\"", 100, NT_MARKUP),
		  "&lt;b&gt;x&lt;/b&gt; &amp; &apos;y&apos; &quot;z&quot;");
	/* an entity in a name stays text: "&amp;" is shown as typed */
	CHECK_STR(clean("a&amp;b", 100, NT_MARKUP), "a&amp;amp;b");
}

TEST(markup_characters_are_left_as_is_for_a_plain_text_server)
{
	CHECK_STR(clean("<b>x</b> & y", 100, 0), "<b>x</b> & y");
}

TEST(summaries_carry_no_markup_characters_at_all)
{
	CHECK_STR(clean("<b>x</b>&y", 100, NT_PLAIN_ONLY), "?b?x?/b??y");
}

TEST(newlines_and_control_characters_cannot_add_lines)
{
	CHECK_STR(clean("curl\nAllowed by your administrator", 100, 0),
		  "curl?Allowed by your administrator");
	CHECK_STR(clean("a\rb\tc\x1b[2Jd\x7f", 100, 0), "a?b?c?[2Jd?");
	/* C1 controls (U+0085 NEL among them) and U+2028 LINE SEPARATOR */
	CHECK_STR(clean("a\xc2\x85" "b\xe2\x80\xa8" "c", 100, 0), "a?b?c");
}

TEST(bidi_overrides_cannot_reorder_a_name)
{
	/* "evil\u202Egpj.exe" shows as "evilexe.jpg" where the override works */
	CHECK_STR(clean("evil\xe2\x80\xae" "gpj.exe", 100, 0), "evil?gpj.exe");
	CHECK_STR(clean("a\xe2\x81\xa6" "b\xe2\x80\x8f" "c\xef\xbb\xbf", 100, 0), "a?b?c?");
}

TEST(invalid_utf8_becomes_question_marks_so_dbus_accepts_the_string)
{
	/* a lone byte, an overlong '/', a surrogate, past U+10FFFF, a cut sequence */
	const char *s = clean("a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d\xf4\x90\x80\x80" "e\xe2\x82", 100, 0);

	CHECK(valid_utf8(s));
	CHECK_STR(s, "a?b??c???d????e??");
	CHECK_STR(clean("\xc3\xa9t\xc3\xa9", 100, NT_MARKUP), "\xc3\xa9t\xc3\xa9");
}

TEST(long_text_keeps_both_ends_and_cuts_the_middle)
{
	char src[400];
	const char *s;

	memset(src, 'a', sizeof(src) - 1);
	src[sizeof(src) - 1] = '\0';
	memcpy(src, "/usr/bin/firefox-", 17);
	memcpy(src + sizeof(src) - 6, "/evil", 5);
	s = clean(src, 60, 0);
	CHECK(strncmp(s, "/usr/bin/firefox-", 17) == 0);
	CHECK(strstr(s, "\xe2\x80\xa6") != NULL);
	CHECK(strcmp(s + strlen(s) - 5, "/evil") == 0);
	CHECK_INT(strlen(s), <=, 60 + 3);
}

TEST(cuts_never_split_a_character)
{
	char src[200] = "", dst[16] = "";

	for (int i = 0; i < 60; i++)
		strcat(src, "\xc3\xa9");	/* é, two bytes */
	CHECK(valid_utf8(clean(src, 41, 0)));
	/* a destination too small for all of it: cut, NUL-terminated, valid */
	nt_clean(dst, sizeof(dst), src, 1000, 0);
	CHECK(valid_utf8(dst));
	CHECK_INT(strlen(dst), <, sizeof(dst));
	/* escapes are not cut in half either */
	memset(dst, 0, sizeof(dst));
	nt_clean(dst, 8, "<<<<", 100, NT_MARKUP);
	CHECK_STR(dst, "&lt;");
}

static json_t *flow(const char *json)
{
	json_error_t e;

	return json_loads(json, 0, &e);
}

TEST(outbound_flow_says_program_and_destination_destination_first)
{
	json_t *f = flow("{\"id\":12,\"pid\":1234,\"exe\":\"/usr/bin/curl\",\"uid\":1000,"
			 "\"user\":\"alice\",\"proto\":\"tcp\",\"direction\":\"out\","
			 "\"local\":\"192.0.2.1:40512\",\"remote\":\"93.184.216.34:443\","
			 "\"host\":\"example.org\",\"cmdline\":\"curl https://example.org\"}");
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];

	nt_format(f, NT_MARKUP, true, NULL, summary, body);
	json_decref(f);
	CHECK_STR(summary, "curl wants to connect to example.org");
	CHECK_STR(body, "to example.org (93.184.216.34) port 443, tcp\n"
		  "/usr/bin/curl, pid 1234, user alice\n"
		  "curl https://example.org");
}

TEST(inbound_ipv6_flow_names_both_ports)
{
	json_t *f = flow("{\"id\":3,\"pid\":null,\"exe\":\"/usr/sbin/sshd\",\"uid\":0,\"user\":null,"
			 "\"proto\":\"tcp\",\"direction\":\"in\",\"local\":\"[2001:db8::1]:22\","
			 "\"remote\":\"[2001:db8::2]:41234\",\"host\":null}");
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];

	nt_format(f, 0, true, NULL, summary, body);
	json_decref(f);
	CHECK_STR(summary, "sshd: incoming connection from 2001:db8::2");
	CHECK_STR(body, "from 2001:db8::2 port 41234, to port 22, tcp\n/usr/sbin/sshd, uid 0");
}

TEST(odd_or_missing_fields_are_shown_as_unknown)
{
	json_t *f = flow("{\"id\":1,\"pid\":\"1; rm\",\"exe\":7,\"uid\":[],\"proto\":{},"
			 "\"remote\":null}");
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];

	nt_format(f, NT_MARKUP, true, NULL, summary, body);
	CHECK_STR(summary, "A program wants to connect to an unknown address");
	CHECK_STR(body, "to unknown address\nunknown program");
	json_decref(f);
	f = flow("{\"id\":1,\"pid\":42,\"exe\":null,\"proto\":\"icmp\",\"remote\":\"192.0.2.2:0\"}");
	nt_format(f, 0, true, NULL, summary, body);
	json_decref(f);
	CHECK_STR(summary, "Process 42 wants to connect to 192.0.2.2");
	CHECK_STR(body, "to 192.0.2.2, icmp\nunknown program, pid 42");
}

TEST(markup_in_every_field_is_escaped_in_the_body_and_absent_from_the_summary)
{
	json_t *f = flow("{\"id\":1,\"pid\":1,\"exe\":\"/tmp/<b>x</b>\",\"user\":\"<i>u\","
			 "\"proto\":\"tcp\",\"direction\":\"out\",\"remote\":\"192.0.2.2:80\","
			 "\"host\":\"a<b>.example\",\"cmdline\":\"x --y='<a href=z>'\"}");
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];

	nt_format(f, NT_MARKUP, true, NULL, summary, body);
	json_decref(f);
	CHECK(!strpbrk(summary, "<>&"));
	CHECK(!strpbrk(body, "<>"));
	CHECK(strstr(body, "/tmp/&lt;b&gt;x&lt;/b&gt;"));
	CHECK(strstr(body, "a&lt;b&gt;.example"));
	CHECK(strstr(body, "user &lt;i&gt;u"));
	CHECK(strstr(body, "x --y=&apos;&lt;a href=z&gt;&apos;"));
}

TEST(without_buttons_the_body_points_to_the_web_page_and_the_prompt)
{
	json_t *f = flow("{\"id\":1,\"exe\":\"/usr/bin/curl\",\"remote\":\"192.0.2.2:80\"}");
	char summary[NT_SUMMARY_MAX], body[NT_BODY_MAX];

	nt_format(f, NT_MARKUP, false, "http://127.0.0.1:8443/#token=a&b", summary, body);
	json_decref(f);
	CHECK(strstr(body, "\nAnswer on the alegate-web page (http://127.0.0.1:8443/#token=a&amp;b) "
		      "or with alegatectl prompt."));
	nt_format_more(3, false, 0, NULL, summary, body);
	CHECK_STR(summary, "3 more connections waiting");
	nt_format_more(1, false, 0, NULL, summary, body);
	CHECK_STR(summary, "1 more connection waiting");
	nt_format_more(1020, true, 0, NULL, summary, body);
	CHECK_STR(summary, "At least 1020 more connections waiting");
	CHECK(strstr(body, "alegate-web page or with alegatectl prompt."));
}
