//! The jail of `nslab verify`: lessons come from strangers' pull requests, so every lesson runs
//! where it can harm nothing but itself, whoever runs nslab (root included).
//!
//! Three processes build it (all of them nslab):
//!
//! 1. the **worker** (`nslab verify --child N`, on the host) starts the next one and maps its
//!    user ids: as root, root inside is the unprivileged `nobody` (65534) outside. Only a
//!    process outside a new user namespace, privileged there, may map it to an id other than
//!    its own; and creating the namespace while still root is what Ubuntu's
//!    `apparmor_restrict_unprivileged_userns` allows.
//! 2. the **builder** (`nslab __jail -- ARGS`) enters a new user namespace (U1), waits for the
//!    mapping, becomes root in it, enters new mount, network, pid, UTS, IPC and cgroup
//!    namespaces, and builds the jail's root on a tmpfs: read-only bind mounts of the host's
//!    /usr, /bin, /sbin, /lib*, /etc and /opt; a /dev with the harmless devices; a fresh /sys (of
//!    the builder's network namespace, which stays empty); size-limited tmpfs on /tmp,
//!    /var/tmp, /run, /dev/shm and /root (the scratch home); the nslab binary at
//!    /.nslab/nslab. Then it starts:
//! 3. the **inner worker** (ARGS again), pid 1 of the jail's pid namespace, which mounts the
//!    jail's /proc, moves into the new root (pivot_root) and detaches the host's, then locks the
//!    jail ([`lock_mounts`]): it enters a user namespace nested in U1 (U2, root mapped to root)
//!    and new mount, network, UTS and IPC namespaces owned by U2, mounts the /sys of its new
//!    network namespace, and verifies the lesson there. Before the lock, it starts the line
//!    helper (see `lines::prestart`), which joins the locked namespaces: the inner worker and
//!    the helper, not dumpable and started in U1, are out of reach of the lines (U2's), which
//!    could otherwise trace them and forge the report.
//!
//! Why two user namespaces: root of U1 made the jail's mounts, in a mount namespace U1 owns, so
//! it could also undo them (`mount -o remount,bind,rw /etc`, then write the host's files that
//! root inside is allowed to outside: as an unprivileged user, that user's own). The kernel locks
//! every mount of a copy made for a less privileged user namespace: in U2's mount namespace no
//! mount can be unmounted on its own, nor lose a flag (read-only, nosuid, nodev, noexec). The
//! only mounts a lesson may unmount are its own and the jail's /sys, which shows below it the
//! /sys of U1's empty network namespace. No host /proc, /sys or /run/netns stays reachable.
//! Processes inside hold no capability outside the jail's U2 namespaces.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};

use super::sandbox::{self, SANDBOX_HELP};
use super::{KernelError, Result};

/// The hidden subcommand that runs [`build`] (the builder).
pub const SUBCOMMAND: &str = "__jail";

/// Where the builder makes the new root, in its own mount namespace: a folder every system has,
/// hidden by the tmpfs mounted on it. The inner worker moves into it.
const NEW_ROOT: &str = "/tmp";

/// The nslab binary inside the jail; its folder comes first on the jail's PATH.
const JAIL_BIN_DIR: &str = "/.nslab";

/// The scratch home inside the jail (root's, as /etc/passwd says).
const JAIL_HOME: &str = "/root";

/// Who root inside the jail is outside, when nslab runs as root: nobody.
const NOBODY: u32 = 65534;

/// How many more tasks than `Limits::processes` the jail's cgroup allows.
const PIDS_ROOM: u64 = 1024;

/// The jail's limits, handed from the worker to the builder and to the line helper.
pub const LIMITS_ENV: &str = "NSLAB_JAIL_LIMITS";

/// Host folders bound read-only into the jail (where they exist). Not /home, /root, /var, /srv,
/// /mnt, /media, /boot: nothing a lesson needs, and where secrets live.
const HOST_DIRS: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
];

