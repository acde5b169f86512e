//! Where each namespace goes, decided from the shape of the network rather than from names.
//!
//! Namespaces are nodes, veth pairs between two of them are edges. Each connected group gets
//! a band of columns: the longest chain of the group is laid left to right (so a router sits
//! between the networks it joins: left, router, right), and every other namespace goes one
//! column further out than the one it hangs from, on the emptier side (four namespaces on a
//! bridge: two on each side of the switch). Namespaces with no wire to another share a row.
//! Within a column, namespaces are ordered by where their neighbours are, so wires cross as
//! little as they can. Every interface that has a wire faces the side where its peer is.

use std::collections::{HashMap, VecDeque};

use super::model::{End, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Left,
    Right,
}

/// A group of namespaces drawn together: columns left to right, each top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub columns: Vec<Vec<usize>>,
    /// Namespaces with no wire to another: a row of columns of one.
    pub loose: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub bands: Vec<Band>,
    /// Where each namespace is: (band, column, position in the column).
    pub place: Vec<(usize, usize, usize)>,
    /// Which side of its box each interface's wire leaves from, by namespace and interface.
    pub sides: Vec<Vec<Option<Side>>>,
}

/// At most this many loose namespaces on one row.
const LOOSE_PER_ROW: usize = 4;

impl Plan {
    /// The namespaces in reading order: band by band, column by column, top to bottom.
    pub fn order(&self) -> Vec<usize> {
        self.bands
            .iter()
            .flat_map(|b| b.columns.iter().flatten().copied())
            .collect()
    }
}

impl Plan {
    /// The wire's ends in reading order, the end in the lower column first: DOT and Mermaid
    /// rank a flowchart by its edges' direction, so this keeps a router between its networks.
    pub fn flow<'a>(
        &self,
        at: &HashMap<End, (usize, usize)>,
        a: &'a End,
        b: &'a End,
    ) -> (&'a End, &'a End) {
        let col = |e: &End| at.get(e).map(|&(n, _)| self.place[n].1);
        match (col(a), col(b)) {
            (Some(x), Some(y)) if x > y => (b, a),
            _ => (a, b),
        }
    }

    /// Whether a bridge port comes before its bridge in reading order: it faces left.
    pub fn port_first(&self, ns: usize, iface: usize) -> bool {
        self.sides[ns][iface] != Some(Side::Right)
    }
}

/// Which namespace and interface an end names, if both are drawn.
pub fn locate(t: &Topology) -> HashMap<End, (usize, usize)> {
    let mut m = HashMap::new();
    for (n, ns) in t.namespaces.iter().enumerate() {
        for (i, iface) in ns.interfaces.iter().enumerate() {
            m.insert(End::new(&ns.name, &iface.name), (n, i));
        }
    }
    m
}

