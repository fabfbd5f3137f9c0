#!/usr/bin/env bash
# test_dataplane.sh — the data plane through the real daemon:
# verdicts, pended data, teardown, one classification per flow, IPv6 and
# attribution of short-lived processes, on the NFQUEUE path (bpf = no: the
# fast path has its own test).  The daemon runs in the client
# namespace; servers in the other.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; echo "$T/bin/$1"; }
pending_id() { ctl pending --json | jq -r --arg x "$1" '[.[] | select(.exe == $x)][0].id'; }
queued() { ctl status --json | jq .counters.queued_packets; }

daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }

# ---- rules decide without asking -----------------------------------------------------
OK=$(client allowed) NO=$(client denied) RJ=$(client rejected)
ctl rules add --action allow --app "$OK" --until-restart >/dev/null
ctl rules add --action deny --app "$NO" --until-restart >/dev/null
ctl rules add --action reject --app "$RJ" --until-restart >/dev/null
out=$(in_c "$OK" -t 3000 $S4 8080)
[[ $out == ok* ]] && pass allowed_tcp_connect || fail allowed_tcp_connect "$out"
out=$(in_c "$NO" -t 1500 $S4 8080)
[[ $out == timeout* ]] && pass denied_tcp_connect_never_connects || fail denied_tcp_connect_never_connects "$out"
out=$(in_c "$RJ" -t 5000 $S4 8080)
ms=$(awk '{print $NF}' <<<"$out")
if [[ $out == error* ]] && [ "$ms" -lt 500 ]; then
	pass rejected_tcp_connect_fails_at_once
else
	fail rejected_tcp_connect_fails_at_once "$out"
fi
[ "$(ctl pending --json | jq length)" = 0 ] && pass rules_decide_without_pending ||
	fail rules_decide_without_pending "$(ctl pending --json)"

# The engine keeps a blocked flow (120 s) so that retransmits are not asked
# about again; a new connection of another program that gets the same local
# port must be a flow of its own, not the blocked one (nor the rejected one).
r0=$(ctl status --json | jq .counters.reused_ports)
o1=$(in_c "$NO" -p 40123 -t 1500 $S4 8080)
o2=$(in_c "$OK" -p 40123 -t 3000 $S4 8080)
o3=$(in_c "$RJ" -p 40124 -t 3000 $S4 8080)
o4=$(in_c "$OK" -p 40124 -t 3000 $S4 8080)
r1=$(ctl status --json | jq .counters.reused_ports)
if [[ $o1 == timeout* ]] && [[ $o2 == ok* ]] && [[ $o3 == error* ]] && [[ $o4 == ok* ]] &&
	[ $((r1 - r0)) -eq 2 ]; then
	pass new_connection_on_the_port_of_a_blocked_flow_is_its_own_flow
else
	fail new_connection_on_the_port_of_a_blocked_flow_is_its_own_flow \
		"denied: $o1; allowed after it: $o2; rejected: $o3; allowed after it: $o4; reused $r0 -> $r1"
fi

# ---- a pended connect completed as blocked ---------------------------------------------
P=$(client pended_blocked)
in_c "$P" -t 2500 $S4 8080 >"$T/pb.out" &
ppid=$!
wait_pending 1
ctl deny "$(pending_id "$P")" >/dev/null
wait "$ppid"
[[ $(cat "$T/pb.out") == timeout* ]] && pass pended_connect_completed_as_blocked ||
	fail pended_connect_completed_as_blocked "$(cat "$T/pb.out")"

# ---- IPv6: allowed, pended and allowed ---------------------------------------------------
out=$(in_c "$OK" -t 3000 $S6 8080)
[[ $out == ok* ]] && pass ipv6_allowed_tcp_connect || fail ipv6_allowed_tcp_connect "$out"
P6=$(client pended6)
in_c "$P6" -t 10000 $S6 8080 >"$T/p6.out" &
p6=$!
if wait_pending 1 && ctl pending --json | jq -e --arg x "$P6" 'any(.[]; .exe == $x and .remote == "[2001:db8:a1e::2]:8080")' >/dev/null; then
	ctl allow "$(pending_id "$P6")" >/dev/null
	wait "$p6"
	[[ $(cat "$T/p6.out") == ok* ]] && pass ipv6_pended_connect_completed_as_allowed ||
		fail ipv6_pended_connect_completed_as_allowed "$(cat "$T/p6.out")"
else
	fail ipv6_pended_connect_completed_as_allowed "not pended: $(ctl pending --json)"
fi
out=$(in_c "$NO" -t 1500 $S6 8080)
[[ $out == timeout* ]] && pass ipv6_denied_tcp_connect || fail ipv6_denied_tcp_connect "$out"

# ---- pended UDP: what is sent while pending arrives after the permit, in order -----------
U=$(client udp_buffered ag_udp)
bg_s "$TOOLS/ag_serve" udp -i 1500 $S4 5353 >"$T/udp1.log"
wait_for 5 grep -q ready "$T/udp1.log"
in_c "$U" -c 10 -g 50 $S4 5353 >/dev/null &
upid=$!
wait_pending 1
wait "$upid" # all ten sent while the flow is pended
sleep 0.2
ctl allow "$(pending_id "$U")" >/dev/null
wait_for 5 grep -q received "$T/udp1.log"
if grep -q "received 10 in_order YES first 0 last 9" "$T/udp1.log"; then
	pass pended_udp_datagrams_all_arrive_after_permit_in_order
