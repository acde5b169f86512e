//! The command interpreter's front half: a command line of an `sh` block becomes either a native
//! operation that nslab performs itself, or a line for `/bin/sh -c` in the right namespace.
//!
//! Parsing follows iproute2's own rules where lessons meet them: object and verb abbreviations
//! (`ip a`, `ip l`, `ip r`, `del`), the optional `dev` and `name` keywords, `-n NS`, and
//! `ip netns exec NS CMD...` around any other command.

use std::net::Ipv4Addr;

use super::check::{Check, LinkPred};
use super::{Cidr, Ns};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Performed natively, over netlink and system calls, in `ns`.
    Native { ns: Ns, op: Op },
    /// Run through `/bin/sh -c` inside `ns`.
    Shell { ns: Ns, line: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    NetnsAdd(String),
    NetnsDel(String),
    NetnsList,
    VethAdd {
        name: String,
        peer: String,
        peer_ns: Option<Ns>,
    },
    BridgeAdd(String),
    LinkUp(String),
    LinkDown(String),
    LinkSetNetns {
        dev: String,
        to: Ns,
    },
    LinkSetMaster {
        dev: String,
        master: String,
    },
    LinkNoMaster(String),
    LinkDel(String),
    AddrAdd {
        cidr: Cidr,
        dev: String,
    },
    RouteAdd {
        dest: Option<Cidr>,
        via: Ipv4Addr,
        dev: Option<String>,
    },
    Ping {
        addr: Ipv4Addr,
        count: u32,
        timeout_ms: Option<u64>,
        interval_ms: Option<u64>,
    },
    SysctlWrite {
        key: String,
        value: String,
    },
}

/// A command line that looks like one nslab understands but is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// Byte offset in the line, and length, of the culprit.
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

impl Command {
    pub fn ns(&self) -> &Ns {
        match self {
            Command::Native { ns, .. } | Command::Shell { ns, .. } => ns,
        }
    }

    pub fn is_native(&self) -> bool {
        matches!(self, Command::Native { .. })
    }

    /// Running it changes no kernel state.
    pub fn observes(&self) -> bool {
        match self {
            Command::Native { op, .. } => matches!(op, Op::Ping { .. } | Op::NetnsList),
            Command::Shell { line, .. } => shell_line_observes(line),
        }
    }

    /// The checks a command implies, for steps that have no `check` block.
    pub fn derived_checks(&self) -> Vec<Check> {
        let Command::Native { ns, op } = self else {
            return Vec::new();
        };
        let link = |name: &str, ns: &Ns, pred: LinkPred| Check::Link {
            name: name.to_string(),
            ns: ns.clone(),
            pred,
        };
        match op {
            Op::NetnsAdd(n) => vec![Check::Netns {
                name: n.clone(),
                exists: true,
            }],
            Op::NetnsDel(n) => vec![Check::Netns {
                name: n.clone(),
                exists: false,
            }],
            Op::NetnsList => vec![],
            Op::VethAdd {
                name,
                peer,
                peer_ns,
            } => vec![link(
                name,
                ns,
                LinkPred::Peer {
                    name: peer.clone(),
                    ns: peer_ns.clone().unwrap_or_else(|| ns.clone()),
                },
            )],
            Op::BridgeAdd(b) => vec![link(b, ns, LinkPred::Kind("bridge".into()))],
            Op::LinkUp(d) => vec![link(d, ns, LinkPred::Up)],
            Op::LinkDown(d) => vec![link(d, ns, LinkPred::Down)],
            Op::LinkSetNetns { dev, to } => vec![link(dev, to, LinkPred::Exists)],
            Op::LinkSetMaster { dev, master } => {
                vec![link(dev, ns, LinkPred::Master(master.clone()))]
            }
            Op::LinkNoMaster(d) => vec![link(d, ns, LinkPred::NoMaster)],
            Op::LinkDel(d) => vec![link(d, ns, LinkPred::Absent)],
            Op::AddrAdd { cidr, dev } => vec![Check::Addr {
                cidr: *cidr,
                dev: dev.clone(),
                ns: ns.clone(),
            }],
            Op::RouteAdd { dest, via, dev } => vec![Check::Route {
                dest: *dest,
                via: *via,
                dev: dev.clone(),
                ns: ns.clone(),
            }],
            Op::Ping { addr, .. } => vec![Check::Ping {
                addr: *addr,
                from: ns.clone(),
            }],
            Op::SysctlWrite { key, value } => vec![Check::Sysctl {
                key: key.clone(),
                value: value.clone(),
                ns: ns.clone(),
            }],
        }
    }
}

