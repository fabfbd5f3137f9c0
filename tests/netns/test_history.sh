#!/usr/bin/env bash
# test_history.sh — every decided connection is kept in state_dir's SQLite
# database: a row when it is decided (time, program, peer, action, what
# decided it), its end and bytes once conntrack forgets it; the rows outlive
# a restart and a kill -9 in a flood (but for its last second); `traffic`
# sums the bytes per program; history_max_mb removes the oldest rows.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp 0.0.0.0 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
bg_s "$TOOLS/ag_serve" udp -e 0.0.0.0 5353 >"$T/udp.log"
wait_for 5 grep -q ready "$T/udp.log" || { fail setup "UDP server did not start"; finish; }
mkdir -p "$T/bin"
cp "$TOOLS/ag_udp" "$T/bin/hist_udp"
UDP=$T/bin/hist_udp
cp "$TOOLS/ag_connect" "$T/bin/hist_ok"
cp "$TOOLS/ag_connect" "$T/bin/hist_big"
OK=$T/bin/hist_ok BIG=$T/bin/hist_big
# A closed TCP connection's conntrack entry waits out TIME_WAIT (two
# minutes by default) before it is destroyed and its bytes are read: one
# second here, in the test's own namespace.
in_c sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 2>/dev/null

# bpf = no: the NFQUEUE path and conntrack, whatever the kernel offers
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$OK" --always >/dev/null
ctl rules add --action allow --app "$BIG" --always >/dev/null
ctl rules add --action allow --app "$UDP" --always >/dev/null
rule=$(ctl rules list --json | jq -r --arg a "$OK" '.[] | select(.app == $a or .app == [$a]) | .id')

hist() { ctl history --json "$@"; }
# conntrack reaps expired entries (and tells their end) when its garbage
# collector comes by, which a busy machine can put off for many seconds;
# a dump of the table reaps them at once
ended() {
	in_c conntrack -L >/dev/null 2>&1
	ctl history --json --app "$1" | jq -e "$2" >/dev/null
}
out=$(in_c "$OK" -t 3000 -s 1000 $S4 8080)
[[ $out == ok* ]] || fail setup "connect: $out"
# decided by the rule: a row within a second, with the rule and the program
if wait_for 1 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$OK' | jq -e 'length == 1' >/dev/null" &&
	hist --app "$OK" | jq -e --arg r "$rule" --arg a "$OK" '.[0] | .exe == $a and .action == "allow"
		and .decided == "rule" and .rule == $r and .proto == "tcp" and .direction == "out"
		and .remote == "192.0.2.2:8080" and (.pid > 0) and .uid == 0 and (.time | test("Z$"))' >/dev/null; then
	pass rule_allowed_connection_is_a_history_row_within_a_second
else
	fail rule_allowed_connection_is_a_history_row_within_a_second "$(hist)"
fi
# ended: its bytes (1000 out plus headers, the server's answer in)
if wait_for 15 ended "$OK" '.[0].bytes_out != null' &&
	hist --app "$OK" | jq -e '.[0] | .bytes_out >= 1000 and .bytes_out < 3000 and .bytes_in > 0 and .end_ms >= .time_ms' >/dev/null; then
	pass ended_connection_has_its_bytes_in_history
else
	fail ended_connection_has_its_bytes_in_history "$(hist --app "$OK")"
fi

# traffic: a 1 MB transfer is counted for its program, first
out=$(in_c "$BIG" -t 10000 -s 1048576 $S4 8080)
[[ $out == ok* ]] || fail setup "connect: $out"
if wait_for 15 ended "$BIG" '.[0].bytes_out >= 1048576' &&
	ctl traffic --since 1h --json | jq -e --arg a "$BIG" '.[0] | .exe == $a and .connections == 1 and .bytes_out < 1200000' >/dev/null; then
	pass traffic_counts_a_1mb_transfer_for_its_program
else
	fail traffic_counts_a_1mb_transfer_for_its_program "$(ctl traffic --json)"
fi
if ctl traffic | grep -q hist_big && ctl history --limit 1 | grep -q hist_big; then
	pass traffic_and_history_print_tables_for_people
else
	fail traffic_and_history_print_tables_for_people "$(ctl traffic; ctl history --limit 1)"
