//! The one step runner: every mode runs a step's commands through here. The mode's policy
//! says whether checks are judged before the step (verify's before-rule), whether a failed
//! command stops the step, whether the checks are judged after it; the mode's [`Show`] says
//! what the audience sees. Nothing else differs between verify, demo, learn's `d` and the
//! preparation of `--step`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::settle::{self, Owed};
use super::{Engine, Verdict, judge};
use crate::lesson::{CommandLine, Step};

/// How a mode runs a step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Judge the checks held to the before-rule before the commands run.
    pub judge_before: bool,
    /// Stop at the first command that does not do what it should.
    pub stop_on_failure: bool,
    /// Judge every check after the commands, waiting for what the kernel still owes.
    pub judge_after: bool,
    /// Leave out the command on this source line (mutation testing).
    pub skip_line: Option<usize>,
    /// Perform the step's hidden setup first (every mode but learn, which does it when it
    /// shows the step).
    pub setup: bool,
    /// Without `judge_after`: the step only brings the lab along to a later one (`--step`, a
    /// mutant's earlier steps), and the next step must start from the state it starts from in
    /// a whole run: wait for what this one started (see [`settle::settle_prefix`]).
    pub prefix: bool,
    /// One failure decides the step (a mutant is killed by its first failed command or check):
    /// after a failed command no check is judged, and checks that answer at once are judged
    /// before the ones that may wait (pings, shell checks), which are judged only when all the
    /// others pass.
    pub first_failure_decides: bool,
    /// `--mutate`'s run of the lesson as it is: just before the step's last acting line, where
    /// that is exact (see [`Step::judged_without_last`]), judge the step as that line's mutant
    /// would be judged (one failure decides), and go on.
    pub judge_without_last: bool,
}

/// What became of one command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// It did what it should (a `# [fails]` line: it failed).
    Passed,
    Failed,
    /// Not run: left out by `--mutate`, or after a failure that stopped the step.
    Skipped,
}

#[derive(Debug, Clone)]
pub struct CommandRun {
    pub text: String,
    pub line: usize,
    pub status: CommandStatus,
    /// Why it failed, or why it was not run.
    pub error: Option<String>,
    /// What it printed.
    pub output: String,
    pub expect_failure: bool,
    pub duration: Duration,
}

/// What running a step gave.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub commands: Vec<CommandRun>,
    /// The before-rule's verdicts, for the checks held to it (`None` for the others).
    pub before: Vec<Option<Verdict>>,
    /// Every check's verdict after the commands (empty when the policy does not judge; `None`
    /// for a check left unjudged because the step was already decided).
    pub after: Vec<Option<Verdict>>,
    pub duration: Duration,
    /// With [`Policy::judge_without_last`]: the step as the mutant without its last acting line
    /// runs it, judged just before that line.
    pub without_last: Option<Box<StepRun>>,
}

/// What a mode shows while a step runs.
pub trait Show {
    /// A command is about to run (demo types it out).
    fn command(&mut self, _c: &CommandLine) {}
    /// A command ran (demo and learn print its output and any error).
    fn performed(&mut self, _c: &CommandLine, _r: &CommandRun) {}
    /// Whether anyone reads what the commands print: if not, a listing (`ip link show`) is
    /// answered from the kernel instead of starting `ip` (see [`Engine::perform_unread`]).
    fn reads_output(&self) -> bool {
        true
    }
}

/// Shows nothing (verify, `--step` preparation).
pub struct Quiet;
impl Show for Quiet {
    fn reads_output(&self) -> bool {
        false
    }
}

/// Whether the before-rule holds a check of this step: not for a step that only looks, and
/// not for a check marked `# [observe]`.
pub fn held(step: &Step, i: usize) -> bool {
    let exempt_step = step.observes_only() || step.commands.is_empty();
    !exempt_step && !step.checks[i].observe
}

/// Performs a step's hidden setup: what the step starts from. Reported like commands (a
/// setup that fails is the lesson's defect).
pub fn setup(engine: &mut Engine, step: &Step) -> Vec<CommandRun> {
    step.setup
        .iter()
        .map(|c| {
            let mut r = ran(c, engine.perform(c));
            if r.status == CommandStatus::Failed {
                r.error = Some(format!(
                    "the step's setup failed: {}",
                    r.error.take().unwrap_or_else(|| c.text.clone())
                ));
            }
            r
        })
        .collect()
}

