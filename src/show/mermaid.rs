//! The topology as a Mermaid flowchart, for a lesson's Markdown on a forge that renders
//! ```` ```mermaid ```` blocks: a subgraph per namespace, a node per interface (and one for its
//! default route), an edge per veth pair (thick) and per bridge port (thin). Ids are made up
//! (`n0_1`), and every label is quoted with Mermaid's entity codes for the characters that
//! would end it.

use std::collections::HashMap;
use std::fmt::Write;

use super::escape::mermaid as esc;
use super::layout::{self, locate};
use super::model::{End, Iface, Mark, NsKind, Topology};

fn iface_label(i: &Iface) -> String {
    let mut l = esc(&i.name);
    if i.is_bridge() {
        l.push_str(" (bridge)");
    }
    if let Some(w) = Mark::word(i.mark) {
        let _ = write!(l, " ({w})");
    }
    if i.mark != Some(Mark::Missing) {
        let _ = write!(l, "<br/>{}", i.link_state().word());
    }
    for a in &i.addresses {
        let _ = write!(l, "<br/>{}", esc(&a.cidr));
        if let Some(w) = Mark::word(a.mark) {
            let _ = write!(l, " ({w})");
        }
    }
    l
}

/// The edge between two nodes: `thick` for a veth pair; a diff's mark dotted (missing) or
/// thick (extra), with the word on the edge.
fn edge(a: &str, b: &str, thick: bool, m: Option<Mark>) -> String {
    match (m, thick) {
        (Some(Mark::Missing), _) => format!("  {a} -. missing .- {b}"),
        (Some(Mark::Extra), _) => format!("  {a} == extra === {b}"),
        (_, true) => format!("  {a} === {b}"),
        (_, false) => format!("  {a} --- {b}"),
    }
}

pub fn mermaid(t: &Topology) -> String {
    let mut s = String::from("flowchart LR\n");
    let id = |n: usize, i: usize| format!("n{n}_{i}");
    let mut styles = Vec::new();
    let plan = layout::plan(t);
    for n in plan.order() {
        let ns = &t.namespaces[n];
        let mut title = esc(&ns.label());
        if ns.forwarding == Some(true) {
            title.push_str(", forwarding on");
        }
        if let Some(w) = Mark::word(ns.mark) {
            let _ = write!(title, " ({w})");
        }
        let _ = writeln!(s, "  subgraph ns{n} [\"{title}\"]");
        for (k, i) in ns.interfaces.iter().enumerate() {
            let label = iface_label(i);
            // A bridge is drawn as a hexagon: the switch.
            let node = if i.is_bridge() {
                format!("{{{{\"{label}\"}}}}")
            } else {
                format!("[\"{label}\"]")
            };
            let _ = writeln!(s, "    {}{node}", id(n, k));
            if let Some(w) = Mark::word(i.mark) {
                styles.push(format!("  class {} {w}", id(n, k)));
            }
        }
        // The default route: a node of its own (a parallelogram), as `ip route` says it.
        if let Some(d) = &ns.default_route {
            let mut l = esc(&d.to_string());
            if let Some(w) = Mark::word(d.mark) {
                let _ = write!(l, " ({w})");
                styles.push(format!("  class r{n} {w}"));
            }
            let _ = writeln!(s, "    r{n}[/\"{l}\"/]");
        }
        let _ = writeln!(s, "  end");
        match (ns.mark, ns.kind) {
            (Some(Mark::Missing), _) | (_, NsKind::Unnamed) => {
                styles.push(format!("  style ns{n} stroke-dasharray:6 4"));
            }
            (Some(Mark::Extra), _) => styles.push(format!("  style ns{n} stroke-width:4px")),
            _ => {}
        }
    }
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
                let _ = writeln!(s, "{}", edge(&x, &y, false, i.master_mark));
            }
        }
    }
    let at = locate(t);
    let mut stubs = 0;
    for w in &t.wires {
        let mut end = |e: &End| match at.get(e) {
            Some(&(n, i)) => id(n, i),
            None => {
                stubs += 1;
                let _ = writeln!(s, "  stub{stubs}([\"{}\"])", esc(&e.to_string()));
                format!("stub{stubs}")
            }
        };
        let (first, second) = plan.flow(&at, &w.a, &w.b);
        let (a, b) = (end(first), end(second));
        let _ = writeln!(s, "{}", edge(&a, &b, true, w.mark));
    }
    if !styles.is_empty() {
        s.push_str("  classDef missing stroke-dasharray:6 4\n");
        s.push_str("  classDef extra stroke-width:4px\n");
        for l in styles {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::model::{Iface, NsView};

    #[test]
    fn labels_are_quoted_and_cannot_break_out() {
        let t = Topology::new(vec![
            NsView::named("blue \"a\" #1")
                .with(Iface::bridge("br[0]").up())
                .with(
                    Iface::veth("x\u{1b}[2J", "red", "v`1`")
                        .master("br[0]")
                        .address("10.1.0.2/24"),
                ),
            NsView::named("red").with(Iface::veth("v`1`", "blue \"a\" #1", "x\u{1b}[2J")),
        ]);
        let m = mermaid(&t);
        assert!(m.starts_with("flowchart LR\n"));
        assert!(!m.contains('\u{1b}') && !m.contains('`'), "{m:?}");
        assert!(
            m.contains("subgraph ns0 [\"netns blue #quot;a#quot; #35;1\"]"),
            "{m}"
        );
        assert!(m.contains("n0_0{{\"br[0] (bridge)<br/>UP\"}}"), "{m}");
        assert!(
            m.contains("n0_1[\"x\\x1b[2J<br/>DOWN<br/>10.1.0.2/24\"]"),
            "{m}"
        );
        // The port faces red, on the right: the bridge comes first.
        assert!(m.contains("  n0_0 --- n0_1\n"), "{m}");
        assert!(m.contains("  n0_1 === n1_0\n"), "{m}");
        // Inside each quoted label, no quote: every label is one token.
        for line in m.lines() {
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        }
        assert_eq!(
            m.matches("subgraph").count(),
            m.matches("\n  end\n").count()
        );
    }

    #[test]
    fn marks_are_words_on_dotted_or_thick_edges() {
        let mut t = Topology::new(vec![
            NsView::named("blue").with(Iface::veth("veth0", "red", "veth1")),
            NsView::named("red").with(Iface::veth("veth1", "blue", "veth0")),
        ]);
        t.wires[0].mark = Some(Mark::Missing);
        t.namespaces[1].mark = Some(Mark::Missing);
        t.namespaces[1].interfaces[0].mark = Some(Mark::Missing);
        let m = mermaid(&t);
        assert!(m.contains("n0_0 -. missing .- n1_0"), "{m}");
        assert!(m.contains("[\"netns red (missing)\"]"), "{m}");
        assert!(m.contains("class n1_0 missing"), "{m}");
        assert!(m.contains("style ns1 stroke-dasharray"), "{m}");
    }

    #[test]
    fn the_default_route_is_a_node() {
        let mut t = Topology::new(vec![
            NsView::named("blue")
                .with(Iface::veth("veth0", "red", "veth1"))
                .default_via("10.1.0.1"),
        ]);
        let m = mermaid(&t);
        assert!(m.contains("    r0[/\"default via 10.1.0.1\"/]\n"), "{m}");
        t.namespaces[0].default_route.as_mut().unwrap().mark = Some(Mark::Missing);
        let m = mermaid(&t);
        assert!(
            m.contains("r0[/\"default via 10.1.0.1 (missing)\"/]"),
            "{m}"
        );
        assert!(m.contains("class r0 missing"), "{m}");
    }
}
