//! The iproute2 differential test: nslab must leave exactly what `ip` leaves.
//!
//! For every case of tests/iproute2/corpus.txt, two fresh sandboxes run the same setup with the
//! real iproute2. Then side `ip` runs the case's lines with the real program (`/bin/sh -c`) and
//! side `nslab` runs them through nslab's parser and engine. Both sides dump every namespace with
//! `ip -j -d` and `bridge -j -d`, and the dumps must be equal once what legitimately differs
//! between two runs is normalised away (tests/iproute2/normalise.rs). Every `[reject]` line must
//! be refused by the real iproute2 with the corpus's message, and must not be performed by
//! nslab as a native line that succeeds.
//!
//! Each sandbox is a child process: this binary again, with the job in `NSLAB_DIFF_JOB`. It
//! enters nslab's sandbox (own network, mount and pid namespaces, tmpfs on /run/netns and /tmp)
//! before any thread exists. `NSLAB_DIFF_ONLY=SUBSTRING` runs only the cases whose name contains
//! it (or whose header is on that line of the corpus); `NSLAB_DIFF_JOBS=N` sets how many
//! sandboxes run at once; `NSLAB_DIFF_SHOW=1` prints what each case is compared on.

#[path = "iproute2/corpus.rs"]
mod corpus;
#[path = "iproute2/diff.rs"]
mod diff;
#[path = "iproute2/normalise.rs"]
mod normalise;
#[path = "iproute2/state.rs"]
mod state;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nslab::engine::{Engine, Pace};
use nslab::kernel::{Kernel, sandbox};
use nslab::lesson::CommandLine;
use nslab::lesson::command;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use corpus::{Case, Kind};

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
// One side of one case, inside its sandbox.

const JOB_ENV: &str = "NSLAB_DIFF_JOB";
const RESULT_MARK: &str = "nslab-differential-result: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Side {
    /// The real iproute2 runs the lines.
    Ip,
    /// nslab runs the lines (or, for a canary, the real iproute2 runs other lines).
    Nslab,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    case: Case,
    side: Side,
    /// Canaries only: the lines side `nslab` runs with the real program instead.
    other_lines: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Performed {
    /// By the real program: its exit status (-1: killed) and the first line of its stderr.
    Real {
        status: i32,
        stderr: String,
    },
    Nslab(Result<Mode, Refusal>),
}

