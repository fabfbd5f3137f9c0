#!/usr/bin/env bash
# test_sockdiag_dump.sh — ag_sockdiag_dump_marked(): the TCP sockets of a
# namespace whose SO_MARK matches under a mask, filtered by the kernel.
#
# The client namespace holds TCP sockets of every kind the dump has to tell
# apart: connections marked 0x1a0 (IPv4, IPv6, and a dual-stack IPv6 socket
# on an IPv4 flow), unmarked ones, other marks, marked listeners, a marked
# socket in TIME_WAIT and one in SYN_SENT.  sd_marked makes and holds them
# (and says which local ports they got); sd_dump prints what the dump
# reports; ss, which dumps without any filter, is the independent witness.
source "$(dirname "$0")/lib.sh"

ns_pair
# One server for every connection (a dual-stack IPv6 socket); SYNs to
# 7005 vanish, so a connect() to it stays in SYN_SENT.
bg_s "$TOOLS/ag_serve" tcp :: 7001 >/dev/null
bg_s "$TOOLS/ag_serve" tcp :: 7002 >/dev/null
in_s iptables -A INPUT -p tcp --dport 7005 -j DROP
listening() { in_s ss -Hltn "sport = :$1" | grep -q .; }
if ! wait_for 5 listening 7001 || ! wait_for 5 listening 7002; then
	echo "# the servers did not come up"
	exit 1
fi

