#!/usr/bin/env bash
# Where a veth move waits: the kernel stacks of `ip link set ... netns` each time it blocks, from
# the sched_switch tracepoint's stacktrace trigger, and how long it slept in rcu_barrier().
# Run by hand, as root, inside bench/sandbox.sh (its mount namespace keeps the tracefs mount
# private). The tracepoint is global kernel state: it is switched off again on exit.
set -euo pipefail
t=/sys/kernel/tracing
# (Already mounted where a tool such as perf mounted it: used as it is.)
mountpoint -q "$t" || mount -t tracefs none "$t"
ev=$t/events/sched/sched_switch
cleanup() {
  echo 0 >"$ev/enable"
  echo '!stacktrace' >"$ev/trigger" 2>/dev/null || true
  echo 0 >"$ev/filter"
  echo >"$t/trace"
}
trap cleanup EXIT
ip netns add a
ip netns add b
ip link add x type veth peer name y netns b
sleep 3 # let earlier work settle: the wait below is not a backlog of this script's own
echo >"$t/trace"
echo 'prev_comm == "ip"' >"$ev/filter"
echo 'stacktrace if prev_comm == "ip"' >"$ev/trigger"
echo 1 >"$ev/enable"
s=$EPOCHREALTIME
ip link set dev x netns a
e=$EPOCHREALTIME
echo 0 >"$ev/enable"
echo "the move took $(echo "($e - $s) * 1000" | bc -l | cut -c1-6) ms"
# Each switch away from ip, with the function it blocked in, and how long until the next one.
awk '
  /sched_switch: prev_comm=ip/ { split($4, a, ":"); ts = a[1] + 0; want = 1; next }
  want && /=> (rcu_barrier|synchronize_rcu_expedited|synchronize_rcu|folio_wait_bit_common|do_task_dead)$/ {
    if (last != "") printf "  blocked in %-26s %5.1f ms until it blocked again\n", last, (ts - lastts) * 1000
    last = $2; lastts = ts; want = 0
  }
  END { if (last != "") printf "  then %s: ip ends\n", last }
' "$t/trace"
ip netns del a
ip netns del b
