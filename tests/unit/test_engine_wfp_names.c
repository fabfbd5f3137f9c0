/*
 * test_engine_wfp_names.c — a callout written with WFP's own names
 * (alegate/wfp.h) runs on the engine as it would on Windows: fields in the
 * layer's order, pend at CONNECT completed from its worker, a RECV_ACCEPT
 * packet referenced, cloned in the worker, completed and reinjected, the
 * documented status codes.
 */
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "alegate/wfp.h"
#include "check.h"
#include "engine_fixture.h"

static const GUID key = { 0x6c3a7a10, 0x5b2e, 0x4f3d, { 0x9a, 0x41, 0x2b, 0x7c, 0x11, 0xd0,
							 0x42, 0x01 } };
#define KEY_NAME "6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201"

static struct {
	int calls;
	UINT16 layer;
	UINT32 count;
	UINT16 rport;
	UINT8 proto;
	UINT32 flags;
	char app[64];
	bool has_handle;
	NTSTATUS pend_status;
	HANDLE ctx;
	NET_BUFFER_LIST *held;
	FWPS_PACKET_INJECTION_STATE inj;
	UINT32 deleted;
	UINT64 flow;
	NET_BUFFER_LIST *data[4];
	int ndata;
} w;

static HANDLE inj_handle;
static int wake_pipe[2];

static void wake(void *arg)
{
	char b = 1;

	(void)arg;
	if (write(wake_pipe[1], &b, 1) < 0) {
		/* a full pipe wakes the owner already */
	}
}

static void NTAPI classify(const FWPS_INCOMING_VALUES0 *in, const FWPS_INCOMING_METADATA_VALUES0 *md,
			   void *layerData, const FWPS_FILTER0 *filter, UINT64 flowContext,
			   FWPS_CLASSIFY_OUT0 *out)
{
	w.calls++;
	w.layer = in->layerId;
	w.count = in->valueCount;
	w.rport = in->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_PORT].value.uint16;
	w.proto = in->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_PROTOCOL].value.uint8;
	if (in->layerId == FWPS_LAYER_ALE_AUTH_CONNECT_V4 ||
	    in->layerId == FWPS_LAYER_ALE_AUTH_CONNECT_V6)
		w.flags = in->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS].value.uint32;
	else
		w.flags = in->incomingValue[FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_FLAGS].value.uint32;
	const FWP_VALUE0 *app = &in->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_ALE_APP_ID].value;

	snprintf(w.app, sizeof(w.app), "%s",
		 app->type == FWP_BYTE_BLOB_TYPE ? (const char *)app->byteBlob->data : "");
	w.has_handle = FWPS_IS_METADATA_FIELD_PRESENT(md, FWPS_METADATA_FIELD_COMPLETION_HANDLE);
	if (FWPS_IS_METADATA_FIELD_PRESENT(md, FWPS_METADATA_FIELD_FLOW_HANDLE))
		w.flow = md->flowHandle;
	if (w.flags & FWP_CONDITION_FLAG_AG_PENDED_DATA) {
		/* a later packet of the pended connection: keep it to send later */
		if (w.ndata < 4) {
			FwpsReferenceNetBufferList0(layerData, 0);
			w.data[w.ndata++] = layerData;
		}
		return;
	}
	if (in->layerId == FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4) {
		w.inj = FwpsQueryPacketInjectionState0(inj_handle, layerData, NULL);
		if (w.inj == FWPS_PACKET_INJECTED_BY_SELF) {
			out->actionType = FWP_ACTION_PERMIT;
			return;
		}
	}
	if (!w.has_handle)
		return;
	w.pend_status = FwpsPendOperation0(md->completionHandle, &w.ctx);
	if (w.pend_status == STATUS_FWP_CANNOT_PEND) {
		out->actionType = FWP_ACTION_PERMIT; /* decide at once */
		return;
	}
	if (!NT_SUCCESS(w.pend_status))
		return;
	if (in->layerId == FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4) {
		FwpsReferenceNetBufferList0(layerData, 1);
		w.held = layerData;
	}
	out->actionType = FWP_ACTION_BLOCK;
	out->rights &= ~(UINT32)FWPS_RIGHT_ACTION_WRITE;
	out->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
}

static NTSTATUS NTAPI notify(FWPS_CALLOUT_NOTIFY_TYPE t, const GUID *k, const FWPS_FILTER0 *f)
{
	return STATUS_SUCCESS;
}

static void NTAPI flow_delete(UINT16 layerId, UINT32 calloutId, UINT64 flowContext)
{
	w.deleted = (UINT32)flowContext;
}

