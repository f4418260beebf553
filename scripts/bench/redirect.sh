#!/usr/bin/env bash
# Benchmark: 302 answers per second of the directory's /r/ redirector, against a bare Go
# net/http handler answering every GET with a fixed 302, in the same run.
#
#   odi        the directory with 1,000 tiny published artifacts (bench/a0 .. a999, version
#              1), held by RELAYS relays, so that each redirect picks a relay (the /r/ path
#              that matters); wrk asks for /r/bench/a<random 0..999>/1.
#   bare302    scripts/bench/bare302: a 302 with only a Location header: the ceiling of
#              any redirector built on net/http.
#   bare302+h  the same handler sending the very headers odi's answer carries (Location,
#              Link duplicates, Digest, Cache-Control...), so the table separates what the
#              answer's size costs from what odi's lookup and choice cost.
#   meta       with META=1, a second directory holding no artifacts that references
#              catalog bench at the first (directory.federation.references, two URLs of it,
#              both regions [default]): the meta-directory's 302 of /r/bench/... to the
#              directory that serves it (catalog/references), issue 16's >= 0.7x bare302.
#
# Three modes, with wrk (--latency, scripts/bench/redirect.lua): keep-alive and a new
# connection per request ("Connection: close"), each connection sending its next request
# as soon as it has the answer (the server's peak); then "paced": keep-alive connections
# offering a set load, LOAD (default 0.5) times the keep-alive peak bare302 reached in the
# rounds before, each waiting a random time (exponential) before each request. CONNS
# connections, THREADS threads, a WARMUP run before each DURATION run, RUNS rounds.
# Server CPU per request is the server's utime+stime (/proc/PID/stat) over the run
# divided by the answered requests.
#
# Targets: odi >= 0.7x bare302 keep-alive, >= 0.75x bare302 with a new connection per
# request, odi's p99 < 10 ms under the paced load. Latency is judged under a load the
# server is not saturated by: at the peak, each of the CONNS connections waits for all
# the others, so p99 there is the queue's length, CONNS / req/s times the Go scheduler's
# unfairness (p99 is 4-9 times p50 for every server here, bare302 included: 9-14 ms at
# 50 connections on 2 CPUs), not what one redirect costs. The peak's p99 is still shown,
# next to bare302's. The script reports; it exits non-zero only when something failed
# to run.
#
# Usage: scripts/bench/redirect.sh [path/to/odi]     (default bin/odi)
# Environment:
#   DURATION    each measured run, a wrk duration (default 10s)
#   WARMUP      the warm-up before each (default 3s)
#   CONNS       wrk connections (default 50)
#   THREADS     wrk threads (default 2)
#   RUNS        rounds of all the measured runs, targets taking turns; the table shows
#               medians (default 5: a shared machine's speed moves by a third for minutes
#               at a time, and more short rounds outvote such a spell better than a few
#               long ones)
#   RELAYS      relays holding the artifacts, 0 to 3 (default 2; 0: every redirect goes
#               to the directory's origin copy)
#   ARTIFACTS   how many tiny artifacts to publish and ask for (default 1000)
#   PERF        1 to profile the directory with perf over one more keep-alive run after the
#               rounds and print where its CPU goes (needs perf; default 0)
#   RELAY_WAIT  seconds to wait for the relays to hold all 1,000 (default 300; the run
#               goes on with what they hold then, and says so)
#   HEARTBEAT   the relays' heartbeat and probe interval (default 5s)
#   LOAD        the paced runs' offered load, as a fraction of bare302's keep-alive peak
#               (default 0.5; 0 skips them)
#   META        1 to measure a meta-directory too (the "meta" rows; default 0)
#   PIN         1 to pin the servers (the directory, bare302s) to CPU 0 and wrk to the
#               other CPUs, so that p99 measures the server rather than the scheduler's
#               mixing of wrk with it; the relays, idle but for heartbeats, float
#               (default 0; needs taskset and 2 CPUs)
# Only 127.0.0.1 is used; every process started is killed at exit and the work folder
# (a mktemp -d) removed. Requires wrk, curl, go.
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

