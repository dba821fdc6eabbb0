#!/bin/sh
# Side-scan throughput: files/s and bytes/s reading a big ext4 image with
# `sealbag-linux collect --image` (user space, no mount), against
# `debugfs -R rdump` (e2fsprogs, user space) and `cp -a` from a read-only
# loop mount (`ro,noload`; needs root, skipped otherwise).
#
#   bash bench/image.sh            # builds the release binary and the fixture
#
# The image is tools/sealbag-linux/tests/fixtures/make-ext4.sh's `big` one
# (about 24 000 files, 110 MB of data). Output: one line per reader.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --locked -p sealbag-linux --manifest-path "$here/Cargo.toml" >&2
bin="${CARGO_TARGET_DIR:-$here/target}/release/sealbag-linux"
sh "$here/tools/sealbag-linux/tests/fixtures/make-ext4.sh" "$work" big >/dev/null
img="$work/big.ext4"
cat > "$work/all.toml" <<'TOML'
name = "everything"
description = "every file of the volume"
[[target]]
name = "all"
paths = ["/**"]
TOML
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
report() { # name seconds files bytes
    awk -v n="$1" -v s="$2" -v f="$3" -v b="$4" 'BEGIN { printf "%-28s %8.2f s %10.0f files/s %8.1f MB/s\n", n, s, f / s, b / s / 1e6 }'
}
now() { date +%s.%N; }
t0=$(now)
"$bin" collect --image "$img" --no-encrypt -q -p "$work/all.toml" -o "$work/out.tar.zst" >"$work/summary.json"
t1=$(now)
files=$(sed 's/.*"ok":\([0-9]*\).*/\1/' "$work/summary.json")
bytes=$(sed 's/.*"bytes":\([0-9]*\),"error".*/\1/' "$work/summary.json")
report "sealbag-linux --image" "$(echo "$t1 - $t0" | bc)" "$files" "$bytes"
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
mkdir "$work/rdump"
t0=$(now)
debugfs -R "rdump / $work/rdump" "$img" >/dev/null 2>&1
t1=$(now)
report "debugfs rdump" "$(echo "$t1 - $t0" | bc)" "$files" "$bytes"
mkdir "$work/mnt" "$work/cp"
if mount -o ro,loop,noload "$img" "$work/mnt" 2>/dev/null; then
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now)
    cp -a "$work/mnt/." "$work/cp/"
    t1=$(now)
    report "cp -a from a loop mount" "$(echo "$t1 - $t0" | bc)" "$files" "$bytes"
else
    echo "cp -a from a loop mount: skipped (needs root and loop devices)"
fi
