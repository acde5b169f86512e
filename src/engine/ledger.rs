//! The ledger: what nslab made or changed, so that it can undo exactly that and never touch
//! what it did not make.
//!
//! Two records. [`file`] is the ledger on disk: for each lesson that began acting on this
//! machine, a baseline of everything its lines may touch, written before its first command
//! runs, so that `nslab reset` can remove the lesson's things (the student's own commands'
//! included) and nothing else, even after a killed run. [`Ledger`] below is the engine's record
//! of its own native operations during one run, in order.

pub mod file;
pub mod look;

use serde::{Deserialize, Serialize};

use crate::kernel::{Change, Kernel, RouteReq};
use crate::net::{Cidr, Ns};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Entry {
    /// A named namespace nslab created, with the inode it had, so that a namespace of the same
    /// name made later by someone else is left alone.
    Netns {
        name: String,
        inode: u64,
    },
    /// A link nslab created (a veth pair counts once: deleting one end deletes both).
    Link {
        ns: NsRef,
        name: String,
    },
    /// A link's admin state nslab changed, with the state before.
    LinkState {
        ns: NsRef,
        name: String,
        was_up: bool,
    },
    /// A link nslab enslaved to a bridge.
    Master {
        ns: NsRef,
        name: String,
    },
    Addr {
        ns: NsRef,
        dev: String,
        cidr: String,
    },
    /// A route nslab added, as it was asked for.
    Route {
        ns: NsRef,
        req: RouteReq,
        dev: Option<String>,
    },
    Sysctl {
        ns: NsRef,
        key: String,
        old: String,
    },
}

/// A namespace in the ledger's file: "root" or a name.
pub type NsRef = String;

pub fn ns_ref(ns: &Ns) -> NsRef {
    ns.name().to_string()
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<Entry>,
}

/// What undoing the ledger did, and what it could not do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Undone {
    pub done: Vec<String>,
    /// Each thing nslab made that is still there, and why it could not be taken back.
    pub failed: Vec<String>,
}

impl Ledger {
    pub fn record(&mut self, e: Entry) {
        self.entries.push(e);
    }

    /// A link moved between namespaces: its records follow it.
    pub fn moved(&mut self, name: &str, from: &Ns, to: &Ns) {
        for e in self.entries.iter_mut() {
            match e {
                Entry::Link { ns, name: n }
                | Entry::LinkState { ns, name: n, .. }
                | Entry::Master { ns, name: n }
                    if n == name && *ns == ns_ref(from) =>
                {
                    *ns = ns_ref(to);
                }
                _ => {}
            }
        }
    }

    /// A link renamed: its records follow the new name.
    pub fn renamed(&mut self, old: &str, new: &str, in_ns: &Ns) {
        for e in self.entries.iter_mut() {
            match e {
                Entry::Link { ns, name }
                | Entry::LinkState { ns, name, .. }
                | Entry::Master { ns, name }
                    if name == old && *ns == ns_ref(in_ns) =>
                {
                    *name = new.to_string();
                }
                Entry::Addr { ns, dev, .. } if dev == old && *ns == ns_ref(in_ns) => {
                    *dev = new.to_string();
                }
                _ => {}
            }
        }
    }

    /// Undoes everything in reverse order. Anything already gone is skipped; anything that is
    /// not what nslab made is left alone; every failure is reported, none is dropped.
    pub fn undo(&mut self, k: &Kernel) -> Undone {
        let mut u = Undone::default();
        let mut deleted_ns: Vec<String> = Vec::new();
        while let Some(e) = self.entries.pop() {
            let gone = |ns: &str| {
                deleted_ns.iter().any(|d| d == ns) || (ns != "root" && !k.netns_exists(ns))
            };
            let ns_of = |s: &str| Ns::from_name(s);
            match e {
                Entry::Netns { name, inode } => {
                    if k.netns_inode(&Ns::Named(name.clone())) == Some(inode) {
                        match k.netns_del(&name) {
                            Ok(()) => u.done.push(format!("deleted netns {name}")),
                            Err(err) => u.failed.push(format!("netns {name}: {err}")),
                        }
                        deleted_ns.push(name);
                    }
                }
                Entry::Link { ns, name } => {
                    if !gone(&ns) && k.link(&ns_of(&ns), &name).is_ok() {
                        match k.link_del(&ns_of(&ns), &name) {
                            Ok(()) => u
                                .done
                                .push(format!("deleted link {name} in {}", ns_of(&ns))),
                            Err(err) => u
                                .failed
                                .push(format!("link {name} in {}: {err}", ns_of(&ns))),
                        }
                    }
                }
                Entry::LinkState { ns, name, was_up } => {
                    if !gone(&ns) && k.link(&ns_of(&ns), &name).is_ok() {
                        match k.link_set_up(&ns_of(&ns), &name, was_up) {
                            Ok(()) => u.done.push(format!(
                                "set {name} in {} back {}",
                                ns_of(&ns),
                                if was_up { "up" } else { "down" }
                            )),
                            Err(err) => u.failed.push(format!("{name} in {}: {err}", ns_of(&ns))),
                        }
                    }
                }
                Entry::Master { ns, name } => {
                    if !gone(&ns)
                        && k.link(&ns_of(&ns), &name).is_ok()
                        && let Err(err) = k.link_set_master(&ns_of(&ns), &name, None)
                    {
                        u.failed.push(format!("{name} in {}: {err}", ns_of(&ns)));
                    }
                }
                Entry::Addr { ns, dev, cidr } => {
                    if let (false, Ok(c)) = (gone(&ns), cidr.parse::<Cidr>()) {
                        let has = k
                            .snapshot(&ns_of(&ns))
                            .is_ok_and(|s| s.addrs_of(&dev).any(|a| a.cidr == c));
                        if has {
                            match k.addr_del(&ns_of(&ns), &dev, c) {
                                Ok(()) => u
                                    .done
                                    .push(format!("removed {cidr} from {dev} in {}", ns_of(&ns))),
                                Err(err) => u
                                    .failed
                                    .push(format!("{cidr} on {dev} in {}: {err}", ns_of(&ns))),
                            }
                        }
                    }
                }
                Entry::Route { ns, req, dev } => {
                    if !gone(&ns) && dev.as_ref().is_none_or(|d| k.link(&ns_of(&ns), d).is_ok()) {
                        // Delete as `ip route del` does: match on what was given.
                        let del = RouteReq {
                            protocol: 0,
                            scope: 255,
                            ..req.clone()
                        };
                        let what = match req.dest {
                            Some(d) => format!("{d}/{}", req.dst_len),
                            None => "default".into(),
                        };
                        match k.route_change(&ns_of(&ns), Change::Del, dev.as_deref(), &del) {
                            Ok(()) => u
                                .done
                                .push(format!("removed route {what} in {}", ns_of(&ns))),
                            // Already gone (its link went down, its address went): nothing to do.
                            Err(err) if err.to_string().contains("No such process") => {}
                            Err(err) => u
                                .failed
                                .push(format!("route {what} in {}: {err}", ns_of(&ns))),
                        }
                    }
                }
                Entry::Sysctl { ns, key, old } => {
                    if !gone(&ns) {
                        match k.sysctl_write(&ns_of(&ns), &key, &old) {
                            Ok(()) => u
                                .done
                                .push(format!("set {key} back to {old} in {}", ns_of(&ns))),
                            Err(err) => u.failed.push(format!("{key} in {}: {err}", ns_of(&ns))),
                        }
                    }
                }
            }
        }
        u
    }
}
