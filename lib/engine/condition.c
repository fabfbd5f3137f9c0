/*
 * lib/engine/condition.c — conditions (S14): compiling what a filter spec
 * says into the form classify tests, and testing it against fixed values.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"

/* ---- conditions -------------------------------------------------------------- */

int ag__host_normalize(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	if (n && in[n - 1] == '.')
		n--;
	if (n == 0 || n >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = 0;
	return 0;
}

void ag__addr_mask(uint8_t *bytes, unsigned plen, unsigned total_bytes)
{
	for (unsigned i = 0; i < total_bytes; i++) {
		unsigned bits = i * 8;

		if (bits >= plen)
			bytes[i] = 0;
		else if (plen - bits < 8)
			bytes[i] &= (uint8_t)(0xff << (8 - (plen - bits)));
	}
	for (unsigned i = total_bytes; i < 16; i++)
		bytes[i] = 0;
}

/* 64 hex digits into @out in lower case, so that equal digests are one string. */
static int sha256_lower(const char *in, char *out)
{
	for (int i = 0; i < 64; i++) {
		char ch = in[i];

		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -EINVAL;
		out[i] = ch;
	}
	out[64] = '\0';
	return in[64] ? -EINVAL : 0;
}

int ag__cond_compile(ag_engine *e, const ag_condition *c, struct ag__cond *out)
{
	char host[256];

	memset(out, 0, sizeof(*out));
	out->field = (uint8_t)c->field;
	out->match = (uint8_t)c->match;
	if (c->match == AG_MATCH_SET) {
		if ((c->field != AG_FIELD_REMOTE_HOST && c->field != AG_FIELD_REMOTE_ADDR) ||
		    !c->v.set.contains)
			return -EINVAL;
		out->set = c->v.set.set;
		out->contains = c->v.set.contains;
		return 0;
	}
	switch (c->field) {
	case AG_FIELD_IP_VERSION:
		if (c->match != AG_MATCH_EQUAL || (c->v.u32 != 4 && c->v.u32 != 6))
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	case AG_FIELD_PROTOCOL:
	case AG_FIELD_DIRECTION:
	case AG_FIELD_INTERFACE:
		if (c->match != AG_MATCH_EQUAL)
			return -EINVAL;
		if (c->field == AG_FIELD_PROTOCOL && c->v.u32 > 255)
			return -EINVAL;
		if (c->field == AG_FIELD_DIRECTION && c->v.u32 > AG_DIR_IN)
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	case AG_FIELD_LOCAL_PORT:
	case AG_FIELD_REMOTE_PORT:
	case AG_FIELD_SERVICE_PORT:
	case AG_FIELD_UID:
	case AG_FIELD_GID: {
		uint32_t max = c->field == AG_FIELD_UID || c->field == AG_FIELD_GID ? 0xffffffffu
										      : 65535;
		if (c->match == AG_MATCH_EQUAL) {
			if (c->v.u32 > max)
				return -EINVAL;
			out->lo = out->hi = c->v.u32;
			return 0;
		}
		if (c->match != AG_MATCH_RANGE || c->v.range.lo > c->v.range.hi ||
		    c->v.range.hi > max)
			return -EINVAL;
		out->lo = c->v.range.lo;
		out->hi = c->v.range.hi;
		return 0;
	}
	case AG_FIELD_LOCAL_ADDR:
	case AG_FIELD_REMOTE_ADDR: {
		unsigned full = c->v.addr.ip_version == 4 ? 32 : 128;

		if (c->v.addr.ip_version != 4 && c->v.addr.ip_version != 6)
			return -EINVAL;
		if (c->match == AG_MATCH_EQUAL)
			out->plen = (uint8_t)full;
		else if (c->match == AG_MATCH_PREFIX && c->v.addr.len <= full)
			out->plen = c->v.addr.len;
		else
			return -EINVAL;
		out->match = AG_MATCH_PREFIX;
		out->ip_version = c->v.addr.ip_version;
		out->addr = c->v.addr.bytes;
		ag__addr_mask(out->addr.b, out->plen, full / 8);
		return 0;
	}
	case AG_FIELD_APP_PATH:
		if ((c->match != AG_MATCH_EQUAL && c->match != AG_MATCH_GLOB) || !c->v.str ||
		    !c->v.str[0])
			return -EINVAL;
		/* A glob without wildcard characters is an exact path: index it. */
		if (c->match == AG_MATCH_GLOB && !strpbrk(c->v.str, "*?["))
			out->match = AG_MATCH_EQUAL;
		out->str = ag__str_get(e, c->v.str);
		return out->str ? 0 : -ENOMEM;
	case AG_FIELD_REMOTE_HOST: {
		const char *h = c->v.str;

		if (!h)
			return -EINVAL;
		if (c->match == AG_MATCH_SUFFIX) {
			if (h[0] == '*' && h[1] == '.')
				h += 2;
		} else if (c->match != AG_MATCH_EQUAL) {
			return -EINVAL;
		}
		if (ag__host_normalize(h, host, sizeof(host)))
			return -EINVAL;
		out->str = ag__str_get(e, host);
		return out->str ? 0 : -ENOMEM;
	}
	case AG_FIELD_FLAGS:
		if (c->match != AG_MATCH_FLAGS_ALL_SET && c->match != AG_MATCH_FLAGS_NONE_SET)
			return -EINVAL;
		out->lo = c->v.u32;
		return 0;
	case AG_FIELD_APP_SHA256:
		if (c->match != AG_MATCH_EQUAL || !c->v.str || sha256_lower(c->v.str, host))
			return -EINVAL;
		out->str = ag__str_get(e, host);
		return out->str ? 0 : -ENOMEM;
	default:
		return -EINVAL;
	}
}

static bool prefix_match(const uint8_t *addr, const uint8_t *pfx, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;

	if (memcmp(addr, pfx, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));

	return (addr[bytes] & mask) == pfx[bytes];
}

/* host ends with "." + suffix (case-insensitive); the suffix alone does not match. */
static bool host_suffix_match(const char *host, const struct ag__str *sfx)
{
	size_t hl = strlen(host);

	if (hl && host[hl - 1] == '.')
		hl--;
	if (hl <= sfx->len)
		return false;
	return host[hl - sfx->len - 1] == '.' &&
	       strncasecmp(host + hl - sfx->len, sfx->s, sfx->len) == 0;
}

static bool host_equal(const char *host, const struct ag__str *s)
{
	size_t hl = strlen(host);

	if (hl && host[hl - 1] == '.')
		hl--;
	return hl == s->len && strncasecmp(host, s->s, hl) == 0;
}

static bool cond_match(const struct ag__cond *c, const ag_fixed_values *in)
{
	uint32_t v;

	if (c->match == AG_MATCH_SET)
		return c->contains(c->set, in);
	switch (c->field) {
	case AG_FIELD_IP_VERSION:
		return in->ip_version == c->lo;
	case AG_FIELD_PROTOCOL:
		return in->protocol == c->lo;
	case AG_FIELD_DIRECTION:
		return in->direction == c->lo;
	case AG_FIELD_INTERFACE:
		return in->interface == c->lo;
	case AG_FIELD_LOCAL_PORT:
		v = in->local_port;
		return v >= c->lo && v <= c->hi;
	case AG_FIELD_REMOTE_PORT:
		v = in->remote_port;
		return v >= c->lo && v <= c->hi;
	case AG_FIELD_SERVICE_PORT:
		v = in->direction == AG_DIR_IN ? in->local_port : in->remote_port;
		return v >= c->lo && v <= c->hi;
	case AG_FIELD_UID:
		return in->uid >= c->lo && in->uid <= c->hi;
	case AG_FIELD_GID:
		return in->gid >= c->lo && in->gid <= c->hi;
	case AG_FIELD_LOCAL_ADDR:
		return in->ip_version == c->ip_version &&
		       prefix_match(in->local_addr.b, c->addr.b, c->plen);
	case AG_FIELD_REMOTE_ADDR:
		return in->ip_version == c->ip_version &&
		       prefix_match(in->remote_addr.b, c->addr.b, c->plen);
	case AG_FIELD_APP_PATH:
		if (!in->app_path)
			return false;
		if (c->match == AG_MATCH_EQUAL)
			return strcmp(in->app_path, c->str->s) == 0;
		return fnmatch(c->str->s, in->app_path, 0) == 0;
	case AG_FIELD_REMOTE_HOST:
		if (!in->remote_host)
			return false;
		if (c->match == AG_MATCH_EQUAL)
			return host_equal(in->remote_host, c->str);
		return host_suffix_match(in->remote_host, c->str);
	case AG_FIELD_FLAGS:
		if (c->match == AG_MATCH_FLAGS_ALL_SET)
			return (in->flags & c->lo) == c->lo;
		return (in->flags & c->lo) == 0;
	case AG_FIELD_APP_SHA256:
		return in->app_sha256 && strcasecmp(in->app_sha256, c->str->s) == 0;
	}
	return false;
}

/* S14: conditions on different fields are ANDed, on the same field ORed. */
bool ag__filter_matches(const struct ag_filter *f, const ag_fixed_values *in)
{
	uint16_t i = 0;

	while (i < f->nconds) {
		uint8_t field = f->conds[i].field;
		bool any = false;

		for (; i < f->nconds && f->conds[i].field == field; i++)
			if (!any && cond_match(&f->conds[i], in))
				any = true;
		if (!any)
			return false;
	}
	return true;
}
