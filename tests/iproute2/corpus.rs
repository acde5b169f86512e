//! The corpus of iproute2 command lines (tests/iproute2/corpus.txt): its model and its parser.
//!
//! The format is line-based so that a bug report becomes a case by pasting its lines:
//!
//! ```text
//! # a comment
//! [case] short name — source: ip-link(8)
//! setup    ip netns add a          (the real ip, on both sides)
//! setup-sh printf '...' > /tmp/b   (/bin/sh, on both sides)
//! run      ip -n a link add ...    (the lines under test, in order)
//! ns       a b                     (optional: the namespaces to compare besides root)
//!
//! [reject] short name
//! run      ip addr add 10.1.0.300/24 dev veth0
//! stderr   Error: any valid prefix is expected rather than "10.1.0.300/24".
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    /// Where the lines come from: a man page, a tutorial, a bug report.
    pub source: Option<String>,
    /// The header's line in the corpus file.
    pub line: usize,
    pub kind: Kind,
    pub setup: Vec<Setup>,
    pub run: Vec<Line>,
    /// The named namespaces to compare besides root; `None`: every name in /run/netns.
    pub ns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Kind {
    /// iproute2 accepts the run lines; nslab must leave what it leaves.
    Accept,
    /// iproute2 refuses the run line whatever the state, with this first line on stderr.
    Reject { stderr: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// `setup-sh`: the line needs the shell (redirections, `&`, `$!`); a plain `setup` does not.
    pub shell: bool,
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub text: String,
    pub line: usize,
}

impl Case {
    pub fn is_reject(&self) -> bool {
        matches!(self.kind, Kind::Reject { .. })
    }

    /// Every line of the case (setup and run), for what appears literally in them.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.setup
            .iter()
            .map(|s| s.text.as_str())
            .chain(self.run.iter().map(|l| l.text.as_str()))
    }
}

/// A mistake in the corpus file: `path:line:col: message`.
#[derive(Debug)]
pub struct CorpusError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

const KEYWORDS: &[&str] = &["setup", "setup-sh", "run", "ns", "stderr"];

/// Characters that make a line need /bin/sh: such a setup line must say `setup-sh`.
const SHELL_CHARS: &[char] = &['|', '&', ';', '<', '>', '$', '`', '(', ')', '*', '?', '~'];

