//! `nslab demo`: for the instructor on a projector. Each step is shown large, each command typed
//! out and performed natively, observation output shown, the checks shown passing, then the
//! live topology. The demo policy over the shared engine: perform, then evaluate.

use std::time::{Duration, Instant};

use console::style;

use super::{Place, put};
use crate::engine::Engine;
use crate::engine::runner::{self, CommandRun, Policy, Show};
use crate::exit::{Code, Failure};
use crate::lesson::CommandLine;
use crate::lesson::{Lesson, Step};
use crate::render::render;
use crate::term::{Key, Keys, width};

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
        if start == 1
            && let Some(question) = super::reset::before_demo(&engine.kernel, lesson)
        {
            put(&format!("{} {question}", style("Note:").yellow().bold()));
            let yes = matches!(wait_key(&keys, None), Some(Key::Char('y' | 'Y')));
            put("\n");
            if yes {
                put(&super::reset::demo_reset(&engine.kernel, lesson));
            }
        }
        super::reset::begin_noting(
            &engine.kernel,
            lesson,
            crate::engine::ledger::file::By::Demo,
        );
    }
    if start > 1 {
        super::prepare(engine, lesson, start);
    }
    if matches!(place, Place::Sandbox) {
        put(&format!(
            "{}\n",
            style("(not root: the demo runs in a private sandbox)").dim()
        ));
    }
    let mut idx = start - 1;
    while idx < n {
        let step = &lesson.steps[idx];
        let _ = console::Term::stdout().clear_screen();
        if idx == 0 {
            put(&format!(
                "{}\n\n{}\n",
                style(&lesson.title).bold().underlined(),
                render(&lesson.intro, width())
            ));
        }
        show_step(engine, step, n);
        let footer = match opts.auto {
            Some(s) => format!("next in {s} s · [space] next · [b] back · [q] quit"),
            None => "[space/enter] next · [b] back · [q] quit".to_string(),
        };
        put(&format!("\n{}\n", style(footer).dim()));
        match wait_key(&keys, opts.auto.map(Duration::from_secs_f64)) {
            Some(Key::Quit | Key::Char('q')) => return Ok(Code::Interrupted),
            Some(Key::Char('b')) => idx = idx.saturating_sub(1),
            _ => idx += 1,
        }
    }
    put(&format!(
        "\n{}\n",
        style(format!("End of the lesson: {}", lesson.title)).bold()
    ));
    Ok(Code::Success)
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

fn show_step(engine: &mut Engine, step: &Step, n: usize) {
    let w = width();
    let bar = "━".repeat(w.min(72));
    put(&format!(
        "{}\n{}\n{}\n\n",
        style(&bar).cyan(),
        style(format!("  Step {} of {n}   {}", step.index, step.title))
            .bold()
            .cyan(),
        style(&bar).cyan()
    ));
    put(&render(&step.body, w));
    put("\n");
    let mut show = Typing {
        delay: typing_delay(),
    };
    let policy = Policy {
        judge_after: !step.checks.is_empty(),
        ..Policy::default()
    };
    let run = runner::run_step(engine, step, &policy, &mut show);
    if !step.checks.is_empty() {
        put("\n");
        for (c, v) in step.checks.iter().zip(&run.after) {
            let mark = if v.pass {
                style("✓").green().bold()
            } else {
                style("✗").red().bold()
            };
            put(&format!("  {mark} {}\n", c.check.describe()));
            if !v.pass {
                put(&format!("      {}\n", style(v.message()).red()));
            }
        }
    }
    put("\n");
    put(&crate::show::text(
        &engine.kernel,
        &crate::show::Options::default(),
    ));
}

/// Demo's view of a step running: each command typed out, then what it printed.
struct Typing {
    delay: Duration,
}

impl Show for Typing {
    fn command(&mut self, c: &CommandLine) {
        put(&format!("{} ", style("$").green().bold()));
        for ch in c.text.chars() {
            put(&style(ch.to_string()).bold().to_string());
            if !self.delay.is_zero() {
                std::thread::sleep(self.delay);
            }
        }
        put("\n");
    }

    fn performed(&mut self, c: &CommandLine, r: &CommandRun) {
        if !r.output.is_empty() {
            put(&crate::term::printable(&r.output));
            if !r.output.ends_with('\n') {
                put("\n");
            }
        }
        match (&r.error, c.expect_failure) {
            (Some(e), _) => put(&format!("{}\n", style(e).red())),
            (None, true) => put(&format!("{}\n", style("(it fails, as expected)").yellow())),
            (None, false) => {}
        }
    }
}
