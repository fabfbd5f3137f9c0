#!/usr/bin/env bash
# test_daemon_fastpath.sh — the eBPF fast path through the real daemon
# what rules already decide never reaches user space, denied
# connects fail at once, the unknown is pended as before, a rule change is
# in the kernel within 10 ms, a connection the kernel allowed is torn down
# by a new deny rule, and with bpf = no the daemon falls back and says so.
# Its allowed TCP flows skip conntrack while no other firewall is here
# (bpf_notrack = auto), and are tracked again as soon as one is.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; echo "$T/bin/$1"; }
queued() { ctl status --json | jq .counters.queued_packets; }

# A UDP match pinned for a namespace that is gone (its daemon was killed),
# and one of a namespace that lives: the daemon takes the first away at
# start, and leaves the second to its own daemon.
stat -f -c %T /sys/fs/bpf 2>/dev/null | grep -q bpf ||
	mount -t bpf -o mode=0700,nosuid,nodev,noexec bpf /sys/fs/bpf
stale_pin=/sys/fs/bpf/alegate-udp-4000000001-100
live_pin=/sys/fs/bpf/alegate-udp-$(in_s stat -L -c %i /proc/self/ns/net)-7777
bpftool map create "$stale_pin" type array key 4 value 4 entries 1 name agtest_stale 2>/dev/null
bpftool map create "$live_pin" type array key 4 value 4 entries 1 name agtest_live 2>/dev/null
daemon_start "$NSC" || { rm -f "$stale_pin" "$live_pin"; fail daemon_start "alegated did not start"; finish; }
if [ ! -e "$stale_pin" ] && [ -e "$live_pin" ]; then
	pass udp_match_pin_of_a_namespace_that_is_gone_is_removed_at_start
else
	fail udp_match_pin_of_a_namespace_that_is_gone_is_removed_at_start \
		"stale $([ -e "$stale_pin" ] && echo kept || echo removed), live $([ -e "$live_pin" ] && echo kept || echo removed)"
fi
rm -f "$stale_pin" "$live_pin"
fp=$(ctl status --json | jq -r .fast_path)
if [[ $fp != on* ]]; then
	# No eBPF here (no BTF, old kernel): the fallback is what must work.
	if [[ $fp == off:* ]]; then
		pass fast_path_unavailable_daemon_says_why_and_runs_on_nfqueue
	else
		fail fast_path_unavailable_daemon_says_why_and_runs_on_nfqueue "status: $fp"
	fi
	daemon_stop TERM
	finish
fi
pass status_says_the_fast_path_is_on

notrack() { ctl status --json | jq -r .fast_path_notrack; }
# Entries conntrack holds for connections to the server, in any state
# (a closed one stays, TIME_WAIT, for two minutes).
ct_to_server() { in_c conntrack -L -p tcp --dport 8080 ${1:+--state $1} 2>/dev/null | grep -c .; }
nt=$(notrack)
if [[ $nt == on* ]] && in_c nft list table inet alegate_notrack >/dev/null 2>&1; then
	pass notrack_is_on_when_no_other_firewall_is_here
else
	fail notrack_is_on_when_no_other_firewall_is_here "status: $nt"
fi

OK=$(client fp_allowed) NO=$(client fp_denied) ASK=$(client fp_unknown)
ctl rules add --action allow --app "$OK" --always >/dev/null
ctl rules add --action deny --app "$NO" --until-restart >/dev/null

q0=$(queued)
out=$(in_c "$OK" -t 3000 $S4 8080)
out6=$(in_c "$OK" -t 3000 $S6 8080)
q1=$(queued)
if [[ $out == ok* ]] && [[ $out6 == ok* ]] && [ "$q1" = "$q0" ]; then
	pass allowed_by_rule_no_packet_reaches_user_space
else
	fail allowed_by_rule_no_packet_reaches_user_space "$out / $out6, queued $q0 -> $q1"
fi
n=$(ct_to_server)
if [[ $out == ok* ]] && [ "$n" -eq 0 ]; then
	pass allowed_connection_leaves_no_conntrack_entry_while_notrack_is_on
else
	fail allowed_connection_leaves_no_conntrack_entry_while_notrack_is_on \
		"$n entries: $(in_c conntrack -L -p tcp --dport 8080 2>&1 | tr '\n' ' ')"
fi

out=$(in_c "$NO" -t 3000 $S4 8080)
ms=$(awk '{print $NF}' <<<"$out")
if [[ $out == "error EPERM"* ]] && [ "$ms" -lt 50 ]; then
	pass denied_by_rule_connect_fails_at_once_with_eperm
else
	fail denied_by_rule_connect_fails_at_once_with_eperm "$out"
