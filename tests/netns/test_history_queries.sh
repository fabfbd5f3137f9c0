#!/usr/bin/env bash
# test_history_queries.sh — `history` and `traffic` over a large database:
# they run on query threads, so while a month of rows is summed the daemon
# still answers `status` and decides new connections; queries beyond the
# bound are refused at once ("busy"); `history --host` matches % and _
# literally.
. "$(dirname "$0")/lib.sh"

ns_pair
bg_s "$TOOLS/ag_serve" tcp 0.0.0.0 8080 >"$T/server.log"
wait_for 5 grep -q ready "$T/server.log" || { fail setup "server did not start"; finish; }
mkdir -p "$T/bin"
cp "$TOOLS/ag_connect" "$T/bin/hq_ok"
OK=$T/bin/hq_ok

# the daemon makes the database; a million rows over 15 days go in while it is stopped
daemon_start "$NSC" bpf=no || { fail daemon_start "alegated did not start"; finish; }
daemon_stop TERM
DB=$T/d-$NSC/state/history.db
ROWS=1000000
now=$(date +%s%3N)
sqlite3 "$DB" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS - 1)
	INSERT INTO conn(time_ms, exe, pid, uid, proto, direction, local, remote, host, action,
		rule, decided, end_ms, bytes_in, bytes_out)
	SELECT $now - ($ROWS - 1 - i) * 1290 - 60000, '/usr/bin/app' || (i % 5), 1000 + i % 30000,
		1000, 'tcp', 'out', '192.0.2.1:40000', '198.51.100.' || (i % 250) || ':443', NULL,
		'allow', NULL, 'rule', $now - ($ROWS - 1 - i) * 1290 - 58500, 4096, 512 FROM n;
	INSERT INTO conn(time_ms, exe, proto, direction, remote, host, action, decided)
	VALUES ($now - 30000, '/usr/bin/hosts', 'tcp', 'out', '198.51.100.1:443', 'www.x.example', 'allow', 'rule'),
	       ($now - 29000, '/usr/bin/hosts', 'tcp', 'out', '198.51.100.2:443', 'a.b%c.example', 'allow', 'rule'),
	       ($now - 28000, '/usr/bin/hosts', 'tcp', 'out', '198.51.100.3:443', 'a.b_c.example', 'allow', 'rule');" ||
	{ fail setup "sqlite3 could not fill $DB"; finish; }
daemon_start "$NSC" bpf=no || { fail daemon_restart "alegated did not start again"; finish; }
ctl rules add --action allow --app "$OK" --always >/dev/null

ms_now() { date +%s%3N; }

# two `traffic` over every row at once, one per query thread; status and a
# new connection meanwhile
t0=$(ms_now)
for i in 1 2; do
	(ctl traffic --json >"$T/traffic$i" 2>&1; ms_now >"$T/traffic$i.end") &
	_ag_bg_pids+=($!)
done
sleep 0.2
s0=$(ms_now)
st=$(ctl status --json)
s1=$(ms_now)
st=$(jq -r .version <<<"$st")
out=$(in_c "$OK" -t 3000 $S4 8080)
c1=$(ms_now)
wait_for 60 bash -c "ls '$T'/traffic?.end 2>/dev/null | wc -l | grep -qx 2"
first_end=$(cat "$T"/traffic?.end | sort -n | head -1)
last_end=$(cat "$T"/traffic?.end | sort -n | tail -1)
echo "# status in $((s1 - s0)) ms, connect in $((c1 - s1)) ms; traffic answered $((first_end - t0))-$((last_end - t0)) ms after asking"
# both answers fast, and before the queries ended (else this proved nothing)
if [ -n "$st" ] && [ "$st" != null ] && [ $((s1 - s0)) -lt 500 ] &&
	[[ $out == ok* ]] && [ $((c1 - s1)) -lt 1000 ] && [ "$c1" -lt "$last_end" ]; then
	pass status_and_new_connections_are_served_while_a_traffic_query_runs
else
	fail status_and_new_connections_are_served_while_a_traffic_query_runs \
		"status \"$st\" in $((s1 - s0)) ms, connect \"$out\" in $((c1 - s1)) ms, done $((c1 - t0)) ms after asking, the queries $((last_end - t0)) ms"
fi
bad=
for i in 1 2; do
	jq -e --argjson n $ROWS 'map(select(.exe | tostring | startswith("/usr/bin/app"))) |
		(map(.connections) | add) == $n and length == 5' "$T/traffic$i" >/dev/null || bad="$bad $i"
