//! `ip`, read as iproute2 6.1 reads it (ip/ip.c, iplink.c, link_veth.c, ipaddress.c,
//! iproute.c, ipneigh.c, ipnetns.c): the same option and keyword prefixes, in the same order,
//! the same defaults, the same refusals with the same words.
//!
//! Reading a line is separate from performing it: every form below is read (so that nslab
//! knows what the line does), and [`LinkAdd::native`] and its siblings say which of them nslab
//! performs itself. The others go to the real `ip`.

use std::net::IpAddr;
use std::path::Path;

use super::ipaddr::{self, Family, Prefix};
use super::lex::Word;
use super::{CommandError, Op, Part, error_at, error_at_end, network_unknown, texts, unknown};
use crate::net::{Ns, valid_ifname};

/// iproute2's `matches(prefix, word)`: the word typed is a non-empty prefix of the keyword.
pub fn matches(typed: &str, keyword: &str) -> bool {
    !typed.is_empty() && keyword.starts_with(typed)
}

/// The program `ip netns exec NS PROG ...` runs (`ip net exec` too: `net` is netns's shortest
/// prefix that no earlier object of ip.c's table takes), if `words` is such a line.
pub fn exec_program(words: &[Word]) -> Option<&Word> {
    let object = words.iter().position(|w| {
        !w.text.starts_with('-') && OBJECTS.iter().find(|o| matches(&w.text, o)) == Some(&"netns")
    })?;
    let verb = words.get(object + 1)?;
    if !matches(&verb.text, "exec") {
        return None;
    }
    words.get(object + 3)
}

/// The objects of ip.c's command table, in its order: the first one a typed word is a
/// prefix of wins (`ip a` is address, `ip r` is route, `ip n` is neighbour).
const OBJECTS: &[&str] = &[
    "address",
    "addrlabel",
    "maddress",
    "route",
    "rule",
    "neighbor",
    "neighbour",
    "ntable",
    "ntbl",
    "link",
    "l2tp",
    "fou",
    "ila",
    "macsec",
    "tunnel",
    "tunl",
    "tuntap",
    "tap",
    "token",
    "tcpmetrics",
    "tcp_metrics",
    "monitor",
    "xfrm",
    "mroute",
    "mrule",
    "netns",
    "netconf",
    "vrf",
    "sr",
    "nexthop",
    "mptcp",
    "ioam",
    "help",
    "stats",
];

const INCOMPLETE: &str = "Command line is not complete. Try option \"help\"";

/// A cursor over the words of an `ip` command, with iproute2's NEXT_ARG.
struct Args<'a> {
    line: &'a str,
    words: &'a [Word],
    pos: usize,
}

impl<'a> Args<'a> {
    fn peek(&self) -> Option<&'a Word> {
        self.words.get(self.pos)
    }

    fn next(&mut self) -> Option<&'a Word> {
        let w = self.words.get(self.pos);
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    /// NEXT_ARG: the value that must follow a keyword.
    fn need(&mut self) -> Result<&'a Word, CommandError> {
        self.next()
            .ok_or_else(|| error_at_end(self.line, INCOMPLETE))
    }

    fn rest(&self) -> &'a [Word] {
        &self.words[self.pos.min(self.words.len())..]
    }
}

/// What the global options of a line set.
struct Globals {
    ns: Ns,
    batch: Option<String>,
    all: bool,
    family: Family,
    /// `-0`, `-M`, `-B` or `-family link|mpls|bridge`: ip's AF_PACKET, AF_MPLS or AF_BRIDGE,
    /// which nslab does not follow (see [`parse`]).
    other_family: Option<&'static str>,
    /// `-family help`: ip prints a usage and fails, whatever the object.
    family_help: bool,
    /// How many `-n` options the line has (ip enters each in turn, and fails at the first
    /// that is not there).
    switches: usize,
}

/// Parses `ip [OPTIONS] OBJECT [COMMAND ...]`, `words[0]` being `ip`.
pub fn parse(line: &str, words: &[Word], ns: Ns) -> Result<Vec<Part>, CommandError> {
    let mut a = Args {
        line,
        words,
        pos: 1,
    };
    let mut g = Globals {
        ns,
        batch: None,
        all: false,
        family: Family::Any,
        other_family: None,
        family_help: false,
        switches: 0,
    };
    // ip.c: options until the first word that does not start with '-' (or `--`).
    while let Some(w) = a.peek() {
        let t = w.text.as_str();
        if t == "--" {
            a.next();
            break;
        }
        if !t.starts_with('-') {
            break;
        }
        a.next();
        // `--json` is `-json`; every option matches by prefix, in ip.c's order.
        let o = t
            .strip_prefix("--")
            .or_else(|| t.strip_prefix('-'))
            .unwrap_or(t);
        let m = |k: &str| matches(o, k);
        let color = {
            let (name, value) = o.split_once('=').unwrap_or((o, ""));
            matches(name, "color") && ["", "always", "auto", "never"].contains(&value)
        };
        if m("loops") {
            a.need()?;
        } else if m("family") {
            let f = a.need()?;
            g.family_help |= f.text == "help";
            // read_family: the last family option wins.
            g.other_family = match f.text.as_str() {
                "link" => Some("-family link"),
                "bridge" => Some("-family bridge"),
                "mpls" => Some("-family mpls"),
                _ => None,
            };
            g.family = match f.text.as_str() {
                "inet" => Family::V4,
                "inet6" => Family::V6,
                "link" | "bridge" | "mpls" | "help" => Family::Any,
                _ => {
                    return Err(error_at(
                        f,
                        format!(
                            "Error: argument \"{}\" is wrong: invalid protocol family",
                            f.text
                        ),
                    ));
                }
            };
        } else if o == "4" {
            g.family = Family::V4;
            g.other_family = None;
        } else if o == "6" {
            g.family = Family::V6;
            g.other_family = None;
        } else if ["0", "M", "B"].contains(&o) {
            g.family = Family::Any;
            g.other_family = Some(match o {
                "0" => "-0",
                "M" => "-M",
                _ => "-B",
            });
        } else if m("human")
            || m("human-readable")
            || m("iec")
            || m("stats")
            || m("statistics")
            || m("details")
            || m("resolve")
            || m("oneline")
            || m("timestamp")
            || m("tshort")
        {
        } else if m("Version") {
            return Ok(vec![observe(&g.ns)]);
        } else if m("force") {
        } else if m("batch") {
            g.batch = Some(a.need()?.text.clone());
        } else if m("brief") || m("json") || m("pretty") {
        } else if m("rcvbuf") {
            let v = a.need()?;
            if ipaddr::unsigned(&v.text).is_none() {
                return Err(error_at(v, format!("Invalid rcvbuf size '{}'", v.text)));
            }
        } else if color {
        } else if m("help") {
            return Ok(vec![observe(&g.ns)]);
        } else if m("netns") {
            let n = a.need()?;
            if n.dynamic {
                return Ok(vec![part(
                    &g.ns,
                    unknown(
                        "the namespace is not known before the line runs",
                        &texts(words),
                    ),
                )]);
            }
            g.ns = Ns::Named(n.text.clone());
            g.switches += 1;
        } else if m("Numeric") {
        } else if m("all") {
            g.all = true;
        } else if o == "echo" {
        } else {
            return Err(error_at(
                w,
                format!("Option \"{t}\" is unknown, try \"ip -help\"."),
            ));
        }
    }
    if let Some(file) = g.batch {
        return Ok(vec![part(
            &g.ns,
            Op::Unknown {
                why: format!("ip -batch {file}: the commands are in a file nslab does not read"),
                names: vec![],
                network: true,
            },
        )]);
    }
    let Some(obj) = a.next() else {
        // `ip` alone prints its usage and fails; nothing changes.
        return Ok(vec![observe(&g.ns)]);
    };
    let Some(object) = OBJECTS.iter().find(|o| matches(&obj.text, o)) else {
        return Err(error_at(
            obj,
            format!("Object \"{}\" is unknown, try \"ip help\".", obj.text),
        ));
    };
    let parts = match *object {
        "link" => link(&mut a, &g),
        "address" => address(&mut a, &g),
        "route" => route(&mut a, &g),
        "neighbor" | "neighbour" => neigh(&mut a, &g),
        "netns" => netns(&mut a, &g),
        "rule" => rule(&mut a, &g, words),
        "help" | "monitor" | "ntable" | "ntbl" | "maddress" | "netconf" | "stats"
        | "tcpmetrics" | "tcp_metrics" => Ok(vec![observe(&g.ns)]),
        other => {
            // rule, nexthop, tunnel, xfrm...: read-only forms observe, the rest is the real ip's.
            let verb = a.peek().map(|w| w.text.as_str()).unwrap_or("");
            if verb.is_empty()
                || matches(verb, "show")
                || matches(verb, "list")
                || matches(verb, "lst")
            {
                Ok(vec![observe(&g.ns)])
            } else {
                Ok(vec![part(
                    &g.ns,
                    unknown(
                        &format!("nslab does not read `ip {other}` lines"),
                        &texts(words),
                    ),
                )])
            }
        }
    }?;
    // ip sends AF_PACKET, AF_MPLS or AF_BRIDGE where the family goes: it refuses an inet
    // prefix or address, and the kernel reads some requests otherwise (`ip -B link del X` is a
    // bridge's RTM_DELLINK, which leaves X). The real ip does what such a line does.
    let Some(option) = g.other_family else {
        return Ok(parts);
    };
    Ok(parts
        .into_iter()
        .map(|mut p| {
            p.op = match p.op {
                Op::Observe | Op::List(_) => Op::Observe,
                Op::NetnsAdd(_) | Op::NetnsDel(_) | Op::NetnsDelAll | Op::NetnsAttach(_) => p.op,
                _ => Op::Unknown {
                    why: format!(
                        "ip {option}: a family other than inet and inet6, which the real ip follows"
                    ),
                    names: texts(words),
                    network: true,
                },
            };
            p
        })
        .collect())
}

fn part(ns: &Ns, op: Op) -> Part {
    Part {
        ns: ns.clone(),
        op,
        conditional: false,
        background: false,
        wrapped: false,
    }
}

fn observe(ns: &Ns) -> Part {
    part(ns, Op::Observe)
}