static UINT32 setup(ag_engine *e, ag_layer layer)
{
	FWPS_CALLOUT0 c = { .calloutKey = key, .classifyFn = classify, .notifyFn = notify,
			    .flowDeleteFn = flow_delete };
	UINT32 id = 0;

	memset(&w, 0, sizeof(w));
	if (FwpsCalloutRegister0(e, &c, &id) != STATUS_SUCCESS)
		return 0;
	if (!fx_filter(e, layer, 0, 1, AG_ACTION_CALLOUT_UNKNOWN, KEY_NAME, 0, NULL, 0))
		return 0;
	return id;
}

static void *complete_connect(void *arg)
{
	(void)arg;
	FwpsCompleteOperation0(w.ctx, NULL);
	return NULL;
}

static void *clone_complete_inject(void *arg)
{
	NET_BUFFER_LIST *clone = NULL;

	(void)arg;
	if (FwpsAllocateCloneNetBufferList0(w.held, NULL, NULL, 0, &clone) != STATUS_SUCCESS)
		return NULL;
	FwpsDereferenceNetBufferList0(w.held, 0);
	FwpsCompleteOperation0(w.ctx, clone);
	FwpsInjectTransportReceiveAsync0(inj_handle, NULL, NULL, 0, 2, 0, 0, 0, clone, NULL,
					 NULL);
	FwpsFreeCloneNetBufferList0(clone, 0);
	return NULL;
}

static void wait_released(ag_engine *e, size_t n)
{
	for (int i = 0; i < 500 && dp.release_calls < n; i++) {
		struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
		char buf[16];

		if (poll(&p, 1, 10) == 1 && read(wake_pipe[0], buf, sizeof(buf)) > 0)
			ag_engine_run_completions(e);
	}
}

TEST(wfp_callout_key_is_its_rule_name_as_a_lowercase_guid)
{
	char name[37];

	ag_wfp_guid_name(&key, name);
	CHECK(strcmp(name, KEY_NAME) == 0);
}

TEST(wfp_callout_gets_fields_in_wfp_order_pends_at_connect_and_its_worker_completes)
{
	ag_engine *e = fx_engine();
	UINT32 id = setup(e, AG_LAYER_ALE_AUTH_CONNECT);
	ag_fixed_values in = fx_tcp4(42000, 8443, "/usr/bin/curl");
	ag_packet p = fx_pkt(1);
	pthread_t t;

	CHECK(id);
	CHECK_EQ(pipe(wake_pipe), 0);
	ag_engine_set_wake(e, wake, NULL);
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL), AG_VERDICT_HOLD);
	CHECK_EQ(w.layer, FWPS_LAYER_ALE_AUTH_CONNECT_V4);
	CHECK_EQ(w.count, FWPS_FIELD_ALE_AUTH_CONNECT_V4_MAX);
	CHECK_EQ(w.rport, 8443);
	CHECK_EQ(w.proto, 6);
	CHECK(strcmp(w.app, "/usr/bin/curl") == 0);
	CHECK_EQ(w.pend_status, STATUS_SUCCESS);
	CHECK(pthread_create(&t, NULL, complete_connect, NULL) == 0);
	pthread_join(t, NULL);
	wait_released(e, 1);
	CHECK_EQ(dp.release_calls, 1);
	/* the completion's reauthorization: handle present, pend refused */
	CHECK_EQ(w.calls, 2);
	CHECK(w.flags & FWP_CONDITION_FLAG_IS_REAUTHORIZE);
	CHECK(w.has_handle);
	CHECK_EQ(w.pend_status, STATUS_FWP_CANNOT_PEND);
	CHECK_EQ(FwpsCalloutUnregisterById0(id), STATUS_SUCCESS);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	ag_engine_free(e);
}

TEST(wfp_recv_accept_packet_referenced_cloned_in_the_worker_completed_and_reinjected)
{
	ag_engine *e = fx_engine();
	UINT32 id = setup(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT);
	ag_fixed_values in = fx_tcp4(22, 52000, "/usr/sbin/sshd");
	ag_packet p = fx_pkt(7);
	pthread_t t;

	CHECK(id);
	CHECK_EQ(pipe(wake_pipe), 0);
	ag_engine_set_wake(e, wake, NULL);
	CHECK_EQ(FwpsInjectionHandleCreate0(2, FWPS_INJECTION_TYPE_TRANSPORT, &inj_handle),
		 STATUS_SUCCESS);
	in.direction = AG_DIR_IN;
	CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_RECV_ACCEPT, &in, NULL, &p, NULL),
		 AG_VERDICT_HOLD);
	CHECK_EQ(w.layer, FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4);
	CHECK_EQ(w.inj, FWPS_PACKET_NOT_INJECTED);
	CHECK(w.held != NULL);
	CHECK(pthread_create(&t, NULL, clone_complete_inject, NULL) == 0);
	pthread_join(t, NULL);
	wait_released(e, 1);
	/* the reinjected clone came back through classify as this handle's own */
	CHECK_EQ(w.inj, FWPS_PACKET_INJECTED_BY_SELF);
	CHECK_EQ(dp.release_calls, 1);
	CHECK_EQ(dp.released[0].token, 7);
	CHECK_EQ(FwpsInjectionHandleDestroy0(inj_handle), STATUS_SUCCESS);
	CHECK_EQ(FwpsCalloutUnregisterById0(id), STATUS_SUCCESS);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	ag_engine_free(e);
}

