#!/usr/bin/env bash
# tests/web/screenshots.sh [OUTDIR] — remake docs/img/web-*.png: a daemon
# guarding a test namespace, a few programs waiting, some rules and live
# connections, and every page of alegate-web photographed by chromium.
# As root, after `make tests` (not a test: it checks nothing).
source "$(dirname "$0")/../netns/lib.sh"
out=$(cd "${1:-$AG_TOP/docs/img}" && pwd)
ns_pair
for p in 22 80 443 5222; do bg_s "$TOOLS/ag_serve" tcp $S4 $p >"$T/serve$p.log"; done
sleep 0.3
daemon_start "$NSC" bpf=off pending_timeout=120 || exit 1
mkdir -p "$T/usr/bin" "$T/usr/lib/firefox-esr"
prog() { cp "$TOOLS/ag_connect" "$T/$1"; echo "$T/$1"; }
FF=$(prog usr/lib/firefox-esr/firefox-esr) CURL=$(prog usr/bin/curl) SSH=$(prog usr/bin/ssh)
APT=$(prog usr/bin/apt-get) XMPP=$(prog usr/bin/dino) SYNC=$(prog usr/bin/syncthing)
ctl rules add --action allow --app "$FF" --proto tcp --port 443 --name "Firefox to the web" >/dev/null
ctl rules add --action allow --app "$APT" --port 80 --name "package updates" --until-restart >/dev/null
ctl rules add --action deny --app "$SYNC" --direction out --name "no sync on this network" >/dev/null
ctl rules add --action allow --user 1000 --port 5222 --proto tcp --for 2h --name "chat, for now" >/dev/null
for i in 1 2 3; do bg_c "$FF" -w -t 600000 $S4 443 >/dev/null; done
bg_c "$APT" -w -t 600000 $S4 80 >/dev/null
"$AG_BUILD/alegate-web" -s "$SOCK" --listen 127.0.0.1:0 >"$T/url" 2>"$T/web.err" &
_ag_bg_pids+=($!)
wait_for 5 grep -q http "$T/url"
sleep 0.5
bg_c "$CURL" -t 600000 $S4 443 >/dev/null
sleep 0.2
bg_c "$SSH" -t 600000 $S4 22 >/dev/null
sleep 0.2
bg_c "$XMPP" -t 600000 $S4 5222 >/dev/null
sleep 0.2
bg_c "$CURL" -t 600000 $S4 80 >/dev/null
wait_pending 4
node "$AG_TOP/tests/web/shots.js" "$(cat "$T/url")" "$out"
