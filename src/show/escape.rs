//! Names are not trusted text. The kernel lets an interface name hold any byte except `/`, `:`
//! and whitespace, and a namespace name (a file in /run/netns) any byte except `/`: escape
//! sequences, bidi overrides, bytes that are not UTF-8 (the kernel layer carries those as
//! `\xNN`). A name shown raw can clear the screen of the person reading it (an unprivileged user
//! can name a link in their own namespace), or break the SVG, DOT or Mermaid it lands in. Every
//! renderer passes names and messages through one of these.

use std::borrow::Cow;

/// Characters that move the cursor, change the terminal, or reorder or hide text.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}'   // zero-width spaces and joiners, LRM, RLM
            | '\u{2028}'..='\u{2029}' // line and paragraph separators
            | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{feff}') // byte order mark
}

/// The text as a terminal may show it: every unsafe character written out, `\x1b` for ESC,
/// `\u{202e}` for a bidi override. Plain names come back borrowed.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// Text for an XML text node or attribute value (SVG, and Graphviz's HTML-like labels): made
/// visible first, since XML 1.0 cannot carry most control characters even as references.
pub fn xml(s: &str) -> String {
    let v = visible(s);
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a quoted Mermaid label (`["..."]`): made visible, then every character that
/// Mermaid's parser or its HTML labels would read as syntax written as an entity code
/// (`#quot;`, `#35;`), which Mermaid turns back into the character.
pub fn mermaid(s: &str) -> String {
    let v = visible(s);
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(visible("x\u{1b}[2J"), "x\\x1b[2J");
        assert_eq!(visible("a\tb\nc\u{7f}"), "a\\x09b\\x0ac\\x7f");
        assert_eq!(visible("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert!(matches!(visible("veth0"), Cow::Borrowed("veth0")));
        // Other Unicode is a fine name.
        assert_eq!(visible("grün→0"), "grün→0");
    }

    #[test]
    fn xml_text_has_no_markup_and_no_control_characters() {
        let x = xml("<a href=\"x\">&'\u{1b}\u{0}");
        assert_eq!(x, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\\x1b\\x00");
    }

    #[test]
    fn mermaid_labels_have_no_syntax_characters() {
        let m = mermaid("a\"b#c[d]<e>`f\u{1b}");
        for bad in ['"', '<', '>', '`', '\u{1b}'] {
            assert!(!m.contains(bad), "{m} contains {bad:?}");
        }
        assert!(m.contains("\\x1b"), "{m}");
        assert_eq!(mermaid("veth_0 (a)"), "veth_0 (a)");
    }
}
