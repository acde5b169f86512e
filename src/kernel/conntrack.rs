//! The connection-tracking table of a namespace, over ctnetlink (NETLINK_NETFILTER): only what
//! the cleanup after a check needs, IPv4 entries listed and deleted by their own original tuple.
//!
//! A namespace tracks connections only once a rule needs it (a NAT table, `-m conntrack`), and
//! the table exists only when the `nf_conntrack` module is loaded: where it is not, there is
//! nothing a probe could have left, and nothing here loads it.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

use super::{KernelError, Result};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
#[cfg(test)]
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const AF_INET: u8 = 2;
const IPPROTO_ICMP: u8 = 1;

// Attributes of linux/netfilter/nfnetlink_conntrack.h.
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;

/// One entry of the table, with what it takes to delete exactly it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The IP protocol (1: ICMP, 6: TCP, 17: UDP).
    pub proto: u8,
    /// For ICMP: the echo id and the type of the original direction (8: an echo request).
    pub icmp: Option<(u16, u8)>,
    /// The kernel's id of the entry: a later entry with the same tuple is another one.
    pub ct_id: u32,
    zone: Option<[u8; 2]>,
    /// The original tuple attribute as the kernel sent it, to name the entry when deleting.
    tuple: Vec<u8>,
}

/// Whether connection tracking exists on this machine at all.
pub fn available() -> bool {
    Path::new("/proc/sys/net/netfilter/nf_conntrack_max").exists()
        || Path::new("/sys/module/nf_conntrack").exists()
}

/// How many connections the calling thread's namespace tracks (`None` where it cannot tell).
pub fn count_here() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn header(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) {
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set at the end
    buf.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big endian).
    buf.extend_from_slice(&[AF_INET, 0, 0, 0]);
}

fn finish(buf: &mut [u8]) {
    let len = buf.len() as u32;
    buf[..4].copy_from_slice(&len.to_ne_bytes());
}

fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// The attributes in `data`: (type without flags, payload, the whole attribute).
fn attrs(data: &[u8]) -> Vec<(u16, &[u8], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= data.len() {
        let len = usize::from(u16::from_ne_bytes([data[at], data[at + 1]]));
        let kind = u16::from_ne_bytes([data[at + 2], data[at + 3]]) & NLA_TYPE_MASK;
        if len < 4 || at + len > data.len() {
            break;
        }
        out.push((kind, &data[at + 4..at + len], &data[at..at + len]));
        at += (len + 3) & !3;
    }
    out
}

fn find<'a>(list: &[(u16, &'a [u8], &'a [u8])], kind: u16) -> Option<&'a [u8]> {
    list.iter().find(|(k, _, _)| *k == kind).map(|(_, p, _)| *p)
}

fn ipv4(p: Option<&[u8]>) -> Option<Ipv4Addr> {
    let b: [u8; 4] = p?.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Reads one conntrack message's attributes into an entry.
fn entry(body: &[u8]) -> Option<Entry> {
    let top = attrs(body);
    let (_, orig, whole) = top.iter().find(|(k, _, _)| *k == CTA_TUPLE_ORIG)?;
    let tuple = attrs(orig);
    let ip = attrs(find(&tuple, CTA_TUPLE_IP)?);
    let proto = attrs(find(&tuple, CTA_TUPLE_PROTO)?);
    let num = *find(&proto, CTA_PROTO_NUM)?.first()?;
    let icmp = if num == IPPROTO_ICMP {
        let id = find(&proto, CTA_PROTO_ICMP_ID)?;
        Some((
            u16::from_be_bytes([*id.first()?, *id.get(1)?]),
            *find(&proto, CTA_PROTO_ICMP_TYPE)?.first()?,
        ))
    } else {
        None
    };
    Some(Entry {
        src: ipv4(find(&ip, CTA_IP_V4_SRC))?,
        dst: ipv4(find(&ip, CTA_IP_V4_DST))?,
        proto: num,
        icmp,
        ct_id: find(&top, CTA_ID)
            .and_then(|b| Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)))
            .unwrap_or(0),
        zone: find(&top, CTA_ZONE).and_then(|b| Some([*b.first()?, *b.get(1)?])),
        tuple: whole.to_vec(),
    })
}

