//! Styled runs of text, measured and broken into lines: what every block of the renderer is
//! made of, and `wrap` for lines that are already styled.
//!
//! Widths are those of `console::measure_text_width`, the measure the tests hold the output to.

use std::borrow::Cow;

use console::{AnsiCodeIterator, Color, Style, measure_text_width};

/// What marks a cut in the middle of a word, at the end of the cut piece. It is the one place
/// where something that was one word reads as two lines, so it must be seen.
pub const CUT_MARK: &str = "↪";

/// The look of a run of text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ink {
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub strike: bool,
    pub dim: bool,
    pub color: Option<Color>,
}

impl Ink {
    pub const PLAIN: Ink = Ink {
        bold: false,
        italic: false,
        underline: false,
        strike: false,
        dim: false,
        color: None,
    };
    pub const DIM: Ink = Ink {
        dim: true,
        ..Ink::PLAIN
    };

    fn paint(self, s: &str, colors: bool) -> String {
        if self == Ink::PLAIN || !colors {
            return s.to_string();
        }
        let mut st = Style::new().force_styling(true);
        if let Some(c) = self.color {
            st = st.fg(c);
        }
        for (on, f) in [
            (self.bold, Style::bold as fn(Style) -> Style),
            (self.italic, Style::italic),
            (self.underline, Style::underlined),
            (self.strike, Style::strikethrough),
            (self.dim, Style::dim),
        ] {
            if on {
                st = f(st);
            }
        }
        st.apply_to(s).to_string()
    }
}

/// How a span is drawn: with an ink of ours, or with the escape codes that were already in a
/// line given to `wrap` (kept as they came, and closed at the end of the span).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pen {
    Ink(Ink),
    Raw(String),
}

/// A run of text drawn with one pen. The text holds no escape codes and no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub pen: Pen,
}

impl Span {
    pub fn new(text: impl Into<String>, ink: Ink) -> Span {
        Span {
            text: text.into(),
            pen: Pen::Ink(ink),
        }
    }
}

/// A word to fill into lines (its spans are glued, no space between them), or a forced break.
#[derive(Clone, Debug)]
pub enum Tok {
    Word(Vec<Span>),
    Break,
}

/// Draws spans as terminal text.
pub fn paint(spans: &[Span], colors: bool) -> String {
    let mut s = String::new();
    for sp in spans {
        match &sp.pen {
            Pen::Ink(ink) => s.push_str(&ink.paint(&sp.text, colors)),
            Pen::Raw(codes) if codes.is_empty() => s.push_str(&sp.text),
            Pen::Raw(codes) => {
                s.push_str(codes);
                s.push_str(&sp.text);
                s.push_str("\x1b[0m");
            }
        }
    }
    s
}

/// The columns that spans take. Styles cut the text into pieces that `measure_text_width`
/// measures one by one, and some sequences (an emoji and its variation selector, a ZWJ
/// sequence) measure differently whole and in pieces: the larger of the two is taken, so the
/// line fits whether or not colours are on.
pub fn width(spans: &[Span]) -> usize {
    match spans {
        [] => 0,
        [one] => measure_text_width(&one.text),
        _ => {
            let whole: String = spans.iter().map(|s| s.text.as_str()).collect();
            let pieces = spans.iter().map(|s| measure_text_width(&s.text)).sum();
            measure_text_width(&whole).max(pieces)
        }
    }
}

/// Text as it may reach the terminal: no carriage returns, and any other control character
/// (an escape that would move the cursor or change colours) shown as U+FFFD. Newlines and tabs
/// stay; the callers deal with them.
pub fn clean(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.contains(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|c| *c != '\r')
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// Replaces tabs with spaces up to the next multiple of four columns.
pub fn expand_tabs(line: &str) -> Cow<'_, str> {
    if !line.contains('\t') {
        return Cow::Borrowed(line);
    }
    let mut out = String::new();
    for (i, part) in line.split('\t').enumerate() {
        if i > 0 {
            let col = measure_text_width(&out);
            out.push_str(&" ".repeat(4 - col % 4));
        }
        out.push_str(part);
    }
    Cow::Owned(out)
}

/// Whether a line may break at a character: at white space, but not at a no-break space,
/// which an author writes to keep two words together (`10 ms`).
pub fn breaks(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}')
}

