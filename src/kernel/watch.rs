//! Waking up when the kernel changes: netlink multicast (links, IPv4 addresses and routes) in
//! each watched namespace, and inotify on /run/netns for namespaces coming and going.
//!
//! Each source runs on its own thread and only says "something changed", by a byte on a socket
//! the caller can wait on together with its own (a terminal's keys); the caller takes a fresh
//! snapshot. The threads sleep until an event or the watcher's end: no clock wakes them, so an
//! idle learn session costs no CPU. Dropping the watcher wakes them at once, and they close their
//! sockets: an open socket keeps its namespace alive, and a namespace the student deletes must
//! really die (its veth pair with it).

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_LINK, RTMGRP_NEIGH};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER, protocols::NETLINK_ROUTE};

use super::netns::{self, NETNS_RUN_DIR};
use super::{KernelError, Result};

pub struct Watcher {
    /// A byte comes here for every burst of events (see [`Watcher::fd`]).
    changed: UnixStream,
    /// Closed on drop: every thread's poll wakes on its peer, and the thread ends.
    end: Option<UnixStream>,
}

/// RTNLGRP_IPV4_NETCONF (24) as a bind mask: the kernel reports a change of IPv4 forwarding
/// there, so a `sysctl -w net.ipv4.ip_forward=1` ticks at once, without polling.
const RTMGRP_IPV4_NETCONF: u32 = 1 << (24 - 1);

/// NFNLGRP_NFTABLES (7) as a bind mask on a NETLINK_NETFILTER socket.
const NFNLGRP_NFTABLES_MASK: u32 = 1 << (7 - 1);

/// What a source's thread holds besides its own socket: where to say "changed", and the end
/// of the watcher to wake on.
struct Pump {
    changed: UnixStream,
    ended: Arc<UnixStream>,
}

