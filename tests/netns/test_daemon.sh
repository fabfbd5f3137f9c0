#!/usr/bin/env bash
# test_daemon.sh — alegated and alegatectl as a person uses them:
# the real binaries, the real kernel, namespaces made here.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
bg_s "$TOOLS/ag_serve" tcp :: 8086 >"$T/server6.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }

# Each test uses its own copy of the client, so a rule for one does not
# decide for another.
mkdir -p "$T/bin"
client() { cp "$TOOLS/ag_connect" "$T/bin/$1"; echo "$T/bin/$1"; }

daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }

# ---- a connect is pended and shown with its program and destination ----------
A=$(client app_a)
in_c "$A" -t 10000 $S4 8080 >"$T/a1.out" &
apid=$!
if wait_pending 1; then
	ctl pending --json >"$T/pending.json"
	if jq -e --arg exe "$A" '.[0] | .exe == $exe and .remote == "192.0.2.2:8080"
	    and .proto == "tcp" and .direction == "out" and (.pid|type) == "number"
	    and .local != null and (.id != null)' "$T/pending.json" >/dev/null; then
		pass pending_json_shows_exe_pid_and_destination
	else
		fail pending_json_shows_exe_pid_and_destination "$(cat "$T/pending.json")"
	fi
else
	fail pending_json_shows_exe_pid_and_destination "nothing pended"
fi

# ---- allow --always completes it, adds a rule, the next connect is not asked --
id=$(jq -r '.[0].id' "$T/pending.json")
sleep 0.3 # the connect is visibly held
ctl allow "$id" --always >"$T/allow.out" 2>&1
wait "$apid"
if grep -q '^ok' "$T/a1.out" && [ "$(ctl rules list --json | jq --arg a "$A" '[.[] | select(.app == $a and .action == "allow" and .lifetime == "always")] | length')" = 1 ]; then
	pass allow_always_completes_the_flow_and_adds_a_persistent_rule
else
	fail allow_always_completes_the_flow_and_adds_a_persistent_rule \
		"client: $(cat "$T/a1.out"); allow: $(cat "$T/allow.out")"
fi
held=$(awk '{print $2}' "$T/a1.out")
if [ "${held:-0}" -ge 250 ]; then
	pass pended_connect_returns_only_after_the_decision
else
	fail pended_connect_returns_only_after_the_decision "connect took ${held} ms"
fi
before=$(ctl status --json | jq .counters.pends)
out=$(in_c "$A" -t 3000 $S4 8080)
after=$(ctl status --json | jq .counters.pends)
if [[ $out == ok* ]] && [ "$before" = "$after" ]; then
	pass next_connection_of_an_allowed_program_passes_without_pending
else
	fail next_connection_of_an_allowed_program_passes_without_pending "$out, pends $before -> $after"
fi

# ---- deny --reject: connect() fails at once -------------------------------------------
B=$(client app_b)
in_c "$B" -t 10000 $S4 8080 >"$T/b1.out" &
bpid=$!
wait_pending 1
id=$(ctl pending --json | jq -r --arg b "$B" '.[] | select(.exe == $b) | .id')
t0=$(date +%s%N)
ctl deny "$id" --reject >/dev/null
wait "$bpid"
t1=$(date +%s%N)
if [[ $(cat "$T/b1.out") == error* ]] && [ $(( (t1 - t0) / 1000000 )) -lt 1000 ]; then
	pass deny_reject_makes_connect_fail_at_once
else
	fail deny_reject_makes_connect_fail_at_once "client: $(cat "$T/b1.out") after $(( (t1 - t0) / 1000000 )) ms"
fi

# ---- allow --for 2s: the rule expires and the flow is asked again -----------------------
C=$(client app_c)
in_c "$C" -t 10000 $S4 8080 >"$T/c1.out" &
cpid=$!
wait_pending 1
id=$(ctl pending --json | jq -r --arg c "$C" '.[] | select(.exe == $c) | .id')
ctl allow "$id" --for 2s >/dev/null
wait "$cpid"
out_within=$(in_c "$C" -t 3000 $S4 8080)
sleep 2.2
in_c "$C" -t 10000 $S4 8080 >"$T/c3.out" &
c3=$!
if [[ $out_within == ok* ]] && wait_pending 1 &&
   [ "$(ctl pending --json | jq --arg c "$C" '[.[] | select(.exe == $c)] | length')" = 1 ]; then
	pass allow_for_2s_expires_and_the_flow_is_asked_again
