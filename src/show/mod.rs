//! `nslab show`: the live kernel drawn as a picture. The topology is gathered once from the
//! kernel layer's snapshots into a model (also the JSON output); text, SVG, DOT and Mermaid are
//! pure renderings of that model, and `diff` merges an intended topology with an observed one
//! into a model whose items are marked present, missing or extra.

mod diff;
mod dot;
pub mod escape;
mod gather;
mod intended;
mod layout;
mod mermaid;
mod model;
mod svg;
mod text;

pub use diff::{diff, expect};
pub use dot::dot;
pub use gather::{GatherError, Gathered, Options, Scope, Unseen, gather};
pub use intended::{intended, world_after};
pub use mermaid::mermaid;
pub use model::{
    Address, DefaultRoute, End, Iface, LinkKind, LinkState, Mark, NsKind, NsView, Topology,
    UNNAMED_PEER, Wire,
};
pub use svg::svg;
pub use text::{render_fit, render_list, render_text};

use crate::kernel::Kernel;

/// The text picture of the live kernel (for demo and learn's `g`), with a line for each
/// namespace that could not be read.
pub fn text(k: &Kernel, opts: &Options) -> String {
    let ascii = opts.ascii || !utf8_terminal();
    match gather(k, opts) {
        Ok(g) => {
            let mut s = render_text(&g.topology, crate::term::width(), ascii);
            for n in g.notes() {
                s.push_str(&n);
                s.push('\n');
            }
            s
        }
        Err(e) => format!("{e}\n"),
    }
}

