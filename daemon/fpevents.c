/*
 * daemon/fpevents.c — what the eBPF fast path decided, told to the daemon.
 *
 * The hooks put each allowed or denied connect() (and each first datagram
 * to a destination) in a ring buffer, and each allowed socket's release
 * with its bytes.  Here each becomes what an NFQUEUE decision becomes: a
 * history row and an event_log record, a line to `events` subscribers,
 * and, while an allowed socket lives, an entry of `flows`.
 *
 * The bytes are the socket's: a UDP socket that sends to several
 * destinations has a row for each, and its bytes go to the first row (the
 * others get the end only), so that `traffic` counts them once.  The hooks
 * never wait for this reader: a full ring is counted (status:
 * fast_path_info.folded), never a stalled connect().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "base/clock.h"
#include "daemon/alegated.h"
#include "daemon/fpevents.h"
#include "daemon/history.h"
#include "daemon/log.h"
#include "daemon/policy.h"
#include "linux/fastpath.h"
#include "linux/proc.h"
#include "net/packet.h"

/* History keys of fast-path flows: apart from the engine's flow handles. */
#define FPF_KEY(cookie) ((cookie) | (1ull << 63))

struct agd_fpflow {
	struct agd_fpflow *next;
	uint64_t cookie;
	uint64_t created_ns;
	uint32_t pid, uid;
	uint8_t family, proto;
	uint16_t port;
	ag_addr addr;
	char rule[AG_RULE_ID_MAX + 1];
	char exe[];
};

static struct agd_fpflow **slot(struct agd_fpevents *fe, uint64_t cookie)
{
	struct agd_fpflow **p = &fe->buckets[(cookie * 0x9e3779b97f4a7c15ull) >> 50];

	while (*p && (*p)->cookie != cookie)
		p = &(*p)->next;
	return p;
}

static const char *rule_id(struct agd *d, uint64_t filter_id, uint64_t *ctx)
{
	const ag_filter *f = filter_id ? ag_filter_get(d->engine, filter_id) : NULL;
	struct agd_rule *r = f ? agd_rule_by_handle(d, ag_filter_context(f)) : NULL;

	*ctx = f ? ag_filter_context(f) : 0;
	return r ? agd_rule_id(r) : NULL;
}

static void endpoint(char *buf, size_t len, int ver, const uint8_t *addr, uint16_t port)
{
	char a[AG_ADDR_STRLEN];

	if (ag_addr_format(ver, addr, a, sizeof(a)) < 0)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, ver == 6 ? "[%s]:%u" : "%s:%u", a, port);
}

/* A line for `events` subscribers, in the shape of the engine's events;
 * "seq" is a string of its own ("fp-N"): these are not in the engine's ring. */
static void push(struct agd *d, const struct ag_fp_event *e, const char *exe, const char *rule)
{
	char seq[32], remote[AG_ADDR_STRLEN + 10];
	uint64_t age_ms = (ag_boot_ns() - e->time_ns) / 1000000;
	json_t *o;

	snprintf(seq, sizeof(seq), "fp-%llu", (unsigned long long)++d->fpevents.next_seq);
	endpoint(remote, sizeof(remote), e->family, e->addr.b, e->port);
	o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:n, s:s, s:n}", "seq", seq,
		      "time_ms", (json_int_t)(ag_wall_ms() - age_ms),
		      "type", e->type == AG_FP_EV_ALLOW ? "permit" : "block",
		      "reason", "fast_path", "layer", "connect",
		      "verdict", e->type == AG_FP_EV_ALLOW ? "permit" : "block",
		      "rule", rule, "proto", e->proto == 6 ? "tcp" : "udp", "direction", "out",
		      "local", "remote", remote, "host");
	if (!o)
		return;
	json_object_set_new(o, "pid", e->tgid ? json_integer(e->tgid) : json_null());
	json_object_set_new(o, "uid", json_integer(e->uid));
	json_object_set_new(o, "exe", exe && exe[0] ? json_string(exe) : json_null());
	json_object_set_new(o, "count", json_integer(0));
	if (d->listeners.json_event)
		d->listeners.json_event(d, o);
	json_decref(o);
}