else
	fail allow_for_2s_expires_and_the_flow_is_asked_again "within: $out_within"
fi
id=$(ctl pending --json | jq -r --arg c "$C" '.[] | select(.exe == $c) | .id')
[ -n "$id" ] && ctl deny "$id" >/dev/null
wait "$c3"

# ---- a session rule vanishes when its alegatectl exits --------------------------------------
D=$(client app_d)
"$ALEGATECTL" -s "$SOCK" rules add --action allow --app "$D" --until-quit >"$T/session.out" 2>"$T/session.err" </dev/null &
spid=$!
wait_for 5 bash -c "'$ALEGATECTL' -s '$SOCK' rules list --json | jq -e --arg d '$D' 'any(.[]; .app == \$d and .lifetime == \"until-quit\")' >/dev/null"
during=$(in_c "$D" -t 3000 $S4 8080)
kill -TERM "$spid"
wait "$spid"
sleep 0.2
left=$(ctl rules list --json | jq --arg d "$D" '[.[] | select(.app == $d)] | length')
if [[ $during == ok* ]] && [ "$left" = 0 ]; then
	pass until_quit_rule_vanishes_when_its_alegatectl_exits
else
	fail until_quit_rule_vanishes_when_its_alegatectl_exits "during: $during, rules left: $left"
fi

# ---- rules survive a restart and a kill -9 ---------------------------------------------------
nrules=$(ctl rules list --json | jq '[.[] | select(.lifetime == "always")] | length')
daemon_stop TERM
daemon_start "$NSC"
n_after_restart=$(ctl rules list --json | jq '[.[] | select(.lifetime == "always")] | length')
daemon_stop KILL
daemon_start "$NSC"
n_after_kill=$(ctl rules list --json | jq '[.[] | select(.lifetime == "always")] | length')
out=$(in_c "$A" -t 3000 $S4 8080)
if [ "$nrules" -ge 1 ] && [ "$n_after_restart" = "$nrules" ] && [ "$n_after_kill" = "$nrules" ] && [[ $out == ok* ]]; then
	pass rules_survive_restart_and_kill_9
else
	fail rules_survive_restart_and_kill_9 "rules $nrules, after restart $n_after_restart, after kill -9 $n_after_kill, connect $out"
fi

# ---- a malformed rule file is reported with its line; the others still load ----------------
cat >"$RULES/broken.json" <<'JSON'
{
  "id": "broken",
  "action": "alow",
  "app": "/bin/true"
}
JSON
check_out=$("$ALEGATED" -n -f "$DCONF" 2>&1)
check_rc=$?
if [ $check_rc -ne 0 ] && grep -q "broken.json:3:.*alow" <<<"$check_out"; then
	pass alegated_n_reports_the_malformed_rule_file_with_its_line
else
	fail alegated_n_reports_the_malformed_rule_file_with_its_line "rc $check_rc: $check_out"
fi
ctl reload >/dev/null 2>&1
n=$(ctl rules list --json | jq '[.[] | select(.lifetime == "always")] | length')
if [ "$n" = "$nrules" ] && grep -q '"action": "alow"' "$RULES/broken.json"; then
	pass good_rules_still_load_and_the_bad_file_is_untouched
else
	fail good_rules_still_load_and_the_bad_file_is_untouched "rules $n (want $nrules)"
fi
rm -f "$RULES/broken.json"

# ---- a user who is neither root nor in the group is refused ----------------------------------
chmod 0666 "$SOCK"
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$ALEGATECTL" -s "$SOCK" rules del x 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "permission denied: uid 65534 is not root" <<<"$out"; then
	pass unprivileged_user_is_refused_by_the_control_socket
