//! The grammar of command lines: what a line of an `sh` block says, read the way the programs
//! it runs would read it (iproute2 6.1 for `ip` and `bridge`, iputils for `ping`, procps for
//! `sysctl`), and whether nslab performs it itself or hands it to the real program.
//!
//! iproute2 is the reference. A line nslab cannot perform exactly as `ip` would goes to the
//! real program, as typed; nslab never rejects a line that `ip` accepts. An error here means
//! the program itself would refuse the line, whatever the state of the machine, and carries
//! the program's own wording.

pub mod ip;
pub mod ipaddr;
mod tools;

use std::net::IpAddr;

use super::lex::{self, Sep, Simple, Word};
use crate::net::Ns;
pub use ipaddr::{Family, Prefix};
pub use tools::{FdbChange, Iptables, Sysctl, SysctlBy, SysctlPrint};

/// A command line, as nslab reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Each simple command of the line, with what nslab reads it to do.
    pub parts: Vec<Part>,
    /// Who carries the line out.
    pub run: Run,
}

/// One simple command of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The namespace it acts in (`ip -n NS`, `ip netns exec NS`, `nsenter --net=...`).
    pub ns: Ns,
    pub op: Op,
    /// It runs only if the one before succeeded (`&&`) or failed (`||`): it may not happen.
    pub conditional: bool,
    /// It was started in the background (`&`).
    pub background: bool,
    /// Another program runs it (`strace ... ip ...`, `sudo ip ...`): only the real program
    /// can do that.
    pub wrapped: bool,
}

/// Who carries a line out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// nslab performs the line's single part itself, over netlink and system calls.
    Native,
    /// The real program runs the line as typed, through `/bin/sh -c` in the root namespace
    /// (where `ip -n` and `ip netns exec` in the line take it to its namespace, exactly as the
    /// student's own shell would). The reason is for `nslab lint --commands`.
    Real { why: String },
}

/// What a simple command does, as far as nslab can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    NetnsAdd(String),
    NetnsDel(String),
    /// `ip -all netns delete`: every named namespace. The real program runs it.
    NetnsDelAll,
    /// `ip netns attach NAME PID`: a name for a process's namespace.
    NetnsAttach(String),
    LinkAdd(Box<ip::LinkAdd>),
    LinkSet(ip::LinkSet),
    LinkDel(ip::LinkDel),
    Addr(ip::AddrChange),
    AddrFlush(ip::AddrFlush),
    Route(ip::RouteChange),
    Neigh(ip::NeighChange),
    /// `ip rule add|del` (policy routing), of the forms nslab models.
    Rule(ip::RuleChange),
    Fdb(tools::FdbChange),
    /// `bridge link set dev PORT ...`: a bridge port's settings.
    BridgePort {
        dev: String,
    },
    Ping(Ping),
    /// `sysctl -w KEY=VALUE` (or `echo VALUE > /proc/sys/...`), one or more.
    Sysctl(tools::Sysctl),
    Iptables(tools::Iptables),
    /// `mount --bind ... /run/netns/NAME`: a name that holds a namespace.
    BindNetns(String),
    /// `umount /run/netns/NAME`.
    UnbindNetns(String),
    /// A program left running (`prog &`, `nohup prog`, `setsid prog`).
    Start(String),
    /// `pkill NAME`, `killall NAME`; an empty name for `kill PID` and other kills whose
    /// processes nslab cannot name.
    Kill(String),
    /// Writes files and nothing else a check sees: `gcc -o FILE`, `touch FILE`, `> FILE`. The
    /// absolute paths it names (reset removes the lesson's files).
    Write(Vec<String>),
    /// Runs commands nslab cannot see (`ip -batch FILE`, `ip -all netns exec`, a script).
    /// `names` are words of the line, for a guess at what it may touch.
    Unknown {
        why: String,
        names: Vec<String>,
        /// It is `ip` running commands nslab does not read (`-batch`, `restore`): any address,
        /// route or neighbour entry of its namespace may have changed.
        network: bool,
    },
    /// `ip route flush` with its filters (the real ip runs it).
    RouteFlush(ip::RouteFlush),
    /// `ip neigh flush` with its filters (the real ip runs it).
    NeighFlush(ip::NeighFlush),
    /// Changes nothing nslab checks (`ip link show`, `ls`, `lsns`, `ip route get`).
    Observe,
    /// An `ip` listing that changes nothing and whose success the kernel's state alone
    /// decides (`ip link show`, `ip -n red addr show dev veth1`, `ip netns list`). Its output is
    /// the real program's; where nobody reads it (verify), nslab answers it from the kernel.
    List(ip::Listing),
}