fi
# a UDP exchange ends with its socket (the daemon deletes the entry then,
# so no other program rides it): the row has that end and its bytes, ten
# 64-byte datagrams each way, 10 x (20 + 8 + 64) = 920 bytes
if out=$(in_c "$UDP" -c 10 -e $S4 5353) && [ "$out" = "sent 10 echoed 10" ] &&
	wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' history --json --app '$UDP' | jq -e '.[0].end != null' >/dev/null" &&
	hist --app "$UDP" | jq -e 'length == 1 and (.[0] | .decided == "rule" and .proto == "udp"
		and .bytes_out == 920 and .bytes_in == 920)' >/dev/null; then
	pass udp_flow_ended_with_its_socket_has_its_end_and_bytes
else
	fail udp_flow_ended_with_its_socket_has_its_end_and_bytes "$out: $(hist --app "$UDP")"
fi

# a restart: the rows are still there
before=$(hist | jq length)
daemon_stop TERM
daemon_start "$NSC" bpf=no || { fail daemon_restart "alegated did not start again"; finish; }
after=$(hist | jq length)
if [ "$before" -ge 2 ] && [ "$after" = "$before" ] &&
	hist --app "$OK" | jq -e '.[0].bytes_out >= 1000' >/dev/null; then
	pass history_survives_a_restart
else
	fail history_survives_a_restart "$before rows before, $after after"
fi

# filters and bad input
if [ "$(hist --app /nonexistent | jq length)" = 0 ] && [ "$(hist --limit 1 | jq length)" = 1 ]; then
	pass history_filters_by_app_and_limit
else
	fail history_filters_by_app_and_limit "$(hist --limit 1)"
fi
ctl history --since nonsense >/dev/null 2>&1
[ $? = 2 ] && pass history_bad_since_is_a_usage_error_2 || fail history_bad_since_is_a_usage_error_2 "exit $?"

# kill -9 in a flood of new flows: what was decided more than a second
# before the kill is in the database
cp "$TOOLS/ag_flood" "$T/bin/hist_flood"
FLOOD=$T/bin/hist_flood
# each datagram from a socket closed at once: too short-lived to name its
# program, so the rule names the peer
ctl rules add --action allow --remote $S4 --port 9999 --proto udp --always >/dev/null
permits() { ctl status --json | jq .counters.permits; }
# twice: a writer that committed less often than every second would
# have to be lucky in both rounds to pass
worst=
for round in 1 2; do
	p0=$(permits)
	n0=$(hist | jq '[.[] | select(.remote == "192.0.2.2:9999")] | length')
	bg_c "$FLOOD" -r 1000 -d 3 $S4 9999 >/dev/null
	sleep 1.5
	p1=$(permits)
	t1=$(date +%s%3N)
	sleep 1
	daemon_stop KILL
	sleep 0.5
	daemon_start "$NSC" bpf=no || { fail daemon_restart "alegated did not start again"; finish; }
	kept=$(hist | jq --argjson t $((t1 + 5)) '[.[] | select(.remote == "192.0.2.2:9999" and .time_ms <= $t)] | length')
	kept=$((kept - n0))
	if [ $((p1 - p0)) -lt 500 ] || [ "$kept" -lt $((p1 - p0)) ]; then
		worst="round $round: $((p1 - p0)) decided before the last second, $kept kept"
	fi
	echo "# round $round: $((p1 - p0)) decided, $kept kept, n0 $n0"; sleep 1.6
done
if [ -z "$worst" ]; then
	pass kill_9_in_a_flood_loses_at_most_the_last_second_of_history
else
	fail kill_9_in_a_flood_loses_at_most_the_last_second_of_history "$worst"
fi

# history_max_mb: past it, the oldest rows go (checked at start and every minute)
daemon_stop TERM
daemon_start "$NSC" bpf=no history_max_mb=1 || { fail daemon_restart "alegated did not start again"; finish; }
in_c "$FLOOD" -r 2000 -d 4 $S4 9999 >/dev/null
sleep 1
rows=$(hist | jq length)
daemon_stop TERM
daemon_start "$NSC" bpf=no history_max_mb=1 || { fail daemon_restart "alegated did not start again"; finish; }
sleep 0.5
after=$(hist | jq length)
size=$(stat -c %s "$T/d-$NSC/state/history.db")
newest=$(hist | jq -r '.[0].time_ms')
if [ "$rows" -ge 7000 ] && [ "$after" -lt "$rows" ] && [ "$after" -gt 1000 ] &&
	[ "$(ctl status --json | jq .history.trimmed)" -gt 0 ] && [ "$newest" != null ]; then
	pass history_max_mb_removes_the_oldest_rows
else
	fail history_max_mb_removes_the_oldest_rows "$rows rows, $after after the start, file $size bytes"
fi

daemon_stop_clean
finish
