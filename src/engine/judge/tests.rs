//! The judge on hand-built facts: no kernel.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::kernel::{Addr, Link, Peer};
use crate::lesson::check;

#[derive(Default)]
struct Fake {
    snaps: HashMap<Ns, Rc<Snapshot>>,
    pings: HashMap<(Ns, IpAddr), PingOutcome>,
    pinged: HashMap<(Ns, IpAddr), PingActivity>,
    procs: HashMap<String, Vec<(u32, u64)>>,
    neighs: HashMap<Ns, Rc<Vec<Neigh>>>,
    fdbs: HashMap<Ns, Rc<Vec<FdbEntry>>>,
    /// The namespaces the lesson names.
    lesson: Vec<String>,
    /// The links the lesson names.
    links: Vec<String>,
    /// Sysctls other than 0.
    sysctls: HashMap<(Ns, String), String>,
    sysctls_at_start: HashMap<(Ns, String), String>,
    /// Where the lesson puts links and addresses.
    places: std::collections::HashSet<(Ns, String)>,
    addrs: std::collections::HashSet<(Ns, String, IpAddr)>,
    /// A named namespace's inode other than 4026532001 (the root's is 4026531840).
    inodes: HashMap<String, u64>,
}

impl Facts for Fake {
    fn scope(&mut self) -> Vec<Ns> {
        // As nslab's: the root namespace and the lesson's (all, when the fake names none).
        let mut v: Vec<Ns> = self
            .snaps
            .keys()
            .filter(|n| match n {
                Ns::Named(n) => self.lesson.is_empty() || self.lesson.contains(n),
                Ns::Root => true,
            })
            .cloned()
            .collect();
        v.sort();
        v
    }
    fn netns_names(&mut self) -> Vec<String> {
        self.snaps
            .keys()
            .filter_map(|n| match n {
                Ns::Named(n) => Some(n.clone()),
                Ns::Root => None,
            })
            .collect()
    }
    fn lesson_names(&mut self) -> Vec<String> {
        self.lesson.clone()
    }
    fn is_lesson_link(&mut self, name: &str) -> bool {
        self.links.iter().any(|l| l == name)
    }
    fn netns_exists(&mut self, name: &str) -> bool {
        self.snaps.contains_key(&Ns::Named(name.into()))
    }
    fn netns_inode(&mut self, name: &str) -> Option<u64> {
        self.netns_exists(name)
            .then(|| self.inodes.get(name).copied().unwrap_or(4026532001))
    }
    fn netns_count(&mut self) -> usize {
        self.snaps.len()
    }
    fn snapshot(&mut self, ns: &Ns) -> Option<Rc<Snapshot>> {
        self.snaps.get(ns).cloned()
    }
    fn routes6(&mut self, _ns: &Ns) -> Rc<Vec<Route>> {
        Rc::new(vec![])
    }
    fn neighbours(&mut self, ns: &Ns) -> Rc<Vec<Neigh>> {
        self.neighs.get(ns).cloned().unwrap_or_default()
    }
    fn fdb(&mut self, ns: &Ns) -> Rc<Vec<FdbEntry>> {
        self.fdbs.get(ns).cloned().unwrap_or_default()
    }
    fn ping(&mut self, from: &Ns, addr: IpAddr) -> Result<PingOutcome, String> {
        self.pings
            .get(&(from.clone(), addr))
            .cloned()
            .ok_or_else(|| "no such probe".into())
    }
    fn pinged(&mut self, from: &Ns, addr: IpAddr) -> PingActivity {
        self.pinged
            .get(&(from.clone(), addr))
            .cloned()
            .unwrap_or_default()
    }
    fn sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, String> {
        Ok(self
            .sysctls
            .get(&(ns.clone(), key.to_string()))
            .cloned()
            .unwrap_or_else(|| "0".into()))
    }
    fn lesson_puts_link(&mut self, ns: &Ns, name: &str) -> bool {
        self.places.contains(&(ns.clone(), name.to_string()))
    }
    fn lesson_puts_addr(&mut self, ns: &Ns, dev: &str, addr: IpAddr) -> bool {
        self.addrs.contains(&(ns.clone(), dev.to_string(), addr))
    }
    fn lesson_puts_addr_in(&mut self, ns: &Ns, addr: IpAddr) -> bool {
        self.addrs.iter().any(|(n, _, a)| *a == addr && n == ns)
    }
    fn lesson_puts_addr_elsewhere(&mut self, ns: &Ns, dev: &str, addr: IpAddr) -> bool {
        self.addrs
            .iter()
            .any(|(n, d, a)| *a == addr && (n != ns || d != dev))
    }
    fn sysctl_at_step_start(&mut self, ns: &Ns, key: &str) -> Option<String> {
        self.sysctls_at_start
            .get(&(ns.clone(), key.to_string()))
            .cloned()
    }
    fn processes(&mut self, name: &str) -> Vec<(u32, u64)> {
        self.procs.get(name).cloned().unwrap_or_default()
    }
    fn root_inode(&mut self) -> Option<u64> {
        Some(4026531840)
    }
    fn shell(&mut self, _ns: &Ns, _command: &str) -> Result<(), String> {
        Err("exited with 1".into())
    }
}

fn blue() -> Ns {
    Ns::Named("blue".into())
}
fn red() -> Ns {
    Ns::Named("red".into())
}

fn veth(index: u32, name: &str, peer: &str, pns: &Ns, up: bool) -> Link {
    let mut l = Link::bare(index, name, "veth");
    l.up = up;
    l.peer = Some(Peer {
        index: 99,
        name: Some(peer.into()),
        ns: Some(pns.clone()),
    });
    l
}

fn addr(link: &str, cidr: &str) -> Addr {
    Addr {
        link: link.into(),
        index: 2,
        cidr: cidr.parse().unwrap(),
        peer: None,
        brd: None,
        label: None,
        scope: 0,
        tentative: false,
        dadfailed: false,
    }
}

