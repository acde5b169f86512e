//! The ledger on disk: `$XDG_STATE_HOME/nslab/ledger.json`, next to `progress.json`.
//! docs/ledger-file.md describes it field by field.
//!
//! One entry per lesson that began acting on this machine: what the lesson's lines may make
//! (the effect model's reading of them, [`Makes`]) and, for each of those things, whether it
//! was there before, with its identity ([`Seen`]: a namespace's inode, a link's ifindex, a
//! sysctl's value, how many copies of a firewall rule, a file's inode). It is written before
//! the lesson's first command runs, so that whatever ends the run (SIGKILL included),
//! `nslab reset` can tell the lesson's things from everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exit::{Code, Failure};
use crate::lesson::effect::{Creations, RouteKey};
use crate::net::{Cidr, Ns};
use crate::state::{self, FileError};

/// The format this nslab writes.
pub const VERSION: u64 = 1;

/// A ledger is a few kilobytes per lesson; anything much larger is not one.
const MAX_SIZE: u64 = 16 << 20;

/// A namespace as the file names it: `root`, or the name in /run/netns.
pub type NsName = String;

/// A link, or a sysctl, in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InNs {
    pub ns: NsName,
    pub name: String,
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddrItem {
    pub ns: NsName,
    pub dev: String,
    #[serde(with = "cidr_text")]
    pub cidr: Cidr,
}

impl AddrItem {
    /// How the baseline names it.
    pub fn id(&self) -> String {
        format!("{} dev {}", self.cidr, self.dev)
    }
}

/// A route, with the fields `ip route del` must name to remove it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RouteItem {
    pub ns: NsName,
    pub table: u32,
    /// The RTN_ type (1 is unicast).
    pub kind: u8,
    /// `None`: the default route.
    #[serde(with = "opt_cidr_text")]
    pub dest: Option<Cidr>,
    pub via: Option<std::net::IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
}

impl RouteItem {
    /// An IPv6 route (by its destination or gateway; a default route without a gateway is
    /// taken for IPv4).
    pub fn is_v6(&self) -> bool {
        self.dest.is_some_and(|d| d.addr.is_ipv6()) || self.via.is_some_and(|v| v.is_ipv6())
    }

    /// How reset shows it: `ip route` words, the type first (`blackhole 10.98.0.0/16 table
    /// 100`).
    pub fn words(&self) -> String {
        let id = self.id();
        let id = id
            .strip_suffix(&format!(" type {}", self.kind))
            .unwrap_or(&id);
        if self.kind == crate::net::rtn::UNICAST {
            id.to_string()
        } else {
            format!("{} {id}", crate::net::rtn::name(self.kind))
        }
    }

    /// How the baseline names it (the keys of `before.routes`: kept as they are, for the
    /// ledgers already written).
    pub fn id(&self) -> String {
        let mut s = self
            .dest
            .map_or_else(|| "default".to_string(), |d| d.to_string());
        if let Some(v) = self.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &self.dev {
            s.push_str(&format!(" dev {d}"));
        }
        if let Some(m) = self.metric {
            s.push_str(&format!(" metric {m}"));
        }
        if self.table != 254 {
            s.push_str(&format!(" table {}", self.table));
        }
        if self.kind != 1 {
            s.push_str(&format!(" type {}", self.kind));
        }
        s
    }
}

/// A firewall rule a lesson adds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleItem {
    pub ns: NsName,
    /// `iptables`, `ip6tables`, `iptables-legacy`...
    pub program: String,
    pub table: String,
    pub chain: String,
    /// The rule's words, as `iptables -C` and `-D` take them.
    pub rule: Vec<String>,
}

impl RuleItem {
    /// How the baseline names it: what `iptables -S` prints for it.
    pub fn id(&self) -> String {
        format!(
            "{} -t {} -A {} {}",
            self.program,
            self.table,
            self.chain,
            self.rule.join(" ")
        )
    }
}

/// A policy routing rule a lesson adds (`ip rule add`), with the fields its line gave.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpRuleItem {
    pub ns: NsName,
    pub v6: bool,
    #[serde(default)]
    pub not: bool,
    #[serde(with = "opt_cidr_text")]
    pub from: Option<Cidr>,
    #[serde(with = "opt_cidr_text")]
    pub to: Option<Cidr>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// The FR_ACT_ type (1 looks up `table`).
    pub action: u8,
    /// The table the kernel stores (0: none).
    pub table: u32,
    pub goto: Option<u32>,
    /// `None`: the line gave none, and the kernel chose one.
    pub pref: Option<u32>,
}

