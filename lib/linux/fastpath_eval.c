/*
 * fastpath_eval.c — the user-space reference interpreter over a compiled
 * image: the kernel maps' lookups done in memory, so the unit tests and
 * ag_fp_eval() decide a flow as fastpath.bpf.c does.
 */
#include "linux/bpf/fp_shared.h"
#include "linux/fastpath_internal.h"

const char *ag_fp_verdict_name(enum ag_fp_verdict v)
{
	switch (v) {
	case AG_FP_PASS: return "pass";
	case AG_FP_ALLOW: return "allow";
	case AG_FP_DENY: return "deny";
	}
	return "?";
}

/* ---- the reference interpreter: the kernel maps' lookups, in memory --------------- */

const struct fp_app_val *ag__fp_img_app(const struct ag_fp_image *img, const struct fp_app_key *k)
{
	size_t lo = 0, hi = img->napps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fp_app_key *m = &img->app_keys[mid];

		if (m->dev == k->dev && m->ino == k->ino)
			return &img->app_vals[mid];
		if (m->dev < k->dev || (m->dev == k->dev && m->ino < k->ino))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An LPM trie lookup: the longest stored prefix of the key's bits. */
const struct fp_list *ag__fp_img_lpm(const struct ag_fp_image *img, const struct fp_lpm_key *k)
{
	size_t lo = 0, hi = img->nnodes;

	/* First node of (bucket, family): nodes are sorted by those, then
	 * longest prefix first, so the first one that holds the address wins. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fp_lpm_key *m = &img->node_keys[mid];

		if (m->bucket < k->bucket || (m->bucket == k->bucket && m->family < k->family))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < img->nnodes; i++) {
		const struct fp_lpm_key *m = &img->node_keys[i];

		if (m->bucket != k->bucket || m->family != k->family)
			break;
		if (m->prefixlen > k->prefixlen)
			continue;
		struct ag_fp_prefix q = { .family = m->family,
					  .plen = (uint8_t)(m->prefixlen - FP_LPM_FIXED_BITS) };
		struct ag_fp_prefix a = { .family = k->family,
					  .plen = (uint8_t)(k->prefixlen - FP_LPM_FIXED_BITS) };

		q.addr = ag_addr_make(m->family, m->addr);
		a.addr = ag_addr_make(k->family, k->addr);
		if (ag__fp_prefix_holds(&q, &a))
			return &img->node_vals[i];
	}
	return NULL;
}

const struct fp_entry *ag__fp_img_entry(const struct ag_fp_image *img, const __u32 *i)
{
	return *i < img->nentries ? &img->entries[*i] : NULL;
}

enum ag_fp_verdict ag_fp_image_eval(const struct ag_fp_image *img, const struct ag_fp_flow *flow,
				    uint32_t *rule)
{
	struct fp_maps m = { img };
	struct fp_flow f;
	__u32 r = FP_RULE_NONE;
	int v = FP_PASS;

	memset(&f, 0, sizeof(f));
	f.exe_known = flow->exe.known;
	f.ino = flow->exe.ino;
	f.dev = flow->exe.dev;
	f.uid = flow->uid;
	f.family = flow->family;
	f.proto = flow->proto;
	f.port = flow->port;
	memcpy(f.addr, flow->addr.b, sizeof(f.addr));
	if (f.family == 4)
		memset(f.addr + 4, 0, 12);
	f.now_ns = flow->now_ns;
	if (img && (f.family == 4 || f.family == 6))
		v = fp_decide(&m, &f, &r);
	if (rule)
		*rule = r;
	return (enum ag_fp_verdict)v;
}
