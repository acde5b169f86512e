//! Normalising two sandboxes' dumps so that only what a command line decides is compared.
//!
//! What legitimately differs between two runs of the same lines, and how it is replaced:
//! - ifindex numbers: dropped (the name is there); a peer's `link_index` becomes `NAME@NS`.
//! - nsid numbers: become the namespace's name (the numbers stay where the case chooses them,
//!   with `netns set`).
//! - random MAC addresses: `<mac:NAME@NS>`, tied to the link that holds it, unless the MAC is
//!   written in the case's lines. A bridge that took its lowest port's MAC shows
//!   `<mac:lowest port of BR@NS>`, since which port is lowest is chance.
//! - IPv6 link-local addresses (made from a random MAC, or from the MAC a bridge had when it
//!   came up): `fe80::<ll:NAME@NS>`, with their solicited-node multicast forms.
//! - timers and ages (`*_timer`, `used`, `updated`, `expires`, finite lifetimes).
//! - what traffic the kernel sends by itself leaves behind (IPv6 DAD, MLD, router solicitation):
//!   learned FDB entries and NOARP neighbours of multicast groups, unless the case names them.
//! - order: entries are sorted (links by name); the order of a link's addresses is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv6Addr;

use serde_json::{Map, Value};

use super::corpus::Case;
use super::state::{NsDump, ROOT, Raw};

/// What an nsid becomes when it points at a namespace nobody can see (one being destroyed).
pub const UNNAMED: &str = "<unnamed netns>";

/// What normalising a case's dumps needs to know about the case.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// MAC addresses written in the case's lines (lowercase, two digits a byte).
    pub macs: HashSet<String>,
    /// IPv6 addresses written in the case's lines.
    pub ipv6: HashSet<Ipv6Addr>,
    /// The case chooses nsid numbers (`ip netns set NAME NSID`): they are state, not noise.
    pub nsid_numbers: bool,
    /// The sysctls the case's lines write, compared in every namespace.
    pub sysctls: Vec<String>,
    /// The named namespaces to compare besides root (`None`: all of them).
    pub only: Option<Vec<String>>,
}

impl Context {
    pub fn of(case: &Case) -> Context {
        let mut c = Context {
            only: case.ns.clone(),
            ..Context::default()
        };
        for text in case.texts() {
            c.nsid_numbers |= text.contains("netns set") || text.contains("link-netnsid");
            for word in text.split(|ch: char| ch.is_whitespace() || "'\"".contains(ch)) {
                if let Some(mac) = canonical_mac(word) {
                    c.macs.insert(mac);
                }
                if let Ok(a) = word.split('/').next().unwrap_or("").parse::<Ipv6Addr>() {
                    c.ipv6.insert(a);
                }
                if let Some(key) = sysctl_key(word)
                    && !c.sysctls.contains(&key)
                {
                    c.sysctls.push(key);
                }
            }
        }
        c
    }
}

/// `net.ipv4.ip_forward=1`, `net/ipv4/ip_forward=1` or `/proc/sys/net/ipv4/ip_forward`: the key.
fn sysctl_key(word: &str) -> Option<String> {
    let key = if let Some(path) = word.strip_prefix("/proc/sys/") {
        path
    } else {
        word.split_once('=')?.0
    };
    // procps' dotted spelling, whichever the line used: a '/' stands for a '.' in a link's
    // name (`net.ipv4.conf.veth0/5.forwarding`), and `sysctl -n` reads it so.
    let key = nslab::net::sysctl_key(key);
    (key.starts_with("net.") && key.len() > 4).then_some(key)
}

