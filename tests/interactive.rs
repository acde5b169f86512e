//! learn, demo and reset end to end: the binary runs in a tmux pane inside a sandbox (its own
//! network, mount and pid namespaces), and a second pane types the student's commands.

mod common;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{is_root, nslab};

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

use tmux::Tmux;

impl Tmux {
    /// Pane 0 runs `cmd` (then prints EXIT=code), pane 1 is a shell for the student.
    fn start(name: &str, cmd: &str) -> Tmux {
        Tmux::start_keeping(name, cmd, &[])
    }

    /// The same, with folders of the host's /tmp that the sandbox must show (see
    /// [`sandboxed_keeping`]).
    fn start_keeping(name: &str, cmd: &str, keep: &[&std::path::Path]) -> Tmux {
        Tmux::start_with(name, cmd, keep, None)
    }

    /// Pane 0 (nslab) exactly `cols` x `rows`; the student's pane is 40 columns beside it.
    fn start_sized(name: &str, cmd: &str, cols: u16, rows: u16) -> Tmux {
        Tmux::start_with(name, cmd, &[], Some((cols, rows)))
    }

    fn start_with(
        name: &str,
        cmd: &str,
        keep: &[&std::path::Path],
        size: Option<(u16, u16)>,
    ) -> Tmux {
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
             tmux -S {sock} -f /dev/null new-session -d -x {x} -y {y} -s t '{cmd}; echo EXIT=$?; sh {tty}; sleep 600'; \
             tmux -S {sock} split-window -t t -h {split} 'bash --norc'; \
             while tmux -S {sock} has-session 2>/dev/null; do sleep 0.1; done",
            home = dir.join("home").display(),
            bin = PathBuf::from(nslab).parent().unwrap().display(),
            sock = sock.display(),
            tty = tty.display(),
            cmd = cmd.replace("nslab ", &format!("{nslab} ")),
            x = size.map_or(120, |(c, _)| c + 41),
            y = size.map_or(50, |(_, r)| r),
            split = if size.is_some() { "-l 40" } else { "" },
        );
        let mut kept = vec![dir.as_path()];
        kept.extend_from_slice(keep);
        let child = sandboxed_keeping(&script, &kept)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Tmux::new(dir, child);
        t.wait_for(0, "", Duration::from_secs(10));
        t
    }

    /// Presses one key in nslab's pane as a person does: alone, then a pause (learn waits a
    /// moment to tell a key from typing).
    fn press(&self, key: &str) {
        self.keys(0, &[key]);
        std::thread::sleep(Duration::from_millis(350));
    }

    /// Lines of nslab's pane as they are on screen now (no history).
    fn visible(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t:0.0"])
    }

    /// Waits until the visible screen says `text`, wherever its lines break (whitespace runs,
    /// line breaks and indents included, count as one space).
    fn wait_words(&self, text: &str, timeout: Duration) -> String {
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let want = flat(text);
        let start = Instant::now();
        loop {
            let s = self.visible();
            if flat(&s).contains(&want) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {text:?}; the screen shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `text` is no longer on the visible screen.
    fn wait_gone(&self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.visible();
            if !s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {text:?} to go; the screen shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The progress file of the session's student.
    fn progress(&self) -> serde_json::Value {
        std::fs::read_to_string(self.dir.join("home/.local/state/nslab/progress.json"))
            .map(|s| serde_json::from_str(&s).unwrap())
            .unwrap_or(serde_json::Value::Null)
    }

    /// nslab's pane runs `cmd` instead of what it ran (the student starts it again).
    fn respawn(&self, cmd: &str) {
        self.tmux(&["respawn-pane", "-k", "-t", "t:0.0", cmd]);
    }

    /// nslab's pane runs `nslab learn` again, with the session's HOME: learn resumes.
    fn learn_again(&self) {
        self.respawn(&format!(
            "HOME={} {} learn; sleep 600",
            self.dir.join("home").display(),
            env!("CARGO_BIN_EXE_nslab")
        ));
    }

    /// Runs a command in the student's shell and returns what it wrote to a file.
    fn answer(&self, command: &str) -> String {
        let file = self.dir.join("answer");
        let _ = std::fs::remove_file(&file);
        self.type_line(&format!("{command} > {}", file.display()));
        std::fs::read_to_string(&file).unwrap().trim().to_string()
    }
}

/// A folder of this test's own in /tmp, with lesson NAME.md in it holding `text`: (the folder,
/// the lesson). The test removes the folder when it is done.
fn scratch_lesson(
    folder: &str,
    name: &str,
    text: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("nslab-{folder}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.md"));
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// Text as words: whitespace runs, line breaks and indents count as one space.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
                // Those processes are in, and those only a bind mount in /run/netns holds.
                Answer::NetnsCount => t.answer(
                    "{ lsns -t net -n -o NS; for f in /run/netns/*; do [ -e \"$f\" ] && stat -L -c %i \"$f\"; done; } | sort -u | wc -l",
                ),
                Answer::NetnsCountHeld => t.answer("lsns -t net -n -o NS | sort -u | wc -l"),
                Answer::NetnsInode(name) => t.answer(&format!("stat -L -c %i /run/netns/{name}")),
            };
            t.keys(0, &[&answer, "Enter"]);
            t.wait_for(0, &format!("{answer} is right"), Duration::from_secs(5));
        }
        if step.observes_only() || step.commands.is_empty() || !step.debrief().trim().is_empty() {
            // A step that only looks waits for the student to have looked, and a solved
            // challenge for its debrief to be read: Enter goes on.
            t.wait_for(0, "Press Enter to go on", Duration::from_secs(10));
            t.press("Enter");
        }
        t.wait_for(
            0,
            &format!("Step {} ✓ verified", step.index),
            Duration::from_secs(10),
        );
    }
    t.wait_for(0, "Lesson complete", Duration::from_secs(10));
    // The recap is wrapped between words to the pane: read as words.
    let s = flat(&t.wait_for(0, "EXIT=", Duration::from_secs(10)));
    assert!(s.contains(&format!("{n} of {n} steps verified")), "{s}");
    // The recap says how each step was passed, and the next lesson is named.
    for step in &lesson.steps {
        assert!(
            s.contains(&format!("Step {} ✓ verified: {}", step.index, step.title)),
            "{s}"
        );
    }
    assert!(
        s.contains("Next lesson: ") && s.contains("Start it with: nslab learn "),
        "{s}"
    );
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
    t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
    t.press("Enter");
    t.wait_for(0, "Step 2 of 9", Duration::from_secs(10));
    // h escalates: the written hint, then every failing check explained, then the commands;
    // a fourth h stays at the last level.
    t.press("h");
    t.wait_for(0, "Hint: the command is", Duration::from_secs(5));
    t.press("h");
    t.wait_words("expected: namespace red exists", Duration::from_secs(5));
    t.wait_words("expected: namespace blue exists", Duration::from_secs(5));
    t.wait_words("Try: ip netns add blue", Duration::from_secs(5));
    t.press("h");
    t.wait_for(0, "The commands of this step", Duration::from_secs(5));
    t.press("h");
    t.wait_for(0, "The commands of this step", Duration::from_secs(5));
    // r, d and n ask first; anything but y leaves things as they are.
    t.press("r");
    t.wait_for(0, "Reset the lesson", Duration::from_secs(5));
    t.press("Escape");
    t.wait_for(0, "Nothing done", Duration::from_secs(5));
    t.press("n");
    t.wait_for(0, "Skip this step? y/N", Duration::from_secs(5));
    t.press("x");
    t.wait_for(0, "Nothing done", Duration::from_secs(5));
    assert!(t.visible().contains("Step 2 of 9"), "{}", t.visible());
    // A letter that is no key may start a line typed by mistake: keys wait for a pause.
    std::thread::sleep(Duration::from_millis(1600));
    t.press("d");
    t.wait_for(
        0,
        "Let nslab perform this step's commands? y/N",
        Duration::from_secs(5),
    );
    t.press("n");
    t.wait_for(0, "Nothing done", Duration::from_secs(5));
    assert_eq!(t.answer("ls /run/netns | wc -l"), "0");
    // d, confirmed, performs the step, and its checks tick; the step counts as performed.
    t.press("d");
    t.wait_for(0, "Let nslab perform", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "Step 2 ▶ performed by nslab", Duration::from_secs(10));
    t.wait_for(0, "Step 3 of 9", Duration::from_secs(5));
    // g draws the picture: the two namespaces the lesson has made so far.
    t.press("g");
    t.wait_for(0, "─ blue ─", Duration::from_secs(5));
    t.press("g");
    // n skips, once confirmed.
    t.press("n");
    t.wait_for(0, "Skip this step?", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "Step 3 ↷ skipped", Duration::from_secs(5));
    t.wait_for(0, "Step 4 of 9", Duration::from_secs(5));
    // q leaves, keeping the progress, and the terminal as it was (echo back on).
    t.press("q");
    let s = flat(&t.wait_for(0, "EXIT=", Duration::from_secs(5)));
    assert!(
        s.contains("`nslab learn veth-lab` resumes at step 4"),
        "{s}"
    );
    assert!(s.contains("EXIT=130"), "{s}");
    // The terminal is as it was: echo, line editing and signals back on.
    assert!(
        t.wait_for(0, "TTY", Duration::from_secs(5))
            .contains("TTY isig icanon echo"),
        "{}",
        t.screen(0)
    );
    // Resume: learn starts where the student left.
    t.learn_again();
    t.wait_for(
        0,
        "Step 4 of 9: Move one end into each namespace",
        Duration::from_secs(10),
    );
    let p = t.progress();
    assert_eq!(p["version"], 2);
    assert_eq!(p["current"], "veth-lab");
    assert_eq!(
        p["lessons"]["veth-lab"]["steps"],
        serde_json::json!({"1": "verified", "2": "performed", "3": "skipped"})
    );
    assert_eq!(p["lessons"]["veth-lab"]["step"], 4);
}

