#!/usr/bin/env bash
# test_notify.sh — alegate-notify between a real alegated holding real
# connections and ag_notifyd, a stand-in notification server that logs
# every call and presses buttons on command, on a private session bus.
#
# The script runs itself again under dbus-run-session with a bus of its
# own (no service activation: no notification server of the machine can
# answer in the stand-in's place).
if [ -z "${AG_NOTIFY_BUS:-}" ]; then
	if ! command -v dbus-run-session >/dev/null; then
		echo "not ok notify_dbus — dbus-run-session is missing (scripts/bootstrap installs dbus-daemon)"
		exit 1
	fi
	busdir=$(mktemp -d /tmp/alegate-bus.XXXXXX)
	chmod 0755 "$busdir"	# a test runs alegate-notify as another user
	cat >"$busdir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$busdir</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
	AG_NOTIFY_BUS=$busdir dbus-run-session --config-file="$busdir/bus.conf" -- bash "$0" "$@"
	rc=$?
	rm -rf "$busdir"
	exit $rc
fi
source "$(dirname "$0")/lib.sh"

NOTIFY=$AG_BUILD/alegate-notify
FAKE=$TOOLS/ag_notifyd
WEB=http://127.0.0.1:8443/
for b in "$NOTIFY" "$FAKE"; do
	[ -x "$b" ] || { fail notify_binaries "missing $b (make tests)"; finish; }
done

# ---- make install: the program, its page, and what starts it with the session ------------------------------
D=$T/root
if make -s -C "$AG_TOP" O="$AG_BUILD" install-notify DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1; then
	missing=
	for f in usr/bin/alegate-notify usr/share/man/man1/alegate-notify.1 \
		 usr/lib/systemd/user/alegate-notify.service etc/xdg/autostart/alegate-notify.desktop \
		 usr/share/applications/alegate-notify.desktop; do
		[ -e "$D/$f" ] || missing="$missing $f"
	done
	if [ -z "$missing" ] &&
	   grep -qx "ExecStart=/usr/bin/alegate-notify" "$D/usr/lib/systemd/user/alegate-notify.service" &&
	   grep -qx "WantedBy=graphical-session.target" "$D/usr/lib/systemd/user/alegate-notify.service" &&
	   grep -qx "Exec=/usr/bin/alegate-notify" "$D/etc/xdg/autostart/alegate-notify.desktop" &&
	   "$D/usr/bin/alegate-notify" --version | grep -q "^alegate-notify " &&
	   { man --warnings -l "$D/usr/share/man/man1/alegate-notify.1" >/dev/null 2>"$T/man.err"; [ ! -s "$T/man.err" ]; }; then
		pass install_puts_alegate_notify_with_autostart_file_and_user_unit
	else
		fail install_puts_alegate_notify_with_autostart_file_and_user_unit "missing:$missing $(head -3 "$T/man.err" 2>/dev/null)"
	fi
else
	fail install_puts_alegate_notify_with_autostart_file_and_user_unit "$(tail -5 "$T/install.log")"
fi

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail notify_setup "server did not start"; finish; }
# Flows wait at most 8 s: long enough to press a button, short enough to see a timeout.
daemon_start "$NSC" pending_timeout=8 || { fail notify_setup "alegated did not start"; finish; }

mkdir -p "$T/bin"
client() { cp "$TOOLS/ag_connect" "$T/bin/$1"; echo "$T/bin/$1"; }
# held PROGRAM TIMEOUT_MS OUT — connect PROGRAM to the server in the background; $! is
# the client itself (ip netns exec execs it), so killing $! ends its SYN retransmits
# too: none of them may come back as a flow of its own to a restarted daemon.
held() {
	ip netns exec "$NSC" "$1" -t "$2" $S4 8080 >"$3" &
	_ag_bg_pids+=($!)
}

