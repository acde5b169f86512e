//! Markdown to styled terminal text, wrapped to a width. Pure: no terminal, no kernel.
//!
//! Every line it returns fits the width, as `console::measure_text_width` counts it (escape
//! codes take no column, wide characters two, combining marks none). Prose breaks between
//! words; a word wider than the line is the only thing cut, and the cut is marked. Commands of
//! sh blocks break so that they can still be typed (see `shell`), displayed blocks are cut with
//! a mark, and tables become lists when their words cannot fit.
//!
//! Styling goes through `console`, which emits colour only when it is enabled (never when
//! NO_COLOR is set or the output is not a terminal), so the same text serves tests and screens.

mod shell;
mod table;
mod text;

use console::measure_text_width;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

use crate::lesson::parse::markdown_options;
use text::{Ink, Span, Tok};

pub use text::wrap;

/// The narrowest width `render` lays out for: a narrower one is taken as this.
pub const MIN_WIDTH: usize = 20;

const BULLETS: [&str; 3] = ["•", "◦", "▪"];

/// What becomes of a code block.
#[derive(Clone, Copy)]
enum Block {
    /// Checks, questions and hints have their own place on screen (the checklist, the prompt,
    /// the `h` key): they are not part of the prose.
    Hidden,
    /// The commands a student types.
    Commands,
    /// Shown as it is (output, and any other info string).
    Display,
}

fn block(info: &str) -> Block {
    match info.split_whitespace().next().unwrap_or("") {
        // A challenge's solution and a step's hidden setup are for nslab, not for the page.
        "check" | "question" | "hint" | "solution" | "setup" => Block::Hidden,
        "sh" => Block::Commands,
        _ => Block::Display,
    }
}

/// What stands before the lines of a nested block: a quote bar, or a list item's indent with
/// the item's marker on its first line.
struct Indent {
    marker: Option<String>,
    rest: String,
    ink: Ink,
}

struct Renderer {
    width: usize,
    colors: bool,
    /// The lines so far, each with whether it is a gap between blocks.
    out: Vec<(String, bool)>,
    /// Words of the paragraph (or heading, or table cell) being read.
    words: Vec<Tok>,
    /// Whether the last text ended in the middle of a word (no space before the next piece).
    glue: bool,
    inks: Vec<Ink>,
    indents: Vec<Indent>,
    lists: Vec<Option<u64>>,
    code: Option<(Block, String)>,
    table: Option<table::Table>,
    /// Links being read: where each points, and its text so far.
    links: Vec<(String, String)>,
}

/// Renders Markdown to lines of terminal text no wider than `width` columns (at least
/// `MIN_WIDTH`).
pub fn render(markdown: &str, width: usize) -> String {
    render_with(markdown, width, console::colors_enabled())
}

/// Lays out one command (a step's command line) in `width` columns (at least 10) as sh blocks
/// show it: broken between words with ` \`, so that it can be typed as shown. Plain text, for
/// a caller that styles it (demo types commands out).
pub fn command(line: &str, width: usize) -> Vec<String> {
    shell::lines(&text::clean(line), width.max(10))
        .iter()
        .map(|l| text::paint(l, false))
        .collect()
}

fn render_with(markdown: &str, width: usize, colors: bool) -> String {
    let mut r = Renderer {
        width: width.max(MIN_WIDTH),
        colors,
        out: Vec::new(),
        words: Vec::new(),
        glue: false,
        inks: Vec::new(),
        indents: Vec::new(),
        lists: Vec::new(),
        code: None,
        table: None,
        links: Vec::new(),
    };
    for event in Parser::new_ext(markdown, markdown_options()) {
        r.event(event);
    }
    r.flush();
    while r.out.last().is_some_and(|(_, gap)| *gap) {
        r.out.pop();
    }
    let mut s = String::new();
    for (l, _) in &r.out {
        s.push_str(l);
        s.push('\n');
    }
    if s.is_empty() {
        s.push('\n');
    }
    s
}

impl Renderer {
    fn ink(&self) -> Ink {
        self.inks.last().copied().unwrap_or_default()
    }

    fn push_ink(&mut self, change: impl FnOnce(&mut Ink)) {
        let mut ink = self.ink();
        change(&mut ink);
        self.inks.push(ink);
    }