/// Shell lines typed into the lesson's pane by mistake skip, perform and reset nothing.
#[test]
fn a_shell_line_typed_into_learn_changes_nothing() {
    let t = Tmux::start("typed", "nslab learn veth-lab");
    t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
    t.press("Enter");
    t.wait_for(0, "Step 2 of 9", Duration::from_secs(10));
    let before = t.progress();
    for line in [
        "clear; sudo nslab learn bridges",
        "ip netns add blue",
        "nt",
        "d",
    ] {
        t.keys(0, &[line, "Enter"]);
        t.wait_for(0, "This is the lesson pane", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(400));
        let s = t.visible();
        assert!(s.contains("Step 2 of 9"), "after {line:?}:\n{s}");
        assert!(
            !s.contains("y/N") && !s.contains("A shell for this lesson"),
            "{s}"
        );
        // Clear the message for the next line: a key that changes nothing.
        t.press("Down");
        t.wait_gone("This is the lesson pane", Duration::from_secs(5));
    }
    assert_eq!(t.progress(), before);
    assert_eq!(t.answer("ls /run/netns | wc -l"), "0");
    // Slowly, as a person types, a line that starts with no key is still no key.
    for c in ["i", "p", " ", "l", "\n"] {
        t.keys(0, &[if c == "\n" { "Enter" } else { c }]);
        std::thread::sleep(Duration::from_millis(250));
    }
    t.wait_for(0, "This is the lesson pane", Duration::from_secs(5));
    assert!(t.visible().contains("Step 2 of 9"));
    assert_eq!(t.progress(), before);
}

/// An answer is text: n, t and r in it are letters, not keys.
#[test]
fn an_answer_with_key_letters_is_text() {
    let lesson = lesson("01-namespaces.md");
    let q = lesson.steps.iter().find(|s| s.question.is_some()).unwrap();
    let t = Tmux::start(
        "answer",
        &format!("nslab learn namespaces --step {}", q.index),
    );
    t.wait_for(0, &format!("Step {} of", q.index), Duration::from_secs(10));
    t.keys(0, &["net:[4026532249] trn", "Enter"]);
    t.wait_for(0, "is not it", Duration::from_secs(5));
    let s = t.visible();
    assert!(s.contains(&format!("Step {} of", q.index)), "{s}");
    assert!(
        !s.contains("y/N") && !s.contains("A shell for this lesson"),
        "{s}"
    );
    // A second wrong answer says where to look.
    t.keys(0, &["12", "Enter"]);
    t.wait_for(0, "/proc/$$/ns/net", Duration::from_secs(5));
    let right = t.answer("readlink /proc/$$/ns/net");
    t.keys(0, &[&right, "Enter"]);
    t.wait_for(0, "is right", Duration::from_secs(5));
}

/// The line under a failing check is judged again at every kernel change: moved back, the
/// link is no longer said to be elsewhere.
#[test]
fn an_explanation_follows_the_kernel() {
    let t = Tmux::start("stale", "nslab learn veth-lab --step 5");
    t.wait_for(0, "Step 5 of 9", Duration::from_secs(15));
    t.type_line("ip -n blue link set veth0 netns red");
    t.wait_for(0, "veth0 is in red", Duration::from_secs(5));
    t.type_line("ip -n red link set veth0 netns blue");
    let s = t.wait_gone("veth0 is in red", Duration::from_secs(2));
    assert!(s.contains("Step 5 of 9"), "{s}");
}

/// Near misses are named: a typo'd namespace, and a namespace an earlier step made that the
/// student deleted too early (with the key that rebuilds it).
#[test]
fn near_misses_are_named() {
    let t = Tmux::start("nearmiss", "nslab learn veth-lab");
    t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
    t.press("Enter");
    t.wait_for(0, "Step 2 of 9", Duration::from_secs(10));
    t.type_line("ip netns add bleu");
    t.wait_words(
        "A namespace called 'bleu' exists: a typo?",
        Duration::from_secs(5),
    );
    t.type_line("ip netns del bleu");
    t.type_line("ip netns add blue");
    t.type_line("ip netns add red");
    t.wait_for(0, "Step 3 of 9", Duration::from_secs(10));
    t.type_line("ip netns del red");
    t.type_line("ip link add veth0 type veth peer name veth1");
    t.wait_for(0, "Step 4 of 9", Duration::from_secs(10));
    t.wait_words(
        "namespace red was made in step 2 (Create the blue and red namespaces)",
        Duration::from_secs(5),
    );
    // The keys say f too.
    assert!(t.visible().contains("f rebuild"), "{}", t.visible());
    // f rebuilds it, once confirmed.
    t.press("f");
    t.wait_words("Perform steps 2 to 3 again", Duration::from_secs(5));
    t.press("y");
    let s = t.wait_gone("was made in step 2", Duration::from_secs(10));
    // What survived is said to be there, not shown as the lines' errors; a listing that was
    // not run is no error either.
    let words = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("already there, left as it was: line 43 (ip netns add blue), line 66"),
        "{s}"
    );
    assert!(
        !s.contains("already exists") && !s.contains("a listing"),
        "{s}"
    );
    assert_eq!(t.answer("ls /run/netns | sort | tr '\\n' ' '"), "blue red");
}

/// At 80x24 and in a 40-column pane, a long step keeps its header, its commands and its
/// checklist on screen, and no word is broken.
#[test]
fn a_long_step_keeps_its_header_and_commands_in_view() {
    let lesson = lesson("03-bridges.md");
    let step = lesson
        .steps
        .iter()
        .max_by_key(|s| nslab::render::render(&s.body, 40).lines().count())
        .unwrap();
    let src = nslab::lesson::builtin::builtin()
        .into_iter()
        .find(|s| s.name.ends_with("03-bridges.md"))
        .unwrap();
    let mut words: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut know = |text: &str| {
        for w in text.split(|c: char| !c.is_alphabetic()) {
            words.insert(w.to_lowercase());
        }
    };
    know(&src.text);
    for c in &step.checks {
        know(&c.check.describe());
    }
    know(
        "commands below text hidden more above pgdn pgup hint skip back shell picture pic reset quit scroll help keys bringing performing performed nslab step steps lab here",
    );
    for (cols, rows) in [(80u16, 24u16), (40, 24)] {
        let t = Tmux::start_sized(
            &format!("long{cols}"),
            &format!("nslab learn bridges --step {}", step.index),
            cols,
            rows,
        );
        let header = format!("Step {} of {}:", step.index, lesson.steps.len());
        t.wait_for(0, &header, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(500));
        let s = t.visible();
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines.len() <= rows as usize, "{s}");
        assert!(lines[0].starts_with(&header), "{cols}x{rows}:\n{s}");
        let first = nslab::render::command(&step.commands[0].text, cols as usize - 2);
        assert!(
            s.contains(&format!("$ {}", first[0])),
            "{cols}x{rows}:\n{s}"
        );
        assert!(
            s.contains(&step.checks[0].check.describe()[..10]),
            "{cols}x{rows}:\n{s}"
        );
        // Every word on screen is a word of the lesson or of the screen's own: none is cut.
        // (The lines under a check, `↳ why`, are nslab's explanations, not the lesson's.)
        let mut in_why = false;
        let text: String = s
            .lines()
            .filter(|l| {
                in_why = l.trim_start().starts_with('↳') || (in_why && l.starts_with("      "));
                !in_why
            })
            .collect::<Vec<_>>()
            .join("\n");
        for w in text.split(|c: char| !c.is_alphabetic()) {
            let w = w.to_lowercase();
            assert!(
                w.chars().count() < 3 || words.contains(&w),
                "{cols}x{rows}: {w:?} is no word of the lesson:\n{s}"
            );
        }
        // The text scrolls; the header stays.
        t.press("PageDown");
        let after = t.visible();
        assert!(
            after.lines().next().unwrap().starts_with(&header),
            "{after}"
        );
    }
}

