#!/usr/bin/env bash
# test_cli.sh — alegatectl against ctl_mock, a stand-in for alegated's
# control socket (no namespace: a UNIX socket under $T is all it needs).
#
# Checks the request every command sends (as the mock logged it), human and
# --json output, exit codes 0/1/2, -h everywhere, exact command names, the
# daemon missing or refusing, --until-quit holding the connection, events
# --follow, and the interactive prompt driven through a pseudo-terminal.
source "$(dirname "$0")/lib.sh"

MOCK=$TOOLS/ctl_mock
PTY=$TOOLS/ptydrive
CTL=$ALEGATECTL
for b in "$MOCK" "$PTY" "$CTL"; do
	if [ ! -x "$b" ]; then
		fail cli_binaries "missing $b (make tests)"
		finish
	fi
done
command -v jq >/dev/null || { fail cli_jq "jq is needed (scripts/bootstrap installs it)"; finish; }

cat >"$T/replies.json" <<'EOF'
{
 "status": {"result": {"version": "0.1.0", "uptime_s": 3725, "backend": "iptables",
   "fail_mode": "closed", "intercept_loopback": false, "fast_path": "off: not built",
   "pending": 2, "flows": 120, "rules": 14, "clients": 1,
   "counters": {"queued_packets": 5123, "classifies": 5100, "permits": 4900,
     "blocks": 180, "pends": 40, "timeouts": 3, "limit_hits": 0, "dns_replies": 900}}},
 "pending": {"result": [
   {"id": 12, "age_ms": 3210, "pid": 1234, "exe": "/usr/bin/curl",
    "cmdline": "curl https://example.org", "uid": 1000, "user": "alice", "proto": "tcp",
    "direction": "out", "local": "192.0.2.1:40512", "remote": "192.0.2.2:443",
    "host": "example.org", "timeout_ms": 26790},
   {"id": 13, "age_ms": 125000, "pid": null, "exe": null, "cmdline": null, "uid": 1001,
    "user": null, "proto": "udp", "direction": "out", "local": "[2001:db8:a1e::1]:5353",
    "remote": "[2001:db8:a1e::2]:53", "host": null, "timeout_ms": 1000}]},
 "allow": {"result": {"rule": null}},
 "deny": {"result": {"rule": "3f9c2a71"}},
 "rules.list": {"result": [
   {"id": "3f9c2a71", "name": "curl to example.org", "action": "allow", "enabled": true,
    "lifetime": "always", "app": "/usr/bin/curl", "host": "example.org", "proto": "tcp",
    "port": 443, "direction": "out", "created": "2026-11-27T15:00:00Z"},
   {"id": "dns-udp", "action": "allow", "enabled": false, "lifetime": "timed",
    "expires_in_ms": 300000, "proto": "udp", "port": 53, "weight": 10}]},
 "rules.add": {"result": {"rule": "a1b2c3d4"}},
 "rules.del": {"error": "no rule \"nope\"", "code": "not_found"},
 "rules.enable": {"result": {}},
 "rules.disable": {"result": {}},
 "flows": {"result": [
   {"proto": "tcp", "direction": "out", "local": "192.0.2.1:40512", "remote": "192.0.2.2:443",
    "host": "example.org", "pid": 1234, "exe": "/usr/bin/curl", "uid": 1000,
    "rule": "3f9c2a71", "age_ms": 5120},
   {"proto": "udp", "direction": "in", "local": "[2001:db8:a1e::1]:5353",
    "remote": "[2001:db8:a1e::2]:41234", "host": null, "pid": null, "exe": null,
    "uid": null, "rule": null, "age_ms": 10}]},
 "events": {"result": [
   {"seq": 1, "time_ms": 1764255600123, "type": "pend", "reason": "callout",
    "layer": "connect", "verdict": "hold", "rule": null, "proto": "tcp", "direction": "out",
    "local": "192.0.2.1:40512", "remote": "192.0.2.2:443", "host": "example.org",
    "pid": 1234, "uid": 1000, "exe": "/usr/bin/curl", "count": 0},
   {"seq": 2, "time_ms": 1764255601123, "type": "complete", "reason": "prompt",
    "layer": "connect", "verdict": "permit", "rule": "3f9c2a71", "proto": "tcp",
    "direction": "out", "local": "192.0.2.1:40512", "remote": "192.0.2.2:443",
    "host": "example.org", "pid": 1234, "uid": 1000, "exe": "/usr/bin/curl", "count": 0}]},
 "reload": {"result": {"rules": 14, "errors": []}}
}
EOF

