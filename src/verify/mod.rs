//! `nslab verify`: every lesson in a fresh sandbox, each check proven false before its step and
//! true after, reported for humans, JSON or JUnit; and mutation testing of the checks.
//!
//! Each lesson runs in a child process (`nslab verify --child N`) that enters its sandbox before
//! any thread exists and streams one JSON line per step back. A killed parent takes its children
//! with it (PR_SET_PDEATHSIG), and a killed child takes its sandbox with it.

pub mod leftovers;
mod report;
pub mod run;

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Pace};
use crate::exit::{Code, Failure};
use crate::kernel::{Kernel, sandbox};
use crate::lesson::{Lesson, Ns};
pub use run::{CheckReport, LessonReport, Scope, StepReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub jobs: usize,
    pub scope: Scope,
    pub mutate: bool,
    pub sandbox: bool,
    /// `--shard I/N`: only the I-th of N parts of the lessons (1-based).
    pub shard: Option<(usize, usize)>,
    /// `--timeout SECONDS`: the longest one lesson (or one mutant) may take, its jail included.
    pub timeout: Duration,
}

/// How long one lesson may take by default (`--timeout`): the shipped lessons take seconds, and
/// a lesson of many lines that each wait near their own time limit could otherwise keep a CI
/// job busy for hours.
pub const DEFAULT_LESSON_TIMEOUT: Duration = Duration::from_secs(600);

/// Reads `--timeout SECONDS`: a whole number of seconds, at least 1.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        // (At most a year: Instant + Duration must not overflow.)
        Ok(n) if (1..=365 * 24 * 3600).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(format!(
            "--timeout {s}: give the seconds one lesson may take, a whole number from 1 (for example 600)"
        )),
    }
}

/// The I-th of N parts of the lessons (1-based): the lessons sorted by id, dealt round-robin,
/// so that every part is the same on every machine and the parts together are all of them.
pub fn shard(lessons: &[Lesson], i: usize, n: usize) -> Vec<Lesson> {
    let mut sorted: Vec<&Lesson> = lessons.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k % n == i - 1)
        .map(|(_, l)| l.clone())
        .collect()
}

/// Reads `I/N` for `--shard`.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: write it as I/N, with 1 <= I <= N (for example 2/4)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// One line from a worker to its parent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Event {
    /// The jail is built and the lesson begins: from here on, a worker that ends without a
    /// report ended by the lesson's doing (a line can kill its worker, or make it exit 3), and
    /// its exit code says nothing about the machine.
    Began,
    Step(StepReport),
    Done(LessonReport),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub passed: bool,
    pub lessons: Vec<LessonReport>,
}

/// What a worker is handed on its standard input: the lesson's text, never a path to read
/// again (a path may not be there, or not hold the same thing, by the time the worker runs).
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    name: String,
    text: String,
    scope: Scope,
    sandbox: bool,
}

/// The worker: verifies the lesson on its standard input, inside a fresh sandbox, streaming
/// one JSON line per step.
///
/// With a sandbox, this runs twice: the first process reads the job, enters the sandbox and
/// starts itself again (see [`sandbox::respawn_inside`]), handing the job on; the second is pid
/// 1 of the sandbox and does the work.
pub fn worker() -> Result<Code, Failure> {
    sandbox::die_with_parent();
    let mut input = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::io::stdin(), crate::lesson::load::MAX_LESSON_BYTES * 2),
        &mut input,
    )
    .map_err(|e| Failure::env(format!("worker input: {e}")))?;
    let job: Job =
        serde_json::from_slice(&input).map_err(|e| Failure::env(format!("worker input: {e}")))?;
    let inner = sandbox::is_inner();
    if job.sandbox && !inner {
        let code = sandbox::respawn_jailed(&input, &sandbox::JailOptions::default())
            .map_err(|e| Failure::env(e.to_string()))?;
        return match code {
            0 => Ok(Code::Success),
            2 => Err(Failure::usage("")),
            3 => Err(Failure::env("")),
            _ => Err(Failure::Failed(String::new())),
        };
    }
    let lesson = match crate::lesson::parse::parse(&crate::diag::Source::new(job.name, job.text)) {
        (Some(l), _) => l,
        (None, _) => return Err(Failure::usage("the lesson does not parse")),
    };
    if inner {
        sandbox::finish_jail().map_err(|e| Failure::env(e.to_string()))?;
    }
    let kernel = Kernel::new()?;
    if job.sandbox {
        // The sandbox's own loopback starts down; the host's is up.
        kernel.link_set_up(&Ns::Root, "lo", true)?;
    }
    let mut engine = Engine::new(kernel, Pace::Fast);
    // On the host (--no-sandbox), the ledger's baseline is written before the first line, and
    // the lesson is reset by it at the end, or at SIGINT, SIGTERM or SIGHUP; after a SIGKILL,
    // `nslab reset LESSON` does it (modes/reset.rs). A sandbox takes it all with it.
    let mut baseline = if job.sandbox {
        None
    } else {
        crate::signals::watch(crate::signals::OnSignal::Stop)
            .map_err(|e| Failure::env(format!("cannot watch for signals: {e}")))?;
        // A parent that dies (SIGKILL included) now sends SIGTERM: this worker resets the lesson.
        if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
            eprintln!("nslab: warning: cannot ask to be told when verify ends: {e}");
        }
        Some(crate::modes::reset::begin_verify(&engine.kernel, &lesson)?)
    };
    let root_before = leftovers::root_state(&engine.kernel, &lesson);
    let out = std::io::stdout();
    {
        let mut o = out.lock();
        let _ = serde_json::to_writer(&mut o, &Event::Began);
        let _ = writeln!(o);
        let _ = o.flush();
    }
    let mut report = run::verify_lesson(&mut engine, &lesson, job.scope.clone(), |s| {
        // On the machine itself: what the step made is the lesson's, for the reset at the end
        // (this baseline) and for one after a kill (the ledger's).
        if let Some(b) = baseline.as_mut() {
            let seen = crate::modes::reset::new_namespaces_in(b);
            b.note_made(&seen);
            crate::modes::reset::note_made(&lesson, &seen, &[]);
            crate::modes::reset::note_made_files(&lesson.id, &[]);
        }
        let mut o = out.lock();
        let _ = serde_json::to_writer(&mut o, &Event::Step(s.clone()));
        let _ = writeln!(o);
        let _ = o.flush();
    });
    // A lesson that ran to its end must leave the root namespace as it found it (a mutant of
    // its last step too: without a clean-up line, the lesson leaves something behind).
    if report.passed && job.scope.reaches_end(lesson.steps.len()) && !crate::signals::stopping() {
        // A comparison that cannot be made fails the lesson: a lesson must not pass because
        // nslab could not look at what it left (a hostile one may break the look on purpose).
        let compared =
            root_before.and_then(|before| leftovers_settled(&engine.kernel, &lesson, &before));
        report.leftovers = compared.unwrap_or_else(|e| {
            vec![format!(
                "nslab could not compare the root namespace before and after the lesson, so it cannot say the lesson left it clean: {e}"
            )]
        });
        report.passed = report.leftovers.is_empty();
    }
    // A failure on a kind of link this kernel may not know: ask the kernel, here in the jail
    // (on the machine itself, with --no-sandbox, the lesson is trusted, and its words are).
    if job.sandbox
        && let Some(kind) = claimed_kind(&report)
        && !kernel_knows(&engine.kernel, &kind)
    {
        report.kernel_lacks = Some(kind);
    }
    if let Some(b) = &baseline {
        let undone = crate::modes::reset::end_verify(&engine.kernel, &lesson.id, b);
        for f in &undone.failed {
            eprintln!("nslab: warning: {f}");
        }
        // What the engine changed of what the lesson does not make (a link of the machine's set
        // down): set back as well.
        for f in &engine.ledger.undo(&engine.kernel).failed {
            eprintln!("nslab: warning: could not take back {f}");
        }
    }
    if let Some(s) = crate::signals::received() {
        eprintln!(
            "nslab: {}: interrupted by {}; what the lesson made was removed",
            lesson.id,
            crate::signals::name(s)
        );
        return Ok(Code::Interrupted);
    }
    let mut o = out.lock();
    let _ = serde_json::to_writer(&mut o, &Event::Done(report));
    let _ = writeln!(o);
    Ok(Code::Success)
}

