//! The topology as text: a box per namespace, side by side as the width allows (in the order
//! of the picture's layout, so a router comes between its two networks), a wire drawn between
//! two boxes where a veth pair joins them on the same line, and every wire listed below.
//! Each interface says its state in words (UP, NO-CARRIER, DOWN), as `ip -br link` would;
//! in a diff, missing and extra items say so.

use console::{Alignment, measure_text_width, pad_str, style};

use super::escape::visible;
use super::layout;
use super::model::{Iface, LinkKind, LinkState, Mark, NsKind, NsView, Topology, Wire};

struct Glyphs {
    tl: &'static str,
    tr: &'static str,
    bl: &'static str,
    br: &'static str,
    h: &'static str,
    v: &'static str,
    /// The same, dashed: a missing namespace.
    dh: &'static str,
    dv: &'static str,
    up: &'static str,
    no_carrier: &'static str,
    /// An interface that is missing: it has no state.
    missing: &'static str,
    down: &'static str,
    wire: &'static str,
    peer: &'static str,
}

const UTF8: Glyphs = Glyphs {
    tl: "┌",
    tr: "┐",
    bl: "└",
    br: "┘",
    h: "─",
    v: "│",
    dh: "╌",
    dv: "┆",
    up: "●",
    no_carrier: "◐",
    missing: "◌",
    down: "○",
    wire: "═",
    peer: "⇄",
};
const ASCII: Glyphs = Glyphs {
    tl: "+",
    tr: "+",
    bl: "+",
    br: "+",
    h: "-",
    v: "|",
    dh: ".",
    dv: ":",
    up: "*",
    no_carrier: "~",
    missing: "-",
    down: "o",
    wire: "=",
    peer: "<>",
};

/// Columns inside a box, and between boxes.
const INNER: usize = 33;
const GAP: usize = 5;

/// A box's lines, and on which line each interface starts.
struct Boxed {
    lines: Vec<String>,
    rows: Vec<(String, usize)>,
}

/// ` [missing]` or ` [extra]`, or nothing.
fn tag(m: Option<Mark>) -> String {
    Mark::word(m).map(|w| format!(" [{w}]")).unwrap_or_default()
}

fn iface_lines(i: &Iface, g: &Glyphs) -> Vec<(String, String)> {
    let state = i.link_state();
    let (dot, word) = match state {
        _ if i.mark == Some(Mark::Missing) => (g.missing.to_string(), String::new()),
        LinkState::Up => (
            style(g.up).green().bold().to_string(),
            style(state.word()).green().to_string(),
        ),
        LinkState::NoCarrier => (
            style(g.no_carrier).yellow().bold().to_string(),
            style(state.word()).yellow().to_string(),
        ),
        LinkState::Down => (
            style(g.down).red().to_string(),
            style(state.word()).red().to_string(),
        ),
    };
    let kind = match &i.kind {
        Some(LinkKind::Loopback) | None => String::new(),
        Some(k) => visible(k.as_str()).into_owned(),
    };
    // Present, but not in the state the lesson means: said beside it.
    let first = match (Mark::word(i.mark), i.meant_up) {
        (None, Some(up)) => format!(" [meant {}]", if up { "UP" } else { "DOWN" }),
        _ => tag(i.mark),
    };
    let mut v = vec![(
        format!(
            "{dot} {:<9} {} {kind}",
            visible(&i.name),
            pad_str(&word, 4, Alignment::Left, None)
        ),
        first,
    )];
    for a in &i.addresses {
        v.push((format!("    {}", style(&a.cidr).cyan()), tag(a.mark)));
    }
    if let Some(p) = &i.peer {
        v.push((
            format!("    {} {}", g.peer, visible(&p.to_string())),
            String::new(),
        ));
    }
    if let Some(m) = &i.master {
        v.push((format!("    port of {}", visible(m)), tag(i.master_mark)));
    }
    // Ports wrap onto as many lines as they need.
    let mut line = String::from("    ports:");
    for p in &i.ports {
        let p = visible(p);
        if measure_text_width(&line) + 1 + measure_text_width(&p) > INNER - 1 {
            v.push((
                std::mem::replace(&mut line, "          ".to_string()),
                String::new(),
            ));
        }
        line.push(' ');
        line.push_str(&p);
    }
    if !i.ports.is_empty() {
        v.push((line, String::new()));
    }
    v
}