/// Whether the terminal takes UTF-8 (box-drawing characters), from the locale.
pub fn utf8_terminal() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .is_some_and(|v| {
            let v = v.to_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

/// The lab after `steps` steps of the lesson as it means it, side by side with (or marked
/// against) what the kernel holds now: learn's `g` and demo's picture after a step. What the
/// last of those steps' checks expect is part of it: what they name and the kernel lacks is
/// drawn missing, even where no line of the lesson makes it.
pub fn after_step(
    k: &Kernel,
    lesson: &crate::lesson::Lesson,
    namespaces: &[String],
    steps: usize,
    width: usize,
) -> String {
    let checks: Vec<crate::lesson::Check> = steps
        .checked_sub(1)
        .and_then(|i| lesson.steps.get(i))
        .map(|s| s.checks.iter().map(|c| c.check.clone()).collect())
        .unwrap_or_default();
    picture_of(
        k,
        lesson,
        namespaces,
        &world_after(lesson, Some(steps)),
        &checks,
        width,
    )
}

/// The lab as step `steps + 1` (1-based) starts, hidden setup included, against the kernel: the
/// picture of a challenge, whose own result is the student's to find and is not drawn.
pub fn before_step(
    k: &Kernel,
    lesson: &crate::lesson::Lesson,
    namespaces: &[String],
    steps: usize,
    width: usize,
) -> String {
    let mut world = world_after(lesson, Some(steps));
    if let Some(step) = lesson.steps.get(steps) {
        for p in step.setup.iter().flat_map(|c| &c.command.parts) {
            world.apply(p);
        }
    }
    picture_of(k, lesson, namespaces, &world, &[], width)
}

fn picture_of(
    k: &Kernel,
    lesson: &crate::lesson::Lesson,
    namespaces: &[String],
    world: &crate::lesson::effect::World,
    checks: &[crate::lesson::Check],
    width: usize,
) -> String {
    let root_links: Vec<String> = crate::lesson::effect::Creations::of(lesson)
        .links
        .into_iter()
        .filter(|(ns, _)| ns.is_root())
        .map(|(_, n)| n)
        .collect();
    lesson_picture(k, namespaces, &intended(world), checks, &root_links, width)
}

/// The picture learn (`g`) and demo draw: the lesson's namespaces (and the root one where the
/// lesson puts links), what the lesson means to have built by now (`intended`, and what the
/// step's `checks` expect) merged with what the kernel has, each item marked missing or extra.
/// A lesson namespace the intention does not have yet is drawn as extra; the machine's own
/// links in the root namespace are left out (`root_links` are the ones the lesson makes there).
/// Side by side (wide enough), the lesson's side marks what is missing, the kernel's side what
/// is extra.
pub fn lesson_picture(
    k: &Kernel,
    namespaces: &[String],
    intended: &Topology,
    checks: &[crate::lesson::Check],
    root_links: &[String],
    width: usize,
) -> String {
    let ascii = !utf8_terminal();
    let mut scope = vec![crate::lesson::Ns::Root];
    scope.extend(
        namespaces
            .iter()
            .filter(|n| k.netns_exists(n))
            .map(|n| crate::lesson::Ns::Named(n.clone())),
    );
    let opts = Options {
        scope: Scope::Only(scope),
        ascii,
    };
    let g = match gather(k, &opts) {
        Ok(g) => g,
        Err(e) => return format!("{e}\n"),
    };
    let mut t = diff(intended, &g.topology);
    expect(&mut t, &g.topology, checks);
    for ns in &mut t.namespaces {
        if ns.kind == NsKind::Root {
            ns.interfaces
                .retain(|i| i.mark != Some(Mark::Extra) || root_links.contains(&i.name));
        }
    }
    for o in &g.topology.namespaces {
        if o.kind != NsKind::Root && t.namespace(&o.name).is_none() {
            let mut x = o.clone();
            x.mark = Some(Mark::Extra);
            for i in &mut x.interfaces {
                if i.name != "lo" {
                    i.mark = Some(Mark::Extra);
                    for a in &mut i.addresses {
                        a.mark = Some(Mark::Extra);
                    }
                }
            }
            t.namespaces.push(x);
        }
    }
    t.derive_ports();
    let mut s = if t.namespaces.is_empty() {
        "Nothing to draw: at this point the lesson has no namespace (none made yet, or all removed).\n".to_string()
    } else if width >= SIDE_BY_SIDE {
        // Wide enough: what the lesson means, with what the kernel lacks marked missing, and
        // what the kernel has, side by side; the kernel's side marks what the lesson does not
        // have (extra).
        let mut means = t.clone();
        means.namespaces.retain(|n| n.mark != Some(Mark::Extra));
        for n in &mut means.namespaces {
            n.interfaces.retain(|i| i.mark != Some(Mark::Extra));
            for i in &mut n.interfaces {
                i.addresses.retain(|a| a.mark != Some(Mark::Extra));
                if i.master_mark == Some(Mark::Extra) {
                    i.master = None;
                }
            }
            if n.default_route
                .as_ref()
                .is_some_and(|d| d.mark == Some(Mark::Extra))
            {
                n.default_route = None;
            }
        }
        means.wires.retain(|w| w.mark != Some(Mark::Extra));
        means.derive_ports();
        let mut has = t.clone();
        has.namespaces.retain(|n| n.mark != Some(Mark::Missing));
        for n in &mut has.namespaces {
            n.interfaces.retain(|i| i.mark != Some(Mark::Missing));
            for i in &mut n.interfaces {
                i.addresses.retain(|a| a.mark != Some(Mark::Missing));
            }
        }
        has.wires.retain(|w| w.mark != Some(Mark::Missing));
        let half = (width - 3) / 2;
        side_by_side(
            &format!("the lesson means\n{}", render_text(&means, half, ascii)),
            &format!("the kernel has\n{}", render_text(&has, half, ascii)),
            half,
        )
    } else {
        one_picture(&t, width, ascii)
    };
    for n in g.notes() {
        s.push_str(&n);
        s.push('\n');
    }
    s
}

/// One picture, with its marks: the boxes, or, in a terminal narrower than a box, the list
/// (a box cut at the edge of the screen hid the marks at its right).
fn one_picture(t: &Topology, width: usize, ascii: bool) -> String {
    let boxes = render_text(t, width, ascii);
    if boxes
        .lines()
        .all(|l| console::measure_text_width(l) <= width)
    {
        boxes
    } else {
        render_list(t, width, ascii)
    }
}

/// The width from which learn and demo draw the intended and the observed pictures side by
/// side; narrower, one picture carries both, with marks.
pub const SIDE_BY_SIDE: usize = 120;

/// Two texts as two columns of `half` columns each, three apart.
fn side_by_side(left: &str, right: &str, half: usize) -> String {
    let l: Vec<&str> = left.lines().collect();
    let r: Vec<&str> = right.lines().collect();
    let mut out = String::new();
    for i in 0..l.len().max(r.len()) {
        let a = l.get(i).copied().unwrap_or("");
        let b = r.get(i).copied().unwrap_or("");
        let pad = half.saturating_sub(console::measure_text_width(a));
        let line = format!("{a}{} │ {b}", " ".repeat(pad));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    /// Narrower than a box (a 30-column pane), the picture is a list, and its marks show.
    #[test]
    fn a_narrow_picture_is_a_list_with_its_marks() {
        use super::model::{Iface, Mark, NsView, Topology};
        console::set_colors_enabled(false);
        let mut t = Topology::new(vec![
            NsView::named("left").with(Iface::veth("lcab", "right", "rcab").up()),
            NsView::named("right").with(Iface::veth("rcab", "left", "lcab")),
        ]);
        t.namespaces[1].mark = Some(Mark::Missing);
        t.namespaces[1].interfaces[0].mark = Some(Mark::Missing);
        let s = super::one_picture(&t, 30, false);
        assert!(
            s.lines().all(|l| console::measure_text_width(l) <= 30),
            "{s}"
        );
        assert!(s.contains("right [missing]"), "{s}");
        assert!(s.contains("rcab veth [missing]"), "{s}");
        // Wide enough: the boxes.
        assert!(super::one_picture(&t, 80, false).contains("┌─ left"));
    }

    #[test]
    fn two_pictures_side_by_side() {
        let s = super::side_by_side("ab\ncd\nef", "xy", 4);
        assert_eq!(s, "ab   │ xy\ncd   │\nef   │\n");
    }
}