/// Devices a lesson may use, bound from the host's /dev (a user namespace cannot make device
/// nodes). No /dev/tty: lesson lines have no terminal.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// What a lesson may use, at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory of the whole jail (cgroup v2 `memory.max`, where nslab can create a cgroup).
    pub memory: u64,
    /// Address space of each lesson process (RLIMIT_AS): the bound where there is no cgroup.
    pub address_space: u64,
    /// Processes and threads of the jail's user (RLIMIT_NPROC of lesson processes; the jail's
    /// cgroup, where there is one, gets `pids.max` of this plus room for nslab's own threads).
    pub processes: u64,
    /// Sizes of the jail's writable tmpfs: /tmp, /var/tmp, /run, /root (home), /dev/shm.
    pub tmp: u64,
    pub var_tmp: u64,
    pub run: u64,
    pub home: u64,
    pub shm: u64,
}

const MIB: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 1024 * MIB,
            address_space: 1024 * MIB,
            processes: 256,
            tmp: 128 * MIB,
            var_tmp: 32 * MIB,
            run: 16 * MIB,
            home: 32 * MIB,
            shm: 32 * MIB,
        }
    }
}

/// How to build the jail.
#[derive(Debug, Clone, Default)]
pub struct JailOptions {
    pub limits: Limits,
}

fn env_error(what: &str, e: impl std::fmt::Display) -> KernelError {
    KernelError::Other(format!("{what}: {e}"))
}

// ---- the worker, on the host ----

/// Runs this program again (same arguments) inside a fresh jail, as pid 1 of the jail, with
/// `input` on its standard input. Returns its exit code.
pub fn respawn_jailed(input: &[u8], opts: &JailOptions) -> Result<i32> {
    let exe = std::env::current_exe().map_err(|e| KernelError::io("find my own binary", e))?;
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| KernelError::io("socketpair for the jail", e))?;
    let limits = serde_json::to_string(&opts.limits).map_err(|e| env_error("limits", e))?;
    let (k, v) = sandbox::parent_env();
    let mut child = Command::new(&exe)
        .arg(SUBCOMMAND)
        .arg("--")
        .args(std::env::args_os().skip(1))
        .env(LIMITS_ENV, limits)
        .env(k, v)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .spawn()
        .map_err(|e| KernelError::io("start the jail's builder", e))?;
    // The builder says when its user namespace exists; then its ids are mapped from here.
    let mut byte = [0u8; 1];
    let ready = (&ours).read(&mut byte).is_ok_and(|n| n == 1);
    let mut cgroup = None;
    let prepared = if ready {
        map_ids(child.id()).and_then(|()| {
            cgroup = Cgroup::create(child.id(), &opts.limits);
            // Go, then the input (the inner worker reads it after the builder is done).
            (&ours)
                .write_all(b"g")
                .map_err(|e| KernelError::io("start the jail", e))
        })
    } else {
        Ok(())
    };
    if let Err(e) = &prepared {
        let _ = child.kill();
        let _ = child.wait();
        return Err(KernelError::Other(format!("{e}\n{SANDBOX_HELP}")));
    }
    if ready {
        // A jail that died early closes the socket: the write fails, and its exit code says why.
        let _ = (&ours).write_all(input);
    }
    let _ = ours.shutdown(std::net::Shutdown::Write);
    let status = child
        .wait()
        .map_err(|e| KernelError::io("wait for the jail", e))?;
    if let Some(c) = cgroup {
        c.remove();
    }
    Ok(status.code().unwrap_or(130))
}

/// Maps root in the builder's new user namespace to an unprivileged id outside: nobody when
/// this process is root (and nobody exists in its user namespace), else this process's own ids.
/// Supplementary groups cannot be added in there (setgroups is denied).
fn map_ids(pid: u32) -> Result<()> {
    let (uid, gid) = (Uid::effective(), Gid::effective());
    let (out_uid, out_gid) = if uid.is_root() && id_mapped("uid_map", NOBODY) {
        (NOBODY, NOBODY)
    } else {
        (uid.as_raw(), gid.as_raw())
    };
    let write = |file: &str, what: String| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, what).map_err(|e| KernelError::io(format!("write {path}"), e))
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {out_uid} 1\n"))?;
    write("gid_map", format!("0 {out_gid} 1\n"))
}

