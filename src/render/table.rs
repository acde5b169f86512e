//! Tables: a grid with borders when every column can hold its longest word, else a list with
//! one item per row.

use pulldown_cmark::Alignment;

use super::text::{self, Ink, Span, Tok};

const BORDER: Ink = Ink::DIM;
const LABEL: Ink = Ink {
    bold: true,
    ..Ink::PLAIN
};

/// A table as read: the alignment of each column, and rows of cells, each cell its words. The
/// first row is the head (a Markdown table always has one).
pub struct Table {
    pub aligns: Vec<Alignment>,
    pub rows: Vec<Vec<Vec<Tok>>>,
}

/// Lays out a table in `avail` columns.
pub fn lines(t: &Table, avail: usize) -> Vec<Vec<Span>> {
    let cols = t.rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols == 0 {
        return Vec::new();
    }
    grid(t, cols, avail).unwrap_or_else(|| list(t, cols, avail))
}

/// A cell's width on one line, and the width of its longest word.
fn measure(cell: &[Tok]) -> (usize, usize) {
    let lines = text::fill(cell, usize::MAX, usize::MAX);
    let natural = lines.iter().map(|l| text::width(l)).max().unwrap_or(0);
    let longest = cell
        .iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(text::width(w)),
            Tok::Break => None,
        })
        .max()
        .unwrap_or(0);
    (natural, longest)
}