/// The veth lab after its address step, with `blue_addrs` and `red_addrs`.
fn lab(blue_addrs: &[&str], red_addrs: &[&str]) -> Fake {
    let mut f = Fake::default();
    f.snaps.insert(
        Ns::Root,
        Rc::new(Snapshot::from_parts(
            Ns::Root,
            vec![Link::bare(1, "lo", "loopback")],
            vec![],
            vec![],
        )),
    );
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            vec![
                Link::bare(1, "lo", "loopback"),
                veth(2, "veth0", "veth1", &red(), true),
            ],
            blue_addrs.iter().map(|a| addr("veth0", a)).collect(),
            vec![],
        )),
    );
    f.snaps.insert(
        red(),
        Rc::new(Snapshot::from_parts(
            red(),
            vec![
                Link::bare(1, "lo", "loopback"),
                veth(2, "veth1", "veth0", &blue(), true),
            ],
            red_addrs.iter().map(|a| addr("veth1", a)).collect(),
            vec![],
        )),
    );
    f
}

fn verdict(check: &str, f: &mut Fake) -> Verdict {
    let (c, _) = check::parse(check).unwrap();
    judge(&c, f)
}

#[test]
fn a_wrong_network_does_not_pass() {
    // Both addresses on both ends: every plain address check holds...
    let mut f = lab(
        &["10.1.0.2/24", "10.1.0.3/24"],
        &["10.1.0.2/24", "10.1.0.3/24"],
    );
    assert!(verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f).pass);
    // ...but not the exact one, which says where the stray copy is and how to remove it.
    let v = verdict("addr 10.1.0.2/24 only on veth0 in blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("also on veth1 in red"), "{}", v.found);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red address del 10.1.0.2/24 dev veth1")
    );
    // And a ping to an address of the pinging namespace itself fails, saying why.
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("an address of blue itself"), "{}", v.found);
}

/// Another namespace's address, added to the pinging one's `lo`, answers without any network:
/// a ping check to it fails (before, it ticked: a student "mended" a fault by giving right
/// left's address. Found by a fresh-eyes student). An address the lesson itself puts on `lo`
/// is still what a check of `lo` pings.
#[test]
fn an_address_the_lesson_puts_elsewhere_on_the_pinging_lo_answers_itself() {
    let mut f = lab(&[], &["10.1.0.3/24"]);
    let mut s = (*f.snaps[&blue()]).clone();
    s.addrs.push(addr("lo", "10.1.0.3/32"));
    f.snaps.insert(blue(), Rc::new(s));
    f.addrs
        .insert((red(), "veth1".into(), "10.1.0.3".parse().unwrap()));
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(
        v.found.contains("an address of blue itself (on lo)"),
        "{}",
        v.found
    );
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(
        v.found.contains("an address of blue itself (on lo)"),
        "{}",
        v.found
    );
    // The lesson puts it on blue's lo too: a ping of lo.
    f.addrs
        .insert((blue(), "lo".into(), "10.1.0.3".parse().unwrap()));
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.found.contains("itself"), "{}", v.found);
}

#[test]
fn an_address_on_the_other_end_is_named() {
    let mut f = lab(&[], &["10.1.0.2/24", "10.1.0.3/24"]);
    let v = verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f);
    assert!(!v.pass);
    assert_eq!(v.cause.as_deref(), Some("10.1.0.2/24 is on veth1 in red"));
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n red address del 10.1.0.2/24 dev veth1 && ip -n blue address add 10.1.0.2/24 dev veth0"
        )
    );
    // The ends' addresses swapped: each end's fix deletes its own wrong address first, or
    // the moved one would be its secondary (pasting both fixes left blue with no address).
    let mut f = lab(&["10.1.0.3/24"], &["10.1.0.2/24"]);
    let v = verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("10.1.0.2/24 is on veth1 in red, and veth0 has 10.1.0.3/24 of the same subnet")
    );
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n blue address del 10.1.0.3/24 dev veth0; ip -n red address del 10.1.0.2/24 dev veth1; ip -n blue address add 10.1.0.2/24 dev veth0"
        )
    );
    let mut f = lab(&["10.1.0.2/16"], &[]);
    let v = verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("the prefix length is /16, not /24")
    );
}

#[test]
fn near_misses_are_named() {
    // A typo'd namespace.
    let mut f = lab(&[], &[]);
    let s = f.snaps.remove(&blue()).unwrap();
    f.snaps.insert(Ns::Named("bleu".into()), s);
    let v = verdict("netns blue exists", &mut f);
    assert!(v.cause.as_deref().unwrap().contains("'bleu'"), "{v:?}");
    // A link in the wrong namespace: the fix moves it.
    let mut f = lab(&[], &[]);
    let v = verdict("link veth1 in blue exists", &mut f);
    assert_eq!(v.found, "veth1 is in red");
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red link set veth1 netns blue")
    );
    // Swapped ends: veth0 sits in red, wired to veth1 in blue.
    let mut f = Fake::default();
    f.snaps.insert(
        Ns::Root,
        Rc::new(Snapshot::from_parts(Ns::Root, vec![], vec![], vec![])),
    );
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            vec![veth(2, "veth1", "veth0", &red(), false)],
            vec![],
            vec![],
        )),
    );
    f.snaps.insert(
        red(),
        Rc::new(Snapshot::from_parts(
            red(),
            vec![veth(2, "veth0", "veth1", &blue(), false)],
            vec![],
            vec![],
        )),
    );
    let v = verdict("link veth0 in blue peer veth1 in red", &mut f);
    assert!(!v.pass);
    assert_eq!(v.found, "veth0 is in red");
    assert_eq!(
        v.cause.as_deref(),
        Some("the ends of the pair look swapped: veth1 is in blue, and veth0 in red")
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red link set veth0 netns blue")
    );
    // Another cable of the same name elsewhere (routing: an eth0 in left and one in right):
    // not moved, made. (The fix said to move left's eth0 to right, which broke left's check.)
    let v = verdict("link veth1 in blue peer vethx in red", &mut lab(&[], &[]));
    assert!(!v.pass);
    assert_eq!(
        v.cause.as_deref(),
        Some("the veth1 in red is another cable (its other end is veth0 in blue)")
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue link add veth1 type veth peer name vethx netns red")
    );
    // A link the lesson wants in the root namespace, found in a namespace: moved back by the
    // first process's namespace.
    let mut f = lab(&[], &[]);
    let v = verdict("link veth0 exists", &mut f);
    assert_eq!(v.fix.as_deref(), Some("ip -n blue link set veth0 netns 1"));
    assert_eq!(v.cause.as_deref(), Some("veth0 is in the wrong namespace"));
}

