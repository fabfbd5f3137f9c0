/*
 * test_dns.c — lib/net/dns: DNS reply parsing.  Messages are built byte by
 * byte with the small writer below (names, pointers and records are placed
 * by hand, so a test can put a pointer exactly where it wants one).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net/dns.h"

struct msg {
	uint8_t b[8192];
	size_t n;
};

static void put8(struct msg *m, unsigned v)
{
	if (m->n >= sizeof(m->b))
		abort();
	m->b[m->n++] = (uint8_t)v;
}

static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

/* Labels of a dotted name, without the root label; returns their offset. */
static size_t labels(struct msg *m, const char *text)
{
	size_t at = m->n;

	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		put8(m, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(m, (uint8_t)text[i]);
		text += l + (dot ? 1 : 0);
	}
	return at;
}

/* A whole uncompressed name; returns its offset. */
static size_t name(struct msg *m, const char *text)
{
	size_t at = labels(m, text);

	put8(m, 0);
	return at;
}

static void ptr(struct msg *m, size_t target)
{
	put16(m, 0xc000 | (unsigned)target);
}

#define QR 0x8000
#define RD_RA 0x0180

static void header(struct msg *m, unsigned flags, unsigned qd, unsigned an,
		   unsigned ns, unsigned ar)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* Header (QR, NOERROR) and question; the qname sits at offset 12. */
static void reply(struct msg *m, const char *qname, unsigned qtype,
		  unsigned an, unsigned ns, unsigned ar)
{
	header(m, QR | RD_RA, 1, an, ns, ar);
	name(m, qname);
	put16(m, qtype);
	put16(m, AG_DNS_CLASS_IN);
}

/* type, class, ttl after an owner name; returns where rdlength goes. */
static size_t rr_fixed(struct msg *m, unsigned type, unsigned class, uint32_t ttl)
{
	size_t rdlen_at;

	put16(m, type);
	put16(m, class);
	put32(m, ttl);
	rdlen_at = m->n;
	put16(m, 0);
	return rdlen_at;
}

static void rr_end(struct msg *m, size_t rdlen_at)
{
	size_t l = m->n - rdlen_at - 2;

	m->b[rdlen_at] = (uint8_t)(l >> 8);
	m->b[rdlen_at + 1] = (uint8_t)l;
}

static void rr_a(struct msg *m, uint32_t ttl, unsigned a, unsigned b,
		 unsigned c, unsigned d)
{
	size_t at = rr_fixed(m, AG_DNS_TYPE_A, AG_DNS_CLASS_IN, ttl);

	put8(m, a);
	put8(m, b);
	put8(m, c);
	put8(m, d);
	rr_end(m, at);
}

static int parse(const struct msg *m, struct ag_dns_reply *r)
{
	/* An exact-size heap copy: ASan catches any read past the end. */
	uint8_t *copy = malloc(m->n ? m->n : 1);
	int ret;

	if (!copy)
		abort();
	memset(copy, 0, 1);
	memcpy(copy, m->b, m->n);
	ret = ag_dns_parse(copy, m->n, r);
	free(copy);
	return ret;
}

static int has_v4(const struct ag_dns_reply *r, unsigned a, unsigned b,
		  unsigned c, unsigned d)
{
	const uint8_t want[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d };

	for (unsigned i = 0; i < r->n_addrs; i++)
		if (r->addrs[i].ver == 4 && memcmp(r->addrs[i].addr.b, want, 4) == 0)
			return 1;
	return 0;
}

/* ---- accepted shapes -------------------------------------------------- */

TEST(a_records_of_the_question_name_are_returned)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "WWW.Example.COM", AG_DNS_TYPE_A, 2, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	ptr(&m, 12);
	rr_a(&m, 60, 192, 0, 2, 2);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_STR(r.qname, "www.example.com");
	CHECK_EQ(r.id, 0x1234);
	CHECK_EQ(r.qtype, AG_DNS_TYPE_A);
	CHECK_EQ(r.rcode, AG_DNS_RCODE_NOERROR);
	CHECK_EQ(r.n_addrs, 2);
	CHECK_EQ(r.addrs[0].ver, 4);
	CHECK(has_v4(&r, 192, 0, 2, 1));
	CHECK(has_v4(&r, 192, 0, 2, 2));
	CHECK_EQ(r.addrs[0].ttl, 300);
	CHECK_EQ(r.addrs[1].ttl, 60);
}

