#!/usr/bin/env bash
# test_install.sh — make install puts every piece in place under DESTDIR and
# PREFIX, and a second install keeps what the administrator changed.
. "$(dirname "$0")/lib.sh"

D=$T/root
inst() { make -s -C "$AG_TOP" O="$AG_BUILD" install DESTDIR="$D" PREFIX=/usr UNITDIR=/lib/systemd/system >"$T/install.log" 2>&1; }

if inst; then pass make_install_succeeds; else fail make_install_succeeds "$(tail -5 "$T/install.log")"; fi
missing=
for f in usr/sbin/alegated usr/bin/alegatectl usr/share/man/man8/alegated.8 \
	 usr/share/man/man8/alegatectl.8 usr/share/man/man5/alegate.conf.5 \
	 lib/systemd/system/alegated.service usr/share/bash-completion/completions/alegatectl \
	 etc/alegate/alegate.conf etc/alegate/rules.d/dns-udp.json; do
	[ -e "$D/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass every_file_is_installed || fail every_file_is_installed "missing:$missing"
grep -q "^ExecStart=/usr/sbin/alegated -d" "$D/lib/systemd/system/alegated.service" &&
	pass systemd_unit_names_the_installed_daemon ||
	fail systemd_unit_names_the_installed_daemon "$(grep ExecStart "$D/lib/systemd/system/alegated.service")"
"$D/usr/sbin/alegated" --version | grep -q "^alegated " && "$D/usr/bin/alegatectl" --help >/dev/null &&
	pass installed_binaries_run || fail installed_binaries_run "no version"

# the control group alegate-web.service joins: a sysusers.d file that
# systemd-sysusers turns into a group, here in the staged tree's /etc/group
SU=$D/usr/lib/sysusers.d/alegate.conf
web_group=$(sed -n 's/^SupplementaryGroups=//p' "$D/lib/systemd/system/alegate-web.service")
if [ -f "$SU" ] && [ -n "$web_group" ] && systemd-sysusers --root="$D" "$SU" >"$T/sysusers.log" 2>&1 &&
	grep -q "^$web_group:" "$D/etc/group"; then
	pass install_creates_the_group_the_web_unit_names
else
	fail install_creates_the_group_the_web_unit_names \
		"unit's group \"$web_group\", $(cat "$SU" "$T/sysusers.log" "$D/etc/group" 2>&1 | tr '\n' ' ')"
fi

# the administrator changes the configuration and deletes a default rule
echo "# changed by the admin" >>"$D/etc/alegate/alegate.conf"
rm "$D/etc/alegate/rules.d/dns-tcp.json"
inst
if grep -q "changed by the admin" "$D/etc/alegate/alegate.conf" && [ ! -e "$D/etc/alegate/rules.d/dns-tcp.json" ]; then
	pass reinstall_keeps_the_configuration_and_deleted_rules_stay_deleted
else
	fail reinstall_keeps_the_configuration_and_deleted_rules_stay_deleted "overwritten"
fi
for m in alegated.8 alegatectl.8; do
	man --warnings -l "$D/usr/share/man/man8/$m" >/dev/null 2>"$T/man.err" || true
done
man --warnings -l "$D/usr/share/man/man5/alegate.conf.5" >/dev/null 2>>"$T/man.err" || true
[ ! -s "$T/man.err" ] && pass man_pages_render_without_warnings || fail man_pages_render_without_warnings "$(head -5 "$T/man.err")"
# The unit goes where PREFIX says unless UNITDIR is given.
n=$(make -s -n -C "$AG_TOP" O="$AG_BUILD" install DESTDIR="$T/d2" PREFIX=/opt/ag 2>/dev/null |
	grep -c "> $T/d2/opt/ag/lib/systemd/system/alegated.service")
[ "$n" = 1 ] && pass systemd_unit_directory_follows_prefix ||
	fail systemd_unit_directory_follows_prefix "$(make -s -n -C "$AG_TOP" O="$AG_BUILD" install DESTDIR="$T/d2" PREFIX=/opt/ag 2>&1 | grep alegated.service)"
finish
