/*
 * test_fwscan.c — lib/linux/fwscan: which rules are alegate's own, and the
 * reading of one rule message of the nftables dump, without the kernel.
 * tests/netns/test_fwscan.sh checks the same against real rulesets.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "check.h"
#include "linux/fw.h"
#include "linux/fwscan.h"

#define NFT AG_FW_BACKEND_NFTABLES
#define IPT AG_FW_BACKEND_IPTABLES
#define AUTO AG_FW_BACKEND_AUTO

static bool ours(enum ag_fw_backend b, int family, const char *table,
		 const char *chain, const char *jump)
{
	return ag__fw_rule_is_ours(b, family, table, chain, jump);
}

/* ---- ag__fw_rule_is_ours ------------------------------------------------- */

TEST(own_nft_table_ours_with_every_backend)
{
	CHECK(ours(NFT, NFPROTO_INET, "alegate", "output", NULL));
	CHECK(ours(NFT, NFPROTO_INET, "alegate", "input", "anything"));
	CHECK(ours(IPT, NFPROTO_INET, "alegate", "output", NULL));
	CHECK(ours(AUTO, NFPROTO_INET, "alegate", "output", NULL));
}

TEST(notrack_table_ours_with_every_backend)
{
	CHECK(ours(NFT, NFPROTO_INET, "alegate_notrack", "output", NULL));
	CHECK(ours(IPT, NFPROTO_INET, "alegate_notrack", "prerouting", NULL));
	CHECK(ours(AUTO, NFPROTO_INET, "alegate_notrack", "x", NULL));
}

TEST(table_named_alegate_in_another_family_foreign)
{
	CHECK(!ours(NFT, NFPROTO_IPV4, "alegate", "output", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV6, "alegate_notrack", "output", NULL));
	CHECK(!ours(NFT, NFPROTO_BRIDGE, "alegate", "output", NULL));
	CHECK(!ours(NFT, NFPROTO_INET, "alegate2", "output", NULL));
	CHECK(!ours(NFT, NFPROTO_INET, "Alegate", "output", NULL));
}

TEST(iptables_alegate_chains_ours)
{
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "ALEGATE-OUT", NULL));
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "ALEGATE-IN", NULL));
	CHECK(ours(IPT, NFPROTO_IPV6, "mangle", "ALEGATE-OUT", NULL));
	CHECK(ours(IPT, NFPROTO_IPV6, "mangle", "ALEGATE-IN", "RETURN"));
	/* any chain with the prefix: a later version may add one */
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "ALEGATE-FWD", NULL));
}

TEST(the_jump_rule_in_mangle_output_ours)
{
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "OUTPUT", "ALEGATE-OUT"));
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "INPUT", "ALEGATE-IN"));
	CHECK(ours(IPT, NFPROTO_IPV6, "mangle", "OUTPUT", "ALEGATE-OUT"));
	CHECK(ours(IPT, NFPROTO_IPV6, "mangle", "INPUT", "ALEGATE-IN"));
	/* from a chain of the user's, as test_fw.sh's MINE */
	CHECK(ours(IPT, NFPROTO_IPV4, "mangle", "MINE", "ALEGATE-OUT"));
}

TEST(another_rule_in_mangle_output_foreign)
{
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "OUTPUT", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "OUTPUT", "MINE"));
	CHECK(!ours(IPT, NFPROTO_IPV6, "mangle", "INPUT", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "PREROUTING", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "MINE", NULL));
}

TEST(bare_or_lowercase_prefix_is_not_ours)
{
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "ALEGATE-", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "OUTPUT", "ALEGATE-"));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "alegate-out", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "OUTPUT", "alegate-out"));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", "ALEGATE", NULL));
}

TEST(a_filter_table_rule_foreign)
{
	CHECK(!ours(IPT, NFPROTO_IPV4, "filter", "INPUT", NULL));
	/* even named like ours, outside mangle */
	CHECK(!ours(IPT, NFPROTO_IPV4, "filter", "ALEGATE-IN", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "filter", "INPUT", "ALEGATE-IN"));
	CHECK(!ours(IPT, NFPROTO_IPV4, "nat", "OUTPUT", "ALEGATE-OUT"));
	CHECK(!ours(IPT, NFPROTO_IPV6, "raw", "ALEGATE-OUT", NULL));
	CHECK(!ours(NFT, NFPROTO_INET, "filter", "input", NULL));
}

