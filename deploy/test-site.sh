#!/usr/bin/env bash
# Runs deploy/site.yml for real against this machine (-i localhost, -c local), as CI does, and
# checks from the play recap that a second run changes nothing. Then:
#   - vagrant/provision.sh, run after it for the same student, changes nothing either: the
#     playbook and the script install the same files, byte for byte;
#   - provision.sh takes the login lines of its earlier versions out of ~/.bash_profile;
#   - with nslab_url (a release asset from python3's http.server on 127.0.0.1) the playbook
#     downloads nslab, changes nothing the second time, and refuses an asset whose checksum
#     does not match SHA256SUMS.
#
# The release runs take their settings from an inventory file, which proves that the inventory's
# variables reach the playbook.
#
#   test-site.sh     (run as root after make static; it creates the account "student")
set -euo pipefail
cd "$(dirname "$0")/.."
student=student
static=target/x86_64-unknown-linux-gnu/release/nslab
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "test-site: FAIL: $*" >&2
  exit 1
}

# site NAME ARGS...: runs the playbook, its output in $work/NAME and its time on stderr;
# prints the recap's changed count, or fails when the recap has a failure.
site() {
  local name=$1 line start ms
  shift
  start=$(date +%s%N)
  ansible-playbook "$@" deploy/site.yml >"$work/$name" 2>&1 || true
  ms=$((($(date +%s%N) - start) / 1000000))
  printf 'site.yml (%s): %d.%d s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) >&2
  line=$(grep -E '^localhost +: ok=' "$work/$name") || { echo "$name: no play recap" >&2; return 1; }
  if ! [[ $line =~ unreachable=0\ +failed=0 ]]; then
    echo "$name: $line" >&2
    return 1
  fi
  [[ $line =~ changed=([0-9]+) ]]
  echo "${BASH_REMATCH[1]}"
}

echo "== site.yml, pushing make static's binary, twice"
here=(-i "localhost," -c local -e ansible_python_interpreter=/usr/bin/python3)
site push1 "${here[@]}" >/dev/null || { cat "$work/push1" >&2; fail "the first run failed"; }
changed=$(site push2 "${here[@]}")
[ "$changed" -eq 0 ] || { grep -B3 "^changed:" "$work/push2" >&2; fail "the second run reported changed=$changed"; }
cmp -s /usr/local/bin/nslab "$static" || fail "the installed nslab is not make static's"
id "$student" >/dev/null || fail "no account $student"

echo "== provision.sh after it changes nothing"
out=$(NSLAB_STUDENT=$student bash vagrant/provision.sh "$PWD")
[ "$out" = "provision: nothing changed" ] || fail "provision.sh and site.yml install different files: $out"

echo "== provision.sh takes the old login lines out of ~/.bash_profile"
home=$(getent passwd "$student" | cut -d: -f6)
old_lines() {
  # shellcheck disable=SC2016 # the lines as earlier versions wrote them
  printf '%s\n' '# nslab: open the lesson session on login' \
    'if [ -n "${SSH_TTY:-}" ] && [ -z "${TMUX:-}" ] && command -v nslab-session >/dev/null; then exec nslab-session; fi' \
    '[ -f ~/.bashrc ] && . ~/.bashrc'
}
old_lines >"$home/.bash_profile"
said=$(NSLAB_STUDENT=$student bash vagrant/provision.sh "$PWD") || fail "provision.sh failed"
grep -q "the old login lines removed" <<<"$said" || fail "nothing said"
[ ! -e "$home/.bash_profile" ] || fail "a ~/.bash_profile with only nslab's lines was kept"
{ echo 'export EDITOR=vi'; old_lines; } >"$home/.bash_profile"
NSLAB_STUDENT=$student bash vagrant/provision.sh "$PWD" >/dev/null
[ "$(cat "$home/.bash_profile")" = "export EDITOR=vi" ] || fail "the student's own ~/.bash_profile lines were not kept"
rm "$home/.bash_profile"

echo "== site.yml with a release asset over HTTP, twice; a wrong checksum installs nothing"
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
cat >"$work/inventory.ini" <<EOF
[students]
localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3
[students:vars]
nslab_student=$student
nslab_url=$url
EOF
rm /usr/local/bin/nslab
changed=$(site url1 -i "$work/inventory.ini")
[ "$changed" -eq 1 ] || fail "url1: changed=$changed, expected 1 (the binary)"
cmp -s /usr/local/bin/nslab "$static" || fail "url1: the installed nslab is not the asset"
changed=$(site url2 -i "$work/inventory.ini")
[ "$changed" -eq 0 ] || fail "url2: the second run reported changed=$changed"
printf 'x' >>"$work/release/nslab-x86_64-linux"
rm /usr/local/bin/nslab
if site badsum -i "$work/inventory.ini" >/dev/null 2>&1; then fail "an asset that does not match SHA256SUMS was accepted"; fi
grep -q "did not match" "$work/badsum" || fail "badsum: no word on the checksum"
[ ! -e /usr/local/bin/nslab ] || fail "badsum: the asset was installed"
install -m 0755 "$static" /usr/local/bin/nslab
echo "test-site: ok"
