#!/usr/bin/env bash
# Upload figures: the same collection of a generated incompressible tree
# written to a local file, and streamed to a local S3 server (moto_server on
# 127.0.0.1) as a multipart upload. Prints wall time, throughput and peak RSS
# (GNU time) for each.
#
#   bash bench/upload.sh [SIZE_MIB]          (default 256)
#   BIN=target/release bash bench/upload.sh  (default: builds release)
#
# Needs: moto_server (`pip install 'moto[server]'`), boto3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
work=$(mktemp -d /tmp/sealbag-upload-bench.XXXXXX)
trap 'kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p sealbag -p sealbag-linux >&2
  BIN=target/release
fi
linux=${LINUX_BIN:-$BIN/sealbag-linux}
sealbag=${SEALBAG_BIN:-$BIN/sealbag}

mkdir -p "$work/tree/data"
for i in 1 2 3 4; do head -c "$((size_mib / 4 * 1024 * 1024))" /dev/urandom > "$work/tree/data/blob$i.bin"; done
printf 'name = "bench"\ndescription = "upload bench"\n[[target]]\nname = "all"\npaths = ["/data"]\n' > "$work/profile.toml"
public=$("$sealbag" keygen -o "$work/key.txt")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.2; done
python3 -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t').create_bucket(Bucket='bench')"

run() { # label, args…
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$linux" collect --root "$work/tree" --profile "$work/profile.toml" -r "$public" -q "$@" >/dev/null
  read -r secs rss_kib < "$work/time"
  python3 -c "print(f'{\"$label\":<22} {$secs:>7.2f} s  {$size_mib/$secs:>7.1f} MiB/s  peak RSS {$rss_kib/1024:>6.1f} MiB')"
}
echo "collection of $size_mib MiB (incompressible), $(nproc) CPUs"
run "local file" -o "$work/out.age"
AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t AWS_EC2_METADATA_DISABLED=true \
  run "S3 upload (moto)" -o "s3://bench/out.age" --s3-endpoint "http://127.0.0.1:$port" --s3-region us-east-1
