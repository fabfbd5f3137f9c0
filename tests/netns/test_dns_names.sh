#!/usr/bin/env bash
# test_dns_names.sh — host names from snooped DNS replies, through the real
# daemon: a reply names an address, the pended flow shows the name, a rule
# on the name decides, and a reply that does not parse is still delivered.
. "$(dirname "$0")/lib.sh"

ns_pair
ip -n "$NSS" addr add 192.0.2.3/24 dev eth0
ip -n "$NSS" addr add 192.0.2.4/24 dev eth0
ip -n "$NSS" addr add 192.0.2.5/24 dev eth0
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
bg_s "$TOOLS/ag_dns" serve $S4 $S4 >"$T/dns.log"
bg_s "$TOOLS/ag_dns" serve 192.0.2.3 $S4 garbage >"$T/dns-bad.log"
# answers truly, then sends a reply to no query: forged.example.test is 192.0.2.3
bg_s "$TOOLS/ag_dns" serve 192.0.2.4 $S4 forge forged.example.test 192.0.2.3 >"$T/dns-forge.log"
# a server no resolv.conf names: whoever may ask it, it names nothing
bg_s "$TOOLS/ag_dns" serve 192.0.2.5 192.0.2.3 >"$T/dns-other.log"
wait_for 5 grep -q ready "$T/dns.log" || { fail setup "dns server did not start"; finish; }
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; echo "$T/bin/$1"; }

# The configured resolvers, and the shipped rules that let any program ask them.
printf 'search example.test\nnameserver %s\nnameserver 192.0.2.3\n' $S4 >"$T/resolv.conf"
printf '# upstream servers\nnameserver 192.0.2.4%%eth0\n' >"$T/resolved.conf"
mkdir -p "$T/d-$NSC/rules"
cp "$AG_TOP"/etc/rules.d/dns-udp.json "$AG_TOP"/etc/rules.d/dns-tcp.json "$T/d-$NSC/rules/"
daemon_start "$NSC" resolv_conf=$T/resolv.conf resolved_conf=$T/resolved.conf ||
	{ fail daemon_start "alegated did not start"; finish; }
# the resolver of this test is a program like any other: let it ask
Q=$(client resolver ag_dns)
ctl rules add --action allow --app "$Q" --until-restart >/dev/null

out=$(in_c "$Q" query $S4 app.example.test)
if [ "$out" = "answer $S4" ] && wait_for 3 bash -c "[ \$('$ALEGATECTL' -s '$SOCK' status --json | jq .counters.dns_replies) -ge 1 ]"; then
	pass dns_reply_is_snooped_and_delivered
else
	fail dns_reply_is_snooped_and_delivered "query: $out"
fi

P=$(client named)
in_c "$P" -t 10000 $S4 8080 >"$T/p.out" &
ppid=$!
if wait_pending 1 && ctl pending --json | jq -e '.[0].host == "app.example.test"' >/dev/null; then
	pass pended_flow_shows_the_host_name_from_dns
else
	fail pended_flow_shows_the_host_name_from_dns "$(ctl pending --json)"
fi
id=$(ctl pending --json | jq -r '.[0].id')
ctl allow "$id" --always >/dev/null
wait "$ppid"
if ctl rules list --json | jq -e --arg p "$P" 'any(.[]; .app == $p and .host == "app.example.test")' >/dev/null; then
	pass allow_always_default_scope_is_app_and_host
else
	fail allow_always_default_scope_is_app_and_host "$(ctl rules list --json)"
fi

H=$(client by_host)
ctl rules add --action allow --app "$H" --host '*.example.test' --until-restart >/dev/null
# a fresh reply for the ruled name: with the fast path on, the kernel learns
# the address before the reply is let through
in_c "$Q" query $S4 www.example.test >/dev/null
q0=$(ctl status --json | jq .counters.queued_packets)
out=$(in_c "$H" -t 3000 $S4 8080)
q1=$(ctl status --json | jq .counters.queued_packets)
if [[ $out == ok* ]] && [ "$(ctl pending --json | jq length)" = 0 ]; then
	pass rule_on_a_host_suffix_decides_through_the_dns_cache
else
	fail rule_on_a_host_suffix_decides_through_the_dns_cache "$out"
fi
if [[ $(ctl status --json | jq -r .fast_path) == on* ]]; then
	if [ "$q1" = "$q0" ]; then
		pass host_rule_is_decided_in_the_kernel_from_the_snooped_addresses
	else
		fail host_rule_is_decided_in_the_kernel_from_the_snooped_addresses "queued $q0 -> $q1"
	fi
fi

# the same with an exact name: its replies' addresses reach the kernel too
# (a reply for a name no rule names does not, see the fast path's index)
E=$(client by_exact_host)
ctl rules add --action allow --app "$E" --host 'exact.other.test' --until-restart >/dev/null
in_c "$Q" query $S4 exact.other.test >/dev/null
q0=$(ctl status --json | jq .counters.queued_packets)
out=$(in_c "$E" -t 3000 $S4 8080)
q1=$(ctl status --json | jq .counters.queued_packets)
if [[ $(ctl status --json | jq -r .fast_path) == on* ]]; then
	if [[ $out == ok* ]] && [ "$q1" = "$q0" ]; then
		pass exact_host_rule_is_decided_in_the_kernel_from_the_snooped_addresses
	else
		fail exact_host_rule_is_decided_in_the_kernel_from_the_snooped_addresses \
			"$out; queued $q0 -> $q1"
	fi
