#!/usr/bin/env bash
# test_nfq.sh — the data plane end to end: alegate's rules in the client
# namespace, nfq_probe (lib/linux/nfq) answering the way the daemon will
# (NF_REPEAT, mark | AUTH), and real TCP and UDP between client and server.
# It proves that a flow reaches user space once, whatever its length; that
# DNS replies are copied and still delivered; that the verdict keeps the
# packet's other mark bits; that NF_ACCEPT with a save rule in a later hook
# works too; and what fail_mode closed and open do with no daemon.
source "$(dirname "$0")/lib.sh"

AUTH=0x800000
ns_pair
in_c "$TOOLS/fw_ctl" install -b iptables >/dev/null || { fail install "fw_ctl install failed"; finish; }

# ---- helpers -------------------------------------------------------------------
probe_start() { # nfq_probe options
	: >$T/probe.out
	bg_c "$TOOLS/nfq_probe" -v "$@" >$T/probe.out 2>$T/probe.log
	PROBE=$!
	wait_for 5 grep -q '^ready' $T/probe.out || { echo "# probe: $(cat $T/probe.log)"; return 1; }
}
# Stop the probe; its counts go to Q_connect, Q_recv_accept, Q_dns,
# Q_enobufs, Q_verdict_errors, Q_kernel_dropped.
probe_stop() {
	kill "$PROBE" 2>/dev/null
	wait "$PROBE" 2>/dev/null
	Q_connect=$(awk '$1 == "connect" { print $2 }' $T/probe.out)
	Q_recv_accept=$(awk '$1 == "recv_accept" { print $2 }' $T/probe.out)
	Q_dns=$(awk '$1 == "dns" { print $2 }' $T/probe.out)
	Q_enobufs=$(awk '$1 == "enobufs" { print $2 }' $T/probe.out)
	Q_verdict_errors=$(awk '$1 == "verdict_errors" { print $2 }' $T/probe.out)
	Q_kernel_dropped=$(awk '$1 == "kernel_dropped" { print $2 }' $T/probe.out)
	: "${Q_connect:=?}" "${Q_recv_accept:=?}" "${Q_dns:=?}" "${Q_enobufs:=?}"
	: "${Q_verdict_errors:=?}" "${Q_kernel_dropped:=?}"
}
sink_start() { # PORT ADDR [options]
	local port=$1 addr=$2; shift 2
	bg_s "$TOOLS/nfq_udp_sink" -i 1500 "$@" "$addr" "$port" >$T/sink$port.out
	wait_for 5 grep -q '^ready' $T/sink$port.out
}
sink_count() { # PORT — wait for the sink to finish, print its count
	wait_for 30 grep -q '^received' $T/sink$1.out
	awk '$1 == "received" { print $2 }' $T/sink$1.out
}
expect() { # NAME WHAT GOT WANT
	if [ "$3" = "$4" ]; then pass "$1"; else fail "$1" "$2: got $3, want $4"; fi
}

bg_s "$TOOLS/nfq_tcp" listen 0.0.0.0 5000 >$T/tcp4.out
bg_s "$TOOLS/nfq_tcp" listen :: 5006 >$T/tcp6.out
wait_for 5 grep -q ready $T/tcp4.out
wait_for 5 grep -q ready $T/tcp6.out

# ---- TCP: only the SYN ------------------------------------------------------------
tcp_once() { # NAME ADDR PORT
	local name=$1
	probe_start || { fail "$name" "nfq_probe did not start"; return; }
	if ! in_c "$TOOLS/nfq_tcp" connect -n 200000 "$2" "$3" 2>$T/tcp.err; then
		probe_stop
		fail "$name" "connect failed: $(cat $T/tcp.err)"
		return
	fi
	probe_stop
	local syns
	syns=$(grep -c 'connect .* tcp flags=S$' $T/probe.log)
	if [ "$Q_connect" = 1 ] && [ "$syns" = 1 ] && [ "$Q_recv_accept" = 0 ]; then
		pass "$name"
	else
		fail "$name" "queued connect=$Q_connect (SYNs $syns) recv_accept=$Q_recv_accept, want 1/1/0: $(tr '\n' '|' <$T/probe.log | head -c 300)"
	fi
}
tcp_once tcp_connect_ipv4_queues_only_the_syn $S4 5000
tcp_once tcp_connect_ipv6_queues_only_the_syn $S6 5006