/// Whether a character takes no column of its own (a combining mark, a joiner, a variation
/// selector): it stays with the character before it.
fn clings(c: char) -> bool {
    !c.is_ascii() && measure_text_width(c.encode_utf8(&mut [0; 4])) == 0
}

/// Cuts spans into pieces of at most `w` columns, between characters, never before one that
/// clings to the one before it. A character wider than `w` makes a piece of its own. With
/// `soft`, a piece ends after its last space when that space is in its second half.
pub fn cut(spans: &[Span], w: usize, soft: bool) -> Vec<Vec<Span>> {
    // Clusters: (span index, byte range in that span's text).
    let mut clusters: Vec<(usize, usize, usize)> = Vec::new();
    for (si, sp) in spans.iter().enumerate() {
        for (at, c) in sp.text.char_indices() {
            let end = at + c.len_utf8();
            match clusters.last_mut() {
                Some((s, _, e)) if *s == si && clings(c) => *e = end,
                _ => clusters.push((si, at, end)),
            }
        }
    }
    let build = |cs: &[(usize, usize, usize)]| {
        let mut piece: Vec<Span> = Vec::new();
        for &(si, a, b) in cs {
            let text = &spans[si].text[a..b];
            match piece.last_mut() {
                Some(last) if last.pen == spans[si].pen => last.text.push_str(text),
                _ => piece.push(Span {
                    text: text.to_string(),
                    pen: spans[si].pen.clone(),
                }),
            }
        }
        piece
    };
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < clusters.len() {
        let mut end = start + 1;
        while end < clusters.len() && width(&build(&clusters[start..=end])) <= w {
            end += 1;
        }
        if soft && end < clusters.len() {
            let half = start + (end - start) / 2;
            if let Some(space) = (half..end).rev().find(|&i| {
                let (si, a, b) = clusters[i];
                &spans[si].text[a..b] == " "
            }) {
                end = space + 1;
            }
        }
        pieces.push(build(&clusters[start..end]));
        start = end;
    }
    pieces
}

/// Fills words into lines: the first at most `first` columns wide, the others `rest`. Words
/// are never split, unless one alone is wider than a line: then it is cut, and each cut piece
/// ends with the cut mark.
pub fn fill(toks: &[Tok], first: usize, rest: usize) -> Vec<Vec<Span>> {
    let mut lines: Vec<Vec<Span>> = Vec::new();
    let mut line: Vec<Span> = Vec::new();
    let mut used = 0;
    let mut started = false;
    let avail = |lines: &Vec<Vec<Span>>| if lines.is_empty() { first } else { rest };
    for tok in toks {
        let word = match tok {
            Tok::Break => {
                lines.push(std::mem::take(&mut line));
                used = 0;
                started = false;
                continue;
            }
            Tok::Word(w) => w,
        };
        let ww = width(word);
        if started && used + 1 + ww <= avail(&lines) {
            line.push(Span::new(" ", Ink::PLAIN));
            line.extend(word.iter().cloned());
            used += 1 + ww;
            continue;
        }
        if started {
            lines.push(std::mem::take(&mut line));
        }
        started = true;
        if ww <= avail(&lines) {
            line.extend(word.iter().cloned());
            used = ww;
            continue;
        }
        // The mark needs a column of its own, and the piece before it room for a wide
        // character: lines narrower than that are cut unmarked.
        let marked = avail(&lines) >= 3;
        let pieces = cut(word, avail(&lines) - usize::from(marked), false);
        let n = pieces.len();
        for (i, mut piece) in pieces.into_iter().enumerate() {
            if i + 1 < n && marked {
                piece.push(Span::new(CUT_MARK, Ink::DIM));
                lines.push(piece);
            } else if i + 1 < n {
                lines.push(piece);
            } else {
                used = width(&piece);
                line = piece;
            }
        }
    }
    if started {
        lines.push(line);
    }
    lines
}

