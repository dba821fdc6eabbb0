#!/usr/bin/env bash
# Builds every installer (build-all.sh) and checks each with independent
# tools: the .msi with msiinfo/msiextract, the .pkg with bsdtar, the .deb
# with dpkg-deb, the static binary with readelf, the tarball with tar and
# sha256sum, the Windows .exe under Wine (--version and a collect --image of
# the NTFS fixture, read back with age, zstd and tar) where Wine exists.
# Installs its apt needs. A check that cannot run is SKIPPED loudly; under
# CI=true a skipped required check fails (Wine is optional).
# Usage: packaging/test.sh [linux|windows|macos]...   (default: all)
#        SKIP_BUILD=1 DIST=dir packaging/test.sh ...  (check artifacts built elsewhere)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

apt_install wixl msitools libarchive-tools binutils cpio dpkg gcc-mingw-w64-x86-64 musl-tools \
  rpm age zstd tar file python3 || loud "apt could not install every test need"
if ! command -v wine >/dev/null && ! command -v wine64 >/dev/null; then
  apt_install wine64 || loud "wine64 unavailable: the .exe will not be started"
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux windows macos)
want() { local t; for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

passed=0 failed=0 skipped=0 required_skipped=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
skip() { loud "SKIPPED: $*"; skipped=$((skipped + 1)); }
skip_required() { skip "$@"; required_skipped=$((required_skipped + 1)); }
# check NAME COMMAND...: passes when COMMAND exits 0.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expected_version="$VERSION (commit $SEALBAG_GIT_COMMIT)"

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  echo "SKIP_BUILD=1: checking what is already in $DIST" >&2
else
  ALLOW_SKIP=1 bash packaging/build-all.sh "${targets[@]}"
fi
echo "== checks"

# --- Linux --------------------------------------------------------------
if want linux; then
  bin="$DIST/sealbag-linux"
  deb="$DIST/sealbag-linux_${VERSION}_amd64.deb"
  tgz="$DIST/sealbag-$VERSION-linux-x86_64.tar.gz"
  if [ -f "$bin" ] && [ -f "$deb" ] && [ -f "$tgz" ]; then
    check "static binary has no dynamic section (readelf -d)" \
      sh -c "readelf -d '$bin' 2>&1 | grep -q 'There is no dynamic section'"
    check "sealbag-linux --version = '$expected_version'" \
      test "$("$bin" --version)" = "sealbag-linux $expected_version"
    info=$(dpkg-deb -f "$deb" Package Version Architecture)
    check ".deb control: sealbag-linux $VERSION amd64" \
      test "$info" = "$(printf 'Package: sealbag-linux\nVersion: %s\nArchitecture: amd64' "$VERSION")"
    listing=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}')
    check ".deb lists /usr/bin/sealbag-linux 0755 root/root" \
      grep -qx -- '-rwxr-xr-x root/root ./usr/bin/sealbag-linux' <<<"$listing"
    for p in profiles/linux-*.toml; do
      check ".deb lists $(basename "$p")" grep -q "./usr/share/sealbag/profiles/$(basename "$p")$" <<<"$listing"
    done
    mkdir "$work/deb" && dpkg-deb -x "$deb" "$work/deb"
    check ".deb binary byte-identical to the built one" cmp -s "$bin" "$work/deb/usr/bin/sealbag-linux"
    mkdir "$work/tgz" && tar -xzf "$tgz" -C "$work/tgz"
    top="$work/tgz/sealbag-$VERSION-linux-x86_64"
    check "tarball SHA256SUMS verify (sha256sum -c)" sh -c "cd '$top' && sha256sum --quiet -c SHA256SUMS"
    check "tarball binary byte-identical to the built one" cmp -s "$bin" "$top/sealbag-linux"
    rpm="$DIST/sealbag-linux-$VERSION-1.x86_64.rpm"
    if [ -f "$rpm" ] && command -v rpm >/dev/null; then
      check ".rpm header: sealbag-linux $VERSION x86_64" \
        test "$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$rpm" 2>/dev/null)" = "sealbag-linux $VERSION x86_64"
      check ".rpm requires nothing but rpmlib features (static binary)" \
        sh -c "! rpm -qp --requires '$rpm' 2>/dev/null | grep -v '^rpmlib('"
      mkdir "$work/rpm" && (cd "$work/rpm" && rpm2cpio "$rpm" | cpio -idm --quiet)
      check ".rpm binary byte-identical to the built one" cmp -s "$bin" "$work/rpm/usr/bin/sealbag-linux"
    else
      skip "no .rpm (rpmbuild not installed)"
    fi
  else
    skip_required "linux artifacts not built"
  fi
fi

