#!/usr/bin/env bash
# test_udp_port_reuse.sh — a queued datagram is named by the program that
# sent it, not by one that took its local port after the sender closed its
# socket.  The sender's datagram waits in the queue while the daemon is
# stopped; meanwhile the sender exits and another program binds the same
# port without sending anything.  That socket matches the datagram's
# addresses (an unconnected socket on its port), but holds no datagram in
# flight, so it cannot be the sender: with the exec monitor's record of who
# closed the port the flow is named by the sender, without it by no one.
# An unconnected socket that did send the datagram is still named.  Two
# senders on one port in turn, both gone when the daemon looks, are each
# named by the exec monitor's record of their own socket.
. "$(dirname "$0")/lib.sh"

ns_pair
mkdir -p "$T/bin"
chmod 0755 "$T/bin"
cp "$TOOLS/ag_udp" "$T/bin/udp_sender"
cp "$TOOLS/ag_serve" "$T/bin/udp_holder"
cp "$TOOLS/ag_udp_sendto" "$T/bin/udp_unconnected"
cp "$TOOLS/ag_udp" "$T/bin/udp_next"
chmod 0755 "$T/bin/udp_sender" "$T/bin/udp_holder" "$T/bin/udp_unconnected" "$T/bin/udp_next"

# run_case PORT DEST_PORT: sender sends from PORT to DEST_PORT while
# the daemon is stopped, exits; the holder binds PORT; the daemon goes on.
# Sets EXE to the exe named for the flow, "unnamed" when none was, or
# "not-pended".  (Not in a subshell: the holder is stopped at the end.)
run_case() {
	local port=$1 dport=$2
	kill -STOP "$DAEMON_PID"
	in_c "$T/bin/udp_sender" -p "$port" $S4 "$dport" >/dev/null 2>&1
	bg_c "$T/bin/udp_holder" udp -i 30000 $C4 "$port" >"$T/holder.$port" 2>&1
	wait_for 5 grep -q ready "$T/holder.$port" || echo "# holder did not start" >&2
	kill -CONT "$DAEMON_PID"
	wait_for 5 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq --arg r '$S4:$dport' '[.[] | select(.remote == \$r)] | length')\" -ge 1 ]"
	EXE=$(ctl pending --json | jq -r --arg r "$S4:$dport" \
		'[.[] | select(.remote == $r)][0] | if . == null then "not-pended" else (.exe // "unnamed") end')
}

# unconnected_case ADDR PORT DEST_PORT: an unconnected socket sends from
# PORT to ADDR while the daemon is stopped, and stays open: the socket found
# is the sender, and names it.  Sets EXE as run_case does.
unconnected_case() {
	local addr=$1 port=$2 dport=$3
	kill -STOP "$DAEMON_PID"
	bg_c "$T/bin/udp_unconnected" -p "$port" -h 10000 "$addr" "$dport" >"$T/unconn.$port" 2>&1
	wait_for 5 grep -q sent "$T/unconn.$port" || echo "# unconnected sender did not send" >&2
	kill -CONT "$DAEMON_PID"
	wait_for 5 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq '[.[] | select(.remote | endswith(\":$dport\"))] | length')\" -ge 1 ]"
	EXE=$(ctl pending --json | jq -r --arg p ":$dport" \
		'[.[] | select(.remote | endswith($p))][0] | if . == null then "not-pended" else (.exe // "unnamed") end')
}

# next_case PORT DEST1 DEST2: while the daemon is stopped, udp_sender sends
# from PORT to DEST1 and exits, then udp_next sends from the same port to
# DEST2 and exits: both sockets are gone when the daemon looks.  Sets EXE1
# and EXE2 to the exes named for the two flows.
next_case() {
	local port=$1 d1=$2 d2=$3
	kill -STOP "$DAEMON_PID"
	in_c "$T/bin/udp_sender" -p "$port" $S4 "$d1" >/dev/null 2>&1
	in_c "$T/bin/udp_next" -p "$port" $S4 "$d2" >/dev/null 2>&1
	kill -CONT "$DAEMON_PID"
	wait_for 5 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq '[.[] | select(.remote == \"$S4:$d1\" or .remote == \"$S4:$d2\")] | length')\" -ge 2 ]"
	ctl pending --json >"$T/next.json"
	EXE1=$(jq -r --arg r "$S4:$d1" '[.[] | select(.remote == $r)][0] | if . == null then "not-pended" else (.exe // "unnamed") end' "$T/next.json")
	EXE2=$(jq -r --arg r "$S4:$d2" '[.[] | select(.remote == $r)][0] | if . == null then "not-pended" else (.exe // "unnamed") end' "$T/next.json")
}

