//! Settling: after a step's commands, judging its checks once the kernel has done what it
//! still owes, and not a moment longer.
//!
//! Most of what a line does is done when the line returns. What is not: a deleted namespace
//! is torn down by the kernel's cleanup worker (and the veth peers of its links vanish from
//! other namespaces then), a killed process exits when it next runs, IPv6 duplicate address
//! detection takes its time, a program started in the background needs a moment to start. The
//! step's effects say which of these it started; settle waits for those, with a generous bound
//! for a busy machine. A check that is false with nothing pending fails at once.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Engine, Verdict};
use crate::kernel::{KernelError, procs};
use crate::lesson::check::Check;
use crate::lesson::grammar::Op;
use crate::lesson::{CheckLine, CommandLine, Step, speaks_ipv6};
use crate::net::Ns;

/// The most settle waits for something that is really pending (a namespace teardown takes
/// about 30 ms on a quiet machine, seconds on a loaded one).
pub const SETTLE_MAX: Duration = Duration::from_secs(10);

/// The most settle waits for a teardown under way that nothing it can see holds (no process,
/// name, open file or mount). The kernel's cleanup worker is one for the whole machine, and
/// other jails' teardowns queue before it; and a socket of the namespace keeps it while it
/// closes: a TCP connection that did not end cleanly (its last packets lost, say to a NAT
/// rule that no longer matched them) keeps it until its retries run out, some 100 s. The
/// containers lesson's web server did so in about one run of twenty on a loaded machine (seen
/// with `perf record -e sock:inet_sock_set_state`).
pub const TEARDOWN_MAX: Duration = Duration::from_secs(120);

/// How long a program started in the background may take to be ready.
const STARTUP: Duration = Duration::from_secs(3);

/// How long a process killed by a line nslab cannot read (`kill PID`, `pkill -P ...`) may take
/// to be gone.
const STOPPING: Duration = Duration::from_secs(1);

/// The processor time a program started in the background may use and still be starting, for
/// the before-rule: a Python server spends some 60 ms of it before it listens.
const START_CPU: Duration = Duration::from_secs(1);

/// What a step's commands may leave the kernel to finish.
#[derive(Debug, Default)]
pub struct Owed {
    /// Veth ends in surviving namespaces whose peers are in namespaces the step deletes, with
    /// the inode of the deleted namespace (its teardown waits for any process still in it),
    /// the source line that deletes it, and the end's index (a link made again under its name,
    /// `ip netns del web` and the cable to it made again, is another link).
    peers: Vec<(Ns, String, Option<u64>, usize, u32)>,
    /// Programs the step starts in the background.
    starts: bool,
    /// Their names, where the lines name them.
    started: Vec<String>,
    /// A line nslab cannot read started something in the background: what, nslab cannot
    /// tell, nor whether it still starts.
    unnamed_start: bool,
    /// Names of processes the step kills; an empty name for a kill nslab cannot read.
    kills: Vec<String>,
    /// A namespace the step deletes whose links (or their peers' namespaces) could not be
    /// read: its teardown may owe something nslab cannot name.
    unread: bool,
    /// With a kill in the step: veth ends whose peers are in a namespace without a name (one
    /// deleted earlier that a process kept alive, or one a program made for itself). The kill
    /// may end the last process in it, and its teardown takes these ends along.
    orphans: Vec<(Ns, String)>,
    /// With a shell check in the step: addresses being resolved (an `incomplete` neighbour
    /// entry) before the step's lines, say by the check's own ping judged before the step.
    /// Packets to them wait in that entry, and fail, until it is resolved or given up (three
    /// requests, a second apart): a shell check that pings there waits for that.
    resolving: Vec<(Ns, IpAddr, String)>,
    began: Option<Instant>,
}

impl Owed {
    /// Looks, before the step's commands, at what they will leave pending; the line `skip`
    /// (a mutant's) will not run, and owes nothing.
    pub fn before(engine: &Engine, step: &Step, skip: Option<usize>) -> Owed {
        let mut owed = Owed::before_lines(engine, &step.commands, skip);
        let mut shells: Vec<Ns> = Vec::new();
        for c in &step.checks {
            if let Check::Shell { ns, .. } = strip(&c.check)
                && !shells.contains(ns)
            {
                shells.push(ns.clone());
            }
        }
        owed.resolving = incomplete(engine, &shells);
        owed
    }

