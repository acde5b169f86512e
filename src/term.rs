//! The interactive terminal: keys without echo, a full screen to draw on, a child program
//! given the terminal and taken back, and the promise to leave the terminal as it was found,
//! whatever way the program ends (a key, Ctrl-C, an error).

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use nix::unistd::Pid;

/// A key the modes understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    /// Escape on its own (not the start of an arrow key's sequence).
    Esc,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// Ctrl-C or Ctrl-D: leave.
    Quit,
    Other,
}

/// A key and when it was read. Keys of one read (a paste, a line tmux or a fast typist sends
/// at once) share their instant: the modes tell typing from a key press by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamped {
    pub key: Key,
    pub at: Instant,
}

/// Whether interactive modes can run: both ends must be a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Keys are read one at a time without echo while this lives; dropping it restores the
/// terminal. Ctrl-C arrives as a key (ISIG off), so it too goes through the restoring path.
/// It may be shared between threads: demo watches for Ctrl-C on one while a step runs on
/// another.
pub struct Keys {
    saved: Mutex<Termios>,
    /// Keys read but not yet handed out: one read can bring several ("123" and Enter, pasted).
    pending: Mutex<std::collections::VecDeque<Stamped>>,
    /// Wakes [`Keys::wait`] on a resize or a signal to stop; made by its first call (only a
    /// loop that sleeps on keys takes SIGWINCH).
    wake: std::sync::OnceLock<Option<crate::signals::Wake>>,
}

/// The terminal's settings as [`Keys`] found them, while it has it in raw mode: the signal
/// thread restores them when it ends nslab (see [`crate::signals`]).
static SAVED: std::sync::Mutex<Option<Termios>> = std::sync::Mutex::new(None);

/// Restores the terminal that [`Keys`] holds, from any thread: cooked mode, echo, the cursor.
pub fn restore_terminal() {
    if let Some(t) = SAVED.lock().ok().and_then(|s| s.clone()) {
        // The terminal may be gone (SIGHUP): there is nothing left to restore then.
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t);
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?25h");
        let _ = out.flush();
    }
}

impl Keys {
    pub fn new() -> std::io::Result<Keys> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        if let Ok(mut s) = SAVED.lock() {
            *s = Some(saved.clone());
        }
        let keys = Keys {
            saved: Mutex::new(saved),
            pending: Default::default(),
            wake: std::sync::OnceLock::new(),
        };
        keys.raw()?;
        Ok(keys)
    }

    fn saved(&self) -> Termios {
        match self.saved.lock() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn raw(&self) -> std::io::Result<()> {
        let mut t = self.saved();
        t.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t)?;
        Ok(())
    }

    /// The terminal as it was found, with the cursor shown. Safe to call more than once, and
    /// from another thread (demo's Ctrl-C).
    pub fn restore(&self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved());
        let mut out = std::io::stdout();
        // Show the cursor again, in case a progress line hid it.
        let _ = out.write_all(b"\x1b[?25h");
        let _ = out.flush();
    }

    /// Runs `f` with the terminal as it was found (for a subshell), then takes keys again.
    /// Keys typed meanwhile belonged to the subshell: none is left over for the mode.
    pub fn suspended<T>(&self, f: impl FnOnce() -> T) -> T {
        self.restore();
        let r = f();
        let _ = self.raw();
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
        r
    }

    /// Puts a key back, to be handed out first.
    pub fn unread(&self, k: Stamped) {
        if let Ok(mut p) = self.pending.lock() {
            p.push_front(k);
        }
    }

    /// Sleeps until a key comes, `other` is readable, the terminal is resized, nslab is asked
    /// to stop, or `timeout` has passed; at once when a key is already waiting. What woke it
    /// is left to [`Keys::next_stamped`] and to the owner of `other`.
    pub fn wait(&self, other: Option<BorrowedFd<'_>>, timeout: Duration) {
        if crate::signals::stopping() || self.pending.lock().is_ok_and(|p| !p.is_empty()) {
            return;
        }
        let wake = self.wake.get_or_init(|| crate::signals::Wake::new().ok());
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            wake.as_ref()
                .map(|w| PollFd::new(w.fd(), PollFlags::POLLIN)),
        );
        fds.extend(other.map(|o| PollFd::new(o, PollFlags::POLLIN)));
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
        drop(fds);
        if let Some(w) = wake {
            w.drain();
        }
    }

    /// The next key, if one comes within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Key> {
        self.next_stamped(timeout).map(|s| s.key)
    }

    /// The next key with the instant it was read, if one comes within `timeout`.
    pub fn next_stamped(&self, timeout: Duration) -> Option<Stamped> {
        // SIGTERM or SIGHUP: leave as Ctrl-C does.
        if crate::signals::stopping() {
            return Some(Stamped {
                key: Key::Quit,
                at: Instant::now(),
            });
        }
        if let Some(k) = self.pending.lock().ok()?.pop_front() {
            return Some(k);
        }
        let stdin = std::io::stdin();
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let mut buf = [0u8; 512];
        let n = stdin.lock().read(&mut buf).ok()?;
        let at = Instant::now();
        if n == 0 {
            return Some(Stamped { key: Key::Quit, at });
        }
        let mut pending = self.pending.lock().ok()?;
        pending.extend(decode(&buf[..n]).into_iter().map(|key| Stamped { key, at }));
        pending.pop_front()
    }
}

