//! The ledger and reset, end to end through the binary. Each test runs a shell script in a
//! sandbox of its own (network, mount and pid namespaces, a user namespace without root) that
//! stands in for the machine: its own /run/netns, /tmp and /var/tmp, and HOME in that /tmp, so
//! that the ledger and the progress file are the sandbox's. learn runs in a tmux there.
//! `ip`, `iptables` and /proc are the oracles.

mod common;

use std::process::{Command, Output};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Shell functions the scripts use: `learn ARGS` starts `nslab learn ARGS` in a tmux pane
/// (its exit code goes to /tmp/exit, the terminal's flags after it to /tmp/stty),
/// `waitfor TEXT` waits for the pane to show TEXT, `quit` presses q and waits for the end.
const SETUP: &str = r##"
mount --make-rprivate / && mount -t tmpfs none /run && mkdir /run/netns && \
mount -t tmpfs none /tmp && mount -t tmpfs none /var/tmp && ip link set lo up || exit 99
export HOME=/tmp/home LANG=C.UTF-8 TERM=xterm NSLAB_TYPING_MS=0
unset XDG_STATE_HOME
mkdir -p $HOME
N=$NSLAB
T="tmux -S /tmp/tmux.sock -f /dev/null"
learn() {
  rm -f /tmp/exit /tmp/stty
  $T new-session -d -x 150 -y 50 "$N learn $*; echo \$? > /tmp/exit.tmp; stty -a > /tmp/stty; mv /tmp/exit.tmp /tmp/exit; sleep 600"
}
screen() { $T capture-pane -p -J -S -300; }
waitfor() {
  for i in $(seq 300); do screen | grep -qF -- "$1" && return 0; sleep 0.05; done
  echo "#TIMEOUT waiting for: $1"; screen; exit 98
}
# The server gone before the next learn starts one: a new session on the socket of a server
# still exiting fails with "server exited unexpectedly".
endserver() {
  $T kill-server 2>/dev/null
  for i in $(seq 100); do $T has-session 2>/dev/null || break; sleep 0.02; done
  rm -f /tmp/tmux.sock
}
waitexit() {
  for i in $(seq 300); do [ -s /tmp/exit ] && { endserver; return 0; }; sleep 0.05; done
  echo "#TIMEOUT waiting for learn to end"; screen; exit 97
}
quit() { $T send-keys q; waitexit; }
# demo LESSON performs its first step, and q leaves it there.
demo_first_step() {
  rm -f /tmp/exit
  $T new-session -d -x 150 -y 50 "$N demo $1; echo \$? > /tmp/exit; sleep 600"
  waitfor "space/Enter: next"
  quit
}
nslab_pid() { ps -e -o pid=,comm=,args= | awk '$2 == "nslab" && / learn / { print $1 }'; }
links() { ip -br link | awk '{ print $1 }' | tr '\n' ' '; echo; }
"##;

