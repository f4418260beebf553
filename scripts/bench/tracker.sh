#!/usr/bin/env bash
# Benchmark: announces per second of odi's tracker (HTTP and BEP 15 UDP), against two
# baselines on the same machine:
#   - opentracker (C, libowfat): the reference for what a tracker can do. Debian builds it
#     with WANT_ACCESSLIST_WHITE, so, like odi, it tracks only listed infohashes: it gets
#     the same 1,000 infohashes in its whitelist.
#   - barehttp (scripts/bench/barehttp): a bare Go net/http handler answering a fixed
#     bencoded body: the ceiling of any tracker built on net/http.
# The directory gets 1,000 tiny published artifacts, and the load announces in their
# 1,000 swarms as 100,000 distinct peers (peer id and port vary; the address is always
# 127.0.0.1), each leecher asking for 50 peers in compact form, one in ten a seeder.
#
# HTTP load is wrk with scripts/bench/tracker.lua, CONNS connections on THREADS threads,
# in two modes: keep-alive, and a new connection per request ("Connection: close"). UDP
# load is scripts/bench/udpload: CONNS sockets with one request outstanding each. Every
# measured run follows a WARMUP run of the same load. Server CPU per request is the
# server process's utime+stime (/proc/PID/stat) over the run, divided by the requests.
#
# Targets (from the issue): HTTP with a new connection per request, odi >= 0.7x
# opentracker; HTTP keep-alive, odi >= 0.6x barehttp; UDP, odi >= 0.5x opentracker; p99
# under 10 ms at 50 connections. The script only reports; it exits non-zero only when
# something failed to run.
#
# Usage: scripts/bench/tracker.sh [path/to/odi]      (default bin/odi; `make build`)
# Environment:
#   DURATION  length of each measured run, a wrk duration (default 20s)
#   WARMUP    length of the warm-up before each measured run (default 3s)
#   RUNS      rounds of all measured runs; the table shows each figure's median over the
#             rounds, errors summed (default 1)
#   CONNS     HTTP connections / UDP sockets (default 50)
#   THREADS   wrk threads (default 2)
#   PEERS     distinct peers (default 100000)
#   CLIENTS   client addresses the HTTP load names in X-Forwarded-For (default 50000)
#   SOURCES   loopback source addresses the UDP load sends from (default 4000; the
#             directory keeps its default per-address limits, so each address's share
#             of the load must stay under tracker.per_second)
#   PIN       1 to pin the servers to CPU 0 and the load generators to the other CPUs
#             (taskset); default 0: all share all CPUs, as on a busy host. Pinned, the
#             Go servers see one CPU (GOMAXPROCS=1), and latencies no longer include
#             waiting for the load generator's time slice.
#   WORKDIR   where the directory's data and the logs go (default: a fresh mktemp -d,
#             removed at exit). A given WORKDIR is kept: the script works in a new
#             subfolder of it and leaves it there for inspection.
# Requires wrk, opentracker, curl and go (to build the two helpers).
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

odi=${1:-bin/odi}
duration=${DURATION:-20s}
warmup=${WARMUP:-3s}
conns=${CONNS:-50}
threads=${THREADS:-2}
clients=${CLIENTS:-50000}
sources=${SOURCES:-4000}
# udpload holds a socket per source address.
ulimit -n "$((sources + 1024))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
peers=${PEERS:-100000}
pin=${PIN:-0}
runs=${RUNS:-1}
artifacts=1000


[[ $duration =~ ^[1-9][0-9]*[sm]?$ ]] || die "DURATION must be like 20s or 2m, not '$duration'"
[[ $warmup =~ ^[1-9][0-9]*[sm]?$ ]] || die "WARMUP must be like 3s, not '$warmup'"
[[ $conns =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, not '$conns'"
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, not '$threads'"
[[ $peers =~ ^[1-9][0-9]*$ ]] || die "PEERS must be a positive integer, not '$peers'"
[[ $pin == 0 || $pin == 1 ]] || die "PIN must be 0 or 1, not '$pin'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
((conns >= threads)) || die "CONNS ($conns) must be at least THREADS ($threads)"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [[ ! -x $odi ]]; then
	die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
fi
odi=$(cd "$(dirname "$odi")" && pwd)/$(basename "$odi")
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v opentracker >/dev/null || missing+=(opentracker)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]} > 0)); then
	die "missing ${missing[*]}; install with: apt-get install -y ${missing[*]}"
