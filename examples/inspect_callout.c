/*
 * examples/inspect_callout.c — an inspect-style callout module for alegated,
 * written with WFP's own names (alegate/wfp.h).
 *
 * What it does, as a Windows inspection callout does:
 *  - classify pends every new connection at ALE_AUTH_CONNECT and
 *    ALE_AUTH_RECV_ACCEPT and hands it to a worker thread; at RECV_ACCEPT it
 *    first references the packet, so it can clone it later;
 *  - the worker decides (here: block the remote ports listed in `block=`,
 *    permit the rest) after `delay_ms`, and completes the operation:
 *      CONNECT: FwpsCompleteOperation0, then the reauthorization that
 *        follows asks classify again, which answers from the decision;
 *      RECV_ACCEPT: a permitted connection is completed with a clone of the
 *        packet, which is reinjected; its classify recognises it as
 *        injected by this callout and permits it.  A blocked one is
 *        completed with NULL and its packet dropped;
 *  - what a pended connection sends meanwhile (more UDP datagrams, SYN
 *    retransmits) comes to classify as pended data: it is referenced and,
 *    once the worker permitted the connection, sent on the application's
 *    behalf in order (FwpsInjectTransportSendAsync0); blocked, it is dropped;
 *  - every step is written to the file named by `log=`, one line each.
 *
 * Load it from alegate.conf, its argument after a colon, items separated by
 * commas:
 *	callout_modules = /usr/local/lib/alegate/inspect_callout.so:block=8081,log=/run/inspect.log
 * and give it flows with a rule:
 *	alegatectl rules add --action callout --callout 6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201 \
 *	    --port 8080-8081 --always
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alegate/wfp.h"

/* {6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201} */
static const GUID INSPECT_CALLOUT_KEY = {
	0x6c3a7a10, 0x5b2e, 0x4f3d, { 0x9a, 0x41, 0x2b, 0x7c, 0x11, 0xd0, 0x42, 0x01 }
};

#define MAX_BLOCK 16
#define MAX_DECIDED 4096
#define MAX_DATA_FLOWS 64
#define MAX_DATA 16

/* Pended data of one connection, kept until its worker decides. */
struct data {
	UINT64 flow;
	unsigned n;
	NET_BUFFER_LIST *nbl[MAX_DATA];
};

/* A connection waiting for the worker. */
struct pended {
	struct pended *next;
	HANDLE ctx;
	UINT64 flow;
	UINT16 layer;
	UINT16 remote_port;
	NET_BUFFER_LIST *packet; /* RECV_ACCEPT: referenced in classify */
};

static struct {
	UINT32 callout_id;
	HANDLE injection;
	UINT16 block[MAX_BLOCK];
	unsigned nblock;
	unsigned delay_ms;
	FILE *log;

	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;
	bool stop;
	struct pended *head, **tail;
	/* the worker's decisions, for the reauthorization that follows a
	 * CONNECT completion: flow handle -> permit */
	struct {
		UINT64 flow;
		bool permit;
	} decided[MAX_DECIDED];
	unsigned ndecided;
	struct data data[MAX_DATA_FLOWS];
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (!g.log)
		return;
	pthread_mutex_lock(&g.lock);
	va_start(ap, fmt);
	vfprintf(g.log, fmt, ap);
	va_end(ap);
	fputc('\n', g.log);
	fflush(g.log);
	pthread_mutex_unlock(&g.lock);
}

static const char *layer_name(UINT16 layer)
{
	return layer == FWPS_LAYER_ALE_AUTH_CONNECT_V4 || layer == FWPS_LAYER_ALE_AUTH_CONNECT_V6
		       ? "connect"
		       : "recv_accept";
}

static bool blocked_port(UINT16 port)
{
	for (unsigned i = 0; i < g.nblock; i++)
		if (g.block[i] == port)
			return true;
	return false;
}

/* The worker's answer for a flow: -1 none yet, 0 block, 1 permit.  Kept
 * for the flow's later reauthorizations (a SYN retransmit of a blocked
 * connection is one). */
