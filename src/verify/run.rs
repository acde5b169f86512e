//! Verifying one lesson, inside whatever sandbox the caller set up: the verify policy over the
//! shared engine's step runner.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::engine::runner::{self, CommandStatus, Policy, Quiet};
use crate::lesson::{Lesson, Step};

/// A step's or a check's verdict in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// The check was already true before its step: it proves nothing (a lesson defect).
    Defect,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Defect => "defect",
            Status::Skipped => "skipped",
        }
    }

    /// Failed or defect: the step did not prove what it should.
    pub fn is_bad(self) -> bool {
        matches!(self, Status::Failed | Status::Defect)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    pub check: String,
    /// The source line of the check (a derived check, the net effect of its whole step: the
    /// step's first command; a question: its step's heading).
    #[serde(default)]
    pub line: usize,
    pub status: Status,
    pub message: String,
    /// The check in words, as the student reads it.
    #[serde(default)]
    pub says: String,
    /// What the check wants, what the kernel had, and a command that works from there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub found: Option<String>,
    #[serde(rename = "try", skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandReport {
    pub command: String,
    pub line: usize,
    pub status: CommandStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    pub index: usize,
    pub title: String,
    pub status: Status,
    pub duration_ms: f64,
    pub checks: Vec<CheckReport>,
    pub commands: Vec<CommandReport>,
    /// Why the step failed, in one sentence, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// In `--mutate`'s run of the lesson as it is: the step as the mutant without its last
    /// line reports it, judged just before that line (see [`Step::last_acting_line`]).
    /// Never in verify's own reports.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub without_last: Option<Box<StepReport>>,
    /// In `--mutate`'s runs: the state the step leaves (see `Engine::state_digest`), in the
    /// lesson's own run after the step, in a shared jail after the mutant's step was caught up
    /// with the lesson. Never in verify's own reports.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<u64>,
}

impl StepReport {
    /// The check that the step's `failure` sentence is about (see [`culprit`]).
    pub fn culprit(&self) -> Option<&CheckReport> {
        culprit(&self.commands, &self.checks)
    }
}

/// What a step's verdict rests on, when it is a check: none when a command failed (the verdict
/// names the command); else the first check that failed; else the first one that was already
/// true before the step. A failure outranks a defect: the step did not even do its job.
fn culprit<'a>(commands: &[CommandReport], checks: &'a [CheckReport]) -> Option<&'a CheckReport> {
    if commands.iter().any(|c| c.status == CommandStatus::Failed) {
        return None;
    }
    let first = |st: Status| checks.iter().find(|c| c.status == st);
    first(Status::Failed).or_else(|| first(Status::Defect))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LessonReport {
    pub id: String,
    pub file: String,
    pub passed: bool,
    pub steps: Vec<StepReport>,
    /// The lesson could not be verified to the end (its worker died): why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// What the lesson left changed in the root namespace when it ended (a lesson defect: it
    /// fails the lesson). Looked at only when the lesson ran to its end and passed.
    #[serde(default)]
    pub leftovers: Vec<String>,
    /// In a jail: the kind of link the failing line asked for, that the verifying process
    /// itself then asked the kernel for, and the kernel does not know (see
    /// `verify::kernel_lacks`). A line's own words that the kernel lacks a kind prove nothing:
    /// a lesson can print them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_lacks: Option<String>,
}

/// Which steps to verify, and which command line (by source line) to leave out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scope {
    /// Verify only this step (earlier ones are performed, not verified).
    pub step: Option<usize>,
    /// Verify up to this step and stop.
    pub until: Option<usize>,
    /// Mutation: perform every command but the one on this line.
    pub skip_line: Option<usize>,
    /// `--mutate`'s run of the lesson as it is: also judge each step just before its last line
    /// (see [`StepReport::without_last`]).
    #[serde(default)]
    pub judge_without_last: bool,
    /// `--mutate`'s run of the lesson as it is: the state each verified step leaves (see
    /// [`StepReport::digest`]).
    #[serde(default)]
    pub digests: bool,
    /// `--mutate`'s shared jail: mutants of several steps, one line of each (by source line,
    /// in the lesson's order), judged one after the other (see [`verify_chain`]).
    #[serde(default)]
    pub chain: Vec<usize>,
}

impl Scope {
    /// Whether step `i` is verified (and its lines mutated).
    pub fn verifies_step(&self, i: usize) -> bool {
        self.verifies(i)
    }

