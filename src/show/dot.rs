//! The topology for graphviz: a cluster per namespace, a node per interface, an edge per veth
//! pair (bold) and per bridge port (dashed).

use std::fmt::Write;

use super::Topology;

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn dot(t: &Topology) -> String {
    let mut s = String::from(
        "graph nslab {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
    );
    for (n, ns) in t.namespaces.iter().enumerate() {
        let _ = writeln!(s, "  subgraph cluster_{n} {{\n    label={};", q(&ns.name));
        if ns.kind == "unnamed" {
            let _ = writeln!(s, "    style=dashed;");
        }
        for i in &ns.interfaces {
            let mut label = format!("{}{}", i.name, if i.up { "" } else { " (down)" });
            for a in &i.addresses {
                label.push_str(&format!("\\n{a}"));
            }
            let _ = writeln!(
                s,
                "    {} [label={}];",
                q(&format!("{}/{}", ns.name, i.name)),
                q(&label)
            );
        }
        let _ = writeln!(s, "  }}");
        for i in ns.interfaces.iter() {
            if let Some(m) = &i.master {
                let _ = writeln!(
                    s,
                    "  {} -- {} [style=dashed];",
                    q(&format!("{}/{}", ns.name, i.name)),
                    q(&format!("{}/{m}", ns.name))
                );
            }
        }
    }
    for w in &t.wires {
        let _ = writeln!(
            s,
            "  {} -- {} [penwidth=3];",
            q(&format!("{}/{}", w.a.namespace, w.a.interface)),
            q(&format!("{}/{}", w.b.namespace, w.b.interface))
        );
    }
    s.push_str("}\n");
    s
}
