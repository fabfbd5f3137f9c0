#!/usr/bin/env bash
# test_rule_both_ways.sh — a rule without a direction is one engine filter of
# both ALE auth layers; its port is the service's either way: where an
# outbound connection goes, the local port an inbound one reaches.
. "$(dirname "$0")/lib.sh"

ns_pair
mkdir -p "$T/bin"
cp "$TOOLS/ag_serve" "$T/bin/listener"
bg_s "$T/bin/listener" tcp :: 8080 >"$T/s8080.log"
bg_s "$T/bin/listener" tcp :: 9090 >"$T/s9090.log"
bg_c "$T/bin/listener" tcp :: 8080 >"$T/c8080.log"
bg_c "$T/bin/listener" tcp :: 9090 >"$T/c9090.log"
for f in s8080 s9090 c8080 c9090; do
	wait_for 5 grep -q ready "$T/$f.log" || { fail setup "listener $f did not start"; finish; }
done

# connected in the namespace of $1 (c or s) to $2 $3 without a pend
unasked() {
	local where=$1 out asked=0
	shift
	"in_$where" "$TOOLS/ag_connect" -t 3000 "$@" >"$T/u.out" &
	local pid=$!
	while kill -0 $pid 2>/dev/null; do
		[ "$(pending_count)" = 0 ] || asked=1
		sleep 0.05
	done
	wait $pid
	out=$(cat "$T/u.out")
	[[ $out == ok* ]] && [ $asked = 0 ]
}

# pended, then denied
asked() {
	local where=$1
	shift
	"in_$where" "$TOOLS/ag_connect" -t 3000 "$@" >/dev/null &
	local pid=$! r=1
	if wait_pending 1; then
		r=0
		ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null
	fi
	wait $pid
	return $r
}

# bpf = no: the engine decides both directions; yes: the fast path compiled
# the rule (its port the remote one, outbound) and lets the connection go in
# the kernel, unseen by the engine
for bpf in no yes; do
	daemon_start "$NSS" inbound=ask bpf=$bpf || { fail daemon_start "alegated did not start"; finish; }
	ctl rules add --action allow --port 8080 --proto tcp --until-restart >/dev/null ||
		fail "setup_bpf_$bpf" "rules add refused"
	unasked c $S4 8080 && pass "inbound_to_the_rules_port_is_allowed_unasked_bpf_$bpf" ||
		fail "inbound_to_the_rules_port_is_allowed_unasked_bpf_$bpf" "$(cat "$T/u.out")"
	unasked s $C4 8080 && pass "outbound_to_the_rules_port_is_allowed_unasked_bpf_$bpf" ||
		fail "outbound_to_the_rules_port_is_allowed_unasked_bpf_$bpf" "$(cat "$T/u.out")"
	unasked c $S6 8080 && pass "inbound_ipv6_to_the_rules_port_is_allowed_unasked_bpf_$bpf" ||
		fail "inbound_ipv6_to_the_rules_port_is_allowed_unasked_bpf_$bpf" "$(cat "$T/u.out")"
	asked c $S4 9090 && pass "inbound_to_another_port_is_asked_bpf_$bpf" ||
		fail "inbound_to_another_port_is_asked_bpf_$bpf" "no pend"
	asked s $C4 9090 && pass "outbound_to_another_port_is_asked_bpf_$bpf" ||
		fail "outbound_to_another_port_is_asked_bpf_$bpf" "no pend"
	ev=$(ctl events --json | jq -r '[.[] | select(.type == "permit" and .reason == "filter")
		| .layer] | unique | join(",")')
	want=connect,recv_accept
	if [ $bpf = yes ]; then
		want=recv_accept
		[[ $(ctl status --json | jq -r .fast_path) == on* ]] || want=connect,recv_accept
	fi
	[ "$ev" = "$want" ] && pass "one_rule_decided_at_both_layers_bpf_$bpf" ||
		fail "one_rule_decided_at_both_layers_bpf_$bpf" "permits by a filter at: $ev, want $want"
	daemon_stop_clean
done
finish
