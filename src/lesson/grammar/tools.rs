//! The other programs lessons run, read as they read their own arguments: `ping` (iputils),
//! `sysctl` (procps), `bridge` (iproute2), `iptables`, `mount`, `pkill`.

use std::net::IpAddr;

use super::ip::matches;
use super::lex::Word;
use super::{CommandError, Op, Ping, error_at, error_at_end, texts, unknown};
use crate::net::Ns;

/// iputils' ping: `ping [-c N] [-W S] [-i S] [-w S] [-q] [-n] [-4|-6] HOST`. Options nslab does
/// not perform (-s, -I, -f, ...) are kept for the real ping.
pub fn ping(line: &str, words: &[Word], six: bool) -> Result<Op, CommandError> {
    let mut p = Ping {
        addr: IpAddr::from([0, 0, 0, 0]),
        zone: None,
        count: None,
        timeout_ms: None,
        interval_ms: None,
        deadline_ms: None,
        native: true,
    };
    let mut dest: Option<&Word> = None;
    let mut other = false;
    let mut i = 1;
    while let Some(w) = words.get(i) {
        i += 1;
        let t = w.text.as_str();
        if t == "--" {
            dest = words.get(i);
            break;
        }
        if !t.starts_with('-') || t == "-" {
            if dest.is_none() {
                dest = Some(w);
            } else {
                // iputils takes the last word as the destination (older forms allowed hops).
                other = true;
                dest = Some(w);
            }
            continue;
        }
        // Clustered flags (`-qc 3`, `-c3`): getopt semantics.
        for (ci, c) in t[1..].char_indices() {
            let takes = "cWiwsItlpQmMSTFe".contains(c);
            if !takes {
                if !"46aAbBDdfhLnOqRrUvV".contains(c) {
                    // An option iputils does not know: it prints its usage and exits 2.
                    return Err(error_at(w, format!("ping: invalid option -- '{c}'")));
                }
                if !"qn46".contains(c) {
                    other = true;
                }
                if c == '6' {
                    other = true;
                }
                continue;
            }
            let attached = &t[1 + ci + c.len_utf8()..];
            let value = if attached.is_empty() {
                let v = words.get(i).ok_or_else(|| {
                    error_at(w, format!("ping: option requires an argument -- '{c}'"))
                })?;
                i += 1;
                v.text.clone()
            } else {
                attached.to_string()
            };
            match c {
                'c' => {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| error_at(w, format!("ping: invalid argument: '{value}'")))?;
                    if n == 0 {
                        return Err(error_at(
                            w,
                            format!(
                                "ping: invalid argument: '{value}': out of range: 1 <= value <= 9223372036854775807"
                            ),
                        ));
                    }
                    p.count = Some(n);
                }
                // iputils warns about garbage in -W and goes on: so must nslab (the real one).
                'W' => match secs_to_ms(&value) {
                    Some(ms) => p.timeout_ms = Some(ms),
                    None => other = true,
                },
                'i' => match secs_to_ms(&value) {
                    Some(ms) => p.interval_ms = Some(ms),
                    None => {
                        return Err(error_at(
                            w,
                            format!("ping: option argument contains garbage: {value}"),
                        ));
                    }
                },
                'w' => match secs_to_ms(&value) {
                    Some(ms) => p.deadline_ms = Some(ms),
                    None => {
                        return Err(error_at(w, format!("ping: invalid argument: '{value}'")));
                    }
                },
                _ => other = true,
            }
            break;
        }
    }
    let Some(dest) = dest else {
        return Err(error_at_end(
            line,
            "ping: usage error: Destination address required",
        ));
    };
    if dest.dynamic {
        return Ok(unknown(
            "ping to an address not known before the line runs",
            &[],
        ));
    }
    // A host name needs a resolver: that is the real ping's job, and nslab reads it as a ping
    // to a name it cannot check.
    // An IPv6 address with its zone (`fe80::1%veth0`), as getaddrinfo reads it for iputils:
    // the address, reached through that interface. An IPv4 address takes no zone.
    let (text, zone) = match dest.text.split_once('%') {
        Some((a, z)) if !z.is_empty() && a.parse::<std::net::Ipv6Addr>().is_ok() => {
            (a, Some(z.to_string()))
        }
        _ => (dest.text.as_str(), None),
    };
    let Ok(addr) = text.parse::<IpAddr>() else {
        return Ok(Op::Unknown {
            why: format!(
                "ping {}: a host name is resolved by the real ping",
                dest.text
            ),
            names: vec![],
            network: false,
        });
    };
    p.addr = addr;
    p.zone = zone;
    // Options nslab does not copy: still a ping for checks, carried out by the real ping.
    p.native = !other && !six && addr.is_ipv4();
    Ok(Op::Ping(p))
}

