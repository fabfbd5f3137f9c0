/*
 * daemon/fpevents.h — the fast path's decisions, read by fpevents.c from
 * its ring buffer: each becomes an event for control clients, a history row,
 * and a flow of the `flows` list while the kernel keeps it.
 */
#ifndef ALEGATE_DAEMON_FPEVENTS_H
#define ALEGATE_DAEMON_FPEVENTS_H

#include <stdint.h>

#include <jansson.h>

struct agd;

/* Read the fast path's decisions (after agd_fastpath_open and the loop). */
int agd_fpevents_open(struct agd *d);
void agd_fpevents_ready(struct agd *d);
void agd_fpevents_close(struct agd *d);
/* `flows`: append the live TCP flows the fast path allowed. */
void agd_fpevents_flows(struct agd *d, json_t *arr);
uint32_t agd_fpevents_nflows(void);

#endif
