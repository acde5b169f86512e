//! Judging a case from its two sides' outcomes, and the report.

use std::collections::BTreeMap;

use crate::corpus::{Case, Kind};
use crate::diff;
use crate::side::{LineOutcome, Outcome, Performed};
use crate::{Mode, Refusal};

#[derive(Debug)]
pub enum Verdict {
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
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Same { .. } | Verdict::Refused(_))
    }

    /// The word on the case's line of the report.
    pub fn word(&self) -> &'static str {
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
    pub fn class(&self) -> &'static str {
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
    pub fn details(&self) -> Vec<String> {
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

pub fn judge_accept(a: &Outcome, b: &Outcome) -> Verdict {
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

/// The two sides of job pair `i`.
pub fn pair(
    outcomes: &[Result<Outcome, String>],
    i: usize,
) -> Result<(&Outcome, &Outcome), String> {
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
pub struct Report {
    pub failed: usize,
    pub tally: BTreeMap<&'static str, usize>,
    pub lines: BTreeMap<&'static str, usize>,
}

impl Report {
    pub fn case(
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