#[test]
fn a_link_sent_to_a_typo_of_its_namespace_is_found_there() {
    // `ip link set veth1 netns rde`: red, the lesson's, has no veth1; rde has it.
    let mut f = lab(&[], &[]);
    let r = f.snaps.remove(&red()).unwrap();
    f.snaps.insert(Ns::Named("rde".into()), r);
    f.snaps.insert(
        red(),
        Rc::new(Snapshot::from_parts(
            red(),
            vec![Link::bare(1, "lo", "loopback")],
            vec![],
            vec![],
        )),
    );
    f.lesson = vec!["blue".into(), "red".into()];
    let v = verdict("link veth1 in red exists", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.cause.as_deref(),
        Some("veth1 is in rde, a namespace the lesson does not make: a typo of red?")
    );
    assert_eq!(v.fix.as_deref(), Some("ip -n rde link set veth1 netns red"));
}

#[test]
fn a_link_the_lesson_makes_is_no_typo_of_another_it_makes() {
    // red has veth2 where the check wants veth1: a typo, unless the lesson makes veth2 too
    // (then veth1 is missing because its own line failed or has not run).
    let mut f = lab(&[], &[]);
    let r = Snapshot::from_parts(
        red(),
        vec![
            Link::bare(1, "lo", "loopback"),
            Link::bare(3, "veth2", "dummy"),
        ],
        vec![],
        vec![],
    );
    f.snaps.insert(red(), Rc::new(r));
    let v = verdict("link veth1 in red exists", &mut f);
    assert_eq!(v.cause.as_deref(), Some("red has a 'veth2': a typo?"));
    f.links = vec!["veth1".into(), "veth2".into()];
    let v = verdict("link veth1 in red exists", &mut f);
    assert!(!v.pass);
    assert_eq!(v.cause, None, "{v:?}");
}

#[test]
fn an_address_on_the_wrong_end_gets_a_try_that_moves_it() {
    // 10.1.0.3 went on blue's veth0, not on red's veth1.
    let mut f = lab(&["10.1.0.2/24", "10.1.0.3/24"], &[]);
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.cause.as_deref(),
        Some("the address belongs on the other end")
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue addr del 10.1.0.3/24 dev veth0; ip -n red addr add 10.1.0.3/24 dev veth1")
    );
    // Its only address: moved, blue would have none to ping from. No Try.
    let mut f = lab(&["10.1.0.3/24"], &[]);
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("the address belongs on the other end")
    );
    assert_eq!(v.fix, None);
    // On both ends: deleting blue's is all it takes.
    let mut f = lab(&["10.1.0.2/24", "10.1.0.3/24"], &["10.1.0.3/24"]);
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue addr del 10.1.0.3/24 dev veth0")
    );
}

#[test]
fn a_static_neighbour_typed_wrong_gets_a_try_a_learned_one_does_not() {
    let entry = |mac: &str, state: &str| Neigh {
        addr: "10.1.0.3".parse().unwrap(),
        dev: "veth0".into(),
        lladdr: Some(mac.parse().unwrap()),
        state: state.into(),
    };
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.neighs.insert(
        blue(),
        Rc::new(vec![entry("02:00:00:00:00:09", "permanent")]),
    );
    let check = "neigh 10.1.0.3 lladdr 02:00:00:00:00:03 on veth0 permanent in blue";
    let v = verdict(check, &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue neigh replace 10.1.0.3 lladdr 02:00:00:00:00:03 dev veth0 nud permanent")
    );
    // Learned from the other end: its MAC is what the other end has; no line here fixes it.
    f.neighs.insert(
        blue(),
        Rc::new(vec![entry("02:00:00:00:00:09", "reachable")]),
    );
    let v = verdict(
        "neigh 10.1.0.3 lladdr 02:00:00:00:00:03 on veth0 in blue",
        &mut f,
    );
    assert!(!v.pass);
    assert_eq!(v.fix, None);
}

#[test]
fn a_cable_wanted_whole_in_the_root_namespace_is_not_swapped() {
    // Step 3 of the veth lab wants both ends in the root namespace; veth1 went to blue.
    let mut f = Fake::default();
    let mut v0 = veth(2, "veth0", "veth1", &blue(), false);
    v0.peer.as_mut().unwrap().ns = Some(blue());
    f.snaps.insert(
        Ns::Root,
        Rc::new(Snapshot::from_parts(
            Ns::Root,
            vec![Link::bare(1, "lo", "loopback"), v0],
            vec![],
            vec![],
        )),
    );
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            vec![
                Link::bare(1, "lo", "loopback"),
                veth(3, "veth1", "veth0", &Ns::Root, false),
            ],
            vec![],
            vec![],
        )),
    );
    let v = verdict("link veth1 peer veth0", &mut f);
    assert_eq!(v.cause.as_deref(), Some("veth1 is in the wrong namespace"));
    assert_eq!(v.fix.as_deref(), Some("ip -n blue link set veth1 netns 1"));
    // From the other end: the peer is moved back by `netns 1`, which ip takes ("root" it
    // does not).
    let v = verdict("link veth0 peer veth1", &mut f);
    assert_eq!(v.fix.as_deref(), Some("ip -n blue link set veth1 netns 1"));
    // Gone from here: moved, or its pair deleted? The step's other checks say; no Try
    // deletes the cable.
    let v = verdict("link veth0 absent", &mut f);
    assert!(!v.pass);
    assert_eq!(v.fix, None);
}

#[test]
fn a_sysctl_set_in_the_wrong_namespace_is_named() {
    let mut f = lab(&[], &[]);
    let key = || (Ns::Root, "net.ipv4.ip_forward".to_string());
    // The root namespace had 0 all along, and the check wants 0 in blue (which has 1): root's
    // value says nothing of where the command ran (a student helper was told it did).
    f.sysctls.insert((blue(), key().1), "1".into());
    f.sysctls_at_start.insert(key(), "0".into());
    let v = verdict("sysctl net.ipv4.ip_forward = 0 in blue", &mut f);
    assert!(!v.pass);
    assert_eq!(v.cause, None, "{v:?}");
    // Root had 1 when the step began: the same.
    f.sysctls.remove(&(blue(), key().1));
    f.sysctls.insert(key(), "1".into());
    f.sysctls_at_start.insert(key(), "1".into());
    assert_eq!(
        verdict("sysctl net.ipv4.ip_forward = 1 in blue", &mut f).cause,
        None
    );
    // Root changed to what blue should have during the step: named.
    f.sysctls_at_start.insert(key(), "0".into());
    let v = verdict("sysctl net.ipv4.ip_forward = 1 in blue", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.cause.as_deref(),
        Some(
            "net.ipv4.ip_forward is 1 in the root namespace: did the command run there, not in blue? If so, set it back there to what it was"
        )
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip netns exec blue sysctl -w net.ipv4.ip_forward=1")
    );
}

