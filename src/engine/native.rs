//! From a line nslab read to the request iproute2 would have sent: the defaults iproute2
//! applies (protocol boot, the scope of a route without a gateway, no broadcast address
//! unless `brd` is given, ...), then the kernel layer encodes it.

use std::net::{IpAddr, Ipv4Addr};

use crate::kernel::{AddrReq, Change, LinkAttrs, NewLink, RouteReq};
use crate::lesson::grammar::Family;
use crate::lesson::grammar::ip::{self as g, AddrVerb, Brd, RouteVerb, rtn};
use crate::net::{proto, scope};

/// IFA_F_* flags by iproute2's names.
fn addr_flag(name: &str) -> u32 {
    match name {
        "nodad" => 0x02,
        "optimistic" => 0x04,
        "home" => 0x10,
        "mngtmpaddr" => 0x100,
        "noprefixroute" => 0x200,
        "autojoin" => 0x400,
        _ => 0,
    }
}

pub fn link_attrs(a: &g::LinkAttrs, creating: bool) -> LinkAttrs {
    // iproute2 renames only when `name` differs from the device; a new link is named by
    // either word.
    let name = if creating {
        a.link_name().map(str::to_string)
    } else {
        a.rename().map(str::to_string)
    };
    LinkAttrs {
        name,
        up: a.up,
        mtu: a.mtu,
        address: a.address.clone(),
        txqlen: a.txqlen,
        netns: a.netns.as_ref().map(|n| n.text.clone()),
        master: a.master.clone(),
    }
}

pub fn new_link(add: &g::LinkAdd) -> NewLink {
    NewLink {
        link: link_attrs(&add.attrs, true),
        kind: add.kind.clone(),
        peer: add.peer.as_ref().map(|p| link_attrs(p, true)),
    }
}