/// What an `ip` listing lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Link,
    Address,
    Route,
    Neighbour,
    Netns,
}

/// An `ip` listing whose outcome the kernel's state alone decides: it succeeds when its
/// namespace (and the device it names) exists, and changes nothing. iproute2's words when it
/// fails: "Device "X" does not exist." (link, address), "Cannot find device "X"" (route,
/// neighbour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub what: Listed,
    pub dev: Option<String>,
}

/// The words of ipaddress.c's listing filter other than a device's name (a bare word that is
/// one of these is not a device).
const FILTER_WORDS: &[&str] = &[
    "to",
    "scope",
    "up",
    "dynamic",
    "permanent",
    "secondary",
    "temporary",
    "primary",
    "tentative",
    "deprecated",
    "home",
    "nodad",
    "mngtmpaddr",
    "noprefixroute",
    "dadfailed",
    "optimistic",
    "autojoin",
    "stable-privacy",
    "label",
    "group",
    "master",
    "vrf",
    "nomaster",
    "type",
    "dev",
    "proto",
];

/// The rest of a listing's words, read as ipaddress.c, iproute.c and ipneigh.c read them: the
/// forms nslab can answer (no filter, `dev NAME`, and for links and addresses a bare NAME,
/// `up`, `type KIND`) make a [`Listing`]; any other filter leaves the line to the real `ip`.
fn listing(a: &mut Args<'_>, g: &Globals, what: Listed) -> Part {
    // One `-n NAME` at most, a plain name (ip looks a path up under /run/netns too).
    let plain_ns = match &g.ns {
        Ns::Root => true,
        Ns::Named(n) => g.switches <= 1 && valid_netns_name(n),
    };
    let plain = plain_ns && !g.all && !g.family_help && g.batch.is_none();
    let mut dev: Option<String> = None;
    let mut known = plain;
    let devices = matches!(what, Listed::Link | Listed::Address);
    while known && let Some(w) = a.next() {
        let t = w.text.as_str();
        known = !w.dynamic
            && match t {
                _ if what == Listed::Netns => false,
                "dev" => match a.next() {
                    Some(d) if !d.dynamic && dev.is_none() => {
                        dev = Some(d.text.clone());
                        true
                    }
                    _ => false,
                },
                "up" if devices => true,
                "type" if devices => a.next().is_some_and(|k| !k.dynamic),
                // A bare word names the device, unless ip reads it as something else (a
                // keyword of the filter, `help`, an option). (Whether it is a name the kernel
                // looks up as ip does is asked below, of every device however it was named.)
                _ if devices => {
                    let keyword =
                        FILTER_WORDS.contains(&t) || t.starts_with('-') || matches(t, "help");
                    if keyword || dev.is_some() {
                        false
                    } else {
                        dev = Some(t.to_string());
                        true
                    }
                }
                _ => false,
            };
    }
    // A name the kernel's own lookup may not find where ip finds it: a label (`eth0:1`, which
    // ip's ioctl lookup cuts at the colon), ip's `ifN` index names, an altname longer than an
    // interface name.
    let odd = |d: &str| {
        d.contains(':')
            || !valid_ifname(d)
            || d.strip_prefix("if")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    };
    if known && !dev.as_deref().is_some_and(odd) {
        part(&g.ns, Op::List(Listing { what, dev }))
    } else {
        observe(&g.ns)
    }
}

// ---------------------------------------------------------------------------------------------
// ip link

/// A namespace as `ip link set ... netns X` names it: a name in /run/netns, else a pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsArg {
    pub text: String,
    /// A word the shell expands (`$(ip netns pids p)`): not known before the line runs.
    pub dynamic: bool,
}

impl NetnsArg {
    /// The namespace as lessons name it: `1` (pid 1) is the root one; another number is a
    /// process's namespace nslab cannot name.
    /// A path names the namespace mounted there: one in /run/netns is that name.
    pub fn ns(&self) -> Option<Ns> {
        if self.dynamic {
            return None;
        }
        // pid 1's namespace is the root one (as `netns 1` is).
        if self.text == "/proc/1/ns/net" {
            return Some(Ns::Root);
        }
        if self.text.contains('/') {
            let name = ["/run/netns/", "/var/run/netns/"]
                .iter()
                .find_map(|dir| self.text.strip_prefix(dir))?;
            return (!name.is_empty() && !name.contains('/')).then(|| Ns::Named(name.into()));
        }
        match ipaddr::integer(&self.text) {
            Some(1) => Some(Ns::Root),
            Some(_) => None,
            None => Some(Ns::Named(self.text.clone())),
        }
    }
}

/// What `iplink_parse` reads: the attributes of one link (the main one, or a veth's peer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkAttrs {
    pub up: Option<bool>,
    /// `name X`.
    pub name: Option<String>,
    /// `dev X` or the bare device word.
    pub dev: Option<String>,
    pub mtu: Option<u32>,
    pub address: Option<Vec<u8>>,
    pub txqlen: Option<u32>,
    pub netns: Option<NetnsArg>,
    /// `master BR` (Some(Some)), `nomaster` (Some(None)).
    pub master: Option<Option<String>>,
    /// `link DEV`: the lower device a macvlan, ipvlan or vlan is made on.
    pub lower: Option<String>,
    /// Keywords nslab reads but does not perform itself.
    pub other: Vec<String>,
}

impl LinkAttrs {
    /// The link's name: `name X` if given, else the device word.
    pub fn link_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.dev.as_deref())
    }

    /// For `set`: the new name, when `name` renames the device.
    pub fn rename(&self) -> Option<&str> {
        match (&self.name, &self.dev) {
            (Some(n), Some(d)) if n != d => Some(n),
            _ => None,
        }
    }

    fn why_not_native(&self) -> Option<String> {
        // ip checks an address's length against the link's (an Ethernet one has 6 bytes) and
        // refuses another: the real ip says so in its own words.
        if let Some(a) = &self.address
            && a.len() != 6
        {
            return Some(format!(
                "an address of {} bytes is the real ip's to refuse",
                a.len()
            ));
        }
        self.other
            .first()
            .map(|k| format!("nslab does not set '{k}' itself"))
    }
}

/// `ip link add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAdd {
    pub attrs: LinkAttrs,
    pub kind: String,
    /// A veth's `peer ...` options; `None` lets the kernel name the peer.
    pub peer: Option<LinkAttrs>,
    /// The words after `type KIND` that belong to the kind (bridge, macvlan, vxlan options).
    pub kind_args: Vec<String>,
    /// `replace` rather than `add`.
    pub replace: bool,
}

impl LinkAdd {
    pub fn native(&self) -> Result<(), String> {
        if self.replace {
            return Err("ip link replace is done by the real ip".into());
        }
        match self.kind.as_str() {
            "veth" | "bridge" => {}
            k => {
                return Err(format!(
                    "nslab creates veth and bridge links itself; a {k} is made by the real ip"
                ));
            }
        }
        if let Some(k) = self.kind_args.first() {
            return Err(format!(
                "nslab does not set the {} option '{k}' itself",
                self.kind
            ));
        }
        if self.attrs.master.is_some() {
            return Err("nslab does not create a link with a master itself".into());
        }
        if let Some(why) = self.attrs.why_not_native() {
            return Err(why);
        }
        if let Some(p) = &self.peer {
            if p.master.is_some() || p.up.is_some() {
                return Err("nslab does not set the peer's state itself".into());
            }
            if let Some(why) = p.why_not_native() {
                return Err(why);
            }
        }
        if self.attrs.link_name().is_none() {
            return Err("a link the kernel names".into());
        }
        Ok(())
    }
}

/// `ip link set` (and `change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSet {
    pub attrs: LinkAttrs,
    /// `type bridge ...` / `type bridge_slave ...`: options of the link's kind.
    pub kind: Option<String>,
    pub kind_args: Vec<String>,
}

impl LinkSet {
    pub fn dev(&self) -> &str {
        self.attrs.dev.as_deref().unwrap_or("")
    }

    pub fn native(&self) -> Result<(), String> {
        if let Some(k) = &self.kind {
            return Err(format!("the options of a {k} are set by the real ip"));
        }
        if let Some(why) = self.attrs.why_not_native() {
            return Err(why);
        }
        Ok(())
    }
}

/// `ip link delete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDel {
    pub dev: String,
    pub kind: Option<String>,
}

/// The link commands of do_iplink.
fn link(a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![listing(a, g, Listed::Link)]);
    };
    let v = verb.text.as_str();
    let (create, replace, set, del) = (
        matches(v, "add"),
        matches(v, "replace"),
        matches(v, "set") || matches(v, "change"),
        matches(v, "delete"),
    );
    if !(create || replace || set || del) {
        if matches(v, "show") || matches(v, "lst") || matches(v, "list") {
            return Ok(vec![listing(a, g, Listed::Link)]);
        }
        if matches(v, "xstats") || matches(v, "afstats") || matches(v, "help") {
            return Ok(vec![observe(&g.ns)]);
        }
        if matches(v, "property") {
            return Ok(vec![part(&g.ns, unknown("ip link property", &[]))]);
        }
        return Err(error_at(
            verb,
            format!("Command \"{v}\" is unknown, try \"ip link help\"."),
        ));
    }
    let creating = create || replace;
    let (attrs, kind) = link_attrs(a, creating)?;
    let kind_args: Vec<String> = a.rest().iter().map(|w| w.text.clone()).collect();
    if let Some(k) = &kind
        && k.is_empty()
    {
        return Err(error_at_end(a.line, INCOMPLETE));
    }
    if creating {
        let Some(kind) = kind else {
            return Err(error_at(
                verb,
                "Not enough information: \"type\" argument is required",
            ));
        };
        // A link's own option after `type bridge` is read as a bridge option, and no version
        // of ip has one of those names: `ip link add br0 type bridge mtu 1400` fails. (The
        // bridge's options take one value each, but `fdb_flush`.)
        if kind == "bridge" {
            let rest = a.rest();
            let mut i = 0;
            while let Some(w) = rest.get(i) {
                if LINK_OWN_OPTIONS.contains(&w.text.as_str()) {
                    return Err(error_at(
                        w,
                        format!(
                            "bridge: unknown command \"{}\"? (ip reads what follows 'type bridge' as the bridge's own options: put the link's before it, ip link add NAME {} ... type bridge)",
                            w.text, w.text
                        ),
                    ));
                }
                i += if w.text == "fdb_flush" { 1 } else { 2 };
            }
        }
        let mut peer = None;
        let mut extra = kind_args.clone();
        if kind == "veth" && !a.rest().is_empty() {
            let first = &a.rest()[0];
            if first.text != "peer" {
                return Err(error_at(
                    first,
                    "Usage: ip link <options> type veth [peer <options>]",
                ));
            }
            a.next();
            let (p, ptype) = link_attrs(a, true)?;
            if let Some(t) = ptype {
                let w = a.words[a.pos.saturating_sub(1)].clone();
                return Err(error_at(
                    &w,
                    format!("Error: duplicate \"type\": \"{t}\" is the second value."),
                ));
            }
            peer = Some(p);
            extra.clear();
        }
        return Ok(vec![part(
            &g.ns,
            Op::LinkAdd(Box::new(LinkAdd {
                attrs,
                kind,
                peer,
                kind_args: extra,
                replace,
            })),
        )]);
    }
    if attrs.dev.is_none() {
        if attrs.other.iter().any(|o| o == "group") {
            return Ok(vec![part(
                &g.ns,
                unknown("a change to a group of links", &[]),
            )]);
        }
        return Err(error_at(
            verb,
            "Not enough information: \"dev\" argument is required.",
        ));
    }
    if del {
        return Ok(vec![part(
            &g.ns,
            Op::LinkDel(LinkDel {
                dev: attrs.dev.clone().unwrap_or_default(),
                kind,
            }),
        )]);
    }
    Ok(vec![part(
        &g.ns,
        Op::LinkSet(LinkSet {
            attrs,
            kind,
            kind_args,
        }),
    )])
}

