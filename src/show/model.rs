//! The topology model: what `nslab show --format json` prints (docs/show-json.md) and what every
//! picture is drawn from. It can be gathered from the kernel (`gather`), built by hand (the
//! constructors below, for a lesson's intended topology), or merged from two (`diff`).

use std::fmt;

use serde::{Serialize, Serializer};

/// The whole picture.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Topology {
    pub namespaces: Vec<NsView>,
    /// Each veth pair once, its two ends ordered by namespace then interface.
    pub wires: Vec<Wire>,
}

/// Which kind of namespace, as the JSON names it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum NsKind {
    /// The namespace nslab started in.
    Root,
    /// One bound in /run/netns (`ip netns add`).
    Named,
    /// One that only a process holds.
    Unnamed,
}

/// In a diff picture: whether the intended item is there, missing, or there without being
/// intended. `None` everywhere else.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Present,
    Missing,
    Extra,
}

impl Mark {
    /// The word a picture writes beside a missing or extra item; nothing for a present one.
    pub fn word(m: Option<Mark>) -> Option<&'static str> {
        match m {
            Some(Mark::Missing) => Some("missing"),
            Some(Mark::Extra) => Some("extra"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NsView {
    /// "root", the name in /run/netns, or "pid PID" for a namespace only a process holds.
    pub name: String,
    pub kind: NsKind,
    pub inode: Option<u64>,
    /// For an unnamed namespace: the first process in it, and its command.
    pub pid: Option<u32>,
    pub command: Option<String>,
    /// net.ipv4.ip_forward in this namespace; `None` when nslab could not read it.
    pub forwarding: Option<bool>,
    pub interfaces: Vec<Iface>,
    pub default_route: Option<DefaultRoute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
}

/// What kind of link, as the kernel names it (`ip -d link`'s kind).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Veth,
    Bridge,
    Loopback,
    Macvlan,
    Vxlan,
    /// Another kind the kernel names, as it names it.
    Other(String),
}

impl LinkKind {
    pub fn from_name(name: &str) -> LinkKind {
        match name {
            "veth" => LinkKind::Veth,
            "bridge" => LinkKind::Bridge,
            "loopback" => LinkKind::Loopback,
            "macvlan" => LinkKind::Macvlan,
            "vxlan" => LinkKind::Vxlan,
            other => LinkKind::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Loopback => "loopback",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Other(k) => k,
        }
    }
}

impl Serialize for LinkKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    /// `None` for a plain device the kernel gives no kind.
    pub kind: Option<LinkKind>,
    /// Administratively up (what `ip link set up` changes).
    pub up: bool,
    /// The operational state ("up", "down", "lowerlayerdown", "unknown"...).
    pub state: String,
    /// The link has a carrier (IFF_LOWER_UP): for a veth, its peer is up too. `ip link` prints
    /// NO-CARRIER for an interface that is up without one.
    pub carrier: bool,
    pub mac: Option<String>,
    pub addresses: Vec<Address>,
    /// The bridge this interface is a port of.
    pub master: Option<String>,
    /// In a diff: whether this interface being a port of `master` is intended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_mark: Option<Mark>,
    /// For a bridge: its ports.
    pub ports: Vec<String>,
    /// For a veth: its other end. Never `None` for a veth nslab read from the kernel.
    pub peer: Option<End>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    /// In a diff: the administrative state the lesson means, when the kernel's differs
    /// (`Some(true)`: the lesson has it up, the kernel down).
    #[serde(skip)]
    pub meant_up: Option<bool>,
}

impl Iface {
    /// The three states a picture tells apart, most alive first.
    pub fn link_state(&self) -> LinkState {
        match (self.up, self.carrier) {
            (false, _) => LinkState::Down,
            (true, false) => LinkState::NoCarrier,
            (true, true) => LinkState::Up,
        }
    }

    pub fn is_bridge(&self) -> bool {
        self.kind == Some(LinkKind::Bridge)
    }
}

/// What `ip -br link` would say of an interface, in three words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Up, with a carrier: packets can flow.
    Up,
    /// Set up, but no carrier (a veth whose peer is down).
    NoCarrier,
    /// Administratively down.
    Down,
}

impl LinkState {
    pub fn word(self) -> &'static str {
        match self {
            LinkState::Up => "UP",
            LinkState::NoCarrier => "NO-CARRIER",
            LinkState::Down => "DOWN",
        }
    }
}

/// An IPv4 address with its prefix, as `ip` writes it. In JSON a plain string such as
/// `"10.1.0.2/24"`; a marked one (in a diff only) is `{"address": "...", "mark": "missing"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub cidr: String,
    pub mark: Option<Mark>,
}

