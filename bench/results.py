#!/usr/bin/env python3
"""Turns the hyperfine exports of bench/run.sh into bench/RESULTS.md (on standard output)."""
import json
import os
import platform
import subprocess
import sys

work = sys.argv[1]


def runs(name):
    """One hyperfine run's results (mean, user and system seconds...), in its commands' order."""
    with open(os.path.join(work, f"{name}.json")) as f:
        return json.load(f)["results"]


def load(name):
    """The mean wall times, in seconds, of one hyperfine run's commands, in their order."""
    return [r["mean"] for r in runs(name)]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def ms(s):
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.2f} s"


out = []
p = out.append
p("# Benchmark results")
p("")
p("Written by `bench/run.sh`, which runs every benchmark with hyperfine in one go. Each ratio compares")
p("nslab with its peer measured in the same run, on the same machine.")
p("")
p(f"- machine: {cpu()}, {os.cpu_count()} cores, {int(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB")
p(f"- system: {sh('. /etc/os-release && echo $PRETTY_NAME')}, kernel {platform.release()}, {sh('ip -V')}")
p(f"- nslab: commit {sh('git rev-parse --short HEAD')}, release build")
p("")

means = load("veth")
p("## (a) The veth lab: `nslab verify` against a shell script")
p("")
p("nslab performs every command and checks every step before and after it. The script runs the same")
p("commands with `ip -n NS` and `ping -c 1 -W 1` and checks nothing, in `unshare --net --mount` with a private")
p("tmpfs for /run/netns (`bench/sandbox.sh --light`); nslab verify makes its own sandbox, which also has a pid")
p("namespace.")
p("")
p("| | mean | ratio to the script |")
p("|---|---|---|")
p(f"| `nslab verify lessons/02-veth.md` | {ms(means[0])} | **{means[0] / means[1]:.2f}** |")
p(f"| `bash bench/veth-lab.sh` | {ms(means[1])} | 1 |")
p("")
move_ms, teardown_ms, cheap_ms = (float(x) for x in open(os.path.join(work, "kernel-costs.txt")).read().split())
wait_ms = move_ms - cheap_ms
rounds = [tuple(float(x) for x in line.split()) for line in open(os.path.join(work, "floor.txt")) if line.strip()]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


lab_ms = median([r[0] for r in rounds])
floor_ms = median([r[1] for r in rounds])
bare_ms = median([r[2] for r in rounds])
batch_ms = median([r[3] for r in rounds])
ratio_floor = lab_ms / floor_ms
p(f"Goal: nslab at most 1.15 times the lab's kernel floor, the waits no tool can avoid while it checks every step,")
p(f"timed in the same run. Measured in {len(rounds)} rounds (`bench/floor.sh`): each round times one")
p("`nslab verify lessons/02-veth.md`, one round of the floor (`bench/floor-round.sh`: the two moves and the")
p("teardown, each timed around its own `ip` call, less the time it takes to start `ip`) and one run of the")
p("lab's commands through `ip -batch` (`bench/veth-lab-batch.sh`), each after half a second of quiet, so that")
p("the kernel's teardown of the previous run's namespaces does not land in the next measurement.")
p("")
p("| | median | ratio to the floor |")
p("|---|---|---|")
p(f"| `nslab verify lessons/02-veth.md` (checks every step before and after, in its jail) | {lab_ms:.1f} ms | **{ratio_floor:.2f}** |")
p(f"| the lab's commands through `ip -batch`, checking nothing, no jail (`bench/veth-lab-batch.sh`) | {batch_ms:.1f} ms | {batch_ms / floor_ms:.2f} |")
p(f"| the floor: two moves and one teardown | {floor_ms:.1f} ms | 1 |")
p("")
p(f"**{ratio_floor:.2f}**: " + ("the goal is met." if ratio_floor <= 1.15 else "**the goal is not met.**")
  + f" (Median of the rounds' own ratios: {median([r[0] / r[1] for r in rounds]):.2f}.)")
p("The goal cannot be met by any tool that performs the lab's commands: performing them alone, the cheapest")
p(f"way iproute2 offers (a dozen processes, no check, no jail), takes {batch_ms / floor_ms:.2f} times the floor. The rest")
p("of the lab (three namespaces, two veth pairs, six links up, four addresses, four pings) is kernel work")
p("beyond the waits, and every tool pays for starting. nslab against that batch: "
  f"**{lab_ms / batch_ms:.2f}**, with every check and its jail.")