/// Without root, `t` opens a shell that gives the terminal back when it exits, whatever the
/// login shell: nologin falls back to /bin/sh, and bash (which takes the terminal for its
/// jobs) leaves learn running, not stopped, and idle.
#[test]
fn the_lesson_shell_gives_the_terminal_back() {
    let user = if is_root() {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    for shell in ["/usr/sbin/nologin", "/bin/bash"] {
        let t = Tmux::start(
            "tshell",
            &format!("{user}env XDG_STATE_HOME=/tmp/state SHELL={shell} nslab learn veth-lab"),
        );
        t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
        t.press("t");
        t.wait_for(0, "(nslab lesson)", Duration::from_secs(5));
        t.keys(
            0,
            &["echo in-shell-$((40+2)) ${NSLAB_SANDBOX_INNER}end", "Enter"],
        );
        t.wait_for(0, "in-shell-42 end", Duration::from_secs(5));
        t.keys(0, &["exit", "Enter"]);
        t.wait_for(0, "Back in the lesson", Duration::from_secs(5));
        // Idle: the learn processes use little CPU, and none is stopped.
        let bin = env!("CARGO_BIN_EXE_nslab");
        // Only this test's processes (other tests run learn at the same time): descendants
        // of the process that started its tmux.
        let root = t.child.id();
        let parent = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        let ours = |mut pid: u32| -> bool {
            for _ in 0..64 {
                if pid == root {
                    return true;
                }
                match parent(pid) {
                    Some(p) if p > 1 => pid = p,
                    _ => return false,
                }
            }
            false
        };
        let ticks = || -> (u64, Vec<String>) {
            let mut total = 0;
            let mut states = Vec::new();
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if !(cmd.starts_with(bin) && cmd.contains("learn")) {
                    continue;
                }
                let pid = e.file_name().to_string_lossy().parse::<u32>().unwrap_or(0);
                if !ours(pid) {
                    continue;
                }
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                let f: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                if f.len() > 13 {
                    states.push(f[0].to_string());
                    total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
                }
            }
            (total, states)
        };
        let (before, states) = ticks();
        assert!(!states.is_empty(), "no learn process found");
        assert!(
            !states.iter().any(|s| s == "T" || s == "t"),
            "{shell}: {states:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
        let (after, _) = ticks();
        // 2 s is 200 ticks: a spinning process takes 80 or more.
        assert!(
            after - before < 40,
            "{shell}: {} ticks of CPU in 2 s",
            after - before
        );
        // And it still answers keys.
        t.press("g");
        t.wait_for(0, "The lab after step 1", Duration::from_secs(5));
        t.press("q");
        assert!(
            t.wait_for(0, "EXIT=", Duration::from_secs(5))
                .contains("EXIT=130")
        );
    }
}

/// Ctrl-C stops demo within 200 ms, while a command is typed out and during a ping's pace.
#[test]
fn demo_stops_at_once_on_ctrl_c() {
    for (name, cmd, wait) in [
        (
            "typing",
            "NSLAB_TYPING_MS=500 nslab demo veth-lab --step 3",
            "$ ip l",
        ),
        ("ping", "nslab demo veth-lab --step 6", "PING 10.1.0.3"),
    ] {
        let t = Tmux::start(&format!("demo-{name}"), cmd);
        t.wait_for(0, wait, Duration::from_secs(20));
        let start = Instant::now();
        t.keys(0, &["C-c"]);
        loop {
            if t.visible().contains("EXIT=130") {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "{}", t.visible());
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = start.elapsed();
        assert!(took < Duration::from_millis(200), "{name}: {took:?}");
        assert!(
            t.wait_for(0, "TTY", Duration::from_secs(5))
                .contains("TTY isig icanon echo")
        );
    }
}

/// `show --lesson` draws what a lesson means to build, without root and without a kernel.
#[test]
fn show_draws_a_lesson_without_root() {
    let mut cmd = Command::new("setpriv");
    if is_root() {
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    let out = cmd
        .arg(env!("CARGO_BIN_EXE_nslab"))
        .args([
            "show", "--lesson", "veth-lab", "--step", "5", "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = t["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blue", "red"]);
    assert_eq!(
        t["wires"],
        serde_json::json!([{"a": {"namespace": "blue", "interface": "veth0"},
                            "b": {"namespace": "red", "interface": "veth1"}}])
    );
    let text = nslab(&["show", "--lesson", "veth-lab", "--step", "5"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("blue:veth0") && text.contains("red:veth1"),
        "{text}"
    );
    assert!(text.contains("10.1.0.2/24"), "{text}");
    // Before step 3, there is no wire.
    let early = nslab(&[
        "show", "--lesson", "veth-lab", "--step", "2", "--format", "json",
    ]);
    let early: serde_json::Value = serde_json::from_slice(&early.stdout).unwrap();
    assert_eq!(early["wires"], serde_json::json!([]));
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
    let t = Tmux::start("demo", "nslab demo veth-lab");
    for i in 1..=9 {
        let s = t.wait_for(0, &format!("Step {i} of 9"), Duration::from_secs(20));
        let s = if i == 3 || i == 5 {
            t.wait_for(0, "space/Enter: next", Duration::from_secs(20))
        } else {
            s
        };
        if i == 3 {
            assert!(
                s.contains("$ ip link add veth0 type veth peer name veth1"),
                "{s}"
            );
            assert!(s.contains("✓ veth0 is wired to veth1"), "{s}");
        }
        if i == 5 {
            // The picture after the addresses: both ends joined by a wire.
            assert!(s.contains("10.1.0.2/24") && s.contains("red:veth1"), "{s}");
        }
        t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
        assert!(
            !t.visible().contains('✗'),
            "a check failed:\n{}",
            t.visible()
        );
        t.press("Space");
    }
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(10));
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(s.contains("End of the lesson"), "{s}");
}

const DEMO_FAILS: &str = "tests/fixtures/demo-fails.md";

/// A demo in which a step's checks fail ends with exit code 1 and names the step, with
/// `--auto` too: a script (or the instructor) tells it from a good run. Before, it exited 0.
#[test]
fn a_demo_with_a_failing_step_exits_1() {
    let t = Tmux::start("demo-fails", &format!("nslab demo {DEMO_FAILS} --auto 0.3"));
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(30));
    assert!(s.contains("EXIT=1"), "{s}");
    assert!(
        s.contains("Step 2 failed: 3 of 4 checks did not hold"),
        "{s}"
    );
    // The lesson that passes still exits 0.
    let t = Tmux::start(
        "demo-passes",
        "nslab demo tests/fixtures/pass.md --auto 0.3",
    );
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(30));
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("failed"), "{s}");
}

/// With `--auto`, the footer counts the seconds left down (before, it said "next in 3 s" all
/// along).
#[test]
fn the_auto_footer_counts_down() {
    let t = Tmux::start(
        "demo-countdown",
        "nslab demo tests/fixtures/pass.md --auto 3",
    );
    t.wait_for(0, "next in 3 s", Duration::from_secs(20));
    t.wait_for(0, "next in 1 s", Duration::from_secs(5));
}

/// The picture after a step draws what its checks expect and the kernel lacks as missing, in
/// one picture (narrow) and on the lesson's side of two (wide): a cable no line of the step
/// lays, its far room, an address. Before, only what the lines make was drawn, and a failing
/// step's picture marked nothing.
#[test]
fn the_demo_picture_marks_what_the_step_expects_missing() {
    for cols in [80, 130] {
        let t = Tmux::start_sized(
            &format!("demo-missing-{cols}"),
            &format!("nslab demo {DEMO_FAILS}"),
            cols,
            50,
        );
        t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
        t.press("Space");
        t.wait_for(0, "Step 2 of 4", Duration::from_secs(20));
        let s = t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
        let s = s.replace("┆", "│").replace('╌', "─");
        assert!(s.contains("other [missing]"), "{cols}:\n{s}");
        assert!(s.contains("sc0            veth  [missing]"), "{cols}:\n{s}");
        assert!(
            s.lines()
                .any(|l| l.contains("10.77.0.1/24") && l.contains("[missing]")),
            "{cols}:\n{s}"
        );
        assert!(s.contains("solo:sc0 [missing]"), "{cols}:\n{s}");
        // What is there is not missing.
        assert!(!s.contains("solo [missing]"), "{cols}:\n{s}");
    }
}

/// A terminal resized in the middle of a step gets the step's text, the commands' output and
/// the picture wrapped again for its new width. Before, the text kept the old width's lines,
/// cut at the new edge (with ↪).
#[test]
fn a_resize_mid_step_wraps_the_demo_again() {
    let t = Tmux::start_sized("demo-resize", &format!("nslab demo {DEMO_FAILS}"), 150, 40);
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.tmux(&["resize-pane", "-t", "t:0.0", "-x", "50"]);
    std::thread::sleep(Duration::from_millis(500));
    let s = t.wait_words(
        "which is all that the second step builds on",
        Duration::from_secs(5),
    );
    assert!(!s.contains('↪'), "{s}");
    assert!(
        s.lines().all(|l| l.chars().count() <= 50),
        "a line wider than the pane:\n{s}"
    );
    // Wider again: the text takes the room back.
    t.tmux(&["resize-pane", "-t", "t:0.0", "-x", "150"]);
    t.wait_for(0, "A network namespace is a room of its own for interfaces, addresses and routes; this first step", Duration::from_secs(5));
}

/// A terminal resized while a step waits in a long line (a `sleep 8`, a ping that waits) gets
/// the step laid out again for its new width at once, not when the line ends. Before, the
/// frame of the old width stayed, cut at the new edge, for the whole line.
#[test]
fn a_resize_during_a_long_line_redraws_the_demo() {
    let t = Tmux::start_sized(
        "demo-resize-slow",
        "nslab demo tests/fixtures/demo-slow.md",
        150,
        40,
    );
    t.wait_for(0, "$ sleep 8", Duration::from_secs(20));
    let began = Instant::now();
    t.tmux(&["resize-pane", "-t", "t:0.0", "-x", "50"]);
    let s = t.wait_words(
        "which is long enough to resize the terminal in the middle",
        Duration::from_secs(3),
    );
    // Still in the line: the step has not ended.
    assert!(began.elapsed() < Duration::from_secs(6), "{s}");
    assert!(!s.contains("space/Enter: next"), "{s}");
    assert!(s.starts_with("Step 1 of 2"), "{s}");
    assert!(
        s.lines().all(|l| l.chars().count() <= 50),
        "a line wider than the pane:\n{s}"
    );
    // Taller and wider again, still in the line.
    t.tmux(&["resize-pane", "-t", "t:0.0", "-x", "150"]);
    t.wait_for(
        0,
        "A network namespace is a room of its own for interfaces, addresses and routes; this step makes one, then",
        Duration::from_secs(3),
    );
    assert!(
        !t.visible().contains("space/Enter: next"),
        "{}",
        t.visible()
    );
}

/// `demo --step N` performs the steps before N first; one of them that fails (a check that
/// does not hold) counts as the steps shown do: exit 1, the step named at the end. Before, it
/// exited 0, which the help's "every step performed passed" does not allow.
#[test]
fn a_demo_from_a_later_step_counts_a_failing_earlier_step() {
    let t = Tmux::start(
        "demo-step-fails",
        &format!("nslab demo {DEMO_FAILS} --step 3 --auto 0.3"),
    );
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(40));
    assert!(s.contains("EXIT=1"), "{s}");
    assert!(
        flat(&s).contains("Step 2 failed: 3 of 4 checks did not hold (performed before step 3"),
        "{s}"
    );
    // From a step whose earlier steps hold, it still exits 0.
    let t = Tmux::start(
        "demo-step-passes",
        "nslab demo tests/fixtures/pass.md --step 2 --auto 0.3",
    );
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(40));
    assert!(s.contains("EXIT=0"), "{s}");
    assert!(!s.contains("failed"), "{s}");
}