#[test]
fn a_route_by_a_gateway_on_a_link_that_is_down_says_so() {
    // blue's veth0 has 10.1.0.2/24 but is down: the kernel refuses the gateway.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            vec![
                Link::bare(1, "lo", "loopback"),
                veth(2, "veth0", "veth1", &red(), false),
            ],
            vec![addr("veth0", "10.1.0.2/24")],
            vec![],
        )),
    );
    let v = verdict("route default via 10.1.0.3 in blue", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.cause.as_deref(),
        Some(
            "10.1.0.3 is on veth0's subnet, and veth0 is down: the kernel takes no gateway on a link that is down"
        )
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue link set veth0 up && ip -n blue route add default via 10.1.0.3")
    );
}

#[test]
fn near_misses_elsewhere_are_named() {
    // A neighbour entry on the other link.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.neighs.insert(
        blue(),
        Rc::new(vec![Neigh {
            addr: "10.1.0.9".parse().unwrap(),
            dev: "lo".into(),
            lladdr: None,
            state: "permanent".into(),
        }]),
    );
    let v = verdict("neigh 10.1.0.9 on veth0 in blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("the entry for 10.1.0.9 is on lo, not on veth0")
    );
    assert!(
        v.message().contains(". The entry for 10.1.0.9 is on lo"),
        "{}",
        v.message()
    );
    // A route in another table, and one of another prefix length.
    let route = |dest: &str, table: u32| Route {
        dest: Some(dest.parse().unwrap()),
        via: Some("10.1.0.3".parse().unwrap()),
        dev: Some("veth0".into()),
        table,
        kind: rtn::UNICAST,
        metric: None,
        v6: false,
        nexthops: Vec::new(),
        src: None,
        tos: 0,
    };
    let b = f.snaps.remove(&blue()).unwrap();
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            b.links.clone(),
            b.addrs.clone(),
            vec![route("10.9.0.0/16", 100), route("10.8.0.0/16", 254)],
        )),
    );
    let v = verdict("route 10.9.0.0/16 via 10.1.0.3 in blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("a route 10.9.0.0/16 is in table 100, not in the main table")
    );
    // The other way round: the namespace has the route, in its main table only. What it lacks
    // is the route in table 100 (it said "blue has no route 10.8.0.0/16", which it has).
    let v = verdict("route 10.8.0.0/16 via 10.1.0.3 table 100 in blue", &mut f);
    assert_eq!(v.found, "blue has no route 10.8.0.0/16 in table 100");
    assert_eq!(
        v.cause.as_deref(),
        Some("a route 10.8.0.0/16 is in the main table, not in table 100")
    );
    let v = verdict("route 10.8.0.0/24 via 10.1.0.3 in blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("there is a route 10.8.0.0/16 in blue: the check wants /24")
    );
    // An MTU set on the other end; the Try follows a question without a full stop.
    let r = f.snaps.remove(&red()).unwrap();
    let mut links = r.links.clone();
    links[1].mtu = Some(1400);
    f.snaps.insert(
        red(),
        Rc::new(Snapshot::from_parts(red(), links, r.addrs.clone(), vec![])),
    );
    let v = verdict("link veth0 in blue mtu 1400", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("its other end, veth1 in red, has MTU 1400: the command went to that end?")
    );
    assert!(v.message().contains("that end? Try: "), "{}", v.message());
}

#[test]
fn a_try_line_works_from_the_state_as_it_is() {
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    let mut s = (*f.snaps[&red()]).clone();
    s.routes.push(Route {
        dest: None,
        via: Some("10.1.0.9".parse().unwrap()),
        dev: Some("veth1".into()),
        table: 254,
        kind: rtn::UNICAST,
        metric: None,
        v6: false,
        nexthops: Vec::new(),
        src: None,
        tos: 0,
    });
    f.snaps.insert(red(), Rc::new(s));
    let v = verdict("route default via 10.1.0.2 in red", &mut f);
    assert!(!v.pass);
    // A default route is in the way: `add` would say File exists.
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red route replace default via 10.1.0.2")
    );
    let v = verdict("route default via 10.1.0.2 in blue", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue route add default via 10.1.0.2")
    );
    // A gateway on none of the namespace's subnets is named as the cause.
    let v = verdict("route default via 10.9.0.1 in blue", &mut f);
    assert!(
        v.cause.as_deref().unwrap().contains("10.9.0.1 is on none"),
        "{v:?}"
    );
    // ...and no Try that the kernel would refuse for that very reason.
    assert_eq!(v.fix, None);
}

/// A route in `red` to `dest` (None: default) via `via`, with a metric.
fn with_route(f: &mut Fake, dest: Option<&str>, via: &str, metric: Option<u32>) {
    let mut s = (*f.snaps[&red()]).clone();
    s.routes.push(Route {
        dest: dest.map(|d| d.parse().unwrap()),
        via: Some(via.parse().unwrap()),
        dev: Some("veth1".into()),
        table: 254,
        kind: rtn::UNICAST,
        metric,
        v6: false,
        nexthops: Vec::new(),
        src: None,
        tos: 0,
    });
    f.snaps.insert(red(), Rc::new(s));
}

/// Routes of one metric: the first is the one used, whatever its type (a blackhole first
/// takes the traffic), unless it is for another type of service; and a missing route of that
/// metric is appended, not put in the place of the one that is there.
#[test]
fn of_routes_of_one_metric_the_first_is_used() {
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    with_route(&mut f, Some("10.99.0.0/24"), "10.1.0.9", None);
    let v = verdict("route 10.99.0.0/24 via 10.1.0.2 metric 0 in red", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red route append 10.99.0.0/24 via 10.1.0.2 metric 0")
    );
    with_route(&mut f, Some("10.99.0.0/24"), "10.1.0.2", None);
    assert!(verdict("route 10.99.0.0/24 via 10.1.0.9 in red", &mut f).pass);
    let v = verdict("route 10.99.0.0/24 via 10.1.0.2 in red", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red route del 10.99.0.0/24 via 10.1.0.9 metric 0")
    );
    assert!(verdict("route 10.99.0.0/24 via 10.1.0.2 metric 0 in red", &mut f).pass);
    // A blackhole first takes the traffic; a route for one type of service takes no other.
    let mut s = (*f.snaps[&red()]).clone();
    s.routes
        .retain(|r| r.via != Some("10.1.0.9".parse().unwrap()));
    s.routes.insert(
        0,
        Route {
            dest: Some("10.99.0.0/24".parse().unwrap()),
            via: None,
            dev: None,
            table: 254,
            kind: rtn::BLACKHOLE,
            metric: None,
            v6: false,
            nexthops: Vec::new(),
            src: None,
            tos: 0,
        },
    );
    f.snaps.insert(red(), Rc::new(s.clone()));
    assert!(!verdict("route 10.99.0.0/24 via 10.1.0.2 in red", &mut f).pass);
    s.routes[0].tos = 0x10;
    f.snaps.insert(red(), Rc::new(s));
    assert!(verdict("route 10.99.0.0/24 via 10.1.0.2 in red", &mut f).pass);
}

