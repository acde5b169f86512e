#!/usr/bin/env bash
# The learn-mode latency benchmark: nslab learn runs in one tmux pane, a second pane types each
# step's commands as a student would. For every command it records when it started and ended
# (bash's $EPOCHREALTIME, no fork), and nslab records when each check turned true on screen
# (NSLAB_TRACE). Run inside bench/sandbox.sh; prints one line per command:
#   START END TICK COMMAND   (seconds; TICK is "-" when no check ticked for it)
# Usage: learn-latency.sh NSLAB ROUNDS LESSON...
set -euo pipefail
nslab=$1
rounds=$2
shift 2
work=$(mktemp -d)
sock=$work/sock
export HOME=$work LANG=C.UTF-8 NSLAB_TRACE=$work/trace
t() { tmux -S "$sock" "$@"; }

t -f /dev/null new-session -d -x 150 -y 50 -s b "sleep 100000"
t split-window -t b -h "bash --norc --noprofile"
sleep 0.3
log=$work/log
: >"$log"
n=0
run_line() { # types one command in the student's pane and waits until it has run
  n=$((n + 1))
  printf '%s\n' "$1" >>"$work/commands"
  t send-keys -t b:0.1 "printf 'S %s\\n' \$EPOCHREALTIME >>$log; $1; printf 'D %s\\n' \$EPOCHREALTIME >>$log; echo ok-$n" Enter
  until t capture-pane -p -t b:0.1 | grep -q "^ok-$n\$"; do sleep 0.02; done
  t send-keys -t b:0.1 clear Enter
  sleep 0.25 # a student's pace; lets learn draw before the next command
}

for _ in $(seq 1 "$rounds"); do
  for lesson in "$@"; do
    # Each round starts from a clean machine: what the previous round made would make checks
    # true before their commands, and their ticks meaningless.
    "$nslab" reset "$lesson" >/dev/null
    t respawn-pane -k -t b:0.0 "$nslab learn $lesson; sleep 100000"
    sleep 0.8
    # Each command with the number of its step (the "## " headings above its line).
    "$nslab" lint --commands "$lesson" 2>/dev/null | while IFS= read -r line; do
      at=${line#*:}
      at=${at%%:*}
      step=$(head -n "$at" "$lesson" | grep -c '^## ')
      # FILE:LINE: acts     native: CMD, or FILE:LINE: observes real   (why): CMD
      cmd=${line#*: }
      cmd=${cmd#acts }
      cmd=${cmd#observes }
      cmd=${cmd#"${cmd%%[! ]*}"}
      case $cmd in
      native:*) cmd=${cmd#native: } ;;
      *) cmd=${cmd#*): } ;;
      esac
      # Type it only once learn shows its step: a step that only asks the student to look
      # waits for Enter first.
      for _ in $(seq 1 100); do
        screen=$(t capture-pane -p -J -S -1000 -t b:0.0)
        shown=$(grep -o "Step [0-9]* of" <<<"$screen" | tail -n 1 | tr -dc 0-9)
        [ "${shown:-0}" -ge "$step" ] && break
        tail -n 5 <<<"$screen" | grep -q "Press Enter to go on" && t send-keys -t b:0.0 Enter
        sleep 0.05
      done
      run_line "$cmd"
    done
    # Observation steps wait for Enter: press it until the lesson says it is complete.
    for _ in $(seq 1 20); do
      t capture-pane -p -t b:0.0 -S -500 | grep -q "Lesson complete" && break
      t send-keys -t b:0.0 Enter
      sleep 0.3
    done
  done
done
t kill-server
python3 - "$log" "$work/trace" "$work/commands" <<'PY'
import sys
log = [l.split() for l in open(sys.argv[1])]
commands = [l.rstrip("\n") for l in open(sys.argv[3])]
ticks = sorted(int(l.split()[0]) / 1e9 for l in open(sys.argv[2])) if len(sys.argv) > 2 else []
cmds = []
for k, v in log:
    if k == "S":
        cmds.append([float(v), None])
    elif cmds:
        cmds[-1][1] = float(v)
for i, (s, e) in enumerate(cmds):
    nxt = cmds[i + 1][0] if i + 1 < len(cmds) else float("inf")
    mine = [x for x in ticks if s <= x < nxt]
    print(s, e, mine[0] if mine else "-", commands[i] if i < len(commands) else "?")
PY
