#!/usr/bin/env bash
# The reliability suite of issue 13: attacks and faults against a real directory and real
# relays on loopback, each case printing "PASS|FAIL case figures", then
# "faults: N passed, M failed"; exits 1 on any failure. docs/reliability.md says what each
# case attacks and keeps the dated figures.
#
# Usage: scripts/faults.sh [path/to/odi]          (make faults builds bin/odi first)
#   FAULTS_SHORT=1   the quick subset `make test` runs (about a minute): fewer sockets,
#                    registrations and kills, and no one-piece rot (it may take minutes)
#   FAULTS=a,b       only these cases (names as printed)
#   FAULTS_KEEP=1    keep the work folder (logs and data dirs) afterwards
#
# Everything is on loopback: the directory and relays listen on 127.0.0.1; attackers,
# the /healthz watcher and plain clients each bind to an address of their own, so that
# per-address limits see them apart. The Go attack tools are scripts/faults/attack, built
# once into the work folder.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench/lib.sh
source "$repo/scripts/bench/lib.sh"
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

ODI=$(realpath "${1:-bin/odi}")
[ -x "$ODI" ] || die "$ODI not found; run make build"
for tool in curl jq sha256sum unshare go; do
	command -v "$tool" >/dev/null || die "$tool is missing (.ci/run installs it)"
done
SHORT=${FAULTS_SHORT:-0}
ONLY=${FAULTS:-}

bench_workdir faults
# FAULTS_KEEP=1 keeps the work folder (logs, data) for a look after a failure.
trap 'stop_all; [ "${FAULTS_KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT
ATTACK=$work/attack
(cd "$repo" && go build -tags nosqlite -o "$ATTACK" ./scripts/faults/attack) || die "cannot build scripts/faults/attack"
for k in admin publisher; do "$ODI" keygen --out "$work/$k.key" >/dev/null; done

# Relays report every second and are probed every second, as in scripts/e2e.sh, so that
# they fill in seconds; the cases that time how fast a bad relay is noticed run with the
# defaults instead (see defaults below). The suite writes about 2 GiB: the default
# min_free_space (1 GiB) would make its publishes depend on the machine's free disk.
export ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=1s ODI_DIRECTORY_RELAYS_MISSED_HEARTBEATS=3
export ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1s ODI_DIRECTORY_RELAYS_PROBE_FAILURES=2
export ODI_DIRECTORY_MIN_FREE_SPACE=${ODI_DIRECTORY_MIN_FREE_SPACE:-64MiB}

passed=0 failed=0
result() { # result ok|fail CASE FIGURES
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
		printf 'PASS  %s  %s\n' "$2" "$3"
	else
		failed=$((failed + 1))
		printf 'FAIL  %s  %s\n' "$2" "$3"
	fi
}
# wanted CASE: whether FAULTS asks for CASE (all when empty).
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
# timed SECONDS CMD...: as eventually, printing the seconds it took, or "timeout".
timed() {
	local t0
	t0=$(now)
	if eventually "$@"; then since "$t0"; else echo timeout; fi
}
# stop_all: kills (TERM, then KILL) and reaps every process the case started.
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	pids=()
}
sha() { sha256sum | cut -d' ' -f1; }
status() { curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 "$@"; }