#[test]
fn a_route_is_judged_with_its_metric() {
    // The right gateway, added after a wrong one and with a higher metric: the wrong one wins,
    // and a check without a metric (the route red uses) fails, naming it.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    with_route(&mut f, None, "10.1.0.9", None);
    with_route(&mut f, None, "10.1.0.2", Some(10));
    let v = verdict("route default via 10.1.0.2 in red", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.found,
        "its route default goes via 10.1.0.2 with metric 10, and another goes via 10.1.0.9 with metric 0"
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n red route del default via 10.1.0.9 metric 0")
    );
    // A check that names the metric asks for that route, whatever wins.
    assert!(verdict("route default via 10.1.0.2 metric 10 in red", &mut f).pass);
    // The right gateway with the wrong metric: found says the metric, and the fix deletes that
    // route first (a replace with another metric would add a second one beside it).
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    with_route(&mut f, Some("10.99.0.0/24"), "10.1.0.2", None);
    let v = verdict("route 10.99.0.0/24 via 10.1.0.2 metric 100 in red", &mut f);
    assert_eq!(
        v.found,
        "its route 10.99.0.0/24 goes via 10.1.0.2 with metric 0"
    );
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n red route del 10.99.0.0/24 via 10.1.0.2 metric 0 && ip -n red route add 10.99.0.0/24 via 10.1.0.2 metric 100"
        )
    );
    // Another route has that metric already: `add` would fail with "File exists" after the
    // `del` (a lesson author pasted it); the Try appends.
    with_route(&mut f, Some("10.99.0.0/24"), "10.1.0.9", Some(100));
    let v = verdict("route 10.99.0.0/24 via 10.1.0.2 metric 100 in red", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n red route del 10.99.0.0/24 via 10.1.0.2 metric 0 && ip -n red route append 10.99.0.0/24 via 10.1.0.2 metric 100"
        ),
        "{v:?}"
    );
}

#[test]
fn an_unanswered_ping_names_what_is_wrong_at_the_far_end() {
    let no_reply = |f: &mut Fake, addr: &str| {
        f.pings
            .insert((blue(), addr.parse().unwrap()), PingOutcome::NoReply);
    };
    // Nobody has the address (it went on the wrong end, or with a typo).
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.30/24"]);
    no_reply(&mut f, "10.1.0.3");
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("no namespace of the lesson has 10.1.0.3: it is missing, or has a typo")
    );
    // The far end's link is down.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    let mut r = (*f.snaps[&red()]).clone();
    r.links[1].up = false;
    f.snaps.insert(red(), Rc::new(r));
    no_reply(&mut f, "10.1.0.3");
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some("veth1 in red, which has 10.1.0.3, is down")
    );
    assert_eq!(v.fix.as_deref(), Some("ip -n red link set veth1 up"));
    // The far end has no route back to the sender's address.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/32"]);
    no_reply(&mut f, "10.1.0.3");
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some(
            "red has no route back to 10.1.0.2, the address blue pings from: its reply has nowhere to go"
        )
    );
    // A router on the way (forwarding on) may masquerade the sender, and its firewall may be
    // what drops the echo: both are said (the containers lesson's student was sent to add a
    // route the lesson forbids, when the FORWARD policy dropped it: found by a fresh-eyes
    // student).
    f.sysctls
        .insert((Ns::Root, "net.ipv4.ip_forward".into()), "1".into());
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert_eq!(
        v.cause.as_deref(),
        Some(
            "red has no route back to 10.1.0.2, the address blue pings from, unless root masquerades it; if it does, look at root's firewall (its FORWARD chain)"
        )
    );
    // All of that in order: the question that was asked before.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    no_reply(&mut f, "10.1.0.3");
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(
        v.cause.as_deref().unwrap().starts_with("Are both ends up"),
        "{v:?}"
    );
}

/// The right ping from the wrong namespace: nslab saw red (or the root namespace) send the echo
/// requests, and says where to ping from. Before, only "0 echo requests ... from blue".
#[test]
fn a_ping_from_the_wrong_namespace_is_named() {
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    let a: IpAddr = "10.1.0.3".parse().unwrap();
    let red = Ns::Named("red".into());
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            elsewhere: vec![(red.clone(), 3)],
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("3 from red went to 10.1.0.3"), "{v:?}");
    let cause = v.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("from red, not from blue") && cause.contains("ip netns exec blue"),
        "{v:?}"
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("ip netns exec blue ping -c 3 10.1.0.3")
    );
    // Expected to fail: a ping from elsewhere is not the one the step asks for either.
    assert!(!verdict("pinged 10.1.0.3 from blue unanswered", &mut f).pass);
    // From the root namespace: said so, and how to get there.
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            elsewhere: vec![(Ns::Root, 1)],
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(
        v.cause
            .as_deref()
            .unwrap_or_default()
            .contains("from the root namespace, not from blue"),
        "{v:?}"
    );
    // Pings from blue as well: blue's are what count, and nothing is said of red's.
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 3,
            replies: 3,
            elsewhere: vec![(red, 3)],
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(v.pass && !v.found.contains("red"), "{v:?}");
}