TEST(mangle_rules_foreign_under_the_nft_backend)
{
	CHECK(!ours(NFT, NFPROTO_IPV4, "mangle", "ALEGATE-OUT", NULL));
	CHECK(!ours(NFT, NFPROTO_IPV4, "mangle", "OUTPUT", "ALEGATE-OUT"));
	CHECK(!ours(NFT, NFPROTO_IPV6, "mangle", "ALEGATE-IN", NULL));
	CHECK(!ours(AUTO, NFPROTO_IPV4, "mangle", "ALEGATE-OUT", NULL));
}

TEST(mangle_of_other_families_foreign_under_iptables)
{
	CHECK(!ours(IPT, NFPROTO_INET, "mangle", "ALEGATE-OUT", NULL));
	CHECK(!ours(IPT, NFPROTO_BRIDGE, "mangle", "ALEGATE-OUT", NULL));
	CHECK(!ours(IPT, NFPROTO_ARP, "mangle", "OUTPUT", "ALEGATE-OUT"));
}

TEST(missing_names_are_not_ours)
{
	CHECK(!ours(IPT, NFPROTO_IPV4, NULL, "ALEGATE-OUT", NULL));
	CHECK(!ours(IPT, NFPROTO_IPV4, "mangle", NULL, "ALEGATE-OUT"));
	CHECK(!ours(NFT, NFPROTO_INET, "alegate", NULL, NULL));
}

/* ---- one message of the dump --------------------------------------------- */

/* An NFT_MSG_NEWRULE as the kernel dumps it, built piece by piece. */
struct msg {
	char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nlh;
	struct nlattr *exprs;
};

