#!/usr/bin/env bash
# The demo: a container whose entrypoint fails at start-up, run with hookinit as its ENTRYPOINT
# and DEBUG=verbose,stayalive. It shows the trace, the stayalive banner, a look inside like
# `docker exec`, and the `docker stop` that ends it with the entrypoint's failure status.
#
#   bash examples/demo/run.sh            the failing entrypoint, kept for a look inside
#   bash examples/demo/run.sh --fstree   the same image, fixed at run time: the missing file comes
#                                        from a tarball (served on 127.0.0.1) that fstree unpacks
# Where it runs: a real Docker engine when one answers or dockerd is installed (`--docker`
# installs Debian's docker.io first), else PID 1 of a new PID namespace in a chroot (`unshare`,
# what a container runtime does underneath); `--unshare` chooses that. `--dist` builds the
# size-optimised binary that releases ship (slower to build) instead of the quicker debug one;
# both are the static musl binary that goes into images.
# Needs: Debian (or a machine with its tools), root, and Rust from rustup: the toolchain, its
# targets and components come from rust-toolchain.toml. The script exits 0 when the story ran as
# described, non-zero otherwise (CI runs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

scenario=fail runtime=auto profile=dev
for arg in "$@"; do
    case $arg in
        --fstree) scenario=fstree ;;
        --docker) runtime=docker ;;
        --unshare) runtime=unshare ;;
        --dist) profile=dist ;;
        *) echo "usage: bash examples/demo/run.sh [--fstree] [--docker|--unshare] [--dist]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "demo: run it as root (it starts containers or PID namespaces)" >&2; exit 1; }
command -v rustup >/dev/null || {
    echo "demo: no rustup: install Rust with rustup first (https://rustup.rs), then run this again" >&2
    exit 1
}

step() { printf '\n== %s\n' "$*"; }

# --- set up: Debian packages, then the toolchain pinned in rust-toolchain.toml --------------------
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)       # the static build's C parts
command -v unshare >/dev/null || missing+=(util-linux)
[ -x /bin/busybox ] || missing+=(busybox-static)               # the image's shell and tools
command -v python3 >/dev/null || missing+=(python3)            # the fstree demo's HTTP server
if [ "$runtime" = docker ] && ! command -v dockerd >/dev/null; then missing+=(docker.io); fi
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
step "setting up the Rust toolchain of rust-toolchain.toml (rustup toolchain install)"
rustup toolchain install

# --- build --------------------------------------------------------------------------------------
target=x86_64-unknown-linux-musl
if [ "$profile" = dist ]; then
    step "building hookinit, the static binary as released (--profile dist; 20-40 min cold on 2 cores)"
    cargo build --profile dist --target $target -p hookinit
    bin=$root/target/$target/dist/hookinit
else
    step "building hookinit, the static binary (debug build; about 20 min cold on 2 cores, --dist for the release one)"
    cargo build --target $target -p hookinit
    bin=$root/target/$target/debug/hookinit
fi

# --- the image: busybox, hookinit as ENTRYPOINT, the failing entrypoint as CMD ------------------
work=$(mktemp -d)
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,usr/local/bin,proc,dev,sys,tmp,run,etc}
cp /bin/busybox "$rootfs/bin/"
for tool in sh ps ls cat echo sleep env; do ln -s busybox "$rootfs/bin/$tool"; done
# Without its debugging symbols, as an image would hold it.
strip -o "$rootfs/usr/local/bin/hookinit" "$bin"
echo "built $bin: statically linked, $(($(stat -c %s "$rootfs/usr/local/bin/hookinit") / 1024)) KiB stripped; it needs nothing else in the image"
cp examples/demo/entrypoint.sh "$rootfs/entrypoint.sh"
debug=verbose,stayalive
if [ "$scenario" = fstree ]; then
    # The fix: the configuration file the entrypoint looks for, served like an operator would.
    mkdir -p "$work/fix/etc/demo-app" "$work/srv"
    echo "greeting=hello from the fix" >"$work/fix/etc/demo-app/app.conf"
    tar -C "$work/fix" -czf "$work/srv/fix.tar.gz" etc
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$work/srv" "$port" >"$work/http.log" 2>&1 &
    http_pid=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
        sleep 0.1
    done
    debug=$debug,fstree=http://127.0.0.1:$port/fix.tar.gz
fi

# --- the runtime: Docker's engine, or unshare ----------------------------------------------------
docker_ok() { command -v docker >/dev/null && timeout 10 docker version >/dev/null 2>&1; }
dockerd_dir=
start_dockerd() {
    dockerd_dir=$(mktemp -d)
    # The flags of ../shared/containers.md: no bridge or iptables (containers use --network none
    # or host), vfs storage, everything in a folder of its own.
    dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
        --data-root "$dockerd_dir/data" --exec-root "$dockerd_dir/exec" \
        -H "unix://$dockerd_dir/docker.sock" --pidfile "$dockerd_dir/dockerd.pid" \
        >"$dockerd_dir/dockerd.log" 2>&1 &
    export DOCKER_HOST=unix://$dockerd_dir/docker.sock
    for _ in $(seq 300); do docker_ok && return 0; sleep 0.1; done
    echo "demo: dockerd did not answer in 30 s; its log:" >&2
    tail -n 20 "$dockerd_dir/dockerd.log" >&2
    return 1
}
if [ "$runtime" != unshare ]; then
    if docker_ok; then
        runtime=docker
    elif command -v dockerd >/dev/null; then
        step "starting Docker's engine (dockerd, in $(dirname "$work"))"
        start_dockerd
        runtime=docker
    elif [ "$runtime" = docker ]; then
        echo "demo: Docker's engine cannot start here" >&2
        exit 1
    else
        runtime=unshare
    fi