    /// What these lines will leave pending (the line `skip` will not run): teardowns,
    /// programs started and killed. A step's hidden setup is looked at so too, before it runs.
    pub fn before_lines(engine: &Engine, lines: &[CommandLine], skip: Option<usize>) -> Owed {
        let mut owed = Owed {
            began: Some(Instant::now()),
            ..Owed::default()
        };
        for c in lines.iter().filter(|c| Some(c.line) != skip) {
            for p in &c.command.parts {
                match &p.op {
                    // Unmounting a namespace's name drops what held it, as ip netns del does.
                    Op::NetnsDel(n) | Op::UnbindNetns(n) => owed.teardown(engine, n, c.line),
                    Op::NetnsDelAll => {
                        for n in engine.kernel.netns_list() {
                            owed.teardown(engine, &n, c.line);
                        }
                    }
                    Op::Start(name) => {
                        owed.starts = true;
                        owed.started.push(name.clone());
                    }
                    Op::Kill(name) => {
                        if owed.kills.is_empty() {
                            owed.orphans = orphans(engine);
                        }
                        owed.kills.push(name.clone());
                    }
                    Op::Unknown { .. } if p.background => {
                        owed.starts = true;
                        owed.unnamed_start = true;
                    }
                    _ => {}
                }
            }
        }
        owed
    }

    /// The teardown that deleting namespace `n` will leave the kernel: the veth peers of its
    /// links, in other namespaces, vanish with it.
    fn teardown(&mut self, engine: &Engine, n: &str, line: usize) {
        let gone = Ns::Named(n.to_string());
        let inode = engine.kernel.netns_inode(&gone);
        match engine.kernel.snapshot(&gone) {
            Ok(s) => {
                for l in &s.links {
                    let Some(peer) = &l.peer else { continue };
                    match (&peer.ns, &peer.name) {
                        (Some(pns), Some(pname)) if *pns != gone => {
                            self.peers
                                .push((pns.clone(), pname.clone(), inode, line, peer.index));
                        }
                        (Some(_), _) => {}
                        // A peer elsewhere, in a namespace not found.
                        (None, _) => self.unread |= l.peer_elsewhere(),
                    }
                }
            }
            Err(_) => self.unread |= engine.kernel.netns_exists(n),
        }
    }

    /// Before line `c` runs: a link it makes may be named as a veth end that the teardown of a
    /// namespace deleted by an earlier line of the step takes along (`ip netns del blue`, then
    /// the cable made again at once). The kernel has not finished: the new link would clash
    /// with the old end ("File exists"), which a student typing the lines never meets. Waits
    /// for those ends to go, woken by link events, at most until [`Owed::lines_deadline`].
    pub fn before_line(&self, engine: &Engine, c: &CommandLine) {
        // The names the line gives links: made, renamed, or moved into a namespace.
        let mut made: Vec<(Ns, String)> = Vec::new();
        for p in &c.command.parts {
            let here = |n: &Option<crate::lesson::grammar::ip::NetnsArg>| {
                n.as_ref().map_or(Some(p.ns.clone()), |n| n.ns())
            };
            let mut named = |a: &crate::lesson::grammar::ip::LinkAttrs| {
                if let (Some(ns), Some(name)) = (here(&a.netns), a.link_name()) {
                    made.push((ns, name.to_string()));
                }
            };
            match &p.op {
                Op::LinkAdd(add) => {
                    named(&add.attrs);
                    if let Some(pa) = &add.peer {
                        named(pa);
                    }
                }
                Op::LinkSet(set) if set.attrs.rename().is_some() || set.attrs.netns.is_some() => {
                    named(&set.attrs)
                }
                _ => {}
            }
        }
        let waits: Vec<&(Ns, String, Option<u64>, usize, u32)> = self
            .peers
            .iter()
            .filter(|(ns, name, _, line, _)| {
                *line < c.line && made.iter().any(|(n, l)| n == ns && l == name)
            })
            .collect();
        if waits.is_empty() {
            return;
        }
        let ns: Vec<Ns> = waits.iter().map(|w| w.0.clone()).collect();
        let events = engine.kernel.events(&ns, false);
        let deadline = self.lines_deadline();
        loop {
            let now = Instant::now();
            let left = waits.iter().any(|(ns, name, gone, _, index)| {
                still_there(engine, ns, name, Some(*index))
                    && !gone.is_some_and(|i| holder(engine, i).is_some())
            });
            if !left || now >= deadline {
                return;
            }
            events.wait(LOOK_AGAIN.min(deadline - now));
        }
    }

    /// The namespaces of the addresses being resolved before the step.
    fn namespaces_resolving(&self) -> Vec<Ns> {
        let mut ns: Vec<Ns> = Vec::new();
        for (n, _, _) in &self.resolving {
            if !ns.contains(n) {
                ns.push(n.clone());
            }
        }
        ns
    }

