//! The ledger: everything nslab made or changed, so that it can undo exactly that, in reverse
//! order, and never touch what it did not make.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::kernel::Kernel;
use crate::lesson::{Cidr, Ns};

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
    Route {
        ns: NsRef,
        dest: Option<String>,
        via: Ipv4Addr,
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

impl Ledger {
    pub fn record(&mut self, e: Entry) {
        self.entries.push(e);
    }

    /// A link moved between namespaces: its creation record follows it.
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

    /// Undoes everything in reverse order; returns one line per thing undone, for the user.
    /// Anything already gone is skipped; anything that is not what nslab made is left alone.
    pub fn undo(&mut self, k: &Kernel) -> Vec<String> {
        let mut said = Vec::new();
        let mut deleted_ns: Vec<String> = Vec::new();
        while let Some(e) = self.entries.pop() {
            let gone_with_ns = |ns: &str| deleted_ns.iter().any(|d| d == ns);
            match e {
                Entry::Netns { name, inode } => {
                    if k.netns_inode(&Ns::Named(name.clone())) == Some(inode)
                        && k.netns_del(&name).is_ok()
                    {
                        said.push(format!("deleted netns {name}"));
                        deleted_ns.push(name);
                    }
                }
                Entry::Link { ns, name } => {
                    if !gone_with_ns(&ns) && k.link_del(&Ns::from_name(&ns), &name).is_ok() {
                        said.push(format!("deleted link {name} in {}", Ns::from_name(&ns)));
                    }
                }
                Entry::LinkState { ns, name, was_up } => {
                    if !gone_with_ns(&ns)
                        && k.link_set_up(&Ns::from_name(&ns), &name, was_up).is_ok()
                    {
                        said.push(format!(
                            "set {name} in {} back {}",
                            Ns::from_name(&ns),
                            if was_up { "up" } else { "down" }
                        ));
                    }
                }
                Entry::Master { ns, name } => {
                    if !gone_with_ns(&ns) {
                        let _ = k.link_set_master(&Ns::from_name(&ns), &name, None);
                    }
                }
                Entry::Addr { ns, dev, cidr } => {
                    if let (false, Ok(c)) = (gone_with_ns(&ns), cidr.parse::<Cidr>())
                        && k.addr_del(&Ns::from_name(&ns), &dev, c).is_ok()
                    {
                        said.push(format!(
                            "removed {cidr} from {dev} in {}",
                            Ns::from_name(&ns)
                        ));
                    }
                }
                Entry::Route { ns, dest, via, dev } => {
                    if !gone_with_ns(&ns) {
                        let dest_c = dest.as_deref().and_then(|d| d.parse::<Cidr>().ok());
                        if k.route_del(&Ns::from_name(&ns), dest_c, via, dev.as_deref())
                            .is_ok()
                        {
                            said.push(format!(
                                "removed route {} via {via} in {}",
                                dest.unwrap_or_else(|| "default".into()),
                                Ns::from_name(&ns)
                            ));
                        }
                    }
                }
                Entry::Sysctl { ns, key, old } => {
                    if !gone_with_ns(&ns) && k.sysctl_write(&Ns::from_name(&ns), &key, &old).is_ok()
                    {
                        said.push(format!("set {key} back to {old} in {}", Ns::from_name(&ns)));
                    }
                }
            }
        }
        said
    }
}
