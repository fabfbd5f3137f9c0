#!/usr/bin/env bash
# test_thread_caps.sh — capabilities belong to each thread, not to the
# process: a thread the daemon starts before it drops its capabilities (the
# history writer and its query threads, the list reader) keeps the whole set
# unless it gives them up itself.  No thread of a running alegated may hold
# a capability its main thread dropped.
. "$(dirname "$0")/lib.sh"

ns_single
mkdir -p "$T/lists"
printf 'ads.example.test\n' >"$T/lists/ads.txt"
chmod 0644 "$T/lists/ads.txt"
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
check rule_with_a_list_is_added ctl rules add --action deny --host-list "$T/lists/ads.txt"
# the threads are there: history (writer and queries) and the list reader
ctl history --limit 1 >/dev/null 2>&1

caps_of() { awk -v k="$2" '$1 == k":" { print $2 }' "$1/status"; }
main_eff=$(caps_of /proc/$DAEMON_PID CapEff)
main_prm=$(caps_of /proc/$DAEMON_PID CapPrm)
over= threads=0
for task in /proc/$DAEMON_PID/task/*; do
	threads=$((threads + 1))
	eff=$(caps_of "$task" CapEff) prm=$(caps_of "$task" CapPrm)
	# a capability the thread has and the main thread has not
	if (( (0x$eff & ~0x$main_eff) || (0x$prm & ~0x$main_prm) )); then
		over="$over $(cat "$task/comm")(CapEff=$eff CapPrm=$prm)"
	fi
done
if [ -n "$main_eff" ] && [ "$threads" -ge 4 ] && [ -z "$over" ]; then
	pass no_thread_keeps_a_capability_the_daemon_dropped
else
	fail no_thread_keeps_a_capability_the_daemon_dropped \
		"main CapEff=$main_eff CapPrm=$main_prm, $threads threads; over:${over:- none}"
fi
daemon_stop_clean
finish