    /// The latest a wait before one of the step's lines may last: the waits of a step's lines
    /// share one bound, so that a lesson cannot make each of many lines wait its own.
    pub fn lines_deadline(&self) -> Instant {
        self.began.unwrap_or_else(Instant::now) + SETTLE_MAX
    }

    /// The step's clock stood still for `d` (`--mutate` judged a mutant in the middle of the
    /// step): the grace periods counted from the step's start are moved on by as much.
    pub fn postpone(&mut self, d: std::time::Duration) {
        if let Some(b) = self.began.as_mut() {
            *b += d;
        }
    }

    /// Lines that did not run (a line before them failed): the teardowns they would have
    /// started are not owed.
    pub fn forget(&mut self, lines: impl Iterator<Item = usize>) {
        let lines: Vec<usize> = lines.collect();
        self.peers
            .retain(|(_, _, _, line, _)| !lines.contains(line));
    }

    /// Nothing to wait for: no teardown, no process coming or going.
    pub fn is_nothing(&self) -> bool {
        self.peers.is_empty() && !self.starts && self.kills.is_empty() && !self.unread
    }

    /// What the kernel still owes that the failing checks may be waiting for. `before`: for
    /// the before-rule, where the checks are false as a rule (that is what a step is for), only
    /// work that is seen going on counts (a teardown, a dying process, a program at work, an
    /// address in duplicate address detection); the grace periods that only guess (a kill that
    /// may start a teardown, a program that may still be starting) would make every step after
    /// a kill or a start wait out their whole length.
    fn pending(&self, engine: &Engine, failing: &[&Check], before: bool) -> Pending {
        let peer_left = self.peers.iter().any(|(ns, name, gone, _, index)| {
            let there = match ns {
                Ns::Root => true,
                Ns::Named(n) => engine.kernel.netns_exists(n),
            };
            // A process still in the deleted namespace (and not going), or another name of it,
            // keeps it, and the peer, alive: no teardown is coming.
            let held = || gone.is_some_and(|i| holder(engine, i).is_some());
            there && still_there(engine, ns, name, Some(*index)) && !held()
        });
        if peer_left || self.kills.iter().any(|k| !k.is_empty() && dying(k)) {
            return Pending::Kernel;
        }
        // The teardown a kill may start: its ends get a moment (the namespace may have another
        // process in it, and then nothing comes).
        let killing = !before && self.began.is_some_and(|b| b.elapsed() < STOPPING);
        if killing
            && any_of(failing, on_links)
            && self
                .orphans
                .iter()
                .any(|(ns, name)| still_there(engine, ns, name, None))
        {
            return Pending::Kernel;
        }
        // A teardown nslab could not read: the checks of links and of what travels over them
        // get a moment, as a kill nslab cannot name does.
        let unread = !before && self.unread && self.began.is_some_and(|b| b.elapsed() < STOPPING);
        if unread && any_of(failing, on_links) {
            return Pending::Starting;
        }
        // A kill of processes nslab cannot name: the processes the failing checks look for
        // get a moment to be gone.
        let stopping = !before
            && self
                .began
                .is_some_and(|b| self.kills.iter().any(String::is_empty) && b.elapsed() < STOPPING);
        if stopping
            && any_of(failing, |c| {
                matches!(
                    c,
                    Check::ProcessIsolated { .. } | Check::NetnsSameAs { .. } | Check::Shell { .. }
                )
            })
        {
            return Pending::Starting;
        }
        // A program still at work (runnable, or in a disk read) after that is still starting
        // on a loaded machine (a Python server importing its modules while eight jails run):
        // it gets up to the settle bound.
        // A program that could not start (no such file) or ended at once is not coming: the
        // checks waiting for it fail now, not after STARTUP.
        // For the before-rule, a program at work is still starting only while it has used
        // little processor time: one that stays busy (`yes > /dev/null &`, a traffic
        // generator) is at work for good, and made every step after it wait the settle bound.
        let at_work = || {
            if before {
                engine.kernel.starting(&self.started, START_CPU)
            } else {
                engine.kernel.at_work(&self.started)
            }
        };
        let young = self.began.is_some_and(|b| {
            self.starts
                && (b.elapsed() < STARTUP && !before || b.elapsed() < SETTLE_MAX && at_work())
        }) && (self.unnamed_start
            || engine.kernel.launching(&engine.launched, &self.started));
        if young
            && any_of(failing, |c| {
                matches!(
                    c,
                    Check::Shell { .. }
                        | Check::ProcessIsolated { .. }
                        | Check::NetnsSameAs { .. }
                        | Check::Ping { .. }
                )
            })
        {
            return Pending::Starting;
        }
        // An address being resolved since before the step: a shell check's packets to it wait
        // for the entry to be resolved or given up.
        let resolving = !before && self.began.is_some_and(|b| b.elapsed() < RESOLVING);
        if resolving
            && !self.resolving.is_empty()
            && any_of(failing, |c| matches!(c, Check::Shell { .. }))
            && incomplete(engine, &self.namespaces_resolving())
                .iter()
                .any(|n| self.resolving.contains(n))
        {
            return Pending::Kernel;
        }
        // IPv6 addresses still in duplicate address detection (a shell check may be an IPv6
        // ping or a connection: it may be waiting for them too).
        if any_of(failing, waits_for_dad) && tentative(engine) {
            return Pending::Kernel;
        }
        Pending::Nothing
    }
}

