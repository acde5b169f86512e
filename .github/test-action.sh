#!/usr/bin/env bash
# Checks the GitHub action (action.yml) and the workflows without GitHub:
#   - every `run:` script of action.yml and .github/workflows/*.yml passes shellcheck;
#   - action.yml's steps, run as the runner would run them, with stand-ins for gh (releases
#     laid out in a folder), sudo and nslab: which release each kind of ref installs, that the
#     binary is checked against SHA256SUMS (a corrupted asset, or a SHA256SUMS without its line,
#     installs nothing), and the arguments lint and verify get (--shard, --jobs, the JUnit path).
# Needs python3 with PyYAML, jq and shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "test-action: FAIL: $*" >&2
  exit 1
}

# Each step's script into $work/steps/N-ID.sh, and its env: into N-ID.env (NAME=VALUE lines,
# where ${{ inputs.X }} becomes $INPUT_X and other expressions become $GHA_EXPR).
/usr/bin/python3 - "$work" <<'EOF'
import os, re, sys, yaml
work = sys.argv[1]
os.makedirs(f"{work}/steps")
os.makedirs(f"{work}/workflows")
def expr(text):
    text = re.sub(r"\$\{\{\s*inputs\.([a-z_-]+)\s*\}\}", lambda m: "${INPUT_" + m.group(1).upper() + "}", str(text))
    return re.sub(r"\$\{\{[^}]*\}\}", "${GHA_EXPR}", text)
action = yaml.safe_load(open("action.yml"))
for n, step in enumerate(action["runs"]["steps"]):
    name = f"{work}/steps/{n}-{step.get('id', 'step')}"
    with open(name + ".sh", "w") as f:
        f.write("#!/usr/bin/env bash\n" + expr(step["run"]))
    with open(name + ".env", "w") as f:
        for k, v in (step.get("env") or {}).items():
            f.write(f"{k}={expr(v)}\n")
    with open(name + ".if", "w") as f:
        f.write(str(step.get("if", "")))
for wf in sorted(os.listdir(".github/workflows")):
    doc = yaml.safe_load(open(f".github/workflows/{wf}"))
    for job, body in doc["jobs"].items():
        for n, step in enumerate(body.get("steps", [])):
            if "run" in step:
                with open(f"{work}/workflows/{wf}-{job}-{n}.sh", "w") as f:
                    f.write("#!/usr/bin/env bash\n" + expr(step["run"]))
