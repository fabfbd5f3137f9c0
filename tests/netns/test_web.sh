#!/usr/bin/env bash
# test_web.sh — alegate-web against a real alegated guarding a namespace:
# its HTTP API and security checks with curl, then the page in a real
# browser (tests/web/web_test.js: Debian's chromium driven by playwright-core).
source "$(dirname "$0")/lib.sh"

WEB=$AG_BUILD/alegate-web
WEBDIR=$AG_TOP/tests/web
[ -x "$WEB" ] || { fail web_binary "missing $WEB (make)"; finish; }
for tool in curl jq node npm /usr/bin/chromium; do
	command -v "$tool" >/dev/null || { fail web_tools "$tool is needed (scripts/bootstrap installs it)"; finish; }
done
# playwright-core from the committed lock file, once per change of it
if [ ! -e "$WEBDIR/node_modules/.lock-stamp" ] ||
   ! cmp -s "$WEBDIR/package-lock.json" "$WEBDIR/node_modules/.lock-stamp"; then
	(cd "$WEBDIR" && npm ci --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1) ||
		{ fail web_npm_ci "npm ci failed: $(tail -3 "$T/npm.log")"; finish; }
	cp "$WEBDIR/package-lock.json" "$WEBDIR/node_modules/.lock-stamp"
fi

ns_pair
bg_s "$TOOLS/ag_serve" tcp $S4 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
daemon_start "$NSC" || { fail daemon_start "alegated did not start"; finish; }
mkdir -p "$T/bin"
cp "$TOOLS/ag_connect" "$T/bin/ag_connect"
client() { cp "$TOOLS/ag_connect" "$T/bin/$1"; echo "$T/bin/$1"; }

