#!/usr/bin/env bash
# Benchmark: a relay as a web seed, serving and filling, against baselines in the same run.
#
#   serving  curl -o /dev/null of a 1 GiB file from the relay's /ws/ vs from a bare net/http
#            ServeContent server (scripts/bench/bareserve) on the very same file; and random
#            256 KiB Range requests with wrk against both.         targets: >= 0.8x each
#   filling  the relay filling the artifact from one web seed (the directory's origin, no
#            peers) vs aria2c downloading the same torrent from the same web seed.
#                                                                 target: >= 0.7x aria2c
#            and a second relay filling from the first (peers + web seeds), with its split.
#
# Only 127.0.0.1 is used. Usage: scripts/bench/webseed.sh [path/to/odi]
# Environment: SIZE_MIB (default 1024), DURATION for wrk (default 15s), CONNS (default 16).
set -euo pipefail

odi=$(realpath "${1:-bin/odi}")
size_mib=${SIZE_MIB:-1024}
duration=${DURATION:-15s}
conns=${CONNS:-16}
here=$(cd "$(dirname "$0")" && pwd)
[[ -x $odi ]] || { echo "webseed.sh: no odi at $odi; run make build" >&2; exit 1; }
for tool in curl wrk aria2c go; do
	command -v "$tool" >/dev/null || { echo "webseed.sh: $tool is missing (apt-get install -y wrk aria2)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/odi-bench-webseed.XXXXXX)
pids=()
cleanup() {
	# Relays are started inside $(...) and record their PIDs in a file instead.
	[[ -f $work/relay.pids ]] && mapfile -t -O "${#pids[@]}" pids <"$work/relay.pids"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || tail --pid="$p" -f /dev/null 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
mibps() { echo "scale=1; $size_mib / $1" | bc -l; }

# wait_line FILE PATTERN: bounded wait for a line in a process's stdout; prints the match.
wait_line() {
	for _ in $(seq 200); do
		if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
		sleep 0.05
	done
	echo "webseed.sh: timed out waiting for '$2' in $1" >&2
	return 1
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); client and servers share it"
"$odi" keygen --out "$work/pub.key" >/dev/null
"$odi" keygen --out "$work/relay-a.key" >/dev/null
"$odi" keygen --out "$work/relay-b.key" >/dev/null
"$odi" directory --data "$work/dir" --listen 127.0.0.1:0 --udp-listen off --publisher-key "bench=$work/pub.key.pub" \
	--relay-policy open --allow-private-relay-urls >"$work/dir.out" 2>"$work/dir.log" &
pids+=($!)
dir=$(wait_line "$work/dir.out" "listening on" | sed 's/.*listening on \(http:[^ ]*\).*/\1/')

echo "writing ${size_mib} MiB..."
head -c $((size_mib << 20)) /dev/urandom >"$work/big.iso"
"$odi" publish --directory "$dir" --key "$work/pub.key" --catalog bench --name big --version 1 -q "$work/big.iso" >/dev/null
ih=$(curl -fsS "$dir/api/v1/artifacts/bench/big/1" | sed -n 's/.*"infohash":"\([0-9a-f]*\)".*/\1/p')
curl -fsS -o "$work/origin-only.torrent" "$dir/t/bench/big/1.torrent"

# --- filling: aria2c from the origin web seed only ----------------------------------------
cat "$work/big.iso" >/dev/null # the origin's copy is O_DIRECT-written: warm both sides alike
start=$(now)
aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
	--bt-exclude-tracker='*' --seed-time=0 --file-allocation=none --listen-port=51480 \
	--console-log-level=error --summary-interval=0 -d "$work/aria" "$work/origin-only.torrent" >/dev/null
aria_s=$(since "$start")
cmp -s "$work/aria/big.iso" "$work/big.iso" || { echo "aria2c's copy differs" >&2; exit 1; }
rm -rf "$work/aria"

# --- filling: relay A from the origin web seed (no peers exist) ---------------------------
# relay_fill NAME: starts a relay and waits until it serves the artifact; prints seconds.
relay_fill() {
	local name=$1 start
	start=$(now)
	"$odi" relay --data "$work/$name" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$dir" \
		--key "$work/$name.key" --quota 64GiB >"$work/$name.out" 2>"$work/$name.log" &
	echo $! >>"$work/relay.pids"
	local url
	url=$(wait_line "$work/$name.out" "listening on" | sed 's/.*listening on \(http:[^ ]*\).*/\1/')
	for _ in $(seq 1200); do
		if curl -fsS -o /dev/null -r 0-0 "$url/ws/$ih/big.iso" 2>/dev/null; then
			since "$start"
			echo "$url" >"$work/$name.url"
			return 0
		fi
		sleep 0.05
	done
	echo "webseed.sh: $name never filled" >&2
	return 1
}
fill_a=$(relay_fill relay-a)
relay_a=$(cat "$work/relay-a.url")

# --- filling: relay B, with relay A as a peer and a web seed ------------------------------
fill_b=$(relay_fill relay-b)
relay_b=$(cat "$work/relay-b.url")
split=$(curl -fsS "$relay_b/metrics" | awk '/^odi_relay_fetched_bytes_total/ {print $1 "=" $2}' | tr '\n' ' ')

# --- serving: curl of the whole file ------------------------------------------------------
go build -o "$work/bareserve" "$here/bareserve"
"$work/bareserve" -listen 127.0.0.1:0 -file "$work/relay-a/torrents/$ih/big.iso" >"$work/bare.out" 2>&1 &
pids+=($!)
bare=$(wait_line "$work/bare.out" "listening on" | sed 's/listening on /http:\/\//')
curl_time() { # best of 3
	local best=999 t
	for _ in 1 2 3; do
		t=$(curl -fsS -o /dev/null -w '%{time_total}' "$1")
		best=$(echo "if ($t < $best) $t else $best" | bc -l)
	done
	echo "$best"
}
curl_relay=$(curl_time "$relay_a/ws/$ih/big.iso")
curl_bare=$(curl_time "$bare/big.iso")

# --- serving: random 256 KiB ranges -------------------------------------------------------
wrk_rps() {
	SIZE=$((size_mib << 20)) WSPATH=$2 wrk -t2 -c"$conns" -d"$duration" -s "$here/ranges.lua" "$1" |
		awk '/Requests\/sec/ {print $2}'
}
rps_relay=$(wrk_rps "$relay_a" "/ws/$ih/big.iso")
rps_bare=$(wrk_rps "$bare" "/big.iso")

printf '\n%-44s %10s %10s\n' "measure" "seconds" "MiB/s"
printf '%-44s %10.2f %10.1f\n' "aria2c, origin web seed only" "$aria_s" "$(mibps "$aria_s")"
printf '%-44s %10.2f %10.1f\n' "relay A fill, origin web seed only" "$fill_a" "$(mibps "$fill_a")"
printf '%-44s %10.2f %10.1f\n' "relay B fill, relay A + web seeds" "$fill_b" "$(mibps "$fill_b")"
printf '%-44s %10.2f %10.1f\n' "curl from relay A /ws/ (best of 3)" "$curl_relay" "$(mibps "$curl_relay")"
printf '%-44s %10.2f %10.1f\n' "curl from bare ServeContent (best of 3)" "$curl_bare" "$(mibps "$curl_bare")"
printf '%-44s %10s\n' "256 KiB ranges/s, relay A ($conns conns)" "$rps_relay"
printf '%-44s %10s\n' "256 KiB ranges/s, bare ServeContent" "$rps_bare"
echo
echo "relay B downloaded: $split"
echo "fill:    relay A / aria2c throughput  = $(ratio "$aria_s" "$fill_a")x   (target >= 0.7)"
echo "serving: relay / bare, whole file     = $(ratio "$curl_bare" "$curl_relay")x   (target >= 0.8)"
echo "serving: relay / bare, 256 KiB ranges = $(ratio "$rps_relay" "$rps_bare")x   (target >= 0.8)"
