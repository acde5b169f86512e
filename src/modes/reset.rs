//! Reset: remove what a lesson made on this machine, and nothing else.
//!
//! The student types the lesson's commands in their own shell, so nslab cannot list what
//! they made as it happens. What it can do is look before: when a lesson begins acting on a
//! machine (learn opens it, demo starts it, a `verify --no-sandbox` worker starts it), nslab
//! writes a baseline to the ledger ([`crate::engine::ledger::file`]): everything the lesson's
//! lines may make, and what of it was there already, with its identity. A reset then removes exactly what the
//! effect model says the lesson makes AND is not in the baseline with the same identity: a
//! namespace of the lesson's name with another inode, a link with another ifindex, copies of a
//! rule beyond those there before, a sysctl set back to its value before, a file with another
//! inode, a program started since by the same user. What the baseline shows was there before
//! is never touched, whatever its name.
//!
//! [`plan`] is pure (baseline + what is there now -> actions, each with why it is the
//! lesson's); [`carry_out`] does it, checking each thing's identity again just before it acts,
//! and reports every failure.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use crate::engine::ledger::Undone;
use crate::engine::ledger::file::{
    AddrItem, Baseline, By, FileId, FileIdent, Ledger, LedgerError, Makes, NsSeen, RouteItem,
    RuleItem, Seen, Store, boot_id,
};
use crate::engine::ledger::look::{self, rule_line};
use crate::kernel::{Change, Kernel, RouteReq, Unstacked};
use crate::lesson::effect::{Creations, NAMED_ELSEWHERE};
use crate::lesson::{Lesson, Ns};
use crate::net::Cidr;
use crate::progress::LessonProgress;

/// One thing reset removes or sets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Process {
        name: String,
        pid: u32,
    },
    Rule {
        rule: RuleItem,
        copies: usize,
    },
    /// A policy routing rule, in full (`ip rule add` words, its preference included).
    IpRule {
        ns: String,
        rule: String,
    },
    Sysctl {
        ns: String,
        key: String,
        value: String,
    },
    Route {
        route: RouteItem,
    },
    Addr {
        ns: String,
        dev: String,
        cidr: Cidr,
    },
    Link {
        ns: String,
        name: String,
        index: u32,
    },
    Netns {
        name: String,
        inode: u64,
    },
    File {
        path: String,
        id: FileId,
    },
}

/// ` in netns NAME`, or nothing for the root namespace.
fn in_ns(ns: &str) -> String {
    if ns == "root" {
        String::new()
    } else {
        format!(" in netns {ns}")
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Process { name, pid } => write!(f, "process {name} (pid {pid})"),
            Item::Rule { rule, copies } => write!(
                f,
                "{} of the {} rule {} {}{}",
                if *copies == 1 {
                    "one copy".to_string()
                } else {
                    format!("{copies} copies")
                },
                rule.table,
                rule.chain,
                rule.rule.join(" "),
                in_ns(&rule.ns)
            ),
            Item::IpRule { ns, rule } => write!(f, "rule {rule}{}", in_ns(ns)),
            Item::Sysctl { ns, key, value } => write!(f, "{key}{} back to {value}", in_ns(ns)),
            Item::Route { route } => write!(f, "route {}{}", route.words(), in_ns(&route.ns)),
            Item::Addr { ns, dev, cidr } => write!(f, "address {cidr} on {dev}{}", in_ns(ns)),
            Item::Link { ns, name, .. } => write!(f, "link {name}{}", in_ns(ns)),
            Item::Netns { name, .. } => write!(f, "netns {name}"),
            Item::File { path, .. } => write!(f, "file {path}"),
        }
    }
}

impl Item {
    /// What reset does to it: a sysctl is set back, a process stopped, the rest removed. The
    /// verb as in a plan ("remove"), as done ("removed"), and as failed ("could not remove").
    fn verbs(&self) -> (&'static str, &'static str) {
        match self {
            Item::Sysctl { .. } => ("set", "set"),
            Item::Process { .. } => ("stop", "stopped"),
            _ => ("remove", "removed"),
        }
    }

    /// What was done to it: `removed netns blue`, `set net.ipv4.ip_forward back to 0`.
    pub fn done(&self) -> String {
        format!("{} {self}", self.verbs().1)
    }

    /// What could not be done to it, and why.
    pub fn failed(&self, why: &str) -> String {
        format!("could not {} {self}: {why}", self.verbs().0)
    }
}

/// An item, and why it is the lesson's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub item: Item,
    pub why: String,
}

/// What a reset of one lesson will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub lesson: String,
    pub actions: Vec<Action>,
    /// Things with the lesson's names that were there before it began: left alone.
    pub kept: Vec<String>,
    /// What reset cannot decide (a line nslab cannot read, a value it could not see).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// One line per item, with why; then what is kept and the notes.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .actions
            .iter()
            .map(|a| {
                format!(
                    "{}: {} {} ({})",
                    self.lesson,
                    a.item.verbs().0,
                    a.item,
                    a.why
                )
            })
            .collect();
        out.extend(
            self.kept
                .iter()
                .map(|k| format!("{}: keep {k}", self.lesson)),
        );
        out.extend(
            self.notes
                .iter()
                .map(|n| format!("{}: note: {n}", self.lesson)),
        );
        out
    }
}

/// What the plan is built from, besides the baseline and the look at the machine now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A baseline nslab took before the lesson began.
    Baseline,
    /// `--by-name`: no baseline; everything with the lesson's names is taken for its own.
    ByName,
}

