//! The screen of learn and demo, laid out: pure, from the parts of a step to the lines of one frame.
//!
//! What the student needs at every moment stays put: the step's header ("Step N of M: title")
//! on top, and at the bottom its commands, its checklist (each failing check with its reason
//! under it), the question, messages and the keys. The prose takes the rows left between
//! them, and scrolls. When even those parts do not fit, messages give way first, then the
//! reasons under the checks; the header, the commands and the checks' own lines stay.

use console::{measure_text_width, style};

use crate::render::wrap;

/// One line of the checklist.
#[derive(Debug, Clone)]
pub struct CheckRow {
    pub pass: bool,
    pub text: String,
    /// Why it does not hold yet, in a few words (for a failing check).
    pub why: Option<String>,
}

/// The parts of a frame.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub header: String,
    /// The prose (or the picture, with `g`), already laid out for the width.
    pub body: Vec<String>,
    pub scroll: usize,
    /// The step's commands, as the student types them.
    pub commands: Vec<String>,
    pub checks: Vec<CheckRow>,
    pub question: Vec<String>,
    pub messages: Vec<String>,
    /// Footers from the longest to the shortest: the first that fits is drawn.
    pub footers: Vec<String>,
    /// The messages hold what the student asked for (a hint): in a small pane, the reasons
    /// under the checks (which the hint says again, with a Try) give way to them first.
    pub asked: bool,
    /// How many of the first messages are notes of what happened before (a step passed): in
    /// a small pane they give way to the others first.
    pub notes: usize,
    /// Messages that say again what is said elsewhere (a hint's "expected:", which the check's
    /// own words say): in a small pane they give way next, before the rest is cut.
    pub details: Vec<usize>,
}

/// A frame: its lines, and how far the body can scroll.
pub struct Laid {
    pub lines: Vec<String>,
    pub max_scroll: usize,
    /// The rows the body had.
    pub body_rows: usize,
}

/// Wraps `text` to `width` after `first` (a mark), continuation lines under the text (`wrap`
/// indents them by two more).
fn wrapped(text: &str, width: usize, first: &str) -> Vec<String> {
    let lead = measure_text_width(first);
    let avail = width.saturating_sub(lead).max(8);
    wrap(text, avail)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{first}{l}")
            } else {
                format!("{}{l}", " ".repeat(lead))
            }
        })
        .collect()
}

fn rule(width: usize, label: &str) -> String {
    if label.is_empty() {
        return style("─".repeat(width)).dim().to_string();
    }
    let w = measure_text_width(label) + 4;
    if w > width {
        return style("─".repeat(width)).dim().to_string();
    }
    style(format!("── {label} {}", "─".repeat(width - w)))
        .dim()
        .to_string()
}

/// The checklist without the reasons under its checks.
fn no_whys(checks: &[(bool, Vec<String>)]) -> Vec<(bool, Vec<String>)> {
    checks.iter().filter(|(why, _)| !why).cloned().collect()
}