/// `0:1:22:aa:b:c` or `00:01:22:AA:0B:0C` as `00:01:22:aa:0b:0c`; `None` for anything else.
pub fn canonical_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(
        parts
            .iter()
            .map(|p| format!("{:0>2}", p.to_ascii_lowercase()))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Keys whose values are timers or ages: they change between two dumps of the same state.
fn is_timer(key: &str) -> bool {
    key.ends_with("_timer") || matches!(key, "used" | "updated" | "confirmed" | "expires")
}

/// Keys that hold a bridge identifier, `PRIORITY.MAC`: the MAC is the bridge's own.
const BRIDGE_ID_KEYS: &[&str] = &[
    "bridge_id",
    "root_id",
    "designated_root",
    "designated_bridge",
];

/// An address lifetime that never runs out, as iproute2 prints it.
const FOREVER: u64 = u32::MAX as u64;

/// The replacements for one sandbox's random values.
struct Tables {
    /// MAC -> `<mac:NAME@NS>`.
    macs: HashMap<String, String>,
    /// A bridge's MAC -> the bridge's own placeholder (for bridge identifiers).
    bridge_macs: HashMap<String, String>,
    /// (namespace, bridge) -> placeholder, for a bridge that took its lowest port's MAC.
    bridge_address: HashMap<(String, String), String>,
    /// Link-local address -> its holders (namespace, link) and their `<ll:NAME@NS>` tags. A
    /// bridge and the port whose MAC it took hold the same one: the tag depends on where it is
    /// seen, which port is lowest is chance.
    link_locals: HashMap<Ipv6Addr, Vec<Holder>>,
    /// Last three bytes of a link-local address -> its holders (solicited-node groups).
    tails: HashMap<[u8; 3], Vec<Holder>>,
    /// (namespace, nsid) -> the namespace it names.
    nsids: HashMap<(String, i64), String>,
    /// (namespace, ifindex) -> the link's name.
    index: HashMap<(String, i64), String>,
}

/// A link that holds a link-local address, and the tag that replaces the address there.
#[derive(Debug, Clone)]
struct Holder {
    ns: String,
    link: String,
    tag: String,
}

/// Where a string sits: its namespace, and the link its entry belongs to (`dev`, `ifname`).
#[derive(Clone, Copy)]
struct Here<'a> {
    ns: &'a str,
    link: Option<&'a str>,
}

impl<'a> Here<'a> {
    fn of(ns: &'a str, entry: &'a Value, key: &str) -> Here<'a> {
        Here {
            ns,
            link: entry[key].as_str(),
        }
    }
}

/// The tag of the holder at `here`, else every holder's.
fn tag_at(holders: &[Holder], here: &Here) -> String {
    if let Some(h) = holders
        .iter()
        .find(|h| h.ns == here.ns && Some(h.link.as_str()) == here.link)
    {
        return h.tag.clone();
    }
    let mut tags: Vec<&str> = holders.iter().map(|h| h.tag.as_str()).collect();
    tags.sort();
    tags.dedup();
    tags.join("|")
}

fn links(d: &NsDump) -> impl Iterator<Item = &Value> {
    d.links.as_array().into_iter().flatten()
}

fn kind(link: &Value) -> Option<&str> {
    link["linkinfo"]["info_kind"].as_str()
}

