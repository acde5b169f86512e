//! `nslab demo`: for the instructor on a projector. Each step's header, commands and checklist
//! stay on screen (the same layout as learn); each command is typed out and performed
//! natively, its output shown below the step's text, the checks shown passing, then the
//! picture: the lesson's namespaces as the lesson means them, marked against the kernel.
//! Ctrl-C (or q) stops it at once, also in the middle of a command or of a ping's pace.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use console::{measure_text_width, style};

use super::screen::{self, CheckRow, Parts};
use super::{Place, put};
use crate::engine::runner::{self, CommandRun, Policy, Show};
use crate::engine::{Engine, Verdict};
use crate::exit::{Code, Failure};
use crate::lesson::CommandLine;
use crate::lesson::{Lesson, Step};
use crate::term::{Key, Keys, Screen, height, width};

pub struct Options {
    pub step: Option<usize>,
    /// Go on by itself after this many seconds.
    pub auto: Option<f64>,
}

/// Milliseconds per typed character (NSLAB_TYPING_MS overrides; 0 prints at once).
fn typing_delay() -> Duration {
    let ms = std::env::var("NSLAB_TYPING_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);
    Duration::from_millis(ms)
}

pub fn demo(
    lesson: &Lesson,
    engine: &mut Engine,
    place: &Place,
    opts: Options,
) -> Result<Code, Failure> {
    let keys = Keys::new().map_err(|e| Failure::env(format!("cannot set up the terminal: {e}")))?;
    engine.set_lesson(lesson);
    let n = lesson.steps.len();
    let start = match opts.step {
        None => 1,
        Some(s) => lesson.step_number("--step", s).map_err(Failure::usage)?,
    };
    // What an earlier run left (by the ledger): offered for reset now rather than failing
    // midway. Then the lesson's baseline, before its first command (modes/reset.rs).
    if matches!(place, Place::Host) {
        // With --step too: what an earlier run left would make the preparation fail.
        if let Some(question) =
            super::reset::before_demo(&engine.kernel, lesson).map_err(Failure::env)?
        {
            put(&format!("{} {question}", style("Note:").yellow().bold()));
            let yes = answer_line(&keys);
            put("\n");
            if yes {
                put(&super::reset::demo_reset(&engine.kernel, lesson));
            }
        }
        super::reset::begin_noting(
            &engine.kernel,
            lesson,
            crate::engine::ledger::file::By::Demo,
        )?;
        // What a line makes is the lesson's as soon as the line ends: a demo stopped in the
        // middle of a step (q, Ctrl-C, a signal, a kill) leaves nothing reset cannot find.
        let id = lesson.id.clone();
        engine.after_each_line(move |k| super::reset::note_new(Some(k), &id));
        let id = lesson.id.clone();
        crate::signals::on_leave(move || {
            super::reset::note_new(crate::kernel::Kernel::new().ok().as_ref(), &id);
        });
    }
    let mut notes = Vec::new();
    // The steps that failed as they were performed (a check that did not hold, a line that
    // failed), by number, with what failed: the demo exits 1 when there is any. With --step,
    // the earlier steps performed to bring the lab there count too.
    let mut failed: Vec<(usize, String)> = Vec::new();
    if start > 1 {
        let p = super::interruptible(&keys, true, || super::prepare_judged(engine, lesson, start));
        notes = p.said;
        failed.extend(p.failed.into_iter().map(|(i, what)| {
            (
                i,
                format!("{what} (performed before step {start}, to bring the lab there)"),
            )
        }));
        if matches!(place, Place::Host) {
            super::reset::note_made(lesson, &super::reset::new_namespaces(lesson), &[]);
        }
    }
    if matches!(place, Place::Sandbox) {
        notes.push(
            style("(not root: the demo runs in a private sandbox)")
                .dim()
                .to_string(),
        );
    }
    let mut d = Demo {
        lesson,
        keys: &keys,
        screen: Screen::new(),
        auto: opts.auto,
        notes,
    };
    let mut idx = start - 1;
    // The steps performed so far (from the first): a step before it is shown again, not
    // performed again (its commands would fail on what they made: "File exists").
    let mut performed = idx;
    while idx < n {
        let again = idx < performed;
        let (next, failure) = d.step(engine, idx, again);
        if let Some(f) = failure {
            failed.push((lesson.steps[idx].index, f));
        }
        performed = performed.max(idx + 1);
        // What the step made is the lesson's: a reset removes it (and only it).
        if matches!(place, Place::Host) {
            super::reset::note_made(lesson, &super::reset::new_namespaces(lesson), &[]);
        }
        match next {
            Next::Quit => {
                d.screen.leave();
                return Ok(Code::Interrupted);
            }
            Next::Back => idx = idx.saturating_sub(1),
            Next::Forward => idx += 1,
        }
    }
    d.screen.leave();
    if matches!(place, Place::Host) {
        super::reset::finished(&engine.kernel, lesson);
    }
    put(&format!(
        "\n{}\n",
        style(format!("End of the lesson: {}", lesson.title)).bold()
    ));
    if failed.is_empty() {
        return Ok(Code::Success);
    }
    let w = width();
    for (number, what) in &failed {
        for l in crate::render::wrap(&format!("Step {number} failed: {what}"), w) {
            put(&format!("{}\n", style(l).red()));
        }
    }
    Ok(Code::Failed)
}

/// What failed in a step as demo performed it, in a few words: its lines that failed, its
/// checks that did not hold (`None`: nothing failed).
fn failure(run: &runner::StepRun, after: &[Verdict]) -> Option<String> {
    let lines = run
        .commands
        .iter()
        .filter(|c| c.status == runner::CommandStatus::Failed)
        .count();
    let checks = after.iter().filter(|v| !v.pass).count();
    super::failed_in_words(lines, checks, after.len())
}

enum Next {
    Forward,
    Back,
    Quit,
}

struct Demo<'a> {
    lesson: &'a Lesson,
    keys: &'a Keys,
    screen: Screen,
    auto: Option<f64>,
    notes: Vec<String>,
}

