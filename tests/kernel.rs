//! The kernel layer against the real kernel, inside a sandbox, with iproute2's `ip -j` as an
//! independent oracle. Runs without libtest: the sandbox must be entered before any thread.

use std::process::Command;
use std::time::Duration;

use nslab::engine::{Round, RunInfo, judge};
use nslab::kernel::{Kernel, PingOutcome, SysctlSet, sandbox};
use nslab::lesson::check;
use nslab::lesson::{Cidr, Ns};
use serde_json::Value;

fn ip(args: &[&str]) -> Value {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn link<'a>(links: &'a Value, name: &str) -> Option<&'a Value> {
    links.as_array()?.iter().find(|l| l["ifname"] == name)
}

fn named(n: &str) -> Ns {
    Ns::Named(n.into())
}

type Test = (&'static str, fn(&Kernel));

fn namespaces_are_iproute2_compatible(k: &Kernel) {
    k.netns_add("t-blue").unwrap();
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("t-blue"));
    // ip netns exec enters nslab's namespace, and sees only lo there.
    let links = ip(&["-n", "t-blue", "link", "show"]);
    assert_eq!(links.as_array().unwrap().len(), 1);
    // nslab sees iproute2's namespaces.
    assert!(
        Command::new("ip")
            .args(["netns", "add", "t-red"])
            .status()
            .unwrap()
            .success()
    );
    assert!(k.netns_exists("t-red"));
    assert!(k.netns_list().contains(&"t-red".to_string()));
    assert!(matches!(k.netns_add("t-blue"), Err(e) if e.to_string().contains("already exists")));
    k.netns_del("t-red").unwrap();
    k.netns_del("t-blue").unwrap();
    assert!(!k.netns_exists("t-blue"));
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        listed.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
}