fn tables(raw: &Raw, cx: &Context) -> Tables {
    let mut t = Tables {
        macs: HashMap::new(),
        bridge_macs: HashMap::new(),
        bridge_address: HashMap::new(),
        link_locals: HashMap::new(),
        tails: HashMap::new(),
        nsids: HashMap::new(),
        index: HashMap::new(),
    };
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (ns, dump) in &raw.ns {
        let Ok(d) = dump else { continue };
        for link in links(d) {
            let name = link["ifname"].as_str().unwrap_or("?").to_string();
            if let Some(i) = link["ifindex"].as_i64() {
                t.index.insert((ns.clone(), i), name.clone());
            }
            let Some(mac) = link["address"].as_str().and_then(canonical_mac) else {
                continue;
            };
            if mac == "00:00:00:00:00:00" || cx.macs.contains(&mac) {
                continue;
            }
            let port_has_it = kind(link) == Some("bridge")
                && links(d).any(|p| {
                    p["master"].as_str() == Some(name.as_str())
                        && p["address"].as_str().and_then(canonical_mac).as_deref() == Some(&mac)
                });
            if port_has_it {
                let placeholder = format!("<mac:lowest port of {name}@{ns}>");
                t.bridge_macs.insert(mac, placeholder.clone());
                t.bridge_address.insert((ns.clone(), name), placeholder);
            } else {
                if kind(link) == Some("bridge") {
                    t.bridge_macs
                        .insert(mac.clone(), format!("<mac:{name}@{ns}>"));
                }
                holders
                    .entry(mac)
                    .or_default()
                    .insert(format!("{name}@{ns}"));
            }
        }
        for link in d.addrs.as_array().into_iter().flatten() {
            let name = link["ifname"].as_str().unwrap_or("?");
            let mut k = 0;
            for a in link["addr_info"].as_array().into_iter().flatten() {
                let Some(addr) = a["local"].as_str().and_then(|s| s.parse::<Ipv6Addr>().ok())
                else {
                    continue;
                };
                if !is_link_local(&addr) || cx.ipv6.contains(&addr) {
                    continue;
                }
                k += 1;
                let tag = if k == 1 {
                    format!("<ll:{name}@{ns}>")
                } else {
                    format!("<ll:{name}@{ns}#{k}>")
                };
                let o = addr.octets();
                let holder = Holder {
                    ns: ns.clone(),
                    link: name.to_string(),
                    tag,
                };
                t.tails
                    .entry([o[13], o[14], o[15]])
                    .or_default()
                    .push(holder.clone());
                t.link_locals.entry(addr).or_default().push(holder);
            }
        }
        for e in d.list_id.as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (e["nsid"].as_i64(), e["name"].as_str()) {
                t.nsids.insert((ns.clone(), id), name.to_string());
            }
        }
    }
    for (mac, who) in holders {
        let joined = who.into_iter().collect::<Vec<_>>().join("|");
        t.macs.insert(mac, format!("<mac:{joined}>"));
    }
    // iproute2 names every nsid that points at a namespace in /run/netns. One it cannot name
    // points at the sandbox's root (seen from a named namespace), or at a namespace nobody can
    // see: one being destroyed, or held by a process only. It is root when root holds the
    // link's other end there: a link with that index (and for a veth, pointing back).
    let mut found = Vec::new();
    for (ns, dump) in &raw.ns {
        let Ok(d) = dump else { continue };
        for link in links(d) {
            let (Some(id), Some(peer)) =
                (link["link_netnsid"].as_i64(), link["link_index"].as_i64())
            else {
                continue;
            };
            if ns == ROOT || t.nsids.contains_key(&(ns.clone(), id)) {
                continue;
            }
            let veth = kind(link) == Some("veth");
            let me = link["ifindex"].as_i64();
            let in_root = raw.get(ROOT).is_some_and(|root| {
                links(root).any(|l| {
                    l["ifindex"].as_i64() == Some(peer) && (!veth || l["link_index"].as_i64() == me)
                })
            });
            if in_root {
                found.push(((ns.clone(), id), ROOT.to_string()));
            }
        }
    }
    t.nsids.extend(found);
    t
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn is_multicast(dst: &str) -> bool {
    match dst.parse::<std::net::IpAddr>() {
        Ok(a) => a.is_multicast(),
        Err(_) => false,
    }
}

impl Tables {
    fn nsid_name(&self, ns: &str, id: i64) -> String {
        self.nsids
            .get(&(ns.to_string(), id))
            .cloned()
            .unwrap_or_else(|| UNNAMED.to_string())
    }

    /// One string, with its random parts replaced.
    fn string(&self, here: &Here, key: &str, s: &str) -> String {
        let (addr, suffix) = match s.split_once('/') {
            Some((a, p)) => (a, format!("/{p}")),
            None => (s, String::new()),
        };
        if let Ok(a) = addr.parse::<Ipv6Addr>() {
            if let Some(h) = self.link_locals.get(&a) {
                return format!("fe80::{}{suffix}", tag_at(h, here));
            }
            let o = a.octets();
            // ff02::1:ffXX:XXXX, the solicited-node group of an address ending in XX:XXXX.
            if o[..13] == [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
                && let Some(h) = self.tails.get(&[o[13], o[14], o[15]])
            {
                return format!("ff02::1:ff{}{suffix}", tag_at(h, here));
            }
            return s.to_string();
        }
        let mut out = String::new();
        let mut token = String::new();
        for ch in s.chars().chain(std::iter::once('\0')) {
            if matches!(ch, '.' | ' ' | '/' | ',' | '\0') {
                out.push_str(&self.mac_token(here, key, &token));
                token.clear();
                if ch != '\0' {
                    out.push(ch);
                }
            } else {
                token.push(ch);
            }
        }
        out
    }

    fn mac_token(&self, here: &Here, key: &str, token: &str) -> String {
        let Some(mac) = canonical_mac(token) else {
            return token.to_string();
        };
        if BRIDGE_ID_KEYS.contains(&key)
            && let Some(p) = self.bridge_macs.get(&mac)
        {
            return p.clone();
        }
        if let Some(p) = self.macs.get(&mac) {
            return p.clone();
        }
        let b: Vec<u8> = mac
            .split(':')
            .filter_map(|x| u8::from_str_radix(x, 16).ok())
            .collect();
        if b[..3] == [0x33, 0x33, 0xff]
            && let Some(h) = self.tails.get(&[b[3], b[4], b[5]])
        {
            return format!("33:33:ff:{}", tag_at(h, here));
        }
        token.to_string()
    }

    /// Every string, timer and lifetime under `v`.
    fn walk(&self, here: &Here, key: &str, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.string(here, key, s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.walk(here, key, i)),
            Value::Object(map) => {
                map.retain(|k, _| !is_timer(k));
                for (k, v) in map.iter_mut() {
                    if (k == "valid_life_time" || k == "preferred_life_time")
                        && v.as_u64() != Some(FOREVER)
                    {
                        *v = Value::String("<finite>".into());
                    }
                    self.walk(here, k, v);
                }
            }
            _ => {}
        }
    }

