#!/usr/bin/env bash
# Benchmark: `odi fetch` of one large artifact, against aria2c and curl in the same run.
#
# One directory and two relays on 127.0.0.1; a SIZE_MIB artifact (random bytes) is
# published and both relays fill with it (the script waits until the directory lists both
# among its web seeds). Then, one after the other, each into a fresh folder:
#   odi fetch   odi fetch --directory URL -o DIR --json bench/big@1: ranged HTTP from
#               every web seed of the torrent first, BitTorrent (the relays as peers, from
#               the tracker) for the pieces HTTP does not bring; it checks every file's
#               sha256 and fsyncs it before it ends (hashing as the pieces arrive).
#   aria2c      the same .torrent (URL/t/bench/big/1.torrent), tracker and web seeds, the
#               options of scripts/e2e.sh's aria (no DHT, LPD or PEX; --seed-time=0).
#   curl        curl -L -o FILE URL/r/bench/big/1: plain HTTP through the redirector to
#               one relay, the ceiling of a single stream.
# Every result's sha256 is checked against the source's (untimed). Because odi fetch's
# time includes hashing and fsyncing what it wrote, aria2c and curl are also shown with
# `sha256sum FILE && sync FILE` added ("+verify"): the same guarantee at the end.
#
# Caches cannot be dropped (no root guaranteed), so every copy that is read (the source,
# the origin's, the relays') is read once before the timed runs: all start warm alike.
# `sync` runs before each timed command, so earlier writes are not billed to it, and so
# does prime (below): on a VM, memory the guest has not touched lately costs the writer
# several seconds per GiB, which went to whichever client ran first. Each round starts
# with the next client.
#
# A fourth row, disk, times writing and fsyncing the same bytes (dd), the floor of any
# download that ends on disk.
#
# Targets: odi fetch >= 1.0x aria2c's throughput (issue 14); fetch/curl is reported.
# The script reports; it exits non-zero only when something failed to run or verify.
#
# Usage: scripts/bench/fetch.sh [path/to/odi]        (default bin/odi)
# Environment:
#   SIZE_MIB   artifact size in MiB (default 1024)
#   RUNS       rounds of the runs above; the table shows medians (default 3)
#   FILL_WAIT  seconds to wait for both relays to hold the artifact (default 600)
#   FETCH_ARGS more options for odi fetch (e.g. --http-only), word-split
# Only 127.0.0.1 is used; every process started is killed at exit and the work folder
# (a mktemp -d) removed. Requires aria2c, curl, sha256sum.
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

odi=${1:-bin/odi}
size_mib=${SIZE_MIB:-1024}
runs=${RUNS:-3}
fill_wait=${FILL_WAIT:-600}


[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive integer, not '$size_mib'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
[[ $fill_wait =~ ^[1-9][0-9]*$ ]] || die "FILL_WAIT must be seconds, not '$fill_wait'"
[[ -x $odi ]] || die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
odi=$(cd "$(dirname "$odi")" && pwd)/$(basename "$odi")
for tool in aria2c curl sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y aria2 curl)"
done
size=$((size_mib << 20))
quota_mib=$((size_mib * 2 + 64))

# --- work folder, processes, cleanup ------------------------------------------------------

bench_workdir fetch

# served: "ORIGIN R1 R2": bytes the origin (/metrics) and each relay (bytes_served in
# /api/v1/relays, from their heartbeats) have served so far.
served() {
	local origin relays_json out u
	origin=$(curl -fsS "$dir/metrics" | awk '/^odi_directory_origin_bytes_sent_total/ { s += $2 } END { printf "%.0f", s }')
	relays_json=$(curl -fsS "$dir/api/v1/relays" | grep -o '"public_url":"[^"]*"\|"bytes_served":[0-9]*')
	out=${origin:-0}
	for u in "${relay_urls[@]}"; do
		out+=" $(awk -v u="\"public_url\":\"$u\"" '$0 == u { f = 1; next } f && /bytes_served/ { split($0, a, ":"); print a[2]; exit }' <<<"$relays_json")"
	done
	echo "$out"
}
# served_since "ORIGIN R1 R2": what each served since that snapshot, in MiB, once the
# relays' next heartbeats (every second) have told the directory.
served_since() {
	local now_s
	sleep 2.5
	now_s=$(served)
	awk -v a="$1" -v b="$now_s" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		printf "origin %.0f MiB", (y[1] - x[1]) / 1048576
		for (i = 2; i <= n; i++) printf ", relay %d %.0f MiB", i - 1, (y[i] - x[i]) / 1048576
	}'
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if ! grep -q ":$p\$" <<<"$(ss -Htan | awk '{ print $4 }')"; then
			echo "$p"
			return
		fi
	done
	die "found no free port"
}

