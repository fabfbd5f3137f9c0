/*
 * test_fw.c — lib/linux/fw: the rendered rulesets and the reading of an
 * older instance out of iptables-save, without running any tool.
 *
 * Reference dumps live in tests/netns/ref/render-*.txt, found through
 * $AG_TOP (default "."; tests/run exports it).  A change to the rules must
 * change the reference in the same commit: that is the point.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "linux/fw.h"
#include "linux/fw_internal.h"

static const struct ag_fw_config cfg_default = {
	.queue_base = 0,
	.fail_mode = AG_FW_FAIL_CLOSED,
	.intercept_loopback = false,
	.intercept_inbound = true,
};
static const struct ag_fw_config cfg_open_lo_noin = {
	.queue_base = 10,
	.fail_mode = AG_FW_FAIL_OPEN,
	.intercept_loopback = true,
	.intercept_inbound = false,
};
static const struct ag_fw_config cfg_open_in = {
	.queue_base = 100,
	.fail_mode = AG_FW_FAIL_OPEN,
	.intercept_loopback = false,
	.intercept_inbound = true,
};

/* The reference file, malloc'd and NUL-terminated, or NULL. */
static char *read_ref(const char *name)
{
	const char *top = getenv("AG_TOP");
	char path[1024];
	char *buf = NULL;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/netns/ref/%s", top && *top ? top : ".", name);
	f = fopen(path, "re");
	if (!f) {
		printf("#   cannot open \"%s\" (set AG_TOP to the source tree)\n", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* Line number of the first difference, 0 when equal. */
static int first_diff(const char *a, const char *b, char *why, size_t len)
{
	const char *la = a, *lb = b;
	int line = 1;

	while (*a && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	if (!*a && !*b)
		return 0;
	a = la;
	b = lb;
	snprintf(why, len, "line %d: rendered \"%.*s\", reference \"%.*s\"", line,
		 (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
	return line;
}

static char rendered[AG_FW_RULESET_MAX];

/* Render and compare with the reference; the message says where. */
#define CHECK_RENDER(cfg, backend, family, ref)                               \
	do {                                                                  \
		char *want = read_ref(ref), why[512];                         \
		int n = ag_fw_render(cfg, backend, family, rendered,          \
				     sizeof(rendered));                       \
		int at;                                                       \
		CHECK_MSG(want, "reference %s missing", ref);                 \
		CHECK_MSG(n > 0, "render failed: %d", n);                     \
		CHECK_EQ((size_t)n, strlen(rendered));                        \
		at = first_diff(rendered, want, why, sizeof(why));            \
		free(want);                                                   \
		CHECK_MSG(at == 0, "%s differs at %s", ref, why);             \
	} while (0)

TEST(render_default_iptables_ipv4_matches_ref)
{
	CHECK_RENDER(&cfg_default, AG_FW_BACKEND_IPTABLES, AF_INET,
		     "render-default.iptables-ipv4.txt");
}

TEST(render_default_iptables_ipv6_matches_ref)
{
	CHECK_RENDER(&cfg_default, AG_FW_BACKEND_IPTABLES, AF_INET6,
		     "render-default.iptables-ipv6.txt");
}

TEST(render_default_nft_matches_ref)
{
	CHECK_RENDER(&cfg_default, AG_FW_BACKEND_NFTABLES, AF_UNSPEC,
		     "render-default.nft.txt");
}

TEST(render_open_loopback_noinbound_iptables_matches_ref)
{
	CHECK_RENDER(&cfg_open_lo_noin, AG_FW_BACKEND_IPTABLES, AF_INET,
		     "render-open-loopback-noinbound.iptables-ipv4.txt");
}

TEST(render_open_loopback_noinbound_nft_matches_ref)
{
	CHECK_RENDER(&cfg_open_lo_noin, AG_FW_BACKEND_NFTABLES, AF_UNSPEC,
		     "render-open-loopback-noinbound.nft.txt");
}

TEST(render_open_inbound_iptables_matches_ref)
{
	CHECK_RENDER(&cfg_open_in, AG_FW_BACKEND_IPTABLES, AF_INET,
		     "render-open-inbound.iptables-ipv4.txt");
}

TEST(render_open_inbound_nft_matches_ref)
{
	CHECK_RENDER(&cfg_open_in, AG_FW_BACKEND_NFTABLES, AF_UNSPEC,
		     "render-open-inbound.nft.txt");
}

/* The properties below hold whatever the reference files say, so a
 * reference regenerated from a wrong renderer still fails here. */

static int render_ipt(const struct ag_fw_config *cfg)
{
	return ag_fw_render(cfg, AG_FW_BACKEND_IPTABLES, AF_INET, rendered,
			    sizeof(rendered));
}

/* Index of the first line that starts with prefix and contains needle,
 * -1 if none; comments (also indented ones) are not rules. */
static int line_index(const char *text, const char *prefix, const char *needle)
{
	int i = 0;

	for (const char *l = text; *l; i++) {
		size_t n = strcspn(l, "\n");
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		if (line[strspn(line, " \t")] != '#' && !strncmp(line, prefix, strlen(prefix)) &&
		    strstr(line, needle))
			return i;
		l += n + (l[n] ? 1 : 0);
	}
	return -1;
}

static int count_lines(const char *text, const char *prefix, const char *needle)
{
	int count = 0;

	for (const char *l = text; *l;) {
		size_t n = strcspn(l, "\n");
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		if (line[strspn(line, " \t")] != '#' && !strncmp(line, prefix, strlen(prefix)) &&
		    strstr(line, needle))
			count++;
		l += n + (l[n] ? 1 : 0);
	}
	return count;
}

TEST(fail_closed_has_no_bypass_except_dns)
{
	CHECK(render_ipt(&cfg_default) > 0);
	CHECK_EQ(count_lines(rendered, "-A ", "--queue-num 0 --queue-bypass"), 0);
	CHECK_EQ(count_lines(rendered, "-A ", "--queue-num 1 --queue-bypass"), 0);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-OUT ", "NFQUEUE --queue-num 0"), 3);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", "NFQUEUE --queue-num 1"), 2);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", "--queue-num 2 --queue-bypass"), 1);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-OUT ", "--queue-num 2 --queue-bypass"), 1);
}

TEST(fail_open_bypasses_every_queue)
{
	CHECK(render_ipt(&cfg_open_in) > 0);
	CHECK_EQ(count_lines(rendered, "-A ", "NFQUEUE"), 7);
	CHECK_EQ(count_lines(rendered, "-A ", "--queue-bypass"), 7);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-OUT ", "--queue-num 100 "), 3);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", "--queue-num 101 "), 2);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", "--queue-num 102 "), 1);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-OUT ", "--queue-num 102 "), 1);
}

