/*
 * alegate/addr.h — an IP address as every part of alegate carries it: its
 * 16 bytes in network order, IPv4 in the first 4 and the other 12 zero.
 *
 * The version travels beside it (the ip_version of the flow, tuple or
 * event it belongs to, or a `ver` field next to a lone address), so one
 * flow's two addresses share one version.  Being a struct, an address is
 * copied by assignment and passed by value; ag_addr_equal() compares two.
 * Its layout is that of uint8_t[16].
 */
#ifndef ALEGATE_ADDR_H
#define ALEGATE_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct ag_addr {
	uint8_t b[16];
} ag_addr;

/* The address of version @ver (4 or 6) whose bytes start at @bytes: 4 of
 * them for IPv4 (the rest zeroed), 16 otherwise. */
static inline ag_addr ag_addr_make(int ver, const void *bytes)
{
	ag_addr a = { { 0 } };

	memcpy(a.b, bytes, ver == 4 ? 4 : sizeof(a.b));
	return a;
}

static inline bool ag_addr_equal(const ag_addr *x, const ag_addr *y)
{
	return memcmp(x->b, y->b, sizeof(x->b)) == 0;
}

#endif
