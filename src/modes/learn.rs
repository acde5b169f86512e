//! `nslab learn`: the student works in their own shell; nslab watches the kernel and ticks each
//! check the moment it becomes true. The learn policy over the shared engine: evaluate on every
//! kernel event, perform only when the student asks (`d`, confirmed).
//!
//! The screen is a full-screen frame (see `screen`): the step's header, commands and checklist
//! stay put, the prose scrolls. Keys act only in command mode (see `input`): a line meant for
//! the shell, typed here by mistake, changes nothing. Everything under a check is worded from
//! the verdicts of the latest evaluation, so nothing from an older state stays on screen.

mod ahead;
mod gone;
mod input;

mod shell;

use std::time::{Duration, Instant};

use console::style;

use super::screen::{self, CheckRow, Parts};
use super::{Place, put};
use crate::engine::runner::{self, CommandRun, Policy, Show};
use crate::engine::{Engine, Verdict};
use crate::exit::{Code, Failure};
use crate::kernel::{Watched, Watcher};
use crate::lesson::check::{Check, LinkPred};
use crate::lesson::effect::RouteKey;
use crate::lesson::{Answer, CommandLine, Lesson, Ns, Op, Step};
use crate::net::Cidr;
use crate::progress::{self, Progress, StepState, Store};
use crate::term::{Key, Keys, Screen, height, width};
use input::{Action, Event, Input, Mode};

pub use shell::IN_LESSON_ENV;

pub struct Options {
    /// Start at this step (1-based), first bringing the kernel to the state it needs.
    pub step: Option<usize>,
    /// Wait for Enter after each verified step instead of moving on at once.
    pub pause: bool,
    /// Every lesson there is (id, title), in order: the end screen names the next one to take.
    pub lessons: Vec<(String, String)>,
    /// How `nslab learn` names this lesson again: its id, or the path of its file as given.
    pub resume: String,
}

/// How often checks without a kernel event (pings, processes, shell commands) are looked at
/// again; pings then wait at most LEARN_PING for their reply (a veth answers in well under a
/// millisecond), all at once, so that a round of failing pings stays short.
const SLOW_POLL: Duration = Duration::from_millis(100);
/// How often an open step whose checks the kernel announces every change of (see
/// `Check::heard_on_change`) is looked at on a clock all the same.
const HEARD_POLL: Duration = Duration::from_secs(1);
/// The longest the step loop sleeps with nothing due: the kernel, keys, a resize and a signal
/// to stop all wake it before.
const IDLE_WAKE: Duration = Duration::from_secs(5);
/// How often the step loop looks at the kernel when it cannot be told of changes (no watcher).
const UNWATCHED_WAKE: Duration = Duration::from_millis(15);
const LEARN_PING: Duration = Duration::from_millis(50);

/// The last level of the `h` key: the commands.
const LAST_HINT: usize = 3;

/// Appends "TIME tick STEP CHECK" to the file named by NSLAB_TRACE when a check turns true on
/// screen: the latency benchmark reads it.
fn trace(step: usize, check: &str) {
    if let Some(path) = std::env::var_os("NSLAB_TRACE") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let line = format!("{} tick {step} {check}\n", now.as_nanos());
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
}

struct Learn<'a> {
    lesson: &'a Lesson,
    engine: &'a mut Engine,
    progress: Store,
    keys: Keys,
    screen: Screen,
    place: &'a Place,
    opts: Options,
    /// Said once, at the top of the next frame: a step passed, a progress file not saved.
    notes: Vec<String>,
    /// The steps (0-based) whose hidden setup ran in this session: shown again, they keep
    /// the lab as the student left it.
    set_up: std::collections::HashSet<usize>,
    /// Why the progress is not kept, once it is known not to be.
    unsaved: Option<String>,
    /// The steps (0-based) that change the lab and whose checks all held when the session
    /// began: another lesson, or an earlier session, made that lab, not the student now.
    held_at_start: std::collections::HashSet<usize>,
    /// Names the lesson makes that were there before it began, and that the student chose to
    /// keep ("netns blue", "link veth0"): no hint tells them to remove these.
    taken: Vec<String>,
    /// The identities of the namespaces among `taken`: the student's, never written to the
    /// ledger as the lesson's.
    theirs: Vec<(String, (u64, u64))>,
    /// The lesson's namespaces as learn last wrote them to the ledger (see
    /// [`super::reset::note_made`]).
    noted: std::cell::RefCell<Vec<(String, (u64, u64))>>,
    /// The names of the lesson's root links, and their indexes as learn last looked (see
    /// [`super::reset::note_made_links`]).
    root_links: Vec<String>,
    noted_links: std::cell::RefCell<Vec<(String, u32)>>,
    /// The lesson's files among `taken`, as they were when the session began:
    /// the student's, never written to the ledger as the lesson's.
    theirs_files: Vec<(String, crate::engine::ledger::file::FileIdent)>,
    /// The files the lesson writes, and their identities as learn last looked (see
    /// [`super::reset::note_made_files`]).
    files: Vec<String>,
    noted_files: std::cell::RefCell<Vec<(String, crate::engine::ledger::file::FileIdent)>>,
}

/// The identity of each of `paths` that exists as a regular file.
fn file_identities<'p>(
    paths: impl IntoIterator<Item = &'p str>,
) -> Vec<(String, crate::engine::ledger::file::FileIdent)> {
    paths
        .into_iter()
        .filter_map(|p| {
            let f = crate::engine::ledger::file::FileId::of(p).filter(|f| f.regular)?;
            Some((p.to_string(), f.ident()))
        })
        .collect()
}

/// The steps from `from` (0-based) that change something and whose checks all hold now, before
/// the student has typed anything. Cheap checks first, and a step's judging stops at its first
/// failing check: on a machine that has none of the lab, this is a few lookups.
fn held_already(engine: &Engine, lesson: &Lesson, from: usize) -> std::collections::HashSet<usize> {
    let mut held = std::collections::HashSet::new();
    // One round for them all: each namespace is dumped once, not once a check.
    let mut round = engine.round().ping_timeout(LEARN_PING);
    for (i, st) in lesson.steps.iter().enumerate().skip(from) {
        if changes_lab(st) && all_hold(st, &mut round) {
            held.insert(i);
        }
    }
    held
}

/// Whether the namespaces the lesson has made by the time step `idx` (0-based) begins, its
/// hidden setup included, all exist now.
fn lab_there_at(engine: &Engine, lesson: &Lesson, idx: usize) -> bool {
    ahead::lab_before(lesson, idx)
        .netns
        .iter()
        .all(|n| engine.kernel.netns_exists(n))
}

/// The first step (1-based) up to step `idx` (0-based) that made a namespace the lesson still
/// has when step `idx` begins and that is gone now, with its name: what `f` rebuilds from when
/// no failing check names what is missing (a shell check names no namespace of the lab). Step
/// `idx` itself when its hidden setup made it.
fn namespace_gone_before(engine: &Engine, lesson: &Lesson, idx: usize) -> Option<(usize, String)> {
    let wanted = ahead::lab_before(lesson, idx).netns;
    let gone = |world: &crate::lesson::effect::World| {
        world
            .netns
            .iter()
            .find(|n| wanted.contains(*n) && !engine.kernel.netns_exists(n))
            .cloned()
    };
    let mut world = crate::lesson::effect::World::new();
    for st in lesson.steps.iter().take(idx) {
        world.run_step(st);
        if let Some(n) = gone(&world) {
            return Some((st.index, n));
        }
    }
    // The step's own hidden setup.
    let step = lesson.steps.get(idx)?;
    for p in step.setup.iter().flat_map(|c| &c.command.parts) {
        world.apply(p);
    }
    gone(&world).map(|n| (step.index, n))
}

/// A step whose commands change the lab and whose checks judge the result: not a step that
/// only looks, asks a question, or has nothing to check.
fn changes_lab(st: &Step) -> bool {
    !st.checks.is_empty() && !st.observes_only() && st.question.is_none()
}

/// Whether every check of a step holds, the cheap ones first and stopping at the first that
/// fails.
fn all_hold(st: &Step, round: &mut crate::engine::Round<'_>) -> bool {
    let mut checks: Vec<&crate::lesson::CheckLine> = st.checks.iter().collect();
    checks.sort_by_key(|c| c.check.needs_polling());
    checks
        .into_iter()
        .all(|c| crate::engine::judge::judge(&c.check, round).pass)
}

/// What the student chose to do after a step.
enum Next {
    Forward,
    Back,
    Restart,
    Quit,
}

/// What the body of the screen shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Prose,
    Picture,
}

