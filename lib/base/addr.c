/*
 * addr.c — ag_addr to and from the socket API's sockaddr.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "base/addr.h"

/* The engine's public structs kept the layout they had with uint8_t[16]. */
_Static_assert(sizeof(ag_addr) == 16 && _Alignof(ag_addr) == 1, "ag_addr is 16 bytes");

int ag_addr_from_sockaddr(const struct sockaddr *sa, ag_addr *a, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		*a = ag_addr_make(4, &s4->sin_addr);
		if (port)
			*port = ntohs(s4->sin_port);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		*a = ag_addr_make(6, &s6->sin6_addr);
		if (port)
			*port = ntohs(s6->sin6_port);
		return 6;
	}
	return 0;
}

size_t ag_addr_to_sockaddr(int ver, const ag_addr *a, uint16_t port,
			   struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ver == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->b, sizeof(s4->sin_addr));
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, a->b, sizeof(s6->sin6_addr));
	return sizeof(*s6);
}