# marked NAME MODE MARK ADDR PORT [COUNT] — sd_marked in $NSC; waits until
# its sockets are up.  Their local ports end up in $T/NAME.out.
marked() {
	local name=$1; shift
	bg_c "$TOOLS/sd_marked" "$@" >"$T/$name.out" 2>"$T/$name.err"
	wait_for 5 grep -qx ready "$T/$name.out" && return 0
	echo "# sd_marked $* did not start: $(cat "$T/$name.err")"
	exit 1
}
ports() { grep -x '[0-9][0-9]*' "$T/$1.out"; }
# expect NAME LOCAL_ADDR REMOTE_ADDR:PORT MARK STATE — the lines sd_dump
# should print (cookie left out) for sd_marked NAME's sockets.
expect() {
	local port
	for port in $(ports "$1"); do echo "$2:$port $3 mark $4 state $5"; done
}
# dump NAME [-c] MARK MASK — sd_dump in $NSC into $T/NAME.dump and .err.
dump() {
	local name=$1; shift
	in_c "$TOOLS/sd_dump" "$@" >"$T/$name.dump" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
sockets() { grep ' state ' "$T/$1.dump" | cut -d' ' -f2- | sort; }
# dump_is NAME EXPECTED_FILE — dump NAME succeeded, reported exactly the
# sockets EXPECTED_FILE lists, and counted them right.
dump_is() {
	local name=$1 want=$2 n
	[ -s "$want" ] || { echo "# nothing expected: the test is broken"; return 1; }
	[ "$(cat "$T/$name.rc")" = 0 ] ||
		{ echo "# sd_dump failed: $(cat "$T/$name.dump" "$T/$name.err")"; return 1; }
	n=$(grep -c ' state ' "$T/$name.dump")
	grep -qx "$n sockets" "$T/$name.dump" ||
		{ echo "# $n lines but: $(tail -1 "$T/$name.dump")"; return 1; }
	if ! sort "$want" | diff - <(sockets "$name") >"$T/$name.diff"; then
		echo "# expected (<) and reported (>) differ:"
		grep '^[<>]' "$T/$name.diff" | head -20 | sed 's/^/#   /'
		return 1
	fi
}
# reports NAME LOCAL_ADDR:PORT — how many sockets with that local end dump
# NAME reports.
reports() { grep -c "^0x[0-9a-f]* $2 " "$T/$1.dump"; }

# --- the sockets ---
marked m4 connect 0x1a0 $S4 7001 3
marked m6 connect 0x1a0 $S6 7001 3
marked mmap connect 0x1a0 ::ffff:$S4 7001
marked msyn syn 0x1a0 $S4 7005
marked u4 connect 0 $S4 7001 2
marked u6 connect 0 $S6 7001 2
marked o4 connect 0x2b0 $S4 7001 2
marked hi4 connect 0x10001a0 $S4 7001
marked lo6 connect 0x1a5 $S6 7001
marked l4 listen 0x1a0 0.0.0.0 7100
marked l6 listen 0x1a0 :: 7101
in_c "$TOOLS/sd_marked" close 0x1a0 $S4 7001 >"$T/tw4.out"
in_c "$TOOLS/sd_marked" close 0x1a0 $S6 7001 >"$T/tw6.out"

{
	expect m4 $C4 $S4:7001 0x1a0 1
	expect m6 $C6 $S6:7001 0x1a0 1
	expect mmap ::ffff:$C4 ::ffff:$S4:7001 0x1a0 1
	expect msyn $C4 $S4:7005 0x1a0 2
} >"$T/want.1a0"
expect hi4 $C4 $S4:7001 0x10001a0 1 >"$T/want.hi"
expect lo6 $C6 $S6:7001 0x1a5 1 >"$T/want.lo"
expect o4 $C4 $S4:7001 0x2b0 1 >"$T/want.other"
{
	expect u4 $C4 $S4:7001 0x0 1
	expect u6 $C6 $S6:7001 0x0 1
} >"$T/want.unmarked"

# --- what a mark reports ---
dump exact 0x1a0 0xffffffff
check dump_marked_reports_every_marked_tcp_socket_ipv4_and_ipv6 \
	dump_is exact "$T/want.1a0"

# Once: as IPv6 (by the AF_INET6 half of the dump), never also as IPv4.
p=$(ports mmap)
if [ "$(reports exact ::ffff:$C4:$p)" = 1 ] && [ "$(reports exact $C4:$p)" = 0 ] &&
	grep -q "^0x[0-9a-f]* ::ffff:$C4:$p ::ffff:$S4:7001 mark 0x1a0 state 1$" "$T/exact.dump"; then
	pass dump_marked_reports_ipv4_mapped_socket_once_with_its_ipv6_addresses
else
	fail dump_marked_reports_ipv4_mapped_socket_once_with_its_ipv6_addresses \
		"port $p: $(grep ":$p " "$T/exact.dump" | tr '\n' ' ')"
fi

p=$(ports msyn)
if in_c ss -Htn state syn-sent "sport = :$p" | grep -q . &&
	grep -q "^0x[0-9a-f]* $C4:$p $S4:7005 mark 0x1a0 state 2$" "$T/exact.dump"; then
	pass dump_marked_reports_syn_sent_socket
else
	fail dump_marked_reports_syn_sent_socket "port $p not reported in SYN_SENT"
fi

# --- what it leaves out ---
why=
for name in u4 u6 o4; do
	case $name in *6) a=$C6 ;; *) a=$C4 ;; esac
	for p in $(ports $name); do
		in_c ss -Htn state established "sport = :$p" | grep -q . ||
			why+="$name:$p not established; "
		[ "$(reports exact $a:$p)" = 0 ] || why+="$name:$p reported; "
	done
done
for l in 0.0.0.0:7100 :::7101; do
	in_c ss -Hltne "sport = :${l##*:}" 2>/dev/null | grep -q 'fwmark:0x1a0' ||
		why+="listener $l missing or unmarked; "
	[ "$(reports exact $l)" = 0 ] || why+="listener $l reported; "
done
if [ -z "$why" ]; then
	pass dump_marked_skips_unmarked_sockets_and_listeners
else
	fail dump_marked_skips_unmarked_sockets_and_listeners "$why"
fi

why=
for name in tw4 tw6; do
	case $name in *6) a=$C6 ;; *) a=$C4 ;; esac
	p=$(ports $name)
	[ -n "$p" ] || { why+="$name made no socket; "; continue; }
	in_c ss -Htn state time-wait "sport = :$p" | grep -q . ||
		why+="$name:$p not in TIME_WAIT; "
	[ "$(reports exact $a:$p)" = 0 ] || why+="$name:$p reported; "
done
if [ -z "$why" ]; then
	pass dump_marked_skips_time_wait_sockets
else
	fail dump_marked_skips_time_wait_sockets "$why"
fi

