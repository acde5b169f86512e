//! What the student's keys mean: pure, with the instants keys were read, so that it is tested
//! without a terminal.
//!
//! Learn is modal. In command mode a key acts, but only once it is clearly a key: a letter is
//! held for [`HOLD`], and acts if nothing follows it that soon. Several characters in quick
//! succession, a space, a character that is no key, or a line ending in Enter are typing: a
//! command meant for the shell, typed into the lesson's pane by mistake. It is swallowed whole
//! and changes nothing. Answering a question is an input mode, where every key is text (Enter
//! submits, Esc leaves). Keys that skip, perform or reset ask first: a confirmation takes `y`
//! alone, and anything else (a burst of typing above all) declines.

use std::time::{Duration, Instant};

use crate::term::{Key, Stamped};

/// How long a letter waits to be sure it is a key press and not the start of typing. Typists
/// send their next character within about 60 to 150 ms; a line pasted or sent by tmux comes in
/// one read.
pub const HOLD: Duration = Duration::from_millis(150);

/// How long a silence ends a line typed by mistake (it ends at Enter otherwise).
pub const LINE_GAP: Duration = Duration::from_millis(1500);

/// The letters that are keys in command mode.
pub const KEYS: &str = "hdnbtgrfqa?jk";

/// What a confirmation is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reset,
    Perform,
    Skip,
    /// Rebuild the state the earlier steps made, from this step (1-based) on.
    Rebuild(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Command,
    /// Typing the answer to the step's question.
    Answer,
    Confirm(Action),
}

/// What the learn loop is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A key to act on, in command mode (a letter, Enter, a scroll key).
    Key(Key),
    /// A line for the shell was typed into the lesson's pane: nothing happens but a word.
    Typed,
    /// A single character that is no key.
    NotAKey(char),
    /// The answer being typed changed.
    AnswerEdited,
    /// The answer, submitted with Enter.
    Submit(String),
    /// Esc left the answer (what was typed stays).
    LeftAnswer,
    Confirmed(Action),
    Declined(Action),
    Quit,
}

#[derive(Debug)]
pub struct Input {
    pub mode: Mode,
    /// The answer typed so far.
    pub answer: String,
    /// A letter waiting to be sure it is a key.
    held: Option<(char, Instant)>,
    /// A line typed by mistake, being swallowed: when its last character came, how many, and
    /// its first character.
    swallowing: Option<(Instant, usize, char)>,
}

impl Default for Input {
    fn default() -> Self {
        Input::new()
    }
}

impl Input {
    pub fn new() -> Input {
        Input {
            mode: Mode::Command,
            answer: String::new(),
            held: None,
            swallowing: None,
        }
    }

    /// Whether a key is held or a typed line is being swallowed.
    #[cfg(test)]
    pub fn waiting(&self) -> bool {
        self.held.is_some() || self.swallowing.is_some()
    }

    fn confirming(&self) -> bool {
        matches!(self.mode, Mode::Confirm(_))
    }

    /// Asks for a confirmation.
    pub fn confirm(&mut self, a: Action) {
        self.mode = Mode::Confirm(a);
    }

    /// Into the answer field.
    pub fn answer_mode(&mut self) {
        self.mode = Mode::Answer;
        self.held = None;
        self.swallowing = None;
    }

    /// When [`Input::tick`] next has something to do (a held letter acts, a typed line ends),
    /// if anything is waiting on time.
    pub fn next_due(&self) -> Option<Instant> {
        let held = self.held.map(|(_, at)| at + HOLD);
        let line = self.swallowing.map(|(last, _, _)| last + LINE_GAP);
        held.into_iter().chain(line).min()
    }

    /// Time passed with no key: a held letter acts (a q held in an empty answer quits), a
    /// typed line ends.
    pub fn tick(&mut self, now: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        if let Some((c, at)) = self.held
            && now.saturating_duration_since(at) >= HOLD
        {
            self.held = None;
            out.extend(self.act(c));
        }
        if let Some((last, n, first)) = self.swallowing
            && now.saturating_duration_since(last) >= LINE_GAP
        {
            self.swallowing = None;
            if n == 1 {
                out.push(Event::NotAKey(first));
            }
        }
        out
    }

