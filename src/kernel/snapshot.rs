//! Typed state of one namespace, read with netlink dumps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::net::{rtn, table};

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::Handle;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, Prop, State,
};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use serde::Serialize;

use super::{KernelError, Result};
use crate::net::{Cidr, Mac, Ns};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    #[serde(serialize_with = "ser_ns")]
    pub ns: Ns,
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    pub routes: Vec<Route>,
    /// Where each link sits in `links`, by name: checks look links up one at a time.
    #[serde(skip)]
    by_name: HashMap<String, usize>,
}

fn ser_ns<S: serde::Serializer>(ns: &Ns, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(ns.name())
}

fn ser_opt_ns<S: serde::Serializer>(ns: &Option<Ns>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match ns {
        Some(n) => s.serialize_str(n.name()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: Option<u32>,
    /// "veth", "bridge", "loopback", or another kind the kernel names.
    pub kind: Option<String>,
    /// Administratively up (IFF_UP), what `ip link set up` changes.
    pub up: bool,
    /// The operational state: "up", "down", "lowerlayerdown", "unknown"...
    pub oper: String,
    /// IFF_LOWER_UP: the link has a carrier (`ip link` prints NO-CARRIER when it is up without).
    pub lower_up: bool,
    pub mac: Option<String>,
    /// The root queueing discipline (`ip link` prints it: "noqueue", "pfifo_fast", "netem"...).
    #[serde(skip)]
    pub qdisc: Option<String>,
    /// The bridge this link is enslaved to, by name.
    pub master: Option<String>,
    pub peer: Option<Peer>,
    #[serde(skip)]
    pub(super) peer_nsid: Option<i32>,
    #[serde(skip)]
    pub(super) master_index: Option<u32>,
    /// Its other names (`ip link property add dev X altname Y`): ip takes them wherever it
    /// takes the name.
    #[serde(skip)]
    pub altnames: Vec<String>,
    /// `ip link set X alias TEXT`.
    #[serde(skip)]
    pub alias: Option<String>,
}

impl Link {
    /// Whether the link's peer (a veth's other end) lives in another namespace.
    pub fn peer_elsewhere(&self) -> bool {
        self.peer_nsid.is_some()
    }

    /// A link of this kind, down, with nothing else set (for tests).
    pub fn bare(index: u32, name: &str, kind: &str) -> Link {
        Link {
            index,
            name: name.to_string(),
            mtu: Some(1500),
            kind: Some(kind.to_string()),
            up: false,
            lower_up: false,
            oper: "down".into(),
            mac: None,
            qdisc: None,
            master: None,
            peer: None,
            peer_nsid: None,
            master_index: None,
            altnames: Vec::new(),
            alias: None,
        }
    }
}

/// The other end of a veth pair.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    pub index: u32,
    /// Resolved when nslab can see the peer's namespace (root or /run/netns).
    pub name: Option<String>,
    /// The peer's namespace; `None` when it is in a namespace nslab cannot name.
    #[serde(serialize_with = "ser_opt_ns")]
    pub ns: Option<Ns>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Addr {
    pub link: String,
    pub index: u32,
    #[serde(serialize_with = "ser_cidr")]
    pub cidr: Cidr,
    /// IFA_ADDRESS when it differs from the local address (a point-to-point peer).
    #[serde(skip)]
    pub peer: Option<IpAddr>,
    #[serde(skip)]
    pub brd: Option<IpAddr>,
    #[serde(skip)]
    pub label: Option<String>,
    /// The address scope (253 is link, as IPv6 link-local addresses have).
    #[serde(skip)]
    pub scope: u8,
    /// IPv6 duplicate address detection is still running (IFA_F_TENTATIVE), or waits for the
    /// link to have a carrier.
    #[serde(skip)]
    pub tentative: bool,
    /// Duplicate address detection found the address in use (IFA_F_DADFAILED): it stays
    /// tentative for good.
    #[serde(skip)]
    pub dadfailed: bool,
}

fn ser_cidr<S: serde::Serializer>(c: &Cidr, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `None` is the default route.
    #[serde(serialize_with = "ser_opt_cidr")]
    pub dest: Option<Cidr>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    #[serde(skip)]
    pub table: u32,
    /// The RTN_ type (1 unicast, 6 blackhole, 7 unreachable, 8 prohibit, 9 throw...).
    #[serde(skip)]
    pub kind: u8,
    #[serde(skip)]
    pub metric: Option<u32>,
    #[serde(skip)]
    pub v6: bool,
    /// A multipath route's next hops (`nexthop via A nexthop via B`, or IPv6 routes to one
    /// prefix and metric appended): their gateways and links. Empty for a route of one path,
    /// whose `via` and `dev` say where it goes.
    #[serde(skip)]
    pub nexthops: Vec<(Option<IpAddr>, Option<String>)>,
    /// The source address the route gives (`src A`, RTA_PREFSRC).
    #[serde(skip)]
    pub src: Option<IpAddr>,
    /// The type of service it is for (`tos 0x10`); 0 for all traffic.
    #[serde(skip)]
    pub tos: u8,
}

impl Route {
    /// In the main table: what `ip route` shows.
    pub fn is_main(&self) -> bool {
        self.table == table::MAIN
    }
}

/// A neighbour (ARP/NDP) entry, as `ip neigh` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neigh {
    pub addr: IpAddr,
    pub dev: String,
    pub lladdr: Option<Mac>,
    /// The state as `ip neigh` names it: reachable, stale, permanent, failed...
    pub state: String,
}

/// A bridge forwarding entry, as `bridge fdb` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The port (or the bridge itself, for its own entries).
    pub dev: String,
    /// The bridge the entry belongs to (NTF_MASTER entries).
    pub master: Option<String>,
    /// Learned from traffic (by a bridge, or by a VXLAN device itself), not added by hand or
    /// by the kernel for its own ports.
    pub learned: bool,
}