# fake_start NAME [ARGS...] — a stand-in server logging to $T/NAME.log ($LOG).
FAKE_PID=
fake_start() {
	local name=$1; shift
	LOG=$T/$name.log
	: >"$LOG"
	"$FAKE" serve "$LOG" "$@" >"$T/$name.out" 2>&1 &
	FAKE_PID=$!
	_ag_bg_pids+=($FAKE_PID)
	wait_for 5 grep -q ready "$T/$name.out"
}
fake_stop() { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }

# note_of TEXT — the id of the last notification whose body holds TEXT.
note_of() {
	jq -r --arg t "$1" 'select(.call == "Notify" and (.body | contains($t))) | .id' "$LOG" | tail -1
}
wait_note() { wait_for 5 bash -c "[ -n \"\$(jq -r --arg t '$1' 'select(.call == \"Notify\" and (.body | contains(\$t))) | .id' '$LOG')\" ]"; }
# note_json ID — the last Notify call for ID.
note_json() { jq -c --argjson id "$1" 'select(.call == "Notify" and .id == $id)' "$LOG" | tail -1; }
# open_notes — ids shown and not closed, as a JSON array.
open_notes() {
	jq -s -c '([.[] | select(.call == "Notify") | .id] - [.[] | select(.call == "closed") | .id]) | unique' "$LOG"
}
# logged COND — some call in $LOG makes the jq condition COND true.  (Not
# jq -e 'select(COND)': jq 1.6 takes its status from the last line only.)
logged() { jq -s -e "any(.[]; $1)" "$LOG" >/dev/null; }
closed() { logged ".call == \"closed\" and .id == ${1:-0}"; }
# holds FILTER JSON — JSON is one value and FILTER is true of it (jq -e alone
# succeeds on empty input).
holds() { [ -n "$2" ] && jq -e "$1" <<<"$2" >/dev/null; }
# alive PID — running, not a zombie waiting to be reaped (kill -0 succeeds on those).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
pending_id_of() { ctl pending --json | jq -r --arg e "$1" '.[] | select(.exe == $e) | .id'; }
is_pending() { [ -n "$(pending_id_of "$1")" ]; }

fake_start n1 || { fail notify_setup "ag_notifyd did not start"; finish; }
"$NOTIFY" -s "$SOCK" -v -w "$WEB" 2>"$T/notify.err" &
NPID=$!
_ag_bg_pids+=($NPID)

# ---- one notification per waiting flow, by the specification ------------------------------
A=$(client app_a)
held "$A" 10000 "$T/a.out"
apid=$!
if wait_note "$A"; then
	id=$(note_of "$A")
	n=$(note_json "$id")
	if holds '.app_name == "alegate" and .replaces_id == 0
	    and .actions == ["allow", "Allow", "allow-always", "Allow always", "deny", "Deny"]
	    and .hints.urgency == 1 and .hints["desktop-entry"] == "alegate-notify"
	    and .hints.category == "network"
	    and .expire_timeout > 0 and .expire_timeout <= 8000
	    and (.summary | startswith("app_a wants to connect to 192.0.2.2"))
	    and (.body | contains("192.0.2.2 port 8080, tcp")) and (.body | contains("'"$A"', pid "))' \
	    "$n"; then
		pass waiting_flow_shows_a_notification_with_allow_allow_always_deny
	else
		fail waiting_flow_shows_a_notification_with_allow_allow_always_deny "$n"
	fi
else
	fail waiting_flow_shows_a_notification_with_allow_allow_always_deny "no notification; $(tail -3 "$T/notify.err")"
fi

# ---- Allow lets the held connection through, once -----------------------------------------------
sleep 0.3	# the connect is visibly held
"$FAKE" invoke "${id:-0}" allow
wait "$apid"
held=$(awk '{print $2}' "$T/a.out")
rules_a=$(ctl rules list --json | jq --arg a "$A" '[.[] | select(.app == $a)] | length')
if grep -q '^ok' "$T/a.out" && [ "${held:-0}" -ge 250 ] && [ "$rules_a" = 0 ]; then
	pass pressing_allow_lets_the_held_connection_through
else
	fail pressing_allow_lets_the_held_connection_through "client: $(cat "$T/a.out"), rules for it: $rules_a"
fi

