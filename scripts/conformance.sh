#!/usr/bin/env bash
# Runs the official MCP conformance suite (server scenarios) against the
# conformance fixture (mcp-servers/fixture), in both protocol eras, and records
# per-scenario pass/fail so a later phase can run the same suite *through
# polyclaw* and check that the mesh loses nothing.
#
#   scripts/conformance.sh                 # build, start the fixture, run both eras
#   CONFORMANCE=/path/to/conformance scripts/conformance.sh
#   CONFORMANCE_SUITE=active scripts/conformance.sh   # only the suite's default set
#
# Outputs, under target/conformance/:
#   direct-V.txt          the suite's full output for spec version V
#   direct-V/             the suite's per-scenario results (checks.json each)
#   direct-V.tsv          one line per scenario: NAME<TAB>pass|fail
#   fixture.log           the fixture's stderr
#
# How the suite reports results (0.2.0-alpha.12): it exits 1 if any check
# failed, prints "=== SUMMARY ===" followed by one "✓|✗ NAME: P passed, F
# failed" line per scenario, and with -o DIR writes DIR/server-NAME-TIMESTAMP/
# checks.json (a JSON array of checks, status SUCCESS|FAILURE|WARNING|INFO|
# SKIPPED). A scenario fails iff one of its checks is FAILURE. A scenario
# that crashed appears in the summary but has no checks.json, so the summary is
# read first and the checks.json files only fill in scenarios it lacks.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"

CONFORMANCE=${CONFORMANCE:-$root/../shared/tools/conformance}
# `all` = every scenario on the spec timeline up to V (includes the suite's
# draft and pending ones, e.g. 2026-07-28 stateless/input-required scenarios);
# `active` = the suite's default selection. Extension scenarios (tasks-*,
# sep-2640-skills-*) are never selected by a --spec-version run.
CONFORMANCE_SUITE=${CONFORMANCE_SUITE:-all}
VERSIONS=(2025-11-25 2026-07-28)
OUT=$root/target/conformance
TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

PIDS=()

log() { printf 'conformance: %s\n' "$*" >&2; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: print a loopback TCP port nobody listens on right now.
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    log "no free port found"
    return 1
}

# start_bg NAME LOGFILE CMD...: start CMD in the background with its output in
# LOGFILE; its pid goes to START_PID and is killed (TERM, then KILL) on exit.
start_bg() {
    local name=$1 logfile=$2
    shift 2
    "$@" </dev/null >"$logfile" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    log "started $name (pid $pid): $*"
    START_PID=$pid
}

# wait_for_port PORT PID NAME: wait until PORT accepts connections, failing
# early if PID died (so we never test someone else's server on that port).
wait_for_port() {
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening on port $port"
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not listen on port $port within 10 s"
    return 1
}

