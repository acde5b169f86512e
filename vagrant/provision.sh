#!/usr/bin/env bash
# Provisions a machine for nslab: the programs the lessons use, nslab itself built from the
# source folder, its shell completions and man page, and (in the VM) the tmux login.
#
#   provision.sh [SOURCE]        SOURCE: the repository (default: the folder above this script)
#   NSLAB_NO_LOGIN=1 provision.sh   skip what only makes sense in the VM (the tmux login)
#
# Idempotent: a second run changes nothing and says so. Fails loudly on any error.
set -euo pipefail
trap 'echo "provision: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
prefix=/usr/local
changed=()

say() { printf 'provision: %s\n' "$*"; }

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

# 1. Debian packages, installed only when one is missing.
packages=(iproute2 iputils-ping tmux strace gcc iptables procps util-linux ca-certificates curl bash-completion man-db sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  changed+=("packages: ${missing[*]}")
fi

# Compiling nslab's dependencies wants more than the VM's 1 GiB: lend it swap, once.
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

# 2. A Rust toolchain: the one already there, else rustup's (the VM has the internet).
export PATH="$HOME/.cargo/bin:/root/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  say "installing Rust with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  export PATH="$HOME/.cargo/bin:$PATH"
  changed+=("rust toolchain")
fi

# 3. nslab, built from the source folder; installed when the binary differs.
target=/var/cache/nslab/target
mkdir -p "$target"
say "building nslab from $src"
CARGO_TARGET_DIR=$target cargo build --release --locked --quiet --manifest-path "$src/Cargo.toml"
put "$prefix/bin/nslab" 0755 <"$target/release/nslab"
nslab=$prefix/bin/nslab

# 4. Shell completions and the man page, generated from nslab's own command line.
# (Process substitution, not a pipe: `put` must run in this shell to record a change.)
put /usr/share/bash-completion/completions/nslab 0644 < <("$nslab" completions bash)
put /usr/share/zsh/vendor-completions/_nslab 0644 < <("$nslab" completions zsh)
put /usr/share/fish/vendor_completions.d/nslab.fish 0644 < <("$nslab" completions fish)
put "$prefix/share/man/man1/nslab.1" 0644 < <("$nslab" man)

# 5. The student's login: a tmux session with the lesson and a root shell (VM only).
if [ "${NSLAB_NO_LOGIN:-0}" != 1 ]; then
  put /etc/nslab/banner 0644 <<'BANNER'
This is your root shell: type the lesson's commands here. The lesson is in the left pane
(Ctrl-b then arrow keys moves between panes). Lost the session? Run: nslab-session
BANNER
  put "$prefix/bin/nslab-session" 0755 <"$src/vagrant/nslab-session"
  user=${SUDO_USER:-vagrant}
  home=$(getent passwd "$user" | cut -d: -f6 || true)
  if [ -n "$home" ] && [ -d "$home" ]; then
    profile=$home/.bash_profile
    marker='# nslab: open the lesson session on login'
    if ! grep -qF "$marker" "$profile" 2>/dev/null; then
      {
        echo "$marker"
        # shellcheck disable=SC2016 # written for the login shell to expand
        echo 'if [ -n "${SSH_TTY:-}" ] && [ -z "${TMUX:-}" ] && command -v nslab-session >/dev/null; then exec nslab-session; fi'
        echo '[ -f ~/.bashrc ] && . ~/.bashrc'
      } >>"$profile"
      chown "$user:" "$profile"
      changed+=("$profile")
    fi
  fi
fi

if [ ${#changed[@]} -eq 0 ]; then
  say "nothing changed"
else
  say "changed: ${changed[*]}"
fi
