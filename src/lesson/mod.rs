//! The lesson model: pure data parsed from Markdown, with a span on everything.
//!
//! Nothing in this module touches the kernel or the terminal. See docs/lesson-format.md.

pub mod builtin;
pub mod check;
pub mod effect;
pub mod grammar;
pub mod lex;
pub mod lint;
pub mod load;
pub mod parse;

use std::fmt;

use crate::diag::Source;
pub use crate::net::{Cidr, Ns};
pub use check::{Check, LinkPred};
pub use grammar::{Command, Op};

/// The lesson format version this nslab reads.
pub const FORMAT_VERSION: u32 = 1;

/// One parsed lesson.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub source: Source,
    pub id: String,
    /// Byte offset of the id's value in the front matter, for diagnostics about it.
    pub id_offset: usize,
    pub title: String,
    pub summary: Option<String>,
    pub minutes: Option<u32>,
    /// The lesson changes the machine itself (a global sysctl, a kernel module): verify's jail
    /// cannot hold it, so it is verified only with `--no-sandbox`.
    pub host_root: bool,
    /// Markdown of the introduction (text before the first step).
    pub intro: String,
    pub steps: Vec<Step>,
}

impl Lesson {
    /// A step number given on the command line (`--step`, `--until`), checked against the lesson:
    /// the message says which numbers it has.
    pub fn step_number(&self, flag: &str, s: usize) -> Result<usize, String> {
        let n = self.steps.len();
        if (1..=n).contains(&s) {
            Ok(s)
        } else {
            Err(format!("{flag} {s}: lesson {} has steps 1 to {n}", self.id))
        }
    }
}

/// One step: a level-2 heading and everything up to the next one.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based.
    pub index: usize,
    pub title: String,
    /// Byte offset of the heading.
    pub offset: usize,
    /// Markdown of the step's body, for rendering (code blocks of commands and checks included).
    pub body: String,
    pub commands: Vec<CommandLine>,
    pub checks: Vec<CheckLine>,
    pub hints: Vec<String>,
    /// A question whose answer nslab computes from the live kernel (learn mode asks it).
    pub question: Option<Question>,
    /// The step has a `check` block (else its checks are derived from its commands).
    pub has_check_block: bool,
    /// A challenge: the step states a goal, and its commands are a `solution` block the
    /// student does not see (learn shows it at the last level of `h`; `d`, demo and verify
    /// perform it). The checks judge the student's own way there.
    pub challenge: bool,
    /// Commands nslab performs, unseen, when the step begins (a `setup` block): a broken lab
    /// for the student to mend, say. Not the student's: never mutated, never shown.
    pub setup: Vec<CommandLine>,
}

impl Step {
    /// A challenge's Markdown up to its solution: what it asks, not how it went.
    pub fn before_solution(&self) -> &str {
        solution_block(&self.body).map_or(&self.body, |r| &self.body[..r.start])
    }

    /// A challenge's words after its solution, without code blocks (its check block): the
    /// debrief, about the ways there. Empty for a step that is no challenge.
    pub fn debrief(&self) -> String {
        use pulldown_cmark::{Event as Md, Parser, Tag};
        let Some(r) = solution_block(&self.body).filter(|_| self.challenge) else {
            return String::new();
        };
        let rest = &self.body[r.end..];
        let mut words = String::new();
        let mut from = 0;
        for (ev, range) in Parser::new_ext(rest, parse::markdown_options()).into_offset_iter() {
            if let Md::Start(Tag::CodeBlock(_)) = ev
                && range.start >= from
            {
                words.push_str(&rest[from..range.start]);
                from = range.end;
            }
        }
        words.push_str(&rest[from..]);
        words
    }

    /// A step whose commands only look (ping, `ip link show`, lsns) changes nothing: its checks
    /// must hold, but they may already hold before it.
    pub fn observes_only(&self) -> bool {
        !self.commands.is_empty() && self.commands.iter().all(|c| c.observe)
    }

    /// The step's last line that changes something, when every line after it is an `ip`
    /// listing (answered from the kernel in verify: it changes nothing, not even a neighbour
    /// entry). The mutant without it (its step without that line) runs through the state that
    /// the whole lesson passes through just before that line, and its listings change nothing,
    /// so `--mutate` judges it there, in the lesson's own run. Not when another line that only
    /// looks comes after it: such a line runs a program, which may leave traces, in a state the
    /// lesson never has.
    /// The step's last acting line, when `--mutate` judges its mutant in the lesson's own run
    /// (see [`Self::last_acting_line`]), and that judgement is what the mutant's own jail would
    /// give. Not for a step
    /// - with a question (its answer is judged after the lines);
    /// - with a shell check: the lesson's run judged the checks of its steps before them as
    ///   well as after, where a mutant's jail only performs the earlier steps, and a shell check
    ///   sees what judging leaves (a file a shell check wrote, a link's packet counters that
    ///   nslab's probes raised);
    /// - that starts a program in the background: when it is ready is a matter of time, and
    ///   the two runs' times differ.
    pub fn judged_without_last(&self) -> Option<&CommandLine> {
        self.judged_where_judging_was_done()
            .then(|| self.last_acting_line())
            .flatten()
    }

    /// Whether the step's verdicts are the same where earlier checks were judged before it
    /// (their probes left neighbour entries and raised packet counters) as in a run that only
    /// performed the earlier steps: not for a step with a question, a shell check or a program
    /// started in the background (see [`Self::judged_without_last`]).
    pub fn judged_where_judging_was_done(&self) -> bool {
        let starts = self.setup.iter().chain(&self.commands).any(|c| {
            c.command
                .parts
                .iter()
                .any(|p| p.background || matches!(p.op, grammar::Op::Start(_)))
        });
        self.question.is_none()
            && !starts
            && !self
                .checks
                .iter()
                .any(|c| matches!(c.check.plain(), Check::Shell { .. }))
    }

