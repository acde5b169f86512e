//! Processes and the namespaces they hold: the view `lsns -t net` gives. (Shell lines run in
//! [`super::lines`].)

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

use serde::Serialize;

use super::netns;

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

/// The fields of /proc/PID/stat after the command name (which may hold spaces and
/// parentheses: they start after the last ')'): state, ppid, pgrp, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|p| {
            stat_fields(*p)
                .and_then(|f| f.get(1)?.parse::<u32>().ok())
                .is_some_and(|pp| pp == parent)
        })
        .collect()
}

/// The processes of a process group, with their names (`comm`); zombies are left out.
pub fn group(pgid: i32) -> Vec<(u32, String)> {
    pids()
        .into_iter()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let mut f = rest.split_whitespace();
            let state = f.next()?;
            let pg: i32 = f.nth(1)?.parse().ok()?;
            (pg == pgid && state != "Z" && state != "X").then_some((p, name))
        })
        .collect()
}

/// A process's group.
pub fn pgid_of(pid: u32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// The processes that live in the network namespace of this inode.
pub fn pids_in_netns(inode: u64) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|p| netns_inode_of_pid(*p) == Some(inode))
        .collect()
}

/// What keeps a network namespace without living in it (see [`netns_kept_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keeper {
    /// A process with an open file of it.
    File(u32),
    /// A mount of it, on this path of some mount namespace (its fifth mountinfo field).
    Mount(String),
}

/// A process that keeps the network namespace of this inode without living in it: by an
/// open file of it (`exec 3</run/netns/web`, `nsenter --net=/proc/PID/ns/net` still at work),
/// or by a mount of it in a mount namespace of its own (a copy of /run/netns that a program
/// made private). Sockets are not seen: a socket of the namespace keeps it too.
pub fn netns_kept_by(inode: u64) -> Option<Keeper> {
    let tag = format!("net:[{inode}]");
    let mut mount_namespaces = std::collections::HashSet::new();
    for pid in pids() {
        // An open namespace file reads as the path it was opened by (`/` once its name is
        // gone): it is told by its inode, which fdinfo gives without a stat of the file (one
        // on a dead network file system would hang).
        if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
            && rd.filter_map(|e| e.ok()).any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("ino:"))
                        .is_some_and(|v| v.trim().parse::<u64>() == Ok(inode))
                })
            })
        {
            return Some(Keeper::File(pid));
        }
        // One look per mount namespace: its processes share one table.
        let mnt = std::fs::metadata(format!("/proc/{pid}/ns/mnt")).map(|m| m.ino());
        if mnt.is_ok_and(|m| !mount_namespaces.insert(m)) {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        // The fourth field is the mount's root within its filesystem: net:[INODE] for nsfs.
        if let Some(at) = info.lines().find_map(|l| {
            let mut f = l.split_whitespace().skip(3);
            (f.next() == Some(tag.as_str())).then(|| f.next().unwrap_or("?").to_string())
        }) {
            return Some(Keeper::Mount(at));
        }
    }
    None
}

/// The processes of this name (`comm`).
pub fn pids_named(name: &str) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|p| comm(*p).as_deref() == Some(name))
        .collect()
}

/// The process has a fatal signal pending, or has exited and waits to be reaped: it is going.
pub fn is_dying(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let zombie = field("State:").starts_with('Z');
    // SIGKILL (9), SIGTERM (15), SIGINT (2), SIGHUP (1), SIGQUIT (3): bits 8, 14, 1, 0, 2.
    let fatal = 0x4107u64;
    let pending = ["SigPnd:", "ShdPnd:"]
        .iter()
        .any(|k| u64::from_str_radix(&field(k), 16).is_ok_and(|v| v & fatal != 0));
    zombie || pending
}

/// A process's name (`comm`).
pub fn comm(pid: u32) -> Option<String> {
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
/// Clock ticks since boot when a process started (field 22 of /proc/PID/stat).
fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Processes named one of `names`, started at or after `since` (clock ticks since boot), that
/// are running or waiting to run, or in an uninterruptible wait (a disk read): at work, not
/// waiting for something to do.
pub fn at_work(names: &[String], since: u64) -> bool {
    any_named(names, since, |state, _| matches!(state, "R" | "D"))
}

/// Processes named one of `names`, started at or after `since`, at work (see [`at_work`]) that
/// have used less than `cpu` of processor time: a program still starting (a Python server
/// spends some 60 ms of it importing its modules before it listens), not one that stays busy
/// (a loop, a load or traffic generator), which is at work for good.
pub fn starting(names: &[String], since: u64, cpu: std::time::Duration) -> bool {
    // Clock ticks per second (100 on Linux).
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100);
    let most = u64::try_from(cpu.as_millis()).unwrap_or(u64::MAX) * hz / 1000;
    any_named(names, since, |state, used| {
        matches!(state, "R" | "D") && used < most
    })
}

/// Processes named one of `names`, started at or after `since`, that have not ended (zombies
/// have).
pub fn alive_named(names: &[String], since: u64) -> bool {
    any_named(names, since, |state, _| !matches!(state, "Z" | "X"))
}

/// Whether a process named one of `names` (as /proc keeps it: at most 15 bytes), started at or
/// after `since`, is in a state `state` accepts (given the state and the processor time it has
/// used, user and system, in clock ticks).
fn any_named(names: &[String], since: u64, state: impl Fn(&str, u64) -> bool) -> bool {
    pids().into_iter().any(|p| {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            return false;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            return false;
        };
        let name = &stat[open + 1..close];
        // The fields after the name, from the state (field 3 of proc(5)).
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|t| t.parse::<u64>().ok());
        let st = fields.first().copied().unwrap_or("");
        // utime and stime (fields 14 and 15), and the start time (field 22).
        let used = field(14).unwrap_or(0) + field(15).unwrap_or(0);
        let started = field(22);
        names
            .iter()
            .any(|n| name.as_bytes() == &n.as_bytes()[..n.len().min(15)])
            && state(st, used)
            && started.is_some_and(|t| t >= since)
    })
}

/// When this process started, in clock ticks since boot.
pub fn own_start_ticks() -> u64 {
    start_ticks("self").unwrap_or(0)
}

/// This boot's identity: clock ticks since boot are comparable only within one boot.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// Runs a copy of `program` under a name of its own, longer than the 15 bytes /proc keeps.
    fn run_as(program: &str, name: &str, arg: &str) -> Child {
        let dir = std::env::temp_dir().join(format!("nslab-procs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join(name);
        std::fs::copy(format!("/usr/bin/{program}"), &copy).unwrap();
        Command::new(&copy)
            .arg(arg)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_busy_program_is_at_work_and_a_sleeping_one_is_not() {
        let since = own_start_ticks();
        let busy_name = "nslab-busy-program-of-this-test".to_string();
        let idle_name = "nslab-idle-program-of-this-test".to_string();
        // `yes` writes to /dev/null without end: running, or waiting for a CPU.
        let mut busy = run_as("yes", &busy_name, "y");
        let mut idle = run_as("sleep", &idle_name, "30");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(at_work(std::slice::from_ref(&busy_name), since));
        assert!(!at_work(std::slice::from_ref(&idle_name), since));
        // Started before `since`: not this run's.
        assert!(!at_work(std::slice::from_ref(&busy_name), u64::MAX));
        for c in [&mut busy, &mut idle] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        assert!(!at_work(std::slice::from_ref(&busy_name), since));
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("nslab-procs-{}", std::process::id())),
        );
    }
}
