//! A student at a plain bash prompt, for tests/student.rs: the lines a student types for a
//! lesson (read with nslab's own parser), a sandbox to type them in, and a picture of what the
//! root namespace holds, to compare before and after.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nslab::diag::Source;
use nslab::lesson::{CommandLine, Lesson};

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// The repository's folder of lessons.
pub fn lessons_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons")
}

/// A lesson file of lessons/, parsed by nslab itself.
pub fn lesson(file: &str) -> Lesson {
    let path = lessons_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (lesson, diags) =
        nslab::lesson::parse::parse(&Source::new(format!("lessons/{file}"), text));
    assert!(diags.is_empty(), "{file}: {diags:?}");
    lesson.unwrap_or_else(|| panic!("{file} does not parse"))
}

/// Every lesson file of lessons/, in the order of their names.
pub fn lesson_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(lessons_dir())
        .expect("lessons/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    files.sort();
    files
}

/// `unshare` into a fresh sandbox (network, mount and pid namespaces; a user namespace too
/// without root) and run a bash script there. /run/netns and /tmp are tmpfs mounts of the
/// sandbox's own, made private first so that nothing propagates to the host; the host's
/// /run/netns must exist for the mount to have a place.
pub fn sandboxed(script: &str) -> Command {
    assert!(
        Path::new("/run/netns").is_dir(),
        "the host's /run/netns must exist before a sandbox mounts over it (mkdir /run/netns as root)"
    );
    let mut c = Command::new("unshare");
    c.args(["--net", "--mount", "--pid", "--fork", "--mount-proc"]);
    if !is_root() {
        c.arg("--map-root-user");
    }
    // HOME in the sandbox's own /tmp: nslab's state files (the ledger of --no-sandbox, the
    // progress of learn) stay in the sandbox.
    let setup = "set -e; mount --make-rprivate /; mount -t tmpfs none /run/netns; \
                 mount -t tmpfs none /tmp; ip link set lo up; set +e; \
                 export HOME=/tmp; unset XDG_STATE_HOME\n";
    c.args(["bash", "-c", &format!("{setup}{script}")]);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    let bin = Path::new(env!("CARGO_BIN_EXE_nslab"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", bin.display()));
    c
}

/// A bash function that prints what the root namespace holds, between markers: links,
/// addresses, routes and rules of every table, neighbours, the net.* sysctls, iptables and
/// nftables rules, named namespaces, /tmp, mounts, and the processes that run.
pub const STATE_FN: &str = r###"
nslab_state() {
  echo "@@STATE-BEGIN $1"
  echo "## link"; ip -j -d link show
  echo "## addr"; ip -j address show
  echo "## route"; ip -j route show table all
  echo "## route6"; ip -6 -j route show table all
  echo "## rule"; ip -j rule show
  echo "## rule6"; ip -6 -j rule show
  echo "## neigh"; ip -j neigh show
  echo "## sysctl"; sysctl -a 2>/dev/null | grep '^net\.' | grep -v -e '^net\.netfilter\.nf_conntrack_count'
  echo "## iptables"; iptables-save 2>&1 | grep -v '^#' | sed -e 's/\[[0-9]*:[0-9]*\]//'
  echo "## ip6tables"; ip6tables-save 2>&1 | grep -v '^#' | sed -e 's/\[[0-9]*:[0-9]*\]//'
  echo "## nft"; nft list ruleset 2>&1
  echo "## netns"; ls -A /run/netns
  echo "## tmp"; ls -A /tmp
  echo "## mounts"; findmnt -rn -o TARGET,FSTYPE | sort
  # ps alone, not in a pipeline: the pipeline's other members would show as `bash` until they exec.
  local procs; procs=$(ps -e -o comm=)
  echo "## procs"; echo "$procs" | grep -v -x -e ps | sort
  echo "@@STATE-END"
}
"###;

/// The lines a student types for one lesson, in order, as bash: each step's hidden setup (learn
/// performs it when it shows the step: the student's shell sees it done), then the step's
/// commands or its challenge's solution. After each line, a marker with its exit status. A
/// program started in the background gets a second to start, as it would while a student
/// reads on; so does the kernel after a step that deletes a namespace (it tears the namespace
/// down afterwards, and its veth peers elsewhere with it: tens of milliseconds here, more on a
/// busy machine; learn shows the next step only when the teardown is seen).
pub fn typed(lesson: &Lesson, tag: &str) -> String {
    let mut s = String::new();
    for step in &lesson.steps {
        if step.index > 1 {
            let deleted = lesson.steps[step.index - 2]
                .commands
                .iter()
                .any(|c| c.text.contains("netns del"));
            s.push_str(if deleted { "sleep 1\n" } else { "sleep 0.1\n" });
        }
        s.push_str(&format!("echo '@@STEP {tag} {}'\n", step.index));
        for c in step.setup.iter().chain(&step.commands) {
            s.push_str(&c.text);
            s.push('\n');
            s.push_str(&format!("echo \"@@RC {tag} {} $?\"\n", c.line));
            if c.text.trim_end().ends_with('&') {
                s.push_str("sleep 1\n");
            }
        }
    }
    s
}

/// The lines of a lesson, by source line: for reading the `@@RC` markers back.
pub fn lines_by_number(lesson: &Lesson) -> BTreeMap<usize, CommandLine> {
    lesson
        .steps
        .iter()
        .flat_map(|s| s.setup.iter().chain(&s.commands))
        .map(|c| (c.line, c.clone()))
        .collect()
}

/// One picture of the root namespace: its sections by name.
pub type State = BTreeMap<String, String>;

/// The pictures in a script's output, by the label given to `nslab_state`.
pub fn states(out: &str) -> BTreeMap<String, State> {
    let mut all = BTreeMap::new();
    let mut current: Option<(String, State, Option<String>)> = None;
    for line in out.lines() {
        if let Some(label) = line.strip_prefix("@@STATE-BEGIN ") {
            current = Some((label.to_string(), State::new(), None));
        } else if line == "@@STATE-END" {
            if let Some((label, state, _)) = current.take() {
                all.insert(label, state);
            }
        } else if let Some((_, state, section)) = current.as_mut() {
            if let Some(name) = line.strip_prefix("## ") {
                *section = Some(name.to_string());
                state.entry(name.to_string()).or_default();
            } else if let Some(name) = section {
                let text = state.entry(name.clone()).or_default();
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    all
}

/// Keys of `ip -j` output that change with time or traffic, not with what a lesson made.
const VOLATILE: &[&str] = &[
    "stats",
    "stats64",
    "used",
    "confirmed",
    "updated",
    "refcnt",
    "expires",
    "preferred_life_time",
    "valid_life_time",
    "probes",
];

fn drop_volatile(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in VOLATILE {
                m.remove(*k);
            }
            m.values_mut().for_each(drop_volatile);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_volatile),
        _ => {}
    }
}

/// A section made comparable: JSON without its volatile keys, pretty-printed one value a line;
/// other text as it is.
pub fn normalised(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(mut v) => {
            drop_volatile(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => text.to_string(),
    }
}

/// What differs between two pictures, section by section, line by line; empty when equal.
pub fn differences(before: &State, after: &State) -> Vec<String> {
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        let b = normalised(before.get(name).map_or("", String::as_str));
        let a = normalised(after.get(name).map_or("", String::as_str));
        if a == b {
            continue;
        }
        let bl: Vec<&str> = b.lines().collect();
        let al: Vec<&str> = a.lines().collect();
        let gone: Vec<&&str> = bl.iter().filter(|l| !al.contains(l)).collect();
        let new: Vec<&&str> = al.iter().filter(|l| !bl.contains(l)).collect();
        out.push(format!(
            "[{name}] gone: {gone:?}; new: {new:?}{}",
            if gone.is_empty() && new.is_empty() {
                " (same lines, another order or count)"
            } else {
                ""
            }
        ));
    }
    out
}

/// Every `@@RC TAG LINE STATUS` marker of an output.
pub fn statuses(out: &str) -> Vec<(String, usize, i32)> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("@@RC ")?.split_whitespace();
            let tag = w.next()?.to_string();
            let line = w.next()?.parse().ok()?;
            let rc = w.next()?.parse().ok()?;
            Some((tag, line, rc))
        })
        .collect()
}

