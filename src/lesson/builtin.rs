//! The lessons compiled into the binary (lesson/load.rs reads the others).

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