impl Owed {
    /// Waits while the kernel owes work the failing checks may be waiting for, until
    /// `deadline`: woken by the events that end it (a veth peer's link going, an IPv6 address
    /// leaving duplicate address detection), and looking again every [`LOOK_AGAIN`] in case
    /// the end came another way. A killed process has no event nslab can hear without a pidfd:
    /// with a kill pending, it looks every [`LOOK_KILLED`].
    fn wait_kernel(&self, engine: &Engine, failing: &[&Check], deadline: Instant, before: bool) {
        let mut ns: Vec<Ns> = Vec::new();
        let ends = self.peers.iter().map(|(n, _, _, _, _)| n);
        let resolving = self.resolving.iter().map(|(n, _, _)| n);
        for n in ends
            .chain(self.orphans.iter().map(|(n, _)| n))
            .chain(resolving)
        {
            if !ns.contains(n) {
                ns.push(n.clone());
            }
        }
        let six = any_of(failing, waits_for_dad);
        if six {
            for n in engine.lab_namespaces() {
                if !ns.contains(&n) {
                    ns.push(n);
                }
            }
        }
        // Subscribed before the first look: nothing that ends the wait after it is missed.
        let events = engine.kernel.events(&ns, six);
        let tick = if self.kills.is_empty() && !events.is_empty() {
            LOOK_AGAIN
        } else {
            LOOK_KILLED
        };
        loop {
            let now = Instant::now();
            if now >= deadline || self.pending(engine, failing, before) != Pending::Kernel {
                return;
            }
            let wait = tick.min(deadline - now);
            if events.is_empty() {
                std::thread::sleep(wait);
            } else {
                events.wait(wait);
            }
        }
    }
}

