"""hookinit's benchmarks, side by side with tini, dumb-init and catatonit (python3 stdlib only).

Run it through `bash bench/run.sh` (see `--help`). It builds hookinit in release, finds the other
inits, builds its helper programs (bench/helpers/probe.c, and the plugin in bench/plugin when the
binary runs plugins), measures every init on the same work, interleaved (each iteration runs every
init once, in a rotating order, so that a burst of load on a shared machine hits all of them
alike), prints a Markdown report and rewrites its own section of docs/benchmarks.md (between
`<!-- bench:begin -->` and `<!-- bench:end -->`).

Timestamps are CLOCK_MONOTONIC everywhere (time.monotonic_ns() here, clock_gettime in the probe).

Modules: cli (options, counts, the order of the measurements), plan (inits, variants, counts),
build (hookinit, the probe, the other inits), extras (hookinit-only variants), spawn (running
programs), measure (start, RSS, signals, reaping), unpack (fstree against tar), stats, report (the
Markdown tables), doc (docs/benchmarks.md), console (messages and failures).
"""
