//! ICMP echo over a raw socket, created inside the namespace by the calling thread.
//!
//! A raw socket needs CAP_NET_RAW (root, or the sandbox's user namespace). The unprivileged
//! ICMP datagram socket would not do: `net.ipv4.ping_group_range` starts at "1 0" in every new
//! namespace, which refuses it even to uid 0.
//!
//! Two kinds of echo leave here. A *probe* proves reachability for a check: its payload says
//! so ([`PROBE_MARK`]), so that the watch on the student's pings never counts it. A *ping* is
//! a lesson's `ping` line performed by nslab: it carries what iputils' ping carries (56 bytes:
//! a timestamp, then 0x10, 0x11, ...), so that the student sees and counts it as a ping.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{KernelError, Result};

static SEQ: AtomicU16 = AtomicU16::new(1);

/// The payload that marks nslab's own probes.
pub const PROBE_MARK: &[u8] = b"nslab-probe-echo";

/// What one echo request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingOutcome {
    Reply(Duration),
    /// No reply within the time allowed.
    NoReply,
    /// No reply, and none can come: the caller saw that nothing was left in flight and ended
    /// the wait (see [`burst`]'s `stop`).
    Lost,
    /// The kernel refused to send, or a router said so: no route, unreachable network.
    Unreachable(String),
}

/// One reply of a burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    pub seq: u16,
    pub rtt: Duration,
    pub ttl: u8,
    pub bytes: usize,
}

/// What a burst of echoes got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Burst {
    /// The ICMP id and the sequence numbers of the requests that went out.
    pub id: u16,
    pub seqs: Vec<u16>,
    pub sent: u32,
    pub replies: Vec<EchoReply>,
    /// The kernel refused to send, or a router reported the destination unreachable.
    pub unreachable: Option<String>,
    /// The wait for replies ended before its timeout, at the caller's word: nothing could
    /// bring one any more.
    pub lost: bool,
    /// A router told the sender of a shorter way for one of the requests (an ICMP redirect).
    pub redirected: bool,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMP id of the lesson's pings this process performs.
pub fn ident() -> u16 {
    (std::process::id() as u16) ^ 0x6e73
}

static PROBES: AtomicU16 = AtomicU16::new(0);

/// The ICMP id of the next probe: one of 255 ids near [`ident`], in turn. Probes that run at
/// once from several namespaces through one masquerade must not share an id: the NAT would map
/// them onto one tuple, and the kernel resolves such a clash without announcing the entry
/// (found by the trace test: un-NATed, unannounced probe entries left in the NAT namespace).
fn probe_ident() -> u16 {
    ident() ^ (PROBES.fetch_add(1, Ordering::Relaxed) % 255 + 1)
}

/// Whether an ICMP id is one of this process's probes' (what their conntrack entries carry).
pub fn is_probe_ident(id: u16) -> bool {
    (1..=255).contains(&(id ^ ident()))
}

fn packet(id: u16, seq: u16, probe: bool) -> Vec<u8> {
    let mut pkt = vec![8u8, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    if probe {
        pkt.extend_from_slice(PROBE_MARK);
    } else {
        // iputils: a timeval, then the bytes 0x10, 0x11, ... up to 56 bytes in all.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        pkt.extend_from_slice(&now.as_secs().to_le_bytes());
        pkt.extend((0x10u8..).take(48));
    }
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    pkt
}

fn open() -> Result<Socket> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| KernelError::io("ping: open a raw ICMP socket", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| KernelError::io("ping: make the socket non-blocking", e))?;
    Ok(sock)
}

/// An error from `sendto` that means "no way there" rather than "nslab failed": no route, an
/// `unreachable` (EHOSTUNREACH), `blackhole` (EINVAL) or `prohibit` (EACCES) route or rule, or a
/// firewall rule of the namespace's own that drops the request on its way out (EPERM; the
/// socket itself is open, so this is no missing privilege of nslab's).
fn unreachable(e: &std::io::Error) -> bool {
    e.raw_os_error().is_some_and(|c| {
        [
            Errno::ENETUNREACH,
            Errno::EHOSTUNREACH,
            Errno::EINVAL,
            Errno::EACCES,
            Errno::EPERM,
        ]
        .iter()
        .any(|n| *n as i32 == c)
    })
}

