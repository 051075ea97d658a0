#!/usr/bin/env bash
# Fuzzes every target for a bounded time: what CI runs (from .ci/run), and the way to fuzz longer
# locally (README.md beside this file).
#
#   fuzz/run.sh                          # each target for 60 s
#   FUZZ_SECONDS=600 fuzz/run.sh unpack  # one target, longer
#
# Installs cargo-fuzz if missing, builds the targets once, writes the seed corpus
# (seeds.py, into target/seeds), then runs each target with libFuzzer's -max_total_time and
# prints the executions it reached. New inputs are kept in corpus/<target> (ignored by git); a
# crash leaves its input in artifacts/<target>/ and makes this script exit 1 once every target
# has run.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(debug_grammar config_file unpack)

# The targets only run Rust code (the one C library linked, zstd, is not instrumented by
# cargo-fuzz either way): no AddressSanitizer, which saves build time and doubles the speed;
# debug assertions and overflow checks stay on. See README.md, "Cost".
build_flags=(--sanitizer none)
# libFuzzer options per target: input size and dictionary.
declare -A options=(
    [debug_grammar]="-max_len=512 -dict=dicts/debug_grammar.dict"
    [config_file]="-max_len=4096 -dict=dicts/config_file.dict"
    [unpack]="-max_len=32768"
)

start=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
echo "== cargo fuzz build ${build_flags[*]} ($(cargo fuzz --version))"
build_start=$(date +%s)
cargo fuzz build "${build_flags[@]}"
echo "fuzz: built in $(($(date +%s) - build_start)) s"

python3 seeds.py target/seeds
mkdir -p target/logs
# The unpack target's scratch files: in memory when /dev/shm is there, removed at the end.
scratch=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/hookinit-fuzz.XXXXXX")
trap 'chmod -R u+rwx "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
export HOOKINIT_FUZZ_TMP=$scratch
failed=()
passed=0
for target in "${targets[@]}"; do
    [ -n "${options[$target]+set}" ] || { echo "fuzz: unknown target $target" >&2; exit 2; }
    mkdir -p "corpus/$target"
    log=target/logs/$target.log
    echo "== fuzzing $target for $seconds s"
    # shellcheck disable=SC2086 # options are words
    if cargo fuzz run "${build_flags[@]}" "$target" "corpus/$target" "target/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 ${options[$target]} \
        >"$log" 2>&1; then
        status=ok
        passed=$((passed + 1))
    else
        status=FAILED
        failed+=("$target")
        # The crash report: libFuzzer's summary, the panic and the input's file.
        grep -E -A40 "panicked|ERROR: libFuzzer|SUMMARY|deadly signal|Test unit written" "$log" \
            | head -80 || tail -40 "$log"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    echo "fuzz: $target: ${runs:-?} executions (${speed:-?}/s), corpus $corpus inputs, $status"
done

echo "fuzz: total $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crash or error in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/target/logs/)"
fi
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
