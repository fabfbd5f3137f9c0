/*
 * fw.h — the firewall rules that send new flows to alegate's queues.
 *
 * Two backends: nftables (own table "inet alegate") where the kernel has the
 * nft `queue` expression, else iptables/ip6tables with the NFQUEUE target
 * (own chains ALEGATE-OUT / ALEGATE-IN in the mangle table, jumped to first
 * from OUTPUT / INPUT).  ag_fw_render() prints the exact ruleset, with the
 * reason for every rule as a comment; read it there.
 *
 * How a flow is authorized once (this kernel cannot set the conntrack mark
 * in a verdict, CONFIG_NETFILTER_NETLINK_GLUE_CT): the daemon's verdict sets
 * the *packet* mark and a rule copies it into the connmark.
 *
 *   queue         permit                            deny
 *   connect       AG_NFQ_REPEAT, mark | AUTH        AG_NFQ_DROP
 *   recv_accept   AG_NFQ_REPEAT, mark | AUTH        AG_NFQ_DROP
 *   dns           AG_NFQ_REPEAT, mark | INJECTED, always and at once
 *   (a packet let through once, its flow not authorized: REPEAT, | INJECTED)
 *
 * NF_REPEAT runs the packet through the same hook again from its first rule:
 * our chain's first rules see AUTH, save it to the connmark and return; from
 * then on every packet of the flow matches "connmark has AUTH" at the top of
 * the chain and never reaches user space.  The alternative, NF_ACCEPT with
 * the save rule in a later hook (mangle POSTROUTING), works as well on this
 * kernel (tests/netns/test_nfq.sh checks both); REPEAT was chosen because
 * (1) everything lives in our own chain, in the hook that queued the packet,
 * so install and removal touch one place per direction; (2) with iptables a
 * whole table is one hook function, so NF_ACCEPT would also skip every rule
 * of mangle OUTPUT/INPUT after our jump, while REPEAT lets the packet meet
 * them; (3) on the input path the later hooks are the filter and security
 * tables, the user's own firewall, where our rules do not belong.  Its
 * cost: rules placed before our jump see the first packet twice.
 * Always keep the packet's other mark bits: the mark in a verdict replaces
 * all 32 bits, so pass pkt->mark | bit.
 *
 * probe, install, remove and cleanup run nft / iptables-restore /
 * iptables-save as child processes and wait for them (30 s at most): call
 * them from the main thread, and do not reap every child from a SIGCHLD
 * handler meanwhile (waitpid(-1) would take their exit status).
 */
#ifndef ALEGATE_LINUX_FW_H
#define ALEGATE_LINUX_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The flow is authorized: set by the verdict, saved to the connmark. */
#define AG_FW_MARK_AUTH		0x00800000u
/* The flow was authorized in the kernel by the fast path, which sets it with
 * AUTH; saved to the connmark too.  The daemon has no flow for it, so the
 * conntrack event of its end is dropped before it reaches the daemon. */
#define AG_FW_MARK_FAST		0x00400000u
/* The daemon already judged this packet in this pass through the hook: let
 * it go without queueing it again and without authorizing its flow. */
#define AG_FW_MARK_INJECTED	0x00200000u
/* The daemon has read this DNS query (and keeps it to check the reply
 * against): the query goes on down the chain to be judged like any other
 * packet, without being read again. */
#define AG_FW_MARK_DNSQ		0x00100000u
/* Every bit alegate uses, in packet marks and connmarks; policy routing or
 * other rules must not use these.  Only AUTH and FAST are ever saved to a
 * connmark. */
#define AG_FW_MARK_MASK		(AG_FW_MARK_AUTH | AG_FW_MARK_FAST | AG_FW_MARK_INJECTED | \
				 AG_FW_MARK_DNSQ)

/* Queue numbers are the configured base plus these. */
enum ag_fw_queue {
	AG_FW_Q_CONNECT = 0,
	AG_FW_Q_RECV_ACCEPT = 1,
	AG_FW_Q_DNS = 2,
	AG_FW_NQUEUES = 3,
};

#define AG_FW_IPT_CHAIN_OUT	"ALEGATE-OUT"
#define AG_FW_IPT_CHAIN_IN	"ALEGATE-IN"
/* Every iptables chain whose name starts with this is alegate's. */
#define AG_FW_IPT_PREFIX	"ALEGATE-"
#define AG_FW_NFT_TABLE		"alegate"	/* family inet */
/* The fast path's TCP flows outside conntrack, with either backend. */
#define AG_FW_NFT_NOTRACK_TABLE	"alegate_notrack"	/* family inet */

/* Room for a message a person reads: the command, its status, its stderr. */
#define AG_FW_ERR_MAX		512
/* Enough for any ruleset ag_fw_render() prints. */
#define AG_FW_RULESET_MAX	16384

