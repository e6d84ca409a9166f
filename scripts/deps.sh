#!/usr/bin/env bash
# System packages polyclaw's tests need beyond Rust, Python and Docker, installed with apt when
# missing (as root, e.g. in CI):
#   busybox-static  a static binary that generated `command` servers copy into FROM scratch images
#   debootstrap     builds the Python base image of the `python` template (`polyclaw images base python`)
set -euo pipefail
missing=()
[[ -x /bin/busybox ]] || missing+=(busybox-static)
command -v debootstrap >/dev/null || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    echo "error: missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "==> apt-get install ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
