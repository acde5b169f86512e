//! `nslab verify` end to end through the built binary, in its sandbox, against fixture lessons.
//! Each test also proves that the host was not touched.

mod common;

use std::process::Output;

use common::{host_state, is_root, nslab, step_statuses};

/// A test's own folder of lesson files, removed when the test ends, also when it fails.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nslab-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to the file `name` in the folder, and gives its path.
    fn lesson(&self, name: &str, text: &str) -> String {
        let file = self.0.join(name);
        std::fs::write(&file, text).unwrap();
        file.to_str().unwrap().to_string()
    }

    /// Writes the lesson `id` (its front matter, then `body`) to `ID.md`, and gives its path.
    fn lab(&self, id: &str, body: &str) -> String {
        let text = format!("+++\nid = \"{id}\"\ntitle = \"{id}\"\nformat = 1\n+++\n\n{body}");
        self.lesson(&format!("{id}.md"), &text)
    }
}

/// `nslab verify` passes the lesson `file`, `times` times in a row (a wait that depends on the
/// kernel's timing is judged more than once).
fn passes(file: &str, times: usize) {
    for _ in 0..times {
        let out = nslab(&["verify", "--format", "json", file]);
        let r = json(&out);
        assert_eq!(out.status.code(), Some(0), "{r}");
        assert_eq!(r["passed"], true, "{r}");
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The report of a run that must have passed (exit 0; else its standard error says why).
fn ok_json(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

/// The checks of step `step` (0-based) of a JSON report's first lesson, as it says them.
fn step_checks(report: &serde_json::Value, step: usize) -> Vec<String> {
    report["lessons"][0]["steps"][step]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies `file` and returns check `check` of step `step` (both counted from 0) with its
/// message: the check failed, and verify with it (exit 1).
fn failed_check(file: &str, step: usize, check: usize) -> (serde_json::Value, String) {
    let out = nslab(&["verify", "--format", "json", file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let c = r["lessons"][0]["steps"][step]["checks"][check].clone();
    assert_eq!(c["status"], "failed", "{r}");
    let message = c["message"].as_str().unwrap_or_default().to_string();
    (c, message)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_good_lesson_passes_and_reports_every_field() {
    let before = host_state();
    let out = nslab(&["verify", "--format", "json", "tests/fixtures/pass.md"]);
    let r = ok_json(&out);
    assert_eq!(r["passed"], true);
    let l = &r["lessons"][0];
    assert_eq!(l["id"], "fixture-pass");
    assert_eq!(l["file"], "tests/fixtures/pass.md");
    assert_eq!(l["passed"], true);
    let steps = l["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    // It cleans up after itself: nothing left in the root namespace.
    assert_eq!(l["leftovers"], serde_json::json!([]));
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["index"], i + 1);
        assert_eq!(s["status"], "passed", "{s}");
        assert!(s["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(s["title"].is_string());
        for c in s["checks"].as_array().unwrap() {
            assert_eq!(c["status"], "passed");
            assert!(c["check"].is_string() && c["message"].is_string());
        }
    }
    // Derived checks: step 1 had no check block.
    assert_eq!(steps[0]["checks"][0]["check"], "netns a exists");
    // A ping line derives an action check: the ping was sent, and answered.
    assert_eq!(steps[3]["checks"][0]["check"], "pinged 10.9.0.2 from a");
    assert_eq!(host_state(), before, "the host changed");
}

#[test]
fn a_missing_command_fails_at_its_step_and_says_why() {
    let before = host_state();
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "tests/fixtures/missing-command.md",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["passed"], false);
    let steps = r["lessons"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "passed");
    assert_eq!(steps[1]["status"], "failed");
    assert_eq!(steps[2]["status"], "skipped");
    let failed: Vec<&serde_json::Value> = steps[1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["check"], "addr 10.9.0.1/8 on lo in a");
    let msg = failed[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("lo has 127.0.0.1/8")
            && msg.contains("Try: ip -n a address add 10.9.0.1/8 dev lo"),
        "{msg}"
    );
    assert_eq!(host_state(), before, "the host changed");
}

#[test]
fn a_check_true_before_its_step_is_a_defect() {
    let out = nslab(&["verify", "--format", "json", "tests/fixtures/defect.md"]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    let step = &r["lessons"][0]["steps"][0];
    assert_eq!(step["status"], "defect");
    let checks = step["checks"].as_array().unwrap();
    assert_eq!(checks[0]["status"], "passed");
    assert_eq!(checks[1]["check"], "link lo is up");
    assert_eq!(checks[1]["status"], "defect");
    assert!(
        step["failure"]
            .as_str()
            .unwrap()
            .contains("'link lo is up' was already true before the step")
    );
}

#[test]
fn the_human_summary_explains_each_failure_once() {
    let out = nslab(&[
        "verify",
        "tests/fixtures/missing-command.md",
        "tests/fixtures/defect.md",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    // The failed check: the check, what was expected, what the kernel had, what to try.
    assert_eq!(count("addr 10.9.0.1/8 on lo in a"), 1, "{text}");
    assert!(text.contains(
        "check failed: addr 10.9.0.1/8 on lo in a: expected: 10.9.0.1/8 is on lo in a; found: lo has 127.0.0.1/8. Try: ip -n a address add 10.9.0.1/8 dev lo"
    ));
    // The defect: named once, then what the kernel had before the step.
    assert_eq!(count("'link lo is up'"), 1, "{text}");
    assert_eq!(
        count("already true before the step: lo in the root namespace is up"),
        1,
        "{text}"
    );
    assert!(text.contains("0 of 2 lesson(s) passed"));
}

#[test]
fn a_malformed_lesson_exits_2_and_performs_nothing() {
    let before = host_state();
    let out = nslab(&["verify", "tests/malformed/12-veth-peer-without-keyword.md"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("12-veth-peer-without-keyword.md:9:29: error: ip refuses this line")
    );
    assert_eq!(host_state(), before);
}

#[test]
fn junit_has_a_test_case_per_step() {
    let dir = std::env::temp_dir().join(format!("nslab-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.xml");
    let out = nslab(&[
        "verify",
        "--format",
        "junit",
        "--output",
        file.to_str().unwrap(),
        "tests/fixtures/pass.md",
        "tests/fixtures/missing-command.md",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(xml.starts_with("<?xml"));
    assert_eq!(xml.matches("<testsuite ").count(), 2);
    assert_eq!(xml.matches("<testcase ").count(), 5 + 3);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert_eq!(xml.matches("<skipped/>").count(), 1);
    assert!(xml.contains("name=\"2. Give it an address\""));
    assert!(xml.contains("<testsuites name=\"nslab verify\" tests=\"8\" failures=\"1\">"));
}

#[test]
fn step_and_until_verify_part_of_a_lesson() {
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "--step",
        "3",
        "tests/fixtures/pass.md",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        step_statuses(&json(&out)),
        ["skipped", "skipped", "passed", "skipped", "skipped"]
    );
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "--until",
        "2",
        "tests/fixtures/pass.md",
    ]);
    assert_eq!(
        step_statuses(&json(&out)),
        ["passed", "passed", "skipped", "skipped", "skipped"]
    );
    // A step the lesson does not have is refused before anything runs: verifying none of its
    // steps must not pass.
    for (flag, n) in [("--step", "6"), ("--until", "0"), ("--step", "0")] {
        let out = nslab(&["verify", flag, n, "tests/fixtures/pass.md"]);
        assert_eq!(out.status.code(), Some(2), "{flag} {n}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{flag} {n}: lesson fixture-pass has steps 1 to 5")),
            "{err}"
        );
        assert!(!err.contains("step 1/5"), "it ran: {err}");
    }
}

#[test]
fn a_report_that_cannot_be_written_is_refused_before_the_work() {
    // The lesson's command leaves a mark: proof that it ran. The jail of `verify` lets nothing
    // out, so both runs use --no-sandbox, in a sandbox made for this test, with a /tmp of its
    // own where the mark goes.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-refused");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lesson = dir.join("mark.md");
    std::fs::write(
        &lesson,
        "+++\nid = \"mark\"\ntitle = \"Mark\"\nformat = 1\n+++\n\n## Mark\n\n```sh\n\
         ip netns add m\nip netns del m\necho ran | tee /tmp/mark\n```\n",
    )
    .unwrap();
    let report = dir.join("report.txt");
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
         mount -t tmpfs none /tmp && ip link set lo up || exit 99; export HOME=/tmp; \
         {nslab} verify --no-sandbox --output /nonexistent-dir/report.json {lesson}; \
         echo \"#REFUSED $? $(test -e /tmp/mark && echo ran)\"; \
         {nslab} verify --no-sandbox --output {report} {lesson}; \
         echo \"#WROTE $? $(test -e /tmp/mark && echo ran)\"",
        nslab = env!("CARGO_BIN_EXE_nslab"),
        lesson = lesson.display(),
        report = report.display(),
    );
    let out = sandboxed(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write /nonexistent-dir/report.json"),
        "{err}"
    );
    assert!(
        text.contains("#REFUSED 3 \n"),
        "the lesson ran before the report was refused, or the code is not 3: {text}{err}"
    );
    // The same run with a report it can write leaves the mark.
    assert!(text.contains("#WROTE 0 ran"), "{text}{err}");
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("1 of 1 lesson(s) passed")
    );
}

/// Runs a shell script in a fresh network, mount and pid namespace (and a user namespace
/// without root), from the repository root.
fn sandboxed(script: &str) -> Output {
    let mut args = vec!["--mount", "--net", "--pid", "--fork"];
    let root = is_root();
    if !root {
        args.push("--map-root-user");
    }
    std::process::Command::new("unshare")
        .args(&args)
        .args(["sh", "-c", script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn mutation_testing_finds_a_command_nothing_checks() {
    // In pass.md every line is checked (derived or written), the ping too: its action check
    // waits for it.
    let out = nslab(&["verify", "--mutate", "tests/fixtures/pass.md"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("mutation score: 100.0% (11 of 11 mutants killed)"),
        "{text}"
    );
    // A lesson whose check ignores one of its commands.
    let dir = std::env::temp_dir().join(format!("nslab-mut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lesson = dir.join("weak.md");
    std::fs::write(&lesson, "+++\nid = \"weak\"\ntitle = \"W\"\nformat = 1\n+++\n## S\n\n```sh\nip netns add a\nip -n a link set lo up\n```\n\n```check\nnetns a exists\n```\n\n## Clean up\n\n```sh\nip netns del a\n```\n").unwrap();
    let out = nslab(&["verify", "--mutate", lesson.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("weak.md:10: surviving mutant: without `ip -n a link set lo up` (step 1)"),
        "{text}"
    );
    assert!(
        text.contains("mutation score: 66.7% (2 of 3 mutants killed)"),
        "{text}"
    );
}

/// A lesson that fails as it is gets no mutants, and the reports say so: the JSON report lists
/// it under `refused`, JUnit has a test case in error for it, the other lessons' mutants are
/// still judged, and the run exits 1. An `--output` file is written, not left empty.
#[test]
fn a_lesson_that_fails_as_it_is_is_reported_refused_beside_the_others_mutants() {
    let s = Scratch::new("refused");
    let broken = s.lesson(
        "broken.md",
        "+++\nid = \"broken\"\ntitle = \"B\"\nformat = 1\n+++\n## S\n\n```sh\nip netns add a\n```\n\n```check\nlink lo in a is up\n```\n\n## Clean up\n\n```sh\nip netns del a\n```\n",
    );
    let out = nslab(&[
        "verify",
        "--mutate",
        "--format",
        "json",
        &broken,
        "tests/fixtures/pass.md",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["refused"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["refused"][0]["lesson"], "broken", "{r}");
    let why = r["refused"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("the lesson fails as it is (step 1: ") && why.contains("link lo in a is up"),
        "{why}"
    );
    let mutants = r["mutants"].as_array().unwrap();
    assert_eq!(mutants.len(), 11, "pass.md's mutants only: {r}");
    assert!(mutants.iter().all(|m| m["lesson"] == "fixture-pass"), "{r}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.md: the lesson fails as it is"));
    // The human report names it in its own text (a CI job may keep only that).
    let out = nslab(&["verify", "--mutate", &broken, "tests/fixtures/pass.md"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not mutated: ") && text.contains("broken.md: the lesson fails as it is"),
        "{text}"
    );
    let xml = s.0.join("report.xml");
    let out = nslab(&[
        "verify",
        "--mutate",
        "--format",
        "junit",
        "--output",
        xml.to_str().unwrap(),
        &broken,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(
        text.contains("tests=\"1\" failures=\"0\" errors=\"1\""),
        "{text}"
    );
    assert!(
        text.contains("<testcase classname=\"broken\" name=\"the lesson as it is\">"),
        "{text}"
    );
    assert!(
        text.contains("<error type=\"lesson fails as it is\""),
        "{text}"
    );
}

/// A lesson that ran out of `--timeout` under `--mutate` is told to take more time, not to run
/// plain verify first (which would pass it).
#[test]
fn a_lesson_out_of_time_under_mutate_is_told_to_take_more() {
    let s = Scratch::new("mutate-slow");
    let slow = s.lab(
        "slow",
        "## S\n\n```sh\nip netns add a\nsleep 1.5\nip -n a link set lo up\n```\n\n```check\nlink lo in a is up\n```\n\n## Clean up\n\n```sh\nip netns del a\n```\n",
    );
    let out = nslab(&[
        "verify",
        "--mutate",
        "--timeout",
        "1",
        "--format",
        "json",
        &slow,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    let why = r["refused"][0]["why"].as_str().unwrap_or_default();
    assert!(why.contains("ran out of time under --mutate"), "{r}");
    assert!(why.contains("give it more with --timeout"), "{r}");
    assert!(!why.contains("run `nslab verify"), "{r}");
}

#[test]
fn shipped_lessons_verify_and_score_100_percent() {
    let before = host_state();
    let out = nslab(&["verify", "--jobs", "2", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["lessons"].as_array().unwrap().len(), 6);
    let out = nslab(&["verify", "--jobs", "2", "--mutate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    // A lesson refused (it failed as it is) is said on standard error.
    let refused = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}\n{refused}");
    assert!(text.contains("mutation score: 100.0%"), "{text}");
    assert_eq!(host_state(), before, "the host changed");
}

#[test]
fn without_a_sandbox_verify_takes_back_what_it_made() {
    // --no-sandbox acts on the namespace it runs in; run it in one made for this test, and look
    // at what is left there afterwards. The lesson stops before its clean-up step (--until 4):
    // verify takes back what it made (its ledger is in a HOME of the sandbox's own /tmp).
    let script = format!(
        "set -e; mount --make-rprivate /; mount -t tmpfs none /run; mkdir /run/netns; ip link set lo up; \
         mount -t tmpfs none /tmp; export HOME=/tmp; \
         {} verify --no-sandbox --until 4 --format json tests/fixtures/pass.md; \
         echo '#LEFT'; ls -A /run/netns; ip -o link show | cut -d: -f2",
        env!("CARGO_BIN_EXE_nslab")
    );
    let mut args = vec!["--mount", "--net", "--pid", "--fork"];
    let root = is_root();
    if !root {
        args.push("--map-root-user");
    }
    let out = std::process::Command::new("unshare")
        .args(&args)
        .args(["sh", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (report, left) = text.split_once("#LEFT").unwrap();
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    assert_eq!(report["passed"], true);
    let left: Vec<&str> = left.split_whitespace().collect();
    // Namespaces a and b, and the veth pair in them, are gone; only loopback remains.
    assert_eq!(left, ["lo"], "left behind: {left:?}");
}

/// Each example lesson of docs/lesson-format.md (a ````markdown block), whole or a single step
/// given a front matter, verifies and every mutant of it is killed: the documentation cannot
/// drift from what nslab does.
#[test]
fn the_format_documents_examples_verify() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/lesson-format.md"
    ))
    .unwrap();
    let mut examples = Vec::new();
    let mut rest = doc.as_str();
    // Whole examples start at the beginning of a line (an indented one is a fragment of a list).
    while let Some(at) = rest.find("\n````markdown\n") {
        let body = &rest[at + 14..];
        let end = body.find("\n````").expect("an unclosed example");
        examples.push(body[..end + 1].to_string());
        rest = &body[end + 5..];
    }
    assert!(examples.len() >= 2, "found {} examples", examples.len());
    let dir = std::env::temp_dir().join(format!("nslab-doc-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, text) in examples.iter().enumerate() {
        let text = if text.starts_with("+++") {
            text.clone()
        } else {
            format!(
                "+++\nid = \"doc-example-{i}\"\ntitle = \"Example {i}\"\nformat = 1\n+++\n\n{text}"
            )
        };
        let file = dir.join(format!("example-{i}.md"));
        std::fs::write(&file, &text).unwrap();
        let out = nslab(&[
            "verify",
            "--mutate",
            "--format",
            "json",
            file.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "example {i}:\n{text}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(r["score"], 100.0, "example {i}: {r}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A challenge's hidden setup that fails is reported as the lesson's defect, at its line, and
/// the step's commands are not run on a lab that is not there.
#[test]
fn a_broken_setup_is_the_lessons_defect() {
    let before = host_state();
    let dir = std::env::temp_dir().join(format!("nslab-setup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.md");
    std::fs::write(
        &file,
        "+++\nid = \"broken-setup\"\ntitle = \"B\"\nformat = 1\n+++\n\n## Mend it\n\n```setup\nip netns add patient\nip -n patient link set eth9 up\n```\n\nBring lo up in patient.\n\n```solution\nip -n patient link set lo up\n```\n\n```check\nlink lo in patient is up\n```\n",
    )
    .unwrap();
    let out = nslab(&["verify", "--format", "json", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let step = &r["lessons"][0]["steps"][0];
    let cmds = step["commands"].as_array().unwrap();
    let setup = cmds
        .iter()
        .find(|c| c["line"] == 11)
        .expect("the setup line is reported");
    assert_eq!(setup["status"], "failed", "{step}");
    assert!(
        setup["error"].as_str().unwrap().contains("setup failed"),
        "{setup}"
    );
    let solution = cmds.iter().find(|c| c["line"] == 17).unwrap();
    assert_ne!(solution["status"], "passed", "{step}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(host_state(), before, "the host changed");
}

/// A lesson written the way tutorials write (abbreviations, link kinds and a shell line that
/// the real programs perform, a link created, moved and renamed in one step) lints, verifies
/// with the checks of each step's net effect, and every line of it is needed.
#[test]
fn a_lesson_written_like_a_tutorial_verifies() {
    let before = host_state();
    let out = nslab(&["lint", "--commands", "tests/fixtures/mixed.md"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(":24: acts     native: ip -n app link set app0 name eth0"),
        "{listing}"
    );
    assert!(
        listing.contains(":32: acts     real   (") && listing.contains("vxlan"),
        "{listing}"
    );
    assert!(listing.contains(":34: acts     real   ("), "{listing}");
    // A line that only looks is said to: --mutate does not leave it out.
    let out = nslab(&["lint", "--commands", "lessons/04-routing.md"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(":100: observes real   (") && listing.contains(":24: acts     native"),
        "{listing}"
    );

    let out = nslab(&["verify", "--format", "json", "tests/fixtures/mixed.md"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = json(&out);
    let checks = |i: usize| -> Vec<String> {
        r["lessons"][0]["steps"][i]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["check"].as_str().unwrap().to_string())
            .collect()
    };
    // Where the link ends up, under the name it ends up with.
    assert_eq!(
        checks(1),
        [
            "link host0 peer eth0 in app",
            "link host0 is up",
            "link eth0 in app is up"
        ]
    );
    assert!(checks(3).contains(&"pinged 10.20.0.1 from app".to_string()));
    // Deleting app takes host0 with its peer.
    assert!(
        checks(5).contains(&"link host0 absent".to_string()),
        "{:?}",
        checks(5)
    );

    let out = nslab(&[
        "verify",
        "--mutate",
        "--format",
        "json",
        "tests/fixtures/mixed.md",
    ]);
    let m = json(&out);
    assert_eq!(m["score"], 100.0, "{m}");
    assert_eq!(
        m["total"], 19,
        "every line but the observations is a mutant: {m}"
    );
    assert_eq!(host_state(), before, "the host changed");
}

/// A lesson that asks for root on the machine is never run in the jail, which would refuse it:
/// verify stops before anything runs (exit 3) and says how to verify it; lint says so too.
#[test]
fn a_lesson_asking_for_the_host_is_not_jailed() {
    let dir = std::env::temp_dir().join(format!("nslab-host-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("host.md");
    std::fs::write(
        &file,
        "+++\nid = \"swappy\"\ntitle = \"S\"\nformat = 1\nhost_root = true\n+++\n\n## Tune\n\n```sh\nsysctl -w vm.swappiness=10\n```\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = nslab(&["lint", f]);
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(":5:1: warning: this lesson asks for root on the machine"),
        "{said}"
    );
    let out = nslab(&["verify", f, "tests/fixtures/pass.md"]);
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("swappy") && said.contains("--no-sandbox"),
        "{said}"
    );
    assert!(out.stdout.is_empty(), "nothing was verified");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The host's policy rules and firewall, as their programs print them (counters left out).
fn host_rules() -> String {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "ip rule; ip -6 rule; iptables-save 2>/dev/null | grep -v '^#'; ip6tables-save 2>/dev/null | grep -v '^#'",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_kind_of_thing_a_lesson_leaves_in_the_root_namespace_is_named() {
    let before = (host_state(), host_rules());
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "tests/fixtures/leftovers/every-kind.md",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    let l = &r["lessons"][0];
    assert_eq!(step_statuses(&r), ["passed", "passed"], "{l}");
    assert_eq!(l["passed"], false);
    let said: Vec<&str> = l["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut expected = vec![
        // An IPv6 address, and the prefix route the kernel adds for it.
        "address 2001:db8::5/64 on lo",
        "route 2001:db8::/64 dev lo metric 256",
        // Every iptables table, both families, a chain and a policy, by their rules' text.
        "ip6tables -A INPUT -j DROP",
        "iptables -N LESSON",
        "iptables -P FORWARD DROP (before the lesson: ACCEPT)",
        "iptables -t mangle -A PREROUTING -j MARK --set-xmark 0x1/0xffffffff",
        "iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE",
        "iptables -t raw -A PREROUTING -j NOTRACK",
        // A permanent neighbour entry (the kernel keys every entry on lo as 0.0.0.0, and `ip
        // neigh` shows it so).
        "neigh 0.0.0.0 dev lo (lladdr 02:00:00:00:00:01 permanent)",
        // Routes of every table and both families, with their type, table and metric.
        "route 2001:db8:77::/48 dev lo metric 1024",
        "route blackhole 10.98.0.0/16 table 100",
        // Policy rules, both families.
        "rule -6 from 2001:db8:98::/48 lookup 200 pref 11",
        "rule from 10.99.0.0/24 lookup 100 pref 10",
        // A sysctl the lesson writes.
        "sysctl net.ipv4.conf.lo.rp_filter: 2 (before the lesson: 0)",
        // What `ip link set` and `ip link property` change on a link the lesson did not make.
        "link lo: loopback, up; mtu 1400, address 00:00:00:00:00:00, alias \"changed by a lesson\", altname lesson-lo (before the lesson: loopback, up; mtu 65536, address 00:00:00:00:00:00)",
    ];
    if std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok()
    {
        expected.extend([
            "nft chain inet lesson input (type filter hook input priority filter; policy accept;)",
            "nft rule inet lesson input tcp dport 9999 drop",
            "nft table inet lesson",
        ]);
    }
    for e in &expected {
        assert!(said.contains(e), "{e:?} is not in {said:#?}");
    }
    assert_eq!(said.len(), expected.len(), "{said:#?}");
    // A lesson that takes back each of those things leaves nothing.
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "tests/fixtures/leftovers/cleans-up.md",
    ]);
    let r = json(&out);
    assert_eq!(r["lessons"][0]["leftovers"], serde_json::json!([]), "{r}");
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!((host_state(), host_rules()), before, "the host changed");
}

/// A built-in lesson is verified by its id, or by the name reports give it, from anywhere.
#[test]
fn built_in_lessons_are_verified_by_id_or_name() {
    let out = nslab(&[
        "verify",
        "--format",
        "json",
        "veth-lab",
        "lessons/01-namespaces.md",
    ]);
    let r = ok_json(&out);
    let ids: Vec<&str> = r["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["veth-lab", "namespaces"]);
    let out = nslab(&["verify", "no-such-lesson"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The root namespace is compared once the kernel has finished what the lesson started: veth
/// ends whose peers' namespaces were deleted go with the teardown, after `ip netns del` has
/// returned, and are no leftovers of the lesson.
#[test]
fn a_teardown_in_progress_is_no_leftover() {
    let dir = std::env::temp_dir().join(format!("nslab-teardown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("star.md");
    let mut text = String::from(
        "+++\nid = \"teardown\"\ntitle = \"T\"\nformat = 1\n+++\n\n## Build\n\n```sh\n",
    );
    for i in 0..40 {
        text.push_str(&format!(
            "ip netns add t{i}\nip link add v{i} type veth peer name eth0 netns t{i}\n"
        ));
    }
    text.push_str("```\n\n## Clean up\n\n```sh\n");
    for i in 0..40 {
        text.push_str(&format!("ip netns del t{i}\n"));
    }
    // Only the namespaces are checked: their root ends vanish on the kernel's time.
    text.push_str("```\n\n```check\nnetns t0 absent\nnetns t39 absent\n```\n");
    std::fs::write(&file, text).unwrap();
    let out = nslab(&["verify", "--format", "json", file.to_str().unwrap()]);
    let r = json(&out);
    assert_eq!(r["passed"], true, "{r}");
    // A link really left behind is still seen.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("ip netns del t39\n", "");
    let text = text.replace("netns t39 absent\n", "");
    std::fs::write(&file, text).unwrap();
    let out = nslab(&["verify", "--format", "json", file.to_str().unwrap()]);
    let r = json(&out);
    assert_eq!(r["passed"], false, "{r}");
    assert!(r.to_string().contains("v39"), "{r}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A wrong network does not pass: with each address on both ends of the veth pair, every
/// address is "on" its link and every ping answers (each end answers itself), yet the veth
/// lab fails at its address step, where its checks say each address is on one end only.
#[test]
fn a_lab_with_each_address_on_both_ends_fails_at_the_address_step() {
    let lesson =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/02-veth.md"))
            .unwrap();
    let line = "ip -n red address add 10.1.0.3/24 dev veth1\n";
    assert!(
        lesson.contains(line),
        "the lesson changed: update this test"
    );
    let wrong = lesson.replacen(
        line,
        &format!(
            "{line}ip -n red address add 10.1.0.2/24 dev veth1\nip -n blue address add 10.1.0.3/24 dev veth0\n"
        ),
        1,
    );
    let scratch = Scratch::new("both-ends");
    let file = scratch.lesson("02-veth.md", &wrong);
    let out = nslab(&["verify", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    let steps = r["lessons"][0]["steps"].as_array().unwrap();
    let failed = steps.iter().find(|s| s["status"] != "passed").unwrap();
    assert_eq!(
        failed["title"], "Bring the interfaces up and give them addresses",
        "{r}"
    );
    assert!(
        failed["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "failed" && c["check"].as_str().unwrap().contains("only on")),
        "{failed}"
    );
}

/// The firewall is read only for a lesson that can change it; a line whose effects nslab cannot
/// read (here a rule fed to iptables-restore) can, and the rule it leaves is named.
#[test]
fn a_rule_left_by_a_line_nslab_cannot_read_is_named() {
    let scratch = Scratch::new("opaque-rule");
    let file = scratch.lesson(
        "opaque.md",
        "+++\nid = \"opaque-rule\"\ntitle = \"O\"\nformat = 1\n+++\n\n## Add a rule\n\n```sh\n\
         printf '*filter\\n-A INPUT -s 10.9.9.9 -j DROP\\nCOMMIT\\n' | iptables-restore --noflush\n\
         ```\n\n```check\n\
         sh (the rule is there): iptables -S INPUT | grep -q 10.9.9.9\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(
        r["lessons"][0]["leftovers"],
        serde_json::json!(["iptables -A INPUT -s 10.9.9.9/32 -j DROP"]),
        "{r}"
    );
}

/// A clean-up line of the last step that no check looks at is still tested by --mutate: the
/// mutant without it runs to the lesson's end, and what it leaves behind kills it.
#[test]
fn a_mutant_of_the_last_step_is_killed_by_what_it_leaves() {
    let f = "tests/fixtures/leftovers/end-sees-cleanup.md";
    let out = nslab(&["verify", "--mutate", "--format", "json", f]);
    let r = ok_json(&out);
    let cleanup = r["mutants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["step"] == 2)
        .unwrap();
    assert_eq!(cleanup["killed"], true, "{r}");
    assert!(
        cleanup["how"].as_str().unwrap().starts_with(
            "the lesson leaves the root namespace changed: iptables -A INPUT -s 10.9.9.9/32 -j DROP"
        ),
        "{r}"
    );
}

/// A failure is located: the human summary starts the failed step with FILE:LINE of the
/// command that failed or of the check the verdict rests on, and JSON checks carry their line.
#[test]
fn failures_say_where_they_are() {
    let scratch = Scratch::new("located");
    let text = "+++\nid = \"located\"\ntitle = \"L\"\nformat = 1\n+++\n\n## Make two\n\n```sh\n\
        ip netns add left\nip netns add right\n```\n\n## Up\n\n```sh\nip -n rihgt link set lo up\n```\n\n\
        ## Check\n\n```sh\nip -n left link set lo up\n```\n\n```check\nlink lo in right is up\n```\n";
    let f = scratch.lesson("typo.md", text);
    let f = f.as_str();
    let said = String::from_utf8_lossy(&nslab(&["verify", f]).stdout).into_owned();
    assert!(
        said.contains(&format!("  {f}:17: step 2 'Up': failed")),
        "{said}"
    );
    // Without the typo, the check of step 3 fails (right's lo stays down): its line is named.
    scratch.lesson("typo.md", &text.replace("rihgt", "left"));
    let out = nslab(&["verify", "--format", "json", f]);
    let r = json(&out);
    let step = &r["lessons"][0]["steps"][2];
    assert_eq!(step["checks"][0]["check"], "link lo in right is up", "{r}");
    assert_eq!(step["checks"][0]["line"], 27, "{r}");
    let said = String::from_utf8_lossy(&nslab(&["verify", f]).stdout).into_owned();
    assert!(
        said.contains(&format!("  {f}:27: step 3 'Check': ")),
        "{said}"
    );
}

/// A line nslab performs natively fails in the kernel's own words, as iproute2 prints them
/// (the extended ACK): the oracle is `ip` itself, refused the same line in a namespace of its own.
#[test]
fn a_native_line_fails_in_the_kernels_words() {
    let oracle = std::process::Command::new("unshare")
        .args([
            "-n",
            "ip",
            "route",
            "add",
            "10.6.0.0/24",
            "via",
            "10.1.1.1",
            "onlink",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&oracle.stderr);
    let words = said
        .trim()
        .strip_prefix("Error: ")
        .unwrap_or(&said)
        .trim_end_matches('.');
    assert!(!oracle.status.success() && !words.is_empty(), "{said}");
    let out = nslab(&["verify", "tests/fixtures/onlink-without-dev.md"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("route 10.6.0.0/24: {words}")),
        "ip says {words:?}; nslab: {text}"
    );
}

/// A mutant is decided by its first failure: the checks that answer at once are judged before
/// the ones that wait (a ping), which are not judged once one of those failed; after a failed
/// command, no check is judged at all.
#[test]
fn a_mutant_is_decided_by_its_first_failure() {
    let scratch = Scratch::new("first-failure");
    let text = "+++\nid = \"first\"\ntitle = \"F\"\nformat = 1\n+++\n\n## Two\n\n```sh\n\
        ip netns add fa\nip netns add fb\n```\n\n```check\nnetns fa exists\nnetns fb exists\n```\n\n\
        ## Cable\n\n```sh\nip link add va netns fa type veth peer name vb netns fb\n\
        ip -n fa link set va up\nip -n fb link set vb up\nip -n fa address add 10.8.0.1/24 dev va\n\
        ip -n fb address add 10.8.0.2/24 dev vb\n```\n\n```check\nping 10.8.0.2 from fa\n\
        link va in fa is up\n```\n\n## Clean up\n\n```sh\nip netns del fa\nip netns del fb\n```\n\n\
        ```check\nnetns fa absent\nnetns fb absent\n```\n";
    let f = scratch.lesson("first.md", text);
    let out = nslab(&["verify", "--mutate", "--format", "json", &f]);
    let r = ok_json(&out);
    let how = |command: &str| -> String {
        r["mutants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["command"] == command)
            .unwrap_or_else(|| panic!("no mutant of {command}: {r}"))["how"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Without `set va up`, both checks fail; the ping is listed first, but the link check,
    // which needs no reply, decides.
    let up = how("ip -n fa link set va up");
    assert!(up.starts_with("check failed: link va in fa is up"), "{up}");
    // Without the cable, the next line fails: that is the verdict.
    let cable = how("ip link add va netns fa type veth peer name vb netns fb");
    assert!(
        cable.starts_with("command failed: ip -n fa link set va up"),
        "{cable}"
    );
    // Only the ping can tell that an address is missing: it is judged when all else passes.
    let addr = how("ip -n fb address add 10.8.0.2/24 dev vb");
    assert!(
        addr.starts_with("check failed: ping 10.8.0.2 from fa"),
        "{addr}"
    );
}

/// `ip netns del` only removes a namespace's name: while a process runs in it, the kernel keeps
/// it and its links. A check about the veth peer then fails at once, naming the process; once
/// the process is gone, the teardown comes, and the check waits for it.
#[test]
fn a_namespace_a_process_keeps_names_the_process() {
    let scratch = Scratch::new("held");
    let lesson = |kill: &str| {
        format!(
            "+++\nid = \"held\"\ntitle = \"H\"\nformat = 1\n+++\n\n## A cable and a sleeper\n\n\
             ```sh\nip netns add app\nip link add host0 type veth peer name app0 netns app\n\
             ip netns exec app sleep 30 &\n```\n\n```check\nlink host0 peer app0 in app\n\
             process sleep in another netns\n```\n\n## Delete it\n\n```sh\n{kill}\
             ip netns del app\n```\n\n```check\nlink host0 absent\nnetns app absent\n```\n"
        )
    };
    let held = scratch.lesson("held.md", &lesson(""));
    let r = json(&nslab(&["verify", "--format", "json", &held]));
    assert_eq!(r["passed"], false, "{r}");
    let step = &r["lessons"][0]["steps"][1];
    assert_eq!(step["status"], "failed", "{r}");
    let message = step["checks"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("(sleep) still runs in it"),
        "the cause names the process: {message}"
    );
    // The namespace's name is gone all the same.
    assert_eq!(step["checks"][1]["status"], "passed", "{r}");
    // A failing check about something else is not given that cause.
    let other = lesson("").replace(
        "netns app absent\n",
        "netns app absent\naddr 10.9.9.9/32 on lo\n",
    );
    let r = json(&nslab(&[
        "verify",
        "--format",
        "json",
        &scratch.lesson("other.md", &other),
    ]));
    let addr = &r["lessons"][0]["steps"][1]["checks"][2];
    assert_eq!(addr["status"], "failed", "{r}");
    assert!(
        !addr["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stays because"),
        "{r}"
    );
    let freed = scratch.lesson("freed.md", &lesson("pkill -x sleep\n"));
    passes(&freed, 1);
    // The process killed in a later step, as a tutorial does: the namespace it kept goes then,
    // and its veth peer with it, some milliseconds after the kill.
    let later = lesson("").replace(
        "```check\nlink host0 absent\nnetns app absent\n```\n",
        "```check\nnetns app absent\n```\n\n## Stop the sleeper\n\n```sh\npkill -x sleep\n```\n\n\
         ```check\nlink host0 absent\n```\n",
    );
    let later = scratch.lesson("later.md", &later);
    passes(&later, 3);
}

/// `ip -all netns delete` deletes every named namespace, and `umount /run/netns/NAME` drops
/// what held one: the veth ends whose peers were in them vanish with the teardowns that follow,
/// and a check of that waits for them.
#[test]
fn deleting_namespaces_other_ways_waits_for_their_teardowns() {
    let scratch = Scratch::new("all-del");
    let file = scratch.lab(
        "all-del",
        "## Cables\n\n```sh\n\
         ip netns add red\nip netns add green\n\
         ip link add to-red type veth peer name eth0 netns red\n\
         ip link add to-green type veth peer name eth0 netns green\n```\n\n\
         ```check\nlink to-red peer eth0 in red\nlink to-green peer eth0 in green\n```\n\n\
         ## Delete them all\n\n```sh\nip -all netns delete\n```\n\n\
         ```check\nnetns red absent\nlink to-red absent\nlink to-green absent\n```\n",
    );
    let unmounted = scratch.lab(
        "umount",
        "## A cable\n\n```sh\n\
         ip netns add app\nip link add host0 type veth peer name app0 netns app\n```\n\n\
         ```check\nlink host0 peer app0 in app\n```\n\n## Unmount its name\n\n```sh\n\
         umount /run/netns/app\nrm /run/netns/app\n```\n\n```check\nnetns app absent\n\
         link host0 absent\n```\n",
    );
    for f in [&file, &unmounted] {
        passes(f, 3);
    }
}

/// IPv6 addresses added without `nodad` are tentative for a second or two (duplicate address
/// detection): a shell check that pings over IPv6 right after waits for that, and so does a
/// line that pings over IPv6, as a student typing a moment later would not notice it.
#[test]
fn a_shell_check_waits_for_duplicate_address_detection() {
    let scratch = Scratch::new("dad");
    let file = scratch.lab(
        "dad",
        "## IPv6 on a cable\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fd00:d::1/64 dev va\nip -n b address add fd00:d::2/64 dev vb\n```\n\n\
         ```check\naddr fd00:d::1/64 on va in a\n\
         sh in a (a reaches fd00:d::2 over IPv6): ping -6 -c 1 -W 1 fd00:d::2\n```\n\n\
         ## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n",
    );
    passes(&file, 1);
    // The address check passes while the address is tentative; a ping over IPv6 in the next
    // step then waits for the detection before it runs.
    let next = scratch.lab(
        "dad-next",
        "## IPv6 on a cable\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fd00:d::1/64 dev va\nip -n b address add fd00:d::2/64 dev vb\n```\n\n\
         ```check\naddr fd00:d::2/64 on vb in b\n```\n\n## Ping over IPv6\n\n```sh\n\
         ip netns exec a ping -6 -c 1 -W 1 fd00:d::2\n```\n\n## Clean up\n\n```sh\n\
         ip netns del a\nip netns del b\n```\n",
    );
    passes(&next, 1);
    // The check's own ping, judged before its step, left the address being resolved: packets
    // to it wait in that entry until the kernel gives up on it, and the check waits too.
    let resolving = scratch.lab(
        "dad-resolving",
        "## IPv6 on a cable\n\n\
         ```sh\nip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fd00:d::1/64 dev va nodad\nip -n b address add fd00:d::2/64 dev vb nodad\n\
         ```\n\n```check\naddr fd00:d::2/64 on vb in b\n```\n\n## A second address\n\n```sh\n\
         ip -n b address add fd00:d::22/64 dev vb\n```\n\n```check\n\
         sh in a (a reaches fd00:d::22): ping -6 -c 1 -W 1 fd00:d::22\n```\n\n## Clean up\n\n\
         ```sh\nip netns del a\nip netns del b\n```\n",
    );
    passes(&resolving, 1);
}

/// Two hosts of one link given the same IPv6 address: the second one's duplicate address
/// detection fails (`dadfailed` in `ip -j address`), and the kernel never uses it. Its check
/// fails and names the other holder; the first holder's check passes.
#[test]
fn an_ipv6_address_that_failed_duplicate_address_detection_fails_its_check() {
    let scratch = Scratch::new("dadfailed");
    let file = scratch.lab(
        "dadfailed",
        "## One address on both ends\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fd00:d::1/64 dev va nodad\nip -n b address add fd00:d::1/64 dev vb\n```\n\n\
         ```check\naddr fd00:d::1/64 on va in a\naddr fd00:d::1/64 on vb in b\n```\n\n\
         ## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let checks = &r["lessons"][0]["steps"][0]["checks"];
    assert_eq!(checks[0]["status"], "passed", "{r}");
    assert_eq!(checks[1]["status"], "failed", "{r}");
    let message = checks[1]["message"].as_str().unwrap_or_default();
    assert!(message.contains("dadfailed"), "{message}");
    assert!(message.contains("also on va in a"), "{message}");
    assert!(
        message.contains("the lesson puts it there too"),
        "{message}"
    );
}

/// A sysctl set one way and back in one step, its value before the step unknown to the
/// lesson: it may end where it began, so no check of it is held to the before-rule (verify
/// blamed the author: "already true before"), but its end is certain, and is checked (`=0`
/// then `=1` derived no check at all, and lint said the step undid what it did).
#[test]
fn a_sysctl_set_there_and_back_is_checked_as_it_ends() {
    let scratch = Scratch::new("sysctl-back");
    for (first, last) in [("1", "0"), ("0", "1")] {
        let file = scratch.lab(
            &format!("sysctl-back-{last}"),
            &format!(
                "## A router\n\n```sh\nip netns add r\nip -n r link set lo up\n```\n\n\
                 ## Forwarding set twice\n\n```sh\n\
                 ip netns exec r sysctl -w net.ipv4.ip_forward={first}\n\
                 ip netns exec r sysctl -w net.ipv4.ip_forward={last}\n```\n\n\
                 ## Clean up\n\n```sh\nip netns del r\n```\n"
            ),
        );
        let out = nslab(&["verify", "--format", "json", &file]);
        let r = json(&out);
        assert_eq!(out.status.code(), Some(0), "{r}");
        let step = &r["lessons"][0]["steps"][1];
        let want = format!("sysctl net.ipv4.ip_forward = {last} in r");
        let check = step["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == want.as_str())
            .unwrap_or_else(|| panic!("no check '{want}': {r}"));
        assert_eq!(check["status"], "passed", "{r}");
        let lint = nslab(&["lint", &file]);
        let said = String::from_utf8_lossy(&lint.stderr);
        assert!(!said.contains("nothing verifies step 2"), "{said}");
    }
    // Forwarding on before the step (by a line nslab does not read), then off and on again
    // under its two names: there and back too, and no defect.
    let file = scratch.lab(
        "sysctl-twin",
        "## A router\n\n```sh\nip netns add r\n\
         ip netns exec r python3 -c \"open('/proc/sys/net/ipv4/ip_forward', 'w').write('1')\"\n```\n\n\
         ```check\nnetns r exists\n```\n\n\
         ## Forwarding set twice\n\n```sh\n\
         ip netns exec r sysctl -w net.ipv4.ip_forward=0\n\
         ip netns exec r sysctl -w net.ipv4.conf.all.forwarding=1\n```\n\n\
         ## Clean up\n\n```sh\nip netns del r\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(
        step_checks(&r, 1),
        ["sysctl net.ipv4.conf.all.forwarding = 1 in r"],
        "{r}"
    );
}

/// A ping that finds no route because the sender's link, which has the address, was left
/// down: the check names the link and how to bring it up (before: only "no route").
#[test]
fn a_ping_with_no_route_names_the_link_left_down() {
    let scratch = Scratch::new("left-down");
    let file = scratch.lab(
        "left-down",
        "## A cable, one end down\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n b link set vb up\nip -n a address add 10.9.0.1/24 dev va\n\
         ip -n b address add 10.9.0.2/24 dev vb\n```\n\n\
         ```check\nping 10.9.0.2 from a\n```\n\n\
         ## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n",
    );
    let (_, message) = failed_check(&file, 0, 0);
    assert!(message.contains("va in a is down"), "{message}");
    assert!(message.contains("Try: ip -n a link set va up"), "{message}");
}

/// A link left down on another subnet is not why a ping has no route: the way to 10.5.0.2 is
/// no link's (no route there at all), and the spare link down is named neither as the cause
/// nor in the Try (it was: a fresh-eyes reviewer, whose `link set spare0 up` changed nothing).
#[test]
fn a_ping_with_no_route_does_not_blame_a_link_down_on_another_subnet() {
    let scratch = Scratch::new("spare-down");
    let file = scratch.lab(
        "spare-down",
        "## A spare link down\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add w0 netns a type veth peer name w1 netns b\n\
         ip link add spare0 netns a type veth peer name spare1 netns b\n\
         ip -n a link set w0 up\nip -n b link set w1 up\n\
         ip -n a address add 10.1.0.1/24 dev w0\nip -n b address add 10.1.0.2/24 dev w1\n\
         ip -n a address add 10.9.0.1/24 dev spare0\n```\n\n\
         ```check\nping 10.5.0.2 from a\n```\n\n\
         ## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let checks = r["lessons"][0]["steps"][0]["checks"].as_array().unwrap();
    let ping = checks
        .iter()
        .find(|c| c["check"] == "ping 10.5.0.2 from a")
        .unwrap_or_else(|| panic!("{r}"));
    let message = ping["message"].as_str().unwrap_or_default();
    assert!(message.contains("has no route to 10.5.0.2"), "{r}");
    assert!(!message.contains("spare0"), "{message}");
}

/// Two names (bind mounts in /run/netns) of one namespace are one namespace: a veth peer in it
/// is in either; and deleting one name leaves it alive, which the failing check then says.
#[test]
fn a_namespace_with_two_names_is_one_namespace() {
    let scratch = Scratch::new("alias");
    let file = scratch.lab(
        "alias",
        "## Two names\n\n```sh\n\
         ip netns add app\nip link add h-app type veth peer name eth0 netns app\n\
         touch /run/netns/alias\nmount --bind /run/netns/app /run/netns/alias\n```\n\n\
         ```check\nlink h-app peer eth0 in app\nlink h-app peer eth0 in alias\n```\n\n\
         ## Delete one name\n\n```sh\nip netns del app\n```\n\n```check\nlink h-app absent\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    let steps = &r["lessons"][0]["steps"];
    assert_eq!(steps[0]["status"], "passed", "{r}");
    assert_eq!(steps[1]["status"], "failed", "{r}");
    let message = steps[1]["checks"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("another name, alias"), "{message}");
}

/// A namespace deleted and made again with its cable at once, under the same names: the old
/// veth end goes with the teardown, which the next line waits for rather than clashing with it
/// ("File exists"), as a student typing the lines would never see.
#[test]
fn a_cable_made_again_under_the_same_names_waits_for_the_old_one() {
    let scratch = Scratch::new("again");
    let file = scratch.lab(
        "again",
        "## The first lab\n\n```sh\n\
         ip netns add web\nip netns add db\n\
         ip link add w0 netns web type veth peer name d0 netns db\nip -n db link set d0 up\n```\n\n\
         ```check\nlink d0 in db is up\n```\n\n## Rebuild web\n\n```sh\nip netns del web\n\
         ip netns add web\nip link add w0 netns web type veth peer name d0 netns db\n```\n\n\
         ```check\nlink d0 in db is down\n```\n\n## Clean up\n\n```sh\nip netns del web\n\
         ip netns del db\n```\n",
    );
    passes(&file, 3);
}

/// A shell check runs in its namespace and leaves it: nothing of nslab's stays there to keep
/// the namespace alive once a step deletes it (its veth peer then goes with it).
#[test]
fn a_shell_check_leaves_its_namespace() {
    let scratch = Scratch::new("sh-leaves");
    let file = scratch.lab(
        "sh-leaves",
        "## Cable\n\n```sh\n\
         ip netns add p1\nip netns add p2\nip link add p1e netns p1 type veth peer name p2e netns p2\n\
         ip -n p1 link set p1e up\nip -n p2 link set p2e up\n\
         ip -n p1 address add 10.9.9.1/24 dev p1e\nip -n p2 address add 10.9.9.2/24 dev p2e\n```\n\n\
         ```check\nsh in p1 (p1 reaches 10.9.9.2): ping -c 1 -W 1 10.9.9.2\n```\n\n\
         ## Delete p1\n\n```sh\nip netns del p1\n```\n\n```check\nlink p2e in p2 absent\n```\n\n\
         ## Clean up\n\n```sh\nip netns del p2\n```\n",
    );
    passes(&file, 1);
}

/// A shell check observes over IPv6 as over IPv4: the neighbour entries its `ping -6` makes on
/// both ends are taken back (IPv4's were; IPv6's stayed, and a later `not neigh` check failed,
/// or a `neigh` check passed on nslab's traffic).
#[test]
fn a_shell_checks_ipv6_traffic_leaves_no_neighbour_entry() {
    let scratch = Scratch::new("sh-nd");
    let file = scratch.lab(
        "sh-nd",
        "## Lab

```sh
\
         ip netns add t1\nip netns add t2\nip -n t1 link add e0 type veth peer name e0 netns t2\n\
         ip -n t1 link set e0 up\nip -n t2 link set e0 up\n\
         ip -n t1 addr add 10.95.0.1/24 dev e0\nip -n t2 addr add 10.95.0.2/24 dev e0\n\
         ip -n t1 addr add 2001:db8:95::1/64 dev e0 nodad\nip -n t2 addr add 2001:db8:95::2/64 dev e0 nodad\n```\n\n\
         ```check\nsh in t1 (t1 reaches t2 over IPv6): ping -6 -c 1 -W 1 2001:db8:95::2\n\
         sh in t1 (t1 reaches t2 over IPv4): ping -c 1 -W 1 10.95.0.2\n```\n\n\
         ## Look\n\n```sh\nip -n t1 neigh\n```\n\n\
         ```check\nnot neigh 2001:db8:95::2 on e0 in t1 # [observe]\nnot neigh 2001:db8:95::1 on e0 in t2 # [observe]\n\
         not neigh 10.95.0.2 on e0 in t1 # [observe]\nnot neigh 10.95.0.1 on e0 in t2 # [observe]\n```\n\n\
         ## Clean up\n\n```sh\nip netns del t1\nip netns del t2\n```\n",
    );
    passes(&file, 3);
}

/// `pkill -f PATTERN` and `pgrep -f PATTERN` match whole command lines. The shell nslab runs a
/// line or a check in must not hold the pattern in its own: else the kill would end the line's
/// own shell (the line "failed" with a signal), and a `pgrep -f` would find its own shell (a
/// check true before its step). And a program started in the background has started before the
/// next line: a script's `ip netns del app` could come before `ip netns exec app` opened app,
/// and then no sleep ran and the veth peer went with app at once (4 of 5 runs in bash).
#[test]
fn a_pattern_in_a_line_matches_the_lessons_processes_only() {
    let scratch = Scratch::new("pkill-f");
    let file = scratch.lab(
        "pkill-f",
        "## A sleeper\n\n```sh\nip netns add app\n\
         ip link add h0 type veth peer name a0 netns app\n\
         ip netns exec app sleep 7391 &\nip netns del app\n```\n\n\
         ```check\nprocess sleep in another netns\nlink h0 exists\n```\n\n\
         ## Stop it\n\n```sh\npkill -f 'sleep 7391'\n```\n\n\
         ```check\nlink h0 absent\nsh (no sleeper is left): ! pgrep -f 'sleep 7391' && true\n```\n\n\
         ## Nothing of nslab's\n\n```sh\n! env | grep NSLAB\n! pgrep -f 'sh -c'\n! pgrep -f /bin/sh\n\
         pkill -f nslab; true\n```\n",
    );
    passes(&file, 3);
    // A line's shell that a signal ends says which.
    let killed = scratch.lab("killed", "## Die\n\n```sh\nkill -KILL $$\n```\n");
    let r = json(&nslab(&["verify", "--format", "json", &killed]));
    let step = &r["lessons"][0]["steps"][0];
    assert!(
        step["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("its shell was ended by SIGKILL"),
        "{r}"
    );
}

/// A program a step starts that is still at work after the 3 s a start gets (a server that
/// computes 4.5 s before it listens, as a Python server importing its modules on a loaded
/// machine) is still starting: a failing check waits for it, up to the settle bound.
#[test]
fn a_program_still_at_work_is_still_starting() {
    let scratch = Scratch::new("slow-start");
    let file = scratch.lab(
        "slow-start",
        "## A slow server\n\n```sh\nip netns add app\nip -n app link set lo up\n\
         ip netns exec app python3 -c \"exec('import time,socket\\nt=time.time()\\n\
         while time.time()-t<4.5: pass\\ns=socket.socket()\\ns.bind((\\'127.0.0.1\\',8080))\\n\
         s.listen()\\ns.accept()')\" &\n```\n\n\
         ```check\nsh in app (the server listens): bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080'\n```\n\n\
         ## Clean up\n\n```sh\nip netns del app\n```\n",
    );
    passes(&file, 1);
}

/// A program started in the background that could not start (no such file) or ended at once
/// is not coming: the check that looks for it fails at once, without the 3 s a start gets. (It
/// waited them: 3.05 s for the mutant of the namespaces lesson that leaves out its `gcc`.) A
/// program that does start is still waited for (`a_program_still_at_work_is_still_starting`).
#[test]
fn a_program_that_never_started_is_not_waited_for() {
    let scratch = Scratch::new("never-started");
    for start in [
        "ip netns exec app /nonexistent/sleeper 60 &",
        "ip netns exec app true &",
    ] {
        let file = scratch.lab(
            "never",
            &format!(
                "## Start it\n\n```sh\nip netns add app\n{start}\n```\n\n\
                 ```check\nprocess sleeper in another netns\n```\n"
            ),
        );
        let r = json(&nslab(&["verify", "--format", "json", &file]));
        let step = &r["lessons"][0]["steps"][0];
        assert_eq!(step["checks"][0]["status"], "failed", "{r}");
        // Nothing is pending: the wait for a start (3 s) is not taken. The verdict comes in
        // some 30 ms on a quiet machine; 2 s leaves room for a loaded one.
        let ms = step["duration_ms"].as_f64().unwrap_or(f64::MAX);
        assert!(ms < 2000.0, "{start}: judged after {ms} ms: {r}");
    }
}

/// `bridge fdb add MAC dev PORT master` puts an entry in the bridge's table: a step without a
/// check block is checked for it, and the mutant without the line is killed (it survived: no
/// check was derived, and the step passed with nothing to check).
#[test]
fn a_bridge_entry_added_by_hand_is_checked_and_needed() {
    let scratch = Scratch::new("fdb-add");
    let file = scratch.lab(
        "fdb-add",
        "## A bridge with a port\n\n```sh\nip netns add h\nip -n h link add br0 type bridge\n\
         ip -n h link add p0 type veth peer name p1\nip -n h link set p0 master br0\n```\n\n\
         ## A static entry\n\n```sh\nbridge -n h fdb add 02:00:00:00:00:09 dev p0 master static\n```\n\n\
         ## Gone again\n\n```sh\nbridge -n h fdb del 02:00:00:00:00:09 dev p0 master\n```\n\n\
         ## Clean up\n\n```sh\nip netns del h\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    assert_eq!(r["passed"], true, "{r}");
    let step = &r["lessons"][0]["steps"][1];
    assert_eq!(
        step["checks"][0]["check"], "fdb on p0 in h has 02:00:00:00:00:09",
        "{r}"
    );
    assert_eq!(
        r["lessons"][0]["steps"][2]["checks"][0]["check"],
        "not fdb on p0 in h has 02:00:00:00:00:09",
        "{r}"
    );
    let r = ok_json(&nslab(&["verify", "--mutate", "--format", "json", &file]));
    let fdb = r["mutants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["command"]
                .as_str()
                .unwrap_or("")
                .starts_with("bridge -n h fdb add")
        })
        .unwrap_or_else(|| panic!("no mutant of the fdb line: {r}"));
    assert_eq!(fdb["killed"], true, "{r}");
}

/// An address of scope link that a line adds (169.254.0.0/16, `scope link`, a hand-made
/// fe80::) is an address like any other: checks see it, and see it go. (They saw none: "sl0
/// has no IPv4 address", and a `not addr` check after its del was a defect.)
#[test]
fn an_address_of_scope_link_is_seen() {
    let scratch = Scratch::new("scope-link");
    let file = scratch.lab(
        "scope-link",
        "## Cable\n\n```sh\nip netns add sl\nip -n sl link add sl0 type veth peer name sl1\n\
         ip -n sl link set sl0 up\n```\n\n\
         ## Link-local by hand\n\n```sh\nip -n sl address add 169.254.10.1/16 dev sl0 scope link\n\
         ip -n sl address add 10.30.3.1/24 dev sl0 scope link\n\
         ip -n sl -6 address add fe80::10/64 dev sl1 nodad\n```\n\n\
         ```check\naddr 169.254.10.1/16 on sl0 in sl\naddr fe80::10/64 on sl1 in sl\n```\n\n\
         ## Take one away\n\n```sh\nip -n sl address del 169.254.10.1/16 dev sl0\n```\n\n\
         ## Clean up\n\n```sh\nip netns del sl\n```\n",
    );
    passes(&file, 1);
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    let derived: Vec<&str> = r["lessons"][0]["steps"][2]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["check"].as_str())
        .collect();
    assert_eq!(derived, ["not addr 169.254.10.1/16 on sl0 in sl"], "{r}");
}

/// A route with several next hops (`nexthop via A nexthop via B`; IPv6 routes appended to one
/// prefix merge into one) goes via each: a check of either gateway holds. (It failed: "its
/// route goes nowhere", and its Try, a replace, would have dropped the other path.)
#[test]
fn a_multipath_route_goes_via_each_next_hop() {
    let scratch = Scratch::new("multipath");
    let file = scratch.lab(
        "multipath",
        "## Two cables\n\n```sh\nip netns add mp\nip -n mp link add m0 type veth peer name m1\n\
         ip -n mp link set m0 up\nip -n mp link set m1 up\n\
         ip -n mp address add 10.90.0.1/24 dev m0\nip -n mp address add 10.90.1.1/24 dev m1\n\
         ip -n mp address add 2001:db8:90::1/64 dev m0 nodad\n\
         ip -n mp address add 2001:db8:91::1/64 dev m1 nodad\n```\n\n\
         ## Two paths\n\n```sh\n\
         ip -n mp route add 10.91.0.0/16 nexthop via 10.90.0.2 nexthop via 10.90.1.2\n\
         ip -n mp -6 route add 2001:db8:92::/48 via 2001:db8:90::2\n\
         ip -n mp -6 route append 2001:db8:92::/48 via 2001:db8:91::2\n```\n\n\
         ```check\nroute 10.91.0.0/16 via 10.90.0.2 in mp\nroute 10.91.0.0/16 via 10.90.1.2 dev m1 in mp\n\
         route 2001:db8:92::/48 via 2001:db8:90::2 in mp\nroute 2001:db8:92::/48 via 2001:db8:91::2 in mp\n\
         not route 10.91.0.0/16 via 10.90.0.9 in mp   # [observe]\n```\n\n\
         ## Clean up\n\n```sh\nip netns del mp\n```\n",
    );
    passes(&file, 1);
}

/// Routes to one prefix with two metrics, one replaced with its metric and one deleted without
/// a metric: the derived checks follow the kernel, which keys routes on their metric too and
/// deletes one route (the lowest metric) per `del` (the model dropped every route to the prefix,
/// and derived `not route ... metric 20`, which failed), and every line is needed.
#[test]
fn routes_of_two_metrics_are_replaced_and_deleted_one_at_a_time() {
    let scratch = Scratch::new("route-metrics");
    let file = scratch.lab(
        "route-metrics",
        "## A link\n\n```sh\nip netns add rm\nip -n rm link add v0 type veth peer name v1\n\
         ip -n rm link set v0 up\nip -n rm link set v1 up\nip -n rm addr add 10.93.0.1/24 dev v0\n```\n\n\
         ## Two routes\n\n```sh\nip -n rm route add 10.94.0.0/16 via 10.93.0.2 metric 10\n\
         ip -n rm route add 10.94.0.0/16 via 10.93.0.3 metric 20\n```\n\n\
         ## Replace one\n\n```sh\nip -n rm route replace 10.94.0.0/16 via 10.93.0.4 metric 10\n```\n\n\
         ## Delete one\n\n```sh\nip -n rm route del 10.94.0.0/16\n```\n\n\
         ## Clean up\n\n```sh\nip netns del rm\n```\n",
    );
    passes(&file, 1);
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    let checks = |step: usize| step_checks(&r, step);
    assert_eq!(
        checks(2),
        [
            "route 10.94.0.0/16 via 10.93.0.4 metric 10 in rm",
            "not route 10.94.0.0/16 via 10.93.0.2 metric 10 in rm"
        ],
        "{r}"
    );
    assert_eq!(
        checks(3),
        ["not route 10.94.0.0/16 via 10.93.0.4 metric 10 in rm"],
        "{r}"
    );
    let r = ok_json(&nslab(&["verify", "--mutate", "--format", "json", &file]));
    assert!(r["total"].as_u64().unwrap() >= 9, "{r}");
    assert_eq!(r["killed"], r["total"], "{r}");
}

/// Two IPv4 routes of one metric (`ip route append`): the kernel uses the first, as `ip route
/// get` (the oracle, in a sandbox of its own) says; a check of the second fails, and says why.
#[test]
fn of_appended_routes_the_check_holds_for_the_one_the_kernel_uses() {
    let lab = "ip netns add r1\nip -n r1 link add e0 type veth peer name e1\nip -n r1 link set e0 up\n\
               ip -n r1 link set e1 up\nip -n r1 address add 10.10.0.1/24 dev e0\n\
               ip -n r1 route append 10.50.0.0/24 via 10.10.0.2\nip -n r1 route append 10.50.0.0/24 via 10.10.0.3";
    let out = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--fork", "bash", "-c"])
        .arg(format!(
            "mount --make-rprivate / && mount -t tmpfs none /run/netns && {} && ip -n r1 route get 10.50.0.7",
            lab.replace('\n', " && ")
        ))
        .output()
        .unwrap();
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(used.contains("via 10.10.0.2"), "ip route get: {used}");
    let scratch = Scratch::new("append");
    for (gw, passes) in [("10.10.0.2", true), ("10.10.0.3", false)] {
        let file = scratch.lab(
            "append",
            &format!(
                "## Two ways\n\n```sh\n{lab}\n```\n\n```check\nroute 10.50.0.0/24 via {gw} in r1\n```\n\n\
                 ## Clean up\n\n```sh\nip netns del r1\n```\n"
            ),
        );
        let r = json(&nslab(&["verify", "--format", "json", &file]));
        assert_eq!(r["passed"], passes, "{gw}: {r}");
        if !passes {
            assert!(
                r.to_string()
                    .to_lowercase()
                    .contains("of routes with the same metric, the kernel uses the first"),
                "{r}"
            );
        }
    }
}

/// A line nslab performs itself fails in ip's own words first (what the student's `ip`
/// prints), then nslab's: ip's words come from ip in the same sandbox, the oracle.
#[test]
fn a_native_line_fails_in_ips_words_first() {
    let scratch = Scratch::new("ipwords");
    let lines = [
        "ip -n x addr add 10.7.0.1/24 dev ea",
        "ip -n x addr del 10.7.0.9/24 dev ea",
        "ip -n x link add ea type veth peer name ec",
        "ip netns add x",
        "ip -n x route add 10.6.0.0/24 via 10.9.9.9",
        "ip -n x route del 10.8.0.0/24",
        "ip netns del nothere",
    ];
    let setup = "ip netns add x\nip -n x link add ea type veth peer name eb\nip -n x addr add 10.7.0.1/24 dev ea";
    // What ip says, in a sandbox of its own.
    let out = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--fork", "bash", "-c"])
        .arg(format!(
            "mount --make-rprivate / && mount -t tmpfs none /run/netns && {} && {{ {}; }} 2>&1",
            setup.replace('\n', " && "),
            lines
                .iter()
                .map(|l| format!("{l} || true"))
                .collect::<Vec<_>>()
                .join("; ")
        ))
        .output()
        .unwrap();
    let ip_said: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ip_said.len(), lines.len(), "{ip_said:?}");
    for (line, ip) in lines.iter().zip(&ip_said) {
        let file = scratch.lab(
            "ipwords",
            &format!("## Make\n\n```sh\n{setup}\n```\n\n## Fail\n\n```sh\n{line}\n```\n"),
        );
        let r = json(&nslab(&["verify", "--format", "json", &file]));
        let error = r["lessons"][0]["steps"][1]["commands"][0]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(error.starts_with(&format!("{line}: {ip} (")), "{ip} / {r}");
    }
}

/// A veth whose peer's name is taken: iproute2 says only "File exists", and nslab names the end
/// that exists (it named the link the line makes, which does not).
#[test]
fn a_name_taken_names_the_end_that_has_it() {
    let scratch = Scratch::new("taken");
    for (peer, taken) in [
        ("w1", "device \"w1\" already exists"),
        ("w9 netns x", "device \"w9\" in netns x already exists"),
    ] {
        let file = scratch.lab(
            "taken",
            &format!(
                "## One\n\n```sh\nip netns add x\nip link add w1 type veth peer name w9 netns x\n```\n\n\
                 ```check\nlink w1 exists\n```\n\n\
                 ## Two\n\n```sh\nip link add w0 type veth peer name {peer}\n```\n\n\
                 ```check\nlink w0 exists\n```\n"
            ),
        );
        let r = json(&nslab(&["verify", "--format", "json", &file]));
        let failure = r["lessons"][0]["steps"][1]["failure"]
            .as_str()
            .unwrap_or_default();
        assert!(failure.contains(taken), "{r}");
    }
}

/// `umount /run/netns/NAME` without `rm` leaves a file that `ip netns list` still shows and that
/// holds no namespace: the leftover says so, and how to remove it.
#[test]
fn a_name_left_without_its_namespace_is_named_as_a_file() {
    let scratch = Scratch::new("stale");
    let file = scratch.lab(
        "stale",
        "## Alias\n\n```sh\nip netns add app\ntouch /run/netns/alias\n\
         mount --bind /run/netns/app /run/netns/alias\n```\n\n```check\nnetns alias exists\n```\n\n\
         ## Drop it\n\n```sh\numount /run/netns/alias\nip netns del app\n```\n\n\
         ```check\nnetns alias absent\nnetns app absent\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    assert_eq!(
        r["lessons"][0]["leftovers"][0],
        "netns alias (a file that holds no namespace: rm /run/netns/alias)",
        "{r}"
    );
}

/// Lines that make, copy or remove files act: a check may see what they did, so a check
/// already true before such a step is a defect, and removing such a line is a mutant (they
/// were taken for observations: a wrong lesson passed, and `--mutate` made no mutant of them).
#[test]
fn file_commands_are_actions() {
    let scratch = Scratch::new("files-act");
    let body = "## Make a folder\n\n```sh\nmkdir /tmp/f-act\ncp /etc/hostname /tmp/f-act/h\n```\n\n\
                ```check\nsh (the copy is there): test -f /tmp/f-act/h\n```\n\n\
                ## Remove it\n\n```sh\nrm -rf /tmp/f-act\n```\n\n\
                ```check\nsh (the folder is gone): ! test -e /tmp/f-act\n```\n";
    let good = scratch.lab("files-act", body);
    passes(&good, 1);
    let out = nslab(&["verify", "--mutate", &good]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(3 of 3 mutants killed)"), "{text}");
    // A step whose check held before it: a defect, though its line only removes a file.
    let wrong = scratch.lab(
        "files-wrong",
        "## Remove a file\n\n```sh\nrm -f /tmp/never-made-here\n```\n\n\
         ```check\nsh (the file is not there): ! test -e /tmp/never-made-here\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &wrong]));
    assert_eq!(r["lessons"][0]["steps"][0]["status"], "defect", "{r}");
}

/// A ping of an address on the namespace's own `lo` (127.0.0.1, or one a lesson puts there)
/// proves that `lo` is up: it is probed like any other (it always failed, as an address of the
/// namespace itself, which a check of `lo` cannot avoid).
/// A check observes: a probe's trip through a router with one arm leaves nothing a later check
/// meets, neither the redirect the router sends the pinging host nor the router's neighbour
/// entry for its next hop (each lesson failed its step 4 while probes left these).
#[test]
fn a_probe_through_a_router_leaves_nothing_a_later_check_meets() {
    passes("tests/fixtures/probe-redirect.md", 2);
    passes("tests/fixtures/probe-stale-neighbour.md", 2);
    // A redirect the host did not accept leaves nothing to take back: the route exceptions
    // the student's traffic made stay (they were flushed while a redirect only had to come).
    passes("tests/fixtures/probe-keeps-a-path-mtu.md", 2);
    // What a probe through a VXLAN tunnel teaches the tunnel's ends goes too.
    passes("tests/fixtures/probe-leaves-no-vxlan-entry.md", 2);
}

/// A lesson's own `ping` waits as iputils does where the lab may answer late: proxy ARP
/// answers after a random delay of up to 0.8 s (it failed about three runs in four while
/// verify waited 200 ms at most).
#[test]
fn a_ping_through_proxy_arp_waits_for_the_late_answer() {
    passes("tests/fixtures/ping-through-proxy-arp.md", 4);
    // And so does a `ping` check's probe (it failed about two runs in three).
    passes("tests/fixtures/probe-through-proxy-arp.md", 4);
}

/// A lesson's own `ping -c 2` through a router that redirects it spaces its echoes as ping
/// does, so that the host heeds the second redirect (all at once, the router sent one).
#[test]
fn a_ping_that_is_redirected_spaces_its_echoes_as_ping_does() {
    passes("tests/fixtures/ping-heeds-a-redirect.md", 2);
}

/// What a probe changes in a neighbour entry that was there before it goes back: the state
/// of a stale entry it used (the kernel starts to confirm it), the MAC its broadcast ARP
/// request rewrote in a third host's entry (each lesson failed while probes left these).
#[test]
fn a_probe_leaves_neighbour_entries_it_used_as_they_were() {
    passes("tests/fixtures/probe-keeps-a-stale-entry-stale.md", 2);
    passes("tests/fixtures/probe-keeps-an-old-mac.md", 1);
}

#[test]
fn a_ping_of_an_address_on_lo_is_probed() {
    let scratch = Scratch::new("lo-ping");
    let file = scratch.lab(
        "lo-ping",
        "## A namespace\n\n```sh\nip netns add patient\nip -n patient address add 10.9.0.1/24 dev lo\n```\n\n\
         ```check\nnetns patient exists\n```\n\n\
         ## Bring lo up\n\n```sh\nip -n patient link set lo up\n```\n\n\
         ```check\nping 10.9.0.1 from patient\nping 127.0.0.1 from patient\n```\n\n\
         ## Clean up\n\n```sh\nip netns del patient\n```\n",
    );
    // Passing proves both: the pings answer after the step, and they did not before it (else a
    // defect).
    passes(&file, 2);
    // With lo left down, the check says so, and how to mend it.
    let down = scratch.lab(
        "lo-down",
        "## A namespace

```sh
ip netns add pt
```

```check
ping 127.0.0.1 from pt
```
",
    );
    let r = json(&nslab(&["verify", "--format", "json", &down]));
    let check = &r["lessons"][0]["steps"][0]["checks"][0];
    assert_eq!(
        check["found"], "127.0.0.1 is on lo in pt, and lo is down",
        "{r}"
    );
    assert_eq!(check["try"], "ip -n pt link set lo up", "{r}");
}

/// A lesson asking for a kind of link this kernel does not know (dummy, here: built without
/// it) cannot run on this machine: exit 3, saying where and what to do. A word that is no
/// kind of link at all is the lesson's typo: exit 1.
#[test]
fn a_kind_the_kernel_lacks_is_the_machines_limit() {
    let scratch = Scratch::new("kind");
    let lab = |kind: &str| {
        scratch.lab(
            &format!("kind-{kind}"),
            &format!(
                "## A link\n\n```sh\nip netns add kk\nip -n kk link add x0 type {kind}\n```\n\n\
                 ```check\nlink x0 in kk exists\n```\n\n## Clean up\n\n```sh\nip netns del kk\n```\n"
            ),
        )
    };
    let typo = nslab(&["verify", &lab("dumy")]);
    assert_eq!(typo.status.code(), Some(1));
    // The oracle: does this kernel make a dummy link?
    let has_dummy = std::process::Command::new("unshare")
        .args(["-n", "ip", "link", "add", "x0", "type", "dummy"])
        .status()
        .unwrap()
        .success();
    let out = nslab(&["verify", &lab("dummy")]);
    let said = String::from_utf8_lossy(&out.stderr);
    if has_dummy {
        assert_eq!(out.status.code(), Some(0), "{said}");
    } else {
        assert_eq!(out.status.code(), Some(3), "{said}");
        assert!(
            said.contains("kind-dummy.md:11: this kernel cannot run the lesson"),
            "{said}"
        );
        // Its mutants too: the machine cannot run the lesson, so not its mutants either.
        // The report says so, in its own text, beside the other lessons' mutants.
        let out = nslab(&[
            "verify",
            "--mutate",
            &lab("dummy"),
            "tests/fixtures/pass.md",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(
            text.contains("not mutated: ") && text.contains("kind-dummy.md:11: this kernel"),
            "{text}"
        );
        assert!(text.contains("(11 of 11 mutants killed)"), "{text}");
        let out = nslab(&["verify", "--mutate", "--format", "junit", &lab("dummy")]);
        let xml = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{xml}");
        assert!(
            xml.contains("<error type=\"kernel cannot run the lesson\""),
            "{xml}"
        );
    }
}

/// A lesson cannot make verify blame the machine: a line that prints iproute2's words for a
/// kind the kernel lacks, after asking for one it has (veth), fails the lesson (exit 1), in
/// verify and in --mutate. Before, verify said "this kernel cannot run the lesson" and exited 3,
/// the code of a machine's limit, and --mutate tested none of the lesson's checks.
#[test]
fn a_lesson_cannot_blame_the_kernel_for_its_failure() {
    let scratch = Scratch::new("blame");
    for (name, line) in [
        (
            "blame-veth",
            "ip link add b0 type veth peer name b1 2>/dev/null; echo 'Error: Unknown device type.' >&2; exit 2",
        ),
        (
            "blame-words",
            "echo 'Error: Unknown device type.' >&2; exit 2",
        ),
        (
            "blame-qdisc",
            "echo 'Error: Specified qdisc kind is unknown.' >&2; exit 2",
        ),
    ] {
        let file = scratch.lab(
            name,
            &format!(
                "## Blame\n\n```sh\nip netns add bb\n{line}\n```\n\n```check\nnetns bb exists\n```\n\n\
                 ## Clean up\n\n```sh\nip netns del bb\n```\n"
            ),
        );
        for args in [&["verify"][..], &["verify", "--mutate"]] {
            let mut a = args.to_vec();
            a.push(&file);
            let out = nslab(&a);
            let said = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {said}");
            assert!(
                !said.contains("this kernel cannot run the lesson"),
                "{name} {args:?}: {said}"
            );
        }
    }
}

/// A bridge made in the wrong namespace cannot be moved ("The interface netns is immutable"):
/// the fix offered makes it again where it belongs, and works (was: `ip link set br0 netns
/// host`, which the kernel refuses).
#[test]
fn a_bridge_in_the_wrong_namespace_is_made_again_where_it_belongs() {
    let scratch = Scratch::new("bridge-where");
    let file = scratch.lab(
        "bridge-where",
        "## A bridge\n\n```sh\nip netns add host\neval 'ip link add br0 type bridge'\n```\n\n\
         ```check\nlink br0 in host exists\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    let fix = r["lessons"][0]["steps"][0]["checks"][0]["try"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        fix, "ip link del br0 && ip -n host link add br0 type bridge",
        "{r}"
    );
    // The fix, typed after the step, makes the check pass.
    let mended = scratch.lab(
        "bridge-mended",
        &format!(
            "## A bridge\n\n```sh\nip netns add host\neval 'ip link add br0 type bridge'\n{fix}\n```\n\n\
             ```check\nlink br0 in host exists\n```\n\n## Clean up\n\n```sh\nip netns del host\n```\n"
        ),
    );
    passes(&mended, 1);
}

/// A veth end whose peer's namespace was deleted while a program ran in it: the judge itself
/// names the program (learn shows it too, with no settle to say it) and offers to end it.
#[test]
fn the_program_keeping_a_peer_alive_is_named_by_the_check() {
    let scratch = Scratch::new("peer-holder");
    let file = scratch.lab(
        "peer-holder",
        "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
         ip link add veth0 netns blue type veth peer name veth1 netns red\n\
         ip netns exec blue sleep 300 &\n```\n\n```check\nprocess sleep in another netns\n```\n\n\
         ## Delete blue\n\n```sh\nip netns del blue\n```\n\n\
         ```check\nnetns blue absent\nlink veth1 in red absent\n```\n",
    );
    let (check, message) = failed_check(&file, 1, 1);
    assert!(message.contains("(sleep) still runs in it"), "{check}");
    assert!(
        check["try"]
            .as_str()
            .unwrap_or_default()
            .starts_with("kill "),
        "{check}"
    );
}

/// The jail bounds the network namespaces a lesson may hold (the kernel counts them against
/// the user who runs nslab), but not below what a lesson at scale makes: `bench/star.sh`'s
/// star of 1000 namespaces failed at the 255th ("No space left on device") under a bound of
/// 256. Here 300.
#[test]
fn a_lesson_may_make_hundreds_of_namespaces() {
    let scratch = Scratch::new("many-netns");
    let file = scratch.lab(
        "many-netns",
        "## Many\n\n```sh\nfor i in $(seq 300); do ip netns add n$i || exit 1; done\n```\n\n\
         ```check\nsh (300 namespaces): test \"$(ip netns list | wc -l)\" -eq 300\n```\n\n\
         ## Clean up\n\n```sh\nip -all netns delete\n```\n\n\
         ```check\nsh (none left): test -z \"$(ip netns list)\"\n```\n",
    );
    passes(&file, 1);
}

/// A deleted namespace kept by a process outside it, by an open file of it: the check names
/// the process, and does not wait for a teardown that is not coming (it said only that the
/// peer was still there, after waiting ten seconds).
#[test]
fn a_namespace_kept_by_an_open_file_is_named_by_the_check() {
    let scratch = Scratch::new("fd-holder");
    let file = scratch.lab(
        "fd-holder",
        "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
         ip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
         ```check\nlink veth1 in red exists\n```\n\n\
         ## Delete blue while a program holds it open\n\n\
         ```sh\nsleep 300 3</run/netns/blue &\nip netns del blue\n```\n\n\
         ```check\nnetns blue absent\nlink veth1 in red absent\n```\n",
    );
    let (_, message) = failed_check(&file, 1, 1);
    assert!(
        message.contains("(sleep) keeps it by an open file"),
        "{message}"
    );
    // A mount of it elsewhere is named by where it is mounted (it named the first process of
    // that mount namespace, nslab itself).
    let file = scratch.lab(
        "mount-holder",
        "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
         ip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
         ```check\nlink veth1 in red exists\n```\n\n\
         ## Delete blue while it is mounted elsewhere\n\n\
         ```sh\nmkdir -p /tmp/keep\ntouch /tmp/keep/blue\nmount --bind /run/netns/blue /tmp/keep/blue\n\
         ip netns del blue\n```\n\n\
         ```check\nnetns blue absent\nlink veth1 in red absent\n```\n",
    );
    let (_, message) = failed_check(&file, 1, 1);
    assert!(
        message.contains("still mounted on /tmp/keep/blue"),
        "{message}"
    );
}

/// A check that holds right after a step deleted a namespace, only because the kernel has not
/// yet torn it down: `link veth1 in red exists` after `ip netns del blue` (veth1's peer was in
/// blue) is false a moment later, and a student who looks then sees veth1 gone. verify judged it
/// at once, before the teardown, and passed the step (and a mutant without the line that holds
/// blue survived).
#[test]
fn a_check_that_holds_only_until_the_teardown_fails() {
    let scratch = Scratch::new("vanish");
    let file = scratch.lab(
        "vanish",
        "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
         ip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
         ```check\nlink veth1 in red exists\n```\n\n\
         ## Delete blue\n\n```sh\nip netns del blue\n```\n\n\
         ```check\nnetns blue absent\nlink veth1 in red exists # [observe]\n```\n\n\
         ## Clean up\n\n```sh\nip netns del red\n```\n",
    );
    let r = json(&nslab(&["verify", "--format", "json", &file]));
    let check = &r["lessons"][0]["steps"][1]["checks"][1];
    assert_eq!(check["status"], "failed", "{r}");
}

/// A deleted namespace that nothing nslab can see holds, kept a while longer by a socket of
/// it (here a program outside it that opened one there, and closes it after 13 s): its
/// teardown is still coming, and the check waits for it past the ten seconds it waits for
/// other work. The containers lesson failed so in CI, its namespace kept by a TCP connection
/// that did not close cleanly.
#[test]
fn a_teardown_that_nothing_seen_holds_is_waited_for() {
    let scratch = Scratch::new("socket-holder");
    let keep = "import ctypes, os, socket, time; libc = ctypes.CDLL(None, use_errno=True); \
                home = os.open('/proc/self/ns/net', os.O_RDONLY); \
                there = os.open('/run/netns/blue', os.O_RDONLY); \
                assert libc.setns(there, 0x40000000) == 0; s = socket.socket(); \
                assert libc.setns(home, 0x40000000) == 0; os.close(there); os.close(home); \
                time.sleep(13)";
    let file = scratch.lab(
        "socket-holder",
        &format!(
            "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
             ip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
             ```check\nlink veth1 in red exists\n```\n\n\
             ## Delete blue while a socket of it is open\n\n\
             ```sh\npython3 -c \"{keep}\" &\nsleep 1\nip netns del blue\n```\n\n\
             ```check\nnetns blue absent\nlink veth1 in red absent\n```\n\n\
             ## Clean up\n\n```sh\nip netns del red\n```\n"
        ),
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
}

/// The kernel removes things by itself: a link taken down loses the routes through it, its
/// neighbour entries and its IPv6 addresses; a link without IPv4 address loses its IPv4
/// routes; a macvlan goes with its lower device; a bridge whose MTU came with `ip link add`
/// takes its port's. A lesson without check blocks is verified on checks nslab derives from
/// its lines: they must not expect what the kernel removed. First the kernel itself, by `ip -j`.
#[test]
fn what_the_kernel_removes_by_itself_is_not_expected() {
    let out = sandboxed(
        "mount -t tmpfs tmpfs /run && mkdir /run/netns && \
         ip netns add k && ip -n k link add e0 type veth peer name e1 && \
         ip -n k link set e0 up && ip -n k link set e1 up && \
         ip -n k addr add 10.20.0.1/24 dev e0 && ip -n k addr add fd20::1/64 dev e0 nodad && \
         ip -n k route add 10.21.0.0/16 via 10.20.0.2 && \
         ip -n k neigh add 10.20.0.9 lladdr 02:00:00:00:20:09 dev e0 nud permanent && \
         ip -n k link set e0 down && \
         echo \"#ROUTES $(ip -n k -j route show dev e0)\" && \
         echo \"#ADDR6 $(ip -n k -j -6 addr show dev e0)\" && \
         echo \"#NEIGH $(ip -n k -j neigh show dev e0)\" && \
         ip -n k link add br0 mtu 9000 type bridge && ip -n k link set e1 master br0 && \
         echo \"#MTU $(ip -n k -j link show br0)\"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |tag: &str| -> serde_json::Value {
        let line = text.lines().find(|l| l.starts_with(tag)).expect(tag);
        serde_json::from_str(line[tag.len()..].trim()).unwrap()
    };
    assert_eq!(field("#ROUTES "), serde_json::json!([]), "{text}");
    let addr6 = field("#ADDR6 ");
    assert!(
        addr6
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["addr_info"].as_array().is_none_or(|a| a.is_empty())),
        "{addr6}"
    );
    assert_eq!(field("#NEIGH "), serde_json::json!([]), "{text}");
    assert_eq!(field("#MTU ")[0]["mtu"], 1500, "{text}");

    let s = Scratch::new("kernel-removes");
    let f = s.lab(
        "kernel-removes",
        "## Build\n\n```sh\nip netns add k\nip -n k link add e0 type veth peer name e1\n\
         ip -n k link set e0 up\nip -n k link set e1 up\n\
         ip -n k addr add 10.20.0.1/24 dev e0\nip -n k addr add fd20::1/64 dev e0 nodad\n\
         ip -n k route add 10.21.0.0/16 via 10.20.0.2\nip -n k -6 route add fd21::/64 dev e0\n\
         ip -n k neigh add 10.20.0.9 lladdr 02:00:00:00:20:09 dev e0 nud permanent\n```\n\n\
         ## Down, and the kernel tidies\n\n```sh\nip -n k link set e0 down\n\
         ip -n k link add mv0 link e1 type macvlan\nip -n k addr add 10.30.0.1/24 dev e1\n\
         ip -n k route add 10.31.0.0/16 via 10.30.0.2\nip -n k addr del 10.30.0.1/24 dev e1\n\
         ip -n k link add br0 mtu 9000 type bridge\nip -n k link add p0 type veth peer name p1\n\
         ip -n k link set p0 master br0\n```\n\n\
         ## The lower device goes\n\n```sh\nip -n k link del e1\n```\n\n\
         ## Clean up\n\n```sh\nip netns del k\n```\n",
    );
    passes(&f, 2);
}

/// Tutorials write `sudo` before every line. nslab's lines run as root, and in the jail, a user
/// namespace, the real sudo cannot start: `sudo CMD` runs CMD there.
#[test]
fn sudo_lines_run_in_the_jail() {
    let s = Scratch::new("sudo");
    let f = s.lab(
        "sudo-lines",
        "## Make\n\n```sh\nsudo ip netns add sz\nsudo -E ip -n sz link set lo up\n\
         sudo -- ip netns exec sz sysctl -w net.ipv4.ip_forward=1\n\
         echo 1 | sudo ip netns exec sz tee /proc/sys/net/ipv4/conf/all/forwarding\n```\n\n\
         ## Clean up\n\n```sh\nsudo ip netns del sz\n```\n",
    );
    passes(&f, 1);
    // An option that is not only about the environment is the real sudo's: in the jail, it
    // fails, and says sudo's own words.
    let f = s.lab(
        "sudo-user",
        "## As another user\n\n```sh\nsudo -u nobody true\n```\n\n```check\nsh: true\n```\n",
    );
    let out = nslab(&["verify", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sudo -u nobody true: exited with status"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// ip takes a link's altname wherever it takes its name: so do checks, written or derived.
#[test]
fn a_link_is_checked_by_its_altname() {
    let s = Scratch::new("altname");
    let f = s.lab(
        "altname",
        "## Make\n\n```sh\nip netns add alt\nip -n alt link add uplink-to-core type veth peer name down0\n\
         ip -n alt link property add dev uplink-to-core altname up0\n```\n\n\
         ## Use the short name\n\n```sh\nip -n alt link set up0 up\nip -n alt link set dev up0 mtu 1400\n\
         ip -n alt address add 10.62.0.1/24 dev up0\nip -n alt route add 10.63.0.0/16 dev up0\n```\n\n\
         ```check\nlink up0 in alt is up\nlink up0 in alt mtu 1400\naddr 10.62.0.1/24 on up0 in alt\n\
         route 10.63.0.0/16 dev up0 in alt\n```\n\n\
         ## Address by the short name\n\n```sh\nip -n alt address add 10.64.0.1/24 dev up0\n```\n\n\
         ## Clean up\n\n```sh\nip netns del alt\n```\n",
    );
    passes(&f, 1);
}

/// A line that fails stops its step: the lines after it did not run, and a check's Try would
/// be one of them, offered as a fix for what the failed line caused. The report gives none.
#[test]
fn after_a_failed_line_no_try_repeats_a_line_that_did_not_run() {
    let s = Scratch::new("failed-line");
    let f = s.lab(
        "failed-line",
        "## Up\n\n```sh\nip netns add q\nip -n qq link set lo up\nip -n q link set lo up\n```\n\n\
         ```check\nlink lo in q is up\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &f]);
    let r = json(&out);
    let c = &r["lessons"][0]["steps"][0]["checks"];
    let lo = c
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "link lo in q is up")
        .unwrap();
    assert_eq!(lo["status"], "failed", "{r}");
    assert!(lo.get("fix").is_none_or(|f| f.is_null()), "{r}");
    assert!(!lo["message"].as_str().unwrap().contains("Try"), "{r}");
}

/// `--mutate` judges the mutant without a step's last acting line in the lesson's own run,
/// just before that line (`in_lesson_run`), and mutants of different steps of a lesson one
/// after the other in a shared jail (`shared_jail`). Each such verdict, and the words of its
/// failure, must be what the mutant gets in a jail of its own: the oracle is the lesson file
/// without that line, verified at that step. Over lessons written for it (surviving mutants
/// among them; a last step's mutant that only what the lesson leaves behind kills, which the
/// lesson's run cannot judge; a shared jail whose state after a mutant's step, caught up,
/// differs from the lesson's own) and over the shipped lessons.
#[test]
fn mutants_judged_without_a_jail_of_their_own_get_what_their_own_jails_give() {
    let scratch = Scratch::new("in-lesson-run");
    let fixture = "tests/fixtures/mutate/in-lesson-run.md";
    let chained = "tests/fixtures/mutate/shared-jail.md";
    let bridge = "tests/fixtures/mutate/link-local-of-a-bridge.md";
    let down = "tests/fixtures/mutate/link-local-gone-with-down.md";
    let between = "tests/fixtures/mutate/a-step-between-fails.md";
    let otherwise = "tests/fixtures/mutate/a-step-between-does-otherwise.md";
    let redirect = "tests/fixtures/mutate/a-probe-leaves-a-redirect.md";
    let neighbour = "tests/fixtures/mutate/a-probe-leaves-a-neighbour.md";
    // And lessons a helper wrote to make shared jails wrong: lines whose order matters.
    let mut files: Vec<String> = [
        fixture,
        chained,
        bridge,
        down,
        between,
        otherwise,
        redirect,
        neighbour,
        "tests/fixtures/mutate/order-of-addresses-and-routes.md",
        "tests/fixtures/mutate/moves-renames-and-ports.md",
        "tests/fixtures/mutate/pings-between-namespaces.md",
        "tests/fixtures/mutate/a-probe-flushes-a-students-redirect.md",
        "tests/fixtures/mutate/a-probe-flushes-before-a-last-line.md",
        "tests/fixtures/mutate/a-probe-teaches-a-new-mac.md",
    ]
    .iter()
    .map(|f| f.to_string())
    .collect();
    for e in std::fs::read_dir("lessons").unwrap() {
        files.push(format!(
            "lessons/{}",
            e.unwrap().file_name().to_str().unwrap()
        ));
    }
    let mut args = vec!["verify", "--mutate", "--format", "json", "--jobs", "2"];
    args.extend(files.iter().map(String::as_str));
    let out = nslab(&args);
    let r = json(&out);
    // Mutants survive: exit 1.
    assert_eq!(out.status.code(), Some(1), "{r}");
    let mutants = r["mutants"].as_array().unwrap();
    let in_file = |file: &str, line: u64| {
        mutants
            .iter()
            .find(|m| m["file"] == file && m["line"] == line)
            .unwrap_or_else(|| panic!("no mutant of {file}:{line}: {r}"))
    };
    let by = |line: u64| in_file(fixture, line);
    // The first line of each of the first three steps shares a jail (the second step's
    // survives: nothing looks at lo), as do the second lines of the first two; the second
    // line of the third step would have too, but the second step's second address, run late,
    // became the primary one, so it has a jail of its own. Last lines: the lesson's own run.
    for (line, killed, shared_jail, in_lesson_run) in [
        (17, true, true, false),
        (18, true, true, false),
        (19, true, false, false),
        (20, true, false, true),
        (32, false, true, false),
        (33, true, true, false),
        (34, true, false, true),
        (45, true, true, false),
        (46, true, false, false),
        (47, true, false, true),
        (59, true, false, true),
    ] {
        let m = in_file(chained, line);
        assert_eq!(
            (&m["killed"], &m["shared_jail"], &m["in_lesson_run"]),
            (
                &serde_json::json!(killed),
                &serde_json::json!(shared_jail),
                &serde_json::json!(in_lesson_run)
            ),
            "line {line}: {m}"
        );
    }
    // A line run late in a shared jail may leave a link-local address other than the lesson's
    // (from a bridge's random MAC; given after the link went down), which the jail does not
    // compare: a step whose checks look at IPv6 is judged in a jail of its own, where the
    // mutant without a line nothing looks at survives.
    // And where a step between two of a shared jail's mutants fails there, or leaves another
    // state (a line that needs the lesson's link-local address), the jail stops: the mutant
    // after it has a jail of its own.
    for (file, line) in [(bridge, 53), (down, 40), (between, 62), (otherwise, 60)] {
        let m = in_file(file, line);
        assert!(
            m["command"].as_str().unwrap().ends_with("link set lo up"),
            "{m}"
        );
        assert_eq!(
            (&m["killed"], &m["shared_jail"]),
            (&serde_json::json!(false), &serde_json::json!(false)),
            "{m}"
        );
    }
    // A ping probe of an earlier mutant's step would leave what no comparison sees (a
    // redirect the host keeps, a router's neighbour entry), which a later step's ping meets,
    // if it did not take it back: these mutants survive alone, and where they share a jail.
    // The neighbour entry is deleted, and the jail goes on; the redirect is taken back with a
    // flush of the host's route cache, after which no mutant shares the jail.
    for (file, line, shared) in [(redirect, 77, false), (neighbour, 82, true)] {
        let m = in_file(file, line);
        assert!(
            m["command"].as_str().unwrap().contains("address add"),
            "{m}"
        );
        assert_eq!(m["killed"], false, "{m}");
        assert_eq!(m["shared_jail"], shared, "{m}");
    }
    // The shipped lessons' mutants share jails too.
    assert!(
        mutants
            .iter()
            .filter(
                |m| m["shared_jail"] == true && m["file"].as_str().unwrap().starts_with("lessons/")
            )
            .count()
            >= 40,
        "{r}"
    );
    // Step 1's last acting line has listings after it; step 2 ends with one; step 3's last line
    // survives (nothing looks at the MTU); step 4's last line leaves a veth pair behind in the
    // root namespace, which its checks do not see.
    for (line, killed, shared) in [
        (18, true, true),
        (17, true, false),
        (32, true, true),
        (45, false, true),
        (55, true, false),
        (56, true, false),
    ] {
        let m = by(line);
        assert_eq!(m["killed"], killed, "line {line}: {m}");
        assert_eq!(m["in_lesson_run"], shared, "line {line}: {m}");
    }
    assert!(
        by(56)["how"]
            .as_str()
            .unwrap()
            .starts_with("the lesson leaves the root namespace changed: link top0"),
        "{}",
        by(56)
    );
    let without_digits = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>()
    };
    let shared: Vec<&serde_json::Value> = mutants
        .iter()
        .filter(|m| m["in_lesson_run"] == true || m["shared_jail"] == true)
        .collect();
    let mut compared = 0;
    for m in &shared {
        let file = m["file"].as_str().unwrap();
        let line = m["line"].as_u64().unwrap() as usize;
        let step = m["step"].as_u64().unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[line - 1].contains(m["command"].as_str().unwrap()),
            "{m}"
        );
        lines.remove(line - 1);
        let mutant = scratch.lesson("mutant.md", &(lines.join("\n") + "\n"));
        // The step as the file without the line verifies it: (killed, how), or None when lint
        // refuses the file (a later check names what the line made: the mutant's own worker,
        // handed the lesson and not a file, is never linted).
        let own = || {
            let out = nslab(&[
                "verify",
                "--step",
                &step.to_string(),
                "--format",
                "json",
                &mutant,
            ]);
            if out.status.code() == Some(2) {
                return None;
            }
            let r = json(&out);
            let s = r["lessons"][0]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["index"] == step)
                .unwrap()
                .clone();
            let killed = s["status"] == "failed" || s["status"] == "defect";
            // What kills the mutant: the step's failure, or any check that failed (one failure
            // decides a mutant's step, and the checks that answer at once are judged first,
            // where verify names the first failed check in the lesson's order).
            let mut how = vec![without_digits(s["failure"].as_str().unwrap_or(""))];
            for c in s["checks"].as_array().unwrap() {
                if c["status"] == "failed" {
                    how.push(without_digits(&format!(
                        "check failed: {}: {}",
                        c["check"].as_str().unwrap(),
                        c["message"].as_str().unwrap()
                    )));
                }
            }
            Some((killed, how, s))
        };
        let (said_killed, said_how) = (
            m["killed"].as_bool().unwrap(),
            without_digits(m["how"].as_str().unwrap_or("")),
        );
        // In the two lessons whose probes leave traces, the lesson's own run has judged every
        // step before it too (the before-rule), and its probes left what a ping then meets
        // with other words (no answer, where alone a router reports the destination
        // unreachable): there, the verdict alone is compared.
        let words = !(file == redirect || file == neighbour) || m["shared_jail"] == true;
        let agrees = |got: &(bool, Vec<String>, serde_json::Value)| {
            got.0 == said_killed && (!words || got.1.contains(&said_how))
        };
        let Some(mut got) = own() else { continue };
        // A second look before a disagreement is one: the file's own run is timed by a busy
        // machine too (once in many runs it answered otherwise, and was not seen again).
        if !agrees(&got) {
            got = own().unwrap();
        }
        assert!(agrees(&got), "{m}\nits own jail: {}", got.2);
        compared += 1;
    }
    // Those not compared: a line that makes what a later step's check names, in a step
    // without a check block (the checks made from its lines; 13 of 132 when this was written).
    assert!(
        compared >= 100 && compared * 10 >= shared.len() * 8,
        "compared {compared} of {}",
        shared.len()
    );
}

/// On the machine itself (--no-sandbox), a step that outlasts its bound ends its worker:
/// SIGTERM first, so that it can reset the lesson. A worker that cannot (stopped, here by the
/// lesson's own line) is killed at once, not after the reset's half minute, and the report
/// says that `nslab reset` removes what it made; which it then does, and only that.
#[test]
fn without_a_sandbox_a_stopped_worker_is_ended_and_reset_cleans_up() {
    let scratch = Scratch::new("stopped-worker");
    let lesson = scratch.lab(
        "stops-its-worker",
        "## Make one\n\n```sh\nip netns add made\n```\n\n\
         ## Stop the worker\n\n```sh\nfor p in $(pgrep -f 'verify --worker'); do kill -STOP $p; done\n```\n\n\
         ```check\nnot netns made exists\n```\n\n## Clean up\n\n```sh\nip netns del made\n```\n",
    );
    let (text, err, took) = on_the_host(
        &scratch,
        &lesson,
        "",
        &format!(
            "{} reset -y {lesson} >/dev/null; echo '#AFTER'; ls /run/netns",
            env!("CARGO_BIN_EXE_nslab")
        ),
    );
    assert!(text.contains("exit 1"), "{text}\n{err}");
    assert!(
        text.contains("a step took longer than the")
            && text.contains(&format!("`nslab reset {lesson}` removes what it made")),
        "{text}\n{err}"
    );
    // The step's bound (about 25 s with one-second line limits), and not the half minute more
    // that a worker able to reset the lesson gets.
    assert!(took < 45, "took {took} s\n{text}");
    // The steps it did not reach are counted as not verified.
    assert!(text.contains("1/3 steps verified"), "{text}");
    let (_, rest) = text.split_once("#NETNS").unwrap();
    let (during, after) = rest.split_once("#AFTER").unwrap();
    let names = |s: &str| {
        let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(during), ["made", "mine"], "{text}");
    assert_eq!(names(after), ["mine"], "{text}");
}

/// Runs `nslab verify --no-sandbox ARGS LESSON` in a network, mount and pid namespace of its
/// own, with a namespace `mine` there before, one-second line limits and HOME in `scratch`;
/// then prints `#NETNS` and the namespaces left, then runs `after`. Gives standard output
/// (with `exit N` where verify failed), standard error, and the seconds verify took.
fn on_the_host(scratch: &Scratch, lesson: &str, args: &str, after: &str) -> (String, String, u64) {
    let script = format!(
        "set -e; mount --make-rprivate /; mount -t tmpfs none /run; mkdir /run/netns; ip link set lo up; \
         export HOME={home} XDG_STATE_HOME={home}/state NSLAB_LINE_TIMEOUT=1; ip netns add mine; \
         s=$(date +%s); {nslab} verify --no-sandbox {args} {lesson} || echo \"exit $?\"; \
         echo \"took $(( $(date +%s) - s ))\"; echo '#NETNS'; ls /run/netns; {after}",
        home = scratch.0.display(),
        nslab = env!("CARGO_BIN_EXE_nslab"),
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--net", "--pid", "--fork", "--mount-proc"])
        .args(["sh", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}\n{err}");
    let took = text
        .split("\ntook ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{text}\n{err}"));
    (text, err, took)
}

/// On the machine itself (--no-sandbox), a lesson past its time in all (`--timeout`) is told
/// to stop (SIGTERM), and its worker resets it: what it made is gone, what was there before
/// stays, and nothing it started in the background outlives the run.
#[test]
fn without_a_sandbox_a_lesson_past_its_time_is_reset() {
    let scratch = Scratch::new("slow-host");
    let waits: String = (1..=6)
        .map(|i| format!("## Wait {i}\n\n```sh\nsleep 0.8\n```\n\n"))
        .collect();
    let lesson = scratch.lab(
        "slow-on-host",
        &format!(
            "## Make one\n\n```sh\nip netns add made\nsetsid sleep 1077 > /dev/null 2>&1 &\n```\n\n\
             ```check\nnetns made exists\n```\n\n{waits}## Clean up\n\n```sh\nip netns del made\n```\n"
        ),
    );
    let (text, err, took) = on_the_host(
        &scratch,
        &lesson,
        "--timeout 2",
        "echo '#PROCS'; pgrep -a -x sleep || true; echo '#END'",
    );
    assert!(text.contains("exit 1"), "{text}\n{err}");
    assert!(
        text.contains("slow-on-host took longer than the 2 s one lesson may take in all (--timeout): it was ended in step "),
        "{text}\n{err}"
    );
    // Not reset: no line of the lesson says where to go from here.
    assert!(!text.contains("nslab reset"), "{text}\n{err}");
    // Six steps of 0.8 s would take 5 s at least.
    assert!(took <= 4, "took {took} s\n{text}");
    let (_, rest) = text.split_once("#NETNS").unwrap();
    let (netns, rest) = rest.split_once("#PROCS").unwrap();
    let (procs, _) = rest.split_once("#END").unwrap();
    assert_eq!(
        netns.split_whitespace().collect::<Vec<_>>(),
        ["mine"],
        "{text}"
    );
    assert_eq!(procs.trim(), "", "{text}");
}

/// A flush whose only filters are a table, a link and a family takes every route they name,
/// and no other: without `-6`, `ip route flush table 100` takes only the table's IPv4 routes.
/// A neighbour flush takes the states it names: without `nud`, not the permanent and noarp
/// entries; `nud all` not the noarp ones.
/// The fixture's steps have no check block; their derived checks say what is gone,
/// each step proves them false before it and true after it on the real kernel, and the
/// mutant without each flush is killed (before, a flush left its routes in doubt, and its
/// mutant survived).
#[test]
fn a_flush_step_is_checked_for_the_routes_it_takes() {
    let fixture = "tests/fixtures/mutate/flush.md";
    let out = nslab(&["verify", "--format", "json", fixture]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    let checks = |step: usize| step_checks(&report, step);
    assert_eq!(
        checks(1),
        [
            "not route 198.51.100.0/24 via 192.0.2.254 dev d0 table 100 in fl",
            "not route 203.0.113.0/24 dev d0 table 100 in fl"
        ]
    );
    assert_eq!(
        checks(2),
        ["not route 2001:db8:5::/48 via 2001:db8::2 dev d0 table 100 in fl"]
    );
    assert_eq!(
        checks(3),
        [
            "not neigh 192.0.2.8 on d0 in fl",
            "not neigh 192.0.2.10 on d0 in fl"
        ]
    );
    assert_eq!(checks(4), ["not neigh 192.0.2.7 on d0 in fl"]);
    assert_eq!(checks(5), ["not neigh 192.0.2.9 on d0 in fl"]);
    let out = nslab(&["verify", "--mutate", fixture]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("mutation score: 100.0% (19 of 19 mutants killed)"),
        "{text}"
    );
}

/// Links made on another go with it as the kernel decides: a vxlan made on `dev DEV` when DEV
/// is deleted or moves to another namespace, a macvtap with the other end of a deleted veth;
/// a macvlan stays when its lower device moves. The fixture's checks are derived; the kernel
/// proves each false before its step and true after it (before, the vxlans and the macvtap
/// were expected to stay, and a correct lesson failed: found by a lesson author).
#[test]
fn links_made_on_a_link_go_with_it_as_the_kernel_says() {
    let fixture = "tests/fixtures/lower-devices.md";
    let out = nslab(&["verify", "--format", "json", fixture]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    let checks: Vec<&str> = report["lessons"][0]["steps"][2]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for gone in ["mvt", "vx1", "vx2", "u1"] {
        assert!(
            checks.contains(&format!("link {gone} in p absent").as_str()),
            "{checks:?}"
        );
    }
    assert!(
        checks.iter().all(|c| !c.starts_with("link mv ")),
        "{checks:?}"
    );
}

/// Tables and protocols by their names in /etc/iproute2 (rt_tables.d, rt_protos), as ip reads
/// them: the lines are read with the machine's names (before, lint refused `table custom`,
/// and a flush of it was taken for a flush of main). Run where /etc/iproute2 is a tmpfs of
/// the test's own, in a mount namespace of its own.
#[test]
fn tables_and_protocols_by_name_are_read_from_the_machines_databases() {
    // A mount namespace of its own (verify builds its jail from it, as root or not).
    let root = is_root();
    let mut args = vec!["--mount", "--fork"];
    if !root {
        args.push("--map-root-user");
    }
    let script = format!(
        "mount -t tmpfs nslab-iproute2 /etc/iproute2 && mkdir /etc/iproute2/rt_tables.d && \
         echo '100 custom' > /etc/iproute2/rt_tables.d/lab.conf && \
         printf '# protocols\\n99\\topenr\\n' > /etc/iproute2/rt_protos && \
         exec {} verify --format json tests/fixtures/named-tables.md",
        env!("CARGO_BIN_EXE_nslab")
    );
    let out = std::process::Command::new("unshare")
        .args(&args)
        .args(["sh", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(report["lessons"][0]["passed"], true, "{report}");
    let checks = |step: usize| step_checks(&report, step);
    assert!(
        checks(0).contains(&"route 10.8.0.0/24 dev d0 table 100 in p".to_string()),
        "{:?}",
        checks(0)
    );
    assert_eq!(checks(1), ["not route 10.8.0.0/24 dev d0 table 100 in p"]);
}

/// Derived checks on the kernel: the next hops of an IPv6 default route each by its gateway,
/// added or deleted (before, `route default metric 1024`, which a check reads in the IPv4
/// table, failed a correct lesson); a flush by link leaves a multipath route; a shadowed IPv4
/// route said gone with its metric; an MTU set below 1280 and back in one step is no change
/// (before, a derived `mtu 1500` was "already true before the step", a defect blamed on the
/// author). Found by two lesson authors and a reviewer.
#[test]
fn derived_checks_say_an_ipv6_default_by_its_gateways_and_an_mtu_that_came_back_not_at_all() {
    let fixture = "tests/fixtures/ipv6-default-and-mtu.md";
    let out = nslab(&["verify", "--format", "json", fixture]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    let checks = |step: usize| step_checks(&report, step);
    assert_eq!(
        checks(1),
        [
            "route default via 2001:db8:1::9 metric 1024 in p",
            "route default via 2001:db8:2::9 metric 1024 in p"
        ]
    );
    // One gateway of the two deleted: it is gone, the other was there before.
    assert_eq!(
        checks(3),
        ["not route default via 2001:db8:1::9 metric 1024 in p"]
    );
    // Two IPv4 routes of one destination gone: the shadowed one said with its metric (without
    // it, the check means the route in use, and held before the step).
    assert_eq!(
        checks(5),
        [
            "not route 10.3.0.0/16 via 10.0.0.2 dev x0 metric 0 in p",
            "not route 10.3.0.0/16 via 10.0.0.3 dev x0 metric 0 in p"
        ]
    );
    assert_eq!(checks(6), ["not addr 2001:db8:2::1/64 on y0 in p"]);
}

/// A step's hidden setup that deletes a namespace leaves its teardown to the kernel, as a
/// step's lines do: the before-rule waits for it. It judged the step's check at once, saw the
/// veth peer still there, and called a correct lesson's check true before its step.
#[test]
fn the_before_rule_waits_for_a_teardown_the_setup_started() {
    let scratch = Scratch::new("setup-teardown");
    let file = scratch.lab(
        "setup-teardown",
        "## Lab\n\n```sh\nip netns add blue\nip netns add red\n\
         ip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
         ```check\nlink veth1 in red exists\n```\n\n\
         ## The cable is gone: lay it again\n\n```setup\nip netns del blue\n```\n\n\
         ```sh\nip netns add blue\nip link add veth0 netns blue type veth peer name veth1 netns red\n```\n\n\
         ```check\nlink veth1 in red exists\n```\n\n\
         ## Clean up\n\n```sh\nip netns del blue\nip netns del red\n```\n",
    );
    passes(&file, 3);
}

/// What the kernel still owes when a step begins makes checks true without the step: verify
/// lets it finish before it judges the step's checks for the before-rule, so that a check the
/// step does not make true is seen true before it (a defect), not made true by it. IPv6
/// duplicate address detection of the addresses an earlier step added (an IPv6 ping, an
/// address check), the teardown of a namespace an earlier step deleted (its veth peer), a
/// server an earlier step started that is not listening yet (the check failed before and
/// passed after, or, judged before the server was up, failed after: both by chance).
#[test]
fn the_before_rule_waits_for_what_the_kernel_still_owes() {
    let scratch = Scratch::new("owed-before");
    let cable = "## Cable\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fd00:d::1/64 dev va\nip -n b address add fd00:d::2/64 dev vb\n```\n\n\
         ```check\nlink vb in b up\n```\n\n";
    let end = "## Clean up\n\n```sh\nip netns del a\nip -all netns delete\n```\n";
    let cases = [
        (
            "owed-ping6",
            format!(
                "{cable}## Loopback\n\n```sh\nip -n a link set lo up\n```\n\n```check\n\
                 link lo in a up\nsh in a (a reaches b over IPv6): ping -6 -c 1 -W 1 fd00:d::2\n```\n\n{end}"
            ),
            "sh in a",
        ),
        (
            "owed-addr6",
            format!(
                "{cable}## Loopback\n\n```sh\nip -n a link set lo up\n```\n\n```check\n\
                 link lo in a up\naddr fd00:d::1/64 on va in a\n```\n\n{end}"
            ),
            "addr fd00:d::1/64",
        ),
        (
            "owed-teardown",
            format!(
                "{cable}## Delete b\n\n```sh\nip netns del b\n```\n\n```check\nnetns b absent\n```\n\n\
                 ## Loopback\n\n```sh\nip -n a link set lo up\n```\n\n```check\n\
                 link lo in a up\nlink va in a absent\n```\n\n{end}"
            ),
            "link va in a absent",
        ),
        (
            "owed-start",
            "## A server\n\n```sh\nip netns add a\nip -n a link set lo up\n\
             ip netns exec a python3 -m http.server 8080 --bind 127.0.0.1 &\n```\n\n\
             ```check\nprocess python3 in another netns\n```\n\n\
             ## A cable\n\n```sh\nip -n a link add v0 type veth peer name v1\n```\n\n```check\n\
             link v0 in a exists\nsh in a (the server answers): python3 -c 'import socket; \
             socket.create_connection((\"127.0.0.1\", 8080), 1)'\n```\n\n\
             ## Clean up\n\n```sh\npkill -x python3\nip netns del a\n```\n"
                .to_string(),
            "sh in a",
        ),
    ];
    for (id, body, culprit) in cases {
        let file = scratch.lab(id, &body);
        let out = nslab(&["verify", "--format", "json", &file]);
        let r = json(&out);
        assert_eq!(out.status.code(), Some(1), "{id}: {r}");
        let steps = r["lessons"][0]["steps"].as_array().unwrap();
        let step = &steps[steps.len() - 2];
        assert_eq!(step["status"], "defect", "{id}: {r}");
        let check = step["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"].as_str().unwrap().starts_with(culprit))
            .unwrap();
        assert_eq!(check["status"], "defect", "{id}: {r}");
    }
}

/// The before-rule waits for a program an earlier step started while it is still starting,
/// not for one that stays busy: `yes > /dev/null &` is at work for good, and the step after it
/// waited the whole settle bound (10 s) before its checks were judged.
#[test]
fn the_before_rule_does_not_wait_for_a_program_that_stays_busy() {
    let scratch = Scratch::new("busy-before");
    let body = "## Busy\n\n```sh\nip netns add a\nip netns exec a yes > /dev/null &\n```\n\n\
         ```check\nsh in a (yes runs): pgrep -x yes\n```\n\n\
         ## Loopback\n\n```sh\nip -n a link set lo up\n```\n\n```check\nlink lo in a up\n\
         sh in a (lo answers): ping -c 1 -W 1 127.0.0.1\n```\n\n\
         ## Clean up\n\n```sh\npkill -x yes\nip netns del a\n```\n\n```check\nnetns a absent\n```\n";
    let file = scratch.lab("busy-before", body);
    let began = std::time::Instant::now();
    let out = nslab(&["verify", "--format", "json", &file]);
    let took = began.elapsed();
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert!(
        took < std::time::Duration::from_secs(6),
        "verify took {took:?}: the before-rule waited for the busy program"
    );
}

/// A step that deletes a namespace and makes the cable to it again at once (the case the
/// lines wait for) leaves a veth end of the same name that is another link: the before-rule of
/// the next step took it for the old end, whose teardown was still owed, and waited the whole
/// settle bound (10 s) for it to go.
#[test]
fn the_before_rule_does_not_wait_for_a_cable_made_again() {
    let scratch = Scratch::new("recable-before");
    let body = "## Web\n\n```sh\nip netns add web\n\
         ip link add veth-web type veth peer name eth0 netns web\nip link set veth-web up\n```\n\n\
         ```check\nlink eth0 in web exists\n```\n\n\
         ## Web again\n\n```sh\nip netns del web\nip netns add web\n\
         ip link add veth-web type veth peer name eth0 netns web\n```\n\n\
         ```check\nlink veth-web is down\n```\n\n\
         ## Up\n\n```sh\nip -n web link set eth0 up\n```\n\n```check\nlink eth0 in web is up\n```\n\n\
         ## Clean up\n\n```sh\nip netns del web\n```\n\n```check\nnetns web absent\n```\n";
    let file = scratch.lab("recable-before", body);
    let began = std::time::Instant::now();
    let out = nslab(&["verify", "--format", "json", &file]);
    let took = began.elapsed();
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert!(
        took < std::time::Duration::from_secs(6),
        "verify took {took:?}: the before-rule waited for the new cable to go"
    );
}

/// A ping of an IPv6 address with its zone (`fe80::2%va`, no `-6`: iputils takes the address
/// and the interface) is an IPv6 ping: the line, and a shell check that runs one, wait for
/// duplicate address detection of the link-local addresses, as a student typing it a moment
/// later would never meet it (nslab read it as a host name, and the ping failed).
#[test]
fn a_ping_of_a_zoned_ipv6_address_is_an_ipv6_ping() {
    let scratch = Scratch::new("zoned");
    let cable = "## Cable\n\n```sh\n\
         ip netns add a\nip netns add b\nip link add va netns a type veth peer name vb netns b\n\
         ip -n a link set va up\nip -n b link set vb up\n\
         ip -n a address add fe80::1/64 dev va\nip -n b address add fe80::2/64 dev vb\n```\n\n";
    let end = "## Clean up\n\n```sh\nip netns del a\nip netns del b\n```\n";
    let line = scratch.lab(
        "zoned-line",
        &format!(
            "{cable}```check\nlink vb in b up\n```\n\n## Ping the link-local address\n\n\
             ```sh\nip netns exec a ping -c 1 -W 1 fe80::2%va\n```\n\n{end}"
        ),
    );
    passes(&line, 1);
    let check = scratch.lab(
        "zoned-check",
        &format!(
            "{cable}```check\nlink vb in b up\n\
             sh in a (a reaches b's link-local address): ping -c 1 -W 1 fe80::2%va\n```\n\n{end}"
        ),
    );
    passes(&check, 1);
}

/// An IPv6 address that failed duplicate address detection names the holder on its own link
/// (the veth's other end), not the first namespace that has the address on a link of its own
/// (c, on another cable, came first and was named).
#[test]
fn a_failed_ipv6_address_names_the_holder_on_its_link() {
    let scratch = Scratch::new("dad-link");
    let file = scratch.lab(
        "dad-link",
        "## Two cables\n\n```sh\n\
         ip netns add c\nip netns add d\nip netns add x\nip netns add y\n\
         ip link add vc netns c type veth peer name vd netns d\n\
         ip -n c link set vc up\nip -n d link set vd up\n\
         ip -n c address add fd00:d::1/64 dev vc nodad\n\
         ip link add vx netns x type veth peer name vy netns y\n\
         ip -n x link set vx up\nip -n y link set vy up\n\
         ip -n x address add fd00:d::1/64 dev vx nodad\nip -n y address add fd00:d::1/64 dev vy\n```\n\n\
         ```check\naddr fd00:d::1/64 on vy in y\n```\n\n\
         ## Clean up\n\n```sh\nip -all netns delete\n```\n",
    );
    let (_, message) = failed_check(&file, 0, 0);
    assert!(message.contains("dadfailed"), "{message}");
    assert!(message.contains("also on vx in x"), "{message}");
    assert!(!message.contains("vc in c"), "{message}");
    // Across a bridge: the holder is the host on the bridge's other port.
    let file = scratch.lab(
        "dad-bridge",
        "## A switch\n\n```sh\n\
         ip netns add c\nip netns add d\nip netns add s\nip netns add x\nip netns add y\n\
         ip link add vc netns c type veth peer name vd netns d\n\
         ip -n c link set vc up\nip -n d link set vd up\n\
         ip -n c address add fd00:d::1/64 dev vc nodad\n\
         ip -n s link add br0 type bridge\nip -n s link set br0 up\n\
         ip link add px netns s type veth peer name vx netns x\n\
         ip link add py netns s type veth peer name vy netns y\n\
         ip -n s link set px master br0\nip -n s link set py master br0\n\
         ip -n s link set px up\nip -n s link set py up\n\
         ip -n x link set vx up\nip -n y link set vy up\n\
         ip -n x address add fd00:d::1/64 dev vx nodad\nip -n y address add fd00:d::1/64 dev vy\n```\n\n\
         ```check\naddr fd00:d::1/64 on vy in y\n```\n\n\
         ## Clean up\n\n```sh\nip -all netns delete\n```\n",
    );
    let (_, message) = failed_check(&file, 0, 0);
    assert!(message.contains("also on vx in x"), "{message}");
}

/// `link L in NS absent` holds where NS is not there, as the format says; the message says
/// that NS is not there, and not that L went with it (said of a namespace the step had not
/// made yet, judged before the step: "netns red is gone, and veth1 with it").
#[test]
fn a_link_absent_from_a_namespace_that_is_not_there_says_so() {
    let scratch = Scratch::new("absent-ns");
    let file = scratch.lab(
        "absent-ns",
        "## Made and moved\n\n```sh\n\
         ip netns add blue\nip netns add red\n\
         ip -n red link add veth1 type veth peer name veth2\nip -n red link set veth1 netns blue\n```\n\n\
         ```check\nlink veth1 in blue exists\nlink veth1 in red absent\n```\n\n\
         ## Clean up\n\n```sh\nip -all netns delete\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    let first = &r["lessons"][0]["steps"][0]["checks"][1];
    assert_eq!(first["status"], "defect", "{r}");
    let message = first["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("there is no namespace red (so no veth1 in it)"),
        "{message}"
    );
    let file = scratch.lab(
        "absent-ns-gone",
        "## A cable\n\n```sh\n\
         ip netns add blue\nip netns add red\nip -n red link add veth2 type veth peer name veth1 netns blue\n```\n\n\
         ## Red goes\n\n```sh\nip netns del red\n```\n\n```check\nnetns red absent\n\
         link veth1 in blue absent\nlink veth2 in red absent\n```\n\n\
         ## Clean up\n\n```sh\nip netns del blue\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    let second = &r["lessons"][0]["steps"][1]["checks"][2];
    assert_eq!(second["status"], "passed", "{r}");
    let message = second["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("there is no namespace red (so no veth2 in it)"),
        "{message}"
    );
    // Each container has its own eth0: c2's is not named as c1's moved on (found by a
    // reviewer: "; eth0 is in c2").
    let file = scratch.lab(
        "absent-ns-own",
        "## Two containers\n\n```sh\n\
         ip netns add c1\nip netns add c2\n\
         ip link add v1 type veth peer name eth0 netns c1\nip link add v2 type veth peer name eth0 netns c2\n```\n\n\
         ## c1 goes\n\n```sh\nip netns del c1\n```\n\n```check\nnetns c1 absent\nlink eth0 in c1 absent\n```\n\n\
         ## Clean up\n\n```sh\nip netns del c2\n```\n",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    let third = &r["lessons"][0]["steps"][1]["checks"][1];
    assert_eq!(third["status"], "passed", "{r}");
    let message = third["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("there is no namespace c1 (so no eth0 in it)"),
        "{message}"
    );
    assert!(!message.contains("c2"), "{message}");
}

/// Setting a link's MAC address, even to the one it has, flushes the link's neighbour entries
/// (IPv4 and IPv6, permanent ones too; the other links' stay): a lesson that pins a neighbour
/// and then sets the card's address verifies, with no derived check expecting the entry.
#[test]
fn a_mac_address_set_flushes_the_links_neighbours() {
    let out = sandboxed(
        "ip link add e0 type veth peer name e1 && ip link set e0 up && ip link set e1 up && \
         ip addr add 10.20.0.1/24 dev e0 && \
         ip neigh add 10.20.0.9 lladdr 02:00:00:00:20:09 dev e0 nud permanent && \
         ip -6 neigh add fd20::9 lladdr 02:00:00:00:20:09 dev e0 nud permanent && \
         ip neigh add 10.20.0.8 lladdr 02:00:00:00:20:08 dev e1 nud permanent && \
         ip link set e0 address \"$(ip -j link show e0 | sed 's/.*\"address\":\"\\([^\"]*\\)\".*/\\1/')\" && \
         echo \"#SAME $(ip -j neigh show dev e0)\" && \
         ip neigh add 10.20.0.9 lladdr 02:00:00:00:20:09 dev e0 nud permanent && \
         ip link set e0 address 02:00:00:00:20:01 && \
         echo \"#OTHER $(ip -j neigh show dev e0)\" && \
         echo \"#E1 $(ip -j neigh show dev e1)\"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |tag: &str| -> serde_json::Value {
        let line = text.lines().find(|l| l.starts_with(tag)).expect(tag);
        serde_json::from_str(line[tag.len()..].trim()).unwrap()
    };
    assert_eq!(field("#SAME "), serde_json::json!([]), "{text}");
    assert_eq!(field("#OTHER "), serde_json::json!([]), "{text}");
    assert_eq!(field("#E1 ")[0]["dst"], "10.20.0.8", "{text}");

    let s = Scratch::new("mac-flush");
    let f = s.lab(
        "mac-flush",
        "## Build\n\n```sh\nip netns add k\nip -n k link add e0 type veth peer name e1\n\
         ip -n k link set e0 up\nip -n k addr add 10.20.0.1/24 dev e0\n```\n\n\
         ## Pin neighbours, then set the card's address\n\n```sh\n\
         ip -n k neigh add 10.20.0.9 lladdr 02:00:00:00:20:09 dev e0 nud permanent\n\
         ip -n k -6 neigh add fd20::9 lladdr 02:00:00:00:20:09 dev e0\n\
         ip -n k neigh add 10.20.0.8 lladdr 02:00:00:00:20:08 dev e1\n\
         ip -n k link set e0 address 02:00:00:00:20:01\n```\n\n\
         ## Clean up\n\n```sh\nip netns del k\n```\n",
    );
    passes(&f, 1);
}

/// `bridge fdb add MAC dev PORT` without `master` writes the port's own table (the kernel dumps
/// the entry without a bridge): the check of the bridge's table fails and names that slip, with
/// the command that puts the address in the bridge's table.
#[test]
fn an_fdb_entry_in_the_ports_own_table_is_named() {
    let scratch = Scratch::new("fdb-self");
    let file = scratch.lab(
        "fdb-self",
        "## A bridge and a port\n\n```sh\nip netns add sw\nip -n sw link add br0 type bridge\n\
         ip -n sw link add p1 type veth peer name q1\nip -n sw link set p1 master br0\n```\n\n\
         ## A static entry, written to the wrong table\n\n```sh\n\
         bridge -n sw fdb add 02:00:00:00:01:01 dev p1\n```\n\n\
         ```check\nfdb on p1 in sw has 02:00:00:00:01:01\n```\n\n\
         ## Clean up\n\n```sh\nip netns del sw\n```\n",
    );
    let (_, message) = failed_check(&file, 1, 0);
    assert!(message.contains("p1's own table"), "{message}");
    assert!(
        message.contains("Try: bridge -n sw fdb add 02:00:00:00:01:01 dev p1 master static"),
        "{message}"
    );
}

/// A ping the namespace's own routing or firewall refuses to send (a blackhole, unreachable or
/// prohibit route, a prohibit rule, an OUTPUT rule that drops it) is the lab's state, said as
/// such: it said "nslab could not ping: Permission denied" (a prohibit route or rule, a
/// firewall) and "a has no route" (a blackhole route), and a lesson's own `ping` line there
/// failed as nslab's error (found by a fresh-eyes author of a troubleshooting lesson).
#[test]
fn a_ping_the_namespace_refuses_to_send_says_why() {
    let scratch = Scratch::new("refused-ping");
    let file = scratch.lab(
        "refused",
        "## Refused

```setup
ip netns add a
ip -n a link set lo up
ip -n a address add 10.9.1.1/24 dev lo
ip -n a route add blackhole 10.9.2.0/24
ip -n a route add prohibit 10.9.3.0/24
ip -n a route add unreachable 10.9.4.0/24
ip -n a rule add to 10.9.5.0/24 prohibit
ip netns exec a iptables -A OUTPUT -d 10.9.6.0/24 -j DROP
ip -n a route add 10.9.6.0/24 dev lo
```

```sh
ip netns exec a ping -c 1 10.9.3.1   # [fails]
ip netns exec a ping -c 1 10.9.6.1   # [fails]
```

```check
ping 10.9.2.1 from a
ping 10.9.3.1 from a
ping 10.9.4.1 from a
ping 10.9.5.1 from a
ping 10.9.6.1 from a
```
",
    );
    let out = nslab(&["verify", "--format", "json", &file]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let step = &r["lessons"][0]["steps"][0];
    // The lines ran, and failed as the lesson says they do: only the checks fail.
    assert_eq!(step["status"], "failed", "{r}");
    let said: Vec<(String, String)> = step["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["found"].as_str().unwrap_or_default().to_string(),
                c["try"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        (
            "Invalid argument: the route a takes to 10.9.2.1 is `blackhole 10.9.2.0/24`, which sends nothing",
            "ip -n a route del blackhole 10.9.2.0/24",
        ),
        (
            "Permission denied: the route a takes to 10.9.3.1 is `prohibit 10.9.3.0/24`, which sends nothing",
            "ip -n a route del prohibit 10.9.3.0/24",
        ),
        (
            "No route to host: the route a takes to 10.9.4.1 is `unreachable 10.9.4.0/24`, which sends nothing",
            "ip -n a route del unreachable 10.9.4.0/24",
        ),
        (
            "Permission denied: a may not send to 10.9.5.1 (a prohibit rule, or a broadcast address)",
            "ip -n a rule",
        ),
        (
            "Operation not permitted: a firewall rule in a drops the echo request on its way out",
            "ip netns exec a iptables -S OUTPUT",
        ),
    ];
    for (i, (found, fix)) in want.iter().enumerate() {
        assert_eq!(said[i].0, *found, "{r}");
        assert_eq!(said[i].1, *fix, "{r}");
    }
    for c in step["checks"].as_array().unwrap() {
        assert!(
            !c["found"]
                .as_str()
                .unwrap_or_default()
                .contains("could not"),
            "{r}"
        );
    }
    // A lesson that pings there, expecting the ping to fail, passes: the ping it derives
    // (`pinged ... unanswered`) counts the refused attempt.
    let fails = scratch.lab(
        "refused-line",
        "## Build\n\n```sh\nip netns add a\nip -n a link set lo up\n\
         ip -n a address add 10.9.1.1/24 dev lo\nip -n a route add prohibit 10.9.3.0/24\n```\n\n\
         ## Refused\n\n```sh\nip netns exec a ping -c 1 10.9.3.1   # [fails]\n```\n\n\
         ## Clean up\n\n```sh\nip netns del a\n```\n",
    );
    passes(&fails, 1);
}
