#!/usr/bin/env bash
# Lessons and scripts for the kernel layer's micro-benchmarks:
#   micro.sh netns-lesson N   a lesson that creates N namespaces (nslab verify checks each)
#   micro.sh netns-loop N     the same with `ip netns add` in a bash loop
#   micro.sh ping-lesson N    a veth pair, then N steps of one ping check each
#   micro.sh jail-lessons N DIR   N lessons in DIR of one sysctl each (set, then set back):
#                             verifying them costs N jails and next to nothing else
# shellcheck disable=SC2016
set -euo pipefail
n=$2
case $1 in
netns-lesson)
  printf '+++\nid = "netns-%s"\ntitle = "N namespaces"\nformat = 1\n+++\n\n## Create\n\n```sh\n' "$n"
  for i in $(seq 1 "$n"); do echo "ip netns add ns$i"; done
  printf '```\n\n## Clean up\n\n```sh\n'
  for i in $(seq 1 "$n"); do echo "ip netns del ns$i"; done
  printf '```\n'
  ;;
netns-loop)
  for i in $(seq 1 "$n"); do ip netns add "ns$i"; done
  ;;
ping-lesson)
  printf '+++\nid = "ping-%s"\ntitle = "N pings"\nformat = 1\n+++\n\n## Namespaces\n\n```sh\nip netns add a\nip netns add b\n```\n' "$n"
  printf '\n## Cable\n\n```sh\nip -n a link add va type veth peer name vb netns b\n```\n'
  printf '\n## Addresses\n\n```sh\nip -n a link set va up\nip -n b link set vb up\nip -n a address add 10.3.0.1/24 dev va\nip -n b address add 10.3.0.2/24 dev vb\n```\n'
  # Then N steps of one ping check each: a step's time is one check's.
  for i in $(seq 1 "$n"); do
    printf '\n## Ping %s\n\n```check\nping 10.3.0.2 from a\n```\n' "$i"
  done
  printf '\n## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n'
  ;;
jail-lessons)
  mkdir -p "$3"
  for i in $(seq -w 1 "$n"); do
    printf '+++\nid = "jail-%s"\ntitle = "One jail"\nformat = 1\n+++\n\n## Forward\n\n```sh\nsysctl -w net.ipv4.ip_forward=1\n```\n\n```check\nsysctl net.ipv4.ip_forward = 1\n```\n\n## Back\n\n```sh\nsysctl -w net.ipv4.ip_forward=0\n```\n' "$i" >"$3/jail-$i.md"
  done
  ;;
*)
  echo "usage: micro.sh netns-lesson|netns-loop|ping-lesson|jail-lessons N [DIR]" >&2
  exit 2
  ;;
esac