/// What the lesson left in the root namespace, once the kernel has finished what the lesson
/// started: the veth ends of deleted namespaces go with their namespaces' teardown, after
/// `ip netns del` has returned. While differences remain and keep going, look again (at most
/// [`crate::engine::settle::SETTLE_MAX`]); what stays is left over.
fn leftovers_settled(
    kernel: &Kernel,
    lesson: &Lesson,
    before: &leftovers::RootState,
) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + crate::engine::settle::SETTLE_MAX;
    let end = leftovers::root_state(kernel, lesson)?;
    let mut left = leftovers::differences(before, &end);
    // Only a veth end whose peer is in a namespace without a name (one deleted, whose teardown
    // may be under way) can still go by itself: a sysctl, a rule, a bridge or a name stays.
    let may_go = |left: &[String]| {
        let new = leftovers::new_links(before, &end);
        kernel.snapshot(&Ns::Root).is_ok_and(|s| {
            s.links.iter().any(|l| {
                l.peer_elsewhere()
                    && l.peer.as_ref().is_none_or(|p| p.ns.is_none())
                    && new.contains(&l.name.as_str())
            })
        }) && !left.is_empty()
    };
    if !may_go(&left) {
        return Ok(left);
    }
    let mut last_change = Instant::now();
    while !left.is_empty()
        && Instant::now() < deadline
        && last_change.elapsed() < std::time::Duration::from_secs(1)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let now =
            leftovers::differences(before, &leftovers::root_state_again(kernel, lesson, &end)?);
        if now.len() < left.len() {
            last_change = Instant::now();
        }
        left = now;
    }
    Ok(left)
}

/// The longest each step of a lesson may take in its worker, and then the end (the comparison
/// of the root namespace, a reset): every line at its time limit; every check at the shell
/// check's, three times (before the step, after it, and once more as the step settles); the
/// settling twice over; half a minute to spare. The first step's bound has the jail's time too.
fn step_bounds(lesson: &Lesson) -> Vec<Duration> {
    // NSLAB_LINE_TIMEOUT (tests, slow runners) sets the checks' limit and the time to spare
    // here too.
    let set = crate::kernel::line_timeout_override();
    let line = set.unwrap_or(crate::engine::SHELL_TIMEOUT);
    let check = set.unwrap_or(Duration::from_secs(30));
    let spare = set.unwrap_or(Duration::from_secs(30));
    let settle = crate::engine::settle::SETTLE_MAX;
    let mut bounds: Vec<Duration> = lesson
        .steps
        .iter()
        .map(|s| {
            line * (s.setup.len() + s.commands.len()) as u32
                + check * 3 * s.checks.len() as u32
                + settle * 2
                + spare
        })
        .collect();
    if let Some(first) = bounds.first_mut() {
        *first += spare;
    }
    bounds.push(settle * 2 + spare);
    bounds
}

/// Whether a process is stopped (`T`) or stopped by its tracer (`t`), from /proc.
fn stopped(pid: nix::unistd::Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // The state follows the command name, which is in parentheses and may hold any byte.
        s.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|c| c == 'T' || c == 't')
    })
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: nix::unistd::Pid) -> Vec<nix::unistd::Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                // The parent's pid is the second field after the command name.
                s.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                    == Some(pid.as_raw())
            })
        })
        .map(nix::unistd::Pid::from_raw)
        .collect()
}

/// What the watchdog of a worker is told: the bound of what comes next, or that it is over.
enum Watch {
    Next(Duration),
    Over,
}

/// Why the watchdog ended a worker.
#[derive(Clone, Copy)]
enum Overdue {
    /// One step took longer than its bound (see [`step_bounds`]).
    Step(Duration),
    /// The whole lesson took longer than `--timeout`.
    Lesson(Duration),
}

