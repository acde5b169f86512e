//! Watching the student's pings: a packet socket in each watched namespace sees every IPv4
//! packet its links send or receive; the echo requests and replies among them are logged, so
//! that an action check can say "blue pinged 10.1.0.3 and got replies since the step began".
//!
//! It only reads (a packet socket changes nothing the student sees), and it ignores nslab's own
//! probes, which carry [`PROBE_MARK`](super::PROBE_MARK).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, Socket, Type};

use super::ping::PROBE_MARK;
use super::{KernelError, Result, netns};
use crate::net::Ns;

/// An echo request or reply seen in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoSeen {
    pub ns: Ns,
    pub at: Instant,
    pub request: bool,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub seq: u16,
}

/// The log the watchers (and nslab's own performed pings) write to.
#[derive(Debug, Default)]
pub struct PingLog {
    events: Vec<EchoSeen>,
    /// Pings nslab performed that found no route (no packet left: nothing to see on a link).
    unroutable: Vec<(Ns, Instant, Ipv4Addr)>,
    /// (ns, request?, id, seq, the far end): one packet seen twice (on lo, out and in, or
    /// recorded by nslab and seen by the watch) counts once.
    seen: HashSet<(Ns, bool, u16, u16, Ipv4Addr)>,
    /// Address resolution requests a namespace broadcast (ARP "who has", the target's hardware
    /// address unknown), and the replies it got, as (ns, when, sender, target, request?): a
    /// ping to an address on the link whose resolution never comes sends no echo at all.
    arps: Vec<(Ns, Instant, Ipv4Addr, Ipv4Addr, bool)>,
}

/// An ARP packet for IPv4 over Ethernet, as a cooked packet socket reads it: (request?, sender,
/// target), a request only when it asks (the target's hardware address all zero: a new
/// resolution, not the kernel's unicast check of an address it knows).
pub fn arp_of(p: &[u8]) -> Option<(bool, Ipv4Addr, Ipv4Addr)> {
    if p.len() < 28 || p[0..2] != [0, 1] || p[2..4] != [8, 0] || p[4] != 6 || p[5] != 4 {
        return None;
    }
    let ip = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
    match u16::from_be_bytes([p[6], p[7]]) {
        1 if p[18..24].iter().all(|b| *b == 0) => Some((true, ip(14), ip(24))),
        2 => Some((false, ip(14), ip(24))),
        _ => None,
    }
}

/// At most this many events are kept (a flood would otherwise grow it without bound).
const MAX_EVENTS: usize = 100_000;

impl PingLog {
    pub fn record(&mut self, e: EchoSeen) {
        let far = if e.request { e.dst } else { e.src };
        let key = (e.ns.clone(), e.request, e.id, e.seq, far);
        if !self.seen.insert(key) {
            return;
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.drain(..MAX_EVENTS / 2);
            self.seen.clear();
        }
        self.events.push(e);
    }

    /// An ARP request or reply seen in `ns` ([`arp_of`]).
    pub fn record_arp(&mut self, ns: &Ns, (request, sender, target): (bool, Ipv4Addr, Ipv4Addr)) {
        if self.arps.len() >= MAX_EVENTS {
            self.arps.drain(..MAX_EVENTS / 2);
        }
        self.arps
            .push((ns.clone(), Instant::now(), sender, target, request));
    }

    /// Resolutions of `addr` that `ns` asked for (from an address among `own`) since `since`,
    /// and got no reply to: each request after the last reply from `addr`. A ping to an
    /// address on the link that nobody holds ends here.
    pub fn unresolved(&self, ns: &Ns, addr: Ipv4Addr, own: &[Ipv4Addr], since: Instant) -> u32 {
        let mine = |a: &Ipv4Addr| own.is_empty() || own.contains(a);
        let mut asked = 0;
        for (n, at, sender, target, request) in &self.arps {
            if n != ns || *at < since {
                continue;
            }
            if *request && *target == addr && mine(sender) {
                asked += 1;
            } else if !*request && *sender == addr {
                asked = 0;
            }
        }
        asked
    }

    /// A ping nslab performed found no route to `addr`.
    pub fn record_unroutable(&mut self, ns: &Ns, addr: Ipv4Addr) {
        if self.unroutable.len() < MAX_EVENTS {
            self.unroutable.push((ns.clone(), Instant::now(), addr));
        }
    }