    fn text(&mut self, t: &str) {
        if t.is_empty() {
            return;
        }
        let t = text::clean(t);
        if let Some((_, buf)) = self.code.as_mut() {
            buf.push_str(&t);
            return;
        }
        if let Some((_, seen)) = self.links.last_mut() {
            seen.push_str(&t);
        }
        let ink = self.ink();
        let mut first = true;
        let starts_with_space = t.starts_with(text::breaks);
        for w in t.split(text::breaks).filter(|w| !w.is_empty()) {
            let join = first && self.glue && !starts_with_space;
            match (join, self.words.last_mut()) {
                (true, Some(Tok::Word(spans))) => match spans.last_mut() {
                    Some(last) if last.pen == text::Pen::Ink(ink) => last.text.push_str(w),
                    _ => spans.push(Span::new(w, ink)),
                },
                _ => self.words.push(Tok::Word(vec![Span::new(w, ink)])),
            }
            first = false;
        }
        self.glue = !t.ends_with(text::breaks);
    }

    /// The prefixes of a block's first line and of its other lines, and their width. Nesting
    /// deeper than half the width loses its outer levels: the content keeps the other half.
    fn prefixes(&self) -> (Vec<Span>, Vec<Span>, usize) {
        let budget = self.width / 2;
        let mut from = 0;
        let mut w: usize = self
            .indents
            .iter()
            .map(|i| measure_text_width(&i.rest))
            .sum();
        while w > budget && from + 1 < self.indents.len() {
            w -= measure_text_width(&self.indents[from].rest);
            from += 1;
        }
        // Only a lone marker (a list numbered in the billions) can still be too wide.
        let clip = |s: &str| -> String { s.chars().take(budget).collect() };
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for i in &self.indents[from..] {
            first.push(Span::new(clip(i.marker.as_ref().unwrap_or(&i.rest)), i.ink));
            rest.push(Span::new(clip(&i.rest), i.ink));
        }
        (first, rest, w.min(budget))
    }

    /// Emits lines under the current prefixes; the first one carries any pending list marker.
    fn emit(&mut self, lines: Vec<Vec<Span>>) {
        if lines.is_empty() {
            return;
        }
        let (first, rest, _) = self.prefixes();
        for (i, line) in lines.into_iter().enumerate() {
            let prefix = if i == 0 { &first } else { &rest };
            let mut s = if line.is_empty() {
                text::paint(&trim_end(prefix), self.colors)
            } else {
                text::paint(prefix, self.colors)
            };
            s.push_str(&text::paint(&line, self.colors));
            self.out.push((s, false));
        }
        for i in &mut self.indents {
            i.marker = None;
        }
    }

    /// The columns left for content under the current prefixes.
    fn avail(&self) -> usize {
        self.width - self.prefixes().2
    }

    /// Ends the block before with a blank line (once).
    fn blank(&mut self) {
        if self.out.last().is_some_and(|(_, gap)| !gap) {
            let (_, rest, _) = self.prefixes();
            let p = text::paint(&trim_end(&rest), self.colors);
            self.out.push((p, true));
        }
    }