fn open() -> Result<Socket> {
    Socket::new(
        Domain::from(nix::sys::socket::AddressFamily::Netlink as i32),
        Type::RAW,
        Some(Protocol::from(NETLINK_NETFILTER)),
    )
    .map_err(|e| KernelError::io("conntrack: open a netfilter netlink socket", e))
}

/// Sends one request and collects the messages of its answer: (type, body after the nfgenmsg)
/// until DONE, or the ACK / error of a single request.
fn ask(sock: &Socket, req: &[u8], what: &str) -> Result<Vec<(u16, Vec<u8>)>> {
    let io = |e| KernelError::io(format!("conntrack: {what}"), e);
    if sock.send(req).map_err(io)? != req.len() {
        return Err(io(std::io::Error::other("a short netlink send")));
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = (&*sock).read(&mut buf).map_err(io)?;
        let mut at = 0;
        while at + 16 <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            if len < 16 || at + len > n {
                return Ok(out);
            }
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code =
                        i32::from_ne_bytes(buf[at + 16..at + 20].try_into().unwrap_or_default());
                    if code == 0 {
                        return Ok(out);
                    }
                    return Err(io(std::io::Error::from_raw_os_error(-code)));
                }
                _ => {
                    let body = buf.get(at + 20..at + len).unwrap_or_default();
                    out.push((kind & 0xff, body.to_vec()));
                }
            }
            at += (len + 3) & !3;
        }
        if n == 0 {
            return Ok(out);
        }
    }
}

/// The multicast group of new entries (`NFNLGRP_CONNTRACK_NEW`).
const NFNLGRP_CONNTRACK_NEW: u32 = 1;

/// A subscription to the new entries of the namespace it was opened in: what a check's
/// traffic adds is read from here afterwards. Listing the table instead walks the whole
/// machine's hash table, every namespace's entries (about 9 ms here), once before and once
/// after each round of checks.
///
/// An entry is announced when the kernel confirms it, as its packet leaves the last netfilter
/// hook, in the same breath as the packet: by the time a probe has its answer, or is known to
/// have none, its entries are in the socket. The kernel announces them to a listener that was
/// there when the connection began (`net.netfilter.nf_conntrack_events` 2, the default) or to
/// any (1); with 0 it announces nothing, and [`watch_new`] refuses.
pub struct NewEntries {
    sock: Socket,
    /// How many entries the namespace had when the subscription began.
    count: u64,
}

impl NewEntries {
    /// How many entries the namespace had when the subscription began.
    pub fn count_before(&self) -> u64 {
        self.count
    }
}

/// Opens a [`NewEntries`] subscription in the calling thread's namespace.
pub fn watch_new() -> Result<NewEntries> {
    let events = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_events")
        .map_err(|e| KernelError::io("conntrack: read nf_conntrack_events", e))?;
    if events.trim() == "0" {
        return Err(KernelError::Other(
            "conntrack events are off (nf_conntrack_events = 0)".into(),
        ));
    }
    let sock = open()?;
    // Joining group N at bind time is bit N-1 of the address's groups.
    let addr = nix::sys::socket::NetlinkAddr::new(0, 1 << (NFNLGRP_CONNTRACK_NEW - 1));
    nix::sys::socket::bind(std::os::fd::AsRawFd::as_raw_fd(&sock), &addr).map_err(|e| {
        KernelError::io(
            "conntrack: subscribe to new entries",
            std::io::Error::from(e),
        )
    })?;
    sock.set_nonblocking(true)
        .map_err(|e| KernelError::io("conntrack: make the socket non-blocking", e))?;
    Ok(NewEntries {
        sock,
        count: count_here().unwrap_or(0),
    })
}