TEST(loopback_returns_only_when_not_intercepted)
{
	struct ag_fw_config c = cfg_default;

	CHECK(render_ipt(&c) > 0);
	/* first after the DNS queries, which are read over loopback too */
	CHECK_EQ(line_index(rendered, "-A ALEGATE-OUT ", "--dport 53"),
		 line_index(rendered, "-A ALEGATE-OUT ", ""));
	CHECK(line_index(rendered, "-A ALEGATE-OUT ", "--dport 53") <
	      line_index(rendered, "-A ALEGATE-OUT ", "-o lo -j RETURN"));
	CHECK(line_index(rendered, "-A ALEGATE-OUT ", "-o lo -j RETURN") <
	      line_index(rendered, "-A ALEGATE-OUT ", "-m connmark"));
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "-i lo -j RETURN") >= 0);
	c.intercept_loopback = true;
	CHECK(render_ipt(&c) > 0);
	CHECK_EQ(count_lines(rendered, "-A ", " lo "), 0);
}

TEST(dns_is_queued_before_the_loopback_return)
{
	CHECK(render_ipt(&cfg_default) > 0);
	CHECK_EQ(line_index(rendered, "-A ALEGATE-IN ", "--sport 53"),
		 line_index(rendered, "-A ALEGATE-IN ", ""));
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "--sport 53") <
	      line_index(rendered, "-A ALEGATE-IN ", "-i lo"));
}

