#!/usr/bin/env bash
# The demo: a failing entrypoint run under hookinit with DEBUG=stayalive, as PID 1 of a new PID
# namespace (what a container runtime gives it). Shows the banner, looks around inside like
# `docker exec` would, then stops it like `docker stop` and prints the exit status.
# Needs: Rust (cargo), root (for unshare/nsenter, from util-linux).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "run the demo as root (it creates a PID namespace)" >&2; exit 1; }
command -v unshare >/dev/null || apt-get install -y -qq util-linux

echo "== building hookinit (release)"
cargo build --release --quiet -p hookinit
bin=$root/target/release/hookinit
work=$(mktemp -d)
trap 'kill "${unshare_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

debug=${DEMO_DEBUG:-stayalive}
echo "== docker run -e APP_MODE=production -e DEBUG=$debug IMAGE"
echo "   (here: unshare --pid --fork --mount-proc hookinit -- entrypoint.sh)"
APP_MODE=production DEBUG=$debug HOOKINIT_RUN_DIR=$work/run \
    unshare --pid --fork --mount-proc --kill-child "$bin" -- "$root/examples/demo/entrypoint.sh" \
    >"$work/log" 2>&1 &
unshare_pid=$!
tail -n +1 -f "$work/log" --pid="$unshare_pid" &
tail_pid=$!

# Wait for the banner's last line (bounded), as an operator would watch the logs.
for _ in $(seq 300); do
    grep -q "end it:" "$work/log" && break
    kill -0 "$unshare_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "end it:" "$work/log" || { echo "demo: no stayalive banner" >&2; exit 1; }
pid1=$(cut -d' ' -f1 "/proc/$unshare_pid/task/$unshare_pid/children")

echo
echo "== docker exec -it CTR sh   (here: nsenter into PID 1's namespaces)"
nsenter -t "$pid1" -p -m -- sh -c "
    echo '\$ ps'; ps -o pid,stat,args 2>/dev/null || ls /proc | grep -E '^[0-9]+\$'
    echo '\$ . $work/run/env; echo \$APP_MODE'; . $work/run/env; echo \"\$APP_MODE\""
echo
echo "== docker stop CTR   (here: kill -TERM PID 1)"
kill -TERM "$pid1"
status=0
wait "$unshare_pid" || status=$?
wait "$tail_pid" 2>/dev/null || true
echo "== the container exited with status $status (the entrypoint's failure status)"
