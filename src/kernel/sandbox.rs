//! The sandbox: a private network and mount namespace (and, without root, a user namespace)
//! with its own /run/netns and /sys. Everything made inside vanishes with the process,
//! SIGKILL included, and the host never sees it. learn and demo without root use it.
//!
//! It is not a jail: as root, a process inside can still reach the host. `nslab verify` runs
//! lessons in the jail instead (see [`super::jail`], re-exported here).

use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid};

use super::{KernelError, Result};

pub use super::jail::{
    JailOptions, Limits, SUBCOMMAND as JAIL_SUBCOMMAND, apply_line_limits, build as build_jail,
    finish_jail, respawn_jailed,
};
pub use super::lines::{SUBCOMMAND as LINES_SUBCOMMAND, serve as serve_lines};

/// What to tell a user whose kernel refuses the sandbox.
pub const SANDBOX_HELP: &str = "\
nslab could not create its sandbox (a private network and mount namespace).
  - Run it as root: sudo nslab ...
  - Or allow unprivileged user namespaces. On Debian and Ubuntu:
      sudo sysctl -w kernel.unprivileged_userns_clone=1
    and on Ubuntu 24.04 and later also:
      sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
  - Inside a container, the container must allow CLONE_NEWNET and mounts (e.g. --privileged).";

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .map(|v| v.trim().parse().unwrap_or(1))
            })
        })
        .unwrap_or(1)
}

fn refuse(what: &str, e: nix::errno::Errno) -> KernelError {
    KernelError::Other(format!(
        "{what}: {}\n{SANDBOX_HELP}",
        std::io::Error::from(e)
    ))
}

/// Enters a fresh sandbox. Must run before any other thread exists: `unshare` moves only the
/// calling thread, and a runtime thread started earlier would stay on the host.
///
/// With `new_pid`, the process's next children start in a new pid namespace; this process then
/// may not start threads (the kernel refuses CLONE_THREAD), so it must only spawn a worker.
/// Files in `keep` that lie under /tmp stay readable at their paths inside (see below), and
/// folders there stay the host's.
pub fn enter(new_pid: bool, keep: &[&Path]) -> Result<()> {
    if threads() != 1 {
        return Err(KernelError::Other(
            "internal error: the sandbox must be entered before any thread starts".into(),
        ));
    }
    let uid = Uid::effective();
    let gid = Gid::effective();
    if !uid.is_root() {
        unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| refuse("unshare(CLONE_NEWUSER)", e))?;
        // Map ourselves to root inside, as `unshare -r` does; setgroups must be denied first.
        let write = |path: &str, what: String| {
            std::fs::write(path, what)
                .map_err(|e| KernelError::Other(format!("write {path}: {e}\n{SANDBOX_HELP}")))
        };
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    // CLONE_NEWPID applies to the children this process starts next: the caller re-executes
    // itself (see `verify::child`), and that child is pid 1 of the sandbox. When it ends, the
    // kernel kills every process left in the sandbox, so no lesson process outlives a run.
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET;
    if new_pid {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    unshare(flags).map_err(|e| refuse("unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID)", e))?;
    // Private first: the host's /run/netns is usually a shared mount, and a tmpfs mounted onto
    // it with propagation unchanged would appear on the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| refuse("make / private", e))?;
    let tmpfs = |target: &str| {
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|e| refuse(&format!("mount a tmpfs on {target}"), e))
    };
    if std::path::Path::new("/run/netns").is_dir() {
        tmpfs("/run/netns")?;
    } else {
        // Creating /run/netns from in here would write to the host's /run: cover /run instead.
        tmpfs("/run")?;
        std::fs::create_dir("/run/netns")
            .map_err(|e| KernelError::io("mkdir /run/netns in the sandbox", e))?;
    }
    // A private /tmp: lessons compile and run example programs there. It hides whatever lived
    // under /tmp: this very binary when it was built there (a checkout in /tmp), a lesson file
    // named by its absolute path there. Those are carried over: copied into the sandbox's /tmp,
    // read through descriptors opened before the tmpfs covers them. (A bind mount cannot do it:
    // their mounts belong to the host's mount namespace.)
    let exe = std::env::current_exe().map_err(|e| KernelError::io("find my own binary", e))?;
    let mut carried = Vec::new();
    for (from, to) in std::iter::once((exe, own_binary()))
        .chain(keep.iter().map(|p| (p.to_path_buf(), p.to_path_buf())))
        .filter(|(from, to)| from.starts_with("/tmp") && to.is_absolute() && from.is_file())
    {
        let file = std::fs::File::open(&from)
            .map_err(|e| KernelError::io(format!("open {}", from.display()), e))?;
        carried.push((file, to));
    }
    // A folder under /tmp in `keep` (the progress file's, when HOME is there) is bound back at
    // its place, so that what is written into it outlives the sandbox: opened now, in this
    // mount namespace, and mounted from /proc/self/fd once the tmpfs covers it.
    let mut bound = Vec::new();
    for dir in keep.iter().filter(|p| p.starts_with("/tmp") && p.is_dir()) {
        let fd = std::fs::File::open(dir)
            .map_err(|e| KernelError::io(format!("open {}", dir.display()), e))?;
        bound.push((fd, dir.to_path_buf()));
    }
    tmpfs("/tmp")?;
    for (fd, to) in bound {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(&to)
            .map_err(|e| KernelError::io(format!("keep {} in the sandbox", to.display()), e))?;
        let from = format!("/proc/self/fd/{}", fd.as_raw_fd());
        mount(
            Some(from.as_str()),
            &to,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| refuse(&format!("keep {} in the sandbox", to.display()), e))?;
    }
    for (mut from, to) in carried {
        let copy = |e: std::io::Error| {
            KernelError::io(format!("carry {} into the sandbox", to.display()), e)
        };
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(copy)?;
        }
        let mut file = std::fs::File::create(&to).map_err(copy)?;
        std::io::copy(&mut from, &mut file).map_err(copy)?;
        let mode = from.metadata().map_err(copy)?.permissions();
        std::fs::set_permissions(&to, mode).map_err(copy)?;
    }
    // A fresh sysfs, else /sys/class/net would still list the host's devices.
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| refuse("mount sysfs", e))?;
    Ok(())
}

