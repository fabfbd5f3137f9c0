#!/usr/bin/env bash
# test_package.sh — the Debian packages: debian/ builds them with
# dpkg-buildpackage, lintian finds no error or warning, `apt-get install
# ./…deb` installs the daemon, CLI, web UI, notifier, units and man pages
# without enabling or starting anything, the installed alegated checks the
# shipped configuration (`alegated -n`), and a purge takes it all away.
#
# It installs on this machine, then purges: a configuration in
# /etc/alegate that a `make install` left is moved aside and put back,
# whatever happens.  Refuses to run where alegate is installed as a package.
# No network namespace: nothing here sends a packet.
. "$(dirname "$0")/lib.sh"

export DEBIAN_FRONTEND=noninteractive
PKGS="alegate alegate-web alegate-notify alegate-dev"
for p in $PKGS; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		fail package_test_can_run "$p is installed as a package here; this test installs and purges it"
		finish
	fi
done
# the packaging tools: in the test, not in bootstrap (only this test needs them)
if ! command -v dpkg-buildpackage >/dev/null || ! command -v lintian >/dev/null ||
   ! dpkg-query -W -f='${Status}' debhelper 2>/dev/null | grep -q "ok installed"; then
	apt-get install -y -q --no-install-recommends debhelper devscripts lintian fakeroot \
		>"$T/apt-tools.log" 2>&1 ||
		{ fail packaging_tools_install "$(tail -5 "$T/apt-tools.log")"; finish; }
fi

# build from a copy: the worktree keeps no build output
mkdir -p "$T/pkg/src"
tar -C "$AG_TOP" --exclude='./build*' --exclude=./.git --exclude=./tests/web/node_modules \
	-cf - . | tar -C "$T/pkg/src" -xf -
chmod 0755 "$T" "$T/pkg"
if (cd "$T/pkg/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) nocheck noautodbgsym" \
	dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1); then
	pass dpkg_buildpackage_builds_the_packages
else
	fail dpkg_buildpackage_builds_the_packages "$(tail -15 "$T/build.log" | tr '\n' ' ')"
	finish
fi
debs=()
for p in $PKGS; do debs+=("$T/pkg/${p}_"*.deb); done
if lintian --fail-on error,warning "$T/pkg/"*.changes >"$T/lintian.log" 2>&1; then
	pass lintian_finds_no_error_or_warning
else
	fail lintian_finds_no_error_or_warning "$(grep -E '^[EW]:' "$T/lintian.log" | head -10 | tr '\n' ' ')"
fi

# /etc/alegate of a `make install`: aside while the packages are here
restore_etc() {
	if [ -e "$T/etc-alegate" ]; then
		rm -rf /etc/alegate
		mv "$T/etc-alegate" /etc/alegate
	fi
}
purge() { apt-get purge -y -q $PKGS >"$T/purge.log" 2>&1; }
# the package creates the alegate group and, as Debian does, leaves it at
# purge: removed here when this test made it
had_group=$(getent group alegate)
drop_group() { [ -n "$had_group" ] || groupdel alegate 2>/dev/null || true; }
trap 'purge; restore_etc; drop_group; _ag_cleanup' EXIT
[ -e /etc/alegate ] && mv /etc/alegate "$T/etc-alegate"

if apt-get install -y -q --no-install-recommends "${debs[@]}" >"$T/install.log" 2>&1; then
	pass apt_get_install_of_the_debs_succeeds
else
	fail apt_get_install_of_the_debs_succeeds "$(tail -10 "$T/install.log" | tr '\n' ' ')"
	finish
fi
missing=
for f in /usr/sbin/alegated /usr/bin/alegatectl /usr/bin/alegate-web /usr/bin/alegate-notify \
	/lib/systemd/system/alegated.service /lib/systemd/system/alegate-web.service \
	/usr/lib/systemd/user/alegate-notify.service /etc/xdg/autostart/alegate-notify.desktop \
	/usr/share/man/man8/alegated.8.gz /usr/share/man/man8/alegatectl.8.gz \
	/usr/share/man/man8/alegate-web.8.gz /usr/share/man/man1/alegate-notify.1.gz \
	/usr/share/man/man5/alegate.conf.5.gz /etc/alegate/alegate.conf /usr/lib/sysusers.d/alegate.conf \
	/etc/alegate/rules.d/dns-udp.json /usr/share/doc/alegate/copyright \
	/usr/include/alegate/wfp.h /usr/include/alegate/engine.h /usr/include/alegate/addr.h; do
	[ -e "$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && pass package_installs_daemon_cli_web_notifier_units_man_pages_and_headers ||
	fail package_installs_daemon_cli_web_notifier_units_man_pages_and_headers "missing:$missing"
# the group alegate-web.service joins exists: systemd would start the unit
web_group=$(sed -n 's/^SupplementaryGroups=//p' /lib/systemd/system/alegate-web.service)
if [ -e /usr/lib/sysusers.d/alegate.conf ] && [ -n "$web_group" ] && getent group "$web_group" >/dev/null &&
	grep -q "^g $web_group " /usr/lib/sysusers.d/alegate.conf; then
	pass package_creates_the_group_the_web_unit_names
else
	fail package_creates_the_group_the_web_unit_names \
		"unit's group \"$web_group\": $(getent group "$web_group" || echo missing); $(cat /usr/lib/sysusers.d/alegate.conf 2>&1 | tail -1)"
fi
out=$(/usr/sbin/alegated -n 2>&1)
[ "$out" = "configuration OK" ] && pass installed_alegated_n_checks_the_shipped_configuration ||
	fail installed_alegated_n_checks_the_shipped_configuration "$out"
# a firewall that holds every connection is started by its administrator
if [ ! -e /etc/systemd/system/multi-user.target.wants/alegated.service ] &&
	[ ! -e /etc/systemd/system/multi-user.target.wants/alegate-web.service ] &&
	! pgrep -x alegated -u 0 -P 1 >/dev/null; then
	pass package_enables_and_starts_nothing
else
	fail package_enables_and_starts_nothing "$(ls /etc/systemd/system/multi-user.target.wants/ 2>&1)"
fi
if purge && [ ! -e /usr/sbin/alegated ] && [ ! -e /etc/alegate ] &&
	! dpkg-query -W alegate 2>/dev/null | grep -q .; then
	pass purge_removes_the_packages_and_their_configuration
else
	fail purge_removes_the_packages_and_their_configuration "$(tail -5 "$T/purge.log" | tr '\n' ' ')"
fi
finish
