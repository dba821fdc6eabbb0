#!/usr/bin/env bash
# Packages the static sealbag-linux (built by build-static.sh beside this)
# into $DIST:
#   sealbag-linux                                the static binary
#   sealbag-<version>-linux-x86_64.tar.gz        binary, profiles, SHA256SUMS
#   sealbag-linux_<version>_amd64.deb            /usr/bin/sealbag-linux,
#                                                /usr/share/sealbag/profiles/
#   sealbag-linux-<version>-1.x86_64.rpm         the same files (when rpmbuild exists)
#   sealbag-linux-yara                           only with SEALBAG_YARA=1: the static
#                                                binary with YARA rules (`--yara`), larger
# Needs: what build-static.sh needs, and dpkg-deb; rpmbuild (Debian `rpm`) optional.
# Usage: packaging/linux/package.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

bin=$(bash packaging/linux/build-static.sh)
# Reproducible archives: times from the commit, owners root.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

name="sealbag-$VERSION-linux-x86_64"
mkdir -p "$stage/$name/profiles"
install -m 0755 "$bin" "$stage/$name/sealbag-linux"
install -m 0644 profiles/linux-*.toml "$stage/$name/profiles/"
(cd "$stage/$name" && sha256sum sealbag-linux profiles/*.toml >SHA256SUMS)
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz"

deb="$stage/deb"
mkdir -p "$deb/DEBIAN" "$deb/usr/bin" "$deb/usr/share/sealbag/profiles" "$deb/usr/share/doc/sealbag-linux"
install -m 0755 "$bin" "$deb/usr/bin/sealbag-linux"
install -m 0644 profiles/linux-*.toml "$deb/usr/share/sealbag/profiles/"
printf 'sealbag-linux %s (commit %s)\nLicense: MIT OR Apache-2.0\n' "$VERSION" "$SEALBAG_GIT_COMMIT" \
  >"$deb/usr/share/doc/sealbag-linux/copyright"
cat >"$deb/DEBIAN/control" <<CONTROL
Package: sealbag-linux
Version: $VERSION
Architecture: amd64
Maintainer: sealbag <sealbag@example.invalid>
Section: admin
Priority: optional
Installed-Size: $(du -sk "$deb/usr" | cut -f1)
Homepage: https://example.invalid/sealbag
Description: forensic triage collector (sealed archives)
 Collects what a TOML profile names from this host into one
 tar, zstd, age archive with a SHA-256 manifest. Static binary: no
 dependency on the host's libc. Installs no service; nothing runs until
 a responder or a policy starts it.
CONTROL
find "$deb" -exec touch -h -d "@$epoch" {} +
deb_out="$DIST/sealbag-linux_${VERSION}_amd64.deb"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$deb" "$deb_out" >/dev/null

outputs=("$DIST/sealbag-linux" "$DIST/$name.tar.gz" "$deb_out")
if command -v rpmbuild >/dev/null; then
  # The same tree as the .deb, packed by rpmbuild from a prebuilt binary.
  top="$stage/rpm"
  mkdir -p "$top/SPECS"
  cat >"$top/SPECS/sealbag-linux.spec" <<SPEC
Name: sealbag-linux
Version: $VERSION
Release: 1
Summary: forensic triage collector (sealed archives)
License: MIT OR Apache-2.0
URL: https://example.invalid/sealbag
ExclusiveArch: x86_64
AutoReqProv: no
%global debug_package %{nil}
%global __os_install_post %{nil}
%description
Collects what a TOML profile names from this host into one tar, zstd, age
archive with a SHA-256 manifest. Static binary; no service.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/sealbag/profiles
install -m 0755 $bin %{buildroot}/usr/bin/sealbag-linux
install -m 0644 $ROOT/profiles/linux-*.toml %{buildroot}/usr/share/sealbag/profiles/
%files
%attr(0755,root,root) /usr/bin/sealbag-linux
%attr(0644,root,root) /usr/share/sealbag/profiles/*.toml
SPEC
  SOURCE_DATE_EPOCH=$epoch rpmbuild --quiet -bb --define "_topdir $top" \
    --define "use_source_date_epoch_as_buildtime 1" "$top/SPECS/sealbag-linux.spec" >/dev/null
  cp "$top/RPMS/x86_64/sealbag-linux-$VERSION-1.x86_64.rpm" "$DIST/"
  outputs+=("$DIST/sealbag-linux-$VERSION-1.x86_64.rpm")
else
  loud "no rpmbuild (Debian package rpm): no .rpm"
fi

cp "$bin" "$DIST/sealbag-linux"
if [ "${SEALBAG_YARA:-0}" = 1 ]; then
  # Last: building it rebuilds the collector with other features.
  yara_bin=$(bash packaging/linux/build-static.sh --yara)
  cp "$yara_bin" "$DIST/sealbag-linux-yara"
  outputs+=("$DIST/sealbag-linux-yara")
fi
for f in "${outputs[@]}"; do
  echo "$f $(wc -c <"$f") bytes" >&2
done