impl Performed {
    fn ok(&self) -> bool {
        match self {
            Performed::Real { status, .. } => *status == 0,
            Performed::Nslab(r) => r.is_ok(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LineOutcome {
    text: String,
    performed: Performed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Outcome {
    /// A setup line failed: the corpus must change.
    setup_error: Option<String>,
    lines: Vec<LineOutcome>,
    /// The normalised state, when every line succeeded.
    dump: Option<BTreeMap<String, Value>>,
    /// The state never stopped changing.
    unsettled: Option<String>,
}

/// A memory file for a command's output: a background child that keeps a pipe open (`sleep &`
/// in a setup line) would keep a reader waiting forever.
fn capture() -> std::io::Result<File> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    Ok(File::from(
        memfd_create("differential", MFdFlags::MFD_CLOEXEC).map_err(std::io::Error::from)?,
    ))
}

/// Runs a line with `/bin/sh -c`, as a user's shell would.
fn real(line: &str) -> Performed {
    let run = || -> std::io::Result<(i32, String)> {
        let out = capture()?;
        let mut err = capture()?;
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err.try_clone()?)
            .status()?;
        let mut text = String::new();
        err.seek(SeekFrom::Start(0))?;
        err.read_to_string(&mut text)?;
        let first = text.lines().next().unwrap_or("").trim().to_string();
        Ok((status.code().unwrap_or(-1), first))
    };
    match run() {
        Ok((status, stderr)) => Performed::Real { status, stderr },
        Err(e) => Performed::Real {
            status: -1,
            stderr: format!("could not run /bin/sh: {e}"),
        },
    }
}

fn run_job(job: &Job) -> Outcome {
    let mut o = Outcome::default();
    // On a real machine root's loopback is up; a new network namespace starts with it down.
    let setup = std::iter::once(("ip link set lo up".to_string(), 0))
        .chain(job.case.setup.iter().map(|s| (s.text.clone(), s.line)));
    for (text, line) in setup {
        if let Performed::Real { status, stderr } = real(&text)
            && status != 0
        {
            o.setup_error = Some(format!(
                "corpus line {line}: setup `{text}` exits {status}: {stderr}"
            ));
            return o;
        }
    }
    let lines: Vec<String> = match (&job.side, &job.other_lines) {
        (Side::Nslab, Some(other)) => other.clone(),
        _ => job.case.run.iter().map(|l| l.text.clone()).collect(),
    };
    let mut engine = None;
    for text in lines {
        let performed = if job.side == Side::Ip || job.other_lines.is_some() {
            real(&text)
        } else {
            if engine.is_none() {
                match nslab_engine() {
                    Ok(e) => engine = Some(e),
                    Err(e) => {
                        o.setup_error = Some(e);
                        return o;
                    }
                }
            }
            let Some(e) = engine.as_mut() else {
                return o;
            };
            Performed::Nslab(perform_with_nslab(e, &text))
        };
        let ok = performed.ok();
        o.lines.push(LineOutcome { text, performed });
        if !ok {
            return o;
        }
    }
    if job.case.is_reject() {
        return o;
    }
    match state::settle(&normalise::Context::of(&job.case)) {
        Ok(dump) => o.dump = Some(dump),
        Err((dump, why)) => {
            o.dump = Some(dump);
            o.unsettled = Some(why);
        }
    }
    o
}

/// The child: enters a sandbox, runs one side of one case, prints the outcome.
fn child(job: &str) -> ! {
    if !sandbox::is_inner() {
        sandbox::die_with_parent();
        match sandbox::respawn_inside(None, &[]) {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("cannot enter the sandbox: {e}");
                std::process::exit(3);
            }
        }
    }
    if let Some(w) = sandbox::inside() {
        eprintln!("warning: {w}");
    }
    let job: Job = match serde_json::from_str(job) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("bad job: {e}");
            std::process::exit(2);
        }
    };
    let outcome = run_job(&job);
    match serde_json::to_string(&outcome) {
        Ok(json) => println!("{RESULT_MARK}{json}"),
        Err(e) => eprintln!("cannot write the outcome: {e}"),
    }
    std::process::exit(0)
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
// Verdicts.

#[derive(Debug)]
enum Verdict {
    /// Identical: how many lines nslab performed natively and sent to the real program.
    Same { native: usize, program: usize },
    /// The corpus is wrong: iproute2 refused a line, or a setup failed.
    Corpus(String),
    /// nslab's parser refused a line iproute2 accepts.
    Rejected(String),
    /// nslab performed a line and it failed.
    Failed(String),
    /// The states differ.
    Differs(Vec<String>),
    /// A side never settled, or its sandbox broke.
    Broken(String),
    /// A reject case held: iproute2 refused the line, and nslab did not perform it natively.
    Refused(String),
    /// nslab performed a line iproute2 refuses, and it succeeded.
    Accepted(Mode),
}

impl Verdict {
    fn passed(&self) -> bool {
        matches!(self, Verdict::Same { .. } | Verdict::Refused(_))
    }

    /// The word on the case's line of the report.
    fn word(&self) -> &'static str {
        match self {
            Verdict::Same { .. } => "same",
            Verdict::Refused(_) => "refused",
            Verdict::Corpus(_) => "CORPUS",
            Verdict::Rejected(_) => "REJECTED",
            Verdict::Failed(_) => "FAILED",
            Verdict::Differs(_) => "DIFFERS",
            Verdict::Broken(_) => "BROKEN",
            Verdict::Accepted(_) => "ACCEPTED",
        }
    }

