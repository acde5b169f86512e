//! The topology a lesson means to build: the effect model's world after some steps, drawn as a
//! [`Topology`]. It needs no kernel: `nslab show --lesson` draws it, and learn and demo diff it
//! with what the kernel has (`diff`), so that a picture marks what is missing or extra.

use crate::lesson::Lesson;
use crate::lesson::effect::World;
use crate::lesson::grammar::ip::rtn;
use crate::net::Ns;

use super::model::{Address, DefaultRoute, End, Iface, LinkKind, NsKind, NsView, Topology};

/// The world after the first `steps` steps of the lesson (all of them for `None`).
pub fn world_after(lesson: &Lesson, steps: Option<usize>) -> World {
    let mut w = World::new();
    for s in lesson.steps.iter().take(steps.unwrap_or(usize::MAX)) {
        w.run_step(s);
    }
    w
}

fn name_of(ns: &Ns) -> String {
    match ns {
        Ns::Root => "root".to_string(),
        Ns::Named(n) => n.clone(),
    }
}

/// The intended topology of a world: its named namespaces, each with its loopback, links,
/// addresses and default route, and the root namespace when the lesson puts links there
/// (the machine's own links are not the lesson's business, and the model does not know them).
pub fn intended(world: &World) -> Topology {
    let mut spaces: Vec<Ns> = Vec::new();
    if world
        .links
        .keys()
        .any(|(ns, name)| ns.is_root() && name != "lo")
    {
        spaces.push(Ns::Root);
    }
    spaces.extend(world.netns.iter().map(|n| Ns::Named(n.clone())));
    let up = |ns: &Ns, name: &str| {
        world
            .links
            .get(&(ns.clone(), name.to_string()))
            .is_some_and(|f| f.up)
    };
    let namespaces = spaces
        .iter()
        .map(|ns| {
            let mut v = NsView::new(
                name_of(ns),
                if ns.is_root() {
                    NsKind::Root
                } else {
                    NsKind::Named
                },
            );
            for ((lns, name), f) in &world.links {
                if lns != ns || (ns.is_root() && name == "lo") {
                    continue;
                }
                let kind = LinkKind::from_name(&f.kind);
                let mut i = Iface::new(name.clone(), Some(kind.clone()));
                // A veth has a carrier when both ends are up; a bridge or a loopback when up.
                let carrier = match &f.peer {
                    Some((pns, pname)) => f.up && up(pns, pname),
                    None => f.up,
                };
                i = match (f.up, carrier) {
                    (true, true) => i.up(),
                    (true, false) => i.up_no_carrier(),
                    _ => i,
                };
                i.peer = f
                    .peer
                    .as_ref()
                    .map(|(pns, pname)| End::new(name_of(pns), pname.clone()));
                i.master = f.master.clone();
                i.mac = f.mac.map(|m| m.to_string());
                i.addresses = world
                    .addrs
                    .keys()
                    .filter(|(ans, dev, _)| ans == ns && dev == name)
                    .map(|(_, _, cidr)| Address::new(cidr.to_string()))
                    .collect();
                v.interfaces.push(i);
            }
            // The order a gathered namespace has: loopback, bridges, then by name.
            v.interfaces
                .sort_by_key(|x| (x.name != "lo", !x.is_bridge(), x.name.clone()));
            v.default_route = world
                .routes
                .keys()
                .find(|(rns, k)| {
                    rns == ns
                        && k.table == 254
                        && k.kind == rtn::UNICAST
                        && k.dest.is_none_or(|d| d.prefix == 0)
                })
                .map(|(_, k)| DefaultRoute {
                    via: k.via.map(|v| v.to_string()),
                    dev: k.dev.clone(),
                    mark: None,
                });
            v.forwarding = world
                .sysctls
                .get(&(ns.clone(), "net.ipv4.ip_forward".to_string()))
                .map(|v| v == "1");
            v
        })
        .collect();
    Topology::new(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(text: &str) -> Lesson {
        let src = crate::diag::Source::new("t.md", text);
        crate::lesson::parse::parse(&src).0.unwrap()
    }

    #[test]
    fn the_veth_lab_is_two_namespaces_and_a_wire() {
        let l = lesson(
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n## One\n\n```sh\nip netns add blue\nip netns add red\n```\n\n## Two\n\n```sh\nip link add veth0 netns blue type veth peer name veth1 netns red\nip -n blue link set veth0 up\nip -n blue addr add 10.1.0.2/24 dev veth0\nip -n blue route add default via 10.1.0.1\n```\n",
        );
        let one = intended(&world_after(&l, Some(1)));
        assert_eq!(
            one.namespaces
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["blue", "red"]
        );
        assert!(one.wires.is_empty());
        let two = intended(&world_after(&l, None));
        assert_eq!(two.wires.len(), 1);
        assert_eq!(two.wires[0].a, End::new("blue", "veth0"));
        assert_eq!(two.wires[0].b, End::new("red", "veth1"));
        let blue = two.namespace("blue").unwrap();
        let veth0 = blue.iface("veth0").unwrap();
        assert_eq!(veth0.addresses, [Address::new("10.1.0.2/24")]);
        // Up, but its peer is down: no carrier.
        assert!(veth0.up && !veth0.carrier);
        assert_eq!(
            blue.default_route.as_ref().and_then(|d| d.via.as_deref()),
            Some("10.1.0.1")
        );
        // The root namespace has nothing of the lesson's: it is not drawn.
        assert!(two.namespace("root").is_none());
    }
}
