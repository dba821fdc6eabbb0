#!/bin/sh
# Builds a fully static sealbag-linux for x86_64 (musl): one file to copy
# onto a suspect host, with no dependency on its (possibly tampered) libc.
#
# Needs: rustup target x86_64-unknown-linux-musl, and musl-gcc (Debian
# package musl-tools) for zstd's C code. Checks that the result has no
# dynamic section (`readelf -d` says "There is no dynamic section").
#
# Usage: packaging/linux/build-static.sh [--yara]   (from anywhere in the repository)
#   --yara   with the cargo feature `yara` (YARA rules via yara-x, which adds
#            a WebAssembly runtime: see the README for the size), copied to
#            sealbag-linux-yara beside the plain binary
set -eu

features=""
suffix=""
case "${1:-}" in
    "") ;;
    --yara) features="--features yara"; suffix="-yara" ;;
    *) echo "error: unknown option $1 (only --yara)" >&2; exit 2 ;;
esac

TARGET=x86_64-unknown-linux-musl
cd "$(dirname "$0")/../.."

if ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "adding the $TARGET target (rustup target add $TARGET)" >&2
    rustup target add "$TARGET"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
    echo "error: musl-gcc not found" >&2
    echo "hint: apt-get install musl-tools" >&2
    exit 2
fi

# zstd-sys compiles C: point cc-rs at musl-gcc for this target. Static CRT,
# and a non-PIE executable: Rust's musl default is static-pie, which keeps a
# dynamic section (for self-relocation) although it loads no library;
# `relocation-model=static` gives a plain static executable with none.
export CC_x86_64_unknown_linux_musl=musl-gcc
export CFLAGS_x86_64_unknown_linux_musl="-fno-pie"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static"
# shellcheck disable=SC2086 # $features is empty or two words
cargo build --release --locked -p sealbag-linux --target "$TARGET" $features

# Absolute, so callers may use it from any directory (rpmbuild runs %install elsewhere).
out="$(realpath "${CARGO_TARGET_DIR:-target}")/$TARGET/release/sealbag-linux"
if [ -n "$suffix" ]; then
    cp "$out" "$out$suffix"
    out="$out$suffix"
fi
if readelf -d "$out" 2>&1 | grep -q "There is no dynamic section"; then
    echo "static: $out has no dynamic section" >&2
else
    echo "error: $out has a dynamic section:" >&2
    readelf -d "$out" >&2
    exit 1
fi
file "$out" 2>/dev/null >&2 || true
echo "size: $(wc -c <"$out") bytes" >&2
echo "$out"
