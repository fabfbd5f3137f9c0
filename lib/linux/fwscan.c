/*
 * fwscan.c — find firewall rules that are not alegate's, over netlink.
 *
 * One dump of NFT_MSG_GETRULE with family NFPROTO_UNSPEC returns every rule
 * of every nftables table, iptables-nft's included, with the table, the
 * chain and the expressions: enough to tell ours from the rest without
 * libnftnl or the nft binary.  Legacy xtables keeps its rules out of
 * nftables; the per-namespace lists of its tables in /proc say whether it
 * holds any.
 *
 * The dump socket is connected to the kernel (port id 0), so no other
 * process can feed it; replies must carry our sequence number and port id,
 * and every attribute used is validated, its container to the last byte.
 * A dump that the kernel marks NLM_F_DUMP_INTR (the ruleset changed under
 * it) proves nothing about the rules it may have missed, so "none" needs a
 * clean one; a foreign rule seen in any dump did exist, and is answer enough.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "linux/fwscan.h"
#include "linux/nlrecv.h"

/* The kernel fills a dump datagram up to 32 KiB at most (netlink_dump). */
#define SCAN_BUF_SIZE		(64 * 1024)
/* Dumps the ruleset may interrupt before we give up with -EAGAIN. */
#define SCAN_TRIES		4
/* Datagrams one drain reads at most: a flood must not keep it forever; the
 * fd stays readable and the caller comes back. */
#define WATCH_DRAIN_MAX		4096

/* ---- which rules are ours ------------------------------------------------ */

static bool has_ipt_prefix(const char *name)
{
	size_t plen = strlen(AG_FW_IPT_PREFIX);

	/* As fw_apply.c: the prefix alone names no chain of ours. */
	return name && strlen(name) > plen && !strncmp(name, AG_FW_IPT_PREFIX, plen);
}

bool ag__fw_rule_is_ours(enum ag_fw_backend backend, int family, const char *table,
			 const char *chain, const char *jump)
{
	if (!table || !chain)
		return false;
	if (family == NFPROTO_INET && (!strcmp(table, AG_FW_NFT_TABLE) ||
				       !strcmp(table, AG_FW_NFT_NOTRACK_TABLE)))
		return true;
	/* Our iptables rules share mangle with the user's: only the chains we
	 * own and the jumps into them are ours. */
	if (backend != AG_FW_BACKEND_IPTABLES)
		return false;
	if ((family != NFPROTO_IPV4 && family != NFPROTO_IPV6) || strcmp(table, "mangle"))
		return false;
	return has_ipt_prefix(chain) || has_ipt_prefix(jump);
}

/* ---- one rule message ---------------------------------------------------- */

/*
 * Parse the attributes in [start, start + len) into tb[0..max]: the types
 * that @want names are validated, others skipped (newer kernels add some).
 * The attributes must fill the container exactly; anything left over means
 * a truncated or garbled message.
 */
static int parse_attrs(const void *start, size_t len, const struct nlattr **tb,
		       const enum mnl_attr_data_type *want, int max)
{
	const struct nlattr *attr = start;
	int left = (int)len;

	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	while (mnl_attr_ok(attr, left)) {
		int type = mnl_attr_get_type(attr);

		if (type <= max && want[type] != MNL_TYPE_UNSPEC) {
			if (mnl_attr_validate(attr, want[type]) < 0)
				return -EBADMSG;
			tb[type] = attr;
		}
		left -= (int)MNL_ALIGN(attr->nla_len);
		attr = mnl_attr_next(attr);
	}
	/* <= 0: the last attribute's padding may lie past the container. */
	return left <= 0 ? 0 : -EBADMSG;
}

static int parse_nest(const struct nlattr *nest, const struct nlattr **tb,
		      const enum mnl_attr_data_type *want, int max)
{
	return parse_attrs(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest),
			   tb, want, max);
}

struct rule_jumps {
	const char *chain;	/* the target of the one jump/goto seen */
	unsigned n;		/* jump/goto verdicts seen */
};

