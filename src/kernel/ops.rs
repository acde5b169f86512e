//! The netlink messages of nslab's native operations, built field for field as iproute2 6.1
//! builds them (ip/iplink.c, link_veth.c, ipaddress.c, iproute.c), so that the kernel is left
//! exactly as `ip` would leave it. The caller (the engine) has already applied iproute2's
//! defaults; this module only encodes.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use futures_util::StreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
    NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteScope, RouteType,
};

/// What a request does to an object that may exist: iproute2's verbs and their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// NLM_F_CREATE | NLM_F_EXCL.
    Add,
    /// NLM_F_REPLACE.
    Change,
    /// NLM_F_CREATE | NLM_F_REPLACE.
    Replace,
    /// NLM_F_CREATE | NLM_F_APPEND (routes).
    Append,
    /// NLM_F_CREATE (routes: `prepend`).
    Prepend,
    /// The RTM_DEL* message.
    Del,
    /// A `set` of an existing link: no flag.
    Set,
}

impl Change {
    fn flags(self) -> u16 {
        match self {
            Change::Add => NLM_F_CREATE | NLM_F_EXCL,
            Change::Change => NLM_F_REPLACE,
            Change::Replace => NLM_F_CREATE | NLM_F_REPLACE,
            Change::Append => NLM_F_CREATE | NLM_F_APPEND,
            Change::Prepend => NLM_F_CREATE,
            Change::Del | Change::Set => 0,
        }
    }
}

/// The attributes of one link in a request (`iplink_parse`'s output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkAttrs {
    /// IFLA_IFNAME: the name (a new link's, or a rename).
    pub name: Option<String>,
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub address: Option<Vec<u8>>,
    pub txqlen: Option<u32>,
    /// `netns X`: resolved by the kernel layer as iproute2 does (a name in /run/netns, a path,
    /// else a pid).
    pub netns: Option<String>,
    /// `master X` (Some(Some)), `nomaster` (Some(None)).
    pub master: Option<Option<String>>,
}

/// `ip link add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub link: LinkAttrs,
    pub kind: String,
    /// VETH_INFO_PEER: the peer's attributes (absent: the kernel names the peer).
    pub peer: Option<LinkAttrs>,
}

/// An address request (`ipaddr_modify`'s message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrReq {
    pub local: Option<IpAddr>,
    /// IFA_ADDRESS: the peer, or the local address again.
    pub address: Option<IpAddr>,
    pub prefix_len: u8,
    pub brd: Option<Ipv4Addr>,
    pub label: Option<String>,
    pub scope: u8,
    /// IFA_F_* flags.
    pub flags: u32,
    pub metric: Option<u32>,
}

/// A route request (`iproute_modify`'s message).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteReq {
    pub v6: bool,
    pub table: u32,
    pub protocol: u8,
    pub scope: u8,
    pub kind: u8,
    pub dest: Option<IpAddr>,
    pub dst_len: u8,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub metric: Option<u32>,
    pub prefsrc: Option<IpAddr>,
    pub onlink: bool,
}

/// Sends a request and waits for its acknowledgement.
pub(super) async fn talk(
    h: &Handle,
    msg: RouteNetlinkMessage,
    change: Change,
) -> Result<(), rtnetlink::Error> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | change.flags();
    let mut h = h.clone();
    let mut resp = h.request(req)?;
    while let Some(m) = resp.next().await {
        if let NetlinkPayload::Error(e) = m.payload
            && e.code.is_some()
        {
            return Err(rtnetlink::Error::NetlinkError(e));
        }
    }
    Ok(())
}

/// Whether the kernel's route to `addr` (`ip route get ADDR`) carries a redirect: a route
/// exception an ICMP redirect left (`cache <redirected>`, RTCF_REDIRECTED in the flags).
pub(super) async fn redirected(h: &Handle, addr: Ipv4Addr) -> Result<bool, rtnetlink::Error> {
    const RTCF_REDIRECTED: u32 = 0x0004_0000;
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.destination_prefix_length = 32;
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(addr)));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(m));
    req.header.flags = NLM_F_REQUEST;
    let mut h = h.clone();
    let mut resp = h.request(req)?;
    let mut redirected = false;
    while let Some(m) = resp.next().await {
        match m.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(rtnetlink::Error::NetlinkError(e));
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                redirected |= r.header.flags.bits() & RTCF_REDIRECTED != 0;
            }
            _ => {}
        }
    }
    Ok(redirected)
}

