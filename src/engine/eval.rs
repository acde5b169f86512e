//! Checks evaluated against the live kernel. A failure says what was expected, what the kernel
//! has, and a next move.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::kernel::{Kernel, PingOutcome, Snapshot};
use crate::lesson::check::{Check, LinkPred};
use crate::lesson::{Answer, Ns};

/// How long a ping check waits for a reply: a veth answers in well under a millisecond.
pub const PING_CHECK_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub pass: bool,
    /// On failure: expected, found, and a next move. On success: what was found, briefly.
    pub message: String,
}

impl Outcome {
    fn pass(message: impl Into<String>) -> Self {
        Outcome {
            pass: true,
            message: message.into(),
        }
    }
    fn fail(message: impl Into<String>) -> Self {
        Outcome {
            pass: false,
            message: message.into(),
        }
    }
}

/// `ip` or `ip -n NS`, for "Try:" suggestions.
fn ip(ns: &Ns) -> String {
    match ns {
        Ns::Root => "ip".into(),
        Ns::Named(n) => format!("ip -n {n}"),
    }
}

/// "a, b, c" for a short list; the first few and a count for a long one (a bridge's thousand
/// ports would drown the message).
fn some_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 8;
    let names: Vec<&str> = names.collect();
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!(
        "{}, and {} more",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}

fn where_(ns: &Ns) -> String {
    match ns {
        Ns::Root => "in the root namespace".into(),
        Ns::Named(n) => format!("in {n}"),
    }
}

/// One round of evaluation: each namespace is dumped at most once, however many checks ask.
pub struct Round<'k> {
    k: &'k Kernel,
    snaps: HashMap<Ns, Option<Snapshot>>,
    ping_timeout: Duration,
    /// Pings sent ahead, all at once, by [`Round::prefetch`].
    pings: HashMap<(Ns, std::net::Ipv4Addr), Result<PingOutcome, String>>,
    /// The root namespace and the named ones, listed once a round by [`Round::locate`].
    namespaces: Option<Vec<Ns>>,
    /// Link name -> the namespaces that have a link of that name, built by [`Round::locate`].
    links_at: Option<HashMap<String, Vec<Ns>>>,
}

impl<'k> Round<'k> {
    pub fn new(k: &'k Kernel) -> Self {
        k.prune();
        Round {
            k,
            snaps: HashMap::new(),
            ping_timeout: PING_CHECK_TIMEOUT,
            pings: HashMap::new(),
            namespaces: None,
            links_at: None,
        }
    }

    /// How long a ping check waits for its reply (learn polls with a shorter wait).
    pub fn ping_timeout(mut self, t: Duration) -> Self {
        self.ping_timeout = t;
        self
    }