echo "machine"
echo "  nproc    $(nproc) (clients, relays and the directory share them)"
echo "  cpu      $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "  memory   $(free -m | awk '/^Mem:/ { print $2 " MiB, " $7 " MiB available" }')"
echo "  uptime   $(uptime)"
echo "  aria2c   $(aria2c --version | head -n1)"
echo "  curl     $(curl --version | head -n1 | cut -d' ' -f1-2)"
echo "  artifact $size_mib MiB, $runs round(s)"
echo

# The directory hears from relays every second and probes them every second, so relays
# are listed soon after they hold the artifact.
export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=1s ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1s

for k in pub relay1 relay2; do "$odi" keygen --out "$work/$k.key" >/dev/null; done
"$odi" directory --data "$work/dir" --listen 127.0.0.1:0 --udp-listen off \
	--publisher-key "bench=$work/pub.key.pub" --relay-policy open --allow-private-relay-urls \
	>"$work/dir.out" 2>"$work/dir.log" &
dir_pid=$!
pids+=("$dir_pid")
dir=$(wait_url "$work/dir.out" "$dir_pid" "the directory")
echo "directory at $dir (pid $dir_pid)"

echo "writing $size_mib MiB of random bytes and publishing them..."
head -c "$size" /dev/urandom >"$work/big.iso"
want=$(sha256sum <"$work/big.iso" | cut -d' ' -f1)
t0=$(now)
"$odi" publish --directory "$dir" --key "$work/pub.key" --catalog bench --name big --version 1 -q "$work/big.iso" >/dev/null
echo "published in $(since "$t0") s; sha256 $want"

relay_urls=()
relay_pids=()
for r in 1 2; do
	"$odi" relay --data "$work/relay$r" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$dir" \
		--key "$work/relay$r.key" --quota "${quota_mib}MiB" >"$work/relay$r.out" 2>"$work/relay$r.log" &
	pid=$!
	pids+=("$pid")
	relay_pids+=("$pid")
	url=$(wait_url "$work/relay$r.out" "$pid" "relay $r")
	relay_urls+=("$url")
done
echo "relays at ${relay_urls[*]}; waiting up to $fill_wait s until both are web seeds of bench/big/1..."
# listed URL: the directory lists relay URL among the artifact's web seeds.
listed() { grep -q "\"$1/ws/" <<<"$(curl -fsS "$dir/api/v1/artifacts/bench/big/1" 2>/dev/null || true)"; }
t0=$(now)
deadline=$((SECONDS + fill_wait))
for u in "${relay_urls[@]}"; do
	until listed "$u"; do
		((SECONDS < deadline)) || die "relay $u is not a web seed after $fill_wait s: $(curl -sS "$dir/api/v1/relays")"
		sleep 0.5
	done
done
echo "both relays listed after $(since "$t0") s"
fill_served=$(served_since "0 0 0")
web_seeds=$(curl -fsS "$dir/api/v1/artifacts/bench/big/1" | sed -n 's/.*"web_seeds":\[\([^]]*\)\].*/\1/p')
seeders=$(curl -fsS "$dir/api/v1/artifacts/bench/big/1" | sed -n 's/.*"seeders":\([0-9]*\).*/\1/p')
echo "  web_seeds: $web_seeds"
echo "  seeders on the tracker: ${seeders:-?}"
curl -fsS -o "$work/big.torrent" "$dir/t/bench/big/1.torrent"

# Warm every copy a client may read: the source, the origin's (written with O_DIRECT, so
# not cached yet) and the relays'.
echo "reading every copy once so all runs start warm..."
find "$work/big.iso" "$work/dir/origin" "$work/relay1" "$work/relay2" -type f -size +1M -exec cat {} + >/dev/null
sync
echo

# --- the runs -----------------------------------------------------------------------------