# start_mock NAME [ARGS...] — ctl_mock on $T/NAME.sock, logging to $T/NAME.log.
# Its pid joins lib.sh's list of background processes killed at exit.
start_mock() {
	local name=$1; shift
	rm -f "$T/$name.sock"
	: >"$T/$name.log"
	"$MOCK" -s "$T/$name.sock" -l "$T/$name.log" -t 600 "$@" 2>>"$T/mock.err" &
	_ag_bg_pids+=($!)
	wait_for 5 test -S "$T/$name.sock" || { echo "# ctl_mock $name did not start"; return 1; }
}

# requests NAME — the requests logged by mock NAME, one per line.
requests() { grep -v '^#' "$T/$1.log"; }

# run_ctl ARGS... — alegatectl on the main mock; sets rc, out, err.
run_ctl() {
	"$CTL" -s "$T/m.sock" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# fits80 FILE — no line wider than 80 columns.
fits80() { ! sed 's/\xe2\x80\xa6/./g' "$1" | awk 'length($0) > 80 { bad = 1 } END { exit !bad }'; }

start_mock m -r "$T/replies.json" || { fail cli_mock_start "ctl_mock did not start"; finish; }

# ---- the request of every command ----------------------------------------------------
# req NAME RC WANT ARGS... — run alegatectl ARGS, expect exit RC and the
# requests WANT (JSON values, one per line; "" for none).
req() {
	local name=$1 want_rc=$2 want=$3; shift 3
	: >"$T/m.log"
	run_ctl "$@"
	local got want_n
	got=$(requests m)
	want_n=$( [ -n "$want" ] && jq -cS . <<<"$want")
	if [ "$rc" -ne "$want_rc" ]; then
		fail "$name" "exit $rc, expected $want_rc (stderr: $err)"
	elif [ "$got" != "$want_n" ]; then
		fail "$name" "sent $got, expected $want_n"
	else
		pass "$name"
	fi
}

req cli_request_status 0 '{"op":"status"}' status
req cli_request_pending 0 '{"op":"pending"}' pending
req cli_request_allow_once_by_default 0 \
	'{"op":"allow","pending":12,"duration":"once"}' allow 12
req cli_request_allow_for_with_scope 0 \
	'{"op":"allow","pending":12,"duration":"for","for_ms":300000,"scope":"app"}' \
	allow 12 --for 5m --scope app
req cli_request_allow_until_restart 0 \
	'{"op":"allow","pending":3,"duration":"until-restart"}' allow 3 --until-restart
req cli_request_deny_once 0 '{"op":"deny","pending":12,"duration":"once"}' deny 12
req cli_request_deny_always_reject_scope 0 \
	'{"op":"deny","pending":12,"duration":"always","scope":"app+port","reject":true}' \
	deny 12 --always --scope app+port --reject
req cli_request_deny_for_compound_duration 0 \
	'{"op":"deny","pending":7,"duration":"for","for_ms":5400000}' deny --for=1h30m 7
req cli_request_rules_list 0 '{"op":"rules.list"}' rules list
req cli_request_rules_add_always_by_default 0 \
	'{"op":"rules.add","rule":{"action":"allow","app":"/usr/bin/curl","host":"example.org",
	  "port":443,"proto":"tcp","direction":"out","weight":5,"name":"curl web",
	  "lifetime":"always"}}' \
	rules add --action allow --app /usr/bin/curl --host example.org --port 443 \
	--proto tcp --direction out --weight 5 --name "curl web"
