#!/usr/bin/env bash
# Builds the universal (arm64 + x86_64) sealbag-mac with cargo-zigbuild and
# the flat installer package, both on Linux, into $DIST:
#   sealbag-mac (universal Mach-O), sealbag-<version>.pkg
# The .pkg is a product archive as productbuild writes it (xar: Distribution
# + <name>.pkg/{PackageInfo,Bom,Payload}), written by packaging/pkgtool
# (embala-pkg). Payload, root:wheel, under /usr/local:
#   bin/sealbag-mac                          the path the PPPC profile names
#   share/sealbag/profiles/macos-*.toml      site profiles folder
# Needs: pip `ziglang` and `cargo-zigbuild` (installed here when missing),
# rustup targets aarch64-apple-darwin and x86_64-apple-darwin (added here).
# PKG_IDENTIFIER overrides the receipt identifier (default org.sealbag.sealbag).
# Usage: packaging/macos/build-pkg.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

IDENTIFIER=${PKG_IDENTIFIER:-org.sealbag.sealbag}
for t in aarch64-apple-darwin x86_64-apple-darwin; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
if ! python3 -c 'import ziglang' 2>/dev/null || ! command -v cargo-zigbuild >/dev/null; then
  python3 -m pip install --quiet ziglang cargo-zigbuild 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages ziglang cargo-zigbuild
fi

# No Apple SDK here: zig ships libSystem, but not the frameworks. The one
# framework left in the link is CoreFoundation (chrono -> iana-time-zone reads
# the system time zone with it; macos-unifiedlogs needs chrono's clock): a text
# stub (.tbd) naming the real framework and the seven functions used stands in
# for it; the Mac loads the real one. (ctrlc, whose libdispatch backend pulled
# objc2 and Foundation, is no longer used on Unix: common/src/live/signals.rs.)
# The stub lives at a fixed path in the target dir, so RUSTFLAGS stay the same
# from one build to the next and cargo's cache holds.
stubs="$TARGET_DIR/macos-sdk-stubs"
mkdir -p "$stubs/CoreFoundation.framework"
cat >"$stubs/CoreFoundation.framework/CoreFoundation.tbd" <<'TBD'
--- !tapi-tbd
tbd-version: 4
targets: [ x86_64-macos, arm64-macos ]
install-name: '/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation'
exports:
  - targets: [ x86_64-macos, arm64-macos ]
    symbols: [ _CFRelease, _CFStringGetBytes, _CFStringGetCStringPtr, _CFStringGetLength,
               _CFTimeZoneCopySystem, _CFTimeZoneGetName, _CFTimeZoneResetSystem ]
...
TBD
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-F$stubs"

cargo zigbuild --release --locked -p sealbag-mac --target universal2-apple-darwin
bin="$TARGET_DIR/universal2-apple-darwin/release/sealbag-mac"

# The packaging helper: its own workspace and lock file, never shipped.
RUSTFLAGS= CARGO_TARGET_DIR="$TARGET_DIR/pkgtool" cargo build --release --locked \
  --manifest-path packaging/pkgtool/Cargo.toml
pkgtool="$TARGET_DIR/pkgtool/release/sealbag-pkgtool"

pkg="$DIST/sealbag-$VERSION.pkg"
rm -f "$pkg"
files=(--file "$bin=bin/sealbag-mac")
for p in profiles/macos-*.toml; do
  files+=(--file "$p=share/sealbag/profiles/$(basename "$p")")
done
"$pkgtool" --identifier "$IDENTIFIER" --version "$VERSION" --install-location /usr/local \
  --title "sealbag $VERSION" "${files[@]}" --output "$pkg"
cp "$bin" "$DIST/sealbag-mac"
echo "$DIST/sealbag-mac $(wc -c <"$DIST/sealbag-mac") bytes" >&2
echo "$pkg $(wc -c <"$pkg") bytes" >&2