declare -A secs=() vsecs=()
split=""
failures=0
add() { secs[$1]+=" $2"; }
addv() { vsecs[$1]+=" $2"; }
# check NAME FILE: FILE's sha256 is the source's.
check() {
	local got
	got=$(sha256sum <"$2" | cut -d' ' -f1)
	if [[ $got != "$want" ]]; then
		echo "  $1: sha256 $got, want $want: MISMATCH" >&2
		failures=$((failures + 1))
	fi
}
# verify_time T0 FILE: seconds from T0 once FILE is sha256-summed and synced.
verify_time() {
	sha256sum "$2" >/dev/null
	sync "$2"
	since "$1"
}

# prime: give the next client the same start as every other: on this machine (a VM) a
# process's first touch of memory the guest has not used lately costs about 8 s of system
# time per GiB, reused memory about 0.3 s (dd of 1 GiB, three times in a row: 13.1 s, then
# 0.30, 0.26), so the client that wrote first after a pause paid several seconds the
# others did not. Writing SIZE + 64 MiB to a file on tmpfs (or the work folder) and
# deleting it leaves that much freshly used memory free; dirty pages of a deleted file
# are dropped, not written to disk.
prime() {
	local scratch=/dev/shm
	[[ -d $scratch && -w $scratch ]] || scratch=$work
	scratch=$(mktemp "$scratch/odi-bench-prime.XXXXXX")
	head -c $((size + (64 << 20))) /dev/zero >"$scratch" || true
	rm -f "$scratch"
}

run_fetch() {
	local out=$work/run-fetch t peers webs httpb before t0
	rm -rf "$out"
	sync
	prime
	before=$(served)
	t0=$(now)
	# shellcheck disable=SC2086 # FETCH_ARGS is meant to split
	if "$odi" fetch --directory "$dir" -o "$out" --json ${FETCH_ARGS:-} bench/big@1 >"$work/fetch.json" 2>"$work/fetch.log"; then
		t=$(since "$t0")
		add fetch "$t"
		check "odi fetch" "$out/big.iso"
		peers=$(sed -n 's/.*"peers": *\([0-9]*\).*/\1/p' "$work/fetch.json")
		webs=$(sed -n 's/.*"web_seeds": *\([0-9]*\).*/\1/p' "$work/fetch.json")
		httpb=$(sed -n 's/.*"http": *\([0-9]*\).*/\1/p' "$work/fetch.json")
		split="peers $((peers / 1048576)) MiB, web seeds $((webs / 1048576)) MiB, HTTP fallback $((httpb / 1048576)) MiB"
		printf '  %-14s %8s s   %s\n' "odi fetch" "$t" "($split)"
		printf '  %-14s %8s     served by %s\n' "" "" "$(served_since "$before")"
	else
		echo "  odi fetch FAILED:"
		sed 's/^/    /' "$work/fetch.log" | tail -n 20
		failures=$((failures + 1))
	fi
	rm -rf "$out"
}

run_aria2c() {
	local out=$work/run-aria t port before t0
	rm -rf "$out"
	sync
	port=$(free_port)
	prime
	before=$(served)
	t0=$(now)
	if aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
		--seed-time=0 --file-allocation=none --listen-port="$port" --dht-listen-port="$((port + 1))" \
		--console-log-level=warn --summary-interval=0 --bt-stop-timeout=120 \
		-d "$out" "$work/big.torrent" >"$work/aria.log" 2>&1; then
		t=$(since "$t0")
		add aria2c "$t"
		addv aria2c "$(verify_time "$t0" "$out/big.iso")"
		check aria2c "$out/big.iso"
		printf '  %-14s %8s s\n' aria2c "$t"
		printf '  %-14s %8s     served by %s\n' "" "" "$(served_since "$before")"
	else
		echo "  aria2c FAILED:"
		tail -n 20 "$work/aria.log" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
	rm -rf "$out"
}

run_curl() {
	local out=$work/run-curl t loc before t0
	rm -rf "$out"
	mkdir -p "$out"
	sync
	prime
	before=$(served)
	t0=$(now)
	if loc=$(curl -fsSL -o "$out/big.iso" -w '%{url_effective}' "$dir/r/bench/big/1" 2>"$work/curl.log"); then
		t=$(since "$t0")
		add curl "$t"
		addv curl "$(verify_time "$t0" "$out/big.iso")"
		check curl "$out/big.iso"
		printf '  %-14s %8s s   (from %s)\n' "curl -L /r/" "$t" "${loc%%/ws/*}"
		printf '  %-14s %8s     served by %s\n' "" "" "$(served_since "$before")"
	else
		echo "  curl FAILED: $(cat "$work/curl.log")"
		failures=$((failures + 1))
	fi
	rm -rf "$out"
}