static int decision_of(UINT64 flow)
{
	int r = -1;

	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < g.ndecided; i++) {
		if (g.decided[i].flow == flow) {
			r = g.decided[i].permit;
			break;
		}
	}
	pthread_mutex_unlock(&g.lock);
	return r;
}

static void remember(UINT64 flow, bool permit)
{
	pthread_mutex_lock(&g.lock);
	/* a bounded table: the oldest answer goes first */
	if (g.ndecided == MAX_DECIDED) {
		memmove(&g.decided[0], &g.decided[1], (MAX_DECIDED - 1) * sizeof(g.decided[0]));
		g.ndecided--;
	}
	g.decided[g.ndecided].flow = flow;
	g.decided[g.ndecided].permit = permit;
	g.ndecided++;
	pthread_mutex_unlock(&g.lock);
}

/* Keep a later packet of a pended connection (classify, engine thread). */
static void keep_data(UINT64 flow, NET_BUFFER_LIST *nbl, UINT16 rport)
{
	struct data *d = NULL, *free_slot = NULL;

	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < MAX_DATA_FLOWS; i++) {
		if (g.data[i].flow == flow)
			d = &g.data[i];
		else if (!g.data[i].flow && !free_slot)
			free_slot = &g.data[i];
	}
	if (!d && free_slot) {
		d = free_slot;
		d->flow = flow;
	}
	if (d && d->n < MAX_DATA) {
		FwpsReferenceNetBufferList0(nbl, 0);
		d->nbl[d->n++] = nbl;
	} else {
		d = NULL;
	}
	pthread_mutex_unlock(&g.lock);
	if (d)
		say("port %u: pended data kept", rport);
}

/* The worker takes a connection's pended data.  What arrives after it took
 * it and before the completion is applied is the engine's to drop when the
 * flow ends. */
static struct data take_data(UINT64 flow)
{
	struct data out = { 0 };

	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < MAX_DATA_FLOWS; i++) {
		if (g.data[i].flow != flow)
			continue;
		out = g.data[i];
		memset(&g.data[i], 0, sizeof(g.data[i]));
		break;
	}
	pthread_mutex_unlock(&g.lock);
	return out;
}

static void set_action(FWPS_CLASSIFY_OUT0 *out, FWP_ACTION_TYPE action)
{
	out->actionType = action;
	if (action == FWP_ACTION_BLOCK)
		out->rights &= ~(UINT32)FWPS_RIGHT_ACTION_WRITE;
}

