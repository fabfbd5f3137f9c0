#!/usr/bin/env bash
# test_daemon_bpffs.sh — with no bpf filesystem at /sys/fs/bpf, the daemon
# mounts one (in its own mount namespace here: the host's mount is never
# touched) and pins its UDP match there, so that a rule-allowed UDP flow sent
# back to back reaches user space at most twice, not once per datagram that
# overtakes the first one's decision.
. "$(dirname "$0")/lib.sh"

# alegated in a private mount namespace where /sys/fs/bpf is not a bpf
# filesystem: exec keeps the pid daemon_start waits for and stops.
cat >"$T/alegated-nobpffs" <<EOF
#!/bin/bash
while [ "\$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; do
	umount /sys/fs/bpf || { echo "cannot unmount /sys/fs/bpf here" >&2; exit 1; }
done
echo "bpffs before start: \$(stat -f -c %T /sys/fs/bpf)" >&2
exec "$ALEGATED" "\$@"
EOF
chmod +x "$T/alegated-nobpffs"
cat >"$T/alegated-wrap" <<EOF
#!/bin/bash
exec unshare -m --propagation private "$T/alegated-nobpffs" "\$@"
EOF
chmod +x "$T/alegated-wrap"
REAL_ALEGATED=$ALEGATED
ALEGATED=$T/alegated-wrap

ns_pair
# the host's side, to compare after: its mounts at /sys/fs/bpf and any pin
# there named after this namespace (a stale one another run left)
host_pin=/sys/fs/bpf/alegate-udp-$(stat -L -c %i "/run/netns/$NSC")-100
host_state() {
	echo "$(grep -c ' /sys/fs/bpf ' /proc/self/mountinfo) $(stat -c '%i %Y' "$host_pin" 2>/dev/null || echo none)"
}
host0=$(host_state)
daemon_start "$NSC" bpf=auto || { fail daemon_start "alegated did not start"; finish; }
ALEGATED=$REAL_ALEGATED
fp=$(ctl status --json | jq -r .fast_path)
if [[ $fp != on* ]]; then
	# No eBPF here: nothing to pin, nothing to mount.
	pass "fast_path_off_nothing_to_mount ($fp)"
	daemon_stop_clean
	finish
fi
before=$(sed -n 's/^bpffs before start: //p' "$T/d-$NSC/daemon.log" | head -1)
[ -n "$before" ] && [ "$before" != bpf_fs ] ||
	fail setup "/sys/fs/bpf was still a bpf filesystem when alegated started: ${before:-?}"

# what the daemon sees at /sys/fs/bpf, in its mount namespace
in_daemon_mnt() { nsenter -t "$DAEMON_PID" -m "$@"; }
kind=$(in_daemon_mnt stat -f -c %T /sys/fs/bpf)
pins=$(in_daemon_mnt sh -c 'ls /sys/fs/bpf | grep -c "^alegate-udp-"')
if [ "$kind" = bpf_fs ] && [ "$pins" -ge 1 ]; then
	pass daemon_mounts_bpffs_when_absent_and_pins_its_udp_match
else
	fail daemon_mounts_bpffs_when_absent_and_pins_its_udp_match \
		"/sys/fs/bpf is $kind, $pins pins; log: $(grep -i 'bpf' "$T/d-$NSC/daemon.log" | tail -3)"
fi
host1=$(host_state)
if [ "$host1" = "$host0" ]; then
	pass bpffs_mount_and_pin_stay_in_the_daemons_mount_namespace
else
	fail bpffs_mount_and_pin_stay_in_the_daemons_mount_namespace \
		"the host's /sys/fs/bpf changed: mounts and pin $host0 -> $host1"
fi

# A rule-allowed UDP flow, 20,000 datagrams back to back: its first
# datagram is decided in user space, the rest pass in the kernel.
mkdir -p "$T/bin"
cp "$TOOLS/ag_udp" "$T/bin/udp_allowed"
ctl rules add --action allow --app "$T/bin/udp_allowed" --until-restart >/dev/null
queued() { ctl status --json | jq .counters.queued_packets; }
bg_s "$TOOLS/ag_serve" udp -i 1500 $S4 5400 >"$T/udp.log"
wait_for 5 grep -q ready "$T/udp.log"
q0=$(queued)
in_c "$T/bin/udp_allowed" -c 20000 $S4 5400 >/dev/null
q1=$(queued)
wait_for 10 grep -q received "$T/udp.log"
got=$(sed -n 's/^received \([0-9]*\).*/\1/p' "$T/udp.log")
if [ $((q1 - q0)) -le 2 ] && [ "${got:-0}" -gt 0 ]; then
	pass allowed_udp_flow_back_to_back_reaches_user_space_at_most_twice_without_host_bpffs
else
	fail allowed_udp_flow_back_to_back_reaches_user_space_at_most_twice_without_host_bpffs \
		"$((q1 - q0)) datagrams queued, $got received"
fi

daemon_stop_clean
finish
