#!/usr/bin/env bash
# test_unasked.sh — nothing passes unasked through the data plane: a flow
# that the daemon holds, blocked or never saw starts gets no packet through,
# whatever port it comes from and whatever flags it carries, and a new
# socket on the tuple of an ended flow is a new flow.
. "$(dirname "$0")/lib.sh"

ns_pair
mkdir -p "$T/bin"
ctr() { ctl status --json | jq -r ".counters.$1"; }

# ---- a datagram from port 53 is an inbound flow like any other ----------------------
# The daemon guards the server namespace, inbound = ask.  Its DNS path is
# for replies to queries this host sent; this datagram answers none.
cp "$TOOLS/ag_serve" "$T/bin/udp_listener"
bg_s "$T/bin/udp_listener" udp -i 1500 $S4 5300 >"$T/udp1.log"
lpid=$!
wait_for 5 grep -q ready "$T/udp1.log" || { fail setup "udp listener did not start"; finish; }
daemon_start "$NSS" inbound=ask fail_mode=closed || { fail daemon_start "alegated did not start"; finish; }

in_c "$TOOLS/ag_udp" -p 53 $S4 5300 >/dev/null
wait_pending 1
sleep 0.3
kill $lpid  # it says what it received
if ctl pending --json | jq -e '.[0] | .direction == "in" and .local == "192.0.2.2:5300"
      and .remote == "192.0.2.1:53"' >/dev/null &&
   wait_for 5 grep -q received "$T/udp1.log" && grep -q '^received 0 ' "$T/udp1.log"; then
	pass inbound_udp_from_port_53_is_asked_not_passed
else
	fail inbound_udp_from_port_53_is_asked_not_passed \
		"pending: $(ctl pending --json | jq -c .); listener: $(cat "$T/udp1.log" | tr '\n' '|')"
fi
ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null 2>&1

# With the daemon gone and fail_mode = closed, nothing new passes at all.
daemon_stop KILL
bg_s "$T/bin/udp_listener" udp -i 1500 $S4 5301 >"$T/udp2.log"
lpid=$!
wait_for 5 grep -q ready "$T/udp2.log"
in_c "$TOOLS/ag_udp" -p 53 -c 3 -g 100 $S4 5301 >/dev/null
sleep 0.3
kill $lpid
if wait_for 5 grep -q received "$T/udp2.log" && grep -q '^received 0 ' "$T/udp2.log"; then
	pass inbound_udp_from_port_53_passes_nothing_with_the_daemon_down
else
	fail inbound_udp_from_port_53_passes_nothing_with_the_daemon_down "listener: $(cat "$T/udp2.log")"
fi
in_s "$ALEGATED" -f "$DCONF" --cleanup >/dev/null 2>&1

# ---- TCP simultaneous open: the peer's SYN cannot complete a held connect ---------------
# The daemon guards the client; its connect to S4 from a known port is
# held.  The server answers with a SYN of its own from that port (it
# connects back to that port): the client's socket would take it for a
# simultaneous open and connect while the flow is still pending.
daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }
# simopen NAME LOCAL_PORT REMOTE_PORT: a held connect, the peer's SYN, the
# verdict (a port pair of its own each time: the peer's earlier socket may
# still hold its port)
simopen() {
	local name=$1 lport=$2 rport=$3
	in_c "$TOOLS/ag_connect" -t 3000 -p "$lport" $S4 "$rport" >"$T/$name.c" &
	local cpid=$!
	if ! wait_pending 1; then
		fail "$name" "the connect was not held"
		wait $cpid
		return
	fi
	in_s "$TOOLS/ag_connect" -t 1500 -p "$rport" $C4 "$lport" >"$T/$name.s"
	wait $cpid
	local n
	n=$(ctl pending --json | jq length)
	if [[ $(cat "$T/$name.c") == timeout* ]] && [[ $(cat "$T/$name.s") != ok* ]] && [ "$n" = 1 ]; then
		pass "$name"
	else
		fail "$name" "client: $(cat "$T/$name.c"); peer: $(cat "$T/$name.s"); pending $n"
	fi
	ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null 2>&1
	wait_for 3 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq length)\" = 0 ]"
}
# The peer's SYN carries FIN too: conntrack calls it invalid, and invalid
# packets used to pass.
in_s nft -f - <<'NFT'
table inet synfin {
	chain out {
		type filter hook output priority 0;
		tcp sport 8081 tcp flags & (syn | ack) == syn tcp flags set syn | fin
	}
}
NFT
simopen syn_fin_from_the_peer_cannot_complete_a_held_connect 40001 8081
in_s nft delete table inet synfin
# A plain SYN: queued as inbound, it belongs to the held outbound flow and is
# neither passed nor asked about as a flow of its own.
simopen plain_syn_from_the_peer_cannot_complete_a_held_connect 40002 8082
c=$(ctr crossed)
if [ "${c:-0}" != null ] && [ "${c:-0}" -ge 1 ]; then
	pass peer_syn_into_a_held_connect_is_dropped_not_asked