fn ser_opt_cidr<S: serde::Serializer>(
    c: &Option<Cidr>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_str(&c.to_string()),
        None => s.serialize_str("default"),
    }
}

/// Each link by its name, and by each of its altnames that is no other link's name.
fn index_names(links: &[Link]) -> HashMap<String, usize> {
    let mut by: HashMap<String, usize> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.clone(), i))
        .collect();
    for (i, l) in links.iter().enumerate() {
        for a in &l.altnames {
            by.entry(a.clone()).or_insert(i);
        }
    }
    by
}

impl Snapshot {
    /// A snapshot put together by hand (for tests of what judges it).
    pub fn from_parts(ns: Ns, links: Vec<Link>, addrs: Vec<Addr>, routes: Vec<Route>) -> Snapshot {
        let by_name = index_names(&links);
        Snapshot {
            ns,
            links,
            addrs,
            routes,
            by_name,
        }
    }

    /// A link's name by its index (for dumps that name links by index).
    pub fn name_of(&self, index: u32) -> Option<String> {
        self.links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.by_name.get(name).map(|&i| &self.links[i])
    }

    pub fn addrs_of(&self, link: &str) -> impl Iterator<Item = &Addr> {
        self.addrs.iter().filter(move |a| a.link == link)
    }
}

pub(super) fn addr_of(msg: &AddressMessage) -> Option<Cidr> {
    let ip = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        })?;
    Some(Cidr {
        addr: ip,
        prefix: msg.header.prefix_len,
    })
}

fn addr_fact(m: &AddressMessage, link: String) -> Option<Addr> {
    let cidr = addr_of(m)?;
    let mut a = Addr {
        link,
        index: m.header.index,
        cidr,
        peer: None,
        brd: None,
        label: None,
        scope: u8::from(m.header.scope),
        tentative: m
            .header
            .flags
            .contains(rtnetlink::packet_route::address::AddressHeaderFlags::Tentative),
        dadfailed: m
            .header
            .flags
            .contains(rtnetlink::packet_route::address::AddressHeaderFlags::Dadfailed),
    };
    for at in &m.attributes {
        match at {
            AddressAttribute::Address(ip) if *ip != cidr.addr => a.peer = Some(*ip),
            AddressAttribute::Broadcast(b) => a.brd = Some(IpAddr::V4(*b)),
            AddressAttribute::Label(l) => a.label = Some(l.clone()),
            AddressAttribute::Flags(f) => {
                a.tentative |=
                    f.contains(rtnetlink::packet_route::address::AddressFlags::Tentative);
                a.dadfailed |=
                    f.contains(rtnetlink::packet_route::address::AddressFlags::Dadfailed);
            }
            _ => {}
        }
    }
    Some(a)
}