fi
command -v go >/dev/null || die "go is missing: it builds scripts/bench/barehttp and udpload"
command -v getconf >/dev/null || die "getconf is missing (libc-bin)"
# on_server and on_load: command prefixes that place a process (see PIN).
on_server=()
on_load=()
if [[ $pin == 1 ]]; then
	command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
	(($(nproc) >= 2)) || die "PIN=1 needs at least 2 CPUs"
	on_server=(taskset -c 0)
	on_load=(taskset -c "1-$(($(nproc) - 1))")
fi
clk_tck=$(getconf CLK_TCK)

# --- work folder, processes, cleanup ----------------------------------------------------

pids=() # every background process, killed at exit
keep_workdir=""
if [[ -n ${WORKDIR:-} ]]; then
	mkdir -p "$WORKDIR"
	work=$(mktemp -d "$WORKDIR/odi-bench.XXXXXX")
	keep_workdir=1
else
	work=$(mktemp -d)
fi

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $keep_workdir ]]; then
		echo "work files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: a TCP and UDP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Htuln | awk '{ print $5 }' | grep -q ":$p\$"; then
			echo "$p"
			return
		fi
	done
	die "found no free port"
}

# --- machine facts ------------------------------------------------------------------------

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
ot_version=$(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo unknown)
echo "machine"
if [[ $pin == 1 ]]; then
	echo "  nproc        $(nproc)  (PIN=1: servers on CPU 0, wrk/udpload on CPUs 1-$(($(nproc) - 1)))"
else
	echo "  nproc        $(nproc)  (wrk/udpload share these $(nproc) CPUs with the server under test: no pinning)"
fi
echo "  cpu          ${cpu:-unknown}"
echo "  go           $(go version)"
echo "  odi          $("$odi" --version 2>/dev/null || echo "$odi")"
echo "  wrk          $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2 || true)"
echo "  opentracker  $ot_version"
echo "  workdir      $work"
echo "  load         $artifacts swarms, $peers peers, numwant=50; wrk -t$threads -c$conns from $clients X-Forwarded-For addresses; udpload -workers $conns -sources $sources"
echo "  runs         $runs round(s) of: per target and mode, a $warmup warm-up, then $duration measured"
echo

# --- helpers: build -------------------------------------------------------------------------

echo "building barehttp and udpload..."
(cd "$repo" && go build -tags nosqlite -o "$work/barehttp" ./scripts/bench/barehttp)
(cd "$repo" && go build -tags nosqlite -o "$work/udpload" ./scripts/bench/udpload)

# --- directory with 1,000 artifacts -------------------------------------------------------

key=$work/bench.key
"$odi" keygen --out "$key" >/dev/null
: >"$work/directory.out"
# The directory runs with its default limits. All the load comes from 127.0.0.1, so it
# trusts 127.0.0.1 as its reverse proxy and the load names CLIENTS users in
# X-Forwarded-For, as a public directory behind nginx sees them: each address's rate stays
# under its bucket's, and every request pays for its rate check.
export ODI_DIRECTORY_TRACKER_TRUSTED_PROXIES=127.0.0.1/32 TRACKER_CLIENTS=$clients
"${on_server[@]}" "$odi" directory --data "$work/data" --listen 127.0.0.1:0 \
	--publisher-key "bench=$key.pub" >"$work/directory.out" 2>"$work/directory.log" &
odi_pid=$!
pids+=("$odi_pid")
line=$(wait_line "$work/directory.out" "$odi_pid" "odi directory" '/^odi directory listening on /p')
odi_url=$(sed -n 's|^odi directory listening on \(http://[^ ]*\).*|\1|p' <<<"$line")
odi_udp=$(sed -n 's|.* and udp://\([^ ]*\).*|\1|p' <<<"$line")
[[ -n $odi_url && -n $odi_udp ]] || die "cannot parse the directory's addresses from: $line"
echo "odi directory at $odi_url and udp://$odi_udp (pid $odi_pid, log $work/directory.log)"