fn sandboxed(script: &str) -> Output {
    let mut args = vec!["--net", "--mount", "--pid", "--fork", "--mount-proc"];
    if !is_root() {
        args.push("--map-root-user");
    }
    Command::new("unshare")
        .args(&args)
        .args(["bash", "-c", &format!("{SETUP}{script}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NSLAB", env!("CARGO_BIN_EXE_nslab"))
        .output()
        .unwrap()
}

/// Lines joined with spaces: a message wrapped by the pane reads as one.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The script's output, and what follows a marker line `#NAME` up to the next marker.
struct Run {
    text: String,
}

impl Run {
    fn of(out: &Output) -> Run {
        let text = format!(
            "{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("#TIMEOUT"), "{text}");
        Run { text }
    }

    /// The lines after `#MARKER`, up to the next line that starts with `#`.
    fn part(&self, marker: &str) -> String {
        let start = self
            .text
            .find(&format!("#{marker}\n"))
            .unwrap_or_else(|| panic!("no #{marker} in:\n{}", self.text))
            + marker.len()
            + 2;
        self.text[start..]
            .lines()
            .take_while(|l| !l.starts_with('#') && *l != "--- stderr ---")
            .map(|l| format!("{l}\n"))
            .collect()
    }

    fn words(&self, marker: &str) -> Vec<String> {
        self.part(marker)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn a_students_own_namespace_survives_the_reset_and_the_lessons_things_go() {
    let out = sandboxed(
        r##"
# The student's own blue, with a veth end and an address in it, before the lesson.
ip netns add blue
ip link add own0 type veth peer name own1 netns blue
ip -n blue address add 10.7.0.1/24 dev own1
# learn says that blue is there already, and asks.
learn veth-lab; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 1 of 9"
# The lesson's commands, typed in the student's shell.
ip netns add red
ip link add veth0 type veth peer name veth1
quit
echo "#EXIT"; cat /tmp/exit
echo "#DRY"; $N reset --dry-run veth-lab; echo "code $?"
echo "#AFTER-DRY"; ls /run/netns; links
echo "#RESET"; $N reset veth-lab < /dev/null; echo "code $?"
echo "#NETNS"; ls /run/netns
echo "#LINKS"; links
echo "#BLUE"; ip -n blue -br address show dev own1
echo "#LEDGER"; cat $HOME/.local/state/nslab/ledger.json
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("EXIT"), ["130"], "{}", r.text);
    let dry = r.part("DRY");
    for line in [
        "veth-lab: remove link veth0 (there was no link veth0 when the lesson began)",
        "veth-lab: remove netns red (there was no namespace red when the lesson began)",
        "veth-lab: keep netns blue (there before the lesson began: the same namespace)",
        "(dry run: nothing was changed)",
        "code 0",
    ] {
        assert!(dry.contains(line), "{line:?} not in:\n{dry}");
    }
    assert!(!dry.contains("remove netns blue"), "{dry}");
    // The dry run changed nothing.
    let after_dry = r.words("AFTER-DRY");
    assert!(
        after_dry.iter().any(|w| w == "red") && after_dry.iter().any(|w| w == "veth0@veth1"),
        "{after_dry:?}"
    );
    // Without a terminal and without --yes, reset goes ahead (scripts).
    let reset = r.part("RESET");
    assert!(
        reset.contains("veth-lab: removed netns red") && reset.contains("code 0"),
        "{reset}"
    );
    assert_eq!(r.words("NETNS"), ["blue"]);
    assert_eq!(r.words("LINKS"), ["lo", "own0@if2"]);
    assert!(r.part("BLUE").contains("10.7.0.1/24"), "{}", r.text);
    // Nothing of the lesson's is left: its baseline is gone from the ledger.
    assert!(!r.part("LEDGER").contains("veth-lab"), "{}", r.text);
}

#[test]
fn a_namespace_made_during_the_lesson_goes_even_with_the_name_of_one_made_before() {
    let out = sandboxed(
        r##"
ip netns add blue
stat -L -c %i /run/netns/blue > /tmp/before
learn veth-lab; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 1 of 9"
# The student's blue is deleted and made again while the lesson runs: now the lesson's.
ip netns del blue
ip netns add blue
quit
# On a terminal, reset asks first: no changes nothing.
echo "#NO"; printf 'n\n' | script -qec "$N reset veth-lab" /dev/null; echo "code $?"; ls /run/netns
echo "#RESET"; printf 'y\n' | script -qec "$N reset veth-lab" /dev/null; echo "code $?"
echo "#NETNS"; ls /run/netns
"##,
    );
    let r = Run::of(&out);
    let no = r.part("NO");
    assert!(
        no.contains("Remove the thing listed above? [y/N]")
            && no.contains("Nothing was changed.")
            && no.trim_end().ends_with("code 0\nblue"),
        "{no}"
    );
    let reset = r.part("RESET");
    assert!(
        reset.contains("veth-lab: remove netns blue (another namespace than the blue there when the lesson began (inode"),
        "{reset}"
    );
    assert!(reset.contains("veth-lab: removed netns blue"), "{reset}");
    assert_eq!(r.words("NETNS"), Vec::<String>::new());
}

#[test]
fn reset_of_one_lesson_keeps_another_lessons_things_and_learn_offers_their_reset() {
    let out = sandboxed(
        r##"
learn veth-lab; waitfor "Step 1 of 9"
ip netns add blue; ip netns add red
quit
# The bridges lesson begins: the veth lab's blue and red are offered for reset (issue 19).
learn bridges; waitfor "Reset veth-lab first? [y/N]"
echo "#OFFER"; screen
# Not reset: blue is still there, and bridges makes a blue too.
$T send-keys n Enter; waitfor "Go on anyway? [y/N]"
echo "#ASK"; screen
$T send-keys y Enter; waitfor "Step 1 of 12"
ip netns add host; ip -n host link add bridge0 type bridge
quit
echo "#RESET"; $N reset --yes bridges; echo "code $?"
echo "#NETNS"; ls /run/netns
echo "#LINKS"; links
echo "#ALL"; $N reset --yes; echo "code $?"
echo "#NETNS2"; ls /run/netns
"##,
    );
    let r = Run::of(&out);
    let offer = r.part("OFFER");
    assert!(
        offer.contains("Other lessons left things on this machine:")
            && offer.contains("veth-lab: netns blue, netns red"),
        "{offer}"
    );
    // The question names whose the blue is, and the reset that removes it.
    let ask = flat(&r.part("ASK"));
    assert!(
        ask.contains("They were left by veth-lab: `nslab reset veth-lab` removes them."),
        "{ask}"
    );
    let reset = r.part("RESET");
    assert!(reset.contains("bridges: removed netns host"), "{reset}");
    assert!(
        reset.contains(
            "bridges: keep netns blue (there before the lesson began: the same namespace)"
        ),
        "{reset}"
    );
    assert_eq!(r.words("NETNS"), ["blue", "red"]);
    assert_eq!(r.words("LINKS"), ["lo"]);
    // Reset with no lesson named: every lesson of the ledger, the veth lab's too.
    let all = r.part("ALL");
    assert!(
        all.contains("veth-lab: removed netns blue") && all.contains("code 0"),
        "{all}"
    );
    assert_eq!(r.words("NETNS2"), Vec::<String>::new());
}

#[test]
fn verify_without_a_sandbox_three_times_leaves_no_rule_and_no_file() {
    let out = sandboxed(
        r##"
echo 0 > /proc/sys/net/ipv4/ip_forward
for i in 1 2 3; do
  $N verify --no-sandbox --format json lessons/03-bridges.md > /tmp/report$i.json; C=$?
  echo "#RULES$i"; iptables -t nat -S POSTROUTING | grep -c MASQUERADE
  echo "#CODE$i"; echo $C
done
echo "#NETNS"; ls /run/netns
echo "#LINKS"; links
echo "#FORWARD"; cat /proc/sys/net/ipv4/ip_forward
$N verify --no-sandbox lessons/01-namespaces.md > /dev/null; C=$?
echo "#FILES"; ls /tmp | grep netns-demo
echo "#NSCODE"; echo $C
echo "#LEDGER"; cat $HOME/.local/state/nslab/ledger.json
"##,
    );
    let r = Run::of(&out);
    for i in 1..=3 {
        assert_eq!(r.words(&format!("RULES{i}")), ["0"], "run {i}: {}", r.text);
        // The lesson ran (1: it passed its steps but leaves the root namespace changed, until
        // it cleans up after itself).
        let code = r.words(&format!("CODE{i}"));
        assert!(code == ["0"] || code == ["1"], "run {i}: {}", r.text);
    }
    // The namespaces lesson compiled /tmp/netns-demo and ran it: its checks passed.
    assert_eq!(r.words("NSCODE"), ["0"], "{}", r.text);
    assert_eq!(r.words("NETNS"), Vec::<String>::new());
    assert_eq!(r.words("LINKS"), ["lo"]);
    assert_eq!(r.words("FORWARD"), ["0"]);
    // The namespaces lesson's program and its source, written to /tmp, are gone too.
    assert_eq!(r.words("FILES"), Vec::<String>::new(), "{}", r.text);
    let ledger: serde_json::Value = serde_json::from_str(&r.part("LEDGER")).unwrap();
    assert_eq!(ledger["lessons"], serde_json::json!({}), "{}", r.text);
}

#[test]
fn a_killed_verify_is_undone_by_reset_and_a_terminated_one_undoes_itself() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/forwarding.md
fwd_on() { for i in $(seq 200); do [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] && [ -e /run/netns/fwd ] && return 0; sleep 0.05; done; echo "#TIMEOUT forwarding"; exit 96; }
echo 0 > /proc/sys/net/ipv4/ip_forward
$N verify --no-sandbox $L > /dev/null 2>&1 &
fwd_on
# SIGKILL to the worker and to verify: nothing can undo the lesson but the ledger.
pkill -KILL -f 'nslab verify --worker'; kill -KILL $!; wait $! 2>/dev/null
echo "#KILLED"; cat /proc/sys/net/ipv4/ip_forward; ls /run/netns
echo "#RESET"; $N reset --yes $L; echo "code $?"
echo "#AFTER"; cat /proc/sys/net/ipv4/ip_forward; ls /run/netns
# SIGTERM to verify: passed on to its worker, which resets the lesson; exit 130.
$N verify --no-sandbox $L > /dev/null 2> /tmp/err &
fwd_on
START=$(date +%s%N); kill -TERM $!; wait $!; C=$?; END=$(date +%s%N)
echo "#TERM"; echo "code $C"; cat /proc/sys/net/ipv4/ip_forward; ls /run/netns
# The 30 s line was stopped, not waited for.
echo "#TOOK"; [ $(( (END - START) / 1000000 )) -lt 10000 ] && echo fast
echo "#ERR"; cat /tmp/err
# The same under --mutate (its lesson's own run first): exit 130 too, not 3.
$N verify --mutate --no-sandbox $L > /dev/null 2>&1 &
fwd_on
kill -TERM $!; wait $!; C=$?
echo "#MUTATE"; echo "code $C"; cat /proc/sys/net/ipv4/ip_forward; ls /run/netns
echo "#LEDGER"; cat $HOME/.local/state/nslab/ledger.json
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("MUTATE"), ["code", "130", "0"], "{}", r.text);
    assert_eq!(r.words("KILLED"), ["1", "fwd"], "{}", r.text);
    let reset = r.part("RESET");
    for line in [
        "forwarding: set net.ipv4.ip_forward back to 0 (it is 1; it was 0 when the lesson began)",
        // What was done says what was done to it: a sysctl is set back, not "removed".
        "forwarding: set net.ipv4.ip_forward back to 0\n",
        "forwarding: removed netns fwd",
        "code 0",
    ] {
        assert!(reset.contains(line), "{line:?} not in:\n{reset}");
    }
    assert_eq!(r.words("AFTER"), ["0"]);
    assert_eq!(r.words("TERM"), ["code", "130", "0"], "{}", r.text);
    assert_eq!(r.words("TOOK"), ["fast"], "{}", r.text);
    assert!(
        r.part("ERR").contains("interrupted by SIGTERM"),
        "{}",
        r.text
    );
    let ledger: serde_json::Value = serde_json::from_str(&r.part("LEDGER")).unwrap();
    assert_eq!(ledger["lessons"], serde_json::json!({}));
}

#[test]
fn sigterm_and_sighup_to_learn_restore_the_terminal_and_exit_130() {
    for signal in ["TERM", "HUP"] {
        let out = sandboxed(&format!(
            r##"
learn veth-lab; waitfor "Step 1 of 9"
ip netns add blue
kill -{signal} $(nslab_pid)
for i in $(seq 100); do [ -s /tmp/exit ] && break; sleep 0.05; done
echo "#EXIT"; cat /tmp/exit
echo "#TTY"; tr ' ' '\n' < /tmp/stty | grep -x -e '-*echo' -e '-*icanon' -e '-*isig'
echo "#NETNS"; ls /run/netns
endserver
"##
        ));
        let r = Run::of(&out);
        assert_eq!(r.words("EXIT"), ["130"], "SIG{signal}: {}", r.text);
        assert_eq!(
            r.words("TTY"),
            ["isig", "icanon", "echo"],
            "SIG{signal}: {}",
            r.text
        );
        // The lab stays as it is, as with q.
        assert_eq!(r.words("NETNS"), ["blue"], "SIG{signal}");
    }
}

#[test]
fn without_a_baseline_reset_removes_nothing_and_by_name_asks() {
    let out = sandboxed(
        r##"
ip netns add blue
echo "#PLAIN"; $N reset veth-lab; echo "code $?"; ls /run/netns
echo "#BYNAME"; $N reset --by-name veth-lab < /dev/null; echo "code $?"; ls /run/netns
echo "#YES"; $N reset --by-name --yes veth-lab; echo "code $?"; ls /run/netns
# A baseline of another boot: forgotten, and nothing removed by it.
ip netns add blue
mkdir -p $HOME/.local/state/nslab
cat > $HOME/.local/state/nslab/ledger.json <<'END'
{"version": 1, "lessons": {"veth-lab": {"since": 1, "by": "learn", "boot": "another-boot",
 "uid": 0, "ticks": 0, "file": "lessons/02-veth.md",
 "makes": {"netns": ["blue"], "links": [], "addrs": [], "routes": [], "sysctls": [],
           "rules": [], "procs": [], "files": [], "unknown": []},
 "before": {"netns": {}, "files": {}}}}}
END
echo "#STALE"; $N reset --yes veth-lab; echo "code $?"; ls /run/netns
echo "#STALE-LEDGER"; cat $HOME/.local/state/nslab/ledger.json
rm $HOME/.local/state/nslab/ledger.json; mkfifo $HOME/.local/state/nslab/ledger.json
echo "#FIFO"; timeout 10 $N reset veth-lab; echo "code $?"
"##,
    );
    let r = Run::of(&out);
    let plain = r.words("PLAIN").join(" ");
    assert!(plain.ends_with("code 0 blue"), "{}", r.text);
    assert!(
        r.part("PLAIN")
            .contains("veth-lab: nslab has no baseline of this lesson"),
        "{}",
        r.text
    );
    // --by-name without a terminal and without --yes: refused, nothing removed.
    assert!(
        r.words("BYNAME").join(" ").ends_with("code 2 blue"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("there is no terminal to ask: add --yes"),
        "{}",
        r.text
    );
    let yes = r.part("YES");
    assert!(
        yes.contains("veth-lab: remove netns blue (it has a name the lesson makes (--by-name))")
            && yes.contains("veth-lab: removed netns blue")
            && yes.trim_end().ends_with("code 0"),
        "{yes}"
    );
    let stale = r.part("STALE");
    assert!(
        stale.contains("veth-lab: its baseline was taken before this machine restarted")
            && stale.trim_end().ends_with("code 0\nblue"),
        "{stale}"
    );
    assert!(!r.part("STALE-LEDGER").contains("veth-lab"), "{}", r.text);
    // A ledger that is a FIFO is refused at once, not opened.
    assert!(r.part("FIFO").contains("code 2"), "{}", r.text);
    assert!(r.text.contains("a FIFO, not a regular file"), "{}", r.text);
}

#[test]
fn verify_reports_a_lesson_that_leaves_a_root_link_behind() {
    let before = common::host_state();
    let out = common::nslab(&[
        "verify",
        "--format",
        "json",
        "tests/ledger-lessons/leaves-a-link.md",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = &r["lessons"][0];
    assert_eq!(l["passed"], false);
    assert_eq!(l["steps"][0]["status"], "passed");
    // The namespace it made and deleted is not a leftover; the bridge is.
    assert_eq!(
        l["leftovers"],
        serde_json::json!(["link leftover0 (bridge, down)"])
    );
    let out = common::nslab(&["verify", "tests/ledger-lessons/leaves-a-link.md"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lesson defect: the lesson leaves the root namespace changed")
            && text.contains("    link leftover0 (bridge, down)"),
        "{text}"
    );
    let out = common::nslab(&[
        "verify",
        "--format",
        "junit",
        "tests/ledger-lessons/leaves-a-link.md",
    ]);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("name=\"the root namespace after the lesson\"")
            && xml.contains("tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert_eq!(common::host_state(), before, "the host changed");
}

#[test]
fn demo_offers_to_reset_what_its_earlier_run_left() {
    // The terminal's input stays open until demo is done: script turns the end of its input
    // into a Ctrl-D, which stops demo as Ctrl-C does (and demo then takes back what it made).
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/leaves-a-link.md
keys() { printf "$1"; while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys "") > /dev/null
echo "#FIRST"; links
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys 'y\r') > /tmp/second
echo "#SECOND"; grep -a -o -e "An earlier run of this lesson left link leftover0. Reset the lesson first? \[y/N\]" -e "Reset: removed link leftover0" /tmp/second
echo "#RESET"; $N reset --yes $L; echo "code $?"; links
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("FIRST"), ["lo", "leftover0"], "{}", r.text);
    assert_eq!(
        r.part("SECOND").lines().collect::<Vec<_>>(),
        [
            "An earlier run of this lesson left link leftover0. Reset the lesson first? [y/N]",
            "Reset: removed link leftover0"
        ],
        "{}",
        r.text
    );
    // The second run made it again, under a new baseline: reset finds it the lesson's.
    let reset = r.part("RESET");
    assert!(
        reset.contains("leaves-a-link: removed link leftover0")
            && reset.trim_end().ends_with("code 0\nlo"),
        "{reset}"
    );
}

/// Demo's `[y/N]` takes a line: `n` and Enter decline, and the Enter does not reach the first
/// step (a single key left it there, and the step went on: this one-step lesson ended).
#[test]
fn demos_reset_question_takes_a_line_and_its_enter_does_not_go_on() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/leaves-a-link.md
keys() { printf "$1"; while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys "") > /dev/null
rm -f /tmp/exit
$T new-session -d -x 150 -y 50 "$N demo $L; echo \$? > /tmp/exit; sleep 600"
waitfor "Reset the lesson first? [y/N]"
$T send-keys n Enter
# The step performed (its footer shows), and a moment for a key to act.
for i in $(seq 200); do [ -e /tmp/exit ] || screen | grep -qF "space/Enter: next" && break; sleep 0.05; done
sleep 1
echo "#AFTER"; [ -e /tmp/exit ] && echo ended || echo running; screen | grep -c "End of the lesson"
quit
echo "#LINKS"; links
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("AFTER"), ["running", "0"], "{}", r.text);
    // Declined: the earlier run's bridge is still there.
    assert_eq!(r.words("LINKS"), ["lo", "leftover0"], "{}", r.text);
}

/// learn on names the lesson makes that are there already, and nslab did not see this lesson
/// make: it says so and asks; no changes nothing (no baseline, no progress), yes goes on.
#[test]
fn learn_asks_before_it_builds_on_names_it_did_not_make() {
    let out = sandboxed(
        r##"
ip netns add blue
learn veth-lab; waitfor "Go on anyway? [y/N]"
echo "#ASK"; screen
$T send-keys n Enter; waitexit
echo "#NO"; cat /tmp/exit; ls /run/netns; ls $HOME/.local/state/nslab 2>/dev/null
learn veth-lab; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 1 of 9"
quit
echo "#YES"; cat /tmp/exit; ls /run/netns
"##,
    );
    let r = Run::of(&out);
    let ask = flat(&r.part("ASK"));
    assert!(
        ask.contains("netns blue already exists, and nslab did not see this lesson make it.")
            && ask.contains("its clean-up step would delete it"),
        "{ask}"
    );
    assert_eq!(r.words("NO"), ["0", "blue"], "{}", r.text);
    // q leaves the lesson (130); the student's blue is kept.
    assert_eq!(r.words("YES"), ["130", "blue"], "{}", r.text);
}

#[test]
fn reset_removes_the_policy_rules_a_lesson_added_and_keeps_the_ones_there_before() {
    let out = sandboxed(
        r##"
L=tests/fixtures/leftovers/rules.md
# The student's own rule, with the same selectors as one of the lesson's, before the lesson.
ip rule add from 10.99.0.0/24 lookup 100
learn $L; waitfor "Step 1 of 1"
# The lesson's commands, typed in the student's shell; the kernel chooses the first one's
# preference. Then a rule of the student's own, during the lesson.
ip rule add from 10.99.0.0/24 lookup 100
ip rule add fwmark 0x10/0xff iif lo lookup 7 pref 5
ip -6 rule add from 2001:db8:99::/48 lookup 200 pref 11
ip route add blackhole 10.98.0.0/16 table 100
ip -6 route add blackhole 2001:db8:99::/48 table 200
ip rule add from 10.50.0.0/16 lookup 100 pref 6
quit
echo "#DRY"; $N reset --dry-run $L; echo "code $?"
echo "#RESET"; $N reset --yes $L; echo "code $?"
echo "#RULES"; ip rule
echo "#RULES6"; ip -6 rule
echo "#ROUTES"; ip route show table all type blackhole; ip -6 route show table all type blackhole
echo "#LEDGER"; cat $HOME/.local/state/nslab/ledger.json
# verify --no-sandbox takes back the rules it made, and only those.
$N verify --no-sandbox $L > /dev/null 2>&1
echo "#VERIFY"; ip rule; ip -6 rule
"##,
    );
    let r = Run::of(&out);
    let dry = r.part("DRY");
    for line in [
        "policy-rules: remove rule from 10.99.0.0/24 lookup 100 pref 32764 (there was no such rule when the lesson began)",
        "policy-rules: remove rule from all fwmark 0x10/0xff iif lo lookup 7 pref 5 (there was no such rule when the lesson began)",
        "policy-rules: remove rule -6 from 2001:db8:99::/48 lookup 200 pref 11 (there was no such rule when the lesson began)",
        "policy-rules: keep rule from 10.99.0.0/24 lookup 100 pref 32765 (there before the lesson began)",
        // Routes of another table, and IPv6 ones.
        "policy-rules: remove route blackhole 10.98.0.0/16 table 100 (there was no route blackhole 10.98.0.0/16 table 100 when the lesson began)",
        "policy-rules: remove route blackhole 2001:db8:99::/48 table 200 (there was no route blackhole 2001:db8:99::/48 table 200 when the lesson began)",
        "code 0",
    ] {
        assert!(dry.contains(line), "{line:?} not in:\n{dry}");
    }
    // Nothing says the lesson's lines could not be read.
    assert!(!dry.contains("note:"), "{dry}");
    assert!(!dry.contains("10.50.0.0"), "{dry}");
    let reset = r.part("RESET");
    assert!(
        reset.contains("policy-rules: removed rule from 10.99.0.0/24 lookup 100 pref 32764")
            && reset.contains("code 0"),
        "{reset}"
    );
    assert_eq!(
        r.part("RULES"),
        "0:\tfrom all lookup local\n6:\tfrom 10.50.0.0/16 lookup 100\n32765:\tfrom 10.99.0.0/24 lookup 100\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
        "{}",
        r.text
    );
    assert_eq!(
        r.part("RULES6"),
        "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n",
        "{}",
        r.text
    );
    assert_eq!(r.part("ROUTES").trim(), "", "{}", r.text);
    assert!(!r.part("LEDGER").contains("policy-rules"), "{}", r.text);
    assert_eq!(
        r.part("VERIFY").trim_end(),
        "0:\tfrom all lookup local\n6:\tfrom 10.50.0.0/16 lookup 100\n32765:\tfrom 10.99.0.0/24 lookup 100\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n0:\tfrom all lookup local\n32766:\tfrom all lookup main",
        "{}",
        r.text
    );
}

/// A lesson taken to its end that removed all it made leaves no baseline: what the user makes
/// afterwards under the lesson's names is the user's, and reset keeps it (a kept baseline took
/// it for the lesson's). And demo refuses to start on a namespace of the lesson's name that
/// nslab did not make: it would have built on it, and its clean-up deleted it.
#[test]
fn after_the_end_and_before_the_start_the_users_things_are_the_users() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/cleans-up.md
keys() { printf "$1"; while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys "") > /dev/null
ip netns add tidy
echo "#RESET"; $N reset --yes $L; echo "code $?"; ip netns list | cut -d' ' -f1
ip link add mine0 type veth peer name inside netns tidy
script -qec "$N demo $L --auto 0; echo code \$? > /tmp/code; touch /tmp/done" /dev/null < <(keys "") > /tmp/demo
echo "#DEMO"; cat /tmp/code; grep -a -o "netns tidy already exists, and nslab did not see this lesson make it" /tmp/demo
echo "#AFTER"; ip netns list | cut -d' ' -f1; ip -n tidy -br link | cut -d'@' -f1 | cut -d' ' -f1
script -qec "$N demo tests/ledger-lessons/leaves-a-link.md --auto 0; touch /tmp/done" /dev/null < <(keys "") > /dev/null
script -qec "$N demo tests/ledger-lessons/same-bridge.md --auto 0; echo code \$? > /tmp/code; touch /tmp/done" /dev/null < <(keys "") > /tmp/demo
echo "#OTHER"; cat /tmp/code; grep -a -o "It was left by leaves-a-link: \`nslab reset leaves-a-link\` removes it" /tmp/demo
"##,
    );
    let r = Run::of(&out);
    let reset = r.part("RESET");
    assert!(reset.trim_end().ends_with("tidy"), "{}", r.text);
    assert!(!reset.contains("removed netns"), "{}", r.text);
    assert_eq!(
        r.part("DEMO").lines().collect::<Vec<_>>(),
        [
            "code 3",
            "netns tidy already exists, and nslab did not see this lesson make it"
        ],
        "{}",
        r.text
    );
    assert_eq!(r.words("AFTER"), ["tidy", "lo", "inside"], "{}", r.text);
    // Another lesson's leftover: the refusal names the reset that removes it.
    assert_eq!(
        r.part("OTHER")
            .lines()
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>(),
        [
            "code 3",
            "It was left by leaves-a-link: `nslab reset leaves-a-link` removes it"
        ],
        "{}",
        r.text
    );
}

/// `nslab reset` typed in another shell while learn runs the lesson leaves that lesson alone
/// (exit 3, and says which session runs it and that `r` resets it there): it used to remove the
/// lab under learn and forget the baseline, and what the student made next was then no one's
/// (a veth pair made after it was taken for "there before" by the baseline learn took again).
/// A second learn of the same lesson does not start beside the first. Once learn has quit, the
/// same reset removes the lab.
#[test]
fn reset_leaves_a_lesson_that_learn_runs_alone() {
    let out = sandboxed(
        r##"
learn veth-lab; waitfor "Step 1 of 9"
$T send-keys Enter; waitfor "Step 2 of 9"
ip netns add blue; ip netns add red
waitfor "Step 3 of 9"
echo "#RESET"; $N reset --yes veth-lab 2>&1; echo "code $?"
echo "#ALL"; $N reset --yes 2>&1 | grep -c "veth-lab: learn (pid"
echo "#NETNS"; ls /run/netns
echo "#SECOND"; script -qec "$N learn veth-lab" /dev/null < /dev/null 2>&1 | tr -d '\r'; echo "code ${PIPESTATUS[0]}"
quit
echo "#AFTER"; $N reset --yes veth-lab; echo "code $?"; ls /run/netns
"##,
    );
    let r = Run::of(&out);
    let reset = flat(&r.part("RESET"));
    assert!(
        reset.contains("veth-lab: learn (pid ")
            && reset.contains("is running this lesson: nothing of it is removed. Press r in learn")
            && reset.ends_with("code 3"),
        "{}",
        r.text
    );
    assert_eq!(r.words("ALL"), ["1"], "{}", r.text);
    assert_eq!(r.words("NETNS"), ["blue", "red"], "{}", r.text);
    let second = flat(&r.part("SECOND"));
    assert!(
        second.contains("the lesson veth-lab is running here already: learn (pid")
            && second.ends_with("code 3"),
        "{}",
        r.text
    );
    let after = flat(&r.part("AFTER"));
    assert!(
        after.contains("veth-lab: removed netns blue") && after.ends_with("code 0"),
        "{}",
        r.text
    );
}

/// A step whose checks held before the session began (the lab was made before it, by hand or
/// by another lesson) is not the student's work: it counts as skipped, and learn says why.
#[test]
fn a_step_that_held_before_the_session_is_not_verified() {
    let out = sandboxed(
        r##"
cat > /tmp/two.md <<'LESSON'
+++
id = "two"
title = "Two namespaces"
format = 1
+++

## Make la

```sh
ip netns add la
```

## Make lb

```sh
ip netns add lb
```
LESSON
ip netns add la
learn /tmp/two.md; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 2 of 2"
echo "#NOTE"; screen
ip netns add lb
waitfor "Lesson complete"
echo "#END"; screen
"##,
    );
    let r = Run::of(&out);
    let note = flat(&r.part("NOTE"));
    assert!(
        note.contains("Step 1's checks held before you began"),
        "{}",
        r.text
    );
    let end = flat(&r.part("END"));
    assert!(
        end.contains("Step 1 ↷ skipped: Make la") && end.contains("Step 2 ✓ verified: Make lb"),
        "{}",
        r.text
    );
}

/// A challenge nslab performed in an earlier session, whose lab is gone again, is open: its
/// debrief (the words after its solution) stays hidden until it is solved.
#[test]
fn an_open_challenge_keeps_its_debrief_hidden_though_it_was_performed_before() {
    let out = sandboxed(
        r##"
learn veth-lab --step 9; waitfor "Step 9 of 9"
quit
ip -all netns del
learn veth-lab --step 8; waitfor "Step 8 of 9"
echo "#SHOWN"; screen
quit
"##,
    );
    let r = Run::of(&out);
    let shown = flat(&r.part("SHOWN"));
    assert!(shown.contains("A challenge"), "{}", r.text);
    assert!(
        !shown.contains("one command instead of three"),
        "{}",
        r.text
    );
}

/// The lesson made blue and red while learn watched, and they went (as with a sandbox that
/// ended, or a restart the ledger could not tell); the student then made a blue of their own,
/// with no session of the lesson running. That blue is theirs: learn asks before it builds on
/// it, and reset keeps it, with what is in it. Found by a student helper, whose blue reset
/// deleted.
#[test]
fn a_namespace_made_while_no_session_ran_is_the_users() {
    let out = sandboxed(
        r##"
learn veth-lab; waitfor "Step 1 of 9"
$T send-keys Enter; waitfor "Step 2 of 9"
ip netns add blue
ip netns add red
waitfor "Step 3 of 9"
quit
ip netns del blue
ip netns del red
# A pause: learn's own blue must not be told from this one by a clock that did not move.
sleep 0.05
ip netns add blue
ip link add own0 type veth peer name own1 netns blue
echo "#DRY"; $N reset --dry-run veth-lab; echo "code $?"
learn veth-lab; waitfor "Go on anyway? [y/N]"
$T send-keys n Enter; waitexit
echo "#RESET"; $N reset veth-lab < /dev/null; echo "code $?"
echo "#NETNS"; ls /run/netns
echo "#BLUE"; ip -n blue -br link | cut -d'@' -f1 | cut -d' ' -f1
"##,
    );
    let r = Run::of(&out);
    let dry = flat(&r.part("DRY"));
    assert!(
        dry.contains("veth-lab: keep netns blue (made while no session of the lesson ran: nslab did not see the lesson make it), and what is in it"),
        "{}",
        r.text
    );
    assert!(!dry.contains("veth-lab: remove"), "{}", r.text);
    assert!(!r.part("RESET").contains("removed"), "{}", r.text);
    assert_eq!(r.words("NETNS"), ["blue"], "{}", r.text);
    assert_eq!(r.words("BLUE"), ["lo", "own1"], "{}", r.text);
}

/// verify --no-sandbox takes back what a failing lesson made, namespaces made by lines the
/// real program ran included (not only by its own ledger of native lines), and forgets the
/// baseline only then. A reviewer found both namespaces left, and the baseline forgotten.
#[test]
fn a_failing_verify_without_a_sandbox_takes_back_what_real_lines_made() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/fails-after-real-lines.md
$N verify --no-sandbox $L > /dev/null 2>&1; C=$?; echo "#CODE"; echo $C
echo "#NETNS"; ls /run/netns
echo "#LEDGER"; cat $HOME/.local/state/nslab/ledger.json
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("CODE"), ["1"], "{}", r.text);
    assert_eq!(r.words("NETNS"), Vec::<String>::new(), "{}", r.text);
    let ledger: serde_json::Value = serde_json::from_str(&r.part("LEDGER")).unwrap();
    assert_eq!(ledger["lessons"], serde_json::json!({}), "{}", r.text);
}

