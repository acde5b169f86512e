//! The near miss the judge cannot see: what an earlier step made is gone (a namespace deleted
//! too early, a link removed). The effect model replays the lesson's steps before this one
//! (their hidden setups included) and this step's own setup, says what they made and which
//! step made each, and the kernel says what is still there.

use std::collections::BTreeMap;

use crate::lesson::effect::World;
use crate::lesson::{Check, Lesson, LinkPred, Ns};

/// Something the check needs that an earlier step made and the kernel no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    /// "namespace red", "veth0 in blue".
    pub what: String,
    /// The step that made it (1-based), and its title.
    pub step: usize,
    pub title: String,
    /// Made by the hidden setup of the step on screen (`step` is that step).
    pub this_setup: bool,
}

impl Gone {
    /// The line learn shows under the check.
    pub fn say(&self) -> String {
        if self.this_setup {
            return format!(
                "{} was there when this step began and is gone now; press f to make it again",
                self.what
            );
        }
        format!(
            "{} was made in step {} ({}) and is gone now; press f to rebuild it",
            self.what, self.step, self.title
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Made {
    Netns(String),
    Link(Ns, String),
}

/// What the steps before `idx` (0-based) leave, with the hidden setup of step `idx`, and the
/// step (1-based) that made each thing.
fn replay(lesson: &Lesson, idx: usize) -> (World, BTreeMap<Made, usize>) {
    let mut world = World::new();
    let mut made = BTreeMap::new();
    for (k, step) in lesson.steps.iter().take(idx + 1).enumerate() {
        let before = world.clone();
        if k < idx {
            world.run_step(step);
        } else {
            // The step on screen: only what it starts from, its setup.
            for p in step.setup.iter().flat_map(|c| &c.command.parts) {
                world.apply(p);
            }
        }
        for n in world.netns.difference(&before.netns) {
            made.insert(Made::Netns(n.clone()), k + 1);
        }
        for key in world.links.keys() {
            if !before.links.contains_key(key) {
                made.insert(Made::Link(key.0.clone(), key.1.clone()), k + 1);
            }
        }
    }
    (world, made)
}

/// For a failing check of step `idx` (0-based): the first thing it needs that an earlier step
/// made and that is missing now. `has_ns` and `has_link` ask the kernel.
pub fn made_earlier(
    lesson: &Lesson,
    idx: usize,
    check: &Check,
    has_ns: &mut dyn FnMut(&str) -> bool,
    has_link: &mut dyn FnMut(&Ns, &str) -> bool,
) -> Option<Gone> {
    if matches!(check, Check::Not(_)) {
        return None;
    }
    let (world, made) = replay(lesson, idx);
    let gone = |key: Made, what: String| {
        let step = *made.get(&key)?;
        Some(Gone {
            what,
            step,
            title: lesson.steps.get(step - 1)?.title.clone(),
            this_setup: step == idx + 1,
        })
    };
    for ns in check.namespaces() {
        if let Ns::Named(n) = ns
            && world.netns.contains(n)
            && !has_ns(n)
        {
            return gone(Made::Netns(n.clone()), format!("namespace {n}"));
        }
    }
    let mut links: Vec<(&Ns, &str)> = Vec::new();
    match check {
        Check::Link { name, ns, pred } if *pred != LinkPred::Absent => {
            links.push((ns, name));
            if let LinkPred::Peer { name: p, ns: pns } = pred {
                links.push((pns, p));
            }
        }
        Check::Addr { dev, ns, .. } => links.push((ns, dev)),
        _ => {}
    }
    for (ns, name) in links {
        if world.links.contains_key(&(ns.clone(), name.to_string())) && !has_link(ns, name) {
            return gone(
                Made::Link(ns.clone(), name.to_string()),
                format!(
                    "{name}{}",
                    match ns {
                        Ns::Root => String::new(),
                        Ns::Named(n) => format!(" in {n}"),
                    }
                ),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veth_lab() -> Lesson {
        let src = crate::lesson::builtin::builtin()
            .into_iter()
            .find(|s| s.name.ends_with("02-veth.md"))
            .unwrap();
        crate::lesson::parse::parse(&src).0.unwrap()
    }

    #[test]
    fn a_namespace_deleted_early_names_the_step_that_made_it() {
        let l = veth_lab();
        // The step that makes red, and a later step whose checks need it.
        let maker = l
            .steps
            .iter()
            .position(|s| s.commands.iter().any(|c| c.text.contains("netns add red")))
            .unwrap();
        let (idx, check) = l
            .steps
            .iter()
            .enumerate()
            .skip(maker + 1)
            .find_map(|(i, s)| {
                s.checks
                    .iter()
                    .find(|c| c.check.namespaces().iter().any(|n| n.name() == "red"))
                    .map(|c| (i, c.check.clone()))
            })
            .unwrap();
        let g = made_earlier(&l, idx, &check, &mut |n| n != "red", &mut |_, _| true).unwrap();
        assert_eq!(g.what, "namespace red");
        assert_eq!(g.step, maker + 1);
        assert_eq!(g.title, l.steps[maker].title);
        // With red there, nothing is gone.
        assert_eq!(
            made_earlier(&l, idx, &check, &mut |_| true, &mut |_, _| true),
            None
        );
        // Nothing earlier made anything for the first step.
        assert_eq!(
            made_earlier(&l, 0, &check, &mut |_| false, &mut |_, _| false),
            None
        );
    }

    #[test]
    fn what_a_hidden_setup_made_is_missed_too() {
        let src = crate::diag::Source::new(
            "t.md",
            "+++\nid = \"t\"\ntitle = \"T\"\nformat = 1\n+++\n\n## Found\n\n```setup\nip netns add cl\nip -n cl link add c0 type veth peer name c1\n```\n\nLook.\n\n```check\nlink c0 in cl exists\n```\n\n## Mend\n\n```solution\nip -n cl link set c0 up\n```\n\n```check\nlink c0 in cl is up\n```\n",
        );
        let l = crate::lesson::parse::parse(&src).0.unwrap();
        // On the step whose setup made it: this step's setup.
        let check = &l.steps[0].checks[0].check;
        let g = made_earlier(&l, 0, check, &mut |n| n != "cl", &mut |_, _| false).unwrap();
        assert_eq!(
            (g.what.as_str(), g.step, g.this_setup),
            ("namespace cl", 1, true)
        );
        assert!(
            g.say().contains("was there when this step began"),
            "{}",
            g.say()
        );
        let g = made_earlier(&l, 0, check, &mut |_| true, &mut |_, _| false).unwrap();
        assert_eq!((g.what.as_str(), g.this_setup), ("c0 in cl", true));
        // On the next step: made by step 1 (its setup).
        let check = &l.steps[1].checks[0].check;
        let g = made_earlier(&l, 1, check, &mut |_| true, &mut |_, _| false).unwrap();
        assert_eq!(
            (g.what.as_str(), g.step, g.this_setup),
            ("c0 in cl", 1, false)
        );
    }
}
