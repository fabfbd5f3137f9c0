/*
 * lib/engine/wfp.c — WFP's callout functions (alegate/wfp.h) over the engine.
 *
 * A WFP callout is registered as an engine callout whose classify turns the
 * engine's values into FWPS_INCOMING_VALUES0 in the layer's field order and
 * back.  The WFP functions take no engine: they speak to the one the first
 * FwpsCalloutRegister0 named (the daemon has one).  Everything here runs on
 * the engine's thread, except what wfp.h says may run on any: completion,
 * injection, cloning and freeing clones, which touch only the NET_BUFFER_LIST
 * (atomics) and the engine's completion queue.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alegate/wfp.h"
#include "engine/internal.h"

#define WFP_MAX_CALLOUTS 64
#define WFP_MAX_FIELDS 24

enum {
	NBL_COMPLETED = 1, /* FwpsCompleteOperation0 named it (RECV_ACCEPT) */
	NBL_INJECTED = 2,  /* FwpsInjectTransportReceiveAsync0 named it */
};

struct NET_BUFFER_LIST {
	ag_packet pkt;
	UINT16 layer_id;
	bool clone;
	bool data;               /* pended data (FWP_CONDITION_FLAG_AG_PENDED_DATA) */
	bool kept;               /* ... that the engine keeps for the callout */
	UINT64 flow;
	atomic_int refs;         /* the original: classify's hold + references */
	atomic_int state;        /* NBL_* */
	/* set before the bit that says so, read after it */
	uint64_t pend_ctx;
	uint64_t inject_handle;
	FWPS_INJECT_COMPLETE0 inject_done;
	HANDLE inject_done_ctx;
};

struct wfp_callout {
	UINT32 id;
	GUID key;
	char name[37];
	FWPS_CALLOUT0 c;
};

static ag_engine *wfp_engine;
static struct wfp_callout *callouts[WFP_MAX_CALLOUTS];

/* The classify in progress (engine thread only). */
static struct wfp_cur {
	const ag_metadata *meta;
	NET_BUFFER_LIST *nbl;
	uint64_t pend_ctx;
	NET_BUFFER_LIST *clones[8];
	unsigned nclones;
} cur;

const ag_packet *ag_wfp_packet(const NET_BUFFER_LIST *nbl)
{
	return nbl ? &nbl->pkt : NULL;
}

void ag_wfp_guid_name(const GUID *k, char out[37])
{
	snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", k->Data1, k->Data2,
		 k->Data3, k->Data4[0], k->Data4[1], k->Data4[2], k->Data4[3], k->Data4[4],
		 k->Data4[5], k->Data4[6], k->Data4[7]);
}

static NTSTATUS status_of(int r)
{
	switch (r) {
	case 0:
		return STATUS_SUCCESS;
	case AG_E_CANNOT_PEND:
		return STATUS_FWP_CANNOT_PEND;
	case AG_E_NO_HANDLE:
	case AG_E_NO_CONTEXT:
	case -EINVAL:
		return STATUS_INVALID_PARAMETER;
	case AG_E_LIMIT:
		return STATUS_INSUFFICIENT_RESOURCES;
	case AG_E_NOT_FOUND:
	case -ENOENT:
		return STATUS_NOT_FOUND;
	case -EEXIST:
		return STATUS_OBJECT_NAME_EXISTS;
	case -EBUSY:
		return STATUS_DEVICE_BUSY;
	case -EALREADY:
		return STATUS_FWP_ALREADY_EXISTS;
	case -ENOMEM:
		return STATUS_NO_MEMORY;
	default:
		return STATUS_UNSUCCESSFUL;
	}
}

/* ---- layers -------------------------------------------------------------------- */

static UINT16 layer_id(ag_layer layer, uint8_t ip_version)
{
	UINT16 v6 = ip_version == 6 ? 2 : 0;

	switch (layer) {
	case AG_LAYER_ALE_AUTH_CONNECT:
		return FWPS_LAYER_ALE_AUTH_CONNECT_V4 + v6;
	case AG_LAYER_ALE_AUTH_RECV_ACCEPT:
		return FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4 + v6;
	default:
		return FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4 + v6;
	}
}

