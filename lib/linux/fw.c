/*
 * fw.c — the rules: one table of rules, rendered as iptables-restore input
 * or as an nft script, with each rule's reason printed as a comment above
 * it.  The table is the single place that says what is queued and why.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "linux/fw_internal.h"

/* Which chain a rule belongs to. */
enum {
	FW_OUT = 1 << 0,	/* OUTPUT: the connect queue */
	FW_IN = 1 << 1,		/* INPUT: the recv_accept queue */
};

/* When a rule is present. */
enum {
	FW_ALWAYS = 0,
	FW_UNLESS_LOOPBACK = 1 << 0,	/* loopback is not intercepted */
	FW_IF_INBOUND = 1 << 1,		/* inbound is intercepted (IN only) */
	FW_IF_UDP_BPF = 1 << 2,		/* the fast path pinned its UDP match */
	FW_UNLESS_INBOUND = 1 << 3,	/* inbound is not intercepted (IN only) */
};

/*
 * A rule in both syntaxes, with {KEY} placeholders filled by fw_expand().
 * A NULL syntax means the other backend needs an extra rule there.
 *   {LO}      the loopback interface match for the chain's direction
 *   {Q}       the chain's queue number;  {DNSQ} the dns queue number
 *   {BYPASS}  the queue bypass option when fail_mode is open
 *   {AUTH} {FAST} {INJ} {DNSQM}  the mark bits; {AUTHFAST} AUTH | FAST
 *   {UDPBPF}  the pinned eBPF program of the fast path's UDP match
 *   {SK}      nft only: "the packet has a user-space owner" on OUT (nft
 *             cannot negate a match on a missing socket; iptables says it
 *             with a RETURN rule of its own)
 */
struct fw_rule {
	unsigned chains;
	unsigned when;
	const char *why;
	const char *ipt;
	const char *nft;
};

