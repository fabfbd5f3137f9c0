/*
 * alegate/wfp.h — the Windows Filtering Platform's callout API, by its own
 * names, over alegate's engine.
 *
 * A callout written against Microsoft's fwpsk.h reads the same here: the
 * same types, field indexes, flags, status codes and functions.  What
 * differs, and why, is in docs/MODEL.md ("WFP names on Linux"); in short:
 *
 *  - FwpsCalloutRegister0 takes the engine (ag_module_init's argument) where
 *    Windows takes a DEVICE_OBJECT.  Every other function speaks to the
 *    engine the first registration named.
 *  - The layers are the ALE ones: AUTH_CONNECT, AUTH_RECV_ACCEPT and
 *    FLOW_ESTABLISHED, V4 and V6.  A packet is a NET_BUFFER_LIST whose data
 *    stays in the kernel (NFQUEUE): a callout holds, clones and reinjects it,
 *    but cannot read or rewrite its bytes through this header.
 *  - The fields a classify gets are the ones Linux knows (addresses, ports,
 *    protocol, application path, user id, interface, flags); the others of
 *    each layer are present with type FWP_EMPTY.  ALE_USER_ID is the uid as
 *    FWP_UINT32, not a security descriptor; ALE_APP_ID the path as bytes.
 *  - Completion and injection may come from any thread (they are queued for
 *    the engine's thread, woken within microseconds).  Nothing else may.
 *  - Later packets of a pended connection come to its callout's classify
 *    with FWP_CONDITION_FLAG_AG_PENDED_DATA (WFP shows them at transport
 *    layers alegate does not have).
 *  - At RECV_ACCEPT, FwpsCompleteOperation0 with the clone and
 *    FwpsInjectTransportReceiveAsync0 of that clone allow the connection
 *    (in either order); completing with NULL denies it.
 *
 * Link: a module loaded by alegated gets these functions from the daemon.
 */
#ifndef ALEGATE_WFP_H
#define ALEGATE_WFP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alegate/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- base types ------------------------------------------------------------ */

#define NTAPI
typedef int32_t NTSTATUS;
typedef uint8_t UINT8;
typedef uint16_t UINT16;
typedef uint32_t UINT32;
typedef uint64_t UINT64;
typedef int32_t INT32;
typedef uint32_t ULONG;
typedef uint8_t BOOLEAN;
typedef void *HANDLE;
typedef void *NDIS_HANDLE;
typedef uint16_t ADDRESS_FAMILY;
typedef uint32_t COMPARTMENT_ID;
typedef uint32_t IF_INDEX;

#define NT_SUCCESS(s) (((NTSTATUS)(s)) >= 0)

#define STATUS_SUCCESS ((NTSTATUS)0x00000000)
#define STATUS_OBJECT_NAME_EXISTS ((NTSTATUS)0x40000000)
#define STATUS_DEVICE_BUSY ((NTSTATUS)0x80000011)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000D)
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225)
#define STATUS_FWP_CALLOUT_NOT_FOUND ((NTSTATUS)0xC0220001)
#define STATUS_FWP_ALREADY_EXISTS ((NTSTATUS)0xC0220009)
#define STATUS_FWP_NULL_POINTER ((NTSTATUS)0xC0220016)
#define STATUS_FWP_TCPIP_NOT_READY ((NTSTATUS)0xC0220100)
#define STATUS_FWP_INJECT_HANDLE_CLOSING ((NTSTATUS)0xC0220101)
#define STATUS_FWP_INJECT_HANDLE_STALE ((NTSTATUS)0xC0220102)
#define STATUS_FWP_CANNOT_PEND ((NTSTATUS)0xC0220103)

typedef struct GUID {
	UINT32 Data1;
	UINT16 Data2;
	UINT16 Data3;
	UINT8 Data4[8];
} GUID;

/* ---- values ------------------------------------------------------------------- */

