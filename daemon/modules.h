/*
 * daemon/modules.h — callout modules (callout_modules in alegate.conf),
 * owned by modules.c (struct agd_modules, d->modules): each is dlopen()ed, its ag_module_init
 * registers its callouts with the engine, its ag_module_fini runs before the
 * engine shuts down.
 */
#ifndef ALEGATE_DAEMON_MODULES_H
#define ALEGATE_DAEMON_MODULES_H

#include "rule/config.h"

struct agd;
struct agd_module;

/* The modules loaded, in load order (modules.c). */
struct agd_modules {
	struct agd_module *list;
	unsigned n;
};

/* -n: try to load every module (not initialised); returns how many failed,
 * each reported on stderr as "CONFIG: callout_modules: cannot load PATH: why". */
int agd_modules_check(const char *config, const struct ag_config *cfg);
/* Load each module and call its ag_module_init.  Returns 0 or -errno (logged). */
int agd_modules_load(struct agd *d);
/* Each module's ag_module_fini, before the engine shuts down. */
void agd_modules_fini(struct agd *d);
/* Unload them, after the engine is freed. */
void agd_modules_close(struct agd *d);

#endif
