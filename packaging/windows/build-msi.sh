#!/usr/bin/env bash
# Builds sealbag-win.exe (x86_64-pc-windows-gnu, mingw-w64) and the .msi
# (packaging/windows/sealbag.wxs, Debian's `wixl`) into $DIST:
#   sealbag-win.exe, sealbag-<version>-x64.msi
# Needs: rustup target x86_64-pc-windows-gnu (added here), apt
# gcc-mingw-w64-x86-64 and wixl (installed here when missing).
# Usage: packaging/windows/build-msi.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

TARGET=x86_64-pc-windows-gnu
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
command -v x86_64-w64-mingw32-gcc >/dev/null && command -v wixl >/dev/null \
  || apt_install gcc-mingw-w64-x86-64 wixl msitools

# crt-static: libgcc and winpthreads linked in, so the .exe needs only
# Windows' own DLLs (checked below).
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C target-feature=+crt-static"
cargo build --release --locked -p sealbag-win --target "$TARGET"
exe="$TARGET_DIR/$TARGET/release/sealbag-win.exe"

dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
for d in $dlls; do
  case "$d" in
    kernel32.dll|ntdll.dll|advapi32.dll|bcrypt.dll|bcryptprimitives.dll|ws2_32.dll|userenv.dll|msvcrt.dll|ole32.dll|oleaut32.dll|shell32.dll|user32.dll|api-ms-win-*) ;;
    *) echo "error: $exe needs $d, which Windows does not ship" >&2; exit 1 ;;
  esac
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/profiles"
cp "$exe" "$stage/sealbag-win.exe"
cp profiles/windows-*.toml "$stage/profiles/"
cp packaging/windows/sealbag.wxs "$stage/"
msi="sealbag-$VERSION-x64.msi"
(cd "$stage" && wixl --arch x64 -D Version="$VERSION" -o "$msi" sealbag.wxs)
cp "$exe" "$DIST/sealbag-win.exe"
cp "$stage/$msi" "$DIST/$msi"
echo "$DIST/sealbag-win.exe $(wc -c <"$DIST/sealbag-win.exe") bytes" >&2
echo "$DIST/$msi $(wc -c <"$DIST/$msi") bytes" >&2
