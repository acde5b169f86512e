#!/usr/bin/env bash
# Runs CMD once and prints "WALL_SECONDS BUSY_SECONDS BATCHES": how long CMD took, and for how
# much of that time the kernel's one worker that tears network namespaces down (cleanup_net, on
# an ordered workqueue: one batch at a time) was running, in how many batches (begun while CMD
# ran). From the
# workqueue tracepoints, with perf. Run by hand, as root, inside bench/sandbox.sh (its mount
# namespace keeps the tracefs mount private); prints "unavailable" without perf or tracefs.
set -euo pipefail
t=/sys/kernel/tracing
if ! command -v perf >/dev/null || ! { [ -d "$t/events" ] || mount -t tracefs none "$t"; }; then
  echo unavailable
  exit 0
fi
data=$(mktemp)
marks=$(mktemp -d)
trap 'rm -rf "$data" "$marks"' EXIT
# CMD's start and end are marked in the trace itself, on perf's clock: the exec of a program
# named for each.
cp /bin/true "$marks/nslab-bench-start"
cp /bin/true "$marks/nslab-bench-end"
# shellcheck disable=SC2016
perf record -q -o "$data" -e workqueue:workqueue_execute_start -e workqueue:workqueue_execute_end \
  -e sched:sched_process_exec -a -- bash -c '"$1/nslab-bench-start"; "${@:2}" >/dev/null 2>&1 || true
    "$1/nslab-bench-end"' marker "$marks" "$@" >/dev/null 2>&1 || true
# A batch starts and ends on the same work struct; the time between is the worker's, counted up
# to CMD's end.
perf script -i "$data" -F time,event,trace 2>/dev/null | awk '
  { sub(":", "", $1) }
  /nslab-bench-start/ { s = $1 }
  /nslab-bench-end/ { e = $1 }
  s && !e && $NF == "cleanup_net" && /execute_start/ { start[$(NF - 2)] = $1; n++ }
  $NF == "cleanup_net" && /execute_end/ && ($(NF - 2) in start) {
    end = (e && $1 > e) ? e : $1
    busy += end - start[$(NF - 2)]
    delete start[$(NF - 2)]
  }
  END {
    for (w in start) busy += e - start[w]
    printf "%.3f %.3f %d\n", e - s, busy, n
  }'