/// The keys in a chunk of terminal input. An escape sequence (an arrow key) is one key; an
/// escape alone is Esc.
fn decode(bytes: &[u8]) -> Vec<Key> {
    let mut keys = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        keys.push(match c {
            '\u{3}' | '\u{4}' => Key::Quit,
            '\r' | '\n' => Key::Enter,
            '\u{7f}' | '\u{8}' => Key::Backspace,
            '\u{1b}' => {
                // CSI or SS3: ESC, '[' or 'O', parameters, then a final letter or '~'.
                if matches!(chars.peek(), Some('[' | 'O')) {
                    chars.next();
                    let mut params = String::new();
                    let mut last = ' ';
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '~' {
                            last = c;
                            break;
                        }
                        params.push(c);
                    }
                    match (params.as_str(), last) {
                        (_, 'A') => Key::Up,
                        (_, 'B') => Key::Down,
                        (_, 'H') | ("1" | "7", '~') => Key::Home,
                        (_, 'F') | ("4" | "8", '~') => Key::End,
                        ("5", '~') => Key::PageUp,
                        ("6", '~') => Key::PageDown,
                        _ => Key::Other,
                    }
                } else {
                    Key::Esc
                }
            }
            c if c.is_control() => Key::Other,
            c => Key::Char(c),
        });
    }
    keys
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.restore();
        if let Ok(mut s) = SAVED.lock() {
            *s = None;
        }
    }
}

/// The terminal's width in columns (80 when unknown).
pub fn width() -> usize {
    let (_, cols) = console::Term::stdout().size();
    usize::from(cols).clamp(20, 200)
}

/// The terminal's height in rows (24 when unknown), at least 8.
pub fn height() -> usize {
    let (rows, _) = console::Term::stdout().size();
    usize::from(rows).clamp(8, 500)
}

/// The terminal's columns and rows as they are (80x24 when unknown), for a frame that must
/// fill it exactly (`show --watch`): [`width`] and [`height`] stretch a small pane to what the
/// modes' layouts need, and a frame of 8 rows scrolled a pane of 3.
pub fn size() -> (usize, usize) {
    match console::Term::stdout().size_checked() {
        Some((rows, cols)) if rows > 0 && cols > 0 => (usize::from(cols), usize::from(rows)),
        _ => (80, 24),
    }
}

/// A whole screen to draw on: the terminal's alternate screen, so that leaving gives back the
/// text that was there before. Frames are drawn whole; one equal to the last is not drawn.
pub struct Screen {
    last: Vec<String>,
    on: bool,
}

impl Screen {
    pub fn new() -> Screen {
        let mut s = Screen {
            last: Vec::new(),
            on: false,
        };
        s.enter();
        s
    }

    /// Takes the alternate screen (again, after a shell).
    pub fn enter(&mut self) {
        if !self.on {
            put_raw("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
            self.on = true;
            self.last.clear();
        }
    }

    /// Gives the normal screen back (for a shell, and at the end).
    pub fn leave(&mut self) {
        if self.on {
            put_raw("\x1b[?25h\x1b[?1049l");
            self.on = false;
        }
    }

    /// Draws a frame: each line (at most as wide as the screen) from the top.
    pub fn draw(&mut self, lines: &[String]) {
        if !self.on || lines == self.last.as_slice() {
            return;
        }
        let mut s = String::from("\x1b[H");
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                s.push_str("\r\n");
            }
            s.push_str(l);
            s.push_str("\x1b[0m\x1b[K");
        }
        s.push_str("\x1b[J");
        put_raw(&s);
        self.last = lines.to_vec();
    }

    /// Forgets the last frame, so that the next is drawn whatever it holds (the terminal was
    /// resized, or something else wrote on it).
    pub fn invalidate(&mut self) {
        self.last.clear();
    }
}

