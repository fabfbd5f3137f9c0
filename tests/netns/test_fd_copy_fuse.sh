#!/usr/bin/env bash
# test_fd_copy_fuse.sh — attribution copies a process's fd where its next
# socket likely is (pidfd_getfd) and closes the copy; an ordinary user with
# FUSE can put a file there whose close waits for the user's own server
# (FUSE's flush).  That close must not hold the daemon: other programs'
# connections are still decided at once while it waits.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp 0.0.0.0 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/fuse" "$T/bin"
"$TOOLS/ag_fuse_stall" "$T/fuse" 60 >"$T/fuse.log" 2>&1 &
FUSE_PID=$!
_ag_bg_pids+=($FUSE_PID)
_ag_mounts+=("$T/fuse")
wait_for 5 grep -q ready "$T/fuse.log" || { fail setup "FUSE server: $(cat "$T/fuse.log")"; finish; }
cp "$TOOLS/ag_fdbait" "$T/bin/bait"
cp "$TOOLS/ag_connect" "$T/bin/other"
BAIT=$T/bin/bait OTHER=$T/bin/other

daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
ctl rules add --action allow --app "$BAIT" --always >/dev/null
ctl rules add --action allow --app "$OTHER" --always >/dev/null
# eight connections teach the daemon the bait's socket fd; then the FUSE
# file sits at that fd and the ninth socket at the next one
bg_c "$BAIT" -n 8 -t 5000 "$T/fuse/f" $S4 8080 >"$T/bait.out"
wait_for 15 grep -qE '^(ok|error)' "$T/bait.out"
# connections of another program: the first lookup that copies fds
# closes what the last one copied (the FUSE file, whose flush now waits a
# minute), the rest come after
slow= n=0
for i in 1 2 3 4 5 6; do
	t0=$(date +%s%3N)
	out=$(in_c "$OTHER" -t 3000 $S4 8080)
	ms=$(( $(date +%s%3N) - t0 ))
	[[ $out == ok* ]] && [ "$ms" -lt 1500 ] && n=$((n + 1)) || slow="$slow [$out in $ms ms]"
done
flushes=$(grep -c "flush: waiting" "$T/fuse.log")
echo "# bait: $(cat "$T/bait.out"); flushes waiting: $flushes; fds held: $(ctl status --json | jq .counters.attrib_fds_held)"
if [[ $(cat "$T/bait.out") == "ok 9" ]] && [ "$flushes" -ge 1 ] && [ "$n" = 6 ]; then
	pass fuse_file_at_a_copied_fd_does_not_hold_the_daemon
else
	fail fuse_file_at_a_copied_fd_does_not_hold_the_daemon \
		"bait: $(cat "$T/bait.out"); flushes: $flushes; $n of 6 decided at once:$slow"
fi
# the flush waits until its server answers or goes: it goes first
kill -9 $FUSE_PID 2>/dev/null
daemon_stop_clean
finish
