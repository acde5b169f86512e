//! Fetching facts from the kernel for the judge: one round of evaluation dumps each
//! namespace at most once, however many checks ask, and sends all its probes at once.
//!
//! Observation without disturbance: a probe that proves reachability would leave neighbour
//! entries, learned FDB entries and conntrack entries behind; the round notes what was there
//! before its probes and removes what they added, so that `ip neigh` and `bridge fdb` show the
//! student only what their own commands made.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::judge::{Facts, PingActivity};
use crate::kernel::pingwatch::PingLog;
use crate::kernel::{FdbEntry, Kernel, Neigh, PingOutcome, Route, Snapshot};
use crate::lesson::check::Check;
use crate::net::Ns;

/// How long a probe waits for its reply: a veth answers in well under a millisecond, and a
/// host that is not there is known after this long.
pub const PING_CHECK_TIMEOUT: Duration = Duration::from_millis(200);

/// Before a step, a probe that has had no reply after this long counts as unanswered. The
/// before-rule only asks whether a check is already true, and a reply in a lab of veths comes
/// in well under a millisecond: measured on a loaded machine, a first ping across a router,
/// both hops resolving their neighbours, took 0.05 ms (median) and 0.14 ms (worst of 300).
pub const PING_BEFORE_TIMEOUT: Duration = Duration::from_millis(50);

/// In a lab that passes packets on at once (see [`Kernel::passes_at_once`]), a probe that has
/// had no reply after this long, with nothing left in flight (see [`Kernel::ping_many`] and
/// [`Round::nothing_held`]), will have none: it fails then, not at its timeout.
pub const PING_QUIET_AFTER: Duration = Duration::from_millis(10);

/// How long a probe waits where the lab may answer late (proxy ARP's `proxy_delay` is 0.8 s).
const ANSWERS_LATE_WITHIN: Duration = Duration::from_secs(1);

/// How long an echo request sent after a reply must go unanswered before a `pinged ...
/// unanswered` check counts it (ping sends one a second: by then the reply is overdue).
pub const UNANSWERED_AFTER: Duration = Duration::from_secs(1);

/// What checks may leave behind, per namespace, before they run.
struct Traces {
    per_ns: Vec<NsTraces>,
    probes_only: bool,
}

struct NsTraces {
    ns: Ns,
    neighs: Vec<Neigh>,
    fdb: Vec<FdbEntry>,
    conntrack: Tracked,
    /// The addresses whose route in this namespace the checks' traffic may have redirected,
    /// each with whether it was redirected before.
    redirects: Vec<(Ipv4Addr, bool)>,
}

/// What a round knows of a namespace's tracked connections before its checks run.
enum Tracked {
    /// A subscription to the new ones (what the checks add is read from it).
    Watch(crate::kernel::conntrack::NewEntries),
    /// The kernel's ids of those there were (where the subscription could not be had).
    Listed(Vec<u32>),
}

/// Probes sent lately: from where, to what, when, and what came back.
pub type ProbeCache = HashMap<(Ns, Ipv4Addr), (Instant, Result<PingOutcome, String>)>;