impl Demo<'_> {
    /// Performs step `idx` and shows it; `again`, only shows it (its commands, its checks as
    /// the kernel has them now, the picture). Also what failed, when it was performed.
    fn step(&mut self, engine: &mut Engine, idx: usize, again: bool) -> (Next, Option<String>) {
        let step = &self.lesson.steps[idx];
        let n = self.lesson.steps.len();
        let mut prose = String::new();
        if idx == 0 {
            prose.push_str(&format!(
                "**{}**\n\n{}\n\n",
                self.lesson.title, self.lesson.intro
            ));
        }
        prose.push_str(&super::learn::without_commands(&step.body));
        let parts = Parts {
            header: format!("Step {} of {n}: {}", step.index, step.title),
            body: Vec::new(),
            scroll: 0,
            commands: Vec::new(),
            checks: step
                .checks
                .iter()
                .map(|c| CheckRow {
                    pass: false,
                    text: c.check.describe(),
                    why: None,
                })
                .collect(),
            question: Vec::new(),
            messages: std::mem::take(&mut self.notes),
            footers: vec!["Ctrl-C or q stops the demo".into(), "Ctrl-C: stop".into()],
            asked: false,
            notes: 0,
            details: Vec::new(),
        };
        let mut show = Typing {
            delay: typing_delay(),
            parts,
            record: vec![Piece::Prose(prose)],
            laid: None,
            screen: &mut self.screen,
        };
        show.draw();
        let mut failed = None;
        let (mut parts, mut record) = if again {
            let mut parts = show.parts;
            let mut record = show.record;
            parts.commands = step.commands.iter().map(|c| c.text.clone()).collect();
            record.push(Piece::Blank);
            record.push(Piece::Text(style(AGAIN).yellow().to_string()));
            parts.checks = checklist(step, &engine.evaluate(&step.checks));
            (parts, record)
        } else {
            let policy = Policy {
                judge_after: !step.checks.is_empty(),
                setup: true,
                ..Policy::default()
            };
            // The step runs on this thread; another redraws the frame when the terminal is
            // resized meanwhile (a line that runs for seconds: a sleep, a ping that waits).
            let shared = Mutex::new(show);
            let run = super::interruptible(self.keys, true, || {
                redrawn_on_resize(&shared, || {
                    runner::run_step(engine, step, &policy, &mut Locked(&shared))
                })
            });
            let show = shared.into_inner().unwrap_or_else(|p| p.into_inner());
            let mut parts = show.parts;
            // Demo judges every check: none is left unjudged.
            let after: Vec<Verdict> = run.after.iter().flatten().cloned().collect();
            failed = failure(&run, &after);
            parts.checks = checklist(step, &after);
            (parts, show.record)
        };
        // The picture after the step, below what the commands printed.
        record.push(Piece::Blank);
        record.push(Piece::Picture);
        parts.footers = match self.auto {
            Some(s) => vec![
                format!("next in {s} s · space: next · b back · ↑↓ scroll · q quit"),
                "space next · b back · q quit".into(),
            ],
            None => vec![
                "space/Enter: next · b: back · ↑↓ PgUp PgDn: scroll · q: quit".into(),
                "space next · b back · q quit".into(),
            ],
        };
        // Scrolled to the end: the latest output and the picture are what the audience sees.
        parts.scroll = usize::MAX;
        let started = Instant::now();
        // The picture and the body as last laid out, for a width: a resized terminal gets
        // both again, wrapped for its new width.
        let mut picture: Option<(usize, String)> = None;
        let mut laid_for = 0;
        loop {
            let (w, h) = (width(), height());
            if picture.as_ref().is_none_or(|(pw, _)| *pw != w) {
                let p = crate::show::after_step(
                    &engine.kernel,
                    self.lesson,
                    engine.lesson_namespaces(),
                    idx + 1,
                    w,
                );
                picture = Some((w, p));
            }
            if laid_for != w {
                let p = picture.as_ref().map_or("", |(_, p)| p.as_str());
                // Scrolled to the end, it stays at the end.
                let at_end = parts.scroll >= parts.body.len().saturating_sub(1);
                parts.body = lay(&record, w, p);
                if at_end {
                    parts.scroll = usize::MAX;
                }
                laid_for = w;
            }
            // With --auto, the seconds left, counting down.
            if let Some(s) = self.auto {
                let left = Duration::from_secs_f64(s).saturating_sub(started.elapsed());
                parts.footers[0] = format!(
                    "next in {} s · space: next · b back · ↑↓ scroll · q quit",
                    left.as_secs_f64().ceil()
                );
            }
            let laid = screen::layout(&parts, w, h);
            parts.scroll = parts.scroll.min(laid.max_scroll);
            let page = laid.body_rows.max(2) - 1;
            self.screen.draw(&laid.lines);
            let left = self
                .auto
                .map(|s| Duration::from_secs_f64(s).saturating_sub(started.elapsed()));
            if left.is_some_and(|l| l.is_zero()) {
                return (Next::Forward, failed);
            }
            let wait = left.map_or(Duration::from_millis(100), |l| {
                l.min(Duration::from_millis(100))
            });
            let Some(k) = self.keys.next(wait) else {
                continue;
            };
            let next = match k {
                Key::Quit | Key::Char('q') => Some(Next::Quit),
                Key::Char('b') => Some(Next::Back),
                Key::Char(' ') | Key::Enter | Key::Char('n') => Some(Next::Forward),
                Key::Up | Key::Char('k') => {
                    parts.scroll = parts.scroll.saturating_sub(1);
                    None
                }
                Key::Down | Key::Char('j') => {
                    parts.scroll = parts.scroll.saturating_add(1);
                    None
                }
                Key::PageUp => {
                    parts.scroll = parts.scroll.saturating_sub(page);
                    None
                }
                Key::PageDown => {
                    parts.scroll = parts.scroll.saturating_add(page);
                    None
                }
                Key::Home => {
                    parts.scroll = 0;
                    None
                }
                Key::End => {
                    parts.scroll = usize::MAX;
                    None
                }
                _ => None,
            };
            if let Some(next) = next {
                return (next, failed);
            }
        }
    }
}