static int layer_of(UINT16 id, ag_layer *out)
{
	switch (id) {
	case FWPS_LAYER_ALE_AUTH_CONNECT_V4:
	case FWPS_LAYER_ALE_AUTH_CONNECT_V6:
		*out = AG_LAYER_ALE_AUTH_CONNECT;
		return 0;
	case FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4:
	case FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V6:
		*out = AG_LAYER_ALE_AUTH_RECV_ACCEPT;
		return 0;
	case FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4:
	case FWPS_LAYER_ALE_FLOW_ESTABLISHED_V6:
		*out = AG_LAYER_ALE_FLOW_ESTABLISHED;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Storage behind the pointers of one classify's values. */
struct values {
	FWPS_INCOMING_VALUE0 v[WFP_MAX_FIELDS];
	FWP_BYTE_BLOB app;
	FWP_BYTE_ARRAY16 local, remote;
	UINT64 luid;
};

static UINT32 addr4(const uint8_t *a)
{
	return (UINT32)a[0] << 24 | (UINT32)a[1] << 16 | (UINT32)a[2] << 8 | a[3];
}

static void put_addr(FWP_VALUE0 *v, FWP_BYTE_ARRAY16 *store, const ag_fixed_values *in,
		     const uint8_t *a)
{
	if (in->ip_version == 4) {
		v->type = FWP_UINT32;
		v->uint32 = addr4(a);
	} else {
		memcpy(store->byteArray16, a, sizeof(store->byteArray16));
		v->type = FWP_BYTE_ARRAY16_TYPE;
		v->byteArray16 = store;
	}
}

/*
 * The fields every ALE layer starts with share their indexes across the
 * three layers and both IP versions (wfp.h); what follows differs.
 */
static UINT32 fill_values(struct values *s, ag_layer layer, const ag_fixed_values *in)
{
	FWPS_INCOMING_VALUE0 *v = s->v;
	UINT32 flags = 0, n, iface, ifindex, flags_at, dir_at = 0;

	memset(s, 0, sizeof(*s));
	if (in->app_path) {
		s->app.size = (UINT32)strlen(in->app_path) + 1;
		s->app.data = (UINT8 *)(uintptr_t)in->app_path;
		v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_APP_ID].value.type = FWP_BYTE_BLOB_TYPE;
		v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_APP_ID].value.byteBlob = &s->app;
	}
	if (in->uid != AG_UID_UNKNOWN) {
		v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_USER_ID].value.type = FWP_UINT32;
		v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_USER_ID].value.uint32 = in->uid;
	}
	put_addr(&v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_LOCAL_ADDRESS].value, &s->local, in,
		 in->local_addr.b);
	put_addr(&v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_ADDRESS].value, &s->remote, in,
		 in->remote_addr.b);
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_LOCAL_PORT].value.type = FWP_UINT16;
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_LOCAL_PORT].value.uint16 = in->local_port;
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_PORT].value.type = FWP_UINT16;
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_PORT].value.uint16 = in->remote_port;
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_PROTOCOL].value.type = FWP_UINT8;
	v[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_PROTOCOL].value.uint8 = in->protocol;
	if (in->flags & AG_FLAG_IS_REAUTHORIZE)
		flags |= FWP_CONDITION_FLAG_IS_REAUTHORIZE;
	if (in->flags & AG_FLAG_IS_LOOPBACK)
		flags |= FWP_CONDITION_FLAG_IS_LOOPBACK;
	if (in->flags & AG_FLAG_IS_PENDED_DATA)
		flags |= FWP_CONDITION_FLAG_AG_PENDED_DATA;
	switch (layer) {
	case AG_LAYER_ALE_AUTH_CONNECT:
		n = FWPS_FIELD_ALE_AUTH_CONNECT_V4_MAX;
		iface = FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_LOCAL_INTERFACE;
		ifindex = FWPS_FIELD_ALE_AUTH_CONNECT_V4_INTERFACE_INDEX;
		flags_at = FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS;
		break;
	case AG_LAYER_ALE_AUTH_RECV_ACCEPT:
		n = FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_MAX;
		iface = FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_IP_LOCAL_INTERFACE;
		ifindex = FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_INTERFACE_INDEX;
		flags_at = FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_FLAGS;
		break;
	default:
		n = FWPS_FIELD_ALE_FLOW_ESTABLISHED_V4_MAX;
		iface = FWPS_FIELD_ALE_FLOW_ESTABLISHED_V4_IP_LOCAL_INTERFACE;
		ifindex = 0;
		flags_at = FWPS_FIELD_ALE_FLOW_ESTABLISHED_V4_FLAGS;
		dir_at = FWPS_FIELD_ALE_FLOW_ESTABLISHED_V4_DIRECTION;
		break;
	}
	v[flags_at].value.type = FWP_UINT32;
	v[flags_at].value.uint32 = flags;
	if (in->interface) {
		/* Windows names an interface by a LUID; Linux has the ifindex */
		s->luid = in->interface;
		v[iface].value.type = FWP_UINT64;
		v[iface].value.uint64 = &s->luid;
		if (ifindex) {
			v[ifindex].value.type = FWP_UINT32;
			v[ifindex].value.uint32 = in->interface;
		}
	}
	if (dir_at) {
		v[dir_at].value.type = FWP_UINT32;
		v[dir_at].value.uint32 =
			in->direction == AG_DIR_IN ? FWP_DIRECTION_INBOUND : FWP_DIRECTION_OUTBOUND;
	}
	return n;
}

