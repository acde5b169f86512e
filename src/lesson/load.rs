//! Where lessons come from (the paths given, `NSLAB_LESSONS`, or the binary itself), read once
//! into memory with bounds, then parsed and linted.
//!
//! Everything after this point works on the text: workers of `nslab verify` are handed the
//! lesson's text, never a path to read again.

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Lesson, builtin, lint, parse};
use crate::diag::{Diagnostic, Source};

/// The largest lesson nslab reads (a generated lesson of a thousand namespaces is about 250 KiB).
pub const MAX_LESSON_BYTES: u64 = 4 << 20;

/// How long nslab waits for a lesson that arrives through a pipe.
const PIPE_WAIT: Duration = Duration::from_secs(5);

/// Lessons from the paths given, else `NSLAB_LESSONS` (paths separated by `:`), else the
/// built-in ones. A file that cannot be read as a lesson (not UTF-8, too large, not a file)
/// becomes a diagnostic for that file; the others are read. `Err` only when nothing names a
/// lesson at all (an empty folder, a missing path).
pub fn sources(paths: &[PathBuf]) -> Result<(Vec<Source>, Vec<Diagnostic>), String> {
    if !paths.is_empty() {
        return read_paths(paths);
    }
    match std::env::var_os("NSLAB_LESSONS") {
        Some(v) if !v.is_empty() => {
            // An empty entry (a trailing ':') names nothing: skip it.
            let paths: Vec<PathBuf> = std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            if paths.is_empty() {
                return Ok((builtin::builtin(), vec![]));
            }
            read_paths(&paths)
        }
        _ => Ok((builtin::builtin(), vec![])),
    }
}

fn read_paths(paths: &[PathBuf]) -> Result<(Vec<Source>, Vec<Diagnostic>), String> {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: cannot read the folder: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "md"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!(
                    "{}: the folder holds no lesson (*.md)",
                    p.display()
                ));
            }
            let folder = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            for f in files {
                if let Some(d) = links_out(&f, &folder) {
                    diags.push(d);
                    continue;
                }
                match read_file(&f)? {
                    Ok(s) => out.push(s),
                    Err(d) => diags.push(d),
                }
            }
        } else if !p.exists()
            && let Some(b) = builtin_named(&p.to_string_lossy())
        {
            // A built-in lesson, by its id or the name it has in the source tree
            // (`lessons/03-bridges.md`, which reports print), from anywhere.
            out.push(b);
        } else {
            match read_file(p)? {
                Ok(s) => out.push(s),
                Err(d) => diags.push(d),
            }
        }
    }
    Ok((out, diags))
}

/// The built-in lesson with this id, or this name (`lessons/03-bridges.md`).
fn builtin_named(name: &str) -> Option<Source> {
    builtin::builtin()
        .into_iter()
        .find(|s| s.name == name || parse::parse(s).0.is_some_and(|l| l.id == name))
}

/// A file of a folder that is a link to a file outside the folder: not read. A folder of
/// lessons may come from a stranger's pull request, and a link in it could name any file of
/// the machine that whoever runs nslab may read (`/proc/kmsg`, which blocks and whose reading
/// takes the kernel's messages from whoever else reads them; a file of secrets). Given by
/// itself on the command line, such a file is read: that is the reader's own choice.
fn links_out(f: &Path, folder: &Path) -> Option<Diagnostic> {
    let link = std::fs::symlink_metadata(f).ok()?.file_type().is_symlink();
    if !link {
        return None;
    }
    let name = f.display().to_string();
    let target = std::fs::read_link(f).map_or_else(|_| "?".into(), |t| t.display().to_string());
    match std::fs::canonicalize(f) {
        Ok(real) if real.starts_with(folder) => None,
        Ok(_) => Some(Diagnostic::file_error(
            &name,
            format!(
                "this is a link to {target}, outside the folder: in a folder, nslab reads only the \
                 lessons that are in it (give the file itself to read it)"
            ),
        )),
        Err(e) => Some(Diagnostic::file_error(
            &name,
            format!("this is a link to {target}, which cannot be followed: {e}"),
        )),
    }
}