/// What became of a line that ran: a line marked [fails] is meant to fail, and its failure
/// is the expected outcome.
fn ran(c: &CommandLine, p: super::Performed) -> CommandRun {
    let ok = p.ok != c.expect_failure;
    let error = match (ok, c.expect_failure) {
        (true, _) => None,
        (false, true) => Some(format!("{}: expected to fail, but it succeeded", c.text)),
        (false, false) => p.error,
    };
    CommandRun {
        text: c.text.clone(),
        line: c.line,
        status: if ok {
            CommandStatus::Passed
        } else {
            CommandStatus::Failed
        },
        error,
        output: p.output,
        expect_failure: c.expect_failure,
        duration: p.duration,
    }
}

/// A line that was not run, and why.
fn skipped(c: &CommandLine, why: String) -> CommandRun {
    CommandRun {
        text: c.text.clone(),
        line: c.line,
        status: CommandStatus::Skipped,
        error: Some(why),
        output: String::new(),
        expect_failure: c.expect_failure,
        duration: Duration::ZERO,
    }
}

/// Performs one line of a step, once the kernel has done what the line waits for.
fn perform(engine: &mut Engine, c: &CommandLine, owed: &Owed, show: &mut dyn Show) -> CommandRun {
    owed.before_line(engine, c);
    settle::before_ipv6_line(engine, c, owed.lines_deadline());
    show.command(c);
    let p = if show.reads_output() {
        engine.perform(c)
    } else {
        engine.perform_unread(c)
    };
    let run = ran(c, p);
    show.performed(c, &run);
    run
}

/// The step as the mutant without its last acting line `l` runs it, from here, just before
/// `l`, where the lines before it have run (`so_far`): the listings after `l` are answered from
/// the kernel (they change nothing), and the checks judged as a mutant's are. `owed` is what the
/// lines but `l` leave pending.
fn without(
    engine: &mut Engine,
    step: &Step,
    l: &CommandLine,
    so_far: &[CommandRun],
    owed: &Owed,
) -> StepRun {
    let began = Instant::now();
    let mut commands = so_far.to_vec();
    commands.push(skipped(l, "left out by --mutate".into()));
    let mut stopped = None;
    for c in step.commands.iter().filter(|c| c.line > l.line) {
        if let Some(why) = &stopped {
            commands.push(skipped(c, String::clone(why)));
            continue;
        }
        let run = perform(engine, c, owed, &mut Quiet);
        if run.status == CommandStatus::Failed {
            stopped = Some(format!("not run: line {} failed before it", c.line));
        }
        commands.push(run);
    }
    let after = if stopped.is_some() {
        vec![None; step.checks.len()]
    } else {
        settle::settle_cheap_first(engine, &step.checks, owed)
    };
    StepRun {
        commands,
        before: vec![None; step.checks.len()],
        after,
        duration: began.elapsed(),
        without_last: None,
    }
}

/// `--mutate`'s shared jails: the step was judged as the mutant without line `left_out`;
/// brings the lab to where the lesson as it is leaves the step: the left-out line runs late,
/// then the line that failed without it and those its failure stopped (`not_run`; listings
/// aside), in the lesson's order, and
/// the step is waited for as one that only brings the lab along (see [`Policy::prefix`]).
/// Whether that is the very state the lesson's own run reached is for the caller to compare
/// (see [`Engine::state_digest`]). False when a line failed.
pub fn catch_up(engine: &mut Engine, step: &Step, left_out: usize, not_run: &[usize]) -> bool {
    let lines: Vec<CommandLine> = step
        .commands
        .iter()
        .filter(|c| c.line == left_out)
        .chain(step.commands.iter().filter(|c| {
            c.line != left_out && not_run.contains(&c.line) && c.command.listing().is_none()
        }))
        .cloned()
        .collect();
    let owed = Owed::before_lines(engine, &lines, None);
    for c in &lines {
        if perform(engine, c, &owed, &mut Quiet).status == CommandStatus::Failed {
            return false;
        }
    }
    // What these lines owe, with what the mutant's own lines left owing.
    settle::setup_owing(engine, owed);
    let all = engine.owed.take().unwrap_or_default();
    settle::settle_prefix(engine, step, &all);
    settle::left_owing(engine, all);
    true
}

