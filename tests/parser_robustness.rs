//! A deterministic stand-in for the fuzzer that runs in every `cargo test`: the shipped lessons
//! and the malformed corpus, cut at every character and mutated thousands of times, must parse
//! and lint into diagnostics whose spans stay inside the text, never a panic.

use nslab::diag::Source;
use nslab::lesson::{lint, parse};

fn exercise(text: &str) {
    let source = Source::new("x.md", text);
    let (lesson, diags) = parse::parse(&source);
    for d in &diags {
        assert!(d.line >= 1 && d.col >= 1, "{d}");
        assert!(
            d.line <= text.lines().count().max(1) + 1,
            "{d} is past the end"
        );
        let _ = d.render_excerpt();
    }
    if let Some(l) = lesson {
        for d in lint::lint(std::slice::from_ref(&l)) {
            let _ = d.render_excerpt();
        }
    }
}

fn corpus() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for dir in ["lessons", "tests/malformed", "tests/fixtures"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "md")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                texts.push(t);
            }
        }
    }
    texts
}

#[test]
fn every_prefix_of_every_lesson_is_handled() {
    for text in corpus() {
        for (i, _) in text.char_indices().step_by(3) {
            exercise(&text[..i]);
        }
    }
}

#[test]
fn random_mutations_are_handled() {
    const PIECES: &[&str] = &[
        "+++",
        "```",
        "```sh",
        "```check",
        "```question",
        "\n",
        "#",
        "##",
        " ",
        "\\",
        "\\\n",
        "\"",
        "'",
        "=",
        "[",
        "]",
        "é",
        "\t",
        "/",
        "10.1.0.256/33",
        "in",
        "not",
        "link",
        "peer",
        "sh:",
        "answer:",
        "ip netns exec",
        "$(",
        "> Hint:",
        "~~~",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let texts = corpus();
    for round in 0..3000 {
        let mut t = texts[round % texts.len()].clone();
        for _ in 0..(1 + next() % 6) {
            let mut at = (next() as usize) % (t.len() + 1);
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            match next() % 3 {
                0 => t.insert_str(at, PIECES[(next() as usize) % PIECES.len()]),
                1 => {
                    let mut end = (at + 1 + (next() as usize) % 40).min(t.len());
                    while !t.is_char_boundary(end) {
                        end += 1;
                    }
                    t.replace_range(at..end, "");
                }
                _ => {
                    let p = PIECES[(next() as usize) % PIECES.len()];
                    let mut end = (at + p.len()).min(t.len());
                    while !t.is_char_boundary(end) {
                        end += 1;
                    }
                    t.replace_range(at..end, p);
                }
            }
        }
        exercise(&t);
    }
}
