#!/usr/bin/env bash
# What the kernel itself takes for the veth lab's slow operations, timed around single `ip`
# calls (bash's $EPOCHREALTIME, no fork for the clock). Run inside bench/sandbox.sh. Prints the
# median milliseconds of: moving a veth end into a namespace, deleting a namespace that holds
# a veth end until its peer is gone, and a cheap `ip link set` (what starting `ip` itself costs,
# to subtract from the first).
set -euo pipefail
ms() { echo "($2 - $1) * 1000" | bc -l; }
moves=()
dels=()
cheap=()
for i in $(seq 1 7); do
  ip netns add "a$i"
  ip netns add "b$i"
  ip link add "x$i" type veth peer name "y$i" netns "b$i"
  s=$EPOCHREALTIME
  ip link set dev "x$i" mtu 1400
  e=$EPOCHREALTIME
  cheap+=("$(ms "$s" "$e")")
  s=$EPOCHREALTIME
  ip link set dev "x$i" netns "a$i"
  e=$EPOCHREALTIME
  moves+=("$(ms "$s" "$e")")
  s=$EPOCHREALTIME
  ip netns del "a$i"
  while ip -n "b$i" link show "y$i" >/dev/null 2>&1; do :; done
  e=$EPOCHREALTIME
  dels+=("$(ms "$s" "$e")")
  ip netns del "b$i"
done
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
echo "$(median "${moves[@]}") $(median "${dels[@]}") $(median "${cheap[@]}")"