/// Whether `id` exists in this process's user namespace (`file` is uid_map or gid_map).
fn id_mapped(file: &str, id: u32) -> bool {
    std::fs::read_to_string(format!("/proc/self/{file}")).is_ok_and(|m| maps(&m, id))
}

/// Whether an id map (lines of `inside outside count`) has `id` inside.
fn maps(map: &str, id: u32) -> bool {
    map.lines().any(|l| {
        let v: Vec<u64> = l
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        v.len() == 3 && v[0] <= u64::from(id) && u64::from(id) < v[0] + v[2]
    })
}

/// A cgroup (v2) for one jail: its memory and number of processes, and a sure way to end every
/// process in it. Created only where this process may create one next to the root of the
/// hierarchy, with the memory and pids controllers enabled there (as root, on most systemd
/// machines); elsewhere the jail relies on rlimits.
struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    fn create(pid: u32, limits: &Limits) -> Option<Cgroup> {
        let root = cgroup2_mount()?;
        let controllers = std::fs::read_to_string(root.join("cgroup.subtree_control")).ok()?;
        let has = |c: &str| controllers.split_whitespace().any(|w| w == c);
        if !has("memory") || !has("pids") {
            return None;
        }
        let path = root.join(format!("nslab-jail-{}-{pid}", std::process::id()));
        std::fs::create_dir(&path).ok()?;
        let cg = Cgroup { path };
        let set = |file: &str, value: String| std::fs::write(cg.path.join(file), value);
        let limited = set("memory.max", limits.memory.to_string())
            // Room above the lines' limit for nslab's own threads (a round of checks pings
            // from one thread per namespace): they count here, but must never be refused.
            .and_then(|()| set("pids.max", (limits.processes + PIDS_ROOM).to_string()))
            .and_then(|()| set("cgroup.procs", pid.to_string()));
        // No swap where the kernel offers the knob: a jail that swaps slows the whole host.
        let _ = set("memory.swap.max", "0".into());
        match limited {
            Ok(()) => Some(cg),
            Err(_) => {
                cg.remove();
                None
            }
        }
    }

    /// Kills what is left in it, waits until it is empty, and removes it.
    fn remove(self) {
        let _ = std::fs::write(self.path.join("cgroup.kill"), "1");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Where the cgroup v2 hierarchy is mounted, if it is.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let point = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(unescape(point)))
    })
}

/// A mountinfo path: spaces, tabs, newlines and backslashes come as octal escapes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the builder ----

/// The builder (`nslab __jail -- ARGS`): see the module's documentation. Returns the exit code
/// of the inner worker, or 3 when the jail could not be built.
pub fn build(args: &[OsString]) -> i32 {
    sandbox::die_with_parent();
    match build_and_run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nslab: {e}");
            3
        }
    }
}

