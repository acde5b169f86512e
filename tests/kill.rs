//! SIGKILL or SIGINT at any moment of a verify run leaves nothing on the host.

mod common;

use std::process::{Command, Stdio};

use common::host_state;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn killed_runs_leave_nothing_behind() {
    let before = host_state();
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    for round in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(seed % 400);
        let signal = if round % 2 == 0 { "KILL" } else { "INT" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_nslab"))
            .args(["verify", "--jobs", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let _ = child.wait();
        // The workers die with their parent; their sandboxes (and every process in them) with them.
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            host_state(),
            before,
            "round {round}: {signal} after {wait:?} left something"
        );
        // Living lesson processes (a zombie has died: it only waits for the host's init to reap it),
        // given a second for the kernel to finish killing the sandbox's pid namespace.
        let alive = || {
            let out = Command::new("pgrep")
                .args(["-r", "R,S,D,T", "netns-demo"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let start = std::time::Instant::now();
        while !alive().is_empty() && start.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            alive(),
            "",
            "round {round}: lesson processes outlived the run"
        );
    }
}