    fn link(&self, ns: &str, link: &Value) -> Value {
        let mut l = link.clone();
        let Some(map) = l.as_object_mut() else {
            return l;
        };
        let target_ns = match map.get("link_netnsid").and_then(Value::as_i64) {
            Some(id) => self.nsid_name(ns, id),
            None => ns.to_string(),
        };
        if map.contains_key("link_netnsid") {
            map.insert("link_netnsid".into(), Value::String(target_ns.clone()));
        }
        if let Some(i) = map.get("link_index").and_then(Value::as_i64) {
            let name = self
                .index
                .get(&(target_ns.clone(), i))
                .cloned()
                .unwrap_or_else(|| "<unknown>".into());
            map.insert(
                "link_index".into(),
                Value::String(format!("{name}@{target_ns}")),
            );
        }
        map.remove("ifindex");
        let name = map["ifname"].as_str().unwrap_or("").to_string();
        let bridge = self.bridge_address.get(&(ns.to_string(), name));
        self.walk(&Here::of(ns, link, "ifname"), "", &mut l);
        if let (Some(p), Some(map)) = (bridge, l.as_object_mut()) {
            map.insert("address".into(), Value::String(p.clone()));
        }
        l
    }
}

fn sorted(mut items: Vec<Value>) -> Value {
    items.sort_by_cached_key(|v| {
        (
            v["ifname"].as_str().unwrap_or("").to_string(),
            v.to_string(),
        )
    });
    Value::Array(items)
}

