# shellcheck shell=bash
# Helpers scripts/e2e.sh and scripts/faults.sh share; each sources this file after its
# `set` line. Nothing here runs anything on its own.

# eventually SECONDS CMD...: retries CMD every 0.2 s until it succeeds or time is up.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}
