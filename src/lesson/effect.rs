//! The effect model: what command lines do to the kernel, played forward on a model of it.
//!
//! One place says what a line does (creates, moves, renames and deletes links and
//! namespaces; adds addresses, routes and neighbours; sets sysctls and firewall rules). From
//! it come the checks derived for a step without a `check` block (the net effect of the whole
//! step: a link created and moved is checked where it ends up, a renamed link under its new
//! name), what lint accepts that a lesson names, and what reset may remove.
//!
//! A line nslab cannot read has unknown effects: the model remembers where it acted and what
//! names it mentions, so that lint can say "maybe" rather than "never".

use crate::lesson::grammar::Family;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::check::{Check, FdbWhat, LinkPred, RouteSpec};
use super::grammar::ip::{AddrVerb, Brd, RouteChange, RouteVerb, RuleChange};
use super::grammar::{Op, Part};
use super::{CheckLine, Lesson, Origin, Step};
use crate::net::table;
use crate::net::{Cidr, Mac, Ns};

/// What the model knows of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFact {
    pub kind: String,
    pub up: bool,
    pub peer: Option<(Ns, String)>,
    pub master: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    /// The end named first when a veth pair was made (derived checks speak of the pair once).
    pub main_end: bool,
    /// The lower device of a macvlan, ipvlan or vlan (`link DEV`): it goes when that goes.
    pub lower: Option<(Ns, String)>,
    /// The MTU was set by `ip link set ... mtu`: a bridge keeps it when ports come (one given
    /// at `ip link add` is the kernel's to lower to its ports').
    pub mtu_set: bool,
}

/// An address on a link, with what the line set besides it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrFact {
    pub brd: Option<IpAddr>,
    pub label: Option<String>,
}

/// A neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighFact {
    pub lladdr: Option<Mac>,
    pub state: String,
}

/// Why nslab cannot know what is in a namespace a line names (`ip netns attach`, a bind mount
/// onto /run/netns): it was made elsewhere. The name itself is the line's.
pub const NAMED_ELSEWHERE: &str = "a namespace made elsewhere and given a name";

/// Something the model cannot follow: where it acted (`None`: anywhere), and the words it
/// mentions (empty: it may touch any name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub ns: Option<Ns>,
    pub names: Vec<String>,
    pub why: String,
}

impl Unknown {
    /// Whether it could have made or changed something called `name` in `ns`.
    pub fn could_touch(&self, ns: Option<&Ns>, name: &str) -> bool {
        let here = match (&self.ns, ns) {
            (None, _) | (_, None) => true,
            (Some(a), Some(b)) => a == b,
        };
        here && (self.names.is_empty() || self.names.iter().any(|n| n == name || n.contains(name)))
    }
}

/// The model of the kernel a lesson acts on, as far as its lines say.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub netns: BTreeSet<String>,
    pub links: BTreeMap<(Ns, String), LinkFact>,
    pub addrs: BTreeMap<(Ns, String, Cidr), AddrFact>,
    /// Routes, with their place among the routes of the same destination, table and metric
    /// (the kernel keeps those in order: the first is the one `del` and `replace` take).
    pub routes: BTreeMap<(Ns, RouteKey), i64>,
    /// The last place given to a route (appended: after it; prepended: before its negative).
    route_seq: i64,
    pub sysctls: BTreeMap<(Ns, String), String>,
    /// The values lines wrote to each sysctl since the step began: a key whose value before
    /// the step the model does not know, written one way and then back, may end where it
    /// started.
    pub sysctl_writes: BTreeMap<(Ns, String), BTreeSet<String>>,
    pub neighs: BTreeMap<(Ns, String, IpAddr), NeighFact>,
    /// Entries added by hand to a bridge's forwarding table (`bridge fdb add MAC dev PORT
    /// master`): the port's namespace, the port, the MAC.
    pub fdbs: BTreeSet<(Ns, String, Mac)>,
    pub rules: Vec<(Ns, super::grammar::Iptables)>,
    /// Policy routing rules added (`ip rule add`), in order.
    pub ip_rules: Vec<(Ns, RuleChange)>,
    pub procs: BTreeSet<String>,
    /// Files the lines write (absolute paths).
    pub files: BTreeSet<String>,
    pub unknowns: Vec<Unknown>,
    /// Addresses and routes the kernel may or may not have removed as a side effect (a
    /// secondary address when its subnet's primary goes, which `promote_secondaries` decides):
    /// no derived check says anything of them until a line sets them again.
    pub doubt_addrs: BTreeSet<(Ns, String, Cidr)>,
    pub doubt_routes: BTreeSet<(Ns, RouteKey)>,
    /// Neighbour entries a line may or may not have removed (`ip neigh flush`, `ip -batch`).
    pub doubt_neighs: BTreeSet<(Ns, String, IpAddr)>,
    /// The source address a route was given (`src A`): the kernel removes the route when A
    /// goes.
    route_src: BTreeMap<(Ns, RouteKey), IpAddr>,
    /// What the lines made since [`Creations::of`] last looked: so that it gathers everything a
    /// lesson ever makes in one pass, without going over the whole world after every line.
    made: Vec<Made>,
}

/// One thing a line made (or moved, renamed, set).
#[derive(Debug, Clone)]
enum Made {
    Netns(String),
    Link(Ns, String),
    Addr(Ns, String, Cidr),
    Route(Ns, RouteKey),
    Sysctl(Ns, String),
    Rule(Ns, super::grammar::Iptables),
    IpRule(Ns, RuleChange),
    Proc(Ns, String),
    File(String),
}

/// A route as the model keys it (what `ip route del` must name to remove it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub table: u32,
    pub kind: u8,
    pub dest: Option<Cidr>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    /// An IPv6 route (`ip -6`, or an IPv6 destination or gateway).
    pub v6: bool,
}

impl RouteKey {
    /// The metric the kernel gives it: IPv4 routes without one have 0; IPv6 routes without one
    /// (or with 0) have 1024.
    pub fn kernel_metric(&self) -> u32 {
        match (self.v6, self.metric) {
            (true, None | Some(0)) => 1024,
            (_, m) => m.unwrap_or(0),
        }
    }

    /// Whether the kernel keys `other` as this route's rival: the same family, table,
    /// destination and metric (`replace` takes the first of them, `add` meets "File exists").
    fn same_slot(&self, other: &RouteKey) -> bool {
        self.v6 == other.v6
            && self.table == other.table
            && self.dest == other.dest
            && self.kernel_metric() == other.kernel_metric()
    }

    /// Whether the route leaves by `dev`: named so, or by a gateway on one of `nets` (the
    /// link's subnets, by which the kernel resolved it).
    fn through(&self, dev: &str, nets: &[Cidr]) -> bool {
        match (&self.dev, self.via) {
            (Some(d), _) => d == dev,
            (None, Some(via)) => nets.iter().any(|c| c.contains(&via)),
            (None, None) => false,
        }
    }

    /// The destination as a check says it, for a route said with gateway `via`: an IPv6
    /// default route said without an IPv6 gateway is `::/0` (`default` alone is IPv4's to a
    /// check).
    fn check_dest(&self, via: Option<IpAddr>) -> Option<Cidr> {
        match self.dest {
            None if self.v6 && !via.is_some_and(|v| v.is_ipv6()) => {
                Some(Cidr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0))
            }
            d => d,
        }
    }

    pub fn spec(&self) -> RouteSpec {
        RouteSpec {
            kind: self.kind,
            dest: self.check_dest(self.via),
            via: self.via,
            dev: self.dev.clone(),
            // (IPv6 stores `metric 0` as 1024.)
            metric: self.metric.map(|_| self.kernel_metric()),
            table: (self.table != table::MAIN).then_some(self.table),
            src: None,
        }
    }
}

/// The kinds the kernel deletes with their lower device (`link DEV`; a vxlan's `dev DEV`).
const LOWER_BOUND: [&str; 6] = ["macvlan", "macvtap", "ipvlan", "ipvtap", "vlan", "vxlan"];

/// The lower device a new link of `kind` is made on: `link DEV`, or a vxlan's `dev DEV`.
fn lower_of(
    kind: &str,
    attrs: &super::grammar::ip::LinkAttrs,
    kind_args: &[String],
) -> Option<String> {
    if kind == "vxlan" {
        let at = kind_args.iter().position(|w| w == "dev")?;
        return kind_args.get(at + 1).cloned();
    }
    attrs.lower.clone().filter(|_| LOWER_BOUND.contains(&kind))
}

fn mac_of(bytes: &Option<Vec<u8>>) -> Option<Mac> {
    let b = bytes.as_ref()?;
    let a: [u8; 6] = b.as_slice().try_into().ok()?;
    Some(Mac(a))
}

impl World {
    /// The world before a lesson: the root namespace with its loopback, and whatever else the
    /// machine has (which the model does not know).
    pub fn new() -> World {
        let mut w = World::default();
        w.links.insert(
            (Ns::Root, "lo".into()),
            LinkFact {
                kind: "loopback".into(),
                up: true,
                peer: None,
                master: None,
                mtu: None,
                mac: None,
                main_end: true,
                lower: None,
                mtu_set: false,
            },
        );
        w
    }