/// What the body of a step's screen holds, kept as written (not yet wrapped), so that it is
/// laid out again for a terminal that was resized in the middle of the step.
enum Piece {
    /// The step's text, Markdown.
    Prose(String),
    /// A command as it was typed out: `$` and the command, broken as the commands area breaks
    /// it.
    Command(String),
    /// A line of text (what a command printed, an error): wrapped.
    Text(String),
    Blank,
    /// The picture after the step (drawn by the caller for the width).
    Picture,
}

/// The body's lines for `width`.
fn lay(record: &[Piece], width: usize, picture: &str) -> Vec<String> {
    let mut body = Vec::new();
    for p in record {
        match p {
            Piece::Prose(md) => {
                body.extend(crate::render::render(md, width).lines().map(str::to_string))
            }
            Piece::Command(c) => {
                for (i, l) in crate::render::command(c, width.saturating_sub(2))
                    .into_iter()
                    .enumerate()
                {
                    let lead = if i == 0 { "$" } else { " " };
                    body.push(format!(
                        "{} {}",
                        style(lead).green().bold(),
                        style(l).bold()
                    ));
                }
            }
            Piece::Text(t) => body.extend(output_lines(t, width)),
            Piece::Blank => body.push(String::new()),
            Piece::Picture => {
                body.extend(picture.lines().flat_map(|l| crate::render::wrap(l, width)))
            }
        }
    }
    body
}

