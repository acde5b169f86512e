//! The lessons compiled into the binary, and where lessons come from otherwise.

use std::path::{Path, PathBuf};

use crate::diag::Source;

/// The shipped lessons, in teaching order. A test checks that this lists every file in lessons/.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "01-namespaces.md",
        include_str!("../../lessons/01-namespaces.md"),
    ),
    ("02-veth.md", include_str!("../../lessons/02-veth.md")),
    ("03-bridges.md", include_str!("../../lessons/03-bridges.md")),
    ("04-routing.md", include_str!("../../lessons/04-routing.md")),
    (
        "05-container-networking.md",
        include_str!("../../lessons/05-container-networking.md"),
    ),
    (
        "06-troubleshooting.md",
        include_str!("../../lessons/06-troubleshooting.md"),
    ),
];

/// The built-in lessons as sources named `lessons/FILE`, as authors know them.
pub fn builtin() -> Vec<Source> {
    BUILTIN
        .iter()
        .map(|(name, text)| Source::new(format!("lessons/{name}"), *text))
        .collect()
}

/// Where lessons are read from: the paths given, else `NSLAB_LESSONS` (paths separated by ':'),
/// else the built-in lessons.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Source>, String> {
    if !paths.is_empty() {
        return read_paths(paths);
    }
    match std::env::var_os("NSLAB_LESSONS") {
        Some(v) if !v.is_empty() => {
            let paths: Vec<PathBuf> = std::env::split_paths(&v).collect();
            read_paths(&paths)
        }
        _ => Ok(builtin()),
    }
}

fn read_paths(paths: &[PathBuf]) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: cannot read the folder: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "md"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!(
                    "{}: the folder holds no lesson (*.md)",
                    p.display()
                ));
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(p)?);
        }
    }
    Ok(out)
}

fn read_file(p: &Path) -> Result<Source, String> {
    let bytes =
        std::fs::read(p).map_err(|e| format!("{}: cannot read the lesson: {e}", p.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let col = good.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        format!(
            "{}:{line}:{col}: error: the lesson is not UTF-8 text",
            p.display()
        )
    })?;
    Ok(Source::new(p.display().to_string(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_file_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .collect();
        on_disk.sort();
        let built: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, built);
    }
}
