#!/usr/bin/env bash
# test_lifecycle.sh — alegated's life cycle: start in the background, the
# rules while it runs (nobody else removes them), stop, restart and crash
# with fail_mode closed (nothing passes unasked in between), reload, and
# what systemd's ExecStopPost does.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
bg_s "$TOOLS/ag_serve" tcp $S4 8091 >"$T/restart-server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
wait_for 5 grep -q ready "$T/restart-server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/ag_connect" "$T/bin/$1"; echo "$T/bin/$1"; }
# alegate's queue rules in the client namespace, with either backend
queue_rules() {
	{ in_c nft list table inet alegate 2>/dev/null; in_c iptables-save -t mangle 2>/dev/null; } |
		grep -c 'NFQUEUE\|queue num'
}
has_table() { [ "$(queue_rules)" -gt 0 ]; }
# connections the server accepted that ended (one line each)
served() { grep -c '^\(closed\|reset\)' "$1"; }

# ---- every configuration error in one pass of alegated -n -----------------------------
printf 'queue_num = x\nmax_pending = 100\nmax_pending_per_process = 200\n' >"$T/bad.conf"
out=$("$ALEGATED" -n -f "$T/bad.conf" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q 'queue_num' <<<"$out" &&
   grep -q 'max_pending_per_process: 200 is larger than max_pending (100)' <<<"$out"; then
	pass all_configuration_errors_come_in_one_alegated_n
else
	fail all_configuration_errors_come_in_one_alegated_n "rc $rc: $out"
fi

# ---- without -d: returns once the firewall is up, or says on stderr why not ------------
mkdir -p "$T/bg/rules"
cat >"$T/bg/alegate.conf" <<EOF
queue_num = 100
control_socket = $T/bg/ctl.sock
rules_dir = $T/bg/rules
state_dir = $T/bg/state
EOF
chmod 0711 "$T" "$T/bg"
printf 'queue_num = 100\ncontrol_socket = %s\npending_timeout = forever\n' "$T/bg/ctl.sock" >"$T/bg/broken.conf"
err=$("$ALEGATED" -f "$T/bg/broken.conf" --netns "$NSC" 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -q 'pending_timeout' <<<"$err"; then
	pass background_start_prints_configuration_errors_on_stderr
else
	fail background_start_prints_configuration_errors_on_stderr "rc $rc, stderr: $err"
fi
err=$(timeout 20 "$ALEGATED" -f "$T/bg/alegate.conf" --netns "$NSC" 2>&1)
rc=$?
# no waiting: when it returns, the rules and the control socket are there
if [ $rc -eq 0 ] && has_table && "$ALEGATECTL" -s "$T/bg/ctl.sock" status >/dev/null 2>&1 &&
   [ -s "$T/bg/ctl.pid" ]; then
	pass background_start_returns_0_once_rules_and_control_socket_are_up
else
	fail background_start_returns_0_once_rules_and_control_socket_are_up "rc $rc: $err"
fi
bgpid=$(cat "$T/bg/ctl.pid" 2>/dev/null)
[ -n "$bgpid" ] && _ag_bg_pids+=("$bgpid")
err=$(timeout 20 "$ALEGATED" -f "$T/bg/alegate.conf" --netns "$NSC" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "another alegated is running (pid $bgpid" <<<"$err"; then
	pass background_start_of_a_second_daemon_says_why_it_failed
else
	fail background_start_of_a_second_daemon_says_why_it_failed "rc $rc: $err"
fi
[ -n "$bgpid" ] && kill -TERM "$bgpid" 2>/dev/null
wait_for 5 bash -c "! kill -0 $bgpid"
"$ALEGATED" --cleanup -f "$T/bg/alegate.conf" --netns "$NSC" >/dev/null 2>&1

# ---- systemd readiness: READY=1 once the rules and queues are up -------------------------
python3 - "$T/notify" >"$T/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
print("listening", flush=True)
seen = set()
try:
    while not {"READY=1", "WATCHDOG=1"} <= seen:
        m = s.recv(4096).decode()
        print(m.replace("\n", " "), flush=True)
        seen.update(m.split("\n"))
except socket.timeout:
    print("timeout", flush=True)
PY
npid=$!
_ag_bg_pids+=($npid)
wait_for 5 grep -q listening "$T/notify.out"
# WatchdogSec=1s: a ping at least every half second
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 daemon_start "$NSC" ||
	{ fail daemon_start "no daemon"; finish; }
ready_rules=$(queue_rules)
wait "$npid"
if grep -q 'READY=1' "$T/notify.out" && [ "$ready_rules" -gt 0 ]; then
	pass readiness_is_sent_to_systemd_once_rules_and_queues_are_up
else
	fail readiness_is_sent_to_systemd_once_rules_and_queues_are_up "$(cat "$T/notify.out")"
fi
if grep -q 'WATCHDOG=1' "$T/notify.out"; then
	pass watchdog_is_pinged_when_systemd_asks_for_it
else
	fail watchdog_is_pinged_when_systemd_asks_for_it "$(cat "$T/notify.out")"
fi

# ---- --cleanup is refused while the daemon runs --------------------------------------------
err=$("$ALEGATED" --cleanup -f "$DCONF" --netns "$NSC" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "refusing" <<<"$err" && has_table && ctl status >/dev/null; then
	pass cleanup_is_refused_while_alegated_runs
else
	fail cleanup_is_refused_while_alegated_runs "rc $rc: $err; table there: $(has_table && echo yes || echo no)"
fi

# ---- rules removed or changed by someone else are put back at once -------------------------
G=$(client guarded)
"$ALEGATED" --cleanup --force -f "$DCONF" --netns "$NSC" >/dev/null 2>&1
if wait_for 2 has_table && wait_for 2 grep -q "alegate restored" "$T/d-$NSC/daemon.log" &&
   [ "$(ctl status --json | jq .counters.firewall_restores)" -ge 1 ]; then
	pass rules_deleted_by_another_program_are_restored_and_logged
else
	fail rules_deleted_by_another_program_are_restored_and_logged "$(tail -5 "$T/d-$NSC/daemon.log")"
fi
# an accept rule slipped in before ours
restores=$(grep -c "alegate restored" "$T/d-$NSC/daemon.log")
if in_c nft list table inet alegate >/dev/null 2>&1; then
	in_c nft insert rule inet alegate output accept
	accepts() { in_c nft list table inet alegate | grep -c '^[[:space:]]*accept$'; }
else
	in_c iptables -t mangle -I ALEGATE-OUT 1 -j ACCEPT
	in_c iptables -t mangle -I OUTPUT 1 -j ACCEPT
	accepts() { in_c iptables-save -t mangle | grep -c '^-A \(OUTPUT\|ALEGATE-OUT\) -j ACCEPT'; }
fi
sleep 1
out=$(in_c "$G" -t 1500 $S4 8080)
# the daemon cannot remove a foreign rule in a shared chain, but it puts its
# jump back in front of it
if [[ $out != ok* ]] && [ "$(grep -c "alegate restored" "$T/d-$NSC/daemon.log")" -gt "$restores" ]; then
	pass rules_changed_by_another_program_are_restored_and_logged
else
	fail rules_changed_by_another_program_are_restored_and_logged "connect: $out; accept rules $(accepts); $(tail -6 "$T/d-$NSC/daemon.log"); $(in_c iptables-save -t mangle | grep -- '-A OUTPUT')"
fi
in_c iptables -t mangle -D OUTPUT -j ACCEPT 2>/dev/null

# ---- reload re-reads alegate.conf: a changed pending_timeout applies ------------------------
sed -i 's/^pending_timeout = .*/pending_timeout = 2/; s/^queue_num = .*/queue_num = 200/' "$DCONF"
ctl reload --json >"$T/reload.json" 2>&1
R=$(client reloaded)
in_c "$R" -t 6000 $S4 8080 >/dev/null &
rpid=$!
wait_pending 1
tmo=$(ctl pending --json | jq --arg r "$R" '[.[] | select(.exe == $r) | .timeout_ms][0]')
# and it ends when the new timeout says: nothing of it is pending 3 s later
sleep 3
left=$(ctl pending --json | jq --arg r "$R" '[.[] | select(.exe == $r)] | length')
wait "$rpid"
if [ "${tmo:-null}" != null ] && [ "$tmo" -le 2000 ] && [ "$left" = 0 ] &&
   jq -e '.not_applied == ["queue_num"]' "$T/reload.json" >/dev/null; then
	pass reload_applies_a_changed_pending_timeout_and_names_keys_that_wait_for_a_restart
else
	fail reload_applies_a_changed_pending_timeout_and_names_keys_that_wait_for_a_restart \
		"timeout_ms $tmo, still pending after 3 s: $left; reload: $(cat "$T/reload.json")"
fi
sed -i 's/^pending_timeout = .*/pending_timeout = 30/; s/^queue_num = .*/queue_num = 100/' "$DCONF"
ctl reload >/dev/null

# ---- a restart with fail_mode closed lets nothing through unasked ----------------------------
# Nobody answers the prompt and no rule allows P: every connection that
# reaches the server passed unasked.
P=$(client restart_probe)
(
	end=$(( $(date +%s) + 7 ))
	while [ "$(date +%s)" -lt $end ]; do
		in_c "$P" -t 300 $S4 8091 >>"$T/probe.out" 2>&1
	done
) &
loop=$!
_ag_bg_pids+=($loop)
sleep 1
before=$(served "$T/restart-server.log")
daemon_stop TERM
kept=$(has_table && echo yes || echo no)
sleep 2 # a restart that takes its time: SYNs are retransmitted meanwhile
daemon_start "$NSC" || { fail daemon_restart "no daemon"; finish; }
wait "$loop"
sleep 0.5
after=$(served "$T/restart-server.log")
tries=$(wc -l <"$T/probe.out")
if [ "$after" = 0 ] && [ "$before" = 0 ] && [ "$kept" = yes ] && [ "$tries" -ge 5 ]; then
	pass restart_with_fail_mode_closed_lets_no_connection_through_unasked
else
	fail restart_with_fail_mode_closed_lets_no_connection_through_unasked \
		"$after of $tries connections reached the server ($before before the stop), rules kept at stop: $kept"
fi

# ---- a flow denied just before the stop does not connect after it ---------------------------
D=$(client denied)
# 12 s: its SYN is sent again 1, 3 and 7 s after the first
in_c "$D" -t 12000 $S4 8080 >"$T/denied.out" &
dpid=$!
wait_pending 1
id=$(ctl pending --json | jq -r --arg d "$D" '.[] | select(.exe == $d) | .id')
ctl deny "$id" >/dev/null
daemon_stop TERM
sleep 1.5
daemon_start "$NSC" || { fail daemon_restart "no daemon"; finish; }
# its retransmitted SYN is a new question to the new daemon, not a pass
asked=no
wait_for 10 bash -c "'$ALEGATECTL' -s '$SOCK' pending --json | jq -e --arg d '$D' 'any(.[]; .exe == \$d)'" && asked=yes
wait "$dpid"
if [[ $(cat "$T/denied.out") != ok* ]] && [ $asked = yes ]; then
	pass flow_denied_before_a_restart_is_asked_again_not_passed
else
	fail flow_denied_before_a_restart_is_asked_again_not_passed "client: $(cat "$T/denied.out"), asked again: $asked; $(tail -4 "$T/d-$NSC/daemon.log")"
fi

# ---- a timed deny outlives a restart (not the boot) ---------------------------------------
TD=$(client timed_deny)
ctl rules add --action allow --app "$TD" --always >/dev/null
ctl rules add --action deny --app "$TD" --for 1h >/dev/null
before=$(in_c "$TD" -t 1500 $S4 8080)
daemon_stop TERM
daemon_start "$NSC" || { fail daemon_restart "no daemon"; finish; }
after=$(in_c "$TD" -t 1500 $S4 8080)
left_ms=$(ctl rules list --json | jq --arg a "$TD" '[.[] | select(.app == $a and .lifetime == "timed") | .expires_in_ms][0]')
if [[ $before != ok* ]] && [[ $after != ok* ]] && [ "${left_ms:-null}" != null ] &&
   [ "$left_ms" -gt 3500000 ] && [ "$left_ms" -le 3600000 ]; then
	pass timed_deny_outlives_a_restart_of_the_daemon
else
	fail timed_deny_outlives_a_restart_of_the_daemon "before: $before, after: $after, time left $left_ms ms"
fi

# ---- ExecStopPost (--after-stop): rules stay after a crash and for a restart ----------------
daemon_stop KILL
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "42 alegated.service restart running"\n' >"$T/fakebin/systemctl"
printf '#!/bin/sh\nexit 0\n' >"$T/fakebin/systemctl-none"
chmod +x "$T/fakebin/systemctl" "$T/fakebin/systemctl-none"
crash=$(SERVICE_RESULT=signal EXIT_CODE=killed EXIT_STATUS=KILL \
	"$ALEGATED" --after-stop=alegated.service -f "$DCONF" --netns "$NSC" 2>&1)
rc1=$?
t1=$(has_table && echo kept || echo removed)
restart=$(PATH=$T/fakebin:$PATH SERVICE_RESULT=success EXIT_CODE=exited EXIT_STATUS=0 \
	"$ALEGATED" --after-stop=alegated.service -f "$DCONF" --netns "$NSC" 2>&1)
rc2=$?
t2=$(has_table && echo kept || echo removed)
mv "$T/fakebin/systemctl-none" "$T/fakebin/systemctl"
stop=$(PATH=$T/fakebin:$PATH SERVICE_RESULT=success EXIT_CODE=exited EXIT_STATUS=0 \
	"$ALEGATED" --after-stop=alegated.service -f "$DCONF" --netns "$NSC" 2>&1)
rc3=$?
t3=$(has_table && echo kept || echo removed)
if [ $rc1 -eq 0 ] && [ $t1 = kept ] && [ $rc2 -eq 0 ] && [ $t2 = kept ] &&
   [ $rc3 -eq 0 ] && [ $t3 = removed ]; then
	pass after_stop_keeps_rules_after_a_crash_and_for_a_restart_removes_them_after_a_stop
else
	fail after_stop_keeps_rules_after_a_crash_and_for_a_restart_removes_them_after_a_stop \
		"crash rc $rc1 $t1 ($crash); restart rc $rc2 $t2 ($restart); stop rc $rc3 $t3 ($stop)"
fi
finish
