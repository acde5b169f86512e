//! The tmux driver of the tests that take learn and demo as a student does: pane 0 runs nslab,
//! pane 1 is the student's shell. Each test file starts its own session (in its own sandbox)
//! and hands it to [`Tmux::new`].
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Tmux {
    /// The session's folder: its socket `sock`, and what the test keeps there.
    pub dir: PathBuf,
    /// The sandbox's first process.
    pub child: Child,
    /// Numbers the "command done" markers typed after each line.
    typed: std::cell::Cell<u32>,
}

impl Tmux {
    /// The session whose server listens on `dir/sock`, run by `child` (its sandbox).
    pub fn new(dir: PathBuf, child: Child) -> Tmux {
        Tmux {
            dir,
            child,
            typed: std::cell::Cell::new(0),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(self.dir.join("sock"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self, pane: u8) -> String {
        self.tmux(&[
            "capture-pane",
            "-p",
            "-J",
            "-S",
            "-2000",
            "-t",
            &format!("t:0.{pane}"),
        ])
    }

    pub fn keys(&self, pane: u8, keys: &[&str]) {
        let target = format!("t:0.{pane}");
        let mut args = vec!["send-keys", "-t", target.as_str()];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types a command line in the student's shell and waits until it has run.
    pub fn type_line(&self, line: &str) {
        let n = self.typed.get() + 1;
        self.typed.set(n);
        self.keys(1, &["clear", "Enter"]);
        // The marker is on a line of its own (`cmd &; echo` would not parse), and computed by the
        // shell, so that the typed line itself never matches it.
        self.keys(
            1,
            &[line, "Enter", &format!("echo typed-$((1000+{n}))"), "Enter"],
        );
        self.wait_for(1, &format!("\ntyped-{}", 1000 + n), Duration::from_secs(20));
    }

    /// Waits until the pane shows `text` (with an empty `text`: until the server is up and the
    /// pane shows anything).
    pub fn wait_for(&self, pane: u8, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen(pane);
            if (!s.trim().is_empty() || text.is_empty())
                && s.contains(text)
                && (!text.is_empty() || self.dir.join("sock").exists())
            {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {text:?}; the screen shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The text does not appear for a while (learn polls its checks every 100 ms).
    pub fn never_shows(&self, pane: u8, text: &str, wait: Duration) {
        let start = Instant::now();
        while start.elapsed() < wait {
            let s = self.screen(pane);
            assert!(!s.contains(text), "{text:?} appeared too early:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The sandbox's processes die with it, a moment later; the server's socket goes then.
        for _ in 0..40 {
            if std::fs::remove_dir_all(&self.dir).is_ok() || !self.dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