/// iplink_parse: the attributes, up to `type KIND` (returned with it). `creating` is
/// NLM_F_CREATE: `add` refuses both `name` and `dev`, `set` needs a device.
fn link_attrs(
    a: &mut Args<'_>,
    creating: bool,
) -> Result<(LinkAttrs, Option<String>), CommandError> {
    let mut at = LinkAttrs::default();
    let mut kind = None;
    // `name` given before `dev`: dev follows name (iproute2 tracks them as pointers).
    let mut dev_is_name = false;
    let mut seen: Vec<&str> = Vec::new();
    let dup = |seen: &Vec<&str>, key: &'static str, w: &Word| -> Result<(), CommandError> {
        if seen.contains(&key) {
            Err(error_at(
                w,
                format!(
                    "Error: duplicate \"{key}\": \"{}\" is the second value.",
                    w.text
                ),
            ))
        } else {
            Ok(())
        }
    };
    let invarg = |w: &Word, msg: &str| {
        error_at(w, format!("Error: argument \"{}\" is wrong: {msg}", w.text))
    };
    while let Some(w) = a.next() {
        let t = w.text.as_str();
        if t == "up" {
            at.up = Some(true);
        } else if t == "down" {
            at.up = Some(false);
        } else if t == "name" {
            let v = a.need()?;
            dup(&seen, "name", v)?;
            seen.push("name");
            if !valid_ifname(&v.text) {
                return Err(invarg(v, "\"name\" not a valid ifname"));
            }
            at.name = Some(v.text.clone());
            if at.dev.is_none() {
                at.dev = Some(v.text.clone());
                dev_is_name = true;
            }
        } else if t == "index" {
            let v = a.need()?;
            // iplink_parse reads it with atoi: `5abc` is 5, `0x10` is 0.
            if ipaddr::atoi(&v.text) <= 0 {
                return Err(invarg(v, "Invalid \"index\" value"));
            }
            at.other.push("index".into());
        } else if matches(t, "link") {
            let v = a.need()?;
            at.lower = Some(v.text.clone());
            at.other.push("link".into());
        } else if matches(t, "address") {
            let v = a.need()?;
            at.address = Some(
                ipaddr::lladdr(&v.text)
                    .map_err(|e| error_at(v, read_as(e, t, "address", creating)))?,
            );
        } else if matches(t, "broadcast") || t == "brd" {
            let v = a.need()?;
            ipaddr::lladdr(&v.text)
                .map_err(|e| error_at(v, read_as(e, t, "broadcast", creating)))?;
            at.other.push("broadcast".into());
        } else if matches(t, "txqueuelen") || t == "qlen" || matches(t, "txqlen") {
            let v = a.need()?;
            dup(&seen, "txqueuelen", v)?;
            seen.push("txqueuelen");
            // ip reads a C int and sends its bits: `txqueuelen -5` is 4294967291 to the kernel.
            at.txqlen = Some(
                ipaddr::integer(&v.text)
                    .map(|q| q.cast_unsigned())
                    .ok_or_else(|| invarg(v, "Invalid \"txqueuelen\" value\n"))?,
            );
        } else if t == "mtu" {
            let v = a.need()?;
            dup(&seen, "mtu", v)?;
            seen.push("mtu");
            // A C int, whose bits ip sends: `mtu -1` is for the kernel to refuse ("mtu less
            // than device minimum", as it compares an int).
            at.mtu = Some(
                ipaddr::integer(&v.text)
                    .map(|q| q.cast_unsigned())
                    .ok_or_else(|| invarg(v, "Invalid \"mtu\" value\n"))?,
            );
        } else if ["xdpgeneric", "xdpdrv", "xdpoffload", "xdp"].contains(&t) {
            // The rest of the line belongs to the XDP program's options.
            at.other.push(t.into());
            while a.next().is_some() {}
        } else if t == "netns" {
            let v = a.need()?;
            dup(&seen, "netns", v)?;
            seen.push("netns");
            at.netns = Some(NetnsArg {
                text: v.text.clone(),
                dynamic: v.dynamic,
            });
        } else if ["multicast", "allmulticast", "promisc", "trailers", "arp"].contains(&t) {
            let v = a.need()?;
            if v.text != "on" && v.text != "off" {
                return Err(error_at(
                    v,
                    format!(
                        "Error: argument of \"{t}\" must be \"on\" or \"off\", not \"{}\"",
                        v.text
                    ),
                ));
            }
            at.other.push(t.into());
        } else if t == "carrier" || t == "protodown" {
            a.need()?;
            at.other.push(t.into());
        } else if t == "vf" {
            at.other.push(t.into());
            while a.next().is_some() {}
        } else if matches(t, "master") {
            let v = a.need()?;
            at.master = Some(Some(v.text.clone()));
        } else if t == "vrf" {
            a.need()?;
            at.other.push("vrf".into());
        } else if matches(t, "nomaster") {
            at.master = Some(None);
        } else if matches(t, "dynamic") {
            let v = a.need()?;
            if v.text != "on" && v.text != "off" {
                // A link named `d` or `dyn` is read as this keyword: ip refuses the word after
                // it.
                let refusal = format!(
                    "Error: argument of \"dynamic\" must be \"on\" or \"off\", not \"{}\"",
                    v.text
                );
                return Err(error_at(v, read_as(refusal, t, "dynamic", creating)));
            }
            at.other.push("dynamic".into());
        } else if matches(t, "type") {
            let v = a.next().map(|w| w.text.clone()).unwrap_or_default();
            kind = Some(v);
            break;
        } else if matches(t, "alias") {
            a.need()?;
            at.other.push("alias".into());
        } else if t == "group"
            || t == "mode"
            || t == "state"
            || matches(t, "numtxqueues")
            || matches(t, "numrxqueues")
            || matches(t, "addrgenmode")
            || matches(t, "link-netns")
            || matches(t, "link-netnsid")
            || t == "gso_max_size"
            || t == "gso_max_segs"
            || t == "gro_max_size"
            || t == "parentdev"
        {
            a.need()?;
            at.other.push(t.into());
        } else if t == "protodown_reason" {
            a.need()?;
            a.need()?;
            at.other.push(t.into());
        } else {
            if matches(t, "help") {
                return Ok((at, None));
            }
            let v = if t == "dev" { a.need()? } else { w };
            // `dev` may be given once, unless it came from `name`.
            if at.dev.is_some() && !dev_is_name {
                return Err(error_at(
                    v,
                    format!(
                        "Error: either \"dev\" is duplicate, or \"{}\" is a garbage.",
                        v.text
                    ),
                ));
            }
            if v.text.is_empty() || v.text.contains('/') || v.text.contains(char::is_whitespace) {
                return Err(invarg(v, "\"dev\" not a valid ifname"));
            }
            if dev_is_name && at.dev.as_deref() != Some(v.text.as_str()) && creating {
                return Err(error_at(
                    v,
                    "both \"name\" and \"dev\" cannot be used when creating devices.",
                ));
            }
            at.dev = Some(v.text.clone());
            dev_is_name = false;
        }
    }
    if creating {
        if let (Some(n), Some(d)) = (&at.name, &at.dev)
            && n != d
        {
            return Err(error_at_end(
                a.line,
                "both \"name\" and \"dev\" cannot be used when creating devices.",
            ));
        }
        if at.name.is_none() {
            at.name = at.dev.clone();
        }
    }
    Ok((at, kind))
}

/// check_ifname: what iproute2 accepts after `name`.
/// A name `ip netns` accepts as such (ipnetns.c): not empty, no slash, not `.` or `..`.
fn valid_netns_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 255 && !n.contains('/') && n != "." && n != ".."
}

// ---------------------------------------------------------------------------------------------
// ip address

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrVerb {
    Add,
    Change,
    Replace,
    Del,
}

/// `brd +`, `brd -`, `brd ADDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brd {
    Plus,
    Minus,
    Addr(IpAddr),
}

/// `ip address add|change|replace|del`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrChange {
    pub verb: AddrVerb,
    pub dev: String,
    /// The local address; `None` only for a delete by `peer` alone.
    pub local: Option<Prefix>,
    pub peer: Option<Prefix>,
    pub brd: Option<Brd>,
    pub label: Option<String>,
    pub scope: Option<u8>,
    /// Flags that took effect (`nodad`, `noprefixroute`, ...).
    pub flags: Vec<String>,
    pub metric: Option<u32>,
    /// Keywords nslab reads but does not perform itself.
    pub other: Vec<String>,
}