/// What arrived on the socket: (ICMP type, id, seq, from, ttl, length), and for a
/// destination-unreachable, the id of the request it quotes.
fn read_one(sock: &Socket, buf: &mut [u8], left: Duration) -> std::io::Result<Option<Received>> {
    // ppoll, not SO_RCVTIMEO: a socket's timeout counts in jiffies (4 ms here), ppoll's in
    // microseconds, and a probe's wait is a few milliseconds.
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
    match ppoll(&mut fds, Some(TimeSpec::from_duration(left)), None) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(Some(Received::Other)),
        Err(e) => return Err(e.into()),
    }
    let n = match (&*sock).read(buf) {
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            return Ok(Some(Received::Other));
        }
        Err(e) => return Err(e),
    };
    // A raw socket delivers the IP header too.
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    if n < ihl + 8 {
        return Ok(Some(Received::Other));
    }
    let ttl = buf[8];
    let from = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
    let icmp = &buf[ihl..n];
    let (kind, id, seq) = (
        icmp[0],
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    );
    if kind == 0 {
        return Ok(Some(Received::Reply {
            id,
            seq,
            from,
            ttl,
            len: icmp.len(),
        }));
    }
    // Destination unreachable (3) or a redirect (5) quoting one of our requests.
    if (kind == 3 || kind == 5) && icmp.len() >= 8 + 20 + 8 {
        let inner = &icmp[8..];
        let iihl = usize::from(inner[0] & 0x0f) * 4;
        if inner.len() >= iihl + 8 {
            let (id, seq) = (
                u16::from_be_bytes([inner[iihl + 4], inner[iihl + 5]]),
                u16::from_be_bytes([inner[iihl + 6], inner[iihl + 7]]),
            );
            return Ok(Some(if kind == 3 {
                Received::Unreachable { id, seq, from }
            } else {
                Received::Redirect { id, seq }
            }));
        }
    }
    Ok(Some(Received::Other))
}

enum Received {
    Reply {
        id: u16,
        seq: u16,
        from: Ipv4Addr,
        ttl: u8,
        len: usize,
    },
    Unreachable {
        id: u16,
        seq: u16,
        from: Ipv4Addr,
    },
    Redirect {
        id: u16,
        seq: u16,
    },
    Other,
}

/// What the caller of several probes and the probes tell each other (see [`burst`]).
#[derive(Debug, Default)]
pub struct Watch {
    /// Set by the caller: no reply can come any more, stop waiting.
    pub stop: AtomicBool,
    /// Counted up by each probe once its request is out (or could not go).
    pub sent: AtomicUsize,
}

/// Takes what arrived into the burst if it answers one of the burst's own requests (`ours`:
/// the burst's echo id and destination; `sent_at`: its requests' sequence numbers).
fn take(
    r: Received,
    ours: (u16, Ipv4Addr),
    sent_at: &[(u16, Instant)],
    out: &mut Burst,
    pending: &mut u32,
) {
    match r {
        Received::Reply {
            id,
            seq,
            from,
            ttl,
            len,
        } if (id, from) == ours => {
            if let Some((_, t)) = sent_at.iter().find(|(s, _)| *s == seq)
                && !out.replies.iter().any(|r| r.seq == seq)
            {
                out.replies.push(EchoReply {
                    seq,
                    rtt: t.elapsed(),
                    ttl,
                    bytes: len,
                });
                *pending = pending.saturating_sub(1);
            }
        }
        // Every probe of this process carries the same id, and a raw socket sees every ICMP
        // message of its namespace: the quoted sequence number says whose request it was.
        Received::Unreachable { id, seq, from }
            if id == ours.0 && sent_at.iter().any(|(s, _)| *s == seq) =>
        {
            out.unreachable = Some(format!("destination unreachable (reported by {from})"));
            *pending = pending.saturating_sub(1);
        }
        Received::Redirect { id, seq }
            if id == ours.0 && sent_at.iter().any(|(s, _)| *s == seq) =>
        {
            out.redirected = true;
        }
        _ => {}
    }
}