/// A line a command printed, for `width` columns: as it is when it fits; else broken at a
/// space in the second half of the room where there is one (at the edge where there is not),
/// each piece after the first indented by two. The spaces inside a piece stay as the command
/// printed them, so that columns (`lsns`, `ip -br addr`, `ip neigh`) stay aligned; the
/// prose wrap made one space of each run.
fn output_lines(line: &str, width: usize) -> Vec<String> {
    if measure_text_width(line) <= width || line.contains('\x1b') {
        return crate::render::wrap(line, width);
    }
    let width = width.max(8);
    let cols = |c: &char| measure_text_width(c.encode_utf8(&mut [0; 4]));
    let mut out = Vec::new();
    let mut rest: Vec<char> = line.trim_end().chars().collect();
    let mut lead = "";
    while !rest.is_empty() {
        let room = width - lead.len();
        let (mut used, mut n) = (0, 0);
        for c in &rest {
            if used + cols(c) > room {
                break;
            }
            used += cols(c);
            n += 1;
        }
        if n >= rest.len() {
            out.push(format!("{lead}{}", rest.iter().collect::<String>()));
            break;
        }
        let cut = rest[..n]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&i| i >= n / 2)
            .map_or(n.max(1), |i| i + 1);
        let head: String = rest[..cut].iter().collect();
        out.push(format!("{lead}{}", head.trim_end()));
        rest = rest[cut..]
            .iter()
            .skip_while(|c| **c == ' ')
            .copied()
            .collect();
        lead = "  ";
    }
    out
}

fn checklist(step: &Step, after: &[Verdict]) -> Vec<CheckRow> {
    step.checks
        .iter()
        .zip(after)
        .map(|(c, v)| CheckRow {
            pass: v.pass,
            text: c.check.describe(),
            why: (!v.pass).then(|| v.message()),
        })
        .collect()
}

const AGAIN: &str = "Shown again: this step's commands ran before and are not performed again. The checks are as the kernel has them now.";

/// The answer to a `[y/N]` question, typed as a line: the keys are echoed, Backspace takes one
/// back, Enter ends it; `y` or `yes` is yes, anything else (Enter alone too) no. A single key
/// left the Enter typed after it to the first step, which took it for "next". Ctrl-C leaves.
fn answer_line(keys: &Keys) -> bool {
    let mut line = String::new();
    loop {
        match wait_key(keys, None) {
            Some(Key::Enter) | None => {
                return matches!(line.trim(), "y" | "Y" | "yes" | "Yes");
            }
            Some(Key::Quit) => {
                // On the normal screen, after the question: the line ends, and the question
                // stays (leaving the alternate screen, which the demo has not taken yet, put
                // the cursor back where an earlier screen had saved it, over the question).
                crate::signals::leaving();
                keys.restore();
                put("\x1b[?25h\nnslab: interrupted\n");
                std::process::exit(Code::Interrupted as i32)
            }
            Some(Key::Backspace) => {
                if line.pop().is_some() {
                    put("\x08 \x08");
                }
            }
            Some(Key::Char(c)) if !c.is_control() => {
                line.push(c);
                put(&c.to_string());
            }
            Some(_) => {}
        }
    }
}

/// Waits for a key; `None` after `timeout` (forever without one).
fn wait_key(keys: &Keys, timeout: Option<Duration>) -> Option<Key> {
    let start = Instant::now();
    loop {
        if let Some(k) = keys.next(Duration::from_millis(50)) {
            return Some(k);
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return None;
        }
    }
}

/// Demo's view of a step running: each command typed out in the commands' place, what it
/// printed added below the step's text.
struct Typing<'a> {
    delay: Duration,
    parts: Parts,
    /// The body as written; laid out for the terminal's width at each frame.
    record: Vec<Piece>,
    /// The width and the number of pieces the body was last laid out for.
    laid: Option<(usize, usize)>,
    screen: &'a mut Screen,
}

