#!/usr/bin/env bash
# Runs polyclaw's cargo-fuzz targets (fuzz/, its own workspace) for SECONDS each (default 20).
#
#   scripts/fuzz.sh [SECONDS]          every target
#   FUZZ_TARGETS="plan_parse" scripts/fuzz.sh 300
#   scripts/fuzz.sh --build-only       install cargo-fuzz and build the targets, run nothing
#                                      (scripts/test.sh does this in the background, niced,
#                                      while the tests run, then runs the targets)
#
# - Installs cargo-fuzz (pinned, from crates.io, into cargo's bin folder) when it is missing.
# - cargo-fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain
#   accept them, so no nightly toolchain is needed.
# - Builds the targets with debug assertions and overflow checks (`-a`) and no sanitizer
#   (`-s none`): polyclaw forbids unsafe code, so the fuzzers hunt panics, overflows, hangs
#   and runaway memory, and a build without ASan is about twice as fast on 2 cores.
# - 16 codegen units per crate instead of cargo-fuzz's default of 1: the targets link all of
#   polyclaw, and one unit per crate made the build over 15 minutes on 2 cores (cargo-fuzz's
#   help: "16 may be a good choice if you want faster fuzz builds at the cost of somewhat
#   slower fuzz runs").
# - Seeds come from the committed fuzz/corpus/<target>/ (real configs, plans and MCP
#   sessions); what a run discovers goes to fuzz/work/<target>/ (ignored by git) and is
#   reused by the next run. A crash leaves its input in fuzz/artifacts/<target>/; replay it
#   with `RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s none TARGET fuzz/artifacts/TARGET/crash-…`.
# - Exits non-zero if any target crashed (after running all of them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_only=false
if [[ ${1:-} == --build-only ]]; then
    build_only=true
    shift
fi
seconds=${1:-20}
cargo_fuzz_version=0.13.2
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz $cargo_fuzz_version (once)"
    start=$SECONDS
    cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
    echo "    installed in $((SECONDS - start)) s"
fi

flags=(--fuzz-dir fuzz -a -s none --codegen-units 16)
read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz | tr '\n' ' ')}"

echo "==> cargo fuzz build (${targets[*]})"
start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "    built in $((SECONDS - start)) s"
if $build_only; then
    exit 0
fi

failed=()
for target in "${targets[@]}"; do
    echo "==> fuzzing $target for ${seconds} s"
    mkdir -p "fuzz/work/$target"
    log=$(mktemp)
    # libFuzzer writes new inputs into the first corpus folder only: the work folder.
    if cargo fuzz run "${flags[@]}" "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASHED
        failed+=("$target")
        tail -n 60 "$log"
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
    echo "    $target: $status; ${execs:-?} runs, ${rate:-?} runs/s, ${cov:-cov: ?}"
    rm -f "$log"
done

if ((${#failed[@]})); then
    echo "error: fuzz target(s) crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
