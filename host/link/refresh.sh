#!/usr/bin/env bash
# Keeps host/link/hot-text.ld (hookinit's start-up functions, grouped at the front of its code)
# current; hot_text.py says why and how.
#
#   bash host/link/refresh.sh           # regenerate the list from the dist builds; commit it
#   bash host/link/refresh.sh --check   # CI: fail if the init-only build's start-up code is not
#                                       # in the list
#
# Every dist build starts with the same init code (crates/init; no plugin runs in the scenarios),
# but fat LTO inlines and merges identical functions differently in each: about a dozen of the
# functions the full build runs are inlined or go by another name in the init-only build (listed
# from that build alone, the full build's peak RSS was 1.7 MB instead of 1.2). So the list comes
# from all three builds (an hour cold, minutes once built). CI checks the init-only build only, a
# minute or two where the others' LTO takes twenty: that catches what goes stale most (a renamed
# crate or module, new start-up code); the others show in `bench/run.sh --dist`'s peak RSS.
# Needs valgrind and unshare (root).
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1-}" in
    "") builds=(init-only no-compiler full) ;;
    --check) builds=(init-only) ;;
    *) echo "usage: bash host/link/refresh.sh [--check]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null ||
    { echo "refresh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dist=$target_dir/x86_64-unknown-linux-musl/dist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Builds one of the dist builds with its linker map (host/build.rs) and copies both to $work
# (the builds share one output path). A map path of its own per build, unchanged between runs:
# an up-to-date build is not linked again, and its map is still the one of that link.
build() {
    local features
    case "$1" in
        init-only) features=(--no-default-features) ;;
        no-compiler) features=(--no-default-features --features plugins) ;;
        full) features=() ;;
    esac
    HOOKINIT_LINK_MAP=$dist/hookinit-$1.map cargo build --profile dist \
        --target x86_64-unknown-linux-musl -p hookinit "${features[@]}"
    cp "$dist/hookinit" "$work/$1"
    cp "$dist/hookinit-$1.map" "$work/$1.map"
}

measured=()
for b in "${builds[@]}"; do
    build "$b"
    measured+=("$work/$b" "$work/$b.map")
done
if [ "${1-}" = --check ]; then
    python3 host/link/hot_text.py --check "${measured[@]}"
    exit
fi
python3 host/link/hot_text.py --fresh "${measured[@]}"
# The init-only build again, linked with the new list: nothing may be left outside it.
build init-only
python3 host/link/hot_text.py --check "$work/init-only" "$work/init-only.map"