/// A namespace's box; `labels` are the labels of the wires not drawn between boxes, by the
/// interface of this namespace at one end.
fn boxed(ns: &NsView, g: &Glyphs, labels: &[(String, String)]) -> Boxed {
    let missing = ns.mark == Some(Mark::Missing);
    let (h, v) = if missing { (g.dh, g.dv) } else { (g.h, g.v) };
    let title = format!("{}{}", ns.title(), tag(ns.mark));
    let title = pad_str(&title, INNER - 2, Alignment::Left, Some("…"));
    let t = format!("{h} {} ", style(title.trim_end()).bold());
    let fill = (INNER + 1).saturating_sub(measure_text_width(&t));
    let mut lines = vec![format!("{}{t}{}{}", g.tl, h.repeat(fill), g.tr)];
    let mut rows = Vec::new();
    // The tag (a diff's mark, a wire's label) is never cut off: an interface's first line is
    // cut before it. Other text too long for the box (a default route via a long IPv6
    // address) goes on to the next lines, nothing of it cut, the tag at the end.
    let first = |lines: &mut Vec<String>, s: &str, tag: &str| {
        let room = INNER - 1 - measure_text_width(tag);
        lines.push(format!(
            "{v} {}{tag} {v}",
            pad_str(s, room, Alignment::Left, Some("…"))
        ));
    };
    let row = |lines: &mut Vec<String>, s: &str, tag: &str| {
        let mut wrapped = crate::render::wrap(s, INNER - 1);
        let last = wrapped.pop().unwrap_or_default();
        for l in wrapped {
            first(lines, &l, "");
        }
        if measure_text_width(&last) + measure_text_width(tag) < INNER {
            first(lines, &last, tag);
        } else {
            first(lines, &last, "");
            first(lines, "", tag);
        }
    };
    for i in &ns.interfaces {
        rows.push((i.name.clone(), lines.len()));
        let label = labels
            .iter()
            .find(|(n, _)| *n == i.name)
            .map(|(_, l)| format!(" {}{l}", g.wire))
            .unwrap_or_default();
        // The label goes on the line that names the far end (`⇄ red:veth1 ═A`), where it has
        // room; on the first line, it pushed the kind out ("v…") beside a mark.
        let at = if i.peer.is_some() {
            1 + i.addresses.len()
        } else {
            0
        };
        for (k, (l, t)) in iface_lines(i, g).into_iter().enumerate() {
            let t = if k == at { format!("{t}{label}") } else { t };
            if k == 0 {
                first(&mut lines, &l, &t);
            } else {
                row(&mut lines, &l, &t);
            }
        }
    }
    if let Some(d) = &ns.default_route {
        row(&mut lines, &visible(&d.to_string()), &tag(d.mark));
    }
    // Below the interfaces, so that an interface starts on the same line as its peer in the
    // box beside it more often.
    if ns.forwarding == Some(true) {
        row(&mut lines, "forwarding on (ip_forward = 1)", "");
    }
    lines.push(format!("{}{}{}", g.bl, h.repeat(INNER + 1), g.br));
    Boxed { lines, rows }
}

