#!/usr/bin/env bash
# Simulation benchmark of relay placement (catalog/placement): coverage against the
# fractional-knapsack bound and bytes moved after a demand shift, for 50 relays and 5,000
# artifacts by default. See scripts/bench/placement/main.go for the model and flags
# (-seed, -relays, -artifacts, -zipf, -quota, -shift, ...).
#
# Usage: scripts/bench/placement.sh [flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run -tags nosqlite ./scripts/bench/placement "$@"
