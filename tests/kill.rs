//! SIGKILL or SIGINT at any moment of a verify run leaves nothing on the host.

mod common;

use std::process::{Command, Stdio};

use common::{host_state, is_root};
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

/// Runs a script in a sandbox of its own (network, mount and pid namespaces, and a user
/// namespace without root), with its own /tmp, /var/tmp and /run: it stands in for the host of
/// the modes that have no jail.
fn sandboxed(script: &str) -> std::process::Output {
    let mut args = vec!["--net", "--mount", "--pid", "--fork", "--mount-proc"];
    if !is_root() {
        args.push("--map-root-user");
    }
    // nslab runs from a copy under /tmp, as from a checkout there.
    let setup = "mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
                 mount -t tmpfs none /tmp && mount -t tmpfs none /var/tmp && \
                 ip link set lo up && mkdir /tmp/bin && cp \"$NSLAB\" /tmp/bin/nslab || exit 99; \
                 NSLAB=/tmp/bin/nslab; \
                 alive() { pgrep -c -f 'sleep 100[1-4]'; }; \
                 gone() { for i in $(seq 100); do [ \"$(alive)\" = 0 ] && break; sleep 0.02; done; \
                 echo; echo \"#LEFT $(alive)\"; }; ";
    Command::new("unshare")
        .args(&args)
        .args(["bash", "-c", &format!("{setup}{script}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NSLAB", env!("CARGO_BIN_EXE_nslab"))
        .env("NSLAB_TYPING_MS", "0")
        .env("HOME", "/tmp")
        .output()
        .unwrap()
}

fn left(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("#LEFT "))
        .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        .to_string()
}

/// Without a jail, what a lesson's lines leave running (`&`, setsid, nohup, a double fork) dies
/// when the run ends: when it ends by itself, and when it is killed with SIGKILL.
#[test]
fn without_a_jail_daemons_die_with_the_run() {
    let out = sandboxed(
        "$NSLAB verify --no-sandbox tests/hostile/daemons.md > /dev/null; echo \"#CODE $?\"; gone",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("#CODE 0"),
        "the daemons did not start: {text}"
    );
    assert_eq!(left(&out), "0", "daemons outlived verify --no-sandbox");
    // Killed while its daemons live: the lesson waits after starting them.
    let out = sandboxed(
        "sed 's/^sleep 0.2$/sleep 30/' tests/hostile/daemons.md > /tmp/wait.md; \
         $NSLAB verify --no-sandbox /tmp/wait.md > /dev/null 2>&1 & \
         for i in $(seq 250); do [ \"$(alive)\" = 4 ] && break; sleep 0.02; done; \
         echo \"#ALIVE $(alive)\"; kill -KILL $!; gone",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("#ALIVE 4"), "{text}");
    assert_eq!(
        left(&out),
        "0",
        "daemons outlived a killed verify --no-sandbox"
    );
}

/// A lesson line that signals nslab's line helper (`pkill -f nslab` would) does not end it:
/// it still runs the next lines, and still ends the daemons at the run's end. (A helper ended
/// by SIGTERM left its daemons running after the run, with nobody to end them.)
#[test]
fn a_signal_to_the_line_helper_does_not_free_the_daemons() {
    let out = sandboxed(
        "$NSLAB verify --no-sandbox tests/hostile/kills-helper.md > /tmp/out 2>&1; echo \"#CODE $?\"; \
         cat /tmp/out; gone",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("#CODE 0"), "{text}");
    assert_eq!(left(&out), "0", "the daemon outlived the run: {text}");
}

/// demo acts on the machine itself: its daemons die with it too.
#[test]
fn demo_leaves_no_daemon_behind() {
    let out = sandboxed(
        // The terminal's input stays open (script turns the end of its input into a Ctrl-D,
        // which stops demo like Ctrl-C).
        "mkfifo /tmp/keys; sleep 60 > /tmp/keys & \
         script -qec \"$NSLAB demo tests/hostile/daemons.md --auto 0\" /dev/null \
           < /tmp/keys; kill $!; gone",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("the command `test \"$(pgrep -c -f 'sleep 100[1-4]')\" = 4` succeeds")
            && text.contains('✓')
            && !text.contains('✗'),
        "the daemons did not start: {text}"
    );
    assert_eq!(left(&out), "0", "daemons outlived demo");
}
