#!/usr/bin/env bash
# test_sha256.sh — a rule with a sha256 lets through the program whose file
# has that checksum, and nothing else: not another file put at its path
# (a new inode), not the same file rewritten in place with its old mtime
# set back.  Those are asked about, never allowed.  A rule of the checksum
# alone follows the file wherever it is copied.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp :: 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
chmod 0755 "$T/bin"
counter() { ctl status --json | jq ".counters.$1"; }
deny_pending() { for id in $(ctl pending --json | jq -r '.[].id'); do ctl deny "$id" >/dev/null 2>&1; done; }
pended_as() { ctl pending --json | jq --arg x "$1" '[.[] | select(.exe == $x and .remote == "192.0.2.2:8080")] | length'; }

# Two builds of one program of the same size: the same code and one byte
# more, 'y' or 'x', so both run and connect, with different checksums.
P=$T/bin/prog
cp "$TOOLS/ag_connect" "$T/right" && printf 'y' >>"$T/right" && chmod 0755 "$T/right"
cp "$TOOLS/ag_connect" "$T/other" && printf 'x' >>"$T/other" && chmod 0755 "$T/other"
cp "$T/right" "$P"
H=$(sha256sum "$P" | cut -d' ' -f1)

daemon_start "$NSC" pending_timeout=60 || { fail daemon_start "alegated did not start"; finish; }

# ---- the rule's file connects; its checksum is kept in lower case --------------------------
id=$(ctl --json rules add --action allow --app "$P" --sha256 "${H^^}" --until-restart | jq -r .rule)
shown=$(ctl --json rules show "$id" | jq -r '.rule.sha256 // .sha256')
out=$(in_c "$P" -t 3000 $S4 8080)
hashed=$(counter exe_hashed)
if [[ $out == ok* ]] && [ "$shown" = "$H" ] && [ "$hashed" -ge 1 ]; then
	pass rule_with_the_programs_sha256_allows_it
else
	fail rule_with_the_programs_sha256_allows_it "client: $out; rule shows $shown (want $H); hashed $hashed"
fi

# ---- another file at the rule's path (a new inode) ---------------------------------------
out0=$(in_c "$P" -t 3000 $S4 8080)
cp "$T/other" "$P.new" && mv -f "$P.new" "$P"
out=$(in_c "$P" -t 1500 $S4 8080)
np=$(pended_as "$P")
if [[ $out0 == ok* ]] && [[ $out == timeout* ]] && [ "$np" -ge 1 ]; then
	pass binary_replaced_at_the_rules_path_is_asked_not_allowed
else
	fail binary_replaced_at_the_rules_path_is_asked_not_allowed \
		"rule's file: $out0; the new file: $out; pended as $P: $np"
fi
deny_pending

# ---- the right file again, then rewritten in place, its mtime set back -------------------
# Same inode, same size, same mtime: only the ctime (which no one can set
# back) tells the new content from the old.
cp "$T/right" "$P.new" && mv -f "$P.new" "$P"
out1=$(in_c "$P" -t 3000 $S4 8080)
ino0=$(stat -c %i "$P")
touch -r "$P" "$T/stamp"
cat "$T/other" >"$P"
touch -r "$T/stamp" "$P"
ino1=$(stat -c %i "$P")
m0=$(stat -c %y "$T/stamp") m1=$(stat -c %y "$P")
s0=$(stat -c %s "$T/right") s1=$(stat -c %s "$P")
out2=$(in_c "$P" -t 1500 $S4 8080)
np=$(pended_as "$P")
if [[ $out1 == ok* ]] && [ "$ino0" = "$ino1" ] && [ "$m0" = "$m1" ] && [ "$s0" = "$s1" ] &&
   [[ $out2 == timeout* ]] && [ "$np" -ge 1 ]; then
	pass binary_rewritten_in_place_with_its_old_mtime_is_asked_not_allowed
else
	fail binary_rewritten_in_place_with_its_old_mtime_is_asked_not_allowed \
		"right file: $out1; inode $ino0 -> $ino1, mtime $m0 -> $m1, size $s0 -> $s1; rewritten: $out2; pended: $np"
fi
deny_pending

# ---- a rule of the checksum alone: the same file anywhere, no other -----------------------
id=$(ctl --json rules add --action allow --sha256 "$H" --until-restart | jq -r .rule)
name=$(ctl --json rules show "$id" | jq -r '.rule.name // .name')
cp "$T/right" "$T/bin/copy"
out1=$(in_c "$T/bin/copy" -t 3000 $S4 8080)
cp "$T/other" "$T/bin/copy2"
out2=$(in_c "$T/bin/copy2" -t 1500 $S4 8080)
# its default name says which program, not "any program"
if [[ $out1 == ok* ]] && [[ $out2 == timeout* ]] && [ "$name" = "sha256 ${H:0:12}... to anywhere" ]; then
	pass sha256_rule_alone_allows_that_file_at_any_path_and_no_other
else
	fail sha256_rule_alone_allows_that_file_at_any_path_and_no_other \
		"copy: $out1; other file: $out2; named \"$name\""
fi
deny_pending
daemon_stop TERM

# ---- a program over sha256_max_size is not hashed: asked, and said in the log -------------
rm -rf "$T/d-$NSC"
daemon_start "$NSC" pending_timeout=60 sha256_max_size=1M || { fail daemon_restart "no daemon"; finish; }
B=$T/bin/big
cp "$TOOLS/ag_connect" "$B" && head -c 1100000 /dev/zero >>"$B" && chmod 0755 "$B"
ctl rules add --action allow --app "$B" --sha256 "$(sha256sum "$B" | cut -d' ' -f1)" \
	--until-restart >/dev/null
out=$(in_c "$B" -t 1500 $S4 8080)
big=$(counter exe_hash_too_large)
if [[ $out == timeout* ]] && [ "$big" = 1 ] &&
   grep -q "runs $B, larger than sha256_max_size (1048576 bytes)" "$T/d-$NSC/daemon.log"; then
	pass program_over_sha256_max_size_is_asked_not_allowed_and_logged
else
	fail program_over_sha256_max_size_is_asked_not_allowed_and_logged \
		"client: $out; too large: $big; log: $(grep -c sha256_max_size "$T/d-$NSC/daemon.log")"
fi
deny_pending
daemon_stop TERM
finish