/// A ping to an address on the link that nobody holds sends no echo: it waits for address
/// resolution (ARP), which never comes. The ARP requests the namespace broadcast are the
/// attempt: `unanswered` ticks, and an answered ping says why it failed (before, learn never
/// ticked `pinged ... unanswered` there, although verify passed the lesson: a fresh-eyes author).
#[test]
fn a_ping_that_waited_for_arp_is_an_unanswered_attempt() {
    let mut f = lab(&["10.0.1.2/16"], &["10.0.9.9/16"]);
    let a: IpAddr = "10.0.2.2".parse().unwrap();
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            unresolved: 3,
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.0.2.2 from blue unanswered", &mut f);
    assert!(v.pass, "{v:?}");
    assert!(
        v.found
            .contains("3 address resolution requests (ARP) for 10.0.2.2"),
        "{v:?}"
    );
    let v = verdict("pinged 10.0.2.2 from blue", &mut f);
    assert!(!v.pass);
    assert!(
        v.cause
            .as_deref()
            .unwrap_or_default()
            .contains("nobody on the link answered for 10.0.2.2 (ARP)"),
        "{v:?}"
    );
    // Nothing at all: still waiting for the student's ping.
    f.pinged.insert((blue(), a), PingActivity::default());
    assert!(!verdict("pinged 10.0.2.2 from blue unanswered", &mut f).pass);
}

#[test]
fn action_checks_wait_for_the_action() {
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    let a: IpAddr = "10.1.0.3".parse().unwrap();
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip netns exec blue ping -c 3 10.1.0.3")
    );
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 3,
            replies: 3,
            unroutable: 0,
            ..Default::default()
        },
    );
    assert!(verdict("pinged 10.1.0.3 from blue", &mut f).pass);
    assert!(!verdict("pinged 10.1.0.3 from blue unanswered", &mut f).pass);
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 2,
            replies: 0,
            unroutable: 0,
            ..Default::default()
        },
    );
    assert!(verdict("pinged 10.1.0.3 from blue unanswered", &mut f).pass);
    // "Network is unreachable": no packet left, but the student tried.
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 0,
            replies: 0,
            unroutable: 1,
            ..Default::default()
        },
    );
    assert!(verdict("pinged 10.1.0.3 from blue unanswered", &mut f).pass);
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(v.cause.as_deref().unwrap().contains("no route"), "{v:?}");
    // Seen only by the namespace's counter, which does not say where to: the reason says so.
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            unroutable: 1,
            unroutable_anywhere: true,
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue unanswered", &mut f);
    assert!(v.pass);
    assert!(v.found.contains("without its address"), "{v:?}");
    // Answered once (before the fault), then pinged again without an answer: that counts.
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 3,
            replies: 1,
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue unanswered", &mut f);
    assert!(!v.pass);
    assert!(v.cause.as_deref().unwrap().contains("ping again"), "{v:?}");
    f.pinged.insert(
        (blue(), a),
        PingActivity {
            sent: 3,
            replies: 1,
            unanswered_after_reply: 2,
            ..Default::default()
        },
    );
    assert!(verdict("pinged 10.1.0.3 from blue unanswered", &mut f).pass);
    // A probe is a state check: it holds whether or not the student pinged.
    f.pings
        .insert((blue(), a), PingOutcome::Reply(Duration::from_micros(40)));
    assert!(verdict("ping 10.1.0.3 from blue", &mut f).pass);
}

#[test]
fn a_process_check_sees_only_the_sessions_processes() {
    let mut f = lab(&[], &[]);
    assert!(!verdict("process netns-demo in another netns", &mut f).pass);
    f.procs.insert("netns-demo".into(), vec![(42, 4026531840)]);
    let v = verdict("process netns-demo in another netns", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("root network namespace"));
    f.procs.insert("netns-demo".into(), vec![(42, 4026532001)]);
    assert!(verdict("process netns-demo in another netns", &mut f).pass);
    // The named namespace is the process's own (same inode).
    assert!(verdict("netns blue same as process netns-demo", &mut f).pass);
    f.procs.insert("netns-demo".into(), vec![(42, 4026532777)]);
    assert!(!verdict("netns blue same as process netns-demo", &mut f).pass);
}

/// A program and the child it cloned share a name. A bind mount of the parent's namespace
/// names the root one: that is not the process's namespace, and the student is told which
/// process the mount took (before, it ticked, and the next step's `kill $(ip netns pids keep)`
/// signalled every process of the machine: found by a fresh-eyes student).
#[test]
fn a_name_for_the_root_namespace_is_not_the_namespace_of_a_cloned_child() {
    let mut f = lab(&[], &[]);
    f.inodes.insert("blue".into(), 4026531840);
    f.procs.insert(
        "netns-demo".into(),
        vec![(41, 4026531840), (42, 4026532555)],
    );
    let v = verdict("netns blue same as process netns-demo", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("root namespace"), "{}", v.found);
    assert!(v.found.contains("4026532555"), "{}", v.found);
    // A process that lives only in the root namespace is named by it.
    f.procs.insert("netns-demo".into(), vec![(41, 4026531840)]);
    assert!(verdict("netns blue same as process netns-demo", &mut f).pass);
}

/// A process that should be gone and is not: the Try kills it by pid (a student who killed the
/// parent, not the child, gets the child's pid).
#[test]
fn a_process_that_should_be_gone_is_named_with_its_pid_to_kill() {
    let mut f = lab(&[], &[]);
    f.procs
        .insert("netns-demo".into(), vec![(55, 4026532001), (7, 4026531840)]);
    let v = verdict("not process netns-demo in another netns", &mut f);
    assert!(!v.pass);
    assert_eq!(v.fix.as_deref(), Some("kill 55"));
    f.procs.insert("netns-demo".into(), vec![(7, 4026531840)]);
    assert!(verdict("not process netns-demo in another netns", &mut f).pass);
}