else
	fail peer_syn_into_a_held_connect_is_dropped_not_asked "crossed: $c"
fi
daemon_stop TERM

# With inbound not intercepted, a SYN to a connecting socket is still looked at.
daemon_start "$NSC" inbound=allow || { fail daemon_start "alegated did not start"; finish; }
simopen simultaneous_open_cannot_complete_a_held_connect_with_inbound_allowed 40003 8083
# ... and a SYN to a listener bound to one address still passes.
bg_c "$TOOLS/ag_serve" tcp $C4 9090 >"$T/lsn.log"
wait_for 5 grep -q ready "$T/lsn.log"
out=$(in_s "$TOOLS/ag_connect" -t 3000 $C4 9090)
[[ $out == ok* ]] && pass inbound_allowed_still_reaches_a_listener_bound_to_one_address ||
	fail inbound_allowed_still_reaches_a_listener_bound_to_one_address "$out"

# A connect the daemon does not know (it was held when the daemon died, so
# the restarted one never saw it; or a blocked flow it forgot): the socket
# still retries its SYN, and the peer's SYN must not complete it.  The
# retries come 1, 3 and 7 s after the first SYN; the daemon is away for the
# first two, and the peer's SYN comes between the second and the third.
in_c "$TOOLS/ag_connect" -t 9000 -p 40004 $S4 8084 >"$T/unknown.c" &
cpid=$!
wait_pending 1
t0=$(date +%s%N)
daemon_stop KILL
sleep 3.3
daemon_start "$NSC" inbound=allow || { fail daemon_start "alegated did not restart"; finish; }
in_s "$TOOLS/ag_connect" -t 1500 -p 8084 $C4 40004 >"$T/unknown.s"
el=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $cpid
if [[ $(cat "$T/unknown.c") == timeout* ]] && [[ $(cat "$T/unknown.s") != ok* ]]; then
	pass peer_syn_into_a_connect_the_daemon_does_not_know_is_dropped
else
	fail peer_syn_into_a_connect_the_daemon_does_not_know_is_dropped \
		"client: $(cat "$T/unknown.c"); peer: $(cat "$T/unknown.s") at ${el} ms"
fi
daemon_stop TERM