/// One probe: proves that `addr` answers, for a check. With `watch`, see [`burst`].
pub fn echo(addr: Ipv4Addr, timeout: Duration, watch: Option<Arc<Watch>>) -> Result<PingOutcome> {
    let b = burst(
        addr,
        1,
        timeout,
        Duration::ZERO,
        Duration::ZERO,
        None,
        true,
        watch,
    )?;
    Ok(match (b.replies.first(), b.unreachable) {
        (Some(r), _) => PingOutcome::Reply(r.rtt),
        (None, Some(why)) => PingOutcome::Unreachable(why),
        (None, None) if b.lost => PingOutcome::Lost,
        (None, None) => PingOutcome::NoReply,
    })
}

/// The machine's receive counters, summed over its CPUs (`/proc/net/softnet_stat`, the same in
/// every namespace): packets processed so far, and packets received and not processed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softnet {
    pub processed: u64,
    pub backlog: u64,
}

/// The machine's [`Softnet`] counters now; `None` where the file cannot be read or lacks the
/// backlog column (kernels before 5.10).
pub fn softnet() -> Option<Softnet> {
    let text = std::fs::read_to_string("/proc/net/softnet_stat").ok()?;
    let mut total = Softnet {
        processed: 0,
        backlog: 0,
    };
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let hex = |i: usize| u64::from_str_radix(cols.get(i)?, 16).ok();
        total.processed += hex(0)?;
        total.backlog += hex(11)?;
    }
    Some(total)
}

/// How a lesson's ping spaces and waits for its echoes (see [`burst`]).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub timeout: Duration,
    pub gap: Duration,
    /// How far apart they go once a router redirected one (`-i`).
    pub interval: Duration,
    pub deadline: Option<Duration>,
}

