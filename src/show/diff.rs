//! Intended versus observed: one topology whose items are marked present, missing or extra, so
//! that a picture shows a student what their commands have not built yet, or built besides.
//!
//! The intended side decides what is drawn: its namespaces, in its order. Inside a namespace it
//! mentions, whatever the kernel has and the intention does not is extra; namespaces it does
//! not mention are left out (the machine has others, none of the lesson's business). A present
//! item shows the observed state (up, carrier, addresses); only presence is marked.

use super::model::{Address, DefaultRoute, End, Iface, LinkKind, Mark, NsView, Topology, Wire};
use crate::lesson::grammar::ip::rtn;
use crate::lesson::{Check, LinkPred, Ns};

pub fn diff(intended: &Topology, observed: &Topology) -> Topology {
    let namespaces: Vec<NsView> = intended
        .namespaces
        .iter()
        .map(|i| match observed.namespace(&i.name) {
            Some(o) => merge_ns(i, o),
            None => missing_ns(i),
        })
        .collect();
    let mentioned = |e: &End| intended.namespace(&e.namespace).is_some();
    let mut wires: Vec<Wire> = intended
        .wires
        .iter()
        .map(|w| {
            let mut w = w.clone();
            let there = observed.wires.iter().any(|o| o.a == w.a && o.b == w.b);
            w.mark = Some(if there { Mark::Present } else { Mark::Missing });
            w
        })
        .collect();
    for o in &observed.wires {
        let known = intended.wires.iter().any(|w| w.a == o.a && w.b == o.b);
        if !known && (mentioned(&o.a) || mentioned(&o.b)) {
            let mut w = o.clone();
            w.mark = Some(Mark::Extra);
            wires.push(w);
        }
    }
    let mut t = Topology { namespaces, wires };
    t.derive_ports();
    t
}

fn mark_iface(i: &mut Iface, m: Mark) {
    i.mark = Some(m);
    for a in &mut i.addresses {
        a.mark = Some(m);
    }
    if i.master.is_some() {
        i.master_mark = Some(m);
    }
}

fn missing_ns(i: &NsView) -> NsView {
    let mut n = i.clone();
    n.mark = Some(Mark::Missing);
    for x in &mut n.interfaces {
        mark_iface(x, Mark::Missing);
    }
    if let Some(d) = &mut n.default_route {
        d.mark = Some(Mark::Missing);
    }
    n
}

fn merge_ns(i: &NsView, o: &NsView) -> NsView {
    let mut interfaces: Vec<Iface> = Vec::new();
    for ii in &i.interfaces {
        interfaces.push(match o.iface(&ii.name) {
            Some(oi) => merge_iface(ii, oi),
            None => {
                let mut x = ii.clone();
                mark_iface(&mut x, Mark::Missing);
                x
            }
        });
    }
    for oi in &o.interfaces {
        if i.iface(&oi.name).is_none() {
            let mut x = oi.clone();
            mark_iface(&mut x, Mark::Extra);
            interfaces.push(x);
        }
    }
    // The order a gathered namespace has: loopback, bridges, then by name.
    interfaces.sort_by_key(|x| (x.name != "lo", !x.is_bridge(), x.name.clone()));
    let default_route = match (&i.default_route, &o.default_route) {
        (Some(want), Some(have)) if want.via == have.via || want.via.is_none() => {
            let mut d = have.clone();
            d.mark = Some(Mark::Present);
            Some(d)
        }
        (Some(want), _) => {
            let mut d = want.clone();
            d.mark = Some(Mark::Missing);
            Some(d)
        }
        (None, Some(have)) => {
            let mut d = have.clone();
            d.mark = Some(Mark::Extra);
            Some(d)
        }
        (None, None) => None,
    };
    NsView {
        interfaces,
        default_route,
        mark: Some(Mark::Present),
        ..o.clone()
    }
}