req cli_request_rules_add_timed_range_uid_protonum 0 \
	'{"op":"rules.add","rule":{"action":"deny","user":1000,"remote":"192.0.2.0/24",
	  "port":"1000-2000","proto":17,"lifetime":"timed","expires_in_ms":3600000}}' \
	rules add --action deny --user 1000 --remote 192.0.2.0/24 --port 1000-2000 \
	--proto 17 --for 1h
req cli_request_rules_add_user_name_until_restart 0 \
	'{"op":"rules.add","rule":{"action":"ask","user":"alice","proto":"icmpv6",
	  "direction":"in","weight":-3,"lifetime":"until-restart"}}' \
	rules add --action ask --user alice --proto icmpv6 --direction in --weight -3 --until-restart
req cli_request_rules_del 1 '{"op":"rules.del","rule":"3f9c2a71"}' rules del 3f9c2a71
req cli_request_rules_enable_id_stays_a_string 0 '{"op":"rules.enable","rule":"42"}' \
	rules enable 42
req cli_request_rules_disable 0 '{"op":"rules.disable","rule":"dns-udp"}' rules disable dns-udp
req cli_request_flows 0 '{"op":"flows"}' flows
req cli_request_events 0 '{"op":"events"}' events
req cli_request_events_limit 0 '{"op":"events","limit":5}' events --limit 5
req cli_request_reload 0 '{"op":"reload"}' reload
req cli_request_version_sends_nothing 0 '' version

# ---- human output ---------------------------------------------------------------------------
run_ctl status
if [ $rc -eq 0 ] && grep -q "running" "$T/out" && grep -q "iptables" "$T/out" &&
   grep -q "closed" "$T/out" && grep -q "queued packets *5123" "$T/out" && fits80 "$T/out"; then
	pass cli_status_human
else
	fail cli_status_human "rc=$rc: $out"
fi

run_ctl pending
if [ $rc -eq 0 ] && head -n1 "$T/out" | grep -q "^ID  *AGE  *PID  *USER  *PROGRAM  *PROTO  *DIR  *REMOTE  *HOST" &&
   grep -Eq '^12 +3s +1234 +alice +curl +tcp +out +192\.0\.2\.2:443 +example\.org$' "$T/out" &&
   grep -Eq '^13 +2m 5s +- +1001 +- +udp +out +\[2001:db8:a1e::2\]:53 +-$' "$T/out" &&
   fits80 "$T/out"; then
	pass cli_pending_human_columns_and_unknowns
else
	fail cli_pending_human_columns_and_unknowns "rc=$rc: $out"
fi

# table NAME PATTERN ARGS... — exit 0, header and two rows, PATTERN, nothing cut
# (the output is a file, not a terminal).
table() {
	local name=$1 pat=$2; shift 2
	run_ctl "$@"
	if [ $rc -eq 0 ] && ! grep -q $'\xe2\x80\xa6\|\.\.\.' "$T/out" && [ "$(wc -l <"$T/out")" -eq 3 ] &&
	   grep -Eq -- "$pat" "$T/out"; then
		pass "$name"
	else
		fail "$name" "rc=$rc: $out"
	fi
}
table cli_flows_human '^tcp +out +curl +1234 +192\.0\.2\.1:40512 +example\.org:443 +3f9c2a71$' flows
table cli_events_human '^[0-9:]{8} +complete +permit +tcp +out +curl +example\.org:443 +3f9c2a71$' events
table cli_rules_list_human_whole '^3f9c2a71 +allow +yes +always +app=/usr/bin/curl host=example\.org port=443 proto=tcp direction=out +curl to example\.org$' rules list

if grep -Eq '^dns-udp +allow +no +5m left +port=53 proto=udp weight=10' "$T/out"; then
	pass cli_rules_list_human
else
	fail cli_rules_list_human "$out"
fi

run_ctl allow 12
[ $rc -eq 0 ] && [ "$out" = "allowed flow 12" ] && pass cli_allow_human ||
	fail cli_allow_human "rc=$rc: $out"
