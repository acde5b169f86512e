//! What the machine holds now of the things a lesson may make: the same look serves the
//! baseline (before the lesson's first command) and reset (what is there now).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::file::{FileId, IpRuleItem, Makes, NsSeen, RouteItem, RuleItem, Seen};
use crate::kernel::{Kernel, Route, Rule};
use crate::net::Ns;

/// How long one `iptables -S` may take.
const RULES_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks at every namespace the lesson's things live in (those that exist), and at its files.
/// A namespace that exists but cannot be read is an error: a baseline that says "not there"
/// for something that was would let reset remove it.
pub fn look(k: &Kernel, makes: &Makes) -> Result<Seen, String> {
    let mut seen = Seen::default();
    for name in makes.namespaces() {
        let ns = Ns::from_name(&name);
        if let Ns::Named(n) = &ns
            && !k.netns_exists(n)
        {
            continue;
        }
        let inode = k
            .netns_inode(&ns)
            .ok_or_else(|| format!("{ns}: cannot read its inode"))?;
        let snap = k.snapshot(&ns).map_err(|e| format!("{ns}: {e}"))?;
        let mut here = NsSeen {
            inode,
            stamp: match &ns {
                // (The stamp of the inode looked at, not of one made in between.)
                Ns::Named(n) => Kernel::netns_identity(n)
                    .filter(|(ino, _)| *ino == inode)
                    .map(|(_, stamp)| stamp),
                Ns::Root => None,
            },
            ..NsSeen::default()
        };
        for l in makes.links.iter().filter(|l| l.ns == name) {
            if let Some(link) = snap.link(&l.name) {
                here.links.insert(l.name.clone(), link.index);
            }
        }
        for a in makes.addrs.iter().filter(|a| a.ns == name) {
            if snap.addrs_of(&a.dev).any(|x| x.cidr == a.cidr) {
                here.addrs.insert(a.id());
            }
        }
        let routes: Vec<&RouteItem> = makes.routes.iter().filter(|r| r.ns == name).collect();
        // The snapshot holds the IPv4 routes of every table; IPv6 ones are a dump apart.
        let v6 = if routes.iter().any(|r| r.is_v6()) {
            k.routes6(&snap).ok()
        } else {
            Some(Vec::new())
        };
        for r in routes {
            let here_now = if r.is_v6() {
                v6.as_deref()
            } else {
                Some(&snap.routes[..])
            };
            match here_now {
                Some(all) if all.iter().any(|x| route_is(x, r)) => {
                    here.routes.insert(r.id());
                }
                Some(_) => {}
                None => {
                    here.unreadable.insert(r.id());
                }
            }
        }
        // In the root namespace, also the sysctls the lesson sets elsewhere: a student's
        // command typed in the wrong place changes root's (reset names it, and leaves it).
        let keys: std::collections::BTreeSet<&String> = makes
            .sysctls
            .iter()
            .filter(|s| s.ns == name || ns.is_root())
            .map(|s| &s.name)
            .collect();
        for key in keys {
            let s = crate::engine::ledger::file::InNs {
                ns: name.clone(),
                name: key.clone(),
            };
            match k.sysctl_read(&ns, &s.name) {
                Ok(v) => {
                    here.sysctls.insert(s.name.clone(), v);
                }
                Err(_) => {
                    here.unreadable.insert(s.name.clone());
                }
            }
        }
        let ip_rules: Vec<&IpRuleItem> = makes.ip_rules.iter().filter(|r| r.ns == name).collect();
        if !ip_rules.is_empty() {
            match k.rules(&ns) {
                Ok(all) => here.ip_rules.extend(
                    all.iter()
                        .filter(|r| ip_rules.iter().any(|i| ip_rule_is(r, i)))
                        .map(Rule::to_string),
                ),
                Err(_) => here.unreadable.extend(ip_rules.iter().map(|i| i.id())),
            }
        }
        let rules: Vec<&RuleItem> = makes.rules.iter().filter(|r| r.ns == name).collect();
        for (id, count) in count_rules(k, &ns, &rules) {
            match count {
                Some(n) => here.rules.insert(id, n),
                None => {
                    here.unreadable.insert(id);
                    None
                }
            };
        }
        seen.netns.insert(name, here);
    }
    // A name of the lesson's in /run/netns left without a namespace (a demo stopped between
    // `touch /run/netns/keep` and its mount): an empty file, which `ip netns` lists as broken.
    for name in &makes.netns {
        // (A name with a `/` is none ip gives: never a path out of /run/netns.)
        if name.contains('/') || name == ".." || name == "." {
            continue;
        }
        let path = Kernel::netns_path(name);
        if Kernel::netns_identity(name).is_none()
            && let Ok(m) = std::fs::symlink_metadata(&path)
            && m.file_type().is_file()
            && m.len() == 0
        {
            seen.files.insert(
                path.to_string_lossy().into_owned(),
                FileId {
                    dev: m.dev(),
                    ino: m.ino(),
                    regular: true,
                    born: super::file::born(&m),
                },
            );
        }
    }
    for path in &makes.files {
        if let Some(id) = FileId::of(path) {
            seen.files.insert(path.clone(), id);
        }
    }
    Ok(seen)
}