fn build_and_run(args: &[OsString]) -> Result<i32> {
    close_inherited_fds()?;
    let limits: Limits = std::env::var(LIMITS_ENV)
        .ok()
        .and_then(|l| serde_json::from_str(&l).ok())
        .unwrap_or_default();
    // Opened while this process still has its own identity: inside, the binary's folder may
    // not be readable by nobody (then it is copied, see `place_binary`).
    let exe = File::open("/proc/self/exe").map_err(|e| KernelError::io("open my own binary", e))?;
    let exe_path = std::env::current_exe().map_err(|e| KernelError::io("find my own binary", e))?;
    let control = UnixStream::from(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| KernelError::io("the jail's control socket", e))?,
    );
    if Uid::effective().is_root() {
        // Root's supplementary groups would follow it into the jail (with their rights on the
        // host's files): none. (Inside a user namespace whose setgroups is denied, an nslab in
        // learn's sandbox, the groups are fixed, and were already those of its creator.)
        match nix::unistd::setgroups(&[]) {
            Err(Errno::EPERM) if setgroups_denied() => {}
            r => r.map_err(|e| refuse("setgroups", e))?,
        }
    }
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        KernelError::Other(format!(
            "cannot build the jail: unshare(CLONE_NEWUSER): {}\n{SANDBOX_HELP}",
            std::io::Error::from(e)
        ))
    })?;
    (&control)
        .write_all(b"r")
        .map_err(|e| KernelError::io("the jail's control socket", e))?;
    let mut go = [0u8; 1];
    if !(&control).read(&mut go).is_ok_and(|n| n == 1) {
        return Err(KernelError::Other(
            "the worker could not map the jail's user ids".into(),
        ));
    }
    // Root of the new user namespace (nobody outside); full capabilities in it, none outside.
    let zero_gid = Gid::from_raw(0);
    let zero_uid = Uid::from_raw(0);
    nix::unistd::setresgid(zero_gid, zero_gid, zero_gid).map_err(|e| refuse("setresgid", e))?;
    nix::unistd::setresuid(zero_uid, zero_uid, zero_uid).map_err(|e| refuse("setresuid", e))?;
    // A new effective uid clears the parent-death signal (measured: lesson processes outlived a
    // killed verify): set it again, and leave if the worker is already gone.
    sandbox::die_with_parent();
    // Nothing in the jail gains privileges by exec (setuid files, file capabilities), and no
    // crash of a lesson process hands a core dump to the host's core_pattern helper (a limit
    // of 1 byte stops piped dumps too).
    nix::sys::prctl::set_no_new_privs().map_err(|e| refuse("PR_SET_NO_NEW_PRIVS", e))?;
    setrlimit(Resource::RLIMIT_CORE, 1, 1).map_err(|e| refuse("setrlimit(RLIMIT_CORE)", e))?;
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .map_err(|e| refuse("unshare the jail's namespaces", e))?;
    let root = Path::new(NEW_ROOT);
    build_root(root, &limits, &exe, &exe_path)?;
    std::env::set_current_dir(root).map_err(|e| KernelError::io("chdir into the jail", e))?;
    let mut inner = Command::new(root.join(&JAIL_BIN_DIR[1..]).join("nslab"));
    inner.args(args).env_clear().envs(jail_env(&limits));
    let status = inner
        .status()
        .map_err(|e| KernelError::io("start the jail's inner worker", e))?;
    Ok(status.code().unwrap_or(130))
}

