#!/usr/bin/env bash
# Tests deploy/class.yml against this machine (-i localhost, -c local), with stand-ins for nslab
# on the "student machine" and on the control machine: each machine's `nslab list --format json`
# lands byte for byte in CLASS_DIR/HOST.json, run as the user whose progress it is, and
# `nslab class report CLASS_DIR` runs on the control machine. Then, where the installed nslab
# has both commands, the same with the real one.
#
#   test-class.sh STUDENT     (a user that deploy/site.yml made; run as root, as CI does)
set -euo pipefail
cd "$(dirname "$0")/.."
student=${1:?usage: test-class.sh STUDENT}
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "test-class: FAIL: $*" >&2
  exit 1
}

# The student machine's nslab: JSON whose spacing and numbers a re-encoding would change.
cat >"$work/nslab" <<'EOF'
#!/bin/sh
[ "$*" = "list --format json" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
printf '{"user": "%s",  "lessons": [{"id": "veth-lab", "step": 3, "score": 2.50}]}\n' "$(id -un)"
EOF
# The control machine's nslab: says what it was asked to report on.
cat >"$work/nslab-local" <<'EOF'
#!/bin/sh
[ "$1 $2" = "class report" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
echo "report on $3: $(ls "$3" | tr '\n' ' ')"
EOF
chmod 755 "$work/nslab" "$work/nslab-local"

for user in root "$student"; do
  class=$work/class-$user
  mkdir -p "$class"
  echo "stale" >"$class/gone.json"
  ansible-playbook -i localhost, -c local -e ansible_python_interpreter=/usr/bin/python3 \
    -e "class_dir=$class nslab_command=$work/nslab nslab_local=$work/nslab-local nslab_progress_user=$user" \
    deploy/class.yml >"$work/out-$user" || { cat "$work/out-$user"; fail "class.yml failed"; }
  expected=$(printf '{"user": "%s",  "lessons": [{"id": "veth-lab", "step": 3, "score": 2.50}]}' "$user")
  [ "$(cat "$class/localhost.json")" = "$expected" ] ||
    fail "localhost.json is not what nslab printed as $user: $(cat "$class/localhost.json")"
  [ ! -e "$class/gone.json" ] || fail "a file from an earlier collection was kept"
  grep -qF "report on $class: localhost.json" "$work/out-$user" || { cat "$work/out-$user"; fail "no class report"; }
done
echo "test-class: with stand-ins: ok"

# The real nslab, once it has `list --format json` and `class report` (other parts of the work
# in progress): the same playbook end to end, and the file must be JSON.
nslab=/usr/local/bin/nslab
if "$nslab" list --format json >/dev/null 2>&1 && "$nslab" class report --help >/dev/null 2>&1; then
  class=$work/class-real
  ansible-playbook -i localhost, -c local -e ansible_python_interpreter=/usr/bin/python3 \
    -e "class_dir=$class nslab_local=$nslab" deploy/class.yml >"$work/out-real" || {
    cat "$work/out-real"
    fail "class.yml with the real nslab failed"
  }
  python3 -m json.tool "$class/localhost.json" >/dev/null || fail "localhost.json is not JSON"
  echo "test-class: with the real nslab: ok"
else
  echo "test-class: with the real nslab: SKIPPED ($nslab has no list --format json or class report yet)"
fi