pub fn addr_change(a: &g::AddrChange) -> (Change, AddrReq) {
    let change = match a.verb {
        AddrVerb::Add => Change::Add,
        AddrVerb::Change => Change::Change,
        AddrVerb::Replace => Change::Replace,
        AddrVerb::Del => Change::Del,
    };
    let local = a.local.and_then(|l| l.addr);
    let peer = a.peer.and_then(|p| p.addr);
    // A peer of length 0 leaves the local one's (ipaddr_modify: ifa_prefixlen 0 is lcl's).
    let prefix_len = match (a.peer, a.local) {
        (Some(p), Some(l)) if p.len == 0 => l.len,
        (Some(p), _) => p.len,
        (None, Some(l)) => l.len,
        (None, None) => 0,
    };
    // IFA_ADDRESS: the peer, else the local address (except iproute2's wildcard delete).
    let address = peer.or(local);
    // `brd +` and `brd -` compute from the peer (or local) prefix, for a /30 or shorter.
    let base = a.peer.or(a.local);
    let brd = match a.brd {
        Some(Brd::Addr(IpAddr::V4(b))) => Some(b),
        Some(Brd::Plus | Brd::Minus) if change != Change::Del => match base {
            Some(p) if prefix_len <= 30 => match p.addr {
                Some(IpAddr::V4(ip)) => {
                    let host = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
                    let v = if a.brd == Some(Brd::Plus) {
                        u32::from(ip) | host
                    } else {
                        u32::from(ip) & !host
                    };
                    Some(Ipv4Addr::from(v))
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let scope = match a.scope {
        Some(s) => s,
        None if change == Change::Del => 0,
        // default_scope: host for 127.0.0.0/8, else universe.
        None => match local {
            Some(IpAddr::V4(ip)) if ip.octets()[0] == 127 => scope::HOST,
            _ => scope::UNIVERSE,
        },
    };
    let flags = a.flags.iter().map(|f| addr_flag(f)).fold(0, |x, y| x | y);
    (
        change,
        AddrReq {
            local,
            address,
            prefix_len,
            brd,
            label: a.label.clone(),
            scope,
            flags,
            metric: a.metric,
        },
    )
}

pub fn route_change(r: &g::RouteChange) -> (Change, RouteReq) {
    let del = r.verb == RouteVerb::Del;
    let change = match r.verb {
        RouteVerb::Add => Change::Add,
        RouteVerb::Change => Change::Change,
        RouteVerb::Replace => Change::Replace,
        RouteVerb::Prepend => Change::Prepend,
        RouteVerb::Append => Change::Append,
        RouteVerb::Del => Change::Del,
    };
    let v6 = r.family == Family::V6;
    let kind = r
        .kind
        .unwrap_or(if del { rtn::UNSPEC } else { rtn::UNICAST });
    let table = r.stored_table();
    let protocol = r
        .proto
        .unwrap_or(if del { proto::UNSPEC } else { proto::BOOT });
    // iproute_modify's scope rules, in its order.
    let scope = match r.scope {
        Some(s) => s,
        None if v6 => scope::UNIVERSE,
        None if kind == rtn::LOCAL || kind == rtn::NAT => scope::HOST,
        None if kind == rtn::BROADCAST || kind == rtn::MULTICAST || kind == rtn::ANYCAST => {
            scope::LINK
        }
        None if kind == rtn::UNICAST || kind == rtn::UNSPEC => {
            if del {
                scope::NOWHERE
            } else if r.via.is_none() {
                scope::LINK
            } else {
                scope::UNIVERSE
            }
        }
        None if del => scope::NOWHERE,
        None => scope::UNIVERSE,
    };
    (
        change,
        RouteReq {
            v6,
            table,
            protocol,
            scope,
            kind,
            dest: r.dest.addr,
            dst_len: r.dest.len,
            gateway: r.via,
            oif: None,
            metric: r.metric,
            prefsrc: r.src,
            onlink: r.onlink,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::grammar::{Op, parse};

    fn op(line: &str) -> Op {
        parse(line).unwrap().parts[0].op.clone()
    }

    #[test]
    fn addresses_get_no_broadcast_unless_asked() {
        let Op::Addr(a) = op("ip addr add 10.0.0.1/24 dev x") else {
            panic!()
        };
        let (c, r) = addr_change(&a);
        assert_eq!(c, Change::Add);
        assert_eq!(r.brd, None);
        assert_eq!(r.address, r.local);
        assert_eq!(r.scope, 0);
        let Op::Addr(a) = op("ip addr add 10.0.0.1/24 brd + dev x") else {
            panic!()
        };
        assert_eq!(addr_change(&a).1.brd, Some(Ipv4Addr::new(10, 0, 0, 255)));
        let Op::Addr(a) = op("ip addr add 10.0.0.1/31 brd + dev x") else {
            panic!()
        };
        assert_eq!(addr_change(&a).1.brd, None);
        let Op::Addr(a) = op("ip addr add 127.0.0.2/8 dev lo") else {
            panic!()
        };
        assert_eq!(addr_change(&a).1.scope, 254);
        let Op::Addr(a) = op("ip addr add 10.0.0.1 peer 10.0.0.2/24 dev x") else {
            panic!()
        };
        let r = addr_change(&a).1;
        assert_eq!(
            (r.prefix_len, r.address),
            (24, Some("10.0.0.2".parse().unwrap()))
        );
    }

    #[test]
    fn routes_take_iproute2s_defaults() {
        let Op::Route(r) = op("ip route add default via 10.0.0.1") else {
            panic!()
        };
        let (c, q) = route_change(&r);
        assert_eq!(
            (c, q.protocol, q.scope, q.kind, q.table),
            (Change::Add, 3, 0, 1, 254)
        );
        let Op::Route(r) = op("ip route add 10.0.2.0/24 dev eth0") else {
            panic!()
        };
        assert_eq!(route_change(&r).1.scope, 253);
        let Op::Route(r) = op("ip route del 10.0.2.0/24") else {
            panic!()
        };
        let q = route_change(&r).1;
        assert_eq!((q.protocol, q.scope, q.kind), (0, 255, 0));
        let Op::Route(r) = op("ip route add blackhole 10.9.0.0/16") else {
            panic!()
        };
        let q = route_change(&r).1;
        assert_eq!((q.kind, q.scope), (rtn::BLACKHOLE, 0));
        let Op::Route(r) = op("ip route add 10.0.0.5 via 10.0.0.1") else {
            panic!()
        };
        assert_eq!(route_change(&r).1.dst_len, 32);
        let Op::Route(r) = op("ip -6 route add 2001:db8::/64 dev eth0") else {
            panic!()
        };
        let q = route_change(&r).1;
        assert_eq!((q.v6, q.scope), (true, 0));
        let Op::Route(r) = op("ip route add 10.1.0.0/16 via 10.0.0.1 table 1000") else {
            panic!()
        };
        assert_eq!(route_change(&r).1.table, 1000);
    }
}