echo "publishing $artifacts tiny artifacts..."
mkdir "$work/files"
for ((i = 1; i <= artifacts; i++)); do
	echo "odi tracker benchmark artifact $i" >"$work/files/a$i"
done
t0=$SECONDS
if ! seq 1 "$artifacts" | xargs -P 2 -I{} "$odi" publish --directory "$odi_url" --key "$key" \
	--catalog bench --name a{} --version 1 --quiet "$work/files/a{}" >"$work/publish.log" 2>&1; then
	tail -n 20 "$work/publish.log" >&2
	die "some publishes failed (last lines above; all in $work/publish.log)"
fi
ihs=$work/infohashes.txt
curl -fsS "$odi_url/api/v1/artifacts?catalog=bench" | grep -o '"infohash":"[0-9a-f]\{40\}"' |
	cut -d'"' -f4 | sort -u >"$ihs"
n=$(wc -l <"$ihs")
((n == artifacts)) || die "the catalog lists $n infohashes, not $artifacts"
echo "published $n artifacts in $((SECONDS - t0)) s"

# --- opentracker with the same whitelist --------------------------------------------------

# Debian's opentracker runs as root chroots into tracker.rootdir (default ".") and drops
# to tracker.user before it reads the whitelist, so access.whitelist is a path inside the
# root dir; run from that dir with a relative path, it works with and without root.
ot_root=$work/opentracker
mkdir "$ot_root"
cp "$ihs" "$ot_root/whitelist.txt"
chmod 755 "$ot_root"
chmod 644 "$ot_root/whitelist.txt"
ot_port=$(free_port)
cat >"$ot_root/opentracker.conf" <<EOF
listen.tcp 127.0.0.1:$ot_port
listen.udp 127.0.0.1:$ot_port
access.whitelist whitelist.txt
tracker.rootdir $ot_root
EOF
(cd "$ot_root" && exec "${on_server[@]}" opentracker -f "$ot_root/opentracker.conf") >"$work/opentracker.log" 2>&1 &
ot_pid=$!
pids+=("$ot_pid")
for _ in $(seq 100); do
	ss -Htln | awk '{ print $4 }' | grep -q "^127.0.0.1:$ot_port\$" && break
	kill -0 "$ot_pid" 2>/dev/null || die "opentracker exited (log: $(cat "$work/opentracker.log"))"
	sleep 0.1
done
ot_url=http://127.0.0.1:$ot_port
echo "opentracker at $ot_url and udp://127.0.0.1:$ot_port (pid $ot_pid, log $work/opentracker.log)"

# --- barehttp ----------------------------------------------------------------------------

: >"$work/barehttp.out"
"${on_server[@]}" "$work/barehttp" -listen 127.0.0.1:0 >"$work/barehttp.out" 2>"$work/barehttp.log" &
bare_pid=$!
pids+=("$bare_pid")
bare_addr=$(wait_line "$work/barehttp.out" "$bare_pid" barehttp 's/^listening on //p')
bare_url=http://$bare_addr
echo "barehttp at $bare_url (pid $bare_pid)"
echo

# --- sanity: the load gets real answers ---------------------------------------------------