# --- the mask ---
# 0x1a0 under 0xfff: also 0x10001a0, not 0x1a5 nor 0x2b0.  0x100 under
# 0x100: every mark with that bit, 0x1a5 too.
dump mask_fff 0x1a0 0xfff
cat "$T/want.1a0" "$T/want.hi" >"$T/want.fff"
dump mask_100 0x100 0x100
cat "$T/want.1a0" "$T/want.hi" "$T/want.lo" >"$T/want.100"
if dump_is mask_fff "$T/want.fff" && dump_is mask_100 "$T/want.100"; then
	pass dump_marked_matches_under_mask_only
else
	fail dump_marked_matches_under_mask_only "see the differences above"
fi

# Mask 0 passes every socket: the dump must then say what ss says, cookie
# and mark included (ss shows no fwmark for mark 0).
dump all 0 0
cat "$T/want.1a0" "$T/want.hi" "$T/want.lo" "$T/want.other" "$T/want.unmarked" >"$T/want.all"
in_c ss -Htne 2>/dev/null | awk '$1 != "TIME-WAIT" {
	l = $4; r = $5; gsub(/[][]/, "", l); gsub(/[][]/, "", r)
	sk = "?"; mark = "0x0"
	for (i = 6; i <= NF; i++) {
		if ($i ~ /^sk:/) sk = substr($i, 4)
		if ($i ~ /^fwmark:/) mark = substr($i, 8)
	}
	print "0x" sk, l, r, "mark", mark
}' | sort >"$T/ss.all"
grep ' state ' "$T/all.dump" | sed 's/ state [0-9]*$//' | sort >"$T/dump.all"
if dump_is all "$T/want.all" && [ -s "$T/ss.all" ] &&
	diff "$T/ss.all" "$T/dump.all" >"$T/all.ssdiff"; then
	pass dump_unmasked_reports_what_ss_reports_with_same_cookies_and_marks
else
	grep '^[<>]' "$T/all.ssdiff" 2>/dev/null | head -10 | sed 's/^/#   ss < > dump: /'
	fail dump_unmasked_reports_what_ss_reports_with_same_cookies_and_marks \
		"$(wc -l <"$T/ss.all") from ss, $(wc -l <"$T/dump.all") from the dump"
fi

# --- the callback and the handle ---
# sd_dump -c looks each reported socket up again from inside the callback.
dump check -c 0x1a0 0xffffffff
n=$(wc -l <"$T/want.1a0")
if dump_is check "$T/want.1a0" && grep -qx "# checked $n refused $n same $n" "$T/check.err"; then
	pass dump_marked_socket_ids_look_up_to_the_same_sockets
else
	fail dump_marked_socket_ids_look_up_to_the_same_sockets "$(tr '\n' ' ' <"$T/check.err")"
fi
if grep -q '^# checked \([1-9][0-9]*\) refused \1 ' "$T/check.err"; then
	pass dump_marked_callback_cannot_reuse_its_handle
else
	fail dump_marked_callback_cannot_reuse_its_handle "$(tr '\n' ' ' <"$T/check.err")"
fi

# --- many sockets: the dump comes in several recv() batches ---
N=300
marked many connect 0x3c0 $S4 7002 $N
marked many_u connect 0 $S6 7002 $N
expect many $C4 $S4:7002 0x3c0 1 >"$T/want.many"
dump many 0x3c0 0xffffffff
if [ "$(wc -l <"$T/want.many")" = $N ] && dump_is many "$T/want.many" &&
	grep -qx '# requests 2 stale 0 malformed 0 timeouts 0' "$T/many.err"; then
	pass dump_marked_reports_all_of_${N}_sockets_across_recv_batches
else
	fail dump_marked_reports_all_of_${N}_sockets_across_recv_batches \
		"$(tail -1 "$T/many.dump"), $(tr '\n' ' ' <"$T/many.err")"
fi

# --- privileges ---
out=$(in_c setpriv --bounding-set -net_admin "$TOOLS/sd_dump" 0x1a0 0xffffffff 2>/dev/null)
rc=$?
case $rc:$out in
1:"error -1 "*) pass dump_marked_without_cap_net_admin_fails_with_eperm ;;
*) fail dump_marked_without_cap_net_admin_fails_with_eperm "rc $rc: $(echo "$out" | tail -1)" ;;
esac

finish