static const struct fw_rule fw_rules[] = {
	{ FW_OUT, FW_ALWAYS,
	  "DNS queries go to the dns queue before anything else, also over\n"
	  "loopback: the daemon keeps each one's addresses, ports, id and\n"
	  "question for a few seconds and learns names only from a reply that\n"
	  "answers one.  Always with bypass: reading names must never stop name\n"
	  "resolution.  The daemon answers at once with NF_REPEAT and\n"
	  "mark | DNSQ, which this rule then skips; the query goes on down the\n"
	  "chain to be judged like any other packet.",
	  "-p udp --dport 53 -m mark ! --mark {DNSQM}/{DNSQM} -j NFQUEUE --queue-num {DNSQ} --queue-bypass",
	  "udp dport 53 meta mark & {DNSQM} == 0 queue num {DNSQ} bypass" },
	{ FW_IN, FW_ALWAYS,
	  "DNS replies go to the dns queue before anything else: also over\n"
	  "loopback (a local stub resolver answers there) and for authorized\n"
	  "flows (that is where the answers are).  Only the reply direction of\n"
	  "a flow this host began: a datagram from port 53 that starts a flow\n"
	  "is an inbound flow like any other.  Always with bypass: reading\n"
	  "names must never stop name resolution.  The daemon answers at once\n"
	  "with NF_REPEAT and mark | INJECTED, which this rule then skips.",
	  "-p udp --sport 53 -m conntrack --ctstate ESTABLISHED --ctdir REPLY -m mark ! --mark {INJ}/{INJ} -j NFQUEUE --queue-num {DNSQ} --queue-bypass",
	  "udp sport 53 ct state established ct direction reply meta mark & {INJ} == 0 queue num {DNSQ} bypass" },
	{ FW_OUT | FW_IN, FW_UNLESS_LOOPBACK,
	  "Loopback traffic never leaves the host: not intercepted unless\n"
	  "intercept_loopback is set.",
	  "{LO} -j RETURN",
	  "{LO} return" },
	{ FW_IN, FW_ALWAYS,
	  "A SYN without ACK that conntrack finds invalid (SYN with FIN or RST)\n"
	  "starts no connection a listener accepts, but a socket whose own SYN\n"
	  "is held here takes it for a simultaneous open and connects: drop it.",
	  "-p tcp --tcp-flags SYN,ACK SYN -m conntrack --ctstate INVALID -j DROP",
	  "tcp flags & (syn | ack) == syn ct state invalid drop" },
	{ FW_IN, FW_UNLESS_INBOUND,
	  "Inbound flows are not intercepted, but a SYN to a socket that is\n"
	  "connecting (a socket lookup finds one bound to this address, not a\n"
	  "wildcard listener) would complete a connect the daemon holds or\n"
	  "blocked: the daemon drops it then and passes it otherwise\n"
	  "(NF_REPEAT, mark | INJECTED).  Listeners bound to one address pay\n"
	  "the same round trip.",
	  "-p tcp --syn -m conntrack --ctstate NEW -m socket -m mark ! --mark {INJ}/{INJ} -j NFQUEUE --queue-num {Q}{BYPASS}",
	  "tcp flags & (fin | syn | rst | ack) == syn ct state new socket wildcard 0 meta mark & {INJ} == 0 queue num {Q}{BYPASS}" },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "The fast path: the flow is authorized (its connmark has AUTH), so\n"
	  "no packet of it reaches user space again.",
	  "-m connmark --mark {AUTH}/{AUTH} -j RETURN",
	  "ct mark & {AUTH} == {AUTH} return" },
	{ FW_OUT, FW_IF_UDP_BPF,
	  "The fast path allowed this UDP destination for this socket in the\n"
	  "kernel (lib/linux/fastpath): mark it AUTH, so the next rule saves it\n"
	  "and the flow never reaches the queue.  nftables has no such match:\n"
	  "there the first datagram is queued and the engine allows it at once.",
	  "-p udp -m bpf --object-pinned {UDPBPF} -j MARK --or-mark {AUTHFAST}",
	  NULL },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "The flow's first packet, authorized: by the fast path in the kernel\n"
	  "(mark AUTH | FAST), or by the daemon (NF_REPEAT, mark | AUTH: it is\n"
	  "back at the top of the hook).  Save AUTH and FAST, and only those,\n"
	  "into the connmark, so the rule above catches the rest of the flow\n"
	  "and, with FAST, the end of a flow the daemon never saw begin is not\n"
	  "reported to it either; let it go.  One save and one return: the\n"
	  "fast path's first packet costs two rules here, not three.",
	  "-m mark --mark {AUTH}/{AUTH} -j CONNMARK --save-mark --nfmask {AUTHFAST} --ctmask {AUTHFAST}\n"
	  "-m mark --mark {AUTH}/{AUTH} -j RETURN",
	  "meta mark & {AUTHFAST} == {AUTHFAST} ct mark set ct mark | {AUTHFAST} return\n"
	  "meta mark & {AUTH} == {AUTH} ct mark set ct mark | {AUTH} return" },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "The daemon let this packet through once without authorizing its\n"
	  "flow (NF_REPEAT, mark | INJECTED): queueing it again would loop.",
	  "-m mark --mark {INJ}/{INJ} -j RETURN",
	  "meta mark & {INJ} == {INJ} return" },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "No connection to authorize: INVALID packets belong to no flow and\n"
	  "UNTRACKED ones (IPv6 neighbour discovery, NOTRACK rules) are outside\n"
	  "conntrack on purpose.  Neither can carry a connmark, so queueing them\n"
	  "would ask again for every packet.",
	  "-m conntrack --ctstate INVALID,UNTRACKED -j RETURN",
	  "ct state invalid,untracked return" },
	{ FW_OUT, FW_ALWAYS,
	  "A new MPTCP subflow: the kernel sends the SYN of a connection's\n"
	  "additional subflow (MP_JOIN, towards any address the peer announced)\n"
	  "from a socket of its own, before that socket joins the application's,\n"
	  "so the next rule would take it for the kernel's.  Queued like any new\n"
	  "connection: the daemon names the owner of the MPTCP connection and\n"
	  "judges where the subflow goes.",
	  "-p tcp --syn --tcp-option 30 -j NFQUEUE --queue-num {Q}{BYPASS}",
	  "tcp flags & (fin | syn | rst | ack) == syn tcp option mptcp exists queue num {Q}{BYPASS}" },
	{ FW_OUT, FW_ALWAYS,
	  "Sent by no process: the kernel's own packets (IGMP and MLD reports,\n"
	  "resets, ICMP errors) or a kernel socket's.  ALE authorizes\n"
	  "applications, and there is none to ask about.",
	  "-m owner ! --uid-owner 0-4294967294 -j RETURN",
	  NULL },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "A new TCP connection: its SYN (without ACK) is the packet ALE pends.",
	  "-p tcp --syn -j NFQUEUE --queue-num {Q}{BYPASS}",
	  "{SK}tcp flags & (fin | syn | rst | ack) == syn queue num {Q}{BYPASS}" },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "Any other TCP packet belongs to a connection that exists: its SYN\n"
	  "was queued, or it is the reply direction, or it was open before\n"
	  "alegate started (left alone).",
	  "-p tcp -j RETURN",
	  "meta l4proto tcp return" },
	{ FW_OUT | FW_IN, FW_IF_INBOUND,
	  "The first packet of any other flow (UDP, ICMP echo, ...) is NEW to\n"
	  "conntrack.  Replies and ICMP errors are ESTABLISHED or RELATED,\n"
	  "never NEW, so the reply direction is not queued.",
	  "-m conntrack --ctstate NEW -j NFQUEUE --queue-num {Q}{BYPASS}",
	  "{SK}ct state new queue num {Q}{BYPASS}" },
};