impl Typing<'_> {
    fn draw(&mut self) {
        let (w, h) = (width(), height());
        if self.laid != Some((w, self.record.len())) {
            self.parts.body = lay(&self.record, w, "");
            self.laid = Some((w, self.record.len()));
        }
        let laid = screen::layout(&self.parts, w, h);
        self.screen.draw(&laid.lines);
    }
}

/// The frame of a step being performed, shared between the thread that performs it and the
/// one that redraws it when the terminal is resized.
struct Locked<'s, 'a>(&'s Mutex<Typing<'a>>);

impl Locked<'_, '_> {
    fn with<T>(&self, f: impl FnOnce(&mut Typing<'_>) -> T) -> T {
        match self.0.lock() {
            Ok(mut t) => f(&mut t),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

impl Show for Locked<'_, '_> {
    fn command(&mut self, c: &CommandLine) {
        let delay = self.with(|t| {
            t.parts.commands.push(String::new());
            t.parts.scroll = usize::MAX;
            t.delay
        });
        for ch in c.text.chars() {
            if !delay.is_zero() {
                self.with(|t| {
                    if let Some(last) = t.parts.commands.last_mut() {
                        last.push(ch);
                    }
                    t.draw();
                });
                // Not while holding the frame: a resize redraws it meanwhile.
                std::thread::sleep(delay);
            } else {
                self.with(|t| {
                    if let Some(last) = t.parts.commands.last_mut() {
                        last.push(ch);
                    }
                });
            }
        }
        // In the scrolling record of the step.
        self.with(|t| {
            t.record.push(Piece::Command(c.text.clone()));
            t.draw();
        });
    }

    fn performed(&mut self, c: &CommandLine, r: &CommandRun) {
        self.with(|t| {
            for l in crate::term::printable(&r.output).lines() {
                t.record.push(Piece::Text(l.to_string()));
            }
            let said = match (&r.error, c.expect_failure) {
                (Some(e), _) => Some(style(e).red().to_string()),
                (None, true) => Some(style("(it fails, as expected)").yellow().to_string()),
                (None, false) => None,
            };
            if let Some(s) = said {
                t.record.push(Piece::Text(s));
            }
            t.parts.scroll = usize::MAX;
            t.draw();
        });
    }
}

/// Runs `f` while another thread draws `frame` again, laid out for the new size, whenever the
/// terminal is resized. Before, a step stuck in a long line kept the old size's frame (cut at
/// the new edge, or wrapped by the terminal over the header) until the line ended.
fn redrawn_on_resize<T>(frame: &Mutex<Typing<'_>>, f: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut drawn_for = (width(), height());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let now = (width(), height());
                if now != drawn_for {
                    drawn_for = now;
                    if let Ok(mut t) = frame.lock() {
                        t.screen.invalidate();
                        t.draw();
                    }
                }
            }
        });
        let r = f();
        done.store(true, Ordering::Relaxed);
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a command prints keeps its columns on a narrow screen: `lsns` at 60 columns had its
    /// row's runs of spaces made one each (the prose wrap), under a header that kept them.
    #[test]
    fn command_output_keeps_its_columns_when_broken() {
        console::set_colors_enabled(false);
        let header = "        NS TYPE NPROCS PID USER    NETNSID NSFS COMMAND";
        let row = "4026532390 net       9     1 root unassigned      /bin/bash /srv/fresh/lab/run.sh namespaces";
        let body = lay(
            &[Piece::Text(header.into()), Piece::Text(row.into())],
            60,
            "",
        );
        assert_eq!(body[0], header);
        assert!(
            body[1].starts_with("4026532390 net       9     1 root unassigned      /bin/bash"),
            "{body:#?}"
        );
        assert!(
            body.iter().all(|l| measure_text_width(l) <= 60),
            "{body:#?}"
        );
        // Nothing lost: the words are all there, in order.
        let words: Vec<&str> = body[1..]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(words, row.split_whitespace().collect::<Vec<_>>());
        // A word longer than the line is cut at the edge, nothing lost either.
        let long = "x".repeat(130);
        let cut = output_lines(&long, 60);
        assert!(cut.iter().all(|l| measure_text_width(l) <= 60), "{cut:#?}");
        assert_eq!(cut.concat().replace(' ', ""), long);
    }
}