# ---- Allow always adds a rule ----------------------------------------------------------------------
B=$(client app_b)
held "$B" 10000 "$T/b.out"
bpid=$!
wait_note "$B"
"$FAKE" invoke "$(note_of "$B")" allow-always
wait "$bpid"
if grep -q '^ok' "$T/b.out" && [ "$(ctl rules list --json | jq --arg b "$B" \
    '[.[] | select(.app == $b and .action == "allow" and .lifetime == "always")] | length')" = 1 ]; then
	pass pressing_allow_always_lets_it_through_and_adds_a_rule
else
	fail pressing_allow_always_lets_it_through_and_adds_a_rule "client: $(cat "$T/b.out"); $(ctl rules list 2>&1 | tail -3)"
fi

# ---- Deny refuses it at once (long before the timeout) -------------------------------------------------
C=$(client app_c)
held "$C" 3000 "$T/c.out"
cpid=$!
wait_note "$C"
"$FAKE" invoke "$(note_of "$C")" deny
if wait_for 2 bash -c "! '$ALEGATECTL' -s '$SOCK' pending --json | jq -e --arg c '$C' 'any(.[]; .exe == \$c)'"; then
	wait "$cpid"
	if grep -q '^ok' "$T/c.out"; then
		fail pressing_deny_refuses_the_held_connection "the client connected: $(cat "$T/c.out")"
	else
		pass pressing_deny_refuses_the_held_connection
	fi
else
	wait "$cpid"
	fail pressing_deny_refuses_the_held_connection "still pending after Deny"
fi

# ---- decided elsewhere: the notification closes ----------------------------------------------------------
D=$(client app_d)
held "$D" 10000 "$T/d.out"
dpid=$!
if wait_note "$D"; then
	did=$(note_of "$D")
	ctl deny "$(pending_id_of "$D")" >/dev/null
	if wait_for 3 closed "$did"; then
		pass flow_decided_elsewhere_closes_its_notification
	else
		fail flow_decided_elsewhere_closes_its_notification "notification $did still open"
	fi
else
	fail flow_decided_elsewhere_closes_its_notification "no notification"
fi
kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null

# ---- markup in a program's name is shown, not obeyed ---------------------------------------------------
M=$(client 'm<b>k&amp;')
held "$M" 10000 "$T/m.out"
mpid=$!
if wait_note 'm&lt;b&gt;k&amp;amp;'; then
	n=$(note_json "$(note_of 'm&lt;b&gt;k&amp;amp;')")
	if holds '(.body | contains("<") or contains(">") | not)
	    and (.summary | startswith("m?b?k?amp; wants"))' "$n"; then
		pass markup_in_a_program_name_is_escaped
	else
		fail markup_in_a_program_name_is_escaped "$n"
	fi
else
	fail markup_in_a_program_name_is_escaped "no notification with the escaped name: $(jq -c 'select(.call == "Notify") | .body' "$LOG" | tail -1)"
fi
mid=$(pending_id_of "$M")
[ -n "$mid" ] && ctl deny "$mid" >/dev/null
kill "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null

# ---- a forged ActionInvoked from another bus client answers nothing -----------------------------------------
G=$(client app_g)
held "$G" 10000 "$T/g.out"
gpid=$!
wait_note "$G"
gid=$(note_of "$G")
"$FAKE" forge "$gid" allow
sleep 0.5
if is_pending "$G" && ! grep -q '^ok' "$T/g.out"; then
	pass forged_action_from_another_bus_client_answers_nothing
else
	fail forged_action_from_another_bus_client_answers_nothing "the flow was answered: $(cat "$T/g.out")"
fi

# ---- closed by the person: the flow waits on, not shown again ------------------------------------------------
"$FAKE" dismiss "$gid"
sleep 0.5
shown=$(jq -s --arg g "$G" '[.[] | select(.call == "Notify" and (.body | contains($g)))] | length' "$LOG")
if is_pending "$G" && [ "$shown" = 1 ]; then
	pass dismissed_notification_leaves_the_flow_waiting_and_is_not_shown_again