fn grid(t: &Table, cols: usize, avail: usize) -> Option<Vec<Vec<Span>>> {
    let mut natural = vec![1; cols];
    let mut least = vec![1; cols];
    for row in &t.rows {
        for (c, cell) in row.iter().enumerate() {
            let (n, l) = measure(cell);
            natural[c] = natural[c].max(n);
            least[c] = least[c].max(l);
        }
    }
    // "│ " before each column, " │" after the last, " │ " between them.
    let budget = avail.checked_sub(3 * cols + 1)?;
    if least.iter().sum::<usize>() > budget {
        return None;
    }
    // Narrow the widest column that can still give, one column at a time.
    let mut widths = natural;
    let mut excess = widths.iter().sum::<usize>().saturating_sub(budget);
    while excess > 0 {
        let Some(c) = (0..cols)
            .filter(|&c| widths[c] > least[c])
            .max_by_key(|&c| (widths[c], std::cmp::Reverse(c)))
        else {
            break;
        };
        widths[c] -= 1;
        excess -= 1;
    }
    let cells: Vec<Vec<Vec<Vec<Span>>>> = t
        .rows
        .iter()
        .map(|row| {
            (0..cols)
                .map(|c| {
                    row.get(c)
                        .map(|cell| text::fill(cell, widths[c], widths[c]))
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let heights: Vec<usize> = cells
        .iter()
        .map(|row| row.iter().map(Vec::len).max().unwrap_or(0).max(1))
        .collect();
    // Each row starts where its first cell does; when a first cell is empty or takes several
    // lines, that no longer shows, and rules between the rows show it instead.
    let ruled = cells
        .iter()
        .zip(&heights)
        .skip(1)
        .any(|(row, h)| *h > 1 && row.first().is_none_or(|c| c.len() != 1));
    let rule = |l: &str, m: &str, r: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        vec![Span::new(format!("{l}{}{r}", parts.join(m)), BORDER)]
    };
    let mut out = vec![rule("┌", "┬", "┐")];
    for (r, row) in cells.iter().enumerate() {
        if r == 1 || (r > 1 && ruled) {
            out.push(rule("├", "┼", "┤"));
        }
        for i in 0..heights[r] {
            let mut line = vec![Span::new("│ ", BORDER)];
            for (c, cell) in row.iter().enumerate() {
                if c > 0 {
                    line.push(Span::new(" │ ", BORDER));
                }
                let content = cell.get(i).cloned().unwrap_or_default();
                let pad = widths[c].saturating_sub(text::width(&content));
                let left = match t.aligns.get(c) {
                    Some(Alignment::Right) => pad,
                    Some(Alignment::Center) => pad / 2,
                    _ => 0,
                };
                line.push(Span::new(" ".repeat(left), Ink::PLAIN));
                line.extend(content);
                line.push(Span::new(" ".repeat(pad - left), Ink::PLAIN));
            }
            line.push(Span::new(" │", BORDER));
            out.push(line);
        }
    }
    out.push(rule("└", "┴", "┘"));
    Some(out)
}

/// The table as a list: one item per row, led by its first cell. With two columns the head is
/// said once above the list; with more, each field is labelled with its column's head.
fn list(t: &Table, cols: usize, avail: usize) -> Vec<Vec<Span>> {
    let empty: Vec<Tok> = Vec::new();
    let head = t.rows.first();
    let head_cell = |c: usize| head.and_then(|h| h.get(c)).unwrap_or(&empty);
    let body = t.rows.get(1..).unwrap_or_default();
    let mut out = Vec::new();
    if cols == 2 || body.is_empty() {
        let mut toks: Vec<Tok> = Vec::new();
        for c in 0..cols {
            if !head_cell(c).is_empty() {
                if !toks.is_empty() {
                    toks.push(Tok::Word(vec![Span::new("—", LABEL)]));
                }
                toks.extend(head_cell(c).iter().cloned());
            }
        }
        out.extend(text::fill(&toks, avail, avail));
    }
    let room = avail.saturating_sub(2).max(1);
    for row in body {
        let mut toks: Vec<Tok> = Vec::new();
        for (c, cell) in row.iter().enumerate().filter(|(_, cell)| !cell.is_empty()) {
            if !toks.is_empty() {
                toks.push(Tok::Break);
            }
            if c > 0 && cols > 2 && !head_cell(c).is_empty() {
                let mut label: Vec<Tok> = head_cell(c).to_vec();
                if let Some(Tok::Word(w)) = label.last_mut() {
                    w.push(Span::new(":", LABEL));
                }
                toks.extend(label);
            }
            toks.extend(cell.iter().cloned());
        }
        for (i, line) in text::fill(&toks, room, room).into_iter().enumerate() {
            let lead = if i == 0 { "• " } else { "  " };
            let mut l = vec![Span::new(lead, Ink::PLAIN)];
            l.extend(line);
            out.push(l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(s: &str) -> Vec<Tok> {
        s.split_whitespace()
            .map(|w| Tok::Word(vec![Span::new(w, Ink::PLAIN)]))
            .collect()
    }

    fn table(rows: &[&[&str]]) -> Table {
        Table {
            aligns: Vec::new(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| cell(c)).collect())
                .collect(),
        }
    }

    fn plain(t: &Table, avail: usize) -> Vec<String> {
        lines(t, avail)
            .iter()
            .map(|l| text::paint(l, false))
            .collect()
    }

    #[test]
    fn a_table_that_fits_has_all_its_borders() {
        let t = table(&[&["a", "b"], &["x", "yy"]]);
        assert_eq!(
            plain(&t, 40),
            [
                "┌───┬────┐",
                "│ a │ b  │",
                "├───┼────┤",
                "│ x │ yy │",
                "└───┴────┘"
            ]
        );
    }

    #[test]
    fn cells_wrap_at_words() {
        let t = table(&[
            &["kind", "what"],
            &["net", "network devices and routes"],
            &["uts", "host name"],
        ]);
        assert_eq!(
            plain(&t, 24),
            [
                "┌──────┬───────────────┐",
                "│ kind │ what          │",
                "├──────┼───────────────┤",
                "│ net  │ network       │",
                "│      │ devices and   │",
                "│      │ routes        │",
                "│ uts  │ host name     │",
                "└──────┴───────────────┘",
            ]
        );
    }

    #[test]
    fn rows_are_ruled_when_their_first_cell_does_not_show_where_they_start() {
        let t = table(&[
            &["kind", "what"],
            &["", "network devices"],
            &["uts", "host"],
        ]);
        assert_eq!(
            plain(&t, 20),
            [
                "┌──────┬───────────┐",
                "│ kind │ what      │",
                "├──────┼───────────┤",
                "│      │ network   │",
                "│      │ devices   │",
                "├──────┼───────────┤",
                "│ uts  │ host      │",
                "└──────┴───────────┘",
            ]
        );
    }

    #[test]
    fn a_table_too_narrow_for_its_words_becomes_a_list() {
        let t = table(&[
            &["kind", "what"],
            &["net", "network devices"],
            &["uts", "hostname"],
        ]);
        assert_eq!(
            plain(&t, 14),
            [
                "kind — what",
                "• net",
                "  network",
                "  devices",
                "• uts",
                "  hostname"
            ]
        );
        let t = table(&[&["id", "title", "minutes"], &["veth", "The veth lab", "10"]]);
        assert_eq!(
            plain(&t, 16),
            ["• veth", "  title: The", "  veth lab", "  minutes: 10"]
        );
    }

    #[test]
    fn alignment_is_kept() {
        let mut t = table(&[&["n", "name"], &["10", "x"]]);
        t.aligns = vec![Alignment::Right, Alignment::Center];
        assert_eq!(plain(&t, 40)[3], "│ 10 │  x   │");
    }
}
