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

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long learn and demo have to leave by themselves before the signal thread ends them.
pub const GRACE: Duration = Duration::from_secs(1);

static STOPPING: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Processes to pass a signal on to (verify's workers).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
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
