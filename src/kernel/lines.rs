//! Lesson lines: every `/bin/sh -c LINE` of a run is started by one helper process, `nslab
//! __lines`, a child of nslab.
//!
//! Why a helper: a line may leave processes behind on purpose (`/tmp/netns-demo 120 &`, which
//! later steps look for) or by malice (`setsid sleep 1000 &`, `nohup`, a double fork). They must
//! live until the run ends and not a moment longer. The helper is a child subreaper
//! (PR_SET_CHILD_SUBREAPER): every process a line starts stays its descendant, whatever it does
//! with sessions and process groups, because an orphan is handed to the nearest subreaper, not
//! to init. When the run ends, the helper's socket to nslab closes (nslab dropped its kernel,
//! or died, SIGKILL included: the kernel closes a dead process's files), and the helper kills
//! its descendants, round after round, until it has none. Inside verify's jail there is also the
//! kernel's own guarantee: the jail is a pid namespace, and everything in it dies with its
//! pid 1.
//!
//! Why not a pid namespace of the lines' own, on the host: its pids are not the ones the host's
//! /proc shows, so a line's `$$` and `$!` would name other processes (`ls -l /proc/$$/ns`, in
//! the namespaces lesson, fails), and a helper that enters it per line costs an exec (about
//! 2 ms per line, measured). Lines keep nslab's mount namespace, /proc and pid namespace: what
//! they make (`ip netns add`) and start (`pgrep netns-demo`) is what the student's shell sees.
//!
//! The helper runs each line in its own process group, in a session without a controlling
//! terminal (it calls setsid itself), with /dev/null as standard input: a line cannot read the
//! user's terminal, nor stop nslab with SIGTTIN. On timeout it sends SIGTERM to the line's
//! process group, then SIGKILL. It captures at most [`OUTPUT_CAP`] bytes of each stream of a
//! line, counts the rest and drops it, and stops reading when the line's shell has ended: a
//! background child that keeps the output open can no longer make nslab wait.

