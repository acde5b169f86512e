//! Gone ahead by more than one step: the student made, while an earlier step was on screen,
//! what this step makes and what the next step does with it (`ip link add veth0 netns blue type
//! veth peer name veth1 netns red` while the namespaces step was shown: the pair step and the
//! move step at once). The next step's checks then hold from the moment this step is shown.
//!
//! That alone proves nothing: a step that deletes what this one makes holds before this one
//! does, and so does a step that brings back what this one changes (`up` after a `down`). What
//! tells them apart is the lesson's own order: the effect model replays the steps before this
//! one, and a check of the next step that cannot hold in the lab they leave (veth0 in blue,
//! before any pair was made) holds now only because the lab went past this step.

use crate::lesson::effect::World;
use crate::lesson::{Check, Lesson, LinkPred, Step};

/// The lab as the lesson's own lines leave it when step `idx` (0-based) begins: the steps
/// before it, and its hidden setup.
pub fn lab_before(lesson: &Lesson, idx: usize) -> World {
    let mut world = World::new();
    for step in lesson.steps.iter().take(idx) {
        world.run_step(step);
    }
    if let Some(step) = lesson.steps.get(idx) {
        for p in step.setup.iter().flat_map(|c| &c.command.parts) {
            world.apply(p);
        }
    }
    world
}

/// The checks of `next` that want something there (a namespace, a link in a named namespace)
/// that `before` certainly lacks: they hold only in a lab that went past the step `before` is
/// the start of. A check about absence is never one (a deletion holds before anything was
/// made), nor one the model cannot judge for certain (a link of the root namespace, which has
/// the machine's own; a name a line nslab cannot read may have touched).
pub fn beyond<'s>(next: &'s Step, before: &World) -> Vec<&'s Check> {
    next.checks
        .iter()
        .map(|c| &c.check)
        .filter(|c| certainly_false(c, before))
        .collect()
}

fn certainly_false(c: &Check, w: &World) -> bool {
    match c {
        Check::Netns { name, exists: true } => {
            !w.netns.contains(name) && !w.unknowns.iter().any(|u| u.could_touch(None, name))
        }
        Check::Link { name, ns, pred } => {
            if ns.is_root()
                || *pred == LinkPred::Absent
                || w.unknowns.iter().any(|u| u.could_touch(Some(ns), name))
            {
                return false;
            }
            let Some(l) = w.links.get(&(ns.clone(), name.clone())) else {
                // Every other predicate wants the link there.
                return true;
            };
            match pred {
                LinkPred::Peer { name: p, ns: pns } => {
                    l.peer.as_ref() != Some(&(pns.clone(), p.clone()))
                        && !w.unknowns.iter().any(|u| u.could_touch(Some(pns), p))
                }
                LinkPred::Up => !l.up,
                LinkPred::Down => l.up,
                LinkPred::Kind(k) => l.kind != *k,
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veth() -> Lesson {
        let src = crate::lesson::builtin::builtin()
            .into_iter()
            .find(|s| s.name.ends_with("02-veth.md"))
            .unwrap();
        crate::lesson::parse::parse(&src).0.unwrap()
    }

    fn step(l: &Lesson, title: &str) -> usize {
        l.steps.iter().position(|s| s.title == title).unwrap()
    }

    /// The move step, seen from the pair step: its ends in blue and red cannot be there before
    /// a pair was made. The pair step seen from the namespaces step: a pair in the root
    /// namespace is the machine's business, not certain.
    #[test]
    fn a_moved_pair_is_beyond_the_step_that_makes_it() {
        let l = veth();
        let pair = step(&l, "Create a veth pair");
        let b = beyond(&l.steps[pair + 1], &lab_before(&l, pair));
        let said: Vec<String> = b.iter().map(|c| c.to_string()).collect();
        assert!(
            said.iter()
                .any(|c| c.contains("veth0 in blue peer veth1 in red")),
            "{said:?}"
        );
        assert!(!said.iter().any(|c| c.contains("absent")), "{said:?}");
        assert!(beyond(&l.steps[pair], &lab_before(&l, pair - 1)).is_empty());
    }

    fn lesson(text: &str) -> Lesson {
        crate::lesson::parse::parse(&crate::diag::Source::new("t.md", text))
            .0
            .unwrap()
    }

    /// A step that deletes what the one before it makes holds before that one ever ran:
    /// nothing of it is beyond.
    #[test]
    fn a_deletion_is_never_beyond() {
        let l = lesson(
            "+++\nid = \"del\"\ntitle = \"Del\"\nformat = 1\n+++\n\n\
            ## Where\n\n```sh\nip netns add t\n```\n\n\
            ## Make\n\n```sh\nip -n t link add d0 type dummy\n```\n\n```check\nlink d0 in t exists\n```\n\n\
            ## Away\n\n```sh\nip -n t link del d0\n```\n\n```check\nlink d0 in t absent\n```\n",
        );
        let b = beyond(&l.steps[2], &lab_before(&l, 1));
        assert!(b.is_empty(), "{b:?}");
    }

    /// Up again after a down: the lab before the down step had it up, so the up step is not
    /// beyond the down step.
    #[test]
    fn a_state_brought_back_is_not_beyond() {
        let text = "+++\nid = \"toggle\"\ntitle = \"Toggle\"\nformat = 1\n+++\n\n\
            ## Make\n\n```sh\nip netns add t\nip -n t link add d0 type dummy\nip -n t link set d0 up\n```\n\n\
            ## Down\n\n```sh\nip -n t link set d0 down\n```\n\n```check\nlink d0 in t is down\n```\n\n\
            ## Up again\n\n```sh\nip -n t link set d0 up\n```\n\n```check\nlink d0 in t is up\n```\n";
        let l = lesson(text);
        assert!(beyond(&l.steps[2], &lab_before(&l, 1)).is_empty());
        // Seen from the first step, before d0 was made, it is.
        assert!(!beyond(&l.steps[2], &lab_before(&l, 0)).is_empty());
    }
}