pub fn layout(p: &Parts, width: usize, height: usize) -> Laid {
    let width = width.max(20);
    let mut header: Vec<String> = wrap(&style(&p.header).bold().cyan().to_string(), width);
    header.truncate(3);
    let mut commands = Vec::new();
    for c in &p.commands {
        for (i, l) in crate::render::command(c, width.saturating_sub(2))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { "$ " } else { "  " };
            commands.push(format!("{}{}", style(lead).dim(), style(l).cyan()));
        }
    }
    let mut checks = Vec::new();
    let mut whys = 0;
    for c in &p.checks {
        let mark = if c.pass {
            style("✓").green().bold().to_string()
        } else {
            style("·").dim().to_string()
        };
        checks.push((false, wrapped(&c.text, width, &format!("{mark} "))));
        if let Some(w) = &c.why {
            let lines = wrapped(&style(w).yellow().to_string(), width, "  ↳ ");
            whys += lines.len();
            checks.push((true, lines));
        }
    }
    let mut question = Vec::new();
    for q in &p.question {
        question.extend(wrapped(q, width, ""));
    }
    // Each row with the message it belongs to.
    let mut messages: Vec<(usize, String)> = Vec::new();
    for (i, m) in p.messages.iter().enumerate() {
        for l in m.lines() {
            messages.extend(wrapped(l, width, "").into_iter().map(|r| (i, r)));
        }
    }
    let footer = p
        .footers
        .iter()
        .find(|f| measure_text_width(f) <= width)
        .cloned()
        .unwrap_or_default();
    let footer = style(footer).dim().to_string();
    let rules = 1 + usize::from(!commands.is_empty() || !checks.is_empty());
    let count = |checks: &[(bool, Vec<String>)]| checks.iter().map(|(_, l)| l.len()).sum::<usize>();
    let fixed =
        |m: usize, c: usize| header.len() + rules + commands.len() + c + question.len() + m + 1;
    // Give way: messages first (keeping their first lines), then the reasons under checks;
    // the other way round when the messages are a hint the student asked for.
    let mut check_rows = count(&checks);
    if p.asked && whys > 0 && fixed(messages.len(), check_rows) > height {
        checks.retain(|(why, _)| !why);
        check_rows = count(&checks);
    }
    // Notes of what happened before go first, oldest first; then what is said again.
    while fixed(messages.len(), check_rows) > height {
        let Some(k) = messages
            .iter()
            .position(|(i, _)| *i < p.notes)
            .or_else(|| messages.iter().position(|(i, _)| p.details.contains(i)))
        else {
            break;
        };
        messages.remove(k);
    }
    let mut messages: Vec<String> = messages.into_iter().map(|(_, r)| r).collect();
    let mut msg_rows = messages.len();
    if fixed(msg_rows, check_rows) > height {
        let over = fixed(msg_rows, check_rows) - height;
        msg_rows = msg_rows.saturating_sub(over);
        if msg_rows < messages.len() && msg_rows > 0 {
            msg_rows -= 1;
            messages.truncate(msg_rows);
            messages.push(style("…").dim().to_string());
            msg_rows += 1;
        } else {
            messages.truncate(msg_rows);
        }
    }
    if fixed(msg_rows, check_rows) > height && whys > 0 {
        // The reasons go, but not for blank rows: a short text leaves rows that the reasons
        // get back, each whole, in order, as far as they fit.
        let room = height.saturating_sub(fixed(msg_rows, count(&no_whys(&checks))));
        let mut spare = room.saturating_sub(p.body.len());
        checks.retain(|(why, l)| {
            let keep = !why || l.len() <= spare;
            if *why && keep {
                spare -= l.len();
            }
            keep
        });
        check_rows = count(&checks);
    }
    let body_rows = height.saturating_sub(fixed(msg_rows, check_rows));
    let max_scroll = p.body.len().saturating_sub(body_rows);
    let scroll = p.scroll.min(max_scroll);
    let mut lines = header;
    let more_above = scroll > 0;
    let more_below = scroll + body_rows < p.body.len();
    lines.push(rule(
        width,
        match (more_above, more_below) {
            (_, true) if body_rows == 0 => "text hidden: PgDn/↓",
            (false, true) => "",
            (true, _) => "↑ PgUp: more above",
            _ => "",
        },
    ));
    // The body's rows are filled even when the text is shorter: the parts below stay put.
    let shown: Vec<String> = p
        .body
        .iter()
        .skip(scroll)
        .take(body_rows)
        // The callers wrap the body; a line that is still too wide is cut, never left to the
        // terminal, whose own wrapping would push the header off the screen.
        .map(|l| console::truncate_str(l, width, "↪").into_owned())
        .collect();
    let n = shown.len();
    lines.extend(shown);
    lines.extend((n..body_rows).map(|_| String::new()));
    if rules > 1 {
        lines.push(rule(
            width,
            if more_below {
                "↓ PgDn: more text"
            } else {
                ""
            },
        ));
    }
    lines.extend(commands);
    for (_, l) in checks {
        lines.extend(l);
    }
    lines.extend(question);
    lines.extend(messages);
    lines.push(footer);
    lines.truncate(height);
    Laid {
        lines,
        max_scroll,
        body_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_step() -> Parts {
        let prose = crate::render::render(
            &"Each namespace has its own interfaces, routes and firewall. ".repeat(30),
            40,
        );
        Parts {
            header: "Step 3 of 8: Create a veth pair in the root namespace".into(),
            body: prose.lines().map(str::to_string).collect(),
            scroll: 0,
            commands: vec![
                "ip link add veth0 type veth peer name veth1".into(),
                "ip -n blue address add 10.1.0.2/24 dev veth0".into(),
            ],
            checks: vec![
                CheckRow {
                    pass: false,
                    text: "veth0 in blue is wired to veth1 in red".into(),
                    why: Some("veth0 is in the root namespace".into()),
                },
                CheckRow {
                    pass: true,
                    text: "namespace blue exists".into(),
                    why: None,
                },
            ],
            question: vec![],
            messages: vec!["Hint: ".to_string() + &"a veth pair is a cable. ".repeat(20)],
            footers: vec![
                "[h] hint  [d] do it  [n] skip  [q] quit".into(),
                "? keys".into(),
            ],
            asked: false,
            notes: 0,
            details: Vec::new(),
        }
    }

    /// In a small pane, a hint the student asked for shows before the reasons under the
    /// checks, which it says again (at 40x30, the hint was a lone "…").
    #[test]
    fn an_asked_hint_comes_before_the_reasons() {
        console::set_colors_enabled(false);
        let mut p = long_step();
        p.checks = (1..=4)
            .map(|i| CheckRow {
                pass: false,
                text: format!("check {i} of a step with several"),
                why: Some(format!(
                    "reason {i}, which is long enough to take two rows of a narrow pane"
                )),
            })
            .collect();
        p.messages = (1..=4)
            .flat_map(|i| {
                [
                    format!("✗ check {i} of a step with several"),
                    format!("    expected: {i}"),
                    format!("    found: reason {i}"),
                    format!("    Try: ip netns add d{i}"),
                ]
            })
            .collect();
        let shown = |p: &Parts| layout(p, 40, 30).lines.join("\n");
        assert!(!shown(&p).contains("Try: ip netns add d4"), "{}", shown(&p));
        p.asked = true;
        let text = shown(&p);
        assert!(text.contains("Try: ip netns add d4"), "{text}");
        assert!(text.contains("check 4 of a step"), "{text}");
    }

    /// In a small pane, notes of what happened before ("Step 1 ✓ verified") give way to what is
    /// said now (a student helper saw the going-ahead note cut to "…" at 60x20, while older
    /// notes stayed).
    #[test]
    fn old_notes_give_way_to_what_is_said_now() {
        console::set_colors_enabled(false);
        let mut p = long_step();
        p.messages = vec![
            "Step 1 ✓ verified: make blue".into(),
            "Step 2 ✓ verified: make red".into(),
            "Step 3 ✓ verified: make the pair".into(),
            "Step 5's checks hold already: you seem to have gone ahead.".into(),
        ];
        p.notes = 3;
        let text = layout(&p, 60, 12).lines.join("\n");
        assert!(text.contains("you seem to have gone ahead"), "{text}");
        assert!(!text.contains("Step 1 ✓"), "{text}");
        // With room, all of them, in order.
        let text = layout(&p, 80, 40).lines.join("\n");
        assert!(
            text.contains("Step 1 ✓") && text.contains("gone ahead"),
            "{text}"
        );
        // A hint's "expected:" gives way before its Try (which a student helper saw cut).
        p.messages = vec![
            "✗ veth0 in blue is wired to veth1 in red".into(),
            "    expected: veth0 in blue is wired to veth1 in red".into(),
            "    found: veth0 is in the root namespace".into(),
            "    Try: ip link set veth0 netns blue".into(),
        ];
        p.notes = 0;
        p.details = vec![1];
        p.asked = true;
        let text = layout(&p, 60, 11).lines.join("\n");
        assert!(text.contains("Try: ip link set veth0 netns blue"), "{text}");
        assert!(!text.contains("expected:"), "{text}");
    }

    #[test]
    fn header_commands_and_checks_stay_on_screen() {
        console::set_colors_enabled(false);
        for (w, h) in [(80, 24), (40, 24), (40, 12), (160, 45)] {
            let laid = layout(&long_step(), w, h);
            let text = laid.lines.join("\n");
            assert!(laid.lines.len() <= h, "{w}x{h}: {} lines", laid.lines.len());
            assert!(
                laid.lines.iter().all(|l| measure_text_width(l) <= w),
                "{w}x{h}:\n{text}"
            );
            assert!(text.starts_with("Step 3 of 8:"), "{w}x{h}:\n{text}");
            assert!(text.contains("$ ip link add veth0"), "{w}x{h}:\n{text}");
            assert!(text.contains("namespace blue exists"), "{w}x{h}:\n{text}");
            assert!(text.contains("veth0 in blue is wired"), "{w}x{h}:\n{text}");
            // The prose scrolls: there is more of it than fits.
            assert!(laid.max_scroll > 0, "{w}x{h}");
        }
        // Scrolled to the end, the last line of the prose shows.
        let mut p = long_step();
        p.scroll = usize::MAX;
        let laid = layout(&p, 80, 24);
        let last = p.body.last().unwrap().clone();
        assert!(laid.lines.contains(&last), "{}", laid.lines.join("\n"));
    }

    #[test]
    fn the_reason_under_a_failing_check_shows_when_there_is_room() {
        console::set_colors_enabled(false);
        let laid = layout(&long_step(), 80, 24);
        assert!(
            laid.lines
                .iter()
                .any(|l| l.contains("↳ veth0 is in the root namespace")),
            "{}",
            laid.lines.join("\n")
        );
    }

    /// At 40x24, a short text leaves blank rows: the reasons under the checks get them before
    /// they are dropped for lack of room.
    #[test]
    fn the_reasons_get_the_blank_rows_of_a_short_text() {
        console::set_colors_enabled(false);
        let mut p = long_step();
        p.body = vec!["A short text.".into()];
        p.checks = (1..=5)
            .map(|i| CheckRow {
                pass: false,
                text: format!("check {i} holds"),
                why: Some(format!(
                    "reason {i}: the kernel has something else than what this check wants, said at length"
                )),
            })
            .collect();
        let laid = layout(&p, 40, 24);
        let text = laid.lines.join("\n");
        assert!(laid.lines.len() <= 24, "{text}");
        // Not every reason fits, but those that do are there, and no more than a reason's
        // rows are left blank.
        assert!(!text.contains("reason 5"), "{text}");
        assert!(
            text.contains("↳ reason 1") && text.contains("↳ reason 2"),
            "{text}"
        );
        let blank = laid.lines.iter().filter(|l| l.trim().is_empty()).count();
        assert!(blank < 3, "{blank} blank rows:\n{text}");
        assert!(
            text.contains("A short text.") && text.contains("check 5 holds"),
            "{text}"
        );
    }
}