typedef enum FWP_DATA_TYPE_ {
	FWP_EMPTY = 0,
	FWP_UINT8,
	FWP_UINT16,
	FWP_UINT32,
	FWP_UINT64,
	FWP_INT8,
	FWP_INT16,
	FWP_INT32,
	FWP_INT64,
	FWP_FLOAT,
	FWP_DOUBLE,
	FWP_BYTE_ARRAY16_TYPE,
	FWP_BYTE_BLOB_TYPE,
	FWP_SID,
	FWP_SECURITY_DESCRIPTOR_TYPE,
	FWP_TOKEN_INFORMATION_TYPE,
	FWP_TOKEN_ACCESS_INFORMATION_TYPE,
	FWP_UNICODE_STRING_TYPE,
	FWP_DATA_TYPE_MAX
} FWP_DATA_TYPE;

typedef struct FWP_BYTE_ARRAY16_ {
	UINT8 byteArray16[16];
} FWP_BYTE_ARRAY16;

typedef struct FWP_BYTE_BLOB_ {
	UINT32 size;
	UINT8 *data;
} FWP_BYTE_BLOB;

typedef struct FWP_VALUE0_ {
	FWP_DATA_TYPE type;
	union {
		UINT8 uint8;
		UINT16 uint16;
		UINT32 uint32;
		UINT64 *uint64;
		FWP_BYTE_ARRAY16 *byteArray16;
		FWP_BYTE_BLOB *byteBlob;
	};
} FWP_VALUE0;

typedef struct FWPS_INCOMING_VALUE0_ {
	FWP_VALUE0 value;
} FWPS_INCOMING_VALUE0;

typedef struct FWPS_INCOMING_VALUES0_ {
	UINT16 layerId;
	UINT32 valueCount;
	FWPS_INCOMING_VALUE0 *incomingValue;
} FWPS_INCOMING_VALUES0;

/* ---- layers and their fields, in WFP's order ------------------------------------- */

enum {
	FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V4 = 44,
	FWPS_LAYER_ALE_AUTH_RECV_ACCEPT_V6 = 46,
	FWPS_LAYER_ALE_AUTH_CONNECT_V4 = 48,
	FWPS_LAYER_ALE_AUTH_CONNECT_V6 = 50,
	FWPS_LAYER_ALE_FLOW_ESTABLISHED_V4 = 52,
	FWPS_LAYER_ALE_FLOW_ESTABLISHED_V6 = 54,
};

/* The leading fields of each layer; alegate fills those Linux knows. */
#define AG_WFP_ALE_FIELDS(L)                                                   \
	FWPS_FIELD_##L##_ALE_APP_ID, FWPS_FIELD_##L##_ALE_USER_ID,             \
	FWPS_FIELD_##L##_IP_LOCAL_ADDRESS, FWPS_FIELD_##L##_IP_LOCAL_ADDRESS_TYPE, \
	FWPS_FIELD_##L##_IP_LOCAL_PORT, FWPS_FIELD_##L##_IP_PROTOCOL,          \
	FWPS_FIELD_##L##_IP_REMOTE_ADDRESS, FWPS_FIELD_##L##_IP_REMOTE_PORT,   \
	FWPS_FIELD_##L##_ALE_REMOTE_USER_ID, FWPS_FIELD_##L##_ALE_REMOTE_MACHINE_ID

#define AG_WFP_CONNECT_FIELDS(L)                                               \
	AG_WFP_ALE_FIELDS(L), FWPS_FIELD_##L##_IP_DESTINATION_ADDRESS_TYPE,    \
	FWPS_FIELD_##L##_IP_LOCAL_INTERFACE, FWPS_FIELD_##L##_FLAGS,           \
	FWPS_FIELD_##L##_INTERFACE_TYPE, FWPS_FIELD_##L##_TUNNEL_TYPE,         \
	FWPS_FIELD_##L##_INTERFACE_INDEX, FWPS_FIELD_##L##_SUB_INTERFACE_INDEX, \
	FWPS_FIELD_##L##_MAX