/// The pure plan: what the lesson may make ([`Baseline::makes`]), what of it was there before
/// ([`Baseline::before`]), what is there now, and the lesson's programs running now.
pub fn plan(id: &str, b: &Baseline, now: &Seen, procs: &[(String, u32)], basis: Basis) -> Plan {
    let m = &b.makes;
    let mut p = Plan {
        lesson: id.to_string(),
        ..Plan::default()
    };
    let new_why = |what: &str| match basis {
        Basis::Baseline => format!("there was no {what} when the lesson began"),
        Basis::ByName => "it has a name the lesson makes (--by-name)".to_string(),
    };
    let empty = NsSeen::default();
    // What was in a namespace before: the same namespace only (the root one always is).
    let before_in = |ns: &str| -> &NsSeen {
        match (b.before.netns.get(ns), now.netns.get(ns)) {
            (Some(bf), _) if ns == "root" => bf,
            (Some(bf), Some(n)) if bf.inode == n.inode => bf,
            _ => &empty,
        }
    };
    let mut actions: Vec<Action> = Vec::new();
    for (name, pid) in procs {
        actions.push(Action {
            item: Item::Process {
                name: name.clone(),
                pid: *pid,
            },
            why: "started after the lesson began, by the same user".into(),
        });
    }
    // Namespaces first decided, since what is inside a deleted one goes with it.
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    let mut netns_actions = Vec::new();
    // Namespaces of the lesson's names that nslab did not see the lesson make: what is in them
    // is someone else's.
    let mut foreign: BTreeSet<&str> = BTreeSet::new();
    for name in &m.netns {
        let Some(n) = now.netns.get(name) else {
            continue;
        };
        match b.before.netns.get(name) {
            Some(bf) if bf.inode == n.inode && basis == Basis::Baseline => p.kept.push(format!(
                "netns {name} (there before the lesson began: the same namespace)"
            )),
            _ if basis == Basis::Baseline
                && b.made.is_some()
                && n.stamp
                    .is_none_or(|stamp| !b.saw_made(name, (n.inode, stamp))) =>
            {
                foreign.insert(name);
                p.kept.push(format!(
                    "netns {name} (made while no session of the lesson ran: nslab did not see the lesson make it), and what is in it"
                ));
            }
            other => {
                let why = match (other, basis) {
                    (Some(bf), Basis::Baseline) => format!(
                        "another namespace than the {name} there when the lesson began (inode {} then, {} now)",
                        bf.inode, n.inode
                    ),
                    _ => new_why(&format!("namespace {name}")),
                };
                deleted.insert(name);
                netns_actions.push(Action {
                    item: Item::Netns {
                        name: name.clone(),
                        inode: n.inode,
                    },
                    why,
                });
            }
        }
    }
    let alive = |ns: &str| {
        ns == "root"
            || (now.netns.contains_key(ns) && !deleted.contains(ns) && !foreign.contains(ns))
    };
    // Links: decided before addresses and routes, which go with their link.
    let mut gone_links: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut link_actions = Vec::new();
    for l in m.links.iter().filter(|l| alive(&l.ns)) {
        let Some(index) = now.netns.get(&l.ns).and_then(|n| n.links.get(&l.name)) else {
            continue;
        };
        match before_in(&l.ns).links.get(&l.name) {
            Some(was) if was == index => p.kept.push(format!(
                "link {}{} (there before the lesson began)",
                l.name,
                in_ns(&l.ns)
            )),
            None if l.ns == "root"
                && basis == Basis::Baseline
                && !b.saw_made_link(&l.name, *index) =>
            {
                p.kept.push(format!(
                    "link {} (made while no session of the lesson ran: nslab did not see the lesson make it)",
                    l.name
                ))
            }
            was => {
                gone_links.insert((&l.ns, &l.name));
                link_actions.push(Action {
                    item: Item::Link {
                        ns: l.ns.clone(),
                        name: l.name.clone(),
                        index: *index,
                    },
                    why: match was {
                        Some(was) => format!(
                            "another link than the {} there when the lesson began (ifindex {was} then, {index} now)",
                            l.name
                        ),
                        None => new_why(&format!("link {}", l.name)),
                    },
                });
            }
        }
    }
    for r in m.rules.iter().filter(|r| alive(&r.ns)) {
        let id = r.id();
        let Some(&count) = now.netns.get(&r.ns).and_then(|n| n.rules.get(&id)) else {
            continue;
        };
        let bf = before_in(&r.ns);
        if bf.unreadable.contains(&id) {
            p.notes.push(format!(
                "the {} rule {} {}{} is left: nslab could not count its copies when the lesson began",
                r.table,
                r.chain,
                r.rule.join(" "),
                in_ns(&r.ns)
            ));
            continue;
        }
        let was = bf.rules.get(&id).copied().unwrap_or(0);
        if count > was {
            actions.push(Action {
                item: Item::Rule {
                    rule: r.clone(),
                    copies: count - was,
                },
                why: format!("{count} now, {was} when the lesson began"),
            });
        } else if count > 0 {
            p.kept.push(format!(
                "the {} rule {} {}{} (there before the lesson began)",
                r.table,
                r.chain,
                r.rule.join(" "),
                in_ns(&r.ns)
            ));
        }
    }
    // Policy rules: each rule here now that is the lesson's in every field its line gave, and
    // was not here when the lesson began (the preference tells a rule from the student's own
    // of the same selectors).
    let rule_namespaces: BTreeSet<&str> = m.ip_rules.iter().map(|r| r.ns.as_str()).collect();
    for ns in rule_namespaces.into_iter().filter(|ns| alive(ns)) {
        let Some(here) = now.netns.get(ns) else {
            continue;
        };
        let bf = before_in(ns);
        let unread: Vec<String> = m
            .ip_rules
            .iter()
            .filter(|r| r.ns == ns)
            .map(|r| r.id())
            .filter(|id| bf.unreadable.contains(id))
            .collect();
        if !unread.is_empty() {
            for id in unread {
                p.notes.push(format!(
                    "rules like `{id}`{} are left: nslab could not read the rules when the lesson began",
                    in_ns(ns)
                ));
            }
            continue;
        }
        for rule in &here.ip_rules {
            if bf.ip_rules.contains(rule) {
                p.kept.push(format!(
                    "rule {rule}{} (there before the lesson began)",
                    in_ns(ns)
                ));
            } else {
                actions.push(Action {
                    item: Item::IpRule {
                        ns: ns.to_string(),
                        rule: rule.clone(),
                    },
                    why: new_why("such rule"),
                });
            }
        }
    }
    for s in m.sysctls.iter().filter(|s| alive(&s.ns)) {
        let Some(value) = now.netns.get(&s.ns).and_then(|n| n.sysctls.get(&s.name)) else {
            continue;
        };
        match before_in(&s.ns).sysctls.get(&s.name) {
            Some(was) if was != value => actions.push(Action {
                item: Item::Sysctl {
                    ns: s.ns.clone(),
                    key: s.name.clone(),
                    value: was.clone(),
                },
                why: format!("it is {value}; it was {was} when the lesson began"),
            }),
            Some(_) => {}
            None => p.notes.push(format!(
                "{}{} is left at {value}: its value before the lesson is unknown",
                s.name,
                in_ns(&s.ns)
            )),
        }
    }
    // A sysctl the lesson sets only in its namespaces, changed in the root one since the lesson
    // began: likely a command typed in the wrong place. Not the lesson's: named, left as it is.
    let mut slips: Vec<&String> = m
        .sysctls
        .iter()
        .filter(|s| s.ns != "root" && !m.sysctls.iter().any(|o| o.ns == "root" && o.name == s.name))
        .map(|s| &s.name)
        .collect();
    slips.sort();
    slips.dedup();
    for key in slips {
        let now_root = now.netns.get("root").and_then(|n| n.sysctls.get(key));
        let was_root = before_in("root").sysctls.get(key);
        if let (Some(value), Some(was)) = (now_root, was_root)
            && value != was
        {
            p.notes.push(format!(
                "{key} in the root namespace is {value}; it was {was} when the lesson began. The lesson sets it only in its own namespaces, so nslab leaves it: if a command went to the root namespace by mistake, `sysctl -w {key}={was}` sets it back"
            ));
        }
    }
    for r in m.routes.iter().filter(|r| alive(&r.ns)) {
        let id = r.id();
        let here = now.netns.get(&r.ns);
        if r.dev
            .as_deref()
            .is_some_and(|d| gone_links.contains(&(r.ns.as_str(), d)))
            || !here.is_some_and(|n| n.routes.contains(&id))
        {
            continue;
        }
        if !before_in(&r.ns).routes.contains(&id) {
            actions.push(Action {
                item: Item::Route { route: r.clone() },
                why: new_why(&format!("route {}", r.words())),
            });
        }
    }
    for a in m.addrs.iter().filter(|a| alive(&a.ns)) {
        let id = a.id();
        if gone_links.contains(&(a.ns.as_str(), a.dev.as_str()))
            || !now.netns.get(&a.ns).is_some_and(|n| n.addrs.contains(&id))
        {
            continue;
        }
        if !before_in(&a.ns).addrs.contains(&id) {
            actions.push(addr_action(a, new_why(&format!("address {}", a.cidr))));
        }
    }
    actions.extend(link_actions);
    actions.extend(netns_actions);
    for (path, id) in &now.files {
        // (Or a name of the lesson's in /run/netns left without a namespace: see look.)
        let stale_name = path
            .strip_prefix("/run/netns/")
            .is_some_and(|n| !n.contains('/') && m.netns.contains(n));
        if !m.files.contains(path) && !stale_name {
            continue;
        }
        match b.before.files.get(path) {
            Some(was) if was.same(id) && basis == Basis::Baseline => p
                .kept
                .push(format!("file {path} (there before the lesson began)")),
            _ if basis == Basis::Baseline && !stale_name && !b.saw_made_file(path, id.ident()) =>
            {
                p.kept.push(format!(
                    "file {path} (made while no session of the lesson ran: nslab did not see the lesson make it)"
                ))
            }
            _ if !id.regular => p
                .notes
                .push(format!("{path} is left: it is not a regular file")),
            was => actions.push(Action {
                item: Item::File {
                    path: path.clone(),
                    id: *id,
                },
                why: match (was, basis) {
                    (Some(_), Basis::Baseline) => {
                        "another file than the one there when the lesson began".into()
                    }
                    _ => new_why(&format!("file {path}")),
                },
            }),
        }
    }
    for (ns, n) in &now.netns {
        for u in &n.unreadable {
            p.notes
                .push(format!("{u}{}: nslab could not read it now", in_ns(ns)));
        }
    }
    // Said once, however many of the lesson's lines it is true of.
    let mut unknown: Vec<&String> = Vec::new();
    for why in &m.unknown {
        if !unknown.contains(&why) {
            unknown.push(why);
        }
    }
    for why in unknown {
        p.notes.push(if why == NAMED_ELSEWHERE {
            // The line is read: it gives a name, and reset removes that name. What the
            // namespace holds was made elsewhere, and goes with the namespace.
            "a line gives a name to a namespace made elsewhere (`ip netns attach`, or a bind mount onto /run/netns): reset removes the name, as `ip netns del` does, and the namespace goes, with what is in it, once nothing else holds it (a process in it)".to_string()
        } else {
            format!("a line nslab cannot read ({why}): what it made is not removed")
        });
    }
    if basis == Basis::ByName && !m.procs.is_empty() {
        p.notes.push(format!(
            "programs the lesson starts ({}) are not stopped without a baseline",
            m.procs.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    p.actions = actions;
    p
}

fn addr_action(a: &AddrItem, why: String) -> Action {
    Action {
        item: Item::Addr {
            ns: a.ns.clone(),
            dev: a.dev.clone(),
            cidr: a.cidr,
        },
        why,
    }
}

/// How long a program has to end after SIGTERM, before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// Carries a plan out, in its order. Each thing is checked again just before: one that is gone
/// already (a veth end that went with its peer) is passed over; one whose identity changed
/// since the plan (another namespace of that name) is left alone. Every failure is reported.
pub fn carry_out(k: &Kernel, p: &Plan, b: &Baseline) -> Undone {
    let mut u = Undone::default();
    for a in &p.actions {
        match act(k, &a.item, b) {
            Ok(Some(said)) => u.done.push(said),
            Ok(None) => {}
            Err(e) => u.failed.push(a.item.failed(&e)),
        }
    }
    u
}

/// Does one thing, and says what it did; `Ok(None)` when there was nothing left to do.
fn act(k: &Kernel, item: &Item, b: &Baseline) -> Result<Option<String>, String> {
    let done = act_on(k, item, b)?;
    Ok(match done {
        Done::Nothing => None,
        Done::Yes => Some(item.done()),
        Done::Said(s) => Some(s),
    })
}

/// What [`act_on`] did.
enum Done {
    Nothing,
    Yes,
    /// Done, in other words than [`Item::done`]'s.
    Said(String),
}

/// A namespace stacked on the name of one the lesson made is the lesson's too if the baseline
/// would have said so of a namespace alone on that name: not the one there when the lesson
/// began, and one a session saw the lesson make (any new one, in a baseline of an older nslab,
/// or by name).
fn lessons_namespace(b: &Baseline, name: &str, (inode, stamp): (u64, u64)) -> bool {
    b.before.netns.get(name).is_none_or(|bf| bf.inode != inode) && b.saw_made(name, (inode, stamp))
}

fn act_on(k: &Kernel, item: &Item, b: &Baseline) -> Result<Done, String> {
    let err = |e: crate::kernel::KernelError| e.to_string();
    match item {
        Item::Process { name, pid } => {
            let mine = |pid: u32| {
                k.processes_named(name, b.uid, b.ticks)
                    .iter()
                    .any(|(p, _)| *p == pid)
            };
            if !mine(*pid) {
                return Ok(Done::Nothing);
            }
            let target =
                nix::unistd::Pid::from_raw(i32::try_from(*pid).map_err(|e| e.to_string())?);
            nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| format!("kill: {e}"))?;
            let start = Instant::now();
            while mine(*pid) && start.elapsed() < TERM_GRACE {
                std::thread::sleep(Duration::from_millis(10));
            }
            if mine(*pid) {
                nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL)
                    .map_err(|e| format!("kill: {e}"))?;
            }
            Ok(Done::Yes)
        }
        Item::Rule { rule, copies } => {
            let ns = Ns::from_name(&rule.ns);
            for _ in 0..*copies {
                let o = k
                    .shell(&ns, &rule_line(rule, "-D"), Duration::from_secs(10))
                    .map_err(err)?;
                if !o.success() {
                    return Err(format!(
                        "{}: {}",
                        rule_line(rule, "-D"),
                        o.stderr.lines().last().unwrap_or("failed").trim()
                    ));
                }
            }
            Ok(Done::Yes)
        }
        Item::IpRule { ns, rule } => {
            let ns = Ns::from_name(ns);
            // The same rule, preference and all, or it is not the one the plan saw.
            let Some(r) = k
                .rules(&ns)
                .map_err(err)?
                .into_iter()
                .find(|r| r.to_string() == *rule)
            else {
                return Ok(Done::Nothing);
            };
            k.rule_del(&ns, &r).map_err(err)?;
            Ok(Done::Yes)
        }
        Item::Sysctl { ns, key, value } => {
            k.sysctl_write(&Ns::from_name(ns), key, value)
                .map_err(err)?;
            Ok(Done::Yes)
        }
        Item::Route { route } => {
            let ns = Ns::from_name(&route.ns);
            let here = k.snapshot(&ns).map_err(err)?;
            let routes = if route.is_v6() {
                k.routes6(&here).map_err(err)?
            } else {
                here.routes
            };
            if !routes.iter().any(|r| look::route_is(r, route)) {
                return Ok(Done::Nothing);
            }
            let req = RouteReq {
                v6: route.is_v6(),
                table: route.table,
                // As `ip route del` asks: any protocol, any scope.
                protocol: 0,
                scope: 255,
                kind: route.kind,
                dest: route.dest.map(|d| d.addr),
                dst_len: route.dest.map_or(0, |d| d.prefix),
                gateway: route.via,
                oif: None,
                metric: route.metric,
                prefsrc: None,
                onlink: false,
            };
            k.route_change(&ns, Change::Del, route.dev.as_deref(), &req)
                .map_err(err)?;
            Ok(Done::Yes)
        }
        Item::Addr { ns, dev, cidr } => {
            let ns = Ns::from_name(ns);
            let has = k
                .snapshot(&ns)
                .map_err(err)?
                .addrs_of(dev)
                .any(|a| a.cidr == *cidr);
            if !has {
                return Ok(Done::Nothing);
            }
            k.addr_del(&ns, dev, *cidr).map_err(err)?;
            Ok(Done::Yes)
        }
        Item::Link { ns, name, index } => {
            let ns = Ns::from_name(ns);
            match k.link(&ns, name) {
                Ok(l) if l.index == *index => {
                    k.link_del(&ns, name).map_err(err)?;
                    Ok(Done::Yes)
                }
                // Gone with its peer or its namespace, or someone else's now.
                _ => Ok(Done::Nothing),
            }
        }
        Item::Netns { name, inode } => {
            if k.netns_inode(&Ns::Named(name.clone())) != Some(*inode) {
                return Ok(Done::Nothing);
            }
            // Not `ip netns del`, which takes down only the top mount: every namespace of the
            // lesson's stacked on the name (`ip netns add` and a `mount --bind` on top), down
            // to one that is not the lesson's, which keeps the name.
            let unstacked = k
                .netns_del_stack(name, |id| lessons_namespace(b, name, id))
                .map_err(err)?;
            Ok(match unstacked {
                Unstacked::Removed { mounts: 0 | 1 } => Done::Yes,
                Unstacked::Removed { mounts } => Done::Said(format!(
                    "{} ({mounts} namespaces of the lesson's were mounted on it, one on another)",
                    item.done()
                )),
                Unstacked::Uncovered { mounts: 0, .. } => Done::Nothing,
                Unstacked::Uncovered {
                    mounts,
                    under: (under, _),
                } => Done::Said(format!(
                    "unmounted from netns {name} the {} of the lesson's; the namespace under {} (inode {under}) is not the lesson's, and keeps the name",
                    if mounts == 1 {
                        "namespace".to_string()
                    } else {
                        format!("{mounts} namespaces")
                    },
                    if mounts == 1 { "it" } else { "them" },
                )),
            })
        }
        Item::File { path, id } => {
            use std::os::unix::fs::MetadataExt;
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_file() && (m.dev(), m.ino()) == (id.dev, id.ino) => {
                    std::fs::remove_file(path).map_err(|e| e.to_string())?;
                    Ok(Done::Yes)
                }
                _ => Ok(Done::Nothing),
            }
        }
    }
}