/// Runs one lesson in a worker process; `on_step` sees each step as it ends. A worker that
/// dies is reported as its lesson's failure, named, with what it said.
fn spawn_worker(
    opts: &Options,
    lesson: &Lesson,
    scope: Scope,
    on_step: &mut dyn FnMut(&StepReport),
) -> Result<LessonReport, Failure> {
    // Interrupted (--no-sandbox): no further lesson begins; verify ends with 130.
    if crate::signals::stopping() {
        return Err(Failure::env("interrupted"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::env(format!("cannot find my own binary: {e}")))?;
    // The lesson's time (--timeout) runs from here: its jail's making is part of it.
    let started = Instant::now();
    let mut cmd = Command::new(&exe);
    // Lessons call `nslab` itself (nslab example ...): the running binary comes first on PATH.
    if let Some(dir) = exe.parent() {
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        if let Ok(p) = std::env::join_paths(dirs) {
            cmd.env("PATH", p);
        }
    }
    let (k, v) = sandbox::parent_env();
    cmd.env(k, v);
    cmd.arg("verify")
        .arg("--worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::env(format!("cannot start a verify worker: {e}")))?;
    // With --no-sandbox, a signal to verify is passed on: the worker resets the lesson.
    crate::signals::adopt(child.id());
    let job = Job {
        name: lesson.source.name.clone(),
        text: lesson.source.text.clone(),
        scope,
        sandbox: opts.sandbox,
    };
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = serde_json::to_vec(&job).map_err(|e| Failure::env(e.to_string()))?;
        // A worker that died at once closes its input: its status says why, below.
        let _ = stdin.write_all(&bytes);
    }
    // Every line has a timeout, but a lesson can stop its own worker (a program that traces
    // the jail's pid 1 stops it for good): a step that takes longer than everything it may
    // wait for ends the worker, and its jail with it. So does a lesson that takes longer than
    // `--timeout` in all (many lines, each just within its own limit). On the machine itself
    // (--no-sandbox), SIGTERM first, which has the worker reset the lesson.
    let bounds = step_bounds(lesson);
    let first = bounds[0];
    let (tell, watch) = std::sync::mpsc::channel::<Watch>();
    let worker_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let gentle = !opts.sandbox;
    let whole = opts.timeout;
    let deadline = started + whole;
    let watchdog = std::thread::spawn(move || -> Option<(Overdue, bool)> {
        use nix::sys::signal::{Signal, kill};
        use std::sync::mpsc::RecvTimeoutError::{Disconnected, Timeout};
        let mut bound = first;
        let mut step_end = Instant::now() + bound;
        let why = loop {
            let now = Instant::now();
            let wait = step_end.min(deadline).saturating_duration_since(now);
            match watch.recv_timeout(wait) {
                Ok(Watch::Next(b)) => {
                    bound = b;
                    step_end = Instant::now() + b;
                }
                Ok(Watch::Over) | Err(Disconnected) => return None,
                Err(Timeout) if Instant::now() >= deadline => break Overdue::Lesson(whole),
                Err(Timeout) if Instant::now() >= step_end => break Overdue::Step(bound),
                Err(Timeout) => {}
            }
        };
        if gentle {
            let _ = kill(worker_pid, Signal::SIGTERM);
            // The reset: at most the end's bound, unless the worker is stopped (by a signal, or
            // a tracer): then it cannot act on SIGTERM at all.
            let until = Instant::now() + crate::engine::settle::SETTLE_MAX * 3;
            while Instant::now() < until && !stopped(worker_pid) {
                match watch.recv_timeout(Duration::from_millis(100)) {
                    Ok(Watch::Next(_)) | Err(Timeout) => {}
                    Ok(Watch::Over) | Err(Disconnected) => return Some((why, false)),
                }
            }
        } else {
            // The jail's builder first (the jail dies with it): the worker, left alive, then
            // removes the jail's cgroup (where it made one) and ends. Killed at once, it left
            // that folder behind in /sys/fs/cgroup, once for every lesson ended so.
            for builder in children_of(worker_pid) {
                let _ = kill(builder, Signal::SIGKILL);
            }
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                match watch.recv_timeout(Duration::from_millis(100)) {
                    Ok(Watch::Next(_)) | Err(Timeout) => {}
                    Ok(Watch::Over) | Err(Disconnected) => return Some((why, false)),
                }
            }
        }
        let _ = kill(worker_pid, Signal::SIGKILL);
        Some((why, gentle))
    });
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::env("worker without stdout"))?;
    // Drain stderr on its own thread: a worker that fills the stderr pipe while the parent
    // reads stdout would otherwise block forever. Both are read with a bound: a hostile lesson
    // can write to its worker's output (it runs in the same jail), and must not fill the
    // memory of the machine that verifies it.
    let stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        if let Some(e) = stderr {
            let mut e = std::io::Read::take(e, MAX_WORKER_STDERR);
            let _ = std::io::Read::read_to_end(&mut e, &mut err);
            let _ = std::io::copy(&mut e.into_inner(), &mut std::io::sink());
        }
        String::from_utf8_lossy(&err).into_owned()
    });
    let mut done = None;
    let mut began = false;
    let mut steps = Vec::new();
    let mut reader = BufReader::new(stdout);
    while let Some(line) = bounded_line(&mut reader, MAX_EVENT) {
        match serde_json::from_slice::<Event>(&line) {
            Ok(Event::Step(s)) => {
                let next = bounds.get(s.index).or(bounds.last()).copied();
                let _ = tell.send(Watch::Next(next.unwrap_or_default()));
                on_step(&s);
                steps.push(s);
            }
            Ok(Event::Done(r)) => done = Some(r),
            Ok(Event::Began) => began = true,
            Err(_) => {}
        }
    }
    // (Before the wait: the watchdog never signals a pid that was reaped.)
    let _ = tell.send(Watch::Over);
    let timed_out = watchdog.join().unwrap_or(None);
    let err = err_reader.join().unwrap_or_default();
    let status = child
        .wait()
        .map_err(|e| Failure::env(format!("worker: {e}")))?;
    crate::signals::release(child.id());
    // On the machine itself, what the worker said of the lesson's reset (what it could not
    // take back, that it was interrupted) is for the user.
    if !opts.sandbox {
        for line in err.lines().filter(|l| l.starts_with("nslab: ")) {
            eprintln!("{line}");
        }
    }
    let said = err.trim().trim_start_matches("nslab: ").to_string();
    match (done, status.code()) {
        // The report names the lesson this worker was given, whatever the worker says.
        (Some(mut r), _) => {
            r.id = lesson.id.clone();
            r.file = lesson.source.name.clone();
            Ok(r)
        }
        // Before the lesson began: the machine cannot build a jail, or the job was refused.
        // After, the code is the lesson's doing, and ends only its own report.
        (None, Some(3)) if !began => Err(Failure::env(said)),
        (None, Some(2)) if !began => Err(Failure::usage(format!("{}: {said}", lesson.source.name))),
        (None, code) => {
            let reset = |hard: bool| {
                if hard {
                    format!(
                        "; it could not reset the lesson: `nslab reset {}` removes what it made",
                        lesson.source.name
                    )
                } else {
                    String::new()
                }
            };
            let how = match code {
                _ if let Some((Overdue::Step(bound), hard)) = timed_out => format!(
                    "a step took longer than the {} s it may take, every line's and check's time limit together: it was ended{}",
                    bound.as_secs(),
                    reset(hard)
                ),
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".to_string(),
            };
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            };
            let failure = match timed_out {
                Some((Overdue::Lesson(whole), hard)) => format!(
                    "{} took longer than the {} s {RAN_OUT}: it was ended {}, with everything it ran{}",
                    lesson.id,
                    whole.as_secs(),
                    // The step it was in: the first not reported, or (--no-sandbox: the
                    // worker, told to stop, reports the step it was in as failed) not passed.
                    match steps.iter().find(|s| s.status != run::Status::Passed) {
                        Some(s) => format!("in step {}", s.index),
                        None if steps.len() < lesson.steps.len() => {
                            format!("in step {}", steps.len() + 1)
                        }
                        None => "after its last step".to_string(),
                    },
                    reset(hard)
                ),
                _ => format!(
                    "the verify worker of {} ended without a report ({how}){said}",
                    lesson.id
                ),
            };
            let why = if let Some((Overdue::Lesson(_), _)) = timed_out {
                "not verified: the lesson ran out of time (--timeout)"
            } else {
                "not verified: the worker ended"
            };
            // The steps it did not reach: not verified.
            for s in lesson.steps.iter().skip(steps.len()) {
                steps.push(run::skipped(&lesson.source, s, why));
            }
            Ok(LessonReport {
                id: lesson.id.clone(),
                file: lesson.source.name.clone(),
                passed: false,
                steps,
                error: Some(failure),
                leftovers: Vec::new(),
                kernel_lacks: None,
            })
        }
    }
}

/// Whether the lesson was ended at `--timeout` (then it is not verified again, alone: that
/// would take as long once more).
fn ran_out_of_time(r: &LessonReport) -> bool {
    r.error.as_deref().is_some_and(|e| e.contains(RAN_OUT))
}

