//! The only door to the kernel. Nothing else in nslab imports rtnetlink, netlink-* or the
//! namespace parts of nix.
//!
//! [`Kernel`] offers typed, blocking operations; the async runtime that drives netlink is an
//! implementation detail kept inside. Each namespace gets one netlink connection, opened on a
//! short-lived thread that entered it (see [`netns::in_netns`]).

pub mod conntrack;
mod jail;
mod lines;
pub use lines::timeout_override as line_timeout_override;
mod netns;
pub use netns::Unstacked;
pub mod ops;
mod ping;
pub mod pingwatch;
pub mod procs;
pub mod rules;
pub mod sandbox;
mod snapshot;
mod watch;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, LinkUnspec};

use crate::net::{Cidr, Ns};
pub use ops::{AddrReq, Change, LinkAttrs, NewLink, RouteReq};
pub use ping::{Burst, EchoReply, PROBE_MARK, PingOutcome, Timing};
pub use procs::NetnsInfo;
pub use rules::Rule;
pub use snapshot::{Addr, FdbEntry, Link, Neigh, Peer, Route, Snapshot};
pub use watch::{Events, Watcher};

/// What went wrong in the kernel, in words an iproute2 user knows.
#[derive(Debug)]
pub enum KernelError {
    NoSuchNetns(String),
    NoSuchLink {
        name: String,
        ns: Ns,
    },
    /// What exists, and how ip says it (`RTNETLINK answers: File exists`).
    Exists {
        what: String,
        ip: String,
    },
    /// The kernel refused: errno, and what was being done; for a netlink request, how ip says
    /// it (`Error: ipv4: Address not found.`, the kernel's own words, else `RTNETLINK answers:
    /// No such process`).
    Os {
        context: String,
        err: std::io::Error,
        ip: Option<String>,
    },
    Other(String),
}

impl KernelError {
    pub fn io(context: impl Into<String>, err: std::io::Error) -> Self {
        KernelError::Os {
            context: context.into(),
            err,
            ip: None,
        }
    }

    /// What ip prints for this error, where nslab knows it and it differs from nslab's own
    /// words: a student compares a line's failure with what their own `ip` printed.
    pub fn ip_words(&self) -> Option<&str> {
        match self {
            KernelError::Exists { ip, .. } => Some(ip),
            KernelError::Os { ip, .. } => ip.as_deref(),
            _ => None,
        }
    }

    /// A refused netlink request in nslab's words (`context`), with ip's.
    fn refused(context: String, m: &rtnetlink::packet_core::ErrorMessage) -> Self {
        let err = m.to_io();
        KernelError::Os {
            ip: Some(ip_says(kernel_says(m).as_deref(), &err)),
            context,
            err,
        }
    }