fi

bad0=$(ctl status --json | jq .counters.dns_unparsed)
out=$(in_c "$Q" query 192.0.2.3 garbage.example.test)
bad1=$(ctl status --json | jq .counters.dns_unparsed)
if [[ $out == reply* ]] && [ $((bad1 - bad0)) -ge 1 ]; then
	pass dns_reply_that_does_not_parse_is_counted_and_still_delivered
else
	fail dns_reply_that_does_not_parse_is_counted_and_still_delivered "$out; unparsed $bad0 -> $bad1"
fi

# A reply that answers no query this host sent names no address: the
# server of a lookup the resolver did make sends it on the same flow.
F=$(client forged_host)
ctl rules add --action allow --app "$F" --host forged.example.test --until-restart >/dev/null
wait_for 5 grep -q ready "$T/dns-forge.log"
u0=$(ctl status --json | jq .counters.dns_unsolicited)
out=$(in_c "$Q" query 192.0.2.4 real.example.test)
if [ "$out" = "answer $S4" ] &&
   wait_for 3 bash -c "[ \$('$ALEGATECTL' -s '$SOCK' status --json | jq '.counters.dns_unsolicited // -1') -gt ${u0/null/-1} ]"; then
	pass unsolicited_dns_reply_is_counted_not_learned
else
	fail unsolicited_dns_reply_is_counted_not_learned "query: $out; unsolicited $u0 -> $(ctl status --json | jq .counters.dns_unsolicited)"
fi
out=$(in_c "$F" -t 1500 192.0.2.3 8080)
host=$(ctl pending --json | jq -r '.[0].host')
if [[ $out != ok* ]] && [ "$host" != forged.example.test ]; then
	pass unsolicited_dns_reply_names_no_address
else
	fail unsolicited_dns_reply_names_no_address "connect: $out; pending host: $host"
fi
ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null 2>&1

# The shipped DNS rules let any program query the configured resolvers, and
# no other server.
R=$(client any_program ag_dns)
out=$(in_c "$R" query $S4 shipped.example.test)
if [ "$out" = "answer $S4" ] && [ "$(ctl pending --json | jq length)" = 0 ]; then
	pass shipped_dns_rule_allows_queries_to_a_configured_resolver
else
	fail shipped_dns_rule_allows_queries_to_a_configured_resolver "query: $out; pending $(ctl pending --json | jq length)"
fi
in_c "$R" query 192.0.2.5 elsewhere.example.test >"$T/r5.out" &
rpid=$!
if wait_pending 1 && ctl pending --json | jq -e '.[0].remote == "192.0.2.5:53"' >/dev/null; then
	pass shipped_dns_rule_does_not_allow_other_servers
else
	fail shipped_dns_rule_does_not_allow_other_servers "$(ctl pending --json | jq -c .)"
fi
ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null 2>&1
wait $rpid

# A program allowed to ask any server gets its answer, which names nothing
# for anyone: 192.0.2.5 says other.example.test is 192.0.2.3.
O=$(client other_host)
ctl rules add --action allow --app "$O" --host other.example.test --until-restart >/dev/null
n0=$(ctl status --json | jq '.counters.dns_not_resolver // -1')
out=$(in_c "$Q" query 192.0.2.5 other.example.test)
wait_for 3 bash -c "[ \$('$ALEGATECTL' -s '$SOCK' status --json | jq '.counters.dns_not_resolver // -1') -gt $n0 ]"
out2=$(in_c "$O" -t 1500 192.0.2.3 8080)
if [ "$out" = "answer 192.0.2.3" ] && [[ $out2 != ok* ]] &&
   [ "$(ctl pending --json | jq -r '.[0].host')" != other.example.test ]; then
	pass reply_from_a_server_not_configured_names_no_address
else
	fail reply_from_a_server_not_configured_names_no_address "query: $out; connect: $out2; $(ctl pending --json | jq -c .)"
fi
ctl deny "$(ctl pending --json | jq -r '.[0].id')" >/dev/null 2>&1

# resolv.conf changes: the new resolver is allowed and vouched for, without
# a restart or a reload.
sleep 1.1
printf 'nameserver %s\nnameserver 192.0.2.5\n' $S4 >"$T/resolv.conf.new"
mv "$T/resolv.conf.new" "$T/resolv.conf"
sleep 1.1
in_c "$R" query 192.0.2.5 other.example.test >"$T/r6.out"
out2=$(in_c "$O" -t 3000 192.0.2.3 8080)
if [ "$(cat "$T/r6.out")" = "answer 192.0.2.3" ] && [[ $out2 == ok* ]]; then
	pass resolver_added_to_resolv_conf_is_used_at_once
else
	fail resolver_added_to_resolv_conf_is_used_at_once "query: $(cat "$T/r6.out"); connect: $out2; $(ctl pending --json | jq -c .)"
fi
daemon_stop TERM
finish