fn links_addresses_routes_match_ip(k: &Kernel) {
    k.netns_add("k-a").unwrap();
    k.netns_add("k-b").unwrap();
    // A peer created directly in another namespace.
    k.veth_add(&named("k-a"), "va", "vb", Some(&named("k-b")))
        .unwrap();
    let a = ip(&["-n", "k-a", "link", "show", "va"]);
    assert_eq!(a[0]["link_type"], "ether");
    assert!(link(&ip(&["-n", "k-b", "link"]), "vb").is_some());
    k.link_set_up(&named("k-a"), "va", true).unwrap();
    k.link_set_up(&named("k-b"), "vb", true).unwrap();
    k.addr_add(&named("k-a"), "va", "10.77.0.1/24".parse().unwrap())
        .unwrap();
    k.addr_add(&named("k-b"), "vb", "10.77.0.2/24".parse().unwrap())
        .unwrap();
    for line in [
        "ip route add default via 10.77.0.2",
        "ip route add 10.88.0.0/16 via 10.77.0.2 dev va",
    ] {
        let c = nslab::lesson::grammar::parse(line).unwrap();
        let nslab::lesson::Op::Route(r) = &c.parts[0].op else {
            panic!("{line}")
        };
        let (change, req) = nslab::engine::native::route_change(r);
        k.route_change(&named("k-a"), change, r.dev.as_deref(), &req)
            .unwrap();
    }

    let snap = k.snapshot(&named("k-a")).unwrap();
    let oracle_links = ip(&["-n", "k-a", "link"]);
    for l in &snap.links {
        let o =
            link(&oracle_links, &l.name).unwrap_or_else(|| panic!("ip does not know {}", l.name));
        assert_eq!(o["ifindex"], l.index);
        assert_eq!(
            o["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            l.up,
            "{}",
            l.name
        );
        if let Some(mac) = &l.mac {
            assert_eq!(o["address"], mac.as_str());
        }
    }
    let va = snap.link("va").unwrap();
    assert_eq!(va.kind.as_deref(), Some("veth"));
    let peer = va.peer.as_ref().unwrap();
    assert_eq!(peer.name.as_deref(), Some("vb"));
    assert_eq!(peer.ns, Some(named("k-b")));
    // The oracle's view of the peer: same ifindex.
    let vb = link(&ip(&["-n", "k-b", "link"]), "vb").unwrap().clone();
    assert_eq!(vb["ifindex"], peer.index);

    let oracle_addrs = ip(&["-n", "k-a", "-4", "addr", "show", "va"]);
    let info = &oracle_addrs[0]["addr_info"][0];
    let ours: Vec<Cidr> = snap
        .addrs_of("va")
        .filter(|a| a.cidr.is_v4())
        .map(|a| a.cidr)
        .collect();
    assert_eq!(
        ours,
        vec![
            format!("{}/{}", info["local"].as_str().unwrap(), info["prefixlen"])
                .parse::<Cidr>()
                .unwrap()
        ]
    );

    let oracle_routes = ip(&["-n", "k-a", "-4", "route", "show", "table", "main"]);
    assert_eq!(snap.routes.len(), oracle_routes.as_array().unwrap().len());
    let default = oracle_routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "default")
        .unwrap();
    let ours = snap.routes.iter().find(|r| r.dest.is_none()).unwrap();
    assert_eq!(default["gateway"], ours.via.unwrap().to_string());
    assert!(
        snap.routes
            .iter()
            .any(|r| r.dest == Some("10.88.0.0/16".parse().unwrap())
                && r.dev.as_deref() == Some("va"))
    );

    // Ping: a reply in well under a millisecond on a veth; a missing host fails fast.
    let got = k
        .ping(
            &named("k-a"),
            "10.77.0.2".parse().unwrap(),
            Duration::from_millis(200),
        )
        .unwrap();
    assert!(matches!(got, PingOutcome::Reply(_)), "{got:?}");
    let start = std::time::Instant::now();
    let got = k
        .ping(
            &named("k-a"),
            "10.77.0.99".parse().unwrap(),
            Duration::from_millis(200),
        )
        .unwrap();
    assert_eq!(got, PingOutcome::NoReply);
    assert!(start.elapsed() < Duration::from_secs(1));
    let got = k
        .ping(
            &named("k-b"),
            "10.99.0.1".parse().unwrap(),
            Duration::from_millis(200),
        )
        .unwrap();
    assert!(matches!(got, PingOutcome::Unreachable(_)), "{got:?}");

    // Move, bridge, master, nomaster, delete.
    k.bridge_add(&named("k-b"), "br0").unwrap();
    assert_eq!(
        ip(&["-n", "k-b", "-d", "link", "show", "br0"])[0]["linkinfo"]["info_kind"],
        "bridge"
    );
    k.link_set_master(&named("k-b"), "vb", Some("br0")).unwrap();
    assert_eq!(ip(&["-n", "k-b", "link", "show", "vb"])[0]["master"], "br0");
    assert_eq!(
        k.snapshot(&named("k-b"))
            .unwrap()
            .link("vb")
            .unwrap()
            .master
            .as_deref(),
        Some("br0")
    );
    k.link_set_master(&named("k-b"), "vb", None).unwrap();
    assert!(
        ip(&["-n", "k-b", "link", "show", "vb"])[0]
            .get("master")
            .is_none()
    );
    k.link_del(&named("k-b"), "br0").unwrap();
    assert!(link(&ip(&["-n", "k-b", "link"]), "br0").is_none());
    // Both ends in one namespace: the peer resolves there.
    k.link_set_netns(&named("k-b"), "vb", &named("k-a"))
        .unwrap();
    assert!(link(&ip(&["-n", "k-a", "link"]), "vb").is_some());
    let p = k
        .snapshot(&named("k-a"))
        .unwrap()
        .link("va")
        .unwrap()
        .peer
        .clone()
        .unwrap();
    assert_eq!((p.name.as_deref(), p.ns), (Some("vb"), Some(named("k-a"))));
    k.link_set_netns(&named("k-a"), "vb", &named("k-b"))
        .unwrap();
    let e = k
        .link_set_netns(&named("k-a"), "va", &named("nope"))
        .unwrap_err();
    // In iproute2's words, as the real ip says them.
    let oracle = std::process::Command::new("unshare")
        .args(["-n", "ip", "link", "set", "lo", "netns", "nope"])
        .output()
        .unwrap();
    assert_eq!(
        e.to_string(),
        String::from_utf8_lossy(&oracle.stderr).trim()
    );
    let e = k.link(&named("nope"), "lo").unwrap_err();
    let oracle = std::process::Command::new("unshare")
        .args(["-n", "ip", "-n", "nope", "link", "show"])
        .output()
        .unwrap();
    assert_eq!(
        e.to_string(),
        String::from_utf8_lossy(&oracle.stderr).trim()
    );

    // sysctl inside one namespace only.
    k.sysctl_write(&named("k-a"), "net.ipv4.ip_forward", "1")
        .unwrap();
    assert_eq!(
        k.sysctl_read(&named("k-a"), "net.ipv4.ip_forward").unwrap(),
        "1"
    );
    assert_eq!(
        k.sysctl_read(&named("k-b"), "net.ipv4.ip_forward").unwrap(),
        "0"
    );
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "k-a",
            "sysctl",
            "-n",
            "net.ipv4.ip_forward",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    // A link named with a dot: procps' dotted key spells the dot '/', and the path form keeps
    // it; both are the file .../conf/k.5/forwarding, which a `sysctl` check reads.
    let made = Command::new("ip")
        .args([
            "-n", "k-a", "link", "add", "k.5", "type", "veth", "peer", "name", "k6",
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let set = |key: &str, value: &str, ignore_unknown: bool| {
        k.sysctl_set(&named("k-a"), key, value, Some(ignore_unknown))
    };
    assert_eq!(
        set("net.ipv4.conf.k/5.forwarding", "1", false).unwrap(),
        SysctlSet::Written
    );
    let real = |key: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", "k-a", "sysctl", "-n", key])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(real("net/ipv4/conf/k.5/forwarding"), "1");
    assert_eq!(
        set("net/ipv4/conf/k.5/forwarding", "0", false).unwrap(),
        SysctlSet::Written
    );
    assert_eq!(real("net.ipv4.conf.k/5.forwarding"), "0");
    assert_eq!(
        k.sysctl_read(&named("k-a"), "net.ipv4.conf.k/5.forwarding")
            .unwrap(),
        "0"
    );
    // What sysctl(8) does with a key that does not exist (fails, in its words; with -e,
    // nothing and no failure), one nobody may write (nothing, and no failure) and a value the
    // kernel refuses (fails, -e or not).
    let e = set("net.ipv4.conf.k.5.forwarding", "1", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sysctl: cannot stat /proc/sys/net/ipv4/conf/k/5/forwarding: No such file or directory"
    );
    assert_eq!(
        set("net.ipv4.nosuch", "1", true).unwrap(),
        SysctlSet::PassedOver
    );
    assert_eq!(
        set("net.ipv4.tcp_available_congestion_control", "reno", false).unwrap(),
        SysctlSet::PassedOver
    );
    assert!(set("net.ipv4.ip_forward", "abc", true).is_err());

    // Deleting a namespace destroys the veth end inside it, and its peer.
    k.netns_del("k-a").unwrap();
    let mut gone = false;
    // The kernel tears a namespace down on a worker: quickly on a quiet machine, slower on a busy one.
    for _ in 0..500 {
        if link(&ip(&["-n", "k-b", "link"]), "vb").is_none() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone, "vb survived the deletion of k-a");
    k.netns_del("k-b").unwrap();
}

fn lsns_view_matches(k: &Kernel) {
    k.netns_add("l-x").unwrap();
    let all = k.net_namespaces();
    let x = all
        .iter()
        .find(|n| n.names.contains(&"l-x".to_string()))
        .unwrap();
    let st = std::fs::metadata("/run/netns/l-x").unwrap();
    assert_eq!(x.inode, std::os::unix::fs::MetadataExt::ino(&st));
    let me = k.netns_inode_of_pid(std::process::id()).unwrap();
    assert!(all.iter().any(|n| n.inode == me && n.nprocs >= 1));
    assert_eq!(k.netns_inode(&Ns::Root), Some(me));
    k.netns_del("l-x").unwrap();
}

fn shell_runs_in_the_namespace(k: &Kernel) {
    k.netns_add("s-x").unwrap();
    let out = k
        .shell(
            &named("s-x"),
            "readlink /proc/self/ns/net",
            Duration::from_secs(5),
        )
        .unwrap();
    let ino = k.netns_inode(&named("s-x")).unwrap();
    assert_eq!(out.stdout.trim(), format!("net:[{ino}]"));
    let out = k
        .shell(&Ns::Root, "exit 3", Duration::from_secs(5))
        .unwrap();
    assert_eq!(out.status, Some(3));
    assert!(!out.timed_out);
    // A line that outlives its time is killed, and says so.
    let out = k
        .shell(
            &Ns::Root,
            "echo started; exec sleep 30",
            Duration::from_millis(300),
        )
        .unwrap();
    assert!(out.timed_out);
    assert_eq!(out.status, None);
    assert_eq!(out.stdout, "started\n");
    k.netns_del("s-x").unwrap();
}

/// A failing link check says where the link really is, and lists a crowded namespace's links
/// briefly. The oracle for both is `ip -j`.
fn failed_checks_point_to_the_link(k: &Kernel) {
    k.netns_add("h-a").unwrap();
    k.netns_add("h-b").unwrap();
    k.veth_add(&named("h-a"), "hx0", "hx1", None).unwrap();
    for i in 0..12 {
        k.bridge_add(&named("h-b"), &format!("hbr{i}")).unwrap();
    }
    let run = RunInfo::new(k, vec!["h-a".into(), "h-b".into()]);
    let eval = |line: &str| {
        let (check, _) = check::parse(line).unwrap();
        judge(&check, &mut Round::new(k, run.clone()))
    };
    assert!(link(&ip(&["-n", "h-a", "link", "show"]), "hx0").is_some());
    let o = eval("link hx0 in h-b exists");
    assert!(!o.pass);
    assert_eq!(o.found, "hx0 is in h-a");
    assert_eq!(
        o.fix.as_deref(),
        Some("ip -n h-a link set hx0 netns h-b"),
        "{}",
        o.message()
    );
    assert!(eval("link hx0 in h-a exists").pass);

    let in_b = ip(&["-n", "h-b", "link", "show"]).as_array().unwrap().len();
    assert_eq!(in_b, 13, "lo and twelve bridges");
    let o = eval("link nowhere in h-b exists");
    assert!(!o.pass);
    assert!(
        o.found.contains(&format!("and {} more)", in_b - 8)),
        "{}",
        o.found
    );
    assert!(o.found.contains("h-b has no nowhere (it has lo, hbr"));
    // In one round, one dump per namespace answers every check.
    let mut round = Round::new(k, run.clone());
    for line in ["link nowhere in h-b exists", "link hx0 in h-b exists"] {
        let (c, _) = check::parse(line).unwrap();
        let o = judge(&c, &mut round);
        assert!(!o.pass);
        if line.contains("hx0") {
            assert_eq!(o.found, "hx0 is in h-a");
        }
    }
    k.netns_del("h-a").unwrap();
    k.netns_del("h-b").unwrap();
}

/// What a probe could leave behind in the namespaces of the sandbox, read by iproute2 and
/// conntrack-tools (not by nslab): IPv4 neighbour entries, learned FDB entries, tracked ICMP
/// flows. States and timers are left out: they change by themselves.
/// Switches IPv6 off in the sandbox's root namespace and in every named one, so that no
/// namespace sends frames of its own between two snapshots of [`traces`].
fn quiet_ipv6() {
    let off = "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1";
    assert!(sh(&format!(
        "{off} && for n in $(ip netns list | cut -d' ' -f1); do ip netns exec $n {off} || exit 1; done"
    )));
    // A frame already handed to a veth is delivered in its peer's softirq: let it land.
    std::thread::sleep(std::time::Duration::from_millis(20));
}

/// The lesson `text` (named `name` in diagnostics), and an engine that performed its first
/// step's commands.
fn lab_performed(name: &str, text: &str) -> (nslab::lesson::Lesson, nslab::engine::Engine) {
    use nslab::engine::{Engine, Pace};
    let (lesson, diags) = nslab::lesson::parse::parse(&nslab::diag::Source::new(name, text));
    let lesson = lesson.unwrap_or_else(|| panic!("{diags:?}"));
    let mut engine = Engine::new(Kernel::new().unwrap(), Pace::Fast);
    engine.set_lesson(&lesson);
    for c in &lesson.steps[0].commands {
        assert!(engine.perform(c).ok, "{}", c.text);
    }
    (lesson, engine)
}

fn traces() -> Vec<String> {
    let mut spaces = vec![String::new()];
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    spaces.extend(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string)),
    );
    let mut out = Vec::new();
    for ns in &spaces {
        let n: Vec<&str> = if ns.is_empty() {
            vec![]
        } else {
            vec!["-n", ns]
        };
        let neigh = ip(&[n.as_slice(), &["-4", "neigh", "show"]].concat());
        for e in neigh.as_array().into_iter().flatten() {
            out.push(format!("{ns}: neigh {} dev {}", e["dst"], e["dev"]));
        }
        let fdb = Command::new("bridge")
            .args([n.as_slice(), &["-j", "fdb", "show"]].concat())
            .output()
            .unwrap();
        let fdb: Value = serde_json::from_slice(&fdb.stdout).unwrap_or(Value::Null);
        for e in fdb.as_array().into_iter().flatten() {
            // (What a VXLAN device learns itself is `self`, and no more permanent than what a
            // bridge learns.)
            let permanent = ["permanent", "static", "noarp"]
                .iter()
                .any(|s| e["state"] == *s);
            if !permanent {
                out.push(format!("{ns}: fdb {} dev {}", e["mac"], e["ifname"]));
            }
        }
        let mut ct = Command::new("ip");
        if ns.is_empty() {
            ct = Command::new("conntrack");
            ct.arg("-L");
        } else {
            ct.args(["netns", "exec", ns, "conntrack", "-L"]);
        }
        let ct = ct.output().unwrap();
        // An IGMP report (to 224.0.0.22), which a namespace with a bridge sends on the
        // kernel's own timers, is tracked too: like IPv6 chatter, it is nobody's trace.
        let multicast = |line: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("dst="))
                .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                .is_some_and(|a| a.is_multicast())
        };
        for line in String::from_utf8_lossy(&ct.stdout)
            .lines()
            .filter(|l| !multicast(l))
        {
            let keep: Vec<&str> = line
                .split_whitespace()
                .filter(|w| {
                    ["src=", "dst=", "type=", "id=", "sport=", "dport="]
                        .iter()
                        .any(|p| w.starts_with(p))
                })
                .collect();
            out.push(format!("{ns}: conntrack {}", keep.join(" ")));
        }
    }
    out.sort();
    out
}

