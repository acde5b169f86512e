//! `nslab show`: the live kernel drawn as a picture. The topology is gathered once from the
//! kernel layer's snapshots into a model (also the JSON output); text, SVG and DOT are pure
//! renderings of that model.

mod dot;
mod svg;
mod text;

use serde::Serialize;

use crate::kernel::{Kernel, Snapshot};
use crate::lesson::Ns;

pub use dot::dot;
pub use svg::svg;
pub use text::render_text;

/// Which namespaces to draw, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these namespaces ("root" for the root one); empty means all.
    pub netns: Vec<String>,
    /// Box-drawing characters and colour (true), or plain ASCII.
    pub ascii: bool,
}

/// The documented JSON form (docs/show-json.md).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Topology {
    pub namespaces: Vec<NsView>,
    /// Each veth pair once.
    pub wires: Vec<Wire>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NsView {
    /// "root", the name in /run/netns, or "pid PID" for a namespace only a process holds.
    pub name: String,
    /// "root" | "named" | "unnamed"
    pub kind: String,
    pub inode: Option<u64>,
    /// For an unnamed namespace: the first process in it, and its command.
    pub pid: Option<u32>,
    pub command: Option<String>,
    pub interfaces: Vec<Iface>,
    pub default_route: Option<DefaultRoute>,
}

impl NsView {
    /// How pictures name the namespace: `root namespace`, its name, or `pid N cmd (unnamed)`.
    pub fn title(&self) -> String {
        match self.kind.as_str() {
            "root" => "root namespace".into(),
            "unnamed" => format!(
                "{} {} (unnamed)",
                self.name,
                self.command.as_deref().unwrap_or("")
            ),
            _ => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// The operational state ("up", "down", "lowerlayerdown", "unknown").
    pub state: String,
    pub mac: Option<String>,
    pub addresses: Vec<String>,
    /// The bridge this interface is a port of.
    pub master: Option<String>,
    /// For a bridge: its ports.
    pub ports: Vec<String>,
    /// For a veth: its other end.
    pub peer: Option<End>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct End {
    pub namespace: String,
    pub interface: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Wire {
    pub a: End,
    pub b: End,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DefaultRoute {
    pub via: Option<String>,
    pub dev: Option<String>,
}

impl std::fmt::Display for DefaultRoute {
    /// `default via 10.1.0.1 dev blue1`, as `ip route` says it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("default")?;
        if let Some(v) = &self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        Ok(())
    }
}

fn view(name: String, kind: &str, inode: Option<u64>, snap: &Snapshot) -> NsView {
    let mut interfaces: Vec<Iface> = snap
        .links
        .iter()
        .map(|l| Iface {
            name: l.name.clone(),
            kind: l.kind.clone(),
            up: l.up,
            state: l.oper.clone(),
            mac: l.mac.clone(),
            addresses: snap.addrs_of(&l.name).map(|a| a.cidr.to_string()).collect(),
            master: l.master.clone(),
            ports: snap
                .links
                .iter()
                .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
                .map(|p| p.name.clone())
                .collect(),
            peer: l.peer.as_ref().and_then(|p| {
                Some(End {
                    namespace: p.ns.as_ref()?.name().to_string(),
                    interface: p.name.clone()?,
                })
            }),
        })
        .collect();
    // A stable order: loopback, then bridges (their ports follow), then by name; a new
    // interface never moves the others around more than it must.
    let key = |i: &Iface| {
        (
            i.name != "lo",
            i.kind.as_deref() != Some("bridge"),
            i.name.clone(),
        )
    };
    interfaces.sort_by_key(key);
    let default_route = snap
        .routes
        .iter()
        .find(|r| r.dest.is_none())
        .map(|r| DefaultRoute {
            via: r.via.map(|v| v.to_string()),
            dev: r.dev.clone(),
        });
    NsView {
        name,
        kind: kind.to_string(),
        inode,
        pid: None,
        command: None,
        interfaces,
        default_route,
    }
}

/// Reads the whole picture from the kernel: the root namespace, every named one, and every
/// unnamed one a process holds.
pub fn gather(k: &Kernel, opts: &Options) -> Topology {
    let wanted = |name: &str| opts.netns.is_empty() || opts.netns.iter().any(|n| n == name);
    let mut namespaces = Vec::new();
    let root_inode = k.netns_inode(&Ns::Root);
    if wanted("root")
        && let Ok(s) = k.snapshot(&Ns::Root)
    {
        namespaces.push(view("root".into(), "root", root_inode, &s));
    }
    for name in k.netns_list() {
        if !wanted(&name) || !k.netns_exists(&name) {
            continue;
        }
        let ns = Ns::Named(name.clone());
        if let Ok(s) = k.snapshot(&ns) {
            namespaces.push(view(name, "named", k.netns_inode(&ns), &s));
        }
    }
    for info in k.net_namespaces() {
        let held_by_name = !info.names.is_empty();
        let Some(pid) = info.pid else { continue };
        if held_by_name || Some(info.inode) == root_inode {
            continue;
        }
        let label = format!("pid {pid}");
        if !wanted(&label) {
            continue;
        }
        if let Ok(s) = k.snapshot_of_pid(pid) {
            let mut v = view(label, "unnamed", Some(info.inode), &s);
            v.pid = Some(pid);
            v.command = info.command.clone();
            namespaces.push(v);
        }
    }
    let mut wires: Vec<Wire> = Vec::new();
    for ns in &namespaces {
        for i in &ns.interfaces {
            let Some(peer) = &i.peer else { continue };
            let me = End {
                namespace: ns.name.clone(),
                interface: i.name.clone(),
            };
            let (a, b) = if me <= *peer {
                (me, peer.clone())
            } else {
                (peer.clone(), me)
            };
            if !wires.iter().any(|w| w.a == a && w.b == b) {
                wires.push(Wire { a, b });
            }
        }
    }
    Topology { namespaces, wires }
}

/// The text picture of the live kernel (for demo and learn's `g`).
pub fn text(k: &Kernel, opts: &Options) -> String {
    render_text(
        &gather(k, opts),
        crate::term::width(),
        opts.ascii || !utf8_terminal(),
    )
}

/// Whether the terminal takes UTF-8 (box-drawing characters), from the locale.
pub fn utf8_terminal() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .is_some_and(|v| {
            let v = v.to_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}
