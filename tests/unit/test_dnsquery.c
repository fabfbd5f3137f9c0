/*
 * test_dnsquery.c — lib/net/dnsquery: a reply is learned from only if it
 * answers a query this host sent (flow, id, question, window), once; and
 * the question parser both sides use.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "net/dns.h"
#include "net/dnsquery.h"

#define SEC 1000000000ULL
#define T0 (1000 * SEC)

static const uint8_t seed[AG_DNSQ_SEED_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };

/* A query or reply for NAME (dot-separated), type A, class IN. */
static size_t message(uint8_t *m, uint16_t id, int reply, const char *name)
{
	size_t o = 12;

	memset(m, 0, 12);
	m[0] = (uint8_t)(id >> 8), m[1] = (uint8_t)id;
	m[2] = reply ? 0x81 : 0x01;
	m[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		m[o++] = (uint8_t)l;
		memcpy(m + o, name, l);
		o += l;
		name += l + (dot ? 1 : 0);
	}
	m[o++] = 0;
	m[o++] = 0, m[o++] = 1, m[o++] = 0, m[o++] = 1;
	return o;
}

static struct ag_dns_question question(uint16_t id, int reply, const char *name)
{
	uint8_t m[300];
	struct ag_dns_question q;
	size_t n = message(m, id, reply, name);

	if (ag_dns_parse_question(m, n, &q))
		memset(&q, 0, sizeof(q));
	return q;
}

static struct ag_dnsq_flow flow(uint8_t last, uint16_t cport)
{
	struct ag_dnsq_flow f;

	memset(&f, 0, sizeof(f));
	f.ver = 4;
	f.client.b[0] = 192, f.client.b[1] = 0, f.client.b[2] = 2, f.client.b[3] = 1;
	f.server.b[0] = 192, f.server.b[1] = 0, f.server.b[2] = 2, f.server.b[3] = last;
	f.cport = cport;
	f.sport = 53;
	return f;
}

TEST(question_of_a_query_and_of_its_reply_parse_alike)
{
	struct ag_dns_question q = question(7, 0, "WWW.Example.test"), r = question(7, 1, "www.example.test");

	CHECK_EQ(q.qr, 0);
	CHECK_EQ(r.qr, 1);
	CHECK_EQ(q.id, 7);
	CHECK_EQ(q.qtype, AG_DNS_TYPE_A);
	CHECK_EQ(q.name_len, r.name_len);
	CHECK(memcmp(q.name, r.name, q.name_len) == 0);
}

TEST(question_parse_rejects_short_and_multi_question_messages)
{
	uint8_t m[300];
	struct ag_dns_question q;
	size_t n = message(m, 1, 0, "a.test");

	CHECK_EQ(ag_dns_parse_question(m, 11, &q), -EMSGSIZE);
	CHECK_EQ(ag_dns_parse_question(m, n - 1, &q), -EMSGSIZE);
	m[5] = 2;
	CHECK_EQ(ag_dns_parse_question(m, n, &q), -EPROTO);
	CHECK_EQ(ag_dns_parse_question(NULL, n, &q), -EINVAL);
}

TEST(reply_to_a_query_sent_is_answered_once)
{
	struct ag_dnsq *t = ag_dnsq_new(16, seed);
	struct ag_dnsq_flow f = flow(2, 40000);
	struct ag_dns_question q = question(0x1234, 0, "a.example.test");
	struct ag_dns_question r = question(0x1234, 1, "A.example.TEST");
	struct ag_dnsq_stats st;

	CHECK(t);
	CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), 0);
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0 + SEC), 0);
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0 + SEC), -ENOENT);
	ag_dnsq_stats(t, &st);
	CHECK_EQ(st.queries, 1);
	CHECK_EQ(st.answered, 1);
	CHECK_EQ(st.unsolicited, 1);
	ag_dnsq_free(t);
}

TEST(unsolicited_reply_answers_nothing)
{
	struct ag_dnsq *t = ag_dnsq_new(16, seed);
	struct ag_dnsq_flow f = flow(2, 40000);

	CHECK_EQ(ag_dnsq_answer(t, &f, &(struct ag_dns_question){ .qr = 1 }, T0), -ENOENT);
	ag_dnsq_free(t);
}

TEST(reply_differing_in_id_question_port_or_server_answers_nothing)
{
	struct ag_dnsq *t = ag_dnsq_new(16, seed);
	struct ag_dnsq_flow f = flow(2, 40000), other_port = flow(2, 40001),
			    other_server = flow(3, 40000);
	struct ag_dns_question q = question(0x1234, 0, "a.example.test");
	struct ag_dns_question other_id = question(0x1235, 1, "a.example.test");
	struct ag_dns_question other_name = question(0x1234, 1, "b.example.test");
	struct ag_dns_question r = question(0x1234, 1, "a.example.test");

	CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), 0);
	CHECK_EQ(ag_dnsq_answer(t, &f, &other_id, T0), -ENOENT);
	CHECK_EQ(ag_dnsq_answer(t, &f, &other_name, T0), -ENOENT);
	CHECK_EQ(ag_dnsq_answer(t, &other_port, &r, T0), -ENOENT);
	CHECK_EQ(ag_dnsq_answer(t, &other_server, &r, T0), -ENOENT);
	r.qtype = AG_DNS_TYPE_AAAA;
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0), -ENOENT);
	r.qtype = AG_DNS_TYPE_A;
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0), 0);
	ag_dnsq_free(t);
}

TEST(reply_after_the_window_answers_nothing)
{
	struct ag_dnsq *t = ag_dnsq_new(16, seed);
	struct ag_dnsq_flow f = flow(2, 40000);
	struct ag_dns_question q = question(1, 0, "a.test"), r = question(1, 1, "a.test");

	CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), 0);
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0 + AG_DNSQ_WINDOW_NS + 1), -ENOENT);
	CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), 0);
	CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0 - 1), -ENOENT); /* clock went back */
	ag_dnsq_free(t);
}

TEST(full_table_forgets_the_oldest_query_first)
{
	struct ag_dnsq *t = ag_dnsq_new(4, seed);
	struct ag_dnsq_stats st;

	for (uint16_t i = 0; i < 6; i++) {
		struct ag_dnsq_flow f = flow(2, (uint16_t)(40000 + i));
		struct ag_dns_question q = question(i, 0, "a.test");

		CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), 0);
	}
	for (uint16_t i = 0; i < 6; i++) {
		struct ag_dnsq_flow f = flow(2, (uint16_t)(40000 + i));
		struct ag_dns_question r = question(i, 1, "a.test");

		CHECK_EQ(ag_dnsq_answer(t, &f, &r, T0), i < 2 ? -ENOENT : 0);
	}
	ag_dnsq_stats(t, &st);
	CHECK_EQ(st.forgotten, 2);
	ag_dnsq_free(t);
}

TEST(bad_arguments_are_refused)
{
	struct ag_dnsq *t = ag_dnsq_new(4, seed);
	struct ag_dnsq_flow f = flow(2, 1);
	struct ag_dns_question q = question(1, 0, "a.test"), r = question(1, 1, "a.test");

	CHECK(!ag_dnsq_new(0, seed));
	CHECK(!ag_dnsq_new(4, NULL));
	CHECK_EQ(ag_dnsq_add(t, &f, &r, T0), -EINVAL); /* a reply is no query */
	CHECK_EQ(ag_dnsq_answer(t, &f, &q, T0), -EINVAL);
	f.ver = 5;
	CHECK_EQ(ag_dnsq_add(t, &f, &q, T0), -EINVAL);
	ag_dnsq_free(t);
	ag_dnsq_free(NULL);
}

