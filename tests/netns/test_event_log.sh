#!/usr/bin/env bash
# test_event_log.sh — event_log = journal sends each decided connection to
# journald with structured fields (ALEGATE_EXE=, ALEGATE_REMOTE=, ...);
# event_log = syslog one line to /dev/log; event_log = none sends nothing.  journald's socket is a stand-in, in a
# mount namespace of the daemon's own: the machine's journal is not touched.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp 0.0.0.0 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin" "$T/rules"
cp "$TOOLS/ag_connect" "$T/bin/evlog_ok"
OK=$T/bin/evlog_ok
chmod 0711 "$T"

# start_logged MODE: alegated with event_log = MODE, journald's socket
# replaced by ag_logsink writing to $T/journal-MODE.log
start_logged() {
	local mode=$1
	SOCK=$T/ctl.sock
	cat >"$T/alegate.conf" <<CONF
queue_num = 100
control_socket = $SOCK
rules_dir = $T/rules
state_dir = $T/state
log_level = debug
bpf = no
event_log = $mode
CONF
	# syslog: /dev/log is the stand-in, on a /dev of this mount namespace
	# that keeps the devices the daemon opens
	unshare -m --propagation private bash -c '
		mount -t tmpfs none /run/systemd && mkdir /run/systemd/journal || exit 1
		sock=/run/systemd/journal/socket
		if [ "$6" = syslog ]; then
			mkdir "$7" && mount --bind /dev "$7" && mount -t tmpfs none /dev || exit 1
			for n in null zero full random urandom tty; do
				touch /dev/$n && mount --bind "$7/$n" /dev/$n
			done
			sock=/dev/log
		fi
		"$1" "$sock" >"$2" &
		echo $! >"$2.pid"
		while ! grep -q ready "$2" 2>/dev/null; do sleep 0.05; done
		exec "$3" -d -f "$4" --netns "$5"' _ "$TOOLS/ag_logsink" "$T/journal-$mode.log" \
		"$ALEGATED" "$T/alegate.conf" "$NSC" "$mode" "$T/olddev-$mode" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	_ag_bg_pids+=($DAEMON_PID)
	wait_for 5 test -s "$T/journal-$mode.log.pid" && _ag_bg_pids+=($(cat "$T/journal-$mode.log.pid"))
	DCONF=$T/alegate.conf DAEMON_NS=$NSC
	wait_for 5 "$ALEGATECTL" -s "$SOCK" status || { cat "$T/daemon.log"; return 1; }
}

start_logged journal || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$OK" --always >/dev/null
out=$(in_c "$OK" -t 3000 $S4 8080)
[[ $out == ok* ]] || fail setup "connect: $out"
log=$T/journal-journal.log
if wait_for 3 grep -q "ALEGATE_EXE=$OK" "$log" &&
	grep -q "ALEGATE_REMOTE=192.0.2.2:8080" "$log" && grep -q "ALEGATE_ACTION=allow" "$log" &&
	grep -q "ALEGATE_DECIDED=rule" "$log" && grep -q "ALEGATE_PROTO=tcp" "$log" &&
	grep -q "ALEGATE_DIRECTION=out" "$log" && grep -q "ALEGATE_PID=[0-9]" "$log" &&
	grep -q "SYSLOG_IDENTIFIER=alegated" "$log"; then
	pass event_log_journal_sends_each_connection_with_structured_fields
else
	fail event_log_journal_sends_each_connection_with_structured_fields "$(cat "$log")"
fi
# with the daemon's own log on stderr (-d), nothing but connection records reach the journal
# from the history writer: every record names a program's connection
daemon_stop TERM
start_logged none || { fail daemon_start "alegated did not start"; finish; }
out=$(in_c "$OK" -t 3000 $S4 8080)
sleep 1
if [[ $out == ok* ]] && ! grep -q ALEGATE_ "$T/journal-none.log"; then
	pass event_log_none_sends_nothing
else
	fail event_log_none_sends_nothing "$out: $(cat "$T/journal-none.log")"
fi
# a reload applies event_log at once
sed -i 's/^event_log = none$/event_log = journal/' "$T/alegate.conf"
ctl reload >/dev/null
out=$(in_c "$OK" -t 3000 $S4 8080)
if [[ $out == ok* ]] && wait_for 3 grep -q "ALEGATE_EXE=$OK" "$T/journal-none.log"; then
	pass event_log_changes_with_a_reload
else
	fail event_log_changes_with_a_reload "$out: $(cat "$T/journal-none.log")"
fi
daemon_stop TERM
start_logged syslog || { fail daemon_start "alegated did not start"; finish; }
out=$(in_c "$OK" -t 3000 $S4 8080)
log=$T/journal-syslog.log
if [[ $out == ok* ]] && wait_for 3 grep -q "connection action=allow decided=rule rule=[0-9a-f]* exe=$OK pid=[0-9]* uid=0 proto=tcp direction=out local=192.0.2.1:[0-9]* remote=192.0.2.2:8080 host=-" "$log"; then
	pass event_log_syslog_sends_one_line_per_connection
else
	fail event_log_syslog_sends_one_line_per_connection "$out: $(cat "$log")"
fi
daemon_stop_clean
finish