    fn verifies(&self, i: usize) -> bool {
        self.step.is_none_or(|s| s == i) && self.until.is_none_or(|u| i <= u)
    }

    /// Every step is verified, every line performed: the lesson runs to its end.
    pub fn whole(&self) -> bool {
        self.step.is_none()
            && self.until.is_none()
            && self.skip_line.is_none()
            && self.chain.is_empty()
    }

    /// The run goes on to the lesson's last step (earlier ones maybe performed unjudged, one
    /// line maybe left out): what it leaves in the root namespace is what the lesson leaves.
    pub fn reaches_end(&self, steps: usize) -> bool {
        self.chain.is_empty() && self.last().is_none_or(|l| l >= steps)
    }

    fn last(&self) -> Option<usize> {
        match (self.step, self.until) {
            (Some(s), _) => Some(s),
            (None, u) => u,
        }
    }
}

/// Runs a lesson step by step, calling `on_step` as each step ends.
pub fn verify_lesson(
    engine: &mut Engine,
    lesson: &Lesson,
    scope: Scope,
    mut on_step: impl FnMut(&StepReport),
) -> LessonReport {
    if !scope.chain.is_empty() {
        return verify_chain(engine, lesson, &scope);
    }
    engine.set_lesson(lesson);
    let mut steps = Vec::new();
    let mut stopped = false;
    for step in &lesson.steps {
        let last = scope.last().is_some_and(|l| step.index > l);
        let report = if stopped || last {
            skipped(&lesson.source, step, "not verified")
        } else if !scope.verifies(step.index) {
            perform_unverified(engine, lesson, step, scope.skip_line)
        } else {
            let mut report = verify_step(engine, &lesson.source, step, &scope);
            if scope.digests {
                report.digest = digest_when_done(engine);
            }
            report
        };
        if report.status.is_bad() {
            stopped = true;
        }
        on_step(&report);
        steps.push(report);
    }
    LessonReport {
        id: lesson.id.clone(),
        file: lesson.source.name.clone(),
        passed: !stopped,
        steps,
        error: None,
        leftovers: Vec::new(),
        kernel_lacks: None,
    }
}

/// Brings the kernel to a step's state without reporting on it. Its checks are judged all
/// the same (and the verdicts dropped): that waits for what the step started (a program in
/// the background, a teardown), so that the next step begins from the state it begins from in
/// a whole run.
fn perform_unverified(
    engine: &mut Engine,
    lesson: &Lesson,
    step: &Step,
    skip_line: Option<usize>,
) -> StepReport {
    let policy = Policy {
        stop_on_failure: true,
        prefix: true,
        skip_line,
        setup: true,
        ..Policy::default()
    };
    let run = runner::run_step(engine, step, &policy, &mut Quiet);
    let mut rep = skipped(&lesson.source, step, "performed, not verified");
    rep.commands = commands(&run);
    rep
}

/// The state a step leaves, once the kernel has done what the step owes it.
fn digest_when_done(engine: &mut Engine) -> Option<u64> {
    engine.wait_owed();
    // Once checks flushed a route cache, no state after it is one a lone mutant's run, which
    // judges fewer checks, is sure to share: none is reported, and no mutant after it is
    // judged here.
    if engine.checks_flushed_routes() {
        return None;
    }
    engine.state_digest()
}

