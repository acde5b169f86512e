//! `nslab reset`: remove what a lesson's commands create, whoever ran them, and nothing else.
//!
//! The student types the commands in their own shell, so there is no ledger of what they made;
//! the lesson itself says what its commands create. Only names the lesson's commands create are
//! touched: a namespace or link that the lesson does not name survives.

use std::time::Duration;

use crate::kernel::Kernel;
use crate::lesson::effect::{Creations, World};
use crate::lesson::grammar::{Op, Run};
use crate::lesson::{Lesson, Ns};
use crate::progress::LessonProgress;

/// What exists now of what the lesson creates: namespaces, and links in the root namespace.
/// Demo uses it to warn before it starts.
pub fn leftovers(k: &Kernel, lesson: &Lesson) -> Vec<String> {
    let made = Creations::of(lesson);
    let mut found: Vec<String> = made
        .netns
        .iter()
        .filter(|n| k.netns_exists(n))
        .map(|n| format!("netns {n}"))
        .collect();
    let root_links = k.snapshot(&Ns::Root).map(|s| s.links).unwrap_or_default();
    for (ns, name) in &made.links {
        if ns.is_root() && root_links.iter().any(|l| &l.name == name) {
            found.push(format!("link {name}"));
        }
    }
    found
}

/// Removes what the lesson's commands create; returns one line per thing removed or set back.
pub fn reset(k: &Kernel, lesson: &Lesson, progress: Option<&LessonProgress>) -> Vec<String> {
    let made = Creations::of(lesson);
    let mut said = Vec::new();
    // Root-namespace state first, in reverse order, while the links it hangs on still exist.
    let mut world = World::new();
    for step in &lesson.steps {
        world.run_step(step);
    }
    let _ = world;
    let parts: Vec<(&Ns, &Op, &str, bool)> = lesson
        .steps
        .iter()
        .flat_map(|s| &s.commands)
        .flat_map(|c| {
            c.command.parts.iter().map(move |p| {
                (
                    &p.ns,
                    &p.op,
                    c.text.as_str(),
                    matches!(c.command.run, Run::Real { .. }),
                )
            })
        })
        .collect();
    for (ns, op, text, _) in parts.iter().rev() {
        if !ns.is_root() {
            continue;
        }
        match op {
            Op::Route(r) if r.verb != crate::lesson::grammar::ip::RouteVerb::Del => {
                let (_, req) = crate::engine::native::route_change(r);
                let del = crate::kernel::RouteReq {
                    protocol: 0,
                    scope: 255,
                    ..req
                };
                if k.route_change(
                    &Ns::Root,
                    crate::kernel::Change::Del,
                    r.dev.as_deref(),
                    &del,
                )
                .is_ok()
                {
                    said.push(format!(
                        "removed route {}",
                        r.dest
                            .addr
                            .map_or("default".into(), |a| format!("{a}/{}", r.dest.len))
                    ));
                }
            }
            // An address on a link the lesson did not create (lo, eth0): take it off.
            Op::Addr(a) if !made.links.contains(&(Ns::Root, a.dev.clone())) => {
                if let Some(cidr) = a.cidr() {
                    let has = k
                        .snapshot(&Ns::Root)
                        .is_ok_and(|s| s.addrs_of(&a.dev).any(|x| x.cidr == cidr));
                    if has && k.addr_del(&Ns::Root, &a.dev, cidr).is_ok() {
                        said.push(format!("removed {cidr} from {}", a.dev));
                    }
                }
            }
            Op::Sysctl(kv) => {
                for (key, value) in kv {
                    let original = progress.and_then(|p| p.sysctls.get(&format!("root {key}")));
                    match (k.sysctl_read(&Ns::Root, key), original) {
                        (Ok(now), Some(was))
                            if now != *was && k.sysctl_write(&Ns::Root, key, was).is_ok() =>
                        {
                            said.push(format!("set {key} back to {was}"));
                        }
                        (Ok(now), None) if now == *value => {
                            said.push(format!(
                                "left {key} = {now}: its value before the lesson is unknown"
                            ));
                        }
                        _ => {}
                    }
                }
            }
            // `iptables ... -A CHAIN RULE` has an exact inverse: `-D CHAIN RULE`, when `-C` finds it.
            Op::Iptables(_) => {
                if let Some((check, delete)) = iptables_inverse(text)
                    && k.shell(&Ns::Root, &check, Duration::from_secs(10))
                        .is_ok_and(|o| o.success())
                    && k.shell(&Ns::Root, &delete, Duration::from_secs(10))
                        .is_ok_and(|o| o.success())
                {
                    said.push(format!("removed the rule: {text}"));
                }
            }
            _ => {}
        }
    }
    for (ns, name) in made.links.iter().filter(|(ns, _)| ns.is_root()) {
        if k.link(ns, name).is_ok() && k.link_del(ns, name).is_ok() {
            said.push(format!("deleted link {name}"));
        }
    }
    // Deleting a namespace destroys everything in it, veth ends with their peers.
    for name in made.netns.iter().rev() {
        if std::path::Path::new("/run/netns").join(name).exists() && k.netns_del(name).is_ok() {
            said.push(format!("deleted netns {name}"));
        }
    }
    said
}

/// For `iptables [-t T] -A|-I CHAIN RULE...`: the `-C` and `-D` lines for the same rule.
fn iptables_inverse(line: &str) -> Option<(String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&"iptables") {
        return None;
    }
    let at = words.iter().position(|w| *w == "-A" || *w == "--append")?;
    let with = |flag: &str| {
        let mut w = words.clone();
        w[at] = flag;
        w.join(" ")
    };
    Some((with("-C"), with("-D")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn iptables_lines_have_inverses() {
        let (c, d) =
            super::iptables_inverse("iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE")
                .unwrap();
        assert_eq!(
            c,
            "iptables -t nat -C POSTROUTING -s 10.1.0.0/24 -j MASQUERADE"
        );
        assert_eq!(
            d,
            "iptables -t nat -D POSTROUTING -s 10.1.0.0/24 -j MASQUERADE"
        );
        assert!(super::iptables_inverse("iptables -L").is_none());
        assert!(super::iptables_inverse("ip link show").is_none());
    }
}
