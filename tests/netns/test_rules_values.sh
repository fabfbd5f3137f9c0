#!/usr/bin/env bash
# test_rules_values.sh — several values on one condition (S14): a rule for
# two programs and two ports allows each program to each port, and a third
# program or a third port is still asked, with the fast path off and on;
# export and import keep every value.
. "$(dirname "$0")/lib.sh"

ns_pair
for port in 8081 8082 8083; do
	bg_s "$TOOLS/ag_serve" tcp $S4 $port >"$T/server$port.log"
	wait_for 5 grep -q ready "$T/server$port.log" || { fail setup "server $port did not start"; finish; }
done
mkdir -p "$T/bin"
for p in app_a app_b app_c; do cp "$TOOLS/ag_connect" "$T/bin/$p"; done

# connect APP PORT: "ok" when the connection got through within 1.5 s
try() { in_c "$T/bin/$1" -t 1500 $S4 "$2" >"$T/$1.$2.out" 2>&1; grep -q "^ok" "$T/$1.$2.out"; }

for bpf in no yes; do
	daemon_start "$NSC" bpf=$bpf || { fail daemon_start "alegated did not start (bpf=$bpf)"; finish; }
	if ! ctl rules add --action allow --app "$T/bin/app_a" --app "$T/bin/app_b" \
		--port 8081,8082 --proto tcp --direction out >"$T/add.out" 2>&1; then
		fail "setup_bpf_$bpf" "rules add: $(cat "$T/add.out")"
		daemon_stop_clean
		continue
	fi
	# saved as arrays, one value per element
	if [ $bpf = no ] && jq -e '(.app | length) == 2 and .port == ["8081", "8082"] and .proto == "tcp"' \
		"$RULES"/*.json >/dev/null; then
		pass rule_with_two_apps_and_two_ports_is_saved_as_arrays
	elif [ $bpf = no ]; then
		fail rule_with_two_apps_and_two_ports_is_saved_as_arrays "$(cat "$RULES"/*.json)"
	fi
	ok=1
	for p in app_a app_b; do
		for port in 8081 8082; do
			try $p $port || { ok=0; echo "# $p to $port: $(cat "$T/$p.$port.out")"; }
		done
	done
	if [ $ok = 1 ]; then
		pass "two_apps_each_reach_both_ports_bpf_$bpf"
	else
		fail "two_apps_each_reach_both_ports_bpf_$bpf" "see above"
	fi
	# a third port of a listed program, and a listed port of a third
	# program: neither value matches, so alegated asks
	in_c "$T/bin/app_a" -t 3000 $S4 8083 >"$T/third_port.out" 2>&1 &
	p1=$!
	in_c "$T/bin/app_c" -t 3000 $S4 8081 >"$T/third_app.out" 2>&1 &
	p2=$!
	wait_pending 2
	pending=$(ctl pending --json)
	wait $p1 $p2
	if echo "$pending" | jq -e --arg a "$T/bin/app_a" --arg c "$T/bin/app_c" \
		'(map(select(.exe == $a and (.remote | endswith(":8083")))) | length) == 1 and
		 (map(select(.exe == $c and (.remote | endswith(":8081")))) | length) == 1' >/dev/null &&
	   ! grep -q "^ok" "$T/third_port.out" && ! grep -q "^ok" "$T/third_app.out"; then
		pass "a_third_port_and_a_third_app_are_asked_bpf_$bpf"
	else
		fail "a_third_port_and_a_third_app_are_asked_bpf_$bpf" \
			"pending: $(echo "$pending" | jq -c '[.[] | {exe, remote}]'); $(cat "$T/third_port.out" "$T/third_app.out")"
	fi
	daemon_stop_clean
	rm -rf "$T/d-$NSC"
done

# ---- export and import keep the values: the same arrays on a second daemon -----------------------
conds='[.[] | {app, user, remote, host, port, proto}]'
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action deny --app "$T/bin/app_a" --app "$T/bin/app_b" --user 0,65534 \
	--remote 192.0.2.0/24 --remote 2001:db8::/32 --host a.example,b.example \
	--port 25,465-587 --proto tcp,udp >/dev/null &&
ctl rules export "$T/values.json" 2>/dev/null
ctl rules list --json | jq -S "$conds" >"$T/values.before"
daemon_stop_clean
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no || { fail daemon_start "second alegated did not start"; finish; }
ctl rules import "$T/values.json" >"$T/values.out" 2>&1
ctl rules list --json | jq -S "$conds" >"$T/values.after"
if jq -e '.[0] | (.app | length) == 2 and .user == [0, 65534] and (.remote | length) == 2 and
	.host == ["a.example", "b.example"] and .port == ["25", "465-587"] and .proto == ["tcp", "udp"]' \
	"$T/values.before" >/dev/null && diff "$T/values.before" "$T/values.after" >"$T/values.diff"; then
	pass export_then_import_keeps_every_value_of_every_condition
else
	fail export_then_import_keeps_every_value_of_every_condition \
		"$(cat "$T/values.before" "$T/values.out" "$T/values.diff")"
fi
daemon_stop_clean
finish
