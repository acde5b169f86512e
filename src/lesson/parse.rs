//! Markdown -> lesson model. Pure: no kernel, no terminal.

use std::collections::BTreeMap;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::check;
use super::effect;
use super::grammar;
use super::{Answer, CheckLine, CommandLine, FORMAT_VERSION, Lesson, Origin, Question, Step};
use crate::diag::{Diagnostic, Source, did_you_mean};

/// The front matter keys a lesson may set.
const KEYS: &[&str] = &["id", "title", "format", "summary", "minutes", "host_root"];

/// The most steps a lesson may have (the effect model of each step looks at what the steps
/// before it built: the work grows with the square of the count).
pub const MAX_STEPS: usize = 500;

/// The most command lines a lesson may have (the shipped lessons have fewer than a hundred
/// each; the benchmark's star of 1000 namespaces has 7004).
pub const MAX_LINES: usize = 20_000;

/// Code block info strings with a meaning to nslab; any other is only displayed.
const BLOCKS: &[&str] = &[
    "sh", "check", "question", "hint", "output", "solution", "setup",
];

/// The one place that chooses pulldown-cmark's options, for parsing and rendering alike.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Parses a lesson. Returns the lesson when there is no error, and every diagnostic found
/// (warnings come back with a lesson, errors without one).
pub fn parse(source: &Source) -> (Option<Lesson>, Vec<Diagnostic>) {
    let mut p = LessonParser {
        src: source,
        diags: Vec::new(),
    };
    p.control_characters();
    let lesson = p.lesson();
    // (Raw ones are said already, where they are.)
    let raw = p
        .src
        .text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    if let Some(l) = lesson.as_ref().filter(|_| !raw) {
        p.decoded_control_characters(l);
    }
    let has_error = p.diags.iter().any(Diagnostic::is_error);
    (if has_error { None } else { lesson }, p.diags)
}

struct LessonParser<'a> {
    src: &'a Source,
    diags: Vec<Diagnostic>,
}

impl LessonParser<'_> {
    /// A lesson is text: a NUL byte or a terminal control character (an escape sequence that
    /// would clear or retitle the student's terminal) has no place in it. Tabs and line ends do.
    fn control_characters(&mut self) {
        let found: Vec<(usize, char)> = self
            .src
            .text
            .char_indices()
            .filter(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        for (at, c) in found.iter().take(5) {
            self.diags.push(self.src.error(
                *at,
                1,
                format!(
                    "the lesson holds the control character U+{:04X}: a lesson is text (remove it)",
                    u32::from(*c)
                ),
            ));
        }
        if found.len() > 5 {
            self.diags.push(self.src.error(
                found[5].0,
                1,
                format!("... and {} more control characters", found.len() - 5),
            ));
        }
    }
}

impl LessonParser<'_> {
    /// The same, once decoded: a TOML escape in the title (`\u001b`) or an entity in a heading
    /// (`&#10;`) makes a control character that the raw text does not hold. A line break in a
    /// step's title would put a line of the lesson's choosing in verify's report.
    fn decoded_control_characters(&mut self, l: &Lesson) {
        let title_at = self.src.text.find("title").unwrap_or(0);
        let mut texts: Vec<(&str, usize, &str)> = vec![("title", title_at, &l.title)];
        if let Some(s) = &l.summary {
            texts.push(("summary", title_at, s));
        }
        texts.extend(
            l.steps
                .iter()
                .map(|s| ("step's title", s.offset, s.title.as_str())),
        );
        for (what, at, text) in texts {
            if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
                self.diags.push(self.src.error(
                    at,
                    1,
                    format!(
                        "the {what} holds the control character U+{:04X} once decoded (an escape or an entity): a lesson is text (remove it)",
                        u32::from(c)
                    ),
                ));
            }
        }
    }
}

struct FrontMatter {
    id: String,
    id_offset: usize,
    title: String,
    summary: Option<String>,
    minutes: Option<u32>,
    host_root: bool,
}

/// A step being assembled while the Markdown events stream by.
struct StepDraft {
    title: String,
    offset: usize,
    body_start: usize,
    commands: Vec<CommandLine>,
    checks: Option<Vec<CheckLine>>,
    hints: Vec<String>,
    question: Option<Question>,
    /// A `solution` block was seen (a challenge), and where.
    solution: Option<usize>,
    /// A `sh` block was seen, and where.
    shown: Option<usize>,
    setup: Vec<CommandLine>,
    /// Byte ranges of hint quotes: learn shows them on `h`, not in the step's text.
    hidden: Vec<(usize, usize)>,
}