/// A program the lesson starts only inside a namespace of its own (`ip netns exec srv sleep
/// 600 &`) is the lesson's there, not in the root namespace: reset stops the lesson's and
/// leaves the user's program of the same name in root alone (before, it killed the user's too:
/// found by a fresh-eyes instructor, whose own python3 died with the containers lesson's).
#[test]
fn reset_stops_only_the_lessons_program_where_the_lesson_starts_it() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/serves-in-a-namespace.md
# The terminal's input stays open until demo is done (its end would stop demo as Ctrl-D).
keys() { while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys) > /dev/null
# The lesson's program dies with demo; a student in learn starts it in their own shell.
ip netns exec srv sleep 600 &
LESSONS=$!
sleep 600 &
MINE=$!
sleep 0.2
echo "#PLAN"; $N reset --dry-run $L | grep -c "stop process sleep"
echo "#RESET"; $N reset --yes $L > /dev/null; echo "code $?"
echo "#MINE"; kill -0 $MINE && echo alive; kill $MINE
echo "#LESSONS"; sleep 0.2; kill -0 $LESSONS 2>/dev/null || echo stopped
echo "#NETNS"; ls /run/netns | wc -l
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.part("PLAN").trim(), "1", "{}", r.text);
    assert_eq!(r.part("RESET").trim(), "code 0", "{}", r.text);
    assert_eq!(r.part("MINE").trim(), "alive", "{}", r.text);
    assert_eq!(r.part("LESSONS").trim(), "stopped", "{}", r.text);
    assert_eq!(r.part("NETNS").trim(), "0", "{}", r.text);
}