/// Programs whose runs only look at the system.
const OBSERVERS: &[&str] = &[
    "ls", "cat", "lsns", "ps", "readlink", "stat", "echo", "true", "ip", "bridge", "nsenter",
    "grep", "head", "tail", "which", "findmnt", "mount", "pgrep", "sysctl",
];

fn shell_line_observes(line: &str) -> bool {
    // Plain words: lines with `$VAR` or `$(...)` are not split by split_words, and need not be.
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(&first) = words.first() else {
        return false;
    };
    if !OBSERVERS.contains(&first) || line.contains(['|', ';', '&', '>']) {
        return false;
    }
    match first {
        // `ip` observes only when it shows or lists.
        "ip" | "bridge" => {
            words[1..]
                .iter()
                .any(|w| ["show", "list", "ls", "lst"].contains(w))
                || is_bare_listing(&words[1..])
        }
        // `mount` with arguments changes the mount table; alone it lists it.
        "mount" => words.len() == 1,
        // sysctl reads unless it is given KEY=VALUE.
        "sysctl" => !words.iter().any(|w| w.contains('=') || *w == "-w"),
        "nsenter" => false,
        _ => true,
    }
}

/// `ip a`, `ip -n blue l`, `ip -br addr`: an object with no verb lists it. `args` follows `ip`.
fn is_bare_listing(args: &[&str]) -> bool {
    const OBJECTS: &[&str] = &[
        "address",
        "link",
        "route",
        "neighbour",
        "neighbor",
        "fdb",
        "netns",
    ];
    let mut rest: Vec<&str> = args
        .iter()
        .copied()
        .filter(|w| !w.starts_with('-'))
        .collect();
    // The namespace after -n is not the object.
    if args.iter().any(|w| *w == "-n" || *w == "-netns") && !rest.is_empty() {
        rest.remove(0);
    }
    matches!(rest.as_slice(), [object] if OBJECTS.iter().any(|o| matches(object, o)))
}

/// Splits a command line into words with their byte offsets, honouring quotes and backslashes.
/// Returns `None` when the line needs a real shell: pipes, redirections, variables, globs,
/// substitutions or several commands.
pub fn split_words(line: &str) -> Option<Vec<(usize, String)>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push((s, std::mem::take(&mut cur)));
                }
            }
            '\'' | '"' => {
                start.get_or_insert(i);
                let quote = c;
                let mut closed = false;
                for (_, q) in chars.by_ref() {
                    if q == quote {
                        closed = true;
                        break;
                    }
                    if quote == '"' && matches!(q, '$' | '`' | '\\') {
                        return None;
                    }
                    cur.push(q);
                }
                if !closed {
                    return None;
                }
            }
            '\\' => {
                start.get_or_insert(i);
                match chars.next() {
                    Some((_, n)) => cur.push(n),
                    None => return None,
                }
            }
            '|' | '&' | ';' | '<' | '>' | '$' | '`' | '(' | ')' | '*' | '?' | '[' | '{' | '}'
            | '~' | '#' => {
                return None;
            }
            _ => {
                start.get_or_insert(i);
                cur.push(c);
            }
        }
    }
    if let Some(s) = start {
        words.push((s, cur));
    }
    // `VAR=value cmd` is an environment assignment: leave it to the shell.
    if words
        .first()
        .is_some_and(|(_, w)| w.contains('=') && !w.starts_with('-'))
    {
        return None;
    }
    Some(words)
}

/// iproute2's rule: a word matches a keyword when it is a non-empty prefix of it.
fn matches(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

struct Args<'a> {
    words: &'a [(usize, String)],
    pos: usize,
    line_len: usize,
    /// How the command reads, for error messages in iproute2's voice.
    context: String,
}

