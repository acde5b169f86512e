//! `nslab learn`: the student works in their own shell; nslab watches the kernel and ticks each
//! check the moment it becomes true. The learn policy over the shared engine: evaluate on every
//! kernel event, perform only when the student asks (`d`).

use std::time::{Duration, Instant};

use console::style;

use super::{Place, put};
use crate::engine::runner::{self, CommandRun, Policy, Show};
use crate::engine::{Engine, Verdict};
use crate::exit::{Code, Failure};
use crate::kernel::Watcher;
use crate::lesson::{CommandLine, Lesson, Ns, Op, Step};
use crate::progress::{self, Progress, StepState, Store};
use crate::render::render;
use crate::term::{Key, Keys, width};

pub struct Options {
    /// Start at this step (1-based), first bringing the kernel to the state it needs.
    pub step: Option<usize>,
    /// Wait for Enter after each verified step instead of moving on at once.
    pub pause: bool,
}

const KEYS_HELP: &str = "[h] hint  [s] show commands  [d] do it for me  [n] skip  [b] back  [t] shell  [g] topology  [r] reset  [q] quit";

/// How often checks without a kernel event (pings, processes, shell commands) are looked at
/// again; pings then wait at most LEARN_PING for their reply (a veth answers in well under a
/// millisecond), all at once, so that a round of failing pings stays short.
const SLOW_POLL: Duration = Duration::from_millis(100);
const LEARN_PING: Duration = Duration::from_millis(50);

/// The part of the screen that is redrawn: the checklist, the question, messages.
struct Status {
    lines: usize,
}

impl Status {
    fn clear(&mut self) {
        if self.lines > 0 {
            let _ = console::Term::stdout().clear_last_lines(self.lines);
            self.lines = 0;
        }
    }

    fn draw(&mut self, lines: &[String]) {
        self.clear();
        // Wrapped here, not by the terminal, so that the count of lines to clear is right.
        let wrapped: Vec<String> = lines
            .iter()
            .flat_map(|l| crate::render::wrap(l, width().saturating_sub(1)))
            .collect();
        let mut s = wrapped.join("\n");
        s.push('\n');
        put(&s);
        self.lines = wrapped.len();
    }

    /// Prints text that stays (above the status area).
    fn print(&mut self, text: &str) {
        self.clear();
        put(text);
        if !text.ends_with('\n') {
            put("\n");
        }
    }
}

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
    status: Status,
    place: &'a Place,
    opts: Options,
}

/// What the student chose to do after a step.
enum Next {
    Forward,
    Back,
    Restart,
    Quit,
}

pub fn learn(
    lesson: &Lesson,
    engine: &mut Engine,
    place: &Place,
    opts: Options,
) -> Result<Code, Failure> {
    // Before the terminal is taken: a progress file nslab cannot use stops here, with its message.
    let progress = Store::default();
    progress.update(|p| p.current = Some(lesson.id.clone()))?;
    engine.set_lesson(lesson);
    engine.reuse_probes_for(SLOW_POLL);
    // The ledger (modes/reset.rs): other lessons' leftovers offered for reset (issue 19), then
    // this lesson's baseline, before the student's first command. Not in the sandbox, which
    // vanishes with learn.
    if matches!(place, Place::Host) {
        super::reset::offer_others(&engine.kernel, lesson);
        super::reset::begin_noting(
            &engine.kernel,
            lesson,
            crate::engine::ledger::file::By::Learn,
        );
    }
    let keys = Keys::new().map_err(|e| Failure::env(format!("cannot set up the terminal: {e}")))?;
    let mut l = Learn {
        lesson,
        engine,
        progress,
        keys,
        status: Status { lines: 0 },
        place,
        opts,
    };
    l.run()
}