impl NewEntries {
    /// The IPv4 entries announced since the subscription began. An error if the kernel had to
    /// drop announcements (the socket's buffer overflowed): then the list would be incomplete.
    pub fn take(&self) -> Result<Vec<Entry>> {
        let io = |e| KernelError::io("conntrack: read new entries", e);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match (&self.sock).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            if n == 0 {
                return Ok(out);
            }
            let mut at = 0;
            while at + 20 <= n {
                let len =
                    u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as usize;
                if len < 16 || at + len > n {
                    break;
                }
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                if kind >> 8 == NFNL_SUBSYS_CTNETLINK
                    && let Some(e) = buf.get(at + 20..at + len).and_then(entry)
                {
                    out.push(e);
                }
                at += (len + 3) & !3;
            }
        }
    }
}

/// The IPv4 entries of the calling thread's namespace.
pub fn entries() -> Result<Vec<Entry>> {
    let sock = open()?;
    let mut req = Vec::new();
    header(&mut req, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1);
    finish(&mut req);
    Ok(ask(&sock, &req, "list the table")?
        .iter()
        .filter_map(|(_, body)| entry(body))
        .collect())
}

/// Deletes these entries in the calling thread's namespace. An entry already gone (it timed
/// out meanwhile) is not an error.
pub fn delete(entries: &[Entry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let sock = open()?;
    for (i, e) in entries.iter().enumerate() {
        let mut req = Vec::new();
        header(
            &mut req,
            IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            i as u32 + 2,
        );
        // The original tuple exactly as the kernel listed it (nested flag kept).
        req.extend_from_slice(&e.tuple);
        while !req.len().is_multiple_of(4) {
            req.push(0);
        }
        if let Some(z) = e.zone {
            attr(&mut req, CTA_ZONE, &z);
        }
        if e.ct_id != 0 {
            attr(&mut req, CTA_ID, &e.ct_id.to_be_bytes());
        }
        finish(&mut req);
        match ask(
            &sock,
            &req,
            &format!("delete the entry of {} -> {}", e.src, e.dst),
        ) {
            Ok(_) => {}
            Err(KernelError::Os { err, .. })
                if err.raw_os_error() == Some(nix::errno::Errno::ENOENT as i32) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing message as the kernel words it: the entry is read back, and its tuple kept
    /// byte for byte for the delete.
    #[test]
    fn an_icmp_entry_is_read_from_its_attributes() {
        let mut ip = Vec::new();
        attr(&mut ip, CTA_IP_V4_SRC, &[10, 1, 0, 2]);
        attr(&mut ip, CTA_IP_V4_DST, &[10, 1, 0, 3]);
        let mut proto = Vec::new();
        attr(&mut proto, CTA_PROTO_NUM, &[IPPROTO_ICMP]);
        attr(&mut proto, CTA_PROTO_ICMP_ID, &0x1234u16.to_be_bytes());
        attr(&mut proto, CTA_PROTO_ICMP_TYPE, &[8]);
        let mut tuple = Vec::new();
        attr(&mut tuple, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
        attr(&mut tuple, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
        let mut body = Vec::new();
        attr(&mut body, CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple);
        let orig_len = body.len();
        attr(&mut body, CTA_ID, &77u32.to_be_bytes());
        let e = entry(&body).unwrap();
        assert_eq!(e.src, Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(e.dst, Ipv4Addr::new(10, 1, 0, 3));
        assert_eq!(
            (e.proto, e.icmp, e.ct_id, e.zone),
            (1, Some((0x1234, 8)), 77, None)
        );
        assert_eq!(e.tuple, body[..orig_len]);
        // A TCP entry has no echo id.
        let mut proto = Vec::new();
        attr(&mut proto, CTA_PROTO_NUM, &[6]);
        let mut tuple = Vec::new();
        attr(&mut tuple, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
        attr(&mut tuple, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
        let mut body = Vec::new();
        attr(&mut body, CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple);
        assert_eq!(entry(&body).map(|e| (e.proto, e.icmp)), Some((6, None)));
        // Cut short: nothing, and no panic.
        assert_eq!(entry(&body[..body.len() - 3]), None);
    }
}
