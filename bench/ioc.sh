#!/usr/bin/env bash
# Benchmark of hunting while collecting (issue 9): what indicator matching
# and sweeps cost, side by side in one run, hot cache.
#
#   bash bench/ioc.sh [SIZE_MIB] [SWEEP_FILES]     (defaults: 1024 MiB, 100000;
#                                                   or SIZE_MIB=… SWEEP_FILES=… in the
#                                                   environment, to fit a small machine)
#   RUNS=N (default 3: the best run is shown)
#   BENCH_YARA=1 bash bench/ioc.sh                 (also: a build with `--features yara`
#                                                   and a sweep with 300 generated rules)
#   SEALBAG_LINUX=path                             (a binary already built, e.g. by
#                                                   packaging/linux/build-static.sh [--yara];
#                                                   with BENCH_YARA=1 it must have the feature)
#   BENCH_DIR=dir                                  (keep the trees there between runs)
#
# 1. Collection of the bench tree (the one of bench/run.sh: four large
#    random files and 20 000 small logs): without indicators; with 100 000
#    SHA-256 indicators (one of which hits); with 100 000 MD5 indicators
#    added (MD5 is then computed for every file); with SHA-1 as well.
# 2. A sweep of a tree of SWEEP_FILES small files (1-8 KiB) with the
#    100 000 SHA-256 list, and with YARA rules when BENCH_YARA=1: 300 rules
#    generated below in the style of public rule sets (YARA's documentation,
#    Neo23x0/signature-base): text strings (`ascii wide nocase`), hex
#    strings with wildcards and jumps, a regular expression now and then,
#    conditions on the MZ/ELF header, `filesize`, `N of ($s*)` and counts.
#    One planted file matches one rule.
# Needs: python3, zstd, GNU tar and GNU time (Debian: `apt-get install time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-${SIZE_MIB:-1024}}
sweep_files=${2:-${SWEEP_FILES:-100000}}
work=${BENCH_DIR:-$(mktemp -d /tmp/sealbag-bench.XXXXXX)}
tree="$work/tree"
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install time" >&2; exit 2; }
features=()
[ "${BENCH_YARA:-0}" = 1 ] && features=(--features sealbag-linux/yara)
if [ -n "${SEALBAG_LINUX:-}" ]; then
  exe=$SEALBAG_LINUX
else
  cargo build --release --locked -p sealbag-linux "${features[@]}" >&2
  exe=${CARGO_TARGET_DIR:-target}/release/sealbag-linux
fi

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
  # The one file a generated rule matches (rule bench_implant below).
  printf 'MZ\x90\x00 padding BENCH-IMPLANT-7f3a c2.bench.invalid \xde\xad\xbe\xef\x13\x37' \
    > "$tree/sweep/d000/implant.exe"
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
# Hot cache: every run reads the same pages.
find "$tree/data" "$tree/sweep" -type f -exec cat {} + > /dev/null

if [ "${BENCH_YARA:-0}" = 1 ]; then
  python3 - "$work/rules.yar" <<'PY'
import random, sys
rnd = random.Random(3)
def word(lo=8, hi=16):
    return ''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz_.') for _ in range(rnd.randrange(lo, hi)))
def hexstr(n):
    parts = []
    for i in range(n):
        r = rnd.random()
        if 0 < i < n - 1 and r < 0.1:
            parts.append('??')
        elif 0 < i < n - 1 and r < 0.15:
            parts.append(f'[{rnd.randrange(1, 3)}-{rnd.randrange(3, 6)}]')
        else:
            parts.append(f'{rnd.randrange(256):02X}')
    return ' '.join(parts)
with open(sys.argv[1], "w") as f:
    for i in range(300):
        style = i % 6
        s = [f'        $s{k} = "{word()}" ascii wide' + (' nocase' if k == 0 else '') for k in range(rnd.randrange(2, 6))]
        x = [f'        $x{k} = {{ {hexstr(rnd.randrange(8, 16))} }}' for k in range(rnd.randrange(1, 3))]
        if style == 5:
            x.append(f'        $re = /{word(6, 8)}[0-9]{{2,4}}\\.(exe|dll|ps1)/ nocase')
        cond = [
            'uint16(0) == 0x5A4D and filesize < 2MB and (1 of ($x*) or 2 of ($s*))',
            'uint32(0) == 0x464C457F and (any of ($x*) or all of ($s*))',
            'all of ($s*) or all of ($x*)',
            '#s0 > 2 and (any of ($x*) or all of ($s*))',
            'filesize < 500KB and 2 of them',
            'any of them',
        ][style]
        f.write(f'rule bench_{i:03d} : bench style{style}\n{{\n    meta:\n        description = "generated benchmark rule {i}"\n        author = "bench/ioc.sh"\n    strings:\n' + '\n'.join(s + x) + f'\n    condition:\n        {cond}\n}}\n\n')
    f.write('rule bench_implant : bench implant\n{\n    strings:\n        $a = "BENCH-IMPLANT-7f3a"\n        $b = "c2.bench.invalid" ascii wide\n        $c = { DE AD BE EF 13 37 }\n    condition:\n        uint16(0) == 0x5A4D and 2 of them\n}\n')
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

# What the last run found (a check that the run did what its row says).
found() {
  zstd -dc "$work/out.tar.zst" | tar xO sealbag/hunt.json | python3 -c '
import json, sys
d = json.load(sys.stdin); c = d["counts"]
print("|   found: %d hit(s); %d files checked, %d scanned with %d YARA rules; computed %s" % (c["hits"], c["files_checked"], c["yara_scanned"], d.get("yara", {}).get("rules", 0), "+".join(d["computed"])))'
}

c="$exe collect -q --root '$tree' --no-encrypt -o '$work/out.tar.zst'"
echo
echo "trees: $(python3 -c "print(round($bytes/1048576))") MiB in $(find "$tree/data" -type f | wc -l) files; sweep $(python3 -c "print(round($sweep_bytes/1048576))") MiB in $(find "$tree/sweep" -type f | wc -l) files; $(nproc) CPUs; $(grep -o -m1 -w sha_ni /proc/cpuinfo || echo no-sha_ni); $(date -u +%FT%TZ); best of ${RUNS:-3}"
echo
echo '| run                                                  |     wall |    throughput |  peak RSS |'
echo '|------------------------------------------------------|----------|---------------|-----------|'
measure "collect, no indicators" "$bytes" "$c -p '$work/profile.toml'"
measure "collect, 100k SHA-256 indicators" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt'"
measure "collect, 100k SHA-256 + 100k MD5 (MD5 computed)" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt'"
measure "collect, + 100k SHA-1 (MD5 and SHA-1 computed)" "$bytes" "$c -p '$work/profile.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt' --ioc '$work/sha1.txt'"
found
measure "sweep $sweep_files files, 100k SHA-256" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --sweep /sweep"
measure "sweep $sweep_files files, 100k SHA-256 + MD5" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --ioc '$work/md5.txt' --sweep /sweep"
found
if [ "${BENCH_YARA:-0}" = 1 ]; then
  measure "sweep $sweep_files files, 100k SHA-256 + 300 YARA rules" "$sweep_bytes" "$c -p '$work/profile-sweep.toml' --ioc '$work/sha256.txt' --yara '$work/rules.yar' --sweep /sweep"
  found
fi
echo
echo "binary: $(stat -c %s "$exe") bytes ($exe${features:+, ${features[*]}})"