fi

in_c "$ASK" -t 10000 $S4 8080 >"$T/ask.out" &
apid=$!
if wait_pending 1 && ctl pending --json | jq -e --arg x "$ASK" 'any(.[]; .exe == $x)' >/dev/null; then
	ctl allow "$(ctl pending --json | jq -r '.[0].id')" >/dev/null
	wait "$apid"
	[[ $(cat "$T/ask.out") == ok* ]] && pass unknown_flow_falls_through_and_is_pended ||
		fail unknown_flow_falls_through_and_is_pended "$(cat "$T/ask.out")"
else
	fail unknown_flow_falls_through_and_is_pended "not pended"
	wait "$apid"
fi

# Another firewall's rule (this one harmless) takes notrack away at once:
# its `ct state established accept` would not match an untracked packet.
in_c nft -f - <<'EOF_NFT'
table inet other {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
EOF_NFT
wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' status --json | jq -r .fast_path_notrack | grep -q '^off: another firewall'"
nt=$(notrack)
c0=$(ct_to_server)
out=$(in_c "$OK" -t 3000 $S4 8080)
out6=$(in_c "$OK" -t 3000 $S6 8080)
c1=$(ct_to_server)
if [[ $nt == "off: another firewall's rules are here"*"inet other"* ]] && [[ $out == ok* ]] &&
	[[ $out6 == ok* ]] && [ $((c1 - c0)) -ge 2 ] &&
	! in_c nft list table inet alegate_notrack >/dev/null 2>&1; then
	pass another_firewalls_rule_turns_notrack_off_and_flows_are_tracked_again
else
	fail another_firewalls_rule_turns_notrack_off_and_flows_are_tracked_again \
		"status: $nt; $out / $out6; entries $c0 -> $c1"
fi

# The end of a flow the kernel allowed is not the daemon's business: its
# conntrack entry carries FAST and the destroy event stops in the kernel.
# Flushing the table ends the two allowed above (FAST) and the pended one
# (AUTH only): only the pended one's end may reach the daemon.
ct_events() { ctl status --json | jq .counters.ct_events; }
n_all=$(in_c conntrack -L 2>/dev/null | grep -c .)
n_fast=$(in_c conntrack -L -m 0x400000/0x400000 2>/dev/null | grep -c .)
e0=$(ct_events)
in_c conntrack -F >/dev/null 2>&1
want=$((e0 + n_all - n_fast))
wait_for 3 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' status --json | jq .counters.ct_events)\" -ge $want ]"
sleep 0.3	# and nothing more comes
e1=$(ct_events)
if [ "$n_fast" -ge 2 ] && [ "$n_all" -gt "$n_fast" ] && [ "$e1" -eq "$want" ]; then
	pass fast_path_flows_end_without_waking_the_daemon
else
	fail fast_path_flows_end_without_waking_the_daemon \
		"entries $n_all, of which FAST $n_fast; ct_events $e0 -> $e1 (want $want)"
fi

# The other firewall goes: notrack comes back.
in_c nft delete table inet other
if wait_for 3 bash -c "'$ALEGATECTL' -s '$SOCK' status --json | jq -r .fast_path_notrack | grep -q '^on'"; then
	pass notrack_comes_back_when_the_other_rules_go
else
	fail notrack_comes_back_when_the_other_rules_go "status: $(notrack)"
fi

# A rule change reaches the kernel before the control reply: the very next
# connect, started as soon as alegatectl returns, is decided by it.
NEW=$(client fp_new)
t0=$(date +%s%N)
ctl rules add --action deny --app "$NEW" --until-restart >/dev/null
out=$(in_c "$NEW" -t 3000 $S4 8080)
if [[ $out == "error EPERM"* ]]; then
	pass rule_change_is_in_the_kernel_for_the_next_connect
else
	fail rule_change_is_in_the_kernel_for_the_next_connect "$out after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
fi

# S12: a connection the kernel allowed is torn down by a new deny rule.
LIVE=$(client fp_live)
ctl rules add --action allow --app "$LIVE" --until-restart >/dev/null
in_c "$LIVE" -w -t 10000 $S4 8080 >"$T/live.out" &
lpid=$!
wait_for 5 grep -q connected "$T/live.out"
# untracked: found by its socket's mark, not in conntrack
est=$(ct_to_server ESTABLISHED)
ctl rules add --action deny --app "$LIVE" --weight 10 --until-restart >/dev/null
wait "$lpid"
ms=$(awk '/^(reset|error)/ {print $2}' "$T/live.out")
if grep -qE '^(reset|error)' "$T/live.out" && [ "${ms:-99999}" -lt 1000 ] && [ "$est" -eq 0 ]; then
	pass kernel_allowed_untracked_connection_torn_down_by_a_new_deny_rule
else
	fail kernel_allowed_untracked_connection_torn_down_by_a_new_deny_rule \
		"$est tracked; $(tr '\n' ' ' <"$T/live.out")"
fi

# S12 again, when the hook's record of the socket is gone: its fp_socks slot
# (cookie & 0xffff) now holds a later socket's record, or nothing.  The
# daemon names the process by attribution instead, and still tears it down.
GONE=$(client fp_gone)
ctl rules add --action allow --app "$GONE" --until-restart >/dev/null
in_c "$GONE" -w -t 10000 $S4 8080 >"$T/gone.out" &
gpid=$!
wait_for 5 grep -q connected "$T/gone.out"
# ss -e names the socket's cookie "sk:HEX".
ck=$(in_c ss -tnepH state established dst "$S4" dport = 8080 2>/dev/null | grep fp_gone |
	grep -o 'sk:[0-9a-f]*' | head -n 1)
ck=$([ -n "$ck" ] && echo $((16#${ck#sk:})) || echo 0)
zeros=$(printf '00 %.0s' $(seq 1 56))
# this daemon's own fp_socks (others may run beside it): by the map ids of
# the file descriptors it holds
socks_id=
for f in /proc/$DAEMON_PID/fdinfo/*; do
	id=$(awk '/^map_id:/ { print $2 }' "$f" 2>/dev/null)
	[ -n "$id" ] && [ "$(bpftool -j map show id "$id" 2>/dev/null | jq -r .name)" = fp_socks ] &&
		socks_id=$id && break
done
wiped=no
if [ "$ck" -gt 0 ] && [ -n "$socks_id" ] && bpftool map update id "$socks_id" \
	key hex $(printf '%02x %02x 00 00' $((ck & 255)) $(((ck >> 8) & 255))) \
	value hex $zeros 2>"$T/bpftool.err"; then
	wiped=yes
fi
a0=$(ctl status --json | jq .counters.fp_reauth_attributed)
ctl rules add --action deny --app "$GONE" --weight 10 --until-restart >/dev/null
wait "$gpid"
a1=$(ctl status --json | jq .counters.fp_reauth_attributed)
if [ $wiped = yes ] && grep -qE '^(reset|error)' "$T/gone.out" && [ "$a1" -gt "$a0" ]; then
	pass kernel_allowed_connection_whose_record_is_gone_is_torn_down_by_attribution
else
	fail kernel_allowed_connection_whose_record_is_gone_is_torn_down_by_attribution \
		"cookie $ck wiped $wiped ($(cat "$T/bpftool.err")); attributed $a0 -> $a1; $(tr '\n' ' ' <"$T/gone.out")"
fi
daemon_stop TERM
if in_c nft list table inet alegate_notrack >/dev/null 2>&1; then
	fail stopping_the_daemon_removes_the_notrack_table "still there"
else
	pass stopping_the_daemon_removes_the_notrack_table
fi

# bpf_notrack = no: the fast path stays, its flows are tracked.
daemon_start "$NSC" bpf_notrack=no || { fail daemon_restart "no daemon"; finish; }
ctl rules add --action allow --app "$OK" --until-restart >/dev/null
nt=$(notrack)
in_c conntrack -F >/dev/null 2>&1
out=$(in_c "$OK" -t 3000 $S4 8080)
n=$(ct_to_server)
if [[ $nt == "off: disabled by the configuration"* ]] && [[ $out == ok* ]] && [ "$n" -ge 1 ] &&
	! in_c nft list table inet alegate_notrack >/dev/null 2>&1; then
	pass bpf_notrack_no_keeps_the_fast_paths_flows_tracked
else
	fail bpf_notrack_no_keeps_the_fast_paths_flows_tracked "status: $nt; $out; $n entries"
fi
daemon_stop TERM

# Fallback: without eBPF the daemon says so and the NFQUEUE path decides.
daemon_start "$NSC" bpf=no || { fail daemon_restart "no daemon"; finish; }
fp=$(ctl status --json | jq -r .fast_path)
q0=$(queued)
out=$(in_c "$OK" -t 3000 $S4 8080)
q1=$(queued)
if [[ $fp == off:* ]] && [[ $out == ok* ]] && [ $((q1 - q0)) -eq 1 ]; then
	pass bpf_no_falls_back_to_nfqueue_and_status_says_so
else
	fail bpf_no_falls_back_to_nfqueue_and_status_says_so "status: $fp, $out, queued $q0 -> $q1"
fi
daemon_stop TERM
finish
