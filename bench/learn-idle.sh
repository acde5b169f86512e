#!/usr/bin/env bash
# What `nslab learn` costs while the student reads: the CPU time of nslab's process over
# SECONDS of nothing happening, shown at a step whose checks already hold (step 1 of the veth
# lab) and at one that is still open (step 2). Run inside bench/sandbox.sh; prints one line per
# step: "STEP CPU_MS SECONDS", the CPU time from /proc/PID/stat (user + system).
# Usage: learn-idle.sh NSLAB [SECONDS]
set -euo pipefail
nslab=$1
seconds=${2:-20}
work=$(mktemp -d)
export HOME=$work LANG=C.UTF-8
tick=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for step in 1 2; do
  tmux -S "$work/sock" -f /dev/null new-session -d -x 120 -y 40 "$nslab learn lessons/02-veth.md --step $step"
  # Settled: the lab made up to the step, the first frames drawn.
  sleep 5
  pid=$(pgrep -f "^$nslab learn" | head -1)
  a=$(cpu "$pid")
  sleep "$seconds"
  b=$(cpu "$pid")
  echo "$step $(((b - a) * 1000 / tick)) $seconds"
  tmux -S "$work/sock" kill-server
  sleep 0.5
done
rm -rf "$work"
