#!/usr/bin/env bash
# test_identity.sh — a program is who the kernel ran, not the path it shows.
# An ordinary user who bind-mounts another file over an allowed program's
# path (in a user and mount namespace of its own) is not that program to
# any rule; a rule's program replaced on disk (a new inode at its path) is
# still that program; short-lived processes started together are each named
# by their own executable (the exec monitor reads it at exec, in the kernel).
# Without eBPF the identity comes from /proc at each exec: the bind mount is
# still refused.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
chmod 0755 "$T/bin"
client() { cp "$TOOLS/${2:-ag_connect}" "$T/bin/$1"; chmod 0755 "$T/bin/$1"; echo "$T/bin/$1"; }
counter() { ctl status --json | jq ".counters.$1"; }
# As an ordinary user (nobody), in a user + mount namespace of its own.
# Where the kernel does not let ordinary users make user namespaces, root
# in a mount namespace of its own makes the same bind mount, which the
# daemon sees the same way.
if setpriv --reuid 65534 --regid 65534 --clear-groups unshare -Urm true 2>/dev/null; then
	as_user_ns() { in_c setpriv --reuid 65534 --regid 65534 --clear-groups unshare -Urm sh -c "$1"; }
else
	echo "# no unprivileged user namespaces here: the bind mounts are made by root"
	as_user_ns() { in_c unshare -m sh -c "$1"; }
fi

daemon_start "$NSC" pending_timeout=60 || { fail daemon_start "alegated did not start"; finish; }
[ "$(counter execs_from_kernel)" != null ] || { fail setup "no execs_from_kernel counter"; finish; }

# ---- a bind mount gives another file the allowed program's path --------------------------
OK=$(client allowed) OTHER=$(client other)
ctl rules add --action allow --app "$OK" --until-restart >/dev/null
out=$(in_c "$OK" -t 3000 $S4 8080)
[[ $out == ok* ]] && pass allowed_program_connects || fail allowed_program_connects "$out"
# Both files are ag_connect: only the inode tells them apart.
m0=$(counter exe_mismatch)
out=$(as_user_ns "mount --bind '$OTHER' '$OK' && exec '$OK' -t 1500 $S4 8080" 2>&1)
sleep 0.2
pend=$(ctl pending --json)
np=$(jq '[.[] | select(.remote == "192.0.2.2:8080")] | length' <<<"$pend")
named=$(jq --arg x "$OK" '[.[] | select(.exe == $x)] | length' <<<"$pend")
m1=$(counter exe_mismatch)
if [[ $out == timeout* ]] && [ "$np" -ge 1 ] && [ "$named" = 0 ] && [ "$m1" -gt "$m0" ]; then
	pass bind_mounted_binary_in_user_mount_namespace_is_not_the_rules_program
else
	fail bind_mounted_binary_in_user_mount_namespace_is_not_the_rules_program \
		"client: $out; pending to the server: $np, named $OK: $named; exe_mismatch $m0 -> $m1"
fi
for id in $(jq -r '.[].id' <<<"$pend"); do ctl deny "$id" >/dev/null 2>&1; done

# ---- the rule's program replaced on disk (a new inode at its path) -------------------------
R=$(client replaced)
ctl rules add --action allow --app "$R" --until-restart >/dev/null
out1=$(in_c "$R" -t 3000 $S4 8080)
ln "$R" "$T/old-replaced"		# the old file lives on under another name
ino0=$(stat -c %i "$R")
cp "$TOOLS/ag_connect" "$R.new" && chmod 0755 "$R.new" && mv -f "$R.new" "$R"
ino1=$(stat -c %i "$R")
out2=$(in_c "$R" -t 3000 $S4 8080)
# The old file is no longer the program at that path, even shown there.
out3=$(as_user_ns "mount --bind '$T/old-replaced' '$R' && exec '$R' -t 1500 $S4 8080" 2>&1)
if [[ $out1 == ok* ]] && [ "$ino0" != "$ino1" ] && [[ $out2 == ok* ]] && [[ $out3 == timeout* ]]; then
	pass rule_program_replaced_on_disk_is_resolved_again_and_old_file_is_not_it
else
	fail rule_program_replaced_on_disk_is_resolved_again_and_old_file_is_not_it \
		"before: $out1; inode $ino0 -> $ino1; after: $out2; old file at the path: $out3"
fi
for id in $(ctl pending --json | jq -r '.[].id'); do ctl deny "$id" >/dev/null 2>&1; done

# ---- N short-lived processes at once, one UDP datagram each ---------------------------------
N=200
for i in $(seq 1 $N); do cp "$TOOLS/ag_udp" "$T/bin/udp_$i"; done
# One shell in the namespace starts them all together; each sends one
# datagram to its own port and exits at once.  Nothing allows them: each
# flow is pended, and must name its own executable.
in_c sh -c "for i in \$(seq 1 $N); do '$T/bin/udp_'\$i $S4 \$((20000 + i)) >/dev/null & done; wait"
wait_for 10 bash -c "[ \"\$('$ALEGATECTL' -s '$SOCK' pending --json | jq '[.[] | select(.proto == \"udp\")] | length')\" -ge $N ]"
ctl pending --json >"$T/pending.json"
read -r right got wrong < <(jq -r --arg bin "$T/bin" '
	[.[] | select(.proto == "udp") | {port: (.remote | split(":")[1] | tonumber), exe}] as $f |
	($f | map(select(.exe == ($bin + "/udp_" + ((.port - 20000) | tostring)))) | length) as $r |
	"\($r) \($f | length) \([$f[] | select(.exe != ($bin + "/udp_" + ((.port - 20000) | tostring))) | "\(.port):\(.exe)"][:5] | join(","))"' \
	"$T/pending.json")
if [ "$right" = $N ]; then
	pass short_lived_udp_senders_${N}_at_once_each_named_by_its_executable
else
	fail short_lived_udp_senders_${N}_at_once_each_named_by_its_executable \
		"$right of $N named right ($got pended); e.g. $wrong"
fi

daemon_stop TERM

# ---- without eBPF (bpf = no): /proc at each exec, the same refusal --------------------------
rm -rf "$T/d-$NSC"
daemon_start "$NSC" bpf=no pending_timeout=60 || { fail daemon_restart "no daemon"; finish; }
ctl rules add --action allow --app "$OK" --until-restart >/dev/null
out1=$(in_c "$OK" -t 3000 $S4 8080)
out2=$(as_user_ns "mount --bind '$OTHER' '$OK' && exec '$OK' -t 1500 $S4 8080" 2>&1)
named=$(ctl pending --json | jq --arg x "$OK" '[.[] | select(.exe == $x)] | length')
if [[ $out1 == ok* ]] && [[ $out2 == timeout* ]] && [ "$named" = 0 ]; then
	pass bind_mounted_binary_is_not_the_rules_program_with_bpf_no
else
	fail bind_mounted_binary_is_not_the_rules_program_with_bpf_no \
		"allowed program: $out1; bind-mounted: $out2; pending named $OK: $named"
fi
daemon_stop TERM
finish
