/*
 * fw_internal.h — what fw.c (the rules) and fw_apply.c (running nft and
 * iptables-restore) share.  Not for other modules: use fw.h.
 */
#ifndef ALEGATE_LINUX_FW_INTERNAL_H
#define ALEGATE_LINUX_FW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "linux/fw.h"

/* ag__fw_check_config — 0, or -EINVAL when cfg is unusable. */
int ag__fw_check_config(const struct ag_fw_config *cfg);

/*
 * ag__fw_render_ipt — ag_fw_render() for iptables, with pre (may be NULL:
 * lines ending in '\n') placed after the chain declarations and before our
 * jumps: install puts the removal of an older instance there, so it is part
 * of the same transaction.  Returns the length, -EINVAL or -ENOSPC.
 */
int ag__fw_render_ipt(const struct ag_fw_config *cfg, int family,
		      const char *pre, char *buf, size_t len);

/*
 * ag__fw_ipt_removal — from `iptables-save -t mangle` output, the
 * iptables-restore lines that remove an older instance: -D for every rule
 * outside our chains that jumps (-j/-g) to one of them, then -F and -X for
 * each of our chains, except, when keep_chains, the two that the new
 * ruleset redeclares (a declaration flushes them).  *found tells whether
 * anything of ours was there.  Returns 0 with *out malloc'd (the caller
 * frees; NULL when there is nothing to remove), or -ENOMEM.
 */
int ag__fw_ipt_removal(const char *saved, bool keep_chains, char **out, bool *found);

#endif
