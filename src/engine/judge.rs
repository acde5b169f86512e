//! Judging a check against facts: pure. The facts come from the kernel through [`Facts`]
//! (see `facts.rs`); tests give hand-built ones. A verdict says what was expected, what was
//! found, a likely cause when the state is a near miss (a typo, swapped ends, an address on
//! the other end), and a command that works from the state as it is.

use std::net::IpAddr;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::net::table;

use crate::kernel::{FdbEntry, Neigh, PingOutcome, Route, Snapshot};
use crate::lesson::check::{Check, FdbWhat, LinkPred, RouteSpec};
use crate::lesson::grammar::ip::rtn;
use crate::net::{Cidr, Ns};

/// A check's verdict, in parts, so that every reader (learn's checklist, the JSON report, the
/// `h` key) can word it as it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub pass: bool,
    /// What the check wants, in words.
    pub expected: String,
    /// What the kernel has, in words.
    pub found: String,
    /// A likely cause, when the state is a near miss.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<String>,
    /// A command that works from the state as it is.
    #[serde(rename = "try", skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

impl Verdict {
    fn pass(expected: String, found: impl Into<String>) -> Verdict {
        Verdict {
            pass: true,
            expected,
            found: found.into(),
            cause: None,
            fix: None,
        }
    }

    fn fail(expected: String, found: impl Into<String>) -> Verdict {
        Verdict {
            pass: false,
            expected,
            found: found.into(),
            cause: None,
            fix: None,
        }
    }

    fn fix(mut self, f: impl Into<String>) -> Verdict {
        self.fix = Some(f.into());
        self
    }

    fn cause(mut self, c: impl Into<String>) -> Verdict {
        self.cause = Some(c.into());
        self
    }

    /// One sentence: on success what was found, on failure expected, found, cause and fix.
    pub fn message(&self) -> String {
        let mut s = self.diagnosis();
        if !self.pass
            && let Some(f) = &self.fix
        {
            // After a question, no full stop.
            let stop = if s.ends_with(['?', '.']) { "" } else { "." };
            s.push_str(&format!("{stop} Try: {f}"));
        }
        s
    }

    /// What was expected and found, and why, without the command that would mend it (for a
    /// challenge, where finding that command is the exercise).
    pub fn diagnosis(&self) -> String {
        if self.pass {
            return self.found.clone();
        }
        let mut s = format!("expected: {}; found: {}", self.expected, self.found);
        if let Some(c) = &self.cause {
            s.push_str(&format!(". {}", sentence(c)));
        }
        s
    }
}

