//! The reset plan from hand-built baselines and looks at the machine: what is the lesson's,
//! what is kept, in what order.

use std::collections::BTreeMap;

use super::*;
use crate::engine::ledger::file::InNs;

fn in_ns(ns: &str, name: &str) -> InNs {
    InNs {
        ns: ns.into(),
        name: name.into(),
    }
}

fn rule() -> RuleItem {
    RuleItem {
        ns: "root".into(),
        program: "iptables".into(),
        table: "nat".into(),
        chain: "POSTROUTING".into(),
        rule: [
            "-s",
            "10.1.0.0/24",
            "!",
            "-o",
            "bridge0",
            "-j",
            "MASQUERADE",
        ]
        .map(String::from)
        .to_vec(),
    }
}

fn addr(dev: &str, cidr: &str) -> AddrItem {
    AddrItem {
        ns: "root".into(),
        dev: dev.into(),
        cidr: cidr.parse().unwrap(),
    }
}

fn route(ns: &str, via: &str) -> RouteItem {
    RouteItem {
        ns: ns.into(),
        table: 254,
        kind: 1,
        dest: None,
        via: Some(via.parse().unwrap()),
        dev: None,
        metric: None,
    }
}

/// What the bridges lesson makes, more or less.
fn makes() -> Makes {
    Makes {
        netns: ["blue", "red"].map(String::from).into(),
        links: [
            in_ns("root", "bridge0"),
            in_ns("root", "blue0"),
            in_ns("blue", "blue1"),
        ]
        .into(),
        addrs: [addr("bridge0", "10.1.0.1/24"), addr("lo", "10.9.9.9/32")].into(),
        routes: [route("blue", "10.1.0.1"), route("root", "10.1.0.9")].into(),
        sysctls: [in_ns("root", "net.ipv4.ip_forward")].into(),
        rules: [rule()].into(),
        ip_rules: Default::default(),
        procs: ["netns-demo".to_string()].into(),
        procs_outside_root: Default::default(),
        proc_paths: Default::default(),
        files: ["/tmp/netns-demo".to_string(), "/tmp/x.c".to_string()].into(),
        unknown: Vec::new(),
    }
}

fn root(inode: u64) -> NsSeen {
    NsSeen {
        inode,
        ..NsSeen::default()
    }
}

fn baseline(before: Seen) -> Baseline {
    Baseline {
        since: 1,
        by: By::Learn,
        boot: "b".into(),
        uid: 0,
        ticks: 1,
        file: "bridges.md".into(),
        makes: makes(),
        before,
        // As an older nslab wrote it: every new namespace of the lesson's names is its own.
        made: None,
        made_links: None,
        made_files: None,
    }
}

fn file(ino: u64) -> FileId {
    FileId {
        dev: 1,
        ino,
        regular: true,
        born: 0,
    }
}

fn items(p: &Plan) -> Vec<String> {
    p.actions.iter().map(|a| a.item.to_string()).collect()
}

#[test]
fn nothing_that_was_there_before_is_touched_whatever_its_name() {
    // Before the lesson: the student's own blue, bridge0 with an address, the rule once,
    // forwarding off, their own /tmp/netns-demo.
    let mut before = Seen::default();
    let mut r = root(1);
    r.links.insert("bridge0".into(), 7);
    r.addrs.insert(addr("bridge0", "10.1.0.1/24").id());
    r.rules.insert(rule().id(), 1);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    before.netns.insert("root".into(), r.clone());
    before.netns.insert("blue".into(), root(100));
    before.files.insert("/tmp/netns-demo".into(), file(5));
    // Now: the same things, untouched by the lesson.
    let mut now = before.clone();
    now.netns.get_mut("root").unwrap().sysctls =
        BTreeMap::from([("net.ipv4.ip_forward".into(), "0".into())]);
    let p = plan("bridges", &baseline(before), &now, &[], Basis::Baseline);
    assert!(p.is_empty(), "{:?}", p.actions);
    assert_eq!(
        p.kept,
        [
            "netns blue (there before the lesson began: the same namespace)",
            "link bridge0 (there before the lesson began)",
            "the nat rule POSTROUTING -s 10.1.0.0/24 ! -o bridge0 -j MASQUERADE (there before the lesson began)",
            "file /tmp/netns-demo (there before the lesson began)",
        ]
    );
}