    /// The summary's line this case counts in. A case whose every line nslab sent to the real
    /// program matches trivially: it is counted apart, so that a fallback reads as one.
    fn class(&self) -> &'static str {
        match self {
            Verdict::Same { program: 0, .. } => "identical, performed natively",
            Verdict::Same { native: 0, .. } => {
                "identical because nslab sent every line to the real program"
            }
            Verdict::Same { .. } => "identical, some lines sent to the real program",
            Verdict::Refused(_) => "reject cases refused",
            Verdict::Corpus(_) => "corpus errors (iproute2 disagrees with the corpus)",
            Verdict::Rejected(_) => "rejected by nslab's parser",
            Verdict::Failed(_) => "failed when nslab performed them",
            Verdict::Differs(_) => "differ",
            Verdict::Broken(_) => "broken (unsettled or crashed sandbox)",
            Verdict::Accepted(_) => "reject cases nslab accepted",
        }
    }

    /// What the report prints under a failed case.
    fn details(&self) -> Vec<String> {
        match self {
            Verdict::Differs(lines) => lines.clone(),
            Verdict::Accepted(mode) => vec![format!(
                "nslab performed it ({mode:?}) and it succeeded, where iproute2 refuses it"
            )],
            Verdict::Corpus(m)
            | Verdict::Rejected(m)
            | Verdict::Failed(m)
            | Verdict::Broken(m)
            | Verdict::Refused(m) => vec![m.clone()],
            Verdict::Same { .. } => Vec::new(),
        }
    }
}

/// How nslab took one line, for the report.
fn how(p: &Performed) -> &'static str {
    match p {
        Performed::Nslab(Ok(Mode::Native)) => "native",
        Performed::Nslab(Ok(Mode::Program)) => "program",
        Performed::Nslab(Err(Refusal::Parse(_))) => "parse error",
        Performed::Nslab(Err(Refusal::Failed {
            mode: Mode::Native, ..
        })) => "native (failed)",
        Performed::Nslab(Err(Refusal::Failed { .. })) => "program (failed)",
        Performed::Real { .. } => "real ip",
    }
}

fn first_failure(o: &Outcome) -> Option<&LineOutcome> {
    o.lines.iter().find(|l| !l.performed.ok())
}

fn judge_accept(a: &Outcome, b: &Outcome) -> Verdict {
    if let Some(e) = a.setup_error.as_ref().or(b.setup_error.as_ref()) {
        return Verdict::Corpus(e.clone());
    }
    if let Some(l) = first_failure(a) {
        let Performed::Real { status, stderr } = &l.performed else {
            return Verdict::Broken("side ip did not use the real program".into());
        };
        return Verdict::Corpus(format!(
            "iproute2 refuses `{}` (exit {status}): {stderr}",
            l.text
        ));
    }
    if let Some(l) = first_failure(b) {
        return match &l.performed {
            Performed::Nslab(Err(Refusal::Parse(m))) => {
                Verdict::Rejected(format!("`{}`: {m}", l.text))
            }
            Performed::Nslab(Err(Refusal::Failed { mode, message })) => {
                Verdict::Failed(format!("`{}` ({mode:?}): {message}", l.text))
            }
            other => Verdict::Broken(format!("`{}`: {other:?}", l.text)),
        };
    }
    if let Some(why) = &a.unsettled {
        return Verdict::Broken(format!("side ip: {why}"));
    }
    if let Some(why) = &b.unsettled {
        return Verdict::Broken(format!("side nslab: {why}"));
    }
    let (Some(da), Some(db)) = (&a.dump, &b.dump) else {
        return Verdict::Broken("a side has no dump".into());
    };
    let lines = diff::diff("ip", da, "nslab", db);
    if !lines.is_empty() {
        return Verdict::Differs(lines);
    }
    let count = |m: Mode| {
        b.lines
            .iter()
            .filter(|l| matches!(l.performed, Performed::Nslab(Ok(x)) if x == m))
            .count()
    };
    Verdict::Same {
        native: count(Mode::Native),
        program: count(Mode::Program),
    }
}

