#!/usr/bin/env bash
# Benchmark: a flash crowd. CLIENTS clients start together on one SIZE_MIB artifact; do
# they all finish, and how much of it does the directory's origin copy have to serve?
#
# One directory and three relays on 127.0.0.1; two scenarios, one after the other, with
# the same directory and relays (reused, not restarted):
#   (a) cold   the three relays are up, registered and holding nothing, as volunteers'
#              relays are on release day; the artifact bench/crowd@a is published and,
#              at once, the clients start: nothing but the origin holds it, and the relays
#              learn of it at their next heartbeat. RELAYS_WITH_CROWD=1 starts the relays
#              in the same instant as the clients instead (relays are then unknown to
#              the directory for their first second or so: a plain HTTP user arriving
#              meanwhile has nowhere to go but the origin).
#   (b) warm   a second artifact of the same size, bench/crowd@b (other random bytes),
#              is published; the script waits until the directory lists all three
#              relays among its web seeds, then starts fresh clients in fresh folders.
#              (A second artifact, so that (b)'s clients find no swarm left by (a).)
# Each client has its own folder and its own loopback address (127.0.0.11, .12, ...):
# every connection leaves from it, and it listens there for peers, as each user on the
# internet has an address of its own. A client is
#   odi     odi fetch --directory URL --bind ADDR -o DIR --json bench/crowd@X, whose --json
#           says how many bytes came from peers (relays and other clients over
#           BitTorrent), from web seeds (relays' and origin's /ws/) and over HTTP from the
#           redirector's choice;
#   aria2c  aria2c --interface=ADDR on the .torrent URL (peers and web seeds);
#   qbittorrent  qBittorrent (libtorrent) on the .torrent URL, through qbt-get.sh beside
#           this script: libtorrent does not follow a web seed's redirect, so it uses the
#           relays named in the url-list;
#   curl    curl -fsSL --interface ADDR through the redirector (/r/).
# CROWD=odi (the default) makes every client odi fetch; CROWD=mixed half odi fetch and a
# quarter each aria2c and curl (10, 5 and 5 of 20); CROWD=KIND:N,KIND:N,... any mix, the
# counts adding up to CLIENTS (CROWD=odi:8,aria2c:4,qbittorrent:4,curl:4).
#
# Measured per scenario, from just before the start to the last client's end:
#   - origin egress: odi_directory_origin_bytes_sent_total (the directory's /metrics),
#     divided by the artifact's size.         targets: (a) <= 1.5x, (b) <= 0.05x
#   - clients verified (sha256).              target: all of them
#   - (a): when the directory first listed all three relays as web seeds.
#                                             target: within LISTED_WITHIN s of the start
#     (an absolute bound: "before the last client ended" failed a crowd for being fast,
#     7.26 s against the relays' 7.49 s)
#   - what the relays served: bytes_served in GET /api/v1/relays (their heartbeats,
#     every second here), and what they downloaded (odi_relay_fetched_bytes_total by source
#     on each relay's /metrics);
#   - odi fetch clients' bytes by source, and what other clients must have served them:
#     all bytes delivered (clients' and relays' downloads) less the origin's and relays'.
#   - total time, and per-client throughput (size / that client's wall time): min,
#     median, max.
# It exits non-zero when a client fails or does not verify, or a target is missed.
#
# Usage: scripts/bench/flashcrowd.sh [path/to/odi]    (default bin/odi)
# Environment:
#   SIZE_MIB        artifact size in MiB (default 256)
#   CLIENTS         clients per scenario (default 20, at most 240)
#   CROWD           odi, mixed or KIND:N,... (default odi)
#   RELAYS_WITH_CROWD  1: in (a) the relays start with the clients (default 0)
#   CLIENT_TIMEOUT  seconds a client may take before it is killed and counted failed
#                   (default 1200)
#   FILL_WAIT       seconds to wait in (b) for the relays to hold the artifact (default 600)
# Only 127.0.0.0/8 is used; every process started is killed at exit and the work folder
# (a mktemp -d) removed. Requires curl, sha256sum, timeout (and aria2c, qbittorrent-nox
# for crowds that have them).
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

odi=${1:-bin/odi}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
size_mib=${SIZE_MIB:-256}
clients=${CLIENTS:-20}
client_timeout=${CLIENT_TIMEOUT:-1200}
fill_wait=${FILL_WAIT:-600}
listed_within=${LISTED_WITHIN:-15}
crowd_kind=${CROWD:-odi}
relays_with_crowd=${RELAYS_WITH_CROWD:-0}
relays=3

