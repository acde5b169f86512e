//! A deterministic stand-in for the fuzzer that runs in every `cargo test`: the shipped lessons
//! and the malformed corpus, cut at every character and mutated thousands of times, must parse
//! and lint into diagnostics whose spans stay inside the text, never a panic. Whatever parses
//! must render, intro and every step, in colour, with no line wider than the width.

use std::collections::HashSet;

use console::measure_text_width;
use nslab::diag::Source;
use nslab::lesson::{Lesson, lint, parse};
use nslab::render::render;

/// Widths that catch off-by-ones at the narrowest, odd and even ones, and the widest.
const WIDTHS: [usize; 7] = [20, 21, 40, 57, 80, 133, 200];

fn fits(markdown: &str, width: usize) {
    for line in render(markdown, width).lines() {
        assert!(
            measure_text_width(line) <= width,
            "a line wider than {width} columns: {line:?}\nfrom:\n{markdown}"
        );
    }
}

/// Renders what learn and demo show of a lesson at each width. Rendering is pure, so a text
/// already rendered at a width (a step that the next prefix or mutation leaves unchanged) is
/// not rendered again: `seen` remembers them.
fn renders(lesson: &Lesson, widths: &[usize], seen: &mut HashSet<(String, usize)>) {
    // The styled text is what must fit: escape codes take no column.
    console::set_colors_enabled(true);
    let texts = std::iter::once(&lesson.intro).chain(lesson.steps.iter().map(|s| &s.body));
    for text in texts {
        for &w in widths {
            if seen.insert((text.clone(), w)) {
                fits(text, w);
            }
        }
    }
}

fn exercise(text: &str) -> Option<Lesson> {
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
    if let Some(l) = &lesson {
        for d in lint::lint(std::slice::from_ref(l)) {
            let _ = d.render_excerpt();
        }
    }
    lesson
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
    let mut seen = HashSet::new();
    for text in corpus() {
        for (i, _) in text.char_indices().step_by(3) {
            if let Some(l) = exercise(&text[..i]) {
                renders(&l, &WIDTHS, &mut seen);
            }
        }
    }
}

#[test]
fn every_lesson_renders_at_every_width() {
    let mut rendered = 0;
    for text in corpus() {
        if let Some(l) = exercise(&text) {
            renders(&l, &(20..=200).collect::<Vec<_>>(), &mut HashSet::new());
            rendered += 1;
        }
    }
    // The shipped lessons and the fixtures parse; a corpus that stopped parsing would test
    // nothing here.
    assert!(rendered >= 4, "only {rendered} lessons parsed");
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
        // What the renderer lays out: quotes, nested lists, tables, styles, wide and combining
        // characters, escape codes, a long word, a tagged command.
        "> ",
        "- ",
        "\n  - ",
        "1. ",
        "| a | b |\n|---|---|\n| c | d |\n",
        "|",
        "**",
        "`",
        "漢字",
        "e\u{301}",
        "\u{1b}[31m",
        "/a/very/long/path/that/cannot/fit/in/twenty/columns",
        " # [observe]",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let texts = corpus();
    let mut seen = HashSet::new();
    let mut parsed = 0;
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
        if let Some(l) = exercise(&t) {
            renders(&l, &WIDTHS, &mut seen);
            parsed += 1;
        }
        // The renderer takes any Markdown, not only what parses as a lesson.
        fits(&t, WIDTHS[round % WIDTHS.len()]);
    }
    // Half the corpus is malformed and most mutations break a lesson, but some hundreds
    // still parse (480 when this was written): the lesson renders above are not a handful.
    assert!(parsed > 300, "only {parsed} of 3000 mutations parsed");
}