pub(super) fn link_of(msg: &LinkMessage) -> Link {
    let mut l = Link {
        index: msg.header.index,
        name: String::new(),
        mtu: None,
        kind: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        oper: "unknown".into(),
        lower_up: msg.header.flags.contains(LinkFlags::LowerUp),
        mac: None,
        qdisc: None,
        master: None,
        peer: None,
        peer_nsid: None,
        master_index: None,
        altnames: Vec::new(),
        alias: None,
    };
    if msg.header.link_layer_type == LinkLayerType::Loopback {
        l.kind = Some("loopback".into());
    }
    let mut link_attr = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(m) => l.mtu = Some(*m),
            LinkAttribute::Address(m) if m.len() == 6 => {
                l.mac = Some(
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            LinkAttribute::OperState(s) => l.oper = oper_name(s),
            LinkAttribute::Qdisc(q) => l.qdisc = Some(q.clone()),
            LinkAttribute::Controller(i) => l.master_index = Some(*i),
            LinkAttribute::Link(i) => link_attr = Some(*i),
            LinkAttribute::LinkNetNsId(id) => l.peer_nsid = Some(*id),
            LinkAttribute::IfAlias(a) if !a.is_empty() => l.alias = Some(a.clone()),
            LinkAttribute::PropList(props) => {
                for p in props {
                    if let Prop::AltIfName(n) = p {
                        l.altnames.push(n.clone());
                    }
                }
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(kind_name(k));
                    }
                }
            }
            _ => {}
        }
    }
    if l.kind.as_deref() == Some("veth")
        && let Some(idx) = link_attr
    {
        l.peer = Some(Peer {
            index: idx,
            name: None,
            ns: None,
        });
    }
    l
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Veth => "veth".into(),
        InfoKind::Bridge => "bridge".into(),
        other => format!("{other}").to_lowercase(),
    }
}

fn oper_name(s: &State) -> String {
    match s {
        State::Up => "up".into(),
        State::Down => "down".into(),
        State::LowerLayerDown => "lowerlayerdown".into(),
        State::Unknown => "unknown".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

pub(super) async fn dump(h: &Handle, ns: &Ns) -> Result<Snapshot> {
    let ctx = |what: &str| format!("dump {what} of {ns}");
    let link_msgs: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(ctx("links"), e))?;
    let mut links: Vec<Link> = link_msgs.iter().map(link_of).collect();
    // Peers in this same namespace have no nsid: resolve them here. (A map: a bridge with
    // a thousand ports asks a thousand times.)
    let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let name_of = |i: u32| names.get(&i).cloned();
    for l in &mut links {
        l.master = l.master_index.and_then(name_of);
        if l.peer_nsid.is_none()
            && let Some(p) = l.peer.as_mut()
        {
            p.name = name_of(p.index);
            p.ns = Some(ns.clone());
        }
    }
    let addr_msgs: Vec<AddressMessage> = h
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(ctx("addresses"), e))?;
    let addrs = addr_msgs
        .iter()
        .filter_map(|m| addr_fact(m, name_of(m.header.index).unwrap_or_default()))
        .collect();
    let routes = routes(h, ns, false, &name_of).await?;
    let by_name = index_names(&links);
    Ok(Snapshot {
        ns: ns.clone(),
        links,
        addrs,
        routes,
        by_name,
    })
}