    fn ns_exists(&self, ns: &Ns) -> bool {
        match ns {
            Ns::Root => true,
            Ns::Named(n) => self.netns.contains(n),
        }
    }

    /// Plays one step's lines forward: its hidden setup, then its commands.
    pub fn run_step(&mut self, step: &Step) {
        for c in step.setup.iter().chain(&step.commands) {
            for p in &c.command.parts {
                self.apply(p);
            }
        }
    }

    /// `ip` ran commands nslab does not read in `ns` (`-batch`, `restore`): every address,
    /// route and neighbour entry there is in doubt until a line sets it again.
    fn doubt_network(&mut self, ns: &Ns) {
        let addrs: Vec<_> = self.addrs.keys().filter(|k| k.0 == *ns).cloned().collect();
        for k in addrs {
            self.addrs.remove(&k);
            self.doubt_addrs.insert(k);
        }
        let routes: Vec<_> = self.routes.keys().filter(|k| k.0 == *ns).cloned().collect();
        for k in routes {
            self.routes.remove(&k);
            self.doubt_routes.insert(k);
        }
        let neighs: Vec<_> = self.neighs.keys().filter(|k| k.0 == *ns).cloned().collect();
        for k in neighs {
            self.neighs.remove(&k);
            self.doubt_neighs.insert(k);
        }
    }

    fn unknown(&mut self, ns: Option<Ns>, names: Vec<String>, why: &str) {
        self.unknowns.push(Unknown {
            ns,
            names,
            why: why.to_string(),
        });
    }

    fn remove_link(&mut self, ns: &Ns, name: &str) {
        if !self.links.contains_key(&(ns.clone(), name.to_string())) {
            return;
        }
        // Routes through it by a gateway on its subnets go with it.
        self.flush_routes_through(ns, name, |_| true);
        let Some(l) = self.links.remove(&(ns.clone(), name.to_string())) else {
            return;
        };
        // Its own settings (`net.ipv4.conf.DEV.forwarding`) go with it.
        let part = crate::net::sysctl_part(name);
        let own = [format!(".conf.{part}."), format!(".neigh.{part}.")];
        self.sysctls
            .retain(|(n, k), _| !(n == ns && own.iter().any(|o| k.contains(o.as_str()))));
        // A macvlan, ipvlan or vlan goes with its lower device.
        let uppers: Vec<(Ns, String)> = self
            .links
            .iter()
            .filter(|(_, f)| f.lower.as_ref().is_some_and(|(n, d)| n == ns && d == name))
            .map(|(k, _)| k.clone())
            .collect();
        for (un, u) in uppers {
            self.remove_link(&un, &u);
        }
        self.addrs.retain(|(n, d, _), _| !(n == ns && d == name));
        self.routes
            .retain(|(n, r), _| !(n == ns && r.dev.as_deref() == Some(name)));
        self.neighs.retain(|(n, d, _), _| !(n == ns && d == name));
        self.fdbs.retain(|(n, d, _)| !(n == ns && d == name));
        // A bridge's ports are set free.
        for ((pns, _), f) in self.links.iter_mut() {
            if pns == ns && f.master.as_deref() == Some(name) {
                f.master = None;
            }
        }
        // A veth end never lives alone: the other goes, with what is on it and made on it.
        if let Some((pns, pname)) = l.peer {
            self.remove_link(&pns, &pname);
        }
    }

    /// The routes of `ns` whose next hop is `dev`, of the families `fam` takes (true: IPv6):
    /// by name (`dev X`), or by a gateway on one of its subnets (the kernel resolved the link).
    /// Removed: the kernel flushes them when the link goes down, leaves, or loses its last
    /// IPv4 address.
    fn flush_routes_through(&mut self, ns: &Ns, dev: &str, fam: impl Fn(bool) -> bool) {
        let nets: Vec<Cidr> = self
            .addrs
            .keys()
            .filter(|(n, d, _)| n == ns && d == dev)
            .map(|(_, _, c)| *c)
            .collect();
        self.routes
            .retain(|(n, r), _| !(n == ns && r.through(dev, &nets) && fam(r.v6)));
    }

    /// A link goes down: the kernel flushes the routes through it and its neighbour entries,
    /// and, unless `keep_addr_on_down` is set, its IPv6 addresses.
    fn link_down(&mut self, ns: &Ns, dev: &str) {
        self.flush_routes_through(ns, dev, |_| true);
        self.neighs.retain(|(n, d, _), _| !(n == ns && d == dev));
        let keep = self
            .sysctls
            .iter()
            .any(|((n, k), v)| n == ns && k.ends_with("keep_addr_on_down") && v.trim() != "0");
        if keep {
            return;
        }
        let v6: Vec<(Ns, String, Cidr)> = self
            .addrs
            .keys()
            .filter(|(n, d, c)| n == ns && d == dev && c.addr.is_ipv6())
            .cloned()
            .collect();
        for k in v6 {
            self.addrs.remove(&k);
            // The root namespace's sysctls are the machine's: there, nslab is not sure.
            if ns.is_root() {
                self.doubt_addrs.insert(k);
            }
        }
    }

    /// An IPv4 address `gone` left `dev`: with no IPv4 address left, the kernel flushes the
    /// IPv4 routes through the link. With others left, what was on `gone`'s subnet (its
    /// secondaries, when `gone` was the primary; routes by a gateway there) is the machine's
    /// `promote_secondaries` to decide: in doubt.
    fn v4_addr_gone(&mut self, ns: &Ns, dev: &str, gone: Cidr) {
        // Routes that take it as their source go with it, wherever they lead.
        let by_src: Vec<(Ns, RouteKey)> = self
            .route_src
            .iter()
            .filter(|((n, _), a)| n == ns && **a == gone.addr)
            .map(|(k, _)| k.clone())
            .collect();
        for k in by_src {
            self.routes.remove(&k);
            self.route_src.remove(&k);
        }
        let left = self
            .addrs
            .keys()
            .any(|(n, d, c)| n == ns && d == dev && c.addr.is_ipv4());
        if !left {
            self.routes
                .retain(|(n, r), _| !(n == ns && r.through(dev, &[gone]) && !r.v6));
            // And its IPv4 neighbour entries, permanent ones included (arp_ifdown); unless an
            // address of it is in doubt, when they are too.
            let doubt = self
                .doubt_addrs
                .iter()
                .any(|(n, d, c)| n == ns && d == dev && c.addr.is_ipv4());
            let v4: Vec<(Ns, String, IpAddr)> = self
                .neighs
                .keys()
                .filter(|(n, d, a)| n == ns && d == dev && a.is_ipv4())
                .cloned()
                .collect();
            for k in v4 {
                self.neighs.remove(&k);
                if doubt {
                    self.doubt_neighs.insert(k);
                }
            }
            return;
        }
        let same: Vec<(Ns, String, Cidr)> = self
            .addrs
            .keys()
            .filter(|(n, d, c)| {
                n == ns && d == dev && c.prefix == gone.prefix && gone.contains(&c.addr)
            })
            .cloned()
            .collect();
        for k in same {
            self.addrs.remove(&k);
            self.doubt_addrs.insert(k);
        }
        let routes: Vec<(Ns, RouteKey)> = self
            .routes
            .keys()
            .filter(|(n, r)| n == ns && r.dev.is_none() && r.via.is_some_and(|v| gone.contains(&v)))
            .cloned()
            .collect();
        for k in routes {
            self.routes.remove(&k);
            self.doubt_routes.insert(k);
        }
    }

    /// A port joins bridge `br` in `ns`: a bridge whose MTU came with `ip link add` takes its
    /// ports' lowest (the kernel's); the model no longer knows it.
    fn port_joins(&mut self, ns: &Ns, br: &str) {
        if let Some(b) = self.links.get_mut(&(ns.clone(), br.to_string()))
            && !b.mtu_set
        {
            b.mtu = None;
        }
    }

    /// `ip netns del NAME`: the namespace goes, and with it everything in it (the veth peers of
    /// its links with them).
    fn netns_del(&mut self, n: &str) {
        let gone = Ns::Named(n.to_string());
        if !self.netns.remove(n) {
            return;
        }
        let names: Vec<String> = self
            .links
            .keys()
            .filter(|(lns, _)| *lns == gone)
            .map(|(_, l)| l.clone())
            .collect();
        for l in names {
            self.remove_link(&gone, &l);
        }
        self.addrs.retain(|(a, _, _), _| *a != gone);
        self.routes.retain(|(a, _), _| *a != gone);
        self.sysctls.retain(|(a, _), _| *a != gone);
        self.neighs.retain(|(a, _, _), _| *a != gone);
        self.fdbs.retain(|(a, _, _)| *a != gone);
        self.rules.retain(|(a, _)| *a != gone);
        self.ip_rules.retain(|(a, _)| *a != gone);
    }

