#!/usr/bin/env bash
# End-to-end check of odi with real processes and real clients, on 127.0.0.1 only.
#
# Usage: scripts/e2e.sh [path/to/odi]   (make e2e builds bin/odi first)
#
# Starts a directory as its own process, publishes a single file and a multi-file
# package with `odi publish`, downloads them with curl (origin web seed) and aria2c (the
# .torrent, web seed only), checks every byte with sha256sum, then expunges one. Prints a
# line per case and "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail

ODI=$(realpath "${1:-bin/odi}")
[ -x "$ODI" ] || { echo "e2e: $ODI not found; run make build" >&2; exit 2; }
for tool in curl aria2c sha256sum; do
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
# status URL: prints the HTTP status of a GET.
status() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

# start_directory DATA: starts a directory, sets DIR_URL and DIR_PID.
start_directory() {
	local out="$WORK/directory.out"
	"$ODI" directory --data "$1" --listen 127.0.0.1:0 \
		--admin-key "$WORK/admin.key.pub" --publisher-key "e2e=$WORK/publisher.key.pub" \
		>"$out" 2>"$WORK/directory.log" &
	DIR_PID=$!
	PIDS+=("$DIR_PID")
	for _ in $(seq 100); do
		DIR_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out")
		[ -n "$DIR_URL" ] && return 0
		sleep 0.1
	done
	echo "e2e: the directory did not start:" >&2
	cat "$WORK/directory.log" >&2
	exit 1
}

"$ODI" keygen --out "$WORK/admin.key" >/dev/null
"$ODI" keygen --out "$WORK/publisher.key" >/dev/null
start_directory "$WORK/data"
echo "directory at $DIR_URL"

# Artifacts: a 16 MiB file and a package with nested folders, a space and an empty file.
mkdir -p "$WORK/src/pkg/bin" "$WORK/src/pkg/share/doc"
head -c $((16 << 20)) /dev/urandom >"$WORK/src/image.iso"
head -c 3000000 /dev/urandom >"$WORK/src/pkg/bin/tool"
echo "read me" >"$WORK/src/pkg/README"
: >"$WORK/src/pkg/share/empty"
head -c 777777 /dev/urandom >"$WORK/src/pkg/share/doc/user guide.txt"

publish() { "$ODI" publish --directory "$DIR_URL" --key "$WORK/publisher.key" --quiet "$@"; }
check "publish a single file" publish --catalog e2e --name image --version 1.0 "$WORK/src/image.iso"
check "publish a package" publish --catalog e2e --name pkg --version 1.0 "$WORK/src/pkg"

dup_out=$(publish --catalog e2e --name image --version 1.0 "$WORK/src/image.iso" 2>&1)
if [ $? -eq 1 ] && grep -q 409 <<<"$dup_out"; then pass "publishing a version twice is refused (409)"; else fail "publishing a version twice is refused (409)" "$dup_out"; fi

IH=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | sed -n 's/.*"infohash":"\([0-9a-f]*\)".*/\1/p')
want=$(sha256sum <"$WORK/src/image.iso" | cut -d' ' -f1)

got=$(curl -fsS "$DIR_URL/ws/$IH/image.iso" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && pass "curl from the origin web seed" || fail "curl from the origin web seed" "sha256 $got, want $want"

range=$(curl -fsS -r 1000-1999 "$DIR_URL/ws/$IH/image.iso" | sha256sum | cut -d' ' -f1)
want_range=$(tail -c +1001 "$WORK/src/image.iso" | head -c 1000 | sha256sum | cut -d' ' -f1)
[ "$range" = "$want_range" ] && pass "curl a byte range" || fail "curl a byte range"

aria() {
	aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
		--seed-time=0 --file-allocation=none --listen-port=51413 --dht-listen-port=51414 \
		--console-log-level=warn --summary-interval=0 --bt-stop-timeout=60 -d "$1" "$2"
}
for art in image pkg; do
	dl="$WORK/aria-$art"
	if aria "$dl" "$DIR_URL/t/e2e/$art/1.0.torrent" >"$WORK/aria-$art.log" 2>&1 &&
		(cd "$dl" && curl -fsS "$DIR_URL/api/v1/artifacts/e2e/$art/1.0/SHA256SUMS" | sha256sum -c --quiet); then
		pass "aria2c downloads $art from the .torrent (web seed) and sha256sum -c agrees"
	else
		fail "aria2c downloads $art from the .torrent (web seed) and sha256sum -c agrees" "$(tail -5 "$WORK/aria-$art.log")"
	fi
done

# aria2c announced its downloads to the directory's tracker: the catalog counts them.
completed=$(curl -fsS "$DIR_URL/api/v1/artifacts/e2e/pkg/1.0" | sed -n 's/.*"completed":\([0-9]*\).*/\1/p')
[ "${completed:-0}" -ge 1 ] && pass "the tracker counted aria2c's completed download" || fail "the tracker counted aria2c's completed download" "completed=${completed:-none}"

check "odi admin expunge" "$ODI" admin --directory "$DIR_URL" --key "$WORK/admin.key" expunge e2e/image/1.0 --reason "e2e test"
announce="$DIR_URL/announce?info_hash=$(printf '%s' "$IH" | sed 's/../%&/g')&peer_id=-E2E000-000000000000&port=6881&left=1"
if curl -fsS "$announce" | grep -q 'failure reason.*expunged: e2e test'; then
	pass "the tracker refuses the expunged artifact"
else
	fail "the tracker refuses the expunged artifact" "$(curl -sS "$announce")"
fi
for path in "/ws/$IH/image.iso" "/t/e2e/image/1.0.torrent"; do
	s=$(status "$DIR_URL$path")
	[ "$s" = 410 ] && pass "GET $path after expunge is 410" || fail "GET $path after expunge is 410" "got $s"
done
if curl -fsS "$DIR_URL/api/v1/artifacts/e2e/image/1.0" | grep -q '"expunge_reason":"e2e test"'; then
	pass "the JSON says why it was expunged"
else
	fail "the JSON says why it was expunged"
fi

# A restart keeps the catalog.
kill "$DIR_PID" && wait "$DIR_PID" 2>/dev/null
start_directory "$WORK/data"
s=$(status "$DIR_URL/t/e2e/pkg/1.0.torrent")
[ "$s" = 200 ] && pass "the catalog survives a restart" || fail "the catalog survives a restart" "got $s"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