    /// One key, read at `k.at`.
    pub fn feed(&mut self, k: Stamped) -> Vec<Event> {
        if k.key == Key::Quit {
            self.held = None;
            self.swallowing = None;
            return vec![Event::Quit];
        }
        if self.mode == Mode::Answer {
            // A q held in an empty answer that another key follows this soon was text.
            let mut out = Vec::new();
            if let Some((c, at)) = self.held.take() {
                if k.at.saturating_duration_since(at) < HOLD {
                    self.answer.push(c);
                } else {
                    out.extend(self.act(c));
                }
            }
            // A lone q in an empty answer quits, as it does among the keys; an answer that
            // starts with q is typed on at once.
            if k.key == Key::Char('q') && self.answer.is_empty() && out.is_empty() {
                self.held = Some(('q', k.at));
                return out;
            }
            out.extend(self.answer_key(k.key));
            return out;
        }
        let mut out = Vec::new();
        // A held letter that another character follows this soon was the start of typing.
        if let Some((c, at)) = self.held {
            let soon = k.at.saturating_duration_since(at) < HOLD;
            match k.key {
                Key::Char(_) | Key::Enter if soon => {
                    self.held = None;
                    self.start_line(k.at, 2, c, &mut out);
                    if k.key == Key::Enter {
                        self.swallowing = None;
                    }
                    return out;
                }
                _ => {
                    self.held = None;
                    out.extend(self.act(c));
                }
            }
        }
        if let Some((_, n, first)) = self.swallowing {
            match k.key {
                Key::Char(_) | Key::Backspace => {
                    self.swallowing = Some((k.at, n + 1, first));
                    if n == 1 {
                        out.push(Event::Typed);
                    }
                    return out;
                }
                Key::Enter => {
                    // The end of the line; a lone character and Enter is a line too.
                    self.swallowing = None;
                    if n == 1 {
                        out.push(Event::Typed);
                    }
                    return out;
                }
                _ => self.swallowing = None,
            }
        }
        match k.key {
            Key::Char(c)
                if c == ' ' || !(KEYS.contains(c) || self.confirming() && "yY".contains(c)) =>
            {
                self.swallowing = Some((k.at, 1, c));
                if let Mode::Confirm(a) = self.mode {
                    self.mode = Mode::Command;
                    out.push(Event::Declined(a));
                }
            }
            Key::Char(c) => self.held = Some((c, k.at)),
            Key::Esc | Key::Enter if matches!(self.mode, Mode::Confirm(_)) => {
                if let Mode::Confirm(a) = self.mode {
                    self.mode = Mode::Command;
                    out.push(Event::Declined(a));
                }
            }
            other => out.push(Event::Key(other)),
        }
        out
    }

    fn start_line(&mut self, at: Instant, n: usize, first: char, out: &mut Vec<Event>) {
        self.swallowing = Some((at, n, first));
        if let Mode::Confirm(a) = self.mode {
            self.mode = Mode::Command;
            out.push(Event::Declined(a));
        }
        out.push(Event::Typed);
    }

    /// A letter, sure to be a key press.
    fn act(&mut self, c: char) -> Vec<Event> {
        match self.mode {
            Mode::Confirm(a) => {
                self.mode = Mode::Command;
                if c == 'y' || c == 'Y' {
                    vec![Event::Confirmed(a)]
                } else {
                    vec![Event::Declined(a)]
                }
            }
            _ => vec![Event::Key(Key::Char(c))],
        }
    }