/* ---- packets -------------------------------------------------------------------- */

static NET_BUFFER_LIST *nbl_new(const ag_packet *pkt, UINT16 layer, bool clone)
{
	NET_BUFFER_LIST *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->pkt = *pkt;
	n->layer_id = layer;
	n->clone = clone;
	atomic_init(&n->refs, 1);
	atomic_init(&n->state, 0);
	return n;
}

static void nbl_put(NET_BUFFER_LIST *n)
{
	if (!n || atomic_fetch_sub(&n->refs, 1) != 1)
		return;
	/* pended data referenced and never injected: dropped, as WFP frees it */
	if (n->data && n->kept)
		ag_packet_dereference(wfp_engine, n->flow, &n->pkt);
	free(n);
}

void FwpsReferenceNetBufferList0(NET_BUFFER_LIST *nbl, BOOLEAN intendToModify)
{
	ag_packet tmp;

	(void)intendToModify;
	if (!nbl)
		return;
	/* The engine keeps the packet past classify only if told so during
	 * it (-EALREADY: it was told already). */
	if (nbl == cur.nbl && cur.meta && ag_packet_reference(wfp_engine, cur.meta, &tmp) == 0)
		nbl->kept = true;
	atomic_fetch_add(&nbl->refs, 1);
}

void FwpsDereferenceNetBufferList0(NET_BUFFER_LIST *nbl, BOOLEAN dispatchLevel)
{
	(void)dispatchLevel;
	nbl_put(nbl);
}

NTSTATUS FwpsAllocateCloneNetBufferList0(NET_BUFFER_LIST *orig, NDIS_HANDLE nblPool,
					 NDIS_HANDLE nbPool, ULONG flags, NET_BUFFER_LIST **out)
{
	ag_packet tmp;

	(void)nblPool;
	(void)nbPool;
	(void)flags;
	if (!orig || !out)
		return STATUS_FWP_NULL_POINTER;
	if (orig == cur.nbl && cur.meta) {
		int r = orig->data ? ag_packet_reference(wfp_engine, cur.meta, &tmp)
				   : ag_packet_clone(wfp_engine, cur.meta, &tmp);

		if (r && r != -EALREADY)
			return status_of(r);
	} else if (atomic_load(&orig->refs) < 1) {
		return STATUS_INVALID_PARAMETER;
	}
	NET_BUFFER_LIST *n = nbl_new(&orig->pkt, orig->layer_id, true);

	if (!n)
		return STATUS_NO_MEMORY;
	n->pkt.flags |= AG_PACKET_CLONE;
	n->pend_ctx = orig->pend_ctx;
	n->data = orig->data;
	n->flow = orig->flow;
	if (orig == cur.nbl && cur.nclones < AG__ARRAY_SIZE(cur.clones))
		cur.clones[cur.nclones++] = n;
	*out = n;
	return STATUS_SUCCESS;
}

void FwpsFreeCloneNetBufferList0(NET_BUFFER_LIST *nbl, ULONG flags)
{
	(void)flags;
	nbl_put(nbl);
}

/* ---- classify, notify, flow delete --------------------------------------------- */

