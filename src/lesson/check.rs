//! The check language: one declarative fact about the kernel per line.
//!
//! ```text
//! netns blue exists                 netns blue absent            netns count = 3
//! link veth0 in blue is up          link veth0 in blue is down   link bridge0 kind bridge
//! link veth0 exists                 link veth0 in blue absent
//! link veth0 in blue peer veth1 in red
//! link blue0 master bridge0         link blue0 nomaster
//! addr 10.1.0.2/24 on veth0 in blue
//! route default via 10.1.0.1 in blue
//! route 10.0.2.0/24 via 10.0.1.1 dev left0 in left
//! ping 10.1.0.3 from blue
//! sysctl net.ipv4.ip_forward = 1 in router
//! process netns-demo in another netns
//! sh: iptables -t nat -C POSTROUTING -s 10.1.0.0/24 -j MASQUERADE
//! not ping 10.0.2.2 from left
//! ```
//! Leaving out `in NS` (or `from NS`) means the root namespace; `in root` says so explicitly.

use std::fmt;
use std::net::Ipv4Addr;

use super::{Cidr, Ns};

/// The first words a check line may start with, for "did you mean" suggestions.
pub const KEYWORDS: &[&str] = &[
    "netns", "link", "addr", "address", "route", "ping", "sysctl", "process", "sh:", "not",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Netns {
        name: String,
        exists: bool,
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
    },
    Route {
        dest: Option<Cidr>,
        via: Ipv4Addr,
        dev: Option<String>,
        ns: Ns,
    },
    Ping {
        addr: Ipv4Addr,
        from: Ns,
    },
    Sysctl {
        key: String,
        value: String,
        ns: Ns,
    },
    /// A process with this command name lives in a network namespace other than the root one.
    ProcessIsolated {
        name: String,
    },
    /// The escape hatch: a shell command that must exit 0.
    Shell {
        command: String,
        ns: Ns,
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
    /// Checks that observe reachability or processes have no kernel event; learn mode polls them.
    pub fn needs_polling(&self) -> bool {
        match self {
            Check::Ping { .. } | Check::ProcessIsolated { .. } | Check::Shell { .. } => true,
            Check::NetnsCount { .. } => true,
            Check::Not(inner) => inner.needs_polling(),
            _ => false,
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Netns { name, exists } => {
                write!(
                    f,
                    "netns {name} {}",
                    if *exists { "exists" } else { "absent" }
                )
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
                        write!(f, " peer {name}")?;
                        // The peer's namespace is always spelled out: it is the point of the check.
                        write!(f, " in {}", ns.name())
                    }
                    LinkPred::Master(m) => write!(f, " master {m}"),
                    LinkPred::NoMaster => write!(f, " nomaster"),
                }
            }
            Check::Addr { cidr, dev, ns } => {
                write!(f, "addr {cidr} on {dev}")?;
                in_ns(f, "in", ns)
            }
            Check::Route { dest, via, dev, ns } => {
                match dest {
                    None => write!(f, "route default via {via}")?,
                    Some(d) => write!(f, "route {d} via {via}")?,
                }
                if let Some(d) = dev {
                    write!(f, " dev {d}")?;
                }
                in_ns(f, "in", ns)
            }
            Check::Ping { addr, from } => {
                write!(f, "ping {addr}")?;
                in_ns(f, "from", from)
            }
            Check::Sysctl { key, value, ns } => {
                write!(f, "sysctl {key} = {value}")?;
                in_ns(f, "in", ns)
            }
            Check::ProcessIsolated { name } => write!(f, "process {name} in another netns"),
            Check::Shell { command, ns } => match ns {
                Ns::Root => write!(f, "sh: {command}"),
                Ns::Named(n) => write!(f, "sh in {n}: {command}"),
            },
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
            Some((off, w)) => Err(err(
                *off,
                w,
                format!("unexpected '{w}' at the end of the check"),
            )),
        }
    }

    /// An optional `in NS` (or `from NS`), returning the namespace and where its name stands.
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
            format!("'{w}' is not an IPv4 address with a prefix: {e}"),
        )
    })
}

fn parse_ip(off: usize, w: &str) -> Result<Ipv4Addr, CheckError> {
    w.parse::<Ipv4Addr>()
        .map_err(|_| err(off, w, format!("'{w}' is not an IPv4 address")))
}

/// Parses one check line (already stripped of comments) into a check and the names it refers to.
pub fn parse(line: &str) -> Result<(Check, Vec<Ref>), CheckError> {
    let mut refs = Vec::new();
    let check = parse_words(line, &mut Words::new(line), &mut refs)?;
    Ok((check, refs))
}

