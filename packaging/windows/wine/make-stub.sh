#!/usr/bin/env bash
# Builds the test-only bcryptprimitives.dll (ProcessPrng → BCryptGenRandom)
# into the folder given, beside the .exe Wine runs (the DLL search starts
# there). Usage: make-stub.sh OUT_DIR
set -euo pipefail
out=${1:?usage: make-stub.sh OUT_DIR}
x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" \
  "$(dirname "$0")/bcryptprimitives.c" -lbcrypt -Wl,--kill-at