/// Demo does not start over a file the lesson writes (and whose clean-up deletes it) that
/// nslab did not see the lesson make: the user's own would be overwritten, then deleted
/// (found by a fresh-eyes instructor, whose /tmp/netns-demo.c went).
#[test]
fn demo_does_not_start_over_the_users_file() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/writes-a-file.md
echo mine > /tmp/lesson-note.txt
script -qec "$N demo $L --auto 0; echo code \$?" /dev/null < /dev/null > /tmp/out
echo "#OUT"; grep -a -o -e "file /tmp/lesson-note.txt already exists" -e "code [0-9]*" /tmp/out
echo "#FILE"; cat /tmp/lesson-note.txt
echo mine > /tmp/appended.txt
keys() { while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo tests/ledger-lessons/appends-to-a-file.md --auto 0; echo code \$?; touch /tmp/done" /dev/null < <(keys) > /tmp/out2
echo "#APPENDED"; grep -a -o -e "code [0-9]*" /tmp/out2; cat /tmp/appended.txt
"##,
    );
    let r = Run::of(&out);
    assert_eq!(
        r.part("OUT").lines().collect::<Vec<_>>(),
        ["file /tmp/lesson-note.txt already exists", "code 3"],
        "{}",
        r.text
    );
    assert_eq!(r.part("FILE").trim(), "mine", "{}", r.text);
    // A file the lesson only appends to is meant to be there: the demo runs to its end, and
    // the line is appended.
    let appended = r.part("APPENDED");
    let appended: Vec<&str> = appended.trim_end().lines().collect();
    assert_eq!(
        appended,
        ["code 0", "mine", "the lesson's line"],
        "{}",
        r.text
    );
}