#[test]
fn fdb_checks_read_learned_entries() {
    let mut f = lab(&[], &[]);
    let mut s = (*f.snaps[&Ns::Root]).clone();
    s = Snapshot::from_parts(
        Ns::Root,
        {
            let mut v = s.links.clone();
            v.push(Link::bare(5, "bridge0", "bridge"));
            v.push(Link::bare(6, "blue0", "veth"));
            v
        },
        vec![],
        vec![],
    );
    f.snaps.insert(Ns::Root, Rc::new(s));
    let mac: crate::net::Mac = "02:00:00:00:00:01".parse().unwrap();
    f.fdbs.insert(
        Ns::Root,
        Rc::new(vec![FdbEntry {
            mac,
            dev: "blue0".into(),
            master: Some("bridge0".into()),
            learned: false,
        }]),
    );
    assert!(!verdict("fdb on blue0 learned", &mut f).pass);
    assert!(verdict("not fdb on blue0 learned", &mut f).pass);
    f.fdbs.insert(
        Ns::Root,
        Rc::new(vec![FdbEntry {
            mac,
            dev: "blue0".into(),
            master: Some("bridge0".into()),
            learned: true,
        }]),
    );
    assert!(verdict("fdb on blue0 learned", &mut f).pass);
    assert!(verdict("fdb on blue0 has 02:00:00:00:00:01", &mut f).pass);
    // In the port's own table (`bridge fdb add MAC dev blue0` without `master`): the slip is
    // named, with the command that puts it in the bridge's.
    f.fdbs.insert(
        Ns::Root,
        Rc::new(vec![FdbEntry {
            mac,
            dev: "blue0".into(),
            master: None,
            learned: false,
        }]),
    );
    let v = verdict("fdb on blue0 has 02:00:00:00:00:01", &mut f);
    assert!(!v.pass);
    assert!(
        v.cause
            .as_deref()
            .is_some_and(|c| c.contains("blue0's own table")),
        "{v:?}"
    );
    assert_eq!(
        v.fix.as_deref(),
        Some("bridge fdb add 02:00:00:00:00:01 dev blue0 master static")
    );
}

#[test]
fn review_findings_on_verdicts() {
    // `0.0.0.0/0` is the default route, as the kernel keeps it.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    let mut s = (*f.snaps[&red()]).clone();
    s.routes.push(Route {
        dest: None,
        via: Some("10.1.0.2".parse().unwrap()),
        dev: Some("veth1".into()),
        table: 254,
        kind: rtn::UNICAST,
        metric: None,
        v6: false,
        nexthops: Vec::new(),
        src: None,
        tos: 0,
    });
    f.snaps.insert(red(), Rc::new(s));
    assert!(verdict("route 0.0.0.0/0 via 10.1.0.2 in red", &mut f).pass);
    assert!(verdict("route default via 10.1.0.2 in red", &mut f).pass);

    // A ping of the namespace's own address proves no network, even when the student did it.
    let mut f = lab(&["10.1.0.2/24", "10.1.0.3/32"], &["10.1.0.3/24"]);
    f.pinged.insert(
        (blue(), "10.1.0.3".parse().unwrap()),
        PingActivity {
            sent: 3,
            replies: 3,
            unroutable: 0,
            ..Default::default()
        },
    );
    let v = verdict("pinged 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("an address of blue itself"), "{v:?}");

    // A namespace the lesson makes is no typo of another it makes.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.snaps.insert(
        Ns::Named("rb".into()),
        Rc::new(Snapshot::from_parts(
            Ns::Named("rb".into()),
            vec![],
            vec![],
            vec![],
        )),
    );
    let v = verdict("netns ra exists", &mut f);
    assert!(v.cause.as_deref().unwrap_or("").contains("'rb'"), "{v:?}");
    f.lesson = ["ra", "rb", "blue", "red"].map(String::from).to_vec();
    let v = verdict("netns ra exists", &mut f);
    assert_eq!(v.cause, None, "{v:?}");

    // A router that reports the destination unreachable is the one without the route.
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.pings.insert(
        (blue(), "10.2.0.2".parse().unwrap()),
        PingOutcome::Unreachable("destination unreachable (reported by 10.1.0.3)".into()),
    );
    let v = verdict("ping 10.2.0.2 from blue", &mut f);
    assert!(!v.pass);
    assert!(v.cause.as_deref().unwrap().contains("the router"), "{v:?}");
    assert_eq!(v.fix, None);
}

#[test]
fn a_wrong_address_of_the_subnet_goes_before_the_right_one_comes() {
    let mut f = lab(&["10.1.0.9/24"], &["10.1.0.3/24"]);
    let v = verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f);
    assert!(!v.pass);
    // Added beside 10.1.0.9/24, the right address would be its secondary, deleted with it.
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n blue address del 10.1.0.9/24 dev veth0 && ip -n blue address add 10.1.0.2/24 dev veth0"
        )
    );
    assert!(
        v.cause.as_deref().unwrap_or_default().contains("secondary"),
        "{v:?}"
    );
    // Another subnet is no matter: only the address is added.
    let mut f = lab(&["192.168.9.1/24"], &["10.1.0.3/24"]);
    let v = verdict("addr 10.1.0.2/24 on veth0 in blue", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue address add 10.1.0.2/24 dev veth0")
    );
}

/// What the lesson puts somewhere is not misplaced there: no Try takes it away (found by a
/// lesson author: an anycast address, an eth0 in each host, a primary the lesson keeps beside
/// the address it adds as secondary).
#[test]
fn no_try_takes_away_what_the_lesson_puts_there() {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    // 10.1.0.3 on veth1 in red, where the lesson puts it too (anycast): blue's check gets a
    // plain add.
    let mut f = lab(&[], &["10.1.0.3/24"]);
    let v = verdict("addr 10.1.0.3/24 on veth0 in blue", &mut f);
    assert!(v.fix.as_deref().unwrap().contains("address del"), "{v:?}");
    f.addrs.insert((red(), "veth1".into(), ip("10.1.0.3")));
    let v = verdict("addr 10.1.0.3/24 on veth0 in blue", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue address add 10.1.0.3/24 dev veth0"),
        "{v:?}"
    );
    // A primary of the subnet that the lesson puts on the link itself stays.
    let mut f = lab(&["10.1.0.2/24"], &[]);
    let v = verdict("addr 10.1.0.9/24 on veth0 in blue", &mut f);
    assert!(v.fix.as_deref().unwrap().contains("address del"), "{v:?}");
    f.addrs.insert((blue(), "veth0".into(), ip("10.1.0.2")));
    let v = verdict("addr 10.1.0.9/24 on veth0 in blue", &mut f);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip -n blue address add 10.1.0.9/24 dev veth0"),
        "{v:?}"
    );
    // A link of the name elsewhere, where the lesson puts one of its own: not this one.
    let mut f = lab(&[], &[]);
    f.lesson = vec!["blue".into(), "red".into()];
    let v = verdict("link veth1 in blue is up", &mut f);
    assert!(v.fix.as_deref().unwrap().contains("netns"), "{v:?}");
    f.places.insert((red(), "veth1".into()));
    let v = verdict("link veth1 in blue is up", &mut f);
    assert!(
        !v.cause.as_deref().unwrap_or("").contains("wrong namespace"),
        "{v:?}"
    );
    assert!(!v.fix.as_deref().unwrap_or("").contains("netns"), "{v:?}");
}

