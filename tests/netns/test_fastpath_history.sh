#!/usr/bin/env bash
# test_fastpath_history.sh — what the eBPF fast path decides in the kernel
# is reported to the daemon: an allowed connect() is an event within a
# second, a live flow in `flows`, and a history row with its bytes once its
# socket is closed, still there after a restart; a denied one is an event
# and a row too.  Without eBPF here, the daemon says why and the NFQUEUE
# path keeps the history (test_history.sh).
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp 0.0.0.0 8080 >"$T/server.log"
bg_s "$TOOLS/ag_serve" udp -i 600000 -e 0.0.0.0 5353 >"$T/udp.log"
bg_s "$TOOLS/ag_serve" udp -i 600000 -e 0.0.0.0 5354 >"$T/udp2.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
wait_for 5 grep -q ready "$T/udp.log" || { fail setup "UDP server did not start"; finish; }
wait_for 5 grep -q ready "$T/udp2.log" || { fail setup "UDP server did not start"; finish; }
mkdir -p "$T/bin"
cp "$TOOLS/ag_connect" "$T/bin/fph_ok"
cp "$TOOLS/ag_connect" "$T/bin/fph_no"
cp "$TOOLS/ag_udp" "$T/bin/fph_udp"
cp "$TOOLS/ag_udp" "$T/bin/fph_udp2"
cp "$TOOLS/ag_udp" "$T/bin/fph_udp3"
OK=$T/bin/fph_ok NO=$T/bin/fph_no UDP=$T/bin/fph_udp UDP2=$T/bin/fph_udp2 UDP3=$T/bin/fph_udp3

daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }
fp=$(ctl status --json | jq -r .fast_path)
if [[ $fp != on* ]]; then
	[[ $fp == off:* ]] && pass fast_path_unavailable_daemon_says_why ||
		fail fast_path_unavailable_daemon_says_why "status: $fp"
	daemon_stop_clean
	finish
fi
ctl rules add --action allow --app "$OK" --always >/dev/null
ctl rules add --action deny --app "$NO" --always >/dev/null
ctl rules add --action allow --app "$UDP" --always >/dev/null
ctl rules add --action allow --app "$UDP2" --always >/dev/null
rule=$(ctl rules list --json | jq -r --arg a "$OK" '.[] | select(.app == $a or .app == [$a]) | .id')
hist() { ctl history --json "$@"; }

ctl events --follow --json >"$T/events" 2>&1 &
_ag_bg_pids+=($!)
sleep 0.3
q0=$(ctl status --json | jq .counters.queued_packets)
# an open connection: the kernel decides, the daemon hears of it
(exec ip netns exec "$NSC" "$OK" -w -t 10000 $S4 8080 >"$T/open.out") &
open_pid=$!
_ag_bg_pids+=($open_pid)
t0=$(date +%s%N)
if wait_for 1 grep -q "fph_ok" "$T/events"; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if jq -e -s --arg a "$OK" --arg r "$rule" 'any(.[]; .exe == $a and .reason == "fast_path"
		and .type == "permit" and .rule == $r and .remote == "192.0.2.2:8080")' "$T/events" >/dev/null &&
		[ "$(ctl status --json | jq .counters.queued_packets)" = "$q0" ]; then
		pass fast_path_allowed_connect_is_an_event_within_a_second
	else
		fail fast_path_allowed_connect_is_an_event_within_a_second "$(cat "$T/events")"
	fi
else
	fail fast_path_allowed_connect_is_an_event_within_a_second "nothing in 1 s: $(cat "$T/events")"
fi
if ctl flows --json | jq -e --arg a "$OK" 'any(.[]; .exe == $a and .decided == "fastpath" and .remote == "192.0.2.2:8080")' >/dev/null; then
	pass fast_path_flow_is_listed_by_flows
else
	fail fast_path_flow_is_listed_by_flows "$(ctl flows --json)"
fi
kill $open_pid 2>/dev/null
wait $open_pid 2>/dev/null
# a short connection with data: its row has its bytes once the socket is closed
out=$(in_c "$OK" -t 3000 -s 5000 $S4 8080)
if [[ $out == ok* ]] && wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$OK' | jq -e 'length == 2 and all(.[]; .bytes_out != null)' >/dev/null" &&
	hist --app "$OK" | jq -e --arg r "$rule" '.[0] | .decided == "fastpath" and .action == "allow" and .rule == $r
		and .bytes_out >= 5000 and .bytes_out < 8000 and .bytes_in > 0 and (.pid > 0)' >/dev/null &&
	! ctl flows --json | jq -e --arg a "$OK" 'any(.[]; .exe == $a)' >/dev/null; then
	pass fast_path_connection_is_in_history_with_its_bytes_once_closed
else
	fail fast_path_connection_is_in_history_with_its_bytes_once_closed "$out $(hist --app "$OK")"
fi
# a UDP exchange the kernel allowed (conntrack never sees it): ten 64-byte
# datagrams each way, 10 x (20 + 8 + 64) = 920 bytes of IP packets; once
# the socket is closed its row has its end and those bytes, and traffic too
q0=$(ctl status --json | jq .counters.queued_packets)
out=$(in_c "$UDP" -c 10 -e $S4 5353)
if [ "$out" = "sent 10 echoed 10" ] && [ "$(ctl status --json | jq .counters.queued_packets)" = "$q0" ] &&
	wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$UDP' | jq -e '.[0].end != null' >/dev/null" &&
	hist --app "$UDP" | jq -e --arg r "$rule" 'length == 1 and (.[0] | .decided == "fastpath" and .proto == "udp"
		and .action == "allow" and .remote == "192.0.2.2:5353" and .bytes_out == 920 and .bytes_in == 920
		and .end_ms >= .time_ms)' >/dev/null &&
	ctl traffic --json | jq -e --arg a "$UDP" 'any(.[]; .exe == $a and .connections == 1
		and .bytes_out == 920 and .bytes_in == 920)' >/dev/null; then
	pass fast_path_udp_exchange_is_in_history_with_its_end_and_bytes
