//! The interactive modes, learn and demo, and reset: policies over the shared engine.

pub mod demo;
pub mod learn;
pub mod reset;
pub mod screen;
pub mod session;

use std::io::Write;
use std::path::PathBuf;

use crate::engine::runner::CommandStatus;
use crate::engine::{Engine, Pace};
use crate::exit::{Code, Failure};
use crate::kernel::{Kernel, sandbox};
use crate::lesson::{Lesson, Ns};
use crate::progress::Progress;

/// Picks a lesson by id, by file name, or by number in the list (1-based); `None` is the first
/// lesson not yet done.
pub fn select(
    lessons: Vec<Lesson>,
    which: Option<&str>,
    progress: &Progress,
) -> Result<Lesson, Failure> {
    let ids: Vec<String> = lessons.iter().map(|l| l.id.clone()).collect();
    let pos = match which {
        None => {
            let not_done = |l: &Lesson| !progress.get(&l.id).is_some_and(|p| p.done());
            let current = progress.current.as_deref();
            lessons
                .iter()
                .position(|l| Some(l.id.as_str()) == current && not_done(l))
                .or_else(|| lessons.iter().position(not_done))
                .unwrap_or(0)
        }
        Some(w) => lessons
            .iter()
            .position(|l| l.id == w || l.source.name.ends_with(w))
            .or_else(|| {
                w.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=lessons.len()).contains(n))
                    .map(|n| n - 1)
            })
            .ok_or_else(|| {
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                Failure::usage(format!(
                    "no lesson '{w}'{} (nslab list shows them)",
                    crate::diag::did_you_mean(w, &refs)
                ))
            })?,
    };
    lessons
        .into_iter()
        .nth(pos)
        .ok_or_else(|| Failure::usage("there is no lesson to run"))
}

/// Where an interactive mode acts. As root, on the machine itself, where the student's own shell
/// sees the same kernel. Without root, in a sandbox: this process is re-run inside it and the
/// student gets a shell there (the `t` key).
pub enum Place {
    Host,
    Sandbox,
    /// This process only waited for the one in the sandbox; here is its exit code.
    Done(Code),
}

/// `lessons` are the files the lesson was chosen from: inside a sandbox, which has its own /tmp,
/// they must still be there.
pub fn place(lessons: &[std::path::PathBuf]) -> Result<Place, Failure> {
    if sandbox::is_inner() {
        if let Some(w) = sandbox::inside() {
            eprintln!("nslab: warning: {w}");
        }
        return Ok(Place::Sandbox);
    }
    if nix::unistd::Uid::effective().is_root() {
        return Ok(Place::Host);
    }
    let mut keep: Vec<&std::path::Path> = lessons.iter().map(|p| p.as_path()).collect();
    // The folder of the progress file, when it lies under /tmp (a HOME there): the sandbox's
    // /tmp is its own, and the progress must outlive it. It is made here, as the student, so
    // that the sandbox can bind it back at its place.
    let state = state_folder().filter(|d| d.starts_with("/tmp"));
    if let Some(d) = &state
        && std::fs::create_dir_all(d).is_ok()
    {
        keep.push(d);
    }
    let code = sandbox::respawn_inside(None, &keep).map_err(|e| Failure::env(e.to_string()))?;
    Ok(Place::Done(match code {
        0 => Code::Success,
        1 => Code::Failed,
        2 => Code::Usage,
        3 => Code::Environment,
        _ => Code::Interrupted,
    }))
}

/// The folder of the progress file (`None` without HOME and XDG_STATE_HOME).
pub fn state_folder() -> Option<PathBuf> {
    crate::progress::default_path().and_then(|p| p.parent().map(PathBuf::from))
}

/// Inside the sandbox: whether the progress file would live in the sandbox's own /tmp, and so
/// vanish with it (its folder was not bound back from the host's /tmp). Its nearest folder
/// that exists is on the same file system as the sandbox's /tmp then.
pub fn progress_vanishes() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = state_folder().filter(|d| d.starts_with("/tmp")) else {
        return false;
    };
    let Ok(tmp) = std::fs::metadata("/tmp") else {
        return false;
    };
    dir.ancestors()
        .find_map(|a| std::fs::metadata(a).ok())
        .is_some_and(|m| m.dev() == tmp.dev())
}