/// A file the lesson writes is the lesson's only as nslab saw it made (by device and inode).
/// A demo stopped after step 1 left the lesson's note: reset removes that one. The same demo
/// again, then the user removed the note and wrote their own at that path while no session of
/// the lesson ran: reset keeps theirs, and says why (it had removed it: a fresh-eyes reviewer).
#[test]
fn reset_removes_the_lessons_file_and_keeps_one_the_user_made_later() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/writes-a-file.md
demo_first_step $L
echo "#PLAN"; $N reset --dry-run writes-a-file | grep -o "remove file /tmp/lesson-note.txt"
$N reset writes-a-file > /dev/null; echo "#GONE"; ls /tmp/lesson-note.txt 2>&1 | grep -c "No such file"
demo_first_step $L
rm /tmp/lesson-note.txt; echo mine > /tmp/lesson-note.txt
$N reset writes-a-file > /tmp/out; echo "#KEPT"; echo "code $?"; cat /tmp/lesson-note.txt
echo "#SAID"; tr '\n' ' ' < /tmp/out
"##,
    );
    let r = Run::of(&out);
    assert_eq!(
        r.part("PLAN").trim(),
        "remove file /tmp/lesson-note.txt",
        "{}",
        r.text
    );
    assert_eq!(r.part("GONE").trim(), "1", "{}", r.text);
    assert_eq!(r.words("KEPT"), ["code", "0", "mine"], "{}", r.text);
    assert!(
        flat(&r.part("SAID"))
            .contains("file /tmp/lesson-note.txt (made while no session of the lesson ran"),
        "{}",
        r.text
    );
}