#[test]
fn what_the_lesson_made_goes_each_with_its_reason_in_order() {
    let mut before = Seen::default();
    let mut r = root(1);
    r.links.insert("bridge0".into(), 7);
    r.rules.insert(rule().id(), 1);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    before.netns.insert("root".into(), r);
    before.netns.insert("blue".into(), root(100));
    before.files.insert("/tmp/netns-demo".into(), file(5));
    let mut now = Seen::default();
    let mut r = root(1);
    // bridge0 deleted and made again (another ifindex), blue0 new; an address on each.
    r.links.insert("bridge0".into(), 12);
    r.links.insert("blue0".into(), 13);
    r.addrs.insert(addr("bridge0", "10.1.0.1/24").id());
    r.addrs.insert(addr("lo", "10.9.9.9/32").id());
    r.routes.insert(route("root", "10.1.0.9").id());
    r.rules.insert(rule().id(), 3);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    now.netns.insert("root".into(), r);
    // blue made again by the lesson (another inode), red new.
    now.netns.insert("blue".into(), root(200));
    let mut red = root(300);
    red.routes.insert(route("red", "10.1.0.1").id());
    now.netns.insert("red".into(), red);
    now.files.insert("/tmp/netns-demo".into(), file(6));
    now.files.insert("/tmp/x.c".into(), file(7));
    let procs = [("netns-demo".to_string(), 4242)];
    let p = plan("bridges", &baseline(before), &now, &procs, Basis::Baseline);
    assert_eq!(
        items(&p),
        [
            "process netns-demo (pid 4242)",
            "2 copies of the nat rule POSTROUTING -s 10.1.0.0/24 ! -o bridge0 -j MASQUERADE",
            "net.ipv4.ip_forward back to 0",
            "route default via 10.1.0.9",
            // The address on bridge0 goes with bridge0; the one on lo (not the lesson's) alone.
            "address 10.9.9.9/32 on lo",
            "link blue0",
            "link bridge0",
            "netns blue",
            "netns red",
            "file /tmp/netns-demo",
            "file /tmp/x.c",
        ]
    );
    let why: BTreeMap<String, String> = p
        .actions
        .iter()
        .map(|a| (a.item.to_string(), a.why.clone()))
        .collect();
    assert_eq!(
        why["netns blue"],
        "another namespace than the blue there when the lesson began (inode 100 then, 200 now)"
    );
    assert_eq!(
        why["netns red"],
        "there was no namespace red when the lesson began"
    );
    assert_eq!(
        why["link bridge0"],
        "another link than the bridge0 there when the lesson began (ifindex 7 then, 12 now)"
    );
    assert_eq!(
        why["2 copies of the nat rule POSTROUTING -s 10.1.0.0/24 ! -o bridge0 -j MASQUERADE"],
        "3 now, 1 when the lesson began"
    );
    assert_eq!(
        why["net.ipv4.ip_forward back to 0"],
        "it is 1; it was 0 when the lesson began"
    );
    assert_eq!(
        why["file /tmp/netns-demo"],
        "another file than the one there when the lesson began"
    );
    // The route in red goes with red.
    assert!(!items(&p).iter().any(|i| i.contains("in netns red")));
    assert_eq!(
        p.lines()[2],
        "bridges: set net.ipv4.ip_forward back to 0 (it is 1; it was 0 when the lesson began)"
    );
}

#[test]
fn what_nslab_could_not_see_is_left_and_said() {
    let mut before = Seen::default();
    let mut r = root(1);
    r.unreadable.insert(rule().id());
    before.netns.insert("root".into(), r);
    let mut now = Seen::default();
    let mut r = root(1);
    r.rules.insert(rule().id(), 2);
    // Forwarding on, but its value before is unknown.
    r.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    now.netns.insert("root".into(), r);
    now.files.insert(
        "/tmp/x.c".into(),
        FileId {
            dev: 1,
            ino: 9,
            regular: false,
            born: 0,
        },
    );
    let mut b = baseline(before);
    // Two lines of the same kind: the note is said once.
    b.makes.unknown = vec![
        "the line has shell structure nslab does not read".into(),
        "the line has shell structure nslab does not read".into(),
    ];
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert!(p.is_empty(), "{:?}", p.actions);
    assert_eq!(
        p.notes,
        [
            "the nat rule POSTROUTING -s 10.1.0.0/24 ! -o bridge0 -j MASQUERADE is left: nslab could not count its copies when the lesson began",
            "net.ipv4.ip_forward is left at 1: its value before the lesson is unknown",
            "/tmp/x.c is left: it is not a regular file",
            "a line nslab cannot read (the line has shell structure nslab does not read): what it made is not removed",
        ]
    );
}