/// Evaluating a check observes: every check of every shipped lesson, evaluated at every
/// point of the lesson, leaves the neighbour tables, the bridges' FDBs and the conntrack
/// tables as they were. A control proves the oracle sees a real ping's traces.
fn checks_leave_no_trace(_: &Kernel) {
    use nslab::engine::runner::{Policy, Quiet, run_step};
    use nslab::engine::{Engine, Pace};
    // The control: a lab whose first namespace tracks connections (a NAT rule), a probe of a
    // ping check, then the real ping.
    let text = "+++\nid = \"control\"\ntitle = \"C\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add c-a\nip netns add c-b\nip link add ca type veth peer name cb\n\
        ip link set ca netns c-a\nip link set cb netns c-b\nip -n c-a link set ca up\n\
        ip -n c-b link set cb up\nip -n c-a address add 10.66.0.1/24 dev ca\n\
        ip -n c-b address add 10.66.0.2/24 dev cb\n\
        ip netns exec c-a iptables -t nat -A POSTROUTING -o ca -j MASQUERADE\n```\n\n\
        ```check\nping 10.66.0.2 from c-a\nnot ping 10.66.0.9 from c-a\n```\n";
    let (control, engine) = lab_performed("control.md", text);
    let checks = &control.steps[0].checks;
    let before = traces();
    let v = engine.evaluate(checks);
    assert!(v[0].pass, "{}", v[0].message());
    assert!(v[1].pass, "{}", v[1].message());
    assert_eq!(traces(), before, "a probe left traces");
    assert!(sh("ip netns exec c-a ping -c 1 -W 1 10.66.0.2 >/dev/null"));
    let after = traces();
    for want in ["c-a: neigh", "c-b: neigh", "c-a: conntrack"] {
        assert!(
            after.iter().any(|t| t.starts_with(want))
                && !before.iter().any(|t| t.starts_with(want)),
            "the oracle did not see the real ping's {want}: {after:?}"
        );
    }
    assert!(sh("ip netns del c-a && ip netns del c-b"));
    drop(engine);

    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/lessons"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut probed = 0;
    for file in files {
        let (lessons, diags) = nslab::lesson::load::lessons(std::slice::from_ref(&file)).unwrap();
        assert!(lessons.len() == 1, "{file:?}: {diags:?}");
        let lesson = &lessons[0];
        let mut engine = Engine::new(Kernel::new().unwrap(), Pace::Fast);
        engine.set_lesson(lesson);
        let all: Vec<_> = lesson.steps.iter().flat_map(|s| s.checks.clone()).collect();
        probed += all
            .iter()
            .filter(|c| c.check.to_string().contains("ping "))
            .count();
        let policy = Policy {
            judge_before: false,
            stop_on_failure: false,
            // (Judging after the step waits for the kernel to settle: a deleted namespace's
            // veth peer and its neighbour entries go asynchronously.)
            judge_after: true,
            skip_line: None,
            setup: true,
            prefix: false,
            first_failure_decides: false,
            judge_without_last: false,
        };
        for step in &lesson.steps {
            run_step(&mut engine, step, &policy, &mut Quiet);
            // Every namespace's IPv6 chatter (DAD, MLD reports, router solicitations, on the
            // kernel's random timers for seconds after a link comes up) teaches a bridge the
            // sender's MAC at any moment: that is not a probe's trace (CI once saw yellow1's
            // MAC learnt between the two snapshots). No shipped lesson uses IPv6, so it is
            // switched off here, after the step and before the snapshots.
            quiet_ipv6();
            let before = traces();
            engine.evaluate(&all);
            let after = traces();
            assert_eq!(
                after, before,
                "{}: evaluating every check after step {} left traces",
                lesson.id, step.index
            );
        }
        // What the lesson left, for the next one.
        let _ = engine.ledger.undo(&engine.kernel);
        sh(
            "for n in $(ip netns list | cut -d' ' -f1); do ip netns del $n; done; pkill netns-demo; true",
        );
    }
    assert!(
        probed > 0,
        "no shipped lesson has a ping check: the test proves nothing"
    );
}