/* An output buffer that remembers it overflowed. */
struct fw_out {
	char *buf;
	size_t len, off;
	bool overflow;
};

static void fw_put(struct fw_out *o, const char *s, size_t n)
{
	if (o->overflow || o->off + n >= o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->off, s, n);
	o->off += n;
	o->buf[o->off] = '\0';
}

static void fw_puts(struct fw_out *o, const char *s)
{
	fw_put(o, s, strlen(s));
}

static void fw_printf(struct fw_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fw_printf(struct fw_out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		o->overflow = true;
		return;
	}
	fw_put(o, tmp, (size_t)n);
}

/* The values of the placeholders for one chain. */
struct fw_vars {
	const char *lo;
	unsigned queue, dns_queue;
	const char *bypass;
	const char *sk;
	const char *udp_bpf;
};

static void fw_expand(struct fw_out *o, const char *tpl, const struct fw_vars *v)
{
	while (*tpl) {
		const char *open = strchr(tpl, '{'), *close;

		if (!open) {
			fw_puts(o, tpl);
			return;
		}
		fw_put(o, tpl, (size_t)(open - tpl));
		close = strchr(open, '}');
		if (!close) {	/* a typo in fw_rules[]; the unit test sees it */
			o->overflow = true;
			return;
		}
#define KEY(k) ((size_t)(close - open - 1) == strlen(k) && !strncmp(open + 1, k, strlen(k)))
		if (KEY("LO"))
			fw_puts(o, v->lo);
		else if (KEY("Q"))
			fw_printf(o, "%u", v->queue);
		else if (KEY("DNSQ"))
			fw_printf(o, "%u", v->dns_queue);
		else if (KEY("BYPASS"))
			fw_puts(o, v->bypass);
		else if (KEY("AUTH"))
			fw_printf(o, "0x%x", AG_FW_MARK_AUTH);
		else if (KEY("FAST"))
			fw_printf(o, "0x%x", AG_FW_MARK_FAST);
		else if (KEY("AUTHFAST"))
			fw_printf(o, "0x%x", AG_FW_MARK_AUTH | AG_FW_MARK_FAST);
		else if (KEY("INJ"))
			fw_printf(o, "0x%x", AG_FW_MARK_INJECTED);
		else if (KEY("DNSQM"))
			fw_printf(o, "0x%x", AG_FW_MARK_DNSQ);
		else if (KEY("SK"))
			fw_puts(o, v->sk);
		else if (KEY("UDPBPF"))
			fw_puts(o, v->udp_bpf);
		else
			o->overflow = true;
#undef KEY
		tpl = close + 1;
	}
}

/* The reason, one "# " line per line, under the given indent. */
static void fw_comment(struct fw_out *o, const char *indent, const char *why)
{
	while (*why) {
		const char *nl = strchr(why, '\n');
		size_t n = nl ? (size_t)(nl - why) : strlen(why);

		fw_puts(o, indent);
		fw_puts(o, "# ");
		fw_put(o, why, n);
		fw_puts(o, "\n");
		why += n + (nl ? 1 : 0);
	}
}