# --- Windows ------------------------------------------------------------
if want windows; then
  exe="$DIST/sealbag-win.exe"
  msi="$DIST/sealbag-$VERSION-x64.msi"
  if [ -f "$exe" ] && [ -f "$msi" ]; then
    tables=$(msiinfo tables "$msi")
    for t in File Component Directory Feature Property Upgrade Media; do
      check "msi has table $t" grep -qx "$t" <<<"$tables"
    done
    # msiinfo exports with CRLF line ends.
    table() { msiinfo export "$msi" "$1" 2>/dev/null | tr -d '\r'; }
    prop() { table Property | awk -F'\t' -v k="$1" '$1 == k {print $2}'; }
    check "msi ProductVersion = $VERSION" test "$(prop ProductVersion)" = "$VERSION"
    check "msi UpgradeCode is the fixed one" test "$(prop UpgradeCode)" = "{044A1082-ED57-40F2-98ED-6210EE45F710}"
    check "msi per-machine (ALLUSERS=1)" test "$(prop ALLUSERS)" = "1"
    check "msi 64-bit package (Template x64)" sh -c "msiinfo suminfo '$msi' | grep -qx 'Template: x64;1033'"
    check "msi installs under ProgramFiles64Folder\\sealbag" \
      sh -c "msiinfo export '$msi' Directory | tr -d '\\r' | grep -qP '^INSTALLDIR\tProgramFiles64Folder\tsealbag$'"
    check "msi upgrade row removes older versions" \
      sh -c "msiinfo export '$msi' Upgrade | tr -d '\\r' | grep -qP '^\{044A1082-ED57-40F2-98ED-6210EE45F710\}\t\t$VERSION\t\t1\t\tWIX_UPGRADE_DETECTED$'"
    for t in ServiceInstall ServiceControl Registry Shortcut; do
      rows=$(table "$t" | tail -n +4 | wc -l)
      check "msi has no $t rows (no service, no auto-start)" test "$rows" = 0
    done
    files=$(table File | tail -n +4 | awk -F'\t' '{print $3, $4}' | sort)
    want_files=$( { echo "sealbag-win.exe $(wc -c <"$exe")"
                    for p in profiles/windows-*.toml; do echo "$(basename "$p") $(wc -c <"$p")"; done; } | sort)
    check "msi File table: names and sizes" test "$files" = "$want_files"
    mkdir "$work/msi" && msiextract -C "$work/msi" "$msi" >/dev/null
    check "msi payload exe byte-identical to the built one" cmp -s "$exe" "$work/msi/sealbag/sealbag-win.exe"
    for p in profiles/windows-*.toml; do
      check "msi payload profiles/$(basename "$p") identical" cmp -s "$p" "$work/msi/sealbag/profiles/$(basename "$p")"
    done
    check "sealbag-win.exe embeds '$expected_version'" grep -qaF "$expected_version" "$exe"

    wine=$(command -v wine64 || command -v wine || true)
    if [ -n "$wine" ]; then
      w="$work/wine"; mkdir -p "$w/x"
      export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n,b"
      cp "$exe" "$w/"
      bash packaging/windows/wine/make-stub.sh "$w"
      out=$(cd "$w" && "$wine" sealbag-win.exe --version 2>/dev/null | tr -d '\r')
      check "wine: sealbag-win.exe --version = '$expected_version'" test "$out" = "sealbag-win $expected_version"
      zstd -q -d tools/sealbag-win/tests/fixtures/fixture1.raw.zst -o "$w/fixture1.raw"
      age-keygen -o "$w/key.txt" 2>/dev/null
      pub=$(sed -n 's/^# public key: //p' "$w/key.txt")
      (cd "$w" && "$wine" sealbag-win.exe -q collect --image fixture1.raw --recipient "$pub" --output out.tar.zst.age >/dev/null 2>"$w/collect.err")
      rc=$?
      check "wine: collect --image fixture1.raw exits 0" test "$rc" = 0
      [ "$rc" = 0 ] || sed -n 1,20p "$w/collect.err"
      age -d -i "$w/key.txt" "$w/out.tar.zst.age" 2>/dev/null | zstd -q -d | tar -x -C "$w/x" 2>/dev/null
      r="$w/x/files/fixture1"
      check "wine: hosts read back (age, zstd, tar) = fixture bytes" \
        test "$(cat "$r/Windows/System32/drivers/etc/hosts" 2>/dev/null)" = "127.0.0.1 localhost"
      check "wine: Zone.Identifier stream = fixture bytes" \
        test "$(cat "$r/Users/alice/Downloads/setup.exe:Zone.Identifier" 2>/dev/null | od -An -c | tr -d ' \n')" \
             = "$(printf '[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://example.invalid/setup.exe\r\n' | od -An -c | tr -d ' \n')"
      check "wine: manifest (sealbag/manifest.jsonl) present" test -s "$w/x/sealbag/manifest.jsonl"
      # The registry policy key, read with the real advapi32 calls (Wine's registry).
      key='HKLM\SOFTWARE\Policies\sealbag'
      "$wine" reg add "$key" /v case /t REG_SZ /d IR-WINE /f >/dev/null 2>&1
      "$wine" reg add "$key" /v recipients /t REG_MULTI_SZ /d "$pub" /f >/dev/null 2>&1
      "$wine" reg add "$key" /v low_priority /t REG_DWORD /d 1 /f >/dev/null 2>&1
      show=$(cd "$w" && "$wine" sealbag-win.exe config show 2>&1 | tr -d '\r')
      for line in 'case = "IR-WINE"' "recipients = [\"$pub\"]" 'low_priority = true'; do
        check "wine: config show takes '$line' from $key" \
          grep -qF "$line" <<<"$(grep -F "# $key" <<<"$show")"
      done
      "$wine" reg add "$key" /v no_encrypt /t REG_DWORD /d 1 /f >/dev/null 2>&1
      (cd "$w" && "$wine" sealbag-win.exe collect --image fixture1.raw --output refused.age >/dev/null 2>"$w/refused.err")
      rc=$?
      check "wine: no_encrypt in the policy key is refused (exit 2, nothing written)" \
        sh -c "test $rc = 2 && ! test -e '$w/refused.age' && grep -q 'no_encrypt' '$w/refused.err'"
    else
      skip "wine not available: sealbag-win.exe not started (optional)"
    fi
  else
    skip_required "windows artifacts not built"
  fi