impl LessonParser<'_> {
    fn text(&self) -> &str {
        &self.src.text
    }

    fn lesson(&mut self) -> Option<Lesson> {
        let (fm, body_start) = self.front_matter()?;
        let text = self.src.text.clone();
        let body = &text[body_start..];

        let mut steps: Vec<StepDraft> = Vec::new();
        let mut intro_end = text.len();
        let mut heading: Option<(usize, String)> = None;
        let mut quote: Option<(usize, usize, String)> = None;

        for (event, range) in Parser::new_ext(body, markdown_options()).into_offset_iter() {
            let start = range.start + body_start;
            let end = range.end + body_start;
            match event {
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H2,
                    ..
                }) => heading = Some((start, String::new())),
                Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                    let Some((offset, title)) = heading.take() else {
                        continue;
                    };
                    if steps.is_empty() {
                        intro_end = offset;
                    }
                    let title = title.trim().to_string();
                    if title.is_empty() {
                        self.diags.push(self.src.error(
                            offset,
                            2,
                            "a step needs a title after '##'",
                        ));
                    }
                    steps.push(StepDraft {
                        title,
                        offset,
                        body_start: end,
                        commands: Vec::new(),
                        checks: None,
                        hints: Vec::new(),
                        question: None,
                        solution: None,
                        shown: None,
                        setup: Vec::new(),
                        hidden: Vec::new(),
                    });
                }
                Event::Start(Tag::BlockQuote(_)) => quote = Some((start, end, String::new())),
                Event::End(TagEnd::BlockQuote(_)) => {
                    if let Some((offset, quote_end, q)) = quote.take() {
                        let q = q.trim();
                        if let Some(hint) = q.strip_prefix("Hint:") {
                            match steps.last_mut() {
                                Some(s) => {
                                    s.hints.push(hint.trim().to_string());
                                    s.hidden.push((offset, quote_end));
                                }
                                None => self.diags.push(self.src.warning(
                                    offset,
                                    1,
                                    "a hint before the first step belongs to no step",
                                )),
                            }
                        }
                    }
                }
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                    self.code_block(&info, start, end, steps.last_mut());
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some((_, h)) = heading.as_mut() {
                        h.push_str(&t);
                    } else if let Some((_, _, q)) = quote.as_mut() {
                        q.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some((_, _, q)) = quote.as_mut() {
                        q.push(' ');
                    }
                }
                _ => {}
            }
        }

        if steps.is_empty() {
            self.diags.push(self.src.warning(
                body_start,
                1,
                "the lesson has no steps: start each one with a '## ' heading",
            ));
        }

        if steps.len() > MAX_STEPS {
            // What a lesson's steps build is modelled step by step: bounded, like its size.
            self.diags.push(self.src.error(
                steps[MAX_STEPS].offset,
                2,
                format!(
                    "a lesson has at most {MAX_STEPS} steps, and this one has {}: split it into several lessons",
                    steps.len()
                ),
            ));
            return None;
        }
        let lines: usize = steps.iter().map(|d| d.commands.len() + d.setup.len()).sum();
        if lines > MAX_LINES {
            self.diags.push(self.src.error(
                0,
                3,
                format!(
                    "a lesson has at most {MAX_LINES} command lines, and this one has {lines}: split it into several lessons"
                ),
            ));
            return None;
        }
        let mut titles: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        let count = steps.len();
        for i in 0..count {
            let body_end = steps.get(i + 1).map_or(text.len(), |s| s.offset);
            let d = &mut steps[i];
            if !d.title.is_empty()
                && let Some(first) = titles.insert(d.title.clone(), d.offset)
            {
                let line = self.src.position(first).0;
                self.diags.push(self.src.warning(
                    d.offset,
                    2,
                    format!("another step is also called '{}' (line {line})", d.title),
                ));
            }
            let has_check_block = d.checks.is_some();
            if let (Some(sol), Some(sh)) = (d.solution, d.shown) {
                let at = sol.max(sh);
                self.diags.push(self.src.error(
                    at,
                    3,
                    "a step has an sh block (commands the student sees) or a solution block (a challenge), not both",
                ));
            }
            if let Some(sol) = d.solution
                && !has_check_block
            {
                self.diags.push(self.src.error(
                    sol,
                    3,
                    "a challenge (a solution block) needs a check block: its checks judge the student's own way there",
                ));
            }
            let checks = d.checks.take().unwrap_or_default();
            out.push(Step {
                index: i + 1,
                title: d.title.clone(),
                offset: d.offset,
                body: without(&text, d.body_start.min(body_end), body_end, &d.hidden),
                commands: std::mem::take(&mut d.commands),
                checks,
                hints: std::mem::take(&mut d.hints),
                question: d.question.take(),
                has_check_block,
                challenge: d.solution.is_some(),
                setup: std::mem::take(&mut d.setup),
            });
        }
        // Steps without a check block get the checks of their net effect.
        effect::derive_checks(&mut out);

        Some(Lesson {
            source: self.src.clone(),
            id: fm.id,
            id_offset: fm.id_offset,
            title: fm.title,
            summary: fm.summary,
            minutes: fm.minutes,
            host_root: fm.host_root,
            intro: text[body_start..intro_end.max(body_start)].to_string(),
            steps: out,
        })
    }

    /// Reads the TOML between the `+++` lines. Returns it and where the body starts.
    fn front_matter(&mut self) -> Option<(FrontMatter, usize)> {
        let text = self.text().to_string();
        let first = text.lines().next().unwrap_or("");
        if first.trim_end() != "+++" {
            self.diags.push(self.src.error(
                0,
                first.chars().count(),
                "a lesson starts with front matter: a '+++' line, then id, title and format, then '+++'",
            ));
            return None;
        }
        let open_end = text.find('\n').map_or(text.len(), |i| i + 1);
        let mut pos = open_end;
        let mut close = None;
        for line in text[open_end..].split_inclusive('\n') {
            if line.trim_end() == "+++" {
                close = Some((pos, pos + line.len()));
                break;
            }
            pos += line.len();
        }
        let Some((close_start, body_start)) = close else {
            self.diags.push(self.src.error(
                0,
                3,
                "the front matter opened here is never closed with a '+++' line",
            ));
            return None;
        };
        let toml_text = &text[open_end..close_start];
        let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> =
            match toml::from_str(toml_text) {
                Ok(t) => t,
                Err(e) => {
                    let (off, len) = e.span().map_or((0, 1), |r| (r.start, r.len()));
                    let msg = e
                        .message()
                        .lines()
                        .next()
                        .unwrap_or("invalid TOML")
                        .to_string();
                    self.diags.push(self.src.error(
                        open_end + off,
                        len,
                        format!("front matter: {msg}"),
                    ));
                    return None;
                }
            };
        let mut fm = FrontMatter {
            id: String::new(),
            id_offset: 0,
            title: String::new(),
            summary: None,
            minutes: None,
            host_root: false,
        };
        let mut seen = Vec::new();
        for (key, value) in &table {
            let koff = open_end + key.span().start;
            let voff = open_end + value.span().start;
            let vlen = value.span().len();
            let name = key.get_ref().as_str();
            seen.push(name.to_string());
            let as_str = |this: &mut Self| match value.get_ref().as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    this.diags.push(this.src.error(
                        voff,
                        vlen,
                        format!("'{name}' must be a string"),
                    ));
                    None
                }
            };
            match name {
                "id" => {
                    if let Some(id) = as_str(self) {
                        if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                            self.diags.push(self.src.error(voff, vlen, format!("id '{id}' may hold only lowercase letters, digits and '-'")));
                        }
                        fm.id = id;
                        fm.id_offset = voff;
                    }
                }
                "title" => {
                    fm.title = as_str(self).unwrap_or_default();
                    if fm.title.trim().is_empty() && value.get_ref().is_str() {
                        self.diags.push(self.src.error(
                            voff,
                            vlen,
                            "the title is empty: it heads the lesson on screen and in nslab list",
                        ));
                    }
                }
                "summary" => fm.summary = as_str(self),
                "host_root" => match value.get_ref().as_bool() {
                    Some(b) => {
                        fm.host_root = b;
                        if b {
                            self.diags.push(self.src.warning(
                                koff,
                                name.len(),
                                "this lesson asks for root on the machine itself: nslab verify runs it only with --no-sandbox, as root, on a machine you can throw away; the jail would refuse what it needs",
                            ));
                        }
                    }
                    None => self.diags.push(self.src.error(voff, vlen, "'host_root' must be true or false")),
                },
                "minutes" => match value.get_ref().as_integer() {
                    Some(m) if (1..=600).contains(&m) => fm.minutes = Some(m as u32),
                    _ => self.diags.push(self.src.error(voff, vlen, "'minutes' must be a whole number of minutes")),
                },
                "format" => match value.get_ref().as_integer() {
                    Some(v) if v == i64::from(FORMAT_VERSION) => {}
                    Some(v) => self.diags.push(self.src.error(
                        voff,
                        vlen,
                        format!("format {v} is not one this nslab reads (it reads format {FORMAT_VERSION})"),
                    )),
                    None => self.diags.push(self.src.error(voff, vlen, "'format' must be a number, such as 1")),
                },
                _ => self.diags.push(self.src.error(
                    koff,
                    name.chars().count(),
                    format!("unknown front matter key '{name}'{}", did_you_mean(name, KEYS)),
                )),
            }
        }
        for required in ["id", "title", "format"] {
            if !seen.iter().any(|s| s == required) {
                self.diags.push(self.src.error(
                    0,
                    3,
                    format!("the front matter lacks '{required}'"),
                ));
            }
        }
        Some((fm, body_start))
    }

    fn code_block(&mut self, info: &str, start: usize, end: usize, step: Option<&mut StepDraft>) {
        // The source outlives the parser: no copy of the lesson per block (with thousands of
        // blocks, copying the whole text each time made parsing quadratic).
        let src = self.src;
        let block = &src.text[start..end];
        let mut lines = block.split_inclusive('\n');
        let fence_line = lines.next().unwrap_or("");
        let indent = fence_line.len() - fence_line.trim_start().len();
        let fence_body = fence_line.trim_start();
        let fence_char = fence_body.chars().next().unwrap_or('`');
        let fence_len = fence_body.chars().take_while(|c| *c == fence_char).count();

        // The content lines with their absolute offsets; stop at the closing fence.
        let mut content: Vec<(usize, String)> = Vec::new();
        let mut pos = start + fence_line.len();
        let mut closed = false;
        for line in lines {
            let trimmed = line.trim();
            if trimmed.chars().take_while(|c| *c == fence_char).count() >= fence_len
                && trimmed.chars().all(|c| c == fence_char)
            {
                closed = true;
                break;
            }
            let strip = line.len() - line.trim_start().len();
            let strip = strip.min(indent);
            content.push((
                pos + strip,
                line[strip..].trim_end_matches(['\n', '\r']).to_string(),
            ));
            pos += line.len();
        }

        let mut words = info.split_whitespace();
        let kind = words.next().unwrap_or("");
        let attrs: Vec<&str> = words.collect();
        if !closed && BLOCKS.contains(&kind) {
            self.diags.push(self.src.error(
                start + indent,
                fence_len + kind.len(),
                format!("this '{kind}' block is never closed: end it with a line of {fence_len} '{fence_char}'"),
            ));
            return;
        }
        if !BLOCKS.contains(&kind) {
            let hint = did_you_mean(kind, BLOCKS);
            if !hint.is_empty() && !kind.is_empty() {
                self.diags.push(self.src.warning(
                    start + indent + fence_len,
                    kind.len(),
                    format!("a '{kind}' block is only displayed{hint}"),
                ));
            }
            return;
        }
        let Some(step) = step else {
            if kind != "output" && kind != "hint" {
                self.diags.push(self.src.error(
                    start + indent,
                    fence_len + kind.len(),
                    format!("a '{kind}' block before the first '## ' heading belongs to no step"),
                ));
            }
            return;
        };
        let block_observe = attrs.contains(&"observe");
        for a in &attrs {
            if *a != "observe" {
                self.diags.push(self.src.error(
                    start + indent + fence_len + kind.len() + 1,
                    a.len(),
                    format!("unknown block attribute '{a}' (nslab knows 'observe')"),
                ));
            }
        }
        match kind {
            "sh" | "solution" => {
                let seen = if kind == "sh" {
                    &mut step.shown
                } else {
                    &mut step.solution
                };
                seen.get_or_insert(start + indent);
                let mut lines = std::mem::take(&mut step.commands);
                self.commands(&content, block_observe, &mut lines);
                step.commands = lines;
            }
            "setup" => {
                let mut lines = Vec::new();
                self.commands(&content, block_observe, &mut lines);
                step.setup.extend(lines);
            }
            "check" => {
                let checks = self.checks(&content, block_observe);
                step.checks.get_or_insert_with(Vec::new).extend(checks);
            }
            "hint" => {
                let hint: Vec<&str> = content.iter().map(|(_, l)| l.as_str()).collect();
                step.hints.push(hint.join("\n").trim().to_string());
            }
            "question" => self.question(&content, start, step),
            _ => {}
        }
    }

    fn commands(
        &mut self,
        content: &[(usize, String)],
        block_observe: bool,
        out: &mut Vec<CommandLine>,
    ) {
        let mut pending: Option<(usize, String)> = None;
        let mut lines = content.iter();
        while let Some((off, raw)) = lines.next() {
            let (code, tags) = split_comment(raw);
            if code.trim().is_empty() && pending.is_none() {
                continue;
            }
            let (start, mut joined) = pending
                .take()
                .unwrap_or((*off + (raw.len() - raw.trim_start().len()), String::new()));
            let piece = code.trim();
            if let Some(cont) = piece.strip_suffix('\\') {
                joined.push_str(cont.trim_end());
                joined.push(' ');
                pending = Some((start, joined));
                continue;
            }
            joined.push_str(piece);
            let mut line = joined.trim().to_string();
            // A here-document's body is the following lines, as they are, up to its delimiter:
            // one command with the line that opens it.
            for (delim, tabs) in crate::lesson::lex::heredocs(&line) {
                let mut closed = false;
                for (_, body) in lines.by_ref() {
                    line.push('\n');
                    line.push_str(body);
                    let end = if tabs {
                        body.trim_start_matches('\t')
                    } else {
                        body.as_str()
                    };
                    if end == delim {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    self.diags.push(self.src.error(
                        start,
                        1,
                        format!(
                            "the here-document opened here is never closed: end it with a line '{delim}'"
                        ),
                    ));
                }
            }
            for t in tags
                .iter()
                .filter(|t| !["observe", "fails"].contains(&t.as_str()))
            {
                let col = raw.find(&format!("[{t}]")).unwrap_or(0);
                self.diags.push(self.src.error(
                    off + col,
                    t.len() + 2,
                    format!("unknown command tag '[{t}]' (nslab knows [observe] and [fails])"),
                ));
            }
            match grammar::parse(&line) {
                Ok(cmd) => {
                    let observe =
                        block_observe || tags.iter().any(|t| t == "observe") || cmd.observes();
                    out.push(CommandLine {
                        line: self.src.position(start).0,
                        text: line,
                        offset: start,
                        command: cmd,
                        observe,
                        expect_failure: tags.iter().any(|t| t == "fails"),
                    });
                }
                Err(e) => {
                    // The offset is in the joined line; for a one-line command it is exact.
                    let off = if joined.len() == raw.trim().len() {
                        start + e.offset
                    } else {
                        start
                    };
                    self.diags
                        .push(self.src.error(off, e.len, refusal(&line, &e.message)));
                }
            }
        }
        if let Some((start, _)) = pending {
            self.diags.push(self.src.error(
                start,
                1,
                "the last command ends with '\\' but no line follows it",
            ));
        }
    }

    fn checks(&mut self, content: &[(usize, String)], block_observe: bool) -> Vec<CheckLine> {
        let mut out = Vec::new();
        for (off, raw) in content {
            let lead = raw.len() - raw.trim_start().len();
            let mut line = raw.trim().to_string();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut observe = block_observe;
            if let Some(stripped) = line.strip_suffix("# [observe]") {
                observe = true;
                line = stripped.trim_end().to_string();
            }
            match check::parse(&line) {
                Ok((check, refs)) => out.push(CheckLine {
                    check,
                    offset: off + lead,
                    origin: Origin::Written,
                    observe,
                    refs: refs.into_iter().map(|r| r.shifted(off + lead)).collect(),
                }),
                Err(e) => self
                    .diags
                    .push(self.src.error(off + lead + e.offset, e.len, e.message)),
            }
        }
        out
    }

    fn question(&mut self, content: &[(usize, String)], start: usize, step: &mut StepDraft) {
        let mut prompt = Vec::new();
        let mut answer = None;
        let mut explain: Option<String> = None;
        for (off, raw) in content {
            let line = raw.trim();
            if let Some(e) = line.strip_prefix("explain:") {
                let e = e.trim();
                if e.is_empty() {
                    self.diags.push(self.src.error(
                        off + raw.find("explain:").unwrap_or(0),
                        8,
                        "an 'explain:' line needs its explanation after the colon",
                    ));
                } else {
                    // Several explain: lines make one explanation.
                    explain = Some(match explain {
                        Some(mut prev) => {
                            prev.push(' ');
                            prev.push_str(e);
                            prev
                        }
                        None => e.to_string(),
                    });
                }
            } else if let Some(a) = line.strip_prefix("answer:") {
                let a = a.trim();
                let col = raw.find(a).unwrap_or(0);
                answer = match a.split_whitespace().collect::<Vec<_>>().as_slice() {
                    ["netns", "count"] => Some(Answer::NetnsCount),
                    ["netns", "count", "held", "by", "processes"] => Some(Answer::NetnsCountHeld),
                    ["inode", "of", "netns", "root"] => Some(Answer::RootNetnsInode),
                    ["inode", "of", "netns", name] => Some(Answer::NetnsInode(name.to_string())),
                    _ => {
                        self.diags.push(self.src.error(
                            off + col,
                            a.chars().count(),
                            format!("unknown answer '{a}' (nslab knows 'netns count', 'netns count held by processes', 'inode of netns root', 'inode of netns NAME')"),
                        ));
                        None
                    }
                };
            } else if !line.is_empty() {
                prompt.push(line);
            }
        }
        match answer {
            Some(answer) => {
                step.question = Some(Question {
                    prompt: prompt.join(" "),
                    answer,
                    explain,
                    offset: start,
                });
            }
            None if !self.diags.iter().any(|d| d.is_error()) => {
                self.diags.push(self.src.error(
                    start,
                    3,
                    "a question block needs an 'answer:' line",
                ));
            }
            None => {}
        }
    }
}

