//! The lexer of command lines: a line of an `sh` block becomes shell words with their spans.
//!
//! It reads the shell's quoting (single and double quotes, backslashes) and its separators
//! (`;`, `&&`, `||`, `&`, `|`) well enough to find the simple commands of a line and their
//! words. It does not run anything and does not expand anything: a word that the shell would
//! expand (`$VAR`, `$(...)`, a glob) is kept as written and marked `dynamic`, so that the
//! grammar can tell that it cannot know its value. Lines whose structure it does not follow
//! (loops, conditionals, subshells, here-documents) are marked opaque.

/// One shell word, unquoted, with where it stands in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word as the shell would pass it, quotes removed (expansions left as written).
    pub text: String,
    /// Byte offset of the word's first character in the line.
    pub start: usize,
    /// Byte offset just past the word.
    pub end: usize,
    /// The shell would expand something in it: its value is not known before it runs.
    pub dynamic: bool,
}

/// How a simple command is joined to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// `;` or the end of the line.
    Then,
    /// `&&`: the next runs only if this one succeeded.
    And,
    /// `||`: the next runs only if this one failed.
    Or,
    /// `&`: this one runs in the background.
    Background,
    /// `|`: this one's output feeds the next.
    Pipe,
}

/// A redirection such as `> /proc/sys/net/ipv4/ip_forward`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `>`, `>>`, `<`, `2>`, `&>`...
    pub op: String,
    pub target: Word,
}

/// One simple command: environment assignments, words, redirections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simple {
    pub assigns: Vec<Word>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// A line, lexed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// The simple commands in order, each with the separator that follows it.
    pub commands: Vec<(Simple, Sep)>,
    /// Shell structure this lexer does not follow (a loop, a conditional, a subshell, a
    /// here-document, an unterminated quote): nothing can be said of what the line does.
    pub opaque: bool,
}

impl Script {
    /// The words of a line that is a single simple command with no shell syntax at all (no
    /// separator, redirection, assignment or expansion): what nslab can carry out without a
    /// shell.
    pub fn plain_words(&self) -> Option<&[Word]> {
        match self.commands.as_slice() {
            [(c, Sep::Then)]
                if !self.opaque
                    && c.assigns.is_empty()
                    && c.redirects.is_empty()
                    && !c.words.is_empty()
                    && c.words.iter().all(|w| !w.dynamic) =>
            {
                Some(&c.words)
            }
            _ => None,
        }
    }
}

/// Words that start shell structure this lexer does not follow.
const KEYWORDS: &[&str] = &[
    "for", "while", "until", "if", "case", "function", "select", "{", "}", "[[", "then", "do",
    "done", "fi", "esac", "elif", "else",
];

/// Lexes one command line.
pub fn lex(line: &str) -> Script {
    let mut s = Lexer {
        line,
        chars: line.char_indices().collect(),
        pos: 0,
        script: Script::default(),
        cur: Simple::default(),
        pending_redirect: None,
    };
    s.run();
    s.script
}

