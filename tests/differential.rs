//! The iproute2 differential test: nslab must leave exactly what `ip` leaves.
//!
//! For every case of tests/iproute2/corpus.txt, two fresh sandboxes run the same setup with the
//! real iproute2. Then side `ip` runs the case's lines with the real program (`/bin/sh -c`) and
//! side `nslab` runs them through nslab's parser and engine. Both sides dump every namespace with
//! `ip -j -d` (policy rules of both families included) and `bridge -j -d`, and the dumps must be
//! equal once what legitimately differs between two runs is normalised away
//! (tests/iproute2/normalise.rs). Every `[reject]` line must
//! be refused by the real iproute2 with the corpus's message, and must not be performed by
//! nslab as a native line that succeeds.
//!
//! Each sandbox is a child process: this binary again, with the job in `NSLAB_DIFF_JOB`. It
//! enters nslab's sandbox (own network, mount and pid namespaces, tmpfs on /run/netns and /tmp)
//! before any thread exists. `NSLAB_DIFF_ONLY=SUBSTRING` runs only the cases whose name contains
//! it (or whose header is on that line of the corpus); `NSLAB_DIFF_JOBS=N` sets how many
//! sandboxes run at once; `NSLAB_DIFF_SHOW=1` prints what each case is compared on.
//!
//! The parts, in tests/iproute2/: corpus.rs reads the corpus, side.rs is one side inside its
//! sandbox, state.rs dumps a sandbox until it settles, normalise.rs replaces what differs
//! between two runs, diff.rs words a difference, verdict.rs judges a case and reports.

#[path = "iproute2/corpus.rs"]
mod corpus;
#[path = "iproute2/diff.rs"]
mod diff;
#[path = "iproute2/normalise.rs"]
mod normalise;
#[path = "iproute2/side.rs"]
mod side;
#[path = "iproute2/state.rs"]
mod state;
#[path = "iproute2/verdict.rs"]
mod verdict;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nslab::engine::{Engine, Pace};
use nslab::kernel::{Kernel, sandbox};
use nslab::lesson::CommandLine;
use nslab::lesson::grammar as command;
use serde::{Deserialize, Serialize};

use corpus::Case;
use side::{JOB_ENV, Job, Outcome, RESULT_MARK, Side};
use verdict::{Report, Verdict, judge_accept, pair};

// ---------------------------------------------------------------------------------------------
// nslab's side. Only these two functions know nslab's API: when the grammar or the engine
// changes, they are what changes.

/// How nslab performed a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Mode {
    /// Natively, over netlink and system calls.
    Native,
    /// Sent to the real program (`/bin/sh -c` in the right namespace).
    Program,
}

/// Why nslab did not perform a line.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Refusal {
    /// The parser refused the line.
    Parse(String),
    /// nslab performed it, and it failed.
    Failed { mode: Mode, message: String },
}

/// nslab's engine in the sandbox's root namespace, as `nslab verify` builds it.
fn nslab_engine() -> Result<Engine, String> {
    let kernel = Kernel::new().map_err(|e| format!("nslab's kernel: {e}"))?;
    Ok(Engine::new(kernel, Pace::Fast))
}

/// Performs one line as a lesson's `sh` block would: parsed by nslab's grammar, then performed
/// by its engine, natively or through the real program.
fn perform_with_nslab(engine: &mut Engine, line: &str) -> Result<Mode, Refusal> {
    let parsed = command::parse(line)
        .map_err(|e| Refusal::Parse(format!("column {}: {}", e.offset + 1, e.message)))?;
    let mode = if parsed.is_native() {
        Mode::Native
    } else {
        Mode::Program
    };
    let performed = engine.perform(&CommandLine {
        text: line.to_string(),
        offset: 0,
        line: 1,
        observe: parsed.observes(),
        expect_failure: false,
        command: parsed,
    });
    if performed.ok {
        Ok(mode)
    } else {
        Err(Refusal::Failed {
            mode,
            message: performed.error.unwrap_or_else(|| "failed".into()),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: runs every side of every case in its own sandbox, a few at a time.

/// A side that takes longer than this is stuck (a line that never ends): it is killed.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn spawn(job: &Job) -> Result<Outcome, String> {
    let json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("my own binary: {e}"))?;
    let (k, v) = sandbox::parent_env();
    let mut child = Command::new(exe)
        .env(JOB_ENV, json)
        .env(k, v)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start a sandbox: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + JOB_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() > deadline => {
                // The sandbox's pid 1 dies with this child, and every process inside with it.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait for a sandbox: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!(
            "killed after {} s (a line that never ends?)",
            JOB_TIMEOUT.as_secs()
        ));
    };
    match out.lines().find_map(|l| l.strip_prefix(RESULT_MARK)) {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("its outcome: {e}")),
        None => Err(format!(
            "the sandbox ended ({status}) without an outcome: {}",
            err.trim()
        )),
    }
}

