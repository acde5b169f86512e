//! A lesson must leave the root namespace as it found it, so that lessons can be taken in any
//! order on one machine: verify compares the root namespace at the start and at the end of a
//! lesson's run (in its jail, or on the machine with `--no-sandbox`, before the reset) and
//! reports every difference as a lesson defect, in the words of the program that makes it.
//!
//! The picture is read over netlink where nslab reads the kernel itself (links, addresses,
//! routes of every table and both families, policy rules, neighbour entries), from /proc for
//! sysctls, and from the programs that are the reference for the firewall (`iptables-save`,
//! `ip6tables-save`, `nft`), all of them in one shell line.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::kernel::{Kernel, Route};
use crate::lesson::Lesson;
use crate::lesson::effect::Creations;
use crate::net::{Ns, rtn, table};

/// Between a link's kind and state and the details said only when they changed.
const DETAILS: &str = "; ";

/// How a thing's state is compared and said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// There or not (`netns blue`, `route 10.1.0.0/24 dev br0`).
    Plain,
    /// There, with a state that may change (`link eth0` up or down, a sysctl's value).
    State,
    /// Counted: the same rule twice is a leftover too (a lesson run twice).
    Counted,
    /// A built-in chain's policy: ACCEPT when the table is not there.
    Policy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    value: String,
    /// The link it goes with (an address, a route, a neighbour entry): a link that is itself
    /// new or gone speaks for it.
    link: Option<String>,
    /// Where it was read: at the end, what a source that could not be read does not show is
    /// not gone.
    source: String,
}

/// What the root namespace holds that a lesson could leave behind, by what it is, with its
/// state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootState {
    items: BTreeMap<String, Entry>,
    /// The sources that could be read (netlink always; a sysctl, iptables-save, nft).
    read: BTreeSet<String>,
}

/// Sysctls every lesson is held to, besides those it writes.
const ALWAYS: &[&str] = &["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

/// How long the firewall dumps may take together.
const FIREWALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The policy a built-in chain has when nobody set one (or its table is not there).
const DEFAULT_POLICY: &str = "ACCEPT";

const NETLINK: &str = "netlink";

/// One shell line for every firewall dump, each section headed by `#nslab NAME` and ended by
/// `#nslab-rc CODE`. The legacy tables are listed only when some are loaded (listing them
/// loads nothing, but costs a process each), and nft only where it is installed.
const FIREWALL_LINE: &str = r##"for p in iptables-save ip6tables-save; do echo "#nslab $p"; $p 2>/dev/null; echo "#nslab-rc $?"; done
for f in ip ip6; do if grep -q . /proc/net/${f}_tables_names 2>/dev/null; then echo "#nslab ${f}tables-legacy-save"; ${f}tables-legacy-save 2>/dev/null; echo "#nslab-rc $?"; fi; done
if command -v nft >/dev/null 2>&1; then echo "#nslab nft"; nft -s list ruleset 2>/dev/null; echo "#nslab-rc $?"; fi"##;

impl RootState {
    /// Takes `other`'s firewall entries, and what of the firewall it could read.
    fn take_firewall(&mut self, other: &RootState) {
        let firewall = |source: &str| source != NETLINK && !source.starts_with("sysctl ");
        for (key, e) in other.items.iter().filter(|(_, e)| firewall(&e.source)) {
            self.items.insert(key.clone(), e.clone());
        }
        self.read
            .extend(other.read.iter().filter(|r| firewall(r)).cloned());
    }

    fn put(&mut self, key: String, kind: Kind, value: String, link: Option<&str>, source: &str) {
        if kind == Kind::Counted {
            let n: usize = self
                .items
                .get(&key)
                .and_then(|e| e.value.parse().ok())
                .unwrap_or(0);
            self.items.insert(
                key,
                Entry {
                    kind,
                    value: (n + 1).to_string(),
                    link: link.map(str::to_string),
                    source: source.to_string(),
                },
            );
            return;
        }
        self.items.insert(
            key,
            Entry {
                kind,
                value,
                link: link.map(str::to_string),
                source: source.to_string(),
            },
        );
    }

    /// The things in the picture, by what they are (for tests and for people).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.items.keys()
    }
}

