//! What a sandbox holds, as iproute2 shows it: `ip -j -d` and `bridge -j -d` dumps of the root
//! namespace and every named one (links, addresses, routes, neighbours and policy rules of both
//! families, the bridge's FDB and ports), taken again until they stop changing.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::normalise::{Context, UNNAMED, normalise};

/// The root namespace's name in dumps and reports.
pub const ROOT: &str = "root";

/// How long a sandbox may take to settle. IPv6 duplicate address detection alone takes one to
/// two seconds after a link gets its carrier (a random delay of up to rtr_solicit_delay, 1 s,
/// then one probe and retrans_time, 1 s), and the kernel's linkwatch may hold an operstate
/// change back for up to one more second.
const SETTLE_BOUND: Duration = Duration::from_secs(8);

/// The pause between two dumps of a settling sandbox.
const SETTLE_PAUSE: Duration = Duration::from_millis(50);

/// One namespace's dumps, as iproute2 printed them.
#[derive(Debug, Clone, Default)]
pub struct NsDump {
    pub links: Value,
    pub addrs: Value,
    pub list_id: Value,
    pub routes4: Value,
    pub neigh4: Value,
    pub routes6: Value,
    pub neigh6: Value,
    /// `ip -4 rule show` and `ip -6 rule show`: the policy routing rules.
    pub rules4: Value,
    pub rules6: Value,
    pub fdb: Value,
    pub bridge_links: Value,
    /// The sysctls a case's lines name, read inside the namespace.
    pub sysctls: BTreeMap<String, String>,
}

/// Every namespace of a sandbox: root first, then the names in /run/netns.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    pub names: Vec<String>,
    pub ns: BTreeMap<String, Result<NsDump, String>>,
}

impl Raw {
    pub fn get(&self, ns: &str) -> Option<&NsDump> {
        self.ns.get(ns).and_then(|d| d.as_ref().ok())
    }
}

/// The names in /run/netns, sorted.
pub fn netns_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs `PROGRAM [-n NS] -j -d OPTIONS -batch -` with `commands` on its standard input, and
/// returns one JSON value per command.
fn batch(
    program: &str,
    ns: &str,
    options: &[&str],
    commands: &[&str],
) -> Result<Vec<Value>, String> {
    let mut cmd = Command::new(program);
    if ns != ROOT {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-j", "-d"])
        .args(options)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{program} -n {ns} {}", options.join(" "));
    let mut child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{}\n", commands.join("\n")).as_bytes())
            .map_err(|e| format!("{what}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let values: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: its JSON: {e}"))?;
    if values.len() != commands.len() {
        return Err(format!(
            "{what}: {} JSON values for {} commands",
            values.len(),
            commands.len()
        ));
    }
    Ok(values)
}

fn sysctl(ns: &str, key: &str) -> String {
    let mut cmd = if ns == ROOT {
        Command::new("sysctl")
    } else {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, "sysctl"]);
        c
    };
    match cmd.args(["-n", key]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => format!(
            "error: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
        Err(e) => format!("error: {e}"),
    }
}

fn dump_ns(ns: &str, sysctls: &[String]) -> Result<NsDump, String> {
    let mut base = batch(
        "ip",
        ns,
        &[],
        &["link show", "address show", "netns list-id"],
    )?;
    let mut v4 = batch(
        "ip",
        ns,
        &["-4"],
        &["route show table all", "neigh show nud all", "rule show"],
    )?;
    let mut v6 = batch(
        "ip",
        ns,
        &["-6"],
        &["route show table all", "neigh show nud all", "rule show"],
    )?;
    let mut br = batch("bridge", ns, &[], &["fdb show", "link show"])?;
    let take = |v: &mut Vec<Value>, i: usize| std::mem::take(&mut v[i]);
    Ok(NsDump {
        links: take(&mut base, 0),
        addrs: take(&mut base, 1),
        list_id: take(&mut base, 2),
        routes4: take(&mut v4, 0),
        neigh4: take(&mut v4, 1),
        routes6: take(&mut v6, 0),
        neigh6: take(&mut v6, 1),
        rules4: take(&mut v4, 2),
        rules6: take(&mut v6, 2),
        fdb: take(&mut br, 0),
        bridge_links: take(&mut br, 1),
        sysctls: sysctls.iter().map(|k| (k.clone(), sysctl(ns, k))).collect(),
    })
}

/// Dumps root and every named namespace once.
pub fn dump_all(sysctls: &[String]) -> Raw {
    let names = netns_names();
    let mut ns = BTreeMap::new();
    for name in std::iter::once(ROOT.to_string()).chain(names.iter().cloned()) {
        let dump = dump_ns(&name, sysctls);
        ns.insert(name, dump);
    }
    Raw { names, ns }
}