    /// Sends the echoes of every ping check among `checks` at once.
    pub fn prefetch<'c>(&mut self, checks: impl IntoIterator<Item = &'c Check>) {
        fn collect(c: &Check, out: &mut Vec<(Ns, std::net::Ipv4Addr)>) {
            match c {
                Check::Ping { addr, from } => out.push((from.clone(), *addr)),
                Check::Not(inner) => collect(inner, out),
                _ => {}
            }
        }
        let mut targets = Vec::new();
        for c in checks {
            collect(c, &mut targets);
        }
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        targets.retain(|(ns, _)| match ns {
            Ns::Named(n) => self.k.netns_exists(n),
            Ns::Root => true,
        });
        let results = self.k.ping_many(&targets, self.ping_timeout);
        for (t, r) in targets.into_iter().zip(results) {
            self.pings.insert(t, r.map_err(|e| e.to_string()));
        }
    }

    fn snap(&mut self, ns: &Ns) -> Option<&Snapshot> {
        if !self.snaps.contains_key(ns) {
            let s = match ns {
                Ns::Named(n) if !self.k.netns_exists(n) => None,
                _ => self.k.snapshot(ns).ok(),
            };
            self.snaps.insert(ns.clone(), s);
        }
        self.snaps.get(ns).and_then(|s| s.as_ref())
    }

    /// Where a link of this name is, for "it is in red" hints: the root namespace first, then
    /// the named ones in order. The search stops at the first namespace that has it; a search
    /// that had to dump every namespace indexes them all, so that the round's next failing
    /// checks (a thousand, in a big lesson) each cost a lookup, not another pass.
    fn locate(&mut self, name: &str, not_in: &Ns) -> Option<Ns> {
        if let Some(at) = &self.links_at {
            return at.get(name)?.iter().find(|ns| *ns != not_in).cloned();
        }
        // Taken out of the round while `snap` borrows it, and put back.
        let all = self.namespaces.take().unwrap_or_else(|| {
            std::iter::once(Ns::Root)
                .chain(self.k.netns_list().into_iter().map(Ns::Named))
                .collect()
        });
        let hit = all
            .iter()
            .find(|ns| *ns != not_in && self.snap(ns).is_some_and(|s| s.link(name).is_some()))
            .cloned();
        if hit.is_none() {
            let mut at: HashMap<String, Vec<Ns>> = HashMap::new();
            for ns in &all {
                if let Some(s) = self.snap(ns) {
                    for l in &s.links {
                        at.entry(l.name.clone()).or_default().push(ns.clone());
                    }
                }
            }
            self.links_at = Some(at);
        }
        self.namespaces = Some(all);
        hit
    }

    pub fn eval(&mut self, check: &Check) -> Outcome {
        match check {
            Check::Not(inner) => {
                let o = self.eval(inner);
                if o.pass {
                    Outcome::fail(format!(
                        "expected this not to hold: {inner}; but it does ({})",
                        o.message
                    ))
                } else {
                    Outcome::pass(format!("as expected, {inner} does not hold"))
                }
            }
            Check::Netns { name, exists } => {
                let has = self.k.netns_exists(name);
                match (exists, has) {
                    (true, true) => Outcome::pass(format!("netns {name} exists")),
                    (false, false) => Outcome::pass(format!("netns {name} is gone")),
                    (true, false) => Outcome::fail(format!(
                        "expected netns {name} to exist; /run/netns has no {name}. Try: ip netns add {name}"
                    )),
                    (false, true) => Outcome::fail(format!(
                        "expected netns {name} to be gone; it still exists. Try: ip netns del {name}"
                    )),
                }
            }
            Check::NetnsCount { op, count } => {
                let n = self.k.net_namespaces().len();
                if op.holds(n, *count) {
                    Outcome::pass(format!("{n} network namespaces"))
                } else {
                    Outcome::fail(format!(
                        "expected the number of network namespaces {op} {count}; there are {n} (see lsns -t net)"
                    ))
                }
            }
            Check::Link { name, ns, pred } => self.link(name, ns, pred),
            Check::Addr { cidr, dev, ns } => {
                let Some(s) = self.snap(ns) else {
                    return Outcome::fail(format!(
                        "expected {cidr} on {dev} {}; netns {} does not exist",
                        where_(ns),
                        ns.name()
                    ));
                };
                if s.link(dev).is_none() {
                    return Outcome::fail(format!(
                        "expected {cidr} on {dev} {}; there is no link {dev} there",
                        where_(ns)
                    ));
                }
                let has: Vec<String> = s.addrs_of(dev).map(|a| a.cidr.to_string()).collect();
                if s.addrs_of(dev).any(|a| a.cidr == *cidr) {
                    Outcome::pass(format!("{dev} has {cidr}"))
                } else {
                    let found = if has.is_empty() {
                        format!("{dev} has no IPv4 address")
                    } else {
                        format!("{dev} has {}", has.join(", "))
                    };
                    Outcome::fail(format!(
                        "expected {cidr} on {dev} {}; {found}. Try: {} address add {cidr} dev {dev}",
                        where_(ns),
                        ip(ns)
                    ))
                }
            }
            Check::Route { dest, via, dev, ns } => {
                let what = dest.map_or("default".to_string(), |d| d.to_string());
                let Some(s) = self.snap(ns) else {
                    return Outcome::fail(format!(
                        "expected a route {what} via {via} {}; netns {} does not exist",
                        where_(ns),
                        ns.name()
                    ));
                };
                let same_dest: Vec<_> = s.routes.iter().filter(|r| r.dest == *dest).collect();
                let ok = same_dest.iter().any(|r| {
                    r.via == Some(*via) && dev.as_ref().is_none_or(|d| r.dev.as_ref() == Some(d))
                });
                if ok {
                    Outcome::pass(format!("route {what} via {via}"))
                } else {
                    let found = match same_dest.first() {
                        Some(r) => format!(
                            "its route {what} goes {}",
                            r.via.map_or_else(
                                || format!("out of {}", r.dev.clone().unwrap_or_default()),
                                |v| format!("via {v}")
                            )
                        ),
                        None => format!("it has no route {what}"),
                    };
                    let dev_part = dev
                        .as_ref()
                        .map(|d| format!(" dev {d}"))
                        .unwrap_or_default();
                    Outcome::fail(format!(
                        "expected a route {what} via {via} {}; {found}. Try: {} route add {what} via {via}{dev_part}",
                        where_(ns),
                        ip(ns)
                    ))
                }
            }
            Check::Ping { addr, from } => {
                if let Ns::Named(n) = from
                    && !self.k.netns_exists(n)
                {
                    return Outcome::fail(format!(
                        "expected {addr} to answer a ping from {n}; netns {n} does not exist"
                    ));
                }
                let got = match self.pings.get(&(from.clone(), *addr)) {
                    Some(r) => r.clone(),
                    None => self
                        .k
                        .ping(from, *addr, self.ping_timeout)
                        .map_err(|e| e.to_string()),
                };
                match got {
                    Ok(PingOutcome::Reply(rtt)) => Outcome::pass(format!(
                        "{addr} answered from {} in {:.3} ms",
                        from.name(),
                        rtt.as_secs_f64() * 1000.0
                    )),
                    Ok(PingOutcome::NoReply) => Outcome::fail(format!(
                        "expected {addr} to answer a ping from {}; no reply within {} ms. Are both ends up, with addresses in one subnet (or a route, and forwarding on the router)?",
                        from.name(),
                        self.ping_timeout.as_millis()
                    )),
                    Ok(PingOutcome::Unreachable(why)) => Outcome::fail(format!(
                        "expected {addr} to answer a ping from {}; {why}: {} has no route to {addr}. Try: {} route",
                        from.name(),
                        from.name(),
                        ip(from)
                    )),
                    Err(e) => {
                        Outcome::fail(format!("cannot ping {addr} from {}: {e}", from.name()))
                    }
                }
            }
            Check::Sysctl { key, value, ns } => match self.k.sysctl_read(ns, key) {
                Ok(v) if v == *value => Outcome::pass(format!("{key} = {v}")),
                Ok(v) => {
                    let run = match ns {
                        Ns::Root => String::new(),
                        Ns::Named(n) => format!("ip netns exec {n} "),
                    };
                    Outcome::fail(format!(
                        "expected {key} = {value} {}; it is {v}. Try: {run}sysctl -w {key}={value}",
                        where_(ns)
                    ))
                }
                Err(e) => Outcome::fail(format!("expected {key} = {value} {}; {e}", where_(ns))),
            },
            Check::ProcessIsolated { name } => {
                let procs = self.k.isolated_processes();
                match procs.iter().find(|(_, c)| c == name) {
                    Some((pid, _)) => Outcome::pass(format!(
                        "{name} (pid {pid}) lives in a network namespace of its own"
                    )),
                    None => Outcome::fail(format!(
                        "expected a process named {name} in a network namespace other than the root one; there is none (see lsns -t net)"
                    )),
                }
            }
            Check::Shell { command, ns } => {
                match self.k.shell(ns, command, Duration::from_secs(30)) {
                    Ok(o) if o.success() => Outcome::pass(format!("`{command}` succeeded")),
                    Ok(o) => {
                        let why = o
                            .stderr
                            .lines()
                            .next()
                            .map(|l| format!(": {l}"))
                            .unwrap_or_default();
                        let status = if o.timed_out {
                            "timed out".to_string()
                        } else {
                            format!("exited with {}", o.status.unwrap_or(-1))
                        };
                        Outcome::fail(format!(
                            "expected `{command}` to succeed {}; it {status}{why}",
                            where_(ns)
                        ))
                    }
                    Err(e) => Outcome::fail(format!("cannot run `{command}`: {e}")),
                }
            }
        }
    }

    fn link(&mut self, name: &str, ns: &Ns, pred: &LinkPred) -> Outcome {
        let Some(s) = self.snap(ns) else {
            return match pred {
                LinkPred::Absent => {
                    Outcome::pass(format!("netns {} is gone, and {name} with it", ns.name()))
                }
                _ => Outcome::fail(format!(
                    "expected link {name} {}; netns {} does not exist. Try: ip netns add {}",
                    where_(ns),
                    ns.name(),
                    ns.name()
                )),
            };
        };
        let link = s.link(name).cloned();
        let Some(l) = link else {
            if *pred == LinkPred::Absent {
                return Outcome::pass(format!("{name} is gone from {}", ns.name()));
            }
            let others = some_names(s.links.iter().map(|l| l.name.as_str()));
            let elsewhere = self.locate(name, ns);
            let found = match &elsewhere {
                Some(e) => format!("{name} is {}", where_(e)),
                None => format!("{} has no {name} (it has {others})", ns.name()),
            };
            let hint = match (&elsewhere, ns) {
                (Some(e), Ns::Named(target)) => {
                    format!(" Try: {} link set {name} netns {target}", ip(e))
                }
                _ => String::new(),
            };
            return Outcome::fail(format!(
                "expected link {name} {}; {found}.{hint}",
                where_(ns)
            ));
        };
        let here = where_(ns);
        match pred {
            LinkPred::Exists => Outcome::pass(format!("{name} is {here}")),
            LinkPred::Absent => Outcome::fail(format!(
                "expected {name} {here} to be gone; it is still there. Try: {} link del {name}",
                ip(ns)
            )),
            LinkPred::Up | LinkPred::Down => {
                let want_up = *pred == LinkPred::Up;
                if l.up == want_up {
                    Outcome::pass(format!(
                        "{name} {here} is {}",
                        if l.up { "up" } else { "down" }
                    ))
                } else {
                    let (w, is) = if want_up {
                        ("up", "down")
                    } else {
                        ("down", "up")
                    };
                    Outcome::fail(format!(
                        "expected {name} {here} to be {w}; it is {is}. Try: {} link set {name} {w}",
                        ip(ns)
                    ))
                }
            }
            LinkPred::Kind(k) => match &l.kind {
                Some(have) if have == k => Outcome::pass(format!("{name} is a {k}")),
                have => Outcome::fail(format!(
                    "expected {name} {here} to be a {k}; it is a {}",
                    have.as_deref().unwrap_or("device of no kind")
                )),
            },
            LinkPred::Peer {
                name: pname,
                ns: pns,
            } => {
                let Some(p) = &l.peer else {
                    return Outcome::fail(format!(
                        "expected {name} {here} to be a veth whose peer is {pname}; it is not a veth"
                    ));
                };
                let pn = p
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("ifindex {}", p.index));
                let pwhere =
                    p.ns.as_ref()
                        .map_or("in a namespace nslab cannot name".to_string(), where_);
                if p.name.as_deref() == Some(pname.as_str()) && p.ns.as_ref() == Some(pns) {
                    Outcome::pass(format!("{name} {here} is paired with {pname} {pwhere}"))
                } else {
                    Outcome::fail(format!(
                        "expected {name} {here} to be paired with {pname} {}; its peer is {pn} {pwhere}",
                        where_(pns)
                    ))
                }
            }
            LinkPred::Master(m) => match &l.master {
                Some(have) if have == m => Outcome::pass(format!("{name} is a port of {m}")),
                Some(have) => Outcome::fail(format!(
                    "expected {name} {here} to be a port of {m}; its master is {have}. Try: {} link set {name} master {m}",
                    ip(ns)
                )),
                None => Outcome::fail(format!(
                    "expected {name} {here} to be a port of {m}; it has no master. Try: {} link set {name} master {m}",
                    ip(ns)
                )),
            },
            LinkPred::NoMaster => match &l.master {
                None => Outcome::pass(format!("{name} has no master")),
                Some(have) => Outcome::fail(format!(
                    "expected {name} {here} to have no master; it is a port of {have}. Try: {} link set {name} nomaster",
                    ip(ns)
                )),
            },
        }
    }

    /// The live answer to a lesson's question.
    pub fn answer(&mut self, a: &Answer) -> Option<String> {
        match a {
            Answer::NetnsCount => Some(self.k.net_namespaces().len().to_string()),
            Answer::RootNetnsInode => self.k.netns_inode(&Ns::Root).map(|i| i.to_string()),
            Answer::NetnsInode(n) => self
                .k
                .netns_inode(&Ns::Named(n.clone()))
                .map(|i| i.to_string()),
        }
    }
}