/// The observed interface, with each intended address and the bridge it should be a port of
/// marked; addresses the kernel has besides are extra.
fn merge_iface(i: &Iface, o: &Iface) -> Iface {
    let mut addresses: Vec<Address> = i
        .addresses
        .iter()
        .map(|a| Address {
            cidr: a.cidr.clone(),
            mark: Some(if o.addresses.iter().any(|b| b.cidr == a.cidr) {
                Mark::Present
            } else {
                Mark::Missing
            }),
        })
        .collect();
    for b in &o.addresses {
        if !i.addresses.iter().any(|a| a.cidr == b.cidr) {
            // The kernel puts 127.0.0.1/8 on lo by itself when lo comes up: never extra.
            let own = o.name == "lo" && b.cidr == LOOPBACK;
            addresses.push(Address {
                cidr: b.cidr.clone(),
                mark: Some(if own { Mark::Present } else { Mark::Extra }),
            });
        }
    }
    // One bridge per port: when the two sides disagree, the intended one is shown missing.
    let (master, master_mark) = match (&i.master, &o.master) {
        (Some(want), Some(have)) if want == have => (Some(want.clone()), Some(Mark::Present)),
        (Some(want), _) => (Some(want.clone()), Some(Mark::Missing)),
        (None, Some(have)) => (Some(have.clone()), Some(Mark::Extra)),
        (None, None) => (None, None),
    };
    Iface {
        addresses,
        master,
        master_mark,
        peer: o.peer.clone().or_else(|| i.peer.clone()),
        mark: Some(Mark::Present),
        // Drawn as the kernel has it; where the lesson means the other state, a picture says so.
        meant_up: (i.up != o.up).then_some(i.up),
        ..o.clone()
    }
}

/// What a step's checks expect, added to a diff `t` where it is not drawn yet: a namespace, an
/// interface, an address, a veth pair's wire, a bridge port, a default route that a check
/// names and the picture does not have is drawn missing (or, when the kernel has it and the
/// intention did not, present). A link the checks want up or down and the kernel has the other
/// way says so (`meant UP`). Checks that something is absent, and `not` checks, add nothing.
pub fn expect(t: &mut Topology, observed: &Topology, checks: &[Check]) {
    for c in checks {
        match c {
            Check::Netns { name, exists: true } => {
                ensure_ns(t, observed, &Ns::Named(name.clone()));
            }
            Check::Link { name, ns, pred } => {
                if matches!(pred, LinkPred::Absent) {
                    continue;
                }
                let kind = match pred {
                    LinkPred::Kind(k) => Some(LinkKind::from_name(k)),
                    LinkPred::Peer { .. } => Some(LinkKind::Veth),
                    _ => None,
                };
                let i = ensure_iface(t, observed, ns, name, kind);
                match pred {
                    LinkPred::Up | LinkPred::Down => {
                        let want = matches!(pred, LinkPred::Up);
                        if i.mark != Some(Mark::Missing) && i.up != want {
                            i.meant_up = Some(want);
                        }
                    }
                    LinkPred::Master(m) => {
                        if i.master.as_deref() != Some(m.as_str()) {
                            i.master = Some(m.clone());
                            i.master_mark = Some(Mark::Missing);
                        }
                        ensure_iface(t, observed, ns, m, Some(LinkKind::Bridge));
                    }
                    LinkPred::Peer {
                        name: pname,
                        ns: pns,
                    } => {
                        let far = End::new(ns_name(pns), pname.clone());
                        if i.mark == Some(Mark::Missing) {
                            i.peer = Some(far.clone());
                        }
                        let near = End::new(ns_name(ns), name.clone());
                        let p = ensure_iface(t, observed, pns, pname, Some(LinkKind::Veth));
                        if p.mark == Some(Mark::Missing) {
                            p.peer = Some(near.clone());
                        }
                        let w = Wire::new(near, far);
                        if !t.wires.iter().any(|x| x.a == w.a && x.b == w.b) {
                            t.wires.push(Wire {
                                mark: Some(Mark::Missing),
                                ..w
                            });
                        }
                    }
                    _ => {}
                }
            }
            Check::Addr { cidr, dev, ns, .. } => {
                let cidr = cidr.to_string();
                let i = ensure_iface(t, observed, ns, dev, None);
                if !i.addresses.iter().any(|a| a.cidr == cidr) {
                    i.addresses.push(Address {
                        cidr,
                        mark: Some(Mark::Missing),
                    });
                }
            }
            Check::Route { ns, route }
                if route.dest.is_none_or(|d| d.prefix == 0)
                    && route.table.is_none_or(|t| t == MAIN)
                    && route.kind == rtn::UNICAST =>
            {
                let v = ensure_ns(t, observed, ns);
                if v.default_route.is_none() {
                    v.default_route = Some(DefaultRoute {
                        via: route.via.map(|a| a.to_string()),
                        dev: route.dev.clone(),
                        mark: Some(Mark::Missing),
                    });
                }
            }
            _ => {}
        }
    }
    t.derive_ports();
}