/// The same on a disk file system, where a freed inode number goes to the next new file (ext4
/// gave the user's file the inode of the lesson's removed one, and reset, which knew a file by
/// device and inode, removed the user's: found by a fresh-eyes reviewer). The sandbox's /mnt is
/// a folder of the test's own under the build's target folder, on the disk. A file is known by
/// its birth too.
#[test]
fn reset_keeps_the_users_file_that_took_the_lessons_inode() {
    let disk = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reset-disk-{}", std::process::id()));
    std::fs::create_dir_all(&disk).unwrap();
    let out = sandboxed(&format!(
        r##"
mount --bind {disk} /mnt || exit 99
L=tests/ledger-lessons/writes-a-file-on-disk.md
demo_first_step $L
was=$(stat -c %i /mnt/lesson-note.txt)
rm /mnt/lesson-note.txt; echo mine > /mnt/lesson-note.txt
echo "#INODE"; [ "$was" = "$(stat -c %i /mnt/lesson-note.txt)" ] && echo reused || echo other
$N reset writes-a-file-on-disk > /tmp/out; echo "#KEPT"; echo "code $?"; cat /mnt/lesson-note.txt
echo "#SAID"; tr '\n' ' ' < /tmp/out
"##,
        disk = disk.display()
    ));
    let _ = std::fs::remove_dir_all(&disk);
    let r = Run::of(&out);
    eprintln!(
        "the user's file took the lesson's inode: {}",
        r.part("INODE").trim()
    );
    assert_eq!(r.words("KEPT"), ["code", "0", "mine"], "{}", r.text);
    assert!(
        flat(&r.part("SAID")).contains("file /mnt/lesson-note.txt (made while no session"),
        "{}",
        r.text
    );
}