/// Looks at the machine now and plans the reset of one lesson.
pub fn plan_now(k: &Kernel, id: &str, b: &Baseline, basis: Basis) -> Result<Plan, String> {
    let now = look::look(k, &b.makes)?;
    let procs = match basis {
        Basis::Baseline => look::processes(k, &b.makes, b.uid, b.ticks),
        Basis::ByName => Vec::new(),
    };
    Ok(plan(id, b, &now, &procs, basis))
}

/// A baseline that says nothing was there, for `--by-name` on a machine without one: the
/// sysctls are set back to the values learn kept in the progress file, if any.
pub fn by_name(k: &Kernel, lesson: &Lesson, progress: Option<&LessonProgress>) -> Baseline {
    let makes = Makes::of(&Creations::of(lesson));
    let mut root = NsSeen::default();
    if let Some(p) = progress {
        for (key, v) in &p.sysctls {
            if let Some(k) = key.strip_prefix("root ") {
                root.sysctls.insert(k.to_string(), v.clone());
            }
        }
    }
    let mut before = Seen::default();
    before.netns.insert("root".into(), root);
    Baseline {
        since: 0,
        by: By::Learn,
        boot: boot_id(),
        uid: nix::unistd::getuid().as_raw(),
        ticks: k.start_ticks(),
        file: lesson.source.name.clone(),
        makes,
        before,
        made: None,
        made_links: None,
        made_files: None,
    }
}