pub fn engine(place: &Place, pace: Pace) -> Result<Engine, Failure> {
    let kernel = Kernel::new().map_err(|e| Failure::env(e.to_string()))?;
    if matches!(place, Place::Sandbox) {
        kernel
            .link_set_up(&Ns::Root, "lo", true)
            .map_err(|e| Failure::env(e.to_string()))?;
    }
    Ok(Engine::new(kernel, pace))
}

/// Interactive modes need a terminal; in CI, verify does the job.
pub fn require_terminal(mode: &str) -> Result<(), Failure> {
    if crate::term::interactive() {
        Ok(())
    } else {
        Err(Failure::env(format!(
            "nslab {mode} is interactive and needs a terminal. To check lessons without one (in CI, in a script), use: nslab verify"
        )))
    }
}

/// The lessons, from the paths given or the built-in ones (lesson errors refuse to start).
pub fn lessons(paths: &[PathBuf]) -> Result<Vec<Lesson>, Failure> {
    crate::cli::load_clean(paths)
}

/// Prints and flushes (the terminal is in key-at-a-time mode, so nothing is line-buffered).
pub fn put(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// What nslab performed to bring the lab along (`--step`, a rootless resume, `f`): the steps
/// (1-based), and what to say about them.
#[derive(Debug, Default)]
pub struct Performed {
    pub steps: Vec<usize>,
    /// One line for the steps, then the errors of their lines, each after its step.
    pub said: Vec<String>,
    /// With [`prepare_judged`]: the steps that failed as they were performed (a line that
    /// failed, not for what it makes being there already; a check that did not hold), by
    /// number, with what failed.
    pub failed: Vec<(usize, String)>,
}

impl Performed {
    /// The line that names the steps: said once, not a line a step.
    fn summary(&self) -> Option<String> {
        let (first, last) = (self.steps.first()?, self.steps.last()?);
        let which = if first == last {
            format!("step {first}")
        } else {
            format!("steps {first} to {last}")
        };
        Some(format!(
            "{} {which}, to bring the lab here.",
            console::style("nslab performed").dim()
        ))
    }
}

/// Brings the kernel to the state step `s` (1-based) starts from: finds the latest earlier step
/// whose checks all hold now, and performs the steps after it. Returns what it performed, and
/// the errors of its lines: the caller shows them where it draws.
pub fn prepare(engine: &mut Engine, lesson: &Lesson, s: usize) -> Performed {
    prepare_as(engine, lesson, s, false)
}

/// [`prepare`], each step performed judged as demo judges the steps it shows: what failed is
/// in [`Performed::failed`] (`demo --step` counts it towards its exit code).
pub fn prepare_judged(engine: &mut Engine, lesson: &Lesson, s: usize) -> Performed {
    prepare_as(engine, lesson, s, true)
}

fn prepare_as(engine: &mut Engine, lesson: &Lesson, s: usize, judge: bool) -> Performed {
    let steps = &lesson.steps[..s.saturating_sub(1).min(lesson.steps.len())];
    // A check of a link, an address or a route in a namespace holds nothing while that
    // namespace is missing ("veth1 in red absent" on an empty machine): such a step is not
    // where the lab stands.
    let there = |engine: &Engine, st: &crate::lesson::Step| {
        st.checks.iter().all(|c| {
            c.check.namespaces().into_iter().all(|ns| match ns {
                Ns::Root => true,
                Ns::Named(n) => engine.kernel.netns_exists(n),
            })
        })
    };
    // A step whose checks all say something is missing ("not process netns-demo in another
    // netns") holds on an empty machine too: not where the lab stands either.
    let from = steps
        .iter()
        .rposition(|st| {
            st.checks.iter().any(|c| !c.check.says_missing())
                && there(engine, st)
                && engine.evaluate(&st.checks).iter().all(|o| o.pass)
        })
        .map_or(0, |i| i + 1);
    performed(engine, lesson, from + 1, s, judge)
}

/// Performs steps `from` to `until - 1` (1-based), each with its hidden setup, as `--step`
/// does. Lines that fail because what they make is there already are part of the way: their
/// errors are said, and the next lines still run.
pub fn perform_steps(engine: &mut Engine, lesson: &Lesson, from: usize, until: usize) -> Performed {
    performed(engine, lesson, from, until, false)
}

/// [`perform_steps`]; with `judge`, each step's checks are judged after it (which also waits
/// for what it started), and what failed is kept.
fn performed(
    engine: &mut Engine,
    lesson: &Lesson,
    from: usize,
    until: usize,
    judge: bool,
) -> Performed {
    let mut done = Performed::default();
    let mut errors = Vec::new();
    let mut there = Vec::new();
    let end = until.saturating_sub(1).min(lesson.steps.len());
    for st in lesson.steps.iter().take(end).skip(from.saturating_sub(1)) {
        let run = crate::engine::runner::run_step(
            engine,
            st,
            // Judged after (and the verdicts dropped): the next step starts once the kernel
            // has done what this one started, as in a verified run.
            &crate::engine::runner::Policy {
                setup: true,
                prefix: true,
                judge_after: judge,
                ..Default::default()
            },
            &mut crate::engine::runner::Quiet,
        );
        done.steps.push(st.index);
        let mut lines = 0;
        for c in &run.commands {
            // A line not run (a listing, in a step nobody reads) is no error.
            let Some(e) = c
                .error
                .as_ref()
                .filter(|_| c.status == CommandStatus::Failed)
            else {
                continue;
            };
            if already_there(e) {
                there.push(format!("line {} ({})", c.line, c.text));
            } else {
                lines += 1;
                errors.push(format!("  step {}: {}", st.index, console::style(e).red()));
            }
        }
        let checks = run.after.iter().flatten().filter(|v| !v.pass).count();
        if judge && let Some(what) = failed_in_words(lines, checks, run.after.len()) {
            done.failed.push((st.index, what));
        }
    }
    done.said.extend(done.summary());
    if !there.is_empty() {
        done.said.push(format!(
            "  {} {}",
            console::style("already there, left as it was:").dim(),
            some(&there)
        ));
    }
    done.said.extend(errors);
    done
}

/// A line's failure that says what it makes exists: in a step performed again (`f`, `--step`
/// on a machine where the lab is half built), that is the state the step leads to, not an
/// error. nslab's own words for it ("... already exists"), and the kernel's EEXIST as `ip`
/// prints it ("File exists", "Address already assigned").
fn already_there(e: &str) -> bool {
    e.ends_with("already exists") || e.contains("File exists") || e.contains("already assigned")
}

/// "a, b, c", or the first three and a count.
fn some(items: &[String]) -> String {
    match items.len() {
        0..=3 => items.join(", "),
        n => format!("{}, and {} more", items[..3].join(", "), n - 3),
    }
}

/// Runs `f` (a step being performed) while another thread watches the keyboard: Ctrl-C, and
/// `q` when `q_too`, ends the program at once, whatever `f` is doing (typing a command out, a
/// ping's pace, a shell line), with the terminal given back and exit code 130. Other keys are
/// kept for later: in learn, `q` too, which then quits with the progress saved (pressed during
/// `d`, it ended learn with the step not saved).
pub fn interruptible<T>(keys: &crate::term::Keys, q_too: bool, f: impl FnOnce() -> T) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut kept = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let Some(k) = keys.next_stamped(std::time::Duration::from_millis(20)) else {
                    continue;
                };
                if k.key == crate::term::Key::Quit || q_too && k.key == crate::term::Key::Char('q')
                {
                    interrupted(keys);
                }
                kept.push(k);
            }
            kept
        });
        let r = f();
        done.store(true, Ordering::Relaxed);
        let kept = watcher.join().unwrap_or_default();
        for k in kept.into_iter().rev() {
            keys.unread(k);
        }
        r
    })
}

/// Leaves at once on Ctrl-C: the terminal as it was found, the normal screen back, exit 130.
pub fn interrupted(keys: &crate::term::Keys) -> ! {
    crate::signals::leaving();
    keys.restore();
    put("\x1b[?25h\x1b[?1049l");
    put("nslab: interrupted\n");
    std::process::exit(Code::Interrupted as i32)
}

/// What failed in a step, in a few words: `lines` of its lines failed, `checks` of its `of`
/// checks did not hold (`None`: nothing failed).
pub(crate) fn failed_in_words(lines: usize, checks: usize, of: usize) -> Option<String> {
    let mut said = Vec::new();
    if lines > 0 {
        said.push(match lines {
            1 => "a line failed".to_string(),
            n => format!("{n} lines failed"),
        });
    }
    if checks > 0 {
        said.push(format!("{checks} of {of} checks did not hold"));
    }
    (!said.is_empty()).then(|| said.join(", "))
}