impl IpRuleItem {
    /// How reset shows it: `ip rule add` words (`-6` first for IPv6), the preference last
    /// when the line gave one.
    pub fn id(&self) -> String {
        let rule = crate::kernel::Rule {
            v6: self.v6,
            pref: self.pref.unwrap_or(0),
            not: self.not,
            from: self.from,
            to: self.to,
            tos: 0,
            fwmark: self.fwmark,
            fwmask: self.fwmask,
            iif: self.iif.clone(),
            oif: self.oif.clone(),
            action: self.action,
            table: self.table,
            goto: self.goto,
            other: Vec::new(),
        }
        .to_string();
        match self.pref {
            Some(_) => rule,
            None => rule
                .strip_suffix(" pref 0")
                .map_or(rule.clone(), str::to_string),
        }
    }
}

/// What a lesson's lines may make, as the effect model reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Makes {
    pub netns: BTreeSet<String>,
    pub links: BTreeSet<InNs>,
    pub addrs: BTreeSet<AddrItem>,
    pub routes: BTreeSet<RouteItem>,
    pub sysctls: BTreeSet<InNs>,
    pub rules: BTreeSet<RuleItem>,
    /// Policy routing rules (`ip rule add`); none in a ledger of an older nslab.
    #[serde(default)]
    pub ip_rules: BTreeSet<IpRuleItem>,
    /// Programs it leaves running, by process name.
    pub procs: BTreeSet<String>,
    /// Those of `procs` it starts only inside a namespace of its own (`ip netns exec NS
    /// PROG`): a process of that name in the root namespace is not the lesson's. None in a
    /// ledger of an older nslab.
    #[serde(default)]
    pub procs_outside_root: BTreeSet<String>,
    /// The absolute paths the lesson starts some of `procs` by (`/tmp/netns-demo`): a process
    /// of that name runs one of them, or it is someone else's. None in a ledger of an older
    /// nslab.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proc_paths: BTreeMap<String, BTreeSet<String>>,
    /// Absolute paths of the files it writes.
    pub files: BTreeSet<String>,
    /// Why some lines could not be read: what they make is not known.
    pub unknown: Vec<String>,
}

impl Makes {
    pub fn of(c: &Creations) -> Makes {
        let ns = |n: &Ns| n.name().to_string();
        let rule = |(n, r): &(Ns, crate::lesson::grammar::Iptables)| {
            let mut words = r.rule.clone();
            // `-I CHAIN 3 RULE`: the position is no part of the rule.
            if r.action == 'I' && words.first().is_some_and(|w| w.parse::<u32>().is_ok()) {
                words.remove(0);
            }
            RuleItem {
                ns: ns(n),
                program: r.program.clone(),
                table: r.table.clone(),
                chain: r.chain.clone(),
                rule: words,
            }
        };
        let route = |(n, k): &(Ns, RouteKey)| RouteItem {
            ns: ns(n),
            table: k.table,
            kind: k.kind,
            dest: k.dest,
            via: k.via,
            dev: k.dev.clone(),
            metric: k.metric,
        };
        let ip_rule = |(n, r): &(Ns, crate::lesson::grammar::ip::RuleChange)| IpRuleItem {
            ns: ns(n),
            v6: r.v6,
            not: r.not,
            from: r.from,
            to: r.to,
            fwmark: r.fwmark,
            // The kernel stores a full mask when none is given: `ip rule` shows none.
            fwmask: r
                .fwmask
                .filter(|m| r.fwmark.is_some() && *m != crate::kernel::rules::FULL_MASK),
            iif: r.iif.clone(),
            oif: r.oif.clone(),
            action: r.stored_action(),
            table: r.stored_table(),
            goto: r.goto,
            pref: r.pref,
        };
        let mut unknown: Vec<String> = c.unknowns.iter().map(|u| u.why.clone()).collect();
        unknown.dedup();
        Makes {
            netns: c.netns.clone(),
            links: c
                .links
                .iter()
                .map(|(n, l)| InNs {
                    ns: ns(n),
                    name: l.clone(),
                })
                .collect(),
            addrs: c
                .addrs
                .iter()
                .map(|(n, d, cidr)| AddrItem {
                    ns: ns(n),
                    dev: d.clone(),
                    cidr: *cidr,
                })
                .collect(),
            routes: c.routes.iter().map(route).collect(),
            sysctls: c
                .sysctls
                .iter()
                .map(|(n, k)| InNs {
                    ns: ns(n),
                    name: k.clone(),
                })
                .collect(),
            rules: c.rules.iter().map(rule).collect(),
            ip_rules: c.ip_rules.iter().map(ip_rule).collect(),
            procs: c.procs.clone(),
            procs_outside_root: c.procs.difference(&c.procs_in_root).cloned().collect(),
            proc_paths: c.proc_paths.clone(),
            files: c.files.clone(),
            unknown,
        }
    }