impl AddrChange {
    pub fn native(&self) -> Result<(), String> {
        if self.local.is_none() {
            return Err("an address given by its peer only".into());
        }
        if self.verb == AddrVerb::Del
            && self
                .local
                .is_some_and(|l| l.family == Family::V4 && !l.len_given)
        {
            return Err("a delete without a prefix length (iproute2's wildcard delete)".into());
        }
        if let Some(o) = self.other.first() {
            return Err(format!("nslab does not set '{o}' itself"));
        }
        if let Some(f) = self
            .flags
            .iter()
            .find(|f| !["nodad", "noprefixroute"].contains(&f.as_str()))
        {
            return Err(format!("nslab does not set the flag '{f}' itself"));
        }
        Ok(())
    }

    /// The address as a prefix (local, with the prefix length the kernel will store).
    pub fn cidr(&self) -> Option<crate::net::Cidr> {
        let l = self.local?;
        // A peer of length 0 leaves the local one's (ipaddr_modify: ifa_prefixlen 0 is lcl's).
        let len = self
            .peer
            .map_or(l.len, |p| if p.len == 0 { l.len } else { p.len });
        Some(crate::net::Cidr::new(l.addr?, len))
    }
}

/// The filters of `ip address flush` that nslab does not follow (which addresses they take
/// is the kernel's to say); `scope`, `master`, `type` and `vrf` take a value.
const FLUSH_FILTERS: &[&str] = &[
    "scope",
    "up",
    "permanent",
    "dynamic",
    "primary",
    "secondary",
    "temporary",
    "tentative",
    "deprecated",
    "dadfailed",
    "nodad",
    "optimistic",
    "home",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
    "master",
    "type",
    "vrf",
    "nomaster",
    "-tentative",
    "-deprecated",
    "-dadfailed",
];

/// Options of `ip link add` for the link itself (ip-link(8)), none of them a bridge option.
const LINK_OWN_OPTIONS: &[&str] = &[
    "mtu",
    "address",
    "broadcast",
    "brd",
    "txqueuelen",
    "txqlen",
    "qlen",
    "name",
    "netns",
    "alias",
    "up",
    "down",
    "master",
    "nomaster",
    "arp",
    "multicast",
    "allmulticast",
    "promisc",
    "numtxqueues",
    "numrxqueues",
    "index",
    "link",
    "group",
];

/// `ip address flush [dev X] [to PREFIX] [label PATTERN] [...]`, with `-4` or `-6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrFlush {
    pub dev: Option<String>,
    /// `-4` or `-6`: only that family's addresses go.
    pub family: Family,
    /// `to PREFIX`: only the addresses inside it.
    pub to: Option<crate::net::Cidr>,
    /// `label NAME` without a wildcard: IPv4 addresses with that label (a link's name is its
    /// addresses' label by default), and IPv6 addresses of the link of that name.
    pub label: Option<String>,
    /// A filter nslab does not follow (`scope`, `secondary`, `permanent`, a label pattern):
    /// which of the addresses go, nslab is not sure.
    pub unsure: bool,
}

fn address(a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![listing(a, g, Listed::Address)]);
    };
    let v = verb.text.as_str();
    let verb_kind = if matches(v, "add") {
        AddrVerb::Add
    } else if matches(v, "change") || v == "chg" {
        AddrVerb::Change
    } else if matches(v, "replace") {
        AddrVerb::Replace
    } else if matches(v, "delete") {
        AddrVerb::Del
    } else if matches(v, "list") || matches(v, "show") || matches(v, "lst") {
        return Ok(vec![listing(a, g, Listed::Address)]);
    } else if matches(v, "save") || matches(v, "showdump") || matches(v, "help") {
        return Ok(vec![observe(&g.ns)]);
    } else if matches(v, "flush") {
        if a.peek().is_none() {
            return Err(error_at(verb, "Flush requires arguments."));
        }
        let mut dev = None;
        let mut to = None;
        let mut label = None;
        let mut unsure = false;
        let mut rest = a.rest().iter();
        while let Some(w) = rest.next() {
            if w.text == "dev" {
                dev = rest.next().map(|d| d.text.clone());
            } else if w.text == "to" {
                let p = rest
                    .next()
                    .and_then(|p| ipaddr::prefix(&p.text, g.family).ok());
                match p.and_then(|p| Some(crate::net::Cidr::new(p.addr?, p.len))) {
                    Some(c) => to = Some(c),
                    None => unsure = true,
                }
            } else if w.text == "label" {
                match rest.next() {
                    Some(l) if !l.text.contains(['*', '?', '[']) => label = Some(l.text.clone()),
                    _ => unsure = true,
                }
            } else if FLUSH_FILTERS.contains(&w.text.as_str()) {
                unsure = true;
                if ["scope", "master", "type", "vrf"].contains(&w.text.as_str()) {
                    rest.next();
                }
            } else if dev.is_none() {
                dev = Some(w.text.clone());
            }
        }
        return Ok(vec![part(
            &g.ns,
            Op::AddrFlush(AddrFlush {
                dev,
                family: g.family,
                to,
                label,
                unsure,
            }),
        )]);
    } else if matches(v, "restore") {
        return Ok(vec![part(
            &g.ns,
            network_unknown("ip address restore reads its input"),
        )]);
    } else {
        return Err(error_at(
            verb,
            format!("Command \"{v}\" is unknown, try \"ip address help\"."),
        ));
    };
    let mut family = g.family;
    let mut valid_lft: Option<(u32, &Word)> = None;
    let mut preferred_lft: Option<(u32, &Word)> = None;
    let mut c = AddrChange {
        verb: verb_kind,
        dev: String::new(),
        local: None,
        peer: None,
        brd: None,
        label: None,
        scope: None,
        flags: vec![],
        metric: None,
        other: vec![],
    };
    let mut dev = None;
    let invarg = |w: &Word, msg: &str| {
        error_at(w, format!("Error: argument \"{}\" is wrong: {msg}", w.text))
    };
    while let Some(w) = a.next() {
        let t = w.text.as_str();
        if t == "peer" || t == "remote" {
            let v = a.need()?;
            if c.peer.is_some() {
                return Err(error_at(
                    v,
                    format!(
                        "Error: duplicate \"peer\": \"{}\" is the second value.",
                        v.text
                    ),
                ));
            }
            let p = ipaddr::prefix(&v.text, family).map_err(|e| error_at(v, e))?;
            if family == Family::Any {
                family = p.family;
            }
            c.peer = Some(p);
        } else if matches(t, "broadcast") || t == "brd" {
            let v = a.need()?;
            if c.brd.is_some() {
                return Err(error_at(
                    v,
                    format!(
                        "Error: duplicate \"broadcast\": \"{}\" is the second value.",
                        v.text
                    ),
                ));
            }
            c.brd = Some(match v.text.as_str() {
                "+" => Brd::Plus,
                "-" => Brd::Minus,
                s => {
                    let ad = ipaddr::addr(s, family).map_err(|e| error_at(v, e))?;
                    match ad {
                        Some(ip) => {
                            if family == Family::Any {
                                family = Family::of(&ip);
                            }
                            Brd::Addr(ip)
                        }
                        None => {
                            c.other.push("broadcast".into());
                            Brd::Minus
                        }
                    }
                }
            });
        } else if t == "anycast" {
            let v = a.need()?;
            ipaddr::addr(&v.text, family).map_err(|e| error_at(v, e))?;
            c.other.push("anycast".into());
        } else if t == "scope" {
            let v = a.need()?;
            c.scope = Some(scope(&v.text).ok_or_else(|| invarg(v, "invalid scope value."))?);
        } else if t == "dev" {
            dev = Some(a.need()?.text.clone());
        } else if t == "label" {
            c.label = Some(a.need()?.text.clone());
        } else if matches(t, "metric") || matches(t, "priority") || matches(t, "preference") {
            let v = a.need()?;
            c.metric = Some(
                ipaddr::unsigned(&v.text)
                    .ok_or_else(|| invarg(v, "\"metric\" value is invalid\n"))?,
            );
        } else if matches(t, "valid_lft") || matches(t, "preferred_lft") {
            let v = a.need()?;
            let which = if matches(t, "valid_lft") {
                "valid_lft"
            } else {
                "preferred_lft"
            };
            let secs = if v.text == "forever" {
                u32::MAX
            } else {
                ipaddr::unsigned(&v.text).ok_or_else(|| invarg(v, &format!("{which} value")))?
            };
            if which == "valid_lft" {
                valid_lft = Some((secs, v));
            } else {
                preferred_lft = Some((secs, v));
            }
            c.other.push(t.into());
        } else if let Some((v6only, readonly)) = addr_flag(t) {
            // A flag only takes effect when the family is known to allow it at that point.
            if !readonly && (!v6only || family == Family::V6) {
                c.flags.push(t.into());
            }
        } else {
            let v = if t == "local" { a.need()? } else { w };
            if matches(&v.text, "help") {
                return Ok(vec![observe(&g.ns)]);
            }
            if c.local.is_some() {
                return Err(error_at(
                    v,
                    format!(
                        "Error: either \"local\" is duplicate, or \"{}\" is a garbage.",
                        v.text
                    ),
                ));
            }
            let p = ipaddr::prefix(&v.text, family).map_err(|e| error_at(v, e))?;
            if family == Family::Any {
                family = p.family;
            }
            c.local = Some(p);
        }
    }
    let Some(dev) = dev else {
        return Err(error_at(
            verb,
            "Not enough information: \"dev\" argument is required.",
        ));
    };
    if let Some((0, w)) = valid_lft {
        return Err(error_at(w, "valid_lft is zero"));
    }
    // Either lifetime is forever unless given.
    let (valid, preferred) = (
        valid_lft.map_or(u32::MAX, |(s, _)| s),
        preferred_lft.map_or(u32::MAX, |(s, _)| s),
    );
    if preferred > valid {
        let at = valid_lft.or(preferred_lft).map_or(verb, |(_, w)| w);
        return Err(error_at(at, "preferred_lft is greater than valid_lft"));
    }
    if matches!(c.brd, Some(Brd::Plus | Brd::Minus))
        && verb_kind != AddrVerb::Del
        && family != Family::V4
    {
        return Err(error_at(
            verb,
            "Broadcast can be set only for IPv4 addresses",
        ));
    }
    c.dev = dev;
    Ok(vec![part(&g.ns, Op::Addr(c))])
}

