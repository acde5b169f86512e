//! The check language: one declarative fact about the kernel per line.
//!
//! ```text
//! netns blue exists                 netns blue absent            netns count = 3
//! netns keep same as process netns-demo
//! link veth0 in blue is up          link veth0 in blue is down   link bridge0 kind bridge
//! link veth0 exists                 link veth0 in blue absent    link vx0 in a kind vxlan
//! link veth0 in blue peer veth1 in red
//! link blue0 master bridge0         link blue0 nomaster
//! link veth0 in blue mtu 1400       link veth0 in blue address 02:00:00:00:00:01
//! addr 10.1.0.2/24 on veth0 in blue
//! addr 10.1.0.2/24 only on veth0 in blue        (and on no other link of the lesson)
//! addr 10.0.0.1/24 on veth0 brd 10.0.0.255 label veth0:1 in blue
//! addr 2001:db8::1/64 on veth0 in blue
//! route default via 10.1.0.1 in blue
//! route 10.0.2.0/24 via 10.0.1.1 dev left0 metric 100 table 10 in left
//! route 10.0.2.0/24 dev left0 in left
//! route blackhole 10.9.0.0/16 in router
//! neigh 10.1.0.3 on veth0 in blue           neigh 10.1.0.3 lladdr 02:00:00:00:00:02 permanent in blue
//! fdb on blue0 learned                      fdb on blue0 has mac of blue1 in blue
//! ping 10.1.0.3 from blue                   (blue can reach it now)
//! pinged 10.1.0.3 from blue                 (the student pinged it during the step, and got replies)
//! pinged 10.0.2.2 from left unanswered      (the student tried, and no reply came)
//! sysctl net.ipv4.ip_forward = 1 in router
//! process netns-demo in another netns
//! sh (the masquerade rule is in place): iptables -t nat -C POSTROUTING -s 10.1.0.0/24 -j MASQUERADE
//! sh in blue: ip link show lo
//! not ping 10.0.2.2 from left
//! ```
//! Leaving out `in NS` (or `from NS`) means the root namespace; `in root` says so explicitly.

use std::fmt;
use std::net::IpAddr;

use crate::net::{Cidr, Mac, Ns};

/// The first words a check line may start with, for "did you mean" suggestions.
pub const KEYWORDS: &[&str] = &[
    "netns", "link", "addr", "address", "route", "neigh", "fdb", "ping", "pinged", "sysctl",
    "process", "sh:", "sh", "not",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Netns {
        name: String,
        exists: bool,
    },
    /// The named namespace is the very one a process of this name lives in (same inode).
    NetnsSameAs {
        name: String,
        process: String,
    },
    NetnsCount {
        op: Cmp,
        count: usize,
    },
    Link {
        name: String,
        ns: Ns,
        pred: LinkPred,
    },
    Addr {
        cidr: Cidr,
        dev: String,
        ns: Ns,
        /// And on no other link of the lesson's namespaces.
        only: bool,
        brd: Option<IpAddr>,
        label: Option<String>,
    },
    Route {
        ns: Ns,
        route: RouteSpec,
    },
    Neigh {
        ns: Ns,
        addr: IpAddr,
        dev: Option<String>,
        lladdr: Option<Mac>,
        /// A neighbour state by its `ip neigh` name (`permanent`, `reachable`, ...).
        state: Option<String>,
    },
    Fdb {
        ns: Ns,
        port: String,
        what: FdbWhat,
    },
    /// The namespace reaches the address now (nslab proves it, leaving no trace).
    Ping {
        addr: IpAddr,
        from: Ns,
    },
    /// An action: since the step began, echo requests went from the namespace to the address,
    /// and replies came back (or, `answered: false`, none did).
    Pinged {
        addr: IpAddr,
        from: Ns,
        answered: bool,
    },
    Sysctl {
        key: String,
        value: String,
        ns: Ns,
    },
    /// A process of this name, started during the lesson by the student's session, lives in a
    /// network namespace other than the root one.
    ProcessIsolated {
        name: String,
    },
    /// The escape hatch: a shell command that must exit 0. `says` is what it proves, in words.
    Shell {
        command: String,
        ns: Ns,
        says: Option<String>,
    },
    Not(Box<Check>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPred {
    Exists,
    Absent,
    Up,
    Down,
    Kind(String),
    Peer { name: String, ns: Ns },
    Master(String),
    NoMaster,
    Mtu(u32),
    Address(Mac),
}

/// A route a check asks for: every field given must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// An RTN_ type; unicast when not written.
    pub kind: u8,
    /// `None` is the default route.
    pub dest: Option<Cidr>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    /// The main table when not written.
    pub table: Option<u32>,
    /// `src A`: the source address the route gives.
    pub src: Option<IpAddr>,
}

impl RouteSpec {
    /// `default` or the prefix.
    pub fn dest_text(&self) -> String {
        self.dest
            .map_or_else(|| "default".to_string(), |d| d.to_string())
    }
}

/// What a forwarding-database check looks for on a bridge port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdbWhat {
    /// Any entry the bridge learned (not a permanent one).
    Learned,
    Mac(Mac),
    /// The MAC address of a link (`mac of blue1 in blue`).
    MacOf {
        link: String,
        ns: Ns,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ge,
    Le,
    Gt,
    Lt,
}

impl Cmp {
    pub fn holds(self, a: usize, b: usize) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ge => a >= b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Lt => a < b,
        }
    }
}

impl fmt::Display for Cmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Lt => "<",
        })
    }
}

/// A name a check refers to, with where it stands, so that lint can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Netns { name: String, offset: usize },
    Link { name: String, ns: Ns, offset: usize },
}

impl Ref {
    /// The same reference with its offset moved from line-relative to absolute.
    pub fn shifted(self, by: usize) -> Ref {
        match self {
            Ref::Netns { name, offset } => Ref::Netns {
                name,
                offset: offset + by,
            },
            Ref::Link { name, ns, offset } => Ref::Link {
                name,
                ns,
                offset: offset + by,
            },
        }
    }
}

/// A check that failed to parse: the byte range (relative to the line) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

