#!/usr/bin/env bash
# XFS source throughput: a 2 GiB XFS image with 100 000 files (sizes 0-40 KiB,
# ~2 GB... capped by the image), read whole by the XFS source (files/s,
# bytes/s, via examples/xfs_walk.rs), against `cp -a` from a read-only loop
# mount of the same image. Page cache dropped before each run (cold reads of
# the image file either way). Needs root (loop mount, drop_caches) and xfsprogs.
#   bash bench/xfs.sh [WORKDIR]
set -euo pipefail
work=${1:-$(mktemp -d)}
here=$(cd "$(dirname "$0")/.." && pwd)
image=$work/bench-xfs.img
mnt=$work/mnt
mkdir -p "$mnt"
if [ ! -f "$image" ]; then
    truncate -s 2G "$image"
    mkfs.xfs -q -f "$image"
    mount -o loop "$image" "$mnt"
    python3 - "$mnt" <<'PY'
import os, sys, random
root = sys.argv[1]
rng = random.Random(42)
for d in range(200):
    os.makedirs(f"{root}/d{d:03}", exist_ok=True)
    for f in range(500):
        size = min(int(rng.expovariate(1 / 12000)), 200_000)
        with open(f"{root}/d{d:03}/f{f:04}", "wb") as out:
            out.write(rng.randbytes(size))
PY
    umount "$mnt"
fi
cargo build --release --quiet -p sealbag-linux --example xfs_walk --bin sealbag-linux --manifest-path "$here/Cargo.toml"
target=${CARGO_TARGET_DIR:-$here/target}
sync; echo 3 > /proc/sys/vm/drop_caches
echo "sealbag XFS source:"; "$target/release/examples/xfs_walk" "$image"
# The whole pipeline: every file of the image through the engine (hash,
# manifest, zstd, tar; no age, so the figure is the reader and the engine).
cat > "$work/all.toml" <<'TOML'
name = "everything"
description = "every file of the volume"
[[target]]
name = "all"
paths = ["/**"]
TOML
sync; echo 3 > /proc/sys/vm/drop_caches
start=$(date +%s.%N)
"$target/release/sealbag-linux" collect --image "$image" -p "$work/all.toml" --no-encrypt -o - 2>/dev/null >"$work/out.tar.zst" || true
end=$(date +%s.%N)
files=$(zstd -dc "$work/out.tar.zst" | tar -t 2>/dev/null | grep -c '^files/' || true)
awk -v f="$files" -v b="$(wc -c <"$image")" -v s="$(echo "$end - $start" | bc)" 'BEGIN { printf "sealbag-linux collect --image (hash, zstd, tar; no age): entries=%d seconds=%.2f entries_per_s=%.0f\n", f, s, f / s }'
rm -f "$work/out.tar.zst"
mount -o ro,norecovery,loop "$image" "$mnt"
rm -rf "$work/copy"
sync; echo 3 > /proc/sys/vm/drop_caches
start=$(date +%s.%N)
cp -a "$mnt/." "$work/copy"
end=$(date +%s.%N)
files=$(find "$work/copy" -type f | wc -l); bytes=$(du -sb "$work/copy" | cut -f1)
umount "$mnt"; rm -rf "$work/copy"
awk -v f="$files" -v b="$bytes" -v s="$(echo "$end - $start" | bc)" 'BEGIN { printf "cp -a from a loop mount: files=%d bytes=%d seconds=%.2f files_per_s=%.0f MB_per_s=%.1f\n", f, b, s, f / s, b / s / 1e6 }'