run_ctl deny 12 --always
[ $rc -eq 0 ] && [ "$out" = "denied flow 12; added rule 3f9c2a71 (always)" ] &&
	pass cli_deny_rule_human || fail cli_deny_rule_human "rc=$rc: $out"
run_ctl rules add --action allow --app /bin/true
[ $rc -eq 0 ] && [ "$out" = "added rule a1b2c3d4" ] && pass cli_rules_add_human ||
	fail cli_rules_add_human "rc=$rc: $out"

# ---- --json ---------------------------------------------------------------------------------
# json NAME JQ_TEST ARGS... — stdout is exactly one JSON value passing JQ_TEST.
json() {
	local name=$1 test=$2; shift 2
	run_ctl "$@"
	if [ $rc -eq 0 ] && [ "$(jq -s length "$T/out" 2>/dev/null)" = 1 ] &&
	   jq -e "$test" "$T/out" >/dev/null 2>&1; then
		pass "$name"
	else
		fail "$name" "rc=$rc: $out"
	fi
}
json cli_json_status 'type == "object" and (.backend, .fail_mode, .pending, .flows,
	.counters.queued_packets) != null' --json status
json cli_json_pending_after_the_command 'type == "array" and length == 2 and
	(.[0] | has("id") and has("age_ms") and has("pid") and has("exe") and has("uid") and
	 has("proto") and has("direction") and has("local") and has("remote") and has("host"))
	and .[1].host == null' pending --json
json cli_json_rules_list 'type == "array" and (.[0] | has("id") and has("action") and
	has("enabled") and has("lifetime"))' --json rules list
json cli_json_flows 'type == "array" and (.[0] | has("proto") and has("direction") and
	has("local") and has("remote") and has("pid") and has("exe") and has("rule"))' flows --json
json cli_json_events 'type == "array" and length == 2 and .[0].seq == 1' --json events
json cli_json_events_limit_keeps_the_latest 'type == "array" and length == 1 and .[0].seq == 2' \
	events --limit 1 --json
json cli_json_allow 'type == "object" and has("rule")' --json allow 12
json cli_json_rules_add '.rule == "a1b2c3d4"' rules add --json --action deny --host x.example
json cli_json_rules_enable 'type == "object"' rules enable 42 --json
json cli_json_reload '.rules == 14' reload --json
json cli_json_version '.alegatectl != null and .protocol == 1 and
	(.alegated | startswith("alegated"))' version --json

# ---- exit codes and messages ------------------------------------------------------------------
run_ctl rules del nope
[ $rc -eq 1 ] && [ "$err" = 'alegatectl: no rule "nope"' ] && [ -z "$out" ] &&
	pass cli_daemon_error_exit1_with_its_message || fail cli_daemon_error_exit1_with_its_message "rc=$rc err=$err"

# usage NAME PATTERN ARGS... — exit 2, PATTERN and a usage line on stderr, nothing sent.
usage() {
	local name=$1 pat=$2; shift 2
	: >"$T/m.log"
	run_ctl "$@"
	if [ $rc -eq 2 ] && grep -qF -- "$pat" "$T/err" && grep -q "^usage: alegatectl" "$T/err" &&
	   [ -z "$(requests m)" ]; then
		pass "$name"
	else
		fail "$name" "rc=$rc err=$err"
	fi
}
usage cli_usage_allow_without_id "missing ID" allow
usage cli_usage_bad_duration_is_quoted 'bad duration "5x"' allow 12 --for 5x
usage cli_usage_two_durations "give one DURATION" allow 12 --once --always
usage cli_usage_scope_needs_a_rule "--scope" allow 12 --scope app
usage cli_usage_unknown_scope 'unknown scope "hots"' deny 12 --always --scope hots
usage cli_usage_reject_is_deny_only "--reject does not apply to allow" allow 12 --reject
usage cli_usage_rules_add_needs_action "--action is required" rules add --app /bin/true
usage cli_usage_rules_add_bad_action 'unknown action "alow"' rules add --action alow
usage cli_usage_rules_add_bad_port 'port: 70000 is not a port (1-65535)' rules add --action allow --port 70000
usage cli_usage_rules_add_reversed_range 'port: "9-2" is a range whose start is above its end' \
	rules add --action allow --port 9-2