/// Closes every file descriptor above standard error. Whoever started verify (a harness,
/// make's jobserver, a shell's `8</srv`) may have left some open without close-on-exec, and
/// each would follow the lines into the jail: one on a folder leads, by `..`, to the host's
/// whole file system, whatever the mounts. (Standard input is the control socket; output and
/// errors go to the worker.)
fn close_inherited_fds() -> Result<()> {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| KernelError::io("list my file descriptors", e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in open {
        // The listing's own descriptor is among them, closed already (EBADF).
        match nix::unistd::close(fd) {
            Ok(()) | Err(Errno::EBADF) => {}
            Err(e) => return Err(refuse("close an inherited file descriptor", e)),
        }
    }
    Ok(())
}

/// Whether this process's user namespace forbids setgroups (see user_namespaces(7)).
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

fn refuse(what: &str, e: Errno) -> KernelError {
    KernelError::Other(format!(
        "cannot build the jail: {what}: {}",
        std::io::Error::from(e)
    ))
}

/// The whole environment of the inner worker, and so of the lesson's lines: nothing of the
/// host's (its variables may hold secrets) but a few settings.
fn jail_env(limits: &Limits) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        (
            "PATH",
            format!("{JAIL_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ),
        ("HOME", JAIL_HOME.into()),
        ("USER", "root".into()),
        ("LOGNAME", "root".into()),
        ("SHELL", "/bin/sh".into()),
        ("TERM", "dumb".into()),
        ("LANG", "C.UTF-8".into()),
        (sandbox::INNER_ENV, sandbox::INNER_JAIL.into()),
        (
            LIMITS_ENV,
            serde_json::to_string(limits).unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // nslab's own settings go through.
    for k in [super::lines::TIMEOUT_ENV, "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }
    env
}

fn tmpfs(target: &Path, size: u64, mode: &str) -> Result<()> {
    // Inodes too: millions of empty files would cost kernel memory that `size` does not count.
    let inodes = (size / 4096).max(1024);
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("size={size},nr_inodes={inodes},mode={mode}").as_str()),
    )
    .map_err(|e| refuse(&format!("mount a tmpfs on {}", target.display()), e))
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(|e| KernelError::io(format!("mkdir {}", path.display()), e))
}

/// Builds the jail's root at `root`, in this (new) mount namespace.
fn build_root(root: &Path, limits: &Limits, exe: &File, exe_path: &Path) -> Result<()> {
    // Nothing mounted here may propagate anywhere else.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| refuse("make / private", e))?;
    let exe_size = exe.metadata().map(|m| m.len()).unwrap_or(0);
    // The skeleton, and room for a copy of the binary; read-only once the jail is built.
    tmpfs(root, exe_size + 4 * MIB, "0755")?;
    for dir in HOST_DIRS {
        let host = Path::new("/").join(dir);
        let inside = root.join(dir);
        let Ok(meta) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            // /bin -> usr/bin on merged-/usr systems: the same link.
            let target = std::fs::read_link(&host)
                .map_err(|e| KernelError::io(format!("readlink {}", host.display()), e))?;
            std::os::unix::fs::symlink(&target, &inside)
                .map_err(|e| KernelError::io(format!("symlink {}", inside.display()), e))?;
        } else if meta.is_dir() {
            mkdir(&inside, 0o755)?;
            bind_read_only(&host, &inside)?;
        }
    }
    for (dir, mode) in [
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("run", 0o755),
        ("root", 0o700),
        (&JAIL_BIN_DIR[1..], 0o755),
    ] {
        mkdir(&root.join(dir), mode)?;
    }
    build_dev(&root.join("dev"), limits)?;
    tmpfs(&root.join("tmp"), limits.tmp, "1777")?;
    mkdir(&root.join("var/tmp"), 0o1777)?;
    tmpfs(&root.join("var/tmp"), limits.var_tmp, "1777")?;
    for (link, target) in [("var/run", "../run"), ("var/lock", "../run/lock")] {
        std::os::unix::fs::symlink(target, root.join(link))
            .map_err(|e| KernelError::io(format!("symlink {link}"), e))?;
    }
    tmpfs(&root.join("run"), limits.run, "0755")?;
    mkdir(&root.join("run/netns"), 0o755)?;
    mkdir(&root.join("run/lock"), 0o1777)?;
    tmpfs(&root.join("root"), limits.home, "0700")?;
    mount_sysfs(&root.join("sys"))?;
    place_binary(root, exe, exe_path)
}

/// /dev: a small tmpfs with the host's harmless devices bound in, the usual links, /dev/shm.
fn build_dev(dev: &Path, limits: &Limits) -> Result<()> {
    tmpfs(dev, MIB, "0755")?;
    for name in DEVICES {
        let inside = dev.join(name);
        File::create(&inside)
            .map_err(|e| KernelError::io(format!("create {}", inside.display()), e))?;
        let host = Path::new("/dev").join(name);
        mount(
            Some(&host),
            &inside,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| refuse(&format!("bind {}", host.display()), e))?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| KernelError::io(format!("symlink /dev/{link}"), e))?;
    }
    mkdir(&dev.join("shm"), 0o1777)?;
    tmpfs(&dev.join("shm"), limits.shm, "1777")
}

/// A fresh sysfs, of the network namespace of this process, on `target`.
///
/// The kernel lets a user namespace mount sysfs only where one is already fully visible in its
/// mount namespace: the builder mounts one (of its own, empty, network namespace) while the
/// host's is still there; the inner worker mounts the jail's over it, while the builder's is.
fn mount_sysfs(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), target, Some("sysfs"), flags, None::<&str>)
        .or_else(
            // Where the host's /sys is read-only (a container), so must this one be.
            |_| {
                mount(
                    Some("sysfs"),
                    target,
                    Some("sysfs"),
                    flags | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
            },
        )
        .map_err(|e| {
            KernelError::Other(format!(
                "cannot build the jail: mount sysfs: {}. The kernel refuses a fresh /sys where \
                 the host's has files mounted over it (a container's masked paths).",
                std::io::Error::from(e)
            ))
        })
}

