#!/usr/bin/env bash
# test_fwscan.sh — lib/linux/fwscan against real rulesets, inside namespaces
# of its own: alegate's own rules (either backend, and the notrack table)
# and empty tables are not foreign; any other rule is, named; legacy
# iptables is; the watch wakes on a change in its namespace, and only then.
source "$(dirname "$0")/lib.sh"

FWCTL=$TOOLS/fw_ctl
# $NSC is scanned; $NSS only changes while the watch in $NSC must stay quiet.
ns_pair

# want NAME PATTERN CMD... — CMD's output (stdout and stderr) matches the
# glob PATTERN and CMD succeeds.
want() {
	local name=$1 pattern=$2 got rc; shift 2
	got=$("$@" 2>&1)
	rc=$?
	# shellcheck disable=SC2053
	if [ $rc -eq 0 ] && [[ $got == $pattern ]]; then
		pass "$name"
	else
		fail "$name" "wanted \"$pattern\", got \"$got\" (exit $rc)"
	fi
}
foreign() { in_c "$FWCTL" foreign "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

# ---- a fresh namespace ------------------------------------------------------
want fresh_namespace_none_with_nft_backend none foreign -b nft
want fresh_namespace_none_with_iptables_backend none foreign -b iptables

# Refusing to answer is an answer too: never "none" when it cannot read.
got=$(in_c setpriv --reuid 65534 --regid 65534 --clear-groups "$FWCTL" foreign 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ $got != *none* ]]; then
	pass unprivileged_scan_is_an_error_not_none
else
	fail unprivileged_scan_is_an_error_not_none "exit $rc: $got"
fi

# ---- the iptables backend -----------------------------------------------------
check install_iptables quiet in_c "$FWCTL" install -b iptables -q 100
want own_iptables_rules_not_foreign none foreign -b iptables
# The same rules are someone else's when alegate runs the nft backend.
want own_iptables_rules_foreign_to_nft_backend "foreign: nft table ip mangle, chain *" \
	foreign -b nft

in_c iptables -t mangle -A OUTPUT -p udp --dport 7 -j MARK --set-mark 1
want extra_rule_in_mangle_output_foreign "foreign: nft table ip mangle, chain OUTPUT" \
	foreign -b iptables
in_c iptables -t mangle -D OUTPUT -p udp --dport 7 -j MARK --set-mark 1
in_c ip6tables -t mangle -A INPUT -p udp --dport 7 -j MARK --set-mark 1
want extra_rule_in_ip6_mangle_input_foreign "foreign: nft table ip6 mangle, chain INPUT" \
	foreign -b iptables
in_c ip6tables -t mangle -D INPUT -p udp --dport 7 -j MARK --set-mark 1
want removing_the_extra_rules_leaves_none none foreign -b iptables

# A jump into our chains from a chain of the user's is ours (fw_apply.c
# removes it with our chains); any other rule there is not.
in_c iptables -t mangle -N MINE
in_c iptables -t mangle -A MINE -j ALEGATE-OUT
want jump_to_our_chain_from_user_chain_not_foreign none foreign -b iptables
in_c iptables -t mangle -A MINE -j RETURN
want other_rule_in_user_mangle_chain_foreign "foreign: nft table ip mangle, chain MINE" \
	foreign -b iptables
in_c iptables -t mangle -F MINE
in_c iptables -t mangle -X MINE

in_c iptables -A INPUT -j ACCEPT
want filter_rule_foreign_naming_it "foreign: nft table ip filter, chain INPUT" \
	foreign -b iptables
in_c iptables -D INPUT -j ACCEPT
# iptables-nft leaves the table and its chain behind, empty.
if in_c nft list chain ip filter INPUT >/dev/null 2>&1; then
	want emptied_iptables_filter_chain_not_foreign none foreign -b iptables
else
	fail emptied_iptables_filter_chain_not_foreign "iptables -D removed the chain itself"
fi
check remove_iptables quiet in_c "$FWCTL" remove -b iptables
in_c nft delete table ip filter 2>/dev/null

# ---- the nft backend ----------------------------------------------------------
# Where the kernel has no nft queue (test_fw.sh probes it), the same table
# with "accept" for the queue statements has the same names.
if ! quiet in_c "$FWCTL" install -b nft; then
	"$FWCTL" render -b nftables | sed -E 's/queue num [0-9]+( bypass)?/accept/' >$T/nft.txt
	in_c nft -f $T/nft.txt || fail load_nft_table "nft -f failed"
fi
if in_c nft list table inet alegate >/dev/null 2>&1; then
	want own_nft_table_not_foreign none foreign -b nft
	want own_nft_table_not_foreign_with_iptables_backend none foreign -b iptables
else
	fail own_nft_table_not_foreign "no table inet alegate"
fi