static bool fw_rule_wanted(const struct ag_fw_config *cfg, const struct fw_rule *r,
			   unsigned chain)
{
	if (!(r->chains & chain))
		return false;
	if ((r->when & FW_UNLESS_LOOPBACK) && cfg->intercept_loopback)
		return false;
	if ((r->when & FW_IF_INBOUND) && chain == FW_IN && !cfg->intercept_inbound)
		return false;
	if ((r->when & FW_UNLESS_INBOUND) && cfg->intercept_inbound)
		return false;
	if ((r->when & FW_IF_UDP_BPF) && !cfg->udp_bpf_pin[0])
		return false;
	return true;
}

static void fw_header(struct fw_out *o, const struct ag_fw_config *cfg,
		      const char *what)
{
	fw_printf(o, "# alegate firewall rules: %s\n", what);
	fw_printf(o, "# queues: connect %u, recv_accept %u, dns %u; fail mode %s (%s)\n",
		  cfg->queue_base + AG_FW_Q_CONNECT,
		  cfg->queue_base + AG_FW_Q_RECV_ACCEPT,
		  cfg->queue_base + AG_FW_Q_DNS,
		  cfg->fail_mode == AG_FW_FAIL_OPEN ? "open" : "closed",
		  cfg->fail_mode == AG_FW_FAIL_OPEN ?
			  "queue bypass: no daemon, no questions" :
			  "no bypass: no daemon, no new flows");
	fw_printf(o, "# loopback %s; inbound %s\n",
		  cfg->intercept_loopback ? "intercepted" : "not intercepted",
		  cfg->intercept_inbound ? "intercepted" : "not intercepted");
	fw_printf(o, "# marks: AUTH 0x%x and FAST 0x%x (saved to the connmark), "
		  "INJECTED 0x%x, DNSQ 0x%x\n", AG_FW_MARK_AUTH, AG_FW_MARK_FAST,
		  AG_FW_MARK_INJECTED, AG_FW_MARK_DNSQ);
}

/* Every line of an expanded template, each after prefix: "-A CHAIN " for
 * iptables, the chain's indent for nft. */
static void fw_lines(struct fw_out *o, const char *prefix, const char *tpl,
		     const struct fw_vars *v)
{
	char line[512];
	struct fw_out lo = { line, sizeof(line), 0, false };
	const char *p;

	fw_expand(&lo, tpl, v);
	if (lo.overflow) {
		o->overflow = true;
		return;
	}
	for (p = line; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		fw_puts(o, prefix);
		fw_put(o, p, n);
		fw_puts(o, "\n");
		p += n + (nl ? 1 : 0);
	}
}

static void fw_ipt_rule(struct fw_out *o, const char *chain, const char *tpl,
			const struct fw_vars *v)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "-A %s ", chain);
	fw_lines(o, prefix, tpl, v);
}

static void fw_vars_for(const struct ag_fw_config *cfg, unsigned chain, bool nft,
			struct fw_vars *v)
{
	bool open = cfg->fail_mode == AG_FW_FAIL_OPEN;

	v->dns_queue = cfg->queue_base + AG_FW_Q_DNS;
	v->udp_bpf = cfg->udp_bpf_pin;
	if (chain == FW_OUT) {
		v->lo = nft ? "oifname \"lo\"" : "-o lo";
		v->queue = cfg->queue_base + AG_FW_Q_CONNECT;
		v->sk = nft ? "meta skuid 0-4294967294 " : "";
	} else {
		v->lo = nft ? "iifname \"lo\"" : "-i lo";
		v->queue = cfg->queue_base + AG_FW_Q_RECV_ACCEPT;
		v->sk = "";
	}
	if (nft)
		v->bypass = open ? " bypass" : "";
	else
		v->bypass = open ? " --queue-bypass" : "";
}

int ag__fw_check_config(const struct ag_fw_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	if ((unsigned)cfg->queue_base + AG_FW_NQUEUES - 1 > UINT16_MAX)
		return -EINVAL;
	if (cfg->fail_mode != AG_FW_FAIL_CLOSED && cfg->fail_mode != AG_FW_FAIL_OPEN)
		return -EINVAL;
	/* the pin path goes into iptables-restore input: no spaces, no quotes */
	if (strpbrk(cfg->udp_bpf_pin, " \t\n\"'\\"))
		return -EINVAL;
	if (cfg->backend != AG_FW_BACKEND_AUTO &&
	    cfg->backend != AG_FW_BACKEND_NFTABLES &&
	    cfg->backend != AG_FW_BACKEND_IPTABLES)
		return -EINVAL;
	return 0;
}

