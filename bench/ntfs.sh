#!/usr/bin/env bash
# Benchmark: sealbag-win reading an NTFS image raw, against The Sleuth Kit
# (`fls -r` to list, `icat` per file, `tsk_recover -a` for everything).
#
#   sudo bash bench/ntfs.sh [FILES] [IMAGE_MIB]     (defaults: 100000, 2048)
#
# Builds (once, in the work dir; never committed) an NTFS image with mkntfs
# and fills it through the ntfs-3g FUSE driver: a Windows-like tree that the
# default profile `windows-triage` takes (hives, user hives, the corpus event
# logs, Prefetch, a $UsnJrnl-less volume otherwise), plus FILES small files
# under /data and a few large random files making the image about IMAGE_MIB
# full. Then, hot cache, prints wall time and peak RSS of:
#   1. `sealbag-win collect --image` with the default profile;
#   2. `fls -r -p` + one `icat` per file the default profile took;
#   3. `sealbag-win collect --image` with a profile taking every file;
#   4. `fls -r -p` + `tsk_recover -a` (every allocated file, one process), and
#      `icat` per file on a sample of 500 files, extrapolated to all;
#   5. the MFT enumeration rate (`examples/mft-rate.rs`: records parsed per second);
#   6. the evtx parse overhead: the event logs collected with and without
#      `parse = "evtx"` (each run 5 times, best time kept).
# Needs root and /dev/fuse (for the ntfs-3g mount), and: ntfs-3g, sleuthkit,
# zstd, age, GNU time (Debian: `apt-get install ntfs-3g sleuthkit zstd age time`).
# Set BENCH_DIR to reuse a work dir (the image is kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-100000}
image_mib=${2:-2048}
work=${BENCH_DIR:-$(mktemp -d /tmp/sealbag-ntfs-bench.XXXXXX)}
img="$work/bench.raw"
corpus_evtx=${CORPUS_EVTX:-../shared/corpus/evtx}
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install time" >&2; exit 2; }
for tool in mkntfs ntfs-3g fls icat tsk_recover age; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install ntfs-3g sleuthkit age)" >&2; exit 2; }
done

if [ ! -f "$img" ]; then
  echo "building a $image_mib MiB NTFS image with $files small files in $img" >&2
  mnt="$work/mnt"
  mkdir -p "$mnt"
  truncate -s "${image_mib}M" "$img.tmp"
  mkntfs -F -q -Q -c 4096 -L bench "$img.tmp" >/dev/null 2>&1
  ntfs-3g -o streams_interface=windows,big_writes "$img.tmp" "$mnt"
  trap 'umount "$mnt" 2>/dev/null || true' EXIT
  python3 - "$mnt" "$files" "$image_mib" "$corpus_evtx" <<'PY'
import os, random, shutil, sys
root, n, image_mib, evtx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(42)
def put(path, size=None, data=None):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        if data is not None:
            f.write(data)
        else:
            left = size
            while left:
                chunk = min(left, 1 << 20)
                f.write(rnd.randbytes(chunk))
                left -= chunk
total = 0
# What windows-triage takes.
for hive, mib in [("SAM", 1), ("SECURITY", 1), ("SOFTWARE", 64), ("SYSTEM", 16), ("DEFAULT", 1)]:
    put(f"Windows/System32/config/{hive}", mib << 20); total += mib << 20
    put(f"Windows/System32/config/{hive}.LOG1", 256 << 10); total += 256 << 10
for u in range(5):
    put(f"Users/user{u}/NTUSER.DAT", 4 << 20); total += 4 << 20
    put(f"Users/user{u}/AppData/Local/Microsoft/Windows/UsrClass.dat", 1 << 20); total += 1 << 20
    put(f"Users/user{u}/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt", data=b"Get-Process\r\n" * 200)
    for k in range(20):
        put(f"Users/user{u}/AppData/Roaming/Microsoft/Windows/Recent/doc{k}.lnk", 2048)
for k in range(200):
    put(f"Windows/Prefetch/APP{k:03d}.EXE-{k:08X}.pf", 16 << 10); total += 16 << 10
put("Windows/System32/drivers/etc/hosts", data=b"127.0.0.1 localhost\r\n")
if os.path.isdir(evtx):
    logs = os.path.join(root, "Windows/System32/winevt/Logs")
    os.makedirs(logs, exist_ok=True)
    for name in sorted(os.listdir(evtx)):
        if name.endswith(".evtx"):
            shutil.copyfile(os.path.join(evtx, name), os.path.join(logs, name))
else:
    print(f"warning: no corpus at {evtx}; no event logs in the image", file=sys.stderr)
# FILES small files, 100 per directory, 1-8 KiB of text.
words = b"svchost explorer update telemetry cache index session token user policy".split()
for i in range(n):
    d = f"data/d{i // 100:04d}"
    if i % 100 == 0:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    body = b" ".join(rnd.choice(words) for _ in range(rnd.randrange(150, 1200)))
    with open(os.path.join(root, d, f"f{i:06d}.txt"), "wb") as f:
        f.write(body)
    total += len(body)
# Large random files up to ~85% of the image.
left = image_mib * (1 << 20) * 85 // 100 - total - n * 1024
k = 0
while left > (16 << 20):
    size = min(left, 256 << 20)
    put(f"ProgramData/blobs/blob{k}.bin", size)
    left -= size; k += 1