[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive integer, not '$size_mib'"
[[ $clients =~ ^[1-9][0-9]*$ ]] || die "CLIENTS must be a positive integer, not '$clients'"
[[ $client_timeout =~ ^[1-9][0-9]*$ ]] || die "CLIENT_TIMEOUT must be seconds, not '$client_timeout'"
[[ $fill_wait =~ ^[1-9][0-9]*$ ]] || die "FILL_WAIT must be seconds, not '$fill_wait'"
[[ $listed_within =~ ^[1-9][0-9]*$ ]] || die "LISTED_WITHIN must be seconds, not '$listed_within'"
[[ $relays_with_crowd == 0 || $relays_with_crowd == 1 ]] || die "RELAYS_WITH_CROWD must be 0 or 1, not '$relays_with_crowd'"
((clients <= 240)) || die "CLIENTS must be at most 240 (each has its own 127.0.0.x address)"
[[ -x $odi ]] || die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
odi=$(cd "$(dirname "$odi")" && pwd)/$(basename "$odi")
# kinds[C]: what client C (1-based) runs.
kinds=(-)
case $crowd_kind in
odi) crowd_spec=odi:$clients ;;
mixed) crowd_spec=odi:$((clients / 2)),aria2c:$((clients * 3 / 4 - clients / 2)),curl:$((clients - clients * 3 / 4)) ;;
*) crowd_spec=$crowd_kind ;;
esac
IFS=, read -ra parts <<<"$crowd_spec"
for part in "${parts[@]}"; do
	[[ $part =~ ^(odi|aria2c|qbittorrent|curl):([0-9]+)$ ]] ||
		die "CROWD must be odi, mixed or KIND:N,... with KIND odi, aria2c, qbittorrent or curl; '$part' is not"
	for ((n = 0; n < BASH_REMATCH[2]; n++)); do kinds+=("${BASH_REMATCH[1]}"); done