TEST(aaaa_record_is_returned_as_v6)
{
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 };
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "v6.example.org", AG_DNS_TYPE_AAAA, 1, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_AAAA, AG_DNS_CLASS_IN, 120);
	for (int i = 0; i < 16; i++)
		put8(&m, a6[i]);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK_EQ(r.addrs[0].ver, 6);
	CHECK(memcmp(r.addrs[0].addr.b, a6, 16) == 0);
	CHECK_EQ(r.addrs[0].ttl, 120);
}

TEST(owner_spelled_out_in_other_case_matches_the_question)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	name(&m, "WwW.EXAMPLE.com");
	rr_a(&m, 30, 192, 0, 2, 7);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 7));
}

/* www.example.com CNAME cdn.example.net CNAME edge.example.net A ... */
TEST(cname_chain_from_the_question_is_followed)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at, cdn, edge;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 3, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 3600);
	cdn = name(&m, "cdn.example.net");
	rr_end(&m, at);
	ptr(&m, cdn);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 50);
	/* "edge" + pointer to "example.net" inside the previous name. */
	edge = labels(&m, "edge");
	ptr(&m, cdn + 4);
	rr_end(&m, at);
	ptr(&m, edge);
	rr_a(&m, 600, 192, 0, 2, 80);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_STR(r.qname, "www.example.com");
	CHECK_EQ(r.n_chain, 2);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 80));
	/* The binding holds only as long as the shortest link: 50 s. */
	CHECK_EQ(r.addrs[0].ttl, 50);
}

TEST(cname_chain_in_reverse_order_is_followed)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at, b, c;

	/* Records: c A, b CNAME c, www CNAME b — the order reversed. */
	reply(&m, "www.example.com", AG_DNS_TYPE_A, 3, 0, 0);
	c = name(&m, "c.example.com");
	rr_a(&m, 100, 192, 0, 2, 3);
	b = name(&m, "b.example.com");
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 100);
	ptr(&m, c);
	rr_end(&m, at);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 100);
	ptr(&m, b);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_chain, 2);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 3));
}

TEST(a_record_of_an_unrelated_owner_is_ignored)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 3, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	name(&m, "bank.example");
	rr_a(&m, 300, 192, 0, 2, 66);
	/* A suffix of the question is another name too. */
	ptr(&m, 12 + 4);
	rr_a(&m, 300, 192, 0, 2, 67);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 1));
	CHECK(!has_v4(&r, 192, 0, 2, 66));
	CHECK(!has_v4(&r, 192, 0, 2, 67));
}

TEST(cname_from_an_unrelated_owner_does_not_join_the_chain)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	/* other CNAME victim, victim A: neither owner is on the chain. */
	reply(&m, "www.example.com", AG_DNS_TYPE_A, 2, 0, 0);
	name(&m, "other.example");
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	name(&m, "victim.example");
	rr_end(&m, at);
	name(&m, "victim.example");
	rr_a(&m, 300, 192, 0, 2, 99);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_chain, 0);
	CHECK_EQ(r.n_addrs, 0);
}

TEST(additional_section_addresses_are_ignored)
{
	struct msg m;
	struct ag_dns_reply r;

	/* The question's own name in the additional section: not an answer. */
	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 1);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 2);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 1));
}

TEST(records_of_other_classes_and_types_are_skipped)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 3, 0, 1);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_A, 3 /* CH */, 300);
	put32(&m, 0xc0000209);
	rr_end(&m, at);
	ptr(&m, 12);
	at = rr_fixed(&m, 16 /* TXT */, AG_DNS_CLASS_IN, 300);
	put8(&m, 3);
	put8(&m, 'a');
	put8(&m, 'b');
	put8(&m, 'c');
	rr_end(&m, at);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 10);
	/* EDNS OPT pseudo-record in the additional section. */
	put8(&m, 0);
	at = rr_fixed(&m, 41, 1232, 0);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 10));
}