fi

ctr=hookinit-demo-$$
log=$work/log
: >"$log"
cleanup() {
    set +e
    [ -n "${follow_pid:-}" ] && kill "$follow_pid" 2>/dev/null
    [ -n "${http_pid:-}" ] && kill "$http_pid" 2>/dev/null
    if [ "$runtime" = docker ]; then
        docker rm -f "$ctr" >/dev/null 2>&1
        docker rmi -f "$ctr:latest" >/dev/null 2>&1
    fi
    [ -n "${unshare_pid:-}" ] && kill "$unshare_pid" 2>/dev/null
    if [ -n "$dockerd_dir" ]; then
        kill "$(cat "$dockerd_dir/dockerd.pid" 2>/dev/null)" 2>/dev/null
        wait 2>/dev/null
        # What dockerd leaves mounted (the host network namespace's handle), deepest first.
        awk -v d="$dockerd_dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
            xargs -r umount -l
        rm -rf "$dockerd_dir"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# What the container printed so far (its log).
logs() { if [ "$runtime" = docker ]; then docker logs "$ctr" 2>&1; else cat "$log"; fi; }
# Waits (60 s at most, as an operator watching the logs) for a line containing $1.
wait_for() {
    for _ in $(seq 600); do
        logs | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    echo "demo: the container never printed \"$1\"" >&2
    exit 1
}

if [ "$runtime" = docker ]; then
    step "docker run -d -e APP_MODE=production -e DEBUG=$debug IMAGE"
    echo "   (IMAGE: busybox, ENTRYPOINT [\"/usr/local/bin/hookinit\", \"--\"], CMD [\"/entrypoint.sh\"])"
    tar -C "$rootfs" -c . | docker import \
        -c 'ENTRYPOINT ["/usr/local/bin/hookinit", "--"]' -c 'CMD ["/entrypoint.sh"]' \
        -c 'ENV PATH=/bin:/usr/local/bin' - "$ctr:latest" >/dev/null
    network=none
    [ "$scenario" = fstree ] && network=host    # to reach the fix served on 127.0.0.1
    docker run -d --name "$ctr" --hostname "$ctr" --network "$network" \
        -e APP_MODE=production -e DEBUG="$debug" "$ctr:latest" >/dev/null
    docker logs -f "$ctr" &
    follow_pid=$!
else
    step "docker run -e APP_MODE=production -e DEBUG=$debug IMAGE"
    echo "   (here: unshare --pid --fork --mount-proc --root=ROOTFS hookinit -- /entrypoint.sh, ROOTFS being"
    echo "    what the image holds: busybox, hookinit and the entrypoint)"
    env -i PATH=/bin:/usr/local/bin APP_MODE=production DEBUG="$debug" \
        unshare --pid --fork --mount-proc --root="$rootfs" --kill-child \
        /usr/local/bin/hookinit -- /entrypoint.sh >"$log" 2>&1 &
    unshare_pid=$!
    tail -n +1 -f "$log" &
    follow_pid=$!
fi

# A shell inside the container, as `docker exec` gives: in Docker, with the name the banner
# gave (the container's id, whatever its --hostname).
in_container() {
    if [ "$runtime" = docker ]; then
        local named
        named=$(logs | sed -n 's/.*docker exec -it \([^ ]*\) sh.*/\1/p' | head -n 1)
        docker exec "${named:-$ctr}" sh -c "$1"
    else
        local pid1
        pid1=$(cut -d' ' -f1 "/proc/$unshare_pid/task/$unshare_pid/children")
        nsenter -t "$pid1" -p -m -r -w -- env -i PATH=/bin:/usr/local/bin sh -c "$1"
    fi
}
# `docker stop`; sets $status to the container's exit status.
stop_container() {
    status=0
    if [ "$runtime" = docker ]; then
        docker stop "$ctr" >/dev/null
        status=$(docker inspect -f '{{.State.ExitCode}}' "$ctr")
    else
        kill -TERM "$(cut -d' ' -f1 "/proc/$unshare_pid/task/$unshare_pid/children")"
        wait "$unshare_pid" || status=$?
        unset unshare_pid
    fi
}

if [ "$scenario" = fail ]; then
    wait_for "end it:"
    sleep 0.2    # let the log follower print the banner before the next heading
    step "docker exec -it CTR sh   (the crashed container is still there)"
    in_container 'echo "$ ps"; ps; echo "$ . /run/hookinit/env; echo \$APP_MODE"; . /run/hookinit/env; echo "$APP_MODE"'
    expected=3 what="the entrypoint's failure status"
else
    wait_for "entrypoint: starting"
    sleep 0.2
    step "docker exec -it CTR sh   (the fix is in place)"
    in_container 'echo "$ cat /etc/demo-app/app.conf"; cat /etc/demo-app/app.conf'
    expected=143 what="128+15: stopped by SIGTERM, forwarded to the application"
fi
step "docker stop CTR"
stop_container
sleep 0.2    # the last lines of the log, before the follower goes
kill "$follow_pid" 2>/dev/null || true
wait "$follow_pid" 2>/dev/null || true
unset follow_pid
step "the container exited with status $status ($what)"
[ "$status" = "$expected" ] || { echo "demo: expected status $expected" >&2; exit 1; }
