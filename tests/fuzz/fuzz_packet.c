/*
 * fuzz_packet.c — libFuzzer harness for lib/net/packet.
 *
 * The input is parsed as a packet, and (up to its first NUL) as address
 * text.  Beyond "does not crash" the harness checks what callers rely on:
 * offsets inside the capture, only the documented errors, and address
 * text that agrees with glibc's inet_pton/inet_ntop in both directions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_packet(const uint8_t *data, size_t size)
{
	struct ag_pkt_info pi;
	int r = ag_pkt_parse(data, size, &pi);

	if (r != 0) {
		if (r != -EMSGSIZE && r != -EBADMSG && r != -EAFNOSUPPORT)
			abort();
		return;
	}
	if (pi.ip_version != 4 && pi.ip_version != 6)
		abort();
	if (pi.l4_offset > pi.payload_offset ||
	    pi.payload_offset > size ||
	    (size_t)pi.payload_offset + pi.payload_len > size ||
	    pi.payload_len > pi.payload_total ||
	    (size_t)pi.payload_offset + pi.payload_total > pi.ip_total_len)
		abort();
	if (!!(pi.flags & AG_PKT_TRUNCATED) != (size < pi.ip_total_len))
		abort();
	if (pi.n_exthdrs > AG_PKT_MAX_EXTHDRS)
		abort();
	if ((pi.flags & AG_PKT_NO_L4) &&
	    (pi.sport || pi.dport || pi.payload_offset != pi.l4_offset))
		abort();
	/* With the whole packet captured, a shorter capture may only be
	 * "truncated", never "lying". */
	if (!(pi.flags & AG_PKT_TRUNCATED) && size > 0) {
		struct ag_pkt_info cut;
		int rc = ag_pkt_parse(data, size - 1, &cut);

		if (rc != 0 && rc != -EMSGSIZE)
			abort();
	}
}

static void check_text(const uint8_t *data, size_t size)
{
	char s[96], out[AG_ADDR_STRLEN], ref_s[INET6_ADDRSTRLEN];
	uint8_t b[AG_ADDR_LEN], again[AG_ADDR_LEN], ref[16];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	unsigned plen;
	int ver, ver2, want = 0;

	memcpy(s, data, n);
	s[n] = '\0';

	memset(ref, 0, sizeof(ref));
	if (inet_pton(AF_INET, s, ref) == 1)
		want = 4;
	else if (inet_pton(AF_INET6, s, ref) == 1)
		want = 6;
	if (ag_addr_parse(s, &ver, b) == 0) {
		if (ver != want || memcmp(b, ref, 16) != 0)
			abort();
		if (ag_addr_format(ver, b, out, sizeof(out)) != 0)
			abort();
		if (!inet_ntop(ver == 4 ? AF_INET : AF_INET6, b, ref_s,
			       sizeof(ref_s)) || strcmp(out, ref_s) != 0)
			abort();
		if (ag_addr_parse(out, &ver2, again) != 0 || ver2 != ver ||
		    memcmp(b, again, 16) != 0)
			abort();
	} else if (want) {
		abort();
	}

	if (ag_prefix_parse(s, &ver, b, &plen) == 0) {
		unsigned max = ver == 4 ? 32 : 128;

		if (plen > max)
			abort();
		/* Host bits are clear, and the prefix contains itself. */
		for (unsigned bit = plen; bit < max; bit++)
			if (b[bit / 8] & (0x80u >> (bit % 8)))
				abort();
		if (!ag_addr_in_prefix(ver, b, ver, b, plen))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_packet(data, size);
	check_text(data, size);
	return 0;
}
