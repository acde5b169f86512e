//! The commands of an sh block, laid out for a narrow pane so that what the student sees is
//! what they can type.
//!
//! A command too long for its line is broken between words, the line ending in ` \` and the
//! next one indented: the shell reads the two lines as one. A word too long for a line is cut
//! with a bare `\` at the end of the line and the rest at the start of the next, where the
//! shell allows it (outside single quotes and backquotes): a backslash-newline is removed
//! before the shell reads words, so the word it reads is whole. Only where that is impossible
//! is a word cut with the visible cut mark. Authoring tags (`# [observe]`, `# [fails]`) are
//! left out; a plain comment stays, on a line of its own when it does not fit.

use console::{Color, measure_text_width};

use super::text::{self, CUT_MARK, Ink, Span, Tok};

const CODE: Ink = Ink {
    bold: true,
    color: Some(Color::Cyan),
    ..Ink::PLAIN
};
const COMMENT: Ink = Ink::DIM;

/// How much further than their command the lines that continue it are indented.
const CONTINUE: usize = 4;

/// A context the shell reads in, opened inside the one before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Quote {
    Single,
    Double,
    Back,
    /// A command substitution, `$(...)`, or a parenthesis inside one.
    Paren,
}

/// A word of a command, and where a backslash-newline may cut it (byte offsets, ascending).
#[derive(Default, Debug)]
struct Word {
    text: String,
    cuts: Vec<usize>,
}

/// One source line of the block, split the way the shell splits it.
#[derive(Debug)]
struct Line {
    indent: usize,
    words: Vec<Word>,
    /// The comment, less its tags; `None` when there is none or it held only tags.
    comment: Option<String>,
    /// The delimiter of a here-document that starts on this line.
    heredoc: Option<String>,
}

/// Splits a line, starting in the contexts `open` (a quoted string may span lines) and
/// leaving in it those still open at the end of the line.
fn split(line: &str, open: &mut Vec<Quote>) -> Line {
    let body = if open.is_empty() {
        line.trim_start()
    } else {
        line
    };
    let indent = measure_text_width(&line[..line.len() - body.len()]);
    let mut words: Vec<Word> = Vec::new();
    let mut cur = Word::default();
    let mut escaped = false;
    let mut comment = None;
    for (i, c) in body.char_indices() {
        let at = cur.text.len();
        let top = open.last().copied();
        // The shell removes a backslash-newline anywhere but inside single quotes (and, to
        // stay clear of their own escaping rules, backquotes), and not after a backslash.
        let cuttable = at > 0
            && !escaped
            && !matches!(top, Some(Quote::Single | Quote::Back))
            && measure_text_width(c.encode_utf8(&mut [0; 4])) > 0;
        if escaped {
            escaped = false;
        } else {
            match (top, c) {
                // Whitespace splits words only outside quotes and command substitutions: a
                // line breaks around `$(pgrep -n demo)`, not inside it.
                (None, c) if c.is_whitespace() => {
                    if !cur.text.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    continue;
                }
                (None, '#') if at == 0 => {
                    comment = Some(&body[i + 1..]);
                    break;
                }
                (Some(Quote::Single), '\'') => {
                    open.pop();
                }
                (Some(Quote::Single), _) => {}
                (Some(Quote::Back), '`') | (Some(Quote::Double), '"') => {
                    open.pop();
                }
                (Some(Quote::Paren), ')') => {
                    open.pop();
                }
                (_, '\\') => escaped = true,
                (Some(Quote::Back), _) => {}
                (None | Some(Quote::Paren), '\'') => open.push(Quote::Single),
                (None | Some(Quote::Paren), '"') => open.push(Quote::Double),
                (_, '`') => open.push(Quote::Back),
                (Some(Quote::Paren), '(') => open.push(Quote::Paren),
                (_, '(') if cur.text.ends_with('$') => open.push(Quote::Paren),
                _ => {}
            }
        }
        if cuttable {
            cur.cuts.push(at);
        }
        cur.text.push(c);
    }
    if !cur.text.is_empty() {
        words.push(cur);
    }
    let heredoc = heredoc(&words);
    Line {
        indent,
        words,
        comment: comment.and_then(untagged),
        heredoc,
    }
}