/// Everything about the step on screen that changes while the student works.
struct StepView {
    outcomes: Vec<Verdict>,
    /// Under each failing check: why it does not hold yet.
    whys: Vec<Option<String>>,
    /// What an earlier step made that is gone: the step to rebuild from.
    rebuild: Option<usize>,
    /// This step's hidden setup failed (on a lab that was not there, or not as the lesson
    /// leaves it), so the fault it makes may be missing: the checks cannot earn a pass until
    /// `f` sets it up.
    fault_missing: bool,
    /// The next step that changes the lab (1-based) holds already while this one does not:
    /// the student went ahead (`ip link add veth0 netns blue ...` for "make a pair" and "move
    /// its ends" at once), and this step's checks may never hold again.
    ahead: Option<usize>,
    /// Whether `ahead` is looked for: not after `b`.
    may_be_ahead: bool,
    /// The next step held from the moment this one was shown. Then it says the student went
    /// ahead only through its checks that cannot hold in the lab the lesson's own steps leave
    /// before this one (`beyond`): a step that deletes what this one makes holds before it, and
    /// so does one that brings back what this one changes.
    next_held_when_shown: bool,
    /// Those checks of the next step (see [`ahead::beyond`]).
    beyond: Vec<Check>,
    hint_level: usize,
    wrong_answers: usize,
    answered: bool,
    /// `d` was pressed: the step counts as performed by nslab, not verified.
    performed: bool,
    /// Messages of the last key (a wrong answer, what `d` printed).
    message: Vec<String>,
    view: View,
    scroll: usize,
    /// The prose and the picture, laid out for a width.
    /// (For a width, and whether a challenge's words after its solution are in.)
    prose: ((usize, bool), Vec<String>),
    picture: Option<(usize, Vec<String>)>,
}

pub fn learn(
    lesson: &Lesson,
    engine: &mut Engine,
    place: &Place,
    opts: Options,
) -> Result<Code, Failure> {
    let progress = Store::default();
    engine.set_lesson(lesson);
    engine.reuse_probes_for(SLOW_POLL);
    engine.student_acts_meanwhile();
    let n = lesson.steps.len();
    // Where to start, and the kernel brought to the state that step starts from: as `--step`
    // asks, or, in a sandbox (which starts empty), where the student left off.
    let recorded = Store::default()
        .read()
        .ok()
        .and_then(|l| l.progress.lessons.get(&lesson.id).cloned())
        .unwrap_or_default();
    let start = match opts.step {
        Some(s) => lesson.step_number("--step", s).map_err(Failure::usage)?,
        None if recorded.step > n => 1,
        None => recorded.step.max(1),
    };
    // Resumed on the machine's own lab: a step whose hidden setup an earlier session performed
    // (and the lab was not reset since) keeps what the student did to it meanwhile. A sandbox
    // starts empty, and `--step` builds the lab afresh: there, every setup is performed.
    // Only while the lab that step's setup broke is still there: every namespace the lesson
    // has made by then exists. A lab removed meanwhile (by hand) is built again by the student
    // or by `f`, and its fault set up again.
    let set_up_before: Vec<usize> = if opts.step.is_none() && matches!(place, Place::Host) {
        recorded
            .set_up
            .iter()
            .map(|s| s - 1)
            .filter(|&i| lab_there_at(engine, lesson, i))
            .collect()
    } else {
        Vec::new()
    };
    // The ledger (modes/reset.rs): other lessons' leftovers offered for reset, then this
    // lesson's baseline, before anything is performed. Not in the sandbox, which vanishes with
    // learn.
    let mut kept_names = Vec::new();
    if matches!(place, Place::Host) {
        super::reset::offer_others(&engine.kernel, lesson);
        let taken = super::reset::taken_before_learn(&engine.kernel, lesson);
        let owner = super::reset::left_by(&engine.kernel, lesson, &taken);
        if !go_on_with_taken_names(&taken, &owner)? {
            return Ok(Code::Success);
        }
        kept_names = taken;
        super::reset::begin_noting(
            &engine.kernel,
            lesson,
            crate::engine::ledger::file::By::Learn,
        )?;
    }
    // The student's own processes (the namespaces lesson's netns-demo) started since the
    // lesson was first opened in this boot: a resume still sees the one an earlier session
    // started.
    let boot = crate::kernel::procs::boot_id();
    let now = Some(crate::progress::Began {
        boot_id: boot.clone().unwrap_or_default(),
        ticks: engine.kernel.start_ticks(),
    })
    .filter(|_| boot.is_some());
    let began = match (&recorded.began, &boot) {
        (Some(b), Some(id)) if b.boot_id == *id && opts.step.is_none() => Some(b.clone()),
        _ => now,
    };
    if let Some(b) = &began {
        engine.processes_since(b.ticks);
    }
    // Before the terminal is taken: a progress file nslab cannot use stops here, with its message.
    progress.update(|p| {
        p.current = Some(lesson.id.clone());
        p.lesson(&lesson.id).began = began;
    })?;
    let mut performed = super::Performed::default();
    if start > 1 && (opts.step.is_some() || matches!(place, Place::Sandbox)) {
        put(&format!(
            "Bringing the lab to where step {start} starts...\n"
        ));
        performed = super::prepare(engine, lesson, start);
    }
    let mut held_at_start = held_already(engine, lesson, start - 1);
    // Its fault set up by nslab, and mended since: by the student, while learn was closed.
    for i in &set_up_before {
        held_at_start.remove(i);
    }
    let keys = Keys::new().map_err(|e| Failure::env(format!("cannot set up the terminal: {e}")))?;
    let mut l = Learn {
        lesson,
        engine,
        progress,
        keys,
        screen: Screen::new(),
        place,
        opts,
        notes: Vec::new(),
        set_up: (0..start - 1).chain(set_up_before).collect(),
        unsaved: None,
        held_at_start,
        theirs: kept_names
            .iter()
            .filter_map(|t| t.strip_prefix("netns "))
            .filter_map(|n| crate::kernel::Kernel::netns_identity(n).map(|id| (n.to_string(), id)))
            .collect(),
        theirs_files: file_identities(kept_names.iter().filter_map(|t| t.strip_prefix("file "))),
        taken: kept_names,
        noted: Default::default(),
        root_links: crate::lesson::effect::Creations::of(lesson)
            .links
            .into_iter()
            .filter(|(ns, _)| ns.is_root())
            .map(|(_, name)| name)
            .collect(),
        noted_links: Default::default(),
        files: crate::lesson::effect::Creations::of(lesson)
            .files
            .into_iter()
            .collect(),
        noted_files: Default::default(),
    };
    // Rootless, with a HOME under /tmp that could not be kept: the sandbox's /tmp vanishes.
    if matches!(place, Place::Sandbox) && super::progress_vanishes() {
        let why = format!(
            "{} is in the sandbox's own /tmp, which vanishes with it",
            super::state_folder().unwrap_or_default().display()
        );
        l.notes.push(
            style(format!(
                "Your progress cannot be saved: {why}. Set XDG_STATE_HOME to a folder outside /tmp to keep it."
            ))
            .red()
            .to_string(),
        );
        l.unsaved = Some(why);
    }
    let said = l.performed_by_nslab(performed);
    l.notes.extend(said);
    l.run(start - 1)
}

/// Names the lesson makes that exist already, and nslab did not see this lesson make them (the
/// student's `ip netns add blue` before the lesson, say): said plainly, and the student asked
/// whether to go on (a whole line on standard input). No: learn ends (`false`), nothing changed.
/// Without a terminal to ask on, learn refuses, as demo does.
/// `owner`: whose leftovers they are, when the ledger knows ([`super::reset::left_by`]).
fn go_on_with_taken_names(taken: &[String], owner: &str) -> Result<bool, Failure> {
    if taken.is_empty() {
        return Ok(true);
    }
    use std::io::IsTerminal;
    let one = taken.len() == 1;
    let (it, them) = if one { ("it", "it") } else { ("they", "them") };
    let names = crate::term::printable(&taken.join(", "));
    let said = format!(
        "{names} already exist{}, and nslab did not see this lesson make {them}. The lesson makes {} too: its steps will use {them} as {it} {} (its commands may fail on {them}: File exists), and its clean-up step would delete {them}.",
        if one { "s" } else { "" },
        if one {
            "one of that name"
        } else {
            "ones of those names"
        },
        if one { "is" } else { "are" },
    );
    let said = match owner.strip_prefix(". ") {
        Some(o) => format!("{said} {o}."),
        None => said,
    };
    if !std::io::stdin().is_terminal() {
        return Err(Failure::env(format!(
            "{said} Rename or delete {them} first, or answer on a terminal"
        )));
    }
    // Wrapped between words to the terminal, as the rest of learn's words are.
    let note = fill(&format!("Note: {said}"), width());
    let note = note.strip_prefix("Note:").unwrap_or(&note);
    eprint!("{}{note}", style("Note:").yellow().bold());
    if !note.ends_with('\n') {
        eprintln!();
    }
    eprint!("Go on anyway? [y/N] ");
    let mut answer = String::new();
    let yes = std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes");
    if !yes {
        eprintln!("Nothing was changed.");
    }
    Ok(yes)
}