else
	fail dismissed_notification_leaves_the_flow_waiting_and_is_not_shown_again "pending: $(pending_id_of "$G"), shown $shown times"
fi
ctl deny "$(pending_id_of "$G")" >/dev/null 2>&1
kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null

# ---- a flow nobody answers: its notification closes at the timeout --------------------------------------------
F=$(client app_f)
held "$F" 12000 "$T/f.out"
fpid=$!
if wait_note "$F"; then
	fid=$(note_of "$F")
	if wait_for 11 closed "$fid" && ! is_pending "$F"; then
		pass flow_that_times_out_closes_its_notification
	else
		fail flow_that_times_out_closes_its_notification "notification $fid open, pending $(pending_id_of "$F")"
	fi
else
	fail flow_that_times_out_closes_its_notification "no notification"
fi
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null

# ---- many flows at once: 4 notifications and one summary ----------------------------------------------------
E=$(client app_e)
epids=()
for i in 1 2 3 4 5 6 7; do
	held "$E" 10000 /dev/null
	epids+=($!)
done
many_ok() {
	local open
	open=$(open_notes)
	[ "$(jq -s --argjson o "$open" --arg e "$E" '[.[] | select(.call == "Notify" and (.body | contains($e)))
	    | .id | select(. as $i | $o | index($i))] | unique | length' "$LOG")" = 4 ] &&
	[ "$(jq -s --argjson o "$open" '[.[] | select(.call == "Notify" and (.summary | test("^3 more connections waiting")))
	    | .id | select(. as $i | $o | index($i))] | unique | length' "$LOG")" = 1 ]
}
if wait_pending 7 && wait_for 5 many_ok; then
	pass many_waiting_flows_show_4_notifications_and_one_summary
else
	fail many_waiting_flows_show_4_notifications_and_one_summary "open: $(open_notes); $(jq -c 'select(.call == "Notify") | .summary' "$LOG" | tail -8 | tr '\n' ' ')"
fi
# Answering one elsewhere shows the next and counts the rest again.
first=$(ctl pending --json | jq -r --arg e "$E" '[.[] | select(.exe == $e)][0].id')
ctl deny "$first" >/dev/null
if wait_for 5 logged '.call == "Notify" and (.summary | test("^2 more connections waiting")) and .replaces_id > 0'; then
	pass summary_counts_down_in_place_as_flows_are_decided
else
	fail summary_counts_down_in_place_as_flows_are_decided "$(jq -c 'select(.call == "Notify") | [.summary, .replaces_id]' "$LOG" | tail -3 | tr '\n' ' ')"
fi
for id in $(ctl pending --json | jq -r --arg e "$E" '.[] | select(.exe == $e) | .id'); do
	ctl deny "$id" >/dev/null
done
if wait_for 5 bash -c "[ \"\$(jq -s -c '([.[] | select(.call == \"Notify\") | .id] - [.[] | select(.call == \"closed\") | .id]) | unique' '$LOG')\" = '[]' ]"; then
	pass every_notification_and_the_summary_close_when_no_flow_waits
else
	fail every_notification_and_the_summary_close_when_no_flow_waits "open: $(open_notes)"
fi
for p in "${epids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

# ---- a server without buttons: a plain notice that points to the web page -----------------------------------
fake_stop
fake_start n2 -c body || fail notify_setup "ag_notifyd did not start again"
H=$(client app_h)
held "$H" 10000 "$T/h.out"
hpid=$!
if wait_note "$H"; then
	n=$(note_json "$(note_of "$H")")
	if holds '.actions == [] and (.body | contains("alegate-web page ('"$WEB"')"))
	    and (.body | contains("alegatectl prompt"))' "$n"; then
		pass server_without_actions_gets_a_plain_notice_pointing_to_the_web_page
	else
		fail server_without_actions_gets_a_plain_notice_pointing_to_the_web_page "$n"
	fi
else
	fail server_without_actions_gets_a_plain_notice_pointing_to_the_web_page "no notification from the new server: $(tail -3 "$T/notify.err")"