done
[ -z "$bad" ] && pass traffic_from_a_query_thread_counts_every_row ||
	fail traffic_from_a_query_thread_counts_every_row "answers$bad: $(head -c 600 "$T/traffic${bad##* }")"

# past the bound (16 under way), a query is refused at once, not queued:
# two long ones hold the two threads while sixteen short ones come
for i in $(seq 1 18); do
	since=1h
	[ "$i" -le 2 ] && since=30d
	(ctl traffic --since $since --json >"$T/many$i" 2>&1; echo $? >"$T/many$i.rc") &
	_ag_bg_pids+=($!)
	[ "$i" = 2 ] && sleep 0.3
done
wait_for 60 bash -c "ls '$T'/many*.rc 2>/dev/null | wc -l | grep -qx 18"
busy=$(grep -l "queries are under way" "$T"/many* 2>/dev/null | wc -l)
okn=$(for i in $(seq 1 18); do jq -e 'type == "array" and length >= 1' "$T/many$i" >/dev/null 2>&1 && echo; done | wc -l)
echo "# 18 at once: $okn answered, $busy refused as busy"
if [ "$busy" -ge 1 ] && [ $((okn + busy)) = 18 ] && [ "$okn" -ge 16 ]; then
	pass queries_beyond_the_bound_are_refused_busy
else
	fail queries_beyond_the_bound_are_refused_busy "$okn answered, $busy busy: $(cat "$T"/many*)"
fi

# --host: the name or a subdomain of it, % and _ as themselves
hosts() { ctl history --json --app /usr/bin/hosts --host "$1" | jq -c '[.[].host]'; }
a=$(hosts x.example) b=$(hosts _.example) c=$(hosts %) d=$(hosts 'b%c.example') e=$(hosts 'b_c.example')
if [ "$a" = '["www.x.example"]' ] && [ "$b" = '[]' ] && [ "$c" = '[]' ] &&
	[ "$d" = '["a.b%c.example"]' ] && [ "$e" = '["a.b_c.example"]' ]; then
	pass history_host_matches_percent_and_underscore_literally
else
	fail history_host_matches_percent_and_underscore_literally \
		"x.example $a, _.example $b, % $c, b%c.example $d, b_c.example $e"
fi

# alegate-web: a month's traffic for the Traffic page does not hold the
# other pages (status, pending, answers) behind it: status answers in less
# than half the time the traffic still takes
"$AG_BUILD/alegate-web" -s "$SOCK" --listen 127.0.0.1:0 >"$T/web.url" 2>"$T/web.err" &
_ag_bg_pids+=($!)
if wait_for 5 grep -q '^http://' "$T/web.url"; then
	url=$(head -1 "$T/web.url")
	base=${url%%/\?*} auth="Authorization: Bearer ${url##*token=}"
	(curl -s -H "$auth" "$base/api/traffic?since=2592000&bucket=86400" >"$T/web.traffic"
	 ms_now >"$T/web.traffic.end") &
	_ag_bg_pids+=($!)
	sleep 0.2
	w0=$(ms_now)
	code=$(curl -s -o "$T/web.status" -w '%{http_code}' -H "$auth" "$base/api/status")
	w1=$(ms_now)
	wait_for 60 test -s "$T/web.traffic.end"
	tend=$(cat "$T/web.traffic.end")
	echo "# web: status in $((w1 - w0)) ms, traffic answered $((tend - w0 + 200)) ms after asking"
	if [ "$code" = 200 ] && jq -e .version "$T/web.status" >/dev/null && [ $((2 * (w1 - w0))) -lt $((tend - w0)) ] &&
	   jq -e --argjson n $ROWS '[.[] | select(.exe | tostring | startswith("/usr/bin/app")) |
		.connections] | add == $n' "$T/web.traffic" >/dev/null; then
		pass web_status_is_served_while_a_months_traffic_is_summed
	else
		fail web_status_is_served_while_a_months_traffic_is_summed \
			"status $code in $((w1 - w0)) ms, traffic done $((tend - w0)) ms after it: $(head -c 300 "$T/web.traffic")"
	fi
else
	fail web_status_is_served_while_a_months_traffic_is_summed "alegate-web: $(cat "$T/web.err")"
fi

daemon_stop_clean
finish
