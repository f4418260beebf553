#!/usr/bin/env bash
# Benchmark: how long `odi publish` takes for one large file, against two baselines.
#
# Publishing reads every byte once: odi streams the file to a directory on 127.0.0.1
# while computing its sha256, and the directory hashes what it receives, builds the
# torrent (SHA-1 of every piece) and stores its origin copy durably. So the unavoidable
# work is "read the file, sha256 it, SHA-1 it into torrent pieces, write it once".
# The baselines measure exactly those pieces with well-known, optimized tools:
#   - mktorrent: reads the file and SHA-1s it into 1 MiB pieces (-l 20, the piece
#     length odi picks for 1 GiB) on 2 threads: the cost of making the torrent.
#   - sha256sum: reads the file and sha256s it: the cost of the content checksum.
# The target is odi publish <= 2.5x mktorrent. The script only reports; it does not
# judge (it exits non-zero only when a command fails).
#
# Every timed command runs after `sync` (so earlier dirty pages are not billed to it)
# on a file that is in the page cache, and one untimed warm-up round comes first: on
# some VMs the first write of a GiB is several times slower than later ones.
#
# Usage: scripts/bench/publish.sh [path/to/odi]      (default bin/odi; `make build`)
# Environment:
#   SIZE_MIB  size of the test file in MiB (default 1024)
#   RUNS      timed rounds; the table shows median and min (default 3)
#   WORKDIR   where the test file and the directory's data go (default: a fresh
#             mktemp -d, removed at exit). A given WORKDIR is kept: the script works in
#             a new subfolder of it and leaves it there for inspection.
set -euo pipefail

odi=${1:-bin/odi}
size_mib=${SIZE_MIB:-1024}
runs=${RUNS:-3}

die() { echo "publish.sh: $*" >&2; exit 1; }

[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive integer, not '$size_mib'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$runs'"
if [[ ! -x $odi ]]; then
	die "no odi binary at $odi: run 'make build' first (or pass the path to odi)"
fi
if ! command -v mktorrent >/dev/null; then
	die "mktorrent is missing; install it with: apt-get install -y mktorrent"
fi
command -v sha256sum >/dev/null || die "sha256sum is missing (coreutils)"
command -v sync >/dev/null || die "sync is missing (coreutils)"

# --- work folder, directory process, cleanup -------------------------------------------

dir_pid=""
keep_workdir=""
if [[ -n ${WORKDIR:-} ]]; then
	mkdir -p "$WORKDIR"
	work=$(mktemp -d "$WORKDIR/odi-bench.XXXXXX")
	keep_workdir=1
else
	work=$(mktemp -d)
fi

cleanup() {
	if [[ -n $dir_pid ]] && kill -0 "$dir_pid" 2>/dev/null; then
		kill "$dir_pid" 2>/dev/null || true
		wait "$dir_pid" 2>/dev/null || true
	fi
	if [[ -n $keep_workdir ]]; then
		echo "work files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

file=$work/file
torrent=$work/out.torrent
key=$work/bench.key
dir_log=$work/directory.log

# --- machine facts --------------------------------------------------------------------

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "machine"
echo "  nproc      $(nproc)"
echo "  cpu        ${cpu:-unknown}"
if command -v go >/dev/null; then
	echo "  go         $(go version)"
else
	echo "  go         (not installed)"
fi
echo "  odi        $("$odi" --version 2>/dev/null || echo "$odi")"
echo "  mktorrent  $(mktorrent -h 2>&1 | head -n1 | cut -d' ' -f1-2 || true)"
echo "  workdir    $work ($(df -PT "$work" | awk 'NR == 2 { print $2 }'))"
echo "  file       ${size_mib} MiB, ${runs} timed run(s) after 1 warm-up"
echo

# --- test file ------------------------------------------------------------------------

echo "writing ${size_mib} MiB of random data..."
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$file"
sync
cat "$file" >/dev/null # into the page cache

# stamp TEXT: overwrite the file's first 16 bytes, so that each publish is new content
# (the directory refuses the same bytes under a second version). Cheap: one page.
stamp() {
	printf '%-16.16s' "$1" | dd of="$file" bs=16 count=1 conv=notrunc status=none
}

# --- keys and directory -----------------------------------------------------------------

"$odi" keygen --out "$key" >/dev/null
: >"$work/directory.out" # exists before the background job opens it
"$odi" directory --data "$work/data" --listen 127.0.0.1:0 \
	--publisher-key "bench=$key.pub" >"$work/directory.out" 2>"$dir_log" &
dir_pid=$!

url=""
for _ in $(seq 100); do # up to ~10 s
	url=$(sed -n 's|^odi directory listening on \(http://[^ ]*\).*|\1|p' "$work/directory.out")
	[[ -n $url ]] && break
	if ! kill -0 "$dir_pid" 2>/dev/null; then
		cat "$dir_log" >&2
		die "odi directory exited before listening (log above)"
	fi
	sleep 0.1
done
if [[ -z $url ]]; then
	cat "$dir_log" >&2
	die "odi directory did not print its URL within 10 s (log above)"
fi
echo "directory at $url (log: $dir_log)"
echo

# --- timing ---------------------------------------------------------------------------

commands=(mktorrent sha256sum publish)
declare -A label=([mktorrent]="mktorrent" [sha256sum]="sha256sum" [publish]="odi publish")
declare -A times=()  # command -> space-separated seconds of the timed runs
declare -A failed=() # command -> number of failed runs (warm-up included)

# now_us: wall clock in microseconds (EPOCHREALTIME without its decimal separator).
now_us() {
	local t=$EPOCHREALTIME
	echo "${t/[^0-9]/}"
}

# run_one CMD VERSION: runs CMD once after a sync and prints its wall-clock seconds,
# or "FAILED" (its output goes to $work/CMD.log and, on failure, to stderr).
run_one() {
	local cmd=$1 version=$2 log=$work/$1.log t0 t1 rc=0
	[[ $cmd == mktorrent ]] && rm -f "$torrent"
	sync
	t0=$(now_us)
	case $cmd in
	mktorrent) mktorrent -t 2 -l 20 -a http://127.0.0.1:1/announce -o "$torrent" "$file" >"$log" 2>&1 || rc=$? ;;
	sha256sum) sha256sum "$file" >"$log" 2>&1 || rc=$? ;;
	publish)
		"$odi" publish --directory "$url" --key "$key" --catalog bench --name file \
			--version "$version" --quiet "$file" >"$log" 2>&1 || rc=$?
		;;
	esac
	t1=$(now_us)
	if ((rc != 0)); then
		{
			echo "${label[$cmd]} ($version) failed with exit code $rc:"
			sed 's/^/    /' "$log"
		} >&2
		echo FAILED
		return
	fi
	awk -v us="$((t1 - t0))" 'BEGIN { printf "%.3f", us / 1e6 }'
}

