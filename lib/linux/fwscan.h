/*
 * fwscan.h — is alegate the only firewall in this network namespace?
 *
 * Taking flows out of conntrack (NOTRACK) is safe only when no other rule
 * relies on it: another firewall's `ct state established accept`, or NAT,
 * would break for an untracked flow.  ag_fw_foreign() reads every nftables
 * rule of the namespace over netlink (iptables-nft rules are nftables rules
 * too) and the legacy xtables table lists; ag_fw_watch_open() wakes the
 * caller when the nftables ruleset changes, so the answer can be asked
 * again.  Legacy xtables sends no such event: poll ag_fw_foreign() for it.
 *
 * Nothing here runs nft or iptables; everything needs CAP_NET_ADMIN in the
 * namespace (-EPERM otherwise) and answers for the calling thread's one.
 */
#ifndef ALEGATE_LINUX_FWSCAN_H
#define ALEGATE_LINUX_FWSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "linux/fw.h"

struct nlmsghdr;

/* Longest wait for one part of the rule dump. */
#define AG_FWSCAN_TIMEOUT_MS	1000
/* Room for any description ag_fw_foreign() writes (names are < 256). */
#define AG_FWSCAN_WHAT_MAX	600

/*
 * ag_fw_foreign() - is any firewall rule in this network namespace not alegate's?
 * @backend: which backend alegate's own rules use (its iptables rules share the
 *   mangle tables); AUTO or NFTABLES: none of the mangle rules is ours
 * @what, @whatlen: on 1, a short description of the first foreign thing found,
 *   e.g. "nft table ip filter, chain INPUT" or "legacy iptables table filter"
 *   (@what may be NULL)
 *
 * Ours: every rule in the tables inet alegate and inet alegate_notrack; with
 * backend iptables also, in the mangle tables of ip and ip6, every rule of a
 * chain named ALEGATE-* and a rule elsewhere whose verdict jumps (or goes) to
 * one.  Tables, chains and sets without rules are not foreign: they filter
 * nothing.  A legacy xtables table is foreign as soon as it exists (its
 * rules cannot be read without iptables-legacy).
 *
 * Return: 1 foreign rules exist, 0 none, -errno when it cannot tell
 * (-EAGAIN: the ruleset changed during every try; -ETIMEDOUT; -EBADMSG for
 * a malformed reply; -EINVAL from a kernel without nf_tables).
 */
int ag_fw_foreign(enum ag_fw_backend backend, char *what, size_t whatlen);

/*
 * ag_fw_fingerprint() - a digest of alegate's own queue rules as the kernel has them.
 * @backend: as for ag_fw_foreign()
 * @sum: a hash of every rule of ours (table, chain, its place in the
 *   chain, its expressions), the notrack table left out
 * @nrules: how many rules of ours there are
 *
 * Two fingerprints differ when a rule of ours was removed, added, changed
 * or moved (another rule inserted before our jump in a shared chain), so
 * the daemon compares the one taken after its install with the current
 * one to notice that someone else touched its rules.  Legacy xtables rules
 * are invisible here (@nrules 0).
 *
 * Return: 0, or -errno as ag_fw_foreign() (-EAGAIN: the ruleset kept
 * changing during the dumps).
 */
int ag_fw_fingerprint(enum ag_fw_backend backend, uint64_t *sum, unsigned *nrules);

/*
 * ag_fw_watch_open() - a nonblocking, close-on-exec NETLINK_NETFILTER socket
 * subscribed to NFNLGRP_NFTABLES: readable whenever any nftables
 * table/chain/rule/set changes in this netns.  Open it before asking
 * ag_fw_foreign(), so that no change falls between the two.
 * Return: the fd (the caller closes it), or -errno.
 */
int ag_fw_watch_open(void);

/*
 * ag_fw_watch_drain() - read everything pending on such an fd.
 * Return: 1 when at least one change was read (or the socket overflowed:
 * ENOBUFS means changes were lost, so also 1), 0 when nothing was pending,
 * -errno on another error.
 */
int ag_fw_watch_drain(int fd);

/*
 * For the unit tests: is one rule alegate's own?  family is the nfgen family
 * (NFPROTO_*), jump is the chain a jump/goto verdict of the rule names, or
 * NULL.
 */
bool ag__fw_rule_is_ours(enum ag_fw_backend backend, int family, const char *table,
			 const char *chain, const char *jump);

/*
 * For the unit tests: one message of the rule dump.  Return: 1 a foreign
 * rule (described in @what), 0 one of ours, -EBADMSG when the message is
 * not a well-formed NFT_MSG_NEWRULE.
 */
int ag__fw_rule_msg_foreign(enum ag_fw_backend backend, const struct nlmsghdr *nlh,
			    char *what, size_t whatlen);

#endif
