/*
 * daemon/privs.c — what the running daemon gives up after start-up.
 * See docs/SECURITY.md for what runs with which privilege.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#include "daemon/agd.h"

int agd_privs_drop(struct agd *d)
{
	(void)d;
	/* No exec of ours may gain privileges (setuid, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_err("no_new_privs: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