impl Check {
    /// Whether the check looks at what `--mutate`'s shared jails do not compare between runs
    /// (see `Step::sees_only_compared_state`): anything of IPv6 (a link's link-local address is
    /// made from its MAC when it comes up), a MAC address, a neighbour or a bridge's forwarding
    /// entry, or what a shell command sees.
    pub fn sees_uncompared_state(&self) -> bool {
        match self {
            Check::Not(c) => c.sees_uncompared_state(),
            Check::Ping { addr, .. } | Check::Pinged { addr, .. } => addr.is_ipv6(),
            Check::Addr { cidr, .. } => !cidr.is_v4(),
            Check::Route { route, .. } => {
                route.dest.is_some_and(|d| !d.is_v4())
                    || route.via.is_some_and(|v| v.is_ipv6())
                    || route.src.is_some_and(|v| v.is_ipv6())
            }
            Check::Neigh { .. } | Check::Fdb { .. } | Check::Shell { .. } => true,
            Check::Link { pred, .. } => matches!(pred, LinkPred::Address(_)),
            _ => false,
        }
    }

    /// Whether the check says something is missing (`not ...`, `netns X absent`, `link X
    /// absent`): on an empty machine it holds, and says nothing of where a lab stands. (Other
    /// checks may hold there too, a count or a shell command: those a step is seldom made of
    /// alone, and a step taken again by `--step` could add a rule twice.)
    pub fn says_missing(&self) -> bool {
        matches!(
            self,
            Check::Not(_)
                | Check::Netns { exists: false, .. }
                | Check::Link {
                    pred: LinkPred::Absent,
                    ..
                }
        )
    }

    /// The check with its `not` taken off: what it is about.
    pub fn plain(&self) -> &Check {
        match self {
            Check::Not(inner) => inner.plain(),
            other => other,
        }
    }

    /// Checks with no kernel event to wake on (reachability, processes, shell commands,
    /// counts, the student's pings): learn looks at them again on a timer.
    pub fn needs_polling(&self) -> bool {
        match self {
            Check::Ping { .. }
            | Check::Pinged { .. }
            | Check::ProcessIsolated { .. }
            | Check::NetnsSameAs { .. }
            | Check::Shell { .. }
            | Check::NetnsCount { .. }
            | Check::Fdb { .. } => true,
            Check::Not(inner) => inner.needs_polling(),
            _ => false,
        }
    }

    /// Whether the kernel announces every change this check's verdict depends on, to the
    /// netlink groups and the /run/netns watch that learn listens to (links, neighbours,
    /// IPv4 addresses and routes, IPv4 forwarding, namespaces coming and going): such a check
    /// needs no clock to tick at once. Everything else, IPv6 among it, a neighbour's state
    /// (which its timers change) and any sysctl but forwarding, is looked at on a clock.
    pub fn heard_on_change(&self) -> bool {
        let v4 = |a: &IpAddr| a.is_ipv4();
        match self {
            Check::Netns { .. } | Check::Link { .. } => true,
            Check::Addr { cidr, .. } => v4(&cidr.addr),
            Check::Route { route, .. } => {
                route.dest.is_none_or(|d| v4(&d.addr))
                    && route.via.as_ref().is_none_or(v4)
                    && route.src.as_ref().is_none_or(v4)
            }
            Check::Neigh { addr, state, .. } => v4(addr) && state.is_none(),
            Check::Sysctl { key, .. } => {
                let k = key.replace('/', ".");
                k == "net.ipv4.ip_forward"
                    || (k.starts_with("net.ipv4.conf.") && k.ends_with(".forwarding"))
            }
            Check::Not(inner) => inner.heard_on_change(),
            _ => false,
        }
    }

    /// The namespaces a check names (for the lesson's scope).
    pub fn namespaces(&self) -> Vec<&Ns> {
        match self {
            Check::Link { ns, pred, .. } => match pred {
                LinkPred::Peer { ns: p, .. } => vec![ns, p],
                _ => vec![ns],
            },
            Check::Addr { ns, .. }
            | Check::Route { ns, .. }
            | Check::Neigh { ns, .. }
            | Check::Sysctl { ns, .. }
            | Check::Shell { ns, .. } => vec![ns],
            Check::Fdb { ns, what, .. } => match what {
                FdbWhat::MacOf { ns: p, .. } => vec![ns, p],
                _ => vec![ns],
            },
            Check::Ping { from, .. } | Check::Pinged { from, .. } => vec![from],
            Check::Not(inner) => inner.namespaces(),
            Check::Netns { .. }
            | Check::NetnsSameAs { .. }
            | Check::NetnsCount { .. }
            | Check::ProcessIsolated { .. } => vec![],
        }
    }