int ag__fw_render_ipt(const struct ag_fw_config *cfg, int family,
		      const char *pre, char *buf, size_t len)
{
	static const struct {
		unsigned chain;
		const char *name, *hook;
	} chains[] = {
		{ FW_OUT, AG_FW_IPT_CHAIN_OUT, "OUTPUT" },
		{ FW_IN, AG_FW_IPT_CHAIN_IN, "INPUT" },
	};
	struct fw_out o = { buf, len, 0, false };
	size_t c, i;

	if (ag__fw_check_config(cfg) || (family != AF_INET && family != AF_INET6) ||
	    !buf)
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	fw_header(&o, cfg, family == AF_INET ? "iptables-restore --noflush, IPv4" :
			   "ip6tables-restore --noflush, IPv6");
	fw_puts(&o, "*mangle\n");
	for (c = 0; c < sizeof(chains) / sizeof(chains[0]); c++)
		fw_printf(&o, ":%s - [0:0]\n", chains[c].name);
	if (pre)
		fw_puts(&o, pre);
	fw_puts(&o, "# First in the table: an ACCEPT before our jump would skip us.\n");
	for (c = 0; c < sizeof(chains) / sizeof(chains[0]); c++)
		fw_printf(&o, "-I %s 1 -j %s\n", chains[c].hook, chains[c].name);
	for (c = 0; c < sizeof(chains) / sizeof(chains[0]); c++) {
		struct fw_vars v;

		fw_vars_for(cfg, chains[c].chain, false, &v);
		for (i = 0; i < sizeof(fw_rules) / sizeof(fw_rules[0]); i++) {
			const struct fw_rule *r = &fw_rules[i];

			if (!r->ipt || !fw_rule_wanted(cfg, r, chains[c].chain))
				continue;
			fw_comment(&o, "", r->why);
			fw_ipt_rule(&o, chains[c].name, r->ipt, &v);
		}
	}
	fw_puts(&o, "COMMIT\n");
	return o.overflow ? -ENOSPC : (int)o.off;
}

static int fw_render_nft(const struct ag_fw_config *cfg, char *buf, size_t len)
{
	static const struct {
		unsigned chain;
		const char *name, *hook;
	} chains[] = {
		{ FW_OUT, "output", "output" },
		{ FW_IN, "input", "input" },
	};
	struct fw_out o = { buf, len, 0, false };
	size_t c, i;

	if (len)
		buf[0] = '\0';
	fw_header(&o, cfg, "nft -f");
	fw_puts(&o, "# Create-then-delete removes an older instance in the same\n"
		    "# transaction, and works when there is none.\n");
	fw_puts(&o, "table inet " AG_FW_NFT_TABLE "\n");
	fw_puts(&o, "delete table inet " AG_FW_NFT_TABLE "\n");
	fw_puts(&o, "table inet " AG_FW_NFT_TABLE " {\n");
	for (c = 0; c < sizeof(chains) / sizeof(chains[0]); c++) {
		struct fw_vars v;

		fw_vars_for(cfg, chains[c].chain, true, &v);
		if (c)
			fw_puts(&o, "\n");
		fw_printf(&o, "\tchain %s {\n", chains[c].name);
		fw_printf(&o, "\t\ttype filter hook %s priority mangle; policy accept;\n",
			  chains[c].hook);
		for (i = 0; i < sizeof(fw_rules) / sizeof(fw_rules[0]); i++) {
			const struct fw_rule *r = &fw_rules[i];

			if (!r->nft || !fw_rule_wanted(cfg, r, chains[c].chain))
				continue;
			fw_comment(&o, "\t\t", r->why);
			fw_lines(&o, "\t\t", r->nft, &v);
		}
		fw_puts(&o, "\t}\n");
	}
	fw_puts(&o, "}\n");
	return o.overflow ? -ENOSPC : (int)o.off;
}

