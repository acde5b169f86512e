//! Reading the topology from the kernel layer's snapshots: which namespaces, what nslab could
//! not see, and veth peers labelled even when their namespace has no name.

use std::collections::HashMap;

use crate::kernel::{Kernel, Snapshot};
use crate::lesson::Ns;

use super::escape::visible;
use super::model::UNNAMED_PEER;
use super::model::{Address, DefaultRoute, End, Iface, LinkKind, NsKind, NsView, Topology};

/// Which namespaces to draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// The root namespace and the named ones (/run/netns): what a lesson makes.
    #[default]
    Lab,
    /// Those, and every namespace only a process holds (other tools' sandboxes, browsers).
    All,
    /// Exactly these, in this order (`--netns`, or a lesson's namespaces). A name `pid N` that
    /// is not in /run/netns means the namespace of process N.
    Only(Vec<Ns>),
}

/// Which namespaces to draw, and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub scope: Scope,
    /// Plain ASCII (true), or box-drawing characters and colour.
    pub ascii: bool,
}

/// A namespace nslab was asked to draw but could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unseen {
    pub namespace: String,
    pub why: String,
}

/// What `gather` read, and what it could not.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    pub topology: Topology,
    pub unseen: Vec<Unseen>,
}

impl Gathered {
    /// The note for stderr: each namespace that could not be read, escaped for a terminal.
    pub fn notes(&self) -> Vec<String> {
        self.unseen
            .iter()
            .map(|u| {
                format!(
                    "cannot see namespace '{}': {}",
                    visible(&u.namespace),
                    visible(&u.why)
                )
            })
            .collect()
    }
}

/// A request nslab cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatherError {
    /// `--netns NAME` names no namespace.
    NoSuchNetns {
        name: String,
        suggestion: Option<String>,
    },
}

impl std::fmt::Display for GatherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GatherError::NoSuchNetns { name, suggestion } => {
                write!(f, "no namespace '{}'", visible(name))?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean '{}'?)", visible(s))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GatherError {}

/// One namespace to read: how the kernel layer reaches it, and how pictures name it.
enum Source {
    Ns(Ns),
    Pid { pid: u32, command: Option<String> },
}

fn view(name: String, kind: NsKind, inode: Option<u64>, snap: &Snapshot) -> NsView {
    let mut interfaces: Vec<Iface> = snap
        .links
        .iter()
        .map(|l| Iface {
            name: l.name.clone(),
            kind: l.kind.as_deref().map(LinkKind::from_name),
            up: l.up,
            state: l.oper.clone(),
            carrier: l.lower_up,
            mac: l.mac.clone(),
            // The IPv6 addresses every link gets by itself (link-local, and ::1 on lo) would
            // crowd the picture; the ones a lesson adds are shown.
            addresses: snap
                .addrs_of(&l.name)
                .filter(|a| a.cidr.is_v4() || a.scope < 253)
                .map(|a| Address::new(a.cidr.to_string()))
                .collect(),
            master: l.master.clone(),
            master_mark: None,
            meant_up: None,
            ports: snap
                .links
                .iter()
                .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
                .map(|p| p.name.clone())
                .collect(),
            // A peer the kernel layer could not place gets its label in `label_peers`.
            peer: l.peer.as_ref().map(|p| match (&p.ns, &p.name) {
                (Some(ns), Some(n)) => End::new(ns.name(), n.clone()),
                _ => End::new(UNNAMED_PEER, format!("if{}", p.index)),
            }),
            mark: None,
        })
        .collect();
    // A stable order: loopback, then bridges (their ports follow), then by name; a new
    // interface never moves the others around more than it must.
    interfaces.sort_by_key(|i| (i.name != "lo", !i.is_bridge(), i.name.clone()));
    let default_route = snap
        .routes
        .iter()
        .find(|r| r.dest.is_none())
        .map(|r| DefaultRoute {
            via: r.via.map(|v| v.to_string()),
            dev: r.dev.clone(),
            mark: None,
        });
    NsView {
        name,
        kind,
        inode,
        pid: None,
        command: None,
        forwarding: None,
        interfaces,
        default_route,
        mark: None,
    }
}

fn forwarding(k: &Kernel, ns: &Ns) -> Option<bool> {
    k.sysctl_read(ns, "net.ipv4.ip_forward")
        .ok()
        .map(|v| v.trim() == "1")
}