    /// The check in words, as the student reads it on screen.
    pub fn describe(&self) -> String {
        fn at(ns: &Ns) -> String {
            match ns {
                Ns::Root => String::new(),
                Ns::Named(n) => format!(" in {n}"),
            }
        }
        match self {
            Check::Netns { name, exists: true } => format!("namespace {name} exists"),
            Check::Netns {
                name,
                exists: false,
            } => format!("namespace {name} is gone"),
            Check::NetnsSameAs { name, process } => {
                format!("namespace {name} is the one {process} runs in")
            }
            Check::NetnsCount { op, count } => {
                format!("the number of network namespaces is {op} {count}")
            }
            Check::Link { name, ns, pred } => {
                let w = at(ns);
                match pred {
                    LinkPred::Exists => format!("{name} exists{w}"),
                    LinkPred::Absent => format!("{name} is gone{w}"),
                    LinkPred::Up => format!("{name}{w} is up"),
                    LinkPred::Down => format!("{name}{w} is down"),
                    LinkPred::Kind(k) => format!("{name}{w} is a {k}"),
                    LinkPred::Peer { name: p, ns: pns } => {
                        format!("{name}{w} is wired to {p} in {}", pns.name())
                    }
                    LinkPred::Master(m) => format!("{name}{w} is a port of {m}"),
                    LinkPred::NoMaster => format!("{name}{w} is a port of no bridge"),
                    LinkPred::Mtu(m) => format!("{name}{w} has an MTU of {m}"),
                    LinkPred::Address(a) => format!("{name}{w} has the MAC address {a}"),
                }
            }
            Check::Addr {
                cidr,
                dev,
                ns,
                only,
                brd,
                label,
            } => {
                let mut s = format!("{cidr} is on {dev}{}", at(ns));
                if let Some(b) = brd {
                    s.push_str(&format!(", broadcast {b}"));
                }
                if let Some(l) = label {
                    s.push_str(&format!(", label {l}"));
                }
                if *only {
                    s.push_str(", and on no other interface");
                }
                s
            }
            Check::Route { ns, route } => {
                let where_ = match ns {
                    Ns::Root => "the root namespace".to_string(),
                    Ns::Named(n) => n.clone(),
                };
                let kind = if route.kind == crate::lesson::grammar::ip::rtn::UNICAST {
                    "a".to_string()
                } else {
                    crate::lesson::grammar::ip::rtn::a(route.kind)
                };
                let mut s = format!("{where_} has {kind} route {}", route.dest_text());
                if let Some(v) = route.via {
                    s.push_str(&format!(" via {v}"));
                }
                if let Some(d) = &route.dev {
                    s.push_str(&format!(" out of {d}"));
                }
                if let Some(a) = route.src {
                    s.push_str(&format!(", from source {a}"));
                }
                if let Some(m) = route.metric {
                    s.push_str(&format!(", metric {m}"));
                }
                if let Some(t) = route.table {
                    s.push_str(&format!(", in table {t}"));
                }
                s
            }
            Check::Neigh {
                ns,
                addr,
                dev,
                lladdr,
                state,
            } => {
                let where_ = match ns {
                    Ns::Root => "the root namespace".to_string(),
                    Ns::Named(n) => n.clone(),
                };
                let mut s = format!("{where_} knows the MAC address of {addr}");
                if let Some(l) = lladdr {
                    s = format!("{where_} maps {addr} to {l}");
                }
                if let Some(d) = dev {
                    s.push_str(&format!(" on {d}"));
                }
                if let Some(st) = state {
                    s.push_str(&format!(" ({st})"));
                }
                s
            }
            Check::Fdb { ns, port, what } => {
                let w = at(ns);
                match what {
                    FdbWhat::Learned => format!("the bridge learned a MAC address on {port}{w}"),
                    FdbWhat::Mac(m) => format!("the bridge knows {m} on {port}{w}"),
                    FdbWhat::MacOf { link, ns: lns } => format!(
                        "the bridge knows {link}{}'s MAC address on {port}{w}",
                        at(lns)
                    ),
                }
            }
            Check::Ping { addr, from } => match from {
                Ns::Root => format!("{addr} can be reached from the root namespace"),
                Ns::Named(n) => format!("{n} can reach {addr}"),
            },
            Check::Pinged {
                addr,
                from,
                answered,
            } => {
                let who = match from {
                    Ns::Root => "the root namespace".to_string(),
                    Ns::Named(n) => n.clone(),
                };
                if *answered {
                    format!("you pinged {addr} from {who}, and it answered")
                } else {
                    format!("you pinged {addr} from {who}, and no answer came")
                }
            }
            Check::Sysctl { key, value, ns } => format!("{key} is {value}{}", at(ns)),
            Check::ProcessIsolated { name } => {
                format!("your {name} runs in a network namespace of its own")
            }
            Check::Shell { says: Some(s), .. } => s.clone(),
            Check::Shell { command, ns, .. } => {
                format!("the command `{command}` succeeds{}", at(ns))
            }
            Check::Not(inner) => match inner.as_ref() {
                Check::Ping { addr, from } => match from {
                    Ns::Root => format!("{addr} cannot be reached from the root namespace"),
                    Ns::Named(n) => format!("{n} cannot reach {addr} yet"),
                },
                Check::ProcessIsolated { name } => format!("no {name} of yours is running"),
                Check::Neigh { ns, addr, .. } => match ns {
                    Ns::Root => format!("the root namespace has no entry for {addr}"),
                    Ns::Named(n) => format!("{n} has no neighbour entry for {addr}"),
                },
                Check::Fdb {
                    port,
                    what: FdbWhat::Learned,
                    ns,
                } => format!("the bridge has learned nothing on {port}{}", at(ns)),
                other => format!("not: {}", other.describe()),
            },
        }
    }
}

fn in_ns(f: &mut fmt::Formatter<'_>, word: &str, ns: &Ns) -> fmt::Result {
    match ns {
        Ns::Root => Ok(()),
        Ns::Named(n) => write!(f, " {word} {n}"),
    }
}