static void wfp_classify(ag_engine *e, ag_layer layer, const ag_fixed_values *in,
			 const ag_metadata *meta, const ag_filter *filter, uint64_t flow_context,
			 ag_classify_out *out, void *arg)
{
	struct wfp_callout *co = arg;
	struct values vals;
	FWPS_INCOMING_VALUES0 fixed = { .layerId = layer_id(layer, in->ip_version),
					.incomingValue = vals.v };
	FWPS_INCOMING_METADATA_VALUES0 md;
	FWP_BYTE_BLOB path;
	ag_filter_spec spec;
	NET_BUFFER_LIST *nbl = NULL;

	(void)e;
	fixed.valueCount = fill_values(&vals, layer, in);
	memset(&md, 0, sizeof(md));
	md.currentMetadataValues = FWPS_METADATA_FIELD_PACKET_DIRECTION;
	md.packetDirection = in->direction == AG_DIR_IN ? FWP_DIRECTION_INBOUND
							: FWP_DIRECTION_OUTBOUND;
	if (in->uid != AG_UID_UNKNOWN) {
		md.currentMetadataValues |= FWPS_METADATA_FIELD_TOKEN;
		md.token = in->uid;
	}
	if (meta->present & AG_META_FLOW_HANDLE) {
		md.currentMetadataValues |= FWPS_METADATA_FIELD_FLOW_HANDLE;
		md.flowHandle = meta->flow_handle;
	}
	if (meta->present & AG_META_PID) {
		md.currentMetadataValues |= FWPS_METADATA_FIELD_PROCESS_ID;
		md.processId = meta->pid;
	}
	if ((meta->present & AG_META_PROCESS_PATH) && meta->process_path) {
		path.size = (UINT32)strlen(meta->process_path) + 1;
		path.data = (UINT8 *)(uintptr_t)meta->process_path;
		md.currentMetadataValues |= FWPS_METADATA_FIELD_PROCESS_PATH;
		md.processPath = &path;
	}
	if (meta->present & AG_META_COMPLETION_HANDLE) {
		md.currentMetadataValues |= FWPS_METADATA_FIELD_COMPLETION_HANDLE;
		md.completionHandle = (HANDLE)(uintptr_t)meta->completion_handle;
	}
	if (meta->present & AG_META_CMDLINE)
		md.commandLine = meta->cmdline;
	if ((meta->present & AG_META_PACKET) && meta->packet) {
		nbl = nbl_new(meta->packet, fixed.layerId, false);
		if (nbl) {
			nbl->data = in->flags & AG_FLAG_IS_PENDED_DATA;
			nbl->flow = meta->flow_handle;
		}
	}

	ag_filter_describe(filter, &spec);
	FWPS_FILTER0 f = {
		.filterId = ag_filter_id(filter),
		.weight = { .type = FWP_UINT32, .uint32 = spec.weight },
		/* WFP has no filter of two layers: the layer classified is the one */
		.flags = (UINT16)(spec.flags & ~(uint32_t)AG_FILTER_FLAG_ALSO_RECV_ACCEPT),
		.action = { .type = spec.action == AG_ACTION_CALLOUT_TERMINATING
					    ? FWP_ACTION_CALLOUT_TERMINATING
				    : spec.action == AG_ACTION_CALLOUT_INSPECTION
					    ? FWP_ACTION_CALLOUT_INSPECTION
					    : FWP_ACTION_CALLOUT_UNKNOWN,
			    .calloutId = co->id },
		.context = spec.context,
	};
	FWPS_CLASSIFY_OUT0 o = {
		.actionType = FWP_ACTION_CONTINUE,
		.filterId = f.filterId,
		.rights = out->rights & AG_RIGHT_ACTION_WRITE ? FWPS_RIGHT_ACTION_WRITE : 0,
	};
	/* nested classifies (a completion inside a callout) keep the outer one */
	struct wfp_cur saved = cur;

	memset(&cur, 0, sizeof(cur));
	cur.meta = meta;
	cur.nbl = nbl;
	co->c.classifyFn(&fixed, &md, nbl, &f, flow_context, &o);
	/* What was kept of this packet belongs to the pend it started. */
	if (cur.pend_ctx) {
		if (nbl)
			nbl->pend_ctx = cur.pend_ctx;
		for (unsigned i = 0; i < cur.nclones; i++)
			cur.clones[i]->pend_ctx = cur.pend_ctx;
	}
	cur = saved;
	nbl_put(nbl);

	if (o.actionType == FWP_ACTION_PERMIT)
		out->action = AG_ACTION_PERMIT;
	else if (o.actionType == FWP_ACTION_BLOCK)
		out->action = AG_ACTION_BLOCK;
	else
		out->action = AG_ACTION_CONTINUE;
	if (!(o.rights & FWPS_RIGHT_ACTION_WRITE))
		out->rights &= ~(uint32_t)AG_RIGHT_ACTION_WRITE;
	if (o.flags & FWPS_CLASSIFY_OUT_FLAG_ABSORB)
		out->flags |= AG_CLASSIFY_OUT_FLAG_ABSORB;
}