pub fn parse(text: &str) -> Result<Vec<Case>, Vec<CorpusError>> {
    let mut cases: Vec<Case> = Vec::new();
    let mut errors = Vec::new();
    let mut err =
        |line: usize, col: usize, message: String| errors.push(CorpusError { line, col, message });
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some((tag, title)) = rest.split_once(']') else {
                err(
                    n,
                    indent + 1,
                    "a header reads [case] NAME or [reject] NAME".into(),
                );
                continue;
            };
            let kind = match tag {
                "case" => Kind::Accept,
                "reject" => Kind::Reject {
                    stderr: String::new(),
                },
                _ => {
                    err(
                        n,
                        indent + 2,
                        format!("unknown header [{tag}] (the corpus knows [case] and [reject])"),
                    );
                    continue;
                }
            };
            let (name, source) = split_source(title);
            if name.is_empty() {
                err(n, indent + tag.len() + 3, "the case needs a name".into());
                continue;
            }
            if let Some(other) = cases.iter().find(|c| c.name == name) {
                err(
                    n,
                    indent + tag.len() + 4,
                    format!(
                        "a case named \"{name}\" already exists (line {})",
                        other.line
                    ),
                );
            }
            cases.push(Case {
                name,
                source,
                line: n,
                kind,
                setup: Vec::new(),
                run: Vec::new(),
                ns: None,
            });
            continue;
        }
        let (keyword, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        let value_col = indent + line.len() - value.len() + 1;
        if !KEYWORDS.contains(&keyword) {
            err(
                n,
                indent + 1,
                format!(
                    "unknown keyword '{keyword}' (a case has {})",
                    KEYWORDS.join(", ")
                ),
            );
            continue;
        }
        if value.is_empty() {
            err(
                n,
                indent + keyword.len() + 1,
                format!("'{keyword}' needs a value"),
            );
            continue;
        }
        let Some(case) = cases.last_mut() else {
            err(
                n,
                indent + 1,
                format!("'{keyword}' before any [case] or [reject]"),
            );
            continue;
        };
        match keyword {
            "setup" | "setup-sh" => {
                let shell = keyword == "setup-sh";
                if !shell && let Some(p) = value.find(SHELL_CHARS) {
                    err(
                        n,
                        value_col + p,
                        "this line needs the shell: write it as setup-sh".into(),
                    );
                }
                case.setup.push(Setup {
                    shell,
                    text: value.to_string(),
                    line: n,
                });
            }
            "run" => {
                if case.is_reject() && !case.run.is_empty() {
                    err(
                        n,
                        indent + 1,
                        "a [reject] case has exactly one run line".into(),
                    );
                }
                case.run.push(Line {
                    text: value.to_string(),
                    line: n,
                });
            }
            "ns" => {
                if case.is_reject() {
                    err(
                        n,
                        indent + 1,
                        "a [reject] case compares no namespaces".into(),
                    );
                } else if case.ns.is_some() {
                    err(n, indent + 1, "one ns line per case".into());
                }
                case.ns = Some(value.split_whitespace().map(String::from).collect());
            }
            "stderr" => match &mut case.kind {
                Kind::Reject { stderr } if stderr.is_empty() => *stderr = value.to_string(),
                Kind::Reject { .. } => err(n, indent + 1, "one stderr line per case".into()),
                Kind::Accept => err(
                    n,
                    indent + 1,
                    "stderr belongs to a [reject] case: a [case] must succeed".into(),
                ),
            },
            // KEYWORDS holds exactly the words matched above.
            _ => {}
        }
    }
    for case in &cases {
        if case.run.is_empty() {
            err(
                case.line,
                1,
                format!("case \"{}\" has no run line", case.name),
            );
        }
        if matches!(&case.kind, Kind::Reject { stderr } if stderr.is_empty()) {
            err(
                case.line,
                1,
                format!(
                    "reject case \"{}\" needs the stderr line iproute2 prints",
                    case.name
                ),
            );
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// `NAME — source: WHERE` (an ASCII `--` works too).
fn split_source(title: &str) -> (String, Option<String>) {
    for dash in ["—", "--"] {
        if let Some((name, rest)) = title.split_once(&format!(" {dash} ")) {
            let rest = rest.trim();
            let source = rest.strip_prefix("source:").unwrap_or(rest).trim();
            return (name.trim().to_string(), Some(source.to_string()));
        }
    }
    (title.trim().to_string(), None)
}

/// Checks the parser against small corpora with known mistakes: run before the cases, so that
/// a parser that accepts anything cannot pass unnoticed.
pub fn self_check() -> Result<(), String> {
    let good = "# c\n[case] a — source: ip-link(8)\nsetup ip netns add a\nsetup-sh echo x > /tmp/x\n\
                run   ip -n a link set lo up\nns a\n\n[reject] b\nrun ip a a 1.2.3.400/8 dev lo\n\
                stderr Error: x\n";
    let cases = parse(good).map_err(|e| format!("a good corpus was refused: {e:?}"))?;
    let shape: Vec<(&str, Option<&str>, usize, usize, bool)> = cases
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.source.as_deref(),
                c.setup.len(),
                c.run.len(),
                c.is_reject(),
            )
        })
        .collect();
    let want = vec![
        ("a", Some("ip-link(8)"), 2, 1, false),
        ("b", None, 0, 1, true),
    ];
    if shape != want {
        return Err(format!("parsed {shape:?}, want {want:?}"));
    }
    for (bad, line, col, says) in [
        ("run ip a\n", 1, 1, "before any"),
        (
            "[case] a\nrun ip a\n[case] a\nrun ip a\n",
            3,
            8,
            "already exists",
        ),
        ("[case] a\nsetup echo x > /tmp/x\n", 2, 14, "setup-sh"),
        ("[case] a\nrun ip a\nstderr x\n", 3, 1, "[reject]"),
        ("[reject] a\nrun ip a\n", 1, 1, "needs the stderr"),
        ("[case] a\nrnu ip a\n", 2, 1, "unknown keyword"),
    ] {
        match parse(bad) {
            Ok(_) => return Err(format!("accepted a bad corpus: {bad:?}")),
            Err(errors) => {
                if !errors
                    .iter()
                    .any(|e| e.line == line && e.col == col && e.message.contains(says))
                {
                    return Err(format!(
                        "{bad:?}: want {line}:{col} \"{says}\", got {errors:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}