/// The address flags iproute2 knows: (IPv6 only, read-only).
fn addr_flag(t: &str) -> Option<(bool, bool)> {
    Some(match t {
        "secondary" | "temporary" => (false, true),
        "nodad" | "optimistic" | "home" | "mngtmpaddr" => (true, false),
        "dadfailed" | "deprecated" | "tentative" | "permanent" | "stable-privacy" => (true, true),
        "noprefixroute" | "autojoin" => (false, false),
        _ => return None,
    })
}

/// rtnl_rtscope_a2n: a scope name or number.
pub fn scope(s: &str) -> Option<u8> {
    Some(match s {
        // (The kernel's RT_SCOPE_UNIVERSE is `global` to ip; `universe` is no name of it.)
        "global" => scope::UNIVERSE,
        "site" => scope::SITE,
        "link" => scope::LINK,
        "host" => scope::HOST,
        "nowhere" => scope::NOWHERE,
        n => match named_id("rt_scopes", n) {
            Some(id) => u8::try_from(id).ok()?,
            None => u8::try_from(ipaddr::strtoul(n)?).ok()?,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// ip route

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteVerb {
    Add,
    Change,
    Replace,
    Prepend,
    Append,
    Del,
}

pub use crate::net::rtn;
use crate::net::{scope, table};

/// `ip route add|change|replace|prepend|append|del`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChange {
    pub verb: RouteVerb,
    /// An RTN_ type; `None` when not written (unicast for add, unspecified for del).
    pub kind: Option<u8>,
    pub dest: Prefix,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub table: Option<u32>,
    pub proto: Option<u8>,
    pub scope: Option<u8>,
    pub onlink: bool,
    /// The family the words showed (`-4`/`-6`, the destination, the gateway).
    pub family: Family,
    /// Keywords nslab reads but does not perform itself.
    pub other: Vec<String>,
}

impl RouteChange {
    pub fn native(&self) -> Result<(), String> {
        if let Some(o) = self.other.first() {
            return Err(format!("nslab does not set '{o}' itself"));
        }
        if let Some(k) = self.kind
            && ![
                rtn::UNICAST,
                rtn::BLACKHOLE,
                rtn::UNREACHABLE,
                rtn::PROHIBIT,
                rtn::THROW,
            ]
            .contains(&k)
        {
            return Err(format!("{} route is made by the real ip", rtn::a(k)));
        }
        if matches!(self.verb, RouteVerb::Prepend) {
            return Err("ip route prepend is done by the real ip".into());
        }
        Ok(())
    }

    /// The family of the route: as written, else IPv4 (iproute2's default).
    pub fn is_v6(&self) -> bool {
        self.family == Family::V6
    }

    /// The type the kernel will store: unicast unless written.
    pub fn stored_kind(&self) -> u8 {
        self.kind.unwrap_or(rtn::UNICAST)
    }

    /// The table the kernel will store it in (table 0, unspec, is main to the kernel:
    /// fib_new_table, fib6_new_table).
    pub fn stored_table(&self) -> u32 {
        match self.table {
            Some(table::UNSPEC) => table::MAIN,
            Some(t) => t,
            None => match self.kind {
                Some(rtn::LOCAL | rtn::BROADCAST | rtn::NAT | rtn::ANYCAST) => table::LOCAL,
                _ => table::MAIN,
            },
        }
    }
}

/// `ip route flush [table T] [dev X] [...]`, with `-4` or `-6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFlush {
    /// `table T`; `None` for `table all`. Without it, ip flushes the main table.
    pub table: Option<u32>,
    /// `dev X`, `oif X`: routes through that link.
    pub dev: Option<String>,
    /// The family ip dumps: without `-4`/`-6`, IPv4 unless the table is `all`
    /// (iproute_list_flush_or_save).
    pub family: Family,
    /// Whether the table, the link and the family are the only filters: then every route they
    /// name goes (ip flushes in rounds until none is left). Other filters (`proto`, `scope`,
    /// a prefix, ...) leave some, which the model does not tell apart.
    pub exact: bool,
}

/// `ip neigh flush [dev X] [nud S ...]`, with `-4` or `-6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighFlush {
    pub dev: Option<String>,
    pub family: Family,
    /// The states it takes, as the kernel's NUD bits (0x100: `none`). Without `nud`, every
    /// state but `permanent` and `noarp`; `nud all` leaves `noarp` too (do_show_or_flush).
    pub states: u32,
    /// Whether the link, the family and the states are the only filters (`all`, `any` and
    /// `default` name every address): then every entry they name goes. Other filters (a
    /// prefix, `proxy`, `master`, ...) leave some, which the model does not tell apart.
    pub exact: bool,
}

impl NeighFlush {
    /// Whether it takes an entry in state `nud` (as `ip neigh add ... nud` names it);
    /// `None`: a state the model cannot say.
    pub fn takes_state(&self, nud: &str) -> Option<bool> {
        let bit = nud_bits(nud)?;
        Some(if bit == 0 {
            self.states & 0x100 != 0
        } else {
            self.states & bit != 0
        })
    }
}

/// The NUD states as nud_state_a2n (iproute2 6.1) tries them: `permanent`, `reachable` and
/// `failed` may be abbreviated, the others must be whole.
const NUD_STATES: &[(&str, u32, bool)] = &[
    ("permanent", 0x80, true),
    ("reachable", 0x02, true),
    ("noarp", 0x40, false),
    ("none", 0, false),
    ("stale", 0x04, false),
    ("incomplete", 0x01, false),
    ("delay", 0x08, false),
    ("probe", 0x10, false),
    ("failed", 0x20, true),
];

/// Whether `s` names the state `name` as nud_state_a2n reads it.
fn nud_is(s: &str, name: &str, prefix: bool) -> bool {
    if prefix { matches(s, name) } else { s == name }
}

/// nud_state_a2n: a state's NUD bit (0 for `none`), by name or number (one bit below 0x100).
fn nud_bits(s: &str) -> Option<u32> {
    match NUD_STATES.iter().find(|(name, _, p)| nud_is(s, name, *p)) {
        Some((_, bit, _)) => Some(*bit),
        None => ipaddr::unsigned(s).filter(|v| *v < 0x100 && v & v.wrapping_sub(1) == 0),
    }
}

/// A state as a check names it: `perm` is `permanent`, `0x80` too; a number that names no
/// state stays as it is.
fn nud_name(s: &str) -> String {
    let bit = nud_bits(s);
    NUD_STATES
        .iter()
        .find(|(name, b, p)| nud_is(s, name, *p) || Some(*b) == bit)
        .map_or(s, |(name, _, _)| name)
        .to_string()
}

/// `ip route flush ...`: which routes may go (the other filters, `proto`, `scope`, `to`, ...,
/// only leave some of them, which the model does not tell apart: all of those are in doubt).
/// `ip route flush cache` alone changes nothing a check sees.
fn route_flush(verb: &Word, a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    if a.peek().is_none() {
        return Err(error_at(verb, "\"ip route flush\" requires arguments."));
    }
    let words: Vec<&Word> = a.rest().iter().collect();
    if words.iter().all(|w| w.text == "cache") {
        return Ok(vec![observe(&g.ns)]);
    }
    let mut flush = RouteFlush {
        table: Some(table::MAIN),
        dev: None,
        family: g.family,
        exact: true,
    };
    let incomplete = || error_at_end(a.line, INCOMPLETE);
    let mut rest = words.into_iter();
    while let Some(w) = rest.next() {
        match w.text.as_str() {
            t if matches(t, "table") => match rest.next().map(|t| t.text.as_str()) {
                Some("all") => flush.table = None,
                Some(t) => match table(t) {
                    // filter.tb 0: every table, as `all`.
                    Some(table::UNSPEC) => flush.table = None,
                    Some(id) => flush.table = Some(id),
                    // A table by a name no database has yet: any table may be it.
                    None => {
                        flush.table = None;
                        flush.exact = false;
                    }
                },
                None => return Err(incomplete()),
            },
            "dev" | "oif" => flush.dev = Some(rest.next().ok_or_else(incomplete)?.text.clone()),
            _ => flush.exact = false,
        }
    }
    if flush.family == Family::Any && flush.table.is_some() {
        flush.family = Family::V4;
    }
    Ok(vec![part(&g.ns, Op::RouteFlush(flush))])
}

/// One of iproute2's name databases, as fread_id_name reads it: `/etc/iproute2/FILE`, then
/// every `/etc/iproute2/FILE.d/*.conf`; lines of an id (decimal, or hex with `0x`) and a name.
/// Read once: the names are the machine's, as they are for ip.
fn database(file: &str) -> Vec<(u32, String)> {
    let dir = Path::new("/etc/iproute2");
    let mut files = vec![dir.join(file)];
    if let Ok(d) = std::fs::read_dir(dir.join(format!("{file}.d"))) {
        let mut more: Vec<_> = d
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && n.len() > 5 && n.ends_with(".conf"))
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut names = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim_start_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(id), Some(name)) = (words.next(), words.next()) else {
                break;
            };
            let id = match id.strip_prefix("0x") {
                Some(h) => i64::from_str_radix(h, 16).ok(),
                None => id.parse::<i64>().ok(),
            };
            // A line that is not one ends the file for ip ("Database ... is corrupted"); a
            // negative id is passed over.
            let Some(id) = id else { break };
            if let Ok(id) = u32::try_from(id) {
                names.push((id, name.to_string()));
            }
        }
    }
    names
}

/// The id of `name` in one of iproute2's databases (`rt_tables`, `rt_protos`, `rt_scopes`),
/// each read once.
fn named_id(file: &'static str, name: &str) -> Option<u32> {
    type Databases = std::collections::HashMap<&'static str, Vec<(u32, String)>>;
    static READ: std::sync::Mutex<Option<Databases>> = std::sync::Mutex::new(None);
    let mut read = READ.lock().ok()?;
    read.get_or_insert_with(Default::default)
        .entry(file)
        .or_insert_with(|| database(file))
        .iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| *id)
}

/// rtnl_rttable_a2n: the kernel's four names, those of /etc/iproute2/rt_tables (and
/// rt_tables.d), or a number up to 2^32-1.
fn table(s: &str) -> Option<u32> {
    Some(match s {
        "main" => table::MAIN,
        "local" => table::LOCAL,
        "default" => table::DEFAULT,
        "unspec" => table::UNSPEC,
        n => match named_id("rt_tables", n) {
            Some(id) => id,
            None => ipaddr::unsigned(n)?,
        },
    })
}

