//! What nslab knows of a student's machine, and of a class. [`Machine`] is the lessons with the
//! student's progress in each: `nslab list` shows it, as text or as JSON (docs/list-json.md).
//! An instructor collects the JSON from every machine, and `nslab class report` makes one table
//! of them: who is where, and who has been stuck longest.
//!
//! Everything here is pure but [`this_machine`] and [`read_inputs`].

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lesson::Lesson;
use crate::progress::{Progress, StepState};

/// The version of the list JSON this nslab writes and reads.
pub const FORMAT: u64 = 1;

/// A list JSON is small; a file much larger than this is not one.
const MAX_SIZE: u64 = 16 << 20;

/// One student's machine: `nslab list --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The format of this JSON ([`FORMAT`]).
    pub version: u64,
    pub hostname: String,
    /// The user whose progress this is (root's, for `sudo nslab learn`).
    pub user: String,
    /// When it was written, in unix seconds by the machine's own clock: how long a student has
    /// been at a step is `generated - since`, with no need for the clocks to agree.
    pub generated: u64,
    /// The progress file it was read from, if there is one.
    #[serde(default)]
    pub progress_file: Option<String>,
    /// The lesson the student worked on last.
    #[serde(default)]
    pub current_lesson: Option<String>,
    /// Fields of the progress file that could not be read (then left out).
    #[serde(default)]
    pub warnings: Vec<String>,
    pub lessons: Vec<LessonView>,
}

/// One lesson, with the student's progress in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonView {
    pub id: String,
    pub title: String,
    /// The lesson's file (`lessons/04-routing.md` for a built-in one).
    pub file: String,
    /// How long the lesson takes, as its author says.
    #[serde(default)]
    pub minutes: Option<u32>,
    pub step_count: usize,
    /// The student has opened the lesson at least once.
    #[serde(default)]
    pub started: bool,
    /// The step the student is at; null before they start and once they are past the last one.
    #[serde(default)]
    pub current_step: Option<usize>,
    /// Since when (unix seconds) the student has been at `current_step`.
    #[serde(default)]
    pub since: Option<u64>,
    #[serde(default)]
    pub finished: bool,
    /// When the student first passed the last step (unix seconds).
    #[serde(default)]
    pub finished_at: Option<u64>,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub index: usize,
    pub title: String,
    /// How the step was passed; null if it was not.
    pub state: Option<StepState>,
}

impl LessonView {
    pub fn count(&self, state: StepState) -> usize {
        self.steps.iter().filter(|s| s.state == Some(state)).count()
    }
}

impl Machine {
    /// The lessons, with the student's progress in each.
    pub fn collect(
        lessons: &[Lesson],
        progress: &Progress,
        (hostname, user): (String, String),
        generated: u64,
    ) -> Machine {
        let lessons = lessons
            .iter()
            .map(|l| {
                let p = progress.get(&l.id);
                let n = l.steps.len();
                LessonView {
                    id: l.id.clone(),
                    title: l.title.clone(),
                    file: l.source.name.clone(),
                    minutes: l.minutes,
                    step_count: n,
                    started: p.is_some(),
                    current_step: p.map(|p| p.step).filter(|s| (1..=n).contains(s)),
                    since: p.and_then(|p| p.since),
                    finished: p.is_some_and(|p| p.done()),
                    finished_at: p.and_then(|p| p.finished),
                    steps: l
                        .steps
                        .iter()
                        .map(|s| StepView {
                            index: s.index,
                            title: s.title.clone(),
                            state: p.and_then(|p| p.state(s.index)),
                        })
                        .collect(),
                }
            })
            .collect();
        Machine {
            version: FORMAT,
            hostname,
            user,
            generated,
            progress_file: None,
            current_lesson: progress.current.clone(),
            warnings: Vec::new(),
            lessons,
        }
    }

    /// The lesson the student is on: the last one they worked on, else the one they moved in
    /// most recently.
    pub fn lesson_on(&self) -> Option<&LessonView> {
        let named = self.current_lesson.as_deref();
        self.lessons
            .iter()
            .find(|l| Some(l.id.as_str()) == named)
            .or_else(|| {
                self.lessons
                    .iter()
                    .filter(|l| l.started)
                    .max_by_key(|l| l.since)
            })
    }
}