/// A route in `ip route` words, with its type, table and metric: `route blackhole
/// 10.98.0.0/16 table 100`. An IPv6 route whose words hold no IPv6 address says `-6`.
pub fn route_words(r: &Route) -> String {
    let mut w: Vec<String> = Vec::new();
    if r.v6 && r.dest.is_none() && r.via.is_none_or(|v| v.is_ipv4()) {
        w.push("-6".into());
    }
    if r.kind != rtn::UNICAST {
        w.push(rtn::name(r.kind).to_string());
    }
    w.push(r.dest.map_or_else(|| "default".into(), |d| d.to_string()));
    if let Some(v) = r.via {
        w.push(format!("via {v}"));
    }
    if let Some(d) = &r.dev {
        w.push(format!("dev {d}"));
    }
    if let Some(m) = r.metric {
        w.push(format!("metric {m}"));
    }
    if r.table != table::MAIN {
        w.push(format!(
            "table {}",
            crate::kernel::rules::table_name(r.table)
        ));
    }
    format!("route {}", w.join(" "))
}

/// The root namespace's picture, everything read.
pub fn root_state(k: &Kernel, lesson: &Lesson) -> Result<RootState, String> {
    read(k, lesson, None)
}

/// The picture again, while a lesson's teardowns finish: the kernel's state is read anew, the
/// firewall (which no teardown changes, and whose programs take about 10 ms) is `last`'s.
pub fn root_state_again(
    k: &Kernel,
    lesson: &Lesson,
    last: &RootState,
) -> Result<RootState, String> {
    read(k, lesson, Some(last))
}