EOF
echo "== shellcheck on the run: scripts of action.yml and the workflows"
shellcheck -e SC2154 "$work"/steps/*.sh "$work"/workflows/*.sh

# Releases of owner/nslab, newest first: v0.2.0 and v0.1.0 (each with the asset and its
# SHA256SUMS), and v0.3.0-broken whose asset does not match its SHA256SUMS.
releases=$work/releases
for tag in v0.1.0 v0.2.0 v0.3.0-broken v0.4.0-nosum; do
  mkdir -p "$releases/$tag"
  printf '#!/bin/sh\necho "nslab %s"\n' "${tag#v}" >"$releases/$tag/nslab-x86_64-linux"
  (cd "$releases/$tag" && sha256sum nslab-x86_64-linux nslab-x86_64-linux >SHA256SUMS)
  sed -i '2s/nslab-x86_64-linux$/other-file/' "$releases/$tag/SHA256SUMS"
done
echo "# tampered" >>"$releases/v0.3.0-broken/nslab-x86_64-linux"
sed -i '/ nslab-x86_64-linux$/d' "$releases/v0.4.0-nosum/SHA256SUMS"
printf '%s\n' v0.4.0-nosum v0.3.0-broken v0.2.0 v0.1.0 >"$releases/order"

mkdir "$work/bin"
cat >"$work/bin/gh" <<EOF
#!/usr/bin/env bash
# A stand-in for gh over $releases; repo must be owner/nslab.
set -euo pipefail
releases=$releases
EOF
cat >>"$work/bin/gh" <<'EOF'
args=("$@")
repo=
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" = --repo ] && repo=${args[i + 1]}
done
case "$1 $2" in
  "release view")
    [ "$repo" = owner/nslab ] || { echo "gh: no repository $repo" >&2; exit 1; }
    if [ "$3" = --repo ]; then
      [ "$5 $6 $7 $8" = "--json tagName --jq .tagName" ] || exit 3
      grep -v -- -broken "$releases/order" | grep -v -- -nosum | head -n 1 # the latest release
    else
      [ -d "$releases/$3" ] || { echo "release not found" >&2; exit 1; }
    fi
    ;;
  "api repos/owner/nslab/releases?per_page=100")
    [ "$3" = --jq ] || exit 3
    jq -R '{tag_name: ., draft: false, prerelease: false}' "$releases/order" | jq -s . | jq -r "$4"
    ;;
  "release download")
    [ "$repo" = owner/nslab ] || exit 1
    tag=$3 dir=
    for ((i = 0; i < ${#args[@]}; i++)); do
      [ "${args[i]}" = --dir ] && dir=${args[i + 1]}
    done
    cp "$releases/$tag/nslab-x86_64-linux" "$releases/$tag/SHA256SUMS" "$dir/"
    ;;
  *) echo "gh stand-in: unexpected: $*" >&2; exit 3 ;;
esac
EOF
cat >"$work/bin/sudo" <<'EOF'
#!/bin/sh
exec "$@"
EOF
cat >"$work/bin/apt-get" <<'EOF'
#!/bin/sh
exit 0
EOF
chmod 755 "$work/bin/"*

# step N [NAME=VALUE...]: runs action.yml's step N as the runner would, in $work/run.
step() {
  local n=$1 file
  shift
  file=$(echo "$work"/steps/"$n"-*.sh)
  (
    cd "$work/run"
    set -a
    # shellcheck disable=SC1090 # the step's env: as extracted above
    . <(envsubst <"${file%.sh}.env")
    set +a
    env "$@" PATH="$work/bin:$PATH" bash -e "$file"
  )
}
# install NAME=VALUE...: the install step with these inputs; prints the version it installed.
install_nslab() {
  rm -rf "$work/run" && mkdir -p "$work/run/temp"
  : >"$work/run/output" && : >"$work/run/env"
  export RUNNER_TEMP=$work/run/temp GITHUB_OUTPUT=$work/run/output GITHUB_ENV=$work/run/env
  export INPUT_VERSION="" INPUT_NSLAB="" ACTION_REPO=owner/nslab ACTION_REF_VALUE=""
  for a in "$@"; do export "${a?}"; done
  step 1 ACTION_REPOSITORY="$ACTION_REPO" ACTION_REF="$ACTION_REF_VALUE" >"$work/run/log" 2>&1 || return 1
  grep -q "^NSLAB=$RUNNER_TEMP/nslab-action/nslab$" "$GITHUB_ENV" || fail "NSLAB is not in GITHUB_ENV"
  sed -n 's/^version=//p' "$GITHUB_OUTPUT"
}
expect() { # WHAT GOT EXPECTED
  [ "$2" = "$3" ] || { cat "$work/run/log" >&2; fail "$1: got '$2', expected '$3'"; }
}

echo "== which release the action installs"
expect "a release tag" "$(install_nslab ACTION_REF_VALUE=v0.1.0)" "nslab 0.1.0"
expect "a major tag" "$(install_nslab ACTION_REF_VALUE=v0)" "nslab 0.2.0"
expect "a branch" "$(install_nslab ACTION_REF_VALUE=main)" "nslab 0.2.0"
expect "the version input" "$(install_nslab ACTION_REF_VALUE=main INPUT_VERSION=v0.1.0)" "nslab 0.1.0"
expect "no action_repository: from the action's path" \
  "$(install_nslab ACTION_REPO= GITHUB_ACTION_PATH=/runner/_work/_actions/owner/nslab/v0.1.0)" "nslab 0.1.0"
printf '#!/bin/sh\necho "nslab 9.9.9"\n' >"$work/given"
expect "the nslab input" "$(install_nslab INPUT_NSLAB="$work/given")" "nslab 9.9.9"
if install_nslab INPUT_VERSION=v0.3.0-broken >/dev/null; then fail "an asset that does not match SHA256SUMS was installed"; fi
grep -q "FAILED" "$work/run/log" || fail "broken: sha256sum said nothing"
[ ! -e "$work/run/temp/nslab-action/nslab" ] || fail "broken: the asset was installed"
if install_nslab INPUT_VERSION=v0.4.0-nosum >/dev/null; then fail "an asset missing from SHA256SUMS was installed"; fi
grep -q "has no line for nslab-x86_64-linux" "$work/run/log" || fail "nosum: no word on why"
if install_nslab INPUT_VERSION=v9.9.9 >/dev/null; then fail "a release that does not exist was installed"; fi

echo "== the arguments of lint and verify"
cat >"$work/nslab" <<EOF
#!/bin/sh
echo "\$*" >>"$work/calls"
EOF
chmod 755 "$work/nslab"
rm -f "$work/calls"
export NSLAB=$work/nslab INPUT_LESSONS=my-lessons INPUT_SHARD=2/4 INPUT_JOBS=3 INPUT_TIMEOUT=900 INPUT_JUNIT=junit-2.xml
for n in 2 3 4; do step "$n"; done
expect "lint" "$(sed -n 1p "$work/calls")" "lint my-lessons"
expect "verify" "$(sed -n 2p "$work/calls")" "verify --jobs 3 --timeout 900 --format junit --output junit-2.xml --shard 2/4 my-lessons"
expect "verify --mutate" "$(sed -n 3p "$work/calls")" "verify --mutate --jobs 3 --timeout 900 --shard 2/4 my-lessons"
grep -qx "junit=junit-2.xml" "$GITHUB_OUTPUT" || fail "no junit output"
expect "mutate runs only when asked" "$(cat "$work/steps/4-step.if")" "inputs.mutate == 'true'"
rm -f "$work/calls"
INPUT_SHARD="" step 3
expect "verify without a shard" "$(cat "$work/calls")" "verify --jobs 3 --timeout 900 --format junit --output junit-2.xml my-lessons"
echo "test-action: ok"
