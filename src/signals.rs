//! SIGINT, SIGTERM and SIGHUP: how nslab leaves when it is asked to.
//!
//! - learn and demo ([`OnSignal::Leave`]): as with `q` or Ctrl-C. The key loop sees
//!   [`stopping`] and quits by its own path (the terminal restored, progress saved); if it is
//!   busy (a step being performed), after [`GRACE`] this thread restores the terminal (raw mode
//!   off, echo on, cursor shown) and exits with 130. The lab stays as it is.
//! - verify --no-sandbox ([`OnSignal::Stop`]): no further line runs (the engine asks
//!   [`stopping`]), the worker resets the lesson by its baseline and exits with 130; the parent
//!   passes the signal on to its workers and waits for them.
//!
//! The mechanism is signal-hook's iterator: a handler that only writes to a pipe, read on a
//! thread of nslab's own, so that nothing but that write happens inside the handler, and the
//! crate stays free of `unsafe`. Blocking the signals and waiting for them (sigwait, signalfd)
//! was not chosen: a blocked signal stays blocked in every program nslab starts (the lines, the
//! student's shell), and std does not unblock it; a handled signal is reset to its default by
//! `exec`.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGWINCH};
use signal_hook::iterator::Signals;

/// How long learn and demo have to leave by themselves before the signal thread ends them.
pub const GRACE: Duration = Duration::from_secs(1);

static STOPPING: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Processes to pass a signal on to (verify's workers).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Where to say that nslab is asked to stop: the write ends of the [`Wake`]s there are.
static STOP_WAKES: Mutex<Vec<(u64, UnixStream)>> = Mutex::new(Vec::new());
static WAKE_IDS: AtomicU64 = AtomicU64::new(0);
/// What to do before nslab leaves on a key or a signal (demo: write down what it made).
static ON_LEAVE: Mutex<Option<Box<dyn Fn() + Send>>> = Mutex::new(None);

/// Sets what [`leaving`] does.
pub fn on_leave(f: impl Fn() + Send + 'static) {
    if let Ok(mut g) = ON_LEAVE.lock() {
        *g = Some(Box::new(f));
    }
}

/// nslab leaves at once (Ctrl-C, `q` while busy, a signal): what [`on_leave`] set is done
/// first.
pub fn leaving() {
    // (try_lock: a second signal while it runs must not wait on it.)
    if let Ok(g) = ON_LEAVE.try_lock()
        && let Some(f) = g.as_ref()
    {
        f();
    }
}

/// What a signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// Leave like `q`: the terminal restored, exit code 130.
    Leave,
    /// Stop acting, undo, exit 130 (the main thread does it; see the module's doc).
    Stop,
}

/// A signal asked nslab to stop.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// The signal that did, if any (its number).
pub fn received() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The signal's name, for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Starts the thread that waits for SIGINT, SIGTERM and SIGHUP.
pub fn watch(on: OnSignal) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("nslab-signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let first = !STOPPING.swap(true, Ordering::SeqCst);
                if first {
                    SIGNAL.store(s, Ordering::SeqCst);
                }
                // After STOPPING: a key loop that wakes sees it.
                if let Ok(w) = STOP_WAKES.lock() {
                    for (_, tx) in w.iter() {
                        let _ = (&*tx).write_all(&[1]);
                    }
                }
                pass_on();
                if on == OnSignal::Stop && first {
                    stop_lines();
                }
                if on == OnSignal::Leave && first {
                    std::thread::sleep(GRACE);
                    leaving();
                    crate::term::restore_terminal();
                    std::process::exit(crate::exit::Code::Interrupted as i32);
                }
            }
        })?;
    Ok(())
}

/// Readable when the terminal was resized (SIGWINCH) or nslab was asked to stop (see
/// [`watch`]): for a key loop that sleeps until something happens, with no clock to wake it.
pub struct Wake {
    rx: UnixStream,
    id: u64,
    winch: Option<signal_hook::SigId>,
}

impl Wake {
    pub fn new() -> std::io::Result<Wake> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        // The handler only writes to the socket (signal-hook's self-pipe). Where it cannot be
        // registered, a resize is seen when the loop next wakes.
        let winch = signal_hook::low_level::pipe::register(SIGWINCH, tx.try_clone()?).ok();
        let id = WAKE_IDS.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = STOP_WAKES.lock() {
            w.push((id, tx));
        }
        Ok(Wake { rx, id, winch })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// Reads what woke it.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(id) = self.winch.take() {
            signal_hook::low_level::unregister(id);
        }
        if let Ok(mut w) = STOP_WAKES.lock() {
            w.retain(|(id, _)| *id != self.id);
        }
    }
}

/// A child to pass a signal on to (SIGTERM) while it runs.
pub fn adopt(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.push(pid);
    }
    // A signal that came before the child was known.
    if stopping() {
        pass_on();
    }
}

/// The child ended (its pid may be reused).
pub fn release(pid: u32) {
    if let Ok(mut c) = CHILDREN.lock() {
        c.retain(|p| *p != pid);
    }
}

/// The lesson line running now is stopped, as a timed-out one is: SIGTERM to its process group,
/// SIGKILL a moment later. Lines are the children of nslab's line helper (kernel/lines.rs),
/// each the leader of its own group; the helper then answers that the line was killed, and
/// the engine runs no other.
fn stop_lines() {
    use nix::sys::signal::{Signal, killpg};
    let me = std::process::id();
    let helpers: Vec<u32> = crate::kernel::procs::children_of(me)
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"__lines"))
        })
        .collect();
    // The helper is a subreaper: what the lines left running (a double fork, setsid, nohup)
    // is its child too, in whatever process group it chose. Each child and each group of
    // theirs, but never the helper's own group or nslab's. (A group or a process that has
    // ended already: nothing to do.)
    let spared: Vec<i32> = helpers
        .iter()
        .filter_map(|h| crate::kernel::procs::pgid_of(*h))
        .chain(crate::kernel::procs::pgid_of(me))
        .collect();
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        for child in helpers
            .iter()
            .flat_map(|h| crate::kernel::procs::children_of(*h))
        {
            let Ok(pid) = i32::try_from(child) else {
                continue;
            };
            if let Some(g) = crate::kernel::procs::pgid_of(child).filter(|g| !spared.contains(g)) {
                let _ = killpg(nix::unistd::Pid::from_raw(g), signal);
            }
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
        std::thread::sleep(Duration::from_millis(if signal == Signal::SIGTERM {
            500
        } else {
            50
        }));
    }
}

/// Passes the signal on to the children nslab started (a verify worker).
fn pass_on() {
    let pids = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    for pid in pids {
        if let Ok(p) = i32::try_from(pid) {
            // A child that has ended already: nothing to do.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(w: &Wake) -> bool {
        let mut fds = [nix::poll::PollFd::new(w.fd(), nix::poll::PollFlags::POLLIN)];
        matches!(
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO),
            Ok(n) if n > 0
        )
    }

    #[test]
    fn a_resize_wakes_the_key_loop_and_is_read_once() {
        let w = Wake::new().expect("a wake");
        assert!(!readable(&w), "nothing happened yet");
        // Delivered to this thread before raise returns: the handler has written by then.
        signal_hook::low_level::raise(SIGWINCH).expect("raise SIGWINCH");
        assert!(readable(&w), "SIGWINCH wakes it");
        w.drain();
        assert!(!readable(&w), "drained");
        let id = w.id;
        drop(w);
        assert!(
            STOP_WAKES
                .lock()
                .is_ok_and(|s| s.iter().all(|(i, _)| *i != id)),
            "a dropped wake is no longer told of a stop"
        );
    }
}