/// Binds a host folder read-only, with every mount under it.
///
/// A bind mount's read-only flag covers only its top mount: each mount below is made read-only
/// on its own, keeping the flags the kernel locks (nosuid, nodev, noexec) as they were.
fn bind_read_only(host: &Path, inside: &Path) -> Result<()> {
    mount(
        Some(host),
        inside,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| refuse(&format!("bind {}", host.display()), e))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| KernelError::io("read /proc/self/mountinfo", e))?;
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(unescape))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(inside))
        .collect();
    points.sort();
    points.dedup();
    for p in points {
        let kept = statvfs(&p)
            .map(|s| s.flags())
            .map_err(|e| refuse(&format!("statvfs {}", p.display()), e))?;
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        for (st, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        ] {
            if kept.contains(st) {
                flags |= ms;
            }
        }
        mount(None::<&str>, &p, None::<&str>, flags, None::<&str>)
            .map_err(|e| refuse(&format!("make {} read-only", p.display()), e))?;
    }
    Ok(())
}

/// The nslab binary at /.nslab/nslab: bound from where it lives, or, where root's `nobody`
/// may not reach it (a home folder), copied from the file opened before the jail began.
fn place_binary(root: &Path, exe: &File, exe_path: &Path) -> Result<()> {
    let inside = root.join(&JAIL_BIN_DIR[1..]).join("nslab");
    let mut copy = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&inside)
        .map_err(|e| KernelError::io(format!("create {}", inside.display()), e))?;
    let bound = mount(
        Some(exe_path),
        &inside,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    );
    if bound.is_ok() {
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        let kept = statvfs(&inside)
            .map(|s| s.flags())
            .unwrap_or(FsFlags::empty());
        let mut flags = ro;
        for (st, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        ] {
            if kept.contains(st) {
                flags |= ms;
            }
        }
        return mount(None::<&str>, &inside, None::<&str>, flags, None::<&str>)
            .map_err(|e| refuse("make the binary read-only", e));
    }
    let failed = |e| KernelError::io("copy my own binary into the jail", e);
    let mut from = exe;
    std::io::copy(&mut from, &mut copy).map_err(failed)?;
    copy.set_permissions(std::fs::Permissions::from_mode(0o755))
        .map_err(failed)
}

// ---- the inner worker ----

