//! How verify reports: progress while it runs, then a summary, JSON or JUnit.

use std::io::IsTerminal;
use std::time::Duration;

use crate::term::one_line;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::run::Status;
use super::{LessonReport, Mutant, Report, StepReport};
use crate::engine::runner::CommandStatus;
use crate::lesson::Lesson;

/// One progress line per lesson on a terminal; plain lines (no spinner, no colour) otherwise.
pub struct Progress {
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    ids: Vec<String>,
    totals: Vec<usize>,
    enabled: bool,
}

impl Progress {
    pub fn new(lessons: &[Lesson], enabled: bool) -> Progress {
        let ids: Vec<String> = lessons.iter().map(|l| l.id.clone()).collect();
        let totals: Vec<usize> = lessons.iter().map(|l| l.steps.len()).collect();
        let tty = std::io::stderr().is_terminal() && enabled;
        let bars = tty.then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{spinner} {prefix:<22} [{bar:20}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            let bars = lessons
                .iter()
                .map(|l| {
                    let b = mp.add(ProgressBar::new(l.steps.len() as u64));
                    b.set_style(style.clone());
                    b.set_prefix(l.id.clone());
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                })
                .collect();
            (mp, bars)
        });
        Progress {
            bars,
            ids,
            totals,
            enabled,
        }
    }

    pub fn step(&self, lesson: usize, s: &StepReport) {
        if !self.enabled {
            return;
        }
        match &self.bars {
            Some((_, bars)) => {
                bars[lesson].set_position(s.index as u64);
                bars[lesson].set_message(format!("{} {}", s.status.as_str(), one_line(&s.title)));
            }
            None => eprintln!(
                "{}: step {}/{} {}: {} ({:.1} ms)",
                self.ids[lesson],
                s.index,
                self.totals[lesson],
                one_line(&s.title),
                s.status.as_str(),
                s.duration_ms
            ),
        }
    }

    pub fn done(&self, lesson: usize, r: &LessonReport) {
        if let Some((_, bars)) = &self.bars {
            let verdict = if r.passed {
                console::style("passed").green()
            } else {
                console::style("FAILED").red()
            };
            bars[lesson].finish_with_message(verdict.to_string());
        }
    }
}

/// The closing summary: each lesson's verdict, and every failure explained. What a lesson, its
/// programs or its worker wrote is shown on one line, its control characters escaped: a
/// hostile lesson's report can say anything, but not on a line of its own, nor to the terminal.
pub fn human(report: &Report, took: Duration) -> String {
    let mut t = String::new();
    for l in &report.lessons {
        let done = l
            .steps
            .iter()
            .filter(|s| s.status == Status::Passed)
            .count();
        let verdict = if l.passed { "passed" } else { "FAILED" };
        t.push_str(&format!(
            "{verdict}  {} ({}): {done}/{} steps verified\n",
            one_line(&l.id),
            one_line(&l.file),
            l.steps.len()
        ));
        if let Some(e) = &l.error {
            t.push_str(&format!("  {}\n", one_line(e)));
        }
        if !l.leftovers.is_empty() {
            t.push_str(&format!("  lesson defect: {LEFTOVERS}:\n"));
            for what in &l.leftovers {
                t.push_str(&format!("    {}\n", one_line(what)));
            }
        }
        for s in l.steps.iter().filter(|s| s.status.is_bad()) {
            // Where to look: the failed command, else the check the verdict rests on.
            let at = s
                .commands
                .iter()
                .find(|c| c.status == CommandStatus::Failed)
                .map(|c| c.line)
                .or_else(|| s.culprit().map(|c| c.line))
                .filter(|&n| n > 0)
                .map_or(String::new(), |n| format!("{}:{n}: ", one_line(&l.file)));
            t.push_str(&format!(
                "  {at}step {} '{}': {}\n",
                s.index,
                one_line(&s.title),
                s.status.as_str()
            ));
            let failure = s.failure.as_deref().unwrap_or("");
            if !failure.is_empty() {
                t.push_str(&format!("    {}\n", one_line(failure)));
            }
            // The other checks that did not hold. The one the sentence above is about adds only
            // what the kernel had before the step, for a defect (a failure's sentence says it).
            let culprit = s.culprit();
            for c in s.checks.iter().filter(|c| c.status.is_bad()) {
                if culprit.is_some_and(|k| std::ptr::eq(k, c)) {
                    if c.status == Status::Defect {
                        t.push_str(&format!("    {}\n", one_line(&c.message)));
                    }
                } else {
                    t.push_str(&format!(
                        "    {}:{}: {} {}: {}\n",
                        one_line(&l.file),
                        c.line,
                        c.status.as_str(),
                        one_line(&c.check),
                        one_line(&c.message)
                    ));
                }
            }
        }
    }
    let passed = report.lessons.iter().filter(|l| l.passed).count();
    t.push_str(&format!(
        "{passed} of {} lesson(s) passed in {:.2} s\n",
        report.lessons.len(),
        took.as_secs_f64()
    ));
    t
}

