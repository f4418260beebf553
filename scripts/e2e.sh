#!/usr/bin/env bash
# End-to-end check of odi with real processes and real clients, on 127.0.0.1 only.
#
# Usage: scripts/e2e.sh [path/to/odi]   (make e2e builds bin/odi first)
#
# Starts a directory and two relays as their own processes with their own data dirs,
# publishes a 64 MiB file and a multi-file package with `odi publish`, waits for the
# relays to fill, then downloads each with odi fetch, aria2c (the .torrent with web seeds
# only, a magnet with peers only, the .meta4), curl -L and wget through the /r/
# redirector, checking every byte with sha256sum, and that no odi process holds a socket
# outside 127.0.0.0/8. Then: kill -9 of a relay (redirects and url-lists move to the
# other), a relay serving corrupt bytes (downloads still verify, the relay is
# quarantined), an expunge (relays delete it, tracker and /r/ refuse it, odi fetch says
# why), a directory restart, and the directory killed with -9 (odi fetch --torrent and
# aria2c find a relay through the DHT). Prints a line per case and "N passed, M failed"; exits
# non-zero on any failure.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

ODI=$(realpath "${1:-bin/odi}")
[ -x "$ODI" ] || { echo "e2e: $ODI not found; run make build" >&2; exit 2; }
for tool in curl wget aria2c sha256sum ss; do
	command -v "$tool" >/dev/null || { echo "e2e: $tool is missing (.ci/run installs it)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/odi-e2e.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && sed 's/^/      /' <<<"$2"; }
# check NAME CMD...: runs CMD, passes when it exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# off_loopback NAME PID: prints NAME's sockets (ss -tuanp lines of PID, without the queue
# sizes) whose local address is outside 127.0.0.0/8, where every address and flag given
# here puts them.
off_loopback() {
	ss -Htuanp | awk -v pid="pid=$2," -v name="$1" 'index($0, pid) && $5 !~ /^127\./ { print name ": " $1, $2, $5, $6, $7 }'
}
# status URL: prints the HTTP status of a GET.
status() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
# wait_url OUT: prints the first http URL after "listening on" in a process's stdout.
wait_url() {
	local url
	for _ in $(seq 100); do
		url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$1")
		[ -n "$url" ] && { echo "$url"; return 0; }
		sleep 0.1
	done
	return 1
}

# The directory hears from relays every second and probes them every second, so the
# failure cases below settle in seconds.
export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=1s ODI_DIRECTORY_RELAYS_MISSED_HEARTBEATS=3
export ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1s ODI_DIRECTORY_RELAYS_PROBE_FAILURES=2

# start_directory DATA: starts a directory, sets DIR_URL and DIR_PID.
start_directory() {
	"$ODI" directory --data "$1" --listen "127.0.0.1:${DIR_PORT:-0}" \
		--admin-key "$WORK/admin.key.pub" --publisher-key "e2e=$WORK/publisher.key.pub" \
		--index-key "$WORK/index.key" --relay-policy open --allow-private-relay-urls \
		>"$WORK/directory.out" 2>"$WORK/directory.log" &
	DIR_PID=$!
	PIDS+=("$DIR_PID")
	DIR_URL=$(wait_url "$WORK/directory.out") || { echo "e2e: the directory did not start:" >&2; cat "$WORK/directory.log" >&2; exit 1; }
	DIR_PORT=${DIR_URL##*:}
}

# start_relay NAME: starts relay NAME with its own key and data dir; sets RELAY_URL and RELAY_PID.
start_relay() {
	"$ODI" relay --data "$WORK/$1" --listen 127.0.0.1:0 --bt-listen 127.0.0.1:0 --directory "$DIR_URL" \
		--key "$WORK/$1.key" --quota 1GiB >"$WORK/$1.out" 2>"$WORK/$1.log" &
	RELAY_PID=$!
	PIDS+=("$RELAY_PID")
	RELAY_URL=$(wait_url "$WORK/$1.out") || { echo "e2e: relay $1 did not start:" >&2; cat "$WORK/$1.log" >&2; exit 1; }
}

for k in admin publisher relay-a relay-b relay-c index; do "$ODI" keygen --out "$WORK/$k.key" >/dev/null; done
start_directory "$WORK/data"
echo "directory at $DIR_URL"

# Artifacts: a 64 MiB file and a package with nested folders, a space and an empty file.
mkdir -p "$WORK/src/pkg/bin" "$WORK/src/pkg/share/doc"
head -c $((64 << 20)) /dev/urandom >"$WORK/src/image.iso"
head -c 3000000 /dev/urandom >"$WORK/src/pkg/bin/tool"
echo "read me" >"$WORK/src/pkg/README"
: >"$WORK/src/pkg/share/empty"
head -c 777777 /dev/urandom >"$WORK/src/pkg/share/doc/user guide.txt"

publish() { "$ODI" publish --directory "$DIR_URL" --key "$WORK/publisher.key" --quiet "$@"; }
check "publish a single file (64 MiB)" publish --catalog e2e --name image --version 1.0 "$WORK/src/image.iso"
check "publish a package" publish --catalog e2e --name pkg --version 1.0 "$WORK/src/pkg"

dup_out=$(publish --catalog e2e --name image --version 1.0 "$WORK/src/image.iso" 2>&1)
if [ $? -eq 1 ] && grep -q 409 <<<"$dup_out"; then pass "publishing a version twice is refused (409)"; else fail "publishing a version twice is refused (409)" "$dup_out"; fi

IH=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | sed -n 's/.*"infohash":"\([0-9a-f]*\)".*/\1/p')
PKG_IH=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/pkg/1.0" | sed -n 's/.*"infohash":"\([0-9a-f]*\)".*/\1/p')
want=$(sha256sum <"$WORK/src/image.iso" | cut -d' ' -f1)

got=$(curl -fsS "$DIR_URL/ws/$IH/image.iso" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && pass "curl from the origin web seed" || fail "curl from the origin web seed" "sha256 $got, want $want"
range=$(curl -fsS -r 1000-1999 "$DIR_URL/ws/$IH/image.iso" | sha256sum | cut -d' ' -f1)
want_range=$(tail -c +1001 "$WORK/src/image.iso" | head -c 1000 | sha256sum | cut -d' ' -f1)
[ "$range" = "$want_range" ] && pass "curl a byte range" || fail "curl a byte range"

# --- two relays fill ----------------------------------------------------------------------
start_relay relay-a
RELAY_A=$RELAY_URL RELAY_A_PID=$RELAY_PID
start_relay relay-b
RELAY_B=$RELAY_URL RELAY_B_PID=$RELAY_PID
# serves ART RELAY: the directory lists RELAY's copy of ART (held, verified, range-checked, up).
serves() { curl -fsS "$DIR_URL/api/v1/artifacts/e2e/$1/1.0" | grep -q "\"$2/ws/"; }
if eventually 120 serves image "$RELAY_A" && eventually 60 serves pkg "$RELAY_A" &&
	eventually 60 serves image "$RELAY_B" && eventually 60 serves pkg "$RELAY_B"; then
	pass "both relays fill with both artifacts and are listed as web seeds"
else
	fail "both relays fill with both artifacts and are listed as web seeds" "$(curl -sS "$DIR_URL/api/v1/relays")"
fi
seeders=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | sed -n 's/.*"seeders":\([0-9]*\).*/\1/p')
[ "${seeders:-0}" -ge 2 ] && pass "both relays seed on the tracker" || fail "both relays seed on the tracker" "seeders=${seeders:-none}"

# --- every kind of client -----------------------------------------------------------------
sums() { curl -fsS "$DIR_URL/api/v1/artifacts/e2e/$1/1.0/SHA256SUMS"; }
# verified DIR ART: sha256sum -c of ART's files as laid out under DIR.
verified() { (cd "$1" && sums "$2" | sha256sum -c --quiet); }
# aria2c on loopback only, on the first free port of a range (it tries them in turn), so
# that two runs at once or a busy 51413 do not fail it.
aria() {
	aria2c --interface=127.0.0.1 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
		--seed-time=0 --file-allocation=none --listen-port=20000-40000 \
		--console-log-level=warn --summary-interval=0 --bt-stop-timeout=60 "$@"
}
for art in image pkg; do
	name="odi fetch $art (peers and web seeds), verified"
	# In the background, to see its sockets while it downloads (the socket case below).
	"$ODI" fetch --directory "$DIR_URL" --quiet -o "$WORK/fetch" "e2e/$art@1.0" >"$WORK/fetch-$art.log" 2>&1 &
	fetch_pid=$!
	PIDS+=("$fetch_pid")
	while kill -0 "$fetch_pid" 2>/dev/null; do
		off_loopback "odi fetch $art" "$fetch_pid" >>"$WORK/fetch-sockets"
		sleep 0.1
	done
	if wait "$fetch_pid" && verified "$WORK/fetch" "$art"; then
		pass "$name"
	else
		fail "$name" "$(tail -5 "$WORK/fetch-$art.log")"
	fi
	name="aria2c on the .torrent, web seeds only (tracker unreachable): $art"
	if aria --bt-exclude-tracker='*' -d "$WORK/aria-ws-$art" "$DIR_URL/t/e2e/$art/1.0.torrent" >"$WORK/aria-ws-$art.log" 2>&1 && verified "$WORK/aria-ws-$art" "$art"; then
		pass "$name"
	else
		fail "$name" "$(tail -5 "$WORK/aria-ws-$art.log")"
	fi
	name="aria2c on a magnet, peers only (no web seeds): $art"
	ih=$IH
	[ "$art" = pkg ] && ih=$PKG_IH
	magnet="magnet:?xt=urn:btih:$ih&tr=$(sed 's/:/%3A/g; s|/|%2F|g' <<<"$DIR_URL/announce")"
	if aria -d "$WORK/aria-bt-$art" "$magnet" >"$WORK/aria-bt-$art.log" 2>&1 && verified "$WORK/aria-bt-$art" "$art"; then
		pass "$name"
	else
		fail "$name" "$(tail -5 "$WORK/aria-bt-$art.log")"
	fi
	name="aria2c on the .meta4: $art"
	if aria --follow-torrent=false -d "$WORK/aria-m4-$art" "$DIR_URL/m/e2e/$art/1.0.meta4" >"$WORK/aria-m4-$art.log" 2>&1 && verified "$WORK/aria-m4-$art" "$art"; then
		pass "$name"
	else
		fail "$name" "$(tail -5 "$WORK/aria-m4-$art.log")"
	fi
done

# Every listen flag says 127.0.0.1 and every peer is on loopback: no odi socket (TCP, UDP
# trackers, uTP, DHT, IPv6) may sit on 0.0.0.0, [::] or another address.
name="no odi socket outside 127.0.0.0/8 (directory, relays, odi fetch while downloading)"
off=$({ cat "$WORK/fetch-sockets" 2>/dev/null; off_loopback directory "$DIR_PID"; off_loopback relay-a "$RELAY_A_PID"; off_loopback relay-b "$RELAY_B_PID"; } | sort -u)
any=$(ss -Htuanp | grep -cE "pid=($DIR_PID|$RELAY_A_PID|$RELAY_B_PID),")
if [ -z "$off" ] && [ "$any" -gt 0 ]; then pass "$name"; else fail "$name" "${off:-ss lists no socket of theirs: is ss -p allowed here?}"; fi

completed=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/pkg/1.0" | sed -n 's/.*"completed":\([0-9]*\).*/\1/p')
[ "${completed:-0}" -ge 1 ] && pass "the tracker counted completed downloads" || fail "the tracker counted completed downloads" "completed=${completed:-none}"

location() { curl -sS -o /dev/null -w '%{redirect_url}' "$DIR_URL/r/$1"; }
loc=$(location e2e/image/1.0)
case "$loc" in
"$RELAY_A"/* | "$RELAY_B"/*) pass "/r/ redirects to a relay" ;;
*) fail "/r/ redirects to a relay" "Location: $loc" ;;
esac
got=$(curl -fsSL "$DIR_URL/r/e2e/image/1.0" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && pass "curl -L through /r/ gets image, sha256 matches" || fail "curl -L through /r/ gets image, sha256 matches" "sha256 $got"
loc=$(curl -sS -o /dev/null -w '%{redirect_url}' "$DIR_URL/blob/sha256/$want")
case "$loc" in
"$RELAY_A/blob/sha256/$want" | "$RELAY_B/blob/sha256/$want") pass "/blob/sha256/ redirects to a relay's /blob/" ;;
*) fail "/blob/sha256/ redirects to a relay's /blob/" "Location: $loc" ;;
esac
got=$(curl -fsSL "$DIR_URL/blob/sha256/$want" | sha256sum | cut -d' ' -f1)
if [ "$got" = "$want" ]; then pass "curl -L through /blob/sha256/ gets image by its hash, sha256 matches"; else fail "curl -L through /blob/sha256/ gets image by its hash, sha256 matches" "sha256 $got"; fi
mkdir -p "$WORK/wget/pkg/share/doc"
if wget -q -O "$WORK/wget/pkg/share/doc/user guide.txt" "$DIR_URL/r/e2e/pkg/1.0/share/doc/user%20guide.txt" &&
	wget -q -O "$WORK/wget/image.iso" "$DIR_URL/r/e2e/image/latest" &&
	[ "$(sha256sum <"$WORK/wget/image.iso" | cut -d' ' -f1)" = "$want" ] &&
	cmp -s "$WORK/wget/pkg/share/doc/user guide.txt" "$WORK/src/pkg/share/doc/user guide.txt"; then
	pass "wget through /r/ (a package file, and latest) gets the right bytes"
else
	fail "wget through /r/ (a package file, and latest) gets the right bytes"
fi
# redirects: the artifact's redirect count; the directory hands counts on every second.
redirects() { curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | sed -n 's/.*"redirects":\([0-9]*\).*/\1/p'; }
counted() { [ "$(redirects)" -ge 2 ]; }
if eventually 10 counted; then pass "redirects count as demand"; else fail "redirects count as demand" "redirects=$(redirects)"; fi

# promtool lints the exposition after traffic of every kind: names, units, HELP, types.
if command -v promtool >/dev/null; then
	for who in "directory $DIR_URL" "relay-a $RELAY_A"; do
		out=$(curl -fsS "${who#* }/metrics" | promtool check metrics 2>&1)
		if [ $? -eq 0 ] && [ -z "$out" ]; then pass "promtool check metrics: ${who%% *}"; else fail "promtool check metrics: ${who%% *}" "$out"; fi
	done
else
	echo "SKIP  promtool check metrics (promtool is missing; .ci/run installs prometheus)"
fi

# --- a directory linking this one's catalog (federation) -----------------------------------
# Directory B, on another loopback address, serves catalog e2e as this directory's own
# signed index lists it: the same torrents (infohashes), and aria2c given B's torrent
# takes from this directory's swarm, its relays included.
cat >"$WORK/linked.yaml" <<EOF
directory:
  federation:
    links: [{directory: "$DIR_URL", catalog: e2e, index_key: "$WORK/index.key.pub", interval: 1s}]
EOF
"$ODI" --config "$WORK/linked.yaml" directory --data "$WORK/linked" --listen 127.0.0.2:0 --udp-listen off \
	--allow-private-relay-urls >"$WORK/linked.out" 2>"$WORK/linked.log" &
LINKED_PID=$!
PIDS+=("$LINKED_PID")
LINKED_URL=$(wait_url "$WORK/linked.out") || { echo "e2e: directory B did not start:" >&2; cat "$WORK/linked.log" >&2; exit 1; }
linked() { curl -fsS "$LINKED_URL/api/v1/artifacts/e2e/$1/1.0" | grep -q "\"infohash\":\"$2\""; }
if eventually 60 linked image "$IH" && eventually 30 linked pkg "$PKG_IH"; then
	pass "a linked directory serves both artifacts under the same infohashes"
else
	fail "a linked directory serves both artifacts under the same infohashes" "$(curl -sS "$LINKED_URL/api/v1/federation"; tail -5 "$WORK/linked.log")"
fi
relay_bytes() { curl -fsS "$DIR_URL/api/v1/relays" | jq '[.relays[].bytes_served] | add'; }
before=$(relay_bytes)
if aria -d "$WORK/aria-linked" "$LINKED_URL/t/e2e/image/1.0.torrent" >"$WORK/aria-linked.log" 2>&1 && verified "$WORK/aria-linked" image; then
	pass "aria2c on the linked directory's torrent, verified"
else
	fail "aria2c on the linked directory's torrent, verified" "$(tail -5 "$WORK/aria-linked.log")"
fi
from_relays() { [ "$(relay_bytes)" -gt "$before" ]; }
if eventually 10 from_relays; then pass "... and the first directory's relays served it"; else fail "... and the first directory's relays served it" "relays' bytes served: $before, then $(relay_bytes)"; fi
# B tells this directory it links the catalog; this one checks that with B, checks a piece
# of B's copy, and lists B's tracker and copy in its own torrents: one swarm either way.
lists_linked() {
	curl -fsS "$DIR_URL/t/e2e/image/1.0.torrent" -o "$WORK/a-image.torrent" &&
		grep -aqF "$LINKED_URL/ws/$IH/" "$WORK/a-image.torrent" && grep -aqF "$LINKED_URL/announce" "$WORK/a-image.torrent"
}
if eventually 30 lists_linked; then
	pass "the first directory's torrent lists the linked one's tracker and copy"
else
	fail "the first directory's torrent lists the linked one's tracker and copy" "$(curl -sS "$DIR_URL/api/v1/federation" | jq -c .linked_by)"
fi
check "odi admin federation status" "$ODI" admin --directory "$LINKED_URL" federation status

# --- kill -9 of a relay -------------------------------------------------------------------
kill -9 "$RELAY_A_PID"
only_b() { ! serves image "$RELAY_A" && serves image "$RELAY_B"; }
if eventually 15 only_b; then pass "kill -9 relay A: the url-list drops it within the timeout"; else fail "kill -9 relay A: the url-list drops it within the timeout"; fi
# Redirects reuse an artifact's list of relays for up to a second after url-lists change.
to_b() { for _ in $(seq 10); do case "$(location e2e/image/1.0)" in "$RELAY_B"/*) ;; *) return 1 ;; esac; done; }
if eventually 3 to_b; then pass "kill -9 relay A: /r/ sends everyone to relay B"; else fail "kill -9 relay A: /r/ sends everyone to relay B" "Location: $(location e2e/image/1.0)"; fi
got=$(curl -fsSL "$DIR_URL/r/e2e/image/1.0" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && pass "kill -9 relay A: curl -L still gets the file" || fail "kill -9 relay A: curl -L still gets the file"

# --- a relay serving corrupt bytes ----------------------------------------------------------
# Bit rot on relay B's disk, a byte in every piece, while it still claims the file verified.
plen=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | sed -n 's/.*"piece_length":\([0-9]*\).*/\1/p')
for ((off = 100; off < 64 << 20; off += plen)); do
	printf '\xff' | dd of="$WORK/relay-b/torrents/$IH/image.iso" bs=1 seek="$off" conv=notrunc status=none
done
if aria --bt-exclude-tracker='*' -d "$WORK/aria-corrupt" "$DIR_URL/t/e2e/image/1.0.torrent" >"$WORK/aria-corrupt.log" 2>&1 && verified "$WORK/aria-corrupt" image; then
	pass "corrupt relay: aria2c's download still verifies"
else
	fail "corrupt relay: aria2c's download still verifies" "$(tail -5 "$WORK/aria-corrupt.log")"
fi
quarantined() { curl -fsS "$DIR_URL/api/v1/relays" | grep -q '"status":"quarantined"'; }
if eventually 60 quarantined; then pass "corrupt relay: the directory quarantines it"; else fail "corrupt relay: the directory quarantines it" "$(curl -sS "$DIR_URL/api/v1/relays")"; fi
to_origin() { [ "$(location e2e/image/1.0)" = "$DIR_URL/dl/$IH/image.iso" ]; }
if eventually 3 to_origin; then pass "corrupt relay: /r/ falls back to the origin"; else fail "corrupt relay: /r/ falls back to the origin" "Location: $(location e2e/image/1.0)"; fi
rm -rf "$WORK/fetch"
if "$ODI" fetch --directory "$DIR_URL" --quiet -o "$WORK/fetch" e2e/image@1.0 >"$WORK/fetch-after.log" 2>&1 && verified "$WORK/fetch" image; then
	pass "corrupt relay: odi fetch still verifies"
else
	fail "corrupt relay: odi fetch still verifies" "$(tail -5 "$WORK/fetch-after.log")"
fi

# --- signed indexes -------------------------------------------------------------------------
"$ODI" keygen --out "$WORK/indexer.key" >/dev/null
check "odi admin indexers add" "$ODI" admin --directory "$DIR_URL" --key "$WORK/admin.key" indexers add e2e-reviewers "$WORK/indexer.key.pub"
check "odi index sign (a package, its bytes checked)" "$ODI" index sign --directory "$DIR_URL" --key "$WORK/indexer.key" --add e2e/pkg/1.0 --verify-bytes
index_url=$DIR_URL$(curl -fsS "$DIR_URL/indexes/" | jq -r '.indexes[] | select(.name == "e2e-reviewers") | .url')
curl -fsS -o "$WORK/index.json" "$index_url" && curl -fsS -o "$WORK/index.json.minisig" "$index_url.minisig"
check "Debian's minisign verifies the served index with the indexer's key" minisign -Vm "$WORK/index.json" -x "$WORK/index.json.minisig" -p "$WORK/indexer.key.pub"
etag=$(curl -fsS -o /dev/null -D - "$index_url" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
s=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$index_url")
[ "$s" = 304 ] && pass "an unchanged index is a 304 to If-None-Match" || fail "an unchanged index is a 304 to If-None-Match" "got $s for ETag $etag"
trusted() { XDG_STATE_HOME="$WORK/state" "$ODI" fetch --directory "$DIR_URL" --quiet --trust "$WORK/indexer.key.pub" "$@"; }
if trusted -o "$WORK/fetch-trusted" e2e/pkg >"$WORK/fetch-trusted.log" 2>&1 && verified "$WORK/fetch-trusted" pkg; then
	pass "odi fetch --trust gets what the index lists, verified"
else
	fail "odi fetch --trust gets what the index lists, verified" "$(tail -5 "$WORK/fetch-trusted.log")"
fi
out=$(trusted -o "$WORK/fetch-untrusted" e2e/image@1.0 2>&1)
rc=$?
if [ "$rc" = 3 ] && grep -q "not in any index you trust" <<<"$out"; then pass "odi fetch --trust refuses what no index lists (exit 3)"; else fail "odi fetch --trust refuses what no index lists (exit 3)" "exit $rc: $out"; fi

# --- expunge --------------------------------------------------------------------------------
check "odi admin expunge" "$ODI" admin --directory "$DIR_URL" --key "$WORK/admin.key" expunge e2e/image/1.0 --reason "e2e test"
announce="$DIR_URL/announce?info_hash=$(printf '%s' "$IH" | sed 's/../%&/g')&peer_id=-E2E000-000000000000&port=6881&left=1"
if curl -fsS "$announce" | grep -q 'failure reason.*expunged: e2e test'; then
	pass "the tracker refuses the expunged artifact"
else
	fail "the tracker refuses the expunged artifact" "$(curl -sS "$announce")"
fi
for path in "/ws/$IH/image.iso" "/dl/$IH/image.iso" "/t/e2e/image/1.0.torrent" "/r/e2e/image/1.0" "/m/e2e/image/1.0.meta4" "/blob/sha256/$want"; do
	s=$(status "$DIR_URL$path")
	[ "$s" = 410 ] && pass "GET $path after expunge is 410" || fail "GET $path after expunge is 410" "got $s"
done
if curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | grep -q '"expunge_reason":"e2e test"'; then
	pass "the JSON says why it was expunged"
else
	fail "the JSON says why it was expunged"
fi
if eventually 20 test ! -e "$WORK/relay-b/torrents/$IH"; then pass "the relay deletes the expunged artifact"; else fail "the relay deletes the expunged artifact"; fi
gone_linked() { [ "$(status "$LINKED_URL/t/e2e/image/1.0.torrent")" = 410 ]; }
if eventually 10 gone_linked; then pass "the linked directory expunges it too"; else fail "the linked directory expunges it too" "$(curl -sS "$LINKED_URL/api/v1/artifacts/e2e/image/1.0")"; fi
out=$("$ODI" fetch --directory "$DIR_URL" --quiet -o "$WORK/fetch-gone" e2e/image@1.0 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q "expunged: e2e test" <<<"$out"; then pass "odi fetch of an expunged artifact fails and says why"; else fail "odi fetch of an expunged artifact fails and says why" "exit $rc: $out"; fi

# --- a restart keeps the catalog ------------------------------------------------------------
kill "$DIR_PID" && wait "$DIR_PID" 2>/dev/null
start_directory "$WORK/data"
s=$(status "$DIR_URL/t/e2e/pkg/1.0.torrent")
[ "$s" = 200 ] && pass "the catalog survives a restart" || fail "the catalog survives a restart" "got $s"

# --- the directory killed with -9: peers through the DHT ------------------------------------
# Relay C joins and takes pkg; a user keeps pkg's torrent, which names the DHT nodes of
# the directory and of relay C; then the directory dies. odi fetch of the saved torrent,
# its web seeds taken out so that only peers can bring the bytes, finds relay C through
# the DHT, and so does aria2c started at relay C's node alone.
(cd "$(dirname "$0")/.." && go build -o "$WORK/peersonly" ./scripts/e2e/peersonly) || { echo "e2e: cannot build scripts/e2e/peersonly" >&2; exit 1; }
start_relay relay-c
RELAY_C=$RELAY_URL
node_c() { curl -fsS "$DIR_URL/api/v1/relays" | jq -r --arg u "$RELAY_C" '.relays[] | select(.public_url == $u) | .dht_node // empty'; }
names_c() {
	local node
	node=$(node_c) && [ -n "$node" ] && serves pkg "$RELAY_C" &&
		curl -fsS -o "$WORK/pkg.torrent" "$DIR_URL/t/e2e/pkg/1.0.torrent" && grep -aqF "9:127.0.0.1i${node##*:}e" "$WORK/pkg.torrent"
}
if eventually 60 names_c; then
	pass "relay C takes pkg, and its torrent names relay C's DHT node"
else
	fail "relay C takes pkg, and its torrent names relay C's DHT node" "$(curl -sS "$DIR_URL/api/v1/relays" | jq -c '[.relays[] | {public_url, dht_node, status}]')"
fi
NODE_C=$(node_c)
"$WORK/peersonly" "$WORK/pkg.torrent" "$WORK/pkg-peers.torrent"
{ kill -9 "$DIR_PID" && wait "$DIR_PID"; } 2>/dev/null # bash would say "Killed"
res=$("$ODI" fetch --torrent "$WORK/pkg-peers.torrent" -o "$WORK/fetch-dht" --json 2>"$WORK/fetch-dht.log")
if [ "$(jq -r '.pieces_only and .fetched.peers == .bytes' <<<"$res" 2>/dev/null)" = true ] && diff -r "$WORK/fetch-dht/pkg" "$WORK/src/pkg" >/dev/null; then
	pass "directory killed -9: odi fetch --torrent of the saved torrent gets pkg from relay C through the DHT"
else
	fail "directory killed -9: odi fetch --torrent of the saved torrent gets pkg from relay C through the DHT" "$res $(tail -3 "$WORK/fetch-dht.log")"
fi
if aria2c --interface=127.0.0.1 --enable-dht=true --enable-dht6=false --dht-entry-point="$NODE_C" \
	--dht-listen-port=32100-32999 --dht-file-path="$WORK/aria-dht.dat" --bt-enable-lpd=false --enable-peer-exchange=false \
	--seed-time=0 --file-allocation=none --listen-port=20000-32000 --bt-tracker-connect-timeout=2 \
	--console-log-level=warn --summary-interval=0 -d "$WORK/aria-dht" "$WORK/pkg-peers.torrent" >"$WORK/aria-dht.log" 2>&1 &&
	diff -r "$WORK/aria-dht/pkg" "$WORK/src/pkg" >/dev/null; then
	pass "directory killed -9: aria2c started at relay C's DHT node gets pkg, verified"
else
	fail "directory killed -9: aria2c started at relay C's DHT node gets pkg, verified" "$(tail -5 "$WORK/aria-dht.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