/// The main routing table's number.
const MAIN: u32 = 254;

fn ns_name(ns: &Ns) -> String {
    match ns {
        Ns::Root => "root".to_string(),
        Ns::Named(n) => n.clone(),
    }
}

/// The namespace in `t`: drawn already; or added, as the kernel has it (its interfaces
/// extra: the intention has none of them), or missing.
fn ensure_ns<'a>(t: &'a mut Topology, observed: &Topology, ns: &Ns) -> &'a mut NsView {
    let name = ns_name(ns);
    let k = match t.namespaces.iter().position(|n| n.name == name) {
        Some(k) => k,
        None => {
            let v = match (ns, observed.namespace(&name)) {
                (_, Some(o)) => {
                    let mut v = o.clone();
                    v.mark = Some(Mark::Present);
                    for i in &mut v.interfaces {
                        if i.name != "lo" {
                            mark_iface(i, Mark::Extra);
                        }
                    }
                    v
                }
                (Ns::Root, None) => {
                    let mut v = NsView::root();
                    v.mark = Some(Mark::Present);
                    v
                }
                (Ns::Named(_), None) => {
                    let mut v = NsView::named(name);
                    v.mark = Some(Mark::Missing);
                    v
                }
            };
            t.namespaces.push(v);
            t.namespaces.len() - 1
        }
    };
    &mut t.namespaces[k]
}

/// The interface in `t`: drawn already (marked present if it was drawn as extra: the check
/// means it), as the kernel has it, or missing.
fn ensure_iface<'a>(
    t: &'a mut Topology,
    observed: &Topology,
    ns: &Ns,
    name: &str,
    kind: Option<LinkKind>,
) -> &'a mut Iface {
    let here = ns_name(ns);
    let have = observed.iface(&End::new(&here, name)).cloned();
    let v = ensure_ns(t, observed, ns);
    let k = match v.interfaces.iter().position(|i| i.name == name) {
        Some(k) => {
            if v.interfaces[k].mark == Some(Mark::Extra) {
                v.interfaces[k].mark = Some(Mark::Present);
            }
            k
        }
        None => {
            let i = match have {
                Some(mut i) => {
                    mark_iface(&mut i, Mark::Extra);
                    i.mark = Some(Mark::Present);
                    i
                }
                None => {
                    let mut i = Iface::new(name, kind);
                    i.mark = Some(Mark::Missing);
                    i
                }
            };
            v.interfaces.push(i);
            v.interfaces
                .sort_by_key(|x| (x.name != "lo", !x.is_bridge(), x.name.clone()));
            v.interfaces
                .iter()
                .position(|i| i.name == name)
                .unwrap_or(0)
        }
    };
    &mut v.interfaces[k]
}

