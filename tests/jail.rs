//! The jail of `nslab verify` against the hostile lessons of tests/hostile/.
//!
//! Each lesson is verified twice, as root and as nobody (`setpriv`), inside an outer sandbox that
//! stands in for the host: its own network, mount, UTS, IPC and pid namespaces, a tmpfs over
//! /tmp, /var/tmp and /run, a veth pair, a named namespace, a file outside the jail, and a file of
//! nobody's in a tmpfs over /opt (which the jail binds read-only). The test asserts each run's
//! exit code and report, and that the outer host is unchanged: its files, host name, links (from
//! `ip -j`), namespaces, sysctls, and processes (none left). A failure of the
//! jail harms only the outer sandbox; the one global setting a lesson tries (vm.swappiness) is
//! checked on the real host and put back if it changed.
//!
//! Without root, the outer sandbox is also a user namespace, and each lesson is verified once,
//! as the user who runs the tests (root of that namespace).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// The outer sandbox's setup and helpers. `state` prints what a lesson must not change.
const OUTER: &str = r##"
set -e
mount --make-rprivate /
mount -t tmpfs none /run; mkdir /run/netns
mount -t tmpfs none /tmp; mount -t tmpfs none /var/tmp
hostname outer
ip link set lo up
ip link add outer0 type veth peer name outer1
ip netns add outerns
echo outer-marker-5ca1ab1e > /var/tmp/outside
echo outer-marker-5ca1ab1e > /tmp/outside
if [ -d /opt ]; then
  mount -t tmpfs -o mode=755 none /opt
  echo outer-marker-5ca1ab1e > /opt/outside-nobody
  chown 65534:65534 /opt/outside-nobody 2>/dev/null || true
fi
mkdir -m 755 /tmp/bin /tmp/lessons
cp "$NSLAB" /tmp/bin/nslab
cp "$LESSON" /tmp/lessons/
chmod -R a+rX /tmp/bin /tmp/lessons
set +e
procs() {
  ps -e -o pid=,comm= | awk '$1 != 1 && $2 != "ps" && $2 != "awk" && $2 != "sort" && $2 != "tr" && $2 != "bash" {print $2}' | sort
}
state() {
  for i in $(seq 100); do [ -z "$(procs)" ] && break; sleep 0.05; done
  echo "files: $(ls -A /tmp /var/tmp | tr '\n' ' ')"
  echo "outside: $(cat /var/tmp/outside /tmp/outside | tr '\n' ' ')"
  echo "opt: $(cat /opt/outside-nobody 2>&1)"
  echo "hostname: $(hostname)"
  echo "links: $(ip -j link show)"
  echo "netns: $(ls -A /run/netns | tr '\n' ' ')"
  echo "swappiness: $(cat /proc/sys/vm/swappiness)"
  echo "ip_forward: $(cat /proc/sys/net/ipv4/ip_forward)"
  echo "procs: $(procs | tr '\n' ' ')"
}
verify_as() {
  who=$1
  set --
  [ "$who" = user ] && set -- setpriv --reuid=65534 --regid=65534 --clear-groups
  env NSLAB_LINE_TIMEOUT=$LINE_TIMEOUT NSLAB_TEST_SECRET=s3cr3t timeout -s KILL 120 $WRAP "$@" \
    /tmp/bin/nslab verify --format json $ARGS "/tmp/lessons/$NAME" > "/run/$who.json" 2> "/run/$who.err" &
  pid=$!
  eval "$DURING"
  wait $pid
  echo "#CODE $who $?"
  echo "#STATE $who"; state
}
echo "#STATE before"; state
for who in $WHOS; do verify_as $who; done
for who in $WHOS; do
  echo "#REPORT $who"; cat "/run/$who.json"
  echo "#STDERR $who"; head -c 4000 "/run/$who.err"; echo
done
echo "#END"
"##;

/// What one hostile lesson did, run as root and as nobody.
struct Runs {
    /// The sections the outer script printed, by their `#` heading.
    text: String,
}