/// Runs one step under a policy.
pub fn run_step(engine: &mut Engine, step: &Step, policy: &Policy, show: &mut dyn Show) -> StepRun {
    let start = Instant::now();
    let mut commands = Vec::new();
    if policy.setup && !step.setup.is_empty() {
        let owing = Owed::before_lines(engine, &step.setup, None);
        commands.extend(setup(engine, step));
        settle::setup_owing(engine, owing);
    }
    if policy.judge_before {
        let held: Vec<&crate::lesson::check::Check> = (0..step.checks.len())
            .filter(|&i| held(step, i))
            .map(|i| &step.checks[i].check)
            .collect();
        settle::before_rule(engine, &held);
    }
    engine.begin_step(step);
    let before: Vec<Option<Verdict>> = if policy.judge_before {
        let mut round = engine
            .round()
            .ping_timeout(super::facts::PING_BEFORE_TIMEOUT);
        // Only checks held to the before-rule are judged: an exempt ping that cannot answer
        // yet would cost its full timeout for nothing.
        round.prefetch(
            step.checks
                .iter()
                .enumerate()
                .filter(|(i, _)| held(step, *i))
                .map(|(_, c)| &c.check),
        );
        (0..step.checks.len())
            .map(|i| held(step, i).then(|| judge(&step.checks[i].check, &mut round)))
            .collect()
    } else {
        vec![None; step.checks.len()]
    };
    let mut owed = Owed::before(engine, step, policy.skip_line);
    let last = step
        .judged_without_last()
        .filter(|_| policy.judge_without_last && policy.skip_line.is_none());
    // What the mutant without the last line leaves pending: all the rest, looked at as the
    // mutant's own run looks at it, before the lines.
    let mut owed_without_last = last.map(|l| Owed::before(engine, step, Some(l.line)));
    let mut without_last = None;
    let mut stopped: Option<String> = commands
        .iter()
        .find(|c: &&CommandRun| c.status == CommandStatus::Failed)
        .map(|c| format!("not run: the step's setup (line {}) failed", c.line));
    for c in &step.commands {
        let skip = if policy.skip_line == Some(c.line) {
            Some("left out by --mutate".to_string())
        } else {
            stopped.clone()
        };
        // A step that only brings the lab along: a listing changes nothing, and its success was
        // proven where the step was verified. It is not even answered.
        let skip = skip.or_else(|| {
            (policy.prefix && !show.reads_output() && c.command.listing().is_some())
                .then(|| "a listing, in a step that is performed, not verified".to_string())
        });
        if let Some(l) = last.filter(|l| l.line == c.line && skip.is_none())
            && let Some(owed_mutant) = owed_without_last.take()
        {
            let judged = without(engine, step, l, &commands, &owed_mutant);
            owed.postpone(judged.duration);
            without_last = Some(Box::new(judged));
        }
        if let Some(why) = skip {
            commands.push(skipped(c, why));
            continue;
        }
        let run = perform(engine, c, &owed, show);
        if run.status == CommandStatus::Failed && policy.stop_on_failure {
            stopped = Some(format!("not run: line {} failed before it", c.line));
        }
        commands.push(run);
        // A namespace a line made may be one the step's pings are watched in.
        engine.watch_pings(step);
    }
    let failed = commands.iter().any(|c| c.status == CommandStatus::Failed);
    // A teardown owed by a line that did not run (after a failure) will not come.
    owed.forget(
        commands
            .iter()
            .filter(|c| c.status == CommandStatus::Skipped)
            .map(|c| c.line),
    );
    let after = if policy.judge_after && policy.first_failure_decides {
        if failed {
            vec![None; step.checks.len()]
        } else {
            settle::settle_cheap_first(engine, &step.checks, &owed)
        }
    } else if policy.judge_after {
        settle::settle(engine, &step.checks, &owed)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        if policy.prefix {
            settle::settle_prefix(engine, step, &owed);
        } else {
            // Unjudged (learn's `d`): what the kernel has still to do is done (a deleted
            // namespace's veth peers gone) before the screen looks again.
            settle::wait_owed(engine, &owed);
        }
        Vec::new()
    };
    settle::left_owing(engine, owed);
    StepRun {
        commands,
        before,
        after,
        duration: start.elapsed(),
        without_last,
    }
}