/// `ping` as iputils reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub addr: IpAddr,
    /// The zone of an IPv6 address (`fe80::1%veth0`): the interface it is reached through,
    /// as iputils reads it (the real ping sends it).
    pub zone: Option<String>,
    pub count: Option<u64>,
    /// -W: how long to wait for each reply.
    pub timeout_ms: Option<u64>,
    /// -i: the gap between requests.
    pub interval_ms: Option<u64>,
    /// -w: stop after this long, whatever the count.
    pub deadline_ms: Option<u64>,
    /// nslab copies every option given (else the real ping runs it).
    pub native: bool,
}

/// A line that the program it names would refuse, whatever the state of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// Byte offset in the line, and length, of the culprit.
    pub offset: usize,
    pub len: usize,
    /// The program's own message, where it has one.
    pub message: String,
}

impl Command {
    /// A line nslab performs itself, and the one thing it does.
    pub fn native(&self) -> Option<(&Ns, &Op)> {
        match (&self.run, self.parts.as_slice()) {
            (Run::Native, [p]) => Some((&p.ns, &p.op)),
            _ => None,
        }
    }

    pub fn is_native(&self) -> bool {
        self.native().is_some()
    }

    /// Running it changes nothing a check could see. A file written, made or removed is seen
    /// (`sh (...): test -f /tmp/x`): such a line acts.
    pub fn observes(&self) -> bool {
        !self.parts.is_empty()
            && self
                .parts
                .iter()
                .all(|p| matches!(p.op, Op::Observe | Op::List(_)))
    }