TEST(nxdomain_rcode_is_reported)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "nope.example", AG_DNS_TYPE_A, 0, 0, 0);
	m.b[3] = (m.b[3] & 0xf0) | AG_DNS_RCODE_NXDOMAIN;
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.rcode, AG_DNS_RCODE_NXDOMAIN);
	CHECK_EQ(r.n_addrs, 0);
	CHECK_STR(r.qname, "nope.example");
}

TEST(truncated_bit_is_reported)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "big.example", AG_DNS_TYPE_A, 0, 0, 0);
	m.b[2] |= 0x02;
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.truncated, 1);
}

TEST(address_bound_is_respected_and_the_rest_counted)
{
	struct msg m;
	struct ag_dns_reply r;
	const unsigned n = AG_DNS_MAX_ADDRS + 8;

	reply(&m, "many.example", AG_DNS_TYPE_A, n, 0, 0);
	for (unsigned i = 0; i < n; i++) {
		ptr(&m, 12);
		rr_a(&m, 300, 198, 51, 100, i);
	}
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, AG_DNS_MAX_ADDRS);
	CHECK_EQ(r.n_dropped, 8);
	CHECK(has_v4(&r, 198, 51, 100, 0));
	CHECK(has_v4(&r, 198, 51, 100, AG_DNS_MAX_ADDRS - 1));
	CHECK(!has_v4(&r, 198, 51, 100, AG_DNS_MAX_ADDRS));
}

TEST(duplicate_address_is_kept_once_with_the_smaller_ttl)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "dup.example", AG_DNS_TYPE_A, 2, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	ptr(&m, 12);
	rr_a(&m, 30, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK_EQ(r.addrs[0].ttl, 30);
}

TEST(ttl_with_top_bit_set_reads_as_zero)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "ttl.example", AG_DNS_TYPE_A, 1, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 0x80000001u, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	CHECK_EQ(r.addrs[0].ttl, 0);
}

TEST(cname_loop_stops_without_losing_the_question_addresses)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at, b;

	/* a CNAME b, b CNAME a, a A 192.0.2.5 */
	reply(&m, "a.example", AG_DNS_TYPE_A, 3, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	b = name(&m, "b.example");
	rr_end(&m, at);
	ptr(&m, b);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	ptr(&m, 12);
	rr_end(&m, at);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 5);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_chain, 1);
	CHECK_EQ(r.n_addrs, 1);
	CHECK(has_v4(&r, 192, 0, 2, 5));
}

TEST(cname_chain_longer_than_the_bound_is_cut)
{
	struct msg m;
	struct ag_dns_reply r;
	char nm[32];
	size_t at, prev = 12;

	/* q -> n1 -> n2 ... -> n(MAX+1), each name with an A record. */
	reply(&m, "q.example", AG_DNS_TYPE_A, 2 * (AG_DNS_MAX_CHAIN + 1), 0, 0);
	for (int i = 1; i <= AG_DNS_MAX_CHAIN + 1; i++) {
		size_t next;

		ptr(&m, prev);
		at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
		snprintf(nm, sizeof(nm), "n%d.example", i);
		next = name(&m, nm);
		rr_end(&m, at);
		ptr(&m, next);
		rr_a(&m, 300, 192, 0, 2, (unsigned)i);
		prev = next;
	}
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_chain, AG_DNS_MAX_CHAIN);
	CHECK(has_v4(&r, 192, 0, 2, AG_DNS_MAX_CHAIN));
	CHECK(!has_v4(&r, 192, 0, 2, AG_DNS_MAX_CHAIN + 1));
}