impl Learn<'_> {
    fn run(&mut self, mut idx: usize) -> Result<Code, Failure> {
        let n = self.lesson.steps.len();
        self.remember_sysctls();
        // The furthest step reached: a step before it is shown again (after `b`), not taken.
        let mut furthest = idx;
        // Where the student is, kept from the start: a session ended at once (Ctrl-C while `d`
        // works) resumes here, not at a step of an earlier session (`--step 7` resumed at 1).
        self.save(idx + 1, false);
        while idx < n {
            match self.step(idx, idx < furthest) {
                Next::Forward => idx += 1,
                Next::Back => idx = idx.saturating_sub(1),
                Next::Restart => {
                    idx = 0;
                    furthest = 0;
                    self.set_up.clear();
                    self.held_at_start.clear();
                }
                Next::Quit => {
                    // What the student made since the last look (a file, which no kernel
                    // event tells of) is the lesson's.
                    self.note_namespaces();
                    let saved = self.save(idx + 1, false);
                    self.screen.leave();
                    put(&self.goodbye(idx + 1, saved));
                    return Ok(Code::Interrupted);
                }
            }
            furthest = furthest.max(idx);
            self.note_namespaces();
            self.save(idx + 1, idx >= n);
        }
        self.screen.leave();
        if matches!(self.place, Place::Host) {
            super::reset::finished(&self.engine.kernel, self.lesson);
        }
        put(&self.end_screen());
        Ok(Code::Success)
    }

    /// What quitting says: how to resume, or that the progress could not be kept.
    fn goodbye(&self, step: usize, saved: bool) -> String {
        let resume = format!("nslab learn {}", self.opts.resume);
        let s = match (&self.unsaved, saved) {
            (None, true) => format!("Your progress is saved: `{resume}` resumes at step {step}.\n"),
            (why, _) => format!(
                "Your progress was not saved{}. `{resume} --step {step}` starts at step {step} again.\n",
                why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default()
            ),
        };
        fill(&s, width())
    }

    /// Steps nslab performed to bring the lab along (`--step`, a rootless resume, `f`): they
    /// count as performed by nslab, unless the student passed them before (a state only moves
    /// up). Returns what to say about it (once, until the first key).
    fn performed_by_nslab(&mut self, p: super::Performed) -> Vec<String> {
        let id = &self.lesson.id;
        if !p.steps.is_empty() {
            self.record(|pr| {
                for s in &p.steps {
                    pr.lesson(id).mark(*s, StepState::Performed);
                }
            });
        }
        p.said
    }

    /// `f`: performs the steps from `from` (1-based) up to the one on screen (`idx`, 0-based)
    /// again, each with its hidden setup; from the step on screen itself, its own setup, which
    /// made what is gone. Returns what to show, and, when this step's setup was performed,
    /// whether its fault is in the lab now. `fault_missing`: it was not before (the step's
    /// setup failed); else a setup line that fails because what it makes is there already
    /// (the fault this session set up, not mended yet) leaves the fault in place.
    fn rebuild(
        &mut self,
        from: usize,
        idx: usize,
        fault_missing: bool,
    ) -> (Vec<String>, Option<bool>) {
        let step = &self.lesson.steps[idx];
        let mut p = super::perform_steps(self.engine, self.lesson, from, idx + 1);
        // The lab made again from an earlier step is whole: this step's fault is set up again
        // on it (else the step would pass with nothing mended).
        let mut set_up = None;
        if from >= step.index || !step.setup.is_empty() {
            p.said.push(format!(
                "{} this step's setup again.",
                style("nslab performed").dim()
            ));
            let runs = runner::setup(self.engine, step);
            let (there, failed): (Vec<_>, Vec<_>) = runs
                .iter()
                .filter_map(|r| Some((r, r.error.as_ref()?)))
                .partition(|(_, e)| super::already_there(e));
            let ok = failed.is_empty() && (there.is_empty() || !fault_missing);
            set_up = Some(ok);
            // Set up now, a resume keeps what the student mends from here; not set up, it
            // sets the step up again (see `step`).
            if matches!(self.place, Place::Host) && !step.setup.is_empty() {
                let (id, n) = (&self.lesson.id, step.index);
                self.record(|p| {
                    let set_up = &mut p.lesson(id).set_up;
                    if ok {
                        set_up.insert(n)
                    } else {
                        set_up.remove(&n)
                    }
                });
            }
            if ok && !there.is_empty() {
                let lines: Vec<String> = there
                    .iter()
                    .map(|(r, _)| format!("line {} ({})", r.line, r.text))
                    .collect();
                p.said.push(format!(
                    "  {} {}",
                    style("already there, left as it was:").dim(),
                    super::some(&lines)
                ));
            } else {
                p.said
                    .extend(there.iter().map(|(_, e)| format!("  {}", style(e).red())));
            }
            p.said
                .extend(failed.iter().map(|(_, e)| format!("  {}", style(e).red())));
        }
        self.engine.begin_step(step);
        (self.performed_by_nslab(p), set_up)
    }

    /// The recap of the lesson (how each step was passed) and the next lesson to take.
    fn end_screen(&self) -> String {
        let p = self.snapshot();
        let n = self.lesson.steps.len();
        let mut s = format!(
            "\n{} {}\n\n",
            style("Lesson complete:").green().bold(),
            style(&self.lesson.title).bold()
        );
        for step in &self.lesson.steps {
            s.push_str(&format!(
                "  Step {} {}: {}\n",
                step.index,
                state_word(p.state(step.index)),
                step.title
            ));
        }
        let (v, d, k) = (
            p.count(StepState::Verified),
            p.count(StepState::Performed),
            p.count(StepState::Skipped),
        );
        s.push_str(&format!("\n{v} of {n} steps verified"));
        if d > 0 {
            s.push_str(&format!(", {d} performed by nslab"));
        }
        if k > 0 {
            s.push_str(&format!(", {k} skipped"));
        }
        s.push_str(".\n");
        let all = self.progress.read().map(|l| l.progress).unwrap_or_default();
        let next = self
            .opts
            .lessons
            .iter()
            .find(|(id, _)| *id != self.lesson.id && !all.get(id).is_some_and(|p| p.done()));
        match next {
            Some((id, title)) => s.push_str(&format!(
                "Next lesson: {id} ({title}). Start it with: nslab learn {id}\n"
            )),
            None => s.push_str("You have taken every lesson.\n"),
        }
        if k > 0 {
            s.push_str(&format!(
                "To take a skipped step: nslab learn {} --step N\n",
                self.opts.resume
            ));
        }
        fill(&s, width())
    }

    /// Whether it was written.
    fn save(&mut self, step: usize, done: bool) -> bool {
        let id = &self.lesson.id;
        let now = progress::now();
        self.record(|p| {
            let l = p.lesson(id);
            l.reach(step, now);
            if done {
                l.finish(now);
            }
        })
        .is_some()
    }

    /// Writes one change through to the progress file. A failure is shown and the lesson goes on.
    fn record<T>(&mut self, change: impl FnOnce(&mut Progress) -> T) -> Option<T> {
        match self.progress.update(change) {
            Ok(t) => Some(t),
            Err(e) => {
                self.notes
                    .push(style(format!("Progress not saved: {e}")).red().to_string());
                None
            }
        }
    }

    /// This lesson's progress as the file has it now.
    fn snapshot(&self) -> crate::progress::LessonProgress {
        self.progress
            .read()
            .ok()
            .and_then(|l| l.progress.lessons.get(&self.lesson.id).cloned())
            .unwrap_or_default()
    }

    /// Sysctls the lesson will change in the root namespace, as they are before it: reset sets
    /// them back.
    fn remember_sysctls(&mut self) {
        let keys: Vec<String> = self
            .lesson
            .steps
            .iter()
            .flat_map(|s| &s.commands)
            .flat_map(|c| &c.command.parts)
            .filter(|p| p.ns.is_root())
            .filter_map(|p| match &p.op {
                Op::Sysctl(s) => Some(s.writes.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect();
        let values: Vec<(String, String)> = keys
            .iter()
            .filter_map(|k| {
                Some((
                    k.clone(),
                    self.engine.kernel.sysctl_read(&Ns::Root, k).ok()?,
                ))
            })
            .collect();
        let id = &self.lesson.id;
        self.record(|p| {
            let l = p.lesson(id);
            for (k, v) in values {
                l.sysctls.entry(format!("root {k}")).or_insert(v);
            }
        });
    }

    /// The prose of step `idx` for `width`: the lesson's introduction before the first step,
    /// the step's text without its command blocks (they have their own place).
    fn prose(&self, idx: usize, width: usize, solved: bool) -> Vec<String> {
        let step = &self.lesson.steps[idx];
        let mut md = String::new();
        if idx == 0 {
            md.push_str(&format!("**{}**\n\n", self.lesson.title));
            md.push_str(&self.lesson.intro);
            md.push_str("\n\n");
        }
        if matches!(self.place, Place::Sandbox) {
            md.push_str(SANDBOX_NOTE);
            md.push_str("\n\n");
        }
        if step.challenge && !solved {
            md.push_str(&without_commands(step.before_solution()));
        } else {
            md.push_str(&without_commands(&step.body));
        }
        crate::render::render(&md, width)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn picture(&self, idx: usize, width: usize) -> Vec<String> {
        let step = &self.lesson.steps[idx];
        let k = &self.engine.kernel;
        let namespaces = self.engine.lesson_namespaces();
        // A challenge's result is the student's to find: its picture is the lab as the step
        // starts, or it would draw the solution (as missing).
        let (title, pic) = if step.challenge {
            (
                format!(
                    "The lab as step {} starts, as the lesson means it, against the kernel (a challenge: what it asks for is not drawn):",
                    idx + 1
                ),
                crate::show::before_step(k, self.lesson, namespaces, idx, width),
            )
        } else {
            (
                format!(
                    "The lab after step {} as the lesson means it, against the kernel:",
                    idx + 1
                ),
                crate::show::after_step(k, self.lesson, namespaces, idx + 1, width),
            )
        };
        let mut lines = vec![
            style(title).bold().to_string(),
            style("(missing: not made yet; extra: there, but not in the lesson; meant UP: the lesson has it up)")
                .dim()
                .to_string(),
        ];
        lines.extend(pic.lines().map(str::to_string));
        lines
            .iter()
            .flat_map(|l| crate::render::wrap(l, width))
            .collect()
    }

    /// On the machine: the lesson's namespaces and files learn sees now, written to the ledger
    /// as the lesson's when they changed (a reset removes a new namespace or file of the
    /// lesson's only if a session of the lesson saw it). A few stat calls when nothing changed.
    fn note_namespaces(&self) {
        if !matches!(self.place, Place::Host) {
            return;
        }
        let now: Vec<(String, (u64, u64))> = self
            .engine
            .lesson_namespaces()
            .iter()
            .filter_map(|n| crate::kernel::Kernel::netns_identity(n).map(|id| (n.clone(), id)))
            .collect();
        if *self.noted.borrow() != now {
            super::reset::note_made(self.lesson, &now, &self.theirs);
            *self.noted.borrow_mut() = now;
        }
        // And the lesson's files (`cat > /tmp/netns-demo.c`), by identity.
        let files = file_identities(self.files.iter().map(String::as_str));
        if *self.noted_files.borrow() != files {
            super::reset::note_made_files(&self.lesson.id, &self.theirs_files);
            *self.noted_files.borrow_mut() = files;
        }
    }

    /// The same for the lesson's root links (by ifindex): those the student kept at the start
    /// (`taken`) are theirs.
    /// (From the round's root snapshot, which the step's checks then use too: one dump.)
    fn note_root_links(&self, round: &mut crate::engine::facts::Round<'_>) {
        use crate::engine::judge::Facts;
        if !matches!(self.place, Place::Host) || self.root_links.is_empty() {
            return;
        }
        let Some(root) = round.snapshot(&crate::net::Ns::Root) else {
            return;
        };
        let now: Vec<(String, u32)> = self
            .root_links
            .iter()
            .filter_map(|n| root.link(n).map(|l| (n.clone(), l.index)))
            .collect();
        if *self.noted_links.borrow() == now {
            return;
        }
        super::reset::note_made_links(&self.engine.kernel, &self.lesson.id, &self.taken);
        *self.noted_links.borrow_mut() = now;
    }

    /// Judges the step's checks, and words why each failing one does not hold.
    fn evaluate(&self, idx: usize, v: &mut StepView) {
        self.note_namespaces();
        let step = &self.lesson.steps[idx];
        // One round for this step's checks and, if they fail, the next step's (gone ahead?).
        let mut round = self.engine.round().ping_timeout(LEARN_PING);
        self.note_root_links(&mut round);
        v.outcomes = crate::engine::evaluate_in(&mut round, &step.checks);
        v.rebuild = None;
        v.whys = Vec::with_capacity(v.outcomes.len());
        for (c, o) in step.checks.iter().zip(&v.outcomes) {
            if o.pass {
                v.whys.push(None);
                continue;
            }
            // What an earlier step made and is gone: a namespace or a link when the judge
            // named no near miss of its own (a typo, swapped ends, a moved link); an address or
            // a route before the judge's cause, which sees only its effect ("Network is
            // unreachable").
            let k = &self.engine.kernel;
            let mut has_ns = |n: &str| k.netns_exists(n);
            let mut has_link = |ns: &Ns, name: &str| {
                k.snapshot(ns)
                    .is_ok_and(|s| s.links.iter().any(|l| l.name == name))
            };
            let mut has_addr = |ns: &Ns, dev: &str, cidr: &Cidr| {
                k.snapshot(ns)
                    .is_ok_and(|s| s.addrs.iter().any(|a| a.link == dev && a.cidr == *cidr))
            };
            let mut addr_as = |ns: &Ns, dev: &str, ip: std::net::IpAddr| {
                k.snapshot(ns).ok().and_then(|s| {
                    s.addrs
                        .iter()
                        .find(|a| a.link == dev && a.cidr.addr == ip)
                        .map(|a| a.cidr)
                })
            };
            let mut has_route = |ns: &Ns, r: &RouteKey| {
                let want = r.spec();
                let v6 = r.dest.map(|d| !d.is_v4()).or(r.via.map(|v| v.is_ipv6()));
                k.snapshot(ns).is_ok_and(|s| {
                    let routes = if v6 == Some(true) {
                        k.routes6(&s).unwrap_or_default()
                    } else {
                        s.routes
                    };
                    routes
                        .iter()
                        .any(|r| crate::engine::judge::route_matches(r, &want))
                })
            };
            let progress = self.snapshot();
            let gone = gone::made_earlier(
                self.lesson,
                idx,
                &c.check,
                o.cause.is_some(),
                &|s| progress.state(s) == Some(StepState::Skipped),
                &mut gone::Kernel {
                    has_ns: &mut has_ns,
                    has_link: &mut has_link,
                    has_addr: &mut has_addr,
                    addr_as: &mut addr_as,
                    has_route: &mut has_route,
                },
            );
            let why = match (&gone, &o.cause) {
                // An address with the wrong prefix length is the student's to mend: f would
                // add the right one beside it.
                (Some(g), _) if g.as_now.is_some() => g.say(),
                (Some(g), _) => {
                    v.rebuild = Some(v.rebuild.map_or(g.step, |s: usize| s.min(g.step)));
                    g.say()
                }
                (None, Some(cause)) => {
                    format!("{}. {}", o.found, crate::engine::judge::sentence(cause))
                }
                (None, None) => o.found.clone(),
            };
            v.whys.push(Some(why));
        }
        v.ahead = if v.may_be_ahead && v.outcomes.iter().any(|o| !o.pass) {
            // Ahead only where the next step holds for things this step's failing checks are
            // about (veth0, moved on): a next step about something else (old0 deleted)
            // says nothing of this one.
            let failing: Vec<&Check> = step
                .checks
                .iter()
                .zip(&v.outcomes)
                .filter(|(_, o)| !o.pass)
                .map(|(c, _)| &c.check)
                .collect();
            self.next_holds(idx, &mut round).filter(|&j| {
                let about_these = |c: &Check| failing.iter().any(|f| shares_a_name(f, c));
                if !v.next_held_when_shown {
                    return self.lesson.steps[j - 1]
                        .checks
                        .iter()
                        .any(|c| about_these(&c.check));
                }
                // Held from the start: the student carried this step's work further while an
                // earlier step was shown, unless the lab was there when the session began.
                !self.held_at_start.contains(&(j - 1)) && v.beyond.iter().any(about_these)
            })
        } else {
            None
        };
        if v.view == View::Picture {
            v.picture = None;
        }
    }

    /// The next step after `idx` that changes the lab (its 1-based number), if all its checks
    /// hold now. Not for a next step with a ping or another check that waits: judging it on
    /// every kernel event would slow the ticks of this step, and a step that only pings
    /// changes nothing this one needs.
    fn next_holds(&self, idx: usize, round: &mut crate::engine::Round<'_>) -> Option<usize> {
        let next = self
            .lesson
            .steps
            .iter()
            .skip(idx + 1)
            .find(|s| changes_lab(s))?;
        if next.checks.iter().any(|c| c.check.needs_polling()) {
            return None;
        }
        all_hold(next, round).then_some(next.index)
    }

    /// Shows step `idx` until the student goes on. `revisit`: the student came back to it
    /// (`b`); it is shown, and stays until Enter, whatever its checks say.
    fn step(&mut self, idx: usize, revisit: bool) -> Next {
        let step = &self.lesson.steps[idx];
        let recorded = self.snapshot().state(step.index);
        self.keep_ledger();
        // The step's hidden setup (a lab to mend), unless the step was passed before, or was
        // set up already in this session, and the student came back to it.
        let setup_failed: Vec<String> = if !revisit && recorded.is_none() && self.set_up.insert(idx)
        {
            // Noted before it is performed: a session that ends during it has performed it.
            if matches!(self.place, Place::Host) && !step.setup.is_empty() {
                let id = &self.lesson.id;
                self.record(|p| p.lesson(id).set_up.insert(step.index));
            }
            let failed: Vec<String> = runner::setup(self.engine, step)
                .into_iter()
                .filter_map(|r| r.error)
                .collect();
            // A setup that failed did not set its fault up: a resume must not take the lab as
            // it finds it for one the student mended (it would tick the step, nothing mended).
            if !failed.is_empty() && matches!(self.place, Place::Host) && !step.setup.is_empty() {
                let id = &self.lesson.id;
                self.record(|p| p.lesson(id).set_up.remove(&step.index));
            }
            failed
        } else {
            Vec::new()
        };
        self.engine.begin_step(step);
        let observe = step.observes_only() || step.commands.is_empty();
        let has_something = !step.checks.is_empty() || step.question.is_some();
        let mut v = StepView {
            outcomes: Vec::new(),
            whys: Vec::new(),
            rebuild: None,
            fault_missing: !setup_failed.is_empty(),
            ahead: None,
            may_be_ahead: !revisit,
            next_held_when_shown: self
                .next_holds(idx, &mut self.engine.round().ping_timeout(LEARN_PING))
                .is_some(),
            beyond: match self
                .lesson
                .steps
                .iter()
                .skip(idx + 1)
                .find(|s| changes_lab(s))
            {
                Some(next) if !revisit => ahead::beyond(next, &ahead::lab_before(self.lesson, idx))
                    .into_iter()
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            },
            hint_level: 0,
            wrong_answers: 0,
            // Shown again after `b`, a question answered before is not asked again.
            answered: step.question.is_none() || (revisit && recorded.is_some()),
            performed: false,
            message: setup_failed,
            view: View::Prose,
            scroll: 0,
            prose: ((0, false), Vec::new()),
            picture: None,
        };
        self.evaluate(idx, &mut v);
        let mut shown: Vec<bool> = vec![false; v.outcomes.len()];
        // Checks that held from the moment the step was shown prove nothing the student did
        // now: the step keeps the state it has (none, after `b`). Only checks that turn true
        // while the step is on screen earn "verified".
        let mut earned = !v.outcomes.iter().all(|o| o.pass);
        // Held when the session began, and still when shown: the lab came from elsewhere.
        let made_elsewhere = !earned && recorded.is_none() && self.held_at_start.contains(&idx);
        let passed = |performed: bool, earned: bool| -> Option<StepState> {
            if performed {
                Some(StepState::Performed)
            } else if earned {
                Some(StepState::Verified)
            } else if revisit {
                recorded
            } else if made_elsewhere {
                Some(StepState::Skipped)
            } else {
                Some(recorded.unwrap_or(StepState::Verified))
            }
        };
        if made_elsewhere && !revisit {
            self.notes.push(format!(
                "Step {}'s checks held before you began (the lab was made before this session): it counts as skipped, not as yours.",
                step.index
            ));
        }
        if revisit {
            v.message = vec![format!(
                "Back at step {}: {}. Enter goes on; going back changes nothing of it.",
                step.index,
                state_word(recorded)
            )];
        }
        let mut input = Input::new();
        if !v.answered {
            input.answer_mode();
        }
        let (mut watcher, mut watched) = self.watch();
        let mut last_eval = Instant::now();
        let needs_poll = step.checks.iter().any(|c| c.check.needs_polling());
        let heard = step.checks.iter().all(|c| c.check.heard_on_change());
        loop {
            for (i, o) in v.outcomes.iter().enumerate() {
                if o.pass && !shown[i] {
                    trace(step.index, &step.checks[i].check.to_string());
                }
                shown[i] = o.pass;
            }
            let holds = v.outcomes.iter().all(|o| o.pass);
            // Checks that hold on a lab this step's setup never broke prove no mend: the
            // student who rebuilt the lab by hand after it was removed passed a fault that
            // was never there.
            let said = style(FAULT_MISSING).yellow().to_string();
            if v.fault_missing && holds && !v.message.contains(&said) {
                v.message.push(said);
            }
            let complete = holds && v.answered && !v.fault_missing;
            // A challenge's words after its solution talk about the solution: they are shown
            // once it is solved, and the step waits for Enter while they are read.
            let debrief = !step.debrief().trim().is_empty();
            if complete && has_something && !observe && !self.opts.pause && !revisit && !debrief {
                self.finish(step, passed(v.performed, earned));
                return Next::Forward;
            }
            let (w, h) = (width(), height());
            // Solved now: a step performed in an earlier session whose lab is gone again is an
            // open challenge, and its debrief stays hidden.
            let solved = complete;
            if v.prose.0 != (w, solved) {
                v.prose = ((w, solved), self.prose(idx, w, solved));
            }
            if v.view == View::Picture && v.picture.as_ref().is_none_or(|p| p.0 != w) {
                v.picture = Some((w, self.picture(idx, w)));
            }
            let parts = self.parts(step, &v, &input, complete && has_something, w);
            let laid = screen::layout(&parts, w, h);
            let max_scroll = laid.max_scroll;
            let page = laid.body_rows.max(2) - 1;
            v.scroll = v.scroll.min(max_scroll);
            self.screen.draw(&laid.lines);
            // Sleep until the kernel changes, a key comes, the terminal is resized, or the
            // next look on a clock is due: an idle session costs no CPU. Without a watcher,
            // the kernel is looked at on a clock.
            let polling = needs_poll || !complete;
            // Checks the kernel announces every change of are looked at on a clock only
            // rarely, in case an announcement was missed; the others every SLOW_POLL.
            let every = if needs_poll || !heard || watcher.is_none() {
                SLOW_POLL
            } else {
                HEARD_POLL
            };
            let due = input
                .next_due()
                .into_iter()
                .chain(polling.then_some(last_eval + every))
                .min();
            let now = Instant::now();
            let timeout = due.map_or(IDLE_WAKE, |d| d.saturating_duration_since(now));
            let changed = match &watcher {
                Some(w) => {
                    self.keys.wait(Some(w.fd()), timeout.min(IDLE_WAKE));
                    w.take_changed()
                }
                None => {
                    self.keys.wait(None, timeout.min(UNWATCHED_WAKE));
                    false
                }
            };
            let poll_due = polling && last_eval.elapsed() >= every;
            if changed || poll_due {
                // A namespace came or went: watch the new set (and let go of a deleted one, which
                // an open socket would keep alive).
                if self.engine.kernel.watched_changed(&watched) {
                    (watcher, watched) = self.watch();
                    // The ping watch too: a namespace made since is watched, and one deleted
                    // is let go of (its packet socket would keep it alive).
                    self.engine.watch_pings(step);
                }
                self.evaluate(idx, &mut v);
                earned |= !v.outcomes.iter().all(|o| o.pass);
                last_eval = Instant::now();
            }
            let mut events = input.tick(Instant::now());
            if let Some(k) = self.keys.next_stamped(Duration::ZERO) {
                events.extend(input.feed(k));
            }
            for ev in events {
                self.notes.clear();
                // A key's message lasts until the next key.
                if matches!(ev, Event::Key(_)) {
                    v.message.clear();
                }
                let scroll = |v: &mut StepView, by: isize| {
                    v.scroll = v.scroll.saturating_add_signed(by).min(max_scroll);
                };
                match ev {
                    Event::Quit | Event::Key(Key::Char('q')) => return Next::Quit,
                    Event::Typed => v.message = vec![style(TYPED).yellow().to_string()],
                    Event::NotAKey(c) => {
                        v.message = vec![format!("{c:?} is not a key here: press ? for the keys.")]
                    }
                    Event::AnswerEdited | Event::LeftAnswer => v.message.clear(),
                    Event::Submit(a) => self.submit(step, &mut v, &mut input, &a),
                    Event::Declined(_) => v.message = vec!["Nothing done.".into()],
                    Event::Confirmed(a) => match a {
                        Action::Skip => {
                            self.finish(step, Some(StepState::Skipped));
                            return Next::Forward;
                        }
                        Action::Reset => {
                            drop(watcher.take());
                            self.reset();
                            return Next::Restart;
                        }
                        Action::Perform => {
                            self.keep_ledger();
                            // The watcher's sockets in the lab's namespaces would keep a
                            // namespace the step deletes alive, and its veth pair with it: the
                            // step waited 10 s for a teardown that could not come.
                            drop(watcher.take());
                            v.message = self.perform(step);
                            (watcher, watched) = self.watch();
                            self.evaluate(idx, &mut v);
                            // Performed only if that completed the step: after a line that
                            // failed, what the student does next completes it, and earns it.
                            v.performed = v.outcomes.iter().all(|o| o.pass);
                            earned |= !v.performed;
                            // Performed by nslab, the step earns the student nothing: a fault
                            // its setup could not make no longer holds it back.
                            if v.performed {
                                v.fault_missing = false;
                            }
                        }
                        Action::Rebuild(from) => {
                            self.keep_ledger();
                            drop(watcher.take());
                            let (said, set_up) = self.rebuild(from, idx, v.fault_missing);
                            v.message = said;
                            if let Some(ok) = set_up {
                                v.fault_missing = !ok;
                            }
                            (watcher, watched) = self.watch();
                            self.evaluate(idx, &mut v);
                            // What nslab made again completed the step: the student's commands
                            // did not (troubleshooting: f made the route the fault removed).
                            if v.outcomes.iter().all(|o| o.pass) {
                                v.performed = true;
                            }
                            earned |= !v.outcomes.iter().all(|o| o.pass);
                        }
                    },
                    // Shown again after `b`: Enter goes on, as the message says, though an
                    // action check (a ping since the step began) is open again.
                    Event::Key(Key::Enter) if !complete && revisit && recorded.is_some() => {
                        self.finish(step, recorded);
                        return Next::Forward;
                    }
                    // Gone ahead: this step's checks were never seen holding, so it counts as
                    // skipped; the next one ticks as the student's if its checks turned true
                    // while this one was shown.
                    Event::Key(Key::Enter) if !complete && v.ahead.is_some() => {
                        // It did not hold when this step was shown: whatever held when the
                        // session began (a deletion step, before the thing existed), it is
                        // the student's now.
                        if let Some(j) = v.ahead {
                            self.held_at_start.remove(&(j - 1));
                        }
                        self.finish(step, Some(StepState::Skipped));
                        return Next::Forward;
                    }
                    Event::Key(Key::Enter) if complete => {
                        let how = if has_something {
                            passed(v.performed, earned)
                        } else if revisit {
                            recorded
                        } else {
                            Some(StepState::Skipped)
                        };
                        self.finish(step, how);
                        return Next::Forward;
                    }
                    Event::Key(Key::Enter | Key::Char('a')) if !v.answered => {
                        input.answer_mode();
                        v.message.clear();
                    }
                    Event::Key(Key::Enter) if v.fault_missing => {
                        v.message = vec![style(FAULT_MISSING).yellow().to_string()]
                    }
                    Event::Key(Key::Enter) => {
                        v.message = vec![
                            "Not yet: the checks above are still open. Press h for a hint.".into(),
                        ]
                    }
                    Event::Key(Key::Char('h')) => {
                        v.hint_level = (v.hint_level + 1).min(LAST_HINT);
                        v.message.clear();
                    }
                    // Performing this step on a lab that is past it would make a second pair, or
                    // undo what the student did.
                    Event::Key(Key::Char('d')) if v.ahead.is_some() => {
                        v.message = vec![format!(
                            "Not done: step {}'s checks hold already, so this step's commands would now repeat or undo what you did. Press Enter to go on.",
                            v.ahead.unwrap_or_default()
                        )];
                    }
                    Event::Key(Key::Char('d')) => {
                        input.confirm(Action::Perform);
                        v.message.clear();
                    }
                    Event::Key(Key::Char('n')) => {
                        input.confirm(Action::Skip);
                        v.message.clear();
                    }
                    Event::Key(Key::Char('r')) => {
                        input.confirm(Action::Reset);
                        v.message.clear();
                    }
                    // After a setup that failed, `f` sets this step up again (and, first, what
                    // an earlier step made and is gone).
                    Event::Key(Key::Char('f')) => match v
                        .rebuild
                        .or(v.fault_missing.then_some(step.index))
                    {
                        Some(from) => {
                            input.confirm(Action::Rebuild(from));
                            v.message.clear();
                        }
                        None => match namespace_gone_before(self.engine, self.lesson, idx) {
                            Some((from, name)) => {
                                v.message = vec![if from >= step.index {
                                    format!("Namespace {name}, made by this step's setup, is gone.")
                                } else {
                                    format!("Namespace {name}, made in step {from}, is gone.")
                                }];
                                input.confirm(Action::Rebuild(from));
                            }
                            None => {
                                v.message = vec![
                                    "Nothing to rebuild: every namespace the earlier steps and this step's setup made is there, and nothing this step's checks need from them is missing.".into(),
                                ]
                            }
                        },
                    },
                    Event::Key(Key::Char('b')) => return Next::Back,
                    Event::Key(Key::Char('t')) => {
                        drop(watcher.take());
                        self.shell(step, &v);
                        (watcher, watched) = self.watch();
                        self.evaluate(idx, &mut v);
                        v.message = vec![style("Back in the lesson.").yellow().to_string()];
                    }
                    Event::Key(Key::Char('g')) => {
                        v.view = match v.view {
                            View::Prose => View::Picture,
                            View::Picture => View::Prose,
                        };
                        v.picture = None;
                        v.scroll = 0;
                    }
                    Event::Key(Key::Esc) if v.view == View::Picture => {
                        v.view = View::Prose;
                        v.scroll = 0;
                    }
                    Event::Key(Key::Char('?')) => v.message = vec![KEYS_HELP.to_string()],
                    Event::Key(Key::Up | Key::Char('k')) => scroll(&mut v, -1),
                    Event::Key(Key::Down | Key::Char('j')) => scroll(&mut v, 1),
                    Event::Key(Key::PageUp) => scroll(&mut v, -(page as isize)),
                    Event::Key(Key::PageDown) => scroll(&mut v, page as isize),
                    Event::Key(Key::Home) => v.scroll = 0,
                    Event::Key(Key::End) => v.scroll = max_scroll,
                    Event::Key(_) => {}
                }
            }
        }
    }

    /// A submitted answer: right, wrong (explained from the second time), or a shell line.
    fn submit(&mut self, step: &Step, v: &mut StepView, input: &mut Input, typed: &str) {
        let Some(q) = &step.question else { return };
        let given = normalize(typed);
        if given.is_empty() {
            v.message = vec!["Type your answer, then Enter (Esc for the keys).".into()];
            return;
        }
        if looks_like_a_command(&given) {
            v.message = vec![style(TYPED).yellow().to_string()];
            return;
        }
        let mut round = self.engine.round();
        let right = round.answer(&q.answer);
        if right.as_deref() == Some(given.as_str()) {
            v.answered = true;
            input.mode = Mode::Command;
            v.message = vec![format!("{} {given} is right.", style("✓").green())];
            return;
        }
        v.wrong_answers += 1;
        let mut m = vec![format!("{} {given} is not it.", style("✗").red())];
        // The count lsns shows leaves out the namespaces only a bind mount holds.
        if q.answer == Answer::NetnsCount
            && round.answer(&Answer::NetnsCountHeld).as_deref() == Some(given.as_str())
        {
            m.push(LSNS_MISSES.into());
        } else if v.wrong_answers < 2 {
            m.push("Look again, and try once more.".into());
        } else {
            m.push(q.explain.clone().unwrap_or_else(|| explain(&q.answer)));
        }
        v.message = m;
    }

    /// The parts of the frame for the step as it stands.
    fn parts(&self, step: &Step, v: &StepView, input: &Input, complete: bool, w: usize) -> Parts {
        let n = self.lesson.steps.len();
        let body = match (&v.view, &v.picture) {
            (View::Picture, Some((_, p))) => p.clone(),
            _ => v.prose.1.clone(),
        };
        let checks = step
            .checks
            .iter()
            .zip(&v.outcomes)
            .zip(&v.whys)
            .map(|((c, o), why)| CheckRow {
                pass: o.pass,
                text: c.check.describe(),
                why: why.clone(),
            })
            .collect();
        let mut question = Vec::new();
        if let Some(q) = &step.question {
            if v.answered {
                question.push(format!("{} {}", style("✓").green().bold(), q.prompt));
            } else {
                question.push(format!("{} {}", style("?").yellow().bold(), q.prompt));
                question.push(match input.mode {
                    Mode::Answer => format!(
                        "  your answer: {}{}",
                        style(&input.answer).bold(),
                        style("▏").bold()
                    ),
                    _ => format!("  your answer: {}   (a or Enter to type it)", input.answer),
                });
            }
        }
        let mut messages: Vec<String> = self.notes.clone();
        let notes = messages.len();
        if step.challenge && v.hint_level == 0 && !complete {
            messages.push(CHALLENGE.into());
        }
        if let Some(j) = v.ahead {
            messages.push(style(ahead_note(step.index, j)).yellow().to_string());
        }
        messages.extend(v.message.iter().cloned());
        if v.hint_level > 0 {
            messages.extend(self.hint(step, &v.outcomes, v.ahead, v.hint_level, w));
        }
        // A hint's "expected:" says again what the check says: in a small pane it gives way
        // before the hint's Try does.
        let details: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.starts_with(HINT_EXPECTED))
            .map(|(i, _)| i)
            .collect();
        if let Mode::Confirm(a) = input.mode {
            messages.push(
                style(match a {
                    Action::Skip => "Skip this step? y/N".to_string(),
                    Action::Perform => "Let nslab perform this step's commands? y/N".to_string(),
                    Action::Reset => format!(
                        "Reset the lesson: remove everything {} makes and start again? y/N",
                        self.lesson.id
                    ),
                    Action::Rebuild(from) if from >= step.index => {
                        "Perform this step's setup again, to rebuild what it made? y/N".to_string()
                    }
                    Action::Rebuild(from) if from + 1 == step.index => {
                        format!("Perform step {from} again, to rebuild what it made? y/N")
                    }
                    Action::Rebuild(from) => format!(
                        "Perform steps {from} to {} again, to rebuild what they made? y/N",
                        step.index - 1
                    ),
                })
                .bold()
                .to_string(),
            );
        }
        if complete {
            messages.push(format!(
                "{} Press Enter to go on.",
                style("Done.").green().bold()
            ));
        }
        let footers = match input.mode {
            Mode::Answer => vec![
                "type your answer · Enter: check it · Esc: the keys · q alone: quit".into(),
                "Enter: check · Esc: keys · q: quit".into(),
            ],
            Mode::Confirm(_) => vec!["y: yes · any other key: no".into()],
            Mode::Command => {
                // The widest that fits is shown; while something is to rebuild, `f` leads
                // each of them (the line under the check says "press f").
                if v.rebuild.is_some() || v.fault_missing {
                    vec![
                        "f rebuild · h hint · d do it · n skip · b back · t shell · g picture · r reset · q quit".to_string(),
                        "f rebuild h hint d do n skip b back t shell g pic r reset q quit".into(),
                        "f rebuild · h d n b t g r q · ? help".into(),
                        "f h d n b t g r q · ? help".into(),
                    ]
                } else {
                    vec![
                        "h hint · d do it · n skip · b back · t shell · g picture · r reset · ↑↓ scroll · q quit".to_string(),
                        "h hint d do n skip b back t shell g pic r reset q quit".into(),
                        "h d n b t g r q · ? help".into(),
                    ]
                }
            }
        };
        Parts {
            header: format!("Step {} of {n}: {}", step.index, step.title),
            body,
            scroll: v.scroll,
            // A challenge's commands are the student's to find: its solution stays hidden.
            commands: if step.challenge {
                Vec::new()
            } else {
                step.commands.iter().map(|c| c.text.clone()).collect()
            },
            checks,
            question,
            messages,
            footers,
            asked: v.hint_level > 0,
            notes,
            details,
        }
    }

    /// The `h` key's text at a level, from the verdicts of now.
    fn hint(
        &self,
        step: &Step,
        outcomes: &[Verdict],
        ahead: Option<usize>,
        level: usize,
        w: usize,
    ) -> Vec<String> {
        match level {
            1 if step.hints.is_empty() => {
                vec!["This step has no written hint: press h again for what nslab sees.".into()]
            }
            1 => step.hints.iter().map(|h| format!("Hint: {h}")).collect(),
            2 => {
                let failing: Vec<(&crate::lesson::CheckLine, &Verdict)> = step
                    .checks
                    .iter()
                    .zip(outcomes)
                    .filter(|(_, o)| !o.pass)
                    .collect();
                if failing.is_empty() {
                    return vec!["Every check holds now.".into()];
                }
                let mut out = Vec::new();
                for (c, o) in failing {
                    out.push(format!("{} {}", style("✗").red(), c.check.describe()));
                    out.push(format!("{HINT_EXPECTED}{}", o.expected));
                    out.push(format!("    found: {}", o.found));
                    if let Some(cause) = &o.cause {
                        out.push(format!("    {}", crate::engine::judge::sentence(cause)));
                    }
                    // A name that was there before the lesson began is the student's: no hint
                    // removes it (`ip netns del blue` for a step that wants blue absent).
                    if let Some(name) = o.fix.as_deref().and_then(|f| removes(f, &self.taken)) {
                        out.push(format!(
                            "    {name} was there before this lesson began: it is yours, and nslab does not suggest removing it. Press n to skip this step."
                        ));
                        continue;
                    }
                    // In a challenge, the command that mends it is the exercise; gone ahead, it
                    // would undo what the student did.
                    if let Some(f) = o
                        .fix
                        .as_ref()
                        .filter(|_| !step.challenge && ahead.is_none())
                    {
                        out.push(format!("    Try: {}", style(f).cyan()));
                    }
                }
                out
            }
            _ if step.challenge => {
                let mut v = vec![
                    "One way to do it (yours may differ: the checks judge the result, d performs it):"
                        .to_string(),
                ];
                v.extend(command_lines(step, "    ", w));
                v
            }
            _ => commands_text(step, w),
        }
    }

    /// `d`: nslab performs the step's commands; Ctrl-C stops it at once.
    /// On the machine: the lesson's baseline is in the ledger before nslab (or a step) makes
    /// anything. `nslab reset` leaves a lesson that learn runs alone (modes/session.rs), but the
    /// ledger file may have been removed by hand: without a new baseline, what `f` and `d` made
    /// after that would be no lesson's, and no reset would remove it. The new one takes what is
    /// there now as the machine's own (kept by any reset).
    fn keep_ledger(&self) {
        if matches!(self.place, Place::Host) {
            let _ = super::reset::begin(
                &self.engine.kernel,
                self.lesson,
                crate::engine::ledger::file::By::Learn,
            );
        }
    }

    fn perform(&mut self, step: &Step) -> Vec<String> {
        let mut shown = Collect::default();
        let engine = &mut *self.engine;
        super::interruptible(&self.keys, false, || {
            runner::run_step(engine, step, &Policy::default(), &mut shown);
        });
        let mut lines: Vec<String> = shown.text.lines().map(str::to_string).collect();
        const MOST: usize = 12;
        if lines.len() > MOST {
            let cut = lines.len() - MOST;
            lines.drain(..cut);
            lines.insert(
                0,
                style(format!("({cut} lines above not shown)"))
                    .dim()
                    .to_string(),
            );
        }
        lines
    }

    fn reset(&mut self) {
        let sandboxed = matches!(self.place, Place::Sandbox);
        let said = super::reset::reset_in_session(&self.engine.kernel, self.lesson, sandboxed);
        let id = &self.lesson.id;
        // Started over: what ran before is no longer the lesson's.
        let began = crate::kernel::procs::boot_id().map(|boot_id| crate::progress::Began {
            boot_id,
            ticks: self.engine.kernel.start_ticks(),
        });
        self.record(|p| {
            let l = p.lesson(id);
            l.forget_steps();
            l.began = began;
        });
        self.notes.push(format!(
            "Reset: {}",
            if said.is_empty() {
                "nothing to remove".to_string()
            } else {
                said.join(", ")
            }
        ));
    }

    /// `t`: a shell for the lesson, on the normal screen with the checklist above it; the
    /// frame comes back when it exits.
    fn shell(&mut self, step: &Step, v: &StepView) {
        self.screen.leave();
        let mut s = format!(
            "\n{}\n",
            style(format!(
                "Step {} of {}: {}",
                step.index,
                self.lesson.steps.len(),
                step.title
            ))
            .bold()
            .cyan()
        );
        let w = width();
        // A challenge's commands are the student's to find, here too.
        if !step.challenge {
            for c in &step.commands {
                for (i, l) in crate::render::command(&c.text, w.saturating_sub(4))
                    .into_iter()
                    .enumerate()
                {
                    s.push_str(&format!("  {} {l}\n", if i == 0 { "$" } else { " " }));
                }
            }
        }
        for (c, o) in step.checks.iter().zip(&v.outcomes) {
            let mark = if o.pass { "✓" } else { "·" };
            s.push_str(&format!("  {mark} {}\n", c.check.describe()));
        }
        s.push_str(&format!(
            "\n{}\n",
            style("A shell for this lesson: its prompt starts with (nslab lesson). Type your commands here; type exit to come back to the lesson.").yellow()
        ));
        put(&fill(&s, w));
        let id = self.lesson.id.clone();
        let result = self
            .keys
            .suspended(|| crate::term::run_in_foreground(&mut shell::command(&id)));
        self.screen.enter();
        if let Err(e) = result {
            self.notes.push(
                style(format!("Could not open a shell: {e}"))
                    .red()
                    .to_string(),
            );
        }
    }

    /// The step is left forward, `how` it was passed (`None`: a step shown again that was
    /// never passed stays so).
    fn finish(&mut self, step: &Step, how: Option<StepState>) {
        let id = &self.lesson.id;
        // A step only moves up: skipping a step verified earlier leaves it verified.
        let now = match how {
            Some(how) => self
                .record(|p| p.lesson(id).mark(step.index, how))
                .or(Some(how)),
            None => None,
        };
        self.notes.push(format!(
            "Step {} {}: {}",
            step.index,
            state_word(now),
            step.title
        ));
    }

    /// Watches everything there is now; without a watcher, learn still polls.
    fn watch(&self) -> (Option<Watcher>, Watched) {
        match self.engine.kernel.watch_all() {
            Ok((w, named)) => (Some(w), named),
            Err(_) => (None, self.engine.kernel.live_netns()),
        }
    }
}

/// How a hint's "expected:" line starts (see [`Learn::parts`]: it gives way in a small pane).
const HINT_EXPECTED: &str = "    expected: ";

/// A link or namespace a check is about: its name; for a link, its namespace and, when the
/// check names it, the other end of its cable.
#[derive(Debug, PartialEq)]
enum About<'c> {
    Netns(&'c str),
    Link {
        name: &'c str,
        ns: &'c Ns,
        peer: Option<&'c str>,
    },
}

/// What a check is about (see [`About`]).
fn about(c: &Check) -> Vec<About<'_>> {
    let link = |name, ns, peer| About::Link { name, ns, peer };
    match c {
        Check::Netns { name, .. } => vec![About::Netns(name)],
        Check::Link { name, ns, pred } => match pred {
            LinkPred::Peer {
                name: peer,
                ns: pns,
            } => vec![link(name, ns, Some(peer)), link(peer, pns, Some(name))],
            LinkPred::Master(br) => vec![link(name, ns, None), link(br, ns, None)],
            _ => vec![link(name, ns, None)],
        },
        Check::Addr { dev, ns, .. } => vec![link(dev, ns, None)],
        Check::Route { route, ns } => route.dev.iter().map(|d| link(d, ns, None)).collect(),
        Check::Neigh { dev, ns, .. } => dev.iter().map(|d| link(d, ns, None)).collect(),
        Check::Fdb { port, ns, .. } => vec![link(port, ns, None)],
        Check::Not(inner) => about(inner),
        _ => Vec::new(),
    }
}

/// Whether two checks are about the same link or namespace: a link of one name in one
/// namespace, or in two namespaces when both checks name the same other end (a cable that was
/// moved). An `eth0` in left and one in right are two links, as in the routing lesson.
fn shares_a_name(a: &Check, b: &Check) -> bool {
    let theirs = about(b);
    about(a).iter().any(|x| {
        theirs.iter().any(|y| match (x, y) {
            (About::Netns(m), About::Netns(n)) => m == n,
            (
                About::Link { name, ns, peer },
                About::Link {
                    name: n2,
                    ns: ns2,
                    peer: p2,
                },
            ) => name == n2 && (ns == ns2 || (peer.is_some() && peer == p2)),
            _ => false,
        })
    })
}

/// The name in `taken` ("netns blue", "link veth0") that the command `fix` deletes, if any.
fn removes<'t>(fix: &str, taken: &'t [String]) -> Option<&'t str> {
    let words: Vec<&str> = fix.split_whitespace().collect();
    taken.iter().map(String::as_str).find(|t| {
        let Some((kind, name)) = t.split_once(' ') else {
            return false;
        };
        words.windows(3).any(|w| {
            w[0] == kind && matches!(w[1], "del" | "delete") && w[2].trim_end_matches(';') == name
        }) || (kind == "link"
            && words.windows(4).any(|w| {
                w[0] == "link" && matches!(w[1], "del" | "delete") && w[2] == "dev" && w[3] == name
            }))
    })
}