    /// Fills the words read so far into lines under the current prefix.
    fn flush(&mut self) {
        if self.words.is_empty() {
            return;
        }
        let words = std::mem::take(&mut self.words);
        let avail = self.avail();
        let lines = text::fill(&words, avail, avail);
        self.emit(lines);
        self.glue = false;
    }

    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                self.flush();
                // Inside lists, the item or the list's end makes the gap.
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            Event::Start(Tag::Heading { level, .. }) => {
                self.flush();
                self.blank();
                self.push_ink(|i| {
                    i.bold = true;
                    i.underline = matches!(level, HeadingLevel::H1 | HeadingLevel::H2);
                });
            }
            Event::End(TagEnd::Heading(_)) => {
                self.flush();
                self.inks.pop();
                self.blank();
            }
            Event::Start(Tag::BlockQuote(_)) => {
                self.flush();
                self.indents.push(Indent {
                    marker: None,
                    rest: "│ ".into(),
                    ink: Ink::DIM,
                });
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                self.flush();
                self.indents.pop();
                // The gap after the quote's last paragraph belongs outside the quote.
                if self.out.last().is_some_and(|(_, gap)| *gap) {
                    self.out.pop();
                }
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
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n = n.saturating_add(1);
                        m
                    }
                    _ => format!("{} ", BULLETS[depth % BULLETS.len()]),
                };
                self.indents.push(Indent {
                    rest: " ".repeat(measure_text_width(&marker)),
                    marker: Some(marker),
                    ink: Ink::PLAIN,
                });
            }
            Event::End(TagEnd::Item) => {
                self.flush();
                // An empty item still shows its marker.
                if self.indents.last().is_some_and(|i| i.marker.is_some()) {
                    self.emit(vec![Vec::new()]);
                }
                self.indents.pop();
            }
            Event::Start(Tag::Emphasis) => self.push_ink(|i| i.italic = true),
            Event::Start(Tag::Strong) => self.push_ink(|i| i.bold = true),
            Event::Start(Tag::Strikethrough) => self.push_ink(|i| i.strike = true),
            Event::End(TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough) => {
                self.inks.pop();
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                self.push_ink(|i| i.underline = true);
                self.links
                    .push((text::clean(&dest_url).into_owned(), String::new()));
            }
            Event::End(TagEnd::Link) => {
                self.inks.pop();
                if let Some((dest, seen)) = self.links.pop() {
                    // Where a link points is worth showing, unless its text says it already.
                    if !dest.is_empty() && !dest.starts_with('#') && dest != seen.trim() {
                        let s = Span::new(format!("({dest})"), Ink::DIM);
                        self.words.push(Tok::Word(vec![s]));
                        self.glue = true;
                    }
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                self.flush();
                let kind = match &kind {
                    CodeBlockKind::Fenced(info) => block(info),
                    CodeBlockKind::Indented => Block::Display,
                };
                self.code = Some((kind, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                let Some((kind, buf)) = self.code.take() else {
                    return;
                };
                // Code sits two columns in from the prose around it.
                let avail = self.avail().saturating_sub(2);
                let body = buf.trim_end_matches('\n');
                let lines = match kind {
                    Block::Hidden => return,
                    Block::Commands => shell::lines(body, avail),
                    Block::Display => text::display(body, avail, Ink::DIM),
                };
                let lines = lines
                    .into_iter()
                    .map(|l| {
                        if l.is_empty() {
                            return l;
                        }
                        let mut s = vec![Span::new("  ", Ink::PLAIN)];
                        s.extend(l);
                        s
                    })
                    .collect();
                self.emit(lines);
                self.blank();
            }
            Event::Code(c) => {
                self.push_ink(|i| i.color = Some(console::Color::Yellow));
                self.text(&c);
                self.inks.pop();
            }
            Event::Text(t) => self.text(&t),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => {
                self.words.push(Tok::Break);
                self.glue = false;
            }
            Event::Start(Tag::Table(aligns)) => {
                self.flush();
                self.table = Some(table::Table {
                    aligns,
                    rows: Vec::new(),
                });
            }
            Event::Start(Tag::TableHead) => {
                self.push_ink(|i| i.bold = true);
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Event::End(TagEnd::TableHead) => {
                self.inks.pop();
            }
            Event::Start(Tag::TableRow) => {
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => {
                self.words.clear();
                self.glue = false;
            }
            Event::End(TagEnd::TableCell) => {
                let words = std::mem::take(&mut self.words);
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(words);
                }
            }
            Event::End(TagEnd::Table) => {
                if let Some(t) = self.table.take() {
                    let lines = table::lines(&t, self.avail());
                    self.emit(lines);
                    self.blank();
                }
            }
            Event::Rule => {
                self.flush();
                let n = self.avail().min(60);
                self.emit(vec![vec![Span::new("─".repeat(n), Ink::DIM)]]);
                self.blank();
            }
            _ => {}
        }
    }
}

/// Spans without the spaces at their end (a prefix before nothing).
fn trim_end(spans: &[Span]) -> Vec<Span> {
    let mut v = spans.to_vec();
    while let Some(last) = v.last_mut() {
        let kept = last.text.trim_end().len();
        last.text.truncate(kept);
        if !last.text.is_empty() {
            break;
        }
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(md: &str, width: usize) -> String {
        render_with(md, width, false)
    }

    /// Every line of the output, coloured or not, fits the width.
    fn assert_fits(md: &str, width: usize) {
        for colors in [false, true] {
            for l in render_with(md, width, colors).lines() {
                assert!(
                    measure_text_width(l) <= width,
                    "{width} columns, colours {colors}: {l:?}"
                );
            }
        }
    }

    #[test]
    fn paragraphs_wrap_to_the_width() {
        let s = plain(
            "A network namespace is a private copy of the network stack, with `lo` and more.\n",
            30,
        );
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
            "Title\n\nIntro text.\n\n• one\n• two, which is long enough to\n  wrap here\n\n1. first\n2. second\n\n│ Hint: quoted\n\n  ip netns add blue\n\n┌───┬────┐\n│ a │ b  │\n├───┼────┤\n│ x │ yy │\n└───┴────┘\n"
        );
        // Check blocks never reach the screen as prose.
        assert!(!s.contains("netns blue exists"));
    }

    #[test]
    fn a_list_inside_a_quote_renders() {
        // This sliced a string inside the quote bar, and panicked.
        assert_eq!(
            plain("> - one\n> - two\n>   - nested\n", 40),
            "│ • one\n│ • two\n│   ◦ nested\n"
        );
    }

    #[test]
    fn nested_lists_are_indented_under_their_parent() {
        assert_eq!(
            plain(
                "- parent item\n  - child item whose text is long enough to wrap\n    1. grandchild\n- next\n",
                30
            ),
            "• parent item\n  ◦ child item whose text is\n    long enough to wrap\n    1. grandchild\n• next\n"
        );
    }

    #[test]
    fn prose_breaks_only_between_words() {
        // Seven quotes deep, the old renderer overflowed a narrow pane, and the terminal broke
        // the words where the line ran out.
        let words = "Every process has a folder with one entry per namespace type.";
        let md = format!("{}{words}\n", "> ".repeat(7));
        for w in 20..=60 {
            assert_fits(&md, w);
            let s = plain(&md, w);
            let seen: Vec<&str> = s.split_whitespace().filter(|t| *t != "│").collect();
            assert_eq!(
                seen,
                words.split_whitespace().collect::<Vec<_>>(),
                "{w}:\n{s}"
            );
        }
    }

    #[test]
    fn commands_wrap_at_words_with_a_continuation() {
        let md = "```sh\nmount --bind /proc/$(pgrep -n netns-demo)/ns/net /run/netns/keep\n```\n";
        assert_eq!(
            plain(md, 44),
            "  mount --bind \\\n      /proc/$(pgrep -n netns-demo)/ns/net \\\n      /run/netns/keep\n"
        );
        // A word that fits a line, but not after the whole indent, gets less indent.
        assert_eq!(
            plain(md, 40),
            "  mount --bind \\\n   /proc/$(pgrep -n netns-demo)/ns/net \\\n      /run/netns/keep\n"
        );
    }

    /// What `sh -c` prints for a script.
    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn what_a_student_sees_is_what_the_shell_runs() {
        let commands = [
            "printf '%s|' alpha beta \"gamma delta\" epsilon/zeta/eta/theta/iota/kappa/lambda",
            "printf '%s|' /proc/$(echo abc def | tr ' ' -)/ns/net/and/a/longer/path/than/fits \"quoted text long enough to be cut at a narrow width\" tail",
            "printf '%s|' a\\ b 'single quoted' x=\"$(printf '%s' one two)\" \\\n  continued  # a comment [observe]",
        ];
        for cmd in commands {
            let expected = sh(cmd);
            for w in 20..=70 {
                let md = format!("```sh\n{cmd}\n```\n");
                assert_fits(&md, w);
                let shown = plain(&md, w);
                assert!(!shown.contains(text::CUT_MARK), "{w}:\n{shown}");
                // The student types what stands after the code's indent.
                let typed: Vec<&str> = shown
                    .lines()
                    .map(|l| l.strip_prefix("  ").unwrap_or(l))
                    .collect();
                assert_eq!(sh(&typed.join("\n")), expected, "{w}:\n{shown}");
            }
        }
    }

    #[test]
    fn one_command_is_laid_out_for_demo() {
        let lines = command("ip netns exec blue ip link set veth0 up", 20);
        assert_eq!(
            lines,
            [
                "ip netns exec blue \\",
                "    ip link set \\",
                "    veth0 up"
            ]
        );
        for w in 0..=30 {
            for l in command("ip netns exec blue ip link set veth0 up", w) {
                assert!(measure_text_width(&l) <= w.max(10), "{w}: {l:?}");
            }
        }
    }

    #[test]
    fn authoring_tags_are_not_shown() {
        let md = "```sh\nping -c 1 10.0.2.2   # [fails]\nip a  # [observe]\nip link  # every link [observe]\n```\n\n```check\nnetns blue exists\n```\n";
        assert_eq!(
            plain(md, 80),
            "  ping -c 1 10.0.2.2\n  ip a\n  ip link  # every link\n"
        );
    }

    #[test]
    fn output_blocks_are_cut_with_a_mark() {
        let md = "```output\nreply from 192.168.50.2: icmp_seq=1 time=0.055 ms\n```\n";
        assert_eq!(
            plain(md, 24),
            "  reply from ↪\n  192.168.50.2: ↪\n  icmp_seq=1 ↪\n  time=0.055 ms\n"
        );
    }

    #[test]
    fn a_no_break_space_keeps_words_together() {
        assert_eq!(
            // A plain space would leave "200" at the end of the first line.
            plain("the answer takes 200\u{a0}ms here\n", 20),
            "the answer takes\n200\u{a0}ms here\n"
        );
    }

    #[test]
    fn a_long_word_is_cut_visibly() {
        let s = plain(
            "see /sys/class/net/veth0/brport/bridge/subsystem for it\n",
            20,
        );
        assert_eq!(
            s,
            "see\n/sys/class/net/veth↪\n0/brport/bridge/sub↪\nsystem for it\n"
        );
    }

    #[test]
    fn tables_have_borders_and_fit_the_width() {
        let lesson = crate::lesson::builtin::BUILTIN
            .iter()
            .find(|(name, _)| name.contains("namespaces"))
            .map(|(_, t)| *t)
            .unwrap_or_default();
        let intro = &lesson[lesson.find("A **namespace**").unwrap()..lesson.find("## ").unwrap()];
        let s = plain(intro, 80);
        let top = s.lines().find(|l| l.contains('─')).unwrap();
        assert!(top.starts_with('┌'), "{top:?}");
        assert!(s.contains("└"), "{s}");
        // At 40 columns the table wraps its cells, and every namespace is still there.
        let s = plain(intro, 40);
        for ns in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"] {
            assert!(
                s.lines().any(|l| l.contains(&format!("│ {ns} "))),
                "{ns}:\n{s}"
            );
        }
        // The cells of a row read in order down their column.
        let net: Vec<&str> = s
            .lines()
            .skip_while(|l| !l.contains("│ net "))
            .take_while(|l| !l.contains("│ pid "))
            .filter_map(|l| l.split('│').nth(2))
            .collect();
        assert_eq!(
            net.join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            "network devices, addresses, routes, ports, firewall rules"
        );
        // At 20 it is a list, one item per namespace.
        let s = plain(intro, 20);
        assert!(
            s.contains("• cgroup\n  the root of the\n  cgroup tree\n"),
            "{s}"
        );
        for w in 20..=200 {
            assert_fits(intro, w);
        }
    }

    #[test]
    fn wide_and_combining_characters_fit() {
        let md = "> - 漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字 e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}\n\n```sh\necho 漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字\n```\n\n| 漢字 | é |\n|---|---|\n| 漢字漢字漢字漢字漢字漢字漢字漢字 | x |\n";
        for w in 20..=60 {
            assert_fits(md, w);
        }
    }

    #[test]
    fn deep_nesting_keeps_half_the_width_for_text() {
        let md = format!("{}- deep\n", "> ".repeat(40));
        for w in [20, 21, 40] {
            assert_fits(&md, w);
            assert!(plain(&md, w).contains("deep"));
        }
        assert_fits("123456789. a numbered item\n", 20);
    }

    #[test]
    fn control_characters_are_neutralised() {
        let s = plain("a \x1b[2J b\n\n```\nx\x1b]0;t\x07\n```\n", 40);
        assert!(!s.contains('\x1b'), "{s:?}");
    }

    #[test]
    fn links_show_where_they_point() {
        assert_eq!(
            plain("See [the man page](https://man7.org/x.html).\n", 80),
            "See the man page (https://man7.org/x.html).\n"
        );
        assert_eq!(plain("<https://a.org>\n", 80), "https://a.org\n");
    }

    #[test]
    fn every_shipped_lesson_fits_every_width() {
        for (_, text) in crate::lesson::builtin::BUILTIN {
            for w in [20, 21, 33, 40, 57, 80, 133, 200] {
                assert_fits(text, w);
            }
        }
    }
}
