#!/usr/bin/env bash
# Benchmark: a directory catching up a linked catalog (federation links), against a relay
# filling the same artifacts, from the same sources.
#
# Directory A (with an index key) publishes COUNT artifacts of SIZE_MIB each (random
# bytes) in catalog "bench"; two relays fill with all of them. Then, one after the other:
#   relay fill   a third relay joins A (quota for all of them) and takes every artifact:
#                timed from its start until A lists it holding all COUNT verified. It is
#                stopped afterwards, so the link has the same sources.
#   link         directory B starts with federation.links to A's catalog (interval 1s):
#                timed from its start until GET /api/v1/federation shows COUNT held (each
#                downloaded, its sha256 and info dict checked, and published: bytes
#                copied into B's origin and fsynced).
# Both take from A's swarm: A's origin and the two relays (BitTorrent and web seeds).
#
# Target (issue 16): link / relay fill throughput >= 0.8x.
# The script reports; it exits non-zero only when something failed to run.
#
# Usage: scripts/bench/link.sh [path/to/odi]        (default bin/odi)
# Environment:
#   COUNT      artifacts (default 20)
#   SIZE_MIB   size of each, MiB (default 256)
#   FILL_WAIT  seconds to wait for any fill or catch-up (default 1800)
# Only 127.0.0.1 and 127.0.0.2 are used; every process started is killed at exit and the
# work folder (a mktemp -d, about COUNT x SIZE_MIB x 5 of disk) removed.
set -euo pipefail
# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

odi=${1:-bin/odi}
count=${COUNT:-20}
size_mib=${SIZE_MIB:-256}
fill_wait=${FILL_WAIT:-1800}
[[ $count =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive integer, not '$count'"
[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive integer, not '$size_mib'"
[[ $fill_wait =~ ^[1-9][0-9]*$ ]] || die "FILL_WAIT must be seconds, not '$fill_wait'"
[[ -x $odi ]] || die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
odi=$(cd "$(dirname "$odi")" && pwd)/$(basename "$odi")
command -v jq >/dev/null || die "jq is missing (apt-get install -y jq)"
total_mib=$((count * size_mib))
quota_mib=$((total_mib + 256))

bench_workdir link

echo "machine"
echo "  nproc    $(nproc)"
echo "  memory   $(free -m | awk '/^Mem:/ { print $2 " MiB, " $7 " MiB available" }')"
echo "  disk     $(df -h --output=avail "$work" | tail -n1 | tr -d ' ') free where the work folder is"
echo "  load     $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  artifacts $count x $size_mib MiB = $total_mib MiB"
echo

export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=1s ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1s
for k in pub index relay1 relay2 relay3; do "$odi" keygen --out "$work/$k.key" >/dev/null; done

# start NAME CMD...: starts an odi process with its output in $work/NAME.out and .log,
# and sets pid and url to its PID and URL.
start() {
	local name=$1
	shift
	"$odi" "$@" >"$work/$name.out" 2>"$work/$name.log" &
	pid=$!
	pids+=("$pid")
	url=$(wait_url "$work/$name.out" "$pid" "$name")
}

start dira directory --data "$work/a" --listen 127.0.0.1:0 --udp-listen off \
	--publisher-key "bench=$work/pub.key.pub" --index-key "$work/index.key" \
	--relay-policy open --allow-private-relay-urls
a=$url
echo "directory A at $a"
echo "publishing $count artifacts..."
t0=$(now)
for i in $(seq "$count"); do
	head -c "$((size_mib << 20))" /dev/urandom >"$work/art-$i.bin"
	"$odi" publish --directory "$a" --key "$work/pub.key" --catalog bench --name "art$i" --version 1 -q "$work/art-$i.bin" >/dev/null
	rm "$work/art-$i.bin"
done
echo "  published in $(since "$t0") s"

# holding URL RELAY_URL: how many artifacts the directory at URL lists the relay at
# RELAY_URL holding, verified.
holding() {
	curl -fsS "$1/api/v1/relays" | jq --arg u "$2" '[.relays[] | select(.public_url == $u) | .holdings[]? | select(.verified)] | length'
}
# await WHAT CMD...: waits (FILL_WAIT at most) until CMD prints $count.
await() {
	local what=$1 deadline=$((SECONDS + fill_wait))
	shift
	until [[ $("$@" 2>/dev/null || echo 0) == "$count" ]]; do
		((SECONDS < deadline)) || die "$what: not done after $fill_wait s"
		sleep 0.5
	done
}

relay() {
	start "relay$1" relay --data "$work/relay$1" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$a" \
		--key "$work/relay$1.key" --quota "${quota_mib}MiB"
}
relay 1
r1=$url
relay 2
r2=$url
echo "relays 1 and 2 at $r1 $r2; waiting until both hold all $count..."
t0=$(now)
await "relay 1" holding "$a" "$r1"
await "relay 2" holding "$a" "$r2"
echo "  filled in $(since "$t0") s"
sync

echo
echo "relay fill: a third relay joins..."
t0=$(now)
relay 3
r3=$url
await "relay 3" holding "$a" "$r3"
relay_s=$(since "$t0")
echo "  relay 3 holds all $count, verified, after $relay_s s"
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -rf "$work/relay3"
sync

echo "link: directory B links catalog bench of A..."
cat >"$work/b.yaml" <<EOF
directory:
  federation:
    links:
      - {directory: "$a", catalog: bench, index_key: "$work/index.key.pub", interval: 1s}
EOF
t0=$(now)
start dirb --config "$work/b.yaml" directory --data "$work/b" --listen 127.0.0.2:0 --udp-listen off \
	--allow-private-relay-urls
b=$url
await "link" sh -c "curl -fsS '$b/api/v1/federation' | jq '.links[0].artifacts'"
link_s=$(since "$t0")
echo "  B holds all $count after $link_s s"
curl -fsS "$b/api/v1/federation" | jq -c '.links[0] | {state, index_version, artifacts, pending, failures}'

echo
awk -v r="$relay_s" -v l="$link_s" -v mib="$total_mib" 'BEGIN {
	printf "%-34s %8s %10s\n", "", "seconds", "MiB/s"
	printf "%-34s %8.1f %10.1f\n", "relay fill (a third relay)", r, mib / r
	printf "%-34s %8.1f %10.1f\n", "link catch-up (directory B)", l, mib / l
	printf "link / relay fill throughput:      %.2fx (target >= 0.8x): %s\n", r / l, (r / l >= 0.8 ? "met" : "NOT met")
}'
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
