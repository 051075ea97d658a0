#!/usr/bin/env bash
# hookinit's benchmarks side by side with tini, dumb-init and catatonit (issue 6).
#
#   bash bench/run.sh              # builds hookinit (release), measures, rewrites docs/benchmarks.md
#   bash bench/run.sh --quick      # smoke run for CI (well under a minute once built); prints only
#   bash bench/run.sh --scale 5    # five times the iterations, for a quiet machine
#   bash bench/run.sh --help
#
# Needs root (PID namespaces), python3, a C compiler, and Debian's inits:
#   apt-get install tini dumb-init catatonit
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench: error: python3 is needed (apt-get install python3)" >&2; exit 1; }
exec python3 bench/bench.py "$@"