static int parse_verdict(const struct nlattr *nest, struct rule_jumps *rj)
{
	static const enum mnl_attr_data_type want[NFTA_VERDICT_MAX + 1] = {
		[NFTA_VERDICT_CODE] = MNL_TYPE_U32,
		[NFTA_VERDICT_CHAIN] = MNL_TYPE_NUL_STRING,
	};
	const struct nlattr *tb[NFTA_VERDICT_MAX + 1];
	int32_t code;

	if (parse_nest(nest, tb, want, NFTA_VERDICT_MAX) || !tb[NFTA_VERDICT_CODE])
		return -EBADMSG;
	code = (int32_t)ntohl(mnl_attr_get_u32(tb[NFTA_VERDICT_CODE]));
	if (code != NFT_JUMP && code != NFT_GOTO)
		return 0;
	/* The kernel names the target of every jump it dumps. */
	if (!tb[NFTA_VERDICT_CHAIN])
		return -EBADMSG;
	rj->chain = mnl_attr_get_str(tb[NFTA_VERDICT_CHAIN]);
	rj->n++;
	return 0;
}

/* An "immediate" expression's data: a value for a register, or a verdict. */
static int parse_immediate(const struct nlattr *nest, struct rule_jumps *rj)
{
	static const enum mnl_attr_data_type want_imm[NFTA_IMMEDIATE_MAX + 1] = {
		[NFTA_IMMEDIATE_DATA] = MNL_TYPE_NESTED,
	};
	static const enum mnl_attr_data_type want_data[NFTA_DATA_MAX + 1] = {
		[NFTA_DATA_VERDICT] = MNL_TYPE_NESTED,
	};
	const struct nlattr *imm[NFTA_IMMEDIATE_MAX + 1];
	const struct nlattr *data[NFTA_DATA_MAX + 1];

	if (parse_nest(nest, imm, want_imm, NFTA_IMMEDIATE_MAX) || !imm[NFTA_IMMEDIATE_DATA])
		return -EBADMSG;
	if (parse_nest(imm[NFTA_IMMEDIATE_DATA], data, want_data, NFTA_DATA_MAX))
		return -EBADMSG;
	return data[NFTA_DATA_VERDICT] ? parse_verdict(data[NFTA_DATA_VERDICT], rj) : 0;
}

static int parse_exprs(const struct nlattr *list, struct rule_jumps *rj)
{
	static const enum mnl_attr_data_type want[NFTA_EXPR_MAX + 1] = {
		[NFTA_EXPR_NAME] = MNL_TYPE_NUL_STRING,
		[NFTA_EXPR_DATA] = MNL_TYPE_NESTED,
	};
	const struct nlattr *elem;
	int left = (int)mnl_attr_get_payload_len(list);

	for (elem = mnl_attr_get_payload(list); mnl_attr_ok(elem, left);
	     elem = mnl_attr_next(elem)) {
		const struct nlattr *tb[NFTA_EXPR_MAX + 1];

		left -= (int)MNL_ALIGN(elem->nla_len);
		if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM ||
		    mnl_attr_validate(elem, MNL_TYPE_NESTED) < 0 ||
		    parse_nest(elem, tb, want, NFTA_EXPR_MAX) || !tb[NFTA_EXPR_NAME])
			return -EBADMSG;
		/* Some expressions (notrack) have no data. */
		if (!strcmp(mnl_attr_get_str(tb[NFTA_EXPR_NAME]), "immediate") &&
		    (!tb[NFTA_EXPR_DATA] || parse_immediate(tb[NFTA_EXPR_DATA], rj)))
			return -EBADMSG;
	}
	return left <= 0 ? 0 : -EBADMSG;
}

static const char *family_name(int family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_NETDEV:
		return "netdev";
	default:
		return NULL;
	}
}

