#!/usr/bin/env bash
# The veth lab against its kernel floor, measured in pairs: each round times one
# `nslab verify lessons/02-veth.md` and then one round of bench/floor-round.sh, each after the
# machine has been quiet for a moment (the kernel tears namespaces down after their last user
# is gone, and that work would otherwise land in the next measurement). Prints one line per
# round: nslab's milliseconds, the floor's milliseconds.
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
  printf '%.1f %.1f\n' "$(ms "$s" "$e")" "$(bench/sandbox.sh bench/floor-round.sh)"
done