TEST(name_of_255_bytes_is_accepted)
{
	struct msg m;
	struct ag_dns_reply r;
	char q[AG_DNS_NAME_MAX + 1];

	/* 63 + 63 + 63 + 61 letters and 3 dots: 253 characters, 255 wire bytes. */
	memset(q, 'a', AG_DNS_NAME_MAX);
	q[63] = q[127] = q[191] = '.';
	q[AG_DNS_NAME_MAX] = '\0';
	reply(&m, q, AG_DNS_TYPE_A, 1, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_STR(r.qname, q);
	CHECK_EQ(r.n_addrs, 1);
}

TEST(underscore_and_digits_are_host_name_bytes)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "_svc.x-1.example", AG_DNS_TYPE_A, 0, 0, 0);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_STR(r.qname, "_svc.x-1.example");
}

TEST(root_question_gives_an_empty_name)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "", 2 /* NS */, 0, 0, 0);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_STR(r.qname, "");
}

/* ---- rejections ------------------------------------------------------- */

TEST(query_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 0, 0, 0);
	CHECK_EQ(parse(&m, &r), 0);
	m.b[2] &= 0x7f;	/* QR = 0 */
	CHECK_EQ(parse(&m, &r), -EPROTO);
}

TEST(opcode_other_than_query_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 0, 0, 0);
	m.b[2] |= 5 << 3;	/* UPDATE */
	CHECK_EQ(parse(&m, &r), -EPROTO);
}

TEST(question_count_other_than_one_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 0, 0, 0);
	m.b[5] = 2;
	CHECK_EQ(parse(&m, &r), -EPROTO);
	m.b[5] = 0;
	CHECK_EQ(parse(&m, &r), -EPROTO);
}

TEST(header_shorter_than_12_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 0, 0, 0);
	m.n = 11;
	CHECK_EQ(parse(&m, &r), -EMSGSIZE);
}

TEST(answer_count_that_lies_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 2, 0, 0);
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), -EMSGSIZE);
	m.b[7] = 1;	/* the truth parses */
	CHECK_EQ(parse(&m, &r), 0);
	m.b[11] = 1;	/* an additional record that is not there */
	CHECK_EQ(parse(&m, &r), -EMSGSIZE);
}

TEST(rdlength_past_the_end_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, 16, AG_DNS_CLASS_IN, 300);
	put8(&m, 0);
	m.b[at + 1] = 2;
	CHECK_EQ(parse(&m, &r), -EMSGSIZE);
}

