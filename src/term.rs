//! The interactive terminal: keys without echo, and the promise to leave the terminal as it was
//! found, whatever way the program ends (a key, Ctrl-C, an error).

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

/// A key the modes understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    /// Ctrl-C or Ctrl-D: leave.
    Quit,
    Other,
}

/// Whether interactive modes can run: both ends must be a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Keys are read one at a time without echo while this lives; dropping it restores the
/// terminal. Ctrl-C arrives as a key (ISIG off), so it too goes through the restoring path.
pub struct Keys {
    saved: Termios,
    /// Keys read but not yet handed out: one read can bring several ("123" and Enter, pasted).
    pending: std::cell::RefCell<std::collections::VecDeque<Key>>,
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
            saved,
            pending: Default::default(),
        };
        keys.raw()?;
        Ok(keys)
    }

    fn raw(&self) -> std::io::Result<()> {
        let mut t = self.saved.clone();
        t.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t)?;
        Ok(())
    }

    fn restore(&self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
        let mut out = std::io::stdout();
        // Show the cursor again, in case a progress line hid it.
        let _ = out.write_all(b"\x1b[?25h");
        let _ = out.flush();
    }

    /// Runs `f` with the terminal as it was found (for a subshell), then takes keys again.
    pub fn suspended<T>(&self, f: impl FnOnce() -> T) -> T {
        self.restore();
        let r = f();
        let _ = self.raw();
        r
    }

    /// The next key, if one comes within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Key> {
        // SIGTERM or SIGHUP: leave as Ctrl-C does.
        if crate::signals::stopping() {
            return Some(Key::Quit);
        }
        if let Some(k) = self.pending.borrow_mut().pop_front() {
            return Some(k);
        }
        let stdin = std::io::stdin();
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let mut buf = [0u8; 256];
        let n = stdin.lock().read(&mut buf).ok()?;
        if n == 0 {
            return Some(Key::Quit);
        }
        let mut pending = self.pending.borrow_mut();
        pending.extend(decode(&buf[..n]));
        pending.pop_front()
    }
}

/// The keys in a chunk of terminal input. An escape sequence (an arrow key) is one key.
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
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '~' {
                            break;
                        }
                    }
                }
                Key::Other
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode() {
        assert_eq!(decode(b"h"), vec![Key::Char('h')]);
        assert_eq!(decode(&[3]), vec![Key::Quit]);
        assert_eq!(decode(&[127]), vec![Key::Backspace]);
        assert_eq!(decode("é".as_bytes()), vec![Key::Char('é')]);
        // Several keys in one read, an arrow key among them.
        assert_eq!(
            decode(b"12\x1b[A3\r"),
            vec![
                Key::Char('1'),
                Key::Char('2'),
                Key::Other,
                Key::Char('3'),
                Key::Enter
            ]
        );
    }
}

/// Text made safe to print on a terminal: control characters (an escape sequence in an
/// interface name, say) are shown escaped (`\x1b`), line breaks and tabs kept.
pub fn printable(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::printable("x\u{1b}[2Jy"), "x\\x1b[2Jy");
        assert_eq!(super::printable("a\tb\nc"), "a\tb\nc");
        assert_eq!(super::printable("\u{9b}"), "\\x9b");
    }
}
