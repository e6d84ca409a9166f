#!/usr/bin/env bash
# What polyclaw's tests need beyond Rust, Python and Docker, installed when missing:
#   busybox-static  (apt) a static binary that generated `command` servers copy into images
#   debootstrap     (apt) builds the Python base image of the `python` template
#                   (`polyclaw images base python`)
#   socat           (apt) the benchmark's relay floor: a plain byte relay between client and
#                   echo server, what any extra process in the path costs (P1)
#   cargo-nextest   (crates.io) runs the tests of every test binary side by side
#                   (scripts/test.sh); machines of this project's kind come with it
set -euo pipefail
missing=()
[[ -x /bin/busybox ]] || missing+=(busybox-static)
command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
command -v socat >/dev/null || missing+=(socat)
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "error: missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "==> apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "==> cargo install --locked cargo-nextest (once; a few minutes)"
    cargo install --locked cargo-nextest
fi