/// The comment without its tags (`[observe]`, `[fails]`, any `[...]` word): `None` when
/// nothing else is left.
fn untagged(comment: &str) -> Option<String> {
    let tag = |w: &&str| w.len() >= 2 && w.starts_with('[') && w.ends_with(']');
    let kept: Vec<&str> = comment.split_whitespace().filter(|w| !tag(w)).collect();
    if kept.is_empty() && comment.split_whitespace().any(|w| tag(&w)) {
        return None;
    }
    Some(kept.join(" "))
}

/// The delimiter of the first here-document a line opens (`<<EOF`, `cat<<-'EOF'`, `<< EOF`).
fn heredoc(words: &[Word]) -> Option<String> {
    let (at, pos) = words.iter().enumerate().find_map(|(i, w)| {
        let pos = w.text.find("<<")?;
        let quoted = w.text[..pos].contains(['\'', '"']);
        (!quoted && !w.text[pos..].starts_with("<<<")).then_some((i, pos))
    })?;
    let rest = words[at].text[pos + 2..].trim_start_matches('-');
    let raw = if rest.is_empty() {
        words.get(at + 1)?.text.as_str()
    } else {
        rest
    };
    let delim: String = raw.chars().filter(|c| !"'\"\\".contains(*c)).collect();
    (!delim.is_empty()).then_some(delim)
}

/// Lays out the lines of an sh block in `avail` columns.
pub fn lines(block: &str, avail: usize) -> Vec<Vec<Span>> {
    let mut out = Vec::new();
    let mut open: Vec<Quote> = Vec::new();
    let mut heredoc: Option<String> = None;
    for raw in block.lines() {
        let raw = text::expand_tabs(raw);
        if let Some(delim) = &heredoc {
            // The body of a here-document is data: a backslash or an indent would change it.
            if raw.trim_start_matches('\t') == delim.as_str() {
                heredoc = None;
            }
            out.extend(text::display(&raw, avail, CODE));
            continue;
        }
        // A blank line inside a quoted string is part of it, and is kept like any other.
        if raw.is_empty() || (raw.trim().is_empty() && open.is_empty()) {
            out.push(Vec::new());
            continue;
        }
        let line = split(&raw, &mut open);
        if line.words.is_empty() && line.comment.is_none() {
            // Only tags: nothing for the student.
            continue;
        }
        heredoc = line.heredoc.clone();
        out.extend(layout(&line, avail));
    }
    out
}

/// Lays out one command line (and its comment) in `avail` columns.
fn layout(line: &Line, avail: usize) -> Vec<Vec<Span>> {
    // Indents give way to the command in a narrow pane.
    let indent = line.indent.min(avail / 4);
    let cont = (indent + CONTINUE).min(avail / 4);
    let mut out: Vec<Vec<Span>> = Vec::new();
    let mut cur = vec![Span::new(" ".repeat(indent), CODE)];
    let mut used = indent;
    let mut fresh = true;
    let n = line.words.len();
    for (k, word) in line.words.iter().enumerate() {
        // Every line but the command's last keeps room for the ` \` that continues it.
        let limit = if k + 1 == n {
            avail
        } else {
            avail.saturating_sub(2)
        };
        let ww = measure_text_width(&word.text);
        let sep = usize::from(!fresh);
        if used + sep + ww <= limit {
            push(&mut cur, &format!("{}{}", " ".repeat(sep), word.text), CODE);
            used += sep + ww;
            fresh = false;
            continue;
        }
        if !fresh {
            // A word that fits a line, but not after the full indent, gets less of it.
            let indent = if ww <= limit {
                cont.min(limit - ww)
            } else {
                cont
            };
            push(&mut cur, " \\", CODE);
            out.push(std::mem::replace(
                &mut cur,
                vec![Span::new(" ".repeat(indent), CODE)],
            ));
            used = indent;
        }
        fresh = false;
        let mut rest = word.text.as_str();
        let mut cuts: Vec<usize> = word.cuts.clone();
        let mut base = 0;
        loop {
            let room = limit.saturating_sub(used);
            if measure_text_width(rest) <= room {
                push(&mut cur, rest, CODE);
                used += measure_text_width(rest);
                break;
            }
            // The longest piece that leaves a column for the backslash.
            let best = cuts
                .iter()
                .map(|c| c - base)
                .rev()
                .find(|&c| c > 0 && measure_text_width(&rest[..c]) < room);
            let (piece, mark) = match best {
                Some(c) => (c, Span::new("\\", CODE)),
                None => {
                    let pieces = text::cut(
                        &[Span::new(rest, CODE)],
                        room.saturating_sub(1).max(1),
                        false,
                    );
                    let first = pieces.first().map_or(rest.len(), |p| {
                        p.iter().map(|s| s.text.len()).sum::<usize>()
                    });
                    (first, Span::new(CUT_MARK, Ink::DIM))
                }
            };
            push(&mut cur, &rest[..piece], CODE);
            cur.push(mark);
            out.push(std::mem::take(&mut cur));
            rest = &rest[piece..];
            base += piece;
            cuts.retain(|&c| c > base);
            used = 0;
        }
    }
    let Some(comment) = &line.comment else {
        out.push(cur);
        return out;
    };
    let comment = if comment.is_empty() {
        "#".to_string()
    } else {
        format!("# {comment}")
    };
    let cw = measure_text_width(&comment);
    if !fresh && used + 2 + cw <= avail {
        push(&mut cur, &format!("  {comment}"), COMMENT);
        out.push(cur);
        return out;
    }
    if !fresh {
        out.push(cur);
    }
    // The comment on lines of its own, each a comment: a `\` would not continue it.
    let words: Vec<Tok> = comment
        .split_whitespace()
        .skip(1)
        .map(|w| Tok::Word(vec![Span::new(w, COMMENT)]))
        .collect();
    let room = avail.saturating_sub(indent + 2).max(1);
    let filled = text::fill(&words, room, room);
    if filled.is_empty() {
        out.push(vec![Span::new(format!("{}#", " ".repeat(indent)), COMMENT)]);
    }
    for l in filled {
        let mut s = vec![Span::new(format!("{}# ", " ".repeat(indent)), COMMENT)];
        s.extend(l);
        out.push(s);
    }
    out
}