# defaults CMD...: runs CMD with the directory's default relay heartbeat and probe
# intervals, for the cases that time how fast it notices a relay gone bad.
defaults() {
	ODI_DIRECTORY_RELAYS_HEARTBEAT_INTERVAL=30s ODI_DIRECTORY_RELAYS_MISSED_HEARTBEATS=3 \
		ODI_DIRECTORY_RELAYS_PROBE_INTERVAL=1m ODI_DIRECTORY_RELAYS_PROBE_FAILURES=3 "$@"
}
# start_dir NAME [DATA [PORT [PREFIX...]]]: a directory on 127.0.0.1 with data DATA
# (default $work/NAME), PORT (default any); PREFIX runs it (unshare for the disk case).
# Sets DIR_URL, DIR_PID, DIR_PORT.
start_dir() {
	local name=$1 data=${2:-$work/$1} port=${3:-0}
	shift $(($# < 3 ? $# : 3))
	mkdir -p "$data"
	"$@" "$ODI" directory --data "$data" --listen "127.0.0.1:$port" --udp-listen off \
		--admin-key "$work/admin.key.pub" --publisher-key "f=$work/publisher.key.pub" \
		--relay-policy "${POLICY:-open}" --allow-private-relay-urls \
		>"$work/$name.out" 2>>"$work/$name.log" &
	DIR_PID=$!
	pids+=("$DIR_PID")
	DIR_URL=$(wait_url "$work/$name.out" "$DIR_PID" "directory $name")
	DIR_PORT=${DIR_URL##*:}
}
# start_relay NAME [ARGS...]: a relay of DIR_URL on 127.0.0.1 with its own key; sets
# RELAY_URL and RELAY_PID.
start_relay() {
	local name=$1
	shift
	[ -e "$work/$name.key" ] || "$ODI" keygen --out "$work/$name.key" >/dev/null
	"$ODI" relay --data "$work/$name" --listen "${RELAY_LISTEN:-127.0.0.1:0}" --bt-listen 127.0.0.1:0 \
		--directory "$DIR_URL" --key "$work/$name.key" --quota 1GiB "$@" >"$work/$name.out" 2>>"$work/$name.log" &
	RELAY_PID=$!
	pids+=("$RELAY_PID")
	RELAY_URL=$(wait_url "$work/$name.out" "$RELAY_PID" "relay $name")
}
publish() { "$ODI" publish --directory "$DIR_URL" --key "$work/publisher.key" --quiet "$@"; }
# art_json NAME: the artifact f/NAME/1 as JSON.
art_json() { curl -fsS "$DIR_URL/api/v1/artifacts/f/$1/1"; }
# make_artifact NAME MIB: publishes MIB MiB of random bytes as f/NAME/1; sets IH and WANT.
make_artifact() {
	head -c $(($2 << 20)) /dev/urandom >"$work/$1.bin"
	publish --catalog f --name "$1" --version 1 "$work/$1.bin" >/dev/null || return 1
	IH=$(art_json "$1" | jq -r .infohash)
	WANT=$(sha <"$work/$1.bin")
}
# serves NAME URL: the directory lists URL's copy of f/NAME/1 as a web seed.
serves() { art_json "$1" | jq -e --arg u "$2/" '.web_seeds | any(startswith($u))' >/dev/null; }
# relay_status URL: the status the directory gives the relay at URL.
relay_status() {
	curl -fsS "$DIR_URL/api/v1/relays?limit=1000" | jq -r --arg u "$1" '.relays[] | select(.public_url == $u) | .status'
}
is_status() { [[ " $2 " == *" $(relay_status "$1") "* ]]; }
# downloads NAME OUT: curl -L of /r/f/NAME/1 from 127.0.0.6, again and again (at most
# 10,000 times) until killed, keeping "good=N corrupt=N failed=N" in OUT.
downloads() {
	local good=0 bad=0 failed=0 got
	for _ in $(seq 10000); do
		if got=$(curl -fsL --max-time 30 --interface 127.0.0.6 "$DIR_URL/r/f/$1/1" 2>/dev/null | sha) && [ "$got" != "$EMPTY" ]; then
			if [ "$got" = "$WANT" ]; then good=$((good + 1)); else bad=$((bad + 1)); fi
		else
			failed=$((failed + 1))
		fi
		echo "good=$good corrupt=$bad failed=$failed" >"$2"
	done
}
EMPTY=$(sha </dev/null)
# stop_pid PID [SIGNAL]: kills (TERM by default) and reaps a process of the case, and
# forgets it, so that stop_all never signals its number once the system reuses it.
stop_pid() {
	kill -"${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}
forget() {
	local keep=() p
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
# watch_start: samples the directory's RSS and fds, and its /healthz from 127.0.0.3.
watch_start() {
	"$ATTACK" watch -pid "$DIR_PID" -url "$DIR_URL" -from 127.0.0.3 >"$work/watch.out" 2>"$work/watch.err" &
	WATCH_PID=$!
	pids+=("$WATCH_PID")
}
# watch_stop: stops the sampler (its figures are in $work/watch.out); fails when it did.
watch_stop() {
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID"
	local rc=$?
	forget "$WATCH_PID"
	return $rc
}

# --- memory: 16 x 32 MiB bodies signed by an unknown key ------------------------------------
case_memory() {
	start_dir memory
	watch_start
	local figs rc=0
	figs=$("$ATTACK" flood -url "$DIR_URL" -from 127.0.0.2 -n 16 -size 32MiB) || rc=1
	sleep 3 # the "after" samples
	watch_stop || rc=1
	figs="$figs $(cat "$work/watch.out")"
	[ "$rc" = 0 ] && result ok memory "$figs" || result fail memory "$figs"
	stop_all
}

# --- idle sockets: 20,000 keep-alive connections from one address -----------------------------
case_sockets() {
	local n=20000 hold=10 figs rc=0
	[ "$SHORT" = 1 ] && n=2000 hold=3
	start_dir sockets
	watch_start
	# Two processes of n/2 each: a process may hold no more fds than the hard limit (20,000 here).
	"$ATTACK" sockets -url "$DIR_URL" -from 127.0.0.2 -n $((n / 2)) -hold "${hold}s" >"$work/sockets.1" &
	local a=$!
	pids+=("$a")
	"$ATTACK" sockets -url "$DIR_URL" -from 127.0.0.2 -n $((n / 2)) -hold "${hold}s" >"$work/sockets.2" &
	local b=$!
	pids+=("$b")
	wait "$a" || rc=1
	wait "$b" || rc=1
	sleep 2
	watch_stop || rc=1
	figs="$(cat "$work/sockets.1") | $(cat "$work/sockets.2") | $(cat "$work/watch.out")"
	# fds stay near the per-address cap (64) plus what the directory holds anyway.
	local fds
	fds=$(sed -n 's/.*fds_max=\([0-9]*\).*/\1/p' "$work/watch.out")
	[ "${fds:-99999}" -le 1024 ] || rc=1
	[ "$rc" = 0 ] && result ok sockets "$figs" || result fail sockets "$figs"
	stop_all
}

# --- sybil: 3,000 registrations of new keys under policy approve --------------------------
case_sybil() {
	local n=3000 figs rc=0
	[ "$SHORT" = 1 ] && n=400
	POLICY=approve start_dir sybil
	start_relay sybil-real
	local real=$RELAY_URL
	eventually 10 is_status "$real" pending || rc=1
	figs=$("$ATTACK" sybil -url "$DIR_URL" -n "$n")
	# Count every relay the directory keeps, page by page (bounded).
	local after="" pending=0 total=0 page bytes
	bytes=$(curl -fsS "$DIR_URL/api/v1/relays" | wc -c)
	for _ in $(seq 100); do
		page=$(curl -fsS "$DIR_URL/api/v1/relays?limit=1000&after=$after") || break
		pending=$((pending + $(jq '[.relays[] | select(.status == "pending")] | length' <<<"$page")))
		total=$((total + $(jq '.relays | length' <<<"$page")))
		after=$(jq -r '.next // ""' <<<"$page")
		[ -z "$after" ] && break
	done
	local id
	id=$(curl -fsS "$DIR_URL/api/v1/relays?limit=1000" | jq -r --arg u "$real" '.relays[] | select(.public_url == $u) | .id')
	"$ODI" admin --directory "$DIR_URL" --key "$work/admin.key" relays approve "${id:-none}" >/dev/null 2>&1 || rc=1
	local up
	up=$(timed 30 is_status "$real" up)
	figs="$figs relays_kept=$total pending=$pending first_page_bytes=$bytes real_relay_up_s=$up"
	[ "$pending" -le 257 ] && [ "$bytes" -le $((4 << 20)) ] && [ "$up" != timeout ] || rc=1
	[ "$rc" = 0 ] && result ok sybil "$figs" || result fail sybil "$figs"
	stop_all
}

# --- demand inflation: one peer's 5,000 announces vs 50 real leechers ----------------------
case_demand() {
	local n=5000 figs rc=0
	[ "$SHORT" = 1 ] && n=1000
	start_dir demand
	make_artifact inflated 1 && local ih_a=$IH || rc=1
	make_artifact real 1 && local ih_b=$IH || rc=1
	figs="inflated: $("$ATTACK" announce -url "$DIR_URL" -ih "$ih_a" -n "$n" -from 127.0.0.2)"
	figs="$figs real: $("$ATTACK" announce -url "$DIR_URL" -ih "$ih_b" -n 50 -spread 127.4.0)"
	local da db
	da=$(art_json inflated | jq '.swarm.demand // -1')
	db=$(art_json real | jq '.swarm.demand // -1')
	figs="$figs demand_inflated=$da demand_real=$db"
	awk -v a="$da" -v b="$db" 'BEGIN { exit !(a >= 0 && b > 0 && a <= b) }' || rc=1
	[ "$rc" = 0 ] && result ok demand "$figs" || result fail demand "$figs"
	stop_all
}

# --- overflow manifests: sizes that wrap int64 ------------------------------------------------
case_overflow() {
	local figs rc=0
	start_dir overflow
	figs=$("$ATTACK" overflow -url "$DIR_URL" -key "$work/publisher.key" -catalog f 2>"$work/overflow.err") || rc=1
	# No upload slot is left held: more publishes than the publisher's slots go through at once.
	local ok=0
	for i in 1 2 3; do
		head -c 100000 /dev/urandom >"$work/after-$i.bin"
		timeout 60 "$ODI" publish --directory "$DIR_URL" --key "$work/publisher.key" --quiet \
			--catalog f --name after --version "$i" "$work/after-$i.bin" >/dev/null 2>&1 && ok=$((ok + 1))
	done
	kill -0 "$DIR_PID" 2>/dev/null || rc=1
	grep -q 'panic' "$work/overflow.log" && rc=1
	figs="$figs publishes_after=$ok/3"
	[ "$ok" = 3 ] || rc=1
	[ "$rc" = 0 ] && result ok overflow "$figs" || result fail overflow "$figs"
	stop_all
}

# --- cross-directory replay: an expunge signed for A, sent to B -----------------------------
case_replay() {
	local figs rc=0
	start_dir replay-a
	local a=$DIR_URL
	start_dir replay-b
	make_artifact victim 1 || rc=1
	figs=$("$ATTACK" replay -a "$a" -b "$DIR_URL" -key "$work/admin.key" -artifact f/victim/1) || rc=1
	local state got
	state=$(art_json victim | jq -r .state)
	got=$(curl -fsS "$DIR_URL/dl/$IH/victim.bin" | sha)
	figs="$figs state_after=$state bytes_intact=$([ "$got" = "$WANT" ] && echo yes || echo no)"
	[ "$state" = published ] && [ "$got" = "$WANT" ] || rc=1
	[ "$rc" = 0 ] && result ok replay "$figs" || result fail replay "$figs"
	stop_all
}

# verify_all: every artifact the directory lists is published, and each file's bytes from
# /dl/ match the manifest's sha256 (SHA256SUMS) and the source's; prints figures, fails on
# a bad or missing byte, or a partial artifact.
verify_all() {
	local list n bad=0 partial=0 id ih root sums line sum path got
	list=$(curl -fsS "$DIR_URL/api/v1/artifacts") || { echo "list failed"; return 1; }
	n=$(jq '.artifacts | length' <<<"$list")
	partial=$(jq '[.artifacts[] | select(.state != "published")] | length' <<<"$list")
	while read -r id ih root; do
		sums=$(curl -fsS "$DIR_URL/api/v1/artifacts/$id/SHA256SUMS") || { bad=$((bad + 1)); continue; }
		while read -r sum path; do
			# A single file's SHA256SUMS names the file; a package's, paths under its root.
			if [ "$path" = "$root" ]; then line=$root; else line="$root/$path"; fi
			got=$(curl -fsS "$DIR_URL/dl/$ih/$line" | sha)
			[ "$got" = "$sum" ] || bad=$((bad + 1))
		done <<<"$sums"
		[ "$(sha <"$work/kd-src/${id##*/}.bin")" = "$(sed -n 1p <<<"$sums" | cut -d' ' -f1)" ] || bad=$((bad + 1))
	done < <(jq -r '.artifacts[] | select(.state == "published") | "\(.id) \(.infohash) \(.root)"' <<<"$list")
	echo "artifacts=$n bad=$bad partial=$partial"
	[ "$bad" = 0 ] && [ "$partial" = 0 ]
}

# --- kill -9 of the directory mid-publish ---------------------------------------------------
case_kill_directory() {
	local kills=50 figs rc=0 acked=0 missing=0
	[ "$SHORT" = 1 ] && kills=5
	mkdir -p "$work/kd-src"
	start_dir kd "$work/kd"
	local port=$DIR_PORT t0 ms
	# A publish without a kill tells how long one takes: the kills fall within that.
	head -c $((16 << 20)) /dev/urandom >"$work/kd-src/0.bin"
	t0=$(date +%s%N)
	publish --catalog f --name kd --version 0 "$work/kd-src/0.bin" >/dev/null || rc=1
	ms=$((($(date +%s%N) - t0) / 1000000 + 1))
	for i in $(seq "$kills"); do
		head -c $((16 << 20)) /dev/urandom >"$work/kd-src/$i.bin"
		publish --catalog f --name kd --version "$i" "$work/kd-src/$i.bin" >/dev/null 2>&1 &
		local pub=$!
		sleep "$(awk -v ms=$((RANDOM % (2 * ms))) 'BEGIN { printf "%.3f", ms / 1000 }')"
		stop_pid "$DIR_PID" KILL
		if wait "$pub"; then acked=$((acked + 1)) && echo "$i" >>"$work/kd-acked"; fi
		start_dir kd "$work/kd" "$port"
		# An acknowledged publish survives the kill.
		if [ -s "$work/kd-acked" ] && grep -qx "$i" "$work/kd-acked"; then
			[ "$(status "$DIR_URL/api/v1/artifacts/f/kd/$i")" = 200 ] || missing=$((missing + 1))
		fi
	done
	local listed=no
	eventually 10 curl -fsS "$DIR_URL/api/v1/artifacts" && listed=yes
	figs="publish_ms=$ms kills=$kills acknowledged=$acked acknowledged_missing=$missing $(verify_all)" || rc=1
	[ "$listed" = yes ] || figs="$figs (the directory does not answer: $(tail -n2 "$work/kd.log"))"
	# Nothing half-made stays on disk: no staged upload, no origin copy of an unlisted artifact.
	local ihs staged orphans=0 dir
	ihs=$(curl -fsS "$DIR_URL/api/v1/artifacts" | jq -r '.artifacts[].infohash')
	staged=$(find "$work/kd/staging" -mindepth 1 2>/dev/null | wc -l)
	for dir in "$work"/kd/origin/*; do
		[ -e "$dir" ] && ! grep -qx "${dir##*/}" <<<"$ihs" && orphans=$((orphans + 1))
	done
	figs="$figs staged_leftovers=$staged orphan_origin_copies=$orphans"
	[ "$staged" = 0 ] && [ "$orphans" = 0 ] || rc=1
	[ "$missing" = 0 ] || rc=1
	grep -q panic "$work/kd.log" && rc=1
	[ "$rc" = 0 ] && result ok kill-directory "$figs" || result fail kill-directory "$figs"
	stop_all
}

# --- kill -9 of a relay mid-fill ------------------------------------------------------------
# Before each kill a new 32 MiB version is published, which the relay fills at 8 MiB/s
# (or so: the limit is not exact); the kill comes within 1 s of the relay's starting to
# fetch it, so most land mid-fill (counted from the relay's log: began fetching, not yet
# complete).
case_kill_relay() {
	local kills=30 figs rc=0 checked=0 bad=0 mid=0 port i until
	[ "$SHORT" = 1 ] && kills=3
	start_dir kr
	start_relay kr-relay --download-limit 8MiB --quota 2GiB
	port=${RELAY_URL##*:}
	local -A ihs=()
	# kr_check V: GETs the relay's copy of version V once; counts it when served, bad when wrong.
	kr_check() {
		local s
		s=$(curl -s -o "$work/kr.got" -w '%{http_code}' --interface 127.0.0.5 "$RELAY_URL/ws/${ihs[$1]}/kr-$1.bin")
		if [ "$s" = 200 ]; then
			checked=$((checked + 1))
			cmp -s "$work/kr.got" "$work/kr-$1.bin" || bad=$((bad + 1))
		fi
	}
	for i in $(seq "$kills"); do
		head -c $((32 << 20)) /dev/urandom >"$work/kr-$i.bin"
		publish --catalog f --name kr --version "$i" "$work/kr-$i.bin" >/dev/null || rc=1
		ihs[$i]=$(curl -fsS "$DIR_URL/api/v1/artifacts/f/kr/$i" | jq -r .infohash)
		# Once it begins to fetch it, the kill comes within 1 s.
		eventually 10 grep -q "relay: fetching\" artifact=f/kr/$i " "$work/kr-relay.log"
		until=$(($(date +%s%N) / 1000000 + RANDOM % 1000))
		for _ in $(seq 100); do
			[ $(($(date +%s%N) / 1000000)) -ge "$until" ] && break
			kr_check $((RANDOM % i + 1))
			sleep 0.2
		done
		# Mid-fill, as the relay's log tells: it began fetching version i and has not finished.
		grep -q "relay: fetching\" artifact=f/kr/$i " "$work/kr-relay.log" &&
			! grep -q "holding complete and verified\" artifact=f/kr/$i " "$work/kr-relay.log" && mid=$((mid + 1))
		stop_pid "$RELAY_PID" KILL
		RELAY_LISTEN=127.0.0.1:$port start_relay kr-relay --download-limit 8MiB --quota 2GiB
		# Whatever it serves right after a crash is right (or refused).
		kr_check "$i"
	done
	# Then it fills everything, and every copy verifies.
	local filled=0
	all_served() {
		local v
		for v in $(seq "$kills"); do serves_v "$v" || return 1; done
	}
	serves_v() { curl -fsS "$DIR_URL/api/v1/artifacts/f/kr/$1" | jq -e --arg u "$RELAY_URL/" '.web_seeds | any(startswith($u))' >/dev/null; }
	eventually 300 all_served
	for i in $(seq "$kills"); do
		curl -fsS --interface 127.0.0.5 -o "$work/kr.got" "$RELAY_URL/ws/${ihs[$i]}/kr-$i.bin" && cmp -s "$work/kr.got" "$work/kr-$i.bin" && filled=$((filled + 1))
	done
	figs="kills=$kills mid_fill=$mid copies_served_between_kills=$checked bad=$bad filled_and_verified=$filled/$kills"
	[ "$bad" = 0 ] && [ "$filled" = "$kills" ] || rc=1
	[ "$rc" = 0 ] && result ok kill-relay "$figs" || result fail kill-relay "$figs"
	stop_all
}

# flip_pieces RELAY_DATA NAME EVERY: inverts a byte in every EVERY-th piece of f/NAME/1 (a
# random one when EVERY is 0) in a relay's copy, as bit rot would.
flip_pieces() {
	local file="$1/torrents/$IH/$2.bin" plen size off
	plen=$(art_json "$2" | jq .piece_length)
	size=$(stat -c %s "$file")
	if [ "$3" = 0 ]; then
		off=$(((RANDOM * 32768 + RANDOM) % (size / plen) * plen + 100))
		printf '\xff' | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
		echo "piece=$((off / plen))/$((size / plen))"
		return
	fi
	for ((off = 100; off < size; off += plen * $3)); do
		printf '\xff' | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
	done
	echo "pieces=all/$((size / plen))"
}

# --- a relay whose disk rots: every piece, then one in 256 ----------------------------------
case_corrupt_relay() {
	local figs="" rc=0 a b
	defaults start_dir corrupt
	make_artifact rot 64 || rc=1
	start_relay rot-a
	a=$RELAY_URL
	start_relay rot-b
	b=$RELAY_URL
	start_relay rot-c
	if ! { eventually 120 serves rot "$a" && eventually 60 serves rot "$b" && eventually 60 serves rot "$RELAY_URL"; }; then
		result fail corrupt-relay "the relays did not fill"
		stop_all
		return
	fi
	# Every piece of B's copy: quarantined within 30 s.
	rot_until_quarantined all_pieces rot-b 1 "$b" 30
	if [ "$SHORT" != 1 ]; then
		# One piece in 256 of A's copy: quarantined within 5 min.
		rot_until_quarantined one_piece rot-a 0 "$a" 300
	fi
	[ "$rc" = 0 ] && result ok corrupt-relay "$figs" || result fail corrupt-relay "$figs"
	stop_all
}

# rot_until_quarantined LABEL RELAY_DATA EVERY RELAY_URL WITHIN: rots the relay's copy
# (flip_pieces), downloads meanwhile and times its quarantine, adding to the caller's
# figs and setting its rc on a timeout.
rot_until_quarantined() {
	local where d t
	where=$(flip_pieces "$work/$2" rot "$3")
	downloads rot "$work/dl-$2" &
	d=$!
	pids+=("$d")
	t=$(timed "$5" is_status "$4" quarantined)
	stop_pid "$d"
	figs="${figs:+$figs | }$1: $where quarantined_s=$t $(cat "$work/dl-$2" 2>/dev/null)"
	[ "$t" != timeout ] || rc=1
}

# free_port IP: a TCP port nothing listens on at IP (bounded tries).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((40000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/$1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# --- a lying relay: right bytes for the directory, wrong ones for everyone else --------------
case_lying_relay() {
	local figs="" rc=0 port pport liar t d proxy
	defaults start_dir lying
	make_artifact lie 32 || rc=1
	port=$(free_port 127.0.0.1)
	pport=$(free_port 127.0.0.9)
	liar=http://127.0.0.9:$pport
	"$ATTACK" lie -listen "127.0.0.9:$pport" -to "127.0.0.1:$port" -honest-pid "$DIR_PID" >"$work/lie.out" 2>"$work/lie.err" &
	proxy=$!
	pids+=("$proxy")
	RELAY_LISTEN=127.0.0.1:$port start_relay liar --public-url "$liar"
	start_relay honest-1
	start_relay honest-2
	eventually 120 serves lie "$liar" || figs="(the liar was never listed) "
	# Plain users and odi fetch (which reports bad pieces) from addresses of their own.
	downloads lie "$work/dl-lie" &
	d=$!
	pids+=("$d")
	for i in 1 2 3; do
		timeout 120 "$ODI" fetch --directory "$DIR_URL" --bind "127.0.0.$((10 + i))" --quiet -o "$work/lie-fetch-$i" f/lie@1 >/dev/null 2>&1 &
		pids+=($!)
	done
	t=$(timed 120 is_status "$liar" "quarantined suspended")
	stop_pid "$d"
	figs="${figs}caught_s=$t status=$(relay_status "$liar") $(cat "$work/dl-lie" 2>/dev/null)"
	[ "$t" != timeout ] || rc=1
	[ "$rc" = 0 ] && result ok lying-relay "$figs" || result fail lying-relay "$figs"
	stop_all
}

# --- kill -9 of a relay that serves users ---------------------------------------------------
case_killed_relay() {
	local figs rc=0 a a_pid t_r t_t
	defaults start_dir killed
	make_artifact gone 8 || rc=1
	start_relay gone-a
	a=$RELAY_URL a_pid=$RELAY_PID
	start_relay gone-b
	eventually 60 serves gone "$a" && eventually 60 serves gone "$RELAY_URL" || rc=1
	# not_named: 20 redirects in a row name another copy than A.
	not_named() {
		for _ in $(seq 20); do
			case "$(curl -s -o /dev/null -w '%{redirect_url}' --interface 127.0.0.7 "$DIR_URL/r/f/gone/1")" in "$a"/*) return 1 ;; esac
		done
	}
	not_listed() { ! curl -fsS "$DIR_URL/t/f/gone/1.torrent" | grep -qa "$a/"; }
	stop_pid "$a_pid" KILL
	local t0
	t0=$(now)
	eventually 60 not_named && t_r=$(since "$t0") || t_r=timeout
	eventually 60 not_listed && t_t=$(since "$t0") || t_t=timeout
	figs="redirects_stop_s=$t_r url_list_drops_s=$t_t"
	awk -v r="$t_r" -v t="$t_t" 'BEGIN { exit !(r != "timeout" && t != "timeout" && r <= 10 && t <= 30) }' || rc=1
	[ "$rc" = 0 ] && result ok killed-relay "$figs" || result fail killed-relay "$figs"
	stop_all
}

# --- disk full: the directory's data on a 160 MiB tmpfs ----------------------------------------
case_disk_full() {
	local figs rc=0 root race r1 s2 ok4 ready
	mkdir -p "$work/full"
	# A mount namespace of its own: the tmpfs is the directory's alone and goes with it
	# (and a user namespace too, where the suite is not run as root).
	local userns=()
	[ "$(id -u)" = 0 ] || userns=(--user --map-root-user)
	ODI_DIRECTORY_MIN_FREE_SPACE=8MiB start_dir full "$work/full" 0 \
		unshare "${userns[@]}" --mount --propagation private sh -c 'mount -t tmpfs -o size=160m odi-faults "$0" && exec "$@"' "$work/full"
	root=/proc/$DIR_PID/root$work/full
	for v in 1 2 3; do head -c $(((v == 1 ? 64 : 56) << 20)) /dev/urandom >"$work/full-$v.bin"; done
	head -c 1000000 /dev/urandom >"$work/full-4.bin"
	publish --catalog f --name full --version 1 "$work/full-1.bin" >/dev/null 2>&1 || rc=1
	# Two publishes race for the ~90 MiB left, 112 MiB together: one goes through, the
	# other gets 507 (at its declaration, or when the disk fills under it).
	publish --catalog f --name full --version 2 "$work/full-2.bin" >"$work/full-2.out" 2>&1 &
	local p2=$!
	publish --catalog f --name full --version 3 "$work/full-3.bin" >"$work/full-3.out" 2>&1
	local rc3=$?
	wait "$p2"
	local rc2=$? ok=0 refused=0
	for v in 2 3; do
		if { [ "$v" = 2 ] && [ "$rc2" = 0 ]; } || { [ "$v" = 3 ] && [ "$rc3" = 0 ]; }; then
			ok=$((ok + 1))
		elif grep -q 507 "$work/full-$v.out"; then
			refused=$((refused + 1))
		fi
	done
	race="ok=$ok 507=$refused"
	[ "$ok" = 1 ] && [ "$refused" = 1 ] || { rc=1; race="$race ($(tail -n1 "$work/full-2.out" "$work/full-3.out" | tr '\n' ' ' | head -c 300))"; }
	# Someone else fills the disk: not ready, and a publish gets 507.
	dd if=/dev/zero of="$root/filler" bs=1M status=none 2>/dev/null
	r1=$(status "$DIR_URL/readyz")
	s2=$(publish --catalog f --name full --version 4 "$work/full-4.bin" 2>&1)
	grep -q 507 <<<"$s2" && s2=507 || { s2="not 507: $(head -c 200 <<<"$s2")"; rc=1; }
	[ "$r1" = 503 ] || rc=1
	# Room again: ready, publishing works, and what was published is intact.
	rm -f "$root/filler"
	ready_now() { [ "$(status "$DIR_URL/readyz")" = 200 ]; }
	ready=$(timed 30 ready_now)
	[ "$ready" != timeout ] || rc=1
	publish --catalog f --name full --version 4 "$work/full-4.bin" >/dev/null 2>&1 && ok4=yes || { ok4=no; rc=1; }
	local intact=0 listed ih v
	listed=$(curl -fsS "$DIR_URL/api/v1/artifacts?catalog=f&name=full" | jq -r '.artifacts[] | "\(.version) \(.infohash)"')
	while read -r v ih; do
		[ "$(curl -fsS "$DIR_URL/dl/$ih/full-$v.bin" | sha)" = "$(sha <"$work/full-$v.bin")" ] && intact=$((intact + 1))
	done <<<"$listed"
	local staged
	staged=$(find "$root/staging" -mindepth 1 2>/dev/null | wc -l)
	[ "$intact" = 3 ] && [ "$staged" = 0 ] || rc=1
	figs="race: $race | disk_filled: readyz=$r1 publish=$s2 | freed: ready_again_s=$ready publish=$ok4 artifacts_intact=$intact/3 staged_leftovers=$staged"
	[ "$rc" = 0 ] && result ok disk-full "$figs" || result fail disk-full "$figs"
	stop_all
}

# Each case NAME is the function case_NAME (with _ for -).
CASES="memory sockets sybil demand overflow replay kill-directory kill-relay corrupt-relay lying-relay killed-relay disk-full"
for name in ${ONLY//,/ }; do
	[[ " $CASES " == *" $name "* ]] || die "FAULTS: no case $name (cases: $CASES)"
done
t_start=$(now)
for name in $CASES; do
	wanted "$name" || continue
	t_case=$(now)
	"case_${name//-/_}"
	echo "      ($name took $(since "$t_case") s)"
done
echo "faults: $passed passed, $failed failed ($(since "$t_start") s, short=$SHORT, $(date -u +%FT%TZ))"
[ "$failed" -eq 0 ]