/// Runs the jobs, `jobs` at a time; the outcomes come back in the jobs' order.
fn run_all(todo: &[Job], jobs: usize) -> Vec<Result<Outcome, String>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome, String>>>> = Mutex::new(vec![None; todo.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = todo.get(i) else { break };
                    let r = spawn(job);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("never ran".into())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Canaries: pairs of line sets, both run with the real iproute2, whose verdict is known. They
// prove the comparison is not blind (a broadcast address, a route protocol, a peer's namespace,
// a policy rule of either family that differ are seen) and that it does not see ghosts (random
// MACs, link-local addresses and a bridge's choice of MAC compare equal).

const CANARIES: &str = "
[case] canary: a broadcast address differs
setup ip link add v0 type veth peer name v1
run   ip addr add 10.9.0.1/24 dev v0

[case] canary: a route protocol differs
setup ip link add v0 type veth peer name v1
setup ip link set v0 up
run   ip route add 10.8.0.0/24 dev v0

[case] canary: a peer's namespace differs
setup ip netns add a
setup ip netns add b
run   ip link add v0 type veth peer name v1 netns a

[case] canary: a policy rule's table differs
run   ip rule add from 10.7.0.0/16 lookup 10 pref 100

[case] canary: an IPv6 policy rule's preference differs
run   ip -6 rule add from 2001:db8:7::/48 lookup 10 pref 100

[case] canary: random addresses compare equal
setup ip netns add a
run   ip link add br0 type bridge
run   ip link add u1 type veth peer name p1 netns a
run   ip link add u2 type veth peer name p2 netns a
run   ip link set u1 master br0
run   ip link set u2 master br0
run   ip link set br0 up
run   ip link set u1 up
run   ip link set u2 up
run   ip -n a link set p1 up
run   ip -n a link set p2 up
";

/// The other side's lines for each canary, and whether the states must differ.
fn canary_other(name: &str) -> Option<(Vec<String>, bool)> {
    let v = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    Some(match name {
        "canary: a broadcast address differs" => {
            (v(&["ip addr add 10.9.0.1/24 brd + dev v0"]), true)
        }
        "canary: a route protocol differs" => {
            (v(&["ip route add 10.8.0.0/24 dev v0 proto static"]), true)
        }
        "canary: a peer's namespace differs" => {
            (v(&["ip link add v0 type veth peer name v1 netns b"]), true)
        }
        "canary: a policy rule's table differs" => (
            v(&["ip rule add from 10.7.0.0/16 lookup 11 pref 100"]),
            true,
        ),
        "canary: an IPv6 policy rule's preference differs" => (
            v(&["ip -6 rule add from 2001:db8:7::/48 lookup 10 pref 101"]),
            true,
        ),
        "canary: random addresses compare equal" => return None,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------

/// The corpus, filtered by `NSLAB_DIFF_ONLY`.
fn load_cases(path: &str, only: Option<&str>) -> Result<Vec<Case>, Vec<String>> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{path}: {e}")])?;
    let cases = corpus::parse(&text).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| format!("{path}:{}:{}: error: {}", e.line, e.col, e.message))
            .collect::<Vec<_>>()
    })?;
    Ok(cases
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.name.contains(o) || c.line.to_string() == o))
        .collect())
}

