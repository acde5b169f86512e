#!/usr/bin/env bash
# The veth lab lesson's commands as a plain script, with `ip -n NS` and `ping -c 1 -W 1`,
# checking nothing. The peer that `nslab verify lessons/02-veth.md` is measured against.
set -euo pipefail
ip netns add blue
ip netns add red
ip link add veth0 type veth peer name veth1
ip link set dev veth0 netns blue
ip link set dev veth1 netns red
ip -n blue link set lo up
ip -n blue link set veth0 up
ip -n blue address add 10.1.0.2/24 dev veth0
ip -n red link set lo up
ip -n red link set veth1 up
ip -n red address add 10.1.0.3/24 dev veth1
ip netns exec blue ping -q -c 1 -W 1 10.1.0.3 >/dev/null
ip netns del blue
ip netns del red