    /// Pings nslab performed from `ns` to `addr` since `since` that found no route.
    pub fn unroutable(&self, ns: &Ns, addr: Ipv4Addr, since: Instant) -> u32 {
        self.unroutable
            .iter()
            .filter(|(n, at, a)| n == ns && *at >= since && *a == addr)
            .count() as u32
    }

    /// Requests from `ns` to `addr` (with a source among `own`), and replies from `addr` to
    /// `ns`, seen since `since`. An unspecified address (0.0.0.0) is one of `ns`'s own: nslab
    /// records its performed pings so.
    pub fn count(&self, ns: &Ns, addr: Ipv4Addr, own: &[Ipv4Addr], since: Instant) -> (u32, u32) {
        let mut req = 0;
        let mut rep = 0;
        for e in self.events.iter().filter(|e| e.ns == *ns && e.at >= since) {
            let mine = |a: &Ipv4Addr| own.is_empty() || a.is_unspecified() || own.contains(a);
            if e.request && e.dst == addr && mine(&e.src) {
                req += 1;
            } else if !e.request && e.src == addr && mine(&e.dst) {
                rep += 1;
            }
        }
        (req, rep)
    }

    /// Echo requests to `addr` seen since `since`, in each namespace and from each source
    /// address: (namespace, source, how many). A request seen in a namespace was sent there,
    /// passed through it, or arrived there: the caller tells them apart by the source.
    pub fn requests_to(&self, addr: Ipv4Addr, since: Instant) -> Vec<(Ns, Ipv4Addr, u32)> {
        let mut out: Vec<(Ns, Ipv4Addr, u32)> = Vec::new();
        for e in self
            .events
            .iter()
            .filter(|e| e.request && e.dst == addr && e.at >= since)
        {
            match out.iter_mut().find(|(n, s, _)| *n == e.ns && *s == e.src) {
                Some(x) => x.2 += 1,
                None => out.push((e.ns.clone(), e.src, 1)),
            }
        }
        out
    }

    /// Requests from `ns` to `addr` (as [`Self::count`] reads them) sent after the last reply
    /// from `addr`, since `since`, that have had `wait` to be answered; and pings nslab
    /// performed that found no route after that reply. Zero when no reply came: then every
    /// request is unanswered so far.
    pub fn unanswered_after_reply(
        &self,
        ns: &Ns,
        addr: Ipv4Addr,
        own: &[Ipv4Addr],
        since: Instant,
        wait: std::time::Duration,
    ) -> u32 {
        let mine = |a: &Ipv4Addr| own.is_empty() || a.is_unspecified() || own.contains(a);
        let here = |e: &&EchoSeen| e.ns == *ns && e.at >= since;
        let Some(last_reply) = self
            .events
            .iter()
            .filter(here)
            .filter(|e| !e.request && e.src == addr && mine(&e.dst))
            .map(|e| e.at)
            .max()
        else {
            return 0;
        };
        let now = Instant::now();
        let requests = self
            .events
            .iter()
            .filter(here)
            .filter(|e| e.request && e.dst == addr && mine(&e.src))
            .filter(|e| e.at > last_reply && now.duration_since(e.at) >= wait)
            .count();
        let unroutable = self
            .unroutable
            .iter()
            .filter(|(n, at, a)| n == ns && *a == addr && *at > last_reply)
            .count();
        (requests + unroutable) as u32
    }
}

/// Packet sockets in some namespaces, read by one thread.
///
/// A packet socket holds its namespace: a namespace the student deletes lives on, with its
/// links (a veth's peer among them), until the socket is closed. So the watch ends at once when
/// it is dropped: the thread is woken (not left to notice within its poll's time), and closes
/// the sockets side by side, since the kernel waits out an RCU grace period in each close
/// (`packet_release`); one after the other, they held a deleted namespace's teardown back by
/// one grace period per namespace watched.
pub struct PingWatch {
    pub log: Arc<Mutex<PingLog>>,
    stop: Arc<AtomicBool>,
    /// Closed on drop: the thread's poll wakes on its peer.
    wake: Option<std::os::unix::net::UnixStream>,
    watched: Vec<Ns>,
}

impl Drop for PingWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.take();
    }
}

