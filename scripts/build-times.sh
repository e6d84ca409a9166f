#!/usr/bin/env bash
# Measures how long polyclaw takes to build and test from a fresh clone, as a newcomer and CI
# see it, and writes the "Build" section of docs/benchmarks.md (everything from its marker on;
# the benchmark harness keeps that section when it rewrites the rest).
#
#   scripts/build-times.sh            every measurement (about 40 minutes on 2 cores)
#   scripts/build-times.sh --no-ci    all but the CI run
#
# Each measurement starts from a fresh `git clone` of HEAD with a cold target/ and an empty CARGO_HOME (crates are
# downloaded again, as on a new machine; the toolchain and cargo-nextest stay). Before the CI
# run the Python base image is removed too, so the tests build it as a fresh machine would.
#
# 1. The README's first command: `cargo build`, then `polyclaw serve --http` until /healthz
#    answers on the embedded default.
# 2. `polyclaw images build` right after it (every image of polyclaw's own, images removed
#    first).
# 3. The optimized build in the same clone, `cargo build --release` (crates already there),
#    the release binary's size, and `polyclaw images build` from it.
# 4. `CI=true .ci/run` in a second fresh clone, with its per-phase times.
set -euo pipefail
repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")/.." rev-parse --show-toplevel)
cd "$repo"
run_ci=true
[[ ${1:-} == --no-ci ]] && run_ci=false

commit=$(git rev-parse --short HEAD)
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    echo "note: uncommitted changes are not measured (the clones are of $commit)" >&2
fi
work=$(mktemp -d "$(dirname "$repo")/polyclaw-build-times.XXXXXX")
serve_pid=
cleanup() {
    if [[ -n $serve_pid ]]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fresh_clone() {
    local dir=$work/$1
    git clone -q --no-local "$repo" "$dir"
    git -C "$dir" checkout -q "$commit"
    mkdir -p "$dir.cargo-home"
    echo "$dir"
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
fmt() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

echo "==> 1. fresh clone: cargo build, then polyclaw serve --http" >&2
first=$(fresh_clone first)
start=$SECONDS
(cd "$first" && CARGO_HOME=$first.cargo-home cargo build)
build_secs=$((SECONDS - start))
port=$(free_port)
(cd "$first" && exec ./target/debug/polyclaw serve --http "127.0.0.1:$port") 2>"$work/serve.log" &
serve_pid=$!
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    if ! kill -0 "$serve_pid" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "error: polyclaw serve exited before it served" >&2
        exit 1
    fi
    sleep 0.2
done
serving_secs=$((SECONDS - start))
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
echo "    built in $(fmt "$build_secs"), serving after $(fmt "$serving_secs")" >&2

remove_images() {
    docker images --format '{{.Repository}}:{{.Tag}}' |
        grep -E '^polyclaw/(fs|exec|http|memory|echo|polyclaw):latest$' |
        xargs -r docker rmi -f >/dev/null
}
echo "==> 2. polyclaw images build (images removed first)" >&2
remove_images
start=$SECONDS
(cd "$first" && CARGO_HOME=$first.cargo-home ./target/debug/polyclaw images build)
images_secs=$((SECONDS - start))
own_images=$(docker images --format '{{.Repository}}:{{.Tag}}' |
    grep -cE '^polyclaw/(fs|exec|http|memory|echo|polyclaw):latest$' || true)
echo "    images built in $(fmt "$images_secs")" >&2

echo "==> 3. cargo build --release in the same clone, then polyclaw images build from it" >&2
start=$SECONDS
(cd "$first" && CARGO_HOME=$first.cargo-home cargo build --release)
release_secs=$((SECONDS - start))
binary_bytes=$(stat -c %s "$first/target/release/polyclaw")
binary_mb=$(awk -v b="$binary_bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
remove_images
start=$SECONDS
(cd "$first" && CARGO_HOME=$first.cargo-home ./target/release/polyclaw images build)
release_images_secs=$((SECONDS - start))
echo "    release build $(fmt "$release_secs"), binary $binary_mb MiB; images from it $(fmt "$release_images_secs")" >&2

ci_rows=""
ci_secs=
if $run_ci; then
    echo "==> 4. fresh clone: CI=true .ci/run (Python base image removed first)" >&2
    docker rmi -f polyclaw/python-base:bookworm-mcp2.3.0 >/dev/null 2>&1 || true
    ci=$(fresh_clone ci)
    start=$SECONDS
    conformance=${CONFORMANCE:-$repo/../shared/tools/conformance}
    (cd "$ci" && CI=true CONFORMANCE=$conformance CARGO_HOME=$ci.cargo-home ./.ci/run)
    ci_secs=$((SECONDS - start))
    while IFS=$'\t' read -r name secs; do
        [[ $name == total ]] && continue
        ci_rows+="| ↳ $name | $(fmt "$secs") | |"$'\n'
    done <"$ci/target/test-times.tsv"
    echo "    CI green in $(fmt "$ci_secs")" >&2
fi

marker='<!-- build times: scripts/build-times.sh -->'
section=$(
    cat <<EOF
$marker
## Build

Measured by \`scripts/build-times.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit $commit, on
this machine ($(nproc) cores), each from a fresh clone with a cold \`target/\` and an empty
\`CARGO_HOME\` (crates downloaded again). Targets from issue 11.

| what | measured | target |
|---|---|---|
| README's first command: \`cargo build\` (polyclaw and its servers) | $(fmt "$build_secs") | |
| … then \`polyclaw serve --http\` answering on the embedded default | $(fmt "$serving_secs") | ≤ 6 min |
| \`polyclaw images build\` after it (all $own_images own images, from the same build) | $(fmt "$images_secs") | |
| a fresh machine's way to every image: README build + images build | $(fmt $((build_secs + images_secs))) | ≤ 6 min |
| the optimized build, \`cargo build --release\` (crates already downloaded) | $(fmt "$release_secs") | |
| release \`polyclaw\` binary | $binary_mb MiB | ≤ 30 MB |
| \`polyclaw images build\` from the release build | $(fmt "$release_images_secs") | |
EOF
    if [[ -n $ci_secs ]]; then
        echo "| \`CI=true .ci/run\` (every test, bench smoke, conformance, fuzzing) | $(fmt "$ci_secs") | ≤ 30 min |"
        printf '%s' "$ci_rows"
    fi
)
doc=$repo/docs/benchmarks.md
if grep -qF "$marker" "$doc"; then
    head_part=$(sed "/^$(printf '%s' "$marker" | sed 's/[][\.*^$/]/\\&/g')\$/,\$d" "$doc")
else
    head_part=$(cat "$doc")
fi
printf '%s\n\n%s\n' "$head_part" "$section" >"$doc"
echo "==> wrote the Build section of docs/benchmarks.md" >&2
