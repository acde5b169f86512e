#!/usr/bin/env bash
# One round of the veth lab's kernel floor, inside bench/sandbox.sh: the waits no tool can avoid
# in the lab, each timed around a single `ip` call (bash's $EPOCHREALTIME): moving veth0 into
# blue, moving veth1 into red, and deleting blue until veth1 is gone from red. Starting `ip`
# (timed around a cheap `ip link set ... mtu`) is taken off each move. Prints the floor in ms.
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
s=$EPOCHREALTIME
ip netns del blue
while ip -n red link show veth1 >/dev/null 2>&1; do :; done
e=$EPOCHREALTIME
del=$(ms "$s" "$e")
ip netns del red
echo "$m1 - $cheap + $m2 - $cheap + $del" | bc -l