int ag_fw_render(const struct ag_fw_config *cfg, enum ag_fw_backend backend,
		 int family, char *buf, size_t len)
{
	if (ag__fw_check_config(cfg) || !buf)
		return -EINVAL;
	switch (backend) {
	case AG_FW_BACKEND_NFTABLES:
		return fw_render_nft(cfg, buf, len);
	case AG_FW_BACKEND_IPTABLES:
		return ag__fw_render_ipt(cfg, family, NULL, buf, len);
	default:
		return -EINVAL;
	}
}

/*
 * The fast path's TCP flows outside connection tracking (docs/FASTPATH.md,
 * section 6d): a table of its own, in nft syntax whatever the backend (the
 * rules need no queue, and every kernel with nf_tables has `notrack` and
 * `socket mark`), so that it can come and go without touching the queue
 * rules.  The daemon loads it only while no other firewall rule is in the
 * network namespace: an untracked packet is neither ESTABLISHED to another
 * firewall's rules nor seen by NAT.
 */
static const char fw_notrack_why_out[] =
	"Loopback: both ends are ours, and the server's end carries no FAST\n"
	"mark: untracking one half of a connection would leave conntrack a\n"
	"half-seen flow.\n";
static const char fw_notrack_why_out_fast[] =
	"A TCP socket the fast path allowed in the kernel carries AUTH | FAST\n"
	"in its SO_MARK before its SYN leaves: the engine has no flow for it,\n"
	"alegate's chains let it go at once, and nothing else here needs its\n"
	"state.  Tracking it would cost an entry, its hashing and its timer.\n";
static const char fw_notrack_why_in_fast[] =
	"The other direction of such a connection: found by its socket's\n"
	"mark (the lookup the input path would do next), before conntrack\n"
	"would take the reply for the start of a flow it never saw.\n";

int ag_fw_render_notrack(char *buf, size_t len)
{
	struct fw_out o = { buf, len, 0, false };

	if (!buf)
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	fw_puts(&o, "# alegate: the fast path's TCP flows outside conntrack: nft -f\n");
	fw_puts(&o, "table inet " AG_FW_NFT_NOTRACK_TABLE "\n");
	fw_puts(&o, "delete table inet " AG_FW_NFT_NOTRACK_TABLE "\n");
	fw_puts(&o, "table inet " AG_FW_NFT_NOTRACK_TABLE " {\n");
	fw_puts(&o, "\tchain output {\n"
		    "\t\ttype filter hook output priority raw; policy accept;\n");
	fw_comment(&o, "\t\t", fw_notrack_why_out);
	fw_puts(&o, "\t\toifname \"lo\" return\n");
	fw_comment(&o, "\t\t", fw_notrack_why_out_fast);
	fw_printf(&o, "\t\tmeta l4proto tcp meta mark & 0x%x == 0x%x notrack\n",
		  AG_FW_MARK_AUTH | AG_FW_MARK_FAST, AG_FW_MARK_AUTH | AG_FW_MARK_FAST);
	fw_puts(&o, "\t}\n\n\tchain prerouting {\n"
		    "\t\ttype filter hook prerouting priority raw; policy accept;\n");
	fw_puts(&o, "\t\tiifname \"lo\" return\n");
	fw_comment(&o, "\t\t", fw_notrack_why_in_fast);
	fw_printf(&o, "\t\tmeta l4proto tcp socket mark & 0x%x == 0x%x notrack\n",
		  AG_FW_MARK_AUTH | AG_FW_MARK_FAST, AG_FW_MARK_AUTH | AG_FW_MARK_FAST);
	fw_puts(&o, "\t}\n}\n");
	return o.overflow ? -ENOSPC : (int)o.off;
}

static const char *const fw_backend_names[] = {
	[AG_FW_BACKEND_AUTO] = "auto",
	[AG_FW_BACKEND_NFTABLES] = "nftables",
	[AG_FW_BACKEND_IPTABLES] = "iptables",
};

const char *ag_fw_backend_name(enum ag_fw_backend b)
{
	if ((unsigned)b >= sizeof(fw_backend_names) / sizeof(fw_backend_names[0]))
		return "?";
	return fw_backend_names[b];
}

int ag_fw_backend_parse(const char *name, enum ag_fw_backend *out)
{
	unsigned i;

	for (i = 0; name && i < sizeof(fw_backend_names) / sizeof(fw_backend_names[0]); i++) {
		if (!strcmp(name, fw_backend_names[i])) {
			*out = (enum ag_fw_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}