/// learn: the note the student writes while learn watches is the lesson's (reset removes it);
/// one the user wrote while no session ran, and chose to go on with when learn asked, stays
/// theirs (learn sees it there, and never writes it down as the lesson's).
#[test]
fn learn_notes_the_file_the_student_writes_and_not_the_one_they_kept() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/writes-a-file.md
learn $L; waitfor "Step 1 of 2"
echo "the lesson's" > /tmp/lesson-note.txt
quit
echo "#PLAN"; $N reset --dry-run writes-a-file | grep -o "remove file /tmp/lesson-note.txt"
# The baseline stays; the user writes their own note, then goes on with it in learn.
rm /tmp/lesson-note.txt; echo mine > /tmp/lesson-note.txt
learn $L; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 1 of 2"
quit
$N reset writes-a-file > /dev/null; echo "#KEPT"; cat /tmp/lesson-note.txt
"##,
    );
    let r = Run::of(&out);
    assert_eq!(
        r.part("PLAN").trim(),
        "remove file /tmp/lesson-note.txt",
        "{}",
        r.text
    );
    assert_eq!(r.part("KEPT").trim(), "mine", "{}", r.text);
}

/// At the namespaces lesson's step 7 a student ran `ip netns add keep` first, then did the
/// step's bind mount on top of it: /run/netns/keep holds two stacked mounts, both made while
/// learn watched. Reset takes both down and removes the name (`ip netns del` takes only the top
/// one, and then cannot remove the file: "Device or resource busy"). A reset that could not
/// remove the name (/run/netns read-only) unmounts nothing, exits 1 and forgets nothing: the
/// next reset tries again. Found by a fresh-eyes student, whose first reset left
/// the lower namespace and whose second one disowned it ("made while no session of the lesson
/// ran") and forgot the baseline.
#[test]
fn a_name_with_two_stacked_namespaces_is_removed_whole_and_a_failed_reset_forgets_nothing() {
    let out = sandboxed(
        r##"
L=$HOME/.local/state/nslab/ledger.json
inledger() {
  for i in $(seq 300); do grep -q "$1" $L 2>/dev/null && return 0; sleep 0.05; done
  echo "#TIMEOUT waiting for $1 in the ledger"; cat $L; exit 96
}
learn namespaces --step 7; waitfor "Step 7 of"
ip netns add keep
inledger $(stat -L -c %i /run/netns/keep)
unshare --net sleep 600 & P=$!
for i in $(seq 100); do [ "$(readlink /proc/$P/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.02; done
touch /run/netns/keep 2>/dev/null
mount --bind /proc/$P/ns/net /run/netns/keep
inledger $(stat -L -c %i /run/netns/keep)
quit
echo "#MOUNTS0"; grep -c ' /run/netns/keep ' /proc/self/mountinfo
echo "#DRY"; $N reset --dry-run namespaces; echo "code $?"
# /run/netns read-only: no name can be removed there.
mount -o remount,ro,bind /run/netns || echo "#TIMEOUT cannot remount /run/netns"
echo "#FAILS"; $N reset --yes namespaces 2>&1; echo "code $?"
mount -o remount,rw,bind /run/netns
echo "#MOUNTS1"; grep -c ' /run/netns/keep ' /proc/self/mountinfo
echo "#RESET"; $N reset --yes namespaces 2>&1; echo "code $?"
echo "#MOUNTS2"; grep -c ' /run/netns/keep ' /proc/self/mountinfo; ls /run/netns
echo "#AGAIN"; $N reset --yes namespaces 2>&1; echo "code $?"
echo "#LEDGER"; cat $L
kill $P
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.words("MOUNTS0"), ["2"], "{}", r.text);
    let dry = flat(&r.part("DRY"));
    assert!(
        dry.contains(
            "namespaces: remove netns keep (there was no namespace keep when the lesson began)"
        ),
        "{}",
        r.text
    );
    // What a line that names a namespace made elsewhere leaves is said without contradicting
    // the removal of that name.
    assert!(
        !dry.contains("given a name): what it made is not removed")
            && dry.contains("namespaces: note: a line gives a name to a namespace made elsewhere (`ip netns attach`, or a bind mount onto /run/netns): reset removes the name, as `ip netns del` does"),
        "{}",
        r.text
    );
    let fails = flat(&r.part("FAILS"));
    assert!(
        fails.contains("could not remove netns keep: /run/netns: Read-only file system")
            && fails.ends_with("code 1"),
        "{}",
        r.text
    );
    assert_eq!(r.words("MOUNTS1"), ["2"], "{}", r.text);
    let reset = flat(&r.part("RESET"));
    assert!(
        reset.contains("namespaces: remove netns keep (there was no namespace keep")
            && reset.contains("namespaces: removed netns keep")
            && reset.ends_with("code 0"),
        "{}",
        r.text
    );
    assert!(!reset.contains("could not"), "{}", r.text);
    assert_eq!(r.words("MOUNTS2"), ["0"], "{}", r.text);
    let again = flat(&r.part("AGAIN"));
    assert!(
        again.contains("Nothing to remove.") && again.ends_with("code 0"),
        "{}",
        r.text
    );
    assert!(!again.contains("keep netns keep"), "{}", r.text);
    let ledger: serde_json::Value = serde_json::from_str(&r.part("LEDGER")).unwrap();
    assert_eq!(ledger["lessons"], serde_json::json!({}), "{}", r.text);
}

/// The student's own keep, there before the lesson began, with the lesson's bind mount on top
/// of it: reset unmounts the lesson's namespace and stops there. The student's keeps its name.
#[test]
fn a_students_namespace_under_one_of_the_lessons_keeps_its_name() {
    let out = sandboxed(
        r##"
L=$HOME/.local/state/nslab/ledger.json
ip netns add keep
stat -L -c %i /run/netns/keep > /tmp/theirs
learn namespaces --step 7; waitfor "Go on anyway? [y/N]"
$T send-keys y Enter; waitfor "Step 7 of"
unshare --net sleep 600 & P=$!
for i in $(seq 100); do [ "$(readlink /proc/$P/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.02; done
mount --bind /proc/$P/ns/net /run/netns/keep
I=$(stat -L -c %i /run/netns/keep)
for i in $(seq 300); do grep -q "$I" $L && break; sleep 0.05; done
quit
echo "#RESET"; $N reset --yes namespaces 2>&1; echo "code $?"
echo "#KEEP"; grep -c ' /run/netns/keep ' /proc/self/mountinfo; [ "$(stat -L -c %i /run/netns/keep)" = "$(cat /tmp/theirs)" ] && echo theirs
kill $P
"##,
    );
    let r = Run::of(&out);
    let reset = flat(&r.part("RESET"));
    assert!(
        reset.contains("namespaces: remove netns keep (another namespace than the keep there when the lesson began")
            && reset.contains("namespaces: unmounted from netns keep the namespace of the lesson's; the namespace under it (inode")
            && reset.contains("is not the lesson's, and keeps the name")
            && reset.ends_with("code 0"),
        "{}",
        r.text
    );
    assert_eq!(r.words("KEEP"), ["1", "theirs"], "{}", r.text);
}

/// A program the lesson starts by its path (`/tmp/netns-demo 3600 &`) is the lesson's only when
/// a process of that name runs that file: reset leaves the user's own program of the same
/// name (found by a fresh-eyes student, whose copy named netns-demo was stopped).
#[test]
fn reset_stops_only_the_program_the_lesson_starts_by_its_path() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/runs-by-path.md
# The terminal's input stays open until demo is done (its end would stop demo as Ctrl-D).
keys() { while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys) > /dev/null
# The lesson's program dies with demo; a student in learn starts it in their own shell.
/tmp/lessonprog 600 &
LESSONS=$!
mkdir -p /tmp/mine && cp /bin/sleep /tmp/mine/lessonprog
/tmp/mine/lessonprog 600 &
MINE=$!
sleep 0.2
echo "#PLAN"; $N reset --dry-run $L | grep -c "stop process lessonprog"
$N reset --yes $L > /dev/null
echo "#MINE"; kill -0 $MINE && echo alive; kill $MINE
echo "#LESSONS"; sleep 0.2; kill -0 $LESSONS 2>/dev/null || echo stopped
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.part("PLAN").trim(), "1", "{}", r.text);
    assert_eq!(r.part("MINE").trim(), "alive", "{}", r.text);
    assert_eq!(r.part("LESSONS").trim(), "stopped", "{}", r.text);
}