impl<'a> Args<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(|w| w.1.as_str())
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some((w.0, w.1.as_str()))
    }

    fn need(&mut self, what: &str) -> Result<(usize, &'a str), CommandError> {
        self.next().ok_or_else(|| CommandError {
            offset: self.line_len,
            len: 1,
            message: format!("{}: {what} is missing", self.context),
        })
    }

    fn error(&self, offset: usize, word: &str, message: String) -> CommandError {
        CommandError {
            offset,
            len: word.chars().count().max(1),
            message: format!("{}: {message}", self.context),
        }
    }
}

/// Parses one command line. `Ok(Command::Shell)` for anything nslab does not perform itself;
/// `Err` only for a line that is clearly one of nslab's native forms but malformed.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let shell = || Command::Shell {
        ns: Ns::Root,
        line: line.to_string(),
    };
    let Some(words) = split_words(line) else {
        return Ok(shell());
    };
    parse_words(line, &words, Ns::Root)
}

fn parse_words(line: &str, words: &[(usize, String)], ns: Ns) -> Result<Command, CommandError> {
    let shell = |ns: Ns, from: usize| Command::Shell {
        ns,
        line: line[words.get(from).map_or(line.len(), |w| w.0)..]
            .trim()
            .to_string(),
    };
    let Some((_, first)) = words.first() else {
        return Ok(shell(ns, 0));
    };
    let mut a = Args {
        words,
        pos: 1,
        line_len: line.len(),
        context: first.clone(),
    };
    match first.as_str() {
        "ip" => parse_ip(line, words, ns, a),
        "ping" => {
            let mut count = None;
            let mut timeout_ms = None;
            let mut interval_ms = None;
            let mut addr = None;
            while let Some((off, w)) = a.next() {
                match w {
                    "-c" | "-W" | "-i" => {
                        let (voff, v) = a.need(&format!("the value of {w}"))?;
                        let bad = || a.error(voff, v, format!("invalid argument '{v}' to {w}"));
                        match w {
                            "-c" => {
                                count =
                                    Some(v.parse::<u32>().ok().filter(|c| *c > 0).ok_or_else(bad)?)
                            }
                            "-W" => timeout_ms = Some(secs_to_ms(v).ok_or_else(bad)?),
                            _ => interval_ms = Some(secs_to_ms(v).ok_or_else(bad)?),
                        }
                    }
                    "-q" | "-n" => {}
                    w if w.starts_with('-') => return Ok(shell(ns, 0)),
                    w => {
                        if addr.is_some() {
                            return Err(a.error(off, w, format!("unexpected argument '{w}'")));
                        }
                        // A host name needs a resolver: leave it to the real ping.
                        match w.parse::<Ipv4Addr>() {
                            Ok(ip) => addr = Some(ip),
                            Err(_) => return Ok(shell(ns, 0)),
                        }
                    }
                }
            }
            let addr = match addr {
                Some(a) => a,
                None => {
                    return Err(a.error(
                        line.len(),
                        " ",
                        "usage error: destination address required".into(),
                    ));
                }
            };
            Ok(Command::Native {
                ns,
                op: Op::Ping {
                    addr,
                    count: count.unwrap_or(1),
                    timeout_ms,
                    interval_ms,
                },
            })
        }
        "sysctl" => {
            let mut assignment = None;
            while let Some((off, w)) = a.next() {
                match w {
                    "-w" | "-q" => {}
                    w if w.starts_with('-') => return Ok(shell(ns, 0)),
                    w if w.contains('=') => assignment = Some((off, w)),
                    // Reading a key is an observation; the shell does it well.
                    _ => return Ok(shell(ns, 0)),
                }
            }
            let Some((off, w)) = assignment else {
                return Ok(shell(ns, 0));
            };
            let (key, value) = w.split_once('=').unwrap_or((w, ""));
            let key = key.replace('/', ".");
            if key.is_empty() || value.is_empty() {
                return Err(a.error(off, w, format!("'{w}' must read KEY=VALUE")));
            }
            if !key.starts_with("net.") {
                return Ok(shell(ns, 0));
            }
            Ok(Command::Native {
                ns,
                op: Op::SysctlWrite {
                    key,
                    value: value.to_string(),
                },
            })
        }
        _ => Ok(shell(ns, 0)),
    }
}

