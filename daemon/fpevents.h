/*
 * daemon/fpevents.h — the fast path's decisions, read by fpevents.c from
 * its ring buffer: each becomes an event for control clients, a history row,
 * and a flow of the `flows` list while the kernel keeps it.  Its state is
 * struct agd_fpevents (d->fpevents); events reach control clients through
 * struct agd_listeners, so fpevents.c never calls up into control.c.
 */
#ifndef ALEGATE_DAEMON_FPEVENTS_H
#define ALEGATE_DAEMON_FPEVENTS_H

#include <stdint.h>

#include <jansson.h>

struct agd;
struct agd_fpflow;

/* Live fast-path flows (allowed sockets): a chained hash by socket cookie. */
#define AGD_FPF_BUCKETS 16384

struct agd_fpevents {
	struct agd_fpflow *buckets[AGD_FPF_BUCKETS];
	uint32_t nflows;
	uint64_t next_seq;	/* the last "fp-N" pushed to `events` subscribers */
	uint64_t decided;	/* decisions read from the ring (status: fast_path_events) */
};

/* Read the fast path's decisions (after agd_fastpath_open and the loop). */
int agd_fpevents_open(struct agd *d);
void agd_fpevents_ready(struct agd *d);
void agd_fpevents_close(struct agd *d);
/* `flows`: append the live TCP flows the fast path allowed. */
void agd_fpevents_flows(struct agd *d, json_t *arr);
uint32_t agd_fpevents_nflows(const struct agd *d);
/* Decisions read from the ring since start. */
uint64_t agd_fpevents_decided(const struct agd *d);

#endif