/// Said of a lesson ended at `--timeout`, in its error.
const RAN_OUT: &str = "one lesson may take in all (--timeout)";

/// The most of a worker's stderr that is kept, and the longest line of its stdout (one event).
const MAX_WORKER_STDERR: u64 = 64 * 1024;
const MAX_EVENT: usize = 8 << 20;

/// One line of at most `max` bytes, without its newline; a longer one is read to its end and
/// comes back empty. `None` at the end of the stream.
fn bounded_line(r: &mut impl BufRead, max: usize) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            return (!line.is_empty() || too_long).then_some(line);
        }
        let (chunk, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        too_long |= line.len() + chunk.len() > max;
        if too_long {
            line.clear();
        } else {
            line.extend_from_slice(chunk);
        }
        let used = end.unwrap_or(chunk.len());
        r.consume(used);
        if end.is_some() {
            return Some(line);
        }
    }
}

/// Runs `work` over `items` on up to `jobs` threads, keeping the input order in the output.
fn parallel<T: Send, R: Send>(items: Vec<T>, jobs: usize, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    let queue = Mutex::new(
        items
            .into_iter()
            .enumerate()
            .collect::<Vec<_>>()
            .into_iter(),
    );
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(n.max(1)) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((i, item)) = next else { break };
                    let r = work(item);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

pub fn verify(opts: Options, lessons: &[Lesson]) -> Result<Code, Failure> {
    // Refuse a step a lesson does not have before anything runs: verifying none of its steps
    // would pass.
    for l in lessons {
        for (flag, s) in [("--step", opts.scope.step), ("--until", opts.scope.until)] {
            if let Some(s) = s {
                l.step_number(flag, s).map_err(Failure::usage)?;
            }
        }
    }
    if let (Some(s), Some(u)) = (opts.scope.step, opts.scope.until)
        && u < s
    {
        return Err(Failure::usage(format!(
            "--step {s} --until {u}: step {s} comes after step {u}, so nothing would be verified"
        )));
    }
    if !opts.sandbox && !nix::unistd::Uid::effective().is_root() {
        return Err(Failure::env(
            "verify --no-sandbox changes this machine's network and needs root (without --no-sandbox, verify runs in a sandbox and needs no root)",
        ));
    }
    if !opts.sandbox {
        // SIGINT, SIGTERM, SIGHUP: passed on to the worker, which resets the lesson.
        crate::signals::watch(crate::signals::OnSignal::Stop)
            .map_err(|e| Failure::env(format!("cannot watch for signals: {e}")))?;
    }
    let mut opts = opts;
    if !opts.sandbox && opts.jobs > 1 {
        // On the host, lessons would make the same names at the same time.
        eprintln!("nslab: note: --no-sandbox verifies one lesson at a time");
        opts.jobs = 1;
    }
    let selected: Vec<Lesson>;
    let lessons = match opts.shard {
        Some((i, n)) => {
            selected = shard(lessons, i, n);
            selected.as_slice()
        }
        None => lessons,
    };
    if opts.sandbox
        && let Some(l) = lessons.iter().find(|l| l.host_root)
    {
        return Err(Failure::env(format!(
            "{} ({}) asks for root on the machine itself (host_root = true), which verify's jail refuses; verify it alone with --no-sandbox, as root, on a machine you can throw away",
            l.id, l.source.name
        )));
    }
    // Likewise a report that could not be written: find out before the work, not after it.
    if let Some(p) = &opts.output {
        std::fs::File::create(p)
            .map_err(|e| Failure::env(format!("cannot write {}: {e}", p.display())))?;
    }
    if opts.mutate {
        let r = mutate(&opts, lessons);
        // --no-sandbox, interrupted: the worker reset the lesson and said so; no report.
        if crate::signals::stopping() {
            return Ok(Code::Interrupted);
        }
        return r;
    }
    let human = opts.format == Format::Human;
    let progress = report::Progress::new(lessons, human && opts.output.is_none());
    let progress = Arc::new(progress);
    let start = Instant::now();
    let results = parallel((0..lessons.len()).collect(), opts.jobs, |i| {
        let p = progress.clone();
        let r = spawn_worker(&opts, &lessons[i], opts.scope.clone(), &mut |s| {
            p.step(i, s)
        });
        if let Ok(rep) = &r {
            p.done(i, rep);
        }
        r
    });
    // --no-sandbox, interrupted: the worker reset the lesson and said so; no report.
    if crate::signals::stopping() {
        return Ok(Code::Interrupted);
    }
    let mut reports = Vec::new();
    for r in results {
        reports.push(r?);
    }
    let report = Report {
        passed: reports.iter().all(|r| r.passed),
        lessons: reports,
    };
    let text = match opts.format {
        Format::Human => report::human(&report, start.elapsed()),
        Format::Json => {
            serde_json::to_string_pretty(&report).map_err(|e| Failure::env(e.to_string()))? + "\n"
        }
        Format::Junit => report::junit(&report),
    };
    emit(&opts, &text)?;
    if report.passed {
        return Ok(Code::Success);
    }
    // A lesson that failed because this kernel does not know a kind it asks for (a module not
    // built here) is the machine's limit, not the lesson's defect: exit 3 when that is all.
    let failed: Vec<&LessonReport> = report.lessons.iter().filter(|r| !r.passed).collect();
    let lacking: Vec<String> = failed
        .iter()
        .filter_map(|r| kernel_lacks(r, opts.sandbox))
        .collect();
    for l in &lacking {
        eprintln!("nslab: {l}");
    }
    Ok(if lacking.len() == failed.len() {
        Code::Environment
    } else {
        Code::Failed
    })
}

/// What iproute2 and tc say when the kernel does not know the kind of link, qdisc or filter a
/// line asks for: a module this kernel was built without.
const KERNEL_LACKS: &[&str] = &[
    "Unknown device type",
    "Specified qdisc kind is unknown",
    "Specified filter kind is unknown",
];

/// The kinds of link Linux has (`ip link add ... type KIND`): one the kernel does not know is
/// a module this machine lacks; any other word is the lesson's typo.
const LINK_KINDS: &[&str] = &[
    "veth",
    "bridge",
    "dummy",
    "vlan",
    "vxlan",
    "macvlan",
    "macvtap",
    "ipvlan",
    "ipvtap",
    "gre",
    "gretap",
    "ip6gre",
    "ip6gretap",
    "erspan",
    "ip6erspan",
    "ipip",
    "sit",
    "ip6tnl",
    "vti",
    "vti6",
    "geneve",
    "bareudp",
    "bond",
    "team",
    "vrf",
    "wireguard",
    "netkit",
    "ifb",
    "nlmon",
    "vcan",
    "vxcan",
    "hsr",
    "macsec",
    "xfrm",
    "amt",
    "gtp",
    "batadv",
];

/// The failed line of the lesson's first failing step that says this kernel does not know a
/// kind it asks for, and the kind of link it names (`type KIND`; none for a qdisc or a filter).
fn lacking_line(r: &LessonReport) -> Option<(&run::CommandReport, Option<String>)> {
    let step = r.steps.iter().find(|s| s.status.is_bad())?;
    step.commands.iter().find_map(|c| {
        let words: Vec<&str> = c.command.split_whitespace().collect();
        let kinds: Vec<&str> = words
            .windows(2)
            .filter(|w| w[0] == "type")
            .map(|w| w[1])
            .collect();
        // `type KIND` of a link: only a kind Linux has.
        let real_kind = kinds.iter().all(|k| LINK_KINDS.contains(k));
        (real_kind
            && c.error
                .as_deref()
                .is_some_and(|e| KERNEL_LACKS.iter().any(|k| e.contains(k))))
        .then(|| (c, kinds.last().map(|k| k.to_string())))
    })
}

/// The kind of link the lesson's failing line says this kernel does not know, for the verifying
/// process to ask the kernel about ([`kernel_knows`]).
fn claimed_kind(r: &LessonReport) -> Option<String> {
    lacking_line(r).and_then(|(_, kind)| kind)
}

/// Whether the kernel knows a kind of link: it makes one (at once deleted), or refuses it for
/// any reason but not knowing the kind (EOPNOTSUPP, what iproute2 words "Unknown device type").
fn kernel_knows(kernel: &Kernel, kind: &str) -> bool {
    let name = format!("nslabk{}", std::process::id() % 1_000_000_000);
    let new = crate::kernel::NewLink {
        link: crate::kernel::LinkAttrs {
            name: Some(name.clone()),
            ..Default::default()
        },
        kind: kind.to_string(),
        peer: None,
    };
    match kernel.link_add(&Ns::Root, &new) {
        Ok(()) => {
            let _ = kernel.link_del(&Ns::Root, &name);
            true
        }
        Err(crate::kernel::KernelError::Os { err, .. }) => {
            err.raw_os_error() != Some(nix::errno::Errno::EOPNOTSUPP as i32)
        }
        Err(_) => true,
    }
}

/// Where the lesson's first failing step failed on a kind this kernel does not know, and what
/// to do, if it did. In a jail (`confirmed`), only a kind of link the verifying process found
/// the kernel does not know counts: the words of a line's error are the lesson's own (`echo
/// Unknown device type >&2`), and made verify blame the machine (exit 3) for a lesson that
/// failed.
fn kernel_lacks(r: &LessonReport, confirmed: bool) -> Option<String> {
    let (c, kind) = lacking_line(r)?;
    if confirmed && (kind.is_none() || kind != r.kernel_lacks) {
        return None;
    }
    Some(format!(
        "{}:{}: this kernel cannot run the lesson: {}: it does not know that kind (built without its module, or the module cannot be loaded here); verify the lesson on a machine whose kernel has it",
        r.file,
        c.line,
        c.error
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches(['.', ' '])
    ))
}

fn emit(opts: &Options, text: &str) -> Result<(), Failure> {
    match &opts.output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure::env(format!("cannot write {}: {e}", p.display()))),
        None => {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            Ok(())
        }
    }
}