/// Run first by the inner worker (pid 1 of the jail): die with the builder, mount the jail's
/// /proc, move into the new root and detach the host's, make the root read-only, and lock it
/// all ([`lock_mounts`]). Must run before any thread starts (a process with threads cannot
/// enter a user namespace). An error means the jail is not whole: nothing may run.
pub fn finish_jail() -> Result<()> {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let root = Path::new(NEW_ROOT);
    // /proc of the jail's pid namespace. The kernel allows it only while a /proc is fully
    // visible in this mount namespace (the host's, until the pivot below); a container whose
    // /proc has masked paths (files mounted over) refuses it.
    mount(
        Some("proc"),
        &root.join("proc"),
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| {
        KernelError::Other(format!(
            "cannot mount /proc in the jail: {}. The kernel refuses a fresh /proc where the \
             host's /proc has files mounted over it (a container's masked paths); nslab will \
             not fall back to the host's /proc. Run nslab verify on a VM or a CI runner, or in \
             a container without masked paths (e.g. docker run --security-opt \
             systempaths=unconfined).",
            std::io::Error::from(e)
        ))
    })?;
    limit_kernel_objects(&root.join("proc/sys/user"))?;
    // pivot_root(".", "."): the old root ends up on top of the new one, and is detached at
    // once with every host mount under it. Here, in the builder's mount namespace, before the
    // lock: the kernel refuses to pivot onto a locked mount, and in a locked copy made before
    // the pivot, the jail's root (a mount under the host's) would be one.
    std::env::set_current_dir(root).map_err(|e| KernelError::io("chdir into the jail", e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| refuse("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| refuse("detach the host's root", e))?;
    std::env::set_current_dir("/").map_err(|e| KernelError::io("chdir /", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| refuse("make the jail's root read-only", e))?;
    // The line helper, started here, in the builder's user namespace (see `lines::prestart`).
    let exe = std::env::current_exe().map_err(|e| KernelError::io("find my own binary", e))?;
    super::lines::prestart(&exe)?;
    lock_mounts()?;
    super::lines::release_prestarted()?;
    // Out of the lesson's reach: its output is the verdict's only way to the host. A process
    // that is not dumpable can be traced, and its files in /proc (fd, mem, ns) opened, only with
    // CAP_SYS_PTRACE in the user namespace it was started in: the builder's, over which no lesson
    // process has any capability. Before, a line took pid 1's standard output (pidfd_getfd),
    // wrote a passing report to it, and made pid 1 exit (ptrace) before it wrote its own.
    nix::sys::prctl::set_dumpable(false).map_err(|e| refuse("PR_SET_DUMPABLE", e))
}

/// How many of each kernel object the whole jail may hold at once, counted by the kernel per
/// user namespace (`/proc/sys/user`): what the jail holds also counts against the user who runs
/// nslab, outside, whose own limits are those of the whole machine.
const KERNEL_OBJECTS: &[(&str, u64)] = &[
    ("max_user_namespaces", 64),
    ("max_pid_namespaces", 64),
    ("max_net_namespaces", 1100),
    ("max_mnt_namespaces", 1024),
    ("max_uts_namespaces", 256),
    ("max_ipc_namespaces", 256),
    ("max_cgroup_namespaces", 64),
    ("max_time_namespaces", 64),
    ("max_inotify_instances", 16),
    ("max_inotify_watches", 16384),
    ("max_fanotify_groups", 16),
    ("max_fanotify_marks", 16384),
];

/// Sets the limits of [`KERNEL_OBJECTS`] for the builder's user namespace, which every
/// namespace and inotify instance made in the jail is counted in, however deep. Without them, a
/// lesson took what the machine allows the user who runs nslab (root: 128 inotify instances; every
/// user namespace), held it while it ran, and so stopped that user's programs outside (measured:
/// root's `inotify_init` failed with EMFILE) and the jails of the other lessons of the run
/// (measured under a limit of 40 user namespaces: no user namespace was left for them, and
/// verify ended with exit code 3 and no report).
///
/// Written by pid 1 through the jail's fresh /proc while it is still root of that namespace
/// (the kernel shows each process the limits of its own user namespace). A limit the kernel does
/// not have is skipped.
fn limit_kernel_objects(dir: &Path) -> Result<()> {
    for (name, max) in KERNEL_OBJECTS {
        let path = dir.join(name);
        match std::fs::write(&path, max.to_string()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(format!("write {}", path.display()), e)),
        }
    }
    Ok(())
}

/// Locks the jail as it was built: moves this process into a user namespace nested in the
/// builder's (root mapped to root: the same user outside), and into new mount, network, UTS and
/// IPC namespaces owned by it.
///
/// The new mount namespace is the kernel's copy of the builder's, made for a less privileged
/// user namespace: every mount in it is locked. None can be unmounted on its own (it would
/// reveal what lies below), and no flag it has can be cleared: `mount -o remount,bind,rw /etc`
/// fails (EPERM), on binds made of it later too. Root here holds every capability over the
/// jail's new namespaces (`ip netns add`, links, sysctls of its own network, its host name,
/// mounts of its own), none over the builder's, where the jail's mounts were made. pid 1 and
/// every lesson process live here; nothing of the builder's user namespace is in the jail.
fn lock_mounts() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| refuse("unshare(CLONE_NEWUSER) to lock the jail", e))?;
    for (file, map) in [
        ("setgroups", "deny"),
        ("uid_map", "0 0 1\n"),
        ("gid_map", "0 0 1\n"),
    ] {
        let path = format!("/proc/self/{file}");
        std::fs::write(&path, map).map_err(|e| KernelError::io(format!("write {path}"), e))?;
    }
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC,
    )
    .map_err(|e| refuse("unshare the jail's locked namespaces", e))?;
    // Set again: a change of credentials may clear it (this one does not, but it costs nothing).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The jail's own network devices. Over the builder's sysfs, which is locked: unmounting this
    // one shows that, of the builder's empty network namespace (only its lo), never the host's.
    mount_sysfs(Path::new("/sys"))
}