fn secs_to_ms(v: &str) -> Option<u64> {
    let s: f64 = v.parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).round() as u64)
}

fn parse_ip(
    line: &str,
    words: &[(usize, String)],
    mut ns: Ns,
    mut a: Args<'_>,
) -> Result<Command, CommandError> {
    let shell = |ns: Ns| Command::Shell {
        ns,
        line: line[words[0].0..].trim().to_string(),
    };
    // Options before the object.
    while let Some(w) = a.peek() {
        if w == "-n" || w == "-netns" {
            a.next();
            let (_, name) = a.need("the namespace after -n")?;
            ns = Ns::Named(name.to_string());
        } else if w.starts_with('-') {
            // -j, -br, -d, -s...: output options, for the real ip.
            return Ok(shell(ns));
        } else {
            break;
        }
    }
    let Some((_, object)) = a.next() else {
        return Ok(shell(ns));
    };
    let verb = a.peek().unwrap_or("");
    // iproute2 tries its objects in this order: "a" is address, "l" is link, "r" is route.
    if matches(object, "address") {
        a.context = "ip address".into();
        if !matches(verb, "add") {
            return Ok(shell(ns));
        }
        a.next();
        let (coff, c) = a.need("the address")?;
        let cidr = if c.contains('/') {
            c.parse::<Cidr>()
                .map_err(|e| a.error(coff, c, format!("invalid address \"{c}\": {e}")))?
        } else {
            let addr = c
                .parse::<Ipv4Addr>()
                .map_err(|_| a.error(coff, c, format!("invalid address \"{c}\"")))?;
            Cidr { addr, prefix: 32 }
        };
        let mut dev = None;
        while let Some((off, w)) = a.next() {
            match w {
                "dev" => dev = Some(a.need("the device after dev")?.1.to_string()),
                _ if dev.is_none() && !w.starts_with('-') => {
                    return Err(a.error(off, w, format!("unexpected '{w}' (write: dev NAME)")));
                }
                // broadcast, label, scope...: let the real ip handle them.
                _ => return Ok(shell(ns)),
            }
        }
        let dev = dev.ok_or_else(|| {
            a.error(
                line.len(),
                " ",
                "Not enough information: \"dev\" argument is required.".into(),
            )
        })?;
        return Ok(Command::Native {
            ns,
            op: Op::AddrAdd { cidr, dev },
        });
    }
    if matches(object, "route") {
        a.context = "ip route".into();
        if !matches(verb, "add") {
            return Ok(shell(ns));
        }
        a.next();
        let (doff, d) = a.need("the destination (default or a prefix)")?;
        let dest = if d == "default" || d == "0.0.0.0/0" {
            None
        } else {
            Some(
                d.parse::<Cidr>()
                    .map(|c| c.network())
                    .map_err(|e| a.error(doff, d, format!("invalid prefix \"{d}\": {e}")))?,
            )
        };
        let mut via = None;
        let mut dev = None;
        while let Some((off, w)) = a.next() {
            match w {
                "via" => {
                    let (voff, v) = a.need("the gateway after via")?;
                    via = Some(
                        v.parse::<Ipv4Addr>()
                            .map_err(|_| a.error(voff, v, format!("invalid gateway \"{v}\"")))?,
                    );
                }
                "dev" => dev = Some(a.need("the device after dev")?.1.to_string()),
                w if ["metric", "proto", "scope", "table", "src", "onlink"].contains(&w) => {
                    return Ok(shell(ns));
                }
                _ => return Err(a.error(off, w, format!("unexpected '{w}'"))),
            }
        }
        // A route without a gateway (dev only) is rare in lessons: the real ip does it.
        let Some(via) = via else {
            return Ok(shell(ns));
        };
        return Ok(Command::Native {
            ns,
            op: Op::RouteAdd { dest, via, dev },
        });
    }
    if matches(object, "link") {
        a.context = "ip link".into();
        return parse_link(&mut a, ns, shell);
    }
    if object.len() >= 3 && matches(object, "netns") {
        a.context = "ip netns".into();
        let Some((_, v)) = a.next() else {
            return Ok(Command::Native {
                ns,
                op: Op::NetnsList,
            });
        };
        if matches(v, "list") || v == "show" {
            return Ok(Command::Native {
                ns,
                op: Op::NetnsList,
            });
        }
        if v == "add" || matches(v, "delete") {
            let (noff, name) = a.need("the namespace name")?;
            check_netns_name(&a, noff, name)?;
            if let Some((off, w)) = a.next() {
                return Err(a.error(off, w, format!("unexpected '{w}'")));
            }
            let op = if v == "add" {
                Op::NetnsAdd(name.to_string())
            } else {
                Op::NetnsDel(name.to_string())
            };
            return Ok(Command::Native { ns, op });
        }
        if matches(v, "exec") {
            let (noff, name) = a.need("the namespace name")?;
            check_netns_name(&a, noff, name)?;
            if a.peek().is_none() {
                return Err(a.error(line.len(), " ", "No command specified".into()));
            }
            return parse_words(line, &words[a.pos..], Ns::Named(name.to_string()));
        }
        return Ok(shell(ns));
    }
    Ok(shell(ns))
}