/// Lines of a displayed (not typed) block in `avail` columns, every cut marked. A picture
/// (lines aligned in columns by runs of spaces, several of them too wide) is shown in bands:
/// its left part, then the part to the right of it, so that what stood above stays above.
/// Other lines too wide are cut one by one, at a space when one is near the end.
pub fn display(block: &str, avail: usize, ink: Ink) -> Vec<Vec<Span>> {
    let lines: Vec<Cow<'_, str>> = block.lines().map(expand_tabs).collect();
    let lines: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    let piece = avail.saturating_sub(1).max(1);
    let wide = lines
        .iter()
        .filter(|l| measure_text_width(l) > avail)
        .count();
    let picture = wide >= 2 && lines.iter().any(|l| l.trim_start().contains("   "));
    let mut out = Vec::new();
    if picture {
        let chunks: Vec<Vec<Vec<Span>>> = lines
            .iter()
            .map(|l| cut(&[Span::new(*l, ink)], piece, false))
            .collect();
        let bands = chunks.iter().map(Vec::len).max().unwrap_or(0);
        for b in 0..bands {
            if b > 0 {
                out.push(Vec::new());
            }
            for c in &chunks {
                let mut line = c.get(b).cloned().unwrap_or_default();
                if c.len() > b + 1 {
                    // The marks of a band stand in one column, at its right edge.
                    let pad = piece.saturating_sub(width(&line));
                    line.push(Span::new(" ".repeat(pad), Ink::PLAIN));
                    line.push(Span::new(CUT_MARK, Ink::DIM));
                }
                out.push(line);
            }
        }
        return out;
    }
    for line in lines {
        if line.is_empty() {
            out.push(Vec::new());
            continue;
        }
        let span = vec![Span::new(line, ink)];
        if width(&span) <= avail {
            out.push(span);
            continue;
        }
        let pieces = cut(&span, piece, true);
        let n = pieces.len();
        for (i, mut p) in pieces.into_iter().enumerate() {
            if i + 1 < n {
                p.push(Span::new(CUT_MARK, Ink::DIM));
            }
            out.push(p);
        }
    }
    out
}