# ---- a new socket on the ports of an ended UDP flow is a new flow --------------------
# A program allowed by rule sends from port 41000 and exits; another user's
# program binds the same port and sends to the same peer.  The conntrack
# entry of the first flow (AUTH) must not carry the second.
cp "$TOOLS/ag_udp" "$T/bin/udp_allowed"
cp "$TOOLS/ag_udp" "$T/bin/udp_other"
chmod 0755 "$T/bin" "$T/bin/udp_other"
# udp_reuse NAME LOCAL_PORT PEER_PORT [KEY=VALUE...]: the scene, with the
# daemon's configuration given
udp_reuse() {
	local name=$1 lport=$2 pport=$3
	shift 3
	daemon_start "$NSC" "$@" || { fail daemon_start "alegated did not start"; return; }
	ctl rules add --action allow --app "$T/bin/udp_allowed" --proto udp --port "$pport" \
		--until-restart >/dev/null
	bg_s "$TOOLS/ag_serve" udp -i 10000 $S4 "$pport" >"$T/$name.log"
	local lpid=$!
	wait_for 5 grep -q ready "$T/$name.log"
	# (it lingers a little, so that attribution finds it alive)
	in_c "$T/bin/udp_allowed" -w 300 -p "$lport" $S4 "$pport" >/dev/null
	# the daemon hears of the socket's end (a test of the effect, not of the race)
	wait_for 3 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' status --json | jq '.counters.udp_socket_ends // 0')\" -ge 1 ]"
	in_c setpriv --reuid 65534 --regid 65534 --clear-groups "$T/bin/udp_other" -w 300 -p "$lport" $S4 "$pport" >/dev/null
	wait_pending 1
	sleep 0.3
	kill $lpid
	if wait_for 5 grep -q received "$T/$name.log" && grep -q '^received 1 ' "$T/$name.log" &&
	   ctl pending --json | jq -e --arg exe "$T/bin/udp_other" --arg l "192.0.2.1:$lport" \
		--arg r "192.0.2.2:$pport" '.[0] | .exe == $exe and .uid == 65534
		and .local == $l and .remote == $r' >/dev/null; then
		pass "$name"
	else
		fail "$name" "listener: $(cat "$T/$name.log" | tr '\n' '|'); pending: $(ctl pending --json | jq -c .)"
	fi
	# its rules would hold the client's traffic in the tests below
	daemon_stop_clean
}
udp_reuse udp_ports_of_an_ended_flow_are_a_new_flow_for_another_program_and_user 41000 5400
udp_reuse udp_ports_of_an_ended_flow_are_a_new_flow_without_the_fast_path 41001 5401 bpf=no

# The same for an inbound flow: a listener allowed by rule gets a datagram
# and exits; another user's program binds its port; the same peer sends
# again from the same port.  That is a new inbound flow, asked about.
cp "$TOOLS/ag_serve" "$T/bin/udp_server"
cp "$TOOLS/ag_serve" "$T/bin/udp_squatter"
chmod 0755 "$T/bin/udp_squatter"
daemon_start "$NSS" inbound=ask || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$T/bin/udp_server" --direction in --proto udp --port 5500 \
	--until-restart >/dev/null
bg_s "$T/bin/udp_server" udp -i 500 $S4 5500 >"$T/srv1.log"
wait_for 5 grep -q ready "$T/srv1.log"
in_c "$TOOLS/ag_udp" -p 41100 $S4 5500 >/dev/null
wait_for 5 grep -q received "$T/srv1.log"
wait_for 3 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' status --json | jq '.counters.udp_socket_ends // 0')\" -ge 1 ]"
bg_s setpriv --reuid 65534 --regid 65534 --clear-groups "$T/bin/udp_squatter" udp -i 500 $S4 5500 >"$T/srv2.log"
spid=$!
wait_for 5 grep -q ready "$T/srv2.log"
in_c "$TOOLS/ag_udp" -p 41100 $S4 5500 >/dev/null
wait_pending 1
sleep 0.3
kill $spid 2>/dev/null
if grep -q '^received 1 ' "$T/srv1.log" && wait_for 5 grep -q received "$T/srv2.log" &&
   grep -q '^received 0 ' "$T/srv2.log" &&
   ctl pending --json | jq -e '.[0] | .direction == "in" and .uid == 65534
      and .local == "192.0.2.2:5500" and .remote == "192.0.2.1:41100"' >/dev/null; then
	pass udp_port_of_an_ended_inbound_flow_is_a_new_flow_for_another_program_and_user
else
	fail udp_port_of_an_ended_inbound_flow_is_a_new_flow_for_another_program_and_user \
		"first: $(cat "$T/srv1.log" | tr '\n' '|'); second: $(cat "$T/srv2.log" | tr '\n' '|'); pending: $(ctl pending --json | jq -c .)"
fi
daemon_stop TERM

finish
