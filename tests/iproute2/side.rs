//! One side of one case, inside its own sandbox: the setup with the real iproute2, then the
//! case's lines with the real program (side `ip`) or through nslab (side `nslab`), then the
//! settled state.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};

use nslab::kernel::sandbox;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::corpus::Case;
use crate::{Mode, Refusal, normalise, nslab_engine, perform_with_nslab, state};

pub const JOB_ENV: &str = "NSLAB_DIFF_JOB";
pub const RESULT_MARK: &str = "nslab-differential-result: ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The real iproute2 runs the lines.
    Ip,
    /// nslab runs the lines (or, for a canary, the real iproute2 runs other lines).
    Nslab,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub case: Case,
    pub side: Side,
    /// Canaries only: the lines side `nslab` runs with the real program instead.
    pub other_lines: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Performed {
    /// By the real program: its exit status (-1: killed) and the first line of its stderr.
    Real {
        status: i32,
        stderr: String,
    },
    Nslab(Result<Mode, Refusal>),
}

impl Performed {
    pub fn ok(&self) -> bool {
        match self {
            Performed::Real { status, .. } => *status == 0,
            Performed::Nslab(r) => r.is_ok(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineOutcome {
    pub text: String,
    pub performed: Performed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// A setup line failed: the corpus must change.
    pub setup_error: Option<String>,
    pub lines: Vec<LineOutcome>,
    /// The normalised state, when every line succeeded.
    pub dump: Option<BTreeMap<String, Value>>,
    /// The state never stopped changing.
    pub unsettled: Option<String>,
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
    // Made after the setup (its pids are the corpus's), and kept until the state settled: a
    // lesson's nslab lives on after its commands, with its handles into the namespaces.
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
pub fn child(job: &str) -> ! {
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
