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
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};

/// The socket this process holds, for as long as it runs.
static HELD: Mutex<Option<OwnedFd>> = Mutex::new(None);

fn name(id: &str) -> String {
    format!("nslab/session/{id}")
}

/// Binds the lesson's name: `Ok(socket)`, or the kernel's error (`EADDRINUSE`: a session holds
/// it).
fn bind_name(id: &str) -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &UnixAddr::new_abstract(name(id).as_bytes())?,
    )?;
    Ok(fd)
}

/// The session of `id` running now in this network namespace, in words ("learn (pid 4242)"),
/// if one is.
pub fn running(id: &str) -> Option<String> {
    match bind_name(id) {
        // Nobody holds it (and the socket, dropped here, lets go of it at once).
        Ok(_) => None,
        Err(Errno::EADDRINUSE) => Some(holder(id).unwrap_or_else(|| "another session".into())),
        Err(_) => None,
    }
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
