/*
 * ag_dns — a DNS server and client just big enough for the daemon's tests.
 *
 *   ag_dns serve ADDR IPV4 [garbage | forge NAME IPV4]
 *       Answer every query on ADDR:53 with one A record: the question's name
 *       -> IPV4, TTL 300.  With "garbage", answer with bytes that are no DNS
 *       message at all (from port 53 all the same).  With "forge", send a
 *       second reply after each answer, on the same flow, that answers no
 *       query: another id, question NAME, A record IPV4.  Prints "ready".
 *   ag_dns query SERVER NAME
 *       Send an A query for NAME to SERVER:53; print "answer ADDR" for the
 *       first A record, "reply N" for a reply that does not parse as one
 *       (N bytes), or "timeout".  Exit 0 when a reply came.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Encode NAME as DNS labels at p; returns bytes written or 0 if too long. */
static size_t put_name(uint8_t *p, size_t room, const char *name)
{
	size_t n = 0;

	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		if (len == 0 || len > 63 || n + len + 2 > room)
			return 0;
		p[n++] = (uint8_t)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

/* A reply nobody asked for: id, question name, one A record. */
static size_t forged(uint8_t *r, size_t room, uint16_t id, const char *name,
		     const struct in_addr *ip)
{
	static const uint8_t rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4 };
	size_t n;

	memset(r, 0, 12);
	r[0] = (uint8_t)(id >> 8), r[1] = (uint8_t)id;
	r[2] = 0x81, r[3] = 0x80;
	r[5] = 1, r[7] = 1;
	n = put_name(r + 12, room - 12 - 4 - sizeof(rr) - 4, name);
	if (!n)
		return 0;
	n += 12;
	r[n++] = 0, r[n++] = 1, r[n++] = 0, r[n++] = 1;
	memcpy(r + n, rr, sizeof(rr));
	n += sizeof(rr);
	memcpy(r + n, ip, 4);
	return n + 4;
}

static int serve(const char *addr, const char *ip, int garbage, const char *forge_name,
		 const char *forge_ip)
{
	struct in_addr fip;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	struct in_addr answer;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if ((forge_name && inet_pton(AF_INET, forge_ip, &fip) != 1) ||
	    inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || inet_pton(AF_INET, ip, &answer) != 1 ||
	    fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("ag_dns serve");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		uint8_t q[512], r[600];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);

		if (n < 12)
			continue;
		if (garbage) {
			static const char junk[] = "this is no DNS message";

			sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&from, fl);
			continue;
		}
		/* header: same id, QR + RD + RA, one question, one answer */
		size_t qend = 12;

		while (qend < (size_t)n && q[qend])
			qend += q[qend] + 1;
		qend += 5; /* the root label, QTYPE, QCLASS */
		if (qend > (size_t)n)
			continue;
		memcpy(r, q, qend);
		r[2] = 0x81;
		r[3] = 0x80;
		r[6] = 0, r[7] = 1;  /* ANCOUNT */
		r[8] = r[9] = r[10] = r[11] = 0;
		size_t o = qend;
		static const uint8_t rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4 };

		memcpy(r + o, rr, sizeof(rr));
		o += sizeof(rr);
		memcpy(r + o, &answer, 4);
		o += 4;
		sendto(fd, r, o, 0, (struct sockaddr *)&from, fl);
		if (forge_name) {
			usleep(50000);
			o = forged(r, sizeof(r), (uint16_t)((q[0] << 8 | q[1]) ^ 0x5555), forge_name, &fip);
			if (o)
				sendto(fd, r, o, 0, (struct sockaddr *)&from, fl);
		}
	}
}

static int query(const char *server, const char *name)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	uint8_t q[512] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 }, r[1500];
	size_t n = put_name(q + 12, sizeof(q) - 16, name);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (!n || inet_pton(AF_INET, server, &sa.sin_addr) != 1 || fd == -1) {
		fprintf(stderr, "ag_dns query: bad arguments\n");
		return 2;
	}
	q[12 + n] = 0, q[13 + n] = 1;     /* QTYPE A */
	q[14 + n] = 0, q[15 + n] = 1;     /* QCLASS IN */
	sendto(fd, q, 16 + n, 0, (struct sockaddr *)&sa, sizeof(sa));
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 3000) <= 0) {
		printf("timeout\n");
		return 1;
	}
	ssize_t got = recv(fd, r, sizeof(r), 0);

	/* the answer's RDATA is the last 4 bytes of our own server's reply */
	if (got >= 16 + (ssize_t)n + 16 && r[0] == 0x12 && r[1] == 0x34 && (r[2] & 0x80) &&
	    r[7] == 1) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, r + got - 4, a, sizeof(a));
		printf("answer %s\n", a);
	} else {
		printf("reply %zd\n", got);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 7 && !strcmp(argv[1], "serve") && !strcmp(argv[4], "forge"))
		return serve(argv[2], argv[3], 0, argv[5], argv[6]);
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "garbage"), NULL, NULL);
	if (argc == 4 && !strcmp(argv[1], "query"))
		return query(argv[2], argv[3]);
	fprintf(stderr, "usage: ag_dns serve ADDR IPV4 [garbage | forge NAME IPV4] | ag_dns query SERVER NAME\n");
	return 2;
}
