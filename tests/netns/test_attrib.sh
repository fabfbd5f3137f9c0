#!/usr/bin/env bash
# test_attrib.sh — socket lookup (sock_diag), process cache (proc connector
# and /proc) and attribution against the real kernel.
#
# Sockets live in a client/server namespace pair.  The attr_* tools open
# the process cache before entering a namespace (--netns): the connector
# exists only in the initial network namespace.
#
# The short-lived test holds each client's first SYN the way NFQUEUE will:
# the server namespace drops the first SYN of every connection (hashlimit,
# one per source port), so the client waits in connect() in SYN_SENT until
# its retransmission a second later gets through; attr_shortlived sees the
# dropped SYN on the server's interface and attributes it right then, as the
# daemon will attribute a queued packet.  Each client then connects and
# exits at once, and reports who it was.
source "$(dirname "$0")/lib.sh"

P=$TOOLS/attr_probe
N=200
ns_pair
mkdir -p "$T/bin"

# Servers: TCP and UDP, IPv4 and IPv6 (the IPv6 TCP one is dual-stack).
bg_s "$TOOLS/attr_client" listen tcp 0.0.0.0 7001 >/dev/null
bg_s "$TOOLS/attr_client" listen tcp :: 7002 dualstack >/dev/null
bg_s "$TOOLS/attr_client" listen udp 0.0.0.0 7003 >/dev/null
bg_s "$TOOLS/attr_client" listen udp :: 7004 >/dev/null
# SYNs to 7005 vanish: a connect() to it stays in SYN_SENT.
in_s iptables -A INPUT -p tcp --dport 7005 -j DROP
listening() {	# listening t|u PORT — a server socket is up in $NSS
	ip netns exec "$NSS" ss -Hl${1}n "sport = :$2" | grep -q .
}
for port in 7001 7002; do wait_for 5 listening t $port; done
for port in 7003 7004; do wait_for 5 listening u $port; done

probe() {	# probe NAME ARGS... — one check: the tool's verdict
	local name=$1 out; shift
	if out=$("$P" "$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(echo "$out" | grep -v '^#' | tail -3 | tr '\n' ' ')"
	fi
}

# --- sock_diag exact lookups: inode as fstat() says, uid of the creator ---
probe tcp4_lookup_inode_uid_and_owner --netns "$NSC" sock tcp $S4 7001
probe tcp6_lookup_inode_uid_and_owner --netns "$NSC" sock tcp $S6 7002
probe tcp_v4mapped_socket_found_from_ipv4_flow --netns "$NSC" sock tcp ::ffff:$S4 7002
probe tcp_syn_sent_socket_found_while_syn_held --netns "$NSC" sock tcp-synsent $S4 7005
probe udp4_connected_lookup --netns "$NSC" sock udp $S4 7003
probe udp6_connected_lookup --netns "$NSC" sock udp $S6 7004
probe udp4_unconnected_wildcard_socket_found --netns "$NSC" sock udp-unconnected $S4 7003 $C4
probe udp6_unconnected_wildcard_socket_found --netns "$NSC" sock udp-unconnected $S6 7004 $C6
probe udp_v4mapped_unconnected_socket_found --netns "$NSC" sock udp-unconnected ::ffff:$S4 7003 $C4

# --- inbound: the listener an inbound flow reaches, and its owner ---
probe tcp4_listener_wildcard_found --netns "$NSC" listener tcp 0.0.0.0 7100 $C4 $S4
probe tcp4_listener_specific_address_found --netns "$NSC" listener tcp $C4 7101 $C4 $S4
probe tcp_dualstack_listener_found_from_ipv4_flow --netns "$NSC" listener tcp :: 7102 $C4 $S4 dualstack
probe tcp6_listener_found --netns "$NSC" listener tcp :: 7103 $C6 $S6
probe udp4_bound_socket_found --netns "$NSC" listener udp 0.0.0.0 7104 $C4 $S4
probe udp_dualstack_bound_socket_found_from_ipv4_flow --netns "$NSC" listener udp :: 7105 $C4 $S4 dualstack
probe udp6_bound_socket_found --netns "$NSC" listener udp $C6 7106 $C6 $S6

cp "$TOOLS/attr_client" "$T/bin/attr_server_1"
bg_s "$T/bin/attr_server_1" listen tcp 0.0.0.0 7010 >/dev/null
spid=$!
wait_for 5 listening t 7010
# bg_s's pid is the one ip netns exec turned into the server.
probe inbound_flow_attributed_to_listener_owner_process --netns "$NSS" attrib-in tcp $S4 7010 $C4 "$spid" "$T/bin/attr_server_1"

# --- what is known when the process is not ---
probe socket_without_owner_keeps_uid --netns "$NSC" owner-gone $S4 7001
probe flow_without_socket_keeps_uid_hint --netns "$NSC" no-socket $S4 7003

# --- process cache ---
for i in 1 2 3; do cp "$TOOLS/attr_client" "$T/bin/attr_client_x$i"; done
probe proc_exec_named_with_exact_copied_path proc-exec "$T/bin/attr_client_x1"
probe proc_exited_process_still_named_from_exec_capture proc-exited "$T/bin/attr_client_x2"
probe proc_deleted_executable_stripped_and_flagged proc-deleted "$T/bin/attr_client_x3"
cp "$TOOLS/attr_client" "$T/bin/attr_client_x4"
probe proc_connector_overrun_reported_and_survived proc-overrun "$T/bin/attr_client_x4"
mode=$("$P" proc-mode)
case $mode in
*"proc connector active"*) pass proc_connector_active_in_initial_namespace ;;
*) fail proc_connector_active_in_initial_namespace "mode: $mode" ;;
esac
# Inside a namespace the connector is unreachable: /proc alone, and said so.
out=$(in_c "$P" procfs-only $S4 7001 2>&1)
rc=$?
case $rc:$out in
0:*"proc connector unavailable"*"scans only"*) pass procfs_only_mode_says_so_and_still_attributes ;;
*) fail procfs_only_mode_says_so_and_still_attributes "rc $rc: $(echo "$out" | tr '\n' ' ')" ;;
esac