pub fn render_text(t: &Topology, width: usize, ascii: bool) -> String {
    let g = if ascii { &ASCII } else { &UTF8 };
    let per_row = ((width + GAP) / (INNER + 3 + GAP)).max(1);
    let blank = " ".repeat(INNER + 3);
    // The root namespace gets a row of its own; the others follow in the picture's order, so
    // that namespaces joined by a wire tend to sit side by side.
    let (root, rest): (Vec<usize>, Vec<usize>) = layout::plan(t)
        .order()
        .into_iter()
        .partition(|i| t.namespaces[*i].kind == NsKind::Root);
    let rows: Vec<Vec<usize>> = root
        .into_iter()
        .map(|i| vec![i])
        .chain(rest.chunks(per_row).map(<[usize]>::to_vec))
        .collect();
    // A wire is drawn between two neighbouring boxes where its ends start on the same line;
    // every other wire (between rows, or to an interface lower in the box beside) gets a
    // label, written beside both its ends and in the list of wires, which pairs them.
    let plain: Vec<Boxed> = t.namespaces.iter().map(|ns| boxed(ns, g, &[])).collect();
    let drawn = |w: &Wire| {
        rows.iter().any(|row| {
            row.windows(2).any(|p| {
                let (l, r) = (&t.namespaces[p[0]], &t.namespaces[p[1]]);
                let (lb, rb) = (&plain[p[0]], &plain[p[1]]);
                [(&w.a, &w.b), (&w.b, &w.a)].iter().any(|(x, y)| {
                    x.namespace == l.name
                        && y.namespace == r.name
                        && lb.rows.iter().any(|(n, lr)| {
                            *n == x.interface
                                && rb.rows.iter().any(|(m, rr)| *m == y.interface && rr == lr)
                        })
                })
            })
        })
    };
    let mut labels: Vec<Option<String>> = Vec::new();
    let mut next = 0;
    // Both ends in a box: a wire to an end not drawn is said by its peer line alone.
    let boxed_end = |e: &super::model::End| {
        t.namespaces
            .iter()
            .any(|n| n.name == e.namespace && n.iface(&e.interface).is_some())
    };
    for w in &t.wires {
        labels.push((boxed_end(&w.a) && boxed_end(&w.b) && !drawn(w)).then(|| {
            next += 1;
            wire_label(next - 1)
        }));
    }
    let boxes: Vec<Boxed> = t
        .namespaces
        .iter()
        .map(|ns| {
            let mine: Vec<(String, String)> = t
                .wires
                .iter()
                .zip(&labels)
                .filter_map(|(w, l)| Some((w, l.as_ref()?)))
                .flat_map(|(w, l)| [(&w.a, l), (&w.b, l)])
                .filter(|(e, _)| e.namespace == ns.name)
                .map(|(e, l)| (e.interface.clone(), l.clone()))
                .collect();
            boxed(ns, g, &mine)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let chunk: Vec<(&NsView, &Boxed)> = row
            .iter()
            .map(|i| (&t.namespaces[*i], &boxes[*i]))
            .collect();
        let height = chunk.iter().map(|(_, b)| b.lines.len()).max().unwrap_or(0);
        for r in 0..height {
            let mut line = String::new();
            for (i, (ns, b)) in chunk.iter().enumerate() {
                line.push_str(b.lines.get(r).map_or(blank.as_str(), String::as_str));
                if let Some((next, nb)) = chunk.get(i + 1) {
                    line.push_str(&gap(ns, b, next, nb, r, g));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !t.wires.is_empty() {
        out.push_str("wires:\n");
        let lw = labels
            .iter()
            .flatten()
            .map(|l| measure_text_width(l) + 1)
            .max()
            .unwrap_or(0);
        for (w, l) in t.wires.iter().zip(&labels) {
            out.push_str(&format!(
                "  {}{} {} {}{}\n",
                pad_str(l.as_deref().unwrap_or(""), lw, Alignment::Left, None),
                visible(&w.a.to_string()),
                g.wire.repeat(4),
                visible(&w.b.to_string()),
                tag(w.mark)
            ));
        }
    }
    out
}

/// The label of the `n`th wire not drawn between boxes: A to Z, then numbers.
fn wire_label(n: usize) -> String {
    match u8::try_from(n) {
        Ok(k) if k < 26 => char::from(b'A' + k).to_string(),
        _ => (n + 1).to_string(),
    }
}

/// The topology as a list, for a pane too narrow or too short for the boxes: a line per
/// namespace, and under it a line per interface (its state, kind, addresses, peer, bridge), its
/// default route and forwarding; each line wrapped to `width`.
pub fn render_list(t: &Topology, width: usize, ascii: bool) -> String {
    let g = if ascii { &ASCII } else { &UTF8 };
    let mut rows: Vec<String> = Vec::new();
    for k in layout::plan(t).order() {
        let ns = &t.namespaces[k];
        rows.push(format!("{}{}", style(ns.title()).bold(), tag(ns.mark)));
        for i in &ns.interfaces {
            let mut line = String::from("  ");
            for (n, (text, tag)) in iface_lines(i, g).into_iter().enumerate() {
                let text = text.trim().to_string();
                if n > 0 {
                    line.push(' ');
                }
                // The state's padding is for boxes: one space between words here.
                line.push_str(
                    &text
                        .split(' ')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                line.push_str(&tag);
            }
            rows.push(line);
        }
        if let Some(d) = &ns.default_route {
            rows.push(format!("  {}{}", visible(&d.to_string()), tag(d.mark)));
        }
        if ns.forwarding == Some(true) {
            rows.push("  forwarding on".to_string());
        }
    }
    let mut out = String::new();
    for r in rows {
        for l in crate::render::wrap(&r, width) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The topology for a screen of `width` x `height` (`show --watch` in a pane): the boxes when
/// they fit; else the list; a list still too long is cut, its last line saying how many lines
/// it left out. No line is wider than `width`, and there are at most `height` lines.
pub fn render_fit(t: &Topology, width: usize, height: usize, ascii: bool) -> String {
    let (width, height) = (width.max(1), height.max(1));
    let fits =
        |s: &str| s.lines().count() <= height && s.lines().all(|l| measure_text_width(l) <= width);
    let boxes = render_text(t, width, ascii);
    if fits(&boxes) {
        return boxes;
    }
    let list = render_list(t, width, ascii);
    let lines: Vec<&str> = list.lines().collect();
    if lines.len() <= height {
        return list;
    }
    let kept = height - 1;
    let mut out: String = lines[..kept].iter().map(|l| format!("{l}\n")).collect();
    // The note in the longest words that fit the pane (in 38 columns, the long one was cut).
    let left = lines.len() - kept;
    let more = [
        format!("… {left} more lines: a taller pane shows them"),
        format!("… {left} more lines"),
        format!("…{left} more"),
    ]
    .into_iter()
    .find(|m| measure_text_width(m) <= width)
    .unwrap_or_else(|| format!("…{left}"));
    out.push_str(&console::truncate_str(
        &style(more).dim().to_string(),
        width,
        "",
    ));
    out.push('\n');
    out
}

/// The space between two neighbouring boxes: a wire on line `r` when a veth pair joins the
/// interface that starts there on the left to the one that starts there on the right.
fn gap(left: &NsView, lb: &Boxed, right: &NsView, rb: &Boxed, r: usize, g: &Glyphs) -> String {
    let joined = lb
        .rows
        .iter()
        .filter(|(_, row)| *row == r)
        .any(|(name, _)| {
            left.interfaces.iter().any(|i| {
                &i.name == name
                    && i.peer.as_ref().is_some_and(|p| {
                        p.namespace == right.name
                            && rb
                                .rows
                                .iter()
                                .any(|(n, row)| *row == r && *n == p.interface)
                    })
            })
        });
    if joined {
        g.wire.repeat(GAP)
    } else {
        " ".repeat(GAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::model::{Iface, NsView};

    #[test]
    fn carrier_is_said_in_words() {
        let t = Topology::new(vec![
            NsView::named("blue").with(Iface::veth("veth0", "red", "veth1").up_no_carrier()),
            NsView::named("red").with(Iface::veth("veth1", "blue", "veth0")),
        ]);
        let s = render_text(&t, 80, true);
        assert!(s.contains("~ veth0     NO-CARRIER veth"), "{s}");
        assert!(s.contains("o veth1     DOWN veth"), "{s}");
        assert!(!s.contains(" UP "), "{s}");
    }

    #[test]
    fn escape_sequences_in_names_are_written_out() {
        let t = Topology::new(vec![
            NsView::named("a\u{1b}]0;pwned\u{7}").with(Iface::veth("x\u{1b}[2J", "b", "y")),
        ]);
        for ascii in [true, false] {
            let s = render_text(&t, 80, ascii);
            assert!(!s.contains('\u{1b}') && !s.contains('\u{7}'), "{s:?}");
            assert!(s.contains("x\\x1b[2J"), "{s}");
            assert!(s.contains("a\\x1b]0;pwned\\x07"), "{s}");
        }
    }

    #[test]
    fn marks_are_words_that_are_never_cut() {
        let mut blue = NsView::named("blue")
            .with(Iface::veth("a-very-long-interface", "red", "veth1").address("10.1.0.2/24"));
        blue.interfaces[0].mark = Some(Mark::Missing);
        blue.interfaces[0].addresses[0].mark = Some(Mark::Extra);
        let mut red = NsView::named("red");
        red.mark = Some(Mark::Missing);
        let s = render_text(&Topology::new(vec![blue, red]), 80, true);
        assert!(s.contains("[missing] |"), "{s}");
        assert!(s.contains("10.1.0.2/24          [extra] |"), "{s}");
        assert!(s.contains("+. red [missing] ."), "{s}");
    }

    /// A lab of four namespaces, one of them a router with two interfaces and a default route.
    fn four() -> Topology {
        Topology::new(vec![
            NsView::root().with(Iface::loopback().up().address("127.0.0.1/8")),
            NsView::named("left")
                .with(Iface::loopback())
                .with(
                    Iface::veth("eth0", "router", "left0")
                        .up()
                        .address("10.0.1.2/24"),
                )
                .default_via("10.0.1.1"),
            NsView::named("router")
                .with(Iface::loopback())
                .with(
                    Iface::veth("left0", "left", "eth0")
                        .up()
                        .address("10.0.1.1/24"),
                )
                .with(
                    Iface::veth("right0", "right", "eth0")
                        .up()
                        .address("10.0.2.1/24"),
                )
                .forwarding(true),
            NsView::named("right")
                .with(Iface::loopback())
                .with(
                    Iface::veth("eth0", "router", "right0")
                        .up()
                        .address("10.0.2.2/24"),
                )
                .default_via("10.0.2.1"),
        ])
    }

    /// `show --watch` in a small pane: nothing wider than the pane, no more lines than it has
    /// (the boxes took 30 lines at 60 columns, and 36 columns at any width), and what is left
    /// out is said.
    #[test]
    fn a_small_pane_gets_a_list_that_fits() {
        console::set_colors_enabled(false);
        let t = four();
        // Room enough: the boxes, as render_text draws them.
        assert_eq!(render_fit(&t, 120, 60, true), render_text(&t, 120, true));
        for (w, h) in [(60, 20), (30, 20), (24, 10), (60, 8)] {
            let s = render_fit(&t, w, h, false);
            assert!(s.lines().count() <= h, "{w}x{h}:\n{s}");
            assert!(
                s.lines().all(|l| measure_text_width(l) <= w),
                "{w}x{h}:\n{s}"
            );
            assert!(s.starts_with("root namespace"), "{w}x{h}:\n{s}");
        }
        let s = render_fit(&t, 60, 20, false);
        assert!(
            s.contains("  ● eth0 UP veth 10.0.1.2/24 ⇄ router:left0"),
            "{s}"
        );
        assert!(s.contains("  default via 10.0.1.1"), "{s}");
        assert!(s.contains("right"), "{s}");
        let s = render_fit(&t, 60, 8, false);
        assert!(
            s.trim_end()
                .ends_with("more lines: a taller pane shows them"),
            "{s}"
        );
    }

    /// In a 38x3 pane, the note of what is left out is whole, in fewer words (it was cut to
    /// "… 5 more lines: a taller pane shows th"), and the frame has no more lines than the pane.
    #[test]
    fn the_note_of_a_cut_list_fits_a_narrow_pane() {
        console::set_colors_enabled(false);
        for (w, h) in [(38, 3), (12, 3), (6, 2), (60, 1)] {
            let s = render_fit(&four(), w, h, false);
            assert!(s.lines().count() <= h, "{w}x{h}:\n{s}");
            assert!(
                s.lines().all(|l| measure_text_width(l) <= w),
                "{w}x{h}:\n{s}"
            );
            let last = s.lines().last().unwrap_or("");
            let whole = [
                " more lines: a taller pane shows them",
                " more lines",
                " more",
                "",
            ]
            .iter()
            .any(|end| {
                last.starts_with('…')
                    && last.ends_with(end)
                    && last[..last.len() - end.len()]
                        .trim_start_matches('…')
                        .trim()
                        .parse::<usize>()
                        .is_ok()
            });
            assert!(whole, "{w}x{h}: the note is cut:\n{s}");
        }
    }

    /// Every word of a default route too long for a box is in the box, on the lines after
    /// (it was cut with "…" at the box's edge).
    #[test]
    fn a_long_default_route_goes_on_to_the_next_line() {
        console::set_colors_enabled(false);
        let mut far = NsView::named("far").with(
            Iface::veth("veth-far-uplink", "near", "veth-near-down")
                .up()
                .address("2001:db8:aa::2/64"),
        );
        far.default_route = Some(crate::show::model::DefaultRoute {
            via: Some("2001:db8:aa:bb:cc:dd:ee:1".into()),
            dev: Some("veth-far-uplink".into()),
            mark: Some(Mark::Missing),
        });
        let t = Topology::new(vec![far]);
        for ascii in [true, false] {
            let s = render_text(&t, 80, ascii);
            assert!(!s.contains('…'), "{s}");
            let boxed: Vec<&str> = s.lines().take_while(|l| *l != "wires:").collect();
            assert!(
                boxed.iter().all(|l| measure_text_width(l) == INNER + 3),
                "{s}"
            );
            // What the box holds, border to border, as words.
            let inside: String = boxed
                .iter()
                .map(|l| {
                    l.trim_start_matches(['|', '│'])
                        .trim_end_matches(['|', '│'])
                        .trim()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                inside.contains(
                    "default via 2001:db8:aa:bb:cc:dd:ee:1 dev veth-far-uplink [missing]"
                ),
                "{s}"
            );
        }
    }

    /// Boxes on different rows (one a row, 40 columns): each wire gets a label beside both of
    /// its ends and in the list of wires, which pairs them; a wire drawn between two boxes
    /// side by side gets none. Before, a wire between rows was drawn nowhere in the boxes.
    #[test]
    fn wires_between_rows_are_labelled_at_both_ends() {
        console::set_colors_enabled(false);
        let t = four();
        let s = render_text(&t, 40, true);
        for (label, a, b) in [
            ("A", "left:eth0", "router:left0"),
            ("B", "right:eth0", "router:right0"),
        ] {
            let (a, b) = if s.contains(&format!("  {label} {a} ==== {b}")) {
                (a, b)
            } else {
                (b, a)
            };
            assert!(
                s.contains(&format!("  {label} {a} ==== {b}")),
                "{label}:\n{s}"
            );
            // Both ends, each on the line that names the other end.
            for far in [b, a] {
                assert!(
                    s.lines().any(|l| l.contains(&format!("<> {far} "))
                        && l.ends_with(&format!(" ={label} |"))),
                    "the end facing {far} has no {label}:\n{s}"
                );
            }
            assert_eq!(s.matches(&format!(" ={label} |")).count(), 2, "{s}");
        }
        // Wide enough for the three in a row, side by side: the router's first wire is drawn
        // between the boxes, and the one that starts lower in the router's box is labelled.
        let s = render_text(&t, 120, true);
        assert!(s.contains("|=====|"), "{s}");
        assert_eq!(s.matches(" =A |").count(), 2, "{s}");
        assert!(!s.contains(" =B |"), "{s}");
    }
}