impl Pump {
    /// Sleeps until `fd` is readable (true) or the watcher ended (false).
    fn wait_readable(&self, fd: impl AsFd) -> bool {
        loop {
            let mut fds = [
                PollFd::new(fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.ended.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) if fds[1].revents().is_some_and(|r| !r.is_empty()) => return false,
                Ok(n) if n > 0 => return true,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    fn try_clone(&self) -> std::io::Result<Pump> {
        Ok(Pump {
            changed: self.changed.try_clone()?,
            ended: self.ended.clone(),
        })
    }

    /// Says "changed" (false when the watcher is gone). A full buffer already says it.
    fn tell(&self) -> bool {
        match (&self.changed).write_all(&[1]) {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }
}

impl Watcher {
    pub(super) fn new(namespaces: Vec<OwnedFd>) -> Result<Watcher> {
        let io = |e| KernelError::io("a socket pair for the watcher", e);
        let (changed_tx, changed) = UnixStream::pair().map_err(io)?;
        changed_tx.set_nonblocking(true).map_err(io)?;
        changed.set_nonblocking(true).map_err(io)?;
        let (end, ended) = UnixStream::pair().map_err(io)?;
        let pump = Pump {
            changed: changed_tx,
            ended: Arc::new(ended),
        };
        for fd in namespaces {
            let pump = pump.try_clone().map_err(io)?;
            let (ready_tx, ready_rx) = channel::<Result<()>>();
            std::thread::spawn(move || {
                if let Err(e) = nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                {
                    let _ = ready_tx.send(Err(KernelError::io("setns", e.into())));
                    return;
                }
                drop(fd);
                // What learn hears of: `Check::heard_on_change` says which checks these groups
                // (and the /run/netns watch) cover; the two change together.
                let sock = Socket::new(NETLINK_ROUTE).and_then(|mut s| {
                    s.bind(&SocketAddr::new(
                        0,
                        RTMGRP_LINK
                            | RTMGRP_IPV4_IFADDR
                            | RTMGRP_IPV4_ROUTE
                            | RTMGRP_NEIGH
                            | RTMGRP_IPV4_NETCONF,
                    ))?;
                    s.set_non_blocking(true)?;
                    Ok(s)
                });
                let sock = match sock {
                    Ok(s) => s,
                    Err(e) => {
                        let _ =
                            ready_tx.send(Err(KernelError::io("open a netlink event socket", e)));
                        return;
                    }
                };
                // Firewall rules (iptables on nf_tables) change through nfnetlink: a rule a lesson
                // asks for ticks at once. Where nf_tables is missing, rules are polled instead.
                let nft = Socket::new(NETLINK_NETFILTER).and_then(|mut s| {
                    s.bind(&SocketAddr::new(0, NFNLGRP_NFTABLES_MASK))?;
                    s.set_non_blocking(true)?;
                    Ok(s)
                });
                // Subscribed before the caller's first snapshot: nothing is missed in between.
                let _ = ready_tx.send(Ok(()));
                if let Ok(nft) = nft
                    && let Ok(pump) = pump.try_clone()
                {
                    std::thread::spawn(move || pump_netlink(nft, pump));
                }
                pump_netlink(sock, pump);
            });
            ready_rx
                .recv()
                .map_err(|_| KernelError::Other("watcher thread ended".into()))??;
        }
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| KernelError::io("inotify_init", e.into()))?;
        std::fs::create_dir_all(NETNS_RUN_DIR).ok();
        inotify
            .add_watch(
                NETNS_RUN_DIR,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE | AddWatchFlags::IN_ATTRIB,
            )
            .map_err(|e| KernelError::io("watch /run/netns", e.into()))?;
        std::thread::spawn(move || pump_inotify(inotify, pump));
        Ok(Watcher {
            changed,
            end: Some(end),
        })
    }

    /// Waits up to `timeout` for a change. True when something changed.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut fds = [PollFd::new(self.changed.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        self.take_changed()
    }

    /// Readable when something changed: for a caller that waits on it with its own files (a
    /// terminal's keys), then asks [`Watcher::take_changed`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.changed.as_fd()
    }

    /// Whether something changed since the last call, without waiting. A burst of events is
    /// one change.
    pub fn take_changed(&self) -> bool {
        let mut buf = [0u8; 256];
        let mut any = false;
        while let Ok(n) = (&self.changed).read(&mut buf) {
            if n == 0 {
                break;
            }
            any = true;
        }
        any
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.end.take();
    }
}

fn pump_netlink(sock: Socket, pump: Pump) {
    let mut buf = vec![0u8; 65536];
    while pump.wait_readable(&sock) {
        // Drain: one wake-up per burst. ENOBUFS (an overrun) also means "changed, dump again".
        loop {
            match sock.recv(&mut &mut buf[..], 0) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        if !pump.tell() {
            return;
        }
    }
}

fn pump_inotify(inotify: Inotify, pump: Pump) {
    while pump.wait_readable(&inotify) {
        let mut created = Vec::new();
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_CREATE)
                    && let Some(n) = e.name
                {
                    created.push(n.to_string_lossy().into_owned());
                }
            }
        }
        // `ip netns add` creates the file before it mounts the namespace on it: wait for the
        // mount (under a millisecond here), so that the snapshot that follows sees it.
        for name in created {
            for _ in 0..50 {
                if netns::is_mounted(&name) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        if !pump.tell() {
            return;
        }
    }
}

/// RTNLGRP_IPV6_IFADDR (9) as a bind mask: an IPv6 address leaving duplicate address detection
/// is announced there.
const RTMGRP_IPV6_IFADDR: u32 = 1 << (9 - 1);

/// Netlink sockets that hear link and neighbour changes (and, with `six`, IPv6 address changes) in some
/// namespaces, for a caller that waits for the kernel to finish something (settle, for a
/// teardown). Unlike [`Watcher`], no thread: the caller polls the sockets itself, and dropping
/// them closes them at once, so no namespace is kept alive a moment longer.
pub struct Events {
    socks: Vec<Socket>,
}

impl Events {
    /// Subscribes in each namespace of `fds` (opened there, then used from anywhere).
    pub(super) fn new(fds: Vec<OwnedFd>, six: bool) -> Events {
        let groups = RTMGRP_LINK | RTMGRP_NEIGH | if six { RTMGRP_IPV6_IFADDR } else { 0 };
        let socks = fds
            .into_iter()
            .filter_map(|fd| {
                netns::in_netns(&fd, move || {
                    let mut s = Socket::new(NETLINK_ROUTE)
                        .map_err(|e| KernelError::io("open a netlink event socket", e))?;
                    s.bind(&SocketAddr::new(0, groups))
                        .and_then(|()| s.set_non_blocking(true))
                        .map_err(|e| KernelError::io("subscribe to link events", e))?;
                    Ok(s)
                })
                .ok()
            })
            .collect();
        Events { socks }
    }

    /// Whether no namespace could be subscribed to (the caller then looks on a clock).
    pub fn is_empty(&self) -> bool {
        self.socks.is_empty()
    }

    /// Waits up to `timeout` for an event in any of the namespaces; drains what came. True when
    /// something came (an overrun counts: something changed).
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut fds: Vec<PollFd> = self
            .socks
            .iter()
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        let ms = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
        let woke = matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0);
        if woke {
            let mut buf = vec![0u8; 16384];
            for s in &self.socks {
                while s.recv(&mut &mut buf[..], 0).is_ok() {}
            }
        }
        woke
    }
}