/// The marks of `nslab list` for each step state.
fn mark(state: StepState, ascii: bool) -> String {
    let (utf8, plain) = match state {
        StepState::Verified => ("✓", "+"),
        StepState::Performed => ("▶", ">"),
        StepState::Skipped => ("↷", "~"),
    };
    let m = if ascii { plain } else { utf8 };
    match state {
        StepState::Verified => console::style(m).green().bold(),
        StepState::Performed => console::style(m).cyan(),
        StepState::Skipped => console::style(m).yellow(),
    }
    .to_string()
}

/// "2 verified, 1 performed": the states there are, in their order.
fn counts(l: &LessonView) -> String {
    let parts: Vec<String> = StepState::ALL
        .into_iter()
        .map(|s| (l.count(s), s))
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
    if parts.is_empty() {
        "no step passed yet".into()
    } else {
        parts.join(", ")
    }
}

impl Machine {
    /// `nslab list`: each lesson and its steps, each step's state, and where the student is.
    pub fn render_list(&self, ascii: bool) -> String {
        let mut out = String::new();
        for (n, l) in self.lessons.iter().enumerate() {
            let minutes = l.minutes.map(|m| format!(" ({m} min)")).unwrap_or_default();
            let at = |s: usize| format!("at step {s} of {}", l.step_count);
            let summary = match (l.started, l.finished, l.current_step) {
                (false, _, _) => None,
                (true, true, None) => Some(format!("finished: {}", counts(l))),
                (true, true, Some(s)) => Some(format!("finished, {} again: {}", at(s), counts(l))),
                (true, false, s) => {
                    let for_ = l
                        .since
                        .map(|t| format!(" for {}", duration(self.generated.saturating_sub(t))))
                        .unwrap_or_default();
                    let at = s.map_or_else(|| "past the last step".into(), at);
                    Some(format!("{at}{for_}: {}", counts(l)))
                }
            };
            let summary = summary
                .map(|s| format!("  [{}]", console::style(s).green()))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}. {}  {}{minutes}{summary}\n",
                n + 1,
                console::style(&l.id).bold(),
                l.title,
            ));
            for s in &l.steps {
                let m = s.state.map_or_else(|| " ".into(), |st| mark(st, ascii));
                let here = if l.current_step == Some(s.index) {
                    let arrow = if ascii { "<-" } else { "←" };
                    format!(
                        "  {}",
                        console::style(format!("{arrow} you are here")).bold()
                    )
                } else {
                    String::new()
                };
                out.push_str(&format!("  {m} {:>2}. {}{here}\n", s.index, s.title));
            }
        }
        if self.lessons.iter().any(|l| l.started) {
            out.push_str(&format!(
                "\n{} verified (your commands)   {} performed by nslab (d)   {} skipped (n)\n",
                mark(StepState::Verified, ascii),
                mark(StepState::Performed, ascii),
                mark(StepState::Skipped, ascii),
            ));
        }
        out
    }
}

/// This machine's name and the user nslab runs as.
pub fn this_machine() -> (String, String) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let uid = nix::unistd::Uid::effective();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    (hostname, user)
}

/// A list JSON, checked.
pub fn parse(text: &str) -> Result<Machine, String> {
    let m: Machine = serde_json::from_str(text).map_err(|e| format!("not a list JSON: {e}"))?;
    if m.version > FORMAT {
        return Err(format!(
            "list JSON version {}, newer than this nslab reads ({FORMAT})",
            m.version
        ));
    }
    Ok(m)
}

/// One student in the class report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub hostname: String,
    pub user: String,
    /// The file it came from.
    pub file: String,
    /// The lesson the student is on, if they started one.
    pub lesson: Option<String>,
    /// The step they are at in it; null when they are past its last step.
    pub step: Option<usize>,
    pub step_count: usize,
    /// The lesson they are on is finished.
    pub finished: bool,
    /// How the steps of that lesson were passed.
    pub verified: usize,
    pub performed: usize,
    pub skipped: usize,
    pub lessons_finished: usize,
    pub lessons: usize,
    /// How long they had been at their step when the file was written.
    pub stuck_seconds: Option<u64>,
}