    /// Every namespace an item lives in: `root`, the lesson's own, and others it names.
    pub fn namespaces(&self) -> BTreeSet<NsName> {
        let mut all: BTreeSet<NsName> = BTreeSet::from(["root".to_string()]);
        all.extend(self.netns.iter().cloned());
        all.extend(self.links.iter().map(|l| l.ns.clone()));
        all.extend(self.addrs.iter().map(|a| a.ns.clone()));
        all.extend(self.routes.iter().map(|r| r.ns.clone()));
        all.extend(self.sysctls.iter().map(|s| s.ns.clone()));
        all.extend(self.rules.iter().map(|r| r.ns.clone()));
        all.extend(self.ip_rules.iter().map(|r| r.ns.clone()));
        all
    }
}

/// What nslab saw, at one moment, of the things a lesson may make, in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsSeen {
    /// The namespace's inode: the same name later with another inode is another namespace.
    pub inode: u64,
    /// When its name was given (see [`crate::kernel::Kernel::netns_identity`]): with the inode,
    /// which the kernel gives again, its identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<u64>,
    /// The lesson's link names that exist here, with their ifindex.
    pub links: BTreeMap<String, u32>,
    /// The lesson's addresses that exist here ([`AddrItem::id`]).
    pub addrs: BTreeSet<String>,
    /// The lesson's routes that exist here ([`RouteItem::id`]).
    pub routes: BTreeSet<String>,
    /// The values of the sysctls the lesson writes here.
    pub sysctls: BTreeMap<String, String>,
    /// How many copies of each of the lesson's rules are here ([`RuleItem::id`]).
    pub rules: BTreeMap<String, usize>,
    /// The policy rules here that are the lesson's in every field it gave, each in full
    /// ([`crate::kernel::Rule`]'s words, its preference included).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub ip_rules: BTreeSet<String>,
    /// What could not be read (a rule's count, a sysctl): reset leaves those alone.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unreadable: BTreeSet<String>,
}

/// A file's identity: the same path later with another inode is another file, and so is one
/// with the same inode born later (ext4 gives a freed inode number to the next new file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// A regular file (reset removes nothing else).
    pub regular: bool,
    /// When it was made ([`born`]); 0 when unknown (a ledger of an older nslab).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub born: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file's identity as [`Baseline::made_files`] keeps it: device, inode, [`born`].
pub type FileIdent = (u64, u64, u64);

impl FileId {
    /// The identity of the file at `path` now (not following a symlink), if there is one.
    pub fn of(path: &str) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            regular: m.file_type().is_file(),
            born: born(&m),
        })
    }

    pub fn ident(&self) -> FileIdent {
        (self.dev, self.ino, self.born)
    }

    /// The same file: device and inode, and its birth when both know it.
    pub fn same(&self, other: &FileId) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
            && (self.born == 0 || other.born == 0 || self.born == other.born)
    }
}

/// When a file was made, in nanoseconds since the epoch: its birth time (statx), which ext4
/// and tmpfs keep; without one, its last status change, which a later write moves on (the file
/// then passes for another: reset keeps it rather than remove what may be someone else's).
/// Never 0.
pub fn born(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let since_epoch = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64);
    since_epoch
        .unwrap_or_else(|| (m.ctime().max(0) as u64) * 1_000_000_000 + m.ctime_nsec().max(0) as u64)
        .max(1)
}

/// What nslab saw, at one moment, of the things a lesson may make.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The namespaces that existed (`root` always), by name.
    pub netns: BTreeMap<NsName, NsSeen>,
    /// The lesson's files that existed.
    pub files: BTreeMap<String, FileId>,
}

/// Which mode began the lesson on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Learn,
    Demo,
    Verify,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Learn => "learn",
            By::Demo => "demo",
            By::Verify => "verify --no-sandbox",
        }
    }
}

