//! The shipped lessons as a student meets them, on a machine they must leave as they found it.
//!
//! - Every lesson typed line by line in one plain bash session, in a sandbox (its own network,
//!   mount and pid namespaces; /run/netns and /tmp its own): the root namespace before and
//!   after each lesson must be the same (links, addresses, routes, rules, neighbours, net.*
//!   sysctls, iptables and nftables, named namespaces, /tmp, mounts, processes).
//! - The lessons taken in another order in one sandbox, each typed and then verified where the
//!   others ran before it: what one lesson leaves behind breaks the next.
//! - Each challenge step passes with another student's way there, and fails with a wrong one.
//! - learn, end to end, for the container and troubleshooting lessons: a student in tmux who
//!   gets it wrong first, and sees the step tick only when the kernel is right.

mod common;
#[path = "common/student.rs"]
mod student;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use student::{
    STATE_FN, differences, lesson, lesson_files, sandboxed, states, text, typed, with_solution,
    wrong_statuses,
};

/// learn's words this file waits for, in one place: learn's screen is being reworked.
mod screen {
    /// The header's start: a long title wraps onto the next line of a narrow pane.
    pub fn step_shown(i: usize, n: usize, title: &str) -> String {
        let first_word = title.split_whitespace().next().unwrap_or("");
        format!("Step {i} of {n}: {first_word}")
    }
    pub fn step_verified(i: usize) -> String {
        format!("Step {i} ✓ verified")
    }
    pub const GO_ON: &str = "Press Enter to go on";
    pub const COMPLETE: &str = "Lesson complete";
    pub fn summary(n: usize) -> String {
        format!("{n} of {n} steps verified")
    }
}