static void on_decided(struct agd *d, const struct ag_fp_event *e)
{
	struct ag_proc_info pi;
	const char *exe = NULL, *rule;
	uint64_t ctx;
	struct agd_conn c;

	if (d->dp.proc && e->tgid && ag_proc_get(d->dp.proc, (pid_t)e->tgid, &pi) == 0 && pi.exe[0])
		exe = pi.exe;
	rule = rule_id(d, e->rule_id, &ctx);
	d->fpevents.decided++;
	memset(&c, 0, sizeof(c));
	c.flow = e->type == AG_FP_EV_ALLOW ? FPF_KEY(e->cookie) : 0;
	c.time_ms = ag_wall_ms() - (ag_boot_ns() - e->time_ns) / 1000000;
	c.exe = exe;
	c.rule = rule;
	c.action = e->type == AG_FP_EV_ALLOW ? "allow" : "deny";
	c.decided = "fastpath";
	c.pid = e->tgid;
	c.uid = e->uid;
	c.ip_version = e->family;
	c.protocol = e->proto;
	c.direction = AG_DIR_OUT;
	c.no_local = true;
	c.remote_addr = e->addr;
	c.remote_port = e->port;
	agd_history_conn(d, &c);
	push(d, e, exe, rule);

	if (e->type != AG_FP_EV_ALLOW || d->fpevents.nflows >= d->cfg.max_flows)
		return;
	struct agd_fpflow **p = slot(&d->fpevents, e->cookie), *f;
	size_t elen = exe ? strlen(exe) : 0;

	if (*p || !(f = calloc(1, sizeof(*f) + elen + 1)))
		return;
	f->cookie = e->cookie;
	f->created_ns = e->time_ns;
	f->pid = e->tgid;
	f->uid = e->uid;
	f->family = e->family;
	f->proto = e->proto;
	f->port = e->port;
	f->addr = e->addr;
	snprintf(f->rule, sizeof(f->rule), "%s", rule ? rule : "");
	memcpy(f->exe, exe ? exe : "", elen + 1);
	*p = f;
	d->fpevents.nflows++;
}

static void on_end(struct agd *d, const struct ag_fp_event *e)
{
	struct agd_fpflow **p = slot(&d->fpevents, e->cookie), *f = *p;

	agd_history_end(d, FPF_KEY(e->cookie), e->bytes_in, e->bytes_out);
	if (f) {
		*p = f->next;
		free(f);
		d->fpevents.nflows--;
	}
}

static void on_fp_event(const struct ag_fp_event *e, void *arg)
{
	struct agd *d = arg;

	if (e->type == AG_FP_EV_END)
		on_end(d, e);
	else
		on_decided(d, e);
}

int agd_fpevents_open(struct agd *d)
{
	int fd;

	if (!d->fastpath.fp)
		return 0;
	fd = ag_fp_events_open(d->fastpath.fp, on_fp_event, d);
	if (fd < 0) {
		log_warn("fast path: its decisions cannot be read (%s): they are neither kept "
			 "nor shown", strerror(-fd));
		return fd;
	}
	return agd_loop_add(d, fd, EPOLLIN, (void *)(uintptr_t)AGD_TAG_FPEVENTS);
}

void agd_fpevents_ready(struct agd *d)
{
	if (d->fastpath.fp)
		ag_fp_events_read(d->fastpath.fp);
}

void agd_fpevents_close(struct agd *d)
{
	struct agd_fpevents *fe = &d->fpevents;

	for (size_t i = 0; i < AGD_FPF_BUCKETS; i++) {
		while (fe->buckets[i]) {
			struct agd_fpflow *f = fe->buckets[i];

			fe->buckets[i] = f->next;
			free(f);
		}
	}
	fe->nflows = 0;
}

void agd_fpevents_flows(struct agd *d, json_t *arr)
{
	uint64_t now = ag_boot_ns();

	for (size_t i = 0; i < AGD_FPF_BUCKETS; i++) {
		for (struct agd_fpflow *f = d->fpevents.buckets[i]; f; f = f->next) {
			char remote[AG_ADDR_STRLEN + 10];
			json_t *o;

			endpoint(remote, sizeof(remote), f->family, f->addr.b, f->port);
			o = json_pack("{s:s, s:s, s:n, s:s, s:n, s:s*, s:I, s:s}", "proto",
				      f->proto == 6 ? "tcp" : "udp",
				      "direction", "out", "local", "remote", remote, "host",
				      "exe", f->exe[0] ? f->exe : NULL, "age_ms",
				      (json_int_t)((now - f->created_ns) / 1000000), "decided",
				      "fastpath");
			if (!o)
				continue;
			json_object_set_new(o, "pid", f->pid ? json_integer(f->pid) : json_null());
			json_object_set_new(o, "uid", json_integer(f->uid));
			json_object_set_new(o, "rule", f->rule[0] ? json_string(f->rule) : json_null());
			json_array_append_new(arr, o);
		}
	}
}

uint32_t agd_fpevents_nflows(const struct agd *d)
{
	return d->fpevents.nflows;
}

uint64_t agd_fpevents_decided(const struct agd *d)
{
	return d->fpevents.decided;
}
