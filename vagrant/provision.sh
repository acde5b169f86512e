#!/usr/bin/env bash
# Provisions a student machine for nslab: the programs the lessons use, nslab itself, its shell
# completions and man page, and the student's login (a tmux session with the lesson).
#
#   provision.sh [--url URL] [--sha256 HEX] [--from-source | --no-build] [SOURCE]
#
#   SOURCE         the repository, or the part of it Vagrant uploads (default: the folder above
#                  this script)
#   --url URL      install the static nslab at URL (a release asset; http(s):// or file://).
#                  Its SHA-256 is --sha256, else the line for it in SHA256SUMS beside it.
#                  Same as NSLAB_URL=URL and NSLAB_SHA256=HEX.
#   --from-source  build nslab from SOURCE even when a prebuilt binary is there
#   --no-build     fail rather than build nslab here when no prebuilt one fits
#   NSLAB_NO_LOGIN=1      skip the student's login (what only makes sense on a student machine)
#   NSLAB_STUDENT=NAME    the student (default: the user who ran sudo, else vagrant)
#
# Where nslab comes from, first that applies: the release asset named by --url; the static
# binary that `make static` left in SOURCE (when it runs, reports SOURCE's version and is newer
# than SOURCE's code); else a build from SOURCE (rustup, then about 5 minutes in a small VM).
#
# Idempotent: a second run changes nothing and says "provision: nothing changed". Fails loudly.
set -euo pipefail
trap 'echo "provision: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

say() { printf 'provision: %s\n' "$*"; }
die() {
  printf 'provision: %s\n' "$*" >&2
  exit 1
}

url=${NSLAB_URL:-}
sha256=${NSLAB_SHA256:-}
from_source=0
no_build=0
src=
while [ $# -gt 0 ]; do
  case $1 in
    --url) url=${2:?--url needs a URL}; shift 2 ;;
    --sha256) sha256=${2:?--sha256 needs a checksum}; shift 2 ;;
    --from-source) from_source=1; shift ;;
    --no-build) no_build=1; shift ;;
    -*) die "unknown option $1 (see the top of $0)" ;;
    *) src=$1; shift ;;
  esac
done
src=$(cd "${src:-$(dirname "$0")/..}" && pwd)
prefix=/usr/local
nslab=$prefix/bin/nslab
changed=()

# put FILE MODE: installs standard input as FILE, only when it differs.
put() {
  local file=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 0
  fi
  mkdir -p "$(dirname "$file")"
  install -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  changed+=("$file")
}

# apt waits for the lock (up to 10 minutes) instead of failing: on a first boot,
# unattended-upgrades or cloud-init often hold it.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# 0. On a cloud image, cloud-init may still be installing packages: let it finish first.
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init status --wait >/dev/null 2>&1 || say "cloud-init reports an error; going on"
fi

# 1. Debian packages (vagrant/packages.txt), installed only when one is missing.
# (Carriage returns are dropped from the files Vagrant uploads: a Windows checkout may have them.)
mapfile -t packages < <(sed -e 's/\r$//' -e 's/#.*//' -e '/^[[:space:]]*$/d' "$src/vagrant/packages.txt")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_get install -y -qq "${missing[@]}" >/dev/null
  changed+=("packages: ${missing[*]}")
fi