/// One lesson's entry: when it began on this machine, what it may make, and what of that was
/// there before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// When the baseline was taken (unix seconds).
    pub since: u64,
    pub by: By,
    /// The machine's boot (/proc/sys/kernel/random/boot_id): a restart clears what a lesson
    /// made in the kernel, and the baseline with it.
    pub boot: String,
    /// The user nslab ran as, and the moment (clock ticks since boot) from which the lesson's
    /// programs are its own.
    pub uid: u32,
    pub ticks: u64,
    /// The lesson's file, for the humans who read this.
    pub file: String,
    pub makes: Makes,
    pub before: Seen,
    /// The namespaces nslab saw this lesson make (while learn watched, or demo or verify ran
    /// it), with their identity (inode and stamp): every one seen under each name, not only
    /// the last, since a name can hold namespaces stacked one on another (`ip netns add` and
    /// a `mount --bind` on top), and the one under the top is seen again only once the top is
    /// unmounted. A namespace of the lesson's name that came later, while no session of the
    /// lesson ran, is not among them: reset keeps it, and learn asks before it builds on it.
    /// `None` in a baseline of an older nslab (which did not record them): every new
    /// namespace of the lesson's names is the lesson's. (An nslab before the stacked ones
    /// wrote one identity per name, `[inode, stamp]`: it is read as a list of one.)
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "made_any"
    )]
    pub made: Option<Made>,
    /// The root namespace's links of the lesson's names that nslab saw a session make, by
    /// ifindex (the kernel gives a namespace's indexes in turn: a link made by hand later
    /// has another). A new root link of the lesson's names that is not among them came while
    /// no session of the lesson ran: reset keeps it. `None` in a baseline of an older nslab:
    /// every new root link of the lesson's names is the lesson's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_links: Option<BTreeMap<String, Vec<u32>>>,
    /// The lesson's files that nslab saw a session make (or make anew: another inode), by
    /// identity (device, inode, birth: see [`born`]). A file of the lesson's paths that is not among them came
    /// while no session of the lesson ran (the user's own `/tmp/netns-demo.c`, written after
    /// a demo stopped): reset keeps it. `None` in a baseline of an older nslab: every new file
    /// of the lesson's paths is the lesson's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_files: Option<BTreeMap<String, Vec<FileIdent>>>,
}

/// [`Baseline::made`]: for each name, the identities (inode, stamp) of the namespaces seen.
pub type Made = BTreeMap<NsName, Vec<(u64, u64)>>;

/// [`Baseline::made`], written as a list of identities per name, or as one.
fn made_any<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Made>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Idents {
        One((u64, u64)),
        Many(Vec<(u64, u64)>),
    }
    let m: Option<BTreeMap<NsName, Idents>> = Option::deserialize(d)?;
    Ok(m.map(|m| {
        m.into_iter()
            .map(|(name, i)| {
                let list = match i {
                    Idents::One(one) => vec![one],
                    Idents::Many(many) => many,
                };
                (name, list)
            })
            .collect()
    }))
}

impl Baseline {
    /// Records namespaces a session saw the lesson make (see [`Baseline::made`]); nothing in
    /// a baseline of an older nslab, which did not record them.
    pub fn note_made(&mut self, seen: &[(NsName, (u64, u64))]) {
        if let Some(made) = self.made.as_mut() {
            for (name, ident) in seen {
                let idents = made.entry(name.clone()).or_default();
                if !idents.contains(ident) {
                    idents.push(*ident);
                }
            }
        }
    }

    /// Records root links a session saw the lesson make (see [`Baseline::made_links`]).
    pub fn note_made_links(&mut self, seen: &[(String, u32)]) {
        if let Some(made) = self.made_links.as_mut() {
            for (name, index) in seen {
                let indexes = made.entry(name.clone()).or_default();
                if !indexes.contains(index) {
                    indexes.push(*index);
                }
            }
        }
    }

    /// Records files a session saw the lesson make (see [`Baseline::made_files`]).
    pub fn note_made_files(&mut self, seen: &[(String, FileIdent)]) {
        if let Some(made) = self.made_files.as_mut() {
            for (path, ident) in seen {
                let idents = made.entry(path.clone()).or_default();
                if !idents.contains(ident) {
                    idents.push(*ident);
                }
            }
        }
    }

    /// A session saw the lesson make this file, or the baseline did not record them.
    pub fn saw_made_file(&self, path: &str, ident: FileIdent) -> bool {
        self.made_files
            .as_ref()
            .is_none_or(|made| made.get(path).is_some_and(|ids| ids.contains(&ident)))
    }

