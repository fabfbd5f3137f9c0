/*
 * daemon/flowtuple.h — a flow as the kernel's 5-tuple (struct ag_tuple,
 * src/dst of its first packet) and as the engine's fixed values (local and
 * remote), one from the other.  No state.
 */
#ifndef ALEGATE_DAEMON_FLOWTUPLE_H
#define ALEGATE_DAEMON_FLOWTUPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "alegate/engine.h"

/* The engine's fixed values for a tuple in its original direction (a
 * conntrack entry's, a packet's), as an outbound flow (we sent the first
 * packet) or an inbound one.  ICMP: local_port is the echo identifier
 * (sport), remote_port the type. */
struct ag_tuple;
void agd_fixed_from_tuple(const struct ag_tuple *orig, uint8_t icmp_type, bool outbound,
			  ag_fixed_values *in);
/* The flow as its local socket sees it: src = local. */
void agd_tuple_from_fixed(const ag_fixed_values *in, struct ag_tuple *t);

#endif