int ag__fw_rule_msg_foreign(enum ag_fw_backend backend, const struct nlmsghdr *nlh,
			    char *what, size_t whatlen)
{
	static const enum mnl_attr_data_type want[NFTA_RULE_MAX + 1] = {
		[NFTA_RULE_TABLE] = MNL_TYPE_NUL_STRING,
		[NFTA_RULE_CHAIN] = MNL_TYPE_NUL_STRING,
		[NFTA_RULE_EXPRESSIONS] = MNL_TYPE_NESTED,
	};
	const struct nlattr *tb[NFTA_RULE_MAX + 1];
	const struct nfgenmsg *nfg;
	struct rule_jumps rj = { NULL, 0 };
	size_t hdr = MNL_ALIGN(sizeof(*nfg));
	const char *table, *chain, *fam;

	if (nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) ||
	    nlh->nlmsg_len < MNL_NLMSG_HDRLEN + hdr)
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (parse_attrs((const char *)nfg + hdr, nlh->nlmsg_len - MNL_NLMSG_HDRLEN - hdr,
			tb, want, NFTA_RULE_MAX) ||
	    !tb[NFTA_RULE_TABLE] || !tb[NFTA_RULE_CHAIN])
		return -EBADMSG;
	if (tb[NFTA_RULE_EXPRESSIONS] && parse_exprs(tb[NFTA_RULE_EXPRESSIONS], &rj))
		return -EBADMSG;
	table = mnl_attr_get_str(tb[NFTA_RULE_TABLE]);
	chain = mnl_attr_get_str(tb[NFTA_RULE_CHAIN]);
	/* Two jumps in one rule: neither tells where the rule goes. */
	if (ag__fw_rule_is_ours(backend, nfg->nfgen_family, table, chain,
				rj.n == 1 ? rj.chain : NULL))
		return 0;
	if (what && whatlen) {
		fam = family_name(nfg->nfgen_family);
		if (fam)
			snprintf(what, whatlen, "nft table %s %s, chain %s", fam, table, chain);
		else
			snprintf(what, whatlen, "nft table (family %u) %s, chain %s",
				 nfg->nfgen_family, table, chain);
	}
	return 1;
}

/* ---- the dump ------------------------------------------------------------ */

/*
 * Sockets here are never bound: connect() binds a netlink socket to a port
 * id of the kernel's choosing, and the daemon's seccomp filter has no bind.
 * Return: the fd with *portid set, or -errno.
 */
static int scan_open(uint32_t *portid)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, local;
	socklen_t alen = sizeof(local);
	struct timeval tv = {
		.tv_sec = AG_FWSCAN_TIMEOUT_MS / 1000,
		.tv_usec = (AG_FWSCAN_TIMEOUT_MS % 1000) * 1000,
	};
	int one = 1, fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&local, &alen) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	if (alen != sizeof(local) || local.nl_family != AF_NETLINK) {
		close(fd);
		return -EAFNOSUPPORT;
	}
	/* Errors then carry only the header back, not our whole request. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	*portid = local.nl_pid;
	return fd;
}

/* What a dump does with each rule message: non-zero ends the dump with
 * that value. */
typedef int (*scan_each_fn)(const struct nlmsghdr *nlh, void *arg);

/*
 * One dump of every rule, read to its end unless @each ends it.
 * Return: @each's non-zero value, 0 at the end, -EAGAIN when the kernel
 * marked it interrupted, other -errno.
 */
static int scan_dump(int fd, uint32_t portid, char *buf, uint32_t seq, scan_each_fn each,
		     void *arg)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	bool intr = false;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = NFPROTO_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (send(fd, nlh, nlh->nlmsg_len, 0) == -1)
		return -errno;

	for (;;) {
		bool cut;
		ssize_t n = ag_nl_recv_kernel(fd, buf, SCAN_BUF_SIZE, &cut, NULL);
		int len;

		if (n < 0)
			return (int)n;
		/* A cut datagram lost rules: "none" would be a guess. */
		if (cut)
			return -EMSGSIZE;
		len = (int)n;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			int r;

			if (!mnl_nlmsg_seq_ok(nlh, seq) || !mnl_nlmsg_portid_ok(nlh, portid))
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				/* A dump that failed half way says so here. */
				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
					int e = *(const int *)mnl_nlmsg_get_payload(nlh);

					if (e > 0)
						return -EBADMSG;
					if (e < 0)
						return e;
				}
				return intr ? -EAGAIN : 0;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e;

				if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				e = mnl_nlmsg_get_payload(nlh);
				/* A dump ends with NLMSG_DONE, never an ack. */
				return e->error < 0 ? e->error : -EBADMSG;
			}
			if (nlh->nlmsg_type == NLMSG_NOOP)
				continue;
			r = each(nlh, arg);
			if (r)
				return r;
		}
		if (len > 0)
			return -EBADMSG;
	}
}

/* Runs one whole dump per try; @reset clears what @each gathered before a
 * try that follows an interrupted one.  Return: as scan_dump(). */
