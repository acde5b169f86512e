//! A lesson must leave the root namespace as it found it, so that lessons can be taken in any
//! order on one machine: verify compares the root namespace at the start and at the end of a
//! lesson's run (in its jail, or on the machine with `--no-sandbox`, before the reset) and
//! reports every difference as a lesson defect.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kernel::Kernel;
use crate::lesson::Lesson;
use crate::lesson::effect::Creations;
use crate::net::Ns;

/// What the root namespace holds that a lesson could leave behind, by what it is, with its
/// state: named namespaces, links (kind, up or down, bridge), addresses, routes, IP
/// forwarding and the sysctls the lesson writes, the filter and nat rules.
pub type RootState = BTreeMap<String, String>;

/// The keys that say what could be read (a lesson may unmount /proc, or break iptables): what
/// could not be read at the end is not "gone". They are never reported themselves.
const READ: &str = "~read ";

/// Sysctls every lesson is held to, besides those it writes.
const ALWAYS: &[&str] = &["net.ipv4.ip_forward"];

pub fn root_state(k: &Kernel, lesson: &Lesson) -> Result<RootState, String> {
    let mut s = RootState::new();
    for n in k.netns_list() {
        s.insert(format!("netns {n}"), String::new());
    }
    let snap = k.snapshot(&Ns::Root).map_err(|e| e.to_string())?;
    for l in &snap.links {
        let mut state = format!(
            "{}, {}",
            l.kind.as_deref().unwrap_or("device"),
            if l.up { "up" } else { "down" }
        );
        if let Some(m) = &l.master {
            state.push_str(&format!(", in bridge {m}"));
        }
        s.insert(format!("link {}", l.name), state);
    }
    for a in &snap.addrs {
        s.insert(format!("address {} on {}", a.cidr, a.link), String::new());
    }
    for r in &snap.routes {
        let mut id = r
            .dest
            .map_or_else(|| "default".to_string(), |d| d.to_string());
        if let Some(v) = r.via {
            id.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &r.dev {
            id.push_str(&format!(" dev {d}"));
        }
        s.insert(format!("route {id}"), String::new());
    }
    let mut keys: Vec<String> = ALWAYS.iter().map(|k| k.to_string()).collect();
    for (ns, key) in &Creations::of(lesson).sysctls {
        if ns.is_root() && !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    for key in keys {
        if let Ok(v) = k.sysctl_read(&Ns::Root, &key) {
            s.insert(format!("sysctl {key}"), v);
        }
    }
    // Rules, counted (a lesson run twice must not leave two copies). Without iptables there is
    // nothing to count, at the start as at the end.
    for table in ["filter", "nat"] {
        let Ok(o) = k.shell(
            &Ns::Root,
            &format!("iptables -w -t {table} -S"),
            Duration::from_secs(10),
        ) else {
            continue;
        };
        if !o.success() {
            continue;
        }
        s.insert(format!("{READ}iptables -t {table}"), String::new());
        for line in o.stdout.lines().filter(|l| l.starts_with("-A ")) {
            let key = format!("iptables -t {table} {line}");
            let n: usize = s.get(&key).and_then(|c| c.parse().ok()).unwrap_or(0);
            s.insert(key, (n + 1).to_string());
        }
    }
    Ok(s)
}

/// Every difference, in words: what is new, what is gone, what changed. The addresses and
/// routes of a new link are not named apart: they go with it.
pub fn differences(before: &RootState, after: &RootState) -> Vec<String> {
    let new_links: Vec<&str> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .filter_map(|k| k.strip_prefix("link "))
        .collect();
    let on_new_link = |what: &str| {
        new_links.iter().any(|l| {
            (what.starts_with("address ") && what.ends_with(&format!(" on {l}")))
                || (what.starts_with("route ") && what.ends_with(&format!(" dev {l}")))
        })
    };
    let mut out = Vec::new();
    for (what, now) in after {
        if on_new_link(what) || what.starts_with(READ) {
            continue;
        }
        match before.get(what) {
            None if what.starts_with("iptables ") && now != "1" => {
                out.push(format!("{what} ({now} copies)"))
            }
            None if now.is_empty() || what.starts_with("iptables ") => out.push(what.clone()),
            None => out.push(format!("{what} ({now})")),
            Some(was) if was != now => {
                if what.starts_with("iptables ") {
                    out.push(format!("{what}: {now} copies (before the lesson: {was})"));
                } else {
                    out.push(format!("{what}: {now} (before the lesson: {was})"));
                }
            }
            Some(_) => {}
        }
    }
    // A sysctl that cannot be read at the end, or rules when iptables could not list them, are
    // not gone: nslab cannot tell.
    let readable = |what: &str| {
        if what.starts_with("sysctl ") || what.starts_with(READ) {
            return false;
        }
        match what.strip_prefix("iptables -t ") {
            Some(rest) => {
                let table = rest.split_whitespace().next().unwrap_or("");
                after.contains_key(&format!("{READ}iptables -t {table}"))
            }
            None => true,
        }
    };
    for what in before.keys().filter(|w| !after.contains_key(*w)) {
        if readable(what) {
            out.push(format!("{what}: gone (it was there before the lesson)"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_difference_is_named() {
        let before: RootState = [
            ("link lo", "loopback, up"),
            ("link eth0", "device, up"),
            ("sysctl net.ipv4.ip_forward", "0"),
            ("iptables -t nat -A POSTROUTING -j MASQUERADE", "1"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mut after = before.clone();
        after.insert("netns blue".into(), String::new());
        after.insert("link bridge0".into(), "bridge, up".into());
        after.insert("address 10.1.0.1/24 on bridge0".into(), String::new());
        after.insert("route 10.1.0.0/24 dev bridge0".into(), String::new());
        after.insert("address 10.9.0.1/24 on eth0".into(), String::new());
        after.insert("link eth0".into(), "device, down".into());
        after.insert("sysctl net.ipv4.ip_forward".into(), "1".into());
        after.insert(
            "iptables -t nat -A POSTROUTING -j MASQUERADE".into(),
            "3".into(),
        );
        after.insert("iptables -t filter -A FORWARD -j ACCEPT".into(), "1".into());
        after.remove("link lo");
        // Unreadable at the end: not gone.
        let mut unread = before.clone();
        unread.remove("sysctl net.ipv4.ip_forward");
        unread.remove("iptables -t nat -A POSTROUTING -j MASQUERADE");
        assert!(differences(&before, &unread).is_empty());
        let mut flushed = before.clone();
        flushed.insert("~read iptables -t nat".into(), String::new());
        let mut after_flush = flushed.clone();
        after_flush.remove("iptables -t nat -A POSTROUTING -j MASQUERADE");
        assert_eq!(
            differences(&flushed, &after_flush),
            ["iptables -t nat -A POSTROUTING -j MASQUERADE: gone (it was there before the lesson)"]
        );
        assert_eq!(
            differences(&before, &after),
            [
                "address 10.9.0.1/24 on eth0",
                "iptables -t filter -A FORWARD -j ACCEPT",
                "iptables -t nat -A POSTROUTING -j MASQUERADE: 3 copies (before the lesson: 1)",
                "link bridge0 (bridge, up)",
                "link eth0: device, down (before the lesson: device, up)",
                "netns blue",
                "sysctl net.ipv4.ip_forward: 1 (before the lesson: 0)",
                "link lo: gone (it was there before the lesson)",
            ]
        );
        assert!(differences(&before, &before).is_empty());
    }
}