#[test]
fn a_namespace_that_outlives_the_reset_keeps_what_was_in_it() {
    // The student's blue, with their own blue1 in it; the lesson made a route there.
    let mut before = Seen::default();
    before.netns.insert("root".into(), root(1));
    let mut blue = root(100);
    blue.links.insert("blue1".into(), 2);
    before.netns.insert("blue".into(), blue.clone());
    let mut now = before.clone();
    now.netns
        .get_mut("blue")
        .unwrap()
        .routes
        .insert(route("blue", "10.1.0.1").id());
    let p = plan("bridges", &baseline(before), &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["route default via 10.1.0.1 in netns blue"]);
    assert!(
        p.kept
            .contains(&"link blue1 in netns blue (there before the lesson began)".into())
    );
}

#[test]
fn by_name_takes_whatever_has_the_lessons_names() {
    let mut before = Seen::default();
    let mut r = root(0);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    before.netns.insert("root".into(), r);
    let mut now = Seen::default();
    let mut r = root(1);
    r.links.insert("bridge0".into(), 7);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    now.netns.insert("root".into(), r);
    now.netns.insert("blue".into(), root(100));
    now.files.insert("/tmp/netns-demo".into(), file(5));
    let p = plan("bridges", &baseline(before), &now, &[], Basis::ByName);
    assert_eq!(
        items(&p),
        [
            "net.ipv4.ip_forward back to 0",
            "link bridge0",
            "netns blue",
            "file /tmp/netns-demo"
        ]
    );
    assert!(
        p.actions
            .iter()
            .filter(|a| !matches!(a.item, Item::Sysctl { .. }))
            .all(|a| a.why == "it has a name the lesson makes (--by-name)")
    );
    assert!(
        p.notes.iter().any(|n| n.contains("netns-demo")),
        "{:?}",
        p.notes
    );
}

#[test]
fn nothing_there_nothing_to_do() {
    let mut now = Seen::default();
    now.netns.insert("root".into(), root(1));
    let p = plan(
        "bridges",
        &baseline(Seen::default()),
        &now,
        &[],
        Basis::Baseline,
    );
    assert!(
        p.is_empty() && p.kept.is_empty() && p.notes.is_empty(),
        "{p:?}"
    );
}

#[test]
fn a_sysctl_set_in_the_root_namespace_by_mistake_is_named_and_left() {
    // The lesson sets forwarding in its router; the student typed it in the root namespace.
    let mut m = makes();
    m.sysctls = [in_ns("router", "net.ipv4.ip_forward")].into();
    let mut b = baseline(Seen::default());
    b.makes = m;
    let mut r = root(1);
    r.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    b.before.netns.insert("root".into(), r.clone());
    let mut now = Seen::default();
    r.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    now.netns.insert("root".into(), r);
    let p = plan("routing", &b, &now, &[], Basis::Baseline);
    // Not the lesson's: nothing set back.
    assert!(p.is_empty(), "{:?}", p.actions);
    assert!(
        p.notes.iter().any(|n| n.contains(
            "net.ipv4.ip_forward in the root namespace is 1; it was 0 when the lesson began"
        ) && n.contains("sysctl -w net.ipv4.ip_forward=0")),
        "{:?}",
        p.notes
    );
    // Unchanged: nothing said.
    let same = b.before.clone();
    let p = plan("routing", &b, &same, &[], Basis::Baseline);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

/// A namespace of the lesson's name that nslab never saw the lesson make (made while no session
/// of it ran: the student's own, after the lesson's went with a restart of its sandbox) is
/// kept, with what is in it; one nslab saw made, of the same identity, goes. Found by a student
/// helper: reset deleted their blue.
#[test]
fn a_namespace_no_session_saw_the_lesson_make_is_kept_with_what_is_in_it() {
    let mut before = Seen::default();
    before.netns.insert("root".into(), root(1));
    let mut now = Seen::default();
    now.netns.insert("root".into(), root(1));
    let mut blue = root(200);
    blue.stamp = Some(55);
    blue.links.insert("blue1".into(), 3);
    blue.routes.insert(route("blue", "10.1.0.1").id());
    now.netns.insert("blue".into(), blue);
    let mut red = root(300);
    red.stamp = Some(66);
    now.netns.insert("red".into(), red);
    let mut b = baseline(before);
    // red was seen made; blue was, but with another identity (its inode given again).
    b.made = Some(
        [
            ("red".to_string(), vec![(300, 66)]),
            ("blue".to_string(), vec![(200, 54)]),
        ]
        .into(),
    );
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["netns red"]);
    assert!(
        p.kept.iter().any(|k| k.starts_with(
            "netns blue (made while no session of the lesson ran: nslab did not see the lesson make it)"
        )),
        "{:?}",
        p.kept
    );
    // By name, it goes (the user asked for that).
    let p = plan("bridges", &b, &now, &[], Basis::ByName);
    assert!(
        items(&p).contains(&"netns blue".to_string()),
        "{:?}",
        items(&p)
    );
}