static int wfp_notify(ag_engine *e, ag_notify_type type, const ag_filter *filter, void *arg)
{
	struct wfp_callout *co = arg;
	ag_filter_spec spec;

	(void)e;
	ag_filter_describe(filter, &spec);
	FWPS_FILTER0 f = {
		.filterId = ag_filter_id(filter),
		.weight = { .type = FWP_UINT32, .uint32 = spec.weight },
		.action = { .type = FWP_ACTION_CALLOUT_UNKNOWN, .calloutId = co->id },
		.context = spec.context,
	};
	NTSTATUS s = co->c.notifyFn(type == AG_NOTIFY_FILTER_ADD ? FWPS_CALLOUT_NOTIFY_ADD_FILTER
								 : FWPS_CALLOUT_NOTIFY_DELETE_FILTER,
				    NULL, &f);
	return NT_SUCCESS(s) ? 0 : -EINVAL;
}

static void wfp_flow_delete(ag_engine *e, ag_layer layer, uint64_t flow_handle,
			    uint64_t flow_context, void *arg)
{
	struct wfp_callout *co = arg;
	ag_flow_info info;
	uint8_t ver = 4;

	if (ag_flow_get(e, flow_handle, &info) == 0)
		ver = info.fixed.ip_version;
	co->c.flowDeleteFn(layer_id(layer, ver), co->id, flow_context);
}

/* ---- callouts ------------------------------------------------------------------- */

static struct wfp_callout *callout_by_id(UINT32 id)
{
	return id && id <= WFP_MAX_CALLOUTS ? callouts[id - 1] : NULL;
}

NTSTATUS FwpsCalloutRegister0(void *deviceObject, const FWPS_CALLOUT0 *callout,
			      UINT32 *calloutId)
{
	ag_engine *e = deviceObject ? deviceObject : wfp_engine;
	unsigned slot = WFP_MAX_CALLOUTS;

	if (!e || !callout || !callout->classifyFn)
		return STATUS_FWP_NULL_POINTER;
	for (unsigned i = WFP_MAX_CALLOUTS; i-- > 0;) {
		if (!callouts[i])
			slot = i;
		else if (e != wfp_engine)
			return STATUS_INVALID_PARAMETER; /* one engine at a time */
	}
	if (slot == WFP_MAX_CALLOUTS)
		return STATUS_INSUFFICIENT_RESOURCES;
	struct wfp_callout *co = calloc(1, sizeof(*co));

	if (!co)
		return STATUS_NO_MEMORY;
	co->id = slot + 1;
	co->key = callout->calloutKey;
	co->c = *callout;
	ag_wfp_guid_name(&co->key, co->name);
	ag_callout c = {
		.name = co->name,
		.classify = wfp_classify,
		.notify = callout->notifyFn ? wfp_notify : NULL,
		.flow_delete = callout->flowDeleteFn ? wfp_flow_delete : NULL,
		.arg = co,
	};
	int r = ag_callout_register(e, &c);

	if (r) {
		free(co);
		return r == -EEXIST ? STATUS_FWP_ALREADY_EXISTS : status_of(r);
	}
	wfp_engine = e;
	callouts[slot] = co;
	if (calloutId)
		*calloutId = co->id;
	return STATUS_SUCCESS;
}

NTSTATUS FwpsCalloutUnregisterById0(const UINT32 calloutId)
{
	struct wfp_callout *co = callout_by_id(calloutId);

	if (!co || !wfp_engine)
		return STATUS_FWP_CALLOUT_NOT_FOUND;
	int r = ag_callout_unregister(wfp_engine, co->name);

	if (r == -EBUSY)
		return STATUS_DEVICE_BUSY;
	if (r)
		return STATUS_FWP_CALLOUT_NOT_FOUND;
	callouts[calloutId - 1] = NULL;
	free(co);
	return STATUS_SUCCESS;
}