/// Wraps one line of (possibly styled) text to `width` columns at spaces. Continuation lines
/// keep the line's indentation, plus two (at most half the width). A word longer than a line
/// is cut, and the cut is marked. Each wrapped line closes the styles it opens and reopens
/// those still in force, so that it stands alone.
///
/// Every line fits in `width` columns, unless a line has one column left and a wide character
/// to put in it (which takes a width under 4).
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    if measure_text_width(line) <= width {
        return vec![line.to_string()];
    }
    let colors = console::colors_enabled();
    // The escape codes in force (since the last reset), and the words of the line.
    let mut codes = String::new();
    let mut toks: Vec<Tok> = Vec::new();
    let mut word: Vec<Span> = Vec::new();
    let mut indent = 0;
    let mut leading = true;
    for (part, is_ansi) in AnsiCodeIterator::new(line) {
        if is_ansi {
            if part == "\x1b[0m" || part == "\x1b[m" {
                codes.clear();
            } else {
                codes.push_str(part);
            }
            continue;
        }
        for c in clean(part).chars() {
            if breaks(c) {
                if leading {
                    indent += 1;
                }
                if !word.is_empty() {
                    toks.push(Tok::Word(std::mem::take(&mut word)));
                }
                continue;
            }
            leading = false;
            match word.last_mut() {
                Some(Span {
                    text,
                    pen: Pen::Raw(c2),
                }) if *c2 == codes => text.push(c),
                _ => word.push(Span {
                    text: c.to_string(),
                    pen: Pen::Raw(codes.clone()),
                }),
            }
        }
    }
    if !word.is_empty() {
        toks.push(Tok::Word(word));
    }
    let indent = indent.min(width / 2);
    let cont = (indent + 2).min(width / 2);
    fill(&toks, width - indent, width - cont)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let pad = if i == 0 { indent } else { cont };
            format!("{}{}", " ".repeat(pad), paint(&l, colors))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Vec<Span>]) -> Vec<String> {
        lines.iter().map(|l| paint(l, false)).collect()
    }

    fn words(s: &str) -> Vec<Tok> {
        s.split_whitespace()
            .map(|w| Tok::Word(vec![Span::new(w, Ink::PLAIN)]))
            .collect()
    }

    #[test]
    fn words_are_never_split_when_they_fit() {
        let lines = plain(&fill(&words("a network namespace is private"), 12, 12));
        assert_eq!(lines, ["a network", "namespace is", "private"]);
    }

    #[test]
    fn a_word_longer_than_the_line_is_cut_and_marked() {
        let lines = plain(&fill(&words("see /proc/self/ns/net now"), 8, 8));
        assert_eq!(lines, ["see", "/proc/s↪", "elf/ns/↪", "net now"]);
        for l in &lines {
            assert!(measure_text_width(l) <= 8, "{l:?}");
        }
    }

    #[test]
    fn cuts_never_split_a_character_nor_separate_a_combining_mark() {
        // e + combining acute, then wide CJK characters.
        let s = "e\u{301}e\u{301}e\u{301}漢字漢字";
        let pieces = cut(&[Span::new(s, Ink::PLAIN)], 3, false);
        let texts: Vec<String> = pieces.iter().map(|p| paint(p, false)).collect();
        assert_eq!(texts, ["e\u{301}e\u{301}e\u{301}", "漢", "字", "漢", "字"]);
        assert_eq!(texts.concat(), s);
        // A character wider than the piece still makes progress.
        assert_eq!(cut(&[Span::new("漢字", Ink::PLAIN)], 1, false).len(), 2);
    }

    #[test]
    fn styled_pieces_are_measured_as_the_terminal_sees_them() {
        // A heart with its emoji variation selector is two columns whole, one and zero apart.
        let whole = [Span::new("\u{2764}\u{fe0f}", Ink::PLAIN)];
        let apart = [
            Span::new("\u{2764}", Ink::PLAIN),
            Span::new("\u{fe0f}", Ink::DIM),
        ];
        assert_eq!(width(&whole), 2);
        assert_eq!(width(&apart), 2);
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[2Jb\r\n\tc"), "a\u{fffd}[2Jb\n\tc");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn tabs_expand_to_stops_of_four() {
        assert_eq!(expand_tabs("a\tbc\td"), "a   bc  d");
    }

    #[test]
    fn displayed_lines_are_cut_with_a_mark_preferably_at_a_space() {
        let lines = plain(&display(
            "1: lo: <LOOPBACK> mtu 65536 qdisc noop\nshort\n",
            16,
            Ink::PLAIN,
        ));
        // A space in the first half of a piece would waste the line: the cut is hard there.
        assert_eq!(
            lines,
            ["1: lo: <LOOPBAC↪", "K> mtu 65536 ↪", "qdisc noop", "short"]
        );
    }

    #[test]
    fn a_picture_too_wide_is_shown_in_bands() {
        let picture = "   left        router\n eth0 --- left0  right0 --- eth0\n";
        assert_eq!(
            plain(&display(picture, 16, Ink::PLAIN)),
            [
                "   left        ↪",
                " eth0 --- left0↪",
                "",
                "router",
                "  right0 --- et↪",
                "",
                "",
                "h0",
            ]
        );
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
    fn wrap_cuts_what_cannot_fit_and_keeps_every_line_in_the_width() {
        let narrow = "  ✓ link veth0-with-a-very-long-name-indeed in blue is up";
        let wide = "  ✓ link veth0 in 漢字漢字漢字漢字 is up";
        // One column cannot hold a character two columns wide: from four, a line has two.
        for (line, from) in [(narrow, 1), (wide, 4)] {
            for w in from..=60 {
                let lines = wrap(line, w);
                for l in &lines {
                    assert!(measure_text_width(l) <= w, "{w}: {l:?}");
                }
                let words: String = lines
                    .iter()
                    .map(|l| l.replace(CUT_MARK, "").replace(' ', ""))
                    .collect();
                assert_eq!(words, line.replace(' ', ""), "{w}: nothing lost");
            }
        }
    }

    #[test]
    fn wrap_reopens_the_styles_of_a_broken_line() {
        let mark = Ink::DIM.paint(CUT_MARK, console::colors_enabled());
        assert_eq!(
            wrap("\x1b[32mone two three\x1b[0m abcdefghijkl", 8),
            vec![
                "\x1b[32mone\x1b[0m \x1b[32mtwo\x1b[0m".to_string(),
                "  \x1b[32mthree\x1b[0m".to_string(),
                format!("  abcde{mark}"),
                format!("  fghij{mark}"),
                "  kl".to_string(),
            ]
        );
    }
}
