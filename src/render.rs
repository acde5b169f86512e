//! Markdown to styled terminal text, wrapped to a width. Pure: no terminal, no kernel.
//!
//! Styling goes through `console`, which emits colour only when it is enabled (never when
//! NO_COLOR is set or the output is not a terminal), so the same text serves tests and screens.

use console::{Style, measure_text_width};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

use crate::lesson::parse::markdown_options;

/// How a code block is shown: the commands a student types stand out from displayed output.
fn block_style(info: &str) -> Option<Style> {
    match info.split_whitespace().next().unwrap_or("") {
        // Checks, questions and hints have their own place on screen (the checklist, the prompt,
        // the `h` key): they are not part of the prose.
        "check" | "question" | "hint" => None,
        "sh" => Some(Style::new().cyan().bold()),
        _ => Some(Style::new().dim()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Inline {
    Plain,
    Emph,
    Strong,
    Code,
}

impl Inline {
    fn paint(self, s: &str) -> String {
        match self {
            Inline::Plain => s.to_string(),
            Inline::Emph => Style::new().italic().apply_to(s).to_string(),
            Inline::Strong => Style::new().bold().apply_to(s).to_string(),
            Inline::Code => Style::new().yellow().apply_to(s).to_string(),
        }
    }
}

struct Renderer {
    width: usize,
    out: Vec<String>,
    /// Words of the block being filled, each with its style; `None` marks a forced break.
    words: Vec<Option<(String, Inline)>>,
    /// Whether the last text ended in the middle of a word (no space before the next piece).
    glue: bool,
    styles: Vec<Inline>,
    /// Prefixes for nested blocks (quote bars, list indents).
    prefix: Vec<String>,
    /// The marker of the list item being started ("• ", "2. "), used once.
    marker: Option<String>,
    lists: Vec<Option<u64>>,
    code: Option<(Option<Style>, String)>,
    table: Option<Vec<Vec<String>>>,
    cell: Option<String>,
    heading: Option<HeadingLevel>,
}

/// Renders Markdown to lines of terminal text no wider than `width` columns.
pub fn render(markdown: &str, width: usize) -> String {
    let mut r = Renderer {
        width: width.max(20),
        out: Vec::new(),
        words: Vec::new(),
        glue: false,
        styles: vec![Inline::Plain],
        prefix: Vec::new(),
        marker: None,
        lists: Vec::new(),
        code: None,
        table: None,
        cell: None,
        heading: None,
    };
    for event in Parser::new_ext(markdown, markdown_options()) {
        r.event(event);
    }
    r.flush();
    while r.out.last().is_some_and(|l| l.trim().is_empty()) {
        r.out.pop();
    }
    let mut s = r.out.join("\n");
    s.push('\n');
    s
}

impl Renderer {
    fn style(&self) -> Inline {
        *self.styles.last().unwrap_or(&Inline::Plain)
    }

    fn text(&mut self, t: &str) {
        if let Some(c) = self.cell.as_mut() {
            c.push_str(t);
            return;
        }
        if let Some((_, buf)) = self.code.as_mut() {
            buf.push_str(t);
            return;
        }
        let style = self.style();
        let mut first = true;
        let starts_with_space = t.starts_with(char::is_whitespace);
        for w in t.split_whitespace() {
            let join = first && self.glue && !starts_with_space;
            match (join, self.words.last_mut()) {
                (true, Some(Some((prev, _)))) => {
                    prev.push_str(&style.paint(w));
                }
                _ => self.words.push(Some((style.paint(w), style))),
            }
            first = false;
        }
        self.glue = !t.ends_with(char::is_whitespace) && !t.is_empty();
    }

    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !l.trim().is_empty()) {
            let p = self.prefix.concat();
            self.out.push(p.trim_end().to_string());
        }
    }

    /// Wraps the collected words into lines under the current prefix.
    fn flush(&mut self) {
        if self.words.is_empty() {
            return;
        }
        let cont = self.prefix.concat();
        let first = match self.marker.take() {
            Some(m) => format!("{}{m}", &cont[..cont.len().saturating_sub(m.len())]),
            None => cont.clone(),
        };
        let avail = self.width.saturating_sub(measure_text_width(&cont)).max(10);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for w in self.words.drain(..) {
            let Some((w, _)) = w else {
                lines.push(std::mem::take(&mut line));
                continue;
            };
            let lw = measure_text_width(&line);
            let ww = measure_text_width(&w);
            if lw > 0 && lw + 1 + ww > avail {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&w);
        }
        if !line.is_empty() {
            lines.push(line);
        }
        for (i, l) in lines.into_iter().enumerate() {
            let p = if i == 0 { &first } else { &cont };
            let s = match self.heading {
                Some(HeadingLevel::H1 | HeadingLevel::H2) => {
                    Style::new().bold().underlined().apply_to(l).to_string()
                }
                Some(_) => Style::new().bold().apply_to(l).to_string(),
                None => l,
            };
            self.out.push(format!("{p}{s}"));
        }
        self.glue = false;
    }

    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                self.flush();
                // Inside lists and quotes, the item or the quote's end makes the gap.
                if self.lists.is_empty() && self.prefix.is_empty() {
                    self.blank();
                }
            }
            Event::Start(Tag::Heading { level, .. }) => {
                self.flush();
                self.blank();
                self.heading = Some(level);
            }
            Event::End(TagEnd::Heading(_)) => {
                self.flush();
                self.heading = None;
                self.blank();
            }
            Event::Start(Tag::BlockQuote(_)) => {
                self.flush();
                self.prefix.push("│ ".into());
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                self.flush();
                self.prefix.pop();
                self.blank();
            }
            Event::Start(Tag::List(start)) => {
                self.flush();
                self.lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            Event::Start(Tag::Item) => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.prefix.push(" ".repeat(marker.chars().count()));
                self.marker = Some(marker);
            }
            Event::End(TagEnd::Item) => {
                self.flush();
                self.prefix.pop();
            }
            Event::Start(Tag::Emphasis) => self.styles.push(Inline::Emph),
            Event::Start(Tag::Strong) => self.styles.push(Inline::Strong),
            Event::End(TagEnd::Emphasis | TagEnd::Strong) => {
                self.styles.pop();
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                self.flush();
                // A `None` style hides the block (checks, questions, hints).
                let style = match &kind {
                    CodeBlockKind::Fenced(info) => block_style(info),
                    CodeBlockKind::Indented => Some(Style::new().dim()),
                };
                self.code = Some((style, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((Some(style), buf)) = self.code.take() {
                    let p = self.prefix.concat();
                    for l in buf.trim_end_matches('\n').lines() {
                        self.out.push(format!("{p}  {}", style.apply_to(l)));
                    }
                    self.blank();
                }
            }
            Event::Code(c) => {
                self.styles.push(Inline::Code);
                if let Some(cell) = self.cell.as_mut() {
                    cell.push_str(&c);
                } else {
                    self.text(&c);
                }
                self.styles.pop();
            }
            Event::Text(t) => self.text(&t),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => {
                self.words.push(None);
                self.glue = false;
            }
            Event::Start(Tag::Table(_)) => {
                self.flush();
                self.table = Some(Vec::new());
            }
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(t) = self.table.as_mut() {
                    t.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => self.cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(c), Some(row)) = (
                    self.cell.take(),
                    self.table.as_mut().and_then(|t| t.last_mut()),
                ) {
                    row.push(c.trim().to_string());
                }
            }
            Event::End(TagEnd::Table) => {
                if let Some(rows) = self.table.take() {
                    self.table(rows);
                }
            }
            Event::Rule => {
                self.flush();
                self.out.push(
                    Style::new()
                        .dim()
                        .apply_to("─".repeat(self.width.min(60)))
                        .to_string(),
                );
            }
            _ => {}
        }
    }

    fn table(&mut self, rows: Vec<Vec<String>>) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let mut widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        // Shrink the widest columns until the table fits.
        let budget = self
            .width
            .saturating_sub(self.prefix.concat().chars().count() + 3 * cols + 1);
        while widths.iter().sum::<usize>() > budget {
            let Some((i, w)) = widths
                .iter()
                .enumerate()
                .max_by_key(|(_, w)| **w)
                .map(|(i, w)| (i, *w))
            else {
                break;
            };
            if w <= 4 {
                break;
            }
            widths[i] = w - 1;
        }
        let p = self.prefix.concat();
        let fit = |s: &str, w: usize| {
            let n = s.chars().count();
            if n <= w {
                format!("{s}{}", " ".repeat(w - n))
            } else {
                let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
                t.push('…');
                t
            }
        };
        for (ri, row) in rows.iter().enumerate() {
            let cells: Vec<String> = (0..cols)
                .map(|c| fit(row.get(c).map_or("", String::as_str), widths[c]))
                .collect();
            let line = format!("│ {} │", cells.join(" │ "));
            let line = if ri == 0 {
                Style::new().bold().apply_to(line).to_string()
            } else {
                line
            };
            self.out.push(format!("{p}{line}"));
            if ri == 0 {
                let sep: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                self.out.push(format!("{p}├─{}─┤", sep.join("─┼─")));
            }
        }
        self.blank();
    }
}

