#!/usr/bin/env bash
# polyclaw's whole test suite: the same command on a laptop and in CI.
#
# 1. `cargo test --workspace`: unit tests beside the code and the end-to-end tests in tests/,
#    which start real peers (our rmcp servers, the Python MCP SDK as a client, mcp-server-time
#    and mcp-server-git from PyPI: installed on first use into target/pyenv).
# 2. A smoke run of the benchmark harness (`polyclaw-bench --quick`, release builds of polyclaw,
#    the echo server and the harness): it must exit 0 and its report must have a row for every
#    figure P1 … P7. Speed is not judged here; the report goes to a temporary file, never to
#    docs/benchmarks.md. BENCH_SMOKE=0 skips it.
# 3. The official MCP conformance suite, for both protocol eras, against our fixture server
#    directly and through polyclaw, and against polyclaw's front door alone
#    (scripts/conformance.sh). It needs Node 20 and the packed suite in ../shared/tools;
#    outside CI it is skipped with a note when the suite is not there.
# 4. In CI (or with FUZZ_SECONDS set): each cargo-fuzz target for a short while
#    (scripts/fuzz.sh, FUZZ_SECONDS each, 10 in CI), from the committed seeds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> cargo test --workspace"
cargo test --workspace

if [[ ${BENCH_SMOKE:-1} != 0 ]]; then
    echo "==> benchmark smoke run: polyclaw-bench --quick"
    start=$SECONDS
    report=$(mktemp --suffix=.md)
    trap 'rm -f "$report"' EXIT
    cargo run --release --quiet -p polyclaw-tests --bin polyclaw-bench -- --quick --out "$report" >/dev/null
    for figure in P1 P2 P3 P4 P5 P6 P7; do
        if ! grep -q "^| $figure |" "$report"; then
            echo "error: the benchmark report has no row for $figure:" >&2
            cat "$report" >&2
            exit 1
        fi
    done
    echo "    every figure reported ($((SECONDS - start)) s, builds included)"
fi

conformance=${CONFORMANCE:-$(pwd)/../shared/tools/conformance}
if [[ -x $conformance ]] && command -v node >/dev/null; then
    echo "==> MCP conformance suite"
    CONFORMANCE=$conformance bash scripts/conformance.sh
elif [[ ${CI:-} == true ]]; then
    echo "error: the MCP conformance suite is required in CI but was not found at $conformance (or node is missing)" >&2
    exit 1
else
    echo "note: MCP conformance suite not found at $conformance (or no node); skipped. Set CONFORMANCE=/path/to/conformance to run it."
fi

if [[ -n ${FUZZ_SECONDS:-} || ${CI:-} == true ]]; then
    echo "==> fuzzing (scripts/fuzz.sh ${FUZZ_SECONDS:-10})"
    start=$SECONDS
    bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
    echo "    fuzzing done ($((SECONDS - start)) s, install and build included)"
else
    echo "note: fuzzing skipped outside CI; run scripts/fuzz.sh [SECONDS] (or set FUZZ_SECONDS)."
fi