/// What a round knows of the run it belongs to.
#[derive(Clone)]
pub struct RunInfo {
    /// The lesson's named namespaces: where "it is in red" hints and exactness look.
    pub lesson_ns: Arc<Vec<String>>,
    /// The link names the lesson makes or checks: never a typo of one another.
    pub lesson_links: Arc<std::collections::HashSet<String>>,
    /// The links the lesson makes or checks, where it puts them: a link of a check's name found
    /// in one of these places is the lesson's own there, not this one in the wrong namespace
    /// (an `eth0` in every host).
    pub lesson_places: Arc<std::collections::HashSet<(Ns, String)>>,
    /// The addresses the lesson puts somewhere, by namespace and link (an anycast address on
    /// two routers, fe80::1 on both ends): found there, it is not misplaced.
    pub lesson_addrs: Arc<std::collections::HashSet<(Ns, String, std::net::IpAddr)>>,
    /// `lesson_ns` as a set: a failing check asks of every namespace whether it is one.
    pub lesson_ns_set: Arc<std::collections::HashSet<String>>,
    /// Processes older than this (boot-relative clock ticks) are not the student's.
    pub since_ticks: u64,
    /// The user whose processes count (the student's session).
    pub uid: u32,
    /// The student's pings, as seen by the watch.
    pub pings: Arc<Mutex<PingLog>>,
    /// When the current step began (for action checks).
    pub step_began: Instant,
    /// Each watched namespace's `Ip: OutNoRoutes` when the step began.
    pub no_routes: Arc<Mutex<HashMap<Ns, u64>>>,
    /// The sysctls the step's checks name, in the root namespace and the lesson's, as they
    /// were when the step began: a value that is what a check wants in another namespace was
    /// set there during the step only if it was not already.
    pub sysctls_at_start: Arc<Mutex<HashMap<(Ns, String), String>>>,
    /// Probes younger than `probe_max_age` are not sent again: learn judges on every kernel
    /// event, and a probe's own cleanup is one.
    pub probes: Arc<Mutex<ProbeCache>>,
    pub probe_max_age: Duration,
    /// How many times checks flushed a namespace's route cache to take back a redirect their
    /// traffic brought (which also forgets the student's own route exceptions there).
    pub flushes: Arc<std::sync::atomic::AtomicUsize>,
    /// Someone else acts on the lab while checks run (learn: the student, whose commands land
    /// at any moment): what changed during a round of probes may be theirs, so nothing that was
    /// there before is put back, and the probes wait no longer than they are told.
    pub student_acts: bool,
}

impl RunInfo {
    /// A run that began now, for a lesson with these named namespaces.
    pub fn new(k: &Kernel, lesson_ns: Vec<String>) -> RunInfo {
        RunInfo {
            lesson_ns_set: Arc::new(lesson_ns.iter().cloned().collect()),
            lesson_ns: Arc::new(lesson_ns),
            lesson_links: Arc::default(),
            lesson_places: Arc::default(),
            lesson_addrs: Arc::default(),
            since_ticks: k.start_ticks(),
            uid: nix::unistd::getuid().as_raw(),
            pings: Arc::new(Mutex::new(PingLog::default())),
            step_began: Instant::now(),
            no_routes: Arc::new(Mutex::new(HashMap::new())),
            sysctls_at_start: Arc::new(Mutex::new(HashMap::new())),
            probes: Arc::new(Mutex::new(HashMap::new())),
            probe_max_age: Duration::ZERO,
            flushes: Arc::default(),
            student_acts: false,
        }
    }
}

/// One round of evaluation over the live kernel.
pub struct Round<'k> {
    k: &'k Kernel,
    run: RunInfo,
    ping_timeout: Duration,
    snaps: HashMap<Ns, Option<Rc<Snapshot>>>,
    routes6: HashMap<Ns, Rc<Vec<Route>>>,
    neighs: HashMap<Ns, Rc<Vec<Neigh>>>,
    fdbs: HashMap<Ns, Rc<Vec<FdbEntry>>>,
    pings: HashMap<(Ns, Ipv4Addr), Result<PingOutcome, String>>,
    names: Option<Vec<String>>,
    scope: Option<Vec<Ns>>,
    procs: HashMap<String, Vec<(u32, u64)>>,
}

impl<'k> Round<'k> {
    pub fn new(k: &'k Kernel, run: RunInfo) -> Self {
        k.prune();
        Round {
            k,
            run,
            ping_timeout: PING_CHECK_TIMEOUT,
            snaps: HashMap::new(),
            routes6: HashMap::new(),
            neighs: HashMap::new(),
            fdbs: HashMap::new(),
            pings: HashMap::new(),
            names: None,
            scope: None,
            procs: HashMap::new(),
        }
    }

    /// How long probes wait for their replies (learn polls with a shorter wait).
    pub fn ping_timeout(mut self, t: Duration) -> Self {
        self.ping_timeout = t;
        self
    }