else
	fail pended_udp_datagrams_all_arrive_after_permit_in_order "$(cat "$T/udp1.log")"
fi

# ---- 100,000 datagrams of one allowed flow reach user space once -------------------------
BULK=$(client udp_bulk ag_udp)
ctl rules add --action allow --app "$BULK" --until-restart >/dev/null
bg_s "$TOOLS/ag_serve" udp -i 2000 $S4 5454 >"$T/udp2.log"
wait_for 5 grep -q ready "$T/udp2.log"
q0=$(queued)
in_c "$BULK" -c 100000 -r 50000 -w 300 $S4 5454 >/dev/null
wait_for 10 grep -q received "$T/udp2.log"
q1=$(queued)
got=$(awk '/received/ {print $2}' "$T/udp2.log")
if [ $((q1 - q0)) -eq 1 ] && [ "${got:-0}" -ge 99000 ]; then
	pass udp_flow_of_100000_datagrams_reaches_user_space_once
else
	fail udp_flow_of_100000_datagrams_reaches_user_space_once "queued $((q1 - q0)), received $got"
fi

# ---- an established connection torn down by a new deny rule ---------------------------------
T1=$(client teardown)
ctl rules add --action allow --app "$T1" --until-restart >/dev/null
in_c "$T1" -w -t 10000 $S4 8080 >"$T/td.out" &
tdpid=$!
wait_for 5 grep -q connected "$T/td.out"
resets0=$(grep -c reset "$T/server.log")
id=$(ctl rules add --action deny --app "$T1" --weight 10 --until-restart --json | jq -r .rule)
wait "$tdpid"
ms=$(awk '/^(reset|error)/ {print $2}' "$T/td.out")
sleep 0.3
resets1=$(grep -c reset "$T/server.log")
if grep -qE '^(reset|error)' "$T/td.out" && [ "${ms:-99999}" -lt 1000 ] && [ "$resets1" -gt "$resets0" ]; then
	pass established_connection_torn_down_by_new_deny_rule_peer_sees_reset
else
	fail established_connection_torn_down_by_new_deny_rule_peer_sees_reset \
		"client: $(tr '\n' ' ' <"$T/td.out"), server resets $resets0 -> $resets1"
fi
[ -n "$id" ] && ctl rules del "$id" >/dev/null

# ---- 200 short-lived processes, each attributed to its own executable --------------------
for i in $(seq 1 200); do cp "$TOOLS/ag_connect" "$T/bin/short_$i"; done
ctl rules add --action allow --app "$T/bin/short_*" --until-restart >/dev/null
seq0=$(ctl events --json --limit 1 | jq '.[-1].seq // 0')
for i in $(seq 1 200); do
	port=$(in_c "$T/bin/short_$i" -l -t 3000 $S4 8080 | awk '/^ok/ {print $3}')
	echo "$i $port"
done >"$T/short.map"
ctl events --json --limit 4000 >"$T/events.json"
# The processes ran one after another, so their permits came in the same
# order: each is the first permit of its local port after the one before.
# (Matching the port alone fails when a later process reuses it.)
jq -r --argjson s "$seq0" '.[] | select(.type == "permit" and .seq > $s) | "\(.local) \(.exe)"' \
	"$T/events.json" >"$T/permits.txt"
read -r right wrong < <(awk -v bin="$T/bin" '
	NR == FNR { loc[NR] = $1; exe[NR] = $2; n = NR; next }
	{
		i = $1; port = $2
		if (port == "") { bad = bad " short_" i ":no-connect"; next }
		for (k = pos + 1; k <= n && loc[k] != "192.0.2.1:" port; k++)
			;
		if (k > n) { bad = bad " short_" i ":no-event"; next }
		pos = k
		if (exe[k] == bin "/short_" i) right++; else bad = bad " short_" i ":" exe[k]
	}
	END { print right + 0, bad }' "$T/permits.txt" "$T/short.map")
if [ "$right" -eq 200 ]; then
	pass short_lived_processes_200_of_200_attributed_to_their_executable
else
	fail short_lived_processes_200_of_200_attributed_to_their_executable "$right of 200; wrong:$wrong"
fi

daemon_stop TERM

# ---- pending_buffer = 0: data sent while pending is flushed ---------------------------------
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no pending_buffer=0 || { fail daemon_restart "no daemon"; finish; }
U0=$(client udp_flushed ag_udp)
bg_s "$TOOLS/ag_serve" udp -i 1500 $S4 5555 >"$T/udp3.log"
wait_for 5 grep -q ready "$T/udp3.log"
in_c "$U0" -c 10 -g 50 $S4 5555 >/dev/null &
upid=$!
wait_pending 1
wait "$upid"
ctl allow "$(pending_id "$U0")" >/dev/null
sleep 2
# Only the held first datagram goes: the nine sent while pended were flushed.
if grep -q "received 1 in_order YES first 0 last 0" "$T/udp3.log" ||
   { sleep 1; grep -q "received 1 in_order YES first 0 last 0" "$T/udp3.log"; }; then
	pass pending_buffer_0_flushes_datagrams_sent_while_pended
else
	fail pending_buffer_0_flushes_datagrams_sent_while_pended "$(cat "$T/udp3.log")"
fi
daemon_stop TERM
finish
