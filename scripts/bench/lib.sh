# shellcheck shell=bash
# Helpers the benchmark scripts share; each sources this file right after `set -euo
# pipefail`. Nothing here runs anything on its own.

# die MESSAGE: prints "SCRIPT: MESSAGE" on stderr and exits 1.
die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# bench_workdir NAME: makes the work folder $work (a mktemp -d) and arms the cleanup that,
# at exit, kills and reaps every PID in $pids and removes $work. Ctrl-C exits 130, TERM 143.
bench_workdir() {
	work=$(mktemp -d "/tmp/odi-bench-$1.XXXXXX")
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}

# wait_line FILE PID WHAT SED: waits up to 10 s for SED (a sed -n script) to print
# something from FILE, PID's stdout, and prints its first line; dies if PID exits first.
wait_line() {
	local file=$1 pid=$2 what=$3 script=$4 out
	for _ in $(seq 100); do
		out=$(sed -n "$script" "$file" | head -n1)
		if [[ -n $out ]]; then
			echo "$out"
			return
		fi
		kill -0 "$pid" 2>/dev/null || die "$what exited before listening (see $file and its log)"
		sleep 0.1
	done
	die "$what did not say where it listens within 10 s (see $file)"
}

# wait_url FILE PID WHAT: wait_line for "listening on [http://]ADDR"; prints ADDR as an
# http:// URL.
wait_url() { wait_line "$1" "$2" "$3" 's/.*listening on \(http:\/\/\)\{0,1\}\([0-9.:]*\).*/http:\/\/\2/p'; }

# now: seconds since the epoch, with nanoseconds; since T: seconds from T to now, 2 decimals.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# median VALUES...: the median (mean of the middle two for an even count) of the values
# that are not "" or "-"; "-" if none is.
median() {
	printf '%s\n' "$@" | { grep -v '^-\?$' || true; } | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) print "-"
			else if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# cpu_ticks PID: utime+stime of the process (all its threads), in clock ticks.
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) } # fields from 3 on; the command name may hold spaces
	read -ra f <<<"$stat"
	echo $((f[11] + f[12])) # utime, stime: fields 14 and 15
}
# machine_ticks: "busy total steal" clock ticks of all CPUs, from /proc/stat (busy
# includes steal: time the hypervisor gave to other guests).
machine_ticks() {
	awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, $9 }' /proc/stat
}
# field NAME LINE: the value of NAME=... in a result line.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