/// A probe through a router with one arm observes too: the router's ICMP redirect to the
/// pinging host (`ip route get` shows `cache <redirected>`) and the router's neighbour entry
/// for its next hop are taken back. A real ping, after, proves the oracle sees both.
fn a_probe_through_a_router_leaves_no_redirect(_: &Kernel) {
    let text = "+++\nid = \"redirect\"\ntitle = \"R\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add d-sw\nip netns add d-host\nip netns add d-rtr\nip netns add d-gw\n\
        ip -n d-sw link add br0 type bridge\nip -n d-sw link set br0 up\n\
        ip -n d-sw link add ph type veth peer name h0 netns d-host\n\
        ip -n d-sw link add pr type veth peer name r0 netns d-rtr\n\
        ip -n d-sw link add pg type veth peer name g0 netns d-gw address 02:00:00:00:00:03\n\
        ip -n d-sw link set ph master br0\nip -n d-sw link set pr master br0\n\
        ip -n d-sw link set pg master br0\nip -n d-sw link set ph up\n\
        ip -n d-sw link set pr up\nip -n d-sw link set pg up\nip -n d-host link set h0 up\n\
        ip -n d-rtr link set r0 up\nip -n d-gw link set g0 up\n\
        ip -n d-host address add 10.70.0.10/24 dev h0\nip -n d-rtr address add 10.70.0.1/24 dev r0\n\
        ip -n d-gw address add 10.70.0.3/24 dev g0\nip -n d-host route add default via 10.70.0.1\n\
        ip -n d-rtr route add 10.79.0.0/24 via 10.70.0.3\n\
        ip netns exec d-rtr sysctl -w net.ipv4.ip_forward=1\n\
        ip -n d-host neigh add 10.70.0.3 lladdr 02:00:00:00:00:03 dev h0 nud permanent\n```\n\n\
        ```check\nnot ping 10.79.0.1 from d-host\n```\n";
    let (lesson, engine) = lab_performed("r.md", text);
    quiet_ipv6();
    let redirected = || {
        let out = Command::new("ip")
            .args(["-n", "d-host", "route", "get", "10.79.0.1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("redirected")
    };
    let rtr_knows_gw = || {
        ip(&["-n", "d-rtr", "-4", "neigh", "show", "10.70.0.3"])
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    assert!(!redirected() && !rtr_knows_gw());
    let before = traces();
    let v = engine.evaluate(&lesson.steps[0].checks);
    assert!(v[0].pass, "{}", v[0].message());
    assert!(
        !redirected(),
        "a probe left the router's redirect in d-host"
    );
    assert!(
        !rtr_knows_gw(),
        "a probe left d-rtr's entry for its next hop"
    );
    assert_eq!(traces(), before, "a probe left traces");
    // The control: the same packet, sent by ping.
    assert!(!sh(
        "ip netns exec d-host ping -c 1 -W 0.3 10.79.0.1 >/dev/null"
    ));
    assert!(redirected(), "the oracle did not see ping's redirect");
    assert!(
        rtr_knows_gw(),
        "the oracle did not see d-rtr learn its next hop"
    );
    drop(engine);
    assert!(sh(
        "for n in d-sw d-host d-rtr d-gw; do ip netns del $n || exit 1; done"
    ));
}

/// What the machine's own traffic makes in the root namespace while a shell check runs stays:
/// in learn the root namespace is the VM, whose uplink resolves its neighbours at any time.
/// The same entry made by the check's traffic in a lesson's namespace goes.
fn the_machines_own_entries_in_the_root_namespace_stay(_: &Kernel) {
    assert!(sh(
        "ip link add m-up type veth peer name m-far && ip link set m-up up && \
         ip link set m-far up && ip address add 198.51.100.1/24 dev m-up"
    ));
    let text = "+++\nid = \"machine\"\ntitle = \"M\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add m-lab\nip -n m-lab link add m-d type veth peer name m-e\n\
        ip -n m-lab link set m-d up\nip -n m-lab link set m-e up\n\
        ip -n m-lab address add 198.51.100.1/24 dev m-d\n```\n\n\
        ```check\nsh in m-lab (a neighbour is asked for): ping -c 1 -W 0.3 198.51.100.8; true\n```\n";
    let (lesson, engine) = lab_performed("m.md", text);
    let asked = |ns: &[&str], addr: &str| {
        ip(&[ns, &["-4", "neigh", "show", addr]].concat())
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    // The machine asks for a neighbour of its own while the check runs.
    let machine = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        sh("ping -c 1 -W 0.2 198.51.100.7 >/dev/null");
    });
    let v = engine.evaluate(&lesson.steps[0].checks);
    machine.join().unwrap();
    assert!(v[0].pass, "{}", v[0].message());
    assert!(
        asked(&[], "198.51.100.7"),
        "the root namespace's own entry was removed"
    );
    assert!(
        !asked(&["-n", "m-lab"], "198.51.100.8"),
        "the check's own entry in m-lab was left"
    );
    drop(engine);
    assert!(sh("ip netns del m-lab && ip link del m-up"));

    // Traffic makes no permanent entry: one that appears while checks run is the student's
    // (here a shell check adds it itself), and stays.
    let text = "+++\nid = \"perm\"\ntitle = \"P\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add m-p\nip -n m-p link add m-d type veth peer name m-e\n\
        ip -n m-p link set m-d up\nip -n m-p address add 198.51.100.1/24 dev m-d\n```\n\n\
        ```check\nsh in m-p (an entry is added): ip neigh add 198.51.100.9 lladdr 02:00:00:00:00:09 dev m-d nud permanent\n```\n";
    let (lesson, engine) = lab_performed("p.md", text);
    let v = engine.evaluate(&lesson.steps[0].checks);
    assert!(v[0].pass, "{}", v[0].message());
    assert!(
        asked(&["-n", "m-p"], "198.51.100.9"),
        "a permanent entry made while the checks ran was removed"
    );
    drop(engine);
    assert!(sh("ip netns del m-p"));
}

/// A probe from the root namespace to a lesson's namespace leaves nothing there either: the
/// entry the target makes for the root namespace's address on a link the lesson made there.
fn a_probe_from_the_root_namespace_leaves_no_trace(_: &Kernel) {
    let text = "+++\nid = \"root\"\ntitle = \"R\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add q-rr\nip link add q-rt type veth peer name q-rr0 netns q-rr\n\
        ip link set q-rt up\nip -n q-rr link set q-rr0 up\n\
        ip address add 10.77.0.1/24 dev q-rt\nip -n q-rr address add 10.77.0.2/24 dev q-rr0\n```\n\n\
        ```check\nping 10.77.0.2 from root\n```\n";
    let (lesson, mut engine) = lab_performed("q.md", text);
    // (As every mode does: the step's places are the lesson's as the step ends.)
    engine.begin_step(&lesson.steps[0]);
    quiet_ipv6();
    let before = traces();
    let v = engine.evaluate(&lesson.steps[0].checks);
    let after = traces();
    let real = sh("ping -c 1 -W 1 10.77.0.2 >/dev/null");
    let seen = traces();
    drop(engine);
    // Taken back before judging: a failure here must not leave a link in the sandbox's root
    // namespace, where later tests' probes would see it.
    assert!(sh("ip netns del q-rr && ip link del q-rt"));
    assert!(v[0].pass, "{}", v[0].message());
    assert_eq!(after, before, "a probe from the root namespace left traces");
    assert!(real);
    assert!(
        seen.iter()
            .any(|t| t.starts_with("q-rr: neigh \"10.77.0.1\"")),
        "the oracle did not see ping's entry in q-rr: {seen:?}"
    );
}

/// What a step owes (settle's wait) comes from the lines that run: a mutant that leaves out
/// `ip netns del blue` owes no teardown, and its failing check fails at once.
fn a_left_out_line_owes_nothing(_: &Kernel) {
    use nslab::engine::settle::Owed;
    let text = "+++\nid = \"owed\"\ntitle = \"O\"\nformat = 1\n+++\n## Lab\n\n```sh\n\
        ip netns add o-blue\nip netns add o-red\nip link add ob type veth peer name or netns o-red\n\
        ip link set ob netns o-blue\n```\n\n## Delete blue\n\n```sh\nip netns del o-blue\n```\n";
    let (lesson, engine) = lab_performed("o.md", text);
    let step = &lesson.steps[1];
    assert!(
        !Owed::before(&engine, step, None).is_nothing(),
        "the teardown of o-blue is owed"
    );
    assert!(Owed::before(&engine, step, Some(step.commands[0].line)).is_nothing());
    assert!(sh("ip netns del o-blue && ip netns del o-red"));
}

/// A listing nobody reads (verify) is answered from the kernel: it must succeed exactly when
/// the real `ip` does, in every state (namespace there or not, device there or not).
fn listings_end_as_ip_ends(_: &Kernel) {
    use nslab::engine::{Engine, Pace};
    use nslab::lesson::CommandLine;
    use nslab::lesson::grammar;
    assert!(sh(
        "ip netns add l-blue && ip link add lv0 type veth peer name lv1 netns l-blue"
    ));
    let mut engine = Engine::new(Kernel::new().unwrap(), Pace::Fast);
    let lines = [
        "ip link show",
        "ip link show type veth",
        "ip link show dev lv0",
        "ip link show dev lv1",
        "ip -br link show lv0 up",
        "ip address show dev lv0",
        "ip a s nothere",
        "ip route show dev lv0",
        "ip route show dev lv1",
        "ip neigh show dev lv0",
        "ip neigh show dev nothere",
        "ip netns list",
        "ip -n l-blue link",
        "ip -n l-blue link show lv1",
        "ip -n l-blue addr show dev lv0",
        "ip -n l-blue neigh show dev lv1",
        "ip -n l-red link",
        "ip -n l-red netns list",
        "ip netns exec l-blue ip route show dev lv1",
        "ip netns exec l-red ip route",
    ];
    let mut failing = 0;
    for text in lines {
        let command = grammar::parse(text).unwrap();
        assert!(command.listing().is_some(), "{text} is a listing");
        let line = CommandLine {
            text: text.to_string(),
            offset: 0,
            line: 1,
            observe: true,
            expect_failure: false,
            command,
        };
        let real = sh(&format!("{text} >/dev/null 2>&1"));
        let ours = engine.perform_unread(&line);
        assert_eq!(ours.ok, real, "{text}: {:?}", ours.error);
        failing += usize::from(!real);
    }
    // The oracle is not blind: some of these lines fail.
    assert!(failing >= 6, "{failing}");
    assert!(sh("ip netns del l-blue"));
}

/// A probe ends early only where no reply can still come, and then it is right: the real
/// `ping` is the oracle. In a lab of veths, an address nobody has is `Lost` (a probe stops
/// waiting once nothing is in flight). Where something may answer late, the lab does not pass
/// packets on at once and the probe waits: proxy ARP (whose replies wait up to
/// `proxy_delay`; here up to 150 ms, which the probe waits for and gets), a tap device (a
/// program answers), a shaping queue (tbf), and a veth whose peer is in a namespace nobody
/// looked at.
fn probes_end_only_when_nothing_is_in_flight(k: &Kernel) {
    let nothing_held = || true;
    let early: Option<(Duration, &dyn Fn() -> bool)> =
        Some((Duration::from_millis(10), &nothing_held));
    let wait = Duration::from_millis(200);
    assert!(sh(
        "ip netns add q-a && ip netns add q-b && ip netns add q-c \
        && ip link add qa type veth peer name qb netns q-b && ip link set qa netns q-a \
        && ip -n q-b link add qbc type veth peer name qc netns q-c \
        && ip -n q-a link set qa up && ip -n q-b link set qb up && ip -n q-b link set qbc up \
        && ip -n q-c link set qc up \
        && ip -n q-a address add 10.67.0.1/24 dev qa && ip -n q-b address add 10.67.0.2/24 dev qb \
        && ip -n q-b address add 10.67.1.1/24 dev qbc && ip -n q-c address add 10.67.1.7/24 dev qc \
        && ip -n q-c route add default via 10.67.1.1 \
        && ip -n q-a route add 10.67.1.0/24 dev qa \
        && ip netns exec q-b sysctl -qw net.ipv4.ip_forward=1"
    ));
    let scope: Vec<Ns> = [Ns::Root, named("q-a"), named("q-b"), named("q-c")].into();
    let at_once =
        |ns: &str, scope: &[Ns]| k.passes_at_once(&k.snapshot(&named(ns)).unwrap(), scope);
    for ns in ["q-a", "q-b", "q-c"] {
        assert!(at_once(ns, &scope), "{ns} passes packets on at once");
    }
    // Nobody has 10.67.0.9: the real ping gets nothing, the probe ends early.
    assert!(!sh("ip netns exec q-a ping -c 1 -W 1 10.67.0.9 >/dev/null"));
    let r = k.ping_many(&[(named("q-a"), "10.67.0.9".parse().unwrap())], wait, early);
    assert!(matches!(r[..], [Ok(PingOutcome::Lost)]), "{r:?}");
    // A veth lab answers at once where an answer comes.
    let r = k.ping_many(&[(named("q-a"), "10.67.0.2".parse().unwrap())], wait, early);
    assert!(matches!(r[..], [Ok(PingOutcome::Reply(_))]), "{r:?}");
    // Proxy ARP: q-a thinks 10.67.1.0/24 is on its cable; q-b answers for q-c, late.
    assert!(sh(
        "ip netns exec q-b sysctl -qw net.ipv4.conf.qb.proxy_arp=1 \
        && ip netns exec q-b sysctl -qw net.ipv4.neigh.qb.proxy_delay=15"
    ));
    assert!(!at_once("q-b", &scope), "proxy ARP may answer late");
    assert!(sh("ip netns exec q-a ping -c 1 -W 1 10.67.1.7 >/dev/null"));
    assert!(sh("ip -n q-a neigh flush all"));
    let r = k.ping_many(&[(named("q-a"), "10.67.1.7".parse().unwrap())], wait, None);
    assert!(matches!(r[..], [Ok(PingOutcome::Reply(_))]), "{r:?}");
    assert!(sh(
        "ip netns exec q-b sysctl -qw net.ipv4.conf.qb.proxy_arp=0"
    ));
    assert!(at_once("q-b", &scope));
    assert!(sh("ip -n q-b neigh add proxy 10.67.1.8 dev qb"));
    assert!(!at_once("q-b", &scope), "a proxy entry may answer late");
    assert!(sh("ip -n q-b neigh del proxy 10.67.1.8 dev qb"));
    // A program answers for a tap device; a tbf queue holds packets back.
    assert!(sh("ip -n q-c tuntap add tq mode tap"));
    assert!(
        !at_once("q-c", &scope),
        "a tap device hands packets to a program"
    );
    assert!(sh("ip -n q-c link del tq"));
    assert!(sh(
        "ip netns exec q-a tc qdisc add dev qa root tbf rate 1mbit burst 32kbit latency 400ms"
    ));
    assert!(!at_once("q-a", &scope), "tbf holds packets back");
    assert!(sh("ip netns exec q-a tc qdisc del dev qa root"));
    assert!(at_once("q-a", &scope));
    // q-b's cable to q-c leads out of a scope without q-c.
    let narrow: Vec<Ns> = [Ns::Root, named("q-a"), named("q-b")].into();
    assert!(!at_once("q-b", &narrow));
    // A check's probe, as a round sends it: an address nobody has is lost at once...
    let run = RunInfo::new(k, vec!["q-a".into(), "q-b".into(), "q-c".into()]);
    let probe = |addr: &str| {
        let (check, _) = check::parse(&format!("ping {addr} from q-a")).unwrap();
        judge(&check, &mut Round::new(k, run.clone()));
        let cache = run.probes.lock().unwrap();
        cache[&(named("q-a"), addr.parse().unwrap())].1.clone()
    };
    assert_eq!(probe("10.67.0.9"), Ok(PingOutcome::Lost));
    // ... but not when a neighbour entry holds it for an ARP request that comes sooner: a
    // student's ping to 10.67.0.5 failed, the entry is still being resolved (every 50 ms, 30
    // times), and now q-b has the address. The probe waits in the entry's queue, and the next
    // request brings the reply (the real ping's too).
    assert!(sh(
        "ip netns exec q-a sysctl -qw net.ipv4.neigh.qa.retrans_time_ms=50 \
        net.ipv4.neigh.qa.mcast_solicit=30"
    ));
    assert!(!sh(
        "ip netns exec q-a ping -c 1 -W 0.1 10.67.0.5 >/dev/null"
    ));
    assert!(sh("ip -n q-b address add 10.67.0.5/24 dev qb"));
    assert!(matches!(probe("10.67.0.5"), Ok(PingOutcome::Reply(_))));
    assert!(sh("ip netns exec q-a ping -c 1 -W 1 10.67.0.5 >/dev/null"));
    assert!(sh(
        "ip netns del q-a && ip netns del q-b && ip netns del q-c"
    ));
}

/// learn's watcher: a change in a watched namespace makes its file readable; while it lives its
/// socket holds the namespace (a deleted name's veth pair lives on), and once dropped it lets
/// the namespace go.
fn a_watcher_tells_a_change_and_lets_its_namespace_go(k: &Kernel) {
    k.netns_add("w-blue").unwrap();
    assert!(sh(
        "ip link add w-out type veth peer name w-in netns w-blue"
    ));
    let w = k.watch(&[named("w-blue")]).unwrap();
    assert!(sh("ip -n w-blue link set w-in mtu 1400"));
    let mut fds = [nix::poll::PollFd::new(w.fd(), nix::poll::PollFlags::POLLIN)];
    let woke = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16));
    assert!(matches!(woke, Ok(1)), "a change in w-blue wakes: {woke:?}");
    assert!(w.take_changed(), "and is told");
    k.netns_del("w-blue").unwrap();
    // The watcher's socket holds w-blue: its teardown cannot begin, w-out stays.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        link(&ip(&["link", "show"]), "w-out").is_some(),
        "w-blue lives on while it is watched"
    );
    drop(w);
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        link(&ip(&["link", "show"]), "w-out").is_none()
    });
    assert!(gone, "a dropped watcher lets w-blue go, and w-out with it");
}

