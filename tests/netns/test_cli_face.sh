#!/usr/bin/env bash
# test_cli_face.sh — alegatectl's face, against ctl_mock: one vocabulary for
# the prompt and the command line, output a script can use, exit codes and
# messages that quote what was typed, --version, rules show, status, events
# folded for people, the prompt across a daemon restart.
source "$(dirname "$0")/lib.sh"

MOCK=$TOOLS/ctl_mock
PTY=$TOOLS/ptydrive
CTL=$ALEGATECTL
command -v jq >/dev/null || { fail cli_jq "jq is needed (scripts/bootstrap installs it)"; finish; }

LONGID=0123456789abcdef0123456789abcdef
LONGAPP=/opt/$(printf 'very-long-directory-name/%.0s' 1 2 3 4 5 6)bin/the-program
cat >"$T/replies.json" <<EOF
{
 "status": {"result": {"version": "0.1.0", "uptime_s": 60, "backend": "nftables",
   "fail_mode": "closed", "intercept_loopback": false, "fast_path": "off: not built",
   "fast_path_notrack": "off: no fast path", "pending": 0, "flows": 1, "rules": 2,
   "clients": 1, "engine_memory": 558401,
   "counters": {"queued_packets": 5, "fp_reauth_attributed": 3, "attrib_mean_us": 12}}},
 "pending": {"result": [
   {"id": 12, "age_ms": 1000, "pid": 7, "exe": "$LONGAPP", "cmdline": null, "uid": 0,
    "user": "root", "proto": "tcp", "direction": "out", "local": "[2001:db8:a1e::1]:40000",
    "remote": "[2001:db8:a1e:1234:5678:9abc:def0:1]:443", "host": null, "timeout_ms": 1000}]},
 "allow": {"result": {"rule": "6fa9e23e", "new_rule": {"id": "6fa9e23e", "name": "curl to example.org",
   "action": "allow", "enabled": true, "lifetime": "always", "app": "/usr/bin/curl",
   "host": "example.org", "direction": "out"}, "shadowed_by": "b1d2e3f4", "warning": null}},
 "deny": {"result": {"rule": null}},
 "rules.list": {"result": [
   {"id": "$LONGID", "name": "a rule with a long id", "action": "deny", "enabled": true,
    "lifetime": "always", "app": "$LONGAPP",
    "remote": "2001:db8:a1e:1234:5678:9abc:def0:0/112", "direction": "out",
    "created": "2026-11-27T15:00:00Z"},
   {"id": "dns-udp", "action": "allow", "enabled": false, "lifetime": "timed",
    "expires_in_ms": 300000, "proto": "udp", "port": 53}]},
 "rules.add": {"result": {"rule": "a1b2c3d4"}},
 "events": {"result": [
   {"seq": 1, "time_ms": 1764255600123, "type": "pend", "reason": "callout", "verdict": "hold",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.2:443", "exe": "/usr/bin/curl"},
   {"seq": 2, "time_ms": 1764255600200, "type": "complete", "reason": "completed", "verdict": "hold",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.2:443", "exe": "/usr/bin/curl"},
   {"seq": 3, "time_ms": 1764255600200, "type": "reauth", "reason": "completed", "verdict": "permit",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.2:443", "exe": "/usr/bin/curl"},
   {"seq": 4, "time_ms": 1764255600200, "type": "permit", "reason": "completed", "verdict": "permit",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.2:443", "exe": "/usr/bin/curl"},
   {"seq": 5, "time_ms": 1764255601000, "type": "reauth", "reason": "filter_change", "verdict": "permit",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.3:443", "exe": "/usr/bin/a"},
   {"seq": 6, "time_ms": 1764255601000, "type": "reauth", "reason": "filter_change", "verdict": "permit",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.4:443", "exe": "/usr/bin/b"},
   {"seq": 7, "time_ms": 1764255601000, "type": "reauth", "reason": "filter_change", "verdict": "permit",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.5:443", "exe": "/usr/bin/c"},
   {"seq": 8, "time_ms": 1764255601000, "type": "reauth", "reason": "filter_change", "verdict": "block",
    "proto": "tcp", "direction": "out", "remote": "192.0.2.6:443", "exe": "/usr/bin/d"}]}
}
EOF

start_mock() {
	local name=$1; shift
	rm -f "$T/$name.sock"
	: >"$T/$name.log"
	"$MOCK" -s "$T/$name.sock" -l "$T/$name.log" -t 600 "$@" 2>>"$T/mock.err" &
	_ag_bg_pids+=($!)
	wait_for 5 test -S "$T/$name.sock" || { echo "# ctl_mock $name did not start"; return 1; }
}
requests() { grep -v '^#' "$T/$1.log"; }
run_ctl() {
	: >"$T/m.log"
	"$CTL" -s "$T/m.sock" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}
start_mock m -r "$T/replies.json" || { fail cli_face_mock_start "ctl_mock did not start"; finish; }

# ---- one vocabulary: the prompt's words on the command line, --scope host -----------------------
# words NAME WANT ARGS... — exit 0 and the one request WANT.
words() {
	local name=$1 want=$2; shift 2
	run_ctl "$@"
	if [ $rc -eq 0 ] && [ "$(requests m)" = "$(jq -cS . <<<"$want")" ]; then
		pass "$name"
	else
		fail "$name" "rc $rc, sent $(requests m): $err"
	fi
}
words allow_takes_the_prompts_words_5m_host \
	'{"op":"allow","pending":999,"duration":"for","for_ms":300000,"scope":"app+host"}' allow 999 5m host
words deny_takes_always_port_reject_words \
	'{"op":"deny","pending":9,"duration":"always","scope":"app+port","reject":true}' deny 9 always port reject
words scope_option_takes_the_short_words \
	'{"op":"allow","pending":9,"duration":"always","scope":"app+remote"}' allow 9 --always --scope remote
words restart_and_quit_words_are_the_until_durations \
	'{"op":"deny","pending":9,"duration":"until-restart"}' deny 9 restart

# ---- the prompt rejects: "ID r" and "ID d reject" ---------------------------------------------------
cat >"$T/r.script" <<'EOF'
wait pending
sleep 100
push {"pending":{"id":5,"age_ms":0,"pid":1,"exe":"/usr/bin/curl","cmdline":null,"uid":0,"user":"root","proto":"tcp","direction":"out","local":"192.0.2.1:40000","remote":"192.0.2.2:443","host":null,"timeout_ms":30000}}
push {"pending":{"id":6,"age_ms":0,"pid":2,"exe":"/usr/bin/wget","cmdline":null,"uid":0,"user":"root","proto":"tcp","direction":"out","local":"192.0.2.1:40001","remote":"192.0.2.2:80","host":null,"timeout_ms":30000}}
push {"pending":{"id":7,"age_ms":0,"pid":3,"exe":"/usr/bin/ssh","cmdline":null,"uid":0,"user":"root","proto":"tcp","direction":"out","local":"192.0.2.1:40002","remote":"192.0.2.2:22","host":null,"timeout_ms":30000}}
EOF
cat >"$T/r.drive" <<'EOF'
expect [7] out tcp  ssh
send 5 r\r
expect [5] rejected once
send 6 d --reject --for 5m --scope port\r
expect [6] rejected for 5m
send 7 d reject\r
expect [7] rejected once
send q\r
eof
status 0
EOF
jq '.pending.result = [] | .deny.result = {"rule": null}' "$T/replies.json" >"$T/replies-r.json"
start_mock r -r "$T/replies-r.json" -S "$T/r.script"
if NO_COLOR=1 timeout 30 "$PTY" -t 5000 -w 160 "$T/r.drive" -- "$CTL" -s "$T/r.sock" prompt 2>"$T/r.err"; then
	got=$(requests r | jq -c 'select(.op == "deny") | [.pending, .reject, .scope]' | tr '\n' ' ')
	[ "$got" = '[5,true,null] [6,true,"app+port"] [7,true,null] ' ] && pass prompt_rejects_with_r_and_d_reject ||
		fail prompt_rejects_with_r_and_d_reject "sent: $got"
else
	fail prompt_rejects_with_r_and_d_reject "ptydrive failed"
	sed 's/^/#   /' "$T/r.err"
fi

# ---- piped output is never cut; a terminal is, unless --full -------------------------------------
run_ctl rules list
if [ $rc -eq 0 ] && grep -qF "$LONGID" "$T/out" && grep -qF "app=$LONGAPP" "$T/out" &&
   grep -qF "remote=2001:db8:a1e:1234:5678:9abc:def0:0/112" "$T/out" &&
   ! grep -q $'\xe2\x80\xa6' "$T/out"; then
	pass piped_rules_list_keeps_long_ids_paths_and_ipv6_prefixes_whole
else
	fail piped_rules_list_keeps_long_ids_paths_and_ipv6_prefixes_whole "$out"
fi
run_ctl pending
if [ $rc -eq 0 ] && grep -qF "[2001:db8:a1e:1234:5678:9abc:def0:1]:443" "$T/out"; then
	pass piped_pending_keeps_ipv6_addresses_whole
else
	fail piped_pending_keeps_ipv6_addresses_whole "$out"
fi
printf 'expect ID\nexpect \xe2\x80\xa6\neof\nstatus 0\n' >"$T/w.drive"
printf 'expect ID\nexpect %s\neof\nstatus 0\n' "$LONGID" >"$T/f.drive"
if LANG=C.UTF-8 timeout 20 "$PTY" -t 5000 -w 80 "$T/w.drive" -- "$CTL" -s "$T/m.sock" rules list >"$T/w.err" 2>&1 &&
   LANG=C.UTF-8 timeout 20 "$PTY" -t 5000 -w 80 "$T/f.drive" -- "$CTL" -s "$T/m.sock" --full rules list >>"$T/w.err" 2>&1; then
	pass terminal_output_is_cut_to_its_width_and_full_is_not
else
	fail terminal_output_is_cut_to_its_width_and_full_is_not "$(cat "$T/w.err")"
fi

# ---- the bash completion offers whole ids (it reads --json) -----------------------------------
complete_ids() {
	PATH="$AG_BUILD:$PATH" bash -c 'source "$1"; COMP_WORDS=(alegatectl -s "$2" $3 ""); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ));
		_alegatectl; printf "%s\n" "${COMPREPLY[@]}"' _ "$AG_TOP/contrib/alegatectl.bash-completion" "$T/m.sock" "$1" | sort | tr '\n' ' '
}
got_rules=$(complete_ids "rules del")
got_pending=$(complete_ids "allow")
if [ "$got_rules" = "$LONGID dns-udp " ] && [ "$got_pending" = "12 " ]; then
	pass bash_completion_offers_whole_rule_and_flow_ids
else
	fail bash_completion_offers_whole_rule_and_flow_ids "rules: \"$got_rules\", pending: \"$got_pending\""
fi

# ---- rules show ID ---------------------------------------------------------------------------------
run_ctl rules show "$LONGID"
if [ $rc -eq 0 ] && [ "$(head -n1 "$T/out")" = "deny $LONGAPP to 2001:db8:a1e:1234:5678:9abc:def0:0/112, always" ] &&
   grep -Eq "^  created +2026-11-27T15:00:00Z$" "$T/out" && grep -Eq "^  id +$LONGID$" "$T/out"; then
	pass rules_show_prints_the_rule_in_words_and_every_field
else
	fail rules_show_prints_the_rule_in_words_and_every_field "rc $rc: $out $err"
fi
run_ctl rules show dns-udp --json
[ $rc -eq 0 ] && jq -e '.id == "dns-udp" and .port == 53' "$T/out" >/dev/null &&
	pass rules_show_json_is_the_rule_object || fail rules_show_json_is_the_rule_object "rc $rc: $out"
run_ctl rules show nope
[ $rc -eq 1 ] && grep -qF 'no rule "nope"' "$T/err" && pass rules_show_unknown_id_exits_1_quoting_it ||
	fail rules_show_unknown_id_exits_1_quoting_it "rc $rc: $err"

# ---- an answer says what its rule matches, and which older rule outranks it ---------------------
run_ctl allow 12 always
if [ $rc -eq 0 ] && grep -qxF "rule 6fa9e23e: allow /usr/bin/curl to example.org, always" "$T/out" &&
   grep -qF "note: rule b1d2e3f4 comes first for such flows" "$T/out"; then
	pass allow_always_describes_the_new_rule_and_its_shadow
else
	fail allow_always_describes_the_new_rule_and_its_shadow "rc $rc: $out"
fi

# ---- bad values exit 2 and quote what was typed ----------------------------------------------------
# bad NAME QUOTED ARGS... — exit 2, the value quoted on stderr, nothing sent.
bad() {
	local name=$1 q=$2; shift 2
	run_ctl "$@"
	if [ $rc -eq 2 ] && grep -qF -- "$q" "$T/err" && [ -z "$(requests m)" ]; then
		pass "$name"
	else
		fail "$name" "rc $rc: $err"
	fi
}
bad bad_remote_address_exits_2_quoting_it '"10.97.0.300/24"' rules add --action deny --remote 10.97.0.300/24
bad bad_remote_prefix_length_exits_2 '"2001:db8::/129"' rules add --action deny --remote 2001:db8::/129
bad weight_out_of_range_exits_2_naming_it 'weight: 5000 is out of range' rules add --action deny --app /bin/true --weight 5000
bad flow_id_that_is_not_a_number_exits_2_quoting_it '"abc"' deny abc
bad allow_rule_without_condition_needs_any '--any' rules add --action allow
bad allow_word_reject_is_refused '"deny ID reject"' allow 12 reject
bad two_durations_word_and_option_refused '"--always" and "5m"' allow 12 --always 5m
run_ctl rules add --action allow --any
[ $rc -eq 0 ] && [ "$(requests m)" = '{"op":"rules.add","rule":{"action":"allow","lifetime":"always"}}' ] &&
	pass allow_rule_without_condition_with_any_is_sent || fail allow_rule_without_condition_with_any_is_sent "rc $rc: $(requests m) $err"
ln -s /bin/true "$T/link-to-true"
run_ctl rules add --action deny --app "$T/link-to-true"
if [ $rc -eq 0 ] && grep -qF "\"$T/link-to-true\" is not the program's real path ($(realpath /bin/true))" "$T/err" &&
   run_ctl rules add --action deny --app "$T/no-such-program" && [ $rc -eq 0 ] &&
   grep -qF "\"$T/no-such-program\" does not exist" "$T/err"; then
	pass app_that_is_a_symlink_or_missing_is_warned_about
else
	fail app_that_is_a_symlink_or_missing_is_warned_about "rc $rc: $err"
fi
out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$CTL" -s "$T/m.sock" status 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "hint: run it as root (sudo" <<<"$out" && grep -q "control_group" <<<"$out" &&
	pass user_without_access_gets_a_hint || fail user_without_access_gets_a_hint "rc $rc: $out"

# ---- --version, events -f/-n, alegated -V: one shape ---------------------------------------------
run_ctl --version
v_ctl=$out
v_d=$("$ALEGATED" -V)
if [ $rc -eq 0 ] && [[ $v_ctl =~ ^alegatectl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] &&
   [[ $v_d =~ ^alegated\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && [ "${v_ctl#* }" = "${v_d#* }" ] &&
   ! grep -q '# open' "$T/m.log"; then
	pass version_option_prints_the_same_shape_as_alegated_V
else
	fail version_option_prints_the_same_shape_as_alegated_V "rc $rc: \"$v_ctl\" / \"$v_d\""
fi
run_ctl events -n 2 --json
[ $rc -eq 0 ] && [ "$(requests m)" = '{"limit":2,"op":"events"}' ] &&
	pass events_n_is_limit || fail events_n_is_limit "rc $rc: $(requests m) $err"
usage=$("$ALEGATED" -h)
grep -q "^usage: alegated .*--netns NAME.*-V" <<<"$usage" && pass alegated_usage_line_names_netns_and_V ||
	fail alegated_usage_line_names_netns_and_V "$usage"

# ---- status: every value in one column, units, JSON when alegated is down ----------------------------
run_ctl status
cols=$(tail -n +2 "$T/out" | grep -v '^counters$' | awk '{ match($0, /[^ ]  +[^ ]/); print RSTART + RLENGTH }' | sort -u | wc -l)
if [ $rc -eq 0 ] && [ "$cols" = 1 ] && grep -Eq "^engine memory +545\.3 KiB$" "$T/out" &&
   grep -Eq "^  attrib mean us +12 us$" "$T/out"; then
	pass status_aligns_every_row_and_gives_units
else
	fail status_aligns_every_row_and_gives_units "rc $rc, $cols columns: $out"
fi
"$CTL" -s "$T/none.sock" status --json >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(jq -c '[.running, (.error | test("none.sock"))]' "$T/out")" = '[false,true]' ] &&
	pass status_json_when_alegated_is_down || fail status_json_when_alegated_is_down "rc $rc: $(cat "$T/out")"

# ---- events: an answer is two lines, a rule change's run of allowed flows one ------------------------
run_ctl events
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/out")" = 5 ] && ! grep -q "complete" "$T/out" &&
   grep -Eq "reauth +permit .*3 live flows +decided again: still allowed" "$T/out" &&
   grep -Eq "reauth +block .* d +192\.0\.2\.6:443" "$T/out"; then
	pass events_fold_answers_and_rule_change_reauths_for_people
else
	fail events_fold_answers_and_rule_change_reauths_for_people "rc $rc: $out"
fi
run_ctl events --json
[ "$(jq length "$T/out")" = 8 ] && pass events_json_keeps_every_event ||
	fail events_json_keeps_every_event "$out"

# ---- an until-quit rule's holder says why alegated went --------------------------------------
printf 'wait rules.add\nsleep 200\npushall {"bye":{"reason":"alegated is stopping"}}\nclose\n' >"$T/b.script"
start_mock b -r "$T/replies.json" -S "$T/b.script"
timeout 10 "$CTL" -s "$T/b.sock" rules add --action deny --host x.example --until-quit >/dev/null 2>"$T/b.err" </dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "alegated is stopping; rule a1b2c3d4 is gone" "$T/b.err" &&
	pass until_quit_holder_says_alegated_is_stopping || fail until_quit_holder_says_alegated_is_stopping "rc $rc: $(cat "$T/b.err")"

# ---- the prompt waits for a stopped alegated and goes on with the new one ---------------------------
cat >"$T/p1.script" <<'EOF'
wait pending
sleep 200
push {"resolved":{"id":3,"verdict":"deny","reason":"alegated is stopping"}}
push {"bye":{"reason":"alegated is stopping"}}
close
exit
EOF
cat >"$T/p2.script" <<'EOF'
wait pending
sleep 100
push {"pending":{"id":9,"age_ms":0,"pid":1,"exe":"/usr/bin/curl","cmdline":null,"uid":0,"user":"root","proto":"tcp","direction":"out","local":"192.0.2.1:40000","remote":"192.0.2.2:443","host":null,"timeout_ms":30000}}
EOF
cat >"$T/p.drive" <<'EOF'
expect [3] out tcp
expect [3] alegated is stopping: deny
expect alegated is stopping.
expect Waiting for alegated
expect alegated is back
expect [9] out tcp  curl
send 9 a\r
expect [9] allowed once
send q\r
eof
status 0
EOF
jq '.pending.result = [{"id":3,"age_ms":0,"pid":1,"exe":"/usr/bin/wget","cmdline":null,"uid":0,"user":"root","proto":"tcp","direction":"out","local":"192.0.2.1:40000","remote":"192.0.2.2:80","host":null,"timeout_ms":30000}] | .allow.result = {"rule": null}' \
	"$T/replies.json" >"$T/replies-p1.json"
jq '.pending.result = [] | .allow.result = {"rule": null}' "$T/replies.json" >"$T/replies-p2.json"
start_mock p -r "$T/replies-p1.json" -S "$T/p1.script"
mockpid=${_ag_bg_pids[-1]}
NO_COLOR=1 timeout 30 "$PTY" -t 8000 -w 160 "$T/p.drive" -- "$CTL" -s "$T/p.sock" prompt >"$T/p.err" 2>&1 &
ptypid=$!
_ag_bg_pids+=($ptypid)
wait "$mockpid"
sleep 0.7	# the prompt tries, and finds nobody
"$MOCK" -s "$T/p.sock" -l "$T/p2.log" -t 600 -r "$T/replies-p2.json" -S "$T/p2.script" 2>>"$T/mock.err" &
_ag_bg_pids+=($!)
if wait "$ptypid"; then
	grep -q '"op":"allow","pending":9' "$T/p2.log" && pass prompt_reconnects_after_alegated_restarts ||
		fail prompt_reconnects_after_alegated_restarts "no allow sent: $(cat "$T/p2.log")"
else
	fail prompt_reconnects_after_alegated_restarts "ptydrive failed"
	sed 's/^/#   /' "$T/p.err"
fi

finish