fi
ctl deny "$(pending_id_of "$H")" >/dev/null 2>&1
kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null

# ---- odd replies from the server: alegate-notify goes on, and shows again on a sane one ------------------------
fake_stop
fake_start n3 -o || fail notify_setup "ag_notifyd did not start again"
I=$(client app_i)
held "$I" 10000 "$T/i.out"
ipid=$!
# a string for its capabilities, then a string for the id of each notification
wait_for 5 logged '.call == "Notify" and .odd'
sleep 0.3
alive_after_odd=no
alive "$NPID" && alive_after_odd=yes
fake_stop
fake_start n4 || fail notify_setup "ag_notifyd did not start again"
if [ $alive_after_odd = yes ] && wait_note "$I" &&
   holds '.actions | length == 6' "$(note_json "$(note_of "$I")")"; then
	pass odd_replies_from_the_server_do_not_stop_alegate_notify
else
	fail odd_replies_from_the_server_do_not_stop_alegate_notify "alive: $alive_after_odd; $(jq -c .call "$T/n3.log" | tr '\n' ' '); $(tail -3 "$T/notify.err")"
fi
ctl deny "$(pending_id_of "$I")" >/dev/null 2>&1
kill "$ipid" 2>/dev/null; wait "$ipid" 2>/dev/null

# ---- alegated dies: notifications close (nothing can answer them), then new flows show again ----------------------
J=$(client app_j)
held "$J" 10000 "$T/j.out"
jpid=$!
wait_note "$J"
jid=$(note_of "$J")
daemon_stop KILL	# no "resolved" notice: the lost connection alone must close it
closed_on_stop=no
wait_for 3 closed "${jid:-0}" && closed_on_stop=yes
kill "$jpid" 2>/dev/null; wait "$jpid" 2>/dev/null
daemon_start "$NSC" pending_timeout=8 || fail notify_setup "alegated did not start again"
K=$(client app_k)
held "$K" 10000 "$T/k.out"
kpid=$!
if [ $closed_on_stop = yes ] && wait_for 8 logged '.call == "Notify" and (.body | contains("'"$K"'"))'; then
	pass daemon_killed_closes_notifications_and_restarted_daemon_is_reconnected
else
	fail daemon_killed_closes_notifications_and_restarted_daemon_is_reconnected "closed on stop: $closed_on_stop; pending: $(ctl pending --json | jq -c '[.[] | .exe]'); $(tail -8 "$T/notify.err" | tr '\n' '|')"
fi
ctl deny "$(pending_id_of "$K")" >/dev/null 2>&1
kill "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null

# ---- one per session; and a clean stop closes what it showed --------------------------------------------------------
timeout 5 "$NOTIFY" -s "$SOCK" >"$T/second.out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "already running" "$T/second.out"; then
	pass second_instance_in_a_session_exits_at_once
else
	fail second_instance_in_a_session_exits_at_once "rc $rc: $(cat "$T/second.out")"
fi
L=$(client app_l)
held "$L" 10000 "$T/l.out"
lpid=$!
wait_note "$L"
lid=$(note_of "$L")
if alive "$NPID"; then
	kill -TERM "$NPID"
	wait_for 3 bash -c "! [ -r /proc/$NPID/status ] || grep -q '^State:[[:space:]]*Z' /proc/$NPID/status"
	kill -KILL "$NPID" 2>/dev/null
	wait "$NPID"
	rc=$?
	if [ $rc = 0 ] && closed "${lid:-0}"; then
		pass sigterm_closes_every_notification_and_exits_0
	else
		fail sigterm_closes_every_notification_and_exits_0 "exit $rc, notification ${lid:-none} closed: $(closed "${lid:-0}" && echo yes || echo no)"
	fi
else
	fail sigterm_closes_every_notification_and_exits_0 "it was not running: $(tail -5 "$T/notify.err")"
