/*
 * daemon/control_internal.h — what the control socket's files (control*.c)
 * share and nothing else uses: a client, its long answer in pages, a request.
 */
#ifndef ALEGATE_DAEMON_CONTROL_INTERNAL_H
#define ALEGATE_DAEMON_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "daemon/alegated.h"
#include "daemon/control.h"

/* A subscriber may fall this far behind before it is closed. */
#define AGD_CLIENT_OUTQ_MAX (4u << 20)
/* A page of a long answer: at most this many items, of about this many
 * bytes (string lengths; escaping can make it up to 6 times more). */
#define AGD_PAGE_ITEMS 256
#define AGD_PAGE_BYTES (256u << 10)
/* The next page is made only once the client's queue is below this. */
#define AGD_PAGE_LOWAT (1u << 20)
/* Refused connections: one log line, then a count per this many seconds. */
#define AGD_REFUSED_LOG_S 10
/* Supplementary groups read for a peer. */
#define AGD_PEER_GROUPS_MAX 256

/* A long answer being sent in pages, or (WAIT) one a history query thread
 * is making: the client's next request waits for it either way. */
enum stream_kind { STREAM_NONE, STREAM_PENDING, STREAM_EVENTS, STREAM_ARRAY, STREAM_WAIT };

struct stream {
	enum stream_kind kind;
	json_t *id;        /* the request's id, repeated on every page */
	uint64_t cursor;   /* EVENTS: last seq sent */
	uint64_t end;      /* EVENTS: the last seq that belongs to this answer */
	json_t *items;     /* ARRAY: the whole answer, built at once */
	struct agd_pending *snap; /* PENDING: the pended flows, by id */
	size_t nsnap;
	size_t next;       /* ARRAY, PENDING: next index to send */
};

struct agd_client {
	struct agd_client *next;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint64_t session;
	struct ag_ctl_buf in;
	struct ag_ctl_outq out;
	struct stream stream;
	bool sub_events, sub_pending;
	bool closing;      /* send what is queued, then close */
	bool busy;         /* inside one of its own requests: free it after */
	bool dead;         /* fell too far behind: close it, queue and all */
	uint32_t events;   /* what epoll waits for */
};

/* ---- requests ----------------------------------------------------------------------- */

struct req {
	struct agd *d;
	struct agd_client *c;
	json_t *msg;
	json_t *id;
};

struct page {
	struct agd *d;
	json_t *a;
	size_t bytes;
	uint64_t cursor, end;
};

/* ---- functions shared between the files ---------------------------------- */

/* control.c */
/* Queue @msg for @c (closing a client that cannot keep up); free @c. */
void agd__control_client_send(struct agd *d, struct agd_client *c, json_t *msg);
void agd__control_client_free(struct agd *d, struct agd_client *c);
/* Answer the request @id: {"ok":true,"result":...} (@result taken), or
 * {"ok":false,"error":...,"code":@code}. */
void agd__control_reply_ok(struct agd *d, struct agd_client *c, json_t *id, json_t *result);
void agd__control_reply_err(struct agd *d, struct agd_client *c, json_t *id,
			    const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The string field @key of the request, NULL when absent; *bad (and a
 * bad_request reply) when it is there but not a string. */
const char *agd__control_field_str(struct req *q, const char *key, bool *bad);
/* Begin a long answer in pages (@items taken, for STREAM_ARRAY). */
/*
 * agd__control_wait - @q is answered later (STREAM_WAIT): the client's next
 * request waits, the loop does not.  agd__control_waiting - the client of
 * @session waiting so, with the request's id in @id (a reference), back to
 * no stream; NULL when it is gone.  Answer it, then agd_control_client_ready().
 */
void agd__control_wait(struct req *q);
struct agd_client *agd__control_waiting(struct agd *d, uint64_t session, json_t **id);

void agd__control_stream_start(struct req *q, enum stream_kind kind, uint64_t cursor,
			       uint64_t end, json_t *items);

/* control_json.c */
json_t *agd__control_str_or_null(const char *s);

/* control_requests.c: the handlers of the requests named after them */
int agd__control_op_rules_list(struct req *q);
int agd__control_op_rules_add(struct req *q);
int agd__control_op_rules_del(struct req *q);
int agd__control_op_rules_enable(struct req *q);
int agd__control_op_rules_disable(struct req *q);
int agd__control_op_flows(struct req *q);
int agd__control_op_events(struct req *q);

#endif
