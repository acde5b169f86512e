//! The engine every mode shares: perform a step's commands, judge its checks, keep the ledger
//! of what nslab made. Verify, demo and learn are policies over it (see [`runner`]): when to
//! judge, who performs, what to show.

pub mod facts;
pub mod judge;
pub mod ledger;
pub mod native;
pub mod runner;
pub mod settle;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kernel::pingwatch::{EchoSeen, PingWatch};
use crate::kernel::{Kernel, KernelError, SysctlSet};
use crate::lesson::check::Check;
use crate::lesson::effect::Creations;
use crate::lesson::grammar::{Op, Ping, SysctlBy};
use crate::lesson::{CheckLine, CommandLine, Lesson, Step};
use crate::net::Ns;
pub use facts::{PING_CHECK_TIMEOUT, Round, RunInfo};
pub use judge::{Facts, PingActivity, Verdict, judge};
use ledger::{Entry, Ledger, ns_ref};

/// How long a shell line may run before nslab gives up on it.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a program a line starts in the background may take to start (to enter its
/// namespace and be itself) before the next line runs.
const STARTING: Duration = Duration::from_secs(1);

/// How commands are paced: verify runs flat out; demo keeps ping's rhythm for the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Fast,
    Real,
}

/// What performing one command line gave.
#[derive(Debug, Clone)]
pub struct Performed {
    pub ok: bool,
    /// What the command printed (ping's replies, a shell line's output).
    pub output: String,
    /// On failure, the error in the program's voice: `ip link set dev veth0 netns blue: ...`.
    pub error: Option<String>,
    pub duration: Duration,
}

pub struct Engine {
    pub kernel: Kernel,
    pub ledger: Ledger,
    pub pace: Pace,
    run: RunInfo,
    watch: Option<PingWatch>,
    /// The process groups of this step's lines that left something running in the background
    /// (see [`settle`]: what they started may still be starting).
    launched: Vec<i32>,
    /// By step (its index): where the lesson's lines have put links and addresses when it
    /// ends (see [`facts::RunInfo::lesson_places`]).
    step_places: Vec<StepPlaces>,
    /// Called after each line is performed (demo writes down what the line made).
    after_line: Option<AfterLine>,
    /// What the last step run left the kernel to finish (a teardown its checks did not wait
    /// for): verify's before-rule lets it finish before it judges the next step.
    owed: Option<settle::Owed>,
}

/// What [`Engine::after_each_line`] does.
type AfterLine = Box<dyn FnMut(&Kernel)>;

/// A step's index, the links (namespace, name) and addresses (namespace, link, address) of
/// the lesson when it ends.
type StepPlaces = (
    usize,
    Arc<std::collections::HashSet<(Ns, String)>>,
    Arc<std::collections::HashSet<(Ns, String, std::net::IpAddr)>>,
);

/// Judges checks in a round the caller holds (each namespace dumped at most once in it, also
/// for what the caller judges next in the same round).
pub fn evaluate_in(round: &mut Round<'_>, checks: &[CheckLine]) -> Vec<Verdict> {
    round.prefetch(checks.iter().map(|c| &c.check));
    checks.iter().map(|c| judge(&c.check, round)).collect()
}

impl Engine {
    pub fn new(kernel: Kernel, pace: Pace) -> Self {
        let run = RunInfo::new(&kernel, Vec::new());
        Engine {
            kernel,
            ledger: Ledger::default(),
            pace,
            run,
            step_places: Vec::new(),
            after_line: None,
            watch: None,
            launched: Vec::new(),
            owed: None,
        }
    }