# web_start NAME ARGS... — alegate-web on a free loopback port; sets URL, TOKEN, BASE.
web_start() {
	local name=$1; shift
	"$WEB" -s "$SOCK" --listen 127.0.0.1:0 "$@" >"$T/$name.url" 2>"$T/$name.err" &
	WEB_PID=$!
	_ag_bg_pids+=($WEB_PID)
	wait_for 5 grep -q '^http://' "$T/$name.url" || { echo "# $(cat "$T/$name.err")"; return 1; }
	URL=$(head -1 "$T/$name.url")
	TOKEN=${URL##*token=}
	BASE=${URL%%/\?*}
}
web_start w || { fail web_start "alegate-web did not print its URL"; finish; }
HOSTPORT=${BASE#http://}

# get PATH [CURL ARGS...] — sets code and body
req() {
	local method=$1 path=$2; shift 2
	body=$(curl -s -o - -w '\n%{http_code}' -X "$method" "$@" "$BASE$path")
	code=${body##*$'\n'}
	body=${body%$'\n'*}
}
auth=(-H "Authorization: Bearer $TOKEN")

# ---- the printed line, the token ----------------------------------------------------------
if [ "$(wc -l <"$T/w.url")" = 1 ] && [[ $URL =~ ^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$ ]]; then
	pass prints_one_line_the_url_with_a_128_bit_token
else
	fail prints_one_line_the_url_with_a_128_bit_token "$(cat "$T/w.url")"
fi

# ---- who may ask ------------------------------------------------------------------------------
bad=
for p in / /app.js /api/status /api/pending /api/rules /api/flows /api/events /metrics; do
	req GET "$p"
	[ "$code" = 401 ] || bad+=" $p:$code"
done
req POST /api/rules -H 'Content-Type: application/json' -d '{"action":"allow"}'
[ "$code" = 401 ] || bad+=" POST:$code"
case $TOKEN in *0) wrong=${TOKEN%?}1 ;; *) wrong=${TOKEN%?}0 ;; esac
req GET /api/status -H "Authorization: Bearer $wrong"
[ "$code" = 401 ] || bad+=" wrong-token:$code"
req GET /api/status -H "Host: rebind.example"
[ "$code" = 401 ] || bad+=" rebound-host-without-token:$code"
[ -z "$bad" ] && pass every_request_without_the_token_gets_401 ||
	fail every_request_without_the_token_gets_401 "$bad"

req GET /api/status "${auth[@]}"
if [ "$code" = 200 ] && jq -e '.backend and .counters.pends >= 0' <<<"$body" >/dev/null; then
	pass bearer_token_reads_status
else
	fail bearer_token_reads_status "$code $body"
fi

hdrs=$(curl -s -D - -o /dev/null "$BASE/?token=$TOKEN")
if grep -qi "^Set-Cookie: alegate_web_${HOSTPORT#*:}=$TOKEN; Path=/; HttpOnly; SameSite=Strict" <<<"$hdrs" &&
   grep -qi '^Location: /\s*$' <<<"$hdrs" && grep -q '^HTTP/1.1 303' <<<"$hdrs"; then
	pass token_url_trades_the_token_for_an_httponly_strict_cookie
else
	fail token_url_trades_the_token_for_an_httponly_strict_cookie "$hdrs"
fi
req GET /api/status -b "alegate_web_${HOSTPORT#*:}=$TOKEN"
check cookie_alone_is_enough_for_the_page test "$code" = 200

nrules() { ctl rules list --json | jq length; }
n0=$(nrules)
req POST /api/rules "${auth[@]}" -H 'Origin: http://evil.example' -H 'Content-Type: application/json' \
	-d '{"action":"allow","app":"/x"}'
c1=$code
req POST /api/rules "${auth[@]}" -H "Origin: http://localhost:1" -d '{"action":"allow","app":"/x"}'
c2=$code
req DELETE /api/rules/x "${auth[@]}" -H 'Sec-Fetch-Site: cross-site'
c3=$code
if [ "$c1$c2$c3" = 403403403 ] && [ "$(nrules)" = "$n0" ]; then
	pass cross_origin_post_with_the_token_gets_403
else
	fail cross_origin_post_with_the_token_gets_403 "codes $c1 $c2 $c3, rules $n0 -> $(nrules)"
fi
req GET /api/status "${auth[@]}" -H "Host: rebind.example:${HOSTPORT#*:}"
c1=$code
req POST /api/rules "${auth[@]}" -H "Host: rebind.example" -H "Origin: http://rebind.example" -d '{}'
if [ "$c1" = 403 ] && [ "$code" = 403 ]; then
	pass dns_rebound_host_name_gets_403
else
	fail dns_rebound_host_name_gets_403 "GET $c1, POST $code"
fi

head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
req POST /api/rules "${auth[@]}" --data-binary @"$T/big.json"
c1=$code
req PATCH /api/rules "${auth[@]}"
c2=$code
req GET /api/nothing "${auth[@]}"
if [ "$c1$c2$code" = 413405404 ] && [ "$(nrules)" = "$n0" ]; then
	pass api_refuses_a_body_over_64k_a_wrong_method_and_an_unknown_path
else
	fail api_refuses_a_body_over_64k_a_wrong_method_and_an_unknown_path "codes $c1 $c2 $code"
fi

# ---- the page: built in, strict CSP --------------------------------------------------------------
ok=1
for f in index.html app.js style.css favicon.svg; do
	curl -s "${auth[@]}" "$BASE/$f" | cmp -s - "$AG_TOP/web/assets/$f" || { ok=0; echo "# /$f differs"; }
done
csp=$(curl -s -D - -o /dev/null "${auth[@]}" "$BASE/")
if [ $ok = 1 ] && grep -q "script-src 'self';" <<<"$csp" && grep -q "default-src 'none'" <<<"$csp" &&
   ! grep -qi "unsafe-inline" <<<"$csp" && ! grep -Eq '<script>|<script [^>]*>[^<]' "$AG_TOP/web/assets/index.html" &&
   ! grep -Eq 'https?://' "$AG_TOP/web/assets/index.html"; then
	pass page_is_built_in_with_a_strict_csp_and_no_inline_script
else
	fail page_is_built_in_with_a_strict_csp_and_no_inline_script "$csp"
fi

# ---- the API -------------------------------------------------------------------------------------
# the event stream, recorded while the rest runs
curl -s -N "${auth[@]}" -H 'Accept: text/event-stream' "$BASE/api/events" >"$T/sse.txt" &
_ag_bg_pids+=($!)
wait_for 5 grep -q 'event: hello' "$T/sse.txt"

A=$(client web_api)
in_c "$A" -t 10000 $S4 8080 >"$T/api.out" &
wait_pending 1
req GET /api/pending "${auth[@]}"
id=$(jq -r --arg a "$A" '.[] | select(.exe == $a) | .id' <<<"$body")
if [ "$code" = 200 ] && [ -n "$id" ]; then pass api_pending_lists_the_held_flow
else fail api_pending_lists_the_held_flow "$code $body"; fi
req POST "/api/pending/$id/allow" "${auth[@]}" -d '{"duration":"for","for":"5x"}'
c1=$code; e1=$body
req POST "/api/pending/$id/allow" "${auth[@]}" -d '{"durration":"always"}'
c2=$code; e2=$body
req POST "/api/pending/$id/allow" "${auth[@]}" -d '{"reject":true}'
c3=$code
if [ "$c1$c2$c3" = 400400400 ] && grep -q '5x' <<<"$e1" && grep -q durration <<<"$e2"; then
	pass api_decide_refuses_bad_fields_naming_them
else
	fail api_decide_refuses_bad_fields_naming_them "$c1 $e1 / $c2 $e2 / $c3"
fi
req POST "/api/pending/$id/allow" "${auth[@]}" -H "Origin: $BASE" -d '{"for":"5m","scope":"app"}'
rule=$(jq -r .rule <<<"$body")
sleep 0.3
if [ "$code" = 200 ] && grep -q '^ok' "$T/api.out" &&
   ctl rules list --json | jq -e --arg r "$rule" --arg a "$A" \
	'any(.[]; .id == $r and .app == $a and .lifetime == "timed" and .expires_in_ms > 290000 and .host == null)' >/dev/null; then
	pass api_allow_for_5m_scope_app_passes_the_flow_and_adds_a_timed_rule
else
	fail api_allow_for_5m_scope_app_passes_the_flow_and_adds_a_timed_rule "$code $body; client $(cat "$T/api.out")"
fi
req POST "/api/pending/99999/deny" "${auth[@]}"
check api_decide_unknown_flow_is_404 test "$code" = 404

if wait_for 3 grep -q "^event: resolved" "$T/sse.txt" &&
   grep -A1 '^event: pending' "$T/sse.txt" | grep -q "\"exe\":\"$A\"" &&
   grep -A1 '^event: event' "$T/sse.txt" | grep -q '"type":"complete"'; then
	pass event_stream_pushes_pending_resolved_and_events_live
else
	fail event_stream_pushes_pending_resolved_and_events_live "$(head -c 600 "$T/sse.txt")"
fi

req POST /api/rules "${auth[@]}" -d '{"action":"deny","app":"/usr/bin/nc","port":25,"proto":"tcp","for":"1h","name":"no mail"}'
r1=$(jq -r .rule <<<"$body"); c1=$code
req POST "/api/rules/$r1/disable" "${auth[@]}"; c2=$code
d=$(ctl rules list --json | jq -r --arg r "$r1" '.[] | select(.id == $r) | "\(.enabled) \(.lifetime)"')
req POST "/api/rules/$r1/enable" "${auth[@]}"; c3=$code
req GET /api/rules "${auth[@]}"
e=$(jq -r --arg r "$r1" '.[] | select(.id == $r) | .enabled' <<<"$body")
req DELETE "/api/rules/$r1" "${auth[@]}"; c4=$code
req DELETE "/api/rules/$r1" "${auth[@]}"; c5=$code
if [ "$c1$c2$c3$c4$c5" = 200200200200404 ] && [ "$d" = "false timed" ] && [ "$e" = true ] &&
   [ -z "$(ctl rules list --json | jq -r --arg r "$r1" '.[] | select(.id == $r) | .id')" ]; then
	pass api_rules_add_disable_enable_delete
else
	fail api_rules_add_disable_enable_delete "codes $c1 $c2 $c3 $c4 $c5, after disable: $d, after enable: $e"
fi

req GET /api/flows "${auth[@]}"
jqok() { jq -e "$1" >/dev/null <<<"$body"; }
check api_flows_is_a_json_array jqok 'type == "array"'
req GET '/api/events?limit=5' "${auth[@]}"
check api_events_without_event_stream_is_the_newest_events \
	jqok 'type == "array" and length == 5 and .[0].seq < .[4].seq'

req GET /metrics "${auth[@]}"
why=
[ "$code" = 200 ] || why+=" status $code"
for want in '^alegate_up 1$' '^alegate_pends_total [0-9]+$' '^alegate_pending_flows [0-9]+$' \
	    '^# TYPE alegate_pends_total counter$'; do
	grep -Eq "$want" <<<"$body" || why+=" no /$want/"
done
other=$(grep -v '^#' <<<"$body" | grep -v '^alegate_' | head -3)
[ -z "$other" ] || why+=" not alegate_: $other"
bare=$(grep '^# TYPE .* counter$' <<<"$body" | grep -v '_total counter$' | head -3)
[ -z "$bare" ] || why+=" counters without _total: $bare"
[ -z "$why" ] && pass metrics_in_prometheus_text_alegate_names_total_counters ||
	fail metrics_in_prometheus_text_alegate_names_total_counters "$why"
why=
for want in '^alegate_history_rows_total [0-9]+$' '^alegate_history_dropped_total 0$' \
	    '^alegate_history_write_errors_total 0$' '^# TYPE alegate_history_rows_total counter$'; do
	grep -Eq "$want" <<<"$body" || why+=" no /$want/"
done
[ -z "$why" ] && pass metrics_count_the_connection_history ||
	fail metrics_count_the_connection_history "$why"
req GET '/api/traffic?since=3600&bucket=60' "${auth[@]}"
check api_traffic_is_bytes_per_program jqok 'type == "array"'
req GET '/api/history?since=3600&limit=5' "${auth[@]}"
check api_history_is_the_newest_connections jqok 'type == "array" and length <= 5'
req GET '/api/traffic?since=soon' "${auth[@]}"
check api_traffic_bad_since_is_400 test "$code" = 400

# ---- the token file, the listening address ---------------------------------------------------------
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
web_start t --token-file "$T/token" || fail token_file_start "$(cat "$T/t.err")"
t1=$TOKEN mode=$(stat -c %a "$T/token")
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
web_start t2 --token-file "$T/token"
t2=$TOKEN
if [ "$mode" = 600 ] && [ "$t1" = "$t2" ] && [ "$(cat "$T/token")" = "$t1" ]; then
	pass token_file_is_mode_0600_and_keeps_the_token_across_restarts
else
	fail token_file_is_mode_0600_and_keeps_the_token_across_restarts "mode $mode, $t1 vs $t2"
fi
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
chmod 0644 "$T/token"
timeout 5 "$WEB" -s "$SOCK" --listen 127.0.0.1:0 --token-file "$T/token" >"$T/t3.out" 2>"$T/t3.err"
rc=$?
if [ $rc = 1 ] && [ ! -s "$T/t3.out" ] && grep -q 0600 "$T/t3.err"; then
	pass token_file_others_can_read_is_refused
else
	fail token_file_others_can_read_is_refused "exit $rc: $(cat "$T/t3.err")"
fi

# outside loopback: refused without --remote; with it, a warning (in the server namespace)
in_s timeout 5 "$WEB" -s "$SOCK" --listen $S4:0 >"$T/r1.out" 2>"$T/r1.err"
rc=$?
in_s timeout 1 "$WEB" -s "$SOCK" --listen $S4:0 --remote >"$T/r2.out" 2>"$T/r2.err"
if [ $rc = 2 ] && grep -q -- --remote "$T/r1.err" && grep -q '^http://192.0.2.2:' "$T/r2.out" &&
   grep -q 'warning' "$T/r2.err"; then
	pass non_loopback_listen_needs_remote_and_warns
else
	fail non_loopback_listen_needs_remote_and_warns "exit $rc: $(cat "$T/r1.err") / $(cat "$T/r2.out" "$T/r2.err")"
fi

# ---- make install --------------------------------------------------------------------------------
D=$T/root
if make -s -C "$AG_TOP" O="$AG_BUILD" install DESTDIR="$D" PREFIX=/usr UNITDIR=/lib/systemd/system \
	WEB_USER_GROUP=alegate >"$T/install.log" 2>&1; then
	u=$D/lib/systemd/system/alegate-web.service
	man --warnings -l "$D/usr/share/man/man8/alegate-web.8" >/dev/null 2>"$T/man.err"
	if [ -x "$D/usr/bin/alegate-web" ] && [ ! -s "$T/man.err" ] &&
	   grep -q '^ExecStart=/usr/bin/alegate-web --token-file ${STATE_DIRECTORY}/token$' "$u" &&
	   grep -q '^DynamicUser=yes$' "$u" && grep -q '^User=alegate-web$' "$u" &&
	   grep -q '^SupplementaryGroups=alegate$' "$u" && grep -q '^CapabilityBoundingSet=$' "$u" &&
	   grep -q '^NoNewPrivileges=yes$' "$u" && grep -q '^IPAddressDeny=any$' "$u"; then
		pass make_install_puts_alegate_web_its_man_page_and_a_hardened_unit
	else
		fail make_install_puts_alegate_web_its_man_page_and_a_hardened_unit "$(cat "$T/man.err"; ls -R "$D" | head -20)"
	fi
else
	fail make_install_puts_alegate_web_its_man_page_and_a_hardened_unit "$(tail -3 "$T/install.log")"
fi

# ---- the page in a real browser ---------------------------------------------------------------------
web_start b || { fail web_start_browser "$(cat "$T/b.err")"; finish; }
AG_URL=$URL AG_NSC=$NSC AG_S4=$S4 AG_BIN=$T/bin AG_CTL=$ALEGATECTL AG_SOCK=$SOCK AG_T=$T \
	AG_SHOTS=${AG_WEB_SHOTS:-} timeout 120 node "$WEBDIR/web_test.js" >"$T/browser.out" 2>&1
rc=$?
cat "$T/browser.out"
grep -q '^not ok' "$T/browser.out" && _ag_failed=1
[ $rc -ne 0 ] && ! grep -q '^not ok' "$T/browser.out" && fail browser_tests "node exited $rc"
finish