/// Why a dump is not final yet: the kernel is still on its way somewhere, whatever the next
/// dump says. `None` when nothing is in flight.
pub fn in_flight(raw: &Raw) -> Option<String> {
    for (ns, dump) in &raw.ns {
        let Ok(d) = dump else { continue };
        for link in d.links.as_array().into_iter().flatten() {
            let name = link["ifname"].as_str().unwrap_or("?");
            if let Some(why) = link_in_flight(link) {
                return Some(format!("{name} in {ns}: {why}"));
            }
        }
        for link in d.addrs.as_array().into_iter().flatten() {
            let name = link["ifname"].as_str().unwrap_or("?");
            let carrier = has_flag(link, "LOWER_UP")
                && matches!(link["operstate"].as_str(), Some("UP" | "UNKNOWN"));
            for a in link["addr_info"].as_array().into_iter().flatten() {
                if carrier && a["tentative"] == true && a["dadfailed"] != true {
                    return Some(format!(
                        "{name} in {ns}: {} is tentative (duplicate address detection)",
                        a["local"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
        if let Some(why) = group_left_behind(d) {
            return Some(format!("{why} in {ns}"));
        }
        for port in d.bridge_links.as_array().into_iter().flatten() {
            if let Some(state @ ("listening" | "learning")) = port["state"].as_str() {
                return Some(format!(
                    "bridge port {} in {ns} is {state} (STP)",
                    port["ifname"].as_str().unwrap_or("?")
                ));
            }
        }
        for n in d
            .neigh4
            .as_array()
            .into_iter()
            .chain(d.neigh6.as_array())
            .flatten()
        {
            for s in n["state"].as_array().into_iter().flatten() {
                if matches!(s.as_str(), Some("INCOMPLETE" | "DELAY" | "PROBE")) {
                    return Some(format!("neighbour {} in {ns} is {s}", n["dst"]));
                }
            }
        }
    }
    None
}

/// A link's solicited-node multicast group (`33:33:ff:` and the last three bytes of an IPv6
/// address, in `bridge fdb` as the link's own) whose addresses are all gone from it: the kernel
/// leaves the group in its MLD work a moment after the address goes (seen after `ip address
/// flush dev eth4 scope global`, on a loaded machine, in one dump and not the next).
fn group_left_behind(d: &NsDump) -> Option<String> {
    for e in d.fdb.as_array().into_iter().flatten() {
        let (Some(mac), Some(dev)) = (e["mac"].as_str(), e["ifname"].as_str()) else {
            continue;
        };
        let Some(tail) = mac.strip_prefix("33:33:ff:") else {
            continue;
        };
        // (0: the subnet-router anycast group a forwarding link joins, no address of its own.)
        let Ok(tail @ 1..) = u32::from_str_radix(&tail.replace(':', ""), 16) else {
            continue;
        };
        let still = d
            .addrs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["ifname"] == dev)
            .flat_map(|l| l["addr_info"].as_array().into_iter().flatten())
            .filter_map(|a| a["local"].as_str()?.parse::<std::net::Ipv6Addr>().ok())
            .any(|a| {
                u32::from_be_bytes(a.octets()[12..16].try_into().unwrap_or([0; 4])) & 0xff_ffff
                    == tail
            });
        if !still {
            return Some(format!(
                "{dev} still has the multicast group {mac} of an address it no longer has"
            ));
        }
    }
    None
}

/// A link whose other end lives in a namespace nobody can see: after `ip netns del`, the
/// kernel destroys the namespace (and the veth ends in it, and their peers) in a worker, a few
/// milliseconds later, or several hundred on a busy machine.
fn peer_out_of_sight(normalised: &BTreeMap<String, Value>) -> Option<String> {
    normalised
        .iter()
        .filter(|(key, _)| key.ends_with(": ip -d link show"))
        .flat_map(|(key, v)| v.as_array().into_iter().flatten().map(move |l| (key, l)))
        .find(|(_, l)| l["link_netnsid"] == UNNAMED)
        .map(|(key, l)| {
            format!(
                "{} ({key}) has its peer in a namespace being destroyed",
                l["ifname"].as_str().unwrap_or("?")
            )
        })
}

fn has_flag(link: &Value, flag: &str) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == flag))
}

/// The operational state lags the flags while the kernel's linkwatch work is pending.
fn link_in_flight(link: &Value) -> Option<String> {
    let up = has_flag(link, "UP");
    let carrier = has_flag(link, "LOWER_UP");
    let oper = link["operstate"].as_str().unwrap_or("UNKNOWN");
    let consistent = match oper {
        "UNKNOWN" => true,
        "UP" => up && carrier,
        _ => !(up && carrier),
    };
    (!consistent).then(|| format!("operstate {oper} with flags {}", link["flags"]))
}

/// The sandbox's state once it stopped changing: two identical normalised dumps in a row with
/// nothing in flight. `Err` carries the last dump and why it never settled.
pub fn settle(cx: &Context) -> Result<BTreeMap<String, Value>, (BTreeMap<String, Value>, String)> {
    let start = Instant::now();
    let mut previous: Option<BTreeMap<String, Value>> = None;
    loop {
        let raw = dump_all(&cx.sysctls);
        let now = normalise(&raw, cx);
        let flight = in_flight(&raw).or_else(|| peer_out_of_sight(&now));
        if flight.is_none() && previous.as_ref() == Some(&now) {
            return Ok(now);
        }
        if start.elapsed() > SETTLE_BOUND {
            let why = flight.unwrap_or_else(|| "the dumps kept changing".into());
            return Err((
                now,
                format!("not settled after {} s: {why}", SETTLE_BOUND.as_secs()),
            ));
        }
        previous = Some(now);
        std::thread::sleep(SETTLE_PAUSE);
    }
}
