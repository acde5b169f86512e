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
        let left = Command::new("pgrep").arg("netns-demo").output().unwrap();
        assert!(
            left.stdout.is_empty(),
            "round {round}: lesson processes outlived the run"
        );
    }
}