p("(The script's ratio in the table above is for information: the script checks nothing, and it does not")
p("wait for the teardown that step 7 checks.) The floor:")
p("")
p(f"- Moving a veth end into another namespace: {move_ms:.1f} ms (median, timed around one `ip link set ... netns`")
p(f"  in the same run), of which {cheap_ms:.1f} ms is starting `ip` (a cheap `ip link set ... mtu` takes that long). The rest,")
p(f"  {wait_ms:.1f} ms, is the kernel waiting: `__dev_change_net_namespace` calls `rcu_barrier()`, which waits")
p("  for an RCU grace period. `bench/trace-move.sh` shows it from the kernel stacks of the blocked `ip`")
p("  (the `sched_switch` tracepoint's `stacktrace` trigger), after 3 s of idle, in this run:")
p("")
p("  ```")
for line in open(os.path.join(work, "trace-move.txt")).read().splitlines():
    p("  " + line)
p("  ```")
p("")
p("  The lab makes two moves.")
p(f"- Deleting blue, which holds a veth end, until the peer is gone from red, right after reading blue's")
p("  neighbour table as step 6's check does. The kernel's cleanup worker destroys the namespace's links")
p("  after `ip netns del` returns, and step 7's check (veth1 vanishes with blue) has to wait for it. It")
p("  cannot begin while a socket holds blue, and the netlink socket of that read holds it for one more RCU")
p("  grace period after it is closed: `netlink_release` frees it with `call_rcu`, and only the free lets go")
p(f"  of the namespace. In these rounds the same teardown with nothing read before it took {bare_ms:.1f} ms (median).")
p("  A read of blue with `ip -n blue neigh show` makes it wait 15 to 20 ms more; the same read 30 ms earlier,")
p("  or entering blue with `ip netns exec blue true` (no socket), adds nothing. A tool that checks step 6")
p("  reads blue just before step 7 deletes it.")
p("")
p(f"Together, in the rounds above: {floor_ms:.0f} ms of kernel waiting in every verification of this lesson, which no")
p("user-space tool can avoid without leaving out the checks of what the lesson teaches. (The single")
p(f"measurements of the list above, taken one after the other without a pause, add up to {2 * wait_ms + teardown_ms:.0f} ms without the read: how")
p("long the kernel waits depends on what else it has still to finish.)")
p("")
shipped = load("shipped")
mut = load("mutate")
p("## (c) Every shipped lesson, verified and mutated")
p("")
p("| | mean | ratio | goal |")
p("|---|---|---|---|")
p(f"| `nslab verify lessons/` against `bash bench/veth-lab.sh` | {ms(shipped[0])} against {ms(shipped[1])} | **{shipped[0] / shipped[1]:.2f}** | at most 6 |")
p(f"| `nslab verify --mutate lessons/` against `nslab verify lessons/` | {ms(mut[0])} against {ms(mut[1])} | **{mut[0] / mut[1]:.2f}** | at most 8 |")
p("")
mutants = json.load(open(os.path.join(work, "mutants.json")))["mutants"]
in_run = [m for m in mutants if m["in_lesson_run"]]
chained = [m for m in mutants if m["shared_jail"]]
report_jails = json.load(open(os.path.join(work, "mutants.json")))["jails"]
p(f"Lessons verified in parallel, one jail each, on {os.cpu_count()} cores; `--mutate` verifies each lesson once, then")
p("each mutant (a lesson with one command line left out) up to the step of that line, on every core.")
p(f"{len(in_run)} of the {len(mutants)} mutants, each without the last line of a step that acts (only `ip` listings after it),")
p("are judged in their lesson's own run, just before that line, with no jail of their own; "
  f"{len(chained)} more share a jail with mutants of other steps of their lesson, each step caught up with the lesson")
p(f"and compared with the state its own run left (see docs/verify-report.md). That run started {report_jails} jails.")
own = [m for m in mutants if not m["in_lesson_run"] and not m["shared_jail"]]
longest = max(own, key=lambda m: m["duration_ms"])
total = sum(m["duration_ms"] for m in own)
p(f"In one more `--mutate` run, the {len(own)} mutants in jails of their own took {total / 1000:.1f} s together; the longest, {longest['duration_ms'] / 1000:.2f} s,")
p(f"leaves out line {longest['line']} of {longest['file']} (`{longest['command']}`): {longest['how']}.")
p("No run can end before its longest mutant.")
p("")
jails = len([f for f in os.listdir(os.path.join(work, "jails")) if f.endswith(".md")])
wall, held = (float(x) for x in open(os.path.join(work, "rtnl.txt")).read().split())
p("Where a mutation run's time goes, measured in the same run:")
p("")
p("| | mean | `--mutate` against it |")
p("|---|---|---|")
p(f"| the same {len(mutants)} mutants as plain shell scripts, {4 * os.cpu_count()} at once (`bench/mutant-scripts.sh`: no check, no jail) | {ms(mut[2])} | {mut[0] / mut[2]:.2f} |")
p(f"| {jails} jails with next to nothing in them (`nslab verify` of {jails} one-sysctl lessons) | {ms(mut[3])} | {mut[0] / mut[3]:.2f} |")
p("")
p("A script runs its mutant's lines with the real programs (`ip` once per line, pings with nslab's 200 ms")
p("bound and no pause between echoes) and checks nothing. The shared resource is the kernel's RTNL lock,")
p("which every change of a link, an address or a namespace takes: `bench/rtnl-busy.sh` samples it from a")
p(f"namespace of its own about once a millisecond. In one more `--mutate` run ({wall:.2f} s), another task held it")
p(f"for {held:.2f} s (a lower bound), most of it in `rcu_barrier()`, which the kernel calls under RTNL for every")
p("bridge a jail's teardown destroys and for every veth move. The goal's budget is")
p(f"8 × {ms(mut[1])} = {8 * mut[1]:.2f} s.")
p("")
cleanup = [open(os.path.join(work, f"cleanup-{k}.txt")).read().split() for k in ("mutate", "plain", "jails")]
if any(len(c) != 3 for c in cleanup):
    # Without perf or tracefs (bench/netns-cleanup.sh says "unavailable").
    cleanup = [["nan", "nan", "?"]] * 3