/// A lesson `--mutate` made no mutants of, and why: it fails as it is, or this kernel cannot
/// run it.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub lesson: String,
    pub file: String,
    pub why: String,
    /// The machine's limit (its kernel lacks a kind of link), not the lesson's fault.
    #[serde(skip)]
    pub machine: bool,
}

impl Refused {
    /// The reason with the lesson's file before it (a reason that names a line has it).
    fn said(&self) -> String {
        if self.why.starts_with(&self.file) {
            self.why.clone()
        } else {
            format!("{}: {}", self.file, self.why)
        }
    }
}

/// A mutant: lesson `lesson`, with the command on source line `line` (in step `step`) removed.
#[derive(Debug, Clone, Serialize)]
pub struct Mutant {
    pub lesson: String,
    pub file: String,
    pub line: usize,
    pub step: usize,
    pub command: String,
    pub killed: bool,
    /// The step at which the mutated lesson failed, if it did.
    pub failed_at: Option<usize>,
    /// How the step that killed it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
    /// How long the mutant took, its jail included (a slow one says where a lesson waits); for
    /// one judged in its lesson's run, that judgement's time.
    pub duration_ms: f64,
    /// Judged in the lesson's own run, just before the line (the last of its step), with no
    /// jail of its own: the state there is the one the mutant's step ends in.
    pub in_lesson_run: bool,
    /// Judged in a jail shared with mutants of other steps of its lesson, after the steps
    /// before it were brought to the very state the lesson's own run left them in (see
    /// `run::verify_chain`).
    pub shared_jail: bool,
}

impl Mutant {
    /// The mutant `(lesson, step, line, text)` of `plan`, as a run that was not its own judged
    /// its step (`s`): killed when the step failed; its time is the step's.
    fn judged_in(lesson: &Lesson, plan: &(usize, usize, usize, String), s: &StepReport) -> Mutant {
        let (_, step, line, ref text) = *plan;
        let killed = s.status.is_bad();
        Mutant {
            lesson: lesson.id.clone(),
            file: lesson.source.name.clone(),
            line,
            step,
            command: text.clone(),
            killed,
            failed_at: killed.then_some(step),
            how: s.failure.clone(),
            duration_ms: s.duration_ms,
            in_lesson_run: false,
            shared_jail: false,
        }
    }

    /// Why a surviving mutant survived, as the reports say it. A mutant runs only up to the
    /// step of its line: what the line's absence changes later is not judged (a clean-up line
    /// of the last step is, through what the lesson leaves behind).
    pub fn survival(&self) -> String {
        let when = self.failed_at.map_or_else(
            || format!("step {} still passed", self.step),
            |f| format!("it failed only at step {f}"),
        );
        format!(
            "without `{}` (step {}), {when}: no check of step {} or before notices",
            self.command, self.step, self.step
        )
    }
}

/// The longest a line may take when it fails, in milliseconds, from a time limit it gives its
/// program (`curl -m 3`, `--max-time=3`, `timeout 5 ...`, `wget -T 2`, `nc -w 1`, `ping -W 1`,
/// `sleep 2`); 0 without one. Only for ordering mutants: a guess, never a verdict.
fn time_limit_ms(text: &str) -> u64 {
    let words: Vec<&str> = text.split_whitespace().collect();
    let secs = |w: &str| w.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0);
    let mut most = 0.0f64;
    for (i, w) in words.iter().enumerate() {
        let value = match *w {
            "-m" | "--max-time" | "--connect-timeout" | "-T" | "--timeout" | "-w" | "-W"
            | "timeout" | "sleep" => words.get(i + 1).and_then(|v| secs(v)),
            _ => w
                .strip_prefix("--max-time=")
                .or_else(|| w.strip_prefix("--timeout="))
                .and_then(secs),
        };
        most = most.max(value.unwrap_or(0.0));
    }
    (most.min(3600.0) * 1000.0) as u64
}

/// A unit of `--mutate`'s work: a lesson as it is, one mutant in a jail of its own, or the
/// mutants of a shared jail.
enum Work {
    Plain(usize),
    Mutant(usize),
    Chain(Vec<usize>),
}