static int scan_rules(scan_each_fn each, void (*reset)(void *arg), void *arg)
{
	uint32_t portid = 0, seq;
	char *buf;
	int r = -EAGAIN, i, fd;

	fd = scan_open(&portid);
	if (fd < 0)
		return fd;
	buf = malloc(SCAN_BUF_SIZE);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	seq = (uint32_t)time(NULL);
	/* Each try reads its dump to NLMSG_DONE: the socket is free again. */
	for (i = 0; i < SCAN_TRIES && r == -EAGAIN; i++) {
		if (reset)
			reset(arg);
		r = scan_dump(fd, portid, buf, seq + (uint32_t)i, each, arg);
	}
	free(buf);
	close(fd);
	return r;
}

struct foreign_scan {
	enum ag_fw_backend backend;
	char *what;
	size_t whatlen;
};

static int foreign_each(const struct nlmsghdr *nlh, void *arg)
{
	struct foreign_scan *fs = arg;

	return ag__fw_rule_msg_foreign(fs->backend, nlh, fs->what, fs->whatlen);
}

/* Legacy xtables: a table there exists only once something used it. */
static int scan_legacy(char *what, size_t whatlen)
{
	static const struct {
		const char *path, *tool;
	} lists[] = {
		{ "/proc/net/ip_tables_names", "iptables" },
		{ "/proc/net/ip6_tables_names", "ip6tables" },
	};
	char line[64];
	size_t i;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		FILE *f = fopen(lists[i].path, "re");
		bool found;
		int err;

		if (!f) {
			/* No ip_tables module: no legacy rules. */
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		found = fgets(line, sizeof(line), f) != NULL;
		err = ferror(f) ? -EIO : 0;
		fclose(f);
		if (err)
			return err;
		if (!found)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (what && whatlen)
			snprintf(what, whatlen, "legacy %s table %s", lists[i].tool, line);
		return 1;
	}
	return 0;
}

int ag_fw_foreign(enum ag_fw_backend backend, char *what, size_t whatlen)
{
	int r;

	if (what && whatlen)
		what[0] = '\0';
	/* Legacy first: it answers even where nftables cannot be read. */
	r = scan_legacy(what, whatlen);
	if (r)
		return r;
	struct foreign_scan fs = { backend, what, whatlen };

	return scan_rules(foreign_each, NULL, &fs);
}

/* ---- the fingerprint of our own rules -------------------------------------- */