impl Address {
    pub fn new(cidr: impl Into<String>) -> Address {
        Address {
            cidr: cidr.into(),
            mark: None,
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self.mark {
            None => s.serialize_str(&self.cidr),
            Some(m) => {
                let mut st = s.serialize_struct("Address", 2)?;
                st.serialize_field("address", &self.cidr)?;
                st.serialize_field("mark", &m)?;
                st.end()
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cidr)
    }
}

/// One end of a wire: an interface in a namespace.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct End {
    /// The namespace as `NsView::name` names it; [`UNNAMED_PEER`] when nslab cannot name it.
    pub namespace: String,
    /// The interface's name; `ifN` (its index, as `ip link` writes `veth0@if7`) when the
    /// namespace could not be read.
    pub interface: String,
}

/// The namespace of a veth peer that neither a name nor a visible process holds.
pub const UNNAMED_PEER: &str = "(unnamed)";

impl End {
    pub fn new(namespace: impl Into<String>, interface: impl Into<String>) -> End {
        End {
            namespace: namespace.into(),
            interface: interface.into(),
        }
    }
}

impl fmt::Display for End {
    /// `blue:veth0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.interface)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Wire {
    pub a: End,
    pub b: End,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
}

impl Wire {
    /// A wire with its ends in the documented order.
    pub fn new(x: End, y: End) -> Wire {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Wire { a, b, mark: None }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DefaultRoute {
    pub via: Option<String>,
    pub dev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
}

impl fmt::Display for DefaultRoute {
    /// `default via 10.1.0.1 dev blue1`, as `ip route` says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("default")?;
        if let Some(v) = &self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        Ok(())
    }
}

// ---- building a topology by hand (a lesson's intended topology, tests) ----

impl Topology {
    /// A topology of these namespaces: bridges' port lists and the wires are derived from the
    /// interfaces' `master` and `peer`.
    pub fn new(namespaces: Vec<NsView>) -> Topology {
        let mut t = Topology {
            namespaces,
            wires: Vec::new(),
        };
        t.derive();
        t
    }

    /// Recomputes what follows from the interfaces: each bridge's ports, and one wire per veth
    /// pair (peers that name an interface nobody draws still make a wire: its far end is
    /// drawn as a stub).
    pub fn derive(&mut self) {
        self.derive_ports();
        let mut wires: Vec<Wire> = Vec::new();
        for ns in &self.namespaces {
            for i in &ns.interfaces {
                let Some(peer) = &i.peer else { continue };
                let w = Wire::new(End::new(&ns.name, &i.name), peer.clone());
                if !wires.iter().any(|x| x.a == w.a && x.b == w.b) {
                    wires.push(w);
                }
            }
        }
        self.wires = wires;
    }

    /// Each bridge's ports, from its ports' `master`.
    pub fn derive_ports(&mut self) {
        for ns in &mut self.namespaces {
            let masters: Vec<(String, String)> = ns
                .interfaces
                .iter()
                .filter_map(|i| Some((i.master.clone()?, i.name.clone())))
                .collect();
            for i in &mut ns.interfaces {
                if i.is_bridge() {
                    i.ports = masters
                        .iter()
                        .filter(|(m, _)| *m == i.name)
                        .map(|(_, p)| p.clone())
                        .collect();
                }
            }
        }
    }

    pub fn namespace(&self, name: &str) -> Option<&NsView> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    pub fn iface(&self, end: &End) -> Option<&Iface> {
        self.namespace(&end.namespace)?
            .interfaces
            .iter()
            .find(|i| i.name == end.interface)
    }
}

impl NsView {
    pub fn new(name: impl Into<String>, kind: NsKind) -> NsView {
        NsView {
            name: name.into(),
            kind,
            inode: None,
            pid: None,
            command: None,
            forwarding: None,
            interfaces: Vec::new(),
            default_route: None,
            mark: None,
        }
    }

    pub fn root() -> NsView {
        NsView::new("root", NsKind::Root)
    }

    pub fn named(name: impl Into<String>) -> NsView {
        NsView::new(name, NsKind::Named)
    }

    /// Adds an interface.
    pub fn with(mut self, iface: Iface) -> NsView {
        self.interfaces.push(iface);
        self
    }

    /// Sets the default route (`ip route add default via VIA`).
    pub fn default_via(mut self, via: impl Into<String>) -> NsView {
        self.default_route = Some(DefaultRoute {
            via: Some(via.into()),
            dev: None,
            mark: None,
        });
        self
    }

    pub fn forwarding(mut self, on: bool) -> NsView {
        self.forwarding = Some(on);
        self
    }

    pub fn iface(&self, name: &str) -> Option<&Iface> {
        self.interfaces.iter().find(|i| i.name == name)
    }

    /// How the text picture names the namespace: `root namespace`, its name, or
    /// `pid N cmd (unnamed)`; escaped for display.
    pub fn title(&self) -> String {
        use super::escape::visible;
        match self.kind {
            NsKind::Root => "root namespace".into(),
            NsKind::Unnamed => format!(
                "{} {} (unnamed)",
                visible(&self.name),
                visible(self.command.as_deref().unwrap_or(""))
            ),
            NsKind::Named => visible(&self.name).into_owned(),
        }
    }

    /// The same for a slide, where a bare name could be anything: `netns blue`.
    pub fn label(&self) -> String {
        match self.kind {
            NsKind::Named => format!("netns {}", self.title()),
            _ => self.title(),
        }
    }