# --- N short-lived processes, each connecting once with its SYN held ---
for i in $(seq 1 $N); do cp "$TOOLS/attr_client" "$T/bin/attr_client_$i"; done
in_s iptables -A INPUT -p tcp --dport 7300 --syn -m hashlimit \
	--hashlimit-name agsyn --hashlimit-mode srcip,srcport \
	--hashlimit-upto 1/hour --hashlimit-burst 1 -j DROP
# keep: the server never closes first, so each client's port stays taken
# after it exits and no later client reuses it (the probe names each port
# once; a reused port's SYN would pass the hashlimit unheld anyway).
bg_s "$TOOLS/attr_client" listen tcp 0.0.0.0 7300 keep >/dev/null
wait_for 5 listening t 7300
# The probe, like the daemon's packet path should, runs at a higher
# priority than the crowd of starting programs it has to name.
nice -n -10 "$TOOLS/attr_shortlived" "$NSC" "$NSS" 7300 $N 60 >"$T/probe.txt" 2>"$T/probe.err" &
probe_pid=$!
_ag_bg_pids+=("$probe_pid")
if wait_for 10 grep -q '^ready' "$T/probe.txt"; then
	# One new program every 5 ms: about N of them alive at once.
	in_c bash -c 'for i in $(seq 1 "$1"); do
		"$0/bin/attr_client_$i" connect "$2" 7300 >>"$0/clients.txt" &
		sleep 0.005
	done; wait' "$T" $N $S4
	wait "$probe_pid"
	probe_rc=$?
else
	probe_rc=99
fi
grep '^#' "$T/probe.txt"
bad=0 clients=$(wc -l <"$T/clients.txt" 2>/dev/null || echo 0)
while read -r port pid exe; do
	line=$(grep "^$port " "$T/probe.txt") || {
		echo "# port $port ($exe) not seen by the probe"; bad=$((bad + 1)); continue; }
	set -- $line
	if [ "$2" != "$pid" ] || [ "$3" != "$exe" ]; then
		echo "# client $port $pid $exe, probe said: $line"
		bad=$((bad + 1))
	fi
done <"$T/clients.txt"
if [ "$probe_rc" -eq 0 ] && [ "$clients" -eq $N ] && [ $bad -eq 0 ]; then
	pass shortlived_${N}_processes_each_attributed_to_own_executable
else
	fail shortlived_${N}_processes_each_attributed_to_own_executable \
		"probe rc $probe_rc, $clients clients, $bad wrong: $(head -c 300 "$T/probe.err")"
fi

finish