/// A name of the lesson's in /run/netns left without a namespace (a demo stopped between
/// `touch /run/netns/keep` and its mount, or the mount gone) is an empty file, which `ip netns`
/// lists as broken: reset removes it (found by a fresh-eyes instructor and student).
#[test]
fn reset_removes_a_name_the_lesson_left_without_a_namespace() {
    let out = sandboxed(
        r##"
L=tests/ledger-lessons/names-a-namespace.md
# The terminal's input stays open until demo is done (its end would stop demo as Ctrl-D).
keys() { while [ ! -e /tmp/done ]; do sleep 0.05; done; rm /tmp/done; }
script -qec "$N demo $L --auto 0; touch /tmp/done" /dev/null < <(keys) > /dev/null
umount /run/netns/held
echo "#BEFORE"; ls /run/netns
echo "#PLAN"; $N reset --dry-run $L | grep -o "remove file /run/netns/held"
$N reset --yes $L > /dev/null
echo "#AFTER"; ls /run/netns | wc -l
"##,
    );
    let r = Run::of(&out);
    assert_eq!(r.part("BEFORE").trim(), "held", "{}", r.text);
    assert_eq!(
        r.part("PLAN").trim(),
        "remove file /run/netns/held",
        "{}",
        r.text
    );
    assert_eq!(r.part("AFTER").trim(), "0", "{}", r.text);
}
