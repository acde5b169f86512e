#!/usr/bin/env bash
# Runs a command in the same kind of sandbox nslab verify uses: private network, mount and pid
# namespaces, a tmpfs on /run (so /run/netns is private), loopback up. Nothing reaches the host.
set -euo pipefail
exec unshare --net --mount --pid --fork --mount-proc bash -c '
  set -euo pipefail
  mount --make-rprivate /
  mount -t tmpfs none /run
  mkdir /run/netns
  ip link set lo up
  exec "$@"' sandbox "$@"