struct Lexer<'a> {
    line: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    script: Script,
    cur: Simple,
    pending_redirect: Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).map(|c| c.1)
    }

    fn offset(&self) -> usize {
        self.chars.get(self.pos).map_or(self.line.len(), |c| c.0)
    }

    fn end_command(&mut self, sep: Sep) {
        if self.pending_redirect.take().is_some() {
            self.script.opaque = true;
        }
        let cmd = std::mem::take(&mut self.cur);
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirects.is_empty() {
            // `a && && b`, a leading `;`: nothing to record (a real shell would complain).
            if sep != Sep::Then {
                self.script.opaque = true;
            }
            return;
        }
        if cmd
            .words
            .first()
            .is_some_and(|w| KEYWORDS.contains(&w.text.as_str()))
        {
            self.script.opaque = true;
        }
        self.script.commands.push((cmd, sep));
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                c if c.is_whitespace() => self.pos += 1,
                '#' => break, // a comment runs to the end of the line
                ';' => {
                    self.pos += 1;
                    if self.peek() == Some(';') {
                        self.script.opaque = true; // `;;` belongs to `case`
                        self.pos += 1;
                    }
                    self.end_command(Sep::Then);
                }
                '&' if self.peek_at(1) == Some('&') => {
                    self.pos += 2;
                    self.end_command(Sep::And);
                }
                '&' if self.peek_at(1) == Some('>') => {
                    self.pos += 2;
                    let op = if self.peek() == Some('>') {
                        self.pos += 1;
                        "&>>"
                    } else {
                        "&>"
                    };
                    self.pending_redirect = Some(op.into());
                }
                '&' => {
                    self.pos += 1;
                    self.end_command(Sep::Background);
                }
                '|' if self.peek_at(1) == Some('|') => {
                    self.pos += 2;
                    self.end_command(Sep::Or);
                }
                '|' => {
                    self.pos += 1;
                    if self.peek() == Some('&') {
                        self.pos += 1;
                    }
                    self.end_command(Sep::Pipe);
                }
                '(' | ')' => {
                    // A subshell or a function definition.
                    self.script.opaque = true;
                    self.pos += 1;
                }
                '<' | '>' => self.redirect(None),
                _ => self.word(),
            }
        }
        self.end_command(Sep::Then);
    }

    fn redirect(&mut self, fd: Option<String>) {
        let mut op = fd.unwrap_or_default();
        while let Some(c @ ('<' | '>' | '&')) = self.peek() {
            op.push(c);
            self.pos += 1;
        }
        if op.ends_with("<<") || op.contains("<<") {
            // A here-document: its body is on the following lines.
            self.script.opaque = true;
        }
        if op.ends_with('&') {
            // `2>&1`: the target is a descriptor, read it as a word and forget it.
            let _ = self.read_word();
            return;
        }
        self.pending_redirect = Some(op);
    }

    fn word(&mut self) {
        // `2>file`: digits right before a redirection are its descriptor.
        let digits = self.chars[self.pos..]
            .iter()
            .take_while(|c| c.1.is_ascii_digit())
            .count();
        if digits > 0 && matches!(self.peek_at(digits), Some('<' | '>')) {
            let fd: String = self.chars[self.pos..self.pos + digits]
                .iter()
                .map(|c| c.1)
                .collect();
            self.pos += digits;
            self.redirect(Some(fd));
            return;
        }
        let Some(w) = self.read_word() else { return };
        if let Some(op) = self.pending_redirect.take() {
            self.cur.redirects.push(Redirect { op, target: w });
            return;
        }
        let is_assign = self.cur.words.is_empty()
            && w.text
                .split_once('=')
                .is_some_and(|(k, _)| is_name(k) && !w.text.starts_with('='));
        if is_assign {
            self.cur.assigns.push(w);
        } else {
            self.cur.words.push(w);
        }
    }

    /// Reads one word up to unquoted whitespace or an operator.
    fn read_word(&mut self) -> Option<Word> {
        let start = self.offset();
        let mut text = String::new();
        let mut dynamic = false;
        let mut any = false;
        while let Some(c) = self.peek() {
            match c {
                c if c.is_whitespace() => break,
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
                '\'' => {
                    any = true;
                    self.pos += 1;
                    let mut closed = false;
                    while let Some(q) = self.peek() {
                        self.pos += 1;
                        if q == '\'' {
                            closed = true;
                            break;
                        }
                        text.push(q);
                    }
                    if !closed {
                        self.script.opaque = true;
                    }
                }
                '"' => {
                    any = true;
                    self.pos += 1;
                    let mut closed = false;
                    while let Some(q) = self.peek() {
                        self.pos += 1;
                        match q {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => {
                                if let Some(n) = self.peek() {
                                    self.pos += 1;
                                    if !matches!(n, '$' | '`' | '"' | '\\' | '\n') {
                                        text.push('\\');
                                    }
                                    text.push(n);
                                }
                            }
                            '$' | '`' => {
                                dynamic = true;
                                text.push(q);
                                if q == '$' && self.peek() == Some('(') {
                                    self.skip_substitution(&mut text);
                                }
                            }
                            _ => text.push(q),
                        }
                    }
                    if !closed {
                        self.script.opaque = true;
                    }
                }
                '\\' => {
                    any = true;
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(n) => {
                            self.pos += 1;
                            text.push(n);
                        }
                        None => self.script.opaque = true,
                    }
                }
                '$' => {
                    any = true;
                    dynamic = true;
                    text.push('$');
                    self.pos += 1;
                    match self.peek() {
                        Some('(') => self.skip_substitution(&mut text),
                        Some('{') => {
                            while let Some(q) = self.peek() {
                                self.pos += 1;
                                text.push(q);
                                if q == '}' {
                                    break;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                '`' => {
                    any = true;
                    dynamic = true;
                    text.push('`');
                    self.pos += 1;
                    let mut closed = false;
                    while let Some(q) = self.peek() {
                        self.pos += 1;
                        text.push(q);
                        if q == '`' {
                            closed = true;
                            break;
                        }
                    }
                    if !closed {
                        self.script.opaque = true;
                    }
                }
                '*' | '?' | '[' => {
                    any = true;
                    dynamic = true;
                    text.push(c);
                    self.pos += 1;
                }
                '~' if !any => {
                    any = true;
                    dynamic = true;
                    text.push(c);
                    self.pos += 1;
                }
                _ => {
                    any = true;
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        let end = self.offset();
        any.then_some(Word {
            text,
            start,
            end,
            dynamic,
        })
    }

    /// After `$`, at `(`: copies a command substitution, nested parentheses and quotes
    /// included, into `text`.
    fn skip_substitution(&mut self, text: &mut String) {
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(q) = self.peek() {
            self.pos += 1;
            text.push(q);
            match (quote, q) {
                (Some(open), c) if c == open => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(q),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
        self.script.opaque = true;
    }
}

/// A shell variable name: letters, digits and `_`, not starting with a digit.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The here-documents a line opens, in order: each delimiter (unquoted), and whether the
/// body's leading tabs are stripped (`<<-`). A here-string (`<<<`) opens none.
pub fn heredocs(line: &str) -> Vec<(String, bool)> {
    lex(line)
        .commands
        .iter()
        .flat_map(|(c, _)| c.redirects.iter())
        .filter_map(|r| {
            let op = r.op.trim_start_matches(|c: char| c.is_ascii_digit());
            if op != "<<" {
                return None;
            }
            match r.target.text.strip_prefix('-') {
                Some(d) => Some((d.to_string(), true)),
                None => Some((r.target.text.clone(), false)),
            }
        })
        .filter(|(d, _)| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        lex(line)
            .plain_words()
            .unwrap_or_else(|| panic!("not plain: {line}"))
            .iter()
            .map(|w| w.text.clone())
            .collect()
    }

    #[test]
    fn plain_lines_split_into_words_with_spans() {
        assert_eq!(words("ip  link set x up"), ["ip", "link", "set", "x", "up"]);
        assert_eq!(
            words("echo 'a b' \"c d\" e\\ f"),
            ["echo", "a b", "c d", "e f"]
        );
        let s = lex("ip -n blue link");
        let w = s.plain_words().unwrap();
        assert_eq!((w[2].start, w[2].end), (6, 10));
        assert_eq!(&"ip -n blue link"[w[2].start..w[2].end], "blue");
        // Quotes and spans: the span covers the quotes.
        let s = lex("bash -c 'ip link set lo up; ip a'");
        let w = s.plain_words().unwrap();
        assert_eq!(w[2].text, "ip link set lo up; ip a");
        assert_eq!((w[2].start, w[2].end), (8, 33));
    }

    #[test]
    fn shell_syntax_is_seen() {
        for line in [
            "ip a | grep inet",
            "ip a > out",
            "A=1 ip a",
            "ip link set $DEV up",
            "ls /proc/*/ns",
            "a && b",
            "sleep 1 &",
        ] {
            assert!(lex(line).plain_words().is_none(), "{line}");
        }
        let s = lex("ip netns add a && ip netns add b || echo no; sleep 9 &");
        let seps: Vec<Sep> = s.commands.iter().map(|c| c.1).collect();
        assert_eq!(seps, [Sep::And, Sep::Or, Sep::Then, Sep::Background]);
        assert!(!s.opaque);
        let s = lex("echo 1 > /proc/sys/net/ipv4/ip_forward");
        assert_eq!(s.commands[0].0.redirects[0].op, ">");
        assert_eq!(
            s.commands[0].0.redirects[0].target.text,
            "/proc/sys/net/ipv4/ip_forward"
        );
        let s = lex("ip a 2>&1 >/dev/null");
        assert_eq!(s.commands[0].0.words.len(), 2);
        assert_eq!(s.commands[0].0.redirects[0].target.text, "/dev/null");
    }

    #[test]
    fn substitutions_stay_in_their_word() {
        let s = lex("mount --bind /proc/$(pgrep -n netns-demo)/ns/net /run/netns/keep");
        let w = &s.commands[0].0.words;
        assert_eq!(w.len(), 4);
        assert!(w[2].dynamic);
        assert_eq!(w[2].text, "/proc/$(pgrep -n netns-demo)/ns/net");
        assert!(!w[3].dynamic);
        assert!(!s.opaque);
    }

    #[test]
    fn structure_it_does_not_follow_is_opaque() {
        for line in [
            "for i in 1 2; do ip netns add n$i; done",
            "(cd /tmp && ls)",
            "cat <<EOF",
            "echo 'unterminated",
            "if true; then ip a; fi",
        ] {
            assert!(lex(line).opaque, "{line}");
        }
        assert!(!lex("ip a # [observe]").opaque);
        assert_eq!(lex("ip a # [observe]").commands[0].0.words.len(), 2);
    }
}