fn push(line: &mut Vec<Span>, s: &str, ink: Ink) {
    match line.last_mut() {
        Some(last) if last.pen == text::Pen::Ink(ink) => last.text.push_str(s),
        _ => line.push(Span::new(s, ink)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(block: &str, avail: usize) -> Vec<String> {
        lines(block, avail)
            .iter()
            .map(|l| text::paint(l, false))
            .collect()
    }

    #[test]
    fn a_command_that_fits_is_left_alone() {
        assert_eq!(
            plain("ip netns add blue\n  ip link\n", 40),
            ["ip netns add blue", "  ip link"]
        );
    }

    #[test]
    fn long_commands_break_between_words_with_a_continuation() {
        assert_eq!(
            plain("ip netns exec blue ip link set veth0 up\n", 20),
            [
                "ip netns exec blue \\",
                "    ip link set \\",
                "    veth0 up"
            ]
        );
    }

    #[test]
    fn tags_are_hidden_and_plain_comments_kept() {
        assert_eq!(
            plain(
                "ping -c 1 10.0.0.2  # [fails]\nip a # [observe]\nip link   # look [observe]\n# [observe]\n",
                40
            ),
            ["ping -c 1 10.0.0.2", "ip a", "ip link  # look"]
        );
    }

    #[test]
    fn a_comment_that_does_not_fit_goes_on_comment_lines() {
        assert_eq!(
            plain("ip link  # shows every link of the namespace\n", 20),
            ["ip link", "# shows every link", "# of the namespace"]
        );
    }

    #[test]
    fn quoted_spaces_are_not_places_to_break() {
        // Inside single quotes nothing can continue a line: the cut is marked instead.
        assert_eq!(
            plain("echo 'one two three four' five\n", 20),
            ["echo \\", "    'one two thre↪", "e four' five"]
        );
    }

    #[test]
    fn a_string_over_several_lines_is_left_as_it_is() {
        assert_eq!(
            plain("echo 'one\n\n  two # not a comment' # [observe]\n", 40),
            ["echo 'one", "", "  two # not a comment'"]
        );
    }

    #[test]
    fn heredoc_bodies_are_shown_as_data() {
        let got = plain(
            "cat <<EOF\nsome text that is long\nEOF\necho a b c d e f\n",
            12,
        );
        assert_eq!(
            got,
            [
                "cat <<EOF",
                "some text ↪",
                "that is ↪",
                "long",
                "EOF",
                "echo a b c \\",
                "   d e f"
            ]
        );
    }
}
