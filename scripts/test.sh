#!/usr/bin/env bash
# polyclaw's whole test suite: the same command on a laptop and in CI.
#
# Everything runs on ONE build: the dev profile, one target dir. The workspace declares every
# dependency's features in one place, so the binaries, the test binaries, the images the tests
# build (`polyclaw images build` runs the README's `cargo build` in the profile polyclaw itself
# was built with), the benchmark smoke run and the conformance run share every compiled
# dependency. (The release profile is the newcomer's: scripts/build-times.sh measures it.)
#
# 1. `cargo build --workspace --bins`: every binary the tests start, once.
# 2. The tests: unit tests beside the code and the end-to-end tests in tests/, which start real
#    peers (our rmcp servers, the Python MCP SDK as a client, mcp-server-time and
#    mcp-server-git from PyPI: installed on first use into target/pyenv), run by cargo-nextest:
#    each test in its own process, tests of different binaries side by side (.config/nextest.toml
#    says how many at once), then the doc tests with `cargo test --doc`.
# 3. A smoke run of the benchmark harness (`polyclaw-bench --quick`, on the same dev build): it
#    must exit 0 and its report must have a row for every figure P1 … P7. Speed is not judged
#    here (the real run is `cargo run --release`); the report goes to a temporary file, never
#    to docs/benchmarks.md. BENCH_SMOKE=0 skips it.
# 4. The official MCP conformance suite, for both protocol eras, against our fixture server
#    directly and through polyclaw, and against polyclaw's front door alone
#    (scripts/conformance.sh). It needs Node 20 and the packed suite in ../shared/tools;
#    outside CI it is skipped with a note when the suite is not there.
# 5. In CI (or with FUZZ_SECONDS set): each cargo-fuzz target for a short while
#    (scripts/fuzz.sh, FUZZ_SECONDS each, 10 in CI), from the committed seeds. The fuzz build
#    (its own workspace and flags, so nothing to share) starts right after step 1, in the
#    background at the lowest CPU priority: it uses the cycles the end-to-end tests leave idle
#    while they wait on processes, containers and the network.
#
# Each phase prints its wall time; the last lines sum them up (scripts/build-times.sh reads
# them from target/test-times.tsv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzz_build=
report=
cleanup() {
    if [[ -n $fuzz_build ]]; then
        kill -- "-$fuzz_build" 2>/dev/null || true
    fi
    if [[ -n $report ]]; then
        rm -f "$report"
    fi
}
trap cleanup EXIT

times=target/test-times.tsv
mkdir -p target
: >"$times"
suite_start=$SECONDS
phase_start=$SECONDS
phase() {
    phase_name=$1
    phase_start=$SECONDS
    echo "==> $*"
}
done_phase() {
    local took=$((SECONDS - phase_start))
    printf '%s\t%s\n' "$phase_name" "$took" >>"$times"
    echo "    $phase_name: ${took} s"
}

phase build "cargo build --workspace --bins (every binary the tests start, once)"
cargo build --locked --workspace --bins
done_phase

fuzz=false
if [[ -n ${FUZZ_SECONDS:-} || ${CI:-} == true ]]; then
    fuzz=true
    fuzz_log=target/fuzz-build.log
    echo "==> fuzz build in the background (nice 19; log in $fuzz_log)"
    # Its own process group (setsid), so that a failing suite stops it, cargo and rustc included.
    setsid nice -n 19 bash scripts/fuzz.sh --build-only >"$fuzz_log" 2>&1 &
    fuzz_build=$!
fi

phase tests "cargo nextest run --workspace (then cargo test --doc)"
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "error: cargo-nextest is missing; scripts/deps.sh installs it (cargo install --locked cargo-nextest)" >&2
    exit 1
fi
cargo nextest run --locked --workspace --no-fail-fast
cargo test --locked --workspace --doc
done_phase

if [[ ${BENCH_SMOKE:-1} != 0 ]]; then
    phase bench "benchmark smoke run: polyclaw-bench --quick"
    report=$(mktemp --suffix=.md)
    # The binary of step 1 (`cargo run -p polyclaw-tests` would select one package, resolve
    # features for it alone and rebuild part of the graph under the running tests).
    target/debug/polyclaw-bench --quick --out "$report" >/dev/null
    for figure in P1 P2 P3 P4 P5 P6 P7; do
        if ! grep -q "^| $figure |" "$report"; then
            echo "error: the benchmark report has no row for $figure:" >&2
            cat "$report" >&2
            exit 1
        fi
    done
    echo "    every figure reported"
    done_phase
fi

conformance=${CONFORMANCE:-$(pwd)/../shared/tools/conformance}
if [[ -x $conformance ]] && command -v node >/dev/null; then
    phase conformance "MCP conformance suite"
    CONFORMANCE=$conformance bash scripts/conformance.sh
    done_phase
elif [[ ${CI:-} == true ]]; then
    echo "error: the MCP conformance suite is required in CI but was not found at $conformance (or node is missing)" >&2
    exit 1
else
    echo "note: MCP conformance suite not found at $conformance (or no node); skipped. Set CONFORMANCE=/path/to/conformance to run it."
fi

if $fuzz; then
    phase fuzz "fuzzing (scripts/fuzz.sh ${FUZZ_SECONDS:-10}; waiting for its build first)"
    if ! wait "$fuzz_build"; then
        fuzz_build=
        echo "error: the fuzz build failed:" >&2
        tail -n 60 "$fuzz_log" >&2
        exit 1
    fi
    fuzz_build=
    sed -n 's/^ *built in/    fuzz build (background): built in/p' "$fuzz_log"
    bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
    done_phase
else
    echo "note: fuzzing skipped outside CI; run scripts/fuzz.sh [SECONDS] (or set FUZZ_SECONDS)."
fi

printf 'total\t%s\n' "$((SECONDS - suite_start))" >>"$times"
echo "==> all green; wall time per phase (s):"
awk -F'\t' '{ printf "    %-12s %s\n", $1, $2 }' "$times"