TEST(no_inbound_leaves_dns_and_the_simultaneous_open_guards_in_input)
{
	CHECK(render_ipt(&cfg_open_lo_noin) > 0);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", ""), 3);
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "--sport 53") >= 0);
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "--ctstate INVALID -j DROP") >= 0);
	/* a SYN to a connecting socket goes to the daemon, which passes it
	 * unless it crosses a connect held or blocked there */
	CHECK(line_index(rendered, "-A ALEGATE-IN ",
			 "-p tcp --syn -m conntrack --ctstate NEW -m socket -m mark ! --mark") >= 0);
	CHECK(line_index(rendered, "-I INPUT 1 ", "ALEGATE-IN") >= 0);
	CHECK(render_ipt(&cfg_default) > 0);
	CHECK_EQ(count_lines(rendered, "-A ALEGATE-IN ", "-m socket"), 0);
}

/* Only a reply to a flow this host began may take the DNS path (which
 * passes it unjudged): a datagram from port 53 that starts a flow is NEW
 * and goes on to be asked about like any other inbound flow. */
TEST(dns_queue_takes_only_the_reply_direction_of_established_flows)
{
	CHECK(render_ipt(&cfg_default) > 0);
	CHECK(line_index(rendered, "-A ALEGATE-IN ",
			 "-p udp --sport 53 -m conntrack --ctstate ESTABLISHED --ctdir REPLY ") >= 0);
	CHECK(ag_fw_render(&cfg_default, AG_FW_BACKEND_NFTABLES, AF_UNSPEC, rendered,
			   sizeof(rendered)) > 0);
	CHECK(line_index(rendered, "\t\t", "udp sport 53 ct state established ct direction reply ") >= 0);
}

/* A SYN conntrack calls invalid (SYN+FIN) is dropped before the rule that
 * lets invalid packets go: a connecting socket would take it for a
 * simultaneous open. */
TEST(invalid_syn_is_dropped_before_invalid_packets_return)
{
	CHECK(render_ipt(&cfg_default) > 0);
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "--tcp-flags SYN,ACK SYN -m conntrack --ctstate INVALID -j DROP") >= 0);
	CHECK(line_index(rendered, "-A ALEGATE-IN ", "-j DROP") <
	      line_index(rendered, "-A ALEGATE-IN ", "--ctstate INVALID,UNTRACKED -j RETURN"));
}

/* The flow-once property: in each chain the connmark fast path and the
 * save of AUTH come before any queue rule, and the save keeps to AUTH and
 * FAST (the packet mark's other bits are not ours to copy). */
TEST(S11_authorized_flow_returns_before_any_queue_rule)
{
	static const char *const chains[] = { "-A ALEGATE-OUT ", "-A ALEGATE-IN " };
	char want[128];

	CHECK(render_ipt(&cfg_default) > 0);
	snprintf(want, sizeof(want), "-m mark --mark 0x%x/0x%x -j CONNMARK --save-mark --nfmask 0x%x --ctmask 0x%x",
		 AG_FW_MARK_AUTH, AG_FW_MARK_AUTH, AG_FW_MARK_AUTH | AG_FW_MARK_FAST,
		 AG_FW_MARK_AUTH | AG_FW_MARK_FAST);
	for (int c = 0; c < 2; c++) {
		int fast = line_index(rendered, chains[c], "-m connmark --mark");
		int save = line_index(rendered, chains[c], want);
		int syn = line_index(rendered, chains[c], "--syn -j NFQUEUE");
		int newq = line_index(rendered, chains[c], "--ctstate NEW -j NFQUEUE");

		CHECK(fast >= 0 && save > fast && syn > save && newq > syn);
		CHECK(line_index(rendered, chains[c], "--ctstate INVALID,UNTRACKED -j RETURN") < syn);
	}
	CHECK(line_index(rendered, "-A ALEGATE-OUT ", "! --uid-owner") <
	      line_index(rendered, "-A ALEGATE-OUT ", "--syn -j NFQUEUE"));
}