/// A routing table by its name or number, as ip reads it (for checks, which name tables too).
pub fn table_id(s: &str) -> Option<u32> {
    table(s)
}

/// A word ip would look up in a name database: not a number. Unknown to nslab, it may be
/// known by the time the line runs (an earlier line may write the database).
fn is_a_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// rtnl_rtprot_a2n.
fn proto(s: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("unspec", 0),
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("gated", 8),
        ("ra", 9),
        ("mrt", 10),
        ("zebra", 11),
        ("bird", 12),
        ("dnrouted", 13),
        ("xorp", 14),
        ("ntk", 15),
        ("dhcp", 16),
        ("keepalived", 18),
        ("babel", 42),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        // /etc/iproute2/rt_protos and rt_protos.d (99 openr, ...).
        .or_else(|| u8::try_from(named_id("rt_protos", s)?).ok())
        .or_else(|| u8::try_from(ipaddr::strtoul(s)?).ok())
}

/// rtnl_rtntype_a2n.
fn route_type(s: &str) -> Option<u8> {
    Some(match s {
        "local" => rtn::LOCAL,
        "nat" => rtn::NAT,
        "brd" => rtn::BROADCAST,
        "throw" => rtn::THROW,
        _ if matches(s, "broadcast") => rtn::BROADCAST,
        _ if matches(s, "anycast") => rtn::ANYCAST,
        _ if matches(s, "multicast") => rtn::MULTICAST,
        _ if matches(s, "prohibit") => rtn::PROHIBIT,
        _ if matches(s, "unreachable") => rtn::UNREACHABLE,
        _ if matches(s, "blackhole") => rtn::BLACKHOLE,
        _ if matches(s, "xresolve") => 11,
        _ if matches(s, "unicast") => rtn::UNICAST,
        n => u8::try_from(ipaddr::strtoul(n)?).ok()?,
    })
}

fn route(a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![listing(a, g, Listed::Route)]);
    };
    let v = verb.text.as_str();
    let rverb = if matches(v, "add") {
        RouteVerb::Add
    } else if matches(v, "change") || v == "chg" {
        RouteVerb::Change
    } else if matches(v, "replace") {
        RouteVerb::Replace
    } else if matches(v, "prepend") {
        RouteVerb::Prepend
    } else if matches(v, "append") {
        RouteVerb::Append
    } else if matches(v, "test") {
        return Ok(vec![observe(&g.ns)]);
    } else if matches(v, "delete") {
        RouteVerb::Del
    } else if matches(v, "list") || matches(v, "show") || matches(v, "lst") {
        return Ok(vec![listing(a, g, Listed::Route)]);
    } else if matches(v, "get")
        || matches(v, "save")
        || matches(v, "showdump")
        || matches(v, "help")
    {
        return Ok(vec![observe(&g.ns)]);
    } else if matches(v, "flush") {
        return route_flush(verb, a, g);
    } else if matches(v, "restore") {
        return Ok(vec![part(
            &g.ns,
            network_unknown("ip route restore reads its input"),
        )]);
    } else {
        return Err(error_at(
            verb,
            format!("Command \"{v}\" is unknown, try \"ip route help\"."),
        ));
    };
    let mut family = g.family;
    let mut r = RouteChange {
        verb: rverb,
        kind: None,
        dest: Prefix {
            addr: None,
            len: 0,
            family,
            len_given: false,
        },
        via: None,
        dev: None,
        metric: None,
        src: None,
        table: None,
        proto: None,
        scope: None,
        onlink: false,
        family,
        other: vec![],
    };
    let mut dst_ok = false;
    // A table or protocol by a name no database has yet: the real ip reads it when it runs.
    let mut name_unknown = false;
    let invarg = |w: &Word, msg: &str| {
        error_at(w, format!("Error: argument \"{}\" is wrong: {msg}", w.text))
    };
    while let Some(w) = a.next() {
        let t = w.text.as_str();
        if t == "src" {
            let v = a.need()?;
            let ip = ipaddr::addr(&v.text, family).map_err(|e| error_at(v, e))?;
            if let Some(ip) = ip
                && family == Family::Any
            {
                family = Family::of(&ip);
            }
            r.src = ip;
        } else if t == "as" {
            let mut v = a.need()?;
            if v.text == "to" {
                v = a.need()?;
            }
            ipaddr::addr(&v.text, family).map_err(|e| error_at(v, e))?;
            r.other.push("as".into());
        } else if t == "via" {
            if r.via.is_some() {
                return Err(invarg(w, "use nexthop syntax to specify multiple via\n"));
            }
            let mut v = a.need()?;
            let mut fam = family;
            match v.text.as_str() {
                "inet" => {
                    fam = Family::V4;
                    v = a.need()?;
                }
                "inet6" => {
                    fam = Family::V6;
                    v = a.need()?;
                }
                _ => {}
            }
            let ip = ipaddr::addr(&v.text, fam).map_err(|e| error_at(v, e))?;
            match ip {
                Some(ip) => {
                    if family == Family::Any {
                        family = Family::of(&ip);
                    } else if Family::of(&ip) != family {
                        r.other.push("via (another family)".into());
                    }
                    r.via = Some(ip);
                }
                None => r.other.push("via default".into()),
            }
        } else if t == "from" {
            let v = a.need()?;
            ipaddr::prefix(&v.text, family).map_err(|e| error_at(v, e))?;
            r.other.push("from".into());
        } else if t == "tos" || matches(t, "dsfield") {
            a.need()?;
            r.other.push("tos".into());
        } else if t == "expires" {
            let v = a.need()?;
            ipaddr::unsigned(&v.text).ok_or_else(|| invarg(v, "\"expires\" value is invalid\n"))?;
            r.other.push("expires".into());
        } else if matches(t, "metric") || matches(t, "priority") || t == "preference" {
            let v = a.need()?;
            r.metric = Some(
                ipaddr::unsigned(&v.text)
                    .ok_or_else(|| invarg(v, "\"metric\" value is invalid\n"))?,
            );
        } else if t == "scope" {
            let v = a.need()?;
            r.scope = Some(scope(&v.text).ok_or_else(|| invarg(v, "invalid \"scope\" value\n"))?);
        } else if ["mtu", "hoplimit", "advmss", "rtt", "rto_min"].contains(&t)
            || matches(t, "reordering")
            || matches(t, "window")
            || matches(t, "cwnd")
            || matches(t, "initcwnd")
            || matches(t, "initrwnd")
            || matches(t, "congctl")
            || matches(t, "rttvar")
            || matches(t, "ssthresh")
        {
            let mut v = a.need()?;
            if v.text == "lock" && t != "rto_min" {
                v = a.need()?;
            }
            let _ = v;
            r.other.push(t.into());
        } else if matches(t, "features") || matches(t, "quickack") || matches(t, "realms") {
            a.need()?;
            r.other.push(t.into());
        } else if t == "onlink" {
            r.onlink = true;
        } else if t == "nexthop" {
            r.other.push("nexthop".into());
            // The next hops are the real ip's; it refuses a weight outside 1..=256 whatever the
            // state.
            while let Some(w) = a.next() {
                if w.text == "weight" {
                    let v = a.need()?;
                    if !ipaddr::unsigned(&v.text).is_some_and(|n| (1..=256).contains(&n)) {
                        return Err(invarg(v, "\"weight\" is invalid\n"));
                    }
                }
            }
        } else if t == "nhid" {
            a.need()?;
            r.other.push("nhid".into());
        } else if matches(t, "protocol") {
            let v = a.need()?;
            match proto(&v.text) {
                Some(p) => r.proto = Some(p),
                None if is_a_name(&v.text) => name_unknown = true,
                None => return Err(invarg(v, "\"protocol\" value is invalid\n")),
            }
        } else if matches(t, "table") {
            let v = a.need()?;
            match table(&v.text) {
                Some(id) => r.table = Some(id),
                None if is_a_name(&v.text) => name_unknown = true,
                None => return Err(invarg(v, "\"table\" value is invalid\n")),
            }
        } else if matches(t, "vrf") {
            a.need()?;
            r.other.push("vrf".into());
        } else if t == "dev" || t == "oif" {
            r.dev = Some(a.need()?.text.clone());
        } else if matches(t, "pref") {
            a.need()?;
            r.other.push("pref".into());
        } else if t == "encap" {
            r.other.push("encap".into());
            while a.next().is_some() {}
        } else if t == "ttl-propagate" || matches(t, "fastopen_no_cookie") {
            a.need()?;
            r.other.push(t.into());
        } else {
            let mut v = w;
            if v.text == "to" {
                v = a.need()?;
            }
            if !v.text.starts_with(|c: char| c.is_ascii_digit())
                && let Some(k) = route_type(&v.text)
            {
                r.kind = Some(k);
                v = a.need()?;
            }
            if matches(&v.text, "help") {
                return Ok(vec![observe(&g.ns)]);
            }
            if dst_ok {
                return Err(error_at(
                    v,
                    format!(
                        "Error: either \"to\" is duplicate, or \"{}\" is a garbage.",
                        v.text
                    ),
                ));
            }
            let mut p = ipaddr::prefix(&v.text, family).map_err(|e| error_at(v, e))?;
            if family == Family::Any && p.addr.is_some() {
                family = p.family;
            }
            // `0/0`, `0.0.0.0/0` and `::/0` are `default`, to ip and the kernel alike.
            if p.len == 0 && p.addr.is_some_and(|a| a.is_unspecified()) {
                p.addr = None;
            }
            r.dest = p;
            dst_ok = true;
        }
    }
    if !dst_ok {
        return Err(error_at(
            verb,
            "Usage: ip route { list | flush } SELECTOR (the destination is missing)",
        ));
    }
    r.family = family;
    if name_unknown {
        return Ok(vec![part(
            &g.ns,
            network_unknown("a table or protocol by a name nslab does not know"),
        )]);
    }
    Ok(vec![part(&g.ns, Op::Route(r))])
}