# check_unconnected BASE NAME: two unconnected senders (IPv4, IPv6), each
# must be named.
check_unconnected() {
	local fails=0 report= k addr
	for k in 1 2; do
		addr=$S4
		[ $k = 2 ] && addr=$S6
		unconnected_case "$addr" $(($1 + k)) $(($1 - 10000 + k))
		[ "$EXE" = "$T/bin/udp_unconnected" ] || { fails=$((fails + 1)); report+=" $k:$EXE"; }
	done
	if [ $fails = 0 ]; then
		pass "$2"
	else
		fail "$2" "$fails of 2 named otherwise:$report"
	fi
}

# ---- with the exec monitor (bpf = auto): named by the sender ------------------------------
daemon_start "$NSC" pending_timeout=60 || { fail daemon_start "alegated did not start"; finish; }
fails=0 report=
for k in 1 2 3; do
	run_case $((31000 + k)) $((21000 + k))
	[ "$EXE" = "$T/bin/udp_sender" ] || { fails=$((fails + 1)); report+=" $k:$EXE"; }
done
if [ $fails = 0 ]; then
	pass queued_datagram_named_by_its_sender_not_by_a_later_holder_of_its_port
else
	fail queued_datagram_named_by_its_sender_not_by_a_later_holder_of_its_port \
		"$fails of 3 named otherwise:$report"
fi
check_unconnected 32000 unconnected_sender_holding_its_socket_is_named
fails=0 report=
for k in 1 2 3; do
	next_case $((33000 + k)) $((23000 + k)) $((23100 + k))
	[ "$EXE1" = "$T/bin/udp_sender" ] && [ "$EXE2" = "$T/bin/udp_next" ] ||
		{ fails=$((fails + 1)); report+=" $k:$EXE1,$EXE2"; }
done
if [ $fails = 0 ]; then
	pass two_closed_senders_one_port_in_turn_each_named_by_its_own_record
else
	fail two_closed_senders_one_port_in_turn_each_named_by_its_own_record \
		"$fails of 3 named otherwise:$report"
fi
daemon_stop TERM

# ---- without eBPF: no record of the sender, and never the holder ---------------------------
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no pending_timeout=60 || { fail daemon_restart "no daemon"; finish; }
fails=0 report=
for k in 4 5 6; do
	run_case $((31000 + k)) $((21000 + k))
	[ "$EXE" = "$T/bin/udp_holder" ] && { fails=$((fails + 1)); report+=" $k:$EXE"; }
	[ "$EXE" = not-pended ] && { fails=$((fails + 1)); report+=" $k:not-pended"; }
done
if [ $fails = 0 ]; then
	pass without_ebpf_a_later_holder_of_the_port_is_not_named
else
	fail without_ebpf_a_later_holder_of_the_port_is_not_named "$fails of 3:$report"
fi
check_unconnected 32100 without_ebpf_unconnected_sender_holding_its_socket_is_named
fails=0 report=
for k in 4 5; do
	next_case $((33000 + k)) $((23000 + k)) $((23100 + k))
	[ "$EXE1" = "$T/bin/udp_next" ] || [ "$EXE1" = not-pended ] || [ "$EXE2" = not-pended ] &&
		{ fails=$((fails + 1)); report+=" $k:$EXE1,$EXE2"; }
done
if [ $fails = 0 ]; then
	pass without_ebpf_closed_sender_not_named_by_the_next_on_its_port
else
	fail without_ebpf_closed_sender_not_named_by_the_next_on_its_port "$fails of 2:$report"
fi
daemon_stop TERM
finish