    /// The lesson the engine works for: its namespaces are where checks and pictures look.
    pub fn set_lesson(&mut self, lesson: &Lesson) {
        let made = Creations::of(lesson);
        let mut links: Vec<String> = made.links.into_iter().map(|(_, l)| l).collect();
        let mut names: Vec<String> = made.netns.into_iter().collect();
        // Where the lesson's lines put links and addresses, as each step ends (the effect
        // model's state): a check of a step is judged against its own step's.
        let mut world = crate::lesson::effect::World::new();
        self.step_places = lesson
            .steps
            .iter()
            .map(|step| {
                world.run_step(step);
                (
                    step.index,
                    Arc::new(world.links.keys().cloned().collect()),
                    Arc::new(
                        world
                            .addrs
                            .keys()
                            .map(|(ns, dev, c)| (ns.clone(), dev.clone(), c.addr))
                            .collect(),
                    ),
                )
            })
            .collect();
        for step in &lesson.steps {
            for c in &step.checks {
                if let crate::lesson::check::Check::Link { name, pred, .. } = &c.check {
                    links.push(name.clone());
                    if let crate::lesson::check::LinkPred::Peer { name, .. } = pred {
                        links.push(name.clone());
                    }
                }
                for ns in c.check.namespaces() {
                    if let Ns::Named(n) = ns
                        && !names.contains(n)
                    {
                        names.push(n.clone());
                    }
                }
            }
        }
        self.run.lesson_ns_set = Arc::new(names.iter().cloned().collect());
        self.run.lesson_ns = Arc::new(names);
        self.run.lesson_links = Arc::new(links.into_iter().collect());
    }

    /// Probes younger than this are not sent again (learn: its checks are judged on every
    /// kernel event).
    pub fn reuse_probes_for(&mut self, age: Duration) {
        self.run.probe_max_age = age;
    }

    /// The student acts on the lab while checks run (learn): see `RunInfo::student_acts`.
    pub fn student_acts_meanwhile(&mut self) {
        self.run.student_acts = true;
    }

    /// Processes started since `ticks` (clock ticks since boot) count as the student's, not
    /// only those since this run began: a lesson resumed in a new session keeps the program
    /// the student started in an earlier one.
    pub fn processes_since(&mut self, ticks: u64) {
        self.run.since_ticks = self.run.since_ticks.min(ticks);
    }

    /// The lesson's named namespaces.
    pub fn lesson_namespaces(&self) -> &[String] {
        &self.run.lesson_ns
    }

    /// The root namespace and the lesson's named ones: where a lab's links are.
    pub fn lab_namespaces(&self) -> Vec<Ns> {
        std::iter::once(Ns::Root)
            .chain(self.run.lesson_ns.iter().map(|n| Ns::Named(n.clone())))
            .collect()
    }

    /// Waits until the kernel has done the work the last step left it (a teardown, a kill),
    /// at most [`settle::SETTLE_MAX`]; what is owed stays noted for the next step.
    pub fn wait_owed(&mut self) {
        if let Some(owed) = self.owed.take() {
            settle::wait_owed(self, &owed);
            self.owed = Some(owed);
        }
    }

