#!/usr/bin/env bash
# polyclaw's whole test suite: the same command on a laptop and in CI.
#
# 1. `cargo test --workspace`: unit tests beside the code and the end-to-end tests in tests/,
#    which start real peers (our rmcp servers, the Python MCP SDK as a client, mcp-server-time
#    and mcp-server-git from PyPI: installed on first use into target/pyenv).
# 2. The official MCP conformance suite, for both protocol eras, against our fixture server
#    directly and through polyclaw, and against polyclaw's front door alone
#    (scripts/conformance.sh). It needs Node 20 and the packed suite in ../shared/tools;
#    outside CI it is skipped with a note when the suite is not there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> cargo test --workspace"
cargo test --workspace

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
