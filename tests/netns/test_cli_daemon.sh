#!/usr/bin/env bash
# test_cli_daemon.sh — what alegatectl tells a person about an answer, with
# the real alegated: the new rule in words, an older rule that still
# decides, a rule file that cannot be written, and the daemon stopping
# under a prompt and coming back.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/ag_connect" "$T/bin/$1"; echo "$T/bin/$1"; }
# pend_one PROGRAM OUT — start PROGRAM's connect, wait until it is pended; sets id, cpid.
pend_one() {
	in_c "$1" -t 15000 $S4 8080 >"$2" &
	cpid=$!
	wait_for 5 bash -c "'$ALEGATECTL' -s '$SOCK' pending --json | jq -e --arg x '$1' 'any(.[]; .exe == \$x)'"
	id=$(ctl pending --json | jq -r --arg x "$1" '.[] | select(.exe == $x) | .id')
}

# Without the fast path: every allowed connection is a flow alegated lists.
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }

# ---- status --json: the fast path as fields; the log names the process cache once ---------------
if ctl status --json | jq -e '.running == true and (.fast_path_info.state == "on" and
	(.fast_path_info.allowed | type) == "number" or .fast_path_info.state == "off" and
	(.fast_path_info.reason | length) > 0)' >/dev/null; then
	pass status_json_has_a_structured_fast_path
else
	fail status_json_has_a_structured_fast_path "$(ctl status --json)"
fi
if grep -q "process cache: proc connector" "$T/d-$NSC/daemon.log" &&
   ! grep -q "process cache: process cache" "$T/d-$NSC/daemon.log"; then
	pass log_says_process_cache_once
else
	fail log_says_process_cache_once "$(grep "process cache" "$T/d-$NSC/daemon.log")"
fi
ctl rules add --action deny --user nosuchuser >/dev/null 2>"$T/user.err"
rc=$?
[ $rc -eq 1 ] && grep -qF 'unknown user "nosuchuser"' "$T/user.err" &&
	pass unknown_user_is_quoted_in_the_refusal || fail unknown_user_is_quoted_in_the_refusal "rc $rc: $(cat "$T/user.err")"

# ---- an answer's rule is said in words, and has a name and a created time ----------------------
A=$(client curl_a)
pend_one "$A" "$T/a.out"
ctl allow "$id" --always >"$T/allow.out" 2>"$T/allow.err"
rc=$?
wait "$cpid"
rid=$(ctl rules list --json | jq -r --arg a "$A" '.[] | select(.app == $a) | .id')
if [ $rc -eq 0 ] && [ -n "$rid" ] && grep -qxF "rule $rid: allow $A to 192.0.2.2, always" "$T/allow.out"; then
	pass answer_always_says_what_its_new_rule_matches
else
	fail answer_always_says_what_its_new_rule_matches "rc $rc: $(cat "$T/allow.out" "$T/allow.err")"
fi
if ctl rules list --json | jq -e --arg r "$rid" '.[] | select(.id == $r) |
	(.name == "curl_a to 192.0.2.2") and (.created | test("^20[0-9-]+T[0-9:]+Z$"))' >/dev/null &&
   jq -e '(.name | length) > 0 and (.created != null)' "$RULES/$rid.json" >/dev/null; then
	pass prompt_made_rule_has_a_name_and_a_created_time
else
	fail prompt_made_rule_has_a_name_and_a_created_time "$(ctl rules list --json 2>&1)"
fi
ctl rules add --action deny --host nowhere.example >/dev/null
if ctl rules list --json | jq -e '.[] | select(.host == "nowhere.example") |
	.name == "any program to nowhere.example" and .created != null' >/dev/null; then
	pass rules_add_rule_has_a_name_and_a_created_time
else
	fail rules_add_rule_has_a_name_and_a_created_time "$(ctl rules list --json)"
fi

# ---- flows lists live connections, not those closed minutes ago -----------------------------
in_c "$A" -w -t 4000 $S4 8080 >"$T/live.out" &
lpid=$!
out=$(in_c "$A" -l -t 3000 $S4 8080)	# connects, then closes at once: TIME_WAIT here
closed=$(awk '{ print $3 }' <<<"$out")
sleep 0.3
ctl flows --json >"$T/flows.json"
if [[ $out == ok* ]] && [ -n "$closed" ] &&
   jq -e --arg a "$A" --arg p ":$closed" '[.[] | select(.exe == $a)] | length == 1 and
	all(.[]; .local | endswith($p) | not)' "$T/flows.json" >/dev/null; then
	pass flows_leaves_out_a_closed_connection_and_lists_the_live_one
else
	fail flows_leaves_out_a_closed_connection_and_lists_the_live_one "closed port $closed: $(cat "$T/flows.json")"
fi
kill "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null

