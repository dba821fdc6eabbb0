#!/usr/bin/env bash
# Runs every test of the workspace. On a fresh Debian machine it first
# installs what the tests compare against (tests/deps/*.apt: the reference
# `age`, GNU tar, zstd, and each tool's own needs).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=$(cat tests/deps/*.apt 2>/dev/null | sed 's/#.*//' | tr -s ' \n' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --workspace --locked "$@"
