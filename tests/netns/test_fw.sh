#!/usr/bin/env bash
# test_fw.sh — lib/linux/fw against the real iptables and nft, inside a
# namespace of its own: the probe changes nothing, install matches the
# reference dumps in tests/netns/ref/save-*.txt, installing twice leaves one
# copy, remove and cleanup leave nothing of ours and everything else.
source "$(dirname "$0")/lib.sh"

FWCTL=$TOOLS/fw_ctl
REF=$AG_TOP/tests/netns/ref
ns_single

# iptables-save without what changes from run to run: the "# Generated"
# lines, packet counters, rule comments.
norm() {
	grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//; s/ -m comment --comment ("[^"]*"|[^ ]+)//g'
}
dump() { in_c "$1" -t mangle | norm; }
# How many lines anywhere (every iptables table, every nft table) are ours.
ours() {
	{ in_c iptables-save; in_c ip6tables-save; in_c nft list ruleset; } 2>/dev/null |
		grep -ci alegate
}
quiet() { "$@" >/dev/null; }
same_as_ref() { # NAME SAVE-TOOL REF-FILE
	local name=$1 tool=$2 ref=$REF/$3
	if dump "$tool" | diff -u "$ref" - >$T/diff; then
		pass "$name"
	else
		fail "$name" "$tool differs from $3: $(head -c 600 $T/diff | tr '\n' '|')"
	fi
}

# The user's own rules, which must survive everything we do.
in_c iptables -t mangle -A OUTPUT -p udp --dport 7 -j MARK --set-mark 1
in_c ip6tables -t mangle -A OUTPUT -p udp --dport 7 -j MARK --set-mark 1
in_c nft add table inet mine
in_c nft add chain inet mine keep
user_rules_intact() {
	in_c iptables -t mangle -C OUTPUT -p udp --dport 7 -j MARK --set-mark 1 &&
		in_c ip6tables -t mangle -C OUTPUT -p udp --dport 7 -j MARK --set-mark 1 &&
		in_c nft list chain inet mine keep >/dev/null
}

# ---- probe ------------------------------------------------------------------
# What the kernel can do, found independently: commit a queue rule here, in
# our own namespace, and see whether it sticks.
if printf 'table inet qprobe {\n chain c {\n  type filter hook output priority 0;\n  queue num 9 bypass\n }\n}\n' |
	in_c nft -f - 2>/dev/null; then
	expect=nftables
	in_c nft delete table inet qprobe
else
	expect=iptables
fi
before=$(in_c nft list ruleset 2>&1)
got=$(in_c "$FWCTL" probe 2>&1)
if [ "$got" = "$expect" ]; then pass probe_picks_$expect; else fail probe_picks_$expect "probe said \"$got\""; fi
if [ "$(in_c nft list ruleset 2>&1)" = "$before" ]; then
	pass probe_changes_nothing
else
	fail probe_changes_nothing "the ruleset changed"
fi

# ---- iptables backend ---------------------------------------------------------
check install_iptables quiet in_c "$FWCTL" install -b iptables
same_as_ref install_matches_reference_ipv4 iptables-save save-default.ipv4.txt
same_as_ref install_matches_reference_ipv6 ip6tables-save save-default.ipv6.txt

check install_twice quiet in_c "$FWCTL" install -b iptables
same_as_ref install_twice_leaves_one_copy_ipv4 iptables-save save-default.ipv4.txt
same_as_ref install_twice_leaves_one_copy_ipv6 ip6tables-save save-default.ipv6.txt

check reinstall_other_config quiet in_c "$FWCTL" install -b iptables -q 10 -o -l -N
same_as_ref reinstall_replaces_the_old_rules iptables-save save-open-loopback-noinbound.ipv4.txt

# A jump to our chain from a chain of the user's must go with our chains,
# and the user's chain must stay.
in_c iptables -t mangle -N MINE
in_c iptables -t mangle -A MINE -j ALEGATE-OUT
check remove_iptables in_c "$FWCTL" remove -b iptables
n=$(ours)
if [ "$n" -eq 0 ]; then pass remove_leaves_nothing_of_ours; else fail remove_leaves_nothing_of_ours "$n lines left"; fi
check remove_keeps_user_rules user_rules_intact
if in_c iptables -t mangle -S MINE | grep -qx -- '-N MINE'; then
	pass remove_keeps_user_chain
else
	fail remove_keeps_user_chain "$(in_c iptables -t mangle -S MINE 2>&1 | tr '\n' '|')"
