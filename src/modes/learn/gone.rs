//! The near miss the judge cannot see: what an earlier step made is gone (a namespace deleted
//! too early, a link removed, an address deleted, and the route that needed it). The effect
//! model replays the lesson's steps before this one (their hidden setups included) and this
//! step's own setup, says what they made and which step made each, and the kernel says what is
//! still there.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::lesson::effect::{RouteKey, Unknown, World};
use crate::lesson::{Check, Lesson, LinkPred, Ns};
use crate::net::Cidr;

/// What [`made_earlier`] asks the kernel: whether a namespace, a link, an address on a link, or
/// a route (as `ip route del` would name it) is there now.
pub struct Kernel<'a> {
    pub has_ns: &'a mut dyn FnMut(&str) -> bool,
    pub has_link: &'a mut dyn FnMut(&Ns, &str) -> bool,
    pub has_addr: &'a mut dyn FnMut(&Ns, &str, &Cidr) -> bool,
    /// The address as the link has it now, whatever its prefix length.
    pub addr_as: &'a mut dyn FnMut(&Ns, &str, IpAddr) -> Option<Cidr>,
    pub has_route: &'a mut dyn FnMut(&Ns, &RouteKey) -> bool,
}

/// Something the check needs that an earlier step made and the kernel no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    /// "namespace red", "veth0 in blue".
    pub what: String,
    /// The step that made it (1-based), and its title.
    pub step: usize,
    pub title: String,
    /// Made by the hidden setup of the step on screen (`step` is that step).
    pub this_setup: bool,
    /// Not gone: the address is there with another prefix length (this one): made again, as
    /// the step made it, it would be a second address beside the wrong one.
    /// The address the lesson's step made, and as the kernel has it.
    pub as_now: Option<(Cidr, Cidr)>,
}

