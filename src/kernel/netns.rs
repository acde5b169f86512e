//! Named network namespaces, compatible with iproute2 (ip/ipnetns.c), and running code inside one.

use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, statfs};

use super::KernelError;

pub const NETNS_RUN_DIR: &str = "/run/netns";

pub fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Runs `f` on a short-lived OS thread that has entered the network namespace `fd`.
///
/// Why a thread: `setns` switches only the calling thread, and a thread of the async runtime
/// must never be switched (later tasks on it would run in the wrong namespace). Sockets and
/// child processes created here stay in the namespace after the thread ends.
pub fn in_netns<T: Send + 'static>(
    fd: &OwnedFd,
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    let fd = fd
        .try_clone()
        .map_err(|e| KernelError::io("duplicate a namespace fd", e))?;
    std::thread::spawn(move || {
        setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::io("setns", e.into()))?;
        f()
    })
    .join()
    .map_err(|_| KernelError::Other("a namespace worker thread panicked".into()))?
}

/// The inode that identifies a namespace file (`/proc/PID/ns/net` or a bind mount of one).
pub fn inode_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

/// A `/run/netns` entry is a live namespace only once the bind mount is on it: `ip netns add`
/// creates the empty file first (and inotify sees that file before the mount lands).
pub fn is_mounted(name: &str) -> bool {
    statfs(&path_of(name)).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

pub fn open(name: &str) -> Result<OwnedFd, KernelError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(KernelError::NoSuchNetns(name.to_string()));
    }
    match File::open(path_of(name)) {
        Ok(f) if is_mounted(name) => Ok(f.into()),
        Ok(_) => Err(KernelError::NoSuchNetns(name.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(KernelError::NoSuchNetns(name.to_string()))
        }
        Err(e) => Err(KernelError::io(
            format!("open {}", path_of(name).display()),
            e,
        )),
    }
}

pub fn list() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(NETNS_RUN_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Prepares /run/netns as iproute2 does: the folder exists and is a shared mount, so that a
/// namespace mounted later shows in every mount namespace that shares it (ip netns exec's).
fn prepare_run_dir() -> Result<Flock<File>, KernelError> {
    fs::create_dir_all(NETNS_RUN_DIR).map_err(|e| KernelError::io("mkdir /run/netns", e))?;
    let dir = File::open(NETNS_RUN_DIR).map_err(|e| KernelError::io("open /run/netns", e))?;
    // The same lock iproute2 takes, so that two tools never race on the first mount.
    let lock = Flock::lock(dir, FlockArg::LockExclusive)
        .map_err(|(_, e)| KernelError::io("flock /run/netns", e.into()))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(
        None::<&str>,
        NETNS_RUN_DIR,
        Some("none"),
        shared,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then make it shared.
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| KernelError::io("bind-mount /run/netns", e.into()))?;
            mount(
                None::<&str>,
                NETNS_RUN_DIR,
                Some("none"),
                shared,
                None::<&str>,
            )
            .map_err(|e| KernelError::io("make /run/netns shared", e.into()))?;
        }
        Err(e) => return Err(KernelError::io("make /run/netns shared", e.into())),
    }
    Ok(lock)
}

/// `ip netns add NAME`: a new namespace, held by a bind mount on /run/netns/NAME.
pub fn add(name: &str) -> Result<(), KernelError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(KernelError::Other(format!("Invalid netns name \"{name}\"")));
    }
    let _lock = prepare_run_dir()?;
    let path = path_of(name);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KernelError::Exists {
                what: format!("namespace \"{name}\""),
                ip: format!(
                    "Cannot create namespace file \"{}\": File exists",
                    path.display()
                ),
            });
        }
        Err(e) => return Err(KernelError::io(format!("create {}", path.display()), e)),
    }
    let target = path.clone();
    // unshare on a thread of its own: only that thread moves into the new namespace, and it
    // dies afterwards, so nothing needs to setns back.
    let made = std::thread::spawn(move || -> Result<(), KernelError> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::io("unshare(CLONE_NEWNET)", e.into()))?;
        // /proc/self/ns/net would be the main thread's namespace, not this one's.
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| KernelError::io(format!("bind-mount onto {}", target.display()), e.into()))
    })
    .join()
    .map_err(|_| KernelError::Other("the namespace thread panicked".into()))?;
    if let Err(e) = made {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(())
}