/// A baseline's entry in the ledger, if it is one of this boot: a restart cleared everything a
/// lesson made in the kernel, and the baseline describes a machine that is gone.
pub fn current<'a>(ledger: &'a Ledger, id: &str) -> Option<&'a Baseline> {
    ledger.lessons.get(id).filter(|b| b.boot == boot_id())
}

/// What [`begin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Began {
    /// A baseline was taken now.
    Taken,
    /// The lesson began on this machine earlier: that baseline stays.
    Kept(By),
    /// No state folder (neither HOME nor XDG_STATE_HOME): nothing is recorded.
    NoLedger,
}

/// Takes the baseline of what the lesson's lines may make, before its first command runs; a
/// baseline of this boot taken earlier is kept (the lesson's things since then stay its own).
pub fn begin(k: &Kernel, lesson: &Lesson, by: By) -> Result<Began, String> {
    let store = Store::default();
    if store.path().is_none() {
        return Ok(Began::NoLedger);
    }
    let ledger = store.read().map_err(|e| e.to_string())?;
    if let Some(b) = current(&ledger, &lesson.id) {
        return Ok(Began::Kept(b.by));
    }
    let b = take(k, lesson, by)?;
    let id = lesson.id.clone();
    store
        .update(|l| {
            if l.lessons.get(&id).is_some_and(|b| b.boot == boot_id()) {
                Began::Kept(l.lessons[&id].by)
            } else {
                l.lessons.insert(id, b);
                Began::Taken
            }
        })
        .map_err(|e| e.to_string())
}

