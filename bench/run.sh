#!/usr/bin/env bash
# Runs every benchmark with hyperfine and writes bench/RESULTS.md. Needs root (or unprivileged
# user namespaces), hyperfine, iproute2 and iputils-ping. Everything runs in sandboxes: nslab in
# its own, the shell peers in bench/sandbox.sh. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo build --release --quiet --example mutant_scripts
nslab=$PWD/target/release/nslab
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs=${RUNS:-10}

# hyperfine NAME RUNS CMD... : writes $work/NAME.json
bench() {
  local name=$1 n=$2
  shift 2
  hyperfine --shell=none --warmup 1 --runs "$n" --export-json "$work/$name.json" "$@" >&2
}

# (a) the veth lab under nslab verify (checks before and after every step) against the script,
# and what the kernel alone takes for its slowest operations.
bench veth "$runs" "$nslab verify lessons/02-veth.md" "bench/sandbox.sh --light bash bench/veth-lab.sh"
bench/sandbox.sh bench/kernel-costs.sh >"$work/kernel-costs.txt"
# The lab against its kernel floor and against its commands through ip -batch, in rounds on a
# quiet machine (see floor.sh).
bench/floor.sh "$nslab" "${FLOOR_ROUNDS:-15}" >"$work/floor.txt"
# Where a move waits, from the kernel's own stacks (needs tracefs; optional).
bench/sandbox.sh bench/trace-move.sh >"$work/trace-move.txt" 2>&1 || echo "(tracefs unavailable)" >"$work/trace-move.txt"

# (c) every shipped lesson: verified, against the veth lab's script; and mutated, against the
# plain verify of the same lessons.
bench shipped "$runs" "$nslab verify lessons/" "bench/sandbox.sh --light bash bench/veth-lab.sh"
# With the mutation run, where its time goes: the same mutants as plain shell scripts (the peer:
# no check, no jail), and as many jails as the run makes, with nothing in them.
bench/mutant-scripts.sh make "$work/mutants" lessons/ 2>/dev/null
# One mutation run first, for each mutant's own time (the longest bounds the whole run) and for
# how many jails a run makes (its report says).
"$nslab" verify --mutate --format json lessons/ >"$work/mutants.json"
jails=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["jails"])' "$work/mutants.json")
bench/micro.sh jail-lessons "$jails" "$work/jails"
bench mutate "${MUTATE_RUNS:-3}" "$nslab verify --mutate lessons/" "$nslab verify lessons/" \
  "bench/mutant-scripts.sh run $work/mutants" "$nslab verify $work/jails"
# One more mutation run with a probe of how long the kernel's RTNL lock is held meanwhile; and
# one each of --mutate and the plain verify timing the kernel's namespace teardown worker.
bench/rtnl-busy.sh "$nslab" verify --mutate lessons/ >"$work/rtnl.txt"
bench/sandbox.sh bench/netns-cleanup.sh "$nslab" verify --mutate lessons/ >"$work/cleanup-mutate.txt"
bench/sandbox.sh bench/netns-cleanup.sh "$nslab" verify lessons/ >"$work/cleanup-plain.txt"
bench/sandbox.sh bench/netns-cleanup.sh "$nslab" verify "$work/jails" >"$work/cleanup-jails.txt"

# (b) the star of N namespaces on a bridge: nslab verify of a generated lesson, a bash loop of
# ip commands, ip -batch. With pings up to 200; without pings up to 1000 (see star.sh).
for n in 50 200; do
  bench/star.sh lesson "$n" >"$work/star-$n.md"
  bench "star-$n" 3 "$nslab verify --until 5 $work/star-$n.md" "bench/sandbox.sh bench/star.sh loop $n" "bench/sandbox.sh bench/star.sh batch $n"
done
for n in 50 200 1000; do
  bench/star.sh lesson "$n" noping >"$work/star-$n-noping.md"
  r=3
  [ "$n" -ge 1000 ] && r=1
  bench "star-$n-noping" "$r" "$nslab verify --until 4 $work/star-$n-noping.md" "bench/sandbox.sh bench/star.sh loop $n noping" "bench/sandbox.sh bench/star.sh batch $n noping"
done

# The kernel layer: 200 namespaces created (and checked) by nslab against 200 `ip netns add`;
# 200 steps of one ping check each on a veth: a step's time is one check's.
bench/micro.sh netns-lesson 200 >"$work/netns.md"
bench netns "$runs" "$nslab verify --until 1 $work/netns.md" "bench/sandbox.sh bench/micro.sh netns-loop 200"
bench/micro.sh ping-lesson 200 >"$work/ping.md"
"$nslab" verify --until 203 --format json "$work/ping.md" >"$work/ping-report.json"

# learn: from the student's command finishing to its check ticking on screen.
bench/sandbox.sh bench/learn-latency.sh "$nslab" "${LATENCY_ROUNDS:-10}" lessons/02-veth.md lessons/03-bridges.md lessons/04-routing.md >"$work/latency.txt"
# learn at rest: the CPU it takes while the student reads.
bench/sandbox.sh bench/learn-idle.sh "$nslab" "${IDLE_SECONDS:-20}" >"$work/idle.txt"

python3 bench/results.py "$work" >bench/RESULTS.md
cat bench/RESULTS.md