#define AG_WFP_RECV_ACCEPT_FIELDS(L)                                           \
	AG_WFP_ALE_FIELDS(L), FWPS_FIELD_##L##_IP_LOCAL_INTERFACE,             \
	FWPS_FIELD_##L##_FLAGS, FWPS_FIELD_##L##_SIO_FIREWALL_SYSTEM_PORT,     \
	FWPS_FIELD_##L##_NAP_CONTEXT, FWPS_FIELD_##L##_INTERFACE_TYPE,         \
	FWPS_FIELD_##L##_TUNNEL_TYPE, FWPS_FIELD_##L##_INTERFACE_INDEX,        \
	FWPS_FIELD_##L##_SUB_INTERFACE_INDEX, FWPS_FIELD_##L##_MAX

#define AG_WFP_ESTABLISHED_FIELDS(L)                                           \
	AG_WFP_ALE_FIELDS(L), FWPS_FIELD_##L##_IP_DESTINATION_ADDRESS_TYPE,    \
	FWPS_FIELD_##L##_IP_LOCAL_INTERFACE, FWPS_FIELD_##L##_DIRECTION,       \
	FWPS_FIELD_##L##_INTERFACE_TYPE, FWPS_FIELD_##L##_TUNNEL_TYPE,         \
	FWPS_FIELD_##L##_FLAGS, FWPS_FIELD_##L##_MAX

typedef enum { AG_WFP_CONNECT_FIELDS(ALE_AUTH_CONNECT_V4) } FWPS_FIELDS_ALE_AUTH_CONNECT_V4;
typedef enum { AG_WFP_CONNECT_FIELDS(ALE_AUTH_CONNECT_V6) } FWPS_FIELDS_ALE_AUTH_CONNECT_V6;
typedef enum {
	AG_WFP_RECV_ACCEPT_FIELDS(ALE_AUTH_RECV_ACCEPT_V4)
} FWPS_FIELDS_ALE_AUTH_RECV_ACCEPT_V4;
typedef enum {
	AG_WFP_RECV_ACCEPT_FIELDS(ALE_AUTH_RECV_ACCEPT_V6)
} FWPS_FIELDS_ALE_AUTH_RECV_ACCEPT_V6;
typedef enum {
	AG_WFP_ESTABLISHED_FIELDS(ALE_FLOW_ESTABLISHED_V4)
} FWPS_FIELDS_ALE_FLOW_ESTABLISHED_V4;
typedef enum {
	AG_WFP_ESTABLISHED_FIELDS(ALE_FLOW_ESTABLISHED_V6)
} FWPS_FIELDS_ALE_FLOW_ESTABLISHED_V6;

/* FWP_CONDITION_FLAG_* in the FLAGS field. */
#define FWP_CONDITION_FLAG_IS_LOOPBACK 0x00000001
#define FWP_CONDITION_FLAG_IS_IPSEC_SECURED 0x00000002
#define FWP_CONDITION_FLAG_IS_REAUTHORIZE 0x00000004
#define FWP_CONDITION_FLAG_IS_WILDCARD_BIND 0x00000008
#define FWP_CONDITION_FLAG_IS_RAW_ENDPOINT 0x00000010
#define FWP_CONDITION_FLAG_IS_FRAGMENT 0x00000020
#define FWP_CONDITION_FLAG_IS_FRAGMENT_GROUP 0x00000040
#define FWP_CONDITION_FLAG_IS_IPSEC_NATT_RECLASSIFY 0x00000080
#define FWP_CONDITION_FLAG_REQUIRES_ALE_CLASSIFY 0x00000100
#define FWP_CONDITION_FLAG_IS_IMPLICIT_BIND 0x00000200
#define FWP_CONDITION_FLAG_IS_REASSEMBLED 0x00000400
/*
 * alegate: a later packet of a connection this callout pended (WFP shows
 * such data at the transport layers).  Reference it (layerData) to keep
 * it, then inject it with FwpsInjectTransportSendAsync0 (outbound) or
 * FwpsInjectTransportReceiveAsync0 (inbound) once the connection is
 * completed; otherwise it is flushed and the application retransmits.
 * The classify's answer is not used.
 */