/// `ip netns del NAME`: detach the bind mount and remove the file, as iproute2 does: one
/// `umount2(MNT_DETACH)`, then `unlink`. A name that holds two stacked mounts (`ip netns add`
/// and a `mount --bind` on top) loses the top one, and the unlink fails with EBUSY, as
/// `ip netns del` does on the kernel (see [`del_stack`] for reset's). The namespace itself dies
/// when nothing else holds it (a process, an open fd, a socket).
pub fn del(name: &str) -> Result<(), KernelError> {
    let path = path_of(name);
    if !path.exists() {
        return Err(KernelError::Os {
            context: format!("there is no namespace \"{name}\""),
            err: std::io::Error::from_raw_os_error(nix::errno::Errno::ENOENT as i32),
            ip: Some(format!(
                "Cannot remove namespace file \"{}\": No such file or directory",
                path.display()
            )),
        });
    }
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    fs::remove_file(&path).map_err(|e| KernelError::io(format!("remove {}", path.display()), e))
}

/// What [`del_stack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstacked {
    /// Every namespace mounted on the name was the caller's: all unmounted, the file removed.
    Removed { mounts: usize },
    /// The top `mounts` were the caller's and are unmounted; the namespace under them is not,
    /// and keeps the name.
    Uncovered { mounts: usize, under: (u64, u64) },
}

/// The identity of the namespace mounted on top of /run/netns/NAME: its inode, and its
/// inode's modification time in nanoseconds since the epoch (see `Kernel::netns_identity`).
pub fn identity(name: &str) -> Option<(u64, u64)> {
    if !is_mounted(name) {
        return None;
    }
    let m = fs::metadata(path_of(name)).ok()?;
    let stamp = u64::try_from(m.mtime())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(m.mtime_nsec()).ok()?)?;
    Some((m.ino(), stamp))
}

/// No name holds more stacked mounts than this in practice; a bound keeps a kernel that
/// unmounts nothing from looping.
const MAX_STACK: usize = 64;

/// Reset's delete: the namespaces mounted on /run/netns/NAME are taken down from the top, each
/// only if `ours` says its identity ([`identity`]) is the caller's, and the file is removed once
/// nothing is mounted on it. A namespace that is not the caller's stops it there, and keeps the
/// name. Before anything is unmounted, /run/netns must be writable (else the file could not be
/// removed afterwards, and the name would be left without its namespaces): a failure there
/// changes nothing.
pub fn del_stack(name: &str, ours: impl Fn((u64, u64)) -> bool) -> Result<Unstacked, KernelError> {
    let path = path_of(name);
    nix::unistd::access(NETNS_RUN_DIR, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| KernelError::io(NETNS_RUN_DIR, e.into()))?;
    let mut mounts = 0;
    while let Some(top) = identity(name) {
        if !ours(top) {
            return Ok(Unstacked::Uncovered { mounts, under: top });
        }
        if mounts == MAX_STACK {
            return Err(KernelError::Other(format!(
                "{}: more than {MAX_STACK} namespaces are mounted on it",
                path.display()
            )));
        }
        umount2(&path, MntFlags::MNT_DETACH)
            .map_err(|e| KernelError::io(format!("unmount {}", path.display()), e.into()))?;
        mounts += 1;
    }
    fs::remove_file(&path).map_err(|e| {
        let what = match mounts {
            0 => format!("remove {}", path.display()),
            n => format!(
                "{n} namespace{} unmounted from {}, but it could not be removed",
                if n == 1 { "" } else { "s" },
                path.display()
            ),
        };
        KernelError::io(what, e)
    })?;
    Ok(Unstacked::Removed { mounts })
}