    fn netlink(context: impl Into<String>, e: rtnetlink::Error) -> Self {
        match e {
            rtnetlink::Error::NetlinkError(m) => {
                let context = match kernel_says(&m) {
                    Some(said) => format!("{}: {said}", context.into()),
                    None => context.into(),
                };
                KernelError::refused(context, &m)
            }
            other => KernelError::Other(format!("{}: {other}", context.into())),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // iproute2's words (`ip -n NS`, `ip netns exec NS`).
            KernelError::NoSuchNetns(n) => write!(
                f,
                "Cannot open network namespace \"{n}\": No such file or directory"
            ),
            KernelError::NoSuchLink { name, ns } => {
                write!(f, "Cannot find device \"{name}\" in {ns}")
            }
            KernelError::Exists { what, .. } => write!(f, "{what} already exists"),
            // The errno as strerror words it, as ip prints it: "Invalid argument", without
            // Rust's "(os error 22)".
            KernelError::Os { context, err, .. } => write!(f, "{context}: {}", os_words(err)),
            KernelError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KernelError {}

/// How ip words a refused netlink request: the kernel's message (extended ack) as `Error: MSG.`,
/// else `RTNETLINK answers: STRERROR`.
fn ip_says(said: Option<&str>, err: &std::io::Error) -> String {
    match said {
        Some(s) => format!("Error: {}.", s.trim_end_matches('.')),
        None => format!("RTNETLINK answers: {}", os_words(err)),
    }
}

/// An error as strerror words it, as ip and ping print it ("Network is unreachable"), without
/// Rust's " (os error 101)".
pub fn os_words(err: &std::io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

pub type Result<T> = std::result::Result<T, KernelError>;

/// What [`Kernel::sysctl_set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlSet {
    Written,
    /// sysctl left the key alone and does not fail: it does not exist and -e says to ignore
    /// that, or nobody may write it.
    PassedOver,
}

struct Conn {
    handle: Handle,
    /// The inode of the namespace the connection lives in: a namespace deleted and made again
    /// under the same name is a different namespace and needs a new connection.
    inode: u64,
}

/// The named namespaces a watcher covers: each name with the inode of its namespace, so that a
/// name deleted and made again counts as a change.
pub type Watched = Vec<(String, Option<u64>)>;

/// The live kernel, as seen from the namespace nslab started in (its "root" namespace).
pub struct Kernel {
    rt: tokio::runtime::Runtime,
    root: OwnedFd,
    conns: RefCell<HashMap<Ns, Conn>>,
    /// The helper that runs shell lines, started at the first one (see [`lines`]). Dropping the
    /// kernel ends it, and every process the lines started.
    lines: RefCell<Option<lines::Runner>>,
}

impl Kernel {
    pub fn new() -> Result<Kernel> {
        // /proc/thread-self: this thread's namespace, which is the process's at start-up.
        let root: OwnedFd = File::open("/proc/thread-self/ns/net")
            .map_err(|e| KernelError::io("open /proc/thread-self/ns/net", e))?
            .into();
        // One netlink socket per namespace in use: a lesson or benchmark with a thousand
        // namespaces needs more descriptors than the usual soft limit of 1024.
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
            && soft < hard
        {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KernelError::io("start the netlink runtime", e))?;
        Ok(Kernel {
            rt,
            root,
            conns: RefCell::new(HashMap::new()),
            lines: RefCell::new(None),
        })
    }

    fn ns_fd(&self, ns: &Ns) -> Result<OwnedFd> {
        match ns {
            Ns::Root => self.root.try_clone().map_err(|e| KernelError::io("dup", e)),
            Ns::Named(n) => netns::open(n),
        }
    }

    fn ns_inode(&self, ns: &Ns) -> Option<u64> {
        match ns {
            Ns::Root => Some(0),
            Ns::Named(n) => netns::inode_of(&netns::path_of(n)),
        }
    }

    /// The netlink handle for a namespace, opened inside it on first use.
    fn handle(&self, ns: &Ns) -> Result<Handle> {
        let inode = self
            .ns_inode(ns)
            .ok_or_else(|| KernelError::NoSuchNetns(ns.name().to_string()))?;
        if let Some(c) = self.conns.borrow().get(ns)
            && c.inode == inode
        {
            return Ok(c.handle.clone());
        }
        let handle = self.connect(&self.ns_fd(ns)?)?;
        self.conns.borrow_mut().insert(
            ns.clone(),
            Conn {
                handle: handle.clone(),
                inode,
            },
        );
        Ok(handle)
    }

    /// Opens a netlink connection inside the namespace `fd`, driven by this runtime.
    fn connect(&self, fd: &OwnedFd) -> Result<Handle> {
        let rt = self.rt.handle().clone();
        let (conn, handle) = netns::in_netns(fd, move || {
            // The socket registers with the runtime's reactor: enter it first.
            let _guard = rt.enter();
            let (conn, handle, _) = rtnetlink::new_connection_with_socket::<snapshot::LossyNames>()
                .map_err(|e| KernelError::io("open a netlink socket", e))?;
            Ok((conn, handle))
        })?;
        self.rt.spawn(conn);
        Ok(handle)
    }

    /// Closes connections into namespaces that are gone or were replaced: an open socket would
    /// keep a deleted namespace (and the veth ends inside it) alive.
    pub fn prune(&self) {
        let before = self.conns.borrow().len();
        self.conns
            .borrow_mut()
            .retain(|ns, c| self.ns_inode(ns) == Some(c.inode));
        if self.conns.borrow().len() != before {
            self.drain();
        }
    }

    /// Lets the runtime run the connection tasks whose handles were dropped, so that they end
    /// and close their sockets now (the runtime runs only inside `block_on`).
    fn drain(&self) {
        self.rt.block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
    }

    fn forget(&self, ns: &Ns) {
        // Dropping the handle closes the socket, which would otherwise keep the namespace alive.
        if self.conns.borrow_mut().remove(ns).is_some() {
            self.drain();
        }
    }

    // ---- namespaces ----

    pub fn netns_add(&self, name: &str) -> Result<()> {
        netns::add(name)
    }

    pub fn netns_del(&self, name: &str) -> Result<()> {
        self.forget(&Ns::Named(name.to_string()));
        netns::del(name)
    }

    /// Reset's delete of a named namespace: every namespace stacked on the name that `ours`
    /// says is the caller's, from the top, then the name (see [`netns::del_stack`]).
    pub fn netns_del_stack(
        &self,
        name: &str,
        ours: impl Fn((u64, u64)) -> bool,
    ) -> Result<Unstacked> {
        self.forget(&Ns::Named(name.to_string()));
        netns::del_stack(name, ours)
    }

    /// The entries of /run/netns, as `ip netns list` shows them.
    pub fn netns_list(&self) -> Vec<String> {
        netns::list()
    }

    /// A named namespace exists: /run/netns/NAME holds a live namespace.
    pub fn netns_exists(&self, name: &str) -> bool {
        netns::is_mounted(name)
    }

    /// A namespace as lessons name it exists (the root one always does).
    pub fn ns_exists(&self, ns: &Ns) -> bool {
        match ns {
            Ns::Root => true,
            Ns::Named(n) => self.netns_exists(n),
        }
    }

    /// Every network namespace on the machine, as `lsns -t net` lists them, plus the ones only
    /// a bind mount in /run/netns holds.
    pub fn net_namespaces(&self) -> Vec<NetnsInfo> {
        procs::net_namespaces()
    }

    /// The inode of a process's network namespace.
    pub fn netns_inode_of_pid(&self, pid: u32) -> Option<u64> {
        procs::netns_inode_of_pid(pid)
    }

    /// A named namespace's identity: its inode, and when its name was given to it, as the
    /// inode's time says (nanoseconds since the epoch). The name's bind mount holds the
    /// namespace's inode from `ip netns add` on, with the time it was made; the kernel gives
    /// an inode number again once its namespace is gone, and a namespace made later has a
    /// later time. (A plain look at /run/netns: no netlink.)
    pub fn netns_identity(name: &str) -> Option<(u64, u64)> {
        netns::identity(name)
    }

    /// The file that names a namespace (`/run/netns/NAME`).
    pub fn netns_path(name: &str) -> std::path::PathBuf {
        netns::path_of(name)
    }

    /// The inode of a namespace as lessons name it.
    pub fn netns_inode(&self, ns: &Ns) -> Option<u64> {
        match ns {
            Ns::Root => procs::inode_of_fd(&self.root),
            Ns::Named(n) => netns::is_mounted(n)
                .then(|| netns::inode_of(&netns::path_of(n)))
                .flatten(),
        }
    }

    /// Processes named `name`, of user `uid`, started at or after `since` (clock ticks since
    /// boot), with the inode of their network namespace.
    pub fn processes_named(&self, name: &str, uid: u32, since: u64) -> Vec<(u32, u64)> {
        procs::processes_named(name, uid, since)
    }

    /// Waits, at most `bound`, until what a line left running in the background (its shell's
    /// process group, `pgid`) has become one of `programs` (`ip netns exec NS sleep 60 &` has
    /// entered NS and is `sleep`), or has left every program that only starts another (`ip`,
    /// `nsenter`, `sudo`, a shell not yet exec'd...), or has ended. A student types the next
    /// line long after; a script's next line can come first (`ip netns del NS` before the
    /// `ip netns exec NS` opened it: then no program runs at all).
    pub fn await_started(&self, pgid: i32, programs: &[String], bound: Duration) {
        const LAUNCHERS: &[&str] = &[
            "ip", "nsenter", "sh", "dash", "bash", "env", "sudo", "nohup", "setsid", "stdbuf",
            "nice", "ionice", "chrt", "taskset",
        ];
        let deadline = std::time::Instant::now() + bound;
        loop {
            let members = procs::group(pgid);
            // /proc names a process by at most 15 bytes of its program's name.
            let started = members.iter().any(|(_, comm)| {
                programs
                    .iter()
                    .any(|p| comm.as_bytes() == &p.as_bytes()[..p.len().min(15)])
            });
            let launching = members
                .iter()
                .any(|(_, comm)| LAUNCHERS.contains(&comm.as_str()));
            if started || !launching || std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether a process of one of these names that this run started is at work (running,
    /// waiting for a CPU, or in a disk read), rather than waiting for something to do.
    pub fn at_work(&self, names: &[String]) -> bool {
        procs::at_work(names, procs::own_start_ticks())
    }

    /// Whether a process of one of these names that this run started is at work and still
    /// starting: it has used less than `cpu` of processor time (see [`procs::starting`]).
    pub fn starting(&self, names: &[String], cpu: Duration) -> bool {
        procs::starting(names, procs::own_start_ticks(), cpu)
    }

    /// Whether something lines started in the background may still be starting: a process of
    /// one of their process groups (`groups`) is left, or a process named one of `programs`
    /// that this run started (one that left its group, `setsid`, or a daemon's child) has not
    /// ended. A program that could not start (`/tmp/prog &` with no such file) or ended at once
    /// leaves neither: nothing is coming.
    pub fn launching(&self, groups: &[i32], programs: &[String]) -> bool {
        groups.iter().any(|g| !procs::group(*g).is_empty())
            || procs::alive_named(programs, procs::own_start_ticks())
    }

    /// The process that keeps alive the namespace of the veth peer of `l` (in `ns`), when
    /// that namespace has no name any more (`ip netns del` while a program still ran in it):
    /// its pid and command. Found by asking the kernel which namespace id, seen from `ns`, each
    /// nameless namespace a process is in has.
    pub fn peer_holder(&self, ns: &Ns, l: &Link) -> Option<(u32, String)> {
        let nsid = l.peer_nsid?;
        if l.peer.as_ref().is_some_and(|p| p.ns.is_some()) {
            return None;
        }
        let h = self.handle(ns).ok()?;
        let here = self.ns_inode(ns);
        for info in procs::net_namespaces() {
            if !info.names.is_empty() || Some(info.inode) == here {
                continue;
            }
            let Some(pid) = info.pid else { continue };
            let Ok(f) = File::open(format!("/proc/{pid}/ns/net")) else {
                continue;
            };
            let fd: OwnedFd = f.into();
            if self.rt.block_on(snapshot::nsid_of(&h, &fd)).ok().flatten() == Some(nsid) {
                return Some((pid, info.command.clone().unwrap_or_default()));
            }
        }
        None
    }

    /// When this process started, in clock ticks since boot: the run's processes are younger.
    pub fn start_ticks(&self) -> u64 {
        procs::own_start_ticks()
    }

    /// Names of processes whose network namespace is not the root one.
    pub fn isolated_processes(&self) -> Vec<(u32, String)> {
        let root = self.netns_inode(&Ns::Root).unwrap_or(0);
        procs::processes_outside(root)
    }

    // ---- links ----

    /// The index of the link a line names, found as iproute2 6.1's ll_name_to_index finds
    /// it: by name or altname; else as glibc's if_nametoindex (whose ioctl the kernel answers
    /// for the name cut at its first colon: `veth0:1` is veth0); else by ip's own `ifN`
    /// notation, whose index ip sends whether a link has it or not (the kernel answers).
    async fn index_of(handle: &Handle, name: &str, ns: &Ns) -> Result<u32> {
        match Self::get_link(handle, name, ns).await {
            Err(KernelError::NoSuchLink { .. }) => {}
            found => return found.map(|l| l.header.index),
        }
        // glibc refuses a name of IFNAMSIZ bytes or more before it asks.
        if name.len() < 16
            && let Some((base, _)) = name.split_once(':')
            && !base.is_empty()
        {
            match Self::get_link(handle, base, ns).await {
                Err(KernelError::NoSuchLink { .. }) => {}
                found => return found.map(|l| l.header.index),
            }
        }
        match crate::net::ip_index_name(name) {
            Some(i) if i != 0 => Ok(i),
            _ => Err(KernelError::NoSuchLink {
                name: name.to_string(),
                ns: ns.clone(),
            }),
        }
    }

    /// One link by name or altname: a single RTM_GETLINK, not a dump. As iproute2 asks: a name
    /// that cannot be an interface's (16 bytes or more, a '/', a space) is sent as an altname.
    async fn get_link(
        handle: &Handle,
        name: &str,
        ns: &Ns,
    ) -> Result<rtnetlink::packet_route::link::LinkMessage> {
        let request = if crate::net::valid_ifname(name) {
            handle.link().get().match_name(name.to_string())
        } else {
            // IFLA_ALT_IFNAME, NUL-terminated; index 0 asks for one link, not a dump.
            let mut r = handle.link().get().match_index(0);
            let mut value = name.as_bytes().to_vec();
            value.push(0);
            r.message_mut()
                .attributes
                .push(rtnetlink::packet_route::link::LinkAttribute::Other(
                    rtnetlink::packet_core::DefaultNla::new(53, value),
                ));
            r
        };
        let mut links = request.execute();
        match links.try_next().await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(KernelError::NoSuchLink {
                name: name.to_string(),
                ns: ns.clone(),
            }),
            Err(rtnetlink::Error::NetlinkError(m))
                if m.raw_code().abs() == nix::errno::Errno::ENODEV as i32 =>
            {
                Err(KernelError::NoSuchLink {
                    name: name.to_string(),
                    ns: ns.clone(),
                })
            }
            Err(e) => Err(KernelError::netlink(format!("find {name}"), e)),
        }
    }

    /// One link's state, without the cost of a snapshot. Its veth peer, if any, is left
    /// unresolved (index only); [`Kernel::snapshot`] resolves peers.
    pub fn link(&self, ns: &Ns, name: &str) -> Result<Link> {
        let h = self.handle(ns)?;
        let msg = self.rt.block_on(Self::get_link(&h, name, ns))?;
        Ok(snapshot::link_of(&msg))
    }

    /// `ip link add NAME type veth peer name PEER [netns PEER_NS]`, for tests and tools.
    pub fn veth_add(&self, ns: &Ns, name: &str, peer: &str, peer_ns: Option<&Ns>) -> Result<()> {
        self.link_add(
            ns,
            &NewLink {
                link: LinkAttrs {
                    name: Some(name.to_string()),
                    ..LinkAttrs::default()
                },
                kind: "veth".into(),
                peer: Some(LinkAttrs {
                    name: Some(peer.to_string()),
                    netns: peer_ns.filter(|p| *p != ns).map(|p| p.name().to_string()),
                    ..LinkAttrs::default()
                }),
            },
        )
    }

    /// `ip link add NAME type bridge`. The bridge starts down, as with iproute2.
    pub fn bridge_add(&self, ns: &Ns, name: &str) -> Result<()> {
        self.link_add(
            ns,
            &NewLink {
                link: LinkAttrs {
                    name: Some(name.to_string()),
                    ..LinkAttrs::default()
                },
                kind: "bridge".into(),
                peer: None,
            },
        )
    }

    pub fn link_set_up(&self, ns: &Ns, name: &str, up: bool) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, name, ns).await?;
            let b = LinkUnspec::new_with_index(idx);
            let msg = if up { b.up() } else { b.down() }.build();
            h.link().set(msg).execute().await.map_err(|e| {
                KernelError::netlink(format!("set {name} {}", if up { "up" } else { "down" }), e)
            })
        })
    }

    pub fn link_set_netns(&self, ns: &Ns, name: &str, to: &Ns) -> Result<()> {
        let h = self.handle(ns)?;
        // A target that is not there: iproute2's words for the argument.
        let fd = self.ns_fd(to).map_err(|e| match e {
            KernelError::NoSuchNetns(n) => KernelError::Other(format!(
                "Error: argument \"{n}\" is wrong: Invalid \"netns\" value"
            )),
            e => e,
        })?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, name, ns).await?;
            let msg = LinkUnspec::new_with_index(idx)
                .setns_by_fd(fd.as_raw_fd())
                .build();
            h.link().set(msg).execute().await.map_err(|e| {
                exists_or(
                    e,
                    format!("device \"{name}\" in {to}"),
                    &format!("move {name} to {to}"),
                )
            })
        })
    }

    /// `ip link set NAME master BR` (Some) or `nomaster` (None).
    pub fn link_set_master(&self, ns: &Ns, name: &str, master: Option<&str>) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, name, ns).await?;
            let b = LinkUnspec::new_with_index(idx);
            let msg = match master {
                Some(m) => b.controller(Self::index_of(&h, m, ns).await?),
                None => b.nocontroller(),
            }
            .build();
            h.link()
                .set(msg)
                .execute()
                .await
                .map_err(|e| KernelError::netlink(format!("set the master of {name}"), e))
        })
    }

    pub fn link_del(&self, ns: &Ns, name: &str) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, name, ns).await?;
            h.link()
                .del(idx)
                .execute()
                .await
                .map_err(|e| KernelError::netlink(format!("delete {name}"), e))
        })
    }

    /// Resolves a `netns X` value as iproute2's netns_get_fd, then get_integer: a path, a name
    /// in /run/netns, else a pid.
    fn netns_target(&self, value: &str) -> Result<ops::NetnsTarget> {
        let path = if value.contains('/') {
            std::path::PathBuf::from(value)
        } else {
            netns::path_of(value)
        };
        if let Ok(f) = File::open(&path) {
            return Ok(ops::NetnsTarget::Fd(f.into()));
        }
        // get_integer: C's notations (0x1 is pid 1).
        match crate::net::strtoul(value).and_then(|v| u32::try_from(v).ok()) {
            Some(pid) => Ok(ops::NetnsTarget::Pid(pid)),
            None => Err(KernelError::Other(format!(
                "Error: argument \"{value}\" is wrong: Invalid \"netns\" value"
            ))),
        }
    }

    /// The index of `master X`, refused as iproute2 refuses an unknown one.
    async fn master_index(h: &Handle, attrs: &LinkAttrs, ns: &Ns) -> Result<Option<u32>> {
        match &attrs.master {
            Some(Some(m)) => match Self::index_of(h, m, ns).await {
                Ok(i) => Ok(Some(i)),
                Err(KernelError::NoSuchLink { .. }) => Err(KernelError::Other(format!(
                    "Error: argument \"{m}\" is wrong: Device does not exist"
                ))),
                Err(e) => Err(e),
            },
            _ => Ok(None),
        }
    }

    /// `ip link add`, as iproute2 sends it.
    pub fn link_add(&self, ns: &Ns, new: &NewLink) -> Result<()> {
        let h = self.handle(ns)?;
        // The namespace fds stay open until the request is done: the kernel reads them then.
        let target = new
            .link
            .netns
            .as_deref()
            .map(|v| self.netns_target(v))
            .transpose()?;
        let peer_target = new
            .peer
            .as_ref()
            .and_then(|p| p.netns.as_deref())
            .map(|v| self.netns_target(v))
            .transpose()?;
        let what = new.link.name.clone().unwrap_or_default();
        let made = self.rt.block_on(async {
            let master = Self::master_index(&h, &new.link, ns).await?;
            let msg = ops::new_link_message(new, target.as_ref(), peer_target.as_ref(), master);
            ops::talk(&h, RouteNetlinkMessage::NewLink(msg), Change::Add)
                .await
                .map_err(|e| exists_or(e, format!("device \"{what}\""), &format!("create {what}")))
        });
        match made {
            // iproute2 says only "File exists": name the end that does (a veth's peer, say).
            Err(KernelError::Exists { ip, .. }) => Err(KernelError::Exists {
                what: self.existing_end(ns, new),
                ip,
            }),
            r => r,
        }
    }

    /// Which name of a new link is taken, in its namespace: the link's, or its peer's.
    fn existing_end(&self, ns: &Ns, new: &NewLink) -> String {
        // A namespace given by name (not a pid or a path) is one nslab can look in.
        let place = |v: &Option<String>| match v.as_deref() {
            None => Some(ns.clone()),
            Some(n) if netns::is_mounted(n) && !n.contains('/') => Some(Ns::Named(n.to_string())),
            Some(_) => None,
        };
        let ends = std::iter::once(&new.link).chain(new.peer.as_ref());
        for end in ends {
            if let (Some(name), Some(at)) = (end.name.as_deref(), place(&end.netns))
                && self.link(&at, name).is_ok()
            {
                return match at {
                    Ns::Root if *ns == Ns::Root => format!("device \"{name}\""),
                    _ => format!("device \"{name}\" in {at}"),
                };
            }
        }
        format!(
            "device \"{}\"",
            new.link.name.as_deref().unwrap_or_default()
        )
    }

    /// `ip link set DEV ...`: every change in one message, as iproute2 sends it.
    pub fn link_set(&self, ns: &Ns, dev: &str, attrs: &LinkAttrs) -> Result<()> {
        let h = self.handle(ns)?;
        let target = attrs
            .netns
            .as_deref()
            .map(|v| self.netns_target(v))
            .transpose()?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, dev, ns).await?;
            let master = Self::master_index(&h, attrs, ns).await?;
            let msg = ops::link_message(idx, attrs, target.as_ref(), master);
            ops::talk(&h, RouteNetlinkMessage::NewLink(msg), Change::Set)
                .await
                .map_err(|e| {
                    exists_or(
                        e,
                        format!("device \"{}\"", attrs.name.as_deref().unwrap_or(dev)),
                        &format!("change {dev}"),
                    )
                })
        })
    }

    /// `ip link del DEV [type T]`.
    pub fn link_delete(&self, ns: &Ns, dev: &str, kind: Option<&str>) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, dev, ns).await?;
            let mut msg = ops::link_message(idx, &LinkAttrs::default(), None, None);
            if let Some(k) = kind {
                msg.attributes
                    .push(rtnetlink::packet_route::link::LinkAttribute::LinkInfo(
                        vec![rtnetlink::packet_route::link::LinkInfo::Kind(
                            rtnetlink::packet_route::link::InfoKind::from(k),
                        )],
                    ));
            }
            ops::talk(&h, RouteNetlinkMessage::DelLink(msg), Change::Del)
                .await
                .map_err(|e| KernelError::netlink(format!("delete {dev}"), e))
        })
    }

    /// `ip address add|change|replace|del ... dev DEV`, as iproute2 sends it.
    pub fn addr_change(&self, ns: &Ns, dev: &str, change: Change, req: &AddrReq) -> Result<()> {
        let h = self.handle(ns)?;
        let what = match req.local {
            Some(l) => format!("{l}/{}", req.prefix_len),
            None => "the address".into(),
        };
        self.rt.block_on(async {
            let idx = Self::index_of(&h, dev, ns).await?;
            let msg = ops::addr_message(idx, req);
            let m = if change == Change::Del {
                RouteNetlinkMessage::DelAddress(msg)
            } else {
                RouteNetlinkMessage::NewAddress(msg)
            };
            ops::talk(&h, m, change).await.map_err(|e| {
                exists_or(
                    e,
                    format!("address {what} on {dev}"),
                    &format!("address {what} on {dev}"),
                )
            })
        })
    }

    /// `ip route add|change|replace|append|prepend|del ...`, as iproute2 sends it.
    pub fn route_change(
        &self,
        ns: &Ns,
        change: Change,
        dev: Option<&str>,
        req: &RouteReq,
    ) -> Result<()> {
        let h = self.handle(ns)?;
        let what = match req.dest {
            Some(d) => format!("{d}/{}", req.dst_len),
            None if req.dst_len == 0 => "default".into(),
            None => "route".into(),
        };
        self.rt.block_on(async {
            let mut req = req.clone();
            if let Some(d) = dev {
                req.oif = Some(Self::index_of(&h, d, ns).await?);
            }
            let msg = ops::route_message(&req);
            let m = if change == Change::Del {
                RouteNetlinkMessage::DelRoute(msg)
            } else {
                RouteNetlinkMessage::NewRoute(msg)
            };
            ops::talk(&h, m, change).await.map_err(|e| match e {
                // ip's words, and what they mean here.
                rtnetlink::Error::NetlinkError(m)
                    if m.raw_code().abs() == nix::errno::Errno::ENETUNREACH as i32 =>
                {
                    KernelError::refused(
                        format!("route {what}: the gateway is not on any subnet of {ns}"),
                        &m,
                    )
                }
                rtnetlink::Error::NetlinkError(m)
                    if m.raw_code().abs() == nix::errno::Errno::ESRCH as i32 =>
                {
                    KernelError::refused(format!("route {what}: there is no such route"), &m)
                }
                e => exists_or(e, format!("route {what}"), &format!("route {what}")),
            })
        })
    }

    // ---- addresses and routes ----

    pub fn addr_add(&self, ns: &Ns, dev: &str, cidr: Cidr) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, dev, ns).await?;
            h.address()
                .add(idx, cidr.addr, cidr.prefix)
                .execute()
                .await
                .map_err(|e| {
                    exists_or(
                        e,
                        format!("address {cidr} on {dev}"),
                        &format!("add {cidr} to {dev}"),
                    )
                })
        })
    }

    pub fn addr_del(&self, ns: &Ns, dev: &str, cidr: Cidr) -> Result<()> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let idx = Self::index_of(&h, dev, ns).await?;
            let mut addrs = h.address().get().set_link_index_filter(idx).execute();
            while let Some(msg) = addrs
                .try_next()
                .await
                .map_err(|e| KernelError::netlink("list addresses", e))?
            {
                if snapshot::addr_of(&msg) == Some(cidr) {
                    return h
                        .address()
                        .del(msg)
                        .execute()
                        .await
                        .map_err(|e| KernelError::netlink(format!("delete {cidr}"), e));
                }
            }
            Ok(())
        })
    }

    // ---- sysctl ----

    /// The file of a network sysctl, from either spelling procps takes
    /// ([`crate::net::sysctl_file`]): `net.ipv4.conf.veth0/5.forwarding` is
    /// /proc/sys/net/ipv4/conf/veth0.5/forwarding.
    fn sysctl_path(key: &str) -> Result<String> {
        let file = crate::net::sysctl_file(key);
        let parts: Vec<&str> = file.split('/').collect();
        if parts.len() < 2
            || parts[0] != "net"
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(KernelError::Other(format!(
                "sysctl: '{key}' is not a network sysctl"
            )));
        }
        Ok(format!("/proc/sys/{file}"))
    }

    /// Reads a sysctl inside a namespace: /proc/sys/net shows the namespace of the thread that
    /// opens it.
    pub fn sysctl_read(&self, ns: &Ns, key: &str) -> Result<String> {
        let path = Self::sysctl_path(key)?;
        let key = key.to_string();
        netns::in_netns(&self.ns_fd(ns)?, move || {
            std::fs::read_to_string(&path)
                .map(|v| v.trim().to_string())
                .map_err(|e| KernelError::io(format!("sysctl: cannot read {key}"), e))
        })
    }

    pub fn sysctl_write(&self, ns: &Ns, key: &str, value: &str) -> Result<()> {
        let path = Self::sysctl_path(key)?;
        let (key, value) = (key.to_string(), value.to_string());
        netns::in_netns(&self.ns_fd(ns)?, move || {
            std::fs::write(&path, format!("{value}\n"))
                .map_err(|e| KernelError::io(format!("sysctl: setting key \"{key}\""), e))
        })
    }

    /// procps sysctl's `-w KEY=VALUE` of one key in `ns` (WriteSetting in sysctl.c, procps
    /// 4.0.2), or the shell's `echo VALUE > /proc/sys/...` (`procps` None). sysctl first stats
    /// the file: a key that does not exist fails (`cannot stat`), unless `ignore_unknown`
    /// (-e); a file whose mode lets nobody write it (`tcp_available_congestion_control`), or a
    /// directory, is passed over with a warning and no failure. Then VALUE and a newline are
    /// written; the kernel's refusal (EINVAL) fails, -e or not.
    pub fn sysctl_set(
        &self,
        ns: &Ns,
        key: &str,
        value: &str,
        procps: Option<bool>,
    ) -> Result<SysctlSet> {
        use std::os::unix::fs::PermissionsExt;
        let path = Self::sysctl_path(key)?;
        let (key, value) = (crate::net::sysctl_key(key), value.to_string());
        netns::in_netns(&self.ns_fd(ns)?, move || {
            if let Some(ignore_unknown) = procps {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(_) if ignore_unknown => return Ok(SysctlSet::PassedOver),
                    Err(e) => {
                        return Err(KernelError::io(format!("sysctl: cannot stat {path}"), e));
                    }
                };
                if meta.permissions().mode() & 0o200 == 0 || meta.is_dir() {
                    return Ok(SysctlSet::PassedOver);
                }
            }
            match std::fs::write(&path, format!("{value}\n")) {
                Ok(()) => Ok(SysctlSet::Written),
                Err(e) if procps == Some(true) && e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(SysctlSet::PassedOver)
                }
                Err(e) => Err(KernelError::io(format!("sysctl: setting key \"{key}\""), e)),
            }
        })
    }

    // ---- state ----

    /// Links, addresses and main-table IPv4 routes of one namespace, veth peers resolved.
    pub fn snapshot(&self, ns: &Ns) -> Result<Snapshot> {
        let h = self.handle(ns)?;
        let mut snap = self.rt.block_on(snapshot::dump(&h, ns))?;
        self.resolve_peers(&h, &mut snap)?;
        Ok(snap)
    }

    /// The IPv6 routes of a namespace (the snapshot holds the IPv4 ones), every table.
    pub fn routes6(&self, snap: &Snapshot) -> Result<Vec<Route>> {
        let h = self.handle(&snap.ns)?;
        self.rt
            .block_on(snapshot::routes(&h, &snap.ns, true, &|i| snap.name_of(i)))
    }

    /// The neighbour (ARP and NDP) entries of a namespace.
    pub fn neighbours(&self, snap: &Snapshot) -> Result<Vec<Neigh>> {
        let h = self.handle(&snap.ns)?;
        self.rt
            .block_on(snapshot::neighbours(&h, &snap.ns, &|i| snap.name_of(i)))
    }

    /// The policy routing rules of a namespace, IPv4 then IPv6 (`ip rule; ip -6 rule`).
    pub fn rules(&self, ns: &Ns) -> Result<Vec<Rule>> {
        let h = self.handle(ns)?;
        let all = self.rt.block_on(rules::dump(&h, ns))?;
        Ok(all.into_iter().map(|(r, _)| r).collect())
    }

    /// Deletes the rules of a namespace that are `rule` in every field, as the kernel dumped
    /// them (so that a rule that differs in anything, the preference included, stays).
    /// Returns how many went.
    pub fn rule_del(&self, ns: &Ns, rule: &Rule) -> Result<usize> {
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let mut n = 0;
            for (r, m) in rules::dump(&h, ns).await? {
                if r != *rule {
                    continue;
                }
                h.rule()
                    .del(m)
                    .execute()
                    .await
                    .map_err(|e| KernelError::netlink(format!("delete the rule {rule}"), e))?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// The bridge forwarding entries of a namespace.
    pub fn fdb(&self, snap: &Snapshot) -> Result<Vec<FdbEntry>> {
        let h = self.handle(&snap.ns)?;
        self.rt
            .block_on(snapshot::fdb(&h, &snap.ns, &|i| snap.name_of(i)))
    }

    /// The state of a namespace that no name holds, only a process (`lsns` shows it). It is
    /// labelled `pid PID`; the connection is closed afterwards so as not to keep it alive.
    pub fn snapshot_of_pid(&self, pid: u32) -> Result<Snapshot> {
        let fd: OwnedFd = File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| KernelError::io(format!("open /proc/{pid}/ns/net"), e))?
            .into();
        let h = self.connect(&fd)?;
        let label = Ns::Named(format!("pid {pid}"));
        let mut snap = self.rt.block_on(snapshot::dump(&h, &label))?;
        self.resolve_peers(&h, &mut snap)?;
        drop(h);
        self.drain();
        Ok(snap)
    }

    /// A veth whose peer is in another namespace reports the peer's ifindex and an nsid local to
    /// this namespace; find which namespace that nsid is, then the peer's name there.
    fn resolve_peers(&self, h: &Handle, snap: &mut Snapshot) -> Result<()> {
        let wanted: Vec<(usize, i32, u32)> = snap
            .links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                l.peer_nsid
                    .and_then(|id| l.peer.as_ref().map(|p| (i, id, p.index)))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Ask about one candidate namespace at a time, and stop as soon as every nsid is known:
        // most peers sit in the root namespace, which is asked first, and /run/netns is read
        // only when the root namespace was not the answer (a star of a thousand namespaces
        // would otherwise read the folder once per namespace dumped).
        let mut missing: std::collections::HashSet<i32> = wanted.iter().map(|w| w.1).collect();
        let mut by_nsid: HashMap<i32, Ns> = HashMap::new();
        let named = std::iter::once_with(netns::list)
            .flatten()
            .filter(|n| netns::is_mounted(n))
            .map(Ns::Named);
        let mut candidates = std::iter::once(Ns::Root).chain(named);
        // (Test before taking the next candidate: taking it is what reads the folder.)
        while !missing.is_empty() {
            let Some(c) = candidates.next() else { break };
            if c == snap.ns {
                continue;
            }
            let Ok(fd) = self.ns_fd(&c) else { continue };
            if let Some(id) = self.rt.block_on(snapshot::nsid_of(h, &fd))? {
                missing.remove(&id);
                by_nsid.insert(id, c);
            }
        }
        for (i, nsid, index) in wanted {
            let Some(peer_ns) = by_nsid.get(&nsid) else {
                continue;
            };
            let ph = self.handle(peer_ns)?;
            let name = self.rt.block_on(snapshot::link_name(&ph, index))?;
            if let Some(p) = snap.links[i].peer.as_mut() {
                p.ns = Some(peer_ns.clone());
                p.name = name;
            }
        }
        Ok(())
    }

    /// One probe (a marked ICMP echo) from inside `ns`, waiting its whole `timeout`.
    pub fn ping(&self, ns: &Ns, addr: Ipv4Addr, timeout: Duration) -> Result<PingOutcome> {
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, move || ping::echo(addr, timeout, None))
    }

    /// Whether a namespace hands every packet on in the same breath as it receives it, so
    /// that a probe through it is answered at once or not at all (see [`ping::burst`]): its
    /// links are of kinds the kernel passes packets through in its receive path (not a NIC,
    /// whose replies come from the wire, nor tun, wireguard or ifb, which queue them for a
    /// program or a worker), none has a queueing discipline that may hold packets back
    /// (netem, tbf, htb...), no veth leads out of `scope` (the namespaces looked at), and
    /// nothing in it answers ARP by proxy (proxy replies wait `proxy_delay`).
    pub fn passes_at_once(&self, snap: &Snapshot, scope: &[Ns]) -> bool {
        const KINDS: &[&str] = &[
            "loopback",
            "veth",
            "bridge",
            "dummy",
            "vlan",
            "macvlan",
            "ipvlan",
            "vxlan",
            "geneve",
            "gre",
            "gretap",
            "ip6gre",
            "ip6gretap",
            "ipip",
            "sit",
            "ip6tnl",
            "vrf",
            "bond",
        ];
        const QDISCS: &[&str] = &[
            "noqueue",
            "noop",
            "pfifo_fast",
            "pfifo",
            "bfifo",
            "fq_codel",
        ];
        let links_ok = snap.links.iter().all(|l| {
            let peer_inside = l.peer_nsid.is_none()
                || l.peer
                    .as_ref()
                    .and_then(|p| p.ns.as_ref())
                    .is_some_and(|n| scope.contains(n));
            l.kind.as_deref().is_some_and(|k| KINDS.contains(&k))
                && l.qdisc.as_deref().is_none_or(|q| QDISCS.contains(&q))
                && peer_inside
        });
        links_ok && !self.holds_packets(&snap.ns).unwrap_or(true)
    }

    /// Whether any of `namespaces` may answer late (see [`Self::holds_packets`]): a ping there
    /// waits as long as iputils would.
    pub fn may_answer_late(&self, namespaces: &[Ns]) -> bool {
        namespaces
            .iter()
            .any(|ns| self.holds_packets(ns).unwrap_or(false))
    }

    /// Whether something in `ns` may answer or pass on a packet later than it receives it:
    /// proxy ARP (`proxy_arp` or `proxy_arp_pvlan` on any interface, or an `ip neigh add
    /// proxy` entry), or a netfilter queue that hands packets to a program (`-j NFQUEUE` with
    /// a listener).
    fn holds_packets(&self, ns: &Ns) -> Result<bool> {
        let fd = self.ns_fd(ns)?;
        let by_proc = netns::in_netns(&fd, || {
            // /proc/sys/net and /proc/thread-self/net show the namespace of the thread that
            // reads them.
            let dir = std::fs::read_dir("/proc/sys/net/ipv4/conf")
                .map_err(|e| KernelError::io("read /proc/sys/net/ipv4/conf", e))?;
            let proxy = dir.flatten().any(|d| {
                ["proxy_arp", "proxy_arp_pvlan"].iter().any(|f| {
                    std::fs::read_to_string(d.path().join(f)).is_ok_and(|v| v.trim() != "0")
                })
            });
            let queues = std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue")
                .is_ok_and(|q| !q.trim().is_empty());
            Ok(proxy || queues)
        })?;
        if by_proc {
            return Ok(true);
        }
        let h = self.handle(ns)?;
        self.rt.block_on(async {
            let mut entries = h.neighbours().get().proxies().execute();
            match entries.try_next().await {
                Ok(first) => Ok(first.is_some()),
                Err(e) => Err(KernelError::netlink(
                    format!("dump proxy neighbours of {ns}"),
                    e,
                )),
            }
        })
    }

    /// A lesson's ping, performed: `count` echoes as iputils sends them (see [`ping::burst`]).
    pub fn ping_burst(&self, ns: &Ns, addr: Ipv4Addr, count: u32, t: Timing) -> Result<Burst> {
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, move || {
            ping::burst(
                addr, count, t.timeout, t.gap, t.interval, t.deadline, false, None,
            )
        })
    }

    /// Several probes at once, each from its own namespace: a round of checks waits for the
    /// slowest ping, not for the sum of them.
    ///
    /// With `quiet`, `(after, nothing_pending)`, the probes may end before their timeout, once
    /// no reply can come any more. The kernel handles an echo request, the neighbour lookups it
    /// needs and the reply in the softirq that runs when the request is sent, packet after
    /// packet, unless something holds it: a neighbour being resolved, a queue, a program. So
    /// from `after` on, this thread watches the machine's receive counters: when no CPU holds an
    /// unprocessed packet and none was processed for a millisecond, and the caller's
    /// `nothing_pending` says nothing in the lab holds one either, whatever could answer has
    /// answered. Replies in a lab of veths come in microseconds: 0.28 ms at worst among 532
    /// probes of six `--mutate` runs at once on 2 cores.
    pub fn ping_many(
        &self,
        targets: &[(Ns, Ipv4Addr)],
        timeout: Duration,
        quiet: Option<(Duration, &dyn Fn() -> bool)>,
    ) -> Vec<Result<PingOutcome>> {
        use std::sync::Arc;
        use std::sync::atomic::Ordering;
        let fds: Vec<Result<OwnedFd>> = targets.iter().map(|(ns, _)| self.ns_fd(ns)).collect();
        let watch = Arc::new(ping::Watch::default());
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let running: Vec<_> = fds
                .iter()
                .zip(targets)
                .map(|(fd, (_, addr))| {
                    let addr = *addr;
                    let watch = quiet.is_some().then(|| watch.clone());
                    let done_tx = done_tx.clone();
                    s.spawn(move || {
                        let r = match fd {
                            Ok(fd) => netns::in_netns(fd, move || ping::echo(addr, timeout, watch)),
                            Err(e) => Err(KernelError::Other(e.to_string())),
                        };
                        let _ = done_tx.send(());
                        r
                    })
                })
                .collect();
            if let Some((after, nothing_pending)) = quiet {
                // The time runs from the last request out: a thread may start late.
                let start = std::time::Instant::now();
                let mut finished = 0;
                let mut all_out: Option<std::time::Instant> = None;
                let mut last: Option<ping::Softnet> = None;
                while finished < running.len() && start.elapsed() < timeout + after {
                    // A probe that ends wakes this thread at once; else it looks every ms.
                    if done.recv_timeout(Duration::from_millis(1)).is_ok() {
                        finished += 1;
                        continue;
                    }
                    // (A probe that failed before sending never counts itself: the others
                    // then wait their full time.)
                    let out = watch.sent.load(Ordering::Acquire) >= running.len();
                    let Some(t) = all_out.or_else(|| out.then(std::time::Instant::now)) else {
                        continue;
                    };
                    all_out = Some(t);
                    if t.elapsed() < after {
                        continue;
                    }
                    let now = ping::softnet();
                    let still = matches!((last, now), (Some(a), Some(b))
                        if b.backlog == 0 && a.processed == b.processed);
                    if still && nothing_pending() {
                        watch.stop.store(true, Ordering::Release);
                        break;
                    }
                    last = now;
                }
            }
            running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(KernelError::Other("a ping thread panicked".into()))
                    })
                })
                .collect()
        })
    }

    /// How long a namespace's ARP waits before asking again for an address it could not
    /// resolve (`net.ipv4.neigh.DEV.retrans_time_ms`, 1000 unless someone changed it).
    pub fn arp_retry(&self, ns: &Ns, dev: &str) -> Result<Duration> {
        let fd = self.ns_fd(ns)?;
        let path = format!("/proc/sys/net/ipv4/neigh/{dev}/retrans_time_ms");
        netns::in_netns(&fd, move || {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| KernelError::io(format!("read {path}"), e))?;
            text.trim()
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| KernelError::Other(format!("{path}: not a number: {text}")))
        })
    }

    /// Subscribes to the new entries of a namespace's connection-tracking table (see
    /// [`conntrack::NewEntries`]); `None` where the machine tracks no connections.
    pub fn conntrack_watch(&self, ns: &Ns) -> Result<Option<conntrack::NewEntries>> {
        if !conntrack::available() {
            return Ok(None);
        }
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, conntrack::watch_new).map(Some)
    }

    /// How many connections a namespace tracks now.
    pub fn conntrack_count(&self, ns: &Ns) -> Result<u64> {
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, || Ok(conntrack::count_here().unwrap_or(0)))
    }

    /// The entries a subscription saw appear (only the ICMP ones that carry nslab's own echo
    /// id, when `probes_only`).
    pub fn conntrack_new(
        &self,
        watch: &conntrack::NewEntries,
        probes_only: bool,
    ) -> Result<Vec<conntrack::Entry>> {
        Ok(watch
            .take()?
            .into_iter()
            .filter(|e| !probes_only || of_probe(e))
            .collect())
    }

    /// The IPv4 entries of a namespace's connection-tracking table (only the ICMP ones that
    /// carry nslab's own echo id, when `probes_only`). Empty where the machine tracks no
    /// connections.
    pub fn conntrack(&self, ns: &Ns, probes_only: bool) -> Result<Vec<conntrack::Entry>> {
        if !conntrack::available() {
            return Ok(Vec::new());
        }
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, move || {
            // A dump walks the machine's whole table (about 9 ms here, whatever the namespace
            // holds): skip it where the namespace tracks nothing.
            if conntrack::count_here() == Some(0) {
                return Ok(Vec::new());
            }
            Ok(conntrack::entries()?
                .into_iter()
                .filter(|e| !probes_only || of_probe(e))
                .collect())
        })
    }

    /// Deletes connection-tracking entries of a namespace (what a probe created).
    pub fn conntrack_del(&self, ns: &Ns, entries: Vec<conntrack::Entry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let fd = self.ns_fd(ns)?;
        netns::in_netns(&fd, move || conntrack::delete(&entries))
    }

    /// Whether `ns`'s route to `addr` carries a redirect (`ip route get ADDR` shows `cache
    /// <redirected>`): an ICMP redirect a router sent for that address was accepted, and the
    /// namespace's packets to it go by the new gateway, for five minutes.
    pub fn route_redirected(&self, ns: &Ns, addr: Ipv4Addr) -> Result<bool> {
        let h = self.handle(ns)?;
        self.rt
            .block_on(ops::redirected(&h, addr))
            .map_err(|e| KernelError::netlink(format!("ip route get {addr}"), e))
    }

    /// Forgets the IPv4 route exceptions of `ns`, the redirects and path MTUs it learned, as
    /// `ip route flush cache` does (it writes /proc/sys/net/ipv4/route/flush). The kernel
    /// lists no redirect it has not used yet and removes none by itself: only this flush
    /// takes one back.
    pub fn route_cache_flush(&self, ns: &Ns) -> Result<()> {
        self.sysctl_write(ns, "net.ipv4.route.flush", "-1")
    }

    /// Removes a neighbour entry (what a probe created).
    pub fn neigh_del(&self, snap: &Snapshot, n: &Neigh) -> Result<()> {
        let Some(m) = neigh_message(snap, n) else {
            return Ok(());
        };
        self.rt
            .block_on(ops::talk(
                &self.handle(&snap.ns)?,
                RouteNetlinkMessage::DelNeighbour(m),
                Change::Del,
            ))
            .map_err(|e| {
                KernelError::netlink(format!("delete the neighbour entry of {}", n.addr), e)
            })
    }

    /// Puts a neighbour entry back as it was (`ip neigh replace ADDR lladdr MAC nud STATE dev
    /// DEV`): what a probe changed in one that was there before, its MAC (a broadcast ARP
    /// request teaches every host on the segment the sender's) or its state (a stale entry
    /// the probe used is being confirmed: `delay`).
    pub fn neigh_restore(&self, snap: &Snapshot, n: &Neigh) -> Result<()> {
        use rtnetlink::packet_route::neighbour::{NeighbourAttribute, NeighbourState};
        let (Some(mut m), Some(mac)) = (neigh_message(snap, n), n.lladdr.as_ref()) else {
            return Ok(());
        };
        m.header.state = match n.state.as_str() {
            "reachable" => NeighbourState::Reachable,
            _ => NeighbourState::Stale,
        };
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        self.rt
            .block_on(ops::talk(
                &self.handle(&snap.ns)?,
                RouteNetlinkMessage::NewNeighbour(m),
                Change::Replace,
            ))
            .map_err(|e| {
                KernelError::netlink(format!("restore the neighbour entry of {}", n.addr), e)
            })
    }

    /// Removes a forwarding entry a bridge or a VXLAN device learned (what a probe taught it).
    pub fn fdb_del(&self, snap: &Snapshot, e: &FdbEntry) -> Result<()> {
        use rtnetlink::packet_route::neighbour::{
            NeighbourAttribute, NeighbourFlags, NeighbourMessage,
        };
        let h = self.handle(&snap.ns)?;
        let Some(index) = snap.link(&e.dev).map(|l| l.index) else {
            return Ok(());
        };
        let mut m = NeighbourMessage::default();
        m.header.ifindex = index;
        m.header.family = rtnetlink::packet_route::AddressFamily::Bridge;
        // A bridge's entry is its master's; a VXLAN device's, its own (`bridge fdb del ...
        // self`).
        m.header.flags = if e.master.is_some() {
            NeighbourFlags::Controller
        } else {
            NeighbourFlags::Own
        };
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(e.mac.0.to_vec()));
        self.rt
            .block_on(ops::talk(
                &h,
                RouteNetlinkMessage::DelNeighbour(m),
                Change::Del,
            ))
            .map_err(|er| KernelError::netlink(format!("forget {} on {}", e.mac, e.dev), er))
    }

    /// Runs a command line through `/bin/sh -c` inside `ns`, at most `timeout` (or
    /// `NSLAB_LINE_TIMEOUT` seconds, when that is set). The line runs in its own process group
    /// without a terminal, and whatever it leaves running ends with this kernel's run (see
    /// [`lines`]).
    pub fn shell(&self, ns: &Ns, line: &str, timeout: Duration) -> Result<ShellOutput> {
        let netns = match ns {
            Ns::Root => None,
            Ns::Named(n) => {
                // The same error as every other operation on a missing namespace.
                netns::open(n)?;
                Some(n.as_str())
            }
        };
        let timeout = lines::timeout_override().unwrap_or(timeout);
        let mut slot = self.lines.borrow_mut();
        let runner = match slot.as_mut() {
            Some(r) if r.alive() => r,
            _ => {
                *slot = None;
                // This very binary: inside a sandbox or a jail, it is the copy there.
                let exe = std::env::current_exe()
                    .map_err(|e| KernelError::io("find my own binary", e))?;
                slot.insert(lines::Runner::start(&exe, &self.root)?)
            }
        };
        runner.run(line, netns, timeout)
    }

    /// A watcher of the root namespace, every named namespace there is, and /run/netns; with the
    /// namespaces it covers, so that the caller can tell when the set changed and watch again.
    pub fn watch_all(&self) -> Result<(Watcher, Watched)> {
        let named = self.live_netns();
        let mut ns = vec![Ns::Root];
        ns.extend(named.iter().map(|(n, _)| Ns::Named(n.clone())));
        Ok((self.watch(&ns)?, named))
    }

    /// Whether the named namespaces differ from `watched` (from [`Kernel::watch_all`]): a name
    /// that came or went, or one deleted and made again (`ip netns del x; ip netns add x` in
    /// one breath), which is another namespace: a watcher left on the old one would keep it
    /// (and its veth pair) alive and hear nothing of the new one.
    pub fn watched_changed(&self, watched: &Watched) -> bool {
        self.live_netns() != *watched
    }

    /// The named namespaces there are now, each with its inode (see [`Watched`]).
    pub fn live_netns(&self) -> Watched {
        self.netns_list()
            .into_iter()
            .filter(|n| self.netns_exists(n))
            .map(|n| {
                let inode = netns::inode_of(&netns::path_of(&n));
                (n, inode)
            })
            .collect()
    }

    /// `Ip: OutNoRoutes` of a namespace: how many times something there tried to send and
    /// found no route (iputils' ping counts here when it says "Network is unreachable").
    pub fn out_no_routes(&self, ns: &Ns) -> Option<u64> {
        let fd = self.ns_fd(ns).ok()?;
        netns::in_netns(&fd, || {
            let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")
                .map_err(|e| KernelError::io("read /proc/net/snmp", e))?;
            let mut lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
            let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
                return Err(KernelError::Other("no Ip: lines in /proc/net/snmp".into()));
            };
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == "OutNoRoutes")
                .and_then(|(_, v)| v.parse().ok())
                .ok_or_else(|| KernelError::Other("no OutNoRoutes in /proc/net/snmp".into()))
        })
        .ok()
    }

    /// Starts watching the echo requests and replies of these namespaces (those that exist),
    /// into `log`.
    pub fn watch_pings(
        &self,
        namespaces: &[Ns],
        log: std::sync::Arc<std::sync::Mutex<pingwatch::PingLog>>,
    ) -> Result<pingwatch::PingWatch> {
        let fds = namespaces
            .iter()
            .filter_map(|ns| self.ns_fd(ns).ok().map(|fd| (ns.clone(), fd)))
            .collect();
        pingwatch::PingWatch::start(fds, log)
    }

    /// Link events (with `six`, IPv6 address events too) of the given namespaces that exist, to
    /// wait on from the calling thread (see [`Events`]).
    pub fn events(&self, namespaces: &[Ns], six: bool) -> Events {
        let fds = namespaces
            .iter()
            .filter_map(|ns| self.ns_fd(ns).ok())
            .collect();
        Events::new(fds, six)
    }

    /// A watcher of link, address and route events in the given namespaces, and of /run/netns.
    pub fn watch(&self, namespaces: &[Ns]) -> Result<Watcher> {
        let mut fds = Vec::new();
        for ns in namespaces {
            if let Ok(fd) = self.ns_fd(ns) {
                fds.push(fd);
            }
        }
        Watcher::new(fds)
    }
}