fn secs_to_ms(v: &str) -> Option<u64> {
    let s: f64 = v.parse().ok()?;
    (0.0..1e9).contains(&s).then(|| (s * 1000.0).round() as u64)
}

/// `sysctl -w KEY=VALUE ...` (or `echo VALUE > /proc/sys/...`): keys written, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// The keys, in procps' dotted spelling ([`crate::net::sysctl_key`]), with their values.
    pub writes: Vec<(String, String)>,
    /// Who writes them, and so what counts as failing.
    pub by: SysctlBy,
    /// Why the real program runs the line though nslab knows what it writes (it also reads a
    /// key: its output and exit status are the real sysctl's).
    pub real: Option<String>,
}

/// Who writes a sysctl's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlBy {
    /// procps' sysctl (WriteSetting in sysctl.c): a key that does not exist fails unless
    /// `ignore_unknown` (-e); a key whose mode lets nobody write it, or a directory, is passed
    /// over with a warning, and that is no failure. Each key written prints `print`.
    Procps {
        ignore_unknown: bool,
        print: SysctlPrint,
    },
    /// The shell (`echo VALUE > FILE`): any failure to open or write fails.
    Shell,
}

/// What procps' sysctl prints for a key it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlPrint {
    /// `KEY = VALUE` (the default).
    KeyValue,
    /// `VALUE` (-n, -N).
    Value,
    /// `VALUE` with no newline (-b).
    Raw,
    /// Nothing (-q).
    Nothing,
}

impl Sysctl {
    /// A key written through the file system, by the shell.
    pub fn by_shell(key: &str, value: String) -> Sysctl {
        Sysctl {
            writes: vec![(crate::net::sysctl_key(key), value)],
            by: SysctlBy::Shell,
            real: None,
        }
    }

    /// What the program prints once it wrote `key`.
    pub fn printed(&self, key: &str, value: &str) -> String {
        match self.by {
            SysctlBy::Shell => String::new(),
            SysctlBy::Procps { print, .. } => match print {
                SysctlPrint::KeyValue => format!("{} = {value}\n", crate::net::sysctl_key(key)),
                SysctlPrint::Value => format!("{value}\n"),
                SysctlPrint::Raw => value.to_string(),
                SysctlPrint::Nothing => String::new(),
            },
        }
    }
}

/// sysctl.c's options (procps 4.0.2): getopt_long's "bneNwfp::qoxaAXr:Vdh" and its long
/// names. A long option may be shortened to any prefix no other one shares.
const SYSCTL_LONG: &[(&str, char)] = &[
    ("all", 'a'),
    ("deprecated", 'D'),
    ("dry-run", 'R'),
    ("binary", 'b'),
    ("ignore", 'e'),
    ("names", 'N'),
    ("values", 'n'),
    ("load", 'p'),
    ("quiet", 'q'),
    ("write", 'w'),
    ("system", 'S'),
    ("pattern", 'r'),
    ("help", 'h'),
    ("version", 'V'),
];

/// The C isspace of the "C" locale, which sysctl strips around keys and values.
fn c_space(c: char) -> bool {
    " \t\n\x0b\x0c\r".contains(c)
}