done
((${#kinds[@]} - 1 == clients)) || die "CROWD '$crowd_kind' names $((${#kinds[@]} - 1)) clients, not CLIENTS=$clients"
tools=(curl sha256sum timeout)
[[ " ${kinds[*]} " == *" aria2c "* ]] && tools+=(aria2c)
[[ " ${kinds[*]} " == *" qbittorrent "* ]] && tools+=(qbittorrent-nox)
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null || die "$tool is missing"
done
size=$((size_mib << 20))
quota_mib=$((size_mib * 2 + 64)) # room for both artifacts

# --- work folder, processes, cleanup ------------------------------------------------------

bench_workdir flashcrowd

mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

echo "machine"
echo "  nproc    $(nproc) (clients, relays and the directory share them)"
echo "  cpu      $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "  memory   $(free -m | awk '/^Mem:/ { print $2 " MiB, " $7 " MiB available" }')"
echo "  uptime   $(uptime)"
echo "  crowd    $clients clients ($crowd_kind) x $size_mib MiB, $relays relays (quota $quota_mib MiB each)"
echo

# The directory hears from relays every second and probes them every second: relays are
# listed soon after they hold an artifact, and bytes_served is at most a second behind.
export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=1s ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1s

"$odi" keygen --out "$work/pub.key" >/dev/null
for ((r = 1; r <= relays; r++)); do "$odi" keygen --out "$work/relay$r.key" >/dev/null; done
"$odi" directory --data "$work/dir" --listen 127.0.0.1:0 --udp-listen off \
	--publisher-key "bench=$work/pub.key.pub" --relay-policy open --allow-private-relay-urls \
	>"$work/dir.out" 2>"$work/dir.log" &
dir_pid=$!
pids+=("$dir_pid")
dir=$(wait_url "$work/dir.out" "$dir_pid" "the directory")
echo "directory at $dir (pid $dir_pid)"
metrics=$(curl -fsS "$dir/metrics")
grep -q '^odi_directory_origin_bytes_sent_total' <<<"$metrics" ||
	die "the directory has no odi_directory_origin_bytes_sent_total metric: rebuild odi"

for v in a b; do
	head -c "$size" /dev/urandom >"$work/crowd-$v.iso"
	sha256sum <"$work/crowd-$v.iso" | cut -d' ' -f1 >"$work/crowd-$v.sha256"
done

# --- measuring helpers --------------------------------------------------------------------

relay_urls=()
relay_pids=()
start_relays() {
	local r
	for ((r = 1; r <= relays; r++)); do
		"$odi" relay --data "$work/relay$r" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$dir" \
			--key "$work/relay$r.key" --quota "${quota_mib}MiB" >"$work/relay$r.out" 2>"$work/relay$r.log" &
		relay_pids+=($!)
		pids+=($!)
	done
}
# wait_relay_urls: waits for each relay started to say where it listens.
wait_relay_urls() {
	local r url
	for ((r = 1; r <= relays; r++)); do
		url=$(wait_url "$work/relay$r.out" "${relay_pids[r - 1]}" "relay $r")
		relay_urls+=("$url")
	done
	echo "  relays at ${relay_urls[*]}"
}
origin_sent() { curl -fsS "$dir/metrics" | awk '/^odi_directory_origin_bytes_sent_total/ { s += $2 } END { printf "%.0f", s }'; }
# relays_served: the sum of bytes_served over the relays the directory knows.
relays_served() {
	curl -fsS "$dir/api/v1/relays" | { grep -o '"bytes_served":[0-9]*' || true; } | cut -d: -f2 |
		awk '{ s += $1 } END { printf "%.0f", s }'
}
# relays_downloaded: "PEERS WEBSEEDS", summed over the relays' /metrics (0 0 before
# they listen).
relays_downloaded() {
	local u p=0 w=0 line
	for u in "${relay_urls[@]}"; do
		line=$(curl -fsS "$u/metrics" | awk '
			/^odi_relay_fetched_bytes_total\{.*source="peers"/ { p = $NF }
			/^odi_relay_fetched_bytes_total\{.*source="webseeds"/ { w = $NF }
			END { printf "%.0f %.0f", p, w }')
		p=$(awk -v a="$p" -v b="${line% *}" 'BEGIN { printf "%.0f", a + b }')
		w=$(awk -v a="$w" -v b="${line#* }" 'BEGIN { printf "%.0f", a + b }')
	done
	echo "$p $w"
}
# listed V: how many relays the directory lists as web seeds of bench/crowd@V.
listed() {
	curl -fsS "$dir/api/v1/artifacts/bench/crowd/$1" | { grep -o '"web_seeds":\[[^]]*\]' || true; } |
		{ grep -o '"http[^"]*"' || true; } | { grep -vc "\"$dir/" || true; }
}
# json_field FILE NAME: the integer NAME in a client's --json output.
json_field() { sed -n "s/.*\"$2\": *\\([0-9]*\\).*/\\1/p" "$1" | head -n1; }

# client_addr C: client C's own loopback address, as each user on the internet has its
# own: the origin hands each address its own pieces, and the tracker lists each peer.
client_addr() { echo "127.0.$((($1 + 10) / 250)).$((($1 + 10) % 250 + 1))"; }

# client_kind C: what client C runs: odi (odi fetch), aria2c or qbittorrent (the .torrent)
# or curl (-L through /r/).
client_kind() { echo "${kinds[$1]}"; }
# client_file V C: where client C puts crowd@V.
client_file() { echo "$work/$1/c$2/crowd-$1.iso"; }
# start_client V C: runs client C on crowd@V, bound to its own address, writing its
# output to $work/V/cC.json (odi fetch's --json) and its log to $work/V/cC.log.
start_client() {
	local v=$1 c=$2 addr
	addr=$(client_addr "$c")
	case $(client_kind "$c") in
	odi)
		exec timeout "$client_timeout" "$odi" fetch --directory "$dir" --bind "$addr" -o "$work/$v/c$c" --json "bench/crowd@$v" \
			>"$work/$v/c$c.json" 2>"$work/$v/c$c.log"
		;;
	aria2c)
		exec timeout "$client_timeout" aria2c --interface="$addr" --enable-dht=false --enable-dht6=false \
			--bt-enable-lpd=false --enable-peer-exchange=false --seed-time=0 --file-allocation=none \
			--listen-port=$((20000 + c)) --console-log-level=warn --summary-interval=0 --bt-stop-timeout=300 \
			-d "$work/$v/c$c" "$dir/t/bench/crowd/$v.torrent" >"$work/$v/c$c.log" 2>&1
		;;
	qbittorrent)
		exec timeout "$client_timeout" "$here/qbt-get.sh" "$addr" $((20000 + 2 * c)) "$dir/t/bench/crowd/$v.torrent" \
			"$work/$v/c$c" >"$work/$v/c$c.log" 2>&1
		;;
	curl)
		mkdir -p "$work/$v/c$c"
		exec timeout "$client_timeout" curl -fsSL --interface "$addr" -o "$(client_file "$v" "$c")" \
			"$dir/r/bench/crowd/$v" >"$work/$v/c$c.log" 2>&1
		;;
	esac
}

failures=0
declare -A report=()

# crowd V: starts the clients on bench/crowd@V together, waits for all, reports.
# START_RELAYS=1 starts the relays in the same instant, just before the clients.
crowd() {
	local v=$1 c r url o0 s0 d0 t0 o1 s1 d1 total ok=0 peers=0 webs=0 httpb=0 others=0 want secs=()
	want=$(cat "$work/crowd-$v.sha256")
	mkdir -p "$work/$v"
	o0=$(origin_sent)
	s0=$(relays_served)
	d0=$(if ((${#relay_urls[@]} > 0)); then relays_downloaded; else echo "0 0"; fi)
	t0=$(now)
	if [[ ${START_RELAYS:-0} == 1 ]]; then start_relays; fi
	for ((c = 1; c <= clients; c++)); do
		(
			s=$(now)
			rc=0
			start_client "$v" "$c" &
			cpid=$!
			trap 'kill "$cpid" 2>/dev/null; exit 143' TERM
			wait "$cpid" || rc=$?
			echo "rc=$rc secs=$(since "$s") end=$(now)" >"$work/$v/c$c.done"
		) &
		pids+=($!)
	done
	if [[ ${START_RELAYS:-0} == 1 ]]; then wait_relay_urls; fi
	echo "  $clients clients started; waiting (at most $client_timeout s each)..."
	local deadline=$((SECONDS + client_timeout + 30)) done_n last_print=$SECONDS all_listed=-
	while :; do
		done_n=$(find "$work/$v" -maxdepth 1 -name 'c*.done' | wc -l)
		if [[ $all_listed == - ]] && (($(listed "$v") == relays)); then
			all_listed=$(since "$t0")
		fi
		((done_n == clients)) && break
		((SECONDS < deadline)) || die "clients did not finish (timeout did not end them?)"
		if ((SECONDS - last_print >= 30)); then
			echo "    $(since "$t0") s: $done_n of $clients done; origin sent $(mib $(($(origin_sent) - o0))) MiB so far; $(listed "$v") relay(s) listed"
			last_print=$SECONDS
		fi
		sleep 0.5
	done
	total=$(awk -v a="$t0" -v b="$(cat "$work/$v"/c*.done | sed -n 's/.*end=//p' | sort -g | tail -n1)" 'BEGIN { printf "%.2f", b - a }')
	sleep 2.5 # the relays' next heartbeats carry what they served until the end
	o1=$(origin_sent)
	s1=$(relays_served)
	d1=$(relays_downloaded)
	# A crowd may end before the relays are listed: their time is measured on, up to the
	# target (after the byte counts, which are the crowd's alone).
	while [[ $all_listed == - ]] && awk -v n="$(since "$t0")" -v w="$listed_within" 'BEGIN { exit !(n <= w) }'; do
		if (($(listed "$v") == relays)); then all_listed=$(since "$t0"); fi
		sleep 0.5
	done

	for ((c = 1; c <= clients; c++)); do
		local line rc t
		line=$(cat "$work/$v/c$c.done")
		rc=$(sed -n 's/^rc=\([0-9]*\).*/\1/p' <<<"$line")
		t=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<<"$line")
		if [[ $rc != 0 ]]; then
			echo "  client $c FAILED (exit $rc after $t s):"
			{ grep -m1 -A8 '^panic\|^fatal error' "$work/$v/c$c.log" || true; } | sed 's/^/    /'
			tail -n 5 "$work/$v/c$c.log" | sed 's/^/    /'
			failures=$((failures + 1))
			continue
		fi
		if [[ $(sha256sum <"$(client_file "$v" "$c")" | cut -d' ' -f1) != "$want" ]]; then
			echo "  client $c: sha256 MISMATCH"
			failures=$((failures + 1))
			continue
		fi
		ok=$((ok + 1))
		secs+=("$t")
		if [[ $(client_kind "$c") != odi ]]; then
			others=$((others + size))
			printf '    client %2d %7.2f s  %s\n' "$c" "$t" "$(client_kind "$c")" >>"$work/$v/clients.txt"
			rm -rf "${work:?}/$v/c$c"
			continue
		fi
		local cp cw ch note seen
		cp=$(json_field "$work/$v/c$c.json" peers)
		cw=$(json_field "$work/$v/c$c.json" web_seeds)
		ch=$(json_field "$work/$v/c$c.json" http)
		peers=$((peers + cp))
		webs=$((webs + cw))
		httpb=$((httpb + ch))
		# odi fetch's notes (a fallback to HTTP...) are its "odi: " lines on stderr; its
		# progress lines, every 5 s, say how many peers and web seeds it is connected to.
		note=$({ grep '^odi: ' "$work/$v/c$c.log" || true; } | tail -n 2 | tr '\n' ' ')
		seen=$(sed -n 's/.*BitTorrent: \([0-9]*\) peers\{0,1\}, \([0-9]*\) web seeds\{0,1\}.*/\1 \2/p' "$work/$v/c$c.log" |
			awk '$1 > p { p = $1 } $2 > w { w = $2 } END { printf "%d peers, %d web seeds", p, w }')
		printf '    client %2d %7.2f s  from peers %4s MiB, web seeds %4s MiB, HTTP %4s MiB; at most %s%s\n' "$c" "$t" \
			"$(mib "$cp")" "$(mib "$cw")" "$(mib "$ch")" "$seen" "${note:+; $note}" >>"$work/$v/clients.txt"
		rm -rf "${work:?}/$v/c$c" # keep the disk use bounded
	done

	local origin=$((o1 - o0)) served=$((s1 - s0)) rdp rdw got stats
	rdp=$(($(cut -d' ' -f1 <<<"$d1") - $(cut -d' ' -f1 <<<"$d0")))
	rdw=$(($(cut -d' ' -f2 <<<"$d1") - $(cut -d' ' -f2 <<<"$d0")))
	got=$((peers + webs + httpb + others))
	stats=$(printf '%s\n' "${secs[@]}" | sort -g | awk -v m="$size_mib" '
		{ v[NR] = m / $1 }
		END {
			if (NR == 0) { print "- - -"; exit }
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			# sorted by seconds ascending, so throughput descending
			printf "%.1f %.1f %.1f", v[NR], med, v[1] }')
	read -r tmin tmed tmax <<<"$stats"
	echo "  done in $total s: $ok of $clients verified; all $relays relays listed after ${all_listed} s"
	[[ -f $work/$v/clients.txt ]] && cat "$work/$v/clients.txt"
	echo "  per-client MiB/s: min $tmin, median $tmed, max $tmax"
	echo "  origin egress: $(mib "$origin") MiB = $(awk -v o="$origin" -v s="$size" 'BEGIN { printf "%.2f", o / s }')x the artifact"
	echo "  relays served: $(mib "$served") MiB (to clients and to each other); downloaded $(mib "$rdp") MiB from peers, $(mib "$rdw") MiB from web seeds"
	echo "  clients got: $(mib "$got") MiB: odi fetch from peers $(mib "$peers") MiB, web seeds $(mib "$webs") MiB," \
		"HTTP fallback $(mib "$httpb") MiB; other clients $(mib "$others") MiB (sources not known)"
	# Bytes delivered to clients and relays, less what the origin and relays sent: what
	# the clients sent each other (an estimate: duplicate and wasted requests blur it).
	local delivered=$((got + rdp + rdw)) p2p
	p2p=$((delivered - origin - served))
	echo "  so the clients sent each other about $(mib "$p2p") MiB (all delivered $(mib "$delivered") MiB - origin - relays)"
	report[$v]="$total $ok $tmin $tmed $tmax $origin $served $got $peers $webs $httpb $p2p $all_listed"
}

# --- (a) cold: the clients start right after the publish -----------------------------------

echo
if [[ $relays_with_crowd == 1 ]]; then
	echo "(a) cold: publish bench/crowd@a, then at once start $relays relays and $clients clients"
else
	echo "(a) cold: start $relays relays (they register and hold nothing), publish bench/crowd@a, then at once start $clients clients"
	start_relays
	wait_relay_urls
	t=$(now)
	until (($(curl -fsS "$dir/api/v1/relays" | { grep -o '"status":"up"' || true; } | wc -l) == relays)); do
		((SECONDS < fill_wait)) || die "the relays did not come up: $(curl -sS "$dir/api/v1/relays")"
		sleep 0.2
	done
	echo "  relays up after $(since "$t") s"
fi
t=$(now)
"$odi" publish --directory "$dir" --key "$work/pub.key" --catalog bench --name crowd --version a -q "$work/crowd-a.iso" >/dev/null
echo "  published in $(since "$t") s"
START_RELAYS=$relays_with_crowd crowd a
echo "  relays listed as web seeds of crowd@a at the end: $(listed a) of $relays"

# --- (b) warm: the relays hold it before the clients start ---------------------------------

echo
echo "(b) warm: publish bench/crowd@b, wait until all $relays relays hold it, then $clients fresh clients"
t=$(now)
"$odi" publish --directory "$dir" --key "$work/pub.key" --catalog bench --name crowd --version b -q "$work/crowd-b.iso" >/dev/null
echo "  published in $(since "$t") s"
t=$(now)
deadline=$((SECONDS + fill_wait))
until (($(listed b) == relays)); do
	((SECONDS < deadline)) || die "after $fill_wait s only $(listed b) of $relays relays hold crowd@b: $(curl -sS "$dir/api/v1/relays")"
	sleep 0.5
done
echo "  all $relays relays listed after $(since "$t") s"
sleep 2.5 # let the fill's last heartbeats arrive before the baseline is read
crowd b

# --- report -------------------------------------------------------------------------------

echo
printf '%-9s %8s %9s %26s %10s %8s %8s %8s %8s %8s\n' scenario "total s" verified "client MiB/s min/med/max" \
	"origin x" "relays" "peers" "webseeds" "http" "p2p est"
for v in a b; do
	[[ -n ${report[$v]:-} ]] || continue
	read -r total ok tmin tmed tmax origin served got peers webs httpb p2p <<<"${report[$v]}"
	label=cold
	[[ $v == b ]] && label=warm
	share() { awk -v a="$1" -v b="$got" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
	printf '%-9s %8s %9s %26s %10s %8s %8s %8s %8s %8s\n' "($v) $label" "$total" "$ok/$clients" "$tmin / $tmed / $tmax" \
		"$(awk -v o="$origin" -v s="$size" 'BEGIN { printf "%.2fx", o / s }')" "$(share "$served")" "$(share "$peers")" \
		"$(share "$webs")" "$(share "$httpb")" "$(share "$p2p")"
done
echo
echo "origin x: origin egress / artifact size. relays: what the relays served (clients and each"
echo "other), peers / webseeds / http: odi fetch clients' bytes by source, p2p est: what clients sent"
echo "each other (estimate); all as shares of the bytes the clients received."
echo "targets"
missed=0 met=0
for v in a b; do
	[[ -n ${report[$v]:-} ]] || continue
	read -r total ok _ _ _ origin _ _ _ _ _ _ all_listed <<<"${report[$v]}"
	want=1.5
	[[ $v == b ]] && want=0.05
	line=$(awk -v o="$origin" -v s="$size" -v w="$want" 'BEGIN { r = o / s; printf "%.2fx (target <= %sx): %s", r, w, (r <= w ? "met" : "MISSED") }')
	printf '  %-40s %s\n' "($v) origin egress / artifact size:" "$line"
	if [[ $line == *MISSED ]]; then missed=$((missed + 1)); else met=$((met + 1)); fi
	if ((ok == clients)); then
		printf '  %-40s %s\n' "($v) clients verified:" "$ok of $clients (target: all): met"
		met=$((met + 1))
	else
		printf '  %-40s %s\n' "($v) clients verified:" "$ok of $clients (target: all): MISSED"
		missed=$((missed + 1))
	fi
	if [[ $v == a ]]; then
		if [[ $all_listed != - ]] && awk -v a="$all_listed" -v w="$listed_within" 'BEGIN { exit !(a <= w) }'; then
			printf '  %-40s %s\n' "(a) all $relays relays listed:" "after $all_listed s (target <= $listed_within s; the crowd took $total s): met"
			met=$((met + 1))
		else
			printf '  %-40s %s\n' "(a) all $relays relays listed:" "after $all_listed s (target <= $listed_within s; the crowd took $total s): MISSED"
			missed=$((missed + 1))
		fi
	fi
done
echo "uptime at the end: $(uptime)"
for pid in "${relay_pids[@]}"; do kill -0 "$pid" 2>/dev/null || echo "note: relay pid $pid has exited" >&2; done

# The targets as a test runner's closing line: make test ends with this script.
echo "flashcrowd: $met passed, $missed failed"
if ((failures > 0)); then
	echo "$failures client(s) failed or did not verify" >&2
	exit 1
fi
if ((missed > 0)); then
	echo "$missed target(s) missed" >&2
	exit 1
fi