# scenario_results TXT DIR: print "NAME<TAB>pass|fail" for every scenario of
# one run, from the summary in TXT, completed from the checks.json files in DIR.
scenario_results() {
    local txt=$1 dir=$2 line name passed failed
    declare -A seen=()
    while IFS= read -r line; do
        # "✓ NAME: 3 passed, 0 failed" / "✗ NAME: 1 passed, 2 failed"
        if [[ $line =~ ^(✓|✗)\ ([^:[:space:]]+):\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            name=${BASH_REMATCH[2]}
            failed=${BASH_REMATCH[4]}
            seen[$name]=1
            if [[ ${BASH_REMATCH[1]} == "✓" && $failed == 0 ]]; then
                printf '%s\tpass\n' "$name"
            else
                printf '%s\tfail\n' "$name"
            fi
        fi
    done < <(sed -n '/^=== SUMMARY ===$/,$p' "$txt")
    local checks base
    shopt -s nullglob
    for checks in "$dir"/server-*/checks.json; do
        base=$(basename "$(dirname "$checks")")
        name=${base#server-}
        name=${name%-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*}
        [[ -n ${seen[$name]:-} ]] && continue
        seen[$name]=1
        if grep -q '"status": *"FAILURE"' "$checks"; then
            printf '%s\tfail\n' "$name"
        else
            printf '%s\tpass\n' "$name"
        fi
    done
    shopt -u nullglob
}

# run_suite NAME URL: run the suite for every version in VERSIONS against URL,
# writing $OUT/NAME-V.txt, $OUT/NAME-V/ and $OUT/NAME-V.tsv. Returns non-zero
# if any scenario failed or a run produced no results.
run_suite() {
    local name=$1 url=$2 version txt dir tsv rc status=0
    mkdir -p "$OUT"
    for version in "${VERSIONS[@]}"; do
        txt=$OUT/$name-$version.txt
        dir=$OUT/$name-$version
        tsv=$OUT/$name-$version.tsv
        rm -rf "$dir"
        log "$name: spec $version, suite $CONFORMANCE_SUITE, $url"
        rc=0
        "$CONFORMANCE" server --url "$url" --suite "$CONFORMANCE_SUITE" \
            --spec-version "$version" -o "$dir" >"$txt" 2>&1 || rc=$?
        scenario_results "$txt" "$dir" | LC_ALL=C sort >"$tsv"
        local passed failed
        passed=$(grep -c $'\tpass$' "$tsv" || true)
        failed=$(grep -c $'\tfail$' "$tsv" || true)
        log "$name $version: $passed scenario(s) passed, $failed failed (suite exit $rc)"
        if [[ $failed -gt 0 ]]; then
            grep $'\tfail$' "$tsv" | cut -f1 | sed 's/^/  failed: /' >&2
            status=1
        elif [[ $passed -eq 0 ]]; then
            log "$name $version: no scenario results; see $txt"
            status=1
        elif [[ $rc -ne 0 ]]; then
            log "$name $version: suite exited $rc although no scenario failed; see $txt"
            status=1
        fi
        TOTAL_PASSED=$((TOTAL_PASSED + passed))
        TOTAL_FAILED=$((TOTAL_FAILED + failed))
    done
    return "$status"
}

# compare_runs BASE OTHER: fail if a scenario that passed in BASE (e.g.
# direct) fails or is missing in OTHER (e.g. mesh), for every version.
compare_runs() {
    local base=$1 other=$2 version name result status=0
    for version in "${VERSIONS[@]}"; do
        local base_tsv=$OUT/$base-$version.tsv other_tsv=$OUT/$other-$version.tsv
        if [[ ! -f $base_tsv || ! -f $other_tsv ]]; then
            log "compare $base/$other $version: missing $base_tsv or $other_tsv"
            status=1
            continue
        fi
        declare -A other_result=()
        while IFS=$'\t' read -r name result; do
            other_result[$name]=$result
        done <"$other_tsv"
        while IFS=$'\t' read -r name result; do
            [[ $result == pass ]] || continue
            case ${other_result[$name]:-missing} in
                pass) ;;
                *)
                    log "regression $version: $name passes $base but is ${other_result[$name]:-missing} through $other"
                    status=1
                    ;;
            esac
        done <"$base_tsv"
        unset other_result
    done
    if [[ $status -eq 0 ]]; then
        log "compare: every scenario passing $base also passes $other"
    fi
    return "$status"
}

# --- phase 1: the fixture, directly ------------------------------------------

TOTAL_PASSED=0
TOTAL_FAILED=0
[[ -x $CONFORMANCE ]] || { log "conformance tool not found at $CONFORMANCE (set CONFORMANCE)"; exit 2; }
mkdir -p "$OUT"

# The binaries of scripts/test.sh's one build (the same command, so a no-op after it).
log "building the workspace's binaries (cargo build --workspace --bins)"
cargo build --locked --workspace --bins
FIXTURE_BIN=$TARGET_DIR/debug/polyclaw-server-fixture
POLYCLAW_BIN=$TARGET_DIR/debug/polyclaw

fixture_port=$(free_port)
start_bg fixture "$OUT/fixture.log" "$FIXTURE_BIN" --http "127.0.0.1:$fixture_port"
fixture_pid=$START_PID
wait_for_port "$fixture_port" "$fixture_pid" fixture
FIXTURE_URL=http://127.0.0.1:$fixture_port/mcp

direct_status=0
run_suite direct "$FIXTURE_URL" || direct_status=$?

# --- phase 2: the fixture through polyclaw ----------------------------------
#
# The fixture is plugged in as a stdio child process with prefix = "" so tool
# and prompt names are unchanged; polyclaw serves HTTP. Every scenario passing
# directly must pass through the mesh.

cat >"$OUT/polyclaw-mesh.toml" <<EOF
# The suite's fixture tools carry no annotations and the suite answers elicitation with its
# own scripted replies: the guardrails would ask it about every call, so they stand aside.
[policy]
autonomy = "full"

[servers.fixture]
command = "$FIXTURE_BIN"
prefix = ""
start = "boot"
EOF
mesh_port=$(free_port)
start_bg polyclaw "$OUT/polyclaw-mesh.log" "$POLYCLAW_BIN" --config "$OUT/polyclaw-mesh.toml" \
    serve --http "127.0.0.1:$mesh_port"
wait_for_port "$mesh_port" "$START_PID" polyclaw
mesh_status=0
run_suite mesh "http://127.0.0.1:$mesh_port/mcp" || true
compare_runs direct mesh || mesh_status=1

# --- phase 3: the front door alone -------------------------------------------
#
# polyclaw with no downstream servers must pass the lifecycle, ping,
# tools-list, header and DNS-rebinding scenarios by itself. (The 2026-07-28
# lifecycle scenario, server-stateless, calls fixture tools such as
# test_missing_capability, so it is held to the fixture's result in phase 2.)

: >"$OUT/polyclaw-empty.toml"
front_port=$(free_port)
start_bg polyclaw-front "$OUT/polyclaw-front.log" "$POLYCLAW_BIN" --config "$OUT/polyclaw-empty.toml" \
    serve --http "127.0.0.1:$front_port"
wait_for_port "$front_port" "$START_PID" polyclaw-front
front_status=0
FRONT_SCENARIOS=(server-initialize server-session-lifecycle ping tools-list
    http-header-validation dns-rebinding-protection)
for scenario in "${FRONT_SCENARIOS[@]}"; do
    txt=$OUT/front-$scenario.txt
    rc=0
    "$CONFORMANCE" server --url "http://127.0.0.1:$front_port/mcp" --scenario "$scenario" >"$txt" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        log "front door alone: $scenario passed"
        TOTAL_PASSED=$((TOTAL_PASSED + 1))
    else
        log "front door alone: $scenario FAILED (see $txt)"
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        front_status=1
    fi
done

log "results in $OUT"
echo "conformance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [[ $direct_status -ne 0 || $mesh_status -ne 0 || $front_status -ne 0 ]]; then
    exit 1
fi