/// Types every lesson of lessons/, in one bash session in one sandbox, and compares the root
/// namespace before and after each.
#[test]
fn typed_lessons_leave_the_root_namespace_as_they_found_it() {
    let files = lesson_files();
    assert!(files.len() >= 6, "lessons/ holds {files:?}");
    let mut script = String::from(STATE_FN);
    for (i, f) in files.iter().enumerate() {
        let l = lesson(f);
        script.push_str(&format!("nslab_state 'before {i}'\n"));
        script.push_str(&typed(&l, &i.to_string()));
        script.push_str(&format!("nslab_state 'after {i}'\n"));
    }
    let out = sandboxed(&script)
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs");
    let all = text(&out);
    let pictures = states(&String::from_utf8_lossy(&out.stdout));
    let mut failures = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let l = lesson(f);
        let wrong = wrong_statuses(&l, &i.to_string(), &all);
        if !wrong.is_empty() {
            failures.push(format!("{f}: {wrong:#?}"));
        }
        let (Some(before), Some(after)) = (
            pictures.get(&format!("before {i}")),
            pictures.get(&format!("after {i}")),
        ) else {
            failures.push(format!("{f}: no picture of the root namespace"));
            continue;
        };
        // The picture is worth something: it holds the root namespace's lo and its sysctls.
        assert!(
            before["link"].contains("\"lo\"") && before["sysctl"].contains("net.ipv4.ip_forward"),
            "{before:?}"
        );
        let diff = differences(before, after);
        if !diff.is_empty() {
            failures.push(format!("{f} left the root namespace changed: {diff:#?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\n{all}");
}

/// The picture of the root namespace sees what a lesson could leave behind: a sandbox that
/// leaves each kind of thing fails the comparison, one section at a time.
#[test]
fn the_root_namespace_picture_sees_what_is_left_behind() {
    let leaks = [
        ("netns", "ip netns add leftover"),
        ("link", "ip link add leak0 type veth peer name leak1"),
        ("sysctl", "sysctl -qw net.ipv4.ip_forward=1"),
        ("iptables", "iptables -t nat -A POSTROUTING -j MASQUERADE"),
        ("tmp", "touch /tmp/netns-demo.pid"),
        ("procs", "sleep 300 &"),
        ("route", "ip route add blackhole 10.99.0.0/16"),
    ];
    let mut script = String::from(STATE_FN);
    for (i, (_, leak)) in leaks.iter().enumerate() {
        script.push_str(&format!(
            "nslab_state 'before {i}'\n{leak}\nnslab_state 'after {i}'\n"
        ));
    }
    let out = sandboxed(&script).stdin(Stdio::null()).output().unwrap();
    let pictures = states(&String::from_utf8_lossy(&out.stdout));
    for (i, (section, leak)) in leaks.iter().enumerate() {
        let diff = differences(
            &pictures[&format!("before {i}")],
            &pictures[&format!("after {i}")],
        );
        assert!(
            diff.iter().any(|d| d.starts_with(&format!("[{section}]"))),
            "`{leak}` should show in [{section}]: {diff:?}\n{}",
            text(&out)
        );
    }
}

/// The lessons in another order, in one sandbox: each typed, then verified (without verify's
/// own jail) on what the lessons before it left.
#[test]
fn lessons_taken_in_another_order_still_verify() {
    let order = [
        "04-routing.md",
        "03-bridges.md",
        "02-veth.md",
        "06-troubleshooting.md",
        "01-namespaces.md",
        "05-container-networking.md",
    ];
    let mut script = String::from(STATE_FN);
    for (i, f) in order.iter().enumerate() {
        script.push_str(&typed(&lesson(f), &i.to_string()));
        script.push_str(&format!(
            "v=$(nslab verify --no-sandbox lessons/{f} 2>&1); rc=$?; [ $rc = 0 ] || echo \"$v\"; echo \"@@VERIFY {i} $rc\"\n"
        ));
    }
    script.push_str("nslab_state 'end'\n");
    let out = sandboxed(&script).stdin(Stdio::null()).output().unwrap();
    let all = text(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (i, f) in order.iter().enumerate() {
        let wrong = wrong_statuses(&lesson(f), &i.to_string(), &all);
        assert!(
            wrong.is_empty(),
            "{f}, typed after {:?}: {wrong:#?}\n{all}",
            &order[..i]
        );
        assert!(
            stdout.contains(&format!("@@VERIFY {i} 0")),
            "{f} does not verify after {:?}:\n{all}",
            &order[..i]
        );
    }
    let end = &states(&stdout)["end"];
    assert_eq!(end["netns"].trim(), "", "{all}");
}

/// One other way through a challenge, from tests/fixtures/student/challenges.txt.
struct Way {
    file: String,
    step: String,
    passes: bool,
    lines: Vec<String>,
}

fn ways() -> Vec<Way> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/student/challenges.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<Way> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            let (file, rest) = rest.split_once("] ").expect("[FILE] STEP: passes|fails");
            let (step, verdict) = rest.rsplit_once(": ").expect("STEP: passes|fails");
            assert!(["passes", "fails"].contains(&verdict), "{line}");
            out.push(Way {
                file: file.to_string(),
                step: step.to_string(),
                passes: verdict == "passes",
                lines: Vec::new(),
            });
            open = true;
        } else if line.trim().is_empty() {
            open = false;
        } else if open && !line.starts_with('#') {
            out.last_mut()
                .expect("a header first")
                .lines
                .push(line.to_string());
        }
    }
    out
}

