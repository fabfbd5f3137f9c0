#!/usr/bin/env bash
# test_lists.sh — host lists and address lists through the real daemon: a
# name on a deny rule's list is refused without a prompt, a name off it is
# asked, the list file edited on disk (in place, or renamed over as editors
# do) counts without a restart, `alegated -n` names a bad line, and an
# address list denies in the kernel's fast path.
. "$(dirname "$0")/lib.sh"

ns_pair
ip -n "$NSS" addr add 192.0.2.3/24 dev eth0
ip -n "$NSS" addr add 192.0.2.4/24 dev eth0
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
bg_s "$TOOLS/ag_dns" serve $S4 $S4 >"$T/dns.log"
bg_s "$TOOLS/ag_dns" serve 192.0.2.4 192.0.2.4 >"$T/dns4.log"
wait_for 5 grep -q ready "$T/dns4.log" && wait_for 5 grep -q ready "$T/dns.log" || { fail setup "dns server did not start"; finish; }
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin" "$T/lists"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; echo "$T/bin/$1"; }

printf 'nameserver %s\nnameserver 192.0.2.4\n' $S4 >"$T/resolv.conf"
mkdir -p "$T/d-$NSC/rules"
cp "$AG_TOP"/etc/rules.d/dns-udp.json "$T/d-$NSC/rules/"
# a hosts file as block lists ship them
LIST=$T/lists/ads.txt
cat >"$LIST" <<'HOSTS'
# block list
127.0.0.1 localhost
0.0.0.0 ads.example.test
0.0.0.0 tracker.example.test
HOSTS
chmod 0644 "$LIST"
daemon_start "$NSC" resolv_conf=$T/resolv.conf bpf=no ||
	{ fail daemon_start "alegated did not start"; finish; }
Q=$(client resolver ag_dns)
ctl rules add --action allow --app "$Q" --until-restart >/dev/null
C=$(client browser)
if ctl rules add --action deny --host-list "$LIST" --port 8080 --always >"$T/add.out" 2>&1; then
	pass rule_with_a_host_list_is_added
else
	fail rule_with_a_host_list_is_added "$(cat "$T/add.out")"
fi

# ---- a listed name: refused, no prompt --------------------------------------------------
in_c "$Q" query $S4 cdn.ads.example.test >/dev/null
if connect_unasked "$T/c1.out" "$C" -t 1500 $S4 8080 && [[ $(cat "$T/c1.out") != ok* ]]; then
	pass subdomain_of_a_listed_name_is_refused_without_a_prompt
else
	fail subdomain_of_a_listed_name_is_refused_without_a_prompt "client: $(cat "$T/c1.out")"
fi

# ---- a name not on the list: asked ---------------------------------------------------------
in_c "$Q" query $S4 news.example.test >/dev/null
in_c "$C" -t 10000 $S4 8080 >"$T/c2.out" &
cpid=$!
# (with the list's rule in place: the list does not catch more than it names)
if ctl rules list --json | jq -e 'any(.[]; .host_list != null)' >/dev/null && wait_pending 1 &&
   ctl pending --json | jq -e '.[0].host == "news.example.test"' >/dev/null; then
	pass name_off_the_list_is_asked
else
	fail name_off_the_list_is_asked "pending: $(ctl pending --json)"
fi
id=$(ctl pending --json | jq -r '.[0].id')
[ -n "$id" ] && [ "$id" != null ] && ctl deny "$id" >/dev/null
wait $cpid

# ---- the file changes on disk: the daemon reads it again -------------------------------------
# renamed over, as editors and list updaters do
cp "$LIST" "$T/lists/.ads.txt.new"
echo "0.0.0.0 news.example.test" >>"$T/lists/.ads.txt.new"
chmod 0644 "$T/lists/.ads.txt.new"
mv "$T/lists/.ads.txt.new" "$LIST"
wait_for 3 grep -q "list $LIST: 3 names" "$T/d-$NSC/daemon.log"
in_c "$Q" query $S4 news.example.test >/dev/null
if connect_unasked "$T/c3.out" "$C" -t 1500 $S4 8080 && [[ $(cat "$T/c3.out") != ok* ]]; then
	pass list_renamed_over_on_disk_applies_without_a_restart
else
	fail list_renamed_over_on_disk_applies_without_a_restart "client: $(cat "$T/c3.out")"
fi
# written in place
echo "0.0.0.0 weather.example.test" >>"$LIST"
wait_for 3 grep -q "list $LIST: 4 names" "$T/d-$NSC/daemon.log"
in_c "$Q" query $S4 weather.example.test >/dev/null
if connect_unasked "$T/c4.out" "$C" -t 1500 $S4 8080 && [[ $(cat "$T/c4.out") != ok* ]]; then
	pass list_written_in_place_applies_without_a_restart
else
	fail list_written_in_place_applies_without_a_restart "client: $(cat "$T/c4.out")"
fi

# ---- a bad line: logged with file:line, the rest still loads; alegated -n says it ---------------
printf '0.0.0.0 weather.example.test\nnot a/name\n0.0.0.0 sports.example.test\n' >"$LIST"
if wait_for 3 grep -q "$LIST:2: \"not\": one name per line" "$T/d-$NSC/daemon.log" &&
   wait_for 3 grep -q "list $LIST: 2 names (1 bad lines skipped)" "$T/d-$NSC/daemon.log"; then
	pass bad_list_line_is_logged_with_file_and_line_and_the_rest_loads