# escape_all STRING: every byte percent-encoded, as tracker.lua does.
escape_all() { printf '%s' "$1" | od -An -v -tx1 | tr -s ' \n' '%' | sed 's/%$//'; }
# announce_url BASE IH_HEX P: the announce of peer P in swarm IH, as tracker.lua builds it.
announce_url() {
	local ih pid
	# shellcheck disable=SC2001 # bash patterns cannot say "every two characters"
	ih=$(sed 's/../%&/g' <<<"$2")
	pid=$(escape_all "$(printf -- '-WK0001-%012d' "$3")")
	echo "$1/announce?info_hash=$ih&peer_id=$pid&port=$((1024 + $3 / artifacts))&uploaded=0&downloaded=0&left=1073741824&compact=1&numwant=50"
}
# check_announce NAME URL WANT: curls URL; WANT ok needs a bencoded answer with an
# interval and no failure reason, WANT failure needs a failure reason.
check_announce() {
	local name=$1 url=$2 want=$3 body=""
	for _ in $(seq 20); do # opentracker may load its whitelist a moment after listening
		body=$(curl -fsS "$url" | tr -c '[:print:]' '.') || die "$name: curl $url failed"
		if [[ $want == ok && $body == d* && $body == *8:interval* && $body != *"failure reason"* ]]; then
			echo "  $name: ok (${body:0:60}...)"
			return
		fi
		if [[ $want == failure && $body == *"failure reason"* ]]; then
			echo "  $name: refused as expected (${body:0:90})"
			return
		fi
		sleep 0.25
	done
	die "$name: expected $want, got: $body"
}
first_ih=$(head -n1 "$ihs")
unlisted=ffffffffffffffffffffffffffffffffffffffff
grep -qx $unlisted "$ihs" && unlisted=fffffffffffffffffffffffffffffffffffffffe
echo "sanity checks (one announce each, as tracker.lua sends them):"
check_announce "odi, published infohash" "$(announce_url "$odi_url" "$first_ih" 0)" ok
check_announce "odi, unknown infohash" "$(announce_url "$odi_url" $unlisted 0)" failure
check_announce "opentracker, whitelisted infohash" "$(announce_url "$ot_url" "$first_ih" 0)" ok
check_announce "opentracker, unlisted infohash" "$(announce_url "$ot_url" $unlisted 0)" failure
check_announce "barehttp" "$(announce_url "$bare_url" "$first_ih" 0)" ok
echo

# --- measuring ----------------------------------------------------------------------------


# Per "target mode" id, each run's figures, space-separated; res_* hold the medians.
declare -A all_rps=() all_p50=() all_p99=() all_err=() all_cpu=() all_cores=() all_busy=() all_steal=()
declare -A res_rps=() res_p50=() res_p99=() res_err=() res_cpu=() res_cores=() res_busy=() res_steal=()
rows=() # ids in the order of their first run
failures=0

# run_load KIND TARGET_ARG DUR MODE LOG: one wrk or udpload run; prints its result line.
run_load() {
	local kind=$1 target=$2 dur=$3 mode=$4 log=$5
	if [[ $kind == http ]]; then
		"${on_load[@]}" wrk -t"$threads" -c"$conns" -d"$dur" --latency --timeout 2s -s "$here/tracker.lua" \
			"$target/announce" -- "$ihs" "$mode" "$peers" "$threads" "$clients" >"$log" 2>&1 || return 1
		grep '^wrkresult ' "$log" | tail -n1
	else
		"${on_load[@]}" "$work/udpload" -target "$target" -duration "$dur" -workers "$conns" \
			-sources "$sources" -infohashes "$ihs" -peers "$peers" >"$log" 2>&1 || return 1
		grep '^udp ' "$log" | tail -n1
	fi
}

# measure NAME PID KIND TARGET MODE: warm-up, then a measured run with the server's CPU;
# appends the run's figures to all_*.
measure() {
	local name=$1 pid=$2 kind=$3 target=$4 mode=$5 id="$1 $5" log line c0 c1 m0 m1 reqs secs errs rps
	log=$work/$(tr ' ' '-' <<<"$id")-run$round
	printf '%-30s' "$id..."
	if ! run_load "$kind" "$target" "$warmup" "$mode" "$log.warmup.log" >/dev/null; then
		echo " warm-up FAILED:"
		sed 's/^/    /' "$log.warmup.log"
		failures=$((failures + 1))
		return
	fi
	c0=$(cpu_ticks "$pid")
	m0=$(machine_ticks)
	if ! line=$(run_load "$kind" "$target" "$duration" "$mode" "$log.log") || [[ -z $line ]]; then
		echo " FAILED:"
		sed 's/^/    /' "$log.log"
		failures=$((failures + 1))
		return
	fi
	c1=$(cpu_ticks "$pid")
	m1=$(machine_ticks)
	[[ -n ${all_rps[$id]:-} ]] || rows+=("$id")
	if [[ $kind == http ]]; then
		reqs=$(field requests "$line")
		secs=$(awk -v us="$(field duration_us "$line")" 'BEGIN { print us / 1e6 }')
		rps=$(field rps "$line")
		errs=0
		for e in connect_errors read_errors write_errors timeouts non2xx; do
			errs=$((errs + $(field $e "$line")))
		done
	else
		reqs=$(field announces "$line")
		secs=$(field elapsed_s "$line")
		rps=$(field announces_per_sec "$line")
		errs=$(($(field errors "$line") + $(field timeouts "$line")))
	fi
	read -r mb0 mt0 ms0 <<<"$m0"
	read -r mb1 mt1 ms1 <<<"$m1"
	all_rps[$id]+=" $rps"
	all_p50[$id]+=" $(field p50_ms "$line")"
	all_p99[$id]+=" $(field p99_ms "$line")"
	all_err[$id]+=" $errs"
	all_cpu[$id]+=" $(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')"
	all_cores[$id]+=" $(awk -v t=$((c1 - c0)) -v hz="$clk_tck" -v s="$secs" 'BEGIN { printf "%.2f", t / hz / s }')"
	all_busy[$id]+=" $(awk -v b=$((mb1 - mb0)) -v t=$((mt1 - mt0)) 'BEGIN { if (t > 0) printf "%.0f", 100 * b / t; else print "-" }')"
	all_steal[$id]+=" $(awk -v s=$((ms1 - ms0)) -v t=$((mt1 - mt0)) 'BEGIN { if (t > 0) printf "%.1f", 100 * s / t; else print "-" }')"
	printf ' %9.0f req/s  p99 %7.2f ms  CPU %6.1f us/req  errors %s  steal %s%%\n' "$rps" \
		"$(field p99_ms "$line")" "${all_cpu[$id]##* }" "$errs" "${all_steal[$id]##* }"
	if ((errs > 0)) && [[ $kind == udp ]]; then
		grep 'first error' "$log.log" | sed 's/^/    /' || true
	fi
}


