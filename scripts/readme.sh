#!/usr/bin/env bash
# README walk-through: runs every command README.md shows, then every command `odi demo`
# prints, as a user pastes them, on 127.0.0.1 only.
#
# Usage: scripts/readme.sh path/to/odi
#
# README convention (what this script runs):
#   - Only fenced blocks opened with ```sh are commands; other blocks are prose or pictures.
#   - One command per line; a line ending in \ continues on the next. Blank lines and lines
#     starting with # are not run; a trailing "# ..." comment is part of the command (bash
#     ignores it).
#   - A comment line containing "in another terminal" marks the next command as a daemon a
#     reader leaves running: it starts in the background, and the walk-through goes on
#     once it prints "listening on" (and, for odi relay, logs "relay registered", as it
#     has by the time a reader reads it), within 30s. SIGINT stops it at the end.
#   - Install and build steps are not run (odi is BIN, first on PATH): lines starting with
#     make, go, git, sudo, cd or export PATH=.
#   - A command whose program is not installed (command -v fails) is skipped: SKIP.
#   - Each command runs in its own bash (no variables carry over), in one walk-through
#     folder holding a copy of config.example.yaml, with HOME in the script's temporary
#     folder, for at most 60s. A failure names the README line.
#   - Ports: each 127.0.0.1:PORT in the README is replaced, the same everywhere, with a free
#     port, so that a demo or a directory already on 8080 does not fail the run.
#   - aria2c is a wrapper first on PATH that adds loopback-only options (--interface=127.0.0.1,
#     no DHT or local peer discovery, a listen port from 20000-40000) before the README's.
#
# Then the demo: `odi demo --listen 127.0.0.1:0`, with TMPDIR in the temporary folder. Once
# it prints "Ctrl-C stops the demo", every command it printed (its indented lines that do
# not end in ":") runs in order in a folder of its own, the magnet link given to aria2c and
# the publish's PATH placeholder replaced by a sample file; then each download folder (one
# per client) is checked with sha256sum -c against the artifacts' SHA256SUMS. Last,
# SIGINT: the demo must exit 0 within 20s and remove its data folder.
#
# Prints PASS/FAIL/SKIP per command and "readme: N passed, M failed, K skipped"; exits
# non-zero on any failure.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: scripts/readme.sh path/to/odi" >&2; exit 2; }
ODI=$(realpath "$1")
[ -x "$ODI" ] || { echo "readme: $ODI not found; run make build" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
README=$REPO/README.md

WORK=$(mktemp -d /tmp/odi-readme.XXXXXX)
PIDS=() CMD_PID=
# stop PID SIGNAL: sends SIGNAL (0: none) to PID, a child of this script, gives it 20s to
# exit, then SIGKILL; returns its exit status, or 124 if it had to be killed.
stop() {
	local _ rc=0
	kill "-$2" "$1" 2>/dev/null || true
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
		return 124
	fi
	wait "$1" 2>/dev/null || rc=$?
	return "$rc"
}
cleanup() {
	local pid
	[ -n "$CMD_PID" ] && PIDS+=("$CMD_PID")
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do stop "$pid" 0 || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The environment a reader has: odi first on PATH, a home of its own, no ODI_* settings.
mkdir -p "$WORK/home" "$WORK/tmp" "$WORK/bin" "$WORK/walk" "$WORK/demo"
export HOME=$WORK/home TMPDIR=$WORK/tmp
while read -r var; do unset "$var"; done < <(compgen -e | grep '^ODI_' || true)
# Loopback-only wrappers for the torrent clients, ahead of the real ones on PATH.
if real=$(command -v aria2c); then
	printf '#!/bin/sh\nexec %q --interface=127.0.0.1 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --listen-port=20000-40000 "$@"\n' "$real" >"$WORK/bin/aria2c"
fi
chmod +x "$WORK"/bin/* 2>/dev/null || true
PATH=$WORK/bin:$(dirname "$ODI"):$PATH # the wrappers first, even if BIN is /usr/bin/odi
export PATH
cp "$REPO/config.example.yaml" "$WORK/walk/"

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP  %s\n' "$1"; }
fail() {
	failed=$((failed + 1))
	printf 'FAIL  %s\n' "$1"
	if [ -n "${2:-}" ]; then tail -20 <<<"$2" | sed 's/^/      /'; fi
}

# run NAME DIR CMD: runs CMD in its own bash in DIR, for at most 60s. In the background,
# so that a signal to this script runs its trap at once (which stops CMD).
run() {
	local rc=0
	(cd "$2" && exec timeout -k 5 60 bash -c "$3") </dev/null >"$WORK/cmd.out" 2>&1 &
	CMD_PID=$!
	wait "$CMD_PID" || rc=$?
	CMD_PID=
	if [ "$rc" = 0 ]; then pass "$1"; else fail "$1" "exit $rc$([ "$rc" = 124 ] && echo ' (timed out)'): $(cat "$WORK/cmd.out")"; fi
}
# program CMD: the program CMD runs (its first word, past a leading "(").
program() {
	local words
	read -r -a words <<<"${1#(}"
	printf '%s' "${words[0]}"
}
# wait_ready OUT LOG PID: waits (30s at most), while PID lives, until OUT says "listening
# on" and, for a relay, LOG says it registered. Returns 1 if PID exited, 2 on time-out.
wait_ready() {
	local _
	for _ in $(seq 300); do
		if grep -q 'listening on' "$1"; then
			grep -q '^odi relay' "$1" || return 0
			grep -q 'relay registered' "$2" && return 0
		fi
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 2
}
# free_port: prints a TCP and UDP port nobody listens on (the directory takes both).
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 10000)) # below aria2c's listen ports and the ephemeral ones
		if [ -z "$(ss -Htuln "sport = :$p")" ] && ! grep -qx "$p" "$WORK/ports" 2>/dev/null; then
			echo "$p" >>"$WORK/ports"
			echo "$p"
			return
		fi
	done
}

# --- README.md -------------------------------------------------------------------------
# commands: prints LINE<TAB>MODE<TAB>COMMAND for each command in README's ```sh blocks,
# MODE being run, bg (another terminal) or install.
commands() {
	local n=0 line inblock=0 cmd="" first=0 bg=0 mode
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		if [ "$inblock" = 0 ]; then
			[[ $line =~ ^\`\`\`sh[[:space:]]*$ ]] && inblock=1
			continue
		fi
		if [[ $line =~ ^\`\`\` ]]; then inblock=0 cmd="" bg=0; continue; fi
		if [ -z "$cmd" ]; then
			[[ $line =~ ^[[:space:]]*$ ]] && continue
			if [[ $line =~ ^[[:space:]]*# ]]; then
				[[ ${line,,} == *"in another terminal"* ]] && bg=1
				continue
			fi
			first=$n
		fi
		if [[ $line == *\\ ]]; then
			cmd+="${line%\\} "
			continue
		fi
		cmd+=$line
		mode=run
		[ "$bg" = 1 ] && mode="bg"
		[[ $cmd =~ ^(make|go|git|sudo|cd)[[:space:]] || $cmd =~ ^export[[:space:]]+PATH= ]] && mode=install
		printf '%s\t%s\t%s\n' "$first" "$mode" "$cmd"
		cmd="" bg=0
	done <"$README"
}

# Each loopback port the README names gets a free one.
declare -A port
for p in $(commands | grep -o '127\.0\.0\.1:[1-9][0-9]*' | cut -d: -f2 | sort -u); do
	port[$p]=$(free_port)
done
remap() {
	local c=$1 p
	# sed, not ${c//…}: \b keeps 8080 from matching the start of 80800.
	# shellcheck disable=SC2001
	for p in "${!port[@]}"; do c=$(sed "s/127\.0\.0\.1:$p\b/127.0.0.1:${port[$p]}/g" <<<"$c"); done
	printf '%s' "$c"
}

echo "README.md walk-through in $WORK/walk (ports:$(for p in "${!port[@]}"; do printf ' %s->%s' "$p" "${port[$p]}"; done))"
bgn=0 BG_NAMES=()
while IFS=$'\t' read -r line mode text; do
	name="README.md:$line  $(tr -s ' ' <<<"$text")"
	cmd=$(remap "$text")
	prog=$(program "$cmd")
	if [ "$mode" = install ]; then
		skip "$name (install or build step: odi is $ODI)"
	elif ! command -v "$prog" >/dev/null; then
		skip "$name ($prog is not installed)"
	elif [ "$mode" = bg ]; then
		bgn=$((bgn + 1))
		: >"$WORK/bg-$bgn.out"
		: >"$WORK/bg-$bgn.log"
		(cd "$WORK/walk" && exec bash -c "$cmd") </dev/null >"$WORK/bg-$bgn.out" 2>"$WORK/bg-$bgn.log" &
		PIDS+=($!)
		BG_NAMES+=("$(cut -d' ' -f1-2 <<<"$cmd")") # "odi directory"
		rc=0
		wait_ready "$WORK/bg-$bgn.out" "$WORK/bg-$bgn.log" "$!" || rc=$?
		case $rc in
		0) pass "$name (in the background: $(head -1 "$WORK/bg-$bgn.out"))" ;;
		1) fail "$name (in the background: it exited)" "$(cat "$WORK/bg-$bgn.out" "$WORK/bg-$bgn.log")" ;;
		*) fail "$name (in the background: not ready within 30s)" "$(cat "$WORK/bg-$bgn.out" "$WORK/bg-$bgn.log")" ;;
		esac
	else
		run "$name" "$WORK/walk" "$cmd"
	fi
done < <(commands)
# The daemons stop now, the last started first, as a reader's Ctrl-C stops them: each must
# still be running and exit 0 within 20s.
for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
	name="README.md: Ctrl-C stops ${BG_NAMES[i]}, exit 0"
	if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
		rc=0
		wait "${PIDS[i]}" || rc=$?
		fail "$name" "it had exited already, status $rc: $(tail -5 "$WORK/bg-$((i + 1)).log")"
		continue
	fi
	rc=0
	stop "${PIDS[i]}" INT || rc=$?
	if [ "$rc" = 0 ]; then pass "$name"; else fail "$name" "exit $rc: $(tail -5 "$WORK/bg-$((i + 1)).log")"; fi
done
PIDS=()

# --- odi demo --------------------------------------------------------------------------
echo "odi demo"
"$ODI" demo --listen 127.0.0.1:0 </dev/null >"$WORK/demo.out" 2>"$WORK/demo.log" &
DEMO_PID=$!
PIDS+=("$DEMO_PID")
ready=0
for _ in $(seq 900); do # 90s: the demo gives its relays up to 2 minutes, but needs seconds
	if grep -q '^Ctrl-C stops the demo' "$WORK/demo.out"; then ready=1; break; fi
	kill -0 "$DEMO_PID" 2>/dev/null || break
	sleep 0.1
done
if [ "$ready" = 0 ]; then
	fail "odi demo prints what to try" "$(cat "$WORK/demo.out" "$WORK/demo.log")"
else
	pass "odi demo prints what to try"
	base=$(sed -n 's/^odi demo: a directory at \([^ ,]*\),.*/\1/p' "$WORK/demo.out")
	data=$(sed -n 's/^odi demo: .*, data in \(.*\)$/\1/p' "$WORK/demo.out")
	dl=$(sed -n 's/.*files land in \(.*\)\/<client>.*/\1/p' "$WORK/demo.out")
	# The artifacts' checksums, kept before the demo's own expunge command runs.
	ids=$(sed -n 's/^\([a-z0-9.-]*\/[a-z0-9.-]*\/[a-z0-9.-]*\): .*infohash.*/\1/p' "$WORK/demo.out")
	for id in $ids; do
		curl -fsS "$base/api/v1/artifacts/$id/SHA256SUMS" >>"$WORK/demo-sums" || fail "demo: SHA256SUMS of $id"
	done
	echo "odi demo sample: a file published with the demo's own command" >"$WORK/demo/mine.txt"
	while IFS= read -r cmd; do
		case "$cmd" in
		magnet:*) cmd="aria2c --seed-time=0 -d $dl/aria2c-magnet '$cmd'" ;;
		*" PATH") cmd="${cmd% PATH} mine.txt" ;;
		esac
		prog=$(program "$cmd")
		if command -v "$prog" >/dev/null; then
			run "demo: $cmd" "$WORK/demo" "$cmd"
		else
			skip "demo: $cmd ($prog is not installed)"
		fi
	done < <(sed -n '/^Both relays hold both samples/,$p' "$WORK/demo.out" | sed -n 's/^ \{2,\}\(.*[^:]\)$/\1/p')
	for d in "$dl"/*/; do
		name="demo: the files in $d verify"
		if out=$(cd "$d" && sha256sum -c --ignore-missing --strict "$WORK/demo-sums" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
	done
	rc=0
	stop "$DEMO_PID" INT || rc=$?
	if [ "$rc" = 0 ] && [ -n "$data" ] && [ ! -e "$data" ]; then
		pass "demo: Ctrl-C (SIGINT) stops it within 20s, exit 0, its data folder removed"
	else
		fail "demo: Ctrl-C (SIGINT) stops it within 20s, exit 0, its data folder removed" "exit $rc (124: killed), $data $([ -e "$data" ] && echo remains || echo removed)
$(tail -20 "$WORK/demo.log")"
	fi
fi
PIDS=()

echo "readme: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
