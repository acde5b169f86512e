//! Every malformed lesson under tests/malformed is rejected by the built binary with exactly the
//! diagnostics in its `.expected` file, and the documented exit code.

use std::path::Path;
use std::process::Command;

#[test]
fn malformed_lessons_get_their_exact_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 15,
        "the corpus holds {} lessons",
        cases.len()
    );
    for case in cases {
        let rel = case.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("lint")
            .arg(rel)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let got: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains("lesson(s) checked"))
            .collect();
        let expected = std::fs::read_to_string(case.with_extension("expected")).unwrap();
        let want: Vec<&str> = expected.lines().collect();
        assert_eq!(got, want, "diagnostics of {}", rel.display());
        let code = if want.iter().any(|l| l.contains("error:")) {
            2
        } else {
            0
        };
        assert_eq!(
            out.status.code(),
            Some(code),
            "exit code of {}",
            rel.display()
        );
        assert!(
            !stderr.contains("panicked"),
            "{} made nslab panic",
            rel.display()
        );
    }
}

#[test]
fn shipped_lessons_lint_clean_without_warnings() {
    let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
        .arg("lint")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 error(s), 0 warning(s)"), "{stderr}");
}

#[test]
fn list_shows_lessons_and_numbered_steps() {
    let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
        .arg("list")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for id in ["namespaces", "veth-lab", "bridges", "routing"] {
        assert!(stdout.contains(id), "{id} missing from:\n{stdout}");
    }
    assert!(
        stdout.contains(" 4. Move one end into each namespace"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
        .arg("lint")
        .arg("/no/such/lesson.md")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_nslab"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