fn parse_words(line: &str, w: &mut Words<'_>, refs: &mut Vec<Ref>) -> Result<Check, CheckError> {
    let (off, head) = w.next("a check")?;
    let check = match head {
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
                let (soff, state) = w.next("'exists' or 'absent'")?;
                let exists = match state {
                    "exists" => true,
                    "absent" => false,
                    _ => {
                        return Err(err(
                            soff,
                            state,
                            format!(
                                "expected 'exists' or 'absent', found '{state}'{}",
                                crate::diag::did_you_mean(state, &["exists", "absent"])
                            ),
                        ));
                    }
                };
                Check::Netns {
                    name: name.to_string(),
                    exists,
                }
            }
        }
        "link" => {
            let (loff, name) = w.next("a link name")?;
            let ns = w.ns("in", refs)?;
            refs.push(Ref::Link {
                name: name.to_string(),
                ns: ns.clone(),
                offset: loff,
            });
            w.eat("is");
            let (poff, p) = w.next("what to check of the link (exists, absent, up, down, kind, peer, master, nomaster)")?;
            let pred = match p {
                "exists" => LinkPred::Exists,
                "absent" => LinkPred::Absent,
                "up" => LinkPred::Up,
                "down" => LinkPred::Down,
                "kind" => {
                    let (koff, k) = w.next("a link kind (veth, bridge)")?;
                    if !["veth", "bridge", "loopback"].contains(&k) {
                        return Err(err(
                            koff,
                            k,
                            format!(
                                "unknown link kind '{k}' (nslab knows veth, bridge and loopback)"
                            ),
                        ));
                    }
                    LinkPred::Kind(k.to_string())
                }
                "peer" => {
                    let (peoff, peer) = w.next("the name of the veth peer")?;
                    let pns = w.ns("in", refs)?;
                    refs.push(Ref::Link {
                        name: peer.to_string(),
                        ns: pns.clone(),
                        offset: peoff,
                    });
                    LinkPred::Peer {
                        name: peer.to_string(),
                        ns: pns,
                    }
                }
                "master" => {
                    let (moff, m) = w.next("the name of the bridge")?;
                    refs.push(Ref::Link {
                        name: m.to_string(),
                        ns: ns.clone(),
                        offset: moff,
                    });
                    LinkPred::Master(m.to_string())
                }
                "nomaster" => LinkPred::NoMaster,
                _ => {
                    return Err(err(
                        poff,
                        p,
                        format!(
                            "unknown link property '{p}'{}",
                            crate::diag::did_you_mean(
                                p,
                                &[
                                    "exists", "absent", "up", "down", "kind", "peer", "master",
                                    "nomaster"
                                ]
                            )
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
            w.expect("on")?;
            let (doff, dev) = w.next("a link name")?;
            let ns = w.ns("in", refs)?;
            refs.push(Ref::Link {
                name: dev.to_string(),
                ns: ns.clone(),
                offset: doff,
            });
            Check::Addr {
                cidr,
                dev: dev.to_string(),
                ns,
            }
        }
        "route" => {
            let (doff, d) = w.next("'default' or a prefix such as 10.0.2.0/24")?;
            let dest = if d == "default" {
                None
            } else {
                Some(parse_cidr(doff, d)?)
            };
            w.expect("via")?;
            let (voff, v) = w.next("a gateway address")?;
            let via = parse_ip(voff, v)?;
            let mut dev = None;
            let mut dev_ref = None;
            if w.eat("dev") {
                let (off, d) = w.next("a link name")?;
                dev = Some(d.to_string());
                dev_ref = Some((off, d.to_string()));
            }
            let ns = w.ns("in", refs)?;
            if let Some((offset, name)) = dev_ref {
                refs.push(Ref::Link {
                    name,
                    ns: ns.clone(),
                    offset,
                });
            }
            Check::Route { dest, via, dev, ns }
        }
        "ping" => {
            let (aoff, a) = w.next("an address to ping")?;
            let addr = parse_ip(aoff, a)?;
            let from = w.ns("from", refs)?;
            Check::Ping { addr, from }
        }
        "sysctl" => {
            let (koff, key) = w.next("a sysctl key such as net.ipv4.ip_forward")?;
            if !key.starts_with("net.") {
                return Err(err(
                    koff,
                    key,
                    format!("'{key}' is not a network sysctl (they start with 'net.')"),
                ));
            }
            w.expect("=")?;
            let (_, value) = w.next("a value")?;
            let ns = w.ns("in", refs)?;
            Check::Sysctl {
                key: key.to_string(),
                value: value.to_string(),
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
        "sh:" | "sh" => {
            let mut ns = Ns::Root;
            if head == "sh" {
                w.expect("in")?;
                let (noff, name) = w.next("a namespace name")?;
                let name = name.strip_suffix(':').ok_or_else(|| {
                    err(
                        noff,
                        name,
                        "write 'sh in NS: COMMAND' (the namespace ends with a colon)".into(),
                    )
                })?;
                ns = Ns::from_name(name);
                if let Ns::Named(n) = &ns {
                    refs.push(Ref::Netns {
                        name: n.clone(),
                        offset: noff,
                    });
                }
            }
            let start = w.offset();
            let command = line[start.min(line.len())..].trim();
            if command.is_empty() {
                return Err(CheckError {
                    offset: line.len(),
                    len: 1,
                    message: "expected a shell command after 'sh:'".into(),
                });
            }
            return Ok(Check::Shell {
                command: command.to_string(),
                ns,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) {
        let (c, _) = parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message));
        assert_eq!(c.to_string(), s);
    }

    #[test]
    fn every_form_prints_back_as_written() {
        for s in [
            "netns blue exists",
            "netns blue absent",
            "netns count >= 3",
            "link veth0 in blue is up",
            "link veth0 is down",
            "link bridge0 kind bridge",
            "link veth0 in blue peer veth1 in red",
            "link veth0 peer veth1 in root",
            "link blue0 master bridge0",
            "link blue0 nomaster",
            "link veth0 in blue absent",
            "addr 10.1.0.2/24 on veth0 in blue",
            "route default via 10.1.0.1 in blue",
            "route 10.0.2.0/24 via 10.0.1.1 dev left0 in left",
            "ping 10.1.0.3 from blue",
            "sysctl net.ipv4.ip_forward = 1 in router",
            "process netns-demo in another netns",
            "sh: test -d /run/netns",
            "sh in blue: ip link show lo",
            "not ping 10.0.2.2 from left",
        ] {
            roundtrip(s);
        }
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
    }
}