fn xml(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            // Characters XML 1.0 does not allow, even escaped: a control character, or the
            // non-characters U+FFFE and U+FFFF.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => "\u{FFFD}".into(),
            '\u{FFFE}' | '\u{FFFF}' => "\u{FFFD}".into(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML: a suite per lesson, a test case per step.
pub fn junit(report: &Report) -> String {
    let mut t = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // A lesson that leaves the root namespace changed has one test more, which failed.
    let extra = |l: &LessonReport| usize::from(!l.leftovers.is_empty());
    let tests: usize = report
        .lessons
        .iter()
        .map(|l| l.steps.len() + extra(l))
        .sum();
    let failures: usize = report
        .lessons
        .iter()
        .flat_map(|l| &l.steps)
        .filter(|s| s.status.is_bad())
        .count()
        + report.lessons.iter().filter(|l| l.error.is_some()).count()
        + report
            .lessons
            .iter()
            .filter(|l| !l.leftovers.is_empty())
            .count();
    t.push_str(&format!(
        "<testsuites name=\"nslab verify\" tests=\"{tests}\" failures=\"{failures}\">\n"
    ));
    for l in &report.lessons {
        let f = l.steps.iter().filter(|s| s.status.is_bad()).count() + extra(l);
        let sk = l
            .steps
            .iter()
            .filter(|s| s.status == Status::Skipped)
            .count();
        let time: f64 = l.steps.iter().map(|s| s.duration_ms).sum::<f64>() / 1000.0;
        t.push_str(&format!(
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{f}\" skipped=\"{sk}\" time=\"{time:.6}\">\n",
            xml(&l.id),
            xml(&l.file),
            l.steps.len() + extra(l)
        ));
        if let Some(e) = &l.error {
            t.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"the lesson's worker\" time=\"0\">\n      <failure type=\"error\" message=\"{}\"/>\n    </testcase>\n",
                xml(&l.id),
                xml(e)
            ));
        }
        if !l.leftovers.is_empty() {
            t.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"the root namespace after the lesson\" time=\"0\">\n      <failure type=\"defect\" message=\"{}\">{}</failure>\n    </testcase>\n",
                xml(&l.id),
                xml(LEFTOVERS),
                xml(&l.leftovers.join("\n"))
            ));
        }
        for s in &l.steps {
            t.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}. {}\" time=\"{:.6}\"",
                xml(&l.id),
                s.index,
                xml(&s.title),
                s.duration_ms / 1000.0
            ));
            match s.status {
                Status::Passed => t.push_str("/>\n"),
                Status::Skipped => t.push_str(">\n      <skipped/>\n    </testcase>\n"),
                st => {
                    let st = st.as_str();
                    let msg = s.failure.clone().unwrap_or_else(|| st.to_string());
                    let body: Vec<String> = s
                        .checks
                        .iter()
                        .map(|c| format!("{}: {}: {}", c.status.as_str(), c.check, c.message))
                        .collect();
                    t.push_str(&format!(
                        ">\n      <failure type=\"{st}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                        xml(&msg),
                        xml(&body.join("\n"))
                    ));
                }
            }
        }
        t.push_str("  </testsuite>\n");
    }
    t.push_str("</testsuites>\n");
    t
}

/// JUnit XML for mutation testing: a suite per lesson, a test case per mutant (a surviving
/// mutant is a failure: no check notices the line is missing).
pub fn junit_mutants(mutants: &[Mutant], refused: &[super::Refused], took: Duration) -> String {
    let mut t = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = mutants.iter().filter(|m| !m.killed).count();
    t.push_str(&format!(
        "<testsuites name=\"nslab verify --mutate\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" time=\"{:.6}\">\n",
        mutants.len() + refused.len(),
        refused.len(),
        took.as_secs_f64()
    ));
    let mut lessons: Vec<&str> = mutants.iter().map(|m| m.lesson.as_str()).collect();
    lessons.dedup();
    for l in lessons {
        let ms: Vec<&Mutant> = mutants.iter().filter(|m| m.lesson == l).collect();
        let f = ms.iter().filter(|m| !m.killed).count();
        t.push_str(&format!(
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"{}\" failures=\"{f}\">\n",
            xml(l),
            xml(&ms[0].file),
            ms.len()
        ));
        for m in ms {
            t.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"without line {}: {}\"",
                xml(l),
                m.line,
                xml(&m.command)
            ));
            if m.killed {
                t.push_str("/>\n");
            } else {
                t.push_str(&format!(
                    ">\n      <failure type=\"surviving mutant\" message=\"{}\"/>\n    </testcase>\n",
                    xml(&m.survival())
                ));
            }
        }
        t.push_str("  </testsuite>\n");
    }
    // A lesson that fails as it is, or that this kernel cannot run: one test case, in error,
    // that says so.
    for r in refused {
        let kind = if r.machine {
            "kernel cannot run the lesson"
        } else {
            "lesson fails as it is"
        };
        t.push_str(&format!(
            "  <testsuite name=\"{}\" file=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{}\" name=\"the lesson as it is\">\n      <error type=\"{kind}\" message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
            xml(&r.lesson),
            xml(&r.file),
            xml(&r.lesson),
            xml(&r.why)
        ));
    }
    t.push_str("</testsuites>\n");
    t
}

/// Why leftovers fail a lesson, as the reports say it.
const LEFTOVERS: &str = "the lesson leaves the root namespace changed (a lesson must leave it as it found it, so that lessons can be taken in any order on one machine)";

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's report is the lesson's word: what it says stays on its line, and reaches the
    /// terminal with its control characters escaped.
    #[test]
    fn a_reports_words_stay_on_their_line() {
        let report = Report {
            passed: false,
            lessons: vec![LessonReport {
                id: "evil".into(),
                file: "evil.md".into(),
                passed: false,
                steps: Vec::new(),
                error: Some("x\n::error file=a.md::forged\u{1b}]0;title\u{7}".into()),
                leftovers: vec!["link y\r\n::warning::forged".into()],
                kernel_lacks: None,
            }],
        };
        let text = human(&report, Duration::from_secs(1));
        assert!(text.lines().all(|l| !l.starts_with("::")), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
        assert!(
            text.contains("x\\x0a::error file=a.md::forged\\x1b]0;title\\x07"),
            "{text}"
        );
    }
}
