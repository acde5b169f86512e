#!/usr/bin/env bash
# One round of the veth lab's kernel floor, inside bench/sandbox.sh: the waits no tool can avoid
# in the lab while it checks each step, each timed around a single `ip` call (bash's
# $EPOCHREALTIME): moving veth0 into blue, moving veth1 into red, and deleting blue until veth1
# is gone from red. Before that delete, blue's neighbour table is read once, untimed, as step 6's
# check must read it just before step 7 deletes blue: the netlink socket of that read is freed
# only after an RCU grace period (`netlink_release` defers it with `call_rcu`), and until then it
# holds blue, so the teardown waits for it too. Starting `ip` (timed around a cheap
# `ip link set ... mtu`) is taken off each move and off the delete.
# Prints the floor in ms, then the same without the read of blue's neighbours (in its own pair of
# namespaces, after the floor): what the read costs the teardown.
set -euo pipefail
ms() { echo "($2 - $1) * 1000" | bc -l; }
ip netns add blue
ip netns add red
ip link add veth0 type veth peer name veth1
s=$EPOCHREALTIME
ip link set dev veth0 mtu 1400
e=$EPOCHREALTIME
cheap=$(ms "$s" "$e")
s=$EPOCHREALTIME
ip link set dev veth0 netns blue
e=$EPOCHREALTIME
m1=$(ms "$s" "$e")
s=$EPOCHREALTIME
ip link set dev veth1 netns red
e=$EPOCHREALTIME
m2=$(ms "$s" "$e")
# delete NS PEER [PEER_NS]: `ip netns del NS`, until PEER is gone (from PEER_NS); prints ms.
delete() {
  local s e in=()
  [ $# -gt 2 ] && in=(-n "$3")
  s=$EPOCHREALTIME
  ip netns del "$1"
  while ip "${in[@]}" link show "$2" >/dev/null 2>&1; do :; done
  e=$EPOCHREALTIME
  ms "$s" "$e"
}
ip -n blue neigh show >/dev/null
del=$(delete blue veth1 red)
ip netns del red
sleep 0.3
ip netns add green
ip link add veth2 netns green type veth peer name veth3
sleep 0.3
bare=$(delete green veth3)
echo "$m1 - $cheap + $m2 - $cheap + $del - $cheap" | bc -l
echo "$bare - $cheap" | bc -l
