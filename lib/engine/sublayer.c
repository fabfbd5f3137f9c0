/*
 * lib/engine/sublayer.c — sublayers (S13): groups of filters evaluated from
 * the highest weight down, each deciding once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* ---- sublayers ------------------------------------------------------------- */

struct ag__sublayer *ag__sublayer_find(ag_engine *e, uint32_t id)
{
	for (uint32_t i = 0; i < e->nsublayers; i++)
		if (e->sublayers[i].id == id)
			return &e->sublayers[i];
	return NULL;
}

int ag_sublayer_add(ag_engine *e, uint32_t id, uint16_t weight, const char *name)
{
	if (ag__sublayer_find(e, id))
		return -EEXIST;
	struct ag__sublayer *n = ag__realloc(e, e->sublayers, e->nsublayers * sizeof(*n),
					     (e->nsublayers + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	e->sublayers = n;
	n = &e->sublayers[e->nsublayers];
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->weight = weight;
	n->name = ag__str_get(e, name ? name : "");
	if (!n->name)
		return -ENOMEM;
	e->nsublayers++;
	return 0;
}

int ag_sublayer_del(ag_engine *e, uint32_t id)
{
	struct ag__sublayer *s = ag__sublayer_find(e, id);

	if (!s || id == AG_SUBLAYER_DEFAULT)
		return s ? -EBUSY : -ENOENT;
	if (s->nfilters)
		return -EBUSY;
	ag__str_put(e, s->name);
	*s = e->sublayers[--e->nsublayers];
	return 0;
}
