/*
 * daemon/modules.c — callout modules: shared objects named by
 * callout_modules in alegate.conf, loaded at start.
 *
 * A module exports
 *	int ag_module_init(ag_engine *e, const char *arg);
 *	void ag_module_fini(ag_engine *e);		(optional)
 * and registers its callouts in init (ag_callout_register() or
 * FwpsCalloutRegister0()).  It runs inside the daemon, as a callout driver
 * runs inside the kernel: a crash in it is a crash of alegated, and
 * fail_mode then decides what new connections meet.  docs/CALLOUTS.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/alegated.h"
#include "daemon/log.h"
#include "daemon/modules.h"

typedef int (*module_init_fn)(ag_engine *e, const char *arg);
typedef void (*module_fini_fn)(ag_engine *e);

struct agd_module {
	void *dl;
	module_fini_fn fini;
	char path[AG_CONFIG_STR_MAX];
};

/*
 * Call fn for each "PATH[:ARG]" word of the callout_modules value, with the
 * path and the argument (NULL when there is none) split.  Stops at the
 * first nonzero return and returns it.
 */
static int each_module(const char *list, int (*fn)(void *arg, char *path, const char *marg),
		       void *arg)
{
	char buf[AG_CONFIG_STR_MAX], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *colon = strchr(w, ':');
		int r;

		if (colon)
			*colon = '\0';
		r = fn(arg, w, colon ? colon + 1 : NULL);
		if (r)
			return r;
	}
	return 0;
}

/* dlopen with every symbol resolved now, so a module that names a function
 * alegated does not have fails here and not on its first classify. */
static void *open_module(const char *path, module_init_fn *init, module_fini_fn *fini,
			 char *err, size_t errlen)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		snprintf(err, errlen, "%s", dlerror());
		return NULL;
	}
	*(void **)init = dlsym(dl, "ag_module_init");
	*(void **)fini = dlsym(dl, "ag_module_fini");
	if (!*init) {
		snprintf(err, errlen, "%s: no ag_module_init", path);
		dlclose(dl);
		return NULL;
	}
	return dl;
}

struct check {
	const char *config;
	int errors;
};

static int check_one(void *arg, char *path, const char *marg)
{
	struct check *c = arg;
	module_init_fn init;
	module_fini_fn fini;
	char err[512];
	void *dl = open_module(path, &init, &fini, err, sizeof(err));

	(void)marg;
	if (!dl) {
		fprintf(stderr, "%s: callout_modules: cannot load %s: %s\n", c->config, path, err);
		c->errors++;
		return 0;
	}
	dlclose(dl);
	return 0;
}

int agd_modules_check(const char *config, const struct ag_config *cfg)
{
	struct check c = { config, 0 };

	each_module(cfg->callout_modules, check_one, &c);
	return c.errors;
}

static int load_one(void *arg, char *path, const char *marg)
{
	struct agd *d = arg;
	module_init_fn init;
	module_fini_fn fini;
	char err[512];
	struct agd_module *m;
	void *dl = open_module(path, &init, &fini, err, sizeof(err));

	if (!dl) {
		log_err("callout_modules: cannot load %s: %s", path, err);
		return -ENOENT;
	}
	m = realloc(d->modules.list, (d->modules.n + 1) * sizeof(*d->modules.list));
	if (!m) {
		dlclose(dl);
		return -ENOMEM;
	}
	d->modules.list = m;
	m = &d->modules.list[d->modules.n];
	m->dl = dl;
	m->fini = fini;
	snprintf(m->path, sizeof(m->path), "%s", path);
	int r = init(d->engine, marg);

	if (r) {
		log_err("callout_modules: %s: ag_module_init failed: %s", path,
			r < 0 ? strerror(-r) : "nonzero return");
		dlclose(dl);
		return r < 0 ? r : -EINVAL;
	}
	d->modules.n++;
	log_info("callout module %s loaded", path);
	return 0;
}

int agd_modules_load(struct agd *d)
{
	return each_module(d->cfg.callout_modules, load_one, d);
}

void agd_modules_fini(struct agd *d)
{
	/* in reverse: a module may use what an earlier one registered */
	for (unsigned i = d->modules.n; i-- > 0;)
		if (d->modules.list[i].fini)
			d->modules.list[i].fini(d->engine);
}

void agd_modules_close(struct agd *d)
{
	for (unsigned i = d->modules.n; i-- > 0;)
		dlclose(d->modules.list[i].dl);
	free(d->modules.list);
	d->modules.list = NULL;
	d->modules.n = 0;
}