static void msg_head(struct msg *m, int family)
{
	struct nfgenmsg *nfg;

	m->nlh = mnl_nlmsg_put_header(m->buf);
	m->nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE;
	m->nlh->nlmsg_flags = NLM_F_MULTI;
	nfg = mnl_nlmsg_put_extra_header(m->nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	m->exprs = NULL;
}

static void msg_start(struct msg *m, int family, const char *table, const char *chain)
{
	msg_head(m, family);
	mnl_attr_put_strz(m->nlh, NFTA_RULE_TABLE, table);
	mnl_attr_put_strz(m->nlh, NFTA_RULE_CHAIN, chain);
	mnl_attr_put_u64(m->nlh, NFTA_RULE_HANDLE, htobe64(4));
	m->exprs = mnl_attr_nest_start(m->nlh, NFTA_RULE_EXPRESSIONS);
}

static void msg_counter(struct msg *m)
{
	struct nlattr *elem = mnl_attr_nest_start(m->nlh, NFTA_LIST_ELEM), *data;

	mnl_attr_put_strz(m->nlh, NFTA_EXPR_NAME, "counter");
	data = mnl_attr_nest_start(m->nlh, NFTA_EXPR_DATA);
	mnl_attr_put_u64(m->nlh, NFTA_COUNTER_BYTES, 0);
	mnl_attr_put_u64(m->nlh, NFTA_COUNTER_PACKETS, 0);
	mnl_attr_nest_end(m->nlh, data);
	mnl_attr_nest_end(m->nlh, elem);
}

/* An "immediate" verdict; target NULL puts no chain name. */
static void msg_verdict(struct msg *m, int code, const char *target)
{
	struct nlattr *elem = mnl_attr_nest_start(m->nlh, NFTA_LIST_ELEM);
	struct nlattr *data, *imm, *verdict;

	mnl_attr_put_strz(m->nlh, NFTA_EXPR_NAME, "immediate");
	data = mnl_attr_nest_start(m->nlh, NFTA_EXPR_DATA);
	mnl_attr_put_u32(m->nlh, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
	imm = mnl_attr_nest_start(m->nlh, NFTA_IMMEDIATE_DATA);
	verdict = mnl_attr_nest_start(m->nlh, NFTA_DATA_VERDICT);
	mnl_attr_put_u32(m->nlh, NFTA_VERDICT_CODE, htonl((uint32_t)code));
	if (target)
		mnl_attr_put_strz(m->nlh, NFTA_VERDICT_CHAIN, target);
	mnl_attr_nest_end(m->nlh, verdict);
	mnl_attr_nest_end(m->nlh, imm);
	mnl_attr_nest_end(m->nlh, data);
	mnl_attr_nest_end(m->nlh, elem);
}

/* An expression with no data at all, as the kernel dumps notrack. */
static void msg_bare_expr(struct msg *m, const char *name)
{
	struct nlattr *elem = mnl_attr_nest_start(m->nlh, NFTA_LIST_ELEM);

	mnl_attr_put_strz(m->nlh, NFTA_EXPR_NAME, name);
	mnl_attr_nest_end(m->nlh, elem);
}

static const struct nlmsghdr *msg_end(struct msg *m)
{
	if (m->exprs)
		mnl_attr_nest_end(m->nlh, m->exprs);
	return m->nlh;
}

static int msg_foreign(enum ag_fw_backend b, const struct nlmsghdr *nlh, char *what,
		       size_t len)
{
	if (len)
		what[0] = '\0';
	return ag__fw_rule_msg_foreign(b, nlh, what, len);
}

TEST(msg_jump_rule_in_mangle_output_ours_under_iptables_only)
{
	struct msg m;
	char what[AG_FWSCAN_WHAT_MAX];

	/* what iptables-nft makes of "-I OUTPUT 1 -j ALEGATE-OUT" */
	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_counter(&m);
	msg_verdict(&m, NFT_JUMP, "ALEGATE-OUT");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 0);
	CHECK_EQ(msg_foreign(NFT, m.nlh, what, sizeof(what)), 1);
	CHECK_STR(what, "nft table ip mangle, chain OUTPUT");
}

TEST(msg_goto_to_our_chain_ours)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_IPV6, "mangle", "INPUT");
	msg_verdict(&m, NFT_GOTO, "ALEGATE-IN");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 0);
}

TEST(msg_other_verdicts_in_mangle_output_foreign)
{
	struct msg m;
	char what[AG_FWSCAN_WHAT_MAX];

	msg_start(&m, NFPROTO_IPV6, "mangle", "OUTPUT");
	msg_counter(&m);
	msg_verdict(&m, NF_ACCEPT, NULL);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);
	CHECK_STR(what, "nft table ip6 mangle, chain OUTPUT");

	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_JUMP, "MINE");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);

	/* no expressions at all: still a rule that is not ours */
	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);
}

TEST(msg_two_jumps_in_one_rule_foreign)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_JUMP, "ALEGATE-OUT");
	msg_verdict(&m, NFT_JUMP, "MINE");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);
	/* neither the first nor the last one decides */
	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_GOTO, "MINE");
	msg_verdict(&m, NFT_JUMP, "ALEGATE-OUT");
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);
}

TEST(msg_rule_in_our_tables_ours_whatever_it_does)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_INET, "alegate_notrack", "output");
	msg_bare_expr(&m, "notrack");
	msg_end(&m);
	CHECK_EQ(msg_foreign(NFT, m.nlh, what, sizeof(what)), 0);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 0);
}

TEST(msg_foreign_rule_is_described)
{
	struct msg m;
	char what[AG_FWSCAN_WHAT_MAX], small[12];

	msg_start(&m, NFPROTO_IPV4, "filter", "INPUT");
	msg_verdict(&m, NF_ACCEPT, NULL);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 1);
	CHECK_STR(what, "nft table ip filter, chain INPUT");
	/* cut, still terminated */
	CHECK_EQ(msg_foreign(IPT, m.nlh, small, sizeof(small)), 1);
	CHECK_STR(small, "nft table i");
	CHECK_EQ(ag__fw_rule_msg_foreign(IPT, m.nlh, NULL, 0), 1);

	msg_start(&m, 99, "t", "c");
	msg_end(&m);
	CHECK_EQ(msg_foreign(NFT, m.nlh, what, sizeof(what)), 1);
	CHECK_STR(what, "nft table (family 99) t, chain c");
}