impl Runs {
    fn section(&self, name: &str) -> &str {
        let head = format!("#{name}\n");
        let start = self
            .text
            .find(&head)
            .unwrap_or_else(|| panic!("no section {name} in:\n{}", self.text))
            + head.len();
        let end = self.text[start..]
            .find("\n#")
            .map_or(self.text.len(), |e| start + e);
        &self.text[start..end]
    }

    fn code(&self, who: &str) -> i32 {
        let line = self
            .text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#CODE {who} ")))
            .unwrap_or_else(|| panic!("no exit code for {who}:\n{}", self.text));
        line.trim().parse().unwrap()
    }

    fn report(&self, who: &str) -> Value {
        let text = self.section(&format!("REPORT {who}"));
        serde_json::from_str(text).unwrap_or_else(|e| {
            panic!(
                "{who}: not a JSON report ({e}): {text}\nstderr: {}",
                self.section(&format!("STDERR {who}"))
            )
        })
    }

    /// The host's state at a point, with the links as `ip -j` gives them, reduced to names and
    /// flags (the oracle: iproute2, not nslab).
    fn state(&self, when: &str) -> Vec<String> {
        self.section(&format!("STATE {when}"))
            .lines()
            .map(|l| match l.strip_prefix("links: ") {
                Some(json) => {
                    let links: Value = serde_json::from_str(json).unwrap();
                    let mut names: Vec<String> = links
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| format!("{} {}", l["ifname"], l["flags"]))
                        .collect();
                    names.sort();
                    format!("links: {}", names.join(", "))
                }
                None => l.to_string(),
            })
            .collect()
    }
}

/// Who verifies each lesson: root and nobody, or (without root) the user.
fn whos() -> &'static [&'static str] {
    if is_root() {
        &["root", "user"]
    } else {
        &["root"]
    }
}

/// Verifies `tests/hostile/NAME` as root and as nobody in a fresh outer sandbox. `during` is
/// shell code run while verify runs (its pid is `$pid`, the user `$who`); `wrap`, a command
/// that runs verify.
fn hostile(name: &str, during: &str, wrap: &str) -> Runs {
    hostile_timed(name, during, wrap, 3)
}

/// [`hostile`], with lines stopped after `line_timeout` seconds (3 by default: the lessons
/// that never end end soon).
fn hostile_timed(name: &str, during: &str, wrap: &str, line_timeout: u32) -> Runs {
    hostile_with(name, during, wrap, line_timeout, "")
}

/// [`hostile_timed`], with more arguments for `nslab verify` (words split by the shell).
fn hostile_with(name: &str, during: &str, wrap: &str, line_timeout: u32, args: &str) -> Runs {
    let swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let lesson = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(name);
    assert!(lesson.is_file(), "{}", lesson.display());
    let out = outer()
        .args(["bash", "-c", OUTER])
        .env("WHOS", whos().join(" "))
        .env("NSLAB", env!("CARGO_BIN_EXE_nslab"))
        .env("LESSON", &lesson)
        .env("NAME", name)
        .env("DURING", during)
        .env("WRAP", wrap)
        .env("LINE_TIMEOUT", line_timeout.to_string())
        .env("ARGS", args)
        .output()
        .unwrap();
    let now = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    if now != swappiness {
        // The jail failed and changed the real host: put it back, then fail.
        std::fs::write("/proc/sys/vm/swappiness", &swappiness).unwrap();
        panic!("{name} changed the host's vm.swappiness from {swappiness} to {now}");
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("#END"),
        "{name}: the outer sandbox did not finish: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = Runs { text };
    let before = runs.state("before");
    assert!(before.iter().any(|l| l == "hostname: outer"), "{before:?}");
    assert!(
        before
            .iter()
            .any(|l| l.starts_with("links: ") && l.contains("outer0")),
        "{before:?}"
    );
    for who in whos() {
        assert_eq!(
            runs.state(who),
            before,
            "{name} as {who} changed the host: stderr: {}",
            runs.section(&format!("STDERR {who}"))
        );
    }
    runs
}

/// The outer sandbox: its own network, mount, UTS, IPC and pid namespaces (and a user namespace
/// without root).
fn outer() -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "--net",
        "--mount",
        "--uts",
        "--ipc",
        "--pid",
        "--fork",
        "--mount-proc",
    ]);
    if !is_root() {
        c.arg("--map-root-user");
    }
    c
}