odi=${1:-bin/odi}
duration=${DURATION:-10s}
warmup=${WARMUP:-3s}
conns=${CONNS:-50}
threads=${THREADS:-2}
clients=${CLIENTS:-20000}
relays=${RELAYS:-2}
runs=${RUNS:-5}
relay_wait=${RELAY_WAIT:-300}
artifacts=${ARTIFACTS:-1000}
pin=${PIN:-0}
heartbeat=${HEARTBEAT:-5s}
load=${LOAD:-0.5}
meta=${META:-0}


[[ $duration =~ ^[1-9][0-9]*[sm]?$ ]] || die "DURATION must be like 20s or 2m, not '$duration'"
[[ $warmup =~ ^[1-9][0-9]*[sm]?$ ]] || die "WARMUP must be like 3s, not '$warmup'"
[[ $conns =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, not '$conns'"
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, not '$threads'"
[[ $artifacts =~ ^[1-9][0-9]*$ ]] || die "ARTIFACTS must be a positive integer, not '$artifacts'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
[[ $relays =~ ^[0-3]$ ]] || die "RELAYS must be 0 to 3, not '$relays'"
[[ $relay_wait =~ ^[0-9]+$ ]] || die "RELAY_WAIT must be seconds, not '$relay_wait'"
[[ $pin == 0 || $pin == 1 ]] || die "PIN must be 0 or 1, not '$pin'"
[[ $meta == 0 || $meta == 1 ]] || die "META must be 0 or 1, not '$meta'"
[[ $heartbeat =~ ^[1-9][0-9]*[sm]$ ]] || die "HEARTBEAT must be like 5s or 1m, not '$heartbeat'"
[[ $load =~ ^(0|0?\.[0-9]+|1(\.0*)?)$ ]] || die "LOAD must be a fraction from 0 to 1, not '$load'"
((conns >= threads)) || die "CONNS ($conns) must be at least THREADS ($threads)"
[[ -x $odi ]] || die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
odi=$(cd "$(dirname "$odi")" && pwd)/$(basename "$odi")
for tool in wrk curl go; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk curl; go from go.dev)"
done
# on_server and on_load: command prefixes that place a process (see PIN).
on_server=()
on_load=()
if [[ $pin == 1 ]]; then
	command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
	(($(nproc) >= 2)) || die "PIN=1 needs at least 2 CPUs"
	on_server=(taskset -c 0)
	on_load=(taskset -c "1-$(($(nproc) - 1))")
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
clk_tck=$(getconf CLK_TCK)

# --- work folder, processes, cleanup ------------------------------------------------------

bench_workdir redirect


echo "machine"
if [[ $pin == 1 ]]; then
	echo "  nproc   $(nproc) (PIN=1: servers on CPU 0, wrk on CPUs 1-$(($(nproc) - 1)))"
else
	echo "  nproc   $(nproc) (wrk shares them with the servers; nothing pinned)"
fi
echo "  cpu     $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "  uptime  $(uptime)"
echo "  go      $(go version)"
echo "  wrk     $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2 || true)"
echo "  load    wrk -t$threads -c$conns, $warmup warm-up then $duration per target and mode, $runs round(s); $relays relay(s)"
echo

echo "building bare302..."
(cd "$repo" && go build -o "$work/bare302" ./scripts/bench/bare302)

# The directory hears from relays and probes them every HEARTBEAT: relays are listed soon
# after they hold an artifact, and its work on heartbeats (each lists 1,000 holdings) stays
# a small part of what the runs measure (at 1s it was 2-4 us of every request and a
# source of tail latency; the product's default is 30s).
export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=$heartbeat ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=$heartbeat

"$odi" keygen --out "$work/pub.key" >/dev/null
# The directory runs with its default limits. All the load comes from 127.0.0.1, so it
# trusts 127.0.0.1 as its reverse proxy and the load names CLIENTS users in
# X-Forwarded-For, as a public directory behind nginx sees them: each address's rate stays
# under its bucket's, and every request pays for its rate check.
export ODI_DIRECTORY_TRACKER_TRUSTED_PROXIES=127.0.0.1/32 REDIRECT_CLIENTS=$clients
"${on_server[@]}" "$odi" directory --data "$work/dir" --listen 127.0.0.1:0 --udp-listen off \
	--publisher-key "bench=$work/pub.key.pub" --relay-policy open --allow-private-relay-urls \
	>"$work/dir.out" 2>"$work/dir.log" &
dir_pid=$!
pids+=("$dir_pid")
dir=$(wait_url "$work/dir.out" "$dir_pid" "the directory")
echo "directory at $dir (pid $dir_pid)"

echo "publishing $artifacts tiny artifacts (2 at a time: a publisher's upload slots)..."
mkdir "$work/files"
for ((i = 0; i < artifacts; i++)); do
	echo "odi redirect benchmark artifact $i" >"$work/files/a$i"
done
t0=$SECONDS
if ! seq 0 $((artifacts - 1)) | xargs -P 2 -I{} "$odi" publish --directory "$dir" --key "$work/pub.key" \
	--catalog bench --name a{} --version 1 -q "$work/files/a{}" >"$work/publish.log" 2>&1; then
	tail -n 20 "$work/publish.log" >&2
	die "some publishes failed (last lines above)"
fi
n=$(curl -fsS "$dir/api/v1/artifacts?catalog=bench" | grep -o '"infohash":"[0-9a-f]\{40\}"' | sort -u | wc -l)
((n == artifacts)) || die "the catalog lists $n artifacts, not $artifacts"
echo "published $n artifacts in $((SECONDS - t0)) s"

# held_by URL: how many bench artifacts list relay URL among their web seeds. The relays
# share 127.0.0.1 and its request bucket with this poll, so a 429 now and then is no
# error: the next poll asks again.
held_by() {
	{ curl -fsS "$dir/api/v1/artifacts?catalog=bench" 2>/dev/null || true; } | { grep -o "\"$1/ws/[0-9a-f]\{40\}/" || true; } |
		sort -u | wc -l
}

relay_urls=()
if ((relays > 0)); then
	for ((r = 1; r <= relays; r++)); do
		"$odi" keygen --out "$work/relay$r.key" >/dev/null
		"$odi" relay --data "$work/relay$r" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$dir" \
			--key "$work/relay$r.key" --quota 1GiB >"$work/relay$r.out" 2>"$work/relay$r.log" &
		pids+=($!)
		url=$(wait_url "$work/relay$r.out" $! "relay $r")
		relay_urls+=("$url")
	done
	echo "relays at ${relay_urls[*]}; waiting up to $relay_wait s until they hold all $artifacts..."
	t0=$SECONDS
	while :; do
		counts=()
		all=1
		for u in "${relay_urls[@]}"; do
			c=$(held_by "$u")
			counts+=("$c")
			((c == artifacts)) || all=""
		done
		[[ -n $all ]] && break
		if ((SECONDS - t0 >= relay_wait)); then
			echo "  not all held after $relay_wait s; going on with what the relays hold"
			break
		fi
		sleep 2
	done
	echo "  after $((SECONDS - t0)) s, artifacts listing each relay as a web seed: ${counts[*]} (of $artifacts)"
fi

# --- sanity: real 302s, to a relay when one holds the artifact ----------------------------

curl -sS -o /dev/null -D "$work/odi.headers" "$dir/r/bench/a7/1"
status=$(head -n1 "$work/odi.headers" | tr -d '\r')
location=$(sed -n 's/^[Ll]ocation: *//p' "$work/odi.headers" | tr -d '\r')
[[ $status == *" 302"* ]] || die "GET /r/bench/a7/1 answered '$status', not 302"
echo "sanity: /r/bench/a7/1 -> $status, Location: $location"
if ((relays > 0)); then
	to_relay=0
	for ((i = 0; i < 20; i++)); do
		loc=$(curl -sS -o /dev/null -w '%{redirect_url}' "$dir/r/bench/a$((RANDOM % artifacts))/1")
		for u in "${relay_urls[@]}"; do [[ $loc == "$u"/* ]] && to_relay=$((to_relay + 1)); done
	done
	echo "sanity: of 20 random redirects, $to_relay went to a relay (the rest to the origin)"
fi
echo "sanity: odi's answer is $(wc -c <"$work/odi.headers") bytes of headers:"
sed 's/^/    /' "$work/odi.headers"
# bare302+h sends the same headers, less the ones net/http writes itself.
grep -iv '^\(HTTP/\|date:\|content-length:\|content-type:\)' "$work/odi.headers" | tr -d '\r' | sed '/^$/d' >"$work/bare.headers"

"${on_server[@]}" "$work/bare302" -listen 127.0.0.1:0 -location "${location:-http://127.0.0.1:1/x}" >"$work/bare.out" 2>"$work/bare.log" &
bare_pid=$!
pids+=("$bare_pid")
bare=$(wait_url "$work/bare.out" "$bare_pid" bare302)
"${on_server[@]}" "$work/bare302" -listen 127.0.0.1:0 -headers "$work/bare.headers" >"$work/bareh.out" 2>"$work/bareh.log" &
bareh_pid=$!
pids+=("$bareh_pid")
bareh=$(wait_url "$work/bareh.out" "$bareh_pid" "bare302 -headers")
for u in "$bare" "$bareh"; do
	s=$(curl -sS -o /dev/null -w '%{http_code}' "$u/r/bench/a7/1")
	[[ $s == 302 ]] || die "$u answered $s, not 302"
done
echo "bare302 at $bare (pid $bare_pid), bare302+h at $bareh (pid $bareh_pid), both answer 302"

targets=("odi $dir_pid $dir" "bare302 $bare_pid $bare" "bare302+h $bareh_pid $bareh")
if [[ $meta == 1 ]]; then
	# The meta-directory references the directory under two names, so that it chooses
	# between two healthy directories and names the other in a Link header, as in use.
	cat >"$work/meta.yaml" <<-YAML
		directory:
		  federation:
		    references:
		      - catalog: bench
		        directories:
		          - {url: "$dir", regions: [default]}
		          - {url: "${dir/127.0.0.1/localhost}", regions: [default]}
	YAML
	"${on_server[@]}" "$odi" directory --config "$work/meta.yaml" --data "$work/meta" --listen 127.0.0.1:0 --udp-listen off \
		--allow-private-relay-urls >"$work/meta.out" 2>"$work/meta.log" &
	meta_pid=$!
	pids+=("$meta_pid")
	metadir=$(wait_url "$work/meta.out" "$meta_pid" "the meta-directory")
	# It sends users nowhere until its first health checks pass (503 until then).
	for ((i = 0; i < 50; i++)); do
		loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$metadir/r/bench/a7/1")
		[[ $loc == "302 "* ]] && break
		sleep 0.2
	done
	[[ $loc == "302 $dir/r/bench/a7/1" || $loc == "302 ${dir/127.0.0.1/localhost}/r/bench/a7/1" ]] ||
		die "the meta-directory's /r/bench/a7/1 answered '$loc', not a 302 to the directory"
	echo "meta-directory at $metadir (pid $meta_pid): /r/bench/a7/1 -> $loc"
	targets+=("meta $meta_pid $metadir")
fi
echo

# --- measuring ----------------------------------------------------------------------------

# redirects_total: the directory's count of GET redirects, over all bench artifacts.
redirects_total() {
	curl -fsS "$dir/api/v1/artifacts?catalog=bench" | grep -o '"redirects":[0-9]*' | cut -d: -f2 |
		awk '{ s += $1 } END { print s + 0 }'
}

# Per "target mode" id, each round's figures, space-separated.
declare -A all_rps=() all_p50=() all_p99=() all_err=() all_cpu=() all_busy=() all_steal=()
failures=0
# measure NAME PID URL MODE: a warm-up, then a measured run; appends its figures.
measure() {
	local name=$1 pid=$2 url=$3 mode=$4 id="$1 $4" log line c0 c1 m0 m1 e rps cpu kind wrk_mode=$4
	local -x REDIRECT_PACE_MS
	if [[ $mode == paced ]]; then
		wrk_mode=keepalive
		REDIRECT_PACE_MS=$pace_ms
	fi
	log=$work/$name-$mode-$round
	printf '  %-22s' "$id..."
	if ! "${on_load[@]}" wrk -t"$threads" -c"$conns" -d"$warmup" --timeout 2s -s "$here/redirect.lua" "$url" -- "$wrk_mode" "$artifacts" \
		>"$log.warmup" 2>&1; then
		echo " warm-up FAILED:"
		sed 's/^/    /' "$log.warmup"
		failures=$((failures + 1))
		return
	fi
	c0=$(cpu_ticks "$pid")
	m0=$(machine_ticks)
	if ! "${on_load[@]}" wrk -t"$threads" -c"$conns" -d"$duration" --latency --timeout 2s -s "$here/redirect.lua" "$url" -- "$wrk_mode" "$artifacts" \
		>"$log" 2>&1 || ! line=$(grep '^wrkresult ' "$log"); then
		echo " FAILED:"
		sed 's/^/    /' "$log"
		failures=$((failures + 1))
		return
	fi
	c1=$(cpu_ticks "$pid")
	m1=$(machine_ticks)
	e=0
	for kind in connect_errors read_errors write_errors timeouts non2xx; do e=$((e + $(field $kind "$line"))); done
	rps=$(field rps "$line")
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v n="$(field requests "$line")" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
	read -r mb0 mt0 ms0 <<<"$m0"
	read -r mb1 mt1 ms1 <<<"$m1"
	all_rps[$id]+=" $rps"
	all_p50[$id]+=" $(field p50_ms "$line")"
	all_p99[$id]+=" $(field p99_ms "$line")"
	all_err[$id]+=" $e"
	all_cpu[$id]+=" $cpu"
	all_busy[$id]+=" $(awk -v b=$((mb1 - mb0)) -v t=$((mt1 - mt0)) 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }')"
	all_steal[$id]+=" $(awk -v s=$((ms1 - ms0)) -v t=$((mt1 - mt0)) 'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }')"
	printf ' %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s  server CPU %5.1f us/req  steal %s%%\n' \
		"$rps" "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$e" "$cpu" "${all_steal[$id]##* }"
}

# The directory's own background work (relays' heartbeats every second, probes) is billed
# to it during the runs too: measure it idle first.
c0=$(cpu_ticks "$dir_pid")
sleep 5
idle_us=$(awk -v t=$(($(cpu_ticks "$dir_pid") - c0)) -v hz="$clk_tck" 'BEGIN { printf "%.0f", t / hz * 1e6 / 5 }')
echo "the directory idle (relays heartbeating): $idle_us us of CPU per second"
echo

redirects_before=$(redirects_total)
for ((round = 1; round <= runs; round++)); do
	echo "round $round of $runs (uptime: $(uptime | sed 's/.*load/load/'))"
	for mode in keepalive close; do
		# The targets take turns leading, so that no one always runs right after another.
		for ((k = 0; k < ${#targets[@]}; k++)); do
			# shellcheck disable=SC2086 # "name pid url" is meant to split
			measure ${targets[(k + round - 1) % ${#targets[@]}]} "$mode"
		done
	done
done

# The paced load: LOAD times bare302's keep-alive peak, spread over the connections.
# shellcheck disable=SC2086 # the list is meant to split
bare_peak=$(median ${all_rps[bare302 keepalive]:-})
offered=""
if [[ $load != 0 && $bare_peak != - ]]; then
	offered=$(awk -v p="$bare_peak" -v l="$load" 'BEGIN { printf "%.0f", p * l }')
	pace_ms=$(awk -v c="$conns" -v o="$offered" 'BEGIN { printf "%.3f", c * 1000 / o }')
	echo "paced: $offered req/s offered ($load x bare302's keep-alive peak of $bare_peak), each"
	echo "connection waiting $pace_ms ms on average before each request"
	for ((round = 1; round <= runs; round++)); do
		echo "paced round $round of $runs (uptime: $(uptime | sed 's/.*load/load/'))"
		for ((k = 0; k < ${#targets[@]}; k++)); do
			# shellcheck disable=SC2086 # "name pid url" is meant to split
			measure ${targets[(k + round - 1) % ${#targets[@]}]} paced
		done
	done
fi
redirects_after=$(redirects_total)
echo

# --- optional: where the directory's CPU goes ---------------------------------------------

if [[ ${PERF:-0} == 1 ]]; then
	if ! command -v perf >/dev/null; then
		echo "PERF=1: perf is missing (apt-get install -y linux-perf); no profile"
	else
		echo "PERF=1: profiling the directory (perf record -g, 999 Hz) over one more $duration keep-alive run"
		perf record -F 999 -g -o "$work/perf.data" -p "$dir_pid" >"$work/perf.log" 2>&1 &
		perf_pid=$!
		pids+=("$perf_pid")
		sleep 1
		"${on_load[@]}" wrk -t"$threads" -c"$conns" -d"$duration" -s "$here/redirect.lua" "$dir" -- keepalive "$artifacts" >"$work/perf-wrk.log" 2>&1 || true
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		echo "  top symbols by self time (perf report --no-children --sort dso,symbol):"
		perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
			grep -v '^#' | grep -v '^ *$' | head -n 30 | sed 's/[[:space:]-]*$//; s/^/    /' || true
		echo "  self time by Go package:"
		perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' |
			awk '$1 ~ /%$/ && NF >= 3 { pct = $1; sub(/%/, "", pct); sym = $3
				if ($2 == "[k]") pkg = "[kernel]"
				else if (match(sym, /\.\(/)) pkg = substr(sym, 1, RSTART - 1)
				else { n = split(sym, part, "/"); last = part[n]; dot = index(last, ".")
					pkg = substr(sym, 1, length(sym) - length(last)) (dot ? substr(last, 1, dot - 1) : last) }
				s[pkg] += pct }
				END { for (p in s) printf "%6.2f%%  %s\n", s[p], p }' | sort -rn | head -n 15 | sed 's/^/    /' || true
		echo "  odi's functions (and net/http's connection loop, GC, allocation for scale), time"
		echo "  including what they call (perf report --children):"
		perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
			grep 'opendist/odi\|net/http.(\*conn).serve[ -]*$\|runtime.gcBgMarkWorker[ -]*$\|runtime.mallocgc[ -]*$' | head -n 24 |
			sed 's/[[:space:]-]*$//; s/^/    /' || true
	fi
	echo
fi

# --- report -------------------------------------------------------------------------------

declare -A rps=() p50=() p99=() errs=() cpu=() busy=() steal=()
for id in "${!all_rps[@]}"; do
	# shellcheck disable=SC2086 # the lists are meant to split
	{
		rps[$id]=$(median ${all_rps[$id]})
		p50[$id]=$(median ${all_p50[$id]})
		p99[$id]=$(median ${all_p99[$id]})
		cpu[$id]=$(median ${all_cpu[$id]})
		busy[$id]=$(median ${all_busy[$id]})
		steal[$id]=$(median ${all_steal[$id]})
		errs[$id]=$(printf '%s\n' ${all_err[$id]} | awk '{ s += $1 } END { print s + 0 }')
	}
done
declare -A label=([keepalive]="keep-alive" [close]="new conn/request" [paced]="paced keep-alive")
((runs > 1)) && echo "medians over $runs rounds (errors summed)"
printf '%-10s %-17s %10s %8s %8s %7s %11s %8s %6s\n' target mode "req/s" "p50 ms" "p99 ms" errors "CPU us/req" machine steal
for mode in keepalive close paced; do
	for name in odi bare302 bare302+h meta; do
		id="$name $mode"
		[[ -n ${rps[$id]:-} ]] || continue
		printf '%-10s %-17s %10.0f %8.2f %8.2f %7s %11.1f %7.0f%% %5.1f%%\n' "$name" "${label[$mode]}" "${rps[$id]}" "${p50[$id]}" \
			"${p99[$id]}" "${errs[$id]}" "${cpu[$id]}" "${busy[$id]}" "${steal[$id]}"
	done
done
echo
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" -v want="${3:-0}" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) { print "- (a run is missing)"; exit }
		r = a / b
		if (want > 0) printf "%.2fx (target >= %.2fx): %s\n", r, want, (r >= want ? "met" : "MISSED")
		else printf "%.2fx\n", r }'
}
echo "targets"
printf '  %-46s %s\n' "keep-alive, odi / bare302:" "$(ratio "${rps[odi keepalive]:-}" "${rps[bare302 keepalive]:-}" 0.7)"
printf '  %-46s %s\n' "new conn/request, odi / bare302:" "$(ratio "${rps[odi close]:-}" "${rps[bare302 close]:-}" 0.75)"
if [[ $meta == 1 ]]; then
	printf '  %-46s %s\n' "keep-alive, meta / bare302:" "$(ratio "${rps[meta keepalive]:-}" "${rps[bare302 keepalive]:-}" 0.7)"
	printf '  %-46s %s\n' "new conn/request, meta / bare302:" "$(ratio "${rps[meta close]:-}" "${rps[bare302 close]:-}")"
fi
if [[ -n ${p99[odi paced]:-} ]]; then
	printf '  %-46s %s\n' "odi p99, $offered req/s offered, $conns conns:" \
		"$(awk -v p="${p99[odi paced]}" -v b="${p99[bare302 paced]:-0}" 'BEGIN {
			printf "%.2f ms (target < 10 ms): %s; bare302 %.2f ms\n", p, (p < 10 ? "met" : "MISSED"), b }')"
else
	echo "  odi p99 under a paced load:                     - (LOAD=0, or bare302's peak is missing)"
fi
echo "p99 at the peak, where each connection queues behind the others (not a target):"
for mode in keepalive close; do
	[[ -n ${p99[odi $mode]:-} ]] || continue
	printf '  %-46s %s\n' "odi p99, ${label[$mode]}, $conns connections:" \
		"$(awk -v p="${p99[odi $mode]}" -v b="${p99[bare302 $mode]:-0}" 'BEGIN { printf "%.2f ms; bare302 %.2f ms\n", p, b }')"
done
echo "the same ratios by server CPU per request (bare us / odi us; steadier on a shared machine):"
cpu_ratio() { awk -v o="${1:-}" -v b="${2:-}" 'BEGIN { if (o == "" || b == "" || o + 0 == 0) print "-"; else printf "%.2fx (%s us / %s us)\n", b / o, b, o }'; }
printf '  %-46s %s\n' "keep-alive, bare302 / odi:" "$(cpu_ratio "${cpu[odi keepalive]:-}" "${cpu[bare302 keepalive]:-}")"
printf '  %-46s %s\n' "new conn/request, bare302 / odi:" "$(cpu_ratio "${cpu[odi close]:-}" "${cpu[bare302 close]:-}")"
echo "against bare302+h, which sends odi's very headers (what odi's lookup and relay choice"
echo "cost by themselves):"
printf '  %-46s %s\n' "keep-alive, odi / bare302+h req/s:" "$(ratio "${rps[odi keepalive]:-}" "${rps[bare302+h keepalive]:-}")"
printf '  %-46s %s\n' "new conn/request, odi / bare302+h req/s:" "$(ratio "${rps[odi close]:-}" "${rps[bare302+h close]:-}")"
printf '  %-46s %s\n' "keep-alive, bare302+h / odi CPU:" "$(cpu_ratio "${cpu[odi keepalive]:-}" "${cpu[bare302+h keepalive]:-}")"
printf '  %-46s %s\n' "new conn/request, bare302+h / odi CPU:" "$(cpu_ratio "${cpu[odi close]:-}" "${cpu[bare302+h close]:-}")"
echo
echo "the directory's idle CPU, $idle_us us/s, accounts for about $(awk -v i="$idle_us" -v r="${rps[odi keepalive]:-1}" 'BEGIN { printf "%.1f", i / r }') us/req of its keep-alive figure"
echo "the directory counted $((redirects_after - redirects_before)) GET redirects over the runs (warm-ups included)"
echo "uptime at the end: $(uptime)"
echo "CPU us/req: the server's CPU time over the measured run / requests answered. machine: all"
echo "CPUs' busy share; steal: the share the hypervisor gave to other guests. wrk, the servers,"
echo "the relays and whatever else runs here share $(nproc) CPUs, so req/s and p99 are bounded by"
echo "the machine as much as by the server. wrk's latency of a new-connection request starts"
echo "once it is connected."

if ((failures > 0)); then
	echo "$failures run(s) failed; last lines of the directory's log:" >&2
	tail -n 20 "$work/dir.log" >&2 || true
	exit 1
fi