usage cli_usage_rules_add_bad_proto 'unknown proto "sctp"' rules add --action allow --proto sctp
# The rule library's checks and words, the daemon's own: nothing it would refuse is sent.
usage rules_add_weight_5000_is_refused_with_the_rule_library_message_exit_2 \
	'alegatectl: rules add: weight: 5000 is out of range -1000..1000' \
	rules add --action deny --app /bin/true --weight 5000
usage rules_add_bad_host_is_refused_before_sending_with_the_library_message \
	'host: "-x.example" is not a DNS name or *.suffix' rules add --action deny --host -x.example
usage cli_usage_rules_add_once "--once does not apply" rules add --action allow --once
usage cli_usage_unknown_option 'unknown option "--frobnicate"' status --frobnicate
usage cli_usage_extra_argument 'unexpected argument "13"' allow 12 5m host 13
usage cli_usage_option_needs_value "--for needs a value" allow 12 --for
usage cli_usage_bad_limit 'bad --limit "0"' events --limit 0
usage cli_usage_prompt_has_no_json "--json" prompt --json

# Unknown commands and prefixes: exit 2, nothing sent.
ok=1
for c in frobnicate stat pend "rules li" "rule list" "rules" help; do
	: >"$T/m.log"
	# shellcheck disable=SC2086
	run_ctl $c
	{ [ $rc -eq 2 ] && [ -z "$(requests m)" ]; } || { ok=0; echo "# \"$c\": rc=$rc $err"; }
done
run_ctl stat
grep -q 'unknown command "stat"' "$T/err" || ok=0
[ $ok -eq 1 ] && pass cli_unknown_commands_and_prefixes_exit2 ||
	fail cli_unknown_commands_and_prefixes_exit2 "see above"

# -h on every command, and the top-level help.
ok=1
for c in "" status pending allow deny "rules" "rules list" "rules add" "rules del" \
	 "rules enable" "rules disable" flows events history traffic prompt reload version; do
	for h in -h --help; do
		: >"$T/m.log"
		# shellcheck disable=SC2086
		"$CTL" -s "$T/m.sock" $c $h >"$T/out" 2>"$T/err"
		r=$?
		if [ $r -ne 0 ] || ! head -n1 "$T/out" | grep -q "^usage: alegatectl .*$c" ||
		   [ -s "$T/err" ] || [ -n "$(requests m)" ] || ! fits80 "$T/out"; then
			ok=0
			echo "# \"$c $h\": rc=$r"
		fi
	done
done
[ $ok -eq 1 ] && pass cli_help_on_every_command || fail cli_help_on_every_command "see above"

# ---- daemon missing, refusing, or not speaking the protocol ----------------------------------
"$CTL" -s "$T/none.sock" status >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -qF "\"$T/none.sock\"" "$T/err" && grep -q "is alegated running?" "$T/err" &&
	pass cli_daemon_missing_exit1_names_socket || fail cli_daemon_missing_exit1_names_socket "rc=$rc $(cat "$T/err")"

ALEGATE_SOCKET=$T/none2.sock "$CTL" pending >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -qF "$T/none2.sock" "$T/err" && pass cli_socket_from_environment ||
	fail cli_socket_from_environment "rc=$rc $(cat "$T/err")"

refusal='permission denied: uid 65534 is neither root nor in group "alegate"'
start_mock r -R "$refusal"
"$CTL" -s "$T/r.sock" status >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$T/err")" = "alegatectl: $refusal" ] && [ ! -s "$T/out" ] &&
	pass cli_refused_hello_exit1_with_its_text || fail cli_refused_hello_exit1_with_its_text "rc=$rc $(cat "$T/err")"