    /// Sends the probes of every reachability check among `checks` at once, and removes the
    /// traces they leave.
    pub fn prefetch<'c>(&mut self, checks: impl IntoIterator<Item = &'c Check>) {
        let mut targets: Vec<(Ns, Ipv4Addr)> = checks
            .into_iter()
            .filter_map(|c| match c.plain() {
                Check::Ping {
                    addr: IpAddr::V4(a),
                    from,
                } => Some((from.clone(), *a)),
                _ => None,
            })
            .collect();
        let mut seen = HashSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        // Recent enough answers are reused.
        if !self.run.probe_max_age.is_zero()
            && let Ok(cache) = self.run.probes.lock()
        {
            targets.retain(|t| match cache.get(t) {
                Some((at, r)) if at.elapsed() < self.run.probe_max_age => {
                    self.pings.insert(t.clone(), r.clone());
                    false
                }
                _ => true,
            });
        }
        targets.retain(|(ns, a)| {
            // A namespace that is not there, or an address of its own, needs no probe (the
            // judge says why without one).
            let Some(s) = self.snapshot(ns) else {
                return false;
            };
            crate::engine::judge::own_not_loopback(&s, ns, IpAddr::V4(*a), self).is_none()
        });
        if targets.is_empty() {
            return;
        }
        // Where a probe can leave traces: any namespace of the lesson may be on its path (a
        // router with one arm learns its next hop's MAC; the pinging one may be redirected).
        let mut candidates: Vec<Ns> = targets.iter().map(|(ns, _)| ns.clone()).collect();
        candidates.extend(self.scope_list());
        let before = self.traces(&candidates, true, &targets);
        // Whether the lab passes packets on at once is asked only of a probe that has not
        // been answered by then: most are, within microseconds.
        let scope = self.scope_list();
        let spaces: Vec<Rc<Snapshot>> = scope.iter().filter_map(|ns| self.snapshot(ns)).collect();
        let complete = spaces.len() == scope.len();
        let at_once = std::cell::OnceCell::new();
        let nothing_pending = || {
            *at_once
                .get_or_init(|| complete && spaces.iter().all(|s| self.k.passes_at_once(s, &scope)))
                && self.nothing_held(&spaces, &before)
        };
        // Proxy ARP answers after a random delay of up to `proxy_delay` (0.8 s), a queue when
        // its program says: where the lab has either, a probe waits for that (in learn, the
        // next round asks again).
        let timeout = if !self.run.student_acts && self.k.may_answer_late(&scope) {
            self.ping_timeout.max(ANSWERS_LATE_WITHIN)
        } else {
            self.ping_timeout
        };
        let results = self.k.ping_many(
            &targets,
            timeout,
            Some((PING_QUIET_AFTER, &nothing_pending)),
        );
        let now = Instant::now();
        let mut cache = self.run.probes.lock().ok();
        for (t, r) in targets.iter().zip(results) {
            let r = r.map_err(|e| e.to_string());
            if let Some(c) = cache.as_mut() {
                c.insert(t.clone(), (now, r.clone()));
            }
            self.pings.insert(t.clone(), r);
        }
        drop(cache);
        let extra: Vec<IpAddr> = targets.iter().map(|(_, a)| IpAddr::V4(*a)).collect();
        self.remove_new_traces(before, Some(&extra));
    }

    /// What checks may leave in these namespaces, as it is before they run: neighbour entries,
    /// FDB entries, connection-tracking entries (only nslab's own echoes', with `probes_only`).
    fn traces(
        &mut self,
        namespaces: &[Ns],
        probes_only: bool,
        senders: &[(Ns, Ipv4Addr)],
    ) -> Traces {
        let mut seen = HashSet::new();
        let per_ns = namespaces
            .iter()
            .filter(|ns| seen.insert((*ns).clone()))
            .filter_map(|ns| {
                let s = self.snapshot(ns)?;
                Some(NsTraces {
                    ns: ns.clone(),
                    neighs: self.neighbours_to_watch(&s, probes_only),
                    fdb: self.fdb_to_watch(&s),
                    conntrack: match self.k.conntrack_watch(ns) {
                        Ok(Some(w)) => Tracked::Watch(w),
                        Ok(None) => Tracked::Listed(Vec::new()),
                        Err(_) => Tracked::Listed(
                            self.k
                                .conntrack(ns, probes_only)
                                .unwrap_or_default()
                                .iter()
                                .map(|e| e.ct_id)
                                .collect(),
                        ),
                    },
                    redirects: senders
                        .iter()
                        .filter(|(from, _)| from == ns)
                        .map(|(_, a)| (*a, self.k.route_redirected(ns, *a).unwrap_or(true)))
                        .collect(),
                })
            })
            .collect();
        Traces {
            per_ns,
            probes_only,
        }
    }

    /// The neighbour entries of a namespace where checks may leave some: IPv4 probes leave
    /// none where IPv4 passes no link but `lo` (no address, no route); a shell check's traffic
    /// may be IPv6.
    fn neighbours_to_watch(&self, s: &Snapshot, probes_only: bool) -> Vec<Neigh> {
        let ipv4 = s.addrs.iter().any(|a| a.cidr.is_v4() && a.link != "lo")
            || s.routes.iter().any(|r| r.dev.as_deref() != Some("lo"));
        if probes_only && !ipv4 {
            return Vec::new();
        }
        self.k.neighbours(s).unwrap_or_default()
    }

    /// The forwarding entries of a namespace where a link learns them from the frames it sees
    /// (a bridge, a VXLAN device): elsewhere no check's traffic can leave one.
    fn fdb_to_watch(&self, s: &Snapshot) -> Vec<FdbEntry> {
        let learns = s
            .links
            .iter()
            .any(|l| matches!(l.kind.as_deref(), Some("bridge" | "vxlan")));
        if !learns {
            return Vec::new();
        }
        self.k.fdb(s).unwrap_or_default()
    }

    /// Removes what appeared since `before`, where a check's traffic made it: neighbour
    /// entries of the namespaces' own addresses, their gateways and `extra`; FDB entries the
    /// bridges learned of their links' MACs; new tracked connections. An entry the student
    /// made meanwhile for anything else is left alone. With no `extra` (an `sh` check, whose
    /// traffic may go anywhere: a DNAT target, a namespace gone), every new entry goes.
    fn remove_new_traces(&mut self, before: Traces, extra: Option<&[IpAddr]>) {
        let every = extra.is_none();
        let mut involved: HashSet<IpAddr> = extra.unwrap_or_default().iter().copied().collect();
        // The kernel's own entry for a packet it could not send (`0.0.0.0 dev lo`, made when
        // ARP fails and it says "host unreachable" to itself).
        involved.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let mut macs: HashSet<String> = HashSet::new();
        for t in &before.per_ns {
            let Some(s) = self.snapshot(&t.ns) else {
                continue;
            };
            // In the root namespace (in learn, the VM's own: its uplink, its gateway) only the
            // links the lesson makes there are the lab's.
            let lab = |link: &str| {
                t.ns != Ns::Root
                    || self
                        .run
                        .lesson_places
                        .contains(&(Ns::Root, link.to_string()))
            };
            involved.extend(s.addrs.iter().filter(|a| lab(&a.link)).map(|a| a.cidr.addr));
            involved.extend(
                s.routes
                    .iter()
                    .filter(|r| t.ns != Ns::Root || r.dev.as_deref().is_some_and(lab))
                    .filter_map(|r| r.via),
            );
            macs.extend(
                s.links
                    .iter()
                    .filter(|l| lab(&l.name))
                    .filter_map(|l| l.mac.clone()),
            );
        }
        for t in before.per_ns {
            let Some(s) = self.snapshot(&t.ns) else {
                continue;
            };
            // In the root namespace only what concerns the lab goes, even after a shell
            // check: the machine's own traffic makes entries there meanwhile.
            let all_new = every && t.ns != Ns::Root;
            // A redirect the checks' traffic brought (the route to an address they went to is
            // redirected now, and was not before) is taken back, and with it every other route
            // exception of the namespace: the kernel flushes them only together. Those the
            // student's own traffic learned (a path MTU, another redirect) are learned again
            // by its next packets.
            if t.redirects
                .iter()
                .any(|(a, had)| !had && self.k.route_redirected(&t.ns, *a).unwrap_or(false))
            {
                let _ = self.k.route_cache_flush(&t.ns);
                self.run
                    .flushes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let listed = |had: &[u32]| -> Vec<_> {
                self.k
                    .conntrack(&t.ns, before.probes_only)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| !had.contains(&e.ct_id))
                    .collect()
            };
            let new_ct = match &t.conntrack {
                Tracked::Watch(w) => self
                    .k
                    .conntrack_new(w, before.probes_only)
                    // Announcements were lost: what the probes made is still known by its
                    // echo id; a shell check's entries are then left.
                    .unwrap_or_else(|_| {
                        if before.probes_only {
                            listed(&[])
                        } else {
                            Vec::new()
                        }
                    }),
                Tracked::Listed(had) => listed(had),
            };
            // (A probe's entries carry its echo id; a shell check's, in the root namespace,
            // must name the lab's addresses.)
            let new_ct = new_ct
                .into_iter()
                .filter(|e| {
                    all_new
                        || before.probes_only
                        || [e.src, e.dst]
                            .iter()
                            .any(|a| involved.contains(&IpAddr::V4(*a)))
                })
                .collect();
            // Best effort: an entry that went meanwhile is no trace.
            let _ = self.k.conntrack_del(&t.ns, new_ct);
            // Some entries are never announced (the kernel makes them in a way nslab has not
            // pinned down: the trace test saw un-NATed probe entries behind a masquerade, about
            // one run in five). Where the table still holds more than before the round, the
            // probes' own entries are looked for by their echo ids.
            if let Tracked::Watch(w) = &t.conntrack
                && before.probes_only
                && self.k.conntrack_count(&t.ns).unwrap_or(0) > w.count_before()
            {
                let _ = self.k.conntrack_del(&t.ns, listed(&[]));
            }
            for n in self.neighbours_to_watch(&s, before.probes_only) {
                let concerns_lab =
                    all_new || ((every || n.addr.is_ipv4()) && involved.contains(&n.addr));
                if !concerns_lab {
                    continue;
                }
                let was = t.neighs.iter().find(|o| o.addr == n.addr && o.dev == n.dev);
                // Traffic makes no permanent entry: one is the student's, added meanwhile.
                let made_by_traffic = !["permanent", "noarp"].contains(&n.state.as_str());
                match was {
                    // An entry that was valid before and is being resolved now is not the one
                    // there was: the kernel dropped that one meanwhile (its link lost carrier,
                    // a moment after the other end went down) and a probe made this one.
                    None if made_by_traffic => {
                        let _ = self.k.neigh_del(&s, &n);
                    }
                    Some(o) if made_by_traffic && o.lladdr.is_some() && n.state == "incomplete" => {
                        let _ = self.k.neigh_del(&s, &n);
                    }
                    // One that was there, changed by the checks' traffic: its MAC rewritten by
                    // a broadcast ARP request from a host that has another MAC now, or a stale
                    // one used and being confirmed (`delay`, then `probe`), goes back. Not where
                    // the student acts meanwhile: the change may be theirs, or their traffic's,
                    // which the kernel is still confirming.
                    Some(o) if !self.run.student_acts && restorable(o, &n) => {
                        let _ = self.k.neigh_restore(&s, o);
                    }
                    _ => {}
                }
            }
            for e in self.fdb_to_watch(&s) {
                let had = t.fdb.iter().any(|o| o.mac == e.mac && o.dev == e.dev);
                if !had && e.learned && (all_new || macs.contains(&e.mac.to_string())) {
                    let _ = self.k.fdb_del(&s, &e);
                }
            }
        }
        self.neighs.clear();
        self.fdbs.clear();
    }

    /// Whether no neighbour entry of these namespaces holds a packet that a later ARP request
    /// may still release within the probes' time: an address being resolved (`incomplete`)
    /// that was so before the probes went out (a student's ping to it failed, and the lab may
    /// have changed since), or whose next request comes sooner than the probes' timeout
    /// (`retrans_time_ms`, 1000 unless changed).
    fn nothing_held(&self, spaces: &[Rc<Snapshot>], before: &Traces) -> bool {
        spaces.iter().all(|s| {
            let Ok(neighs) = self.k.neighbours(s) else {
                return false;
            };
            neighs.iter().filter(|n| n.state == "incomplete").all(|n| {
                let resolving_before = before.per_ns.iter().any(|t| {
                    t.ns == s.ns
                        && t.neighs
                            .iter()
                            .any(|o| o.addr == n.addr && o.dev == n.dev && o.state == "incomplete")
                });
                let looked_before = before.per_ns.iter().any(|t| t.ns == s.ns);
                looked_before
                    && !resolving_before
                    && self
                        .k
                        .arp_retry(&s.ns, &n.dev)
                        .is_ok_and(|r| r >= self.ping_timeout)
            })
        })
    }

    /// Whether `ns` has a route that covers `addr` (in its main table).
    fn routable(&mut self, ns: &Ns, addr: IpAddr) -> bool {
        let Some(s) = self.snapshot(ns) else {
            return false;
        };
        let direct = s.addrs.iter().any(|a| a.cidr.contains(&addr));
        direct
            || s.routes
                .iter()
                .any(|r| r.is_main() && r.dest.is_none_or(|d| d.contains(&addr)) && r.kind == 1)
    }

    fn scope_list(&mut self) -> Vec<Ns> {
        if let Some(s) = &self.scope {
            return s.clone();
        }
        let mut v = vec![Ns::Root];
        for n in self.run.lesson_ns.iter() {
            if self.k.netns_exists(n) {
                v.push(Ns::Named(n.clone()));
            }
        }
        self.scope = Some(v.clone());
        v
    }

    /// The live answer to a lesson's question.
    pub fn answer(&mut self, a: &crate::lesson::Answer) -> Option<String> {
        use crate::lesson::Answer;
        match a {
            Answer::NetnsCount => Some(self.k.net_namespaces().len().to_string()),
            Answer::NetnsCountHeld => Some(
                self.k
                    .net_namespaces()
                    .iter()
                    .filter(|n| n.nprocs > 0)
                    .count()
                    .to_string(),
            ),
            Answer::RootNetnsInode => self.k.netns_inode(&Ns::Root).map(|i| i.to_string()),
            Answer::NetnsInode(n) => self
                .k
                .netns_inode(&Ns::Named(n.clone()))
                .map(|i| i.to_string()),
        }
    }
}