TEST(wfp_flow_context_and_unregister_return_the_documented_status)
{
	ag_engine *e = fx_engine();
	UINT32 id = setup(e, AG_LAYER_ALE_AUTH_CONNECT);
	ag_fixed_values in = fx_tcp4(42001, 443, "/bin/a");
	ag_packet p = fx_pkt(2);

	CHECK(id);
	/* a reauthorization-only flow: permit it by completing at once */
	ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL);
	FwpsCompleteOperation0(w.ctx, NULL);
	CHECK(w.flow != 0);
	CHECK_EQ(FwpsFlowAssociateContext0(w.flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id, 0),
		 STATUS_INVALID_PARAMETER);
	CHECK_EQ(FwpsFlowAssociateContext0(w.flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id, 41),
		 STATUS_SUCCESS);
	CHECK_EQ(FwpsFlowAssociateContext0(w.flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id, 42),
		 STATUS_OBJECT_NAME_EXISTS);
	CHECK_EQ(FwpsCalloutUnregisterById0(id), STATUS_DEVICE_BUSY);
	CHECK_EQ(FwpsFlowRemoveContext0(w.flow, FWPS_LAYER_ALE_AUTH_CONNECT_V4, id),
		 STATUS_SUCCESS);
	CHECK_EQ(w.deleted, 41);
	CHECK_EQ(FwpsCalloutUnregisterByKey0(&key), STATUS_SUCCESS);
	CHECK_EQ(FwpsCalloutUnregisterById0(id), STATUS_FWP_CALLOUT_NOT_FOUND);
	ag_engine_free(e);
}

static void *complete_then_send(void *arg)
{
	(void)arg;
	FwpsCompleteOperation0(w.ctx, NULL);
	/* on the application's behalf, in the callout's order: the last one
	 * first, and the first one never (dropped) */
	for (int i = w.ndata; i-- > 1;)
		FwpsInjectTransportSendAsync0(inj_handle, NULL, 0, 0, NULL, 10, 0, w.data[i], NULL,
					      NULL);
	for (int i = 0; i < w.ndata; i++)
		FwpsDereferenceNetBufferList0(w.data[i], 0);
	return NULL;
}

TEST(wfp_callout_references_pended_data_and_sends_it_after_completion_from_its_worker)
{
	ag_engine *e = fx_engine();
	UINT32 id = setup(e, AG_LAYER_ALE_AUTH_CONNECT);
	ag_fixed_values in = fx_udp6(42010, 53, "/usr/bin/dig");
	pthread_t t;

	CHECK(id);
	CHECK_EQ(pipe(wake_pipe), 0);
	ag_engine_set_wake(e, wake, NULL);
	CHECK_EQ(FwpsInjectionHandleCreate0(10, FWPS_INJECTION_TYPE_TRANSPORT, &inj_handle),
		 STATUS_SUCCESS);
	for (uint64_t k = 70; k < 74; k++) {
		ag_packet p = fx_pkt(k);

		CHECK_EQ(ag_classify(e, AG_LAYER_ALE_AUTH_CONNECT, &in, NULL, &p, NULL),
			 AG_VERDICT_HOLD);
	}
	CHECK_EQ(w.ndata, 3);
	CHECK(pthread_create(&t, NULL, complete_then_send, NULL) == 0);
	pthread_join(t, NULL);
	wait_released(e, 3);
	ag_engine_run_completions(e);
	CHECK_EQ(dp.n_released, 3);
	CHECK_EQ(dp.released[0].token, 70); /* the first, with the completion */
	CHECK_EQ(dp.released[1].token, 73);
	CHECK_EQ(dp.released[2].token, 72);
	CHECK_EQ(dp.n_dropped, 1);
	CHECK_EQ(dp.dropped[0].token, 71);
	CHECK_EQ(FwpsInjectionHandleDestroy0(inj_handle), STATUS_SUCCESS);
	CHECK_EQ(FwpsCalloutUnregisterById0(id), STATUS_SUCCESS);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	ag_engine_free(e);
}
