/*
 * dns.c — DNS reply parsing (RFC 1035 message format, RFC 2181 TTL rule).
 *
 * Names are compared in wire form, lower-cased (length-prefixed labels
 * ending in the zero label), never as text: a label may legally hold a
 * '.', so two different names can have the same text.
 *
 * Compression pointers must point strictly before the start of the run of
 * labels that holds them.  Every encoder only points back at names it has
 * already written, so real messages pass, and each jump lands lower than
 * the last: a name can jump at most as often as there are bytes before it,
 * so there is no loop to detect.
 */
#include <errno.h>
#include <string.h>

#include "net/dns.h"

#define DNS_HDR 12
#define RR_FIXED 10		/* type, class, ttl, rdlength after the owner */
#define QR_BIT 0x8000
#define TC_BIT 0x0200
/* CNAME records remembered from the answer section to build the chain. */
#define MAX_CNAME_RRS 16

struct wire_name {
	uint8_t len;		/* bytes used in b, including the zero label */
	uint8_t b[AG_DNS_WIRE_NAME_MAX];
};

struct rr {
	size_t owner_off;	/* where the owner name starts */
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata_off, rdlen;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * Read the name at *off into out (may be NULL to only check it) and move
 * *off past the bytes the name occupies in place.
 */
static int read_name(const uint8_t *msg, size_t len, size_t *off,
		     struct wire_name *out)
{
	size_t pos = *off, seg = *off, after = 0, n = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EMSGSIZE;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return -EMSGSIZE;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (target < DNS_HDR || target >= seg)
				return -EBADMSG;
			if (!after)
				after = pos + 2;
			pos = seg = target;
			continue;
		}
		/* 0x40 and 0x80 are reserved label types: length > 63. */
		if (c & 0xc0)
			return -EBADMSG;
		if (n + 1 + c > AG_DNS_WIRE_NAME_MAX)
			return -EBADMSG;
		if (pos + 1 + c > len)
			return -EMSGSIZE;
		if (out) {
			out->b[n] = c;
			for (size_t i = 1; i <= c; i++)
				out->b[n + i] = lower(msg[pos + i]);
		}
		n += 1 + (size_t)c;
		pos += 1 + (size_t)c;
		if (c == 0)
			break;
	}
	if (out)
		out->len = (uint8_t)n;
	*off = after ? after : pos;
	return 0;
}

