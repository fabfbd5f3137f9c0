/*
 * addr.h — the address type of every layer (ag_addr, alegate/addr.h: 16
 * bytes in network order, IPv4 in the first 4) and its conversions to and
 * from the socket API's sockaddr.  The engine's public headers carry
 * ag_addr too, which is why the type itself lives with them.
 *
 * This header includes no socket header (files that use the kernel's
 * <linux/in.h> include it too), so the conversions are functions of
 * addr.c.
 */
#ifndef ALEGATE_BASE_ADDR_H
#define ALEGATE_BASE_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "alegate/addr.h"

struct sockaddr;
struct sockaddr_storage;

/*
 * ag_addr_from_sockaddr() - the address and port of an AF_INET or AF_INET6
 * sockaddr.  Returns its version (4 or 6), or 0 for another family (then
 * *a and *port are left alone).  @port may be NULL; it is in host order.
 */
int ag_addr_from_sockaddr(const struct sockaddr *sa, ag_addr *a, uint16_t *port);

/*
 * ag_addr_to_sockaddr() - @a of version @ver (4 or 6) with @port (host
 * order) as a sockaddr_in or sockaddr_in6 in @ss.  Returns its length.
 */
size_t ag_addr_to_sockaddr(int ver, const ag_addr *a, uint16_t port,
			   struct sockaddr_storage *ss);

#endif
