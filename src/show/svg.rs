//! The topology as SVG, for slides: rounded boxes in distinct colours for namespaces,
//! interfaces inside, addresses beside them, wires between veth ends. The layout depends only
//! on the names (namespaces in a fixed grid, interfaces in a fixed order), so the picture of one
//! step differs from the previous one only where the kernel changed.

use std::collections::HashMap;
use std::fmt::Write;

use super::{End, NsView, Topology};

const PER_ROW: usize = 3;
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
    let mut places: HashMap<End, (f64, f64, f64)> = HashMap::new();
    let mut boxes = Vec::new();
    let mut y = MARGIN;
    for row in t.namespaces.chunks(PER_ROW) {
        let h = row.iter().map(box_height).fold(0.0, f64::max);
        for (c, ns) in row.iter().enumerate() {
            let x = MARGIN + c as f64 * (BOX_W + GAP_X);
            let mut iy = y + HEAD;
            for i in &ns.interfaces {
                places.insert(
                    End {
                        namespace: ns.name.clone(),
                        interface: i.name.clone(),
                    },
                    (x + 16.0, iy, x),
                );
                iy += iface_height(i.addresses.len());
            }
            boxes.push((ns, x, y, box_height(ns)));
        }
        y += h + GAP_Y;
    }
    let cols = t.namespaces.len().clamp(1, PER_ROW) as f64;
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
            let (ix, iy, _) = places[&end];
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
                if let Some(br) = places.get(&End {
                    namespace: ns.name.clone(),
                    interface: m.clone(),
                }) {
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
            let via = d
                .via
                .as_deref()
                .map(|v| format!(" via {v}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" font-size="12" fill="#4a5059">default{}</text>"##,
                x + 16.0,
                y + h - 10.0,
                esc(&via)
            );
        }
        let _ = writeln!(s, "</g>");
    }
    for w in &t.wires {
        let (Some(&a), Some(&b)) = (places.get(&w.a), places.get(&w.b)) else {
            continue;
        };
        let _ = writeln!(
            s,
            r##"<path class="wire" d="{}" fill="none" stroke="#1d2127" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"><title>{}:{} - {}:{}</title></path>"##,
            wire_path(a, b),
            esc(&w.a.namespace),
            esc(&w.a.interface),
            esc(&w.b.namespace),
            esc(&w.b.interface)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A wire between two interfaces, each given as (x, y, x of its box). It never crosses the
/// address text beside an interface: from a box on the left it runs under the interface's row
/// to the box's right border; into a box on the right it enters from the left border; ends in
/// one column (or one box) meet around the left side.
fn wire_path(a: (f64, f64, f64), b: (f64, f64, f64)) -> String {
    let mid = |p: (f64, f64, f64)| p.1 + IF_H / 2.0;
    if (a.2 - b.2).abs() < 1.0 {
        let out = a.2 - 40.0;
        return format!(
            "M {} {} L {} {} C {out} {}, {out} {}, {} {} L {} {}",
            a.0,
            mid(a),
            a.2,
            mid(a),
            mid(a),
            mid(b),
            b.2,
            mid(b),
            b.0,
            mid(b)
        );
    }
    let (l, r) = if a.2 < b.2 { (a, b) } else { (b, a) };
    let rail = l.1 + IF_H + 6.0;
    let border = l.2 + BOX_W;
    let gap_mid = (border + r.2) / 2.0;
    format!(
        "M {} {} L {} {rail} L {border} {rail} C {gap_mid} {rail}, {gap_mid} {}, {} {} L {} {}",
        l.0 + IF_W - 10.0,
        l.1 + IF_H,
        l.0 + IF_W,
        mid(r),
        r.2,
        mid(r),
        r.0,
        mid(r)
    )
}