/// A sysctl of several numbers reads back with tabs: the words are compared, and the Try
/// quotes the value, as sysctl takes it. Found by a lesson author.
#[test]
fn a_sysctl_of_several_numbers_is_compared_word_for_word() {
    let mut f = lab(&[], &[]);
    f.sysctls.insert(
        (blue(), "net.ipv4.ip_local_port_range".into()),
        "20000\t30000".into(),
    );
    assert!(
        verdict(
            "sysctl net.ipv4.ip_local_port_range = 20000 30000 in blue",
            &mut f
        )
        .pass
    );
    let v = verdict(
        "sysctl net.ipv4.ip_local_port_range = 20000 40000 in blue",
        &mut f,
    );
    assert!(!v.pass);
    assert_eq!(
        v.fix.as_deref(),
        Some("ip netns exec blue sysctl -w net.ipv4.ip_local_port_range=\"20000 40000\"")
    );
}

/// Another namespace than the pinging one holding the address where the lesson does not put
/// it (a router given the far host's address on its lo) may answer in its place: the ping
/// check fails, naming it (before, troubleshooting's faults ticked when the router took the
/// far host's address: found by a fresh-eyes student). Where the lesson puts it there too
/// (an anycast address), it is no impostor.
#[test]
fn an_address_answered_by_a_namespace_the_lesson_does_not_put_it_in_is_no_proof() {
    let mut f = lab(&["10.1.0.2/24"], &["10.1.0.3/24"]);
    f.addrs
        .insert((red(), "veth1".into(), "10.1.0.3".parse().unwrap()));
    let mut root = (*f.snaps[&Ns::Root]).clone();
    root.addrs.push(addr("lo", "10.1.0.3/32"));
    f.snaps.insert(Ns::Root, Rc::new(root));
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("also on lo"), "{}", v.found);
    assert_eq!(v.fix.as_deref(), Some("ip addr del 10.1.0.3/32 dev lo"));
    assert!(!verdict("pinged 10.1.0.3 from blue", &mut f).pass);
    f.addrs
        .insert((Ns::Root, "lo".into(), "10.1.0.3".parse().unwrap()));
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.found.contains("also on"), "{}", v.found);
    // On another link of the namespace where the lesson puts it (a challenge lets the student
    // name the links): that namespace's still.
    let mut f = lab(&["10.1.0.2/24"], &[]);
    f.addrs
        .insert((red(), "veth1".into(), "10.1.0.3".parse().unwrap()));
    let mut r = (*f.snaps[&red()]).clone();
    r.addrs.push(addr("v1", "10.1.0.3/24"));
    f.snaps.insert(red(), Rc::new(r));
    let v = verdict("ping 10.1.0.3 from blue", &mut f);
    assert!(!v.found.contains("also on"), "{}", v.found);
}

/// The lab with blue's veth0 holding `blue` (with the flags `set` gives it), red's veth1
/// holding `red`, and the veth's carrier as `carrier` says.
fn lab6(blue_addr: &str, red_addr: &str, carrier: bool, set: impl Fn(&mut Addr)) -> Fake {
    let mut f = lab(&[], &[red_addr]);
    let mut a = addr("veth0", blue_addr);
    set(&mut a);
    let mut l = veth(2, "veth0", "veth1", &red(), true);
    l.lower_up = carrier;
    f.snaps.insert(
        blue(),
        Rc::new(Snapshot::from_parts(
            blue(),
            vec![Link::bare(1, "lo", "loopback"), l],
            vec![a],
            vec![],
        )),
    );
    f
}

/// An IPv6 address whose duplicate address detection failed is not used by the kernel: its
/// check fails, names the other holder, and the Try removes that one and adds this one again
/// (a failed address stays failed). One still in detection is not there yet; one on a link
/// without a carrier, where detection has not begun, is as the line left it.
#[test]
fn an_ipv6_address_that_failed_detection_fails_and_says_why() {
    let mut f = lab6("fd00::1/64", "fd00::1/64", true, |a| {
        a.tentative = true;
        a.dadfailed = true;
    });
    let v = verdict("addr fd00::1/64 on veth0 in blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("dadfailed"), "{}", v.found);
    assert!(
        v.cause
            .as_deref()
            .unwrap_or_default()
            .contains("also on veth1 in red"),
        "{v:?}"
    );
    assert_eq!(
        v.fix.as_deref(),
        Some(
            "ip -n red address del fd00::1/64 dev veth1; ip -n blue address del fd00::1/64 dev veth0 && ip -n blue address add fd00::1/64 dev veth0"
        )
    );
    // The other holder is out of sight: the Try adds it again, the cause says when.
    let mut f = lab6("fd00::1/64", "fd00::2/64", true, |a| {
        a.tentative = true;
        a.dadfailed = true;
    });
    let v = verdict("addr fd00::1/64 on veth0 in blue", &mut f);
    assert!(!v.pass);
    assert!(
        v.cause
            .as_deref()
            .unwrap_or_default()
            .contains("another host"),
        "{v:?}"
    );
    // Still in detection: not yet.
    let mut f = lab6("fd00::1/64", "fd00::2/64", true, |a| a.tentative = true);
    let v = verdict("addr fd00::1/64 on veth0 in blue", &mut f);
    assert!(!v.pass);
    assert!(v.found.contains("tentative"), "{}", v.found);
    // No carrier: detection has not begun.
    let mut f = lab6("fd00::1/64", "fd00::2/64", false, |a| a.tentative = true);
    assert!(verdict("addr fd00::1/64 on veth0 in blue", &mut f).pass);
    // Detection over: there.
    let mut f = lab6("fd00::1/64", "fd00::2/64", true, |_| {});
    assert!(verdict("addr fd00::1/64 on veth0 in blue", &mut f).pass);
}

/// A cause after a full stop starts with a capital: "of routes with the same metric..." was
/// shown as "...with metric 0. of routes with the same metric" (a fresh-eyes student).
#[test]
fn a_cause_that_starts_with_of_is_a_sentence() {
    assert_eq!(
        super::sentence("of routes with the same metric, the kernel uses the first"),
        "Of routes with the same metric, the kernel uses the first"
    );
    // A name stays as it is.
    assert_eq!(super::sentence("veth1 is in red"), "veth1 is in red");
}