/// The routes of every table, of one family (IPv4 unless `v6`). The dump of all tables is
/// what checks need (a route in table 10); `ip route` shows the main table.
pub(super) async fn routes(
    h: &Handle,
    ns: &Ns,
    v6: bool,
    name_of: &impl Fn(u32) -> Option<String>,
) -> Result<Vec<Route>> {
    let req = if v6 {
        rtnetlink::RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
    } else {
        rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build()
    };
    let route_msgs: Vec<RouteMessage> = h
        .route()
        .get(req)
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(format!("dump routes of {ns}"), e))?;
    Ok(route_msgs
        .iter()
        .filter_map(|m| route_of(m, name_of))
        .collect())
}

/// IPv6's `multicast ff00::/8 dev X table local`, which the kernel adds with protocol boot.
fn v6_multicast_default(m: &RouteMessage) -> bool {
    m.header.address_family == rtnetlink::packet_route::AddressFamily::Inet6
        && u8::from(m.header.kind) == rtn::MULTICAST
        && m.header.destination_prefix_length == 8
}

fn route_of(m: &RouteMessage, name_of: &impl Fn(u32) -> Option<String>) -> Option<Route> {
    let mut table = u32::from(m.header.table);
    let mut dest = None;
    let mut via = None;
    let mut dev = None;
    let mut metric = None;
    let mut src = None;
    let mut nexthops = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => src = Some(IpAddr::V4(*ip)),
            RouteAttribute::PrefSource(RouteAddress::Inet6(ip)) => src = Some(IpAddr::V6(*ip)),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dest = Some(IpAddr::V4(*ip)),
            RouteAttribute::Destination(RouteAddress::Inet6(ip)) => dest = Some(IpAddr::V6(*ip)),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(IpAddr::V4(*ip)),
            RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => via = Some(IpAddr::V6(*ip)),
            RouteAttribute::Oif(i) => dev = name_of(*i),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(hops) => {
                nexthops = hops
                    .iter()
                    .map(|h| {
                        let gw = h.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => {
                                Some(IpAddr::V4(*ip))
                            }
                            RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => {
                                Some(IpAddr::V6(*ip))
                            }
                            _ => None,
                        });
                        (gw, name_of(h.interface_index))
                    })
                    .collect();
            }
            _ => {}
        }
    }
    let kind = u8::from(m.header.kind);
    // The local, broadcast and multicast routes the kernel makes for each address are its own
    // bookkeeping; one that someone added (`ip route add local ...`, proto boot) is a route
    // like any other.
    let by_kernel =
        u8::from(m.header.protocol) == crate::net::proto::KERNEL || v6_multicast_default(m);
    if [rtn::LOCAL, rtn::BROADCAST, rtn::MULTICAST].contains(&kind) && by_kernel {
        return None;
    }
    let v6 = m.header.address_family == rtnetlink::packet_route::AddressFamily::Inet6;
    let dest = match (dest, m.header.destination_prefix_length) {
        (_, 0) => None,
        (Some(ip), p) => Some(Cidr {
            addr: ip,
            prefix: p,
        }),
        (None, _) => None,
    };
    Some(Route {
        dest,
        via,
        dev,
        table,
        kind,
        metric,
        v6,
        nexthops,
        src,
        tos: m.header.tos,
    })
}

/// The neighbour entries of a namespace (IPv4 and IPv6).
pub(super) async fn neighbours(
    h: &Handle,
    ns: &Ns,
    name_of: &impl Fn(u32) -> Option<String>,
) -> Result<Vec<Neigh>> {
    use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};
    let msgs: Vec<_> = h
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(format!("dump neighbours of {ns}"), e))?;
    Ok(msgs
        .iter()
        .filter_map(|m| {
            let mut addr = None;
            let mut lladdr = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => {
                        addr = Some(IpAddr::V4(*ip))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => {
                        addr = Some(IpAddr::V6(*ip))
                    }
                    NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                        lladdr = b.as_slice().try_into().ok().map(Mac)
                    }
                    _ => {}
                }
            }
            Some(Neigh {
                addr: addr?,
                dev: name_of(m.header.ifindex).unwrap_or_default(),
                lladdr,
                state: format!("{:?}", m.header.state).to_lowercase(),
            })
        })
        .collect())
}

