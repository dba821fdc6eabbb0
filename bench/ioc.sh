#!/usr/bin/env bash
# Benchmark of hunting while collecting (issue 9): what indicator matching
# and sweeps cost, side by side in one run, hot cache.
#
#   bash bench/ioc.sh [SIZE_MIB] [SWEEP_FILES]     (defaults: 1024 MiB, 100000)
#   RUNS=N (default 3: the best run is shown)
#   BENCH_YARA=1 bash bench/ioc.sh                 (also: a build with `--features yara`
#                                                   and a sweep with 300 generated rules)
#
# 1. Collection of the bench tree (the one of bench/run.sh: four large
#    random files and 20 000 small logs): without indicators; with 100 000
#    SHA-256 indicators (one of which hits); with 100 000 MD5 indicators
#    added (MD5 is then computed for every file); with SHA-1 as well.
# 2. A sweep of a tree of SWEEP_FILES small files (1-8 KiB) with the
#    100 000 SHA-256 list, and with YARA rules when BENCH_YARA=1.
# Needs: python3, GNU time (Debian: `apt-get install time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
sweep_files=${2:-100000}
work=${BENCH_DIR:-$(mktemp -d /tmp/sealbag-bench.XXXXXX)}
tree="$work/tree"
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install time" >&2; exit 2; }
features=()
[ "${BENCH_YARA:-0}" = 1 ] && features=(--features sealbag-linux/yara)
cargo build --release --locked -p sealbag-linux "${features[@]}" >&2
bin=${CARGO_TARGET_DIR:-target}/release

if [ ! -d "$tree/data" ]; then
  echo "generating $size_mib MiB tree in $tree" >&2
  mkdir -p "$tree/data/big" "$tree/data/logs"
  small=20000
  big_mib=$(( size_mib - small * 2 / 1024 ))
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
if [ ! -d "$tree/sweep" ]; then
  echo "generating $sweep_files small files in $tree/sweep" >&2
  python3 - "$tree/sweep" "$sweep_files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(rnd.randbytes(rnd.randrange(1024, 8192)))
PY
fi

# Indicator lists: 100 000 of each kind that match nothing, plus one real file.
hit=$(ls "$tree"/data/logs/d000/log00000.log)
python3 - "$work" <<'PY'
import hashlib, sys
work = sys.argv[1]
for kind in ("sha256", "md5", "sha1"):
    with open(f"{work}/{kind}.txt", "w") as f:
        for i in range(100000):
            f.write(hashlib.new(kind, f"bench {i}".encode()).hexdigest() + f"  nothing {i}\n")
PY
sha256sum "$hit" >> "$work/sha256.txt"
md5sum "$hit" >> "$work/md5.txt"
printf 'name = "bench"\n[[target]]\nname = "all"\npaths = ["/data/**"]\n' > "$work/profile.toml"
printf 'name = "bench-sweep"\n' > "$work/profile-sweep.toml"
bytes=$(du -sb "$tree/data" | cut -f1)
sweep_bytes=$(du -sb "$tree/sweep" | cut -f1)
cat $(find "$tree/data" "$tree/sweep" -type f) > /dev/null

if [ "${BENCH_YARA:-0}" = 1 ]; then
  python3 - "$work/rules.yar" <<'PY'
import random, sys
rnd = random.Random(3)
with open(sys.argv[1], "w") as f:
    for i in range(300):
        words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randrange(8, 16))) for _ in range(3)]
        hexs = ' '.join(f'{rnd.randrange(256):02X}' for _ in range(12))
        f.write(f'rule bench_{i} : bench {{\n  strings:\n    $a = "{words[0]}" ascii wide nocase\n    $b = "{words[1]}"\n    $c = {{ {hexs} }}\n  condition:\n    any of them or (uint16(0) == 0x5A4D and $c)\n}}\n')
PY
fi

measure() { # name bytes command...
  local name=$1 n=$2; shift 2
  local best=""
  for _ in $(seq 1 "${RUNS:-3}"); do
    rm -f "$work"/out*
    /usr/bin/time -f '%e %M' -o "$work/time.txt" bash -c "$*" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; return 1; }
    read -r secs rss_kib < "$work/time.txt"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $secs < $best else 1)"; then best=$secs; best_rss=$rss_kib; fi
  done
  printf '| %-52s | %8.2f s | %9.1f MiB/s | %7.1f MiB |\n' "$name" "$best" \
    "$(python3 -c "print($n/1048576/max($best,0.001))")" "$(python3 -c "print($best_rss/1024)")"
}

c="$bin/sealbag-linux collect -q --root '$tree' --no-encrypt -o '$work/out.tar.zst'"
echo
echo "trees: $(python3 -c "print(round($bytes/1048576))") MiB in $(find "$tree/data" -type f | wc -l) files; sweep $(python3 -c "print(round($sweep_bytes/1048576))") MiB in $(find "$tree/sweep" -type f | wc -l) files; $(nproc) CPUs; $(grep -o -m1 -w sha_ni /proc/cpuinfo || echo no-sha_ni); $(date -u +%FT%TZ); best of ${RUNS:-3}"
echo
echo '| run                                                  |     wall |    throughput |  peak RSS |'
echo '|------------------------------------------------------|----------|---------------|-----------|'
measure "collect, no indicators" "$bytes" "$c -p '$work/profile.toml'"
measure "collect, 100k SHA-256 indicators" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt'"
measure "collect, 100k SHA-256 + 100k MD5 (MD5 computed)" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt'"
measure "collect, + 100k SHA-1 (MD5 and SHA-1 computed)" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt' --ioc '$work/sha1.txt'"
measure "sweep $sweep_files files, 100k SHA-256" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --sweep /sweep"
measure "sweep $sweep_files files, 100k SHA-256 + MD5" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt' --sweep /sweep"
if [ "${BENCH_YARA:-0}" = 1 ]; then
  measure "sweep $sweep_files files, 100k SHA-256 + 300 YARA rules" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --yara '$work/rules.yar' --sweep /sweep"
fi
echo
echo "binary: $(stat -c %s "$bin/sealbag-linux") bytes ($bin/sealbag-linux${features:+, ${features[*]}})"