TEST(a_record_of_wrong_size_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_A, AG_DNS_CLASS_IN, 300);
	put32(&m, 0xc0000201);
	put8(&m, 0);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(aaaa_record_of_wrong_size_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "www.example.com", AG_DNS_TYPE_AAAA, 1, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_AAAA, AG_DNS_CLASS_IN, 300);
	put32(&m, 0x20010db8);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(cname_name_running_past_its_rdlength_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	name(&m, "cdn.example.net");
	rr_end(&m, at);
	put8(&m, 0);	/* trailing byte, ignored, so rdlength can grow */
	CHECK_EQ(parse(&m, &r), 0);
	m.b[at + 1] -= 3;	/* the name now ends 3 bytes after the data */
	CHECK_EQ(parse(&m, &r), -EBADMSG);
	m.b[at + 1] += 4;	/* or stops short of it */
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(compression_pointer_to_itself_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t self;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	self = m.n;
	ptr(&m, self);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(compression_loop_through_a_label_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t start;

	/* "x" then a pointer back to "x": a backward pointer, still a loop. */
	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	start = labels(&m, "x");
	ptr(&m, start);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(compression_loop_between_two_names_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t at, first, second;

	/* A CNAME whose data is "b" + pointer to the owner "a" + pointer to
	 * the data: a -> b -> a -> ... each pointer going back. */
	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	first = labels(&m, "a");
	put16(&m, 0);	/* patched below */
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	second = labels(&m, "b");
	ptr(&m, first);
	rr_end(&m, at);
	m.b[first + 2] = 0xc0 | (uint8_t)(second >> 8);
	m.b[first + 3] = (uint8_t)second;
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(compression_pointer_forward_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 2, 0, 0);
	ptr(&m, m.n + 2 + 10 + 4);	/* to the next record's owner */
	rr_a(&m, 300, 192, 0, 2, 1);
	name(&m, "www.example.com");
	rr_a(&m, 300, 192, 0, 2, 2);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(compression_pointer_into_header_or_past_end_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	size_t p;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 1, 0, 0);
	p = m.n;
	ptr(&m, 4);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
	m.b[p] = 0xc0 | 0x3f;	/* offset 16383 */
	m.b[p + 1] = 0xff;
	CHECK_EQ(parse(&m, &r), -EBADMSG);
	/* A pointer whose second byte is missing. */
	m.n = p + 1;
	CHECK_EQ(parse(&m, &r), -EMSGSIZE);
}

TEST(label_longer_than_63_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	/* Length byte 64 = 0x40: the reserved extended label type. */
	header(&m, QR, 1, 0, 0, 0);
	put8(&m, 64);
	for (int i = 0; i < 64; i++)
		put8(&m, 'a');
	put8(&m, 0);
	put16(&m, AG_DNS_TYPE_A);
	put16(&m, AG_DNS_CLASS_IN);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
	m.b[12] = 0x80;
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(name_longer_than_255_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	char q[260];

	/* 63 + 63 + 63 + 62: 256 wire bytes. */
	memset(q, 'a', 254);
	q[63] = q[127] = q[191] = '.';
	q[254] = '\0';
	reply(&m, q, AG_DNS_TYPE_A, 0, 0, 0);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(name_made_too_long_by_pointers_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;
	char q[AG_DNS_NAME_MAX + 1];

	/* The 255-byte question plus one more label in front of it. */
	memset(q, 'a', AG_DNS_NAME_MAX);
	q[63] = q[127] = q[191] = '.';
	q[AG_DNS_NAME_MAX] = '\0';
	reply(&m, q, AG_DNS_TYPE_A, 1, 0, 0);
	labels(&m, "b");
	ptr(&m, 12);
	rr_a(&m, 300, 192, 0, 2, 1);
	CHECK_EQ(parse(&m, &r), -EBADMSG);
}

TEST(question_name_with_non_host_byte_is_rejected)
{
	struct msg m;
	struct ag_dns_reply r;

	/* A '.' inside a label: as text it would read as two labels. */
	reply(&m, "ab.example", AG_DNS_TYPE_A, 0, 0, 0);
	CHECK_EQ(parse(&m, &r), 0);
	m.b[14] = '.';
	CHECK_EQ(parse(&m, &r), -EILSEQ);
	m.b[14] = ' ';
	CHECK_EQ(parse(&m, &r), -EILSEQ);
}

TEST(every_prefix_of_a_good_reply_is_rejected_as_short)
{
	struct msg m, cut;
	struct ag_dns_reply r;
	size_t at, cdn;

	reply(&m, "www.example.com", AG_DNS_TYPE_A, 2, 0, 1);
	ptr(&m, 12);
	at = rr_fixed(&m, AG_DNS_TYPE_CNAME, AG_DNS_CLASS_IN, 300);
	cdn = name(&m, "cdn.example.net");
	rr_end(&m, at);
	ptr(&m, cdn);
	rr_a(&m, 300, 192, 0, 2, 1);
	put8(&m, 0);
	at = rr_fixed(&m, 41, 1232, 0);
	rr_end(&m, at);
	CHECK_EQ(parse(&m, &r), 0);
	CHECK_EQ(r.n_addrs, 1);
	for (size_t n = 0; n < m.n; n++) {
		int ret;

		cut = m;
		cut.n = n;
		ret = parse(&cut, &r);
		CHECK_MSG(ret == -EMSGSIZE, "cut at %zu: %d", n, ret);
	}
}

TEST(null_arguments_are_rejected)
{
	struct ag_dns_reply r;
	uint8_t b[12] = { 0 };

	CHECK_EQ(ag_dns_parse(NULL, 12, &r), -EINVAL);
	CHECK_EQ(ag_dns_parse(b, sizeof(b), NULL), -EINVAL);
}