# ---- UDP: 100,000 datagrams, one classification -----------------------------------------
# While the first datagram is held, its conntrack entry is not confirmed yet,
# so datagrams sent in that window start entries of their own and are queued
# too (SPEC S9: pended data, which the daemon buffers).  The sender pauses
# 50 ms after the first datagram so the test measures the steady state:
# every later datagram must pass on the connmark alone.
udp_once() { # NAME ADDR PORT
	local name=$1 got
	probe_start || { fail "$name" "nfq_probe did not start"; return; }
	sink_start "$3" "$2"
	in_c "$TOOLS/nfq_udp_send" -c 100000 -r 50000 -w 300 "$2" "$3" >$T/send.out 2>&1
	got=$(sink_count "$3")
	probe_stop
	if [ "$Q_connect" = 1 ] && [ "${got:-0}" -ge 99000 ]; then
		pass "$name"
	else
		fail "$name" "queued $Q_connect (want 1), server received ${got:-none} of 100000 (want >= 99%): $(cat $T/send.out)"
	fi
	echo "# $name: server received $got of 100000, $Q_connect reached user space"
}
udp_once udp_100k_ipv4_reaches_user_space_once $S4 6000
udp_once udp_100k_ipv6_reaches_user_space_once $S6 6001

# ---- DNS queries and replies: copied to the dns queue, then delivered ----------------------
probe_start || fail dns_probe "nfq_probe did not start"
sink_start 53 $S4 -e
if in_c "$TOOLS/nfq_udp_send" -e -c 5 -w 50 $S4 53 >$T/dns.out 2>&1; then
	probe_stop
	# 5 queries on their way out, 5 replies on their way in
	if [ "$Q_dns" = 10 ] && [ "$Q_connect" = 1 ]; then
		pass dns_replies_are_copied_once_each_and_delivered
	else
		fail dns_replies_are_copied_once_each_and_delivered "dns queue $Q_dns (want 10), connect $Q_connect (want 1)"
	fi
else
	probe_stop
	fail dns_replies_are_copied_once_each_and_delivered "replies missing: $(tr '\n' ' ' <$T/dns.out)"
fi

# ---- inbound: RECV_ACCEPT ----------------------------------------------------------------
bg_c "$TOOLS/nfq_tcp" listen 0.0.0.0 5001 >$T/tcpc.out
wait_for 5 grep -q ready $T/tcpc.out
probe_start || fail inbound_probe "nfq_probe did not start"
if in_s "$TOOLS/nfq_tcp" connect $C4 5001 2>$T/in.err; then
	probe_stop
	expect inbound_connect_queues_once_at_recv_accept "recv_accept/connect" \
		"$Q_recv_accept/$Q_connect" "1/0"
else
	probe_stop
	fail inbound_connect_queues_once_at_recv_accept "connect failed: $(cat $T/in.err)"
fi

# ---- the verdict keeps the packet's other mark bits ----------------------------------------
# A rule before ours sets 0x5, but only on the first pass through the hook
# (not on packets that carry AUTH), so after NF_REPEAT the bits can only
# come from the verdict.  A counter after our chain sees the final mark.
in_c iptables -t mangle -I OUTPUT 1 -p udp --dport 7000 -m mark ! --mark $AUTH/$AUTH \
	-j MARK --or-mark 0x5
in_c iptables -t mangle -A POSTROUTING -p udp --dport 7000 -m mark --mark 0x800005
marked() {
	local n
	n=$(in_c iptables-save -c -t mangle |
		sed -nE 's/^\[([0-9]+):[0-9]+\] -A POSTROUTING .*--dport 7000 .*0x800005.*/\1/p')
	echo "${n:-missing}"
}
mark_case() { # NAME WANT-COUNT probe-options
	local name=$1 want=$2 before after
	shift 2
	before=$(marked)
	probe_start "$@" || { fail "$name" "nfq_probe did not start"; return; }
	in_c "$TOOLS/nfq_udp_send" -c 3 -w 50 $S4 7000 >/dev/null
	probe_stop
	after=$(marked)
	case "$before$after" in
	*[!0-9]*) fail "$name" "no counter rule: \"$before\" \"$after\""; return ;;
	esac
	expect "$name" "first packets leaving with mark 0x800005 (queued $Q_connect)" \
		$((after - before)) "$want"
}
mark_case repeat_verdict_keeps_other_mark_bits 1
# The same check against a probe that sets mark = AUTH: it must see the loss.
mark_case clobbering_verdict_is_caught_by_the_mark_check 0 -C
in_c iptables -t mangle -D OUTPUT -p udp --dport 7000 -m mark ! --mark $AUTH/$AUTH \
	-j MARK --or-mark 0x5
in_c iptables -t mangle -D POSTROUTING -p udp --dport 7000 -m mark --mark 0x800005

# ---- NF_ACCEPT with the save rule in a later hook --------------------------------------------
# The alternative to NF_REPEAT (see lib/linux/fw.h for the choice): accept
# with mark | AUTH and save the mark to the connmark in mangle POSTROUTING.
accept_case() { # NAME COUNT WANT-QUEUED
	local name=$1 count=$2 want=$3 got
	probe_start -A || { fail "$name" "nfq_probe did not start"; return; }
	sink_start 6002 $S4
	in_c "$TOOLS/nfq_udp_send" -c "$count" -r 20000 -w 50 $S4 6002 >/dev/null
	got=$(sink_count 6002)
	probe_stop
	if [ "$Q_connect" = "$want" ] && [ "${got:-0}" -ge $((count * 99 / 100)) ]; then
		pass "$name"
	else
		fail "$name" "queued $Q_connect (want $want), received ${got:-none} of $count"
	fi
}
in_c iptables -t mangle -A POSTROUTING -m mark --mark $AUTH/$AUTH \
	-j CONNMARK --save-mark --nfmask $AUTH --ctmask $AUTH
