#!/usr/bin/env bash
# Runs CMD once with bench/rtnl-busy.py alongside (in a network namespace of its own) and prints
# "WALL_SECONDS RTNL_HELD_SECONDS": how long CMD took, and for how much of that time RTNL, the
# kernel's one lock for network configuration, was held by someone else.
set -euo pipefail
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
unshare --net python3 "$here/rtnl-busy.py" >"$out" &
prober=$!
sleep 0.3
s=$EPOCHREALTIME
"$@" >/dev/null 2>&1 || true
e=$EPOCHREALTIME
kill -TERM "$prober"
wait "$prober" || true
echo "$(echo "$e - $s" | bc -l) $(cat "$out")"