/// Each challenge's checks judge the student's way there: another correct way passes the step,
/// a wrong one fails it.
#[test]
fn challenges_accept_other_ways_and_refuse_wrong_ones() {
    let ways = ways();
    // Every challenge of lessons 2 to 4 has another way that passes.
    for f in ["02-veth.md", "03-bridges.md", "04-routing.md"] {
        for s in lesson(f).steps.iter().filter(|s| s.challenge) {
            assert!(
                ways.iter()
                    .any(|w| w.file == f && w.step == s.title && w.passes),
                "no other way through '{}' of {f}",
                s.title
            );
        }
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nslab-student-ways-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (i, w) in ways.iter().enumerate() {
        assert!(!w.lines.is_empty(), "{} '{}': no lines", w.file, w.step);
        let (text, step) = with_solution(&w.file, &w.step, &w.lines);
        let file = dir.join(format!("way-{i}-{}", w.file));
        std::fs::write(&file, text).unwrap();
        // The whole lesson is verified, not `--step N`: the steps before it must settle as
        // they do for a student (a deleted namespace torn down, its veth peers gone), and
        // `--step` performs them without waiting for that.
        let out = common::nslab(&["verify", "--format", "json", file.to_str().unwrap()]);
        let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{} '{}': no report ({e}): {}",
                    w.file,
                    w.step,
                    student::text(&out)
                ));
                continue;
            }
        };
        let status = report["lessons"][0]["steps"][step - 1]["status"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let want = if w.passes { "passed" } else { "failed" };
        if status != want {
            failures.push(format!(
                "{} '{}' with {:?}: the step {status}, it should have {want}: {}",
                w.file,
                w.step,
                w.lines,
                report["lessons"][0]["steps"][step - 1]
            ));
        }
        // The steps before it are the lesson's own and pass: only this step is in question.
        for s in report["lessons"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .take(step - 1)
        {
            if s["status"] != "passed" {
                failures.push(format!(
                    "{} '{}': step {} {}",
                    w.file, w.step, s["index"], s["status"]
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// learn, typed by a student in tmux.

/// tmux in a sandbox: pane 0 runs `nslab learn LESSON`, pane 1 is the student's bash.
use tmux::Tmux;

impl Tmux {
    /// The student's session for one lesson: learn on the left, a shell on the right.
    fn start(name: &str, lesson_id: &str) -> Tmux {
        // Not under /tmp: the sandbox mounts a /tmp of its own over it.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nslab-student-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let sock = dir.join("sock");
        let nslab = env!("CARGO_BIN_EXE_nslab");
        let script = format!(
            "export HOME={home} LANG=C.UTF-8 NSLAB_TYPING_MS=0; \
             tmux -S {sock} -f /dev/null new-session -d -x 120 -y 50 -s t '{nslab} learn {lesson_id}; echo EXIT=$?; sleep 600'; \
             tmux -S {sock} split-window -t t -h 'bash --norc'; \
             while tmux -S {sock} has-session 2>/dev/null; do sleep 0.1; done",
            home = dir.join("home").display(),
            sock = sock.display(),
        );
        let child = sandboxed(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Tmux::new(dir, child);
        let start = Instant::now();
        while !sock.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tmux did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }
}

/// What the student does at one step: lines that must not tick it yet, then lines that do.
struct Attempt<'a> {
    wrong: &'a [&'a str],
    right: &'a [&'a str],
}

/// A student takes a lesson in learn. At the steps named in `attempts` they first type lines
/// that leave the goal unmet (the step must stay open), then their own right way; elsewhere
/// they type the lesson's lines.
fn take(file: &str, attempts: &[(usize, Attempt)]) {
    let l = lesson(file);
    let n = l.steps.len();
    let t = Tmux::start(&l.id, &l.id);
    for step in &l.steps {
        t.wait_for(
            0,
            &screen::step_shown(step.index, n, &step.title),
            Duration::from_secs(15),
        );
        match attempts.iter().find(|(i, _)| *i == step.index) {
            Some((_, a)) => {
                for line in a.wrong {
                    t.type_line(line);
                }
                t.never_shows(
                    0,
                    &screen::step_verified(step.index),
                    Duration::from_secs(2),
                );
                for line in a.right {
                    t.type_line(line);
                }
            }
            None => {
                for c in &step.commands {
                    t.type_line(&c.text);
                    if c.text.trim_end().ends_with('&') {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        }
        // A step that only looks, and a solved challenge's debrief, wait for Enter.
        if step.observes_only() || step.commands.is_empty() || !step.debrief().trim().is_empty() {
            t.wait_for(0, screen::GO_ON, Duration::from_secs(15));
            t.keys(0, &["Enter"]);
        }
        t.wait_for(
            0,
            &screen::step_verified(step.index),
            Duration::from_secs(15),
        );
    }
    let s = t.wait_for(0, screen::COMPLETE, Duration::from_secs(10));
    assert!(s.contains(&screen::summary(n)), "{s}");
    assert!(
        t.wait_for(0, "EXIT=", Duration::from_secs(5))
            .contains("EXIT=0")
    );
}

/// A student who opens the firewall too wide first, and publishes the port with its DNAT rule
/// alone first.
#[test]
fn learn_container_networking_with_a_student_who_errs_first() {
    let l = lesson("05-container-networking.md");
    let step = |title: &str| {
        l.steps
            .iter()
            .find(|s| s.title == title)
            .unwrap_or_else(|| panic!("no step '{title}'"))
            .index
    };
    take(
        "05-container-networking.md",
        &[
            (
                step("The second container, on your own"),
                Attempt {
                    // The container without its default route is not done.
                    wrong: &[
                        "ip netns add c2",
                        "ip link add vc2 type veth peer name eth0 netns c2",
                        "ip link set vc2 netns host",
                        "ip -n host link set vc2 master docker0 up",
                        "ip netns exec c2 ip link set lo up",
                        "ip netns exec c2 ip link set eth0 up",
                        "ip netns exec c2 ip addr add 172.17.0.3/16 dev eth0",
                    ],
                    right: &["ip netns exec c2 ip route add default via 172.17.0.1"],
                },
            ),
            (
                step("Open exactly what Docker opens"),
                Attempt {
                    wrong: &["ip netns exec host iptables -P FORWARD ACCEPT"],
                    right: &[
                        "ip netns exec host iptables -P FORWARD DROP",
                        "ip netns exec host iptables -A FORWARD -s 172.17.0.0/16 -j ACCEPT",
                        "ip netns exec host iptables -A FORWARD -d 172.17.0.0/16 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                    ],
                },
            ),
            (
                step("Publish the port"),
                Attempt {
                    wrong: &[
                        "ip netns exec host iptables -t nat -A PREROUTING -d 198.51.100.1 -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
                    ],
                    right: &[
                        "ip netns exec host iptables -I FORWARD -p tcp -d 172.17.0.2 --dport 80 -j ACCEPT",
                    ],
                },
            ),
        ],
    );
}

/// A student who mends the wrong thing first, and then mends each fault another way than the
/// lesson's solution.
#[test]
fn learn_troubleshooting_with_a_student_who_errs_first() {
    take(
        "06-troubleshooting.md",
        &[
            (
                2,
                Attempt {
                    wrong: &["ip -n left link set eth0 up"],
                    right: &["ip netns exec router ip link set dev left0 up"],
                },
            ),
            (
                3,
                Attempt {
                    wrong: &["ip -n right address add 10.0.2.2/24 dev eth0"],
                    right: &["ip -n right address del 10.0.2.2/8 dev eth0"],
                },
            ),
            (
                4,
                Attempt {
                    wrong: &["ip -n left route add 10.0.2.0/24 via 10.0.1.1"],
                    right: &["ip -n right route add 10.0.1.0/24 via 10.0.2.1"],
                },
            ),
            (
                5,
                Attempt {
                    wrong: &["ip netns exec left sysctl -w net.ipv4.ip_forward=1"],
                    right: &["ip netns exec router sysctl -w net.ipv4.conf.all.forwarding=1"],
                },
            ),
            (
                6,
                Attempt {
                    wrong: &["ip -n router link set eth0 netns right"],
                    right: &[
                        "ip -n right link set eth0 up",
                        "ip -n right address add 10.0.2.2/24 dev eth0",
                        "ip -n right route add default via 10.0.2.1",
                    ],
                },
            ),
        ],
    );
}

/// A student's ping that finds no route, from a namespace the same step made: learn sees it
/// (the namespace's counter of such attempts starts at 0; it was read only after the ping, and
/// the attempt was lost, so the step never ticked).
#[test]
fn learn_sees_a_failed_ping_from_a_namespace_made_in_the_step() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("newns-ping-{}.md", std::process::id()));
    std::fs::write(
        &file,
        "+++\nid = \"newns-ping\"\ntitle = \"A namespace with nowhere to go\"\nformat = 1\n+++\n\n\
         ## Nowhere to go\n\nMake a namespace and ping from it: no route leads anywhere.\n\n\
         ```sh\nip netns add lone2\nip netns exec lone2 ping -c 1 -W 1 10.9.9.9 # [fails]\n```\n\n\
         ## Clean up\n\n```sh\nip netns del lone2\n```\n",
    )
    .unwrap();
    let t = Tmux::start("newns-ping", file.to_str().unwrap());
    t.wait_for(
        0,
        &screen::step_shown(1, 2, "Nowhere"),
        Duration::from_secs(15),
    );
    t.type_line("ip netns add lone2");
    std::thread::sleep(Duration::from_millis(500));
    t.type_line("ip netns exec lone2 ping -c 1 -W 1 10.9.9.9");
    t.wait_for(0, &screen::step_verified(1), Duration::from_secs(10));
    let _ = std::fs::remove_file(&file);
}

/// A student who goes ahead: at "Create a veth pair" they make the pair with its ends already
/// in blue and red, as the next step ("Move one end into each namespace") leaves it. The pair
/// step can never hold now (its ends are not in the root namespace): learn says so, refuses to
/// perform the step (it would make a second pair in the root namespace), and Enter goes on,
/// the pair step skipped and the move step the student's.
#[test]
fn learn_lets_a_student_who_went_ahead_go_on() {
    let l = lesson("02-veth.md");
    let n = l.steps.len();
    let title = |i: usize| l.steps[i - 1].title.clone();
    assert_eq!(title(3), "Create a veth pair");
    assert_eq!(title(4), "Move one end into each namespace");
    let t = Tmux::start("ahead", &l.id);
    for i in 1..=2 {
        t.wait_for(
            0,
            &screen::step_shown(i, n, &title(i)),
            Duration::from_secs(15),
        );
        for c in &l.steps[i - 1].commands {
            t.type_line(&c.text);
        }
        if l.steps[i - 1].observes_only() {
            t.wait_for(0, screen::GO_ON, Duration::from_secs(15));
            t.keys(0, &["Enter"]);
        }
        t.wait_for(0, &screen::step_verified(i), Duration::from_secs(15));
    }
    t.wait_for(
        0,
        &screen::step_shown(3, n, &title(3)),
        Duration::from_secs(15),
    );
    t.type_line("ip link add veth0 netns blue type veth peer name veth1 netns red");
    t.wait_for(
        0,
        "Step 4's checks hold already: you seem to have gone ahead",
        Duration::from_secs(10),
    );
    // `d` then `y`: before, the confirmation's yes made a second pair in the root namespace.
    t.keys(0, &["d"]);
    t.wait_for(
        0,
        "Not done: step 4's checks hold already",
        Duration::from_secs(5),
    );
    t.keys(0, &["y"]);
    // A `y` that confirms nothing is a letter typed by mistake, which waits for the end of its
    // line (1.5 s of silence) before Enter means Enter again.
    t.wait_for(0, "'y' is not a key here", Duration::from_secs(5));
    t.type_line("echo ROOT-VETHS=$(ip -o link show type veth | wc -l)");
    t.wait_for(1, "ROOT-VETHS=0", Duration::from_secs(5));
    t.keys(0, &["Enter"]);
    let s = t.wait_for(0, &screen::step_verified(4), Duration::from_secs(10));
    assert!(s.contains("Step 3 ↷ skipped"), "{s}");
    t.wait_for(
        0,
        &screen::step_shown(5, n, &title(5)),
        Duration::from_secs(10),
    );
}

/// Two steps ahead: while the first step is shown, the student makes blue and red and the pair
/// straight into them. The namespaces step ticks as theirs; then at "Create a veth pair" the
/// move step held from the moment it was shown. Before, learn looked for going ahead only when
/// the next step turned true on screen: the pair step was stuck, and its hint said to put the
/// ends back into the root namespace.
#[test]
fn learn_sees_a_student_two_steps_ahead() {
    let l = lesson("02-veth.md");
    let n = l.steps.len();
    let title = |i: usize| l.steps[i - 1].title.clone();
    assert_eq!(title(3), "Create a veth pair");
    assert_eq!(title(4), "Move one end into each namespace");
    let t = Tmux::start("two-ahead", &l.id);
    t.wait_for(
        0,
        &screen::step_shown(1, n, &title(1)),
        Duration::from_secs(15),
    );
    t.type_line("ip netns add blue");
    t.type_line("ip netns add red");
    t.type_line("ip link add veth0 netns blue type veth peer name veth1 netns red");
    t.wait_for(
        0,
        "Step 2's checks hold already: you seem to have gone ahead",
        Duration::from_secs(10),
    );
    t.keys(0, &["Enter"]);
    t.wait_for(0, &screen::step_verified(2), Duration::from_secs(10));
    t.wait_for(
        0,
        &screen::step_shown(3, n, &title(3)),
        Duration::from_secs(10),
    );
    t.wait_for(
        0,
        "Step 4's checks hold already: you seem to have gone ahead",
        Duration::from_secs(10),
    );
    // The hint of what nslab sees never says to move the ends back.
    t.keys(0, &["h"]);
    std::thread::sleep(Duration::from_millis(400));
    t.keys(0, &["h"]);
    let s = t.wait_for(0, "expected:", Duration::from_secs(5));
    assert!(!s.contains("Try:") && !s.contains("netns 1"), "{s}");
    t.keys(0, &["Enter"]);
    let s = t.wait_for(0, &screen::step_verified(4), Duration::from_secs(10));
    assert!(s.contains("Step 3 ↷ skipped"), "{s}");
    t.wait_for(
        0,
        &screen::step_shown(5, n, &title(5)),
        Duration::from_secs(10),
    );
}

/// The ping of "Ping red from blue" typed in red: the step says the echo requests went from red
/// and to ping from blue, where before it said only "0 echo requests to 10.1.0.3 from blue".
/// What nslab saw, it saw with its packet sockets: it sent nothing to find out.
#[test]
fn learn_names_the_namespace_a_ping_came_from() {
    let l = lesson("02-veth.md");
    let n = l.steps.len();
    let i = l
        .steps
        .iter()
        .find(|s| s.title == "Ping red from blue")
        .expect("the veth lesson pings red from blue")
        .index;
    let t = Tmux::start("wrong-ns-ping", &format!("{} --step {i}", l.id));
    t.wait_for(
        0,
        &screen::step_shown(i, n, "Ping"),
        Duration::from_secs(20),
    );
    t.type_line("ip netns exec red ping -c 2 -i 0.2 10.1.0.3");
    // learn wraps its words to the pane: compared with the lines joined.
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = Instant::now();
    let said = "2 from red went to 10.1.0.3. The echo requests to 10.1.0.3 went from red, not from blue: ping from blue (with `ip netns exec blue` before it)";
    loop {
        let s = t.screen(0);
        if flat(&s).contains(said) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{said:?} not shown:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.type_line("ip netns exec blue ping -c 2 -i 0.2 10.1.0.3");
    t.wait_for(0, &screen::step_verified(i), Duration::from_secs(10));
}

/// `d` at "Delete blue": the step's namespace goes, and its veth pair with it, at once. Before,
/// learn's own watcher held a socket in blue, which kept blue's network namespace (and the
/// pair) alive, and `d` waited the 10 s bound of a teardown that could not come.
#[test]
fn learn_performs_a_namespace_deletion_without_waiting_on_itself() {
    let l = lesson("02-veth.md");
    let n = l.steps.len();
    let i = l
        .steps
        .iter()
        .find(|s| s.title == "Delete blue")
        .expect("the veth lesson deletes blue")
        .index;
    let t = Tmux::start("d-delete", &format!("{} --step {i}", l.id));
    t.wait_for(
        0,
        &screen::step_shown(i, n, "Delete"),
        Duration::from_secs(20),
    );
    t.keys(0, &["d"]);
    t.wait_for(0, "Let nslab perform", Duration::from_secs(5));
    t.keys(0, &["y"]);
    // Well under the 10 s bound of the wait it used to reach.
    t.wait_for(0, &format!("Step {i} ▶ performed"), Duration::from_secs(5));
}

/// A student who made `blue` before the lesson and chose to go on: the first step wants blue
/// absent, and its hint no longer tells them to delete their own namespace.
#[test]
fn learn_never_hints_at_removing_what_was_there_before() {
    let l = lesson("02-veth.md");
    let n = l.steps.len();
    let nslab = env!("CARGO_BIN_EXE_nslab");
    let t = Tmux::start(
        "taken",
        &format!(
            "--help > /dev/null; ip netns add blue; {nslab} learn {}",
            l.id
        ),
    );
    t.wait_for(0, "Go on anyway?", Duration::from_secs(20));
    t.keys(0, &["y", "Enter"]);
    t.wait_for(
        0,
        &screen::step_shown(1, n, &l.steps[0].title),
        Duration::from_secs(15),
    );
    t.keys(0, &["h"]);
    std::thread::sleep(Duration::from_millis(400));
    t.keys(0, &["h"]);
    let s = t.wait_for(
        0,
        "netns blue was there before this lesson began",
        Duration::from_secs(10),
    );
    assert!(!s.contains("Try: ip netns del blue"), "{s}");
}

/// Going ahead is told only where the next step holds for what this step is about: a student
/// at "make the pair" who deletes old0 (the next step's work) is not told they went ahead,
/// and Enter does not skip the pair they have not made.
#[test]
fn learn_does_not_call_unrelated_work_going_ahead() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("ahead-unrelated-{}.md", std::process::id()));
    std::fs::write(
        &file,
        "+++\nid = \"ahead-unrelated\"\ntitle = \"Old and new\"\nformat = 1\n+++\n\n\
         ## An old pair\n\n```sh\nip netns add blue\nip link add old0 type veth peer name old1\n```\n\n\
         ## A new pair\n\n```sh\nip link add veth0 type veth peer name veth1\n```\n\n\
         ```check\nlink veth0 peer veth1 in root\n```\n\n\
         ## Away with the old one\n\n```sh\nip link del old0\n```\n\n\
         ```check\nlink old0 absent\nlink old1 absent\n```\n\n\
         ## Clean up\n\n```sh\nip link del veth0\nip netns del blue\n```\n",
    )
    .unwrap();
    let t = Tmux::start("ahead-unrelated", file.to_str().unwrap());
    t.wait_for(0, &screen::step_shown(1, 4, "An"), Duration::from_secs(15));
    t.type_line("ip netns add blue");
    t.type_line("ip link add old0 type veth peer name old1");
    t.wait_for(
        0,
        &screen::step_shown(2, 4, "A new"),
        Duration::from_secs(15),
    );
    t.type_line("ip link del old0");
    t.never_shows(0, "you seem to have gone ahead", Duration::from_secs(2));
    t.type_line("ip link add veth0 type veth peer name veth1");
    t.wait_for(0, &screen::step_verified(2), Duration::from_secs(10));
    let _ = std::fs::remove_file(&file);
}

/// Two steps about links of one name in different namespaces (an `eth0` in left, another in
/// right, as in the routing lesson) are not one step done ahead: a student helper doing step
/// 4's commands at step 3 was told they had gone ahead, and Enter skipped step 3's work.
#[test]
fn learn_tells_two_eth0s_apart_going_ahead() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("ahead-two-eth0-{}.md", std::process::id()));
    std::fs::write(
        &file,
        "+++\nid = \"ahead-two-eth0\"\ntitle = \"Two cables\"\nformat = 1\n+++\n\n\
         ## Two cables\n\n```sh\nip netns add left\nip netns add right\n\
         ip -n left link add eth0 type veth peer name l0\nip -n right link add eth0 type veth peer name r0\n```\n\n\
         ## Up on the left\n\n```sh\nip -n left link set eth0 up\n```\n\n\
         ```check\nlink eth0 in left is up\n```\n\n\
         ## Up on the right\n\n```sh\nip -n right link set eth0 up\n```\n\n\
         ```check\nlink eth0 in right is up\n```\n\n\
         ## Clean up\n\n```sh\nip netns del left\nip netns del right\n```\n",
    )
    .unwrap();
    let t = Tmux::start("ahead-two-eth0", file.to_str().unwrap());
    t.wait_for(0, &screen::step_shown(1, 4, "Two"), Duration::from_secs(15));
    t.type_line("ip netns add left");
    t.type_line("ip netns add right");
    t.type_line("ip -n left link add eth0 type veth peer name l0");
    t.type_line("ip -n right link add eth0 type veth peer name r0");
    t.wait_for(0, &screen::step_shown(2, 4, "Up"), Duration::from_secs(15));
    t.type_line("ip -n right link set eth0 up");
    t.never_shows(0, "you seem to have gone ahead", Duration::from_secs(2));
    t.type_line("ip -n left link set eth0 up");
    t.wait_for(0, &screen::step_verified(2), Duration::from_secs(10));
    let _ = std::fs::remove_file(&file);
}
