#!/usr/bin/env bash
# Tests vagrant/provision.sh for real on this machine (as root; the student's login skipped),
# through each way it gets nslab: a build from the source, the static binary of `make static`,
# and a release asset served by python3's http.server on 127.0.0.1, checked against SHA256SUMS.
# Each path runs twice, and the second run must change nothing.
#
#   test-provision.sh [--no-source-build]     (make static must have run before)
#
# --no-source-build skips the build from source (about a minute of compiling).
set -euo pipefail
cd "$(dirname "$0")/.."
static=target/x86_64-unknown-linux-gnu/release/nslab
installed=/usr/local/bin/nslab
[ -x "$static" ] || { echo "test-provision.sh: run make static first" >&2; exit 2; }
export NSLAB_NO_LOGIN=1

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "test-provision: FAIL: $*" >&2
  exit 1
}
# provision NAME ARGS...: runs provision.sh, its output kept in $work/NAME and shown.
provision() {
  local name=$1
  shift
  bash vagrant/provision.sh "$@" >"$work/$name" 2>&1 || { cat "$work/$name"; return 1; }
  cat "$work/$name"
}
unchanged() { grep -qx "provision: nothing changed" "$work/$1" || fail "$1: the second run changed something"; }

if [ "${1:-}" != --no-source-build ]; then
  echo "== build from source, twice"
  provision source1 --from-source "$PWD"
  provision source2 --from-source "$PWD"
  unchanged source2
fi

echo "== the static binary of make static, twice"
provision static1 "$PWD"
provision static2 "$PWD"
unchanged static2
cmp -s "$installed" "$static" || fail "the installed nslab is not the one make static built"

echo "== a stale static binary is refused (--no-build: fail rather than compile)"
mkdir -p "$work/tree/target/x86_64-unknown-linux-gnu/release"
cp -r Cargo.toml Cargo.lock src lessons examples vagrant "$work/tree/"
cp "$static" "$work/tree/$static"
touch -d '2000-01-01' "$work/tree/$static"
if provision stale "$work/tree" --no-build; then fail "a static binary older than its source was installed"; fi
grep -q "is newer (run make static)" "$work/stale" || fail "stale: no word on why the binary was refused"
sed -i 's/^version = ".*"/version = "0.0.0-other"/' "$work/tree/Cargo.toml"
touch "$work/tree/$static"
if provision version "$work/tree" --no-build; then fail "a static binary of another version was installed"; fi
grep -q "the source is 0.0.0-other (run make static)" "$work/version" || fail "version: no word on why"

echo "== a release asset over HTTP, checked against SHA256SUMS, twice"
mkdir "$work/release"
cp "$static" "$work/release/nslab-x86_64-linux"
(cd "$work/release" && sha256sum nslab-x86_64-linux >SHA256SUMS)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/release" "$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/SHA256SUMS" 2>/dev/null && break
  sleep 0.1
done
url=http://127.0.0.1:$port/nslab-x86_64-linux
rm -f "$installed"
provision url1 --url "$url" "$PWD"
grep -q "downloading $url" "$work/url1" || fail "url1: nothing was downloaded"
cmp -s "$installed" "$static" || fail "url1: the installed nslab is not the release asset"
provision url2 --url "$url" "$PWD"
unchanged url2

echo "== a wrong checksum installs nothing"
wrong=$(sha256sum <"$static" | cut -d' ' -f1 | tr 0-9a-f 1-9a-f0)
if provision badarg --url "$url" --sha256 "$wrong" "$PWD"; then
  fail "an asset that does not match --sha256 was installed"
fi
grep -q "checksum mismatch" "$work/badarg" || fail "badarg: no word on the checksum"
cmp -s "$installed" "$static" || fail "badarg: the installed nslab changed"
printf 'x' >>"$work/release/nslab-x86_64-linux"
rm -f "$installed"
if provision badsum --url "$url" "$PWD"; then fail "an asset that does not match SHA256SUMS was installed"; fi
grep -q "checksum mismatch" "$work/badsum" || fail "badsum: no word on the checksum"
[ ! -e "$installed" ] || fail "badsum: a refused download was installed"
provision static3 "$PWD" >/dev/null
echo "test-provision: ok"