/// A new baseline of a lesson, from the machine as it is now.
pub fn take(k: &Kernel, lesson: &Lesson, by: By) -> Result<Baseline, String> {
    let makes = Makes::of(&Creations::of(lesson));
    let before = look::look(k, &makes).map_err(|e| format!("cannot take a baseline: {e}"))?;
    Ok(Baseline {
        since: crate::progress::now(),
        by,
        boot: boot_id(),
        uid: nix::unistd::getuid().as_raw(),
        ticks: k.start_ticks(),
        file: lesson.source.name.clone(),
        makes,
        before,
        made: Some(std::collections::BTreeMap::new()),
        made_links: Some(std::collections::BTreeMap::new()),
        made_files: Some(std::collections::BTreeMap::new()),
    })
}

/// The identities (see [`Kernel::netns_identity`]) of the lesson's named namespaces that exist
/// now and were not there when its baseline was taken.
pub fn new_namespaces(lesson: &Lesson) -> Vec<(String, (u64, u64))> {
    new_namespaces_of(&lesson.id)
}

/// [`new_namespaces`], by the lesson's id.
fn new_namespaces_of(id: &str) -> Vec<(String, (u64, u64))> {
    let Ok(ledger) = Store::default().read() else {
        return Vec::new();
    };
    current(&ledger, id).map_or_else(Vec::new, new_namespaces_in)
}

/// [`new_namespaces`], against this baseline.
pub fn new_namespaces_in(b: &Baseline) -> Vec<(String, (u64, u64))> {
    b.makes
        .netns
        .iter()
        .filter_map(|name| {
            let (inode, stamp) = Kernel::netns_identity(name)?;
            let same_as_before = b.before.netns.get(name).is_some_and(|bf| bf.inode == inode);
            (!same_as_before).then(|| (name.clone(), (inode, stamp)))
        })
        .collect()
}

/// A session of the lesson (learn watching, demo, verify --no-sandbox) sees its namespaces:
/// those in `seen` (from [`new_namespaces`]) that are not `except` (the names the student
/// had before the session and chose to go on with) are written to the baseline as made by
/// the lesson. Reset removes a new namespace of the lesson's names only if it is one of these.
pub fn note_made(lesson: &Lesson, seen: &[(String, (u64, u64))], except: &[(String, (u64, u64))]) {
    note_made_for(&lesson.id, seen, except);
}

/// Demo performs the lesson's lines itself: each namespace, root link and file they make is
/// written down as soon as the line that made it ends, and again when demo leaves (q, Ctrl-C,
/// a signal), so that a demo stopped in the middle of a step leaves nothing reset cannot take
/// back. Only a kill -9 between a line's end and this write (a few milliseconds) escapes it.
/// (`k`: none when no netlink socket could be opened; the root links are then not noted.)
pub fn note_new(k: Option<&Kernel>, id: &str) {
    note_fresh(id, |b| Fresh {
        netns: new_namespaces_in(b),
        links: k.map(|k| new_root_links_in(k, b)).unwrap_or_default(),
        files: new_files_in(b),
    });
}