/// Reads the namespaces `opts` asks for. An unknown `--netns` name is an error; a namespace
/// that exists but cannot be read (no privilege) is left out and reported in `unseen`.
pub fn gather(k: &Kernel, opts: &Options) -> Result<Gathered, GatherError> {
    // A connection into a namespace deleted since the last picture would keep it (and the veth
    // pairs in it) alive: `show --watch` must not undo the student's `ip netns del`.
    k.prune();
    // Entries not (yet) mounted are namespaces being made: `ip netns add` creates the file first.
    let named: Vec<String> = k
        .netns_list()
        .into_iter()
        .filter(|n| k.netns_exists(n))
        .collect();
    let root_inode = k.netns_inode(&Ns::Root);
    // Namespaces only a process holds: (pid, command), one per namespace.
    let unnamed = || -> Vec<(u32, Option<String>)> {
        k.net_namespaces()
            .into_iter()
            .filter(|i| i.names.is_empty() && Some(i.inode) != root_inode)
            .filter_map(|i| Some((i.pid?, i.command)))
            .collect()
    };
    let sources: Vec<Source> = match &opts.scope {
        Scope::Lab | Scope::All => {
            let mut v = vec![Source::Ns(Ns::Root)];
            v.extend(named.iter().map(|n| Source::Ns(Ns::Named(n.clone()))));
            if opts.scope == Scope::All {
                v.extend(
                    unnamed()
                        .into_iter()
                        .map(|(pid, command)| Source::Pid { pid, command }),
                );
            }
            v
        }
        Scope::Only(list) => {
            let mut v = Vec::new();
            for ns in list {
                v.push(match ns {
                    Ns::Root => Source::Ns(Ns::Root),
                    Ns::Named(n) if named.contains(n) => Source::Ns(ns.clone()),
                    Ns::Named(n) => match pid_label(n) {
                        Some(pid) if k.netns_inode_of_pid(pid).is_some() => Source::Pid {
                            pid,
                            command: unnamed()
                                .into_iter()
                                .find(|(p, _)| *p == pid)
                                .and_then(|(_, c)| c),
                        },
                        _ => {
                            let mut candidates: Vec<&str> =
                                named.iter().map(String::as_str).collect();
                            candidates.push("root");
                            return Err(GatherError::NoSuchNetns {
                                name: n.clone(),
                                suggestion: crate::diag::suggest(n, &candidates)
                                    .map(str::to_string),
                            });
                        }
                    },
                });
            }
            v
        }
    };

    let mut unseen = Vec::new();
    let mut namespaces = Vec::new();
    for src in sources {
        match src {
            Source::Ns(ns) => {
                let label = ns.name().to_string();
                if matches!(ns, Ns::Named(_)) && namespaces.iter().any(|v: &NsView| v.name == label)
                {
                    continue;
                }
                match k.snapshot(&ns) {
                    Ok(s) => {
                        let kind = if ns.is_root() {
                            NsKind::Root
                        } else {
                            NsKind::Named
                        };
                        let mut v = view(label, kind, k.netns_inode(&ns), &s);
                        v.forwarding = forwarding(k, &ns);
                        namespaces.push(v);
                    }
                    Err(e) => unseen.push(Unseen {
                        namespace: label,
                        why: why(&e.to_string()),
                    }),
                }
            }
            Source::Pid { pid, command } => {
                let label = format!("pid {pid}");
                match k.snapshot_of_pid(pid) {
                    Ok(s) => {
                        let mut v = view(label, NsKind::Unnamed, k.netns_inode_of_pid(pid), &s);
                        v.pid = Some(pid);
                        v.command = command;
                        namespaces.push(v);
                    }
                    Err(e) => unseen.push(Unseen {
                        namespace: label,
                        why: why(&e.to_string()),
                    }),
                }
            }
        }
    }
    if opts.scope == Scope::All {
        // Other users' processes hold namespaces a normal user cannot open: one line for all.
        let hidden = unseen
            .iter()
            .filter(|u| u.namespace.starts_with("pid "))
            .count();
        if hidden > 1 {
            unseen.retain(|u| !u.namespace.starts_with("pid "));
            unseen.push(Unseen {
                namespace: format!("{hidden} unnamed namespaces"),
                why: "their processes' /proc/PID/ns/net cannot be entered (run as root)".into(),
            });
        }
    }
    label_peers(k, &mut namespaces);
    Ok(Gathered {
        topology: Topology::new(namespaces),
        unseen,
    })
}

/// "pid 42" -> 42.
fn pid_label(name: &str) -> Option<u32> {
    name.strip_prefix("pid ")?.parse().ok()
}

/// The kernel's refusal, with what to do about the usual one.
fn why(err: &str) -> String {
    if err.contains("Operation not permitted") || err.contains("Permission denied") {
        format!("{err} (entering a namespace needs root: sudo nslab show)")
    } else {
        err.to_string()
    }
}

/// A veth whose peer lives in a namespace no name holds: the kernel layer leaves the peer
/// unplaced (`(unnamed)`, `ifN`). The namespace of a process may hold it: that namespace, read
/// from its side, names this end as its peer. Read only when some peer needs it.
fn label_peers(k: &Kernel, namespaces: &mut [NsView]) {
    let wanted = |namespaces: &[NsView]| {
        namespaces.iter().any(|n| {
            n.interfaces
                .iter()
                .any(|i| i.peer.as_ref().is_some_and(|p| p.namespace == UNNAMED_PEER))
        })
    };
    if !wanted(namespaces) {
        return;
    }
    // End as seen from the far side -> the far end's own name.
    let mut far: HashMap<End, End> = HashMap::new();
    let mut note = |v: &NsView| {
        for i in &v.interfaces {
            if let Some(p) = &i.peer {
                far.insert(p.clone(), End::new(&v.name, &i.name));
            }
        }
    };
    let drawn: Vec<String> = namespaces
        .iter()
        .filter(|n| n.kind == NsKind::Unnamed)
        .map(|n| n.name.clone())
        .collect();
    for v in namespaces.iter().filter(|n| n.kind == NsKind::Unnamed) {
        note(v);
    }
    let root_inode = k.netns_inode(&Ns::Root);
    for info in k.net_namespaces() {
        let Some(pid) = info.pid else { continue };
        if !info.names.is_empty()
            || Some(info.inode) == root_inode
            || drawn.contains(&format!("pid {pid}"))
        {
            continue;
        }
        if let Ok(s) = k.snapshot_of_pid(pid) {
            note(&view(format!("pid {pid}"), NsKind::Unnamed, None, &s));
        }
    }
    for ns in namespaces.iter_mut() {
        for i in &mut ns.interfaces {
            if let Some(p) = &mut i.peer
                && p.namespace == UNNAMED_PEER
                && let Some(f) = far.get(&End::new(&ns.name, &i.name))
            {
                *p = f.clone();
            }
        }
    }
}