(cw, cb, cn), (pw, pb, pn), (jw, jb, jn) = cleanup
p("The kernel tears a network namespace down after its last user is gone, in one worker (`cleanup_net`, on an")
p("ordered workqueue: one batch of namespaces at a time, each batch waiting for RCU grace periods, each bridge")
p("in it for one more `rcu_barrier()`). Every jail ends with two namespaces of its own and those its lesson")
p("made. `bench/netns-cleanup.sh` times that worker from the kernel's workqueue tracepoints:")
p("")
p("| | run | the teardown worker busy | batches |")
p("|---|---|---|---|")
p(f"| `nslab verify --mutate lessons/` | {float(cw):.2f} s | {float(cb):.2f} s ({100 * float(cb) / float(cw):.0f}%) | {cn} |")
p(f"| `nslab verify lessons/` | {float(pw):.2f} s | {float(pb):.2f} s ({100 * float(pb) / float(pw):.0f}%) | {pn} |")
p(f"| the {jails} jails with next to nothing in them (above) | {float(jw):.2f} s | {float(jb):.2f} s ({100 * float(jb) / float(jw):.0f}%) | {jn} |")
p("")
p("During a mutation run the worker is hardly ever idle: the run goes as fast as the kernel destroys its")
p("jails' namespaces, and a lesson step that waits for a teardown (a veth end gone with its namespace) waits")
p("behind the other jails' teardowns. More jobs do not make it faster; fewer namespaces and bridges to")
p("destroy would, which is why mutants are judged in their lesson's run, or share jails, where that is exact.")
p(f"The worker's time alone, {float(cb):.2f} s, is " + ("more" if float(cb) > 8 * mut[1] else "less")
  + f" than the goal's budget of {8 * mut[1]:.2f} s. Of it, the jails' own namespaces (two per jail) take")
p(f"some {float(jb):.2f} s (the empty jails' run); the rest, {float(cb) - float(jb):.2f} s, is the namespaces, links and bridges that")
p("the lessons' steps make, and that each jail makes again up to its last mutant's step.")
p("")
p("## (b) A star of N namespaces on one bridge")
p("")
p("A bridge with an address, N namespaces, N veth pairs (one end in each namespace, the other a port")
p("of the bridge), every link up, an address in each namespace, and, with pings, every namespace")
p("pinging the bridge. nslab verifies a generated lesson (`bench/star.sh lesson N`), which checks every")
p("step before and after; the peers only run commands.")
p("")
p("| N | pings | nslab verify | bash loop | ip -batch | nslab / ip -batch | nslab / loop | nslab per namespace | user CPU per namespace: nslab | ip -batch |")
p("|---|---|---|---|---|---|---|---|---|---|")
cpu = {}
for name, n, pings in [("star-50", 50, "yes"), ("star-200", 200, "yes"), ("star-50-noping", 50, "no"), ("star-200-noping", 200, "no"), ("star-1000-noping", 1000, "no")]:
    r = runs(name)
    m = [x["mean"] for x in r]
    us = [x["user"] / n * 1e6 for x in r]
    cpu[(n, pings)] = us
    p(f"| {n} | {pings} | {ms(m[0])} | {ms(m[1])} | {ms(m[2])} | **{m[0] / m[2]:.2f}** | {m[0] / m[1]:.2f} | {m[0] / n * 1000:.2f} ms | {us[0]:.0f} µs | {us[2]:.0f} µs |")