/* An MPTCP connection's additional subflow sends its SYN from a kernel
 * socket with no file: it must be queued before the rule that lets
 * ownerless packets go, in both syntaxes. */
TEST(mptcp_join_subflow_syn_is_queued_before_the_unowned_return)
{
	int join, unowned;

	CHECK(render_ipt(&cfg_default) > 0);
	join = line_index(rendered, "-A ALEGATE-OUT ",
			  "-p tcp --syn --tcp-option 30 -j NFQUEUE --queue-num 0");
	unowned = line_index(rendered, "-A ALEGATE-OUT ", "! --uid-owner 0-4294967294 -j RETURN");
	CHECK(join >= 0 && unowned >= 0 && join < unowned);
	CHECK(ag_fw_render(&cfg_default, AG_FW_BACKEND_NFTABLES, AF_UNSPEC, rendered,
			   sizeof(rendered)) > 0);
	/* nft's queue rule for owned SYNs cannot match a packet without an
	 * owner: this one must not ask for one */
	CHECK_EQ(count_lines(rendered, "\t\t", "tcp flags & (fin | syn | rst | ack) == syn "
				      "tcp option mptcp exists queue num 0"), 1);
}

TEST(nft_ruleset_replaces_its_table_in_one_script)
{
	CHECK(ag_fw_render(&cfg_default, AG_FW_BACKEND_NFTABLES, AF_UNSPEC, rendered,
			   sizeof(rendered)) > 0);
	CHECK(strstr(rendered, "table inet alegate\ndelete table inet alegate\ntable inet alegate {\n"));
	CHECK_EQ(count_lines(rendered, "\t\t", "queue num"), 7);
	CHECK_EQ(count_lines(rendered, "\t\t", "bypass"), 2);
	CHECK(strstr(rendered, "meta mark & 0xc00000 == 0xc00000 ct mark set ct mark | 0xc00000 return\n"));
	CHECK(strstr(rendered, "meta mark & 0x800000 == 0x800000 ct mark set ct mark | 0x800000 return\n"));
}

TEST(notrack_table_untracks_only_the_fast_paths_tcp_and_never_loopback)
{
	const char *out, *pre;
	char small[100];

	CHECK(ag_fw_render_notrack(rendered, sizeof(rendered)) > 0);
	/* replaces an older copy in the same transaction */
	CHECK(strstr(rendered, "table inet alegate_notrack\ndelete table inet alegate_notrack\n"
			       "table inet alegate_notrack {\n"));
	/* before conntrack (-200): at raw priority, on both ways in */
	out = strstr(rendered, "type filter hook output priority raw;");
	pre = strstr(rendered, "type filter hook prerouting priority raw;");
	CHECK(out && pre && out < pre);
	/* exactly two notrack rules, each for TCP sockets marked AUTH | FAST */
	CHECK_EQ(count_lines(rendered, "\t\t", "notrack"), 2);
	CHECK_EQ(count_lines(rendered, "\t\t", "meta l4proto tcp meta mark & 0xc00000 == 0xc00000 notrack"), 1);
	CHECK_EQ(count_lines(rendered, "\t\t", "meta l4proto tcp socket mark & 0xc00000 == 0xc00000 notrack"), 1);
	/* loopback returns first in each chain */
	CHECK(line_index(rendered, "\t\t", "oifname \"lo\" return") >= 0);
	CHECK(line_index(rendered, "\t\t", "oifname \"lo\" return") <
	      line_index(rendered, "\t\t", "meta mark & 0xc00000"));
	CHECK(line_index(rendered, "\t\t", "iifname \"lo\" return") >= 0);
	CHECK(line_index(rendered, "\t\t", "iifname \"lo\" return") <
	      line_index(rendered, "\t\t", "socket mark"));
	/* no queue and nothing that accepts or drops: it only untracks */
	CHECK_EQ(count_lines(rendered, "\t\t", "queue"), 0);
	CHECK_EQ(count_lines(rendered, "\t\t", "drop"), 0);
	CHECK_EQ(count_lines(rendered, "\t\t", "accept"), 2); /* the two policies */
	CHECK_EQ(ag_fw_render_notrack(small, sizeof(small)), -ENOSPC);
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	CHECK_EQ(ag_fw_render_notrack(NULL, 10), -EINVAL);
}

