//! A readable difference between two normalised dumps: each dump flattened into
//! `NS: COMMAND: ENTRY: path = value` lines, and the lines only one side has.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Fields that name an entry of a dump (a link, a route, a neighbour, an FDB entry).
const IDENTITY: &[&str] = &["type", "dst", "mac", "ifname", "dev", "master", "table"];

fn label(v: &Value, i: usize) -> String {
    let parts: Vec<String> = IDENTITY
        .iter()
        .filter_map(|k| match &v[*k] {
            Value::Null => None,
            Value::String(s) => Some(format!("{k} {s}")),
            other => Some(format!("{k} {other}")),
        })
        .collect();
    if parts.is_empty() {
        format!("#{i}")
    } else {
        parts.join(" ")
    }
}

/// `(path, value)` for every scalar (or list of scalars) under `v`.
fn leaves(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(&p, v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (i, item) in items.iter().enumerate() {
                leaves(&format!("{path}[{i}]"), item, out);
            }
        }
        other => out.push((path.to_string(), other.to_string())),
    }
}

fn line(prefix: &str, (path, value): (String, String)) -> String {
    if path.is_empty() {
        format!("{prefix} = {value}")
    } else {
        format!("{prefix} {path} = {value}")
    }
}

/// One dump as lines. A top-level list becomes one group of lines per entry, named by the
/// entry's identity so that a missing route reads as one.
pub fn flatten(key: &str, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) if items.iter().any(|i| i.is_object()) => {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                let mut name = label(item, i);
                let n = seen.entry(name.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    name = format!("{name} #{n}");
                }
                let mut l = Vec::new();
                leaves("", item, &mut l);
                out.extend(
                    l.into_iter()
                        .map(|pv| line(&format!("{key}: [{name}]"), pv)),
                );
            }
        }
        other => {
            let mut l = Vec::new();
            leaves("", other, &mut l);
            out.extend(l.into_iter().map(|pv| line(key, pv)));
        }
    }
    out
}

/// The lines only `a` has (`-`) and only `b` has (`+`), dump by dump; empty when equal.
pub fn diff(
    a_name: &str,
    a: &BTreeMap<String, Value>,
    b_name: &str,
    b: &BTreeMap<String, Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (va, vb) = (a.get(key), b.get(key));
        if va == vb {
            continue;
        }
        let la = va
            .map(|v| flatten(key, v))
            .unwrap_or_else(|| vec![format!("{key}: (absent)")]);
        let lb = vb
            .map(|v| flatten(key, v))
            .unwrap_or_else(|| vec![format!("{key}: (absent)")]);
        let only_a: Vec<&String> = la.iter().filter(|l| !lb.contains(l)).collect();
        let only_b: Vec<&String> = lb.iter().filter(|l| !la.contains(l)).collect();
        for l in &only_a {
            out.push(format!("- {a_name:<6} {l}"));
        }
        for l in &only_b {
            out.push(format!("+ {b_name:<6} {l}"));
        }
        if only_a.is_empty() && only_b.is_empty() {
            // Same lines in another order.
            out.push(format!("~ {key}: the same entries in another order"));
        }
    }
    out
}
