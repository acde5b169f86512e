#!/usr/bin/env bash
# The lesson form prints Markdown fences: backquotes in single quotes are meant literally.
# shellcheck disable=SC2016
# The star of N namespaces on one bridge, in three forms:
#   star.sh lesson N   prints an nslab lesson (checked by `nslab verify`, every step before and after)
#   star.sh loop N     builds it with a bash loop of ip commands
#   star.sh batch N    builds it with `ip -batch` (one batch for the root, one `ip -n NS -batch` each)
# Every form ends with each namespace pinging the bridge's address, unless a third argument
# `noping` says not to. (Above about 500 namespaces the pings overflow the kernel's neighbour
# table, whose limit, gc_thresh3 = 1024 entries, is one for the whole machine.)
set -euo pipefail
mode=$1
n=$2
ping=${3:-ping}

addr() { # the address of namespace $1 in 10.200.0.0/16
  echo "10.200.$(($1 / 250)).$(($1 % 250 + 2))"
}

case $mode in
lesson)
  printf '+++\nid = "star-%s"\ntitle = "A star of %s namespaces"\nformat = 1\n+++\n' "$n" "$n"
  printf '\n## Bridge\n\n```sh\nip link add bridge0 type bridge\nip link set bridge0 up\nip address add 10.200.255.1/16 dev bridge0\n```\n'
  printf '\n## Namespaces\n\n```sh\n'
  for i in $(seq 1 "$n"); do echo "ip netns add ns$i"; done
  printf '```\n\n## Cables\n\n```sh\n'
  for i in $(seq 1 "$n"); do echo "ip link add v$i type veth peer name eth0 netns ns$i"; done
  printf '```\n\n## Ports\n\n```sh\n'
  for i in $(seq 1 "$n"); do echo "ip link set v$i master bridge0"; echo "ip link set v$i up"; done
  printf '```\n\n## Inside\n\n```sh\n'
  for i in $(seq 1 "$n"); do echo "ip -n ns$i link set eth0 up"; echo "ip -n ns$i address add $(addr "$i")/16 dev eth0"; done
  printf '```\n'
  if [ "$ping" = ping ]; then
    printf '\n## Ping\n\n```sh\n'
    for i in $(seq 1 "$n"); do echo "ip netns exec ns$i ping -c 1 -W 1 10.200.255.1"; done
    printf '```\n'
  fi
  # A lesson leaves the machine as it found it (verify checks); the benchmark stops before
  # this step (--until), as the peers do not clean up either.
  printf '\n## Clean up\n\n```sh\nip link del bridge0\n'
  for i in $(seq 1 "$n"); do echo "ip netns del ns$i"; done
  printf '```\n\n```check\nlink bridge0 absent\n'
  for i in $(seq 1 "$n"); do echo "netns ns$i absent"; done
  printf '```\n'
  ;;
loop)
  ip link add bridge0 type bridge
  ip link set bridge0 up
  ip address add 10.200.255.1/16 dev bridge0
  for i in $(seq 1 "$n"); do ip netns add "ns$i"; done
  for i in $(seq 1 "$n"); do ip link add "v$i" type veth peer name eth0 netns "ns$i"; done
  for i in $(seq 1 "$n"); do ip link set "v$i" master bridge0; ip link set "v$i" up; done
  for i in $(seq 1 "$n"); do
    ip -n "ns$i" link set eth0 up
    ip -n "ns$i" address add "$(addr "$i")/16" dev eth0
  done
  if [ "$ping" = ping ]; then
    for i in $(seq 1 "$n"); do ip netns exec "ns$i" ping -q -c 1 -W 1 10.200.255.1 >/dev/null; done
  fi
  ;;
batch)
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  {
    echo "link add bridge0 type bridge"
    echo "link set bridge0 up"
    echo "address add 10.200.255.1/16 dev bridge0"
    for i in $(seq 1 "$n"); do echo "netns add ns$i"; done
    for i in $(seq 1 "$n"); do echo "link add v$i type veth peer name eth0 netns ns$i"; done
    for i in $(seq 1 "$n"); do echo "link set v$i master bridge0"; echo "link set v$i up"; done
  } >"$dir/root"
  ip -batch "$dir/root"
  for i in $(seq 1 "$n"); do
    printf 'link set eth0 up\naddress add %s/16 dev eth0\n' "$(addr "$i")" >"$dir/ns"
    ip -n "ns$i" -batch "$dir/ns"
  done
  if [ "$ping" = ping ]; then
    for i in $(seq 1 "$n"); do ip netns exec "ns$i" ping -q -c 1 -W 1 10.200.255.1 >/dev/null; done
  fi
  ;;
*)
  echo "usage: star.sh lesson|loop|batch N" >&2
  exit 2
  ;;
esac