/// Whether `p` is a file of a kernel file system (/proc, /sys, ...): such files are no lessons,
/// and reading some of them blocks, or takes something from the kernel (`/proc/kmsg`).
fn kernel_file(p: &Path) -> bool {
    use nix::sys::statfs::{
        BPF_FS_MAGIC, CGROUP_SUPER_MAGIC, DEBUGFS_MAGIC, FsType, PROC_SUPER_MAGIC,
        SECURITYFS_MAGIC, SYSFS_MAGIC, TRACEFS_MAGIC,
    };
    // cgroup2 has no constant in nix.
    const CGROUP2_SUPER_MAGIC: FsType = FsType(0x6367_7270);
    nix::sys::statfs::statfs(p).is_ok_and(|st| {
        let t = st.filesystem_type();
        [
            PROC_SUPER_MAGIC,
            SYSFS_MAGIC,
            DEBUGFS_MAGIC,
            TRACEFS_MAGIC,
            SECURITYFS_MAGIC,
            BPF_FS_MAGIC,
            CGROUP_SUPER_MAGIC,
            CGROUP2_SUPER_MAGIC,
        ]
        .contains(&t)
    })
}

/// Reads one lesson file. The outer `Err` stops everything (the path names nothing); the
/// inner one is a diagnostic about this file alone.
fn read_file(p: &Path) -> Result<Result<Source, Diagnostic>, String> {
    let name = p.display().to_string();
    let meta = std::fs::metadata(p).map_err(|e| format!("{name}: cannot read the lesson: {e}"))?;
    let ft = meta.file_type();
    let file_error = |msg: String| Diagnostic::file_error(&name, msg);
    let bytes = if ft.is_file() && kernel_file(p) {
        return Ok(Err(file_error(
            "this is a file of the kernel's (/proc, /sys), not a lesson file: nslab does not read it"
                .into(),
        )));
    } else if ft.is_file() {
        if meta.len() > MAX_LESSON_BYTES {
            return Ok(Err(file_error(format!(
                "the lesson is {} bytes; nslab reads lessons of up to {} bytes",
                meta.len(),
                MAX_LESSON_BYTES
            ))));
        }
        let mut b = Vec::new();
        std::fs::File::open(p)
            .and_then(|f| f.take(MAX_LESSON_BYTES + 1).read_to_end(&mut b))
            .map_err(|e| format!("{name}: cannot read the lesson: {e}"))?;
        b
    } else if ft.is_fifo() || ft.is_socket() {
        match read_pipe(p) {
            Ok(b) => b,
            Err(msg) => return Ok(Err(file_error(msg))),
        }
    } else {
        let what = if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Ok(Err(file_error(format!(
            "this is {what}, not a lesson file: nslab reads lessons from regular files (or a pipe)"
        ))));
    };
    if bytes.len() as u64 > MAX_LESSON_BYTES {
        return Ok(Err(file_error(format!(
            "the lesson is longer than {MAX_LESSON_BYTES} bytes"
        ))));
    }
    Ok(text_of(&name, bytes))
}