else
	fail fast_path_udp_exchange_is_in_history_with_its_end_and_bytes \
		"$out, queued $q0 -> $(ctl status --json | jq .counters.queued_packets): $(hist --app "$UDP")"
fi
# one UDP socket, two peers: a row for each, the socket's bytes (both
# exchanges) on the first row only, so traffic counts them once
out=$(in_c "$UDP2" -c 10 -e -P 5354 $S4 5353)
if [ "$out" = "sent 20 echoed 20" ] &&
	wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$UDP2' | jq -e 'length == 2 and all(.[]; .end != null)' >/dev/null" &&
	hist --app "$UDP2" | jq -e 'map({(.remote): [.bytes_in, .bytes_out]}) | add
		== {"192.0.2.2:5353": [1840, 1840], "192.0.2.2:5354": [0, 0]}' >/dev/null &&
	ctl traffic --json | jq -e --arg a "$UDP2" 'any(.[]; .exe == $a and .connections == 2
		and .bytes_out == 1840 and .bytes_in == 1840)' >/dev/null; then
	pass fast_path_udp_socket_to_two_peers_counts_its_bytes_once
else
	fail fast_path_udp_socket_to_two_peers_counts_its_bytes_once "$out: $(hist --app "$UDP2")"
fi
# one UDP socket, one peer the kernel allows and one the daemon decides
# (a rule of two ports is a barrier in the kernel): conntrack counts the
# second exchange (read when the socket closes), so the socket's own count
# must leave it out
ctl rules add --action allow --app "$UDP3" --proto udp --port 5353 --always >/dev/null
ctl rules add --action allow --app "$UDP3" --proto udp --port 5354,5355 --always >/dev/null
out=$(in_c "$UDP3" -c 10 -e -P 5354 $S4 5353)
if [ "$out" = "sent 20 echoed 20" ] &&
	wait_for 5 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$UDP3' | jq -e 'length == 2 and all(.[]; .end != null)' >/dev/null" &&
	hist --app "$UDP3" | jq -e 'map({(.remote): [.decided, .bytes_in, .bytes_out]}) | add
		== {"192.0.2.2:5353": ["fastpath", 920, 920], "192.0.2.2:5354": ["rule", 920, 920]}' >/dev/null &&
	ctl traffic --json | jq -e --arg a "$UDP3" 'any(.[]; .exe == $a and .connections == 2
		and .bytes_out == 1840 and .bytes_in == 1840)' >/dev/null; then
	pass fast_path_udp_socket_with_a_queued_peer_counts_each_byte_once
else
	fail fast_path_udp_socket_with_a_queued_peer_counts_each_byte_once \
		"$out: $(hist --app "$UDP3"); traffic: $(ctl traffic --json | jq -c --arg a "$UDP3" '.[] | select(.exe == $a)')"
fi
out=$(in_c "$NO" -t 3000 $S4 8080)
if [[ $out == "error EPERM"* ]] && wait_for 1 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$NO' | jq -e '.[0].action == \"deny\" and .[0].decided == \"fastpath\"' >/dev/null" &&
	jq -e -s --arg a "$NO" 'any(.[]; .exe == $a and .type == "block")' "$T/events" >/dev/null; then
	pass fast_path_denied_connect_is_an_event_and_a_history_row
else
	fail fast_path_denied_connect_is_an_event_and_a_history_row "$out $(hist --app "$NO")"
fi
n=$(hist | jq length)
daemon_stop TERM
daemon_start "$NSC" || { fail daemon_restart "alegated did not start again"; finish; }
if [ "$n" -ge 3 ] && [ "$(hist | jq length)" = "$n" ] &&
	hist --app "$OK" | jq -e '.[0].bytes_out >= 5000' >/dev/null; then
	pass fast_path_history_survives_a_restart
else
	fail fast_path_history_survives_a_restart "$n rows before, $(hist | jq length) after"
fi
# a flood while the daemon reads nothing (stopped): the kernel never waits
# for it; what does not fit the ring is folded into a count
cp "$TOOLS/ag_flood" "$T/bin/fph_flood"
ctl rules add --action allow --app "$T/bin/fph_flood" --always >/dev/null
f0=$(ctl status --json | jq '.fast_path_info.folded')
e0=$(ctl status --json | jq '.counters.fast_path_events')
kill -STOP "$DAEMON_PID"
t0=$(date +%s%N)
out=$(in_c "$T/bin/fph_flood" -r 20000 -d 0.5 $S4 9999)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$DAEMON_PID"
sent=${out#flows }
sleep 0.5
f1=$(ctl status --json | jq '.fast_path_info.folded')
e1=$(ctl status --json | jq '.counters.fast_path_events')
if [ "$sent" -ge 5000 ] && [ "$ms" -lt 3000 ] && [ $((f1 - f0)) -gt 0 ] &&
	[ $((f1 - f0 + e1 - e0)) -ge "$sent" ]; then
	pass fast_path_flood_is_folded_and_counted_never_waited_for
else
	fail fast_path_flood_is_folded_and_counted_never_waited_for \
		"$sent sent in $ms ms, folded $f0 -> $f1, events $e0 -> $e1"
fi
daemon_stop_clean
finish
