/*
 * fastpath_internal.h — helpers the fast path's files (fastpath_*.c) share
 * and nothing else uses.
 */
#ifndef ALEGATE_LINUX_FASTPATH_INTERNAL_H
#define ALEGATE_LINUX_FASTPATH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "linux/fastpath.h"

/* fastpath_compile.c */
bool ag__fp_prefix_holds(const struct ag_fp_prefix *q, const struct ag_fp_prefix *n);
int ag__fp_grow(void **p, size_t *cap, size_t need, size_t size);

#endif