    /// The line is one plain `ip` listing (no shell syntax, no other program around it): its
    /// namespace and what it lists.
    pub fn listing(&self) -> Option<(&Ns, &ip::Listing)> {
        match self.parts.as_slice() {
            [p] => match &p.op {
                Op::List(l) => Some((&p.ns, l)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The namespace of its first part (where a single command acts).
    pub fn ns(&self) -> Ns {
        self.parts.first().map_or(Ns::Root, |p| p.ns.clone())
    }
}

impl Op {
    /// Whether nslab performs this itself; if not, why the real program does.
    fn native_or_why(&self) -> Result<(), String> {
        match self {
            Op::NetnsAdd(_) | Op::NetnsDel(_) => Ok(()),
            Op::Observe => Err("it shows something: the real program prints it".into()),
            Op::List(_) => Err(
                "it shows something: the real program prints it (verify, which reads no output, answers it from the kernel)"
                    .into(),
            ),
            Op::LinkAdd(l) => l.native(),
            Op::LinkSet(l) => l.native(),
            Op::LinkDel(_) => Ok(()),
            Op::Addr(a) => a.native(),
            Op::Route(r) => r.native(),
            Op::Ping(p) if p.native => Ok(()),
            Op::Ping(_) => Err(
                "nslab pings IPv4 addresses with -c, -W, -i, -w, -q and -n itself; this one is the real ping's".into(),
            ),
            Op::Sysctl(s) => match &s.real {
                Some(why) => Err(why.clone()),
                None if s.writes.iter().all(|(k, _)| k.starts_with("net.")) => Ok(()),
                None => Err("only network sysctls (net.*) are set by nslab itself".into()),
            },
            Op::NetnsAttach(_) => Err("ip netns attach is done by the real ip".into()),
            Op::NetnsDelAll => Err("ip -all netns delete is done by the real ip".into()),
            Op::AddrFlush(_) => Err("ip address flush is done by the real ip".into()),
            Op::RouteFlush(_) => Err("ip route flush is done by the real ip".into()),
            Op::NeighFlush(_) => Err("ip neigh flush is done by the real ip".into()),
            Op::Neigh(_) => Err("neighbour entries are set by the real ip".into()),
            Op::Rule(_) => Err("policy rules are set by the real ip".into()),
            Op::Fdb(_) | Op::BridgePort { .. } => Err("bridge commands run the real bridge".into()),
            Op::Iptables(_) => Err("firewall rules are set by the real iptables".into()),
            Op::Write(_) => Err("it writes files: the real program does that".into()),
            Op::BindNetns(_) | Op::UnbindNetns(_) | Op::Start(_) | Op::Kill(_) => {
                Err("a shell command".into())
            }
            Op::Unknown { why, .. } => Err(why.clone()),
        }
    }
}

/// Parses one command line. `Ok` for anything the programs would accept (performed natively
/// or handed to the real program); `Err` only for a line the named program itself refuses.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let script = lex::lex(line);
    if script.opaque {
        return Ok(Command {
            parts: vec![Part {
                ns: Ns::Root,
                op: unknown(
                    "the line has shell structure nslab does not read",
                    &script_words(line),
                ),
                conditional: false,
                background: false,
                wrapped: false,
            }],
            run: Run::Real {
                why: "the line has shell structure (a loop, a subshell, a here-document)".into(),
            },
        });
    }
    let plain = script.plain_words().is_some();
    let mut parts = Vec::new();
    let mut conditional = false;
    for (cmd, sep) in &script.commands {
        match parse_simple(line, cmd, Ns::Root) {
            Ok(ps) => {
                for mut p in ps {
                    p.conditional |= conditional;
                    p.background |= *sep == Sep::Background;
                    // A program left running in the background: what checks about
                    // processes look for.
                    if p.background
                        && matches!(&p.op, Op::Observe | Op::List(_) | Op::Unknown { .. })
                        && let Some(w) = launched(&cmd.words)
                        && !w.dynamic
                        && !matches!(program_name(&w.text).as_str(), "ip" | "bash" | "sh")
                    {
                        p.op = Op::Start(program_name(&w.text));
                    }
                    parts.push(p);
                }
            }
            // A refusal counts only where the line is a single plain command: in a compound
            // line, the shell may never run the refused part (`ip ... || true`).
            Err(e) => {
                if plain {
                    return Err(e);
                }
                let _ = e;
                parts.push(Part {
                    ns: Ns::Root,
                    op: unknown("a part of the line the program would refuse", &[]),
                    conditional,
                    background: false,
                    wrapped: false,
                });
            }
        }
        conditional = matches!(sep, Sep::And | Sep::Or);
    }
    if parts.is_empty() {
        return Ok(Command {
            parts: vec![],
            run: Run::Real {
                why: "an empty command".into(),
            },
        });
    }
    // A listing nslab answers is a line of its own: inside a pipe, behind `&&`, under sudo
    // or with its output redirected, the real program runs it like any other observation.
    let alone =
        plain && matches!(parts.as_slice(), [p] if !p.wrapped && !p.background && !p.conditional);
    if !alone {
        for p in &mut parts {
            if matches!(p.op, Op::List(_)) {
                p.op = Op::Observe;
            }
        }
    }
    let run = match (plain, parts.as_slice()) {
        (true, [p]) if p.wrapped => Run::Real {
            why: "another program runs the command (strace, sudo, nsenter, a shell)".into(),
        },
        (true, [p]) => match p.op.native_or_why() {
            Ok(()) => Run::Native,
            Err(why) => Run::Real { why },
        },
        (false, _) => Run::Real {
            why: "the line uses shell syntax (pipes, redirections, variables, several commands)"
                .into(),
        },
        (true, _) => Run::Real {
            why: "the line runs several commands".into(),
        },
    };
    Ok(Command { parts, run })
}

fn script_words(line: &str) -> Vec<String> {
    line.split(|c: char| c.is_whitespace() || "'\";&|()<>".contains(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn unknown(why: &str, names: &[String]) -> Op {
    Op::Unknown {
        why: why.to_string(),
        names: names.to_vec(),
        network: false,
    }
}

/// `ip` running commands nslab does not read (`-batch`, `restore`).
fn network_unknown(why: &str) -> Op {
    Op::Unknown {
        why: why.to_string(),
        names: Vec::new(),
        network: true,
    }
}

/// The name a program runs under (`/tmp/netns-demo` runs as `netns-demo`).
fn program_name(word: &str) -> String {
    word.rsplit('/').next().unwrap_or(word).to_string()
}

/// Programs that only look at the system.
const OBSERVERS: &[&str] = &[
    "ls",
    "cat",
    "lsns",
    "ps",
    "readlink",
    "stat",
    "echo",
    "printf",
    "true",
    "false",
    "grep",
    "head",
    "tail",
    "which",
    "findmnt",
    "pgrep",
    "sleep",
    "ss",
    "netstat",
    "nstat",
    "wc",
    "sort",
    "uniq",
    "cut",
    "awk",
    "sed",
    "tr",
    "test",
    "[",
    "id",
    "whoami",
    "hostname",
    "date",
    "uname",
    "lsmod",
    "man",
    "less",
    "more",
    "clear",
    "column",
    "jq",
    "diff",
    "file",
    "arp",
    "route",
    "ifconfig",
    "nslookup",
    "dig",
    "tcpdump",
    "traceroute",
    "tracepath",
    "mtr",
    "curl",
    "wget",
    "nc",
    "ncat",
    "socat",
    "telnet",
    "tshark",
    "conntrack",
];

/// Why a program that usually only looks changes something with these options: a file
/// written (`curl -o FILE`, `wget`, `sed -i`, `sort -o FILE`, `tcpdump -w FILE`; not to
/// /dev/null or standard output) or connections removed or made (`conntrack -F`, `-D`, `-I`,
/// `-U`).
fn writes(prog: &str, words: &[Word]) -> Option<&'static str> {
    let args = || words[1..].iter().map(|w| w.text.as_str());
    // Short options may be grouped (`-sSo FILE`, `-qO-`).
    let short =
        |c: char| args().any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c));
    let long = |l: &str| args().any(|a| a == l || a.starts_with(&format!("{l}=")));
    // Whether an option that names a file (short `c`, long `l`) names one other than
    // /dev/null or standard output.
    let to_file = |c: char, l: &str| {
        let mut found = false;
        for (i, w) in words.iter().enumerate().skip(1) {
            let a = w.text.as_str();
            let value = if let Some(v) = a.strip_prefix(&format!("{l}=")) {
                Some(v.to_string())
            } else if a == l {
                words.get(i + 1).map(|n| n.text.clone())
            } else if a.starts_with('-') && !a.starts_with("--") {
                a.find(c).map(|at| match &a[at + 1..] {
                    "" => words.get(i + 1).map(|n| n.text.clone()).unwrap_or_default(),
                    rest => rest.to_string(),
                })
            } else {
                None
            };
            if let Some(v) = value {
                found |= v != "/dev/null" && v != "-";
            }
        }
        found
    };
    match prog {
        "curl" if to_file('o', "--output") || short('O') || long("--remote-name") => {
            Some("curl writes what it fetches to a file")
        }
        // wget saves what it fetches, unless to standard output, /dev/null, or not at all.
        "wget" if !long("--spider") && (to_file('O', "--output-document") || !short('O')) => {
            Some("wget writes what it fetches to a file")
        }
        "sed" if short('i') || long("--in-place") => Some("sed -i changes the file"),
        "sort" if to_file('o', "--output") => Some("sort -o writes a file"),
        "tcpdump" if to_file('w', "-w") => Some("tcpdump -w writes a file"),
        "conntrack"
            if short('F')
                || short('D')
                || short('I')
                || short('U')
                || ["--flush", "--delete", "--create", "--update"]
                    .iter()
                    .any(|l| long(l)) =>
        {
            Some("conntrack changes the connection table")
        }
        _ => None,
    }
}

/// Parses one simple command (its words, redirections) acting in `ns`. A command that only
/// looks, with its output sent to a file (`nslab example x > /tmp/x.c`), writes that file.
fn parse_simple(line: &str, cmd: &Simple, ns: Ns) -> Result<Vec<Part>, CommandError> {
    let mut parts = parse_words(line, cmd, ns)?;
    let written: Vec<String> = cmd
        .redirects
        .iter()
        // `> FILE`, `>> FILE`, `2> FILE`, `&> FILE` write a file; `>&2`, `2>&1` copy a stream.
        .filter(|r| r.op.contains('>') && !r.op.contains(">&") && !r.target.dynamic)
        .filter_map(|r| file_effect(&r.target.text))
        .collect();
    if let [p] = parts.as_mut_slice()
        && !written.is_empty()
    {
        match &mut p.op {
            Op::Observe | Op::List(_) => p.op = Op::Write(written),
            Op::Write(files) => files.extend(written),
            _ => {}
        }
    }
    Ok(parts)
}

/// A path a line writes that reset may remove: absolute, and not a device, a kernel file or a
/// namespace's name (those are effects of their own).
fn file_effect(path: &str) -> Option<String> {
    let special = ["/dev/", "/proc/", "/sys/", "/run/netns/", "/var/run/netns/"];
    (path.starts_with('/')
        && !path.ends_with('/')
        && !path.split('/').any(|c| c == ".." || c == ".")
        && !special.iter().any(|s| path.starts_with(s)))
    .then(|| path.to_string())
}

fn parse_words(line: &str, cmd: &Simple, ns: Ns) -> Result<Vec<Part>, CommandError> {
    let part = |op: Op| Part {
        ns: ns.clone(),
        op,
        conditional: false,
        background: false,
        wrapped: false,
    };
    // `echo 1 > /proc/sys/net/ipv4/ip_forward`: a sysctl written through the file system.
    for r in &cmd.redirects {
        if [">", ">>", "1>", "1>>", ">|"].contains(&r.op.as_str())
            && let Some(key) = r.target.text.strip_prefix("/proc/sys/")
            && !r.target.dynamic
        {
            let value = cmd
                .words
                .iter()
                .skip(1)
                .filter(|w| !w.text.starts_with('-'))
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let known = cmd.words.first().is_some_and(|w| w.text == "echo")
                && cmd.words.iter().all(|w| !w.dynamic);
            // A path: a '.' inside a part is the link name's own (`conf/veth0.5/forwarding`),
            // which procps' spelling of the key tells apart from a separator when the path's
            // first separator is a '/'.
            let plain = key.contains('/')
                && key.split('/').next().is_some_and(|p| !p.contains('.'))
                && key
                    .split('/')
                    .all(|p| !p.is_empty() && p != "." && p != "..");
            return Ok(vec![part(if known && plain {
                Op::Sysctl(Sysctl::by_shell(key, value))
            } else {
                unknown(
                    "writes a sysctl nslab cannot read",
                    &[crate::net::sysctl_key(key)],
                )
            })]);
        }
    }
    let Some(first) = cmd.words.first() else {
        // Only assignments or redirections (`> file`): nothing a check sees.
        return Ok(vec![part(Op::Observe)]);
    };
    if first.dynamic {
        return Ok(vec![part(unknown(
            "the program's name is not known before the line runs",
            &texts(&cmd.words),
        ))]);
    }
    let words = &cmd.words;
    let prog = program_name(&first.text);
    match prog.as_str() {
        "ip" => ip::parse(line, words, ns),
        "bridge" => tools::bridge(line, words, ns.clone()).map(|(ns, op)| {
            vec![Part {
                ns,
                op,
                conditional: false,
                background: false,
                wrapped: false,
            }]
        }),
        "ping" => tools::ping(line, words, false).map(|op| vec![part(op)]),
        "ping6" => tools::ping(line, words, true).map(|op| vec![part(op)]),
        "sysctl" => Ok(vec![part(tools::sysctl(words)?)]),
        "iptables" | "ip6tables" | "iptables-legacy" | "iptables-nft" => {
            Ok(vec![part(tools::iptables(words))])
        }
        "mount" => Ok(vec![part(tools::mount(words))]),
        "umount" => Ok(vec![part(tools::umount(words))]),
        "pkill" | "killall" => Ok(vec![part(tools::pkill(words))]),
        // kill PID: nslab cannot tell which process (an unnamed kill).
        "kill" => Ok(vec![part(Op::Kill(String::new()))]),
        "touch" | "mkdir" | "rm" | "cp" | "mv" | "gcc" | "cc" | "make" | "tee" | "chmod" | "ln"
        | "modprobe" => Ok(vec![part(files_only(words))]),
        "nslab" => Ok(vec![part(Op::Observe)]),
        // Wrappers: the command they run is what matters.
        "sudo" | "strace" | "ltrace" | "timeout" | "nohup" | "setsid" | "env" | "command"
        | "exec" | "time" | "stdbuf" | "nice" | "chrt" | "taskset" | "ionice" | "watch"
        | "xargs" => wrapped(line, cmd, ns, &prog),
        "nsenter" => nsenter(line, cmd, ns),
        "unshare" => Ok(vec![part(unknown(
            "unshare runs its command in new namespaces that have no name",
            &[],
        ))]),
        "bash" | "sh" | "dash" | "zsh" => shell_c(line, words, ns),
        p if OBSERVERS.contains(&p) => Ok(vec![part(match writes(p, words) {
            Some(why) => unknown(why, &texts(words)),
            None => Op::Observe,
        })]),
        _ => Ok(vec![part(unknown(
            &format!("nslab does not know what {prog} does"),
            &texts(words),
        ))]),
    }
}

fn texts(words: &[Word]) -> Vec<String> {
    words.iter().map(|w| w.text.clone()).collect()
}

/// `touch /run/netns/x`, `gcc -o prog prog.c`, `rm -rf /tmp/d`: files (a module, for
/// modprobe), unless they touch /run/netns or /proc/sys; never an observation.
fn files_only(words: &[Word]) -> Op {
    if words
        .iter()
        .any(|w| w.dynamic || w.text.starts_with("/proc/sys") || w.text.starts_with("/sys/"))
    {
        return unknown("it may write kernel settings", &texts(words));
    }
    let prog = program_name(&words[0].text);
    let written: Vec<String> = match prog.as_str() {
        // The compiler's output: `-o FILE` or `-oFILE`.
        "gcc" | "cc" => words
            .iter()
            .enumerate()
            .find_map(|(i, w)| match w.text.strip_prefix("-o") {
                Some("") => words.get(i + 1).map(|o| o.text.clone()),
                Some(rest) => Some(rest.to_string()),
                None => None,
            })
            .into_iter()
            .collect(),
        "touch" => words[1..]
            .iter()
            .filter(|w| !w.text.starts_with('-'))
            .map(|w| w.text.clone())
            .collect(),
        // `tee /dev/null` (a pipe's output shown, and thrown away): no file.
        "tee"
            if words[1..]
                .iter()
                .filter(|w| !w.text.starts_with('-'))
                .all(|w| w.text == "/dev/null") =>
        {
            return Op::Observe;
        }
        _ => Vec::new(),
    };
    let written: Vec<String> = written.iter().filter_map(|f| file_effect(f)).collect();
    if written.is_empty() {
        // It changes files (or loads a module) all the same: an action, which checks may see.
        unknown(&format!("{prog} changes files"), &texts(words))
    } else {
        Op::Write(written)
    }
}

/// The program a simple command runs: itself, or the one `ip netns exec NS` runs (what a line
/// ending in `&` leaves running is that program, not ip).
fn launched(words: &[Word]) -> Option<&Word> {
    let first = words.first()?;
    if program_name(&first.text) == "ip" {
        return ip::exec_program(words).or(Some(first));
    }
    Some(first)
}

/// `sudo CMD`, `strace -e trace=... CMD`, `timeout 5 CMD`, `nohup CMD`...: parses CMD.
fn wrapped(line: &str, cmd: &Simple, ns: Ns, prog: &str) -> Result<Vec<Part>, CommandError> {
    let words = &cmd.words;
    // Options of the wrapper that take a value.
    let takes_value: &[&str] = match prog {
        "strace" | "ltrace" => &["-e", "-o", "-p", "-s", "-u", "-E", "-a", "-O", "-S", "-P"],
        "timeout" => &["-s", "-k", "--signal", "--kill-after"],
        "sudo" => &["-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U", "-D"],
        "nice" => &["-n"],
        "chrt" | "taskset" | "ionice" => &["-p", "-c", "-n"],
        "watch" => &["-n", "-d"],
        _ => &[],
    };
    let mut i = 1;
    while let Some(w) = words.get(i) {
        let t = w.text.as_str();
        if t == "--" {
            i += 1;
            break;
        }
        if prog == "env" && t.contains('=') && !t.starts_with('-') {
            i += 1;
            continue;
        }
        if !t.starts_with('-') {
            break;
        }
        i += if takes_value.contains(&t) { 2 } else { 1 };
    }
    // timeout DURATION CMD, chrt PRIO CMD, taskset MASK CMD, nice: a positional first.
    if matches!(prog, "timeout" | "chrt" | "taskset") {
        i += 1;
    }
    if i >= words.len() {
        return Ok(vec![Part {
            ns,
            op: Op::Observe,
            conditional: false,
            background: false,
            wrapped: false,
        }]);
    }
    let inner = Simple {
        assigns: vec![],
        words: words[i..].to_vec(),
        redirects: cmd.redirects.clone(),
    };
    let mut parts = parse_simple(line, &inner, ns)?;
    for p in &mut parts {
        p.wrapped = true;
    }
    if matches!(prog, "nohup" | "setsid") {
        for p in &mut parts {
            if matches!(p.op, Op::Observe | Op::List(_)) {
                p.op = Op::Start(program_name(&words[i].text));
            }
        }
    }
    Ok(parts)
}

/// `nsenter --net=/run/netns/NAME CMD` (also `-n/--net FILE`, `-t PID -n`).
fn nsenter(line: &str, cmd: &Simple, ns: Ns) -> Result<Vec<Part>, CommandError> {
    let words = &cmd.words;
    let mut target = None;
    let mut i = 1;
    while let Some(w) = words.get(i) {
        let t = w.text.as_str();
        if !t.starts_with('-') {
            break;
        }
        if let Some(path) = t
            .strip_prefix("--net=")
            .or_else(|| t.strip_prefix("-n"))
            .filter(|p| !p.is_empty())
        {
            target = Some(path.to_string());
        } else if t == "-t" || t == "--target" || t == "-S" || t == "-G" {
            i += 1;
            target = Some(String::new());
        } else if t == "--" {
            i += 1;
            break;
        }
        i += 1;
    }
    let ns = match target.as_deref() {
        Some(p) => match p
            .strip_prefix("/run/netns/")
            .or_else(|| p.strip_prefix("/var/run/netns/"))
        {
            Some(name) if !name.is_empty() && !name.contains('/') => Ns::Named(name.to_string()),
            _ => {
                return Ok(vec![Part {
                    ns,
                    op: unknown("nsenter into a namespace nslab cannot name", &texts(words)),
                    conditional: false,
                    background: false,
                    wrapped: false,
                }]);
            }
        },
        None => ns,
    };
    if i >= words.len() {
        return Ok(vec![Part {
            ns,
            op: unknown("an interactive shell", &[]),
            conditional: false,
            background: false,
            wrapped: false,
        }]);
    }
    let inner = Simple {
        assigns: vec![],
        words: words[i..].to_vec(),
        redirects: cmd.redirects.clone(),
    };
    let mut parts = parse_simple(line, &inner, ns)?;
    for p in &mut parts {
        p.wrapped = true;
    }
    Ok(parts)
}

/// `bash -c 'SCRIPT'`: the script's commands, read the same way. Anything else a shell does
/// (a script file, an interactive shell) is unknown.
fn shell_c(_line: &str, words: &[Word], ns: Ns) -> Result<Vec<Part>, CommandError> {
    let script = words
        .iter()
        .position(|w| w.text == "-c")
        .and_then(|i| words.get(i + 1));
    let Some(script) = script.filter(|w| !w.dynamic) else {
        return Ok(vec![Part {
            ns,
            op: unknown("a shell running a script nslab cannot see", &texts(words)),
            conditional: false,
            background: false,
            wrapped: false,
        }]);
    };
    let inner = lex::lex(&script.text);
    if inner.opaque {
        return Ok(vec![Part {
            ns,
            op: unknown(
                "a script with shell structure nslab does not read",
                &script_words(&script.text),
            ),
            conditional: false,
            background: false,
            wrapped: false,
        }]);
    }
    let mut parts = Vec::new();
    let mut conditional = false;
    for (cmd, sep) in &inner.commands {
        // Errors inside the script are the script's business: the shell runs the rest.
        let ps = parse_simple(&script.text, cmd, ns.clone()).unwrap_or_else(|_| {
            vec![Part {
                ns: ns.clone(),
                op: unknown("a command the program would refuse", &[]),
                conditional: false,
                background: false,
                wrapped: false,
            }]
        });
        for mut p in ps {
            p.conditional |= conditional;
            p.background |= *sep == Sep::Background;
            p.wrapped = true;
            parts.push(p);
        }
        conditional = matches!(sep, Sep::And | Sep::Or);
    }
    Ok(parts)
}

/// Reads a word of a line as an error location.
pub(crate) fn error_at(w: &Word, message: impl Into<String>) -> CommandError {
    CommandError {
        offset: w.start,
        len: (w.end - w.start).max(1),
        message: message.into(),
    }
}

/// An error at the end of the line (something is missing).
pub(crate) fn error_at_end(line: &str, message: impl Into<String>) -> CommandError {
    CommandError {
        offset: line.trim_end().len(),
        len: 1,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
