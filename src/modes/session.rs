//! Which lessons a learn or demo session is running now, in this network namespace.
//!
//! A session on the machine itself (as root) binds an abstract unix socket named after its
//! lesson, `@nslab/session/ID`, and keeps it for as long as it runs. Abstract names belong to
//! the network namespace, as the lab does (a sandbox, a jail or a test has its own, and its
//! sessions are no concern of the machine's), no file is left anywhere, and the kernel lets go
//! of the name when the process ends, however it ends (a kill -9 too). Another learn or demo of
//! the same lesson does not start beside it, and `nslab reset` leaves that lesson alone: a reset
//! typed in the other pane while learn watched would take the lab away under it, and with it
//! the baseline that learn writes what the student makes into.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, connect, socket};

/// The socket this process holds, for as long as it runs.
static HELD: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// The lesson's socket name. An abstract name holds at most 107 bytes: a long id is cut, and
/// a hash of all of it (FNV-1a: the same in every nslab) keeps two long ids apart.
fn name(id: &str) -> String {
    const MOST: usize = 64;
    if id.len() <= MOST {
        return format!("nslab/session/{id}");
    }
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let cut: String = id.chars().take(40).collect();
    format!("nslab/session/{cut}-{hash:016x}")
}

fn unix_socket() -> nix::Result<OwnedFd> {
    socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// Binds the lesson's name: `Ok(socket)`, or the kernel's error (`EADDRINUSE`: a session holds
/// it).
fn bind_name(id: &str) -> nix::Result<OwnedFd> {
    let fd = unix_socket()?;
    bind(
        fd.as_raw_fd(),
        &UnixAddr::new_abstract(name(id).as_bytes())?,
    )?;
    Ok(fd)
}

/// The session of `id` running now in this network namespace, in words ("learn (pid 4242)"),
/// if one is. It only looks: a datagram socket connects to a name somebody holds, and is
/// refused one nobody does (it never takes the name, which a session starting at that moment
/// would then find taken).
pub fn running(id: &str) -> Option<String> {
    let fd = unix_socket().ok()?;
    let addr = UnixAddr::new_abstract(name(id).as_bytes()).ok()?;
    connect(fd.as_raw_fd(), &addr)
        .ok()
        .map(|()| holder(id).unwrap_or_else(|| "another session".into()))
}

/// Who holds the lesson's name: the socket's inode from /proc/net/unix, and the nslab process
/// that has it open.
fn holder(id: &str) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let wanted = format!("@{}", name(id));
    let inode = table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 8 && f[7] == wanted).then(|| f[6].to_string())
    })?;
    let link = format!("socket:[{inode}]");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "nslab" {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let has = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == link));
        if has {
            let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mode = args
                .split(|b| *b == 0)
                .map(String::from_utf8_lossy)
                .find(|a| a == "learn" || a == "demo")
                .map_or_else(|| "nslab".to_string(), |a| a.into_owned());
            return Some(format!("{mode} (pid {pid})"));
        }
    }
    None
}

/// This process runs `id` in learn or demo, on the machine: takes the lesson's name, or says
/// which session of it runs already. A name that cannot be taken for another reason stops
/// nothing: the guard is lost, not the lesson.
pub fn hold(id: &str) -> Result<(), String> {
    match bind_name(id) {
        Ok(fd) => {
            if let Ok(mut held) = HELD.lock() {
                *held = Some(fd);
            }
            Ok(())
        }
        Err(Errno::EADDRINUSE) => Err(format!(
            "the lesson {id} is running here already: {}. One session of a lesson at a time: go on in that one, or quit it (q) first",
            holder(id).unwrap_or_else(|| "another session".into())
        )),
        Err(e) => {
            eprintln!("nslab: warning: cannot mark the lesson {id} as running ({e})");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_gets_a_name_an_abstract_socket_can_hold() {
        assert_eq!(name("veth-lab"), "nslab/session/veth-lab");
        let long = "a".repeat(200);
        let longer = format!("{long}b");
        assert!(name(&long).len() <= 107 && name(&longer).len() <= 107);
        assert_ne!(name(&long), name(&longer));
        // Held, it is seen running, and cannot be held twice; let go, it is not running.
        let id = format!("test-{}", std::process::id());
        let fd = bind_name(&id).unwrap();
        assert!(running(&id).is_some());
        assert!(matches!(bind_name(&id), Err(Errno::EADDRINUSE)));
        drop(fd);
        assert!(running(&id).is_none());
        let long_id = format!("{long}-{}", std::process::id());
        let fd = bind_name(&long_id).unwrap();
        assert!(running(&long_id).is_some());
        drop(fd);
        assert!(running(&long_id).is_none());
    }
}