fn read(k: &Kernel, lesson: &Lesson, firewall_of: Option<&RootState>) -> Result<RootState, String> {
    let mut s = RootState::default();
    s.read.insert(NETLINK.into());
    for n in k.netns_list() {
        // `umount /run/netns/NAME` without `rm` leaves the file: ip lists it, and no namespace
        // is behind it.
        let (kind, value) = if k.netns_exists(&n) {
            (Kind::Plain, "a namespace".to_string())
        } else {
            (
                Kind::State,
                format!("a file that holds no namespace: rm /run/netns/{n}"),
            )
        };
        s.put(format!("netns {n}"), kind, value, None, NETLINK);
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
        // What `ip link set` changes on a link the lesson did not make (lo, the machine's
        // cards): its MTU, its MAC address, its alias and its other names. Said only of a link
        // that was there before (after DETAILS): a link the lesson left is said by its kind.
        let mut details: Vec<String> = Vec::new();
        if let Some(m) = l.mtu {
            details.push(format!("mtu {m}"));
        }
        if let Some(a) = &l.mac {
            details.push(format!("address {a}"));
        }
        if let Some(a) = &l.alias {
            details.push(format!("alias {a:?}"));
        }
        for a in &l.altnames {
            details.push(format!("altname {a}"));
        }
        state.push_str(DETAILS);
        state.push_str(&details.join(", "));
        s.put(
            format!("link {}", l.name),
            Kind::State,
            state,
            None,
            NETLINK,
        );
    }
    for a in &snap.addrs {
        s.put(
            format!("address {} on {}", a.cidr, a.link),
            Kind::Plain,
            String::new(),
            Some(&a.link),
            NETLINK,
        );
    }
    let v6 = k.routes6(&snap).map_err(|e| e.to_string())?;
    for r in snap.routes.iter().chain(&v6) {
        // An IPv6 anycast route in the local table is the kernel's, like its local routes.
        if r.kind == rtn::ANYCAST && r.table == table::LOCAL {
            continue;
        }
        s.put(
            route_words(r),
            Kind::Counted,
            String::new(),
            r.dev.as_deref(),
            NETLINK,
        );
    }
    for r in k.rules(&Ns::Root).map_err(|e| e.to_string())? {
        s.put(
            format!("rule {r}"),
            Kind::Counted,
            String::new(),
            None,
            NETLINK,
        );
    }
    // Entries the kernel makes come and go with traffic; a permanent one is someone's.
    for n in k.neighbours(&snap).map_err(|e| e.to_string())? {
        if n.state != "permanent" {
            continue;
        }
        let value = match n.lladdr {
            Some(m) => format!("lladdr {m} permanent"),
            None => "permanent".into(),
        };
        s.put(
            format!("neigh {} dev {}", n.addr, n.dev),
            Kind::State,
            value,
            Some(&n.dev),
            NETLINK,
        );
    }
    let made = Creations::of(lesson);
    let mut keys: Vec<String> = ALWAYS.iter().map(|k| k.to_string()).collect();
    for (ns, key) in &made.sysctls {
        if ns.is_root() && !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    for key in keys {
        if let Ok(v) = k.sysctl_read(&Ns::Root, &key) {
            let what = format!("sysctl {key}");
            s.read.insert(what.clone());
            s.put(what.clone(), Kind::State, v, None, &what);
        }
    }
    // The firewall, by the programs that are its reference. Without them there is nothing to
    // compare, at the start as at the end. They take about 10 ms, twice per lesson: only when
    // a line of the lesson can change the root namespace's firewall (a rule it adds there, or
    // a line whose effects nslab cannot read that runs there).
    let firewall_may_change = made.rules.iter().any(|(ns, _)| ns.is_root())
        || made.unknowns.iter().any(|u| u.ns.is_none());
    if let Some(last) = firewall_of {
        s.take_firewall(last);
    } else if firewall_may_change
        && let Ok(o) = k.shell(&Ns::Root, FIREWALL_LINE, FIREWALL_TIMEOUT)
        && o.dropped == 0
        && !o.timed_out
    {
        firewall(&mut s, &o.stdout);
    }
    Ok(s)
}

/// Reads the sections of [`FIREWALL_LINE`]'s output into the picture.
fn firewall(s: &mut RootState, out: &str) {
    let mut sections: Vec<(&str, Vec<&str>, bool)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("#nslab ") {
            sections.push((name, Vec::new(), false));
        } else if let Some(rc) = line.strip_prefix("#nslab-rc ") {
            if let Some(last) = sections.last_mut() {
                last.2 = rc.trim() == "0";
            }
        } else if let Some(last) = sections.last_mut() {
            last.1.push(line);
        }
    }
    // Which iptables tables the nft-based iptables shows: nft shows them too, as tables it
    // must not touch; they are said once, in iptables words.
    let mut by_iptables: BTreeSet<(String, String)> = BTreeSet::new();
    let mut legacy_is_main = false;
    for (name, lines, ok) in &sections {
        if !ok {
            continue;
        }
        let program = match *name {
            "iptables-save" => "iptables",
            "ip6tables-save" => "ip6tables",
            "iptables-legacy-save" => "iptables-legacy",
            "ip6tables-legacy-save" => "ip6tables-legacy",
            "nft" => {
                nft(s, lines, &by_iptables);
                continue;
            }
            _ => continue,
        };
        let legacy = program.ends_with("-legacy");
        // When `iptables` itself is the legacy one, the legacy dump says it all again.
        if legacy && legacy_is_main {
            continue;
        }
        let nf_tables = lines
            .first()
            .is_some_and(|l| l.starts_with('#') && l.contains("(nf_tables)"));
        if !legacy && lines.first().is_some_and(|l| l.contains("(legacy)")) {
            legacy_is_main = true;
        }
        s.read.insert(program.to_string());
        let family = if program.starts_with("ip6") {
            "ip6"
        } else {
            "ip"
        };
        let mut t = String::from("filter");
        for line in lines {
            if let Some(name) = line.strip_prefix('*') {
                t = name.trim().to_string();
                if nf_tables {
                    by_iptables.insert((family.to_string(), t.clone()));
                }
                continue;
            }
            let table_words = if t == "filter" {
                String::new()
            } else {
                format!("-t {t} ")
            };
            if let Some(chain) = line.strip_prefix(':') {
                // `:INPUT ACCEPT [0:0]`, `:MINE - [0:0]`: a policy, or a chain of the user's.
                let mut w = chain.split_whitespace();
                let (Some(name), Some(policy)) = (w.next(), w.next()) else {
                    continue;
                };
                if policy == "-" {
                    s.put(
                        format!("{program} {table_words}-N {name}"),
                        Kind::Plain,
                        String::new(),
                        None,
                        program,
                    );
                } else {
                    s.put(
                        format!("{program} {table_words}-P {name}"),
                        Kind::Policy,
                        policy.to_string(),
                        None,
                        program,
                    );
                }
            } else if line.starts_with("-A ") {
                s.put(
                    format!("{program} {table_words}{}", line.trim_end()),
                    Kind::Counted,
                    String::new(),
                    None,
                    program,
                );
            }
        }
    }
}

