#!/usr/bin/env bash
# Upload figures: the same collection of a generated incompressible tree
# written to a local file, streamed to a local S3 server (moto_server on
# 127.0.0.1) as a multipart upload, sent to it in one presigned PUT (held in
# memory), and streamed to Azurite (Azure's emulator) as blocks under a
# container SAS. Also: the S3 upload with `--fallback-output` (the local copy
# written alongside, then deleted), with `--split 64MiB` (one object per
# part), and `sealbag verify s3://…` reading the object back.
# Prints wall time, throughput and peak RSS (GNU time) for each.
#
#   bash bench/upload.sh [SIZE_MIB]          (default 256)
#   BIN=target/release bash bench/upload.sh  (default: builds release)
#
# Needs: moto_server (`pip install 'moto[server]'`), boto3, GNU time; for
# Azure, Node.js and npm (Azurite is installed into $CARGO_TARGET_DIR/tmp/azurite
# as the tests do; AZURITE=path/to/azurite-blob to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
work=$(mktemp -d /tmp/sealbag-upload-bench.XXXXXX)
trap 'kill "$moto_pid" ${azurite_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-target}
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p sealbag -p sealbag-linux >&2
  BIN=$target/release
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
export AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t AWS_EC2_METADATA_DISABLED=true
s3=(--s3-endpoint "http://127.0.0.1:$port" --s3-region us-east-1)
run "S3 upload (moto)" -o "s3://bench/out.age" "${s3[@]}"
mkdir -p "$work/fallback"
run "S3 + fallback copy" -o "s3://bench/fb.age" "${s3[@]}" --fallback-output "$work/fallback"
[ -z "$(ls -A "$work/fallback")" ] || { echo "fallback copy left behind" >&2; exit 1; }
run "S3 --split 64MiB" -o "s3://bench/split.age" "${s3[@]}" --split 64MiB
verify() { # label, target
  /usr/bin/time -f '%e %M' -o "$work/time" "$sealbag" verify -i "$work/key.txt" "$2" "${s3[@]}" >/dev/null 2>&1
  read -r secs rss_kib < "$work/time"
  python3 -c "print(f'{\"$1\":<22} {$secs:>7.2f} s  {$size_mib/$secs:>7.1f} MiB/s  peak RSS {$rss_kib/1024:>6.1f} MiB')"
}
verify "verify s3:// (GET)" "s3://bench/out.age"
verify "verify split index" "s3://bench/split.age.index.json"

put_url=$(python3 -c "
import boto3, botocore.client
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:$port', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t', config=botocore.client.Config(signature_version='s3v4'))
print(s3.generate_presigned_url('put_object', Params={'Bucket': 'bench', 'Key': 'put.age'}, ExpiresIn=3600))")
run "presigned PUT (moto)" -o "$put_url" --upload-buffer "$((size_mib + 64))MiB"

azurite=${AZURITE:-$target/tmp/azurite/node_modules/.bin/azurite-blob}
if [ ! -x "$azurite" ] && command -v npm >/dev/null; then
  npm install --no-audit --no-fund --silent --prefix "$target/tmp/azurite" azurite@3 >&2 || true
fi
if [ -x "$azurite" ]; then
  aport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$work" && exec "$azurite" --blobHost 127.0.0.1 --blobPort "$aport" --silent --disableTelemetry --inMemoryPersistence) >/dev/null 2>&1 &
  azurite_pid=$!
  for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$aport))" 2>/dev/null && break; sleep 0.2; done
  # Azurite's well-known devstoreaccount1 key; an account SAS creates the
  # container, a container SAS with `cw` only is the collector's grant.
  sas=$(python3 - "$aport" <<'PY'
import base64, hashlib, hmac, sys, time, urllib.parse, urllib.request
port = sys.argv[1]
key = base64.b64decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
se = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
q = lambda s: urllib.parse.quote(s, safe="")
sign = lambda text: q(base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode())
v = "2021-08-06"
account = "devstoreaccount1\nrwdlac\nb\nsco\n\n%s\n\n\n%s\n\n" % (se, v)
url = "http://127.0.0.1:%s/devstoreaccount1/bench?restype=container&sv=%s&ss=b&srt=sco&sp=rwdlac&se=%s&sig=%s" % (port, v, q(se), sign(account))
urllib.request.urlopen(urllib.request.Request(url, data=b"", method="PUT", headers={"x-ms-version": v}))
service = "\n".join(["cw", "", se, "/blob/devstoreaccount1/bench", "", "", "", v, "c", "", "", "", "", "", "", ""])
print("sv=%s&sr=c&sp=cw&se=%s&sig=%s" % (v, q(se), sign(service)))
PY
)
  run "Azure blocks (Azurite)" -o "http://127.0.0.1:$aport/devstoreaccount1/bench/out.age?$sas"
else
  echo "!!! Azure row skipped: no Azurite (Node.js and npm needed)" >&2
fi
