//! Checks on parsed lessons that need the whole lesson (or all lessons) in view.
//! No root and no kernel: everything here is read from the lessons themselves.

use std::collections::{BTreeMap, BTreeSet};

use super::check::Ref;
use super::{Command, Lesson, Ns, Op};
use crate::diag::Diagnostic;

/// What a lesson's commands bring into being, as far as reading them can tell.
#[derive(Debug, Default)]
pub struct Creations {
    pub netns: BTreeSet<String>,
    /// Links by namespace, including the namespaces a link is moved into.
    pub links: BTreeSet<(Ns, String)>,
}

impl Creations {
    pub fn of(lesson: &Lesson) -> Creations {
        let mut c = Creations::default();
        for cmd in lesson.steps.iter().flat_map(|s| &s.commands) {
            match &cmd.command {
                Command::Native { ns, op } => match op {
                    Op::NetnsAdd(n) => {
                        c.netns.insert(n.clone());
                    }
                    Op::VethAdd {
                        name,
                        peer,
                        peer_ns,
                    } => {
                        c.links.insert((ns.clone(), name.clone()));
                        c.links
                            .insert((peer_ns.clone().unwrap_or_else(|| ns.clone()), peer.clone()));
                    }
                    Op::BridgeAdd(b) => {
                        c.links.insert((ns.clone(), b.clone()));
                    }
                    Op::LinkSetNetns { dev, to } => {
                        c.links.insert((to.clone(), dev.clone()));
                    }
                    _ => {}
                },
                // A shell line that names /run/netns/NAME (a bind mount, `touch`), or that runs
                // `ip netns add NAME` under another program (strace), makes NAME.
                Command::Shell { line, .. } => {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    for w in words.windows(3) {
                        if w[0] == "netns" && w[1] == "add" {
                            c.netns.insert(w[2].to_string());
                        }
                    }
                    for part in line.split_whitespace() {
                        if let Some(name) = part.strip_prefix("/run/netns/") {
                            let name: String = name
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                                .collect();
                            if !name.is_empty() {
                                c.netns.insert(name);
                            }
                        }
                    }
                }
            }
        }
        c
    }

    fn knows_link(&self, ns: &Ns, name: &str) -> bool {
        // Every namespace has its loopback; the root namespace has links nslab cannot know of.
        name == "lo" || ns.is_root() || self.links.contains(&(ns.clone(), name.to_string()))
    }
}

/// Lints a set of lessons: each on its own, and the ids across them.
pub fn lint(lessons: &[Lesson]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut ids: BTreeMap<&str, &Lesson> = BTreeMap::new();
    for lesson in lessons {
        out.extend(lint_one(lesson));
        if let Some(first) = ids.insert(&lesson.id, lesson) {
            let off = lesson.id_offset;
            out.push(lesson.source.error(
                off,
                lesson.id.len() + 2,
                format!(
                    "lesson id '{}' is already used by {}",
                    lesson.id, first.source.name
                ),
            ));
        }
    }
    out
}

fn lint_one(lesson: &Lesson) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let made = Creations::of(lesson);
    let src = &lesson.source;
    for step in &lesson.steps {
        for c in &step.checks {
            for r in &c.refs {
                match r {
                    Ref::Netns { name, offset } if !made.netns.contains(name) => {
                        out.push(src.error(
                            *offset,
                            name.chars().count(),
                            format!("the check names netns '{name}', which no command of this lesson creates"),
                        ));
                    }
                    Ref::Link { name, ns, offset } if !made.knows_link(ns, name) => {
                        out.push(src.error(
                            *offset,
                            name.chars().count(),
                            format!("the check names link '{name}' in {ns}, which no command of this lesson creates or moves there"),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let changes = step.commands.iter().any(|c| !c.observe);
        if changes && step.checks.is_empty() && step.question.is_none() {
            out.push(src.warning(
                step.offset,
                2 + step.title.chars().count() + 1,
                format!(
                    "nothing verifies step {} '{}': add a check block (its commands are not ones nslab can derive checks from)",
                    step.index, step.title
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::lesson::parse::parse;

    fn lint_text(text: &str) -> Vec<String> {
        let (l, d) = parse(&Source::new("t.md", text));
        assert!(d.is_empty(), "{d:?}");
        lint(&[l.unwrap()]).iter().map(|d| d.to_string()).collect()
    }

    const HEAD: &str = "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n";

    #[test]
    fn names_no_command_creates_are_errors() {
        let d = lint_text(&format!(
            "{HEAD}## S\n\n```sh\nip netns add blue\n```\n\n```check\nnetns red exists\nlink veth0 in blue is up\nlink lo in blue is up\nlink eth0 is up\n```\n"
        ));
        assert_eq!(
            d,
            vec![
                "t.md:13:7: error: the check names netns 'red', which no command of this lesson creates",
                "t.md:14:6: error: the check names link 'veth0' in netns blue, which no command of this lesson creates or moves there",
            ]
        );
    }

    #[test]
    fn moved_links_and_bind_mounts_count_as_created() {
        let d = lint_text(&format!(
            "{HEAD}## S\n\n```sh\nip netns add blue\nip link add veth0 type veth peer name veth1\nip link set veth0 netns blue\nmount --bind /proc/1/ns/net /run/netns/keep\n```\n\n```check\nlink veth0 in blue exists\nnetns keep exists\n```\n"
        ));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn unverified_steps_warn() {
        let d = lint_text(&format!(
            "{HEAD}## Filter\n\n```sh\niptables -A FORWARD -j DROP\n```\n\n## Look\n\n```sh\nip -br link\n```\n"
        ));
        assert_eq!(
            d,
            vec![
                "t.md:6:1: warning: nothing verifies step 1 'Filter': add a check block (its commands are not ones nslab can derive checks from)"
            ]
        );
    }

    #[test]
    fn duplicate_ids_are_errors() {
        let a = parse(&Source::new("a.md", format!("{HEAD}## S\n")))
            .0
            .unwrap();
        let b = parse(&Source::new("b.md", format!("{HEAD}## S\n")))
            .0
            .unwrap();
        let d: Vec<String> = lint(&[a, b]).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            vec!["b.md:2:6: error: lesson id 't' is already used by a.md"]
        );
    }
}
