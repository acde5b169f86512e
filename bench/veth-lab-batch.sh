#!/usr/bin/env bash
# The veth lab's commands the cheapest way iproute2 offers, checking nothing: every step's
# changes of one namespace in one `ip -batch` (or `ip -n NS -batch`), pings from iputils with no
# pause between echoes, and the wait for step 7's teardown (veth1 gone with blue) that a
# check of it needs. Blue's neighbour table is read once before blue is deleted, as step 6's
# check does. Run inside bench/sandbox.sh; prints the milliseconds from the first command to the
# last (the sandbox's making is not counted).
set -euo pipefail
s=$EPOCHREALTIME
ip -batch - <<'LINES'
netns add blue
netns add red
link add veth0 type veth peer name veth1
link set dev veth0 netns blue
link set dev veth1 netns red
LINES
printf 'link set lo up\nlink set veth0 up\naddress add 10.1.0.2/24 dev veth0\n' | ip -n blue -batch -
printf 'link set lo up\nlink set veth1 up\naddress add 10.1.0.3/24 dev veth1\n' | ip -n red -batch -
ip netns exec blue ping -q -c 3 -i 0 -W 1 10.1.0.3 >/dev/null
ip -n blue neigh show >/dev/null
ip netns del blue
while ip -n red link show veth1 >/dev/null 2>&1; do :; done
ip -batch - <<'LINES'
netns add blue
link add veth0 netns blue type veth peer name veth1 netns red
LINES
printf 'link set lo up\nlink set veth0 up\naddress add 10.1.0.2/24 dev veth0\n' | ip -n blue -batch -
printf 'link set veth1 up\naddress add 10.1.0.3/24 dev veth1\n' | ip -n red -batch -
ip netns exec blue ping -q -c 1 -W 1 10.1.0.3 >/dev/null
ip netns exec red ping -q -c 1 -W 1 10.1.0.2 >/dev/null
printf 'netns del blue\nnetns del red\n' | ip -batch -
e=$EPOCHREALTIME
echo "($e - $s) * 1000" | bc -l