# odi_counts: odi's announce counters as "transport/result=N ...", from /metrics.
odi_counts() {
	curl -fsS "$odi_url/metrics" | awk '/^odi_tracker_announces_total\{/ {
		match($0, /result="[a-z_]+"/); r = substr($0, RSTART + 8, RLENGTH - 9)
		match($0, /transport="[a-z]+"/); t = substr($0, RSTART + 11, RLENGTH - 12)
		printf "%s/%s=%d ", t, r, $NF }'
}

odi_before=$(odi_counts)
for ((round = 1; round <= runs; round++)); do
	echo "measuring, round $round of $runs (each after a $warmup warm-up):"
	measure odi "$odi_pid" http "$odi_url" keepalive
	measure opentracker "$ot_pid" http "$ot_url" keepalive
	measure barehttp "$bare_pid" http "$bare_url" keepalive
	measure odi "$odi_pid" http "$odi_url" close
	measure opentracker "$ot_pid" http "$ot_url" close
	measure barehttp "$bare_pid" http "$bare_url" close
	measure odi "$odi_pid" udp "$odi_udp" udp
	measure opentracker "$ot_pid" udp "127.0.0.1:$ot_port" udp
	echo
done
odi_after=$(odi_counts)
for id in "${rows[@]}"; do
	# shellcheck disable=SC2086 # the lists are meant to split
	{
		res_rps[$id]=$(median ${all_rps[$id]})
		res_p50[$id]=$(median ${all_p50[$id]})
		res_p99[$id]=$(median ${all_p99[$id]})
		res_cpu[$id]=$(median ${all_cpu[$id]})
		res_cores[$id]=$(median ${all_cores[$id]})
		res_busy[$id]=$(median ${all_busy[$id]})
		res_steal[$id]=$(median ${all_steal[$id]})
		res_err[$id]=$(printf '%s\n' ${all_err[$id]} | awk '{ s += $1 } END { print s + 0 }')
	}
done
if ((runs > 1)); then
	echo "medians over $runs rounds (errors: summed)"
fi

# --- report ------------------------------------------------------------------------------

# num FORMAT VALUE: VALUE in printf's %FORMAT, or "-".
num() {
	if [[ $2 == - ]]; then
		printf -- -
	else
		printf "%$1" "$2"
	fi
}
declare -A label=([keepalive]="HTTP keep-alive" [close]="HTTP new conn/req" [udp]="UDP (BEP 15)")
printf '%-12s %-18s %10s %8s %8s %7s %12s %8s %6s %11s\n' target mode "req/s" "p50 ms" "p99 ms" errors \
	"server cores" machine steal "CPU us/req"