/// A packet socket for every packet (cooked: no link-layer header, whatever the link), opened inside
/// the namespace `fd`.
fn open_in(fd: &OwnedFd) -> Result<Socket> {
    netns::in_netns(fd, || {
        // ETH_P_ALL in network byte order: a socket for one protocol (ETH_P_IP) sees only what
        // arrives, not what the namespace sends.
        Socket::new(Domain::PACKET, Type::DGRAM, Some(Protocol::from(0x0300)))
            .map_err(|e| KernelError::io("open a packet socket", e))
    })
}

/// Parses an IPv4 packet: an ICMP echo request or reply that is not one of nslab's probes.
fn echo_of(p: &[u8], ns: &Ns) -> Option<EchoSeen> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 1 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let icmp = p.get(ihl..)?;
    if icmp.len() < 8 || !(icmp[0] == 8 || icmp[0] == 0) {
        return None;
    }
    if icmp[8..].starts_with(PROBE_MARK) {
        return None;
    }
    Some(EchoSeen {
        ns: ns.clone(),
        at: Instant::now(),
        request: icmp[0] == 8,
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
    })
}

impl PingWatch {
    /// Starts watching the namespaces (each given with an fd into it).
    pub(super) fn start(
        namespaces: Vec<(Ns, OwnedFd)>,
        log: Arc<Mutex<PingLog>>,
    ) -> Result<PingWatch> {
        let mut socks = Vec::new();
        let mut watched = Vec::new();
        for (ns, fd) in namespaces {
            let s = open_in(&fd)?;
            s.set_nonblocking(true)
                .map_err(|e| KernelError::io("packet socket", e))?;
            watched.push(ns.clone());
            socks.push((ns, s));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) =
            std::os::unix::net::UnixStream::pair().map_err(|e| KernelError::io("ping watch", e))?;
        let (stop2, log2) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                let mut fds: Vec<PollFd> = socks
                    .iter()
                    .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                    .chain(std::iter::once(PollFd::new(
                        woken.as_fd(),
                        PollFlags::POLLIN,
                    )))
                    .collect();
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
                let ready: Vec<usize> = fds[..socks.len()]
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect();
                drop(fds);
                for i in ready {
                    let (ns, s) = &socks[i];
                    while let Ok(n) = std::io::Read::read(&mut &*s, &mut buf) {
                        if let Some(e) = echo_of(&buf[..n], ns)
                            && let Ok(mut l) = log2.lock()
                        {
                            l.record(e);
                        } else if let Some(a) = arp_of(&buf[..n])
                            && let Ok(mut l) = log2.lock()
                        {
                            l.record_arp(ns, a);
                        }
                    }
                }
            }
            // Side by side: the grace periods of the closes overlap.
            for (_, s) in socks {
                // Where no thread can be had, this one closes it.
                let _ = std::thread::Builder::new().spawn(move || drop(s));
            }
        });
        Ok(PingWatch {
            log,
            stop,
            wake: Some(wake),
            watched,
        })
    }

    /// The namespaces this watch covers.
    pub fn watched(&self) -> &[Ns] {
        &self.watched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_echo(kind: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[kind, 0, 0, 0, 0, 7, 0, 1]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn echoes_are_seen_and_probes_are_not() {
        let ns = Ns::Named("blue".into());
        let start = Instant::now();
        let e = echo_of(&ip_echo(8, [10, 1, 0, 2], [10, 1, 0, 3], &[0x10; 8]), &ns).unwrap();
        assert!(e.request);
        assert_eq!((e.id, e.seq), (7, 1));
        assert!(echo_of(&ip_echo(8, [10, 1, 0, 2], [10, 1, 0, 3], PROBE_MARK), &ns).is_none());
        let mut log = PingLog::default();
        log.record(e.clone());
        // The same packet seen again (lo shows it out and in) counts once.
        log.record(EchoSeen {
            at: Instant::now(),
            ..e
        });
        let rep = echo_of(&ip_echo(0, [10, 1, 0, 3], [10, 1, 0, 2], &[0x10; 8]), &ns).unwrap();
        log.record(rep);
        let own = ["10.1.0.2".parse().unwrap()];
        assert_eq!(
            log.count(&ns, "10.1.0.3".parse().unwrap(), &own, start),
            (1, 1)
        );
        assert_eq!(
            log.count(&ns, "10.1.0.9".parse().unwrap(), &own, start),
            (0, 0)
        );
        assert_eq!(
            log.count(&ns, "10.1.0.3".parse().unwrap(), &own, Instant::now()),
            (0, 0)
        );
        // The same request as red sees it arriving, and red's own to its address (over lo):
        // each namespace and source apart, the replies not at all.
        let red = Ns::Named("red".into());
        log.record(echo_of(&ip_echo(8, [10, 1, 0, 2], [10, 1, 0, 3], &[0x10; 8]), &red).unwrap());
        let mut own = echo_of(&ip_echo(8, [10, 1, 0, 3], [10, 1, 0, 3], &[0x10; 8]), &red).unwrap();
        own.seq = 2;
        log.record(own);
        let to = log.requests_to("10.1.0.3".parse().unwrap(), start);
        assert_eq!(
            to,
            vec![
                (ns.clone(), Ipv4Addr::new(10, 1, 0, 2), 1),
                (red.clone(), Ipv4Addr::new(10, 1, 0, 2), 1),
                (red, Ipv4Addr::new(10, 1, 0, 3), 1),
            ]
        );
    }

    #[test]
    fn requests_after_the_last_reply_count_once_overdue() {
        let ns = Ns::Named("left".into());
        let start = Instant::now();
        let (me, far) = (Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(10, 0, 2, 2));
        let echo = |request: bool, seq: u16, at: Instant| EchoSeen {
            ns: ns.clone(),
            at,
            request,
            src: if request { me } else { far },
            dst: if request { far } else { me },
            id: 9,
            seq,
        };
        let mut log = PingLog::default();
        let wait = std::time::Duration::from_millis(50);
        // No reply at all: nothing "after the last reply" (every request is unanswered).
        log.record(echo(true, 1, Instant::now()));
        assert_eq!(log.unanswered_after_reply(&ns, far, &[me], start, wait), 0);
        log.record(echo(false, 1, Instant::now()));
        std::thread::sleep(std::time::Duration::from_millis(5));
        // A request after the reply, not yet overdue; then overdue.
        log.record(echo(true, 2, Instant::now()));
        assert_eq!(log.unanswered_after_reply(&ns, far, &[me], start, wait), 0);
        std::thread::sleep(wait);
        assert_eq!(log.unanswered_after_reply(&ns, far, &[me], start, wait), 1);
        // A reply to it: answered after all.
        log.record(echo(false, 2, Instant::now()));
        assert_eq!(log.unanswered_after_reply(&ns, far, &[me], start, wait), 0);
    }

    #[test]
    fn a_resolution_asked_and_never_answered_is_seen() {
        let ns = Ns::Named("l".into());
        let start = Instant::now();
        let (me, far) = ([10, 0, 1, 2], [10, 0, 2, 2]);
        let arp = |op: u8, sender: [u8; 4], target_mac: [u8; 6], target: [u8; 4]| {
            let mut p = vec![0, 1, 8, 0, 6, 4, 0, op, 2, 0, 0, 0, 0, 1];
            p.extend_from_slice(&sender);
            p.extend_from_slice(&target_mac);
            p.extend_from_slice(&target);
            p
        };
        // An IPv4 packet is no ARP; the kernel's unicast check of a known address is no new
        // resolution.
        assert!(arp_of(&ip_echo(8, me, far, &[0; 8])).is_none());
        assert!(arp_of(&arp(1, me, [2, 0, 0, 0, 0, 9], far)).is_none());
        let mut log = PingLog::default();
        let own = [Ipv4Addr::from(me)];
        log.record_arp(&ns, arp_of(&arp(1, me, [0; 6], far)).unwrap());
        log.record_arp(&ns, arp_of(&arp(1, me, [0; 6], far)).unwrap());
        assert_eq!(log.unresolved(&ns, far.into(), &own, start), 2);
        assert_eq!(log.unresolved(&ns, [10, 0, 2, 3].into(), &own, start), 0);
        assert_eq!(log.unresolved(&Ns::Root, far.into(), &own, start), 0);
        // Answered: resolved.
        log.record_arp(&ns, arp_of(&arp(2, far, [2, 0, 0, 0, 0, 1], me)).unwrap());
        assert_eq!(log.unresolved(&ns, far.into(), &own, start), 0);
    }
}
