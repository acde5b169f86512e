#!/usr/bin/env bash
# The veth lab against its kernel floor, measured in rounds: each round times one
# `nslab verify lessons/02-veth.md`, one round of bench/floor-round.sh and one run of
# bench/veth-lab-batch.sh (the lab's commands through `ip -batch`, checking nothing), each after
# the machine has been quiet for a moment (the kernel tears namespaces down after their last
# user is gone, and that work would otherwise land in the next measurement). Prints one line per
# round: nslab's milliseconds, the floor's, the floor's teardown without the read of blue before
# it, and the batch's.
set -euo pipefail
cd "$(dirname "$0")/.."
nslab=$1
rounds=${2:-15}
ms() { echo "($2 - $1) * 1000" | bc -l; }
for _ in $(seq 1 "$rounds"); do
  sleep 0.5
  s=$EPOCHREALTIME
  "$nslab" verify lessons/02-veth.md >/dev/null 2>&1
  e=$EPOCHREALTIME
  sleep 0.5
  floor=$(bench/sandbox.sh bench/floor-round.sh)
  sleep 0.5
  batch=$(bench/sandbox.sh bench/veth-lab-batch.sh)
  # shellcheck disable=SC2086 # the floor's two numbers, one per line
  printf '%.1f %.1f %.1f %.1f\n' "$(ms "$s" "$e")" $floor "$batch"
done