/// The veth ends, in the root namespace and the lesson's, whose peers are in a namespace
/// without a name.
fn orphans(engine: &Engine) -> Vec<(Ns, String)> {
    engine
        .lab_namespaces()
        .into_iter()
        .filter_map(|ns| engine.kernel.snapshot(&ns).ok().map(|s| (ns, s)))
        .flat_map(|(ns, s)| {
            s.links
                .iter()
                .filter(|l| l.peer.as_ref().is_some_and(|p| p.ns.is_none()) && l.peer_elsewhere())
                .map(|l| (ns.clone(), l.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What keeps a deleted namespace alive.
enum Holder {
    /// A process in it that is not going.
    Process(u32),
    /// Another name of it, a bind mount in /run/netns.
    Name(String),
    /// A process outside it by an open file of it, or a mount of it elsewhere (see
    /// [`procs::netns_kept_by`]).
    Kept(procs::Keeper),
}

/// What keeps the namespace of this inode alive, if anything: a process, or another name.
fn holder(engine: &Engine, inode: u64) -> Option<Holder> {
    if let Some(pid) = procs::pids_in_netns(inode)
        .into_iter()
        .find(|p| !procs::is_dying(*p))
    {
        return Some(Holder::Process(pid));
    }
    engine
        .kernel
        .netns_list()
        .into_iter()
        .find(|n| engine.kernel.netns_inode(&Ns::Named(n.clone())) == Some(inode))
        .map(Holder::Name)
        .or_else(|| procs::netns_kept_by(inode).map(Holder::Kept))
}

/// Whether the link is still there (with `index`: that very link, not one made since under its
/// name). A lookup that fails for another reason than the link (or its namespace) being gone
/// says nothing: the teardown is taken as still owed, and looked at again, rather than judged
/// over.
fn still_there(engine: &Engine, ns: &Ns, name: &str, index: Option<u32>) -> bool {
    match engine.kernel.link(ns, name) {
        Err(KernelError::NoSuchLink { .. } | KernelError::NoSuchNetns(_)) => false,
        // Another link made since under that name is not the end that was owed.
        Ok(l) => index.is_none_or(|i| l.index == i),
        Err(_) => true,
    }
}

impl Owed {
    /// Why a failing check about link `name` of `ns` was not waited for, when that link is the
    /// veth peer of a link in a deleted namespace that a process still holds: the kernel keeps
    /// a namespace, and its links, while anything uses it, so the peer stays. Students meet
    /// this when a program they started in the namespace still runs.
    fn held_cause(&self, engine: &Engine, ns: &Ns, name: &str) -> Option<String> {
        let (_, _, gone, _, index) = self
            .peers
            .iter()
            .find(|(n, l, _, _, _)| n == ns && l == name)?;
        let holder = holder(engine, (*gone)?)?;
        if !still_there(engine, ns, name, Some(*index)) {
            return None;
        }
        let why = match holder {
            Holder::Process(pid) => match procs::comm(pid) {
                Some(c) => format!("process {pid} ({c}) still runs in it"),
                None => format!("process {pid} still runs in it"),
            },
            Holder::Name(other) => {
                format!("it still has another name, {other} (/run/netns/{other})")
            }
            Holder::Kept(procs::Keeper::File(pid)) => match procs::comm(pid) {
                Some(c) => format!("process {pid} ({c}) keeps it by an open file"),
                None => format!("process {pid} keeps it by an open file"),
            },
            Holder::Kept(procs::Keeper::Mount(at)) => {
                format!("it is still mounted on {at} (`umount {at}` lets it go)")
            }
        };
        Some(format!(
            "{name} stays because the deleted namespace of its peer lives on: {why}, and the \
             kernel tears a namespace (and its links) down only when nothing uses it any more"
        ))
    }
}

/// How often a wait past [`SETTLE_MAX`] looks again for what holds a namespace.
const LOOK_UNHELD: Duration = Duration::from_secs(1);

impl Owed {
    /// A veth end is still owed by a deleted namespace that nothing nslab can see holds: no
    /// process in it, no other name, no open file of it, no mount of it elsewhere.
    fn teardown_unheld(&self, engine: &Engine) -> bool {
        self.peers.iter().any(|(ns, name, gone, _, index)| {
            gone.is_some_and(|i| holder(engine, i).is_none())
                && engine.kernel.ns_exists(ns)
                && still_there(engine, ns, name, Some(*index))
        })
    }
}

/// After a wait past [`SETTLE_MAX`] for a teardown that nothing seen held: each failing check
/// about a veth end still owed says so, and what may hold the namespace.
fn explain_unheld(
    engine: &Engine,
    owed: &Owed,
    checks: &[CheckLine],
    verdicts: &mut [Verdict],
    waited: Duration,
) {
    for (c, v) in checks.iter().zip(verdicts.iter_mut()) {
        if v.pass || v.cause.is_some() {
            continue;
        }
        let Check::Link { name, ns, .. } = strip(&c.check) else {
            continue;
        };
        let Some((_, _, Some(inode), _, index)) = owed
            .peers
            .iter()
            .find(|(n, l, _, _, _)| n == ns && l == name)
        else {
            continue;
        };
        if !still_there(engine, ns, name, Some(*index)) {
            continue;
        }
        if holder(engine, *inode).is_some() {
            continue;
        }
        v.cause = Some(format!(
            "{name} is still there {:.0} s after its peer's namespace was deleted, though no \
             process, name, open file or mount keeps that namespace: a socket of it may (a TCP \
             connection that did not close cleanly keeps it up to some 100 s), or the kernel's \
             cleanup worker is far behind",
            waited.as_secs_f64()
        ));
    }
}

/// Gives each failing check about a link that a held namespace keeps (the link itself, an
/// address or route on it, a neighbour or FDB entry of it) that cause (see
/// [`Owed::held_cause`]), where it has none.
fn explain_held(engine: &Engine, owed: &Owed, checks: &[CheckLine], verdicts: &mut [Verdict]) {
    if owed.peers.is_empty() {
        return;
    }
    for (c, v) in checks.iter().zip(verdicts.iter_mut()) {
        if v.pass || v.cause.is_some() {
            continue;
        }
        if let Some((ns, name)) = link_of(&c.check) {
            v.cause = owed.held_cause(engine, ns, name);
        }
    }
}

/// The link a check is about: the link itself, or the one an address, route, neighbour or
/// FDB entry it looks for is on.
fn link_of(c: &Check) -> Option<(&Ns, &String)> {
    match strip(c) {
        Check::Link { name, ns, .. } => Some((ns, name)),
        Check::Addr { dev, ns, .. } => Some((ns, dev)),
        Check::Route { ns, route } => route.dev.as_ref().map(|d| (ns, d)),
        Check::Neigh { ns, dev, .. } => dev.as_ref().map(|d| (ns, d)),
        Check::Fdb { ns, port, .. } => Some((ns, port)),
        _ => None,
    }
}

impl Owed {
    /// Whether a check is about a veth end that a teardown nothing seen holds is about to
    /// take: it holds now (`link outer exists` right after `ip netns del box`), but not once
    /// the kernel has done what the step asked of it, a moment later.
    fn about_to_vanish(&self, engine: &Engine, checks: &[CheckLine]) -> bool {
        checks
            .iter()
            .filter_map(|c| link_of(&c.check))
            .any(|(ns, name)| {
                self.peers.iter().any(|(n, l, gone, _, index)| {
                    n == ns
                        && l == name
                        && gone.is_some_and(|i| holder(engine, i).is_none())
                        && engine.kernel.ns_exists(ns)
                        && still_there(engine, ns, name, Some(*index))
                })
            })
    }
}

/// Before verify's before-rule judges a step's checks (`held`): what the kernel still owes
/// makes checks true by itself, without the step: the teardown the last step started (a
/// deleted namespace's veth peers vanish), duplicate address detection of the IPv6 addresses
/// present (a link-local address on a link just up becomes usable a second or two later), a
/// program the last step started in the background that is still starting (a server not yet
/// listening). A check judged false before that and true after it would seem made true by the
/// step; judged after it, it is seen true before the step, which is what it is. Waits until
/// that work is done, woken by its events where it has them, at most [`SETTLE_MAX`].
pub fn before_rule(engine: &mut Engine, held: &[&Check]) {
    let owed = engine.owed.take().unwrap_or_default();
    if held.is_empty() {
        return;
    }
    let deadline = Instant::now() + SETTLE_MAX;
    while Instant::now() < deadline {
        match owed.pending(engine, held, true) {
            Pending::Nothing => return,
            Pending::Kernel => owed.wait_kernel(engine, held, deadline, true),
            Pending::Starting => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Notes what a step run left owing, for [`before_rule`] before the next one.
pub fn left_owing(engine: &mut Engine, owed: Owed) {
    engine.owed = Some(owed);
}

/// Adds what a step's hidden setup left owing (a namespace it deleted, a program it started)
/// to what the step before left, for [`before_rule`]: a check judged before that teardown
/// ended saw the peer still there, and was taken for true before its step.
pub fn setup_owing(engine: &mut Engine, setup: Owed) {
    let mut owed = engine.owed.take().unwrap_or_default();
    owed.peers.extend(setup.peers);
    owed.starts |= setup.starts;
    owed.started.extend(setup.started);
    owed.unnamed_start |= setup.unnamed_start;
    owed.kills.extend(setup.kills);
    owed.unread |= setup.unread;
    owed.orphans.extend(setup.orphans);
    owed.resolving.extend(setup.resolving);
    owed.began = owed.began.max(setup.began);
    engine.owed = Some(owed);
}

/// Before a line: one that sends over IPv6 (`ping -6`, a program given an IPv6
/// address) would find an address still in duplicate address detection unusable ("Cannot
/// assign requested address"), which a student typing a moment later never meets. Waits until
/// none is left, woken by the kernel's IPv6 address events, at most until `deadline` (the
/// step's, see [`Owed::lines_deadline`]). Lines that configure (`ip -6 address add`) do not
/// wait.
pub fn before_ipv6_line(engine: &Engine, c: &CommandLine, deadline: Instant) {
    let sends = c.command.parts.iter().any(|p| match &p.op {
        Op::Ping(ping) => ping.addr.is_ipv6(),
        Op::Unknown { .. } | Op::Start(_) | Op::Observe => speaks_ipv6(&c.text),
        _ => false,
    });
    if !sends {
        return;
    }
    let mut events = None;
    while tentative(engine) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let events =
            events.get_or_insert_with(|| engine.kernel.events(&engine.lab_namespaces(), true));
        events.wait(LOOK_AGAIN.min(deadline - now));
    }
}

/// A check whose answer a link's presence changes.
fn on_links(c: &Check) -> bool {
    matches!(
        strip(c),
        Check::Link { .. }
            | Check::Addr { .. }
            | Check::Route { .. }
            | Check::Neigh { .. }
            | Check::Fdb { .. }
            | Check::Ping { .. }
    )
}

/// The neighbour entries of these namespaces that are being resolved.
fn incomplete(engine: &Engine, namespaces: &[Ns]) -> Vec<(Ns, IpAddr, String)> {
    namespaces
        .iter()
        .filter_map(|ns| {
            let snap = engine.kernel.snapshot(ns).ok()?;
            let neighs = engine.kernel.neighbours(&snap).ok()?;
            Some(
                neighs
                    .into_iter()
                    .filter(|n| n.state == "incomplete")
                    .map(|n| (ns.clone(), n.addr, n.dev))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// The most a shell check waits for an address being resolved before its step: the kernel
/// gives up after three requests a second apart (`mcast_solicit`, `retrans_time_ms`).
const RESOLVING: Duration = Duration::from_secs(4);

/// How often a wait woken by events looks again without one.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// How often a wait for a killed process to be gone looks.
const LOOK_KILLED: Duration = Duration::from_millis(2);

/// What settle may wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Nothing,
    /// Work the kernel does on its own, cheap to watch: wait until it is done, then judge.
    Kernel,
    /// A program the step started in the background is still young: judge again shortly.
    Starting,
}

/// Whether any of these checks, `not` taken off, is of a kind `kind` names.
fn any_of(checks: &[&Check], kind: impl Fn(&Check) -> bool) -> bool {
    checks.iter().any(|c| kind(strip(c)))
}

fn strip(c: &Check) -> &Check {
    c.plain()
}

/// A check that an IPv6 address in duplicate address detection may keep false: one about IPv6,
/// or a shell check whose command speaks IPv6 (`ping -6`, an IPv6 address). Every link that
/// comes up has a link-local address in detection for a second or two: an IPv4 shell check
/// must not wait for that.
fn waits_for_dad(c: &Check) -> bool {
    six(c) || matches!(strip(c), Check::Shell { command, .. } if speaks_ipv6(command))
}

fn six(c: &Check) -> bool {
    match strip(c) {
        Check::Ping { addr, .. } | Check::Pinged { addr, .. } => addr.is_ipv6(),
        Check::Addr { cidr, .. } => !cidr.is_v4(),
        Check::Route { route, .. } => route.dest.is_some_and(|d| !d.is_v4()),
        Check::Neigh { addr, .. } => addr.is_ipv6(),
        _ => false,
    }
}

/// Any IPv6 address of the lesson's namespaces in duplicate address detection: tentative on
/// a link that is up and has a carrier (without one, DAD has not begun, and may never), and
/// not failed.
fn tentative(engine: &Engine) -> bool {
    engine
        .lab_namespaces()
        .into_iter()
        .filter_map(|ns| engine.kernel.snapshot(&ns).ok())
        .any(|s| {
            s.addrs.iter().any(|a| {
                a.tentative
                    && !a.dadfailed
                    && matches!(a.cidr.addr, IpAddr::V6(_))
                    && s.links
                        .iter()
                        .any(|l| l.index == a.index && l.up && l.lower_up)
            })
        })
}

/// A process of this name is going (a fatal signal pending, or exited and not yet reaped): a
/// check about it should wait for it to be gone.
fn dying(name: &str) -> bool {
    procs::pids_named(name).into_iter().any(procs::is_dying)
}

/// For a step that only brings the lab along (to a later step): waits for what it started, by
/// judging the checks that may be waiting for something (a program starting, a process or a
/// namespace going), and not the expected failures (`not ping`, `not sh`), which would only
/// cost their timeouts. The verdicts are not kept.
pub fn settle_prefix(engine: &Engine, step: &Step, owed: &Owed) {
    // Nothing started, killed or torn down: the step's state is final as its lines leave it
    // (IPv6 addresses aside, which may still be in duplicate address detection).
    if owed.is_nothing() && !step.checks.iter().any(|c| waits_for_dad(&c.check)) {
        return;
    }
    let waiting: Vec<CheckLine> = step
        .checks
        .iter()
        .filter(|c| {
            !matches!(&c.check, Check::Not(inner)
                if matches!(**inner, Check::Ping { .. } | Check::Shell { .. }))
        })
        .cloned()
        .collect();
    if waiting.is_empty() {
        wait_owed(engine, owed);
    } else {
        settle(engine, &waiting, owed);
    }
}

/// Waits until the kernel has done the work the step left it (teardowns, kills), at most
/// [`SETTLE_MAX`], without judging anything.
pub fn wait_owed(engine: &Engine, owed: &Owed) {
    owed.wait_kernel(engine, &[], Instant::now() + SETTLE_MAX, false);
}

/// A check that may take its time to answer: a probe that waits for a reply, a shell command.
fn slow(c: &Check) -> bool {
    matches!(strip(c), Check::Ping { .. } | Check::Shell { .. })
}

/// A check about what nothing the kernel still owes can change: whether a namespace name
/// exists (`ip netns del` removes it at once; the teardown that follows is the namespace's,
/// not its name's), or the value of a sysctl. A failure of such a check is final as soon as it
/// is seen.
fn final_at_once(c: &Check) -> bool {
    matches!(strip(c), Check::Netns { .. } | Check::Sysctl { .. })
}

/// [`settle`] for a step that one failure decides: the checks that answer at once first; the
/// slow ones (pings, shell checks) only when all of those pass. A failure that nothing pending
/// can change decides at once, without waiting for a teardown it does not depend on; the
/// failures that were still waiting then are left unjudged. A check left unjudged is `None`.
pub fn settle_cheap_first(
    engine: &Engine,
    checks: &[CheckLine],
    owed: &Owed,
) -> Vec<Option<Verdict>> {
    let (slow_ones, quick): (Vec<usize>, Vec<usize>) =
        (0..checks.len()).partition(|&i| slow(&checks[i].check));
    let mut out: Vec<Option<Verdict>> = vec![None; checks.len()];
    let mut judge = |idx: &[usize]| -> bool {
        let some: Vec<CheckLine> = idx.iter().map(|&i| checks[i].clone()).collect();
        let verdicts = settle_until(engine, &some, owed, true);
        let all_pass = verdicts.iter().all(|v| v.pass);
        let decided = verdicts
            .iter()
            .zip(&some)
            .any(|(v, c)| !v.pass && final_at_once(&c.check));
        for ((&i, v), c) in idx.iter().zip(verdicts).zip(&some) {
            // Decided by a final failure: another failure may only have been early.
            if decided && !v.pass && !final_at_once(&c.check) {
                continue;
            }
            out[i] = Some(v);
        }
        all_pass
    };
    if judge(&quick) {
        judge(&slow_ones);
    }
    out
}

/// Judges the step's checks after its commands: at once when they hold or nothing is pending,
/// else when the kernel has done what it owed (or [`SETTLE_MAX`] has passed).
pub fn settle(engine: &Engine, checks: &[CheckLine], owed: &Owed) -> Vec<Verdict> {
    settle_until(engine, checks, owed, false)
}

/// [`settle`]; with `first_final`, it returns as soon as one failure is final (see
/// [`final_at_once`]).
fn settle_until(
    engine: &Engine,
    checks: &[CheckLine],
    owed: &Owed,
    first_final: bool,
) -> Vec<Verdict> {
    let start = Instant::now();
    let mut deadline = start + SETTLE_MAX;
    let dad_sensitive = checks.iter().any(|c| waits_for_dad(&c.check));
    // Whether the verdicts come from a look taken after the kernel was seen owing nothing.
    let mut looked_after = owed.is_nothing();
    let mut waited_vanish = false;
    loop {
        // Whether duplicate address detection runs while the checks are judged: a check that
        // takes its time (a shell check's `ping -6 -W 1`) may fail for it, and see it end.
        let dad = dad_sensitive && tentative(engine);
        let verdicts = engine.evaluate(checks);
        let failing: Vec<&Check> = checks
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| !v.pass)
            .map(|(c, _)| &c.check)
            .collect();
        if failing.is_empty() && !waited_vanish && owed.about_to_vanish(engine, checks) {
            // A check that holds only until the teardown the step started takes its link
            // would be judged too early: it is judged again after the teardown.
            waited_vanish = true;
            let all: Vec<&Check> = checks.iter().map(|c| &c.check).collect();
            owed.wait_kernel(engine, &all, deadline, false);
            continue;
        }
        if failing.is_empty() || (first_final && failing.iter().any(|c| final_at_once(c))) {
            return verdicts;
        }
        if Instant::now() >= deadline {
            // A teardown that nothing seen holds is still coming: the kernel is behind.
            let now = Instant::now();
            if now < start + TEARDOWN_MAX && owed.teardown_unheld(engine) {
                deadline = (now + LOOK_UNHELD).min(start + TEARDOWN_MAX);
                owed.wait_kernel(engine, &failing, deadline, false);
                continue;
            }
            let mut verdicts = verdicts;
            explain_held(engine, owed, checks, &mut verdicts);
            explain_unheld(engine, owed, checks, &mut verdicts, start.elapsed());
            return verdicts;
        }
        if dad && any_of(&failing, waits_for_dad) {
            owed.wait_kernel(engine, &failing, deadline, false);
            continue;
        }
        match owed.pending(engine, &failing, false) {
            // The work may have ended between the look and this question (a veth end gone
            // just after the check saw it): the failures are judged once more, after it.
            Pending::Nothing if !looked_after => looked_after = true,
            Pending::Nothing => {
                let mut verdicts = verdicts;
                explain_held(engine, owed, checks, &mut verdicts);
                return verdicts;
            }
            // Wait for the work itself (cheap to look at), then judge again.
            Pending::Kernel => {
                owed.wait_kernel(engine, &failing, deadline, false);
                // The next look comes after the wait: after the work, unless time ran out.
                looked_after = true;
            }
            Pending::Starting => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