/// The bridge forwarding entries of a namespace (`bridge fdb show`).
pub(super) async fn fdb(
    h: &Handle,
    ns: &Ns,
    name_of: &impl Fn(u32) -> Option<String>,
) -> Result<Vec<FdbEntry>> {
    use rtnetlink::packet_route::neighbour::{NeighbourAttribute, NeighbourState};
    let msgs: Vec<_> = h
        .neighbours()
        .get()
        .set_address_family(rtnetlink::packet_route::AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(format!("dump the bridge FDB of {ns}"), e))?;
    Ok(msgs
        .iter()
        .filter_map(|m| {
            let mut mac = None;
            let mut master = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                        mac = b.as_slice().try_into().ok().map(Mac)
                    }
                    NeighbourAttribute::Controller(i) => master = name_of(*i),
                    _ => {}
                }
            }
            // A bridge's learned entries come with their master; a VXLAN device's, which it
            // learns itself (`self`, with the remote's address), without one.
            let own = m
                .header
                .flags
                .contains(rtnetlink::packet_route::neighbour::NeighbourFlags::Own);
            let learned = !matches!(
                m.header.state,
                NeighbourState::Permanent | NeighbourState::Noarp
            ) && (master.is_some() || own);
            Some(FdbEntry {
                mac: mac?,
                dev: name_of(m.header.ifindex).unwrap_or_default(),
                master,
                learned,
            })
        })
        .collect())
}