/// What a session sees made, to be written to the baseline (see [`note_fresh`]).
#[derive(Default)]
struct Fresh {
    netns: Vec<(String, (u64, u64))>,
    links: Vec<(String, u32)>,
    files: Vec<(String, FileIdent)>,
}

/// Writes to the lesson's baseline what `seen` finds made that it does not hold yet: one read
/// of the ledger, and a write only when there is something new. Nothing in a baseline of an
/// older nslab, which did not record such things (every new one is the lesson's there).
fn note_fresh(id: &str, seen: impl FnOnce(&Baseline) -> Fresh) {
    let Ok(ledger) = Store::default().read() else {
        return;
    };
    let Some(b) = current(&ledger, id) else {
        return;
    };
    let mut f = seen(b);
    f.netns
        .retain(|(name, ident)| b.made.is_some() && !b.saw_made(name, *ident));
    f.links
        .retain(|(name, index)| b.made_links.is_some() && !b.saw_made_link(name, *index));
    f.files
        .retain(|(path, ident)| b.made_files.is_some() && !b.saw_made_file(path, *ident));
    if f.netns.is_empty() && f.links.is_empty() && f.files.is_empty() {
        return;
    }
    let r = Store::default().update(|l| {
        if let Some(b) = l.lessons.get_mut(id).filter(|b| b.boot == boot_id()) {
            b.note_made(&f.netns);
            b.note_made_links(&f.links);
            b.note_made_files(&f.files);
        }
    });
    if let Err(e) = r {
        eprintln!("nslab: warning: {e}");
    }
}

/// The lesson's files that exist now as regular files and are not the ones there when its
/// baseline was taken (absent then, or another file): with their identity.
pub fn new_files_in(b: &Baseline) -> Vec<(String, FileIdent)> {
    b.makes
        .files
        .iter()
        .filter_map(|path| {
            let now = FileId::of(path).filter(|f| f.regular)?;
            let same_as_before = b.before.files.get(path).is_some_and(|was| was.same(&now));
            (!same_as_before).then(|| (path.clone(), now.ident()))
        })
        .collect()
}

/// A session sees the lesson's files made (from [`new_files_in`]), less `except` (files the
/// student had before the session and chose to go on with, as they were then): written to the
/// baseline. Reset removes a new file of the lesson's paths only if it is one of these.
pub fn note_made_files(id: &str, except: &[(String, FileIdent)]) {
    note_fresh(id, |b| Fresh {
        files: new_files_in(b)
            .into_iter()
            .filter(|f| !except.contains(f))
            .collect(),
        ..Fresh::default()
    });
}

/// The root links of the lesson's names that exist now with another ifindex than when its
/// baseline was taken (or that were not there then): the ones a session now sees made.
pub fn new_root_links_in(k: &Kernel, b: &Baseline) -> Vec<(String, u32)> {
    let Ok(root) = k.snapshot(&Ns::Root) else {
        return Vec::new();
    };
    let before = b.before.netns.get("root");
    b.makes
        .links
        .iter()
        .filter(|l| l.ns == "root")
        .filter_map(|l| {
            let index = root.link(&l.name)?.index;
            let was = before.and_then(|bf| bf.links.get(&l.name));
            (was != Some(&index)).then(|| (l.name.clone(), index))
        })
        .collect()
}

/// A session sees the lesson's root links made (from [`new_root_links_in`]), less `except`
/// (names the student had before the session and chose to go on with): written to the
/// baseline. Reset removes a new root link of the lesson's names only if it is one of these.
pub fn note_made_links(k: &Kernel, id: &str, except: &[String]) {
    let Ok(ledger) = Store::default().read() else {
        return;
    };
    let Some(b) = current(&ledger, id) else {
        return;
    };
    let seen: Vec<(String, u32)> = new_root_links_in(k, b)
        .into_iter()
        .filter(|(name, _)| !except.contains(&format!("link {name}")))
        .filter(|(name, index)| !b.saw_made_link(name, *index) || b.made_links.is_none())
        .collect();
    if seen.is_empty() || b.made_links.is_none() {
        return;
    }
    let r = Store::default().update(|l| {
        if let Some(b) = l.lessons.get_mut(id).filter(|b| b.boot == boot_id()) {
            b.note_made_links(&seen);
        }
    });
    if let Err(e) = r {
        eprintln!("nslab: warning: {e}");
    }
}

fn note_made_for(id: &str, seen: &[(String, (u64, u64))], except: &[(String, (u64, u64))]) {
    let fresh: Vec<(String, (u64, u64))> = seen
        .iter()
        .filter(|s| !except.contains(s))
        .cloned()
        .collect();
    if fresh.is_empty() {
        return;
    }
    let store = Store::default();
    let r = store.update(|l| {
        if let Some(b) = l.lessons.get_mut(id).filter(|b| b.boot == boot_id()) {
            b.note_made(&fresh);
        }
    });
    if let Err(e) = r {
        eprintln!("nslab: warning: {e}");
    }
}

/// verify --no-sandbox, before the lesson's first line: a fresh baseline, written to the
/// ledger. A baseline of this boot there already means the lesson began on this machine and
/// was not reset: its things would pass for the run's own, so verify refuses.
pub fn begin_verify(k: &Kernel, lesson: &Lesson) -> Result<Baseline, crate::exit::Failure> {
    let store = Store::default();
    if let Some(b) = current(&store.read()?, &lesson.id) {
        return Err(crate::exit::Failure::env(format!(
            "{id}: the lesson began on this machine ({by}) and was not reset since, so verify --no-sandbox cannot tell its things from the run's: run `nslab reset {id}` first",
            id = lesson.id,
            by = b.by.as_str()
        )));
    }
    let b = take(k, lesson, By::Verify).map_err(crate::exit::Failure::env)?;
    if store.path().is_none() {
        eprintln!(
            "nslab: warning: neither HOME nor XDG_STATE_HOME is set: the baseline is kept in memory only, and a killed run cannot be reset"
        );
    }
    let id = lesson.id.clone();
    store.update(|l| l.lessons.insert(id, b.clone()))?;
    Ok(b)
}