/// A name deleted and made again is another namespace: the watched set has changed, and a
/// watcher kept on the old one would hold it (and its veth pair) alive and miss the new one's
/// changes. `ip netns del x; ip netns add x` typed on one line can land in one wake-up.
fn a_name_made_again_is_a_change_of_the_watched_set(k: &Kernel) {
    k.netns_add("w-again").unwrap();
    let (w, watched) = k.watch_all().unwrap();
    assert!(!k.watched_changed(&watched), "nothing changed yet");
    k.netns_del("w-again").unwrap();
    k.netns_add("w-again").unwrap();
    assert!(
        k.watched_changed(&watched),
        "w-again deleted and made again is a new namespace to watch"
    );
    drop(w);
    k.netns_del("w-again").unwrap();
}

fn sh(line: &str) -> bool {
    Command::new("sh")
        .args(["-c", line])
        .status()
        .unwrap()
        .success()
}

fn main() {
    let tests: &[Test] = &[
        (
            "failed_checks_point_to_the_link",
            failed_checks_point_to_the_link,
        ),
        (
            "namespaces_are_iproute2_compatible",
            namespaces_are_iproute2_compatible,
        ),
        (
            "links_addresses_routes_match_ip",
            links_addresses_routes_match_ip,
        ),
        ("lsns_view_matches", lsns_view_matches),
        ("shell_runs_in_the_namespace", shell_runs_in_the_namespace),
        ("checks_leave_no_trace", checks_leave_no_trace),
        (
            "a_probe_through_a_router_leaves_no_redirect",
            a_probe_through_a_router_leaves_no_redirect,
        ),
        (
            "the_machines_own_entries_in_the_root_namespace_stay",
            the_machines_own_entries_in_the_root_namespace_stay,
        ),
        (
            "a_probe_from_the_root_namespace_leaves_no_trace",
            a_probe_from_the_root_namespace_leaves_no_trace,
        ),
        ("a_left_out_line_owes_nothing", a_left_out_line_owes_nothing),
        ("listings_end_as_ip_ends", listings_end_as_ip_ends),
        (
            "probes_end_only_when_nothing_is_in_flight",
            probes_end_only_when_nothing_is_in_flight,
        ),
        (
            "a_watcher_tells_a_change_and_lets_its_namespace_go",
            a_watcher_tells_a_change_and_lets_its_namespace_go,
        ),
        (
            "a_name_made_again_is_a_change_of_the_watched_set",
            a_name_made_again_is_a_change_of_the_watched_set,
        ),
    ];
    // Kernel::shell starts nslab's line helper from the running binary: this one, here.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == sandbox::LINES_SUBCOMMAND)
    {
        std::process::exit(nslab::cli::main());
    }
    // Lessons call `nslab` itself (nslab example ...): the binary's folder comes first on
    // PATH, set by running this test again with it.
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_nslab"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|p| p == bin_dir) {
        let mut dirs = vec![bin_dir];
        dirs.extend(std::env::split_paths(&path));
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    if let Err(e) = sandbox::enter(false, &[]) {
        eprintln!("cannot enter the sandbox: {e}");
        std::process::exit(1);
    }
    let k = Kernel::new().unwrap();
    k.link_set_up(&Ns::Root, "lo", true).unwrap();
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in tests {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&k)));
        match r {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
