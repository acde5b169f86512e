//! Snapshot tests of `nslab show`: the five stages of the veth lab and the bridges lesson's
//! topology, built in a sandbox, drawn as text and SVG, compared with tests/snapshots/show/.
//! Every SVG is parsed and rendered to PNG (resvg): proof that it is valid.
//!
//! NSLAB_UPDATE_SNAPSHOTS=1 rewrites the snapshots and the pictures kept in docs/. Runs without
//! libtest: the sandbox must be entered before any thread exists.

use std::path::{Path, PathBuf};
use std::process::Command;

use nslab::kernel::{Kernel, sandbox};
use nslab::lesson::Ns;
use nslab::show::{Options, Topology, gather, render_text, svg};

fn sh(script: &str) {
    let out = Command::new("sh").arg("-ec").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

fn stage(k: &Kernel, name: &str, failures: &mut Vec<String>) -> Topology {
    let t = gather(k, &Options::default());
    failures.extend(check(&format!("{name}.txt"), &render_text(&t, 80, false)));
    failures.extend(check(
        &format!("{name}.ascii.txt"),
        &render_text(&t, 80, true),
    ));
    let s = svg(&t);
    failures.extend(check(&format!("{name}.svg"), &s));
    let picture = png(&s);
    if update() && (name == "lab-5-addresses" || name == "bridges") {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/{name}.png")),
            picture,
        )
        .unwrap();
    }
    t
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
    sh(
        "ip -n blue link set lo up; ip -n blue link set veth0 up; ip -n blue addr add 10.1.0.2/24 dev veth0; \
        ip -n red link set lo up; ip -n red link set veth1 up; ip -n red addr add 10.1.0.3/24 dev veth1",
    );
    let t = stage(&k, "lab-5-addresses", &mut failures);
    let blue = t.namespaces.iter().find(|n| n.name == "blue").unwrap();
    assert_eq!(
        blue.interfaces
            .iter()
            .find(|i| i.name == "veth0")
            .unwrap()
            .addresses,
        ["10.1.0.2/24"]
    );
    sh("ip netns del blue; ip netns del red");

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
        t.namespaces.iter().filter(|n| n.kind == "named").all(|n| n
            .default_route
            .as_ref()
            .and_then(|d| d.via.as_deref())
            == Some("10.1.0.1"))
    );

    // JSON round trip: the documented fields are there.
    let json: serde_json::Value = serde_json::to_value(&t).unwrap();
    assert_eq!(json["namespaces"][0]["kind"], "root");
    assert!(json["wires"][0]["a"]["interface"].is_string());

    for f in &failures {
        println!("{f}");
    }
    println!(
        "{} passed, {} failed",
        6 * 3 - failures.len(),
        failures.len()
    );
    std::process::exit(if failures.is_empty() { 0 } else { 1 });
}