pub fn plan(t: &Topology) -> Plan {
    let n = t.namespaces.len();
    let at = locate(t);
    // Edges between two different drawn namespaces, once per wire.
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for w in &t.wires {
        if let (Some(&(a, _)), Some(&(b, _))) = (at.get(&w.a), at.get(&w.b))
            && a != b
        {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    for l in &mut adj {
        l.sort_unstable();
    }

    let mut bands: Vec<Band> = Vec::new();
    let mut loose: Vec<usize> = Vec::new();
    let mut seen = vec![false; n];
    for start in 0..n {
        if seen[start] {
            continue;
        }
        let group = component(&adj, start, &mut seen);
        if group.len() == 1 {
            loose.push(start);
            continue;
        }
        bands.push(Band {
            columns: columns(t, &adj, &group),
            loose: false,
        });
    }
    // Loose namespaces first (the root namespace of a lab usually is one), in rows.
    let rows: Vec<Band> = loose
        .chunks(LOOSE_PER_ROW)
        .map(|c| Band {
            columns: c.iter().map(|&i| vec![i]).collect(),
            loose: true,
        })
        .collect();
    let mut all = rows;
    all.append(&mut bands);
    let mut place = vec![(0, 0, 0); n];
    for (b, band) in all.iter().enumerate() {
        for (c, col) in band.columns.iter().enumerate() {
            for (k, &ns) in col.iter().enumerate() {
                place[ns] = (b, c, k);
            }
        }
    }
    let sides = sides(t, &at, &place);
    Plan {
        bands: all,
        place,
        sides,
    }
}

fn component(adj: &[Vec<usize>], start: usize, seen: &mut [bool]) -> Vec<usize> {
    let mut group = vec![start];
    seen[start] = true;
    let mut k = 0;
    while k < group.len() {
        for &m in &adj[group[k]] {
            if !seen[m] {
                seen[m] = true;
                group.push(m);
            }
        }
        k += 1;
    }
    group.sort_unstable();
    group
}

/// Distances from `s` (usize::MAX where unreachable) and the BFS parent of each node.
fn bfs(adj: &[Vec<usize>], s: usize) -> (Vec<usize>, Vec<usize>) {
    let mut dist = vec![usize::MAX; adj.len()];
    let mut parent = vec![usize::MAX; adj.len()];
    dist[s] = 0;
    let mut q = VecDeque::from([s]);
    while let Some(u) = q.pop_front() {
        for &v in &adj[u] {
            if dist[v] == usize::MAX {
                dist[v] = dist[u] + 1;
                parent[v] = u;
                q.push_back(v);
            }
        }
    }
    (dist, parent)
}

/// Lays one connected group out in columns.
fn columns(t: &Topology, adj: &[Vec<usize>], group: &[usize]) -> Vec<Vec<usize>> {
    // The spine: a longest shortest path. Its first end is the node farthest from the group's
    // first node, its other end the node farthest from that; among equals the path through
    // more routers wins, then the lower index.
    let far = |from: usize| -> usize {
        let (d, _) = bfs(adj, from);
        let mut best = from;
        for &g in group {
            if d[g] != usize::MAX && d[g] > d[best] {
                best = g;
            }
        }
        best
    };
    let u = far(group[0]);
    let (du, _) = bfs(adj, u);
    let longest = group.iter().map(|&g| du[g]).max().unwrap_or(0);
    let path_to = |v: usize| -> Vec<usize> {
        let (_, parent) = bfs(adj, u);
        let mut p = vec![v];
        while let Some(&last) = p.last() {
            if last == u {
                break;
            }
            p.push(parent[last]);
        }
        p.reverse();
        p
    };
    let spine = group
        .iter()
        .filter(|&&g| du[g] == longest)
        .map(|&v| path_to(v))
        .max_by_key(|p| {
            let routers = p.iter().filter(|&&i| t.namespaces[i].is_router()).count();
            (routers, std::cmp::Reverse(p.last().copied()))
        })
        .unwrap_or_else(|| vec![u]);
    // Read left to right in the namespaces' own order (root, then by name): left, router, right.
    let mut spine = spine;
    if spine.first() > spine.last() {
        spine.reverse();
    }

    // Columns as integers (may go below zero), normalised at the end.
    let mut col: HashMap<usize, i64> = HashMap::new();
    let mut dir: HashMap<usize, i64> = HashMap::new();
    let mut count: HashMap<i64, usize> = HashMap::new();
    for (k, &s) in spine.iter().enumerate() {
        col.insert(s, k as i64);
        *count.entry(k as i64).or_default() += 1;
    }
    let last = spine.len() as i64 - 1;
    let mut q: VecDeque<usize> = spine.iter().copied().collect();
    while let Some(p) = q.pop_front() {
        let pc = col[&p];
        for &x in &adj[p] {
            if col.contains_key(&x) {
                continue;
            }
            let d = match dir.get(&p) {
                Some(&d) => d,
                None => {
                    // Hanging from the spine: the emptier side, staying within the spine's
                    // columns where one of them allows it.
                    let left = pc - 1;
                    let right = pc + 1;
                    let (l_ok, r_ok) = (left >= 0, right <= last);
                    let l = count.get(&left).copied().unwrap_or(0);
                    let r = count.get(&right).copied().unwrap_or(0);
                    let go_left = if l_ok == r_ok { l <= r } else { l_ok };
                    if go_left { -1 } else { 1 }
                }
            };
            let c = pc + d;
            col.insert(x, c);
            dir.insert(x, d);
            *count.entry(c).or_default() += 1;
            q.push_back(x);
        }
    }
    let min = col.values().copied().min().unwrap_or(0);
    let max = col.values().copied().max().unwrap_or(0);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); (max - min + 1) as usize];
    // Discovery order first: spine, then breadth-first.
    let mut found: Vec<usize> = spine.clone();
    let mut k = 0;
    while k < found.len() {
        for &x in &adj[found[k]] {
            if !found.contains(&x) {
                found.push(x);
            }
        }
        k += 1;
    }
    for &x in &found {
        cols[(col[&x] - min) as usize].push(x);
    }
    untangle(&mut cols, adj);
    cols
}