p("")
per = [cpu[(n, "no")][0] for n in (50, 200, 1000)]
faster = all(r["mean"] < runs(name)[2]["mean"] for name in ["star-50", "star-200", "star-50-noping", "star-200-noping", "star-1000-noping"] for r in runs(name)[:1])
p("Goal: nslab faster than `ip -batch` at every N, growing linearly. " + ("nslab is faster at every N." if faster else "**nslab is NOT faster at every N.**"))
p(f"Its own work, the CPU time it spends in user space, per namespace: {per[0]:.0f} µs at N = 50, {per[1]:.0f} µs at")
p(f"200, {per[2]:.0f} µs at 1000 (without pings). The wall time per namespace grows with N for all three tools, and that part is")
p("the kernel's. A perf profile of nslab at N = 1000 puts its system time in `br_add_if` (adding a port to a")
p("bridge that has N already) and in `idr_for_each` under `peernet2id` (each veth end dumped from the root")
p("namespace looks its peer's namespace id up among N). `ip -batch` grows too, also with IPv6 off in every namespace (tried once by hand).")
p("")
p("Above about 500 namespaces the pings cannot all succeed for any of the three: the kernel's neighbour")
p("table holds 1024 entries for the whole machine (`net.ipv4.neigh.default.gc_thresh3`, settable only on")
p("the host), and each ping adds two. So N = 1000 is measured without pings.")
p("")
m = load("netns")
p("## The kernel layer")
p("")
p("| | mean | per namespace | ratio |")
p("|---|---|---|---|")
p(f"| `nslab verify` of 200 `ip netns add` lines (each checked before and after) | {ms(m[0])} | {m[0] / 200 * 1000:.2f} ms | **{m[0] / m[1]:.2f}** |")
p(f"| a bash loop of 200 `ip netns add` | {ms(m[1])} | {m[1] / 200 * 1000:.2f} ms | 1 |")
p("")
rep = json.load(open(os.path.join(work, "ping-report.json")))
pings = sorted(st["duration_ms"] for st in rep["lessons"][0]["steps"] if st["title"].startswith("Ping"))
ok = len(pings) == 200 and all(st["status"] == "passed" for st in rep["lessons"][0]["steps"] if st["title"].startswith("Ping"))
p(f"Ping checks: {len(pings)} steps of one `ping` check each on a veth ({'all passed' if ok else 'SOME FAILED'}). A step's time,")
p(f"which is one check's: median **{pings[len(pings) // 2]:.3f} ms**, 95th percentile {pings[int(len(pings) * 0.95)]:.3f} ms, first {rep['lessons'][0]['steps'][3]['duration_ms']:.3f} ms")
p("(the first echo on a fresh veth includes ARP). Goal: under 2 ms a check.")

lat = []
worst = (0.0, "")
for line in open(os.path.join(work, "latency.txt")):
    start, end, tick, command = line.rstrip("\n").split(" ", 3)
    if tick != "-":
        # A check can tick before the command has even returned (the kernel's event comes first).
        ms_ = max(0.0, float(tick) - float(end)) * 1000
        lat.append(ms_)
        worst = max(worst, (ms_, command))
lat.sort()


def pct(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))]


p("")
p("## learn: from a command to its tick on screen")
p("")
p("`bench/learn-latency.sh` drives `nslab learn` in one tmux pane and types the veth, bridges and routing")
p("lessons' commands from a second pane, as a student would. For each command that made a check tick, the")
p("time from the command's end (bash's `$EPOCHREALTIME`) to the moment nslab drew the tick (`NSLAB_TRACE`).")
p("")
if lat:
    p(f"| commands | median | 95th percentile | worst |")
    p("|---|---|---|---|")
    p(f"| {len(lat)} | **{pct(0.5):.1f} ms** | **{pct(0.95):.1f} ms** | {lat[-1]:.1f} ms |")
    p("")
    p(f"The slowest: `{worst[1]}`.")
    p("")
    p("Goal: median at most 50 ms, 95th percentile at most 200 ms. A hosted lab platform that verifies only")
    p("when the student presses a Check button has no such number: its latency is the student's.")
p("")
p("## learn at rest")
p("")
p("`bench/learn-idle.sh` leaves `nslab learn` alone in a tmux pane and reads its CPU time from /proc:")
p("")
p("| the step shown | CPU time | of one core |")
p("|---|---|---|")
for line in open(os.path.join(work, "idle.txt")):
    step, cpu_ms, secs = line.split()
    what = "its checks already hold" if step == "1" else "still open"
    p(f"| veth lab step {step}, {what} | {cpu_ms} ms in {secs} s | {int(cpu_ms) / int(secs) / 10:.2f}% |")
p("")
p("learn sleeps until the kernel tells it of a change, a key comes, or the terminal is resized. An open")
p("step is looked at on a clock all the same: once a second when the kernel announces every change its")
p("checks depend on (links, IPv4 addresses and routes, neighbours, forwarding, namespaces), ten times a")
p("second otherwise (pings, processes, IPv6, other sysctls).")
print("\n".join(out))
