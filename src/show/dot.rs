//! The topology for Graphviz: a cluster per namespace, a node per interface (and a line of
//! text for its default route), an edge per veth pair (bold) and per bridge port (thin). Labels are Graphviz's HTML-like labels: `<BR/>` is
//! a real line break, names are XML-escaped (a quoted label's `\n` would be printed as a
//! backslash and an n once the name's own backslashes are escaped), and node ids are made up
//! (`n0_1`), so that no name ever has to be quoted.

use std::collections::HashMap;
use std::fmt::Write;

use super::escape::xml;
use super::layout::{self, locate};
use super::model::{Iface, Mark, NsKind, Topology};

/// A label line in italics: the state of a link that is not up, or a diff's mark.
fn note(s: &str) -> String {
    format!("<BR/><I>{s}</I>")
}

fn iface_label(i: &Iface) -> String {
    let mut l = format!("<B>{}</B>", xml(&i.name));
    if i.is_bridge() {
        l.push_str(" (bridge)");
    }
    if let Some(w) = Mark::word(i.mark) {
        let _ = write!(l, " <I>{w}</I>");
    }
    if i.mark != Some(Mark::Missing) {
        l.push_str(&note(i.link_state().word()));
    }
    for a in &i.addresses {
        let _ = write!(l, "<BR/>{}", xml(&a.cidr));
        if let Some(w) = Mark::word(a.mark) {
            let _ = write!(l, " <I>{w}</I>");
        }
    }
    l
}

/// Edge attributes for a diff's mark: missing dashed, extra a double line; both labelled.
fn edge_mark(m: Option<Mark>) -> &'static str {
    match m {
        Some(Mark::Missing) => r#", style=dashed, label="missing""#,
        Some(Mark::Extra) => r#", color="black:invis:black", label="extra""#,
        _ => "",
    }
}