# ---- a new rule that an older one outranks: the answer names the older one ---------------------
# An ask rule of four conditions pends the flow; the answer's rule has one.
B=$(client curl_b)
old=$(ctl rules add --json --action ask --app "$B" --remote $S4 --port 8080 --proto tcp | jq -r .rule)
pend_one "$B" "$T/b.out"
ctl deny "$id" --always --scope app --reject >"$T/deny.out" 2>&1
wait "$cpid"
if [ -n "$old" ] && grep -qF "note: rule $old comes first for such flows" "$T/deny.out"; then
	pass answer_whose_rule_an_older_more_specific_rule_outranks_names_it
else
	fail answer_whose_rule_an_older_more_specific_rule_outranks_names_it "old $old: $(cat "$T/deny.out")"
fi
C=$(client curl_c)
pend_one "$C" "$T/c.out"
ctl deny "$id" --always --scope app --reject --json >"$T/deny2.json" 2>&1
wait "$cpid"
if jq -e '.shadowed_by == null and .new_rule.action == "reject" and .warning == null' "$T/deny2.json" >/dev/null; then
	pass answer_without_a_stronger_rule_has_no_shadow_notice
else
	fail answer_without_a_stronger_rule_has_no_shadow_notice "$(cat "$T/deny2.json")"
fi
# The older rule matches by its second program and its second port: still named.
E=$(client curl_e)
old=$(ctl rules add --json --action ask --app "$T/bin/not_this" --app "$E" --remote $S4 \
	--port 9000,8080 --proto udp,tcp 2>/dev/null | jq -r .rule)
pend_one "$E" "$T/e.out"
ctl deny "$id" --always --scope app --reject >"$T/deny3.out" 2>&1
wait "$cpid"
if [ -n "$old" ] && grep -qF "note: rule $old comes first for such flows" "$T/deny3.out"; then
	pass answer_outranked_by_a_rule_matching_by_its_second_values_names_it
else
	fail answer_outranked_by_a_rule_matching_by_its_second_values_names_it "old $old: $(cat "$T/deny3.out")"
fi

# ---- an always answer whose rule file cannot be written: allowed, kept until restart ------------
D=$(client curl_d)
pend_one "$D" "$T/d.out"
mv "$RULES" "$RULES.away" && : >"$RULES"	# the directory is gone: every save fails
ctl allow "$id" --always >"$T/full.out" 2>"$T/full.err"
rc=$?
wait "$cpid"
rm -f "$RULES" && mv "$RULES.away" "$RULES"
life=$(ctl rules list --json | jq -r --arg d "$D" '.[] | select(.app == $d) | .lifetime')
if [ $rc -eq 0 ] && [[ $(cat "$T/d.out") == ok* ]] && [ "$life" = until-restart ] &&
   grep -q "^allowed flow $id; added rule" "$T/full.out" &&
   grep -q "^warning: cannot save the rule in $RULES: Not a directory; the rule is kept until alegated restarts" "$T/full.out"; then
	pass always_answer_on_an_unwritable_rules_dir_allows_and_says_the_rule_lasts_until_restart
else
	fail always_answer_on_an_unwritable_rules_dir_allows_and_says_the_rule_lasts_until_restart \
		"rc $rc, client $(cat "$T/d.out"), lifetime $life: $(cat "$T/full.out" "$T/full.err")"
fi

# ---- the prompt hears why alegated stops, waits for it, and goes on ------------------------------
mkfifo "$T/prompt.in"
"$ALEGATECTL" -s "$SOCK" prompt <"$T/prompt.in" >"$T/prompt.out" 2>"$T/prompt.err" &
ppid=$!
_ag_bg_pids+=($ppid)
# Held open so the prompt's input does not end; nothing started below keeps it.
exec 7>"$T/prompt.in"
E=$(client curl_e)
pend_one "$E" "$T/e.out" 7>&-
wait_for 5 grep -q "curl_e" "$T/prompt.out"
daemon_stop TERM
wait "$cpid"
wait_for 5 grep -q "Waiting for alegated" "$T/prompt.out"
daemon_start "$NSC" bpf=no 7>&- || { fail daemon_restart "alegated did not start again"; finish; }
wait_for 5 grep -q "alegated is back" "$T/prompt.out"
F=$(client curl_f)
pend_one "$F" "$T/f.out" 7>&-
wait_for 5 grep -q "curl_f" "$T/prompt.out"
( echo "$id a" >&7 ) 2>/dev/null	# a subshell: a prompt that is gone must not kill the test
wait "$cpid"
exec 7>&-
wait "$ppid"
rc=$?
if [ $rc -eq 0 ] && grep -q "^\[[0-9]*\] alegated is stopping: deny" "$T/prompt.out" &&
   grep -qx "alegated is stopping." "$T/prompt.out" && ! grep -q "decided elsewhere" "$T/prompt.out" &&
   grep -q "^\[$id\] allowed once" "$T/prompt.out" && [[ $(cat "$T/f.out") == ok* ]]; then
	pass prompt_says_alegated_is_stopping_then_reconnects_and_answers
else
	fail prompt_says_alegated_is_stopping_then_reconnects_and_answers \
		"rc $rc, client $(cat "$T/f.out"): $(cat "$T/prompt.out" "$T/prompt.err")"
fi

daemon_stop TERM
finish