TEST(marks_are_distinct_bits_inside_the_mask)
{
	const uint32_t bits[] = { AG_FW_MARK_AUTH, AG_FW_MARK_FAST, AG_FW_MARK_INJECTED,
				  AG_FW_MARK_DNSQ };
	uint32_t all = 0;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		CHECK(bits[i] && !(bits[i] & (bits[i] - 1)));
		CHECK_EQ(all & bits[i], 0);
		all |= bits[i];
	}
	CHECK_EQ(AG_FW_MARK_MASK, all);
}

TEST(render_rejects_bad_arguments)
{
	struct ag_fw_config c = cfg_default;

	CHECK_EQ(ag_fw_render(&c, AG_FW_BACKEND_AUTO, AF_INET, rendered, sizeof(rendered)), -EINVAL);
	CHECK_EQ(ag_fw_render(&c, AG_FW_BACKEND_IPTABLES, AF_UNIX, rendered, sizeof(rendered)), -EINVAL);
	CHECK_EQ(ag_fw_render(NULL, AG_FW_BACKEND_IPTABLES, AF_INET, rendered, sizeof(rendered)), -EINVAL);
	c.queue_base = 65534;	/* the dns queue would be 65536 */
	CHECK_EQ(ag_fw_render(&c, AG_FW_BACKEND_IPTABLES, AF_INET, rendered, sizeof(rendered)), -EINVAL);
	c.queue_base = 65533;
	CHECK(ag_fw_render(&c, AG_FW_BACKEND_IPTABLES, AF_INET, rendered, sizeof(rendered)) > 0);
	CHECK(strstr(rendered, "--queue-num 65535 --queue-bypass"));
	c.fail_mode = (enum ag_fw_fail_mode)7;
	CHECK_EQ(ag_fw_render(&c, AG_FW_BACKEND_NFTABLES, AF_UNSPEC, rendered, sizeof(rendered)), -EINVAL);
}

TEST(render_into_a_small_buffer_is_enospc_and_terminated)
{
	char small[200];

	memset(small, 'z', sizeof(small));
	CHECK_EQ(ag_fw_render(&cfg_default, AG_FW_BACKEND_IPTABLES, AF_INET, small,
			      sizeof(small)), -ENOSPC);
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	CHECK_EQ(ag_fw_render(&cfg_default, AG_FW_BACKEND_NFTABLES, AF_UNSPEC, small,
			      sizeof(small)), -ENOSPC);
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
}

TEST(backend_names_round_trip)
{
	enum ag_fw_backend b = AG_FW_BACKEND_AUTO;

	CHECK_EQ(ag_fw_backend_parse("iptables", &b), 0);
	CHECK_EQ(b, AG_FW_BACKEND_IPTABLES);
	CHECK_STR(ag_fw_backend_name(b), "iptables");
	CHECK_EQ(ag_fw_backend_parse("nftables", &b), 0);
	CHECK_EQ(b, AG_FW_BACKEND_NFTABLES);
	CHECK_EQ(ag_fw_backend_parse("auto", &b), 0);
	CHECK_EQ(b, AG_FW_BACKEND_AUTO);
	CHECK_EQ(ag_fw_backend_parse("nft", &b), -EINVAL);
	CHECK_EQ(ag_fw_backend_parse(NULL, &b), -EINVAL);
	CHECK_STR(ag_fw_backend_name((enum ag_fw_backend)42), "?");
}