fi
in_c iptables -t mangle -X MINE
check remove_when_nothing_is_there in_c "$FWCTL" remove -b iptables

# ---- cleanup after a crash ---------------------------------------------------------
# A process that installed the rules and died without removing them.
bg_c "$TOOLS/nfq_probe" -i >$T/crash.out 2>&1
crashed=$!
if wait_for 5 grep -q ready $T/crash.out; then
	kill -9 $crashed
	wait $crashed 2>/dev/null
	n=$(ours)
	if [ "$n" -gt 0 ]; then pass crash_leaves_rules; else fail crash_leaves_rules "nothing installed"; fi
	check cleanup_after_crash in_c "$FWCTL" cleanup
	n=$(ours)
	if [ "$n" -eq 0 ]; then pass cleanup_leaves_nothing_of_ours; else fail cleanup_leaves_nothing_of_ours "$n lines left"; fi
	check cleanup_keeps_user_rules user_rules_intact
else
	fail crash_leaves_rules "nfq_probe -i did not start: $(tr '\n' '|' <$T/crash.out)"
fi

# ---- nftables backend ------------------------------------------------------------
# The nft ruleset loads as a whole where the kernel can queue; elsewhere
# everything but the queue statements must still load, and cleanup must
# remove the table.
"$FWCTL" render -b nftables >$T/nft.txt
if [ "$expect" = nftables ]; then
	check install_nftables quiet in_c "$FWCTL" install -b nftables
else
	sed -E 's/queue num [0-9]+( bypass)?/accept/' $T/nft.txt >$T/nft-noqueue.txt
	check nft_ruleset_loads_but_for_queue in_c nft -f $T/nft-noqueue.txt
	if in_c "$FWCTL" install -b nftables 2>$T/nft.err; then
		fail install_nftables_fails_clearly "install succeeded on a kernel without nft queue"
	elif grep -q 'nft -f - failed (exit 1):.*queue num' $T/nft.err; then
		pass install_nftables_fails_clearly
	else
		fail install_nftables_fails_clearly "message: $(cat $T/nft.err)"
	fi
	# One transaction: the failed install left the table loaded above
	# exactly as it was, neither deleted nor half replaced.
	if in_c nft list table inet alegate >$T/nft-after.txt 2>&1 &&
		grep -q 'chain output' $T/nft-after.txt && ! grep -q queue $T/nft-after.txt; then
		pass install_nftables_failure_is_atomic
	else
		fail install_nftables_failure_is_atomic "$(tr '\n' '|' <$T/nft-after.txt | head -c 400)"
	fi
fi
check cleanup_nftables in_c "$FWCTL" cleanup
n=$(ours)
if [ "$n" -eq 0 ]; then pass cleanup_removes_nft_table; else fail cleanup_removes_nft_table "$n lines left"; fi
check cleanup_keeps_user_nft_table user_rules_intact
check cleanup_twice in_c "$FWCTL" cleanup

# ---- the fast path's notrack table -----------------------------------------------------
# Loaded beside either backend, removed with the rest by remove and cleanup.
has_notrack() { in_c nft list table inet alegate_notrack >/dev/null 2>&1; }
check notrack_table_loads in_c "$FWCTL" notrack on
check notrack_table_loads_twice in_c "$FWCTL" notrack on
if has_notrack && [ "$(in_c nft list table inet alegate_notrack | grep -c ' notrack$')" -eq 2 ]; then
	pass notrack_table_is_in_the_kernel_with_its_two_rules
else
	fail notrack_table_is_in_the_kernel_with_its_two_rules "$(in_c nft list table inet alegate_notrack 2>&1 | tr '\n' '|')"
fi
check install_iptables_beside_notrack quiet in_c "$FWCTL" install -b iptables
check remove_iptables_with_notrack in_c "$FWCTL" remove -b iptables
if has_notrack; then fail remove_takes_the_notrack_table_too "still there"; else pass remove_takes_the_notrack_table_too; fi
check notrack_table_loads_again in_c "$FWCTL" notrack on
check cleanup_with_notrack in_c "$FWCTL" cleanup
if has_notrack; then fail cleanup_takes_the_notrack_table_too "still there"; else pass cleanup_takes_the_notrack_table_too; fi
check cleanup_keeps_user_rules_with_notrack user_rules_intact
check notrack_off_when_absent_succeeds in_c "$FWCTL" notrack off

finish