fn judge_reject(case: &Case, a: &Outcome, b: &Outcome) -> Verdict {
    let Kind::Reject { stderr: want } = &case.kind else {
        return Verdict::Broken("not a reject case".into());
    };
    if let Some(e) = a.setup_error.as_ref().or(b.setup_error.as_ref()) {
        return Verdict::Corpus(e.clone());
    }
    match a.lines.first().map(|l| &l.performed) {
        Some(Performed::Real { status, stderr }) => {
            if *status == 0 {
                return Verdict::Corpus("iproute2 accepts the line".into());
            }
            if stderr != want {
                return Verdict::Corpus(format!(
                    "iproute2 refuses it with another message:\n      got:  {stderr}\n      want: {want}"
                ));
            }
        }
        other => return Verdict::Broken(format!("side ip: {other:?}")),
    }
    match b.lines.first().map(|l| &l.performed) {
        Some(Performed::Nslab(Ok(mode))) => Verdict::Accepted(*mode),
        Some(Performed::Nslab(Err(Refusal::Parse(m)))) => {
            Verdict::Refused(format!("nslab's parser: {m}"))
        }
        Some(Performed::Nslab(Err(Refusal::Failed { mode, message }))) => {
            Verdict::Refused(format!("{mode:?}: {message}"))
        }
        other => Verdict::Broken(format!("side nslab: {other:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Canaries: pairs of line sets, both run with the real iproute2, whose verdict is known. They
// prove the comparison is not blind (a broadcast address, a route protocol or a peer's namespace
// that differ are seen) and that it does not see ghosts (random MACs, link-local addresses and a
// bridge's choice of MAC compare equal).

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

/// The two sides of job pair `i`.
fn pair(outcomes: &[Result<Outcome, String>], i: usize) -> Result<(&Outcome, &Outcome), String> {
    let a = outcomes[2 * i]
        .as_ref()
        .map_err(|e| format!("side ip: {e}"))?;
    let b = outcomes[2 * i + 1]
        .as_ref()
        .map_err(|e| format!("side nslab: {e}"))?;
    Ok((a, b))
}

/// The report: a line per case, details under each failure, and the counts.
#[derive(Default)]
struct Report {
    failed: usize,
    tally: BTreeMap<&'static str, usize>,
    lines: BTreeMap<&'static str, usize>,
}

impl Report {
    fn case(
        &mut self,
        path: &str,
        case: &Case,
        outcome: Result<(&Outcome, &Outcome), String>,
        show: bool,
    ) {
        let verdict = match &outcome {
            Err(e) => Verdict::Broken(e.clone()),
            Ok((a, b)) if case.is_reject() => judge_reject(case, a, b),
            Ok((a, b)) => judge_accept(a, b),
        };
        *self.tally.entry(verdict.class()).or_default() += 1;
        let mut modes = Vec::new();
        if let Ok((_, b)) = &outcome {
            modes = b.lines.iter().map(|l| how(&l.performed)).collect();
            // The fidelity count: lines iproute2 accepts, and what nslab made of them.
            if !case.is_reject() {
                for m in &modes {
                    *self.lines.entry(m).or_default() += 1;
                }
                let unreached = case.run.len().saturating_sub(b.lines.len());
                if unreached > 0 {
                    *self.lines.entry("not reached").or_default() += unreached;
                }
            }
        }
        println!(
            "{path}:{}: {:<8} [{}] {} ({})",
            case.line,
            verdict.word(),
            if case.is_reject() { "reject" } else { "case" },
            case.name,
            modes.join(", ")
        );
        if show && let Ok((a, _)) = &outcome {
            for (key, v) in a.dump.iter().flatten() {
                for l in diff::flatten(key, v) {
                    println!("      | {l}");
                }
            }
        }
        if verdict.passed() {
            return;
        }
        self.failed += 1;
        for l in &case.run {
            println!("      run  {}    ({path}:{})", l.text, l.line);
        }
        for d in verdict.details() {
            println!("      {d}");
        }
    }
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
    if let Ok(job) = std::env::var(JOB_ENV) {
        child(&job);
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