/// Asserts each run's exit code, and returns the reports.
fn expect(runs: &Runs, name: &str, code: i32) -> Vec<Value> {
    whos()
        .iter()
        .map(|&who| {
            assert_eq!(
                runs.code(who),
                code,
                "{name} as {who}: {}\nstderr: {}",
                runs.section(&format!("REPORT {who}")),
                runs.section(&format!("STDERR {who}"))
            );
            runs.report(who)
        })
        .collect()
}

/// The statuses of a report's steps, and its text, for assertions.
fn steps(report: &Value) -> Vec<String> {
    report["lessons"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}

fn passes(name: &str) {
    let runs = hostile(name, "", "");
    for r in expect(&runs, name, 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
}

/// File descriptors left open by whoever started verify (a harness, make's jobserver) stay
/// out of the jail: through one on a folder, `..` led to the host's whole file system.
#[test]
fn inherited_descriptors_stay_out_of_the_jail() {
    let wrapper =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("withfds-{}", std::process::id()));
    std::fs::write(
        &wrapper,
        "#!/bin/bash\nexec 8</var/tmp 9>>/var/tmp/outside\nexec \"$@\"\n",
    )
    .unwrap();
    let mut perm = std::fs::metadata(&wrapper).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&wrapper, perm).unwrap();
    let runs = hostile("fds.md", "", wrapper.to_str().unwrap());
    let _ = std::fs::remove_file(&wrapper);
    for r in expect(&runs, "fds.md", 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
}

/// A lesson cannot trace the verifying process (pid 1 of the jail) to make it exit 3, the code
/// of a machine that cannot build a jail: the kernel refuses the trace (the tracer exits 10).
/// (Once, this ended the whole run with no report; verify still fails only that lesson.)
#[test]
fn a_lesson_cannot_trace_the_verifying_process() {
    let runs = hostile("trace-exit.md", "", "");
    for r in expect(&runs, "trace-exit.md", 1) {
        assert_eq!(steps(&r), ["failed"], "{r}");
        let err = r["lessons"][0]["steps"][0]["commands"][2]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(err.contains("/tmp/inj 3: exited with status 10"), "{r}");
    }
}

/// Nor keep it stopped (a tracer that ignores SIGTERM, in the background): the lesson runs to
/// its end. (Were pid 1 stopped, verify would end its worker at the lesson's bound.)
#[test]
fn a_lesson_cannot_stop_the_verifying_process() {
    passes("trace-hang.md");
}

/// A lesson cannot write the report: pid 1's output, the report's way to the host, is out of the
/// lines' reach (pidfd_getfd is refused: 21). Before, a line took it, wrote a passing report, and
/// made pid 1 exit before it wrote its own: verify said the lesson passed, with exit code 0.
#[test]
fn a_lesson_cannot_forge_its_report() {
    let runs = hostile("forge-report.md", "", "");
    for r in expect(&runs, "forge-report.md", 1) {
        assert_eq!(steps(&r), ["failed"], "{r}");
        let err = r["lessons"][0]["steps"][0]["commands"][2]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(err.contains("/tmp/forge: exited with status 21"), "{r}");
    }
}

/// Nor the line helper's replies: its socket to pid 1 is out of the lines' reach (pidfd_getfd
/// is refused: 32). Before, a line wrote "status 0" into it, for itself and for the check after
/// it, both of which failed: verify said the lesson passed.
#[test]
fn a_lesson_cannot_forge_the_results_of_its_lines() {
    let runs = hostile("forge-replies.md", "", "");
    for r in expect(&runs, "forge-replies.md", 1) {
        assert_eq!(steps(&r), ["failed"], "{r}");
        let step = &r["lessons"][0]["steps"][0];
        let err = step["commands"][2]["error"].as_str().unwrap_or_default();
        assert!(err.contains("refused: 32"), "{r}");
        assert_eq!(step["checks"][0]["status"], "failed", "{r}");
    }
}

/// What the kernel counts per user (user namespaces, inotify instances) is bounded in the jail:
/// before, a lesson held all of it for the user who runs nslab (as root: root's 128 inotify
/// instances, and `inotify_init` failed outside the jail while the lesson ran).
#[test]
fn the_jail_holds_a_bounded_share_of_the_users_kernel_objects() {
    let runs = hostile_timed("ucounts.md", "", "", 30);
    for r in expect(&runs, "ucounts.md", 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
}

/// Each lesson process may hold 1024 open files: the kernel's count of open files is the
/// machine's, and with the limit of whoever runs nslab (20000 here) the jail's 256 processes
/// could take all of them (then every program but root's fails to open a file).
#[test]
fn open_files_are_bounded() {
    passes("open-files.md");
}

#[test]
fn host_files_stay_out_of_reach() {
    passes("files.md");
}

#[test]
fn the_host_name_is_the_jails_own() {
    passes("hostname.md");
}

#[test]
fn global_sysctls_are_refused_and_the_jails_network_ones_work() {
    passes("sysctl.md");
}

#[test]
fn proc_cannot_be_unmounted_and_shows_no_way_to_the_host() {
    passes("proc.md");
}

#[test]
fn unmounting_run_netns_shows_no_host_namespace() {
    passes("run-netns.md");
}

#[test]
fn no_mount_but_the_jails_sys_can_be_unmounted() {
    passes("umount-all.md");
}

#[test]
fn the_hosts_folders_cannot_be_remounted_writable() {
    passes("remount.md");
}

#[test]
fn big_files_fill_only_small_tmpfs() {
    passes("bigfile.md");
}

#[test]
fn memory_is_limited() {
    // The line must end by the memory limit, not by the clock: on a machine busy with the other
    // hostile tests (a fork bomb, floods), eating 1 GiB took longer than the usual 3 s once.
    let runs = hostile_timed("memory.md", "", "", 60);
    for r in expect(&runs, "memory.md", 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
}

#[test]
fn the_hosts_environment_stays_out() {
    passes("env.md");
}

#[test]
fn lines_have_no_terminal() {
    passes("tty.md");
}

#[test]
fn daemons_die_with_the_run() {
    // The check sees all four daemons alive inside; the state after each run sees none.
    passes("daemons.md");
}

/// A lesson of many lines, each just within its own time limit, is ended at `--timeout` with
/// every process it started (the daemons it left sleep for ever), and fails with a message
/// that says so. Before, nothing bounded a whole lesson: this one took 8 steps of 2 s each, and
/// one of thousands of such lines would have kept a CI job busy for hours.
#[test]
fn a_lesson_is_ended_at_its_time_limit_with_everything_it_started() {
    let began = std::time::Instant::now();
    let runs = hostile_with("slow-lesson.md", "", "", 3, "--timeout 5");
    // Each run ended near its 5 s (8 steps would take 16 s at least), and the outer state
    // after it (compared in `hostile_with`) holds no process of the lesson's.
    let per_run = began.elapsed() / whos().len() as u32;
    assert!(
        per_run < std::time::Duration::from_secs(12),
        "{per_run:?} per run"
    );
    for r in expect(&runs, "slow-lesson.md", 1) {
        let lesson = &r["lessons"][0];
        let err = lesson["error"].as_str().unwrap_or_default();
        assert!(
            err.starts_with("hostile-slow-lesson took longer than the 5 s one lesson may take in all (--timeout): it was ended in step "),
            "{r}"
        );
        let st = steps(&r);
        assert_eq!(st.len(), 8, "{r}");
        // Two steps at most ran (2 s each, after the jail's making), the rest were not reached.
        assert_eq!(st[0], "passed", "{r}");
        assert!(st[2..].iter().all(|s| s == "skipped"), "{r}");
        assert!(
            lesson["steps"][7]["checks"]
                .as_array()
                .unwrap()
                .iter()
                .chain(lesson["steps"][7]["commands"].as_array().unwrap())
                .all(|c| c.to_string().contains("ran out of time")),
            "{r}"
        );
    }
}

#[test]
fn a_fork_bomb_ends_with_the_step_that_failed() {
    let runs = hostile("fork-bomb.md", "", "");
    for r in expect(&runs, "fork-bomb.md", 1) {
        assert_eq!(steps(&r), ["passed", "failed"], "{r}");
        let err = r["lessons"][0]["steps"][1]["commands"][0]["error"]
            .as_str()
            .unwrap();
        // The shell's own fork failed ("Cannot fork"), or nslab could not even start the shell.
        assert!(
            err.contains("Cannot fork") || err.contains("too many processes"),
            "{err}"
        );
    }
}

#[test]
fn an_output_flood_is_capped_and_counted() {
    let runs = hostile("flood.md", "", "");
    for r in expect(&runs, "flood.md", 1) {
        assert_eq!(steps(&r), ["passed", "failed"], "{r}");
        let err = r["lessons"][0]["steps"][1]["commands"][0]["error"]
            .as_str()
            .unwrap();
        // 5 000 000 bytes, of which the first MiB is kept.
        assert!(
            err.contains(&format!(
                "{} bytes of output dropped",
                5_000_000 - (1 << 20)
            )),
            "{err}"
        );
    }
}

#[test]
fn endless_output_times_out_and_is_counted() {
    let runs = hostile("endless-output.md", "", "");
    for r in expect(&runs, "endless-output.md", 1) {
        let err = r["lessons"][0]["steps"][0]["commands"][0]["error"]
            .as_str()
            .unwrap();
        assert!(
            err.contains("still running after 3 s; nslab stopped it"),
            "{err}"
        );
        assert!(err.contains("bytes of output dropped"), "{err}");
    }
}

#[test]
fn a_line_that_ignores_sigterm_is_killed_at_its_timeout() {
    let runs = hostile("never-ends.md", "", "");
    for r in expect(&runs, "never-ends.md", 1) {
        let err = r["lessons"][0]["steps"][0]["commands"][0]["error"]
            .as_str()
            .unwrap();
        assert!(
            err.contains("still running after 3 s; nslab stopped it"),
            "{err}"
        );
    }
}

/// A lesson cannot flood the output of the verifying process (the jail's pid 1), which the host
/// reads: its descriptors are out of the lines' reach. (As nobody, the pipes were the lesson's
/// user's own, and the lesson wrote 300 MB into each.)
#[test]
fn a_flood_of_the_workers_output_does_not_fill_the_verifying_process() {
    // The verifying process (and the jail under it) may hold 128 MiB of data.
    let runs = hostile(
        "worker-flood.md",
        "",
        "prlimit --data=134217728:134217728 --",
    );
    for r in expect(&runs, "worker-flood.md", 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
    for &who in whos() {
        let err = runs.section(&format!("STDERR {who}"));
        assert!(err.len() < 70_000, "{who}: {} bytes of stderr", err.len());
    }
}

#[test]
fn root_inside_is_nobody_outside_in_another_user_namespace() {
    if !is_root() {
        eprintln!("skipped: root inside is nobody outside only when nslab runs as root");
        return;
    }
    // While the lesson sleeps, look at its process from the outer host.
    let during = r##"
for i in $(seq 400); do p=$(pgrep -f -x 'sleep 2.345') && break; sleep 0.02; done
echo "#SEEN $who $(grep -E '^(Uid|Gid|Groups):' /proc/$p/status | tr -s '\t ' ' ' | tr '\n' ';')"
[ "$(readlink /proc/$p/ns/user)" != "$(readlink /proc/1/ns/user)" ] && echo "#USERNS $who other"
"##;
    let runs = hostile("caps.md", during, "");
    for r in expect(&runs, "caps.md", 0) {
        assert!(steps(&r).iter().all(|s| s == "passed"), "{r}");
    }
    for who in ["root", "user"] {
        let seen = runs
            .text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#SEEN {who} ")))
            .unwrap_or_else(|| panic!("{}", runs.text));
        assert_eq!(
            seen.trim(),
            "Uid: 65534 65534 65534 65534;Gid: 65534 65534 65534 65534;Groups: ;",
            "{who}"
        );
        assert!(
            runs.text.contains(&format!("#USERNS {who} other")),
            "{who}: {}",
            runs.text
        );
    }
}

/// A line cannot read the terminal, change it, or stop a verify that runs in the background of
/// a terminal (SIGTTIN): in the jail, and without it.
#[test]
fn the_terminal_is_out_of_reach_even_without_the_jail() {
    let lesson = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/tty.md");
    // In a pty (script), with job control (set -m): verify runs as a background job.
    let inner = format!(
        "set -m; stty -a > /run/before; \
         for mode in '' --no-sandbox; do \
           timeout -s KILL 60 {nslab} verify $mode {lesson} > /run/out 2>&1 & \
           wait $!; echo \"#CODE$mode $?\"; \
         done; stty -a > /run/after; cmp -s /run/before /run/after && echo '#TERMINAL same'",
        nslab = env!("CARGO_BIN_EXE_nslab"),
        lesson = lesson.display()
    );
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
         mount -t tmpfs none /tmp && mount -t tmpfs none /var/tmp && ip link set lo up || exit 99; \
         export HOME=/tmp; unset XDG_STATE_HOME; \
         script -qec {} /dev/null < /dev/null",
        shell_quote(&format!("bash -c {}", shell_quote(&inner)))
    );
    let out = outer().args(["bash", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("#CODE 0"), "in the jail: {text}");
    assert!(text.contains("#CODE--no-sandbox 0"), "without it: {text}");
    assert!(text.contains("#TERMINAL same"), "{text}");
}

/// The shipped lessons verify in the jail as nobody too (the whole suite runs them as root).
#[test]
fn the_shipped_lessons_verify_as_nobody() {
    if !is_root() {
        eprintln!("skipped: the rest of the suite already verifies them as this user");
        return;
    }
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
         mount -t tmpfs none /tmp && mkdir -m 755 /tmp/bin && cp {nslab} /tmp/bin/nslab || exit 99; \
         setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/bin/nslab verify --jobs 2; \
         echo \"#CODE $?\"",
        nslab = env!("CARGO_BIN_EXE_nslab")
    );
    let out = outer().args(["bash", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("6 of 6 lesson(s) passed") && text.contains("#CODE 0"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A container's masked /proc (a file mounted over one of its files) makes the kernel refuse the
/// jail a /proc of its own: verify says so and stops, and never uses the host's.
#[test]
fn a_proc_the_kernel_refuses_is_an_error_not_a_fallback() {
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
         mount -t tmpfs none /tmp || exit 99; \
         for f in /proc/kcore /proc/keys /proc/timer_list /proc/uptime; do [ -e $f ] && break; done; \
         mount --bind /dev/null $f || exit 99; \
         {nslab} verify tests/hostile/files.md; echo \"#CODE $?\"",
        nslab = env!("CARGO_BIN_EXE_nslab")
    );
    let out = outer()
        .args(["bash", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("#CODE 3"), "{text}{err}");
    assert!(
        err.contains("cannot mount /proc in the jail")
            && err.contains("will not fall back to the host's /proc"),
        "{err}"
    );
    assert!(!text.contains("passed"), "the lesson ran: {text}");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