TEST(msg_unknown_attributes_are_skipped)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_JUMP, "ALEGATE-OUT");
	msg_end(&m);
	mnl_attr_put_u32(m.nlh, NFTA_RULE_MAX + 5, 1);
	mnl_attr_put_strz(m.nlh, NFTA_RULE_USERDATA, "x");
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), 0);
}

TEST(msg_truncated_is_ebadmsg)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_JUMP, "ALEGATE-OUT");
	msg_end(&m);
	m.nlh->nlmsg_len -= 8;
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);
	m.nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);
}

TEST(msg_without_table_or_chain_is_ebadmsg)
{
	struct msg m;
	char what[64];

	msg_head(&m, NFPROTO_IPV4);
	mnl_attr_put_strz(m.nlh, NFTA_RULE_CHAIN, "OUTPUT");
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);

	msg_head(&m, NFPROTO_IPV4);
	mnl_attr_put_strz(m.nlh, NFTA_RULE_TABLE, "mangle");
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);
}

TEST(msg_unterminated_name_is_ebadmsg)
{
	struct msg m;
	char what[64];

	msg_head(&m, NFPROTO_INET);
	mnl_attr_put_strz(m.nlh, NFTA_RULE_TABLE, "alegate");
	mnl_attr_put(m.nlh, NFTA_RULE_CHAIN, 6, "output");
	CHECK_EQ(msg_foreign(NFT, m.nlh, what, sizeof(what)), -EBADMSG);
}

TEST(msg_jump_without_target_is_ebadmsg)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	msg_verdict(&m, NFT_JUMP, NULL);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);
}

TEST(msg_expression_list_of_other_things_is_ebadmsg)
{
	struct msg m;
	char what[64];
	struct nlattr *elem, *data, *imm, *v;

	/* an expression without its name */
	msg_start(&m, NFPROTO_IPV4, "filter", "INPUT");
	elem = mnl_attr_nest_start(m.nlh, NFTA_LIST_ELEM);
	mnl_attr_put_u32(m.nlh, NFTA_EXPR_DATA + 7, 0);
	mnl_attr_nest_end(m.nlh, elem);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);

	/* an element that is not NFTA_LIST_ELEM */
	msg_start(&m, NFPROTO_IPV4, "filter", "INPUT");
	mnl_attr_put_u32(m.nlh, NFTA_LIST_ELEM + 1, 0);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);

	/* an immediate with a verdict code of the wrong size */
	msg_start(&m, NFPROTO_IPV4, "mangle", "OUTPUT");
	elem = mnl_attr_nest_start(m.nlh, NFTA_LIST_ELEM);
	mnl_attr_put_strz(m.nlh, NFTA_EXPR_NAME, "immediate");
	data = mnl_attr_nest_start(m.nlh, NFTA_EXPR_DATA);
	imm = mnl_attr_nest_start(m.nlh, NFTA_IMMEDIATE_DATA);
	v = mnl_attr_nest_start(m.nlh, NFTA_DATA_VERDICT);
	mnl_attr_put_u16(m.nlh, NFTA_VERDICT_CODE, 0);
	mnl_attr_nest_end(m.nlh, v);
	mnl_attr_nest_end(m.nlh, imm);
	mnl_attr_nest_end(m.nlh, data);
	mnl_attr_nest_end(m.nlh, elem);
	msg_end(&m);
	CHECK_EQ(msg_foreign(IPT, m.nlh, what, sizeof(what)), -EBADMSG);
}

TEST(msg_of_another_type_is_ebadmsg)
{
	struct msg m;
	char what[64];

	msg_start(&m, NFPROTO_INET, "alegate", "output");
	msg_end(&m);
	m.nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN;
	CHECK_EQ(msg_foreign(NFT, m.nlh, what, sizeof(what)), -EBADMSG);
}