/// The lines whose exit status is not the one the lesson promises: 0, or not 0 for a line
/// marked `# [fails]`. Each with its text.
pub fn wrong_statuses(lesson: &Lesson, tag: &str, out: &str) -> Vec<String> {
    let lines = lines_by_number(lesson);
    let seen: Vec<(usize, i32)> = statuses(out)
        .into_iter()
        .filter(|(t, _, _)| t == tag)
        .map(|(_, l, rc)| (l, rc))
        .collect();
    let mut wrong = Vec::new();
    for (n, c) in &lines {
        match seen.iter().find(|(l, _)| l == n) {
            None => wrong.push(format!("line {n} never ran: {}", c.text)),
            Some((_, rc)) if (*rc == 0) == c.expect_failure => wrong.push(format!(
                "line {n} exited {rc}{}: {}",
                if c.expect_failure {
                    " but is marked [fails]"
                } else {
                    ""
                },
                c.text
            )),
            Some(_) => {}
        }
    }
    wrong
}

/// The output of a finished command, both streams, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of a lesson whose challenge step (found by its title) has other solution lines.
pub fn with_solution(file: &str, step_title: &str, lines: &[String]) -> (String, usize) {
    let path = lessons_dir().join(file);
    let text = std::fs::read_to_string(&path).expect("the lesson");
    let heading = format!("\n## {step_title}\n");
    let at = text
        .find(&heading)
        .unwrap_or_else(|| panic!("{file} has no step '{step_title}'"));
    let open = "```solution\n";
    let sol = at
        + text[at..]
            .find(open)
            .unwrap_or_else(|| panic!("step '{step_title}' of {file} is no challenge"))
        + open.len();
    let end = sol + text[sol..].find("```").expect("a closed solution block");
    let mut body = lines.join("\n");
    body.push('\n');
    let index = lesson(file)
        .steps
        .iter()
        .find(|s| s.title == step_title)
        .map(|s| s.index)
        .expect("the step");
    (format!("{}{body}{}", &text[..sol], &text[end..]), index)
}