for id in "${rows[@]}"; do
	read -r name mode <<<"$id"
	printf '%-12s %-18s %10s %8s %8s %7s %12s %7s%% %5s%% %11s\n' "$name" "${label[$mode]}" \
		"$(num .0f "${res_rps[$id]}")" "$(num .2f "${res_p50[$id]}")" "$(num .2f "${res_p99[$id]}")" \
		"${res_err[$id]}" "$(num .2f "${res_cores[$id]}")" "$(num .0f "${res_busy[$id]}")" \
		"$(num .1f "${res_steal[$id]}")" "$(num .1f "${res_cpu[$id]}")"
done
echo
echo "req/s: answered announces per second; errors: socket errors, timeouts and non-2xx (wrk),"
echo "or error answers and timeouts (udpload). server cores: the server's CPU time / wall time;"
echo "machine: all CPUs' busy share, load generator included; steal: the share the hypervisor"
echo "gave to other guests (a few % or more makes a run noisy). wrk's latency of a"
echo "new-connection request starts once it is connected (the connect is not counted)."
echo

# ratio A B TARGET: "A/B = Rx (target >= TARGETx): met|MISSED".
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" -v want="$3" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) { print "- (a run is missing)"; exit }
		r = a / b
		printf "%.2fx (target >= %.1fx): %s\n", r, want, (r >= want ? "met" : "MISSED") }'
}
echo "targets"
printf '  %-52s %s\n' "HTTP new conn/req, odi / opentracker:" \
	"$(ratio "${res_rps[odi close]:-}" "${res_rps[opentracker close]:-}" 0.7)"
printf '  %-52s %s\n' "HTTP keep-alive, odi / barehttp:" \
	"$(ratio "${res_rps[odi keepalive]:-}" "${res_rps[barehttp keepalive]:-}" 0.6)"
printf '  %-52s %s\n' "UDP, odi / opentracker:" \
	"$(ratio "${res_rps[odi udp]:-}" "${res_rps[opentracker udp]:-}" 0.5)"
for mode in keepalive close udp; do
	id="odi $mode"
	[[ -n ${res_p99[$id]:-} ]] || continue
	printf '  %-52s %s\n' "odi p99, ${label[$mode]}, $conns connections:" \
		"$(awk -v p="${res_p99[$id]}" 'BEGIN { printf "%.2f ms (target < 10 ms): %s\n", p, (p < 10 ? "met" : "MISSED") }')"
done
echo
echo "same ratios by server CPU per request (higher is better for odi; less sensitive to the"
echo "load generator sharing the cores):"
cpu_ratio() {
	awk -v o="${1:-}" -v b="${2:-}" 'BEGIN {
		if (o == "" || b == "" || o == "-" || b == "-" || o + 0 == 0) print "-"
		else printf "%.2fx (%s us / %s us)\n", b / o, b, o }'
}
printf '  %-52s %s\n' "HTTP new conn/req, opentracker us / odi us:" \
	"$(cpu_ratio "${res_cpu[odi close]:-}" "${res_cpu[opentracker close]:-}")"
printf '  %-52s %s\n' "HTTP keep-alive, barehttp us / odi us:" \
	"$(cpu_ratio "${res_cpu[odi keepalive]:-}" "${res_cpu[barehttp keepalive]:-}")"
printf '  %-52s %s\n' "UDP, opentracker us / odi us:" \
	"$(cpu_ratio "${res_cpu[odi udp]:-}" "${res_cpu[opentracker udp]:-}")"
echo
echo "odi's own announce counters (odi_tracker_announces_total, warm-ups included):"
echo "  before: ${odi_before:-none}"
echo "  after:  ${odi_after:-none}"
if grep -qE '(refused|bad_request)=[1-9]' <<<"$odi_after"; then
	echo "  note: odi answered some announces with a failure (the sanity check's unknown infohash is one)"
fi
echo "opentracker closes every connection after its answer, but says \"HTTP/1.1\" without"
echo "\"Connection: close\": wrk then sends its next request on the closed connection, counts a"
echo "read error and reconnects. So in both HTTP modes opentracker gets one connection per"
echo "answered request, and its errors column counts those wasted sends, not failed announces."

if ((failures > 0)); then
	echo
	echo "$failures run(s) failed (see above); last lines of the directory's log:" >&2
	tail -n 20 "$work/directory.log" >&2 || true
	exit 1
fi
