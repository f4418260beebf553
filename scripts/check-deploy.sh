#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd with `systemd-analyze verify`: directive
# names and values, sandboxing options this systemd knows, and that the commands exist;
# and odi.sysusers with `systemd-sysusers --dry-run` on an empty root. Needs neither root
# nor a running systemd (it reads the files; verify runs no manager); without
# systemd-analyze it says so and passes.
#
# Usage: scripts/check-deploy.sh
#
# verify wants ExecStart's program to exist and man pages for Documentation=man:...: the
# units name /usr/local/bin/odi (make install) and odi's man pages, which a build machine
# has not installed. So each unit is checked as a copy in a temporary folder whose
# ExecStart names an executable stub there, with --man=no. verify exits 0 on unknown keys
# and unparsable values (it logs "ignoring"), so any output fails the check.
set -euo pipefail

cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-deploy: SKIP: systemd-analyze not installed (Debian: apt install systemd)"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\n' >"$tmp/odi"
chmod +x "$tmp/odi"
units=()
for unit in deploy/systemd/*.service; do
	grep -q '^ExecStart=/usr/local/bin/odi ' "$unit" || { echo "check-deploy: $unit: ExecStart does not run /usr/local/bin/odi"; exit 1; }
	sed "s#/usr/local/bin/odi #$tmp/odi #" "$unit" >"$tmp/${unit##*/}"
	units+=("$tmp/${unit##*/}")
done
if ! out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) || [ -n "$out" ]; then
	echo "check-deploy: systemd-analyze verify:"
	echo "${out//$tmp/deploy/systemd}"
	exit 1
fi
mkdir "$tmp/root"
if ! out=$(systemd-sysusers --dry-run --root="$tmp/root" - <deploy/systemd/odi.sysusers 2>&1) ||
	grep -qiE 'fail|invalid|ignor|warn' <<<"$out"; then
	echo "check-deploy: systemd-sysusers --dry-run deploy/systemd/odi.sysusers:"
	echo "$out"
	exit 1
fi
echo "check-deploy: ok: ${#units[@]} units and odi.sysusers ($(systemd-analyze --version | head -1))"