/// The namespace a `netns` value names, as iproute2's netns_get_fd then get_integer read it.
pub(super) enum NetnsTarget {
    Fd(OwnedFd),
    Pid(u32),
}

/// A link message's header and attributes for `attrs`, in iproute2's order. `index` is the
/// link being changed (0 for a new one); `master_index` resolves `master X`.
pub(super) fn link_message(
    index: u32,
    attrs: &LinkAttrs,
    netns: Option<&NetnsTarget>,
    master_index: Option<u32>,
) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Unspec;
    m.header.index = index;
    if let Some(up) = attrs.up {
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
    }
    if let Some(a) = &attrs.address {
        m.attributes.push(LinkAttribute::Address(a.clone()));
    }
    if let Some(q) = attrs.txqlen {
        m.attributes.push(LinkAttribute::TxQueueLen(q));
    }
    if let Some(mtu) = attrs.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    match netns {
        Some(NetnsTarget::Fd(fd)) => m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd())),
        Some(NetnsTarget::Pid(p)) => m.attributes.push(LinkAttribute::NetNsPid(*p)),
        None => {}
    }
    if let Some(master) = &attrs.master {
        m.attributes.push(LinkAttribute::Controller(match master {
            Some(_) => master_index.unwrap_or(0),
            None => 0,
        }));
    }
    if let Some(n) = &attrs.name {
        m.attributes.push(LinkAttribute::IfName(n.clone()));
    }
    m
}

/// `ip link add`: the main link's message with IFLA_LINKINFO, and the peer inside it.
pub(super) fn new_link_message(
    new: &NewLink,
    netns: Option<&NetnsTarget>,
    peer_netns: Option<&NetnsTarget>,
    master_index: Option<u32>,
) -> LinkMessage {
    let mut m = link_message(0, &new.link, netns, master_index);
    let kind = InfoKind::from(new.kind.as_str());
    let mut info = vec![LinkInfo::Kind(kind)];
    if let Some(p) = &new.peer {
        let peer = link_message(0, p, peer_netns, None);
        info.push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))));
    }
    m.attributes.push(LinkAttribute::LinkInfo(info));
    m
}

pub(super) fn addr_message(index: u32, req: &AddrReq) -> AddressMessage {
    let mut m = AddressMessage::default();
    let v6 = req.local.or(req.address).is_some_and(|a| a.is_ipv6());
    m.header.family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.prefix_len = req.prefix_len;
    m.header.scope = AddressScope::from(req.scope);
    m.header.index = index;
    if req.flags <= 0xff {
        m.header.flags = AddressHeaderFlags::from_bits_retain(req.flags as u8);
    } else {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                req.flags,
            )));
    }
    if let Some(l) = &req.label {
        m.attributes.push(AddressAttribute::Label(l.clone()));
    }
    if let Some(metric) = req.metric {
        m.attributes.push(AddressAttribute::RoutePriority(metric));
    }
    if let Some(l) = req.local {
        m.attributes.push(AddressAttribute::Local(l));
    }
    if let Some(a) = req.address {
        m.attributes.push(AddressAttribute::Address(a));
    }
    if let Some(b) = req.brd {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    m
}

fn route_address(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

pub(super) fn route_message(req: &RouteReq) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if req.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.destination_prefix_length = req.dst_len;
    m.header.protocol = RouteProtocol::from(req.protocol);
    m.header.scope = RouteScope::from(req.scope);
    m.header.kind = RouteType::from(req.kind);
    if req.onlink {
        m.header.flags = RouteFlags::Onlink;
    }
    // A table above 255 does not fit the header: iproute2 sends RT_TABLE_UNSPEC and RTA_TABLE.
    if req.table < 256 {
        m.header.table = req.table as u8;
    } else {
        m.header.table = 0;
        m.attributes.push(RouteAttribute::Table(req.table));
    }
    if let Some(s) = req.prefsrc {
        m.attributes
            .push(RouteAttribute::PrefSource(route_address(s)));
    }
    if let Some(g) = req.gateway {
        m.attributes.push(RouteAttribute::Gateway(route_address(g)));
    }
    if let Some(p) = req.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    if let Some(d) = req.dest {
        m.attributes
            .push(RouteAttribute::Destination(route_address(d)));
    }
    if let Some(o) = req.oif {
        m.attributes.push(RouteAttribute::Oif(o));
    }
    m
}