/// Said while the student is ahead of step `k`: step `j`'s checks hold already.
fn ahead_note(k: usize, j: usize) -> String {
    format!(
        "Step {j}'s checks hold already: you seem to have gone ahead. Enter goes on (step {k} counts as skipped: its own checks were not seen holding), or mend step {k} here."
    )
}

fn state_word(s: Option<StepState>) -> String {
    match s {
        Some(StepState::Verified) => style("✓ verified").green().bold().to_string(),
        Some(StepState::Performed) => style("▶ performed by nslab").cyan().to_string(),
        Some(StepState::Skipped) => style("↷ skipped").yellow().to_string(),
        None => style("· not passed").dim().to_string(),
    }
}

/// A step's Markdown without its ```` ```sh ```` blocks: the screen shows the commands in a
/// place of their own, always in view.
pub(crate) fn without_commands(md: &str) -> String {
    use pulldown_cmark::{CodeBlockKind, Event as Md, Parser, Tag};
    let mut out = String::new();
    let mut from = 0;
    for (ev, range) in
        Parser::new_ext(md, crate::lesson::parse::markdown_options()).into_offset_iter()
    {
        if let Md::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) = ev
            && info.split_whitespace().next() == Some("sh")
            && range.start >= from
        {
            out.push_str(&md[from..range.start]);
            out.push_str("*(the commands are below)*\n");
            from = range.end;
        }
    }
    out.push_str(&md[from..]);
    out
}