# 2. nslab.
source_version() { sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$src/Cargo.toml" | head -n 1; }

# runs BINARY: prints its version ("0.1.0"), or fails when it does not run here.
runs() { "$1" --version 2>/dev/null | sed -n 's/^nslab \([^ ]*\)$/\1/p' | grep .; }

from_release() {
  local name=${url##*/} sums tmp got
  if [ -z "$sha256" ]; then
    sums=$(curl -fsSL --retry 3 "${url%/*}/SHA256SUMS") ||
      die "cannot fetch ${url%/*}/SHA256SUMS to check $name: give its checksum with --sha256"
    sha256=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1; exit }' <<<"$sums")
    [ -n "$sha256" ] || die "${url%/*}/SHA256SUMS has no line for $name"
  fi
  sha256=$(tr 'A-F' 'a-f' <<<"$sha256")
  [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || die "not a SHA-256 checksum: $sha256"
  if [ -f "$nslab" ] && [ "$(sha256sum <"$nslab" | cut -d' ' -f1)" = "$sha256" ]; then
    return 0 # already the installed one: nothing to download
  fi
  say "downloading $url"
  tmp=$(mktemp)
  curl -fsSL --retry 3 -o "$tmp" "$url" || { rm -f "$tmp"; die "cannot download $url"; }
  got=$(sha256sum <"$tmp" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    rm -f "$tmp"
    die "checksum mismatch for $url: expected $sha256, got $got; nothing installed"
  fi
  chmod 0755 "$tmp"
  runs "$tmp" >/dev/null || { rm -f "$tmp"; die "$url does not run on this machine"; }
  put "$nslab" 0755 <"$tmp"
  rm -f "$tmp"
}

# The static binary `make static` leaves, when it is fit to use; else says why not and fails.
# (Vagrant's upload does not keep the executable bit: it is checked from a copy.)
prebuilt_fits() {
  local bin=$src/target/x86_64-unknown-linux-gnu/release/nslab version newer tmp
  [ -f "$bin" ] && [ -f "$src/Cargo.toml" ] || return 1
  tmp=$(mktemp)
  install -m 0755 "$bin" "$tmp"
  if ! version=$(runs "$tmp"); then
    rm -f "$tmp"
    say "ignoring $bin: it does not run here"
    return 1
  fi
  rm -f "$tmp"
  if [ "$version" != "$(source_version)" ]; then
    say "ignoring $bin: it is nslab $version, the source is $(source_version) (run make static)"
    return 1
  fi
  newer=$(find "$src/Cargo.toml" "$src/Cargo.lock" "$src/src" "$src/lessons" "$src/examples" \
    -newer "$bin" -print -quit 2>/dev/null || true)
  if [ -n "$newer" ]; then
    say "ignoring $bin: $newer is newer (run make static)"
    return 1
  fi
  put "$nslab" 0755 <"$bin"
}

from_source() {
  [ "$no_build" = 0 ] || die "no prebuilt nslab fits and --no-build says not to build one"
  [ -f "$src/Cargo.toml" ] || die "no nslab to install: $src has no Cargo.toml and no --url was given"
  # Compiling nslab's dependencies wants more than a 1 GiB VM has: lend it swap, once.
  if [ "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" -lt 2000000 ] && [ ! -e /swapfile ]; then
    say "adding 2 GiB of swap for the build"
    fallocate -l 2G /swapfile
    chmod 600 /swapfile
    mkswap /swapfile >/dev/null
    echo '/swapfile none swap sw 0 0' >>/etc/fstab
    changed+=(/swapfile)
  fi
  if [ -e /swapfile ] && ! swapon --show=NAME --noheadings | grep -qx /swapfile; then
    swapon /swapfile
  fi
  # A Rust toolchain: the one already there, else rustup's.
  export PATH="$HOME/.cargo/bin:/root/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1; then
    say "installing Rust with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    export PATH="$HOME/.cargo/bin:$PATH"
    changed+=("rust toolchain")
  fi
  local target=/var/cache/nslab/target
  mkdir -p "$target"
  say "building nslab from $src (make static on the host, or --url, avoids this)"
  CARGO_TARGET_DIR=$target cargo build --release --locked --quiet --manifest-path "$src/Cargo.toml"
  put "$nslab" 0755 <"$target/release/nslab"
}

if [ -n "$url" ]; then
  from_release
elif [ "$from_source" = 1 ] || ! prebuilt_fits; then
  from_source
fi
runs "$nslab" >/dev/null || die "$nslab does not run"

# 3. Shell completions and the man page, generated from nslab's own command line.
# (Process substitution, not a pipe: `put` must run in this shell to record a change.)
put /usr/share/bash-completion/completions/nslab 0644 < <("$nslab" completions bash)
put /usr/share/zsh/vendor-completions/_nslab 0644 < <("$nslab" completions zsh)
put /usr/share/fish/vendor_completions.d/nslab.fish 0644 < <("$nslab" completions fish)
put "$prefix/share/man/man1/nslab.1" 0644 < <("$nslab" man)

# 4. The student's login: an interactive login of the student opens the tmux session
# (nslab-session), through /etc/profile.d, which leaves the student's own ~/.profile alone.
if [ "${NSLAB_NO_LOGIN:-0}" != 1 ]; then
  user=${NSLAB_STUDENT:-${SUDO_USER:-vagrant}}
  put "$prefix/bin/nslab-session" 0755 < <(tr -d '\r' <"$src/vagrant/nslab-session")
  put /etc/nslab/banner 0644 < <(tr -d '\r' <"$src/vagrant/banner")
  put /etc/profile.d/nslab-login.sh 0644 < <(tr -d '\r' <"$src/vagrant/nslab-login.sh")
  if ! getent passwd "$user" >/dev/null; then
    say "no user $user: the session opens for no one (NSLAB_STUDENT=NAME names the student)"
  else
    put /etc/nslab/student 0644 <<<"$user"
    # Earlier versions wrote the login into ~/.bash_profile, which made bash skip ~/.profile:
    # take those lines out again, and the file too when nothing else is in it.
    home=$(getent passwd "$user" | cut -d: -f6)
    old=$home/.bash_profile
    marker='# nslab: open the lesson session on login'
    if [ -f "$old" ] && grep -qxF "$marker" "$old"; then
      # shellcheck disable=SC2016 # the lines as they were written, unexpanded
      grep -vxF -e "$marker" \
        -e 'if [ -n "${SSH_TTY:-}" ] && [ -z "${TMUX:-}" ] && command -v nslab-session >/dev/null; then exec nslab-session; fi' \
        -e '[ -f ~/.bashrc ] && . ~/.bashrc' "$old" >"$old.nslab" || true
      if grep -q '[^[:space:]]' "$old.nslab"; then
        cat "$old.nslab" >"$old"
      else
        rm -f "$old"
      fi
      rm -f "$old.nslab"
      changed+=("$old (the old login lines removed)")
    fi
  fi
fi

if [ ${#changed[@]} -eq 0 ]; then
  say "nothing changed"
else
  say "changed: ${changed[*]}"
fi