start_mock v -V 2
"$CTL" -s "$T/v.sock" status >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "version 2" "$T/err" && pass cli_other_protocol_version_exit1 ||
	fail cli_other_protocol_version_exit1 "rc=$rc $(cat "$T/err")"

start_mock h -H 'SSH-2.0-OpenSSH_9.2'
"$CTL" -s "$T/h.sock" status >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "SSH-2.0" "$T/err" && pass cli_not_alegated_exit1 ||
	fail cli_not_alegated_exit1 "rc=$rc $(cat "$T/err")"

# ---- --until-quit stays connected until interrupted ---------------------------------------------
# session_closed LOG — the log says the one client session closed.
session_closed() { grep -q '^# close' "$1"; }

start_mock q -r "$T/replies.json"
"$CTL" -s "$T/q.sock" rules add --action allow --app /bin/true --until-quit \
	>"$T/q.out" 2>"$T/q.err" </dev/null &
qpid=$!
_ag_bg_pids+=($qpid)
wait_for 5 grep -q '"lifetime":"until-quit"' "$T/q.log"
sleep 0.5
if kill -0 $qpid 2>/dev/null && ! session_closed "$T/q.log" && grep -q "lasts until" "$T/q.err" &&
   [ "$(cat "$T/q.out")" = "added rule a1b2c3d4" ]; then
	kill -INT $qpid
	wait_for 5 session_closed "$T/q.log"
	wait $qpid
	rc=$?
	[ $rc -eq 0 ] && session_closed "$T/q.log" && pass cli_until_quit_holds_until_sigint ||
		fail cli_until_quit_holds_until_sigint "exit $rc after SIGINT"
else
	fail cli_until_quit_holds_until_sigint "did not stay connected: $(cat "$T/q.err")"
fi

start_mock q2 -r "$T/replies.json"
start=$(date +%s%N)
sleep 1 | "$CTL" -s "$T/q2.sock" allow 12 --until-quit --scope app >"$T/q2.out" 2>"$T/q2.err"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 0 ] && [ $ms -ge 800 ] && session_closed "$T/q2.log" &&
	grep -q '"duration":"until-quit"' "$T/q2.log" && pass cli_until_quit_ends_with_its_input_pipe ||
	fail cli_until_quit_ends_with_its_input_pipe "rc=$rc after ${ms} ms: $(cat "$T/q2.err")"

printf 'wait rules.add\nsleep 300\nclose\n' >"$T/q3.script"
start_mock q3 -r "$T/replies.json" -S "$T/q3.script"
timeout 10 "$CTL" -s "$T/q3.sock" rules add --action deny --until-quit >/dev/null 2>"$T/q3.err" </dev/null
rc=$?
[ $rc -eq 1 ] && grep -q "closed the connection" "$T/q3.err" &&
	pass cli_until_quit_daemon_gone_exit1 || fail cli_until_quit_daemon_gone_exit1 "rc=$rc $(cat "$T/q3.err")"