impl Learn<'_> {
    fn run(&mut self) -> Result<Code, Failure> {
        let n = self.lesson.steps.len();
        self.remember_sysctls();
        let mut idx = match self.opts.step {
            Some(s) => {
                let s = self
                    .lesson
                    .step_number("--step", s)
                    .map_err(Failure::usage)?;
                super::prepare(self.engine, self.lesson, s);
                s - 1
            }
            None => {
                let p = self.snapshot();
                if p.step > n { 0 } else { p.step.max(1) - 1 }
            }
        };
        self.header(idx);
        while idx < n {
            match self.step(&self.lesson.steps[idx]) {
                Next::Forward => idx += 1,
                Next::Back => idx = idx.saturating_sub(1),
                Next::Restart => idx = 0,
                Next::Quit => {
                    self.save(idx + 1, false);
                    self.status.clear();
                    put(&format!(
                        "Your progress is saved: `nslab learn {}` resumes at step {}.\n",
                        self.lesson.id,
                        idx + 1
                    ));
                    return Ok(Code::Interrupted);
                }
            }
            self.save(idx + 1, idx >= n);
        }
        let p = self.snapshot();
        let (v, d, s) = (
            p.count(StepState::Verified),
            p.count(StepState::Performed),
            p.count(StepState::Skipped),
        );
        put(&format!(
            "\n{} {}: {v} of {n} steps verified{}{}.\n",
            style("Lesson complete").green().bold(),
            self.lesson.title,
            if d > 0 {
                format!(", {d} performed by nslab")
            } else {
                String::new()
            },
            if s > 0 {
                format!(", {s} skipped")
            } else {
                String::new()
            }
        ));
        Ok(Code::Success)
    }

    fn save(&mut self, step: usize, done: bool) {
        let id = &self.lesson.id;
        let now = progress::now();
        self.record(|p| {
            let l = p.lesson(id);
            l.reach(step, now);
            if done {
                l.finish(now);
            }
        });
    }

    /// Writes one change through to the progress file. A failure is shown and the lesson goes on.
    fn record<T>(&mut self, change: impl FnOnce(&mut Progress) -> T) -> Option<T> {
        match self.progress.update(change) {
            Ok(t) => Some(t),
            Err(e) => {
                self.status
                    .print(&style(format!("Progress not saved: {e}")).red().to_string());
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
                Op::Sysctl(kv) => Some(kv.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()),
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

    fn header(&mut self, idx: usize) {
        let mut s = format!("\n{}\n\n", style(&self.lesson.title).bold().underlined());
        if idx == 0 {
            s.push_str(&render(&self.lesson.intro, width()));
        }
        if matches!(self.place, Place::Sandbox) {
            s.push_str(&format!(
                "\n{}\n",
                style("You are not root, so this lesson runs in a private sandbox. Press t to open a shell inside it; type your commands there.").yellow()
            ));
        }
        self.status.print(&s);
    }

    fn step(&mut self, step: &Step) -> Next {
        self.engine.begin_step(step);
        let n = self.lesson.steps.len();
        let title = format!("Step {} of {n}: {}", step.index, step.title);
        self.status.print(&format!(
            "\n{}\n\n{}",
            style(title).bold().cyan(),
            render(&step.body, width())
        ));
        let observe = step.observes_only() || step.commands.is_empty();
        let mut outcomes = self.engine.evaluate_with(&step.checks, LEARN_PING);
        let mut shown: Vec<bool> = vec![false; outcomes.len()];
        let mut answer = String::new();
        let mut answered = step.question.is_none();
        let mut hint_level = 0usize;
        // `d` was pressed: the step counts as performed by nslab, not verified. Checks that hold
        // already when a passed step is shown again (after `b`) prove nothing new: it keeps its
        // state.
        let mut performed = false;
        let earlier = self
            .snapshot()
            .state(step.index)
            .filter(|_| outcomes.iter().all(|o| o.pass));
        let passed = |performed: bool| {
            if performed {
                StepState::Performed
            } else {
                earlier.unwrap_or(StepState::Verified)
            }
        };
        let mut message: Vec<String> = Vec::new();
        let (mut watcher, mut watched) = self.watch();
        let mut last_eval = Instant::now();
        let needs_poll = step.checks.iter().any(|c| c.check.needs_polling());
        loop {
            for (i, o) in outcomes.iter().enumerate() {
                if o.pass && !shown[i] {
                    trace(step.index, &step.checks[i].check.to_string());
                }
                shown[i] = o.pass;
            }
            let complete = outcomes.iter().all(|o| o.pass) && answered;
            let has_something = !step.checks.is_empty() || step.question.is_some();
            self.status.draw(&self.screen(
                step,
                &outcomes,
                &answer,
                answered,
                &message,
                complete && has_something,
            ));
            if complete && has_something && !observe && !self.opts.pause {
                self.finish(step, passed(performed));
                return Next::Forward;
            }
            // Wait for the kernel or a key.
            let changed = match &watcher {
                Some(w) => w.wait(Duration::from_millis(15)),
                None => {
                    std::thread::sleep(Duration::from_millis(15));
                    false
                }
            };
            let poll_due = (needs_poll || !complete) && last_eval.elapsed() >= SLOW_POLL;
            if changed || poll_due {
                // A namespace came or went: watch the new set (and let go of a deleted one, which
                // an open socket would keep alive).
                if self.engine.kernel.watched_changed(&watched) {
                    (watcher, watched) = self.watch();
                }
                outcomes = self.engine.evaluate_with(&step.checks, LEARN_PING);
                last_eval = Instant::now();
            }
            let Some(key) = self.keys.next(Duration::from_millis(1)) else {
                continue;
            };
            message.clear();
            match key {
                Key::Quit | Key::Char('q') => return Next::Quit,
                Key::Enter if complete => {
                    let how = if has_something {
                        passed(performed)
                    } else {
                        StepState::Skipped
                    };
                    self.finish(step, how);
                    return Next::Forward;
                }
                Key::Enter if !answered => {
                    let right = step
                        .question
                        .as_ref()
                        .and_then(|q| self.engine.round().answer(&q.answer));
                    if right.as_deref() == Some(answer.trim()) {
                        answered = true;
                        message.push(format!(
                            "{} {} is right.",
                            style("✓").green(),
                            answer.trim()
                        ));
                    } else {
                        message.push(format!(
                            "{} {} is not it. Look again, and try once more.",
                            style("✗").red(),
                            answer.trim()
                        ));
                        answer.clear();
                    }
                }
                Key::Enter => message
                    .push("Not yet: the checks above are still open. Press h for a hint.".into()),
                // Answers are numbers (inodes, counts): digits go to the answer, letters are keys.
                Key::Char(c) if !answered && c.is_ascii_digit() => answer.push(c),
                Key::Backspace => {
                    answer.pop();
                }
                Key::Char('h') => {
                    hint_level += 1;
                    message = self.hint(step, &outcomes, hint_level);
                }
                Key::Char('s') => message = commands_text(step),
                Key::Char('d') => {
                    performed = true;
                    self.perform(step);
                    outcomes = self.engine.evaluate_with(&step.checks, LEARN_PING);
                }
                Key::Char('n') => {
                    self.finish(step, StepState::Skipped);
                    return Next::Forward;
                }
                Key::Char('b') => return Next::Back,
                Key::Char('t') => {
                    drop(watcher.take());
                    self.shell();
                    (watcher, watched) = self.watch();
                    outcomes = self.engine.evaluate_with(&step.checks, LEARN_PING);
                }
                Key::Char('g') => {
                    let pic =
                        crate::show::text(&self.engine.kernel, &crate::show::Options::default());
                    self.status.print(&pic);
                }
                Key::Char('r') => {
                    drop(watcher.take());
                    let sandboxed = matches!(self.place, Place::Sandbox);
                    let said =
                        super::reset::reset_in_session(&self.engine.kernel, self.lesson, sandboxed);
                    let id = &self.lesson.id;
                    self.record(|p| p.lesson(id).forget_steps());
                    self.status.print(&format!(
                        "Reset: {}\n",
                        if said.is_empty() {
                            "nothing to remove".to_string()
                        } else {
                            said.join(", ")
                        }
                    ));
                    return Next::Restart;
                }
                _ => {}
            }
        }
    }

    /// Watches everything there is now; without a watcher, learn still polls.
    fn watch(&self) -> (Option<Watcher>, Vec<String>) {
        match self.engine.kernel.watch_all() {
            Ok((w, named)) => (Some(w), named),
            Err(_) => (None, self.engine.kernel.netns_list()),
        }
    }

    fn screen(
        &self,
        step: &Step,
        outcomes: &[Verdict],
        answer: &str,
        answered: bool,
        message: &[String],
        complete: bool,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        for (c, o) in step.checks.iter().zip(outcomes) {
            let mark = if o.pass {
                style("✓").green().bold().to_string()
            } else {
                style("·").dim().to_string()
            };
            lines.push(format!("  {mark} {}", c.check.describe()));
        }
        if let Some(q) = &step.question {
            let mark = if answered {
                style("✓").green().bold().to_string()
            } else {
                style("?").yellow().bold().to_string()
            };
            lines.push(format!("  {mark} {}", q.prompt));
            if !answered {
                lines.push(format!(
                    "    your answer: {answer}_   (type it, then Enter)"
                ));
            }
        }
        for m in message {
            for l in m.lines() {
                lines.push(format!("  {l}"));
            }
        }
        if complete {
            lines.push(format!(
                "  {} Press Enter to go on.",
                style("Done.").green().bold()
            ));
        }
        lines.push(style(KEYS_HELP).dim().to_string());
        lines
    }

    fn hint(&self, step: &Step, outcomes: &[Verdict], level: usize) -> Vec<String> {
        let written = if step.hints.is_empty() {
            vec!["This step has no written hint.".to_string()]
        } else {
            step.hints.iter().map(|h| format!("Hint: {h}")).collect()
        };
        let failing: Vec<String> = step
            .checks
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| !o.pass)
            .take(1)
            .map(|(c, o)| format!("{}: {}", c.check.describe(), o.message()))
            .collect();
        match level {
            1 => written,
            2 if !failing.is_empty() => failing,
            _ => commands_text(step),
        }
    }

    fn perform(&mut self, step: &Step) {
        let mut shown = Collect::default();
        runner::run_step(self.engine, step, &Policy::default(), &mut shown);
        self.status.print(&shown.text);
    }

    fn shell(&mut self) {
        self.status.clear();
        let sh = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
        put(&format!(
            "\n{}\n",
            style("A shell for this lesson. Type your commands here; type `exit` to come back to the lesson.").yellow()
        ));
        let _ = self.keys.suspended(|| {
            crate::kernel::sandbox::scrub(&mut std::process::Command::new(&sh))
                .env("NSLAB_SHELL", "1")
                .status()
        });
        put(&format!("{}\n", style("Back in the lesson.").yellow()));
    }

    fn finish(&mut self, step: &Step, how: StepState) {
        let id = &self.lesson.id;
        // A step only moves up: skipping a step verified earlier leaves it verified.
        let now = self
            .record(|p| p.lesson(id).mark(step.index, how))
            .unwrap_or(how);
        let what = match now {
            StepState::Verified => style("✓ verified").green().bold(),
            StepState::Performed => style("▶ performed by nslab").cyan(),
            StepState::Skipped => style("↷ skipped").yellow(),
        };
        self.status
            .print(&format!("  Step {} {what}: {}\n", step.index, step.title));
    }
}

fn commands_text(step: &Step) -> Vec<String> {
    if step.commands.is_empty() {
        return vec!["This step has no commands.".into()];
    }
    let mut v = vec!["The commands of this step:".to_string()];
    v.extend(step.commands.iter().map(|c| format!("    {}", c.text)));
    v
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
