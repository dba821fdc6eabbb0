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

# objc2 (through ctrlc → dispatch2) asks the linker for libobjc, which zig
# does not ship without Apple's SDK: a text stub (.tbd) stands in for it. The
# binary then loads the real /usr/lib/libobjc.A.dylib on the Mac.
stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
cat >"$stubs/libobjc.tbd" <<'TBD'
--- !tapi-tbd
tbd-version: 4
targets: [ x86_64-macos, arm64-macos ]
install-name: '/usr/lib/libobjc.A.dylib'
exports:
  - targets: [ x86_64-macos, arm64-macos ]
    symbols: [ _objc_msgSend, _objc_retain, _objc_release, _objc_autorelease,
               _objc_retainAutoreleasedReturnValue, _objc_autoreleaseReturnValue,
               _objc_getClass, _sel_registerName, _objc_retainBlock,
               _objc_autoreleasePoolPush, _objc_autoreleasePoolPop,
               __NSConcreteStackBlock, __NSConcreteGlobalBlock, __Block_copy, __Block_release ]
...
TBD
export RUSTFLAGS="${RUSTFLAGS:-} -L native=$stubs"

cargo zigbuild --release --locked -p sealbag-mac --target universal2-apple-darwin
bin="$TARGET_DIR/universal2-apple-darwin/release/sealbag-mac"

# The packaging helper: its own workspace and lock file, never shipped.
CARGO_TARGET_DIR="$TARGET_DIR/pkgtool" cargo build --release --locked \
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
