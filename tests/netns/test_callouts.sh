#!/usr/bin/env bash
# test_callouts.sh — a callout module loaded through callout_modules: the
# example inspect callout (examples/inspect_callout.c, WFP names) pends in
# classify and decides from its own worker thread, in the real daemon.
. "$(dirname "$0")/lib.sh"

MOD=$AG_BUILD/examples/inspect_callout.so
KEY=6c3a7a10-5b2e-4f3d-9a41-2b7c11d04201
LOG=$T/inspect.log

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/s80.log"
bg_s "$TOOLS/ag_serve" tcp $S4 8081 >"$T/s81.log"
wait_for 5 grep -q ready "$T/s80.log" && wait_for 5 grep -q ready "$T/s81.log" ||
	{ fail setup "servers did not start"; finish; }

# ---- alegated -n checks that the modules load ----------------------------------------
printf 'callout_modules = %s:log=%s\nrules_dir = %s\n' "$MOD" "$T/n.log" "$T/nrules" >"$T/good.conf"
printf 'callout_modules = %s %s/missing.so\nrules_dir = %s\n' "$MOD" "$T" "$T/nrules" >"$T/bad.conf"
if "$ALEGATED" -n -f "$T/good.conf" | grep -q 'configuration OK' &&
   ! "$ALEGATED" -n -f "$T/bad.conf" >"$T/bad.out" 2>&1 && grep -q 'missing.so' "$T/bad.out"; then
	pass alegated_n_checks_that_callout_modules_load
else
	fail alegated_n_checks_that_callout_modules_load "$(cat "$T/bad.out")"
fi

# ---- outbound: CONNECT pended by the module's classify -----------------------------------
daemon_start "$NSC" "callout_modules=$MOD:block=8081,log=$LOG,delay_ms=300" ||
	{ fail daemon_start "alegated did not start"; finish; }
ctl rules add --action callout --callout $KEY --direction out --proto tcp --port 8080-8081 \
	--until-restart >"$T/add.out" 2>&1 || fail rule_add "$(cat "$T/add.out")"

out=$(in_c "$TOOLS/ag_connect" -t 5000 $S4 8080)
ms=${out#ok }
if [[ $out == ok* ]] && [ "${ms%% *}" -ge 250 ] && grep -q 'connect port 8080: pended' "$LOG" &&
   grep -q 'connect port 8080: worker decides permit' "$LOG"; then
	pass module_connect_pended_in_classify_is_completed_from_its_worker_and_connects
else
	fail module_connect_pended_in_classify_is_completed_from_its_worker_and_connects \
		"client: $out; log: $(tr '\n' '|' <"$LOG")"
fi

if grep -q 'connect reauthorize port 8080: pend 0xc0220103 STATUS_FWP_CANNOT_PEND' "$LOG"; then
	pass reauthorization_after_completion_pend_attempt_gets_STATUS_FWP_CANNOT_PEND
else
	fail reauthorization_after_completion_pend_attempt_gets_STATUS_FWP_CANNOT_PEND \
		"log: $(tr '\n' '|' <"$LOG")"
fi

out=$(in_c "$TOOLS/ag_connect" -t 2500 $S4 8081)
if [[ $out != ok* ]] && grep -q 'connect port 8081: worker decides block' "$LOG"; then
	pass module_blocked_connection_fails
else
	fail module_blocked_connection_fails "client: $out; log: $(tr '\n' '|' <"$LOG")"
fi

# ---- what a pended connection sends meanwhile: kept by the module, sent in order ----------
bg_s "$TOOLS/ag_serve" udp -i 1500 $S4 5353 >"$T/udp.log"
wait_for 5 grep -q ready "$T/udp.log"
ctl rules add --action callout --callout $KEY --direction out --proto udp --port 5353 \
	--until-restart >/dev/null
in_c "$TOOLS/ag_udp" -c 5 -g 30 $S4 5353 >/dev/null
wait_for 5 grep -q received "$T/udp.log"
if grep -q "received 5 in_order YES first 0 last 4" "$T/udp.log" &&
   grep -q 'connect port 5353: 4 packets of pended data sent' "$LOG"; then
	pass module_keeps_pended_data_and_sends_it_in_order_after_completing
else
	fail module_keeps_pended_data_and_sends_it_in_order_after_completing \
		"server: $(cat "$T/udp.log"); log: $(tr '\n' '|' <"$LOG")"
fi

# ---- a module's pend shows in pending with its callout; a person may decide it ---------------
daemon_stop_clean
rm -f "$LOG"
daemon_start "$NSC" "callout_modules=$MOD:log=$LOG,delay_ms=4000" ||
	{ fail daemon_start "alegated did not start"; finish; }
ctl rules add --action callout --callout $KEY --direction out --proto tcp --port 8080 \
	--until-restart >/dev/null
in_c "$TOOLS/ag_connect" -t 8000 $S4 8080 >"$T/p.out" &
cpid=$!
if wait_pending 1 && ctl pending --json >"$T/p.json" &&
   jq -e --arg k $KEY '.[0] | .callout == $k and .timeout_ms == null' "$T/p.json" >/dev/null; then
	t0=$(date +%s%N)
	ctl deny "$(jq -r '.[0].id' "$T/p.json")" --reject >/dev/null
	wait "$cpid"
	t1=$(date +%s%N)
	if [[ $(cat "$T/p.out") == error* ]] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]; then
		pass module_pend_shows_in_pending_with_its_callout_and_a_person_may_decide_it
	else
		fail module_pend_shows_in_pending_with_its_callout_and_a_person_may_decide_it \
			"client: $(cat "$T/p.out") after $(( (t1 - t0) / 1000000 )) ms"
	fi
else
	fail module_pend_shows_in_pending_with_its_callout_and_a_person_may_decide_it \
		"$(cat "$T/p.json" 2>/dev/null)"
	wait "$cpid"
fi
# the worker's late completion finds the flow decided, and the daemon lives on
sleep 4.2
check daemon_survives_a_module_completing_a_flow_a_person_decided ctl status

# ---- inbound: RECV_ACCEPT pended, completed with the reinjected clone ------------------------
daemon_stop_clean
rm -f "$LOG"
daemon_start "$NSS" inbound=ask "callout_modules=$MOD:log=$LOG,delay_ms=300" ||
	{ fail daemon_start "alegated did not start"; finish; }
ctl rules add --action callout --callout $KEY --direction in --proto tcp --port 8080 \
	--until-restart >/dev/null
out=$(in_c "$TOOLS/ag_connect" -t 5000 $S4 8080)
ms=${out#ok }
if [[ $out == ok* ]] && [ "${ms%% *}" -ge 250 ] && grep -q 'recv_accept port .*: pended' "$LOG" &&
   grep -q 'recv_accept reinjected clone port .*: permit' "$LOG"; then
	pass inbound_connection_pended_at_recv_accept_is_completed_with_its_reinjected_clone
else
	fail inbound_connection_pended_at_recv_accept_is_completed_with_its_reinjected_clone \
		"client: $out; log: $(tr '\n' '|' <"$LOG" 2>/dev/null)"
fi
daemon_stop_clean
finish
