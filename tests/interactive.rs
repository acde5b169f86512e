//! learn, demo and reset end to end: the binary runs in a tmux pane inside a sandbox (its own
//! network, mount and pid namespaces), and a second pane types the student's commands.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nslab;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// `unshare` into a fresh sandbox and run a shell script there. The sandbox has its own /tmp and
/// /var/tmp (the namespaces lesson compiles into /tmp; `reset` keeps its progress in a home
/// there): nothing a test runs there writes the host's. The folders in `keep`, of the host's
/// /tmp, stay visible inside at the same paths.
fn sandboxed_keeping(script: &str, keep: &[&std::path::Path]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--net", "--mount", "--pid", "--fork", "--mount-proc"]);
    if !is_root() {
        c.arg("--map-root-user");
    }
    let (mut carry, mut put_back) = (String::new(), String::new());
    for (i, k) in keep.iter().enumerate() {
        let k = k.display();
        carry.push_str(&format!(
            "mkdir /run/keep{i}; mount --bind {k} /run/keep{i}; "
        ));
        put_back.push_str(&format!("mkdir -p {k}; mount --move /run/keep{i} {k}; "));
    }
    let setup = format!(
        "set -e; mount --make-rprivate /; mount -t tmpfs none /run; mkdir /run/netns; {carry}\
         mount -t tmpfs none /tmp; mount -t tmpfs none /var/tmp; {put_back}ip link set lo up; "
    );
    c.args(["bash", "-c", &format!("{setup}{script}")]);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn sandboxed(script: &str) -> Command {
    sandboxed_keeping(script, &[])
}

struct Tmux {
    dir: PathBuf,
    child: Child,
    /// Numbers the "command done" markers typed after each line.
    typed: std::cell::Cell<u32>,
}

impl Tmux {
    /// Pane 0 runs `cmd` (then prints EXIT=code), pane 1 is a shell for the student.
    fn start(name: &str, cmd: &str) -> Tmux {
        Tmux::start_keeping(name, cmd, &[])
    }

    /// The same, with folders of the host's /tmp that the sandbox must show (see
    /// [`sandboxed_keeping`]).
    fn start_keeping(name: &str, cmd: &str, keep: &[&std::path::Path]) -> Tmux {
        let dir = std::env::temp_dir().join(format!("nslab-tmux-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let sock = dir.join("sock");
        // After the program: the terminal's echo, line editing and signal flags, as stty shows them.
        let tty = dir.join("tty.sh");
        std::fs::write(&tty, "echo TTY $(stty -a | tr ' ' '\\n' | grep -x -e '-*echo' -e '-*icanon' -e '-*isig' | tr '\\n' ' ')\n").unwrap();
        let nslab = env!("CARGO_BIN_EXE_nslab");
        let script = format!(
            "export HOME={home} LANG=C.UTF-8 NSLAB_TYPING_MS=0 PATH={bin}:$PATH; \
             tmux -S {sock} -f /dev/null new-session -d -x 120 -y 50 -s t '{cmd}; echo EXIT=$?; sh {tty}; sleep 600'; \
             tmux -S {sock} split-window -t t -h 'bash --norc'; \
             while tmux -S {sock} has-session 2>/dev/null; do sleep 0.1; done",
            home = dir.join("home").display(),
            bin = PathBuf::from(nslab).parent().unwrap().display(),
            sock = sock.display(),
            tty = tty.display(),
            cmd = cmd.replace("nslab ", &format!("{nslab} ")),
        );
        let mut kept = vec![dir.as_path()];
        kept.extend_from_slice(keep);
        let child = sandboxed_keeping(&script, &kept)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Tmux {
            dir,
            child,
            typed: std::cell::Cell::new(0),
        };
        t.wait_for(0, "", Duration::from_secs(10));
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(self.dir.join("sock"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self, pane: u8) -> String {
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

    fn keys(&self, pane: u8, keys: &[&str]) {
        let target = format!("t:0.{pane}");
        let mut args = vec!["send-keys", "-t", target.as_str()];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types a command line in the student's shell and waits until it has run.
    fn type_line(&self, line: &str) {
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

    /// Runs a command in the student's shell and returns what it wrote to a file.
    fn answer(&self, command: &str) -> String {
        let file = self.dir.join("answer");
        let _ = std::fs::remove_file(&file);
        self.type_line(&format!("{command} > {}", file.display()));
        std::fs::read_to_string(&file).unwrap().trim().to_string()
    }

    fn wait_for(&self, pane: u8, text: &str, timeout: Duration) -> String {
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

fn lesson(file: &str) -> nslab::lesson::Lesson {
    let src = nslab::lesson::builtin::builtin()
        .into_iter()
        .find(|s| s.name.ends_with(file))
        .unwrap();
    nslab::lesson::parse::parse(&src).0.unwrap()
}

/// A student takes a whole lesson: each step's commands typed in their own shell, each question
/// answered from what their shell shows, Enter where a step only asks them to look.
fn take(file: &str) {
    use nslab::lesson::Answer;
    let lesson = lesson(file);
    let t = Tmux::start(&lesson.id, &format!("nslab learn {}", lesson.id));
    let n = lesson.steps.len();
    for step in &lesson.steps {
        t.wait_for(
            0,
            &format!("Step {} of {n}: {}", step.index, step.title),
            Duration::from_secs(10),
        );
        for c in &step.commands {
            t.type_line(&c.text);
        }
        if let Some(q) = &step.question {
            let answer = match &q.answer {
                Answer::RootNetnsInode => t.answer("readlink /proc/$$/ns/net | tr -dc 0-9"),
                Answer::NetnsCount => t.answer("lsns -t net -n -o NS | sort -u | wc -l"),
                Answer::NetnsInode(name) => t.answer(&format!("stat -L -c %i /run/netns/{name}")),
            };
            t.keys(0, &[&answer, "Enter"]);
            t.wait_for(0, &format!("{answer} is right"), Duration::from_secs(5));
        }
        if step.observes_only() || step.commands.is_empty() {
            // A step that only looks waits for the student to have looked: Enter goes on.
            t.wait_for(0, "Press Enter to go on", Duration::from_secs(10));
            t.keys(0, &["Enter"]);
        }
        t.wait_for(
            0,
            &format!("Step {} ✓ verified", step.index),
            Duration::from_secs(10),
        );
    }
    let s = t.wait_for(0, "Lesson complete", Duration::from_secs(10));
    assert!(s.contains(&format!("{n} of {n} steps verified")), "{s}");
    assert!(
        t.wait_for(0, "EXIT=", Duration::from_secs(5))
            .contains("EXIT=0")
    );
}

#[test]
fn learn_namespaces_lesson() {
    take("01-namespaces.md");
}

#[test]
fn learn_veth_lab() {
    take("02-veth.md");
}

#[test]
fn learn_bridges_lesson() {
    take("03-bridges.md");
}

#[test]
fn learn_routing_lesson() {
    take("04-routing.md");
}

#[test]
fn learn_keys_hint_do_skip_quit_and_resume() {
    let t = Tmux::start("keys", "nslab learn veth-lab");
    t.wait_for(0, "Step 1 of 8", Duration::from_secs(10));
    t.keys(0, &["Enter"]);
    t.wait_for(0, "Step 2 of 8", Duration::from_secs(10));
    // h escalates: the written hint, then the failing check explained, then the commands.
    t.keys(0, &["h"]);
    t.wait_for(0, "Hint: the command is", Duration::from_secs(5));
    t.keys(0, &["h"]);
    t.wait_for(0, "there is no namespace blue", Duration::from_secs(5));
    t.keys(0, &["h"]);
    t.wait_for(0, "The commands of this step:", Duration::from_secs(5));
    // d performs the step, and its checks tick; the step counts as performed, not verified.
    t.keys(0, &["d"]);
    t.wait_for(0, "Step 2 ▶ performed by nslab", Duration::from_secs(10));
    t.wait_for(0, "Step 3 of 8", Duration::from_secs(5));
    // g draws the topology: the two namespaces the step made.
    t.keys(0, &["g"]);
    t.wait_for(0, "─ blue ─", Duration::from_secs(5));
    // n skips.
    t.keys(0, &["n"]);
    t.wait_for(0, "Step 3 ↷ skipped", Duration::from_secs(5));
    t.wait_for(0, "Step 4 of 8", Duration::from_secs(5));
    // q leaves, keeping the progress, and the terminal as it was (echo back on).
    t.keys(0, &["q"]);
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert!(s.contains("resumes at step 4"), "{s}");
    assert!(s.contains("EXIT=130"), "{s}");
    // The terminal is as it was: echo, line editing and signals back on.
    assert!(
        t.wait_for(0, "TTY", Duration::from_secs(5))
            .contains("TTY isig icanon echo"),
        "{}",
        t.screen(0)
    );
    // Resume: learn starts where the student left.
    t.tmux(&[
        "respawn-pane",
        "-k",
        "-t",
        "t:0.0",
        &format!(
            "HOME={} {} learn; sleep 600",
            t.dir.join("home").display(),
            env!("CARGO_BIN_EXE_nslab")
        ),
    ]);
    t.wait_for(
        0,
        "Step 4 of 8: Move one end into each namespace",
        Duration::from_secs(10),
    );
    let progress =
        std::fs::read_to_string(t.dir.join("home/.local/state/nslab/progress.json")).unwrap();
    let p: serde_json::Value = serde_json::from_str(&progress).unwrap();
    assert_eq!(p["version"], 2);
    assert_eq!(p["current"], "veth-lab");
    assert_eq!(
        p["lessons"]["veth-lab"]["steps"],
        serde_json::json!({"1": "verified", "2": "performed", "3": "skipped"})
    );
    assert_eq!(p["lessons"]["veth-lab"]["step"], 4);
}

#[test]
fn ctrl_c_leaves_the_terminal_as_it_found_it() {
    let t = Tmux::start("ctrlc", "nslab learn routing");
    t.wait_for(0, "Step 1 of", Duration::from_secs(10));
    t.keys(0, &["C-c"]);
    let s = t.wait_for(0, "TTY", Duration::from_secs(5));
    assert!(s.contains("EXIT=130"), "{s}");
    assert!(s.contains("TTY isig icanon echo"), "{s}");
}

#[test]
fn demo_performs_every_step_and_shows_it_passing() {
    let t = Tmux::start("demo", "nslab demo veth-lab --auto 0");
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(60));
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(s.contains("End of the lesson"), "{s}");
    assert!(
        s.contains("$ ip link add veth0 type veth peer name veth1"),
        "{s}"
    );
    assert!(
        s.contains("✓ veth0 in blue is wired to veth1 in red"),
        "{s}"
    );
    assert!(!s.contains('✗'), "a check failed:\n{s}");
    // The topology after the addresses: both ends joined by a wire, with their addresses.
    assert!(
        s.contains("10.1.0.2/24") && s.contains("⇄ red:veth1"),
        "{s}"
    );
}

/// Without a baseline (no learn, demo or verify began the lesson here), `--by-name` removes
/// what has the lesson's names, and keeps every other name. tests/reset.rs tests the baseline.
#[test]
fn reset_by_name_removes_the_lessons_names_and_keeps_the_rest() {
    let nslab = env!("CARGO_BIN_EXE_nslab");
    let script = format!(
        "ip netns add blue; ip netns add red; ip link add veth0 type veth peer name veth1; \
         ip netns add mine; ip link add keep0 type veth peer name keep1; \
         {nslab} reset --by-name --yes veth-lab; echo '#AFTER'; ls /run/netns; ip -o link show | cut -d: -f2"
    );
    // HOME is in the sandbox's own /tmp: reset saves the progress there.
    let out = sandboxed(&script).env("HOME", "/tmp").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (said, after) = text.split_once("#AFTER").unwrap();
    assert!(
        said.contains("veth-lab: removed netns blue")
            && said.contains("veth-lab: removed netns red"),
        "{said}"
    );
    assert!(said.contains("veth-lab: removed link veth0"), "{said}");
    let after: Vec<&str> = after.split_whitespace().collect();
    assert!(
        after.contains(&"mine") && after.contains(&"keep0@keep1") && after.contains(&"keep1@keep0"),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|w| w.starts_with("blue") || w.starts_with("red") || w.starts_with("veth")),
        "{after:?}"
    );
}

#[test]
fn interactive_modes_refuse_without_a_terminal() {
    for mode in ["learn", "demo"] {
        let out = nslab(&[mode, "veth-lab"]);
        assert_eq!(out.status.code(), Some(3), "{mode}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nslab verify"),
            "{mode}"
        );
    }
}

#[test]
fn show_watch_redraws_when_the_kernel_changes() {
    let nslab = env!("CARGO_BIN_EXE_nslab");
    let script = format!(
        "{nslab} show --watch --format json --output /run/picture.json & \
         for i in $(seq 50); do [ -s /run/picture.json ] && break; sleep 0.05; done; \
         grep -c '\"name\": \"blue\"' /run/picture.json || true; \
         ip netns add blue; \
         for i in $(seq 100); do grep -q '\"name\": \"blue\"' /run/picture.json && break; sleep 0.05; done; \
         grep -c '\"name\": \"blue\"' /run/picture.json; kill %1"
    );
    let out = sandboxed(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Before: no blue in the picture; after `ip netns add blue`: blue, redrawn by itself.
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["0", "1"],
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without root, learn runs in a sandbox with a /tmp of its own. A lesson file named by its path
/// under the host's /tmp, and a binary that lives there too, must still be found inside it.
#[test]
fn learn_without_root_finds_a_lesson_under_tmp() {
    let dir = std::env::temp_dir().join(format!("nslab-carry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let open = |p: &std::path::Path, mode| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap()
    };
    open(&dir, 0o755);
    open(&dir.join("state"), 0o777);
    let lesson = dir.join("carried.md");
    std::fs::write(
        &lesson,
        "+++\nid = \"carried\"\ntitle = \"Carried over\"\nformat = 1\n+++\n\n\
         ## Make one\n\n```sh\nip netns add carried\n```\n\n```check\nnetns carried exists\n```\n",
    )
    .unwrap();
    open(&lesson, 0o644);
    let bin = dir.join("nslab-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_nslab"), &bin).unwrap();
    open(&bin, 0o755);
    // As root, become nobody; a test run without root already is somebody else.
    let user = if is_root() {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    let t = Tmux::start_keeping(
        "carry",
        &format!(
            "{user}env XDG_STATE_HOME={state} {bin} learn {lesson}",
            state = dir.join("state").display(),
            bin = bin.display(),
            lesson = lesson.display()
        ),
        &[&dir],
    );
    t.wait_for(0, "Step 1 of 1: Make one", Duration::from_secs(10));
    t.keys(0, &["d"]);
    t.wait_for(0, "Step 1 ▶ performed by nslab", Duration::from_secs(10));
    t.wait_for(0, "Lesson complete", Duration::from_secs(10));
    assert!(
        t.wait_for(0, "EXIT=", Duration::from_secs(5))
            .contains("EXIT=0")
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The student's shell (the `t` key) gets none of nslab's internal variables: in learn's sandbox
/// (without root), `nslab verify` works there.
#[test]
fn the_students_shell_is_clean_and_can_verify() {
    let user = if is_root() {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    let t = Tmux::start(
        "shell",
        &format!("{user}env XDG_STATE_HOME=/tmp/state SHELL=/bin/sh nslab learn veth-lab"),
    );
    t.wait_for(0, "Step 1 of 8", Duration::from_secs(10));
    t.keys(0, &["t"]);
    t.wait_for(0, "A shell for this lesson", Duration::from_secs(5));
    t.keys(
        0,
        &[
            "echo inner=${NSLAB_SANDBOX_INNER}parent=${NSLAB_PARENT_PID}end",
            "Enter",
        ],
    );
    t.wait_for(0, "inner=parent=end", Duration::from_secs(5));
    t.keys(
        0,
        &[
            "nslab verify lessons/02-veth.md > /dev/null 2>&1; echo verify-code=$?",
            "Enter",
        ],
    );
    t.wait_for(0, "verify-code=0", Duration::from_secs(60));
    t.keys(0, &["exit", "Enter"]);
    t.wait_for(0, "Back in the lesson", Duration::from_secs(5));
}

/// What a lesson's lines start in the background is visible to the student's shell while the
/// lesson runs, and gone when learn ends.
#[test]
fn learn_leaves_no_daemon_behind() {
    let t = Tmux::start("daemons", "nslab learn --pause tests/hostile/daemons.md");
    t.wait_for(0, "Step 1 of 1", Duration::from_secs(10));
    t.keys(0, &["d"]);
    t.wait_for(0, "Press Enter to go on", Duration::from_secs(10));
    let count = "pgrep -c -f 'sleep 100[1-4]'";
    assert_eq!(t.answer(count), "4");
    t.keys(0, &["Enter"]);
    assert!(
        t.wait_for(0, "EXIT=", Duration::from_secs(10))
            .contains("EXIT=0")
    );
    assert_eq!(t.answer(count), "0");
}