/// Run by pid 1 of the sandbox: a /proc that shows only the sandbox's processes.
fn mount_proc() -> Result<()> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| refuse("mount /proc", e))
}

/// Where the sandbox keeps a copy of the running binary when its own lives under /tmp.
const OWN_BIN_DIR: &str = "/tmp/.nslab/bin";

/// The running binary's path inside the sandbox: where it is, or its copy (see [`enter`]).
pub fn own_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| "nslab".into());
    if !exe.starts_with("/tmp") || exe.starts_with(OWN_BIN_DIR) {
        return exe;
    }
    std::path::Path::new(OWN_BIN_DIR).join(exe.file_name().unwrap_or_else(|| "nslab".as_ref()))
}

/// Set in the environment of the process that runs inside the sandbox ("1") or the jail
/// ([`INNER_JAIL`]).
pub(super) const INNER_ENV: &str = "NSLAB_SANDBOX_INNER";

/// The value of [`INNER_ENV`] inside the jail.
pub(super) const INNER_JAIL: &str = "jail";

/// Whether this process is the one a [`respawn_inside`] or a [`respawn_jailed`] started.
pub fn is_inner() -> bool {
    std::env::var_os(INNER_ENV).is_some_and(|v| v == "1" || v == INNER_JAIL)
}

/// Whether this process is the inner worker of a jail (see [`respawn_jailed`]).
pub fn is_jailed() -> bool {
    std::env::var_os(INNER_ENV).is_some_and(|v| v == INNER_JAIL)
}

/// Variables nslab sets for its own processes only: never for a lesson's lines, nor for the
/// student's shell (an `nslab verify` typed there would believe it is inside a sandbox).
const INTERNAL_ENV: &[&str] = &[
    INNER_ENV,
    PARENT_ENV,
    super::jail::LIMITS_ENV,
    super::lines::JOIN_ENV,
];

/// Removes nslab's internal variables from what `cmd` will inherit.
pub fn scrub(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for v in INTERNAL_ENV {
        cmd.env_remove(v);
    }
    cmd
}

/// Enters a fresh sandbox (with a pid namespace) and runs this program again inside it, with the
/// same arguments, as pid 1 of the sandbox. `input` is written to its standard input; without
/// it, standard input is inherited (the terminal, for learn and demo). Files in `keep` (a lesson
/// the arguments name) stay readable inside. Returns its exit code.
///
/// This process stays single-threaded (it may not start threads once it has a new pid
/// namespace for its children) and only waits: when it dies, the inner process dies with it,
/// and with pid 1 gone the kernel ends every process of the sandbox.
pub fn respawn_inside(input: Option<&[u8]>, keep: &[&Path]) -> Result<i32> {
    enter(true, keep)?;
    let own = own_binary();
    let mut cmd = std::process::Command::new(&own);
    // Commands of lessons call `nslab` itself (nslab example ...): it comes first on PATH.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> =
        own.parent().map(|d| d.to_path_buf()).into_iter().collect();
    dirs.extend(std::env::split_paths(&path));
    if let Ok(p) = std::env::join_paths(dirs) {
        cmd.env("PATH", p);
    }
    let (k, v) = parent_env();
    cmd.args(std::env::args_os().skip(1))
        .env(INNER_ENV, "1")
        .env(k, v);
    if input.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| KernelError::io("start the sandboxed process", e))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        let _ = stdin.write_all(data);
    }
    let status = child
        .wait()
        .map_err(|e| KernelError::io("wait for the sandboxed process", e))?;
    // The process inside may have given the terminal to a group of its own (learn's shell):
    // the group this one is in gets it back.
    crate::term::reclaim_terminal();
    Ok(status.code().unwrap_or(130))
}

/// What the process inside the sandbox does first: die with the process that waits for it, and
/// mount a /proc of its own pid namespace. Returns a warning when /proc could not be mounted:
/// without root, some kernels refuse (a masked path in the host's /proc); the sandbox still
/// works, only process checks then also see the host's processes.
pub fn inside() -> Option<String> {
    die_with_parent();
    mount_proc()
        .err()
        .map(|e| e.to_string().lines().next().unwrap_or("").to_string())
}

/// Dies with the parent: a sandboxed child of `nslab verify` must not outlive it.
///
/// The parent may die before this runs: then the death signal never comes. So the parent names
/// itself in [`PARENT_ENV`] (see [`parent_env`]), and a child whose parent is no longer that one
/// leaves at once.
pub fn die_with_parent() {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let expected = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    let parent = nix::unistd::getppid().as_raw();
    // Pid 1 of a new pid namespace sees its parent as 0: there, the death signal has to do.
    if parent != 0 && expected.is_some_and(|p| p != parent) {
        std::process::exit(130);
    }
}

/// Set by a parent in a worker's environment: its own pid.
const PARENT_ENV: &str = "NSLAB_PARENT_PID";

/// The environment entry a parent gives a child that calls [`die_with_parent`].
pub fn parent_env() -> (&'static str, String) {
    (PARENT_ENV, std::process::id().to_string())
}
