//! Tests of `nslab show` against the real kernel, in a sandbox: the five stages of the veth lab,
//! the bridges lab, the routing lab and a diff picture, drawn as text and SVG and compared with
//! tests/snapshots/show/; every SVG is parsed and rendered to PNG (resvg). The JSON is compared
//! with `ip -j`; hostile interface names (escape sequences, bytes that are not UTF-8) must come
//! out escaped; the binary's exit codes for unknown and unreadable namespaces are checked.
//!
//! NSLAB_UPDATE_SNAPSHOTS=1 rewrites the snapshots and the pictures kept in docs/. Runs without
//! libtest: the sandbox must be entered before any thread exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nslab::kernel::{Kernel, sandbox};
use nslab::lesson::Ns;
use nslab::show::{
    End, Iface, Mark, NsKind, NsView, Options, Scope, Topology, diff, dot, gather, mermaid,
    render_text, svg,
};

fn sh(script: &str) {
    let out = Command::new("sh").arg("-ec").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes named namespaces and waits until the links they took with them are gone: nslab's
/// own connections into them are closed first (they keep a namespace alive), and the kernel
/// tears a namespace down a few milliseconds after its last user.
fn del_netns(k: &Kernel, names: &[&str], root_links: &[&str]) {
    sh(&format!(
        "for n in {}; do ip netns del $n; done",
        names.join(" ")
    ));
    k.prune();
    for _ in 0..200 {
        let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
        let links = String::from_utf8_lossy(&out.stdout).into_owned();
        if !root_links
            .iter()
            .any(|l| links.contains(&format!(": {l}@")) || links.contains(&format!(": {l}:")))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{root_links:?} outlived their namespaces");
}

/// Runs the built binary (inside the sandbox, like everything here).
fn nslab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nslab"))
        .args(args)
        .env("COLUMNS", "80")
        .output()
        .unwrap()
}

/// Relative to the package root, cargo's working directory for tests: the sandbox covers /tmp
/// with a tmpfs, and a checkout under /tmp stays reachable only through the working directory.
fn snapshots() -> PathBuf {
    PathBuf::from("tests/snapshots/show")
}

fn update() -> bool {
    std::env::var_os("NSLAB_UPDATE_SNAPSHOTS").is_some()
}

fn png(svg: &str) -> Vec<u8> {
    let mut opt = resvg::usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    let tree = resvg::usvg::Tree::from_str(svg, &opt).expect("the SVG parses");
    let size = tree.size().to_int_size();
    assert!(size.width() > 100 && size.height() > 50, "{size:?}");
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    // Something was drawn: not every pixel is the white background.
    assert!(
        pixmap.pixels().iter().any(|p| p.red() < 200),
        "the picture is blank"
    );
    pixmap.encode_png().unwrap()
}

/// Compares one rendering with its snapshot (or writes it when updating). Returns a failure.
fn check(name: &str, got: &str) -> Option<String> {
    let path = snapshots().join(name);
    if update() {
        std::fs::create_dir_all(snapshots()).unwrap();
        std::fs::write(&path, got).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    (want != got)
        .then(|| format!("{name} differs from its snapshot:\n--- want\n{want}\n--- got\n{got}"))
}

/// The pictures kept in docs/.
const DOCS: &[&str] = &["lab-5-addresses", "bridges", "routing", "diff"];

fn draw(t: &Topology, name: &str, failures: &mut Vec<String>) {
    failures.extend(check(&format!("{name}.txt"), &render_text(t, 80, false)));
    failures.extend(check(
        &format!("{name}.ascii.txt"),
        &render_text(t, 80, true),
    ));
    let s = svg(t);
    failures.extend(check(&format!("{name}.svg"), &s));
    let picture = png(&s);
    if DOCS.contains(&name) {
        failures.extend(check(&format!("{name}.dot"), &dot(t)));
        failures.extend(check(&format!("{name}.mmd"), &mermaid(t)));
    }
    if update() && DOCS.contains(&name) {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/{name}.png")),
            picture,
        )
        .unwrap();
    }
    graphviz(&dot(t), name);
}

fn stage(k: &Kernel, name: &str, failures: &mut Vec<String>) -> Topology {
    let t = gather(k, &Options::default()).unwrap().topology;
    draw(&t, name, failures);
    oracle(&t);
    t
}

/// `ip -j` agrees with the model: every interface of every namespace drawn, its flags and its
/// addresses.
fn oracle(t: &Topology) {
    for ns in &t.namespaces {
        let mut cmd = Command::new("ip");
        if ns.kind == NsKind::Named {
            cmd.args(["-n", &ns.name]);
        }
        let out = cmd.args(["-j", "address", "show"]).output().unwrap();
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let links = links.as_array().unwrap();
        assert_eq!(
            links.len(),
            ns.interfaces.len(),
            "{}: {links:?} {:?}",
            ns.name,
            ns.interfaces
        );
        for l in links {
            let name = l["ifname"].as_str().unwrap();
            let i = ns
                .iface(name)
                .unwrap_or_else(|| panic!("{name} in {}", ns.name));
            let flags: Vec<&str> = l["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            assert_eq!(i.up, flags.contains(&"UP"), "{name}");
            assert_eq!(i.carrier, flags.contains(&"LOWER_UP"), "{name}: {flags:?}");
            assert_eq!(
                i.state,
                l["operstate"].as_str().unwrap().to_lowercase(),
                "{name}"
            );
            assert_eq!(i.master.as_deref(), l["master"].as_str(), "{name}");
            let addrs: Vec<String> = l["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                // The IPv6 addresses a link gets by itself are left out of the pictures.
                .filter(|a| a["family"] == "inet" || (a["scope"] != "link" && a["scope"] != "host"))
                .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
                .collect();
            let ours: Vec<String> = i.addresses.iter().map(|a| a.cidr.clone()).collect();
            assert_eq!(ours, addrs, "{name}");
        }
    }
}

/// Graphviz, where installed, renders the DOT: proof that it is valid DOT, and that a label's
/// lines come out as separate lines of text rather than with a backslash and an n.
fn graphviz(d: &str, name: &str) {
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        println!("{name}: graphviz is not installed; the DOT is checked by the unit tests only");
        return;
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(d.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}: dot refused it: {}\n{d}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(!svg.contains("\\n"), "{name}: a literal \\n in\n{svg}");
    if d.contains("127.0.0.1/8") {
        assert!(svg.contains(">127.0.0.1/8</text>"), "{name}: {svg}");
    }
}

fn main() {
    console::set_colors_enabled(false);
    // Run again as pid 1 of a sandbox with its own /proc: the host's processes (and the
    // namespaces they hold) must not show in the pictures.
    if !sandbox::is_inner() {
        match sandbox::respawn_inside(None, &[]) {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("cannot enter the sandbox: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(w) = sandbox::inside() {
        eprintln!("warning: {w}");
    }
    let k = Kernel::new().unwrap();
    k.link_set_up(&Ns::Root, "lo", true).unwrap();
    let mut failures = Vec::new();

    // The five pictures of the workshop's lab.
    let t = stage(&k, "lab-1-root", &mut failures);
    assert_eq!(t.namespaces.len(), 1);
    sh("ip netns add blue; ip netns add red");
    let t = stage(&k, "lab-2-namespaces", &mut failures);
    assert_eq!(
        t.namespaces
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["root", "blue", "red"]
    );
    sh("ip link add veth0 type veth peer name veth1");
    let t = stage(&k, "lab-3-veth", &mut failures);
    // Both ends in one namespace: still one wire.
    assert_eq!(t.wires.len(), 1);
    assert_eq!(
        (
            t.wires[0].a.namespace.as_str(),
            t.wires[0].b.namespace.as_str()
        ),
        ("root", "root")
    );
    sh("ip link set veth0 netns blue; ip link set veth1 netns red");
    let t = stage(&k, "lab-4-moved", &mut failures);
    assert_eq!(
        (
            t.wires[0].a.namespace.as_str(),
            t.wires[0].b.namespace.as_str()
        ),
        ("blue", "red")
    );
    // One end up, its peer still down: up, but no carrier (as `ip link` says NO-CARRIER).
    sh("ip -n blue link set veth0 up");
    let t = gather(&k, &Options::default()).unwrap().topology;
    oracle(&t);
    let veth0 = t.iface(&End::new("blue", "veth0")).unwrap();
    assert!(veth0.up && !veth0.carrier, "{veth0:?}");
    let text = render_text(&t, 80, true);
    assert!(text.contains("~ veth0     NO-CARRIER veth"), "{text}");
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["namespaces"][1]["interfaces"][1]["carrier"], false);
    assert_eq!(json["namespaces"][1]["interfaces"][1]["up"], true);
    sh(
        "ip -n blue link set lo up; ip -n blue addr add 10.1.0.2/24 dev veth0; \
        ip -n red link set lo up; ip -n red link set veth1 up; ip -n red addr add 10.1.0.3/24 dev veth1",
    );
    let lab5 = stage(&k, "lab-5-addresses", &mut failures);
    let veth0 = lab5.iface(&End::new("blue", "veth0")).unwrap();
    assert_eq!(veth0.addresses[0].cidr, "10.1.0.2/24");
    assert!(veth0.carrier);

    // The diff picture: what the lab intends after its address step, against a kernel where
    // red was never made and veth0 has no address yet.
    let intended = Topology::new(vec![
        NsView::named("blue")
            .with(Iface::loopback().up().address("127.0.0.1/8"))
            .with(
                Iface::veth("veth0", "red", "veth1")
                    .up()
                    .address("10.1.0.2/24"),
            ),
        NsView::named("red")
            .with(Iface::loopback().up().address("127.0.0.1/8"))
            .with(
                Iface::veth("veth1", "blue", "veth0")
                    .up()
                    .address("10.1.0.3/24"),
            ),
    ]);
    del_netns(&k, &["blue", "red"], &[]);
    sh(
        "ip netns add blue; ip link add veth0 netns blue type veth peer name veth1; \
        ip -n blue link set lo up; ip -n blue link set veth0 up; ip -n blue addr add 10.9.0.2/24 dev veth0",
    );
    let observed = gather(&k, &Options::default()).unwrap().topology;
    let d = diff(&intended, &observed);
    assert_eq!(d.namespaces[1].mark, Some(Mark::Missing));
    draw(&d, "diff", &mut failures);
    let text = render_text(&d, 80, true);
    assert!(text.contains("+. red [missing] ."), "{text}");
    assert!(text.contains("10.9.0.2/24          [extra]"), "{text}");
    assert!(text.contains("- veth1          veth  [missing]"), "{text}");
    del_netns(&k, &["blue"], &["veth1"]);

    // The bridges lesson: four namespaces on bridge0, with default routes.
    sh(
        "ip link add bridge0 type bridge; ip link set bridge0 up; ip address add 10.1.0.1/24 dev bridge0; \
        i=2; for n in blue green red brown; do ip netns add $n; ip link add ${n}0 type veth peer name ${n}1 netns $n; \
        ip link set ${n}0 master bridge0; ip link set ${n}0 up; ip -n $n link set lo up; ip -n $n link set ${n}1 up; \
        ip -n $n address add 10.1.0.$i/24 dev ${n}1; ip -n $n route add default via 10.1.0.1; i=$((i+1)); done",
    );
    let t = stage(&k, "bridges", &mut failures);
    let root = &t.namespaces[0];
    let bridge = root
        .interfaces
        .iter()
        .find(|i| i.name == "bridge0")
        .unwrap();
    assert_eq!(bridge.ports.len(), 4);
    assert_eq!(t.wires.len(), 4);
    assert!(
        t.namespaces
            .iter()
            .filter(|n| n.kind == NsKind::Named)
            .all(|n| n.default_route.as_ref().and_then(|d| d.via.as_deref()) == Some("10.1.0.1"))
    );
    // JSON: the documented fields are there.
    let json: serde_json::Value = serde_json::to_value(&t).unwrap();
    assert_eq!(json["namespaces"][0]["kind"], "root");
    assert_eq!(json["namespaces"][0]["forwarding"], false);
    assert_eq!(json["namespaces"][0]["interfaces"][1]["kind"], "bridge");
    assert!(json["wires"][0]["a"]["interface"].is_string());
    del_netns(
        &k,
        &["blue", "green", "red", "brown"],
        &["blue0", "green0", "red0", "brown0"],
    );
    sh("ip link del bridge0");

    // The routing lesson: a router between two subnets, forwarding on.
    sh(
        "ip netns add left; ip netns add router; ip netns add right; \
        ip -n left link add eth0 type veth peer name left0 netns router; \
        ip -n right link add eth0 type veth peer name right0 netns router; \
        for n in left router right; do ip -n $n link set lo up; done; \
        ip -n left link set eth0 up; ip -n left address add 10.0.1.2/24 dev eth0; \
        ip -n router link set left0 up; ip -n router address add 10.0.1.1/24 dev left0; \
        ip -n right link set eth0 up; ip -n right address add 10.0.2.2/24 dev eth0; \
        ip -n router link set right0 up; ip -n router address add 10.0.2.1/24 dev right0; \
        ip -n left route add default via 10.0.1.1; ip -n right route add default via 10.0.2.1; \
        ip netns exec router sysctl -qw net.ipv4.ip_forward=1",
    );
    let t = stage(&k, "routing", &mut failures);
    let router = t.namespace("router").unwrap();
    assert_eq!(router.forwarding, Some(true));
    assert!(router.is_router());
    let svg_text = svg(&t);
    let x_of = |name: &str| -> f64 {
        let at = svg_text
            .find(&format!("data-name=\"{name}\"><rect x=\""))
            .unwrap();
        let rest = &svg_text[at..];
        let x = rest.split("x=\"").nth(1).unwrap();
        x[..x.find('"').unwrap()].parse().unwrap()
    };
    assert!(
        x_of("left") < x_of("router") && x_of("router") < x_of("right"),
        "the router is between its networks"
    );
    // Every wire is drawn as a path.
    assert_eq!(svg_text.matches("class=\"wire\"").count(), 2);
    del_netns(&k, &["left", "router", "right"], &[]);

    hostile_names(&k, &mut failures);
    scope_and_exit_codes(&k);

    for f in &failures {
        println!("{f}");
    }
    println!(
        "{} passed, {} failed",
        10 * 3 + DOCS.len() * 2 + 1 - failures.len(),
        failures.len()
    );
    std::process::exit(if failures.is_empty() { 0 } else { 1 });
}

/// Interface names with an escape sequence and with bytes that are not UTF-8.
fn hostile_names(k: &Kernel, failures: &mut Vec<String>) {
    sh(
        r#"ip netns add blue; ip link add "$(printf 'x\033[2J')" type veth peer name y; \
        ip link add "$(printf 'n\377\376')" type veth peer name m netns blue"#,
    );
    let t = gather(k, &Options::default()).unwrap().topology;
    let root = t.namespace("root").unwrap();
    let esc = root.iface("x\u{1b}[2J").expect("the ESC name is there");
    assert_eq!(esc.peer, Some(End::new("root", "y")));
    // The name that is not UTF-8 is kept, escaped, and its peer names it.
    assert!(root.iface("n\\xff\\xfe").is_some(), "{root:?}");
    let m = t.iface(&End::new("blue", "m")).unwrap();
    assert_eq!(m.peer, Some(End::new("root", "n\\xff\\xfe")));
    for ascii in [false, true] {
        let text = render_text(&t, 80, ascii);
        assert!(!text.contains('\u{1b}'), "raw ESC in {text:?}");
        assert!(text.contains("x\\x1b[2J"), "{text}");
    }
    let s = svg(&t);
    assert!(!s.contains('\u{1b}'));
    png(&s);
    failures.extend(check("hostile.svg", &s));
    assert!(!dot(&t).contains('\u{1b}') && !mermaid(&t).contains('\u{1b}'));
    graphviz(&dot(&t), "hostile");
    let json = serde_json::to_string(&t).unwrap();
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(json.contains("x\\u001b[2J"), "{json}");
    assert!(back["namespaces"][0]["interfaces"].is_array());
    // The binary prints it escaped too (it used to clear the screen).
    let out = nslab(&["show", "--ascii"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.contains('\u{1b}') && stdout.contains("x\\x1b[2J"),
        "{stdout}"
    );
    sh(r#"ip link del "$(printf 'x\033[2J')"; ip link del "$(printf 'n\377\376')""#);
    del_netns(k, &["blue"], &[]);
}

/// What `show` draws by default and with --all, and its exit codes.
fn scope_and_exit_codes(k: &Kernel) {
    sh("ip netns add green");
    // A namespace only a process holds, with a veth whose peer lives there.
    let mut holder = Command::new("unshare")
        .args(["--net", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    let label = format!("pid {pid}");
    let mut moved = false;
    for _ in 0..100 {
        let ours = k.netns_inode_of_pid(pid);
        if ours.is_some() && ours != k.netns_inode(&Ns::Root) {
            sh(&format!(
                "ip link add h0 type veth peer name h1; ip link set h1 netns {pid}"
            ));
            moved = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(moved, "the holder never got its namespace");

    let lab = gather(k, &Options::default()).unwrap();
    let names: Vec<&str> = lab
        .topology
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["root", "green"]);
    // Not drawn, but named: never a null peer.
    let h0 = lab.topology.iface(&End::new("root", "h0")).unwrap();
    assert_eq!(h0.peer, Some(End::new(&label, "h1")));
    let all = gather(
        k,
        &Options {
            scope: Scope::All,
            ..Default::default()
        },
    )
    .unwrap();
    let pidns = all.topology.namespace(&label).expect("--all draws it");
    assert_eq!(pidns.kind, NsKind::Unnamed);
    assert_eq!(pidns.command.as_deref(), Some("sleep"));
    assert_eq!(
        pidns.iface("h1").unwrap().peer,
        Some(End::new("root", "h0"))
    );
    let out = nslab(&["show", "--format", "json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["namespaces"].as_array().unwrap().len(), 2);
    let out = nslab(&["show", "--all", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["namespaces"].as_array().unwrap().len(), 3);
    assert_eq!(json["namespaces"][2]["kind"], "unnamed");

    // An unknown name: a usage error with a suggestion.
    let out = nslab(&["show", "--netns", "gren"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no namespace 'gren' (did you mean 'green'?)"),
        "{err}"
    );
    // --netns keeps its order and takes "pid N".
    let out = nslab(&[
        "show", "--netns", "green", "--netns", &label, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["namespaces"][0]["name"], "green");
    assert_eq!(json["namespaces"][1]["name"], label.as_str());
    for format in ["text", "svg", "dot", "json", "mermaid"] {
        let out = nslab(&["show", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(!out.stdout.is_empty(), "{format}");
    }

    // Without privilege (every capability dropped, as a normal user has none): nothing can be
    // entered, which it says, and exits 3.
    let unprivileged = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--bounding-set=-all", "--inh-caps=-all", "--"])
            .arg(env!("CARGO_BIN_EXE_nslab"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = unprivileged(&["show"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("cannot see namespace 'root'"), "{err}");
    assert!(err.contains("cannot see namespace 'green'"), "{err}");
    assert!(err.contains("nothing to draw"), "{err}");
    let out = unprivileged(&["show", "--netns", "green"]);
    assert_eq!(out.status.code(), Some(3));
    let out = unprivileged(&["show", "--netns", "gren"]);
    assert_eq!(out.status.code(), Some(2), "a usage error comes first");

    holder.kill().unwrap();
    holder.wait().unwrap();
    del_netns(k, &["green"], &["h0"]);
}