/// procps' sysctl (4.0.2), read as its main() and parse_setting_line() read the command line:
/// getopt_long takes the options wherever they stand (up to `--`); then each argument with a
/// `=`, or every argument under -w, is `KEY=VALUE` written, and any other reads KEY. Keys take
/// either spelling (`net.ipv4.conf.veth0/5.forwarding`, `net/ipv4/conf/veth0.5/forwarding`).
/// Whatever nslab does not copy exactly (-p, --system, -r, --dry-run, an odd key) goes to the
/// real sysctl.
pub fn sysctl(words: &[Word]) -> Result<Op, CommandError> {
    let mut flags = String::new();
    let mut operands = Vec::new();
    let mut options_end = false;
    for w in &words[1..] {
        let t = w.text.as_str();
        if w.dynamic {
            return Ok(unknown("a sysctl not known before the line runs", &[]));
        }
        if options_end || t == "-" || !t.starts_with('-') {
            operands.push(w);
        } else if t == "--" {
            options_end = true;
        } else if let Some(long) = t.strip_prefix("--") {
            let (name, arg) = match long.split_once('=') {
                Some((n, a)) => (n, Some(a)),
                None => (long, None),
            };
            let hits: Vec<char> = match SYSCTL_LONG.iter().find(|(l, _)| *l == name) {
                Some((_, c)) => vec![*c],
                None => SYSCTL_LONG
                    .iter()
                    .filter(|(l, _)| matches(name, l))
                    .map(|(_, c)| *c)
                    .collect(),
            };
            match hits.as_slice() {
                // --pattern and --load take an argument: the real sysctl reads them.
                [c] if arg.is_none() || "pr".contains(*c) => flags.push(*c),
                _ => return Ok(unknown("sysctl does not know this option as written", &[])),
            }
        } else {
            for c in t[1..].chars() {
                // Only getopt's short options; the long-only ones have codes of their own.
                flags.push(if "bneNwfpqoxaAXrVdh".contains(c) {
                    c
                } else {
                    '?'
                });
                // -p and -r take the rest of the word (or, for -r, the next) as their argument.
                if "pfr".contains(c) {
                    break;
                }
            }
        }
    }
    // In the order sysctl's main() acts on them.
    if flags.contains('?') {
        return Ok(unknown(
            "sysctl does not know an option: it prints its usage",
            &[],
        ));
    }
    if flags.contains('S') {
        return Ok(unknown("sysctl --system loads settings from files", &[]));
    }
    if flags.contains(['V', 'd', 'h']) || flags.contains(['a', 'A', 'X']) {
        // It prints its version, its usage or every key, and writes nothing.
        return Ok(Op::Observe);
    }
    if flags.contains(['p', 'f']) {
        return Ok(unknown("sysctl -p loads settings from a file", &[]));
    }
    if flags.contains('r') {
        return Ok(unknown(
            "sysctl -r writes only the keys its pattern matches",
            &[],
        ));
    }
    if flags.contains('R') {
        return Ok(Op::Observe);
    }
    if flags.contains('N') && flags.contains('q') {
        // "options -N and -q cannot coexist": nothing is written.
        return Ok(Op::Observe);
    }
    let write = flags.contains('w');
    let print = if flags.contains('q') {
        SysctlPrint::Nothing
    } else if flags.contains('N') {
        SysctlPrint::Value
    } else if flags.contains('b') {
        SysctlPrint::Raw
    } else if flags.contains('n') {
        SysctlPrint::Value
    } else {
        SysctlPrint::KeyValue
    };
    let mut writes = Vec::new();
    let mut reads = false;
    for w in operands {
        let t = w.text.as_str();
        if !write && !t.contains('=') {
            reads = true;
            continue;
        }
        // parse_setting_line: the key loses its leading blanks, then both lose their trailing
        // ones and the value its leading ones.
        let line = t.trim_start_matches(c_space);
        match line.split_once('=') {
            Some((k, v)) if line.len() >= 2 => {
                let key = k.trim_end_matches(c_space);
                let value = v.trim_matches(c_space);
                let file = crate::net::sysctl_file(key);
                let plain = file.split('/').all(|p| {
                    !p.is_empty()
                        && p != "."
                        && p != ".."
                        && p.chars()
                            .all(|c| c.is_ascii_graphic() && !"*?[\\".contains(c))
                });
                if !plain || key.starts_with(['-', '#', ';']) {
                    return Ok(unknown(
                        "a sysctl key nslab does not write itself (sysctl reads it its own way)",
                        &[],
                    ));
                }
                writes.push((crate::net::sysctl_key(key), value.to_string()));
            }
            None if write && !line.starts_with(['-', '#', ';']) && line.len() >= 2 => {
                return Err(CommandError {
                    offset: w.start,
                    len: t.len(),
                    message: format!(
                        "sysctl: -w writes KEY=VALUE, and \"{t}\" has no value (sysctl says: invalid syntax): write {t}=VALUE, or leave out -w to read it"
                    ),
                });
            }
            _ => return Ok(unknown("sysctl reads this argument its own way", &[])),
        }
    }
    if writes.is_empty() {
        return Ok(Op::Observe);
    }
    Ok(Op::Sysctl(Sysctl {
        writes,
        by: SysctlBy::Procps {
            ignore_unknown: flags.contains('e'),
            print,
        },
        real: reads.then(|| {
            "it also reads a key: the real sysctl prints it, and fails if it does not exist".into()
        }),
    }))
}