fn check_netns_name(a: &Args<'_>, off: usize, name: &str) -> Result<(), CommandError> {
    if name.contains('/') || name == "." || name == ".." {
        return Err(a.error(off, name, format!("Invalid netns name \"{name}\"")));
    }
    Ok(())
}

fn parse_link(
    a: &mut Args<'_>,
    ns: Ns,
    shell: impl Fn(Ns) -> Command,
) -> Result<Command, CommandError> {
    let Some((voff, verb)) = a.next() else {
        return Ok(shell(ns));
    };
    if verb == "add" {
        let mut name = None;
        let mut kind = None;
        let mut peer = None;
        let mut peer_ns = None;
        while let Some((off, w)) = a.next() {
            match w {
                "name" | "dev" => name = Some(a.need("the link name")?.1.to_string()),
                "type" => {
                    let (koff, k) = a.need("the link type")?;
                    kind = Some((koff, k));
                    if k == "veth"
                        && let Some(p) = a.peek()
                        && p == "peer"
                    {
                        a.next();
                        while let Some((poff, pw)) = a.next() {
                            match pw {
                                "name" => peer = Some(a.need("the peer name")?.1.to_string()),
                                "netns" => {
                                    peer_ns =
                                        Some(Ns::Named(a.need("the peer namespace")?.1.to_string()))
                                }
                                _ if peer.is_none()
                                    && !pw.starts_with('-')
                                    && pw != "address"
                                    && pw != "mtu" =>
                                {
                                    peer = Some(pw.to_string())
                                }
                                _ => {
                                    return Err(a.error(
                                        poff,
                                        pw,
                                        format!("unexpected '{pw}' in the peer's options"),
                                    ));
                                }
                            }
                        }
                    }
                }
                // Attributes nslab does not model (mtu, address, ...): the real ip does the line.
                "mtu" | "address" | "txqueuelen" | "netns" | "group" => return Ok(shell(ns)),
                _ if name.is_none() && !w.starts_with('-') => name = Some(w.to_string()),
                _ => return Err(a.error(off, w, format!("unexpected '{w}'"))),
            }
        }
        let name = name.ok_or_else(|| a.error(voff, verb, "the new link needs a name".into()))?;
        let Some((koff, kind)) = kind else {
            return Err(a.error(
                voff,
                verb,
                "Not enough information: \"type\" argument is required".into(),
            ));
        };
        return match kind {
            "veth" => {
                let peer = peer.ok_or_else(|| {
                    a.error(
                        koff,
                        kind,
                        "a veth pair needs its other end: add 'peer name NAME'".into(),
                    )
                })?;
                Ok(Command::Native {
                    ns,
                    op: Op::VethAdd {
                        name,
                        peer,
                        peer_ns,
                    },
                })
            }
            "bridge" => Ok(Command::Native {
                ns,
                op: Op::BridgeAdd(name),
            }),
            _ => Ok(shell(ns)),
        };
    }
    if matches(verb, "delete") {
        let mut dev = None;
        while let Some((off, w)) = a.next() {
            match w {
                "dev" => dev = Some(a.need("the device after dev")?.1.to_string()),
                _ if dev.is_none() => dev = Some(w.to_string()),
                _ => return Err(a.error(off, w, format!("unexpected '{w}'"))),
            }
        }
        let dev =
            dev.ok_or_else(|| a.error(voff, verb, "which link? (write: ip link del NAME)".into()))?;
        return Ok(Command::Native {
            ns,
            op: Op::LinkDel(dev),
        });
    }
    if verb == "set" {
        let (_, mut dev) = a.need("the device")?;
        if dev == "dev" {
            dev = a.need("the device after dev")?.1;
        }
        let dev = dev.to_string();
        let Some((_, action)) = a.next() else {
            return Err(a.error(
                a.line_len,
                " ",
                format!("what to set on {dev}? (up, down, netns NS, master BR, nomaster)"),
            ));
        };
        let op = match action {
            "up" => Op::LinkUp(dev),
            "down" => Op::LinkDown(dev),
            "netns" => {
                let (_, to) = a.need("the namespace after netns")?;
                let to = if to == "1" {
                    Ns::Root
                } else {
                    Ns::Named(to.to_string())
                };
                Op::LinkSetNetns { dev, to }
            }
            "master" => Op::LinkSetMaster {
                dev,
                master: a.need("the bridge after master")?.1.to_string(),
            },
            "nomaster" => Op::LinkNoMaster(dev),
            _ => return Ok(shell(ns)),
        };
        if a.peek().is_some() {
            // `ip link set veth0 up mtu 1400`: more than one change, the real ip does it.
            return Ok(shell(ns));
        }
        return Ok(Command::Native { ns, op });
    }
    Ok(shell(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(line: &str) -> (Ns, Op) {
        match parse(line) {
            Ok(Command::Native { ns, op }) => (ns, op),
            other => panic!("{line}: {other:?}"),
        }
    }

    fn blue() -> Ns {
        Ns::Named("blue".into())
    }

    #[test]
    fn workshop_commands_are_native() {
        assert_eq!(
            native("ip netns add blue"),
            (Ns::Root, Op::NetnsAdd("blue".into()))
        );
        assert_eq!(native("ip netns del blue").1, Op::NetnsDel("blue".into()));
        assert_eq!(
            native("ip netns delete blue").1,
            Op::NetnsDel("blue".into())
        );
        assert_eq!(
            native("ip link add veth0 type veth peer name veth1").1,
            Op::VethAdd {
                name: "veth0".into(),
                peer: "veth1".into(),
                peer_ns: None
            }
        );
        assert_eq!(
            native("ip link add name blue0 type veth peer name blue1 netns blue").1,
            Op::VethAdd {
                name: "blue0".into(),
                peer: "blue1".into(),
                peer_ns: Some(blue())
            }
        );
        assert_eq!(
            native("ip link set dev veth0 netns blue").1,
            Op::LinkSetNetns {
                dev: "veth0".into(),
                to: blue()
            }
        );
        assert_eq!(
            native("ip netns exec blue ip link set lo up"),
            (blue(), Op::LinkUp("lo".into()))
        );
        assert_eq!(
            native("ip -n blue link set veth0 down"),
            (blue(), Op::LinkDown("veth0".into()))
        );
        assert_eq!(
            native("ip netns exec blue ip address add 10.1.0.2/24 dev veth0"),
            (
                blue(),
                Op::AddrAdd {
                    cidr: "10.1.0.2/24".parse().unwrap(),
                    dev: "veth0".into()
                }
            )
        );
        assert_eq!(
            native("ip netns exec blue ping -c 5 10.1.0.3"),
            (
                blue(),
                Op::Ping {
                    addr: "10.1.0.3".parse().unwrap(),
                    count: 5,
                    timeout_ms: None,
                    interval_ms: None
                }
            )
        );
    }

    #[test]
    fn abbreviations_match_iproute2() {
        assert!(matches!(
            native("ip a add 10.0.0.1/24 dev x").1,
            Op::AddrAdd { .. }
        ));
        assert!(matches!(
            native("ip addr add 10.0.0.1/24 dev x").1,
            Op::AddrAdd { .. }
        ));
        assert!(matches!(native("ip l set x up").1, Op::LinkUp(_)));
        assert!(matches!(native("ip l del x").1, Op::LinkDel(_)));
        assert!(matches!(
            native("ip r add default via 10.0.0.1").1,
            Op::RouteAdd { dest: None, .. }
        ));
        assert!(matches!(
            native("ip link add br0 type bridge").1,
            Op::BridgeAdd(_)
        ));
        assert!(matches!(
            native("ip link set blue0 master bridge0").1,
            Op::LinkSetMaster { .. }
        ));
        assert!(matches!(
            native("ip link set blue0 nomaster").1,
            Op::LinkNoMaster(_)
        ));
        assert!(matches!(
            native("sysctl -w net.ipv4.ip_forward=1").1,
            Op::SysctlWrite { .. }
        ));
        assert!(matches!(
            native("ip route add 10.0.2.0/24 via 10.0.1.1 dev left0").1,
            Op::RouteAdd {
                dest: Some(_),
                dev: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn everything_else_goes_to_the_shell() {
        for line in [
            "ip -br a",
            "ip link show",
            "lsns -t net",
            "ls -l /proc/$$/ns",
            "iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE",
            "ip netns exec blue bash -c 'echo hi'",
            "ping example.org",
        ] {
            assert!(matches!(parse(line), Ok(Command::Shell { .. })), "{line}");
        }
        assert_eq!(
            parse("ip netns exec blue ip -br link"),
            Ok(Command::Shell {
                ns: blue(),
                line: "ip -br link".into()
            })
        );
    }

    #[test]
    fn observation_is_recognised() {
        for line in [
            "ip link show",
            "ip -n blue a",
            "ip a",
            "lsns -t net",
            "ip netns list",
            "ping -c 1 10.0.0.1",
            "bridge fdb show br bridge0",
        ] {
            assert!(parse(line).unwrap().observes(), "{line}");
        }
        for line in [
            "ip link set x up",
            "ip netns add x",
            "iptables -A INPUT -j DROP",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ] {
            assert!(!parse(line).unwrap().observes(), "{line}");
        }
    }

    #[test]
    fn errors_read_like_iproute2_and_point_at_the_word() {
        let e = parse("ip link add veth0 type veth").unwrap_err();
        assert_eq!(e.offset, 23);
        assert!(
            e.message
                .starts_with("ip link: a veth pair needs its other end"),
            "{}",
            e.message
        );
        let e = parse("ip addr add 10.1.0.300/24 dev veth0").unwrap_err();
        assert_eq!(e.offset, 12);
        assert_eq!(
            e.message,
            "ip address: invalid address \"10.1.0.300/24\": '10.1.0.300' is not an IPv4 address"
        );
        let e = parse("ip addr add 10.1.0.2/24").unwrap_err();
        assert!(e.message.contains("\"dev\" argument is required"));
        let e = parse("ip netns exec blue").unwrap_err();
        assert_eq!(e.message, "ip netns: No command specified");
        let e = parse("ping -c x 10.0.0.1").unwrap_err();
        assert_eq!(e.offset, 8);
    }

    #[test]
    fn derived_checks_follow_the_commands() {
        let c = parse("ip netns exec blue ip link set veth0 up").unwrap();
        assert_eq!(
            c.derived_checks()[0].to_string(),
            "link veth0 in blue is up"
        );
        let c = parse("ip link add veth0 type veth peer name veth1").unwrap();
        assert_eq!(
            c.derived_checks()[0].to_string(),
            "link veth0 peer veth1 in root"
        );
        let c = parse("ip netns add blue").unwrap();
        assert_eq!(c.derived_checks()[0].to_string(), "netns blue exists");
    }
}
