//! The topology as SVG, for slides: rounded boxes in distinct colours for namespaces,
//! interfaces inside, addresses beside them, wires between veth ends. The layout depends only
//! on the names (namespaces in a fixed grid, interfaces in a fixed order), so the picture of one
//! step differs from the previous one only where the kernel changed.

use std::collections::HashMap;
use std::fmt::Write;

use super::{End, NsView, Topology};

const PER_ROW: usize = 4;
const BOX_W: f64 = 300.0;
const GAP_X: f64 = 90.0;
const GAP_Y: f64 = 50.0;
const MARGIN: f64 = 30.0;
const HEAD: f64 = 44.0;
const IF_W: f64 = 104.0;
const IF_H: f64 = 26.0;
const LINE: f64 = 17.0;

/// Colours named after the lessons' namespaces, so that "blue" is blue on the slide.
fn colour(name: &str, kind: &str, index: usize) -> &'static str {
    const PALETTE: &[&str] = &[
        "#2f6fd6", "#d6452f", "#2f9e55", "#8a5a2b", "#8e44ad", "#16a085", "#e67e22", "#c2185b",
    ];
    match (kind, name) {
        ("root", _) => "#5f6b7a",
        (_, "blue") => "#2f6fd6",
        (_, "red") => "#d6452f",
        (_, "green") => "#2f9e55",
        (_, "brown") => "#8a5a2b",
        _ => PALETTE[index % PALETTE.len()],
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn iface_height(addresses: usize) -> f64 {
    (IF_H + 10.0).max(addresses as f64 * LINE + 14.0)
}

fn box_height(ns: &NsView) -> f64 {
    let body: f64 = ns
        .interfaces
        .iter()
        .map(|i| iface_height(i.addresses.len()))
        .sum();
    HEAD + body
        + if ns.default_route.is_some() {
            26.0
        } else {
            8.0
        }
}

pub fn svg(t: &Topology) -> String {
    // Place the boxes, then the interfaces inside them.
    let mut places: HashMap<End, Spot> = HashMap::new();
    let mut boxes = Vec::new();
    let mut y = MARGIN;
    // The root namespace on a row of its own, the others beneath it: wires from the root run
    // down into the gaps, and two namespaces joined by a veth pair sit side by side.
    let (root, rest): (Vec<&NsView>, Vec<&NsView>) =
        t.namespaces.iter().partition(|ns| ns.kind == "root");
    let rows: Vec<Vec<&NsView>> = root
        .into_iter()
        .map(|r| vec![r])
        .chain(rest.chunks(PER_ROW).map(<[&NsView]>::to_vec))
        .collect();
    for row in &rows {
        let h = row.iter().map(|ns| box_height(ns)).fold(0.0, f64::max);
        for (c, ns) in row.iter().enumerate() {
            let x = MARGIN + c as f64 * (BOX_W + GAP_X);
            let mut iy = y + HEAD;
            for i in &ns.interfaces {
                places.insert(
                    End {
                        namespace: ns.name.clone(),
                        interface: i.name.clone(),
                    },
                    Spot {
                        x: x + 16.0,
                        y: iy,
                        box_x: x,
                        box_y: y,
                    },
                );
                iy += iface_height(i.addresses.len());
            }
            boxes.push((ns, x, y, box_height(ns)));
        }
        y += h + GAP_Y;
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let width = MARGIN * 2.0 + cols * BOX_W + (cols - 1.0) * GAP_X;
    let height = (y - GAP_Y + MARGIN).max(MARGIN * 2.0);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    for (i, (ns, x, y, h)) in boxes.iter().enumerate() {
        let c = colour(&ns.name, &ns.kind, i);
        let dash = if ns.kind == "unnamed" {
            r#" stroke-dasharray="8 5""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<g class="netns" id="ns-{}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{h}" rx="16" fill="{c}" fill-opacity="0.10" stroke="{c}" stroke-width="2.5"{dash}/>"#,
            esc(&ns.name)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="17" font-weight="bold" fill="{c}">{}</text>"#,
            x + 16.0,
            y + 28.0,
            esc(&if ns.kind == "named" {
                format!("netns {}", ns.name)
            } else {
                ns.title()
            })
        );
        for iface in &ns.interfaces {
            let end = End {
                namespace: ns.name.clone(),
                interface: iface.name.clone(),
            };
            let Spot { x: ix, y: iy, .. } = places[&end];
            let dot = if iface.up { "#2e9e44" } else { "#c0392b" };
            let _ = writeln!(
                s,
                r##"<g class="iface"><rect x="{ix}" y="{iy}" width="{IF_W}" height="{IF_H}" rx="5" fill="#ffffff" stroke="#33383f" stroke-width="1.5"/><circle cx="{}" cy="{}" r="5" fill="{dot}"/><text x="{}" y="{}" font-size="13" fill="#1d2127">{}</text>"##,
                ix + 12.0,
                iy + IF_H / 2.0,
                ix + 22.0,
                iy + 17.5,
                esc(&iface.name)
            );
            for (k, a) in iface.addresses.iter().enumerate() {
                let _ = write!(
                    s,
                    r##"<text x="{}" y="{}" font-size="13" fill="#1d2127">{}</text>"##,
                    ix + IF_W + 12.0,
                    iy + 17.5 + k as f64 * LINE,
                    esc(a)
                );
            }
            let _ = writeln!(s, "</g>");
            // A bridge port hangs from its bridge: a dashed line on the box's left side.
            if let Some(m) = &iface.master {
                let me = places[&end];
                let me = (me.x, me.y);
                if let Some(br) = places
                    .get(&End {
                        namespace: ns.name.clone(),
                        interface: m.clone(),
                    })
                    .map(|p| (p.x, p.y))
                {
                    let _ = writeln!(
                        s,
                        r##"<path class="port" d="M {} {} C {} {}, {} {}, {} {}" fill="none" stroke="#33383f" stroke-width="1.5" stroke-dasharray="4 3"/>"##,
                        me.0,
                        me.1 + IF_H / 2.0,
                        me.0 - 12.0,
                        me.1 + IF_H / 2.0,
                        br.0 - 12.0,
                        br.1 + IF_H / 2.0,
                        br.0,
                        br.1 + IF_H / 2.0
                    );
                }
            }
        }
        if let Some(d) = &ns.default_route {
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" font-size="12" fill="#4a5059">{}</text>"##,
                x + 16.0,
                y + h - 10.0,
                esc(&d.to_string())
            );
        }
        let _ = writeln!(s, "</g>");
    }
    let lanes = t.wires.len() as f64;
    for (k, w) in t.wires.iter().enumerate() {
        // Lanes 8 px apart, centred in the gaps.
        let lane = (k as f64 - (lanes - 1.0) / 2.0) * 8.0;
        let (Some(&a), Some(&b)) = (places.get(&w.a), places.get(&w.b)) else {
            continue;
        };
        let _ = writeln!(
            s,
            r##"<path class="wire" d="{}" fill="none" stroke="#1d2127" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"><title>{}:{} - {}:{}</title></path>"##,
            wire_path(a, b, lane),
            esc(&w.a.namespace),
            esc(&w.a.interface),
            esc(&w.b.namespace),
            esc(&w.b.interface)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Where an interface is drawn: its corner, and its box's corner.
#[derive(Debug, Clone, Copy)]
struct Spot {
    x: f64,
    y: f64,
    box_x: f64,
    box_y: f64,
}

/// A wire between two interfaces. It runs only through the gaps between boxes, never across a
/// box or the addresses beside an interface: out of the left box under the interface's row, down
/// the gap to its right, along the gap above the other box's row, down the gap to the other
/// box's left, and in. Ends in one column (or one box) meet around the left side. `lane` shifts
/// the wire's runs through the gaps, so that wires sharing a gap run side by side.
fn wire_path(a: Spot, b: Spot, lane: f64) -> String {
    let mid = |p: Spot| p.y + IF_H / 2.0;
    if (a.box_x - b.box_x).abs() < 1.0 {
        let out = a.box_x - 30.0 - lane.abs();
        return format!(
            "M {} {} L {} {} C {out} {}, {out} {}, {} {} L {} {}",
            a.x,
            mid(a),
            a.box_x,
            mid(a),
            mid(a),
            mid(b),
            b.box_x,
            mid(b),
            b.x,
            mid(b)
        );
    }
    let (l, r) = if a.box_x < b.box_x { (a, b) } else { (b, a) };
    let rail = l.y + IF_H + 6.0;
    let sx = l.box_x + BOX_W + GAP_X / 2.0 + lane;
    let tx = r.box_x - GAP_X / 2.0 + lane;
    let mut d = format!(
        "M {} {} L {} {rail} L {sx} {rail}",
        l.x + IF_W - 10.0,
        l.y + IF_H,
        l.x + IF_W
    );
    if (sx - tx).abs() < 1.0 {
        // Neighbours: straight across the gap between them.
        d.push_str(&format!(" L {sx} {}", mid(r)));
    } else {
        let corridor = r.box_y - GAP_Y / 2.0 + lane;
        d.push_str(&format!(
            " L {sx} {corridor} L {tx} {corridor} L {tx} {}",
            mid(r)
        ));
    }
    d.push_str(&format!(" L {} {}", r.x, mid(r)));
    d
}