/// `nft -s list ruleset`: each table, each chain with its type, hook and policy, each rule (by
/// its text, counted), and each set, map or other object with its content. Tables that the
/// nft-based iptables made are said in iptables words instead.
fn nft(s: &mut RootState, lines: &[&str], by_iptables: &BTreeSet<(String, String)>) {
    const SOURCE: &str = "nft";
    s.read.insert(SOURCE.into());
    // (family name, e.g. "inet t"), the block inside it ("chain c", "set s"), its header.
    let mut table: Option<(String, String)> = None;
    let mut block: Option<(String, String)> = None;
    let mut body: Vec<String> = Vec::new();
    let mut skip = false;
    // Blocks inside a block (a set's elements written over lines): part of its body.
    let mut nested = 0usize;
    for raw in lines {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('{').map(str::trim) {
            match (&table, &block) {
                (None, _) => {
                    let mut w = head.split_whitespace();
                    let (Some("table"), Some(fam), Some(name)) = (w.next(), w.next(), w.next())
                    else {
                        continue;
                    };
                    skip = by_iptables.contains(&(fam.to_string(), name.to_string()));
                    if !skip {
                        s.put(
                            format!("nft table {fam} {name}"),
                            Kind::Plain,
                            String::new(),
                            None,
                            SOURCE,
                        );
                    }
                    table = Some((fam.to_string(), name.to_string()));
                }
                (Some(_), None) => {
                    block = Some((head.to_string(), String::new()));
                    body.clear();
                }
                (Some(_), Some(_)) => {
                    nested += 1;
                    body.push(line.to_string());
                }
            }
            continue;
        }
        if line == "}" && nested > 0 {
            nested -= 1;
            body.push(line.to_string());
            continue;
        }
        if line == "}" {
            match (&table, block.take()) {
                (Some((fam, name)), Some((head, header))) => {
                    if !skip {
                        // `chain inet lab input`, as `nft add chain` takes it.
                        let (kind, block_name) = head.split_once(' ').unwrap_or((&head, ""));
                        let what = format!("nft {kind} {fam} {name} {block_name}");
                        if kind == "chain" {
                            s.put(what, Kind::State, header, None, SOURCE);
                        } else {
                            s.put(what, Kind::State, body.join(" "), None, SOURCE);
                        }
                    }
                }
                (Some(_), None) => table = None,
                (None, _) => {}
            }
            continue;
        }
        let Some((head, header)) = block.as_mut() else {
            continue;
        };
        if skip {
            continue;
        }
        let chain_header = ["type ", "policy ", "comment ", "devices "]
            .iter()
            .any(|p| line.starts_with(p));
        if let (Some(chain), Some((fam, name))) = (head.strip_prefix("chain "), &table) {
            if chain_header {
                if !header.is_empty() {
                    header.push(' ');
                }
                header.push_str(line);
            } else {
                s.put(
                    format!("nft rule {fam} {name} {chain} {line}"),
                    Kind::Counted,
                    String::new(),
                    None,
                    SOURCE,
                );
            }
        } else {
            body.push(line.to_string());
        }
    }
}

/// Every difference, in words: what is new, what is gone, what changed. The addresses,
/// routes and neighbour entries of a link that is itself new or gone are not named apart:
/// they go with it.
/// The links in `after` that were not in `before`.
pub fn new_links<'a>(before: &RootState, after: &'a RootState) -> Vec<&'a str> {
    after
        .items
        .keys()
        .filter(|k| !before.items.contains_key(*k))
        .filter_map(|k| k.strip_prefix("link "))
        .collect()
}