# round NAME VERSION: stamps the file with VERSION and times each command once;
# NAME "warm-up" is not recorded.
round() {
	local name=$1 version=$2 cmd s line
	stamp "$version"
	line=$(printf '%-8s' "$name")
	for cmd in "${commands[@]}"; do
		s=$(run_one "$cmd" "$version")
		if [[ $s == FAILED ]]; then
			failed[$cmd]=$((${failed[$cmd]:-0} + 1))
		elif [[ $name != warm-up ]]; then
			times[$cmd]="${times[$cmd]:-} $s"
		fi
		[[ $s == FAILED ]] || s+=" s"
		line+=$(printf '  %s %10s' "${label[$cmd]}" "$s")
	done
	echo "$line"
}

round warm-up warmup
for ((i = 1; i <= runs; i++)); do
	round "run $i" "run$i"
done
echo

# --- report ---------------------------------------------------------------------------

# summary median|min SECONDS...: the median (mean of the middle two for an even count)
# or the min, "-" when there are none.
summary() {
	local what=$1
	shift
	(($# > 0)) || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk -v what="$what" '
		{ v[NR] = $1 }
		END {
			if (what == "min") printf "%.3f", v[1]
			else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]
			else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# ratio A B: A / B with two decimals, "-" when either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

declare -A median=()
printf '%-12s %10s %10s %10s  %s\n' command "median s" "min s" "MiB/s med" runs
for cmd in "${commands[@]}"; do
	read -ra ts <<<"${times[$cmd]:-}"
	median[$cmd]=$(summary median "${ts[@]}")
	mn=$(summary min "${ts[@]}")
	rate=$(awk -v m="${median[$cmd]}" -v s="$size_mib" 'BEGIN { if (m == "-" || m + 0 == 0) print "-"; else printf "%.0f", s / m }')
	note="${#ts[@]}/$runs ok"
	[[ -n ${failed[$cmd]:-} ]] && note+=", ${failed[$cmd]} failed (warm-up included)"
	printf '%-12s %10s %10s %10s  %s\n' "${label[$cmd]}" "${median[$cmd]}" "$mn" "$rate" "$note"
done
echo
echo "odi publish / mktorrent   $(ratio "${median[publish]}" "${median[mktorrent]}")  (medians)"
echo "odi publish / sha256sum   $(ratio "${median[publish]}" "${median[sha256sum]}")  (medians)"
echo "target: odi publish <= 2.5x mktorrent"

if ((${#failed[@]} > 0)); then
	echo
	echo "some commands failed (see above); last lines of the directory's log:" >&2
	tail -n 20 "$dir_log" >&2 || true
	exit 1
fi