/// verify --no-sandbox, at the end (or at a signal): resets the lesson by its baseline, and
/// forgets the baseline once nothing of the lesson's is left.
pub fn end_verify(k: &Kernel, id: &str, b: &Baseline) -> Undone {
    // The run performed every line since its baseline (it refuses to begin on one it did not
    // take): every new namespace of the lesson's names is its own, seen noted or not (a line
    // interrupted before its step ended).
    let b = &Baseline {
        made: None,
        made_links: None,
        made_files: None,
        ..b.clone()
    };
    match plan_now(k, id, b, Basis::Baseline) {
        Ok(p) => {
            let u = carry_out(k, &p, b);
            if u.failed.is_empty()
                && let Err(e) = forget(id)
            {
                eprintln!("nslab: warning: {e}");
            }
            u
        }
        Err(e) => Undone {
            done: Vec::new(),
            failed: vec![e],
        },
    }
}

/// Forgets a lesson's baseline (after a reset that left nothing of it).
pub fn forget(id: &str) -> Result<(), LedgerError> {
    Store::default().update(|l| {
        l.lessons.remove(id);
    })
}

/// Learn's `r` key: resets the lesson by its baseline, which stays (the lesson goes on). In
/// learn's sandbox (without root) everything there is the lesson's: the names do. Returns one
/// line per thing removed, or that could not be.
pub fn reset_in_session(k: &Kernel, lesson: &Lesson, sandboxed: bool) -> Vec<String> {
    let (b, basis) = if sandboxed {
        (by_name(k, lesson, None), Basis::ByName)
    } else {
        let ledger = match Store::default().read() {
            Ok(l) => l,
            Err(e) => return vec![format!("cannot read the ledger: {e}")],
        };
        match current(&ledger, &lesson.id) {
            Some(b) => (b.clone(), Basis::Baseline),
            None => return vec![NO_BASELINE.to_string()],
        }
    };
    match plan_now(k, &lesson.id, &b, basis) {
        Ok(p) => {
            let u = carry_out(k, &p, &b);
            let mut said = u.done;
            said.extend(u.failed);
            said
        }
        Err(e) => vec![e],
    }
}

/// [`begin`], saying on standard error what the student should know: that nslab keeps no
/// ledger here. Learn and demo call it before the terminal is taken, and before the lesson's
/// first command.
///
/// A ledger nslab cannot write (its lock held too long, a file it cannot read) stops the session
/// before its first line (exit code 3): what the lesson would make, no reset could find.
pub fn begin_noting(k: &Kernel, lesson: &Lesson, by: By) -> Result<(), crate::exit::Failure> {
    match begin(k, lesson, by) {
        Ok(Began::Taken | Began::Kept(_)) => Ok(()),
        Ok(Began::NoLedger) => {
            eprintln!(
                "nslab: warning: neither HOME nor XDG_STATE_HOME is set, so nslab keeps no ledger: `nslab reset` will not know what this lesson made"
            );
            Ok(())
        }
        Err(e) => Err(crate::exit::Failure::env(format!(
            "{e}; nslab could not write this lesson's baseline, and without it `nslab reset {}` would not know what the lesson makes, so nothing was done",
            lesson.id
        ))),
    }
}

/// Issue 19, before learn takes the terminal: other lessons' things still on this machine are
/// listed, and their reset offered (y/N on standard input).
pub fn offer_others(k: &Kernel, lesson: &Lesson) {
    let plans = leftovers_of_others(k, &lesson.id);
    if plans.is_empty() {
        return;
    }
    let ids: Vec<&str> = plans.iter().map(|p| p.lesson.as_str()).collect();
    eprintln!("Other lessons left things on this machine:");
    for p in &plans {
        let items: Vec<String> = p.actions.iter().map(|a| a.item.to_string()).collect();
        eprintln!(
            "  {}: {}",
            p.lesson,
            crate::term::printable(&items.join(", "))
        );
    }
    eprint!(
        "They may get in the way of {}. Reset {} first? [y/N] ",
        lesson.id,
        ids.join(", ")
    );
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err()
        || !matches!(answer.trim(), "y" | "Y" | "yes")
    {
        return;
    }
    let Ok(ledger) = Store::default().read() else {
        return;
    };
    for p in &plans {
        let Some(b) = current(&ledger, &p.lesson) else {
            continue;
        };
        let u = carry_out(k, p, b);
        for f in &u.failed {
            eprintln!("nslab: {}: {f}", p.lesson);
        }
        if u.failed.is_empty()
            && let Err(e) = forget(&p.lesson)
        {
            eprintln!("nslab: warning: {e}");
        }
    }
}

/// Demo, before its first step: what an earlier run of the lesson left (its reset is offered:
/// `Some(question)`), or names the lesson makes that someone else holds (a warning, printed).
pub fn before_demo(k: &Kernel, lesson: &Lesson) -> Result<Option<String>, String> {
    if let Some((p, _)) = own_leftovers(k, lesson) {
        let items: Vec<String> = p.actions.iter().map(|a| a.item.to_string()).collect();
        return Ok(Some(format!(
            "An earlier run of this lesson left {}. Reset the lesson first? [y/N] ",
            crate::term::printable(&items.join(", "))
        )));
    }
    // The demo performs every line, its clean-up's deletions too: on a namespace or link of
    // the lesson's names that nslab did not make, it would build, and then delete it.
    let taken = names_taken(k, lesson);
    if !taken.is_empty() {
        let one = taken.len() == 1;
        let reset = left_by(k, lesson, &taken);
        return Err(format!(
            "{} already exist{}, and nslab did not see this lesson make {}: the demo would use {} and its clean-up would delete {}, and nslab never removes what it did not make. Rename or delete {} first, or give the demo a machine (or a VM) of its own{reset}",
            crate::term::printable(&taken.join(", ")),
            if one { "s" } else { "" },
            if one { "it" } else { "them" },
            if one { "it" } else { "them" },
            if one { "it" } else { "them" },
            if one { "it" } else { "them" },
        ));
    }
    Ok(None)
}

