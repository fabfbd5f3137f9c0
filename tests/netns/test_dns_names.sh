#!/usr/bin/env bash
# test_dns_names.sh — host names from snooped DNS replies, through the real
# daemon: a reply names an address, the pended flow shows the name, a rule
# on the name decides, and a reply that does not parse is still delivered.
. "$(dirname "$0")/lib.sh"

ns_pair
ip -n "$NSS" addr add 192.0.2.3/24 dev eth0
ip -n "$NSS" addr add 192.0.2.4/24 dev eth0
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
bg_s "$TOOLS/ag_dns" serve $S4 $S4 >"$T/dns.log"
bg_s "$TOOLS/ag_dns" serve 192.0.2.3 $S4 garbage >"$T/dns-bad.log"
# answers truly, then sends a reply to no query: forged.example.test is 192.0.2.3
bg_s "$TOOLS/ag_dns" serve 192.0.2.4 $S4 forge forged.example.test 192.0.2.3 >"$T/dns-forge.log"
wait_for 5 grep -q ready "$T/dns.log" || { fail setup "dns server did not start"; finish; }
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; echo "$T/bin/$1"; }

daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }
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
daemon_stop TERM
finish