#define FWP_CONDITION_FLAG_AG_PENDED_DATA 0x80000000u

/* ---- metadata --------------------------------------------------------------------- */

typedef enum FWP_DIRECTION_ {
	FWP_DIRECTION_OUTBOUND = 0,
	FWP_DIRECTION_INBOUND = 1,
	FWP_DIRECTION_MAX
} FWP_DIRECTION;

#define FWPS_METADATA_FIELD_DISCARD_REASON 0x00000001
#define FWPS_METADATA_FIELD_FLOW_HANDLE 0x00000002
#define FWPS_METADATA_FIELD_PROCESS_PATH 0x00000010
#define FWPS_METADATA_FIELD_TOKEN 0x00000020
#define FWPS_METADATA_FIELD_PROCESS_ID 0x00000040
#define FWPS_METADATA_FIELD_PACKET_DIRECTION 0x00008000
#define FWPS_METADATA_FIELD_COMPLETION_HANDLE 0x00400000

#define FWPS_IS_METADATA_FIELD_PRESENT(m, f) (((m)->currentMetadataValues & (f)) == (f))

typedef struct FWPS_INCOMING_METADATA_VALUES0_ {
	UINT32 currentMetadataValues;
	UINT32 flags;
	UINT64 flowHandle;
	FWP_BYTE_BLOB *processPath;  /* the executable's path, NUL-terminated bytes */
	UINT64 token;                /* the uid (Windows: an access token) */
	UINT64 processId;
	HANDLE completionHandle;
	FWP_DIRECTION packetDirection;
	const char *commandLine;     /* alegate: the process's command line, or NULL */
} FWPS_INCOMING_METADATA_VALUES0;

/* ---- actions, classify output, filters -------------------------------------------- */

typedef UINT32 FWP_ACTION_TYPE;
#define FWP_ACTION_FLAG_TERMINATING 0x00001000
#define FWP_ACTION_FLAG_NON_TERMINATING 0x00002000
#define FWP_ACTION_FLAG_CALLOUT 0x00004000
#define FWP_ACTION_BLOCK (0x00000001 | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_PERMIT (0x00000002 | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_CALLOUT_TERMINATING \
	(0x00000003 | FWP_ACTION_FLAG_CALLOUT | FWP_ACTION_FLAG_TERMINATING)
#define FWP_ACTION_CALLOUT_INSPECTION \
	(0x00000004 | FWP_ACTION_FLAG_CALLOUT | FWP_ACTION_FLAG_NON_TERMINATING)
#define FWP_ACTION_CALLOUT_UNKNOWN (0x00000005 | FWP_ACTION_FLAG_CALLOUT)
#define FWP_ACTION_CONTINUE (0x00000006 | FWP_ACTION_FLAG_NON_TERMINATING)
#define FWP_ACTION_NONE 0x00000007
#define FWP_ACTION_NONE_NO_MATCH 0x00000008

#define FWPS_RIGHT_ACTION_WRITE 0x00000001
#define FWPS_CLASSIFY_OUT_FLAG_ABSORB 0x00000001

typedef struct FWPS_CLASSIFY_OUT0_ {
	FWP_ACTION_TYPE actionType;
	UINT64 outContext;
	UINT64 filterId;
	UINT32 rights;
	UINT32 flags;
	UINT32 reserved;
} FWPS_CLASSIFY_OUT0;

typedef struct FWPS_ACTION0_ {
	FWP_ACTION_TYPE type;
	UINT32 calloutId;
} FWPS_ACTION0;

typedef struct FWPS_FILTER0_ {
	UINT64 filterId;
	FWP_VALUE0 weight;       /* FWP_UINT32 */
	UINT16 subLayerWeight;
	UINT16 flags;
	UINT32 numFilterConditions; /* alegate: the conditions are not handed over */
	FWPS_ACTION0 action;
	UINT64 context;
} FWPS_FILTER0;