    /// A session saw the lesson make this root link, or the baseline did not record them.
    pub fn saw_made_link(&self, name: &str, index: u32) -> bool {
        self.made_links
            .as_ref()
            .is_none_or(|made| made.get(name).is_some_and(|ids| ids.contains(&index)))
    }

    /// A session saw the lesson make this namespace: `ident` is among [`Baseline::made`], or
    /// the baseline, of an older nslab, did not record them.
    pub fn saw_made(&self, name: &str, ident: (u64, u64)) -> bool {
        self.made
            .as_ref()
            .is_none_or(|made| made.get(name).is_some_and(|ids| ids.contains(&ident)))
    }
}

/// A prefix as text (`10.1.0.0/24`), as `ip` writes it.
mod cidr_text {
    use crate::net::Cidr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Cidr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(c)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

mod opt_cidr_text {
    use crate::net::Cidr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Option<Cidr>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => s.collect_str(c),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cidr>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub lessons: BTreeMap<String, Baseline>,
    /// Entries that could not be read (a damaged file): they are left out, and named.
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
struct Versioned<'a> {
    version: u64,
    lessons: &'a BTreeMap<String, Baseline>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{}: written by a newer nslab (ledger format {version}; this one knows {VERSION}); nslab leaves it as it is",
        path.display()
    )]
    TooNew { path: PathBuf, version: u64 },
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        let code = match &e {
            LedgerError::TooNew { .. } | LedgerError::File(FileError::NotRegular { .. }) => {
                Code::Usage
            }
            LedgerError::File(_) => Code::Environment,
        };
        Failure::new(code, e.to_string())
    }
}

/// This machine's boot id; empty if the kernel does not say.
pub fn boot_id() -> String {
    crate::kernel::procs::boot_id().unwrap_or_default()
}

/// The ledger file: where it is, and the only way to read and change it.
#[derive(Debug, Clone)]
pub struct Store {
    /// `None` without HOME and XDG_STATE_HOME: nslab then keeps no ledger.
    path: Option<PathBuf>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: state::dir().map(|d| d.join("ledger.json")),
        }
    }
}