/// Both sides of every case, then both sides of every canary.
fn jobs_for(cases: &[Case], canaries: &[Case]) -> Vec<Job> {
    let mut todo = Vec::new();
    for case in cases {
        for side in [Side::Ip, Side::Nslab] {
            todo.push(Job {
                case: case.clone(),
                side,
                other_lines: None,
            });
        }
    }
    for case in canaries {
        let other = canary_other(&case.name)
            .map(|(lines, _)| lines)
            .unwrap_or_else(|| case.run.iter().map(|l| l.text.clone()).collect());
        for side in [Side::Ip, Side::Nslab] {
            todo.push(Job {
                case: case.clone(),
                side,
                other_lines: Some(other.clone()),
            });
        }
    }
    todo
}

/// Whether canary `i` (after the cases) came out as it must.
fn canary_holds(case: &Case, outcome: Result<(&Outcome, &Outcome), String>) -> bool {
    let must_differ = canary_other(&case.name).is_some_and(|(_, d)| d);
    let got = match outcome {
        Err(e) => Verdict::Broken(e),
        Ok((a, b)) => judge_accept(a, b),
    };
    let held = matches!(
        (&got, must_differ),
        (Verdict::Differs(_), true) | (Verdict::Same { .. }, false)
    );
    if !held {
        println!("canary {:?}: unexpected verdict {got:?}", case.name);
    }
    held
}

fn main() {
    // nslab runs shell lines through a helper, which is this binary again (see nslab::cli).
    if std::env::args().nth(1).is_some_and(|a| a.starts_with("__")) {
        std::process::exit(nslab::cli::main());
    }
    if let Ok(job) = std::env::var(JOB_ENV) {
        side::child(&job);
    }
    let started = Instant::now();
    if let Err(e) = corpus::self_check() {
        println!("the corpus parser fails its own check: {e}");
        std::process::exit(1);
    }
    if let Err(e) = normalise::self_check() {
        println!("the normaliser fails its own check: {e}");
        std::process::exit(1);
    }
    let path = "tests/iproute2/corpus.txt";
    let only = std::env::var("NSLAB_DIFF_ONLY").ok();
    // Prints side ip's normalised state under each case: what a new case is compared on.
    let show = std::env::var_os("NSLAB_DIFF_SHOW").is_some();
    let jobs: usize = std::env::var("NSLAB_DIFF_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(8);
    let cases = match load_cases(path, only.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                println!("{e}");
            }
            std::process::exit(1);
        }
    };
    // A selection is for working on a few cases: the canaries run with the whole corpus.
    let canaries = match only {
        Some(_) => Vec::new(),
        None => corpus::parse(CANARIES).unwrap_or_else(|e| {
            println!("the canaries do not parse: {e:?}");
            std::process::exit(1);
        }),
    };

    let outcomes = run_all(&jobs_for(&cases, &canaries), jobs);
    let mut report = Report::default();
    for (i, case) in cases.iter().enumerate() {
        report.case(path, case, pair(&outcomes, i), show);
    }
    let canary_failures = canaries
        .iter()
        .enumerate()
        .filter(|(j, case)| !canary_holds(case, pair(&outcomes, cases.len() + j)))
        .count();

    println!();
    println!(
        "differential: {} cases ({} accept, {} reject) in {:.1} s",
        cases.len(),
        cases.iter().filter(|c| !c.is_reject()).count(),
        cases.iter().filter(|c| c.is_reject()).count(),
        started.elapsed().as_secs_f64()
    );
    for (class, n) in &report.tally {
        println!("  {n:>4}  {class}");
    }
    let lines: Vec<String> = report
        .lines
        .iter()
        .map(|(how, n)| format!("{n} {how}"))
        .collect();
    println!("  run lines of the [case]s: {}", lines.join("; "));
    if !canaries.is_empty() {
        println!(
            "  canaries: {} of {} as expected",
            canaries.len() - canary_failures,
            canaries.len()
        );
    }
    let bad = report.failed + canary_failures;
    println!("{} passed, {bad} failed", cases.len() - report.failed);
    std::process::exit(if bad == 0 { 0 } else { 1 });
}