impl fmt::Display for Check {
    /// The check as it is written in a lesson (parsing it gives it back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Netns { name, exists } => {
                write!(
                    f,
                    "netns {name} {}",
                    if *exists { "exists" } else { "absent" }
                )
            }
            Check::NetnsSameAs { name, process } => {
                write!(f, "netns {name} same as process {process}")
            }
            Check::NetnsCount { op, count } => write!(f, "netns count {op} {count}"),
            Check::Link { name, ns, pred } => {
                write!(f, "link {name}")?;
                in_ns(f, "in", ns)?;
                match pred {
                    LinkPred::Exists => write!(f, " exists"),
                    LinkPred::Absent => write!(f, " absent"),
                    LinkPred::Up => write!(f, " is up"),
                    LinkPred::Down => write!(f, " is down"),
                    LinkPred::Kind(k) => write!(f, " kind {k}"),
                    LinkPred::Peer { name, ns } => {
                        // The peer's namespace is always spelled out: it is the point of the check.
                        write!(f, " peer {name} in {}", ns.name())
                    }
                    LinkPred::Master(m) => write!(f, " master {m}"),
                    LinkPred::NoMaster => write!(f, " nomaster"),
                    LinkPred::Mtu(m) => write!(f, " mtu {m}"),
                    LinkPred::Address(a) => write!(f, " address {a}"),
                }
            }
            Check::Addr {
                cidr,
                dev,
                ns,
                only,
                brd,
                label,
            } => {
                write!(
                    f,
                    "addr {cidr} {}on {dev}",
                    if *only { "only " } else { "" }
                )?;
                if let Some(b) = brd {
                    write!(f, " brd {b}")?;
                }
                if let Some(l) = label {
                    write!(f, " label {l}")?;
                }
                in_ns(f, "in", ns)
            }
            Check::Route { ns, route } => {
                write!(f, "route ")?;
                if route.kind != crate::lesson::grammar::ip::rtn::UNICAST {
                    write!(f, "{} ", crate::lesson::grammar::ip::rtn::name(route.kind))?;
                }
                write!(f, "{}", route.dest_text())?;
                if let Some(v) = route.via {
                    write!(f, " via {v}")?;
                }
                if let Some(d) = &route.dev {
                    write!(f, " dev {d}")?;
                }
                if let Some(a) = route.src {
                    write!(f, " src {a}")?;
                }
                if let Some(m) = route.metric {
                    write!(f, " metric {m}")?;
                }
                if let Some(t) = route.table {
                    write!(f, " table {t}")?;
                }
                in_ns(f, "in", ns)
            }
            Check::Neigh {
                ns,
                addr,
                dev,
                lladdr,
                state,
            } => {
                write!(f, "neigh {addr}")?;
                if let Some(l) = lladdr {
                    write!(f, " lladdr {l}")?;
                }
                if let Some(d) = dev {
                    write!(f, " on {d}")?;
                }
                if let Some(s) = state {
                    write!(f, " {s}")?;
                }
                in_ns(f, "in", ns)
            }
            Check::Fdb { ns, port, what } => {
                write!(f, "fdb on {port}")?;
                in_ns(f, "in", ns)?;
                match what {
                    FdbWhat::Learned => write!(f, " learned"),
                    FdbWhat::Mac(m) => write!(f, " has {m}"),
                    FdbWhat::MacOf { link, ns } => write!(f, " has mac of {link} in {}", ns.name()),
                }
            }
            Check::Ping { addr, from } => {
                write!(f, "ping {addr}")?;
                in_ns(f, "from", from)
            }
            Check::Pinged {
                addr,
                from,
                answered,
            } => {
                write!(f, "pinged {addr}")?;
                in_ns(f, "from", from)?;
                if !answered {
                    write!(f, " unanswered")?;
                }
                Ok(())
            }
            Check::Sysctl { key, value, ns } => {
                write!(f, "sysctl {key} = {value}")?;
                in_ns(f, "in", ns)
            }
            Check::ProcessIsolated { name } => write!(f, "process {name} in another netns"),
            Check::Shell { command, ns, says } => {
                write!(f, "sh")?;
                in_ns(f, "in", ns)?;
                if let Some(s) = says {
                    write!(f, " ({s})")?;
                }
                write!(f, ": {command}")
            }
            Check::Not(inner) => write!(f, "not {inner}"),
        }
    }
}

/// Words of a line with their byte offsets.
struct Words<'a> {
    words: Vec<(usize, &'a str)>,
    pos: usize,
    line_len: usize,
}

impl<'a> Words<'a> {
    fn new(line: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    words.push((s, &line[s..i]));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push((s, &line[s..]));
        }
        Words {
            words,
            pos: 0,
            line_len: line.len(),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(|w| w.1)
    }

    fn offset(&self) -> usize {
        self.words.get(self.pos).map_or(self.line_len, |w| w.0)
    }

    fn next(&mut self, what: &str) -> Result<(usize, &'a str), CheckError> {
        match self.words.get(self.pos) {
            Some(w) => {
                self.pos += 1;
                Ok(*w)
            }
            None => Err(CheckError {
                offset: self.line_len,
                len: 1,
                message: format!("expected {what} here, found the end of the line"),
            }),
        }
    }

    fn expect(&mut self, keyword: &str) -> Result<(), CheckError> {
        let (off, w) = self.next(&format!("'{keyword}'"))?;
        if w == keyword {
            Ok(())
        } else {
            Err(err(off, w, format!("expected '{keyword}', found '{w}'")))
        }
    }

