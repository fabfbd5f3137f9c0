#!/usr/bin/env bash
# test_control.sh — the control socket under load, through the real
# alegated and alegatectl: long answers come in pages.
. "$(dirname "$0")/lib.sh"

ns_pair
# long enough for a thousand flows to pend before the first times out, under ASan too
daemon_start "$NSC" pending_timeout=120 || { fail daemon_start "alegated did not start"; finish; }

# ---- a thousand waiting flows with 4 KB command lines still reach pending and prompt ------
# A thousand connects, each from a program whose command line is about
# 4 KB: as one message, more than a client's 4 MiB queue.
long=$(head -c 4070 /dev/zero | tr '\0' x)
in_c bash -c "for i in \$(seq 1000); do
	(exec -a '$long' '$TOOLS/ag_connect' -t 120000 $S4 8080 >/dev/null &)
done"
# counted by status, which stays short whatever pending holds
if wait_for $((SANITIZED ? 90 : 20)) bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' status --json | jq .pending)\" -ge 1000 ]"; then
	if ctl pending --json >"$T/pending.json" 2>"$T/pending.err"; then
		n=$(jq length "$T/pending.json")
		bytes=$(jq -c . "$T/pending.json" | wc -c)
		if [ "$n" -ge 1000 ] && [ "$bytes" -gt $((4 << 20)) ]; then
			pass pending_with_a_thousand_4k_command_lines_is_answered_in_full
		else
			fail pending_with_a_thousand_4k_command_lines_is_answered_in_full \
				"$n flows in $bytes bytes of JSON (want > 4 MiB)"
		fi
	else
		fail pending_with_a_thousand_4k_command_lines_is_answered_in_full "$(cat "$T/pending.err")"
	fi
	cat >"$T/prompt.script" <<EOF
expect ag_connect
send q\r
eof
EOF
	if "$TOOLS/ptydrive" -t 20000 "$T/prompt.script" -- "$ALEGATECTL" -s "$SOCK" prompt \
		>"$T/prompt.log" 2>&1; then
		pass prompt_shows_a_thousand_flows_with_4k_command_lines
	else
		fail prompt_shows_a_thousand_flows_with_4k_command_lines "$(tail -c 600 "$T/prompt.log")"
	fi
else
	fail pending_with_a_thousand_4k_command_lines_is_answered_in_full \
		"only $(ctl status --json | jq .pending) flows pended"
fi

# ---- one user filling what it may pend leaves room for another's connection ---------------
# the thousand clients above (this test's own) go first: stopped after the
# daemon, they would all end at once (under ASan, each with a leak check)
for pid in $(ip netns pids "$NSC"); do
	[ "$pid" = "$DAEMON_PID" ] || kill -9 "$pid" 2>/dev/null
done
daemon_stop
daemon_start "$NSC" max_pending=40 max_pending_per_user=20 max_pending_per_process=10 ||
	{ fail daemon_start_bounds "alegated did not start"; finish; }
for i in $(seq 45); do
	bg_c setpriv --reuid 65534 --regid 65534 --clear-groups "$TOOLS/ag_connect" -t 20000 $S4 8080 >/dev/null
done
wait_for 10 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' status --json | jq '.counters.limit_hits')\" -ge 25 ]"
cp "$TOOLS/ag_connect" "$T/root_app"
bg_c "$T/root_app" -t 20000 $S4 8080 >/dev/null
if wait_for 5 bash -c "'$ALEGATECTL' -s '$SOCK' pending --json | jq -e --arg x '$T/root_app' 'any(.[]; .exe == \$x and .uid == 0)'"; then
	n=$(ctl pending --json | jq '[.[] | select(.uid == 65534)] | length')
	if [ "$n" = 20 ]; then
		pass one_users_flood_leaves_root_s_new_connection_asked
	else
		fail one_users_flood_leaves_root_s_new_connection_asked "$n flows of uid 65534 pended (want 20)"
	fi
else
	fail one_users_flood_leaves_root_s_new_connection_asked \
		"root's connection is not pending: $(ctl status --json | jq -c '{pending, limit_hits: .counters.limit_hits}')"
fi
finish
