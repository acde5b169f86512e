//! nslab's files in the XDG state folder (`progress.json`, `ledger.json`): where they are, and
//! the one way to read and replace them. Both the progress file and the ledger use these
//! helpers, so that both get the same guarantees:
//!
//! - only a regular file is read: it is checked before it is opened (a FIFO would block an
//!   `open` for reading), the open does not block, and the opened file is checked again;
//! - a change is made under an exclusive lock on `NAME.lock`, a file of its own that is never
//!   removed (the data file is replaced by rename, so a lock on it would lock a file that is no
//!   longer there), with a deadline: a stuck nslab does not hang every other one;
//! - a file is replaced atomically: a new file, synced, renamed over the old one.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};

/// How long a change waits for another nslab's change to finish (each holds the lock for the
/// time of one small read and write).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "{}: {kind}, not a regular file; nslab neither reads nor replaces it. Remove it, or set XDG_STATE_HOME to another folder",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: another nslab has held its lock for {} s; is one stuck? Try again",
        path.display(),
        LOCK_WAIT.as_secs()
    )]
    Locked { path: PathBuf },
    #[error("{}: cannot {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
}

pub fn io_error(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError::Io { path, what, source }
}

/// `$XDG_STATE_HOME/nslab`, or `~/.local/state/nslab`; `None` without either variable.
pub fn dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("nslab"))
}

/// What a file that is not a regular one is, for the message that refuses it.
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

fn refuse_special(path: &Path, meta: &std::fs::Metadata) -> Result<(), FileError> {
    match special_kind(meta) {
        Some(kind) => Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind,
        }),
        None => Ok(()),
    }
}

/// The bytes of a regular file (at most `max` + 1 of them, so that a caller can tell a file
/// that is too large) and its modification time, or `None` if there is no file.
pub fn read_regular(path: &Path, max: u64) -> Result<Option<(Vec<u8>, u64)>, FileError> {
    let not_found = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    match std::fs::metadata(path) {
        Ok(meta) => refuse_special(path, &meta)?,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(io_error(path, "read it")(e)),
    }
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(io_error(path, "open it")(e)),
    };
    let meta = file.metadata().map_err(io_error(path, "read it"))?;
    refuse_special(path, &meta)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(path, "read it"))?;
    Ok(Some((bytes, mtime)))
}

/// `path` + `suffix`, in the same folder.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates the folder a state file lives in.
pub fn make_dir(path: &Path) -> Result<(), FileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error(dir, "create the folder"))?;
    }
    Ok(())
}

/// An exclusive lock on `path.lock`, held until the returned value is dropped.
pub fn lock(path: &Path) -> Result<Flock<File>, FileError> {
    let lock_path = sibling(path, ".lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(&lock_path)
        .map_err(io_error(&lock_path, "open the lock file"))?;
    let meta = file
        .metadata()
        .map_err(io_error(&lock_path, "open the lock file"))?;
    refuse_special(&lock_path, &meta)?;
    // Without blocking, and a deadline: a stuck nslab must not hang every other one.
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((f, e)) if e == Errno::EWOULDBLOCK || e == Errno::EINTR => {
                if Instant::now() >= deadline {
                    return Err(FileError::Locked { path: lock_path });
                }
                file = f;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, e)) => return Err(io_error(&lock_path, "lock")(io::Error::from(e))),
        }
    }
}

/// Keeps the file as it is now under `NAME.bad-TIME` (a hard link: the file is kept whole,
/// whatever its size, and the rename that follows only replaces the name). `what` names the
/// file in an error.
pub fn backup(path: &Path, now: u64, what: &'static str) -> Result<PathBuf, FileError> {
    for n in 0..100 {
        let suffix = match n {
            0 => format!(".bad-{now}"),
            _ => format!(".bad-{now}-{n}"),
        };
        let b = sibling(path, &suffix);
        match std::fs::hard_link(path, &b) {
            Ok(()) => return Ok(b),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // A file system without hard links: a copy.
            Err(_) => match std::fs::copy(path, &b) {
                Ok(_) => return Ok(b),
                Err(e) => return Err(io_error(&b, what)(e)),
            },
        }
    }
    Err(io_error(path, what)(io::Error::from(
        io::ErrorKind::AlreadyExists,
    )))
}

/// Writes the file atomically: a new file, synced, renamed over the old one. The caller holds
/// the lock.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    // The name is ours alone while we hold the lock; one left by a crashed nslab of the same
    // pid goes first. create_new never opens a FIFO someone put there.
    let tmp = sibling(path, &format!(".tmp-{}", std::process::id()));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_error(&tmp, "remove a stale temporary file")(e));
        }
        _ => {}
    }
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // The temporary file is gone already if the rename happened; else it must not stay.
        if let Err(r) = std::fs::remove_file(&tmp)
            && r.kind() != io::ErrorKind::NotFound
        {
            eprintln!("nslab: warning: cannot remove {}: {r}", tmp.display());
        }
        return Err(io_error(path, "write it")(e));
    }
    Ok(())
}