/* An older instance as iptables-save prints it, with a user's rules that
 * must survive: one in OUTPUT, one whose comment names our chain, and one
 * chain of the user's own that jumps to us. */
static const char saved_old[] =
	"# Generated by iptables-save v1.8.9 (nf_tables)\n"
	"*mangle\n"
	":PREROUTING ACCEPT [0:0]\n"
	":INPUT ACCEPT [5:300]\n"
	":OUTPUT ACCEPT [7:420]\n"
	":ALEGATE-IN - [0:0]\n"
	":ALEGATE-OUT - [0:0]\n"
	":ALEGATE-OLD - [0:0]\n"
	":MINE - [0:0]\n"
	"-A INPUT -j ALEGATE-IN\n"
	"-A OUTPUT -j ALEGATE-OUT\n"
	"-A OUTPUT -p udp -m udp --dport 7 -j MARK --set-xmark 0x1/0xffffffff\n"
	"-A OUTPUT -m comment --comment \"see -j ALEGATE-OUT\" -j ACCEPT\n"
	"-A OUTPUT -j ALEGATE-OUT\n"
	"-A MINE -p tcp -g ALEGATE-OLD\n"
	"-A ALEGATE-OUT -j ALEGATE-OLD\n"
	"-A ALEGATE-OUT -m connmark --mark 0x800000/0x800000 -j RETURN\n"
	"COMMIT\n";

TEST(removal_deletes_every_jump_and_chain_of_ours_only)
{
	char *out = NULL;
	bool found = false;

	CHECK_EQ(ag__fw_ipt_removal(saved_old, false, &out, &found), 0);
	CHECK(found);
	CHECK_STR(out,
		  "-D INPUT -j ALEGATE-IN\n"
		  "-D OUTPUT -j ALEGATE-OUT\n"
		  "-D OUTPUT -j ALEGATE-OUT\n"
		  "-D MINE -p tcp -g ALEGATE-OLD\n"
		  "-F ALEGATE-IN\n"
		  "-F ALEGATE-OUT\n"
		  "-F ALEGATE-OLD\n"
		  "-X ALEGATE-IN\n"
		  "-X ALEGATE-OUT\n"
		  "-X ALEGATE-OLD\n");
	free(out);
}

TEST(removal_before_install_keeps_the_chains_it_redeclares)
{
	char *out = NULL;
	bool found = false;

	CHECK_EQ(ag__fw_ipt_removal(saved_old, true, &out, &found), 0);
	CHECK(found);
	CHECK_STR(out,
		  "-D INPUT -j ALEGATE-IN\n"
		  "-D OUTPUT -j ALEGATE-OUT\n"
		  "-D OUTPUT -j ALEGATE-OUT\n"
		  "-D MINE -p tcp -g ALEGATE-OLD\n"
		  "-F ALEGATE-OLD\n"
		  "-X ALEGATE-OLD\n");
	free(out);
}

TEST(removal_of_nothing_finds_nothing)
{
	static const char clean[] =
		"*mangle\n:OUTPUT ACCEPT [0:0]\n:ALEGATE :x - [0:0]\n"
		":ALEGATE- - [0:0]\n-A OUTPUT -j ACCEPT\nCOMMIT\n";
	char *out = (char *)"unchanged";
	bool found = true;

	CHECK_EQ(ag__fw_ipt_removal(clean, false, &out, &found), 0);
	CHECK(!found);
	CHECK(out == NULL);
	CHECK_EQ(ag__fw_ipt_removal("", true, &out, &found), 0);
	CHECK(!found);
	CHECK(out == NULL);
}

TEST(install_refuses_a_bad_config_with_a_message)
{
	struct ag_fw_config c = cfg_default;
	char err[AG_FW_ERR_MAX] = "";

	c.queue_base = 65535;
	CHECK_EQ(ag_fw_install(&c, NULL, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "65535"), "message does not quote the value: \"%s\"", err);
	CHECK_EQ(ag_fw_remove(AG_FW_BACKEND_AUTO, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "\"auto\""), "message does not quote the backend: \"%s\"", err);
}