/// `--mutate`'s shared jail: the mutants of `scope.chain`, one line of each of several steps,
/// judged one after the other. The steps without one are performed as a mutant's earlier
/// steps are. After each mutant but the last, its step is caught up with the lesson as it is
/// (see [`runner::catch_up`]) and the state it then leaves is reported (its `digest`), as is
/// that of each step after it: a mutant is judged only where every digest before it is the one
/// the lesson's own run reported for that step, which the caller compares. A step before the
/// last mutant's that cannot be performed or caught up ends the run; the mutants after it are
/// left unjudged (reported as skipped). A mutant's ping probes leave nothing for a later one
/// to meet: they take back what they leave in every namespace of the lesson (see
/// `Round::prefetch`).
pub fn verify_chain(engine: &mut Engine, lesson: &Lesson, scope: &Scope) -> LessonReport {
    engine.set_lesson(lesson);
    let line_of = |step: &Step| {
        step.commands
            .iter()
            .map(|c| c.line)
            .find(|l| scope.chain.contains(l))
    };
    let with_mutants = || {
        lesson
            .steps
            .iter()
            .filter(|s| line_of(s).is_some())
            .map(|s| s.index)
    };
    let (first, last) = (
        with_mutants().min().unwrap_or(0),
        with_mutants().max().unwrap_or(0),
    );
    let mut steps = Vec::new();
    let mut ended = false;
    for step in &lesson.steps {
        if ended || step.index > last {
            steps.push(skipped(&lesson.source, step, "not verified"));
            continue;
        }
        let Some(left_out) = line_of(step) else {
            let mut report = perform_unverified(engine, lesson, step, None);
            // It passed in the lesson's own run: failing here, it says that the state it began
            // from differs in what the comparison leaves out.
            ended = report
                .commands
                .iter()
                .any(|c| c.status == CommandStatus::Failed);
            // After a mutant's step was caught up, each step's state is compared too: a line
            // may do otherwise there without failing.
            if !ended && step.index > first {
                report.digest = digest_when_done(engine);
                ended = report.digest.is_none();
            }
            steps.push(report);
            continue;
        };
        let mutant = Scope {
            step: Some(step.index),
            skip_line: Some(left_out),
            ..Scope::default()
        };
        let mut report = verify_step(engine, &lesson.source, step, &mutant);
        if step.index < last && !ended {
            // The line that failed without the left-out one, and those its failure stopped.
            let not_run: Vec<usize> = report
                .commands
                .iter()
                .filter(|c| c.status != CommandStatus::Passed)
                .map(|c| c.line)
                .collect();
            if runner::catch_up(engine, step, left_out, &not_run) {
                report.digest = digest_when_done(engine);
            }
            ended |= report.digest.is_none();
        }
        steps.push(report);
    }
    LessonReport {
        id: lesson.id.clone(),
        file: lesson.source.name.clone(),
        // Not a verdict on the lesson: each mutant's is its step's.
        passed: true,
        steps,
        error: None,
        leftovers: Vec::new(),
        kernel_lacks: None,
    }
}

pub(crate) fn skipped(source: &crate::diag::Source, step: &Step, why: &str) -> StepReport {
    StepReport {
        index: step.index,
        title: step.title.clone(),
        status: Status::Skipped,
        duration_ms: 0.0,
        checks: step
            .checks
            .iter()
            .map(|c| CheckReport {
                check: c.check.to_string(),
                line: source.position(c.offset).0,
                status: Status::Skipped,
                message: why.into(),
                says: c.check.describe(),
                expected: None,
                found: None,
                fix: None,
            })
            .collect(),
        commands: step
            .commands
            .iter()
            .map(|c| CommandReport {
                command: c.text.clone(),
                line: c.line,
                status: CommandStatus::Skipped,
                error: Some(why.into()),
            })
            .collect(),
        failure: None,
        without_last: None,
        digest: None,
    }
}

fn commands(run: &runner::StepRun) -> Vec<CommandReport> {
    run.commands
        .iter()
        .map(|c| CommandReport {
            command: c.text.clone(),
            line: c.line,
            status: c.status,
            error: c.error.clone(),
        })
        .collect()
}

const DEFECT: &str = "was already true before the step ran, so it proves nothing (make it specific to this step, or mark it '# [observe]')";

fn verify_step(
    engine: &mut Engine,
    source: &crate::diag::Source,
    step: &Step,
    scope: &Scope,
) -> StepReport {
    let policy = Policy {
        // A mutant (a line left out of this step) starts the step from the very state the
        // plain lesson did, whose verify proved the before-rule: judging it again would prove
        // nothing new, and costs each mutant its probes' time.
        judge_before: scope.skip_line.is_none(),
        stop_on_failure: true,
        judge_after: true,
        skip_line: scope.skip_line,
        setup: true,
        prefix: false,
        // A mutant is killed by one failure: the rest of its verdicts would only cost time.
        first_failure_decides: scope.skip_line.is_some(),
        judge_without_last: scope.judge_without_last,
    };
    let mut run = runner::run_step(engine, step, &policy, &mut Quiet);
    // Judged after checks of earlier steps flushed a route cache, the mutant may be judged
    // otherwise than alone: it is left to a jail of its own.
    let without_last = run
        .without_last
        .take()
        .filter(|_| !engine.checks_flushed_routes())
        .map(|m| Box::new(step_report(engine, source, step, &m)));
    StepReport {
        without_last,
        ..step_report(engine, source, step, &run)
    }
}