accept_case accept_then_save_in_postrouting_queues_once 10000 1
in_c iptables -t mangle -D POSTROUTING -m mark --mark $AUTH/$AUTH \
	-j CONNMARK --save-mark --nfmask $AUTH --ctmask $AUTH
# Without a save rule anywhere, NF_ACCEPT authorizes nothing: every datagram
# is queued.  (This is also what makes the counts above mean something.)
accept_case accept_without_save_queues_every_datagram 1000 1000

# ---- the queue itself: overflow, refused verdicts, a second bind ---------------------------
# Every datagram to port 9999 is queued (this rule, unlike ours, ignores
# conntrack) while the probe sleeps on a tiny socket buffer: the kernel
# drops what does not fit and the socket reports ENOBUFS, which must be
# counted and survived: the next connect still goes through the probe.
q9999="-p udp --dport 9999 -m mark ! --mark $AUTH/$AUTH -j NFQUEUE --queue-num 0"
in_c iptables -t mangle -I OUTPUT 1 $q9999
if probe_start -b 4096 -P 1000; then
	in_c "$TOOLS/nfq_udp_send" -c 500 $S4 9999 >/dev/null
	sleep 1
	if in_c "$TOOLS/nfq_tcp" connect -T 3000 $S4 5000 2>$T/tcp.err; then ok=1; else ok=0; fi
	probe_stop
	# The kernel's own count says the same: what we missed, it dropped.
	if [ "$ok" = 1 ] && [ "$Q_enobufs" != "?" ] && [ "$Q_enobufs" -ge 1 ] &&
		[ "$Q_kernel_dropped" != "?" ] && [ "$Q_kernel_dropped" -ge 1 ] &&
		[ $((Q_connect + Q_kernel_dropped)) -eq 501 ] &&
		grep -q 'tcp flags=S$' $T/probe.log; then
		pass socket_overflow_is_counted_and_survived
	else
		fail socket_overflow_is_counted_and_survived "enobufs $Q_enobufs, queued $Q_connect, kernel dropped $Q_kernel_dropped (want 501 in all), connect ok=$ok $(cat $T/tcp.err)"
	fi
else
	fail socket_overflow_is_counted_and_survived "nfq_probe did not start"
fi
in_c iptables -t mangle -D OUTPUT $q9999

if probe_start -E; then
	sleep 0.3
	probe_stop
	expect refused_verdict_is_counted "verdict errors" "$Q_verdict_errors" 1
else
	fail refused_verdict_is_counted "nfq_probe did not start"
fi

if probe_start; then
	if in_c "$TOOLS/nfq_probe" -t 1 >/dev/null 2>$T/second.err; then
		fail second_bind_of_a_queue_is_refused "a second probe bound queue 0"
	elif grep -q 'queue 0: Operation not permitted' $T/second.err; then
		pass second_bind_of_a_queue_is_refused
	else
		fail second_bind_of_a_queue_is_refused "message: $(cat $T/second.err)"
	fi
	probe_stop
else
	fail second_bind_of_a_queue_is_refused "nfq_probe did not start"
fi

# ---- no daemon: fail_mode closed and open ----------------------------------------------------
if in_c "$TOOLS/nfq_tcp" connect -T 1500 $S4 5000 2>/dev/null; then
	fail fail_closed_without_daemon_blocks_new_connect "connect succeeded"
else
	pass fail_closed_without_daemon_blocks_new_connect
fi
check loopback_not_intercepted_by_default in_c bash -c \
	"'$TOOLS/nfq_tcp' listen 127.0.0.1 5002 >/dev/null & p=\$!; sleep 0.3;
	 '$TOOLS/nfq_tcp' connect -T 1500 127.0.0.1 5002; r=\$?; kill \$p; exit \$r"
in_c "$TOOLS/fw_ctl" install -b iptables -o >/dev/null
check fail_open_without_daemon_lets_connect_through \
	in_c "$TOOLS/nfq_tcp" connect -T 3000 $S4 5000
in_c "$TOOLS/fw_ctl" install -b iptables -l >/dev/null
if in_c bash -c "'$TOOLS/nfq_tcp' listen 127.0.0.1 5003 >/dev/null & p=\$!; sleep 0.3;
	 '$TOOLS/nfq_tcp' connect -T 1500 127.0.0.1 5003 2>/dev/null; r=\$?; kill \$p; exit \$r"; then
	fail intercepted_loopback_fails_closed_without_daemon "connect succeeded"
else
	pass intercepted_loopback_fails_closed_without_daemon
fi
in_c "$TOOLS/fw_ctl" remove -b iptables

finish