else
	fail unprivileged_user_is_refused_by_the_control_socket "rc $rc: $out"
fi

# ---- refused connections are logged once, then counted, not a line each -------------------
DLOG=$T/d-$NSC/daemon.log
before=$(grep -c "control: refused" "$DLOG")
flood_start=$(date +%s)
got=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$TOOLS/ag_rawctl" -n 3000 "$SOCK")
lines=$(( $(grep -c "control: refused" "$DLOG") - before ))
if [ "$got" = 3000 ] && [ "$lines" -le 2 ]; then
	pass refused_control_connections_do_not_flood_the_log
else
	fail refused_control_connections_do_not_flood_the_log "3000 refused (${got:-0} answered): $lines log lines"
fi

# ---- the prompt, through a pseudo-terminal, answers two flows in reverse order ------------
E=$(client app_e) F=$(client app_f)
in_c "$E" -t 15000 $S4 8080 >"$T/e.out" &
epid=$!
wait_pending 1
in_c "$F" -t 15000 $S4 8080 >"$T/f.out" &
fpid=$!
wait_pending 2
ide=$(ctl pending --json | jq -r --arg x "$E" '.[] | select(.exe == $x) | .id')
idf=$(ctl pending --json | jq -r --arg x "$F" '.[] | select(.exe == $x) | .id')
cat >"$T/prompt.script" <<EOF
expect app_f
send $idf a once\r
expect allowed
send $ide d once\r
expect denied
send q\r
EOF
if "$TOOLS/ptydrive" -t 10000 "$T/prompt.script" -- "$ALEGATECTL" -s "$SOCK" prompt >"$T/prompt.log" 2>&1; then
	wait "$fpid" "$epid"
	if [[ $(cat "$T/f.out") == ok* ]] && [[ $(cat "$T/e.out") != ok* ]]; then
		pass prompt_answers_two_pended_flows_in_reverse_order
	else
		fail prompt_answers_two_pended_flows_in_reverse_order "f: $(cat "$T/f.out"), e: $(cat "$T/e.out")"
	fi
else
	fail prompt_answers_two_pended_flows_in_reverse_order "$(tail -20 "$T/prompt.log")"
fi

# the count of those refused comes with the next refusal after the quiet period
sleep $(( 11 - ($(date +%s) - flood_start) > 0 ? 11 - ($(date +%s) - flood_start) : 0 ))
setpriv --reuid 65534 --regid 65534 --clear-groups "$TOOLS/ag_rawctl" -n 1 "$SOCK" >/dev/null
if wait_for 3 grep -qE "control: refused uid 65534 .*; (299[0-9]|300[0-9]) more refused in the last [0-9]+s" "$DLOG"; then
	pass refused_control_connections_are_counted_in_one_line
else
	fail refused_control_connections_are_counted_in_one_line "$(grep "control: refused" "$DLOG" | tail -3)"
fi

# ---- SIGTERM with fail_mode closed keeps the rules; --cleanup removes them ---------------
daemon_stop TERM
kept=$({ in_c nft list table inet alegate 2>/dev/null; in_c iptables-save -t mangle 2>/dev/null; } |
	grep -c 'NFQUEUE\|queue num')
"$ALEGATED" --cleanup -f "$DCONF" --netns "$NSC" >/dev/null 2>&1
left=$(in_c iptables-save 2>/dev/null | grep -ci alegate)
left6=$(in_c ip6tables-save 2>/dev/null | grep -ci alegate)
if [ "$kept" -gt 0 ] && [ "$left" = 0 ] && [ "$left6" = 0 ] &&
   ! in_c nft list table inet alegate >/dev/null 2>&1 && [ ! -e "$SOCK" ]; then
	pass sigterm_keeps_the_rules_with_fail_mode_closed_and_cleanup_removes_them
else
	fail sigterm_keeps_the_rules_with_fail_mode_closed_and_cleanup_removes_them \
		"queue rules at stop $kept, after cleanup: iptables $left, ip6tables $left6 lines"
fi
finish