static void NTAPI inspect_classify(const FWPS_INCOMING_VALUES0 *in,
				   const FWPS_INCOMING_METADATA_VALUES0 *meta, void *layerData,
				   const FWPS_FILTER0 *filter, UINT64 flowContext,
				   FWPS_CLASSIFY_OUT0 *out)
{
	bool connect = in->layerId == FWPS_LAYER_ALE_AUTH_CONNECT_V4 ||
		       in->layerId == FWPS_LAYER_ALE_AUTH_CONNECT_V6;
	/* the same index at both layers and both IP versions */
	UINT16 rport = in->incomingValue[FWPS_FIELD_ALE_AUTH_CONNECT_V4_IP_REMOTE_PORT].value.uint16;
	UINT32 flags = in->incomingValue[connect ? FWPS_FIELD_ALE_AUTH_CONNECT_V4_FLAGS
						 : FWPS_FIELD_ALE_AUTH_RECV_ACCEPT_V4_FLAGS]
			       .value.uint32;
	UINT64 flow = FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_FLOW_HANDLE)
			      ? meta->flowHandle
			      : 0;
	struct pended *p;
	NTSTATUS st;

	(void)filter;
	(void)flowContext;
	if (flags & FWP_CONDITION_FLAG_AG_PENDED_DATA) {
		if (layerData && flow)
			keep_data(flow, layerData, rport);
		return;
	}
	if (!(out->rights & FWPS_RIGHT_ACTION_WRITE))
		return; /* someone above decided for good */
	if (!connect && layerData &&
	    FwpsQueryPacketInjectionState0(g.injection, layerData, NULL) ==
		    FWPS_PACKET_INJECTED_BY_SELF) {
		say("recv_accept reinjected clone port %u: permit", rport);
		set_action(out, FWP_ACTION_PERMIT);
		return;
	}
	if (!FWPS_IS_METADATA_FIELD_PRESENT(meta, FWPS_METADATA_FIELD_COMPLETION_HANDLE)) {
		set_action(out, FWP_ACTION_PERMIT);
		return;
	}
	if (flags & FWP_CONDITION_FLAG_IS_REAUTHORIZE) {
		/* A reauthorization cannot pend: WFP says so with CANNOT_PEND,
		 * the handle is there all the same.  Answer what the worker said. */
		HANDLE ctx;
		int d;

		st = FwpsPendOperation0(meta->completionHandle, &ctx);
		say("%s reauthorize port %u: pend 0x%08x%s", layer_name(in->layerId), rport,
		    (unsigned)st, st == STATUS_FWP_CANNOT_PEND ? " STATUS_FWP_CANNOT_PEND" : "");
		d = decision_of(flow);
		set_action(out, d == 0 ? FWP_ACTION_BLOCK : FWP_ACTION_PERMIT);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		set_action(out, FWP_ACTION_BLOCK);
		return;
	}
	p->flow = flow;
	p->layer = in->layerId;
	p->remote_port = rport;
	st = FwpsPendOperation0(meta->completionHandle, &p->ctx);
	if (!NT_SUCCESS(st)) {
		say("%s port %u: pend failed 0x%08x", layer_name(in->layerId), rport,
		    (unsigned)st);
		free(p);
		set_action(out, FWP_ACTION_BLOCK);
		return;
	}
	if (!connect && layerData) {
		/* keep the packet past classify: the worker clones it */
		FwpsReferenceNetBufferList0(layerData, 1);
		p->packet = layerData;
	}
	say("%s port %u: pended", layer_name(in->layerId), rport);
	pthread_mutex_lock(&g.lock);
	*g.tail = p;
	g.tail = &p->next;
	pthread_cond_signal(&g.wake);
	pthread_mutex_unlock(&g.lock);
	/* S4: pending is BLOCK + ABSORB with the write right cleared */
	out->actionType = FWP_ACTION_BLOCK;
	out->rights &= ~(UINT32)FWPS_RIGHT_ACTION_WRITE;
	out->flags |= FWPS_CLASSIFY_OUT_FLAG_ABSORB;
}

static NTSTATUS NTAPI inspect_notify(FWPS_CALLOUT_NOTIFY_TYPE type, const GUID *filterKey,
				     const FWPS_FILTER0 *filter)
{
	(void)filterKey;
	say("filter %llu %s", (unsigned long long)filter->filterId,
	    type == FWPS_CALLOUT_NOTIFY_ADD_FILTER ? "added" : "deleted");
	return STATUS_SUCCESS;
}

static void NTAPI inject_done(void *context, NET_BUFFER_LIST *clone, BOOLEAN dispatchLevel)
{
	(void)context;
	(void)dispatchLevel;
	FwpsFreeCloneNetBufferList0(clone, 0);
}

