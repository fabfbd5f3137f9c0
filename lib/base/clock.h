/*
 * clock.h — the clocks alegate reads, in the units it uses them.
 *
 * Monotonic for durations and deadlines (it does not jump when the wall
 * clock is set); the wall clock only for what a person reads or what is
 * kept across a restart.
 */
#ifndef ALEGATE_BASE_CLOCK_H
#define ALEGATE_BASE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ag_mono_ns(void);

/* CLOCK_MONOTONIC in milliseconds. */
long long ag_mono_ms(void);

/* CLOCK_BOOTTIME in nanoseconds: it counts the time suspended, as the
 * kernel's timestamps of conntrack and sockets do. */
uint64_t ag_boot_ns(void);

/* CLOCK_REALTIME in milliseconds since the epoch. */
uint64_t ag_wall_ms(void);

/*
 * ag_poll_wait_ms — what poll() should wait for a deadline on ag_mono_ms():
 * -1 for none (deadline < 0), 0 when it has passed, else the milliseconds
 * left, at most 1,000,000.
 */
int ag_poll_wait_ms(long long deadline);

#endif