static int name_eq(const struct wire_name *a, const struct wire_name *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* Read one resource record at *off (the owner is checked, not copied). */
static int read_rr(const uint8_t *msg, size_t len, size_t *off, struct rr *rr)
{
	const uint8_t *f;
	int err;

	rr->owner_off = *off;
	if ((err = read_name(msg, len, off, NULL)))
		return err;
	if (len - *off < RR_FIXED)
		return -EMSGSIZE;
	f = msg + *off;
	rr->type = rd16(f);
	rr->class = rd16(f + 2);
	/* RFC 2181 8: a TTL with the top bit set is read as zero. */
	rr->ttl = rd32(f + 4) & 0x80000000u ? 0 : rd32(f + 4);
	rr->rdlen = rd16(f + 8);
	rr->rdata_off = *off + RR_FIXED;
	if (len - rr->rdata_off < rr->rdlen)
		return -EMSGSIZE;
	*off = rr->rdata_off + rr->rdlen;
	return 0;
}

/* The data of an IN record of a type we use must have its exact shape. */
static int check_rdata(const uint8_t *msg, size_t len, const struct rr *rr)
{
	size_t p = rr->rdata_off;
	int err;

	if (rr->class != AG_DNS_CLASS_IN)
		return 0;
	switch (rr->type) {
	case AG_DNS_TYPE_A:
		return rr->rdlen == 4 ? 0 : -EBADMSG;
	case AG_DNS_TYPE_AAAA:
		return rr->rdlen == 16 ? 0 : -EBADMSG;
	case AG_DNS_TYPE_CNAME:
		/* The name may not run past its record into the next one. */
		if ((err = read_name(msg, rr->rdata_off + rr->rdlen, &p, NULL)))
			return err == -EMSGSIZE ? -EBADMSG : err;
		return p == rr->rdata_off + rr->rdlen ? 0 : -EBADMSG;
	}
	return 0;
}

/* Wire name to text: lower case, no trailing dot, host-name bytes only. */
static int name_to_text(const struct wire_name *n, char *out)
{
	size_t i = 0, o = 0;

	while (n->b[i]) {
		size_t l = n->b[i++];

		if (o)
			out[o++] = '.';
		for (; l; l--, i++) {
			uint8_t c = n->b[i];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_'))
				return -EILSEQ;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return 0;
}

static void add_addr(struct ag_dns_reply *out, int ver, const uint8_t *a,
		     uint32_t ttl)
{
	size_t alen = ver == 4 ? 4 : 16;
	struct ag_dns_addr *d;

	for (unsigned i = 0; i < out->n_addrs; i++) {
		d = &out->addrs[i];
		if (d->ver == ver && memcmp(d->addr.b, a, alen) == 0) {
			/* The same address twice: keep the shorter promise. */
			if (ttl < d->ttl)
				d->ttl = ttl;
			return;
		}
	}
	if (out->n_addrs == AG_DNS_MAX_ADDRS) {
		out->n_dropped++;
		return;
	}
	d = &out->addrs[out->n_addrs++];
	memset(d, 0, sizeof(*d));
	d->ver = (uint8_t)ver;
	d->addr = ag_addr_make(ver, a);
	d->ttl = ttl;
}

/*
 * Follow the CNAME chain from chain[0] through the remembered CNAME records
 * (owner and data offsets).  chain_ttl[i] is the smallest TTL on the way
 * to chain[i]: the name only holds as long as every link does.
 */
static unsigned follow_chain(const uint8_t *msg, size_t len,
			     const struct rr *cn, unsigned n_cn,
			     struct wire_name *chain, uint32_t *chain_ttl)
{
	unsigned n = 1;

	chain_ttl[0] = UINT32_MAX;
	while (n <= AG_DNS_MAX_CHAIN) {
		struct wire_name owner, *next = &chain[n];
		unsigned i;

		for (i = 0; i < n_cn; i++) {
			size_t p = cn[i].owner_off;

			if (read_name(msg, len, &p, &owner) == 0 &&
			    name_eq(&owner, &chain[n - 1]))
				break;
		}
		if (i == n_cn)
			break;
		{
			size_t p = cn[i].rdata_off;

			if (read_name(msg, len, &p, next))
				break;
		}
		for (unsigned j = 0; j < n; j++)
			if (name_eq(next, &chain[j]))
				return n;	/* a loop: stop before it */
		chain_ttl[n] = cn[i].ttl < chain_ttl[n - 1] ? cn[i].ttl
							    : chain_ttl[n - 1];
		n++;
	}
	return n;
}

int ag_dns_parse(const uint8_t *buf, size_t len, struct ag_dns_reply *out)
{
	struct wire_name chain[AG_DNS_MAX_CHAIN + 1], owner;
	uint32_t chain_ttl[AG_DNS_MAX_CHAIN + 1];
	struct rr cn[MAX_CNAME_RRS], rr;
	unsigned qd, an, total, n_cn = 0, n_chain;
	size_t off = DNS_HDR, answers;
	uint16_t flags;
	int err;

	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < DNS_HDR)
		return -EMSGSIZE;
	out->id = rd16(buf);
	flags = rd16(buf + 2);
	qd = rd16(buf + 4);
	an = rd16(buf + 6);
	total = an + rd16(buf + 8) + rd16(buf + 10);
	if (!(flags & QR_BIT) || ((flags >> 11) & 0xf) != 0 || qd != 1)
		return -EPROTO;
	out->rcode = flags & 0xf;
	out->truncated = !!(flags & TC_BIT);

	if ((err = read_name(buf, len, &off, &chain[0])))
		return err;
	if (len - off < 4)
		return -EMSGSIZE;
	out->qtype = rd16(buf + off);
	out->qclass = rd16(buf + off + 2);
	off += 4;
	answers = off;

	/* Check every record the counts announce, remember the CNAMEs. */
	for (unsigned i = 0; i < total; i++) {
		if ((err = read_rr(buf, len, &off, &rr)))
			return err;
		if ((err = check_rdata(buf, len, &rr)))
			return err;
		if (i < an && rr.type == AG_DNS_TYPE_CNAME &&
		    rr.class == AG_DNS_CLASS_IN && n_cn < MAX_CNAME_RRS)
			cn[n_cn++] = rr;
	}
	if ((err = name_to_text(&chain[0], out->qname)))
		return err;

	n_chain = follow_chain(buf, len, cn, n_cn, chain, chain_ttl);
	out->n_chain = n_chain - 1;

	off = answers;
	for (unsigned i = 0; i < an; i++) {
		size_t p;
		unsigned j;

		if (read_rr(buf, len, &off, &rr))
			break;	/* cannot happen: checked above */
		if (rr.class != AG_DNS_CLASS_IN ||
		    (rr.type != AG_DNS_TYPE_A && rr.type != AG_DNS_TYPE_AAAA))
			continue;
		p = rr.owner_off;
		if (read_name(buf, len, &p, &owner))
			break;
		for (j = 0; j < n_chain; j++)
			if (name_eq(&owner, &chain[j]))
				break;
		if (j == n_chain)
			continue;	/* not about the question: ignore */
		add_addr(out, rr.type == AG_DNS_TYPE_A ? 4 : 6,
			 buf + rr.rdata_off,
			 rr.ttl < chain_ttl[j] ? rr.ttl : chain_ttl[j]);
	}
	return 0;
}

int ag_dns_parse_question(const uint8_t *buf, size_t len, struct ag_dns_question *out)
{
	struct wire_name name;
	size_t off = DNS_HDR;
	uint16_t flags;
	int err;

	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < DNS_HDR)
		return -EMSGSIZE;
	flags = rd16(buf + 2);
	if (((flags >> 11) & 0xf) != 0 || rd16(buf + 4) != 1)
		return -EPROTO;
	if ((err = read_name(buf, len, &off, &name)))
		return err;
	if (len - off < 4)
		return -EMSGSIZE;
	out->id = rd16(buf);
	out->qr = !!(flags & QR_BIT);
	out->qtype = rd16(buf + off);
	out->qclass = rd16(buf + off + 2);
	out->name_len = name.len;
	memcpy(out->name, name.b, name.len);
	return 0;
}