use std::fs::File;
use std::io::{PipeReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, killpg, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{KernelError, Result, ShellOutput, netns, sandbox};

/// At most this many bytes of each of a line's streams (stdout, stderr) are kept.
pub const OUTPUT_CAP: usize = 1 << 20;

/// After SIGTERM, how long a timed-out line's process group has before SIGKILL.
const GRACE: Duration = Duration::from_millis(500);

/// How long the helper keeps killing what the lines left before it gives up.
const KILL_ALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The hidden subcommand that runs [`serve`].
pub const SUBCOMMAND: &str = "__lines";

/// Replaces every line's timeout (seconds, a decimal number): for tests and slow CI runners.
pub const TIMEOUT_ENV: &str = "NSLAB_LINE_TIMEOUT";

/// Set for the helper that the jail's pid 1 starts early (see [`prestart`]): it joins the
/// jail's locked namespaces before it serves.
pub const JOIN_ENV: &str = "NSLAB_LINES_JOIN";

/// The helper started by [`prestart`], until a [`Runner`] takes it.
static PRESTARTED: std::sync::Mutex<Option<(Child, UnixStream)>> = std::sync::Mutex::new(None);

/// Set once a helper was prestarted: no other may start (see [`prestart`]).
static PRESTARTED_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts the line helper of verify's jail early, from its pid 1, while pid 1 is still in the
/// builder's user namespace (before the jail is locked); [`release_prestarted`] then lets it
/// join the jail's locked namespaces.
///
/// Why: a process that is not dumpable can be traced, and its descriptors taken
/// (pidfd_getfd, /proc/PID/fd), only with CAP_SYS_PTRACE in the user namespace it was started
/// in. Lines hold every capability of the jail's user namespace; a helper started there would
/// be theirs to trace, and its socket to pid 1 theirs to write replies into ("status 0" for a
/// line or an `sh:` check that failed). Started in the builder's, it is out of their reach.
/// For the same reason no other helper may start later (one the lesson killed is not
/// replaced): it would be started in the jail's user namespace.
pub fn prestart(exe: &Path) -> Result<()> {
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| KernelError::io("socketpair for the line helper", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .env(JOIN_ENV, "1")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .map_err(|e| KernelError::io(format!("start the line helper {}", exe.display()), e))?;
    PRESTARTED_ONLY.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Ok(mut p) = PRESTARTED.lock() {
        *p = Some((child, ours));
    }
    Ok(())
}

/// Tells the prestarted helper that pid 1's namespaces are the jail's, locked: it may join them.
pub fn release_prestarted() -> Result<()> {
    let p = PRESTARTED
        .lock()
        .map_err(|_| KernelError::Other("the line helper's lock".into()))?;
    match p.as_ref() {
        Some((_, stream)) => {
            let mut s = stream;
            s.write_all(b"g")
                .map_err(|e| KernelError::io("start the line helper", e))
        }
        None => Ok(()),
    }
}

/// The prestarted helper's side: waits for pid 1's word, then enters pid 1's user, mount,
/// network, UTS and IPC namespaces (the jail's, locked), and makes itself not dumpable.
fn join_jail(stream: &UnixStream) -> std::result::Result<(), String> {
    let not_dumpable =
        || nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"));
    not_dumpable()?;
    let mut go = [0u8; 1];
    let mut s = stream;
    if !s.read(&mut go).is_ok_and(|n| n == 1) {
        return Err("the jail's pid 1 did not say when to join it".into());
    }
    let mut fds = Vec::new();
    for (name, flag) in [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
    ] {
        let path = format!("/proc/1/ns/{name}");
        let f = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
        fds.push((f, flag, path));
    }
    for (f, flag, path) in &fds {
        setns(f.as_fd(), *flag).map_err(|e| format!("setns {path}: {e}"))?;
    }
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    // A change of credentials may make a process dumpable again: once more.
    not_dumpable()
}

/// The variable that hands a line to its shell. The line is not in the shell's arguments: they
/// are its command line in /proc, which `pkill -f PATTERN` and `pgrep -f PATTERN` match, so a line
/// `pkill -f 'sleep 60'` would have killed its own shell (and a check `pgrep -f` found it).
const LINE_ENV: &str = "NSLAB_SH_LINE";

/// What the shell runs: the line, once the variable is gone from what the line's programs
/// inherit. On the script's first line, as the line is, so that the shell's messages give the
/// line's own line numbers.
const SCRIPT: &str = "eval \"unset NSLAB_SH_LINE; $NSLAB_SH_LINE\"";

/// The same, for lines that run as root: `sudo CMD` (with options that only keep the
/// environment or forbid a prompt) runs CMD. Tutorials put `sudo` before every line; in
/// verify's jail, a user namespace, the real sudo cannot start ("error initializing audit
/// plugin"), and as root it would add nothing. Any other option (`-u alice`) is the real sudo's.
const SCRIPT_AS_ROOT: &str = "sudo() { _n=0; for _a; do case $_a in -E|-H|-n|-S|-k|--preserve-env|--preserve-env=*|--non-interactive|--set-home) _n=$((_n+1));; --) _n=$((_n+1)); break;; -*) command sudo \"$@\"; return;; *) break;; esac; done; shift $_n; unset _n _a; \"$@\"; }; eval \"unset NSLAB_SH_LINE; $NSLAB_SH_LINE\"";

/// The timeout `NSLAB_LINE_TIMEOUT` sets, if it is set to a usable number.
pub fn timeout_override() -> Option<Duration> {
    std::env::var(TIMEOUT_ENV)
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

/// Frames larger than this are refused. A reply holds two capped streams, and JSON writes a
/// control byte as six (`\u0000`): a MiB of NULs is 6 MiB.
const MAX_FRAME: usize = 2 * 6 * OUTPUT_CAP + (1 << 20);

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    line: String,
    /// The named network namespace to run in; none for the helper's own (nslab's root one).
    netns: Option<String>,
    timeout_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Reply {
    status: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    dropped: u64,
    /// The line could not be started (the reason).
    error: Option<String>,
    /// The line's shell: its process id, which is also its process group's.
    pid: i32,
    /// The signal that ended the shell, if one did.
    signal: Option<i32>,
}

/// The first frame the helper sends: it is ready, or why it is not.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    error: Option<String>,
}

fn write_frame<T: Serialize>(mut w: &UnixStream, what: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(what).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)
}

/// Reads one frame; `None` at a clean end of stream.
fn read_frame<T: for<'de> Deserialize<'de>>(mut r: &UnixStream) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!("a frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(std::io::Error::other)
}

// ---- nslab's side ----

/// nslab's handle on its helper. Dropping it ends the helper, and with it every process that
/// the run's lines started.
pub struct Runner {
    stream: UnixStream,
    /// False once the helper stopped answering: it must be started again.
    alive: bool,
    /// Tells the thread that started the helper to end it (see [`Runner::start`]).
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts the helper (the binary `exe`) in the network namespace `root`: lines that name no
    /// namespace run there.
    ///
    /// A thread of its own starts it: that thread enters `root` (the caller's thread may be in
    /// another namespace, and is not to be moved), then holds the helper as its child until the
    /// runner is dropped, and reaps it.
    pub fn start(exe: &Path, root: &OwnedFd) -> Result<Runner> {
        let prestarted = PRESTARTED.lock().ok().and_then(|mut p| p.take());
        if prestarted.is_none() && PRESTARTED_ONLY.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(KernelError::Other(
                "the line helper ended (a line stopped or killed it), and in the jail no other \
                 may start"
                    .into(),
            ));
        }
        let root = root
            .try_clone()
            .map_err(|e| KernelError::io("duplicate a namespace fd", e))?;
        let (ours, theirs) = match prestarted {
            Some((child, ours)) => (ours, Err(child)),
            None => {
                let (ours, theirs) = UnixStream::pair()
                    .map_err(|e| KernelError::io("socketpair for the line helper", e))?;
                (ours, Ok(theirs))
            }
        };
        let (started_tx, started_rx) = mpsc::channel::<Result<()>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exe = exe.to_path_buf();
        let keeper = std::thread::Builder::new()
            .name("nslab-lines".into())
            .spawn(move || {
                let child = match theirs {
                    // Already started, in the jail's namespaces.
                    Err(child) => Ok(child),
                    Ok(theirs) => setns(root.as_fd(), CloneFlags::CLONE_NEWNET)
                        .map_err(|e| KernelError::io("setns", e.into()))
                        .and_then(|()| spawn_helper(&exe, theirs)),
                };
                match child {
                    Ok(mut child) => {
                        let _ = started_tx.send(Ok(()));
                        // Until nslab drops the runner (or ends: then this thread ends with it).
                        let _ = stop_rx.recv();
                        // The helper ends by itself once its socket is closed, after it killed
                        // what the lines left; a helper that hangs is killed.
                        let start = Instant::now();
                        while start.elapsed() < KILL_ALL_TIMEOUT + GRACE {
                            if !matches!(child.try_wait(), Ok(None)) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| KernelError::io("start a thread for the line helper", e))?;
        let mut runner = Runner {
            stream: ours,
            alive: true,
            stop: Some(stop_tx),
            keeper: Some(keeper),
        };
        started_rx
            .recv()
            .map_err(|_| KernelError::Other("the line helper's thread ended".into()))??;
        runner
            .stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| KernelError::io("line helper socket", e))?;
        let hello: Option<Hello> = read_frame(&runner.stream)
            .map_err(|e| KernelError::io("wait for the line helper to start", e))?;
        match hello {
            Some(Hello { error: None }) => Ok(runner),
            Some(Hello { error: Some(e) }) => {
                runner.end();
                Err(KernelError::Other(format!(
                    "the line helper cannot start: {e}"
                )))
            }
            None => {
                runner.end();
                Err(KernelError::Other(
                    "the line helper ended as it started".into(),
                ))
            }
        }
    }

    /// Whether the helper still answers.
    pub fn alive(&self) -> bool {
        self.alive
    }

    /// Runs one line in the named namespace (none: nslab's root one), at most `timeout`.
    pub fn run(
        &mut self,
        line: &str,
        netns: Option<&str>,
        timeout: Duration,
    ) -> Result<ShellOutput> {
        let req = Request {
            line: line.to_string(),
            netns: netns.map(str::to_string),
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
        };
        let reply = self.exchange(&req, timeout);
        if reply.is_err() {
            self.alive = false;
        }
        let reply = reply?;
        if let Some(e) = reply.error {
            return Err(KernelError::Other(e));
        }
        Ok(ShellOutput {
            status: reply.status,
            stdout: reply.stdout,
            stderr: reply.stderr,
            timed_out: reply.timed_out,
            dropped: reply.dropped,
            limit: timeout,
            pid: reply.pid,
            signal: reply.signal,
        })
    }

    fn exchange(&mut self, req: &Request, timeout: Duration) -> Result<Reply> {
        let broken = |e: std::io::Error| KernelError::io("the line helper", e);
        write_frame(&self.stream, req).map_err(broken)?;
        // The helper enforces the timeout; this is only for a helper that stopped answering.
        self.stream
            .set_read_timeout(Some(timeout + GRACE + Duration::from_secs(10)))
            .map_err(broken)?;
        read_frame(&self.stream)
            .map_err(broken)?
            .ok_or_else(|| KernelError::Other("the line helper ended".into()))
    }

    fn end(&mut self) {
        // EOF on its socket ends the helper, once it has killed what the lines left; the thread
        // waits for that and reaps it (and kills a helper that hangs).
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.stop.take();
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.end();
    }
}

fn spawn_helper(exe: &Path, stream: UnixStream) -> Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .stdin(Stdio::from(OwnedFd::from(stream)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn()
        .map_err(|e| KernelError::io(format!("start the line helper {}", exe.display()), e))
}

// ---- the helper's side ----

/// One stream of a running line.
struct Capture {
    pipe: Option<PipeReader>,
    kept: Vec<u8>,
    dropped: u64,
}

impl Capture {
    fn new(pipe: PipeReader) -> Capture {
        Capture {
            pipe: Some(pipe),
            kept: Vec::new(),
            dropped: 0,
        }
    }

    /// Reads what one read() gives; at end of stream, closes the pipe.
    fn read_once(&mut self, buf: &mut [u8]) {
        let Some(p) = self.pipe.as_mut() else { return };
        match p.read(buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(self.kept.len()).min(n);
                self.kept.extend_from_slice(&buf[..room]);
                self.dropped += (n - room) as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.pipe = None,
        }
    }

    /// Reads whatever is already in the pipe, without waiting for more.
    fn drain(&mut self, buf: &mut [u8]) {
        while let Some(p) = self.pipe.as_ref() {
            let mut fds = [PollFd::new(p.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(0) => return,
                Ok(_) => {
                    let ready = fds[0].revents().unwrap_or(PollFlags::empty());
                    if ready.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    {
                        self.read_once(buf);
                    } else {
                        return;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

struct Running {
    pid: Pid,
    out: Capture,
    err: Capture,
    deadline: Instant,
    /// SIGTERM went to the line's process group: it timed out.
    termed: bool,
    /// SIGKILL went too, after the grace.
    killed: bool,
    /// Set when the line's shell was reaped: its exit code, if it exited.
    status: Option<Option<i32>>,
    /// The signal that ended the shell, if one did.
    signal: Option<i32>,
}

/// The helper: `nslab __lines`, with its socket as standard input. Returns the exit code.
pub fn serve() -> i32 {
    let stream = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => return 3,
    };
    if std::env::var_os(JOIN_ENV).is_some()
        && let Err(e) = join_jail(&stream)
    {
        let _ = write_frame(&stream, &Hello { error: Some(e) });
        return 3;
    }
    let code = match setup() {
        Ok((sigfd, root)) => {
            if write_frame(&stream, &Hello { error: None }).is_err() {
                3
            } else {
                serve_lines(&stream, &sigfd, &root)
            }
        }
        Err(e) => {
            let _ = write_frame(&stream, &Hello { error: Some(e) });
            3
        }
    };
    kill_all();
    code
}

/// SIGCHLD, the only signal the helper blocks (to read it from a signalfd).
fn sigchld() -> SigSet {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask
}

/// The signals that would end the helper and that a process may catch. A lesson line
/// `pkill -f nslab` (or `killall nslab`, or a kill of a pid it guessed) must not end the
/// helper while nslab runs on: the processes the lines left would lose the one process that
/// ends them with the run. The helper catches them and carries on (a caught signal, unlike an
/// ignored one, is back to its default in a program the helper starts); it ends when nslab
/// closes its socket, or by SIGKILL.
const SHRUGGED: &[i32] = &[
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGUSR1,
    signal_hook::consts::SIGUSR2,
    signal_hook::consts::SIGALRM,
    signal_hook::consts::SIGVTALRM,
    signal_hook::consts::SIGPROF,
    signal_hook::consts::SIGIO,
    signal_hook::consts::SIGXCPU,
    signal_hook::consts::SIGXFSZ,
];

/// A subreaper in a session without a terminal, with the jail's limits, SIGCHLD as a file, and
/// its own network namespace (the run's root one) kept at hand.
fn setup() -> std::result::Result<(SignalFd, OwnedFd), String> {
    // Orphans of the lines come here, not to init: they stay within reach of `kill_all`.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
    // A new session has no controlling terminal, and the lines inherit that.
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    // The socket is not for the lines: standard input becomes /dev/null.
    let null = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2: {e}"))?;
    sandbox::apply_line_limits().map_err(|e| e.to_string())?;
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld()), None)
        .map_err(|e| format!("block SIGCHLD: {e}"))?;
    let shrugged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for &sig in SHRUGGED {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&shrugged))
            .map_err(|e| format!("catch signal {sig}: {e}"))?;
    }
    let sigfd = SignalFd::with_flags(&sigchld(), SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| format!("signalfd: {e}"))?;
    let root: OwnedFd = File::open("/proc/thread-self/ns/net")
        .map_err(|e| format!("open /proc/thread-self/ns/net: {e}"))?
        .into();
    Ok((sigfd, root))
}

/// Kills every descendant: the children first; their children, orphaned, then come to this
/// subreaper and are killed in the next round. Pids cannot be reused meanwhile: a child that
/// ended stays a zombie until it is reaped here.
fn kill_all() {
    let me = std::process::id();
    let start = Instant::now();
    while start.elapsed() < KILL_ALL_TIMEOUT {
        for pid in super::procs::children_of(me)
            .into_iter()
            .filter_map(|p| i32::try_from(p).ok())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::ECHILD) => return,
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn serve_lines(stream: &UnixStream, sigfd: &SignalFd, root: &OwnedFd) -> i32 {
    let mut running: Option<Running> = None;
    // Pipes of ended lines that a background process still holds open. They are not read any
    // more (a writer blocks once the pipe is full) and are closed when the last writer leaves.
    let mut parked: Vec<PipeReader> = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // First, the answer of a line that is done: before waiting for anything else, since
        // nothing else may come (its shell was reaped, its background children keep its pipes).
        if let Some(r) = running.as_mut()
            && r.done()
        {
            let reply = r.finish(&mut buf, &mut parked);
            running = None;
            if write_frame(stream, &reply).is_err() {
                return 0;
            }
            continue;
        }
        // Wake at the running line's deadline (its timeout, then the end of its grace).
        let timeout = match &running {
            Some(r) if !r.killed && (r.status.is_none() || r.termed) => {
                let left = r.deadline.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left + Duration::from_millis(1)).unwrap_or(PollTimeout::MAX)
            }
            _ => PollTimeout::NONE,
        };
        // Order: socket, signals, stdout, stderr, then the parked pipes.
        let (ready, parked_ready) = {
            let mut fds = Vec::with_capacity(4 + parked.len());
            let sock_events = if running.is_none() {
                PollFlags::POLLIN
            } else {
                PollFlags::empty()
            };
            fds.push(PollFd::new(stream.as_fd(), sock_events));
            fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
            let mut streams = 0;
            if let Some(r) = &running {
                for c in [&r.out, &r.err] {
                    if let Some(p) = &c.pipe {
                        fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                        streams += 1;
                    }
                }
            }
            let first_parked = fds.len();
            for p in &parked {
                fds.push(PollFd::new(p.as_fd(), PollFlags::empty()));
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return 3,
            }
            let ev = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
            let ready: Vec<PollFlags> = (0..2 + streams).map(ev).collect();
            let parked_ready: Vec<bool> = (first_parked..fds.len())
                .map(|i| ev(i).intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
                .collect();
            (ready, parked_ready)
        };
        // Parked pipes whose last writer left.
        let mut i = 0;
        parked.retain(|_| {
            let keep = !parked_ready[i];
            i += 1;
            keep
        });
        if running.is_some() && ready[0].intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // nslab died while a line ran: the caller ends the line and all the rest.
            return 0;
        }
        if !ready[1].is_empty() {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            // Reap every child that ended, orphans of the lines included (a subreaper's).
            reap(&mut running);
        }
        if let Some(r) = running.as_mut() {
            let input = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
            let mut k = 2;
            for c in [&mut r.out, &mut r.err] {
                if c.pipe.is_some() {
                    if ready[k].intersects(input) {
                        c.read_once(&mut buf);
                    }
                    k += 1;
                }
            }
            enforce_timeout(r);
        }
        if running.is_none() && !ready[0].is_empty() {
            match read_frame::<Request>(stream) {
                Ok(Some(req)) => match start_line(&req, root) {
                    Ok(r) => {
                        running = Some(r);
                        // SIGCHLD was not blocked while the shell started (see `start_line`):
                        // one that came then was lost, so look now.
                        reap(&mut running);
                    }
                    Err(e) => {
                        let reply = Reply {
                            status: None,
                            timed_out: false,
                            stdout: String::new(),
                            stderr: String::new(),
                            dropped: 0,
                            error: Some(e),
                            pid: 0,
                            signal: None,
                        };
                        if write_frame(stream, &reply).is_err() {
                            return 0;
                        }
                    }
                },
                // nslab ended the run (or died): the caller then ends every process of the run.
                Ok(None) | Err(_) => return 0,
            }
        }
    }
}

impl Running {
    /// The line's shell was reaped and, if it timed out, its process group is dead or was sent
    /// SIGKILL.
    fn done(&self) -> bool {
        self.status.is_some() && (!self.termed || self.killed || group_gone(self.pid))
    }

    /// Its answer, with what is already in its pipes; pipes still held open go to `parked`.
    fn finish(&mut self, buf: &mut [u8], parked: &mut Vec<PipeReader>) -> Reply {
        self.out.drain(buf);
        self.err.drain(buf);
        parked.extend(self.out.pipe.take());
        parked.extend(self.err.pipe.take());
        Reply {
            status: self.status.flatten(),
            timed_out: self.termed,
            stdout: self.out.text(),
            stderr: self.err.text(),
            dropped: self.out.dropped + self.err.dropped,
            error: None,
            pid: self.pid.as_raw(),
            signal: self.signal,
        }
    }
}

/// Reaps every child that ended; records the status of the running line's shell.
fn reap(running: &mut Option<Running>) {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => record(running, pid, Some(code), None),
            // A shell killed by a signal has no exit status.
            Ok(WaitStatus::Signaled(pid, sig, _)) => record(running, pid, None, Some(sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn record(running: &mut Option<Running>, pid: Pid, code: Option<i32>, signal: Option<i32>) {
    if let Some(r) = running.as_mut()
        && r.pid == pid
    {
        r.status = Some(code);
        r.signal = signal;
    }
}

/// SIGTERM to the line's process group at its deadline, SIGKILL after [`GRACE`].
fn enforce_timeout(r: &mut Running) {
    if Instant::now() < r.deadline || r.status.is_some() && !r.termed {
        return;
    }
    if !r.termed {
        r.termed = true;
        let _ = killpg(r.pid, Signal::SIGTERM);
        r.deadline = Instant::now() + GRACE;
    } else if !r.killed {
        r.killed = true;
        let _ = killpg(r.pid, Signal::SIGKILL);
    }
}

/// Whether no process of the line's group is left (its shell was the group leader).
fn group_gone(pgid: Pid) -> bool {
    killpg(pgid, None) == Err(Errno::ESRCH)
}

fn start_line(req: &Request, root: &OwnedFd) -> std::result::Result<Running, String> {
    // This process has one thread: entering the namespace here moves all of it.
    match &req.netns {
        None => setns(root.as_fd(), CloneFlags::CLONE_NEWNET),
        Some(name) => {
            let fd = netns::open(name).map_err(|e| e.to_string())?;
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
        }
    }
    .map_err(|e| format!("setns: {e}"))?;
    let (out_r, out_w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let mut cmd = Command::new("/bin/sh");
    // Named for what it is on its command line, which `pkill -f 'sh -c'` or `pgrep -f /bin/sh`
    // would match as /bin/sh, and `pkill -f nslab` as nslab-line; `sh`, after the script, is
    // its $0, in its messages.
    cmd.arg0("lesson-line")
        .arg("-c")
        .arg(if nix::unistd::geteuid().is_root() {
            SCRIPT_AS_ROOT
        } else {
            SCRIPT
        })
        .arg("sh")
        .env(LINE_ENV, &req.line)
        .stdin(Stdio::null())
        .stdout(out_w)
        .stderr(err_w)
        .process_group(0);
    sandbox::scrub(&mut cmd);
    // A child starts with the signal mask of the thread that starts it (std does not clear it),
    // so SIGCHLD is unblocked for the moment of the spawn: a program that waits for its children
    // through a SIGCHLD handler would wait forever with it blocked. (Measured: a line's
    // `sleep 100 &` had the helper's mask.)
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&sigchld()), None);
    let child = cmd.spawn();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld()), None);
    // Back to the root namespace at once: the line's shell has its namespace, and a helper left
    // in it would keep it alive after an `ip netns del` (its veth ends with it) until the next
    // line (seen: a check `sh in p1 ...`, then p1 deleted, and p1's peer stayed).
    if req.netns.is_some() {
        let _ = setns(root.as_fd(), CloneFlags::CLONE_NEWNET);
    }
    let child = child.map_err(|e| match e.raw_os_error() {
        // The limit on processes (a lesson that filled it, or a machine that is full).
        Some(code) if code == Errno::EAGAIN as i32 => {
            format!("run /bin/sh: {e}: too many processes")
        }
        _ => format!("run /bin/sh: {e}"),
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    // `cmd` held the write ends: dropped here, so that the pipes end when the line's processes
    // close them. The child is reaped by `reap`, not through `child`.
    drop(cmd);
    Ok(Running {
        pid,
        out: Capture::new(out_r),
        err: Capture::new(err_r),
        deadline: Instant::now() + Duration::from_millis(req.timeout_ms),
        termed: false,
        killed: false,
        status: None,
        signal: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_keeps_the_cap_and_counts_the_rest() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut c = Capture::new(r);
        let mut buf = vec![0u8; 65536];
        let extra = 12345;
        // Written from a thread: the pipe holds less than the cap.
        let writer = std::thread::spawn(move || {
            w.write_all(&vec![b'y'; OUTPUT_CAP + extra]).unwrap();
        });
        while c.pipe.is_some() {
            c.read_once(&mut buf);
        }
        writer.join().unwrap();
        assert_eq!(c.kept.len(), OUTPUT_CAP);
        assert_eq!(c.dropped, extra as u64);
    }

    #[test]
    fn draining_takes_what_is_there_and_does_not_wait() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut c = Capture::new(r);
        w.write_all(b"first\n").unwrap();
        let mut buf = vec![0u8; 65536];
        // The writer is still open: a blocking read would wait for ever.
        c.drain(&mut buf);
        assert_eq!(c.text(), "first\n");
        assert!(c.pipe.is_some());
        drop(w);
        c.drain(&mut buf);
        assert!(c.pipe.is_none());
    }

    #[test]
    fn frames_go_both_ways_and_a_closed_stream_is_the_end() {
        let (a, b) = UnixStream::pair().unwrap();
        let req = Request {
            line: "echo hi".into(),
            netns: Some("blue".into()),
            timeout_ms: 1500,
        };
        write_frame(&a, &req).unwrap();
        let got: Request = read_frame(&b).unwrap().unwrap();
        assert_eq!(
            (got.line.as_str(), got.netns.as_deref()),
            ("echo hi", Some("blue"))
        );
        assert_eq!(got.timeout_ms, 1500);
        drop(a);
        assert!(read_frame::<Request>(&b).unwrap().is_none());
    }

    #[test]
    fn a_frame_that_claims_too_much_is_refused() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert!(read_frame::<Reply>(&b).is_err());
    }
}
