//! Any bytes, read as a lesson: parse and lint must return diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nslab::diag::Source;
use nslab::lesson::{lint, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("fuzz.md", text);
    let (lesson, diags) = parse::parse(&source);
    for d in &diags {
        // Rendering touches every span: it must stay inside the text.
        let _ = d.to_string();
        let _ = d.render_excerpt();
    }
    if let Some(lesson) = lesson {
        for d in lint::lint(std::slice::from_ref(&lesson)) {
            let _ = d.render_excerpt();
        }
        for step in &lesson.steps {
            for c in &step.checks {
                let _ = c.check.to_string();
            }
        }
    }
});