// ---------------------------------------------------------------------------------------------
// ip neighbour

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighChange {
    /// `add`, `change`, `replace` (true) or `delete` (false).
    pub set: bool,
    pub addr: IpAddr,
    pub dev: String,
    pub lladdr: Option<String>,
    /// The state, by iproute2's name (`permanent` when not written).
    pub nud: String,
}

fn neigh(a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![listing(a, g, Listed::Neighbour)]);
    };
    let v = verb.text.as_str();
    let set = if matches(v, "add") || matches(v, "change") || v == "chg" || matches(v, "replace") {
        true
    } else if matches(v, "delete") {
        false
    } else if matches(v, "show") || matches(v, "lst") || matches(v, "list") {
        return Ok(vec![listing(a, g, Listed::Neighbour)]);
    } else if matches(v, "get") || matches(v, "help") {
        return Ok(vec![observe(&g.ns)]);
    } else if matches(v, "flush") {
        if a.peek().is_none() {
            return Err(error_at(verb, "Flush requires arguments."));
        }
        // (A word alone is a prefix to ip here, not a link: the link is named by `dev`.)
        let mut flush = NeighFlush {
            dev: None,
            family: g.family,
            states: !(0x80 | 0x40),
            exact: true,
        };
        let mut given = false;
        let incomplete = || error_at_end(a.line, INCOMPLETE);
        let mut rest = a.rest().iter();
        while let Some(w) = rest.next() {
            match w.text.as_str() {
                "dev" => flush.dev = Some(rest.next().ok_or_else(incomplete)?.text.clone()),
                "nud" => {
                    if !given {
                        given = true;
                        flush.states = 0;
                    }
                    let v = rest.next().ok_or_else(incomplete)?;
                    match v.text.as_str() {
                        "all" => flush.states |= !0x40,
                        t => match nud_bits(t) {
                            Some(0) => flush.states |= 0x100,
                            Some(bit) => flush.states |= bit,
                            None => {
                                return Err(error_at(
                                    v,
                                    format!("Error: argument \"{t}\" is wrong: nud state is bad"),
                                ));
                            }
                        },
                    }
                }
                "all" | "any" | "default" => {}
                _ => flush.exact = false,
            }
        }
        return Ok(vec![part(&g.ns, Op::NeighFlush(flush))]);
    } else {
        return Err(error_at(
            verb,
            format!("Command \"{v}\" is unknown, try \"ip neigh help\"."),
        ));
    };
    let mut dst = None;
    let mut dev = None;
    let mut lladdr = None;
    let mut lladdr_given = false;
    let mut nud = "permanent".to_string();
    while let Some(w) = a.next() {
        let t = w.text.as_str();
        if matches(t, "lladdr") {
            let v = a.need()?;
            if lladdr_given {
                return Err(error_at(
                    v,
                    format!(
                        "Error: duplicate \"lladdr\": \"{}\" is the second value.",
                        v.text
                    ),
                ));
            }
            lladdr_given = true;
            // ipneigh_modify sends no address for `lladdr null` (and reads no other word so).
            if v.text != "null" {
                ipaddr::lladdr(&v.text).map_err(|e| error_at(v, e))?;
                lladdr = Some(v.text.clone());
            }
        } else if t == "nud" {
            let v = a.need()?;
            // nud_state_a2n: a name's prefix (the first in its order), or one NUD bit.
            if nud_bits(&v.text).is_none() {
                return Err(error_at(
                    v,
                    format!("Error: argument \"{}\" is wrong: nud state is bad", v.text),
                ));
            }
            nud = nud_name(&v.text);
        } else if matches(t, "proxy") {
            let v = a.need()?;
            dst = ipaddr::addr(&v.text, g.family).map_err(|e| error_at(v, e))?;
            dev = Some(String::new());
        } else if ["router", "use", "managed"].contains(&t) || matches(t, "extern_learn") {
        } else if t == "dev" {
            dev = Some(a.need()?.text.clone());
        } else if matches(t, "protocol") {
            a.need()?;
        } else {
            let mut v = w;
            if v.text == "to" {
                v = a.need()?;
            }
            if dst.is_some() {
                return Err(error_at(
                    v,
                    format!(
                        "Error: either \"to\" is duplicate, or \"{}\" is a garbage.",
                        v.text
                    ),
                ));
            }
            dst = ipaddr::addr(&v.text, g.family).map_err(|e| error_at(v, e))?;
        }
    }
    let (Some(addr), Some(dev)) = (dst, dev) else {
        return Err(error_at(
            verb,
            "Device and destination are required arguments.",
        ));
    };
    Ok(vec![part(
        &g.ns,
        Op::Neigh(NeighChange {
            set,
            addr,
            dev,
            lladdr,
            nud,
        }),
    )])
}

// ---------------------------------------------------------------------------------------------
// ip rule (iprule.c: iprule_modify)

/// `ip rule add|del` of the common forms: the selectors `from`, `to`, `iif`/`dev`, `oif`,
/// `fwmark`, `not`; `lookup`/`table`, `pref`/`priority`/`order`; the actions `blackhole`,
/// `unreachable`, `prohibit`, `goto`, `nop`. Both families (`ip -6 rule`). A line with any
/// other selector is read as one nslab does not model, and goes to the real ip.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleChange {
    /// `add` (true) or `delete` (false).
    pub add: bool,
    /// `ip -6 rule`: ip rule takes its family from `-6`, never from the addresses.
    pub v6: bool,
    pub not: bool,
    /// `None`: from all (for a delete: any source).
    pub from: Option<crate::net::Cidr>,
    pub to: Option<crate::net::Cidr>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub table: Option<u32>,
    pub pref: Option<u32>,
    /// An FR_ACT_ type written (`blackhole`, `goto`...); `None`: look up a table.
    pub action: Option<u8>,
    pub goto: Option<u32>,
}

/// FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP (linux/fib_rules.h); the reject actions share the
/// RTN_ numbers, which is how iprule.c reads them.
pub mod rule_action {
    pub const TO_TABLE: u8 = 1;
    pub const GOTO: u8 = 2;
    pub const NOP: u8 = 3;
}

impl RuleChange {
    /// The action the kernel stores: a table lookup unless another was written.
    pub fn stored_action(&self) -> u8 {
        self.action.unwrap_or(rule_action::TO_TABLE)
    }

    /// The table the kernel stores: main for a lookup with none written, else none.
    pub fn stored_table(&self) -> u32 {
        self.table.unwrap_or(if self.action.is_none() {
            table::MAIN
        } else {
            table::UNSPEC
        })
    }

    /// The mark mask the kernel keeps: the one written, else all ones for a mark other than 0
    /// (fib_nl2rule), else none (0).
    pub fn stored_fwmask(&self) -> u32 {
        self.fwmask
            .or(self.fwmark.filter(|&m| m != 0).map(|_| u32::MAX))
            .unwrap_or(0)
    }

    /// Whether `ip rule del` of `self` removes the rule `added` (the kernel matches on the
    /// fields the delete names, rule_find: a mark of 0 names none; a mark without a mask
    /// names the mask all ones, so `del fwmark 0x10` leaves `fwmark 0x10/0xff`).
    pub fn deletes(&self, added: &RuleChange) -> bool {
        let mask = self.stored_fwmask();
        self.v6 == added.v6
            && self.from.is_none_or(|f| added.from == Some(f))
            && self.to.is_none_or(|t| added.to == Some(t))
            && self
                .fwmark
                .filter(|&m| m != 0)
                .is_none_or(|m| added.fwmark == Some(m))
            && (mask == 0 || added.stored_fwmask() == mask)
            && self
                .iif
                .as_ref()
                .is_none_or(|i| added.iif.as_ref() == Some(i))
            && self
                .oif
                .as_ref()
                .is_none_or(|o| added.oif.as_ref() == Some(o))
            && self.table.is_none_or(|t| added.stored_table() == t)
            && self.pref.is_none_or(|p| added.pref == Some(p))
            && self.action.is_none_or(|a| added.stored_action() == a)
    }
}