/// A root link of the lesson's names that nslab never saw a session make (made by hand after
/// a demo stopped before the step that makes it) is kept; one it saw made, by its ifindex,
/// goes. Found by a fresh-eyes instructor: reset deleted their veth0, its peer with it, and
/// their bridge named like the lesson's veth.
#[test]
fn a_root_link_no_session_saw_the_lesson_make_is_kept() {
    let mut before = Seen::default();
    before.netns.insert("root".into(), root(1));
    let mut now = Seen::default();
    let mut r = root(1);
    r.links.insert("bridge0".into(), 40);
    r.links.insert("blue0".into(), 41);
    now.netns.insert("root".into(), r);
    let mut b = baseline(before);
    b.made_links = Some(
        [
            ("bridge0".to_string(), vec![40]),
            ("blue0".to_string(), vec![12]),
        ]
        .into(),
    );
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["link bridge0"]);
    assert!(
        p.kept.iter().any(|k| k.starts_with(
            "link blue0 (made while no session of the lesson ran: nslab did not see the lesson make it)"
        )),
        "{:?}",
        p.kept
    );
    // An older baseline, which did not record them: both are the lesson's.
    b.made_links = None;
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["link blue0", "link bridge0"]);
}

/// Two namespaces stacked on one name (`ip netns add keep`, then a bind mount on top), both
/// seen made while learn watched: once the top one is unmounted (a reset that took only it, as
/// `ip netns del` does), the one under it is the lesson's still, and the next reset removes it.
/// Found by a fresh-eyes student: the second reset kept it as made while no session ran.
#[test]
fn a_namespace_that_was_under_another_of_the_lessons_is_the_lessons() {
    let mut before = Seen::default();
    before.netns.insert("root".into(), root(1));
    let mut now = before.clone();
    let mut blue = root(200);
    blue.stamp = Some(54);
    now.netns.insert("blue".into(), blue);
    let mut b = baseline(before);
    b.made = Some(BTreeMap::new());
    b.note_made(&[("blue".to_string(), (200, 54))]);
    b.note_made(&[("blue".to_string(), (300, 66))]);
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["netns blue"]);
    assert!(p.kept.is_empty(), "{:?}", p.kept);
}

/// A line that names a namespace made elsewhere (a bind mount onto /run/netns) is read as far
/// as the name, which reset removes: its note says so, and not that what the line made stays
/// (the dry run listed `remove netns keep` next to "what it made is not removed").
#[test]
fn the_note_on_a_namespace_named_by_a_line_does_not_contradict_its_removal() {
    let mut before = Seen::default();
    before.netns.insert("root".into(), root(1));
    let mut now = before.clone();
    now.netns.insert("blue".into(), root(200));
    let mut b = baseline(before);
    b.makes.unknown = vec![crate::lesson::effect::NAMED_ELSEWHERE.to_string()];
    let p = plan("bridges", &b, &now, &[], Basis::Baseline);
    assert_eq!(items(&p), ["netns blue"]);
    assert_eq!(
        p.notes,
        [
            "a line gives a name to a namespace made elsewhere (`ip netns attach`, or a bind mount onto /run/netns): reset removes the name, as `ip netns del` does, and the namespace goes, with what is in it, once nothing else holds it (a process in it)"
        ]
    );
}