/// `bridge fdb add|append|del|replace ...`: one forwarding entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbChange {
    pub add: bool,
    pub mac: String,
    pub dev: String,
    /// The entry is the bridge's (`master`), not only the port's own (`self`, what bridge
    /// adds when the line says neither).
    pub master: bool,
}

/// iproute2's bridge tool: `fdb` and `link` change state; the rest observes or is unknown.
/// `bridge [OPTIONS] OBJECT ...`, and the namespace it acts in (`-n NS`, `-netns NS`).
pub fn bridge(line: &str, words: &[Word], ns: Ns) -> Result<(Ns, Op), CommandError> {
    let mut ns = ns;
    let mut i = 1;
    while let Some(w) = words.get(i) {
        let t = w.text.as_str();
        if !t.starts_with('-') {
            break;
        }
        i += 1;
        let o = t.trim_start_matches('-');
        if o == "n" || matches(o, "netns") {
            let Some(name) = words.get(i) else {
                return Err(CommandError {
                    offset: w.start,
                    len: t.len(),
                    message: "Command line is not complete. Try option \"help\"".into(),
                });
            };
            if name.dynamic {
                return Ok((
                    ns,
                    unknown(
                        "bridge -n with a name known only when the line runs",
                        &texts(words),
                    ),
                ));
            }
            ns = Ns::Named(name.text.clone());
            i += 1;
        } else if matches(o, "batch") {
            return Ok((
                ns,
                unknown("bridge -batch runs the commands of a file", &texts(words)),
            ));
        } else if matches(o, "family") {
            // `-f inet6`: bridge.c reads the family from the next word (`-f` is `-family`, the
            // first of its options with that initial).
            i += 1;
        }
    }
    let op = bridge_object(line, words, i)?;
    Ok((ns, op))
}

fn bridge_object(line: &str, words: &[Word], i: usize) -> Result<Op, CommandError> {
    let Some(obj) = words.get(i) else {
        return Ok(Op::Observe);
    };
    let verb = words.get(i + 1).map(|w| w.text.as_str()).unwrap_or("");
    let rest = &words[(i + 2).min(words.len())..];
    if matches(&obj.text, "fdb") {
        let add = if matches(verb, "add") || matches(verb, "append") || matches(verb, "replace") {
            true
        } else if matches(verb, "delete") {
            false
        } else if matches(verb, "flush") {
            return Ok(unknown(
                "bridge fdb flush removes entries nslab cannot list in advance",
                &texts(words),
            ));
        } else {
            return Ok(Op::Observe);
        };
        let mut mac = None;
        let mut dev = None;
        let mut master = false;
        let mut it = rest.iter();
        while let Some(w) = it.next() {
            match w.text.as_str() {
                "dev" => dev = it.next().map(|d| d.text.clone()),
                // fdb.c reads it by prefix (`mas`), after the keywords it compares whole.
                t if matches(t, "master") => master = true,
                "dst" | "vlan" | "port" | "dst_port" | "vni" | "via" | "src_vni" | "nhid" => {
                    it.next();
                }
                t if mac.is_none() && t.contains(':') => mac = Some(t.to_string()),
                _ => {}
            }
        }
        let (Some(mac), Some(dev)) = (mac, dev) else {
            return Err(error_at_end(
                line,
                "Device and address are required arguments.",
            ));
        };
        return Ok(Op::Fdb(FdbChange {
            add,
            mac,
            dev,
            master,
        }));
    }
    if matches(&obj.text, "link") {
        if matches(verb, "set") {
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                if w.text == "dev" {
                    let Some(d) = it.next() else {
                        return Err(error_at_end(
                            line,
                            "Command line is not complete. Try option \"help\"",
                        ));
                    };
                    return Ok(Op::BridgePort {
                        dev: d.text.clone(),
                    });
                }
            }
            return Err(error_at_end(line, "Device is a required argument."));
        }
        return Ok(Op::Observe);
    }
    if ["vlan", "mdb", "vni"].iter().any(|o| matches(&obj.text, o))
        && (matches(verb, "add") || matches(verb, "delete") || matches(verb, "set"))
    {
        return Ok(unknown("bridge vlan/mdb changes", &texts(words)));
    }
    Ok(Op::Observe)
}

/// A firewall rule change: what `iptables -t T -A|-I|-D CHAIN RULE...` adds or removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iptables {
    /// `iptables` or `ip6tables`.
    pub program: String,
    pub table: String,
    /// `A` (append), `I` (insert), `D` (delete), `P` (policy), `N`/`X` (chains), `F` (flush).
    pub action: char,
    pub chain: String,
    /// The rule's words (for -A/-I/-D), or the policy (for -P).
    pub rule: Vec<String>,
}