in_c nft -f - <<'EOF'
table inet alegate_notrack {
	chain output {
		type filter hook output priority raw; policy accept;
		meta mark & 0x00c00000 == 0x00c00000 notrack
	}
}
EOF
want notrack_table_not_foreign none foreign -b nft
want notrack_table_not_foreign_with_iptables_backend none foreign -b iptables
check cleanup quiet in_c "$FWCTL" cleanup
in_c nft delete table inet alegate_notrack 2>/dev/null

# ---- other nft tables -----------------------------------------------------------
# Debian's default /etc/nftables.conf: a table with base chains, no rules.
in_c nft -f - <<'EOF'
table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
EOF
want empty_inet_filter_table_not_foreign none foreign -b nft
in_c nft add set inet filter names '{ type ipv4_addr; }'
want set_without_rules_not_foreign none foreign -b nft

in_c nft add rule inet filter input ct state established,related accept
want nft_table_with_a_rule_foreign "foreign: nft table inet filter, chain input" foreign -b nft
in_c nft flush table inet filter
want flushed_nft_table_not_foreign none foreign -b nft
in_c nft delete table inet filter

in_c nft add table ip alegate
in_c nft add chain ip alegate output
in_c nft add rule ip alegate output counter
want alegate_table_of_family_ip_foreign "foreign: nft table ip alegate, chain output" \
	foreign -b iptables
in_c nft delete table ip alegate

in_c nft add table ip nat
in_c nft add chain ip nat postrouting '{ type nat hook postrouting priority srcnat; }'
in_c nft add rule ip nat postrouting masquerade
want nat_rule_foreign "foreign: nft table ip nat, chain postrouting" foreign -b nft
in_c nft delete table ip nat
want none_after_removing_everything none foreign -b iptables

# A dump of many datagrams: read to its end, and a foreign rule past the
# first ones still found.  (The kernel dumps tables in creation order.)
{
	echo "add table inet alegate_notrack"
	echo "add chain inet alegate_notrack many"
	for i in $(seq 3000); do echo "add rule inet alegate_notrack many meta mark $i counter"; done
} >$T/many.nft
in_c nft -f $T/many.nft
want long_dump_of_our_rules_not_foreign none foreign -b nft
in_c nft add table inet zlast
in_c nft add chain inet zlast c
in_c nft add rule inet zlast c counter
want foreign_rule_after_a_long_dump_found "foreign: nft table inet zlast, chain c" foreign -b nft
in_c nft delete table inet zlast
in_c nft delete table inet alegate_notrack

# ---- the watch ----------------------------------------------------------------
# watch_in NS MS NAME — start "fw_ctl watch MS" in namespace NS in the
# background (output $T/NAME), and wait until it has subscribed.
watch_in() {
	local ns=$1 ms=$2 name=$3
	ip netns exec "$ns" "$FWCTL" watch "$ms" >$T/$name 2>$T/$name.err &
	_ag_bg_pids+=($!)
	WATCH_PID=$!
	wait_for 5 grep -q watching $T/$name.err
}
# The watch is this shell's child: wait for it here, not in a $(...).
watch_end() { wait "$WATCH_PID" 2>/dev/null; }

watch_for() { in_c "$FWCTL" watch "$1" 2>/dev/null; }	# stdout only
want watch_quiet_without_changes quiet watch_for 300

if watch_in "$NSC" 5000 w1; then
	t0=$(date +%s%N)
	in_c nft add table inet wtest
	watch_end
	got=$(cat $T/w1)
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if [ "$got" = changed ] && [ $ms -lt 4000 ]; then
		pass watch_reports_a_new_table_at_once
	else
		fail watch_reports_a_new_table_at_once "\"$got\" after $ms ms"
	fi
else
	fail watch_reports_a_new_table_at_once "the watch did not start: $(cat $T/w1.err)"
fi

if watch_in "$NSC" 5000 w2; then
	in_c iptables -A INPUT -j ACCEPT
	watch_end
	want watch_reports_an_iptables_rule changed cat $T/w2
else
	fail watch_reports_an_iptables_rule "the watch did not start: $(cat $T/w2.err)"
fi

if watch_in "$NSC" 1000 w3; then
	in_s nft add table inet elsewhere
	in_s iptables -A INPUT -j ACCEPT
	watch_end
	want watch_ignores_other_namespaces quiet cat $T/w3
else
	fail watch_ignores_other_namespaces "the watch did not start: $(cat $T/w3.err)"
fi

# ---- legacy iptables ----------------------------------------------------------
# Last: a legacy table stays until the namespace goes.
if command -v iptables-legacy >/dev/null 2>&1; then
	# Nothing else left, so a missed legacy table would read "none".
	in_c nft flush ruleset
	in_c iptables-legacy -A INPUT -j ACCEPT
	want legacy_iptables_rule_foreign "foreign: legacy iptables table filter" foreign -b iptables
else
	echo "# iptables-legacy is not installed: legacy_iptables_rule_foreign not run"
fi

finish