impl Row {
    pub fn of(file: &str, m: &Machine) -> Row {
        let on = m.lesson_on();
        let count = |s| on.map_or(0, |l| l.count(s));
        let step = on.and_then(|l| l.current_step);
        Row {
            hostname: m.hostname.clone(),
            user: m.user.clone(),
            file: file.to_string(),
            lesson: on.map(|l| l.id.clone()),
            step,
            step_count: on.map_or(0, |l| l.step_count),
            finished: on.is_some_and(|l| l.finished),
            verified: count(StepState::Verified),
            performed: count(StepState::Performed),
            skipped: count(StepState::Skipped),
            lessons_finished: m.lessons.iter().filter(|l| l.finished).count(),
            lessons: m.lessons.len(),
            stuck_seconds: on
                .filter(|_| step.is_some())
                .and_then(|l| l.since)
                .map(|since| m.generated.saturating_sub(since)),
        }
    }

    pub fn who(&self) -> String {
        format!("{}/{}", self.hostname, self.user)
    }

    /// "18 min at routing step 6"
    pub fn stuck(&self) -> Option<String> {
        Some(format!(
            "{} at {} step {}",
            duration(self.stuck_seconds?),
            self.lesson.as_deref()?,
            self.step?
        ))
    }
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bad {
    pub file: String,
    pub error: String,
}

/// `nslab class report --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Stuck longest first; those not at a step (not started, or finished) last.
    pub students: Vec<Row>,
    pub bad_files: Vec<Bad>,
}

impl Report {
    pub fn new(inputs: Vec<(String, Result<Machine, String>)>) -> Report {
        let mut students = Vec::new();
        let mut bad_files = Vec::new();
        for (file, m) in inputs {
            match m {
                Ok(m) => students.push(Row::of(&file, &m)),
                Err(error) => bad_files.push(Bad { file, error }),
            }
        }
        // Longest first; then by who, so that the order does not depend on the files' order.
        students.sort_by(|a, b| {
            b.stuck_seconds
                .cmp(&a.stuck_seconds)
                .then_with(|| a.who().cmp(&b.who()))
        });
        Report {
            students,
            bad_files,
        }
    }

    /// The table, for a terminal.
    pub fn render(&self) -> String {
        let head = [
            "who",
            "lesson",
            "step",
            "verified",
            "performed",
            "skipped",
            "lessons done",
            "at this step for",
        ];
        let mut rows: Vec<[String; 8]> = vec![head.map(String::from)];
        for r in &self.students {
            let step = match (&r.lesson, r.step) {
                (None, _) => "-".to_string(),
                (Some(_), Some(s)) => format!("{s}/{}", r.step_count),
                (Some(_), None) if r.finished => "done".to_string(),
                (Some(_), None) => "-".to_string(),
            };
            rows.push([
                r.who(),
                r.lesson.clone().unwrap_or_else(|| "(not started)".into()),
                step,
                r.verified.to_string(),
                r.performed.to_string(),
                r.skipped.to_string(),
                format!("{}/{}", r.lessons_finished, r.lessons),
                r.stuck_seconds.map_or_else(|| "-".into(), duration),
            ]);
        }
        let mut widths = [0usize; 8];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                // Text to the left, numbers to the right.
                let pad = w - cell.chars().count();
                match i {
                    3..=6 => line.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                    _ => line.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        match self.students.iter().find_map(|r| Some((r, r.stuck()?))) {
            Some((r, stuck)) => out.push_str(&format!("\nStuck longest: {}, {stuck}.\n", r.who())),
            None if self.students.is_empty() => out.push_str("\nNo student files.\n"),
            None => out.push_str("\nNobody is at a step.\n"),
        }
        out
    }
}

/// A time span as a person says it: "40 s", "18 min", "2 h 05 min", "3 days 4 h".
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
        _ => {
            let days = secs / 86400;
            format!(
                "{days} day{} {} h",
                if days == 1 { "" } else { "s" },
                secs % 86400 / 3600
            )
        }
    }
}

