/*
 * proto.h — IP protocol numbers and the names alegate prints for them.
 */
#ifndef ALEGATE_BASE_PROTO_H
#define ALEGATE_BASE_PROTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * ag_proto_name — "tcp", "udp", "icmp" or "icmpv6" for those protocols;
 * any other number written in decimal into buf[0..len), which is returned.
 * The names are those of rule files, the control protocol and the CLI.
 */
const char *ag_proto_name(uint8_t proto, char *buf, size_t len);

/* ag_proto_number — the number of one of the names above, or -1. */
int ag_proto_number(const char *name);

#endif
