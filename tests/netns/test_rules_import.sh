#!/usr/bin/env bash
# test_rules_import.sh — rules export and import: a backup taken from one
# alegated restores the same rules on another, a bad file changes nothing,
# and OpenSnitch's rule files decide connections as OpenSnitch would.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
for p in app_a app_b app_c app_d; do cp "$TOOLS/ag_connect" "$T/bin/$p"; done
# the rules as the daemon keeps them, without what the daemon adds itself
rules_of() { ctl rules list --json | jq -S '[.[] | del(.created, .lifetime)] | sort_by(.id)'; }

daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$T/bin/app_a" --host example.org --port 443 --proto tcp \
	--name "a to example.org" >/dev/null &&
ctl rules add --action deny --remote 198.51.100.0/24 --weight 7 >/dev/null &&
ctl rules add --action reject --user 0 --port 25 --direction out >/dev/null &&
ctl rules add --action allow --app "$T/bin/app_b" --until-restart >/dev/null ||
	fail setup "rules add failed"
ctl rules disable "$(ctl rules list --json | jq -r '.[] | select(.action == "deny") | .id')"

# ---- export: the saved rules as one array, to a file or stdout ------------------------------------
ctl rules export "$T/backup.json" 2>"$T/export.err"
rc=$?
ctl rules export >"$T/stdout.json" 2>/dev/null
if [ $rc -eq 0 ] && [ "$(jq length "$T/backup.json")" = 3 ] &&
   jq -e 'all(.[]; has("lifetime") | not) and any(.[]; .enabled == false)' "$T/backup.json" >/dev/null &&
   cmp -s "$T/backup.json" "$T/stdout.json" && grep -q "1 rules that are not saved" "$T/export.err"; then
	pass export_writes_the_saved_rules_as_one_array
else
	fail export_writes_the_saved_rules_as_one_array "rc $rc: $(cat "$T/backup.json" "$T/export.err")"
fi
rules_of | jq '[.[] | select(.app != "'"$T/bin/app_b"'")]' >"$T/before.json"

# ---- a file with one bad rule imports nothing, says FILE:INDEX and exits 2 -----------------------
jq '. + [{"id":"bad1","action":"alow"}]' "$T/backup.json" >"$T/bad.json"
daemon_stop_clean
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no || { fail daemon_start "second alegated did not start"; finish; }
ctl rules import "$T/bad.json" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ $rc -eq 2 ] && grep -qF "$T/bad.json:3: unknown action \"alow\"" "$T/bad.err" &&
   [ "$(ctl rules list --json | jq length)" = 0 ]; then
	pass import_of_a_file_with_a_bad_rule_adds_none_exit_2
else
	fail import_of_a_file_with_a_bad_rule_adds_none_exit_2 "rc $rc: $(cat "$T/bad.out" "$T/bad.err")"
fi

# ---- export, then import on a fresh daemon: the same rules, saved ------------------------------
ctl rules import "$T/backup.json" >"$T/imp.out" 2>"$T/imp.err"
rc=$?
rules_of >"$T/after.json"
if [ $rc -eq 0 ] && diff "$T/before.json" "$T/after.json" >"$T/diff" &&
   [ "$(ls "$RULES"/*.json | wc -l)" = 3 ] && grep -q "^3 added, 0 skipped" "$T/imp.out"; then
	pass export_then_import_on_a_second_daemon_gives_the_same_rules
else
	fail export_then_import_on_a_second_daemon_gives_the_same_rules "rc $rc: $(cat "$T/imp.out" "$T/imp.err" "$T/diff")"
fi
ctl rules import "$T/backup.json" >"$T/imp2.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^0 added, 3 skipped" "$T/imp2.out" &&
   [ "$(ctl rules list --json | jq length)" = 3 ]; then
	pass import_twice_skips_identical_rules
else
	fail import_twice_skips_identical_rules "rc $rc: $(cat "$T/imp2.out")"
fi

# ---- OpenSnitch's rules decide as OpenSnitch would --------------------------------------------
daemon_stop_clean
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no || { fail daemon_start "third alegated did not start"; finish; }
mkdir -p "$T/os"
for f in "$(dirname "$0")"/opensnitch/*.json; do
	sed -e "s|@BIN@|$T/bin|g" -e "s|@S4@|$S4|g" "$f" >"$T/os/$(basename "$f")"
done
ctl rules import --opensnitch "$T/os" >"$T/os.out" 2>"$T/os.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c '\.json: rule ' "$T/os.out")" = 4 ] &&
   [ "$(wc -l <"$T/os.err")" = 1 ] && grep -q "^$T/os/040-deny-regexp-hosts.json: .*regular expressions" "$T/os.err" &&
   [ "$(ctl rules list --json | jq length)" = 4 ]; then
	pass opensnitch_import_one_line_per_rule_skipped_regexp_exit_1
else
	fail opensnitch_import_one_line_per_rule_skipped_regexp_exit_1 "rc $rc: $(cat "$T/os.out" "$T/os.err")"
fi
cpids=()
for p in app_a app_b app_c app_d; do
	in_c "$T/bin/$p" -t 1500 $S4 8080 >"$T/$p.out" 2>&1 &
	cpids+=($!)
done
sleep 0.5
pending=$(ctl pending --json | jq length)
wait "${cpids[@]}"
if grep -q "^ok" "$T/app_a.out" && grep -q "^ok" "$T/app_c.out"; then
	pass opensnitch_allow_rules_let_their_programs_connect
else
	fail opensnitch_allow_rules_let_their_programs_connect "a: $(cat "$T/app_a.out"), c: $(cat "$T/app_c.out")"
fi
# refused by the imported deny, not left to a prompt: nothing pending, a block by that rule
deny_id=$(ctl rules list --json | jq -r '.[] | select(.name == "010-deny-server") | .id')
if ! grep -q "^ok" "$T/app_b.out" && ! grep -q "^ok" "$T/app_d.out" && [ "$pending" = 0 ] &&
   [ "$(ctl events --json | jq --arg r "$deny_id" '[.[] | select(.type == "block" and .rule == $r)] | length')" -ge 2 ]; then
	pass opensnitch_deny_refuses_and_outranks_a_plain_allow
else
	fail opensnitch_deny_refuses_and_outranks_a_plain_allow "b: $(cat "$T/app_b.out"), d: $(cat "$T/app_d.out"), pending $pending; $(ctl events --json | jq -c '.[] | select(.type == "block")')"
fi
finish