/// The shared jails of `--mutate`: among the mutants that need a jail (`jailed`, indexes into
/// `plan`, whose entries are (lesson, step, line, text)), those of different steps of one
/// lesson, one per step, judged one after the other in one jail, each step caught up with the
/// lesson as it is before the next (see `run::verify_chain`). Only mutants whose step can be
/// caught up exactly (see [`Step::repairable_without`]), is judged the same after earlier
/// judging (see [`Step::judged_where_judging_was_done`]) and after earlier steps were caught
/// up (see [`Step::sees_only_compared_state`]), and not of the lesson's last step,
/// whose mutants are also judged by what the lesson leaves behind at its end. The j-th such
/// mutant of each step goes to the j-th jail of its lesson; a jail of one is no jail shared.
fn chains(
    lessons: &[Lesson],
    plan: &[(usize, usize, usize, String)],
    jailed: &[usize],
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for (i, lesson) in lessons.iter().enumerate() {
        let last = lesson.steps.last().map_or(0, |s| s.index);
        let mut lesson_chains: Vec<Vec<usize>> = Vec::new();
        for step in lesson.steps.iter().filter(|s| s.index < last) {
            if !step.judged_where_judging_was_done() || !step.sees_only_compared_state() {
                continue;
            }
            let mut mine: Vec<usize> = jailed
                .iter()
                .copied()
                .filter(|&k| {
                    let (li, si, line, _) = &plan[k];
                    *li == i && *si == step.index && step.repairable_without(*line)
                })
                .collect();
            mine.sort_by_key(|&k| plan[k].2);
            for (j, k) in mine.into_iter().enumerate() {
                if lesson_chains.len() <= j {
                    lesson_chains.push(Vec::new());
                }
                lesson_chains[j].push(k);
            }
        }
        out.extend(lesson_chains.into_iter().filter(|c| c.len() > 1));
    }
    out
}