/// The files named, a folder standing for the `.json` files in it; each read and parsed, or why
/// not. Anything but a regular file is refused before it is opened (a FIFO would block).
pub fn read_inputs(paths: &[PathBuf]) -> Vec<(String, Result<Machine, String>)> {
    let mut out = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => match json_files(p) {
                Ok(files) if files.is_empty() => out.push((
                    p.display().to_string(),
                    Err("a folder with no .json file in it".into()),
                )),
                Ok(files) => out.extend(
                    files
                        .into_iter()
                        .map(|f| (f.display().to_string(), read_one(&f))),
                ),
                Err(e) => out.push((p.display().to_string(), Err(format!("cannot list it: {e}")))),
            },
            _ => out.push((p.display().to_string(), read_one(p))),
        }
    }
    out
}

/// The `.json` files of a folder, by name.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_one(path: &Path) -> Result<Machine, String> {
    let not_regular = |m: &std::fs::Metadata| {
        (!m.is_file()).then(|| {
            if m.is_dir() {
                "a folder".to_string()
            } else {
                "not a regular file (a FIFO or a device?)".to_string()
            }
        })
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if let Some(e) = not_regular(&meta) {
        return Err(e);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if let Some(e) = not_regular(&meta) {
        return Err(e);
    }
    let mut text = String::new();
    file.take(MAX_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > MAX_SIZE {
        return Err(format!(
            "larger than {} MiB, so not a list JSON",
            MAX_SIZE >> 20
        ));
    }
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(index: usize, state: Option<StepState>) -> StepView {
        StepView {
            index,
            title: format!("Step {index}"),
            state,
        }
    }

    /// A lesson of `n` steps, the first ones with `states`, the student at `at` since `since`.
    fn lesson(
        id: &str,
        n: usize,
        states: &[StepState],
        at: Option<usize>,
        since: u64,
    ) -> LessonView {
        LessonView {
            id: id.into(),
            title: format!("The {id} lesson"),
            file: format!("lessons/{id}.md"),
            minutes: Some(20),
            step_count: n,
            started: true,
            current_step: at,
            since: Some(since),
            finished: at.is_none(),
            finished_at: at.is_none().then_some(since),
            steps: (1..=n)
                .map(|i| step(i, states.get(i - 1).copied()))
                .collect(),
        }
    }

    fn machine(host: &str, current: &str, lessons: Vec<LessonView>) -> Machine {
        Machine {
            version: FORMAT,
            hostname: host.into(),
            user: "student".into(),
            generated: 100_000,
            progress_file: None,
            current_lesson: Some(current.into()),
            warnings: vec![],
            lessons,
        }
    }

    use StepState::{Performed as P, Skipped as S, Verified as V};

    #[test]
    fn a_row_is_the_lesson_the_student_is_on() {
        let m = machine(
            "pc-07",
            "routing",
            vec![
                lesson("veth-lab", 8, &[V; 8], None, 1_000),
                lesson("routing", 9, &[V, V, P, V, S], Some(6), 100_000 - 18 * 60),
            ],
        );
        let r = Row::of("pc-07.json", &m);
        assert_eq!(r.lesson.as_deref(), Some("routing"));
        assert_eq!((r.step, r.step_count), (Some(6), 9));
        assert_eq!((r.verified, r.performed, r.skipped), (3, 1, 1));
        assert_eq!((r.lessons_finished, r.lessons), (1, 2));
        assert_eq!(r.stuck_seconds, Some(18 * 60));
        assert_eq!(r.stuck().as_deref(), Some("18 min at routing step 6"));
    }

    #[test]
    fn without_a_current_lesson_the_latest_one_moved_in_counts() {
        let mut m = machine(
            "pc-01",
            "gone",
            vec![
                lesson("a", 3, &[V], Some(2), 500),
                lesson("b", 3, &[], Some(1), 900),
            ],
        );
        assert_eq!(Row::of("f", &m).lesson.as_deref(), Some("b"));
        m.lessons.iter_mut().for_each(|l| l.started = false);
        let r = Row::of("f", &m);
        assert_eq!((r.lesson, r.stuck_seconds), (None, None));
    }

    #[test]
    fn a_finished_lesson_is_not_stuck() {
        let m = machine("pc-02", "a", vec![lesson("a", 3, &[V, V, V], None, 100)]);
        let r = Row::of("f", &m);
        assert!(r.finished);
        assert_eq!((r.step, r.stuck_seconds, r.stuck()), (None, None, None));
    }

    #[test]
    fn the_report_puts_the_longest_stuck_first_and_keeps_bad_files_apart() {
        let at = |host: &str, secs: u64| {
            Ok(machine(
                host,
                "routing",
                vec![lesson("routing", 9, &[V], Some(2), 100_000 - secs)],
            ))
        };
        let done = Ok(machine("pc-09", "a", vec![lesson("a", 1, &[V], None, 1)]));
        let report = Report::new(vec![
            ("pc-01.json".into(), at("pc-01", 60)),
            ("pc-09.json".into(), done),
            ("broken.json".into(), Err("not a list JSON".into())),
            ("pc-03.json".into(), at("pc-03", 3 * 3600 + 5 * 60)),
            ("pc-02.json".into(), at("pc-02", 60)),
        ]);
        let order: Vec<&str> = report
            .students
            .iter()
            .map(|r| r.hostname.as_str())
            .collect();
        assert_eq!(order, ["pc-03", "pc-01", "pc-02", "pc-09"]);
        assert_eq!(
            report.bad_files,
            [Bad {
                file: "broken.json".into(),
                error: "not a list JSON".into()
            }]
        );
        let text = report.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "who            lesson   step  verified  performed  skipped  lessons done  at this step for"
        );
        assert_eq!(
            lines[1],
            "pc-03/student  routing  2/9          1          0        0           0/1  3 h 05 min"
        );
        assert_eq!(
            lines[4],
            "pc-09/student  a        done         1          0        0           1/1  -"
        );
        assert_eq!(
            lines.last().copied(),
            Some("Stuck longest: pc-03/student, 3 h 05 min at routing step 2.")
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(18 * 60 + 59), "18 min");
        assert_eq!(duration(3600 + 5 * 60), "1 h 05 min");
        assert_eq!(duration(86400 + 2 * 3600), "1 day 2 h");
        assert_eq!(duration(3 * 86400), "3 days 0 h");
    }

    #[test]
    fn the_list_json_reads_back_and_a_bad_one_says_why() {
        let m = machine("pc-07", "a", vec![lesson("a", 2, &[P], Some(2), 7)]);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(parse(&text), Ok(m.clone()));
        let e = parse(r#"{"version": 1, "user": "s", "generated": 1, "lessons": []}"#).unwrap_err();
        assert!(e.contains("missing field `hostname`"), "{e}");
        let newer = text.replacen("\"version\":1", "\"version\":2", 1);
        assert!(parse(&newer).unwrap_err().contains("version 2"));
        assert!(parse("[]").is_err());
    }

    #[test]
    fn the_list_shows_states_and_where_the_student_is() {
        console::set_colors_enabled(false);
        let mut m = machine("pc", "b", vec![lesson("a", 2, &[V, V], None, 1)]);
        m.lessons
            .push(lesson("b", 4, &[V, P, S], Some(4), 100_000 - 12 * 60));
        let mut fresh = lesson("c", 1, &[], None, 0);
        (fresh.started, fresh.finished, fresh.since) = (false, false, None);
        m.lessons.push(fresh);
        let text = m.render_list(true);
        let expected = "\
1. a  The a lesson (20 min)  [finished: 2 verified]
  +  1. Step 1
  +  2. Step 2
2. b  The b lesson (20 min)  [at step 4 of 4 for 12 min: 1 verified, 1 performed, 1 skipped]
  +  1. Step 1
  >  2. Step 2
  ~  3. Step 3
     4. Step 4  <- you are here
3. c  The c lesson (20 min)
     1. Step 1

+ verified (your commands)   > performed by nslab (d)   ~ skipped (n)
";
        assert_eq!(text, expected);
    }
}
