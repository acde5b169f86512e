//! ICMP echo over a raw socket, created inside the namespace by the calling thread.
//!
//! A raw socket needs CAP_NET_RAW (root, or the sandbox's user namespace). The unprivileged
//! ICMP datagram socket would not do: `net.ipv4.ping_group_range` starts at "1 0" in every new
//! namespace, which refuses it even to uid 0.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{KernelError, Result};

static SEQ: AtomicU16 = AtomicU16::new(1);

/// What one echo request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingOutcome {
    Reply(Duration),
    /// No reply within the time allowed.
    NoReply,
    /// The kernel refused to send: no route, unreachable network.
    Unreachable(String),
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

pub fn echo(addr: Ipv4Addr, timeout: Duration) -> Result<PingOutcome> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| KernelError::io("ping: open a raw ICMP socket", e))?;
    let id = (std::process::id() as u16) ^ 0x6e73;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut pkt = vec![8u8, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(b"nslab-echo-probe");
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());

    let start = Instant::now();
    let dest = SockAddr::from(SocketAddrV4::new(addr, 0));
    if let Err(e) = sock.send_to(&pkt, &dest) {
        return match e.raw_os_error() {
            // ENETUNREACH, EHOSTUNREACH, EINVAL (no route at all on some kernels)
            Some(101) | Some(113) | Some(22) => Ok(PingOutcome::Unreachable(e.to_string())),
            _ => Err(KernelError::io(format!("ping {addr}"), e)),
        };
    }
    let mut buf = [0u8; 1500];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(PingOutcome::NoReply);
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| KernelError::io("ping: set timeout", e))?;
        let n = match (&sock).read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(PingOutcome::NoReply);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(KernelError::io(format!("ping {addr}"), e)),
        };
        // A raw socket delivers the IP header too.
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if n < ihl + 8 {
            continue;
        }
        let icmp = &buf[ihl..n];
        let from = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
        let (kind, rid, rseq) = (
            icmp[0],
            u16::from_be_bytes([icmp[4], icmp[5]]),
            u16::from_be_bytes([icmp[6], icmp[7]]),
        );
        if kind == 0 && rid == id && rseq == seq && from == addr {
            return Ok(PingOutcome::Reply(start.elapsed()));
        }
        // Destination unreachable (3) quoting our request: the answer is no.
        if kind == 3 && icmp.len() >= 8 + 20 + 8 {
            let inner = &icmp[8..];
            let iihl = usize::from(inner[0] & 0x0f) * 4;
            if inner.len() >= iihl + 8
                && u16::from_be_bytes([inner[iihl + 4], inner[iihl + 5]]) == id
            {
                return Ok(PingOutcome::Unreachable(format!(
                    "destination unreachable (reported by {from})"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_a_known_packet() {
        // An echo request with id 1, seq 1 and no payload sums to 0xf7fd.
        assert_eq!(super::checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
    }
}