/* ---- packets ---------------------------------------------------------------------- */

/*
 * A packet the kernel holds.  The callout gets one as classify's layerData
 * (valid during classify unless referenced), from
 * FwpsAllocateCloneNetBufferList0, and gives clones back to
 * FwpsInjectTransport*Async0 or FwpsFreeCloneNetBufferList0.
 */
typedef struct NET_BUFFER_LIST NET_BUFFER_LIST;

/* alegate: the engine's view of a NET_BUFFER_LIST (token, length, injector). */
const ag_packet *ag_wfp_packet(const NET_BUFFER_LIST *nbl);

typedef enum FWPS_PACKET_INJECTION_STATE_ {
	FWPS_PACKET_NOT_INJECTED,
	FWPS_PACKET_INJECTED_BY_SELF,
	FWPS_PACKET_INJECTED_BY_OTHER,
	FWPS_PACKET_PREVIOUSLY_INJECTED_BY_SELF,
	FWPS_PACKET_INJECTION_STATE_MAX
} FWPS_PACKET_INJECTION_STATE;

#define FWPS_INJECTION_TYPE_STREAM 0x00000001
#define FWPS_INJECTION_TYPE_TRANSPORT 0x00000002
#define FWPS_INJECTION_TYPE_NETWORK 0x00000004
#define FWPS_INJECTION_TYPE_FORWARD 0x00000008

typedef void(NTAPI *FWPS_INJECT_COMPLETE0)(void *context, NET_BUFFER_LIST *netBufferList,
					   BOOLEAN dispatchLevel);

/* ---- callouts -------------------------------------------------------------------- */

typedef enum FWPS_CALLOUT_NOTIFY_TYPE_ {
	FWPS_CALLOUT_NOTIFY_ADD_FILTER,
	FWPS_CALLOUT_NOTIFY_DELETE_FILTER,
	FWPS_CALLOUT_NOTIFY_TYPE_MAX
} FWPS_CALLOUT_NOTIFY_TYPE;

typedef void(NTAPI *FWPS_CALLOUT_CLASSIFY_FN0)(const FWPS_INCOMING_VALUES0 *inFixedValues,
					       const FWPS_INCOMING_METADATA_VALUES0 *inMetaValues,
					       void *layerData, const FWPS_FILTER0 *filter,
					       UINT64 flowContext,
					       FWPS_CLASSIFY_OUT0 *classifyOut);
typedef NTSTATUS(NTAPI *FWPS_CALLOUT_NOTIFY_FN0)(FWPS_CALLOUT_NOTIFY_TYPE notifyType,
						 const GUID *filterKey, const FWPS_FILTER0 *filter);
typedef void(NTAPI *FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0)(UINT16 layerId, UINT32 calloutId,
							 UINT64 flowContext);

typedef struct FWPS_CALLOUT0_ {
	GUID calloutKey;
	UINT32 flags;
	FWPS_CALLOUT_CLASSIFY_FN0 classifyFn;
	FWPS_CALLOUT_NOTIFY_FN0 notifyFn;
	FWPS_CALLOUT_FLOW_DELETE_NOTIFY_FN0 flowDeleteFn;
} FWPS_CALLOUT0;

/*
 * Register a callout with the engine `deviceObject` (an ag_engine *).  Rules
 * name it by its key as a lowercase GUID without braces
 * ("6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201").  STATUS_FWP_ALREADY_EXISTS for a
 * key registered before.
 */
NTSTATUS FwpsCalloutRegister0(void *deviceObject, const FWPS_CALLOUT0 *callout,
			      UINT32 *calloutId);
/* STATUS_DEVICE_BUSY while flows hold contexts of the callout. */
NTSTATUS FwpsCalloutUnregisterById0(const UINT32 calloutId);
NTSTATUS FwpsCalloutUnregisterByKey0(const GUID *calloutKey);