impl Facts for Round<'_> {
    fn scope(&mut self) -> Vec<Ns> {
        self.scope_list()
    }

    fn lesson_names(&mut self) -> Vec<String> {
        self.run.lesson_ns.to_vec()
    }

    fn is_lesson_link(&mut self, name: &str) -> bool {
        self.run.lesson_links.contains(name)
    }

    fn lesson_puts_link(&mut self, ns: &Ns, name: &str) -> bool {
        self.run
            .lesson_places
            .contains(&(ns.clone(), name.to_string()))
    }

    fn lesson_puts_addr(&mut self, ns: &Ns, dev: &str, addr: IpAddr) -> bool {
        self.run
            .lesson_addrs
            .contains(&(ns.clone(), dev.to_string(), addr))
    }

    fn lesson_puts_addr_in(&mut self, ns: &Ns, addr: IpAddr) -> bool {
        self.run
            .lesson_addrs
            .iter()
            .any(|(n, _, a)| *a == addr && n == ns)
    }

    fn lesson_puts_addr_elsewhere(&mut self, ns: &Ns, dev: &str, addr: IpAddr) -> bool {
        self.run
            .lesson_addrs
            .iter()
            .any(|(n, d, a)| *a == addr && (n != ns || d != dev))
    }

    fn is_lesson_ns(&mut self, name: &str) -> bool {
        self.run.lesson_ns_set.contains(name)
    }

    fn netns_names(&mut self) -> Vec<String> {
        if self.names.is_none() {
            let names = self
                .k
                .netns_list()
                .into_iter()
                .filter(|n| self.k.netns_exists(n))
                .collect();
            self.names = Some(names);
        }
        self.names.clone().unwrap_or_default()
    }

    fn netns_exists(&mut self, name: &str) -> bool {
        self.k.netns_exists(name)
    }

    fn netns_inode(&mut self, name: &str) -> Option<u64> {
        self.k.netns_inode(&Ns::Named(name.to_string()))
    }

    fn netns_count(&mut self) -> usize {
        self.k.net_namespaces().len()
    }

    fn snapshot(&mut self, ns: &Ns) -> Option<Rc<Snapshot>> {
        if !self.snaps.contains_key(ns) {
            let s = match ns {
                Ns::Named(n) if !self.k.netns_exists(n) => None,
                _ => self.k.snapshot(ns).ok().map(Rc::new),
            };
            self.snaps.insert(ns.clone(), s);
        }
        self.snaps.get(ns).cloned().flatten()
    }

    fn routes6(&mut self, ns: &Ns) -> Rc<Vec<Route>> {
        if let Some(r) = self.routes6.get(ns) {
            return r.clone();
        }
        let r = Rc::new(
            self.snapshot(ns)
                .and_then(|s| self.k.routes6(&s).ok())
                .unwrap_or_default(),
        );
        self.routes6.insert(ns.clone(), r.clone());
        r
    }

    fn neighbours(&mut self, ns: &Ns) -> Rc<Vec<Neigh>> {
        if let Some(r) = self.neighs.get(ns) {
            return r.clone();
        }
        let r = Rc::new(
            self.snapshot(ns)
                .and_then(|s| self.k.neighbours(&s).ok())
                .unwrap_or_default(),
        );
        self.neighs.insert(ns.clone(), r.clone());
        r
    }

    fn fdb(&mut self, ns: &Ns) -> Rc<Vec<FdbEntry>> {
        if let Some(r) = self.fdbs.get(ns) {
            return r.clone();
        }
        let r = Rc::new(
            self.snapshot(ns)
                .and_then(|s| self.k.fdb(&s).ok())
                .unwrap_or_default(),
        );
        self.fdbs.insert(ns.clone(), r.clone());
        r
    }

    fn ping(&mut self, from: &Ns, addr: IpAddr) -> Result<PingOutcome, String> {
        let IpAddr::V4(a) = addr else {
            return Err("nslab proves IPv6 reachability with the student's own ping6 (use a `pinged` check)".into());
        };
        if !self.pings.contains_key(&(from.clone(), a)) {
            self.prefetch([&Check::Ping {
                addr,
                from: from.clone(),
            }]);
        }
        self.pings
            .get(&(from.clone(), a))
            .cloned()
            .unwrap_or_else(|| Err("the probe did not run".into()))
    }

    fn pinged(&mut self, from: &Ns, addr: IpAddr) -> PingActivity {
        let IpAddr::V4(a) = addr else {
            return PingActivity::default();
        };
        let own: Vec<Ipv4Addr> = self
            .snapshot(from)
            .map(|s| {
                s.addrs
                    .iter()
                    .filter_map(|x| match x.cidr.addr {
                        IpAddr::V4(v) => Some(v),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let since = self.run.step_began;
        // Requests to the address that another watched namespace sent from an address of its
        // own: not one that passed through it (a router, a bridge's namespace), nor one that
        // arrived there.
        let seen = self
            .run
            .pings
            .lock()
            .map(|l| l.requests_to(a, since))
            .unwrap_or_default();
        let mut elsewhere: Vec<(Ns, u32)> = Vec::new();
        for (ns, src, n) in seen.into_iter().filter(|(ns, _, _)| ns != from) {
            let theirs = self
                .snapshot(&ns)
                .is_some_and(|s| s.addrs.iter().any(|x| x.cidr.addr == IpAddr::V4(src)));
            if !theirs {
                continue;
            }
            match elsewhere.iter_mut().find(|(m, _)| *m == ns) {
                Some(e) => e.1 += n,
                None => elsewhere.push((ns, n)),
            }
        }
        let (sent, replies, mut unroutable, unanswered_after_reply, unresolved) = self
            .run
            .pings
            .lock()
            .map(|l| {
                let (s, r) = l.count(from, a, &own, since);
                let after = l.unanswered_after_reply(from, a, &own, since, UNANSWERED_AFTER);
                let unresolved = l.unresolved(from, a, &own, since);
                (s, r, l.unroutable(from, a, since), after, unresolved)
            })
            .unwrap_or((0, 0, 0, 0, 0));
        let mut unroutable_anywhere = false;
        // The student's own ping that found no route sent nothing to see; the namespace's
        // OutNoRoutes counter shows the attempt (when the address has no route there).
        let base = self
            .run
            .no_routes
            .lock()
            .ok()
            .and_then(|m| m.get(from).copied());
        if let Some(base) = base
            && let Some(now) = self.k.out_no_routes(from)
            && now > base
            && !self.routable(from, addr)
        {
            let counted = (now - base) as u32;
            unroutable_anywhere = counted > unroutable;
            unroutable = unroutable.max(counted);
        }
        PingActivity {
            sent,
            replies,
            unroutable,
            unroutable_anywhere,
            unanswered_after_reply,
            elsewhere,
            unresolved,
        }
    }

    fn sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, String> {
        if let Ns::Named(n) = ns
            && !self.k.netns_exists(n)
        {
            return Err(format!("netns {n} does not exist"));
        }
        self.k.sysctl_read(ns, key).map_err(|e| e.to_string())
    }

    fn sysctl_at_step_start(&mut self, ns: &Ns, key: &str) -> Option<String> {
        self.run
            .sysctls_at_start
            .lock()
            .ok()?
            .get(&(ns.clone(), key.to_string()))
            .cloned()
    }

    fn processes(&mut self, name: &str) -> Vec<(u32, u64)> {
        if let Some(p) = self.procs.get(name) {
            return p.clone();
        }
        let p = self
            .k
            .processes_named(name, self.run.uid, self.run.since_ticks);
        self.procs.insert(name.to_string(), p.clone());
        p
    }

    fn root_inode(&mut self) -> Option<u64> {
        self.k.netns_inode(&Ns::Root)
    }

    fn peer_holder(&mut self, ns: &Ns, link: &crate::kernel::Link) -> Option<(u32, String)> {
        // The link as this round's dump has it: no second dump.
        self.k.peer_holder(ns, link)
    }

    fn shell(&mut self, ns: &Ns, command: &str) -> Result<(), String> {
        if let Ns::Named(n) = ns
            && !self.k.netns_exists(n)
        {
            return Err(format!("cannot run: netns {n} does not exist"));
        }
        // The escape hatch observes too: what its traffic (a curl, a ping) leaves in the
        // lesson's neighbour tables, FDBs and connection tracking is taken back.
        let scope = self.scope_list();
        // Its traffic may have been redirected on its way to any address of the lab.
        let lab: Vec<(Ns, Ipv4Addr)> = scope
            .iter()
            .filter_map(|n| self.snapshot(n))
            .flat_map(|s| s.addrs.iter().map(|a| a.cidr.addr).collect::<Vec<_>>())
            .filter_map(|a| match a {
                IpAddr::V4(a) if !a.is_loopback() => Some((ns.clone(), a)),
                _ => None,
            })
            .collect();
        let before = self.traces(&scope, false, &lab);
        let ran = self.k.shell(ns, command, Duration::from_secs(30));
        self.remove_new_traces(before, None);
        match ran {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => {
                let why = o
                    .stderr
                    .lines()
                    .next()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default();
                if o.timed_out {
                    Err(format!("timed out{why}"))
                } else {
                    Err(format!("exited with {}{why}", o.status.unwrap_or(-1)))
                }
            }
            Err(e) => Err(format!("could not run: {e}")),
        }
    }
}

/// Whether a neighbour entry that was `was` before the checks and is `now` after them was
/// changed by their traffic in a way that can be put back: a dynamic entry whose MAC changed,
/// or a stale one that is being confirmed.
fn restorable(was: &Neigh, now: &Neigh) -> bool {
    let dynamic = |n: &Neigh| {
        ["reachable", "stale", "delay", "probe"].contains(&n.state.as_str()) && n.lladdr.is_some()
    };
    dynamic(was)
        && dynamic(now)
        && (was.lladdr != now.lladdr
            || (was.state == "stale" && ["delay", "probe"].contains(&now.state.as_str())))
}
