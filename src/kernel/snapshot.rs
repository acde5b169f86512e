//! Typed state of one namespace, read with netlink dumps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::Handle;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, State,
};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use serde::Serialize;

use super::{KernelError, Result};
use crate::lesson::{Cidr, Ns};

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
    /// "veth", "bridge", "loopback", or another kind the kernel names.
    pub kind: Option<String>,
    /// Administratively up (IFF_UP), what `ip link set up` changes.
    pub up: bool,
    /// The operational state: "up", "down", "lowerlayerdown", "unknown"...
    pub oper: String,
    pub mac: Option<String>,
    /// The bridge this link is enslaved to, by name.
    pub master: Option<String>,
    pub peer: Option<Peer>,
    #[serde(skip)]
    pub(super) peer_nsid: Option<i32>,
    #[serde(skip)]
    pub(super) master_index: Option<u32>,
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
}

fn ser_cidr<S: serde::Serializer>(c: &Cidr, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `None` is the default route.
    #[serde(serialize_with = "ser_opt_cidr")]
    pub dest: Option<Cidr>,
    pub via: Option<Ipv4Addr>,
    pub dev: Option<String>,
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

impl Snapshot {
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
            AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            })
        })?;
    Some(Cidr {
        addr: ip,
        prefix: msg.header.prefix_len,
    })
}

pub(super) fn link_of(msg: &LinkMessage) -> Link {
    let mut l = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        oper: "unknown".into(),
        mac: None,
        master: None,
        peer: None,
        peer_nsid: None,
        master_index: None,
    };
    if msg.header.link_layer_type == LinkLayerType::Loopback {
        l.kind = Some("loopback".into());
    }
    let mut link_attr = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Address(m) if m.len() == 6 => {
                l.mac = Some(
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            LinkAttribute::OperState(s) => l.oper = oper_name(s),
            LinkAttribute::Controller(i) => l.master_index = Some(*i),
            LinkAttribute::Link(i) => link_attr = Some(*i),
            LinkAttribute::LinkNetNsId(id) => l.peer_nsid = Some(*id),
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
        .filter_map(|m| {
            let cidr = addr_of(m)?;
            Some(Addr {
                link: name_of(m.header.index).unwrap_or_default(),
                index: m.header.index,
                cidr,
            })
        })
        .collect();
    let req = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build();
    let route_msgs: Vec<RouteMessage> = h
        .route()
        .get(req)
        .execute()
        .try_collect()
        .await
        .map_err(|e| KernelError::netlink(ctx("routes"), e))?;
    let routes = route_msgs
        .iter()
        .filter_map(|m| route_of(m, &name_of))
        .collect();
    let by_name = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.clone(), i))
        .collect();
    Ok(Snapshot {
        ns: ns.clone(),
        links,
        addrs,
        routes,
        by_name,
    })
}

/// Main-table IPv4 unicast routes only: a dump without strict checking returns every table.
fn route_of(m: &RouteMessage, name_of: &impl Fn(u32) -> Option<String>) -> Option<Route> {
    let mut table = u32::from(m.header.table);
    let mut dest = None;
    let mut via = None;
    let mut dev = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dest = Some(*ip),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(*ip),
            RouteAttribute::Oif(i) => dev = name_of(*i),
            _ => {}
        }
    }
    if table != 254 || m.header.kind != rtnetlink::packet_route::route::RouteType::Unicast {
        return None;
    }
    let dest = match (dest, m.header.destination_prefix_length) {
        (_, 0) => None,
        (Some(ip), p) => Some(Cidr {
            addr: ip,
            prefix: p,
        }),
        (None, _) => None,
    };
    Some(Route { dest, via, dev })
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