impl Default for Screen {
    fn default() -> Self {
        Screen::new()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

fn put_raw(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Runs `cmd` in the foreground of the terminal, as a shell runs a job: in a process group of
/// its own, which is handed the terminal (tcsetpgrp) and woken (SIGCONT: an interactive shell
/// that started before it was handed the terminal has stopped itself to wait for it). When it
/// ends, the terminal goes back to the group that had it. Without that last step, a shell that
/// exits leaves the terminal to its dead group, and this process, now in the background, is
/// stopped by SIGTTOU at its next change of the terminal's modes (or, as pid 1 of the sandbox,
/// which ignores that signal, retries forever).
pub fn run_in_foreground(
    cmd: &mut std::process::Command,
) -> std::io::Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt;
    let stdin = std::io::stdin();
    let Ok(mut ours) = nix::unistd::tcgetpgrp(stdin.as_fd()) else {
        return cmd.status();
    };
    // Inside the sandbox's pid namespace, the group that has the terminal was made outside it
    // and has no number here (0): it could not be named to get the terminal back. This process
    // then leads a group of its own, which it can name, and takes the terminal for it; the
    // process outside gives the terminal back to the original group at the end
    // (`reclaim_terminal`).
    if ours.as_raw() <= 0 {
        let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
        ours = nix::unistd::getpgrp();
    }
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let _ = without_sigttou(|| nix::unistd::tcsetpgrp(stdin.as_fd(), group));
    let _ = nix::sys::signal::killpg(group, Signal::SIGCONT);
    let status = child.wait();
    // Back to the group that had the terminal. SIGTTOU is blocked meanwhile: a background
    // process that changes the foreground group would get it, and the kernel lets the change
    // through when it is blocked.
    let _ = without_sigttou(|| nix::unistd::tcsetpgrp(stdin.as_fd(), ours));
    status
}

/// Makes this process's group the terminal's foreground again, if the terminal is ours: the
/// process outside learn's sandbox calls it when the one inside ends (see
/// `run_in_foreground`).
pub fn reclaim_terminal() {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let _ = without_sigttou(|| nix::unistd::tcsetpgrp(stdin.as_fd(), nix::unistd::getpgrp()));
    }
}

/// Runs `f` with SIGTTOU blocked on this thread.
fn without_sigttou<T>(f: impl FnOnce() -> T) -> T {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok();
    let r = f();
    if blocked && !old.contains(Signal::SIGTTOU) {
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode() {
        assert_eq!(decode(b"h"), vec![Key::Char('h')]);
        assert_eq!(decode(&[3]), vec![Key::Quit]);
        assert_eq!(decode(&[127]), vec![Key::Backspace]);
        assert_eq!(decode("é".as_bytes()), vec![Key::Char('é')]);
        assert_eq!(decode(b"\x1b"), vec![Key::Esc]);
        assert_eq!(
            decode(b"\x1b[5~\x1b[6~\x1b[B\x1bOA"),
            vec![Key::PageUp, Key::PageDown, Key::Down, Key::Up]
        );
        // Several keys in one read, an arrow key among them.
        assert_eq!(
            decode(b"12\x1b[A3\r"),
            vec![
                Key::Char('1'),
                Key::Char('2'),
                Key::Up,
                Key::Char('3'),
                Key::Enter
            ]
        );
        assert_eq!(decode(b"\x1b[2~"), vec![Key::Other]);
    }
}

/// Text made safe to print on a terminal: control characters (an escape sequence in an
/// interface name, say) are shown escaped (`\x1b`), line breaks and tabs kept. So are the
/// invisible characters that change how the rest of a line is shown (`\u202e`): the bidirectional
/// controls, which reorder what follows them (a step title that reads "passed" where the bytes say
/// otherwise, a file name shown backwards), and the zero-width ones, with which two different
/// names look the same.
pub fn printable(s: &str) -> String {
    let hidden = |c: char| (c.is_control() && c != '\n' && c != '\t') || reorders_or_hides(c);
    if !s.chars().any(hidden) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !hidden(c) {
            out.push(c);
        } else if u32::from(c) <= 0xff {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        }
    }
    out
}

/// Unicode format characters that reorder the text around them (bidirectional marks,
/// embeddings, overrides and isolates) or show nothing at all (zero-width space, word joiner,
/// invisible operators, byte order mark, interlinear annotation). Not the zero-width joiner and
/// non-joiner, which real words and emoji need.
fn reorders_or_hides(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// [`printable`], on one line: a line break is shown escaped too. For text that a lesson or
/// its programs wrote and a report puts on a line of its own: a break there would start a line
/// of the lesson's choosing (a CI runner's `::error` command in a step's title).
pub fn one_line(s: &str) -> String {
    printable(s).replace('\n', "\\x0a")
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn one_line_escapes_line_breaks() {
        assert_eq!(
            super::one_line("Step\n::error file=x::forged\u{1b}]0;t"),
            "Step\\x0a::error file=x::forged\\x1b]0;t"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("x\u{1b}[2Jy"), "x\\x1b[2Jy");
        assert_eq!(super::printable("a\tb\nc"), "a\tb\nc");
        assert_eq!(super::printable("\u{9b}"), "\\x9b");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_escaped() {
        // A title that a terminal shows as "Step passed ok.md": the override reverses the rest.
        assert_eq!(
            super::one_line("Step \u{202e}dm.ko deliaf"),
            "Step \\u202edm.ko deliaf"
        );
        for c in [
            '\u{061c}', '\u{200b}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
            '\u{202d}', '\u{2060}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
        ] {
            assert_eq!(
                super::printable(&format!("a{c}b")),
                format!("a\\u{:04x}b", u32::from(c))
            );
        }
        // Letters of right-to-left scripts, joiners and accents stay as they are.
        for s in ["שלום", "مرحبا", "\u{200d}\u{200c}", "café", "e\u{301}"] {
            assert_eq!(super::printable(s), s);
        }
    }
}
