//! Checks on parsed lessons that need the whole lesson (or all lessons) in view.
//! No root and no kernel: everything here is read from the lessons themselves.

use std::collections::BTreeMap;

use super::check::{Check, Ref};
use super::effect::{Creations, Known};
use super::{Lesson, Op};
use crate::diag::Diagnostic;

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
    let mut warned: Vec<String> = Vec::new();
    let known_netns: Vec<&str> = made.netns.iter().map(String::as_str).collect();
    for step in &lesson.steps {
        // A line acting in a namespace no line of the lesson makes (a typo, most often: the
        // line would fail at run time). A warning, once a name: a lesson may act in one the
        // machine already has.
        for c in &step.commands {
            // The namespaces the line acts in, and those it sends links to (`netns NS`).
            let mut names: Vec<String> = Vec::new();
            for p in &c.command.parts {
                if let crate::net::Ns::Named(n) = &p.ns {
                    names.push(n.clone());
                }
                let targets = match &p.op {
                    Op::LinkAdd(add) => vec![
                        &add.attrs.netns,
                        add.peer.as_ref().map_or(&None, |a| &a.netns),
                    ],
                    Op::LinkSet(set) => vec![&set.attrs.netns],
                    _ => vec![],
                };
                for t in targets.into_iter().flatten() {
                    if let Some(crate::net::Ns::Named(n)) = t.ns() {
                        names.push(n);
                    }
                }
            }
            // A namespace called `root`: ip makes it, but a check's `in root` is the root
            // namespace, so no check can speak of it.
            for p in &c.command.parts {
                if let Op::NetnsAdd(n) = &p.op
                    && n == "root"
                    && !warned.iter().any(|w| w == "netns root")
                {
                    warned.push("netns root".into());
                    out.push(src.warning(
                        c.offset,
                        c.text.chars().count(),
                        "a namespace called 'root': checks read 'in root' as the root namespace, so none can speak of this one; give it another name".to_string(),
                    ));
                }
            }
            // `kill %1`: a job of the student's shell. demo and verify run each line in a shell
            // of its own, which has no jobs.
            let words: Vec<&str> = c.text.split_whitespace().collect();
            let job_cmd = words
                .iter()
                .position(|w| matches!(*w, "kill" | "fg" | "bg" | "wait" | "disown"));
            // Its own words only (up to the next `;`, `&&`, `||` or `|`): `%1`, `%%`, `%+`.
            let spec = job_cmd.and_then(|i| {
                words[i + 1..]
                    .iter()
                    .take_while(|w| !matches!(**w, "&&" | "||" | "|" | ";"))
                    .map(|w| w.trim_end_matches(';'))
                    .find(|w| {
                        w.strip_prefix('%').is_some_and(|r| {
                            r.chars().all(|ch| ch.is_ascii_digit()) && !r.is_empty()
                                || matches!(r, "%" | "+" | "-")
                        })
                    })
            });
            if let Some(spec) = spec {
                let at = c.text.find(spec).unwrap_or(0);
                out.push(src.warning(
                    c.offset + at,
                    spec.chars().count(),
                    format!(
                        "{spec} is a job of the student's shell: demo and verify run each line in a shell of its own, which has no job {spec}, so the line fails there. Name the process instead (`pkill -x PROG`, or `kill $(cat PIDFILE)` with the pid saved by `echo $! > PIDFILE`)"
                    ),
                ));
            }
            for name in &names {
                if warned.contains(name) || made.netns(name) != Known::No {
                    continue;
                }
                warned.push(name.clone());
                let at = c
                    .text
                    .match_indices(name.as_str())
                    .map(|(i, _)| i)
                    .find(|&i| {
                        let before = c.text[..i].chars().next_back();
                        let after = c.text[i + name.len()..].chars().next();
                        before.is_none_or(|b| b == ' ' || b == '=')
                            && after.is_none_or(|a| a == ' ')
                    })
                    .unwrap_or(0);
                out.push(src.warning(
                    c.offset + at,
                    name.chars().count(),
                    format!(
                        "this line acts in netns '{name}', which no command of this lesson creates: it fails unless the machine already has it{}",
                        crate::diag::did_you_mean(name, &known_netns)
                    ),
                ));
            }
        }
        for c in &step.checks {
            // A link in a namespace the lesson never makes: the namespace's error says it all.
            let missing: Vec<&str> = c
                .refs
                .iter()
                .filter_map(|r| match r {
                    Ref::Netns { name, .. } if made.netns(name) == Known::No => Some(name.as_str()),
                    _ => None,
                })
                .collect();
            for r in &c.refs {
                if let Ref::Link {
                    ns: crate::net::Ns::Named(n),
                    ..
                } = r
                    && missing.contains(&n.as_str())
                {
                    continue;
                }
                match r {
                    Ref::Netns { name, offset } => match made.netns(name) {
                        Known::Yes => {}
                        Known::Maybe(why) => out.push(src.warning(
                            *offset,
                            name.chars().count(),
                            format!("no line nslab can read creates netns '{name}'; one it cannot read may ({why}): verify will tell"),
                        )),
                        Known::No => out.push(src.error(
                            *offset,
                            name.chars().count(),
                            format!(
                                "the check names netns '{name}', which no command of this lesson creates{}",
                                crate::diag::did_you_mean(name, &known_netns)
                            ),
                        )),
                    },
                    Ref::Link { name, ns, offset } => match made.link(ns, name) {
                        Known::Yes => {}
                        Known::Maybe(why) => out.push(src.warning(
                            *offset,
                            name.chars().count(),
                            format!("no line nslab can read creates link '{name}' in {ns}; one it cannot read may ({why}): verify will tell"),
                        )),
                        Known::No => {
                            let here: Vec<&str> = made
                                .links
                                .iter()
                                .filter(|(n, _)| n == ns)
                                .map(|(_, l)| l.as_str())
                                .collect();
                            out.push(src.error(
                                *offset,
                                name.chars().count(),
                                format!(
                                    "the check names link '{name}' in {ns}, which no command of this lesson creates or moves there{}",
                                    crate::diag::did_you_mean(name, &here)
                                ),
                            ))
                        }
                    },
                }
            }
            if let Check::Shell {
                says: None,
                command,
                ..
            } = &c.check
                && c.origin == super::Origin::Written
            {
                out.push(src.warning(
                    c.offset,
                    command.chars().count().min(40) + 3,
                    "say in words what this check proves, for the student: sh (WHAT IT PROVES): COMMAND",
                ));
            }
            if let Check::Pinged { addr, from, .. } = &c.check {
                let pings = step
                    .commands
                    .iter()
                    .flat_map(|l| &l.command.parts)
                    .any(|p| {
                        matches!(&p.op, Op::Ping(pg) if pg.addr == *addr) && p.ns == *from
                            || matches!(&p.op, Op::Unknown { .. })
                    });
                if !pings {
                    out.push(src.warning(
                        c.offset,
                        1,
                        format!(
                            "the check waits for a ping to {addr} from {}, but no command of this step sends one (verify performs the commands)",
                            from.name()
                        ),
                    ));
                }
            }
        }
        let changes = step.commands.iter().any(|c| !c.observe);
        if changes && step.checks.is_empty() && step.question.is_none() {
            // Lines nslab reads whose net effect is nothing (a route added, then its link taken
            // down) are not lines it cannot read: the warning says which.
            let unread = step
                .commands
                .iter()
                .filter(|c| !c.observe)
                .flat_map(|c| &c.command.parts)
                .any(|p| matches!(p.op, Op::Unknown { .. }));
            // A flush nslab cannot follow to the entry (other filters than the table, the link
            // and the family), or a policy rule, which no check reads.
            let parts = || {
                step.commands
                    .iter()
                    .filter(|c| !c.observe)
                    .flat_map(|c| &c.command.parts)
            };
            let flushes = parts().any(|p| match &p.op {
                Op::RouteFlush(f) => !f.exact,
                Op::NeighFlush(f) => !f.exact,
                _ => false,
            });
            let rules = parts().any(|p| matches!(p.op, Op::Rule(_)));
            let why = if unread {
                "its commands are not ones nslab can derive checks from"
            } else if flushes {
                "what its flushes take, by filters other than the table, the link and the family, nslab cannot say to the entry: write the checks they prove"
            } else if rules {
                "no check reads policy rules: write what they prove, as sh (WHAT IT PROVES): ip route get ADDRESS from SOURCE | grep -q 'via GATEWAY'"
            } else {
                "as nslab reads its commands, they leave nothing changed that a check could see: what they make, they undo"
            };
            out.push(src.warning(
                step.offset,
                2 + step.title.chars().count() + 1,
                format!(
                    "nothing verifies step {} '{}': add a check block ({why})",
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
    fn a_namespace_called_root_is_named() {
        let d = lint_text(
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n## Make\n\n```sh\nip netns add root\n```\n",
        );
        assert!(
            d.iter()
                .any(|l| l.contains("warning: a namespace called 'root'")),
            "{d:?}"
        );
    }

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
    fn a_misspelt_namespace_in_a_check_is_named_once_with_the_likely_one() {
        let d = lint_text(&format!(
            "{HEAD}## S\n\n```sh\nip netns add left\nip -n left link add veth0 type veth peer name veth1\n```\n\n```check\nlink veth0 in lfet is up\nlink veht0 in left is down\n```\n"
        ));
        assert_eq!(
            d,
            vec![
                "t.md:14:15: error: the check names netns 'lfet', which no command of this lesson creates, did you mean 'left'?",
                "t.md:15:6: error: the check names link 'veht0' in netns left, which no command of this lesson creates or moves there, did you mean 'veth0'?",
            ]
        );
    }

    #[test]
    fn a_line_in_a_namespace_no_line_makes_warns_once() {
        let d = lint_text(&format!(
            "{HEAD}## S\n\n```sh\nip netns add right\nip -n rihgt link set lo up\nip netns exec rihgt ip link show\n```\n"
        ));
        assert_eq!(
            d,
            vec![
                "t.md:10:7: warning: this line acts in netns 'rihgt', which no command of this lesson creates: it fails unless the machine already has it, did you mean 'right'?",
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
    fn a_job_spec_warns_and_a_namespace_a_link_is_sent_to_is_known() {
        let w = lint_text(&format!(
            "{HEAD}## Stop\n\n```sh\nip netns add a\nip netns exec a sleep 60 &\nkill %1\n\
             ip link add x0 type veth peer name x1\nip link set x1 netns tyy\n```\n"
        ));
        assert!(
            w.iter()
                .any(|m| m.contains("%1 is a job of the student's shell")),
            "{w:?}"
        );
        assert!(w.iter().any(|m| m.contains("netns 'tyy'")), "{w:?}");
        // A % of another command (printf's format) is no job.
        let w = lint_text(&format!(
            "{HEAD}## Stop\n\n```sh\nip netns add a\nkill -0 1; printf %d 5\n```\n\n```check\nnetns a exists\n```\n"
        ));
        assert!(
            !w.iter().any(|m| m.contains("job of the student's shell")),
            "{w:?}"
        );
    }

    #[test]
    fn unverified_steps_warn() {
        let d = lint_text(&format!(
            "{HEAD}## Filter\n\n```sh\n./firewall.sh\n```\n\n## Look\n\n```sh\nip -br link\n```\n"
        ));
        assert_eq!(
            d,
            vec![
                "t.md:6:1: warning: nothing verifies step 1 'Filter': add a check block (its commands are not ones nslab can derive checks from)"
            ]
        );
    }

    /// A step of a flush nslab cannot follow to the entry, or of policy rules, is told why
    /// nothing verifies it, and what to write (it was told "what they make, they undo":
    /// found by a lesson author).
    #[test]
    fn unverified_flushes_and_rules_are_told_why() {
        let d = lint_text(&format!(
            "{HEAD}## Flush\n\n```sh\nip route flush table 100 proto boot\n```\n\n## Rule\n\n```sh\nip rule add from 10.9.0.2 lookup 100 pref 1000\n```\n"
        ));
        assert!(
            d[0].contains("what its flushes take, by filters other than the table"),
            "{d:?}"
        );
        assert!(d[1].contains("no check reads policy rules"), "{d:?}");
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