fi

# --- macOS --------------------------------------------------------------
if want macos; then
  mac="$DIST/sealbag-mac"
  pkg="$DIST/sealbag-$VERSION.pkg"
  if [ -f "$mac" ] && [ -f "$pkg" ]; then
    check "sealbag-mac is universal: arm64 + x86_64 (fat Mach-O header)" python3 - "$mac" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read(4096)
magic, n = struct.unpack(">II", data[:8])
cpus = sorted(struct.unpack(">I", data[8 + 20 * i: 12 + 20 * i])[0] for i in range(n))
sys.exit(0 if magic == 0xCAFEBABE and cpus == [0x01000007, 0x0100000C] else 1)
PY
    check "sealbag-mac embeds '$expected_version'" grep -qaF "$expected_version" "$mac"
    listing=$(bsdtar -tf "$pkg")
    for e in Distribution sealbag.pkg/PackageInfo sealbag.pkg/Bom sealbag.pkg/Payload; do
      check "pkg (xar) lists $e" grep -qx "$e" <<<"$listing"
    done
    mkdir -p "$work/pkg/payload" && bsdtar -xf "$pkg" -C "$work/pkg"
    check "pkg Payload is gzip" sh -c "head -c2 '$work/pkg/sealbag.pkg/Payload' | od -An -tx1 | grep -q '1f 8b'"
    gzip -dc "$work/pkg/sealbag.pkg/Payload" | (cd "$work/pkg/payload" && bsdtar -xf -)
    check "pkg payload bin/sealbag-mac byte-identical to the built one" cmp -s "$mac" "$work/pkg/payload/bin/sealbag-mac"
    for p in profiles/macos-*.toml; do
      check "pkg payload share/sealbag/profiles/$(basename "$p") identical" \
        cmp -s "$p" "$work/pkg/payload/share/sealbag/profiles/$(basename "$p")"
    done
    check "pkg PackageInfo: identifier, version, install-location" python3 - "$work/pkg/sealbag.pkg/PackageInfo" "$VERSION" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ok = (root.tag == "pkg-info" and root.get("identifier") == "org.sealbag.sealbag"
      and root.get("version") == sys.argv[2] and root.get("install-location") == "/usr/local")
sys.exit(0 if ok else 1)
PY
    check "pkg Distribution references the component" \
      grep -q 'pkg-ref id="org.sealbag.sealbag"' "$work/pkg/Distribution"
  else
    skip_required "macOS artifacts not built"
  fi
fi

if [ -f "$DIST/SHA256SUMS" ]; then
  check "SHA256SUMS verify (sha256sum -c)" sh -c "cd '$DIST' && sha256sum --quiet -c SHA256SUMS"
fi

echo "== artifact sizes (bytes)"
(cd "$DIST" && for f in $(ls); do printf '%12d  %s\n' "$(wc -c <"$f")" "$f"; done)
echo "packaging: $passed passed, $failed failed, $skipped skipped"
# Exit: 0 all ran and passed; 1 a check failed (or, under CI=true, a
# required artifact could not be built); 3 some required artifact could not
# be built here (SKIPPED above), everything that ran passed.
[ "$failed" = 0 ] || exit 1
if [ "$required_skipped" -gt 0 ]; then
  [ "${CI:-}" = true ] && { echo "error: required checks skipped under CI=true" >&2; exit 1; }
  exit 3
fi