/// Whose leftovers `taken` are, when the ledger knows: another lesson's (a session of it
/// ended midway), whose reset removes them. ". They were left by X: `nslab reset X` removes
/// them", or nothing.
pub fn left_by(k: &Kernel, lesson: &Lesson, taken: &[String]) -> String {
    let one = taken.len() == 1;
    let owners: Vec<String> = leftovers_of_others(k, &lesson.id)
        .into_iter()
        .filter(|p| {
            p.actions
                .iter()
                .any(|a| taken.contains(&a.item.to_string()))
        })
        .map(|p| p.lesson)
        .collect();
    if owners.is_empty() {
        return String::new();
    }
    format!(
        ". {} left by {}: `nslab reset {}` removes {}",
        if one { "It was" } else { "They were" },
        owners.join(", "),
        owners.join(" "),
        if one { "it" } else { "them" },
    )
}

/// Learn, before the terminal is taken: the names the lesson makes that exist now and that
/// nslab did not see this lesson make (an earlier session of it, by its baseline, did not):
/// [`names_taken`] less this lesson's own leftovers. Learn asks before it goes on.
pub fn taken_before_learn(k: &Kernel, lesson: &Lesson) -> Vec<String> {
    let own: Vec<String> = own_leftovers(k, lesson)
        .map(|(p, _)| p.actions.iter().map(|a| a.item.to_string()).collect())
        .unwrap_or_default();
    names_taken(k, lesson)
        .into_iter()
        .filter(|t| !own.contains(t))
        .collect()
}

/// The lesson was taken to its end (demo, learn): if nothing of what it made is left (its
/// clean-up removed it all), its baseline is forgotten. A baseline kept after the end would
/// take what the user makes later under the lesson's names (`ip netns add blue` by hand) for
/// the lesson's, and a reset would remove it.
pub fn finished(k: &Kernel, lesson: &Lesson) {
    let Ok(ledger) = Store::default().read() else {
        return;
    };
    let Some(b) = current(&ledger, &lesson.id) else {
        return;
    };
    // The clean-up's last `ip netns del` may still be tearing its namespace down: the veth
    // ends whose peers were in it go with it, some milliseconds later. Only links go by
    // themselves; while they are all that is left, look again for a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let Ok(p) = plan_now(k, &lesson.id, b, Basis::Baseline) else {
            return;
        };
        if p.is_empty() {
            break;
        }
        let links_only = p
            .actions
            .iter()
            .all(|a| matches!(a.item, Item::Link { .. }));
        if !links_only || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Err(e) = forget(&lesson.id) {
        eprintln!("nslab: warning: {e}");
    }
}

/// Demo's answer yes: resets the lesson by its baseline; a reset that leaves nothing forgets
/// the baseline, and the demo takes a new one. Returns what to show.
pub fn demo_reset(k: &Kernel, lesson: &Lesson) -> String {
    let Some((p, b)) = own_leftovers(k, lesson) else {
        return "Reset: nothing to remove\n".into();
    };
    let u = carry_out(k, &p, &b);
    if u.failed.is_empty()
        && let Err(e) = forget(&lesson.id)
    {
        return format!("Reset: {}; {e}\n", u.done.join(", "));
    }
    let mut s = format!("Reset: {}\n", u.done.join(", "));
    for f in &u.failed {
        s.push_str(&format!("{f}\n"));
    }
    s
}

/// Issue 19: other lessons that began on this machine and whose things are still here (what
/// their reset would remove). Learn offers their reset when a lesson starts. A lesson that
/// learn or demo runs now (in another terminal) left nothing: it is in use.
pub fn leftovers_of_others(k: &Kernel, except: &str) -> Vec<Plan> {
    let Ok(ledger) = Store::default().read() else {
        return Vec::new();
    };
    ledger
        .lessons
        .keys()
        .filter(|id| id.as_str() != except && super::session::running(id).is_none())
        .filter_map(|id| {
            let b = current(&ledger, id)?;
            plan_now(k, id, b, Basis::Baseline)
                .ok()
                .filter(|p| !p.is_empty())
        })
        .collect()
}

/// Demo: what an earlier run of this lesson left here, by its baseline.
pub fn own_leftovers(k: &Kernel, lesson: &Lesson) -> Option<(Plan, Baseline)> {
    let ledger = Store::default().read().ok()?;
    let b = current(&ledger, &lesson.id)?.clone();
    let p = plan_now(k, &lesson.id, &b, Basis::Baseline).ok()?;
    (!p.is_empty()).then_some((p, b))
}

/// What the lesson makes that exists now by name alone (no baseline says whose it is): demo
/// warns of it before it starts, since the lesson's commands would fail on it.
pub fn names_taken(k: &Kernel, lesson: &Lesson) -> Vec<String> {
    let made = Creations::of(lesson);
    let mut found: Vec<String> = made
        .netns
        .iter()
        .filter(|n| k.netns_exists(n))
        .map(|n| format!("netns {n}"))
        .collect();
    let root_links = k.snapshot(&Ns::Root).map(|s| s.links).unwrap_or_default();
    for (ns, name) in &made.links {
        if ns.is_root() && root_links.iter().any(|l| &l.name == name) {
            found.push(format!("link {name}"));
        }
    }
    // A file the lesson writes (and its clean-up may delete): the user's notes in
    // /tmp/netns-demo.c would be overwritten. One the lesson only appends to (`echo "100
    // blue" >> /etc/iproute2/rt_tables`) is meant to be there.
    for path in &made.files {
        if std::fs::symlink_metadata(path).is_ok() && !only_appended(lesson, path) {
            found.push(format!("file {path}"));
        }
    }
    found
}

/// Whether every line of the lesson that names `path` appends to it (`>> PATH`).
fn only_appended(lesson: &Lesson, path: &str) -> bool {
    let mut named = false;
    for c in lesson.steps.iter().flat_map(|s| &s.commands) {
        for (at, _) in c.text.match_indices(path) {
            named = true;
            if !c.text[..at].trim_end().ends_with(">>") {
                return false;
            }
        }
    }
    named
}

pub const NO_BASELINE: &str = "nslab has no baseline of this lesson on this machine (it did not see the lesson begin here), so it cannot tell the lesson's things from yours: nothing removed";

#[cfg(test)]
mod tests;