NTSTATUS FwpsCalloutUnregisterByKey0(const GUID *calloutKey)
{
	for (unsigned i = 0; calloutKey && i < WFP_MAX_CALLOUTS; i++)
		if (callouts[i] && memcmp(&callouts[i]->key, calloutKey, sizeof(GUID)) == 0)
			return FwpsCalloutUnregisterById0(callouts[i]->id);
	return STATUS_FWP_CALLOUT_NOT_FOUND;
}

/* ---- pend and complete ---------------------------------------------------------- */

NTSTATUS FwpsPendOperation0(HANDLE completionHandle, HANDLE *completionContext)
{
	uint64_t ctx = 0;

	if (!wfp_engine || !completionContext)
		return STATUS_FWP_NULL_POINTER;
	int r = ag_pend_operation(wfp_engine, (uint64_t)(uintptr_t)completionHandle, &ctx);

	if (r)
		return status_of(r);
	cur.pend_ctx = ctx;
	*completionContext = (HANDLE)(uintptr_t)ctx;
	return STATUS_SUCCESS;
}

static bool is_recv_accept(UINT16 id)
{
	return id == FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4 || id == FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V6;
}

/* The second of complete and inject hands the clone back to the engine. */
static void nbl_reinject(NET_BUFFER_LIST *nbl)
{
	ag_inject_receive_async(wfp_engine, nbl->inject_handle, nbl->pend_ctx, &nbl->pkt);
	if (nbl->inject_done)
		nbl->inject_done(nbl->inject_done_ctx, nbl, 0);
}

void FwpsCompleteOperation0(HANDLE completionContext, NET_BUFFER_LIST *nbl)
{
	uint64_t ctx = (uint64_t)(uintptr_t)completionContext;

	if (!wfp_engine)
		return;
	if (nbl && nbl->clone && is_recv_accept(nbl->layer_id)) {
		nbl->pend_ctx = ctx;
		if (atomic_fetch_or(&nbl->state, NBL_COMPLETED) & NBL_INJECTED)
			nbl_reinject(nbl);
		return;
	}
	/* CONNECT: the reauthorization decides, the packet changes nothing.
	 * RECV_ACCEPT without the clone: denied. */
	ag_complete_operation(wfp_engine, ctx, NULL);
}

/* The callout and layer a flow-context call names, or the status that refuses it. */
static NTSTATUS flow_context_args(UINT16 layerId, UINT32 calloutId, struct wfp_callout **co,
				  ag_layer *layer)
{
	*co = callout_by_id(calloutId);
	if (!*co || !wfp_engine)
		return STATUS_FWP_CALLOUT_NOT_FOUND;
	if (layer_of(layerId, layer))
		return STATUS_INVALID_PARAMETER;
	return STATUS_SUCCESS;
}

NTSTATUS FwpsFlowAssociateContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId,
				   UINT64 flowContext)
{
	struct wfp_callout *co;
	ag_layer layer;
	NTSTATUS st = flow_context_args(layerId, calloutId, &co, &layer);

	if (st != STATUS_SUCCESS)
		return st;
	return status_of(
		ag_flow_associate_context(wfp_engine, flowId, layer, co->name, flowContext));
}

NTSTATUS FwpsFlowRemoveContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId)
{
	struct wfp_callout *co;
	ag_layer layer;
	NTSTATUS st = flow_context_args(layerId, calloutId, &co, &layer);

	if (st != STATUS_SUCCESS)
		return st;
	return status_of(ag_flow_remove_context(wfp_engine, flowId, layer, co->name));
}

/* ---- injection -------------------------------------------------------------------- */

NTSTATUS FwpsInjectionHandleCreate0(ADDRESS_FAMILY addressFamily, UINT32 flags,
				    HANDLE *injectionHandle)
{
	uint64_t h;

	(void)addressFamily;
	(void)flags;
	if (!wfp_engine || !injectionHandle)
		return STATUS_FWP_NULL_POINTER;
	int r = ag_injection_handle_create(wfp_engine, &h);

	if (r)
		return status_of(r);
	*injectionHandle = (HANDLE)(uintptr_t)h;
	return STATUS_SUCCESS;
}