/// A lesson through a pipe (`nslab lint <(cat l.md)`, a FIFO): read with a bounded wait, so
/// that a FIFO nobody writes to cannot hang nslab.
fn read_pipe(p: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(p)
        .map_err(|e| format!("cannot open the pipe: {e}"))?;
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let mut f = &file;
    loop {
        match f.read(&mut buf) {
            // End of data: a writer closed it, or nobody ever opened it for writing.
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() as u64 > MAX_LESSON_BYTES {
                    return Err(format!(
                        "more than {MAX_LESSON_BYTES} bytes came through the pipe"
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if start.elapsed() > PIPE_WAIT {
                    return Err(format!(
                        "nothing more came through the pipe in {} s",
                        PIPE_WAIT.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the pipe: {e}")),
        }
    }
    Ok(out)
}

/// The lesson's text: UTF-8, with a byte-order mark allowed and dropped.
fn text_of(name: &str, bytes: Vec<u8>) -> Result<Source, Diagnostic> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let col = String::from_utf8_lossy(
                &good[good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)..],
            )
            .chars()
            .count()
                + 1;
            Err(Diagnostic::at(
                name,
                line,
                col,
                "the lesson is not UTF-8 text (save it as UTF-8)",
            ))
        }
    }
}

/// Reads, parses and lints lessons: the lessons without errors, and every diagnostic.
pub fn lessons(paths: &[PathBuf]) -> Result<(Vec<Lesson>, Vec<Diagnostic>), String> {
    let (sources, mut diags) = sources(paths)?;
    let mut lessons = Vec::new();
    for s in &sources {
        let (l, d) = parse::parse(s);
        diags.extend(d);
        lessons.extend(l);
    }
    diags.extend(lint::lint(&lessons));
    Ok((lessons, diags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nslab-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const HEAD: &str = "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n## S\n";

    #[test]
    fn a_bom_is_dropped_and_bad_utf8_is_located() {
        let d = temp("bom");
        let f = d.join("a.md");
        std::fs::write(&f, [b"\xEF\xBB\xBF".as_slice(), HEAD.as_bytes()].concat()).unwrap();
        let (s, diags) = sources(&[f]).unwrap();
        assert!(diags.is_empty());
        assert!(s[0].text.starts_with("+++"));
        let g = d.join("b.md");
        std::fs::write(&g, b"+++\nid = \"\xff\"\n").unwrap();
        let h = d.join("c.md");
        std::fs::write(&h, HEAD).unwrap();
        // One bad file does not stop the others.
        let (s, diags) = sources(std::slice::from_ref(&d)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .to_string()
                .contains("b.md:2:7: error: the lesson is not UTF-8"),
            "{}",
            diags[0]
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn devices_and_silent_fifos_are_refused_without_hanging() {
        let (_, diags) = sources(&[PathBuf::from("/dev/zero")]).unwrap();
        assert!(diags[0].to_string().contains("a device"), "{}", diags[0]);
        let d = temp("fifo");
        let f = d.join("l.md");
        nix::unistd::mkfifo(&f, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let start = Instant::now();
        let (s, diags) = sources(&[f]).unwrap();
        // Nobody writes: it reads as empty at once (the parser then says what a lesson needs).
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(s.len() + diags.len(), 1);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn kernel_files_and_links_out_of_a_folder_are_refused_unread() {
        let (s, diags) = sources(&[PathBuf::from("/proc/kmsg")]).unwrap();
        assert!(s.is_empty());
        assert!(
            diags[0].to_string().contains("a file of the kernel's"),
            "{}",
            diags[0]
        );
        let d = temp("links");
        let outside = temp("links-outside").join("secret.md");
        std::fs::write(
            &outside,
            "+++\nid = \"s\"\ntitle = \"S\"\nformat = 1\n+++\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.md"),
            "+++\nid = \"a\"\ntitle = \"A\"\nformat = 1\n+++\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("a.md", d.join("b.md")).unwrap();
        std::os::unix::fs::symlink(&outside, d.join("c.md")).unwrap();
        std::os::unix::fs::symlink("/proc/kmsg", d.join("k.md")).unwrap();
        let (s, diags) = sources(std::slice::from_ref(&d)).unwrap();
        // a.md, and b.md (a link inside the folder), are read.
        assert_eq!(s.len(), 2, "{diags:?}");
        let said: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].contains("c.md:1:1: error: this is a link to"),
            "{said:?}"
        );
        assert!(said[0].contains("outside the folder"), "{said:?}");
        assert!(
            said[1].contains("k.md:1:1: error: this is a link to /proc/kmsg"),
            "{said:?}"
        );
        // Given by itself, the file outside is read.
        let (s, _) = sources(&[d.join("c.md")]).unwrap();
        assert_eq!(s.len(), 1);
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::remove_dir_all(outside.parent().unwrap());
    }

    #[test]
    fn a_too_large_lesson_is_refused() {
        let d = temp("big");
        let f = d.join("big.md");
        let file = std::fs::File::create(&f).unwrap();
        file.set_len(MAX_LESSON_BYTES + 1).unwrap();
        let (s, diags) = sources(&[f]).unwrap();
        assert!(s.is_empty());
        assert!(diags[0].message.contains("bytes"), "{}", diags[0]);
        let _ = std::fs::remove_dir_all(d);
    }
}
