#!/usr/bin/env bash
# Runs a command in a sandbox: a private network and mount namespace, a tmpfs on /run (so
# /run/netns is private, and nothing is created in the host's /run), loopback up. By default also
# a pid namespace with its own /proc, so that whatever the command leaves running (tmux, learn)
# ends with it. `--light` leaves the pid namespace out: exactly the sandbox the issue names for
# the shell-script peer of the veth lab (`unshare --net --mount`, a private tmpfs), no dearer.
# Nothing reaches the host either way.
set -euo pipefail
pid=(--pid --fork --mount-proc)
if [ "${1:-}" = --light ]; then
  pid=()
  shift
fi
exec unshare --net --mount "${pid[@]}" bash -c '
  set -euo pipefail
  mount --make-rprivate /
  mount -t tmpfs none /run
  mkdir /run/netns
  ip link set lo up
  exec "$@"' sandbox "$@"