    /// What `--mutate` compares between the lesson's own run and a run that reached the end of
    /// the same step another way (see `runner::catch_up`): the root namespace and the named
    /// ones, and in each its links by name (kind, MTU, up, master, peer, alias and other
    /// names), each link's addresses and the routes of every table, both in the kernel's order
    /// (the first address of a subnet is the primary one; of two routes alike, the first is
    /// taken), but the `local` table's sorted. Not what timing, chance or nslab's probes
    /// decide: link indexes, MACs, carrier, neighbours, IPv6 link-local addresses (made from
    /// the MAC) and their routes, and multicast routes (added when the kernel gets to it, link
    /// by link). `None` when a namespace cannot be read. A hash: equal states give equal hashes
    /// in every process of one binary.
    /// Whether checks of this run flushed a namespace's route cache (see `Round`'s removal of
    /// traces): a route exception the student's traffic made may be gone, where a run that
    /// judged fewer checks kept it.
    pub fn checks_flushed_routes(&self) -> bool {
        self.run.flushes.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    pub fn state_digest(&self) -> Option<u64> {
        use std::fmt::Write;
        use std::hash::{Hash, Hasher};
        const LOCAL_TABLE: u32 = 255;
        // fe80::/10: the link-local addresses, and the route to them, which the kernel adds
        // when a link comes up, at a moment of its own.
        let link_local = |c: crate::net::Cidr| match c.addr {
            std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
            std::net::IpAddr::V4(_) => false,
        };
        let multicast = |c: crate::net::Cidr| c.addr.is_multicast();
        let mut names = self.kernel.netns_list();
        names.sort();
        let mut text = String::new();
        for ns in std::iter::once(Ns::Root).chain(names.into_iter().map(Ns::Named)) {
            let snap = self.kernel.snapshot(&ns).ok()?;
            let routes6 = self.kernel.routes6(&snap).ok()?;
            let _ = writeln!(text, "ns {ns}");
            let mut links: Vec<_> = snap.links.iter().collect();
            links.sort_by(|a, b| a.name.cmp(&b.name));
            for l in links {
                let peer = l
                    .peer
                    .as_ref()
                    .map(|p| (p.name.clone(), p.ns.as_ref().map(|n| n.to_string())));
                let _ = writeln!(
                    text,
                    "link {} {:?} {:?} {} {:?} {:?} {:?} {:?}",
                    l.name, l.kind, l.mtu, l.up, l.master, peer, l.alias, l.altnames
                );
            }
            // The kernel lists addresses link by link, in the order of the links' indexes;
            // each link's in its own order, which decides the primary address.
            let mut addrs: Vec<_> = snap.addrs.iter().filter(|a| !link_local(a.cidr)).collect();
            addrs.sort_by(|a, b| a.link.cmp(&b.link));
            for a in addrs {
                let _ = writeln!(
                    text,
                    "addr {} {} {:?} {:?} {:?} {}",
                    a.link, a.cidr, a.peer, a.brd, a.label, a.scope
                );
            }
            let route = |r: &crate::kernel::Route| {
                format!(
                    "route {} {} {:?} {:?} {:?} {:?} {:?} {:?} {}",
                    r.table, r.kind, r.dest, r.via, r.dev, r.metric, r.nexthops, r.src, r.tos
                )
            };
            let all = || snap.routes.iter().chain(&routes6);
            for r in all().filter(|r| r.table != LOCAL_TABLE && !r.dest.is_some_and(link_local)) {
                let _ = writeln!(text, "{}", route(r));
            }
            // The local table, in an order of its own: the kernel's is that of the links coming
            // up (IPv6's multicast route of each), which the comparison leaves out.
            let mut local: Vec<String> = all()
                .filter(|r| {
                    r.table == LOCAL_TABLE && !r.dest.is_some_and(|d| link_local(d) || multicast(d))
                })
                .map(route)
                .collect();
            local.sort();
            for r in local {
                let _ = writeln!(text, "{r}");
            }
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        Some(h.finish())
    }

    /// A step begins: action checks count from now, and the student's pings are watched in
    /// the namespaces its checks name and, when it has such a check, the lab's others.
    pub fn begin_step(&mut self, step: &Step) {
        self.run.step_began = Instant::now();
        self.launched.clear();
        if let Ok(mut m) = self.run.no_routes.lock() {
            m.clear();
        }
        self.note_sysctls(step);
        self.watch_pings(step);
        if let Some((_, places, addrs)) = self.step_places.iter().find(|p| p.0 == step.index) {
            self.run.lesson_places = places.clone();
            self.run.lesson_addrs = addrs.clone();
        }
    }

    /// Reads the sysctls the step's checks name, in the root namespace and every lesson
    /// namespace that exists, as the step begins (see [`facts::RunInfo::sysctls_at_start`]).
    fn note_sysctls(&mut self, step: &Step) {
        let keys: Vec<String> = step
            .checks
            .iter()
            .filter_map(|c| match c.check.plain() {
                Check::Sysctl { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        let Ok(mut m) = self.run.sysctls_at_start.lock() else {
            return;
        };
        m.clear();
        if keys.is_empty() {
            return;
        }
        let scope = self
            .lab_namespaces()
            .into_iter()
            .filter(|ns| self.kernel.ns_exists(ns));
        for ns in scope {
            for k in &keys {
                if let Ok(v) = self.kernel.sysctl_read(&ns, k) {
                    m.insert((ns.clone(), k.clone()), v);
                }
            }
        }
    }

    /// (Re)starts the ping watch for a step's action checks, in the namespaces that exist now.
    pub fn watch_pings(&mut self, step: &Step) {
        let mut wanted: Vec<Ns> = step
            .checks
            .iter()
            .filter_map(|c| match c.check.plain() {
                Check::Pinged { from, .. } => Some(from.clone()),
                _ => None,
            })
            .collect();
        wanted.dedup();
        let exists = |ns: &Ns| self.kernel.ns_exists(ns);
        // A namespace the step has still to make starts its counters at 0: a failed ping
        // from it, right after the student made it, counts from there (its counter was read
        // only once the watch was started again, after the ping, and the ping was lost).
        if let Ok(mut m) = self.run.no_routes.lock() {
            for ns in wanted.iter().filter(|ns| !exists(ns)) {
                m.entry(ns.clone()).or_insert(0);
            }
        }
        wanted.retain(|ns| exists(ns));
        if wanted.is_empty() {
            self.watch = None;
            return;
        }
        // The student's pings that find no route leave no packet: their namespace's counter
        // of such attempts is read now, and compared later.
        if let Ok(mut m) = self.run.no_routes.lock() {
            for ns in &wanted {
                if !m.contains_key(ns)
                    && let Some(v) = self.kernel.out_no_routes(ns)
                {
                    m.insert(ns.clone(), v);
                }
            }
        }
        // The lab's other namespaces too, the root one among them: a student who pinged from
        // the wrong one is told so (see [`judge::PingActivity::elsewhere`]). Only read, as the
        // rest of the watch.
        for ns in self.lab_namespaces() {
            if !wanted.contains(&ns) && self.kernel.ns_exists(&ns) {
                wanted.push(ns);
            }
        }
        if self
            .watch
            .as_ref()
            .is_some_and(|w| w.watched() == wanted.as_slice())
        {
            return;
        }
        self.watch = self
            .kernel
            .watch_pings(&wanted, self.run.pings.clone())
            .ok();
    }

    /// A round of evaluation over the live kernel.
    pub fn round(&self) -> Round<'_> {
        Round::new(&self.kernel, self.run.clone())
    }

    /// Judges checks in one round (each namespace dumped at most once).
    pub fn evaluate(&self, checks: &[CheckLine]) -> Vec<Verdict> {
        self.evaluate_with(checks, PING_CHECK_TIMEOUT)
    }

    /// The same, with probes waiting at most `ping_timeout` (learn polls with a short wait).
    pub fn evaluate_with(&self, checks: &[CheckLine], ping_timeout: Duration) -> Vec<Verdict> {
        let mut round = self.round().ping_timeout(ping_timeout);
        evaluate_in(&mut round, checks)
    }

    /// Performs one command line: natively where nslab performs it exactly as the real program
    /// would, else the real program runs it as typed.
    pub fn perform(&mut self, line: &CommandLine) -> Performed {
        let start = Instant::now();
        if let Some(stopped) = self.before_line(line) {
            return stopped;
        }
        let (ok, output, error) = match line.command.native() {
            Some((ns, op)) => {
                let (ns, op) = (ns.clone(), op.clone());
                match self.native(&ns, &op) {
                    Ok((ok, out, err)) => (ok, out, err.map(|e| format!("{}: {e}", line.text))),
                    // ip's own words first (what the student's ip prints), then nslab's.
                    Err(e) => {
                        let said = match e.ip_words() {
                            Some(ip) => format!("{ip} ({e})"),
                            None => e.to_string(),
                        };
                        (false, String::new(), Some(format!("{}: {said}", line.text)))
                    }
                }
            }
            None => self.real(line),
        };
        if let Some(after) = &mut self.after_line {
            after(&self.kernel);
        }
        Performed {
            ok,
            output,
            error: if ok {
                None
            } else {
                error.or_else(|| Some(format!("{}: failed", line.text)))
            },
            duration: start.elapsed(),
        }
    }

    /// What to do after each line is performed, from now on.
    pub fn after_each_line(&mut self, f: impl FnMut(&Kernel) + 'static) {
        self.after_line = Some(Box::new(f));
    }

    /// Performs a line whose output nobody reads (verify): an `ip` listing is answered from the
    /// kernel, as iproute2 would end it (it fails when its namespace or device is missing, and
    /// changes nothing), without starting `ip`; any other line is performed as [`Self::perform`]
    /// does.
    pub fn perform_unread(&mut self, line: &CommandLine) -> Performed {
        let Some((ns, listing)) = line.command.listing() else {
            return self.perform(line);
        };
        let start = Instant::now();
        if let Some(stopped) = self.before_line(line) {
            return stopped;
        }
        let error = self.listing_fails(ns, listing);
        Performed {
            ok: error.is_none(),
            output: String::new(),
            error: error.map(|e| format!("{}: {e}", line.text)),
            duration: start.elapsed(),
        }
    }

    /// What comes before any line: the probes' answers are forgotten (what held before a line
    /// may not after it: a setup, `d`), and a line after a signal that asked nslab to stop
    /// (verify --no-sandbox then resets the lesson) is not run: its result is returned.
    fn before_line(&mut self, line: &CommandLine) -> Option<Performed> {
        if let Ok(mut cache) = self.run.probes.lock() {
            cache.clear();
        }
        crate::signals::stopping().then(|| Performed {
            ok: false,
            output: String::new(),
            error: Some(format!("{}: not run: nslab was interrupted", line.text)),
            duration: Duration::ZERO,
        })
    }

    /// Why `ip` would fail this listing, in its words; `None` when it would succeed.
    fn listing_fails(
        &self,
        ns: &Ns,
        listing: &crate::lesson::grammar::ip::Listing,
    ) -> Option<String> {
        use crate::lesson::grammar::ip::Listed;
        if let Ns::Named(n) = ns
            && !self.kernel.netns_exists(n)
        {
            return Some(format!(
                "exited with status 255: Cannot open network namespace \"{n}\": No such file or directory"
            ));
        }
        let dev = listing.dev.as_ref()?;
        if self.kernel.link(ns, dev).is_ok() {
            return None;
        }
        Some(match listing.what {
            Listed::Link | Listed::Address => {
                format!("exited with status 1: Device \"{dev}\" does not exist.")
            }
            _ => format!("exited with status 1: Cannot find device \"{dev}\""),
        })
    }

    /// The real program, through /bin/sh in the root namespace: `ip -n` and `ip netns exec`
    /// in the line take it where it goes, as in the student's own shell.
    fn real(&mut self, line: &CommandLine) -> (bool, String, Option<String>) {
        let text = &line.text;
        match self.kernel.shell(&Ns::Root, text, SHELL_TIMEOUT) {
            Ok(o) => {
                // What the line started in the background has started before anything else
                // runs, as for a student, who types the next line long after.
                let started: Vec<String> = line
                    .command
                    .parts
                    .iter()
                    .filter_map(|p| match &p.op {
                        Op::Start(prog) if p.background => Some(prog.clone()),
                        _ => None,
                    })
                    .collect();
                if !started.is_empty() {
                    self.kernel.await_started(o.pid, &started, STARTING);
                }
                if line.command.parts.iter().any(|p| p.background) {
                    self.launched.push(o.pid);
                }
                let mut out = o.stdout.clone();
                out.push_str(&o.stderr);
                let dropped = o.dropped_note();
                if let Some(d) = &dropped {
                    out.push_str(&format!("\n[{d}]\n"));
                }
                let err = (!o.success()).then(|| {
                    let d = dropped
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    if o.timed_out {
                        format!(
                            "{text}: still running after {} s; nslab stopped it{d}",
                            o.limit.as_secs_f64()
                        )
                    } else if let (None, Some(sig)) = (o.status, o.signal) {
                        let name = nix::sys::signal::Signal::try_from(sig)
                            .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string());
                        format!("{text}: its shell was ended by {name}{d}")
                    } else {
                        let why = why_failed(&o.stderr);
                        format!(
                            "{text}: exited with status {}{}{d}",
                            o.status.unwrap_or(-1),
                            if why.is_empty() {
                                String::new()
                            } else {
                                format!(": {why}")
                            }
                        )
                    }
                });
                (o.success(), out, err)
            }
            Err(e) => (false, String::new(), Some(format!("{text}: {e}"))),
        }
    }

    /// Performs a native operation and records what it made. Returns (success, output, error).
    fn native(&mut self, ns: &Ns, op: &Op) -> Result<(bool, String, Option<String>), KernelError> {
        let k = &self.kernel;
        match op {
            Op::NetnsAdd(name) => {
                k.netns_add(name)?;
                if let Some(inode) = k.netns_inode(&Ns::Named(name.clone())) {
                    self.ledger.record(Entry::Netns {
                        name: name.clone(),
                        inode,
                    });
                }
            }
            Op::NetnsDel(name) => k.netns_del(name)?,
            Op::LinkAdd(add) => {
                let req = native::new_link(add);
                k.link_add(ns, &req)?;
                let at = add
                    .attrs
                    .netns
                    .as_ref()
                    .and_then(|n| n.ns())
                    .unwrap_or_else(|| ns.clone());
                if let Some(name) = add.attrs.link_name() {
                    self.ledger.record(Entry::Link {
                        ns: ns_ref(&at),
                        name: name.to_string(),
                    });
                }
            }
            Op::LinkSet(set) => {
                let dev = set.dev().to_string();
                let before = k.link(ns, &dev).ok();
                let req = native::link_attrs(&set.attrs, false);
                k.link_set(ns, &dev, &req)?;
                if let (Some(up), Some(b)) = (set.attrs.up, &before)
                    && up != b.up
                {
                    self.ledger.record(Entry::LinkState {
                        ns: ns_ref(ns),
                        name: dev.clone(),
                        was_up: b.up,
                    });
                }
                if let Some(Some(_)) = &set.attrs.master {
                    self.ledger.record(Entry::Master {
                        ns: ns_ref(ns),
                        name: dev.clone(),
                    });
                }
                if let Some(new) = set.attrs.rename() {
                    self.ledger.renamed(&dev, new, ns);
                }
                let name = set.attrs.rename().unwrap_or(&dev).to_string();
                if let Some(to) = set.attrs.netns.as_ref().and_then(|n| n.ns()) {
                    self.ledger.moved(&name, ns, &to);
                }
            }
            Op::LinkDel(d) => k.link_delete(ns, &d.dev, d.kind.as_deref())?,
            Op::Addr(a) => {
                let (change, req) = native::addr_change(a);
                k.addr_change(ns, &a.dev, change, &req)?;
                if change != crate::kernel::Change::Del
                    && let Some(c) = a.cidr()
                {
                    self.ledger.record(Entry::Addr {
                        ns: ns_ref(ns),
                        dev: a.dev.clone(),
                        cidr: c.to_string(),
                    });
                }
            }
            Op::Route(r) => {
                let (change, req) = native::route_change(r);
                k.route_change(ns, change, r.dev.as_deref(), &req)?;
                if change != crate::kernel::Change::Del {
                    self.ledger.record(Entry::Route {
                        ns: ns_ref(ns),
                        req,
                        dev: r.dev.clone(),
                    });
                }
            }
            Op::Sysctl(s) => {
                // sysctl goes on to the next key when one fails, and fails at the end.
                let procps = match s.by {
                    SysctlBy::Procps { ignore_unknown, .. } => Some(ignore_unknown),
                    SysctlBy::Shell => None,
                };
                let (mut out, mut failed) = (String::new(), Vec::new());
                for (key, value) in &s.writes {
                    // A key nobody may read (`net.ipv4.route.flush`) has nothing to set back.
                    let old = k.sysctl_read(ns, key).ok();
                    match k.sysctl_set(ns, key, value, procps) {
                        Ok(SysctlSet::Written) => {
                            if let Some(old) = old {
                                self.ledger.record(Entry::Sysctl {
                                    ns: ns_ref(ns),
                                    key: key.clone(),
                                    old,
                                });
                            }
                            out.push_str(&s.printed(key, value));
                        }
                        Ok(SysctlSet::PassedOver) => {}
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                let err = (!failed.is_empty()).then(|| failed.join("; "));
                return Ok((err.is_none(), out, err));
            }
            Op::Ping(p) => return self.ping(ns, p),
            other => {
                return Err(KernelError::Other(format!(
                    "internal error: nslab does not perform {other:?} itself"
                )));
            }
        }
        Ok((true, String::new(), None))
    }

    /// A lesson's ping, performed: the echoes iputils would send, and its output. In verify
    /// (fast pace) the echoes go out at once and wait at most [`PING_CHECK_TIMEOUT`] (or -W if
    /// shorter): an expected failure costs that bound, no more. Where a namespace of the lab
    /// may answer late (proxy ARP answers after a random delay of up to `proxy_delay`, 0.8 s;
    /// a queue hands packets to a program), they wait as long as iputils would. Every ping is
    /// bounded by the line time limit.
    fn ping(&mut self, ns: &Ns, p: &Ping) -> Result<(bool, String, Option<String>), KernelError> {
        let std::net::IpAddr::V4(addr) = p.addr else {
            return Err(KernelError::Other("nslab pings IPv4 addresses only".into()));
        };
        let count = p.count.unwrap_or(1).min(u64::from(u32::MAX)) as u32;
        let wait = Duration::from_millis(p.timeout_ms.unwrap_or(10_000).max(1));
        let (timeout, gap, deadline) = match self.pace {
            Pace::Fast => (
                if self.lab_may_answer_late() {
                    wait
                } else {
                    wait.min(PING_CHECK_TIMEOUT)
                },
                Duration::ZERO,
                Some(SHELL_TIMEOUT),
            ),
            Pace::Real => (
                wait.min(Duration::from_secs(2)),
                Duration::from_millis(p.interval_ms.unwrap_or(1000).min(1000)),
                Some(
                    p.deadline_ms
                        .map(Duration::from_millis)
                        .unwrap_or(SHELL_TIMEOUT)
                        .min(SHELL_TIMEOUT),
                ),
            ),
        };
        let started = Instant::now();
        // Once a router redirects the echoes, they go as far apart as ping sends them (see
        // `ping::burst`).
        let interval = Duration::from_millis(p.interval_ms.unwrap_or(1000).min(1000));
        let timing = crate::kernel::Timing {
            timeout,
            gap,
            interval,
            deadline,
        };
        let b = self.kernel.ping_burst(ns, addr, count, timing)?;
        // nslab's own pings are the student's actions too: an action check sees them even
        // where no watch runs.
        if let Ok(mut log) = self.run.pings.lock() {
            if b.unreachable.is_some() && b.replies.is_empty() {
                log.record_unroutable(ns, addr);
            }
            let src = std::net::Ipv4Addr::UNSPECIFIED;
            for seq in &b.seqs {
                log.record(EchoSeen {
                    ns: ns.clone(),
                    at: Instant::now(),
                    request: true,
                    src,
                    dst: addr,
                    id: b.id,
                    seq: *seq,
                });
            }
            for r in &b.replies {
                log.record(EchoSeen {
                    ns: ns.clone(),
                    at: Instant::now(),
                    request: false,
                    src: addr,
                    dst: src,
                    id: b.id,
                    seq: r.seq,
                });
            }
        }
        Ok(ping_output(addr, &b, started.elapsed()))
    }
}

impl Engine {
    /// Whether a namespace of the lab (the root one, or the lesson's) may answer a packet
    /// later than it receives it (see [`Kernel::may_answer_late`]).
    fn lab_may_answer_late(&self) -> bool {
        let lab: Vec<Ns> = std::iter::once(Ns::Root)
            .chain(
                self.run
                    .lesson_ns
                    .iter()
                    .filter(|n| self.kernel.netns_exists(n))
                    .map(|n| Ns::Named(n.clone())),
            )
            .collect();
        self.kernel.may_answer_late(&lab)
    }
}

/// What iputils' ping prints for a burst.
fn ping_output(
    addr: std::net::Ipv4Addr,
    b: &crate::kernel::Burst,
    took: Duration,
) -> (bool, String, Option<String>) {
    let mut out = format!("PING {addr} ({addr}) 56(84) bytes of data.\n");
    for (i, r) in b.replies.iter().enumerate() {
        out.push_str(&format!(
            "{} bytes from {addr}: icmp_seq={} ttl={} time={:.3} ms\n",
            r.bytes,
            i + 1,
            r.ttl,
            r.rtt.as_secs_f64() * 1000.0
        ));
    }
    if let Some(why) = &b.unreachable {
        out.push_str(&format!("ping: connect: {why}\n"));
    }
    let received = b.replies.len() as u32;
    let loss = (100 * (b.sent - received))
        .checked_div(b.sent)
        .unwrap_or(100);
    out.push_str(&format!(
        "\n--- {addr} ping statistics ---\n{} packets transmitted, {received} received, {loss}% packet loss, time {}ms\n",
        b.sent,
        took.as_millis()
    ));
    if received > 0 {
        let ms: Vec<f64> = b
            .replies
            .iter()
            .map(|r| r.rtt.as_secs_f64() * 1000.0)
            .collect();
        let min = ms.iter().cloned().fold(f64::MAX, f64::min);
        let max = ms.iter().cloned().fold(0.0, f64::max);
        let avg = ms.iter().sum::<f64>() / ms.len() as f64;
        let mdev = (ms.iter().map(|m| (m - avg).powi(2)).sum::<f64>() / ms.len() as f64).sqrt();
        out.push_str(&format!(
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms\n"
        ));
    }
    let ok = received > 0;
    let err = (!ok).then(|| format!("no reply from {addr} ({} sent)", b.sent));
    (ok, out, err)
}

/// The line of a failed program's standard error that says why: its last, unless a usage text
/// follows the reason (`bridge: unknown command "mtu"?` and then ip's usage of the kind, whose
/// last line says nothing of the mistake); then the last line before `Usage:`.
fn why_failed(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Usage:"))
        .filter(|&i| i > 0)
        .unwrap_or(lines.len());
    let mut said = lines[..end]
        .iter()
        .rev()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty());
    let last = said.next().unwrap_or("");
    // ip's "Dump terminated" after the kernel's reason says less than the reason.
    match said.next() {
        Some(reason) if last.ends_with(" terminated") => reason,
        _ => last,
    }
}

#[cfg(test)]
mod why_tests {
    #[test]
    fn the_reason_before_a_usage_text_is_the_one_said() {
        let ip = "bridge: unknown command \"mtu\"?\nUsage: ... bridge [ forward_delay FORWARD_DELAY ]\n\nWhere: VLAN_PROTOCOL := { 802.1Q | 802.1ad }\n";
        assert_eq!(super::why_failed(ip), "bridge: unknown command \"mtu\"?");
        assert_eq!(
            super::why_failed("a\nRTNETLINK answers: File exists\n"),
            "RTNETLINK answers: File exists"
        );
        assert_eq!(super::why_failed("Usage: ip link\n"), "Usage: ip link");
        assert_eq!(
            super::why_failed("Error: ipv4: FIB table does not exist.\nDump terminated\n"),
            "Error: ipv4: FIB table does not exist."
        );
        assert_eq!(super::why_failed(""), "");
    }
}