/// Wraps one line of (possibly styled) text to `width` columns at spaces. Continuation lines
/// keep the line's indentation, plus two.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    if measure_text_width(line) <= width {
        return vec![line.to_string()];
    }
    let indent = line.len() - line.trim_start().len();
    let cont = " ".repeat(indent + 2);
    let mut out = Vec::new();
    let mut cur = line[..indent].to_string();
    for w in line.split_whitespace() {
        let fresh = cur.trim().is_empty();
        if !fresh && measure_text_width(&cur) + 1 + measure_text_width(w) > width {
            out.push(std::mem::replace(&mut cur, cont.clone()));
        } else if !fresh {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(md: &str, width: usize) -> String {
        console::set_colors_enabled(false);
        render(md, width)
    }

    #[test]
    fn lines_wrap_with_their_indent() {
        assert_eq!(
            wrap("  one two three four", 12),
            vec!["  one two", "    three", "    four"]
        );
        assert_eq!(wrap("short", 12), vec!["short"]);
    }

    #[test]
    fn paragraphs_wrap_to_the_width() {
        let s = plain(
            "A network namespace is a private copy of the network stack, with `lo` and more.\n",
            30,
        );
        for l in s.lines() {
            assert!(measure_text_width(l) <= 30, "{l:?}");
        }
        assert_eq!(
            s,
            "A network namespace is a\nprivate copy of the network\nstack, with lo and more.\n"
        );
    }

    #[test]
    fn blocks_of_every_kind() {
        let md = "# Title\n\nIntro *text*.\n\n- one\n- two, which is long enough to wrap here\n\n1. first\n2. second\n\n> Hint: quoted\n\n```sh\nip netns add blue\n```\n\n```check\nnetns blue exists\n```\n\n| a | b |\n|---|---|\n| x | yy |\n";
        let s = plain(md, 30);
        assert_eq!(
            s,
            "Title\n\nIntro text.\n\n• one\n• two, which is long enough to\n  wrap here\n\n1. first\n2. second\n\n│ Hint: quoted\n\n  ip netns add blue\n\n│ a │ b  │\n├───┼────┤\n│ x │ yy │\n"
        );
        // Check blocks never reach the screen as prose.
        assert!(!s.contains("netns blue exists"));
    }

    #[test]
    fn every_shipped_lesson_renders_within_80_columns() {
        for (_, text) in crate::lesson::builtin::BUILTIN {
            let s = plain(text, 80);
            for l in s.lines() {
                // Commands are never wrapped (they must stay copyable); prose always is.
                assert!(measure_text_width(l) <= 80 || l.starts_with("  "), "{l:?}");
            }
        }
    }
}
