#!/usr/bin/env bash
# test_daemon_routes.sh — through the real daemon, a connection is judged
# where its packets go:
#   - an MPTCP connection's extra subflow (the kernel opens it towards an
#     address the peer announces, from a socket of its own) is pended as a
#     flow of the connection's owner, program and user, to the address it
#     goes to; with the owner's rule for that address it connects;
#   - without the fast path (bpf = no), a TCP SYN that a routing header
#     sends to another address first is pended for that address, and
#     nothing reaches either address meanwhile.
. "$(dirname "$0")/lib.sh"

ns_pair
# The server's second address: the one its MPTCP endpoint announces, and
# the first hop of the routing header.
S4H=192.0.2.3 S6H=2001:db8:a1e::3
ip -n "$NSS" addr add $S4H/24 dev eth0
ip -n "$NSS" -6 addr add $S6H/64 dev eth0 nodad
# Root allows extra subflows on both ends; the server announces S4H.
in_c ip mptcp limits set subflow 2 add_addr_accepted 2
in_s ip mptcp limits set subflow 2 add_addr_accepted 2
in_s ip mptcp endpoint add $S4H dev eth0 signal
bg_s "$TOOLS/ag_serve" mptcp 0.0.0.0 5010 >"$T/mptcp.log"
wait_for 5 grep -q ready "$T/mptcp.log" || { fail setup "MPTCP server did not start"; finish; }
bg_s "$TOOLS/ag_serve" tcp :: 5000 >"$T/tcp.log"
wait_for 5 grep -q ready "$T/tcp.log" || { fail setup "TCP server did not start"; finish; }

# The client runs as nobody: the directories must let it in.
mkdir -p "$T/bin"
chmod 0711 "$T"
chmod 0755 "$T/bin"
APP=$T/bin/mp_client
cp "$TOOLS/fp_client" "$APP"
subflows() { in_c ss -tnH state established "( dport = :5010 )" | grep -c .; }

# ---- MPTCP: the join is the owner's flow -----------------------------------------------
daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$APP" --remote $S4 --port 5010 --always >/dev/null

in_c setpriv --reuid 65534 --regid 65534 --clear-groups "$APP" -M -H 5000 $S4 5010 \
	>"$T/mp1.out" 2>&1 &
mp=$!
# Until the join is pended, or has connected past us.
joined() { [ "$(subflows)" -ge 2 ] || [ "$(ctl pending --json | jq length)" -ge 1 ]; }
wait_for 4 joined
p=$(ctl pending --json | jq -c --arg r "$S4H:5010" '[.[] | select(.remote == $r)][0]')
if [ "$(jq -r .exe <<<"$p")" = "$APP" ] && [ "$(jq -r .uid <<<"$p")" = 65534 ]; then
	pass mptcp_join_subflow_is_pended_as_its_connections_owner
else
	fail mptcp_join_subflow_is_pended_as_its_connections_owner \
		"pending: $(ctl pending --json | jq -c .), subflows $(subflows)"
fi
# Until someone answers, the subflow does not exist on the wire.
n=$(subflows)
if [ "$n" = 1 ]; then
	pass mptcp_pended_join_subflow_does_not_connect
else
	fail mptcp_pended_join_subflow_does_not_connect "$n established subflows: $(in_c ss -tnH)"
fi
wait "$mp"
[[ $(cat "$T/mp1.out") == ok* ]] || fail mptcp_first_subflow_allowed_by_rule "$(cat "$T/mp1.out")"

# With the owner's rule for the announced address, the join connects unasked.
ctl rules add --action allow --app "$APP" --remote $S4H --port 5010 --always >/dev/null
in_c setpriv --reuid 65534 --regid 65534 --clear-groups "$APP" -M -H 3000 $S4 5010 \
	>"$T/mp2.out" 2>&1 &
mp=$!
wait_for 2 bash -c "[ \$(ip netns exec $NSC ss -tnH state established '( dst $S4H and dport = :5010 )' | grep -c .) -ge 1 ]"
n=$(in_c ss -tnH state established "( dst $S4H and dport = :5010 )" | grep -c .)
np=$(ctl pending --json | jq --arg r "$S4H:5010" '[.[] | select(.remote == $r)] | length')
if [ "$n" -ge 1 ] && [ "$np" = 0 ]; then
	pass mptcp_join_subflow_allowed_by_the_owners_rule_connects
else
	fail mptcp_join_subflow_allowed_by_the_owners_rule_connects \
		"$n subflows to $S4H, $np pending: $(ctl pending --json | jq -c .)"
fi
wait "$mp"
daemon_stop

# ---- a routing header, without the fast path ---------------------------------------------
# bpf = no: nothing refuses the routing header; the SYN leaves for S6H
# first, and that is the flow the queue sees and the daemon pends.
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$APP" --remote $S6 --port 5000 --always >/dev/null
in_c "$APP" -t 3000 -R $S6H $S6 5000 >"$T/rt.out" 2>&1 &
rt=$!
if wait_pending 1 &&
	ctl pending --json | jq -e --arg r "[$S6H]:5000" 'any(.[]; .remote == $r)' >/dev/null; then
	pass routing_header_syn_is_pended_for_its_first_hop
else
	fail routing_header_syn_is_pended_for_its_first_hop "pending: $(ctl pending --json | jq -c .)"
fi
wait "$rt"
daemon_stop
finish