# ---- events --follow ------------------------------------------------------------------------------
cat >"$T/ev.script" <<'EOF'
wait events
push {"event":{"seq":2,"type":"complete","verdict":"permit"}}
push {"event":{"seq":3,"type":"block","verdict":"block","proto":"udp","remote":"192.0.2.2:53"}}
EOF
start_mock ev -r "$T/replies.json" -S "$T/ev.script"
"$CTL" -s "$T/ev.sock" events --follow --json >"$T/ev.out" 2>"$T/ev.err" </dev/null &
evpid=$!
_ag_bg_pids+=($evpid)
wait_for 5 bash -c "[ \$(wc -l <'$T/ev.out') -ge 3 ]"
sleep 0.2
kill -INT $evpid || echo "# events --follow ended before SIGINT"
wait $evpid
rc=$?
seqs=$(jq -c '.seq' "$T/ev.out" 2>/dev/null | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$seqs" = "1 2 3 " ] && [ "$(jq -c 'type' "$T/ev.out" | sort -u)" = '"object"' ] &&
	grep -q '"events":true' "$T/ev.log" &&
	pass cli_events_follow_json_lines_without_duplicates ||
	fail cli_events_follow_json_lines_without_duplicates "rc=$rc seqs=$seqs $(cat "$T/ev.err")"

# ---- the prompt in a pseudo-terminal ---------------------------------------------------------------
cat >"$T/p.script" <<'EOF'
wait pending
sleep 200
push {"pending":{"id":5,"age_ms":0,"pid":4242,"exe":"/usr/bin/curl","cmdline":"curl https://example.org","uid":1000,"user":"alice","proto":"tcp","direction":"out","local":"192.0.2.1:40512","remote":"192.0.2.2:443","host":"example.org","timeout_ms":30000}}
sleep 100
push {"pending":{"id":6,"age_ms":1500,"pid":null,"exe":null,"cmdline":null,"uid":0,"user":null,"proto":"udp","direction":"out","local":"[2001:db8:a1e::1]:5353","remote":"[2001:db8:a1e::2]:53","host":null,"timeout_ms":30000}}
wait deny
sleep 300
push {"pending":{"id":7,"age_ms":0,"pid":99,"exe":"/usr/bin/ssh","cmdline":null,"uid":1000,"user":"alice","proto":"tcp","direction":"out","local":"192.0.2.1:40000","remote":"192.0.2.2:22","host":null,"timeout_ms":30000}}
sleep 300
push {"resolved":{"id":7,"verdict":"deny"}}
push {"pending":{"id":8,"age_ms":0,"pid":100,"exe":"/usr/bin/wget","cmdline":null,"uid":1000,"user":"alice","proto":"tcp","direction":"out","local":"192.0.2.1:40001","remote":"192.0.2.2:80","host":null,"timeout_ms":30000}}
EOF
cat >"$T/p.drive" <<'EOF'
expect alegate prompt
expect No flow is waiting
expect [5] out tcp  curl -> example.org (192.0.2.2) port 443, just now (timeout in 
expect /usr/bin/curl  pid 4242  user alice  "curl https://example.org"
expect [6] out udp  - -> 2001:db8:a1e::2 port 53, waiting 1s (timeout in 30s)
expect -  pid -  uid 0
send 6 a\r
expect [6] allowed once
send 5 d 10m port\r
expect [5] denied for 10m: rule 3f9c2a71
# A flow arriving while the person types: printed above, the typing kept.
send l
expect [7] out tcp  ssh -> 192.0.2.2 port 22
expect waiting)> l
send \r
expect waiting, oldest first:
expect [7] decided elsewhere: deny
expect [8] out tcp  wget
send 99 a\r
expect ? no waiting flow "99"
send 8 x\r
expect ? a (allow), d (deny) or r (reject) after the flow id
send 8 a once host\r
expect ? a SCOPE ("host") says what a rule matches
send ?\r
expect Answer a flow
send q\r
expect 1 flow still waiting: alegated decides it at its timeout.
eof
status 0
EOF
# An empty pending list at start, so the flows come only as pushes.
jq '.pending.result = []' "$T/replies.json" >"$T/replies-p.json"
start_mock p -r "$T/replies-p.json" -S "$T/p.script"
if NO_COLOR=1 timeout 60 "$PTY" -t 5000 -w 160 "$T/p.drive" -- "$CTL" -s "$T/p.sock" prompt 2>"$T/p.err"; then
	got=$(requests p | jq -c 'select(.op == "allow" or .op == "deny") | [.op, .pending, .duration]' |
	      tr '\n' ' ')
	want='["allow",6,"once"] ["deny",5,"for"] '
	[ "$got" = "$want" ] && pass cli_prompt_answers_two_flows_in_reverse_order ||
		fail cli_prompt_answers_two_flows_in_reverse_order "sent: $got"
	requests p | grep -q '"pending":8' &&
		fail cli_prompt_never_answers_on_its_own "it answered flow 8" ||
		pass cli_prompt_never_answers_on_its_own
else
	fail cli_prompt_answers_two_flows_in_reverse_order "ptydrive failed"
	sed 's/^/#   /' "$T/p.err"
fi

finish