/// The lesson's programs that run now: started by `uid` at or after `ticks` (clock ticks since
/// boot), by name, with their pid. nslab itself is never one of them, nor, for a program the
/// lesson starts only inside a namespace of its own, one in the root namespace (someone's
/// `python3`, while the lesson's serves in c1).
pub fn processes(k: &Kernel, makes: &Makes, uid: u32, ticks: u64) -> Vec<(String, u32)> {
    let me = std::process::id();
    let root = crate::kernel::procs::netns_inode_of_pid(me);
    let mut out = Vec::new();
    for name in &makes.procs {
        let outside_only = makes.procs_outside_root.contains(name);
        let paths = makes.proc_paths.get(name);
        for (pid, inode) in k.processes_named(name, uid, ticks) {
            if pid != me
                && !(outside_only && Some(inode) == root)
                && paths.is_none_or(|p| runs_one_of(pid, p))
            {
                out.push((name.clone(), pid));
            }
        }
    }
    out
}

/// Whether process `pid` runs one of `paths` (its program file, deleted since or not: the
/// lesson's clean-up may have removed it).
fn runs_one_of(pid: u32, paths: &BTreeSet<String>) -> bool {
    let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let exe = exe.to_string_lossy();
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
    paths.iter().any(|p| p == exe)
}

/// Whether a route of the kernel's is the lesson's: every field the lesson gave matches.
pub fn route_is(r: &Route, item: &RouteItem) -> bool {
    r.dest == item.dest
        && r.kind == item.kind
        && r.table == item.table
        && item.via.is_none_or(|v| r.via == Some(v))
        && item.dev.as_ref().is_none_or(|d| r.dev.as_ref() == Some(d))
        && item.metric.is_none_or(|m| r.metric.unwrap_or(0) == m)
}

/// Whether a policy rule of the kernel's is the one a lesson's line adds: the same in every
/// field (a rule with a selector the line did not give is someone else's), with the
/// preference the line gave, or any when it gave none (the kernel chose one).
pub fn ip_rule_is(r: &Rule, item: &IpRuleItem) -> bool {
    r.v6 == item.v6
        && r.not == item.not
        && r.from == item.from
        && r.to == item.to
        && r.tos == 0
        && r.fwmark == item.fwmark
        && r.fwmask == item.fwmask
        && r.iif == item.iif
        && r.oif == item.oif
        && r.action == item.action
        && r.table == item.table
        && r.goto == item.goto
        && r.other.is_empty()
        && item.pref.is_none_or(|p| r.pref == p)
}