/// A program's refusal of a line, said as such, in the program's own words.
fn refusal(line: &str, message: &str) -> String {
    let prog = match message.split_once(": ") {
        Some((p, _)) if ["ping", "ping6", "sysctl"].contains(&p) => p,
        _ if line.trim_start().starts_with("bridge") => "bridge",
        _ => "ip",
    };
    let words = message
        .strip_prefix(&format!("{prog}: "))
        .unwrap_or(message);
    let words = words.strip_prefix("Error: ").unwrap_or(words).trim_end();
    format!("{prog} refuses this line: {words}")
}

/// Splits a command line into its code and the tags of its trailing comment (`# [observe]`).
/// A `#` starts a comment only at the start of a word and outside quotes, as in the shell.
fn split_comment(line: &str) -> (&str, Vec<String>) {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => {
                let comment = &line[i + 1..];
                let tags = comment
                    .split_whitespace()
                    .filter_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
                    .map(str::to_string)
                    .collect();
                return (&line[..i], tags);
            }
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    (line, Vec::new())
}

/// The text from `start` to `end`, less the `hidden` ranges inside it.
fn without(text: &str, start: usize, end: usize, hidden: &[(usize, usize)]) -> String {
    let mut out = String::new();
    let mut at = start;
    for &(a, b) in hidden.iter().filter(|(a, b)| *a >= start && *b <= end) {
        out.push_str(&text[at..a.max(at)]);
        at = b.max(at);
    }
    out.push_str(&text[at..end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(text: &str) -> Vec<String> {
        parse(&Source::new("t.md", text))
            .1
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const HEAD: &str = "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n";

    #[test]
    fn a_steps_last_acting_line_is_found_only_before_listings() {
        let step = |lines: &str| {
            let text = format!("{HEAD}## S\n\n```sh\n{lines}```\n");
            let lesson = parse(&Source::new("t.md", &text)).0.unwrap();
            lesson.steps[0].last_acting_line().map(|c| c.text.clone())
        };
        let add = "ip netns add a\nip -n a link set lo up\n";
        assert_eq!(step(add).as_deref(), Some("ip -n a link set lo up"));
        // Listings after it change nothing: the mutant runs them where the lesson passes.
        assert_eq!(
            step(&format!("{add}ip -n a link\nip netns list\n")).as_deref(),
            Some("ip -n a link set lo up")
        );
        // A line that only looks but runs a program (lsns) might leave traces; a ping acts
        // (neighbour entries), so it is the last acting line itself.
        assert_eq!(step(&format!("{add}lsns -t net\n")), None);
        assert_eq!(
            step(&format!(
                "{add}ip netns exec a ping -c 1 127.0.0.1\nip -n a neigh\n"
            ))
            .as_deref(),
            Some("ip netns exec a ping -c 1 127.0.0.1")
        );
        assert_eq!(step("ip netns list\n"), None);
    }

    #[test]
    fn a_mutant_is_caught_up_late_only_where_nslab_compares_all_the_line_does() {
        let step = |lines: &str| {
            let text = format!("{HEAD}## S\n\n```sh\n{lines}```\n");
            parse(&Source::new("t.md", &text))
                .0
                .unwrap()
                .steps
                .remove(0)
        };
        // Line 9 is the first line of the block. Namespaces, links, addresses and routes made
        // or changed by nslab itself, and listings, may come after the line left out.
        let s = step(
            "ip netns add a\nip -n a link add v0 type veth peer name v1\n\
             ip -n a link set v0 up\nip -n a addr add 10.0.0.1/24 dev v0\n\
             ip -n a route add 10.1.0.0/24 via 10.0.0.2\nip -n a -br link\n",
        );
        for line in 9..=13 {
            assert!(s.repairable_without(line), "line {line}");
        }
        // A listing is no mutant; a line that is not the step's is none either.
        assert!(!s.repairable_without(14));
        assert!(!s.repairable_without(99));
        // A program after it (a ping leaves neighbour entries), a sysctl, a firewall rule or
        // a neighbour entry: their effect may depend on the order, and is not compared.
        for after in [
            "ip netns exec a ping -c 1 10.0.0.1\n",
            "ip netns exec a sysctl -w net.ipv4.ip_forward=1\n",
            "ip netns exec a iptables -A INPUT -j DROP\n",
            "ip -n a neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev v0\n",
            "ip -n a link set v0 addrgenmode none\n",
        ] {
            let s = step(&format!("ip netns add a\nip -n a link set lo up\n{after}"));
            assert!(!s.repairable_without(10), "{after}");
            assert!(!s.repairable_without(9), "{after}");
        }
        // The line itself must be one too.
        let s = step(
            "ip netns add a\nip netns exec a sysctl -w net.ipv4.ip_forward=1\nip -n a link set lo up\n",
        );
        assert!(!s.repairable_without(10));
        assert!(s.repairable_without(11));
    }

    #[test]
    fn a_step_that_looks_at_ipv6_macs_or_neighbours_sees_what_shared_jails_do_not_compare() {
        let step = |lines: &str, check: &str| {
            let text = format!("{HEAD}## S\n\n```sh\n{lines}```\n\n```check\n{check}\n```\n");
            let (lesson, diags) = parse(&Source::new("t.md", &text));
            let lesson = lesson.unwrap_or_else(|| panic!("{check}: {diags:?}"));
            lesson.steps[0].sees_only_compared_state()
        };
        let up = "ip netns add a\nip -n a link set lo up\n";
        for check in [
            "link lo in a is up",
            "addr 10.0.0.1/24 on lo in a",
            "route 10.1.0.0/24 via 10.0.0.2 in a",
            "ping 10.0.0.1 from a",
            "not ping 10.0.0.9 from a",
        ] {
            assert!(step(up, check), "{check}");
        }
        for check in [
            "addr fe80::5/64 on lo in a",
            "not addr 2001:db8::1/64 on lo in a",
            "route default via fe80::1 in a",
            "link lo in a address 02:00:00:00:00:01",
            "neigh 10.0.0.2 on lo in a",
        ] {
            assert!(!step(up, check), "{check}");
        }
        assert!(!step(
            "ip netns add a\nip netns exec a ping -6 -c 1 ::1\n",
            "link lo in a is up"
        ));
    }

    #[test]
    fn a_good_lesson_parses_into_steps() {
        let text = format!(
            "{HEAD}Intro.\n\n## Make blue\n\n```sh\nip netns add blue  # [observe]\nip netns exec blue \\\n  ip link set lo up\n```\n\n> Hint: use ip netns.\n\n## Look\n\n```sh\nip -br a\n```\n\n```check\nnetns blue exists\n```\n"
        );
        let (lesson, d) = parse(&Source::new("t.md", text));
        assert!(d.is_empty(), "{d:?}");
        let l = lesson.unwrap();
        assert_eq!(l.intro.trim(), "Intro.");
        assert_eq!(l.steps.len(), 2);
        let s = &l.steps[0];
        assert_eq!(s.title, "Make blue");
        assert_eq!(s.commands.len(), 2);
        assert!(s.commands[0].observe);
        assert_eq!(s.commands[1].text, "ip netns exec blue ip link set lo up");
        assert_eq!(s.commands[1].line, 12);
        assert_eq!(s.hints, vec!["use ip netns."]);
        // The hint is kept for the `h` key, out of the step's text.
        assert!(!s.body.contains("Hint:"), "{}", s.body);
        assert!(s.body.contains("ip netns add blue"));
        // No check block: derived from the commands.
        let checks: Vec<String> = s.checks.iter().map(|c| c.check.to_string()).collect();
        assert_eq!(checks, vec!["netns blue exists", "link lo in blue is up"]);
        assert_eq!(l.steps[1].checks[0].origin, Origin::Written);
        assert!(l.steps[1].observes_only());
    }

    #[test]
    fn front_matter_errors_are_located() {
        assert_eq!(
            diags("# no front matter\n"),
            vec![
                "t.md:1:1: error: a lesson starts with front matter: a '+++' line, then id, title and format, then '+++'"
            ]
        );
        assert_eq!(
            diags("+++\nid = \"x\"\n"),
            vec!["t.md:1:1: error: the front matter opened here is never closed with a '+++' line"]
        );
        assert_eq!(
            diags("+++\nid = \"x\"\ntitel = \"T\"\ntitle = \"T\"\nformat = 1\n+++\n## S\n"),
            vec!["t.md:3:1: error: unknown front matter key 'titel', did you mean 'title'?"]
        );
        assert_eq!(
            diags("+++\nid = \"x\"\ntitle = \"T\"\nformat = 7\n+++\n## S\n"),
            vec!["t.md:4:10: error: format 7 is not one this nslab reads (it reads format 1)"]
        );
        assert_eq!(
            diags("+++\nid = \"X y\"\ntitle = \"T\"\nformat = 1\n+++\n## S\n"),
            vec!["t.md:2:6: error: id 'X y' may hold only lowercase letters, digits and '-'"]
        );
        assert_eq!(
            diags("+++\nid = \"x\"\nformat = 1\n+++\n## S\n"),
            vec!["t.md:1:1: error: the front matter lacks 'title'"]
        );
        assert_eq!(
            diags("+++\nid = \"x\nformat = 1\n+++\n## S\n")[0]
                .split(": error")
                .next(),
            Some("t.md:2:8")
        );
    }

    #[test]
    fn block_errors_are_located() {
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```check\nadress 10.0.0.1/24 on veth0\n```\n"
            )),
            vec!["t.md:9:1: error: unknown check 'adress', did you mean 'address'?"]
        );
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```check\n  link veth0 is sideways\n```\n"
            )),
            vec!["t.md:9:17: error: unknown link property 'sideways'"]
        );
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```sh\nip link add veth0\n```\n"))[0]
                .split(": error")
                .next(),
            Some("t.md:9:9")
        );
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```sh\nip netns add blue\n")),
            vec!["t.md:8:1: error: this 'sh' block is never closed: end it with a line of 3 '`'"]
        );
        assert_eq!(
            diags(&format!("{HEAD}```check\nnetns blue exists\n```\n## S\n")),
            vec![
                "t.md:6:1: error: a 'check' block before the first '## ' heading belongs to no step"
            ]
        );
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```chek\nnetns blue exists\n```\n")),
            vec!["t.md:8:4: warning: a 'chek' block is only displayed, did you mean 'check'?"]
        );
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```sh\nip netns add a \\\n```\n")),
            vec!["t.md:9:1: error: the last command ends with '\\' but no line follows it"]
        );
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```sh\nip netns add a # [bogus]\n```\n"
            )),
            vec![
                "t.md:9:18: error: unknown command tag '[bogus]' (nslab knows [observe] and [fails])"
            ]
        );
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```question\nHow many?\nanswer: netns total\n```\n"
            )),
            vec![
                "t.md:10:9: error: unknown answer 'netns total' (nslab knows 'netns count', 'netns count held by processes', 'inode of netns root', 'inode of netns NAME')"
            ]
        );
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```question\nHow many?\nexplain:\nanswer: netns count\n```\n"
            )),
            vec!["t.md:10:1: error: an 'explain:' line needs its explanation after the colon"]
        );
        assert_eq!(
            diags(&format!("{HEAD}##\n")),
            vec!["t.md:6:1: error: a step needs a title after '##'"]
        );
    }

    #[test]
    fn a_challenge_hides_its_solution_and_a_setup_its_lab() {
        let text = format!(
            "{HEAD}## Break it\n\n```setup\nip netns add blue\nip -n blue link set lo down\n```\n\nMend blue.\n\n```solution\nip -n blue link set lo up\n```\n\n```check\nlink lo in blue is up\n```\n"
        );
        let (lesson, d) = parse(&Source::new("t.md", text));
        assert!(d.is_empty(), "{d:?}");
        let s = &lesson.unwrap().steps[0];
        assert!(s.challenge);
        assert_eq!(s.commands.len(), 1);
        assert_eq!(s.commands[0].text, "ip -n blue link set lo up");
        assert_eq!(s.setup.len(), 2);
        assert_eq!(s.setup[0].line, 9);
        // Neither the answer nor the breakage is part of the text the student reads.
        let page = crate::render::render(&s.body, 80);
        assert!(!page.contains("link set lo up"), "{page}");
        assert!(!page.contains("ip netns add blue"), "{page}");
        assert!(page.contains("Mend blue."), "{page}");
    }

    #[test]
    fn a_challenge_needs_checks_and_no_shown_commands() {
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```solution\nip netns add blue\n```\n"
            )),
            vec![
                "t.md:8:1: error: a challenge (a solution block) needs a check block: its checks judge the student's own way there"
            ]
        );
        assert_eq!(
            diags(&format!(
                "{HEAD}## S\n\n```sh\nip netns add blue\n```\n\n```solution\nip netns add red\n```\n\n```check\nnetns red exists\n```\n"
            )),
            vec![
                "t.md:12:1: error: a step has an sh block (commands the student sees) or a solution block (a challenge), not both"
            ]
        );
        // A setup line is parsed like any command: its errors are located too.
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```setup\nip link add veth0\n```\n"))[0]
                .split(": error")
                .next(),
            Some("t.md:9:9")
        );
    }

    #[test]
    fn a_question_keeps_its_explanation() {
        let src = Source::new(
            "t.md",
            format!(
                "{HEAD}## S\n\n```question\nHow many\nnamespaces?\nanswer: netns count held by processes\nexplain: lsns lists\nexplain: what processes hold.\n```\n"
            ),
        );
        let (lesson, d) = parse(&src);
        assert!(d.is_empty(), "{d:?}");
        let q = lesson.unwrap().steps[0].question.clone().unwrap();
        assert_eq!(q.prompt, "How many namespaces?");
        assert_eq!(q.answer, Answer::NetnsCountHeld);
        assert_eq!(
            q.explain.as_deref(),
            Some("lsns lists what processes hold.")
        );
    }

    #[test]
    fn an_empty_title_and_control_characters_are_refused() {
        assert_eq!(
            diags("+++\nid = \"x\"\ntitle = \"  \"\nformat = 1\n+++\n## S\n"),
            vec![
                "t.md:3:9: error: the title is empty: it heads the lesson on screen and in nslab list"
            ]
        );
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```sh\nip netns add a\0b\n```\n")),
            vec![
                "t.md:9:15: error: the lesson holds the control character U+0000: a lesson is text (remove it)"
            ]
        );
        let d = diags(&format!("{HEAD}Intro \x1b]0;owned\x07\n## S \x1b[2J\n"));
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].starts_with("t.md:6:7: error: the lesson holds the control character U+001B"),
            "{d:?}"
        );
        // Tabs are text.
        assert!(diags(&format!("{HEAD}## S\n\n\tindented\n")).is_empty());
    }

    #[test]
    fn a_here_document_is_part_of_its_command() {
        let text = format!(
            "{HEAD}## S\n\n```sh\nip -n a -batch - <<'EOF'\nlink set lo up\n# not a comment here\nEOF\nip netns add b\ncat <<-END > /tmp/x\n\tdata\n\tEND\n```\n"
        );
        let (lesson, d) = parse(&Source::new("t.md", text));
        assert!(d.is_empty(), "{d:?}");
        let c = &lesson.unwrap().steps[0].commands;
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "ip -n a -batch - <<'EOF'\nlink set lo up\n# not a comment here\nEOF",
                "ip netns add b",
                "cat <<-END > /tmp/x\n\tdata\n\tEND",
            ]
        );
        assert_eq!((c[0].line, c[1].line, c[2].line), (9, 13, 14));
        // The real shell runs it whole.
        assert!(!c[0].command.is_native());
        assert_eq!(
            diags(&format!("{HEAD}## S\n\n```sh\ncat <<EOF\nno end\n```\n")),
            vec![
                "t.md:9:1: error: the here-document opened here is never closed: end it with a line 'EOF'"
            ]
        );
    }

    #[test]
    fn a_lesson_has_bounded_steps_and_lines() {
        let mut text = HEAD.to_string();
        for i in 0..=MAX_STEPS {
            text.push_str(&format!("## s{i}\n\n```sh\nip netns add n{i}\n```\n\n"));
        }
        let d = diags(&text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains(&format!(
                "a lesson has at most {MAX_STEPS} steps, and this one has {}",
                MAX_STEPS + 1
            )),
            "{d:?}"
        );
        let mut text = format!("{HEAD}## s\n\n```sh\n");
        for i in 0..=MAX_LINES {
            text.push_str(&format!("ip netns add n{i}\n"));
        }
        text.push_str("```\n");
        let d = diags(&text);
        assert_eq!(
            d,
            vec![format!(
                "t.md:1:1: error: a lesson has at most {MAX_LINES} command lines, and this one has {}: split it into several lessons",
                MAX_LINES + 1
            )]
        );
    }

    #[test]
    fn comments_respect_quotes() {
        assert_eq!(
            split_comment("echo '#x' # [observe]"),
            ("echo '#x' ", vec!["observe".to_string()])
        );
        assert_eq!(split_comment("echo a#b").0, "echo a#b");
    }
}
