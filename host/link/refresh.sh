#!/usr/bin/env bash
# Keeps host/link/hot-text.ld (hookinit's start-up functions, grouped at the front of its code)
# current; hot_text.py says why and how.
#
#   bash host/link/refresh.sh           # regenerate the list, then check it; commit what it wrote
#   bash host/link/refresh.sh --check   # CI: fail if start-up code runs outside the list
#
# Both measure the init-only dist build (--no-default-features): every build starts with the
# same init code (crates/init; no plugin runs in the scenarios), and that one links in a minute or
# two where the full build's fat LTO takes twenty. Needs valgrind and unshare (root).
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1-}" in
    "") mode=refresh ;;
    --check) mode=check ;;
    *) echo "usage: bash host/link/refresh.sh [--check]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null ||
    { echo "refresh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dist=$target_dir/x86_64-unknown-linux-musl/dist
# The map is the linker's, written when it links the binary beside it (host/build.rs): a fixed
# path, so that an up-to-date build is not linked again.
map=$dist/hookinit-init-only.map

build() {
    HOOKINIT_LINK_MAP=$map cargo build --profile dist --target x86_64-unknown-linux-musl \
        -p hookinit --no-default-features
}

if [ "$mode" = refresh ]; then
    build
    python3 host/link/hot_text.py --fresh "$dist/hookinit" "$map"
fi
# After a refresh, the build with the new list: nothing may be left outside it.
build
python3 host/link/hot_text.py --check "$dist/hookinit" "$map"