fn rule(a: &mut Args<'_>, g: &Globals, words: &[Word]) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![observe(&g.ns)]);
    };
    let v = verb.text.as_str();
    let add = if matches(v, "list") || matches(v, "lst") || matches(v, "show") || matches(v, "save")
    {
        return Ok(vec![observe(&g.ns)]);
    } else if matches(v, "restore") || matches(v, "flush") {
        return Ok(vec![part(
            &g.ns,
            unknown(
                &format!("ip rule {v} changes rules nslab cannot list in advance"),
                &[],
            ),
        )]);
    } else if matches(v, "add") {
        true
    } else if matches(v, "delete") {
        false
    } else if matches(v, "help") {
        return Ok(vec![observe(&g.ns)]);
    } else {
        return Err(error_at(
            verb,
            format!("Command \"{v}\" is unknown, try \"ip rule help\"."),
        ));
    };
    if a.peek().is_none() {
        let name = if add { "add" } else { "del" };
        return Err(error_at(
            verb,
            format!("\"ip rule {name}\" requires arguments."),
        ));
    }
    let invarg = |w: &Word, msg: &str| {
        error_at(w, format!("Error: argument \"{}\" is wrong: {msg}", w.text))
    };
    // The kernel keeps a rule's prefix as written, host bits and all.
    let prefix = |w: &Word| -> Result<Option<crate::net::Cidr>, CommandError> {
        let p = ipaddr::prefix(&w.text, g.family).map_err(|e| error_at(w, e))?;
        Ok(p.addr
            .filter(|_| p.len > 0)
            .map(|ip| crate::net::Cidr::new(ip, p.len)))
    };
    let mut r = RuleChange {
        add,
        v6: g.family == Family::V6,
        not: false,
        from: None,
        to: None,
        fwmark: None,
        fwmask: None,
        iif: None,
        oif: None,
        table: None,
        pref: None,
        action: None,
        goto: None,
    };
    // A keyword nslab does not model: the real ip reads it.
    let mut other: Option<String> = None;
    let mut table_name_unknown = false;
    while let Some(w) = a.next() {
        let t = w.text.as_str();
        if t == "not" {
            r.not = true;
        } else if t == "from" {
            r.from = prefix(a.need()?)?;
        } else if t == "to" {
            r.to = prefix(a.need()?)?;
        } else if matches(t, "preference") || matches(t, "order") || matches(t, "priority") {
            let v = a.need()?;
            r.pref = Some(
                ipaddr::unsigned(&v.text)
                    .ok_or_else(|| invarg(v, "preference value is invalid\n"))?,
            );
        } else if t == "fwmark" {
            let v = a.need()?;
            let (mark, mask) = match v.text.split_once('/') {
                Some((m, k)) => (m, Some(k)),
                None => (v.text.as_str(), None),
            };
            let bad = |what: &str, text: &str| {
                error_at(
                    v,
                    format!("Error: argument \"{text}\" is wrong: {what} value is invalid\n"),
                )
            };
            r.fwmark = Some(ipaddr::unsigned(mark).ok_or_else(|| bad("fwmark", mark))?);
            if let Some(k) = mask {
                r.fwmask = Some(ipaddr::unsigned(k).ok_or_else(|| bad("fwmask", k))?);
            }
        } else if t == "tos"
            || matches(t, "dsfield")
            || matches(t, "realms")
            || matches(t, "protocol")
            || matches(t, "tun_id")
        {
            a.need()?;
            other.get_or_insert_with(|| t.to_string());
        } else if matches(t, "table") || t == "lookup" {
            let v = a.need()?;
            match table(&v.text) {
                Some(id) => r.table = Some(id),
                // A name from /etc/iproute2/rt_tables, or none: the real ip knows.
                None => table_name_unknown = true,
            }
        } else if matches(t, "suppress_prefixlength")
            || t == "sup_pl"
            || matches(t, "suppress_ifgroup")
            || t == "sup_group"
            || t == "uidrange"
            || t == "nat"
            || matches(t, "map-to")
            || t == "ipproto"
            || t == "sport"
            || t == "dport"
        {
            a.need()?;
            other.get_or_insert_with(|| t.to_string());
        } else if t == "dev" || t == "iif" {
            let v = a.need()?;
            if !valid_ifname(&v.text) {
                return Err(invarg(v, "\"iif\"/\"dev\" not a valid ifname"));
            }
            r.iif = Some(v.text.clone());
        } else if t == "oif" {
            let v = a.need()?;
            if !valid_ifname(&v.text) {
                return Err(invarg(v, "\"oif\" not a valid ifname"));
            }
            r.oif = Some(v.text.clone());
        } else if t == "l3mdev" {
            other.get_or_insert_with(|| t.to_string());
        } else {
            let mut v = w;
            if v.text == "type" {
                v = a.need()?;
            }
            let tv = v.text.as_str();
            if matches(tv, "help") {
                return Ok(vec![observe(&g.ns)]);
            } else if matches(tv, "goto") {
                let target = a.need()?;
                r.goto = Some(
                    ipaddr::unsigned(&target.text)
                        .ok_or_else(|| invarg(target, "invalid target\n"))?,
                );
                r.action = Some(rule_action::GOTO);
            } else if matches(tv, "nop") {
                r.action = Some(rule_action::NOP);
            } else {
                match route_type(tv) {
                    Some(k @ (rtn::BLACKHOLE | rtn::UNREACHABLE | rtn::PROHIBIT)) => {
                        r.action = Some(k)
                    }
                    Some(rtn::UNICAST) => r.action = Some(rule_action::TO_TABLE),
                    Some(_) => {
                        other.get_or_insert_with(|| format!("type {tv}"));
                    }
                    None => return Err(invarg(v, "Failed to parse rule type")),
                }
            }
        }
    }
    if let Some(o) = other {
        return Ok(vec![part(
            &g.ns,
            unknown(
                &format!("nslab does not model `ip rule` with {o}"),
                &texts(words),
            ),
        )]);
    }
    if table_name_unknown {
        return Ok(vec![part(
            &g.ns,
            unknown("a table by a name nslab does not know", &texts(words)),
        )]);
    }
    // A lookup in table 0: a type word written with no table after it (iprule.c leaves the
    // table unset then), or `table 0`/`unspec`. The kernel gives such a rule the first empty
    // table it finds (fib4_rule_configure, fib_empty_table: `lookup 1`, then 2...), which
    // nslab cannot know before the line runs.
    let lookup = r.action.is_none_or(|k| k == rule_action::TO_TABLE);
    let table0 = r.table.unwrap_or(if r.action.is_some() {
        table::UNSPEC
    } else {
        table::MAIN
    }) == table::UNSPEC;
    if add && lookup && table0 {
        return Ok(vec![part(
            &g.ns,
            unknown(
                "a rule that looks up table 0, which the kernel replaces with an empty table of its choice",
                &texts(words),
            ),
        )]);
    }
    // A lookup (the default action) with its table written keeps the default.
    if r.action == Some(rule_action::TO_TABLE) {
        r.action = None;
    }
    Ok(vec![part(&g.ns, Op::Rule(r))])
}

// ---------------------------------------------------------------------------------------------
// ip netns

fn netns(a: &mut Args<'_>, g: &Globals) -> Result<Vec<Part>, CommandError> {
    let Some(verb) = a.next() else {
        return Ok(vec![listing(a, g, Listed::Netns)]);
    };
    let v = verb.text.as_str();
    // do_netns checks the name of every sub-command that has one.
    if !g.all
        && let Some(name) = a.peek()
        && !name.dynamic
        && (name.text.is_empty()
            || name.text.len() > 255
            || name.text.contains('/')
            || name.text == "."
            || name.text == "..")
    {
        return Err(error_at(
            name,
            format!("Invalid netns name \"{}\"", name.text),
        ));
    }
    let name = |a: &mut Args<'_>, what: &str| -> Result<Option<String>, CommandError> {
        match a.next() {
            Some(w) if w.dynamic => Ok(None),
            Some(w) => Ok(Some(w.text.clone())),
            None => Err(error_at(verb, what.to_string())),
        }
    };
    if (matches(v, "list") || matches(v, "show") || matches(v, "lst")) && a.peek().is_none() {
        return Ok(vec![listing(a, g, Listed::Netns)]);
    }
    if matches(v, "list")
        || matches(v, "show")
        || matches(v, "lst")
        || matches(v, "list-id")
        || matches(v, "help")
        || matches(v, "identify")
        || matches(v, "pids")
        || matches(v, "monitor")
    {
        return Ok(vec![observe(&g.ns)]);
    }
    if matches(v, "add") {
        return Ok(vec![part(
            &g.ns,
            match name(a, "No netns name specified")? {
                Some(n) if g.ns.is_root() => Op::NetnsAdd(n),
                _ => unknown("a namespace nslab cannot name in advance", &[]),
            },
        )]);
    }
    if matches(v, "set") {
        // netns_set: a name, then `auto` or an int of C's notations, not negative.
        let invarg = |w: &Word, msg: &str| {
            error_at(w, format!("Error: argument \"{}\" is wrong: {msg}", w.text))
        };
        a.next()
            .ok_or_else(|| error_at_end(a.line, "No netns name specified"))?;
        let id = a
            .next()
            .ok_or_else(|| error_at_end(a.line, "No nsid specified"))?;
        if !id.dynamic && id.text != "auto" {
            match ipaddr::integer(&id.text) {
                None => return Err(invarg(id, "Invalid \"netnsid\" value")),
                Some(n) if n < 0 => {
                    return Err(invarg(id, "\"netnsid\" value should be >= 0"));
                }
                Some(_) => {}
            }
        }
        // It gives the namespace an id (the kernel's nsid): a change, if none a check reads.
        return Ok(vec![part(
            &g.ns,
            unknown("ip netns set gives a namespace an id", &[]),
        )]);
    }
    if matches(v, "delete") {
        if g.all {
            return Ok(vec![part(&g.ns, Op::NetnsDelAll)]);
        }
        return Ok(vec![part(
            &g.ns,
            match name(a, "No netns name specified")? {
                Some(n) => Op::NetnsDel(n),
                None => unknown("a namespace nslab cannot name in advance", &[]),
            },
        )]);
    }
    if matches(v, "attach") {
        let n = name(a, "No netns name and PID specified")?;
        let pid = a
            .next()
            .ok_or_else(|| error_at(verb, "No netns name and PID specified"))?;
        if !pid.dynamic && ipaddr::integer(&pid.text).is_none_or(|p| p == 0) {
            return Err(error_at(pid, format!("Invalid PID: {}", pid.text)));
        }
        return Ok(vec![part(
            &g.ns,
            match n {
                Some(n) => Op::NetnsAttach(n),
                None => unknown("a namespace nslab cannot name in advance", &[]),
            },
        )]);
    }
    if matches(v, "exec") {
        if g.all {
            if a.peek().is_none() {
                return Err(error_at(verb, "No command specified"));
            }
            return Ok(vec![part(
                &g.ns,
                unknown(
                    "ip -all netns exec runs in every namespace",
                    &texts(a.rest()),
                ),
            )]);
        }
        let n = a
            .next()
            .ok_or_else(|| error_at(verb, "No netns name specified"))?;
        if a.peek().is_none() {
            return Err(error_at_end(a.line, "No command specified"));
        }
        if n.dynamic {
            return Ok(vec![part(
                &g.ns,
                unknown(
                    "the namespace is not known before the line runs",
                    &texts(a.rest()),
                ),
            )]);
        }
        let inner = super::Simple {
            assigns: vec![],
            words: a.rest().to_vec(),
            redirects: vec![],
        };
        return super::parse_simple(a.line, &inner, Ns::Named(n.text.clone()));
    }
    Err(error_at(
        verb,
        format!("Command \"{v}\" is unknown, try \"ip netns help\"."),
    ))
}

/// ip's refusal of a word after a keyword abbreviated (`ip link add br type bridge`: "br" is
/// `broadcast` to ip, and "type" no link-layer address), with what the author meant to say:
/// a link of that name is made with `name` (`add`), and named with `dev` (`set`, where `name`
/// would read as a rename).
fn read_as(refusal: String, word: &str, keyword: &str, creating: bool) -> String {
    // The keyword itself, its usual short form, or an abbreviation too long to be a link's
    // name by chance (`addr zz`: the author meant the address, and got it wrong).
    if word == keyword || (keyword == "broadcast" && word == "brd") || word.len() >= 4 {
        return refusal;
    }
    let how = if creating { "name" } else { "dev" };
    format!(
        "{refusal} (ip reads \"{word}\" as \"{keyword}\": to name the link \"{word}\", write \"{how} {word}\")"
    )
}
