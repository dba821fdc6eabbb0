#!/usr/bin/env bash
# Benchmark of sealbag-mac's unified-log parse and of a `--root` collection
# of the macOS fixture, on the corpus samples (../shared/corpus/macos).
#
#   bash bench/unifiedlog.sh [REPEAT]        (default: 100 parses)
#
# 1. entries per second of `parse = "unifiedlog"`: the corpus tracev3,
#    timesync and uuidtext files laid out as on a Mac, parsed REPEAT times in
#    one process (the samples hold 8 659 entries, too few to time once), the
#    JSON lines built but not written; peak RSS from GNU time.
# 2. wall time of `sealbag-mac collect --root` of the fixture tree (corpus
#    macos/tree plus the unified logs) with `macos-triage`, and of the
#    unified logs alone with `parse = "unifiedlog"`; unencrypted, to scratch. Needs GNU time (Debian: `apt-get install time`).
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-100}
corpus=${SEALBAG_CORPUS:-../shared/corpus}/macos
[ -d "$corpus/unifiedlog" ] || { echo "no corpus at $corpus" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install time" >&2; exit 2; }
work=$(mktemp -d /tmp/sealbag-ulbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -p sealbag-mac --bins --example unifiedlog-parse >&2
target=${CARGO_TARGET_DIR:-target}
bin=$target/release

root="$work/root"
cp -r "$corpus/tree" "$root"
chmod -R u+w "$root"
db="$root/private/var/db"
mkdir -p "$db/diagnostics/Persist" "$db/diagnostics/Special" "$db/diagnostics/timesync" "$db/uuidtext"
cp "$corpus/unifiedlog/0000000000000030.tracev3" "$db/diagnostics/Persist/"
cp "$corpus/unifiedlog/0000000000000f85.tracev3" "$db/diagnostics/Special/"
cp "$corpus/unifiedlog/timesync/0000000000000002.timesync" "$db/diagnostics/timesync/"
cp -r "$corpus/unifiedlog/uuidtext/." "$db/uuidtext/"
chmod -R u+w "$root"

echo "== unified-log parse, $repeat times over the corpus samples"
/usr/bin/time -f "peak RSS %M KiB" "$bin/examples/unifiedlog-parse" "$db" --repeat "$repeat" --quiet 2>&1 | grep -E "FIGURE|peak RSS"

# The raw triage, and the unified logs alone with the parse (a target of an
# included profile that took the files first would leave this one nothing).
cat > "$work/ul.toml" <<'TOML'
name = "unified-logs-parsed"
os = "macos"
[[target]]
name = "unified logs parsed"
paths = ["/private/var/db/diagnostics/**", "/private/var/db/uuidtext/**"]
parse = "unifiedlog"
TOML

for spec in macos-triage "$work/ul.toml"; do
  out="$work/out-$RANDOM.tar.zst"
  echo "== sealbag-mac collect --root (fixture) --profile $(basename "$spec")"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$bin/sealbag-mac" collect --no-encrypt --profile "$spec" \
    -o "$out" --root "$root" 2>&1 >/dev/null | grep -E "^(wall|sealed)"
  rm -f "$out"
done
