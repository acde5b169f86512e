#!/usr/bin/env bash
# The mutants of `nslab verify --mutate` as plain shell scripts, the peer of a mutation run.
#   bench/mutant-scripts.sh make DIR LESSON...   writes one script per mutant into DIR
#   bench/mutant-scripts.sh run DIR              runs them all, four per core at once (as many as
#                                                nslab's default --jobs), each in a sandbox of its own
# A script runs what its mutant runs (the lesson's lines up to the mutant's step, the mutant's
# line left out) and checks nothing. Pings get nslab's bound: an answer within 200 ms, and no
# pause between echoes (iputils waits a second between them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case "$1" in
  make)
    dir=$2
    shift 2
    "$here/../target/release/examples/mutant_scripts" "$dir" "$@"
    ;;
  run)
    cd "$2"
    # The longest first, as nslab orders its mutants.
    # shellcheck disable=SC2016 # the inner script's $1 is its own
    find . -name '*.sh' -printf '%s %p\0' | sort -z -rn | cut -z -d ' ' -f 2- |
      xargs -0 -P "$(($(nproc) * 4))" -n 1 unshare --net --mount --pid --fork --mount-proc bash -c '
      mount --make-rprivate /
      mount -t tmpfs none /run
      mkdir /run/netns
      mount -t tmpfs none /tmp
      ip link set lo up
      bash "$1" || true' mutant
    ;;
  *)
    echo "usage: $0 make DIR LESSON... | run DIR" >&2
    exit 2
    ;;
esac