/// A step's report from its run: each check's verdict (a defect when it held before the step),
/// and the step's own, which rests on the first failed command, else on its culprit check.
fn step_report(
    engine: &mut Engine,
    source: &crate::diag::Source,
    step: &Step,
    run: &runner::StepRun,
) -> StepReport {
    // A line of the step failed, and those after it did not run: a check's Try would most
    // often be one of them, given as a fix for what the failed line caused.
    let line_failed = run
        .commands
        .iter()
        .any(|c| c.status == runner::CommandStatus::Failed);
    let mut checks = Vec::new();
    for ((c, b), a) in step.checks.iter().zip(&run.before).zip(&run.after) {
        let Some(a) = a else {
            checks.push(CheckReport {
                check: c.check.to_string(),
                line: source.position(c.offset).0,
                status: Status::Skipped,
                message: "not judged: the step had already failed".into(),
                says: c.check.describe(),
                expected: None,
                found: None,
                fix: None,
            });
            continue;
        };
        let (st, message) = if !a.pass && line_failed {
            (Status::Failed, a.diagnosis())
        } else if !a.pass {
            (Status::Failed, a.message())
        } else if let Some(b) = b.as_ref().filter(|b| b.pass) {
            (
                Status::Defect,
                format!("already true before the step: {}", b.message()),
            )
        } else {
            (Status::Passed, a.message())
        };
        checks.push(CheckReport {
            check: c.check.to_string(),
            line: source.position(c.offset).0,
            status: st,
            message,
            says: c.check.describe(),
            expected: (!a.pass).then(|| a.expected.clone()),
            found: (!a.pass).then(|| a.found.clone()),
            fix: a.fix.clone().filter(|_| !a.pass && !line_failed),
        });
    }
    if let Some(q) = &step.question {
        let ans = engine.round().answer(&q.answer);
        checks.push(CheckReport {
            check: format!("question: {}", q.answer),
            line: source.position(step.offset).0,
            status: if ans.is_some() {
                Status::Passed
            } else {
                Status::Failed
            },
            message: ans
                .as_ref()
                .map_or("its answer cannot be computed".into(), |a| {
                    format!("the answer now is {a}")
                }),
            says: q.prompt.clone(),
            expected: None,
            found: None,
            fix: None,
        });
    }
    let commands = commands(run);
    let failed_command = commands.iter().find(|c| c.status == CommandStatus::Failed);
    let (status, failure) = match (failed_command, culprit(&commands, &checks)) {
        (Some(c), _) => (
            Status::Failed,
            Some(format!(
                "command failed: {}",
                c.error.clone().unwrap_or_else(|| c.command.clone())
            )),
        ),
        (None, Some(c)) if c.status == Status::Failed => (
            Status::Failed,
            Some(format!("check failed: {}: {}", c.check, c.message)),
        ),
        (None, Some(c)) => (
            Status::Defect,
            Some(format!("lesson defect: the check '{}' {DEFECT}", c.check)),
        ),
        (None, None) => (Status::Passed, None),
    };
    StepReport {
        index: step.index,
        title: step.title.clone(),
        status,
        duration_ms: run.duration.as_secs_f64() * 1000.0,
        checks,
        commands,
        failure,
        without_last: None,
        digest: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Status) -> CheckReport {
        CheckReport {
            check: name.into(),
            line: 0,
            status,
            message: String::new(),
            says: String::new(),
            expected: None,
            found: None,
            fix: None,
        }
    }

    fn command(status: CommandStatus) -> CommandReport {
        CommandReport {
            command: "ip netns add a".into(),
            line: 1,
            status,
            error: None,
        }
    }

    #[test]
    fn the_culprit_is_the_first_failure_then_the_first_defect() {
        let checks = [
            check("a", Status::Passed),
            check("b", Status::Defect),
            check("c", Status::Failed),
            check("d", Status::Failed),
        ];
        let ok = [command(CommandStatus::Passed)];
        assert_eq!(culprit(&ok, &checks).map(|c| c.check.as_str()), Some("c"));
        assert_eq!(
            culprit(&ok, &checks[..2]).map(|c| c.check.as_str()),
            Some("b")
        );
        assert_eq!(culprit(&ok, &checks[..1]), None);
        // A failed command is the verdict itself: no check is.
        assert_eq!(culprit(&[command(CommandStatus::Failed)], &checks), None);
    }

    #[test]
    fn statuses_keep_their_json_words() {
        assert_eq!(
            serde_json::to_string(&Status::Defect).unwrap(),
            "\"defect\""
        );
        assert_eq!(
            serde_json::to_string(&CommandStatus::Skipped).unwrap(),
            "\"skipped\""
        );
    }
}
