#!/usr/bin/env bash
# test_teardown.sh — tearing a flow down: SOCK_DESTROY of its local socket,
# deletion of its conntrack entry, and conntrack DESTROY events.
#
# What really happens, as these tests check it (Linux 6.x):
#  - a connect() waiting on a dropped SYN fails with ECONNABORTED as soon as
#    its socket is destroyed (instead of after a minute of retransmits);
#  - a reader of an established TCP connection, or of a connected UDP
#    socket, gets ECONNABORTED at once;
#  - the kernel sends a RST for the destroyed TCP socket.  With the flow's
#    conntrack entry deleted first (as the daemon does), that RST leaves as
#    a conntrack-INVALID packet: with no rule dropping INVALID it reaches
#    the peer, whose read fails with ECONNRESET;
#  - a flow's DESTROY event comes when the kernel removes its entry: at
#    once for a deleted entry or a refused connection, but for a flow that
#    timed out only when the garbage collector (or a dump) reaps it;
#  - conntrack only tracks flows in a namespace once a rule needs it, so the
#    client namespace gets a conntrack rule, as the daemon's rules will.
source "$(dirname "$0")/lib.sh"

D=$TOOLS/attr_teardown
ns_pair

listening() {	# listening t|u PORT — a server socket is up in $NSS
	ip netns exec "$NSS" ss -Hl${1}n "sport = :$2" | grep -q .
}

in_c iptables -A OUTPUT -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID -j ACCEPT
in_c iptables -t mangle -A OUTPUT -p udp --dport 7600 -j CONNMARK --set-mark 0x2a
in_c ip6tables -A OUTPUT -m conntrack --ctstate NEW,ESTABLISHED,RELATED,INVALID -j ACCEPT
# Flows that end by themselves: one-way UDP expires after a second.
in_c sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1

in_s iptables -A INPUT -p tcp --dport 7400 -j DROP
bg_s "$TOOLS/attr_client" serve-once 0.0.0.0 7401 "$T/peer4" >/dev/null
bg_s "$TOOLS/attr_client" serve-once :: 7411 "$T/peer6" >/dev/null
bg_s "$TOOLS/attr_client" listen udp 0.0.0.0 7402 >/dev/null
bg_s "$TOOLS/attr_client" listen tcp 0.0.0.0 7403 >/dev/null
bg_s "$TOOLS/attr_client" listen tcp :: 7413 >/dev/null
bg_s "$TOOLS/attr_client" listen udp 0.0.0.0 7600 >/dev/null
bg_s "$TOOLS/attr_client" listen udp 0.0.0.0 7601 >/dev/null
for p in 7401 7411 7403 7413; do wait_for 5 listening t $p; done
for p in 7402 7600 7601; do wait_for 5 listening u $p; done

run() {	# run NAME ARGS... — one check: the tool's verdict
	local name=$1 out; shift
	if out=$(in_c "$D" "$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(echo "$out" | tail -3 | tr '\n' ' ')"
	fi
}

in_s ip6tables -A INPUT -p tcp --dport 7400 -j DROP
run destroy_blocked_connect_fails_at_once_with_econnaborted destroy-synsent $S4 7400
run destroy_blocked_connect_ipv6 destroy-synsent $S6 7400

run destroy_established_reader_gets_econnaborted_at_once destroy-established $S4 7401
wait_for 5 test -s "$T/peer4"
peer=$(cat "$T/peer4" 2>/dev/null)
if [ "$peer" = reset ]; then
	pass peer_sees_reset_after_ct_delete_and_destroy
else
	fail peer_sees_reset_after_ct_delete_and_destroy "peer saw \"$peer\""
fi
run destroy_established_ipv6 destroy-established $S6 7411
wait_for 5 test -s "$T/peer6"
peer=$(cat "$T/peer6" 2>/dev/null)
if [ "$peer" = reset ]; then
	pass peer_sees_reset_ipv6
else
	fail peer_sees_reset_ipv6 "peer saw \"$peer\""
fi

run destroy_connected_udp_reader_gets_econnaborted destroy-udp $S4 7402
run destroy_spares_listener_and_unconnected_udp destroy-spares-shared $S4 7405

run ct_delete_removes_entry_seen_by_conntrack_tool ct-delete $S4 7403
run ct_delete_ipv6 ct-delete $S6 7413
run ct_destroy_events_for_deleted_refused_and_expired_flows ct-events $S4 7600 0x2a 7602
run ct_event_overrun_reported_and_survived ct-enobufs $S4 7601 3000

finish