static void decide(struct pended *p)
{
	bool permit = !blocked_port(p->remote_port);
	bool connect = p->layer == FWPS_LAYER_ALE_AUTH_CONNECT_V4 ||
		       p->layer == FWPS_LAYER_ALE_AUTH_CONNECT_V6;

	say("%s port %u: worker decides %s", layer_name(p->layer), p->remote_port,
	    permit ? "permit" : "block");
	if (connect) {
		struct data d;

		remember(p->flow, permit);
		/* the reauthorization that follows reads the decision */
		FwpsCompleteOperation0(p->ctx, NULL);
		/* then what the application sent meanwhile, in order */
		d = take_data(p->flow);
		for (unsigned i = 0; i < d.n; i++) {
			if (permit)
				FwpsInjectTransportSendAsync0(g.injection, NULL, 0, 0, NULL, 0, 0,
							      d.nbl[i], NULL, NULL);
			FwpsDereferenceNetBufferList0(d.nbl[i], 0);
		}
		if (d.n)
			say("connect port %u: %u packets of pended data %s", p->remote_port, d.n,
			    permit ? "sent" : "dropped");
		return;
	}
	NET_BUFFER_LIST *clone = NULL;

	if (permit && p->packet &&
	    NT_SUCCESS(FwpsAllocateCloneNetBufferList0(p->packet, NULL, NULL, 0, &clone))) {
		FwpsCompleteOperation0(p->ctx, clone);
		NTSTATUS st = FwpsInjectTransportReceiveAsync0(g.injection, NULL, NULL, 0, 0, 0, 0,
								0, clone, inject_done, NULL);

		if (!NT_SUCCESS(st)) {
			say("recv_accept port %u: reinjection failed 0x%08x", p->remote_port,
			    (unsigned)st);
			FwpsFreeCloneNetBufferList0(clone, 0);
		}
	} else {
		FwpsCompleteOperation0(p->ctx, NULL); /* the packet is dropped */
	}
	if (p->packet)
		FwpsDereferenceNetBufferList0(p->packet, 0);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.lock);
	for (;;) {
		while (!g.head && !g.stop)
			pthread_cond_wait(&g.wake, &g.lock);
		if (g.stop)
			break;
		struct pended *p = g.head;

		g.head = p->next;
		if (!g.head)
			g.tail = &g.head;
		pthread_mutex_unlock(&g.lock);
		if (g.delay_ms) {
			struct timespec ts = { g.delay_ms / 1000, (long)(g.delay_ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
		decide(p);
		free(p);
		pthread_mutex_lock(&g.lock);
	}
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

/* "block=8081+8082,log=/path,delay_ms=50" */
static int parse_arg(const char *arg)
{
	char buf[1024], *save = NULL;

	if (!arg)
		return 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (!strncmp(item, "block=", 6)) {
			char *s2 = NULL;

			for (char *n = strtok_r(item + 6, "+", &s2); n && g.nblock < MAX_BLOCK;
			     n = strtok_r(NULL, "+", &s2))
				g.block[g.nblock++] = (UINT16)strtoul(n, NULL, 10);
		} else if (!strncmp(item, "log=", 4)) {
			g.log = fopen(item + 4, "a");
			if (!g.log)
				return -errno;
		} else if (!strncmp(item, "delay_ms=", 9)) {
			g.delay_ms = (unsigned)strtoul(item + 9, NULL, 10);
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

int ag_module_init(ag_engine *e, const char *arg);
void ag_module_fini(ag_engine *e);

int ag_module_init(ag_engine *e, const char *arg)
{
	FWPS_CALLOUT0 callout = {
		.calloutKey = INSPECT_CALLOUT_KEY,
		.classifyFn = inspect_classify,
		.notifyFn = inspect_notify,
	};
	int r;

	g.tail = &g.head;
	g.delay_ms = 50;
	if ((r = parse_arg(arg)))
		return r;
	if (!NT_SUCCESS(FwpsCalloutRegister0(e, &callout, &g.callout_id)))
		return -EEXIST;
	if (!NT_SUCCESS(FwpsInjectionHandleCreate0(0, FWPS_INJECTION_TYPE_TRANSPORT, &g.injection)))
		return -ENOMEM;
	if ((r = pthread_create(&g.worker, NULL, worker, NULL)))
		return -r;
	g.worker_started = true;
	say("inspect callout registered, id %u", (unsigned)g.callout_id);
	return 0;
}

void ag_module_fini(ag_engine *e)
{
	(void)e;
	if (g.worker_started) {
		pthread_mutex_lock(&g.lock);
		g.stop = true;
		pthread_cond_signal(&g.wake);
		pthread_mutex_unlock(&g.lock);
		pthread_join(g.worker, NULL);
		g.worker_started = false;
	}
	/* what is still pended the daemon completes as blocked at shutdown */
	while (g.head) {
		struct pended *p = g.head;

		g.head = p->next;
		if (p->packet)
			FwpsDereferenceNetBufferList0(p->packet, 0);
		free(p);
	}
	FwpsInjectionHandleDestroy0(g.injection);
	FwpsCalloutUnregisterById0(g.callout_id);
	if (g.log)
		fclose(g.log);
}