/// The nsid that the namespace of `h` uses for the namespace `fd` (RTM_GETNSID by fd).
pub(super) async fn nsid_of(h: &Handle, fd: &OwnedFd) -> Result<Option<i32>> {
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(fd.as_raw_fd() as u32)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST;
    let mut h = h.clone();
    let mut resp = h
        .request(req)
        .map_err(|e| KernelError::netlink("get nsid", e))?;
    while let Some(m) = resp.next().await {
        match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(n)) => {
                for a in n.attributes {
                    if let NsidAttribute::Id(id) = a {
                        return Ok((id >= 0).then_some(id));
                    }
                }
            }
            NetlinkPayload::Error(e) if e.code.is_some() => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

pub(super) async fn link_name(h: &Handle, index: u32) -> Result<Option<String>> {
    let mut links = h.link().get().match_index(index).execute();
    match links.try_next().await {
        Ok(Some(m)) => Ok(Some(link_of(&m).name)),
        _ => Ok(None),
    }
}

// ---- names that are not UTF-8 ----
//
// The kernel lets a link's name (and its alias, alternative names, an address's label) hold any
// bytes. netlink-packet-route decodes them as `String`, and a message whose name is not UTF-8
// fails to decode as a whole: netlink-proto logs and drops it. A dump then silently lacks the
// link, and a request for that one link (`link_name`) never gets an answer and waits forever.
// So the socket under every connection rewrites such a name, before decoding, into text: the
// valid parts as they are, each invalid byte as `\xNN`.

use std::task::{Context, Poll, ready};

use rtnetlink::sys::{AsyncSocket, Socket, SocketAddr, TokioSocket};

/// The netlink socket of every connection nslab opens: a Tokio socket whose datagrams have their
/// names made valid UTF-8 (see above).
pub(super) struct LossyNames(TokioSocket);

impl AsyncSocket for LossyNames {
    fn socket_ref(&self) -> &Socket {
        self.0.socket_ref()
    }

    fn socket_mut(&mut self) -> &mut Socket {
        self.0.socket_mut()
    }

    fn new(protocol: isize) -> std::io::Result<Self> {
        let s = TokioSocket::new(protocol)?;
        // The kernel's own words on an error (extended ACK: "Nexthop device required for
        // onlink", as iproute2 prints them), after the request's header only (capped ACK), so
        // that they are found at a fixed place: see [`super::kernel_says`]. Best effort: an
        // older kernel without them still answers with the error code.
        let _ = s.socket_ref().set_cap_ack(true);
        let _ = s.socket_ref().set_ext_ack(true);
        Ok(LossyNames(s))
    }

    fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.poll_send(cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: &SocketAddr,
    ) -> Poll<std::io::Result<usize>> {
        self.0.poll_send_to(cx, buf, addr)
    }

    fn poll_recv<B: bytes::BufMut>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<std::io::Result<()>> {
        let (data, _) = ready!(self.poll_recv_from_full(cx))?;
        Poll::Ready(put(buf, &data))
    }

    fn poll_recv_from<B: bytes::BufMut>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<std::io::Result<SocketAddr>> {
        let (data, addr) = ready!(self.poll_recv_from_full(cx))?;
        Poll::Ready(put(buf, &data).map(|()| addr))
    }

    fn poll_recv_from_full(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<(Vec<u8>, SocketAddr)>> {
        let (data, addr) = ready!(self.0.poll_recv_from_full(cx))?;
        Poll::Ready(Ok((valid_names(data), addr)))
    }
}

fn put<B: bytes::BufMut>(buf: &mut B, data: &[u8]) -> std::io::Result<()> {
    if buf.remaining_mut() < data.len() {
        return Err(std::io::Error::other(format!(
            "a netlink datagram of {} bytes does not fit in {} bytes",
            data.len(),
            buf.remaining_mut()
        )));
    }
    buf.put_slice(data);
    Ok(())
}

const NLMSG_HDRLEN: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
/// struct ifinfomsg and struct ifaddrmsg, before the attributes.
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFLA_IFNAME: u16 = 3;
const IFLA_QDISC: u16 = 6;
const IFLA_IFALIAS: u16 = 20;
const IFLA_PHYS_PORT_NAME: u16 = 38;
const IFLA_PROP_LIST: u16 = 52;
const IFLA_ALT_IFNAME: u16 = 53;
const IFA_LABEL: u16 = 3;
/// The attribute type without the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits.
const NLA_TYPE_MASK: u16 = 0x3fff;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// `n\xff`: the bytes as text, each byte that is not part of valid UTF-8 written out.
fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s
}

/// The datagram with every link and address message's names made valid UTF-8; the same
/// datagram, untouched, when they all are (nearly always).
fn valid_names(data: Vec<u8>) -> Vec<u8> {
    let mut out: Option<Vec<u8>> = None;
    let mut off = 0;
    while off + NLMSG_HDRLEN <= data.len() {
        let len =
            u32::from_ne_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        if len < NLMSG_HDRLEN || off + len > data.len() {
            break; // Malformed: the decoder will say so.
        }
        let kind = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
        let msg = &data[off..off + len];
        let fixed = match kind {
            RTM_NEWLINK => fix_message(msg, IFINFOMSG_LEN, link_strings),
            RTM_NEWADDR => fix_message(msg, IFADDRMSG_LEN, addr_strings),
            _ => None,
        };
        let next = align4(len).min(data.len() - off);
        match (fixed, &mut out) {
            (Some(m), _) => out.get_or_insert_with(|| data[..off].to_vec()).extend(m),
            (None, Some(o)) => o.extend(&data[off..off + next]),
            (None, None) => {}
        }
        off += next;
    }
    match out {
        Some(mut o) => {
            o.extend(&data[off.min(data.len())..]);
            o
        }
        None => data,
    }
}

/// What an attribute of a link message holds: a user-chosen string, a nest of them, or else.
enum Holds {
    Text,
    Nest(fn(u16) -> Holds),
    Other,
}

fn link_strings(t: u16) -> Holds {
    match t {
        IFLA_IFNAME | IFLA_QDISC | IFLA_IFALIAS | IFLA_PHYS_PORT_NAME => Holds::Text,
        IFLA_PROP_LIST => Holds::Nest(|t| {
            if t == IFLA_ALT_IFNAME {
                Holds::Text
            } else {
                Holds::Other
            }
        }),
        _ => Holds::Other,
    }
}

fn addr_strings(t: u16) -> Holds {
    if t == IFA_LABEL {
        Holds::Text
    } else {
        Holds::Other
    }
}

/// The message rebuilt with valid names, or `None` when it needs nothing.
fn fix_message(msg: &[u8], fixed_len: usize, rule: fn(u16) -> Holds) -> Option<Vec<u8>> {
    let start = NLMSG_HDRLEN + fixed_len;
    if msg.len() < start {
        return None;
    }
    let attrs = fix_attrs(&msg[start..], rule)?;
    let mut m = msg[..start].to_vec();
    m.extend(attrs);
    let len = u32::try_from(m.len()).ok()?;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    Some(m)
}

fn fix_attrs(mut buf: &[u8], rule: fn(u16) -> Holds) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(buf.len() + 16);
    let mut changed = false;
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]);
        if len < 4 || len > buf.len() {
            break;
        }
        let payload = &buf[4..len];
        let replaced = match rule(kind & NLA_TYPE_MASK) {
            Holds::Text => {
                let text = payload.strip_suffix(&[0]).unwrap_or(payload);
                std::str::from_utf8(text).is_err().then(|| {
                    let mut p = escape_bytes(text).into_bytes();
                    p.push(0);
                    p
                })
            }
            Holds::Nest(inner) => fix_attrs(payload, inner),
            Holds::Other => None,
        };
        let pad = align4(len).min(buf.len());
        match replaced {
            Some(p) => {
                changed = true;
                let new_len = u16::try_from(4 + p.len()).ok()?;
                out.extend(new_len.to_ne_bytes());
                out.extend(kind.to_ne_bytes());
                out.extend(&p);
                out.resize(align4(out.len()), 0);
            }
            None => {
                out.extend(&buf[..pad]);
                out.resize(align4(out.len()), 0);
            }
        }
        buf = &buf[pad..];
    }
    out.extend(buf);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::NetlinkMessage;

    /// An RTM_NEWLINK message as the kernel sends it, with this name.
    fn newlink(name: &[u8]) -> Vec<u8> {
        let mut attr = Vec::new();
        let nlen = 4 + name.len() + 1;
        attr.extend((nlen as u16).to_ne_bytes());
        attr.extend(IFLA_IFNAME.to_ne_bytes());
        attr.extend(name);
        attr.push(0);
        attr.resize(align4(attr.len()), 0);
        // IFLA_MTU, 1500: an attribute after the name keeps its place.
        attr.extend(8u16.to_ne_bytes());
        attr.extend(4u16.to_ne_bytes());
        attr.extend(1500u32.to_ne_bytes());
        let mut m = Vec::new();
        let len = NLMSG_HDRLEN + IFINFOMSG_LEN + attr.len();
        m.extend((len as u32).to_ne_bytes());
        m.extend(RTM_NEWLINK.to_ne_bytes());
        m.extend(2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend([0u8; 8]); // seq, pid
        m.extend([0u8; 4]); // family, pad, type
        m.extend(7i32.to_ne_bytes()); // index
        m.extend([0u8; 8]); // flags, change
        m.extend(attr);
        m
    }

    fn decode(data: &[u8]) -> Link {
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data).expect("it decodes");
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => link_of(&l),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_name_that_is_not_utf8_is_carried_escaped() {
        let raw = newlink(b"n\xff\xfe");
        assert!(NetlinkMessage::<RouteNetlinkMessage>::deserialize(&raw).is_err());
        let fixed = valid_names(raw);
        let link = decode(&fixed);
        assert_eq!(link.name, "n\\xff\\xfe");
        assert_eq!(link.index, 7);
    }

    #[test]
    fn valid_datagrams_pass_untouched_and_neighbours_keep_their_place() {
        let good = newlink("veth0\u{1b}é".as_bytes());
        assert_eq!(valid_names(good.clone()), good);
        let mut two = newlink(b"bad\x80");
        two.extend(newlink(b"good"));
        let fixed = valid_names(two);
        let first = u32::from_ne_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) as usize;
        assert_eq!(decode(&fixed[..first]).name, "bad\\x80");
        assert_eq!(decode(&fixed[align4(first)..]).name, "good");
    }
}