    fn eat(&mut self, keyword: &str) -> bool {
        if self.peek() == Some(keyword) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn done(&self) -> Result<(), CheckError> {
        match self.words.get(self.pos) {
            None => Ok(()),
            // `addr X on D in NS brd B`: the qualifiers came after the namespace.
            Some((off, w))
                if self.pos >= 2 && matches!(self.words[self.pos - 2].1, "in" | "from") =>
            {
                let (_, kw) = self.words[self.pos - 2];
                let (_, ns) = self.words[self.pos - 1];
                Err(err(
                    *off,
                    w,
                    format!(
                        "unexpected '{w}' after '{kw} {ns}': '{kw} NS' comes last, after everything else the check says"
                    ),
                ))
            }
            Some((off, w)) => Err(err(
                *off,
                w,
                format!("unexpected '{w}' at the end of the check"),
            )),
        }
    }

    /// An optional `in NS` (or `from NS`), returning the namespace and recording where its name
    /// stands.
    fn ns(&mut self, word: &str, refs: &mut Vec<Ref>) -> Result<Ns, CheckError> {
        if !self.eat(word) {
            return Ok(Ns::Root);
        }
        let (off, name) = self.next("a namespace name")?;
        let ns = Ns::from_name(name);
        if let Ns::Named(n) = &ns {
            refs.push(Ref::Netns {
                name: n.clone(),
                offset: off,
            });
        }
        Ok(ns)
    }
}

fn err(offset: usize, word: &str, message: String) -> CheckError {
    CheckError {
        offset,
        len: word.chars().count().max(1),
        message,
    }
}

fn parse_cidr(off: usize, w: &str) -> Result<Cidr, CheckError> {
    w.parse::<Cidr>().map_err(|e| {
        err(
            off,
            w,
            format!("'{w}' is not an address with a prefix length: {e}"),
        )
    })
}

fn parse_ip(off: usize, w: &str) -> Result<IpAddr, CheckError> {
    w.parse::<IpAddr>()
        .map_err(|_| err(off, w, format!("'{w}' is not an IP address")))
}

fn parse_mac(off: usize, w: &str) -> Result<Mac, CheckError> {
    w.parse::<Mac>().map_err(|e| err(off, w, e))
}

fn parse_number(off: usize, w: &str) -> Result<u32, CheckError> {
    w.parse::<u32>()
        .map_err(|_| err(off, w, format!("'{w}' is not a number")))
}

/// A link name a check refers to, recorded for lint.
fn link_ref(refs: &mut Vec<Ref>, name: &str, ns: &Ns, offset: usize) {
    refs.push(Ref::Link {
        name: name.to_string(),
        ns: ns.clone(),
        offset,
    });
}

/// Parses one check line (already stripped of comments) into a check and the names it refers to.
pub fn parse(line: &str) -> Result<(Check, Vec<Ref>), CheckError> {
    let mut refs = Vec::new();
    let check = parse_words(line, &mut Words::new(line), &mut refs)?;
    Ok((check, refs))
}

const LINK_PROPS: &[&str] = &[
    "exists", "absent", "up", "down", "kind", "peer", "master", "nomaster", "mtu", "address",
];

const NEIGH_STATES: &[&str] = &[
    "permanent",
    "reachable",
    "stale",
    "delay",
    "probe",
    "failed",
    "incomplete",
    "noarp",
];

fn parse_words(line: &str, w: &mut Words<'_>, refs: &mut Vec<Ref>) -> Result<Check, CheckError> {
    let (off, head) = w.next("a check")?;
    let check = match head {
        // One `not` at most: two cancel out, and a line of thousands nested the parser (and
        // every judging of it) as deep.
        "not" if w.peek() == Some("not") => {
            let at = w.offset();
            return Err(err(
                at,
                "not",
                "'not not' cancels out: write the check without both".into(),
            ));
        }
        "not" => return Ok(Check::Not(Box::new(parse_words(line, w, refs)?))),
        "netns" => {
            let (noff, name) = w.next("a namespace name or 'count'")?;
            if name == "count" {
                let (coff, op) = w.next("a comparison (=, >=, <=, >, <)")?;
                let op = match op {
                    "=" | "==" => Cmp::Eq,
                    ">=" => Cmp::Ge,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    "<" => Cmp::Lt,
                    _ => {
                        return Err(err(
                            coff,
                            op,
                            format!("expected =, >=, <=, > or <, found '{op}'"),
                        ));
                    }
                };
                let (noff, n) = w.next("a number")?;
                let count = n
                    .parse()
                    .map_err(|_| err(noff, n, format!("'{n}' is not a number")))?;
                Check::NetnsCount { op, count }
            } else {
                refs.push(Ref::Netns {
                    name: name.to_string(),
                    offset: noff,
                });
                let (soff, state) = w.next("'exists', 'absent' or 'same as process NAME'")?;
                match state {
                    "exists" | "absent" => Check::Netns {
                        name: name.to_string(),
                        exists: state == "exists",
                    },
                    "same" => {
                        w.expect("as")?;
                        w.expect("process")?;
                        let (_, p) = w.next("a process name")?;
                        Check::NetnsSameAs {
                            name: name.to_string(),
                            process: p.to_string(),
                        }
                    }
                    _ => {
                        return Err(err(
                            soff,
                            state,
                            format!(
                                "expected 'exists', 'absent' or 'same as process NAME', found '{state}'{}",
                                crate::diag::did_you_mean(state, &["exists", "absent", "same"])
                            ),
                        ));
                    }
                }
            }
        }
        "link" => {
            let (loff, name) = w.next("a link name")?;
            let ns = w.ns("in", refs)?;
            link_ref(refs, name, &ns, loff);
            w.eat("is");
            let (poff, p) = w.next(
                "what to check of the link (exists, absent, up, down, kind, peer, master, nomaster, mtu, address)",
            )?;
            let pred = match p {
                "exists" => LinkPred::Exists,
                "absent" => LinkPred::Absent,
                "up" => LinkPred::Up,
                "down" => LinkPred::Down,
                "kind" => {
                    let (koff, k) = w.next("a link kind (veth, bridge, macvlan, vxlan, ...)")?;
                    if k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(err(koff, k, format!("'{k}' is not a link kind")));
                    }
                    LinkPred::Kind(k.to_string())
                }
                "peer" => {
                    let (peoff, peer) = w.next("the name of the veth peer")?;
                    let pns = w.ns("in", refs)?;
                    link_ref(refs, peer, &pns, peoff);
                    LinkPred::Peer {
                        name: peer.to_string(),
                        ns: pns,
                    }
                }
                "master" => {
                    let (moff, m) = w.next("the name of the bridge")?;
                    link_ref(refs, m, &ns, moff);
                    LinkPred::Master(m.to_string())
                }
                "nomaster" => LinkPred::NoMaster,
                "mtu" => {
                    let (moff, m) = w.next("the MTU")?;
                    LinkPred::Mtu(parse_number(moff, m)?)
                }
                "address" => {
                    let (aoff, a) = w.next("a MAC address")?;
                    LinkPred::Address(parse_mac(aoff, a)?)
                }
                _ => {
                    return Err(err(
                        poff,
                        p,
                        format!(
                            "unknown link property '{p}'{}",
                            crate::diag::did_you_mean(p, LINK_PROPS)
                        ),
                    ));
                }
            };
            Check::Link {
                name: name.to_string(),
                ns,
                pred,
            }
        }
        "addr" | "address" => {
            let (coff, c) = w.next("an address such as 10.1.0.2/24")?;
            let cidr = parse_cidr(coff, c)?;
            let only = w.eat("only");
            w.expect("on")?;
            let (doff, dev) = w.next("a link name")?;
            let (mut brd, mut label) = (None, None);
            loop {
                if w.eat("brd") || w.eat("broadcast") {
                    let (boff, b) = w.next("a broadcast address")?;
                    brd = Some(parse_ip(boff, b)?);
                } else if w.eat("label") {
                    label = Some(w.next("a label")?.1.to_string());
                } else {
                    break;
                }
            }
            let ns = w.ns("in", refs)?;
            link_ref(refs, dev, &ns, doff);
            Check::Addr {
                cidr,
                dev: dev.to_string(),
                ns,
                only,
                brd,
                label,
            }
        }
        "route" => {
            use crate::lesson::grammar::ip::rtn;
            let (mut doff, mut d) = w.next("'default' or a prefix such as 10.0.2.0/24")?;
            let kind = match d {
                "blackhole" => Some(rtn::BLACKHOLE),
                "unreachable" => Some(rtn::UNREACHABLE),
                "prohibit" => Some(rtn::PROHIBIT),
                "throw" => Some(rtn::THROW),
                "unicast" => Some(rtn::UNICAST),
                _ => None,
            };
            if kind.is_some() {
                (doff, d) = w.next("'default' or a prefix such as 10.0.2.0/24")?;
            }
            let dest = if d == "default" {
                None
            } else {
                let c = parse_cidr(doff, d)?;
                if c.has_host_bits() {
                    return Err(err(
                        doff,
                        d,
                        format!(
                            "'{d}' has host bits set: a route's destination is a network, such as {}",
                            c.network()
                        ),
                    ));
                }
                Some(c)
            };
            let mut spec = RouteSpec {
                kind: kind.unwrap_or(rtn::UNICAST),
                dest,
                via: None,
                dev: None,
                metric: None,
                table: None,
                src: None,
            };
            let mut dev_ref = None;
            loop {
                if w.eat("via") {
                    let (voff, v) = w.next("a gateway address")?;
                    spec.via = Some(parse_ip(voff, v)?);
                } else if w.eat("dev") {
                    let (off, d) = w.next("a link name")?;
                    spec.dev = Some(d.to_string());
                    dev_ref = Some((off, d.to_string()));
                } else if w.eat("metric") {
                    let (moff, m) = w.next("a metric")?;
                    spec.metric = Some(parse_number(moff, m)?);
                } else if w.eat("src") {
                    let (soff, a) = w.next("a source address")?;
                    spec.src = Some(parse_ip(soff, a)?);
                } else if w.eat("table") {
                    let (toff, t) = w.next("a table number, or main")?;
                    spec.table = Some(match t {
                        "main" => crate::net::table::MAIN,
                        "local" => crate::net::table::LOCAL,
                        // A name of /etc/iproute2/rt_tables, as the lines read it.
                        _ => match super::grammar::ip::table_id(t) {
                            Some(id) if !t.starts_with(|c: char| c.is_ascii_digit()) => id,
                            _ => parse_number(toff, t)?,
                        },
                    });
                } else {
                    break;
                }
            }
            let ns = w.ns("in", refs)?;
            if let Some((offset, name)) = dev_ref {
                link_ref(refs, &name, &ns, offset);
            }
            Check::Route { ns, route: spec }
        }
        "neigh" | "neighbour" | "neighbor" => {
            let (aoff, a) = w.next("an IP address")?;
            let addr = parse_ip(aoff, a)?;
            let (mut dev, mut lladdr, mut state) = (None, None, None);
            let mut dev_ref = None;
            loop {
                if w.eat("lladdr") {
                    let (moff, m) = w.next("a MAC address")?;
                    lladdr = Some(parse_mac(moff, m)?);
                } else if w.eat("on") || w.eat("dev") {
                    let (off, d) = w.next("a link name")?;
                    dev = Some(d.to_string());
                    dev_ref = Some((off, d.to_string()));
                } else if let Some(s) = w.peek().filter(|s| NEIGH_STATES.contains(s)) {
                    state = Some(s.to_string());
                    w.pos += 1;
                } else {
                    break;
                }
            }
            let ns = w.ns("in", refs)?;
            if let Some((offset, name)) = dev_ref {
                link_ref(refs, &name, &ns, offset);
            }
            Check::Neigh {
                ns,
                addr,
                dev,
                lladdr,
                state,
            }
        }
        "fdb" => {
            w.expect("on")?;
            let (poff, port) = w.next("a bridge port")?;
            let ns = w.ns("in", refs)?;
            link_ref(refs, port, &ns, poff);
            let (woff, what) = w.next("'learned' or 'has MAC'")?;
            let what = match what {
                "learned" => FdbWhat::Learned,
                "has" => {
                    if w.eat("mac") {
                        w.expect("of")?;
                        let (loff, link) = w.next("a link name")?;
                        let lns = w.ns("in", refs)?;
                        link_ref(refs, link, &lns, loff);
                        FdbWhat::MacOf {
                            link: link.to_string(),
                            ns: lns,
                        }
                    } else {
                        let (moff, m) = w.next("a MAC address, or 'mac of LINK'")?;
                        FdbWhat::Mac(parse_mac(moff, m)?)
                    }
                }
                _ => {
                    return Err(err(
                        woff,
                        what,
                        format!("expected 'learned' or 'has', found '{what}'"),
                    ));
                }
            };
            // `in NS` last, as in every other check (`fdb on p1 has MAC in sw`): the port's.
            // After `mac of LINK`, an `in` is the link's.
            let ns = match (&ns, &what) {
                (Ns::Root, FdbWhat::Learned | FdbWhat::Mac(_)) if w.peek() == Some("in") => {
                    let ns = w.ns("in", refs)?;
                    if let Some(Ref::Link { ns: at, .. }) = refs
                        .iter_mut()
                        .find(|r| matches!(r, Ref::Link { name, .. } if name == port))
                    {
                        *at = ns.clone();
                    }
                    ns
                }
                _ => ns,
            };
            Check::Fdb {
                ns,
                port: port.to_string(),
                what,
            }
        }
        "ping" | "pinged" => {
            let (aoff, a) = w.next("an address to ping")?;
            let addr = parse_ip(aoff, a)?;
            let from = w.ns("from", refs)?;
            if addr.is_ipv6() {
                let (sh, who) = match &from {
                    Ns::Named(n) => (format!("sh in {n}"), n.as_str()),
                    Ns::Root => ("sh".to_string(), "the root namespace"),
                };
                return Err(err(
                    aoff,
                    a,
                    format!(
                        "nslab's {head} checks send and watch IPv4 echoes only; for IPv6, ask \
                         the real ping: {sh} ({who} reaches {a}): ping -6 -c 1 -W 1 {a}"
                    ),
                ));
            }
            if head == "ping" {
                Check::Ping { addr, from }
            } else {
                let answered = !w.eat("unanswered");
                Check::Pinged {
                    addr,
                    from,
                    answered,
                }
            }
        }
        "sysctl" => {
            let (koff, typed) = w.next("a sysctl key such as net.ipv4.ip_forward")?;
            // Either of sysctl's spellings, kept in its dotted one.
            let key = &crate::net::sysctl_key(typed);
            if !key.starts_with("net.") {
                return Err(err(
                    koff,
                    typed,
                    format!("'{typed}' is not a network sysctl (they start with 'net.')"),
                ));
            }
            w.expect("=")?;
            // A value may be several words (`ip_local_port_range = 20000 30000`).
            let (_, first) = w.next("a value")?;
            let mut value = first.to_string();
            while let Some(more) = w.peek().filter(|p| *p != "in") {
                value.push(' ');
                value.push_str(more);
                w.next("a value")?;
            }
            let ns = w.ns("in", refs)?;
            Check::Sysctl {
                key: key.to_string(),
                value,
                ns,
            }
        }
        "process" => {
            let (_, name) = w.next("a process name")?;
            w.expect("in")?;
            w.expect("another")?;
            w.expect("netns")?;
            Check::ProcessIsolated {
                name: name.to_string(),
            }
        }
        "sh:" | "sh" => return shell(line, off, head, w, refs),
        _ => {
            return Err(err(
                off,
                head,
                format!(
                    "unknown check '{head}'{}",
                    crate::diag::did_you_mean(head, KEYWORDS)
                ),
            ));
        }
    };
    w.done()?;
    Ok(check)
}