pub fn iptables(words: &[Word]) -> Op {
    if words.iter().any(|w| w.dynamic) {
        return unknown("an iptables line not known before it runs", &[]);
    }
    let program = words[0]
        .text
        .rsplit('/')
        .next()
        .unwrap_or("iptables")
        .to_string();
    let mut table = "filter".to_string();
    let mut action = None;
    let mut chain = String::new();
    let mut rule = Vec::new();
    let mut i = 1;
    while let Some(w) = words.get(i) {
        i += 1;
        let t = w.text.as_str();
        match t {
            "-t" | "--table" => {
                if let Some(v) = words.get(i) {
                    table = v.text.clone();
                    i += 1;
                }
            }
            "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" | "-P" | "--policy"
            | "-N" | "--new-chain" | "-X" | "--delete-chain" | "-F" | "--flush" | "-Z" | "-R"
            | "--replace"
                if action.is_none() =>
            {
                action = Some(match t {
                    "-A" | "--append" => 'A',
                    "-I" | "--insert" => 'I',
                    "-D" | "--delete" => 'D',
                    "-P" | "--policy" => 'P',
                    "-N" | "--new-chain" => 'N',
                    "-X" | "--delete-chain" => 'X',
                    "-F" | "--flush" => 'F',
                    "-R" | "--replace" => 'R',
                    _ => 'Z',
                });
                if let Some(v) = words.get(i)
                    && !v.text.starts_with('-')
                {
                    chain = v.text.clone();
                    i += 1;
                }
            }
            "-L" | "--list" | "-S" | "--list-rules" | "-C" | "--check" | "-h" | "--help" | "-V"
            | "--version" => return Op::Observe,
            _ => rule.push(t.to_string()),
        }
    }
    match action {
        Some('Z') | None => Op::Observe,
        Some(a) => Op::Iptables(Iptables {
            program,
            table,
            action: a,
            chain,
            rule,
        }),
    }
}

/// `mount --bind SRC /run/netns/NAME` names a namespace; other mounts are unknown to checks.
pub fn mount(words: &[Word]) -> Op {
    if words.len() == 1 {
        return Op::Observe;
    }
    let bind = words.iter().any(|w| {
        w.text == "--bind"
            || w.text == "-B"
            || w.text == "--rbind"
            || (w.text.starts_with("-o") && w.text.contains("bind"))
    }) || words
        .windows(2)
        .any(|p| p[0].text == "-o" && p[1].text.contains("bind"));
    let target = words.iter().rev().find(|w| !w.text.starts_with('-'));
    match (bind, target) {
        (true, Some(t)) if !t.dynamic => match netns_file(&t.text) {
            Some(name) => Op::BindNetns(name),
            None => unknown("a mount nslab's checks do not see", &[]),
        },
        _ => unknown("a mount nslab's checks do not see", &texts(words)),
    }
}

pub fn umount(words: &[Word]) -> Op {
    match words.iter().rev().find(|w| !w.text.starts_with('-')) {
        Some(t) if !t.dynamic && words.len() > 1 => match netns_file(&t.text) {
            Some(name) => Op::UnbindNetns(name),
            None => unknown("an unmount nslab's checks do not see", &[]),
        },
        _ => unknown("an unmount", &[]),
    }
}

fn netns_file(path: &str) -> Option<String> {
    let name = path
        .strip_prefix("/run/netns/")
        .or_else(|| path.strip_prefix("/var/run/netns/"))?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// `pkill [-x] [-SIGNAL] NAME`, `killall NAME`.
pub fn pkill(words: &[Word]) -> Op {
    let takes_value = [
        "-u", "-U", "-g", "-G", "-P", "-s", "-t", "-F", "--signal", "--ns", "--nslist",
    ];
    let mut i = 1;
    let mut name = None;
    while let Some(w) = words.get(i) {
        i += 1;
        if takes_value.contains(&w.text.as_str()) {
            i += 1;
        } else if !w.text.starts_with('-') {
            name = Some(w);
        }
    }
    match name {
        Some(n) if !n.dynamic => Op::Kill(n.text.clone()),
        // Processes nslab cannot name (`pkill -P $(cat FILE)`): an unnamed kill.
        _ => Op::Kill(String::new()),
    }
}
