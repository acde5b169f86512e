//! Verifying one lesson, inside whatever sandbox the caller set up: the verify policy over the
//! shared engine.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Outcome, Round};
use crate::lesson::{Lesson, Step};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    pub check: String,
    /// "passed" | "failed" | "defect" (already true before its step) | "skipped"
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandReport {
    pub command: String,
    pub line: usize,
    /// "passed" | "failed" | "skipped" (removed by --mutate)
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    pub index: usize,
    pub title: String,
    /// "passed" | "failed" | "defect" | "skipped"
    pub status: String,
    pub duration_ms: f64,
    pub checks: Vec<CheckReport>,
    pub commands: Vec<CommandReport>,
    /// Why the step failed, in one sentence, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
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
    if commands.iter().any(|c| c.status == "failed") {
        return None;
    }
    let first = |st: &str| checks.iter().find(|c| c.status == st);
    first("failed").or_else(|| first("defect"))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LessonReport {
    pub id: String,
    pub file: String,
    pub passed: bool,
    pub steps: Vec<StepReport>,
}

/// Which steps to verify, and which command line (by source line) to leave out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    /// Verify only this step (earlier ones are performed, not verified).
    pub step: Option<usize>,
    /// Verify up to this step and stop.
    pub until: Option<usize>,
    /// Mutation: perform every command but the one on this line.
    pub skip_line: Option<usize>,
}

impl Scope {
    fn verifies(&self, i: usize) -> bool {
        self.step.is_none_or(|s| s == i) && self.until.is_none_or(|u| i <= u)
    }

    fn last(&self) -> Option<usize> {
        match (self.step, self.until) {
            (Some(s), _) => Some(s),
            (None, u) => u,
        }
    }
}

fn status(pass: bool) -> String {
    if pass { "passed" } else { "failed" }.to_string()
}

/// Runs a lesson step by step, calling `on_step` as each step ends.
pub fn verify_lesson(
    engine: &mut Engine,
    lesson: &Lesson,
    scope: Scope,
    mut on_step: impl FnMut(&StepReport),
) -> LessonReport {
    let mut steps = Vec::new();
    let mut stopped = false;
    for step in &lesson.steps {
        let last = scope.last().is_some_and(|l| step.index > l);
        let report = if stopped || last {
            skipped(step, "not verified")
        } else if !scope.verifies(step.index) {
            // Bring the kernel to this step's state without judging it.
            let r = perform_all(engine, step, scope);
            let mut rep = skipped(step, "performed, not verified");
            rep.commands = r;
            rep
        } else {
            verify_step(engine, step, scope)
        };
        if report.status == "failed" || report.status == "defect" {
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
    }
}

fn skipped(step: &Step, why: &str) -> StepReport {
    StepReport {
        index: step.index,
        title: step.title.clone(),
        status: "skipped".into(),
        duration_ms: 0.0,
        checks: step
            .checks
            .iter()
            .map(|c| CheckReport {
                check: c.check.to_string(),
                status: "skipped".into(),
                message: why.into(),
            })
            .collect(),
        commands: Vec::new(),
        failure: None,
    }
}

fn perform_all(engine: &mut Engine, step: &Step, scope: Scope) -> Vec<CommandReport> {
    let mut out = Vec::new();
    for c in &step.commands {
        if scope.skip_line == Some(c.line) {
            out.push(CommandReport {
                command: c.text.clone(),
                line: c.line,
                status: "skipped".into(),
                error: Some("left out by --mutate".into()),
            });
            continue;
        }
        let p = engine.perform(c);
        // A line marked [fails] is meant to fail: its failure is the expected outcome.
        let ok = p.ok != c.expect_failure;
        let error = match (ok, c.expect_failure) {
            (true, _) => None,
            (false, true) => Some(format!("{}: expected to fail, but it succeeded", c.text)),
            (false, false) => p.error.clone(),
        };
        out.push(CommandReport {
            command: c.text.clone(),
            line: c.line,
            status: status(ok),
            error,
        });
        if !ok {
            break;
        }
    }
    out
}

const DEFECT: &str = "was already true before the step ran, so it proves nothing (make it specific to this step, or mark it '# [observe]')";

fn verify_step(engine: &mut Engine, step: &Step, scope: Scope) -> StepReport {
    let start = Instant::now();
    let exempt_step = step.observes_only() || step.commands.is_empty();
    // Only checks held to the before-rule are evaluated before the step: an exempt ping that
    // cannot answer yet would cost its full timeout for nothing.
    let held = |c: &&crate::lesson::CheckLine| !(exempt_step || c.observe);
    let mut round = Round::new(&engine.kernel);
    round.prefetch(step.checks.iter().filter(held).map(|c| &c.check));
    let before: Vec<Option<Outcome>> = step
        .checks
        .iter()
        .map(|c| held(&c).then(|| round.eval(&c.check)))
        .collect();
    drop(round);
    let commands = perform_all(engine, step, scope);
    let after = engine.settle(&step.checks);

    let mut checks = Vec::new();
    for ((c, b), a) in step.checks.iter().zip(before).zip(after) {
        let (st, message) = if !a.pass {
            ("failed", a.message)
        } else if let Some(b) = b.filter(|b| b.pass) {
            (
                "defect",
                format!("already true before the step: {}", b.message),
            )
        } else {
            ("passed", a.message)
        };
        checks.push(CheckReport {
            check: c.check.to_string(),
            status: st.into(),
            message,
        });
    }
    if let Some(q) = &step.question {
        let ans = Round::new(&engine.kernel).answer(&q.answer);
        checks.push(CheckReport {
            check: format!("question: {}", q.answer),
            status: status(ans.is_some()),
            message: ans.map_or("its answer cannot be computed".into(), |a| {
                format!("the answer now is {a}")
            }),
        });
    }
    let failed_command = commands.iter().find(|c| c.status == "failed");
    let (status, failure) = match (failed_command, culprit(&commands, &checks)) {
        (Some(c), _) => (
            "failed",
            Some(format!(
                "command failed: {}",
                c.error.clone().unwrap_or_else(|| c.command.clone())
            )),
        ),
        (None, Some(c)) if c.status == "failed" => (
            "failed",
            Some(format!("check failed: {}: {}", c.check, c.message)),
        ),
        (None, Some(c)) => (
            "defect",
            Some(format!("lesson defect: the check '{}' {DEFECT}", c.check)),
        ),
        (None, None) => ("passed", None),
    };
    StepReport {
        index: step.index,
        title: step.title.clone(),
        status: status.into(),
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        checks,
        commands,
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: &str) -> CheckReport {
        CheckReport {
            check: name.into(),
            status: status.into(),
            message: String::new(),
        }
    }

    fn command(status: &str) -> CommandReport {
        CommandReport {
            command: "ip netns add a".into(),
            line: 1,
            status: status.into(),
            error: None,
        }
    }

    #[test]
    fn the_culprit_is_the_first_failure_then_the_first_defect() {
        let checks = [
            check("a", "passed"),
            check("b", "defect"),
            check("c", "failed"),
            check("d", "failed"),
        ];
        let ok = [command("passed")];
        assert_eq!(culprit(&ok, &checks).map(|c| c.check.as_str()), Some("c"));
        assert_eq!(
            culprit(&ok, &checks[..2]).map(|c| c.check.as_str()),
            Some("b")
        );
        assert_eq!(culprit(&ok, &checks[..1]), None);
        // A failed command is the verdict itself: no check is.
        assert_eq!(culprit(&[command("failed")], &checks), None);
    }
}