enum ag_fw_backend {
	AG_FW_BACKEND_AUTO = 0,
	AG_FW_BACKEND_NFTABLES,
	AG_FW_BACKEND_IPTABLES,
};

enum ag_fw_fail_mode {
	/* No queue bypass: with no daemon bound, new flows are dropped. */
	AG_FW_FAIL_CLOSED = 0,
	/* Bypass: with no daemon bound, new flows pass unasked. */
	AG_FW_FAIL_OPEN,
};

struct ag_fw_config {
	uint16_t queue_base;	/* connect; +1 recv_accept; +2 dns */
	enum ag_fw_fail_mode fail_mode;
	bool intercept_loopback;
	bool intercept_inbound;	/* queue new inbound flows at all */
	/* The fast path's pinned UDP match (lib/linux/fastpath), or "": with
	 * it, an allowed UDP flow is marked AUTH without reaching the queue
	 * (iptables only). */
	char udp_bpf_pin[128];
	enum ag_fw_backend backend;
};

/* ag_fw_backend_name — "auto", "nftables", "iptables", or "?" if unknown. */
const char *ag_fw_backend_name(enum ag_fw_backend b);

/* ag_fw_backend_parse — the inverse; returns 0, or -EINVAL for a name that
 * is none of the three (the caller quotes it in its message). */
int ag_fw_backend_parse(const char *name, enum ag_fw_backend *out);

/*
 * ag_fw_render — write the ruleset for cfg and backend into buf (len bytes,
 * NUL-terminated): an nft script for AG_FW_BACKEND_NFTABLES (family is
 * ignored), or iptables-restore --noflush input for AG_FW_BACKEND_IPTABLES
 * and family AF_INET or AF_INET6.  This is the text install loads (for
 * iptables, install adds the removal of an older instance).
 * Returns the text's length, -EINVAL for a bad config, backend or family
 * (queue_base + 2 must fit in 16 bits), -ENOSPC when len is too small.
 */
int ag_fw_render(const struct ag_fw_config *cfg, enum ag_fw_backend backend,
		 int family, char *buf, size_t len);

/*
 * ag_fw_render_notrack — the nft script of the table that takes the fast
 * path's TCP flows (socket mark AUTH | FAST) out of connection tracking,
 * replacing an older copy in the same transaction.  Returns the length,
 * -EINVAL or -ENOSPC.
 */
int ag_fw_render_notrack(char *buf, size_t len);

/*
 * ag_fw_notrack — load (on) or remove (off) that table with nft, whatever
 * the backend of the queue rules.  Removing what is not there succeeds.
 * Only safe while no other rule in the network namespace relies on
 * conntrack (ag_fw_foreign() in fwscan.h tells).  Returns 0 or -errno with
 * a message in err.
 */
int ag_fw_notrack(bool on, char *err, size_t errlen);

/*
 * ag_fw_probe — which backend this kernel and system support, changing
 * nothing: nftables if a queue rule passes `nft --check` (sent to the
 * kernel, never committed), else iptables if iptables-restore and
 * ip6tables-restore exist and the kernel knows the NFQUEUE target.
 * Returns 0 with *out set, or -EOPNOTSUPP with the reason in err (which
 * may be NULL; errlen bytes, AG_FW_ERR_MAX is enough).
 */
int ag_fw_probe(enum ag_fw_backend *out, char *err, size_t errlen);

/*
 * ag_fw_install — load the ruleset atomically (one `nft -f` transaction, or
 * one iptables-restore --noflush transaction per family that also removes
 * an older instance of our chains), so installing twice leaves one copy.
 * cfg->backend AUTO means ag_fw_probe()'s choice; *used (may be NULL) gets
 * the backend used.  With iptables the two families are two transactions:
 * if IPv6 fails, IPv4 is removed again.  IPv6 is skipped when the kernel
 * has no IPv6.  Returns 0 or -errno with a message in err (may be NULL).
 */
int ag_fw_install(const struct ag_fw_config *cfg, enum ag_fw_backend *used,
		  char *err, size_t errlen);

/*
 * ag_fw_remove — remove alegate's table or chains (and every rule jumping
 * to them) from one backend, and the notrack table if it is there; rules
 * that are not ours stay.  Removing what
 * is not there succeeds.  Returns 0 or -errno with a message in err.
 */
int ag_fw_remove(enum ag_fw_backend backend, char *err, size_t errlen);

/*
 * ag_fw_cleanup — ag_fw_remove() for every backend whose tools exist, for
 * `alegated --cleanup` after a crash.  Tries them all; returns 0 or the
 * first error, with its message in err.
 */
int ag_fw_cleanup(char *err, size_t errlen);

#endif
