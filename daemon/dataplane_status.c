/*
 * daemon/dataplane_status.c — the data plane's counters for `status`:
 * packets queued and decided, DNS replies and queries seen, attribution's
 * cost, executables hashed, the queues' overruns and what the kernel still
 * holds, each read from the module that keeps it when `status` asks.
 */
#include "daemon/alegated.h"
#include "daemon/dataplane.h"
#include "linux/attrib.h"
#include "linux/exehash.h"
#include "linux/nfq.h"
#include "linux/proc.h"
#include "net/dnscache.h"

void agd_dataplane_status(struct agd *d, json_t *obj)
{
	struct ag_nfq_stats ns;
	struct ag_dnscache_stats ds;
	struct ag_attrib_stats as;
	uint64_t enobufs = 0, kernel_waiting = 0;

	for (int i = 0; i < AG_FW_NQUEUES; i++) {
		if (!d->dp.q[i])
			continue;
		ag_nfq_stats(d->dp.q[i], &ns);
		enobufs += ns.enobufs;
		if (ns.kernel_valid)
			kernel_waiting += ns.kernel_waiting;
	}
	json_object_set_new(obj, "queued_packets", json_integer((json_int_t)d->dp.ctr.queued_packets));
	json_object_set_new(obj, "dns_replies", json_integer((json_int_t)d->dp.ctr.dns_replies));
	json_object_set_new(obj, "dns_unparsed", json_integer((json_int_t)d->dp.ctr.dns_unparsed));
	json_object_set_new(obj, "dns_queries", json_integer((json_int_t)d->dp.ctr.dns_queries));
	json_object_set_new(obj, "dns_unsolicited",
			    json_integer((json_int_t)d->dp.ctr.dns_unsolicited));
	json_object_set_new(obj, "dns_not_resolver",
			    json_integer((json_int_t)d->dp.ctr.dns_not_resolver));
	json_object_set_new(obj, "crossed", json_integer((json_int_t)d->dp.ctr.crossed));
	json_object_set_new(obj, "udp_socket_ends",
			    json_integer((json_int_t)d->dp.ctr.udp_socket_ends));
	json_object_set_new(obj, "malformed", json_integer((json_int_t)d->dp.ctr.malformed));
	json_object_set_new(obj, "attributed", json_integer((json_int_t)d->dp.ctr.attributed));
	json_object_set_new(obj, "unattributed", json_integer((json_int_t)d->dp.ctr.unattributed));
	json_object_set_new(obj, "rejects", json_integer((json_int_t)d->dp.ctr.rejects));
	json_object_set_new(obj, "reused_ports", json_integer((json_int_t)d->dp.ctr.reused_ports));
	json_object_set_new(obj, "teardowns",
			    json_integer((json_int_t)(d->dp.ctr.teardowns + d->fastpath.teardowns)));
	json_object_set_new(obj, "ct_events", json_integer((json_int_t)d->dp.ctr.ct_events));
	json_object_set_new(obj, "fp_reauth_attributed",
			    json_integer((json_int_t)d->fastpath.reauth_attributed));
	json_object_set_new(obj, "exe_mismatch", json_integer((json_int_t)d->dp.ctr.exe_mismatch));
	if (d->dp.exehash) {
		struct ag_exehash_stats hs;

		ag_exehash_get_stats(d->dp.exehash, &hs);
		json_object_set_new(obj, "exe_hashed", json_integer((json_int_t)hs.computed));
		json_object_set_new(obj, "exe_hash_hits", json_integer((json_int_t)hs.hits));
		json_object_set_new(obj, "exe_hash_too_large",
				    json_integer((json_int_t)hs.too_large));
	}
	if (d->dp.proc) {
		struct ag_proc_stats ps;

		ag_proc_get_stats(d->dp.proc, &ps);
		json_object_set_new(obj, "execs_from_kernel",
				    json_integer((json_int_t)ps.ev_exec_kernel));
		json_object_set_new(obj, "exec_events_lost",
				    json_integer((json_int_t)ps.ev_kernel_lost));
		/* what finding a socket's process cost: fds copied, fd links
		 * read, fd tables listed */
		json_object_set_new(obj, "attrib_fds_taken",
				    json_integer((json_int_t)ps.take_tries));
		json_object_set_new(obj, "attrib_fds_read", json_integer((json_int_t)ps.fds_read));
		json_object_set_new(obj, "attrib_fd_scans", json_integer((json_int_t)ps.scans));
		/* copies of files kept open while their closing waited */
		json_object_set_new(obj, "attrib_fds_held", json_integer((json_int_t)ps.take_held));
	}
	/* alegate's rules put back after another program removed or changed them */
	json_object_set_new(obj, "firewall_restores", json_integer((json_int_t)d->guard.restores));
	json_object_set_new(obj, "queue_overruns", json_integer((json_int_t)enobufs));
	json_object_set_new(obj, "kernel_waiting", json_integer((json_int_t)kernel_waiting));
	if (d->dp.dns) {
		ag_dnscache_stats(d->dp.dns, &ds);
		json_object_set_new(obj, "dns_cache_entries", json_integer((json_int_t)ds.entries));
	}
	if (d->dp.attrib) {
		ag_attrib_get_stats(d->dp.attrib, &as);
		json_object_set_new(obj, "attrib_lookups", json_integer((json_int_t)as.lookups));
		json_object_set_new(obj, "attrib_hook_hits", json_integer((json_int_t)as.hook_hits));
		json_object_set_new(obj, "attrib_taken", json_integer((json_int_t)as.taken));
		json_object_set_new(obj, "attrib_udp_not_sender",
				    json_integer((json_int_t)as.udp_not_sender));
		json_object_set_new(obj, "attrib_mean_us",
				    json_integer(as.lookups ? (json_int_t)(as.total_ns / as.lookups /
									 1000)
							    : 0));
	}
}
