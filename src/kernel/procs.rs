//! Processes and the namespaces they hold: the view `lsns -t net` gives, and running a shell
//! line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use serde::Serialize;

use super::netns;
use super::{KernelError, Result, ShellOutput};

/// One network namespace, as `lsns -t net` shows it, with its name where /run/netns holds it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetnsInfo {
    pub inode: u64,
    pub nprocs: usize,
    /// The lowest pid inside, if a process holds it.
    pub pid: Option<u32>,
    pub command: Option<String>,
    /// Names in /run/netns bound to it.
    pub names: Vec<String>,
}

pub fn netns_inode_of_pid(pid: u32) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

pub fn inode_of_fd(fd: &OwnedFd) -> Option<u64> {
    let f = File::from(fd.try_clone().ok()?);
    f.metadata().ok().map(|m| m.ino())
}

fn pids() -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn net_namespaces() -> Vec<NetnsInfo> {
    let mut by_inode: BTreeMap<u64, NetnsInfo> = BTreeMap::new();
    for pid in pids() {
        let Some(ino) = netns_inode_of_pid(pid) else {
            continue;
        };
        let e = by_inode.entry(ino).or_insert_with(|| NetnsInfo {
            inode: ino,
            nprocs: 0,
            pid: None,
            command: None,
            names: Vec::new(),
        });
        e.nprocs += 1;
        if e.pid.is_none() {
            e.pid = Some(pid);
            e.command = comm(pid);
        }
    }
    for name in netns::list() {
        if !netns::is_mounted(&name) {
            continue;
        }
        let Some(ino) = netns::inode_of(&netns::path_of(&name)) else {
            continue;
        };
        by_inode
            .entry(ino)
            .or_insert_with(|| NetnsInfo {
                inode: ino,
                nprocs: 0,
                pid: None,
                command: None,
                names: Vec::new(),
            })
            .names
            .push(name);
    }
    by_inode.into_values().collect()
}

/// Processes (pid, command name) whose network namespace is not `root_inode`.
pub fn processes_outside(root_inode: u64) -> Vec<(u32, String)> {
    pids()
        .into_iter()
        .filter(|p| netns_inode_of_pid(*p).is_some_and(|i| i != root_inode))
        .filter_map(|p| Some((p, comm(p)?)))
        .collect()
}

fn capture_file(name: &str) -> Result<File> {
    // A memory file rather than a pipe: a command that leaves a background child holding its
    // output (`./prog &`) must not keep nslab waiting for the pipe to close.
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC)
        .map_err(|e| KernelError::io("memfd_create", e.into()))?;
    Ok(File::from(fd))
}

fn read_back(mut f: File) -> String {
    let mut s = String::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_string(&mut s);
    s
}

/// Waits for `child` to end, at most `timeout`; on timeout kills it and returns `None`.
///
/// A helper thread blocks in `waitid(WNOWAIT)`, which wakes the moment the child ends without
/// reaping it: until it is reaped here, its pid cannot be reused, so killing it on timeout can
/// never hit another process. (Polling instead noticed an exit up to 5 ms late, on every
/// command a lesson runs through the shell.)
fn wait_at_most(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        let ended = loop {
            match waitid(Id::Pid(pid), flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.is_ok(),
            }
        };
        let _ = tx.send(ended);
    });
    match rx.recv_timeout(timeout) {
        // Ended (or waitid failed, and wait() below reports why).
        Ok(_) | Err(RecvTimeoutError::Disconnected) => child.wait().map(Some),
        Err(RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            child.wait()?;
            Ok(None)
        }
    }
}

pub fn run_shell(line: &str, timeout: Duration) -> Result<ShellOutput> {
    let out = capture_file("nslab-stdout")?;
    let err = capture_file("nslab-stderr")?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| KernelError::io("dup", e))?)
        .stderr(err.try_clone().map_err(|e| KernelError::io("dup", e))?)
        .spawn()
        .map_err(|e| KernelError::io("run /bin/sh", e))?;
    let status =
        wait_at_most(&mut child, timeout).map_err(|e| KernelError::io("wait for /bin/sh", e))?;
    Ok(ShellOutput {
        status: status.and_then(|s| s.code()),
        stdout: read_back(out),
        stderr: read_back(err),
        timed_out: status.is_none(),
    })
}

/// Clock ticks since boot when a process started (field 22 of /proc/PID/stat).
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// When this process started, in clock ticks since boot.
pub fn own_start_ticks() -> u64 {
    start_ticks("self").unwrap_or(0)
}

/// The real uid of a process.
fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Processes named `name` (their command), of user `uid`, started at or after `since` (clock
/// ticks since boot), with the inode of their network namespace.
pub fn processes_named(name: &str, uid: u32, since: u64) -> Vec<(u32, u64)> {
    pids()
        .into_iter()
        .filter(|p| comm(*p).as_deref() == Some(name))
        .filter(|p| uid_of(*p) == Some(uid))
        .filter(|p| start_ticks(&p.to_string()).is_some_and(|t| t >= since))
        .filter_map(|p| Some((p, netns_inode_of_pid(p)?)))
        .collect()
}