/// `sh: CMD`, `sh in NS: CMD`, `sh (WHAT IT PROVES): CMD`, `sh in NS (WHAT): CMD`.
fn shell(
    line: &str,
    off: usize,
    head: &str,
    w: &mut Words<'_>,
    refs: &mut Vec<Ref>,
) -> Result<Check, CheckError> {
    let mut ns = Ns::Root;
    let mut rest_at = off + head.len();
    if head == "sh" {
        if w.eat("in") {
            let (noff, name) = w.next("a namespace name")?;
            let bare = name.strip_suffix(':').unwrap_or(name);
            ns = Ns::from_name(bare);
            if let Ns::Named(n) = &ns {
                refs.push(Ref::Netns {
                    name: n.clone(),
                    offset: noff,
                });
            }
            rest_at = noff + bare.len();
        } else {
            rest_at = w.offset();
        }
    }
    let rest = line[rest_at.min(line.len())..].trim_start();
    let rest_at = line.len() - rest.len();
    let (says, rest, rest_at) = match rest.strip_prefix('(') {
        Some(r) => match r.find("):") {
            Some(end) => (
                Some(r[..end].trim().to_string()),
                &r[end + 1..],
                rest_at + 1 + end + 1,
            ),
            None => {
                return Err(CheckError {
                    offset: rest_at,
                    len: 1,
                    message: "write 'sh (WHAT IT PROVES): COMMAND': the ')' and ':' are missing"
                        .into(),
                });
            }
        },
        None => (None, rest, rest_at),
    };
    // `sh:` has its colon already.
    let after_colon = if head == "sh:" && says.is_none() {
        Some(rest)
    } else {
        rest.strip_prefix(':')
    };
    let Some(command) = after_colon else {
        return Err(CheckError {
            offset: rest_at,
            len: 1,
            message: "write 'sh: COMMAND', 'sh in NS: COMMAND' or 'sh (WHAT IT PROVES): COMMAND'"
                .into(),
        });
    };
    let command = command.trim();
    if command.is_empty() {
        return Err(CheckError {
            offset: line.len(),
            len: 1,
            message: "expected a shell command after ':'".into(),
        });
    }
    if says.as_deref() == Some("") {
        return Err(CheckError {
            offset: rest_at,
            len: 1,
            message:
                "the words between the parentheses say what the command proves; they are empty"
                    .into(),
        });
    }
    Ok(Check::Shell {
        command: command.to_string(),
        ns,
        says,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_on_change_only_where_learn_listens() {
        let heard = |s: &str| parse(s).unwrap().0.heard_on_change();
        for s in [
            "netns blue exists",
            "link veth0 in blue peer veth1 in red",
            "addr 10.1.0.2/24 on veth0 in blue",
            "route 10.0.2.0/24 via 10.0.1.1 dev left0 in left",
            "route default via 10.1.0.1 in blue",
            "neigh 10.1.0.3 on veth0 in blue",
            "not neigh 10.1.0.3 in blue",
            "sysctl net.ipv4.ip_forward = 1 in router",
            "sysctl net/ipv4/conf/veth0.5/forwarding = 1 in blue",
        ] {
            assert!(
                heard(s),
                "{s}: the kernel announces its changes to learn's watcher"
            );
        }
        for s in [
            "addr 2001:db8::1/64 on veth0 in blue",
            "route 2001:db8:2::/64 via 2001:db8:1::1 in left",
            "neigh 10.1.0.3 lladdr 02:00:00:00:00:02 on veth0 permanent in blue",
            "sysctl net.ipv4.conf.all.rp_filter = 0 in blue",
            "sysctl net.ipv6.conf.all.forwarding = 1 in blue",
            "ping 10.1.0.3 from blue",
            "pinged 10.1.0.3 from blue",
            "netns count >= 3",
            "not ping 10.1.0.3 from blue",
        ] {
            assert!(!heard(s), "{s}: learn's watcher hears no change of it");
        }
    }

    fn roundtrip(s: &str) {
        let (c, _) = parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message));
        assert_eq!(c.to_string(), s);
    }

    #[test]
    fn every_form_prints_back_as_written() {
        for s in [
            "netns blue exists",
            "netns blue absent",
            "netns keep same as process netns-demo",
            "netns count >= 3",
            "link veth0 in blue is up",
            "link veth0 is down",
            "link bridge0 kind bridge",
            "link vx0 in a kind vxlan",
            "link veth0 in blue peer veth1 in red",
            "link veth0 peer veth1 in root",
            "link blue0 master bridge0",
            "link blue0 nomaster",
            "link veth0 in blue absent",
            "link veth0 in blue mtu 1400",
            "link veth0 in blue address 02:00:00:00:00:01",
            "addr 10.1.0.2/24 on veth0 in blue",
            "addr 10.1.0.2/24 only on veth0 in blue",
            "addr 10.0.0.1/24 on veth0 brd 10.0.0.255 label veth0:1 in blue",
            "addr 2001:db8::1/64 on veth0 in blue",
            "route default via 10.1.0.1 in blue",
            "route 10.0.2.0/24 via 10.0.1.1 dev left0 in left",
            "route 10.0.2.0/24 dev left0 metric 100 table 10 in left",
            "route blackhole 10.9.0.0/16 in r",
            "route 2001:db8:2::/64 via 2001:db8:1::1 in left",
            "neigh 10.1.0.3 on veth0 in blue",
            "neigh 10.1.0.3 lladdr 02:00:00:00:00:02 on veth0 permanent in blue",
            "fdb on blue0 learned",
            "fdb on blue0 has 02:00:00:00:00:01",
            "fdb on blue0 has mac of blue1 in blue",
            "ping 10.1.0.3 from blue",
            "pinged 10.1.0.3 from blue",
            "pinged 10.0.2.2 from left unanswered",
            "sysctl net.ipv4.ip_forward = 1 in router",
            "process netns-demo in another netns",
            "sh: test -d /run/netns",
            "sh in blue: ip link show lo",
            "sh (the rule is there): iptables -C INPUT -j ACCEPT",
            "sh in blue (lo answers): ping -c1 127.0.0.1",
            "not ping 10.0.2.2 from left",
            "not neigh 10.1.0.3 in blue",
        ] {
            roundtrip(s);
        }
    }

    /// A key takes either of sysctl(8)'s spellings and is kept in the dotted one, where a '/'
    /// is a dot of a link's name: what a line's derived check and the ledger name.
    #[test]
    fn sysctl_keys_take_sysctls_spellings() {
        for s in [
            "sysctl net.ipv4.conf.veth0/5.forwarding = 1 in blue",
            "sysctl net/ipv4/conf/veth0.5/forwarding = 1 in blue",
        ] {
            assert_eq!(
                parse(s).unwrap().0.to_string(),
                "sysctl net.ipv4.conf.veth0/5.forwarding = 1 in blue",
                "{s}"
            );
        }
        let e = parse("sysctl kernel/hostname = x").unwrap_err();
        assert_eq!(
            e.message,
            "'kernel/hostname' is not a network sysctl (they start with 'net.')"
        );
    }

    /// A table by its name, as the lines read it (`default` is 253; names of
    /// /etc/iproute2/rt_tables too): before, only numbers, `main` and `local`.
    #[test]
    fn a_route_checks_table_may_be_named() {
        let Check::Route { route, .. } = parse("route 10.0.0.0/24 dev d0 table default in p")
            .unwrap()
            .0
        else {
            panic!("not a route check");
        };
        assert_eq!(route.table, Some(253));
        assert!(parse("route 10.0.0.0/24 dev d0 table nosuchname in p").is_err());
    }

    #[test]
    fn the_namespace_comes_last_and_the_error_says_so() {
        let e = parse("addr 10.10.1.2/24 on pa in pc brd 10.10.1.255").unwrap_err();
        assert_eq!(e.offset, 30);
        assert_eq!(
            e.message,
            "unexpected 'brd' after 'in pc': 'in NS' comes last, after everything else the check says"
        );
        let e = parse("link veth0 is up extra").unwrap_err();
        assert_eq!(e.message, "unexpected 'extra' at the end of the check");
    }

    #[test]
    fn unknown_check_suggests_the_keyword() {
        let e = parse("adress 10.1.0.2/24 on veth0").unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(e.len, 6);
        assert_eq!(e.message, "unknown check 'adress', did you mean 'address'?");
    }

    #[test]
    fn errors_point_at_the_word() {
        let e = parse("addr 10.1.0.300/24 on veth0").unwrap_err();
        assert_eq!(e.offset, 5);
        let e = parse("link veth0 in blue is sideways").unwrap_err();
        assert_eq!(e.offset, 22);
        let e = parse("netns blue").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("end of the line"));
        let e = parse("ping 10.1.0.3 from blue now").unwrap_err();
        assert_eq!(e.offset, 24);
        let e = parse("route 10.0.2.1/24 via 10.0.1.1").unwrap_err();
        assert!(e.message.contains("10.0.2.0/24"), "{}", e.message);
        let e = parse("link x mtu big").unwrap_err();
        assert_eq!(e.offset, 11);
        let e = parse("sh (oops: true").unwrap_err();
        assert!(e.message.contains("missing"), "{}", e.message);
    }

    #[test]
    fn refs_locate_names() {
        let (_, refs) = parse("link veth0 in blue peer veth1 in red").unwrap();
        assert!(refs.contains(&Ref::Netns {
            name: "blue".into(),
            offset: 14
        }));
        assert!(refs.contains(&Ref::Link {
            name: "veth1".into(),
            ns: Ns::Named("red".into()),
            offset: 24
        }));
        let (_, refs) = parse("fdb on blue0 has mac of blue1 in blue").unwrap();
        assert!(refs.contains(&Ref::Link {
            name: "blue1".into(),
            ns: Ns::Named("blue".into()),
            offset: 24
        }));
    }

    #[test]
    fn an_fdb_check_takes_its_namespace_last_too() {
        for (late, early) in [
            (
                "fdb on p1 has 02:00:00:00:10:01 in sw",
                "fdb on p1 in sw has 02:00:00:00:10:01",
            ),
            ("fdb on p1 learned in sw", "fdb on p1 in sw learned"),
        ] {
            let (a, refs) = parse(late).unwrap();
            assert_eq!(a, parse(early).unwrap().0, "{late}");
            assert!(refs.contains(&Ref::Link {
                name: "p1".into(),
                ns: Ns::Named("sw".into()),
                offset: 7
            }));
        }
        // After `mac of LINK`, `in` is the link's: the port is in the root namespace.
        let (c, _) = parse("fdb on p1 has mac of p1x in sw").unwrap();
        assert!(matches!(c, Check::Fdb { ns: Ns::Root, .. }), "{c:?}");
    }

    #[test]
    fn every_check_reads_as_words() {
        let (c, _) = parse("sh (the masquerade rule is in place): iptables -t nat -S").unwrap();
        assert_eq!(c.describe(), "the masquerade rule is in place");
        let (c, _) = parse("not ping 10.0.2.2 from left").unwrap();
        assert_eq!(c.describe(), "left cannot reach 10.0.2.2 yet");
        let (c, _) = parse("link veth0 in blue peer veth1 in red").unwrap();
        assert_eq!(c.describe(), "veth0 in blue is wired to veth1 in red");
    }
}