impl Store {
    pub fn at(path: impl Into<PathBuf>) -> Store {
        Store {
            path: Some(path.into()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the file: a missing one is an empty ledger; an entry that cannot be read is left
    /// out and named in `warnings`.
    pub fn read(&self) -> Result<Ledger, LedgerError> {
        let Some(path) = &self.path else {
            return Ok(Ledger::default());
        };
        let Some((bytes, _)) = state::read_regular(path, MAX_SIZE)? else {
            return Ok(Ledger::default());
        };
        parse(&bytes).map_err(|version| LedgerError::TooNew {
            path: path.clone(),
            version,
        })
    }

    /// Applies one change to the file as it is now, under its lock, and writes the result. A
    /// file with entries that cannot be read is kept as `ledger.json.bad-TIME` first.
    pub fn update<T>(&self, change: impl FnOnce(&mut Ledger) -> T) -> Result<T, LedgerError> {
        let Some(path) = &self.path else {
            return Ok(change(&mut Ledger::default()));
        };
        state::make_dir(path)?;
        let _lock = state::lock(path)?;
        let mut ledger = self.read()?;
        if !ledger.warnings.is_empty() {
            let kept = state::backup(path, crate::progress::now(), "keep a backup of the ledger")?;
            for w in &ledger.warnings {
                eprintln!("nslab: warning: {}: {w}", path.display());
            }
            eprintln!(
                "nslab: warning: {}: the file as it was is kept in {}",
                path.display(),
                kept.display()
            );
        }
        let out = change(&mut ledger);
        let mut text = serde_json::to_string_pretty(&Versioned {
            version: VERSION,
            lessons: &ledger.lessons,
        })
        .map_err(|e| state::io_error(path, "write it")(std::io::Error::other(e)))?;
        text.push('\n');
        state::write_atomic(path, text.as_bytes())?;
        Ok(out)
    }
}

/// Reads the file's text, entry by entry. `Err(version)` for a version this nslab does not know.
fn parse(bytes: &[u8]) -> Result<Ledger, u64> {
    let mut out = Ledger::default();
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.warnings
                .push(format!("(file): not JSON ({e}); nothing in it can be used"));
            return Ok(out);
        }
    };
    match value.get("version").and_then(Value::as_u64) {
        Some(v) if v > VERSION => return Err(v),
        Some(_) => {}
        None => out
            .warnings
            .push("version: missing or not a number; read as version 1".into()),
    }
    match value.get("lessons") {
        Some(Value::Object(map)) => {
            for (id, entry) in map {
                match serde_json::from_value::<Baseline>(entry.clone()) {
                    Ok(b) => {
                        out.lessons.insert(id.clone(), b);
                    }
                    Err(e) => out.warnings.push(format!(
                        "lessons.{id}: {e}; this lesson's baseline is left out (`nslab reset --by-name {id}` removes what has its names)"
                    )),
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => out
            .warnings
            .push("lessons: not an object; every baseline is left out".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> Baseline {
        let mut before = Seen::default();
        before.netns.insert(
            "root".into(),
            NsSeen {
                inode: 4026531840,
                links: BTreeMap::from([("bridge0".to_string(), 7)]),
                sysctls: BTreeMap::from([("net.ipv4.ip_forward".to_string(), "0".to_string())]),
                ..NsSeen::default()
            },
        );
        Baseline {
            since: 1767261300,
            by: By::Learn,
            boot: "b".into(),
            uid: 0,
            ticks: 10,
            file: "lessons/03-bridges.md".into(),
            makes: Makes {
                netns: BTreeSet::from(["blue".to_string()]),
                ..Makes::default()
            },
            before,
            made: Some(BTreeMap::from([(
                "blue".to_string(),
                vec![(4026532300, 17), (4026532301, 18)],
            )])),
            made_links: Some(BTreeMap::from([("blue0".to_string(), vec![7])])),
            made_files: Some(BTreeMap::from([(
                "/tmp/blue.txt".to_string(),
                vec![(2049, 12, 1767261312345678901)],
            )])),
        }
    }

    #[test]
    fn a_ledger_is_written_and_read_back_and_a_damaged_entry_loses_only_itself() {
        let dir = std::env::temp_dir().join(format!("nslab-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::at(dir.join("ledger.json"));
        store
            .update(|l| l.lessons.insert("bridges".into(), baseline()))
            .unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.lessons.get("bridges"), Some(&baseline()));
        assert!(read.warnings.is_empty());
        // A damaged entry: the other one is kept, the file as it was is backed up.
        let text = std::fs::read_to_string(dir.join("ledger.json")).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["lessons"]["routing"] = serde_json::json!({"since": "yesterday"});
        std::fs::write(dir.join("ledger.json"), v.to_string()).unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.lessons.len(), 1);
        assert!(read.warnings[0].starts_with("lessons.routing:"), "{read:?}");
        store.update(|_| ()).unwrap();
        let backups = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".bad-"))
            })
            .count();
        assert_eq!(backups, 1);
        assert!(store.read().unwrap().warnings.is_empty());
        // A newer format is left alone.
        std::fs::write(dir.join("ledger.json"), r#"{"version": 9, "lessons": {}}"#).unwrap();
        assert!(matches!(
            store.read(),
            Err(LedgerError::TooNew { version: 9, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two namespaces stacked on one name, each seen while a session ran: both are kept, and
    /// seeing one again adds nothing. A ledger of an nslab that kept one per name is read.
    #[test]
    fn every_namespace_seen_under_a_name_is_kept_and_an_older_single_one_is_read() {
        let mut b = baseline();
        b.made = Some(BTreeMap::new());
        b.note_made(&[("keep".into(), (1, 10))]);
        b.note_made(&[("keep".into(), (2, 20)), ("demo".into(), (3, 30))]);
        b.note_made(&[("keep".into(), (2, 20))]);
        assert_eq!(b.made.as_ref().unwrap()["keep"], [(1, 10), (2, 20)]);
        assert!(b.saw_made("keep", (1, 10)) && b.saw_made("keep", (2, 20)));
        assert!(!b.saw_made("keep", (1, 11)) && !b.saw_made("other", (1, 10)));
        let mut v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["made"]["keep"], serde_json::json!([[1, 10], [2, 20]]));
        assert_eq!(serde_json::from_value::<Baseline>(v.clone()).unwrap(), b);
        v["made"] = serde_json::json!({"keep": [2, 20]});
        let old: Baseline = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(old.made.unwrap()["keep"], [(2, 20)]);
        v.as_object_mut().unwrap().remove("made");
        let older: Baseline = serde_json::from_value(v).unwrap();
        assert!(older.made.is_none() && older.saw_made("keep", (9, 9)));
    }
}