/// Ctrl-C at demo's reset question leaves the question on screen, and says it was interrupted
/// on a line of its own. Before, the words were written over the question's first line (the
/// cursor went back where an earlier demo's screen had saved it).
#[test]
fn ctrl_c_at_demos_question_leaves_it_readable() {
    let t = Tmux::start(
        "demo-question-c",
        &format!("nslab demo {DEMO_FAILS} --step 2; nslab demo {DEMO_FAILS}"),
    );
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.press("q");
    t.wait_for(0, "[y/N]", Duration::from_secs(20));
    t.keys(0, &["C-c"]);
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert!(s.contains("EXIT=130"), "{s}");
    assert!(
        s.contains("Note: An earlier run of this lesson left"),
        "{s}"
    );
    assert!(s.lines().any(|l| l == "nslab: interrupted"), "{s}");
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

/// Without root, the sandbox starts empty each time: resuming at step 3 builds what steps 1
/// and 2 made first, so that the student's next command works.
#[test]
fn a_rootless_resume_rebuilds_the_earlier_steps() {
    let user = if is_root() {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    // Not under /tmp: the sandbox has a /tmp of its own, where the progress would not be found.
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nslab-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let learn = format!(
        "{user}env XDG_STATE_HOME={} SHELL=/bin/sh nslab learn",
        state.display()
    );
    let t = Tmux::start("resume", &format!("{learn} veth-lab --step 3"));
    let learn = learn.replace("nslab ", &format!("{} ", env!("CARGO_BIN_EXE_nslab")));
    t.wait_for(0, "Step 3 of 9", Duration::from_secs(20));
    t.press("q");
    t.wait_words("resumes at step 3", Duration::from_secs(5));
    t.respawn(&format!("{learn}; sleep 600"));
    t.wait_for(0, "Step 3 of 9", Duration::from_secs(20));
    t.press("t");
    t.wait_for(0, "(nslab lesson)", Duration::from_secs(5));
    t.keys(0, &["echo ns: $(ls /run/netns)", "Enter"]);
    t.wait_for(0, "ns: blue red", Duration::from_secs(5));
    t.keys(0, &["exit", "Enter"]);
    t.wait_for(0, "Back in the lesson", Duration::from_secs(5));
    drop(t);
    let _ = std::fs::remove_dir_all(&state);
}

/// `--help` lists the keys; inside the lesson's own shell, learn and demo say where they are.
#[test]
fn help_lists_the_keys_and_the_lesson_shell_is_named() {
    let help = String::from_utf8_lossy(&nslab(&["learn", "--help"]).stdout).into_owned();
    for key in [
        "h  hint",
        "d  do it for me",
        "n  skip",
        "t  a shell",
        "r  reset",
        "q  quit",
    ] {
        assert!(help.contains(key), "{key:?} missing:\n{help}");
    }
    let help = String::from_utf8_lossy(&nslab(&["demo", "--help"]).stdout).into_owned();
    assert!(help.contains("q, Ctrl-C  stop at once"), "{help}");
    for mode in ["learn", "demo"] {
        let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
            .arg(mode)
            .env("IN_NSLAB_LESSON", "veth-lab")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{mode}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("type exit to go back to the lesson"),
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

/// `show --watch` beside a demo, in a 60x20 pane: the picture fits (a list of the namespaces
/// when the boxes do not), from its first line, default routes included, and a resize redraws
/// it for the new size, saying what it had to leave out. Before, the boxes ran 30 lines and
/// the pane showed only their end.
#[test]
fn show_watch_fits_a_small_pane() {
    let lab = "ip netns add left; ip netns add right; ip netns add mid; \
        ip link add a0 netns left type veth peer name a1 netns right; \
        ip link add b0 netns mid type veth peer name b1 netns right; \
        ip -n left addr add 10.9.1.1/24 dev a0; ip -n left link set a0 up; \
        ip -n left route add default dev a0; ip -n mid addr add 10.9.2.1/24 dev b0";
    let t = Tmux::start_sized("show-small", &format!("{lab}; nslab show --watch"), 60, 20);
    let s = t.wait_for(0, "default dev a0", Duration::from_secs(10));
    assert!(
        s.lines().next().unwrap_or("").starts_with("root namespace"),
        "{s}"
    );
    for want in ["left", "right", "mid", "⇄ right:a1", "10.9.2.1/24"] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    // Smaller: cut, and it says so; the picture's first line is still the first.
    t.tmux(&["resize-window", "-t", "t", "-y", "10"]);
    t.tmux(&["resize-pane", "-t", "t:0.0", "-x", "40"]);
    let s = t.wait_words(
        "more lines: a taller pane shows them",
        Duration::from_secs(5),
    );
    assert!(
        s.lines().next().unwrap_or("").starts_with("root namespace"),
        "{s}"
    );
    assert!(s.lines().all(|l| l.chars().count() <= 40), "{s}");
}

/// `show --watch` in a 38x3 pane: the frame has the pane's three rows, so the terminal never
/// scrolls (nothing goes into its history), the picture's first line stays on top, and the
/// note of what is left out is whole. Before, the frame was 8 rows (the modes' least height)
/// and scrolled, and the note was cut at the 38th column.
#[test]
fn show_watch_fits_a_pane_of_three_rows() {
    let lab = "ip netns add left; ip netns add right; ip netns add mid; \
        ip link add a0 netns left type veth peer name a1 netns right; \
        ip -n left link set a0 up; ip -n left route add default dev a0";
    // Started once the pane has its size (the split that makes it comes after the session):
    // tmux rewraps a wider frame drawn before, into its history.
    let sized = "until [ \"$(stty size)\" = \"3 38\" ]; do sleep 0.05; done";
    let t = Tmux::start_sized(
        "show-tiny",
        &format!("{lab}; {sized}; nslab show --watch"),
        38,
        3,
    );
    let s = t.wait_for(0, "more lines", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(600));
    let s = {
        let now = t.visible();
        if now.contains("more lines") { now } else { s }
    };
    let size = t.tmux(&[
        "display",
        "-p",
        "-t",
        "t:0.0",
        "#{pane_width}x#{pane_height}",
    ]);
    assert_eq!(size.trim(), "38x3");
    let history = t.tmux(&["display", "-p", "-t", "t:0.0", "#{history_size}"]);
    assert_eq!(history.trim(), "0", "the pane scrolled:\n{}", t.screen(0));
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines[0].starts_with("root namespace"), "{s}");
    let note = lines.iter().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        note.starts_with('…') && note.trim_end().ends_with("more lines"),
        "the note is cut:\n{s}"
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
    t.press("d");
    t.press("y");
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
    t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
    t.press("t");
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
    t.press("d");
    t.press("y");
    t.wait_for(0, "Press Enter to go on", Duration::from_secs(10));
    let count = "pgrep -c -f 'sleep 100[1-4]'";
    assert_eq!(t.answer(count), "4");
    t.press("Enter");
    assert!(
        t.wait_for(0, "EXIT=", Duration::from_secs(10))
            .contains("EXIT=0")
    );
    assert_eq!(t.answer(count), "0");
}

/// The fixture of the review's findings: a hidden setup, a challenge, long titles.
const REVIEW: &str = "tests/fixtures/review-challenge.md";

/// `b` shows the step before and stays there, whatever its checks say; what nslab performed
/// for `--step` counts as performed, and going back changes no recorded state.
#[test]
fn back_shows_the_step_before_and_records_nothing() {
    let t = Tmux::start("back", "nslab learn veth-lab --step 6");
    t.wait_for(0, "Step 6 of 9", Duration::from_secs(20));
    // The steps nslab performed are said in one line, not a line a step.
    let s = t.visible();
    assert!(s.contains("nslab performed steps"), "{s}");
    assert!(!s.contains("performing step"), "{s}");
    // Listings are not run in a performed step, and that is no error of theirs.
    assert!(!s.contains("a listing"), "{s}");
    let performed = t.progress()["lessons"]["veth-lab"]["steps"].clone();
    let states: Vec<&str> = performed
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !states.is_empty() && states.iter().all(|s| *s == "performed"),
        "{performed}"
    );
    assert_eq!(performed["5"], "performed", "{performed}");
    t.press("b");
    t.wait_for(0, "Step 5 of 9", Duration::from_secs(5));
    t.wait_words("Back at step 5", Duration::from_secs(5));
    // It stays: its checks hold, and still nothing moves on by itself.
    std::thread::sleep(Duration::from_millis(1500));
    let s = t.visible();
    assert!(
        s.contains("Step 5 of 9") && !s.contains("Step 6 of 9"),
        "{s}"
    );
    assert_eq!(t.progress()["lessons"]["veth-lab"]["steps"], performed);
    // Back again, then Enter twice: steps 4 and 5 are shown on the way, none bounces.
    t.press("b");
    t.wait_for(0, "Step 4 of 9", Duration::from_secs(5));
    t.press("Enter");
    t.wait_for(0, "Step 5 of 9", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(800));
    assert!(t.visible().contains("Step 5 of 9"), "{}", t.visible());
    t.press("Enter");
    t.wait_for(0, "Step 6 of 9", Duration::from_secs(5));
    assert_eq!(t.progress()["lessons"]["veth-lab"]["steps"], performed);
}

/// Back at a step whose action check (a ping since the step began) is open again: Enter goes
/// on, as the message says, and the step keeps its state.
#[test]
fn back_at_a_ping_step_enter_goes_on() {
    let t = Tmux::start("backping", "nslab learn veth-lab --step 7");
    t.wait_for(0, "Step 7 of 9", Duration::from_secs(20));
    t.press("b");
    t.wait_words("Back at step 6", Duration::from_secs(5));
    t.press("Enter");
    t.wait_for(0, "Step 7 of 9", Duration::from_secs(5));
    assert!(!t.visible().contains("Not yet"), "{}", t.visible());
    assert_eq!(
        t.progress()["lessons"]["veth-lab"]["steps"]["6"],
        "performed"
    );
}

/// On a challenge step, `g` draws the lab as the step starts: the solution's result is not
/// drawn (as missing), and the kernel's own 127.0.0.1/8 on lo is not extra.
#[test]
fn the_picture_of_a_challenge_keeps_its_solution() {
    for (cols, name) in [(120u16, "gwide"), (80, "gnarrow")] {
        let t = Tmux::start_sized(name, &format!("nslab learn {REVIEW} --step 2"), cols, 45);
        t.wait_for(0, "Step 2 of 3", Duration::from_secs(20));
        t.press("g");
        let s = t.wait_words(
            "a challenge: what it asks for is not drawn",
            Duration::from_secs(5),
        );
        assert!(
            s.contains("c0") && s.contains("10.7.0.2/24"),
            "{cols}:\n{s}"
        );
        // The picture, above the commands' rule (the checklist below names the route).
        let picture: String = s
            .lines()
            .skip_while(|l| !l.contains("as the lesson means it"))
            .take_while(|l| !l.starts_with('─'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(picture.contains("127.0.0.1/8"), "{cols}:\n{s}");
        assert!(!picture.contains("default via"), "{cols}:\n{s}");
        assert!(
            !s.contains("[missing]") && !s.contains("[extra]"),
            "{cols}:\n{s}"
        );
    }
}

/// What a step's hidden setup made and the student deleted is named, and `f` makes it again.
#[test]
fn what_a_hidden_setup_made_can_be_rebuilt() {
    let t = Tmux::start("setupgone", &format!("nslab learn {REVIEW}"));
    t.wait_for(0, "Step 1 of 3", Duration::from_secs(10));
    t.type_line("ip netns del cl");
    t.wait_words(
        "namespace cl was there when this step began and is gone now; press f",
        Duration::from_secs(5),
    );
    t.press("f");
    t.wait_words("Perform this step's setup again", Duration::from_secs(5));
    t.press("y");
    t.wait_gone("was there when this step began", Duration::from_secs(10));
    assert_eq!(
        t.answer("ip -n cl -4 -o addr show dev c0 | awk '{print $4}'"),
        "10.7.0.2/24"
    );
}

/// A lesson from a file: quitting names the file to resume it, and `nslab reset ID` finds the
/// lesson in the ledger, though no built-in lesson has that id.
#[test]
fn a_lesson_from_a_file_resumes_and_resets_by_what_works() {
    let t = Tmux::start("fromfile", &format!("nslab learn {REVIEW}"));
    t.wait_for(0, "Step 1 of 3", Duration::from_secs(10));
    t.press("q");
    t.wait_words(
        &format!("`nslab learn {REVIEW}` resumes at step 1"),
        Duration::from_secs(5),
    );
    assert_eq!(t.answer("ls /run/netns | tr '\\n' ' '"), "cl srv");
    let said = t.answer("{ nslab reset --yes review-challenge; echo code=$?; } 2>&1");
    assert!(said.contains("removed netns cl"), "{said}");
    assert!(said.ends_with("code=0"), "{said}");
    assert_eq!(t.answer("ls /run/netns | wc -l"), "0");
}

/// Without root, with HOME under /tmp (which the sandbox has its own of), the progress still
/// outlives the sandbox.
#[test]
fn rootless_progress_under_tmp_is_saved() {
    let user = if is_root() {
        "setpriv --reuid=65534 --regid=65534 --clear-groups "
    } else {
        ""
    };
    let t = Tmux::start("tmphome", "true");
    let home = t.dir.join("nobody");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    assert!(home.starts_with("/tmp"), "{}", home.display());
    t.respawn(&format!(
        "{user}env HOME={} SHELL=/bin/sh {} learn veth-lab; sleep 600",
        home.display(),
        env!("CARGO_BIN_EXE_nslab")
    ));
    t.wait_for(0, "Step 1 of 9", Duration::from_secs(10));
    t.press("Enter");
    t.wait_for(0, "Step 2 of 9", Duration::from_secs(10));
    t.press("q");
    t.wait_words(
        "Your progress is saved: `nslab learn veth-lab` resumes at step 2",
        Duration::from_secs(5),
    );
    let p = std::fs::read_to_string(home.join(".local/state/nslab/progress.json"))
        .expect("the progress file outlives the sandbox");
    let p: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(p["lessons"]["veth-lab"]["step"], 2, "{p}");
}

/// At 80 columns the recap at the end and the banner of the `t` shell break between words.
#[test]
fn the_recap_and_the_shell_banner_are_wrapped_between_words() {
    let t = Tmux::start_sized(
        "recap",
        &format!("env SHELL=/bin/sh nslab learn {REVIEW} --step 3"),
        80,
        40,
    );
    t.wait_for(0, "Step 3 of 3", Duration::from_secs(20));
    let words_whole = |s: &str, text: &str| {
        let on_screen: Vec<&str> = s.split_whitespace().collect();
        text.split_whitespace()
            .all(|w| on_screen.contains(&w.trim_end_matches('.')) || on_screen.contains(&w))
    };
    t.press("t");
    t.wait_for(0, "(nslab lesson)", Duration::from_secs(5));
    // As the screen shows it, not as tmux joins the lines it wrapped itself.
    let s = t.visible();
    assert!(
        words_whole(
            &s,
            "Type your commands here; type exit to come back to the lesson."
        ),
        "{s}"
    );
    t.keys(0, &["exit", "Enter"]);
    t.wait_for(0, "Back in the lesson", Duration::from_secs(5));
    t.press("d");
    t.press("y");
    t.wait_for(0, "Lesson complete", Duration::from_secs(10));
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert!(
        words_whole(
            &t.visible(),
            "The lab as you find it, made out of sight by a hidden setup that a student can break"
        ),
        "{}",
        t.visible()
    );
    assert!(s.contains("EXIT=0"), "{s}");
}

/// In demo, `b` shows the step before without performing it again, and `--step` offers to
/// reset what an earlier run left, as a demo from the start does.
#[test]
fn demo_back_shows_and_step_offers_the_reset() {
    let t = Tmux::start("demoback", "nslab demo veth-lab --step 3");
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.press("b");
    let s = t.wait_words("Shown again", Duration::from_secs(10));
    assert!(s.contains("Step 2 of 9"), "{s}");
    assert!(
        !s.contains("already exists") && !s.contains("File exists"),
        "{s}"
    );
    assert!(s.contains("$ ip netns add blue"), "{s}");
    t.press("q");
    t.wait_for(0, "EXIT=130", Duration::from_secs(5));
    t.respawn(&format!(
        "{} demo veth-lab --step 4; echo EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_nslab")
    ));
    t.wait_words(
        "An earlier run of this lesson left",
        Duration::from_secs(10),
    );
}

/// A challenge's words after its solution talk about the solution: hidden while it is open,
/// shown once it is solved, and the step waits for Enter while they are read.
#[test]
fn a_challenges_debrief_waits_until_it_is_solved() {
    let t = Tmux::start("debrief", "nslab learn veth-lab --step 8");
    t.wait_for(0, "Step 8 of 9", Duration::from_secs(20));
    let s = t.visible();
    assert!(s.contains("A challenge"), "{s}");
    assert!(!s.contains("one command instead of three"), "{s}");
    t.type_line("ip netns add blue");
    t.type_line("ip link add v0 netns blue type veth peer name v1 netns red");
    t.type_line("ip -n blue link set lo up; ip -n blue link set v0 up; ip -n red link set v1 up");
    t.type_line(
        "ip -n blue address add 10.1.0.2/24 dev v0; ip -n red address add 10.1.0.3/24 dev v1",
    );
    t.wait_words("Press Enter to go on", Duration::from_secs(10));
    t.wait_words("one command instead of three", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    assert!(t.visible().contains("Step 8 of 9"), "{}", t.visible());
    t.press("Enter");
    t.wait_for(0, "Step 9 of 9", Duration::from_secs(5));
}

/// A demo killed in the middle of a step (kill -9, while the step's checks are on screen) has
/// written down the namespaces its lines made as each line ended: `nslab reset` takes them
/// back, and the next demo starts. Before, they were kept as "made while no session of the
/// lesson ran", and the next demo refused to start over them (found by a fresh-eyes
/// instructor). The same holds for Ctrl-C and q, which leave by the same path as a signal.
#[test]
fn a_demo_killed_mid_step_leaves_nothing_reset_cannot_take_back() {
    let t = Tmux::start("demo-kill9", "nslab demo routing");
    t.wait_for(0, "Step 1 of", Duration::from_secs(20));
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.type_line("pkill -9 -x nslab; sleep 0.2; ip netns | sort | tr '\\n' ' '; echo");
    let s = t.wait_for(1, "typed-", Duration::from_secs(5));
    assert!(
        s.contains("left") && s.contains("router") && s.contains("right"),
        "{s}"
    );
    t.type_line(
        "nslab reset --yes routing > /dev/null; echo LEFT=$(ls /run/netns | tr '\\n' ' ')=",
    );
    let s = t.wait_for(1, "LEFT=", Duration::from_secs(20));
    assert!(s.contains("LEFT==") || s.contains("LEFT= ="), "{s}");
}

/// A ledger whose lock another nslab holds too long stops demo before its first line, with exit
/// code 3 (before, the demo ran without a baseline, and nothing it made could be reset: found
/// by a fresh-eyes instructor).
#[test]
fn a_demo_that_cannot_write_its_ledger_does_nothing() {
    let t = Tmux::start(
        "demo-lock",
        "mkdir -p $HOME/.local/state/nslab; (flock $HOME/.local/state/nslab/ledger.json.lock sleep 30 &); sleep 0.3; nslab demo routing",
    );
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(20));
    assert!(s.contains("EXIT=3"), "{s}");
    assert!(s.contains("lock"), "{s}");
    t.type_line("echo NETNS=$(ls /run/netns | wc -l)=");
    let s = t.wait_for(1, "NETNS=0=", Duration::from_secs(5));
    assert!(s.contains("NETNS=0="), "{s}");
}

/// `--step` performs the steps before it from the last one whose checks show the lab there: a
/// step whose checks only say something is missing (the namespaces lesson's step 4, "not
/// process netns-demo in another netns") holds on an empty machine too, and is not that step.
/// Before, `demo namespaces --step 7` performed only steps 5 and 6, and step 7 failed with no
/// program to mount (found by a fresh-eyes instructor).
#[test]
fn step_performs_from_where_the_lab_stands_not_from_a_step_that_only_says_missing() {
    let t = Tmux::start("demo-step7", "nslab demo namespaces --step 7");
    let s = t.wait_for(0, "Step 7 of", Duration::from_secs(30));
    assert!(s.contains("performed steps 1 to 6"), "{s}");
    t.keys(0, &["q"]);
    t.wait_for(0, "EXIT=", Duration::from_secs(10));
}

/// Root links of the lesson's names made by hand after a demo stopped before the step that
/// makes them are the user's: reset keeps them (before, it deleted the instructor's veth0,
/// its peer with it, and their bridge named veth1: found by a fresh-eyes instructor).
#[test]
fn reset_keeps_root_links_made_by_hand_after_a_demo_stopped() {
    let t = Tmux::start("demo-links", "nslab demo veth-lab");
    t.wait_for(0, "Step 1 of", Duration::from_secs(20));
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.keys(0, &["Space"]);
    t.wait_for(0, "Step 2 of", Duration::from_secs(20));
    t.wait_for(0, "space/Enter: next", Duration::from_secs(20));
    t.keys(0, &["q"]);
    t.wait_for(0, "EXIT=", Duration::from_secs(10));
    t.type_line("ip link add veth0 type veth peer name mine9; ip link add veth1 type bridge");
    t.type_line("nslab reset --yes veth-lab > /tmp/reset.out; echo LINKS=$(ip -br link | cut -d' ' -f1 | cut -d@ -f1 | sort | tr '\\n' ' ')=");
    let s = t.wait_for(1, "LINKS=", Duration::from_secs(20));
    assert!(s.contains("LINKS=lo mine9 veth0 veth1 ="), "{s}");
}

/// SIGTERM while demo performs a line (a ping's pace) leaves by the signal's path, after its
/// grace: what the lesson made is written down, and reset takes it all back.
#[test]
fn a_demo_stopped_by_sigterm_mid_line_leaves_nothing_reset_cannot_take_back() {
    let t = Tmux::start("demo-term", "nslab demo veth-lab --step 6");
    t.wait_for(0, "PING 10.1.0.3", Duration::from_secs(30));
    t.type_line("pkill -TERM -x nslab; sleep 1.5; ip netns | sort | tr '\\n' ' '; echo");
    let s = t.wait_for(0, "EXIT=", Duration::from_secs(10));
    assert!(s.contains("EXIT=130"), "{s}");
    t.type_line(
        "nslab reset --yes veth-lab > /dev/null; echo LEFT=$(ls /run/netns | tr '\\n' ' ')=",
    );
    let s = t.wait_for(1, "LEFT=", Duration::from_secs(20));
    assert!(s.contains("LEFT=="), "{s}");
}

/// A student leaves learn at a troubleshooting fault, mends it while learn is closed, and
/// resumes: the fault's hidden setup, performed by the first session (the progress file says
/// so), is not performed again (it undid the mend, and its lines could fail), and the mended
/// step ticks as the student's. `r` starts over: the setup is performed again.
#[test]
fn a_resume_at_a_fault_keeps_what_the_student_mended_meanwhile() {
    let t = Tmux::start("resume-fault", "nslab learn troubleshooting --step 2");
    t.wait_for(0, "Step 2 of 7", Duration::from_secs(20));
    assert_eq!(
        t.answer("ip -n router -br link show left0 | awk '{print $2}'"),
        "DOWN"
    );
    t.press("q");
    t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert_eq!(
        t.progress()["lessons"]["troubleshooting"]["set_up"],
        serde_json::json!([2])
    );
    // Mended while learn is closed.
    assert_eq!(t.answer("ip -n router link set left0 up; echo $?"), "0");
    t.learn_again();
    t.wait_words("Step 2 ✓ verified", Duration::from_secs(20));
    t.wait_for(0, "Step 3 of 7", Duration::from_secs(10));
    assert_eq!(
        t.answer("ip -n router -br link show left0 | awk '{print $2}'"),
        "UP"
    );
    let p = t.progress();
    assert_eq!(
        p["lessons"]["troubleshooting"]["steps"]["2"], "verified",
        "{p}"
    );
    // Step 3's setup ran in this session, and is noted; step 2's note went with its pass.
    assert_eq!(
        p["lessons"]["troubleshooting"]["set_up"],
        serde_json::json!([3]),
        "{p}"
    );
    // r starts over: only step 1's setup, performed again, is noted.
    t.press("r");
    t.wait_for(0, "Reset the lesson", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "Step 1 of 7", Duration::from_secs(20));
    let p = t.progress();
    assert_eq!(
        p["lessons"]["troubleshooting"]["set_up"],
        serde_json::json!([1]),
        "{p}"
    );
}

/// A ping to an address on the link that nobody holds waits for address resolution (ARP) and
/// sends no echo request at all: the ARP requests l broadcast are the attempt, and the step's
/// `pinged 10.0.2.2 from l unanswered` ticks in learn as it passes in verify. Before, learn
/// said "0 echo requests" however often the student pinged (found by a fresh-eyes author).
#[test]
fn a_ping_that_waits_for_arp_ticks_its_unanswered_check() {
    let t = Tmux::start(
        "arp-wait",
        "nslab learn tests/fixtures/arp-wait.md --step 2",
    );
    t.wait_for(0, "Step 2 of 3", Duration::from_secs(20));
    t.answer("ip netns exec l ping -c 1 -W 1 10.0.2.2; echo $?");
    t.wait_words("Step 2 ✓ verified", Duration::from_secs(10));
}

/// The same resume, with the lab removed meanwhile (by hand): the note of step 2's setup is
/// not trusted, since the lab it broke is gone, and `f` builds the lab again with the fault set
/// up on it. Before, the note was trusted, `f` made a healthy lab, and step 2 ticked with
/// nothing mended (found by a reviewer).
#[test]
fn a_resume_on_a_lab_removed_meanwhile_sets_the_fault_up_again() {
    let t = Tmux::start("resume-gone", "nslab learn troubleshooting --step 2");
    t.wait_for(0, "Step 2 of 7", Duration::from_secs(20));
    t.press("q");
    t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert_eq!(t.answer("ip netns del router; echo $?"), "0");
    t.learn_again();
    t.wait_words("press f to rebuild it", Duration::from_secs(20));
    t.press("f");
    t.wait_for(0, "Perform", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "this step's setup again", Duration::from_secs(20));
    assert_eq!(
        t.answer("ip -n router -br link show left0 | awk '{print $2}'"),
        "DOWN"
    );
    let p = t.progress();
    assert_ne!(
        p["lessons"]["troubleshooting"]["steps"]["2"], "verified",
        "{p}"
    );
    assert_ne!(
        p["lessons"]["troubleshooting"]["steps"]["2"], "performed",
        "{p}"
    );
}

/// A student at the troubleshooting lesson's step 2 quits; the lab is removed by hand and learn
/// resumes, where the step's setup fails on the empty lab; the student then types step 1's
/// lines, and the healthy lab holds step 2's checks with no fault set up.
fn fault_on_a_lab_rebuilt_by_hand(name: &str) -> Tmux {
    let rebuilt = lesson("06-troubleshooting.md").steps[0]
        .setup
        .iter()
        .map(|c| c.text.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let t = Tmux::start(name, "nslab learn troubleshooting --step 2");
    t.wait_for(0, "Step 2 of 7", Duration::from_secs(20));
    t.press("q");
    t.wait_for(0, "EXIT=", Duration::from_secs(5));
    assert_eq!(
        t.answer("ip netns del left; ip netns del router; ip netns del right; echo $?"),
        "0"
    );
    t.learn_again();
    t.wait_words("the step's setup failed", Duration::from_secs(20));
    assert_eq!(t.answer(&format!("{rebuilt} >/dev/null; echo $?")), "0");
    t.wait_words("nothing here is mended by you yet", Duration::from_secs(20));
    t
}

/// The same resume, and the student builds the removed lab again by hand, typing step 1's
/// lines: step 2's setup failed on the empty lab, so its fault is not there, and the checks
/// that hold prove no mend. The step does not tick; `f` sets the fault up, and the student's
/// mend then earns it. Before, step 2 ticked "verified" with nothing mended.
#[test]
fn a_lab_rebuilt_by_hand_after_a_failed_setup_does_not_pass_the_fault() {
    let t = fault_on_a_lab_rebuilt_by_hand("resume-byhand");
    t.press("Enter");
    t.wait_words("nothing here is mended by you yet", Duration::from_secs(5));
    let p = t.progress();
    assert!(
        p["lessons"]["troubleshooting"]["steps"]["2"].is_null(),
        "{p}"
    );
    t.press("f");
    t.wait_for(0, "Perform this step's setup again", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "this step's setup again", Duration::from_secs(20));
    assert_eq!(
        t.answer("ip -n router -br link show left0 | awk '{print $2}'"),
        "DOWN"
    );
    assert_eq!(t.answer("ip -n router link set left0 up; echo $?"), "0");
    t.wait_words("Step 2 ✓ verified", Duration::from_secs(20));
    let p = t.progress();
    assert_eq!(
        p["lessons"]["troubleshooting"]["steps"]["2"], "verified",
        "{p}"
    );
}

/// The same lab rebuilt by hand, and the student asks nslab to do the step (`d`): performed by
/// nslab, it earns nothing, and the fault its setup could not make no longer holds it back.
/// Before, the step stayed open after `d` until `f`, then `d` again (found by a reviewer).
#[test]
fn d_on_a_step_whose_setup_failed_completes_it_as_performed() {
    let t = fault_on_a_lab_rebuilt_by_hand("resume-byhand-d");
    t.press("d");
    t.wait_for(0, "y/N", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "Step 3 of 7", Duration::from_secs(20));
    let p = t.progress();
    assert_eq!(
        p["lessons"]["troubleshooting"]["steps"]["2"], "performed",
        "{p}"
    );
}

/// The same lab rebuilt by hand after a failed setup, and the student quits before pressing
/// `f`, then resumes: the setup that failed set no fault up, so the resume performs it again
/// (on the lab that is whole now) and the step waits for the student's mend. Before, the
/// failed setup was noted as performed, the resume kept the healthy lab as the student's
/// mend, and step 2 ticked "verified" with nothing mended (found by a fresh-eyes student).
#[test]
fn a_resume_after_a_failed_setup_sets_the_fault_up() {
    let t = fault_on_a_lab_rebuilt_by_hand("resume-failed");
    t.press("q");
    t.wait_words("Your progress is saved", Duration::from_secs(5));
    // Not noted as set up: it was not.
    let p = t.progress();
    let set_up = &p["lessons"]["troubleshooting"]["set_up"];
    assert!(
        set_up
            .as_array()
            .is_none_or(|a| !a.contains(&serde_json::json!(2))),
        "{p}"
    );
    t.learn_again();
    t.wait_for(0, "Step 2 of 7", Duration::from_secs(20));
    // The fault is there now, set up by the resume: the student mends it.
    assert_eq!(
        t.answer("ip -n router -br link show left0 | awk '{print $2}'"),
        "DOWN"
    );
    let p = t.progress();
    assert!(
        p["lessons"]["troubleshooting"]["steps"]["2"].is_null(),
        "{p}"
    );
    assert_eq!(t.answer("ip -n router link set left0 up; echo $?"), "0");
    t.wait_words("Step 2 ✓ verified", Duration::from_secs(20));
}

/// The student gives alpha a /24 where the lesson asks for a /16; the ping of that step ticks
/// all the same, and the next one (to an address only the /16 holds on the cable) fails. Learn
/// says the prefix length is wrong: before, it said the lesson's address was "made in step 2
/// and is gone now; press f to rebuild it", and f would have added it beside the wrong one.
#[test]
fn a_wrong_prefix_length_is_said_so_not_gone() {
    let (dir, file) = scratch_lesson(
        "prefix",
        "prefix",
        "+++\nid = \"prefix\"\ntitle = \"A /16\"\nformat = 1\n+++\n\n\
         ## A cable\n\n```sh\nip netns add alpha\nip netns add beta\n\
         ip link add a0 netns alpha type veth peer name b0 netns beta\n\
         ip -n beta link set b0 up\nip -n beta address add 10.5.0.2/16 dev b0\n```\n\n\
         ## Address alpha\n\n```sh\nip -n alpha link set a0 up\n\
         ip -n alpha address add 10.5.0.1/16 dev a0\n```\n\n```check\nping 10.5.0.2 from alpha\n```\n\n\
         ## Far along the street\n\n```sh\nip -n beta address add 10.5.9.9/16 dev b0\n```\n\n\
         ```check\nping 10.5.9.9 from alpha\n```\n",
    );
    let t = Tmux::start_keeping(
        "prefix",
        &format!("nslab learn {}", file.display()),
        &[dir.as_path()],
    );
    t.wait_for(0, "Step 1 of 3", Duration::from_secs(10));
    t.press("d");
    t.press("y");
    t.wait_for(0, "Step 2 of 3", Duration::from_secs(10));
    t.type_line("ip -n alpha link set a0 up");
    t.type_line("ip -n alpha address add 10.5.0.1/24 dev a0");
    t.wait_for(0, "Step 3 of 3", Duration::from_secs(10));
    t.type_line("ip -n beta address add 10.5.9.9/16 dev b0");
    t.wait_words(
        "is 10.5.0.1/24 here: its prefix length is /24, not /16",
        Duration::from_secs(10),
    );
    let s = t.visible();
    assert!(!s.contains("is gone now"), "{s}");
    assert!(!s.contains("press f"), "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The student deletes a route an earlier step made while this step's fault (a blackhole
/// route its hidden setup added) is still in the lab, and presses `f`: the earlier step and
/// the setup are performed again, and the setup's line fails with "File exists", because the
/// fault is there. That is no failed setup: the student's mend of the fault then ticks the
/// step. Before, learn said the setup failed and "nothing here is mended by you yet", and the
/// step could not be passed (found by a fresh-eyes student).
#[test]
fn f_with_the_fault_still_there_keeps_it() {
    let (dir, file) = scratch_lesson(
        "fault-there",
        "there",
        "+++\nid = \"there\"\ntitle = \"A fault still there\"\nformat = 1\n+++\n\n\
         ## A lab\n\n```sh\nip netns add a\nip netns add b\n\
         ip link add a0 netns a type veth peer name b0 netns b\n\
         ip -n a link set a0 up\nip -n b link set b0 up\nip -n b link set lo up\n\
         ip -n a address add 10.9.1.1/24 dev a0\nip -n b address add 10.9.1.2/24 dev b0\n\
         ip -n b address add 10.9.2.2/32 dev lo\nip -n a route add 10.9.2.0/24 via 10.9.1.2\n```\n\n\
         ## A fault\n\n```setup\nip -n a route add blackhole 10.9.2.2/32\n```\n\n\
         Mend it.\n\n```solution\nip -n a route del blackhole 10.9.2.2/32\n```\n\n\
         ```check\nping 10.9.2.2 from a\n```\n",
    );
    let t = Tmux::start_keeping(
        "fault-there",
        &format!("nslab learn {}", file.display()),
        &[dir.as_path()],
    );
    t.wait_for(0, "Step 1 of 2", Duration::from_secs(10));
    t.press("d");
    t.press("y");
    t.wait_for(0, "Step 2 of 2", Duration::from_secs(10));
    // The wrong route goes: the one step 1 made.
    t.type_line("ip -n a route del 10.9.2.0/24 via 10.9.1.2");
    t.wait_words("press f to rebuild it", Duration::from_secs(10));
    t.press("f");
    t.wait_for(0, "Perform step 1 again", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "this step's setup again", Duration::from_secs(20));
    let s = t.visible();
    assert!(!s.contains("setup failed"), "{s}");
    // The fault is there, and the student mends it.
    t.type_line("ip -n a route del blackhole 10.9.2.2/32");
    t.wait_words("Step 2 ✓ verified", Duration::from_secs(10));
    let s = t.visible();
    assert!(!s.contains("nothing here is mended"), "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The student starts netns-demo, quits at the step that stops it, and resumes: the program
/// an earlier session saw start is still the student's (before, only processes younger than
/// the new session counted, and the step "Watch the namespace die" ticked at once, with the
/// program still running). Stopping it ticks the step.
#[test]
fn a_resume_still_sees_the_students_own_process() {
    let l = lesson("01-namespaces.md");
    let start = l
        .steps
        .iter()
        .find(|s| s.title == "Start a process in a new network namespace")
        .unwrap()
        .index;
    let die = start + 1;
    let n = l.steps.len();
    let t = Tmux::start(
        "resume-proc",
        &format!("nslab learn namespaces --step {start}"),
    );
    t.wait_for(0, &format!("Step {start} of {n}"), Duration::from_secs(10));
    for c in &l.steps[start - 1].commands {
        t.type_line(&c.text);
    }
    t.wait_for(0, &format!("Step {die} of {n}"), Duration::from_secs(15));
    t.press("q");
    t.wait_for(0, "EXIT=", Duration::from_secs(5));
    t.learn_again();
    t.wait_for(0, &format!("Step {die} of {n}"), Duration::from_secs(10));
    t.never_shows(0, &format!("Step {die} ✓"), Duration::from_secs(2));
    t.never_shows(0, &format!("Step {die} ↷"), Duration::from_secs(1));
    let s = t.visible();
    assert!(s.contains(&format!("Step {die} of {n}")), "{s}");
    t.type_line("pkill -P $(cat /tmp/netns-demo.pid)");
    t.wait_words(&format!("Step {die} ✓ verified"), Duration::from_secs(10));
}

/// A step whose only check is a shell check names no namespace of the lab: with one that an
/// earlier step made deleted, `f` names it and rebuilds from the step that made it. Before, it
/// said "Nothing an earlier step made is missing." (found by a fresh-eyes student).
#[test]
fn f_finds_a_namespace_no_check_names() {
    let (dir, file) = scratch_lesson(
        "fgone",
        "fgone",
        "+++\nid = \"fgone\"\ntitle = \"Two namespaces\"\nformat = 1\n+++\n\n\
         ## Two namespaces\n\n```sh\nip netns add gw\nip netns add cli\n```\n\n\
         ## Loopback up\n\n```sh\nip -n cli link set lo up\n```\n\n\
         ```check\nsh in cli (lo is up): ip link show lo | grep -q LOWER_UP\n```\n",
    );
    let t = Tmux::start_keeping(
        "fgone",
        &format!("nslab learn {}", file.display()),
        &[dir.as_path()],
    );
    t.wait_for(0, "Step 1 of 2", Duration::from_secs(10));
    t.type_line("ip netns add gw; ip netns add cli");
    t.wait_for(0, "Step 2 of 2", Duration::from_secs(10));
    assert_eq!(t.answer("ip netns del gw; echo $?"), "0");
    t.press("f");
    t.wait_words(
        "Namespace gw, made in step 1, is gone.",
        Duration::from_secs(5),
    );
    t.wait_for(0, "Perform step 1 again", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "nslab performed", Duration::from_secs(10));
    assert_eq!(t.answer("ls /run/netns | sort | tr '\\n' ' '"), "cli gw");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A namespace the step's own hidden setup made, deleted, with no failing check that names
/// it: `f` names it and sets the step up again, as docs/learn.md says `f` does for what the
/// step's hidden setup made. It said "Nothing to rebuild: every namespace the earlier steps
/// made is there", and offered nothing.
#[test]
fn f_finds_a_namespace_the_steps_own_setup_made() {
    let (dir, file) = scratch_lesson(
        "fsetup",
        "fsetup",
        "+++\nid = \"fsetup\"\ntitle = \"A stray namespace\"\nformat = 1\n+++\n\n\
         ## A gateway\n\n```sh\nip netns add gw\n```\n\n\
         ## Loopback up\n\n```setup\nip netns add stray\n```\n\n\
         ```sh\nip -n gw link set lo up\n```\n\n\
         ```check\nsh in gw (lo is up): ip link show lo | grep -q LOWER_UP\n```\n",
    );
    let t = Tmux::start_keeping(
        "fsetup",
        &format!("nslab learn {}", file.display()),
        &[dir.as_path()],
    );
    t.wait_for(0, "Step 1 of 2", Duration::from_secs(10));
    t.type_line("ip netns add gw");
    t.wait_for(0, "Step 2 of 2", Duration::from_secs(10));
    assert_eq!(t.answer("ip netns del stray; echo $?"), "0");
    t.press("f");
    t.wait_words(
        "Namespace stray, made by this step's setup, is gone.",
        Duration::from_secs(5),
    );
    t.wait_for(0, "Perform this step's setup again", Duration::from_secs(5));
    t.press("y");
    t.wait_for(0, "nslab performed", Duration::from_secs(10));
    assert_eq!(t.answer("ls /run/netns | sort | tr '\\n' ' '"), "gw stray");
    let _ = std::fs::remove_dir_all(&dir);
}