/// An answer as typed, brought to the form nslab compares: `net:[4026531840]`, as
/// `readlink` prints it, is its number.
fn normalize(a: &str) -> String {
    let a = a.trim();
    let inner = a
        .strip_prefix("net:[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(a);
    inner.trim().to_string()
}

/// An answer that is a command line: words and no number.
fn looks_like_a_command(a: &str) -> bool {
    a.contains(char::is_whitespace) && !a.chars().any(|c| c.is_ascii_digit())
}

/// Where to look and why, for an answer of this kind (when the question has no `explain:`).
fn explain(a: &Answer) -> String {
    match a {
        Answer::NetnsCount => "Every network namespace counts: lsns -t net lists those a process is in, and a namespace that only a bind mount holds (ip netns add makes one) counts too: ls /run/netns. A namespace in both lists counts once.".into(),
        Answer::NetnsCountHeld => "Count the namespaces lsns -t net lists, one a line below its heading (lsns -t net -n | wc -l): each is a namespace at least one process is in.".into(),
        Answer::RootNetnsInode => "Your shell runs in the root network namespace. readlink /proc/$$/ns/net prints net:[NUMBER]: the number is the answer.".into(),
        Answer::NetnsInode(n) => format!("A named namespace is a file in /run/netns: its inode number is the namespace's. stat -L -c %i /run/netns/{n} prints it."),
    }
}

fn commands_text(step: &Step, width: usize) -> Vec<String> {
    if step.commands.is_empty() {
        return vec!["This step has no commands.".into()];
    }
    let mut v =
        vec!["The commands of this step, to type in your shell (d performs them):".to_string()];
    v.extend(command_lines(step, "    ", width));
    v
}

/// A step's commands after `lead`, each laid out in `width` columns as the commands' place
/// lays them out: a command too long is broken between words with ` \`, so that it is typed
/// as shown, and its next lines are indented (by `render::command`).
fn command_lines(step: &Step, lead: &str, width: usize) -> Vec<String> {
    let room = width.saturating_sub(lead.chars().count());
    step.commands
        .iter()
        .flat_map(|c| crate::render::command(&c.text, room))
        .map(|l| format!("{lead}{l}"))
        .collect()
}

/// Text for the normal screen, each line wrapped between words to `width` (blank lines kept).
fn fill(text: &str, width: usize) -> String {
    let mut out = String::new();
    for l in text.lines() {
        if l.is_empty() {
            out.push('\n');
            continue;
        }
        for w in crate::render::wrap(l, width) {
            out.push_str(&w);
            out.push('\n');
        }
    }
    out
}

/// Learn's view of a step nslab performs (`d`): each command and what it printed.
#[derive(Default)]
struct Collect {
    text: String,
}

impl Show for Collect {
    fn command(&mut self, c: &CommandLine) {
        self.text
            .push_str(&format!("{} {}\n", style("$").dim(), style(&c.text).cyan()));
    }

    fn performed(&mut self, _c: &CommandLine, r: &CommandRun) {
        if !r.output.is_empty() {
            self.text.push_str(&crate::term::printable(&r.output));
            if !r.output.ends_with('\n') {
                self.text.push('\n');
            }
        }
        if let Some(e) = &r.error {
            self.text.push_str(&format!("{}\n", style(e).red()));
        }
    }
}

const CHALLENGE: &str =
    "A challenge: the commands are yours to find. h gives hints, and its last level shows one way.";

const TYPED: &str = "This is the lesson pane: type commands in your shell (the other pane, or t for a shell here). Nothing was changed.";

const SANDBOX_NOTE: &str = "*You are not root, so this lesson runs in a private sandbox. Press t to open a shell inside it; type your commands there.*";

const LSNS_MISSES: &str = "That is the count lsns -t net gives: the namespaces that processes are in. A namespace that only a bind mount in /run/netns holds (ip netns add makes one) has no process, and lsns does not list it; it counts too: ls /run/netns.";

/// What learn says while a step whose hidden setup failed has its checks holding.
const FAULT_MISSING: &str = "These checks hold, but this step's setup failed (above, or when the step began), so what it sets up for you to find is not in the lab: nothing here is mended by you yet. Press f to set the step up again once the lab of the earlier steps is there, or n to skip it.";

const KEYS_HELP: &str = "Keys: h hint (again: what nslab sees, then the commands) · d do it for me · n skip · b back · t a shell · g the picture · f rebuild what an earlier step made · r reset · a answer · ↑↓ PgUp PgDn scroll · q quit. Type commands in your shell, not here.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_hint_removes_what_was_there_before_the_lesson() {
        let taken = vec!["netns blue".to_string(), "link veth0".to_string()];
        assert_eq!(removes("ip netns del blue", &taken), Some("netns blue"));
        assert_eq!(
            removes("sudo ip link delete dev veth0", &taken),
            Some("link veth0")
        );
        assert_eq!(removes("ip netns del blue2", &taken), None);
        assert_eq!(removes("ip -n blue link del veth1", &taken), None);
        assert_eq!(removes("ip netns add blue", &taken), None);
    }

    #[test]
    fn answers_are_normalized() {
        assert_eq!(normalize(" net:[4026531840] "), "4026531840");
        assert_eq!(normalize("3"), "3");
        assert!(looks_like_a_command("ip netns add blue"));
        assert!(!looks_like_a_command("4026531840"));
    }

    /// The last level of `h` lays a long command out as the commands' place does: broken
    /// between words with ` \\`, so that a student in a narrow pane types it as shown.
    #[test]
    fn hint_commands_are_broken_to_be_typed() {
        console::set_colors_enabled(false);
        let src = crate::diag::Source::new(
            "t.md",
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n## One\n\n```sh\nip link add veth0 netns blue type veth peer name veth1 netns red\n```\n",
        );
        let l = crate::lesson::parse::parse(&src).0.unwrap();
        let lines = commands_text(&l.steps[0], 40);
        assert!(
            lines[1..].iter().all(|x| x.chars().count() <= 40),
            "{lines:#?}"
        );
        assert!(lines[1].ends_with(" \\"), "{lines:#?}");
        assert!(lines.len() > 2, "{lines:#?}");
        // Joined as the shell joins them, the command is the lesson's.
        let joined: String = lines[1..]
            .iter()
            .map(|x| x.trim().trim_end_matches('\\').trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            joined,
            "ip link add veth0 netns blue type veth peer name veth1 netns red"
        );
        // The end screen and the shell's banner wrap between words.
        let f = fill(
            "Lesson complete.\n\nNext lesson: routing (A router between two subnets). Start it with: nslab learn routing",
            40,
        );
        assert!(f.lines().all(|x| x.chars().count() <= 40), "{f}");
        assert!(f.contains("complete.\n\nNext"), "{f}");
        let flat = f.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.ends_with("Start it with: nslab learn routing"), "{f}");
    }

    #[test]
    fn command_blocks_leave_the_prose() {
        let md =
            "Make one:\n\n```sh\nip netns add blue\n```\n\nThen look:\n\n```output\nblue\n```\n";
        let out = without_commands(md);
        assert!(!out.contains("ip netns add"), "{out}");
        assert!(
            out.contains("Then look:") && out.contains("```output"),
            "{out}"
        );
    }
}
