//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Whether the tests run as root (else user namespaces stand in for it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Runs the built binary from the repository root.
pub fn nslab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nslab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

/// What the host holds that a run could leak: named namespaces, links (from `ip -j`), mounts.
#[derive(Debug, PartialEq, Eq)]
pub struct HostState {
    pub netns: Vec<String>,
    pub links: Vec<String>,
    pub mounts: usize,
    /// nslab's state files of the user running the tests (progress, ledger), with when each
    /// was last written: a test that writes them wrote outside its own folders.
    pub state: Vec<(String, Option<std::time::SystemTime>)>,
}

pub fn host_state() -> HostState {
    let mut netns: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    netns.sort();
    let out = Command::new("ip")
        .args(["-j", "link", "show"])
        .output()
        .unwrap();
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut links: Vec<String> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    links.sort();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let dir = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state")))
        .map(|d| d.join("nslab"));
    let mut state: Vec<(String, Option<std::time::SystemTime>)> = dir
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let when = e.metadata().ok().and_then(|m| m.modified().ok());
                    (e.file_name().to_string_lossy().into_owned(), when)
                })
                .collect()
        })
        .unwrap_or_default();
    state.sort();
    HostState {
        netns,
        links,
        mounts,
        state,
    }
}

/// The status of each step of the first lesson of a JSON report.
pub fn step_statuses(report: &serde_json::Value) -> Vec<String> {
    report["lessons"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}