pub fn differences(before: &RootState, after: &RootState) -> Vec<String> {
    let new_links: BTreeSet<&str> = new_links(before, after).into_iter().collect();
    let gone_links: BTreeSet<&str> = before
        .items
        .keys()
        .filter(|k| !after.items.contains_key(*k))
        .filter_map(|k| k.strip_prefix("link "))
        .collect();
    let mut out = Vec::new();
    for (what, e) in &after.items {
        if e.link.as_deref().is_some_and(|l| new_links.contains(l)) {
            continue;
        }
        let now = &e.value;
        match (before.items.get(what), e.kind) {
            (None, Kind::Plain) => out.push(what.clone()),
            (None, Kind::State) if what.starts_with("link ") => out.push(format!(
                "{what} ({})",
                now.split(DETAILS).next().unwrap_or(now)
            )),
            (None, Kind::State) => out.push(format!("{what} ({now})")),
            (None, Kind::Counted) if now == "1" => out.push(what.clone()),
            (None, Kind::Counted) => out.push(format!("{what} ({now} copies)")),
            (None, Kind::Policy) if now == DEFAULT_POLICY => {}
            (None, Kind::Policy) => out.push(format!(
                "{what} {now} (before the lesson: {DEFAULT_POLICY})"
            )),
            (Some(was), _) if was.value == *now => {}
            (Some(was), Kind::Counted) => out.push(format!(
                "{what}: {now} copies (before the lesson: {})",
                was.value
            )),
            (Some(was), Kind::Policy) => {
                out.push(format!("{what} {now} (before the lesson: {})", was.value))
            }
            (Some(was), _) => out.push(format!("{what}: {now} (before the lesson: {})", was.value)),
        }
    }
    // What could not be read at the end (a sysctl, the rules when iptables could not list
    // them) is not gone: nslab cannot tell.
    for (what, e) in &before.items {
        if after.items.contains_key(what)
            || !after.read.contains(&e.source)
            || e.link.as_deref().is_some_and(|l| gone_links.contains(l))
        {
            continue;
        }
        match e.kind {
            Kind::Policy if e.value == DEFAULT_POLICY => {}
            Kind::Policy => out.push(format!(
                "{what} {DEFAULT_POLICY} (before the lesson: {})",
                e.value
            )),
            _ => out.push(format!("{what}: gone (it was there before the lesson)")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(items: &[(&str, Kind, &str, Option<&str>, &str)]) -> RootState {
        let mut s = RootState::default();
        for (what, kind, value, link, source) in items {
            s.read.insert(source.to_string());
            s.put(what.to_string(), *kind, value.to_string(), *link, source);
        }
        s
    }

    #[test]
    fn every_difference_is_named() {
        let before = state(&[
            ("link lo", Kind::State, "loopback, up", None, NETLINK),
            ("link eth0", Kind::State, "device, up", None, NETLINK),
            (
                "sysctl net.ipv4.ip_forward",
                Kind::State,
                "0",
                None,
                "sysctl net.ipv4.ip_forward",
            ),
            (
                "iptables -t nat -A POSTROUTING -j MASQUERADE",
                Kind::Counted,
                "",
                None,
                "iptables",
            ),
            (
                "iptables -P FORWARD",
                Kind::Policy,
                "ACCEPT",
                None,
                "iptables",
            ),
            (
                "rule from all lookup main pref 32766",
                Kind::Counted,
                "",
                None,
                NETLINK,
            ),
        ]);
        let mut after = before.clone();
        let mut add = |what: &str, kind, value: &str, link: Option<&str>| {
            after.put(what.into(), kind, value.into(), link, NETLINK)
        };
        add("netns blue", Kind::Plain, "", None);
        add("link bridge0", Kind::State, "bridge, up", None);
        add(
            "address 10.1.0.1/24 on bridge0",
            Kind::Plain,
            "",
            Some("bridge0"),
        );
        add(
            "route 10.1.0.0/24 dev bridge0",
            Kind::Counted,
            "",
            Some("bridge0"),
        );
        add("address 10.9.0.1/24 on eth0", Kind::Plain, "", Some("eth0"));
        add("link eth0", Kind::State, "device, down", None);
        add("sysctl net.ipv4.ip_forward", Kind::State, "1", None);
        add(
            "route blackhole 10.98.0.0/16 table 100",
            Kind::Counted,
            "",
            None,
        );
        add(
            "rule from 10.99.0.0/24 lookup 100 pref 10",
            Kind::Counted,
            "",
            None,
        );
        add(
            "neigh 10.97.0.1 dev eth0",
            Kind::State,
            "lladdr 02:00:00:00:00:01 permanent",
            Some("eth0"),
        );
        for _ in 0..2 {
            add(
                "iptables -t nat -A POSTROUTING -j MASQUERADE",
                Kind::Counted,
                "",
                None,
            );
        }
        add("ip6tables -A INPUT -j DROP", Kind::Counted, "", None);
        add("iptables -P FORWARD", Kind::Policy, "DROP", None);
        add(
            "iptables -t mangle -P PREROUTING",
            Kind::Policy,
            "ACCEPT",
            None,
        );
        add("iptables -N MINE", Kind::Plain, "", None);
        add(
            "nft chain inet t input",
            Kind::State,
            "type filter hook input priority filter; policy drop;",
            None,
        );
        after.items.remove("link lo");
        after.items.remove("rule from all lookup main pref 32766");
        assert_eq!(
            differences(&before, &after),
            [
                "address 10.9.0.1/24 on eth0",
                "ip6tables -A INPUT -j DROP",
                "iptables -N MINE",
                "iptables -P FORWARD DROP (before the lesson: ACCEPT)",
                "iptables -t nat -A POSTROUTING -j MASQUERADE: 3 copies (before the lesson: 1)",
                "link bridge0 (bridge, up)",
                "link eth0: device, down (before the lesson: device, up)",
                "neigh 10.97.0.1 dev eth0 (lladdr 02:00:00:00:00:01 permanent)",
                "netns blue",
                "nft chain inet t input (type filter hook input priority filter; policy drop;)",
                "route blackhole 10.98.0.0/16 table 100",
                "rule from 10.99.0.0/24 lookup 100 pref 10",
                "sysctl net.ipv4.ip_forward: 1 (before the lesson: 0)",
                "link lo: gone (it was there before the lesson)",
                "rule from all lookup main pref 32766: gone (it was there before the lesson)",
            ]
        );
        assert!(differences(&before, &before).is_empty());
    }

    #[test]
    fn what_cannot_be_read_at_the_end_is_not_gone() {
        let before = state(&[
            (
                "sysctl net.ipv4.ip_forward",
                Kind::State,
                "0",
                None,
                "sysctl net.ipv4.ip_forward",
            ),
            (
                "iptables -t nat -A POSTROUTING -j MASQUERADE",
                Kind::Counted,
                "",
                None,
                "iptables",
            ),
            (
                "iptables -P FORWARD",
                Kind::Policy,
                "DROP",
                None,
                "iptables",
            ),
        ]);
        assert!(differences(&before, &RootState::default()).is_empty());
        // Read, and empty: flushed.
        let mut flushed = RootState::default();
        flushed.read.insert("iptables".into());
        assert_eq!(
            differences(&before, &flushed),
            [
                "iptables -P FORWARD ACCEPT (before the lesson: DROP)",
                "iptables -t nat -A POSTROUTING -j MASQUERADE: gone (it was there before the lesson)",
            ]
        );
    }

    #[test]
    fn the_firewall_is_read_from_its_programs_words() {
        let out = "#nslab iptables-save
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 30 08:19:18 2026
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [12:345]
:FOO - [0:0]
-A FOO -j DROP
-A FOO -j DROP
COMMIT
#nslab-rc 0
#nslab ip6tables-save
*filter
:INPUT ACCEPT [0:0]
-A INPUT -j DROP
COMMIT
#nslab-rc 0
#nslab nft
table ip mangle {
	chain PREROUTING {
		type filter hook prerouting priority mangle; policy accept;
		counter meta mark set 0x1
	}
}
table inet lab {
	set allowed {
		type ipv4_addr
		elements = { 10.0.0.1,
			     10.0.0.2 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ip saddr @allowed accept
	}
}
#nslab-rc 0
";
        let mut s = RootState::default();
        firewall(&mut s, out);
        let got: Vec<String> = s
            .items
            .iter()
            .map(|(k, e)| format!("{k} = {}", e.value))
            .collect();
        assert_eq!(
            got,
            [
                "ip6tables -A INPUT -j DROP = 1",
                "ip6tables -P INPUT = ACCEPT",
                "iptables -A FOO -j DROP = 2",
                "iptables -N FOO = ",
                "iptables -P FORWARD = DROP",
                "iptables -P INPUT = ACCEPT",
                "iptables -t mangle -A PREROUTING -j MARK --set-xmark 0x1/0xffffffff = 1",
                "iptables -t mangle -P PREROUTING = ACCEPT",
                "nft chain inet lab input = type filter hook input priority filter; policy drop;",
                "nft rule inet lab input ip saddr @allowed accept = 1",
                "nft set inet lab allowed = type ipv4_addr elements = { 10.0.0.1, 10.0.0.2 }",
                "nft table inet lab = ",
            ]
        );
        assert!(s.read.contains("nft") && s.read.contains("ip6tables"));
        // A dump that failed is not read: its rules are not gone.
        let mut failed = RootState::default();
        firewall(&mut failed, "#nslab iptables-save\n#nslab-rc 127\n");
        assert!(failed.read.is_empty() && failed.items.is_empty());
    }
}