/// `count` echoes to `addr`, `gap` apart, each waiting at most `timeout` for its reply; all of
/// it within `deadline` when given. With no gap, every request goes out at once and the burst
/// waits `timeout` for all the replies: an expected failure costs one timeout, not `count`.
/// Except once a router sends a redirect for one: the next go `interval` apart, as ping sends
/// them. The router allows itself its next redirect to the same host only some 40 ms later,
/// then twice as long each time, and the host takes one only once it knows the new gateway's
/// MAC, which the first redirect made it ask for: requests all at once would be told once,
/// and not heeded.
///
/// With `watch`, the burst counts itself in `sent` once its requests are out, and the caller
/// watches the machine while it waits for the replies: when the caller sets `stop` (no reply
/// can come any more, see [`super::Kernel::ping_many`]), the wait ends, and the burst is
/// `lost`.
#[allow(clippy::too_many_arguments)]
pub fn burst(
    addr: Ipv4Addr,
    count: u32,
    timeout: Duration,
    gap: Duration,
    interval: Duration,
    deadline: Option<Duration>,
    probe: bool,
    watch: Option<Arc<Watch>>,
) -> Result<Burst> {
    let sock = open()?;
    let id = if probe { probe_ident() } else { ident() };
    let start = Instant::now();
    let end_all = deadline.map(|d| start + d);
    let dest = SockAddr::from(SocketAddrV4::new(addr, 0));
    let mut out = Burst {
        id,
        ..Burst::default()
    };
    let mut sent_at: Vec<(u16, Instant)> = Vec::new();
    let mut buf = [0u8; 1500];
    let mut pending = 0u32;
    let wait_for = |sock: &Socket,
                    until: Instant,
                    sent_at: &[(u16, Instant)],
                    out: &mut Burst,
                    pending: &mut u32,
                    buf: &mut [u8]|
     -> Result<()> {
        while *pending > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            match read_one(sock, buf, until - now)
                .map_err(|e| KernelError::io(format!("ping {addr}"), e))?
            {
                None => break,
                Some(r) => take(r, (id, addr), sent_at, out, pending),
            }
        }
        Ok(())
    };
    for i in 0..count {
        if end_all.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        if i > 0 && gap.is_zero() && !interval.is_zero() {
            // What the requests so far brought back, a redirect above all (it comes within
            // the send, in a lab of namespaces).
            let soon = Instant::now() + Duration::from_micros(200);
            wait_for(&sock, soon, &sent_at, &mut out, &mut pending, &mut buf)?;
        }
        let gap = if gap.is_zero() && out.redirected {
            interval
        } else {
            gap
        };
        if i > 0 && !gap.is_zero() {
            // Wait for the previous reply while the gap runs.
            let until = Instant::now() + gap;
            wait_for(&sock, until, &sent_at, &mut out, &mut pending, &mut buf)?;
            let now = Instant::now();
            if now < until {
                std::thread::sleep(until - now);
            }
            // What did not answer in time is lost, as with ping.
            pending = 0;
        }
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        match sock.send_to(&packet(id, seq, probe), &dest) {
            Ok(_) => {
                out.sent += 1;
                out.seqs.push(seq);
                pending += 1;
                sent_at.push((seq, Instant::now()));
            }
            Err(e) if unreachable(&e) => {
                out.sent += 1;
                out.unreachable = Some(super::os_words(&e));
                if gap.is_zero() {
                    break;
                }
            }
            Err(e) => return Err(KernelError::io(format!("ping {addr}"), e)),
        }
    }
    let mut until = Instant::now() + timeout;
    if let Some(e) = end_all {
        until = until.min(e);
    }
    match watch {
        Some(watch) => {
            watch.sent.fetch_add(1, Ordering::Release);
            while pending > 0 && Instant::now() < until {
                if watch.stop.load(Ordering::Acquire) {
                    // Whatever the kernel delivered up to now is read; then nothing is left.
                    let drain = Instant::now() + Duration::from_micros(100);
                    wait_for(&sock, drain, &sent_at, &mut out, &mut pending, &mut buf)?;
                    out.lost = pending > 0;
                    break;
                }
                let next = (Instant::now() + Duration::from_millis(1)).min(until);
                wait_for(&sock, next, &sent_at, &mut out, &mut pending, &mut buf)?;
            }
        }
        None => wait_for(&sock, until, &sent_at, &mut out, &mut pending, &mut buf)?,
    }
    out.replies.sort_by_key(|r| r.seq);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_a_known_packet() {
        // An echo request with id 1, seq 1 and no payload sums to 0xf7fd.
        assert_eq!(super::checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
    }

    /// Probes sent at once from one process share their echo id: an error that quotes another
    /// probe's request is not this one's, nor a reply from another address.
    #[test]
    fn a_burst_takes_only_what_answers_its_own_requests() {
        use super::{Burst, Received, take};
        use std::net::Ipv4Addr;
        use std::time::Instant;
        let me = Ipv4Addr::new(10, 0, 0, 2);
        let router = Ipv4Addr::new(10, 0, 0, 1);
        let sent = [(7u16, Instant::now())];
        let (mut out, mut pending) = (Burst::default(), 1u32);
        let theirs = Received::Unreachable {
            id: 5,
            seq: 8,
            from: router,
        };
        take(theirs, (5, me), &sent, &mut out, &mut pending);
        let elsewhere = Received::Reply {
            id: 5,
            seq: 7,
            from: router,
            ttl: 64,
            len: 64,
        };
        take(elsewhere, (5, me), &sent, &mut out, &mut pending);
        assert_eq!(
            (out.unreachable.as_deref(), out.replies.len(), pending),
            (None, 0, 1)
        );
        let mine = Received::Unreachable {
            id: 5,
            seq: 7,
            from: router,
        };
        take(mine, (5, me), &sent, &mut out, &mut pending);
        assert_eq!(pending, 0);
        assert!(out.unreachable.unwrap().contains("reported by 10.0.0.1"));
    }

    #[test]
    fn pings_look_like_iputils_and_probes_are_marked() {
        let p = super::packet(7, 1, false);
        assert_eq!(p.len(), 64);
        assert_eq!(p[16], 0x10);
        let q = super::packet(7, 1, true);
        assert!(q.ends_with(super::PROBE_MARK));
        // A valid checksum sums to zero.
        assert_eq!(super::checksum(&p), 0);
    }
}
