//! End-to-end tests of the progress file as `nslab list` reads it, of `nslab list --format json`
//! and of `nslab class report`. Each test runs the binary with HOME and XDG_STATE_HOME in a
//! temporary folder of its own; nothing here touches the kernel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// A temporary folder for one test, removed at the end.
struct Sandbox(PathBuf);

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let d =
            std::env::temp_dir().join(format!("nslab-e2e-progress-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("home")).unwrap();
        Sandbox(d)
    }

    fn state(&self) -> PathBuf {
        self.0.join("state")
    }

    fn progress_file(&self) -> PathBuf {
        self.state().join("nslab/progress.json")
    }

    fn write_progress(&self, text: &str) {
        std::fs::create_dir_all(self.state().join("nslab")).unwrap();
        std::fs::write(self.progress_file(), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nslab"));
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .env("HOME", self.0.join("home"))
            .env("XDG_STATE_HOME", self.state())
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE")
            .env_remove("NSLAB_LESSONS")
            .stdin(Stdio::null());
        c
    }

    /// Runs nslab, and fails the test if it takes more than 20 seconds (a hang).
    fn run(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("nslab {args:?} hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// The names in a folder, sorted.
    fn names(&self, dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn list_json(sb: &Sandbox) -> Value {
    let o = sb.run(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The lesson with this id in a list JSON.
fn lesson<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap()
}

fn states(lesson: &Value) -> Vec<Value> {
    lesson["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].clone())
        .collect()
}

/// The veth lab at step 4 for `secs`, its steps verified, performed and skipped; the
/// namespaces lesson finished.
fn progress_v2(secs: u64) -> String {
    json!({
        "version": 2,
        "current": "veth-lab",
        "lessons": {
            "veth-lab": {
                "step": 4,
                "since": now() - secs,
                "finished": null,
                "steps": { "1": "verified", "2": "performed", "3": "skipped" },
                "sysctls": {}
            },
            "namespaces": {
                "step": 10,
                "since": 1_000,
                "finished": 1_000,
                "steps": { "1": "verified", "2": "verified" },
                "sysctls": {}
            }
        }
    })
    .to_string()
}

#[test]
fn list_without_progress_shows_the_lessons_and_writes_nothing() {
    let sb = Sandbox::new("empty");
    let o = sb.run(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("1. namespaces  Linux namespaces"), "{out}");
    assert!(out.contains("2. veth-lab"), "{out}");
    assert!(!out.contains("you are here"), "{out}");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert!(
        !sb.state().exists(),
        "list created {}",
        sb.state().display()
    );
}

#[test]
fn list_shows_each_state_and_the_current_step() {
    let sb = Sandbox::new("states");
    sb.write_progress(&progress_v2(12 * 60 + 5));
    let o = sb.run(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |start: &str| {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{out}"))
            .to_string()
    };
    assert_eq!(
        line("2. veth-lab"),
        "2. veth-lab  Connect two namespaces with a veth pair (20 min)  [at step 4 of 9 for 12 min: 1 verified, 1 performed, 1 skipped]"
    );
    assert_eq!(line("  ✓  1."), "  ✓  1. Find your shell's namespaces");
    assert_eq!(
        line("  ▶  2."),
        "  ▶  2. Create the blue and red namespaces"
    );
    assert_eq!(line("  ↷  3."), "  ↷  3. Create a veth pair");
    assert_eq!(
        line("     4. Move"),
        "     4. Move one end into each namespace  ← you are here"
    );
    assert!(out.contains("[finished: 2 verified]"), "{out}");
    assert!(out.contains("✓ verified (your commands)"), "{out}");
    assert_eq!(out.matches("you are here").count(), 1, "{out}");
}

#[test]
fn list_json_names_the_machine_and_each_lesson_s_progress() {
    let sb = Sandbox::new("json");
    let written = now();
    sb.write_progress(&progress_v2(600));
    let (before, list, after) = (now(), list_json(&sb), now());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(list["version"], 1);
    assert_eq!(list["hostname"], host.trim());
    assert!(list["user"].as_str().is_some_and(|u| !u.is_empty()));
    let generated = list["generated"].as_u64().unwrap();
    assert!((before..=after).contains(&generated));
    assert_eq!(
        list["progress_file"],
        sb.progress_file().display().to_string()
    );
    assert_eq!(list["current_lesson"], "veth-lab");
    assert_eq!(list["warnings"], json!([]));
    let ids: Vec<&str> = list["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "namespaces",
            "veth-lab",
            "bridges",
            "routing",
            "containers",
            "troubleshooting"
        ]
    );

    let veth = lesson(&list, "veth-lab");
    assert_eq!(veth["title"], "Connect two namespaces with a veth pair");
    assert_eq!(veth["file"], "lessons/02-veth.md");
    assert_eq!(veth["step_count"], 9);
    assert_eq!(veth["started"], true);
    assert_eq!(veth["current_step"], 4);
    // Written 600 s before the file was (a second may have begun since).
    let since = veth["since"].as_u64().unwrap();
    assert!(
        (written - 600..=before - 600).contains(&since),
        "since {since}"
    );
    assert_eq!(veth["finished"], false);
    assert_eq!(veth["steps"][3]["index"], 4);
    assert_eq!(
        veth["steps"][3]["title"],
        "Move one end into each namespace"
    );
    let s = states(veth);
    assert_eq!(
        s[..4],
        [
            json!("verified"),
            json!("performed"),
            json!("skipped"),
            Value::Null
        ]
    );

    let ns = lesson(&list, "namespaces");
    assert_eq!(
        (&ns["finished"], &ns["finished_at"]),
        (&json!(true), &json!(1000))
    );
    assert_eq!(ns["current_step"], Value::Null, "past the last step");
    let routing = lesson(&list, "routing");
    assert_eq!(routing["started"], false);
    assert_eq!(routing["current_step"], Value::Null);
    assert!(states(routing).iter().all(Value::is_null));
}

#[test]
fn a_version_1_file_is_read_and_left_as_it_is() {
    let sb = Sandbox::new("v1");
    let text = r#"{"current":"routing","lessons":{
        "routing":{"step":3,"verified":[1],"skipped":[2],"done":false,"sysctls":{"root net.ipv4.ip_forward":"0"}},
        "veth-lab":{"step":10,"verified":[1,2,3,4,5,6,7,8,9],"skipped":[],"done":true,"sysctls":{}}}}"#;
    sb.write_progress(text);
    let list = list_json(&sb);
    let routing = lesson(&list, "routing");
    assert_eq!(routing["current_step"], 3);
    assert_eq!(
        states(routing)[..3],
        [json!("verified"), json!("skipped"), Value::Null]
    );
    let veth = lesson(&list, "veth-lab");
    assert_eq!(veth["finished"], true);
    assert!(states(veth).iter().all(|s| s == "verified"));
    // list only reads: the file is upgraded by the first change, not by a look.
    assert_eq!(std::fs::read_to_string(sb.progress_file()).unwrap(), text);
}

#[test]
fn a_bad_field_is_named_and_the_rest_is_shown() {
    let sb = Sandbox::new("bad");
    let mut v: Value = serde_json::from_str(&progress_v2(60)).unwrap();
    v["lessons"]["veth-lab"]["steps"]["2"] = json!("done");
    v["lessons"]["namespaces"]["finished"] = json!("today");
    let text = v.to_string();
    sb.write_progress(&text);
    let o = sb.run(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let path = sb.progress_file().display().to_string();
    assert!(
        err.contains(&format!(
            "warning: {path}: lessons.veth-lab.steps.2: \"done\" is not a step state"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{path}: lessons.namespaces.finished")),
        "{err}"
    );
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list["warnings"].as_array().unwrap().len(), 2);
    let veth = lesson(&list, "veth-lab");
    assert_eq!(
        states(veth)[..3],
        [json!("verified"), Value::Null, json!("skipped")]
    );
    assert_eq!(veth["current_step"], 4);
    assert_eq!(
        states(lesson(&list, "namespaces"))[..2],
        [json!("verified"), json!("verified")]
    );
    // Reading wrote nothing: no backup, no lock, the file untouched.
    assert_eq!(sb.names(&sb.state().join("nslab")), ["progress.json"]);
    assert_eq!(std::fs::read_to_string(sb.progress_file()).unwrap(), text);
}

#[test]
fn a_fifo_as_the_progress_file_is_refused_at_once() {
    let sb = Sandbox::new("fifo");
    std::fs::create_dir_all(sb.state().join("nslab")).unwrap();
    let made = Command::new("mkfifo")
        .arg(sb.progress_file())
        .status()
        .unwrap();
    assert!(made.success());
    for format in ["text", "json"] {
        let start = Instant::now();
        let o = sb.run(&["list", "--format", format]);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        assert!(
            err.contains(&sb.progress_file().display().to_string()),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn reset_offers_yes_for_scripts() {
    let sb = Sandbox::new("reset-help");
    let o = sb.run(&["reset", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--yes"), "{}", stdout(&o));
}

/// A student's list JSON: their own progress file, made by `nslab list --format json`, under
/// another host name.
fn student(name: &str, host: &str, progress: Option<String>) -> Value {
    let sb = Sandbox::new(name);
    if let Some(p) = progress {
        sb.write_progress(&p);
    }
    let mut list = list_json(&sb);
    list["hostname"] = json!(host);
    list
}

/// At `lesson` step `step` for `secs`, with `done` steps verified before it.
fn at_step(lesson: &str, step: usize, secs: u64) -> String {
    let steps: serde_json::Map<String, Value> = (1..step)
        .map(|s| (s.to_string(), json!("verified")))
        .collect();
    json!({
        "version": 2,
        "current": lesson,
        "lessons": { lesson: { "step": step, "since": now() - secs, "steps": steps } }
    })
    .to_string()
}

#[test]
fn class_report_puts_who_is_stuck_longest_first_and_names_bad_files() {
    let sb = Sandbox::new("class");
    let class = sb.0.join("class");
    std::fs::create_dir_all(&class).unwrap();
    let write = |name: &str, v: &Value| {
        std::fs::write(class.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap()
    };
    write(
        "pc-01.json",
        &student("s1", "pc-01", Some(at_step("routing", 6, 18 * 60 + 10))),
    );
    write(
        "pc-02.json",
        &student("s2", "pc-02", Some(at_step("veth-lab", 3, 2 * 60))),
    );
    write("pc-03.json", &student("s3", "pc-03", None));
    write(
        "pc-04.json",
        &student("s4", "pc-04", Some(progress_v2(65 * 60))),
    );
    std::fs::write(class.join("broken.json"), "{\"hostname\": ").unwrap();
    std::fs::write(class.join("notes.txt"), "not a JSON, not read").unwrap();

    // Only the good ones: exit 0.
    let good: Vec<String> = (1..=4)
        .map(|n| class.join(format!("pc-0{n}.json")).display().to_string())
        .collect();
    let mut args = vec!["class", "report"];
    args.extend(good.iter().map(String::as_str));
    let o = sb.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("who "), "{out}");
    let whos: Vec<&str> = lines[1..5]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let user = list_json(&sb)["user"].as_str().unwrap().to_string();
    let expect: Vec<String> = ["pc-04", "pc-01", "pc-02", "pc-03"]
        .iter()
        .map(|h| format!("{h}/{user}"))
        .collect();
    assert_eq!(whos, expect, "{out}");
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        cols[1..7],
        ["routing", "6/10", "5", "0", "0", "0/6"],
        "{out}"
    );
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cols[1..7],
        ["veth-lab", "4/9", "1", "1", "1", "1/6"],
        "{out}"
    );
    assert!(lines[1].ends_with("1 h 05 min"), "{out}");
    assert!(lines[4].contains("(not started)"), "{out}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("Stuck longest: pc-04/{user}, 1 h 05 min at veth-lab step 4.").as_str())
    );

    // The folder, with a broken file and a FIFO among them: both named, the rest reported, exit 1.
    let made = Command::new("mkfifo")
        .arg(class.join("pipe.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let o = sb.run(&[
        "class",
        "report",
        "--format",
        "json",
        &class.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let broken = class.join("broken.json").display().to_string();
    let pipe = class.join("pipe.json").display().to_string();
    assert!(
        err.contains(&format!("nslab: {broken}: not a list JSON")),
        "{err}"
    );
    assert!(
        err.contains(&format!("nslab: {pipe}: not a regular file")),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let hosts: Vec<&str> = report["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["pc-04", "pc-01", "pc-02", "pc-03"]);
    let first = &report["students"][0];
    assert_eq!(first["lesson"], "veth-lab");
    assert_eq!(first["step"], 4);
    assert_eq!(
        (&first["verified"], &first["performed"], &first["skipped"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(first["lessons_finished"], 1);
    let stuck = first["stuck_seconds"].as_u64().unwrap();
    assert!((65 * 60..65 * 60 + 30).contains(&stuck), "{stuck}");
    assert_eq!(report["students"][3]["stuck_seconds"], Value::Null);
    let bad: Vec<&str> = report["bad_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["file"].as_str().unwrap())
        .collect();
    assert_eq!(bad, [broken.as_str(), pipe.as_str()]);
}

#[test]
fn class_report_of_a_missing_file_says_so_and_needs_a_file() {
    let sb = Sandbox::new("class-missing");
    let missing = sb.0.join("nope.json").display().to_string();
    let o = sb.run(&["class", "report", &missing]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("nslab: {missing}: cannot read it")),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("No student files."), "{}", stdout(&o));
    let o = sb.run(&["class", "report"]);
    assert_eq!(o.status.code(), Some(2), "no file named is a usage error");
}
