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

# The S3 upload tests (tests/it/upload.rs) start PyPI's moto_server on
# 127.0.0.1 and read back with boto3 (a dependency of moto).
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import boto3' >/dev/null 2>&1; then
  echo "tests/run.sh: installing moto[server] with pip" >&2
  python3 -m pip install -q 'moto[server]' >&2 || echo "!!! tests/run.sh: could not install moto[server]; the S3 tests will skip (and fail under CI=true)" >&2
fi

# The Azure upload tests (tests/it/azure.rs) install npm's azurite@3 themselves
# into $CARGO_TARGET_DIR/tmp/azurite. They need Node.js with npm: installed
# from Debian only when absent (a machine may have NodeSource's nodejs, which
# carries npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  echo "tests/run.sh: installing nodejs npm (for Azurite)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi

cargo test --workspace --locked "$@"