/// Mutation testing. Each mutant leaves one command line out; it is killed when the lesson
/// then fails at that line's step or before. Only that step can kill it (the earlier ones are
/// the unmutated lesson's, which passes), so a mutant's worker performs the earlier steps
/// without judging them and verifies that one step: mutants of step k share the cost of
/// steps 1..k-1 being cheap, not judged. The mutant without a step's last acting line is
/// judged in the lesson's own run (see `Step::judged_without_last`). The rest run on every core.
fn mutate(opts: &Options, lessons: &[Lesson]) -> Result<Code, Failure> {
    let mut plan = Vec::new();
    for (i, l) in lessons.iter().enumerate() {
        for s in &l.steps {
            if !opts.scope.verifies_step(s.index) {
                continue;
            }
            for c in s.commands.iter().filter(|c| !c.observe) {
                plan.push((i, s.index, c.line, c.text.clone()));
            }
        }
    }
    // The plain lessons and the mutants share the cores. The plain runs go first; the mutants
    // follow, the longest first, so that none of them starts last and keeps the others waiting
    // (the report keeps the lessons' order). A mutant of step k costs about what performing
    // steps 1..k costs, in milliseconds: a native line about one, a line the real program runs
    // some ten. And a line after the mutant's own may now fail the slow way, at the time limit
    // it gives its program (`curl -m 3`). The shipped lessons' mutant that waits 3 s for curl
    // started some 3 s into a run before; it now starts among the first three.
    let cost = |&(i, step, line, _): &(usize, usize, usize, String)| -> u64 {
        lessons[i]
            .steps
            .iter()
            .take_while(|s| s.index <= step)
            .flat_map(|s| s.setup.iter().chain(&s.commands))
            .map(|c| {
                let run = match (c.command.listing(), c.command.is_native()) {
                    (Some(_), _) => 0,
                    (None, true) => 1,
                    (None, false) => 10,
                };
                run + if c.line > line {
                    time_limit_ms(&c.text)
                } else {
                    0
                }
            })
            .sum()
    };
    // A mutant that leaves out its step's last acting line is judged in the lesson's own run,
    // just before that line (see `Step::judged_without_last`), unless that run cannot decide it.
    let in_lesson_run = |&(i, step, line, _): &(usize, usize, usize, String)| {
        lessons[i]
            .steps
            .iter()
            .find(|s| s.index == step)
            .and_then(|s| s.judged_without_last())
            .is_some_and(|l| l.line == line)
    };
    let jailed: Vec<usize> = (0..plan.len())
        .filter(|&k| !in_lesson_run(&plan[k]))
        .collect();
    // Mutants of different steps of a lesson share a jail where that is exact (see
    // `chains`); the others have one each.
    let chains = chains(lessons, &plan, &jailed);
    let chained: std::collections::HashSet<usize> = chains.iter().flatten().copied().collect();
    let mut order: Vec<Work> = jailed
        .iter()
        .filter(|k| !chained.contains(k))
        .map(|&k| Work::Mutant(k))
        .chain(chains.into_iter().map(Work::Chain))
        .collect();
    // A shared jail costs about what its last mutant costs alone, and each mutant's own
    // judging on top.
    let work_cost = |w: &Work| match w {
        Work::Mutant(k) => cost(&plan[*k]),
        Work::Chain(c) => c.iter().map(|k| cost(&plan[*k])).sum(),
        // Not sorted: the lessons as they are go first, before every mutant.
        Work::Plain(_) => u64::MAX,
    };
    order.sort_by_key(|w| std::cmp::Reverse(work_cost(w)));
    let tty =
        std::io::stderr().is_terminal() && opts.format == Format::Human && opts.output.is_none();
    let total = plan.len();
    // The progress line ends before anything else is written, however the run ends.
    struct EndsLine(bool);
    impl Drop for EndsLine {
        fn drop(&mut self) {
            if self.0 {
                eprintln!();
            }
        }
    }
    let ends_line = EndsLine(tty);
    let counter = Mutex::new(0usize);
    let count = |n: usize| {
        if let Ok(mut c) = counter.lock() {
            *c += n;
            if tty {
                eprint!("\rmutants: {}/{total}", *c);
            }
        }
    };
    let run_mutant = |k: usize| -> Result<Mutant, Failure> {
        let (i, step, line, text) = plan[k].clone();
        let scope = Scope {
            step: Some(step),
            skip_line: Some(line),
            ..Scope::default()
        };
        let began = Instant::now();
        let r = spawn_worker(opts, &lessons[i], scope, &mut |_| {});
        let duration_ms = began.elapsed().as_secs_f64() * 1000.0;
        r.map(|rep| {
            let failed = rep.steps.iter().find(|s| s.status.is_bad());
            let failed_at = failed.map(|s| s.index);
            Mutant {
                lesson: lessons[i].id.clone(),
                file: lessons[i].source.name.clone(),
                line,
                step,
                command: text,
                killed: failed_at.is_some_and(|f| f <= step)
                    || rep.error.is_some()
                    || !rep.leftovers.is_empty(),
                failed_at,
                how: failed
                    .and_then(|s| s.failure.clone())
                    .or(rep.error)
                    .or_else(|| {
                        (!rep.leftovers.is_empty()).then(|| {
                            format!(
                                "the lesson leaves the root namespace changed: {}",
                                rep.leftovers.join(", ")
                            )
                        })
                    }),
                duration_ms,
                in_lesson_run: false,
                shared_jail: false,
            }
        })
    };
    // The mutants of a shared jail, one after the other (see `run::verify_chain`).
    let run_chain = |c: &[usize]| -> Result<LessonReport, Failure> {
        let i = plan[c[0]].0;
        let scope = Scope {
            chain: c.iter().map(|k| plan[*k].2).collect(),
            ..Scope::default()
        };
        // `--timeout` is each mutant's: a shared jail judges several.
        let opts = Options {
            timeout: opts.timeout.saturating_mul(c.len() as u32),
            ..opts.clone()
        };
        spawn_worker(&opts, &lessons[i], scope, &mut |_| {})
    };
    enum Done {
        Plain(Result<LessonReport, Failure>),
        Mutant(usize, Result<Mutant, Failure>),
        Chain(Vec<usize>, Result<LessonReport, Failure>),
    }
    let work: Vec<Work> = (0..lessons.len()).map(Work::Plain).chain(order).collect();
    // How many jails (workers, without a sandbox) the run starts, for the report.
    let mut jails = work.len();
    let start = Instant::now();
    // The plain lessons and the mutants share the cores; each plain run also judges the
    // mutants of its steps' last lines, and says the state each step leaves, to which the
    // shared jails compare theirs.
    let plain_scope = Scope {
        judge_without_last: true,
        digests: true,
        ..opts.scope.clone()
    };
    let done = parallel(work, opts.jobs, |w| match w {
        // A lesson that fails as it is cannot say anything about its mutants.
        Work::Plain(i) => Done::Plain(spawn_worker(
            opts,
            &lessons[i],
            plain_scope.clone(),
            &mut |_| {},
        )),
        Work::Mutant(k) => {
            let r = run_mutant(k);
            count(1);
            Done::Mutant(k, r)
        }
        Work::Chain(c) => {
            let r = run_chain(&c);
            // Those it could not judge are judged again in jails of their own, uncounted.
            count(c.len());
            Done::Chain(c, r)
        }
    });
    let mut broken = Vec::new();
    // Lessons this kernel cannot run (a kind of link it does not know).
    let mut lacking: Vec<Refused> = Vec::new();
    let mut found: Vec<(usize, Result<Mutant, Failure>)> = Vec::new();
    let mut shared: Vec<(Vec<usize>, Result<LessonReport, Failure>)> = Vec::new();
    let mut plain: Vec<Option<LessonReport>> = vec![None; lessons.len()];
    for (d, i) in done.into_iter().zip(0..) {
        match d {
            Done::Plain(r) => {
                let mut r = r?;
                // It ran beside the mutants, whose jails' teardowns the kernel does one after
                // another: a teardown this lesson waits for can then outlast the settling
                // bound. Before saying the lesson fails as it is, it is verified once more,
                // alone.
                if !r.passed && kernel_lacks(&r, opts.sandbox).is_none() && !ran_out_of_time(&r) {
                    r = spawn_worker(opts, &lessons[i], plain_scope.clone(), &mut |_| {})?;
                    jails += 1;
                }
                if let Some(l) = kernel_lacks(&r, opts.sandbox).filter(|_| !r.passed) {
                    lacking.push(Refused {
                        lesson: lessons[i].id.clone(),
                        file: lessons[i].source.name.clone(),
                        why: l,
                        machine: true,
                    });
                } else if !r.passed {
                    // Why, in the plain report's words: the first bad step, or what it left.
                    let why = r
                        .steps
                        .iter()
                        .find(|s| s.status.is_bad())
                        .map(|s| {
                            format!(
                                "step {}: {}",
                                s.index,
                                s.failure.as_deref().unwrap_or("failed")
                            )
                        })
                        .or_else(|| r.error.clone())
                        .unwrap_or_else(|| {
                            format!(
                                "it leaves the root namespace changed: {}",
                                r.leftovers.join(", ")
                            )
                        });
                    // Out of time, it may pass alone: under --mutate its run also judges the
                    // mutants of its steps' last lines, beside the mutants' jails.
                    let why = if ran_out_of_time(&r) {
                        format!(
                            "the lesson ran out of time under --mutate ({why}): its run there also judges the mutants of each step's last line, and shares the cores with the mutants' jails; give it more with --timeout"
                        )
                    } else {
                        format!(
                            "the lesson fails as it is ({why}), so its mutants prove nothing: run `nslab verify {}` first",
                            lessons[i].source.name
                        )
                    };
                    broken.push(Refused {
                        lesson: lessons[i].id.clone(),
                        file: lessons[i].source.name.clone(),
                        why,
                        machine: false,
                    });
                }
                if r.passed {
                    plain[i] = Some(r);
                }
            }
            Done::Mutant(k, r) => found.push((k, r)),
            Done::Chain(c, r) => shared.push((c, r)),
        }
    }
    // A lesson that fails as it is, or that this kernel cannot run, gets no mutants; the
    // others' are judged and reported, and the report names it, so that a CI job reads why
    // (the human report says it in its own text).
    let lacks_kernel = !lacking.is_empty();
    let failed_as_it_is = !broken.is_empty();
    broken.extend(lacking);
    if opts.format != Format::Human {
        for b in &broken {
            eprintln!("nslab: {}", b.said());
        }
    }
    let refused_lesson = |i: usize| broken.iter().any(|b| b.file == lessons[i].source.name);
    let mut mutants: Vec<Option<Mutant>> = vec![None; plan.len()];
    for (k, r) in found {
        mutants[k] = Some(r?);
    }
    // The shared jails' mutants, each where every step before it was caught up with the state
    // the lesson's own run left; the others run in jails of their own, with the mutants the
    // lessons' own runs could not decide (a last step's mutant whose checks hold: only what
    // the lesson leaves behind at its end can kill it).
    let mut undecided = Vec::new();
    for (c, r) in shared {
        let i = plan[c[0]].0;
        // A mutant left unjudged here is judged in a jail of its own below.
        let (Ok(r), Some(p)) = (r, plain[i].as_ref()) else {
            continue;
        };
        // Each step from the first mutant's on reports the state it left (a mutant's once it
        // was caught up): a mutant is judged here only where every one before it is the state
        // the lesson's own run reported.
        let lesson_left = |step: usize| p.steps.iter().find(|s| s.index == step)?.digest;
        let mut exact = true;
        for s in &r.steps {
            if !exact {
                break;
            }
            let member = c.iter().copied().find(|&k| plan[k].1 == s.index);
            if let Some(k) = member.filter(|_| s.status != run::Status::Skipped) {
                mutants[k] = Some(Mutant {
                    shared_jail: true,
                    ..Mutant::judged_in(&lessons[i], &plan[k], s)
                });
            }
            if s.digest.is_some() {
                exact = s.digest == lesson_left(s.index);
            }
        }
    }
    for (k, (i, step, _, _)) in plan.iter().enumerate() {
        if mutants[k].is_some() || refused_lesson(*i) {
            continue;
        }
        let last_step = lessons[*i].steps.last().map_or(0, |s| s.index);
        let judged = plain[*i]
            .as_ref()
            .filter(|_| in_lesson_run(&plan[k]))
            .and_then(|r| r.steps.iter().find(|s| s.index == *step))
            .and_then(|s| s.without_last.as_deref())
            .filter(|m| m.status.is_bad() || *step < last_step);
        match judged {
            Some(m) => {
                count(1);
                mutants[k] = Some(Mutant {
                    in_lesson_run: true,
                    ..Mutant::judged_in(&lessons[*i], &plan[k], m)
                })
            }
            None => undecided.push(k),
        }
    }
    jails += undecided.len();
    let again = |k: usize| {
        let r = run_mutant(k);
        if !chained.contains(&k) {
            count(1);
        }
        r
    };
    for (k, r) in undecided
        .iter()
        .zip(parallel(undecided.clone(), opts.jobs, again))
    {
        mutants[*k] = Some(r?);
    }
    drop(ends_line);
    let mutants: Vec<Mutant> = mutants
        .into_iter()
        .zip(&plan)
        .filter(|(_, (i, ..))| !refused_lesson(*i))
        .filter_map(|(m, _)| m)
        .collect();
    let killed = mutants.iter().filter(|m| m.killed).count();
    let score = if mutants.is_empty() {
        100.0
    } else {
        100.0 * killed as f64 / mutants.len() as f64
    };
    let text = match opts.format {
        Format::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "score": score,
                "killed": killed,
                "total": mutants.len(),
                "jails": jails,
                "mutants": mutants,
                "refused": broken,
            }))
            .map_err(|e| Failure::env(e.to_string()))?
                + "\n"
        }
        Format::Junit => report::junit_mutants(&mutants, &broken, start.elapsed()),
        Format::Human => {
            let mut t = String::new();
            for m in mutants.iter().filter(|m| !m.killed) {
                t.push_str(&format!(
                    "{}:{}: surviving mutant: {}\n",
                    m.file,
                    m.line,
                    crate::term::one_line(&m.survival())
                ));
            }
            t.push_str(&format!(
                "mutation score: {score:.1}% ({killed} of {} mutants killed) in {:.2} s\n",
                mutants.len(),
                start.elapsed().as_secs_f64()
            ));
            for b in &broken {
                t.push_str(&format!("not mutated: {}\n", b.said()));
            }
            t
        }
    };
    emit(opts, &text)?;
    Ok(if failed_as_it_is {
        Code::Failed
    } else if lacks_kernel {
        Code::Environment
    } else if killed == mutants.len() {
        Code::Success
    } else {
        Code::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::{bounded_line, chains, parse_timeout, time_limit_ms};
    use std::time::Duration;

    #[test]
    fn mutants_of_different_steps_share_a_jail_where_each_can_be_caught_up() {
        let text = "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\
            ## One\n\n```sh\nip netns add a\nip -n a link set lo up\nip netns add b\n```\n\n\
            ## Two\n\n```sh\nip -n a link add v0 type veth peer name v1 netns b\n\
            ip -n a link set v0 up\nip netns exec a ping -c 1 127.0.0.1\n```\n\n\
            ## Three\n\n```sh\nip -n a addr add 10.0.0.1/24 dev v0\nip -n b link set v1 up\n```\n\n\
            ```check\nsh (in a): true\n```\n\n\
            ## Four\n\n```sh\nip -n b addr add 10.0.0.2/24 dev v1\nip -n b link set lo up\n```\n\n\
            ## Five\n\n```sh\nip netns del a\nip netns del b\n```\n";
        let lesson = crate::lesson::parse::parse(&crate::diag::Source::new("t.md", text))
            .0
            .unwrap();
        let mut plan = Vec::new();
        for s in &lesson.steps {
            for c in s.commands.iter().filter(|c| !c.observe) {
                plan.push((0, s.index, c.line, c.text.clone()));
            }
        }
        let line = |k: usize| plan[k].2;
        let all: Vec<usize> = (0..plan.len()).collect();
        let got: Vec<Vec<usize>> = chains(std::slice::from_ref(&lesson), &plan, &all)
            .into_iter()
            .map(|c| c.into_iter().map(line).collect())
            .collect();
        // Step two's lines before its ping cannot be caught up (the ping ran without them);
        // step three has a shell check; step five is the last. So: step one's three lines,
        // each in a jail of its own with one of step four's, but the third, alone.
        let (one, four): (Vec<usize>, Vec<usize>) = (
            lesson.steps[0].commands.iter().map(|c| c.line).collect(),
            lesson.steps[3].commands.iter().map(|c| c.line).collect(),
        );
        assert_eq!(got, vec![vec![one[0], four[0]], vec![one[1], four[1]]]);
        // Only the mutants given (those needing a jail) are placed.
        let some: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&k| line(k) != four[0])
            .collect();
        let got: Vec<Vec<usize>> = chains(std::slice::from_ref(&lesson), &plan, &some)
            .into_iter()
            .map(|c| c.into_iter().map(line).collect())
            .collect();
        assert_eq!(got, vec![vec![one[0], four[1]]]);
    }

    #[test]
    fn a_lessons_time_limit_is_whole_seconds_from_one() {
        assert_eq!(parse_timeout("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_timeout(" 5 "), Ok(Duration::from_secs(5)));
        for bad in [
            "0",
            "-1",
            "1.5",
            "",
            "ten",
            "99999999999999999999",
            "31536001",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    /// The host reads a worker's events with a bound: a line longer than it comes back empty
    /// (read to its end, not kept), and the next one is whole. (A lesson can no longer write to
    /// its worker's output; the bound stays for what the worker itself might say.)
    #[test]
    fn a_workers_line_longer_than_the_bound_is_dropped() {
        let mut text = vec![b'x'; 100_000];
        text.extend_from_slice(b"\n{\"began\":null}\nlast");
        let mut r = std::io::BufReader::with_capacity(4096, text.as_slice());
        assert_eq!(bounded_line(&mut r, 1000), Some(Vec::new()));
        assert_eq!(
            bounded_line(&mut r, 1000).as_deref(),
            Some(&b"{\"began\":null}"[..])
        );
        assert_eq!(bounded_line(&mut r, 1000).as_deref(), Some(&b"last"[..]));
        assert_eq!(bounded_line(&mut r, 1000), None);
    }

    #[test]
    fn a_lines_time_limit_is_read_from_its_programs_options() {
        let curl = "ip netns exec outside curl -sS -m 3 -o /dev/null http://198.51.100.1:8080/";
        assert_eq!(time_limit_ms(curl), 3000);
        assert_eq!(time_limit_ms("curl --max-time=2.5 http://x/"), 2500);
        assert_eq!(time_limit_ms("timeout 5 nc -w 1 10.0.0.1 80"), 5000);
        assert_eq!(
            time_limit_ms("ip netns exec a ping -c 1 -W 1 10.0.2.2"),
            1000
        );
        assert_eq!(time_limit_ms("ip link set veth0 netns blue"), 0);
        // Not a number, or no value: no limit read.
        assert_eq!(time_limit_ms("sleep $DELAY"), 0);
        assert_eq!(time_limit_ms("curl -m"), 0);
        assert_eq!(time_limit_ms("sleep 1e9"), 3_600_000);
    }
}