    fn next_route_place(&mut self) -> i64 {
        self.route_seq += 1;
        self.route_seq
    }

    /// `ip route add|append|prepend|replace|change`, as the kernel keys routes: by table,
    /// destination and metric (IPv4 fib_table_insert, IPv6 fib6_add_rt2node). `replace` takes
    /// the first route of that key only, and routes of other metrics stay.
    fn route_set(&mut self, ns: &Ns, verb: RouteVerb, key: RouteKey) {
        self.doubt_routes.remove(&(ns.clone(), key.clone()));
        let mut rivals: Vec<(RouteKey, i64)> = self
            .routes
            .iter()
            .filter(|((n, k), _)| n == ns && k.same_slot(&key))
            .map(|((_, k), place)| (k.clone(), *place))
            .collect();
        rivals.sort_by_key(|(_, place)| *place);
        let exact = rivals.iter().any(|(k, _)| *k == key);
        let place = match verb {
            // "File exists": a route of that key is there.
            RouteVerb::Add if !rivals.is_empty() => return,
            RouteVerb::Add => self.next_route_place(),
            RouteVerb::Append | RouteVerb::Prepend if exact => return,
            // IPv4 keeps another route of the same key beside it (the first is used); IPv6
            // makes a gateway added to a route with one a next hop of a multipath route.
            RouteVerb::Prepend if !key.v6 => -self.next_route_place(),
            RouteVerb::Append | RouteVerb::Prepend => self.next_route_place(),
            // "No such file or directory": `change` makes nothing.
            RouteVerb::Change if rivals.is_empty() => return,
            RouteVerb::Replace if rivals.is_empty() => self.next_route_place(),
            // IPv4: the same route there already is left as it is; else the first goes.
            RouteVerb::Replace | RouteVerb::Change if !key.v6 => {
                if exact {
                    return;
                }
                let (old, place) = &rivals[0];
                self.routes.remove(&(ns.clone(), old.clone()));
                *place
            }
            // IPv6: the first route with a gateway if the new one has one (without, if not),
            // else the first; a multipath route goes whole.
            RouteVerb::Replace | RouteVerb::Change => {
                let (old, place) = rivals
                    .iter()
                    .find(|(k, _)| k.via.is_some() == key.via.is_some())
                    .unwrap_or(&rivals[0]);
                for (k, _) in &rivals {
                    if k == old || (old.via.is_some() && k.via.is_some()) {
                        self.routes.remove(&(ns.clone(), k.clone()));
                    }
                }
                *place
            }
            RouteVerb::Del => return,
        };
        self.made.push(Made::Route(ns.clone(), key.clone()));
        self.routes.insert((ns.clone(), key), place);
    }

    /// `ip route del`: of the routes to the destination that match what the line names
    /// (gateway, link, metric, type), the first goes, one only: the lowest metric (IPv4
    /// fib_table_delete, IPv6 ip6_route_del). IPv6 without a gateway takes a multipath route
    /// whole; with one, that next hop only.
    fn route_del(&mut self, ns: &Ns, r: &RouteChange, key: &RouteKey) {
        // `metric 0` names no metric, for the kernel as for ip.
        let metric = r.metric.filter(|m| *m != 0);
        let mut here: Vec<(&RouteKey, i64)> = self
            .routes
            .iter()
            .filter(|((n, k), _)| {
                n == ns && k.v6 == key.v6 && k.table == key.table && k.dest == key.dest
            })
            .map(|((_, k), place)| (k, *place))
            .collect();
        here.sort_by_key(|(k, place)| (k.kernel_metric(), *place));
        // Whether the line deletes `k`; `None`: the model does not know its link.
        let deletes = |k: &RouteKey| {
            if r.kind.is_some_and(|t| t != k.kind)
                || r.via.is_some_and(|v| k.via != Some(v))
                || metric.is_some_and(|m| k.kernel_metric() != m)
            {
                return Some(false);
            }
            match (&r.dev, &k.dev) {
                (Some(d), Some(kd)) => Some(d == kd),
                (Some(_), None) => None,
                _ => Some(true),
            }
        };
        let first = here
            .iter()
            .find_map(|(k, _)| deletes(k).map_or(Some((*k, false)), |d| d.then_some((*k, true))));
        let gone: Vec<RouteKey> = match first {
            Some((k, true)) => here
                .iter()
                .filter(|(o, _)| {
                    *o == k
                        || (k.v6
                            && r.via.is_none()
                            && k.via.is_some()
                            && o.via.is_some()
                            && o.same_slot(k))
                })
                .map(|(o, _)| (*o).clone())
                .collect(),
            Some((_, false)) => {
                self.unknown(
                    Some(ns.clone()),
                    vec![],
                    "a route removed whose link the model does not know",
                );
                return;
            }
            None => {
                self.unknown(
                    Some(ns.clone()),
                    vec![],
                    "a route removed that the model did not know",
                );
                return;
            }
        };
        for k in gone {
            self.routes.remove(&(ns.clone(), k));
        }
    }

    /// What one simple command does to the model.
    /// The line with each link it names by a name only ip's lookup finds (iproute2's
    /// ll_name_to_index) named by the link's own name: `veth0:1` is veth0 (the kernel's ioctl
    /// lookup cuts the name at its colon). `Ok(None)`: nothing to rename. `Err(name)`: a name the
    /// model cannot follow (`if3`, ip's index notation; a long altname; a name with a colon
    /// whose first part is no link the model knows).
    fn by_ip_names(&self, ns: &Ns, op: &Op) -> std::result::Result<Option<Op>, String> {
        let mut op = op.clone();
        let names: Vec<&mut String> = match &mut op {
            Op::LinkSet(set) => {
                let mut v: Vec<&mut String> = set.attrs.dev.iter_mut().collect();
                if let Some(Some(m)) = &mut set.attrs.master {
                    v.push(m);
                }
                v
            }
            Op::LinkDel(d) => vec![&mut d.dev],
            Op::Addr(a) => vec![&mut a.dev],
            Op::AddrFlush(f) => f.dev.iter_mut().collect(),
            Op::Route(r) => r.dev.iter_mut().collect(),
            Op::RouteFlush(f) => f.dev.iter_mut().collect(),
            Op::Neigh(n) => vec![&mut n.dev],
            Op::NeighFlush(f) => f.dev.iter_mut().collect(),
            _ => return Ok(None),
        };
        let mut changed = false;
        for name in names {
            if self.links.contains_key(&(ns.clone(), name.clone())) {
                continue;
            }
            let base = name
                .split_once(':')
                .map(|(b, _)| b)
                .filter(|b| name.len() < 16 && !b.is_empty());
            match base {
                Some(b) if self.links.contains_key(&(ns.clone(), b.to_string())) => {
                    *name = b.to_string();
                    changed = true;
                }
                _ if name.contains(':')
                    || !crate::net::valid_ifname(name)
                    || crate::net::ip_index_name(name).is_some() =>
                {
                    return Err(name.clone());
                }
                _ => {}
            }
        }
        Ok(changed.then_some(op))
    }

