# tests/netns/lib.sh — shared by every network-namespace test.
#
# Source it from a test script run by tests/run (as root).  It gives:
#   ns_pair              make two namespaces $NSC (client) and $NSS (server)
#                        joined by a veth pair:
#                          client 192.0.2.1/24  2001:db8:a1e::1/64
#                          server 192.0.2.2/24  2001:db8:a1e::2/64
#                        (documentation ranges, reachable only between the two)
#   ns_single            one namespace $NSC with loopback only
#   in_c CMD... / in_s CMD...   run CMD inside the client / server namespace
#   pass NAME / fail NAME WHY / check NAME CMD...   report one test line
#   bg_c CMD... / bg_s CMD...   start CMD in the background inside a namespace;
#                        every background process is killed at exit
#   wait_for TIMEOUT_S CMD...   poll CMD until it succeeds (0.05 s steps)
#   finish               print nothing, exit 1 if any test failed (call last)
#
# Everything the test made — namespaces, processes, temp files — is removed on
# exit, even when the test fails or is interrupted.  Namespace names carry the
# shell's pid so tests can run side by side.
set -u

AG_BUILD=${AG_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
AG_TOP=${AG_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TOOLS=$AG_BUILD/tests/tools
ALEGATED=$AG_BUILD/alegated
ALEGATECTL=$AG_BUILD/alegatectl

# A build with ASan/UBSan runs several times slower: timing limits that
# describe the product (not the sanitizer) are relaxed there, and say so.
SANITIZED=0
grep -q __asan_init "$ALEGATED" 2>/dev/null && SANITIZED=1

NSC="agc$$"
NSS="ags$$"
C4=192.0.2.1 S4=192.0.2.2
C6=2001:db8:a1e::1 S6=2001:db8:a1e::2
T=$(mktemp -d /tmp/alegate-test.XXXXXX)
_ag_bg_pids=()
_ag_made_ns=()
_ag_mounts=()	# unmounted (lazily) before $T goes
_ag_failed=0

_ag_cleanup() {
	local pid ns m
	for pid in "${_ag_bg_pids[@]}"; do kill "$pid" 2>/dev/null; done
	for ns in "${_ag_made_ns[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	done
	sleep 0.05
	for pid in "${_ag_bg_pids[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	for ns in "${_ag_made_ns[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for m in "${_ag_mounts[@]}"; do umount -l "$m" 2>/dev/null; done
	rm -rf "$T"
}
trap _ag_cleanup EXIT
trap 'exit 130' INT TERM

_ag_mkns() {
	ip netns add "$1" || { echo "cannot create namespace $1"; exit 1; }
	_ag_made_ns+=("$1")
	ip -n "$1" link set lo up
}

ns_single() {
	_ag_mkns "$NSC"
}

ns_pair() {
	_ag_mkns "$NSC"
	_ag_mkns "$NSS"
	ip link add "vc$$" netns "$NSC" type veth peer name "vs$$" netns "$NSS" || exit 1
	ip -n "$NSC" link set "vc$$" name eth0
	ip -n "$NSS" link set "vs$$" name eth0
	ip -n "$NSC" addr add $C4/24 dev eth0
	ip -n "$NSS" addr add $S4/24 dev eth0
	ip -n "$NSC" -6 addr add $C6/64 dev eth0 nodad
	ip -n "$NSS" -6 addr add $S6/64 dev eth0 nodad
	ip -n "$NSC" link set eth0 up
	ip -n "$NSS" link set eth0 up
}

in_c() { ip netns exec "$NSC" "$@"; }
in_s() { ip netns exec "$NSS" "$@"; }

bg_c() { ip netns exec "$NSC" "$@" & _ag_bg_pids+=($!); }
bg_s() { ip netns exec "$NSS" "$@" & _ag_bg_pids+=($!); }

pass() { echo "ok $1"; }
fail() {
	local name=$1; shift
	echo "not ok $name — $*"
	_ag_failed=1
}
check() {
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

wait_for() {
	local limit=$1; shift
	local end=$(( $(date +%s%N) + ${limit%.*} * 1000000000 ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s%N)" -ge $end ] && return 1
		sleep 0.05
	done
}

finish() {
	[ $_ag_failed -eq 0 ]
	exit $?
}

# ---- the daemon ------------------------------------------------------------
#   daemon_start NS [KEY=VALUE...]   write $T/d-NS/alegate.conf (test defaults
#                        plus the given keys), start alegated -d inside NS,
#                        wait until its control socket answers.  Sets
#                        DAEMON_PID, SOCK, RULES (rules_dir) and DCONF.
#   daemon_stop [SIGNAL]  stop it (default TERM) and wait for it to exit; with
#                        fail_mode closed its rules stay in the namespace
#   daemon_stop_clean     stop it and remove its rules (alegated --cleanup)
#   ctl ARGS...           alegatectl against $SOCK
#   wait_pending N        wait until at least N flows are pending (5 s)
DAEMON_PID=
daemon_start() {
	local ns=$1; shift
	local dir=$T/d-$ns
	DAEMON_NS=$ns
	mkdir -p "$dir/rules"
	SOCK=$dir/ctl.sock RULES=$dir/rules DCONF=$dir/alegate.conf
	# the directories must let other users reach the socket: the tests
	# of credentials want the daemon, not the file system, to refuse them
	chmod 0711 "$T" "$dir"
	local defaults=("queue_num=100" "control_socket=$SOCK" "rules_dir=$RULES"
		"state_dir=$dir/state" "pending_timeout=30" "log_level=debug")
	local kv given
	{
		for kv in "${defaults[@]}"; do
			given=0
			for g in "$@"; do [ "${g%%=*}" = "${kv%%=*}" ] && given=1; done
			[ $given = 1 ] || echo "${kv%%=*} = ${kv#*=}"
		done
		for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
	} >"$DCONF"
	# --netns: the daemon watches processes through the proc connector,
	# which only the initial namespace has, and guards $ns for the rest.
	"$ALEGATED" -d -f "$DCONF" --netns "$ns" >>"$dir/daemon.log" 2>&1 &
	DAEMON_PID=$!
	_ag_bg_pids+=($DAEMON_PID)
	if ! wait_for 15 "$ALEGATECTL" -s "$SOCK" status; then
		echo "# alegated did not come up; its log:"
		sed 's/^/#   /' "$dir/daemon.log"
		return 1
	fi
}
daemon_stop() {
	local sig=${1:-TERM}
	[ -n "$DAEMON_PID" ] || return 0
	kill -"$sig" "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}
daemon_stop_clean() {
	daemon_stop TERM
	"$ALEGATED" --cleanup -f "$DCONF" --netns "$DAEMON_NS" >/dev/null 2>&1
}
ctl() { "$ALEGATECTL" -s "$SOCK" "$@"; }
# flows waiting for a decision now
pending_count() { ctl pending --json | jq length; }
# connect_unasked OUT CMD...: run CMD in the client namespace in the
# background, its output in OUT; 0 when no flow was pending while it ran
connect_unasked() {
	local out=$1; shift
	in_c "$@" >"$out" &
	local pid=$! asked=0
	while kill -0 $pid 2>/dev/null; do
		[ "$(pending_count)" = 0 ] || asked=1
		sleep 0.05
	done
	wait $pid
	return $asked
}
wait_pending() {
	local n=$1
	wait_for 5 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq length)\" -ge $n ]"
}