/// Barycentre ordering: each column sorted by the mean position of its nodes' neighbours in
/// the other columns, a few sweeps in each direction. Ties keep their order.
fn untangle(cols: &mut [Vec<usize>], adj: &[Vec<usize>]) {
    let pos = |cols: &[Vec<usize>]| -> HashMap<usize, f64> {
        let mut m = HashMap::new();
        for c in cols {
            for (k, &x) in c.iter().enumerate() {
                m.insert(x, k as f64 / c.len().max(1) as f64);
            }
        }
        m
    };
    for sweep in 0..4 {
        let order: Vec<usize> = if sweep % 2 == 0 {
            (0..cols.len()).collect()
        } else {
            (0..cols.len()).rev().collect()
        };
        for c in order {
            let p = pos(cols);
            let mine: Vec<usize> = cols[c].clone();
            let mut keyed: Vec<(f64, usize, usize)> = mine
                .iter()
                .enumerate()
                .map(|(k, &x)| {
                    let others: Vec<f64> = adj[x]
                        .iter()
                        .filter(|y| !mine.contains(y))
                        .filter_map(|y| p.get(y).copied())
                        .collect();
                    let bary = if others.is_empty() {
                        p[&x]
                    } else {
                        others.iter().sum::<f64>() / others.len() as f64
                    };
                    (bary, k, x)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            cols[c] = keyed.into_iter().map(|(_, _, x)| x).collect();
        }
    }
}

/// The side each wired interface faces: towards its peer's column; a wire to a box in the
/// same column, or to a namespace not drawn, leaves on the right; both ends in one namespace
/// loop round the left.
fn sides(
    t: &Topology,
    at: &HashMap<End, (usize, usize)>,
    place: &[(usize, usize, usize)],
) -> Vec<Vec<Option<Side>>> {
    let mut s: Vec<Vec<Option<Side>>> = t
        .namespaces
        .iter()
        .map(|ns| vec![None; ns.interfaces.len()])
        .collect();
    for w in &t.wires {
        let a = at.get(&w.a).copied();
        let b = at.get(&w.b).copied();
        match (a, b) {
            (Some((na, ia)), Some((nb, ib))) => {
                let (ca, cb) = (place[na].1, place[nb].1);
                let (sa, sb) = if na == nb {
                    (Side::Left, Side::Left)
                } else if place[na].0 != place[nb].0 || ca == cb {
                    (Side::Right, Side::Right)
                } else if ca < cb {
                    (Side::Right, Side::Left)
                } else {
                    (Side::Left, Side::Right)
                };
                s[na][ia] = Some(sa);
                s[nb][ib] = Some(sb);
            }
            (Some((n, i)), None) | (None, Some((n, i))) => s[n][i] = Some(Side::Right),
            (None, None) => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::show::model::{Iface, NsView};

    fn names(t: &Topology, cols: &[Vec<usize>]) -> Vec<Vec<String>> {
        cols.iter()
            .map(|c| c.iter().map(|&i| t.namespaces[i].name.clone()).collect())
            .collect()
    }

    #[test]
    fn a_router_sits_between_its_networks() {
        // Alphabetical order would put the router last.
        let t = Topology::new(vec![
            NsView::root().with(Iface::loopback()),
            NsView::named("left").with(Iface::veth("eth0", "router", "left0")),
            NsView::named("right").with(Iface::veth("eth0", "router", "right0")),
            NsView::named("router")
                .with(Iface::veth("left0", "left", "eth0"))
                .with(Iface::veth("right0", "right", "eth0")),
        ]);
        let p = plan(&t);
        assert_eq!(p.bands.len(), 2);
        assert!(p.bands[0].loose);
        assert_eq!(names(&t, &p.bands[0].columns), [["root"]]);
        assert_eq!(
            names(&t, &p.bands[1].columns),
            [["left"], ["router"], ["right"]]
        );
        // The router's interfaces face their peers.
        assert_eq!(p.sides[3], [Some(Side::Left), Some(Side::Right)]);
        assert_eq!(p.sides[1], [Some(Side::Right)]);
    }

    #[test]
    fn namespaces_on_a_bridge_split_around_it() {
        let mut root = NsView::root().with(Iface::bridge("br0"));
        let mut others = Vec::new();
        for n in ["blue", "brown", "green", "red"] {
            root = root.with(Iface::veth(format!("{n}0"), n, format!("{n}1")).master("br0"));
            others.push(NsView::named(n).with(Iface::veth(
                format!("{n}1"),
                "root",
                format!("{n}0"),
            )));
        }
        let mut all = vec![root];
        all.extend(others);
        let t = Topology::new(all);
        let p = plan(&t);
        assert_eq!(p.bands.len(), 1);
        let cols = names(&t, &p.bands[0].columns);
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[1], ["root"]);
        assert_eq!(cols[0].len(), 2);
        assert_eq!(cols[2].len(), 2);
    }

    #[test]
    fn a_loop_and_a_stub_have_sides() {
        let t = Topology::new(vec![
            NsView::root()
                .with(Iface::veth("veth0", "root", "veth1"))
                .with(Iface::veth("veth1", "root", "veth0"))
                .with(Iface::veth("x", "elsewhere", "y")),
        ]);
        let p = plan(&t);
        assert_eq!(
            p.sides[0],
            [Some(Side::Left), Some(Side::Left), Some(Side::Right)]
        );
    }
}
