#!/usr/bin/env bash
# test_inbound.sh — ALE_AUTH_RECV_ACCEPT through the real daemon (S8): the
# daemon guards the server namespace with inbound = ask; an inbound
# connection is pended, attributed to the listening program, and completed
# by reinjecting the held SYN — or denied.
. "$(dirname "$0")/lib.sh"

ns_pair
mkdir -p "$T/bin"
cp "$TOOLS/ag_serve" "$T/bin/listener"
bg_s "$T/bin/listener" tcp :: 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }

daemon_start "$NSS" inbound=ask || { fail daemon_start "alegated did not start"; finish; }

# ---- pended at RECV_ACCEPT, allowed: the held SYN is reinjected ------------------------
in_c "$TOOLS/ag_connect" -t 10000 $S4 8080 >"$T/in1.out" &
cpid=$!
if wait_pending 1 && ctl pending --json >"$T/p.json" &&
   jq -e --arg exe "$T/bin/listener" '.[0] | .direction == "in" and .exe == $exe
      and .local == "192.0.2.2:8080" and (.remote | startswith("192.0.2.1:"))' "$T/p.json" >/dev/null; then
	pass inbound_flow_pended_at_recv_accept_and_attributed_to_the_listener
else
	fail inbound_flow_pended_at_recv_accept_and_attributed_to_the_listener "$(cat "$T/p.json" 2>/dev/null)"
fi
sleep 0.3
ctl allow "$(jq -r '.[0].id' "$T/p.json")" >/dev/null
wait "$cpid"
ms=$(awk '{print $2}' "$T/in1.out")
if [[ $(cat "$T/in1.out") == ok* ]] && [ "${ms:-0}" -ge 250 ]; then
	pass inbound_pend_completed_by_reinjecting_the_clone
else
	fail inbound_pend_completed_by_reinjecting_the_clone "$(cat "$T/in1.out")"
fi
ev=$(ctl events --json | jq -r '[.[] | select(.layer == "recv_accept" and .type == "permit")][-1].reason')
[ "$ev" = injected ] && pass reinjected_clone_is_classified_as_injected_by_self ||
	fail reinjected_clone_is_classified_as_injected_by_self "last recv_accept permit reason: $ev"

# ---- denied: the held SYN is dropped ----------------------------------------------------------
in_c "$TOOLS/ag_connect" -t 2500 $S4 8080 >"$T/in2.out" &
cpid=$!
wait_pending 1
ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null
wait "$cpid"
[[ $(cat "$T/in2.out") == timeout* ]] && pass inbound_pend_denied_drops_the_connection ||
	fail inbound_pend_denied_drops_the_connection "$(cat "$T/in2.out")"

# ---- IPv6 inbound, allowed by a rule on the local port: no pend ------------------------------
ctl rules add --action allow --direction in --port 8080 --proto tcp --until-restart >/dev/null
out=$(in_c "$TOOLS/ag_connect" -t 3000 $S6 8080)
if [[ $out == ok* ]] && [ "$(ctl pending --json | jq length)" = 0 ]; then
	pass inbound_rule_on_the_local_port_allows_without_pending
else
	fail inbound_rule_on_the_local_port_allows_without_pending "$out"
fi
daemon_stop TERM
finish