/// A cause after a full stop, or on a line of its own: its first letter a capital ("the kernel uses..." is said on its
/// own line in learn, and after "found: ...". in a report).
/// Only an English word is made a capital: a cause that starts with a name (`veth1 is in
/// rde`) keeps the name as it is.
pub fn sentence(c: &str) -> String {
    const WORDS: [&str; 11] = [
        "the", "its", "a", "an", "no", "it", "there", "did", "one", "both", "of",
    ];
    let first = c.split(' ').next().unwrap_or_default();
    if !WORDS.contains(&first) {
        return c.to_string();
    }
    let mut chars = c.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Pings from a namespace to an address since a step began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PingActivity {
    /// Echo requests that went out.
    pub sent: u32,
    pub replies: u32,
    /// Attempts that found no route (no packet left: "Network is unreachable").
    pub unroutable: u32,
    /// Of `unroutable`, those that only the namespace's own counter saw: the kernel counts an
    /// attempt that found no route, and does not say to which address.
    pub unroutable_anywhere: bool,
    /// Requests sent after the last reply that stayed unanswered (a second and more), and
    /// attempts after it that found no route: the student pinged again, and this time no answer
    /// came.
    pub unanswered_after_reply: u32,
    /// Echo requests to the address that other namespaces nslab watched sent themselves (from
    /// an address of their own) since the step began: the student pinged from there.
    pub elsewhere: Vec<(Ns, u32)>,
    /// Address resolutions (ARP) of the address, on the link, that the namespace asked for and
    /// got no answer to: the ping's echo requests waited for it, and never left.
    pub unresolved: u32,
}

/// What the judge asks the kernel. Each answer is fetched at most once a round.
pub trait Facts {
    /// The root namespace and the lesson's named ones that exist: where the judge looks for
    /// something that is not where the check wants it.
    fn scope(&mut self) -> Vec<Ns>;
    /// Every named namespace (in /run/netns) that holds a live namespace.
    fn netns_names(&mut self) -> Vec<String>;
    /// Whether the lesson makes or checks a link of this name in `ns`: one found there is the
    /// lesson's own there, not misplaced.
    fn lesson_puts_link(&mut self, _ns: &Ns, _name: &str) -> bool {
        false
    }
    /// Whether the lesson puts this address on `dev` in `ns` (its lines or its checks).
    fn lesson_puts_addr(&mut self, _ns: &Ns, _dev: &str, _addr: IpAddr) -> bool {
        false
    }
    /// Whether the lesson puts this address somewhere other than on `dev` in `ns`.
    fn lesson_puts_addr_elsewhere(&mut self, _ns: &Ns, _dev: &str, _addr: IpAddr) -> bool {
        false
    }
    /// Whether the lesson puts this address on any link of `ns`.
    fn lesson_puts_addr_in(&mut self, _ns: &Ns, _addr: IpAddr) -> bool {
        false
    }
    /// The namespaces the lesson itself names: never a typo of one another.
    fn lesson_names(&mut self) -> Vec<String>;
    /// Whether the lesson makes or checks a link of this name: never a typo of another (`va0`
    /// is no typo of `va1` when the lesson makes both, and `va1` is missing because its line
    /// failed).
    fn is_lesson_link(&mut self, _name: &str) -> bool {
        false
    }
    /// Whether the lesson names this namespace.
    fn is_lesson_ns(&mut self, name: &str) -> bool {
        self.lesson_names().iter().any(|n| n == name)
    }
    fn netns_exists(&mut self, name: &str) -> bool;
    fn netns_inode(&mut self, name: &str) -> Option<u64>;
    fn netns_count(&mut self) -> usize;
    /// `None` when the namespace does not exist.
    fn snapshot(&mut self, ns: &Ns) -> Option<Rc<Snapshot>>;
    fn routes6(&mut self, ns: &Ns) -> Rc<Vec<Route>>;
    fn neighbours(&mut self, ns: &Ns) -> Rc<Vec<Neigh>>;
    fn fdb(&mut self, ns: &Ns) -> Rc<Vec<FdbEntry>>;
    /// A probe of reachability that leaves no trace.
    fn ping(&mut self, from: &Ns, addr: IpAddr) -> Result<PingOutcome, String>;
    /// What pings from `from` to `addr` did since the step began.
    fn pinged(&mut self, from: &Ns, addr: IpAddr) -> PingActivity;
    /// A sysctl's value in `ns` when the step began, if nslab read it then.
    fn sysctl_at_step_start(&mut self, _ns: &Ns, _key: &str) -> Option<String> {
        None
    }
    fn sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, String>;
    /// Processes of this name started in this run by the student's session, with the inode of
    /// their network namespace.
    fn processes(&mut self, name: &str) -> Vec<(u32, u64)>;
    fn root_inode(&mut self) -> Option<u64>;
    /// Runs a shell command; `Ok(())` when it exits 0, else what it said.
    fn shell(&mut self, ns: &Ns, command: &str) -> Result<(), String>;
    /// The process that keeps alive the deleted namespace of a veth end's peer (pid, command).
    fn peer_holder(&mut self, _ns: &Ns, _link: &crate::kernel::Link) -> Option<(u32, String)> {
        None
    }
}

/// Two sysctl values the same word for word (the kernel separates numbers with tabs).
fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn where_(ns: &Ns) -> String {
    ns.where_()
}

/// Whether two names are one namespace: the same name, or two names (bind mounts in
/// /run/netns) of the same namespace.
fn same_ns(f: &mut dyn Facts, a: &Ns, b: &Ns) -> bool {
    let mut inode = |ns: &Ns| match ns {
        Ns::Root => f.root_inode(),
        Ns::Named(n) => f.netns_inode(n),
    };
    a == b || inode(a).is_some_and(|i| Some(i) == inode(b))
}

/// Judges one check.
pub fn judge(check: &Check, f: &mut dyn Facts) -> Verdict {
    let expected = check.describe();
    // A link named by an altname is judged by its name (ip takes either).
    let named;
    let check = match by_names(check, f) {
        Some(c) => {
            named = c;
            &named
        }
        None => check,
    };
    match check {
        Check::Not(inner) => {
            let v = judge(inner, f);
            if v.pass {
                let fail = Verdict::fail(expected, format!("but {}", v.found));
                // A process that should be gone: the ones found, by pid (the student who
                // killed the parent instead of the child has the child's pid to kill).
                if let Check::ProcessIsolated { name } = inner.as_ref() {
                    let root = f.root_inode();
                    let pids: Vec<String> = f
                        .processes(name)
                        .iter()
                        .filter(|(_, ino)| Some(*ino) != root)
                        .map(|(pid, _)| pid.to_string())
                        .collect();
                    if !pids.is_empty() {
                        return fail.fix(format!("kill {}", pids.join(" ")));
                    }
                }
                fail
            } else {
                Verdict::pass(expected, format!("as expected: {}", v.found))
            }
        }
        Check::Netns { name, exists } => {
            let has = f.netns_exists(name);
            match (exists, has) {
                (true, true) => Verdict::pass(expected, format!("namespace {name} exists")),
                (false, false) => Verdict::pass(expected, format!("there is no namespace {name}")),
                (true, false) => {
                    let v = Verdict::fail(expected, format!("there is no namespace {name}"))
                        .fix(format!("ip netns add {name}"));
                    match typo_of(name, f) {
                        Some(s) => v.cause(format!(
                            "A namespace called '{s}' exists: a typo? (ip netns del {s})"
                        )),
                        None => v,
                    }
                }
                (false, true) => Verdict::fail(expected, format!("namespace {name} still exists"))
                    .fix(format!("ip netns del {name}")),
            }
        }
        Check::NetnsSameAs { name, process } => {
            let Some(inode) = f.netns_inode(name) else {
                return Verdict::fail(expected, format!("there is no namespace {name}"));
            };
            let procs = f.processes(process);
            if procs.is_empty() {
                return Verdict::fail(expected, format!("no {process} of yours is running"));
            }
            let root = f.root_inode();
            let elsewhere: Vec<u64> = procs
                .iter()
                .map(|(_, i)| *i)
                .filter(|i| Some(*i) != root)
                .collect();
            if Some(inode) == root
                && procs.iter().any(|(_, i)| *i == inode)
                && !elsewhere.is_empty()
            {
                // A program and the child it cloned into a namespace of its own share a name:
                // the root namespace, where every ordinary process lives, names neither.
                Verdict::fail(
                    expected,
                    format!(
                        "{name} is the root namespace (inode {inode}); the other {process} runs in {}",
                        elsewhere.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                    ),
                )
                .cause(format!(
                    "The mount took the namespace of a process in the root namespace (the parent {process}, or a shell), not the one {process}'s child lives in (`pgrep -P PID` prints the child). Mount the child's /proc/CHILD/ns/net on it again"
                ))
            } else if procs.iter().any(|(_, i)| *i == inode) {
                Verdict::pass(
                    expected,
                    format!("{name} is {process}'s namespace (inode {inode})"),
                )
            } else {
                Verdict::fail(
                    expected,
                    format!(
                        "{name} is namespace {inode}; {process} runs in {}",
                        procs.iter().map(|(_, i)| i.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .cause(format!(
                    "{name} is another namespace: `ip netns add` makes a new one; a bind mount of /proc/PID/ns/net names the process's"
                ))
            }
        }
        Check::NetnsCount { op, count } => {
            let n = f.netns_count();
            if op.holds(n, *count) {
                Verdict::pass(expected, format!("there are {n} network namespaces"))
            } else {
                Verdict::fail(
                    expected,
                    format!("there are {n} network namespaces (see lsns -t net and /run/netns)"),
                )
            }
        }
        Check::Link { name, ns, pred } => link(expected, name, ns, pred, f),
        Check::Addr {
            cidr,
            dev,
            ns,
            only,
            brd,
            label,
        } => addr(expected, *cidr, dev, ns, *only, *brd, label.as_deref(), f),
        Check::Route { ns, route } => self::route(expected, ns, route, f),
        Check::Neigh {
            ns,
            addr,
            dev,
            lladdr,
            state,
        } => {
            if f.snapshot(ns).is_none() {
                return Verdict::fail(expected, format!("netns {} does not exist", ns.name()));
            }
            let all = f.neighbours(ns);
            let found: Vec<&Neigh> = all
                .iter()
                .filter(|n| n.addr == *addr && dev.as_ref().is_none_or(|d| &n.dev == d))
                .collect();
            let ok = found.iter().any(|n| {
                lladdr.is_none_or(|l| n.lladdr == Some(l))
                    && state.as_ref().is_none_or(|s| &n.state == s)
                    && (state.is_some() || !["failed", "incomplete"].contains(&n.state.as_str()))
            });
            if ok {
                let n = found[0];
                Verdict::pass(
                    expected,
                    format!(
                        "{addr} is at {} ({})",
                        n.lladdr.map_or("no address".into(), |l| l.to_string()),
                        n.state
                    ),
                )
            } else if let Some(n) = found.first() {
                let v = Verdict::fail(
                    expected,
                    format!(
                        "the entry for {addr} says {} ({})",
                        n.lladdr.map_or("no address".into(), |l| l.to_string()),
                        n.state
                    ),
                );
                // A static entry typed wrong (its address, its state): written again. A
                // learned one is the other end's answer, and no line here makes it right.
                let fixed = |s: &str| matches!(s, "permanent" | "noarp");
                let state = state.as_deref().unwrap_or(n.state.as_str());
                match lladdr {
                    Some(l) if fixed(&n.state) || fixed(state) => {
                        let state = if fixed(state) { state } else { "permanent" };
                        v.fix(format!(
                            "{} neigh replace {addr} lladdr {l} dev {} nud {state}",
                            ns.ip(),
                            dev.as_deref().unwrap_or(&n.dev)
                        ))
                    }
                    _ => v,
                }
            } else {
                let v = Verdict::fail(
                    expected,
                    format!("{} has no neighbour entry for {addr}", ns.name()),
                );
                // An entry for it on another link (the check names one).
                match all.iter().find(|n| n.addr == *addr) {
                    Some(n) => v.cause(format!(
                        "the entry for {addr} is on {}, not on {}",
                        n.dev,
                        dev.as_deref().unwrap_or("?")
                    )),
                    None => v,
                }
            }
        }
        Check::Fdb { ns, port, what } => fdb(expected, ns, port, what, f),
        Check::Ping { addr, from } => ping(expected, *addr, from, f),
        Check::Pinged {
            addr,
            from,
            answered,
        } => {
            if let Ns::Named(n) = from
                && !f.netns_exists(n)
            {
                return Verdict::fail(expected, format!("netns {n} does not exist"));
            }
            // An address of the namespace's own answers without any network.
            if *answered
                && let Some(s) = f.snapshot(from)
                && let Some(own) = own_not_loopback(&s, from, *addr, f)
            {
                return own_address(expected, from, &own, &s, f);
            }
            if *answered && let Some(v) = impostor(&expected, *addr, from, f) {
                return v;
            }
            let act = f.pinged(from, *addr);
            let (sent, replies) = (act.sent, act.replies);
            let mut how = format!(
                "{sent} echo request{} to {addr} from {}, {replies} repl{} since the step began",
                if sent == 1 { "" } else { "s" },
                from.name(),
                if replies == 1 { "y" } else { "ies" }
            );
            if act.unroutable > 0 {
                how.push_str(&format!(
                    ", and {} attempt{} that found no route",
                    act.unroutable,
                    if act.unroutable == 1 { "" } else { "s" }
                ));
                if act.unroutable_anywhere {
                    how.push_str(&format!(
                        " (the kernel counts such an attempt without its address: {addr} has no route from {})",
                        from.name()
                    ));
                }
            }
            if act.unresolved > 0 && sent == 0 {
                how.push_str(&format!(
                    ", and {} address resolution request{} (ARP) for {addr} that nobody answered: the echo requests waited for it, and never left",
                    act.unresolved,
                    if act.unresolved == 1 { "" } else { "s" }
                ));
            }
            if act.unanswered_after_reply > 0 && replies > 0 {
                how.push_str(&format!(
                    "; after the last reply, {} more went unanswered",
                    act.unanswered_after_reply
                ));
            }
            let run = match from {
                Ns::Root => format!("ping -c 3 {addr}"),
                Ns::Named(n) => format!("ip netns exec {n} ping -c 3 {addr}"),
            };
            // Nothing from here, and pings from another namespace: the right ping, run in the
            // wrong place.
            if sent == 0 && act.unroutable == 0 && act.unresolved == 0 && !act.elsewhere.is_empty()
            {
                let place = |ns: &Ns| match ns {
                    Ns::Root => "the root namespace".to_string(),
                    Ns::Named(n) => n.clone(),
                };
                let there: Vec<String> = act
                    .elsewhere
                    .iter()
                    .map(|(ns, n)| format!("{n} from {}", place(ns)))
                    .collect();
                how.push_str(&format!("; {} went to {addr}", there.join(", ")));
                let places: Vec<String> = act.elsewhere.iter().map(|(ns, _)| place(ns)).collect();
                let how_to = match from {
                    Ns::Root => {
                        "in a shell of the root namespace, without `ip netns exec`".to_string()
                    }
                    Ns::Named(n) => format!("with `ip netns exec {n}` before it"),
                };
                return Verdict::fail(expected, how).fix(run).cause(format!(
                    "the echo requests to {addr} went from {}, not from {}: ping from {} ({how_to})",
                    places.join(" and "),
                    place(from),
                    place(from)
                ));
            }
            match (answered, sent, replies, act.unroutable) {
                (true, _, r, _) if r > 0 => Verdict::pass(expected, how),
                (false, s, 0, u) if s > 0 || u > 0 || act.unresolved > 0 => {
                    Verdict::pass(expected, how)
                }
                // Answered first (before the lesson's fault was in place, say), and pinged again
                // after: the latest pings are what the step is about.
                (false, _, _, _) if act.unanswered_after_reply > 0 => Verdict::pass(expected, how),
                (true, 0, _, 0) if act.unresolved > 0 => Verdict::fail(expected, how).cause(format!(
                    "nobody on the link answered for {addr} (ARP): is it the address of the other end, and is that end up?"
                )),
                (_, 0, _, 0) => Verdict::fail(expected, how).fix(run),
                (true, 0, _, _) => Verdict::fail(expected, how).cause(
                    "ping said \"Network is unreachable\": there is no route to that address",
                ),
                (true, _, _, _) => {
                    Verdict::fail(expected, how).cause("the pings went out and no reply came back")
                }
                (false, _, _, _) => Verdict::fail(expected, how).cause(
                    "replies came back: this step expects the ping to fail (once it fails, ping again: the pings after the last reply count)",
                ),
            }
        }
        Check::Sysctl { key, value, ns } => match f.sysctl(ns, key) {
            // A value of several numbers reads back with tabs (`20000\t30000`): words compared.
            Ok(v) if same_words(&v, value) => Verdict::pass(expected, format!("{key} is {v}")),
            Ok(now) => {
                let run = |ns: &Ns| match ns {
                    Ns::Root => String::new(),
                    Ns::Named(n) => format!("ip netns exec {n} "),
                };
                // A value of several words is quoted, as sysctl takes it.
                let shown = if value.contains(char::is_whitespace) {
                    format!("\"{value}\"")
                } else {
                    value.clone()
                };
                let v = Verdict::fail(expected, format!("it is {now}"))
                    .fix(format!("{}sysctl -w {key}={shown}", run(ns)));
                // The right command in the wrong namespace: the value is set elsewhere. What it
                // was there before, nslab does not know (the root namespace may have been at
                // its default all along): the student is told to set it back, with no command
                // that could switch forwarding on where it was off.
                // Only where it became that value during the step: a namespace that had it all
                // along (the root namespace's forwarding off by default) says nothing.
                let scope = f.scope();
                let elsewhere = scope.into_iter().filter(|o| o != ns).find(|o| {
                    f.sysctl(o, key).is_ok_and(|x| same_words(&x, value))
                        && f.sysctl_at_step_start(o, key)
                            .is_some_and(|was| !same_words(&was, value))
                });
                match elsewhere {
                    Some(o) => v.cause(format!(
                        "{key} is {value} {}: did the command run there, not {}? If so, set it back there to what it was",
                        where_(&o),
                        where_(ns)
                    )),
                    None => v,
                }
            }
            Err(e) => Verdict::fail(expected, e),
        },
        Check::ProcessIsolated { name } => {
            let root = f.root_inode();
            let procs = f.processes(name);
            match procs.iter().find(|(_, ino)| Some(*ino) != root) {
                Some((pid, ino)) => Verdict::pass(
                    expected,
                    format!("{name} (pid {pid}) lives in network namespace {ino}"),
                ),
                None if procs.is_empty() => Verdict::fail(
                    expected,
                    format!("no {name} started during this lesson is running"),
                ),
                None => Verdict::fail(
                    expected,
                    format!("{name} runs in the root network namespace"),
                ),
            }
        }
        Check::Shell { command, ns, .. } => match f.shell(ns, command) {
            Ok(()) => Verdict::pass(expected, format!("`{command}` succeeded")),
            Err(why) => Verdict::fail(expected, format!("`{command}` {why}")),
        },
    }
}

/// The check with each link it names by an altname (`ip link property add dev eth-long-name
/// altname s0`) named by its name instead; `None` when it names none so.
fn by_names(check: &Check, f: &mut dyn Facts) -> Option<Check> {
    let mut real = |ns: &Ns, name: &str| -> Option<String> {
        let s = f.snapshot(ns)?;
        let l = s.link(name)?;
        (l.name != name).then(|| l.name.clone())
    };
    let mut c = check.clone();
    let changed = match &mut c {
        Check::Link { name, ns, pred } => {
            let mut changed = false;
            if let Some(n) = real(ns, name) {
                *name = n;
                changed = true;
            }
            match pred {
                LinkPred::Peer { name: p, ns: pns } => {
                    if let Some(n) = real(pns, p) {
                        *p = n;
                        changed = true;
                    }
                }
                LinkPred::Master(m) => {
                    if let Some(n) = real(ns, m) {
                        *m = n;
                        changed = true;
                    }
                }
                _ => {}
            }
            changed
        }
        Check::Addr { dev, ns, .. } | Check::Fdb { port: dev, ns, .. } => match real(ns, dev) {
            Some(n) => {
                *dev = n;
                true
            }
            None => false,
        },
        Check::Neigh {
            dev: Some(dev), ns, ..
        }
        | Check::Route {
            ns,
            route: RouteSpec { dev: Some(dev), .. },
        } => match real(ns, dev) {
            Some(n) => {
                *dev = n;
                true
            }
            None => false,
        },
        Check::Not(inner) => match by_names(inner, f) {
            Some(i) => {
                **inner = i;
                true
            }
            None => false,
        },
        _ => false,
    };
    changed.then_some(c)
}

/// A namespace as `ip link set ... netns` takes it: its name, or for the root namespace the
/// pid of a process in it, 1 (learn's sandbox has its own first process).
fn netns_arg(ns: &Ns) -> &str {
    match ns {
        Ns::Named(n) => n.as_str(),
        Ns::Root => "1",
    }
}

/// An existing namespace whose name looks like a typo of `name`; not one the lesson itself
/// uses (`ra` is no typo of `rb` when the lesson makes both).
fn typo_of(name: &str, f: &mut dyn Facts) -> Option<String> {
    let others: Vec<String> = f
        .netns_names()
        .into_iter()
        .filter(|n| !f.is_lesson_ns(n))
        .collect();
    similar(name, &others)
}

/// The closest of `names` to `name`, if it looks like a typo of it.
fn similar(name: &str, names: &[String]) -> Option<String> {
    let refs: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != name)
        .collect();
    crate::diag::suggest(name, &refs).map(str::to_string)
}

/// "a, b, c" for a short list; the first few and a count for a long one.
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

/// Where else in the lesson's namespaces a link of this name is, that the lesson does not put
/// there itself (an `eth0` in each host is each host's own, not this one misplaced).
fn locate(f: &mut dyn Facts, name: &str, not_in: &Ns) -> Option<Ns> {
    let scope = f.scope();
    scope.into_iter().filter(|ns| ns != not_in).find(|ns| {
        f.snapshot(ns).is_some_and(|s| s.link(name).is_some()) && !f.lesson_puts_link(ns, name)
    })
}

fn link(expected: String, name: &str, ns: &Ns, pred: &LinkPred, f: &mut dyn Facts) -> Verdict {
    let Some(s) = f.snapshot(ns) else {
        return match pred {
            // Not in a namespace that is not there (deleted, or not made yet), as the format
            // says: the message says which holds, not that the link went with it (it may never
            // have been there, or have moved on first).
            LinkPred::Absent => {
                let mut found = format!("there is no namespace {} (so no {name} in it)", ns.name());
                // Only where the lesson does not put a link of that name itself: every
                // container has its own eth0, and c2's is not c1's moved on.
                if let Some(e) = locate(f, name, ns) {
                    found.push_str(&format!("; {name} is {}", where_(&e)));
                }
                Verdict::pass(expected, found)
            }
            _ => {
                let v = Verdict::fail(expected, format!("netns {} does not exist", ns.name()))
                    .fix(format!("ip netns add {}", ns.name()));
                match typo_of(ns.name(), f) {
                    Some(sim) => v.cause(format!("A namespace called '{sim}' exists: a typo?")),
                    None => v,
                }
            }
        };
    };
    let here = where_(ns);
    let Some(l) = s.link(name).cloned() else {
        if *pred == LinkPred::Absent {
            return Verdict::pass(expected, format!("there is no {name} {here}"));
        }
        let others = some_names(s.links.iter().map(|l| l.name.as_str()));
        let names: Vec<String> = s.links.iter().map(|l| l.name.clone()).collect();
        if let Some(e) = locate(f, name, ns) {
            // A link of that name elsewhere whose other end is not the one this cable has is
            // another cable (a lesson may want an eth0 in each namespace): nothing to move, this
            // one is still to be made.
            if let LinkPred::Peer {
                name: pname,
                ns: pns,
            } = pred
                && let Some(other) = f.snapshot(&e).and_then(|s| s.link(name).cloned())
                && let Some(op) = &other.peer
                && op.name.as_deref() != Some(pname.as_str())
            {
                let far = match (&op.name, &op.ns) {
                    (Some(n), Some(ons)) => format!(" (its other end is {n} {})", where_(ons)),
                    _ => String::new(),
                };
                let peer_ns = if pns == ns {
                    String::new()
                } else {
                    match pns {
                        Ns::Named(n) => format!(" netns {n}"),
                        Ns::Root => " netns 1".to_string(),
                    }
                };
                return Verdict::fail(
                    expected,
                    format!("{} has no {name} (it has {others})", ns.name()),
                )
                .cause(format!("the {name} {} is another cable{far}", where_(&e)))
                .fix(format!(
                    "{} link add {name} type veth peer name {pname}{peer_ns}",
                    ns.ip()
                ));
            }
            let v = Verdict::fail(expected, format!("{name} is {}", where_(&e)));
            let target = netns_arg(ns);
            // A bridge (a VRF, lo) cannot change namespace: the kernel says "The interface
            // netns is immutable". It is made again where it belongs.
            let kind = f
                .snapshot(&e)
                .and_then(|s| s.link(name).and_then(|l| l.kind.clone()));
            let v = match kind.as_deref() {
                Some(k @ ("bridge" | "vrf")) => v.fix(format!(
                    "{} link del {name} && {} link add {name} type {k}",
                    e.ip(),
                    ns.ip()
                )),
                _ => v.fix(format!("{} link set {name} netns {target}", e.ip())),
            };
            // Swapped: the other end of this very pair is where this one should be, and the
            // check wants it where this one is (only a peer check says where the other end
            // belongs: with both ends wanted in one namespace, nothing is swapped).
            let swapped = s.links.iter().find(|o| {
                o.peer
                    .as_ref()
                    .is_some_and(|p| p.name.as_deref() == Some(name) && p.ns.as_ref() == Some(&e))
                    && matches!(pred, LinkPred::Peer { name: pn, ns: pns } if *pn == o.name && *pns == e)
            });
            return match swapped {
                Some(o) => v.cause(format!(
                    "the ends of the pair look swapped: {} is {here}, and {name} {}",
                    o.name,
                    where_(&e)
                )),
                None => v.cause(format!("{name} is in the wrong namespace")),
            };
        }
        let v = Verdict::fail(
            expected,
            format!("{} has no {name} (it has {others})", ns.name()),
        );
        // The link sent to a namespace of another name, one that is not the lesson's (`ip link
        // set in0 netns iner`): a typo of the target.
        let strange: Vec<String> = f
            .netns_names()
            .into_iter()
            .filter(|n| !f.is_lesson_ns(n))
            .collect();
        let stray = strange
            .into_iter()
            .map(Ns::Named)
            .find(|o| f.snapshot(o).is_some_and(|s| s.link(name).is_some()));
        if let Some(o) = stray {
            let target = netns_arg(ns);
            return v
                .cause(format!(
                    "{name} is {}, a namespace the lesson does not make: a typo of {}?",
                    where_(&o),
                    ns.name()
                ))
                .fix(format!("{} link set {name} netns {target}", o.ip()));
        }
        let strangers: Vec<String> = names.into_iter().filter(|n| !f.is_lesson_link(n)).collect();
        return match similar(name, &strangers) {
            Some(sim) => v.cause(format!("{} has a '{sim}': a typo?", ns.name())),
            None => v,
        };
    };
    let ip = ns.ip();
    match pred {
        LinkPred::Exists => Verdict::pass(expected, format!("{name} is {here}")),
        LinkPred::Absent => {
            let v = Verdict::fail(expected, format!("{name} is still {here}"));
            // A veth end whose peer's namespace was deleted while a program ran in it: the
            // namespace, and this end with it, goes when the program ends.
            match f.peer_holder(ns, &l) {
                Some((pid, command)) => v
                    .cause(format!(
                        "the deleted namespace of its peer lives on: process {pid} ({command}) still runs in it, and the kernel tears a namespace (and its links) down only when nothing uses it any more"
                    ))
                    .fix(format!("kill {pid}")),
                // A veth end is gone from here when it moves, or when its pair is deleted
                // (with its other end): which, the step's other checks say. No Try here.
                None if l.kind.as_deref() == Some("veth") => v,
                None => v.fix(format!("{ip} link del {name}")),
            }
        }
        LinkPred::Up | LinkPred::Down => {
            let want_up = *pred == LinkPred::Up;
            let is = if l.up { "up" } else { "down" };
            if l.up == want_up {
                Verdict::pass(expected, format!("{name} {here} is {is}"))
            } else {
                let w = if want_up { "up" } else { "down" };
                Verdict::fail(expected, format!("{name} {here} is {is}"))
                    .fix(format!("{ip} link set {name} {w}"))
            }
        }
        LinkPred::Kind(k) => match &l.kind {
            Some(have) if have == k => Verdict::pass(expected, format!("{name} is a {k}")),
            have => Verdict::fail(
                expected,
                format!(
                    "{name} is a {}",
                    have.as_deref().unwrap_or("device of no kind")
                ),
            ),
        },
        LinkPred::Peer {
            name: pname,
            ns: pns,
        } => {
            let Some(p) = &l.peer else {
                return Verdict::fail(expected, format!("{name} {here} is not a veth"));
            };
            let pn = p
                .name
                .clone()
                .unwrap_or_else(|| format!("ifindex {}", p.index));
            let pwhere =
                p.ns.as_ref()
                    .map_or("in a namespace nslab cannot name".to_string(), where_);
            if p.name.as_deref() == Some(pname.as_str())
                && p.ns.as_ref().is_some_and(|found| same_ns(f, found, pns))
            {
                return Verdict::pass(
                    expected,
                    format!("{name} {here} is paired with {pname} {pwhere}"),
                );
            }
            let v = Verdict::fail(expected, format!("its peer is {pn} {pwhere}"));
            // Swapped: the peer sits where this end should be, named as this end's peer.
            if p.name.as_deref() == Some(pname.as_str())
                && let Some(pwhere_ns) = &p.ns
                && pwhere_ns != pns
            {
                return v
                    .cause(format!(
                        "{pname} is {}, not {}",
                        where_(pwhere_ns),
                        where_(pns)
                    ))
                    .fix(format!(
                        "{} link set {pname} netns {}",
                        pwhere_ns.ip(),
                        netns_arg(pns)
                    ));
            }
            v
        }
        LinkPred::Master(m) => match &l.master {
            Some(have) if have == m => Verdict::pass(expected, format!("{name} is a port of {m}")),
            Some(have) => Verdict::fail(expected, format!("its master is {have}"))
                .fix(format!("{ip} link set {name} master {m}")),
            None => Verdict::fail(expected, format!("{name} is a port of no bridge"))
                .fix(format!("{ip} link set {name} master {m}")),
        },
        LinkPred::NoMaster => match &l.master {
            None => Verdict::pass(expected, format!("{name} has no master")),
            Some(have) => Verdict::fail(expected, format!("{name} is a port of {have}"))
                .fix(format!("{ip} link set {name} nomaster")),
        },
        LinkPred::Mtu(m) => match l.mtu {
            Some(have) if have == *m => Verdict::pass(expected, format!("{name} has MTU {m}")),
            have => {
                let v = Verdict::fail(
                    expected,
                    format!(
                        "{name} has MTU {}",
                        have.map_or("?".into(), |h| h.to_string())
                    ),
                )
                .fix(format!("{ip} link set {name} mtu {m}"));
                // Set on the other end of the cable.
                let other = l.peer.as_ref().and_then(|p| {
                    let (pn, pns) = (p.name.clone()?, p.ns.clone()?);
                    let ps = f.snapshot(&pns)?;
                    (ps.link(&pn)?.mtu == Some(*m)).then(|| format!("{pn} {}", where_(&pns)))
                });
                match other {
                    Some(o) => v.cause(format!(
                        "its other end, {o}, has MTU {m}: the command went to that end?"
                    )),
                    None => v,
                }
            }
        },
        LinkPred::Address(a) => {
            let want = a.to_string();
            match &l.mac {
                Some(have) if *have == want => {
                    Verdict::pass(expected, format!("{name} has {want}"))
                }
                have => Verdict::fail(
                    expected,
                    format!("{name} has {}", have.as_deref().unwrap_or("no MAC address")),
                )
                .fix(format!("{ip} link set {name} address {want}")),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn addr(
    expected: String,
    cidr: Cidr,
    dev: &str,
    ns: &Ns,
    only: bool,
    brd: Option<IpAddr>,
    label: Option<&str>,
    f: &mut dyn Facts,
) -> Verdict {
    let Some(s) = f.snapshot(ns) else {
        return Verdict::fail(expected, format!("netns {} does not exist", ns.name()));
    };
    let here = where_(ns);
    if s.link(dev).is_none() {
        let v = Verdict::fail(expected, format!("there is no link {dev} {here}"));
        return match locate(f, dev, ns) {
            Some(e) => v.cause(format!("{dev} is {}", where_(&e))),
            None => v,
        };
    }
    let ip = ns.ip();
    let family = if cidr.is_v4() { "IPv4" } else { "IPv6" };
    let has: Vec<_> = s
        .addrs_of(dev)
        .filter(|a| a.cidr.is_v4() == cidr.is_v4())
        .collect();
    // The kernel's own IPv6 link-local address (fe80::/64, scope link) is not the lesson's: it
    // is left out of what the link is said to have, and of the same-subnet hints. An address
    // of scope link that a line added (`169.254.10.1/16`, `... scope link`, `fe80::10/64`) is
    // one like any other: the check looks for it (it was not seen at all).
    let exact = has.iter().find(|a| a.cidr == cidr).copied();
    let link_local: Vec<String> = has
        .iter()
        .filter(|a| !a.cidr.is_v4() && a.scope == 253)
        .map(|a| a.cidr.to_string())
        .collect();
    let has: Vec<_> = has
        .into_iter()
        .filter(|a| a.cidr.is_v4() || a.scope != 253)
        .collect();
    let Some(a) = exact else {
        let found = if has.is_empty() && !link_local.is_empty() {
            format!("{dev} has only the link-local {}", link_local.join(", "))
        } else if has.is_empty() {
            format!("{dev} has no {family} address")
        } else {
            format!(
                "{dev} has {}",
                has.iter()
                    .map(|a| a.cidr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let v = Verdict::fail(expected, found);
        // The same address with another prefix length, on this link.
        if let Some(other) = has.iter().find(|a| a.cidr.addr == cidr.addr) {
            return v
                .cause(format!(
                    "the prefix length is /{}, not /{}",
                    other.cidr.prefix, cidr.prefix
                ))
                .fix(format!(
                    "{ip} address del {} dev {dev} && {ip} address add {cidr} dev {dev}",
                    other.cidr
                ));
        }
        // Another address of that subnet on the link (a wrong one): the kernel would make the
        // right one its secondary, which goes when the wrong one is deleted. The wrong one
        // goes first.
        // (One the lesson puts there itself is no wrong one: the lesson wants both, the right one
        // as its secondary.)
        let wrong = has
            .iter()
            .find(|a| {
                cidr.is_v4()
                    && a.cidr.prefix == cidr.prefix
                    && a.cidr.contains(&cidr.addr)
                    && !f.lesson_puts_addr(ns, dev, a.cidr.addr)
            })
            .copied();
        // The address on another link of the lesson (the other end of the cable, say). With
        // the ends' addresses swapped, this link holds the other end's: it goes first, or the
        // moved address would be its secondary (and go with it when the other end's check is
        // mended).
        for other_ns in f.scope() {
            if let Some(os) = f.snapshot(&other_ns)
                && let Some(oa) = os.addrs.iter().find(|a| a.cidr.addr == cidr.addr)
                // An address the lesson puts there too (anycast, a link-local address on both
                // ends) is where it belongs.
                && !f.lesson_puts_addr(&other_ns, &oa.link, cidr.addr)
            {
                let (first, beside, then) = match wrong {
                    // The ends' addresses swapped: the other end's check has the mirror of this
                    // Try, and a student pastes both. Each deletion is `;`, not `&&`: the one
                    // the other Try already did fails, and the add still comes.
                    Some(w) => (
                        format!("{ip} address del {} dev {dev}; ", w.cidr),
                        format!(", and {dev} has {} of the same subnet", w.cidr),
                        "; ",
                    ),
                    None => (String::new(), String::new(), " && "),
                };
                return v
                    .cause(format!(
                        "{} is on {} {}{beside}",
                        oa.cidr,
                        oa.link,
                        where_(&other_ns)
                    ))
                    .fix(format!(
                        "{first}{} address del {} dev {}{then}{ip} address add {cidr} dev {dev}",
                        other_ns.ip(),
                        oa.cidr,
                        oa.link
                    ));
            }
        }
        if let Some(wrong) = wrong {
            return v
                .cause(format!(
                    "{} is in the same subnet: {cidr} added beside it would be its secondary, and go when it is deleted",
                    wrong.cidr
                ))
                .fix(format!(
                    "{ip} address del {} dev {dev} && {ip} address add {cidr} dev {dev}",
                    wrong.cidr
                ));
        }
        return v.fix(format!("{ip} address add {cidr} dev {dev}"));
    };
    if let Some(v) = dad(&expected, cidr, dev, ns, a, &s, f) {
        return v;
    }
    if let Some(b) = brd
        && a.brd != Some(b)
    {
        return Verdict::fail(
            expected,
            format!(
                "its broadcast address is {}",
                a.brd.map_or("not set".into(), |x| x.to_string())
            ),
        )
        .fix(format!(
            "{ip} address del {cidr} dev {dev} && {ip} address add {cidr} brd {b} dev {dev}"
        ));
    }
    if let Some(l) = label
        && a.label.as_deref() != Some(l)
    {
        return Verdict::fail(
            expected,
            format!("its label is {}", a.label.as_deref().unwrap_or("not set")),
        );
    }
    if only {
        // Exactness: the address must not also sit on another link of the lesson.
        for other_ns in f.scope() {
            if let Some(os) = f.snapshot(&other_ns)
                && let Some(dup) = os
                    .addrs
                    .iter()
                    .find(|x| x.cidr.addr == cidr.addr && !(other_ns == *ns && x.link == dev))
            {
                return Verdict::fail(
                    expected,
                    format!("{} is also on {} {}", dup.cidr, dup.link, where_(&other_ns)),
                )
                .cause("an address belongs on one interface only")
                .fix(format!(
                    "{} address del {} dev {}",
                    other_ns.ip(),
                    dup.cidr,
                    dup.link
                ));
            }
        }
    }
    Verdict::pass(expected, format!("{dev} has {cidr}"))
}

/// The links of the layer-2 segment of link `dev` of `ns`, as far as nslab can follow it, `dev`
/// first: a veth's other end, a bridge and its ports. Where a link leads on in a way nslab does
/// not follow (a macvlan, a tunnel, a peer in a namespace without a name), the list stops.
fn segment(f: &mut dyn Facts, ns: &Ns, dev: &str) -> Vec<(Ns, String)> {
    let mut seen = vec![(ns.clone(), dev.to_string())];
    let mut i = 0;
    while let Some((n, name)) = seen.get(i).cloned() {
        i += 1;
        let Some(s) = f.snapshot(&n) else {
            continue;
        };
        let Some(l) = s.link(&name) else {
            continue;
        };
        let mut next = Vec::new();
        if let Some(p) = &l.peer
            && let (Some(pns), Some(pname)) = (&p.ns, &p.name)
        {
            next.push((pns.clone(), pname.clone()));
        }
        let is_bridge = |x: &str| {
            s.link(x)
                .is_some_and(|b| b.kind.as_deref() == Some("bridge"))
        };
        let bridge = if is_bridge(&l.name) {
            Some(l.name.clone())
        } else {
            l.master.clone().filter(|m| is_bridge(m))
        };
        if let Some(b) = bridge {
            next.push((n.clone(), b.clone()));
            next.extend(
                s.links
                    .iter()
                    .filter(|o| o.master.as_deref() == Some(b.as_str()))
                    .map(|o| (n.clone(), o.name.clone())),
            );
        }
        for x in next {
            if !seen.contains(&x) {
                seen.push(x);
            }
        }
    }
    seen
}

/// An IPv6 address the kernel does not use, as `ip address` shows it: `dadfailed` (duplicate
/// address detection found it in use on the link; it stays tentative for good), or still
/// `tentative` while the detection runs on a link that is up and has a carrier (a second or
/// two: a check waits for its end, and it may end in `dadfailed`). Without a carrier the
/// detection has not begun and may never: the address is as the line left it.
fn dad(
    expected: &str,
    cidr: Cidr,
    dev: &str,
    ns: &Ns,
    a: &crate::kernel::Addr,
    s: &Snapshot,
    f: &mut dyn Facts,
) -> Option<Verdict> {
    let ip = ns.ip();
    if a.dadfailed {
        let v = Verdict::fail(
            expected.to_string(),
            format!(
                "{cidr} on {dev} failed duplicate address detection (dadfailed): the kernel does not use it"
            ),
        );
        // Who else has it: a host on this link (the veth's other end, the bridge and its
        // ports), the only place whose address makes the detection fail. One elsewhere is
        // another network's, and no cause.
        for (other_ns, other_dev) in segment(f, ns, dev).into_iter().skip(1) {
            let Some(os) = f.snapshot(&other_ns) else {
                continue;
            };
            let Some(oa) = os
                .addrs
                .iter()
                .find(|x| x.cidr.addr == cidr.addr && !x.dadfailed && x.link == other_dev)
            else {
                continue;
            };
            let cause = format!(
                "{} is also on {} {}: an address belongs to one host of a link",
                oa.cidr,
                oa.link,
                where_(&other_ns)
            );
            return Some(if f.lesson_puts_addr(&other_ns, &oa.link, cidr.addr) {
                // The lesson's own lines give the address to two hosts of one link.
                v.cause(format!("{cause}, and the lesson puts it there too"))
            } else {
                v.cause(format!("{cause}; a failed address stays failed until it is added again"))
                    .fix(format!(
                        "{} address del {} dev {}; {ip} address del {cidr} dev {dev} && {ip} address add {cidr} dev {dev}",
                        other_ns.ip(),
                        oa.cidr,
                        oa.link
                    ))
            });
        }
        return Some(
            v.cause("another host on the link has it: once it has let it go, add this one again (a failed address stays failed)")
                .fix(format!(
                    "{ip} address del {cidr} dev {dev} && {ip} address add {cidr} dev {dev}"
                )),
        );
    }
    let carrier = s.link(dev).is_some_and(|l| l.up && l.lower_up);
    if a.tentative && carrier && !cidr.is_v4() {
        return Some(Verdict::fail(
            expected.to_string(),
            format!(
                "{cidr} on {dev} is still tentative: duplicate address detection has not ended"
            ),
        ));
    }
    None
}

/// A destination as the kernel keeps it: `0.0.0.0/0` and `::/0` are the default route.
fn dest_of(d: Option<Cidr>) -> Option<Cidr> {
    d.filter(|c| c.prefix > 0)
}

pub(crate) fn route_matches(r: &Route, want: &RouteSpec) -> bool {
    // A multipath route goes via each of its next hops: `via` and `dev` are one hop's.
    let hop = |via: Option<IpAddr>, dev: Option<&String>| {
        want.via.is_none_or(|v| via == Some(v)) && want.dev.as_ref().is_none_or(|d| dev == Some(d))
    };
    dest_of(r.dest) == dest_of(want.dest)
        && r.kind == want.kind
        && r.table == want.table.unwrap_or(table::MAIN)
        && (hop(r.via, r.dev.as_ref()) && r.nexthops.is_empty()
            || r.nexthops.iter().any(|(v, d)| hop(*v, d.as_ref())))
        && want.metric.is_none_or(|m| r.metric.unwrap_or(0) == m)
        && want.src.is_none_or(|a| r.src == Some(a))
}

fn route(expected: String, ns: &Ns, want: &RouteSpec, f: &mut dyn Facts) -> Verdict {
    let Some(s) = f.snapshot(ns) else {
        return Verdict::fail(expected, format!("netns {} does not exist", ns.name()));
    };
    let v6 = want
        .dest
        .map(|d| !d.is_v4())
        .or(want.via.map(|v| v.is_ipv6()))
        .unwrap_or(false);
    let routes: Rc<Vec<Route>> = if v6 {
        f.routes6(ns)
    } else {
        Rc::new(s.routes.clone())
    };
    let what = want.dest_text();
    let same: Vec<&Route> = routes
        .iter()
        .filter(|r| {
            dest_of(r.dest) == dest_of(want.dest) && r.table == want.table.unwrap_or(table::MAIN)
        })
        .collect();
    let how = |r: &Route| {
        let mut how = match (r.kind, r.via, &r.dev) {
            (k, _, _) if k != rtn::UNICAST => format!("is {} route", rtn::a(k)),
            _ if !r.nexthops.is_empty() => format!(
                "goes via {}",
                r.nexthops
                    .iter()
                    .map(|(v, d)| match (v, d) {
                        (Some(v), _) => v.to_string(),
                        (None, Some(d)) => format!("dev {d}"),
                        (None, None) => "?".to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            (_, Some(v), _) => format!("goes via {v}"),
            (_, None, Some(d)) => format!("goes out of {d}"),
            _ => "goes nowhere".to_string(),
        };
        if want.metric.is_some() || same.len() > 1 {
            how.push_str(&format!(" with metric {}", r.metric.unwrap_or(0)));
        }
        if want.src.is_some() {
            match r.src {
                Some(a) => how.push_str(&format!(" from source {a}")),
                None => how.push_str(" with no source address"),
            }
        }
        how
    };
    // How `ip` names a route to delete it: its destination, gateway and metric.
    let del = |r: &Route| {
        let mut cmd = format!("{} route del {what}", ns.ip());
        if let Some(v) = r.via {
            cmd.push_str(&format!(" via {v}"));
        }
        cmd.push_str(&format!(" metric {}", r.metric.unwrap_or(0)));
        if let Some(t) = want.table {
            cmd.push_str(&format!(" table {t}"));
        }
        cmd
    };
    if let Some(r) = routes.iter().find(|r| route_matches(r, want)) {
        // Without a metric, the check means the route the namespace uses: of the routes to its
        // destination for its type of service (a `tos 0x10` route carries only that traffic),
        // the lowest metric wins, and of those of one metric (`ip route append`), whatever
        // their type, the first (IPv6 makes routes by gateways one multipath route, which goes
        // via each: one route here). A wrong gateway added first, the right one after it with
        // a metric: the right one carries nothing.
        let metric = r.metric.unwrap_or(0);
        let winner = same
            .iter()
            .copied()
            .filter(|o| o.tos == r.tos)
            .min_by_key(|o| o.metric.unwrap_or(0));
        if want.metric.is_none()
            && let Some(w) = winner.filter(|w| !std::ptr::eq(*w, r))
        {
            let (found, cause) = if w.metric.unwrap_or(0) < metric {
                (
                    format!("its route {what} {}, and another {}", how(r), how(w)),
                    format!(
                        "the kernel uses the route with the lowest metric: the one that {} wins",
                        how(w)
                    ),
                )
            } else {
                (
                    format!(
                        "its route {what} {}, and before it another {}",
                        how(r),
                        how(w)
                    ),
                    format!(
                        "of routes with the same metric, the kernel uses the first: the one that {} (ip route get says so)",
                        how(w)
                    ),
                )
            };
            return Verdict::fail(expected, found).cause(cause).fix(del(w));
        }
        return Verdict::pass(expected, format!("route {what} is there"));
    }
    let found = match same.first() {
        Some(r) => format!("its route {what} {}", how(r)),
        // Another table than main: the namespace may well have that route in its main table.
        None => match want.table.filter(|&t| t != table::MAIN) {
            Some(t) => format!("{} has no route {what} in table {t}", ns.name()),
            None => format!("{} has no route {what}", ns.name()),
        },
    };
    // A route of another metric stays beside the one the fix adds (the kernel keys IPv4 routes
    // on their metric too): it goes first.
    // Only the same route with the wrong metric: a route via another gateway may be another
    // check's (a backup route).
    let stale = match want.metric {
        Some(m) => same
            .iter()
            .find(|r| {
                r.metric.unwrap_or(0) != m
                    && r.kind == want.kind
                    && r.via == want.via
                    && want.dev.as_ref().is_none_or(|d| r.dev.as_ref() == Some(d))
            })
            .map(|r| format!("{} && ", del(r))),
        None => None,
    };
    // `route add` fails with "File exists" when a route for the destination is in the way;
    // `replace` takes the first of its metric, which a check with that metric may want to keep
    // (a route appended after it): then `append`.
    // (After the stale route's `del`, the wanted metric may still be taken by another route:
    // `add` would fail with "File exists", after the `del` had done its part.)
    let verb = match want.metric {
        _ if same.is_empty() => "add",
        Some(m) if same.iter().any(|r| r.metric.unwrap_or(0) == m) => "append",
        _ if stale.is_some() => "add",
        _ => "replace",
    };
    let mut cmd = format!("{}{} route {verb} ", stale.unwrap_or_default(), ns.ip());
    if want.kind != rtn::UNICAST {
        cmd.push_str(&format!("{} ", rtn::name(want.kind)));
    }
    cmd.push_str(&what);
    if let Some(v) = want.via {
        cmd.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &want.dev {
        cmd.push_str(&format!(" dev {d}"));
    }
    if let Some(a) = want.src {
        cmd.push_str(&format!(" src {a}"));
    }
    if let Some(m) = want.metric {
        cmd.push_str(&format!(" metric {m}"));
    }
    if let Some(t) = want.table {
        cmd.push_str(&format!(" table {t}"));
    }
    let v = Verdict::fail(expected, found);
    // A gateway that no address of the namespace reaches: the kernel will refuse it, and the
    // route's Try would fail for that reason (the address comes first).
    if let Some(gw) = want.via
        && !s.addrs.iter().any(|a| a.cidr.contains(&gw))
    {
        return v.cause(format!(
            "{gw} is on none of {}'s subnets: give {} an address in {gw}'s subnet first",
            ns.name(),
            ns.name()
        ));
    }
    // The gateway's subnet is on a link that is down: its subnet route is gone with it, and
    // the kernel refuses the gateway ("Nexthop has invalid gateway") until the link is up.
    if let Some(gw) = want.via {
        let on: Vec<&str> = s
            .addrs
            .iter()
            .filter(|a| a.cidr.contains(&gw))
            .map(|a| a.link.as_str())
            .collect();
        let down = on
            .iter()
            .find(|d| s.link(d).is_some_and(|l| !l.up))
            .filter(|_| !on.iter().any(|d| s.link(d).is_some_and(|l| l.up)));
        if let Some(d) = down {
            return v
                .cause(format!(
                    "{gw} is on {d}'s subnet, and {d} is down: the kernel takes no gateway on a link that is down"
                ))
                .fix(format!("{} link set {d} up && {cmd}", ns.ip()));
        }
    }
    // Nothing for the destination in the check's table: a near miss elsewhere (the same
    // destination in another table; the same network with another prefix length).
    let table_wanted = want.table.unwrap_or(table::MAIN);
    if same.is_empty() {
        let named = |t: u32| match t {
            table::MAIN => "the main table".to_string(),
            t => format!("table {t}"),
        };
        if let Some(r) = routes
            .iter()
            .find(|r| dest_of(r.dest) == dest_of(want.dest) && r.table != table_wanted)
        {
            return v
                .cause(format!(
                    "a route {what} is in {}, not in {}",
                    named(r.table),
                    named(table_wanted)
                ))
                .fix(cmd);
        }
        if let Some(d) = want.dest
            && d.prefix > 0
            && let Some(r) = routes.iter().find(|r| {
                r.table == table_wanted
                    && r.dest.is_some_and(|o| {
                        o.prefix > 0
                            && o.prefix != d.prefix
                            && o.addr.is_ipv4() == d.addr.is_ipv4()
                            && (o.contains(&d.addr) || d.contains(&o.addr))
                    })
            })
        {
            let o = r.dest.unwrap_or(d);
            return v
                .cause(format!(
                    "there is a route {}/{} {}: the check wants /{}",
                    o.network().addr,
                    o.prefix,
                    where_(ns),
                    d.prefix
                ))
                .fix(cmd);
        }
    }
    v.fix(cmd)
}

fn fdb(expected: String, ns: &Ns, port: &str, what: &FdbWhat, f: &mut dyn Facts) -> Verdict {
    let Some(s) = f.snapshot(ns) else {
        return Verdict::fail(expected, format!("netns {} does not exist", ns.name()));
    };
    if s.link(port).is_none() {
        return Verdict::fail(expected, format!("there is no {port} {}", where_(ns)));
    }
    let entries = f.fdb(ns);
    let on_port: Vec<&FdbEntry> = entries
        .iter()
        .filter(|e| e.dev == port && e.master.is_some())
        .collect();
    let learned: Vec<&&FdbEntry> = on_port.iter().filter(|e| e.learned).collect();
    let want_mac = match what {
        FdbWhat::Learned => None,
        FdbWhat::Mac(m) => Some(*m),
        FdbWhat::MacOf { link, ns: lns } => {
            let mac = f
                .snapshot(lns)
                .and_then(|s| s.link(link).and_then(|l| l.mac.clone()))
                .and_then(|m| m.parse().ok());
            match mac {
                Some(m) => Some(m),
                None => {
                    return Verdict::fail(expected, format!("there is no {link} {}", where_(lns)));
                }
            }
        }
    };
    let listed = || {
        if learned.is_empty() {
            format!("the bridge has learned nothing on {port}")
        } else {
            format!(
                "on {port} it has learned {}",
                learned
                    .iter()
                    .map(|e| e.mac.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    match want_mac {
        None if !learned.is_empty() => Verdict::pass(expected, listed()),
        None => Verdict::fail(expected, listed()),
        Some(m) if on_port.iter().any(|e| e.mac == m) => {
            Verdict::pass(expected, format!("{m} is known on {port}"))
        }
        Some(m) => {
            let elsewhere = entries.iter().find(|e| e.mac == m && e.master.is_some());
            let v = Verdict::fail(expected, listed());
            // `bridge fdb add MAC dev PORT` without `master` (or with `self`) writes the port's
            // own table, which the bridge does not forward by.
            let own_table = entries
                .iter()
                .any(|e| e.mac == m && e.dev == port && e.master.is_none());
            match elsewhere {
                Some(e) => v.cause(format!("{m} is known on {}", e.dev)),
                None if own_table => {
                    let bridge = match ns {
                        Ns::Root => "bridge".to_string(),
                        Ns::Named(n) => format!("bridge -n {n}"),
                    };
                    v.cause(format!(
                        "{m} is in {port}'s own table (`self`), not in the bridge's: `bridge fdb add` puts it in the bridge's with `master`"
                    ))
                    .fix(format!("{bridge} fdb add {m} dev {port} master static"))
                }
                None => v,
            }
        }
    }
}

/// An address of the pinging namespace's own on a link other than `lo`: a ping to it proves no
/// network (the address is on the wrong end, or on both). One on `lo` (127.0.0.1, or one a
/// lesson puts there) is what a check of `lo` itself pings: it answers only while `lo` is up.
/// But one on `lo` that the lesson puts elsewhere (another namespace's address, added to this
/// one's `lo`) answers without any network too.
pub fn own_not_loopback(
    s: &Snapshot,
    from: &Ns,
    addr: IpAddr,
    f: &mut dyn Facts,
) -> Option<crate::kernel::Addr> {
    s.addrs
        .iter()
        .find(|a| {
            a.cidr.addr == addr
                && (a.link != "lo"
                    || (!addr.is_loopback()
                        && !f.lesson_puts_addr(from, "lo", addr)
                        && f.lesson_puts_addr_elsewhere(from, "lo", addr)))
        })
        .cloned()
}

/// The address a ping check wants answered, held by another namespace than the pinging one
/// where the lesson does not put it (a router given the far host's address on its `lo`): that
/// one may answer in the far host's place, and a reply proves nothing of the way there.
fn impostor(expected: &str, addr: IpAddr, from: &Ns, f: &mut dyn Facts) -> Option<Verdict> {
    for ns in f.scope() {
        if ns == *from {
            continue;
        }
        let Some(s) = f.snapshot(&ns) else { continue };
        let Some(a) = s
            .addrs
            .iter()
            .find(|a| {
                // (On another link of a namespace where the lesson puts it, it is that
                // namespace's still: a challenge lets the student name the links.)
                a.cidr.addr == addr
                    && !addr.is_loopback()
                    && !f.lesson_puts_addr_in(&ns, addr)
                    && f.lesson_puts_addr_elsewhere(&ns, &a.link, addr)
            })
            .cloned()
        else {
            continue;
        };
        return Some(
            Verdict::fail(
                expected.to_string(),
                format!(
                    "{addr} is also on {} {}, where the lesson does not put it: {} may answer in the place of the namespace that should",
                    a.link,
                    ns.where_(),
                    ns.name()
                ),
            )
            .cause(format!("{addr} belongs elsewhere: a reply from {} proves nothing of the way there", ns.name()))
            .fix(format!("{} addr del {} dev {}", ns.ip(), a.cidr, a.link)),
        );
    }
    None
}

/// A ping check whose address is the pinging namespace's own: it answers itself, and the check
/// cannot pass while it is there. The Try moves it to the other end of its veth, or only
/// deletes it when that end is a bridge's port (the address belongs further on) or has it.
fn own_address(
    expected: String,
    from: &Ns,
    own: &crate::kernel::Addr,
    s: &Snapshot,
    f: &mut dyn Facts,
) -> Verdict {
    let v = Verdict::fail(
        expected,
        format!(
            "{} is an address of {} itself (on {}): it answers its own ping without any network",
            own.cidr.addr,
            from.name(),
            own.link
        ),
    );
    // On lo: another namespace's address, copied here (the lesson puts it elsewhere).
    if own.link == "lo" {
        return v
            .cause("The address belongs to another namespace, where the lesson puts it")
            .fix(format!("{} addr del {} dev lo", from.ip(), own.cidr));
    }
    let v = v.cause("the address belongs on the other end");
    let del = format!("{} addr del {} dev {}", from.ip(), own.cidr, own.link);
    // Without another address on the link, the namespace would be left with none to ping
    // from: which it should have is the lesson's, and no Try can say.
    if !s.addrs.iter().any(|a| {
        a.link == own.link
            && a.cidr.addr != own.cidr.addr
            && a.cidr.addr.is_ipv4() == own.cidr.addr.is_ipv4()
    }) {
        return v;
    }
    let Some(l) = s.link(&own.link) else {
        return v;
    };
    let other = l
        .peer
        .as_ref()
        .and_then(|p| Some((p.name.clone()?, p.ns.clone()?)))
        .filter(|(_, ns)| ns != from);
    // Both ends here (or an end nslab cannot see): deleting it would leave it nowhere.
    let Some((name, ns)) = other else {
        return v;
    };
    let Some(there) = f.snapshot(&ns) else {
        return v.fix(del);
    };
    let has = there.addrs.iter().any(|a| a.cidr.addr == own.cidr.addr);
    let port = there.link(&name).is_some_and(|p| p.master.is_some());
    if has || port {
        return v.fix(del);
    }
    v.fix(format!(
        "{del}; {} addr add {} dev {name}",
        ns.ip(),
        own.cidr
    ))
}

fn ping(expected: String, addr: IpAddr, from: &Ns, f: &mut dyn Facts) -> Verdict {
    let Some(s) = f.snapshot(from) else {
        return Verdict::fail(expected, format!("netns {} does not exist", from.name()));
    };
    // Exactness: an address of the pinging namespace itself answers without any network.
    if let Some(own) = own_not_loopback(&s, from, addr, f) {
        return own_address(expected, from, &own, &s, f);
    }
    if let Some(v) = impostor(&expected, addr, from, f) {
        return v;
    }
    // An address of its own lo, while lo is down: no route leads there (the kernel adds the
    // local routes of lo's addresses when lo comes up). Said without a probe.
    // (127.0.0.1 is lo's only once lo is up.)
    if (addr.is_loopback()
        || s.addrs
            .iter()
            .any(|a| a.cidr.addr == addr && a.link == "lo"))
        && s.link("lo").is_some_and(|l| !l.up)
    {
        return Verdict::fail(
            expected,
            format!("{addr} is on lo {}, and lo is down", from.where_()),
        )
        .fix(format!("{} link set lo up", from.ip()));
    }
    match f.ping(from, addr) {
        Ok(PingOutcome::Reply(rtt)) => Verdict::pass(
            expected,
            format!(
                "{addr} answered {} in {:.3} ms",
                from.where_(),
                rtt.as_secs_f64() * 1000.0
            ),
        ),
        Ok(PingOutcome::NoReply | PingOutcome::Lost) => {
            let v = Verdict::fail(expected, format!("{addr} did not answer"));
            // The usual suspects, in order: a link down, no route, no forwarding.
            if let Some(l) = down_link_toward(&s, addr) {
                return v
                    .cause(format!("{} {} is down", l.name, from.where_()))
                    .fix(format!("{} link set {} up", from.ip(), l.name));
            }
            match far_end(addr, from, &s, f) {
                Some((cause, Some(fix))) => v.cause(cause).fix(fix),
                Some((cause, None)) => v.cause(cause),
                None => v.cause("Are both ends up, with addresses in one subnet (or a route back, and forwarding on the router)?"),
            }
        }
        // A router on the way said so: the missing route is the router's, not the sender's.
        Ok(PingOutcome::Unreachable(why)) if why.contains("reported by") => {
            Verdict::fail(expected, why.clone()).cause(format!(
                "the router that reported it has no way on to {addr}: look at its routes (and its forwarding)"
            ))
        }
        Ok(PingOutcome::Unreachable(why)) => {
            // A route that exists to refuse: what the kernel said is no "no route".
            if let Some(r) = refusing_route(&s, addr) {
                let kind = rtn::name(r.kind);
                let dest = r.dest.map_or("default".to_string(), |d| d.to_string());
                return Verdict::fail(
                    expected,
                    format!(
                        "{why}: the route {} takes to {addr} is `{kind} {dest}`, which sends nothing",
                        from.name()
                    ),
                )
                .fix(format!("{} route del {kind} {dest}", from.ip()));
            }
            if why == "Operation not permitted" {
                return Verdict::fail(
                    expected,
                    format!(
                        "{why}: a firewall rule {} drops the echo request on its way out",
                        from.where_()
                    ),
                )
                .fix(format!("ip netns exec {} iptables -S OUTPUT", from.name()))
                .cause("look at the OUTPUT chain of its filter table");
            }
            if why == "Permission denied" {
                return Verdict::fail(
                    expected,
                    format!(
                        "{why}: {} may not send to {addr} (a prohibit rule, or a broadcast address)",
                        from.name()
                    ),
                )
                .fix(format!("{} rule", from.ip()));
            }
            let v = Verdict::fail(
                expected,
                format!("{why}: {} has no route to {addr}", from.name()),
            );
            // A link with an address, left down: its routes (the subnet's, and any by a
            // gateway there) are not in the table while it is down.
            match down_link_toward(&s, addr) {
                Some(l) => v
                    .cause(format!(
                        "{} {} is down, and the kernel keeps no route through a link that is down",
                        l.name,
                        from.where_()
                    ))
                    .fix(format!("{} link set {} up", from.ip(), l.name)),
                None => v.fix(format!("{} route", from.ip())),
            }
        }
        Err(e) => Verdict::fail(expected, format!("nslab could not ping: {e}")),
    }
}

/// The route of the main table that `addr` takes (longest prefix, then lowest metric), when it
/// is one that refuses what is sent there: blackhole, unreachable or prohibit.
fn refusing_route(s: &Snapshot, addr: IpAddr) -> Option<&Route> {
    let prefix = |r: &Route| r.dest.map_or(0, |d| d.prefix);
    let best = s
        .routes
        .iter()
        .filter(|r| r.table == table::MAIN && r.v6 == addr.is_ipv6())
        .filter(|r| r.dest.is_none_or(|d| d.contains(&addr)))
        .min_by_key(|r| (std::cmp::Reverse(prefix(r)), r.metric.unwrap_or(0)))?;
    [rtn::BLACKHOLE, rtn::UNREACHABLE, rtn::PROHIBIT]
        .contains(&best.kind)
        .then_some(best)
}

/// A link of the namespace, with an address, left down, that the way to `addr` may need: its
/// subnet holds `addr`; or, when no link of the namespace with an address is up, the only way
/// out there is (its routes, the subnet's and any by a gateway there, are out of the table
/// while it is down). A link down elsewhere, on another subnet, is no cause.
fn down_link_toward(s: &Snapshot, addr: IpAddr) -> Option<&crate::kernel::Link> {
    let addressed: Vec<&crate::kernel::Link> = s
        .links
        .iter()
        .filter(|l| l.name != "lo" && s.addrs_of(&l.name).next().is_some())
        .collect();
    let mut down = addressed.iter().copied().filter(|l| !l.up);
    let toward = down
        .clone()
        .find(|l| s.addrs_of(&l.name).any(|a| a.cidr.contains(&addr)));
    let none_up = addressed.iter().all(|l| !l.up);
    toward.or_else(|| down.next().filter(|_| none_up))
}

/// Why an echo to `addr` from `from` got no reply, as far as the far end says: no namespace of
/// the lesson has the address, its link is down or has no carrier (the other end of its cable
/// is down), or it has no route back to the sender. The cause, and the command that mends it
/// where there is one.
fn far_end(
    addr: IpAddr,
    from: &Ns,
    s: &Snapshot,
    f: &mut dyn Facts,
) -> Option<(String, Option<String>)> {
    let owner = f.scope().into_iter().find_map(|ns| {
        let os = f.snapshot(&ns)?;
        let a = os.addrs.iter().find(|a| a.cidr.addr == addr)?.clone();
        Some((ns, os, a))
    });
    let Some((ons, os, a)) = owner else {
        return Some((
            format!("no namespace of the lesson has {addr}: it is missing, or has a typo"),
            None,
        ));
    };
    let l = os.link(&a.link)?;
    let at = format!("{} {}", a.link, ons.where_());
    if !l.up {
        return Some((
            format!("{at}, which has {addr}, is down"),
            Some(format!("{} link set {} up", ons.ip(), a.link)),
        ));
    }
    if !l.lower_up
        && let Some(p) = &l.peer
        && let (Some(pn), Some(pns)) = (&p.name, &p.ns)
        && f.snapshot(pns)
            .and_then(|ps| ps.link(pn).map(|pl| !pl.up))
            .unwrap_or(false)
    {
        return Some((
            format!(
                "{at} has no carrier: the other end of its cable, {pn} {}, is down",
                pns.where_()
            ),
            Some(format!("{} link set {pn} up", pns.ip())),
        ));
    }
    // The sender's address toward addr: one of its subnet, else its first.
    let mine: Vec<&Cidr> = s
        .addrs
        .iter()
        .filter(|x| x.link != "lo" && x.cidr.is_v4() == addr.is_ipv4() && x.scope == 0)
        .map(|x| &x.cidr)
        .collect();
    let src = mine
        .iter()
        .find(|c| c.contains(&addr))
        .or(mine.first())?
        .addr;
    // A route in any table counts (a rule may send the reply there): said only when none
    // could carry it.
    let back = os.addrs.iter().any(|x| x.cidr.contains(&src))
        || os
            .routes
            .iter()
            .any(|r| r.kind == rtn::UNICAST && r.dest.is_none_or(|d| d.contains(&src)));
    if !back {
        // A router on the way may masquerade the sender (then the reply goes back to the
        // router's own address), and its firewall may be what drops the echo: nslab does not
        // read firewall rules, so it says both.
        let router = f.scope().into_iter().find(|n| {
            n != from && *n != ons && f.sysctl(n, "net.ipv4.ip_forward").is_ok_and(|v| v == "1")
        });
        return Some((
            match router {
                Some(r) => format!(
                    "{} has no route back to {src}, the address {} pings from, unless {} masquerades it; if it does, look at {}'s firewall (its FORWARD chain)",
                    ons.name(),
                    from.name(),
                    r.name(),
                    r.name()
                ),
                None => format!(
                    "{} has no route back to {src}, the address {} pings from: its reply has nowhere to go",
                    ons.name(),
                    from.name()
                ),
            },
            None,
        ));
    }
    None
}

#[cfg(test)]
mod tests;