PY
  umount "$mnt"
  trap - EXIT
  mv "$img.tmp" "$img"
fi

cargo build --release --locked -p sealbag -p sealbag-win --bins --example mft-rate >&2
target=${CARGO_TARGET_DIR:-target}
bin=$target/release

[ -f "$work/key.txt" ] || $bin/sealbag keygen -o "$work/key.txt" >/dev/null 2>&1
key=$($bin/sealbag keygen -y "$work/key.txt")
printf 'name = "bench-all"\nos = "windows"\n[[target]]\nname = "all"\npaths = ["/**"]\n' > "$work/all.toml"
printf 'name = "bench-evtx-raw"\nos = "windows"\n[[target]]\nname = "logs"\npaths = ["/Windows/System32/winevt/Logs/*.evtx"]\n' > "$work/evtx-raw.toml"
printf 'name = "bench-evtx-parse"\nos = "windows"\n[[target]]\nname = "logs"\npaths = ["/Windows/System32/winevt/Logs/*.evtx"]\nparse = "evtx"\n' > "$work/evtx-parse.toml"
cat "$img" > /dev/null   # hot cache

measure() { # name command...
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.txt" bash -c "$*" >/dev/null 2>"$work/err.txt" || {
    # sealbag exits 1 when some files are partial or in error: still a timing.
    [ "$(tail -c 200 "$work/err.txt" | grep -c 'Command exited with non-zero status 1')" = 1 ] || { cat "$work/err.txt" >&2; return 1; }
  }
  read -r secs rss_kib < <(tail -n 1 "$work/time.txt")
  printf '| %-58s | %9.2f s | %8.1f MiB |\n' "$name" "$secs" "$(python3 -c "print($rss_kib/1024)")"
  echo "$secs" > "$work/last.txt"
}

echo
echo "image: $(du -h --apparent-size "$img" | cut -f1) NTFS (4 KiB clusters), $(fls -r -p "$img" | grep -c '^r/r') files and streams (fls); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo
echo '| run                                                        |        wall |    peak RSS |'
echo '|------------------------------------------------------------|-------------|-------------|'
rm -f "$work"/out*
measure "sealbag-win collect --image (windows-triage)" \
  "$bin/sealbag-win collect -q --image '$img' -r $key -o '$work/out-default.tar.zst.age'"
# The same files with TSK: the inode of each file the manifest lists as collected.
age -d -i "$work/key.txt" "$work/out-default.tar.zst.age" | zstd -d -q | tar -xO sealbag/manifest.jsonl > "$work/default-manifest.jsonl"
python3 - "$work/default-manifest.jsonl" > "$work/default-inodes.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "file" and r.get("archive_path") and r.get("inode") is not None and "ntfs_stream" not in r:
        print(r["inode"])
PY
default_files=$(wc -l < "$work/default-inodes.txt")
measure "fls -r -p + icat for the same $default_files files" \
  "fls -r -p '$img' > '$work/fls.txt' && while read -r i; do icat '$img' \$i; done < '$work/default-inodes.txt' > '$work/out-icat.bin'"
rm -f "$work"/out*
measure "sealbag-win collect --image (every file)" \
  "$bin/sealbag-win collect -q --image '$img' -p '$work/all.toml' -r $key -o '$work/out-all.tar.zst.age'"
rm -f "$work"/out*
rm -rf "$work/recover"
measure "fls -r -p + tsk_recover -a (every allocated file)" \
  "fls -r -p '$img' > '$work/fls.txt' && tsk_recover -a '$img' '$work/recover'"
rm -rf "$work/recover"
all_files=$(grep -c '^r/r [0-9]*-128-[0-9]*:' "$work/fls.txt" || true)
grep '^r/r [0-9]*-128-[0-9]*:	data/' "$work/fls.txt" | awk '{print $2}' | tr -d ':' | awk 'NR % 200 == 1' | head -n 500 > "$work/sample.txt"
measure "icat, 500 of the /data files" \
  "while read -r a; do icat '$img' \$a; done < '$work/sample.txt' > /dev/null"
sample_secs=$(cat "$work/last.txt")
printf '| %-58s | %9.0f s | %11s |\n' "icat per file, all $all_files \$DATA streams (extrapolated)" \
  "$(python3 -c "print($sample_secs / 500 * $all_files)")" ""
echo
echo "MFT enumeration: $($target/release/examples/mft-rate "$img")"
echo
best() { # profile
  local b=999999
  for _ in 1 2 3 4 5; do
    rm -f "$work"/out*
    /usr/bin/time -f '%e' -o "$work/t.txt" "$bin/sealbag-win" collect -q --image "$img" -p "$1" -r "$key" -o "$work/out.tar.zst.age" >/dev/null 2>&1 || true
    b=$(python3 -c "print(min($b, float(open('$work/t.txt').read().split()[-1])))")
  done
  echo "$b"
}
evtx_bytes=$(du -cb "$corpus_evtx"/*.evtx 2>/dev/null | tail -n1 | cut -f1)
raw=$(best "$work/evtx-raw.toml")
parsed=$(best "$work/evtx-parse.toml")
echo "evtx: $(ls "$corpus_evtx"/*.evtx 2>/dev/null | wc -l) logs, $evtx_bytes bytes: copy only ${raw} s, copy + parse ${parsed} s (best of 5 each)"
echo
echo "(work dir: $work; remove it when done)"
