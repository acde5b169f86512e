//! Diagnostics with a location: `FILE:LINE:COL: error: MESSAGE`.
//!
//! Byte offsets travel through the parser; they become line and column only here, when a
//! problem is reported (the way mdBook and just do it).

use std::fmt;
use std::sync::OnceLock;

/// A lesson file's name and text. Every span in the lesson model is a byte offset into `text`.
#[derive(Debug, Clone)]
pub struct Source {
    /// What diagnostics call the file: a path, or `builtin:NAME` for lessons inside the binary.
    pub name: String,
    pub text: String,
    /// Where each line starts, found on first use: the parser asks for a position per command
    /// line, and rescanning the text each time made parsing quadratic in the lesson's length.
    line_starts: OnceLock<Vec<usize>>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            text: text.into(),
            line_starts: OnceLock::new(),
        }
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let starts = self.line_starts();
        // The line is the number of line starts at or before the offset (the first is 0).
        let line = starts.partition_point(|&s| s <= offset);
        let col = self.text[starts[line - 1]..offset].chars().count() + 1;
        (line, col)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = self.line_starts();
        let i = line.saturating_sub(1);
        let Some(&start) = starts.get(i) else {
            return "";
        };
        let end = starts.get(i + 1).map_or(self.text.len(), |&next| next - 1);
        let text = &self.text[start..end];
        text.strip_suffix('\r').unwrap_or(text)
    }

    pub fn error(&self, offset: usize, len: usize, message: impl Into<String>) -> Diagnostic {
        self.diagnostic(Severity::Error, offset, len, message)
    }

    pub fn warning(&self, offset: usize, len: usize, message: impl Into<String>) -> Diagnostic {
        self.diagnostic(Severity::Warning, offset, len, message)
    }

    fn diagnostic(
        &self,
        severity: Severity,
        offset: usize,
        len: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, col) = self.position(offset);
        Diagnostic {
            severity,
            file: self.name.clone(),
            line,
            col,
            width: len.max(1),
            message: message.into(),
            excerpt: self.line_text(line).to_string(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem in a lesson, located to the character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// How many characters the caret underlines.
    pub width: usize,
    pub message: String,
    /// The source line the problem sits on, for the excerpt under the headline.
    pub excerpt: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// An error at a line and column of a file whose text nslab does not hold (it could not be
    /// read as text).
    pub fn at(file: &str, line: usize, col: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line,
            col,
            width: 1,
            message: message.into(),
            excerpt: String::new(),
        }
    }

    /// An error about a whole file (it is not a file, it is too large).
    pub fn file_error(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(file, 1, 1, message)
    }

    /// The excerpt and a caret under the culprit, as shown on a terminal.
    pub fn render_excerpt(&self) -> String {
        let gutter = self.line.to_string();
        let pad = " ".repeat(gutter.len());
        let lead: String = self
            .excerpt
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let avail = self.excerpt.chars().count().saturating_sub(self.col - 1);
        let width = self.width.min(avail.max(1));
        format!(
            "{pad} |\n{gutter} | {}\n{pad} | {lead}{}",
            self.excerpt,
            "^".repeat(width)
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.severity, self.message
        )
    }
}

/// Prints diagnostics on standard error: one line each, and on a terminal the excerpt with a
/// caret under the culprit.
pub fn print(diags: &[Diagnostic]) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    for d in diags {
        let head = crate::term::printable(&d.to_string());
        if tty {
            let style = if d.is_error() {
                console::style(head).red().bold()
            } else {
                console::style(head).yellow().bold()
            };
            eprintln!("{style}");
            if !d.excerpt.is_empty() {
                eprintln!("{}", crate::term::printable(&d.render_excerpt()));
            }
        } else {
            eprintln!("{head}");
        }
    }
}

/// Edit distance, for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ", did you mean 'X'?" or nothing.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|s| format!(", did you mean '{s}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = Source::new("x.md", "ab\ncdé f\n");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(3), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(src.position(8), (2, 5));
    }

    #[test]
    fn positions_agree_with_a_scan_from_the_start() {
        for text in ["", "x", "\n\n", "ab\r\ncdé\n\nlast", "é\nü\n"] {
            let src = Source::new("x.md", text);
            for offset in 0..=text.len() + 2 {
                let o = floor_char_boundary(text, offset.min(text.len()));
                let before = &text[..o];
                let line = before.matches('\n').count() + 1;
                let start = before.rfind('\n').map_or(0, |i| i + 1);
                let col = text[start..o].chars().count() + 1;
                assert_eq!(src.position(offset), (line, col), "{text:?} at {offset}");
            }
            for line in 0..text.lines().count() + 3 {
                let want = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
                assert_eq!(src.line_text(line), want, "{text:?} line {line}");
            }
        }
    }

    #[test]
    fn caret_sits_under_the_culprit() {
        let src = Source::new("x.md", "adress 10.0.0.1/24 on veth0\n");
        let d = src.error(0, 6, "unknown check");
        assert_eq!(d.to_string(), "x.md:1:1: error: unknown check");
        assert!(d.render_excerpt().ends_with("| ^^^^^^"));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            suggest("adress", &["addr", "address", "link"]),
            Some("address")
        );
        assert_eq!(suggest("lnk", &["addr", "link"]), Some("link"));
        assert_eq!(suggest("banana", &["addr", "link"]), None);
    }
}