pub fn dot(t: &Topology) -> String {
    let mut s = String::from(
        "graph nslab {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"DejaVu Sans\"];\n",
    );
    let id = |n: usize, i: usize| format!("n{n}_{i}");
    let plan = layout::plan(t);
    for n in plan.order() {
        let ns = &t.namespaces[n];
        let mut title = xml(&ns.label());
        if ns.forwarding == Some(true) {
            title.push_str(&note("forwarding on"));
        }
        if let Some(w) = Mark::word(ns.mark) {
            title.push_str(&note(w));
        }
        let _ = writeln!(s, "  subgraph cluster_{n} {{\n    label=<{title}>;");
        match (ns.mark, ns.kind) {
            (Some(Mark::Missing), _) | (_, NsKind::Unnamed) => {
                let _ = writeln!(s, "    style=dashed;");
            }
            (Some(Mark::Extra), _) => {
                let _ = writeln!(s, "    style=bold; penwidth=3;");
            }
            _ => {}
        }
        for (k, i) in ns.interfaces.iter().enumerate() {
            let mut attrs = format!("label=<{}>", iface_label(i));
            if i.is_bridge() {
                attrs.push_str(", shape=box3d");
            }
            match i.mark {
                Some(Mark::Missing) => attrs.push_str(", style=\"rounded,dashed\""),
                Some(Mark::Extra) => attrs.push_str(", peripheries=2"),
                _ => {}
            }
            let _ = writeln!(s, "    {} [{attrs}];", id(n, k));
        }
        // The default route: a line of text in the namespace, as `ip route` says it.
        if let Some(d) = &ns.default_route {
            let mut l = xml(&d.to_string());
            if let Some(w) = Mark::word(d.mark) {
                let _ = write!(l, " <I>{w}</I>");
            }
            let _ = writeln!(s, "    r{n} [shape=plaintext, label=<{l}>];");
        }
        let _ = writeln!(s, "  }}");
    }
    // Bridge ports: from the port to its bridge, in the same namespace.
    for (n, ns) in t.namespaces.iter().enumerate() {
        let index: HashMap<&str, usize> = ns
            .interfaces
            .iter()
            .enumerate()
            .map(|(k, i)| (i.name.as_str(), k))
            .collect();
        for (k, i) in ns.interfaces.iter().enumerate() {
            if let Some(b) = i.master.as_deref().and_then(|m| index.get(m)) {
                let (x, y) = if plan.port_first(n, k) {
                    (id(n, k), id(n, *b))
                } else {
                    (id(n, *b), id(n, k))
                };
                let _ = writeln!(s, "  {x} -- {y} [penwidth=1{}];", edge_mark(i.master_mark));
            }
        }
    }
    // Veth pairs; an end in a namespace not drawn becomes a plain node of its own.
    let at = locate(t);
    let mut stubs = 0;
    for w in &t.wires {
        let mut end = |e: &super::model::End| match at.get(e) {
            Some(&(n, i)) => id(n, i),
            None => {
                stubs += 1;
                let _ = writeln!(
                    s,
                    "  stub{stubs} [shape=plaintext, label=<{}>];",
                    xml(&e.to_string())
                );
                format!("stub{stubs}")
            }
        };
        let (first, second) = plan.flow(&at, &w.a, &w.b);
        let (a, b) = (end(first), end(second));
        let _ = writeln!(s, "  {a} -- {b} [penwidth=3{}];", edge_mark(w.mark));
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::model::{Iface, NsView};

    fn hostile() -> Topology {
        Topology::new(vec![
            NsView::named("blue \"quoted\"")
                .with(Iface::loopback().up().address("127.0.0.1/8"))
                .with(
                    Iface::veth("x\u{1b}[2J", "red", "v<1>")
                        .up()
                        .address("10.1.0.2/24"),
                ),
            NsView::named("red").with(Iface::veth("v<1>", "blue \"quoted\"", "x\u{1b}[2J")),
        ])
    }

    #[test]
    fn lines_break_for_real_and_names_cannot_break_out() {
        let d = dot(&hostile());
        // No escaped newline for Graphviz to print as a backslash and an n.
        assert!(!d.contains("\\n") && !d.contains("\\\\n"), "{d}");
        assert!(d.contains("<B>lo</B><BR/><I>UP</I><BR/>127.0.0.1/8"), "{d}");
        assert!(!d.contains('\u{1b}'), "{d:?}");
        assert!(d.contains("x\\x1b[2J"), "{d}");
        assert!(d.contains("netns blue &quot;quoted&quot;"), "{d}");
        assert!(d.contains("v&lt;1&gt;"), "{d}");
        // Every quote is balanced; every HTML label closes on its line and holds no markup
        // but the tags nslab writes.
        for line in d.lines() {
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
            let mut rest = line;
            while let Some(p) = rest.find("=<") {
                let body = &rest[p + 2..];
                let mut depth = 1;
                let end = body
                    .char_indices()
                    .find_map(|(k, c)| {
                        match c {
                            '<' => depth += 1,
                            '>' => depth -= 1,
                            _ => {}
                        }
                        (depth == 0).then_some(k)
                    })
                    .expect("the label closes on its line");
                let text = ["<B>", "</B>", "<BR/>", "<I>", "</I>"]
                    .iter()
                    .fold(body[..end].to_string(), |s, t| s.replace(t, ""));
                assert!(!text.contains(['<', '>']), "{line}");
                rest = &body[end..];
            }
        }
        assert_eq!(d.matches('{').count(), d.matches('}').count());
        assert!(d.contains("n0_1 -- n1_0 [penwidth=3];"), "{d}");
    }

    #[test]
    fn marks_have_a_style_and_a_word() {
        let mut t = hostile();
        t.wires[0].mark = Some(Mark::Missing);
        t.namespaces[1].interfaces[0].mark = Some(Mark::Extra);
        let d = dot(&t);
        assert!(d.contains("style=dashed, label=\"missing\""), "{d}");
        assert!(d.contains("peripheries=2"), "{d}");
        assert!(d.contains("<I>extra</I>"), "{d}");
    }

    #[test]
    fn the_default_route_is_drawn() {
        let mut t = Topology::new(vec![
            NsView::named("blue")
                .with(Iface::veth("veth0", "red", "veth1").up())
                .default_via("10.1.0.1"),
            NsView::named("red").with(Iface::veth("veth1", "blue", "veth0")),
        ]);
        t.namespaces[1].default_route = Some(crate::show::DefaultRoute {
            via: None,
            dev: Some("veth<1>".into()),
            mark: Some(Mark::Missing),
        });
        let d = dot(&t);
        assert!(
            d.contains("    r0 [shape=plaintext, label=<default via 10.1.0.1>];"),
            "{d}"
        );
        assert!(
            d.contains("r1 [shape=plaintext, label=<default dev veth&lt;1&gt; <I>missing</I>>];"),
            "{d}"
        );
    }
}
