#!/usr/bin/env bash
# Benchmark: a sealbag collection of a generated tree against the stock
# pipelines on the same tree, hot cache, side by side in one run.
#
#   bash bench/run.sh [SIZE_MIB] [SMALL_FILES]     (defaults: 1024 MiB, 20000)
#
# The tree: a few large incompressible files (random bytes) making up most of
# SIZE_MIB, plus SMALL_FILES small log-like text files. Prints a table of wall
# time, throughput and peak RSS (GNU time's "Maximum resident set size"), and
# the peak RSS of collecting one 3 GiB file. Needs: age, zstd, tar, GNU time
# (Debian: `apt-get install age zstd tar time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
small=${2:-20000}
work=${BENCH_DIR:-$(mktemp -d /tmp/sealbag-bench.XXXXXX)}
tree="$work/tree"
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install time" >&2; exit 2; }

cargo build --release --locked -p sealbag -p sealbag-linux >&2
bin=${CARGO_TARGET_DIR:-target}/release

if [ ! -d "$tree" ]; then
  echo "generating $size_mib MiB tree with $small small files in $tree" >&2
  mkdir -p "$tree/data/big" "$tree/data/logs"
  small_total_kib=$(( small * 2 ))          # ~2 KiB each
  big_mib=$(( size_mib - small_total_kib / 1024 ))
  per=$(( big_mib / 4 ))
  for i in 1 2 3 4; do head -c "$((per * 1024 * 1024))" /dev/urandom > "$tree/data/big/blob$i.bin"; done
  python3 - "$tree/data/logs" "$small" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = "sshd accepted failed password for root from port session opened closed cron kernel audit".split()
for i in range(n):
    d = os.path.join(root, f"d{i // 500:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"log{i:05d}.log"), "w") as f:
        for _ in range(20):
            f.write(f"Nov 23 11:{rnd.randrange(60):02d}:{rnd.randrange(60):02d} host " + " ".join(rnd.choice(words) for _ in range(12)) + "\n")
PY
fi
printf 'name = "bench"\n[[target]]\nname = "all"\npaths = ["/data/**"]\n' > "$work/profile.toml"
printf 'name = "bench-small"\n[[target]]\nname = "logs"\npaths = ["/data/logs/**"]\n' > "$work/profile-small.toml"
[ -f "$work/key.txt" ] || $bin/sealbag keygen -o "$work/key.txt" >/dev/null 2>&1
key=$($bin/sealbag keygen -y "$work/key.txt")
bytes=$(du -sb "$tree/data" | cut -f1)
small_bytes=$(du -sb "$tree/data/logs" | cut -f1)
# Hot cache.
cat $(find "$tree/data" -type f) > /dev/null

measure() { # name bytes command...
  local name=$1 n=$2; shift 2
  rm -f "$work"/out*
  /usr/bin/time -f '%e %M' -o "$work/time.txt" bash -c "$*" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; return 1; }
  read -r secs rss_kib < "$work/time.txt"
  printf '| %-44s | %8.2f s | %9.1f MiB/s | %7.1f MiB |\n' "$name" "$secs" \
    "$(python3 -c "print($n/1048576/max($secs,0.001))")" "$(python3 -c "print($rss_kib/1024)")"
}

echo
echo "tree: $(python3 -c "print(round($bytes/1048576))") MiB in $(find "$tree/data" -type f | wc -l) files; $(nproc) CPUs; $(date -u +%FT%TZ)"
echo
echo '| pipeline                                     |     wall |    throughput |  peak RSS |'
echo '|----------------------------------------------|----------|---------------|-----------|'
measure "sealbag-linux collect (sha256+zstd-3+age)" "$bytes" \
  "$bin/sealbag-linux collect -q --root '$tree' -p '$work/profile.toml' -r $key -o '$work/out.tar.zst.age'"
# sealbag syncs its output to disk before it reports success (and writes its
# space reserve); the stock pipelines are given the same `sync` to be fair.
measure "tar -cf - | age -r KEY; sync" "$bytes" \
  "tar -C '$tree' -cf - data | age -r $key > '$work/out.tar.age'; sync"
measure "tar -cf - | zstd -3 -T0 | age -r KEY; sync" "$bytes" \
  "tar -C '$tree' -cf - data | zstd -3 -T0 -q | age -r $key > '$work/out.tar.zst.age'; sync"
# Other collectors on the same tree, where installed (see README, "Benchmarks").
# UAC: a release tarball unpacked anywhere, named by UAC_DIR (or `uac` on PATH).
# It copies the files into a temporary folder, hashes them (md5, sha1) and
# makes a tar.gz; it has no public-key encryption.
uac_dir=${UAC_DIR:-$(dirname "$(command -v uac 2>/dev/null || echo /nonexistent/uac)")}
if [ -x "$uac_dir/uac" ]; then
  printf 'version: 3.2\nartifacts:\n  -\n    description: the bench tree\n    supported_os: [all]\n    collector: file\n    path: /data\n    file_type: [f]\n' > "$work/bench-uac.yaml"
  measure "UAC $("$uac_dir/uac" -V 2>/dev/null | head -1 | awk '{print $NF}') (copy, md5+sha1, tar.gz)" "$bytes" \
    "rm -rf '$work/uac' && mkdir '$work/uac' && cd '$uac_dir' && ./uac -a '$work/bench-uac.yaml' -m '$tree' -H '$work/uac'; sync"
else
  echo "| UAC: not installed (set UAC_DIR)              |          |               |           |"
fi
# Fox-IT acquire (pip install acquire): OS file access (--force-fallback),
# gzip-compressed tar, no encryption (its encryption needs a certificate).
acquire=${ACQUIRE:-$(command -v acquire || true)}
if [ -n "$acquire" ] && [ -x "$acquire" ]; then
  measure "acquire $("$(dirname "$acquire")/pip" show acquire 2>/dev/null | awk '/^Version/ {print $2}') (--path, tar.gz)" "$bytes" \
    "rm -rf '$work/acq' && mkdir '$work/acq' && '$acquire' local -p none --volatile-profile none --path '$tree/data' -o '$work/acq' --compress --disable-report --force-fallback; sync"
else
  echo "| acquire: not installed (set ACQUIRE)          |          |               |           |"
fi
measure "sealbag-linux, 20k small files only" "$small_bytes" \
  "$bin/sealbag-linux collect -q --root '$tree' -p '$work/profile-small.toml' -r $key -o '$work/out.tar.zst.age'"
measure "tar -cf - (20k small files only) > file; sync" "$small_bytes" \
  "tar -C '$tree' -cf - data/logs > '$work/out.tar'; sync"

# Peak RSS while collecting one 3 GiB file (bounded memory, whatever the size).
mkdir -p "$work/one/data"
[ -f "$work/one/data/huge.bin" ] || head -c $((3 * 1024 * 1024 * 1024)) /dev/urandom > "$work/one/data/huge.bin"
measure "sealbag-linux, one 3 GiB file" "$((3 * 1024 * 1024 * 1024))" \
  "$bin/sealbag-linux collect -q --root '$work/one' -p '$work/profile.toml' -r $key -o '$work/out.tar.zst.age'"
echo
echo "(work dir: $work; remove it when done)"