/// The output of a shell line.
#[derive(Debug, Clone)]
pub struct ShellOutput {
    /// The shell's exit code; none when a signal ended it.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    /// Bytes of output beyond the first [`lines::OUTPUT_CAP`] of each stream: counted, dropped.
    pub dropped: u64,
    /// How long the line was allowed to run.
    pub limit: Duration,
    /// The line's shell, whose process group holds what the line left running.
    pub pid: i32,
    /// The signal that ended the shell, if one did.
    pub signal: Option<i32>,
}

impl ShellOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0) && !self.timed_out
    }

    /// "N bytes of output dropped", when some were.
    pub fn dropped_note(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "{} bytes of output dropped (nslab keeps the first {} KiB of each stream)",
                self.dropped,
                lines::OUTPUT_CAP / 1024
            )
        })
    }
}

/// The kernel's message in an error's extended ACK (NLMSGERR_ATTR_MSG), if it sent one. The
/// sockets ask for capped ACKs, so the attributes follow the 16 bytes of the request's header.
pub(crate) fn kernel_says(m: &rtnetlink::packet_core::ErrorMessage) -> Option<String> {
    const HEADER: usize = 16;
    const ATTR_MSG: u16 = 1;
    let mut rest = m.header.get(HEADER..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        if kind == ATTR_MSG {
            let text = &rest[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

fn exists_or(e: rtnetlink::Error, what: String, context: &str) -> KernelError {
    match &e {
        rtnetlink::Error::NetlinkError(m)
            if m.raw_code().abs() == nix::errno::Errno::EEXIST as i32 =>
        {
            KernelError::Exists {
                ip: ip_says(kernel_says(m).as_deref(), &m.to_io()),
                what,
            }
        }
        _ => KernelError::netlink(context, e),
    }
}

/// Whether a tracked connection is one of nslab's probes' (by the echo id it carries).
fn of_probe(e: &conntrack::Entry) -> bool {
    e.icmp.is_some_and(|(i, _)| ping::is_probe_ident(i))
}

/// The message that names neighbour entry `n` of `snap` (its link and address), or none when
/// its link is gone.
fn neigh_message(
    snap: &Snapshot,
    n: &Neigh,
) -> Option<rtnetlink::packet_route::neighbour::NeighbourMessage> {
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourMessage,
    };
    let mut m = NeighbourMessage::default();
    m.header.ifindex = snap.link(&n.dev)?.index;
    let (family, addr) = match n.addr {
        std::net::IpAddr::V4(a) => (AddressFamily::Inet, NeighbourAddress::Inet(a)),
        std::net::IpAddr::V6(a) => (AddressFamily::Inet6, NeighbourAddress::Inet6(a)),
    };
    m.header.family = family;
    m.attributes.push(NeighbourAttribute::Destination(addr));
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::KernelError;

    #[test]
    fn the_kernels_refusal_is_worded_as_ip_words_it() {
        let e = KernelError::io(
            "ip address add 10.0.0.1/33 dev x0",
            std::io::Error::from_raw_os_error(22),
        );
        assert_eq!(
            e.to_string(),
            "ip address add 10.0.0.1/33 dev x0: Invalid argument"
        );
        // glibc's words, as ip prints them (not "Math result not representable").
        let e = KernelError::io("x", std::io::Error::from_raw_os_error(34));
        assert_eq!(e.to_string(), "x: Numerical result out of range");
        let other = KernelError::io("read", std::io::Error::other("cut short"));
        assert_eq!(other.to_string(), "read: cut short");
    }
}