NTSTATUS FwpsInjectionHandleDestroy0(HANDLE injectionHandle)
{
	if (!wfp_engine)
		return STATUS_FWP_NULL_POINTER;
	return status_of(ag_injection_handle_destroy(wfp_engine, (uint64_t)(uintptr_t)injectionHandle));
}

FWPS_PACKET_INJECTION_STATE FwpsQueryPacketInjectionState0(HANDLE injectionHandle,
							   const NET_BUFFER_LIST *nbl,
							   HANDLE *injectionContext)
{
	if (injectionContext)
		*injectionContext = NULL;
	if (!nbl)
		return FWPS_PACKET_NOT_INJECTED;
	switch (ag_packet_injection_state(wfp_engine, (uint64_t)(uintptr_t)injectionHandle,
					  &nbl->pkt)) {
	case AG_PACKET_INJECTED_BY_SELF:
		return FWPS_PACKET_INJECTED_BY_SELF;
	case AG_PACKET_INJECTED_BY_OTHER:
		return FWPS_PACKET_INJECTED_BY_OTHER;
	case AG_PACKET_PREVIOUSLY_INJECTED_BY_SELF:
		return FWPS_PACKET_PREVIOUSLY_INJECTED_BY_SELF;
	default:
		return FWPS_PACKET_NOT_INJECTED;
	}
}

/* Pended data the callout referenced goes out on its behalf. */
static NTSTATUS inject_data(HANDLE injectionHandle, NET_BUFFER_LIST *nbl,
			    FWPS_INJECT_COMPLETE0 completionFn, HANDLE completionContext)
{
	int r = ag_inject_referenced(wfp_engine, (uint64_t)(uintptr_t)injectionHandle, nbl->flow,
				     &nbl->pkt);

	if (r)
		return status_of(r);
	if (completionFn)
		completionFn(completionContext, nbl, 0);
	return STATUS_SUCCESS;
}

NTSTATUS FwpsInjectTransportSendAsync0(HANDLE injectionHandle, HANDLE injectionContext,
				       UINT64 endpointHandle, UINT32 flags, void *sendArgs,
				       ADDRESS_FAMILY addressFamily, COMPARTMENT_ID compartmentId,
				       NET_BUFFER_LIST *nbl, FWPS_INJECT_COMPLETE0 completionFn,
				       HANDLE completionContext)
{
	(void)injectionContext;
	(void)endpointHandle;
	(void)flags;
	(void)sendArgs;
	(void)addressFamily;
	(void)compartmentId;
	if (!wfp_engine || !nbl)
		return STATUS_FWP_NULL_POINTER;
	if (!nbl->data)
		return STATUS_INVALID_PARAMETER; /* only pended data is sent again */
	return inject_data(injectionHandle, nbl, completionFn, completionContext);
}

NTSTATUS FwpsInjectTransportReceiveAsync0(HANDLE injectionHandle, HANDLE injectionContext,
					  void *reserved, UINT32 flags,
					  ADDRESS_FAMILY addressFamily,
					  COMPARTMENT_ID compartmentId, IF_INDEX interfaceIndex,
					  IF_INDEX subInterfaceIndex, NET_BUFFER_LIST *nbl,
					  FWPS_INJECT_COMPLETE0 completionFn,
					  HANDLE completionContext)
{
	(void)injectionContext;
	(void)reserved;
	(void)flags;
	(void)addressFamily;
	(void)compartmentId;
	(void)interfaceIndex;
	(void)subInterfaceIndex;
	if (!wfp_engine || !nbl || !injectionHandle)
		return STATUS_FWP_NULL_POINTER;
	if (nbl->data)
		return inject_data(injectionHandle, nbl, completionFn, completionContext);
	if (!nbl->clone || !is_recv_accept(nbl->layer_id))
		return STATUS_INVALID_PARAMETER;
	nbl->inject_handle = (uint64_t)(uintptr_t)injectionHandle;
	nbl->inject_done = completionFn;
	nbl->inject_done_ctx = completionContext;
	if (atomic_fetch_or(&nbl->state, NBL_INJECTED) & NBL_COMPLETED)
		nbl_reinject(nbl);
	return STATUS_SUCCESS;
}