    /// A router: a namespace with addresses in two or more subnets, or with forwarding on.
    pub fn is_router(&self) -> bool {
        if self.forwarding == Some(true) {
            return true;
        }
        let mut nets: Vec<String> = self
            .interfaces
            .iter()
            .filter(|i| i.kind != Some(LinkKind::Loopback) && i.mark != Some(Mark::Missing))
            .flat_map(|i| i.addresses.iter().filter_map(|a| subnet(&a.cidr)))
            .collect();
        nets.sort();
        nets.dedup();
        nets.len() >= 2
    }
}

/// `10.1.0.2/24` -> `10.1.0.0/24`.
fn subnet(cidr: &str) -> Option<String> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some(format!(
        "{}/{len}",
        std::net::Ipv4Addr::from(u32::from(ip) & mask)
    ))
}

impl Iface {
    /// A down interface with no address.
    pub fn new(name: impl Into<String>, kind: Option<LinkKind>) -> Iface {
        Iface {
            name: name.into(),
            kind,
            up: false,
            state: "down".into(),
            carrier: false,
            mac: None,
            addresses: Vec::new(),
            master: None,
            master_mark: None,
            ports: Vec::new(),
            peer: None,
            mark: None,
            meant_up: None,
        }
    }

    /// `lo`.
    pub fn loopback() -> Iface {
        Iface::new("lo", Some(LinkKind::Loopback))
    }

    /// One end of a veth pair whose other end is `peer_ns:peer`.
    pub fn veth(
        name: impl Into<String>,
        peer_ns: impl Into<String>,
        peer: impl Into<String>,
    ) -> Iface {
        let mut i = Iface::new(name, Some(LinkKind::Veth));
        i.peer = Some(End::new(peer_ns, peer));
        i
    }

    pub fn bridge(name: impl Into<String>) -> Iface {
        Iface::new(name, Some(LinkKind::Bridge))
    }

    /// Up with a carrier (`state` "up"; "unknown" for loopback, as the kernel says).
    pub fn up(mut self) -> Iface {
        self.up = true;
        self.carrier = true;
        self.state = if self.kind == Some(LinkKind::Loopback) {
            "unknown".into()
        } else {
            "up".into()
        };
        self
    }

    /// Up without a carrier (a veth whose peer is down).
    pub fn up_no_carrier(mut self) -> Iface {
        self.up = true;
        self.carrier = false;
        self.state = "lowerlayerdown".into();
        self
    }

    pub fn address(mut self, cidr: impl Into<String>) -> Iface {
        self.addresses.push(Address::new(cidr));
        self
    }

    /// A port of the bridge `bridge` (`ip link set X master bridge`).
    pub fn master(mut self, bridge: impl Into<String>) -> Iface {
        self.master = Some(bridge.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_the_documented_strings() {
        let t = Topology::new(vec![
            NsView::named("blue").with(Iface::veth("veth0", "red", "veth1").up()),
            NsView::named("red")
                .with(Iface::veth("veth1", "blue", "veth0").address("10.1.0.3/24"))
                .with(Iface::new("eth9", Some(LinkKind::from_name("ipvlan")))),
        ]);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["namespaces"][0]["kind"], "named");
        assert_eq!(v["namespaces"][0]["interfaces"][0]["kind"], "veth");
        assert_eq!(v["namespaces"][0]["interfaces"][0]["carrier"], true);
        assert_eq!(
            v["namespaces"][1]["interfaces"][0]["addresses"][0],
            "10.1.0.3/24"
        );
        assert_eq!(v["namespaces"][1]["interfaces"][1]["kind"], "ipvlan");
        // No marks outside a diff.
        assert!(v["namespaces"][0].get("mark").is_none());
        assert_eq!(t.wires.len(), 1);
        assert_eq!(t.wires[0].a, End::new("blue", "veth0"));
        let mut marked = Address::new("10.1.0.9/24");
        marked.mark = Some(Mark::Missing);
        assert_eq!(
            serde_json::to_value(&marked).unwrap(),
            serde_json::json!({"address": "10.1.0.9/24", "mark": "missing"})
        );
    }

    #[test]
    fn a_router_has_two_subnets_or_forwarding() {
        let two = NsView::named("router")
            .with(Iface::loopback().up().address("127.0.0.1/8"))
            .with(Iface::veth("left0", "left", "eth0").address("10.0.1.1/24"))
            .with(Iface::veth("right0", "right", "eth0").address("10.0.2.1/24"));
        assert!(two.is_router());
        let one = NsView::named("left")
            .with(Iface::loopback().up().address("127.0.0.1/8"))
            .with(Iface::veth("eth0", "router", "left0").address("10.0.1.2/24"));
        assert!(!one.is_router());
        assert!(one.forwarding(true).is_router());
    }

    #[test]
    fn bridges_list_their_ports() {
        let t = Topology::new(vec![
            NsView::root()
                .with(Iface::bridge("br0").up())
                .with(Iface::veth("b0", "blue", "b1").master("br0")),
        ]);
        assert_eq!(t.namespaces[0].interfaces[0].ports, ["b0"]);
    }
}
