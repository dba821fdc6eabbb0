#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), JOBS at a time
# (default 1), and prints one line per target: runs, coverage, corpus size,
# and whether it found a crash. Crash inputs land in fuzz/artifacts/<target>/;
# turn each into a regression test before fixing it (see fuzz/README.md).
#   bash fuzz/run-all.sh [SECONDS] [JOBS] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain, or
# RUSTC_BOOTSTRAP=1 with stable. CARGO_TARGET_DIR is honoured.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}; jobs=${2:-1}; shift 2 2>/dev/null || shift $#
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
tdir=${CARGO_TARGET_DIR:-target}
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --target-dir "$tdir" >&2 || exit 1
mkdir -p logs
# Seeds: real volumes and files, so the fuzzers start deep inside each format.
# (The corpus folders are not committed; they are rebuilt here.)
seed() { # target file-producing-command...
  local t=$1; shift
  mkdir -p "corpus/$t"
  [ -n "$(ls -A "corpus/$t" 2>/dev/null)" ] || "$@" >"corpus/$t/seed" 2>/dev/null || rm -f "corpus/$t/seed"
}
fx=../tools/sealbag-linux/tests/fixtures
seed ext4_source sh -c "zstd -dc $fx/small-gpt.raw.zst | tail -c +1048577"
seed xfs_source sh -c "zstd -dc $fx/xfs-v5.img.zst | head -c 1048576"
seed partition_table sh -c "zstd -dc $fx/small-gpt.raw.zst | head -c 65536"
apfs_gz=$(ls ../target/tmp/dissect-apfs-*/dissect_apfs-*/tests/_data/case_sensitive.bin.gz 2>/dev/null | head -1)
[ -z "$apfs_gz" ] || seed apfs gzip -dc "$apfs_gz"
corpus=../../shared/corpus
if [ -d "$corpus" ]; then
  mkdir -p corpus/evtx corpus/plist
  for f in "$corpus"/evtx/*.evtx; do [ "$(wc -c <"$f")" -le 200000 ] && cp -n "$f" corpus/evtx/; done
  find "$corpus/macos" -name '*.plist' -size -64k -exec cp -n {} corpus/plist/ \;
fi
mkdir -p corpus/profile
cp -n ../profiles/*.toml corpus/profile/ 2>/dev/null || true
run_one() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  cargo fuzz run -O --target-dir "$tdir" "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -timeout=25 -detect_leaks=0 -print_final_stats=1 >"logs/$t.log" 2>&1
  local rc=$?
  local runs cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | grep -o '[0-9]*')
  printf '%-16s %6ss  runs=%-10s cov=%-6s corpus=%-6s %s\n' "$t" "$secs" "${runs:-?}" "${cov:-?}" \
    "$(ls "corpus/$t" | wc -l)" "$([ $rc -eq 0 ] && echo ok || echo "FOUND (rc=$rc, see fuzz/logs/$t.log, fuzz/artifacts/$t/)")"
}
i=0
for t in "${targets[@]}"; do
  run_one "$t" &
  i=$((i + 1))
  if [ $((i % jobs)) -eq 0 ]; then wait; fi
done
wait