/// The address the kernel gives lo.
const LOOPBACK: &str = "127.0.0.1/8";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::model::{Iface, NsView};

    /// The veth lab as a lesson intends it after its address step.
    fn intended() -> Topology {
        Topology::new(vec![
            NsView::named("blue").with(
                Iface::veth("veth0", "red", "veth1")
                    .up()
                    .address("10.1.0.2/24"),
            ),
            NsView::named("red").with(
                Iface::veth("veth1", "blue", "veth0")
                    .up()
                    .address("10.1.0.3/24"),
            ),
        ])
    }

    fn mark_of<'a>(t: &'a Topology, ns: &str, iface: &str) -> &'a Iface {
        t.iface(&End::new(ns, iface)).unwrap()
    }

    #[test]
    fn the_same_topology_is_all_present() {
        let d = diff(&intended(), &intended());
        assert!(d.namespaces.iter().all(|n| n.mark == Some(Mark::Present)));
        assert!(
            d.namespaces
                .iter()
                .flat_map(|n| &n.interfaces)
                .all(|i| i.mark == Some(Mark::Present)
                    && i.addresses.iter().all(|a| a.mark == Some(Mark::Present)))
        );
        assert_eq!(d.wires.len(), 1);
        assert_eq!(d.wires[0].mark, Some(Mark::Present));
    }

    #[test]
    fn what_is_not_built_yet_is_missing() {
        // The student made blue and the pair, but red does not exist yet and veth0 has no
        // address: the pair's other end is elsewhere (still in root, say).
        let observed = Topology::new(vec![
            NsView::root().with(Iface::veth("veth1", "blue", "veth0")),
            NsView::named("blue").with(Iface::veth("veth0", "root", "veth1").up()),
        ]);
        let d = diff(&intended(), &observed);
        let names: Vec<&str> = d.namespaces.iter().map(|n| n.name.as_str()).collect();
        // Root is not the lesson's: left out.
        assert_eq!(names, ["blue", "red"]);
        assert_eq!(d.namespaces[0].mark, Some(Mark::Present));
        assert_eq!(d.namespaces[1].mark, Some(Mark::Missing));
        let veth0 = mark_of(&d, "blue", "veth0");
        assert_eq!(veth0.mark, Some(Mark::Present));
        assert_eq!(veth0.addresses[0].mark, Some(Mark::Missing));
        // The observed state is drawn: up.
        assert!(veth0.up);
        let veth1 = mark_of(&d, "red", "veth1");
        assert_eq!(veth1.mark, Some(Mark::Missing));
        assert_eq!(veth1.addresses[0].mark, Some(Mark::Missing));
        // The intended wire is missing; the observed one (blue to root) is extra: it touches
        // blue, which the lesson mentions.
        let marks: Vec<(String, Option<Mark>)> = d
            .wires
            .iter()
            .map(|w| (format!("{} {}", w.a, w.b), w.mark))
            .collect();
        assert_eq!(
            marks,
            [
                ("blue:veth0 red:veth1".to_string(), Some(Mark::Missing)),
                ("blue:veth0 root:veth1".to_string(), Some(Mark::Extra)),
            ]
        );
    }

    #[test]
    fn what_the_lesson_does_not_ask_for_is_extra() {
        let mut observed = intended();
        observed.namespaces[0]
            .interfaces
            .push(Iface::veth("stray", "red", "stray1").address("192.0.2.1/24"));
        observed.namespaces[0].interfaces[0]
            .addresses
            .push(Address::new("10.9.9.9/8"));
        observed.namespaces[0] = observed.namespaces[0].clone().default_via("10.1.0.1");
        observed.namespaces.push(NsView::named("green"));
        observed.derive();
        let d = diff(&intended(), &observed);
        assert_eq!(d.namespaces.len(), 2, "green is not the lesson's");
        let stray = mark_of(&d, "blue", "stray");
        assert_eq!(stray.mark, Some(Mark::Extra));
        assert_eq!(stray.addresses[0].mark, Some(Mark::Extra));
        let veth0 = mark_of(&d, "blue", "veth0");
        assert_eq!(
            veth0
                .addresses
                .iter()
                .map(|a| (a.cidr.as_str(), a.mark))
                .collect::<Vec<_>>(),
            [
                ("10.1.0.2/24", Some(Mark::Present)),
                ("10.9.9.9/8", Some(Mark::Extra))
            ]
        );
        let blue = &d.namespaces[0];
        assert_eq!(
            blue.default_route.as_ref().and_then(|r| r.mark),
            Some(Mark::Extra)
        );
        assert!(
            d.wires
                .iter()
                .any(|w| w.mark == Some(Mark::Extra) && w.a == End::new("blue", "stray"))
        );
    }

    #[test]
    fn a_port_off_its_bridge_is_missing() {
        let want = Topology::new(vec![
            NsView::root()
                .with(Iface::bridge("br0").up())
                .with(Iface::veth("p0", "blue", "p1").master("br0")),
        ]);
        let have = Topology::new(vec![
            NsView::root()
                .with(Iface::bridge("br0").up())
                .with(Iface::veth("p0", "blue", "p1")),
        ]);
        let d = diff(&want, &have);
        let p0 = mark_of(&d, "root", "p0");
        assert_eq!(
            (p0.master.as_deref(), p0.master_mark),
            (Some("br0"), Some(Mark::Missing))
        );
        // The bridge still lists it, so that the picture draws the missing port.
        assert_eq!(mark_of(&d, "root", "br0").ports, ["p0"]);
    }

    /// The kernel's own 127.0.0.1/8 on lo is never extra; a link the lesson means up and the
    /// kernel has down says so.
    #[test]
    fn the_kernels_own_and_the_meant_state() {
        let want = Topology::new(vec![
            NsView::named("blue")
                .with(Iface::loopback().up())
                .with(Iface::veth("veth0", "red", "veth1").up()),
        ]);
        let have = Topology::new(vec![
            NsView::named("blue")
                .with(Iface::loopback().up().address("127.0.0.1/8"))
                .with(Iface::veth("veth0", "red", "veth1")),
        ]);
        let d = diff(&want, &have);
        let lo = mark_of(&d, "blue", "lo");
        assert_eq!(lo.addresses[0].mark, Some(Mark::Present));
        assert_eq!(lo.meant_up, None);
        let veth0 = mark_of(&d, "blue", "veth0");
        assert!(!veth0.up);
        assert_eq!(veth0.meant_up, Some(true));
        let s = crate::show::render_text(&d, 80, true);
        assert!(!s.contains("[extra]"), "{s}");
        assert!(s.contains("o veth0     DOWN veth [meant UP] |"), "{s}");
    }

    fn checks(lines: &[&str]) -> Vec<crate::lesson::Check> {
        lines
            .iter()
            .map(|l| crate::lesson::check::parse(l).unwrap().0)
            .collect()
    }

    /// What a step's checks name and neither the intention nor the kernel has is drawn
    /// missing; what the kernel has is drawn as it is, not missing; `not` and absent checks add
    /// nothing.
    #[test]
    fn what_the_checks_expect_is_drawn() {
        let have = Topology::new(vec![
            NsView::named("blue").with(Iface::loopback().up()),
            NsView::named("green"),
        ]);
        let want = Topology::new(vec![NsView::named("blue").with(Iface::loopback().up())]);
        let mut d = diff(&want, &have);
        expect(
            &mut d,
            &have,
            &checks(&[
                "netns green exists",
                "link veth0 in blue peer veth1 in red",
                "addr 10.1.0.2/24 on veth0 in blue",
                "route default via 10.1.0.1 in blue",
                "link lo in blue is down",
                "not netns pink exists",
                "link gone in blue absent",
            ]),
        );
        let names: Vec<(&str, Option<Mark>)> = d
            .namespaces
            .iter()
            .map(|n| (n.name.as_str(), n.mark))
            .collect();
        assert_eq!(
            names,
            [
                ("blue", Some(Mark::Present)),
                ("green", Some(Mark::Present)),
                ("red", Some(Mark::Missing))
            ]
        );
        let veth0 = mark_of(&d, "blue", "veth0");
        assert_eq!(veth0.mark, Some(Mark::Missing));
        assert_eq!(veth0.addresses[0].cidr, "10.1.0.2/24");
        assert_eq!(veth0.addresses[0].mark, Some(Mark::Missing));
        assert_eq!(mark_of(&d, "red", "veth1").mark, Some(Mark::Missing));
        assert_eq!(d.wires.len(), 1);
        assert_eq!(d.wires[0].mark, Some(Mark::Missing));
        let route = d.namespaces[0].default_route.as_ref().unwrap();
        assert_eq!(
            (route.via.as_deref(), route.mark),
            (Some("10.1.0.1"), Some(Mark::Missing))
        );
        assert_eq!(mark_of(&d, "blue", "lo").meant_up, Some(false));
        assert!(d.namespace("pink").is_none());
        assert!(d.namespaces[0].iface("gone").is_none());
        let s = crate::show::render_text(&d, 80, true);
        assert!(s.contains("red [missing]"), "{s}");
        assert!(
            s.lines()
                .any(|l| l.contains("default via 10.1.0.1") && l.contains("[missing]")),
            "{s}"
        );
    }
}