    pub fn apply(&mut self, p: &Part) {
        let ns = p.ns.clone();
        let resolved;
        let op = match self.by_ip_names(&ns, &p.op) {
            Ok(None) => &p.op,
            Ok(Some(op)) => {
                resolved = op;
                &resolved
            }
            Err(name) => {
                self.unknown(
                    Some(ns),
                    vec![name],
                    "a link named as only ip finds it (by its index, an altname the model does not know, or a name with a colon the model cannot cut to a link it knows)",
                );
                return;
            }
        };
        match op {
            Op::NetnsAdd(n) => {
                self.made.push(Made::Netns(n.clone()));
                if self.netns.insert(n.clone()) {
                    self.links.insert(
                        (Ns::Named(n.clone()), "lo".into()),
                        LinkFact {
                            kind: "loopback".into(),
                            up: false,
                            peer: None,
                            master: None,
                            mtu: None,
                            mac: None,
                            main_end: true,
                            lower: None,
                            mtu_set: false,
                        },
                    );
                }
            }
            Op::NetnsDel(n) => self.netns_del(n),
            Op::NetnsDelAll => {
                let all: Vec<String> = self.netns.iter().cloned().collect();
                for n in all {
                    self.netns_del(&n);
                }
            }
            Op::NetnsAttach(n) | Op::BindNetns(n) => {
                // A name for a namespace someone else made: its contents are unknown.
                self.netns.insert(n.clone());
                self.made.push(Made::Netns(n.clone()));
                self.unknown(Some(Ns::Named(n.clone())), vec![], NAMED_ELSEWHERE);
            }
            Op::UnbindNetns(n) => {
                self.netns.remove(n);
            }
            Op::LinkAdd(add) => {
                let at = add
                    .attrs
                    .netns
                    .as_ref()
                    .map_or(Some(ns.clone()), |n| n.ns());
                let Some(name) = add.attrs.link_name().map(str::to_string) else {
                    self.unknown(at, vec![], "a link the kernel names");
                    return;
                };
                let Some(at) = at else {
                    self.unknown(
                        None,
                        vec![name],
                        "a link made in a namespace nslab cannot name",
                    );
                    return;
                };
                let peer = add.peer.as_ref().map(|pa| {
                    let pns = pa.netns.as_ref().map_or(Some(ns.clone()), |n| n.ns());
                    (pns, pa.link_name().map(str::to_string))
                });
                let peer_key = match &peer {
                    Some((Some(pns), Some(pname))) => Some((pns.clone(), pname.clone())),
                    Some(_) => {
                        self.unknown(None, vec![], "a veth peer the kernel names");
                        None
                    }
                    None if add.kind == "veth" => {
                        self.unknown(Some(ns.clone()), vec![], "a veth peer the kernel names");
                        None
                    }
                    None => None,
                };
                self.made.push(Made::Link(at.clone(), name.clone()));
                self.links.insert(
                    (at.clone(), name.clone()),
                    LinkFact {
                        kind: add.kind.clone(),
                        up: add.attrs.up == Some(true),
                        peer: peer_key.clone(),
                        master: add.attrs.master.clone().flatten(),
                        mtu: add.attrs.mtu,
                        mac: mac_of(&add.attrs.address),
                        main_end: true,
                        lower: lower_of(&add.kind, &add.attrs, &add.kind_args)
                            .map(|l| (ns.clone(), l)),
                        mtu_set: false,
                    },
                );
                if let Some(Some(br)) = &add.attrs.master {
                    self.port_joins(&at, br);
                }
                if let (Some((pns, pname)), Some(pa)) = (peer_key, &add.peer) {
                    self.made.push(Made::Link(pns.clone(), pname.clone()));
                    self.links.insert(
                        (pns, pname),
                        LinkFact {
                            kind: "veth".into(),
                            up: pa.up == Some(true),
                            peer: Some((at, name)),
                            master: pa.master.clone().flatten(),
                            mtu: pa.mtu,
                            mac: mac_of(&pa.address),
                            main_end: false,
                            lower: None,
                            mtu_set: false,
                        },
                    );
                }
            }
            Op::LinkSet(set) => {
                let dev = set.dev().to_string();
                let key = (ns.clone(), dev.clone());
                let Some(mut fact) = self.links.get(&key).cloned() else {
                    // A link the model does not know (made by an unknown line, or the machine's
                    // own in the root namespace): record what it can.
                    self.unknown(
                        Some(ns.clone()),
                        vec![dev],
                        "a change to a link the model does not know",
                    );
                    return;
                };
                let mut here = ns.clone();
                let mut name = dev.clone();
                // A port that moves, takes another name or leaves its bridge keeps no entry of
                // the model's (the kernel flushes a port's entries when it leaves its bridge).
                if set.attrs.netns.is_some()
                    || set.attrs.rename().is_some()
                    || set.attrs.master.is_some()
                {
                    self.fdbs.retain(|(n, d, _)| !(*n == ns && *d == dev));
                }
                // The kernel applies a move first: the link arrives down, without its
                // addresses, routes and master.
                if let Some(to) = &set.attrs.netns {
                    match to.ns() {
                        Some(to) if to != here => {
                            self.flush_routes_through(&here, &name, |_| true);
                            self.neighs
                                .retain(|(n, d, _), _| !(*n == here && *d == name));
                            // Its settings stay behind: it gets its new namespace's defaults.
                            let own = format!(".conf.{}.", crate::net::sysctl_part(&name));
                            self.sysctls
                                .retain(|(n, k), _| !(*n == here && k.contains(own.as_str())));
                            self.links.remove(&key);
                            self.addrs
                                .retain(|(n, d, _), _| !(*n == here && *d == name));
                            fact.up = false;
                            fact.master = None;
                            here = to;
                        }
                        Some(_) => {}
                        None => {
                            // A namespace the model cannot name (a process's): the link leaves
                            // this one, and the other end of its cable stays where it is.
                            if let Some((pns, pname)) = &fact.peer
                                && let Some(pf) = self.links.get_mut(&(pns.clone(), pname.clone()))
                            {
                                pf.peer = None;
                            }
                            if let Some(f) = self.links.get_mut(&key) {
                                f.peer = None;
                            }
                            self.remove_link(&ns, &dev);
                            return;
                        }
                    }
                }
                if let Some(m) = set.attrs.mtu {
                    fact.mtu = Some(m);
                    fact.mtu_set = true;
                    // Below IPv6's minimum MTU the kernel turns IPv6 off on the link: its
                    // addresses and routes go.
                    if m < 1280 {
                        let (h, d) = (here.clone(), name.clone());
                        self.addrs
                            .retain(|(n, l, c), _| !(*n == h && *l == d && c.addr.is_ipv6()));
                        self.routes.retain(|(n, r), _| {
                            !(*n == h && r.v6 && r.dev.as_deref() == Some(d.as_str()))
                        });
                    }
                    // A macvlan (ipvlan, vlan) on it cannot be larger: the kernel lowers it.
                    for f in self.links.values_mut() {
                        if f.lower.as_ref() == Some(&key) && f.mtu.is_some_and(|u| u > m) {
                            f.mtu = None;
                        }
                    }
                }
                if let Some(a) = mac_of(&set.attrs.address) {
                    fact.mac = Some(a);
                }
                // A MAC address set (even the one the link has) flushes the link's neighbour
                // entries, IPv4 and IPv6, permanent ones too (NETDEV_CHANGEADDR:
                // neigh_changeaddr).
                if set.attrs.address.is_some() {
                    self.neighs
                        .retain(|(n, d, _), _| !(*n == here && *d == name));
                }
                if let Some(new) = set.attrs.rename() {
                    let old = (here.clone(), name.clone());
                    self.links.remove(&old);
                    let moved: Vec<_> = self
                        .addrs
                        .iter()
                        .filter(|((n, d, _), _)| *n == here && *d == name)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    // The kernel relabels the link's IPv4 addresses: the first (in its order,
                    // which the model does not keep) takes the new name, the others the new
                    // name and what followed the colon of theirs. The model says nothing of
                    // their labels any more.
                    for ((n, _, c), mut v) in moved {
                        self.addrs.remove(&(n.clone(), name.clone(), c));
                        self.made.push(Made::Addr(n.clone(), new.to_string(), c));
                        v.label = None;
                        self.addrs.insert((n, new.to_string(), c), v);
                    }
                    // Routes and neighbour entries name the link by its index: they follow.
                    let renamed: Vec<(Ns, RouteKey)> = self
                        .routes
                        .keys()
                        .filter(|(n, r)| *n == here && r.dev.as_deref() == Some(name.as_str()))
                        .cloned()
                        .collect();
                    for k in renamed {
                        if let Some(place) = self.routes.remove(&k) {
                            let mut r = k.1;
                            r.dev = Some(new.to_string());
                            self.routes.insert((k.0, r), place);
                        }
                    }
                    let neighs: Vec<_> = self
                        .neighs
                        .iter()
                        .filter(|((n, d, _), _)| *n == here && *d == name)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for ((n, d, a), v) in neighs {
                        self.neighs.remove(&(n.clone(), d, a));
                        self.neighs.insert((n, new.to_string(), a), v);
                    }
                    name = new.to_string();
                }
                if set.attrs.up == Some(false) && fact.up {
                    self.link_down(&here, &name);
                }
                if let Some(up) = set.attrs.up {
                    fact.up = up;
                }
                if let Some(m) = &set.attrs.master {
                    fact.master = m.clone();
                    if let Some(br) = m {
                        self.port_joins(&here, br);
                    }
                }
                // A macvlan, ipvlan or vlan keeps its lower device by index; a vxlan goes when
                // its lower device leaves the namespace (vxlan_handle_lowerdev_unregister
                // does not tell a move from a delete).
                if (here.clone(), name.clone()) != key {
                    let left: Vec<(Ns, String)> = self
                        .links
                        .iter()
                        .filter(|(_, f)| {
                            f.lower.as_ref() == Some(&key) && f.kind == "vxlan" && here != key.0
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    for (un, u) in left {
                        self.remove_link(&un, &u);
                    }
                    for f in self.links.values_mut() {
                        if f.lower.as_ref() == Some(&key) {
                            f.lower = Some((here.clone(), name.clone()));
                        }
                    }
                }
                // The other end of a veth follows the rename or the move.
                if let Some((pns, pname)) = &fact.peer
                    && let Some(pf) = self.links.get_mut(&(pns.clone(), pname.clone()))
                {
                    pf.peer = Some((here.clone(), name.clone()));
                }
                self.links.remove(&key);
                self.made.push(Made::Link(here.clone(), name.clone()));
                self.links.insert((here, name), fact);
            }
            Op::LinkDel(d) => self.remove_link(&ns, &d.dev),
            Op::Addr(a) => {
                let Some(cidr) = a.cidr() else {
                    self.unknown(Some(ns.clone()), vec![a.dev.clone()], "an address change");
                    return;
                };
                let key = (ns.clone(), a.dev.clone(), cidr);
                match a.verb {
                    // An IPv4 address without its length (`ip addr del 10.1.0.1 dev e0`): ip
                    // warns and deletes the first address that has it, whatever its length.
                    AddrVerb::Del
                        if cidr.addr.is_ipv4() && a.local.is_some_and(|l| !l.len_given) =>
                    {
                        let with_it: Vec<(Ns, String, Cidr)> = self
                            .addrs
                            .keys()
                            .filter(|(n, d, c)| *n == ns && *d == a.dev && c.addr == cidr.addr)
                            .cloned()
                            .collect();
                        // Two lengths of one address: which is first is the kernel's order.
                        let sure = with_it.len() == 1;
                        for k in with_it {
                            self.addrs.remove(&k);
                            if !sure {
                                self.doubt_addrs.insert(k.clone());
                            }
                            self.v4_addr_gone(&k.0, &k.1, k.2);
                        }
                    }
                    AddrVerb::Del => {
                        if self.addrs.remove(&key).is_some() && cidr.addr.is_ipv4() {
                            self.v4_addr_gone(&key.0, &key.1, cidr);
                        }
                    }
                    // An address the link has already: `replace` and `change` renew its
                    // lifetimes (and metric), and leave its label and broadcast address as they
                    // were (the kernel's inet_rtm_newaddr).
                    AddrVerb::Replace | AddrVerb::Change if self.addrs.contains_key(&key) => {
                        self.made
                            .push(Made::Addr(key.0.clone(), key.1.clone(), key.2));
                    }
                    verb => {
                        // `replace` of one the model is unsure of: there now, for sure; with the
                        // label and broadcast address it had, if it was there, which the model
                        // does not know.
                        let unsure = matches!(verb, AddrVerb::Replace | AddrVerb::Change)
                            && self.doubt_addrs.contains(&key);
                        let brd = match a.brd {
                            // An IPv6 address has no broadcast address: ip accepts one, and
                            // the kernel ignores it.
                            _ if cidr.addr.is_ipv6() || unsure => None,
                            Some(Brd::Addr(ip)) => Some(ip),
                            Some(Brd::Plus) => broadcast_of(&cidr),
                            _ => None,
                        };
                        self.made
                            .push(Made::Addr(key.0.clone(), key.1.clone(), key.2));
                        self.doubt_addrs.remove(&key);
                        self.addrs.insert(
                            key,
                            AddrFact {
                                brd,
                                label: a.label.clone().filter(|_| cidr.addr.is_ipv4() && !unsure),
                            },
                        );
                    }
                }
            }
            Op::AddrFlush(f) => {
                let gone: Vec<(Ns, String, Cidr)> = self
                    .addrs
                    .iter()
                    .filter(|((n, d, c), fact)| {
                        *n == ns
                            && f.dev.as_ref().is_none_or(|fd| fd == d)
                            && match f.family {
                                Family::V4 => c.addr.is_ipv4(),
                                Family::V6 => c.addr.is_ipv6(),
                                Family::Any => true,
                            }
                            && f.to.is_none_or(|to| to.contains(&c.addr))
                            // An IPv6 address has no label: ip matches the link's name.
                            && f.label.as_ref().is_none_or(|l| {
                                let label = match &fact.label {
                                    Some(own) if c.addr.is_ipv4() => own,
                                    _ => d,
                                };
                                l == label
                            })
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &gone {
                    self.addrs.remove(k);
                    if f.unsure {
                        self.doubt_addrs.insert(k.clone());
                    }
                }
                for (n, d, c) in gone {
                    if c.addr.is_ipv4() {
                        self.v4_addr_gone(&n, &d, c);
                    }
                }
            }
            Op::Route(r) => {
                let dest = r.dest.addr.map(|a| Cidr::new(a, r.dest.len));
                let key = RouteKey {
                    table: r.stored_table(),
                    kind: r.stored_kind(),
                    dest,
                    via: r.via,
                    dev: r.dev.clone(),
                    metric: r.metric,
                    v6: r.is_v6(),
                };
                // Next hops written out (`nexthop via A nexthop via B`): the model does not
                // follow them, so every route to that destination is in doubt.
                if r.other.iter().any(|o| o == "nexthop") {
                    let slot: Vec<(Ns, RouteKey)> = self
                        .routes
                        .keys()
                        .filter(|(n, o)| {
                            *n == ns && o.v6 == key.v6 && o.table == key.table && o.dest == key.dest
                        })
                        .cloned()
                        .collect();
                    for k in slot {
                        self.routes.remove(&k);
                        self.doubt_routes.insert(k);
                    }
                    self.doubt_routes.insert((ns.clone(), key));
                    return;
                }
                match r.verb {
                    RouteVerb::Del => self.route_del(&ns, r, &key),
                    verb => {
                        match r.src {
                            Some(src) => self.route_src.insert((ns.clone(), key.clone()), src),
                            None => self.route_src.remove(&(ns.clone(), key.clone())),
                        };
                        self.route_set(&ns, verb, key)
                    }
                }
            }
            Op::Neigh(n) => {
                let key = (ns.clone(), n.dev.clone(), n.addr);
                self.doubt_neighs.remove(&key);
                if n.set {
                    let lladdr = n.lladdr.as_deref().and_then(|l| l.parse::<Mac>().ok());
                    self.neighs.insert(
                        key,
                        NeighFact {
                            lladdr,
                            state: n.nud.clone(),
                        },
                    );
                } else {
                    self.neighs.remove(&key);
                }
            }
            Op::Rule(r) if r.add => {
                self.made.push(Made::IpRule(ns.clone(), r.clone()));
                self.ip_rules.push((ns.clone(), r.clone()));
            }
            Op::Rule(del) => {
                // The kernel removes the first rule that matches in its list, which is in
                // order of preference (one preference's rules as they came). Where the kernel
                // chose a preference, the model does not know it: it keeps the lines' order.
                let matching: Vec<usize> = (0..self.ip_rules.len())
                    .filter(|&i| self.ip_rules[i].0 == ns && del.deletes(&self.ip_rules[i].1))
                    .collect();
                let first = if matching.iter().all(|&i| self.ip_rules[i].1.pref.is_some()) {
                    matching
                        .iter()
                        .copied()
                        .min_by_key(|&i| self.ip_rules[i].1.pref)
                } else {
                    matching.first().copied()
                };
                if let Some(i) = first {
                    self.ip_rules.remove(i);
                }
            }
            Op::Fdb(f) if f.master => {
                if let Ok(mac) = f.mac.parse::<Mac>() {
                    let key = (ns.clone(), f.dev.clone(), mac);
                    if f.add {
                        self.fdbs.insert(key);
                    } else {
                        self.fdbs.remove(&key);
                    }
                }
            }
            Op::Fdb(_) | Op::BridgePort { .. } => {}
            Op::Sysctl(s) => {
                // With -e, a key that does not exist is passed over: what is there, the model
                // does not know.
                let maybe_missing = matches!(
                    s.by,
                    super::grammar::SysctlBy::Procps {
                        ignore_unknown: true,
                        ..
                    }
                );
                for (k, v) in &s.writes {
                    // Two names of one switch: the last one written is the one checked.
                    let twin = twin_key(k);
                    // Forwarding switched for all links sets every link's (and the default)
                    // when it changes (devinet_sysctl_forward, addrconf_fixup_forwarding);
                    // when the model does not know whether it changed, it knows none of them.
                    let family = match k.as_str() {
                        "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding" => Some("ipv4"),
                        "net.ipv6.conf.all.forwarding" => Some("ipv6"),
                        _ => None,
                    };
                    if let Some(fam) = family {
                        let was = self
                            .sysctls
                            .get(&(ns.clone(), k.clone()))
                            .or_else(|| {
                                twin.and_then(|t| self.sysctls.get(&(ns.clone(), t.into())))
                            })
                            .cloned();
                        if was.as_deref() != Some(v.as_str()) {
                            let prefix = format!("net.{fam}.conf.");
                            let links: Vec<String> = self
                                .sysctls
                                .keys()
                                .filter(|(n, key)| {
                                    *n == ns
                                        && key.starts_with(&prefix)
                                        && key.ends_with(".forwarding")
                                        && key != k
                                })
                                .map(|(_, key)| key.clone())
                                .collect();
                            for key in links {
                                if was.is_some() {
                                    self.sysctls.insert((ns.clone(), key), v.clone());
                                } else {
                                    self.sysctls.remove(&(ns.clone(), key));
                                }
                            }
                        }
                    }
                    if let Some(t) = twin {
                        self.sysctls.remove(&(ns.clone(), t.to_string()));
                    }
                    self.made.push(Made::Sysctl(ns.clone(), k.clone()));
                    self.sysctl_writes
                        .entry((ns.clone(), k.clone()))
                        .or_default()
                        .insert(v.clone());
                    // A key nobody may read (`net.ipv4.route.flush`) is no value to check.
                    if maybe_missing || k.ends_with(".flush") {
                        self.sysctls.remove(&(ns.clone(), k.clone()));
                    } else {
                        self.sysctls.insert((ns.clone(), k.clone()), v.clone());
                    }
                }
            }
            Op::Iptables(rule) => match rule.action {
                'A' | 'I' => {
                    self.made.push(Made::Rule(ns.clone(), rule.clone()));
                    self.rules.push((ns.clone(), rule.clone()));
                }
                'D' => self.rules.retain(|(n, r)| {
                    !(*n == ns
                        && r.table == rule.table
                        && r.chain == rule.chain
                        && r.rule == rule.rule)
                }),
                _ => {}
            },
            Op::Start(name) => {
                self.made.push(Made::Proc(ns.clone(), name.clone()));
                self.procs.insert(name.clone());
            }
            Op::Kill(name) => {
                self.procs.remove(name);
            }
            Op::Write(files) => {
                self.made.extend(files.iter().cloned().map(Made::File));
                self.files.extend(files.iter().cloned());
            }
            Op::Unknown {
                why,
                names,
                network,
            } => {
                if *network {
                    self.doubt_network(&ns);
                }
                self.unknown(
                    Some(ns.clone()).filter(|n| !n.is_root()),
                    names.clone(),
                    why,
                );
            }
            Op::RouteFlush(f) => {
                let named = |r: &RouteKey| {
                    f.table.is_none_or(|t| t == r.table)
                        && match f.family {
                            Family::V4 => !r.v6,
                            Family::V6 => r.v6,
                            Family::Any => true,
                        }
                };
                // Whether the flush takes `r` (`None`: the model does not know its link, as
                // for a route by a gateway, whose link the kernel chose).
                let takes = |r: &RouteKey| match (&f.dev, &r.dev) {
                    (None, _) => Some(true),
                    (Some(d), Some(rd)) => Some(d == rd),
                    (Some(_), None) => None,
                };
                let mut gone = Vec::new();
                let mut doubt = Vec::new();
                for (n, r) in self.routes.keys() {
                    if *n != ns || !named(r) {
                        continue;
                    }
                    // A multipath route has no link of its own (no RTA_OIF): a flush by link
                    // never takes it, whatever its next hops (iproute.c filter_nlmsg).
                    let took = if f.dev.is_some() && self.multipath(n, r) {
                        Some(false)
                    } else {
                        takes(r)
                    };
                    if took == Some(true) && f.exact {
                        gone.push((n.clone(), r.clone()));
                    } else if took != Some(false) {
                        doubt.push((n.clone(), r.clone()));
                    }
                }
                for k in gone {
                    self.routes.remove(&k);
                    self.route_src.remove(&k);
                }
                // Which of them the other filters leave, the model cannot tell: in doubt.
                for k in doubt {
                    self.routes.remove(&k);
                    self.doubt_routes.insert(k);
                }
            }
            Op::NeighFlush(f) => {
                let mut gone = Vec::new();
                let mut doubt = Vec::new();
                for ((n, d, a), fact) in &self.neighs {
                    let named = *n == ns
                        && f.dev.as_ref().is_none_or(|fd| fd == d)
                        && match f.family {
                            Family::V4 => a.is_ipv4(),
                            Family::V6 => a.is_ipv6(),
                            Family::Any => true,
                        };
                    if !named {
                        continue;
                    }
                    let k = (n.clone(), d.clone(), *a);
                    // An entry in a passing state (reachable, delay, probe) turns stale by
                    // itself: unless the flush takes both or neither, it may or may not go.
                    let passing = ["reachable", "delay", "probe"].contains(&fact.state.as_str());
                    if passing && f.takes_state(&fact.state) != f.takes_state("stale") {
                        doubt.push(k);
                        continue;
                    }
                    match f.takes_state(&fact.state) {
                        Some(true) if f.exact => gone.push(k),
                        Some(false) => {}
                        _ => doubt.push(k),
                    }
                }
                for k in gone {
                    self.neighs.remove(&k);
                }
                // Which of them the other filters leave, the model cannot tell: in doubt.
                for k in doubt {
                    self.neighs.remove(&k);
                    self.doubt_neighs.insert(k);
                }
            }
            Op::Ping(_) | Op::Observe | Op::List(_) => {}
        }
    }

    /// The other routes of `ns` to `key`'s destination (in its table and family).
    fn routes_beside<'a>(
        &'a self,
        ns: &'a Ns,
        key: &'a RouteKey,
    ) -> impl Iterator<Item = &'a RouteKey> + 'a {
        self.routes.keys().filter_map(move |(n, o)| {
            (n == ns && o != key && o.v6 == key.v6 && o.table == key.table && o.dest == key.dest)
                .then_some(o)
        })
    }

    /// Whether `key` is a next hop of an IPv6 multipath route: another route with a gateway
    /// has its destination and metric (the kernel shows the route without a gateway).
    fn multipath(&self, ns: &Ns, key: &RouteKey) -> bool {
        key.v6
            && key.via.is_some()
            && self
                .routes_beside(ns, key)
                .any(|o| o.via.is_some() && o.same_slot(key))
    }

    /// The routes a step adds and removes. A route check without a metric means the route in
    /// use, so a route with a lower metric beside it gets its metric said; a route gone is not
    /// said gone when a route left would answer to the same words.
    fn route_changes_since(&self, before: &World, out: &mut Vec<Check>) {
        for (ns, key) in self.routes.keys() {
            if self.multipath(ns, key) {
                // A next hop new here is checked by its gateway (a route check's `via` is any
                // one of a multipath route's next hops), with the route's metric.
                if !before.routes.contains_key(&(ns.clone(), key.clone())) {
                    out.push(Check::Route {
                        ns: ns.clone(),
                        route: RouteSpec {
                            metric: Some(key.kernel_metric()),
                            ..key.spec()
                        },
                    });
                }
                continue;
            }
            // A route given another source address (`ip route change ... src A`) is checked
            // again with it.
            let k = (ns.clone(), key.clone());
            let new_src = self
                .route_src
                .get(&k)
                .is_some_and(|a| before.route_src.get(&k) != Some(a));
            if before.routes.contains_key(&k) && !new_src {
                continue;
            }
            let mut route = key.spec();
            // The source address a line gave it (`src A`): the kernel keeps it with the route.
            route.src = self.route_src.get(&(ns.clone(), key.clone())).copied();
            // Without a metric, a route check means the route the kernel uses: a route
            // shadowed by a lower metric, or by a route of the same metric before it (`ip
            // route append`), is checked with its metric.
            let place = self.routes.get(&(ns.clone(), key.clone())).copied();
            if route.metric.is_none()
                && self.routes_beside(ns, key).any(|o| {
                    o.kernel_metric() < key.kernel_metric()
                        || (o.kernel_metric() == key.kernel_metric()
                            && self.routes.get(&(ns.clone(), o.clone())).copied() < place)
                })
            {
                route.metric = Some(key.kernel_metric());
            }
            out.push(Check::Route {
                ns: ns.clone(),
                route,
            });
        }
        for (ns, key) in before.routes.keys() {
            if self.routes.contains_key(&(ns.clone(), key.clone()))
                || !self.ns_exists(ns)
                || self.doubt_routes.contains(&(ns.clone(), key.clone()))
            {
                continue;
            }
            // A next hop of a multipath route gone: by its gateway, with the route's metric (a
            // route check's `via` is any one of the route's next hops).
            if before.multipath(ns, key) {
                out.push(Check::Not(Box::new(Check::Route {
                    ns: ns.clone(),
                    route: RouteSpec {
                        metric: Some(key.kernel_metric()),
                        ..key.spec()
                    },
                })));
                continue;
            }
            let mut route = key.spec();
            // Without a metric, a check means the route in use: one that another shadowed,
            // before or after the step, is said gone with its metric.
            if self.routes_beside(ns, key).next().is_some()
                || before.routes_beside(ns, key).next().is_some()
            {
                route.metric = Some(key.kernel_metric());
            }
            // A route left that these words would name (its link unknown to the model, say).
            if self.routes_beside(ns, key).any(|o| {
                o.kind == route.kind
                    && route.via.is_none_or(|v| o.via == Some(v))
                    && route
                        .dev
                        .as_ref()
                        .is_none_or(|d| o.dev.as_ref().is_none_or(|od| od == d))
                    && o.kernel_metric() == key.kernel_metric()
            }) {
                continue;
            }
            out.push(Check::Not(Box::new(Check::Route {
                ns: ns.clone(),
                route,
            })));
        }
    }

    /// The checks that state the difference from `before` to `self`.
    /// How many facts the model holds: what a look over all of it costs.
    fn size(&self) -> usize {
        self.netns.len()
            + self.links.len()
            + self.addrs.len()
            + self.routes.len()
            + self.sysctls.len()
            + self.neighs.len()
            + self.fdbs.len()
            + self.rules.len()
            + self.ip_rules.len()
            + self.procs.len()
            + self.files.len()
            + 1
    }

    /// Whether sysctl `k`, not known before the step, was written by its lines both another
    /// way and the way it ends (`v`): the step may have gone there and back (`=1`, then `=0`),
    /// and an end equal to the start is no change. What the key was, the model does not know.
    /// The switch's other name counts as the key (`ip_forward=1`, then
    /// `conf.all.forwarding=0`, is there and back too).
    fn there_and_back(&self, before: &World, k: &(Ns, String), v: &str) -> bool {
        let twin = twin_key(&k.1).map(|t| (k.0.clone(), t.to_string()));
        let names = || std::iter::once(k.clone()).chain(twin.clone());
        let writes = || names().filter_map(|n| self.sysctl_writes.get(&n)).flatten();
        !names().any(|n| before.sysctls.contains_key(&n))
            && writes().any(|x| same_value(x, v))
            && writes().any(|x| !same_value(x, v))
    }

    /// What the step's lines leave certain without it being certain that they changed it: a
    /// sysctl written there and back (see [`World::there_and_back`]) ends at its last value,
    /// whatever it was before. Its check says how the step leaves the key, and is exempt from
    /// the before-rule (it may have held before the step).
    pub fn certain_ends(&self, before: &World) -> Vec<Check> {
        self.sysctls
            .iter()
            .filter(|((ns, key), v)| self.there_and_back(before, &(ns.clone(), key.clone()), v))
            .map(|((ns, key), v)| Check::Sysctl {
                key: key.clone(),
                value: v.clone(),
                ns: ns.clone(),
            })
            .collect()
    }

    pub fn changes_since(&self, before: &World) -> Vec<Check> {
        let mut out = Vec::new();
        for n in self.netns.difference(&before.netns) {
            out.push(Check::Netns {
                name: n.clone(),
                exists: true,
            });
        }
        for n in before.netns.difference(&self.netns) {
            out.push(Check::Netns {
                name: n.clone(),
                exists: false,
            });
        }
        let link = |name: &str, ns: &Ns, pred: LinkPred| Check::Link {
            name: name.to_string(),
            ns: ns.clone(),
            pred,
        };
        for ((ns, name), f) in &self.links {
            let old = before.links.get(&(ns.clone(), name.clone()));
            let new_here = old.is_none();
            // A new namespace's loopback comes with it: only its state is news.
            if new_here && name == "lo" && f.kind == "loopback" {
                if f.up {
                    out.push(link(name, ns, LinkPred::Up));
                }
                continue;
            }
            if new_here {
                match (&f.peer, f.kind.as_str()) {
                    (Some((pns, pname)), _) => {
                        // A pair is spoken of once, from the end named first, unless only this
                        // end is new here.
                        let peer_new = !before.links.contains_key(&(pns.clone(), pname.clone()));
                        if f.main_end || !peer_new {
                            out.push(link(
                                name,
                                ns,
                                LinkPred::Peer {
                                    name: pname.clone(),
                                    ns: pns.clone(),
                                },
                            ));
                        }
                    }
                    (None, "veth") => out.push(link(name, ns, LinkPred::Exists)),
                    (None, k) => out.push(link(name, ns, LinkPred::Kind(k.to_string()))),
                }
                if f.up {
                    out.push(link(name, ns, LinkPred::Up));
                }
                if let Some(m) = &f.master {
                    out.push(link(name, ns, LinkPred::Master(m.clone())));
                }
            } else if let Some(o) = old {
                if o.up != f.up {
                    out.push(link(
                        name,
                        ns,
                        if f.up { LinkPred::Up } else { LinkPred::Down },
                    ));
                }
                if o.master != f.master {
                    out.push(link(
                        name,
                        ns,
                        f.master
                            .clone()
                            .map_or(LinkPred::NoMaster, LinkPred::Master),
                    ));
                }
            }
            // A veth made without an MTU has the kernel's 1500: set to 1200 and back to 1500 in
            // one step, its MTU has not changed.
            let had = |o: &LinkFact| o.mtu.or((o.kind == "veth").then_some(1500));
            if let Some(m) = f.mtu
                && old.is_none_or(|o| had(o) != Some(m))
            {
                out.push(link(name, ns, LinkPred::Mtu(m)));
            }
            if let Some(a) = f.mac
                && old.is_none_or(|o| o.mac != Some(a))
            {
                out.push(link(name, ns, LinkPred::Address(a)));
            }
        }
        for (ns, name) in before.links.keys() {
            if !self.links.contains_key(&(ns.clone(), name.clone())) && self.ns_exists(ns) {
                out.push(link(name, ns, LinkPred::Absent));
            }
        }
        for ((ns, dev, cidr), a) in &self.addrs {
            if !before.addrs.contains_key(&(ns.clone(), dev.clone(), *cidr)) {
                out.push(Check::Addr {
                    cidr: *cidr,
                    dev: dev.clone(),
                    ns: ns.clone(),
                    only: false,
                    brd: a.brd,
                    label: a.label.clone(),
                });
            }
        }
        for (ns, dev, cidr) in before.addrs.keys() {
            if !self.addrs.contains_key(&(ns.clone(), dev.clone(), *cidr))
                && self.links.contains_key(&(ns.clone(), dev.clone()))
                && !self.doubt_addrs.contains(&(ns.clone(), dev.clone(), *cidr))
            {
                out.push(Check::Not(Box::new(Check::Addr {
                    cidr: *cidr,
                    dev: dev.clone(),
                    ns: ns.clone(),
                    only: false,
                    brd: None,
                    label: None,
                })));
            }
        }
        self.route_changes_since(before, &mut out);
        for ((ns, key), v) in &self.sysctls {
            let k = (ns.clone(), key.clone());
            // Known before under the switch's other name (`ip_forward`, then
            // `conf.all.forwarding`): that value is this key's.
            let was = before.sysctls.get(&k).or_else(|| {
                twin_key(key).and_then(|t| before.sysctls.get(&(ns.clone(), t.to_string())))
            });
            if was != Some(v) && !self.there_and_back(before, &k, v) {
                out.push(Check::Sysctl {
                    key: key.clone(),
                    value: v.clone(),
                    ns: ns.clone(),
                });
            }
        }
        for ((ns, dev, addr), n) in &self.neighs {
            if before.neighs.get(&(ns.clone(), dev.clone(), *addr)) != Some(n) {
                out.push(Check::Neigh {
                    ns: ns.clone(),
                    addr: *addr,
                    dev: Some(dev.clone()),
                    lladdr: n.lladdr,
                    state: Some(n.state.clone()),
                });
            }
        }
        for (ns, dev, mac) in &self.fdbs {
            if !before.fdbs.contains(&(ns.clone(), dev.clone(), *mac)) {
                out.push(Check::Fdb {
                    ns: ns.clone(),
                    port: dev.clone(),
                    what: FdbWhat::Mac(*mac),
                });
            }
        }
        for (ns, dev, mac) in &before.fdbs {
            if !self.fdbs.contains(&(ns.clone(), dev.clone(), *mac))
                && self.links.contains_key(&(ns.clone(), dev.clone()))
            {
                out.push(Check::Not(Box::new(Check::Fdb {
                    ns: ns.clone(),
                    port: dev.clone(),
                    what: FdbWhat::Mac(*mac),
                })));
            }
        }
        for (ns, dev, addr) in before.neighs.keys() {
            if !self.neighs.contains_key(&(ns.clone(), dev.clone(), *addr))
                && self.links.contains_key(&(ns.clone(), dev.clone()))
                && !self
                    .doubt_neighs
                    .contains(&(ns.clone(), dev.clone(), *addr))
            {
                out.push(Check::Not(Box::new(Check::Neigh {
                    ns: ns.clone(),
                    addr: *addr,
                    dev: Some(dev.clone()),
                    lladdr: None,
                    state: None,
                })));
            }
        }
        for (ns, r) in &self.rules {
            if !before.rules.contains(&(ns.clone(), r.clone())) {
                let mut line = vec![
                    r.program.clone(),
                    "-t".into(),
                    r.table.clone(),
                    "-C".into(),
                    r.chain.clone(),
                ];
                line.extend(r.rule.iter().cloned());
                out.push(Check::Shell {
                    command: line.join(" "),
                    ns: ns.clone(),
                    says: Some(format!(
                        "the {} rule is in {} {}",
                        r.table,
                        r.chain,
                        r.rule.join(" ")
                    )),
                });
            }
        }
        out
    }
}

/// Two values of a sysctl that the kernel reads back alike (`20000 30000`, and the same with
/// a tab between).
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The other name of a switch with two (`net.ipv4.ip_forward` is
/// `net.ipv4.conf.all.forwarding`).
fn twin_key(key: &str) -> Option<&'static str> {
    match key {
        "net.ipv4.ip_forward" => Some("net.ipv4.conf.all.forwarding"),
        "net.ipv4.conf.all.forwarding" => Some("net.ipv4.ip_forward"),
        _ => None,
    }
}

/// `brd +`: the address with every host bit set.
fn broadcast_of(c: &Cidr) -> Option<IpAddr> {
    match c.addr {
        IpAddr::V4(a) if c.prefix <= 30 => {
            let host = u32::MAX.checked_shr(u32::from(c.prefix)).unwrap_or(0);
            Some(IpAddr::V4((u32::from(a) | host).into()))
        }
        _ => None,
    }
}

/// Derives the checks of each step that has no `check` block: the net effect of the whole
/// step, and for each ping line, the ping itself (the student's action).
pub fn derive_checks(steps: &mut [Step]) {
    let mut world = World::new();
    // Placing each derived check at its own line costs a look over the whole model after each
    // line; for a generated lesson of thousands of lines, that would grow with its square. Past
    // this many entries looked at, a derived check stays at its block's first line.
    let mut placing_budget: usize = 500_000;
    for step in steps.iter_mut() {
        // A hidden setup is where the step starts from, not what it asks for.
        for c in &step.setup {
            for p in &c.command.parts {
                world.apply(p);
            }
        }
        // (What was made is Creations' business, not this one's: no need to carry it along.)
        world.made.clear();
        world.sysctl_writes.clear();
        let before = world.clone();
        // The step's net effect after each line, for a derived check's place in the reports:
        // the line from which on the check is part of it ("link host0 is up" is line 3's, not
        // the block's first line's).
        let mut so_far: Vec<(Vec<Check>, usize)> = Vec::new();
        // (Each line adds a fact or two as the model grows.)
        let lines = step.commands.len();
        let cost = lines.saturating_mul(world.size().saturating_add(lines.saturating_mul(2)));
        let place = !step.has_check_block && cost <= placing_budget;
        if place {
            placing_budget -= cost;
        }
        for c in &step.commands {
            for p in &c.command.parts {
                world.apply(p);
            }
            if place {
                so_far.push((world.changes_since(&before), c.offset));
            }
        }
        if step.has_check_block {
            continue;
        }
        let first = step.commands.first().map_or(step.offset, |c| c.offset);
        let observe = step.observes_only();
        let mut checks: Vec<CheckLine> = world
            .changes_since(&before)
            .into_iter()
            .map(|check| CheckLine {
                offset: so_far
                    .iter()
                    .rev()
                    .take_while(|(net, _)| net.contains(&check))
                    .last()
                    .map_or(first, |(_, o)| *o),
                check,
                origin: Origin::Derived,
                observe,
                refs: Vec::new(),
            })
            .collect();
        // A sysctl set there and back: its end is certain, not that the step changed it.
        for check in world.certain_ends(&before) {
            let Check::Sysctl { key, ns, .. } = &check else {
                continue;
            };
            // Placed at the last line that writes it.
            let offset = step
                .commands
                .iter()
                .rev()
                .find(|c| {
                    c.command.parts.iter().any(|p| {
                        p.ns == *ns
                            && matches!(&p.op, Op::Sysctl(s) if s.writes.iter().any(|(k, _)| k == key))
                    })
                })
                .map_or(first, |c| c.offset);
            checks.push(CheckLine {
                check,
                offset,
                origin: Origin::Derived,
                observe: true,
                refs: Vec::new(),
            });
        }
        // A step may ping, change something, and ping the same address again ("it fails;
        // add the route; now it answers"): the last ping from a namespace to an address says
        // how the step leaves it. The earlier ones are still run, each expected to do what its
        // line says.
        let mut last_ping = BTreeMap::new();
        for (i, c) in step.commands.iter().enumerate() {
            for p in &c.command.parts {
                if let Op::Ping(ping) = &p.op {
                    last_ping.insert((p.ns.clone(), ping.addr), i);
                }
            }
        }
        for (i, c) in step.commands.iter().enumerate() {
            for p in &c.command.parts {
                // nslab watches IPv4 echoes only (an IPv6 ping proves itself by its exit).
                if let Op::Ping(ping) = &p.op
                    && ping.addr.is_ipv4()
                    && last_ping.get(&(p.ns.clone(), ping.addr)) == Some(&i)
                {
                    checks.push(CheckLine {
                        check: Check::Pinged {
                            addr: ping.addr,
                            from: p.ns.clone(),
                            answered: !c.expect_failure,
                        },
                        offset: c.offset,
                        origin: Origin::Derived,
                        observe: false,
                        refs: Vec::new(),
                    });
                }
            }
        }
        step.checks = checks;
    }
}

/// What a whole lesson brings into being, as far as its lines say, and what they leave
/// unknown.
#[derive(Debug, Default)]
pub struct Creations {
    pub netns: BTreeSet<String>,
    /// Links by namespace, wherever they were at any point of the lesson.
    pub links: BTreeSet<(Ns, String)>,
    pub unknowns: Vec<Unknown>,
    /// Firewall rules the lesson adds, and sysctls it sets (for reset).
    pub rules: Vec<(Ns, super::grammar::Iptables)>,
    /// Policy routing rules the lesson adds (for reset).
    pub ip_rules: Vec<(Ns, RuleChange)>,
    pub sysctls: BTreeSet<(Ns, String)>,
    pub procs: BTreeSet<String>,
    /// Those of `procs` a line starts in the root namespace (not by `ip netns exec`).
    pub procs_in_root: BTreeSet<String>,
    /// The absolute paths the lines start `procs` by (`/tmp/netns-demo`), where they give one.
    pub proc_paths: BTreeMap<String, BTreeSet<String>>,
    /// Addresses and routes the lesson adds, wherever they were at any point (for reset).
    pub addrs: BTreeSet<(Ns, String, Cidr)>,
    pub routes: BTreeSet<(Ns, RouteKey)>,
    /// Files the lesson's lines write.
    pub files: BTreeSet<String>,
}

/// Whether a lesson's lines make something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    Yes,
    /// A line nslab cannot read might: it says why.
    Maybe(String),
    No,
}

impl Creations {
    pub fn of(lesson: &Lesson) -> Creations {
        let mut world = World::new();
        let mut c = Creations::default();
        for step in &lesson.steps {
            for cmd in step.setup.iter().chain(&step.commands) {
                for p in &cmd.command.parts {
                    world.apply(p);
                    for m in world.made.drain(..) {
                        match m {
                            Made::Netns(n) => {
                                c.netns.insert(n);
                            }
                            Made::Link(ns, name) => {
                                c.links.insert((ns, name));
                            }
                            Made::Addr(ns, dev, cidr) => {
                                c.addrs.insert((ns, dev, cidr));
                            }
                            Made::Route(ns, key) => {
                                c.routes.insert((ns, key));
                            }
                            Made::Sysctl(ns, key) => {
                                c.sysctls.insert((ns, key));
                            }
                            Made::Rule(ns, r) => {
                                if !c.rules.contains(&(ns.clone(), r.clone())) {
                                    c.rules.push((ns, r));
                                }
                            }
                            Made::IpRule(ns, r) => {
                                if !c.ip_rules.contains(&(ns.clone(), r.clone())) {
                                    c.ip_rules.push((ns, r));
                                }
                            }
                            Made::Proc(ns, name) => {
                                if ns.is_root() {
                                    c.procs_in_root.insert(name.clone());
                                }
                                // Started by its absolute path (`/tmp/netns-demo 3600 &`): that
                                // program, not another of the same name.
                                if let Some(path) = cmd.text.split_whitespace().find(|w| {
                                    w.starts_with('/')
                                        && w.rsplit('/').next() == Some(name.as_str())
                                }) {
                                    c.proc_paths
                                        .entry(name.clone())
                                        .or_default()
                                        .insert(path.to_string());
                                }
                                c.procs.insert(name);
                            }
                            Made::File(f) => {
                                c.files.insert(f);
                            }
                        }
                    }
                }
            }
        }
        // Loopbacks come with their namespaces; the lesson does not make them.
        c.links.retain(|(_, name)| name != "lo");
        c.unknowns = world.unknowns;
        c
    }

    pub fn netns(&self, name: &str) -> Known {
        if self.netns.contains(name) {
            return Known::Yes;
        }
        match self.unknowns.iter().find(|u| u.could_touch(None, name)) {
            Some(u) => Known::Maybe(u.why.clone()),
            None => Known::No,
        }
    }

    pub fn link(&self, ns: &Ns, name: &str) -> Known {
        // Every namespace has its loopback; the root namespace has links of its own.
        if name == "lo" || ns.is_root() || self.links.contains(&(ns.clone(), name.to_string())) {
            return Known::Yes;
        }
        match self.unknowns.iter().find(|u| u.could_touch(Some(ns), name)) {
            Some(u) => Known::Maybe(u.why.clone()),
            None => Known::No,
        }
    }

    /// Every named namespace the lesson makes or names.
    pub fn namespaces(&self) -> impl Iterator<Item = &String> {
        self.netns.iter()
    }
}

#[cfg(test)]
mod tests;