/// A word as the shell reads it back unchanged.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%!".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `iptables -t TABLE -C|-D CHAIN RULE...` for a rule, quoted for /bin/sh.
pub fn rule_line(r: &RuleItem, action: &str) -> String {
    let mut line = format!(
        "{} -w -t {} {action} {}",
        quote(&r.program),
        quote(&r.table),
        quote(&r.chain)
    );
    for w in &r.rule {
        line.push(' ');
        line.push_str(&quote(w));
    }
    line
}

/// How many copies of each rule a namespace holds: the lines of `iptables -S CHAIN` that are
/// the rule's words (iptables prints a rule as it was given, in the usual cases); when none is
/// but `iptables -C` finds the rule (written in another form), one. `None`: iptables could not
/// say.
fn count_rules(k: &Kernel, ns: &Ns, rules: &[&RuleItem]) -> BTreeMap<String, Option<usize>> {
    let mut out = BTreeMap::new();
    let mut listed: BTreeMap<(String, String, String), Option<Vec<String>>> = BTreeMap::new();
    for r in rules {
        let key = (r.program.clone(), r.table.clone(), r.chain.clone());
        let lines = listed.entry(key).or_insert_with(|| {
            let line = format!(
                "{} -w -t {} -S {}",
                quote(&r.program),
                quote(&r.table),
                quote(&r.chain)
            );
            match k.shell(ns, &line, RULES_TIMEOUT) {
                Ok(o) if o.success() => Some(o.stdout.lines().map(str::to_string).collect()),
                _ => None,
            }
        });
        let count = lines.as_ref().map(|lines| {
            let want = format!("-A {} {}", r.chain, r.rule.join(" "));
            let n = lines.iter().filter(|l| l.trim() == want).count();
            if n == 0
                && k.shell(ns, &rule_line(r, "-C"), RULES_TIMEOUT)
                    .is_ok_and(|o| o.success())
            {
                1
            } else {
                n
            }
        });
        out.insert(r.id(), count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::file::IpRuleItem;
    use crate::kernel::rules::action;

    #[test]
    fn a_policy_rule_is_the_lessons_when_every_field_its_line_gave_matches() {
        let item = IpRuleItem {
            ns: "root".into(),
            v6: false,
            not: false,
            from: Some("10.99.0.0/24".parse().unwrap()),
            to: None,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            action: action::TO_TABLE,
            table: 100,
            goto: None,
            pref: None,
        };
        let kernel = crate::kernel::Rule {
            v6: false,
            pref: 32764,
            not: false,
            from: item.from,
            to: None,
            tos: 0,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            action: action::TO_TABLE,
            table: 100,
            goto: None,
            other: vec![],
        };
        // No preference given: the kernel's choice is the lesson's.
        assert!(super::ip_rule_is(&kernel, &item));
        assert_eq!(item.id(), "from 10.99.0.0/24 lookup 100");
        // A preference given must be the rule's.
        let at_10 = IpRuleItem {
            pref: Some(10),
            ..item.clone()
        };
        assert!(!super::ip_rule_is(&kernel, &at_10));
        assert_eq!(at_10.id(), "from 10.99.0.0/24 lookup 100 pref 10");
        // A rule with a selector the line did not give, or of the other family, is not it.
        for other in [
            crate::kernel::Rule {
                iif: Some("eth0".into()),
                ..kernel.clone()
            },
            crate::kernel::Rule {
                v6: true,
                ..kernel.clone()
            },
            crate::kernel::Rule {
                table: 101,
                ..kernel.clone()
            },
            crate::kernel::Rule {
                other: vec!["ipproto 6".into()],
                ..kernel.clone()
            },
        ] {
            assert!(!super::ip_rule_is(&other, &item), "{other}");
        }
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(super::quote("10.1.0.0/24"), "10.1.0.0/24");
        assert_eq!(super::quote("!"), "!");
        assert_eq!(super::quote("a b"), "'a b'");
        assert_eq!(super::quote("it's"), r"'it'\''s'");
        assert_eq!(super::quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(super::quote(""), "''");
    }
}
