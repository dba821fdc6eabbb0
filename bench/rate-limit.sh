#!/usr/bin/env bash
# Benchmark: does `--rate-limit MB/s` hold? Collects one incompressible file
# at several limits and prints the achieved read rate beside the limit.
#
#   bash bench/rate-limit.sh [SIZE_MB]        (default: 200 MB)
#
# Achieved rate = file bytes / wall time of the whole run (start-up, sealing
# and the final flush included, so it reads slightly under the limit). The
# target is to stay within 10 % of the limit. Needs GNU time (`apt-get install time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
work=$(mktemp -d /tmp/sealbag-rate.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -p sealbag-linux >&2
bin=${CARGO_TARGET_DIR:-target}/release/sealbag-linux
mkdir -p "$work/root/d"
head -c "$((size_mb * 1000 * 1000))" /dev/urandom > "$work/root/d/blob"
cat "$work/root/d/blob" > /dev/null
printf 'name = "rate"\n[[target]]\nname = "blob"\npaths = ["/d/blob"]\n' > "$work/profile.toml"
bytes=$((size_mb * 1000 * 1000))

printf '| %-10s | %10s | %14s | %9s |\n' "limit" "wall" "achieved" "deviation"
printf '|%s|%s|%s|%s|\n' "------------" "------------" "----------------" "-----------"
for limit in none 100 40 10; do
  rm -f "$work/out"
  flag=()
  [ "$limit" = none ] || flag=(--rate-limit "$limit")
  /usr/bin/time -f '%e' -o "$work/time.txt" "$bin" collect --root "$work/root" -p "$work/profile.toml" \
    --no-encrypt -q -o "$work/out" "${flag[@]}" >/dev/null 2>&1
  secs=$(cat "$work/time.txt")
  achieved=$(python3 -c "print(f'{$bytes/1e6/max($secs,0.001):.1f}')")
  if [ "$limit" = none ]; then dev="-"; else dev=$(python3 -c "print(f'{($bytes/1e6/max($secs,0.001))/$limit*100-100:+.1f} %')"); fi
  printf '| %-10s | %8.2f s | %9s MB/s | %9s |\n' "$limit" "$secs" "$achieved" "$dev"
done