struct print_scan {
	enum ag_fw_backend backend;
	uint64_t sum;
	unsigned n;
	/* the chain of the rule before: rules of one chain come in a row */
	int family;
	char table[256], chain[256];
	unsigned pos;
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * The expressions of a rule, without what changes on its own: counters
 * (iptables-nft puts one in every rule) and the data of xtables matches,
 * which holds the file descriptor iptables-restore had (the bpf match).
 * Of those, the name (and a match's name) still counts.
 */
static uint64_t hash_exprs(uint64_t h, const struct nlattr *list)
{
	static const enum mnl_attr_data_type want[NFTA_EXPR_MAX + 1] = {
		[NFTA_EXPR_NAME] = MNL_TYPE_NUL_STRING,
		[NFTA_EXPR_DATA] = MNL_TYPE_NESTED,
	};
	static const enum mnl_attr_data_type want_match[NFTA_MATCH_MAX + 1] = {
		[NFTA_MATCH_NAME] = MNL_TYPE_NUL_STRING,
	};
	const struct nlattr *elem;
	int left = (int)mnl_attr_get_payload_len(list);

	/* well-formed: parse_exprs() checked the list */
	for (elem = mnl_attr_get_payload(list); mnl_attr_ok(elem, left);
	     elem = mnl_attr_next(elem)) {
		const struct nlattr *tb[NFTA_EXPR_MAX + 1], *mt[NFTA_MATCH_MAX + 1];
		const char *name;

		left -= (int)MNL_ALIGN(elem->nla_len);
		if (parse_nest(elem, tb, want, NFTA_EXPR_MAX) || !tb[NFTA_EXPR_NAME])
			continue;
		name = mnl_attr_get_str(tb[NFTA_EXPR_NAME]);
		h = fnv1a(h, name, strlen(name) + 1);
		if (!tb[NFTA_EXPR_DATA] || !strcmp(name, "counter") || !strcmp(name, "limit") ||
		    !strcmp(name, "quota") || !strcmp(name, "last"))
			continue;
		if (!strcmp(name, "match")) {
			if (parse_nest(tb[NFTA_EXPR_DATA], mt, want_match, NFTA_MATCH_MAX) == 0 &&
			    mt[NFTA_MATCH_NAME])
				h = fnv1a(h, mnl_attr_get_str(mt[NFTA_MATCH_NAME]),
					  strlen(mnl_attr_get_str(mt[NFTA_MATCH_NAME])));
			continue;
		}
		h = fnv1a(h, mnl_attr_get_payload(tb[NFTA_EXPR_DATA]),
			  mnl_attr_get_payload_len(tb[NFTA_EXPR_DATA]));
	}
	return h;
}

static void print_reset(void *arg)
{
	struct print_scan *ps = arg;

	ps->sum = 0;
	ps->n = 0;
	ps->family = -1;
	ps->table[0] = ps->chain[0] = '\0';
	ps->pos = 0;
}

static int print_each(const struct nlmsghdr *nlh, void *arg)
{
	static const enum mnl_attr_data_type want[NFTA_RULE_MAX + 1] = {
		[NFTA_RULE_TABLE] = MNL_TYPE_NUL_STRING,
		[NFTA_RULE_CHAIN] = MNL_TYPE_NUL_STRING,
		[NFTA_RULE_EXPRESSIONS] = MNL_TYPE_NESTED,
	};
	struct print_scan *ps = arg;
	const struct nlattr *tb[NFTA_RULE_MAX + 1];
	const struct nfgenmsg *nfg;
	size_t hdr = MNL_ALIGN(sizeof(*nfg));
	const char *table, *chain;
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t fam;
	int r;

	r = ag__fw_rule_msg_foreign(ps->backend, nlh, NULL, 0);
	if (r < 0)
		return r;
	nfg = mnl_nlmsg_get_payload(nlh);
	/* well-formed: ag__fw_rule_msg_foreign() checked it */
	parse_attrs((const char *)nfg + hdr, nlh->nlmsg_len - MNL_NLMSG_HDRLEN - hdr, tb, want,
		    NFTA_RULE_MAX);
	table = mnl_attr_get_str(tb[NFTA_RULE_TABLE]);
	chain = mnl_attr_get_str(tb[NFTA_RULE_CHAIN]);
	if (ps->family != nfg->nfgen_family || strcmp(ps->table, table) ||
	    strcmp(ps->chain, chain)) {
		ps->family = nfg->nfgen_family;
		snprintf(ps->table, sizeof(ps->table), "%s", table);
		snprintf(ps->chain, sizeof(ps->chain), "%s", chain);
		ps->pos = 0;
	}
	ps->pos++;
	/* Foreign rules only move ours (a rule before our jump in mangle
	 * OUTPUT counts); the notrack table comes and goes on its own. */
	if (r == 1 || (nfg->nfgen_family == NFPROTO_INET && !strcmp(table, AG_FW_NFT_NOTRACK_TABLE)))
		return 0;
	fam = nfg->nfgen_family;
	h = fnv1a(h, &fam, 1);
	h = fnv1a(h, table, strlen(table) + 1);
	h = fnv1a(h, chain, strlen(chain) + 1);
	h = fnv1a(h, &ps->pos, sizeof(ps->pos));
	if (tb[NFTA_RULE_EXPRESSIONS])
		h = hash_exprs(h, tb[NFTA_RULE_EXPRESSIONS]);
	/* a sum: the order of tables and chains in the dump does not matter */
	ps->sum += h;
	ps->n++;
	return 0;
}

int ag_fw_fingerprint(enum ag_fw_backend backend, uint64_t *sum, unsigned *nrules)
{
	struct print_scan ps = { .backend = backend };
	int r = scan_rules(print_each, print_reset, &ps);

	if (r)
		return r;
	*sum = ps.sum;
	*nrules = ps.n;
	return 0;
}

/* ---- the watch ----------------------------------------------------------- */

int ag_fw_watch_open(void)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int group = NFNLGRP_NFTABLES, fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd == -1)
		return -errno;
	/* Connected to the kernel (which binds it, see scan_open()): other
	 * processes cannot wake us, while the group's messages still arrive. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) == -1 ||
	    connect(fd, (struct sockaddr *)&kernel, sizeof(kernel)) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int ag_fw_watch_drain(int fd)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	int changed = 0, i;

	for (i = 0; i < WATCH_DRAIN_MAX; i++) {
		/* Only that something changed matters, not what: MSG_TRUNC
		 * takes a long message whole. */
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n >= 0) {
			changed = 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == ENOBUFS) {
			changed = 1;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return changed;
		return -errno;
	}
	return 1;
}