    fn answer_key(&mut self, key: Key) -> Vec<Event> {
        match key {
            Key::Char(c) => {
                // An answer is one line of text; nothing typed into it is a key.
                if self.answer.chars().count() < 200 {
                    self.answer.push(c);
                }
                vec![Event::AnswerEdited]
            }
            Key::Backspace => {
                self.answer.pop();
                vec![Event::AnswerEdited]
            }
            Key::Enter => {
                let a = std::mem::take(&mut self.answer);
                vec![Event::Submit(a)]
            }
            Key::Esc => {
                self.mode = Mode::Command;
                vec![Event::LeftAnswer]
            }
            other => vec![Event::Key(other)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// Feeds a string whose characters come `gap` ms apart (0: one read), then lets time pass.
    fn typed(i: &mut Input, t0: Instant, text: &str, gap: u64) -> Vec<Event> {
        let mut out = Vec::new();
        let mut t = 0;
        for c in text.chars() {
            let key = match c {
                '\n' => Key::Enter,
                c => Key::Char(c),
            };
            out.extend(i.tick(at(t0, t)));
            out.extend(i.feed(Stamped { key, at: at(t0, t) }));
            t += gap;
        }
        out.extend(i.tick(at(t0, t + 5000)));
        out
    }

    #[test]
    fn time_is_due_only_while_a_key_is_held_or_a_line_swallowed() {
        let t0 = Instant::now();
        let mut i = Input::new();
        assert_eq!(i.next_due(), None, "nothing waits on time");
        i.answer_mode();
        i.feed(Stamped {
            key: Key::Char('q'),
            at: t0,
        });
        assert_eq!(i.next_due(), Some(t0 + HOLD), "a q held in an empty answer");
        let ev = i.tick(t0 + HOLD);
        assert_eq!(
            ev,
            vec![Event::Key(Key::Char('q'))],
            "the held q acts when due"
        );
        assert_eq!(i.next_due(), None, "the held key acted");
    }

    #[test]
    fn a_key_alone_acts_after_the_hold() {
        let t0 = Instant::now();
        let mut i = Input::new();
        assert!(
            i.feed(Stamped {
                key: Key::Char('h'),
                at: t0
            })
            .is_empty()
        );
        assert!(i.tick(at(t0, 100)).is_empty());
        assert_eq!(i.tick(at(t0, 150)), [Event::Key(Key::Char('h'))]);
        // Two keys pressed as people press keys.
        assert_eq!(
            typed(&mut i, t0, "hh", 400),
            [Event::Key(Key::Char('h')), Event::Key(Key::Char('h'))]
        );
        // Enter and the scroll keys act at once.
        assert_eq!(
            i.feed(Stamped {
                key: Key::Enter,
                at: t0
            }),
            [Event::Key(Key::Enter)]
        );
    }

    #[test]
    fn a_shell_line_changes_nothing() {
        let t0 = Instant::now();
        for line in [
            "clear; sudo nslab learn bridges\n",
            "ip netns add blue\n",
            "net:[4026532249]",
            "nt\n",
            "d\n",
        ] {
            for gap in [0, 40, 90] {
                let mut i = Input::new();
                let ev = typed(&mut i, t0, line, gap);
                assert_eq!(ev, [Event::Typed], "{line:?} {gap} ms apart");
                assert!(!i.waiting());
            }
        }
        // Typed slowly, a line that starts with no key is still swallowed whole.
        let mut i = Input::new();
        assert_eq!(
            typed(&mut i, t0, "ip netns add blue\n", 300),
            [Event::Typed]
        );
        // A single character that is no key.
        let mut i = Input::new();
        assert_eq!(typed(&mut i, t0, "x", 0), [Event::NotAKey('x')]);
    }

    #[test]
    fn confirmations_take_y_alone() {
        let t0 = Instant::now();
        let mut i = Input::new();
        i.confirm(Action::Skip);
        assert_eq!(typed(&mut i, t0, "y", 0), [Event::Confirmed(Action::Skip)]);
        assert_eq!(i.mode, Mode::Command);
        i.confirm(Action::Reset);
        assert_eq!(typed(&mut i, t0, "n", 0), [Event::Declined(Action::Reset)]);
        i.confirm(Action::Reset);
        assert_eq!(typed(&mut i, t0, "\n", 0), [Event::Declined(Action::Reset)]);
        // "yes" typed at once is typing, not a y.
        i.confirm(Action::Perform);
        assert_eq!(
            typed(&mut i, t0, "yes\n", 0),
            [Event::Declined(Action::Perform), Event::Typed]
        );
        // A slow typist: the next word declines and is swallowed.
        i.confirm(Action::Skip);
        assert_eq!(
            typed(&mut i, t0, "e", 0),
            [Event::Declined(Action::Skip), Event::NotAKey('e')]
        );
    }

    #[test]
    fn an_answer_is_text() {
        let t0 = Instant::now();
        let mut i = Input::new();
        i.answer_mode();
        let ev = typed(&mut i, t0, "net:[4026532249] trn\n", 0);
        assert_eq!(
            ev.last(),
            Some(&Event::Submit("net:[4026532249] trn".into()))
        );
        assert!(ev[..ev.len() - 1].iter().all(|e| *e == Event::AnswerEdited));
        assert_eq!(i.mode, Mode::Answer);
        assert_eq!(
            i.feed(Stamped {
                key: Key::Esc,
                at: t0
            }),
            [Event::LeftAnswer]
        );
        assert_eq!(i.mode, Mode::Command);
    }

    /// In the answer field, a q alone in an empty answer quits; typed on, it is text.
    #[test]
    fn a_lone_q_in_an_empty_answer_quits() {
        let t0 = Instant::now();
        let mut i = Input::new();
        i.answer_mode();
        assert_eq!(typed(&mut i, t0, "q", 0), [Event::Key(Key::Char('q'))]);
        let mut i = Input::new();
        i.answer_mode();
        let ev = typed(&mut i, t0, "q7\n", 40);
        assert_eq!(ev.last(), Some(&Event::Submit("q7".into())));
        // After other text, q is a letter.
        let mut i = Input::new();
        i.answer_mode();
        let ev = typed(&mut i, t0, "3q", 400);
        assert!(ev.iter().all(|e| *e == Event::AnswerEdited), "{ev:?}");
        assert_eq!(i.answer, "3q");
    }
}
