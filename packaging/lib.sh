# Sourced by the packaging scripts: where things are and what version this is.
#   ROOT     the repository
#   VERSION  [workspace.package] version of Cargo.toml (the one source of it)
#   SEALBAG_GIT_COMMIT  exported, so common/build.rs embeds it in every binary
#   DIST     where artifacts go ($DIST, default $CARGO_TARGET_DIR/dist or target/dist)
#   TARGET_DIR  cargo's target dir
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
[ -n "$VERSION" ] || { echo "error: no [workspace.package] version in $ROOT/Cargo.toml" >&2; exit 2; }
if [ -z "${SEALBAG_GIT_COMMIT:-}" ]; then
  SEALBAG_GIT_COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
fi
export SEALBAG_GIT_COMMIT
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DIST=${DIST:-$TARGET_DIR/dist}
mkdir -p "$DIST" && DIST=$(cd "$DIST" && pwd)

# loud MESSAGE: say something the reader must not miss (a skip, a missing tool).
loud() { printf '\n!!!!! %s\n\n' "$*" >&2; }

# apt_install PACKAGE...: installs what is missing (root or sudo), quietly.
apt_install() {
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} (apt)" >&2
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; } || return 1
}