# run_disk: the floor of a download that ends on disk, as odi fetch's does: SIZE bytes
# from the page cache written and fsynced to the work folder (dd conv=fsync). This
# machine's disk (a VM's) took 0.7 to 3.5 s for 1 GiB within one minute: a round whose
# disk row is slow shows why odi fetch was slow in it, while aria2c and curl, which leave
# their bytes in the page cache, are not held back.
run_disk() {
	local out=$work/run-disk.bin t t0
	rm -f "$out"
	sync
	prime
	t0=$(now)
	if dd if="$work/big.iso" of="$out" bs=4M conv=fsync status=none 2>"$work/dd.log"; then
		t=$(since "$t0")
		add disk "$t"
		printf '  %-14s %8s s\n' "disk (dd+fsync)" "$t"
	else
		echo "  disk FAILED: $(cat "$work/dd.log")"
		failures=$((failures + 1))
	fi
	rm -f "$out"
}

# Each round starts with the next client, so that none is always first.
clients=(run_fetch run_aria2c run_curl run_disk)
for ((round = 1; round <= runs; round++)); do
	echo "round $round of $runs"
	for ((i = 0; i < ${#clients[@]}; i++)); do
		"${clients[(round - 1 + i) % ${#clients[@]}]}"
	done
done
echo

# --- report -------------------------------------------------------------------------------

declare -A med=()
for k in fetch aria2c curl disk; do
	# shellcheck disable=SC2086 # the lists are meant to split
	med[$k]=$(median ${secs[$k]:-})
	# shellcheck disable=SC2086
	med[$k+v]=$(median ${vsecs[$k]:-})
done
mibps() { awk -v s="${1:-}" -v m="$size_mib" 'BEGIN { if (s == "" || s + 0 == 0) print "-"; else printf "%.1f", m / s }'; }
row() { [[ -n ${med[$2]:-} ]] && printf '%-36s %10s %10s\n' "$1" "${med[$2]}" "$(mibps "${med[$2]}")"; return 0; }
printf '%-36s %10s %10s\n' "$size_mib MiB, medians of $runs" seconds "MiB/s"
row "odi fetch (sha256 + fsync included)" fetch
row "aria2c (.torrent, peers + web seeds)" aria2c
row "aria2c +verify (sha256sum + sync)" aria2c+v
row "curl -L /r/ (one HTTP stream)" curl
row "curl -L /r/ +verify" curl+v
row "disk: write + fsync (dd)" disk
echo
echo "odi fetch's bytes by source (last round): $split"
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" -v want="${3:-0}" 'BEGIN {
		if (a == "" || b == "" || a + 0 == 0) { print "- (a run is missing)"; exit }
		r = b / a
		if (want > 0) printf "%.2fx (target >= %.1fx): %s\n", r, want, (r >= want ? "met" : "MISSED")
		else printf "%.2fx\n", r }'
}
echo "throughput ratios"
printf '  %-40s %s\n' "odi fetch / aria2c:" "$(ratio "${med[fetch]:-}" "${med[aria2c]:-}" 1.0)"
printf '  %-40s %s\n' "odi fetch / aria2c +verify:" "$(ratio "${med[fetch]:-}" "${med[aria2c+v]:-}")"
printf '  %-40s %s\n' "odi fetch / curl:" "$(ratio "${med[fetch]:-}" "${med[curl]:-}")"
printf '  %-40s %s\n' "odi fetch / curl +verify:" "$(ratio "${med[fetch]:-}" "${med[curl+v]:-}")"
echo
echo "served during the fill (the relays from the origin and each other): $fill_served"
echo "uptime at the end: $(uptime)"
for pid in "${relay_pids[@]}"; do kill -0 "$pid" 2>/dev/null || echo "note: relay pid $pid has exited" >&2; done

if ((failures > 0)); then
	echo "$failures run(s) failed or did not verify" >&2
	exit 1
fi
