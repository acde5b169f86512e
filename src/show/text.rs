//! The topology as text: a box per namespace, side by side as the width allows, a wire drawn
//! between two boxes where a veth pair joins them, and every wire listed below.

use console::{Alignment, measure_text_width, pad_str, style};

use super::{Iface, NsView, Topology};

struct Glyphs {
    tl: &'static str,
    tr: &'static str,
    bl: &'static str,
    br: &'static str,
    h: &'static str,
    v: &'static str,
    up: &'static str,
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
    up: "●",
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
    up: "*",
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

fn iface_lines(i: &Iface, g: &Glyphs) -> Vec<String> {
    let dot = if i.up {
        style(g.up).green().bold().to_string()
    } else {
        style(g.down).red().to_string()
    };
    let state = if i.up {
        style("UP").green().to_string()
    } else {
        style("DOWN").red().to_string()
    };
    let kind = i.kind.as_deref().filter(|k| *k != "loopback").unwrap_or("");
    let mut v = vec![format!(
        "{dot} {:<9} {} {kind}",
        i.name,
        pad_str(&state, 4, Alignment::Left, None)
    )];
    for a in &i.addresses {
        v.push(format!("    {}", style(a).cyan()));
    }
    if let Some(p) = &i.peer {
        v.push(format!("    {} {}:{}", g.peer, p.namespace, p.interface));
    }
    if let Some(m) = &i.master {
        v.push(format!("    port of {m}"));
    }
    // Ports wrap onto as many lines as they need.
    let mut line = String::from("    ports:");
    for p in &i.ports {
        if line.len() + 1 + p.len() > INNER - 1 {
            v.push(std::mem::replace(&mut line, "          ".to_string()));
        }
        line.push(' ');
        line.push_str(p);
    }
    if !i.ports.is_empty() {
        v.push(line);
    }
    v
}

fn boxed(ns: &NsView, g: &Glyphs) -> Boxed {
    let t = format!("{} {} ", g.h, style(ns.title()).bold());
    let fill = (INNER + 1).saturating_sub(measure_text_width(&t));
    let mut lines = vec![format!("{}{t}{}{}", g.tl, g.h.repeat(fill), g.tr)];
    let mut rows = Vec::new();
    let row = |s: &str| {
        format!(
            "{} {} {}",
            g.v,
            pad_str(s, INNER - 1, Alignment::Left, Some("…")),
            g.v
        )
    };
    for i in &ns.interfaces {
        rows.push((i.name.clone(), lines.len()));
        for l in iface_lines(i, g) {
            lines.push(row(&l));
        }
    }
    if let Some(d) = &ns.default_route {
        lines.push(row(&d.to_string()));
    }
    lines.push(format!("{}{}{}", g.bl, g.h.repeat(INNER + 1), g.br));
    Boxed { lines, rows }
}

pub fn render_text(t: &Topology, width: usize, ascii: bool) -> String {
    let g = if ascii { &ASCII } else { &UTF8 };
    let per_row = ((width + GAP) / (INNER + 3 + GAP)).max(1);
    let boxes: Vec<(&NsView, Boxed)> = t.namespaces.iter().map(|ns| (ns, boxed(ns, g))).collect();
    let blank = " ".repeat(INNER + 3);
    // The root namespace gets a row of its own: the namespaces a lesson makes sit side by
    // side beneath it, where a veth pair between two of them can be drawn as a wire.
    let (root, rest): (Vec<usize>, Vec<usize>) =
        (0..boxes.len()).partition(|i| boxes[*i].0.kind == "root");
    let rows: Vec<Vec<usize>> = root
        .into_iter()
        .map(|i| vec![i])
        .chain(rest.chunks(per_row).map(<[usize]>::to_vec))
        .collect();
    let mut out = String::new();
    for row in rows {
        let chunk: Vec<&(&NsView, Boxed)> = row.iter().map(|i| &boxes[*i]).collect();
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
        for w in &t.wires {
            out.push_str(&format!(
                "  {}:{} {} {}:{}\n",
                w.a.namespace,
                w.a.interface,
                g.wire.repeat(4),
                w.b.namespace,
                w.b.interface
            ));
        }
    }
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