fn array(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// One namespace's dumps, normalised, under the keys a report shows.
fn namespace(t: &Tables, cx: &Context, ns: &str, d: &NsDump, out: &mut BTreeMap<String, Value>) {
    let mut put = |what: &str, v: Value| {
        out.insert(format!("{ns}: {what}"), v);
    };
    put(
        "ip -d link show",
        sorted(array(&d.links).map(|l| t.link(ns, l)).collect()),
    );
    // The link attributes repeat `ip link`; only the addresses are new here.
    put(
        "ip -d address show",
        sorted(
            array(&d.addrs)
                .map(|l| {
                    let mut a = Map::new();
                    a.insert("ifname".into(), l["ifname"].clone());
                    let mut info = l["addr_info"].clone();
                    t.walk(&Here::of(ns, l, "ifname"), "addr_info", &mut info);
                    a.insert("addr_info".into(), info);
                    Value::Object(a)
                })
                .collect(),
        ),
    );
    for (what, routes) in [
        ("ip -d -4 route show table all", &d.routes4),
        ("ip -d -6 route show table all", &d.routes6),
    ] {
        put(
            what,
            sorted(
                array(routes)
                    .map(|r| {
                        let mut v = r.clone();
                        t.walk(&Here::of(ns, r, "dev"), "", &mut v);
                        v
                    })
                    .collect(),
            ),
        );
    }
    for (what, neigh) in [
        ("ip -4 neigh show nud all", &d.neigh4),
        ("ip -6 neigh show nud all", &d.neigh6),
    ] {
        put(
            what,
            sorted(
                array(neigh)
                    .filter(|n| {
                        let dst = n["dst"].as_str().unwrap_or("");
                        let by_traffic = is_multicast(dst)
                            && n["state"] == serde_json::json!(["NOARP"])
                            && !dst.parse().is_ok_and(|a| cx.ipv6.contains(&a));
                        !by_traffic
                    })
                    .map(|n| {
                        let mut v = n.clone();
                        t.walk(&Here::of(ns, n, "dev"), "", &mut v);
                        v
                    })
                    .collect(),
            ),
        );
    }
    // A rule list is in the kernel's order (by preference, then as added), which is state: it
    // is kept. Nothing in a rule is random: an interface is named, a table chosen by the kernel
    // (a lookup in table 0) is the same on both sides.
    for (what, rules) in [
        ("ip -d -4 rule show", &d.rules4),
        ("ip -d -6 rule show", &d.rules6),
    ] {
        put(
            what,
            Value::Array(
                array(rules)
                    .map(|r| {
                        let mut v = r.clone();
                        t.walk(&Here::of(ns, r, "iif"), "", &mut v);
                        v
                    })
                    .collect(),
            ),
        );
    }
    put(
        "bridge -d fdb show",
        sorted(
            array(&d.fdb)
                .filter(|e| {
                    // A dynamic entry the case did not write was learned from traffic.
                    let learned = e["state"] == "";
                    let written = e["mac"]
                        .as_str()
                        .and_then(canonical_mac)
                        .is_some_and(|m| cx.macs.contains(&m));
                    !learned || written
                })
                .map(|e| {
                    let mut v = e.clone();
                    t.walk(&Here::of(ns, e, "ifname"), "", &mut v);
                    v
                })
                .collect(),
        ),
    );
    put(
        "bridge -d link show",
        sorted(
            array(&d.bridge_links)
                .map(|p| {
                    let mut v = p.clone();
                    if let Some(m) = v.as_object_mut() {
                        m.remove("ifindex");
                    }
                    t.walk(&Here::of(ns, p, "ifname"), "", &mut v);
                    v
                })
                .collect(),
        ),
    );
    let mut ids: Vec<String> = array(&d.list_id)
        .map(|e| {
            let id = e["nsid"].as_i64().unwrap_or(-1);
            let name = t.nsid_name(ns, id);
            if cx.nsid_numbers {
                format!("{name}={id}")
            } else {
                name
            }
        })
        .collect();
    ids.sort();
    put("ip netns list-id", serde_json::json!(ids));
    if !d.sysctls.is_empty() {
        put("sysctl", serde_json::json!(d.sysctls));
    }
}

/// The sandbox's state, with what legitimately differs between two runs replaced (see the
/// module's documentation), keyed by `NS: COMMAND`.
pub fn normalise(raw: &Raw, cx: &Context) -> BTreeMap<String, Value> {
    let t = tables(raw, cx);
    let mut out = BTreeMap::new();
    out.insert("/run/netns".to_string(), serde_json::json!(raw.names));
    for (ns, dump) in &raw.ns {
        let compared = ns == ROOT
            || cx
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|o| o == ns));
        if !compared {
            continue;
        }
        match dump {
            Ok(d) => namespace(&t, cx, ns, d, &mut out),
            Err(e) => {
                out.insert(format!("{ns}: dump"), Value::String(e.clone()));
            }
        }
    }
    out
}

/// Checks the helpers that decide what a case fixes: run before the cases.
pub fn self_check() -> Result<(), String> {
    let want = |what: &str, got: String, want: &str| {
        (got == want)
            .then_some(())
            .ok_or_else(|| format!("{what}: got {got}, want {want}"))
    };
    want(
        "canonical_mac",
        format!("{:?}", canonical_mac("0:1:22:AA:b:c")),
        "Some(\"00:01:22:aa:0b:0c\")",
    )?;
    for not_mac in ["fe80::1", "8000.0", "00:11:22:33:44", "00:11:22:33:44:5g"] {
        want(not_mac, format!("{:?}", canonical_mac(not_mac)), "None")?;
    }
    let text = "[case] c\n\
        setup ip link add v0 address 02:00:00:00:00:AA type veth peer name v1\n\
        run ip netns exec a sysctl -w net.ipv4.ip_forward=1\n\
        run sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/forwarding'\n\
        run sysctl net/ipv6/conf/all/forwarding=1\n\
        run sysctl -w net/ipv4/conf/v0.5/forwarding=1 net.ipv4.conf.v0/5.forwarding=1\n\
        run ip -6 addr add 2001:db8::1/64 dev v0\n\
        run ip netns set a 12\n\
        ns a\n";
    let cases = super::corpus::parse(text).map_err(|e| format!("{e:?}"))?;
    let cx = Context::of(&cases[0]);
    want(
        "sysctl keys",
        cx.sysctls.join(" "),
        "net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding \
         net.ipv4.conf.v0/5.forwarding",
    )?;
    want(
        "literal MACs",
        format!("{:?}", cx.macs),
        "{\"02:00:00:00:00:aa\"}",
    )?;
    want("literal IPv6", format!("{:?}", cx.ipv6), "{2001:db8::1}")?;
    want("nsid numbers", cx.nsid_numbers.to_string(), "true")?;
    want("only", format!("{:?}", cx.only), "Some([\"a\"])")?;
    Ok(())
}