fi
ctl deny "$(pending_id_of "$L")" >/dev/null 2>&1
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
# ---- refused by alegated (not root, not in control_group): one notice that says why -------------------------------
setpriv --reuid 65534 --regid 65534 --clear-groups "$NOTIFY" -s "$SOCK" 2>"$T/nobody.err" &
upid=$!
_ag_bg_pids+=($upid)
if wait_for 5 logged '.call == "Notify" and .summary == "alegate-notify cannot answer connections"
    and (.body | test("ermission denied")) and (.body | contains("control_group"))
    and .actions == []'; then
	pass refused_by_alegated_shows_one_notice_saying_why
else
	fail refused_by_alegated_shows_one_notice_saying_why "$(tail -3 "$T/nobody.err")"
fi
kill "$upid" 2>/dev/null; wait "$upid" 2>/dev/null
daemon_stop

# ---- against a stand-in alegated (ctl_mock): more flows than it keeps, odd messages, markup in a host name ---------
jq -n '{pending: {result: [range(1; 1101) | {id: ., age_ms: 0, pid: 100, exe: "/usr/bin/many",
    uid: 0, user: "root", proto: "tcp", direction: "out", local: "192.0.2.1:40000",
    remote: "192.0.2.2:443", host: (if . == 1 then "<b>x</b>&y.example" else null end),
    timeout_ms: 60000}]}}' >"$T/mock.json"
cat >"$T/mock.script" <<'SCRIPT'
wait pending
sleep 1500
push {"pending":[1,2]}
push {"pending":{"id":{}}}
push {"pending":"x"}
push {"resolved":{"id":999999}}
push {"resolved":"x"}
push {"pending":{"id":"abc","exe":5,"remote":7,"pid":"x","timeout_ms":-5,"proto":[]}}
push {"event":{"type":"pend"}}
push {"something":"else"}
push {"resolved":{"id":1,"verdict":"deny"}}
sleep 60000
SCRIPT
fake_stop
fake_start n5 || fail notify_setup "ag_notifyd did not start again"
"$TOOLS/ctl_mock" -s "$T/mock.sock" -r "$T/mock.json" -S "$T/mock.script" -l "$T/mock.log" -t 60 2>"$T/mock.err" &
_ag_bg_pids+=($!)
wait_for 5 test -S "$T/mock.sock"
"$NOTIFY" -s "$T/mock.sock" -v 2>"$T/notify2.err" &
NPID=$!
_ag_bg_pids+=($NPID)
bounded_ok() {
	[ "$(open_notes)" = "[1,2,3,4,5]" ] &&
	logged '.call == "Notify" and .summary == "At least 1020 more connections waiting"'
}
if wait_for 5 bounded_ok; then
	pass more_flows_than_kept_show_4_notifications_and_an_at_least_summary
else
	fail more_flows_than_kept_show_4_notifications_and_an_at_least_summary "open: $(open_notes); $(jq -c 'select(.call == "Notify") | .summary' "$LOG" | head -6 | tr '\n' ' ')"
fi
n=$(jq -c 'select(.call == "Notify" and (.body | contains("y.example")))' "$LOG" | head -1)
if holds '(.body | startswith("to &lt;b&gt;x&lt;/b&gt;&amp;y.example (192.0.2.2) port 443, tcp\n"))
    and (.summary == "many wants to connect to ?b?x?/b??y.example")' "$n"; then
	pass markup_in_a_host_name_is_escaped
else
	fail markup_in_a_host_name_is_escaped "$n"
fi
# The odd lines are ignored; the last one, a real resolved, closes flow 1's notification.
first=$(jq -r 'select(.call == "Notify" and (.body | contains("y.example"))) | .id' "$LOG" | head -1)
if wait_for 5 closed "${first:-0}" && alive "$NPID"; then
	pass odd_control_messages_are_ignored_and_the_next_real_one_is_handled
else
	fail odd_control_messages_are_ignored_and_the_next_real_one_is_handled "first $first closed: $(closed "${first:-0}" && echo yes || echo no); $(jq -c "select(.call != \"Notify\")" "$LOG" | tail -4 | tr "\n" " "); $(tail -3 "$T/notify2.err" | tr "\n" " ")"
fi
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null
finish