else
	fail bad_list_line_is_logged_with_file_and_line_and_the_rest_loads \
		"$(grep "$LIST" "$T/d-$NSC/daemon.log" | tail -3)"
fi
out=$("$ALEGATED" -n -f "$DCONF" 2>&1)
if [[ $out == *"$LIST:2: \"not\": one name per line"* ]]; then
	pass check_mode_names_the_bad_line_of_a_list
else
	fail check_mode_names_the_bad_line_of_a_list "$out"
fi

# ---- reload reads the list again ------------------------------------------------------------------
# a change inotify cannot see: the file replaced through another mount of it
printf '0.0.0.0 reload.example.test\n' >"$T/lists/other.txt"
chmod 0644 "$T/lists/other.txt"
mount --bind "$T/lists/other.txt" "$LIST"
ctl reload >/dev/null
# (the list is read again on the reader thread: the bind mount stays until then)
wait_for 5 grep -q "list $LIST: 1 names" "$T/d-$NSC/daemon.log"; ok=$?
umount "$LIST"
if [ $ok = 0 ]; then
	pass reload_reads_a_list_again
else
	fail reload_reads_a_list_again "$(grep "list $LIST" "$T/d-$NSC/daemon.log" | tail -2)"
fi
daemon_stop_clean

# ---- lists in the kernel's fast path ------------------------------------------------------------
rm -f "$T/d-$NSC/rules/"*
cp "$AG_TOP"/etc/rules.d/dns-udp.json "$T/d-$NSC/rules/"
stat -f -c %T /sys/fs/bpf 2>/dev/null | grep -q bpf ||
	mount -t bpf -o mode=0700,nosuid,nodev,noexec bpf /sys/fs/bpf
ALIST=$T/lists/bad-ips.txt
printf '# addresses\n192.0.2.3\n2001:db8:bad::/48\n' >"$ALIST"
printf '0.0.0.0 ads.example.test\n' >"$LIST"
chmod 0644 "$ALIST" "$LIST"
daemon_start "$NSC" resolv_conf=$T/resolv.conf || { fail daemon_start "alegated did not start"; finish; }
queued() { ctl status --json | jq .counters.queued_packets; }
ctl rules add --action allow --app "$Q" --until-restart >/dev/null
ctl rules add --action deny --remote-list "$ALIST" --until-restart >/dev/null
q0=$(queued)
out=$(in_c "$C" -t 3000 192.0.2.3 8080)
q1=$(queued)
fp=$(ctl status --json | jq -r .fast_path)
if [[ $fp == on* ]] && [[ $out == "error EPERM"* ]] && [ "$q1" = "$q0" ]; then
	pass address_on_a_remote_list_is_denied_in_the_fast_path
else
	fail address_on_a_remote_list_is_denied_in_the_fast_path "fast path $fp, $out, queued $q0 -> $q1"
fi
# an address off the list still reaches the queue and is asked
in_c "$C" -t 10000 $S4 8080 >"$T/c5.out" &
cpid=$!
if ctl rules list --json | jq -e 'any(.[]; .remote_list != null)' >/dev/null && wait_pending 1; then
	pass address_off_the_remote_list_is_asked
else
	fail address_off_the_remote_list_is_asked "nothing pending"
fi
id=$(ctl pending --json | jq -r '.[0].id')
[ -n "$id" ] && [ "$id" != null ] && ctl deny "$id" >/dev/null
wait $cpid

# host lists: the addresses snooped replies give listed names, as host rules
ctl rules add --action allow --app "$C" --until-restart >/dev/null
ctl rules add --action deny --host-list "$LIST" --until-restart >/dev/null
in_c "$Q" query $S4 cdn.ads.example.test >/dev/null
q0=$(queued)
out=$(in_c "$C" -t 3000 $S4 8080)
q1=$(queued)
if [[ $out == "error EPERM"* ]] && [ "$q1" = "$q0" ]; then
	pass listed_name_is_denied_in_the_fast_path
else
	fail listed_name_is_denied_in_the_fast_path "$out, queued $q0 -> $q1"
fi
in_c "$Q" query 192.0.2.4 late.example.test >/dev/null
out=$(in_c "$C" -t 3000 192.0.2.4 8080)
# the name was learned before the list had it: the kernel must know it
# as soon as the list does
echo "0.0.0.0 late.example.test" >>"$LIST"
wait_for 3 grep -q "list $LIST: 2 names" "$T/d-$NSC/daemon.log"
q0=$(queued)
out2=$(in_c "$C" -t 3000 192.0.2.4 8080)
q1=$(queued)
if [[ $out == ok* ]] && [[ $out2 == "error EPERM"* ]] && [ "$q1" = "$q0" ]; then
	pass name_cached_before_it_was_listed_is_denied_in_the_fast_path
else
	fail name_cached_before_it_was_listed_is_denied_in_the_fast_path \
		"before: $out, after: $out2, queued $q0 -> $q1"
fi
daemon_stop_clean
finish