/// The bytes of POSIX message queues the whole jail may hold (the default queue takes 80 KiB).
const MSGQUEUE_BYTES: u64 = 256 * 1024;

/// The signals the whole jail may have queued and not yet delivered (real-time ones, `sigqueue`).
const PENDING_SIGNALS: u64 = 1024;

/// The files each lesson process may have open at once (RLIMIT_NOFILE).
const OPEN_FILES: u64 = 1024;

/// The bytes of shared memory the whole jail may lock in RAM (`shmctl(SHM_LOCK)`); also each
/// lesson process's own `mlock` bound.
const LOCKED_BYTES: u64 = MIB;

/// Applies the jail's limits on lesson processes to this process (the line helper), which
/// passes them on to every line. Nothing to do outside a jail.
pub fn apply_line_limits() -> Result<()> {
    let Some(limits) = std::env::var(LIMITS_ENV)
        .ok()
        .and_then(|l| serde_json::from_str::<Limits>(&l).ok())
    else {
        return Ok(());
    };
    for (res, value, what) in [
        (Resource::RLIMIT_NPROC, limits.processes, "RLIMIT_NPROC"),
        (Resource::RLIMIT_AS, limits.address_space, "RLIMIT_AS"),
        // Bytes of POSIX message queues: the kernel counts the jail's against the user who runs
        // nslab, outside too. With that user's own limit (root: 800 KiB for the machine), a
        // lesson held 9 queues and root's mq_open failed (EMFILE) outside while it ran.
        (Resource::RLIMIT_MSGQUEUE, MSGQUEUE_BYTES, "RLIMIT_MSGQUEUE"),
        // Queued signals: counted the same way, and checked against the receiver's limit. With
        // the user's own (96364 for root here), one lesson process that blocked SIGRTMIN and
        // queued it to itself took them all: sigqueue of that user failed (EAGAIN) outside.
        (
            Resource::RLIMIT_SIGPENDING,
            PENDING_SIGNALS,
            "RLIMIT_SIGPENDING",
        ),
        // Locked shared memory: counted the same way. With the user's own limit (8 MiB on
        // Debian), a lesson locked all of it, and that user's SHM_LOCK failed (ENOMEM) outside.
        (Resource::RLIMIT_MEMLOCK, LOCKED_BYTES, "RLIMIT_MEMLOCK"),
        // Open files: the kernel's count of them is the whole machine's (fs.file-max), and past
        // it every program but root's fails to open a file (ENFILE). With the limit of whoever
        // runs nslab (20000 here), 4 lesson processes held 60000 of them: the jail's 256 could
        // hold 5 million, twice this machine's fs.file-max. Now at most 256 * 1024.
        (Resource::RLIMIT_NOFILE, OPEN_FILES, "RLIMIT_NOFILE"),
    ] {
        setrlimit(res, value, value).map_err(|e| refuse(&format!("setrlimit({what})"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_maps_are_read_as_the_kernel_writes_them() {
        // The initial user namespace, an `unshare -r` one, and a range that ends before nobody.
        assert!(maps("         0          0 4294967295\n", NOBODY));
        assert!(!maps("         0       1000          1\n", NOBODY));
        assert!(maps("0 0 1\n65534 65534 1\n", NOBODY));
        assert!(!maps("0 100000 65534\n", NOBODY));
        assert!(maps("0 100000 65535\n", NOBODY));
        assert!(!maps("", 0));
    }

    #[test]
    fn mountinfo_paths_lose_their_escapes() {
        assert_eq!(unescape("/sys/fs/cgroup"), "/sys/fs/cgroup");
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/x\\011y\\134z"), "/x\ty\\z");
        // Not an escape: left as it is.
        assert_eq!(unescape("/a\\9b\\04"), "/a\\9b\\04");
    }

    #[test]
    fn default_limits_fit_together() {
        let l = Limits::default();
        // A lesson compiles into /tmp and runs what it built: /tmp holds far more than gcc needs,
        // and the whole jail's memory covers its tmpfs.
        assert!(l.tmp >= 64 * MIB);
        assert!(l.tmp + l.var_tmp + l.run + l.home + l.shm < l.memory);
        let back: Limits = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
    }
}
