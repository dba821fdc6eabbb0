#!/usr/bin/env bash
# Builds every installer this machine can into $DIST (default
# $CARGO_TARGET_DIR/dist or target/dist), then SHA256SUMS over them:
#   linux/package.sh     static sealbag-linux, tarball, .deb
#   windows/build-msi.sh sealbag-win.exe, .msi (wixl)
#   macos/build-pkg.sh   universal sealbag-mac, .pkg (written on Linux)
# A target that cannot be built here is SKIPPED loudly and the others go on;
# the exit code is 1 if any was skipped (0 with ALLOW_SKIP=1).
# Usage: packaging/build-all.sh [linux|windows|macos]...
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux windows macos)
skipped=()
for t in "${targets[@]}"; do
  case "$t" in
    linux) script=packaging/linux/package.sh ;;
    windows) script=packaging/windows/build-msi.sh ;;
    macos) script=packaging/macos/build-pkg.sh ;;
    *) echo "error: unknown target $t (linux, windows, macos)" >&2; exit 2 ;;
  esac
  echo "== build-all: $t ($script)" >&2
  bash "$script" || { loud "SKIPPED $t: $script failed (see above)"; skipped+=("$t"); }
done

# Checksums over every artifact (sha256sum -c SHA256SUMS checks them).
(cd "$DIST" && find . -maxdepth 1 -type f ! -name 'SHA256SUMS*' -printf '%f\n' | sort \
  | xargs -r sha256sum >SHA256SUMS.new && mv SHA256SUMS.new SHA256SUMS)
echo "== artifacts in $DIST (version $VERSION, commit $SEALBAG_GIT_COMMIT)" >&2
(cd "$DIST" && for f in $(ls); do printf '%12d  %s\n' "$(wc -c <"$f")" "$f"; done) >&2

if [ ${#skipped[@]} -gt 0 ]; then
  loud "SKIPPED targets: ${skipped[*]}"
  [ "${ALLOW_SKIP:-0}" = 1 ] || exit 1
fi