/* STATUS_FWP_CANNOT_PEND in a reauthorization (the handle is still there). */
NTSTATUS FwpsPendOperation0(HANDLE completionHandle, HANDLE *completionContext);
/* From any thread.  See the header comment for RECV_ACCEPT. */
void FwpsCompleteOperation0(HANDLE completionContext, NET_BUFFER_LIST *netBufferList);

/* STATUS_OBJECT_NAME_EXISTS when the callout has a context on the flow at the
 * layer; STATUS_INVALID_PARAMETER for 0 or a callout without flowDeleteFn. */
NTSTATUS FwpsFlowAssociateContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId,
				   UINT64 flowContext);
/* Calls the callout's flowDeleteFn before it returns. */
NTSTATUS FwpsFlowRemoveContext0(UINT64 flowId, UINT16 layerId, UINT32 calloutId);

NTSTATUS FwpsInjectionHandleCreate0(ADDRESS_FAMILY addressFamily, UINT32 flags,
				    HANDLE *injectionHandle);
NTSTATUS FwpsInjectionHandleDestroy0(HANDLE injectionHandle);
FWPS_PACKET_INJECTION_STATE FwpsQueryPacketInjectionState0(HANDLE injectionHandle,
							   const NET_BUFFER_LIST *netBufferList,
							   HANDLE *injectionContext);

/* Keep the classified packet beyond classify (only during classify). */
void FwpsReferenceNetBufferList0(NET_BUFFER_LIST *netBufferList, BOOLEAN intendToModify);
void FwpsDereferenceNetBufferList0(NET_BUFFER_LIST *netBufferList, BOOLEAN dispatchLevel);
/* Clone a referenced (or, during classify, the classified) packet; any thread. */
NTSTATUS FwpsAllocateCloneNetBufferList0(NET_BUFFER_LIST *originalNetBufferList,
					 NDIS_HANDLE netBufferListPoolHandle,
					 NDIS_HANDLE netBufferPoolHandle, ULONG allocateCloneFlags,
					 NET_BUFFER_LIST **netBufferList);
void FwpsFreeCloneNetBufferList0(NET_BUFFER_LIST *netBufferList, ULONG freeCloneFlags);

/*
 * Reinject a clone the callout completed its pended RECV_ACCEPT with (or
 * will complete with): it is classified again and, if permitted, delivered.
 * completionFn (may be NULL) runs once the engine took the packet; the
 * clone is then the callout's to free.  Any thread.
 */
NTSTATUS FwpsInjectTransportReceiveAsync0(HANDLE injectionHandle, HANDLE injectionContext,
					  void *reserved, UINT32 flags,
					  ADDRESS_FAMILY addressFamily,
					  COMPARTMENT_ID compartmentId, IF_INDEX interfaceIndex,
					  IF_INDEX subInterfaceIndex,
					  NET_BUFFER_LIST *netBufferList,
					  FWPS_INJECT_COMPLETE0 completionFn,
					  HANDLE completionContext);
/*
 * Send-side injection of pended data the callout referenced (see
 * FWP_CONDITION_FLAG_AG_PENDED_DATA), once its connection is permitted:
 * released on the application's behalf, in the order the callout injects.
 * The addressing arguments are unused (the kernel keeps the packet).  Any
 * thread.
 */
NTSTATUS FwpsInjectTransportSendAsync0(HANDLE injectionHandle, HANDLE injectionContext,
				       UINT64 endpointHandle, UINT32 flags, void *sendArgs,
				       ADDRESS_FAMILY addressFamily, COMPARTMENT_ID compartmentId,
				       NET_BUFFER_LIST *netBufferList,
				       FWPS_INJECT_COMPLETE0 completionFn,
				       HANDLE completionContext);

/* alegate: the rule name of a callout key, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
void ag_wfp_guid_name(const GUID *key, char out[37]);

#ifdef __cplusplus
}
#endif

#endif