    /// Whether the step, judged where an earlier step was caught up in a shared jail of
    /// `--mutate`, looks only at what the jail compared with the lesson's own run (see
    /// `Engine::state_digest`): no check of IPv6, of a MAC address, of a neighbour or a
    /// bridge's forwarding entry (see [`Check::sees_uncompared_state`]), and no line that speaks
    /// IPv6. A line run late may leave a link-local address (or a bridge's MAC) other than the
    /// lesson's, which the comparison leaves out: those of links brought up with a random MAC
    /// differ from run to run.
    pub fn sees_only_compared_state(&self) -> bool {
        !self.checks.iter().any(|c| c.check.sees_uncompared_state())
            && !self
                .setup
                .iter()
                .chain(&self.commands)
                .any(|c| speaks_ipv6(&c.text))
    }

    /// Whether the mutant without the line on source line `line` can be brought, after it was
    /// judged, to the state the step leaves in the lesson as it is, by running that line late
    /// (and then the lines its absence stopped): when it and every line after it that acts is
    /// one nslab performs itself and whose whole effect `--mutate` compares, a namespace made
    /// or a link, address or route changed, or an `ip` listing. A program (one that only looks
    /// included), a sysctl, a neighbour entry, a rule or a firewall rule may depend on the
    /// order of the lines in ways no comparison sees.
    pub fn repairable_without(&self, line: usize) -> bool {
        let compared = |c: &CommandLine| {
            c.command.listing().is_some()
                || matches!(
                    c.command.native(),
                    Some((
                        _,
                        grammar::Op::NetnsAdd(_)
                            | grammar::Op::LinkAdd(_)
                            | grammar::Op::LinkSet(_)
                            | grammar::Op::Addr(_)
                            | grammar::Op::Route(_)
                    ))
                )
        };
        self.commands.iter().any(|c| c.line == line && !c.observe)
            && self
                .commands
                .iter()
                .filter(|c| c.line >= line)
                .all(compared)
    }

    pub fn last_acting_line(&self) -> Option<&CommandLine> {
        let i = self.commands.iter().rposition(|c| !c.observe)?;
        self.commands[i + 1..]
            .iter()
            .all(|c| c.command.listing().is_some())
            .then(|| &self.commands[i])
    }
}

/// Whether a command line uses IPv6: `-6`, `ping6`, `inet6`, or an IPv6 address (with a
/// prefix length, or a zone: `fe80::1%veth0`).
pub fn speaks_ipv6(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        matches!(w, "-6" | "ping6" | "inet6")
            || w.split(['/', '%'])
                .next()
                .is_some_and(|a| a.contains(':') && a.parse::<std::net::Ipv6Addr>().is_ok())
    })
}

/// One command a step asks for, continuation lines joined.
#[derive(Debug, Clone)]
pub struct CommandLine {
    /// The line as the student types it.
    pub text: String,
    pub offset: usize,
    /// 1-based line of the source, for reports.
    pub line: usize,
    pub command: Command,
    /// Observation: running it changes nothing (derived, or marked `# observe`).
    pub observe: bool,
    /// Marked `# [fails]`: the command is meant to fail (a ping that cannot get through yet).
    pub expect_failure: bool,
}

/// Where a check came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in a `check` block.
    Written,
    /// Derived from a command nslab understands, in a step without a `check` block.
    Derived,
}

#[derive(Debug, Clone)]
pub struct CheckLine {
    pub check: Check,
    pub offset: usize,
    pub origin: Origin,
    /// Exempt from the before-rule: marked `# [observe]`, or derived from an observation command.
    pub observe: bool,
    /// The namespaces and links a written check names, with absolute offsets (for lint).
    pub refs: Vec<check::Ref>,
}

/// A question for the student; the answer is the live value of `answer`.
#[derive(Debug, Clone)]
pub struct Question {
    pub prompt: String,
    pub answer: Answer,
    /// Where to look and why, shown after a second wrong answer (the `explain:` line); without
    /// it, learn says what fits the kind of answer.
    pub explain: Option<String>,
    pub offset: usize,
}

/// What nslab computes to know the right answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// How many network namespaces exist (held by a process or a bind mount).
    NetnsCount,
    /// How many network namespaces at least one process is in: what `lsns -t net` lists
    /// (`netns count held by processes`).
    NetnsCountHeld,
    /// The inode number of the root network namespace.
    RootNetnsInode,
    /// The inode number of a named namespace.
    NetnsInode(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::NetnsCount => f.write_str("netns count"),
            Answer::NetnsCountHeld => f.write_str("netns count held by processes"),
            Answer::RootNetnsInode => f.write_str("inode of netns root"),
            Answer::NetnsInode(n) => write!(f, "inode of netns {n}"),
        }
    }
}

/// Where a ```` ```solution ```` block starts and ends in a step's Markdown.
fn solution_block(md: &str) -> Option<std::ops::Range<usize>> {
    use pulldown_cmark::{CodeBlockKind, Event as Md, Parser, Tag};
    Parser::new_ext(md, parse::markdown_options())
        .into_offset_iter()
        .find_map(|(ev, range)| match ev {
            Md::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if info.split_whitespace().next() == Some("solution") =>
            {
                Some(range)
            }
            _ => None,
        })
}