impl Gone {
    /// The line learn shows under the check.
    pub fn say(&self) -> String {
        if let Some((want, now)) = self.as_now {
            return format!(
                "{} (step {}, {}) is {now} here: its prefix length is /{}, not /{}",
                self.what, self.step, self.title, now.prefix, want.prefix
            );
        }
        if self.this_setup {
            return format!(
                "{} was there when this step began and is gone now; press f to make it again",
                self.what
            );
        }
        format!(
            "{} was made in step {} ({}) and is gone now; press f to rebuild it",
            self.what, self.step, self.title
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Made {
    Netns(String),
    Link(Ns, String),
    Addr(Ns, String, Cidr),
    Route(Ns, RouteKey),
}

/// What the steps before `idx` (0-based) leave, with the hidden setup of step `idx`, and the
/// step (1-based) that made each thing, and the lines nslab cannot read with the step of each.
/// A step the student skipped (`skipped`, 1-based) left only its setup: its commands were
/// never run.
fn replay(
    lesson: &Lesson,
    idx: usize,
    skipped: &dyn Fn(usize) -> bool,
) -> (World, BTreeMap<Made, usize>, Vec<(usize, Unknown)>) {
    let mut world = World::new();
    let mut made = BTreeMap::new();
    let mut unknowns = Vec::new();
    for (k, step) in lesson.steps.iter().take(idx + 1).enumerate() {
        let before = world.clone();
        if k < idx && !skipped(k + 1) {
            world.run_step(step);
        } else {
            // The step on screen: only what it starts from, its setup.
            for p in step.setup.iter().flat_map(|c| &c.command.parts) {
                world.apply(p);
            }
        }
        for n in world.netns.difference(&before.netns) {
            made.insert(Made::Netns(n.clone()), k + 1);
        }
        for key in world.links.keys() {
            if !before.links.contains_key(key) {
                made.insert(Made::Link(key.0.clone(), key.1.clone()), k + 1);
            }
        }
        for key in world.addrs.keys() {
            if !before.addrs.contains_key(key) {
                made.insert(Made::Addr(key.0.clone(), key.1.clone(), key.2), k + 1);
            }
        }
        for key in world.routes.keys() {
            if !before.routes.contains_key(key) {
                made.insert(Made::Route(key.0.clone(), key.1.clone()), k + 1);
            }
        }
        for u in &world.unknowns[before.unknowns.len()..] {
            unknowns.push((k + 1, u.clone()));
        }
    }
    (world, made, unknowns)
}

/// Whether a line nslab cannot read, in the step that made `key` or later, may have removed it
/// (`ip route flush scope global` in a fault's setup): then nslab cannot say it is gone by
/// mistake, and does not.
fn in_doubt(key: &Made, since: usize, unknowns: &[(usize, Unknown)]) -> bool {
    unknowns
        .iter()
        .filter(|(s, _)| *s >= since)
        .any(|(_, u)| match key {
            Made::Netns(n) => u.could_touch(None, n),
            Made::Link(ns, name) => u.could_touch(Some(ns), name),
            // Its words need not name the address or the route (a flush): its namespace does.
            Made::Addr(ns, ..) | Made::Route(ns, _) => u.ns.as_ref().is_none_or(|n| n == ns),
        })
}

/// An address where the model keeps it: its namespace, its link, the address.
type AddrKey = (Ns, String, Cidr);

fn at(ns: &Ns) -> String {
    match ns {
        Ns::Root => String::new(),
        Ns::Named(n) => format!(" in {n}"),
    }
}

/// The addresses and routes a failing check needs, where the replayed world has them: for a
/// ping, every one of the namespace it leaves from and of the namespace that holds the
/// address; for an address or a route check, that address or route, and the addresses whose
/// subnet holds the route's gateway. What this step's own commands remove or replace is left
/// out: it is meant to go.
fn needs(world: &World, after: &World, check: &Check) -> (Vec<AddrKey>, Vec<(Ns, RouteKey)>) {
    let kept_addrs = world.addrs.keys().filter(|k| after.addrs.contains_key(*k));
    let kept_routes = world
        .routes
        .keys()
        .filter(|k| after.routes.contains_key(*k));
    match check {
        Check::Ping { addr, from } | Check::Pinged { addr, from, .. } => {
            let mut nss: Vec<&Ns> = vec![from];
            // The namespace that holds the address, in the replayed world.
            if let Some((owner, _, _)) = world.addrs.keys().find(|(_, _, c)| c.addr == *addr) {
                nss.push(owner);
            }
            (
                kept_addrs
                    .filter(|k| nss.contains(&&k.0))
                    .cloned()
                    .collect(),
                kept_routes
                    .filter(|k| nss.contains(&&k.0))
                    .cloned()
                    .collect(),
            )
        }
        Check::Addr { cidr, dev, ns, .. } => (
            kept_addrs
                .filter(|k| k.0 == *ns && k.1 == *dev && k.2 == *cidr)
                .cloned()
                .collect(),
            Vec::new(),
        ),
        Check::Route { ns, route } => {
            let via: Option<IpAddr> = route.via;
            (
                kept_addrs
                    .filter(|k| k.0 == *ns && via.is_some_and(|v| k.2.contains(&v)))
                    .cloned()
                    .collect(),
                kept_routes
                    .filter(|k| {
                        k.0 == *ns
                            && k.1.dest.filter(|d| d.prefix > 0)
                                == route.dest.filter(|d| d.prefix > 0)
                            && Some(k.1.table).filter(|t| *t != crate::net::table::MAIN)
                                == route.table.filter(|t| *t != crate::net::table::MAIN)
                    })
                    .cloned()
                    .collect(),
            )
        }
        _ => (Vec::new(), Vec::new()),
    }
}

/// For a failing check of step `idx` (0-based): the first thing it needs that an earlier step
/// made and that is missing now. `judged`: the judge named a cause of its own; then a missing
/// namespace or link is left to it (it names a moved or misspelt one better), while a missing
/// address or route is still said (the judge sees only its effect: "Network is unreachable").
pub fn made_earlier(
    lesson: &Lesson,
    idx: usize,
    check: &Check,
    judged: bool,
    skipped: &dyn Fn(usize) -> bool,
    k: &mut Kernel<'_>,
) -> Option<Gone> {
    if matches!(check, Check::Not(_)) {
        return None;
    }
    let (world, made, unknowns) = replay(lesson, idx, skipped);
    let gone = |key: Made, what: String| {
        let step = *made.get(&key)?;
        if in_doubt(&key, step, &unknowns) {
            return None;
        }
        Some(Gone {
            what,
            step,
            title: lesson.steps.get(step - 1)?.title.clone(),
            this_setup: step == idx + 1,
            as_now: None,
        })
    };
    if !judged {
        for ns in check.namespaces() {
            if let Ns::Named(n) = ns
                && world.netns.contains(n)
                && !(k.has_ns)(n)
            {
                return gone(Made::Netns(n.clone()), format!("namespace {n}"));
            }
        }
        let mut links: Vec<(&Ns, &str)> = Vec::new();
        match check {
            Check::Link { name, ns, pred } if *pred != LinkPred::Absent => {
                links.push((ns, name));
                if let LinkPred::Peer { name: p, ns: pns } = pred {
                    links.push((pns, p));
                }
            }
            Check::Addr { dev, ns, .. } => links.push((ns, dev)),
            _ => {}
        }
        for (ns, name) in links {
            if world.links.contains_key(&(ns.clone(), name.to_string())) && !(k.has_link)(ns, name)
            {
                return gone(
                    Made::Link(ns.clone(), name.to_string()),
                    format!("{name}{}", at(ns)),
                );
            }
        }
    }
    // This step's own commands, played on: what they remove is not missed.
    let mut after = world.clone();
    if let Some(step) = lesson.steps.get(idx) {
        for p in step.commands.iter().flat_map(|c| &c.command.parts) {
            after.apply(p);
        }
    }
    let (addrs, routes) = needs(&world, &after, check);
    // Where a namespace or a link is gone, so is what was on it: that is said above, or left
    // to the judge.
    fn there(k: &mut Kernel<'_>, ns: &Ns, dev: Option<&str>) -> bool {
        (match ns {
            Ns::Root => true,
            Ns::Named(n) => (k.has_ns)(n),
        }) && dev.is_none_or(|d| (k.has_link)(ns, d))
    }
    // The earliest step's first: rebuilding from it makes the later ones again too.
    let mut missing: Vec<(usize, Made, String)> = Vec::new();
    // The same address with another prefix length (a /24 typed for the lesson's /16): not
    // gone, and not to be made again beside it. Said before what is gone: it is the student's
    // own line to mend.
    let mut other_prefix: Option<(usize, Made, String, Cidr, Cidr)> = None;
    for (ns, dev, cidr) in addrs {
        if there(k, &ns, Some(&dev)) && !(k.has_addr)(&ns, &dev, &cidr) {
            let key = Made::Addr(ns.clone(), dev.clone(), cidr);
            if let Some(step) = made.get(&key) {
                let what = format!("address {cidr} on {dev}{}", at(&ns));
                match (k.addr_as)(&ns, &dev, cidr.addr).filter(|now| *now != cidr) {
                    Some(now) => {
                        if other_prefix.as_ref().is_none_or(|o| *step < o.0) {
                            other_prefix = Some((*step, key, what, cidr, now));
                        }
                    }
                    None => missing.push((*step, key, what)),
                }
            }
        }
    }
    if let Some((_, key, what, want, now)) = other_prefix {
        return gone(key, what).map(|g| Gone {
            as_now: Some((want, now)),
            ..g
        });
    }
    if missing.is_empty() {
        for (ns, r) in routes {
            if there(k, &ns, r.dev.as_deref()) && !(k.has_route)(&ns, &r) {
                let what = format!(
                    "the route {}{}{}",
                    r.spec().dest_text(),
                    r.via.map(|v| format!(" via {v}")).unwrap_or_default(),
                    at(&ns)
                );
                let key = Made::Route(ns, r);
                if let Some(step) = made.get(&key) {
                    missing.push((*step, key, what));
                }
            }
        }
    }
    let (_, key, what) = missing.into_iter().min_by_key(|m| m.0)?;
    gone(key, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Namespaces and links as the closures say, every address and route there; the judge
    /// named no cause.
    fn old(
        l: &Lesson,
        idx: usize,
        check: &Check,
        has_ns: &mut dyn FnMut(&str) -> bool,
        has_link: &mut dyn FnMut(&Ns, &str) -> bool,
    ) -> Option<Gone> {
        made_earlier(
            l,
            idx,
            check,
            false,
            &|_| false,
            &mut Kernel {
                has_ns,
                has_link,
                has_addr: &mut |_, _, _| true,
                addr_as: &mut |_, _, _| None,
                has_route: &mut |_, _| true,
            },
        )
    }

    fn veth_lab() -> Lesson {
        let src = crate::lesson::builtin::builtin()
            .into_iter()
            .find(|s| s.name.ends_with("02-veth.md"))
            .unwrap();
        crate::lesson::parse::parse(&src).0.unwrap()
    }

    #[test]
    fn a_namespace_deleted_early_names_the_step_that_made_it() {
        let l = veth_lab();
        // The step that makes red, and a later step whose checks need it.
        let maker = l
            .steps
            .iter()
            .position(|s| s.commands.iter().any(|c| c.text.contains("netns add red")))
            .unwrap();
        let (idx, check) = l
            .steps
            .iter()
            .enumerate()
            .skip(maker + 1)
            .find_map(|(i, s)| {
                s.checks
                    .iter()
                    .find(|c| c.check.namespaces().iter().any(|n| n.name() == "red"))
                    .map(|c| (i, c.check.clone()))
            })
            .unwrap();
        let g = old(&l, idx, &check, &mut |n| n != "red", &mut |_, _| true).unwrap();
        assert_eq!(g.what, "namespace red");
        assert_eq!(g.step, maker + 1);
        assert_eq!(g.title, l.steps[maker].title);
        // With red there, nothing is gone.
        assert_eq!(old(&l, idx, &check, &mut |_| true, &mut |_, _| true), None);
        // Nothing earlier made anything for the first step.
        assert_eq!(old(&l, 0, &check, &mut |_| false, &mut |_, _| false), None);
    }

    #[test]
    fn what_a_hidden_setup_made_is_missed_too() {
        let src = crate::diag::Source::new(
            "t.md",
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n## Found\n\n```setup\nip netns add cl\nip -n cl link add c0 type veth peer name c1\n```\n\nLook.\n\n```check\nlink c0 in cl exists\n```\n\n## Mend\n\n```solution\nip -n cl link set c0 up\n```\n\n```check\nlink c0 in cl is up\n```\n",
        );
        let l = crate::lesson::parse::parse(&src).0.unwrap();
        // On the step whose setup made it: this step's setup.
        let check = &l.steps[0].checks[0].check;
        let g = old(&l, 0, check, &mut |n| n != "cl", &mut |_, _| false).unwrap();
        assert_eq!(
            (g.what.as_str(), g.step, g.this_setup),
            ("namespace cl", 1, true)
        );
        assert!(
            g.say().contains("was there when this step began"),
            "{}",
            g.say()
        );
        let g = old(&l, 0, check, &mut |_| true, &mut |_, _| false).unwrap();
        assert_eq!((g.what.as_str(), g.this_setup), ("c0 in cl", true));
        // On the next step: made by step 1 (its setup).
        let check = &l.steps[1].checks[0].check;
        let g = old(&l, 1, check, &mut |_| true, &mut |_, _| false).unwrap();
        assert_eq!(
            (g.what.as_str(), g.step, g.this_setup),
            ("c0 in cl", 1, false)
        );
    }

    /// Two namespaces and a cable, addressed, a route through the other end, a ping; the
    /// step on screen is the ping (the 4th step), and its last step swaps an address.
    fn ping_lab() -> Lesson {
        let src = crate::diag::Source::new(
            "t.md",
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n\
             ## Two namespaces\n\n```sh\nip netns add alpha\nip netns add beta\n```\n\n\
             ## A cable\n\n```sh\nip link add a0 netns alpha type veth peer name b0 netns beta\n```\n\n\
             ## Up and addressed\n\n```sh\nip -n alpha link set a0 up\nip -n alpha addr add 10.5.0.1/24 dev a0\nip -n beta link set b0 up\nip -n beta addr add 10.5.0.2/24 dev b0\n```\n\n\
             ## A route elsewhere\n\n```sh\nip -n alpha route add 10.50.0.0/16 via 10.5.0.2\n```\n\n\
             ## Ping\n\n```check\nping 10.5.0.2 from alpha\n```\n\n\
             ## Another address\n\n```sh\nip -n alpha addr del 10.5.0.1/24 dev a0\nip -n alpha addr add 10.5.0.3/24 dev a0\n```\n\n```check\nping 10.5.0.2 from alpha\n```\n",
        );
        let (l, d) = crate::lesson::parse::parse(&src);
        l.unwrap_or_else(|| panic!("{d:?}"))
    }

    /// What `made_earlier` says with every namespace and link there, the judge having named a
    /// cause ("Network is unreachable"), and the addresses and routes as the closures say.
    fn addrs_routes(
        l: &Lesson,
        idx: usize,
        has_addr: &mut dyn FnMut(&Ns, &str, &Cidr) -> bool,
        has_route: &mut dyn FnMut(&Ns, &RouteKey) -> bool,
    ) -> Option<Gone> {
        let check = &l.steps[idx].checks[0].check;
        made_earlier(
            l,
            idx,
            check,
            true,
            &|_| false,
            &mut Kernel {
                has_ns: &mut |_| true,
                has_link: &mut |_, _| true,
                has_addr,
                addr_as: &mut |_, _, _| None,
                has_route,
            },
        )
    }

    fn named(n: &str) -> Ns {
        Ns::Named(n.to_string())
    }

    #[test]
    fn an_address_an_earlier_step_added_is_missed_by_a_ping() {
        let l = ping_lab();
        let a1: Cidr = "10.5.0.1/24".parse().unwrap();
        // The student deleted alpha's address: the kernel took the route through it along.
        let g = addrs_routes(
            &l,
            4,
            &mut |ns, dev, c| !(*ns == named("alpha") && dev == "a0" && *c == a1),
            &mut |_, _| false,
        )
        .unwrap();
        assert_eq!(
            (g.what.as_str(), g.step, g.title.as_str(), g.this_setup),
            (
                "address 10.5.0.1/24 on a0 in alpha",
                3,
                "Up and addressed",
                false
            )
        );
        assert!(g.say().contains("press f to rebuild it"), "{}", g.say());
        // The address pinged, in the namespace that holds it (beta), is missed too.
        let g = addrs_routes(&l, 4, &mut |ns, _, _| *ns != named("beta"), &mut |_, _| {
            true
        })
        .unwrap();
        assert_eq!(g.what, "address 10.5.0.2/24 on b0 in beta");
        // The route alone.
        let g = addrs_routes(&l, 4, &mut |_, _, _| true, &mut |_, _| false).unwrap();
        assert_eq!(
            (g.what.as_str(), g.step),
            ("the route 10.50.0.0/16 via 10.5.0.2 in alpha", 4)
        );
        // Everything there: nothing gone (the judge's cause stands).
        assert_eq!(
            addrs_routes(&l, 4, &mut |_, _, _| true, &mut |_, _| true),
            None
        );
    }

    #[test]
    fn an_address_this_step_removes_or_the_judge_names_with_its_namespace_is_not_missed() {
        let l = ping_lab();
        let a1: Cidr = "10.5.0.1/24".parse().unwrap();
        // The last step deletes 10.5.0.1/24 itself: it is meant to go.
        assert_eq!(
            addrs_routes(&l, 5, &mut |_, _, c| *c != a1, &mut |_, _| true),
            None
        );
        // A namespace gone, the judge having named a cause: left to the judge, and its
        // addresses are not said one by one.
        let check = &l.steps[4].checks[0].check;
        let g = made_earlier(
            &l,
            4,
            check,
            true,
            &|_| false,
            &mut Kernel {
                has_ns: &mut |n| n != "alpha",
                has_link: &mut |ns, _| *ns != named("alpha"),
                has_addr: &mut |ns, _, _| *ns != named("alpha"),
                addr_as: &mut |_, _, _| None,
                has_route: &mut |ns, _| *ns != named("alpha"),
            },
        );
        assert_eq!(g, None);
        // Without a cause from the judge, the namespace is named, as before.
        let g = made_earlier(
            &l,
            4,
            check,
            false,
            &|_| false,
            &mut Kernel {
                has_ns: &mut |n| n != "alpha",
                has_link: &mut |_, _| true,
                has_addr: &mut |_, _, _| false,
                addr_as: &mut |_, _, _| None,
                has_route: &mut |_, _| false,
            },
        )
        .unwrap();
        assert_eq!((g.what.as_str(), g.step), ("namespace alpha", 1));
    }

    fn troubleshooting() -> Lesson {
        let src = crate::lesson::builtin::builtin()
            .into_iter()
            .find(|s| s.name.ends_with("06-troubleshooting.md"))
            .unwrap();
        crate::lesson::parse::parse(&src).0.unwrap()
    }

    /// The step on screen's own setup (`ip -n right route flush scope global`, a line nslab
    /// cannot read) removed the default route: that is the fault to find, not something to
    /// rebuild with f.
    #[test]
    fn what_a_setup_nslab_cannot_read_may_have_removed_is_not_missed() {
        let l = troubleshooting();
        let idx = l
            .steps
            .iter()
            .position(|s| s.title.starts_with("Fault 3"))
            .unwrap();
        let check = l.steps[idx].checks[0].check.clone();
        let g = made_earlier(
            &l,
            idx,
            &check,
            true,
            &|_| false,
            &mut Kernel {
                has_ns: &mut |_| true,
                has_link: &mut |_, _| true,
                has_addr: &mut |_, _, _| true,
                addr_as: &mut |_, _, _| None,
                has_route: &mut |ns, r| !(*ns == named("right") && r.dest.is_none()),
            },
        );
        assert_eq!(g, None);
    }

    /// A skipped step's commands never ran: what they would have made is not missed (the
    /// student skipped "Up and addressed": alpha's address is not "gone", it never came).
    #[test]
    fn a_skipped_step_made_nothing() {
        let l = ping_lab();
        let a1: Cidr = "10.5.0.1/24".parse().unwrap();
        let check = l.steps[4].checks[0].check.clone();
        let run = |skipped: &dyn Fn(usize) -> bool| {
            made_earlier(
                &l,
                4,
                &check,
                true,
                skipped,
                &mut Kernel {
                    has_ns: &mut |_| true,
                    has_link: &mut |_, _| true,
                    has_addr: &mut |_, _, c| *c != a1,
                    addr_as: &mut |_, _, _| None,
                    has_route: &mut |_, _| true,
                },
            )
        };
        assert!(run(&|_| false).is_some_and(|g| g.what.contains("10.5.0.1/24")));
        assert_eq!(run(&|s| s == 3), None);
    }

    /// The student gave alpha 10.5.0.1/16 where step 3 asks for a /24: not gone, and not to be
    /// rebuilt beside it (before, learn said "made in step 3 and is gone now; press f").
    #[test]
    fn an_address_with_another_prefix_length_is_said_so_not_gone() {
        let l = ping_lab();
        let a1: Cidr = "10.5.0.1/24".parse().unwrap();
        let wrong: Cidr = "10.5.0.1/16".parse().unwrap();
        let check = l.steps[4].checks[0].check.clone();
        let g = made_earlier(
            &l,
            4,
            &check,
            true,
            &|_| false,
            &mut Kernel {
                has_ns: &mut |_| true,
                has_link: &mut |_, _| true,
                has_addr: &mut |_, _, c| *c != a1,
                addr_as: &mut |ns, dev, ip| {
                    (*ns == named("alpha") && dev == "a0" && ip == a1.addr).then_some(wrong)
                },
                has_route: &mut |_, _| false,
            },
        )
        .unwrap();
        assert_eq!(g.as_now, Some((a1, wrong)));
        let said = g.say();
        assert!(said.contains("prefix length is /16, not /24"), "{said}");
        assert!(!said.contains("gone"), "{said}");
    }
}
