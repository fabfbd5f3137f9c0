/*
 * packet.c — IPv4/IPv6 + TCP/UDP/ICMP header parsing and address text.
 *
 * Every read goes through need(), which checks a header against two limits
 * in a fixed order: the IP length the packet claims (past it the packet is
 * lying: -EBADMSG) and then the captured length (past it the capture is too
 * short: -EMSGSIZE).  Checking the claim first means the answer for a bad
 * packet does not depend on how much of it the data plane happened to copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/packet.h"

#define IPV4_MIN_HDR 20
#define IPV6_HDR 40
#define TCP_MIN_HDR 20
#define UDP_HDR 8
#define SCTP_HDR 12
#define ICMP_HDR 8
#define V6_EXT_MIN 8

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Can [off, off + n) be read?  end: claimed IP end; caplen: bytes present. */
static int need(size_t end, size_t caplen, size_t off, size_t n)
{
	if (off + n > end)
		return -EBADMSG;
	if (off + n > caplen)
		return -EMSGSIZE;
	return 0;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The header chain ended at off with a header that cannot be read. */
static int stop_at(size_t caplen, size_t tot, size_t off, uint8_t proto,
		   struct ag_pkt_info *out)
{
	out->protocol = proto;
	out->l4_offset = (uint32_t)off;
	out->flags |= AG_PKT_NO_L4;
	out->payload_offset = (uint32_t)off;
	out->payload_total = (uint32_t)(tot - off);
	out->payload_len = (uint32_t)(min_sz(caplen, tot) - off);
	return 0;
}

/*
 * Transport header at off.  end is the claimed end of the IP packet.
 * first_frag: the packet is the first fragment of a larger datagram, so a
 * UDP length beyond this packet is expected rather than a lie.
 */
static int parse_l4(const uint8_t *buf, size_t caplen, size_t end, size_t off,
		    int first_frag, struct ag_pkt_info *out)
{
	const uint8_t *h = buf + off;
	size_t data_end = end, hlen;
	int err;

	out->l4_offset = (uint32_t)off;
	switch (out->protocol) {
	case AG_IPPROTO_TCP:
		if ((err = need(end, caplen, off, TCP_MIN_HDR)))
			return err;
		hlen = (size_t)(h[12] >> 4) * 4;
		if (hlen < TCP_MIN_HDR)
			return -EBADMSG;
		if ((err = need(end, caplen, off, hlen)))
			return err;
		out->sport = rd16(h);
		out->dport = rd16(h + 2);
		out->tcp_flags = h[13];
		break;
	case AG_IPPROTO_UDP:
	case AG_IPPROTO_UDPLITE: {
		size_t ulen;

		if ((err = need(end, caplen, off, UDP_HDR)))
			return err;
		hlen = UDP_HDR;
		ulen = rd16(h + 4);
		/*
		 * UDP-Lite puts its checksum coverage where UDP has the
		 * length; the datagram then ends with the IP packet.
		 */
		if (out->protocol == AG_IPPROTO_UDP) {
			if (ulen < UDP_HDR)
				return -EBADMSG;
			/*
			 * Shorter than the IP payload is legal (the kernel
			 * trims the rest); longer is a lie unless only the
			 * first fragment is here.
			 */
			if (!first_frag) {
				if (ulen > end - off)
					return -EBADMSG;
				data_end = off + ulen;
			}
		}
		out->sport = rd16(h);
		out->dport = rd16(h + 2);
		break;
	}
	case AG_IPPROTO_SCTP:
		if ((err = need(end, caplen, off, SCTP_HDR)))
			return err;
		hlen = SCTP_HDR;
		out->sport = rd16(h);
		out->dport = rd16(h + 2);
		break;
	case AG_IPPROTO_ICMP:
	case AG_IPPROTO_ICMPV6: {
		int is_v6 = out->protocol == AG_IPPROTO_ICMPV6;

		/* ICMP in IPv6 or ICMPv6 in IPv4 means nothing: no L4. */
		if (is_v6 != (out->ip_version == 6))
			goto no_l4;
		if ((err = need(end, caplen, off, ICMP_HDR)))
			return err;
		hlen = ICMP_HDR;
		out->icmp_type = h[0];
		out->icmp_code = h[1];
		if ((!is_v6 && (h[0] == ICMP_ECHO || h[0] == ICMP_ECHOREPLY)) ||
		    (is_v6 && (h[0] == ICMPV6_ECHO_REQUEST ||
			       h[0] == ICMPV6_ECHO_REPLY))) {
			out->flags |= AG_PKT_ICMP_ECHO;
			out->sport = rd16(h + 4);
		}
		break;
	}
	default:
		goto no_l4;
	}
	out->payload_offset = (uint32_t)(off + hlen);
	out->payload_total = (uint32_t)(data_end - (off + hlen));
	out->payload_len = (uint32_t)(min_sz(caplen, data_end) - (off + hlen));
	return 0;

no_l4:
	return stop_at(caplen, end, off, out->protocol, out);
}

static int parse_v4(const uint8_t *buf, size_t caplen, struct ag_pkt_info *out)
{
	size_t ihl, tot;
	unsigned frag;

	if (caplen < IPV4_MIN_HDR)
		return -EMSGSIZE;
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	tot = rd16(buf + 2);
	if (ihl < IPV4_MIN_HDR || tot < ihl)
		return -EBADMSG;
	if (caplen < ihl)
		return -EMSGSIZE;
	out->ip_version = 4;
	out->ip_total_len = (uint32_t)tot;
	out->protocol = buf[9];
	out->src = ag_addr_make(4, buf + 12);
	out->dst = ag_addr_make(4, buf + 16);
	frag = rd16(buf + 6);
	out->frag_offset = (frag & 0x1fff) * 8;
	if (frag & 0x3fff)	/* MF or an offset */
		out->flags |= AG_PKT_FRAGMENT;
	/* Later fragments carry no transport header. */
	if (out->frag_offset)
		return stop_at(caplen, tot, ihl, out->protocol, out);
	return parse_l4(buf, caplen, tot, ihl, !!(frag & 0x2000), out);
}

static int parse_v6(const uint8_t *buf, size_t caplen, struct ag_pkt_info *out)
{
	size_t tot, off = IPV6_HDR, hlen;
	int more_frags = 0, err;
	uint8_t nh;

	if (caplen < IPV6_HDR)
		return -EMSGSIZE;
	tot = IPV6_HDR + (size_t)rd16(buf + 4);
	out->ip_version = 6;
	out->ip_total_len = (uint32_t)tot;
	out->src = ag_addr_make(6, buf + 8);
	out->dst = ag_addr_make(6, buf + 24);
	nh = buf[6];
	for (;;) {
		switch (nh) {
		case AG_IPPROTO_HOPOPTS:
			/* RFC 8200 4.1: only right after the IPv6 header. */
			if (out->n_exthdrs != 0)
				return -EBADMSG;
			/* fallthrough */
		case AG_IPPROTO_ROUTING:
		case AG_IPPROTO_DSTOPTS:
		case AG_IPPROTO_FRAGMENT:
		case AG_IPPROTO_AH:
			if (++out->n_exthdrs > AG_PKT_MAX_EXTHDRS)
				return -EBADMSG;
			/* Every extension header is at least 8 bytes. */
			if ((err = need(tot, caplen, off, V6_EXT_MIN)))
				return err;
			break;
		case AG_IPPROTO_ESP:
		case AG_IPPROTO_NONE:
			return stop_at(caplen, tot, off, nh, out);
		default:
			out->protocol = nh;
			return parse_l4(buf, caplen, tot, off, more_frags, out);
		}
		if (nh == AG_IPPROTO_FRAGMENT) {
			unsigned fo = rd16(buf + off + 2);

			out->flags |= AG_PKT_FRAGMENT;
			out->frag_offset = fo & 0xfff8;
			more_frags = fo & 1;
			hlen = V6_EXT_MIN;
		} else if (nh == AG_IPPROTO_AH) {
			hlen = ((size_t)buf[off + 1] + 2) * 4;
		} else {
			hlen = ((size_t)buf[off + 1] + 1) * 8;
		}
		if ((err = need(tot, caplen, off, hlen)))
			return err;
		nh = buf[off];
		off += hlen;
		/* A later fragment: the rest of the chain is elsewhere. */
		if (out->frag_offset)
			return stop_at(caplen, tot, off, nh, out);
	}
}

int ag_pkt_parse(const uint8_t *buf, size_t caplen, struct ag_pkt_info *out)
{
	int err;

	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (caplen < 1)
		return -EMSGSIZE;
	switch (buf[0] >> 4) {
	case 4:
		err = parse_v4(buf, caplen, out);
		break;
	case 6:
		err = parse_v6(buf, caplen, out);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (err)
		return err;
	if (caplen < out->ip_total_len)
		out->flags |= AG_PKT_TRUNCATED;
	return 0;
}

/* ---- addresses ---------------------------------------------------------- */

static int fmt_v4(const uint8_t *b, char *p, size_t len)
{
	return snprintf(p, len, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
}

static void fmt_v6(const uint8_t *b, char *out)
{
	unsigned w[8];
	int best = -1, best_len = 0, run = -1, i;
	char *p = out;

	for (i = 0; i < 8; i++)
		w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
	/* The longest run of zero groups, the first one on a tie. */
	for (i = 0; i <= 8; i++) {
		if (i < 8 && w[i] == 0) {
			if (run < 0)
				run = i;
			continue;
		}
		if (run >= 0 && i - run > best_len) {
			best = run;
			best_len = i - run;
		}
		run = -1;
	}
	if (best_len < 2)
		best = -1;	/* RFC 5952 4.2.2: never "::" for one group */

	/* Embedded IPv4, as inet_ntop: ::a.b.c.d and ::ffff:a.b.c.d. */
	if (best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
		p += sprintf(p, best_len == 6 ? "::" : "::ffff:");
		fmt_v4(b + 12, p, AG_ADDR_STRLEN - (size_t)(p - out));
		return;
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			p += sprintf(p, "::");
			i += best_len - 1;
			continue;
		}
		p += sprintf(p, "%s%x", (i == 0 || i == best + best_len) ? "" : ":",
			     w[i]);
	}
	*p = '\0';
}

int ag_addr_format(int ver, const uint8_t *bytes, char *buf, size_t len)
{
	char tmp[AG_ADDR_STRLEN];
	size_t n;

	if (!bytes || !buf)
		return -EINVAL;
	if (ver == 4)
		fmt_v4(bytes, tmp, sizeof(tmp));
	else if (ver == 6)
		fmt_v6(bytes, tmp);
	else
		return -EINVAL;
	n = strlen(tmp);
	if (n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, tmp, n + 1);
	return 0;
}

/* Parse "a.b.c.d" from s up to stop (exclusive); strict decimal. */
static int parse_v4_text(const char *s, const char *stop, uint8_t *out)
{
	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		int digits = 0;

		if (part > 0) {
			if (s >= stop || *s != '.')
				return -EINVAL;
			s++;
		}
		while (s < stop && *s >= '0' && *s <= '9') {
			/* A leading zero reads as octal to some parsers. */
			if (digits == 1 && v == 0)
				return -EINVAL;
			v = v * 10 + (unsigned)(*s - '0');
			if (++digits > 3 || v > 255)
				return -EINVAL;
			s++;
		}
		if (digits == 0)
			return -EINVAL;
		out[part] = (uint8_t)v;
	}
	return s == stop ? 0 : -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_v6_text(const char *s, const char *stop, uint8_t *out)
{
	uint16_t w[8];
	int n = 0, gap = -1;
	const char *p = s;

	if (p < stop && *p == ':') {
		if (p + 1 >= stop || p[1] != ':')
			return -EINVAL;
		gap = 0;
		p += 2;
		if (p == stop)
			goto expand;
	}
	for (;;) {
		const char *q = p;
		unsigned v = 0;

		while (q < stop && hexval(*q) >= 0)
			q++;
		if (q < stop && *q == '.') {
			/* A trailing dotted quad fills the last two groups. */
			uint8_t v4[4];

			if (n > 6 || parse_v4_text(p, stop, v4))
				return -EINVAL;
			w[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
			w[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
			break;
		}
		if (q == p || q - p > 4 || n == 8)
			return -EINVAL;
		for (; p < q; p++)
			v = v << 4 | (unsigned)hexval(*p);
		w[n++] = (uint16_t)v;
		if (p == stop)
			break;
		if (*p != ':')
			return -EINVAL;
		p++;
		if (p < stop && *p == ':') {
			if (gap >= 0)
				return -EINVAL;
			gap = n;
			p++;
			if (p == stop)
				break;
		}
	}
expand:
	if (gap < 0 ? n != 8 : n > 7)
		return -EINVAL;
	memset(out, 0, AG_ADDR_LEN);
	for (int i = 0; i < n; i++) {
		/* Groups after the gap go to the end of the address. */
		int at = (gap >= 0 && i >= gap) ? i + 8 - n : i;

		out[2 * at] = (uint8_t)(w[i] >> 8);
		out[2 * at + 1] = (uint8_t)w[i];
	}
	return 0;
}

/* Parse [s, stop) as an address of either version. */
static int parse_addr_range(const char *s, const char *stop, int *ver,
			    uint8_t *bytes)
{
	uint8_t tmp[AG_ADDR_LEN] = { 0 };

	if (memchr(s, ':', (size_t)(stop - s))) {
		if (parse_v6_text(s, stop, tmp))
			return -EINVAL;
		*ver = 6;
	} else {
		if (parse_v4_text(s, stop, tmp))
			return -EINVAL;
		*ver = 4;
	}
	memcpy(bytes, tmp, AG_ADDR_LEN);
	return 0;
}

int ag_addr_parse(const char *str, int *ver, uint8_t *bytes)
{
	if (!str || !ver || !bytes)
		return -EINVAL;
	return parse_addr_range(str, str + strlen(str), ver, bytes);
}

int ag_prefix_parse(const char *str, int *ver, uint8_t *bytes, unsigned *plen)
{
	const char *slash, *end;
	uint8_t tmp[AG_ADDR_LEN];
	unsigned len = 0, max;
	int v;

	if (!str || !ver || !bytes || !plen)
		return -EINVAL;
	end = str + strlen(str);
	slash = strchr(str, '/');
	if (parse_addr_range(str, slash ? slash : end, &v, tmp))
		return -EINVAL;
	max = v == 4 ? 32 : 128;
	if (!slash) {
		len = max;
	} else {
		const char *p = slash + 1;

		if (p == end || (p[0] == '0' && p + 1 != end))
			return -EINVAL;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			len = len * 10 + (unsigned)(*p - '0');
			if (len > max)
				return -EINVAL;
		}
	}
	for (unsigned bit = len; bit < max; bit++)
		tmp[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	*ver = v;
	*plen = len;
	memcpy(bytes, tmp, AG_ADDR_LEN);
	return 0;
}

int ag_addr_in_prefix(int ver, const uint8_t *addr, int pfx_ver,
		      const uint8_t *pfx, unsigned plen)
{
	unsigned max = ver == 4 ? 32 : 128, full, rest;

	if (!addr || !pfx || ver != pfx_ver || (ver != 4 && ver != 6))
		return 0;
	if (plen > max)
		plen = max;
	full = plen / 8;
	rest = plen % 8;
	if (memcmp(addr, pfx, full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		return (addr[full] & mask) == (pfx[full] & mask);
	}
	return 1;
}
